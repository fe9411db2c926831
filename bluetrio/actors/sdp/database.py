"""The SDP server's record database (Core 5.4 Vol 3 Part B 2.2, 2.5, 5.2).

Records get ServiceRecordHandles from 0x00010000 up (0x00000000 is the server's own record,
0x00000001-0x0000FFFF are reserved, 2.2). The server's record carries
ServiceDatabaseState, which changes whenever a record is added or removed (5.2.2), so a
client that cached handles knows to search again. Each record's UUIDs are gathered once, in
their 128-bit forms, so a pattern of 16, 32 and 128-bit UUIDs matches through the Base UUID.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Iterable

from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.sdp import AttributeRange, sequence_header
from bluetrio.messages.sdp_records import AttributeId, ServiceRecord, sdp_server_record

SERVER_RECORD_HANDLE = 0x00000000
FIRST_RECORD_HANDLE = 0x00010000
# Records one server holds (the server's own included): a bound on what registrations can
# make it keep, far beyond any device's few dozen.
MAX_RECORDS = 256


class RecordDatabase:
    def __init__(self) -> None:
        self.state = 0
        self._records: dict[int, ServiceRecord] = {}
        self._uuids: dict[int, frozenset[uuid_module.UUID]] = {}
        self.owners: dict[int, str] = {}
        self._next_handle = FIRST_RECORD_HANDLE
        self._store(SERVER_RECORD_HANDLE, sdp_server_record(self.state))

    def _store(self, handle: int, record: ServiceRecord) -> None:
        record = record.with_handle(handle)
        record.element()  # the whole record must fit one data element (InvalidArgumentError)
        self._records[handle] = record
        self._uuids[handle] = record.uuids()

    def _changed(self) -> None:
        self.state = (self.state + 1) & 0xFFFFFFFF
        self._store(SERVER_RECORD_HANDLE, sdp_server_record(self.state))

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, handle: object) -> bool:
        return handle in self._records

    def record(self, handle: int) -> ServiceRecord | None:
        return self._records.get(handle)

    def add(self, record: ServiceRecord, owner: str) -> int:
        """Store ``record`` under a new handle; InvalidArgumentError when the database is full
        or the record does not fit one data element."""
        if len(self._records) >= MAX_RECORDS:
            raise InvalidArgumentError(f"the SDP database holds at most {MAX_RECORDS} records")
        handle = self._next_handle
        while handle in self._records:  # after wrapping around, skip handles in use
            handle = FIRST_RECORD_HANDLE + (handle + 1 - FIRST_RECORD_HANDLE) % (
                0x1_0000_0000 - FIRST_RECORD_HANDLE
            )
        self._store(handle, record)
        self.owners[handle] = owner
        self._next_handle = FIRST_RECORD_HANDLE + (handle + 1 - FIRST_RECORD_HANDLE) % (
            0x1_0000_0000 - FIRST_RECORD_HANDLE
        )
        self._changed()
        return handle

    def remove(self, handle: int, owner: str) -> str | None:
        """Remove the record at ``handle``; why not, when ``owner`` did not register it."""
        if self.owners.get(handle) != owner:
            return f"no record 0x{handle:08X} registered by {owner}"
        del self._records[handle], self._uuids[handle], self.owners[handle]
        self._changed()
        return None

    def search(self, pattern: Iterable[uuid_module.UUID]) -> list[int]:
        """Handles of the records that contain every UUID of ``pattern`` (2.5.2)."""
        wanted = frozenset(pattern)
        return [handle for handle, uuids in self._uuids.items() if wanted <= uuids]

    def selected(self, handle: int, ranges: Iterable[AttributeRange]) -> ServiceRecord:
        """Record ``handle`` with only the attributes in ``ranges`` (4.6.2: the attribute
        list holds those the record has, in ascending ID order)."""
        record = self._records[handle]
        spans = tuple(ranges)
        return ServiceRecord(
            tuple(
                (attribute_id, value)
                for attribute_id, value in record.attributes
                if any(attribute_id in span for span in spans)
            )
        )


def attribute_lists(parts: Iterable[bytes]) -> bytes:
    """The sequence of attribute lists of a ServiceSearchAttributeResponse (4.7.2)."""
    body = b"".join(parts)
    return sequence_header(len(body)) + body


__all__ = ["AttributeId", "RecordDatabase", "attribute_lists"]
