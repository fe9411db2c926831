"""How ``bluetrio gatt-dump`` shows what it read: values as hex with their printable text
(every octet, however long), UUIDs in their short form with the SIG's name, characteristic
properties by name."""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Callable

from bluetrio.messages.gatt_declarations import Properties
from bluetrio.messages.uuids import short_form

OCTETS_PER_LINE = 16


def printable(value: bytes) -> str:
    """The octets as text: printable ASCII as itself, anything else as a dot."""
    return "".join(chr(octet) if 0x20 <= octet < 0x7F else "." for octet in value)


def value_lines(value: bytes) -> list[str]:
    """``value`` in full: one line when it fits in :data:`OCTETS_PER_LINE` octets, else
    lines of that many, each headed by its offset; hex, then the printable text."""
    if not value:
        return ["(empty)"]
    if len(value) <= OCTETS_PER_LINE:
        return [f"{value.hex(' ')}  |{printable(value)}|"]
    width = OCTETS_PER_LINE * 3 - 1
    lines = [f"({len(value)} octets)"]
    for offset in range(0, len(value), OCTETS_PER_LINE):
        part = value[offset : offset + OCTETS_PER_LINE]
        lines.append(f"{offset:04x}  {part.hex(' '):<{width}}  |{printable(part)}|")
    return lines


def uuid_label(uuid: uuid_module.UUID, name_of: Callable[[uuid_module.UUID], str | None]) -> str:
    """``0x180F Battery``: a UUID on the Base UUID in its 16- or 32-bit form, any other in
    full, with its SIG-assigned name when it has one."""
    short = short_form(uuid)
    digits = 4 if short is not None and short <= 0xFFFF else 8
    text = str(uuid) if short is None else f"0x{short:0{digits}X}"
    name = name_of(uuid)
    return f"{text} {name}" if name else text


def properties_label(properties: int) -> str:
    """``read, notify``: the names of the Characteristic Properties bits set (Core 5.4 Vol 3
    Part G 3.3.1.1), in bit order."""
    flags = [flag for flag in Properties if properties & flag]
    names = [(flag.name or "").lower().replace("_", "-") for flag in flags]
    return ", ".join(names) if names else "none"
