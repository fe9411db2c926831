"""``bluetrio info`` and the HCI actor against Android's Root Canal virtual controller."""

from __future__ import annotations

import pytest
import trio
from interop_support import TEST_LIMIT

from bluetrio.actors.btm.controller_info import read_controller_info
from bluetrio.cli.main import main
from bluetrio.stack import open_stack

pytestmark = pytest.mark.interop


def test_info_against_rootcanal(
    rootcanal_hci_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", "-t", f"tcp:127.0.0.1:{rootcanal_hci_port}"]) == 0
    out = capsys.readouterr().out
    assert "BD_ADDR:" in out
    assert "LE:            supported" in out and "BR/EDR:        supported" in out


async def test_two_rootcanal_controllers_have_distinct_addresses(rootcanal_hci_port: int) -> None:
    with trio.fail_after(TEST_LIMIT):
        spec = f"tcp:127.0.0.1:{rootcanal_hci_port}"
        async with open_stack(spec) as first, open_stack(spec) as second:
            info_a = await read_controller_info(first.command)
            info_b = await read_controller_info(second.command)
        assert info_a.address != info_b.address
        assert info_a.acl_packets > 0 and info_a.le_acl_packet_length is not None
