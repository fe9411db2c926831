"""Property tests of the HCI codec and btsnoop reader: arbitrary input never escapes as
anything but a packet or DecodeError, and valid values of every class round-trip."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrio.address import Address, AddressType
from bluetrio.errors import DecodeError
from bluetrio.messages import hci
from bluetrio.messages.fields import (
    Constant,
    DeviceAddress,
    FieldCodec,
    FixedBytes,
    LengthPrefixedBytes,
    PaddedString,
    RecordList,
    RemainingBytes,
    SInt8,
    TypedAddress,
    UInt,
    WireStruct,
)
from bluetrio.messages.packets import PacketType
from bluetrio.tracing.btsnoop import read_btsnoop

COMMAND_CODES = sorted(hci.COMMAND_CLASSES)
EVENT_CODES = sorted(hci.EVENT_CLASSES)
LE_CODES = sorted(hci.LE_EVENT_CLASSES)
PACKET_CLASSES: list[type[hci.HciCommand] | type[hci.HciEvent]] = [
    *hci.COMMAND_CLASSES.values(),
    *hci.EVENT_CLASSES.values(),
    *hci.LE_EVENT_CLASSES.values(),
]
LAYOUT_CLASSES: list[type[WireStruct]] = [
    *hci.COMMAND_CLASSES.values(),
    *(cls for cls in hci.EVENT_CLASSES.values() if cls is not hci.NumberOfCompletedPackets),
    *hci.LE_EVENT_CLASSES.values(),
    *set(hci.RETURN_CLASSES.values()),
]


def parse_or_reject(packet_type: PacketType, data: bytes) -> Any:
    """Parse; a decoded packet must re-encode and re-parse to itself."""
    try:
        packet = hci.parse_packet(packet_type, data)
    except DecodeError:
        return None
    assert hci.parse_packet(packet_type, packet.to_bytes()) == packet
    if isinstance(packet, hci.CommandComplete):
        with contextlib.suppress(DecodeError):
            packet.decode_return()
    return packet


@given(st.sampled_from(list(PacketType)), st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_decode_error(packet_type: PacketType, data: bytes) -> None:
    parse_or_reject(packet_type, data)


@st.composite
def framed_commands(draw: st.DrawFn) -> bytes:
    """A known opcode with a consistent length byte, so the parameter decoders are reached."""
    body = draw(st.binary(max_size=255))
    return draw(st.sampled_from(COMMAND_CODES)).to_bytes(2, "little") + bytes((len(body),)) + body


@st.composite
def framed_events(draw: st.DrawFn) -> bytes:
    body = draw(st.binary(max_size=254))
    if draw(st.booleans()):
        body = bytes((draw(st.sampled_from(LE_CODES)),)) + body
        return bytes((0x3E, len(body))) + body
    code = draw(st.sampled_from(EVENT_CODES))
    if code == 0x0E and draw(st.booleans()):  # Command Complete for a known opcode
        body = b"\x01" + draw(st.sampled_from(COMMAND_CODES)).to_bytes(2, "little") + body[:252]
    return bytes((code, len(body))) + body


@settings(max_examples=300)
@given(framed_commands())
def test_framed_commands_parse_or_raise(data: bytes) -> None:
    parse_or_reject(PacketType.COMMAND, data)


@settings(max_examples=300)
@given(framed_events())
def test_framed_events_parse_or_raise(data: bytes) -> None:
    parse_or_reject(PacketType.EVENT, data)


@settings(max_examples=300)
@given(st.sampled_from(PACKET_CLASSES), st.data())
def test_mutated_valid_packets_parse_or_raise(kind: type, data: st.DataObject) -> None:
    packet_type = PacketType.COMMAND if issubclass(kind, hci.HciCommand) else PacketType.EVENT
    example = kind.example() if kind is not hci.NumberOfCompletedPackets else kind(((1, 2),))
    wire = bytearray(example.to_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(wire) - 1))
        wire[position] = data.draw(st.integers(0, 255))
    parse_or_reject(packet_type, bytes(wire))


def strategy_for(codec: FieldCodec[Any], fields: dict[str, object]) -> st.SearchStrategy[Any]:
    if isinstance(codec, Constant):
        return st.just(codec.value)
    if isinstance(codec, UInt):
        return st.integers(0, codec.limit - 1)
    if isinstance(codec, SInt8):
        return st.integers(-128, 127)
    if isinstance(codec, FixedBytes):
        return st.binary(min_size=codec.size, max_size=codec.size)
    if isinstance(codec, RemainingBytes):
        return st.binary(max_size=40)
    if isinstance(codec, LengthPrefixedBytes):
        return st.binary(max_size=codec.max_length)
    if isinstance(codec, PaddedString):
        text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
        return text.filter(lambda value: len(value.encode()) <= codec.size)
    if isinstance(codec, DeviceAddress):
        return st.binary(min_size=6, max_size=6).map(lambda raw: Address(raw, codec.address_type))
    if isinstance(codec, TypedAddress):
        return st.builds(Address, st.binary(min_size=6, max_size=6), st.sampled_from(AddressType))
    assert isinstance(codec, RecordList), codec
    count = codec._expected_count(fields)
    records = st.lists(instances(codec.record), max_size=3)
    if count is not None:
        records = st.lists(instances(codec.record), min_size=count, max_size=count)
    return records.map(tuple)


@st.composite
def instances(draw: st.DrawFn, kind: type[WireStruct]) -> Any:
    values: dict[str, object] = {}
    for name, codec in kind.LAYOUT:
        values[name] = draw(strategy_for(codec, values))
    return kind(**values)


@settings(max_examples=400)
@given(st.sampled_from(LAYOUT_CLASSES).flatmap(instances))
def test_random_valid_instances_round_trip(value: Any) -> None:
    if isinstance(value, hci.ReturnParameters):
        assert type(value).from_bytes(value.to_bytes()) == value
        return
    parameters = value.parameters()
    if len(parameters) > 255:  # several long records may not fit in one packet
        return
    packet_type = PacketType.COMMAND if isinstance(value, hci.HciCommand) else PacketType.EVENT
    assert hci.parse_packet(packet_type, value.to_bytes()) == value


@given(st.lists(st.tuples(st.integers(0, 0xFFF), st.integers(0, 0xFFFF)), max_size=63))
def test_number_of_completed_packets_round_trips(entries: list[tuple[int, int]]) -> None:
    event = hci.NumberOfCompletedPackets(tuple(entries))
    assert hci.parse_event(event.to_bytes()) == event


@given(st.binary(max_size=200))
def test_btsnoop_reader_on_arbitrary_bytes(data: bytes) -> None:
    header = b"btsnoop\x00\x00\x00\x00\x01\x00\x00\x03\xea"
    with contextlib.suppress(DecodeError):
        list(read_btsnoop(io.BytesIO(header + data)))
