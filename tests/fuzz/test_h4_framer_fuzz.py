"""Property tests of the H4 framer: chunking, garbage, and arbitrary input."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from bluetrio.address import Address
from bluetrio.messages import hci
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import Packet
from bluetrio.transports.h4 import H4Framer, H4Role, encode

MAX_ACL = 300


@st.composite
def host_bound_packets(draw: st.DrawFn) -> Packet:
    """A well-formed packet a controller may send to a host."""
    packet_type = draw(st.sampled_from([PacketType.EVENT, PacketType.ACL, PacketType.SCO]))
    if packet_type == PacketType.EVENT:
        code = draw(st.integers(1, 0xFF))
        body = draw(st.binary(max_size=255))
        return packet_type, bytes((code, len(body))) + body
    handle = draw(st.integers(0, 0xFFFF)).to_bytes(2, "little")
    if packet_type == PacketType.ACL:
        body = draw(st.binary(max_size=MAX_ACL))
        return packet_type, handle + len(body).to_bytes(2, "little") + body
    body = draw(st.binary(max_size=255))
    return packet_type, handle + bytes((len(body),)) + body


def wire_of(packets: list[Packet]) -> bytes:
    return b"".join(encode(packet_type, payload) for packet_type, payload in packets)


def feed_in_chunks(framer: H4Framer, data: bytes, cuts: list[int]) -> list[Packet]:
    packets: list[Packet] = []
    start = 0
    for cut in [*sorted({min(cut, len(data)) for cut in cuts}), len(data)]:
        packets += framer.feed(data[start:cut])
        start = cut
    return packets


@given(st.lists(host_bound_packets(), max_size=12), st.lists(st.integers(0, 6000), max_size=30))
def test_any_chunking_gives_the_same_packets(packets: list[Packet], cuts: list[int]) -> None:
    framer = H4Framer(H4Role.HOST, max_acl_data_length=MAX_ACL, validate=False)
    assert feed_in_chunks(framer, wire_of(packets), cuts) == packets
    assert framer.discarded_bytes == 0
    assert framer.buffered_bytes == 0


# Bytes that are not host-side indicators (0x02..0x05) are always skipped.
non_indicator_bytes = st.binary(max_size=64).map(
    lambda data: bytes(b for b in data if b not in (2, 3, 4, 5))
)


@given(non_indicator_bytes, st.lists(host_bound_packets(), min_size=1, max_size=6))
def test_garbage_prefix_is_skipped(garbage: bytes, packets: list[Packet]) -> None:
    framer = H4Framer(H4Role.HOST, max_acl_data_length=MAX_ACL, validate=False)
    assert framer.feed(garbage + wire_of(packets)) == packets
    assert framer.discarded_bytes == len(garbage)


@given(st.binary(min_size=1, max_size=8), st.lists(host_bound_packets(), max_size=4))
def test_impossible_acl_header_is_dropped(tail: bytes, packets: list[Packet]) -> None:
    # An ACL indicator whose length field exceeds the bound is noise; what follows
    # still frames once the noise (here only non-indicator bytes) has been skipped.
    noise = b"\x02\x00\x00\xff\xff" + bytes(b for b in tail if b not in (2, 3, 4, 5))
    framer = H4Framer(H4Role.HOST, max_acl_data_length=MAX_ACL, validate=False)
    assert framer.feed(noise + wire_of(packets)) == packets
    assert framer.discarded_bytes == len(noise)


@given(
    st.sampled_from(list(H4Role)),
    st.lists(st.binary(max_size=400), max_size=20),
)
def test_arbitrary_bytes_only_ever_return_packets(role: H4Role, chunks: list[bytes]) -> None:
    framer = H4Framer(role, max_acl_data_length=MAX_ACL, max_iso_data_length=MAX_ACL)
    total = 0
    framed = 0
    for chunk in chunks:
        total += len(chunk)
        for packet_type, payload in framer.feed(chunk):
            assert isinstance(packet_type, PacketType)
            framed += 1 + len(payload)
        # What stays buffered is one incomplete packet: less than indicator, header and body.
        assert framer.buffered_bytes < 1 + 4 + MAX_ACL
    # Every byte is accounted for: framed, skipped, or still waiting.
    assert framed + framer.discarded_bytes + framer.buffered_bytes == total


# -- the host-side checks: a real controller's stream, and one stray byte in it -----------

LE_HANDLE = 0x040
LE_CONNECTION_COMPLETE = hci.LeConnectionComplete(
    0, LE_HANDLE, 0, Address.parse("11:22:33:44:55:66"), 24, 0, 72, 0
).to_bytes()
# Events that change which handles exist are left to the unit tests.
LIFECYCLE_EVENTS = (hci.ConnectionComplete, hci.DisconnectionComplete, hci.CommandComplete)
EXAMPLE_EVENTS = [
    cls for cls in hci.EVENT_CLASSES.values() if cls.LAYOUT and cls not in LIFECYCLE_EVENTS
]


@st.composite
def controller_packets(draw: st.DrawFn) -> Packet:
    """A packet a real controller sends once LE_HANDLE is connected."""
    kind = draw(st.sampled_from(["acl", "complete", "event"]))
    if kind == "acl":
        body = draw(st.binary(max_size=251))
        header = (LE_HANDLE | 0x2000).to_bytes(2, "little") + len(body).to_bytes(2, "little")
        return PacketType.ACL, header + body
    if kind == "complete":
        opcode = draw(st.sampled_from([0x1009, 0x1005, 0x2002, 0x0C14]))
        returns = draw(st.binary(min_size=1, max_size=40))
        return PacketType.EVENT, hci.CommandComplete(1, opcode, returns).to_bytes()
    event_class = draw(st.sampled_from(EXAMPLE_EVENTS))
    return PacketType.EVENT, event_class.example(draw(st.integers(1, 200))).to_bytes()


def connected_stream(packets: list[Packet]) -> list[Packet]:
    return [(PacketType.EVENT, LE_CONNECTION_COMPLETE), *packets]


@given(st.lists(controller_packets(), max_size=12), st.lists(st.integers(0, 3000), max_size=20))
def test_checked_framing_takes_every_real_packet_however_chunked(
    packets: list[Packet], cuts: list[int]
) -> None:
    stream = connected_stream(packets)
    framer = H4Framer(H4Role.HOST)
    assert feed_in_chunks(framer, wire_of(stream), cuts) == stream
    assert framer.discarded_bytes == 0


# A stray byte corrupts the packet it lands before; the framer may lose a couple more while
# it finds the boundaries again, never the rest of the stream.
RESYNC_PACKETS = 3
EMPTY_LE_DATA: Packet = (PacketType.ACL, (LE_HANDLE | 0x2000).to_bytes(2, "little") + bytes(2))


def frame_then_quiet_line(framer: H4Framer, data: bytes) -> list[Packet]:
    """Frame a whole stream, then let the line go quiet: at the end of what arrived a framer
    cannot tell a packet still arriving from a header that was noise, so the transport
    rescans what it holds once no byte came for a while (``resync``), as often as needed."""
    framed = framer.feed(data)
    while framer.buffered_bytes:
        framed += framer.resync()
    return framed


# 0x04 then an ACL packet reads as HCI_Inquiry_Result of 0x40 bytes: with the packets after
# it exactly that long, nothing but its count (0x20 responses) shows it is noise.
@example(packets=[EMPTY_LE_DATA] * 4, at=0, stray=0x04)
@example(
    packets=[
        *[EMPTY_LE_DATA] * 5,
        (PacketType.ACL, EMPTY_LE_DATA[1][:2] + b"\x24\x00" + bytes(36)),
    ],
    at=0,
    stray=0x04,
)
# 0x04 before Hardware Error (04 10 01 90) reads as Connection Request of 16 octets, which
# ends one byte before the end of what arrived: taken at once, it swallowed every packet after.
@example(
    packets=[(PacketType.EVENT, b"\x10\x01\x90"), *[EMPTY_LE_DATA] * 3],
    at=0,
    stray=0x04,
)
@given(
    st.lists(controller_packets(), min_size=1, max_size=12),
    st.integers(0, 12),
    st.integers(0, 255),
)
def test_one_stray_byte_costs_at_most_a_few_packets(
    packets: list[Packet], at: int, stray: int
) -> None:
    stream = connected_stream(packets)
    at = 1 + at % len(packets)
    data = wire_of(stream[:at]) + bytes((stray,)) + wire_of(stream[at:])
    framed = frame_then_quiet_line(H4Framer(H4Role.HOST), data)
    assert framed[:at] == stream[:at]
    kept = stream[at + RESYNC_PACKETS :]
    assert framed[len(framed) - len(kept) :] == kept
