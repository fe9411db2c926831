"""The SDP server's request handling (Core 5.4 Vol 3 Part B 4.4-4.7): one request PDU in, one
response PDU out, for one connection.

A response too large for one PDU (the attribute bytes past the client's
MaximumAttributeByteCount, or past what the channel's MTU carries) is split, each part with a
continuation state the client sends back to get the next (4.3). The whole response is built
once, from the first request, and kept for the connection with the request it answers and the
exact state issued for its next part; a later request gets that part only if its parameters are
the first request's and its state is byte for byte the one issued last. Anything else (a state
this server never issued, one for another request or connection, one replayed after the client
changed its request) is answered with "Invalid Continuation State" and drops what was kept. The
offset into the response is never read from the wire, so no state can make the server read
outside the response it built (CVE-2017-0785, CVE-2017-1000250). A connection keeps at most one
such response, released with the connection.
"""

from __future__ import annotations

import logging

import attrs

from bluetrio.actors.sdp.database import RecordDatabase, attribute_lists
from bluetrio.errors import DecodeError
from bluetrio.messages.sdp import (
    PDU_HEADER_SIZE,
    REQUEST_IDS,
    ErrorCode,
    ErrorResponse,
    SdpPdu,
    SdpRequest,
    ServiceAttributeRequest,
    ServiceAttributeResponse,
    ServiceSearchAttributeResponse,
    ServiceSearchRequest,
    ServiceSearchResponse,
    split_pdu,
)

logger = logging.getLogger(__name__)

# The continuation state we issue: a serial number and the offset of the next part, 8 octets
# (4.3 allows 16). Its content only makes states unique; what counts is equality with the one
# kept.
CONTINUATION_SIZE = 8
# Octets of a response PDU around its attribute bytes: the header (5), the byte count (2) and
# the continuation state with its length (1 + 8).
_ATTRIBUTE_OVERHEAD = PDU_HEADER_SIZE + 2 + 1 + CONTINUATION_SIZE
# Around the handles of a service search response: header, the two counts, the state.
_SEARCH_OVERHEAD = PDU_HEADER_SIZE + 2 + 2 + 1 + CONTINUATION_SIZE
# The smallest MTU of a BR/EDR channel (Vol 3 Part A 5.1) leaves room for parts.
MIN_MTU = 48


@attrs.define
class PendingResponse:
    """A response being sent in parts: the request it answers (PDU ID and parameters without
    the continuation state), all of it, how far it went and the state issued for the rest."""

    request_key: tuple[int, bytes]
    payload: bytes
    offset: int
    state: bytes
    total_records: int = 0  # service search: TotalServiceRecordCount


@attrs.define
class ServerConnection:
    """One client's channel: the MTU it receives and the response it is reading in parts."""

    peer_mtu: int
    pending: PendingResponse | None = None


def _error(transaction_id: int, code: ErrorCode) -> bytes:
    return ErrorResponse(int(code)).to_bytes(transaction_id)


class SdpServer:
    """Answers requests from the database; one :class:`ServerConnection` per client."""

    def __init__(self, database: RecordDatabase) -> None:
        self.database = database
        self._serial = 0
        self.invalid_continuations = 0  # refused states, for the logs and the tests

    def respond(self, connection: ServerConnection, data: bytes) -> bytes:
        """The response PDU to request PDU ``data``."""
        try:
            raw = split_pdu(data)
        except DecodeError:
            # Not even a header: the transaction ID is what could be read of it.
            transaction_id = int.from_bytes(data[1:3], "big") if len(data) >= 3 else 0
            return _error(transaction_id, ErrorCode.INVALID_PDU_SIZE)
        if not raw.length_ok:
            return _error(raw.transaction_id, ErrorCode.INVALID_PDU_SIZE)
        if raw.pdu_id not in REQUEST_IDS:
            return _error(raw.transaction_id, ErrorCode.INVALID_REQUEST_SYNTAX)
        try:
            request = raw.decode()
        except DecodeError as error:
            logger.info("SDP request 0x%02X refused: %s", raw.pdu_id, error)
            return _error(raw.transaction_id, ErrorCode.INVALID_REQUEST_SYNTAX)
        tid = raw.transaction_id
        if not isinstance(request, SdpRequest):  # pragma: no cover - REQUEST_IDS are these
            return _error(tid, ErrorCode.INVALID_REQUEST_SYNTAX)
        key = (raw.pdu_id, attrs.evolve(request, continuation=b"").encode_fields())
        continuation = request.continuation
        if continuation:
            pending = connection.pending
            connection.pending = None
            if pending is None or pending.request_key != key or pending.state != continuation:
                self.invalid_continuations += 1
                logger.info("SDP continuation state %s refused", continuation.hex())
                return _error(tid, ErrorCode.INVALID_CONTINUATION_STATE)
            return self._next_part(connection, pending, request, tid)
        connection.pending = None
        match request:
            case ServiceSearchRequest():
                found = self.database.search(uuid.full for uuid in request.pattern)
                found = found[: request.maximum_records]
                payload = b"".join(handle.to_bytes(4, "big") for handle in found)
                pending = PendingResponse(key, payload, 0, b"", len(found))
            case ServiceAttributeRequest():
                if request.record_handle not in self.database:
                    return _error(tid, ErrorCode.INVALID_SERVICE_RECORD_HANDLE)
                selected = self.database.selected(request.record_handle, request.attribute_ids)
                pending = PendingResponse(key, selected.element().encode(), 0, b"")
            case _:
                found = self.database.search(uuid.full for uuid in request.pattern)
                lists = []
                for handle in found:
                    selected = self.database.selected(handle, request.attribute_ids)
                    if selected.attributes:
                        lists.append(selected.element().encode())
                pending = PendingResponse(key, attribute_lists(lists), 0, b"")
        return self._next_part(connection, pending, request, tid)

    def _next_part(
        self, connection: ServerConnection, pending: PendingResponse, request: SdpRequest, tid: int
    ) -> bytes:
        """The response carrying the part of ``pending`` at its offset; keeps ``pending``
        with a fresh state when more follows."""
        mtu = max(connection.peer_mtu, MIN_MTU)
        if isinstance(request, ServiceSearchRequest):
            room = (mtu - _SEARCH_OVERHEAD) // 4 * 4
        else:
            room = min(request.maximum_bytes, mtu - _ATTRIBUTE_OVERHEAD)
        start = pending.offset
        end = min(start + room, len(pending.payload))
        part = pending.payload[start:end]
        state = b""
        if end < len(pending.payload):
            self._serial = (self._serial + 1) & 0xFFFFFFFF
            state = self._serial.to_bytes(4, "big") + end.to_bytes(4, "big")
            pending.offset, pending.state = end, state
            connection.pending = pending
        response: SdpPdu
        if isinstance(request, ServiceSearchRequest):
            handles = tuple(
                int.from_bytes(part[index : index + 4], "big") for index in range(0, len(part), 4)
            )
            response = ServiceSearchResponse(pending.total_records, handles, state)
        elif isinstance(request, ServiceAttributeRequest):
            response = ServiceAttributeResponse(part, state)
        else:
            response = ServiceSearchAttributeResponse(part, state)
        return response.to_bytes(tid)
