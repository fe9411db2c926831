"""The GATT state of bonded clients kept with their LE bonds in the key stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bluetrio.bonds import Bond, LinkKey, LinkKeyType, Transport
from bluetrio.keystore import JsonKeyStore, KeyStore, KeyStoreError, MemoryKeyStore
from bluetrio.messages.gatt_state import GattBondState
from tests.unit.test_keystore import LOCAL, OTHER_PEER, PEER, le_bond

STATE = GattBondState(
    cccds=((0x0009, 0x0002), (0x0012, 0x0001)),
    client_features=0x05,
    change_aware=False,
    service_changed=(0x0020, 0x0030),
    database_hash=bytes(range(16)),
    sign_counter=41,
)


def stores(tmp_path: Path) -> list[KeyStore]:
    return [MemoryKeyStore(LOCAL), JsonKeyStore(tmp_path / "bonds.json", LOCAL)]


@pytest.mark.parametrize("kind", [0, 1])
async def test_the_state_is_kept_with_the_bond(tmp_path: Path, kind: int) -> None:
    store = stores(tmp_path)[kind]
    await store.save(le_bond())
    assert await store.save_gatt_state(PEER, STATE)
    assert await store.gatt_state(PEER) == STATE
    assert await store.gatt_states() == {(PEER, Transport.LE): STATE}


async def test_the_json_file_keeps_it_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "bonds.json"
    first = JsonKeyStore(path, LOCAL)
    await first.save(le_bond())
    await first.save(le_bond(OTHER_PEER))
    await first.save_gatt_state(PEER, STATE)
    again = JsonKeyStore(path, LOCAL)
    assert await again.gatt_state(PEER) == STATE
    assert await again.gatt_state(OTHER_PEER) is None
    assert len(await again.list()) == 2


async def test_a_state_that_comes_before_its_bond_is_saved_with_it(tmp_path: Path) -> None:
    path = tmp_path / "bonds.json"
    store = JsonKeyStore(path, LOCAL)
    assert not await store.save_gatt_state(PEER, STATE)
    assert await store.gatt_state(PEER) is None
    await store.save(le_bond())
    assert await JsonKeyStore(path, LOCAL).gatt_state(PEER) == STATE


async def test_a_new_bond_with_the_peer_keeps_the_state_until_it_is_replaced() -> None:
    store = MemoryKeyStore(LOCAL)
    await store.save(le_bond())
    await store.save_gatt_state(PEER, STATE)
    await store.save(le_bond())
    assert await store.gatt_state(PEER) == STATE
    await store.save_gatt_state(PEER, GattBondState())
    assert await store.gatt_state(PEER) == GattBondState()


@pytest.mark.parametrize("kind", [0, 1])
async def test_the_state_goes_with_the_bond(tmp_path: Path, kind: int) -> None:
    store = stores(tmp_path)[kind]
    await store.save(le_bond())
    await store.save_gatt_state(PEER, STATE)
    assert await store.remove(PEER, Transport.LE)
    assert await store.gatt_state(PEER) is None
    await store.save(le_bond())
    assert await store.gatt_state(PEER) is None


async def test_a_state_waiting_for_a_removed_bond_is_dropped() -> None:
    store = MemoryKeyStore(LOCAL)
    await store.save_gatt_state(PEER, STATE)
    assert not await store.remove(PEER, Transport.LE)
    await store.save(le_bond())
    assert await store.gatt_state(PEER) is None


async def test_a_file_written_before_gatt_state_existed_loads(tmp_path: Path) -> None:
    path = tmp_path / "bonds.json"
    await JsonKeyStore(path, LOCAL).save(le_bond())
    document = json.loads(path.read_text())
    for bond in document["bonds"]:
        del bond["gatt"]
    path.write_text(json.dumps(document))
    store = JsonKeyStore(path, LOCAL)
    assert len(await store.list()) == 1
    assert await store.gatt_state(PEER) is None


def _damage(path: Path, gatt: object) -> None:
    document = json.loads(path.read_text())
    document["bonds"][0]["gatt"] = gatt
    path.write_text(json.dumps(document))


GOOD = {
    "cccds": [[9, 2]],
    "client_features": 1,
    "change_aware": True,
    "service_changed": None,
    "database_hash": None,
    "sign_counter": None,
}


@pytest.mark.parametrize(
    "gatt",
    [
        [],
        {**GOOD, "cccds": [[9]]},
        {**GOOD, "cccds": [[9, 0]]},
        {**GOOD, "cccds": [[9, 1], [8, 1]]},
        {**GOOD, "cccds": {"9": 1}},
        {**GOOD, "client_features": 8},
        {**GOOD, "change_aware": 1},
        {**GOOD, "service_changed": [5, 4]},
        {**GOOD, "database_hash": "00"},
        {**GOOD, "sign_counter": -1},
        {**GOOD, "extra": 0},
        {key: value for key, value in GOOD.items() if key != "cccds"},
    ],
)
async def test_damaged_gatt_state_is_refused_by_name(tmp_path: Path, gatt: object) -> None:
    path = tmp_path / "bonds.json"
    await JsonKeyStore(path, LOCAL).save(le_bond())
    _damage(path, gatt)
    with pytest.raises(KeyStoreError, match=r"bonds\[0\]\.gatt"):
        await JsonKeyStore(path, LOCAL).list()


async def test_gatt_state_with_a_br_edr_bond_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bonds.json"
    bond = Bond(
        LOCAL,
        PEER,
        Transport.BR_EDR,
        link_key=LinkKey(bytes(16), LinkKeyType.UNAUTHENTICATED_P192),
    )
    await JsonKeyStore(path, LOCAL).save(bond)
    _damage(path, GOOD)
    with pytest.raises(KeyStoreError, match="LE bonds only"):
        await JsonKeyStore(path, LOCAL).list()


async def test_a_state_written_by_hand_as_documented_loads(tmp_path: Path) -> None:
    path = tmp_path / "bonds.json"
    await JsonKeyStore(path, LOCAL).save(le_bond())
    _damage(path, GOOD)
    state = await JsonKeyStore(path, LOCAL).gatt_state(PEER)
    assert state == GattBondState(cccds=((9, 2),), client_features=1)
