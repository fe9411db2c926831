"""LE pairing between bluetrio's Security Manager and Bumble's host (an independent SMP,
Core 5.4 Vol 3 Part H), each host on its own controller of one server: Bumble's controllers
(two on one LocalLink), bluetrio's served controller and Root Canal.

Both directions: we initiate (our central pairs with Bumble's peripheral) and Bumble
initiates (Bumble's central pairs with our peripheral); Secure Connections Just Works with
bonding, Secure Connections Passkey Entry with the passkey shown on one side and typed on the
other (both ways), legacy Just Works; then re-encryption with the bond on reconnection,
without pairing (2.4.4). And the peripheral's Security Request (2.4.6) both ways: Bumble's
peripheral asks and our central pairs, then encrypts with the bond when asked again; ours
asks (link.pair() as peripheral) and Bumble's central, told to wait for it, does the same.

Over Bumble's LocalLink the controller announces the initiator of a connection as a random
device whatever its own address type, so a host that connects with its public address feeds
the peer's c1/f5/f6 a type it does not use itself; our stack takes a static random own address
there (a real configuration: Vol 6 Part B 1.3.2.1), which the LocalLink reports as it is.

Bumble never sets the Keypress flag (3.5.1), so our typing delegate gets no keypress reporter
there (two bluetrio stacks exchange keypresses in tests/stack/test_smp_keypress_stacks.py).

The peer is ``peers/bumble_le_pairing_peer.py``. Root Canal answers back-to-back exchanges
late, so the deadlines are generous; nothing sleeps.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs
import pytest
import trio
from interop_support import TEST_LIMIT, ReportingProcess, reporting_process

from bluetrio.actors.btm.config import StackConfig
from bluetrio.address import Address, AddressType
from bluetrio.bonds import Bond, Transport
from bluetrio.keystore import MemoryKeyStore
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.btm_security import AssociationModel, IoCapability
from bluetrio.pairing import KeypressReporter, PairingDelegate
from bluetrio.stack import Stack, open_stack

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PEER_SCRIPT = Path(__file__).parent / "peers" / "bumble_le_pairing_peer.py"
STEP_LIMIT = 60.0  # guards against a hang only; Root Canal is slow on back-to-back PDUs


@attrs.frozen
class Case:
    """One pairing: Bumble's IO capability and ours, legacy or not, the model expected."""

    name: str
    bumble_io: str
    our_io: IoCapability
    legacy: bool
    model: AssociationModel
    authenticated: bool

    def bumble_arguments(self) -> list[str]:
        arguments = ["--io-capability", self.bumble_io]
        if self.legacy:
            arguments.append("--legacy")
        if not self.authenticated:
            arguments.append("--no-mitm")
        return arguments


CASES = [
    Case("sc-just-works", "no-io", IoCapability.NO_INPUT_NO_OUTPUT, False,
         AssociationModel.JUST_WORKS, False),
    # Bumble displays, we type; then we display, Bumble types (Vol 3 Part H 2.3.5.1,
    # Table 2.8: DisplayOnly x KeyboardOnly is Passkey Entry, the keyboard side types).
    Case("sc-passkey-we-type", "display-only", IoCapability.KEYBOARD_ONLY, False,
         AssociationModel.PASSKEY_ENTRY, True),
    Case("sc-passkey-bumble-types", "keyboard-only", IoCapability.DISPLAY_ONLY, False,
         AssociationModel.PASSKEY_ENTRY, True),
    Case("legacy-just-works", "no-io", IoCapability.NO_INPUT_NO_OUTPUT, True,
         AssociationModel.JUST_WORKS, False),
]  # fmt: skip

CONTROLLERS = ["bumble", "served", "rootcanal"]
# On Bumble's LocalLink our stack connects and advertises with this static random address
# (two top bits set, Vol 6 Part B 1.3.2.1); see the module docstring.
OUR_STATIC_ADDRESS = Address.parse("C4:11:22:33:44:55", AddressType.RANDOM)


class PeerDelegate(PairingDelegate):
    """Our user: types the passkey Bumble shows, tells Bumble the passkey we show."""

    def __init__(self, io: IoCapability, peer: ReportingProcess) -> None:
        super().__init__(io)
        self.peer = peer
        self.models: list[AssociationModel] = []
        self.reporters: list[KeypressReporter | None] = []

    async def pairing_model(self, peer: Address, model: AssociationModel) -> None:
        self.models.append(model)

    async def type_passkey(self, peer: Address, keypresses: KeypressReporter | None) -> int | None:
        # We set the Keypress flag (this delegate reports keys); Bumble never does, so no
        # reporter comes (Vol 3 Part H 3.5.1).
        self.reporters.append(keypresses)
        shown = await trio.to_thread.run_sync(self.peer.wait_for, "DISPLAY", STEP_LIMIT)
        return int(shown)

    async def display_passkey(self, peer: Address, passkey: int) -> None:
        # The peer reads it from its stdin when it asks (ENTER); the pipe holds it till then.
        self.peer.tell(f"{passkey:06d}")


class WatchedKeyStore(MemoryKeyStore):
    """A memory key store that says when a bond was saved (a pairing the peer started has
    no caller on our side to return to)."""

    def __init__(self, local_address: Address) -> None:
        super().__init__(local_address)
        self.saved = trio.Event()

    async def save(self, bond: Bond) -> None:
        await super().save(bond)
        self.saved.set()


@attrs.define
class Controllers:
    """Where the two hosts run: Bumble's transport argument, and our transport spec once
    known (Bumble's own controllers: the port the peer reports)."""

    where: str
    bumble: str
    ours: str | None

    def our_spec(self, peer: ReportingProcess) -> str:
        return self.ours or f"tcp:127.0.0.1:{peer.reports['PORT']}"

    def our_config(self) -> StackConfig:
        if self.where == "bumble":
            return StackConfig(static_address=OUR_STATIC_ADDRESS)
        return StackConfig()

    async def our_address(self, stack: Stack) -> str:
        """Our address on the air, as Bumble's central is told it (``ADDRESS/P|R``)."""
        if self.where == "bumble":
            return f"{OUR_STATIC_ADDRESS}/R"
        return f"{(await stack.ready()).address}/P"


@pytest.fixture(params=CONTROLLERS)
def controllers(request: pytest.FixtureRequest) -> Controllers:
    if request.param == "bumble":
        return Controllers("bumble", "local", None)
    fixture = "served_controller_port" if request.param == "served" else "rootcanal_hci_port"
    port = request.getfixturevalue(fixture)
    return Controllers(request.param, f"tcp-client:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}")


@contextlib.contextmanager
def bumble(tmp_path: Path, controller: str, *arguments: str) -> Iterator[ReportingProcess]:
    command = [sys.executable, str(PEER_SCRIPT), controller, *arguments]
    with reporting_process(
        command, tmp_path / "pairing-peer.log", "Bumble LE pairing peer"
    ) as peer:
        yield peer


@contextlib.asynccontextmanager
async def our_stack(
    controllers: Controllers, peer: ReportingProcess, delegate: PairingDelegate
) -> AsyncIterator[tuple[Stack, list[WatchedKeyStore]]]:
    stores: list[WatchedKeyStore] = []

    def keystore(local: Address) -> WatchedKeyStore:
        stores.append(WatchedKeyStore(local))
        return stores[-1]

    async with open_stack(
        controllers.our_spec(peer),
        bring_up=True,
        pairing_delegate=delegate,
        keystore=keystore,
        pairable=True,
        config=controllers.our_config(),
    ) as stack:
        await stack.ready()
        yield stack, stores


def bumble_address(peer: ReportingProcess) -> Address:
    return Address.parse(peer.reports["ADDRESS"].split("/")[0], AddressType.RANDOM)


def check_bumble_paired(paired: str, case: Case) -> str:
    """Bumble's PAIRED line agrees with the case; returns the LTK it keeps (hex)."""
    sc, authenticated, ltk, _irk = paired.split()
    assert sc == ("0" if case.legacy else "1")
    assert authenticated == ("1" if case.authenticated else "0")
    return ltk


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_we_pair_with_bumble_and_encrypt_again_with_the_bond(
    tmp_path: Path, controllers: Controllers, case: Case
) -> None:
    arguments = ["--role", "peripheral", *case.bumble_arguments()]
    with trio.fail_after(TEST_LIMIT), bumble(tmp_path, controllers.bumble, *arguments) as peer:
        delegate = PeerDelegate(case.our_io, peer)
        async with our_stack(controllers, peer, delegate) as (stack, stores):
            address = bumble_address(peer)
            async with stack.connect(address, timeout=STEP_LIMIT) as link:
                with trio.fail_after(STEP_LIMIT):
                    result = await link.pair()
                assert result.transport is Transport.LE and result.model is case.model
                assert result.secure_connections is not case.legacy
                assert result.authenticated is case.authenticated
                assert link.encrypted and not result.used_stored_key
                paired = await trio.to_thread.run_sync(peer.wait_for, "PAIRED", STEP_LIMIT)
                ltk = check_bumble_paired(paired, case)
                (bond,) = await stores[0].list()
                assert bond.peer_keys.ltk is not None
                if not case.legacy:  # both derived the same LTK (f5, 2.2.7)
                    ours = bond.peer_keys.ltk.value
                    assert bytes.fromhex(ltk) in (ours, ours[::-1])
                await link.disconnect()
            if case.model is not AssociationModel.JUST_WORKS:
                assert set(delegate.models) == {case.model}
            if case.our_io is IoCapability.KEYBOARD_ONLY:
                assert delegate.reporters == [None]
            # Reconnected: the central encrypts with the stored LTK, no pairing.
            async with stack.connect(address, timeout=STEP_LIMIT) as link:
                with trio.fail_after(STEP_LIMIT):
                    again = await link.pair()
                assert again.used_stored_key and again.model is None and link.encrypted
                assert await trio.to_thread.run_sync(peer.wait_for, "ENCRYPTION", STEP_LIMIT) == "1"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_bumble_pairs_with_us_and_encrypts_again_with_the_bond(
    tmp_path: Path, controllers: Controllers, case: Case
) -> None:
    # Bumble connects to the address we tell it on stdin once our stack is up (on its own
    # controllers the peer serves ours, so it runs first).
    arguments = ["--role", "central", "--connect", "-", "--reconnect", *case.bumble_arguments()]
    with trio.fail_after(TEST_LIMIT), bumble(tmp_path, controllers.bumble, *arguments) as peer:
        delegate = PeerDelegate(case.our_io, peer)
        async with our_stack(controllers, peer, delegate) as (stack, stores):
            async with stack.advertise():
                peer.tell(await controllers.our_address(stack))
                async with stack.accept(LinkTransport.LE, timeout=STEP_LIMIT) as link:
                    with trio.fail_after(STEP_LIMIT):
                        await stores[0].saved.wait()
                    paired = await trio.to_thread.run_sync(peer.wait_for, "PAIRED", STEP_LIMIT)
                    ltk = check_bumble_paired(paired, case)
                    assert link.encrypted
                    (bond,) = await stores[0].list()
                    assert bond.transport is Transport.LE and bond.peer_keys.irk is not None
                    assert bond.authenticated is case.authenticated
                    assert bond.secure_connections is not case.legacy
                    assert bond.local_keys.ltk is not None
                    if not case.legacy:
                        ours_ltk = bond.local_keys.ltk.value
                        assert bytes.fromhex(ltk) in (ours_ltk, ours_ltk[::-1])
                    with trio.fail_after(STEP_LIMIT):
                        await link.wait_disconnected()  # Bumble disconnects to reconnect
            if case.model is not AssociationModel.JUST_WORKS:
                assert set(delegate.models) == {case.model}
            # Bumble reconnects and encrypts with the bond: we answer its LTK request from
            # the store, no pairing on either side.
            async with (
                stack.advertise(),
                stack.accept(LinkTransport.LE, timeout=STEP_LIMIT) as link,
            ):
                with trio.fail_after(STEP_LIMIT):
                    again = await link.pair()  # the peripheral's: met once encrypted
                assert again.used_stored_key and again.model is None and link.encrypted
                assert await trio.to_thread.run_sync(peer.wait_for, "ENCRYPTION", STEP_LIMIT) == "1"
            assert len(await stores[0].list()) == 1


async def test_bumbles_security_request_makes_us_pair_then_encrypt_with_the_bond(
    tmp_path: Path, controllers: Controllers
) -> None:
    """Bumble's peripheral sends a Security Request on each connection (2.4.6): our central
    pairs the first time (nobody on our side called pair()) and encrypts with the bond the
    second time."""
    case = CASES[0]
    arguments = ["--role", "peripheral", "--security-request", *case.bumble_arguments()]
    with trio.fail_after(TEST_LIMIT), bumble(tmp_path, controllers.bumble, *arguments) as peer:
        delegate = PeerDelegate(case.our_io, peer)
        async with our_stack(controllers, peer, delegate) as (stack, stores):
            address = bumble_address(peer)
            async with stack.connect(address, timeout=STEP_LIMIT) as link:
                with trio.fail_after(STEP_LIMIT):
                    await stores[0].saved.wait()
                paired = await trio.to_thread.run_sync(peer.wait_for, "PAIRED", STEP_LIMIT)
                check_bumble_paired(paired, case)
                assert link.encrypted
                await link.disconnect()
            async with stack.connect(address, timeout=STEP_LIMIT) as link:
                assert await trio.to_thread.run_sync(peer.wait_for, "ENCRYPTION", STEP_LIMIT) == "1"
                with trio.fail_after(STEP_LIMIT):
                    again = await link.pair()  # met by the encryption the request caused
                assert again.used_stored_key and link.encrypted
            assert len(await stores[0].list()) == 1


async def test_our_security_request_makes_bumble_pair_then_encrypt_with_the_bond(
    tmp_path: Path, controllers: Controllers
) -> None:
    """Our peripheral's link.pair() sends a Security Request (2.4.6): Bumble's central pairs
    the first time and encrypts with the bond the second time; link.pair() returns when the
    link meets the requirement, either way."""
    case = CASES[0]
    # Bumble reconnects only when told: a peer that drops the link as soon as it sent its
    # last key leaves our link.pair() with "link lost" though the bond is kept (btm hears
    # the disconnection before SMP's answer).
    arguments = ["--role", "central", "--connect", "-", "--reconnect", "--when-asked",
                 "--reconnect-when-told", *case.bumble_arguments()]  # fmt: skip
    with trio.fail_after(TEST_LIMIT), bumble(tmp_path, controllers.bumble, *arguments) as peer:
        delegate = PeerDelegate(case.our_io, peer)
        async with our_stack(controllers, peer, delegate) as (stack, stores):
            async with stack.advertise():
                peer.tell(await controllers.our_address(stack))
                async with stack.accept(LinkTransport.LE, timeout=STEP_LIMIT) as link:
                    with trio.fail_after(STEP_LIMIT):
                        result = await link.pair()
                    assert result.model is AssociationModel.JUST_WORKS
                    assert result.secure_connections and not result.used_stored_key
                    assert link.encrypted
                    paired = await trio.to_thread.run_sync(peer.wait_for, "PAIRED", STEP_LIMIT)
                    check_bumble_paired(paired, case)
                    peer.tell("reconnect")
                    with trio.fail_after(STEP_LIMIT):
                        await link.wait_disconnected()  # Bumble disconnects to reconnect
            async with (
                stack.advertise(),
                stack.accept(LinkTransport.LE, timeout=STEP_LIMIT) as link,
            ):
                with trio.fail_after(STEP_LIMIT):
                    again = await link.pair()
                assert again.used_stored_key and again.model is None and link.encrypted
            assert len(await stores[0].list()) == 1
