"""Host-visible rules every command follows (Core 5.4 Vol 4 Part E 4.4, 4.5, 7.3, 7.4)."""

from __future__ import annotations

import struct

import pytest
import trio
import trio.testing

from bluetrio.address import Address
from bluetrio.controller import Air, ControllerConfig, VirtualController
from bluetrio.controller.dispatch import COMMAND_TABLE, CommandError, Status
from bluetrio.controller.general import General
from bluetrio.controller.harness import connect, open_host
from bluetrio.messages import hci
from bluetrio.messages.hci.base import SUPPORTED_COMMAND_BITS, bitmap_supports
from bluetrio.messages.packets import PacketType


async def test_unknown_command_gets_command_complete_with_unknown_hci_command(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_host(VirtualController(Air())) as host:
        await host.send_command(0xFC42, b"\x01\x02")
        event = await host.take_event(lambda e: e[0] == hci.CommandComplete.EVENT_CODE)
        assert event == bytes((0x0E, 4, 1)) + struct.pack("<H", 0xFC42) + b"\x01"


@pytest.mark.parametrize(
    ("opcode", "parameters"),
    [
        (0x0C01, b"\x01\x02"),  # Set_Event_Mask: 8 bytes expected
        (0x1009, b"\x00"),  # Read_BD_ADDR takes none
        (0x200A, b"\x05"),  # LE_Set_Advertising_Enable: 0 or 1
        (0x2006, bytes(15)),  # advertising interval 0 is out of range
        (0x0406, struct.pack("<HB", 0x0F00, 0x13)),  # handle out of range
    ],
)
async def test_malformed_commands_get_invalid_parameters(
    autojump_clock: trio.testing.MockClock, opcode: int, parameters: bytes
) -> None:
    async with open_host(VirtualController(Air())) as host:
        assert (await host.command(opcode, parameters))[:1] == b"\x12"


async def test_length_field_disagreeing_with_parameters_is_invalid(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_host(VirtualController(Air())) as host:
        await host.transport.send(PacketType.COMMAND, struct.pack("<HB", 0x1009, 5))
        assert await host.take_reply(0x1009) == b"\x12" + bytes(6)


async def test_supported_commands_match_the_handler_table(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_host(VirtualController(Air())) as host:
        bitmap = (await host.command(0x1002))[1:]
    assert len(bitmap) == 64
    for opcode in SUPPORTED_COMMAND_BITS:
        assert bitmap_supports(bitmap, opcode) == (opcode in COMMAND_TABLE), hex(opcode)


async def test_identity_buffers_and_num_command_packets_come_from_config(
    autojump_clock: trio.testing.MockClock,
) -> None:
    address = Address.parse("11:22:33:44:55:66")
    config = ControllerConfig(num_hci_command_packets=3, manufacturer=0x1234)
    async with open_host(VirtualController(Air(), public_address=address, config=config)) as host:
        await host.send_command(0x1009)
        event = await host.take_event(lambda e: e[0] == hci.CommandComplete.EVENT_CODE)
        assert event[2] == 3
        assert event[6:] == address.to_wire()
        version = await host.command(0x1001)
        assert struct.unpack("<BBHBHH", version)[4] == 0x1234
        assert await host.command(0x1005) == b"\x00" + struct.pack("<HBHH", 1021, 255, 8, 8)
        assert await host.command(0x2002) == b"\x00" + struct.pack("<HB", 251, 8)


async def test_controllers_on_one_air_get_distinct_addresses() -> None:
    air = Air()
    first, second = VirtualController(air), VirtualController(air)
    assert first.public_address != second.public_address


async def test_event_masks_filter_events_and_reset_restores_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    air = Air()
    async with (
        open_host(VirtualController(air)) as first,
        open_host(VirtualController(air)) as second,
    ):
        everything = struct.pack("<Q", 0x3FFF_FFFF_FFFF_FFFF)
        for host in (first, second):
            await host.command(0x0C01, everything)
        handle, _ = await connect(first, second)
        # Mask Disconnection Complete (bit 4) on the first host only.
        await first.command(0x0C01, struct.pack("<Q", 0x3FFF_FFFF_FFFF_FFFF & ~(1 << 4)))
        await first.command(0x0406, struct.pack("<HB", handle, 0x13))
        assert await second.expect(hci.DisconnectionComplete)
        await trio.sleep(1)
        assert not [e for e in first.events if e[0] == hci.DisconnectionComplete.EVENT_CODE]
        # Reset: back to the default mask, LE Meta (bit 61) off again.
        assert await first.command(0x0C03) == b"\x00"
        assert first.controller.masks.page_1 == 0x0000_1FFF_FFFF_FFFF


async def test_reset_drops_connections_and_the_peer_times_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    air = Air()
    async with (
        open_host(VirtualController(air)) as first,
        open_host(VirtualController(air)) as second,
    ):
        for host in (first, second):
            await host.command(0x0C01, struct.pack("<Q", 0x3FFF_FFFF_FFFF_FFFF))
        handle, peer_handle = await connect(first, second)
        assert await first.command(0x0C03) == b"\x00"
        assert first.controller.connections == {}
        assert await first.command(0x0406, struct.pack("<HB", handle, 0x13)) == b"\x02"
        assert await second.expect(hci.DisconnectionComplete) == struct.pack(
            "<BHB", 0, peer_handle, 0x08
        )


async def test_a_failing_handler_answers_unspecified_error_and_the_controller_goes_on(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: General, command: hci.ReadBdAddr) -> hci.ReadBdAddrReturn:
        raise RuntimeError("a bug in a handler")

    def wrong_type(self: General, command: hci.ReadBufferSize) -> object:
        return hci.StatusReturn(0)

    def bad_echo(self: General, command: hci.ReadRssi) -> hci.ReadRssiReturn:
        raise CommandError(Status.COMMAND_DISALLOWED, connection_handle="not a handle")

    monkeypatch.setattr(General, "read_bd_addr", broken)
    monkeypatch.setattr(General, "read_buffer_size", wrong_type)
    monkeypatch.setattr(General, "read_rssi", bad_echo)
    async with open_host(VirtualController(Air())) as host:
        assert await host.run(hci.ReadBdAddr()) == b"\x1f" + bytes(6)
        assert await host.run(hci.ReadBufferSize()) == b"\x1f" + bytes(7)
        assert await host.run(hci.ReadRssi(1)) == b"\x0c"
        assert (await host.run(hci.ReadLocalVersionInformation()))[:1] == b"\x00"


async def test_a_failed_command_echoes_what_it_named_and_zeros_the_rest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_host(VirtualController(Air())) as host:
        # Unknown Connection Identifier with the handle echoed (Vol 4 Part E 4.5).
        assert await host.run(hci.ReadRssi(0x0042)) == b"\x02\x42\x00\x00"
        # A page beyond the last: the page numbers echoed, the features zero.
        returned = await host.run(hci.ReadLocalExtendedFeatures(9))
        assert returned == b"\x12\x09\x02" + bytes(8)
