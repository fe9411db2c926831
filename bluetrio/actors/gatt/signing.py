"""Signed writes: the Signed Write Command's Authentication Signature (Core 5.4 Vol 3 Part F
3.4.5.4) made and checked with a Connection Signature Resolving Key (Vol 3 Part H 2.4.5).

The signature is a 32-bit SignCounter and a MAC: the 64 most significant bits of
AES-CMAC with the CSRK over the message (opcode, attribute handle, value) followed by the
counter, all as sent (little-endian). :mod:`bluetrio.crypto` works most significant octet
first, so the octets go to it reversed and the MAC comes back reversed.

A receiver accepts a signature only with the CSRK the peer distributed when it bonded, and
only with a counter greater than every counter it accepted from that bond before (Vol 3
Part C 10.4.2: the counter defeats replays). On an encrypted link a Signed Write Command is
treated as a Write Command (Vol 3 Part F 3.4.5.4), which the caller decides before asking.
"""

from __future__ import annotations

import enum

from bluetrio.crypto import aes_cmac, reverse
from bluetrio.errors import InvalidArgumentError

__all__ = [
    "MAC_LENGTH",
    "MAX_SIGN_COUNTER",
    "SignatureCheck",
    "check_signature",
    "signature_mac",
]

MAC_LENGTH = 8  # octets (Vol 3 Part H 2.4.5)
MAX_SIGN_COUNTER = 0xFFFFFFFF


class SignatureCheck(enum.Enum):
    """What a received signature is worth."""

    VALID = "valid"
    NO_KEY = "no CSRK from a bond with this peer"
    BAD_MAC = "the MAC does not match"
    REPLAYED = "the sign counter is not greater than the last one accepted"


def signature_mac(csrk: bytes, signed_part: bytes) -> bytes:
    """The MAC of ``signed_part`` (opcode, handle, value and the 4 octets of the counter,
    as sent), as sent: 8 octets, least significant first. ``csrk`` is MSB first, as bonds
    keep it."""
    if len(signed_part) < 4:
        raise InvalidArgumentError("the signed part ends with the 4-octet sign counter")
    return reverse(aes_cmac(csrk, reverse(signed_part))[:MAC_LENGTH])


def check_signature(
    csrk: bytes | None,
    last_counter: int | None,
    signed_part: bytes,
    counter: int,
    mac: bytes,
) -> SignatureCheck:
    """Check a received signature: ``counter`` and ``mac`` as the PDU carries them,
    ``signed_part`` the octets they cover, ``last_counter`` the greatest counter accepted from
    the bond before (None: none yet)."""
    if csrk is None:
        return SignatureCheck.NO_KEY
    if signature_mac(csrk, signed_part) != mac:
        return SignatureCheck.BAD_MAC
    if last_counter is not None and counter <= last_counter:
        return SignatureCheck.REPLAYED
    return SignatureCheck.VALID
