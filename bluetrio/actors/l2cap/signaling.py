"""The signaling procedures of BR/EDR and LE links (Core 5.4 Vol 3 Part A 4, 6, 7).

Commands arrive in C-frames on the signaling channel of a link (0x0001 on BR/EDR, 0x0005 on
LE). Requests are answered with the identifier they came with; responses are taken only when
their identifier and code match a request of ours still pending (otherwise silently
discarded, 4), and each request of ours runs the RTX timer, or the ERTX timer once the peer
answered "pending" (6.2.1, 6.2.2); an expired RTX sends the request again, within the 60 s
the procedure may last, and a request of the peer's received again is answered again. A
command the channel does not carry, an unknown code, a bad length or a C-frame past our
signaling MTU is answered with a Command Reject (4.1); a request naming a channel we do not
have, with a Command Reject "invalid CID".
"""

from __future__ import annotations

import itertools
import logging
import struct
from collections.abc import Callable
from typing import Any

from bluetrio.actors.effects import CancelTimer, Effects, Emit, Send, StartTimer, TimerKey
from bluetrio.actors.l2cap.channels import MAX_CHANNELS_PER_LINK, Ccb
from bluetrio.actors.l2cap.config import SUPPORTED_MODES, Negotiation
from bluetrio.actors.l2cap.ertm_channels import RetransmissionChannels
from bluetrio.actors.l2cap.ertm_config import (
    ENGINE_FEATURES,
    ENGINE_MODES,
    RetransmissionSettings,
)
from bluetrio.actors.l2cap.links import Lcb, PendingRequest, RequestTimer
from bluetrio.actors.l2cap.registry import Registry
from bluetrio.actors.l2cap.scheduler import Scheduler
from bluetrio.actors.l2cap.states import (
    CONFIG_STATES,
    CONNECTED_STATES,
    TRANSITIONS,
    ChannelEvent,
    ChannelState,
)
from bluetrio.actors.state_machine import allowed
from bluetrio.errors import DecodeError
from bluetrio.messages.btm import BtmCnf, ConnectionUpdateReq, LeConnectionParameters, Role
from bluetrio.messages.btm_security import LinkSecurityCnf, LinkSecurityReq
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap import (
    BR_EDR_CODES,
    COMMAND_HEADER_SIZE,
    CONTINUATION_FLAG,
    FIRST_DYNAMIC_CID,
    LE_CODES,
    MIN_BR_EDR_MTU,
    RESPONSE_CODES,
    ChannelMode,
    CommandReject,
    ConfigurationRequest,
    ConfigurationResponse,
    ConnectionParameterUpdateRequest,
    ConnectionParameterUpdateResponse,
    ConnectionParameterUpdateResult,
    ConnectionRequest,
    ConnectionResponse,
    ConnectionResult,
    ConnectionStatus,
    DisconnectionRequest,
    DisconnectionResponse,
    EchoRequest,
    EchoResponse,
    ExtendedFeature,
    InformationRequest,
    InformationResponse,
    InformationResult,
    InformationType,
    RawCommand,
    RejectReason,
    SignalingCode,
    SignalingCommand,
    encode_basic_frame,
    is_valid_psm,
    split_commands,
)
from bluetrio.messages.l2cap_service import (
    LOCAL_REFUSAL,
    L2caCnf,
    L2caConfigInd,
    L2caConnectCnf,
    L2caConnectInd,
    L2caConnectionParameterUpdateReq,
    L2caConnectReq,
    L2caConnectRsp,
    L2caDisconnectInd,
    L2caDisconnectReq,
    L2caEchoCnf,
    L2caEchoReq,
    L2caInfoCnf,
    L2caInfoReq,
    ModePolicy,
)

logger = logging.getLogger(__name__)

# Vol 3 Part A 6.2.1: the initial RTX is 1-60 s; when it expires the request may be sent
# again (same identifier) with at least twice the timeout, and no more than 60 s may pass
# from the first sending to giving up. Ours: 10 s, then 20 s, then the procedure fails (a
# third sending would wait 40 s more, past the 60 s).
RTX_TIMEOUT = 10.0
MAX_RTX_TOTAL = 60.0
# Vol 3 Part A 6.2.2: ERTX, 60-300 s, replaces RTX once the peer answered "pending"; when it
# expires the procedure fails (the spec allows sending again; the peer said it was working
# on the request, so a duplicate would only restart its wait).
ERTX_TIMEOUT = 60.0
# The C-frames we accept (our MTUsig; Vol 3 Part A 4: at least 48 on BR/EDR, 23 on LE).
OUR_SIGNALING_MTU = 672
RTX = "rtx"

Handler = Callable[[Lcb, int, Any, float], Effects]


def _two_cids(first: int, second: int) -> bytes:
    return struct.pack("<HH", first, second)


class Signaling:
    """The signaling entity of every link, sharing the core's control blocks."""

    def __init__(self, links: dict[int, Lcb], registry: Registry, scheduler: Scheduler) -> None:
        self.links = links
        self.registry = registry
        self.scheduler = scheduler
        # The modes channels are opened in (basic, and those the retransmission engine runs).
        self.supported_modes: frozenset[ChannelMode] = SUPPORTED_MODES
        # Our choices for channels in a retransmission mode (None: ertm_config's defaults).
        self.retransmission_settings: RetransmissionSettings | None = None
        self._tokens = itertools.count(1)
        # Our LinkSecurityReq tokens: (handle, our CID) of the channel waiting on each.
        self.security_waits: dict[int, tuple[int, int]] = {}
        self.update_waits: dict[int, int] = {}  # ConnectionUpdateReq token -> handle
        # What a central accepts of a peripheral's Connection Parameter Update Request (4.20):
        # the spec's ranges unless the device's policy is narrower.
        self.parameters_acceptable: Callable[[ConnectionParameterUpdateRequest], bool] = (
            acceptable_parameters
        )
        # Requests whose malformed data has an answer of its own rather than a Command Reject
        # (a Credit Based Connection Request, 4.26), by code.
        self.malformed: dict[int, Callable[[Lcb, int, bytes], Effects]] = {}
        # Commands by class; the credit-based engine adds its own (4.22-4.28).
        self.handlers: dict[type[SignalingCommand], Handler] = {
            CommandReject: self._on_command_reject,
            ConnectionRequest: self._on_connection_request,
            ConnectionResponse: self._on_connection_response,
            ConfigurationRequest: self._on_configuration_request,
            ConfigurationResponse: self._on_configuration_response,
            DisconnectionRequest: self._on_disconnection_request,
            DisconnectionResponse: self._on_disconnection_response,
            EchoRequest: self._on_echo_request,
            EchoResponse: self._on_echo_response,
            InformationRequest: self._on_information_request,
            InformationResponse: self._on_information_response,
            ConnectionParameterUpdateRequest: self._on_parameter_update_request,
            ConnectionParameterUpdateResponse: self._on_parameter_update_response,
        }

    # -- sending -------------------------------------------------------------------------------
    def send(self, lcb: Lcb, identifier: int, command: SignalingCommand) -> None:
        """Queue one command, alone in its C-frame, ahead of channel data."""
        frame = command.to_bytes(identifier)
        self.scheduler.add_signal(lcb, encode_basic_frame(lcb.signaling_cid, frame))

    def request(
        self,
        lcb: Lcb,
        command: SignalingCommand,
        now: float,
        *,
        cid: int | None = None,
        requester: tuple[str, int] | None = None,
    ) -> Effects | None:
        """Send a request of ours with a fresh identifier and its RTX timer; None when all
        identifiers are taken by pending requests."""
        sent = self.start_request(lcb, command, now, cid=cid, requester=requester)
        return None if sent is None else sent[1]

    def start_request(
        self,
        lcb: Lcb,
        command: SignalingCommand,
        now: float,
        *,
        cid: int | None = None,
        requester: tuple[str, int] | None = None,
    ) -> tuple[int, Effects] | None:
        """:meth:`request`, also giving the identifier the request took."""
        identifier = lcb.next_identifier()
        if identifier is None:
            return None
        frame = encode_basic_frame(lcb.signaling_cid, command.to_bytes(identifier))
        lcb.pending[identifier] = PendingRequest(
            identifier, SignalingCode(command.CODE), cid, requester,
            frame=frame, first_sent=now, timeout=RTX_TIMEOUT,
        )  # fmt: skip
        self.scheduler.add_signal(lcb, frame)
        return identifier, [StartTimer(self._timer(lcb, identifier), now + RTX_TIMEOUT)]

    def _timer(self, lcb: Lcb, identifier: int) -> TimerKey:
        return TimerKey(RequestTimer(lcb.handle, identifier), RTX)

    def extend(self, lcb: Lcb, identifier: int, now: float) -> Effects:
        """The peer answered a request of ours "pending": ERTX replaces its RTX (6.2.2)."""
        pending = lcb.pending.get(identifier)
        if pending is None:
            return []
        pending.extended = True
        pending.timeout = ERTX_TIMEOUT
        return [StartTimer(self._timer(lcb, identifier), now + ERTX_TIMEOUT)]

    def rearm(self, lcb: Lcb, identifier: int, now: float) -> Effects:
        """The peer answered part of a request of ours and more follows (a Configuration
        Response with the continuation flag, 4.5): the rest is awaited under a fresh RTX,
        not ERTX, since nothing is pending at the peer."""
        pending = lcb.pending.get(identifier)
        if pending is None:
            return []
        pending.extended = False
        pending.first_sent = now
        pending.timeout = RTX_TIMEOUT
        return [StartTimer(self._timer(lcb, identifier), now + RTX_TIMEOUT)]

    def retransmit(self, owner: RequestTimer, now: float) -> Effects | None:
        """The RTX timer of a request of ours expired: send it again with the same
        identifier and twice the timeout (6.2.1), or None when the procedure has run out of
        time (an expired ERTX, the 60 s bound, or a channel that is gone)."""
        lcb = self.links.get(owner.handle)
        pending = lcb.pending.get(owner.identifier) if lcb is not None else None
        if lcb is None or pending is None or pending.extended or not pending.frame:
            return None
        if pending.cid is not None and pending.cid not in lcb.used_cids():
            return None
        doubled = pending.timeout * 2
        if now + doubled - pending.first_sent > MAX_RTX_TOTAL:
            return None
        pending.timeout = doubled
        logger.info(
            "l2cap 0x%04X: no response to %s (identifier %d): sent again, waiting %g s",
            lcb.handle, pending.code.name, pending.identifier, doubled,
        )  # fmt: skip
        self.scheduler.add_signal(lcb, pending.frame)
        return [StartTimer(self._timer(lcb, owner.identifier), now + doubled)]

    def _settle(self, lcb: Lcb, identifier: int, code: SignalingCode) -> PendingRequest | None:
        """The pending request a response answers (same identifier and matching request
        code), removed with its timer; None for a response nobody asked for."""
        pending = lcb.pending.get(identifier)
        if pending is None or pending.code is not code:
            logger.debug("l2cap 0x%04X: unmatched response, identifier %d", lcb.handle, identifier)
            return None
        del lcb.pending[identifier]
        return pending

    def _settled(self, lcb: Lcb, pending: PendingRequest) -> Effects:
        return [CancelTimer(self._timer(lcb, pending.identifier))]

    def _reject(
        self, lcb: Lcb, identifier: int, reason: RejectReason, data: bytes = b""
    ) -> Effects:
        self.send(lcb, identifier, CommandReject(reason, data))
        return []

    # -- receiving -----------------------------------------------------------------------------
    def on_c_frame(self, lcb: Lcb, payload: bytes, now: float) -> Effects:
        split = split_commands(payload)
        if len(payload) > OUR_SIGNALING_MTU:
            first = split.commands[0].identifier if split.commands else 0
            mtu = struct.pack("<H", OUR_SIGNALING_MTU)
            return self._reject(lcb, first or 1, RejectReason.SIGNALING_MTU_EXCEEDED, mtu)
        effects: Effects = []
        for raw in split.commands:
            effects += self._on_command(lcb, raw, now)
        if split.problem is not None:
            logger.warning("l2cap 0x%04X: malformed C-frame: %s", lcb.handle, split.problem)
            truncated = split.truncated
            if truncated is not None and truncated.code not in RESPONSE_CODES:
                effects += self._reject(
                    lcb, truncated.identifier, RejectReason.COMMAND_NOT_UNDERSTOOD
                )
        return effects

    def _on_command(self, lcb: Lcb, raw: RawCommand, now: float) -> Effects:
        codes = LE_CODES if lcb.transport is LinkTransport.LE else BR_EDR_CODES
        if raw.code == SignalingCode.COMMAND_REJECT and raw.code in codes:
            pass  # decoded below; never answered with another reject
        elif raw.code not in codes or not raw.known:
            if raw.code in RESPONSE_CODES:
                return []
            return self._reject(lcb, raw.identifier, RejectReason.COMMAND_NOT_UNDERSTOOD)
        if raw.identifier == 0:  # Vol 3 Part A 4: 0x00 is never a valid identifier
            logger.warning("l2cap 0x%04X: command 0x%02X with identifier 0", lcb.handle, raw.code)
            return []
        try:
            command = raw.decode()
        except DecodeError as error:
            logger.warning("l2cap 0x%04X: %s", lcb.handle, error)
            malformed = self.malformed.get(raw.code)
            if malformed is not None:
                return malformed(lcb, raw.identifier, raw.data)
            if raw.code in RESPONSE_CODES:
                return []
            return self._reject(lcb, raw.identifier, RejectReason.COMMAND_NOT_UNDERSTOOD)
        handler = self.handlers.get(type(command))
        if handler is None:
            if raw.code in RESPONSE_CODES:
                return []
            return self._reject(lcb, raw.identifier, RejectReason.COMMAND_NOT_UNDERSTOOD)
        return handler(lcb, raw.identifier, command, now)

    # -- channel establishment (4.2, 4.3) -------------------------------------------------------
    def connect(self, sender: str, request: L2caConnectReq, now: float) -> Effects:
        def refuse(error: str, result: int = LOCAL_REFUSAL) -> Effects:
            cnf = L2caConnectCnf(request.token, request.handle, result=result, error=error)
            return [Send(sender, cnf)]

        lcb = self.links.get(request.handle)
        if lcb is None:
            return refuse(f"no link 0x{request.handle:04X}")
        if lcb.transport is not LinkTransport.BR_EDR:
            return refuse("LE links carry credit based channels, not BR/EDR PSMs")
        if not is_valid_psm(request.psm):
            return refuse(f"0x{request.psm:04X} is not a valid PSM")
        if not MIN_BR_EDR_MTU <= request.mtu <= 0xFFFF:
            return refuse(f"MTU {request.mtu} is not {MIN_BR_EDR_MTU}..65535")
        cid = lcb.cids.allocate(lcb.used_cids())
        if cid is None or len(lcb.channels) >= MAX_CHANNELS_PER_LINK:
            return refuse("no channel identifiers left on this link", ConnectionResult.NO_RESOURCES)
        negotiation = self._negotiation(request.mtu, request.mode, request.mode_policy)
        problem = negotiation.mode_problem()
        if problem is not None:
            return refuse(problem)
        ccb = Ccb(lcb.handle, cid, request.psm, sender, negotiation, initiator=True)
        ccb.token = request.token
        ccb.security = request.security
        lcb.channels[cid] = ccb
        ccb.move(ChannelEvent.OPEN_REQUESTED)
        if request.security is not None and request.security.needs_security:
            return self._ask_security(lcb, ccb, request.security)
        ccb.move(ChannelEvent.SECURITY_GRANTED)
        return self._send_connection_request(lcb, ccb, now)

    @property
    def extended_features(self) -> int:
        """What our Information Response announces (4.12): fixed channels, enhanced
        credit-based channels (which BR/EDR links carry too, 4.25), and the retransmission
        engine's modes and options when those modes are supported."""
        features = (
            ExtendedFeature.FIXED_CHANNELS | ExtendedFeature.ENHANCED_CREDIT_BASED_FLOW_CONTROL
        )
        if self.supported_modes & ENGINE_MODES.keys():
            features |= ENGINE_FEATURES
        return int(features)

    def _negotiation(self, mtu: int, mode: ChannelMode, policy: ModePolicy) -> Negotiation:
        settings = self.retransmission_settings if mode in ENGINE_MODES else None
        return Negotiation(mtu, mode, policy, self.supported_modes, settings)

    def _ask_security(self, lcb: Lcb, ccb: Ccb, requirement: Any) -> Effects:
        token = next(self._tokens)
        ccb.security_token = token
        self.security_waits[token] = (lcb.handle, ccb.local_cid)
        return [Emit(LinkSecurityReq(token, lcb.handle, requirement))]

    def _send_connection_request(self, lcb: Lcb, ccb: Ccb, now: float) -> Effects:
        sent = self.request(lcb, ConnectionRequest(ccb.psm, ccb.local_cid), now, cid=ccb.local_cid)
        if sent is None:
            return self._fail_opening(lcb, ccb, "too many signaling requests pending")
        return sent

    def on_security(self, confirm: LinkSecurityCnf, now: float) -> Effects:
        where = self.security_waits.pop(confirm.token, None)
        if where is None:
            return []
        lcb = self.links.get(where[0])
        ccb = lcb.channels.get(where[1]) if lcb is not None else None
        if lcb is None or ccb is None or ccb.security_token != confirm.token:
            return []
        ccb.security_token = None
        granted = confirm.status == 0
        if not granted:
            ccb.move(ChannelEvent.SECURITY_DENIED)
            reason = confirm.error or f"security refused (HCI status 0x{confirm.status:02X})"
            if ccb.initiator:
                return self._fail_opening(lcb, ccb, reason, ConnectionResult.SECURITY_BLOCK)
            self.send(
                lcb,
                ccb.connect_identifier,
                self._connection_response(ccb, ConnectionResult.SECURITY_BLOCK),
            )
            return self.release(lcb, ccb)
        ccb.move(ChannelEvent.SECURITY_GRANTED)
        if ccb.initiator:
            return self._send_connection_request(lcb, ccb, now)
        return [Send(ccb.owner, L2caConnectInd(lcb.handle, ccb.local_cid, ccb.psm, lcb.transport))]

    @staticmethod
    def _connection_response(
        ccb: Ccb, result: int, status: int = ConnectionStatus.NO_FURTHER_INFORMATION
    ) -> ConnectionResponse:
        ours = (
            ccb.local_cid if result in (ConnectionResult.SUCCESS, ConnectionResult.PENDING) else 0
        )
        return ConnectionResponse(ours, ccb.remote_cid, result, status)

    def _on_connection_request(
        self, lcb: Lcb, identifier: int, request: ConnectionRequest, now: float
    ) -> Effects:
        def answer(result: ConnectionResult) -> Effects:
            self.send(lcb, identifier, ConnectionResponse(0, request.source_cid, result, 0))
            return []

        registration = self.registry.psms.get((LinkTransport.BR_EDR, request.psm))
        if registration is None:
            return answer(ConnectionResult.PSM_NOT_SUPPORTED)
        if request.source_cid < FIRST_DYNAMIC_CID:
            return answer(ConnectionResult.INVALID_SOURCE_CID)
        known = lcb.channel_by_remote(request.source_cid)
        if known is not None and not known.initiator and known.connect_identifier == identifier:
            return self._repeat_connection_response(lcb, known)
        if known is not None:
            return answer(ConnectionResult.SOURCE_CID_ALREADY_ALLOCATED)
        cid = lcb.cids.allocate(lcb.used_cids())
        if cid is None or len(lcb.channels) >= MAX_CHANNELS_PER_LINK:
            return answer(ConnectionResult.NO_RESOURCES)
        negotiation = self._negotiation(
            registration.mtu, registration.mode, registration.mode_policy
        )
        if negotiation.mode_problem() is not None:
            return answer(ConnectionResult.NO_RESOURCES)
        ccb = Ccb(lcb.handle, cid, request.psm, registration.owner, negotiation, initiator=False)
        ccb.remote_cid = request.source_cid
        ccb.connect_identifier = identifier
        ccb.security = registration.security
        lcb.channels[cid] = ccb
        ccb.move(ChannelEvent.CONNECT_REQUEST_RECEIVED)
        if registration.security is not None and registration.security.needs_security:
            pending = self._connection_response(
                ccb, ConnectionResult.PENDING, ConnectionStatus.AUTHENTICATION_PENDING
            )
            self.send(lcb, identifier, pending)
            return self._ask_security(lcb, ccb, registration.security)
        ccb.move(ChannelEvent.SECURITY_GRANTED)
        return [Send(ccb.owner, L2caConnectInd(lcb.handle, cid, request.psm, lcb.transport))]

    def _repeat_connection_response(self, lcb: Lcb, ccb: Ccb) -> Effects:
        """The peer sent its Connection Request again, same identifier, after its RTX ran out
        (6.2.1: a duplicate is processed as the original): it gets our answer again, pending
        while we still wait on security or the upper layer."""
        waiting = ccb.state in (ChannelState.WAIT_INCOMING_SECURITY, ChannelState.WAIT_CONNECT)
        if waiting:
            status = (
                ConnectionStatus.AUTHENTICATION_PENDING
                if ccb.state is ChannelState.WAIT_INCOMING_SECURITY
                else ConnectionStatus.NO_FURTHER_INFORMATION
            )
            response = self._connection_response(ccb, ConnectionResult.PENDING, status)
        elif ccb.state in CONNECTED_STATES:
            response = self._connection_response(ccb, ConnectionResult.SUCCESS)
        else:
            return []  # being disconnected: the Disconnection Request says the rest
        self.send(lcb, ccb.connect_identifier, response)
        return []

    def on_upper_response(self, response: L2caConnectRsp, now: float) -> Effects:
        lcb = self.links.get(response.handle)
        ccb = lcb.channels.get(response.cid) if lcb is not None else None
        if lcb is None or ccb is None or ccb.state is not ChannelState.WAIT_CONNECT:
            return []
        if response.result != ConnectionResult.SUCCESS:
            result = (
                response.result
                if response.result in ConnectionResult._value2member_map_
                else ConnectionResult.NO_RESOURCES
            )
            ccb.move(ChannelEvent.UPPER_REFUSED)
            self.send(lcb, ccb.connect_identifier, self._connection_response(ccb, result))
            return self.release(lcb, ccb)
        ccb.move(ChannelEvent.UPPER_ACCEPTED)
        self.send(
            lcb, ccb.connect_identifier, self._connection_response(ccb, ConnectionResult.SUCCESS)
        )
        return self._send_configuration(lcb, ccb, now, first=True)

    def _on_connection_response(
        self, lcb: Lcb, identifier: int, response: ConnectionResponse, now: float
    ) -> Effects:
        pending = lcb.pending.get(identifier)
        if pending is None or pending.code is not SignalingCode.CONNECTION_REQUEST:
            return []
        ccb = lcb.channels.get(pending.cid) if pending.cid is not None else None
        if response.result == ConnectionResult.PENDING:
            if ccb is not None and ccb.state is ChannelState.WAIT_CONNECT_RSP:
                ccb.move(ChannelEvent.CONNECT_PENDING)
            return self.extend(lcb, identifier, now)
        del lcb.pending[identifier]
        effects = self._settled(lcb, pending)
        if ccb is None:
            # The channel was abandoned while we waited: close what the peer opened.
            if response.result == ConnectionResult.SUCCESS and pending.cid is not None:
                close = DisconnectionRequest(response.destination_cid, pending.cid)
                effects += self.request(lcb, close, now) or []
            return effects
        if ccb.state is not ChannelState.WAIT_CONNECT_RSP:
            return effects
        if response.result != ConnectionResult.SUCCESS:
            ccb.move(ChannelEvent.CONNECT_REFUSED)
            return effects + self._fail_opening(
                lcb,
                ccb,
                f"the peer refused the channel (result 0x{response.result:04X})",
                response.result,
            )
        if response.destination_cid < FIRST_DYNAMIC_CID or lcb.channel_by_remote(
            response.destination_cid
        ):
            ccb.move(ChannelEvent.CONNECT_REFUSED)
            return effects + self._fail_opening(
                lcb, ccb, f"the peer answered with invalid CID 0x{response.destination_cid:04X}"
            )
        ccb.remote_cid = response.destination_cid
        ccb.move(ChannelEvent.CONNECT_SUCCEEDED)
        return effects + self._send_configuration(lcb, ccb, now, first=True)

    def _fail_opening(self, lcb: Lcb, ccb: Ccb, error: str, result: int = LOCAL_REFUSAL) -> Effects:
        """An outgoing channel could not be opened: tell the requester, forget the CCB."""
        effects: Effects = []
        if ccb.token is not None and not ccb.notified:
            ccb.notified = True
            effects.append(
                Send(
                    ccb.owner,
                    L2caConnectCnf(ccb.token, lcb.handle, ccb.local_cid, result, error=error),
                )
            )
        return effects + self.release(lcb, ccb)

    # -- configuration (4.4, 4.5) -----------------------------------------------------------------
    def _send_configuration(self, lcb: Lcb, ccb: Ccb, now: float, *, first: bool) -> Effects:
        negotiation = ccb.negotiation
        if negotiation.needs_peer_features:
            # A retransmission mode is asked for only of a peer that has it (5.4).
            if lcb.peer_features is None:
                return self._discover_features(lcb, ccb, now)
            problem = negotiation.peer_features_known(lcb.peer_features)
            if problem is not None:
                return self._fail_channel(lcb, ccb, problem, now)
        request = ConfigurationRequest(ccb.remote_cid, 0, ccb.negotiation.our_request())
        sent = self.request(lcb, request, now, cid=ccb.local_cid)
        if sent is None:
            return self._fail_channel(lcb, ccb, "too many signaling requests pending", now)
        ccb.move(ChannelEvent.CONFIG_REQ_SENT if first else ChannelEvent.OUR_CONFIG_RETRIED)
        return sent

    def _discover_features(self, lcb: Lcb, ccb: Ccb, now: float) -> Effects:
        """Ask the peer's extended features once per link (4.10); the channel's request
        waits for the answer (or the RTX timer, after which the peer counts as basic only)."""
        asked = bool(lcb.features_waiting)
        lcb.features_waiting.append(ccb.local_cid)
        if asked:
            return []
        command = InformationRequest(InformationType.EXTENDED_FEATURES)
        sent = self.request(lcb, command, now)
        if sent is None:
            lcb.features_waiting.clear()
            return self._fail_channel(lcb, ccb, "too many signaling requests pending", now)
        return sent

    def _features_answered(self, lcb: Lcb, features: int, now: float) -> Effects:
        lcb.peer_features = features
        waiting, lcb.features_waiting = lcb.features_waiting, []
        effects: Effects = []
        for cid in waiting:
            ccb = lcb.channels.get(cid)
            if ccb is not None and ccb.state in (
                ChannelState.WAIT_CONFIG,
                ChannelState.WAIT_SEND_CONFIG,
            ):
                effects += self._send_configuration(lcb, ccb, now, first=True)
        return effects

    def _on_configuration_request(
        self, lcb: Lcb, identifier: int, request: ConfigurationRequest, now: float
    ) -> Effects:
        ccb = lcb.channels.get(request.destination_cid)
        if ccb is None or ccb.state not in CONFIG_STATES | {ChannelState.OPEN}:
            data = _two_cids(request.destination_cid, 0 if ccb is None else ccb.remote_cid)
            return self._reject(lcb, identifier, RejectReason.INVALID_CID, data)
        negotiation = ccb.negotiation
        octets = len(ConfigurationRequest(0, 0, request.options).encode_fields()) - 4
        try:
            complete = negotiation.collect(request.flags, request.options, octets)
        except ValueError as error:
            return self._fail_channel(lcb, ccb, str(error), now)
        if not complete:
            self.send(lcb, identifier, ConfigurationResponse(ccb.remote_cid, 1, 0))
            return []
        was_open = ccb.state is ChannelState.OPEN
        verdict = negotiation.on_peer_request()
        self.send(
            lcb,
            identifier,
            ConfigurationResponse(ccb.remote_cid, 0, verdict.result, verdict.options),
        )
        if not verdict.accepted:
            ccb.move(ChannelEvent.PEER_CONFIG_REFUSED)
            if negotiation.peer_gave_up:
                return self._fail_channel(
                    lcb, ccb, "the peer's configuration did not converge", now
                )
            return []
        ccb.move(ChannelEvent.PEER_CONFIG_ACCEPTED)
        if ccb.state is ChannelState.OPEN and not was_open:
            return self._opened(lcb, ccb, now)
        return []

    def _on_configuration_response(
        self, lcb: Lcb, identifier: int, response: ConfigurationResponse, now: float
    ) -> Effects:
        pending = self._settle(lcb, identifier, SignalingCode.CONFIGURATION_REQUEST)
        if pending is None:
            return []
        effects = self._settled(lcb, pending)
        ccb = lcb.channels.get(pending.cid) if pending.cid is not None else None
        if ccb is None or ccb.state not in CONFIG_STATES:
            return effects
        verdict = ccb.negotiation.on_our_response(response.result, response.flags, response.options)
        if verdict.pending:
            lcb.pending[identifier] = pending
            if response.flags & CONTINUATION_FLAG:
                return self.rearm(lcb, identifier, now)
            return self.extend(lcb, identifier, now)  # result "pending" (4.5)
        if verdict.failure is not None:
            return effects + self._fail_channel(lcb, ccb, verdict.failure, now)
        if verdict.retry is not None:
            request = ConfigurationRequest(ccb.remote_cid, 0, verdict.retry)
            sent = self.request(lcb, request, now, cid=ccb.local_cid)
            if sent is None:
                return effects + self._fail_channel(lcb, ccb, "too many requests pending", now)
            ccb.move(ChannelEvent.OUR_CONFIG_RETRIED)
            return effects + sent
        ccb.move(ChannelEvent.OUR_CONFIG_ACCEPTED)
        if ccb.state is ChannelState.OPEN:
            return effects + self._opened(lcb, ccb, now)
        return effects

    def _opened(self, lcb: Lcb, ccb: Ccb, now: float) -> Effects:
        problem = ccb.negotiation.mode_mismatch or RetransmissionChannels.start(ccb)
        if problem is not None:
            return self._fail_channel(lcb, ccb, problem, now)
        parameters = ccb.negotiation.parameters()
        if ccb.initiator and ccb.token is not None:
            token, ccb.token = ccb.token, None
            cnf = L2caConnectCnf(token, lcb.handle, ccb.local_cid, 0, parameters)
            return [Send(ccb.owner, cnf)]
        return [Send(ccb.owner, L2caConfigInd(lcb.handle, ccb.local_cid, ccb.psm, parameters))]

    def fail_channel(self, lcb: Lcb, ccb: Ccb, reason: str, now: float) -> Effects:
        """A channel whose data path failed (a retransmission engine's ChannelFailed) is
        disconnected, and its owner told why."""
        return self._fail_channel(lcb, ccb, reason, now)

    def _fail_channel(self, lcb: Lcb, ccb: Ccb, reason: str, now: float) -> Effects:
        """A channel whose configuration failed is disconnected (Vol 3 Part A 7.1.3)."""
        logger.warning("l2cap 0x%04X/0x%04X: %s", lcb.handle, ccb.local_cid, reason)
        effects = self._notify_closed(lcb, ccb, reason)
        if allowed(TRANSITIONS, ccb.state, ChannelEvent.CONFIG_FAILED):
            ccb.move(ChannelEvent.CONFIG_FAILED)
        elif allowed(TRANSITIONS, ccb.state, ChannelEvent.DISCONNECT_REQUESTED):
            ccb.move(ChannelEvent.DISCONNECT_REQUESTED)
        else:
            return effects + self.release(lcb, ccb)
        return effects + self._send_disconnection(lcb, ccb, now)

    def _notify_closed(
        self, lcb: Lcb, ccb: Ccb, reason: str, *, link_lost: bool = False
    ) -> Effects:
        """Tell the owner, once, that the channel failed or closed."""
        if ccb.notified:
            return []
        ccb.notified = True
        if ccb.token is not None:
            token, ccb.token = ccb.token, None
            cnf = L2caConnectCnf(token, lcb.handle, ccb.local_cid, LOCAL_REFUSAL, error=reason)
            return [Send(ccb.owner, cnf)]
        if ccb.state is ChannelState.WAIT_INCOMING_SECURITY:
            return []  # the owner never heard of it
        return [Send(ccb.owner, L2caDisconnectInd(lcb.handle, ccb.local_cid, reason, link_lost))]

    # -- disconnection (4.6, 4.7) ---------------------------------------------------------------
    def disconnect(self, sender: str, request: L2caDisconnectReq, now: float) -> Effects:
        done: Effects = [Send(sender, L2caCnf(request.token))]
        lcb = self.links.get(request.handle)
        ccb = lcb.channels.get(request.cid) if lcb is not None else None
        if lcb is None or ccb is None:
            return done
        if ccb.state is ChannelState.WAIT_DISCONNECT:
            ccb.disconnect_waiters.append((sender, request.token))
            return []
        if ccb.state in CONNECTED_STATES:
            ccb.notified = True
            ccb.token = None
            ccb.move(ChannelEvent.DISCONNECT_REQUESTED)
            ccb.disconnect_waiters.append((sender, request.token))
            return self._send_disconnection(lcb, ccb, now)
        # Not connected on the air yet: refuse what the peer asked, forget what we asked (a
        # Connection Response that still comes is answered with a disconnection).
        ccb.notified = True
        if ccb.state is ChannelState.WAIT_CONNECT:
            self.send(
                lcb,
                ccb.connect_identifier,
                self._connection_response(ccb, ConnectionResult.NO_RESOURCES),
            )
        return done + self.release(lcb, ccb)

    def _send_disconnection(self, lcb: Lcb, ccb: Ccb, now: float) -> Effects:
        request = DisconnectionRequest(ccb.remote_cid, ccb.local_cid)
        stopped = RetransmissionChannels.stop(lcb, ccb)
        sent = self.request(lcb, request, now, cid=ccb.local_cid)
        if sent is None:
            return stopped + self._closed(lcb, ccb)
        self.scheduler.forget_queue(lcb, ccb.tx)
        return stopped + sent

    def _closed(self, lcb: Lcb, ccb: Ccb) -> Effects:
        effects: Effects = [Send(s, L2caCnf(t)) for s, t in ccb.disconnect_waiters]
        ccb.disconnect_waiters.clear()
        return effects + self.release(lcb, ccb)

    def _on_disconnection_request(
        self, lcb: Lcb, identifier: int, request: DisconnectionRequest, now: float
    ) -> Effects:
        ccb = lcb.channels.get(request.destination_cid)
        if ccb is None:
            data = _two_cids(request.destination_cid, request.source_cid)
            return self._reject(lcb, identifier, RejectReason.INVALID_CID, data)
        if ccb.remote_cid != request.source_cid or not allowed(
            TRANSITIONS, ccb.state, ChannelEvent.DISCONNECT_REQUEST_RECEIVED
        ):
            return []  # 4.6: a source CID that does not match is silently discarded
        self.send(
            lcb, identifier, DisconnectionResponse(request.destination_cid, request.source_cid)
        )
        effects = self._notify_closed(lcb, ccb, "the peer closed the channel")
        ccb.move(ChannelEvent.DISCONNECT_REQUEST_RECEIVED)
        return effects + self._closed(lcb, ccb)

    def _on_disconnection_response(
        self, lcb: Lcb, identifier: int, response: DisconnectionResponse, now: float
    ) -> Effects:
        pending = self._settle(lcb, identifier, SignalingCode.DISCONNECTION_REQUEST)
        if pending is None:
            return []
        effects = self._settled(lcb, pending)
        ccb = lcb.channels.get(pending.cid) if pending.cid is not None else None
        if ccb is None or ccb.state is not ChannelState.WAIT_DISCONNECT:
            return effects
        ccb.move(ChannelEvent.DISCONNECT_RESPONSE_RECEIVED)
        return effects + self._closed(lcb, ccb)

    # -- echo and information (4.8-4.12) ---------------------------------------------------------
    def echo(self, sender: str, request: L2caEchoReq, now: float) -> Effects:
        def fail(error: str) -> Effects:
            return [Send(sender, L2caEchoCnf(request.token, request.handle, error=error))]

        lcb = self.links.get(request.handle)
        if lcb is None or lcb.transport is not LinkTransport.BR_EDR:
            return fail(f"no BR/EDR link 0x{request.handle:04X}")
        if COMMAND_HEADER_SIZE + len(request.data) > lcb.signaling_mtu:
            return fail(f"echo data beyond {lcb.signaling_mtu - COMMAND_HEADER_SIZE} octets")
        sent = self.request(lcb, EchoRequest(request.data), now, requester=(sender, request.token))
        return fail("too many signaling requests pending") if sent is None else sent

    def _on_echo_request(
        self, lcb: Lcb, identifier: int, request: EchoRequest, now: float
    ) -> Effects:
        # The response may carry the data back, cut to what the peer's MTUsig holds (4.9).
        room = lcb.signaling_mtu - COMMAND_HEADER_SIZE
        self.send(lcb, identifier, EchoResponse(request.data[:room]))
        return []

    def _on_echo_response(
        self, lcb: Lcb, identifier: int, response: EchoResponse, now: float
    ) -> Effects:
        pending = self._settle(lcb, identifier, SignalingCode.ECHO_REQUEST)
        if pending is None or pending.requester is None:
            return []
        sender, token = pending.requester
        return [
            *self._settled(lcb, pending),
            Send(sender, L2caEchoCnf(token, lcb.handle, response.data)),
        ]

    def information(self, sender: str, request: L2caInfoReq, now: float) -> Effects:
        lcb = self.links.get(request.handle)
        if (
            lcb is None
            or lcb.transport is not LinkTransport.BR_EDR
            or not 0 <= request.info_type <= 0xFFFF
        ):
            error = f"no BR/EDR link 0x{request.handle:04X}"
            return [Send(sender, L2caInfoCnf(request.token, request.handle, error=error))]
        command = InformationRequest(request.info_type)
        sent = self.request(lcb, command, now, requester=(sender, request.token))
        if sent is None:
            error = "too many signaling requests pending"
            return [Send(sender, L2caInfoCnf(request.token, request.handle, error=error))]
        return sent

    def _on_information_request(
        self, lcb: Lcb, identifier: int, request: InformationRequest, now: float
    ) -> Effects:
        if request.info_type == InformationType.EXTENDED_FEATURES:
            data = struct.pack("<I", int(self.extended_features))
        elif request.info_type == InformationType.FIXED_CHANNELS:
            data = struct.pack("<Q", self.registry.fixed_channel_mask())
        else:
            self.send(
                lcb,
                identifier,
                InformationResponse(request.info_type, InformationResult.NOT_SUPPORTED),
            )
            return []
        self.send(
            lcb, identifier, InformationResponse(request.info_type, InformationResult.SUCCESS, data)
        )
        return []

    def _on_information_response(
        self, lcb: Lcb, identifier: int, response: InformationResponse, now: float
    ) -> Effects:
        pending = self._settle(lcb, identifier, SignalingCode.INFORMATION_REQUEST)
        if pending is None:
            return []
        if pending.requester is None:  # our discovery of the peer's features
            features = 0
            if (
                response.info_type == InformationType.EXTENDED_FEATURES
                and response.result == InformationResult.SUCCESS
                and len(response.data) >= 4
            ):
                features = struct.unpack_from("<I", response.data)[0]
            return self._settled(lcb, pending) + self._features_answered(lcb, features, now)
        sender, token = pending.requester
        cnf = L2caInfoCnf(token, lcb.handle, response.result, response.data)
        return [*self._settled(lcb, pending), Send(sender, cnf)]

    # -- LE connection parameters (4.20, 4.21) ---------------------------------------------------
    def update_parameters(
        self, sender: str, request: L2caConnectionParameterUpdateReq, now: float
    ) -> Effects:
        def fail(error: str) -> Effects:
            return [Send(sender, L2caCnf(request.token, LOCAL_REFUSAL, error))]

        lcb = self.links.get(request.handle)
        if lcb is None or lcb.transport is not LinkTransport.LE:
            return fail(f"no LE link 0x{request.handle:04X}")
        if lcb.role is not Role.PERIPHERAL:
            return fail("only the peripheral asks; a central updates the connection itself")
        p = request.parameters
        command = ConnectionParameterUpdateRequest(
            p.interval_min, p.interval_max, p.latency, p.supervision_timeout
        )
        sent = self.request(lcb, command, now, requester=(sender, request.token))
        return fail("too many signaling requests pending") if sent is None else sent

    def _on_parameter_update_request(
        self, lcb: Lcb, identifier: int, request: ConnectionParameterUpdateRequest, now: float
    ) -> Effects:
        if lcb.role is not Role.CENTRAL:
            # 4.20: a central's request is answered with a reject by the peripheral.
            return self._reject(lcb, identifier, RejectReason.COMMAND_NOT_UNDERSTOOD)
        if not self.parameters_acceptable(request):
            self.send(
                lcb,
                identifier,
                ConnectionParameterUpdateResponse(ConnectionParameterUpdateResult.REJECTED),
            )
            return []
        self.send(
            lcb,
            identifier,
            ConnectionParameterUpdateResponse(ConnectionParameterUpdateResult.ACCEPTED),
        )
        token = next(self._tokens)
        self.update_waits[token] = lcb.handle
        parameters = LeConnectionParameters(
            request.interval_min, request.interval_max, request.latency, request.timeout
        )
        return [Emit(ConnectionUpdateReq(token, lcb.handle, parameters))]

    def on_update_confirmed(self, confirm: BtmCnf) -> Effects:
        handle = self.update_waits.pop(confirm.token, None)
        if handle is not None and confirm.status != 0:
            logger.warning("l2cap 0x%04X: connection update failed: %s", handle, confirm.error)
        return []

    def _on_parameter_update_response(
        self, lcb: Lcb, identifier: int, response: ConnectionParameterUpdateResponse, now: float
    ) -> Effects:
        pending = self._settle(lcb, identifier, SignalingCode.CONNECTION_PARAMETER_UPDATE_REQUEST)
        if pending is None or pending.requester is None:
            return []
        sender, token = pending.requester
        error = None if response.result == 0 else "the central rejected the parameters"
        return [*self._settled(lcb, pending), Send(sender, L2caCnf(token, response.result, error))]

    # -- rejects and timeouts --------------------------------------------------------------------
    def _on_command_reject(
        self, lcb: Lcb, identifier: int, reject: CommandReject, now: float
    ) -> Effects:
        pending = lcb.pending.pop(identifier, None)
        if pending is None:
            return []
        why = f"the peer rejected the request (reason 0x{reject.reason:04X})"
        return self._settled(lcb, pending) + self._request_failed(lcb, pending, why, now)

    def on_timeout(self, owner: RequestTimer, now: float) -> Effects:
        lcb = self.links.get(owner.handle)
        pending = lcb.pending.pop(owner.identifier, None) if lcb is not None else None
        if lcb is None or pending is None:
            return []
        return self._request_failed(lcb, pending, no_response(pending, now), now)

    def _request_failed(self, lcb: Lcb, pending: PendingRequest, why: str, now: float) -> Effects:
        if pending.code is SignalingCode.INFORMATION_REQUEST and pending.requester is None:
            # The peer did not tell its features: it counts as having basic mode only.
            logger.info("l2cap 0x%04X: extended features unknown: %s", lcb.handle, why)
            return self._features_answered(lcb, 0, now)
        if pending.requester is not None:
            sender, token = pending.requester
            match pending.code:
                case SignalingCode.ECHO_REQUEST:
                    return [Send(sender, L2caEchoCnf(token, lcb.handle, error=why))]
                case SignalingCode.INFORMATION_REQUEST:
                    return [Send(sender, L2caInfoCnf(token, lcb.handle, error=why))]
                case _:
                    return [Send(sender, L2caCnf(token, LOCAL_REFUSAL, why))]
        ccb = lcb.channels.get(pending.cid) if pending.cid is not None else None
        if ccb is None:
            return []
        match pending.code:
            case SignalingCode.CONNECTION_REQUEST if ccb.state is ChannelState.WAIT_CONNECT_RSP:
                ccb.move(ChannelEvent.TIMEOUT)
                return self._fail_opening(lcb, ccb, why)
            case SignalingCode.CONFIGURATION_REQUEST if ccb.state in CONFIG_STATES:
                return self._fail_channel(lcb, ccb, why, now)
            case SignalingCode.DISCONNECTION_REQUEST if ccb.state is ChannelState.WAIT_DISCONNECT:
                ccb.move(ChannelEvent.TIMEOUT)
                return self._closed(lcb, ccb)
        return []

    # -- control blocks --------------------------------------------------------------------------
    def release(self, lcb: Lcb, ccb: Ccb) -> Effects:
        """Forget a channel, with its retransmission engine and the engine's timers; its
        pending requests are left to their responses or timers."""
        self.scheduler.forget_queue(lcb, ccb.tx)
        lcb.channels.pop(ccb.local_cid, None)
        if ccb.security_token is not None:
            self.security_waits.pop(ccb.security_token, None)
        return RetransmissionChannels.stop(lcb, ccb)

    def link_closed(self, lcb: Lcb, reason: str) -> Effects:
        """Every channel and request of a link that went down ends, with its timers."""
        effects: Effects = []
        for ccb in list(lcb.channels.values()):
            effects += self._notify_closed(lcb, ccb, reason, link_lost=True)
            effects += [Send(s, L2caCnf(t)) for s, t in ccb.disconnect_waiters]
            ccb.move(ChannelEvent.LINK_CLOSED)
            effects += self.release(lcb, ccb)
        for pending in lcb.pending.values():
            effects.append(CancelTimer(self._timer(lcb, pending.identifier)))
            if pending.requester is not None:
                effects += self._request_failed(lcb, pending, reason, 0.0)
        lcb.pending.clear()
        for token, handle in list(self.update_waits.items()):
            if handle == lcb.handle:
                del self.update_waits[token]
        return effects


def no_response(pending: PendingRequest | None, now: float) -> str:
    """Why a request of ours failed when its last timer expired."""
    if pending is None:
        return "no response to a request"
    waited = now - pending.first_sent
    timer = "ERTX" if pending.extended else "RTX"
    return f"no response to {pending.code.name} within {waited:g} s ({timer} expired)"


def acceptable_parameters(request: ConnectionParameterUpdateRequest) -> bool:
    """The ranges of Vol 3 Part A 4.20 (and Vol 4 Part E 7.8.18): intervals 7.5 ms-4 s in
    order, latency at most 499, supervision timeout 100 ms-32 s and longer than
    (1 + latency) x interval_max x 2."""
    r = request
    return (
        6 <= r.interval_min <= r.interval_max <= 3200
        and r.latency <= 499
        and 10 <= r.timeout <= 3200
        # timeout x 10 ms > (1 + latency) x interval_max x 1.25 ms x 2
        and r.timeout * 4 > (1 + r.latency) * r.interval_max
    )
