"""The GATT client's API over a fake bearer: discovery, reads, writes, subscriptions, the
security retry and the discovery cache (Core 5.4 Vol 3 Part G 4, 2.5.2)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import attrs
import pytest
import trio
import trio.testing
from gatt_database import CUSTOM, CUSTOM_VALUE, LEVEL, LONG_VALUE, Database, database

from bluetrio.actors.gatt.signing import SignatureCheck, check_signature
from bluetrio.address import Address
from bluetrio.bonds import Bond, KeyDistribution, Transport
from bluetrio.errors import (
    GattAttributeError,
    GattError,
    GattProtocolError,
    InvalidArgumentError,
    PairingError,
)
from bluetrio.gatt.cache import (
    CachedDatabase,
    DiscoveryCache,
    JsonDiscoveryCache,
    MemoryDiscoveryCache,
    cache_for_keystore,
)
from bluetrio.gatt.client import GattClient
from bluetrio.gatt.links import GattClients, _LinkServices, requirement_for
from bluetrio.gatt.remote import DATABASE_HASH_UUID, SERVICE_CHANGED_UUID, RemoteCharacteristic
from bluetrio.keystore import JsonKeyStore, MemoryKeyStore
from bluetrio.messages.att import (
    AttErrorCode,
    AttPdu,
    ErrorResponse,
    ExchangeMtuRequest,
    ExecuteWriteRequest,
    PrepareWriteRequest,
    ReadByGroupTypeRequest,
    ReadRequest,
    SignedWriteCommand,
    WriteCommand,
    WriteRequest,
)
from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.gatt_declarations import Properties
from bluetrio.messages.uuids import uuid16
from bluetrio.testing.att_fake import FakeAttServer, FakeBearer

PEER = Address.parse("C0:11:22:33:44:55")
HASH = bytes(range(16))


class Slot:
    """A cache slot for one bonded peer over a discovery cache."""

    def __init__(self, cache: DiscoveryCache, peer: Address = PEER) -> None:
        self.cache = cache
        self.peer = peer

    async def load(self) -> CachedDatabase | None:
        return await self.cache.get(self.peer)

    async def store(self, entry: CachedDatabase) -> None:
        await self.cache.put(self.peer, entry)

    def drop(self) -> None:
        self.cache.drop(self.peer)


def client(db: Database, **options: object) -> tuple[GattClient, FakeBearer]:
    bearer = FakeBearer(db.server)
    return GattClient(bearer, **options), bearer  # type: ignore[arg-type]


async def test_exchange_mtu_once() -> None:
    db = database(247)
    gatt, _ = client(db)
    assert gatt.mtu == 23
    assert await gatt.exchange_mtu() == 247
    assert await gatt.exchange_mtu(100) == 247  # once per connection (Vol 3 Part F 3.4.2)
    assert db.server.requests == [ExchangeMtuRequest(517)]
    with pytest.raises(InvalidArgumentError):
        await client(database())[0].exchange_mtu(22)


async def test_an_mtu_exchange_the_server_does_not_support_keeps_the_default() -> None:
    db = database()
    bearer = FakeBearer(
        db.server,
        tamper=lambda request, answer: ErrorResponse(
            request.opcode, 0, AttErrorCode.REQUEST_NOT_SUPPORTED
        ),
    )
    assert await GattClient(bearer).exchange_mtu() == 23


@pytest.mark.parametrize("mtu", [23, 517])
async def test_discover_all_and_look_ups(mtu: int) -> None:
    db = database(mtu)
    gatt, _ = client(db)
    await gatt.exchange_mtu(mtu)
    services = await gatt.discover_all()
    assert [s.uuid for s in services] == [db.gap.uuid, CUSTOM, db.battery.uuid]
    custom = gatt.service(CUSTOM)
    assert custom is not None
    assert [s.uuid for s in custom.included] == [db.secondary_16.uuid, db.secondary_128.uuid]
    assert [len(s.characteristics) for s in custom.included] == [1, 1]
    value = gatt.characteristic(CUSTOM_VALUE)
    assert value is not None and value.value_handle == db.custom_value
    assert value.cccd is not None and value.cccd.handle == db.custom_value + 1
    assert gatt.characteristic(uuid16(0x2BFF)) is None
    assert gatt.characteristic(0x2A00) == gatt.characteristic(uuid16(0x2A00)) is not None
    assert gatt.service(str(CUSTOM)) is custom
    with pytest.raises(InvalidArgumentError):
        gatt.service(-1)
    assert gatt.services == services


async def test_discovery_one_level_at_a_time() -> None:
    db = database()
    gatt, _ = client(db)
    assert await gatt.discover_services(0x180F) == (db.battery,)
    (level,) = await gatt.discover_characteristics(db.battery)
    assert level.uuid == LEVEL
    (cccd,) = await gatt.discover_descriptors(level)
    assert cccd.handle == db.level + 1
    assert await gatt.discover_included(db.custom) == (db.secondary_16, db.secondary_128)
    with pytest.raises(InvalidArgumentError):
        await gatt.discover_characteristics("battery")  # type: ignore[arg-type]


async def test_reads() -> None:
    db = database()
    gatt, _ = client(db)
    await gatt.discover_all()
    long_characteristic = gatt.service(CUSTOM).characteristics[1]  # type: ignore[union-attr]
    assert await gatt.read(long_characteristic) == LONG_VALUE  # 300 octets at MTU 23
    assert await gatt.read(db.name) == b"bluetrio"
    assert await gatt.read_long(db.long_value, 290) == LONG_VALUE[290:]
    assert await gatt.read_by_uuid(LEVEL) == ((db.long_value, LONG_VALUE[:19]), (db.level, b"d"))
    assert await gatt.read_multiple([db.name, db.level]) == b"bluetriod"
    assert await gatt.read_multiple_variable([db.name, db.level]) == (b"bluetrio", b"d")
    for bad in (0, 0x10000, "1"):
        with pytest.raises(InvalidArgumentError):
            await gatt.read(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        await gatt.read_multiple([db.name])


async def test_writes_choose_the_procedure_by_size() -> None:
    db = database()
    gatt, _ = client(db)
    await gatt.write(db.custom_value, b"x" * 20)  # fits ATT_MTU - 3
    assert isinstance(db.server.requests[-1], WriteRequest)
    value = bytes(range(250)) * 2  # 500 octets: Prepare Write and Execute Write
    await gatt.write(db.long_value, value)
    assert db.server.value(db.long_value) == value
    assert db.server.requests[-1] == ExecuteWriteRequest(True)
    await gatt.write(db.custom_value, b"c" * 20, with_response=False)
    assert db.server.commands == [WriteCommand(db.custom_value, b"c" * 20)]
    assert db.server.value(db.custom_value) == b"c" * 20
    with pytest.raises(InvalidArgumentError):
        await gatt.write(db.custom_value, b"c" * 21, with_response=False)
    with pytest.raises(InvalidArgumentError):
        await gatt.write(db.custom_value, bytes(513))
    await gatt.write_long(db.custom_value, b"ZZ", 2)
    assert db.server.value(db.custom_value) == b"ccZZ" + b"c" * 16


async def test_reliable_write_and_concurrent_long_writes_take_turns() -> None:
    db = database()
    gatt, _ = client(db)
    await gatt.reliable_write([(db.custom_value, b"a" * 30), (db.long_value, b"b")])
    assert db.server.value(db.custom_value) == b"a" * 30
    first, second = bytes([1]) * 100, bytes([2]) * 120
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gatt.write, db.custom_value, first)
        nursery.start_soon(gatt.write, db.long_value, second)
    assert db.server.value(db.custom_value) == first
    assert db.server.value(db.long_value)[:120] == second  # the rest of its 300 octets stay
    # One queue at a time: no prepare of one write between another's prepares and execute.
    order = [
        r.handle if isinstance(r, PrepareWriteRequest) else "execute"
        for r in db.server.requests
        if isinstance(r, PrepareWriteRequest | ExecuteWriteRequest)
    ][4:]  # after the reliable write: three prepares and its execute
    runs = "".join("E" if h == "execute" else ("a" if h == db.custom_value else "b") for h in order)
    assert runs in ("a" * 6 + "E" + "b" * 7 + "E", "b" * 7 + "E" + "a" * 6 + "E")
    with pytest.raises(InvalidArgumentError):
        await gatt.reliable_write([])


async def test_concurrent_reads_and_discovery() -> None:
    db = database()
    gatt, _ = client(db)
    results: dict[str, object] = {}

    async def read_long() -> None:
        results["long"] = await gatt.read(db.long_value)

    async def discover() -> None:
        results["tree"] = await gatt.discover_all()

    async with trio.open_nursery() as nursery:
        for job in (read_long, discover, read_long):
            nursery.start_soon(job)
    assert results["long"] == LONG_VALUE
    assert len(results["tree"]) == 3  # type: ignore[arg-type]


async def test_errors_reach_the_caller() -> None:
    db = database()
    db.server.attributes[db.name].readable = False
    gatt, _ = client(db)
    with pytest.raises(GattAttributeError) as raised:
        await gatt.read(db.name)
    assert (raised.value.error_code, raised.value.handle) == (
        AttErrorCode.READ_NOT_PERMITTED,
        db.name,
    )
    assert "Read Not Permitted (0x02)" in str(raised.value)


# -- subscriptions ----------------------------------------------------------------------------


def notifying(db: Database) -> RemoteCharacteristic:
    return RemoteCharacteristic(
        db.custom_value - 1,
        db.custom_value,
        db.custom_value + 2,
        CUSTOM_VALUE,
        Properties.READ | Properties.NOTIFY,
    )


async def test_a_value_sent_right_after_the_cccd_write_is_received() -> None:
    db = database()
    gatt, bearer = client(db)

    def notify_at_once(handle: int, value: bytes) -> None:
        if handle == db.custom_value + 1 and value == b"\x01\x00":
            bearer.push(db.custom_value, b"first")  # before the write's response returns

    db.server.on_write = notify_at_once
    async with gatt.subscribe(notifying(db)) as values:
        bearer.push(db.custom_value, b"second")
        received = [await values.__anext__(), await values.__anext__()]
    assert received == [b"first", b"second"]
    assert db.server.cccd_writes == [
        (db.custom_value + 1, b"\x01\x00"),
        (db.custom_value + 1, b"\x00\x00"),
    ]
    assert bearer.listening(db.custom_value) == 0


async def test_overlapping_subscriptions_share_the_cccd() -> None:
    db = database()
    gatt, bearer = client(db)
    both = notifying(db)
    both = RemoteCharacteristic(
        both.handle,
        both.value_handle,
        both.end_handle,
        both.uuid,
        Properties.NOTIFY | Properties.INDICATE,
    )
    cccd = db.custom_value + 1
    async with gatt.subscribe(both) as notified:
        async with gatt.subscribe(both, indicate=True) as indicated:
            bearer.push(db.custom_value, b"v")
            assert await notified.__anext__() == b"v"
            assert await indicated.__anext__() == b"v"
        assert db.server.value(cccd) == b"\x01\x00"
    assert [v for _, v in db.server.cccd_writes] == [
        b"\x01\x00",
        b"\x03\x00",
        b"\x01\x00",
        b"\x00\x00",
    ]


async def test_subscribe_checks_the_characteristic() -> None:
    db = database()
    gatt, _ = client(db)
    readable = RemoteCharacteristic(db.name - 1, db.name, db.name, uuid16(0x2A00), Properties.READ)
    with pytest.raises(InvalidArgumentError):
        async with gatt.subscribe(readable):
            pass
    with pytest.raises(InvalidArgumentError):
        async with gatt.subscribe(notifying(db), indicate=True):
            pass
    # A characteristic that says it notifies but has no CCCD breaks Vol 3 Part G 3.3.3.3.
    lying = RemoteCharacteristic(db.name - 1, db.name, db.name, uuid16(0x2A00), Properties.NOTIFY)
    with pytest.raises(GattProtocolError):
        async with gatt.subscribe(lying):
            pass


async def test_a_refused_cccd_write_leaves_no_subscription() -> None:
    db = database()
    db.server.attributes[db.custom_value + 1].writable = False
    gatt, bearer = client(db)
    with pytest.raises(GattAttributeError):
        async with gatt.subscribe(notifying(db)):
            pass
    assert bearer.listening(db.custom_value) == 0
    db.server.attributes[db.custom_value + 1].writable = True
    async with gatt.subscribe(notifying(db)):
        pass
    assert [v for _, v in db.server.cccd_writes] == [b"\x01\x00", b"\x00\x00"]


async def test_the_cccd_is_written_back_when_the_subscriber_is_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    db = database()
    gatt, _ = client(db)
    with trio.move_on_after(1):
        async with gatt.subscribe(notifying(db)) as values:
            async for _ in values:
                pass  # nothing comes: cancelled
    assert [v for _, v in db.server.cccd_writes] == [b"\x01\x00", b"\x00\x00"]


async def test_the_cccd_write_back_is_bounded(autojump_clock: trio.testing.MockClock) -> None:
    db = database()
    gatt, bearer = client(db)
    stuck = trio.Event()

    async def never_answers(request: AttPdu, *, timeout: float = 30.0) -> AttPdu:
        await stuck.wait()
        raise AssertionError("unreachable")

    async with gatt.subscribe(notifying(db)):
        bearer.exchange = never_answers  # type: ignore[method-assign]
    assert trio.current_time() >= 5.0  # gave up after CLEANUP_TIMEOUT


# -- the security retry -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        AttErrorCode.INSUFFICIENT_AUTHENTICATION,
        AttErrorCode.INSUFFICIENT_ENCRYPTION,
        AttErrorCode.ENCRYPTION_KEY_SIZE_TOO_SHORT,
    ],
)
async def test_a_security_error_secures_the_link_and_retries_once(code: int) -> None:
    db = database()
    db.server.attributes[db.name].error = code
    asked: list[int] = []

    async def secure(error_code: int) -> None:
        asked.append(error_code)
        db.server.secured = True

    gatt, _ = client(db, secure=secure)
    assert await gatt.read(db.name) == b"bluetrio"
    assert asked == [code]
    assert db.server.requests.count(ReadRequest(db.name)) == 2


async def test_the_retry_happens_once_and_authorization_is_not_retried() -> None:
    db = database()
    db.server.attributes[db.name].error = AttErrorCode.INSUFFICIENT_ENCRYPTION
    asked: list[int] = []

    async def secure_in_vain(error_code: int) -> None:
        asked.append(error_code)  # the link is "secured" but the server still refuses

    gatt, _ = client(db, secure=secure_in_vain)
    with pytest.raises(GattAttributeError) as raised:
        await gatt.read(db.name)
    assert raised.value.error_code == AttErrorCode.INSUFFICIENT_ENCRYPTION
    assert asked == [AttErrorCode.INSUFFICIENT_ENCRYPTION]
    db.server.attributes[db.name].error = AttErrorCode.INSUFFICIENT_AUTHORIZATION
    with pytest.raises(GattAttributeError):
        await gatt.read(db.name)
    assert asked == [AttErrorCode.INSUFFICIENT_ENCRYPTION]


async def test_no_retry_without_auto_secure_and_a_failed_pairing_is_raised() -> None:
    db = database()
    db.server.attributes[db.name].error = AttErrorCode.INSUFFICIENT_AUTHENTICATION

    async def secure(error_code: int) -> None:
        raise PairingError(0x05, "pairing failed")

    gatt, _ = client(db, secure=secure, auto_secure=False)
    with pytest.raises(GattAttributeError):
        await gatt.read(db.name)
    gatt.auto_secure = True
    with pytest.raises(PairingError) as raised:
        await gatt.read(db.name)
    assert isinstance(raised.value.__cause__, GattAttributeError)


async def test_a_subscription_needing_encryption_secures_and_retries() -> None:
    db = database()
    db.server.attributes[db.custom_value + 1].error = AttErrorCode.INSUFFICIENT_ENCRYPTION

    async def secure(error_code: int) -> None:
        db.server.secured = True

    gatt, _ = client(db, secure=secure)
    async with gatt.subscribe(notifying(db)):
        assert db.server.value(db.custom_value + 1) == b"\x01\x00"


# -- the discovery cache ----------------------------------------------------------------------


def with_gatt_service(db: Database, database_hash: bytes = HASH) -> tuple[int, int]:
    """Add the GATT service (Service Changed, Database Hash) at the end of the database."""
    db.server.add_service(uuid16(0x1801))
    changed = db.server.add_characteristic(SERVICE_CHANGED_UUID, Properties.INDICATE, b"")
    hashed = db.server.add_characteristic(DATABASE_HASH_UUID, Properties.READ, database_hash)
    return changed, hashed


def discoveries(server: FakeAttServer) -> int:
    return sum(1 for r in server.requests if isinstance(r, ReadByGroupTypeRequest))


async def test_the_cache_is_used_while_the_database_hash_is_the_same() -> None:
    cache = MemoryDiscoveryCache()
    db = database()
    changed, hashed = with_gatt_service(db)
    gatt, _ = client(db, cache=Slot(cache))
    tree = await gatt.discover_all()
    assert discoveries(db.server) > 0
    # Subscribed to Service Changed, whose CCCD the server keeps for a bonded client.
    assert db.server.cccd_writes == [(changed + 1, b"\x02\x00")]
    assert gatt.service_changed_handle == changed
    # A reconnection: a new client, the same hash.
    db.server.requests.clear()
    again, _ = client(db, cache=Slot(cache))
    assert await again.discover_all() == tree
    assert discoveries(db.server) == 0
    assert again.service_changed_handle == changed
    # The database changed: another hash, discovered anew.
    db.server.attributes[hashed].value = bytes(16)
    third, _ = client(db, cache=Slot(cache))
    assert await third.discover_all() == tree
    assert discoveries(db.server) > 0
    assert (await cache.get(PEER)).database_hash == bytes(16)  # type: ignore[union-attr]


async def test_service_changed_and_out_of_sync_drop_the_cache() -> None:
    cache = MemoryDiscoveryCache()
    db = database()
    changed, _ = with_gatt_service(db)
    gatt, _ = client(db, cache=Slot(cache))
    await gatt.discover_all()
    gatt.on_value(db.level, b"\x01\x00\xff\xff")  # another characteristic: nothing
    assert await cache.get(PEER) is not None
    gatt.on_value(changed, b"\x01\x00\xff\xff")
    assert await cache.get(PEER) is None
    assert gatt.services == ()
    await gatt.discover_all()
    assert await cache.get(PEER) is not None
    # Database Out Of Sync (robust caching, Vol 3 Part G 2.5.2.1).
    db.server.attributes[db.name].error = AttErrorCode.DATABASE_OUT_OF_SYNC
    with pytest.raises(GattAttributeError):
        await gatt.read(db.name)
    assert await cache.get(PEER) is None


async def test_no_cache_without_a_database_hash() -> None:
    cache = MemoryDiscoveryCache()
    db = database()
    gatt, _ = client(db, cache=Slot(cache))
    await gatt.discover_all()
    assert await cache.get(PEER) is None
    db.server.requests.clear()
    await client(db, cache=Slot(cache))[0].discover_all()
    assert discoveries(db.server) > 0


async def test_the_json_cache_survives_a_restart_and_ignores_a_damaged_file(tmp_path: Path) -> None:
    store = JsonKeyStore(tmp_path / "bonds.json", Address.parse("00:11:22:33:44:55"))
    cache = cache_for_keystore(store)
    assert isinstance(cache, JsonDiscoveryCache)
    assert cache.path == tmp_path / "bonds-gatt-cache.json"
    assert isinstance(cache_for_keystore(MemoryKeyStore(PEER)), MemoryDiscoveryCache)
    db = database()
    with_gatt_service(db)
    gatt, _ = client(db, cache=Slot(cache))
    tree = await gatt.discover_all()
    restarted = cache_for_keystore(store)
    entry = await restarted.get(PEER)
    assert entry == CachedDatabase(HASH, tree)
    restarted.drop(PEER)
    await restarted.flush()
    assert await cache_for_keystore(store).get(PEER) is None
    for damage in (
        b"{",
        b'{"format": "other"}',
        b'{"format": "bluetrio-gatt-cache", "version": 1, "peers": [{"address": 1}]}',
    ):
        cache.path.write_bytes(damage)
        assert await cache_for_keystore(store).get(PEER) is None


async def test_the_cache_keeps_a_bounded_number_of_peers() -> None:
    cache = MemoryDiscoveryCache(capacity=2)
    peers = [Address.parse(f"C0:00:00:00:00:0{i}") for i in range(3)]
    for peer in peers:
        await cache.put(peer, CachedDatabase(HASH, ()))
    assert [await cache.get(p) is not None for p in peers] == [False, True, True]


async def test_includes_that_repeat_or_loop_are_discovered_once() -> None:
    db = database()
    server = db.server
    # A last service includes the custom service twice, and includes itself (which Vol 3
    # Part G 3.2 forbids).
    last = server.add_service(uuid16(0x1812))
    server.add_include(db.custom.handle)
    server.add_include(db.custom.handle)
    itself = server.add_include(last)
    end = server.service_end(last).to_bytes(2, "little")
    server.attributes[itself].value = last.to_bytes(2, "little") + end + b"\x12\x18"
    gatt, _ = client(db)
    tree = await gatt.discover_all()
    looping = tree[-1]
    assert [s.uuid for s in looping.included] == [CUSTOM, CUSTOM, uuid16(0x1812)]
    assert looping.included[0] == looping.included[1] == attrs.evolve(tree[1], primary=None)
    assert looping.included[2].included == ()  # given bare: its discovery was running
    # The 128-bit included service's UUID was read once, though two services include it.
    reads = [r for r in server.requests if r == ReadRequest(db.secondary_128.handle)]
    assert len(reads) == 1


async def test_signed_writes_go_through_the_signer() -> None:
    db = database()

    async def signer(handle: int, value: bytes) -> AttPdu:
        return SignedWriteCommand(handle, value, 7, bytes(8))

    gatt, _ = client(db, signer=signer)
    await gatt.write(db.custom_value, b"s" * 8, with_response=False, signed=True)
    assert db.server.commands == [SignedWriteCommand(db.custom_value, b"s" * 8, 7, bytes(8))]
    with pytest.raises(InvalidArgumentError):  # ATT_MTU 23 - 15
        await gatt.write(db.custom_value, bytes(9), with_response=False, signed=True)
    with pytest.raises(InvalidArgumentError):
        await gatt.write(db.custom_value, b"s", signed=True)
    with pytest.raises(GattError):
        await client(db)[0].write(db.custom_value, b"s", with_response=False, signed=True)


async def test_sign_counters_never_repeat_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    cache = JsonDiscoveryCache(path)
    assert [await cache.next_sign_counter(PEER) for _ in range(3)] == [0, 1, 2]
    other = Address.parse("C0:00:00:00:00:09")
    assert await cache.next_sign_counter(other) == 0
    assert await JsonDiscoveryCache(path).next_sign_counter(PEER) == 3


def test_the_security_asked_for_each_error() -> None:
    # Vol 3 Part C 10.3.1: encryption (pairing or the bond) for Insufficient Encryption and
    # for Insufficient Authentication on a link not encrypted; an authenticated key for
    # Insufficient Authentication on an encrypted link; the longest key for Key Size.
    assert requirement_for(AttErrorCode.INSUFFICIENT_ENCRYPTION, encrypted=False) == (
        SecurityRequirement()
    )
    assert requirement_for(AttErrorCode.INSUFFICIENT_AUTHENTICATION, encrypted=False) == (
        SecurityRequirement()
    )
    assert requirement_for(AttErrorCode.INSUFFICIENT_AUTHENTICATION, encrypted=True) == (
        SecurityRequirement(mitm=True)
    )
    assert requirement_for(AttErrorCode.ENCRYPTION_KEY_SIZE_TOO_SHORT, encrypted=True) == (
        SecurityRequirement(min_key_size=16)
    )


async def test_the_link_signer_signs_with_our_csrk_and_a_growing_counter() -> None:
    local = Address.parse("00:11:22:33:44:55")
    csrk = bytes(range(16))
    store = MemoryKeyStore(local)
    await store.save(Bond(local, PEER, Transport.LE, local_keys=KeyDistribution(csrk=csrk)))

    class App:
        def observe(self, kind: object, observer: object) -> None:
            pass

    stack = SimpleNamespace(keystore=store)
    clients = GattClients(stack, App())  # type: ignore[arg-type]
    link = SimpleNamespace(encrypted=False, peer=PEER, handle=1, connected=True)
    services = _LinkServices(clients, link)  # type: ignore[arg-type]
    first = await services.sign(0x0010, b"signed")
    second = await services.sign(0x0010, b"signed")
    assert isinstance(first, SignedWriteCommand) and isinstance(second, SignedWriteCommand)
    assert (first.sign_counter, second.sign_counter) == (0, 1)
    # The server's check (actors/gatt/signing.py) accepts it, and refuses it replayed.
    assert check_signature(csrk, None, first.signed_part(), 0, first.mac) is SignatureCheck.VALID
    assert check_signature(csrk, 1, second.signed_part(), 1, second.mac) is (
        SignatureCheck.REPLAYED
    )
    link.encrypted = True  # Vol 3 Part G 4.9.2: a Write Command instead
    assert await services.sign(0x0010, b"plain") == WriteCommand(0x0010, b"plain")
    link.encrypted, link.peer = False, Address.parse("C0:00:00:00:00:77")  # no bond
    with pytest.raises(GattError):
        await services.sign(0x0010, b"x")


async def test_a_database_hash_needing_security_is_not_worth_pairing_for() -> None:
    cache = MemoryDiscoveryCache()
    db = database()
    _, hashed = with_gatt_service(db)
    db.server.attributes[hashed].error = AttErrorCode.INSUFFICIENT_ENCRYPTION
    asked: list[int] = []

    async def secure(error_code: int) -> None:
        asked.append(error_code)

    gatt, _ = client(db, cache=Slot(cache), secure=secure)
    assert len(await gatt.discover_all()) == 4  # discovered; nothing cached, nobody paired
    assert asked == []
    assert await cache.get(PEER) is None
