"""Every HCI status has the spec's name, and an error names its status once."""

from __future__ import annotations

import pytest

from bluetrio.errors import ConnectionFailedError, HciError
from bluetrio.messages.hci.status import HciStatus, describe_status
from bluetrio.pairing import PairingError


def test_every_status_has_its_spec_name() -> None:
    names = {status: status.description for status in HciStatus}
    assert all(names.values())
    # Spelled as in Core 5.4 Vol 1 Part F 1.3, not derived from the enum member's name.
    assert names[HciStatus.PAGE_TIMEOUT] == "Page Timeout"
    assert names[HciStatus.PAIRING_NOT_ALLOWED] == "Pairing Not Allowed"
    assert names[HciStatus.UNKNOWN_HCI_COMMAND] == "Unknown HCI Command"
    assert names[HciStatus.PIN_OR_KEY_MISSING] == "PIN or Key Missing"
    assert names[HciStatus.HOST_BUSY_PAIRING] == "Host Busy - Pairing"


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0x04, "Page Timeout (0x04)"),
        (0x18, "Pairing Not Allowed (0x18)"),
        (0x0C, "Command Disallowed (0x0C)"),
        (0x2B, "unknown status (0x2B)"),  # reserved for future use
    ],
)
def test_describe_status(code: int, text: str) -> None:
    assert describe_status(code) == text


@pytest.mark.parametrize("error_class", [HciError, ConnectionFailedError, PairingError])
def test_an_error_names_its_status_once(error_class: type[HciError]) -> None:
    error = error_class(0x04, "connecting to 00:11:22:33:44:55: page failed")
    assert str(error) == "connecting to 00:11:22:33:44:55: page failed: Page Timeout (0x04)"
    assert error.status == 0x04
