"""Round trips and length checks for every class of the HCI codec, driven by its own tables."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages import hci
from bluetrio.messages.fields import (
    RemainingBytes,
)
from bluetrio.messages.packets import PacketType

COMMANDS = sorted(hci.COMMAND_CLASSES.values(), key=lambda cls: cls.OPCODE)
EVENTS = sorted(hci.EVENT_CLASSES.values(), key=lambda cls: cls.EVENT_CODE)
LE_EVENTS = sorted(hci.LE_EVENT_CLASSES.values(), key=lambda cls: cls.SUBEVENT_CODE)
RETURNS = sorted(set(hci.RETURN_CLASSES.values()), key=lambda cls: cls.__name__)
LAYOUT_PACKETS = [
    cls for cls in [*COMMANDS, *EVENTS, *LE_EVENTS] if cls is not hci.NumberOfCompletedPackets
]


def wire(packet: hci.HciCommand | hci.HciEvent) -> bytes:
    return packet.to_bytes()


def parse(data: bytes, kind: type) -> Any:
    if issubclass(kind, hci.HciCommand):
        return hci.parse_command(data)
    return hci.parse_event(data)


def header_size(kind: type) -> int:
    return 3 if issubclass(kind, hci.HciCommand) else 2


def with_parameters(kind: type, packet: Any, parameters: bytes) -> bytes:
    """The packet's header with a consistent length byte, followed by ``parameters``."""
    head = packet.to_bytes()[: header_size(kind) - 1]
    return head + bytes((len(parameters),)) + parameters


def trailing_rest_length(packet: Any) -> int:
    """Bytes at the end of the parameters that a trailing RemainingBytes field absorbs."""
    name, codec = packet.LAYOUT[-1] if packet.LAYOUT else ("", None)
    return len(getattr(packet, name)) if isinstance(codec, RemainingBytes) else -1


@pytest.mark.parametrize("kind", LAYOUT_PACKETS, ids=lambda cls: cls.__name__)
def test_every_packet_round_trips_through_the_parser(kind: type) -> None:
    packet = kind.example()
    data = wire(packet)
    assert data[header_size(kind) - 1] == len(data) - header_size(kind)
    decoded = parse(data, kind)
    assert type(decoded) is kind
    assert decoded == packet
    assert decoded.to_bytes() == data
    assert kind.from_parameters(packet.parameters()) == packet


@pytest.mark.parametrize("kind", RETURNS, ids=lambda cls: cls.__name__)
def test_every_return_parameter_class_round_trips(kind: type) -> None:
    returned = kind.example()
    assert kind.from_bytes(returned.to_bytes()) == returned
    opcodes = [code for code, cls in hci.RETURN_CLASSES.items() if cls is kind]
    event = hci.CommandComplete.for_return(opcodes[0], returned)
    assert hci.parse_event(event.to_bytes()).decode_return() == returned


@pytest.mark.parametrize("kind", LAYOUT_PACKETS, ids=lambda cls: cls.__name__)
def test_truncated_parameters_are_rejected(kind: type) -> None:
    packet = kind.example()
    parameters = packet.parameters()
    absorbed = trailing_rest_length(packet)
    for cut in range(len(parameters)):
        truncated = with_parameters(kind, packet, parameters[:cut])
        if cut >= len(parameters) - absorbed:
            assert parse(truncated, kind) != packet  # a shorter trailing blob, still valid
            continue
        with pytest.raises(DecodeError) as raised:
            parse(truncated, kind)
        assert kind.NAME in str(raised.value) or "subevent" in str(raised.value)


def extends_without_change(kind: type) -> bool:
    """Whether octets after the known parameters are ignored: events may gain parameters in a
    later specification (Vol 4 Part E 5.4.4), except those that are only counted records."""
    return issubclass(kind, hci.HciEvent) and not kind.EXACT_LENGTH


@pytest.mark.parametrize("kind", LAYOUT_PACKETS, ids=lambda cls: cls.__name__)
def test_trailing_bytes_and_bad_length_byte_are_judged(kind: type) -> None:
    packet = kind.example()
    data = wire(packet)
    if trailing_rest_length(packet) < 0:
        # from_parameters: a 255-byte packet cannot grow within the one-octet length.
        extended = packet.parameters() + b"\x00\x01"
        if extends_without_change(kind):
            assert kind.from_parameters(extended) == packet
            if len(extended) <= 255:
                assert parse(with_parameters(kind, packet, extended), kind) == packet
        else:
            with pytest.raises(DecodeError, match="unexpected byte"):
                kind.from_parameters(extended)
    with pytest.raises(DecodeError, match="header says"):
        parse(data + b"\x00", kind)  # length byte disagrees with the data
    with pytest.raises(DecodeError, match="header says"):
        parse(data[:-1], kind) if len(data) > header_size(kind) else parse(data + b"\x01", kind)


def test_an_event_a_later_specification_extended_decodes_and_a_short_one_does_not() -> None:
    known = hci.DisconnectionComplete(status=0, connection_handle=0x0040, reason=0x13)
    extended = known.to_bytes()[:1] + bytes((known.to_bytes()[1] + 3,)) + known.parameters()
    assert hci.parse_event(extended + b"\xaa\xbb\xcc") == known
    with pytest.raises(DecodeError, match="HCI_Disconnection_Complete"):
        hci.parse_event(b"\x05\x03" + known.parameters()[:3])


def test_return_parameters_a_later_specification_extended_decode() -> None:
    returned = hci.ReadBdAddrReturn.example()
    event = hci.CommandComplete(1, hci.ReadBdAddr.OPCODE, returned.to_bytes() + b"\x07")
    assert event.decode_return() == returned
    short = hci.CommandComplete(1, hci.ReadBdAddr.OPCODE, b"\x00" + returned.to_bytes()[1:6])
    with pytest.raises(DecodeError):
        short.decode_return()


def test_counted_records_must_be_as_long_as_their_count_says() -> None:
    # HCI_Inquiry_Result (7.7.2): the count gives the length, so a trailing octet is not an
    # extension but a lost packet boundary.
    assert hci.InquiryResult.EXACT_LENGTH
    packet = hci.InquiryResult.example()
    with pytest.raises(DecodeError, match="unexpected byte"):
        hci.InquiryResult.from_parameters(packet.parameters() + b"\x00")


def test_commands_still_refuse_trailing_bytes() -> None:
    with pytest.raises(DecodeError, match="unexpected byte"):
        hci.Reset.from_parameters(b"\x00")


def spec_words(name: str) -> str:
    # Event names carry "_v1"; class names drop it (the v1 class is the plain one).
    return re.sub(r"_v1$", "", name.removeprefix("HCI_")).replace("_", "").lower()


@pytest.mark.parametrize("kind", [*COMMANDS, *EVENTS, *LE_EVENTS], ids=lambda cls: cls.__name__)
def test_class_names_follow_the_spec_names(kind: type) -> None:
    assert kind.NAME.startswith("HCI_")
    assert spec_words(kind.NAME) == kind.__name__.lower()


def test_registries_agree_with_class_constants() -> None:
    for code, command in hci.COMMAND_CLASSES.items():
        assert code == command.OPCODE
        assert hci.command_class(code) is command
        assert (command.RETURN is None) == (code not in hci.RETURN_CLASSES)
    for code, event in hci.EVENT_CLASSES.items():
        assert code == event.EVENT_CODE and hci.event_class(code) is event
    for code, le_event in hci.LE_EVENT_CLASSES.items():
        assert le_event.EVENT_CODE == 0x3E and hci.event_class(0x3E, code) is le_event
    assert hci.command_class(0xFC00) is None
    assert hci.event_class(0xFF) is None
    assert hci.event_class(0x3E) is hci.LeMetaEvent


def test_opcode_helpers() -> None:
    assert hci.opcode(0x03, 0x0003) == 0x0C03 == hci.Reset.OPCODE
    assert hci.opcode(0x08, 0x0006) == 0x2006 == hci.LeSetAdvertisingParameters.OPCODE
    assert hci.opcode_group(0x2006) == 0x08 and hci.opcode_command(0x2006) == 0x06
    with pytest.raises(InvalidArgumentError, match="OGF"):
        hci.opcode(0x40, 1)
    with pytest.raises(InvalidArgumentError, match="OCF"):
        hci.opcode(1, 0x400)


def test_unknown_packets_are_kept_whole() -> None:
    vendor = bytes.fromhex("01fc03aabbcc")
    command = hci.parse_command(vendor)
    assert command == hci.UnknownCommand(0xFC01, b"\xaa\xbb\xcc")
    assert command.to_bytes() == vendor and "0xFC01" in command.name

    event_bytes = bytes.fromhex("ff020102")
    event = hci.parse_event(event_bytes)
    assert event == hci.UnknownEvent(0xFF, b"\x01\x02")
    assert event.to_bytes() == event_bytes

    le_bytes = bytes.fromhex("3e037f0102")
    le_event = hci.parse_event(le_bytes)
    assert le_event == hci.UnknownLeMetaEvent(0x7F, b"\x01\x02")
    assert le_event.to_bytes() == le_bytes


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter than"),
        (b"\x03\x0c", "shorter than"),
        (bytes.fromhex("030c01"), "header says 1"),
    ],
)
def test_command_header_errors(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        hci.parse_command(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x0e", "shorter than"),
        (bytes.fromhex("0e0501"), "header says 5"),
        (b"\x3e\x00", "no subevent"),
    ],
)
def test_event_header_errors(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        hci.parse_event(data)


def test_parse_packet_dispatches_on_packet_type() -> None:
    assert hci.parse_packet(PacketType.COMMAND, bytes.fromhex("030c00")) == hci.Reset()
    assert hci.parse_packet(PacketType.EVENT, bytes.fromhex("100101")) == hci.HardwareError(1)
    acl = hci.parse_packet(PacketType.ACL, bytes.fromhex("01200100ff"))
    assert acl == hci.AclPacket(0x001, 0b10, 0, b"\xff")
    with pytest.raises(DecodeError, match="unknown HCI packet type"):
        hci.parse_packet(9, b"")  # type: ignore[arg-type]
