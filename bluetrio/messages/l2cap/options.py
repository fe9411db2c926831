"""Configuration options (Core 5.4 Vol 3 Part A 5.1-5.7).

An option is a type octet (bit 7: the option is a hint), a length octet and the value. The
decoder checks each option's length against what its type requires *before* reading the value,
and never reads past the option list: a peer's oversized Extended Flow Specification is how
BlueBorne (CVE-2017-1000251) overflowed a stack. Options of unknown types are kept as
:class:`UnknownOption` so the receiver can list the non-hints in an "unknown options" response
(Vol 3 Part A 4.5, result 0x0003) and skip the hints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import attrs

from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.fields import (
    U8,
    U16,
    U32,
    FieldCodec,
    WireStruct,
    compute_layout,
    decode_exactly,
)

HINT_BIT = 0x80
OPTION_HEADER_SIZE = 2


class ConfigOption(WireStruct):
    """A configuration option whose type this codec knows."""

    __slots__ = ()
    OPTION_TYPE: ClassVar[int]
    LENGTH: ClassVar[int]

    def to_bytes(self) -> bytes:
        value = self.encode_fields()
        return bytes((self.OPTION_TYPE, len(value))) + value


OPTION_CLASSES: dict[int, type[ConfigOption]] = {}
OptionT = TypeVar("OptionT", bound=ConfigOption)


def option(option_type: int, length: int) -> Any:
    """Register a known option with its type and the exact length of its value."""

    def register(cls: type[OptionT]) -> type[OptionT]:
        cls.LAYOUT = compute_layout(cls)
        cls.OPTION_TYPE = option_type
        cls.LENGTH = length
        if len(cls.example().encode_fields()) != length:
            raise TypeError(f"{cls.__name__} does not encode to {length} octets")
        OPTION_CLASSES[option_type] = cls
        return cls

    return register


@option(0x01, 2)
@attrs.frozen
class MtuOption(ConfigOption):
    """Maximum Transmission Unit the sender of the request can receive (5.1)."""

    mtu: U16


@option(0x02, 2)
@attrs.frozen
class FlushTimeoutOption(ConfigOption):
    """Flush timeout in milliseconds; 0x0001 no retransmission, 0xFFFF infinite (5.2)."""

    flush_timeout: U16


@option(0x03, 22)
@attrs.frozen
class QosOption(ConfigOption):
    """Quality of Service flow specification (5.3)."""

    flags: U8
    service_type: U8  # 0x00 no traffic, 0x01 best effort, 0x02 guaranteed
    token_rate: U32
    token_bucket_size: U32
    peak_bandwidth: U32
    latency: U32
    delay_variation: U32


@option(0x04, 9)
@attrs.frozen
class RetransmissionAndFlowControlOption(ConfigOption):
    """The channel's mode and its retransmission parameters (5.4)."""

    mode: U8  # ChannelMode
    tx_window_size: U8
    max_transmit: U8
    retransmission_timeout: U16  # milliseconds
    monitor_timeout: U16  # milliseconds
    maximum_pdu_size: U16


@option(0x05, 1)
@attrs.frozen
class FcsOption(ConfigOption):
    """Frame Check Sequence type: 0x00 none, 0x01 16-bit FCS (5.5)."""

    fcs_type: U8


@option(0x06, 16)
@attrs.frozen
class ExtendedFlowSpecOption(ConfigOption):
    """Extended Flow Specification (5.6)."""

    identifier: U8
    service_type: U8
    maximum_sdu_size: U16
    sdu_inter_arrival_time: U32
    access_latency: U32
    flush_timeout: U32


@option(0x07, 2)
@attrs.frozen
class ExtendedWindowSizeOption(ConfigOption):
    """Extended window size for ERTM and streaming mode, 1..0x3FFF (5.7)."""

    max_window_size: U16


@attrs.frozen
class UnknownOption:
    """An option of a type this codec does not know, kept whole.

    ``option_type`` excludes the hint bit; ``hint`` says whether the peer marked it a hint (a
    hint the receiver does not understand is skipped, Vol 3 Part A 5).
    """

    option_type: int
    value: bytes
    hint: bool = False

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.option_type < HINT_BIT:
            raise InvalidArgumentError(f"option type 0x{self.option_type:02X} is not 0..0x7F")
        if len(self.value) > 0xFF:
            raise InvalidArgumentError("an option value holds at most 255 octets")

    def to_bytes(self) -> bytes:
        kind = self.option_type | (HINT_BIT if self.hint else 0)
        return bytes((kind, len(self.value))) + self.value


AnyOption = ConfigOption | UnknownOption


def encode_options(options: tuple[AnyOption, ...]) -> bytes:
    return b"".join(item.to_bytes() for item in options)


def decode_options(data: bytes) -> tuple[AnyOption, ...]:
    """Every option in ``data``; DecodeError for a truncated option or a known option whose
    length is not its type's."""
    options: list[AnyOption] = []
    offset = 0
    while offset < len(data):
        if offset + OPTION_HEADER_SIZE > len(data):
            raise DecodeError(f"configuration option header truncated at offset {offset}")
        kind, length = data[offset], data[offset + 1]
        start = offset + OPTION_HEADER_SIZE
        end = start + length
        if end > len(data):
            raise DecodeError(
                f"configuration option 0x{kind:02X} claims {length} octets, "
                f"{len(data) - start} left"
            )
        option_type = kind & ~HINT_BIT
        cls = OPTION_CLASSES.get(option_type)
        if cls is None:
            options.append(UnknownOption(option_type, data[start:end], bool(kind & HINT_BIT)))
        elif length != cls.LENGTH:
            raise DecodeError(f"{cls.__name__} must be {cls.LENGTH} octets long, got {length}")
        else:
            options.append(decode_exactly(cls, cls.__name__, data[start:end]))
        offset = end
    return tuple(options)


def unknown_non_hints(options: tuple[AnyOption, ...]) -> tuple[UnknownOption, ...]:
    """The options a receiver must list in an "unknown options" response (Vol 3 Part A 4.5)."""
    return tuple(o for o in options if isinstance(o, UnknownOption) and not o.hint)


class OptionList(FieldCodec[tuple[AnyOption, ...]]):
    """The options that fill the rest of a Configuration Request or Response."""

    def encode(self, value: tuple[AnyOption, ...]) -> bytes:
        return encode_options(value)

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[tuple[AnyOption, ...], int]:
        return decode_options(data[offset:]), len(data)

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, tuple):
            return f"expected a tuple of options, got {type(value).__name__}"
        if not all(isinstance(item, (ConfigOption, UnknownOption)) for item in value):
            return "every entry must be a configuration option"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> tuple[AnyOption, ...]:
        classes = list(OPTION_CLASSES.values())
        chosen = classes[seed % len(classes)]
        return (MtuOption(672 + seed % 100), chosen.example(seed))
