"""The service primitives of L2CAP (Core 5.4 Vol 3 Part A 7): what the layers above (and the
application) exchange with the L2CAP actor.

Requests carry a ``token`` when they expect a confirmation, answered to their sender.
Indications of a channel go to the actor that owns it: the one that opened it
(:class:`L2caConnectReq`) or registered its PSM (:class:`L2caRegisterPsmReq`); indications of a
fixed channel go to the actor that registered it (:class:`L2caRegisterFixedChannelReq`).
Messages of a channel carry ``handle`` and ``cid`` (our channel identifier), which the
runtime's failure containment and the application's mailboxes key on.
"""

from __future__ import annotations

import enum

import attrs

from bluetrio.messages.base import Message
from bluetrio.messages.btm import LeConnectionParameters
from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap.constants import ChannelMode


class ModePolicy(enum.Enum):
    """What a channel accepts when the mode it asks for cannot be had (Vol 3 Part A 5.4)."""

    FALL_BACK_TO_BASIC = "fall back to basic"  # use basic mode when the peer lacks the mode
    REQUIRE = "require"  # refuse the channel instead


@attrs.frozen
class ChannelParameters:
    """A channel's configuration as negotiated: what each side may send.

    ``mtu``: the largest SDU we accept; ``peer_mtu``: the largest the peer accepts (what we
    may send); ``mode``: the channel's mode; ``flush_timeout``: the peer's (0xFFFF infinite).
    """

    mtu: int
    peer_mtu: int
    mode: ChannelMode = ChannelMode.BASIC
    flush_timeout: int = 0xFFFF


@attrs.frozen
class L2caCnf(Message):
    """The answer to a request without a result of its own; ``result`` 0 is success, other
    values are the L2CAP result code the spec gives (or 0xFFFF, "refused locally") and
    ``error`` says why."""

    token: int
    result: int = 0
    error: str | None = None


LOCAL_REFUSAL = 0xFFFF


# -- dynamic channels --------------------------------------------------------------------------


@attrs.frozen
class L2caRegisterPsmReq(Message):
    """Accept channels for ``psm`` on ``transport``: incoming connection requests are checked
    against ``security`` (through btm) and then offered to the sender as
    :class:`L2caConnectInd`. Answered by :class:`L2caCnf`."""

    token: int
    psm: int
    transport: LinkTransport = LinkTransport.BR_EDR
    security: SecurityRequirement | None = None
    mtu: int = 672
    mode: ChannelMode = ChannelMode.BASIC
    mode_policy: ModePolicy = ModePolicy.FALL_BACK_TO_BASIC


@attrs.frozen
class L2caDeregisterPsmReq(Message):
    """Stop accepting channels for ``psm`` (open channels stay open). Answered by
    :class:`L2caCnf`."""

    token: int
    psm: int
    transport: LinkTransport = LinkTransport.BR_EDR


@attrs.frozen
class L2caConnectReq(Message):
    """Open a channel to ``psm`` on link ``handle`` (L2CA_ConnectReq, Vol 3 Part A 7.2.1),
    after making the link meet ``security``. Answered by :class:`L2caConnectCnf` once the
    channel is configured and open, or refused."""

    token: int
    handle: int
    psm: int
    mtu: int = 672
    mode: ChannelMode = ChannelMode.BASIC
    mode_policy: ModePolicy = ModePolicy.FALL_BACK_TO_BASIC
    security: SecurityRequirement | None = None


@attrs.frozen
class L2caConnectCnf(Message):
    """Outcome of :class:`L2caConnectReq`: ``result`` 0 and the open channel ``cid`` with its
    ``parameters``; otherwise the peer's Connection Response result (Vol 3 Part A 4.3), a
    Configuration Response result, or :data:`LOCAL_REFUSAL`, and ``error``."""

    token: int
    handle: int
    cid: int = 0
    result: int = 0
    parameters: ChannelParameters | None = None
    error: str | None = None


@attrs.frozen
class L2caConnectInd(Message):
    """The peer asks for channel ``cid`` (ours) to ``psm`` and the link meets the PSM's
    security: answer with :class:`L2caConnectRsp`."""

    handle: int
    cid: int
    psm: int
    transport: LinkTransport


@attrs.frozen
class L2caConnectRsp(Message):
    """Accept (``result`` 0) or refuse the channel of an :class:`L2caConnectInd` with a
    Connection Response result (Vol 3 Part A 4.3)."""

    handle: int
    cid: int
    result: int = 0


@attrs.frozen
class L2caConfigInd(Message):
    """Channel ``cid`` that the peer opened finished configuration and is open."""

    handle: int
    cid: int
    psm: int
    parameters: ChannelParameters


@attrs.frozen
class L2caDataReq(Message):
    """Send one SDU on channel ``cid`` (at most the peer's MTU). L2CAP confirms it with
    :class:`L2caDataCnf` once the controller took it."""

    handle: int
    cid: int
    sdu: bytes

    def summary(self) -> str:
        return f"L2caDataReq 0x{self.handle:04X}/0x{self.cid:04X} {len(self.sdu)} B"


@attrs.frozen
class L2caDataCnf(Message):
    """``count`` SDUs of channel ``cid`` left the controller's buffers (the sender's window
    reopens by that many)."""

    handle: int
    cid: int
    count: int


@attrs.frozen
class L2caDataInd(Message):
    """One SDU received on channel ``cid``."""

    handle: int
    cid: int
    sdu: bytes

    def summary(self) -> str:
        return f"L2caDataInd 0x{self.handle:04X}/0x{self.cid:04X} {len(self.sdu)} B"


@attrs.frozen
class L2caCongestionInd(Message):
    """Channel ``cid``'s transmit queue passed its quota (``congested``) or drained back to
    half of it."""

    handle: int
    cid: int
    congested: bool


@attrs.frozen
class L2caDisconnectReq(Message):
    """Close channel ``cid`` (L2CA_DisconnectReq). Answered by :class:`L2caCnf` when the peer
    confirmed or the disconnection timer ran out."""

    token: int
    handle: int
    cid: int


@attrs.frozen
class L2caDisconnectInd(Message):
    """Channel ``cid`` is closed: by the peer, because the link went down (``link_lost``), or
    because the channel failed (``reason`` says how)."""

    handle: int
    cid: int
    reason: str
    link_lost: bool = False


# -- fixed channels ---------------------------------------------------------------------------


@attrs.frozen
class L2caRegisterFixedChannelReq(Message):
    """Receive fixed channel ``cid`` (ATT 0x0004, SMP 0x0006, BR/EDR SMP 0x0007...) on every
    link: the sender gets :class:`L2caFixedChannelInd` as links open and close and
    :class:`L2caFixedDataInd` for each PDU. Answered by :class:`L2caCnf`."""

    token: int
    cid: int


@attrs.frozen
class L2caDeregisterFixedChannelReq(Message):
    """Stop receiving fixed channel ``cid`` (registered by the sender): its PDUs are dropped
    again and the Information Response no longer lists it. Answered by :class:`L2caCnf`."""

    token: int
    cid: int


@attrs.frozen
class L2caFixedChannelInd(Message):
    """Fixed channel ``cid`` is usable on link ``handle`` (``open``) or not any more."""

    handle: int
    cid: int
    transport: LinkTransport
    open: bool


@attrs.frozen
class L2caFixedDataReq(Message):
    """Send ``payload`` as one B-frame on fixed channel ``cid`` of link ``handle``, from the
    layer that registered it. Confirmed by :class:`L2caFixedDataCnf` once the controller took
    it; when the link goes down first, :class:`L2caFixedChannelInd` says so instead."""

    handle: int
    cid: int
    payload: bytes

    def summary(self) -> str:
        return f"L2caFixedDataReq 0x{self.handle:04X}/0x{self.cid:04X} {len(self.payload)} B"


@attrs.frozen
class L2caFixedDataCnf(Message):
    """``count`` PDUs of fixed channel ``cid`` left the controller's buffers (the sender's
    window reopens by that many); with ``error``, one PDU that was not sent and why (no such
    link, a channel the sender did not register, a payload beyond a B-frame)."""

    handle: int
    cid: int
    count: int
    error: str | None = None


@attrs.frozen
class L2caFixedDataInd(Message):
    """One B-frame received on fixed channel ``cid``."""

    handle: int
    cid: int
    payload: bytes


# -- signaling procedures on a link -------------------------------------------------------------


@attrs.frozen
class L2caEchoReq(Message):
    """Send an Echo Request on BR/EDR link ``handle`` (Vol 3 Part A 4.8). Answered by
    :class:`L2caEchoCnf`."""

    token: int
    handle: int
    data: bytes = b""


@attrs.frozen
class L2caEchoCnf(Message):
    token: int
    handle: int
    data: bytes = b""
    error: str | None = None


@attrs.frozen
class L2caInfoReq(Message):
    """Ask the peer on BR/EDR link ``handle`` for ``info_type`` (Vol 3 Part A 4.10). Answered
    by :class:`L2caInfoCnf`."""

    token: int
    handle: int
    info_type: int


@attrs.frozen
class L2caInfoCnf(Message):
    token: int
    handle: int
    result: int = 0
    data: bytes = b""
    error: str | None = None


@attrs.frozen
class L2caConnectionParameterUpdateReq(Message):
    """As the peripheral of LE link ``handle``, ask the central for ``parameters`` (Vol 3
    Part A 4.20). Answered by :class:`L2caCnf` with the central's result (0 accepted,
    1 rejected)."""

    token: int
    handle: int
    parameters: LeConnectionParameters


REQUESTS: tuple[type[Message], ...] = (
    L2caRegisterPsmReq,
    L2caDeregisterPsmReq,
    L2caConnectReq,
    L2caConnectRsp,
    L2caDataReq,
    L2caDisconnectReq,
    L2caRegisterFixedChannelReq,
    L2caDeregisterFixedChannelReq,
    L2caFixedDataReq,
    L2caEchoReq,
    L2caInfoReq,
    L2caConnectionParameterUpdateReq,
)
