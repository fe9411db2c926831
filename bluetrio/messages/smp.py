"""Security Manager Protocol PDUs (Core 5.4 Vol 3 Part H 3.3, 3.5, 3.6).

An SMP PDU is a one-octet code followed by data whose length the code fixes (3.3, figure 3.1;
each command's figure in 3.5 and 3.6). :func:`split_pdu` reads the code without interpreting
the data, so the receiver can check the code's range and the allowed set of its phase before
the length (the order a receiver applies its checks in; 3.3 and 3.4); :func:`decode_pdu` then
reads the typed PDU, checking the length exactly and every enumerated value before it becomes
an enum.

Multi-octet values (keys, random numbers, coordinates, EDIV, Rand) are kept in wire order
(little-endian) in these classes; the pairing core reverses them for :mod:`bluetrio.crypto`,
which works in the specification's printed order.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

import attrs

from bluetrio.address import Address, AddressType
from bluetrio.errors import DecodeError, InvalidArgumentError, SmpDecodeError
from bluetrio.messages.btm_security import IoCapability
from bluetrio.messages.fields import (
    U16,
    Bytes8,
    FieldCodec,
    FixedBytes,
    Key16,
    UInt,
    WireStruct,
    _take,
    compute_layout,
    decode_exactly,
)

__all__ = [
    "MAX_ENCRYPTION_KEY_SIZE",
    "MIN_ENCRYPTION_KEY_SIZE",
    "AuthReq",
    "BondingFlag",
    "CentralIdentification",
    "DhKeyCheck",
    "EncryptionInformation",
    "IdentityAddressInformation",
    "IdentityInformation",
    "KeyDistributionFlags",
    "KeypressNotification",
    "KeypressType",
    "OobDataFlag",
    "PairingConfirm",
    "PairingFailed",
    "PairingFailedReason",
    "PairingPublicKey",
    "PairingRandom",
    "PairingRequest",
    "PairingResponse",
    "SecurityRequest",
    "SigningInformation",
    "SmpCode",
    "SmpDecodeError",
    "SmpPdu",
    "decode_pdu",
    "pdu_length",
    "split_pdu",
]

# Encryption key sizes range from 7 to 16 octets (Vol 3 Part H 2.3.4, 3.5.1).
MIN_ENCRYPTION_KEY_SIZE = 7
MAX_ENCRYPTION_KEY_SIZE = 16


class SmpCode(enum.IntEnum):
    """SMP command codes (Vol 3 Part H 3.3, table 3.3)."""

    PAIRING_REQUEST = 0x01
    PAIRING_RESPONSE = 0x02
    PAIRING_CONFIRM = 0x03
    PAIRING_RANDOM = 0x04
    PAIRING_FAILED = 0x05
    ENCRYPTION_INFORMATION = 0x06
    CENTRAL_IDENTIFICATION = 0x07
    IDENTITY_INFORMATION = 0x08
    IDENTITY_ADDRESS_INFORMATION = 0x09
    SIGNING_INFORMATION = 0x0A
    SECURITY_REQUEST = 0x0B
    PAIRING_PUBLIC_KEY = 0x0C
    PAIRING_DHKEY_CHECK = 0x0D
    PAIRING_KEYPRESS_NOTIFICATION = 0x0E


class PairingFailedReason(enum.IntEnum):
    """Pairing Failed reason codes (Vol 3 Part H 3.5.5, table 3.7)."""

    PASSKEY_ENTRY_FAILED = 0x01
    OOB_NOT_AVAILABLE = 0x02
    AUTHENTICATION_REQUIREMENTS = 0x03
    CONFIRM_VALUE_FAILED = 0x04
    PAIRING_NOT_SUPPORTED = 0x05
    ENCRYPTION_KEY_SIZE = 0x06
    COMMAND_NOT_SUPPORTED = 0x07
    UNSPECIFIED_REASON = 0x08
    REPEATED_ATTEMPTS = 0x09
    INVALID_PARAMETERS = 0x0A
    DHKEY_CHECK_FAILED = 0x0B
    NUMERIC_COMPARISON_FAILED = 0x0C
    BR_EDR_PAIRING_IN_PROGRESS = 0x0D
    CROSS_TRANSPORT_KEY_NOT_ALLOWED = 0x0E
    KEY_REJECTED = 0x0F


class OobDataFlag(enum.IntEnum):
    """OOB data flag (Vol 3 Part H 3.5.1, table 3.5)."""

    NOT_PRESENT = 0x00
    PRESENT = 0x01


class BondingFlag(enum.IntEnum):
    """The Bonding_Flags of AuthReq (Vol 3 Part H 3.5.1, table 3.6)."""

    NO_BONDING = 0b00
    BONDING = 0b01


class KeypressType(enum.IntEnum):
    """Notification types of the Keypress Notification (Vol 3 Part H 3.5.8, table 3.8)."""

    ENTRY_STARTED = 0x00
    DIGIT_ENTERED = 0x01
    DIGIT_ERASED = 0x02
    CLEARED = 0x03
    ENTRY_COMPLETED = 0x04


@attrs.frozen(slots=True)
class AuthReq:
    """The AuthReq octet (Vol 3 Part H 3.5.1, figure 3.3).

    The reserved bits 6-7 are sent as zero and ignored on receipt (Vol 3 Part H 3.5.1).
    """

    bonding: BondingFlag = BondingFlag.NO_BONDING
    mitm: bool = False
    secure_connections: bool = False
    keypress: bool = False
    ct2: bool = False

    def to_octet(self) -> int:
        return (
            int(self.bonding)
            | self.mitm << 2
            | self.secure_connections << 3
            | self.keypress << 4
            | self.ct2 << 5
        )

    @classmethod
    def from_octet(cls, value: int) -> AuthReq:
        bonding = value & 0b11
        if bonding not in BondingFlag._value2member_map_:
            raise SmpDecodeError(
                f"reserved Bonding_Flags 0b{bonding:02b} in AuthReq",
                PairingFailedReason.INVALID_PARAMETERS,
            )
        return cls(
            BondingFlag(bonding),
            bool(value & 0x04),
            bool(value & 0x08),
            bool(value & 0x10),
            bool(value & 0x20),
        )


@attrs.frozen(slots=True)
class KeyDistributionFlags:
    """Initiator/Responder Key Distribution (Vol 3 Part H 3.6.1, figure 3.11).

    The reserved bits 4-7 are ignored on receipt and never set.
    """

    enc_key: bool = False
    id_key: bool = False
    sign_key: bool = False
    link_key: bool = False

    def to_octet(self) -> int:
        return self.enc_key | self.id_key << 1 | self.sign_key << 2 | self.link_key << 3

    @classmethod
    def from_octet(cls, value: int) -> KeyDistributionFlags:
        return cls(bool(value & 1), bool(value & 2), bool(value & 4), bool(value & 8))

    def __and__(self, other: KeyDistributionFlags) -> KeyDistributionFlags:
        return KeyDistributionFlags.from_octet(self.to_octet() & other.to_octet())

    @property
    def empty(self) -> bool:
        return self.to_octet() == 0


E = TypeVar("E", bound=enum.IntEnum)


class EnumOctet(FieldCodec[E], Generic[E]):
    """One octet that must be a member of ``enum_type``; anything else is Invalid Parameters."""

    def __init__(self, enum_type: type[E]) -> None:
        self.enum_type = enum_type

    def encode(self, value: E) -> bytes:
        return bytes((int(value),))

    def decode(self, data: bytes, offset: int, decoded: Mapping[str, object]) -> tuple[E, int]:
        end = _take(data, offset, 1)
        raw = data[offset]
        if raw not in self.enum_type._value2member_map_:
            raise SmpDecodeError(
                f"0x{raw:02X} is not a {self.enum_type.__name__}",
                PairingFailedReason.INVALID_PARAMETERS,
            )
        return self.enum_type(raw), end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, self.enum_type):
            return f"expected a {self.enum_type.__name__}, got {value!r}"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> E:
        members = list(self.enum_type)
        return members[seed % len(members)]


class AuthReqOctet(FieldCodec[AuthReq]):
    def encode(self, value: AuthReq) -> bytes:
        return bytes((value.to_octet(),))

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[AuthReq, int]:
        end = _take(data, offset, 1)
        return AuthReq.from_octet(data[offset]), end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        return None if isinstance(value, AuthReq) else f"expected AuthReq, got {value!r}"

    def example(self, seed: int, fields: Mapping[str, object]) -> AuthReq:
        return AuthReq.from_octet((seed * 37) & 0x3D)


class KeyDistributionOctet(FieldCodec[KeyDistributionFlags]):
    def encode(self, value: KeyDistributionFlags) -> bytes:
        return bytes((value.to_octet(),))

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[KeyDistributionFlags, int]:
        end = _take(data, offset, 1)
        return KeyDistributionFlags.from_octet(data[offset]), end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if isinstance(value, KeyDistributionFlags):
            return None
        return f"expected KeyDistributionFlags, got {value!r}"

    def example(self, seed: int, fields: Mapping[str, object]) -> KeyDistributionFlags:
        return KeyDistributionFlags.from_octet(seed % 16)


class MaxKeySize(UInt):
    """Maximum Encryption Key Size, 7 to 16 octets (3.5.1). A value outside that range is
    decoded as it is, so the core can answer it with Encryption Key Size (3.5.1: a size
    the device cannot meet fails with that reason)."""

    def __init__(self) -> None:
        super().__init__(1)


class IdentityAddress(FieldCodec[Address]):
    """AddrType (0x00 public, 0x01 static random) and BD_ADDR (Vol 3 Part H 3.6.5)."""

    def encode(self, value: Address) -> bytes:
        return bytes((1 if value.is_random else 0,)) + value.value

    def decode(
        self, data: bytes, offset: int, decoded: Mapping[str, object]
    ) -> tuple[Address, int]:
        end = _take(data, offset, 7)
        kind = data[offset]
        if kind not in (0x00, 0x01):
            raise SmpDecodeError(
                f"identity address type 0x{kind:02X} is reserved",
                PairingFailedReason.INVALID_PARAMETERS,
            )
        return Address(data[offset + 1 : end], AddressType(kind)), end

    def problem(self, value: object, fields: Mapping[str, object]) -> str | None:
        if not isinstance(value, Address):
            return f"expected Address, got {value!r}"
        if value.type not in (AddressType.PUBLIC, AddressType.RANDOM):
            return f"an identity address is public or static random, got {value.type.name}"
        return None

    def example(self, seed: int, fields: Mapping[str, object]) -> Address:
        return Address(bytes((seed + i) % 256 for i in range(6)), AddressType(seed % 2))


class SmpPdu(WireStruct):
    """An SMP command's data; its code is ``CODE``."""

    __slots__ = ()
    CODE: ClassVar[SmpCode]

    def to_bytes(self) -> bytes:
        """The whole PDU: code and data (Vol 3 Part H 3.3)."""
        return bytes((self.CODE,)) + self.encode_fields()

    @classmethod
    def from_data(cls, data: bytes) -> Self:
        return decode_exactly(cls, cls.__name__, data)


PDU_CLASSES: dict[int, type[SmpPdu]] = {}
_LENGTHS: dict[int, int] = {}
P = TypeVar("P", bound=SmpPdu)


def pdu(code: SmpCode) -> Any:
    """Register a PDU class under its code (apply above ``@attrs.frozen``)."""

    def register(cls: type[P]) -> type[P]:
        cls.LAYOUT = compute_layout(cls)
        cls.CODE = code
        PDU_CLASSES[int(code)] = cls
        _LENGTHS[int(code)] = len(cls.example().encode_fields())
        return cls

    return register


Coordinate = Annotated[bytes, FixedBytes(32)]
IoCapabilityOctet = Annotated[IoCapability, EnumOctet(IoCapability)]
OobOctet = Annotated[OobDataFlag, EnumOctet(OobDataFlag)]
AuthReqField = Annotated[AuthReq, AuthReqOctet()]
KeySizeOctet = Annotated[int, MaxKeySize()]
KeyDistributionField = Annotated[KeyDistributionFlags, KeyDistributionOctet()]


class PairingFeatures(SmpPdu):
    """The six octets Pairing Request and Pairing Response share (3.5.1, 3.5.2)."""

    __slots__ = ()
    io_capability: IoCapability
    oob_data_flag: OobDataFlag
    auth_req: AuthReq
    max_key_size: int
    initiator_key_distribution: KeyDistributionFlags
    responder_key_distribution: KeyDistributionFlags

    def io_cap_octets(self) -> bytes:
        """AuthReq || OOB data flag || IO capability, MSB first, as f6 takes them (2.2.8)."""
        return bytes((self.auth_req.to_octet(), self.oob_data_flag, self.io_capability))


@pdu(SmpCode.PAIRING_REQUEST)
@attrs.frozen
class PairingRequest(PairingFeatures):
    """3.5.1."""

    io_capability: IoCapabilityOctet
    oob_data_flag: OobOctet
    auth_req: AuthReqField
    max_key_size: KeySizeOctet
    initiator_key_distribution: KeyDistributionField
    responder_key_distribution: KeyDistributionField


@pdu(SmpCode.PAIRING_RESPONSE)
@attrs.frozen
class PairingResponse(PairingFeatures):
    """3.5.2."""

    io_capability: IoCapabilityOctet
    oob_data_flag: OobOctet
    auth_req: AuthReqField
    max_key_size: KeySizeOctet
    initiator_key_distribution: KeyDistributionField
    responder_key_distribution: KeyDistributionField


@pdu(SmpCode.PAIRING_CONFIRM)
@attrs.frozen
class PairingConfirm(SmpPdu):
    """3.5.3: Mconfirm or Sconfirm."""

    confirm_value: Key16


@pdu(SmpCode.PAIRING_RANDOM)
@attrs.frozen
class PairingRandom(SmpPdu):
    """3.5.4: Mrand or Srand."""

    random_value: Key16


@pdu(SmpCode.PAIRING_FAILED)
@attrs.frozen
class PairingFailed(SmpPdu):
    """3.5.5."""

    reason: Annotated[PairingFailedReason, EnumOctet(PairingFailedReason)]


@pdu(SmpCode.PAIRING_PUBLIC_KEY)
@attrs.frozen
class PairingPublicKey(SmpPdu):
    """3.5.6: the P-256 public key, X then Y, each little-endian."""

    public_key_x: Coordinate
    public_key_y: Coordinate


@pdu(SmpCode.PAIRING_DHKEY_CHECK)
@attrs.frozen
class DhKeyCheck(SmpPdu):
    """3.5.7: Ea or Eb."""

    check: Key16


@pdu(SmpCode.PAIRING_KEYPRESS_NOTIFICATION)
@attrs.frozen
class KeypressNotification(SmpPdu):
    """3.5.8."""

    notification_type: Annotated[KeypressType, EnumOctet(KeypressType)]


@pdu(SmpCode.ENCRYPTION_INFORMATION)
@attrs.frozen
class EncryptionInformation(SmpPdu):
    """3.6.2: the LTK of legacy pairing."""

    long_term_key: Key16


@pdu(SmpCode.CENTRAL_IDENTIFICATION)
@attrs.frozen
class CentralIdentification(SmpPdu):
    """3.6.3: EDIV and Rand that identify the LTK."""

    ediv: U16
    rand: Bytes8


@pdu(SmpCode.IDENTITY_INFORMATION)
@attrs.frozen
class IdentityInformation(SmpPdu):
    """3.6.4: the IRK."""

    identity_resolving_key: Key16


@pdu(SmpCode.IDENTITY_ADDRESS_INFORMATION)
@attrs.frozen
class IdentityAddressInformation(SmpPdu):
    """3.6.5."""

    address: Annotated[Address, IdentityAddress()]


@pdu(SmpCode.SIGNING_INFORMATION)
@attrs.frozen
class SigningInformation(SmpPdu):
    """3.6.6: the CSRK."""

    signature_key: Key16


@pdu(SmpCode.SECURITY_REQUEST)
@attrs.frozen
class SecurityRequest(SmpPdu):
    """3.6.7."""

    auth_req: AuthReqField


def pdu_length(code: int) -> int | None:
    """The data length ``code`` fixes (after the code octet), or None for an unknown code."""
    return _LENGTHS.get(code)


def split_pdu(payload: bytes) -> tuple[int, bytes]:
    """The code and the data of a received PDU (3.3), without interpreting the data.

    An empty payload carries no code at all, which is Invalid Parameters.
    """
    if not payload:
        raise SmpDecodeError("an empty SMP PDU", PairingFailedReason.INVALID_PARAMETERS)
    return payload[0], bytes(payload[1:])


def decode_pdu(payload: bytes) -> SmpPdu:
    """The typed PDU of ``payload``.

    An unknown code is Command Not Supported (3.3); data whose length differs from the one its
    code fixes, or a value the spec reserves, is Invalid Parameters (3.5.5).
    """
    code, data = split_pdu(payload)
    cls = PDU_CLASSES.get(code)
    if cls is None:
        raise SmpDecodeError(
            f"unknown SMP code 0x{code:02X}", PairingFailedReason.COMMAND_NOT_SUPPORTED
        )
    if len(data) != _LENGTHS[code]:
        raise SmpDecodeError(
            f"{cls.__name__} carries {len(data)} octets, its code fixes {_LENGTHS[code]}",
            PairingFailedReason.INVALID_PARAMETERS,
        )
    try:
        return cls.from_data(data)
    except SmpDecodeError:
        raise
    except (DecodeError, InvalidArgumentError) as error:
        raise SmpDecodeError(str(error), PairingFailedReason.INVALID_PARAMETERS) from None
