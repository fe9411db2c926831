"""open_transport: specs to transports, connection errors, and the packet tap."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import trio

from bluetrio.errors import TransportError, TransportSpecError
from bluetrio.messages.packets import PacketType
from bluetrio.transports import TappedTransport, open_transport
from bluetrio.transports.base import Packet, Transport
from bluetrio.transports.socket import serve_h4
from bluetrio.transports.spec import UnixSpec
from bluetrio.transports.tap import tapped
from bluetrio.transports.virtual import transport_pair

RESET_COMMAND = bytes.fromhex("030c00")
RESET_COMPLETE = bytes.fromhex("0e0401030c00")


async def echo(transport: Transport) -> None:
    """Sends each command back as an event with the command's bytes as parameters."""
    while True:
        _, payload = await transport.receive()
        await transport.send(PacketType.EVENT, bytes((0xFF, len(payload))) + payload)


@attrs.define
class RecordingTap:
    """Drops vendor commands, duplicates resets, rewrites events 0xFF to 0xFE."""

    seen: list[tuple[str, Packet]] = attrs.field(factory=list)

    def on_host_to_controller(self, packet: Packet) -> list[Packet]:
        self.seen.append(("out", packet))
        if packet[1][1] & 0xFC == 0xFC:  # OGF 0x3F: vendor specific
            return []
        if packet[1] == RESET_COMMAND:
            return [packet, packet]
        return [packet]

    def on_controller_to_host(self, packet: Packet) -> list[Packet]:
        self.seen.append(("in", packet))
        packet_type, payload = packet
        return [(packet_type, b"\xfe" + payload[1:])]


async def test_unix_spec_string_opens_an_h4_transport(tmp_path: Path) -> None:
    path = tmp_path / "controller"
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_h4, UnixSpec(str(path)), echo)
        async with open_transport(f"unix:{path}") as transport:
            await transport.send(PacketType.COMMAND, RESET_COMMAND)
            assert await transport.receive() == (PacketType.EVENT, b"\xff\x03" + RESET_COMMAND)
        nursery.cancel_scope.cancel()


async def test_tap_drops_duplicates_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "controller"
    tap = RecordingTap()
    vendor_command = bytes.fromhex("01fc00")
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_h4, UnixSpec(str(path)), echo)
        async with open_transport(UnixSpec(str(path)), tap=tap) as transport:
            assert isinstance(transport, TappedTransport)
            await transport.send(PacketType.COMMAND, vendor_command)
            await transport.send(PacketType.COMMAND, RESET_COMMAND)
            rewritten = (PacketType.EVENT, b"\xfe\x03" + RESET_COMMAND)
            assert await transport.receive() == rewritten
            assert await transport.receive() == rewritten
        nursery.cancel_scope.cancel()
    assert [direction for direction, _ in tap.seen] == ["out", "out", "in", "in"]
    assert tap.seen[0] == ("out", (PacketType.COMMAND, vendor_command))


async def test_tap_that_drops_everything_makes_receive_wait_for_more() -> None:
    class DropFirstEvent:
        dropped = False

        def on_host_to_controller(self, packet: Packet) -> list[Packet]:
            return [packet]

        def on_controller_to_host(self, packet: Packet) -> list[Packet]:
            if not self.dropped:
                self.dropped = True
                return []
            return [packet]

    host, controller = transport_pair()
    transport = tapped(host, DropFirstEvent())
    await controller.send(PacketType.EVENT, b"\x01\x00")
    await controller.send(PacketType.EVENT, b"\x02\x00")
    assert await transport.receive() == (PacketType.EVENT, b"\x02\x00")
    await transport.aclose()
    with pytest.raises(TransportError):
        await controller.receive()


def test_no_tap_costs_nothing() -> None:
    host, _ = transport_pair()
    assert tapped(host, None) is host


async def test_connection_errors_name_the_spec(tmp_path: Path) -> None:
    missing = tmp_path / "absent.sock"
    with pytest.raises(TransportError, match=f"unix:{missing}"):
        async with open_transport(f"unix:{missing}"):
            pass
    with pytest.raises(TransportError, match="serial:/dev/bluetrio-none"):
        async with open_transport("serial:/dev/bluetrio-none"):
            pass


async def test_bad_spec_is_refused_before_anything_opens() -> None:
    with pytest.raises(TransportSpecError, match="accepted forms"):
        async with open_transport("bluetooth0"):
            pass
