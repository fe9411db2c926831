"""Base classes and registries of HCI commands, events and return parameters.

Concrete packets register themselves with :func:`command`, :func:`event` or :func:`le_event`,
which fill the lookup tables used by the parsers in :mod:`bluetrio.messages.hci` and the
Supported_Commands bit table (Core 5.4 Vol 4 Part E 6.27).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar, Self, TypeVar

import attrs

from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.fields import (
    U8,
    U16,
    Rest,
    WireStruct,
    check_parameter_length,
    command_header,
    compute_layout,
    counted_records_only,
    decode_exactly,
    decode_known_prefix,
)

# Opcode groups (Vol 4 Part E 5.4.1): the opcode is OGF (6 bits) << 10 | OCF (10 bits).
OGF_LINK_CONTROL = 0x01
OGF_LINK_POLICY = 0x02
OGF_CONTROLLER_AND_BASEBAND = 0x03
OGF_INFORMATIONAL = 0x04
OGF_STATUS = 0x05
OGF_TESTING = 0x06
OGF_LE = 0x08
OGF_VENDOR = 0x3F


def opcode(ogf: int, ocf: int) -> int:
    """Combine an opcode group and command field into the 16-bit opcode."""
    if not 0 <= ogf < 0x40:
        raise InvalidArgumentError(f"OGF must be 0..0x3F, got {ogf:#x}")
    if not 0 <= ocf < 0x400:
        raise InvalidArgumentError(f"OCF must be 0..0x3FF, got {ocf:#x}")
    return (ogf << 10) | ocf


def opcode_group(value: int) -> int:
    return value >> 10


def opcode_command(value: int) -> int:
    return value & 0x3FF


class ReturnParameters(WireStruct):
    """Return parameters carried by Command Complete for one opcode (Vol 4 Part E 7.7.14)."""

    __slots__ = ()

    def to_bytes(self) -> bytes:
        return self.encode_fields()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        # A later specification may append return parameters (Vol 4 Part E 7.7.14).
        return decode_known_prefix(cls, cls.__name__, data)


W = TypeVar("W", bound=WireStruct)


def returns(cls: type[W]) -> type[W]:
    """Register a return-parameter class's layout (apply above ``@attrs.frozen``)."""
    cls.LAYOUT = compute_layout(cls)
    return cls


@returns
@attrs.frozen
class StatusReturn(ReturnParameters):
    """The return parameters of commands that only report a status."""

    status: U8


class HciCommand(WireStruct):
    """An HCI command packet (Vol 4 Part E 5.4.1).

    ``RETURN`` is the return-parameter class of its Command Complete, or None when the
    controller answers with Command Status and reports completion with another event.
    """

    __slots__ = ()
    OPCODE: ClassVar[int]
    NAME: ClassVar[str]
    RETURN: ClassVar[type[ReturnParameters] | None]

    @property
    def opcode(self) -> int:
        return self.OPCODE

    @property
    def name(self) -> str:
        return self.NAME

    def parameters(self) -> bytes:
        return self.encode_fields()

    @classmethod
    def from_parameters(cls, data: bytes) -> Self:
        return decode_exactly(cls, cls.NAME, data)

    def to_bytes(self) -> bytes:
        parameters = self.parameters()
        check_parameter_length(self.name, parameters)
        return command_header(self.opcode, len(parameters)) + parameters


class HciEvent(WireStruct):
    """An HCI event packet (Vol 4 Part E 5.4.4).

    Octets after the parameters this codec knows are ignored: later specifications append
    parameters to existing events. Events that are only a count and that many records
    (``EXACT_LENGTH``) must be exactly as long as their count says.
    """

    __slots__ = ()
    EVENT_CODE: ClassVar[int]
    NAME: ClassVar[str]
    EXACT_LENGTH: ClassVar[bool] = False

    @property
    def event_code(self) -> int:
        return self.EVENT_CODE

    @property
    def name(self) -> str:
        return self.NAME

    def parameters(self) -> bytes:
        return self.encode_fields()

    @classmethod
    def from_parameters(cls, data: bytes) -> Self:
        if cls.EXACT_LENGTH:
            return decode_exactly(cls, cls.NAME, data)
        return decode_known_prefix(cls, cls.NAME, data)

    def to_bytes(self) -> bytes:
        parameters = self.parameters()
        check_parameter_length(self.name, parameters)
        return bytes((self.event_code, len(parameters))) + parameters


LE_META_EVENT_CODE = 0x3E


class LeMetaEvent(HciEvent):
    """An LE Meta event (Vol 4 Part E 7.7.65): the first parameter is the subevent code."""

    __slots__ = ()
    EVENT_CODE = LE_META_EVENT_CODE
    SUBEVENT_CODE: ClassVar[int]

    @property
    def subevent_code(self) -> int:
        return self.SUBEVENT_CODE

    def parameters(self) -> bytes:
        return bytes((self.subevent_code,)) + self.encode_fields()

    @classmethod
    def from_parameters(cls, data: bytes) -> Self:
        # parse_event dispatches on the subevent code, so a mismatch means a caller bug.
        if data[:1] != bytes((cls.SUBEVENT_CODE,)):
            raise InvalidArgumentError(
                f"{cls.NAME}: parameters must start with subevent code 0x{cls.SUBEVENT_CODE:02X}"
            )
        if cls.EXACT_LENGTH:
            return decode_exactly(cls, cls.NAME, data, 1)
        return decode_known_prefix(cls, cls.NAME, data, 1)


@attrs.frozen
class UnknownCommand(HciCommand):
    """A command this codec has no class for; kept whole so nothing is dropped."""

    NAME = "Unknown command"
    RETURN = None
    opcode: U16
    raw_parameters: Rest

    @property
    def name(self) -> str:
        return f"Unknown command 0x{self.opcode:04X}"

    def parameters(self) -> bytes:
        return self.raw_parameters

    @classmethod
    def from_parameters(cls, data: bytes) -> Self:
        raise InvalidArgumentError("UnknownCommand needs its opcode: use parse_command()")


@attrs.frozen
class UnknownEvent(HciEvent):
    """An event this codec has no class for; kept whole so nothing is dropped."""

    NAME = "Unknown event"
    event_code: U8
    raw_parameters: Rest

    @property
    def name(self) -> str:
        return f"Unknown event 0x{self.event_code:02X}"

    def parameters(self) -> bytes:
        return self.raw_parameters

    @classmethod
    def from_parameters(cls, data: bytes) -> Self:
        raise InvalidArgumentError("UnknownEvent needs its event code: use parse_event()")


@attrs.frozen
class UnknownLeMetaEvent(LeMetaEvent):
    """An LE Meta event with a subevent this codec has no class for."""

    NAME = "Unknown LE Meta event"
    subevent_code: U8
    raw_parameters: Rest

    @property
    def name(self) -> str:
        return f"Unknown LE Meta subevent 0x{self.subevent_code:02X}"

    def parameters(self) -> bytes:
        return self.encode_fields()

    @classmethod
    def from_parameters(cls, data: bytes) -> Self:
        return decode_exactly(cls, cls.NAME, data)


for _unknown in (UnknownCommand, UnknownEvent, UnknownLeMetaEvent):
    _unknown.LAYOUT = compute_layout(_unknown)


COMMAND_CLASSES: dict[int, type[HciCommand]] = {}
EVENT_CLASSES: dict[int, type[HciEvent]] = {}
LE_EVENT_CLASSES: dict[int, type[LeMetaEvent]] = {}
RETURN_CLASSES: dict[int, type[ReturnParameters]] = {}
SUPPORTED_COMMAND_BITS: dict[int, tuple[int, int]] = {}
"""Opcode -> (octet, bit) in the Supported_Commands bitmap (Vol 4 Part E 6.27)."""

C = TypeVar("C", bound=HciCommand)
E = TypeVar("E", bound=HciEvent)
L = TypeVar("L", bound=LeMetaEvent)


def command(
    ogf: int,
    ocf: int,
    name: str,
    *,
    returns: type[ReturnParameters] | None,
    bit: tuple[int, int] | None,
) -> Callable[[type[C]], type[C]]:
    """Register a command class: its opcode, spec name, return parameters and support bit.

    ``returns=None`` marks commands answered by Command Status (Vol 4 Part E 4.4).
    ``bit=None`` is for vendor commands, which have no Supported_Commands bit (6.27).
    """

    def register(cls: type[C]) -> type[C]:
        code = opcode(ogf, ocf)
        if code in COMMAND_CLASSES:
            raise TypeError(f"opcode 0x{code:04X} registered twice")
        cls.OPCODE, cls.NAME, cls.RETURN = code, name, returns
        cls.LAYOUT = compute_layout(cls)
        COMMAND_CLASSES[code] = cls
        if bit is not None:
            SUPPORTED_COMMAND_BITS[code] = bit
        if returns is not None:
            RETURN_CLASSES[code] = returns
        return cls

    return register


def event(code: int, name: str, *, hand_written: bool = False) -> Callable[[type[E]], type[E]]:
    """Register an event class under its event code.

    ``hand_written`` classes encode and decode themselves and have no declared layout.
    """

    def register(cls: type[E]) -> type[E]:
        if code in EVENT_CLASSES:
            raise TypeError(f"event code 0x{code:02X} registered twice")
        cls.EVENT_CODE, cls.NAME = code, name
        if not hand_written:
            cls.LAYOUT = compute_layout(cls)
            cls.EXACT_LENGTH = counted_records_only(cls.LAYOUT)
        EVENT_CLASSES[code] = cls
        return cls

    return register


def le_event(subevent: int, name: str) -> Callable[[type[L]], type[L]]:
    """Register an LE Meta event class under its subevent code."""

    def register(cls: type[L]) -> type[L]:
        if subevent in LE_EVENT_CLASSES:
            raise TypeError(f"LE subevent 0x{subevent:02X} registered twice")
        cls.SUBEVENT_CODE, cls.NAME = subevent, name
        cls.LAYOUT = compute_layout(cls)
        cls.EXACT_LENGTH = counted_records_only(cls.LAYOUT)
        LE_EVENT_CLASSES[subevent] = cls
        return cls

    return register


SUPPORTED_COMMANDS_LENGTH = 64


def supported_commands_bitmap(opcodes: Iterable[int]) -> bytes:
    """The 64-octet Supported_Commands parameter with the bits of ``opcodes`` set (6.27)."""
    bitmap = bytearray(SUPPORTED_COMMANDS_LENGTH)
    for code in opcodes:
        position = SUPPORTED_COMMAND_BITS.get(code)
        if position is None:
            raise InvalidArgumentError(
                f"no Supported_Commands bit is known for opcode 0x{code:04X}"
            )
        octet, bit = position
        bitmap[octet] |= 1 << bit
    return bytes(bitmap)


def bitmap_supports(bitmap: bytes, code: int) -> bool:
    """Whether a Supported_Commands bitmap has the bit of ``code`` set (False if unknown)."""
    position = SUPPORTED_COMMAND_BITS.get(code)
    if position is None:
        return False
    octet, bit = position
    return octet < len(bitmap) and bool(bitmap[octet] >> bit & 1)
