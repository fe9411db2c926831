"""The GATT client's procedures (Core 5.4 Vol 3 Part G 4) as sans-IO cores.

Each procedure is a generator: it yields the next ATT request, is sent the server's answer
(the response, or an Error Response), and returns its result when it is done::

    procedure = read(0x0003, bearer)
    request = next(procedure)
    while True:
        try:
            request = procedure.send(answer_of(request))
        except StopIteration as done:
            value = done.value
            break

:func:`run_procedure` is that loop for a synchronous ``answer`` (tests);
:class:`bluetrio.gatt.GattClient` drives the same generators over an ATT bearer. Nothing here
imports trio or does I/O.

Every answer is checked before it is used: it must be the request's response, or an Error
Response to that request's opcode; handles must lie in the range asked for and increase from
one entry to the next, so each step of a discovery starts past the last one and no peer can
keep it looping; entry sizes must be those the procedure defines (a characteristic
declaration of 5 or 19 octets, an included service of 4 or 6, a UUID of 2 or 16); values may
not be longer than the ATT_MTU lets the response carry. A broken rule ends the procedure with
:class:`~bluetrio.errors.GattProtocolError`; an Error Response ends it with
:class:`~bluetrio.errors.GattAttributeError` (except Attribute Not Found, which ends a search
with what it found so far, 4.4-4.7).
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Protocol, TypeAlias, TypeVar

from bluetrio.errors import DecodeError, GattAttributeError, GattProtocolError
from bluetrio.gatt.remote import RemoteCharacteristic, RemoteDescriptor, RemoteService
from bluetrio.messages.att import (
    DEFAULT_MTU,
    MAX_VALUE_LENGTH,
    AttErrorCode,
    AttPdu,
    ErrorResponse,
    ExchangeMtuRequest,
    ExchangeMtuResponse,
    ExecuteWriteRequest,
    ExecuteWriteResponse,
    FindByTypeValueRequest,
    FindByTypeValueResponse,
    FindInformationRequest,
    FindInformationResponse,
    PrepareWriteRequest,
    PrepareWriteResponse,
    ReadBlobRequest,
    ReadBlobResponse,
    ReadByGroupTypeRequest,
    ReadByGroupTypeResponse,
    ReadByTypeRequest,
    ReadByTypeResponse,
    ReadMultipleRequest,
    ReadMultipleResponse,
    ReadMultipleVariableRequest,
    ReadMultipleVariableResponse,
    ReadRequest,
    ReadResponse,
    WriteRequest,
    WriteResponse,
)
from bluetrio.messages.gatt_declarations import (
    CHARACTERISTIC_UUID,
    INCLUDE_UUID,
    PRIMARY_SERVICE_UUID,
    Properties,
)
from bluetrio.messages.uuids import att_uuid_bytes, uuid_from_att_bytes

__all__ = [
    "FIRST_HANDLE",
    "LAST_HANDLE",
    "MtuSource",
    "Procedure",
    "cccd_value",
    "discover_characteristics",
    "discover_descriptors",
    "discover_primary_services",
    "exchange_mtu",
    "find_included_services",
    "read",
    "read_by_uuid",
    "read_long",
    "read_multiple",
    "read_multiple_variable",
    "reliable_write",
    "run_procedure",
    "write",
    "write_long",
]

T = TypeVar("T")
R = TypeVar("R", bound=AttPdu)
# A procedure yields requests, is sent their answers and returns its result.
Procedure: TypeAlias = Generator[AttPdu, AttPdu, T]

FIRST_HANDLE = 0x0001
LAST_HANDLE = 0xFFFF
# Octets of a response or request around the value (Vol 3 Part F 3.4.4.4, 3.4.4.6, 3.4.5.1,
# 3.4.6.1): the opcode; opcode and handle; opcode, handle and offset.
READ_OVERHEAD = 1
WRITE_OVERHEAD = 3
PREPARE_OVERHEAD = 5
# Client Characteristic Configuration bits (Vol 3 Part G 3.3.3.3, table 3.11).
CCCD_NOTIFY = 0x0001
CCCD_INDICATE = 0x0002


class MtuSource(Protocol):
    """Where a procedure reads the bearer's current ATT_MTU (an ``AttClientBearer``)."""

    @property
    def mtu(self) -> int: ...


def run_procedure(procedure: Procedure[T], answer: Callable[[AttPdu], AttPdu]) -> T:
    """Run ``procedure`` to its end, each request answered by ``answer``."""
    try:
        request = next(procedure)
        while True:
            request = procedure.send(answer(request))
    except StopIteration as done:
        result: T = done.value
        return result


# -- checks shared by every procedure ---------------------------------------------------------


def _operation(request: AttPdu) -> str:
    return type(request).__name__.removesuffix("Request")


def _answer(request: AttPdu, answer: AttPdu, expected: type[R]) -> R:
    """The response ``expected`` for ``request``; an Error Response to it raises
    :class:`GattAttributeError`, anything else :class:`GattProtocolError`."""
    if isinstance(answer, expected):
        return answer
    operation = _operation(request)
    if isinstance(answer, ErrorResponse):
        if answer.request_opcode != request.opcode:
            raise GattProtocolError(
                f"{operation}: an Error Response to opcode 0x{answer.request_opcode:02X} "
                f"answered opcode 0x{request.opcode:02X}"
            )
        raise GattAttributeError(answer.error_code, answer.handle, operation)
    raise GattProtocolError(f"{operation}: answered with {type(answer).__name__}")


def _answer_or_end(request: AttPdu, answer: AttPdu, expected: type[R]) -> R | None:
    """As :func:`_answer`, but None for Attribute Not Found: the end of a search."""
    if (
        isinstance(answer, ErrorResponse)
        and answer.request_opcode == request.opcode
        and answer.error_code == AttErrorCode.ATTRIBUTE_NOT_FOUND
    ):
        return None
    return _answer(request, answer, expected)


def _broken(request: AttPdu, problem: str) -> GattProtocolError:
    return GattProtocolError(f"{_operation(request)}: {problem}")


class _Cursor:
    """The handles one search still covers: each entry of an answer must lie in
    ``next``..``end`` and lie past the previous one, so every request of the search starts
    further on than the last (no peer can make it repeat or go back)."""

    def __init__(self, start: int, end: int) -> None:
        self.next = start
        self.end = end

    @property
    def done(self) -> bool:
        return self.next > self.end

    def take(self, request: AttPdu, handle: int, last: int | None = None) -> None:
        """Accept an entry at ``handle`` (spanning to ``last``, for a group)."""
        last = handle if last is None else last
        if not self.next <= handle <= self.end:
            raise _broken(
                request,
                f"handle 0x{handle:04X} outside 0x{self.next:04X}..0x{self.end:04X}"
                " (out of the range asked for, repeated or going back)",
            )
        if not handle <= last <= self.end:
            raise _broken(request, f"a group 0x{handle:04X}..0x{last:04X} ends outside its range")
        self.next = last + 1

    def nonempty(self, request: AttPdu, entries: Sequence[object]) -> None:
        if not entries:
            raise _broken(request, "a response with no entry")


def _uuid(request: AttPdu, data: bytes) -> uuid_module.UUID:
    try:
        return uuid_from_att_bytes(data)
    except DecodeError as error:
        raise _broken(request, str(error)) from None


def _check_value(request: AttPdu, value: bytes, limit: int) -> bytes:
    if len(value) > limit:
        raise _broken(request, f"a value of {len(value)} octets, over the {limit} that fit")
    return value


def _u16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "little")


# -- MTU (4.3.1) ------------------------------------------------------------------------------


def exchange_mtu(mtu: int) -> Procedure[int]:
    """Exchange MTU (4.3.1): offer our receive MTU ``mtu``; the ATT_MTU that results, the
    smaller of both (the default 23 when either is below it, Vol 3 Part F 3.4.2.2)."""
    request = ExchangeMtuRequest(mtu)
    answer = _answer(request, (yield request), ExchangeMtuResponse)
    if answer.mtu < DEFAULT_MTU or mtu < DEFAULT_MTU:
        return DEFAULT_MTU
    return min(mtu, answer.mtu)


# -- Primary service discovery (4.4) ----------------------------------------------------------


def discover_primary_services(
    uuid: uuid_module.UUID | None = None,
) -> Procedure[tuple[RemoteService, ...]]:
    """Discover All Primary Services (4.4.1: Read By Group Type of 0x2800 over the whole
    database), or by service UUID (4.4.2: Find By Type Value), until Attribute Not Found
    or the last handle."""
    if uuid is not None:
        return (yield from _primary_services_by_uuid(uuid))
    found: list[RemoteService] = []
    cursor = _Cursor(FIRST_HANDLE, LAST_HANDLE)
    while not cursor.done:
        request = ReadByGroupTypeRequest(cursor.next, LAST_HANDLE, PRIMARY_SERVICE_UUID)
        answer = _answer_or_end(request, (yield request), ReadByGroupTypeResponse)
        if answer is None:
            break
        cursor.nonempty(request, answer.entries)
        for handle, end, value in answer.entries:
            cursor.take(request, handle, end)
            found.append(RemoteService(handle, end, _uuid(request, value), primary=True))
    return tuple(found)


def _primary_services_by_uuid(uuid: uuid_module.UUID) -> Procedure[tuple[RemoteService, ...]]:
    found: list[RemoteService] = []
    cursor = _Cursor(FIRST_HANDLE, LAST_HANDLE)
    value = att_uuid_bytes(uuid)
    while not cursor.done:
        request = FindByTypeValueRequest(cursor.next, LAST_HANDLE, 0x2800, value)
        answer = _answer_or_end(request, (yield request), FindByTypeValueResponse)
        if answer is None:
            break
        cursor.nonempty(request, answer.ranges)
        for handle, end in answer.ranges:
            cursor.take(request, handle, end)
            found.append(RemoteService(handle, end, uuid, primary=True))
    return tuple(found)


# -- Relationship discovery (4.5) -------------------------------------------------------------


def find_included_services(service: RemoteService) -> Procedure[tuple[RemoteService, ...]]:
    """Find Included Services (4.5.1): Read By Type of 0x2802 over the service's range; an
    include declaration of 6 octets carries the included service's 16-bit UUID, one of 4
    octets does not and its 128-bit UUID is read from the included service's declaration
    (a Read Request of its first handle)."""
    found: list[RemoteService] = []
    cursor = _Cursor(service.handle, service.end_handle)
    while not cursor.done:
        request = ReadByTypeRequest(cursor.next, service.end_handle, INCLUDE_UUID)
        answer = _answer_or_end(request, (yield request), ReadByTypeResponse)
        if answer is None:
            break
        cursor.nonempty(request, answer.entries)
        unnamed: list[tuple[int, int]] = []
        for handle, value in answer.entries:
            cursor.take(request, handle)
            if len(value) not in (4, 6):
                raise _broken(request, f"an include declaration of {len(value)} octets")
            start, end = _u16(value, 0), _u16(value, 2)
            if not FIRST_HANDLE <= start <= end:
                raise _broken(request, f"an included service 0x{start:04X}..0x{end:04X}")
            if len(value) == 6:
                found.append(RemoteService(start, end, _uuid(request, value[4:]), primary=None))
            else:
                unnamed.append((start, end))
        for start, end in unnamed:
            read_request = ReadRequest(start)
            declaration = _answer(read_request, (yield read_request), ReadResponse).value
            if len(declaration) != 16:
                raise _broken(read_request, f"a 128-bit service UUID of {len(declaration)} octets")
            found.append(RemoteService(start, end, _uuid(read_request, declaration), None))
    return tuple(found)


# -- Characteristic discovery (4.6) -----------------------------------------------------------


def discover_characteristics(
    service: RemoteService, uuid: uuid_module.UUID | None = None
) -> Procedure[tuple[RemoteCharacteristic, ...]]:
    """Discover All Characteristics of a Service (4.6.1: Read By Type of 0x2803 over its
    range), or those of one UUID (4.6.2: the same search, filtered). Each declaration is 5
    or 19 octets: properties, value handle (past the declaration, within the service), UUID.
    A characteristic ends where the next declaration begins, the last at the service's end."""
    declarations: list[tuple[int, int, uuid_module.UUID, Properties]] = []
    cursor = _Cursor(service.handle, service.end_handle)
    while not cursor.done:
        request = ReadByTypeRequest(cursor.next, service.end_handle, CHARACTERISTIC_UUID)
        answer = _answer_or_end(request, (yield request), ReadByTypeResponse)
        if answer is None:
            break
        cursor.nonempty(request, answer.entries)
        for handle, value in answer.entries:
            cursor.take(request, handle)
            if len(value) not in (5, 19):
                raise _broken(request, f"a characteristic declaration of {len(value)} octets")
            value_handle = _u16(value, 1)
            if not handle < value_handle <= service.end_handle:
                raise _broken(
                    request,
                    f"the declaration at 0x{handle:04X} puts its value at 0x{value_handle:04X}",
                )
            properties = Properties(value[0])
            declarations.append((handle, value_handle, _uuid(request, value[3:]), properties))
    found: list[RemoteCharacteristic] = []
    for index, (handle, value_handle, kind, properties) in enumerate(declarations):
        if index + 1 < len(declarations):
            end = declarations[index + 1][0] - 1
        else:
            end = service.end_handle
        if value_handle > end:
            raise GattProtocolError(
                f"ReadByType: the value 0x{value_handle:04X} of the characteristic at "
                f"0x{handle:04X} lies past the next declaration"
            )
        if uuid is None or kind == uuid:
            found.append(RemoteCharacteristic(handle, value_handle, end, kind, properties))
    return tuple(found)


# -- Descriptor discovery (4.7) ---------------------------------------------------------------


def discover_descriptors(
    characteristic: RemoteCharacteristic,
) -> Procedure[tuple[RemoteDescriptor, ...]]:
    """Discover All Characteristic Descriptors (4.7.1): Find Information from past the
    value handle to the characteristic's end (no request when there is no handle there)."""
    found: list[RemoteDescriptor] = []
    cursor = _Cursor(characteristic.value_handle + 1, characteristic.end_handle)
    while not cursor.done:
        request = FindInformationRequest(cursor.next, characteristic.end_handle)
        answer = _answer_or_end(request, (yield request), FindInformationResponse)
        if answer is None:
            break
        cursor.nonempty(request, answer.entries)
        for handle, kind in answer.entries:
            cursor.take(request, handle)
            found.append(RemoteDescriptor(handle, kind))
    return tuple(found)


# -- Reads (4.8) ------------------------------------------------------------------------------


def read(handle: int, link: MtuSource) -> Procedure[bytes]:
    """Read Characteristic Value (4.8.1), then, when the answer fills the response
    (ATT_MTU - 1 octets), the rest with Read Long (4.8.3): the whole value."""
    request = ReadRequest(handle)
    limit = link.mtu - READ_OVERHEAD
    value = _check_value(request, _answer(request, (yield request), ReadResponse).value, limit)
    if len(value) < limit:
        return value
    return value + (yield from _read_blobs(handle, len(value), link, started=True))


def read_long(handle: int, link: MtuSource, offset: int = 0) -> Procedure[bytes]:
    """Read Long Characteristic Value (4.8.3): Read Blob from ``offset`` until an answer
    shorter than ATT_MTU - 1; the value from ``offset`` on."""
    return (yield from _read_blobs(handle, offset, link, started=False))


def _read_blobs(handle: int, offset: int, link: MtuSource, *, started: bool) -> Procedure[bytes]:
    """The value from ``offset`` on, in Read Blob parts (``started``: the first octets were
    read before). No attribute value is over 512 octets (Vol 3 Part F 3.2.9): the reading
    stops there, and a server that sends more breaks the rule. Once something was read the
    server may also end the value with Attribute Not Long (nothing past a short value) or
    Invalid Offset (nothing at ``offset``)."""
    parts: list[bytes] = []
    while offset < MAX_VALUE_LENGTH:
        request = ReadBlobRequest(handle, offset)
        answer = yield request
        if (
            isinstance(answer, ErrorResponse)
            and answer.request_opcode == request.opcode
            and answer.error_code in (AttErrorCode.ATTRIBUTE_NOT_LONG, AttErrorCode.INVALID_OFFSET)
            and (started or parts)
        ):
            break
        limit = link.mtu - READ_OVERHEAD
        part = _check_value(request, _answer(request, answer, ReadBlobResponse).value, limit)
        offset += len(part)
        if offset > MAX_VALUE_LENGTH:
            raise _broken(request, f"a value of more than {MAX_VALUE_LENGTH} octets")
        parts.append(part)
        if len(part) < limit:
            break
    return b"".join(parts)


def read_by_uuid(
    uuid: uuid_module.UUID, start: int = FIRST_HANDLE, end: int = LAST_HANDLE
) -> Procedure[tuple[tuple[int, bytes], ...]]:
    """Read Using Characteristic UUID (4.8.2): Read By Type of ``uuid`` over
    ``start``..``end``, continued past the last handle found until Attribute Not Found;
    every (handle, value) found. A value is what one response carries of it (up to
    ATT_MTU - 4 octets, and 253): read it with :func:`read` for more."""
    found: list[tuple[int, bytes]] = []
    cursor = _Cursor(start, end)
    while not cursor.done:
        request = ReadByTypeRequest(cursor.next, end, uuid)
        answer = _answer_or_end(request, (yield request), ReadByTypeResponse)
        if answer is None:
            break
        cursor.nonempty(request, answer.entries)
        for handle, value in answer.entries:
            cursor.take(request, handle)
            found.append((handle, value))
    return tuple(found)


def read_multiple(handles: Sequence[int], link: MtuSource) -> Procedure[bytes]:
    """Read Multiple Characteristic Values (4.8.4): the values of two or more handles,
    concatenated (the caller knows their lengths)."""
    request = ReadMultipleRequest(tuple(handles))
    answer = _answer(request, (yield request), ReadMultipleResponse)
    return _check_value(request, answer.values, link.mtu - READ_OVERHEAD)


def read_multiple_variable(handles: Sequence[int]) -> Procedure[tuple[bytes, ...]]:
    """Read Multiple Variable Length Characteristic Values (4.8.5): one value per handle,
    in order; fewer when the response filled the ATT_MTU (the last may be cut short)."""
    request = ReadMultipleVariableRequest(tuple(handles))
    answer = _answer(request, (yield request), ReadMultipleVariableResponse)
    if len(answer.values) > len(request.handles):
        raise _broken(request, f"{len(answer.values)} values for {len(request.handles)} handles")
    return answer.values


# -- Writes (4.9) -----------------------------------------------------------------------------


def write(handle: int, value: bytes) -> Procedure[None]:
    """Write Characteristic Value (4.9.3): a value that fits one Write Request."""
    request = WriteRequest(handle, value)
    _answer(request, (yield request), WriteResponse)


def write_long(handle: int, value: bytes, link: MtuSource, offset: int = 0) -> Procedure[None]:
    """Write Long Characteristic Value (4.9.4): Prepare Write Requests of ATT_MTU - 5
    octets from ``offset``, then Execute Write. Each prepared part must come back as sent
    (the server's echo, Vol 3 Part F 3.4.6.2): a part that does not, or an error, cancels
    the queue (Execute Write with flags 0) and ends the write with the error."""
    yield from _prepare([(handle, offset, value)], link)
    yield from _execute()


def reliable_write(writes: Iterable[tuple[int, bytes]], link: MtuSource) -> Procedure[None]:
    """Reliable Writes (4.9.5): every (handle, value) prepared, each echo checked, then one
    Execute Write applies them all; any mismatch or error cancels them all."""
    yield from _prepare([(handle, 0, value) for handle, value in writes], link)
    yield from _execute()


def _prepare(writes: Sequence[tuple[int, int, bytes]], link: MtuSource) -> Procedure[None]:
    for handle, offset, value in writes:
        position = 0
        while True:
            size = link.mtu - PREPARE_OVERHEAD
            part = value[position : position + size]
            request = PrepareWriteRequest(handle, offset + position, part)
            answer = yield request
            try:
                echo = _answer(request, answer, PrepareWriteResponse)
                if (echo.handle, echo.offset, echo.value) != (
                    request.handle,
                    request.offset,
                    request.value,
                ):
                    raise _broken(request, "the server's echo differs from the part sent")
            except (GattAttributeError, GattProtocolError):
                yield from _cancel()
                raise
            position += len(part)
            if position >= len(value):
                break


def _cancel() -> Procedure[None]:
    """Execute Write with flags 0: the server drops the prepared writes (3.4.6.3). What it
    answers changes nothing, since the write has failed already."""
    yield ExecuteWriteRequest(False)


def _execute() -> Procedure[None]:
    request = ExecuteWriteRequest(True)
    _answer(request, (yield request), ExecuteWriteResponse)


def cccd_value(notify: bool, indicate: bool) -> bytes:
    """The Client Characteristic Configuration value (3.3.3.3) asking for notifications
    and/or indications; both False turns them off."""
    bits = (CCCD_NOTIFY if notify else 0) | (CCCD_INDICATE if indicate else 0)
    return bits.to_bytes(2, "little")
