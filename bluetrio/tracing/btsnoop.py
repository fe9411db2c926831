"""btsnoop capture files of HCI traffic, as Wireshark and btmon read them.

Format (RFC 1761 "snoop" with Bluetooth datalinks, as documented by Wireshark and BlueZ):
a 16-byte header (``b"btsnoop\\0"``, version 1, datalink type), then one record per packet:
original length, included length, flags, cumulative drops (all big-endian u32) and a
big-endian i64 timestamp in microseconds since midnight, January 1st of year 0.

We write datalink 1002 (HCI UART/H4): each record's data starts with the H4 packet indicator
(Core 5.4 Vol 4 Part A 2), so commands, events, ACL, SCO and ISO share one file. Flags bit 0
is set for packets received by the host (controller to host); bit 1 is set for commands and
events, clear for data packets.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO

import attrs

from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.packets import PacketType

MAGIC = b"btsnoop\x00"
VERSION = 1
DATALINK_H4 = 1002
# Microseconds between 0000-01-01 and the Unix epoch, as used by every btsnoop producer.
EPOCH_OFFSET_US = 0x00DCDDB30F2F8000

FLAG_RECEIVED = 0x01
FLAG_COMMAND_OR_EVENT = 0x02

# The largest record we accept when reading: an H4 indicator plus the largest HCI packet
# (ACL: 4-byte header and up to 65535 data octets).
MAX_RECORD_LENGTH = 1 + 4 + 0xFFFF

_FILE_HEADER = struct.Struct(">8sII")
_RECORD_HEADER = struct.Struct(">IIIIq")
_CONTROL_TYPES = frozenset({PacketType.COMMAND, PacketType.EVENT})


def _flags(packet_type: PacketType, received: bool) -> int:
    control = FLAG_COMMAND_OR_EVENT if packet_type in _CONTROL_TYPES else 0
    return control | (FLAG_RECEIVED if received else 0)


# The four possible flag values, precomputed so a write is one dict lookup.
_FLAG_TABLE = {
    (packet_type, received): _flags(packet_type, received)
    for packet_type in PacketType
    for received in (False, True)
}


class BtsnoopWriter:
    """Appends HCI packets to a btsnoop (datalink 1002) capture.

    ``target`` is a path (the file is created or truncated, and closed by :meth:`close`) or an
    open binary file (left open; :meth:`close` only flushes it). Each :meth:`write` costs one
    ``struct.pack`` and one buffered write.
    """

    def __init__(self, target: str | os.PathLike[str] | BinaryIO) -> None:
        if isinstance(target, str | os.PathLike):
            try:
                self._file: BinaryIO = open(target, "wb")  # noqa: SIM115 - closed by close()
            except OSError as error:
                raise InvalidArgumentError(
                    f"cannot write the btsnoop file {os.fspath(target)!r}: {error.strerror}"
                ) from None
            self._owns_file = True
        else:
            self._file = target
            self._owns_file = False
        self._closed = False
        self._file.write(_FILE_HEADER.pack(MAGIC, VERSION, DATALINK_H4))

    def write(
        self,
        packet_type: PacketType,
        payload: bytes,
        received: bool,
        timestamp_us: int | None = None,
    ) -> None:
        """Record one packet (``payload`` without its H4 indicator).

        ``received`` is True for controller-to-host packets. ``timestamp_us`` is in
        microseconds since the Unix epoch; it defaults to now.
        """
        if self._closed:
            raise InvalidArgumentError("btsnoop writer is closed")
        flags = _FLAG_TABLE.get((packet_type, bool(received)))
        if flags is None:
            raise InvalidArgumentError(f"not an HCI packet type: {packet_type!r}")
        if timestamp_us is None:
            timestamp_us = time.time_ns() // 1000
        length = len(payload) + 1
        self._file.write(
            _RECORD_HEADER.pack(length, length, flags, 0, timestamp_us + EPOCH_OFFSET_US)
            + bytes((packet_type,))
            + payload
        )

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._file.flush()
        if self._owns_file:
            self._file.close()

    def __enter__(self) -> BtsnoopWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@attrs.frozen
class BtsnoopRecord:
    """One packet read back from a capture."""

    packet_type: PacketType
    payload: bytes  # without the H4 indicator
    received: bool
    timestamp_us: int  # microseconds since the Unix epoch
    original_length: int
    cumulative_drops: int


def _read_exactly(file: BinaryIO, size: int, what: str) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise DecodeError(f"btsnoop: {what} truncated ({len(data)} of {size} bytes)")
    return data


def _records(file: BinaryIO) -> Iterator[BtsnoopRecord]:
    magic, version, datalink = _FILE_HEADER.unpack(_read_exactly(file, 16, "file header"))
    if magic != MAGIC:
        raise DecodeError(f"btsnoop: bad magic {magic!r}, not a btsnoop file")
    if version != VERSION:
        raise DecodeError(f"btsnoop: version {version} is not supported (only 1)")
    if datalink != DATALINK_H4:
        raise DecodeError(f"btsnoop: datalink {datalink} is not supported (only {DATALINK_H4})")
    index = 0
    while header := file.read(_RECORD_HEADER.size):
        index += 1
        if len(header) != _RECORD_HEADER.size:
            raise DecodeError(f"btsnoop: record {index} header truncated")
        original, included, flags, drops, timestamp = _RECORD_HEADER.unpack(header)
        if not 1 <= included <= MAX_RECORD_LENGTH:
            raise DecodeError(f"btsnoop: record {index} has an impossible length {included}")
        data = _read_exactly(file, included, f"record {index}")
        try:
            packet_type = PacketType(data[0])
        except ValueError:
            raise DecodeError(
                f"btsnoop: record {index} has unknown H4 indicator 0x{data[0]:02X}"
            ) from None
        yield BtsnoopRecord(
            packet_type=packet_type,
            payload=data[1:],
            received=bool(flags & FLAG_RECEIVED),
            timestamp_us=timestamp - EPOCH_OFFSET_US,
            original_length=original,
            cumulative_drops=drops,
        )


def read_btsnoop(source: str | os.PathLike[str] | BinaryIO) -> Iterator[BtsnoopRecord]:
    """Iterate over the records of a datalink-1002 btsnoop capture.

    Malformed files raise :class:`~bluetrio.errors.DecodeError` naming the bad record.
    """
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as file:
            yield from _records(file)
    else:
        yield from _records(source)
