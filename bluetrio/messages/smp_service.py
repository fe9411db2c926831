"""The service between the Security Manager (SMP, Core 5.4 Vol 3 Part H) and BTM.

BTM owns HCI, the security records of each link and the key database; SMP owns the pairing
protocol on the fixed channels 0x0006 (LE) and 0x0007 (BR/EDR). Directions:

* btm → SMP: :class:`SmpPairReq` (make an LE link meet a requirement, with the bond BTM
  holds for the peer), :class:`SmpPromptRsp` (the user's answer to a prompt),
  :class:`SmpKeypressReq` (a key the user pressed while typing a passkey),
  :class:`SmpBondRsp` (what BTM did with a bond), :class:`SmpBrEdrSecurityInd` (how a
  BR/EDR link is encrypted, for SMP over BR/EDR);
* SMP → btm (subclasses of :class:`~bluetrio.messages.btm_security.SecurityMessage`, which
  the BTM core hands to its security core): :class:`SmpPairCnf`, :class:`SmpPairingInd`
  (the peer started pairing), :class:`SmpBondInd` (a pairing produced keys to keep),
  :class:`SmpPromptReq` (ask the user, through BTM's prompt machinery);
* the encryption service SMP uses is in :mod:`bluetrio.messages.btm_security`
  (``LeEncryptReq``/``LeEncryptCnf``, ``LeResponderKeyReq``, ``LeEncryptionChangedInd``).
"""

from __future__ import annotations

import enum

import attrs

from bluetrio.address import Address
from bluetrio.bonds import Bond, LinkKey
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.base import Message
from bluetrio.messages.btm import Role, SecurityLevel
from bluetrio.messages.btm_security import (
    MAX_KEY_SIZE,
    MIN_KEY_SIZE,
    AssociationModel,
    PeerOobData,
    SecurityMessage,
    SecurityRequirement,
)
from bluetrio.messages.smp import KeypressType

# The HCI status (Vol 1 Part F 1.3) of a pairing that failed with an SMP Pairing Failed
# reason: Authentication Failure; the SMP reason travels alongside in ``smp_reason``.
PAIRING_FAILED_STATUS = 0x05
# The token of the SmpPairCnf with which SMP reports the end of a pairing the peer started
# (after SmpPairingInd): nobody asked for it, and BTM's own requests use tokens from 1.
PEER_STARTED_TOKEN = 0


def _check_bool(_instance: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{attribute.name} must be True or False")


def _check_key_size(_instance: object, _attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"min_key_size must be an int, got {value!r}")
    if not MIN_KEY_SIZE <= value <= MAX_KEY_SIZE:
        raise InvalidArgumentError(f"min_key_size is 7..16 octets, got {value}")


@attrs.frozen
class LeSecurityRequirement:
    """What an LE link must have: encrypted with a key from pairing (always), made with MITM
    protection (``mitm``), by LE Secure Connections (``secure_connections``), at least
    ``min_key_size`` octets long; ``bonding``: keep the keys (Bonding_Flags, Vol 3 Part H
    3.5.1). Both ``mitm`` and ``secure_connections`` make level 4, which also needs a
    16-octet key (Vol 3 Part C 10.2.1).
    """

    mitm: bool = attrs.field(default=False, validator=_check_bool)
    secure_connections: bool = attrs.field(default=False, validator=_check_bool)
    min_key_size: int = attrs.field(default=MIN_KEY_SIZE, validator=_check_key_size)
    bonding: bool = attrs.field(default=True, validator=_check_bool)

    @classmethod
    def from_requirement(cls, requirement: SecurityRequirement) -> LeSecurityRequirement:
        """The LE equivalent of a BR/EDR-style requirement (as L2CAP asks for a channel):
        authentication or encryption on LE both mean an encrypted link."""
        return cls(
            mitm=requirement.mitm,
            secure_connections=requirement.secure_connections,
            min_key_size=requirement.min_key_size,
        )

    @property
    def level(self) -> SecurityLevel:
        """The LE security mode 1 level asked for (Vol 3 Part C 10.2.1): LE encrypts only
        with a key from pairing, so every level asked for encrypts (level 1 asks nothing)."""
        if self.mitm and self.secure_connections:
            return SecurityLevel.SECURE_CONNECTIONS
        if self.mitm:
            return SecurityLevel.AUTHENTICATED
        return SecurityLevel.ENCRYPTED

    @property
    def effective_min_key_size(self) -> int:
        if self.level is SecurityLevel.SECURE_CONNECTIONS:
            return MAX_KEY_SIZE
        return self.min_key_size

    def shortfall(
        self, *, authenticated: bool, secure_connections: bool, key_size: int
    ) -> str | None:
        """Why keys of this kind do not meet the requirement, or None when they do."""
        if self.mitm and not authenticated:
            return "the key is not authenticated (no MITM protection)"
        if self.secure_connections and not secure_connections:
            return "the key is from LE legacy pairing, not Secure Connections"
        if key_size < self.effective_min_key_size:
            return f"the key has {key_size} octets, {self.effective_min_key_size} needed"
        return None

    def met_by_bond(self, bond: Bond) -> bool:
        return (
            self.shortfall(
                authenticated=bond.authenticated,
                secure_connections=bond.secure_connections,
                key_size=bond.key_size,
            )
            is None
        )


# -- btm → SMP ---------------------------------------------------------------------------------


@attrs.frozen
class SmpPairReq(Message):
    """Make LE link ``handle`` meet ``requirement``: as central, encrypt with ``bond``'s LTK
    when it is good enough, else pair; as peripheral, send a Security Request (Vol 3 Part H
    3.6.7) and let the central pair or encrypt. ``bond`` is what BTM holds for ``peer`` on
    LE (None when not bonded). Answered by :class:`SmpPairCnf` with the same ``token``.
    """

    token: int
    handle: int
    peer: Address
    role: Role
    requirement: LeSecurityRequirement
    bond: Bond | None = None


@attrs.frozen
class SmpPromptRsp(Message):
    """The user's answer to the open prompt of link ``handle`` (:class:`SmpPromptReq`):
    ``accepted`` False when declined or unanswered in time; ``passkey`` for Passkey Entry;
    ``oob`` for Secure Connections OOB (Vol 3 Part H 2.3.5.6.4) and ``oob_tk`` for legacy
    OOB (the 16-octet TK, 2.3.5.4)."""

    handle: int
    accepted: bool
    passkey: int | None = None
    oob: PeerOobData | None = None
    oob_tk: bytes | None = None


@attrs.frozen
class SmpKeypressReq(Message):
    """Our user pressed a key while typing the passkey that link ``handle``'s open Passkey
    Entry prompt asks for: SMP sends it to the peer as a Keypress Notification (Vol 3 Part H
    3.5.8) when both devices set the Keypress flag (3.5.1), and drops it otherwise."""

    handle: int
    kind: KeypressType


@attrs.frozen
class SmpBondRsp(Message):
    """What BTM did with the bond of :class:`SmpBondInd` on link ``handle``: ``accepted``
    (kept and sent to the key store) or refused, ``reason`` saying why (a stronger bond
    exists, or the identity collides with another bond's: CVE-2020-15802, CVE-2021-3436)."""

    handle: int
    peer: Address
    accepted: bool
    reason: str | None = None


@attrs.frozen
class SmpBrEdrSecurityInd(Message):
    """btm → SMP: BR/EDR link ``handle`` to ``peer`` was secured to btm's policy (after each
    authentication and encryption btm accepted), or its encryption went off (``link_key``
    None). ``link_key`` is the key the link is encrypted under when that is a Secure
    Connections key (P-256, key types 0x07/0x08) with AES-CCM, the only key SMP over BR/EDR
    may derive LE keys from (Vol 3 Part H 3.5.1, 2.4.2.5), else None; ``key_size`` the
    encryption key size; ``bonded`` the key is kept as a bond (keys derived from it are kept
    too); ``paired`` a pairing made the key just now (not a stored key)."""

    handle: int
    peer: Address
    link_key: LinkKey | None
    key_size: int | None = None
    bonded: bool = False
    paired: bool = False


# -- SMP → btm ---------------------------------------------------------------------------------


@attrs.frozen
class SmpPairCnf(SecurityMessage):
    """Outcome of :class:`SmpPairReq`.

    ``status`` is an HCI status (0 = the link meets the requirement); a pairing that failed
    with an SMP reason (Vol 3 Part H 3.5.5) has status :data:`PAIRING_FAILED_STATUS` and the
    reason in ``smp_reason``. On success ``bond`` holds the keys the link is now encrypted
    with (the new pairing's, stored or not, or the stored bond used when
    ``used_stored_key``), ``model`` the association model when pairing ran, ``key_size``
    the encryption key size. A pairing the peer started ends with one too, with token
    :data:`PEER_STARTED_TOKEN`, so BTM learns the strength of the new key.
    """

    token: int
    handle: int
    status: int
    model: AssociationModel | None = None
    bond: Bond | None = None
    used_stored_key: bool = False
    key_size: int | None = None
    error: str | None = None
    smp_reason: int | None = None


@attrs.frozen
class SmpPairingInd(SecurityMessage):
    """The peer started pairing on link ``handle``: a Pairing Request reached us as
    peripheral (SMP answers it; BTM records that pairing runs), or a Security Request
    reached us as central (``security_request``; BTM answers with :class:`SmpPairReq`,
    with the bond it holds, so the central encrypts or pairs, Vol 3 Part H 2.4.6).
    ``requirement`` is what the peer's AuthReq asks for."""

    handle: int
    peer: Address
    requirement: LeSecurityRequirement
    security_request: bool = False


@attrs.frozen
class SmpBondInd(SecurityMessage):
    """A completed pairing with bonding on link ``handle`` produced ``bond``; BTM checks it
    (never a weaker bond over a stronger one, no identity colliding with another bond),
    keeps it, sends it to the key store and answers :class:`SmpBondRsp`. ``link_peer`` is
    who the LE link's peer was to BTM when it came up (``AclLink.peer``): the checks need it
    when the peer disconnected right after the last key, before this reached BTM (None: the
    link's own record names it, as for a bond derived over BR/EDR)."""

    handle: int
    bond: Bond
    link_peer: Address | None = None


class SmpPromptKind(enum.Enum):
    """What SMP needs from the user (Vol 3 Part H 2.3.5)."""

    ACCEPT = "accept"  # Just Works: pair at all? (no number)
    CONFIRM_NUMBER = "confirm number"  # Numeric Comparison: same six digits on both?
    ENTER_PASSKEY = "enter passkey"  # Passkey Entry: type what the peer shows
    DISPLAY_PASSKEY = "display passkey"  # Passkey Entry: show this; no answer expected
    OOB = "oob"  # out-of-band data received from the peer


@attrs.frozen
class SmpPromptReq(SecurityMessage):
    """Ask the user about pairing on link ``handle``; answered by :class:`SmpPromptRsp`
    (except ``DISPLAY_PASSKEY``). ``number`` is the value to compare (CONFIRM_NUMBER) or to
    show (DISPLAY_PASSKEY). ``model`` is the association model, handed to the delegate so
    it knows what it does (method confusion). ``keypresses`` (ENTER_PASSKEY): both devices
    set the Keypress flag (Vol 3 Part H 3.5.1), so the keys the user presses meanwhile go
    to the peer (:class:`SmpKeypressReq`)."""

    handle: int
    peer: Address
    kind: SmpPromptKind
    model: AssociationModel
    number: int | None = None
    keypresses: bool = False


@attrs.frozen
class SmpKeypressInd(SecurityMessage):
    """SMP → btm: the peer on link ``handle`` sent a Keypress Notification (Vol 3 Part H
    3.5.8) while its user types the passkey; btm tells the user (:class:`KeypressInd`)."""

    handle: int
    peer: Address
    kind: KeypressType


@attrs.frozen
class KeypressInd(SecurityMessage):
    """btm → app: the user of ``peer`` pressed a key while typing the passkey (LE Keypress
    Notification, Vol 3 Part H 3.5.8; BR/EDR HCI_Keypress_Notification, Vol 4 Part E 7.7.49)."""

    peer: Address
    kind: KeypressType


@attrs.frozen
class KeypressReq(SecurityMessage):
    """app → btm: the user pressed a key while typing the passkey that prompt ``prompt_id``
    asks for (a :class:`~bluetrio.messages.btm_security.PasskeyEntryInd` with
    ``keypresses``); btm hands it to SMP for the prompt's link (:class:`SmpKeypressReq`)."""

    prompt_id: int
    kind: KeypressType


# What the security service emits to the application beyond btm_security.INDICATIONS.
APP_INDICATIONS: tuple[type[SecurityMessage], ...] = (KeypressInd,)
