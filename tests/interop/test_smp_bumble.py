"""LE pairing between bluetrio's Security Manager and Bumble's host (an independent peer):
we initiate as central, Bumble answers as peripheral, each host on its own controller of one
server (bluetrio's served controller, Root Canal); Secure Connections and legacy Just Works
with bonding, then re-encryption with the bond on reconnection (Core 5.4 Vol 3 Part H 2.3,
2.4.4). The peer answers the LTK request with the key its EDIV and Rand name, not with the
key Bumble itself picks (the central's, google/bumble pull request 890: a MIC failure on
bluetrio's controller, which checks that both sides hold the same key; Root Canal does not).

Not over two Bumble controllers on a LocalLink: Bumble's controller announces the initiator of
a connection made with a public own address as a random device, so the two hosts feed
different address types into f5/f6 (c1) and Bumble's DHKey check fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio
from interop_support import TEST_LIMIT, reporting_process

from bluetrio.address import Address, AddressType
from bluetrio.bonds import Transport
from bluetrio.keystore import MemoryKeyStore
from bluetrio.messages.btm_security import AssociationModel
from bluetrio.stack import open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PEER = Path(__file__).parent / "peers" / "bumble_le_pairing_peer.py"
STEP_LIMIT = 60.0


@pytest.fixture(params=["served", "rootcanal"])
def outside_controller(request: pytest.FixtureRequest) -> tuple[str, int]:
    fixture = "served_controller_port" if request.param == "served" else "rootcanal_hci_port"
    port = request.getfixturevalue(fixture)
    assert isinstance(port, int)
    return request.param, port


@pytest.mark.parametrize("secure", [True, False], ids=["sc", "legacy"])
async def test_we_pair_with_bumble_then_reconnect_with_the_bond(
    tmp_path: Path,
    secure: bool,
    outside_controller: tuple[str, int],
) -> None:
    _, port = outside_controller
    command = [sys.executable, str(PEER), "--transport", f"tcp-client:127.0.0.1:{port}"]
    if not secure:
        command.append("--legacy")
    with (
        trio.fail_after(TEST_LIMIT),
        reporting_process(command, tmp_path / "peer.log", "Bumble LE pairing peer") as peer,
    ):
        address = Address.parse(peer.reports["ADDRESS"].split("/")[0], AddressType.RANDOM)
        stores: list[MemoryKeyStore] = []

        def keystore(local: Address) -> MemoryKeyStore:
            stores.append(MemoryKeyStore(local))
            return stores[-1]

        with trio.fail_after(STEP_LIMIT):
            spec = f"tcp:127.0.0.1:{port}"
            async with open_stack(spec, bring_up=True, keystore=keystore) as stack:
                async with stack.connect(address) as link:
                    result = await link.pair()
                    assert result.transport is Transport.LE
                    assert result.model is AssociationModel.JUST_WORKS
                    assert result.secure_connections is secure
                    assert link.encrypted and not result.used_stored_key
                    paired = await trio.to_thread.run_sync(peer.wait_for, "PAIRED")
                    (bond,) = await stores[0].list()
                    ltk = bond.peer_keys.ltk
                    assert ltk is not None
                    if secure:  # both derived the same LTK (f5, 2.2.7)
                        assert bytes.fromhex(paired.strip()) in (ltk.value, ltk.value[::-1])
                    await link.disconnect()
                async with stack.connect(address) as link:
                    again = await link.pair()
                    assert again.used_stored_key and link.encrypted
