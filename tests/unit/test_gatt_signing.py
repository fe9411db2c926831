"""Signed Write Command signatures (Core 5.4 Vol 3 Part F 3.4.5.4, Vol 3 Part H 2.4.5).

The vectors are BlueZ's (unit/test-crypto.c), which were checked against other stacks: the
message and the 12-octet signature (counter then MAC) as sent, the CSRK as sent (least
significant octet first); bonds keep it most significant octet first, hence the reversal."""

from __future__ import annotations

import pytest

from bluetrio.actors.gatt.signing import SignatureCheck, check_signature, signature_mac
from bluetrio.errors import InvalidArgumentError

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
