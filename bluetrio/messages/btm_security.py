"""Messages of BR/EDR security: pairing prompts, bonds, and the app's pairing requests.

Every class here derives from :class:`SecurityMessage`; the BTM core forwards those to its
security core (``bluetrio.actors.btm.security``). Directions:

* app → btm: :class:`SecurityServiceReq` (once, when the app-side pairing service starts:
  the bonds loaded from the key store, the delegate's IO capability), :class:`PairReq`,
  the ``...Rsp`` answers to prompts, :class:`StoreBondRsp`;
* btm → app: :class:`PairCnf`, prompts (:class:`UserConfirmInd`, :class:`PasskeyEntryInd`,
  :class:`OobDataInd`), :class:`PasskeyDisplayInd`, :class:`PromptCancelledInd`,
  :class:`StoreBondReq`, :class:`LinkSecuredInd`, :class:`BondRefusedInd`;
* any layer → btm → that layer: :class:`LinkSecurityReq` / :class:`LinkSecurityCnf`, "make
  this link meet this :class:`SecurityRequirement`" (what L2CAP asks before opening a
  channel to a protected service, Vol 3 Part C 5.2.2.5). :class:`PairReq` and
  :class:`LinkSecurityReq` are answered to whoever sent them.

Prompts are matched to their answers by ``prompt_id`` rather than ``token``: the app port
hands any message whose ``token`` is awaited to that waiter, and a prompt must never be
mistaken for the answer to a concurrent request.

The security policy is ``bluetrio.actors.btm.config.SecurityConfig``; the IO capability is
the pairing delegate's, announced by :class:`SecurityServiceReq`.
"""

from __future__ import annotations

import enum

import attrs

from bluetrio.address import Address
from bluetrio.bonds import Bond, BondStrength, LinkKey, LinkKeyType, LongTermKey, Transport
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.base import Message

MAX_KEY_SIZE = 16  # octets (Core 5.4 Vol 2 Part H 4.2)
MAX_PASSKEY = 999_999  # six decimal digits (Vol 2 Part H 7.2.3)


class IoCapability(enum.IntEnum):
    """What the local device can show and type (Vol 3 Part C 5.2.2.4; Vol 3 Part H 2.3.2).

    BR/EDR knows the first four (Vol 4 Part E 7.1.29); ``KEYBOARD_DISPLAY`` exists for LE and
    is announced as ``DISPLAY_YES_NO`` on BR/EDR, where a device with a keyboard and a display
    can confirm a number.
    """

    DISPLAY_ONLY = 0x00
    DISPLAY_YES_NO = 0x01
    KEYBOARD_ONLY = 0x02
    NO_INPUT_NO_OUTPUT = 0x03
    KEYBOARD_DISPLAY = 0x04

    @property
    def for_bredr(self) -> IoCapability:
        if self is IoCapability.KEYBOARD_DISPLAY:
            return IoCapability.DISPLAY_YES_NO
        return self

    @classmethod
    def from_name(cls, name: str) -> IoCapability:
        """Parse a command-line style name such as ``display-yes-no``."""
        key = name.strip().upper().replace("-", "_")
        try:
            return cls[_IO_CAPABILITY_ALIASES.get(key, key)]
        except KeyError:
            names = ", ".join(c.name.lower().replace("_", "-") for c in cls)
            raise InvalidArgumentError(
                f"unknown IO capability {name!r}; expected one of {names}"
            ) from None


_IO_CAPABILITY_ALIASES = {"NO_IO": "NO_INPUT_NO_OUTPUT"}


class AssociationModel(enum.Enum):
    """How pairing authenticates: Secure Simple Pairing's stage 1 (Vol 2 Part H 7.2) and the
    LE association models (Vol 3 Part H 2.3.5.1)."""

    JUST_WORKS = "just works"
    NUMERIC_COMPARISON = "numeric comparison"
    PASSKEY_ENTRY = "passkey entry"
    OUT_OF_BAND = "out of band"


@attrs.frozen
class PeerOobData:
    """OOB values received from the peer by other means (Vol 2 Part H 7.2.4), MSB first.

    ``c_192``/``r_192`` serve P-192 pairing, ``c_256``/``r_256`` Secure Connections.
    """

    c_192: bytes | None = None
    r_192: bytes | None = None
    c_256: bytes | None = None
    r_256: bytes | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("c_192", "r_192", "c_256", "r_256"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, bytes) or len(value) != 16):
                raise InvalidArgumentError(f"OOB {name} must be 16 bytes")
        if (self.c_192 is None) != (self.r_192 is None) or (self.c_256 is None) != (
            self.r_256 is None
        ):
            raise InvalidArgumentError("OOB data needs C and R of the same curve together")
        if self.c_192 is None and self.c_256 is None:
            raise InvalidArgumentError("OOB data holds no C and R values")


class SecurityMessage(Message):
    """Base of every message the BTM core hands to its security core."""


MIN_KEY_SIZE = 7  # octets (Vol 2 Part H 4.2: the smallest encryption key size)


@attrs.frozen
class SecurityRequirement:
    """What a service needs of a BR/EDR link (Security Mode 4 levels, Vol 3 Part C 5.2.2.8).

    BR/EDR encryption needs a link key, so encryption implies authentication; MITM
    protection (an authenticated key, level 3) and Secure Connections (P-256 key with
    AES-CCM, level 4) imply both. With neither authentication nor encryption (levels 0 and
    1) every link meets the requirement at once.
    """

    authentication: bool = True
    encryption: bool = True
    mitm: bool = False
    secure_connections: bool = False
    min_key_size: int = MIN_KEY_SIZE

    def __attrs_post_init__(self) -> None:
        for name in ("authentication", "encryption", "mitm", "secure_connections"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgumentError(f"{name} must be True or False")
        size = self.min_key_size
        if isinstance(size, bool) or not isinstance(size, int):
            raise InvalidArgumentError(f"min_key_size must be an int, got {size!r}")
        if not MIN_KEY_SIZE <= size <= MAX_KEY_SIZE:
            raise InvalidArgumentError(f"min_key_size is 7..16 octets, got {size}")
        if (self.encryption or self.mitm or self.secure_connections) and not self.authentication:
            raise InvalidArgumentError(
                "BR/EDR encryption, MITM and Secure Connections all need authentication"
            )
        if (self.mitm or self.secure_connections) and not self.encryption:
            raise InvalidArgumentError("MITM and Secure Connections levels need encryption")

    @property
    def needs_security(self) -> bool:
        return self.authentication


# -- app → btm ---------------------------------------------------------------------------------


@attrs.frozen
class SecurityServiceReq(SecurityMessage):
    """The app-side pairing service started: bonds loaded from the key store and the
    delegate's abilities. Sent once before the stack is handed to the application."""

    local_address: Address
    bonds: tuple[Bond, ...]
    io_capability: IoCapability
    provides_oob_data: bool = False


@attrs.frozen
class PairReq(SecurityMessage):
    """Authenticate and encrypt the link to ``address`` (pairing when no bond exists): link
    ``handle`` when given (an LE link goes to SMP), else the BR/EDR link to ``address``, or
    the LE link when there is none.

    Answered by :class:`PairCnf` with the same ``token``.
    """

    token: int
    address: Address
    handle: int | None = None


@attrs.frozen
class LinkSecurityReq(SecurityMessage):
    """Make link ``handle`` meet ``requirement``, authenticating (pairing if needed) and
    encrypting it; Bluedroid's ``btm_sec_l2cap_access_req``.

    Answered by :class:`LinkSecurityCnf` with the same ``token``, sent to the requester.
    """

    token: int
    handle: int
    requirement: SecurityRequirement = SecurityRequirement()


@attrs.frozen
class UserConfirmRsp(SecurityMessage):
    prompt_id: int
    accepted: bool


@attrs.frozen
class PasskeyEntryRsp(SecurityMessage):
    """The passkey the user typed, or None when the user gave up."""

    prompt_id: int
    passkey: int | None


@attrs.frozen
class OobDataRsp(SecurityMessage):
    prompt_id: int
    data: PeerOobData | None


@attrs.frozen
class StoreBondRsp(SecurityMessage):
    """What became of a :class:`StoreBondReq`: stored, or refused with the key store's reason."""

    peer: Address
    stored: bool
    error: str | None = None
    weaker: bool = False  # refused because the stored bond is stronger (CVE-2020-15802)
    transport: Transport = Transport.BR_EDR  # of the bond


# -- btm → app ---------------------------------------------------------------------------------


@attrs.frozen
class PairCnf(SecurityMessage):
    """Outcome of :class:`PairReq`.

    ``status`` is an HCI status (0 = success; Vol 1 Part F). On success the link is
    authenticated and encrypted with ``key_size`` octets. ``model`` is the association model
    when pairing happened on this request (None when a stored key was used). An LE link has
    no ``key_type``: ``bond`` holds the keys it is encrypted with (SMP's, Vol 3 Part H).
    """

    token: int
    address: Address
    status: int
    handle: int | None = None
    model: AssociationModel | None = None
    key_type: LinkKeyType | None = None
    used_stored_key: bool = False
    key_size: int | None = None
    error: str | None = None
    bond: Bond | None = None


@attrs.frozen
class LinkSecurityCnf(SecurityMessage):
    """Outcome of :class:`LinkSecurityReq`: ``status`` 0 when the link meets the requirement;
    otherwise an HCI status (0x2F Insufficient Security when the link is secured but short of
    what was asked, 0x02 when there is no such link) and ``error`` says why. ``strength``
    (LE links, success or not): how strong the key encrypting the link is, None when the link
    is not encrypted or its key's strength is unknown; a refusal names what falls short by it
    (Vol 3 Part A 4.23: key size, authentication or encryption)."""

    token: int
    handle: int
    status: int
    key_type: LinkKeyType | None = None
    key_size: int | None = None
    error: str | None = None
    strength: BondStrength | None = None


@attrs.frozen
class UserConfirmInd(SecurityMessage):
    """Ask the user: do both devices show ``number``? With ``number`` None, the model is
    Just Works and the question is whether to pair with ``peer`` at all."""

    prompt_id: int
    peer: Address
    number: int | None
    model: AssociationModel | None = None


@attrs.frozen
class PasskeyEntryInd(SecurityMessage):
    """Ask the user for the passkey the peer shows. ``keypresses``: the peer takes
    notifications of the keys the user presses meanwhile (LE, both devices set the Keypress
    flag, Vol 3 Part H 3.5.1): answer them with ``smp_service.KeypressReq``."""

    prompt_id: int
    peer: Address
    model: AssociationModel | None = None
    keypresses: bool = False


@attrs.frozen
class PasskeyDisplayInd(SecurityMessage):
    """Show ``passkey``: the user types it on the peer."""

    peer: Address
    passkey: int
    model: AssociationModel | None = None


@attrs.frozen
class OobDataInd(SecurityMessage):
    """Ask the OOB provider for data received from ``peer`` (None when there is none)."""

    prompt_id: int
    peer: Address
    model: AssociationModel | None = None


@attrs.frozen
class PromptCancelledInd(SecurityMessage):
    """The prompt ``prompt_id`` is no longer wanted (timed out, pairing failed, link lost)."""

    prompt_id: int
    reason: str


@attrs.frozen
class StoreBondReq(SecurityMessage):
    """Persist ``bond``; answered by :class:`StoreBondRsp`."""

    bond: Bond


@attrs.frozen
class BondRefusedInd(SecurityMessage):
    """A new link key was not kept because it is weaker than the bond with ``peer``
    (BIAS CVE-2020-10135, BLURtooth CVE-2020-15802); the old bond is kept."""

    peer: Address
    reason: str


@attrs.frozen
class LinkSecuredInd(SecurityMessage):
    """Link ``handle`` is authenticated and encrypted with an acceptable key: a BR/EDR link
    key of ``key_type``, or (LE, ``key_type`` None) a key from SMP of ``strength``."""

    handle: int
    peer: Address
    key_type: LinkKeyType | None
    key_size: int
    used_stored_key: bool
    strength: BondStrength | None = None


@attrs.frozen
class PairingFailedInd(SecurityMessage):
    """Pairing with ``peer`` ended without a key: whoever started it (this host or the
    peer), ``status`` is the HCI status (Vol 1 Part F) and ``reason`` says why in words."""

    peer: Address
    status: int
    reason: str


# -- LE encryption, for SMP (Core 5.4 Vol 3 Part H 2.4.4; Vol 4 Part E 7.8.24, 7.8.25) ---------


@attrs.frozen
class LeEncryptReq(SecurityMessage):
    """As central of LE link ``handle``, start encryption (or refresh it, when the link is
    encrypted already) with ``ltk``: LE_Enable_Encryption (Vol 4 Part E 7.8.24). Answered by
    :class:`LeEncryptCnf` with the same ``token``."""

    token: int
    handle: int
    ltk: LongTermKey


@attrs.frozen
class LeEncryptCnf(Message):
    """Outcome of :class:`LeEncryptReq`: ``status`` 0 when Encryption Change (7.7.8) or
    Encryption Key Refresh Complete (7.7.39) reported the link encrypted, else the HCI status
    of the command or the event (0x02 no such link, 0x08 no answer in time, the
    disconnection reason when the link went down)."""

    token: int
    handle: int
    status: int
    key_size: int | None = None
    error: str | None = None


@attrs.frozen
class LeResponderKeyReq(SecurityMessage):
    """As peripheral of LE link ``handle``, answer the next LE_Long_Term_Key_Request
    (Vol 4 Part E 7.7.65.5) with ``ltk``: the STK of legacy pairing or the new Secure
    Connections LTK. None withdraws it; then BTM answers from its bonds."""

    handle: int
    ltk: LongTermKey | None


@attrs.frozen
class LeEncryptionChangedInd(Message):
    """Encryption of LE link ``handle`` changed (either role): ``status`` of the event,
    ``encrypted`` afterwards, and the key size read from the controller when encrypted."""

    handle: int
    status: int
    encrypted: bool
    key_size: int | None = None


# What the security service emits to whoever subscribes (bluetrio.actors.topology): the
# prompts and notices for the user, and the bonds to store (a request to the key store
# service on the application side). Confirmations go back to their requester instead.
INDICATIONS: tuple[type[SecurityMessage], ...] = (
    UserConfirmInd, PasskeyEntryInd, PasskeyDisplayInd, OobDataInd, PromptCancelledInd,
    StoreBondReq, BondRefusedInd, LinkSecuredInd, PairingFailedInd,
)  # fmt: skip


def bredr_bond(local_address: Address, peer: Address, key: bytes, key_type: LinkKeyType) -> Bond:
    """The bond a BR/EDR link key makes; the key's type says how strong it is.

    BR/EDR link keys are always 128 bits; the encryption key size is negotiated afresh on
    every encryption (Vol 2 Part C 4.2.5.2) and checked then, so bonds record 16.
    """

    return Bond(
        local_address=local_address,
        peer_address=peer,
        transport=Transport.BR_EDR,
        link_key=LinkKey(key, key_type),
        authenticated=key_type.is_authenticated,
        secure_connections=key_type.is_secure_connections,
        key_size=MAX_KEY_SIZE,
    )
