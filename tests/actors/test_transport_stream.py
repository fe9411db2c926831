"""H4StreamTransport over in-memory streams: framing, garbage, EOF, close, cancellation."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from bluetrio.errors import TransportError
from bluetrio.messages.packets import PacketType
from bluetrio.transports.h4 import H4Role, encode
from bluetrio.transports.stream import STALLED_PACKET_TIME, H4StreamTransport

RESET_COMPLETE = bytes.fromhex("0e0401030c00")
RESET_COMMAND = bytes.fromhex("030c00")


def host_transport() -> tuple[
    H4StreamTransport, trio.testing.MemorySendStream, trio.testing.MemoryReceiveStream
]:
    """A host transport whose far end is a raw byte stream the test drives."""
    to_host, from_wire = trio.testing.memory_stream_one_way_pair()
    to_wire, from_host = trio.testing.memory_stream_one_way_pair()
    stream = trio.StapledStream(to_wire, from_wire)
    return H4StreamTransport(stream, description="test link"), to_host, from_host


async def test_host_and_controller_exchange_packets() -> None:
    host_stream, controller_stream = trio.testing.memory_stream_pair()
    host = H4StreamTransport(host_stream)
    controller = H4StreamTransport(controller_stream, role=H4Role.CONTROLLER)
    await host.send(PacketType.COMMAND, RESET_COMMAND)
    assert await controller.receive() == (PacketType.COMMAND, RESET_COMMAND)
    await controller.send(PacketType.EVENT, RESET_COMPLETE)
    assert await host.receive() == (PacketType.EVENT, RESET_COMPLETE)
    acl = bytes.fromhex("01200300") + b"abc"
    await host.send(PacketType.ACL, acl)
    assert await controller.receive() == (PacketType.ACL, acl)


async def test_bytes_arriving_one_at_a_time_give_whole_packets() -> None:
    transport, to_host, _ = host_transport()
    wire = encode(PacketType.EVENT, RESET_COMPLETE) * 3

    async def trickle() -> None:
        for index in range(len(wire)):
            await to_host.send_all(wire[index : index + 1])
            await trio.testing.wait_all_tasks_blocked()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trickle)
        for _ in range(3):
            assert await transport.receive() == (PacketType.EVENT, RESET_COMPLETE)


async def test_garbage_is_skipped_and_counted() -> None:
    transport, to_host, _ = host_transport()
    await to_host.send_all(b"\xff\x00" + encode(PacketType.EVENT, RESET_COMPLETE))
    assert await transport.receive() == (PacketType.EVENT, RESET_COMPLETE)
    assert transport.discarded_bytes == 2


async def test_end_of_stream_raises_after_delivering_what_arrived() -> None:
    transport, to_host, _ = host_transport()
    await to_host.send_all(encode(PacketType.EVENT, RESET_COMPLETE) * 2)
    await to_host.aclose()
    assert await transport.receive() == (PacketType.EVENT, RESET_COMPLETE)
    assert await transport.receive() == (PacketType.EVENT, RESET_COMPLETE)
    with pytest.raises(TransportError, match="test link closed by peer"):
        await transport.receive()
    with pytest.raises(TransportError, match="closed by peer"):
        await transport.receive()
    with pytest.raises(TransportError, match="closed by peer"):
        await transport.send(PacketType.COMMAND, RESET_COMMAND)


async def test_send_to_a_peer_that_went_away_raises() -> None:
    host_stream, controller_stream = trio.testing.memory_stream_pair()
    host = H4StreamTransport(host_stream, description="test link")
    await controller_stream.aclose()
    # The in-memory stream breaks on the pump after the receiving side closed.
    with pytest.raises(TransportError, match="closed"):
        for _ in range(3):
            await host.send(PacketType.COMMAND, RESET_COMMAND)


async def test_close_ends_a_blocked_receive_promptly() -> None:
    host_stream, _controller_stream = trio.testing.memory_stream_pair()
    host = H4StreamTransport(host_stream, description="test link")
    with trio.fail_after(1):  # bounded, never reached: close acts at once
        async with trio.open_nursery() as nursery:

            async def receive_expecting_close() -> None:
                with pytest.raises(TransportError, match="test link is closed"):
                    await host.receive()

            nursery.start_soon(receive_expecting_close)
            await trio.testing.wait_all_tasks_blocked()
            await host.aclose()
    await host.aclose()  # idempotent
    with pytest.raises(TransportError, match="is closed"):
        await host.send(PacketType.COMMAND, RESET_COMMAND)


async def test_cancelled_receive_loses_nothing() -> None:
    transport, to_host, _ = host_transport()
    wire = encode(PacketType.EVENT, RESET_COMPLETE)
    await to_host.send_all(wire[:3])
    with trio.move_on_after(0) as scope:
        await transport.receive()
    assert scope.cancelled_caught
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(transport.receive)
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
    await to_host.send_all(wire[3:] + wire)
    assert await transport.receive() == (PacketType.EVENT, RESET_COMPLETE)
    assert await transport.receive() == (PacketType.EVENT, RESET_COMPLETE)


async def test_concurrent_senders_never_interleave_packets() -> None:
    transport, _, from_host = host_transport()
    payloads = [bytes((n, 0x20, 100, 0)) + bytes([n]) * 100 for n in range(20)]
    async with trio.open_nursery() as nursery:
        for payload in payloads:
            nursery.start_soon(transport.send, PacketType.ACL, payload)
    wire = b""
    while len(wire) < 105 * len(payloads):
        wire += await from_host.receive_some()
    assert sorted(wire[i : i + 105] for i in range(0, len(wire), 105)) == sorted(
        encode(PacketType.ACL, payload) for payload in payloads
    )


async def test_a_cancelled_send_poisons_later_sends() -> None:
    to_wire, _from_host = trio.testing.lockstep_stream_one_way_pair()
    _to_host, from_wire = trio.testing.memory_stream_one_way_pair()
    transport = H4StreamTransport(trio.StapledStream(to_wire, from_wire), description="link")
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            # Nobody reads the lockstep stream, so the send blocks inside send_all.
            nursery.start_soon(transport.send, PacketType.COMMAND, RESET_COMMAND)
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
    with pytest.raises(TransportError, match="partial packet"):
        await transport.send(PacketType.COMMAND, RESET_COMMAND)


async def test_a_partial_packet_on_a_quiet_line_is_rescanned(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A header for a live link (handle 0x001) announcing 16 bytes, from noise: the Command
    # Complete after it would wait inside that packet for bytes that never come.
    transport, to_host, _ = host_transport()
    connected = bytes.fromhex("030b000100665544332211" + "0100")
    await to_host.send_all(encode(PacketType.EVENT, connected))
    assert await transport.receive() == (PacketType.EVENT, connected)
    await to_host.send_all(bytes.fromhex("0201201000") + encode(PacketType.EVENT, RESET_COMPLETE))
    with trio.fail_after(STALLED_PACKET_TIME * 2):
        assert await transport.receive() == (PacketType.EVENT, RESET_COMPLETE)
    assert transport.discarded_bytes >= 1
