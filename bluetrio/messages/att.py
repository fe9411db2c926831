"""Attribute Protocol PDUs (Core 5.4 Vol 3 Part F 3.3, 3.4).

An ATT PDU is a one-octet opcode (3.3.1: method in bits 0-5, the command flag in bit 6, the
authentication signature flag in bit 7) followed by parameters whose layout the opcode fixes
(3.4, one figure per PDU). Each PDU is a frozen class below, its layout declared once on
:mod:`bluetrio.messages.fields` as the other codecs of the stack are; ``encode()`` gives the
whole PDU, opcode included, and :func:`decode_pdu` reads one back.

:func:`decode_pdu` checks every length the opcode allows and every value the spec restricts,
and raises :class:`~bluetrio.errors.AttDecodeError` carrying what a server needs to answer with
one Error Response (3.4.1.1): the opcode when there was one, the first handle of the request
when it could be read, and the error code (Invalid PDU, or Request Not Supported for an opcode
ATT does not define, 3.4.9). A server ignores a command it does not understand (3.3.1, 3.4.7),
which :func:`is_command` tells from the opcode alone.

Values are checked when a PDU is constructed, so a PDU that could not go on the air (more than
:data:`MAX_MTU` octets, a UUID list of mixed sizes...) raises
:class:`~bluetrio.errors.InvalidArgumentError` where it is made.
"""

from __future__ import annotations

import enum
import uuid as uuid_module
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, TypeVar

import attrs

from bluetrio.errors import AttDecodeError, DecodeError, InvalidArgumentError
from bluetrio.messages.fields import (
    U8,
    U16,
    U32,
    Bytes8,
    FieldCodec,
    WireStruct,
    compute_layout,
    decode_exactly,
)
from bluetrio.messages.uuids import att_uuid_bytes, uuid16, uuid_from_att_bytes

__all__ = [
    "APPLICATION_ERRORS",
    "ATT_CID",
    "COMMON_PROFILE_ERRORS",
    "DEFAULT_MTU",
    "EATT_PSM",
    "MAX_MTU",
    "MAX_VALUE_LENGTH",
    "PDU_CLASSES",
    "RESPONSE_TO",
    "TRANSACTION_TIMEOUT",
    "AttDecodeError",
    "AttErrorCode",
    "AttOpcode",
    "AttPdu",
    "ErrorResponse",
    "ExchangeMtuRequest",
    "ExchangeMtuResponse",
    "ExecuteWriteRequest",
    "ExecuteWriteResponse",
    "FindByTypeValueRequest",
    "FindByTypeValueResponse",
    "FindInformationRequest",
    "FindInformationResponse",
    "HandleValueConfirmation",
    "HandleValueIndication",
    "HandleValueNotification",
    "MultipleHandleValueNotification",
    "PduKind",
    "PrepareWriteRequest",
    "PrepareWriteResponse",
    "ReadBlobRequest",
    "ReadBlobResponse",
    "ReadByGroupTypeRequest",
    "ReadByGroupTypeResponse",
    "ReadByTypeRequest",
    "ReadByTypeResponse",
    "ReadMultipleRequest",
    "ReadMultipleResponse",
    "ReadMultipleVariableRequest",
    "ReadMultipleVariableResponse",
    "ReadRequest",
    "ReadResponse",
    "SignedWriteCommand",
    "WriteCommand",
    "WriteRequest",
    "WriteResponse",
    "decode_pdu",
    "is_command",
    "is_defined_error",
    "is_signed",
    "kind_of",
]

# The fixed channel of ATT on LE (Vol 3 Part A 2.1) and the PSM of Enhanced ATT bearers
# (Assigned Numbers 5.2, Vol 3 Part F 3.2.11).
ATT_CID = 0x0004
EATT_PSM = 0x0027
# ATT_MTU: 23 by default on LE (Vol 3 Part G 5.2.1), never more than 517 (Vol 3 Part F 3.2.8,
# 3.2.9: an attribute value is at most 512 octets, plus the largest header, Prepare Write's).
DEFAULT_MTU = 23
MAX_MTU = 517
MAX_VALUE_LENGTH = 512
# A request or indication not answered within 30 s ends the bearer (Vol 3 Part F 3.3.3).
TRANSACTION_TIMEOUT = 30.0

# The command flag and the authentication signature flag of the opcode (3.3.1).
COMMAND_FLAG = 0x40
SIGNED_FLAG = 0x80
# The Authentication Signature of a signed write: sign counter (4) and MAC (8) (Vol 3 Part H
# 2.4.5; Vol 3 Part F 3.4.5.4).
SIGNATURE_LENGTH = 12


class AttOpcode(enum.IntEnum):
    """ATT opcodes (Vol 3 Part F 3.4.8, table 3.37)."""

    ERROR_RESPONSE = 0x01
    EXCHANGE_MTU_REQUEST = 0x02
    EXCHANGE_MTU_RESPONSE = 0x03
    FIND_INFORMATION_REQUEST = 0x04
    FIND_INFORMATION_RESPONSE = 0x05
    FIND_BY_TYPE_VALUE_REQUEST = 0x06
    FIND_BY_TYPE_VALUE_RESPONSE = 0x07
    READ_BY_TYPE_REQUEST = 0x08
    READ_BY_TYPE_RESPONSE = 0x09
    READ_REQUEST = 0x0A
    READ_RESPONSE = 0x0B
    READ_BLOB_REQUEST = 0x0C
    READ_BLOB_RESPONSE = 0x0D
    READ_MULTIPLE_REQUEST = 0x0E
    READ_MULTIPLE_RESPONSE = 0x0F
    READ_BY_GROUP_TYPE_REQUEST = 0x10
    READ_BY_GROUP_TYPE_RESPONSE = 0x11
    WRITE_REQUEST = 0x12
    WRITE_RESPONSE = 0x13
    PREPARE_WRITE_REQUEST = 0x16
    PREPARE_WRITE_RESPONSE = 0x17
    EXECUTE_WRITE_REQUEST = 0x18
    EXECUTE_WRITE_RESPONSE = 0x19
    HANDLE_VALUE_NOTIFICATION = 0x1B
    HANDLE_VALUE_INDICATION = 0x1D
    HANDLE_VALUE_CONFIRMATION = 0x1E
    READ_MULTIPLE_VARIABLE_REQUEST = 0x20
    READ_MULTIPLE_VARIABLE_RESPONSE = 0x21
    MULTIPLE_HANDLE_VALUE_NOTIFICATION = 0x23
    WRITE_COMMAND = 0x52
    SIGNED_WRITE_COMMAND = 0xD2


class AttErrorCode(enum.IntEnum):
    """ATT error codes (Vol 3 Part F 3.4.1.1, table 3.4) and the common profile and service
    error codes (Core Specification Supplement Part B 1.2). Application errors 0x80-0x9F are
    legal too, which is why :attr:`ErrorResponse.error_code` is a plain ``int``."""

    INVALID_HANDLE = 0x01
    READ_NOT_PERMITTED = 0x02
    WRITE_NOT_PERMITTED = 0x03
    INVALID_PDU = 0x04
    INSUFFICIENT_AUTHENTICATION = 0x05
    REQUEST_NOT_SUPPORTED = 0x06
    INVALID_OFFSET = 0x07
    INSUFFICIENT_AUTHORIZATION = 0x08
    PREPARE_QUEUE_FULL = 0x09
    ATTRIBUTE_NOT_FOUND = 0x0A
    ATTRIBUTE_NOT_LONG = 0x0B
    ENCRYPTION_KEY_SIZE_TOO_SHORT = 0x0C
    INVALID_ATTRIBUTE_VALUE_LENGTH = 0x0D
    UNLIKELY_ERROR = 0x0E
    INSUFFICIENT_ENCRYPTION = 0x0F
    UNSUPPORTED_GROUP_TYPE = 0x10
    INSUFFICIENT_RESOURCES = 0x11
    DATABASE_OUT_OF_SYNC = 0x12
    VALUE_NOT_ALLOWED = 0x13
    WRITE_REQUEST_REJECTED = 0xFC
    CCCD_IMPROPERLY_CONFIGURED = 0xFD
    PROCEDURE_ALREADY_IN_PROGRESS = 0xFE
    OUT_OF_RANGE = 0xFF


_ATT_ERRORS = frozenset(int(code) for code in AttErrorCode if code < 0x80)


# The codes an Error Response may carry besides ATT's own (table 3.4): the application's and
# the common profile and service error codes (Core Specification Supplement Part B 1.2);
# 0x00, 0x14-0x7F and 0xA0-0xDF are reserved.
APPLICATION_ERRORS = range(0x80, 0xA0)
COMMON_PROFILE_ERRORS = range(0xE0, 0x100)


def is_defined_error(code: int) -> bool:
    """Whether ``code`` is an error code an Error Response may carry (table 3.4)."""
    return code in _ATT_ERRORS or code in APPLICATION_ERRORS or code in COMMON_PROFILE_ERRORS


class PduKind(enum.Enum):
    """The six methods of 3.3: what a PDU asks of its receiver."""

    REQUEST = "request"
    RESPONSE = "response"
    COMMAND = "command"
    NOTIFICATION = "notification"
    INDICATION = "indication"
    CONFIRMATION = "confirmation"


# Request -> the response that ends its transaction (3.4.8; an Error Response ends any).
RESPONSE_TO: Mapping[AttOpcode, AttOpcode] = {
    AttOpcode.EXCHANGE_MTU_REQUEST: AttOpcode.EXCHANGE_MTU_RESPONSE,
    AttOpcode.FIND_INFORMATION_REQUEST: AttOpcode.FIND_INFORMATION_RESPONSE,
    AttOpcode.FIND_BY_TYPE_VALUE_REQUEST: AttOpcode.FIND_BY_TYPE_VALUE_RESPONSE,
    AttOpcode.READ_BY_TYPE_REQUEST: AttOpcode.READ_BY_TYPE_RESPONSE,
    AttOpcode.READ_REQUEST: AttOpcode.READ_RESPONSE,
    AttOpcode.READ_BLOB_REQUEST: AttOpcode.READ_BLOB_RESPONSE,
    AttOpcode.READ_MULTIPLE_REQUEST: AttOpcode.READ_MULTIPLE_RESPONSE,
    AttOpcode.READ_BY_GROUP_TYPE_REQUEST: AttOpcode.READ_BY_GROUP_TYPE_RESPONSE,
    AttOpcode.WRITE_REQUEST: AttOpcode.WRITE_RESPONSE,
    AttOpcode.PREPARE_WRITE_REQUEST: AttOpcode.PREPARE_WRITE_RESPONSE,
    AttOpcode.EXECUTE_WRITE_REQUEST: AttOpcode.EXECUTE_WRITE_RESPONSE,
    AttOpcode.READ_MULTIPLE_VARIABLE_REQUEST: AttOpcode.READ_MULTIPLE_VARIABLE_RESPONSE,
}

_KINDS: Mapping[int, PduKind] = {
    **{int(request): PduKind.REQUEST for request in RESPONSE_TO},
    **{int(response): PduKind.RESPONSE for response in RESPONSE_TO.values()},
    AttOpcode.ERROR_RESPONSE: PduKind.RESPONSE,
    AttOpcode.WRITE_COMMAND: PduKind.COMMAND,
    AttOpcode.SIGNED_WRITE_COMMAND: PduKind.COMMAND,
    AttOpcode.HANDLE_VALUE_NOTIFICATION: PduKind.NOTIFICATION,
    AttOpcode.MULTIPLE_HANDLE_VALUE_NOTIFICATION: PduKind.NOTIFICATION,
    AttOpcode.HANDLE_VALUE_INDICATION: PduKind.INDICATION,
    AttOpcode.HANDLE_VALUE_CONFIRMATION: PduKind.CONFIRMATION,
}


def is_command(opcode: int) -> bool:
    """Whether the opcode's command flag is set (3.3.1): no response, ignored when unknown."""
    return bool(opcode & COMMAND_FLAG)


def is_signed(opcode: int) -> bool:
    """Whether the opcode's authentication signature flag is set (3.3.1)."""
    return bool(opcode & SIGNED_FLAG)


def kind_of(opcode: int) -> PduKind:
    """What a PDU with ``opcode`` is (3.3, table 3.37).

    An opcode ATT does not define is a command when its command flag is set and a request
    otherwise: the server ignores the first and answers the second with Request Not Supported
    (3.4.9), the only two things a receiver can do with it.
    """
    kind = _KINDS.get(opcode)
    if kind is not None:
        return kind
    return PduKind.COMMAND if is_command(opcode) else PduKind.REQUEST


# -- field codecs -------------------------------------------------------------------------------


def _need(data: bytes, offset: int, size: int) -> int:
    end = offset + size
    if end > len(data):
        raise DecodeError(f"needs {size} octet(s) at offset {offset}, {len(data) - offset} left")
    return end


def _uuid_problem(value: object) -> str | None:
    return None if isinstance(value, uuid_module.UUID) else f"expected a UUID, got {value!r}"


class ValueBytes(FieldCodec[bytes]):
    """An attribute value: the rest of the PDU, or all of it but a trailer of ``trailer``
    octets (the signature of a signed write). ``max_length`` keeps the PDU within MAX_MTU."""

    def __init__(self, max_length: int, trailer: int = 0) -> None:
        self.max_length = max_length
        self.trailer = trailer

    def encode(self, value: bytes) -> bytes:
        return value

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[bytes, int]:
        end = len(data) - self.trailer
        if end < offset:
            raise DecodeError(f"needs {self.trailer} octet(s) after the value, has {end - offset}")
        return data[offset:end], end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, bytes):
            return f"expected bytes, got {type(value).__name__}"
        if len(value) > self.max_length:
            return f"at most {self.max_length} octets fit in one PDU, got {len(value)}"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> bytes:
        return bytes((seed + i) % 256 for i in range(seed % 7))


class AttUuid(FieldCodec[uuid_module.UUID]):
    """The last parameter of a PDU: a UUID of 2 or 16 octets (3.2.1), the rest of the PDU."""

    def encode(self, value: uuid_module.UUID) -> bytes:
        return att_uuid_bytes(value)

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[uuid_module.UUID, int]:
        return uuid_from_att_bytes(data[offset:]), len(data)

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        return _uuid_problem(value)

    def example(self, seed: int, fields: Mapping[str, object]) -> uuid_module.UUID:
        return uuid16(0x2800 + seed % 4)


class BooleanFlag(FieldCodec[bool]):
    """One octet that is 0x00 (False) or 0x01 (True); anything else is malformed."""

    def encode(self, value: bool) -> bytes:
        return b"\x01" if value else b"\x00"

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[bool, int]:
        end = _need(data, offset, 1)
        if data[offset] > 1:
            raise DecodeError(f"flags 0x{data[offset]:02X} are neither 0x00 nor 0x01")
        return data[offset] == 1, end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        return None if isinstance(value, bool) else f"expected a bool, got {value!r}"

    def example(self, seed: int, fields: Mapping[str, object]) -> bool:
        return seed % 2 == 1


class Handles(FieldCodec[tuple[int, ...]]):
    """A set of two or more handles, the rest of the PDU (3.4.4.7, 3.4.4.11)."""

    MINIMUM = 2
    MAXIMUM = (MAX_MTU - 1) // 2

    def encode(self, value: tuple[int, ...]) -> bytes:
        return b"".join(handle.to_bytes(2, "little") for handle in value)

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[int, ...], int]:
        rest = len(data) - offset
        if rest % 2:
            raise DecodeError(f"a handle list of {rest} octets is not whole handles")
        if rest < 2 * self.MINIMUM:
            raise DecodeError(f"needs at least {self.MINIMUM} handles, got {rest // 2}")
        handles = tuple(
            int.from_bytes(data[i : i + 2], "little") for i in range(offset, len(data), 2)
        )
        return handles, len(data)

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, tuple) or not all(_is_u16(item) for item in value):
            return f"expected a tuple of 16-bit handles, got {value!r}"
        if not self.MINIMUM <= len(value) <= self.MAXIMUM:
            return f"expected {self.MINIMUM} to {self.MAXIMUM} handles, got {len(value)}"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> tuple[int, ...]:
        return tuple(1 + (seed + i) % 0xFFFE for i in range(2 + seed % 3))


def _u16_at(data: bytes, offset: int) -> int:
    return data[offset] | data[offset + 1] << 8


def _is_u16(value: object) -> bool:
    return type(value) is int and 0 <= value <= 0xFFFF


def _is_bytes(value: object) -> bool:
    return isinstance(value, bytes)


class UuidEntries(FieldCodec[tuple[tuple[int, uuid_module.UUID], ...]]):
    """Find Information Response's Format and Information Data (3.4.3.2): one or more
    handle-UUID pairs, every UUID 16-bit (format 0x01) or every one 128-bit (0x02)."""

    FORMATS: ClassVar[Mapping[int, int]] = {0x01: 2, 0x02: 16}

    def encode(self, value: tuple[tuple[int, uuid_module.UUID], ...]) -> bytes:
        encoded = [(handle, att_uuid_bytes(uuid)) for handle, uuid in value]
        size = len(encoded[0][1])
        out = bytearray((0x01 if size == 2 else 0x02,))
        for handle, raw in encoded:
            out += handle.to_bytes(2, "little") + raw
        return bytes(out)

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[tuple[int, uuid_module.UUID], ...], int]:
        end = _need(data, offset, 1)
        size = self.FORMATS.get(data[offset])
        if size is None:
            raise DecodeError(f"format 0x{data[offset]:02X} is neither 0x01 nor 0x02")
        pair = 2 + size
        rest = len(data) - end
        if rest == 0 or rest % pair:
            raise DecodeError(f"{rest} octets are not whole {pair}-octet handle-UUID pairs")
        entries = tuple(
            (
                int.from_bytes(data[i : i + 2], "little"),
                uuid_from_att_bytes(data[i + 2 : i + pair]),
            )
            for i in range(end, len(data), pair)
        )
        return entries, len(data)

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, tuple) or not value:
            return f"expected a non-empty tuple of (handle, UUID), got {value!r}"
        sizes = set()
        for entry in value:
            if not (isinstance(entry, tuple) and len(entry) == 2 and _is_u16(entry[0])):
                return f"expected (handle, UUID), got {entry!r}"
            if _uuid_problem(entry[1]) is not None:
                return _uuid_problem(entry[1])
            sizes.add(len(att_uuid_bytes(entry[1])))
        if len(sizes) > 1:
            return "every UUID of one response is 16-bit or every one 128-bit (3.4.3.2)"
        if 1 + len(value) * (2 + sizes.pop()) > MAX_MTU - 1:
            return f"{len(value)} entries do not fit in {MAX_MTU} octets"
        return None

    def example(
        self, seed: int, fields: Mapping[str, object]
    ) -> tuple[tuple[int, uuid_module.UUID], ...]:
        return tuple((1 + seed + i, uuid16(0x2900 + i)) for i in range(1 + seed % 3))


class HandleRanges(FieldCodec[tuple[tuple[int, int], ...]]):
    """Find By Type Value Response's Handles Information List (3.4.3.4): one or more pairs of
    found attribute handle and group end handle."""

    MAXIMUM = (MAX_MTU - 1) // 4

    def encode(self, value: tuple[tuple[int, int], ...]) -> bytes:
        return b"".join(
            found.to_bytes(2, "little") + end.to_bytes(2, "little") for found, end in value
        )

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[tuple[int, int], ...], int]:
        rest = len(data) - offset
        if rest == 0 or rest % 4:
            raise DecodeError(f"{rest} octets are not whole 4-octet handle ranges")
        ranges = tuple(
            (
                int.from_bytes(data[i : i + 2], "little"),
                int.from_bytes(data[i + 2 : i + 4], "little"),
            )
            for i in range(offset, len(data), 4)
        )
        return ranges, len(data)

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, tuple) or not 1 <= len(value) <= self.MAXIMUM:
            return f"expected 1 to {self.MAXIMUM} (found, group end) pairs, got {value!r}"
        for entry in value:
            if not (isinstance(entry, tuple) and len(entry) == 2 and all(map(_is_u16, entry))):
                return f"expected (found handle, group end handle), got {entry!r}"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> tuple[tuple[int, int], ...]:
        return tuple((1 + seed + 4 * i, 3 + seed + 4 * i) for i in range(1 + seed % 3))


class LengthPrefixedList(FieldCodec[tuple[tuple[Any, ...], ...]]):
    """A Length octet then one or more entries of exactly that many octets each: ``handles``
    16-bit handles followed by a value of the rest (Read By Type Response 3.4.4.2: one handle;
    Read By Group Type Response 3.4.4.10: handle and end group handle). Every value of one
    response has the same length, which the Length octet gives (derived when encoding)."""

    def __init__(self, handles: int) -> None:
        self.handles = handles
        self.header = 2 * handles
        self.max_value = 0xFF - self.header

    def encode(self, value: tuple[tuple[Any, ...], ...]) -> bytes:
        out = bytearray((self.header + len(value[0][-1]),))
        for entry in value:
            for handle in entry[:-1]:
                out += handle.to_bytes(2, "little")
            out += entry[-1]
        return bytes(out)

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[tuple[Any, ...], ...], int]:
        start = _need(data, offset, 1)
        length = data[offset]
        if length < self.header:
            raise DecodeError(f"length {length} is shorter than the {self.header} handle octets")
        rest = len(data) - start
        if rest == 0 or rest % length:
            raise DecodeError(f"{rest} octets are not whole entries of length {length}")
        entries = []
        for i in range(start, len(data), length):
            handles = tuple(
                int.from_bytes(data[j : j + 2], "little") for j in range(i, i + self.header, 2)
            )
            entries.append((*handles, data[i + self.header : i + length]))
        return tuple(entries), len(data)

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, tuple) or not value:
            return f"expected a non-empty tuple of entries, got {value!r}"
        lengths = set()
        for entry in value:
            if not (
                isinstance(entry, tuple)
                and len(entry) == self.handles + 1
                and all(map(_is_u16, entry[:-1]))
                and _is_bytes(entry[-1])
            ):
                return f"expected {self.handles} handle(s) and a value, got {entry!r}"
            lengths.add(len(entry[-1]))
        if len(lengths) > 1:
            return "every value of one response has the same length (its Length octet)"
        size = lengths.pop()
        if size > self.max_value:
            return (
                f"a value of {size} octets does not fit the Length octet (at most {self.max_value})"
            )
        if 1 + len(value) * (self.header + size) > MAX_MTU - 1:
            return f"{len(value)} entries do not fit in {MAX_MTU} octets"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> tuple[tuple[Any, ...], ...]:
        value_length = seed % 5
        return tuple(
            (
                *(1 + seed + 3 * i + j for j in range(self.handles)),
                bytes((seed + i + k) % 256 for k in range(value_length)),
            )
            for i in range(1 + seed % 3)
        )


class LengthValueList(FieldCodec[tuple[bytes, ...]]):
    """Read Multiple Variable Response's Length Value Tuple List (3.4.4.12): each value after
    its 16-bit length. The response is cut at ATT_MTU - 1 octets, so the last value may be
    shorter than its length says: what is there is kept; a lone octet of a length is dropped
    (nothing of that value is there)."""

    def encode(self, value: tuple[bytes, ...]) -> bytes:
        return b"".join(len(item).to_bytes(2, "little") + item for item in value)

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[bytes, ...], int]:
        if len(data) - offset < 2:
            raise DecodeError("needs at least one length-value pair")
        values = []
        i = offset
        while len(data) - i >= 2:
            length = int.from_bytes(data[i : i + 2], "little")
            values.append(data[i + 2 : i + 2 + length])
            i += 2 + length
        return tuple(values), len(data)

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, tuple) or not value or not all(map(_is_bytes, value)):
            return f"expected a non-empty tuple of values, got {value!r}"
        if sum(2 + len(item) for item in value) > MAX_MTU - 1:
            return f"{len(value)} values do not fit in {MAX_MTU} octets"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> tuple[bytes, ...]:
        return tuple(bytes(range(i + seed % 4)) for i in range(1 + seed % 3))


class HandleLengthValueList(FieldCodec[tuple[tuple[int, bytes], ...]]):
    """Multiple Handle Value Notification's Handle Length Value Tuple List (3.4.7.4): two or
    more tuples of handle, 16-bit length and that many value octets, exactly to the end."""

    MINIMUM = 2

    def encode(self, value: tuple[tuple[int, bytes], ...]) -> bytes:
        return b"".join(
            handle.to_bytes(2, "little") + len(item).to_bytes(2, "little") + item
            for handle, item in value
        )

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[tuple[int, bytes], ...], int]:
        entries = []
        i = offset
        while i < len(data):
            start = _need(data, i, 4)
            handle = int.from_bytes(data[i : i + 2], "little")
            length = int.from_bytes(data[i + 2 : start], "little")
            i = _need(data, start, length)
            entries.append((handle, data[start:i]))
        if len(entries) < self.MINIMUM:
            raise DecodeError(f"needs at least {self.MINIMUM} tuples, got {len(entries)}")
        return tuple(entries), len(data)

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, tuple) or len(value) < self.MINIMUM:
            return f"expected {self.MINIMUM} or more (handle, value) tuples, got {value!r}"
        for entry in value:
            if not (
                isinstance(entry, tuple)
                and len(entry) == 2
                and _is_u16(entry[0])
                and _is_bytes(entry[1])
            ):
                return f"expected (handle, value), got {entry!r}"
        if sum(4 + len(item) for _, item in value) > MAX_MTU - 1:
            return f"{len(value)} tuples do not fit in {MAX_MTU} octets"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> tuple[tuple[int, bytes], ...]:
        return tuple((1 + seed + i, bytes(range(seed % 5))) for i in range(2 + seed % 2))


# The value after a PDU's fixed parameters, bounded so the PDU fits MAX_MTU.
def _value(header: int, trailer: int = 0) -> ValueBytes:
    return ValueBytes(MAX_MTU - header - trailer, trailer)


ValueAfterOpcode = Annotated[bytes, _value(1)]
ValueAfterHandle = Annotated[bytes, _value(3)]
ValueAfterHandleOffset = Annotated[bytes, _value(5)]
ValueAfterRange = Annotated[bytes, _value(7)]
SignedValue = Annotated[bytes, _value(3, SIGNATURE_LENGTH)]
Uuid = Annotated[uuid_module.UUID, AttUuid()]


# -- PDUs ---------------------------------------------------------------------------------------


class AttPdu(WireStruct):
    """An ATT PDU; its opcode is ``opcode`` (3.3)."""

    __slots__ = ()
    opcode: ClassVar[AttOpcode]

    def encode(self) -> bytes:
        """The whole PDU: opcode and parameters."""
        return bytes((self.opcode,)) + self.encode_fields()


PDU_CLASSES: dict[int, type[AttPdu]] = {}
P = TypeVar("P", bound=AttPdu)


def pdu(opcode: AttOpcode) -> Any:
    """Register a PDU class under its opcode (apply above ``@attrs.frozen``)."""

    def register(cls: type[P]) -> type[P]:
        cls.LAYOUT = compute_layout(cls)
        cls.opcode = opcode
        PDU_CLASSES[int(opcode)] = cls
        return cls

    return register


@pdu(AttOpcode.ERROR_RESPONSE)
@attrs.frozen
class ErrorResponse(AttPdu):
    """3.4.1.1: the opcode of the request in error, the handle that caused it, the code."""

    request_opcode: U8
    handle: U16
    error_code: U8


@pdu(AttOpcode.EXCHANGE_MTU_REQUEST)
@attrs.frozen
class ExchangeMtuRequest(AttPdu):
    """3.4.2.1: the client's receive MTU."""

    mtu: U16


@pdu(AttOpcode.EXCHANGE_MTU_RESPONSE)
@attrs.frozen
class ExchangeMtuResponse(AttPdu):
    """3.4.2.2: the server's receive MTU."""

    mtu: U16


@pdu(AttOpcode.FIND_INFORMATION_REQUEST)
@attrs.frozen
class FindInformationRequest(AttPdu):
    """3.4.3.1."""

    start: U16
    end: U16


@pdu(AttOpcode.FIND_INFORMATION_RESPONSE)
@attrs.frozen
class FindInformationResponse(AttPdu):
    """3.4.3.2."""

    entries: Annotated[tuple[tuple[int, uuid_module.UUID], ...], UuidEntries()]


@pdu(AttOpcode.FIND_BY_TYPE_VALUE_REQUEST)
@attrs.frozen
class FindByTypeValueRequest(AttPdu):
    """3.4.3.3: the attribute type is always a 16-bit UUID here."""

    start: U16
    end: U16
    attribute_type: U16
    value: ValueAfterRange


@pdu(AttOpcode.FIND_BY_TYPE_VALUE_RESPONSE)
@attrs.frozen
class FindByTypeValueResponse(AttPdu):
    """3.4.3.4."""

    ranges: Annotated[tuple[tuple[int, int], ...], HandleRanges()]


@pdu(AttOpcode.READ_BY_TYPE_REQUEST)
@attrs.frozen
class ReadByTypeRequest(AttPdu):
    """3.4.4.1."""

    start: U16
    end: U16
    attribute_type: Uuid


@pdu(AttOpcode.READ_BY_TYPE_RESPONSE)
@attrs.frozen
class ReadByTypeResponse(AttPdu):
    """3.4.4.2: (handle, value) pairs, every value of the same length."""

    entries: Annotated[tuple[tuple[int, bytes], ...], LengthPrefixedList(handles=1)]


@pdu(AttOpcode.READ_REQUEST)
@attrs.frozen
class ReadRequest(AttPdu):
    """3.4.4.3."""

    handle: U16


@pdu(AttOpcode.READ_RESPONSE)
@attrs.frozen
class ReadResponse(AttPdu):
    """3.4.4.4."""

    value: ValueAfterOpcode


@pdu(AttOpcode.READ_BLOB_REQUEST)
@attrs.frozen
class ReadBlobRequest(AttPdu):
    """3.4.4.5."""

    handle: U16
    offset: U16


@pdu(AttOpcode.READ_BLOB_RESPONSE)
@attrs.frozen
class ReadBlobResponse(AttPdu):
    """3.4.4.6."""

    value: ValueAfterOpcode


@pdu(AttOpcode.READ_MULTIPLE_REQUEST)
@attrs.frozen
class ReadMultipleRequest(AttPdu):
    """3.4.4.7: two or more handles."""

    handles: Annotated[tuple[int, ...], Handles()]


@pdu(AttOpcode.READ_MULTIPLE_RESPONSE)
@attrs.frozen
class ReadMultipleResponse(AttPdu):
    """3.4.4.8: the values concatenated, which only the client can split."""

    values: ValueAfterOpcode


@pdu(AttOpcode.READ_BY_GROUP_TYPE_REQUEST)
@attrs.frozen
class ReadByGroupTypeRequest(AttPdu):
    """3.4.4.9."""

    start: U16
    end: U16
    group_type: Uuid


@pdu(AttOpcode.READ_BY_GROUP_TYPE_RESPONSE)
@attrs.frozen
class ReadByGroupTypeResponse(AttPdu):
    """3.4.4.10: (handle, end group handle, value), every value of the same length."""

    entries: Annotated[tuple[tuple[int, int, bytes], ...], LengthPrefixedList(handles=2)]


@pdu(AttOpcode.READ_MULTIPLE_VARIABLE_REQUEST)
@attrs.frozen
class ReadMultipleVariableRequest(AttPdu):
    """3.4.4.11: two or more handles."""

    handles: Annotated[tuple[int, ...], Handles()]


@pdu(AttOpcode.READ_MULTIPLE_VARIABLE_RESPONSE)
@attrs.frozen
class ReadMultipleVariableResponse(AttPdu):
    """3.4.4.12."""

    values: Annotated[tuple[bytes, ...], LengthValueList()]


@pdu(AttOpcode.WRITE_REQUEST)
@attrs.frozen
class WriteRequest(AttPdu):
    """3.4.5.1."""

    handle: U16
    value: ValueAfterHandle


@pdu(AttOpcode.WRITE_RESPONSE)
@attrs.frozen
class WriteResponse(AttPdu):
    """3.4.5.2."""


@pdu(AttOpcode.WRITE_COMMAND)
@attrs.frozen
class WriteCommand(AttPdu):
    """3.4.5.3."""

    handle: U16
    value: ValueAfterHandle


@pdu(AttOpcode.SIGNED_WRITE_COMMAND)
@attrs.frozen
class SignedWriteCommand(AttPdu):
    """3.4.5.4: the value then the Authentication Signature, a sign counter and a MAC
    (Vol 3 Part H 2.4.5)."""

    handle: U16
    value: SignedValue
    sign_counter: U32
    mac: Bytes8

    def signed_part(self) -> bytes:
        """The octets the signature covers: opcode, handle, value and the sign counter
        (Vol 3 Part H 2.4.5: the MAC is computed over the message and the counter)."""
        return self.encode()[: -len(self.mac)]


@pdu(AttOpcode.PREPARE_WRITE_REQUEST)
@attrs.frozen
class PrepareWriteRequest(AttPdu):
    """3.4.6.1."""

    handle: U16
    offset: U16
    value: ValueAfterHandleOffset


@pdu(AttOpcode.PREPARE_WRITE_RESPONSE)
@attrs.frozen
class PrepareWriteResponse(AttPdu):
    """3.4.6.2: the request's parameters echoed."""

    handle: U16
    offset: U16
    value: ValueAfterHandleOffset


@pdu(AttOpcode.EXECUTE_WRITE_REQUEST)
@attrs.frozen
class ExecuteWriteRequest(AttPdu):
    """3.4.6.3: flags 0x00 cancel every prepared write, 0x01 write them all."""

    execute: Annotated[bool, BooleanFlag()]


@pdu(AttOpcode.EXECUTE_WRITE_RESPONSE)
@attrs.frozen
class ExecuteWriteResponse(AttPdu):
    """3.4.6.4."""


@pdu(AttOpcode.HANDLE_VALUE_NOTIFICATION)
@attrs.frozen
class HandleValueNotification(AttPdu):
    """3.4.7.1."""

    handle: U16
    value: ValueAfterHandle


@pdu(AttOpcode.HANDLE_VALUE_INDICATION)
@attrs.frozen
class HandleValueIndication(AttPdu):
    """3.4.7.2."""

    handle: U16
    value: ValueAfterHandle


@pdu(AttOpcode.HANDLE_VALUE_CONFIRMATION)
@attrs.frozen
class HandleValueConfirmation(AttPdu):
    """3.4.7.3."""


@pdu(AttOpcode.MULTIPLE_HANDLE_VALUE_NOTIFICATION)
@attrs.frozen
class MultipleHandleValueNotification(AttPdu):
    """3.4.7.4."""

    entries: Annotated[tuple[tuple[int, bytes], ...], HandleLengthValueList()]


def _first_handle(cls: type[AttPdu], data: bytes) -> int:
    """The first handle of a request's parameters, when it has one and it is there (3.4.1.1:
    the Attribute Handle In Error of an Error Response); 0 otherwise."""
    if cls.LAYOUT and cls.LAYOUT[0][0] in _HANDLE_FIELDS and len(data) >= 3:
        return int.from_bytes(data[1:3], "little")
    return 0


# The names a PDU's first parameter has when it is a handle (3.4.3-3.4.7).
_HANDLE_FIELDS = frozenset({"handle", "start", "handles"})


def decode_pdu(data: bytes) -> AttPdu:
    """The typed PDU of ``data`` (opcode and parameters).

    Raises AttDecodeError: Request Not Supported for an opcode ATT does not define (3.4.9; a
    server ignores it when :func:`is_command` says so), Invalid PDU for an empty PDU, one over
    MAX_MTU octets, a length the opcode does not allow or a value the spec reserves.
    """
    if not data:
        raise AttDecodeError("an empty ATT PDU", AttErrorCode.INVALID_PDU)
    opcode = data[0]
    cls = PDU_CLASSES.get(opcode)
    if cls is None:
        raise AttDecodeError(
            f"unknown ATT opcode 0x{opcode:02X}", AttErrorCode.REQUEST_NOT_SUPPORTED, opcode
        )
    if len(data) > MAX_MTU:
        raise AttDecodeError(
            f"{cls.__name__} of {len(data)} octets, over the largest ATT_MTU ({MAX_MTU})",
            AttErrorCode.INVALID_PDU,
            opcode,
            _first_handle(cls, data),
        )
    try:
        return decode_exactly(cls, cls.__name__, bytes(data), 1)
    except (DecodeError, InvalidArgumentError) as error:
        raise AttDecodeError(
            str(error), AttErrorCode.INVALID_PDU, opcode, _first_handle(cls, data)
        ) from None
