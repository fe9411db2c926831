"""A small ATT server in memory, for testing GATT clients without a stack.

:class:`FakeAttServer` answers every ATT request as Core 5.4 Vol 3 Part F 3.4 says a server
does, from a database built with its ``add_*`` methods (handles given in order)::

    server = FakeAttServer()
    server.add_service(uuid16(0x180F))
    level = server.add_characteristic(uuid16(0x2A19), Properties.READ | Properties.NOTIFY, b"\\x64")
    answer = server.answer(ReadRequest(level))      # ReadResponse(b"\\x64")

It is synchronous, so a client procedure runs against it with
:func:`bluetrio.gatt.procedures.run_procedure`; :class:`FakeBearer` puts it behind the
async bearer a :class:`~bluetrio.gatt.GattClient` drives. An attribute may demand security
(``error=AttErrorCode.INSUFFICIENT_AUTHENTICATION``): every access gets that error until
``secured`` is set. It is a fake, not the stack's server (``bluetrio.actors.gatt``): no
callbacks, no per-client state beyond one prepare queue and the CCCD values written.
"""

from __future__ import annotations

import contextlib
import uuid as uuid_module
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import attrs
import trio

from bluetrio.actors.app_port import Mailbox, MailboxKey
from bluetrio.gatt.port import DEFAULT_LISTEN_CAPACITY, ValueStream
from bluetrio.messages.att import (
    DEFAULT_MTU,
    MAX_VALUE_LENGTH,
    TRANSACTION_TIMEOUT,
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
    SignedWriteCommand,
    WriteCommand,
    WriteRequest,
    WriteResponse,
)
from bluetrio.messages.gatt_declarations import (
    CCCD_UUID,
    CHARACTERISTIC_UUID,
    INCLUDE_UUID,
    PRIMARY_SERVICE_UUID,
    SECONDARY_SERVICE_UUID,
    Properties,
)
from bluetrio.messages.gatt_service import AttValueInd
from bluetrio.messages.uuids import att_uuid_bytes, uuid16

__all__ = ["AnsweringServer", "FakeAttServer", "FakeAttribute", "FakeBearer"]

# The connection handle of the link a FakeBearer stands for.
LINK_HANDLE = 0x0040

# Prepared writes one client may queue (the server's choice, Vol 3 Part F 3.4.6.1).
PREPARE_QUEUE_LIMIT = 64
# A Read By Type or Read By Group Type entry's length is one octet (3.4.4.2, 3.4.4.10).
MAX_ENTRY_LENGTH = 255
GROUP_TYPES = (PRIMARY_SERVICE_UUID, SECONDARY_SERVICE_UUID)


@attrs.define
class FakeAttribute:
    """One attribute: handle, type, value; ``error`` is the ATT error every access gets
    while the server is not ``secured`` (a security error) or always (any other)."""

    handle: int
    type: uuid_module.UUID
    value: bytes
    readable: bool = True
    writable: bool = True
    error: int | None = None


class FakeAttServer:
    """An ATT server over an in-memory attribute list (see the module docstring).

    ``requests`` records every request answered; ``commands`` every command taken;
    ``cccd_writes`` every (handle, value) written to a CCCD; ``mtu`` is the ATT_MTU, the
    default until an Exchange MTU with ``receive_mtu``.
    """

    def __init__(self, receive_mtu: int = 517) -> None:
        self.attributes: dict[int, FakeAttribute] = {}
        self.receive_mtu = receive_mtu
        self.mtu = DEFAULT_MTU
        self.secured = False
        self.prepared: list[tuple[int, int, bytes]] = []
        self.requests: list[AttPdu] = []
        self.commands: list[AttPdu] = []
        self.cccd_writes: list[tuple[int, bytes]] = []
        self.on_write: Callable[[int, bytes], None] | None = None

    # -- building -------------------------------------------------------------------------
    @property
    def last_handle(self) -> int:
        return max(self.attributes, default=0)

    def add(
        self,
        kind: uuid_module.UUID,
        value: bytes = b"",
        *,
        readable: bool = True,
        writable: bool = True,
        error: int | None = None,
    ) -> int:
        """Add an attribute at the next handle; return its handle."""
        handle = self.last_handle + 1
        self.attributes[handle] = FakeAttribute(handle, kind, value, readable, writable, error)
        return handle

    def add_service(self, uuid: uuid_module.UUID, *, primary: bool = True) -> int:
        kind = PRIMARY_SERVICE_UUID if primary else SECONDARY_SERVICE_UUID
        return self.add(kind, att_uuid_bytes(uuid), writable=False)

    def add_include(self, service_handle: int) -> int:
        """An include declaration of the service at ``service_handle`` (already added):
        with its UUID when it is a 16-bit one (Vol 3 Part G 3.2)."""
        declared = self.attributes[service_handle].value
        value = _u16(service_handle) + _u16(self.service_end(service_handle))
        if len(declared) == 2:
            value += declared
        return self.add(INCLUDE_UUID, value, writable=False)

    def add_characteristic(
        self,
        uuid: uuid_module.UUID,
        properties: Properties,
        value: bytes = b"",
        *,
        error: int | None = None,
        cccd: bool | None = None,
    ) -> int:
        """A characteristic declaration and its value; with a CCCD when it notifies or
        indicates (unless ``cccd`` says otherwise). Returns the value handle."""
        value_handle = self.last_handle + 2
        declaration = bytes((properties,)) + _u16(value_handle) + att_uuid_bytes(uuid)
        self.add(CHARACTERISTIC_UUID, declaration, writable=False)
        self.add(uuid, value, error=error)
        if cccd or (cccd is None and properties & (Properties.NOTIFY | Properties.INDICATE)):
            self.add(CCCD_UUID, b"\x00\x00")
        return value_handle

    def add_descriptor(
        self, uuid: uuid_module.UUID, value: bytes = b"", *, error: int | None = None
    ) -> int:
        return self.add(uuid, value, error=error)

    def service_end(self, service_handle: int) -> int:
        """The last handle of the service declared at ``service_handle``."""
        later = [
            a.handle
            for a in self.attributes.values()
            if a.handle > service_handle and a.type in GROUP_TYPES
        ]
        return min(later) - 1 if later else self.last_handle

    def value(self, handle: int) -> bytes:
        return self.attributes[handle].value

    # -- answering ------------------------------------------------------------------------
    def answer(self, request: AttPdu) -> AttPdu:
        """The server's answer to ``request``: its response or an Error Response."""
        self.requests.append(request)
        try:
            return self._answer(request)
        except _Refused as refused:
            return ErrorResponse(request.opcode, refused.handle, refused.code)

    def take_command(self, command: AttPdu) -> None:
        """A Write Command or Signed Write Command: written when allowed, else ignored (a
        command gets no answer, Vol 3 Part F 3.4.5.3)."""
        self.commands.append(command)
        if isinstance(command, WriteCommand | SignedWriteCommand):
            with contextlib.suppress(_Refused):
                self._write(command.handle, command.value)

    def _answer(self, request: AttPdu) -> AttPdu:
        match request:
            case ExchangeMtuRequest(mtu=mtu):
                self.mtu = max(DEFAULT_MTU, min(mtu, self.receive_mtu))
                return ExchangeMtuResponse(self.receive_mtu)
            case FindInformationRequest(start=start, end=end):
                return self._find_information(start, end)
            case FindByTypeValueRequest():
                return self._find_by_type_value(request)
            case ReadByTypeRequest(start=start, end=end, attribute_type=kind):
                entries = self._typed_entries(start, end, kind, groups=False)
                return ReadByTypeResponse(tuple((h, v) for h, _, v in entries))
            case ReadByGroupTypeRequest(start=start, end=end, group_type=kind):
                self._check_range(start, end)
                if kind not in GROUP_TYPES:
                    raise _Refused(start, AttErrorCode.UNSUPPORTED_GROUP_TYPE)
                return ReadByGroupTypeResponse(self._typed_entries(start, end, kind, groups=True))
            case ReadRequest(handle=handle):
                return ReadResponse(self._readable(handle).value[: self.mtu - 1])
            case ReadBlobRequest(handle=handle, offset=offset):
                value = self._readable(handle).value
                if offset > len(value):
                    raise _Refused(handle, AttErrorCode.INVALID_OFFSET)
                return ReadBlobResponse(value[offset : offset + self.mtu - 1])
            case ReadMultipleRequest(handles=handles):
                joined = b"".join(self._readable(h).value for h in handles)
                return ReadMultipleResponse(joined[: self.mtu - 1])
            case ReadMultipleVariableRequest(handles=handles):
                return ReadMultipleVariableResponse(self._variable_values(handles))
            case WriteRequest(handle=handle, value=value):
                self._write(handle, value)
                return WriteResponse()
            case PrepareWriteRequest(handle=handle, offset=offset, value=value):
                self._writable(handle)
                if len(self.prepared) >= PREPARE_QUEUE_LIMIT:
                    raise _Refused(handle, AttErrorCode.PREPARE_QUEUE_FULL)
                self.prepared.append((handle, offset, value))
                return PrepareWriteResponse(handle, offset, value)
            case ExecuteWriteRequest(execute=execute):
                queue, self.prepared = self.prepared, []
                if execute:
                    self._execute(queue)
                return ExecuteWriteResponse()
        raise _Refused(0, AttErrorCode.REQUEST_NOT_SUPPORTED)

    def _check_range(self, start: int, end: int) -> None:
        if start == 0 or start > end:
            raise _Refused(start, AttErrorCode.INVALID_HANDLE)

    def _in_range(self, start: int, end: int) -> list[FakeAttribute]:
        self._check_range(start, end)
        found = [a for h, a in sorted(self.attributes.items()) if start <= h <= end]
        if not found:
            raise _Refused(start, AttErrorCode.ATTRIBUTE_NOT_FOUND)
        return found

    def _find_information(self, start: int, end: int) -> FindInformationResponse:
        found = self._in_range(start, end)
        size = len(att_uuid_bytes(found[0].type))
        entries: list[tuple[int, uuid_module.UUID]] = []
        for attribute in found:
            if len(att_uuid_bytes(attribute.type)) != size:
                break
            if 2 + (len(entries) + 1) * (2 + size) > self.mtu:
                break
            entries.append((attribute.handle, attribute.type))
        return FindInformationResponse(tuple(entries))

    def _find_by_type_value(self, request: FindByTypeValueRequest) -> FindByTypeValueResponse:
        kind = uuid16(request.attribute_type)
        ranges: list[tuple[int, int]] = []
        for attribute in self._in_range(request.start, request.end):
            if attribute.type != kind or attribute.value != request.value:
                continue
            if 1 + (len(ranges) + 1) * 4 > self.mtu:
                break
            end = self.service_end(attribute.handle) if kind in GROUP_TYPES else attribute.handle
            ranges.append((attribute.handle, end))
        if not ranges:
            raise _Refused(request.start, AttErrorCode.ATTRIBUTE_NOT_FOUND)
        return FindByTypeValueResponse(tuple(ranges))

    def _typed_entries(
        self, start: int, end: int, kind: uuid_module.UUID, *, groups: bool
    ) -> tuple[tuple[int, int, bytes], ...]:
        """Read By Type (3.4.4.1) or Read By Group Type (3.4.4.9) entries: attributes of
        ``kind`` in range whose values share the first one's length (cut to what fits)."""
        matching = [a for a in self._in_range(start, end) if a.type == kind]
        if not matching:
            raise _Refused(start, AttErrorCode.ATTRIBUTE_NOT_FOUND)
        header = 4 if groups else 2
        room = min(MAX_ENTRY_LENGTH - header, self.mtu - 2 - header)
        entries: list[tuple[int, int, bytes]] = []
        length: int | None = None
        for attribute in matching:
            try:
                self._check_access(attribute, read=True)
            except _Refused:
                if entries:
                    break
                raise
            value = attribute.value[:room]
            if length is None:
                length = len(value)
            if len(value) != length or 2 + (len(entries) + 1) * (header + length) > self.mtu:
                break
            group_end = self.service_end(attribute.handle) if groups else attribute.handle
            entries.append((attribute.handle, group_end, value))
        return tuple(entries)

    def _variable_values(self, handles: tuple[int, ...]) -> tuple[bytes, ...]:
        """Length-value pairs (3.4.4.12) within ATT_MTU - 1 octets, the last cut short."""
        values: list[bytes] = []
        room = self.mtu - 1
        for handle in handles:
            value = self._readable(handle).value
            if room < 2:
                break
            values.append(value[: room - 2])
            room -= 2 + len(values[-1])
        return tuple(values)

    def _attribute(self, handle: int) -> FakeAttribute:
        attribute = self.attributes.get(handle)
        if attribute is None:
            raise _Refused(handle, AttErrorCode.INVALID_HANDLE)
        return attribute

    def _check_access(self, attribute: FakeAttribute, *, read: bool) -> None:
        if not (attribute.readable if read else attribute.writable):
            code = AttErrorCode.READ_NOT_PERMITTED if read else AttErrorCode.WRITE_NOT_PERMITTED
            raise _Refused(attribute.handle, code)
        if attribute.error is not None and not (self.secured and attribute.error in SECURITY):
            raise _Refused(attribute.handle, attribute.error)

    def _readable(self, handle: int) -> FakeAttribute:
        attribute = self._attribute(handle)
        self._check_access(attribute, read=True)
        return attribute

    def _writable(self, handle: int) -> FakeAttribute:
        attribute = self._attribute(handle)
        self._check_access(attribute, read=False)
        return attribute

    def _write(self, handle: int, value: bytes) -> None:
        attribute = self._writable(handle)
        if len(value) > MAX_VALUE_LENGTH:
            raise _Refused(handle, AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH)
        attribute.value = value
        if attribute.type == CCCD_UUID:
            self.cccd_writes.append((handle, value))
        if self.on_write is not None:
            self.on_write(handle, value)

    def _execute(self, queue: list[tuple[int, int, bytes]]) -> None:
        """Apply the prepared writes in order (3.4.6.3), each part at its offset; checked
        all before any is written."""
        values: dict[int, bytes] = {}
        for handle, offset, part in queue:
            current = values.get(handle, self._attribute(handle).value)
            if offset > len(current):
                raise _Refused(handle, AttErrorCode.INVALID_OFFSET)
            values[handle] = current[:offset] + part + current[offset + len(part) :]
            if len(values[handle]) > MAX_VALUE_LENGTH:
                raise _Refused(handle, AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH)
        for handle, value in values.items():
            self._write(handle, value)


SECURITY = frozenset(
    {
        AttErrorCode.INSUFFICIENT_AUTHENTICATION,
        AttErrorCode.INSUFFICIENT_ENCRYPTION,
        AttErrorCode.ENCRYPTION_KEY_SIZE_TOO_SHORT,
    }
)


class _Refused(Exception):
    """An Error Response to give: the attribute handle in error and the code."""

    def __init__(self, handle: int, code: int) -> None:
        super().__init__(handle, code)
        self.handle = handle
        self.code = code


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "little")


# -- an ATT client bearer over the fake server ----------------------------------------------


class AnsweringServer(Protocol):
    """What :class:`FakeBearer` needs of a server: :class:`FakeAttServer`, or an adapter
    around another server (the stack's own server core, in its tests)."""

    mtu: int

    def answer(self, request: AttPdu) -> AttPdu: ...

    def take_command(self, command: AttPdu) -> None: ...


class FakeBearer:
    """An ATT client bearer (``bluetrio.gatt.port.AttClientBearer``'s methods) whose
    requests a server in memory (:class:`FakeAttServer`) answers, one at a time as on a
    real bearer.

    ``tamper(request, answer)`` may replace an answer (a broken or hostile server);
    ``after_answer(request, answer)`` runs once the answer is made, before the requester
    resumes (a server notifying right after a write). :meth:`push` hands a notification or
    indication to the listeners of its handle, as the bearer does when one arrives.
    """

    def __init__(
        self,
        server: AnsweringServer,
        *,
        tamper: Callable[[AttPdu, AttPdu], AttPdu] | None = None,
    ) -> None:
        self.server = server
        self.tamper = tamper
        self.after_answer: Callable[[AttPdu, AttPdu], None] | None = None
        self.exchanges = 0
        self._listeners: dict[int, list[Mailbox[AttValueInd]]] = {}
        self._outstanding = trio.Lock()  # one request at a time (Vol 3 Part F 3.3.2)

    @property
    def mtu(self) -> int:
        return self.server.mtu

    async def exchange(self, request: AttPdu, *, timeout: float = TRANSACTION_TIMEOUT) -> AttPdu:
        async with self._outstanding:
            await trio.lowlevel.checkpoint()
            self.exchanges += 1
            mtu = self.server.mtu
            answer = self.server.answer(request)
            if self.tamper is not None:
                answer = self.tamper(request, answer)
            if isinstance(request, ExchangeMtuRequest):
                # The ATT_MTU follows the response the client got (Vol 3 Part F 3.4.2.2).
                self.server.mtu = mtu
                if isinstance(answer, ExchangeMtuResponse):
                    self.server.mtu = max(DEFAULT_MTU, min(request.mtu, answer.mtu))
            if self.after_answer is not None:
                self.after_answer(request, answer)
            return answer

    async def send_command(self, pdu: AttPdu) -> None:
        await trio.lowlevel.checkpoint()
        self.server.take_command(pdu)

    @contextlib.asynccontextmanager
    async def listen(
        self, value_handle: int, capacity: int = DEFAULT_LISTEN_CAPACITY
    ) -> AsyncIterator[ValueStream]:
        key = MailboxKey(AttValueInd, LINK_HANDLE, value_handle)
        mailbox: Mailbox[AttValueInd] = Mailbox((key,), capacity)
        self._listeners.setdefault(value_handle, []).append(mailbox)
        try:
            with mailbox:
                yield ValueStream(mailbox)
        finally:
            self._listeners[value_handle].remove(mailbox)

    def listening(self, value_handle: int) -> int:
        """How many listeners ``value_handle`` has."""
        return len(self._listeners.get(value_handle, ()))

    def push(self, value_handle: int, value: bytes, *, indication: bool = False) -> None:
        """A notification (or indication) of ``value_handle`` arrives."""
        for mailbox in self._listeners.get(value_handle, ()):
            mailbox.put(AttValueInd(LINK_HANDLE, value_handle, value, indication))
