"""The IO capability of a pairing delegate: explicit, or derived from what it overrides, so a
delegate that can confirm numbers never announces NoInputNoOutput (silent Just Works)."""

from __future__ import annotations

import pytest

from bluetrio import Address, InvalidArgumentError, IoCapability, PairingDelegate
from bluetrio.pairing import TerminalPairingDelegate, derive_io_capability


class Confirms(PairingDelegate):
    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        return True


class Types(PairingDelegate):
    async def enter_passkey(self, peer: Address) -> int | None:
        return 0


class Shows(PairingDelegate):
    async def display_passkey(self, peer: Address, passkey: int) -> None:
        return None


class TypesAndShows(Types, Shows):
    pass


@pytest.mark.parametrize(
    ("delegate", "expected"),
    [
        (PairingDelegate, IoCapability.NO_INPUT_NO_OUTPUT),
        (Confirms, IoCapability.DISPLAY_YES_NO),
        (Types, IoCapability.KEYBOARD_ONLY),
        (Shows, IoCapability.DISPLAY_ONLY),
        (TypesAndShows, IoCapability.KEYBOARD_DISPLAY),
    ],
)
def test_derived_from_what_the_subclass_overrides(
    delegate: type[PairingDelegate], expected: IoCapability
) -> None:
    assert derive_io_capability(delegate) is expected
    assert delegate().io_capability is expected


def test_a_delegate_that_only_confirms_numbers_does_not_do_just_works() -> None:
    assert Confirms().io_capability is not IoCapability.NO_INPUT_NO_OUTPUT


def test_explicit_capability_wins_and_is_checked() -> None:
    assert Confirms(IoCapability.KEYBOARD_ONLY).io_capability is IoCapability.KEYBOARD_ONLY
    delegate = Confirms()
    delegate.io_capability = IoCapability.DISPLAY_ONLY
    assert delegate.io_capability is IoCapability.DISPLAY_ONLY
    with pytest.raises(InvalidArgumentError):
        Confirms("display-yes-no")  # type: ignore[arg-type]
    assert TerminalPairingDelegate().io_capability is IoCapability.DISPLAY_YES_NO


class HearsFailures(PairingDelegate):
    async def pairing_failed(self, peer: Address, reason: str) -> None:
        return None


def test_hearing_of_failures_does_not_change_the_io_capability() -> None:
    assert HearsFailures().io_capability is IoCapability.NO_INPUT_NO_OUTPUT


def test_the_serve_command_keeps_the_users_capability_and_oob() -> None:
    from bluetrio.cli.serve import ReportingDelegate

    class HasOob(Confirms):
        async def oob_data(self, peer: Address) -> None:
            return None

    lines: list[str] = []
    wrapped = ReportingDelegate(HasOob(), lines.append)
    assert wrapped.io_capability is IoCapability.DISPLAY_YES_NO
    assert wrapped.provides_oob_data
    assert not ReportingDelegate(Confirms(), lines.append).provides_oob_data
