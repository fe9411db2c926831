"""Signed Write Command signatures (Core 5.4 Vol 3 Part F 3.4.5.4, Vol 3 Part H 2.4.5).

The vectors are BlueZ's (unit/test-crypto.c), which were checked against other stacks: the
message and the 12-octet signature (counter then MAC) as sent, the CSRK as sent (least
significant octet first); bonds keep it most significant octet first, hence the reversal."""

from __future__ import annotations

import attrs
import pytest

from bluetrio.actors.effects import Emit
from bluetrio.actors.gatt.client_state import ClientStates
from bluetrio.actors.gatt.signing import (
    SignatureCheck,
    SignedWriteDecision,
    SignedWriteOutcome,
    check_signature,
    decide_signed_write,
    sign_write,
    signature_mac,
    signed_write_check,
)
from bluetrio.address import Address, AddressType
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.att import SignedWriteCommand, WriteCommand, decode_pdu
from bluetrio.messages.gatt_state import GattBondedPeer, GattBondState, GattBondStateStoreReq

RFC_4493_KEY_AS_SENT = bytes.fromhex("3c4fcf098815f7aba6d2ae2816157e2b")
SIGNED_WRITE_KEY_AS_SENT = bytes.fromhex("505e42df9691ec72d31fcdfbeb641b61")

VECTORS = [
    # (CSRK as sent, message as sent, counter, signature as sent)
    (RFC_4493_KEY_AS_SENT, "", 0, "00000000b3a8594127ebc2c0"),
    (RFC_4493_KEY_AS_SENT, "6bc1bee22e409f96e93d7e117393172a", 0, "00000000273974f4392a232a"),
    (
        RFC_4493_KEY_AS_SENT,
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411",
        0,
        "00000000b7ca94ab87c78218",
    ),
    # A Signed Write Command (0xD2) to handle 0x0012 of the value 13 37, counter 1.
    (SIGNED_WRITE_KEY_AS_SENT, "d212001337", 1, "01000000f1871e933c900ff2"),
]


@pytest.mark.parametrize(("key", "message", "counter", "signature"), VECTORS)
def test_the_mac_of_each_vector(key: bytes, message: str, counter: int, signature: str) -> None:
    signed_part = bytes.fromhex(message) + counter.to_bytes(4, "little")
    expected = bytes.fromhex(signature)
    assert expected[:4] == counter.to_bytes(4, "little")
    assert signature_mac(key[::-1], signed_part) == expected[4:]


CSRK = SIGNED_WRITE_KEY_AS_SENT[::-1]
SIGNED_PART = bytes.fromhex("d212001337") + (1).to_bytes(4, "little")
MAC = bytes.fromhex("f1871e933c900ff2")


def test_a_good_signature_with_a_new_counter_is_valid() -> None:
    assert check_signature(CSRK, None, SIGNED_PART, 1, MAC) is SignatureCheck.VALID
    assert check_signature(CSRK, 0, SIGNED_PART, 1, MAC) is SignatureCheck.VALID


def test_a_mac_off_by_one_bit_is_refused() -> None:
    bad = MAC[:-1] + bytes([MAC[-1] ^ 0x01])
    assert check_signature(CSRK, None, SIGNED_PART, 1, bad) is SignatureCheck.BAD_MAC


def test_another_value_under_the_same_mac_is_refused() -> None:
    forged = bytes.fromhex("d212001338") + (1).to_bytes(4, "little")
    assert check_signature(CSRK, None, forged, 1, MAC) is SignatureCheck.BAD_MAC


def test_a_counter_not_greater_than_the_last_one_is_a_replay() -> None:
    assert check_signature(CSRK, 1, SIGNED_PART, 1, MAC) is SignatureCheck.REPLAYED
    assert check_signature(CSRK, 7, SIGNED_PART, 1, MAC) is SignatureCheck.REPLAYED


def test_without_a_csrk_nothing_is_valid() -> None:
    assert check_signature(None, None, SIGNED_PART, 1, MAC) is SignatureCheck.NO_KEY


def test_the_signed_part_holds_at_least_the_counter() -> None:
    with pytest.raises(InvalidArgumentError):
        signature_mac(CSRK, b"\x00\x01")


def test_a_write_command_signed_is_the_vector_on_the_air() -> None:
    signed = sign_write(CSRK, 1, WriteCommand(0x0012, b"\x13\x37"))
    assert signed.encode() == bytes.fromhex("d212001337") + bytes.fromhex(VECTORS[3][3])
    assert signed_write_check(CSRK, None, signed) is SignatureCheck.VALID


def test_a_received_signed_write_is_checked_as_decoded() -> None:
    received = decode_pdu(bytes.fromhex("d21200133701000000f1871e933c900ff1"))
    assert isinstance(received, SignedWriteCommand)
    assert signed_write_check(CSRK, None, received) is SignatureCheck.BAD_MAC
    replayed = sign_write(CSRK, 1, WriteCommand(0x0012, b"\x13\x37"))
    assert signed_write_check(CSRK, 1, replayed) is SignatureCheck.REPLAYED


@pytest.mark.parametrize("counter", [-1, 1 << 32, True])
def test_a_counter_outside_32_bits_is_refused(counter: int) -> None:
    with pytest.raises(InvalidArgumentError):
        sign_write(CSRK, counter, WriteCommand(0x0012, b""))


PEER = Address.parse("C0:11:22:33:44:55", AddressType.RANDOM)
LINK = 0x0040


def signing_clients(counter: int | None = None, authenticated: bool = True) -> ClientStates:
    clients = ClientStates()
    state = GattBondState(sign_counter=counter)
    clients.load([GattBondedPeer(PEER, CSRK, state, authenticated=authenticated)])
    clients.on_link_up(LINK, PEER, PEER)
    return clients


def decide(clients: ClientStates, pdu: SignedWriteCommand, **options: bool) -> SignedWriteDecision:
    return decide_signed_write(
        clients, LINK, pdu, **{"encrypted": False, "signable": True, **options}
    )


SIGNED = sign_write(CSRK, 1, WriteCommand(0x0012, b"\x13\x37"))


def test_a_signed_write_from_the_bond_is_written_and_its_counter_kept() -> None:
    clients = signing_clients()
    decision = decide(clients, SIGNED)
    assert decision.write and decision.outcome is SignedWriteOutcome.WRITE
    assert decision.authenticated
    [stored] = decision.outputs
    assert isinstance(stored, Emit) and isinstance(stored.message, GattBondStateStoreReq)
    assert stored.message.state.sign_counter == 1
    # The same PDU again is a replay; the next counter is not.
    assert decide(clients, SIGNED).outcome is SignedWriteOutcome.REPLAYED
    following = sign_write(CSRK, 2, WriteCommand(0x0012, b"\x13\x37"))
    assert decide(clients, following).write


def test_a_counter_kept_from_an_earlier_connection_still_counts() -> None:
    assert decide(signing_clients(counter=1), SIGNED).outcome is SignedWriteOutcome.REPLAYED


def test_a_bad_mac_is_ignored_and_keeps_the_counter() -> None:
    clients = signing_clients()
    forged = attrs.evolve(SIGNED, value=b"\x13\x38")
    assert decide(clients, forged).outcome is SignedWriteOutcome.BAD_MAC
    assert decide(clients, SIGNED).write


def test_an_unbonded_peer_or_an_attribute_without_signed_writes_is_ignored() -> None:
    clients = ClientStates()
    clients.on_link_up(LINK, PEER, PEER)
    assert decide(clients, SIGNED).outcome is SignedWriteOutcome.NO_KEY
    no_csrk = ClientStates()
    no_csrk.load([GattBondedPeer(PEER, None)])
    no_csrk.on_link_up(LINK, PEER, PEER)
    assert decide(no_csrk, SIGNED).outcome is SignedWriteOutcome.NO_KEY
    assert decide(signing_clients(), SIGNED, signable=False).outcome is (
        SignedWriteOutcome.NOT_SIGNABLE
    )


def test_on_an_encrypted_link_it_is_a_write_command() -> None:
    forged = attrs.evolve(SIGNED, mac=bytes(8))
    decision = decide(signing_clients(), forged, encrypted=True)
    assert decision.outcome is SignedWriteOutcome.AS_WRITE_COMMAND and decision.write


def test_an_unauthenticated_bond_signs_unauthenticated() -> None:
    assert not decide(signing_clients(authenticated=False), SIGNED).authenticated
