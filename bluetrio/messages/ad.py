"""Advertising and EIR data: typed AD structures (Core Supplement 11 Part A 1; Core 5.4
Vol 3 Part C 11 for the length-type-value layout shared by advertising, scan response and
Extended Inquiry Response data).

An :class:`AdvertisingData` is an ordered tuple of structures. Each structure class knows its
AD type(s) and validates its fields when built, so a user gets an
:class:`~bluetrio.errors.InvalidArgumentError` at construction time rather than a controller
error later. :meth:`AdvertisingData.decode` parses data received over the air and raises
:class:`~bluetrio.errors.DecodeError` on any malformed structure.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, ClassVar, TypeAlias

import attrs

from bluetrio.errors import DecodeError, InvalidArgumentError

# Capacity of the data fields (Vol 4 Part E 7.8.7: legacy 31 octets; Vol 6 Part B 2.3.4.9:
# extended advertising data up to 1650 octets; Vol 4 Part E 7.7.38: EIR 240 octets).
LEGACY_DATA_LIMIT = 31
EIR_DATA_LIMIT = 240
EXTENDED_DATA_LIMIT = 1650
_MAX_PAYLOAD = 254  # one length octet counts the type octet too

# Flags bits (Supplement Part A 1.3).
FLAG_LE_LIMITED_DISCOVERABLE = 0x01
FLAG_LE_GENERAL_DISCOVERABLE = 0x02
FLAG_BR_EDR_NOT_SUPPORTED = 0x04

# UUID sizes in octets → (incomplete list type, complete list type, service data type)
# (Assigned Numbers 2.3).
_UUID_TYPES: dict[int, tuple[int, int, int]] = {
    2: (0x02, 0x03, 0x16),
    4: (0x04, 0x05, 0x20),
    16: (0x06, 0x07, 0x21),
}
AD_SHORTENED_LOCAL_NAME = 0x08
AD_COMPLETE_LOCAL_NAME = 0x09
AD_FLAGS = 0x01
AD_TX_POWER_LEVEL = 0x0A
AD_APPEARANCE = 0x19
AD_MANUFACTURER_DATA = 0xFF


def _check_uuid_size(size: int) -> None:
    if size not in _UUID_TYPES:
        raise InvalidArgumentError(f"a UUID in advertising data has 2, 4 or 16 octets, not {size}")


def _check_uuid(uuid: int, size: int) -> None:
    if not 0 <= uuid < 1 << (8 * size):
        raise InvalidArgumentError(f"UUID 0x{uuid:X} does not fit in {size} octets")


def _check_payload(kind: str, payload: bytes) -> None:
    if len(payload) > _MAX_PAYLOAD:
        raise InvalidArgumentError(
            f"{kind} is {len(payload)} octets; one AD structure carries at most {_MAX_PAYLOAD}"
        )


@attrs.frozen
class Flags:
    """Discoverability and BR/EDR support bits (Supplement Part A 1.3)."""

    value: int

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.value <= 0xFF:
            raise InvalidArgumentError(f"flags are one octet, got {self.value!r}")

    def encode(self) -> tuple[int, bytes]:
        return AD_FLAGS, bytes([self.value])

    @classmethod
    def decode(cls, ad_type: int, payload: bytes) -> Flags:
        if len(payload) < 1:
            raise DecodeError("Flags AD structure is empty")
        # Extra octets are reserved for future flags (Supplement Part A 1.3.1); keep octet 0.
        return cls(payload[0])


@attrs.frozen
class LocalName:
    """Complete or shortened local name (Supplement Part A 1.2), UTF-8."""

    name: str
    complete: bool = True

    def __attrs_post_init__(self) -> None:
        _check_payload("local name", self.name.encode())

    def encode(self) -> tuple[int, bytes]:
        code = AD_COMPLETE_LOCAL_NAME if self.complete else AD_SHORTENED_LOCAL_NAME
        return code, self.name.encode()

    @classmethod
    def decode(cls, ad_type: int, payload: bytes) -> LocalName:
        # A name cut in the middle of a UTF-8 sequence is still worth showing.
        return cls(payload.decode("utf-8", "replace"), ad_type == AD_COMPLETE_LOCAL_NAME)


@attrs.frozen
class ServiceUuids:
    """A list of service UUIDs of one size, complete or incomplete (Supplement Part A 1.1)."""

    uuids: tuple[int, ...]
    size: int = 2
    complete: bool = True

    def __attrs_post_init__(self) -> None:
        _check_uuid_size(self.size)
        for uuid in self.uuids:
            _check_uuid(uuid, self.size)
        _check_payload("UUID list", bytes(self.size * len(self.uuids)))

    def encode(self) -> tuple[int, bytes]:
        incomplete, complete, _ = _UUID_TYPES[self.size]
        payload = b"".join(uuid.to_bytes(self.size, "little") for uuid in self.uuids)
        return (complete if self.complete else incomplete), payload

    @classmethod
    def decode(cls, ad_type: int, payload: bytes) -> ServiceUuids:
        size = next(size for size, codes in _UUID_TYPES.items() if ad_type in codes[:2])
        if len(payload) % size:
            raise DecodeError(f"UUID list of {len(payload)} octets is not a multiple of {size}")
        uuids = tuple(
            int.from_bytes(payload[i : i + size], "little") for i in range(0, len(payload), size)
        )
        return cls(uuids, size, ad_type == _UUID_TYPES[size][1])


@attrs.frozen
class ServiceData:
    """Data attached to one service UUID (Supplement Part A 1.11)."""

    uuid: int
    data: bytes = b""
    size: int = 2

    def __attrs_post_init__(self) -> None:
        _check_uuid_size(self.size)
        _check_uuid(self.uuid, self.size)
        _check_payload("service data", bytes(self.size) + self.data)

    def encode(self) -> tuple[int, bytes]:
        return _UUID_TYPES[self.size][2], self.uuid.to_bytes(self.size, "little") + self.data

    @classmethod
    def decode(cls, ad_type: int, payload: bytes) -> ServiceData:
        size = next(size for size, codes in _UUID_TYPES.items() if ad_type == codes[2])
        if len(payload) < size:
            raise DecodeError(f"service data of {len(payload)} octets lacks its {size}-octet UUID")
        return cls(int.from_bytes(payload[:size], "little"), payload[size:], size)


@attrs.frozen
class ManufacturerData:
    """Company identifier (Assigned Numbers) and opaque data (Supplement Part A 1.4)."""

    company: int
    data: bytes = b""

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.company <= 0xFFFF:
            raise InvalidArgumentError(f"a company identifier has 16 bits, got {self.company!r}")
        _check_payload("manufacturer data", b"\0\0" + self.data)

    def encode(self) -> tuple[int, bytes]:
        return AD_MANUFACTURER_DATA, self.company.to_bytes(2, "little") + self.data

    @classmethod
    def decode(cls, ad_type: int, payload: bytes) -> ManufacturerData:
        if len(payload) < 2:
            raise DecodeError("manufacturer data lacks its 2-octet company identifier")
        return cls(int.from_bytes(payload[:2], "little"), payload[2:])


@attrs.frozen
class TxPowerLevel:
    """Transmitted power in dBm, -127..127 (Supplement Part A 1.5)."""

    dbm: int

    def __attrs_post_init__(self) -> None:
        if not -127 <= self.dbm <= 127:
            raise InvalidArgumentError(f"TX power level is -127..127 dBm, got {self.dbm!r}")

    def encode(self) -> tuple[int, bytes]:
        return AD_TX_POWER_LEVEL, struct.pack("<b", self.dbm)

    @classmethod
    def decode(cls, ad_type: int, payload: bytes) -> TxPowerLevel:
        if len(payload) != 1:
            raise DecodeError(f"TX power level has 1 octet, got {len(payload)}")
        value = struct.unpack("<b", payload)[0]
        if value == -128:
            raise DecodeError("TX power level -128 is outside -127..127 dBm")
        return cls(value)


@attrs.frozen
class Appearance:
    """External appearance category (Supplement Part A 1.12; Assigned Numbers 2.6)."""

    value: int

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.value <= 0xFFFF:
            raise InvalidArgumentError(f"appearance has 16 bits, got {self.value!r}")

    def encode(self) -> tuple[int, bytes]:
        return AD_APPEARANCE, self.value.to_bytes(2, "little")

    @classmethod
    def decode(cls, ad_type: int, payload: bytes) -> Appearance:
        if len(payload) != 2:
            raise DecodeError(f"appearance has 2 octets, got {len(payload)}")
        return cls(int.from_bytes(payload, "little"))


@attrs.frozen
class RawAdStructure:
    """An AD type this module does not interpret, kept as received."""

    ad_type: int
    payload: bytes = b""

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.ad_type <= 0xFF:
            raise InvalidArgumentError(f"an AD type is one octet, got {self.ad_type!r}")
        _check_payload(f"AD type 0x{self.ad_type:02X}", self.payload)

    def encode(self) -> tuple[int, bytes]:
        return self.ad_type, self.payload

    @classmethod
    def decode(cls, ad_type: int, payload: bytes) -> RawAdStructure:
        return cls(ad_type, payload)


AdStructure: TypeAlias = (
    Flags | LocalName | ServiceUuids | ServiceData | ManufacturerData | TxPowerLevel | Appearance
    | RawAdStructure
)  # fmt: skip

_Decoder = Callable[[int, bytes], AdStructure]

# AD type → decoder; the table a reader checks against Assigned Numbers 2.3.
_DECODERS: dict[int, _Decoder] = {
    AD_FLAGS: Flags.decode,
    AD_SHORTENED_LOCAL_NAME: LocalName.decode,
    AD_COMPLETE_LOCAL_NAME: LocalName.decode,
    AD_TX_POWER_LEVEL: TxPowerLevel.decode,
    AD_APPEARANCE: Appearance.decode,
    AD_MANUFACTURER_DATA: ManufacturerData.decode,
    **{code: ServiceUuids.decode for codes in _UUID_TYPES.values() for code in codes[:2]},
    **{codes[2]: ServiceData.decode for codes in _UUID_TYPES.values()},
}


def _structures(value: Any) -> tuple[AdStructure, ...]:
    return tuple(value)


@attrs.frozen
class AdvertisingData:
    """An ordered sequence of AD structures."""

    structures: tuple[AdStructure, ...] = attrs.field(default=(), converter=_structures)

    EMPTY: ClassVar[AdvertisingData]

    def encode(self, limit: int = EXTENDED_DATA_LIMIT) -> bytes:
        """The wire form; raises InvalidArgumentError when it exceeds ``limit`` octets."""
        out = bytearray()
        for structure in self.structures:
            ad_type, payload = structure.encode()
            out += bytes([len(payload) + 1, ad_type]) + payload
        if len(out) > limit:
            raise InvalidArgumentError(
                f"advertising data is {len(out)} octets; this field holds at most {limit}"
            )
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> AdvertisingData:
        """Parse received data; a zero length octet ends it (EIR padding, Vol 3 Part C 8)."""
        structures: list[AdStructure] = []
        offset = 0
        while offset < len(data):
            length = data[offset]
            if length == 0:
                if any(data[offset:]):
                    raise DecodeError(f"non-zero octets after the terminator at {offset}")
                break
            end = offset + 1 + length
            if end > len(data):
                raise DecodeError(
                    f"AD structure at {offset} claims {length} octets, "
                    f"{len(data) - offset - 1} remain"
                )
            ad_type, payload = data[offset + 1], bytes(data[offset + 2 : end])
            decoder = _DECODERS.get(ad_type, RawAdStructure.decode)
            try:
                structures.append(decoder(ad_type, payload))
            except InvalidArgumentError as exc:
                raise DecodeError(f"AD type 0x{ad_type:02X}: {exc}") from None
            offset = end
        return cls(tuple(structures))

    def merged(self, other: AdvertisingData) -> AdvertisingData:
        """This data followed by ``other`` (advertising data + scan response)."""
        return AdvertisingData(self.structures + other.structures)

    # -- convenience views ------------------------------------------------------------------
    def _all(self, kind: type[Any]) -> list[Any]:
        return [s for s in self.structures if isinstance(s, kind)]

    @property
    def local_name(self) -> str | None:
        """The complete name if present, else the shortened one."""
        names = sorted(self._all(LocalName), key=lambda n: not n.complete)
        return names[0].name if names else None

    @property
    def flags(self) -> int | None:
        found = self._all(Flags)
        return found[0].value if found else None

    @property
    def service_uuids(self) -> tuple[int, ...]:
        """Every advertised service UUID (from lists and service data), in order, once."""
        seen: dict[int, None] = {}
        for structure in self.structures:
            if isinstance(structure, ServiceUuids):
                seen.update(dict.fromkeys(structure.uuids))
            elif isinstance(structure, ServiceData):
                seen[structure.uuid] = None
        return tuple(seen)

    @property
    def manufacturer_data(self) -> tuple[ManufacturerData, ...]:
        return tuple(self._all(ManufacturerData))

    @property
    def tx_power(self) -> int | None:
        found = self._all(TxPowerLevel)
        return found[0].dbm if found else None

    @property
    def appearance(self) -> int | None:
        found = self._all(Appearance)
        return found[0].value if found else None


AdvertisingData.EMPTY = AdvertisingData()


def format_uuid(uuid: int) -> str:
    """16/32-bit UUIDs as hex; 128-bit ones in the usual 8-4-4-4-12 form."""
    if uuid <= 0xFFFFFFFF:
        return f"0x{uuid:04X}"
    text = f"{uuid:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
