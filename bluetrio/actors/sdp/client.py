"""The SDP client (Core 5.4 Vol 3 Part B 4.4-4.7): queries on a BR/EDR link, one at a time.

Each link the client queries gets a :class:`ClientLink`: its channel (opened on demand, closed
after :data:`IDLE_TIMEOUT` without a query, moving through
:data:`~bluetrio.actors.sdp.states.CLIENT_TRANSITIONS`), the queries waiting in order, and the
one running. A running query sends its request, waits at most :data:`RESPONSE_TIMEOUT` for each
response, follows the continuation state the server returns (a new request with a new
transaction ID, 4.3) and joins the parts, within :data:`MAX_RESPONSE_SIZE` octets and
:data:`MAX_ROUNDS` requests. Every response is checked before it is used: its transaction ID,
its PDU ID, its counts, and at the end the data elements it joined to; anything wrong fails that
query with a reason (:class:`~bluetrio.messages.sdp_service.QueryFailure`), never the stack.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable

import attrs

from bluetrio.actors.effects import (
    CancelTimer,
    Effects,
    Emit,
    ReleaseTimers,
    Send,
    StartTimer,
    TimerKey,
)
from bluetrio.actors.sdp.states import CLIENT_TRANSITIONS, ClientChannelEvent, ClientChannelState
from bluetrio.actors.state_machine import transition
from bluetrio.errors import DecodeError
from bluetrio.messages.l2cap_service import (
    L2caConnectCnf,
    L2caConnectReq,
    L2caDataReq,
    L2caDisconnectReq,
)
from bluetrio.messages.sdp import (
    ErrorCode,
    ErrorResponse,
    SdpPdu,
    SdpRequest,
    Sequence,
    ServiceAttributeRequest,
    ServiceAttributeResponse,
    ServiceSearchAttributeRequest,
    ServiceSearchAttributeResponse,
    ServiceSearchRequest,
    ServiceSearchResponse,
    Uuid,
    decode_element_exactly,
    split_pdu,
)
from bluetrio.messages.sdp_records import SDP_PSM, ServiceRecord
from bluetrio.messages.sdp_service import (
    QueryFailure,
    SdpQueryCnf,
    SdpQueryReq,
    ServiceAttributes,
    ServiceSearch,
)

logger = logging.getLogger(__name__)

# Seconds the server has to answer one request. The spec sets no timer for SDP; this is
# well past a server that is slow because the link is busy, and bounds a silent one.
RESPONSE_TIMEOUT = 20.0
# Seconds the channel stays open after its last query, so that the queries a profile makes
# back to back (search, then attributes) share one channel.
IDLE_TIMEOUT = 2.0
# Queries waiting on one link beyond the running one.
MAX_QUEUED = 16
# What a query may gather over its continuations: octets and requests.
MAX_RESPONSE_SIZE = 256 * 1024
MAX_ROUNDS = 512
# The largest SDU we receive on the SDP channel (the BR/EDR default, Vol 3 Part A 5.1).
CLIENT_MTU = 672
# MaximumAttributeByteCount we ask for: as much as the server will put in one response.
MAXIMUM_ATTRIBUTE_BYTES = 0xFFFF


@attrs.frozen
class QueryFailed:
    """Why the running query ends without a result."""

    failure: QueryFailure
    error: str
    error_code: int | None = None


@attrs.define
class WaitingQuery:
    sender: str
    request: SdpQueryReq


@attrs.define
class Transaction:
    """The query running on a link: the request (without continuation state), the
    transaction ID of the last request sent, and what the responses gave so far."""

    query: WaitingQuery
    request: SdpRequest
    transaction_id: int
    parts: list[bytes] = attrs.field(factory=list)
    size: int = 0
    handles: list[int] = attrs.field(factory=list)
    total_records: int | None = None
    rounds: int = 1


@attrs.define
class ClientLink:
    handle: int
    state: ClientChannelState = ClientChannelState.CLOSED
    cid: int = 0
    peer_mtu: int = 48
    queue: collections.deque[WaitingQuery] = attrs.field(factory=collections.deque)
    current: Transaction | None = None
    next_transaction_id: int = 0
    connect_token: int = 0

    def move(self, event: ClientChannelEvent) -> None:
        self.state = transition(CLIENT_TRANSITIONS, self.state, event)


def timer_owner(handle: int) -> tuple[str, int]:
    return ("sdp client", handle)


def _response_timer(handle: int) -> TimerKey:
    return TimerKey(timer_owner(handle), "response")


def _idle_timer(handle: int) -> TimerKey:
    return TimerKey(timer_owner(handle), "idle")


def _first_request(query: SdpQueryReq) -> SdpRequest:
    match query.query:
        case ServiceSearch(uuids, maximum):
            return ServiceSearchRequest(tuple(Uuid.of(value) for value in uuids), maximum)
        case ServiceAttributes(record_handle, ranges):
            return ServiceAttributeRequest(record_handle, MAXIMUM_ATTRIBUTE_BYTES, ranges)
        case _:
            pattern = tuple(Uuid.of(value) for value in query.query.uuids)
            ranges = query.query.attribute_ids
            return ServiceSearchAttributeRequest(pattern, MAXIMUM_ATTRIBUTE_BYTES, ranges)


_RESPONSE_OF: dict[type[SdpPdu], type[SdpPdu]] = {
    ServiceSearchRequest: ServiceSearchResponse,
    ServiceAttributeRequest: ServiceAttributeResponse,
    ServiceSearchAttributeRequest: ServiceSearchAttributeResponse,
}


class SdpClient:
    """Every link's client state; ``new_token`` numbers the requests sent to L2CAP."""

    def __init__(self, new_token: Callable[[], int]) -> None:
        self.links: dict[int, ClientLink] = {}
        self.new_token = new_token
        self.disconnect_tokens: dict[int, int] = {}  # token of L2caDisconnectReq -> handle

    # -- queries --------------------------------------------------------------------------------
    def query(self, sender: str, request: SdpQueryReq, now: float) -> Effects:
        link = self.links.get(request.handle)
        if link is None:
            link = self.links[request.handle] = ClientLink(request.handle)
        if len(link.queue) >= MAX_QUEUED:
            return [
                Send(
                    sender,
                    SdpQueryCnf(
                        request.token,
                        request.handle,
                        failure=QueryFailure.BUSY,
                        error=f"{MAX_QUEUED} queries already wait on link 0x{link.handle:04X}",
                    ),
                )
            ]
        link.queue.append(WaitingQuery(sender, request))
        state = link.state
        link.move(ClientChannelEvent.QUERY_QUEUED)
        if state is ClientChannelState.CLOSED:
            return self._open(link)
        if state is ClientChannelState.OPEN and link.current is None:
            return [CancelTimer(_idle_timer(link.handle)), *self._start_next(link, now)]
        return []

    def _open(self, link: ClientLink) -> Effects:
        link.connect_token = self.new_token()
        return [Emit(L2caConnectReq(link.connect_token, link.handle, SDP_PSM, mtu=CLIENT_MTU))]

    def _start_next(self, link: ClientLink, now: float) -> Effects:
        if not link.queue:
            return [StartTimer(_idle_timer(link.handle), now + IDLE_TIMEOUT)]
        waiting = link.queue.popleft()
        request = _first_request(waiting.request)
        link.current = Transaction(waiting, request, self._transaction_id(link))
        return self._send(link, request, link.current.transaction_id, now)

    @staticmethod
    def _transaction_id(link: ClientLink) -> int:
        link.next_transaction_id = (link.next_transaction_id + 1) & 0xFFFF
        return link.next_transaction_id

    def _send(self, link: ClientLink, request: SdpPdu, transaction_id: int, now: float) -> Effects:
        return [
            Emit(L2caDataReq(link.handle, link.cid, request.to_bytes(transaction_id))),
            StartTimer(_response_timer(link.handle), now + RESPONSE_TIMEOUT),
        ]

    def _answer(self, link: ClientLink, answer: SdpQueryCnf, now: float) -> Effects:
        """End the running query with ``answer`` and start the next."""
        assert link.current is not None
        sender = link.current.query.sender
        link.current = None
        effects: Effects = [CancelTimer(_response_timer(link.handle)), Send(sender, answer)]
        if link.state is ClientChannelState.OPEN:
            effects += self._start_next(link, now)
        return effects

    @staticmethod
    def _failure(waiting: WaitingQuery, failure: QueryFailed) -> SdpQueryCnf:
        return SdpQueryCnf(
            waiting.request.token,
            waiting.request.handle,
            failure=failure.failure,
            error_code=failure.error_code,
            error=failure.error,
        )

    def _fail_all(self, link: ClientLink, failure: QueryFailed) -> Effects:
        effects: Effects = []
        waiting = list(link.queue)
        link.queue.clear()
        if link.current is not None:
            waiting.insert(0, link.current.query)
            link.current = None
        for query in waiting:
            effects.append(Send(query.sender, self._failure(query, failure)))
        return effects

    # -- the channel ----------------------------------------------------------------------------
    def connect_cnf(self, message: L2caConnectCnf, now: float) -> Effects:
        link = self.links.get(message.handle)
        if link is None or link.connect_token != message.token:
            return []
        if link.state is not ClientChannelState.CONNECTING:
            return []
        if message.result != 0 or message.parameters is None:
            link.move(ClientChannelEvent.CONNECT_FAILED)
            failure = QueryFailed(
                QueryFailure.CHANNEL_FAILED,
                f"SDP channel refused (result 0x{message.result:04X}): {message.error}",
            )
            effects = self._fail_all(link, failure)
            del self.links[link.handle]
            return effects
        link.move(ClientChannelEvent.CONNECTED)
        link.cid = message.cid
        link.peer_mtu = message.parameters.peer_mtu
        return self._start_next(link, now)

    def owns(self, handle: int, cid: int) -> bool:
        link = self.links.get(handle)
        return link is not None and link.cid == cid and link.state is not ClientChannelState.CLOSED

    def disconnected(self, handle: int, now: float) -> Effects:
        """Our channel on ``handle`` closed (the peer, the link, or our request)."""
        link = self.links.get(handle)
        if link is None:
            return []
        ours = link.state is ClientChannelState.DISCONNECTING
        link.move(ClientChannelEvent.DISCONNECTED)
        link.cid = 0
        effects: Effects = [ReleaseTimers(timer_owner(handle))]
        if ours and link.queue:
            link.move(ClientChannelEvent.QUERY_QUEUED)
            return effects + self._open(link)
        effects += self._fail_all(
            link, QueryFailed(QueryFailure.CHANNEL_FAILED, "the SDP channel was closed")
        )
        del self.links[handle]
        return effects

    def disconnect_confirmed(self, token: int, now: float) -> Effects:
        handle = self.disconnect_tokens.pop(token, None)
        return [] if handle is None else self.disconnected(handle, now)

    def _close(self, link: ClientLink) -> Effects:
        token = self.new_token()
        self.disconnect_tokens[token] = link.handle
        return [Emit(L2caDisconnectReq(token, link.handle, link.cid))]

    def link_down(self, handle: int) -> Effects:
        link = self.links.pop(handle, None)
        if link is None:
            return []
        for token in [t for t, h in self.disconnect_tokens.items() if h == handle]:
            del self.disconnect_tokens[token]
        failure = QueryFailed(QueryFailure.CHANNEL_FAILED, "the link went down")
        return [ReleaseTimers(timer_owner(handle)), *self._fail_all(link, failure)]

    # -- timers ---------------------------------------------------------------------------------
    def timer_expired(self, key: TimerKey, now: float) -> Effects:
        owner = key.owner
        assert isinstance(owner, tuple)
        link = self.links.get(owner[1])
        if link is None or link.state is not ClientChannelState.OPEN:
            return []
        if key.name == "idle":
            if link.current is not None or link.queue:
                return []
            link.move(ClientChannelEvent.IDLE_TIMEOUT)
            return self._close(link)
        if link.current is None:
            return []
        transaction = link.current
        link.current = None
        link.move(ClientChannelEvent.RESPONSE_TIMEOUT)
        failure = QueryFailed(
            QueryFailure.TIMEOUT, f"no SDP response within {RESPONSE_TIMEOUT:g} s"
        )
        # The channel is closed: a late response must not be taken for the next query's.
        return [
            Send(transaction.query.sender, self._failure(transaction.query, failure)),
            *self._close(link),
        ]

    # -- responses ------------------------------------------------------------------------------
    def data(self, handle: int, sdu: bytes, now: float) -> Effects:
        link = self.links[handle]
        transaction = link.current
        if transaction is None:
            logger.info("SDP response on 0x%04X with no request outstanding, dropped", handle)
            return []
        outcome: QueryFailed | SdpQueryCnf
        more = self._take(transaction, sdu)
        if isinstance(more, bytes):
            transaction.rounds += 1
            if transaction.rounds <= MAX_ROUNDS:
                transaction.transaction_id = self._transaction_id(link)
                request = attrs.evolve(transaction.request, continuation=more)
                return self._send(link, request, transaction.transaction_id, now)
            outcome = QueryFailed(
                QueryFailure.TOO_LARGE, f"more than {MAX_ROUNDS} continuation rounds"
            )
        else:
            outcome = self._result(transaction) if more is None else more
        if isinstance(outcome, QueryFailed):
            logger.info("SDP query on 0x%04X failed: %s", handle, outcome.error)
            return self._answer(link, self._failure(transaction.query, outcome), now)
        return self._answer(link, outcome, now)

    @staticmethod
    def _take(transaction: Transaction, sdu: bytes) -> bytes | QueryFailed | None:
        """Check one response and keep what it carries; the continuation state when more
        follows, None when the response is complete, or why the query fails."""
        try:
            raw = split_pdu(sdu)
            response = raw.decode()
        except DecodeError as error:
            return QueryFailed(QueryFailure.MALFORMED_RESPONSE, f"malformed: {error}")
        if raw.transaction_id != transaction.transaction_id:
            return QueryFailed(
                QueryFailure.MALFORMED_RESPONSE,
                f"response with transaction ID 0x{raw.transaction_id:04X}, "
                f"expected 0x{transaction.transaction_id:04X}",
            )
        if isinstance(response, ErrorResponse):
            try:
                name = ErrorCode(response.error_code).name
            except ValueError:
                name = "unknown"
            return QueryFailed(
                QueryFailure.PEER_ERROR,
                f"the server answered error 0x{response.error_code:04X} ({name})",
                response.error_code,
            )
        expected = _RESPONSE_OF[type(transaction.request)]
        if type(response) is not expected:
            return QueryFailed(
                QueryFailure.MALFORMED_RESPONSE,
                f"{type(response).__name__} to a {type(transaction.request).__name__}",
            )
        if isinstance(response, ServiceSearchResponse):
            request = transaction.request
            assert isinstance(request, ServiceSearchRequest)
            total = response.total_records
            if transaction.total_records is None:
                transaction.total_records = total
            if total != transaction.total_records or total > request.maximum_records:
                return QueryFailed(
                    QueryFailure.MALFORMED_RESPONSE,
                    f"TotalServiceRecordCount {total} (asked at most {request.maximum_records})",
                )
            if len(transaction.handles) + len(response.handles) > total:
                return QueryFailed(
                    QueryFailure.MALFORMED_RESPONSE, f"more handles than the {total} announced"
                )
            transaction.handles += response.handles
            if response.continuation and not response.handles:
                return QueryFailed(QueryFailure.MALFORMED_RESPONSE, "a part without handles")
            return response.continuation or None
        assert isinstance(response, ServiceAttributeResponse | ServiceSearchAttributeResponse)
        part = (
            response.attribute_list
            if isinstance(response, ServiceAttributeResponse)
            else response.attribute_lists
        )
        transaction.size += len(part)
        if transaction.size > MAX_RESPONSE_SIZE:
            return QueryFailed(QueryFailure.TOO_LARGE, f"more than {MAX_RESPONSE_SIZE} octets")
        if response.continuation and not part:
            return QueryFailed(QueryFailure.MALFORMED_RESPONSE, "a part without attribute bytes")
        transaction.parts.append(part)
        return response.continuation or None

    @staticmethod
    def _result(transaction: Transaction) -> SdpQueryCnf | QueryFailed:
        waiting = transaction.query.request
        if isinstance(transaction.request, ServiceSearchRequest):
            if len(transaction.handles) != transaction.total_records:
                return QueryFailed(
                    QueryFailure.MALFORMED_RESPONSE,
                    f"{len(transaction.handles)} handles of the {transaction.total_records} "
                    "announced",
                )
            return SdpQueryCnf(waiting.token, waiting.handle, tuple(transaction.handles))
        try:
            element = decode_element_exactly(b"".join(transaction.parts))
            if isinstance(transaction.request, ServiceAttributeRequest):
                records: tuple[ServiceRecord, ...] = (ServiceRecord.from_element(element),)
            else:
                if not isinstance(element, Sequence):
                    raise DecodeError("the attribute lists are not a data element sequence")
                records = tuple(ServiceRecord.from_element(item) for item in element.items)
        except DecodeError as error:
            return QueryFailed(
                QueryFailure.MALFORMED_RESPONSE, f"malformed attribute list: {error}"
            )
        return SdpQueryCnf(waiting.token, waiting.handle, records=records)
