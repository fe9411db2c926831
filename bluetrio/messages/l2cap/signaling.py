"""Signaling commands (Core 5.4 Vol 3 Part A 4).

A C-frame on the BR/EDR signaling channel (CID 0x0001) carries one or more commands, one on
the LE signaling channel (CID 0x0005) exactly one (4, figure 4.1). Each command is a code, an
identifier that matches a response to its request, a length and the data.
:func:`split_commands` cuts a C-frame into :class:`RawCommand` values without interpreting
their data, so the receiver can answer an unknown code or a bad length with a Command Reject
carrying the right identifier; :meth:`RawCommand.decode` then reads the typed command, checking
its length exactly.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self, TypeVar

import attrs

from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.fields import (
    U16,
    FieldCodec,
    Rest,
    WireStruct,
    compute_layout,
    decode_exactly,
)
from bluetrio.messages.l2cap.constants import (
    MAX_CREDIT_BASED_CHANNELS,
    ConfigurationResult,
    SignalingCode,
)
from bluetrio.messages.l2cap.options import (
    HINT_BIT,
    AnyOption,
    OptionList,
    UnknownOption,
    decode_options,
)

COMMAND_HEADER = struct.Struct("<BBH")
COMMAND_HEADER_SIZE = COMMAND_HEADER.size


class SignalingCommand(WireStruct):
    """A signaling command's data; its code is ``CODE``, its identifier travels beside it."""

    __slots__ = ()
    CODE: ClassVar[int]

    def to_bytes(self, identifier: int) -> bytes:
        """The whole command: code, identifier, length and data."""
        return encode_command(identifier, self.CODE, self.encode_fields())

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        return decode_exactly(cls, cls.__name__, data)


COMMAND_CLASSES: dict[int, type[SignalingCommand]] = {}
C = TypeVar("C", bound=SignalingCommand)


def command(code: SignalingCode) -> Any:
    """Register a signaling command class under its code (apply above ``@attrs.frozen``)."""

    def register(cls: type[C]) -> type[C]:
        cls.LAYOUT = compute_layout(cls)
        cls.CODE = int(code)
        COMMAND_CLASSES[int(code)] = cls
        return cls

    return register


def encode_command(identifier: int, code: int, data: bytes) -> bytes:
    if not 0 <= identifier <= 0xFF:
        raise InvalidArgumentError(f"signaling identifier {identifier} is not 0..255")
    if len(data) > 0xFFFF:
        raise InvalidArgumentError(f"{len(data)} octets do not fit in one signaling command")
    return COMMAND_HEADER.pack(code, identifier, len(data)) + data


@attrs.frozen
class RawCommand:
    """One command cut from a C-frame, its data not yet interpreted."""

    code: int
    identifier: int
    data: bytes

    @property
    def known(self) -> bool:
        return self.code in COMMAND_CLASSES

    def decode(self) -> SignalingCommand:
        """The typed command; DecodeError for an unknown code or a malformed length."""
        cls = COMMAND_CLASSES.get(self.code)
        if cls is None:
            raise DecodeError(f"unknown signaling command code 0x{self.code:02X}")
        return cls.from_data(self.data)


@attrs.frozen
class SplitCommands:
    """The commands of a C-frame; ``problem`` says why splitting stopped early, if it did
    (a header that runs past the frame). ``truncated`` is the command whose length ran past
    the end, when its code and identifier could be read."""

    commands: tuple[RawCommand, ...]
    problem: str | None = None
    truncated: RawCommand | None = None


def split_commands(payload: bytes) -> SplitCommands:
    """Cut a C-frame's payload into its commands (Vol 3 Part A 4, figure 4.2)."""
    commands: list[RawCommand] = []
    offset = 0
    while offset < len(payload):
        if offset + COMMAND_HEADER_SIZE > len(payload):
            return SplitCommands(
                tuple(commands), f"{len(payload) - offset} octet(s) too short for a command"
            )
        code, identifier, length = COMMAND_HEADER.unpack_from(payload, offset)
        start = offset + COMMAND_HEADER_SIZE
        end = start + length
        if end > len(payload):
            return SplitCommands(
                tuple(commands),
                f"command 0x{code:02X} claims {length} octets, {len(payload) - start} follow",
                RawCommand(code, identifier, payload[start:]),
            )
        commands.append(RawCommand(code, identifier, payload[start:end]))
        offset = end
    return SplitCommands(tuple(commands))


class CidList(FieldCodec[tuple[int, ...]]):
    """The channel identifiers that fill the rest of a credit based command (4.25-4.27)."""

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum

    def encode(self, value: tuple[int, ...]) -> bytes:
        return struct.pack(f"<{len(value)}H", *value)

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[int, ...], int]:
        remaining = len(data) - offset
        count = remaining // 2
        if remaining % 2 or not self.minimum <= count <= MAX_CREDIT_BASED_CHANNELS:
            raise DecodeError(
                f"{remaining} octets are not {self.minimum}..{MAX_CREDIT_BASED_CHANNELS} CIDs"
            )
        return struct.unpack_from(f"<{count}H", data, offset), len(data)

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, tuple) or not all(
            type(item) is int and 0 <= item <= 0xFFFF for item in value
        ):
            return "expected a tuple of 16-bit channel identifiers"
        if not self.minimum <= len(value) <= MAX_CREDIT_BASED_CHANNELS:
            return f"expected {self.minimum}..{MAX_CREDIT_BASED_CHANNELS} channel identifiers"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> tuple[int, ...]:
        return tuple(0x0040 + seed % 64 + i for i in range(1 + seed % MAX_CREDIT_BASED_CHANNELS))


class ResponseOptionList(OptionList):
    """The options of a Configuration Response. With result "unknown options" some stacks list
    only the type octets of the options they did not understand (4.5); those decode as
    :class:`UnknownOption` values with empty data."""

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[AnyOption, ...], int]:
        try:
            return decode_options(data[offset:]), len(data)
        except DecodeError:
            if decoded.get("result") != ConfigurationResult.UNKNOWN_OPTIONS:
                raise
        types = tuple(
            UnknownOption(kind & ~HINT_BIT, b"", bool(kind & HINT_BIT)) for kind in data[offset:]
        )
        return types, len(data)


CIDS = CidList(minimum=1)
RESPONSE_CIDS = CidList(minimum=0)


@command(SignalingCode.COMMAND_REJECT)
@attrs.frozen
class CommandReject(SignalingCommand):
    """4.1: ``data`` is empty (not understood), the actual signaling MTU (MTU exceeded) or the
    local and remote CIDs of the request (invalid CID)."""

    reason: U16
    data: Rest = b""


@command(SignalingCode.CONNECTION_REQUEST)
@attrs.frozen
class ConnectionRequest(SignalingCommand):
    """4.2"""

    psm: U16
    source_cid: U16


@command(SignalingCode.CONNECTION_RESPONSE)
@attrs.frozen
class ConnectionResponse(SignalingCommand):
    """4.3"""

    destination_cid: U16
    source_cid: U16
    result: U16
    status: U16


@command(SignalingCode.CONFIGURATION_REQUEST)
@attrs.frozen
class ConfigurationRequest(SignalingCommand):
    """4.4: the options describe what the sender receives (its MTU) or wants of the link."""

    destination_cid: U16
    flags: U16
    options: Annotated[tuple[AnyOption, ...], OptionList()] = ()


@command(SignalingCode.CONFIGURATION_RESPONSE)
@attrs.frozen
class ConfigurationResponse(SignalingCommand):
    """4.5"""

    source_cid: U16
    flags: U16
    result: U16
    options: Annotated[tuple[AnyOption, ...], ResponseOptionList()] = ()


@command(SignalingCode.DISCONNECTION_REQUEST)
@attrs.frozen
class DisconnectionRequest(SignalingCommand):
    """4.6"""

    destination_cid: U16
    source_cid: U16


@command(SignalingCode.DISCONNECTION_RESPONSE)
@attrs.frozen
class DisconnectionResponse(SignalingCommand):
    """4.7"""

    destination_cid: U16
    source_cid: U16


@command(SignalingCode.ECHO_REQUEST)
@attrs.frozen
class EchoRequest(SignalingCommand):
    """4.8"""

    data: Rest = b""


@command(SignalingCode.ECHO_RESPONSE)
@attrs.frozen
class EchoResponse(SignalingCommand):
    """4.9"""

    data: Rest = b""


@command(SignalingCode.INFORMATION_REQUEST)
@attrs.frozen
class InformationRequest(SignalingCommand):
    """4.10"""

    info_type: U16


@command(SignalingCode.INFORMATION_RESPONSE)
@attrs.frozen
class InformationResponse(SignalingCommand):
    """4.11: ``data`` is the connectionless MTU (2 octets), the extended feature mask (4) or
    the fixed channels supported (8), when ``result`` is success."""

    info_type: U16
    result: U16
    data: Rest = b""


@command(SignalingCode.CONNECTION_PARAMETER_UPDATE_REQUEST)
@attrs.frozen
class ConnectionParameterUpdateRequest(SignalingCommand):
    """4.20: sent by the peripheral; intervals in 1.25 ms, timeout in 10 ms."""

    interval_min: U16
    interval_max: U16
    latency: U16
    timeout: U16


@command(SignalingCode.CONNECTION_PARAMETER_UPDATE_RESPONSE)
@attrs.frozen
class ConnectionParameterUpdateResponse(SignalingCommand):
    """4.21"""

    result: U16


@command(SignalingCode.LE_CREDIT_BASED_CONNECTION_REQUEST)
@attrs.frozen
class LeCreditBasedConnectionRequest(SignalingCommand):
    """4.22"""

    spsm: U16
    source_cid: U16
    mtu: U16
    mps: U16
    initial_credits: U16


@command(SignalingCode.LE_CREDIT_BASED_CONNECTION_RESPONSE)
@attrs.frozen
class LeCreditBasedConnectionResponse(SignalingCommand):
    """4.23"""

    destination_cid: U16
    mtu: U16
    mps: U16
    initial_credits: U16
    result: U16


@command(SignalingCode.FLOW_CONTROL_CREDIT_IND)
@attrs.frozen
class FlowControlCreditInd(SignalingCommand):
    """4.24"""

    cid: U16
    credits: U16


@command(SignalingCode.CREDIT_BASED_CONNECTION_REQUEST)
@attrs.frozen
class CreditBasedConnectionRequest(SignalingCommand):
    """4.25: one to five source CIDs, so the data is 8 + 2n octets."""

    spsm: U16
    mtu: U16
    mps: U16
    initial_credits: U16
    source_cids: Annotated[tuple[int, ...], CIDS]


@command(SignalingCode.CREDIT_BASED_CONNECTION_RESPONSE)
@attrs.frozen
class CreditBasedConnectionResponse(SignalingCommand):
    """4.26: one destination CID per source CID of the request (0x0000 where refused)."""

    mtu: U16
    mps: U16
    initial_credits: U16
    result: U16
    destination_cids: Annotated[tuple[int, ...], RESPONSE_CIDS]


@command(SignalingCode.CREDIT_BASED_RECONFIGURE_REQUEST)
@attrs.frozen
class CreditBasedReconfigureRequest(SignalingCommand):
    """4.27"""

    mtu: U16
    mps: U16
    destination_cids: Annotated[tuple[int, ...], CIDS]


@command(SignalingCode.CREDIT_BASED_RECONFIGURE_RESPONSE)
@attrs.frozen
class CreditBasedReconfigureResponse(SignalingCommand):
    """4.28"""

    result: U16


# Commands a device sends only as a response (their identifier is the request's).
RESPONSE_CODES = frozenset(
    {
        SignalingCode.COMMAND_REJECT,
        SignalingCode.CONNECTION_RESPONSE,
        SignalingCode.CONFIGURATION_RESPONSE,
        SignalingCode.DISCONNECTION_RESPONSE,
        SignalingCode.ECHO_RESPONSE,
        SignalingCode.INFORMATION_RESPONSE,
        SignalingCode.CONNECTION_PARAMETER_UPDATE_RESPONSE,
        SignalingCode.LE_CREDIT_BASED_CONNECTION_RESPONSE,
        SignalingCode.CREDIT_BASED_CONNECTION_RESPONSE,
        SignalingCode.CREDIT_BASED_RECONFIGURE_RESPONSE,
    }
)

# Which signaling channel accepts which command (Vol 3 Part A 4, table 4.2).
BR_EDR_CODES = frozenset(
    {
        SignalingCode.COMMAND_REJECT,
        SignalingCode.CONNECTION_REQUEST,
        SignalingCode.CONNECTION_RESPONSE,
        SignalingCode.CONFIGURATION_REQUEST,
        SignalingCode.CONFIGURATION_RESPONSE,
        SignalingCode.DISCONNECTION_REQUEST,
        SignalingCode.DISCONNECTION_RESPONSE,
        SignalingCode.ECHO_REQUEST,
        SignalingCode.ECHO_RESPONSE,
        SignalingCode.INFORMATION_REQUEST,
        SignalingCode.INFORMATION_RESPONSE,
        SignalingCode.FLOW_CONTROL_CREDIT_IND,
        SignalingCode.CREDIT_BASED_CONNECTION_REQUEST,
        SignalingCode.CREDIT_BASED_CONNECTION_RESPONSE,
        SignalingCode.CREDIT_BASED_RECONFIGURE_REQUEST,
        SignalingCode.CREDIT_BASED_RECONFIGURE_RESPONSE,
    }
)
LE_CODES = frozenset(
    {
        SignalingCode.COMMAND_REJECT,
        SignalingCode.DISCONNECTION_REQUEST,
        SignalingCode.DISCONNECTION_RESPONSE,
        SignalingCode.CONNECTION_PARAMETER_UPDATE_REQUEST,
        SignalingCode.CONNECTION_PARAMETER_UPDATE_RESPONSE,
        SignalingCode.LE_CREDIT_BASED_CONNECTION_REQUEST,
        SignalingCode.LE_CREDIT_BASED_CONNECTION_RESPONSE,
        SignalingCode.FLOW_CONTROL_CREDIT_IND,
        SignalingCode.CREDIT_BASED_CONNECTION_REQUEST,
        SignalingCode.CREDIT_BASED_CONNECTION_RESPONSE,
        SignalingCode.CREDIT_BASED_RECONFIGURE_REQUEST,
        SignalingCode.CREDIT_BASED_RECONFIGURE_RESPONSE,
    }
)
