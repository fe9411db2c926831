"""The L2CAP core (Core 5.4 Vol 3 Part A): sans-IO, driven by the generic actor shell.

It dispatches each message to the module doing the job: link control blocks come and go with
hci's link signals (:mod:`links`), signaling runs the channels' procedures (:mod:`signaling`,
:mod:`config`, :mod:`states`), received B-frames go to the channel or fixed channel they name,
and everything sent goes through the scheduler (:mod:`scheduler`), which hci's ``AclDataCnf``
paces. Indications go to the actor that owns each channel or registered each PSM and fixed
channel.
"""

from __future__ import annotations

import logging

from bluetrio.actors.effects import Effects, Emit, Send, TimerExpired, TimerKey
from bluetrio.actors.l2cap.channels import Ccb
from bluetrio.actors.l2cap.credit_channels import CreditChannels
from bluetrio.actors.l2cap.ertm_channels import EngineTimer, Outcome, RetransmissionChannels
from bluetrio.actors.l2cap.links import Lcb, RequestTimer
from bluetrio.actors.l2cap.registry import REGISTRABLE_FIXED_CHANNELS, PsmRegistration, Registry
from bluetrio.actors.l2cap.scheduler import Scheduler
from bluetrio.actors.l2cap.signaling import Signaling
from bluetrio.actors.l2cap.states import ChannelState
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.errors import DecodeError
from bluetrio.messages import l2cap_credit_service as credit_service
from bluetrio.messages.base import Message
from bluetrio.messages.btm import BtmCnf, ConnectionUpdateReq, ControllerReadyInd, LinkUpInd
from bluetrio.messages.btm_security import LinkSecurityCnf, LinkSecurityReq
from bluetrio.messages.hci_service import (
    AclDataCnf,
    AclDataInd,
    AclDataReq,
    AclLinkClosedInd,
    AclLinkOpenedInd,
    LinkTransport,
)
from bluetrio.messages.l2cap import (
    FIRST_DYNAMIC_CID,
    MAX_PAYLOAD,
    MIN_BR_EDR_MTU,
    FixedCid,
    decode_basic_frame,
    encode_basic_frame,
    is_valid_psm,
)
from bluetrio.messages.l2cap_credit_service import (
    L2caCreditAcceptReq,
    L2caCreditConnectReq,
    L2caCreditDeregisterReq,
    L2caCreditRegisterReq,
    L2caDataRsp,
    L2caReconfigureReq,
)
from bluetrio.messages.l2cap_service import (
    LOCAL_REFUSAL,
    REQUESTS,
    L2caCnf,
    L2caCongestionInd,
    L2caConnectionParameterUpdateReq,
    L2caConnectReq,
    L2caConnectRsp,
    L2caDataCnf,
    L2caDataInd,
    L2caDataReq,
    L2caDeregisterFixedChannelReq,
    L2caDeregisterPsmReq,
    L2caDisconnectReq,
    L2caEchoReq,
    L2caFixedChannelInd,
    L2caFixedDataCnf,
    L2caFixedDataInd,
    L2caFixedDataReq,
    L2caInfoReq,
    L2caRegisterFixedChannelReq,
    L2caRegisterPsmReq,
    ModePolicy,
)

logger = logging.getLogger(__name__)

# Messages of the data path: within one wake-up the links are served after all of them, once.
_DATA_PATH = frozenset({AclDataInd, AclDataCnf, L2caDataReq, L2caDataRsp, L2caFixedDataReq})


class L2capCore:
    """Every link's LCB, its channels' CCBs, the registrations and the scheduler."""

    spec = LayerSpec(
        Layer.L2CAP,
        handles=(
            AclLinkOpenedInd,
            AclDataInd,
            AclLinkClosedInd,
            *REQUESTS,
            *credit_service.REQUESTS,
        ),
        subscribes=(LinkUpInd, ControllerReadyInd),
        emits=(AclDataReq, LinkSecurityReq, ConnectionUpdateReq),
    )

    def __init__(self) -> None:
        self.links: dict[int, Lcb] = {}
        self.registry = Registry()
        self.scheduler = Scheduler()
        self.signaling = Signaling(self.links, self.registry, self.scheduler)
        self.credit = CreditChannels(self.signaling, self.scheduler)
        self.ertm = RetransmissionChannels(self.links, self.scheduler)
        self.dropped_pdus = 0  # received PDUs no channel took (logged)
        self._in_wakeup = False  # between the shell's begin_wakeup and end_wakeup

    # -- entry points -----------------------------------------------------------------------------
    def handle(self, sender: str, message: Message, now: float) -> Effects:
        if not self._in_wakeup:  # driven message by message: serve the links at once
            effects = self._dispatch(sender, message, now)
            return effects + self._serve_links()
        if type(message) in _DATA_PATH:
            return self._dispatch(sender, message, now)
        # Anything else (a disconnection, a link closing...) finds what was sent before it
        # already handed to hci, as it would one message at a time.
        effects = self._serve_links()
        return effects + self._dispatch(sender, message, now)

    def begin_wakeup(self) -> None:
        """The shell's wake-up hook: the links are served once, when it ends, so a burst of
        requests and completions leaves as one ``AclDataReq`` per link."""
        self._in_wakeup = True

    def end_wakeup(self, now: float) -> Effects:
        self._in_wakeup = False
        return self._serve_links()

    def _serve_links(self) -> Effects:
        sent, changes = self.scheduler.pump(self.links)
        effects: Effects = [Emit(AclDataReq(batch.handle, batch.pdus)) for batch in sent]
        for handle, queue, congested in changes:
            effects.append(Send(queue.owner, L2caCongestionInd(handle, queue.cid, congested)))
        return effects

    def _dispatch(self, sender: str, message: Message, now: float) -> Effects:
        signaling, credit = self.signaling, self.credit
        match message:
            case AclDataInd():
                return self._on_data(message, now)
            case L2caDataReq() if credit.owns(message.handle, message.cid):
                return credit.send_data(sender, message)
            case L2caDataReq():
                return self._on_data_request(sender, message, now)
            case L2caDataRsp() if credit.owns(message.handle, message.cid):
                return credit.consumed(message, now)
            case L2caDataRsp():
                return self._on_sdus_consumed(message, now)
            case L2caCreditAcceptReq():
                return credit.accepted(message)
            case AclDataCnf():
                return self._on_data_confirmed(message)
            case L2caFixedDataReq():
                return self._on_fixed_data_request(sender, message)
            case AclLinkOpenedInd():
                return self._on_link_opened(message)
            case AclLinkClosedInd():
                return self._close_link(
                    message.handle, f"link closed (reason 0x{message.reason:02X})"
                )
            case LinkUpInd():
                lcb = self.links.get(message.handle)
                # A late indication of an earlier link on a reused handle changes nothing.
                if lcb is not None and lcb.link_id == message.link.link_id:
                    lcb.role = message.link.role
                return []
            case ControllerReadyInd():
                info = message.info
                self.scheduler.configure(info.acl_packets, info.le_acl_packets)
                return []
            case TimerExpired(key=TimerKey(owner=EngineTimer() as owner, name=name)):
                return self._engine_outcome(
                    owner.handle, owner.cid, self.ertm.on_timer(owner, name, now), now
                )
            case TimerExpired(key=key) if isinstance(key.owner, RequestTimer):
                resent = signaling.retransmit(key.owner, now)
                if resent is not None:
                    return resent
                if credit.owns_request(key.owner):
                    return credit.on_timeout(key.owner, now)
                return signaling.on_timeout(key.owner, now)
            case LinkSecurityCnf() if credit.owns_security(message):
                return credit.on_security(message, now)
            case LinkSecurityCnf():
                return signaling.on_security(message, now)
            case BtmCnf():
                return signaling.on_update_confirmed(message)
            case L2caConnectReq():
                return signaling.connect(sender, message, now)
            case L2caConnectRsp():
                return signaling.on_upper_response(message, now)
            case L2caDisconnectReq() if credit.owns(message.handle, message.cid):
                return credit.disconnect(sender, message, now)
            case L2caDisconnectReq():
                return signaling.disconnect(sender, message, now)
            case L2caCreditConnectReq():
                return credit.connect(sender, message, now)
            case L2caReconfigureReq():
                return credit.reconfigure(sender, message, now)
            case L2caCreditRegisterReq():
                return credit.register(sender, message)
            case L2caCreditDeregisterReq():
                return credit.deregister(sender, message)
            case L2caEchoReq():
                return signaling.echo(sender, message, now)
            case L2caInfoReq():
                return signaling.information(sender, message, now)
            case L2caConnectionParameterUpdateReq():
                return signaling.update_parameters(sender, message, now)
            case L2caRegisterPsmReq():
                return self._register_psm(sender, message)
            case L2caDeregisterPsmReq():
                return self._deregister_psm(sender, message)
            case L2caRegisterFixedChannelReq():
                return self._register_fixed(sender, message)
            case L2caDeregisterFixedChannelReq():
                return self._deregister_fixed(sender, message)
        logger.debug("l2cap: ignored %s from %s", message.summary(), sender)
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return self._close_link(handle, reason)

    # -- links ------------------------------------------------------------------------------------
    def _on_link_opened(self, opened: AclLinkOpenedInd) -> Effects:
        effects: Effects = []
        if opened.handle in self.links:  # a handle reused without its close: start afresh
            effects += self._close_link(opened.handle, "link replaced")
        self.links[opened.handle] = Lcb(opened.handle, opened.transport, opened.link_id)
        for cid, owner in self.registry.fixed_channels_on(opened.transport):
            effects.append(
                Send(owner, L2caFixedChannelInd(opened.handle, cid, opened.transport, True))
            )
        return effects

    def _close_link(self, handle: int, reason: str) -> Effects:
        lcb = self.links.pop(handle, None)
        if lcb is None:
            return []
        effects = self.signaling.link_closed(lcb, reason) + self.credit.link_closed(lcb, reason)
        for cid, owner in self.registry.fixed_channels_on(lcb.transport):
            effects.append(Send(owner, L2caFixedChannelInd(handle, cid, lcb.transport, False)))
        self.scheduler.forget_link(lcb)
        return effects

    # -- receiving --------------------------------------------------------------------------------
    def _on_data(self, indication: AclDataInd, now: float) -> Effects:
        lcb = self.links.get(indication.handle)
        if lcb is None:
            self.dropped_pdus += len(indication.pdus)
            logger.warning("l2cap: data for unknown link 0x%04X dropped", indication.handle)
            return []
        effects: Effects = []
        for pdu in indication.pdus:
            try:
                cid, payload = decode_basic_frame(pdu)
            except DecodeError as error:
                self._drop(lcb, f"{error}")
                continue
            credit_ccb = lcb.credit_channels.get(cid)
            if credit_ccb is not None:
                effects += self.credit.on_frame(lcb, credit_ccb, payload, now)
            elif cid >= FIRST_DYNAMIC_CID:
                ccb = lcb.channels.get(cid)
                if ccb is None or ccb.state is not ChannelState.OPEN:
                    self._drop(lcb, f"{len(payload)} B for channel 0x{cid:04X}, which is not open")
                elif ccb.engine is not None:
                    outcome = self.ertm.on_pdu(lcb, ccb, pdu, now)
                    effects += self._engine_outcome(lcb.handle, cid, outcome, now)
                elif len(payload) > ccb.negotiation.mtu:
                    # Vol 3 Part A 5.1: an SDU larger than the MTU we announced is discarded.
                    self._drop(
                        lcb, f"{len(payload)} B beyond MTU {ccb.negotiation.mtu} on 0x{cid:04X}"
                    )
                else:
                    effects.append(Send(ccb.owner, L2caDataInd(lcb.handle, cid, payload)))
            elif cid == lcb.signaling_cid:
                if self._in_wakeup:  # a command may close channels: what was sent goes first
                    effects += self._serve_links()
                effects += self.signaling.on_c_frame(lcb, payload, now)
            else:
                owner = self.registry.fixed.get(cid)
                if owner is not None and lcb.transport in REGISTRABLE_FIXED_CHANNELS[cid]:
                    effects.append(Send(owner, L2caFixedDataInd(lcb.handle, cid, payload)))
                elif cid == FixedCid.CONNECTIONLESS:
                    logger.debug("l2cap 0x%04X: connectionless data dropped", lcb.handle)
                else:
                    self._drop(lcb, f"{len(payload)} B for fixed channel 0x{cid:04X}")
        return effects

    def _drop(self, lcb: Lcb, what: str) -> None:
        self.dropped_pdus += 1
        log = logger.warning if self.dropped_pdus <= 16 else logger.debug
        log("l2cap 0x%04X: dropped %s", lcb.handle, what)

    # -- sending ----------------------------------------------------------------------------------
    def _on_data_request(self, sender: str, request: L2caDataReq, now: float) -> Effects:
        lcb = self.links.get(request.handle)
        ccb = lcb.channels.get(request.cid) if lcb is not None else None
        if lcb is None or ccb is None or ccb.state is not ChannelState.OPEN:
            # The owner hears of the close separately; confirm so its window stays true.
            logger.warning("l2cap: %s for a channel that is not open", request.summary())
            return [Send(sender, L2caDataCnf(request.handle, request.cid, 1))]
        if len(request.sdu) > ccb.negotiation.peer_mtu:
            # The peer could not take it (Vol 3 Part A 5.1) and dropping it would lose what the
            # owner sent without a word: the channel closes and the owner is told why.
            reason = (
                f"an SDU of {len(request.sdu)} octets was sent past the peer's MTU of "
                f"{ccb.negotiation.peer_mtu}"
            )
            return self.signaling.fail_channel(lcb, ccb, reason, now)
        if ccb.engine is not None:
            outcome = self.ertm.send(lcb, ccb, request.sdu, now)
            return self._engine_outcome(lcb.handle, ccb.local_cid, outcome, now)
        pdu = encode_basic_frame(ccb.remote_cid, request.sdu)
        change = self.scheduler.add(lcb, ccb.tx, (pdu,))
        if change is None:
            return []
        return [Send(ccb.owner, L2caCongestionInd(lcb.handle, ccb.local_cid, change))]

    # -- channels in a retransmission mode ----------------------------------------------------
    def _on_sdus_consumed(self, response: L2caDataRsp, now: float) -> Effects:
        ccb = self._engine_channel(response.handle, response.cid)
        if ccb is None:
            return []
        outcome = self.ertm.consumed(self.links[response.handle], ccb, response.count, now)
        return self._engine_outcome(response.handle, response.cid, outcome, now)

    def _engine_channel(self, handle: int, cid: int) -> Ccb | None:
        lcb = self.links.get(handle)
        ccb = lcb.channels.get(cid) if lcb is not None else None
        return ccb if ccb is not None and ccb.engine is not None else None

    def _engine_outcome(self, handle: int, cid: int, outcome: Outcome, now: float) -> Effects:
        """The engine's effects; a channel it failed is disconnected with its reason."""
        effects, failure = outcome
        ccb = self._engine_channel(handle, cid)
        if failure is not None and ccb is not None:
            effects += self.signaling.fail_channel(self.links[handle], ccb, failure, now)
        return effects

    def _on_fixed_data_request(self, sender: str, request: L2caFixedDataReq) -> Effects:
        def refuse(error: str) -> Effects:
            logger.warning("l2cap: %s not sent: %s", request.summary(), error)
            return [Send(sender, L2caFixedDataCnf(request.handle, request.cid, 1, error))]

        lcb = self.links.get(request.handle)
        if lcb is None:
            return refuse(f"no link 0x{request.handle:04X}")
        if self.registry.fixed.get(request.cid) != sender:
            return refuse(f"fixed channel 0x{request.cid:04X} is not registered by {sender}")
        if lcb.transport not in REGISTRABLE_FIXED_CHANNELS[request.cid]:
            return refuse(f"fixed channel 0x{request.cid:04X} does not exist on {lcb.transport}")
        if len(request.payload) > MAX_PAYLOAD:
            return refuse(f"{len(request.payload)} octets do not fit in a B-frame")
        queue = lcb.fixed_queue(request.cid, sender)
        change = self.scheduler.add(lcb, queue, (encode_basic_frame(request.cid, request.payload),))
        if change is None:
            return []
        return [Send(sender, L2caCongestionInd(lcb.handle, request.cid, change))]

    def _on_data_confirmed(self, confirm: AclDataCnf) -> Effects:
        lcb = self.links.get(confirm.handle)
        if lcb is None:
            return []
        effects: Effects = []
        for cid, count in self.scheduler.completed(lcb, confirm.completed).items():
            ccb = lcb.channels.get(cid)
            if ccb is not None and ccb.engine is not None:
                effects += self.ertm.completed(lcb, ccb, count)
            elif ccb is not None:
                effects.append(Send(ccb.owner, L2caDataCnf(lcb.handle, cid, count)))
            elif cid in lcb.fixed_queues:
                fixed = lcb.fixed_queues[cid]
                effects.append(Send(fixed.owner, L2caFixedDataCnf(lcb.handle, cid, count)))
            else:
                effects += self.credit.completed(lcb, cid, count)
        return effects

    # -- registrations ----------------------------------------------------------------------------
    def _register_psm(self, sender: str, request: L2caRegisterPsmReq) -> Effects:
        def answer(error: str | None = None) -> Effects:
            return [
                Send(sender, L2caCnf(request.token, 0 if error is None else LOCAL_REFUSAL, error))
            ]

        if request.transport is not LinkTransport.BR_EDR:
            return answer("LE channels are credit based: register an SPSM with the credit engine")
        if not is_valid_psm(request.psm):
            return answer(f"0x{request.psm:04X} is not a valid PSM")
        if not MIN_BR_EDR_MTU <= request.mtu <= 0xFFFF:
            return answer(f"MTU {request.mtu} is not {MIN_BR_EDR_MTU}..65535")
        if (
            request.mode not in self.signaling.supported_modes
            and request.mode_policy is ModePolicy.REQUIRE
        ):
            return answer(f"{request.mode.name} mode is not available in this stack")
        key = (request.transport, request.psm)
        if key in self.registry.psms:
            return answer(f"PSM 0x{request.psm:04X} is already registered")
        self.registry.psms[key] = PsmRegistration(
            sender, request.psm, request.transport, request.security, request.mtu,
            request.mode, request.mode_policy,
        )  # fmt: skip
        return answer()

    def _deregister_psm(self, sender: str, request: L2caDeregisterPsmReq) -> Effects:
        self.registry.psms.pop((request.transport, request.psm), None)
        return [Send(sender, L2caCnf(request.token))]

    def _register_fixed(self, sender: str, request: L2caRegisterFixedChannelReq) -> Effects:
        transports = REGISTRABLE_FIXED_CHANNELS.get(request.cid)
        if transports is None:
            error = f"0x{request.cid:04X} is not a fixed channel an upper layer registers"
            return [Send(sender, L2caCnf(request.token, LOCAL_REFUSAL, error))]
        if self.registry.fixed.get(request.cid, sender) != sender:
            error = f"fixed channel 0x{request.cid:04X} is registered by another layer"
            return [Send(sender, L2caCnf(request.token, LOCAL_REFUSAL, error))]
        self.registry.fixed[request.cid] = sender
        for lcb in self.links.values():  # PDUs still queued are confirmed to the new owner
            if request.cid in lcb.fixed_queues:
                lcb.fixed_queues[request.cid].owner = sender
        effects: Effects = [Send(sender, L2caCnf(request.token))]
        for lcb in self.links.values():
            if lcb.transport in transports:
                effects.append(
                    Send(sender, L2caFixedChannelInd(lcb.handle, request.cid, lcb.transport, True))
                )
        return effects

    def _deregister_fixed(self, sender: str, request: L2caDeregisterFixedChannelReq) -> Effects:
        if self.registry.fixed.get(request.cid) == sender:
            del self.registry.fixed[request.cid]
        return [Send(sender, L2caCnf(request.token))]
