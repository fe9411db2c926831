"""Phase 3, Transport Specific Key Distribution (Core 5.4 Vol 3 Part H 3.6.1), as LE and
BR/EDR pairing share it: which codes the peer's keys come as, in their order, what its
keys are once received, and the identity and signing keys we send."""

from __future__ import annotations

import attrs

from bluetrio import crypto
from bluetrio.address import Address, AddressType
from bluetrio.bonds import KeyDistribution, LongTermKey
from bluetrio.crypto import reverse
from bluetrio.messages.smp import (
    CentralIdentification,
    EncryptionInformation,
    IdentityAddressInformation,
    IdentityInformation,
    KeyDistributionFlags,
    PairingFailedReason,
    PairingFeatures,
    SigningInformation,
    SmpCode,
    SmpPdu,
)


def expected_codes(flags: KeyDistributionFlags) -> list[SmpCode]:
    """The codes the keys of ``flags`` come as, in the order 3.6.1 fixes."""
    codes = []
    if flags.enc_key:
        codes += [SmpCode.ENCRYPTION_INFORMATION, SmpCode.CENTRAL_IDENTIFICATION]
    if flags.id_key:
        codes += [SmpCode.IDENTITY_INFORMATION, SmpCode.IDENTITY_ADDRESS_INFORMATION]
    if flags.sign_key:
        codes += [SmpCode.SIGNING_INFORMATION]
    return codes


def is_identity_address(address: Address) -> bool:
    """Public, or static random: its two most significant bits set (Vol 6 Part B 1.3.2.1)."""
    return not address.is_random or address.value[5] >> 6 == 0b11


def response_refusal(request: PairingFeatures, response: PairingFeatures) -> str | None:
    """Why a Pairing Response cannot be taken: it distributes keys the request did not
    offer (3.5.2: the response's flags are a subset of the request's)."""
    for asked, answered in (
        (request.initiator_key_distribution, response.initiator_key_distribution),
        (request.responder_key_distribution, response.responder_key_distribution),
    ):
        if (asked & answered) != answered:
            return "the response distributes keys the request did not offer"
    return None


def key_refusal(expected: list[SmpCode], pdu: SmpPdu) -> tuple[PairingFailedReason, str] | None:
    """Why a received key cannot be taken: not the one 3.6.1's order puts next, or an
    identity address that is neither public nor static random."""
    if not expected or pdu.CODE is not expected[0]:
        return (
            PairingFailedReason.UNSPECIFIED_REASON,
            f"{type(pdu).__name__} out of the order of 3.6.1",
        )
    if isinstance(pdu, IdentityAddressInformation) and not is_identity_address(pdu.address):
        return (
            PairingFailedReason.INVALID_PARAMETERS,
            "an identity address must be public or static random",
        )
    return None


def received_keys(pdus: list[SmpPdu], key_size: int) -> KeyDistribution:
    """The keys the peer distributed, from its PDUs (wire order reversed to MSB first)."""
    ltk = irk = identity = csrk = None
    for pdu in pdus:
        match pdu:
            case EncryptionInformation():
                ltk = LongTermKey(reverse(pdu.long_term_key), 0, bytes(8), key_size)
            case CentralIdentification() if ltk is not None:
                ltk = attrs.evolve(ltk, ediv=pdu.ediv, rand=reverse(pdu.rand))
            case IdentityInformation():
                irk = reverse(pdu.identity_resolving_key)
            case IdentityAddressInformation():
                identity = pdu.address
            case SigningInformation():
                csrk = reverse(pdu.signature_key)
    return KeyDistribution(ltk, irk, identity, csrk)


def identity_and_signing_keys(
    flags: KeyDistributionFlags, *, irk: bytes, local: Address
) -> tuple[list[SmpPdu], KeyDistribution]:
    """The PDUs of our identity (IRK and identity address) and signing key (a new CSRK), as
    ``flags`` ask, and the keys they give."""
    pdus: list[SmpPdu] = []
    identity: Address | None = None
    csrk: bytes | None = None
    if flags.id_key:
        identity = local.with_type(AddressType.RANDOM if local.is_random else AddressType.PUBLIC)
        pdus += [IdentityInformation(reverse(irk)), IdentityAddressInformation(identity)]
    if flags.sign_key:
        csrk = crypto.random_bytes(16)
        pdus.append(SigningInformation(reverse(csrk)))
    return pdus, KeyDistribution(None, irk if flags.id_key else None, identity, csrk)
