"""Cross-transport key derivation between bluetrio and Bumble's host (Core 5.4 Vol 3 Part
H 2.4.2.4, 2.4.2.5). Over BR/EDR: after Secure Simple Pairing with P-256 keys and AES-CCM,
SMP on the BR/EDR fixed channel 0x0007 derives the LE LTK from the link key on both sides,
which must come out the same, we initiating as central and Bumble doing so. Over LE: LE
Secure Connections with LinkKey gives both the same BR/EDR link key, with which our BR/EDR
connection then authenticates. Each host on its own controller of one server, bluetrio's
served controller or Root Canal.

Not over Bumble's own controllers (a LocalLink): they have no HCI_Set_Connection_Encryption
(Bumble 0.0.236 leaves the command unanswered), so a BR/EDR link there is never encrypted
and there is no link key SMP over BR/EDR may derive from.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from interop_support import TEST_LIMIT, ReportingProcess, reporting_process

from bluetrio.actors.btm.config import SecurityConfig, StackConfig
from bluetrio.address import Address, AddressType
from bluetrio.bonds import Bond, Transport
from bluetrio.keystore import MemoryKeyStore
from bluetrio.messages.btm import LinkTransport
from bluetrio.stack import open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PEER = Path(__file__).parent / "peers" / "bumble_ctkd_peer.py"
STEP_LIMIT = 60.0
DERIVING = StackConfig(security=SecurityConfig(cross_transport_key_derivation=True))


@pytest.fixture(params=["served", "rootcanal"])
def controller(request: pytest.FixtureRequest) -> int:
    fixture = "served_controller_port" if request.param == "served" else "rootcanal_hci_port"
    port = request.getfixturevalue(fixture)
    assert isinstance(port, int)
    return port


@contextlib.contextmanager
def bumble_peer(port: int, log: Path, *extra: str) -> Iterator[ReportingProcess]:
    command = [sys.executable, str(PEER), f"tcp-client:127.0.0.1:{port}", *extra]
    with reporting_process(command, log, "the Bumble CTKD peer") as peer:
        yield peer


class Stores:
    def __init__(self) -> None:
        self.made: list[MemoryKeyStore] = []

    def __call__(self, local: Address) -> MemoryKeyStore:
        self.made.append(MemoryKeyStore(local))
        return self.made[-1]

    async def bond(self, peer: Address, transport: Transport) -> Bond:
        with trio.fail_after(STEP_LIMIT):
            while (bond := await self.made[0].get(peer, transport)) is None:
                await trio.sleep(0.1)
        return bond


async def derived_ltk_of(peer: ReportingProcess) -> bytes:
    paired = await trio.to_thread.run_sync(peer.wait_for, "PAIRED", STEP_LIMIT)
    assert paired != "none", "Bumble derived no LTK"
    return bytes.fromhex(paired)


def same_ltk(bond: Bond, bumbles: bytes) -> None:
    ltk = bond.peer_keys.ltk
    assert ltk is not None and bond.derived_from is Transport.BR_EDR
    assert ltk.value == bumbles


async def test_we_pair_over_bredr_and_derive_the_ltk_bumble_derives(
    tmp_path: Path, controller: int
) -> None:
    ours = f"tcp:127.0.0.1:{controller}"
    with trio.fail_after(TEST_LIMIT), bumble_peer(controller, tmp_path / "peer.log") as peer:
        address = Address.parse(peer.reports["ADDRESS"].split("/")[0])
        stores = Stores()
        async with (
            open_stack(ours, bring_up=True, keystore=stores, config=DERIVING) as stack,
            stack.connect(address, transport=LinkTransport.BR_EDR) as link,
        ):
            with trio.fail_after(STEP_LIMIT):
                result = await link.pair()
            assert result.secure_connections and link.encrypted
            bumbles = await derived_ltk_of(peer)
            same_ltk(await stores.bond(address, Transport.LE), bumbles)


async def test_bumble_pairs_over_bredr_and_we_derive_the_ltk_it_derives(
    tmp_path: Path, controller: int
) -> None:
    ours = f"tcp:127.0.0.1:{controller}"
    with (
        trio.fail_after(TEST_LIMIT),
        bumble_peer(controller, tmp_path / "peer.log", "--connect", "-") as peer,
    ):
        address = Address.parse(peer.reports["ADDRESS"].split("/")[0])
        stores = Stores()
        async with open_stack(
            ours, bring_up=True, keystore=stores, config=DERIVING, pairable=True
        ) as stack:
            peer.tell(str((await stack.ready()).address))
            bumbles = await derived_ltk_of(peer)
            same_ltk(await stores.bond(address, Transport.LE), bumbles)


async def test_we_pair_over_le_and_the_derived_link_key_authenticates_bredr_with_bumble(
    tmp_path: Path, controller: int
) -> None:
    """The other direction (2.4.2.4): LE Secure Connections with LinkKey set on both sides;
    both derive the same BR/EDR link key, and our BR/EDR connection authenticates with it,
    no Secure Simple Pairing."""
    ours = f"tcp:127.0.0.1:{controller}"
    with (
        trio.fail_after(TEST_LIMIT),
        bumble_peer(controller, tmp_path / "peer.log", "--advertise") as peer,
    ):
        public = Address.parse(peer.reports["ADDRESS"].split("/")[0])
        on_le = Address.parse(peer.reports["LE_ADDRESS"].split("/")[0], AddressType.RANDOM)
        stores = Stores()
        async with open_stack(ours, bring_up=True, keystore=stores, config=DERIVING) as stack:
            async with stack.connect(on_le) as link:
                with trio.fail_after(STEP_LIMIT):
                    result = await link.pair()
                assert result.transport is Transport.LE and result.secure_connections
                derived = await trio.to_thread.run_sync(peer.wait_for, "LE_PAIRED", STEP_LIMIT)
                bond = await stores.bond(public, Transport.BR_EDR)
                assert bond.link_key is not None and bond.derived_from is Transport.LE
                assert bond.link_key.value == bytes.fromhex(derived)
            async with stack.connect(public, transport=LinkTransport.BR_EDR) as bredr:
                with trio.fail_after(STEP_LIMIT):
                    again = await bredr.pair()
                assert again.used_stored_key and again.model is None and bredr.encrypted
