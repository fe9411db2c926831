"""Bonds derived for the other transport from a Secure Connections key (Core 5.4 Vol 3 Part H
2.4.2.4: the BR/EDR link key from an LE LTK; 2.4.2.5: the LE LTK from a BR/EDR link key).

Both directions give a key exactly as strong as the one it came from: a P-256 key of the same
authentication, marked with the transport it was derived from. btm decides whether to keep it
(never over a stronger bond of that transport, 2.4.2.5).
"""

from __future__ import annotations

from bluetrio import crypto
from bluetrio.address import Address
from bluetrio.bonds import (
    Bond,
    KeyDistribution,
    LinkKey,
    LinkKeyType,
    LongTermKey,
    Transport,
)


def link_key_bond(le_bond: Bond, ltk: bytes, *, ct2: bool, local_identity: Address) -> Bond | None:
    """The BR/EDR bond whose link key is derived from ``ltk``, the LE Secure Connections LTK
    of ``le_bond``, or None when there is no BR/EDR device to give it to: a BR/EDR link key
    belongs to two BD_ADDRs, which are public (the peer's identity and ours,
    ``local_identity``), and needs the full 16-octet key."""
    if not le_bond.secure_connections or le_bond.key_size != 16:
        return None
    if le_bond.peer_address.is_random or local_identity.is_random:
        return None
    authenticated = le_bond.authenticated
    key_type = LinkKeyType.AUTHENTICATED_P256 if authenticated else LinkKeyType.UNAUTHENTICATED_P256
    return Bond(
        local_address=le_bond.local_address,
        peer_address=le_bond.peer_address,
        transport=Transport.BR_EDR,
        link_key=LinkKey(crypto.link_key_from_ltk(ltk, ct2=ct2), key_type),
        authenticated=le_bond.authenticated,
        secure_connections=True,
        key_size=16,
        debug_key=le_bond.debug_key,
        derived_from=Transport.LE,
    )


def le_bond_from_link_key(
    *,
    local: Address,
    peer: Address,
    link_key: LinkKey,
    key_size: int,
    ct2: bool,
    peer_keys: KeyDistribution,
    local_keys: KeyDistribution,
) -> Bond:
    """The LE bond whose LTK is derived from the BR/EDR Secure Connections ``link_key``
    (2.4.2.5), as long as the BR/EDR encryption key (``key_size`` octets, the size the
    Pairing Request and Response agreed, 3.5.1), with the identity and signing keys SMP
    distributed over BR/EDR. ``peer`` is the identity the peer gave, else its BD_ADDR."""
    value = crypto.ltk_from_link_key(link_key.value, ct2=ct2)
    shortened = bytes(16 - key_size) + value[16 - key_size :]  # 2.3.4
    ltk = LongTermKey(shortened, 0, bytes(8), key_size)
    return Bond(
        local_address=local,
        peer_address=peer,
        transport=Transport.LE,
        peer_keys=KeyDistribution(ltk, peer_keys.irk, peer_keys.identity_address, peer_keys.csrk),
        local_keys=KeyDistribution(
            ltk, local_keys.irk, local_keys.identity_address, local_keys.csrk
        ),
        authenticated=link_key.type.is_authenticated,
        secure_connections=True,
        key_size=key_size,
        derived_from=Transport.BR_EDR,
    )
