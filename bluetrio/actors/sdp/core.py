"""The SDP core (Core 5.4 Vol 3 Part B): sans-IO, driven by the generic actor shell.

It registers PSM 0x0001 with L2CAP once the controller is ready, with no security
requirement (Vol 3 Part C 5.2.2.8: SDP is exempt from security mode 4), accepts the channels
clients open to it (at most :data:`MAX_SERVER_CHANNELS` at once) and answers their requests
from the record database (:mod:`.server`); its client side (:mod:`.client`) runs the queries of
the application and of RFCOMM on channels it opens. L2CAP's indications come to this actor as
the owner of those channels.
"""

from __future__ import annotations

import itertools
import logging

from bluetrio.actors.effects import Effects, Emit, Send, TimerExpired
from bluetrio.actors.sdp.client import SdpClient
from bluetrio.actors.sdp.database import RecordDatabase
from bluetrio.actors.sdp.server import SdpServer, ServerConnection
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.base import Message
from bluetrio.messages.btm import ControllerReadyInd, LinkDownInd
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap_service import (
    L2caCnf,
    L2caConfigInd,
    L2caCongestionInd,
    L2caConnectCnf,
    L2caConnectInd,
    L2caConnectReq,
    L2caConnectRsp,
    L2caDataCnf,
    L2caDataInd,
    L2caDataReq,
    L2caDisconnectInd,
    L2caDisconnectReq,
    L2caRegisterPsmReq,
)
from bluetrio.messages.sdp_records import SDP_PSM
from bluetrio.messages.sdp_service import (
    REQUESTS,
    SdpCnf,
    SdpQueryReq,
    SdpRegisterCnf,
    SdpRegisterReq,
    SdpUnregisterReq,
)

logger = logging.getLogger(__name__)

# Clients served at once; a further channel is refused with "no resources available" (Vol 3
# Part A 4.3, result 0x0004), which bounds what the server keeps for continuations.
MAX_SERVER_CHANNELS = 16
NO_RESOURCES = 0x0004
SERVER_MTU = 672


class SdpCore:
    """The record database, the server's connections and the client's links."""

    spec = LayerSpec(
        Layer.SDP,
        handles=REQUESTS,
        subscribes=(ControllerReadyInd, LinkDownInd),
        emits=(L2caRegisterPsmReq, L2caConnectReq, L2caConnectRsp, L2caDataReq, L2caDisconnectReq),
    )

    def __init__(self) -> None:
        self.database = RecordDatabase()
        self.server = SdpServer(self.database)
        self._tokens = itertools.count(1)
        self.client = SdpClient(lambda: next(self._tokens))
        self.connections: dict[tuple[int, int], ServerConnection] = {}
        self.accepted: set[tuple[int, int]] = set()  # accepted, not configured yet
        self.registered = False
        self._register_token = 0

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        match message:
            case L2caDataInd(handle=handle, cid=cid, sdu=sdu):
                connection = self.connections.get((handle, cid))
                if connection is not None:
                    response = self.server.respond(connection, sdu)
                    return [Emit(L2caDataReq(handle, cid, response))]
                if self.client.owns(handle, cid):
                    return self.client.data(handle, sdu, now)
                return []
            case L2caDataCnf() | L2caCongestionInd():
                return []  # one PDU at a time each way: nothing waits on the window
            case SdpQueryReq():
                return self.client.query(sender, message, now)
            case SdpRegisterReq(token=token, record=record):
                try:
                    record_handle = self.database.add(record, sender)
                except InvalidArgumentError as error:
                    return [Send(sender, SdpRegisterCnf(token, error=str(error)))]
                return [Send(sender, SdpRegisterCnf(token, record_handle))]
            case SdpUnregisterReq(token=token, record_handle=record_handle):
                return [Send(sender, SdpCnf(token, self.database.remove(record_handle, sender)))]
            case L2caConnectInd(handle=handle, cid=cid, psm=psm):
                open_channels = len(self.connections) + len(self.accepted)
                if psm != SDP_PSM or open_channels >= MAX_SERVER_CHANNELS:
                    logger.info("SDP channel 0x%04X on 0x%04X refused", cid, handle)
                    return [Emit(L2caConnectRsp(handle, cid, NO_RESOURCES))]
                self.accepted.add((handle, cid))
                return [Emit(L2caConnectRsp(handle, cid, 0))]
            case L2caConfigInd(handle=handle, cid=cid, parameters=parameters):
                if (handle, cid) in self.accepted:
                    self.accepted.discard((handle, cid))
                    self.connections[handle, cid] = ServerConnection(parameters.peer_mtu)
                return []
            case L2caConnectCnf():
                return self.client.connect_cnf(message, now)
            case L2caDisconnectInd(handle=handle, cid=cid):
                self.accepted.discard((handle, cid))
                if self.connections.pop((handle, cid), None) is not None:
                    return []
                if self.client.owns(handle, cid):
                    return self.client.disconnected(handle, now)
                return []
            case L2caCnf(token=token):
                if token == self._register_token:
                    if message.result:
                        logger.warning("SDP could not register PSM 0x0001: %s", message.error)
                    return []
                return self.client.disconnect_confirmed(token, now)
            case TimerExpired(key=key):
                return self.client.timer_expired(key, now)
            case ControllerReadyInd():
                if self.registered:
                    return []
                self.registered = True
                self._register_token = next(self._tokens)
                register = L2caRegisterPsmReq(
                    self._register_token, SDP_PSM, LinkTransport.BR_EDR, None, SERVER_MTU
                )
                return [Emit(register)]
            case LinkDownInd(handle=handle):
                return self.drop_connection(handle, "link down", now)
        logger.info("SDP ignores %s from %s", type(message).__name__, sender)
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        for key in [key for key in self.connections if key[0] == handle]:
            del self.connections[key]
        self.accepted = {key for key in self.accepted if key[0] != handle}
        return self.client.link_down(handle)
