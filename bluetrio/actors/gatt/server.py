"""The GATT server: the attribute database and the answer to every ATT request a client
sends (Core 5.4 Vol 3 Part F 3.4; Vol 3 Part G 4).

Sans-IO, one per stack, inside the gatt actor: the actor's bearer core hands it each request
with the bearer's MTU (Exchange MTU is the bearer's own) and sends what it returns
(:class:`~bluetrio.actors.gatt.outputs.SendPdu` and the runtime's effects). The server never
answers a request twice and never answers a command (3.3.1, 3.4.5.3: a command's error is
silent); an opcode ATT does not define is Request Not Supported for a request and ignored for
a command (3.4.9).

Values the application serves (``on_read``/``on_write``) and accesses it must authorize are
asked of it with ``GattServerReadInd``/``GattServerWriteInd``; the request stays open on its
bearer (one transaction per bearer, 3.3.2) until :meth:`GattServer.on_application_answer`
or, at the actor's deadline, :meth:`GattServer.on_application_timeout` (Unlikely Error). A
request that needs several values (Read Multiple, Execute Write) asks for them one after the
other. Read By Type and Read By Group Type never ask for more than their first value: a
list stops before a value the application serves, so the client asks on from there.

Hooks for the GATT service and the per-client state (``client_state.py``, ``signing.py``,
``database_hash.py``):

- the GATT service goes right after GAP: construct the server (GAP is always the service at
  0x0001, added by the constructor), then ``add_service`` the GATT service before any other;
- one :class:`ClientConnection` per connection (``connection(handle)``), from ``on_link_up``
  to ``on_link_down``, with the link's ``security`` and ``bonded``; the CCCD values are read
  and written only through ``_cccd_value`` / ``_write_cccd`` (and ``subscribers``), the
  place to hand them to ``ClientStates`` instead of ``ClientConnection.cccds``;
- ``database`` is the table in handle order (``iter(server.database)``: handle, type, value;
  a CCCD's and an application-served value are None) for the Database Hash;
  ``add_service`` returns the handles placed and ``remove_service`` takes out one service's
  range (``database.services`` says which): the ranges for Service Changed, whose outcome
  ``on_indication_outcome`` hears;
- ``signature_check(handle, pdu)`` decides a Signed Write Command (``decide_signed_write``)
  and returns the security the signature stands for (None: ignore the command); without one,
  signed writes are ignored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator

import attrs

from bluetrio.actors.effects import Emit
from bluetrio.actors.gatt.client_state import (
    ClientStates,
    IndicateServiceChanged,
    StateOutput,
    robust_caching,
)
from bluetrio.actors.gatt.database import Attribute, AttributeDatabase, AttributeKind
from bluetrio.actors.gatt.gap_service import GapServiceConfig, gap_service
from bluetrio.actors.gatt.gatt_service import GattService
from bluetrio.actors.gatt.outputs import UNENHANCED_BEARER, Output, SendPdu
from bluetrio.actors.gatt.permissions import (
    Access,
    LinkSecurity,
    access_error,
    needs_authorization,
)
from bluetrio.actors.gatt.prepare_queue import PreparedWrite, PrepareQueue, QueueError
from bluetrio.actors.gatt.signing import decide_signed_write
from bluetrio.address import Address
from bluetrio.bonds import Bond
from bluetrio.errors import AttDecodeError, InvalidArgumentError
from bluetrio.messages.att import (
    AttErrorCode,
    AttPdu,
    ErrorResponse,
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
    is_command,
    is_defined_error,
)
from bluetrio.messages.gatt_declarations import (
    MAX_ATTRIBUTE_VALUE_LENGTH,
    PRIMARY_SERVICE_UUID,
    SECONDARY_SERVICE_UUID,
    Properties,
    Service,
    ServiceHandles,
)
from bluetrio.messages.gatt_service import (
    GattServerReadInd,
    GattServerReadRsp,
    GattServerWriteInd,
    GattServerWriteRsp,
    GattSubscriptionInd,
)
from bluetrio.messages.gatt_state import GattBondedPeer
from bluetrio.messages.uuids import att_uuid_bytes, uuid16

log = logging.getLogger(__name__)

# Client Characteristic Configuration bits (Vol 3 Part G 3.3.3.3, table 3.11).
CCCD_NOTIFY = 0x0001
CCCD_INDICATE = 0x0002
CCCD_LENGTH = 2
# The longest value in one entry of a Read By Type / Read By Group Type response: its
# Length octet counts the handle(s) too (3.4.4.2, 3.4.4.10).
MAX_READ_BY_TYPE_VALUE = 255 - 2
MAX_READ_BY_GROUP_TYPE_VALUE = 255 - 4

SignatureCheck = Callable[[int, SignedWriteCommand], LinkSecurity | None]


@attrs.define(eq=False)
class ClientConnection:
    """What the server keeps for one connected client, released with the link."""

    handle: int
    peer: Address
    security: LinkSecurity
    bonded: bool
    prepare_queue: PrepareQueue = attrs.Factory(PrepareQueue)
    # The bearers the client sent requests on (0, the unenhanced one, is always there): with
    # more than one, robust caching's "Database Out Of Sync, then a request" does not apply.
    bearers: set[int] = attrs.Factory(lambda: {0})
    # Bearer -> the request waiting there for the application (3.3.2: one per bearer).
    waiting: dict[int, _Transaction] = attrs.Factory(dict)


@attrs.frozen
class _Read:
    attribute: Attribute
    offset: int = 0


@attrs.frozen
class _Write:
    attribute: Attribute
    value: bytes


@attrs.define(eq=False)
class _Transaction:
    """A request (or command) being answered: its steps (reads or writes), done in order,
    some by the application; ``finish`` makes the response from the values read."""

    connection: ClientConnection
    bearer: int
    request: AttPdu
    steps: list[_Read | _Write]
    finish: Callable[[list[bytes]], AttPdu] | None  # None: a command, nothing is answered
    values: list[bytes] = attrs.Factory(list)
    outputs: list[Output] = attrs.Factory(list)
    position: int = 0
    request_id: int = 0

    @property
    def current(self) -> _Read | _Write:
        return self.steps[self.position]


class GattServer:
    """The attribute database and the request handling of Vol 3 Part F 3.4."""

    def __init__(
        self,
        gap: GapServiceConfig | None = None,
        signature_check: SignatureCheck | None = None,
    ) -> None:
        self.database = AttributeDatabase()
        self.signature_check = signature_check
        # Each client's CCCDs, features and robust caching state, kept with bonds
        # (client_state.py); the GATT service once add_gatt_service placed it.
        self.clients = ClientStates()
        self.gatt_service: GattService | None = None
        self._changes: list[Output] = []
        self._connections: dict[int, ClientConnection] = {}
        self._asked: dict[int, _Transaction] = {}
        self._next_request_id = 1
        # Characteristic value handle -> its CCCD handle.
        self._cccd_of: dict[int, int] = {}
        self.gap_handles = self.add_service(gap_service(gap or GapServiceConfig()))

    # -- the database ------------------------------------------------------------------------
    def add_service(self, service: Service) -> ServiceHandles:
        """Place ``service`` (deterministic handles, database.py); raises
        InvalidArgumentError when it cannot be placed."""
        handles = self.database.add(service)
        for characteristic in handles.characteristics:
            if characteristic.cccd is not None:
                self._cccd_of[characteristic.value] = characteristic.cccd
        self._changed(handles)
        return handles

    def add_gatt_service(self, eatt: bool = False) -> ServiceHandles:
        """Place the GATT service (gatt_service.py), right after GAP and before any other
        service, so its handles never move (Vol 3 Part G 7.1)."""
        if self.gatt_service is not None:
            raise InvalidArgumentError("the GATT service is in the database already")
        service = GattService(self.clients, eatt=eatt)
        handles = self.database.add(service.declaration)
        for characteristic in handles.characteristics:
            if characteristic.cccd is not None:
                self._cccd_of[characteristic.value] = characteristic.cccd
        service.placed(handles, self.database)
        self.gatt_service = service
        return handles

    def _changed(self, handles: ServiceHandles) -> None:
        """The database changed at ``handles``: the clients' state follows (robust caching,
        Service Changed, CCCDs of the range dropped); what that sends waits in
        :meth:`take_changes`."""
        if self.gatt_service is not None:
            changes = self.gatt_service.database_changed(
                handles.service, handles.end, self.database
            )
        else:
            changes = self.clients.on_database_changed(handles.service, handles.end, None)
        self._changes.extend(self._served(changes))

    def take_changes(self) -> list[Output]:
        """What the last changes of the database (and links that went down) send: Service
        Changed indications and the bonded clients' states for the key store."""
        changes, self._changes = self._changes, []
        return changes

    def remove_service(self, service_handle: int) -> None:
        """Take out the service at ``service_handle`` (not GAP); the clients' CCCD values and
        prepared writes for its handles go with it; raises InvalidArgumentError when no
        service starts there or another includes it."""
        if service_handle == self.gap_handles.service:
            raise InvalidArgumentError("the GAP service cannot be removed")
        gatt = self.gatt_service
        if gatt is not None and gatt.handles is not None and service_handle == gatt.handles.service:
            raise InvalidArgumentError("the GATT service cannot be removed")
        handles = self.database.remove(service_handle)
        for characteristic in handles.characteristics:
            self._cccd_of.pop(characteristic.value, None)
        self._changed(handles)
        for connection in self._connections.values():
            queue = connection.prepare_queue
            queue.parts = [p for p in queue.parts if not handles.service <= p.handle <= handles.end]

    # -- connections -------------------------------------------------------------------------
    def on_link_up(
        self, handle: int, peer: Address, security: LinkSecurity, bonded: bool
    ) -> list[Output]:
        self._connections[handle] = ClientConnection(handle, peer, security, bonded)
        self.clients.on_link_up(handle, peer, peer)
        return []

    def on_security_changed(self, handle: int, security: LinkSecurity) -> list[Output]:
        connection = self._connections.get(handle)
        if connection is not None:
            connection.security = security
        return []

    def on_link_down(self, handle: int) -> None:
        """The link is gone; a bonded client's state for the key store waits in
        :meth:`take_changes`."""
        connection = self._connections.pop(handle, None)
        if connection is None:
            return
        for transaction in connection.waiting.values():
            self._asked.pop(transaction.request_id, None)
        for request_id in [rid for rid, t in self._asked.items() if t.connection is connection]:
            del self._asked[request_id]
        self._changes.extend(self._served(self.clients.on_link_down(handle)))

    # -- bonded clients (client_state.py) ----------------------------------------------------
    def load_bonds(self, peers: tuple[GattBondedPeer, ...]) -> None:
        """The key store's bonded peers, with their CSRKs and GATT state (at start)."""
        self.clients.load(peers)

    def on_bond(self, bond: Bond) -> list[Output]:
        """A bond was made (btm's StoreBondReq)."""
        return self._served(self.clients.on_bond(bond))

    def on_link_encrypted(self, handle: int, peer: Address, with_bond: bool) -> list[Output]:
        """Link ``handle`` is encrypted (btm's LinkSecuredInd; ``with_bond``: with the stored
        bond's key): a bonded client's state applies, and it hears of what changed."""
        return self._served(self.clients.on_link_encrypted(handle, peer, with_bond))

    def on_indication_outcome(
        self, handle: int, value_handle: int, error: str | None
    ) -> list[Output]:
        """An indication the server sent itself was confirmed (``error`` None) or not: for
        Service Changed, the client is change-aware, or hears of the range again."""
        gatt = self.gatt_service
        if gatt is None or gatt.handles is None or value_handle != gatt.service_changed_value:
            return []
        if error is not None:
            self.clients.on_service_changed_failed(handle)
            return []
        return self._served(self.clients.on_service_changed_confirmed(handle))

    def _served(self, outputs: Iterable[StateOutput]) -> list[Output]:
        """The clients' outputs as the actor takes them: a Service Changed indication goes
        on the unenhanced bearer, which every client has (Vol 3 Part G 7.1)."""
        served: list[Output] = []
        for output in outputs:
            if isinstance(output, IndicateServiceChanged):
                assert self.gatt_service is not None  # only it names a Service Changed CCCD
                indication = self.gatt_service.indication(output)
                served.append(SendPdu(output.handle, UNENHANCED_BEARER, indication))
            else:
                served.append(output)
        return served

    def connection(self, handle: int) -> ClientConnection | None:
        return self._connections.get(handle)

    def connections(self) -> Iterator[ClientConnection]:
        return iter(list(self._connections.values()))

    def subscribers(self, value_handle: int, indicate: bool, link: int | None) -> tuple[int, ...]:
        """The links whose client enabled notifications (or indications) of the value at
        ``value_handle``; only ``link`` when given."""
        cccd = self._cccd_of.get(value_handle)
        if cccd is None:
            return ()
        bit = CCCD_INDICATE if indicate else CCCD_NOTIFY
        links = self._connections if link is None else [link] if link in self._connections else []
        return tuple(h for h in links if self._cccd_value(self._connections[h], cccd) & bit)

    # -- requests ----------------------------------------------------------------------------
    def on_request(
        self, handle: int, bearer: int, pdu: AttPdu, mtu: int, now: float
    ) -> list[Output]:
        """Answer ``pdu`` received on ``bearer`` of link ``handle`` whose MTU is ``mtu``."""
        connection = self._connections.get(handle)
        if connection is None:
            log.warning("ATT PDU on link 0x%04X the server was not told of: ignored", handle)
            return []
        if bearer in connection.waiting and not is_command(pdu.opcode):
            # 3.3.2: a client sends no request before the last one's response; the bearer
            # core refuses such a request before it gets here.
            log.warning("link 0x%04X: a request while one waits for the application", handle)
            return []
        connection.bearers.add(bearer)
        gate = robust_caching(self.clients, handle, pdu, len(connection.bearers))
        outputs: list[Output] = self._served(gate.outputs)
        if not gate.process:
            if gate.answer is not None:
                outputs.append(SendPdu(handle, bearer, gate.answer))
            return outputs
        return outputs + self._dispatch(connection, bearer, pdu, mtu)

    def _dispatch(
        self, connection: ClientConnection, bearer: int, pdu: AttPdu, mtu: int
    ) -> list[Output]:
        match pdu:
            case FindInformationRequest():
                return self._answer(connection, bearer, pdu, self._find_information(pdu, mtu))
            case FindByTypeValueRequest():
                return self._answer(connection, bearer, pdu, self._find_by_type_value(pdu, mtu))
            case ReadByTypeRequest():
                return self._read_by_type(connection, bearer, pdu, mtu)
            case ReadRequest():
                return self._read(connection, bearer, pdu, mtu)
            case ReadBlobRequest():
                return self._read_blob(connection, bearer, pdu, mtu)
            case ReadMultipleRequest() | ReadMultipleVariableRequest():
                return self._read_multiple(connection, bearer, pdu, mtu)
            case ReadByGroupTypeRequest():
                return self._answer(connection, bearer, pdu, self._read_by_group_type(pdu, mtu))
            case WriteRequest():
                return self._write(connection, bearer, pdu, with_response=True)
            case WriteCommand():
                return self._write(connection, bearer, pdu, with_response=False)
            case SignedWriteCommand():
                return self._signed_write(connection, bearer, pdu)
            case PrepareWriteRequest():
                return self._answer(connection, bearer, pdu, self._prepare_write(connection, pdu))
            case ExecuteWriteRequest():
                return self._execute_write(connection, bearer, pdu)
        if is_command(pdu.opcode):
            return []
        return self._answer(
            connection, bearer, pdu, _error(pdu, 0, AttErrorCode.REQUEST_NOT_SUPPORTED)
        )

    def on_decode_error(self, handle: int, bearer: int, error: AttDecodeError) -> list[Output]:
        """Answer a PDU that did not decode: one Error Response with the error's code, none
        for a command (3.3.1, 3.4.9)."""
        if error.opcode is not None and is_command(error.opcode):
            return []
        if handle not in self._connections:
            return []
        response = ErrorResponse(error.opcode or 0, error.handle, error.error_code)
        return [SendPdu(handle, bearer, response)]

    def on_application_answer(self, answer: GattServerReadRsp | GattServerWriteRsp) -> list[Output]:
        """The application's answer to a GattServerReadInd / GattServerWriteInd."""
        transaction = self._asked.pop(answer.request_id, None)
        if transaction is None:
            log.info("application answer %d for no waiting request: ignored", answer.request_id)
            return []
        step = transaction.current
        if answer.error_code:
            # A code the specification reserves never goes on the air (table 3.4).
            code = answer.error_code if is_defined_error(answer.error_code) else None
            return self._fail(transaction, step.attribute, code or AttErrorCode.UNLIKELY_ERROR)
        match answer, step:
            case GattServerReadRsp(value=value), _Read(attribute=attribute):
                if value is None:
                    if attribute.app_read:
                        log.warning("application served no value for 0x%04X", attribute.handle)
                        return self._fail(transaction, attribute, AttErrorCode.UNLIKELY_ERROR)
                    value = self._stored(transaction.connection, attribute)
                if len(value) > MAX_ATTRIBUTE_VALUE_LENGTH:
                    log.warning("application value of 0x%04X over 512 octets", attribute.handle)
                    return self._fail(transaction, attribute, AttErrorCode.UNLIKELY_ERROR)
                transaction.values.append(bytes(value))
            case GattServerWriteRsp(), _Write(attribute=attribute, value=value):
                if attribute.value is not None:
                    self.database.set_value(attribute.handle, value)
            case _:
                log.warning("application answer %r does not fit its request", answer)
                return self._fail(transaction, step.attribute, AttErrorCode.UNLIKELY_ERROR)
        transaction.position += 1
        return self._run(transaction)

    def on_application_timeout(self, request_id: int) -> list[Output]:
        """The application did not answer ``request_id`` in time: Unlikely Error."""
        transaction = self._asked.pop(request_id, None)
        if transaction is None:
            return []
        log.warning("application did not answer request %d in time", request_id)
        return self._fail(transaction, transaction.current.attribute, AttErrorCode.UNLIKELY_ERROR)

    # -- discovery ---------------------------------------------------------------------------
    def _find_information(self, pdu: FindInformationRequest, mtu: int) -> AttPdu:
        if (error := _range_error(pdu, pdu.start, pdu.end)) is not None:
            return error
        entries: list[tuple[int, uuid.UUID]] = []
        size = limit = 0
        for attribute in self.database.in_range(pdu.start, pdu.end):
            this = 2 if _is_16_bit(attribute) else 16
            if not entries:
                size = this
                limit = (mtu - 2) // (2 + size)
            elif this != size or len(entries) >= limit:
                break
            entries.append((attribute.handle, attribute.type))
        if not entries:
            return _error(pdu, pdu.start, AttErrorCode.ATTRIBUTE_NOT_FOUND)
        return FindInformationResponse(tuple(entries))

    def _find_by_type_value(self, pdu: FindByTypeValueRequest, mtu: int) -> AttPdu:
        if (error := _range_error(pdu, pdu.start, pdu.end)) is not None:
            return error
        limit = (mtu - 1) // 4
        ranges = []
        for attribute in self.database.of_type(uuid16(pdu.attribute_type), pdu.start, pdu.end):
            # Only stored values anyone may read are compared: never the application's.
            if attribute.value != pdu.value or not _openly_readable(attribute):
                continue
            ranges.append((attribute.handle, max(attribute.group_end, attribute.handle)))
            if len(ranges) >= limit:
                break
        if not ranges:
            return _error(pdu, pdu.start, AttErrorCode.ATTRIBUTE_NOT_FOUND)
        return FindByTypeValueResponse(tuple(ranges))

    def _read_by_group_type(self, pdu: ReadByGroupTypeRequest, mtu: int) -> AttPdu:
        if (error := _range_error(pdu, pdu.start, pdu.end)) is not None:
            return error
        if pdu.group_type not in (PRIMARY_SERVICE_UUID, SECONDARY_SERVICE_UUID):
            return _error(pdu, pdu.start, AttErrorCode.UNSUPPORTED_GROUP_TYPE)
        cut = min(mtu - 6, MAX_READ_BY_GROUP_TYPE_VALUE)
        entries: list[tuple[int, int, bytes]] = []
        for attribute in self.database.of_type(pdu.group_type, pdu.start, pdu.end):
            assert attribute.value is not None  # a service declaration's value is stored
            value = attribute.value[:cut]
            if entries and (
                len(value) != len(entries[0][2]) or 2 + (len(entries) + 1) * (4 + len(value)) > mtu
            ):
                break
            entries.append((attribute.handle, attribute.group_end, value))
        if not entries:
            return _error(pdu, pdu.start, AttErrorCode.ATTRIBUTE_NOT_FOUND)
        return ReadByGroupTypeResponse(tuple(entries))

    # -- reads -------------------------------------------------------------------------------
    def _read_by_type(
        self, connection: ClientConnection, bearer: int, pdu: ReadByTypeRequest, mtu: int
    ) -> list[Output]:
        if (error := _range_error(pdu, pdu.start, pdu.end)) is not None:
            return self._answer(connection, bearer, pdu, error)
        cut = min(mtu - 4, MAX_READ_BY_TYPE_VALUE)
        candidates = self.database.of_type(pdu.attribute_type, pdu.start, pdu.end)
        first = next(candidates, None)
        if first is None:
            return self._answer(
                connection, bearer, pdu, _error(pdu, pdu.start, AttErrorCode.ATTRIBUTE_NOT_FOUND)
            )
        if (code := access_error(first.permissions, Access.READ, connection.security)) is not None:
            return self._answer(connection, bearer, pdu, _error(pdu, first.handle, code))
        steps: list[_Read | _Write] = [_Read(first)]
        if not self._asks_to_read(first):
            # The rest as long as they are stored, readable and of the first one's length.
            length = len(self._stored(connection, first)[:cut])
            limit = (mtu - 2) // (2 + length)
            for attribute in candidates:
                if len(steps) >= limit or self._asks_to_read(attribute):
                    break
                if access_error(attribute.permissions, Access.READ, connection.security):
                    break
                if len(self._stored(connection, attribute)[:cut]) != length:
                    break
                steps.append(_Read(attribute))
        handles = [step.attribute.handle for step in steps]

        def finish(values: list[bytes]) -> AttPdu:
            # An application's value sets the length; a list has at most one of them.
            return ReadByTypeResponse(tuple(zip(handles, (v[:cut] for v in values), strict=True)))

        return self._start(connection, bearer, pdu, steps, finish)

    def _read(
        self, connection: ClientConnection, bearer: int, pdu: ReadRequest, mtu: int
    ) -> list[Output]:
        attribute = self._readable(connection, pdu, pdu.handle)
        if isinstance(attribute, ErrorResponse):
            return self._answer(connection, bearer, pdu, attribute)
        return self._start(
            connection,
            bearer,
            pdu,
            [_Read(attribute)],
            lambda values: ReadResponse(values[0][: mtu - 1]),
        )

    def _read_blob(
        self, connection: ClientConnection, bearer: int, pdu: ReadBlobRequest, mtu: int
    ) -> list[Output]:
        attribute = self._readable(connection, pdu, pdu.handle)
        if isinstance(attribute, ErrorResponse):
            return self._answer(connection, bearer, pdu, attribute)

        def finish(values: list[bytes]) -> AttPdu:
            value = values[0]
            if pdu.offset > len(value):
                return _error(pdu, pdu.handle, AttErrorCode.INVALID_OFFSET)
            return ReadBlobResponse(value[pdu.offset : pdu.offset + mtu - 1])

        return self._start(connection, bearer, pdu, [_Read(attribute, pdu.offset)], finish)

    def _read_multiple(
        self,
        connection: ClientConnection,
        bearer: int,
        pdu: ReadMultipleRequest | ReadMultipleVariableRequest,
        mtu: int,
    ) -> list[Output]:
        steps: list[_Read | _Write] = []
        for handle in pdu.handles:
            attribute = self._readable(connection, pdu, handle)
            if isinstance(attribute, ErrorResponse):
                return self._answer(connection, bearer, pdu, attribute)
            steps.append(_Read(attribute))
        room = mtu - 1

        def finish(values: list[bytes]) -> AttPdu:
            if isinstance(pdu, ReadMultipleRequest):
                return ReadMultipleResponse(b"".join(values)[:room])
            return ReadMultipleVariableResponse(_length_values_within(values, room))

        return self._start(connection, bearer, pdu, steps, finish)

    def _readable(
        self, connection: ClientConnection, pdu: AttPdu, handle: int
    ) -> Attribute | ErrorResponse:
        """The attribute at ``handle`` if this client may read it, else the error."""
        attribute = self.database.get(handle)
        if attribute is None:
            return _error(pdu, handle, AttErrorCode.INVALID_HANDLE)
        code = access_error(attribute.permissions, Access.READ, connection.security)
        if code is not None:
            return _error(pdu, handle, code)
        return attribute

    # -- writes ------------------------------------------------------------------------------
    def _write(
        self,
        connection: ClientConnection,
        bearer: int,
        pdu: WriteRequest | WriteCommand,
        with_response: bool,
        security: LinkSecurity | None = None,
    ) -> list[Output]:
        attribute = self.database.get(pdu.handle)
        if attribute is None:
            error = _error(pdu, pdu.handle, AttErrorCode.INVALID_HANDLE)
            return self._answer(connection, bearer, pdu, error) if with_response else []
        code = (
            access_error(attribute.permissions, Access.WRITE, security or connection.security)
            or _value_error(attribute, pdu.value)
            or self._state_error(connection, attribute, pdu.value)
        )
        if code is not None:
            if not with_response:
                log.info("write command to 0x%04X refused: %s", pdu.handle, code.name)
                return []
            return self._answer(connection, bearer, pdu, _error(pdu, pdu.handle, code))
        finish = (lambda _values: WriteResponse()) if with_response else None
        return self._start(connection, bearer, pdu, [_Write(attribute, pdu.value)], finish)

    def _signed_write(
        self, connection: ClientConnection, bearer: int, pdu: SignedWriteCommand
    ) -> list[Output]:
        command = WriteCommand(pdu.handle, pdu.value)
        if connection.security.encrypted:
            # Vol 3 Part F 3.4.5.4: on an encrypted link it is a Write Command.
            return self._write(connection, bearer, command, with_response=False)
        attribute = self.database.get(pdu.handle)
        if attribute is None or not attribute.properties & Properties.AUTHENTICATED_SIGNED_WRITES:
            log.info("signed write to 0x%04X, which takes none: ignored", pdu.handle)
            return []
        if attribute.kind is not AttributeKind.VALUE:
            return []
        outputs: list[Output] = []
        if self.signature_check is not None:
            security = self.signature_check(connection.handle, pdu)
        else:
            security, outputs = self._bond_signature(connection, pdu)
        if security is None:
            log.info("signed write to 0x%04X with a bad signature: ignored", pdu.handle)
            return outputs
        return outputs + self._write(
            connection, bearer, command, with_response=False, security=security
        )

    def _bond_signature(
        self, connection: ClientConnection, pdu: SignedWriteCommand
    ) -> tuple[LinkSecurity | None, list[Output]]:
        """The security a signature with the bond's CSRK stands for (LE security mode 2, Vol 3
        Part C 10.2.2: a data-signed write is as good as one on a link encrypted with a key
        of the bond's strength), and the bond's new sign counter for the key store."""
        decision = decide_signed_write(
            self.clients, connection.handle, pdu, encrypted=False, signable=True
        )
        if not decision.write:
            log.info("signed write to 0x%04X: %s", pdu.handle, decision.outcome.value)
            return None, self._served(decision.outputs)
        signed = LinkSecurity(encrypted=True, authenticated=decision.authenticated, key_size=16)
        return signed, self._served(decision.outputs)

    def _prepare_write(self, connection: ClientConnection, pdu: PrepareWriteRequest) -> AttPdu:
        attribute = self.database.get(pdu.handle)
        if attribute is None:
            return _error(pdu, pdu.handle, AttErrorCode.INVALID_HANDLE)
        code = access_error(attribute.permissions, Access.WRITE, connection.security)
        if code is not None:
            return _error(pdu, pdu.handle, code)
        # Offsets and lengths are checked at execution (3.4.6.1).
        if not connection.prepare_queue.add(PreparedWrite(pdu.handle, pdu.offset, pdu.value)):
            return _error(pdu, pdu.handle, AttErrorCode.PREPARE_QUEUE_FULL)
        return PrepareWriteResponse(pdu.handle, pdu.offset, pdu.value)

    def _execute_write(
        self, connection: ClientConnection, bearer: int, pdu: ExecuteWriteRequest
    ) -> list[Output]:
        queue = connection.prepare_queue
        if not pdu.execute or not len(queue):
            queue.clear()
            return self._answer(connection, bearer, pdu, ExecuteWriteResponse())
        current: dict[int, bytes] = {}
        attributes: dict[int, Attribute] = {}
        for handle in queue.handles():
            attribute = self.database.get(handle)
            if attribute is None:
                queue.clear()
                error = _error(pdu, handle, AttErrorCode.INVALID_HANDLE)
                return self._answer(connection, bearer, pdu, error)
            attributes[handle] = attribute
            # An application's value is written whole: its parts start from nothing.
            current[handle] = (
                b"" if attribute.value is None else self._stored(connection, attribute)
            )
        assembled = queue.assemble(current)
        queue.clear()
        if isinstance(assembled, QueueError):
            error = _error(pdu, assembled.handle, assembled.error)
            return self._answer(connection, bearer, pdu, error)
        steps: list[_Read | _Write] = []
        for item in assembled:
            attribute = attributes[item.handle]
            code = _value_error(attribute, item.value) or self._state_error(
                connection, attribute, item.value
            )
            if code is not None:
                return self._answer(connection, bearer, pdu, _error(pdu, item.handle, code))
            steps.append(_Write(attribute, item.value))
        return self._start(connection, bearer, pdu, steps, lambda _values: ExecuteWriteResponse())

    # -- running a transaction ---------------------------------------------------------------
    def _asks_to_read(self, attribute: Attribute) -> bool:
        return attribute.app_read or (
            attribute.authorize and needs_authorization(attribute.permissions, Access.READ)
        )

    def _asks_to_write(self, attribute: Attribute) -> bool:
        return attribute.app_write or (
            attribute.authorize and needs_authorization(attribute.permissions, Access.WRITE)
        )

    def _stored(self, connection: ClientConnection, attribute: Attribute) -> bytes:
        if attribute.kind is AttributeKind.CCCD:
            return self._cccd_value(connection, attribute.handle).to_bytes(CCCD_LENGTH, "little")
        gatt = self.gatt_service
        if gatt is not None and gatt.serves(attribute.handle):
            return gatt.read(connection.handle, attribute.handle)
        return attribute.value or b""

    def _state_error(
        self, connection: ClientConnection, attribute: Attribute, value: bytes
    ) -> AttErrorCode | None:
        """A write the GATT service refuses: Client Supported Features losing a bit (7.2)."""
        gatt = self.gatt_service
        if gatt is None or not gatt.serves(attribute.handle):
            return None
        if self.clients.features_refused(connection.handle, value):
            return AttErrorCode.VALUE_NOT_ALLOWED
        return None

    # The client's CCCD values (client_state.py): the three places that read or write them.
    def _cccd_value(self, connection: ClientConnection, cccd: int) -> int:
        return self.clients.cccd(connection.handle, cccd)

    def _write_cccd(
        self, connection: ClientConnection, attribute: Attribute, bits: int
    ) -> list[Output]:
        before = self.clients.cccd(connection.handle, attribute.handle)
        outputs = self._served(self.clients.write_cccd(connection.handle, attribute.handle, bits))
        if bits == before:
            return outputs
        subscription = GattSubscriptionInd(
            handle=connection.handle,
            peer=connection.peer,
            value_handle=attribute.value_handle,
            notify=bool(bits & CCCD_NOTIFY),
            indicate=bool(bits & CCCD_INDICATE),
        )
        return [*outputs, Emit(subscription)]

    def _start(
        self,
        connection: ClientConnection,
        bearer: int,
        request: AttPdu,
        steps: list[_Read | _Write],
        finish: Callable[[list[bytes]], AttPdu] | None,
    ) -> list[Output]:
        transaction = _Transaction(connection, bearer, request, steps, finish)
        return self._run(transaction)

    def _run(self, transaction: _Transaction) -> list[Output]:
        connection = transaction.connection
        while transaction.position < len(transaction.steps):
            step = transaction.current
            attribute = step.attribute
            if isinstance(step, _Read):
                if self._asks_to_read(attribute):
                    return self._ask(transaction, self._read_ind(transaction, step))
                transaction.values.append(self._stored(connection, attribute))
            else:
                if self._asks_to_write(attribute):
                    return self._ask(transaction, self._write_ind(transaction, step))
                transaction.outputs.extend(self._store(connection, attribute, step.value))
            transaction.position += 1
        self._done(transaction)
        outputs = transaction.outputs
        if transaction.finish is not None:
            response = transaction.finish(transaction.values)
            outputs.append(SendPdu(connection.handle, transaction.bearer, response))
        return outputs

    @staticmethod
    def _done(transaction: _Transaction) -> None:
        """The transaction ended: its bearer is free for the next request, unless it is a
        command, which never held the bearer (a request may wait there meanwhile, 3.3.2)."""
        waiting = transaction.connection.waiting
        if waiting.get(transaction.bearer) is transaction:
            del waiting[transaction.bearer]

    def _read_ind(self, transaction: _Transaction, step: _Read) -> GattServerReadInd:
        connection = transaction.connection
        return GattServerReadInd(
            request_id=self._new_request_id(transaction),
            handle=connection.handle,
            peer=connection.peer,
            attribute_handle=step.attribute.handle,
            offset=step.offset,
        )

    def _write_ind(self, transaction: _Transaction, step: _Write) -> GattServerWriteInd:
        connection = transaction.connection
        return GattServerWriteInd(
            request_id=self._new_request_id(transaction),
            handle=connection.handle,
            peer=connection.peer,
            attribute_handle=step.attribute.handle,
            value=step.value,
            with_response=transaction.finish is not None,
        )

    def _new_request_id(self, transaction: _Transaction) -> int:
        request_id = self._next_request_id
        self._next_request_id += 1
        transaction.request_id = request_id
        return request_id

    def _ask(
        self, transaction: _Transaction, indication: GattServerReadInd | GattServerWriteInd
    ) -> list[Output]:
        self._asked[transaction.request_id] = transaction
        if transaction.finish is not None:
            transaction.connection.waiting[transaction.bearer] = transaction
        outputs = transaction.outputs
        transaction.outputs = []
        outputs.append(Emit(indication))
        return outputs

    def _fail(self, transaction: _Transaction, attribute: Attribute, code: int) -> list[Output]:
        connection = transaction.connection
        self._done(transaction)
        outputs = transaction.outputs
        if transaction.finish is None:
            log.info("command to 0x%04X refused by the application: 0x%02X", attribute.handle, code)
            return outputs
        response = ErrorResponse(transaction.request.opcode, attribute.handle, code)
        outputs.append(SendPdu(connection.handle, transaction.bearer, response))
        return outputs

    def _store(
        self, connection: ClientConnection, attribute: Attribute, value: bytes
    ) -> list[Output]:
        if attribute.kind is AttributeKind.CCCD:
            return self._write_cccd(connection, attribute, int.from_bytes(value, "little"))
        gatt = self.gatt_service
        if gatt is not None and gatt.serves(attribute.handle):
            return self._served(gatt.write(connection.handle, attribute.handle, value))
        self.database.set_value(attribute.handle, value)
        return []

    def _answer(
        self, connection: ClientConnection, bearer: int, request: AttPdu, response: AttPdu
    ) -> list[Output]:
        if is_command(request.opcode):
            return []
        return [SendPdu(connection.handle, bearer, response)]


def _error(request: AttPdu, handle: int, code: int) -> ErrorResponse:
    return ErrorResponse(int(request.opcode), handle, int(code))


def _range_error(request: AttPdu, start: int, end: int) -> ErrorResponse | None:
    # 3.4.3.1 and the other range requests: a start of 0 or above the end is Invalid Handle.
    if start == 0 or start > end:
        return _error(request, start, AttErrorCode.INVALID_HANDLE)
    return None


def _is_16_bit(attribute: Attribute) -> bool:
    return len(att_uuid_bytes(attribute.type)) == 2


def _openly_readable(attribute: Attribute) -> bool:
    permissions = attribute.permissions
    security = permissions.read_security
    return (
        permissions.readable
        and attribute.kind is not AttributeKind.CCCD
        and not security.needs_encryption
        and not security.authorization
    )


def _value_error(attribute: Attribute, value: bytes) -> AttErrorCode | None:
    """What is wrong with ``value`` for ``attribute`` once the access is allowed."""
    if len(value) > MAX_ATTRIBUTE_VALUE_LENGTH:
        return AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH
    if attribute.kind is AttributeKind.CCCD:
        if len(value) != CCCD_LENGTH:
            return AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH
        allowed = 0
        if attribute.properties & Properties.NOTIFY:
            allowed |= CCCD_NOTIFY
        if attribute.properties & Properties.INDICATE:
            allowed |= CCCD_INDICATE
        if int.from_bytes(value, "little") & ~allowed:
            return AttErrorCode.CCCD_IMPROPERLY_CONFIGURED
    return None


def _length_values_within(values: list[bytes], room: int) -> tuple[bytes, ...]:
    """The values of a Read Multiple Variable Response within ``room`` (ATT_MTU - 1) octets,
    each after its 2-octet length (3.4.4.12).

    The specification cuts the list at ``room`` octets, the last tuple's Length still giving
    the whole value's length, so the client knows to read the rest. The codec's tuples carry
    no length of their own (``LengthValueList`` writes each value's own), so a value cut
    short would look whole: the list stops before a value that does not fit, and the client
    asks again for the handles left out. Only a first value longer than ``room`` - 2 is cut,
    as nothing else can be answered."""
    kept: list[bytes] = []
    for value in values:
        if 2 + len(value) > room:
            if not kept:
                kept.append(value[: room - 2])
            break
        kept.append(value)
        room -= 2 + len(value)
    return tuple(kept)
