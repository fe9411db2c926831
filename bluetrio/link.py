"""Live links: the application's view of each ACL connection.

A :class:`Link` is what ``stack.connect(...)`` and ``stack.accept()`` yield. It is owned by
the application side and kept current, in order with every other message the application
receives, from the device manager's indications (``LinkUpInd``, ``LinkChangedInd``,
``LinkSecuredInd``, ``LinkDownInd``); see :class:`LinkRegistry`.

    async with stack.connect(address) as link:
        await link.pair()
        assert link.encrypted
        reason = await link.wait_disconnected()

The upper layers hang their per-link entry points on this class (an L2CAP channel opened on
the link, the link's GATT client): each is a method or attribute of :class:`Link` that sends
its layer a request carrying :attr:`Link.handle` and reads the answers from a mailbox of the
application port keyed by that handle and, for channels, the channel id.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import trio

from bluetrio import arguments
from bluetrio.actors.app_port import AppPort
from bluetrio.actors.topology import Layer
from bluetrio.address import Address
from bluetrio.bonds import BondStrength, LinkKeyType
from bluetrio.errors import (
    BluetrioError,
    ConnectionClosedError,
    ConnectionParametersRejected,
    HciTimeout,
    InvalidArgumentError,
    StackError,
)
from bluetrio.fixed_channels import FIXED_RECEIVE_LIMIT, FixedChannel
from bluetrio.l2cap import CONNECT_TIMEOUT as L2CAP_CONNECT_TIMEOUT
from bluetrio.l2cap import (
    DEFAULT_CREDIT_MPS,
    RECEIVE_LIMIT,
    L2capChannel,
    check_channel_arguments,
    check_credit_arguments,
)
from bluetrio.messages.btm import (
    AclLink,
    LeConnectionParameters,
    LinkChangedInd,
    LinkDownInd,
    LinkTransport,
    LinkUpInd,
    Role,
    SecurityLevel,
)
from bluetrio.messages.btm_security import LinkSecuredInd, SecurityRequirement
from bluetrio.messages.l2cap import DEFAULT_BR_EDR_MTU, ChannelMode
from bluetrio.messages.l2cap_credit_service import CreditMode
from bluetrio.messages.l2cap_service import (
    L2caCnf,
    L2caConnectionParameterUpdateReq,
    ModePolicy,
)

if TYPE_CHECKING:
    from bluetrio.gatt.client import GattClient
    from bluetrio.gatt.port import LinkAttBearer
    from bluetrio.pairing import PairingResult
    from bluetrio.stack import Stack

logger = logging.getLogger(__name__)

# Disconnect reasons a host may give (Core 5.4 Vol 4 Part E 7.1.6).
DISCONNECT_REASONS = frozenset({0x05, 0x13, 0x14, 0x15, 0x1A, 0x29, 0x3B})
REMOTE_USER_TERMINATED = 0x13
LOCAL_HOST_TERMINATED = 0x16  # Connection Terminated by Local Host (Vol 1 Part F 1.3)

# How long a disconnection may take before the wait ends with HciTimeout. The controller
# reports Disconnection Complete once the peer acknowledged (LE: a few connection events;
# BR/EDR: LMP_detach, Vol 2 Part C 4.1.2) or the supervision timeout ran out.
DISCONNECT_TIMEOUT = 10.0
# Each page is one LMP (or LL) exchange, bounded by the controller's response timeout of 30 s
# (Core 5.4 Vol 2 Part C 2.5.2; Vol 6 Part B 5.2).
FEATURES_TIMEOUT = 30.0
# The peripheral's Connection Parameter Update Request is answered or has failed by the end
# of its signaling timers (RTX 10 s, then 20 s: Vol 3 Part A 6.2.1); this bounds the wait
# beyond them.
PARAMETER_UPDATE_TIMEOUT = 40.0
# Bound of the shielded disconnection when a ``async with`` block of a link ends: a lost
# Disconnection Complete must not keep the block from ending.
CLEANUP_TIMEOUT = 5.0
# Incoming links kept for ``accept()`` and ``incoming()`` until taken (cf. a listen backlog).
DEFAULT_BACKLOG = 16
# Links that went down, kept by handle for a request whose confirmation follows the link's
# indications (a connection that dropped at once).
RECENTLY_GONE = 16


class Link:
    """One ACL connection as the application sees it, live until it goes down.

    The state attributes mirror the device manager's entry (:class:`AclLink`) and follow it:
    ``encrypted``, ``key_size``, ``security_level``, ``role``, the connection parameters.
    ``async with link:`` disconnects it when the block ends (bounded, see
    :data:`CLEANUP_TIMEOUT`).
    """

    def __init__(self, stack: Stack, state: AclLink) -> None:
        self._stack = stack
        self._state = state
        self._key_type: LinkKeyType | None = None
        self._strength: BondStrength | None = None  # of an LE link's key (SMP)
        # The security core reads the key size when Encryption Change (v1) does not carry it.
        self._checked_key_size = 0
        self._down = trio.Event()
        self._reason: int | None = None

    def __repr__(self) -> str:
        status = "up" if self.connected else f"down (0x{self._reason or 0:02X})"
        return (
            f"<Link 0x{self.handle:04X} {self.transport.name} {self.peer} "
            f"{self.role.name.lower()} {status}>"
        )

    # -- state -----------------------------------------------------------------------------
    @property
    def state(self) -> AclLink:
        """The device manager's current entry for this link (a frozen snapshot)."""
        return self._state

    @property
    def handle(self) -> int:
        return self._state.handle

    @property
    def transport(self) -> LinkTransport:
        return self._state.transport

    @property
    def address(self) -> Address:
        """The address the peer uses on the air."""
        return self._state.address

    @property
    def identity(self) -> Address | None:
        """The peer's identity address, when its private address was resolved (or it
        connects with the address it bonded over and distributed another identity)."""
        return self._state.identity

    @property
    def local_address(self) -> Address | None:
        """LE: the address we used on the air for this link (public, static random or our
        RPA), with its type; None on BR/EDR."""
        return self._state.local_address

    @property
    def peer(self) -> Address:
        """Who the peer is: its identity address when known, else its on-air address."""
        return self._state.peer

    @property
    def role(self) -> Role:
        return self._state.role

    @property
    def encrypted(self) -> bool:
        return self._state.encrypted

    @property
    def key_size(self) -> int:
        """Encryption key size in octets (0 while not encrypted)."""
        if not self.encrypted:
            return 0
        return self._state.key_size or self._checked_key_size

    @property
    def key_type(self) -> LinkKeyType | None:
        """The kind of key the link is secured with, once the security core checked it."""
        return self._key_type

    @property
    def security_level(self) -> SecurityLevel:
        if not self.encrypted:
            return SecurityLevel.NONE
        key_type, strength = self._key_type, self._strength
        if key_type is not None:
            authenticated = key_type.is_authenticated
            secure_connections = key_type.is_secure_connections
        elif strength is not None:  # an LE key from SMP
            authenticated, secure_connections = strength.authenticated, strength.secure_connections
        else:
            return SecurityLevel.ENCRYPTED
        if not authenticated:
            return SecurityLevel.ENCRYPTED
        if secure_connections and self.key_size == 16:
            return SecurityLevel.SECURE_CONNECTIONS
        return SecurityLevel.AUTHENTICATED

    @property
    def interval(self) -> int:
        """LE connection interval, units of 1.25 ms."""
        return self._state.interval

    @property
    def latency(self) -> int:
        return self._state.latency

    @property
    def supervision_timeout(self) -> int:
        """Units of 10 ms."""
        return self._state.supervision_timeout

    @property
    def remote_features(self) -> tuple[int, ...]:
        """The peer's features as last read by :meth:`read_remote_features` (empty before)."""
        return self._state.remote_features

    @property
    def connected(self) -> bool:
        return not self._down.is_set()

    @property
    def disconnect_reason(self) -> int | None:
        """The HCI reason code of the disconnection (Vol 1 Part F), None while up."""
        return self._reason

    # -- operations --------------------------------------------------------------------------
    async def wait_disconnected(self) -> int:
        """Wait until the link is down, by either side; return the HCI reason code."""
        await self._down.wait()
        assert self._reason is not None
        return self._reason

    async def disconnect(
        self, reason: int = REMOTE_USER_TERMINATED, *, timeout: float = DISCONNECT_TIMEOUT
    ) -> None:
        """Disconnect and wait until the controller reports the link down.

        ``reason`` is one of :data:`DISCONNECT_REASONS`. Returns at once when the link is
        already down; raises :class:`HciTimeout` when the controller has not reported the
        disconnection within ``timeout`` seconds.
        """
        self._stack.check_disconnect_reason(reason)
        timeout = arguments.seconds("timeout", timeout)
        if not self.connected:
            await trio.lowlevel.checkpoint()
            return
        with trio.move_on_after(timeout) as scope:
            await self._stack.disconnect(self.handle, reason, missing_ok=True)
            await self._down.wait()
        if scope.cancelled_caught:
            raise HciTimeout(
                f"disconnecting link 0x{self.handle:04X}: no Disconnection Complete "
                f"within {timeout:g} s"
            )

    async def read_remote_features(self, *, timeout: float = FEATURES_TIMEOUT) -> tuple[int, ...]:
        """Read the peer's features: LMP pages from page 0 (BR/EDR), or the LE feature mask.

        Raises :class:`ConnectionClosedError` when the link is down, otherwise as
        :meth:`Stack.read_remote_features`.
        """
        if not self.connected:
            raise ConnectionClosedError(f"link 0x{self.handle:04X} is down", self._reason)
        return await self._stack.read_remote_features(self.handle, timeout=timeout)

    async def pair(self) -> PairingResult:
        """Authenticate and encrypt the link, pairing first when there is no bond.

        The stack's pairing delegate answers the questions pairing asks. Raises
        :class:`PairingError` when pairing, authentication or encryption fails or is refused
        by the security policy, :class:`ConnectionClosedError` when the link is down.
        """
        if not self.connected:
            raise ConnectionClosedError(f"link 0x{self.handle:04X} is down", self._reason)
        return await self._stack.pair(self.address, handle=self.handle)

    async def l2cap_connect(
        self,
        psm: int | None = None,
        *,
        spsm: int | None = None,
        mtu: int = DEFAULT_BR_EDR_MTU,
        mode: ChannelMode | CreditMode = ChannelMode.BASIC,
        mode_policy: ModePolicy = ModePolicy.FALL_BACK_TO_BASIC,
        mps: int = DEFAULT_CREDIT_MPS,
        credits: int = 0,
        security: SecurityRequirement | None = None,
        timeout: float = L2CAP_CONNECT_TIMEOUT,
        receive_limit: int = RECEIVE_LIMIT,
    ) -> L2capChannel:
        """Open an L2CAP channel to ``psm`` on this BR/EDR link (Core 5.4 Vol 3 Part A 7.2)
        and configure it; returns it open.

        ``mtu``: the largest SDU we receive (48..65535). ``mode``: basic,
        ``ChannelMode.ERTM`` (Enhanced Retransmission) or ``ChannelMode.STREAMING``; with
        ``mode_policy`` FALL_BACK_TO_BASIC a mode the stack or the peer lacks becomes basic,
        with REQUIRE the channel is refused (``channel.mode`` says what was negotiated).
        ``security``: make the link meet it first (btm pairs and encrypts as needed).
        ``receive_limit``: octets the channel holds for the application before it breaks
        (basic mode has no flow control, see :mod:`bluetrio.l2cap`).
        Raises :class:`~bluetrio.errors.L2capConnectionRefused` with the peer's result
        (0x0002 PSM not supported, 0x0003 security block...) or 0xFFFF for a local refusal,
        :class:`ConnectionClosedError` when the link is down, :class:`trio.TooSlowError`
        after ``timeout`` seconds.

        With ``spsm`` instead of ``psm`` the channel is credit-based (Vol 3 Part A 4.22,
        4.25): ``mode`` LE credit-based (the default on LE links) or enhanced credit-based
        (LE or BR/EDR); ``mps`` the largest K-frame we receive; ``credits`` the receive
        window we grant (raised to hold one SDU of ``mtu``). The peer's refusal carries its
        result (0x0002 SPSM not supported, 0x0005 insufficient authentication...).
        """
        if spsm is not None:
            if psm is not None:
                raise InvalidArgumentError("give a psm or an spsm, not both")
            if not isinstance(mode, CreditMode):
                mode = CreditMode.LE_CREDIT_BASED
                if self.transport is LinkTransport.BR_EDR:
                    mode = CreditMode.ENHANCED_CREDIT_BASED
            (channel,) = await self.l2cap_connect_credit(
                spsm, mode=mode, mtu=mtu, mps=mps, credits=credits, security=security,
                timeout=timeout,
            )  # fmt: skip
            return channel
        if psm is None:
            raise InvalidArgumentError("give the psm (or the spsm) of the channel")
        if isinstance(mode, CreditMode):
            raise InvalidArgumentError("credit-based channels are opened with spsm=")
        psm, mtu = check_channel_arguments(psm, mtu)
        mode = arguments.instance("mode", mode, ChannelMode)
        mode_policy = arguments.instance("mode_policy", mode_policy, ModePolicy)
        security = arguments.optional_instance("security", security, SecurityRequirement)
        timeout = arguments.seconds("timeout", timeout)
        receive_limit = arguments.integer("receive_limit", receive_limit, 1, 1 << 40)
        if not self.connected:
            raise ConnectionClosedError(f"link 0x{self.handle:04X} is down", self._reason)
        return await self._stack.channels.connect(
            self.handle, psm, mtu=mtu, mode=mode, mode_policy=mode_policy, security=security,
            timeout=timeout, receive_limit=receive_limit,
        )  # fmt: skip

    async def l2cap_connect_credit(
        self,
        spsm: int,
        *,
        count: int = 1,
        mode: CreditMode = CreditMode.LE_CREDIT_BASED,
        mtu: int = DEFAULT_BR_EDR_MTU,
        mps: int = DEFAULT_CREDIT_MPS,
        credits: int = 0,
        security: SecurityRequirement | None = None,
        timeout: float = L2CAP_CONNECT_TIMEOUT,
    ) -> list[L2capChannel]:
        """Open ``count`` credit-based channels to ``spsm`` in one request (up to five in
        enhanced mode, Vol 3 Part A 4.25); the channels the peer accepted, in order (fewer
        than ``count`` when it refused some). See :meth:`l2cap_connect` for the rest."""
        mode = arguments.instance("mode", mode, CreditMode)
        spsm, mtu, mps, credits = check_credit_arguments(
            spsm, self.transport, mode, mtu, mps, credits
        )
        most = 5 if mode is CreditMode.ENHANCED_CREDIT_BASED else 1
        count = arguments.integer("count", count, 1, most)
        security = arguments.optional_instance("security", security, SecurityRequirement)
        timeout = arguments.seconds("timeout", timeout)
        if not self.connected:
            raise ConnectionClosedError(f"link 0x{self.handle:04X} is down", self._reason)
        return await self._stack.channels.connect_credit(
            self.handle, spsm, mode=mode, count=count, mtu=mtu, mps=mps, credits=credits,
            security=security, timeout=timeout,
        )  # fmt: skip

    @contextlib.asynccontextmanager
    async def fixed_channel(
        self, cid: int, *, receive_limit: int = FIXED_RECEIVE_LIMIT
    ) -> AsyncIterator[FixedChannel]:
        """Use fixed L2CAP channel ``cid`` of this link while the block runs, with raw PDUs
        (ATT 0x0004 and SMP 0x0006 on LE, BR/EDR SMP 0x0007): ``send(pdu)``, ``receive()``
        (see :mod:`bluetrio.fixed_channels`). ``receive_limit``: PDUs held for the
        application before the channel breaks.

        Raises :class:`~bluetrio.errors.FixedChannelUnavailable` for a CID the application may
        not use on this transport, one another layer holds, or one already open on this
        link; :class:`ConnectionClosedError` when the link is down.
        """
        if not self.connected:
            raise ConnectionClosedError(f"link 0x{self.handle:04X} is down", self._reason)
        fixed = self._stack.fixed_channels
        async with fixed.open(self.handle, self.transport, cid, receive_limit) as channel:
            yield channel

    @property
    def att(self) -> LinkAttBearer:
        """The raw ATT bearer of this LE link (:mod:`bluetrio.gatt.port`): requests,
        commands and received values, what a GATT client stands on."""
        if self.transport is not LinkTransport.LE:
            raise InvalidArgumentError("ATT runs on LE links (BR/EDR ATT is not supported)")
        if not self.connected:
            return self._stack.att.gone(self.handle, self._reason or 0)
        return self._stack.att.bearer(self.handle)

    @property
    def gatt(self) -> GattClient:
        """The GATT client of this LE link (:mod:`bluetrio.gatt.client`), made on first
        use: discovery, reads, writes and subscriptions on the peer's GATT server."""
        if self.transport is not LinkTransport.LE:
            raise InvalidArgumentError("GATT runs on LE links (BR/EDR ATT is not supported)")
        return self._stack.gatt_clients.client(self)

    async def request_connection_parameters(
        self,
        *,
        interval_min: int,
        interval_max: int,
        latency: int = 0,
        supervision_timeout: int,
        timeout: float = PARAMETER_UPDATE_TIMEOUT,
    ) -> None:
        """As the peripheral of this LE link, ask the central for new connection parameters
        with an L2CAP Connection Parameter Update Request (Core 5.4 Vol 3 Part A 4.20);
        returns once the central accepted. The central then applies parameters within
        the range (LE Connection Update Complete): :attr:`interval`, :attr:`latency` and
        :attr:`supervision_timeout` follow when it does.

        Intervals in 1.25 ms units (6..3200, ``interval_min`` <= ``interval_max``),
        ``latency`` in connection events (0..499), ``supervision_timeout`` in 10 ms units
        (10..3200, longer than (1 + latency) x interval_max x 2), as Vol 4 Part E 7.8.18
        bounds them; anything else raises :class:`InvalidArgumentError` here, as does a link
        that is not an LE link of which we are the peripheral (a central updates the
        connection itself, :meth:`Stack.update_connection`).
        Raises :class:`~bluetrio.errors.ConnectionParametersRejected` with result 0x0001
        when the central rejects them, 0xFFFF when it does not answer within the signaling
        timers or the link goes down; :class:`ConnectionClosedError` when the link is down;
        :class:`trio.TooSlowError` after ``timeout`` seconds.
        """
        parameters = LeConnectionParameters(
            arguments.integer("interval_min", interval_min, 0x0006, 0x0C80),
            arguments.integer("interval_max", interval_max, 0x0006, 0x0C80),
            arguments.integer("latency", latency, 0, 0x01F3),
            arguments.integer("supervision_timeout", supervision_timeout, 0x000A, 0x0C80),
        )
        timeout = arguments.seconds("timeout", timeout)
        if self.transport is not LinkTransport.LE:
            raise InvalidArgumentError("connection parameter updates are for LE links")
        if self.role is not Role.PERIPHERAL:
            raise InvalidArgumentError(
                "only the peripheral asks for connection parameters; as the central, "
                "use stack.update_connection()"
            )
        if not self.connected:
            raise ConnectionClosedError(f"link 0x{self.handle:04X} is down", self._reason)
        app = self._stack.app
        request = L2caConnectionParameterUpdateReq(app.runtime.new_token(), self.handle, parameters)
        with trio.fail_after(timeout):
            reply = await app.request(Layer.L2CAP, request)
        assert isinstance(reply, L2caCnf)
        if reply.result != 0:
            raise ConnectionParametersRejected(
                reply.result, reply.error or "the central rejected the connection parameters"
            )

    async def __aenter__(self) -> Link:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Disconnect if still up, shielded from cancellation but bounded by
        :data:`CLEANUP_TIMEOUT`: a controller that never reports the disconnection is logged
        and the caller goes on."""
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + CLEANUP_TIMEOUT
            try:
                await self.disconnect(timeout=CLEANUP_TIMEOUT)
            except BluetrioError as error:
                logger.warning("link 0x%04X not disconnected cleanly: %s", self.handle, error)
        if scope.cancelled_caught:
            logger.warning("link 0x%04X: disconnection did not finish in time", self.handle)

    # -- updates from the registry -----------------------------------------------------------
    def _changed(self, state: AclLink) -> None:
        self._state = state
        if not state.encrypted:
            self._key_type = None
            self._strength = None
            self._checked_key_size = 0

    def _secured(self, indication: LinkSecuredInd) -> None:
        self._key_type = indication.key_type
        self._strength = indication.strength
        self._checked_key_size = indication.key_size

    def _gone(self, reason: int) -> None:
        if self._reason is None:
            self._reason = reason
        self._down.set()


class LinkRegistry:
    """The live links of one stack, by handle, and the backlog of incoming ones.

    Observers of the application port (:meth:`AppPort.observe`) keep it current. Incoming
    links wait in a backlog of at most ``backlog`` links for :meth:`next_incoming`; when one
    more comes, the oldest waiting one leaves the backlog (it stays connected and listed in
    :attr:`Stack.links`) and a warning says so. A link that goes down leaves the backlog.
    """

    def __init__(self, stack: Stack, app: AppPort, *, backlog: int = DEFAULT_BACKLOG) -> None:
        self._stack = stack
        self._links: dict[int, Link] = {}
        self._incoming: deque[Link] = deque()
        self._recently_gone: dict[int, Link] = {}
        self._backlog = backlog
        self._arrivals = trio.lowlevel.ParkingLot()
        self._closed = False
        app.observe(LinkUpInd, self._on_up)
        app.observe(LinkChangedInd, self._on_changed)
        app.observe(LinkSecuredInd, self._on_secured)
        app.observe(LinkDownInd, self._on_down)

    def all(self) -> tuple[Link, ...]:
        return tuple(self._links.values())

    def get(self, handle: int) -> Link | None:
        return self._links.get(handle)

    def known(self, handle: int) -> Link:
        """The link ``handle``, up or among the last links that went down."""
        link = self._links.get(handle) or self._recently_gone.get(handle)
        if link is None:
            raise StackError(f"link 0x{handle:04X} was confirmed but never indicated")
        return link

    def _on_up(self, indication: LinkUpInd) -> None:
        stale = self._links.get(indication.handle)
        if stale is not None:  # the device manager replaced a link it never saw go down
            stale._gone(LOCAL_HOST_TERMINATED)
        link = Link(self._stack, indication.link)
        self._links[link.handle] = link
        self._recently_gone.pop(link.handle, None)
        if indication.incoming:
            if len(self._incoming) >= self._backlog:
                oldest = self._incoming.popleft()
                logger.warning(
                    "%d incoming links not accepted: %r left the backlog", self._backlog, oldest
                )
            self._incoming.append(link)
            self._arrivals.unpark_all()

    def _on_changed(self, indication: LinkChangedInd) -> None:
        link = self._links.get(indication.handle)
        if link is not None:
            link._changed(indication.link)

    def _on_secured(self, indication: LinkSecuredInd) -> None:
        link = self._links.get(indication.handle)
        if link is not None:
            link._secured(indication)

    def _on_down(self, indication: LinkDownInd) -> None:
        link = self._links.pop(indication.handle, None)
        if link is None:
            return
        link._gone(indication.reason)
        self._recently_gone[link.handle] = link
        if len(self._recently_gone) > RECENTLY_GONE:
            del self._recently_gone[next(iter(self._recently_gone))]
        if link in self._incoming:
            self._incoming.remove(link)

    def close(self) -> None:
        """The stack closed: every link is down for the application."""
        self._closed = True
        for link in self._links.values():
            link._gone(LOCAL_HOST_TERMINATED)
        self._links.clear()
        self._incoming.clear()
        self._arrivals.unpark_all()

    async def next_incoming(self, transport: LinkTransport | None = None) -> Link:
        """The oldest incoming link not yet taken (of ``transport`` when given); waits.
        Raises :class:`StackError` when the stack closes first."""
        await trio.lowlevel.checkpoint()
        while True:
            if self._closed:
                raise StackError("the stack closed while waiting for an incoming link")
            for link in self._incoming:
                if transport is None or link.transport is transport:
                    self._incoming.remove(link)
                    return link
            await self._arrivals.park()


class IncomingLinks:
    """``async for link in stack.incoming()``: every incoming link, as it comes.

    Each link is the caller's; ``async with link:`` disconnects it when done.
    """

    def __init__(self, registry: LinkRegistry, transport: LinkTransport | None) -> None:
        self._registry = registry
        self._transport = transport

    def __aiter__(self) -> IncomingLinks:
        return self

    async def __anext__(self) -> Link:
        """The next incoming link; the iteration ends when the stack closes."""
        try:
            return await self._registry.next_incoming(self._transport)
        except StackError:
            raise StopAsyncIteration from None
