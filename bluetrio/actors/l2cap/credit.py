"""Credit-based flow control of one L2CAP channel, sans-IO (Core 5.4 Vol 3 Part A 3.4.3, 10.1).

One :class:`CreditChannel` is the data path of one channel in LE credit-based flow control mode
(opened with an LE Credit Based Connection Request, 4.22-4.24) or enhanced credit-based flow
control mode (Credit Based Connection Request, 4.25-4.28; LE and BR/EDR). Both modes move SDUs
the same way: as K-frames, each taking one credit from the receiver; only the signaling that
opens, reconfigures and closes the channel differs, and that is the core's job. The engine knows
nothing of links, CIDs or signaling: it takes plain values (an SDU to send, a K-frame's
information payload, a credit count from a Flow Control Credit Indication, "the application
took an SDU") and answers with effects (:class:`SduReceived`, :class:`GrantCredits`,
:class:`ChannelFailed`); frames to send are pulled with :meth:`CreditChannel.next_frame` when
the link scheduler has room, so a channel never produces more than the controller can take.

Transmit
    An SDU of at most the peer's MTU is queued (:meth:`~CreditChannel.queue_sdu`) in a queue
    bounded in octets (:attr:`~CreditChannel.transmit_limit`): when it is full the caller waits
    for :attr:`OutboundFrame.last_of_sdu` frames to leave, it does not queue more. An SDU is
    cut into K-frames lazily, one per :meth:`~CreditChannel.next_frame`, each at most the peer's
    MPS, the first carrying the 2-octet SDU length (3.4.3), and only while the peer has given
    credits. Cutting lazily means a reconfiguration that lowers the peer's MPS applies to the
    rest of an SDU under way.

Receive
    Every check of 3.4.3 and 10.1 that requires closing the channel is made before a frame is
    buffered, and the first that fails closes the engine with :class:`ChannelFailed` naming it
    (:class:`CreditViolation`): a K-frame while the peer has no credit, a K-frame over our MPS, a
    first K-frame shorter than the SDU length field, an SDU length over our MTU, frames carrying
    more than the SDU length announced, and credits that would take the peer's count past 65535
    (a peer that overflows a 16-bit counter into a small one would otherwise send without
    limit; CVE-2021-3454).

Credits returned as the application consumes, never on receipt
    We grant the peer a *receive window* of ``W`` credits (:func:`receive_window`). Each
    K-frame received takes one; the credit comes back to the peer only when the application has
    taken the SDU it belonged to (:meth:`~CreditChannel.sdu_consumed`), so what waits for the
    application is bounded by the window: at most ``W`` K-frames, ``W * MPS`` octets, whatever
    the peer does. Backpressure is the peer running out of credits, never a growing queue.

    Two refinements keep that from deadlocking. The window always holds one SDU of our MTU
    packed into K-frames of our MPS, plus one credit, so an SDU under reassembly (which the
    application cannot take yet) never holds every credit. And an SDU under reassembly is
    *charged* the credits its octets would need at our MPS, ``ceil((2 + octets) / MPS)``: a
    peer that cuts SDUs into frames smaller than our MPS has the credits of the extra frames
    freed at once (they buffer nothing beyond that charge); they go back by the policy below.

Batching policy (how credits go back)
    Credits freed by the application go back in one :class:`GrantCredits` (one Flow Control
    Credit Indication, 4.24) once half the window has been freed (:attr:`~CreditChannel.batch`),
    never sooner while the peer still holds a credit or the application still holds an SDU of
    ours. Returning them any sooner, e.g. whenever the peer ran low, settles into one indication
    per SDU read and one K-frame sent per indication.

    It never leaves the peer waiting: when the peer has no credit left and the application
    holds no SDU, the credits freed go back whatever their number. There always are some then:
    ``peer_credits + held + freed == window``, nothing is held but an SDU under reassembly, and
    the window holds one SDU of our MTU plus one credit. The state is checked after every
    K-frame received and every SDU consumed, the only steps that reach it. A grant is at most
    what was freed, so the peer never holds more than the window (which bounds what we buffer)
    nor more than 65535 (4.24).
"""

from __future__ import annotations

import enum
from collections import deque

import attrs

from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.l2cap import MAX_CREDITS, CreditReconfigureResult
from bluetrio.messages.l2cap_credit_service import CreditMode

# The SDU length field at the start of the first K-frame of an SDU (Vol 3 Part A 3.4.3).
SDU_LENGTH_SIZE = 2


def frames_for(octets: int, mps: int) -> int:
    """K-frames of at most ``mps`` octets needed to carry an SDU of ``octets`` octets."""
    return max(1, -(-(SDU_LENGTH_SIZE + octets) // mps))


def receive_window(mtu: int, mps: int, requested: int = 0) -> int:
    """The credits to grant a peer: ``requested``, but never fewer than one SDU of ``mtu``
    packed into K-frames of ``mps`` plus one (see the module docstring), nor more than 65535."""
    return min(MAX_CREDITS, max(requested, frames_for(mtu, mps) + 1))


class CreditViolation(enum.Enum):
    """Why the peer broke credit-based flow control; each closes the channel (3.4.3, 10.1)."""

    FRAME_WITHOUT_CREDIT = "a K-frame received while the peer had no credits"
    FRAME_EXCEEDS_MPS = "a K-frame longer than our MPS"
    FIRST_FRAME_TOO_SHORT = "a first K-frame shorter than the 2-octet SDU length"
    SDU_EXCEEDS_MTU = "an SDU length over our MTU"
    SDU_OVERRUN = "K-frames carrying more than the SDU length announced"
    CREDIT_OVERFLOW = "credits taking the peer's count past 65535"


# -- effects ----------------------------------------------------------------------------------


@attrs.frozen
class SduReceived:
    """A whole SDU arrived; hand it to the application, which reports taking it with
    :meth:`CreditChannel.sdu_consumed` (in the order they were received)."""

    sdu: bytes


@attrs.frozen
class GrantCredits:
    """Send the peer a Flow Control Credit Indication of ``credits`` (4.24)."""

    credits: int


@attrs.frozen
class ChannelFailed:
    """The peer broke the rules: disconnect the channel; the engine is closed."""

    violation: CreditViolation
    detail: str

    @property
    def reason(self) -> str:
        return f"{self.violation.value}: {self.detail}"


CreditEffect = SduReceived | GrantCredits | ChannelFailed


@attrs.frozen
class OutboundFrame:
    """The information payload of one K-frame to send (the basic L2CAP header with the peer's
    CID goes in front of it); ``last_of_sdu`` when it ends an SDU, which then has left the
    transmit queue."""

    payload: bytes
    last_of_sdu: bool


class QueueResult(enum.Enum):
    """What :meth:`CreditChannel.queue_sdu` did with an SDU."""

    QUEUED = "queued"
    FULL = "the transmit queue is full"
    TOO_LONG = "the SDU is longer than the peer's MTU"
    CLOSED = "the channel is closed"


@attrs.frozen
class Limits:
    """One side's receive limits and the credits it holds to send to the other."""

    mtu: int
    mps: int
    credits: int


class CreditChannel:
    """Segmentation, reassembly and credit accounting of one credit-based channel.

    ``local`` are our receive MTU and MPS and the credits we granted the peer in the connection
    request or response (a :func:`receive_window`); ``remote`` the peer's MTU, MPS and the
    credits it granted us. ``transmit_limit`` bounds the octets queued to send (at least one
    SDU of the peer's MTU is always accepted into an empty queue).
    """

    def __init__(
        self,
        mode: CreditMode,
        local: Limits,
        remote: Limits,
        *,
        transmit_limit: int = 64 * 1024,
    ) -> None:
        for side, limits in (("local", local), ("remote", remote)):
            problem = mode.limits_problem(limits.mtu, limits.mps)
            if problem is not None:
                raise InvalidArgumentError(f"{side} {problem}")
            if not 0 <= limits.credits <= MAX_CREDITS:
                raise InvalidArgumentError(
                    f"{side} credits {limits.credits} outside 0-{MAX_CREDITS}"
                )
        if local.credits < receive_window(local.mtu, local.mps):
            raise InvalidArgumentError(
                f"{local.credits} credits cannot hold an SDU of {local.mtu} octets at MPS "
                f"{local.mps}: grant receive_window(...) credits"
            )
        self.mode = mode
        self.closed = False
        # Receive side: the invariant is
        #   peer_credits + reassembly_charge + delivered_charge + freed == window.
        self.local_mtu = local.mtu
        self.local_mps = local.mps
        self.window = local.credits
        self.peer_credits = local.credits
        self._freed = 0
        self._delivered: deque[int] = deque()  # the charge of each SDU the application holds
        self._delivered_charge = 0
        self._sdu_length: int | None = None  # of the SDU under reassembly
        self._fragments: list[bytes] = []
        self._reassembled = 0  # octets of the SDU under reassembly so far
        self._reassembly_charge = 0
        # Transmit side.
        self.remote_mtu = remote.mtu
        self.remote_mps = remote.mps
        self.credits = remote.credits
        self.transmit_limit = max(transmit_limit, remote.mtu)
        self._transmit: deque[bytes] = deque()
        self._queued = 0  # octets in _transmit, including what is left of the current SDU
        self._offset = 0  # into _transmit[0]; nonzero once its first K-frame has been taken

    # -- state ---------------------------------------------------------------------------------
    @property
    def queued_octets(self) -> int:
        return self._queued

    @property
    def queued_sdus(self) -> int:
        return len(self._transmit)

    @property
    def can_send(self) -> bool:
        """A K-frame is ready and the peer has a credit for it."""
        return bool(self._transmit) and self.credits > 0 and not self.closed

    @property
    def held_credits(self) -> int:
        """Credits charged to what we buffer (under reassembly or awaiting the application)."""
        return self._reassembly_charge + self._delivered_charge

    @property
    def freed_credits(self) -> int:
        """Credits the application freed that have not gone back to the peer yet (batching)."""
        return self._freed

    @property
    def batch(self) -> int:
        """Freed credits that go back in one indication: half the window."""
        return max(1, self.window // 2)

    @property
    def buffered_octets(self) -> int:
        """Octets of the SDU under reassembly."""
        return self._reassembled

    @property
    def undelivered_sdus(self) -> int:
        """SDUs handed to the application and not yet reported consumed."""
        return len(self._delivered)

    def has_room_for(self, length: int) -> bool:
        return self._queued == 0 or self._queued + length <= self.transmit_limit

    # -- transmit ------------------------------------------------------------------------------
    def queue_sdu(self, sdu: bytes) -> QueueResult:
        """Queue ``sdu`` to send; nothing is queued unless the answer is QUEUED."""
        if self.closed:
            return QueueResult.CLOSED
        if len(sdu) > self.remote_mtu:
            return QueueResult.TOO_LONG
        if not self.has_room_for(len(sdu)):
            return QueueResult.FULL
        self._transmit.append(sdu)
        self._queued += len(sdu)
        return QueueResult.QUEUED

    def next_frame(self) -> OutboundFrame | None:
        """The next K-frame to send, taking one of the peer's credits; None when there is
        nothing to send or no credit to send it with."""
        if not self.can_send:
            return None
        sdu = self._transmit[0]
        offset = self._offset
        if offset == 0:
            room = self.remote_mps - SDU_LENGTH_SIZE
            payload = len(sdu).to_bytes(SDU_LENGTH_SIZE, "little") + sdu[:room]
            end = min(room, len(sdu))
        else:
            end = min(offset + self.remote_mps, len(sdu))
            payload = sdu[offset:end]
        self.credits -= 1
        self._queued -= end - offset
        last = end == len(sdu)
        if last:
            self._transmit.popleft()
            self._offset = 0
        else:
            self._offset = end
        return OutboundFrame(payload, last)

    def receive_credits(self, credits: int) -> list[CreditEffect]:
        """The peer sent a Flow Control Credit Indication of ``credits`` (4.24, 10.1)."""
        if self.closed:
            return []
        if self.credits + credits > MAX_CREDITS:
            return self._fail(
                CreditViolation.CREDIT_OVERFLOW, f"{self.credits} held, {credits} more granted"
            )
        self.credits += credits
        return []

    def set_remote_limits(self, mtu: int, mps: int) -> None:
        """The peer reconfigured its receive MTU and MPS (4.27); the core checked the values
        (:func:`reconfiguration_result`)."""
        problem = self.mode.limits_problem(mtu, mps)
        if problem is not None or mtu < self.remote_mtu:
            raise InvalidArgumentError(
                problem or f"the peer's MTU may not shrink ({self.remote_mtu}->{mtu})"
            )
        self.remote_mtu = mtu
        self.remote_mps = mps
        self.transmit_limit = max(self.transmit_limit, mtu)

    # -- receive -------------------------------------------------------------------------------
    def receive_frame(self, payload: bytes) -> list[CreditEffect]:
        """A K-frame's information payload (after the basic L2CAP header) arrived."""
        if self.closed:
            return []
        if self.peer_credits == 0:
            return self._fail(CreditViolation.FRAME_WITHOUT_CREDIT, f"{len(payload)} octets")
        if len(payload) > self.local_mps:
            return self._fail(
                CreditViolation.FRAME_EXCEEDS_MPS, f"{len(payload)} > {self.local_mps} octets"
            )
        self.peer_credits -= 1
        if self._sdu_length is None:
            if len(payload) < SDU_LENGTH_SIZE:
                return self._fail(CreditViolation.FIRST_FRAME_TOO_SHORT, f"{len(payload)} octet(s)")
            length = int.from_bytes(payload[:SDU_LENGTH_SIZE], "little")
            if length > self.local_mtu:
                return self._fail(
                    CreditViolation.SDU_EXCEEDS_MTU, f"{length} > {self.local_mtu} octets"
                )
            data = payload[SDU_LENGTH_SIZE:]
            self._sdu_length = length
        else:
            length = self._sdu_length
            data = payload
        if self._reassembled + len(data) > length:
            return self._fail(
                CreditViolation.SDU_OVERRUN,
                f"{self._reassembled + len(data)} octets of an SDU of {length}",
            )
        if data:
            self._fragments.append(data)
            self._reassembled += len(data)
        # Charge the SDU what its octets need at our MPS; a frame that adds nothing to that
        # charge (the peer cut finer than our MPS) frees its credit at once.
        charge = frames_for(self._reassembled, self.local_mps)
        if charge > self._reassembly_charge:
            self._reassembly_charge += 1
        else:
            self._freed += 1
        effects: list[CreditEffect] = []
        if self._reassembled == length:
            sdu = self._fragments[0] if len(self._fragments) == 1 else b"".join(self._fragments)
            effects.append(SduReceived(bytes(sdu)))
            self._delivered.append(self._reassembly_charge)
            self._delivered_charge += self._reassembly_charge
            self._fragments = []
            self._sdu_length = None
            self._reassembled = 0
            self._reassembly_charge = 0
        self._grant(effects)
        return effects

    def sdu_consumed(self) -> list[CreditEffect]:
        """The application took the oldest SDU it was given: its credits are free again."""
        if self.closed or not self._delivered:
            return []
        charge = self._delivered.popleft()
        self._delivered_charge -= charge
        self._freed += charge
        effects: list[CreditEffect] = []
        self._grant(effects)
        return effects

    def set_local_limits(self, mtu: int, mps: int) -> list[CreditEffect]:
        """Our receive MTU and MPS changed (a reconfiguration of ours succeeded, 4.27-4.28):
        the window grows, with a grant, if it no longer holds an SDU of the new MTU."""
        problem = self.mode.limits_problem(mtu, mps)
        if problem is not None:
            raise InvalidArgumentError(problem)
        self.local_mtu = mtu
        self.local_mps = mps
        effects: list[CreditEffect] = []
        needed = receive_window(mtu, mps)
        if needed > self.window and not self.closed:
            grown = min(needed - self.window, MAX_CREDITS - self.peer_credits - self._freed)
            self.window += grown
            self._freed += grown
            self._grant(effects, force=True)
        return effects

    def close(self) -> None:
        """The channel is going: drop everything buffered either way."""
        self.closed = True
        self._transmit.clear()
        self._queued = 0
        self._offset = 0
        self._fragments = []
        self._delivered.clear()
        self._delivered_charge = 0
        self._reassembly_charge = 0
        self._sdu_length = None
        self._reassembled = 0

    # -- internals -----------------------------------------------------------------------------
    def _grant(self, effects: list[CreditEffect], *, force: bool = False) -> None:
        """Return the freed credits if the batching policy (module docstring) says so."""
        if not self._freed:
            return
        peer_would_wait = self.peer_credits == 0 and not self._delivered
        if force or peer_would_wait or self._freed >= self.batch:
            effects.append(GrantCredits(self._freed))
            self.peer_credits += self._freed
            self._freed = 0

    def _fail(self, violation: CreditViolation, detail: str) -> list[CreditEffect]:
        self.close()
        return [ChannelFailed(violation, detail)]


def reconfiguration_result(
    mode: CreditMode, mtu: int, mps: int, channels: list[tuple[int, int]]
) -> CreditReconfigureResult:
    """The answer to a peer's Credit Based Reconfigure Request of ``channels`` (their current
    peer ``(mtu, mps)``) to ``mtu``/``mps``: the MTU may only grow, and the MPS may shrink only
    when one channel is reconfigured (4.27, 4.28)."""
    if mode.limits_problem(mtu, mps) is not None:
        return CreditReconfigureResult.UNACCEPTABLE_PARAMETERS
    if any(mtu < old_mtu for old_mtu, _ in channels):
        return CreditReconfigureResult.MTU_REDUCTION_NOT_ALLOWED
    if len(channels) > 1 and any(mps < old_mps for _, old_mps in channels):
        return CreditReconfigureResult.MPS_REDUCTION_NOT_ALLOWED
    return CreditReconfigureResult.SUCCESS
