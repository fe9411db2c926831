"""A whole stack against a controller that misbehaves at the HCI level (fault injection on
the host's transport): each case ends in a typed error for the caller, never a stopped or
hung stack."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from bluetrio.actors.faults import FaultPolicy
from bluetrio.controller import VirtualController, default_air
from bluetrio.errors import HciError, HciTimeout
from bluetrio.messages import hci
from bluetrio.messages.packets import PacketType
from bluetrio.stack import open_stack
from bluetrio.testing.packets import command_complete_for, with_command_credits
from bluetrio.transports.h4 import H4Role
from bluetrio.transports.stream import H4StreamTransport


async def test_a_short_buffer_size_completion_fails_the_command_not_the_stack(
    autojump_clock: trio.testing.MockClock,
) -> None:
    faults = FaultPolicy()
    opcode = hci.ReadBufferSize.OPCODE
    short = (PacketType.EVENT, bytes((0x0E, 5, 1)) + opcode.to_bytes(2, "little") + b"\x00\x1b")
    faults.replace_packet(
        command_complete_for(opcode),
        lambda packet: short,
        direction="to_host",
        times=1,
    )
    async with open_stack("virtual", faults=faults) as stack:
        with pytest.raises(HciError, match="malformed return parameters"):
            await stack.command(hci.ReadBufferSize())
        assert (await stack.command(hci.ReadBdAddr())).status == 0
        assert (await stack.command(hci.ReadBufferSize())).status == 0


async def test_zero_command_credits_time_out_the_caller_and_then_recover(
    autojump_clock: trio.testing.MockClock,
) -> None:
    faults = FaultPolicy()

    faults.replace_packet(
        command_complete_for(hci.Reset.OPCODE),
        with_command_credits(0),
        direction="to_host",
        times=1,
    )
    async with open_stack("virtual", faults=faults, command_timeout=2.0) as stack:
        await stack.command(hci.Reset())
        with pytest.raises(HciTimeout, match="command credit"):
            await stack.command(hci.ReadBdAddr(), timeout=1.0)
        # After one command timeout without a credit the host sends again.
        with trio.fail_after(10):
            assert (await stack.command(hci.ReadBdAddr())).status == 0


class StrayByteOnce(trio.abc.SendStream):
    """A UART toward the host that adds one byte in front of the next write when armed."""

    def __init__(self, inner: trio.abc.SendStream) -> None:
        self.inner = inner
        self.stray: bytes | None = None

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.stray is not None:
            data, self.stray = self.stray + bytes(data), None
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_one_stray_byte_on_the_uart_costs_at_most_one_command(
    autojump_clock: trio.testing.MockClock,
) -> None:
    host_stream, controller_stream = trio.testing.memory_stream_pair()
    uart = StrayByteOnce(controller_stream.send_stream)
    controller_end = H4StreamTransport(
        trio.StapledStream(uart, controller_stream.receive_stream), role=H4Role.CONTROLLER
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(VirtualController(default_air("stray")).serve, controller_end)
        host_end = H4StreamTransport(host_stream, description="UART")
        async with open_stack(host_end, bring_up=True, command_timeout=1.0) as stack:
            uart.stray = b"\x02"  # an ACL indicator in front of the next Command Complete
            timeouts = 0
            for _ in range(25):
                try:
                    await stack.command(hci.ReadBdAddr())
                except HciTimeout:
                    timeouts += 1
            assert timeouts <= 1
            assert host_end.discarded_bytes >= 1
        nursery.cancel_scope.cancel()
