"""One ATT bearer, sans-IO (Core 5.4 Vol 3 Part F 3.2.11, 3.3, 3.4.2, 3.4.7).

A bearer is the unenhanced one on the LE fixed channel 0x0004 or an enhanced one on an L2CAP
enhanced credit-based channel (EATT). It owns what the specification ties to a bearer:

* its ATT_MTU: 23 on LE until an Exchange MTU (3.4.2; in both roles, once per direction;
  never on an enhanced bearer, whose MTU is its channel's, 3.4.2.1); a PDU longer than the
  MTU is never sent;
* the transaction rule (3.3.2): one request of ours outstanding, the others queued (bounded)
  and sent one at a time; one request of the peer's being answered, a second one before our
  response dropped and counted (the peer broke 3.3.2; Bluedroid and Zephyr drop it too);
  one indication of ours awaiting its confirmation, later ones queued;
* the 30 s transaction timeout (3.3.3) of our request and of our indication, after which the
  bearer sends nothing more: what was queued fails, and so does every later request;
* commands and notifications, which never wait behind a transaction (3.3.1, 3.4.7.1), and
  the confirmation of every indication received (sent at once: the application cannot
  refuse a value, and confirming late would stall the peer's next one);
* responses checked against the outstanding request: a response of another opcode, an
  Error Response naming another request, or a response with nothing outstanding is ignored
  and logged, the transaction still waiting for its own.

What the bearer cannot do alone it returns as outputs to the core: a request or command for
the server (:class:`ServerRequest`), a PDU the server must answer with an Error Response
(:class:`ServerDecodeError`), the fate of a notification or indication the core is
collecting (:class:`Delivered`), and its own timeout (:class:`BearerTimedOut`).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TypeAlias

import attrs

from bluetrio.actors.effects import (
    CancelTimer,
    Effect,
    Emit,
    ReleaseTimers,
    Send,
    StartTimer,
    TimerKey,
)
from bluetrio.actors.gatt.config import MIN_LE_MTU, GattConfig
from bluetrio.actors.gatt.states import TRANSITIONS, Flow, Transaction, TransactionEvent
from bluetrio.actors.state_machine import transition
from bluetrio.errors import AttDecodeError
from bluetrio.messages.att import (
    ATT_CID,
    RESPONSE_TO,
    TRANSACTION_TIMEOUT,
    AttErrorCode,
    AttOpcode,
    AttPdu,
    ErrorResponse,
    ExchangeMtuRequest,
    ExchangeMtuResponse,
    HandleValueConfirmation,
    HandleValueIndication,
    HandleValueNotification,
    MultipleHandleValueNotification,
    PduKind,
    decode_pdu,
    kind_of,
)
from bluetrio.messages.gatt_service import (
    AttCommandCnf,
    AttExchangeCnf,
    AttFailure,
    AttMtuInd,
    AttValueInd,
)
from bluetrio.messages.l2cap_service import L2caDataReq, L2caFixedDataReq

logger = logging.getLogger(__name__)

TIMED_OUT_ERROR = (
    "the ATT transaction timed out (30 s, Vol 3 Part F 3.3.3): "
    "this bearer is unusable until the link goes"
)
TRANSACTION_TIMER = "transaction"
CONFIRMATION_TIMER = "confirmation"


def timer_owner(handle: int, bearer: int) -> tuple[str, int, int]:
    """The owner of a bearer's timers: released with the bearer."""
    return ("gatt", handle, bearer)


# -- what the bearer hands back to the core -----------------------------------------------------
@attrs.frozen
class ServerRequest:
    """A request or command the peer sent, for the server (the bearer answers Exchange MTU
    itself)."""

    pdu: AttPdu


@attrs.frozen
class ServerDecodeError:
    """A request the peer sent that does not decode: the server answers it with the one
    Error Response the error names."""

    error: AttDecodeError


@attrs.frozen
class Delivered:
    """Notification or indication ``ticket`` went (the controller took the notification,
    the client confirmed the indication) or, with ``error``, did not."""

    ticket: int
    error: str | None = None


@attrs.frozen
class BearerTimedOut:
    """A transaction of this bearer timed out: it is unusable from now on (3.3.3)."""

    handle: int
    bearer: int


BearerOutput: TypeAlias = Effect | ServerRequest | ServerDecodeError | Delivered | BearerTimedOut
BearerOutputs: TypeAlias = list[BearerOutput]


@attrs.define
class _Request:
    sender: str
    token: int
    pdu: AttPdu
    data: bytes


@attrs.define
class _Indication:
    ticket: int | None  # None: the server's own (e.g. Service Changed), nobody to tell
    pdu: HandleValueIndication


# What to tell when L2CAP confirms a PDU handed to it: nothing (a response, a confirmation,
# a request whose answer is its response), a command's sender, or a notification's ticket.
_Completion: TypeAlias = Send | Delivered | None


class AttBearer:
    """One ATT bearer of link ``handle``: ``bearer`` 0 is the unenhanced one on 0x0004,
    else the enhanced one on the L2CAP channel with that local CID (``mtu`` then the
    channel's)."""

    def __init__(
        self,
        handle: int,
        config: GattConfig,
        *,
        bearer: int = 0,
        mtu: int = MIN_LE_MTU,
    ) -> None:
        self.handle = handle
        self.bearer = bearer
        self.enhanced = bearer != 0
        self.config = config
        self.mtu = mtu
        self.states = dict.fromkeys(Flow, Transaction.IDLE)
        self.outstanding: _Request | None = None
        self.queue: deque[_Request] = deque()
        self.indication: _Indication | None = None
        self.indications: deque[_Indication] = deque()
        self.completions: deque[_Completion] = deque()
        self.we_exchanged_mtu = False  # our Exchange MTU Request went (3.4.2.1: once)
        self.peer_exchanged_mtu = False
        self.dropped = 0  # PDUs received and not processed (counted, logged)
        self.requests_sent = 0
        self.owner = timer_owner(handle, bearer)

    # -- state -----------------------------------------------------------------------------
    @property
    def timed_out(self) -> bool:
        return self.states[Flow.OUR_REQUEST] is Transaction.TIMED_OUT

    @property
    def busy(self) -> bool:
        """Our request is outstanding or waiting: a port spreading requests prefers a bearer
        that is not."""
        return self.outstanding is not None or bool(self.queue)

    def _move(self, flow: Flow, event: TransactionEvent) -> None:
        self.states[flow] = transition(TRANSITIONS, self.states[flow], event)

    def _timer(self, name: str) -> TimerKey:
        return TimerKey(self.owner, name)

    # -- sending ---------------------------------------------------------------------------
    def _transmit(self, data: bytes, completion: _Completion = None) -> Effect:
        self.completions.append(completion)
        if self.enhanced:
            return Emit(L2caDataReq(self.handle, self.bearer, data))
        return Emit(L2caFixedDataReq(self.handle, ATT_CID, data))

    def _too_long(self, data: bytes) -> str | None:
        if len(data) > self.mtu:
            return f"{len(data)} octets do not fit in the bearer's ATT_MTU of {self.mtu}"
        return None

    def request(self, sender: str, token: int, pdu: AttPdu, now: float) -> BearerOutputs:
        """Queue our request ``pdu`` for ``sender``; answered by :class:`AttExchangeCnf`."""

        def refuse(error: str, failure: AttFailure = AttFailure.REFUSED) -> BearerOutputs:
            cnf = AttExchangeCnf(token, self.handle, error=error, failure=failure)
            return [Send(sender, cnf)]

        if self.timed_out:
            return refuse(TIMED_OUT_ERROR, AttFailure.TIMED_OUT)
        if kind_of(pdu.opcode) is not PduKind.REQUEST:
            return refuse(f"{type(pdu).__name__} is not an ATT request")
        data = pdu.encode()
        too_long = self._too_long(data)
        if too_long is not None:
            return refuse(too_long)
        if isinstance(pdu, ExchangeMtuRequest):
            if self.enhanced:  # 3.4.2.1: an enhanced bearer's MTU is its channel's
                return refuse("Exchange MTU is not used on an enhanced ATT bearer (3.4.2.1)")
            if self.we_exchanged_mtu:
                return refuse("the MTU was already exchanged on this link (3.4.2.1: once)")
            if not MIN_LE_MTU <= pdu.mtu <= self.config.receive_mtu:
                return refuse(
                    f"a Client Rx MTU is {MIN_LE_MTU}..{self.config.receive_mtu} here, "
                    f"not {pdu.mtu}"
                )
            self.we_exchanged_mtu = True
        if len(self.queue) >= self.config.request_queue:
            return refuse(f"{len(self.queue)} ATT requests already wait on this bearer")
        self.queue.append(_Request(sender, token, pdu, data))
        return self._send_next_request(now)

    def _send_next_request(self, now: float) -> BearerOutputs:
        outputs: BearerOutputs = []
        while self.states[Flow.OUR_REQUEST] is Transaction.IDLE and self.queue:
            request = self.queue.popleft()
            too_long = self._too_long(request.data)  # the MTU may have changed meanwhile
            if too_long is not None:
                cnf = AttExchangeCnf(
                    request.token, self.handle, error=too_long, failure=AttFailure.REFUSED
                )
                outputs.append(Send(request.sender, cnf))
                continue
            self._move(Flow.OUR_REQUEST, TransactionEvent.START)
            self.outstanding = request
            self.requests_sent += 1
            outputs.append(self._transmit(request.data))
            outputs.append(StartTimer(self._timer(TRANSACTION_TIMER), now + TRANSACTION_TIMEOUT))
        return outputs

    def command(self, sender: str, token: int, pdu: AttPdu) -> BearerOutputs:
        """Send command ``pdu`` at once; :class:`AttCommandCnf` once the controller took it."""

        def refuse(error: str, failure: AttFailure = AttFailure.REFUSED) -> BearerOutputs:
            return [Send(sender, AttCommandCnf(token, self.handle, error, failure))]

        if self.timed_out:
            return refuse(TIMED_OUT_ERROR, AttFailure.TIMED_OUT)
        if kind_of(pdu.opcode) is not PduKind.COMMAND:
            return refuse(f"{type(pdu).__name__} is not an ATT command")
        data = pdu.encode()
        too_long = self._too_long(data)
        if too_long is not None:
            return refuse(too_long)
        return [self._transmit(data, Send(sender, AttCommandCnf(token, self.handle)))]

    def notify(self, ticket: int | None, value_handle: int, value: bytes) -> BearerOutputs:
        """Send a Handle Value Notification, the value cut to ATT_MTU - 3 (3.4.7.1)."""
        if self.timed_out:
            return [] if ticket is None else [Delivered(ticket, TIMED_OUT_ERROR)]
        pdu = HandleValueNotification(value_handle, value[: self.mtu - 3])
        completion = None if ticket is None else Delivered(ticket)
        return [self._transmit(pdu.encode(), completion)]

    def indicate(
        self, ticket: int | None, value_handle: int, value: bytes, now: float
    ) -> BearerOutputs:
        """Queue a Handle Value Indication, the value cut to ATT_MTU - 3 (3.4.7.2);
        :class:`Delivered` when the client confirms it."""
        if self.timed_out:
            return [] if ticket is None else [Delivered(ticket, TIMED_OUT_ERROR)]
        if len(self.indications) >= self.config.indication_queue:
            error = f"{len(self.indications)} indications already wait on this bearer"
            return [] if ticket is None else [Delivered(ticket, error)]
        pdu = HandleValueIndication(value_handle, value)
        self.indications.append(_Indication(ticket, pdu))
        return self._send_next_indication(now)

    def _send_next_indication(self, now: float) -> BearerOutputs:
        if self.states[Flow.OUR_INDICATION] is not Transaction.IDLE or not self.indications:
            return []
        indication = self.indications.popleft()
        # Cut to the MTU of the moment it goes.
        pdu = HandleValueIndication(indication.pdu.handle, indication.pdu.value[: self.mtu - 3])
        indication.pdu = pdu
        self._move(Flow.OUR_INDICATION, TransactionEvent.START)
        self.indication = indication
        return [
            self._transmit(pdu.encode()),
            StartTimer(self._timer(CONFIRMATION_TIMER), now + TRANSACTION_TIMEOUT),
        ]

    def respond(self, pdu: AttPdu) -> BearerOutputs:
        """Send the server's answer to the peer's request being answered (or, for a
        notification or indication the server sends itself, send that)."""
        if self.timed_out:
            self.dropped += 1
            return []
        if isinstance(pdu, HandleValueNotification):
            return self.notify(None, pdu.handle, pdu.value)
        if isinstance(pdu, HandleValueIndication):
            raise TypeError("an indication from the server goes through indicate()")
        if self.states[Flow.PEER_REQUEST] is not Transaction.PENDING:
            logger.error(
                "gatt 0x%04X/%d: %s answers no request; not sent",
                self.handle,
                self.bearer,
                type(pdu).__name__,
            )
            return []
        data = pdu.encode()
        if self._too_long(data) is not None:
            # The server built a response beyond the MTU: a defect there, never a PDU the
            # peer could not take. The request still gets its answer.
            logger.error("gatt 0x%04X: %s longer than the MTU %d", self.handle, pdu, self.mtu)
            request = RESPONSE_FOR.get(pdu.opcode, 0)
            data = ErrorResponse(request, 0, AttErrorCode.UNLIKELY_ERROR).encode()
        self._move(Flow.PEER_REQUEST, TransactionEvent.ANSWER)
        return [self._transmit(data)]

    # -- receiving -------------------------------------------------------------------------
    def receive(self, data: bytes, now: float) -> BearerOutputs:
        """One ATT PDU from the peer."""
        if self.timed_out:
            self.dropped += 1
            return []
        if not data:
            self._drop("an empty ATT PDU")
            return []
        try:
            pdu = decode_pdu(data)
        except AttDecodeError as error:
            return self._undecodable(data[0], error, now)
        match kind_of(pdu.opcode):
            case PduKind.REQUEST:
                return self._peer_request(pdu)
            case PduKind.COMMAND:
                return [ServerRequest(pdu)]
            case PduKind.RESPONSE:
                return self._response(pdu, now)
            case PduKind.NOTIFICATION:
                return self._notification(pdu)
            case PduKind.INDICATION:
                assert isinstance(pdu, HandleValueIndication)
                value = AttValueInd(self.handle, pdu.handle, pdu.value, indication=True)
                return [Emit(value), self._transmit(HandleValueConfirmation().encode())]
            case PduKind.CONFIRMATION:
                return self._confirmation(now)
        return []  # pragma: no cover - PduKind is closed

    def _drop(self, what: str) -> None:
        self.dropped += 1
        logger.warning("gatt 0x%04X/%d: %s dropped", self.handle, self.bearer, what)

    def _undecodable(self, opcode: int, error: AttDecodeError, now: float) -> BearerOutputs:
        match kind_of(opcode):
            case PduKind.COMMAND:
                # 3.3.1, 3.4.9: a command is never answered; one we cannot read is ignored.
                self._drop(f"command 0x{opcode:02X} ({error})")
                return []
            case PduKind.RESPONSE:
                return self._bad_response(opcode, error, now)
            case PduKind.REQUEST:
                # A request we cannot read, or an opcode ATT does not define without the
                # command flag (3.4.9: Request Not Supported): one Error Response, under the
                # transaction rule.
                if self.states[Flow.PEER_REQUEST] is Transaction.PENDING:
                    self._drop(f"request 0x{opcode:02X} before our response to the previous one")
                    return []
                self._move(Flow.PEER_REQUEST, TransactionEvent.START)
                return [ServerDecodeError(error)]
        self._drop(f"PDU 0x{opcode:02X} ({error})")  # a value or confirmation we cannot read
        return []

    def _peer_request(self, pdu: AttPdu) -> BearerOutputs:
        if self.states[Flow.PEER_REQUEST] is Transaction.PENDING:
            self._drop(f"{type(pdu).__name__} before our response to the previous request")
            return []
        self._move(Flow.PEER_REQUEST, TransactionEvent.START)
        if isinstance(pdu, ExchangeMtuRequest):
            return self._exchange_mtu_request(pdu)
        return [ServerRequest(pdu)]

    def _exchange_mtu_request(self, pdu: ExchangeMtuRequest) -> BearerOutputs:
        if self.enhanced:  # 3.4.2.1: not on an enhanced bearer; Zephyr answers the same
            error = ErrorResponse(pdu.opcode, 0, AttErrorCode.REQUEST_NOT_SUPPORTED)
            return self.respond(error)
        outputs = self.respond(ExchangeMtuResponse(self.config.receive_mtu))
        if self.peer_exchanged_mtu:
            # 3.4.2.1: a client sends it once. Answered (with the same MTU, as Bluedroid
            # does) so the peer's transaction ends, but the ATT_MTU stays as it was set.
            logger.warning("gatt 0x%04X: a second Exchange MTU Request answered", self.handle)
            return outputs
        self.peer_exchanged_mtu = True
        return outputs + self._set_mtu(pdu.mtu)

    def _set_mtu(self, peer_mtu: int) -> BearerOutputs:
        # 3.4.2.2: ATT_MTU = min(Client Rx MTU, Server Rx MTU); a value below the default is
        # incorrect and leaves the ATT_MTU unchanged.
        if peer_mtu < MIN_LE_MTU:
            logger.warning("gatt 0x%04X: peer's Rx MTU %d ignored", self.handle, peer_mtu)
            return []
        mtu = min(peer_mtu, self.config.receive_mtu)
        if mtu == self.mtu:
            return []
        self.mtu = mtu
        return [Emit(AttMtuInd(self.handle, mtu, self.bearer))]

    def _response(self, pdu: AttPdu, now: float) -> BearerOutputs:
        request = self.outstanding
        if request is None:
            self._drop(f"{type(pdu).__name__} with no request outstanding")
            return []
        expected = RESPONSE_TO[AttOpcode(request.pdu.opcode)]
        if isinstance(pdu, ErrorResponse):
            if pdu.request_opcode != request.pdu.opcode:
                self._drop(f"Error Response for 0x{pdu.request_opcode:02X} (not ours)")
                return []
        elif pdu.opcode != expected:
            self._drop(f"{type(pdu).__name__} while {type(request.pdu).__name__} is outstanding")
            return []
        outputs = self._end_request(AttExchangeCnf(request.token, self.handle, response=pdu))
        if isinstance(pdu, ExchangeMtuResponse):
            assert isinstance(request.pdu, ExchangeMtuRequest)
            outputs += self._set_mtu(min(pdu.mtu, request.pdu.mtu))
        return outputs + self._send_next_request(now)

    def _bad_response(self, opcode: int, error: AttDecodeError, now: float) -> BearerOutputs:
        request = self.outstanding
        if request is None or (
            opcode != AttOpcode.ERROR_RESPONSE
            and opcode != RESPONSE_TO[AttOpcode(request.pdu.opcode)]
        ):
            self._drop(f"malformed response 0x{opcode:02X} ({error})")
            return []
        # A malformed answer to our request ends it as a failure (the client's parser never
        # sees it), and the next request goes.
        cnf = AttExchangeCnf(
            request.token,
            self.handle,
            error=f"malformed response: {error}",
            failure=AttFailure.MALFORMED_RESPONSE,
        )
        return self._end_request(cnf) + self._send_next_request(now)

    def _end_request(self, cnf: AttExchangeCnf) -> BearerOutputs:
        request = self.outstanding
        assert request is not None
        self.outstanding = None
        self._move(Flow.OUR_REQUEST, TransactionEvent.ANSWER)
        return [CancelTimer(self._timer(TRANSACTION_TIMER)), Send(request.sender, cnf)]

    def _notification(self, pdu: AttPdu) -> BearerOutputs:
        if isinstance(pdu, MultipleHandleValueNotification):
            return [
                Emit(AttValueInd(self.handle, handle, value, indication=False))
                for handle, value in pdu.entries
            ]
        assert isinstance(pdu, HandleValueNotification)
        return [Emit(AttValueInd(self.handle, pdu.handle, pdu.value, indication=False))]

    def _confirmation(self, now: float) -> BearerOutputs:
        indication = self.indication
        if indication is None:
            self._drop("a Handle Value Confirmation with no indication outstanding")
            return []
        self.indication = None
        self._move(Flow.OUR_INDICATION, TransactionEvent.ANSWER)
        outputs: BearerOutputs = [CancelTimer(self._timer(CONFIRMATION_TIMER))]
        if indication.ticket is not None:
            outputs.append(Delivered(indication.ticket))
        return outputs + self._send_next_indication(now)

    # -- L2CAP's confirmations, timers, the end ----------------------------------------------
    def sent(
        self, count: int, error: str | None = None, failure: AttFailure = AttFailure.REFUSED
    ) -> BearerOutputs:
        """L2CAP confirmed ``count`` PDUs handed to it (taken by the controller, or not sent
        with ``error``), in the order they were handed."""
        outputs: BearerOutputs = []
        for _ in range(min(count, len(self.completions))):
            completion = self.completions.popleft()
            match completion:
                case Send(to=to, message=AttCommandCnf(token=token)):
                    cnf = AttCommandCnf(
                        token, self.handle, error, None if error is None else failure
                    )
                    outputs.append(Send(to, cnf))
                case Delivered(ticket=ticket):
                    outputs.append(Delivered(ticket, error))
        return outputs

    def timer_expired(self, name: str, now: float) -> BearerOutputs:
        """Our request's or our indication's 30 s passed (3.3.3)."""
        flow = Flow.OUR_REQUEST if name == TRANSACTION_TIMER else Flow.OUR_INDICATION
        if self.states[flow] is not Transaction.PENDING:
            return []  # answered in the same wake-up as the timer fired
        self._move(flow, TransactionEvent.TIME_OUT)
        for other in Flow:
            if other is not flow:
                self._move(other, TransactionEvent.BEARER_TIMED_OUT)
        logger.warning("gatt 0x%04X/%d: %s timed out", self.handle, self.bearer, flow.value)
        failed = self._fail_all(TIMED_OUT_ERROR, AttFailure.TIMED_OUT)
        return [*failed, BearerTimedOut(self.handle, self.bearer)]

    def close(self, reason: str) -> BearerOutputs:
        """The link (or the enhanced bearer's channel) is gone: everything waiting fails."""
        return [*self._fail_all(reason, AttFailure.LINK_LOST), ReleaseTimers(self.owner)]

    def _fail_all(self, error: str, failure: AttFailure) -> BearerOutputs:
        outputs: BearerOutputs = []
        requests = ([self.outstanding] if self.outstanding is not None else []) + list(self.queue)
        self.outstanding = None
        self.queue.clear()
        for request in requests:
            cnf = AttExchangeCnf(request.token, self.handle, error=error, failure=failure)
            outputs.append(Send(request.sender, cnf))
        indications = ([self.indication] if self.indication is not None else []) + list(
            self.indications
        )
        self.indication = None
        self.indications.clear()
        outputs += [Delivered(i.ticket, error) for i in indications if i.ticket is not None]
        if failure is AttFailure.LINK_LOST:  # what L2CAP held will never be confirmed
            outputs += self.sent(len(self.completions), error, failure)
        return outputs


# The request opcode each response answers (the inverse of RESPONSE_TO).
RESPONSE_FOR: dict[int, int] = {response: request for request, response in RESPONSE_TO.items()}
