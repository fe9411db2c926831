"""The Service Discovery Protocol's wire format (Core 5.4 Vol 3 Part B 3, 4).

Data elements (3) are a header octet (a 5-bit type descriptor and a 3-bit size index, 3.2,
3.3), for the variable-size types an 8, 16 or 32-bit length, then the data, big-endian. They
are the Python classes below, one per type; :func:`decode_element` reads one, bounding its
nesting depth (:data:`MAX_DEPTH`) and checking every length against the octets that are there,
so a malformed or hostile element raises :class:`~bluetrio.errors.DecodeError` and nothing
bigger than the input is ever allocated.

PDUs (4.2) are a PDU ID, a transaction ID and a parameter length, then the parameters.
:func:`split_pdu` reads the header without interpreting the parameters, so a receiver can
answer a bad length or an unknown PDU with the right transaction ID; :meth:`RawPdu.decode`
then reads the typed PDU (4.4-4.7), its layout declared on
:mod:`bluetrio.messages.fields` like every other codec of the stack.
"""

from __future__ import annotations

import enum
import struct
import uuid as uuid_module
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self, TypeAlias, TypeVar

import attrs

from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.fields import (
    FieldCodec,
    Rest,
    WireStruct,
    _take,
    compute_layout,
    decode_exactly,
)
from bluetrio.messages.uuids import short_form, uuid16

# -- data elements (Vol 3 Part B 3) -------------------------------------------------------------


class ElementType(enum.IntEnum):
    """Type descriptors (3.2); 9-31 are reserved."""

    NIL = 0
    UNSIGNED = 1
    SIGNED = 2
    UUID = 3
    TEXT = 4
    BOOLEAN = 5
    SEQUENCE = 6
    ALTERNATIVE = 7
    URL = 8


# Sizes of the fixed-size types by size index (3.3): indexes 0-4 are 1, 2, 4, 8, 16 octets.
_FIXED_SIZES = (1, 2, 4, 8, 16)
INTEGER_SIZES = frozenset(_FIXED_SIZES)
UUID_SIZES = frozenset({2, 4, 16})
# Size indexes 5, 6, 7: the data size is in the next 1, 2 or 4 octets.
_LENGTH_FIELD = {5: 1, 6: 2, 7: 4}

# Nesting deeper than this is refused on decode and on construction: records in the wild nest
# four or five levels (a protocol descriptor list inside an additional one), and the bound
# keeps decoding from recursing without limit on hostile input.
MAX_DEPTH = 16
# An element's encoded size is bounded on construction: the largest attribute list one
# response carries is 0xFFFF octets (4.7.2), and whole records beyond it are nothing a
# server should be asked to hold.
MAX_ELEMENT_SIZE = 0xFFFF


def _header(kind: ElementType, size_index: int) -> int:
    return (kind << 3) | size_index


def _variable_header(kind: ElementType, length: int) -> bytes:
    """The header and length field of a text, URL, sequence or alternative (3.3)."""
    if length <= 0xFF:
        return bytes((_header(kind, 5), length))
    if length <= 0xFFFF:
        return bytes((_header(kind, 6),)) + length.to_bytes(2, "big")
    return bytes((_header(kind, 7),)) + length.to_bytes(4, "big")


def sequence_header(length: int) -> bytes:
    """The header of a data element sequence of ``length`` octets, for a sequence built
    from encoded parts (a server's attribute lists, which may pass :data:`MAX_ELEMENT_SIZE`
    in all)."""
    return _variable_header(ElementType.SEQUENCE, length)


def _check_size(name: str, size: int) -> None:
    if size > MAX_ELEMENT_SIZE:
        raise InvalidArgumentError(
            f"{name}: {size} octets encoded, at most {MAX_ELEMENT_SIZE} in one data element"
        )


@attrs.frozen
class Nil:
    """The nil element (type 0, size index 0)."""

    @property
    def depth(self) -> int:
        return 0

    def encode(self) -> bytes:
        return b"\x00"


@attrs.frozen
class _Integer:
    """An integer element of ``size`` octets (1, 2, 4, 8 or 16, 3.3); a subclass says
    whether it is two's-complement (:attr:`SIGNED`) and its type descriptor (3.2)."""

    SIGNED: ClassVar[bool]
    KIND: ClassVar[ElementType]

    value: int
    size: int = 2

    def __attrs_post_init__(self) -> None:
        if self.size not in INTEGER_SIZES:
            raise InvalidArgumentError(f"an integer has 1, 2, 4, 8 or 16 octets, not {self.size}")
        if type(self.value) is bool or not isinstance(self.value, int):
            raise InvalidArgumentError(f"expected an integer, got {self.value!r}")
        bits = 8 * self.size
        low, high = (-(1 << (bits - 1)), 1 << (bits - 1)) if self.SIGNED else (0, 1 << bits)
        if not low <= self.value < high:
            kind = "signed" if self.SIGNED else "unsigned"
            raise InvalidArgumentError(f"{self.value} does not fit in {self.size} {kind} octets")

    @classmethod
    def from_octets(cls, raw: bytes) -> Self:
        return cls(int.from_bytes(raw, "big", signed=cls.SIGNED), len(raw))

    @property
    def depth(self) -> int:
        return 0

    def encode(self) -> bytes:
        index = _FIXED_SIZES.index(self.size)
        value = self.value.to_bytes(self.size, "big", signed=self.SIGNED)
        return bytes((_header(self.KIND, index),)) + value


@attrs.frozen
class UnsignedInt(_Integer):
    """An unsigned integer of ``size`` octets (1, 2, 4, 8 or 16)."""

    SIGNED = False
    KIND = ElementType.UNSIGNED


@attrs.frozen
class SignedInt(_Integer):
    """A two's-complement integer of ``size`` octets (1, 2, 4, 8 or 16)."""

    SIGNED = True
    KIND = ElementType.SIGNED


@attrs.frozen
class Uuid:
    """A UUID, sent in ``size`` octets (2, 4 or 16; 2.5.1). Two UUIDs are the same service
    whatever their sizes when their 128-bit forms (:attr:`full`) are equal."""

    full: uuid_module.UUID
    size: int = 16

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.full, uuid_module.UUID):
            raise InvalidArgumentError(f"expected a uuid.UUID, got {self.full!r}")
        if self.size not in UUID_SIZES:
            raise InvalidArgumentError(f"a UUID has 2, 4 or 16 octets, not {self.size}")
        if self.size < 16:
            short = short_form(self.full)
            if short is None or short >= 1 << (8 * self.size):
                raise InvalidArgumentError(
                    f"{self.full} is not a {8 * self.size}-bit UUID of the Base UUID"
                )

    @classmethod
    def of(cls, value: int | uuid_module.UUID | str) -> Uuid:
        """The shortest element for a 16/32-bit assigned number, a UUID or its string."""
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(uuid16(value), 2 if value <= 0xFFFF else 4)
        if isinstance(value, str):
            try:
                value = uuid_module.UUID(value)
            except ValueError:
                raise InvalidArgumentError(f"{value!r} is not a UUID") from None
        if not isinstance(value, uuid_module.UUID):
            raise InvalidArgumentError(f"expected a UUID, got {value!r}")
        short = short_form(value)
        if short is None:
            return cls(value, 16)
        return cls(value, 2 if short <= 0xFFFF else 4)

    @property
    def depth(self) -> int:
        return 0

    def encode(self) -> bytes:
        index = _FIXED_SIZES.index(self.size)
        value = self.full.int if self.size == 16 else self.full.int >> 96
        return bytes((_header(ElementType.UUID, index),)) + value.to_bytes(self.size, "big")


@attrs.frozen
class Text:
    """A text string (octets; records give their encoding through the language base
    attribute, in practice UTF-8). :attr:`text` decodes it."""

    value: bytes

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.value, bytes):
            raise InvalidArgumentError(f"expected bytes, got {self.value!r}")
        _check_size("text", len(self.value))

    @classmethod
    def of(cls, text: str) -> Text:
        return cls(text.encode())

    @property
    def text(self) -> str:
        # Some servers end their strings with a NUL octet.
        return self.value.split(b"\x00", 1)[0].decode("utf-8", errors="replace")

    @property
    def depth(self) -> int:
        return 0

    def encode(self) -> bytes:
        return _variable_header(ElementType.TEXT, len(self.value)) + self.value


@attrs.frozen
class Url:
    """A URL (octets, 3.2)."""

    value: bytes

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.value, bytes):
            raise InvalidArgumentError(f"expected bytes, got {self.value!r}")
        _check_size("URL", len(self.value))

    @property
    def depth(self) -> int:
        return 0

    def encode(self) -> bytes:
        return _variable_header(ElementType.URL, len(self.value)) + self.value


@attrs.frozen
class Boolean:
    value: bool

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.value, bool):
            raise InvalidArgumentError(f"expected a bool, got {self.value!r}")

    @property
    def depth(self) -> int:
        return 0

    def encode(self) -> bytes:
        return bytes((_header(ElementType.BOOLEAN, 0), int(self.value)))


def _check_items(name: str, items: object) -> int:
    """The depth of a sequence or alternative of ``items``, after checking them."""
    if not isinstance(items, tuple):
        raise InvalidArgumentError(f"{name}: expected a tuple of data elements, got {items!r}")
    depth = 0
    for item in items:
        if not isinstance(item, ELEMENT_CLASSES):
            raise InvalidArgumentError(f"{name}: {item!r} is not a data element")
        depth = max(depth, item.depth)
    if depth + 1 > MAX_DEPTH:
        raise InvalidArgumentError(f"{name}: nested deeper than {MAX_DEPTH} levels")
    return depth + 1


@attrs.frozen
class _Container:
    """A sequence or alternative of data elements (3.2, types 6 and 7), encoded once when
    made, its nesting depth and size checked then."""

    KIND: ClassVar[ElementType]

    items: tuple[DataElement, ...]
    depth: int = attrs.field(init=False, repr=False, eq=False)
    encoded: bytes = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        name = self.KIND.name.lower()
        object.__setattr__(self, "depth", _check_items(name, self.items))
        body = b"".join(item.encode() for item in self.items)
        _check_size(name, len(body))
        object.__setattr__(self, "encoded", _variable_header(self.KIND, len(body)) + body)

    def encode(self) -> bytes:
        return self.encoded


@attrs.frozen
class Sequence(_Container):
    """A data element sequence: ``items`` in order."""

    KIND = ElementType.SEQUENCE


@attrs.frozen
class Alternative(_Container):
    """A data element alternative: one of ``items`` is to be chosen."""

    KIND = ElementType.ALTERNATIVE


DataElement: TypeAlias = (
    Nil | UnsignedInt | SignedInt | Uuid | Text | Url | Boolean | Sequence | Alternative
)
ELEMENT_CLASSES = (Nil, UnsignedInt, SignedInt, Uuid, Text, Url, Boolean, Sequence, Alternative)


def _variable_length(data: bytes, offset: int, size_index: int) -> tuple[int, int]:
    """The data size a size index 5, 6 or 7 announces, and where the data starts."""
    width = _LENGTH_FIELD[size_index]
    start = offset + 1 + width
    if start > len(data):
        raise DecodeError(f"data element at offset {offset}: length field runs past the end")
    return int.from_bytes(data[offset + 1 : start], "big"), start


def decode_element(data: bytes, offset: int = 0, depth: int = 0) -> tuple[DataElement, int]:
    """The data element at ``offset`` and the offset after it; DecodeError when it is
    malformed (a reserved type, a size index its type does not allow, a length past the end
    or past its enclosing sequence, nesting deeper than :data:`MAX_DEPTH`)."""
    if offset >= len(data):
        raise DecodeError(f"data element expected at offset {offset}, the data ends")
    header = data[offset]
    kind, size_index = header >> 3, header & 0x07
    if kind > ElementType.URL:
        raise DecodeError(f"data element at offset {offset}: reserved type {kind}")
    element_type = ElementType(kind)
    if element_type is ElementType.NIL:
        if size_index != 0:
            raise DecodeError(f"nil element at offset {offset} with size index {size_index}")
        return Nil(), offset + 1
    if element_type in (ElementType.UNSIGNED, ElementType.SIGNED, ElementType.UUID,
                        ElementType.BOOLEAN):  # fmt: skip
        size = _FIXED_SIZES[size_index] if size_index < 5 else 0
        allowed = {
            ElementType.UNSIGNED: INTEGER_SIZES,
            ElementType.SIGNED: INTEGER_SIZES,
            ElementType.UUID: UUID_SIZES,
            ElementType.BOOLEAN: frozenset({1}),
        }[element_type]
        if size not in allowed:
            raise DecodeError(
                f"{element_type.name.lower()} element at offset {offset}: "
                f"size index {size_index} not allowed"
            )
        start, end = offset + 1, offset + 1 + size
        if end > len(data):
            raise DecodeError(f"data element at offset {offset} runs past the end")
        raw = data[start:end]
        match element_type:
            case ElementType.UNSIGNED:
                return UnsignedInt.from_octets(raw), end
            case ElementType.SIGNED:
                return SignedInt.from_octets(raw), end
            case ElementType.UUID:
                value = int.from_bytes(raw, "big")
                full = uuid_module.UUID(bytes=raw) if size == 16 else uuid16(value)
                return Uuid(full, size), end
            case _:
                return Boolean(raw != b"\x00"), end
    if size_index < 5:
        raise DecodeError(
            f"{element_type.name.lower()} element at offset {offset}: "
            f"size index {size_index} not allowed"
        )
    length, start = _variable_length(data, offset, size_index)
    end = start + length
    if end > len(data):
        raise DecodeError(
            f"data element at offset {offset} claims {length} octets, {len(data) - start} follow"
        )
    if element_type is ElementType.TEXT:
        return Text(data[start:end]), end
    if element_type is ElementType.URL:
        return Url(data[start:end]), end
    if depth + 1 > MAX_DEPTH:
        raise DecodeError(f"data elements nested deeper than {MAX_DEPTH} levels")
    body = data[:end]  # an item running past its sequence runs past this end
    items: list[DataElement] = []
    position = start
    while position < end:
        item, position = decode_element(body, position, depth + 1)
        items.append(item)
    try:
        if element_type is ElementType.SEQUENCE:
            return Sequence(tuple(items)), end
        return Alternative(tuple(items)), end
    except InvalidArgumentError as error:
        raise DecodeError(str(error)) from None


def decode_element_exactly(data: bytes) -> DataElement:
    """One data element that fills ``data`` exactly."""
    element, end = decode_element(data)
    if end != len(data):
        raise DecodeError(f"{len(data) - end} octet(s) after the data element")
    return element


# -- attribute ID lists (4.6.1) ------------------------------------------------------------------


@attrs.frozen(order=True)
class AttributeRange:
    """Attribute IDs ``first`` to ``last`` inclusive (one ID when they are equal)."""

    first: int
    last: int

    def __attrs_post_init__(self) -> None:
        for value in (self.first, self.last):
            if type(value) is bool or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
                raise InvalidArgumentError(f"attribute ID {value!r} is not 0..0xFFFF")
        if self.first > self.last:
            raise InvalidArgumentError(
                f"attribute range 0x{self.first:04X}-0x{self.last:04X} is reversed"
            )

    def __contains__(self, attribute_id: int) -> bool:
        return self.first <= attribute_id <= self.last

    def element(self) -> UnsignedInt:
        if self.first == self.last:
            return UnsignedInt(self.first, 2)
        return UnsignedInt((self.first << 16) | self.last, 4)


ALL_ATTRIBUTES = (AttributeRange(0x0000, 0xFFFF),)

# At most 12 UUIDs in a service search pattern (4.5.1).
MAX_PATTERN_UUIDS = 12
# Attribute ID lists are not bounded by the spec; 256 entries is far beyond any client and
# keeps a request from making the server walk an unbounded list per record.
MAX_ATTRIBUTE_RANGES = 256
# Continuation state carries at most 16 octets of information (4.3).
MAX_CONTINUATION = 16


def attribute_ranges_of(element: DataElement) -> tuple[AttributeRange, ...]:
    """The ranges of an AttributeIDList: a sequence of 16-bit IDs and 32-bit ranges (4.6.1).
    DecodeError for anything else."""
    if not isinstance(element, Sequence) or not element.items:
        raise DecodeError("an attribute ID list is a non-empty data element sequence")
    if len(element.items) > MAX_ATTRIBUTE_RANGES:
        raise DecodeError(f"more than {MAX_ATTRIBUTE_RANGES} attribute IDs and ranges")
    ranges = []
    for item in element.items:
        if isinstance(item, UnsignedInt) and item.size == 2:
            ranges.append(AttributeRange(item.value, item.value))
        elif isinstance(item, UnsignedInt) and item.size == 4:
            first, last = item.value >> 16, item.value & 0xFFFF
            if first > last:
                raise DecodeError(f"attribute range 0x{first:04X}-0x{last:04X} is reversed")
            ranges.append(AttributeRange(first, last))
        else:
            raise DecodeError(f"{item!r} is neither an attribute ID nor a range")
    return tuple(ranges)


def pattern_of(element: DataElement) -> tuple[Uuid, ...]:
    """The UUIDs of a ServiceSearchPattern: a sequence of 1 to 12 UUIDs (4.5.1)."""
    if not isinstance(element, Sequence):
        raise DecodeError("a service search pattern is a data element sequence")
    if not 1 <= len(element.items) <= MAX_PATTERN_UUIDS:
        raise DecodeError(f"a search pattern has 1 to {MAX_PATTERN_UUIDS} UUIDs")
    uuids = []
    for item in element.items:
        if not isinstance(item, Uuid):
            raise DecodeError(f"{item!r} in a search pattern is not a UUID")
        uuids.append(item)
    return tuple(uuids)


# -- PDU field codecs (big-endian, 4.2) ----------------------------------------------------------

T = TypeVar("T")


class BigUInt(FieldCodec[int]):
    """An unsigned big-endian integer of ``size`` octets (SDP is big-endian, 4.1)."""

    def __init__(self, size: int, minimum: int = 0) -> None:
        self.size = size
        self.minimum = minimum
        self.limit = 1 << (8 * size)

    def encode(self, value: int) -> bytes:
        return value.to_bytes(self.size, "big")

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[int, int]:
        end = _take(data, offset, self.size)
        value = int.from_bytes(data[offset:end], "big")
        if value < self.minimum:
            raise DecodeError(f"{value} is below the minimum {self.minimum}")
        return value, end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if type(value) is bool or not isinstance(value, int):
            return f"expected an integer, got {type(value).__name__}"
        if not self.minimum <= value < self.limit:
            return f"{value} is not {self.minimum}..{self.limit - 1}"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> int:
        return self.minimum + (0x9D7B6A48 * (seed + 1)) % (self.limit - self.minimum)


class PatternField(FieldCodec[tuple[Uuid, ...]]):
    """A ServiceSearchPattern (4.5.1), as its UUIDs."""

    def encode(self, value: tuple[Uuid, ...]) -> bytes:
        return Sequence(value).encode()

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[Uuid, ...], int]:
        element, end = decode_element(data, offset)
        return pattern_of(element), end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, tuple) or not all(isinstance(item, Uuid) for item in value):
            return "expected a tuple of Uuid"
        if not 1 <= len(value) <= MAX_PATTERN_UUIDS:
            return f"a search pattern has 1 to {MAX_PATTERN_UUIDS} UUIDs, got {len(value)}"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> tuple[Uuid, ...]:
        return (Uuid.of(0x1101 + seed % 16), Uuid.of(0x0003))


class AttributeIdsField(FieldCodec[tuple[AttributeRange, ...]]):
    """An AttributeIDList (4.6.1), as its ranges."""

    def encode(self, value: tuple[AttributeRange, ...]) -> bytes:
        return Sequence(tuple(item.element() for item in value)).encode()

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[AttributeRange, ...], int]:
        element, end = decode_element(data, offset)
        return attribute_ranges_of(element), end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, tuple) or not all(
            isinstance(item, AttributeRange) for item in value
        ):
            return "expected a tuple of AttributeRange"
        if not 1 <= len(value) <= MAX_ATTRIBUTE_RANGES:
            return f"an attribute ID list has 1 to {MAX_ATTRIBUTE_RANGES} entries"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> tuple[AttributeRange, ...]:
        return (AttributeRange(0, 1), AttributeRange(4 + seed % 8, 4 + seed % 8))


class ContinuationField(FieldCodec[bytes]):
    """ContinuationState (4.3): InfoLength (0..16) then that many octets; the last field of
    every request and response, so nothing may follow it."""

    def encode(self, value: bytes) -> bytes:
        return bytes((len(value),)) + value

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[bytes, int]:
        start = _take(data, offset, 1)
        length = data[offset]
        if length > MAX_CONTINUATION:
            raise DecodeError(f"continuation state of {length} octets, at most 16")
        end = _take(data, start, length)
        return data[start:end], end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, bytes):
            return f"expected bytes, got {type(value).__name__}"
        if len(value) > MAX_CONTINUATION:
            return f"continuation state of {len(value)} octets, at most {MAX_CONTINUATION}"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> bytes:
        return bytes((seed + i) % 256 for i in range(seed % 3 * 4))


class CountedBytes(FieldCodec[bytes]):
    """A 2-octet byte count then that many octets (AttributeListByteCount and its list)."""

    def __init__(self, minimum: int = 0) -> None:
        self.minimum = minimum

    def encode(self, value: bytes) -> bytes:
        return len(value).to_bytes(2, "big") + value

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[bytes, int]:
        start = _take(data, offset, 2)
        length = int.from_bytes(data[offset:start], "big")
        end = _take(data, start, length)
        return data[start:end], end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, bytes):
            return f"expected bytes, got {type(value).__name__}"
        if len(value) > 0xFFFF:
            return f"{len(value)} octets do not fit a 2-octet byte count"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> bytes:
        return Sequence((UnsignedInt(seed % 0x10000, 2), Text.of(f"example {seed}"))).encode()


class HandleListField(FieldCodec[tuple[int, ...]]):
    """CurrentServiceRecordCount then that many 4-octet service record handles (4.5.2)."""

    def encode(self, value: tuple[int, ...]) -> bytes:
        return len(value).to_bytes(2, "big") + b"".join(h.to_bytes(4, "big") for h in value)

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[int, ...], int]:
        start = _take(data, offset, 2)
        count = int.from_bytes(data[offset:start], "big")
        end = _take(data, start, 4 * count)
        handles = struct.unpack(f">{count}I", data[start:end])
        return tuple(handles), end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, tuple):
            return "expected a tuple of handles"
        if len(value) > 0xFFFF:
            return f"{len(value)} handles do not fit a 2-octet count"
        for handle in value:
            if type(handle) is bool or not isinstance(handle, int) or not 0 <= handle <= 0xFFFFFFFF:
                return f"service record handle {handle!r} is not 32 bits"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> tuple[int, ...]:
        return tuple(0x10000 + seed + i for i in range(seed % 4))


U16 = Annotated[int, BigUInt(2)]
U32 = Annotated[int, BigUInt(4)]
Pattern = Annotated[tuple[Uuid, ...], PatternField()]
AttributeIds = Annotated[tuple[AttributeRange, ...], AttributeIdsField()]
Continuation = Annotated[bytes, ContinuationField()]
AttributeBytes = Annotated[bytes, CountedBytes()]
HandleList = Annotated[tuple[int, ...], HandleListField()]
# MaximumAttributeByteCount is at least 7 (4.6.1), MaximumServiceRecordCount at least 1.
MaxAttributeBytes = Annotated[int, BigUInt(2, minimum=7)]
MaxRecordCount = Annotated[int, BigUInt(2, minimum=1)]


# -- PDUs (4.2, 4.4-4.7) -------------------------------------------------------------------------


class PduId(enum.IntEnum):
    ERROR_RESPONSE = 0x01
    SERVICE_SEARCH_REQUEST = 0x02
    SERVICE_SEARCH_RESPONSE = 0x03
    SERVICE_ATTRIBUTE_REQUEST = 0x04
    SERVICE_ATTRIBUTE_RESPONSE = 0x05
    SERVICE_SEARCH_ATTRIBUTE_REQUEST = 0x06
    SERVICE_SEARCH_ATTRIBUTE_RESPONSE = 0x07


class ErrorCode(enum.IntEnum):
    """SDP_ErrorResponse codes (4.4.1)."""

    UNSUPPORTED_VERSION = 0x0001
    INVALID_SERVICE_RECORD_HANDLE = 0x0002
    INVALID_REQUEST_SYNTAX = 0x0003
    INVALID_PDU_SIZE = 0x0004
    INVALID_CONTINUATION_STATE = 0x0005
    INSUFFICIENT_RESOURCES = 0x0006


PDU_HEADER = struct.Struct(">BHH")
PDU_HEADER_SIZE = PDU_HEADER.size


class SdpPdu(WireStruct):
    """An SDP PDU's parameters; its ID is ``PDU_ID``, the transaction ID travels beside it."""

    __slots__ = ()
    PDU_ID: ClassVar[PduId]

    def to_bytes(self, transaction_id: int) -> bytes:
        return encode_pdu(self.PDU_ID, transaction_id, self.encode_fields())

    @classmethod
    def from_parameters(cls, parameters: bytes) -> Self:
        return decode_exactly(cls, cls.__name__, parameters)


PDU_CLASSES: dict[int, type[SdpPdu]] = {}
P = TypeVar("P", bound=SdpPdu)


def pdu(pdu_id: PduId) -> Any:
    """Register a PDU class under its ID (apply above ``@attrs.frozen``)."""

    def register(cls: type[P]) -> type[P]:
        cls.LAYOUT = compute_layout(cls)
        cls.PDU_ID = pdu_id
        PDU_CLASSES[int(pdu_id)] = cls
        return cls

    return register


def encode_pdu(pdu_id: int, transaction_id: int, parameters: bytes) -> bytes:
    if not 0 <= transaction_id <= 0xFFFF:
        raise InvalidArgumentError(f"transaction ID {transaction_id} is not 0..0xFFFF")
    if len(parameters) > 0xFFFF:
        raise InvalidArgumentError(f"{len(parameters)} parameter octets do not fit one PDU")
    return PDU_HEADER.pack(pdu_id, transaction_id, len(parameters)) + parameters


@pdu(PduId.ERROR_RESPONSE)
@attrs.frozen
class ErrorResponse(SdpPdu):
    """SDP_ErrorResponse (4.4.1). Earlier versions of the spec put ErrorInfo octets after the
    code; they are kept in ``info``."""

    error_code: U16
    info: Rest = b""


@pdu(PduId.SERVICE_SEARCH_REQUEST)
@attrs.frozen
class ServiceSearchRequest(SdpPdu):
    """SDP_ServiceSearchRequest (4.5.1): the handles of records that hold every UUID of
    ``pattern``, at most ``maximum_records`` of them."""

    pattern: Pattern
    maximum_records: MaxRecordCount
    continuation: Continuation = b""


@pdu(PduId.SERVICE_SEARCH_RESPONSE)
@attrs.frozen
class ServiceSearchResponse(SdpPdu):
    """SDP_ServiceSearchResponse (4.5.2): ``total_records`` found, ``handles`` the ones in
    this response."""

    total_records: U16
    handles: HandleList
    continuation: Continuation = b""


@pdu(PduId.SERVICE_ATTRIBUTE_REQUEST)
@attrs.frozen
class ServiceAttributeRequest(SdpPdu):
    """SDP_ServiceAttributeRequest (4.6.1): the attributes of record ``record_handle`` in
    ``attribute_ids``, at most ``maximum_bytes`` of the list per response."""

    record_handle: U32
    maximum_bytes: MaxAttributeBytes
    attribute_ids: AttributeIds
    continuation: Continuation = b""


@pdu(PduId.SERVICE_ATTRIBUTE_RESPONSE)
@attrs.frozen
class ServiceAttributeResponse(SdpPdu):
    """SDP_ServiceAttributeResponse (4.6.2): a part of the attribute list (a data element
    sequence of ID, value pairs once every part is joined)."""

    attribute_list: AttributeBytes
    continuation: Continuation = b""


@pdu(PduId.SERVICE_SEARCH_ATTRIBUTE_REQUEST)
@attrs.frozen
class ServiceSearchAttributeRequest(SdpPdu):
    """SDP_ServiceSearchAttributeRequest (4.7.1): both searches in one."""

    pattern: Pattern
    maximum_bytes: MaxAttributeBytes
    attribute_ids: AttributeIds
    continuation: Continuation = b""


@pdu(PduId.SERVICE_SEARCH_ATTRIBUTE_RESPONSE)
@attrs.frozen
class ServiceSearchAttributeResponse(SdpPdu):
    """SDP_ServiceSearchAttributeResponse (4.7.2): a part of the attribute lists (a sequence
    with one attribute list per record found, once every part is joined)."""

    attribute_lists: AttributeBytes
    continuation: Continuation = b""


SdpRequest: TypeAlias = (
    ServiceSearchRequest | ServiceAttributeRequest | ServiceSearchAttributeRequest
)
SdpResponse: TypeAlias = (
    ErrorResponse
    | ServiceSearchResponse
    | ServiceAttributeResponse
    | ServiceSearchAttributeResponse
)
REQUEST_IDS = frozenset(
    {
        PduId.SERVICE_SEARCH_REQUEST,
        PduId.SERVICE_ATTRIBUTE_REQUEST,
        PduId.SERVICE_SEARCH_ATTRIBUTE_REQUEST,
    }
)


@attrs.frozen
class RawPdu:
    """A PDU's header and parameters, not yet interpreted. ``declared_length`` is the
    ParameterLength field, which a well-formed PDU's parameters match exactly."""

    pdu_id: int
    transaction_id: int
    parameters: bytes
    declared_length: int

    @property
    def length_ok(self) -> bool:
        return self.declared_length == len(self.parameters)

    def decode(self) -> SdpPdu:
        """The typed PDU; DecodeError for an unknown ID, a length that does not match, or
        malformed parameters."""
        cls = PDU_CLASSES.get(self.pdu_id)
        if cls is None:
            raise DecodeError(f"unknown SDP PDU ID 0x{self.pdu_id:02X}")
        if not self.length_ok:
            raise DecodeError(
                f"ParameterLength {self.declared_length}, {len(self.parameters)} octets follow"
            )
        return cls.from_parameters(self.parameters)


def split_pdu(data: bytes) -> RawPdu:
    """The header of an SDP PDU (4.2); DecodeError when not even the header is there."""
    if len(data) < PDU_HEADER_SIZE:
        raise DecodeError(f"{len(data)} octet(s) are too short for an SDP PDU header")
    pdu_id, transaction_id, length = PDU_HEADER.unpack_from(data)
    return RawPdu(pdu_id, transaction_id, data[PDU_HEADER_SIZE:], length)


def decode_pdu(data: bytes) -> tuple[int, SdpPdu]:
    """The transaction ID and typed PDU of ``data``."""
    raw = split_pdu(data)
    return raw.transaction_id, raw.decode()
