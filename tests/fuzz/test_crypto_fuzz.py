"""Property tests for bluetrio.crypto: RPA round trips and public-key validation."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bluetrio import crypto
from bluetrio.crypto import Curve, EcdhKeyPair, InvalidPublicKeyError
from bluetrio.errors import InvalidArgumentError

keys = st.binary(min_size=16, max_size=16)

# Key generation is the slow part; a few fixed pairs give the properties enough variety.
OUR_KEYS = {curve: EcdhKeyPair.generate(curve) for curve in Curve}
PEER_KEYS = {curve: [EcdhKeyPair.generate(curve) for _ in range(4)] for curve in Curve}


@given(irk=keys)
def test_generated_rpa_resolves_with_its_irk(irk: bytes) -> None:
    rpa = crypto.generate_rpa(irk)
    assert rpa[0] >> 6 == 0b01
    # The random part of prand is neither all zeros nor all ones (Vol 6 Part B 1.3.2.2).
    assert int.from_bytes(rpa[:3], "big") & 0x3FFFFF not in (0, 0x3FFFFF)
    assert crypto.resolve_rpa(irk, rpa)


@given(irk=keys, flip=st.integers(min_value=0, max_value=23))
def test_rpa_with_a_changed_hash_bit_does_not_resolve(irk: bytes, flip: int) -> None:
    rpa = bytearray(crypto.generate_rpa(irk))
    rpa[3 + flip // 8] ^= 1 << (flip % 8)
    assert not crypto.resolve_rpa(irk, bytes(rpa))


@given(irk=keys, rpa=st.binary(min_size=6, max_size=6))
def test_resolve_never_fails_on_arbitrary_addresses(irk: bytes, rpa: bytes) -> None:
    assert crypto.resolve_rpa(irk, rpa) in (True, False)


@settings(max_examples=200)
@given(
    curve=st.sampled_from(list(Curve)),
    peer_index=st.integers(min_value=0, max_value=3),
    delta=st.integers(min_value=1),
)
def test_off_curve_point_is_always_refused(curve: Curve, peer_index: int, delta: int) -> None:
    peer = PEER_KEYS[curve][peer_index]
    p = curve.value.p
    y = int.from_bytes(peer.public_y, "big")
    bad_y = (y + delta) % p
    # For a fixed x only y and p - y are on the curve; every other y is not.
    assume(bad_y not in (y, (p - y) % p))
    with pytest.raises(InvalidPublicKeyError):
        OUR_KEYS[curve].shared_secret(peer.public_x, bad_y.to_bytes(curve.coordinate_length, "big"))


@given(
    curve=st.sampled_from(list(Curve)),
    x=st.binary(min_size=0, max_size=40),
    y=st.binary(min_size=0, max_size=40),
)
def test_arbitrary_peer_key_raises_only_typed_errors(curve: Curve, x: bytes, y: bytes) -> None:
    try:
        secret = OUR_KEYS[curve].shared_secret(x, y)
    except (InvalidPublicKeyError, InvalidArgumentError):
        return
    # Only a genuine curve point can get here.
    assert curve.contains(int.from_bytes(x, "big"), int.from_bytes(y, "big"))
    assert len(secret) == curve.coordinate_length


@given(data=st.binary(max_size=40))
def test_functions_raise_argument_errors_for_any_wrong_length(data: bytes) -> None:
    try:
        crypto.ah(data[:16].ljust(16, b"\x00"), data[16:])
    except InvalidArgumentError:
        assert len(data[16:]) != 3
    else:
        assert len(data[16:]) == 3
