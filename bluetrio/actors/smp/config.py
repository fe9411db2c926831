"""What the local device offers and requires when it pairs over LE (Core 5.4 Vol 3 Part H)."""

from __future__ import annotations

import attrs

from bluetrio import crypto
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.btm_security import IoCapability
from bluetrio.messages.smp import MAX_ENCRYPTION_KEY_SIZE, MIN_ENCRYPTION_KEY_SIZE
from bluetrio.messages.smp_service import LeSecurityRequirement

# Keys shorter than 16 octets are accepted only when the configuration lowers this
# (Vol 3 Part H 2.3.4 allows 7..16; short keys weaken encryption, CVE-2019-9506).
DEFAULT_MIN_KEY_SIZE = MAX_ENCRYPTION_KEY_SIZE


def _key_size(_instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{attribute.name} must be an int, got {value!r}")
    if not MIN_ENCRYPTION_KEY_SIZE <= value <= MAX_ENCRYPTION_KEY_SIZE:
        raise InvalidArgumentError(f"{attribute.name} must be 7..16 octets, got {value}")


def _irk(_instance: object, _attribute: attrs.Attribute[bytes], value: object) -> None:
    if not isinstance(value, bytes) or len(value) != 16:
        raise InvalidArgumentError("the identity resolving key must be 16 bytes")


@attrs.frozen
class SmpConfig:
    """``pairable``: answer a Pairing Request the peer sends unasked (else Pairing Not
    Supported); a pairing btm asks for runs either way. ``min_key_size``: the shortest
    encryption key accepted (16 unless lowered, never below 7). ``allow_debug_keys``: accept
    a peer's P-256 debug key; ``use_debug_key``: pair with it ourselves (Vol 3 Part H
    2.3.5.6.1; both only for sniffing in a lab); a bond made with it is marked
    ``debug_key``. ``confirm_just_works``: ask the user before a Just Works pairing
    completes. ``oob_available``: the device has the peer's OOB data (the user gives it when
    asked). ``identity_resolving_key``: the IRK distributed with our identity address until
    btm tells its own (``LocalIdentityInd``, the IRK our RPAs are made from), as it does in
    every stack; a core run without btm distributes this one.
    Cross-transport key derivation (Vol 3 Part H 2.4.2.4, 2.4.2.5): ``derive_link_key``
    sets LinkKey in LE Secure Connections pairing (a BR/EDR link key is derived from the
    LTK); ``derive_le_keys`` runs SMP over BR/EDR on 0x0007 (registered only then): as
    central after a new BR/EDR Secure Connections pairing, as peripheral when asked, the LE
    LTK derived from the link key and the identity and signing keys distributed."""

    io_capability: IoCapability = IoCapability.NO_INPUT_NO_OUTPUT
    pairable: bool = True
    secure_connections: bool = True
    secure_connections_only: bool = False
    mitm: bool = False
    bonding: bool = True
    keypress: bool = False
    min_key_size: int = attrs.field(default=DEFAULT_MIN_KEY_SIZE, validator=_key_size)
    max_key_size: int = attrs.field(default=MAX_ENCRYPTION_KEY_SIZE, validator=_key_size)
    oob_available: bool = False
    confirm_just_works: bool = False
    allow_debug_keys: bool = False
    use_debug_key: bool = False
    distribute_identity: bool = True
    distribute_signing_key: bool = False
    derive_link_key: bool = False
    derive_le_keys: bool = False
    identity_resolving_key: bytes = attrs.field(
        factory=lambda: crypto.random_bytes(16), validator=_irk, repr=False
    )

    def __attrs_post_init__(self) -> None:
        if self.min_key_size > self.max_key_size:
            raise InvalidArgumentError(
                f"min_key_size {self.min_key_size} is above max_key_size {self.max_key_size}"
            )
        if self.use_debug_key and not self.allow_debug_keys:
            raise InvalidArgumentError("use_debug_key needs allow_debug_keys")

    @property
    def default_requirement(self) -> LeSecurityRequirement:
        """What a pairing the peer started must reach."""
        return LeSecurityRequirement(
            mitm=self.mitm,
            secure_connections=self.secure_connections_only,
            min_key_size=self.min_key_size,
            bonding=self.bonding,
        )
