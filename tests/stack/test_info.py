"""``bluetrio info`` and the read-only bring-up against the embedded virtual controller."""

from __future__ import annotations

import pytest

from bluetrio.actors.btm.controller_info import read_controller_info
from bluetrio.cli.main import main
from bluetrio.messages import hci
from bluetrio.stack import open_stack


async def test_read_controller_info_on_the_virtual_controller() -> None:
    async with open_stack("virtual") as stack:
        info = await read_controller_info(stack.command)
        address = (await stack.command(hci.ReadBdAddr())).decode_return().bd_addr
    assert info.address == address
    assert info.le_supported and info.bredr_supported
    assert (info.acl_packet_length, info.acl_packets) == (1021, 8)
    assert (info.le_acl_packet_length, info.le_acl_packets) == (251, 8)
    assert info.supports(hci.Reset.OPCODE)
    assert "LE supported (controller)" in info.feature_names()


def test_info_command_prints_the_controller(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "-t", "virtual"]) == 0
    out = capsys.readouterr().out
    assert "BD_ADDR:" in out and "LE 8 x 251 bytes" in out and "BR/EDR 8 x 1021 bytes" in out


def test_info_with_a_bad_transport_spec_says_what_is_accepted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["info", "-t", "bluetooth-please"]) == 1
    err = capsys.readouterr().err
    assert "tcp:HOST:PORT" in err and "usb" in err
