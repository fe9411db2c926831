"""H4 framing: packet boundaries, resynchronisation after garbage, bounds, encoding."""

from __future__ import annotations

import pytest

from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.packets import PacketType
from bluetrio.transports.h4 import H4Framer, H4Role, encode

RESET_COMPLETE = bytes.fromhex("0e0401030c00")  # Command Complete for HCI_Reset, status 0
ACL_HELLO = bytes.fromhex("01200500") + b"hello"  # handle 0x001, first flushable, 5 bytes
RESET_COMMAND = bytes.fromhex("030c00")


def test_host_framer_splits_events_and_acl() -> None:
    framer = H4Framer(H4Role.HOST)
    stream = encode(PacketType.EVENT, RESET_COMPLETE) + encode(PacketType.ACL, ACL_HELLO)
    assert framer.feed(stream) == [(PacketType.EVENT, RESET_COMPLETE), (PacketType.ACL, ACL_HELLO)]
    assert framer.discarded_bytes == 0
    assert framer.buffered_bytes == 0


def test_sco_and_iso_lengths_come_from_their_own_headers() -> None:
    sco = bytes.fromhex("010003") + b"abc"
    # ISO length field 0x4003: the top two bits are RFU and must not count (Vol 4 Part E 5.4.5).
    iso = bytes.fromhex("01000340") + b"xyz"
    framer = H4Framer(H4Role.HOST)
    assert framer.feed(encode(PacketType.SCO, sco) + encode(PacketType.ISO, iso)) == [
        (PacketType.SCO, sco),
        (PacketType.ISO, iso),
    ]


def test_partial_packet_waits_for_the_rest() -> None:
    framer = H4Framer()
    data = encode(PacketType.EVENT, RESET_COMPLETE)
    assert framer.feed(data[:1]) == []
    assert framer.feed(data[1:4]) == []
    assert framer.buffered_bytes == 4
    assert framer.feed(data[4:]) == [(PacketType.EVENT, RESET_COMPLETE)]
    assert framer.buffered_bytes == 0


def test_zero_length_packets_are_complete_after_the_header() -> None:
    framer = H4Framer()
    assert framer.feed(bytes.fromhex("040500")) == [(PacketType.EVENT, bytes.fromhex("0500"))]


def test_unknown_indicator_bytes_are_skipped_and_counted() -> None:
    framer = H4Framer()
    packets = framer.feed(b"\x00\xff\x77" + encode(PacketType.EVENT, RESET_COMPLETE))
    assert packets == [(PacketType.EVENT, RESET_COMPLETE)]
    assert framer.discarded_bytes == 3


def test_impossible_acl_length_drops_only_the_indicator() -> None:
    framer = H4Framer(max_acl_data_length=1021)
    # 0x02 followed by a header announcing 0xFFFF bytes: noise, not an ACL packet.
    garbage = bytes.fromhex("02 0100 ffff".replace(" ", ""))
    packets = framer.feed(garbage + encode(PacketType.EVENT, RESET_COMPLETE))
    assert packets == [(PacketType.EVENT, RESET_COMPLETE)]
    assert framer.discarded_bytes == len(garbage)


def test_acl_at_the_bound_is_accepted() -> None:
    framer = H4Framer(max_acl_data_length=8)
    acl = bytes.fromhex("01200800") + bytes(8)
    assert framer.feed(encode(PacketType.ACL, acl)) == [(PacketType.ACL, acl)]
    too_long = bytes.fromhex("01200900") + bytes(9)
    framer.feed(encode(PacketType.ACL, too_long))
    assert framer.discarded_bytes > 0


def test_host_skips_commands_and_controller_skips_events() -> None:
    # Bytes chosen so that none inside the foreign packet looks like an indicator the
    # framer expects (a real stray packet may contain some: H4 cannot tell).
    read_bd_addr = bytes.fromhex("091000")
    vendor_event = bytes.fromhex("ff00")
    command_then_event = encode(PacketType.COMMAND, read_bd_addr) + encode(
        PacketType.EVENT, vendor_event
    )
    event_then_command = encode(PacketType.EVENT, vendor_event) + encode(
        PacketType.COMMAND, read_bd_addr
    )
    host = H4Framer(H4Role.HOST)
    controller = H4Framer(H4Role.CONTROLLER)
    assert host.feed(command_then_event) == [(PacketType.EVENT, vendor_event)]
    assert controller.feed(event_then_command) == [(PacketType.COMMAND, read_bd_addr)]
    assert host.discarded_bytes == 4
    assert controller.discarded_bytes == 3


def test_buffer_holds_at_most_one_bounded_packet() -> None:
    framer = H4Framer(max_acl_data_length=100)
    acl = bytes.fromhex("01206400") + bytes(100)
    wire = encode(PacketType.ACL, acl)
    assert framer.feed(wire[:-1]) == []
    assert framer.buffered_bytes == len(wire) - 1
    assert framer.feed(wire[-1:]) == [(PacketType.ACL, acl)]
    assert framer.buffered_bytes == 0


def test_encode_prefixes_the_indicator() -> None:
    assert encode(PacketType.COMMAND, RESET_COMMAND) == b"\x01" + RESET_COMMAND
    assert encode(PacketType.ISO, memoryview(b"ab")) == b"\x05ab"


@pytest.mark.parametrize("bad_type", [0, 6, "event", None])
def test_encode_refuses_unknown_packet_types(bad_type: object) -> None:
    with pytest.raises(InvalidArgumentError, match="not an HCI packet type"):
        encode(bad_type, b"")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [{"max_acl_data_length": -1}, {"max_acl_data_length": 70000}, {"max_iso_data_length": 1 << 14}],
)
def test_bounds_outside_the_field_range_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(InvalidArgumentError, match="must be an integer from 0"):
        H4Framer(**options)  # type: ignore[arg-type]


def test_role_must_be_an_h4_role() -> None:
    with pytest.raises(InvalidArgumentError, match="H4Role"):
        H4Framer("host")  # type: ignore[arg-type]
