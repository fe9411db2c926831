"""Keypress notifications between two bluetrio stacks (Core 5.4 Vol 3 Part H 3.5.8): the
typing side's delegate reports through the :class:`KeypressReporter` it gets in
``type_passkey``, the displaying side's delegate hears each key in ``keypress``, and the
pairing completes with the passkey typed."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from bluetrio.actors.btm.config import StackConfig
from bluetrio.actors.runtime import Actor
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.core import SmpCore
from bluetrio.address import Address
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.btm_security import AssociationModel, IoCapability
from bluetrio.pairing import KeypressReporter, KeypressType, PairingDelegate, PairingResult
from bluetrio.stack import smp_config
from bluetrio.testing import open_stack_pair

TYPED = [
    KeypressType.ENTRY_STARTED,
    KeypressType.DIGIT_ENTERED,
    KeypressType.DIGIT_ENTERED,
    KeypressType.DIGIT_ERASED,
    KeypressType.CLEARED,
    *[KeypressType.DIGIT_ENTERED] * 6,
    KeypressType.ENTRY_COMPLETED,
]


class Shown:
    """The passkey one stack displays, for the other's user to type."""

    def __init__(self) -> None:
        self.passkey: int | None = None
        self.ready = trio.Event()


class Typist(PairingDelegate):
    """Types the passkey shown on the other stack, reporting each key as it goes."""

    def __init__(self, shown: Shown) -> None:
        super().__init__()
        self.shown = shown
        self.reporters: list[KeypressReporter | None] = []

    async def type_passkey(self, peer: Address, keypresses: KeypressReporter | None) -> int | None:
        self.reporters.append(keypresses)
        await self.shown.ready.wait()
        if keypresses is not None:
            keypresses.entry_started()
            keypresses.digit_entered()
            keypresses.digit_entered()
            keypresses.digit_erased()
            keypresses.cleared()
            for _ in range(6):
                keypresses.digit_entered()
            keypresses.entry_completed()
        return self.shown.passkey


class Display(PairingDelegate):
    """Shows the passkey and watches the peer's user type it."""

    def __init__(self, shown: Shown) -> None:
        super().__init__()
        self.shown = shown
        self.heard: list[KeypressType] = []
        self.completed = trio.Event()

    async def display_passkey(self, peer: Address, passkey: int) -> None:
        self.shown.passkey = passkey
        self.shown.ready.set()

    async def keypress(self, peer: Address, kind: KeypressType) -> None:
        self.heard.append(kind)
        if kind is KeypressType.ENTRY_COMPLETED:
            self.completed.set()


async def pair_over_the_air(
    central: tuple[PairingDelegate, SmpConfig],
    peripheral: tuple[PairingDelegate, SmpConfig],
    display: Display | None = None,
) -> PairingResult:
    """Two stacks, each with its delegate and SMP configuration; the central pairs. With
    ``display``, also wait until it heard the entry completed."""
    first = {"pairing_delegate": central[0], "extra_layers": [Actor(SmpCore(central[1]))]}
    second = {
        "pairing_delegate": peripheral[0],
        "extra_layers": [Actor(SmpCore(peripheral[1]))],
        "pairable": True,
    }
    async with open_stack_pair(first, second) as (a, b):
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            with trio.fail_after(60):
                result = await link.pair()
                if display is not None:
                    await display.completed.wait()
            return result


def test_a_delegate_that_reports_or_shows_keypresses_sets_the_keypress_flag() -> None:
    shown = Shown()
    assert Typist(shown).uses_keypresses and Display(shown).uses_keypresses
    assert not PairingDelegate().uses_keypresses
    assert Typist(shown).io_capability is IoCapability.KEYBOARD_ONLY
    assert smp_config(StackConfig(), Typist(shown)).keypress
    assert not smp_config(StackConfig(), PairingDelegate()).keypress


@pytest.mark.parametrize("secure", [True, False], ids=["sc", "legacy"])
@pytest.mark.parametrize("typist_side", ["central", "peripheral"])
async def test_keypresses_reach_the_displaying_stack_while_the_passkey_is_typed(
    autojump_clock: MockClock, secure: bool, typist_side: str
) -> None:
    shown = Shown()
    typist, display = Typist(shown), Display(shown)
    central, peripheral = (typist, display) if typist_side == "central" else (display, typist)
    # The central asks for MITM protection (its AuthReq, 3.5.1): Passkey Entry, not Just Works.
    configs = [
        SmpConfig(
            io_capability=delegate.io_capability,
            mitm=delegate is central,
            secure_connections=secure,
            keypress=True,
        )
        for delegate in (central, peripheral)
    ]
    result = await pair_over_the_air((central, configs[0]), (peripheral, configs[1]), display)
    assert result.model is AssociationModel.PASSKEY_ENTRY and result.authenticated
    assert result.secure_connections is secure
    assert len(typist.reporters) == 1 and typist.reporters[0] is not None
    assert display.heard == TYPED


async def test_without_the_peers_flag_the_typist_gets_no_reporter(
    autojump_clock: MockClock,
) -> None:
    shown = Shown()
    typist, display = Typist(shown), Display(shown)
    result = await pair_over_the_air(
        (typist, SmpConfig(io_capability=IoCapability.KEYBOARD_ONLY, mitm=True, keypress=True)),
        (display, SmpConfig(io_capability=IoCapability.DISPLAY_ONLY, keypress=False)),
    )
    assert result.authenticated
    assert typist.reporters == [None] and display.heard == []
