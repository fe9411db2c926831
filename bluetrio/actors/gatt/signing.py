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

import attrs

from bluetrio.actors.gatt.client_state import ClientStates, StateOutput
from bluetrio.crypto import aes_cmac, reverse
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.att import SignedWriteCommand, WriteCommand

__all__ = [
    "MAC_LENGTH",
    "MAX_SIGN_COUNTER",
    "SignatureCheck",
    "SignedWriteDecision",
    "SignedWriteOutcome",
    "check_signature",
    "decide_signed_write",
    "sign_write",
    "signature_mac",
    "signed_write_check",
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


def signed_write_check(
    csrk: bytes | None, last_counter: int | None, pdu: SignedWriteCommand
) -> SignatureCheck:
    """:func:`check_signature` of a received Signed Write Command."""
    return check_signature(csrk, last_counter, pdu.signed_part(), pdu.sign_counter, pdu.mac)


def sign_write(csrk: bytes, counter: int, pdu: WriteCommand) -> SignedWriteCommand:
    """``pdu`` signed with our CSRK and ``counter`` (the client's side, Vol 3 Part G 4.9.2):
    the counter must grow with every signed write under that CSRK, which the caller keeps."""
    if isinstance(counter, bool) or not 0 <= counter <= MAX_SIGN_COUNTER:
        raise InvalidArgumentError(f"a sign counter is a 32-bit value, got {counter!r}")
    unsigned = SignedWriteCommand(pdu.handle, pdu.value, counter, bytes(MAC_LENGTH))
    return attrs.evolve(unsigned, mac=signature_mac(csrk, unsigned.signed_part()))


class SignedWriteOutcome(enum.Enum):
    """What the server does with a Signed Write Command (Vol 3 Part F 3.4.5.4)."""

    WRITE = "write it: the signature is the bond's and its counter new"
    AS_WRITE_COMMAND = "write it as a Write Command: the link is encrypted"
    NOT_SIGNABLE = "ignore it: the attribute takes no authenticated signed writes"
    NO_KEY = "ignore it: no CSRK from a bond with this peer"
    BAD_MAC = "ignore it: the MAC does not match"
    REPLAYED = "ignore it: the sign counter is not greater than the last one accepted"


_FAILURES = {
    SignatureCheck.NO_KEY: SignedWriteOutcome.NO_KEY,
    SignatureCheck.BAD_MAC: SignedWriteOutcome.BAD_MAC,
    SignatureCheck.REPLAYED: SignedWriteOutcome.REPLAYED,
}


@attrs.frozen
class SignedWriteDecision:
    """``outcome``; ``authenticated``: the signature's key came from an authenticated pairing
    (LE security mode 2 level 2, Vol 3 Part C 10.2.2); ``outputs``: the new counter for the
    key store. A command gets no response whatever the outcome (3.4.5.4)."""

    outcome: SignedWriteOutcome
    authenticated: bool = False
    outputs: tuple[StateOutput, ...] = ()

    @property
    def write(self) -> bool:
        return self.outcome in (SignedWriteOutcome.WRITE, SignedWriteOutcome.AS_WRITE_COMMAND)


def decide_signed_write(
    clients: ClientStates,
    handle: int,
    pdu: SignedWriteCommand,
    *,
    encrypted: bool,
    signable: bool,
) -> SignedWriteDecision:
    """What to do with ``pdu`` from the client of link ``handle``: ``encrypted`` whether the
    link is, ``signable`` whether the attribute has AUTHENTICATED_SIGNED_WRITES."""
    if encrypted:
        return SignedWriteDecision(SignedWriteOutcome.AS_WRITE_COMMAND)
    if not signable:
        return SignedWriteDecision(SignedWriteOutcome.NOT_SIGNABLE)
    bond = clients.bonded_peer(handle)
    if bond is None:
        return SignedWriteDecision(SignedWriteOutcome.NO_KEY)
    check = signed_write_check(bond.csrk, bond.sign_counter, pdu)
    if check is not SignatureCheck.VALID:
        return SignedWriteDecision(_FAILURES[check])
    outputs = clients.accept_sign_counter(handle, pdu.sign_counter)
    return SignedWriteDecision(SignedWriteOutcome.WRITE, bond.authenticated, tuple(outputs))
