"""The GATT client of one connection (Core 5.4 Vol 3 Part G 4): ``link.gatt``.

    gatt = link.gatt
    await gatt.exchange_mtu()                       # 517 unless given
    services = await gatt.discover_all()            # the whole tree, cached for bonded peers
    level = gatt.characteristic(uuid16(0x2A19))
    value = await gatt.read(level)                  # long values read in full
    await gatt.write(level, b"\\x01")                # a long write when it does not fit
    async with gatt.subscribe(level) as values:     # listening before the CCCD is written
        async for value in values:
            ...

Every operation runs one procedure of :mod:`bluetrio.gatt.procedures` over the link's ATT
bearer, which carries one request at a time (or spreads them over EATT bearers), so several
tasks may call at once; prepared writes (long and reliable writes) take turns, since the
server keeps one queue of them per client. An Error Response raises
:class:`~bluetrio.errors.GattAttributeError`; an answer that breaks the procedure's rules
raises :class:`~bluetrio.errors.GattProtocolError`; a bad argument raises
:class:`~bluetrio.errors.InvalidArgumentError` before anything is sent.

Security: with ``auto_secure`` (the default) an operation the server refuses with Insufficient
Authentication, Insufficient Encryption or Insufficient Encryption Key Size makes the client
ask for the security it lacks once (the link pairs when there is no bond, or encrypts with
the bond) and retries the operation once (Vol 3 Part C 10.3.1). Insufficient Authorization is
the server application's decision and is never retried.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar
from uuid import UUID

import attrs
import trio

from bluetrio import arguments
from bluetrio.errors import (
    BluetrioError,
    GattAttributeError,
    GattError,
    GattProtocolError,
    InvalidArgumentError,
)
from bluetrio.gatt import procedures
from bluetrio.gatt.cache import CachedDatabase
from bluetrio.gatt.port import AttClientBearer, ValueStream
from bluetrio.gatt.procedures import (
    FIRST_HANDLE,
    LAST_HANDLE,
    WRITE_OVERHEAD,
    Procedure,
)
from bluetrio.gatt.remote import (
    DATABASE_HASH_UUID,
    SERVICE_CHANGED_UUID,
    RemoteCharacteristic,
    RemoteDescriptor,
    RemoteService,
    walk_characteristics,
)
from bluetrio.messages.att import (
    DEFAULT_MTU,
    MAX_MTU,
    MAX_VALUE_LENGTH,
    AttErrorCode,
    AttPdu,
    WriteCommand,
)
from bluetrio.messages.gatt_declarations import CCCD_UUID, Properties, as_uuid, as_value

__all__ = ["CLEANUP_TIMEOUT", "SECURITY_ERRORS", "CacheSlot", "GattClient"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
# The errors a server gives for the security the link lacks (Vol 3 Part F 3.4.1.1), which
# pairing or encryption can cure; Insufficient Authorization (0x08) is not one of them.
SECURITY_ERRORS = frozenset(
    {
        AttErrorCode.INSUFFICIENT_AUTHENTICATION,
        AttErrorCode.INSUFFICIENT_ENCRYPTION,
        AttErrorCode.ENCRYPTION_KEY_SIZE_TOO_SHORT,
    }
)
# Bound of the shielded CCCD write that ends a subscription: a peer that no longer answers
# must not keep the ``async with`` block from ending.
CLEANUP_TIMEOUT = 5.0
# Values a subscription holds for a reader that falls behind (the bearer drops the oldest
# past it and counts them).
SUBSCRIPTION_CAPACITY = 256


class CacheSlot(Protocol):
    """The discovery cache's entry for this client's peer (see :mod:`bluetrio.gatt.cache`):
    reads and writes nothing while the peer is not bonded."""

    async def load(self) -> CachedDatabase | None: ...

    async def store(self, entry: CachedDatabase) -> None: ...

    def drop(self) -> None: ...


Target = RemoteCharacteristic | RemoteDescriptor | int
UuidLike = UUID | int | str
Secure = Callable[[int], Awaitable[None]]
# The command of a signed write of (handle, value): a Signed Write Command, or a Write
# Command on an encrypted link (Vol 3 Part G 4.9.2).
Signer = Callable[[int, bytes], Awaitable[AttPdu]]
# A Signed Write Command's octets around the value: opcode, handle, the 12-octet signature
# (Vol 3 Part F 3.4.5.4).
SIGNED_WRITE_OVERHEAD = 15


@attrs.define
class _Subscription:
    notify: int = 0  # subscribers asking for notifications
    indicate: int = 0

    def value(self) -> bytes:
        return procedures.cccd_value(self.notify > 0, self.indicate > 0)


class GattClient:
    """The GATT client of one connection (see the module docstring).

    ``bearer``: the link's ATT bearer. ``secure(error_code)``: makes the link meet what the
    server's security error asks for, raising when it cannot (None: never asked).
    ``cache``: the discovery cache's slot for the peer (None: nothing cached).
    ``signer(handle, value)``: the command a signed write sends (None: no signed writes).
    """

    def __init__(
        self,
        bearer: AttClientBearer,
        *,
        secure: Secure | None = None,
        auto_secure: bool = True,
        cache: CacheSlot | None = None,
        signer: Signer | None = None,
    ) -> None:
        self._bearer = bearer
        self._secure = secure
        self._signer = signer
        self.auto_secure = arguments.flag("auto_secure", auto_secure)
        self._cache = cache
        self._services: tuple[RemoteService, ...] = ()
        self._mtu_exchanged = False
        self._queued_writes = trio.Lock()  # one prepare queue per client (3.4.6)
        self._configuring = trio.Lock()  # CCCD writes of overlapping subscriptions
        self._subscriptions: dict[int, _Subscription] = {}
        self._service_changed_handle: int | None = None

    # -- the discovered tree ----------------------------------------------------------------
    @property
    def mtu(self) -> int:
        """The bearer's ATT_MTU now."""
        return self._bearer.mtu

    @property
    def services(self) -> tuple[RemoteService, ...]:
        """The tree the last :meth:`discover_all` found (empty before, and after the peer
        said its database changed)."""
        return self._services

    def service(self, uuid: UuidLike) -> RemoteService | None:
        """The first discovered service of type ``uuid``, or None. A UUID is a
        :class:`uuid.UUID`, its string, or a 16 or 32-bit assigned number (0x180F)."""
        kind = as_uuid(uuid)
        return next((s for s in self._services if s.uuid == kind), None)

    def characteristic(self, uuid: UuidLike) -> RemoteCharacteristic | None:
        """The first discovered characteristic of type ``uuid`` (any service), or None."""
        kind = as_uuid(uuid)
        return next((c for c in walk_characteristics(self._services) if c.uuid == kind), None)

    # -- running procedures -----------------------------------------------------------------
    async def _drive(self, procedure: Procedure[T]) -> T:
        try:
            request = next(procedure)
            while True:
                request = procedure.send(await self._bearer.exchange(request))
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            procedure.close()

    async def _run(self, make: Callable[[], Procedure[T]]) -> T:
        """Run the procedure ``make`` builds; once more after securing the link when the
        server refused it for security the link lacks (and ``auto_secure`` is on)."""
        try:
            return await self._attempt(make())
        except GattAttributeError as error:
            if not (
                self.auto_secure
                and self._secure is not None
                and error.error_code in SECURITY_ERRORS
            ):
                raise
            try:
                await self._secure(error.error_code)
            except BluetrioError as failure:
                raise failure from error
        return await self._attempt(make())

    async def _attempt(self, procedure: Procedure[T]) -> T:
        try:
            return await self._drive(procedure)
        except GattAttributeError as error:
            self._after_error(error)
            raise

    def _after_error(self, error: GattAttributeError) -> None:
        if error.error_code == AttErrorCode.DATABASE_OUT_OF_SYNC:
            # Robust caching (Vol 3 Part G 2.5.2.1): what we know of the database is stale.
            self.database_changed()

    def database_changed(self) -> None:
        """The peer's database changed (Service Changed, Database Out Of Sync): forget the
        discovered tree and the cache's entry; :meth:`discover_all` discovers it anew."""
        self._services = ()
        if self._cache is not None:
            self._cache.drop()

    # -- MTU (4.3.1) --------------------------------------------------------------------------
    async def exchange_mtu(self, mtu: int = MAX_MTU) -> int:
        """Exchange MTU: offer ``mtu`` (23..517) as our receive MTU; the ATT_MTU that
        results. A client exchanges once per connection (Vol 3 Part F 3.4.2): later calls
        return the ATT_MTU without asking."""
        mtu = arguments.integer("mtu", mtu, DEFAULT_MTU, MAX_MTU)
        if self._mtu_exchanged:
            await trio.lowlevel.checkpoint()
            return self._bearer.mtu
        self._mtu_exchanged = True
        try:
            await self._run(lambda: procedures.exchange_mtu(mtu))
        except GattAttributeError as error:
            if error.error_code != AttErrorCode.REQUEST_NOT_SUPPORTED:
                raise
        return self._bearer.mtu

    # -- discovery (4.4-4.7) -------------------------------------------------------------------
    async def discover_services(self, uuid: UuidLike | None = None) -> tuple[RemoteService, ...]:
        """The peer's primary services (of type ``uuid`` when given), in handle order."""
        kind = None if uuid is None else as_uuid(uuid)
        return await self._run(lambda: procedures.discover_primary_services(kind))

    async def discover_included(self, service: RemoteService) -> tuple[RemoteService, ...]:
        """The services ``service`` includes (Find Included Services, 4.5.1)."""
        service = arguments.instance("service", service, RemoteService)
        return await self._run(lambda: procedures.find_included_services(service))

    async def discover_characteristics(
        self, service: RemoteService, uuid: UuidLike | None = None
    ) -> tuple[RemoteCharacteristic, ...]:
        """The characteristics of ``service`` (of type ``uuid`` when given)."""
        service = arguments.instance("service", service, RemoteService)
        kind = None if uuid is None else as_uuid(uuid)
        return await self._run(lambda: procedures.discover_characteristics(service, kind))

    async def discover_descriptors(
        self, characteristic: RemoteCharacteristic
    ) -> tuple[RemoteDescriptor, ...]:
        """The descriptors of ``characteristic``."""
        characteristic = arguments.instance("characteristic", characteristic, RemoteCharacteristic)
        return await self._run(lambda: procedures.discover_descriptors(characteristic))

    async def discover_all(self) -> tuple[RemoteService, ...]:
        """The whole tree: every primary service with its included services,
        characteristics and their descriptors; kept for :meth:`service` and
        :meth:`characteristic`.

        For a bonded peer the tree is cached with the peer's Database Hash, read first:
        when the hash read now is the cached one, the cached tree is used without
        discovering. When the peer has Service Changed, the client subscribes to it (again
        on every connection: a server should keep that CCCD for a bonded client, Vol 3
        Part G 7.1, but one that does not would leave us deaf) and forgets the tree when
        an indication comes.
        """
        database_hash = await self._database_hash()
        cached = await self._cache.load() if self._cache is not None else None
        if (
            cached is not None
            and database_hash is not None
            and cached.database_hash == database_hash
        ):
            self._services = cached.services
            await self._subscribe_service_changed()
            return self._services
        filled: dict[tuple[int, int], RemoteService | None] = {}
        tree: list[RemoteService] = []
        for service in await self.discover_services():
            tree.append(await self._fill(service, filled))
        self._services = tuple(tree)
        if self._cache is not None and database_hash is not None:
            await self._cache.store(CachedDatabase(database_hash, self._services))
        await self._subscribe_service_changed()
        return self._services

    async def _fill(
        self, service: RemoteService, filled: dict[tuple[int, int], RemoteService | None]
    ) -> RemoteService:
        """``service`` with its included services and characteristics. Each range is
        discovered once (``filled``; None while its discovery runs): a service included
        twice is the same, and one that includes itself through others (which Vol 3 Part G
        3.2 forbids) is given bare instead of being discovered without end."""
        key = (service.handle, service.end_handle)
        if key in filled:
            done = filled[key]
            if done is None:
                return service
            return attrs.evolve(done, primary=service.primary)
        filled[key] = None
        included = tuple(
            [await self._fill(s, filled) for s in await self.discover_included(service)]
        )
        characteristics = []
        for characteristic in await self.discover_characteristics(service):
            descriptors = await self.discover_descriptors(characteristic)
            characteristics.append(attrs.evolve(characteristic, descriptors=descriptors))
        done = attrs.evolve(service, included=included, characteristics=tuple(characteristics))
        filled[key] = done
        return done

    async def _database_hash(self) -> bytes | None:
        """The peer's Database Hash (Vol 3 Part G 7.3), or None when it has none or does
        not let us read it. Reading it also makes us change-aware again (2.5.2.1)."""
        if self._cache is None:
            return None
        try:
            # Not worth pairing for: without it the client discovers.
            found = await self._attempt(procedures.read_by_uuid(DATABASE_HASH_UUID))
        except GattError as error:
            logger.info("GATT: no Database Hash read (%s): discovering", error)
            return None
        for _handle, value in found:
            if len(value) == 16:
                return value
        return None

    def _find_service_changed(self) -> RemoteCharacteristic | None:
        found = self.characteristic(SERVICE_CHANGED_UUID)
        self._service_changed_handle = found.value_handle if found is not None else None
        return found

    @property
    def service_changed_handle(self) -> int | None:
        """The value handle of the peer's Service Changed characteristic, once discovered."""
        return self._service_changed_handle

    async def _subscribe_service_changed(self) -> None:
        found = self._find_service_changed()
        cccd = found.cccd if found is not None else None
        if found is None or cccd is None or not found.properties & Properties.INDICATE:
            return
        value = procedures.cccd_value(False, True)
        try:
            await self._run(lambda: procedures.write(cccd.handle, value))
        except GattError as error:
            logger.info("GATT: Service Changed not subscribed: %s", error)

    def on_value(self, attribute_handle: int, value: bytes) -> None:
        """A value the peer notified or indicated: a Service Changed indication (7.1)
        makes the client forget the tree and the cache's entry."""
        if attribute_handle == self._service_changed_handle and attribute_handle is not None:
            logger.info("GATT: the peer's database changed (%s)", value.hex())
            self.database_changed()

    # -- reads (4.8) ---------------------------------------------------------------------------
    async def read(self, target: Target) -> bytes:
        """The value of a characteristic, descriptor or handle, in full (a value that fills
        the response is read on with Read Blob, up to 512 octets)."""
        handle = _handle_of(target)
        return await self._run(lambda: procedures.read(handle, self._bearer))

    async def read_long(self, target: Target, offset: int = 0) -> bytes:
        """The value from ``offset`` on (Read Long Characteristic Values, 4.8.3)."""
        handle = _handle_of(target)
        offset = arguments.integer("offset", offset, 0, MAX_VALUE_LENGTH)
        return await self._run(lambda: procedures.read_long(handle, self._bearer, offset))

    async def read_by_uuid(
        self, uuid: UuidLike, start: int = FIRST_HANDLE, end: int = LAST_HANDLE
    ) -> tuple[tuple[int, bytes], ...]:
        """Every (handle, value) of type ``uuid`` in ``start``..``end`` (4.8.2); each value
        is what one response carries of it (read it with :meth:`read` for the rest)."""
        kind = as_uuid(uuid)
        start = arguments.integer("start", start, FIRST_HANDLE, LAST_HANDLE)
        end = arguments.integer("end", end, start, LAST_HANDLE)
        return await self._run(lambda: procedures.read_by_uuid(kind, start, end))

    async def read_multiple(self, targets: Sequence[Target]) -> bytes:
        """The values of two or more attributes in one request, concatenated (4.8.4; the
        caller knows where each ends)."""
        handles = _handles_of(targets)
        return await self._run(lambda: procedures.read_multiple(handles, self._bearer))

    async def read_multiple_variable(self, targets: Sequence[Target]) -> tuple[bytes, ...]:
        """The values of two or more attributes in one request, one per attribute (4.8.5);
        fewer, the last cut short, when they do not all fit in the ATT_MTU."""
        handles = _handles_of(targets)
        return await self._run(lambda: procedures.read_multiple_variable(handles))

    # -- writes (4.9) --------------------------------------------------------------------------
    async def write(
        self, target: Target, value: bytes, *, with_response: bool = True, signed: bool = False
    ) -> None:
        """Write ``value`` (up to 512 octets): with a Write Request, or a Write Long when it
        does not fit in one (4.9.3, 4.9.4). With ``with_response=False`` a Write Command
        (4.9.1), which must fit in ATT_MTU - 3 octets and is not confirmed; with
        ``signed=True`` too, a Signed Write Command (4.9.2: ATT_MTU - 15 octets, signed
        with the CSRK we gave the bonded peer), or a Write Command on an encrypted link."""
        handle = _handle_of(target)
        value = as_value(value)
        with_response = arguments.flag("with_response", with_response)
        signed = arguments.flag("signed", signed)
        if signed and with_response:
            raise InvalidArgumentError("a signed write is a write without response")
        if not with_response:
            overhead = SIGNED_WRITE_OVERHEAD if signed else WRITE_OVERHEAD
            limit = self._bearer.mtu - overhead
            if len(value) > limit:
                raise InvalidArgumentError(
                    f"a {'signed ' if signed else ''}write without response carries at most "
                    f"{limit} octets (ATT_MTU {self._bearer.mtu}); got {len(value)}"
                )
            command: AttPdu = WriteCommand(handle, value)
            if signed:
                if self._signer is None:
                    raise GattError("signed writes need a bond whose CSRK the peer holds")
                command = await self._signer(handle, value)
            await self._bearer.send_command(command)
            return
        if len(value) <= self._bearer.mtu - WRITE_OVERHEAD:
            await self._run(lambda: procedures.write(handle, value))
            return
        async with self._queued_writes:
            await self._run(lambda: procedures.write_long(handle, value, self._bearer))

    async def write_long(self, target: Target, value: bytes, offset: int = 0) -> None:
        """Write ``value`` at ``offset`` with Prepare and Execute Write (4.9.4)."""
        handle = _handle_of(target)
        value = as_value(value)
        offset = arguments.integer("offset", offset, 0, MAX_VALUE_LENGTH - len(value))
        async with self._queued_writes:
            await self._run(lambda: procedures.write_long(handle, value, self._bearer, offset))

    async def reliable_write(self, writes: Sequence[tuple[Target, bytes]]) -> None:
        """Write several values at once (Reliable Writes, 4.9.5): each is prepared and its
        echo checked, then one Execute Write applies them all; on any error none is."""
        checked = [(_handle_of(target), as_value(value)) for target, value in writes]
        if not checked:
            raise InvalidArgumentError("a reliable write needs at least one value")
        async with self._queued_writes:
            await self._run(lambda: procedures.reliable_write(checked, self._bearer))

    # -- notifications and indications (4.10, 4.11) --------------------------------------------
    @contextlib.asynccontextmanager
    async def subscribe(
        self, characteristic: RemoteCharacteristic, *, indicate: bool | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """``async with gatt.subscribe(c) as values: async for value in values`` - the values
        the peer notifies (or indicates, with ``indicate=True``; None: notifications when
        the characteristic has them, else indications).

        The client listens before it writes the CCCD, so a value sent right after the
        write is not lost; when the block ends it writes the CCCD back (bounded by
        :data:`CLEANUP_TIMEOUT`, shielded from cancellation) unless another subscription to
        the same characteristic still runs.
        """
        characteristic = arguments.instance("characteristic", characteristic, RemoteCharacteristic)
        indicate = _mode(characteristic, indicate)
        cccd = characteristic.cccd
        if cccd is None:
            descriptors = await self.discover_descriptors(characteristic)
            cccd = next((d for d in descriptors if d.uuid == CCCD_UUID), None)
        if cccd is None:
            raise GattProtocolError(
                f"the characteristic at 0x{characteristic.handle:04X} "
                f"{'indicates' if indicate else 'notifies'} but has no Client Characteristic "
                "Configuration descriptor (Vol 3 Part G 3.3.3.3)"
            )
        listening = self._bearer.listen(characteristic.value_handle, SUBSCRIPTION_CAPACITY)
        async with listening as received:
            await self._configure(cccd.handle, indicate, +1)
            try:
                yield _values(received)
            finally:
                with trio.CancelScope(shield=True) as scope:
                    scope.deadline = trio.current_time() + CLEANUP_TIMEOUT
                    try:
                        await self._configure(cccd.handle, indicate, -1)
                    except BluetrioError as error:
                        logger.info("GATT: CCCD 0x%04X not written back: %s", cccd.handle, error)
                if scope.cancelled_caught:
                    logger.info("GATT: CCCD 0x%04X not written back in time", cccd.handle)

    async def _configure(self, cccd_handle: int, indicate: bool, change: int) -> None:
        """Count a subscription in (+1) or out (-1) and write the CCCD when its value
        changes; a subscription counted in whose write fails is counted out again."""
        async with self._configuring:
            subscription = self._subscriptions.setdefault(cccd_handle, _Subscription())
            before = subscription.value()
            if indicate:
                subscription.indicate += change
            else:
                subscription.notify += change
            after = subscription.value()
            if subscription.notify == subscription.indicate == 0:
                del self._subscriptions[cccd_handle]
            if after == before:
                return
            try:
                await self._run(lambda: procedures.write(cccd_handle, after))
            except BaseException:
                if change > 0:
                    if indicate:
                        subscription.indicate -= 1
                    else:
                        subscription.notify -= 1
                    if subscription.notify == subscription.indicate == 0:
                        self._subscriptions.pop(cccd_handle, None)
                raise


async def _values(received: ValueStream) -> AsyncIterator[bytes]:
    async for item in received:
        yield item.value


def _mode(characteristic: RemoteCharacteristic, indicate: bool | None) -> bool:
    """Whether to subscribe to indications (True) or notifications (False)."""
    properties = characteristic.properties
    if indicate is None:
        if properties & Properties.NOTIFY:
            return False
        if properties & Properties.INDICATE:
            return True
        raise InvalidArgumentError(
            f"the characteristic at 0x{characteristic.handle:04X} neither notifies nor indicates"
        )
    indicate = arguments.flag("indicate", indicate)
    wanted = Properties.INDICATE if indicate else Properties.NOTIFY
    if not properties & wanted:
        raise InvalidArgumentError(
            f"the characteristic at 0x{characteristic.handle:04X} does not "
            f"{'indicate' if indicate else 'notify'}"
        )
    return indicate


def _handle_of(target: Target) -> int:
    if isinstance(target, RemoteCharacteristic):
        return target.value_handle
    if isinstance(target, RemoteDescriptor):
        return target.handle
    return arguments.integer("handle", target, FIRST_HANDLE, LAST_HANDLE)


def _handles_of(targets: Sequence[Target]) -> tuple[int, ...]:
    handles = tuple(_handle_of(t) for t in targets)
    if len(handles) < 2:
        raise InvalidArgumentError("reading multiple values needs two handles or more")
    return handles
