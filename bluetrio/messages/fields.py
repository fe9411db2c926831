"""The table-driven machinery behind the HCI codec (Core 5.4 Vol 4 Part E 5.4).

Every HCI packet class declares its wire layout once, in its attribute annotations:
``connection_handle: U16`` or ``peer_address: LeAddr``. Each alias is
``Annotated[python_type, codec]``; :func:`layout_of` reads the codecs back (in field order) and one
generic encoder and decoder serve every packet. Only the irregular packets and the data path
(ACL, Number_Of_Completed_Packets) are written by hand.

Values are checked when an object is constructed, so a bad argument raises
:class:`~bluetrio.errors.InvalidArgumentError` at the call site that made it, and decoding checks
every length so malformed input raises :class:`~bluetrio.errors.DecodeError`.
"""

from __future__ import annotations

import abc
import struct
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

import attrs

from bluetrio.address import Address, AddressType
from bluetrio.errors import DecodeError, InvalidArgumentError

T = TypeVar("T")

# Both the parameter total length of commands and of events is one octet (Vol 4 Part E 5.4.1,
# 5.4.4), which bounds every control packet.
MAX_PARAMETER_LENGTH = 255


class FieldCodec(abc.ABC, Generic[T]):
    """How one field is laid out on the wire."""

    @abc.abstractmethod
    def encode(self, value: T) -> bytes:
        """Wire bytes for a value that :meth:`problem` accepted."""

    @abc.abstractmethod
    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[T, int]:
        """Read the field at ``offset``; ``decoded`` holds the fields before it."""

    @abc.abstractmethod
    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        """Why ``value`` cannot be encoded, or None. ``fields`` are the sibling values."""

    @abc.abstractmethod
    def example(self, seed: int, fields: Mapping[str, object]) -> T:
        """A valid value that varies with ``seed`` (for tests, fuzzing and documentation)."""


def _take(data: bytes, offset: int, size: int) -> int:
    """End offset of a ``size``-byte field at ``offset``; DecodeError when it runs past the end."""
    end = offset + size
    if end > len(data):
        raise DecodeError(
            f"needs {size} byte(s) at offset {offset}, only {len(data) - offset} left"
        )
    return end


def _example_bytes(seed: int, size: int) -> bytes:
    """Varying octets shaped as one AD/EIR structure (length, type 0xFF, data) when they can be,
    so that dissectors of advertising and EIR data (Vol 3 Part C 11) accept the examples."""
    varying = bytes((seed + i) % 256 for i in range(size))
    return bytes((size - 1, 0xFF)) + varying[2:] if size >= 2 else varying


class UInt(FieldCodec[int]):
    """Unsigned little-endian integer of ``size`` octets (Vol 4 Part E 5.2: little-endian)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.limit = 1 << (8 * size)

    def encode(self, value: int) -> bytes:
        return value.to_bytes(self.size, "little")

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[int, int]:
        end = _take(data, offset, self.size)
        return int.from_bytes(data[offset:end], "little"), end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if type(value) is bool or not isinstance(value, int):
            return f"expected an integer, got {type(value).__name__}"
        if not 0 <= value < self.limit:
            return f"{value} does not fit in {self.size} unsigned octet(s) (0..{self.limit - 1})"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> int:
        return (0x5A3C1E0F9D7B6A48 * (seed + 1)) % self.limit


class Constant(UInt):
    """An unsigned field the spec pins to one value (e.g. Num_Responses = 1 in 7.7.38)."""

    def __init__(self, size: int, value: int) -> None:
        super().__init__(size)
        self.value = value

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[int, int]:
        value, end = super().decode(data, offset, decoded)
        if value != self.value:
            raise DecodeError(f"must be {self.value}, got {value}")
        return value, end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        return None if value == self.value else f"must be {self.value}, got {value!r}"

    def example(self, seed: int, fields: Mapping[str, object]) -> int:
        return self.value


class SInt8(FieldCodec[int]):
    """Signed octet, used for RSSI and TX power in dBm."""

    def encode(self, value: int) -> bytes:
        return value.to_bytes(1, "little", signed=True)

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[int, int]:
        end = _take(data, offset, 1)
        return int.from_bytes(data[offset:end], "little", signed=True), end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if type(value) is bool or not isinstance(value, int):
            return f"expected an integer, got {type(value).__name__}"
        if not -128 <= value <= 127:
            return f"{value} does not fit in a signed octet (-128..127)"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> int:
        return (seed * 7) % 256 - 128


class FixedBytes(FieldCodec[bytes]):
    """Exactly ``size`` octets: keys, random numbers, bitmaps."""

    def __init__(self, size: int) -> None:
        self.size = size

    def encode(self, value: bytes) -> bytes:
        return bytes(value)

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[bytes, int]:
        end = _take(data, offset, self.size)
        return data[offset:end], end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, bytes):
            return f"expected bytes, got {type(value).__name__}"
        if len(value) != self.size:
            return f"expected exactly {self.size} bytes, got {len(value)}"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> bytes:
        return _example_bytes(seed, self.size)


class RemainingBytes(FieldCodec[bytes]):
    """Everything up to the end of the packet (must be the last field)."""

    def encode(self, value: bytes) -> bytes:
        return bytes(value)

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[bytes, int]:
        return data[offset:], len(data)

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        return None if isinstance(value, bytes) else f"expected bytes, got {type(value).__name__}"

    def example(self, seed: int, fields: Mapping[str, object]) -> bytes:
        return bytes((seed + i) % 256 for i in range(5))


class LengthPrefixedBytes(FieldCodec[bytes]):
    """A one-octet length then that many octets, optionally zero-padded to ``padded_to``.

    Legacy advertising data is always sent as 31 octets after its length (Vol 4 Part E 7.8.7);
    extended advertising data and advertising reports carry only the used octets.
    """

    def __init__(self, max_length: int, padded_to: int | None = None) -> None:
        self.max_length = max_length
        self.padded_to = padded_to

    def encode(self, value: bytes) -> bytes:
        body = bytes(value)
        if self.padded_to is not None:
            body = body.ljust(self.padded_to, b"\x00")
        return bytes((len(value),)) + body

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[bytes, int]:
        start = _take(data, offset, 1)
        length = data[offset]
        if length > self.max_length:
            raise DecodeError(f"length {length} at offset {offset} exceeds {self.max_length}")
        end = _take(data, start, self.padded_to if self.padded_to is not None else length)
        return data[start : start + length], end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, bytes):
            return f"expected bytes, got {type(value).__name__}"
        if len(value) > self.max_length:
            return f"at most {self.max_length} bytes allowed, got {len(value)}"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> bytes:
        return _example_bytes(seed, min(self.max_length, 9))


class PaddedString(FieldCodec[str]):
    """UTF-8 text zero-padded to ``size`` octets, as Local_Name and Remote_Name (7.3.11).

    The text ends at the first zero octet. Invalid UTF-8 from a peer is replaced, not rejected,
    and trimmed so that the decoded value always fits again.
    """

    def __init__(self, size: int) -> None:
        self.size = size

    def encode(self, value: str) -> bytes:
        return value.encode().ljust(self.size, b"\x00")

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[str, int]:
        end = _take(data, offset, self.size)
        text = data[offset:end].split(b"\x00", 1)[0].decode("utf-8", errors="replace")
        while len(text.encode()) > self.size:
            text = text[:-1]
        return text, end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, str):
            return f"expected str, got {type(value).__name__}"
        encoded = value.encode()
        if len(encoded) > self.size:
            return f"at most {self.size} UTF-8 bytes allowed, got {len(encoded)}"
        if b"\x00" in encoded:
            return "must not contain a NUL character"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> str:
        return f"bluetrio \u2713 {seed}"


class DeviceAddress(FieldCodec[Address]):
    """A 6-octet BD_ADDR; ``address_type`` is what decoded addresses are tagged with."""

    def __init__(self, address_type: AddressType = AddressType.PUBLIC) -> None:
        self.address_type = address_type

    def encode(self, value: Address) -> bytes:
        return value.value

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[Address, int]:
        end = _take(data, offset, 6)
        return Address(data[offset:end], self.address_type), end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        return None if isinstance(value, Address) else f"expected Address, got {type(value)}"

    def example(self, seed: int, fields: Mapping[str, object]) -> Address:
        return Address(bytes((seed + i) % 256 for i in range(6)), self.address_type)


class TypedAddress(FieldCodec[Address]):
    """An LE address type octet (0..3, Vol 4 Part E 7.7.65.1) followed by the 6-octet address.

    Used wherever the spec puts ``X_Address_Type`` right before ``X_Address`` and allows only
    the four real types; fields that may also say "anonymous" (0xFF) or "unresolved" (0xFE)
    keep a separate integer type field instead.
    """

    def encode(self, value: Address) -> bytes:
        return bytes((value.type,)) + value.value

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[Address, int]:
        end = _take(data, offset, 7)
        kind = data[offset]
        if kind > AddressType.RANDOM_IDENTITY:
            raise DecodeError(f"address type 0x{kind:02X} at offset {offset} is not 0..3")
        return Address(data[offset + 1 : end], AddressType(kind)), end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        return None if isinstance(value, Address) else f"expected Address, got {type(value)}"

    def example(self, seed: int, fields: Mapping[str, object]) -> Address:
        return Address(bytes((seed + i) % 256 for i in range(6)), AddressType(seed % 4))


def popcount(value: object) -> int:
    return bin(value).count("1") if isinstance(value, int) else 0


class RecordList(FieldCodec[tuple[Any, ...]]):
    """A sequence of ``record`` structures, interleaved field by field per record.

    The count is either a one-octet prefix on the wire (``Num_Reports``, ``Num_Sets``...) or,
    with ``counted_by``, derived from an earlier field (e.g. one entry per bit of
    ``Scanning_PHYs`` in 7.8.64). Arrays are interleaved per element as real controllers,
    BlueZ and Wireshark all do.
    """

    def __init__(
        self,
        record: type[HciRecord],
        counted_by: tuple[str, Callable[[object], int]] | None = None,
        max_count: int = 255,
    ) -> None:
        self.record = record
        self.counted_by = counted_by
        self.max_count = max_count

    def _expected_count(self, fields: Mapping[str, object]) -> int | None:
        if self.counted_by is None:
            return None
        name, count_of = self.counted_by
        return count_of(fields[name])

    def encode(self, value: tuple[Any, ...]) -> bytes:
        prefix = b"" if self.counted_by is not None else bytes((len(value),))
        return prefix + b"".join(item.encode_fields() for item in value)

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[Any, ...], int]:
        count = self._expected_count(decoded)
        if count is None:
            offset = _take(data, offset, 1)
            count = data[offset - 1]
        if count > self.max_count:
            raise DecodeError(f"{count} {self.record.__name__} entries, at most {self.max_count}")
        items = []
        for _ in range(count):
            item, offset = self.record.decode_fields(data, offset)
            items.append(item)
        return tuple(items), offset

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, tuple):
            return f"expected a tuple of {self.record.__name__}, got {type(value).__name__}"
        if not all(type(item) is self.record for item in value):
            return f"every entry must be a {self.record.__name__}"
        expected = self._expected_count(fields)
        if expected is not None and len(value) != expected:
            return f"expected {expected} entries (one per bit of {self.counted_by[0]})"  # type: ignore[index]
        if len(value) > self.max_count:
            return f"at most {self.max_count} entries allowed, got {len(value)}"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> tuple[Any, ...]:
        count = self._expected_count(fields)
        return tuple(
            self.record.example(seed + 10 * i) for i in range(2 if count is None else count)
        )


# The aliases packet classes annotate their fields with.
U8 = Annotated[int, UInt(1)]
U16 = Annotated[int, UInt(2)]
U24 = Annotated[int, UInt(3)]
U32 = Annotated[int, UInt(4)]
U64 = Annotated[int, UInt(8)]
I8 = Annotated[int, SInt8()]
Key16 = Annotated[bytes, FixedBytes(16)]
Bytes8 = Annotated[bytes, FixedBytes(8)]
Rest = Annotated[bytes, RemainingBytes()]
BdAddr = Annotated[Address, DeviceAddress()]
RandomAddr = Annotated[Address, DeviceAddress(AddressType.RANDOM)]
LeAddr = Annotated[Address, TypedAddress()]
Name248 = Annotated[str, PaddedString(248)]

Layout = tuple[tuple[str, FieldCodec[Any]], ...]


def compute_layout(cls: type) -> Layout:
    """The (field name, codec) pairs of an attrs class, from its ``Annotated`` hints."""
    hints = typing.get_type_hints(cls, include_extras=True)
    entries = []
    for field in attrs.fields(cls):
        metadata = getattr(hints[field.name], "__metadata__", ())
        codecs = [item for item in metadata if isinstance(item, FieldCodec)]
        if len(codecs) != 1:
            raise TypeError(f"{cls.__name__}.{field.name} has no wire codec annotation")
        entries.append((field.name, codecs[0]))
    return tuple(entries)


class WireStruct:
    """Base of every class whose fields are laid out by :func:`compute_layout`.

    Subclasses are ``@attrs.frozen`` classes; a registration decorator fills ``LAYOUT``.
    """

    __slots__ = ()
    LAYOUT: ClassVar[Layout] = ()

    def __attrs_post_init__(self) -> None:
        values = {name: getattr(self, name) for name, _ in self.LAYOUT}
        for name, codec in self.LAYOUT:
            problem = codec.problem(values[name], values)
            if problem is not None:
                raise InvalidArgumentError(f"{type(self).__name__}.{name}: {problem}")

    def encode_fields(self) -> bytes:
        return b"".join(codec.encode(getattr(self, name)) for name, codec in self.LAYOUT)

    @classmethod
    def example(cls, seed: int = 1) -> Self:
        """An instance whose every field holds a valid value that differs from its neighbours."""
        values: dict[str, object] = {}
        for index, (name, codec) in enumerate(cls.LAYOUT):
            values[name] = codec.example(seed + index, values)
        return cls(**values)

    @classmethod
    def decode_fields(cls, data: bytes, offset: int) -> tuple[Self, int]:
        values: dict[str, object] = {}
        for name, codec in cls.LAYOUT:
            try:
                values[name], offset = codec.decode(data, offset, values)
            except DecodeError as error:
                raise DecodeError(f"{cls.__name__}.{name}: {error}") from None
        return cls(**values), offset


class HciRecord(WireStruct):
    """One element of an arrayed parameter (an advertising report, an inquiry response...)."""

    __slots__ = ()


R = TypeVar("R", bound=WireStruct)


def record(cls: type[R]) -> type[R]:
    """Register a record class's layout (apply above ``@attrs.frozen``)."""
    cls.LAYOUT = compute_layout(cls)
    return cls


def decode_exactly(cls: type[R], name: str, data: bytes, offset: int = 0) -> R:
    """Decode ``cls`` from ``data[offset:]`` and reject trailing bytes."""
    try:
        value, end = cls.decode_fields(data, offset)
    except DecodeError as error:
        raise DecodeError(f"{name}: {error}") from None
    if end != len(data):
        raise DecodeError(
            f"{name}: {len(data) - end} unexpected byte(s) after the parameters "
            f"(got {len(data)} bytes, expected {end})"
        )
    return value


def decode_known_prefix(cls: type[R], name: str, data: bytes, offset: int = 0) -> R:
    """Decode ``cls`` from ``data[offset:]``, ignoring octets after the parameters it knows.

    Later versions of the specification append parameters to existing events and return
    parameters, and a host built for an earlier one ignores the octets it does not know
    (Core 5.4 Vol 4 Part E 5.4.4, and 7.7.14 for Command Complete's Return_Parameters).
    Fewer octets than the known parameters need is still malformed.
    """
    try:
        value, _ = cls.decode_fields(data, offset)
    except DecodeError as error:
        raise DecodeError(f"{name}: {error}") from None
    return value


def counted_records_only(layout: Layout) -> bool:
    """Whether a layout is nothing but a one-octet count and that many records
    (HCI_Inquiry_Result 7.7.2...): its length follows from its count, so octets beyond that
    length are not an extension but a sign the packet boundary was lost."""
    if len(layout) != 1:
        return False
    codec = layout[0][1]
    return isinstance(codec, RecordList) and codec.counted_by is None


def check_parameter_length(name: str, parameters: bytes) -> None:
    if len(parameters) > MAX_PARAMETER_LENGTH:
        raise InvalidArgumentError(
            f"{name}: {len(parameters)} parameter bytes do not fit in one HCI packet "
            f"(at most {MAX_PARAMETER_LENGTH})"
        )


_HEADER = struct.Struct("<HB")


def command_header(opcode: int, length: int) -> bytes:
    return _HEADER.pack(opcode, length)
