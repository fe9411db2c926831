"""In-process transport pairs, and the virtual controller behind open_transport("virtual")."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from bluetrio.errors import InvalidArgumentError, TransportError
from bluetrio.messages.packets import PacketType
from bluetrio.transports import open_transport
from bluetrio.transports.base import Packet
from bluetrio.transports.virtual import transport_pair

RESET_COMMAND = bytes.fromhex("030c00")


async def test_packets_cross_in_order_both_ways() -> None:
    host, controller = transport_pair()
    sent: list[Packet] = [(PacketType.ACL, bytes([n]) * 4) for n in range(50)]
    async with trio.open_nursery() as nursery:

        async def send_all() -> None:
            for packet in sent:
                await host.send(*packet)

        nursery.start_soon(send_all)
        assert [await controller.receive() for _ in sent] == sent
    await controller.send(PacketType.EVENT, b"\x0e\x00")
    assert await host.receive() == (PacketType.EVENT, b"\x0e\x00")


async def test_a_stuck_receiver_applies_backpressure() -> None:
    host, controller = transport_pair(capacity=4)
    sent = 0

    async def flood() -> None:
        nonlocal sent
        while True:
            await host.send(PacketType.ACL, b"x")
            sent += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(flood)
        await trio.testing.wait_all_tasks_blocked()
        assert sent == 4  # the fifth send waits for the controller to receive
        await controller.receive()
        await trio.testing.wait_all_tasks_blocked()
        assert sent == 5
        nursery.cancel_scope.cancel()


async def test_closing_one_side_fails_the_other() -> None:
    host, controller = transport_pair()
    await controller.send(PacketType.EVENT, b"\x0e\x00")
    await controller.aclose()
    # What was already sent is still delivered, then the closure is reported.
    assert await host.receive() == (PacketType.EVENT, b"\x0e\x00")
    with pytest.raises(TransportError, match=r"\(host side\) closed by peer"):
        await host.receive()
    with pytest.raises(TransportError, match="closed by peer"):
        await host.send(PacketType.COMMAND, RESET_COMMAND)
    with pytest.raises(TransportError, match=r"\(controller side\) is closed"):
        await controller.receive()
    await controller.aclose()  # idempotent


async def test_closing_wakes_a_receive_blocked_on_either_side() -> None:
    host, controller = transport_pair()
    errors: list[str] = []

    async def receive(transport: object) -> None:
        with pytest.raises(TransportError) as caught:
            await transport.receive()  # type: ignore[attr-defined]
        errors.append(str(caught.value))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive, host)
        nursery.start_soon(receive, controller)
        await trio.testing.wait_all_tasks_blocked()
        await host.aclose()
    assert sorted(errors) == [
        "virtual transport (controller side) closed by peer",
        "virtual transport (host side) is closed",
    ]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(InvalidArgumentError, match="positive number of packets"):
        transport_pair(0)


async def test_virtual_spec_answers_reset_with_command_complete() -> None:
    async with open_transport("virtual") as transport:
        await transport.send(PacketType.COMMAND, RESET_COMMAND)
        packet_type, event = await transport.receive()
    assert packet_type == PacketType.EVENT
    # Command Complete (0x0E): Num_HCI_Command_Packets, opcode 0x0C03, status 0x00.
    assert event[0] == 0x0E
    assert event[3:6] == bytes.fromhex("030c00")


async def test_named_air_works_and_the_callers_error_is_not_wrapped() -> None:
    with pytest.raises(KeyError):
        async with open_transport("virtual:lab") as transport:
            await transport.send(PacketType.COMMAND, RESET_COMMAND)
            await transport.receive()
            raise KeyError("raised by the caller")


async def test_what_the_user_raises_in_a_stack_pair_leaves_bare() -> None:
    from bluetrio.testing import open_stack_pair

    with pytest.raises(LookupError):
        async with open_stack_pair(bring_up=False):
            raise LookupError("the test's own")
