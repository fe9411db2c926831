"""Crash safety of JsonKeyStore: SIGKILL a writer at random moments, the store always loads.

A writer process rewrites a large store bond after bond, round after round, storing the round
number in every LTK. Each save is a complete version of the store, so after any kill the bonds
must be a prefix of the writer's peer list with round numbers that never increase along it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from bluetrio.address import Address
from bluetrio.bonds import Transport
from bluetrio.keystore import JsonKeyStore

REPOSITORY = Path(__file__).resolve().parents[2]
LOCAL = Address.parse("00:11:22:33:44:55")
PEER_COUNT = 150
KILLS = 30
# Kills land inside a save only part of the time (the rest falls between saves); keep going a
# little longer when too few did, so the test always exercises interrupted writes.
WANTED_INTERRUPTED_SAVES = 2
MAX_KILLS = 80

WRITER = f"""
import sys, trio
from bluetrio.address import Address
from bluetrio.bonds import Bond, KeyDistribution, LongTermKey, Transport
from bluetrio.keystore import JsonKeyStore

LOCAL = Address.parse("{LOCAL}")

def peer(index):
    return Address(index.to_bytes(2, "little") + bytes(4))

async def main():
    store = JsonKeyStore(sys.argv[1], LOCAL)
    bonds = await store.list()
    round_number = max((int.from_bytes(b.peer_keys.ltk.value, "big") for b in bonds), default=0)
    announced = False
    while True:
        round_number += 1
        for index in range({PEER_COUNT}):
            ltk = LongTermKey(round_number.to_bytes(16, "big"), ediv=index, rand=bytes(8))
            keys = KeyDistribution(
                ltk=ltk, irk=bytes(range(16)), identity_address=peer(index), csrk=bytes(16)
            )
            bond = Bond(
                LOCAL, peer(index), Transport.LE, peer_keys=keys, local_keys=keys,
                authenticated=True, secure_connections=True,
            )
            await store.save(bond)
            if not announced:
                print("writing", flush=True)
                announced = True

trio.run(main)
"""


def peer_index(address: Address) -> int:
    return int.from_bytes(address.value[:2], "little")


def check_store(path: Path) -> int:
    """Load the store and verify it is one complete version; return the highest round."""
    bonds = trio.run(JsonKeyStore(path, LOCAL).list)
    by_index = {peer_index(bond.peer_address): bond for bond in bonds}
    assert len(by_index) == len(bonds)
    assert sorted(by_index) == list(range(len(bonds))), "bonds are not a prefix of the peers"
    rounds = []
    for index in range(len(bonds)):
        bond = by_index[index]
        assert bond.transport is Transport.LE
        ltk = bond.peer_keys.ltk
        assert ltk is not None and ltk.ediv == index
        assert bond.local_keys.ltk == ltk
        rounds.append(int.from_bytes(ltk.value, "big"))
    assert rounds == sorted(rounds, reverse=True), "a save was torn"
    return rounds[0] if rounds else 0


# Up to MAX_KILLS interpreter start-ups: about a minute on a loaded machine, so the suite's
# 120 s per test is too tight; the loop itself is bounded.
@pytest.mark.timeout(600)
def test_store_survives_sigkill_at_random_moments(tmp_path: Path) -> None:
    path = tmp_path / "bonds.json"
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    chooser = random.Random(5383)
    interrupted_saves = 0
    highest_round = 0
    kills = 0
    while kills < KILLS or (interrupted_saves < WANTED_INTERRUPTED_SAVES and kills < MAX_KILLS):
        kills += 1
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
        )
        assert writer.stdout is not None and writer.stderr is not None
        try:
            announcement = writer.stdout.readline()
            if announcement == b"writing\n":
                # Let it run for a while so the kill lands inside a save some of the time.
                time.sleep(chooser.uniform(0.0, 0.15))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            errors = writer.stderr.read()
            writer.stdout.close()
            writer.stderr.close()
        assert announcement == b"writing\n", f"writer failed: {errors.decode(errors='replace')}"
        assert writer.returncode == -signal.SIGKILL
        temporary = tmp_path / ".bonds.json.tmp"
        if temporary.exists():
            interrupted_saves += 1
        round_number = check_store(path)
        assert round_number >= highest_round, "a complete save was lost"
        highest_round = round_number
    assert highest_round > 0
    # Evidence that the kills landed inside saves, where a non-atomic writer would have torn
    # the file: the temporary file was left behind at least once.
    assert interrupted_saves > 0
