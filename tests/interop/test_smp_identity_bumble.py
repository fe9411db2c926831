"""Our LE link address and identity against an independent SMP, Bumble's host: we connect
with a static random address or with our resolvable private address, pair (Bumble feeds our
address on the link to c1, f5 and f6: a wrong one fails Confirm Value or the DHKey check),
distribute our identity and btm's IRK, and connect again with a new RPA, which Bumble
resolves with that IRK to find the bond and re-encrypt (Core 5.4 Vol 3 Part H 2.2.3, 2.2.7,
2.2.8, 3.6.4; Vol 3 Part C 10.8.2.3); and Bumble on a static random address with its public
address as identity is found by its bond when we connect again. Over bluetrio's served
controller and Root Canal."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio
from interop_support import TEST_LIMIT, reporting_process

from bluetrio.actors.btm.config import StackConfig
from bluetrio.address import Address, AddressType
from bluetrio.keystore import MemoryKeyStore
from bluetrio.stack import open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PEER = Path(__file__).parent / "peers" / "bumble_le_pairing_peer.py"
STATIC = Address.parse("C3:11:22:33:44:55", AddressType.RANDOM)
ROTATION = 2.0  # seconds between our RPAs, short so that the test sees a new one
CONTROLLER_FIXTURES = {"served": "served_controller_port", "rootcanal": "rootcanal_hci_port"}
PERIPHERAL = ["--role", "peripheral", "--no-mitm"]  # Just Works, advertising


@pytest.mark.parametrize("server", list(CONTROLLER_FIXTURES))
@pytest.mark.parametrize("secure", [True, False], ids=["sc", "legacy"])
@pytest.mark.parametrize("own", ["static", "rpa"])
async def test_bumble_pairs_with_our_link_address_and_resolves_our_next_rpa(
    tmp_path: Path, server: str, secure: bool, own: str, request: pytest.FixtureRequest
) -> None:
    port = request.getfixturevalue(CONTROLLER_FIXTURES[server])
    command = [sys.executable, str(PEER), f"tcp-client:127.0.0.1:{port}", *PERIPHERAL]
    if not secure:
        command.append("--legacy")
    private = own == "rpa"
    config = (
        StackConfig(privacy=True, rpa_rotation=ROTATION)
        if private
        else StackConfig(static_address=STATIC)
    )
    with (
        trio.fail_after(TEST_LIMIT),
        reporting_process(command, tmp_path / "peer.log", "Bumble LE pairing peer") as peer,
    ):
        address = Address.parse(peer.reports["ADDRESS"].split("/")[0], AddressType.RANDOM)
        spec = f"tcp:127.0.0.1:{port}"
        async with open_stack(spec, config=config, bring_up=True, keystore=MemoryKeyStore) as stack:
            assert stack.btm is not None
            first = stack.btm.own_address()
            assert first.is_resolvable_private if private else first == STATIC
            async with stack.connect(address) as link:
                assert link.local_address == first
                result = await link.pair()
                assert result.secure_connections is secure and link.encrypted
                await trio.to_thread.run_sync(peer.wait_for, "PAIRED")
                await trio.sleep(0.5)  # Bumble takes our last keys
            if private:
                while stack.btm.own_address() == first:
                    await trio.sleep(0.2)  # the next rotation, once the radio is idle
            again_from = stack.btm.own_address()
            async with stack.connect(address) as link:
                assert link.local_address == again_from
                again = await link.pair()
                assert again.used_stored_key and link.encrypted


@pytest.mark.parametrize("server", list(CONTROLLER_FIXTURES))
async def test_bumble_on_a_static_address_with_a_public_identity_is_found_by_its_bond(
    tmp_path: Path, server: str, request: pytest.FixtureRequest
) -> None:
    """Bumble advertises with a static random address and distributes its public address
    as identity: connecting to the static address again, we find the bond by it and
    re-encrypt, instead of pairing again and refusing the identity as another device's."""
    port = request.getfixturevalue(CONTROLLER_FIXTURES[server])
    command = [sys.executable, str(PEER), f"tcp-client:127.0.0.1:{port}", *PERIPHERAL]
    command.append("--public-identity")
    stores: list[MemoryKeyStore] = []

    def keystore(local: Address) -> MemoryKeyStore:
        stores.append(MemoryKeyStore(local))
        return stores[-1]

    with (
        trio.fail_after(TEST_LIMIT),
        reporting_process(command, tmp_path / "peer.log", "Bumble LE pairing peer") as peer,
    ):
        address = Address.parse(peer.reports["ADDRESS"].split("/")[0], AddressType.RANDOM)
        identity = Address.parse(peer.reports["IDENTITY"].split("/")[0])
        assert address.is_static_random and identity != address.with_type(AddressType.PUBLIC)
        async with open_stack(f"tcp:127.0.0.1:{port}", bring_up=True, keystore=keystore) as stack:
            async with stack.connect(address) as link:
                result = await link.pair()
                assert not result.used_stored_key
                await trio.to_thread.run_sync(peer.wait_for, "PAIRED")
            (bond,) = await stores[0].list()
            assert bond.peer_address == identity and bond.peer_link_address == address
            async with stack.connect(address) as link:
                assert link.identity == identity
                again = await link.pair()
                assert again.used_stored_key and link.encrypted
