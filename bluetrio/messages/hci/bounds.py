"""How long each event's parameters may be, from the codec's own layouts.

A receiver that has lost packet boundaries (a stray byte on a UART) needs to tell a real
event header from noise before it trusts the header's length (Core 5.4 Vol 4 Part A 3 leaves
recovery to the host). An event whose every parameter has a fixed size can only have one
Parameter_Total_Length the codec knows, but a later specification may append parameters, which
a host ignores (Core 5.4 Vol 4 Part E 5.4.4): so the known length is the one to trust at once,
and a longer one only when the next packet indicator follows it. Any event is at least as long
as its fixed-size parameters; an event that is only a count and that many fixed-size records
has exactly one length per count. These are the lengths the codec accepts (it refuses short
events, and trailing bytes only after counted records), so a header refused here is one the
codec would have refused as well.
"""

from __future__ import annotations

import attrs

from bluetrio.messages.fields import (
    MAX_PARAMETER_LENGTH,
    DeviceAddress,
    FieldCodec,
    FixedBytes,
    Layout,
    PaddedString,
    RecordList,
    SInt8,
    TypedAddress,
    UInt,
    counted_records_only,
)
from bluetrio.messages.hci.base import EVENT_CLASSES, LE_EVENT_CLASSES, LE_META_EVENT_CODE

# Event codes defined by Core 5.4 Vol 4 Part E 7.7 run from 0x01 to 0x59 (HCI_Encryption_
# Change [v2]); 0xFF is for vendor events. The others are reserved: a host never unmasks
# them, so a controller does not send them.
LAST_DEFINED_EVENT_CODE = 0x59
VENDOR_EVENT_CODE = 0xFF
# LE Meta subevent 0x00 is unused (Vol 4 Part E 7.7.65) and the subevents defined so far stay
# below 0x40; the host unmasks only the ones it handles (7.8.1).
LAST_DEFINED_LE_SUBEVENT = 0x3F


@attrs.frozen
class Bounds:
    """The Parameter_Total_Length an event may have."""

    shortest: int
    longest: int
    #: The length of the parameters the codec knows when every one has a fixed size; a
    #: longer event carries parameters of a later specification.
    known: int | None = None


ANY_LENGTH = Bounds(0, MAX_PARAMETER_LENGTH)


def _fixed_size(codec: FieldCodec[object]) -> int | None:
    if isinstance(codec, UInt | FixedBytes | PaddedString):
        return codec.size
    if isinstance(codec, SInt8):
        return 1
    if isinstance(codec, DeviceAddress):
        return 6
    if isinstance(codec, TypedAddress):
        return 7
    return None


def fixed_layout_size(layout: Layout) -> int | None:
    """The size of a layout whose every field has a fixed size, else None."""
    sizes = [_fixed_size(codec) for _, codec in layout]
    if any(size is None for size in sizes):
        return None
    return sum(size for size in sizes if size is not None)


def layout_bounds(layout: Layout, prefix: int = 0) -> Bounds:
    """The shortest and longest parameters a layout decodes from (``prefix`` bytes before
    the fields, e.g. an LE subevent code)."""
    sizes = [_fixed_size(codec) for _, codec in layout]
    fixed = prefix + sum(size for size in sizes if size is not None)
    known = fixed if all(size is not None for size in sizes) else None
    return Bounds(fixed, MAX_PARAMETER_LENGTH, known)


def _event_bounds() -> dict[int, Bounds]:
    bounds = {}
    for code, cls in EVENT_CLASSES.items():
        bounds[code] = layout_bounds(cls.LAYOUT) if cls.LAYOUT else ANY_LENGTH
    bounds[LE_META_EVENT_CODE] = Bounds(1, MAX_PARAMETER_LENGTH)
    return bounds


EVENT_PARAMETER_BOUNDS: dict[int, Bounds] = _event_bounds()
LE_SUBEVENT_PARAMETER_BOUNDS: dict[int, Bounds] = {
    code: layout_bounds(cls.LAYOUT, prefix=1) for code, cls in LE_EVENT_CLASSES.items()
}


def _record_sizes() -> dict[int, int]:
    # An event whose parameters are nothing but a count octet and that many fixed-size records
    # (HCI_Inquiry_Result 7.7.2, HCI_Number_Of_Completed_Packets 7.7.19...) has exactly one
    # valid length for each count.
    sizes = {}
    for code, cls in EVENT_CLASSES.items():
        if not counted_records_only(cls.LAYOUT):
            continue
        codec = cls.LAYOUT[0][1]
        assert isinstance(codec, RecordList)
        size = fixed_layout_size(codec.record.LAYOUT)
        if size is not None:
            sizes[code] = size
    return sizes


#: Event code to record size, for events whose Parameter_Total_Length must be
#: 1 + count * size, with the count in the first parameter octet.
EVENT_RECORD_SIZES: dict[int, int] = _record_sizes()


def event_length_bounds(code: int) -> Bounds | None:
    """The Parameter_Total_Length an event with this code may have; None for a reserved
    code."""
    if code == VENDOR_EVENT_CODE:
        return ANY_LENGTH
    if not 0 < code <= LAST_DEFINED_EVENT_CODE:
        return None
    return EVENT_PARAMETER_BOUNDS.get(code, ANY_LENGTH)


def le_event_length_bounds(subevent: int) -> Bounds | None:
    """Likewise for an LE Meta event with this subevent code."""
    if not 0 < subevent <= LAST_DEFINED_LE_SUBEVENT:
        return None
    return LE_SUBEVENT_PARAMETER_BOUNDS.get(subevent, Bounds(1, MAX_PARAMETER_LENGTH))
