"""BR/EDR pairing between two stacks on one virtual air (real ECDH in the controllers)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from bluetrio.actors.btm.config import SecurityConfig, StackConfig
from bluetrio.address import Address
from bluetrio.bonds import LinkKeyType, Transport
from bluetrio.controller import VirtualController, default_air
from bluetrio.controller.bredr_security import BrEdrSecurity
from bluetrio.keystore import JsonKeyStore, KeyStore, MemoryKeyStore
from bluetrio.messages import hci
from bluetrio.messages.btm import LinkTransport, SecurityLevel
from bluetrio.pairing import (
    AssociationModel,
    IoCapability,
    PairingDelegate,
    PairingError,
    PairingResult,
)
from bluetrio.stack import Stack, open_stack
from bluetrio.transports.virtual import transport_pair

DY, DO, KO, NO = (
    IoCapability.DISPLAY_YES_NO,
    IoCapability.DISPLAY_ONLY,
    IoCapability.KEYBOARD_ONLY,
    IoCapability.NO_INPUT_NO_OUTPUT,
)
AUTHENTICATED = LinkKeyType.AUTHENTICATED_P256
UNAUTHENTICATED = LinkKeyType.UNAUTHENTICATED_P256


class Board:
    """Where the displaying side shows the passkey and the typing side reads it."""

    def __init__(self) -> None:
        self.shown = trio.Event()
        self.passkey = 0


class ScriptedDelegate(PairingDelegate):
    def __init__(
        self,
        io: IoCapability,
        board: Board,
        *,
        confirm: bool = True,
        typo: bool = False,
    ) -> None:
        self.io_capability = io
        self.board = board
        self.confirm = confirm
        self.typo = typo
        self.numbers: list[int] = []
        self.models: list[AssociationModel] = []

    async def pairing_model(self, peer: Address, model: AssociationModel) -> None:
        self.models.append(model)

    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        self.numbers.append(number)
        return self.confirm

    async def display_passkey(self, peer: Address, passkey: int) -> None:
        self.board.passkey = passkey
        self.board.shown.set()

    async def enter_passkey(self, peer: Address) -> int | None:
        # With two keyboards nobody displays: both users type the same number they chose.
        with trio.move_on_after(1):
            await self.board.shown.wait()
        passkey = self.board.passkey if self.board.shown.is_set() else 123456
        return (passkey + 1) % 1_000_000 if self.typo else passkey


@contextlib.asynccontextmanager
async def virtual_stack(
    delegate: PairingDelegate,
    keystore: KeyStore | None = None,
    address: Address | None = None,
    **options: Any,
) -> AsyncIterator[tuple[Stack, VirtualController]]:
    """A stack on its own virtual controller (reachable for its test knobs); the stack serves
    ``delegate`` and ``keystore`` itself."""
    host_side, controller_side = transport_pair()
    controller = VirtualController(default_air(), public_address=address)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(controller.serve, controller_side)
        async with open_stack(
            host_side, pairing_delegate=delegate, keystore=keystore, bring_up=True, **options
        ) as stack:
            yield stack, controller
        nursery.cancel_scope.cancel()


def address_of(stack: Stack) -> Address:
    info = stack.controller_info
    assert info is not None
    return info.address


async def pair_once(a: Stack, b: Stack) -> PairingResult:
    async with a.connect(address_of(b), transport=LinkTransport.BR_EDR) as link:
        result = await link.pair()
        assert link.encrypted and link.key_size == result.key_size
    # The virtual controller does not yet tell the peer about a local Disconnect; close the
    # peer's end too so that the next connection can be paged.
    for link in b.links:
        await b.disconnect(link.handle, missing_ok=True)
    return result


def run(test: Any) -> None:
    trio.run(test, clock=MockClock(autojump_threshold=0))


@pytest.mark.parametrize(
    ("initiator", "responder", "model", "key_type"),
    [
        (DY, DY, AssociationModel.NUMERIC_COMPARISON, AUTHENTICATED),
        (DY, NO, AssociationModel.JUST_WORKS, UNAUTHENTICATED),
        (NO, DY, AssociationModel.JUST_WORKS, UNAUTHENTICATED),
        (DO, DY, AssociationModel.JUST_WORKS, UNAUTHENTICATED),
        (DO, KO, AssociationModel.PASSKEY_ENTRY, AUTHENTICATED),
        (KO, DY, AssociationModel.PASSKEY_ENTRY, AUTHENTICATED),
        (KO, KO, AssociationModel.PASSKEY_ENTRY, AUTHENTICATED),
        (KO, NO, AssociationModel.JUST_WORKS, UNAUTHENTICATED),
        (NO, NO, AssociationModel.JUST_WORKS, UNAUTHENTICATED),
    ],
)
def test_ssp_models_and_key_types(
    initiator: IoCapability,
    responder: IoCapability,
    model: AssociationModel,
    key_type: LinkKeyType,
) -> None:
    async def main() -> None:
        board = Board()
        first, second = ScriptedDelegate(initiator, board), ScriptedDelegate(responder, board)
        async with (
            virtual_stack(first) as (a, _),
            virtual_stack(second, pairable=True) as (b, _),
        ):
            result = await pair_once(a, b)
            assert (result.model, result.key_type) == (model, key_type)
            assert (result.key_size, result.used_stored_key) == (16, False)
            if model is AssociationModel.NUMERIC_COMPARISON:
                assert first.numbers == second.numbers and len(first.numbers) == 1
            # Each question came with the model it belongs to (method confusion).
            assert all(told is model for told in first.models + second.models)
            if model is not AssociationModel.JUST_WORKS:
                assert first.models and second.models

    run(main)


def test_wrong_passkey_fails() -> None:
    async def main() -> None:
        board = Board()
        async with (
            virtual_stack(ScriptedDelegate(KO, board, typo=True)) as (a, _),
            virtual_stack(ScriptedDelegate(DO, board), pairable=True) as (b, _),
        ):
            with pytest.raises(PairingError) as failure:
                await pair_once(a, b)
            assert failure.value.status == 0x05

    run(main)


def test_rejected_confirmation_fails() -> None:
    async def main() -> None:
        board = Board()
        async with (
            virtual_stack(ScriptedDelegate(DY, board)) as (a, _),
            virtual_stack(ScriptedDelegate(DY, board, confirm=False), pairable=True) as (b, _),
        ):
            with pytest.raises(PairingError):
                await pair_once(a, b)

    run(main)


def test_not_pairable_peer_refuses() -> None:
    async def main() -> None:
        board = Board()
        async with (
            virtual_stack(ScriptedDelegate(DY, board)) as (a, _),
            virtual_stack(ScriptedDelegate(DY, board)) as (b, _),
        ):
            with pytest.raises(PairingError) as failure:
                await pair_once(a, b)
            # Named once, as the spec names it (Vol 1 Part F 1.3), not "authentication failed".
            assert str(failure.value) == (
                f"securing the link to {address_of(b)}: Pairing Not Allowed (0x18)"
            )

    run(main)


def test_bonded_reconnection_needs_no_pairing() -> None:
    async def main() -> None:
        board = Board()
        async with (
            virtual_stack(ScriptedDelegate(DY, board)) as (a, _),
            virtual_stack(ScriptedDelegate(DY, board), pairable=True) as (b, _),
        ):
            first = await pair_once(a, b)
            assert first.model is AssociationModel.NUMERIC_COMPARISON
            seen_by_a = a.events()
            seen_by_b = b.events()
            second = await pair_once(a, b)
            assert (second.used_stored_key, second.model, second.key_type) == (
                True,
                None,
                AUTHENTICATED,
            )
            events = []
            for channel in (seen_by_a, seen_by_b):
                while True:
                    try:
                        events.append(type(channel.receive_nowait().event))
                    except trio.WouldBlock:
                        break
            assert hci.LinkKeyRequest in events and hci.EncryptionChange in events
            assert hci.IoCapabilityRequest not in events
            assert hci.UserConfirmationRequest not in events

    run(main)


@pytest.mark.parametrize(("minimum", "accepted"), [(16, False), (7, True)])
def test_short_encryption_key_knob(minimum: int, accepted: bool) -> None:
    async def main() -> None:
        board = Board()
        config = StackConfig(security=SecurityConfig(min_encryption_key_size=minimum))
        async with (
            virtual_stack(ScriptedDelegate(DY, board), config=config) as (a, _),
            virtual_stack(ScriptedDelegate(DY, board), pairable=True) as (b, controller),
        ):
            # The peer's controller negotiates 7 octets at most (KNOB, CVE-2019-9506).
            controller.feature(BrEdrSecurity).max_encryption_key_size = 7
            if accepted:
                assert (await pair_once(a, b)).key_size == 7
            else:
                with pytest.raises(PairingError, match="KNOB"):
                    await pair_once(a, b)
                assert a.links == ()  # disconnected

    run(main)


def test_bonds_persist_in_a_json_keystore(tmp_path: Path) -> None:
    async def main() -> None:
        board = Board()
        path = tmp_path / "bonds.json"
        local = Address.parse("00:1B:DC:0A:0A:0A")
        async with virtual_stack(ScriptedDelegate(DY, board), pairable=True) as (b, _):
            store = JsonKeyStore(path, local)
            async with virtual_stack(ScriptedDelegate(DY, board), store, local) as (a, _):
                assert (await pair_once(a, b)).used_stored_key is False
            (bond,) = await JsonKeyStore(path, local).list()
            assert bond.transport is Transport.BR_EDR and bond.peer_address == address_of(b)
            assert bond.link_key is not None and bond.link_key.type is AUTHENTICATED
            # A new stack with the same identity reads the bond back and pairs no more.
            store = JsonKeyStore(path, local)
            async with virtual_stack(ScriptedDelegate(DY, board), store, local) as (a, _):
                again = await pair_once(a, b)
                assert (again.used_stored_key, again.model) == (True, None)

    run(main)


def test_open_stack_serves_the_delegate_and_saves_bonds_in_its_keystore() -> None:
    async def main() -> None:
        board = Board()
        initiator = ScriptedDelegate(DY, board)
        local = Address.parse("00:1B:DC:0C:0C:0C")
        store = MemoryKeyStore(local)
        async with (
            open_stack("virtual", pairing_delegate=ScriptedDelegate(DY, board), pairable=True) as b,
            virtual_stack(initiator, store, local) as (a, _),
        ):
            await b.ready()
            result = await pair_once(a, b)
            assert result.model is AssociationModel.NUMERIC_COMPARISON
            assert len(initiator.numbers) == 1  # the prompt reached the delegate given to a
            (bond,) = await store.list()
            assert bond.peer_address == address_of(b) and bond.transport is Transport.BR_EDR
            assert bond.link_key is not None and bond.link_key.type is AUTHENTICATED

    run(main)


def test_the_live_link_follows_pairing_on_both_sides() -> None:
    async def main() -> None:
        board = Board()
        async with (
            virtual_stack(ScriptedDelegate(DY, board)) as (a, _),
            virtual_stack(ScriptedDelegate(DY, board), pairable=True) as (b, _),
            a.connect(address_of(b), transport=LinkTransport.BR_EDR) as link,
            b.accept() as incoming,
        ):
            assert not link.encrypted and link.security_level is SecurityLevel.NONE
            assert not incoming.encrypted and incoming.key_size == 0
            result = await link.pair()
            assert link.encrypted and link.key_size == 16
            assert link.key_type is result.key_type is AUTHENTICATED
            assert link.security_level is SecurityLevel.SECURE_CONNECTIONS
            with trio.fail_after(5):
                while not incoming.encrypted or incoming.key_type is None:
                    await trio.sleep(0.01)
            assert incoming.security_level is SecurityLevel.SECURE_CONNECTIONS
            # By address, the stack's own method: the link is secured already.
            again = await a.pair(address_of(b))
            assert (again.handle, again.key_type) == (link.handle, AUTHENTICATED)

    run(main)


def test_pairing_an_le_link_runs_the_security_manager() -> None:
    async def main() -> None:
        board = Board()
        async with (
            virtual_stack(ScriptedDelegate(DY, board)) as (a, _),
            virtual_stack(ScriptedDelegate(DY, board), pairable=True) as (b, _),
            b.advertise(),
            a.connect(address_of(b)) as link,
        ):
            result = await link.pair()
            assert result.transport is Transport.LE and result.secure_connections
            assert link.encrypted

    run(main)
