"""The rules of BR/EDR security: which keys, encryption modes and key sizes a link may use,
and what we ask for in Secure Simple Pairing. Pure functions; the attacks each rule stops:

* Pairing started by a peer is refused (0x18 Pairing Not Allowed) unless the stack is
  pairable (Vol 3 Part C 4.3); pairing the application asked for is always allowed.
* A link key is used only when it came from a completed Secure Simple Pairing or from a bond;
  PIN (legacy) pairing and debug keys are refused. Encryption on a link with no such key
  disconnects it.
* After every encryption the key size is checked against ``min_encryption_key_size``
  (KNOB, CVE-2019-9506) and the link disconnected when shorter.
* Secure Connections Only mode (Vol 3 Part C 5.2.2.8): only authenticated P-256 keys and
  AES-CCM encryption; Just Works is declined.
* A new key weaker than the bond (unauthenticated over authenticated, P-192 over
  Secure Connections) is not stored and the link is disconnected (BIAS CVE-2020-10135,
  BLURtooth CVE-2020-15802). A Secure Connections key must be used with AES-CCM; a link
  encrypted with E0 under it is a downgrade and is disconnected.
* Mutual authentication (BIAS role switch): legacy authentication proves only the side that
  answers the challenge; a peer that authenticated and encrypted the link itself with a key
  that is not a Secure Connections key (whose AES-CCM authentication is mutual, Vol 2 Part C
  4.2.1.4) is challenged in turn before the link counts as secured.
"""

from __future__ import annotations

import enum

import attrs

from bluetrio.address import Address, AddressType
from bluetrio.bonds import BondStrength, LinkKey, LinkKeyType
from bluetrio.messages.btm_security import (
    MAX_KEY_SIZE,
    AssociationModel,
    IoCapability,
    SecurityRequirement,
)

# HCI status and reason codes (Vol 1 Part F 1.3).
SUCCESS = 0x00
UNKNOWN_CONNECTION = 0x02
AUTHENTICATION_FAILURE = 0x05
PIN_OR_KEY_MISSING = 0x06
PAIRING_NOT_ALLOWED = 0x18
UNSPECIFIED_ERROR = 0x1F
INSUFFICIENT_SECURITY = 0x2F

# Authentication_Requirements (Vol 4 Part E 7.1.29): bit 0 is MITM protection required.
MITM_REQUIRED = 0x01
NO_BONDING = 0x00
DEDICATED_BONDING = 0x02
GENERAL_BONDING = 0x04

# Keys Secure Simple Pairing produces (Vol 4 Part E 7.7.24); the others come from PIN
# pairing, unit keys or debug mode (Vol 2 Part H 7.6) and are never used.
SSP_KEY_TYPES = frozenset(
    {
        LinkKeyType.UNAUTHENTICATED_P192,
        LinkKeyType.AUTHENTICATED_P192,
        LinkKeyType.UNAUTHENTICATED_P256,
        LinkKeyType.AUTHENTICATED_P256,
    }
)


class EncryptionMode(enum.IntEnum):
    """Encryption_Enabled of Encryption_Change (Vol 4 Part E 7.7.8)."""

    OFF = 0x00
    E0 = 0x01  # E0 on BR/EDR (AES-CCM on LE)
    AES_CCM = 0x02  # AES-CCM on BR/EDR

    @classmethod
    def from_wire(cls, value: int) -> EncryptionMode | None:
        """The mode, or None for a value the spec reserves."""
        try:
            return cls(value)
        except ValueError:
            return None


def peer_key(address: Address) -> Address:
    """BR/EDR addresses are public (Vol 2 Part B 1.2); events and bonds may type them apart."""
    return address.with_type(AddressType.PUBLIC)


def key_strength(key: LinkKey) -> BondStrength:
    return BondStrength(key.type.is_authenticated, key.type.is_secure_connections, MAX_KEY_SIZE)


def association_model(
    local_io: int, local_auth: int, peer_io: int, peer_auth: int
) -> AssociationModel:
    """The model a User_Confirmation_Request stands for (Vol 3 Part C Table 5.7).

    Only two DisplayYesNo devices compare numbers, and only when one side asked for MITM
    protection (Vol 2 Part H 7.1); every other confirmation request is Just Works.
    """
    mitm = bool((local_auth | peer_auth) & MITM_REQUIRED)
    both_yes_no = local_io == peer_io == IoCapability.DISPLAY_YES_NO
    return (
        AssociationModel.NUMERIC_COMPARISON if mitm and both_yes_no else AssociationModel.JUST_WORKS
    )


def local_authentication_requirements(
    io_capability: IoCapability,
    *,
    secure_connections_only: bool,
    locally_requested: bool,
    peer_auth: int | None,
) -> int:
    """Our Authentication_Requirements for IO_Capability_Request_Reply (7.1.29).

    MITM protection whenever our IO can give it (and always in SC-only mode); dedicated
    bonding when our side asked to pair, no bonding to a peer that does not bond, else
    general bonding.
    """
    mitm = secure_connections_only or io_capability is not IoCapability.NO_INPUT_NO_OUTPUT
    if locally_requested:
        bonding = DEDICATED_BONDING
    elif peer_auth is not None and peer_auth < DEDICATED_BONDING:
        bonding = NO_BONDING  # answer a non-bonding peer in kind
    else:
        bonding = GENERAL_BONDING
    return bonding | (MITM_REQUIRED if mitm else 0)


def both_bond(local_auth: int | None, peer_auth: int | None) -> bool:
    """Both sides asked to bond (Authentication_Requirements above 0x01, 7.1.29)."""
    local = local_auth if local_auth is not None else GENERAL_BONDING
    peer = peer_auth if peer_auth is not None else GENERAL_BONDING
    return local >= DEDICATED_BONDING and peer >= DEDICATED_BONDING


def usable_stored_key(key: LinkKey | None, *, secure_connections_only: bool) -> LinkKey | None:
    """The bond's key if policy lets a Link_Key_Request_Reply use it (Vol 3 Part C 5.2.2.8)."""
    if (
        key is not None
        and secure_connections_only
        and key.type is not (LinkKeyType.AUTHENTICATED_P256)
    ):
        return None
    return key


def new_key_refusal(
    key: LinkKey, previous: LinkKey | None, *, secure_connections_only: bool
) -> tuple[str, bool] | None:
    """Why a notified key must not be used: (reason, whether it is weaker than the bond)."""
    if secure_connections_only and key.type is not LinkKeyType.AUTHENTICATED_P256:
        return f"Secure Connections Only mode refuses a {key.type.name} key", False
    if previous is not None:
        shortfalls = key_strength(key).shortfalls(key_strength(previous))
        if shortfalls:
            return "; ".join(shortfalls), True
    return None


def encryption_refusal(
    key_type: LinkKeyType | None, mode: EncryptionMode, *, secure_connections_only: bool
) -> str | None:
    """Why a link encrypted in ``mode`` under ``key_type`` cannot be trusted, if it cannot."""
    if key_type is None:
        return "encrypted with a key that no completed pairing or bond produced"
    aes_ccm = mode is EncryptionMode.AES_CCM
    if secure_connections_only and not (aes_ccm and key_type is LinkKeyType.AUTHENTICATED_P256):
        return (
            f"Secure Connections Only mode refuses {key_type.name} keys and "
            f"encryption mode 0x{mode:02X}"
        )
    if key_type.is_secure_connections and not aes_ccm:
        return "a Secure Connections key used without AES-CCM (downgrade, BIAS)"
    return None


def key_size_refusal(key_size: int, minimum: int) -> str | None:
    if key_size < minimum:
        return (
            f"encryption key size {key_size} is below the minimum of {minimum} octets "
            "(KNOB, CVE-2019-9506)"
        )
    return None


@attrs.frozen
class AchievedSecurity:
    """What a secured link offers, to hold against a :class:`SecurityRequirement`."""

    key_type: LinkKeyType
    mode: EncryptionMode
    key_size: int

    def shortfalls(self, requirement: SecurityRequirement) -> list[str]:
        missing = []
        if requirement.mitm and not self.key_type.is_authenticated:
            missing.append("MITM protection (an authenticated key)")
        if requirement.secure_connections and not (
            self.key_type.is_secure_connections and self.mode is EncryptionMode.AES_CCM
        ):
            missing.append("Secure Connections (a P-256 key with AES-CCM)")
        if self.key_size < requirement.min_key_size:
            missing.append(f"a key of {requirement.min_key_size} octets (have {self.key_size})")
        return missing
