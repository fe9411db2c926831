"""The RFCOMM core (RFCOMM 1.2 over 3GPP TS 07.10): sans-IO, driven by the generic actor shell.

One multiplexer per ACL link runs on an L2CAP channel to PSM 0x0003 (:mod:`.multiplexer`
has its state machine, the L2CAP side and DLCI 0); its DLCs are opened, carried and closed by
:mod:`.dlcs`. Server channels are registered here, each with the security btm must establish
before a DLC to it opens. Indications go to the actor that opened each DLC or registered its
server channel.
"""

from __future__ import annotations

import logging
import random

from bluetrio.actors.effects import Effects, Emit, Send, TimerExpired
from bluetrio.actors.rfcomm.control_blocks import L2CAP_MTU, Mcb
from bluetrio.actors.rfcomm.dlcs import DlcProcedures, Servers
from bluetrio.actors.rfcomm.multiplexer import Multiplexers
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.messages import rfcomm_service
from bluetrio.messages.base import Message
from bluetrio.messages.btm import ControllerReadyInd
from bluetrio.messages.btm_security import LinkSecurityCnf, LinkSecurityReq
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
from bluetrio.messages.rfcomm import MAX_SERVER_CHANNEL, MIN_SERVER_CHANNEL, PSM
from bluetrio.messages.rfcomm_service import (
    RfcommCnf,
    RfcommConnectReq,
    RfcommConnectRsp,
    RfcommDataReq,
    RfcommDataRsp,
    RfcommDeregisterReq,
    RfcommDisconnectReq,
    RfcommLineStatusReq,
    RfcommModemStatusReq,
    RfcommMultiplexerCloseReq,
    RfcommPortReq,
    RfcommRegisterReq,
    RfcommTestReq,
)

logger = logging.getLogger(__name__)


class RfcommCore:
    """Every link's multiplexer, its DLCs, and the server channels registered."""

    spec = LayerSpec(
        Layer.RFCOMM,
        handles=rfcomm_service.REQUESTS,
        subscribes=(ControllerReadyInd,),
        emits=(
            L2caRegisterPsmReq,
            L2caConnectReq,
            L2caConnectRsp,
            L2caDataReq,
            L2caDisconnectReq,
            LinkSecurityReq,
        ),
    )

    def __init__(self, rng: random.Random | None = None) -> None:
        self.muxes: dict[int, Mcb] = {}
        self.servers: Servers = {}
        self.dlcs = DlcProcedures(self.muxes, self.servers)
        self.multiplexers = Multiplexers(self.muxes, self.dlcs, rng or random.Random())
        self._registered_psm = False

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        mux, dlcs = self.multiplexers, self.dlcs
        match message:
            case L2caDataInd():
                return mux.on_sdu(message, now)
            case L2caDataCnf():
                return mux.on_sent(message, now)
            case RfcommDataReq():
                return dlcs.send_data(sender, message, now)
            case RfcommDataRsp():
                return dlcs.read(message, now)
            case RfcommConnectReq():
                return mux.connect(sender, message, now)
            case RfcommDisconnectReq():
                return dlcs.disconnect(sender, message, now)
            case RfcommConnectRsp():
                return dlcs.on_connect_response(sender, message, now)
            case RfcommMultiplexerCloseReq():
                return mux.close_request(sender, message, now)
            case RfcommModemStatusReq():
                return dlcs.set_modem_status(sender, message, now)
            case RfcommPortReq():
                return dlcs.request_port(sender, message, now)
            case RfcommLineStatusReq():
                return dlcs.report_line_status(sender, message, now)
            case RfcommTestReq():
                return mux.ping(sender, message, now)
            case RfcommRegisterReq():
                return self._register(sender, message)
            case RfcommDeregisterReq():
                return self._deregister(sender, message)
            case L2caConnectInd():
                return mux.on_connect_indication(message, now)
            case L2caConnectCnf():
                return mux.on_connect_confirm(message, now)
            case L2caConfigInd():
                return mux.on_configured(message, now)
            case L2caDisconnectInd():
                return mux.on_disconnected(message, now)
            case LinkSecurityCnf():
                return dlcs.on_security(message, now)
            case TimerExpired():
                return mux.on_timer(message.key, now)
            case ControllerReadyInd() if not self._registered_psm:
                self._registered_psm = True
                request = L2caRegisterPsmReq(
                    mux.new_token(), PSM, LinkTransport.BR_EDR, None, L2CAP_MTU
                )
                return [Emit(request)]
            case L2caCnf():
                if message.result:  # a registration or disconnection that failed
                    logger.warning("rfcomm: L2CAP refused a request: %s", message.error)
                return []
            case ControllerReadyInd() | L2caCongestionInd():
                return []
        logger.warning("rfcomm: unexpected %s from %s", message.summary(), sender)
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        mcb = self.muxes.get(handle)
        if mcb is None:
            return []
        mcb.cid = 0  # the connection is being torn down: nothing to disconnect
        return self.multiplexers.release(mcb, reason, link_lost=True)

    # -- server channels -----------------------------------------------------------------------
    def _register(self, sender: str, request: RfcommRegisterReq) -> Effects:
        channel = request.channel
        if channel == 0:
            free = [
                c
                for c in range(MIN_SERVER_CHANNEL, MAX_SERVER_CHANNEL + 1)
                if c not in self.servers
            ]
            if not free:
                return [Send(sender, RfcommCnf(request.token, "every server channel is taken"))]
            channel = free[0]
        elif not MIN_SERVER_CHANNEL <= channel <= MAX_SERVER_CHANNEL:
            error = f"server channel {channel} is not 1..30"
            return [Send(sender, RfcommCnf(request.token, error))]
        elif channel in self.servers:
            error = f"server channel {channel} is already registered"
            return [Send(sender, RfcommCnf(request.token, error))]
        self.servers[channel] = (sender, request.security)
        return [Send(sender, RfcommCnf(request.token, None, channel))]

    def _deregister(self, sender: str, request: RfcommDeregisterReq) -> Effects:
        registered = self.servers.get(request.channel)
        if registered is None or registered[0] != sender:
            error = f"server channel {request.channel} is not registered by {sender}"
            return [Send(sender, RfcommCnf(request.token, error))]
        del self.servers[request.channel]
        return [Send(sender, RfcommCnf(request.token, None, request.channel))]
