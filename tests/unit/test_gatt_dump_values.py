"""How ``bluetrio gatt-dump`` shows values, UUIDs and properties."""

from __future__ import annotations

import uuid

from bluetrio.cli.gatt_values import properties_label, uuid_label, value_lines
from bluetrio.messages.uuids import uuid16

NAMES = {uuid16(0x180F): "Battery"}


def test_a_short_value_is_one_line_of_hex_and_text() -> None:
    assert value_lines(b"bluetrio\x00\x7f") == ["62 6c 75 65 74 72 69 6f 00 7f  |bluetrio..|"]


def test_an_empty_value_says_so() -> None:
    assert value_lines(b"") == ["(empty)"]


def test_a_long_value_is_shown_in_full_by_offset() -> None:
    value = bytes(range(0x30, 0x30 + 40))
    lines = value_lines(value)
    assert lines[0] == "(40 octets)"
    assert lines[1] == "0000  30 31 32 33 34 35 36 37 38 39 3a 3b 3c 3d 3e 3f  |0123456789:;<=>?|"
    assert lines[3].startswith("0020  50 51 52 53 54 55 56 57  ")
    assert lines[3].endswith("  |PQRSTUVW|")
    # Every line's text column starts at the same place.
    assert len({line.index("|") for line in lines[1:]}) == 1
    hex_octets = "".join(line[6:53].replace(" ", "") for line in lines[1:])
    assert bytes.fromhex(hex_octets) == value


def test_a_value_of_exactly_one_line_has_no_header() -> None:
    assert len(value_lines(bytes(16))) == 1
    assert len(value_lines(bytes(17))) == 3


def test_uuids_in_short_form_with_their_names() -> None:
    assert uuid_label(uuid16(0x180F), NAMES.get) == "0x180F Battery"
    assert uuid_label(uuid16(0x2A19), NAMES.get) == "0x2A19"
    assert uuid_label(uuid.UUID(int=(0x12345678 << 96) | uuid16(0).int), NAMES.get) == "0x12345678"
    custom = uuid.UUID("7a1e0001-6a5c-4b8e-9f3d-1c2b3a4d5e6f")
    assert uuid_label(custom, NAMES.get) == "7a1e0001-6a5c-4b8e-9f3d-1c2b3a4d5e6f"


def test_properties_by_name_in_bit_order() -> None:
    assert properties_label(0x12) == "read, notify"
    assert properties_label(0xFF).split(", ")[0] == "broadcast"
    assert properties_label(0xFF).split(", ")[-1] == "extended-properties"
    assert properties_label(0) == "none"
