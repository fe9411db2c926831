"""The vendor Write_BD_ADDR command (Zephyr's opcode 0xFC06) on the virtual controller."""

from __future__ import annotations

import trio
import trio.testing

from bluetrio.address import Address
from bluetrio.controller import Air, VirtualController
from bluetrio.controller.dispatch import COMMAND_TABLE
from bluetrio.controller.harness import RawHost, advertise, connect, open_host
from bluetrio.messages import hci

WANTED = Address.parse("C0:FF:EE:00:00:01")


async def read_bd_addr(host: RawHost) -> Address:
    returned = await host.run(hci.ReadBdAddr())
    return hci.ReadBdAddrReturn.from_bytes(returned).bd_addr


async def test_write_bd_addr_sets_the_public_address_and_survives_reset(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_host(VirtualController(Air())) as host:
        assert await host.run(hci.VendorWriteBdAddr(WANTED)) == b"\x00"
        assert await read_bd_addr(host) == WANTED
        assert await host.run(hci.Reset()) == b"\x00"
        assert await read_bd_addr(host) == WANTED


async def test_write_bd_addr_is_handled_but_not_claimed_in_supported_commands(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Vendor commands have no bit in Supported_Commands (Core 5.4 Vol 4 Part E 6.27).
    assert hci.VendorWriteBdAddr.OPCODE in COMMAND_TABLE
    assert hci.VendorWriteBdAddr.OPCODE not in hci.SUPPORTED_COMMAND_BITS
    async with open_host(VirtualController(Air())) as host:
        returned = hci.ReadLocalSupportedCommandsReturn.from_bytes(
            await host.run(hci.ReadLocalSupportedCommands())
        )
    assert returned.status == 0
    claimed = [op for op in COMMAND_TABLE if op in hci.SUPPORTED_COMMAND_BITS]
    assert returned.supported_commands == hci.supported_commands_bitmap(claimed)


async def test_write_bd_addr_is_disallowed_while_advertising_scanning_or_connected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    air = Air()
    async with (
        open_host(VirtualController(air)) as first,
        open_host(VirtualController(air)) as second,
    ):
        for host in (first, second):
            assert await host.run(hci.SetEventMask(0x3FFF_FFFF_FFFF_FFFF)) == b"\x00"
        await advertise(first)
        assert await first.run(hci.VendorWriteBdAddr(WANTED)) == b"\x0c"
        assert await first.run(hci.LeSetAdvertisingEnable(0)) == b"\x00"
        assert await first.run(hci.LeSetScanEnable(1, 0)) == b"\x00"
        assert await first.run(hci.VendorWriteBdAddr(WANTED)) == b"\x0c"
        assert await first.run(hci.LeSetScanEnable(0, 0)) == b"\x00"
        await connect(first, second)
        assert await first.run(hci.VendorWriteBdAddr(WANTED)) == b"\x0c"
        assert await second.run(hci.VendorWriteBdAddr(WANTED)) == b"\x0c"
        assert await read_bd_addr(first) != WANTED


async def test_a_second_run_on_the_same_air_keeps_the_identity(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A served controller is new for every client; the host's own address comes back."""
    air = Air()
    async with open_host(VirtualController(air)) as first_run:
        assert await first_run.run(hci.VendorWriteBdAddr(WANTED)) == b"\x00"
        async with open_host(VirtualController(air)) as other:
            # While the first run holds it, nobody else on the air can take it.
            assert await other.run(hci.VendorWriteBdAddr(WANTED)) == b"\x12"
    async with open_host(VirtualController(air)) as second_run:
        assert await read_bd_addr(second_run) != WANTED
        assert await second_run.run(hci.VendorWriteBdAddr(WANTED)) == b"\x00"
        assert await read_bd_addr(second_run) == WANTED
