"""The vendor Write_BD_ADDR command (Zephyr's opcode 0xFC06) on the virtual controller."""

from __future__ import annotations

import functools

import trio
import trio.testing

from bluetrio.address import Address
from bluetrio.controller import Air, VirtualController
from bluetrio.controller.dispatch import COMMAND_TABLE
from bluetrio.controller.harness import RawHost, advertise, connect, open_host
from bluetrio.controller.server import serve_controllers
from bluetrio.messages import hci
from bluetrio.messages.packets import PacketType
from bluetrio.transports import open_transport
from bluetrio.transports.base import Transport
from bluetrio.transports.spec import TcpSpec

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


async def test_the_served_controller_lets_each_run_take_the_same_address() -> None:
    """Over the H4 server every client gets a fresh controller; Write_BD_ADDR gives a host
    its own address back at every run, so bonds made by one run hold for the next."""
    air = Air()
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(
            functools.partial(serve_controllers, TcpSpec("127.0.0.1", 0), air)
        )
        assert isinstance(bound, TcpSpec)
        for _run in range(2):
            with trio.fail_after(10):
                async with open_transport(bound) as transport:
                    assert await exchange(transport, hci.VendorWriteBdAddr(WANTED)) == b"\x00"
                    returned = await exchange(transport, hci.ReadBdAddr())
                    assert hci.ReadBdAddrReturn.from_bytes(returned).bd_addr == WANTED
                # The next run finds the address free once this client has left the air.
                while air.address_in_use(WANTED):
                    await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def exchange(transport: Transport, command: hci.HciCommand) -> bytes:
    """Send ``command`` over H4; its Command Complete return parameters."""
    await transport.send(PacketType.COMMAND, command.to_bytes())
    while True:
        packet_type, payload = await transport.receive()
        if packet_type == PacketType.EVENT:
            event = hci.parse_event(payload)
            if isinstance(event, hci.CommandComplete) and event.command_opcode == command.OPCODE:
                return event.return_parameters
