"""H4 over a serial port, exercised through a pseudo-terminal pair."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from bluetrio.errors import TransportError
from bluetrio.messages.packets import PacketType
from bluetrio.transports.h4 import H4Role, encode
from bluetrio.transports.serial import open_serial_transport
from bluetrio.transports.spec import SerialSpec
from bluetrio.transports.stream import H4StreamTransport

RESET_COMPLETE = bytes.fromhex("0e0401030c00")
RESET_COMMAND = bytes.fromhex("030c00")
# Connection Complete: status 0, handle 0x0001, a peer address, ACL link, no encryption.
CONNECTION_COMPLETE = bytes.fromhex("030b000100665544332211" + "0100")


@pytest.fixture
async def serial_link() -> AsyncIterator[tuple[H4StreamTransport, trio.lowlevel.FdStream]]:
    """A host transport on the pty's terminal side; the test plays the controller on the other."""
    controller_fd, terminal_fd = os.openpty()
    transport = await open_serial_transport(SerialSpec(os.ttyname(terminal_fd), 115_200))
    os.close(terminal_fd)  # the transport opened its own descriptor
    controller_end = trio.lowlevel.FdStream(controller_fd)
    try:
        yield transport, controller_end
    finally:
        await transport.aclose()
        await controller_end.aclose()


async def read_exactly(stream: trio.abc.ReceiveStream, count: int) -> bytes:
    data = b""
    while len(data) < count:
        data += await stream.receive_some(count - len(data))
    return data


async def test_packets_cross_in_both_directions(
    serial_link: tuple[H4StreamTransport, trio.lowlevel.FdStream],
) -> None:
    transport, controller_end = serial_link
    acl = bytes.fromhex("0120c800") + bytes(range(200))
    await transport.send(PacketType.COMMAND, RESET_COMMAND)
    await transport.send(PacketType.ACL, acl)
    expected = encode(PacketType.COMMAND, RESET_COMMAND) + encode(PacketType.ACL, acl)
    assert await read_exactly(controller_end, len(expected)) == expected
    await controller_end.send_all(encode(PacketType.EVENT, RESET_COMPLETE))
    await controller_end.send_all(encode(PacketType.EVENT, CONNECTION_COMPLETE))
    await controller_end.send_all(encode(PacketType.ACL, acl))
    assert await transport.receive() == (PacketType.EVENT, RESET_COMPLETE)
    assert await transport.receive() == (PacketType.EVENT, CONNECTION_COMPLETE)
    assert await transport.receive() == (PacketType.ACL, acl)


async def test_chunked_writes_and_garbage_are_framed(
    serial_link: tuple[H4StreamTransport, trio.lowlevel.FdStream],
) -> None:
    transport, controller_end = serial_link
    wire = b"\x00\xfe" + encode(PacketType.EVENT, RESET_COMPLETE) + b"\x99"
    wire += encode(PacketType.EVENT, RESET_COMPLETE)
    for start in range(0, len(wire), 3):
        await controller_end.send_all(wire[start : start + 3])
        await trio.testing.wait_all_tasks_blocked()
    assert await transport.receive() == (PacketType.EVENT, RESET_COMPLETE)
    assert await transport.receive() == (PacketType.EVENT, RESET_COMPLETE)
    assert transport.discarded_bytes == 3


async def test_controller_hanging_up_raises_transport_error(
    serial_link: tuple[H4StreamTransport, trio.lowlevel.FdStream],
) -> None:
    transport, controller_end = serial_link
    await controller_end.send_all(encode(PacketType.EVENT, RESET_COMPLETE))
    assert await transport.receive() == (PacketType.EVENT, RESET_COMPLETE)
    await controller_end.aclose()
    with pytest.raises(TransportError, match="closed by peer"):
        await transport.receive()


async def test_closing_ends_a_blocked_receive(
    serial_link: tuple[H4StreamTransport, trio.lowlevel.FdStream],
) -> None:
    transport, _ = serial_link
    failures: list[TransportError] = []

    async def receive() -> None:
        with pytest.raises(TransportError) as caught:
            await transport.receive()
        failures.append(caught.value)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        await trio.testing.wait_all_tasks_blocked()
        await transport.aclose()
    assert "is closed" in str(failures[0])


async def test_missing_device_names_the_spec() -> None:
    with pytest.raises(TransportError, match=r"serial:/dev/no-such-tty,115200: cannot open"):
        await open_serial_transport(SerialSpec("/dev/no-such-tty", 115_200))


async def test_controller_side_role_parses_commands() -> None:
    controller_fd, terminal_fd = os.openpty()
    spec = SerialSpec(os.ttyname(terminal_fd), 1_000_000, rtscts=False)
    transport = await open_serial_transport(spec, role=H4Role.CONTROLLER)
    os.close(terminal_fd)
    host_end = trio.lowlevel.FdStream(controller_fd)
    async with transport, host_end:
        await host_end.send_all(encode(PacketType.COMMAND, RESET_COMMAND))
        assert await transport.receive() == (PacketType.COMMAND, RESET_COMMAND)
