"""Bond records, the downgrade rule and the JSON store."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import attrs
import pytest
import trio

from bluetrio.address import Address, AddressType
from bluetrio.bonds import (
    Bond,
    BondStrength,
    KeyDistribution,
    LinkKey,
    LinkKeyType,
    LongTermKey,
    Transport,
)
from bluetrio.errors import InvalidArgumentError
from bluetrio.keystore import (
    JsonKeyStore,
    KeyStore,
    KeyStoreError,
    MemoryKeyStore,
    WeakerKeyError,
)

LOCAL = Address.parse("00:11:22:33:44:55")
PEER = Address.parse("AA:BB:CC:DD:EE:FF")
OTHER_PEER = Address.parse("C0:11:22:33:44:66", AddressType.RANDOM)
SECRET = bytes(range(16))


def le_bond(
    peer: Address = PEER,
    *,
    authenticated: bool = True,
    secure_connections: bool = True,
    key_size: int = 16,
) -> Bond:
    ltk = LongTermKey(SECRET, ediv=0x1234, rand=bytes(range(8)), key_size=key_size)
    return Bond(
        local_address=LOCAL,
        peer_address=peer,
        transport=Transport.LE,
        peer_keys=KeyDistribution(ltk=ltk, irk=bytes(16), identity_address=peer, csrk=b"\x01" * 16),
        local_keys=KeyDistribution(ltk=ltk, irk=b"\x02" * 16, identity_address=LOCAL),
        authenticated=authenticated,
        secure_connections=secure_connections,
        key_size=key_size,
        created_at=1000.0,
        updated_at=1000.0,
    )


def bredr_bond(key_type: LinkKeyType, peer: Address = PEER) -> Bond:
    return Bond(
        local_address=LOCAL,
        peer_address=peer,
        transport=Transport.BR_EDR,
        link_key=LinkKey(SECRET, key_type),
        authenticated=key_type.is_authenticated,
        secure_connections=key_type.is_secure_connections,
    )


@pytest.fixture(params=["memory", "json"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> KeyStore:
    if request.param == "memory":
        return MemoryKeyStore(LOCAL)
    return JsonKeyStore(tmp_path / "bonds.json", LOCAL)


def without_times(bond: Bond | None) -> Bond | None:
    return None if bond is None else attrs.evolve(bond, created_at=0.0, updated_at=0.0)


# --- Records ------------------------------------------------------------------------------


def test_link_key_types_from_link_key_notification() -> None:
    # Vol 4 Part E 7.7.24.
    assert LinkKeyType(0x04) is LinkKeyType.UNAUTHENTICATED_P192
    assert LinkKeyType(0x08) is LinkKeyType.AUTHENTICATED_P256
    assert LinkKeyType.AUTHENTICATED_P192.is_authenticated
    assert not LinkKeyType.AUTHENTICATED_P192.is_secure_connections
    assert LinkKeyType.UNAUTHENTICATED_P256.is_secure_connections
    assert not LinkKeyType.UNAUTHENTICATED_P256.is_authenticated
    assert not LinkKeyType.COMBINATION.is_authenticated


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: LinkKey(bytes(15), LinkKeyType.COMBINATION), "link key must be 16 bytes"),
        (lambda: LinkKey(SECRET, 0x09), "unknown link key type"),
        (lambda: LongTermKey(SECRET, ediv=0x10000), "EDIV"),
        (lambda: LongTermKey(SECRET, rand=bytes(7)), "Rand must be 8 bytes"),
        (lambda: LongTermKey(SECRET, key_size=6), "key size must be 7 to 16"),
        (lambda: KeyDistribution(irk=bytes(8)), "IRK must be 16 bytes"),
        (lambda: le_bond(key_size=17), "key size"),
        (
            lambda: Bond(LOCAL, PEER, Transport.LE, link_key=LinkKey(SECRET, 4)),
            "LE bond cannot hold a BR/EDR link key",
        ),
        (
            lambda: Bond(
                LOCAL, PEER, Transport.BR_EDR, link_key=LinkKey(SECRET, 4), authenticated=True
            ),
            "not authenticated",
        ),
        (
            lambda: Bond(LOCAL, PEER, Transport.BR_EDR, link_key=LinkKey(SECRET, 8)),
            "contradicts",
        ),
        (
            lambda: Bond(LOCAL, PEER, Transport.LE, derived_from=Transport.LE),
            "derived from the other transport",
        ),
    ],
)
def test_bad_records_raise_invalid_argument(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(InvalidArgumentError, match=message):
        build()


def test_keys_do_not_appear_in_repr() -> None:
    text = repr(le_bond()) + repr(bredr_bond(LinkKeyType.AUTHENTICATED_P256))
    assert SECRET.hex() not in text
    assert repr(list(SECRET)) not in text
    assert "AUTHENTICATED_P256" in text


def test_strength_is_a_component_wise_order() -> None:
    strong = BondStrength(authenticated=True, secure_connections=True, key_size=16)
    unauthenticated = BondStrength(False, True, 16)
    legacy_authenticated = BondStrength(True, False, 16)
    short = BondStrength(True, True, 7)
    assert unauthenticated < strong and legacy_authenticated < strong and short < strong
    assert strong >= strong and strong <= strong and not strong < strong
    # Incomparable: each is stronger on one axis.
    assert not unauthenticated <= legacy_authenticated
    assert not legacy_authenticated <= unauthenticated
    assert strong.shortfalls(unauthenticated) == []
    assert len(short.shortfalls(strong)) == 1


def test_bredr_strength_follows_link_key_type() -> None:
    weak = bredr_bond(LinkKeyType.UNAUTHENTICATED_P192).strength()
    strong = bredr_bond(LinkKeyType.AUTHENTICATED_P256).strength()
    assert weak < strong


# --- Store behaviour, memory and JSON -----------------------------------------------------


async def test_round_trip_list_and_remove(store: KeyStore) -> None:
    assert await store.get(PEER, Transport.LE) is None
    assert await store.list() == []
    le = await store.save(le_bond())
    bredr = await store.save(bredr_bond(LinkKeyType.AUTHENTICATED_P256))
    other = await store.save(le_bond(OTHER_PEER))
    # Same peer on two transports: two bonds.
    assert await store.get(PEER, Transport.LE) == le
    assert await store.get(PEER, Transport.BR_EDR) == bredr
    assert without_times(le) == without_times(le_bond())
    assert sorted(await store.list(), key=repr) == sorted([le, bredr, other], key=repr)

    assert await store.remove(PEER, Transport.LE)
    assert not await store.remove(PEER, Transport.LE)
    assert await store.get(PEER, Transport.LE) is None
    assert await store.get(PEER, Transport.BR_EDR) == bredr
    assert len(await store.list()) == 2


async def test_identity_address_types_find_the_same_bond(store: KeyStore) -> None:
    await store.save(le_bond(OTHER_PEER))
    as_reported = OTHER_PEER.with_type(AddressType.RANDOM_IDENTITY)
    found = await store.get(as_reported, Transport.LE)
    assert found is not None and found.peer_address == OTHER_PEER
    assert await store.get(OTHER_PEER.with_type(AddressType.PUBLIC), Transport.LE) is None


@pytest.mark.parametrize(
    ("stored", "new", "reason"),
    [
        (le_bond(), le_bond(authenticated=False), "unauthenticated"),
        (le_bond(), le_bond(secure_connections=False), "legacy"),
        (le_bond(), le_bond(key_size=7), "7-octet key would replace a 16-octet"),
        (
            le_bond(authenticated=True, secure_connections=False),
            le_bond(authenticated=False, secure_connections=True),
            "unauthenticated",
        ),
        (
            bredr_bond(LinkKeyType.AUTHENTICATED_P192),
            bredr_bond(LinkKeyType.UNAUTHENTICATED_P192),
            "unauthenticated",
        ),
        (
            bredr_bond(LinkKeyType.UNAUTHENTICATED_P256),
            bredr_bond(LinkKeyType.COMBINATION),
            "legacy",
        ),
    ],
)
async def test_weaker_keys_never_replace_a_bond(
    store: KeyStore, stored: Bond, new: Bond, reason: str
) -> None:
    kept = await store.save(stored)
    with pytest.raises(WeakerKeyError, match=reason):
        await store.save(new)
    assert await store.get(stored.peer_address, stored.transport) == kept
    assert isinstance(store, MemoryKeyStore) or await reopen(store).list() == [kept]

    replaced = await store.save(new, allow_downgrade=True)
    assert await store.get(new.peer_address, new.transport) == replaced
    assert replaced.strength() == new.strength()


async def test_equal_or_stronger_keys_replace_a_bond(store: KeyStore) -> None:
    first = await store.save(le_bond(authenticated=False, key_size=7))
    again = await store.save(le_bond(authenticated=False, key_size=7))
    stronger = await store.save(le_bond())
    assert await store.get(PEER, Transport.LE) == stronger
    # The bond keeps the time it was first created; updated_at moves on.
    assert again.created_at == stronger.created_at == first.created_at
    assert stronger.updated_at >= first.updated_at


async def test_bond_of_another_local_identity_is_refused(store: KeyStore) -> None:
    foreign = attrs.evolve(le_bond(), local_address=Address.parse("01:02:03:04:05:06"))
    with pytest.raises(InvalidArgumentError, match="local address"):
        await store.save(foreign)


async def test_concurrent_saves_are_all_kept(store: KeyStore) -> None:
    peers = [Address(bytes([index, 1, 2, 3, 4, 5])) for index in range(20)]
    async with trio.open_nursery() as nursery:
        for peer in peers:
            nursery.start_soon(store.save, le_bond(peer))
    stored = {bond.peer_address for bond in await store.list()}
    assert stored == set(peers)
    if isinstance(store, JsonKeyStore):
        assert {bond.peer_address for bond in await reopen(store).list()} == set(peers)


# --- JSON file ----------------------------------------------------------------------------


def reopen(store: KeyStore) -> JsonKeyStore:
    assert isinstance(store, JsonKeyStore)
    return JsonKeyStore(store.path, store.local_address)


async def test_json_store_survives_reopening_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "bonds.json"
    derived = attrs.evolve(le_bond(OTHER_PEER), derived_from=Transport.BR_EDR)
    saved = [
        await JsonKeyStore(path, LOCAL).save(le_bond()),
        await JsonKeyStore(path, LOCAL).save(bredr_bond(LinkKeyType.UNAUTHENTICATED_P192)),
        await JsonKeyStore(path, LOCAL).save(derived),
    ]
    loaded = await JsonKeyStore(path, LOCAL).list()
    assert sorted(loaded, key=repr) == sorted(saved, key=repr)
    assert {bond.derived_from for bond in loaded} == {None, Transport.BR_EDR}
    document = json.loads(path.read_bytes())
    assert document["format"] == "bluetrio-keystore" and document["version"] == 1
    # Secret keys on disk: readable by the owner only.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["bonds.json"]


async def test_the_address_a_peer_bonded_over_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "bonds.json"
    static = Address.parse("C3:11:22:33:44:55", AddressType.RANDOM)
    saved = await JsonKeyStore(path, LOCAL).save(attrs.evolve(le_bond(), peer_link_address=static))
    (loaded,) = await JsonKeyStore(path, LOCAL).list()
    assert loaded == saved and loaded.peer_link_address == static


async def test_a_store_written_before_bonds_had_their_link_address_reads(tmp_path: Path) -> None:
    document = await valid_document(tmp_path)
    bonds = document["bonds"]
    assert isinstance(bonds, list)
    del bonds[0]["peer_link_address"]
    path = tmp_path / "old.json"
    path.write_bytes(json.dumps(document).encode())
    (loaded,) = await JsonKeyStore(path, LOCAL).list()
    assert loaded.peer_link_address is None
    assert without_times(loaded) == without_times(le_bond())


async def test_one_file_per_local_identity_in_a_directory(tmp_path: Path) -> None:
    other_local = Address.parse("00:11:22:33:44:55", AddressType.RANDOM)
    first = JsonKeyStore.in_directory(tmp_path, LOCAL)
    second = JsonKeyStore.in_directory(tmp_path, other_local)
    assert first.path.parent == tmp_path and first.path != second.path
    await first.save(le_bond())
    await second.save(attrs.evolve(le_bond(OTHER_PEER), local_address=other_local))
    assert [b.peer_address for b in await JsonKeyStore.in_directory(tmp_path, LOCAL).list()] == [
        PEER
    ]
    reopened = JsonKeyStore.in_directory(tmp_path, other_local)
    assert [b.peer_address for b in await reopened.list()] == [OTHER_PEER]


async def test_missing_file_is_an_empty_store(tmp_path: Path) -> None:
    assert await JsonKeyStore(tmp_path / "absent.json", LOCAL).list() == []


async def valid_document(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "reference.json"
    await JsonKeyStore(path, LOCAL).save(le_bond())
    document: dict[str, object] = json.loads(path.read_bytes())
    path.unlink()
    return document


def damaged_bond(document: dict[str, object], field: str, value: object) -> bytes:
    bonds = document["bonds"]
    assert isinstance(bonds, list)
    bonds[0][field] = value
    return json.dumps(document).encode()


def second_bond(document: dict[str, object]) -> bytes:
    bonds = document["bonds"]
    assert isinstance(bonds, list)
    bonds.append(bonds[0])
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("make_content", "message"),
    [
        (lambda d: b"\x00\xff garbage", "not valid JSON"),
        (lambda d: b'{"bonds": [', "not valid JSON"),
        (lambda d: b"[1, 2]", "not a bluetrio bond store"),
        (lambda d: json.dumps({**d, "version": 2}).encode(), "version 2"),
        (lambda d: damaged_bond(d, "transport", "usb"), "damaged"),
        (lambda d: damaged_bond(d, "peer_keys", {"ltk": "zz"}), "damaged"),
        (lambda d: damaged_bond(d, "key_size", 99), "damaged.*key_size: 99 is outside 7..16"),
        (lambda d: damaged_bond(d, "authenticated", "yes"), "damaged.*authenticated"),
        (
            lambda d: json.dumps(
                {**d, "local_address": {"address": "01:02:03:04:05:06", "type": 0}}
            ).encode(),
            "belongs to 01:02:03:04:05:06",
        ),
        # Found by corrupting stores on purpose: each escaped untyped or was accepted.
        (lambda d: b"[" * 100_000 + b"]" * 100_000, "not valid JSON: nested too deeply"),
        (
            lambda d: damaged_bond(d, "key_size", "N").replace(b'"N"', b"9" * 5000),
            "not valid JSON: an integer of 5000 digits",
        ),
        (lambda d: json.dumps({**d, "version": True}).encode(), "version true"),
        (lambda d: damaged_bond(d, "link_key", {"value": "00" * 16, "type": 8.0}), "a number"),
        (lambda d: damaged_bond(d, "created_at", float("nan")), "not valid JSON: NaN"),
        (lambda d: damaged_bond(d, "updated_at", float("inf")), "not valid JSON: Infinity"),
        (lambda d: damaged_bond(d, "key_size", 16.0), "key_size: expected an integer"),
        (lambda d: damaged_bond(d, "authenticated", 1), "authenticated: expected true or false"),
        (lambda d: damaged_bond(d, "peer_link_address", "C3:11"), "peer_link_address: expected"),
        (lambda d: damaged_bond(d, "extra", 1), r"bonds\[0\]: unknown field\(s\) extra"),
        (lambda d: second_bond(d), r"bonds\[1\]: a second bond with AA:BB:CC:DD:EE:FF \(le\)"),
        (lambda d: json.dumps(d)[:-1].encode() + b', "version": 1}', "repeated key.*version"),
        (lambda d: damaged_bond(d, "peer_address", {"address": "00:11:22", "type": 0}), "six"),
        (
            lambda d: damaged_bond(d, "peer_address", {"address": "00:11:22:33:44:55", "type": 9}),
            "outside 0..3",
        ),
    ],
)
async def test_corrupt_file_raises_and_is_left_alone(
    tmp_path: Path, make_content: object, message: str
) -> None:
    assert callable(make_content)
    content = make_content(await valid_document(tmp_path))
    path = tmp_path / "bonds.json"
    path.write_bytes(content)
    store = JsonKeyStore(path, LOCAL)
    with pytest.raises(KeyStoreError, match=message):
        await store.list()
    with pytest.raises(KeyStoreError):
        await store.save(le_bond())
    assert path.read_bytes() == content


async def test_write_failure_raises_and_changes_nothing(tmp_path: Path) -> None:
    store = JsonKeyStore(tmp_path / "missing-directory" / "bonds.json", LOCAL)
    with pytest.raises(KeyStoreError, match="cannot write"):
        await store.save(le_bond())
    assert await store.get(PEER, Transport.LE) is None


async def test_stale_temporary_file_from_a_crash_is_harmless(tmp_path: Path) -> None:
    path = tmp_path / "bonds.json"
    saved = await JsonKeyStore(path, LOCAL).save(le_bond())
    (tmp_path / ".bonds.json.tmp").write_bytes(b'{"half written')
    store = JsonKeyStore(path, LOCAL)
    assert await store.list() == [saved]
    await store.save(le_bond(OTHER_PEER))
    assert len(await JsonKeyStore(path, LOCAL).list()) == 2
    assert not (tmp_path / ".bonds.json.tmp").exists()


async def test_a_bond_written_before_debug_key_and_derived_from_loads_without_them(
    tmp_path: Path,
) -> None:
    document = await valid_document(tmp_path)
    bonds = document["bonds"]
    assert isinstance(bonds, list)
    for bond in bonds:
        del bond["debug_key"], bond["derived_from"]
    path = tmp_path / "older.json"
    path.write_bytes(json.dumps(document).encode())
    (loaded,) = await JsonKeyStore(path, LOCAL).list()
    assert not loaded.debug_key and loaded.derived_from is None
