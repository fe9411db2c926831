"""The service primitives of RFCOMM: what the application exchanges with the RFCOMM actor.

A DLC is named by the ACL link ``handle`` its multiplexer runs on and its ``dlci`` (RFCOMM 1.2
5.4). Requests carry a ``token`` when they expect a confirmation, answered to their sender;
indications of a DLC go to the actor that opened it (:class:`RfcommConnectReq`) or registered
its server channel (:class:`RfcommRegisterReq`).
"""

from __future__ import annotations

import attrs

from bluetrio.messages.base import Message
from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.rfcomm import (
    DEFAULT_FRAME_SIZE,
    LineStatus,
    ModemStatus,
    PortParameter,
    PortSettings,
)


@attrs.frozen
class RfcommCnf(Message):
    """The answer to a request without a result of its own: ``error`` None is success;
    ``channel`` is the server channel a registration took."""

    token: int
    error: str | None = None
    channel: int = 0


@attrs.frozen
class RfcommRegisterReq(Message):
    """Accept DLCs to server ``channel`` (1-30; 0 takes the lowest free one), each once its
    link meets ``security`` (through btm). Answered by :class:`RfcommCnf`."""

    token: int
    channel: int = 0
    security: SecurityRequirement | None = None


@attrs.frozen
class RfcommDeregisterReq(Message):
    """Stop accepting DLCs to ``channel`` (open DLCs stay open). Answered by
    :class:`RfcommCnf`."""

    token: int
    channel: int


@attrs.frozen
class RfcommConnectReq(Message):
    """Open a DLC to the peer's server ``channel`` on BR/EDR link ``handle``, opening the
    multiplexer first when there is none. ``frame_size``: the N1 we propose (RFCOMM 1.2 5.5.3;
    the L2CAP MTUs may make it smaller). Answered by :class:`RfcommConnectCnf`."""

    token: int
    handle: int
    channel: int
    frame_size: int = DEFAULT_FRAME_SIZE
    security: SecurityRequirement | None = None


@attrs.frozen
class RfcommConnectCnf(Message):
    """Outcome of :class:`RfcommConnectReq`: without ``error``, DLC ``dlci`` is open with
    frame size ``frame_size``."""

    token: int
    handle: int
    dlci: int = 0
    frame_size: int = 0
    error: str | None = None


@attrs.frozen
class RfcommConnectInd(Message):
    """A peer asks for DLC ``dlci`` to our server ``channel`` and the link meets the channel's
    security: answer with :class:`RfcommConnectRsp` (the peer hears UA or DM only then)."""

    handle: int
    dlci: int
    channel: int
    frame_size: int


def frame_count(size: int, frame_size: int) -> int:
    """The UIH frames ``size`` octets take on a DLC whose frame size is ``frame_size``."""
    return -(-size // frame_size)


@attrs.frozen
class RfcommConnectRsp(Message):
    """Accept the DLC of an :class:`RfcommConnectInd` (UA: it is open) or refuse it (DM, for
    ``reason``: a listener whose backlog is full, or none)."""

    handle: int
    dlci: int
    accept: bool
    reason: str = ""


@attrs.frozen
class RfcommDataReq(Message):
    """Send ``data`` in UIH frames of the DLC's frame size (N1), the last one shorter: one
    request carries as many frames as the sender's window takes (:func:`frame_count` says
    how many). Each frame is confirmed by :class:`RfcommDataCnf` once it left the
    controller."""

    handle: int
    dlci: int
    data: bytes

    def summary(self) -> str:
        return f"RfcommDataReq 0x{self.handle:04X}/{self.dlci} {len(self.data)} B"


@attrs.frozen
class RfcommDataCnf(Message):
    """``count`` frames of DLC ``dlci`` left the controller (the sender's window reopens by
    that many); with ``error``, one request that was not sent and why."""

    handle: int
    dlci: int
    count: int
    error: str | None = None


@attrs.frozen
class RfcommDataInd(Message):
    """The information of one UIH frame received on DLC ``dlci``."""

    handle: int
    dlci: int
    data: bytes

    def summary(self) -> str:
        return f"RfcommDataInd 0x{self.handle:04X}/{self.dlci} {len(self.data)} B"


# The application may gather up to this many frames read before it reports them (one
# RfcommDataRsp for several): the layer's credit return never waits for more (see
# ``CREDIT_RETURN_BATCH`` in the RFCOMM core's control blocks).
READ_REPORT_BATCH = 8


@attrs.frozen
class RfcommDataRsp(Message):
    """The application read ``count`` more frames of DLC ``dlci``: their credits may go back
    to the peer (RFCOMM 1.2 6.5). Reads may be reported in batches of at most
    :data:`READ_REPORT_BATCH`."""

    handle: int
    dlci: int
    count: int = 1


@attrs.frozen
class RfcommDisconnectReq(Message):
    """Close DLC ``dlci`` once what was sent on it left (DISC, RFCOMM 1.2 5.2). Answered by
    :class:`RfcommCnf` when the peer answered or T1 ran out."""

    token: int
    handle: int
    dlci: int


@attrs.frozen
class RfcommDisconnectInd(Message):
    """DLC ``dlci`` is closed: by the peer in order (``orderly``: its DISC or DM), because the
    multiplexer or the link went down (``link_lost``), or because the DLC failed (``reason``
    says how)."""

    handle: int
    dlci: int
    reason: str
    link_lost: bool = False
    orderly: bool = False


@attrs.frozen
class RfcommMultiplexerCloseReq(Message):
    """The application lets the multiplexer on link ``handle`` go: it closes now when no DLC
    uses it (DISC on DLCI 0, then L2CAP), and :class:`RfcommCnf` answers once it is closed
    (at once when there is none; with ``error`` when DLCs still use it, which it keeps)."""

    token: int
    handle: int


@attrs.frozen
class RfcommModemStatusReq(Message):
    """Send our V.24 signals ``status`` on DLC ``dlci`` (an MSC command, TS 07.10 5.4.6.3.7),
    with a break of ``break_length`` units of 200 ms (0-15) when given. Answered by
    :class:`RfcommCnf` once the peer's MSC response came; after T2 without one the DLC is
    closed."""

    token: int
    handle: int
    dlci: int
    status: ModemStatus
    break_length: int | None = None


@attrs.frozen
class RfcommModemStatusInd(Message):
    """The peer's V.24 signals on DLC ``dlci`` (its MSC command), and the break it signals
    (``break_length`` in units of 200 ms; None when it signals none)."""

    handle: int
    dlci: int
    status: ModemStatus
    break_length: int | None = None


@attrs.frozen
class RfcommLineStatusInd(Message):
    """The peer reports line errors on DLC ``dlci`` (RLS, TS 07.10 5.4.6.3.10)."""

    handle: int
    dlci: int
    status: LineStatus


@attrs.frozen
class RfcommLineStatusReq(Message):
    """Report line errors ``status`` on DLC ``dlci`` to the peer (an RLS command, TS 07.10
    5.4.6.3.10). Answered by :class:`RfcommCnf` once the peer's RLS response came (T2)."""

    token: int
    handle: int
    dlci: int
    status: LineStatus


@attrs.frozen
class RfcommPortReq(Message):
    """Remote port negotiation on DLC ``dlci`` (RPN, TS 07.10 5.4.6.3.9): set the parameters
    ``mask`` selects to their values in ``settings``, or with ``settings`` None ask for the
    peer's. Answered by :class:`RfcommPortCnf` once the peer's RPN response came (T2)."""

    token: int
    handle: int
    dlci: int
    settings: PortSettings | None = None
    mask: PortParameter = PortParameter.NONE


@attrs.frozen
class RfcommPortCnf(Message):
    """The peer's answer to :class:`RfcommPortReq`: its port ``settings`` and the parameters
    it ``accepted``; or ``error``."""

    token: int
    settings: PortSettings | None = None
    accepted: PortParameter = PortParameter.NONE
    error: str | None = None


@attrs.frozen
class RfcommPortInd(Message):
    """The peer set the port of DLC ``dlci`` (its RPN command, as far as we took it)."""

    handle: int
    dlci: int
    settings: PortSettings


@attrs.frozen
class RfcommTestReq(Message):
    """A Test command carrying ``data`` on the multiplexer of link ``handle`` (TS 07.10
    5.4.6.3.4). Answered by :class:`RfcommCnf` when the response with the same data came
    (with ``error`` after T2, or when the multiplexer is not connected)."""

    token: int
    handle: int
    data: bytes


@attrs.frozen
class RfcommMultiplexerClosedInd(Message):
    """The multiplexer on link ``handle`` closed, told to whoever asked to let it go while
    DLCs still used it (:class:`RfcommMultiplexerCloseReq` answered with an error)."""

    handle: int


REQUESTS: tuple[type[Message], ...] = (
    RfcommRegisterReq,
    RfcommDeregisterReq,
    RfcommConnectReq,
    RfcommDataReq,
    RfcommDataRsp,
    RfcommDisconnectReq,
    RfcommConnectRsp,
    RfcommMultiplexerCloseReq,
    RfcommModemStatusReq,
    RfcommLineStatusReq,
    RfcommPortReq,
    RfcommTestReq,
)
