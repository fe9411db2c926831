"""The gatt actor's core (Core 5.4 Vol 3 Parts F and G): sans-IO, driven by the generic shell.

It registers the LE ATT fixed channel with L2CAP (0x0004, Vol 3 Part A 2.1) when the
controller is ready, keeps one :class:`GattLink` per LE link from the moment L2CAP opens the
channel until the link goes, with its bearers (:class:`~bluetrio.actors.gatt.bearer.AttBearer`:
the unenhanced one, numbered 0, and the enhanced ones of `eatt.py`), and joins three parties:

* the application's client requests (:class:`AttExchangeReq`, :class:`AttCommandReq`), put
  on a bearer, and every value received (:class:`AttValueInd`, emitted);
* the server (``server.py``: the database and every request's answer), which gets the
  peer's requests and commands and answers with :class:`SendPdu`, and asks the application
  for the values it serves (:class:`GattServerReadInd` / :class:`GattServerWriteInd`): the
  core gives the application :attr:`GattConfig.application_deadline` to answer, after which
  the request gets Unlikely Error, so a hung callback never costs the client its bearer;
* the application's notifications and indications (:class:`GattNotifyReq`) to the server's
  subscribers, answered once each went (:class:`GattNotifyCnf`).

PDUs of a link that come before btm's :class:`LinkUpInd` (which names the peer the server
answers) wait for it, at most :data:`EARLY_PDUS_PER_LINK`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import Protocol

import attrs

from bluetrio.actors.effects import (
    CancelTimer,
    Effects,
    Emit,
    Send,
    StartTimer,
    TimerExpired,
    TimerKey,
)
from bluetrio.actors.gatt.bearer import (
    AttBearer,
    BearerOutputs,
    BearerTimedOut,
    Delivered,
    ServerDecodeError,
    ServerRequest,
)
from bluetrio.actors.gatt.config import GattConfig
from bluetrio.actors.gatt.eatt import REGISTER_TOKEN as EATT_REGISTER_TOKEN
from bluetrio.actors.gatt.eatt import Eatt, EattLink
from bluetrio.actors.gatt.gap_service import GapServiceConfig
from bluetrio.actors.gatt.outputs import UNENHANCED_BEARER, Output, SendPdu
from bluetrio.actors.gatt.permissions import UNSECURED, LinkSecurity
from bluetrio.actors.gatt.server import GattServer
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.address import Address
from bluetrio.bonds import Bond
from bluetrio.errors import AttDecodeError, InvalidArgumentError
from bluetrio.messages.att import (
    ATT_CID,
    EATT_PSM,
    AttErrorCode,
    AttPdu,
    ErrorResponse,
    ExchangeMtuRequest,
    ExecuteWriteRequest,
    HandleValueIndication,
    PduKind,
    PrepareWriteRequest,
    kind_of,
)
from bluetrio.messages.base import Message
from bluetrio.messages.btm import (
    AclLink,
    ControllerReadyInd,
    DisconnectReq,
    LinkChangedInd,
    LinkDownInd,
    LinkUpInd,
    Role,
)
from bluetrio.messages.btm_security import LinkSecuredInd, StoreBondReq
from bluetrio.messages.gatt_declarations import Service, ServiceHandles
from bluetrio.messages.gatt_service import (
    AttCommandCnf,
    AttCommandReq,
    AttExchangeCnf,
    AttExchangeReq,
    AttFailure,
    AttMtuInd,
    AttValueInd,
    GattAddServiceCnf,
    GattAddServiceReq,
    GattCnf,
    GattNotifyCnf,
    GattNotifyReq,
    GattRemoveServiceReq,
    GattServerReadInd,
    GattServerReadRsp,
    GattServerWriteInd,
    GattServerWriteRsp,
    GattSubscriptionInd,
)
from bluetrio.messages.gatt_state import (
    GattBondedPeer,
    GattBondsLoadCnf,
    GattBondsLoadReq,
    GattBondStateStoreReq,
)
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap_credit_service import (
    CreditChannelParameters,
    L2caCreditConnectCnf,
    L2caCreditConnectInd,
    L2caCreditConnectReq,
    L2caCreditRegisterReq,
    L2caDataRsp,
    L2caReconfigureInd,
)
from bluetrio.messages.l2cap_service import (
    L2caCnf,
    L2caDataCnf,
    L2caDataInd,
    L2caDataReq,
    L2caDisconnectInd,
    L2caDisconnectReq,
    L2caFixedChannelInd,
    L2caFixedDataCnf,
    L2caFixedDataInd,
    L2caFixedDataReq,
    L2caRegisterFixedChannelReq,
)

logger = logging.getLogger(__name__)

# PDUs kept for a link whose channel L2CAP opened before btm's LinkUpInd reached us (the
# peer's first request travels hci → L2CAP → gatt, the connection event hci → btm → gatt).
EARLY_PDUS_PER_LINK = 8
_REGISTER_TOKEN = 1
_APPLICATION_ANSWER = "application answer"
LINK_LOST = AttFailure.LINK_LOST


class ServerCore(Protocol):
    """What the core asks of the server (``server.py``)."""

    def on_request(
        self, handle: int, bearer: int, pdu: AttPdu, mtu: int, now: float
    ) -> Sequence[Output]: ...

    def on_decode_error(
        self, handle: int, bearer: int, error: AttDecodeError
    ) -> Sequence[Output]: ...

    def on_application_answer(
        self, answer: GattServerReadRsp | GattServerWriteRsp
    ) -> Sequence[Output]: ...

    def subscribers(
        self, value_handle: int, indicate: bool, link: int | None
    ) -> tuple[int, ...]: ...

    def on_indication_outcome(
        self, handle: int, value_handle: int, error: str | None
    ) -> Sequence[Output]:
        """An indication the server sent itself (a SendPdu of a Handle Value Indication,
        e.g. Service Changed) was confirmed (``error`` None) or failed (timed out, the link
        went)."""
        ...

    def add_service(self, service: Service) -> ServiceHandles: ...

    def remove_service(self, service_handle: int) -> object: ...

    def on_link_up(
        self, handle: int, peer: Address, security: LinkSecurity, bonded: bool
    ) -> Sequence[Output]: ...

    def on_security_changed(self, handle: int, security: LinkSecurity) -> Sequence[Output]: ...

    def on_link_down(self, handle: int) -> None: ...

    def on_application_timeout(self, request_id: int) -> Sequence[Output]: ...

    def take_changes(self) -> Sequence[Output]:
        """What the last database changes and links gone send (Service Changed, the bonded
        clients' states for the key store)."""
        ...

    def load_bonds(self, peers: tuple[GattBondedPeer, ...]) -> None: ...

    def on_bond(self, bond: Bond) -> Sequence[Output]: ...

    def on_link_encrypted(
        self, handle: int, peer: Address, with_bond: bool
    ) -> Sequence[Output]: ...


class NoDatabase:
    """A server without an attribute database (a stand-in for tests): every request is
    answered Request Not Supported (Vol 3 Part F 3.4.1.1), every command ignored (3.3.1),
    and a value goes only to the link it names."""

    def on_request(
        self, handle: int, bearer: int, pdu: AttPdu, mtu: int, now: float
    ) -> Sequence[Output]:
        if kind_of(pdu.opcode) is not PduKind.REQUEST:
            return []
        error = ErrorResponse(pdu.opcode, 0, AttErrorCode.REQUEST_NOT_SUPPORTED)
        return [SendPdu(handle, bearer, error)]

    def on_decode_error(self, handle: int, bearer: int, error: AttDecodeError) -> Sequence[Output]:
        response = ErrorResponse(error.opcode or 0, error.handle, error.error_code)
        return [SendPdu(handle, bearer, response)]

    def on_application_answer(
        self, answer: GattServerReadRsp | GattServerWriteRsp
    ) -> Sequence[Output]:
        return []

    def subscribers(self, value_handle: int, indicate: bool, link: int | None) -> tuple[int, ...]:
        return () if link is None else (link,)

    def on_indication_outcome(
        self, handle: int, value_handle: int, error: str | None
    ) -> Sequence[Output]:
        return []

    def add_service(self, service: Service) -> ServiceHandles:
        raise InvalidArgumentError("this stack's gatt actor has no attribute database")

    def remove_service(self, service_handle: int) -> None:
        raise InvalidArgumentError("this stack's gatt actor has no attribute database")

    def on_link_up(
        self, handle: int, peer: Address, security: LinkSecurity, bonded: bool
    ) -> Sequence[Output]:
        return []

    def on_security_changed(self, handle: int, security: LinkSecurity) -> Sequence[Output]:
        return []

    def on_link_down(self, handle: int) -> None:
        return None

    def on_application_timeout(self, request_id: int) -> Sequence[Output]:
        return []

    def take_changes(self) -> Sequence[Output]:
        return []

    def load_bonds(self, peers: tuple[GattBondedPeer, ...]) -> None:
        return None

    def on_bond(self, bond: Bond) -> Sequence[Output]:
        return []

    def on_link_encrypted(self, handle: int, peer: Address, with_bond: bool) -> Sequence[Output]:
        return []


@attrs.define
class GattLink:
    """What the gatt actor holds for one LE link, released with it."""

    handle: int
    peer: Address | None = None  # from btm's LinkUpInd
    role: Role | None = None
    bearers: dict[int, AttBearer] = attrs.Factory(dict)  # 0: unenhanced; else EATT by CID
    early: list[bytes] = attrs.Factory(list)  # PDUs before LinkUpInd
    eatt: EattLink = attrs.Factory(lambda self: EattLink(self.handle), takes_self=True)
    security: LinkSecurity = UNSECURED

    @property
    def unenhanced(self) -> AttBearer | None:
        return self.bearers.get(UNENHANCED_BEARER)


@attrs.define
class _Delivery:
    """A GattNotifyReq being answered: the links it still waits for."""

    sender: str
    token: int
    waiting: int
    delivered: list[int] = attrs.Factory(list)
    errors: list[tuple[int, str]] = attrs.Factory(list)


@attrs.frozen
class _AppRequest:
    """A read or write the server asked the application for."""

    handle: int
    write: bool


def _answer_key(request_id: int) -> TimerKey:
    return TimerKey(("gatt-app", request_id), _APPLICATION_ANSWER)


class GattCore:
    spec = LayerSpec(
        Layer.GATT,
        handles=(
            AttExchangeReq,
            AttCommandReq,
            GattNotifyReq,
            GattServerReadRsp,
            GattServerWriteRsp,
            GattAddServiceReq,
            GattRemoveServiceReq,
            GattBondsLoadReq,
        ),
        subscribes=(
            ControllerReadyInd,
            LinkUpInd,
            LinkChangedInd,
            LinkSecuredInd,
            LinkDownInd,
            StoreBondReq,
        ),
        emits=(
            L2caRegisterFixedChannelReq,
            L2caFixedDataReq,
            L2caCreditRegisterReq,
            L2caCreditConnectReq,
            L2caDataReq,
            L2caDataRsp,
            L2caDisconnectReq,
            DisconnectReq,
            AttValueInd,
            AttMtuInd,
            GattServerReadInd,
            GattServerWriteInd,
            GattSubscriptionInd,
            GattBondStateStoreReq,
        ),
    )

    def __init__(
        self,
        config: GattConfig | None = None,
        server: ServerCore | None = None,
        gap: GapServiceConfig | None = None,
    ) -> None:
        """``server``: a server core of one's own (a test's stand-in); else a GattServer with
        ``gap`` for its GAP service (Device Name, Appearance) and the GATT service."""
        self.config = config or GattConfig()
        if server is None:
            server = GattServer(gap)
            # The GATT service right after GAP (Vol 3 Part G 7), announcing EATT when this
            # stack opens enhanced bearers (7.4, Server Supported Features).
            server.add_gatt_service(eatt=self.config.eatt_bearers > 0)
        self.server: ServerCore = server
        self.links: dict[int, GattLink] = {}
        self.registered = False
        self.dropped_pdus = 0
        self._tickets = itertools.count(1)
        self._deliveries: dict[int, _Delivery] = {}  # by ticket (one per link of a request)
        self._ticket_links: dict[int, int] = {}  # ticket -> link handle
        # Tickets of the server's own indications: (link, value handle).
        self._server_indications: dict[int, tuple[int, int]] = {}
        self._app_requests: dict[int, _AppRequest] = {}  # request_id -> its link
        self._tokens = itertools.count(1 + _REGISTER_TOKEN)
        self.eatt = Eatt(self.config)

    # -- entry points ----------------------------------------------------------------------
    def handle(self, sender: str, message: Message, now: float) -> Effects:
        match message:
            case L2caFixedDataInd(cid=cid) if cid == ATT_CID:
                return self._on_pdu(message.handle, message.payload, now)
            case L2caFixedDataCnf(cid=cid) if cid == ATT_CID:
                link = self.links.get(message.handle)
                bearer = link.unenhanced if link is not None else None
                if link is None or bearer is None:
                    return []
                return self._run(link, bearer, bearer.sent(message.count, message.error), now)
            case L2caFixedChannelInd(cid=cid) if cid == ATT_CID:
                if message.transport is not LinkTransport.LE:
                    return []
                if not message.open:
                    return self.drop_connection(message.handle, "ATT channel closed", now)
                link = self.links.setdefault(message.handle, GattLink(message.handle))
                if UNENHANCED_BEARER not in link.bearers:
                    link.bearers[UNENHANCED_BEARER] = AttBearer(message.handle, self.config)
                return []
            case AttExchangeReq():
                return self._on_exchange(sender, message, now)
            case AttCommandReq():
                return self._on_command(sender, message, now)
            case GattNotifyReq():
                return self._on_notify(sender, message, now)
            case GattServerReadRsp() | GattServerWriteRsp():
                return self._on_application_answer(message, now)
            case GattAddServiceReq():
                try:
                    handles = self.server.add_service(message.service)
                except InvalidArgumentError as error:
                    return [Send(sender, GattAddServiceCnf(message.token, error=str(error)))]
                changed = self._serve(self.server.take_changes(), now)  # Service Changed
                return [*changed, Send(sender, GattAddServiceCnf(message.token, handles))]
            case GattRemoveServiceReq():
                try:
                    self.server.remove_service(message.service_handle)
                except InvalidArgumentError as error:
                    return [Send(sender, GattCnf(message.token, str(error)))]
                changed = self._serve(self.server.take_changes(), now)
                return [*changed, Send(sender, GattCnf(message.token))]
            case GattBondsLoadReq():
                self.server.load_bonds(message.peers)
                return [Send(sender, GattBondsLoadCnf(message.token))]
            case StoreBondReq():
                return self._serve(self.server.on_bond(message.bond), now)
            case TimerExpired(key=key):
                return self._on_timer(key, now)
            case L2caDataInd():
                return self._on_enhanced_pdu(message, now)
            case L2caDataCnf():
                link, bearer = self._enhanced(message.handle, message.cid)
                if link is None or bearer is None:
                    return []
                return self._run(link, bearer, bearer.sent(message.count), now)
            case L2caDisconnectInd():
                link, bearer = self._enhanced(message.handle, message.cid)
                if link is None or bearer is None:
                    return []
                del link.bearers[bearer.bearer]
                return self._run(link, bearer, bearer.close(message.reason), now)
            case L2caReconfigureInd():
                link, bearer = self._enhanced(message.handle, message.cid)
                if link is None or bearer is None:
                    return []
                return self.eatt.reconfigured(bearer, message)
            case L2caCreditConnectCnf() if message.token in self.eatt.pending:
                self.eatt.pending.pop(message.token)
                if message.parameters is None or not message.cids:
                    logger.info(
                        "gatt 0x%04X: no enhanced bearers (0x%04X, %s)",
                        message.handle,
                        message.result,
                        message.error,
                    )
                    return []
                return self._add_bearers(message.handle, message.cids, message.parameters)
            case L2caCreditConnectInd(spsm=spsm) if spsm == EATT_PSM:
                return self._add_bearers(message.handle, message.cids, message.parameters)
            case ControllerReadyInd():
                if self.registered or not message.info.le_supported:
                    return []
                self.registered = True
                register = L2caRegisterFixedChannelReq(_REGISTER_TOKEN, ATT_CID)
                return [Emit(register), *self.eatt.register()]
            case LinkUpInd(link=acl) if acl.transport is LinkTransport.LE:
                link = self.links.setdefault(acl.handle, GattLink(acl.handle))
                link.peer, link.role = acl.peer, acl.role
                link.security = LinkSecurity(acl.encrypted, False, acl.key_size)
                # The server learns of the link before its first request (the early ones).
                up = self.server.on_link_up(acl.handle, acl.peer, link.security, False)
                effects: Effects = self._serve(up, now)
                early, link.early = link.early, []
                for payload in early:
                    effects += self._on_pdu(acl.handle, payload, now)
                return effects + self._secured(link, acl)
            case LinkChangedInd(link=acl) if acl.handle in self.links:
                link = self.links[acl.handle]
                link.role = acl.role
                # Encryption on or off; whether its key was authenticated comes with
                # LinkSecuredInd (Vol 3 Part C 10.2).
                authenticated = acl.encrypted and link.security.authenticated
                security = LinkSecurity(acl.encrypted, authenticated, acl.key_size)
                return self._security(link, security, now) + self._secured(link, acl)
            case LinkSecuredInd() if message.handle in self.links:
                link = self.links[message.handle]
                authenticated = message.strength is not None and message.strength.authenticated
                security = LinkSecurity(True, authenticated, message.key_size)
                effects = self._security(link, security, now)
                # A bonded client's state applies once its link is encrypted with the bond.
                encrypted = self.server.on_link_encrypted(
                    message.handle, message.peer, message.used_stored_key
                )
                return effects + self._serve(encrypted, now)
            case LinkDownInd():
                return self.drop_connection(message.handle, "link down", now)
            case L2caCnf(token=token) if token == _REGISTER_TOKEN and message.result != 0:
                logger.error("ATT fixed channel registration refused: %s", message.error)
                return []
            case L2caCnf(token=token) if token == EATT_REGISTER_TOKEN and message.result != 0:
                logger.error("EATT SPSM registration refused: %s", message.error)
                return []
        return []

    def _security(self, link: GattLink, security: LinkSecurity, now: float) -> Effects:
        """The server answers from the link's security (permissions, Vol 3 Part F 3.2.5)."""
        if security == link.security:
            return []
        link.security = security
        if link.peer is None:
            return []  # told at LinkUpInd
        return self._serve(self.server.on_security_changed(link.handle, security), now)

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        link = self.links.pop(handle, None)
        if link is None:
            return []
        self.dropped_pdus += len(link.early)
        self.server.on_link_down(handle)
        effects: Effects = self._serve(self.server.take_changes(), now)  # the bond's state
        for bearer in link.bearers.values():
            effects += self._run(link, bearer, bearer.close(f"the link went down: {reason}"), now)
        for request_id, request in list(self._app_requests.items()):
            if request.handle == handle:
                del self._app_requests[request_id]
                effects.append(CancelTimer(_answer_key(request_id)))
        return effects

    # -- enhanced bearers ----------------------------------------------------------------------
    def _enhanced(self, handle: int, cid: int) -> tuple[GattLink | None, AttBearer | None]:
        link = self.links.get(handle)
        bearer = link.bearers.get(cid) if link is not None and cid != UNENHANCED_BEARER else None
        return link, bearer

    def _secured(self, link: GattLink, acl: AclLink) -> Effects:
        """EATT needs an encrypted link (Vol 3 Part G 5.3.2); the central opens it."""
        if acl.encrypted and acl.role is Role.CENTRAL and link.unenhanced is not None:
            return self.eatt.open(link.eatt)
        return []

    def _add_bearers(
        self, handle: int, cids: tuple[int, ...], parameters: CreditChannelParameters
    ) -> Effects:
        link = self.links.get(handle)
        if link is None:  # the link went meanwhile: L2CAP closes its channels with it
            return []
        effects: Effects = []
        for bearer in self.eatt.bearers(handle, cids, parameters):
            link.bearers[bearer.bearer] = bearer
            effects.append(Emit(AttMtuInd(handle, bearer.mtu, bearer.bearer)))
        return effects

    def _on_enhanced_pdu(self, indication: L2caDataInd, now: float) -> Effects:
        link, bearer = self._enhanced(indication.handle, indication.cid)
        if link is None or bearer is None:
            self.dropped_pdus += 1
            return []
        # The SDU is taken: its credits go back to the peer (Vol 3 Part A 10.1).
        consumed = Emit(L2caDataRsp(indication.handle, indication.cid, 1))
        return [consumed, *self._run(link, bearer, bearer.receive(indication.sdu, now), now)]

    # -- the client's requests ---------------------------------------------------------------
    def _bearer_for_request(self, link: GattLink, request: AttPdu) -> AttBearer | None:
        """The bearer a request goes on: with EATT, an idle one it fits (requests spread
        over the bearers), else the one with the shortest queue. Exchange MTU exists only on
        the unenhanced bearer (3.4.2.1); prepared writes and their execution stay there
        too, so one prepare queue holds them all (3.4.6)."""
        if isinstance(request, ExchangeMtuRequest | PrepareWriteRequest | ExecuteWriteRequest):
            return link.unenhanced
        length = len(request.encode())
        usable = [
            bearer
            for bearer in link.bearers.values()
            if not bearer.timed_out and bearer.mtu >= length
        ]
        if not usable:
            return link.unenhanced
        return min(usable, key=lambda bearer: (bearer.busy, len(bearer.queue)))

    def _on_exchange(self, sender: str, request: AttExchangeReq, now: float) -> Effects:
        link = self.links.get(request.handle)
        bearer = self._bearer_for_request(link, request.request) if link is not None else None
        if link is None or bearer is None:
            error = f"no LE link 0x{request.handle:04X} with ATT"
            cnf = AttExchangeCnf(request.token, request.handle, error=error, failure=LINK_LOST)
            return [Send(sender, cnf)]
        return self._run(
            link, bearer, bearer.request(sender, request.token, request.request, now), now
        )

    def _on_command(self, sender: str, request: AttCommandReq, now: float) -> Effects:
        link = self.links.get(request.handle)
        bearer = link.unenhanced if link is not None else None
        if link is None or bearer is None:
            error = f"no LE link 0x{request.handle:04X} with ATT"
            return [Send(sender, AttCommandCnf(request.token, request.handle, error, LINK_LOST))]
        return self._run(link, bearer, bearer.command(sender, request.token, request.pdu), now)

    # -- received PDUs -----------------------------------------------------------------------
    def _on_pdu(self, handle: int, payload: bytes, now: float) -> Effects:
        link = self.links.get(handle)
        bearer = link.unenhanced if link is not None else None
        if link is None or bearer is None:
            self.dropped_pdus += 1
            return []
        if link.peer is None:
            if len(link.early) < EARLY_PDUS_PER_LINK:
                link.early.append(payload)
            else:
                self.dropped_pdus += 1
            return []
        return self._run(link, bearer, bearer.receive(payload, now), now)

    def _run(
        self, link: GattLink, bearer: AttBearer, outputs: BearerOutputs, now: float
    ) -> Effects:
        """Carry out a bearer's outputs: effects as they are, the rest where they belong."""
        effects: Effects = []
        for output in outputs:
            match output:
                case ServerRequest(pdu=pdu):
                    answer = self.server.on_request(
                        link.handle, bearer.bearer, pdu, bearer.mtu, now
                    )
                    effects += self._serve(answer, now)
                case ServerDecodeError(error=error):
                    effects += self._serve(
                        self.server.on_decode_error(link.handle, bearer.bearer, error), now
                    )
                case Delivered(ticket=ticket, error=error):
                    effects += self._delivered(ticket, error, now)
                case BearerTimedOut():
                    if bearer.enhanced:  # its channel goes; the link keeps its others
                        link.bearers.pop(bearer.bearer, None)
                        closed = bearer.close("the enhanced bearer timed out (3.3.3)")
                        effects += self._run(link, bearer, closed, now) + self.eatt.close(bearer)
                    elif self.config.disconnect_on_timeout:
                        effects.append(Emit(DisconnectReq(next(self._tokens), link.handle)))
                case _:
                    effects.append(output)
        return effects

    def _serve(self, outputs: Sequence[Output], now: float) -> Effects:
        """Carry out the server's outputs: PDUs through their bearer, the application's
        reads and writes under the deadline."""
        effects: Effects = []
        for output in outputs:
            match output:
                case SendPdu(handle=handle, bearer=number, pdu=pdu):
                    link = self.links.get(handle)
                    bearer = link.bearers.get(number) if link is not None else None
                    if link is None or bearer is None:
                        continue  # the link went while the application answered
                    if isinstance(pdu, HandleValueIndication):
                        # The server's own indication (Service Changed): its outcome goes
                        # back to the server (on_indication_outcome).
                        ticket = next(self._tickets)
                        self._server_indications[ticket] = (handle, pdu.handle)
                        sent = bearer.indicate(ticket, pdu.handle, pdu.value, now)
                    else:
                        sent = bearer.respond(pdu)
                    effects += self._run(link, bearer, sent, now)
                case Emit(message=GattServerReadInd() | GattServerWriteInd() as asked):
                    self._app_requests[asked.request_id] = _AppRequest(
                        asked.handle, isinstance(asked, GattServerWriteInd)
                    )
                    deadline = now + self.config.application_deadline
                    effects += [output, StartTimer(_answer_key(asked.request_id), deadline)]
                case _:
                    effects.append(output)
        return effects

    def _on_application_answer(
        self, answer: GattServerReadRsp | GattServerWriteRsp, now: float
    ) -> Effects:
        if self._app_requests.pop(answer.request_id, None) is None:
            return []  # answered after its deadline, or its link went: already settled
        effects: Effects = [CancelTimer(_answer_key(answer.request_id))]
        return effects + self._serve(self.server.on_application_answer(answer), now)

    def _on_timer(self, key: TimerKey, now: float) -> Effects:
        owner = key.owner
        if not isinstance(owner, tuple) or len(owner) < 2 or not isinstance(owner[1], int):
            return []
        if owner[0] == "gatt-app":
            request = self._app_requests.pop(owner[1], None)
            if request is None:
                return []
            logger.warning(
                "gatt 0x%04X: the application did not answer request %d within %.1f s",
                request.handle,
                owner[1],
                self.config.application_deadline,
            )
            return self._serve(self.server.on_application_timeout(owner[1]), now)
        if owner[0] == "gatt" and len(owner) == 3:
            link = self.links.get(owner[1])
            bearer = link.bearers.get(owner[2]) if link is not None else None
            if link is None or bearer is None:
                return []
            return self._run(link, bearer, bearer.timer_expired(key.name, now), now)
        return []

    # -- notifications and indications -------------------------------------------------------
    def _on_notify(self, sender: str, request: GattNotifyReq, now: float) -> Effects:
        targets = self.server.subscribers(request.value_handle, request.indicate, request.link)
        if not targets:
            return [Send(sender, GattNotifyCnf(request.token))]
        delivery = _Delivery(sender, request.token, len(targets))
        effects: Effects = []
        for handle in targets:
            ticket = next(self._tickets)
            self._deliveries[ticket] = delivery
            self._ticket_links[ticket] = handle
            link = self.links.get(handle)
            bearer = self._bearer_for_value(link, request.indicate) if link is not None else None
            if link is None or bearer is None:
                effects += self._delivered(ticket, f"no LE link 0x{handle:04X} with ATT", now)
                continue
            if request.indicate:
                sent = bearer.indicate(ticket, request.value_handle, request.value, now)
            else:
                sent = bearer.notify(ticket, request.value_handle, request.value)
            effects += self._run(link, bearer, sent, now)
        return effects

    def _bearer_for_value(self, link: GattLink, indicate: bool) -> AttBearer | None:
        """Notifications and indications may go on any bearer (Vol 3 Part G 4.10, 4.11):
        the one with the largest MTU, so the value is cut least (3.4.7.1); an indication
        where none awaits its confirmation, when there is such a bearer."""
        usable = [bearer for bearer in link.bearers.values() if not bearer.timed_out]
        if not usable:
            return link.unenhanced

        def waiting(bearer: AttBearer) -> int:
            return len(bearer.indications) + (bearer.indication is not None) if indicate else 0

        return min(usable, key=lambda bearer: (waiting(bearer), -bearer.mtu))

    def _delivered(self, ticket: int, error: str | None, now: float) -> Effects:
        server_indication = self._server_indications.pop(ticket, None)
        if server_indication is not None:
            handle, value_handle = server_indication
            outcome = self.server.on_indication_outcome(handle, value_handle, error)
            return self._serve(outcome, now)
        delivery = self._deliveries.pop(ticket, None)
        handle = self._ticket_links.pop(ticket, 0)
        if delivery is None:
            return []
        if error is None:
            delivery.delivered.append(handle)
        else:
            delivery.errors.append((handle, error))
        delivery.waiting -= 1
        if delivery.waiting:
            return []
        cnf = GattNotifyCnf(delivery.token, tuple(delivery.delivered), tuple(delivery.errors))
        return [Send(delivery.sender, cnf)]
