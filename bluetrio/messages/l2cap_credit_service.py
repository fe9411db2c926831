"""The service primitives of L2CAP's credit-based channels (Core 5.4 Vol 3 Part A 4.22-4.28,
10.1): LE credit-based connection-oriented channels and enhanced credit-based channels (on LE
and BR/EDR).

They complement :mod:`bluetrio.messages.l2cap_service`: a credit-based channel, once open,
carries SDUs with the same ``L2caDataReq``/``L2caDataInd``/``L2caDataCnf`` and closes with the
same ``L2caDisconnectReq``/``L2caDisconnectInd`` as any channel. What is particular to credits
is here: opening (one channel, or up to five at once), reconfiguring, and
:class:`L2caDataRsp`, by which the owner says it took SDUs, so that their credits go back to
the peer (backpressure is the peer's credits, never a growing queue).
"""

from __future__ import annotations

import enum

import attrs

from bluetrio.messages.base import Message
from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.hci_service import LinkTransport

MAX_SDU_LENGTH = 0xFFFF
MAX_MPS = 65533  # 4.22, 4.25


class CreditMode(enum.Enum):
    """The two credit-based flow control modes, with their smallest MTU and MPS."""

    # LE Credit Based Connection Request: MTU >= 23, MPS 23-65533 (4.22); LE only.
    LE_CREDIT_BASED = (23, 23)
    # Credit Based Connection Request: MTU >= 64, MPS 64-65533 (4.25); LE and BR/EDR.
    ENHANCED_CREDIT_BASED = (64, 64)

    @property
    def min_mtu(self) -> int:
        return self.value[0]

    @property
    def min_mps(self) -> int:
        return self.value[1]

    def limits_problem(self, mtu: int, mps: int) -> str | None:
        """Why ``mtu``/``mps`` are out of this mode's range, or None."""
        if not self.min_mtu <= mtu <= MAX_SDU_LENGTH:
            return f"MTU {mtu} is outside {self.min_mtu}-{MAX_SDU_LENGTH}"
        if not self.min_mps <= mps <= MAX_MPS:
            return f"MPS {mps} is outside {self.min_mps}-{MAX_MPS}"
        return None


@attrs.frozen
class CreditChannelParameters:
    """An open credit-based channel: ``mtu``/``mps`` what we receive, ``peer_mtu``/
    ``peer_mps`` what the peer receives (the largest SDU we may send), ``credits`` the receive
    window we granted and ``transmit_limit`` the octets of SDUs the owner may have sent and not
    had confirmed (``L2caDataCnf``) -- within it every ``L2caDataReq`` is queued."""

    mode: CreditMode
    mtu: int
    mps: int
    peer_mtu: int
    peer_mps: int
    credits: int
    transmit_limit: int


@attrs.frozen
class L2caCreditRegisterReq(Message):
    """Accept credit-based channels to ``spsm`` on ``transport`` (both modes on LE, enhanced on
    BR/EDR) after checking the link against ``security`` through btm; each opened channel is
    announced to the sender with :class:`L2caCreditConnectInd`. Answered by ``L2caCnf``."""

    token: int
    spsm: int
    transport: LinkTransport = LinkTransport.LE
    security: SecurityRequirement | None = None
    mtu: int = 2048
    mps: int = 247
    credits: int = 0  # the receive window; at least one SDU of ``mtu`` (see credit.py)
    # Channels the peer opened that the sender has not taken yet (:class:`L2caCreditAcceptReq`)
    # are at most this many; beyond, a request is refused for want of resources (4.23 result
    # 0x0004, 4.26 result 0x0004). None: no bound (an owner that takes every channel at once).
    backlog: int | None = None


@attrs.frozen
class L2caCreditAcceptReq(Message):
    """The owner of a registration with a ``backlog`` took channel ``cid`` the peer opened:
    it no longer counts against the backlog."""

    handle: int
    cid: int


@attrs.frozen
class L2caCreditDeregisterReq(Message):
    """Stop accepting channels to ``spsm`` (open ones stay). Answered by ``L2caCnf``."""

    token: int
    spsm: int
    transport: LinkTransport = LinkTransport.LE


@attrs.frozen
class L2caCreditConnectReq(Message):
    """Open ``count`` channels (1, or up to 5 in enhanced mode) to ``spsm`` on link ``handle``
    after making the link meet ``security``. Answered by :class:`L2caCreditConnectCnf`."""

    token: int
    handle: int
    spsm: int
    mode: CreditMode = CreditMode.LE_CREDIT_BASED
    count: int = 1
    mtu: int = 2048
    mps: int = 247
    credits: int = 0
    security: SecurityRequirement | None = None


@attrs.frozen
class L2caCreditConnectCnf(Message):
    """Outcome of :class:`L2caCreditConnectReq`: the channels opened (``cids``, ours; fewer
    than asked when the peer refused some) with their ``parameters``; ``result`` is the peer's
    (Vol 3 Part A 4.23 or 4.26) or ``LOCAL_REFUSAL``, with ``error`` when nothing opened."""

    token: int
    handle: int
    result: int = 0
    cids: tuple[int, ...] = ()
    parameters: CreditChannelParameters | None = None
    error: str | None = None


@attrs.frozen
class L2caCreditConnectInd(Message):
    """The peer opened channels ``cids`` (ours) to a registered ``spsm``; they are open."""

    handle: int
    spsm: int
    cids: tuple[int, ...]
    parameters: CreditChannelParameters
    transport: LinkTransport


@attrs.frozen
class L2caReconfigureReq(Message):
    """Raise our receive MTU (and change the MPS) of enhanced credit-based channels ``cids``
    of link ``handle`` (Vol 3 Part A 4.27). Answered by ``L2caCnf`` with the peer's result
    (4.28)."""

    token: int
    handle: int
    cids: tuple[int, ...]
    mtu: int
    mps: int


@attrs.frozen
class L2caReconfigureInd(Message):
    """The peer reconfigured channel ``cid``: it now receives SDUs of ``peer_mtu`` octets."""

    handle: int
    cid: int
    peer_mtu: int
    peer_mps: int


# The owner may gather up to this many SDUs read before it reports them (one L2caDataRsp for
# several). It reports at once when it has taken every SDU it was given, so the credit
# engine's return to a peer out of credits, and ERTM's leaving of its local busy condition,
# never wait on a batch (actors/l2cap/credit.py, ertm.py).
READ_REPORT_BATCH = 8


@attrs.frozen
class L2caDataRsp(Message):
    """The owner of credit-based (or ERTM) channel ``cid`` took ``count`` more of its SDUs.
    Reads may be reported in batches of at most :data:`READ_REPORT_BATCH`, and are reported
    at once whenever the owner has taken every SDU it was given."""

    handle: int
    cid: int
    count: int = 1


REQUESTS: tuple[type[Message], ...] = (
    L2caCreditRegisterReq,
    L2caCreditDeregisterReq,
    L2caCreditConnectReq,
    L2caReconfigureReq,
    L2caDataRsp,
    L2caCreditAcceptReq,
)
