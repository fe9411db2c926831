"""ACL, SCO and ISO data packets (Core 5.4 Vol 4 Part E 5.4.2, 5.4.3, 5.4.5)."""

from __future__ import annotations

import pytest

from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages import hci


def test_acl_header_layout() -> None:
    packet = hci.AclPacket(
        handle=0x0040,
        packet_boundary=hci.PB_FIRST_FLUSHABLE,
        broadcast=0,
        data=b"\x03\x00\x04\x00\x0a",
    )
    data = packet.to_bytes()
    assert data == bytes.fromhex("4020 0500 0300040 00a".replace(" ", ""))
    assert hci.parse_acl(data) == packet


def test_acl_flags_are_split_from_the_handle() -> None:
    packet = hci.parse_acl(bytes.fromhex("ff5f 0000"))  # handle 0xFFF, PB 01, BC 01
    assert (packet.handle, packet.packet_boundary, packet.broadcast) == (0xFFF, 1, 1)
    assert packet.to_bytes() == bytes.fromhex("ff5f0000")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter than the 4-byte header"),
        (bytes.fromhex("402005"), "shorter than the 4-byte header"),
        (bytes.fromhex("40200500 0102"), "header says 5 data byte"),
        (bytes.fromhex("40200100 0102"), "packet carries 2"),
    ],
)
def test_acl_length_errors(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        hci.parse_acl(data)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ((0x1000, 0, 0, b""), "handle"),
        ((1, 4, 0, b""), "packet_boundary"),
        ((1, 0, -1, b""), "broadcast"),
        ((1, 0, 0, "text"), "bytes"),
        ((1, 0, 0, bytes(0x10000)), "65535"),
    ],
)
def test_acl_bad_arguments(fields: tuple[int, int, int, bytes], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        hci.AclPacket(*fields)


def test_sco_round_trip_and_errors() -> None:
    packet = hci.ScoPacket(handle=0x0101, packet_status=0b10, data=b"\x11" * 60)
    data = packet.to_bytes()
    assert data[:3] == bytes.fromhex("01213c")
    assert hci.parse_sco(data) == packet
    with pytest.raises(DecodeError, match="header says 60"):
        hci.parse_sco(data[:-1])
    with pytest.raises(DecodeError, match="3-byte header"):
        hci.parse_sco(b"\x01")
    with pytest.raises(InvalidArgumentError, match="255"):
        hci.ScoPacket(1, 0, bytes(256))


def test_iso_round_trip_and_errors() -> None:
    packet = hci.IsoPacket(handle=0x0060, packet_boundary=0b10, timestamp_flag=1, data=b"\x01" * 8)
    data = packet.to_bytes()
    assert data[:4] == bytes.fromhex("60600800")
    assert hci.parse_iso(data) == packet
    with pytest.raises(DecodeError, match="header says 8"):
        hci.parse_iso(data + b"\x00")
    with pytest.raises(InvalidArgumentError, match="timestamp_flag"):
        hci.IsoPacket(1, 0, 2, b"")
