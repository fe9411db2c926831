"""The btsnoop writer and reader (datalink 1002, H4-framed records)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages import hci
from bluetrio.messages.packets import PacketType
from bluetrio.tracing.btsnoop import (
    EPOCH_OFFSET_US,
    BtsnoopRecord,
    BtsnoopWriter,
    read_btsnoop,
)

RESET = hci.Reset().to_bytes()
RESET_DONE = hci.CommandComplete(1, hci.Reset.OPCODE, b"\x00").to_bytes()
ACL = hci.AclPacket(0x40, 2, 0, b"\x01\x00\x04\x00\x0a").to_bytes()


def test_file_header_and_record_layout() -> None:
    buffer = io.BytesIO()
    with BtsnoopWriter(buffer) as writer:
        writer.write(PacketType.COMMAND, RESET, received=False, timestamp_us=1_700_000_000_000_000)
    data = buffer.getvalue()
    assert data[:16] == b"btsnoop\x00" + struct.pack(">II", 1, 1002)
    original, included, flags, drops, stamp = struct.unpack(">IIIIq", data[16:40])
    assert (original, included, flags, drops) == (4, 4, 0b10, 0)
    assert stamp == 1_700_000_000_000_000 + 0x00DCDDB30F2F8000
    assert data[40:] == b"\x01" + RESET
    assert not buffer.closed  # a caller's file stays open


@pytest.mark.parametrize(
    ("packet_type", "received", "flags"),
    [
        (PacketType.COMMAND, False, 0b10),
        (PacketType.EVENT, True, 0b11),
        (PacketType.ACL, False, 0b00),
        (PacketType.ACL, True, 0b01),
        (PacketType.SCO, True, 0b01),
        (PacketType.ISO, False, 0b00),
    ],
)
def test_flags(packet_type: PacketType, received: bool, flags: int) -> None:
    buffer = io.BytesIO()
    BtsnoopWriter(buffer).write(packet_type, b"\x00\x00\x00", received, timestamp_us=0)
    assert struct.unpack(">I", buffer.getvalue()[24:28])[0] == flags


def test_write_then_read_back(tmp_path: Path) -> None:
    path = tmp_path / "capture.btsnoop"
    with BtsnoopWriter(path) as writer:
        writer.write(PacketType.COMMAND, RESET, False, timestamp_us=10)
        writer.write(PacketType.EVENT, RESET_DONE, True, timestamp_us=20)
        writer.write(PacketType.ACL, ACL, True, timestamp_us=30)
    records = list(read_btsnoop(path))
    assert records == [
        BtsnoopRecord(PacketType.COMMAND, RESET, False, 10, 4, 0),
        BtsnoopRecord(PacketType.EVENT, RESET_DONE, True, 20, 7, 0),
        BtsnoopRecord(PacketType.ACL, ACL, True, 30, 10, 0),
    ]
    assert hci.parse_packet(records[1].packet_type, records[1].payload).status == 0


def test_default_timestamp_is_now(tmp_path: Path) -> None:
    path = tmp_path / "now.btsnoop"
    with BtsnoopWriter(str(path)) as writer:
        writer.write(PacketType.COMMAND, RESET, False)
    (record,) = read_btsnoop(path)
    # Any plausible wall-clock time after 2020 and before 2100.
    assert 1_577_836_800_000_000 < record.timestamp_us < 4_102_444_800_000_000


def test_writer_misuse_raises_invalid_argument() -> None:
    writer = BtsnoopWriter(io.BytesIO())
    with pytest.raises(InvalidArgumentError, match="packet type"):
        writer.write(7, b"", False)  # type: ignore[arg-type]
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(InvalidArgumentError, match="closed"):
        writer.write(PacketType.COMMAND, RESET, False)


def header(datalink: int = 1002, magic: bytes = b"btsnoop\x00", version: int = 1) -> bytes:
    return magic + struct.pack(">II", version, datalink)


def record(data: bytes, included: int | None = None) -> bytes:
    size = len(data) if included is None else included
    return struct.pack(">IIIIq", len(data), size, 0, 0, EPOCH_OFFSET_US) + data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"btsnoop", "file header truncated"),
        (header(magic=b"snoop\x00\x00\x00"), "bad magic"),
        (header(version=2), "version 2"),
        (header(datalink=1001), "datalink 1001"),
        (header() + record(b"\x01\x03\x0c\x00")[:20], "record 1 header truncated"),
        (header() + record(b"\x01\x03\x0c\x00")[:-1], "record 1 truncated"),
        (header() + record(b"", included=0), "impossible length 0"),
        (header() + record(b"\x01", included=0x7FFFFFFF), "impossible length"),
        (header() + record(b"\x09\x00"), "unknown H4 indicator 0x09"),
    ],
)
def test_malformed_captures_raise_decode_error(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        list(read_btsnoop(io.BytesIO(data)))
