"""Link control blocks (LCBs): what L2CAP knows of one ACL link.

An LCB is created by hci's :class:`~bluetrio.messages.hci_service.AclLinkOpenedInd`, which
comes before any data of the link, and released on ``AclLinkClosedInd`` (or when the runtime
drops the connection), with every channel, pending request and timer of the link. btm's later
``LinkUpInd`` only adds the role.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import attrs

from bluetrio.actors.l2cap.channels import Ccb, CidAllocator, Priority, TxQueue
from bluetrio.messages.btm import Role
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap import (
    LAST_LE_DYNAMIC_CID,
    MIN_LE_SIGNALING_MTU,
    MIN_SIGNALING_MTU,
    FixedCid,
    SignalingCode,
)

if TYPE_CHECKING:
    from bluetrio.actors.l2cap.credit_channels import CreditCcb


@attrs.frozen
class RequestTimer:
    """Owner of the RTX/ERTX timer of one signaling request (Vol 3 Part A 6.2.1)."""

    handle: int
    identifier: int


@attrs.define
class PendingRequest:
    """A signaling request of ours awaiting its response, by identifier (Vol 3 Part A 4:
    a response carries its request's identifier)."""

    identifier: int
    code: SignalingCode
    cid: int | None = None  # our channel it belongs to
    requester: tuple[str, int] | None = None  # (actor, token) of a user request
    # What the RTX timer needs to send the request again (Vol 3 Part A 6.2.1): its C-frame,
    # when it was first sent, the timeout now running, and whether the peer said "pending"
    # (the ERTX timer runs instead, 6.2.2).
    frame: bytes = b""
    first_sent: float = 0.0
    timeout: float = 0.0
    extended: bool = False


@attrs.define(eq=False)
class Lcb:
    """One ACL link (Bluedroid's tL2C_LCB)."""

    handle: int
    transport: LinkTransport
    link_id: int = 0  # hci's number for this link (AclLinkOpenedInd)
    role: Role | None = None
    channels: dict[int, Ccb] = attrs.Factory(dict)  # by our CID
    credit_channels: dict[int, CreditCcb] = attrs.Factory(dict)  # credit-based, by our CID
    pending: dict[int, PendingRequest] = attrs.Factory(dict)  # by identifier
    signaling_queue: deque[bytes] = attrs.Factory(deque)  # link-level PDUs, sent first
    in_flight: deque[int] = attrs.Factory(deque)  # CID of each PDU at hci, oldest first
    fixed_queues: dict[int, TxQueue] = attrs.Factory(dict)  # by fixed CID
    # The peer's extended features (Vol 3 Part A 4.12), asked once per link before the first
    # channel in a retransmission mode is configured; our CIDs of the channels waiting.
    peer_features: int | None = None
    features_waiting: list[int] = attrs.Factory(list)
    cids: CidAllocator = attrs.field(init=False)
    _next_identifier: int = 1

    def __attrs_post_init__(self) -> None:
        if self.transport is LinkTransport.LE:
            self.cids = CidAllocator(last=LAST_LE_DYNAMIC_CID)
        else:
            self.cids = CidAllocator()

    @property
    def signaling_cid(self) -> int:
        if self.transport is LinkTransport.LE:
            return FixedCid.LE_SIGNALING
        return FixedCid.SIGNALING

    @property
    def signaling_mtu(self) -> int:
        """The C-frame size the peer must accept (Vol 3 Part A 4: MTUsig 48 on BR/EDR, 23 on
        LE); we never send a larger one, since no procedure tells us the peer's."""
        return MIN_LE_SIGNALING_MTU if self.transport is LinkTransport.LE else MIN_SIGNALING_MTU

    def used_cids(self) -> set[int]:
        """Our CIDs taken by a channel of either kind."""
        return self.channels.keys() | self.credit_channels.keys()

    def next_identifier(self) -> int | None:
        """A fresh identifier (1..255, Vol 3 Part A 4: 0x00 is never used), skipping those of
        requests still pending; None when all 255 are."""
        for _ in range(255):
            identifier = self._next_identifier
            self._next_identifier = identifier % 255 + 1
            if identifier not in self.pending:
                return identifier
        return None

    def fixed_queue(self, cid: int, owner: str) -> TxQueue:
        queue = self.fixed_queues.get(cid)
        if queue is None:
            queue = self.fixed_queues[cid] = TxQueue(cid, owner, Priority.HIGH)
        return queue

    def channel_by_remote(self, remote_cid: int) -> Ccb | None:
        for ccb in self.channels.values():
            if ccb.remote_cid == remote_cid:
                return ccb
        return None
