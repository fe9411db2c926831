"""H4 framing: packet boundaries, resynchronisation after garbage, bounds, encoding."""

from __future__ import annotations

import pytest

from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import FramingLimits
from bluetrio.transports.h4 import H4Framer, H4Role, encode

RESET_COMPLETE = bytes.fromhex("0e0401030c00")  # Command Complete for HCI_Reset, status 0
ACL_HELLO = bytes.fromhex("01200500") + b"hello"  # handle 0x001, first flushable, 5 bytes
RESET_COMMAND = bytes.fromhex("030c00")
# Connection Complete: status 0, handle 0x0001, a peer address, ACL link, no encryption.
CONNECTION_COMPLETE = bytes.fromhex("030b000100665544332211" + "0100")


def test_host_framer_splits_events_and_acl() -> None:
    framer = H4Framer(H4Role.HOST)
    stream = b"".join(
        encode(PacketType.EVENT, event) for event in (RESET_COMPLETE, CONNECTION_COMPLETE)
    ) + encode(PacketType.ACL, ACL_HELLO)
    assert framer.feed(stream) == [
        (PacketType.EVENT, RESET_COMPLETE),
        (PacketType.EVENT, CONNECTION_COMPLETE),
        (PacketType.ACL, ACL_HELLO),
    ]
    assert framer.discarded_bytes == 0
    assert framer.buffered_bytes == 0


def test_sco_and_iso_lengths_come_from_their_own_headers() -> None:
    sco = bytes.fromhex("010003") + b"abc"
    # ISO length field 0x4003: the top two bits are RFU and must not count (Vol 4 Part E 5.4.5).
    iso = bytes.fromhex("01000340") + b"xyz"
    framer = H4Framer(H4Role.HOST, validate=False)
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
    assert framer.feed(bytes.fromhex("04ff00")) == [(PacketType.EVENT, bytes.fromhex("ff00"))]


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
    framer = H4Framer(max_acl_data_length=8, validate=False)
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
    framer = H4Framer(max_acl_data_length=100, validate=False)
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


# -- host-side header checks (what the host knows of the controller) --------------------

LE_CONNECTION_COMPLETE = bytes.fromhex("3e13" + "01" + "00" + "4000" + "00" + "00") + bytes(13)
DISCONNECTION_COMPLETE = bytes.fromhex("0504" + "00" + "4000" + "13")
LE_DATA = bytes.fromhex("40200300") + b"abc"  # handle 0x040, first automatically flushable


def wire(*packets: tuple[PacketType, bytes]) -> bytes:
    return b"".join(encode(packet_type, payload) for packet_type, payload in packets)


def test_one_stray_acl_indicator_costs_nothing_after_it() -> None:
    # 0x02 before a Command Complete reads as an ACL header for handle 0xE04: no such link.
    framer = H4Framer()
    events = [(PacketType.EVENT, RESET_COMPLETE)] * 3
    assert framer.feed(b"\x02" + wire(*events)) == events
    assert framer.discarded_bytes == 1
    assert framer.expectations is not None and framer.expectations.rejected_headers == 1


def test_a_stray_event_indicator_before_an_event_is_found_out() -> None:
    # 0x04 0x04 0x0E: Connection Request (0x04) of 14 bytes, 4 more than the 10 it has today.
    # A later specification may append parameters (Vol 4 Part E 5.4.4), so only a packet
    # indicator after those 14 bytes would make it real; as the line goes quiet without one,
    # the header is noise and the events behind it are framed again.
    framer = H4Framer()
    packets = [(PacketType.EVENT, RESET_COMPLETE), (PacketType.EVENT, RESET_COMPLETE)]
    assert framer.feed(b"\x04" + wire(*packets)) == []
    assert framer.resync() == packets
    assert framer.discarded_bytes == 1


def test_a_stray_event_indicator_with_a_length_below_the_known_parameters_is_noise() -> None:
    # 0x04 0x04 0x02: Connection Request (0x04) has at least 10 parameter bytes, never 2.
    framer = H4Framer()
    short = bytes.fromhex("0402") + bytes(2)
    packets = [(PacketType.EVENT, RESET_COMPLETE)]
    assert framer.feed(b"\x04" + short[:2] + wire(*packets)) == packets


def test_reserved_event_codes_are_noise() -> None:
    framer = H4Framer()
    assert framer.feed(bytes.fromhex("04 70 00".replace(" ", "")) + wire()) == []
    assert framer.discarded_bytes == 3


def test_acl_is_taken_only_for_handles_the_controller_announced() -> None:
    framer = H4Framer()
    assert framer.feed(wire((PacketType.ACL, LE_DATA))) == []
    # A connection-complete event in the same read announces the handle in time.
    packets = [(PacketType.EVENT, LE_CONNECTION_COMPLETE), (PacketType.ACL, LE_DATA)]
    assert framer.feed(wire(*packets)) == packets
    assert framer.expectations is not None and framer.expectations.acl_handles == {0x040}
    gone = [(PacketType.EVENT, DISCONNECTION_COMPLETE), (PacketType.ACL, LE_DATA)]
    assert framer.feed(wire(*gone)) == gone[:1]
    assert framer.expectations.acl_handles == frozenset()


def test_a_reset_forgets_every_handle() -> None:
    framer = H4Framer()
    framer.feed(wire((PacketType.EVENT, CONNECTION_COMPLETE)))
    assert framer.feed(wire((PacketType.EVENT, RESET_COMPLETE), (PacketType.ACL, ACL_HELLO))) == [
        (PacketType.EVENT, RESET_COMPLETE)
    ]


def test_acl_longer_than_the_learned_buffers_is_noise() -> None:
    framer = H4Framer()
    framer.feed(wire((PacketType.EVENT, LE_CONNECTION_COMPLETE)))
    framer.configure(FramingLimits(bredr_acl_data_length=27, le_acl_data_length=27))
    # One LE payload (251 bytes) always fits, whatever the controller's own buffers.
    fits = bytes.fromhex("4020fb00") + bytes(251)
    assert framer.feed(wire((PacketType.ACL, fits))) == [(PacketType.ACL, fits)]
    too_long = bytes.fromhex("4020fc00") + bytes(252)
    assert framer.feed(wire((PacketType.ACL, too_long))) == []


def test_iso_data_is_taken_only_once_iso_is_enabled() -> None:
    iso = bytes.fromhex("01000300") + b"xyz"
    framer = H4Framer()
    assert framer.feed(wire((PacketType.ISO, iso))) == []
    framer.configure(FramingLimits(iso_enabled=True))
    assert framer.feed(wire((PacketType.ISO, iso))) == [(PacketType.ISO, iso)]


def test_sco_is_taken_only_for_synchronous_links() -> None:
    sco = bytes.fromhex("010003") + b"abc"
    framer = H4Framer()
    assert framer.feed(wire((PacketType.SCO, sco))) == []
    sco_link = CONNECTION_COMPLETE[:11] + b"\x00\x00"  # Link_Type 0x00: SCO
    packets = [(PacketType.EVENT, sco_link), (PacketType.SCO, sco)]
    assert framer.feed(wire(*packets)) == packets


def test_a_variable_length_event_followed_by_noise_is_rescanned() -> None:
    # 0x04 0x0E 0x04 claims a Command Complete of 4 bytes; neither of the two bytes after it
    # is a packet indicator, so the claim is refused and the real event found.
    framer = H4Framer()
    misframed = bytes.fromhex("040e04") + RESET_COMPLETE
    packets = framer.feed(misframed + wire((PacketType.EVENT, RESET_COMPLETE)))
    assert (PacketType.EVENT, bytes.fromhex("0e04") + RESET_COMPLETE[:4]) not in packets
    assert packets[-1] == (PacketType.EVENT, RESET_COMPLETE)


def test_a_stray_event_indicator_before_acl_is_not_an_inquiry_result() -> None:
    # 0x04 0x02 0x40 reads as HCI_Inquiry_Result (7.7.2) of 64 bytes; its first parameter
    # (0x20 responses of 14 bytes) needs 449, so the header is noise and no ACL packet is
    # swallowed, even with more traffic after them.
    framer = H4Framer()
    framer.feed(wire((PacketType.EVENT, LE_CONNECTION_COMPLETE)))
    empty = (PacketType.ACL, bytes.fromhex("40200000"))
    packets = [empty] * 4 + [(PacketType.EVENT, RESET_COMPLETE)] * 12
    assert framer.feed(b"\x04" + wire(*packets)) == packets
    assert framer.discarded_bytes == 1


def test_an_inquiry_result_of_the_length_its_count_gives_is_taken() -> None:
    one_response = bytes.fromhex("020f01") + bytes(14)
    framer = H4Framer()
    assert framer.feed(b"\x04" + one_response[:2]) == []  # the count is not there yet
    assert framer.feed(one_response[2:]) == [(PacketType.EVENT, one_response)]


def test_an_event_a_later_specification_extended_is_framed_when_a_packet_follows() -> None:
    # HCI_Disconnection_Complete (7.7.5) with two octets appended, as a later version may
    # send (Vol 4 Part E 5.4.4): longer than its known four, it is taken once the next packet
    # indicator shows where it ends.
    extended = bytes.fromhex("0506") + bytes.fromhex("0040001300") + b"\xaa"
    framer = H4Framer()
    packets = [(PacketType.EVENT, extended), (PacketType.EVENT, RESET_COMPLETE)]
    assert framer.feed(wire(*packets)) == packets
    assert framer.discarded_bytes == 0


def test_acl_up_to_the_length_the_host_announced_is_taken() -> None:
    # A controller sizes what it sends by Host_Buffer_Size (Core 5.4 Vol 4 Part E 7.3.39),
    # not by its own buffers: Bumble's sends a whole 2052-octet PDU in one packet.
    framer = H4Framer()
    framer.feed(wire((PacketType.EVENT, CONNECTION_COMPLETE)))
    framer.configure(FramingLimits(bredr_acl_data_length=1021))
    long = ACL_HELLO[:2] + (2052).to_bytes(2, "little") + bytes(2052)
    assert framer.feed(wire((PacketType.ACL, long))) == []
    framer = H4Framer()
    framer.feed(wire((PacketType.EVENT, CONNECTION_COMPLETE)))
    framer.configure(FramingLimits(bredr_acl_data_length=1021, host_acl_data_length=4096))
    assert framer.feed(wire((PacketType.ACL, long))) == [(PacketType.ACL, long)]
    too_long = ACL_HELLO[:2] + (4097).to_bytes(2, "little") + bytes(4097)
    assert framer.feed(wire((PacketType.ACL, too_long))) == []
