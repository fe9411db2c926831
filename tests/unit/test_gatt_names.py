"""The SIG-assigned names of GATT UUIDs (Bluetooth Assigned Numbers 3.4-3.8), for display."""

from __future__ import annotations

import uuid

from bluetrio.gatt.names import ASSIGNED_NAMES, uuid_name
from bluetrio.messages.uuids import uuid16


def test_the_names_of_each_kind_of_uuid() -> None:
    assert uuid_name(uuid16(0x2800)) == "Primary Service"
    assert uuid_name(uuid16(0x2803)) == "Characteristic"
    assert uuid_name(uuid16(0x1800)) == "Generic Access"
    assert uuid_name(uuid16(0x180F)) == "Battery"
    assert uuid_name(uuid16(0x180A)) == "Device Information"
    assert uuid_name(uuid16(0x2902)) == "Client Characteristic Configuration"
    assert uuid_name(uuid16(0x2904)) == "Characteristic Presentation Format"
    assert uuid_name(uuid16(0x2A00)) == "Device Name"
    assert uuid_name(uuid16(0x2A05)) == "Service Changed"
    assert uuid_name(uuid16(0x2A19)) == "Battery Level"
    assert uuid_name(uuid16(0x2A37)) == "Heart Rate Measurement"
    assert uuid_name(uuid16(0x2A2B)) == "Current Time"
    assert uuid_name(uuid16(0x2A6E)) == "Temperature"
    assert uuid_name(uuid16(0x2A4D)) == "Report"
    assert uuid_name(uuid16(0x2B2A)) == "Database Hash"


def test_what_has_no_name() -> None:
    # Not assigned; a 32-bit value on the Base UUID; a vendor's 128-bit UUID.
    assert uuid_name(uuid16(0x2A0B)) is None
    assert uuid_name(uuid16(0x12345678)) is None
    assert uuid_name(uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")) is None


def test_the_table_holds_the_declarations_and_the_gap_and_gatt_services() -> None:
    for value in (0x2800, 0x2801, 0x2802, 0x2803, 0x1800, 0x1801, 0x2A00, 0x2A01, 0x2B29):
        assert value in ASSIGNED_NAMES
    assert all(0x1800 <= value <= 0x2BFF for value in ASSIGNED_NAMES)
    assert all(0x2900 <= value <= 0x2911 for value in ASSIGNED_NAMES if value >> 8 == 0x29)
    # A name is repeated only where the SIG gives a service and a characteristic the same one.
    repeated = {
        name for name in ASSIGNED_NAMES.values() if list(ASSIGNED_NAMES.values()).count(name) > 1
    }
    assert repeated == {"Current Time"}
    assert all(name and name == name.strip() for name in ASSIGNED_NAMES.values())
