"""Sample data from the specification for every function of bluetrio.crypto.

Values are written MSB first, exactly as Core 5.4 prints them (Vol 3 Part H Appendix D for LE,
Vol 2 Part G 7 for BR/EDR); RFC 4493 for AES-CMAC and FIPS-197 for AES.
"""

from __future__ import annotations

import pytest

from bluetrio import crypto
from bluetrio.crypto import (
    Curve,
    EcdhKeyPair,
    InvalidPublicKeyError,
    ReflectedPublicKeyError,
)
from bluetrio.errors import BluetrioError, InvalidArgumentError


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# Values shared by many sample data sets of the specification.
P256_PRIVATE_A = h("3f49f6d4 a3c55f38 74c9b3e3 d2103f50 4aff607b eb40b799 5899b8a6 cd3c1abd")
P256_PRIVATE_B = h("55188b3d 32f6bb9a 900afcfb eed4e72a 59cb9ac2 f19d7cfb 6b4fdd49 f47fc5fd")
P256_PUBLIC_A_X = h("20b003d2 f297be2c 5e2c83a7 e9f9a5b9 eff49111 acf4fddb cc030148 0e359de6")
P256_PUBLIC_A_Y = h("dc809c49 652aeb6d 63329abf 5a52155c 766345c2 8fed3024 741c8ed0 1589d28b")
P256_PUBLIC_B_X = h("1ea1f0f0 1faf1d96 09592284 f19e4c00 47b58afd 8615a69f 559077b2 2faaa190")
P256_PUBLIC_B_Y = h("4c55f33e 429dad37 7356703a 9ab85160 472d1130 e28e3676 5f89aff9 15b1214a")
P256_DHKEY = h("ec0234a3 57c8ad05 341010a6 0a397d9b 99796b13 b4f866f1 868d34f3 73bfa698")

P192_U = h("15207009984421a6586f9fc3fe7e4329d2809ea51125f8ed")
P192_V = h("356b31938421fbbf2fb331c89fd588a69367e9a833f56812")
P192_DHKEY = h("fb3ba2012c7e62466e486e229290175b4afebc13fdccee46")

N1 = h("d5cb8454 d177733e ffffb2ec 712baeab")
N2 = h("a6e8e7cc 25a75f6e 216583f7 ff3dc4cf")
R = h("12a3343b b453bb54 08da42d2 0c2d0fc8")
LE_A1 = h("00561237 37bfce")
LE_A2 = h("00a71370 2dcfc1")
BREDR_A1 = h("56123737bfce")
BREDR_A2 = h("a713702dcfc1")


def test_reverse_swaps_wire_and_spec_order() -> None:
    assert crypto.reverse(h("010203")) == h("030201")
    assert crypto.reverse(b"") == b""


def test_random_bytes_length_and_variety() -> None:
    assert len(crypto.random_bytes(16)) == 16
    assert crypto.random_bytes(16) != crypto.random_bytes(16)
    with pytest.raises(InvalidArgumentError):
        crypto.random_bytes(-1)


# --- LE security functions, Vol 3 Part H Appendix D --------------------------------------


def test_e_is_aes_128() -> None:
    # FIPS-197 Appendix C.1.
    key = h("000102030405060708090a0b0c0d0e0f")
    plaintext = h("00112233445566778899aabbccddeeff")
    assert crypto.e(key, plaintext) == h("69c4e0d86a7b0430d8cdb78070b4c55a")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("", "bb1d6929 e9593728 7fa37d12 9b756746"),
        ("6bc1bee2 2e409f96 e93d7e11 7393172a", "070a16b4 6b4d4144 f79bdd9d d04a287c"),
        (
            "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51"
            "30c81c46 a35ce411",
            "dfa66747 de9ae630 30ca3261 1497c827",
        ),
        (
            "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51"
            "30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710",
            "51f0bebf 7e3b9d92 fc497417 79363cfe",
        ),
    ],
)
def test_aes_cmac_rfc4493(message: str, expected: str) -> None:
    key = h("2b7e1516 28aed2a6 abf71588 09cf4f3c")
    assert crypto.aes_cmac(key, h(message)) == h(expected)


def test_ah() -> None:
    irk = h("ec0234a3 57c8ad05 341010a6 0a397d9b")
    assert crypto.ah(irk, h("708194")) == h("0dfbaa")


def test_c1() -> None:
    confirm = crypto.c1(
        k=bytes(16),
        r=h("5783D52156AD6F0E6388274EC6702EE0"),
        preq=h("07071000000101"),
        pres=h("05000800000302"),
        iat=1,
        rat=0,
        ia=h("A1A2A3A4A5A6"),
        ra=h("B1B2B3B4B5B6"),
    )
    assert confirm == h("1e1e3fef878988ead2a74dc5bef13b86")


def test_c1_rejects_address_type_other_than_public_or_random() -> None:
    with pytest.raises(InvalidArgumentError, match="iat"):
        crypto.c1(bytes(16), bytes(16), bytes(7), bytes(7), 2, 0, bytes(6), bytes(6))


def test_s1() -> None:
    stk = crypto.s1(
        bytes(16), h("000F0E0D0C0B0A091122334455667788"), h("010203040506070899AABBCCDDEEFF00")
    )
    assert stk == h("9a1fe1f0e8b0f49b5b4216ae796da062")


def test_f4() -> None:
    assert crypto.f4(P256_PUBLIC_A_X, P256_PRIVATE_B, N1, b"\x00") == h(
        "f2c916f1 07a9bd1c f1eda1be a974872d"
    )


def test_f5() -> None:
    mac_key, ltk = crypto.f5(P256_DHKEY, N1, N2, LE_A1, LE_A2)
    assert mac_key == h("2965f176 a1084a02 fd3f6a20 ce636e20")
    assert ltk == h("69867911 69d7cd23 980522b5 94750a38")


def test_f6() -> None:
    mac_key = h("2965f176 a1084a02 fd3f6a20 ce636e20")
    check = crypto.f6(mac_key, N1, N2, R, h("010102"), LE_A1, LE_A2)
    assert check == h("e3c47398 9cd0e8c5 d26c0b09 da958f61")


def test_g2() -> None:
    value = crypto.g2(P256_PUBLIC_A_X, P256_PRIVATE_B, N1, N2)
    assert value == 0x2F9ED5BA
    assert value % 10**6 == 0x2F9ED5BA % 1000000


def test_h6() -> None:
    key = h("ec0234a3 57c8ad05 341010a6 0a397d9b")
    assert crypto.h6(key, h("6c656272")) == h("2d9ae102 e76dc91c e8d3a9e2 80b16399")


def test_h7() -> None:
    key = h("ec0234a3 57c8ad05 341010a6 0a397d9b")
    salt = h("00000000 00000000 00000000 746D7031")
    assert crypto.h7(salt, key) == h("fb173597 c6a3c0ec d2998c2a 75a57011")


def test_h8() -> None:
    k = h("ec0234a3 57c8ad05 341010a6 0a397d9b")
    s = h("1536d18d e3d20df9 9b7044c1 2f9ed5ba")
    assert crypto.h8(k, s, h("cc030148")) == h("e5e5beba ae7228e7 22a38904 ed350f6d")


# Cross-transport key derivation (Vol 3 Part H 2.4.2.4-2.4.2.5, sample data D.8-D.11),
# as SMP derives a link key from an LTK and an LTK from a link key.
LTK_D8 = h("368df9bc e3264b58 bd066c33 334fbf64")
LINK_KEY_D10 = h("05040302 01000908 07060504 03020100")


@pytest.mark.parametrize(
    ("ct2", "expected"),
    [
        (False, "bc1ca4ef 633fc1bd 0d8230af ee388fb0"),  # D.8: h6(h6(LTK, "tmp1"), "lebr")
        (True, "287ad379 dca40253 0a39f1f4 3047b835"),  # D.9: h6(h7(SALT, LTK), "lebr")
    ],
)
def test_link_key_from_ltk(ct2: bool, expected: str) -> None:
    assert crypto.link_key_from_ltk(LTK_D8, ct2=ct2) == h(expected)


@pytest.mark.parametrize(
    ("ct2", "expected"),
    [
        (False, "a813fb72 f1a3dfa1 8a2c9a43 f10d0a30"),  # D.10: h6(h6(LK, "tmp2"), "brle")
        (True, "e85e09eb 5eccb3e2 69418a13 3211bc79"),  # D.11: h6(h7(SALT, LK), "brle")
    ],
)
def test_ltk_from_link_key(ct2: bool, expected: str) -> None:
    assert crypto.ltk_from_link_key(LINK_KEY_D10, ct2=ct2) == h(expected)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: crypto.e(bytes(15), bytes(16)), "key"),
        (lambda: crypto.aes_cmac(bytes(17), b""), "key"),
        (lambda: crypto.ah(bytes(16), bytes(4)), "prand"),
        (lambda: crypto.s1(bytes(16), bytes(16), bytes(8)), "r2"),
        (lambda: crypto.f4(bytes(32), bytes(24), bytes(16), b"\x00"), "v"),
        (lambda: crypto.f5(bytes(32), N1, N2, bytes(6), LE_A2), "a1"),
        (lambda: crypto.f6(bytes(16), N1, N2, R, bytes(2), LE_A1, LE_A2), "io_cap"),
        (lambda: crypto.g2(bytes(32), bytes(32), bytes(16), bytes(15)), "y"),
        (lambda: crypto.h6(bytes(16), b"btlinkkey"), "key_id"),
        (lambda: crypto.h7(bytes(16), bytes(32)), "w"),
        (lambda: crypto.link_key_from_ltk(bytes(15), ct2=True), "ltk"),
        (lambda: crypto.ltk_from_link_key(bytes(17), ct2=False), "link_key"),
        (lambda: crypto.h8(bytes(16), bytes(16), b"lebr0"), "key_id"),
        (lambda: crypto.ssp_f1(bytes(32), bytes(24), bytes(16), b"\x00"), "u and v"),
        (lambda: crypto.ssp_g(bytes(20), bytes(20), bytes(16), bytes(16)), "u"),
        (lambda: crypto.ssp_f2(bytes(20), N1, N2, b"btlk", BREDR_A1, BREDR_A2), "w"),
        (lambda: crypto.h3(bytes(16), BREDR_A1, BREDR_A2, bytes(12)), "aco"),
        (lambda: crypto.e("00" * 16, bytes(16)), "key"),  # type: ignore[arg-type]
    ],
)
def test_wrong_argument_raises_invalid_argument_naming_it(call: object, argument: str) -> None:
    assert callable(call)
    with pytest.raises(InvalidArgumentError, match=f"^{argument} must"):
        call()


# --- Resolvable private addresses ---------------------------------------------------------

IRK = h("ec0234a3 57c8ad05 341010a6 0a397d9b")


def test_resolve_rpa_built_from_spec_sample() -> None:
    # prand 0x708194 has its top bits 0b01 and ah gives 0x0dfbaa (Vol 3 Part H D.7).
    assert crypto.resolve_rpa(IRK, h("708194 0dfbaa"))


def test_resolve_rpa_refuses_wrong_hash_wrong_irk_and_wrong_type_bits() -> None:
    assert not crypto.resolve_rpa(IRK, h("708194 0dfbab"))
    assert not crypto.resolve_rpa(bytes(16), h("708194 0dfbaa"))
    # Same hash, but the two most significant bits say "static random" (0b11).
    prand = h("f08194")
    assert not crypto.resolve_rpa(IRK, prand + crypto.ah(IRK, prand))


def test_generate_rpa_marks_the_address_resolvable() -> None:
    rpa = crypto.generate_rpa(IRK)
    assert len(rpa) == 6
    assert rpa[0] >> 6 == 0b01
    assert crypto.resolve_rpa(IRK, rpa)
    assert rpa[3:] == crypto.ah(IRK, rpa[:3])


def test_rpa_with_wrong_lengths_is_an_argument_error() -> None:
    with pytest.raises(InvalidArgumentError, match="rpa"):
        crypto.resolve_rpa(IRK, bytes(5))
    with pytest.raises(InvalidArgumentError, match="irk"):
        crypto.generate_rpa(bytes(6))


# --- ECDH ---------------------------------------------------------------------------------


def test_p256_sample_ecdh() -> None:
    a = EcdhKeyPair.from_private(P256_PRIVATE_A, Curve.P256)
    b = EcdhKeyPair.from_private(P256_PRIVATE_B, Curve.P256)
    assert (a.public_x, a.public_y) == (P256_PUBLIC_A_X, P256_PUBLIC_A_Y)
    assert (b.public_x, b.public_y) == (P256_PUBLIC_B_X, P256_PUBLIC_B_Y)
    assert a.shared_secret(P256_PUBLIC_B_X, P256_PUBLIC_B_Y) == P256_DHKEY
    assert b.shared_secret(P256_PUBLIC_A_X, P256_PUBLIC_A_Y) == P256_DHKEY


@pytest.mark.parametrize(
    ("private_a", "private_b", "public_a_x", "dhkey"),
    [
        # Vol 2 Part G 7.1.1 P-192 data sets 1 and 2.
        (
            "07915f86918ddc27005df1d6cf0c142b625ed2eff4a518ff",
            "1e636ca790b50f68f15d8dbe86244e309211d635de00e16d",
            "15207009984421a6586f9fc3fe7e4329d2809ea51125f8ed",
            "fb3ba2012c7e62466e486e229290175b4afebc13fdccee46",
        ),
        (
            "52ec1ca6e0ec973c29065c3ca10be80057243002f09bb43e",
            "57231203533e9efe18cc622fd0e34c6a29c6e0fa3ab3bc53",
            "45571f027e0d690795d61560804da5de789a48f94ab4b07e",
            "a20a34b5497332aa7a76ab135cc0c168333be309d463c0c0",
        ),
    ],
)
def test_p192_sample_ecdh(private_a: str, private_b: str, public_a_x: str, dhkey: str) -> None:
    a = EcdhKeyPair.from_private(h(private_a), Curve.P192)
    b = EcdhKeyPair.from_private(h(private_b), Curve.P192)
    assert a.public_x == h(public_a_x)
    assert len(a.public_y) == 24
    assert b.shared_secret(a.public_x, a.public_y) == h(dhkey)
    assert a.shared_secret(b.public_x, b.public_y) == h(dhkey)


def test_generated_pairs_agree_on_both_curves() -> None:
    for generate, length in ((EcdhKeyPair.generate_p256, 32), (EcdhKeyPair.generate_p192, 24)):
        a, b = generate(), generate()
        assert len(a.public_x) == len(a.public_y) == length
        secret = a.shared_secret(b.public_x, b.public_y)
        assert len(secret) == length
        assert secret == b.shared_secret(a.public_x, a.public_y)


def test_off_curve_peer_key_is_refused_cve_2018_5383() -> None:
    ours = EcdhKeyPair.generate_p256()
    # The debug public key with y changed by one is not on P-256; the attack of
    # CVE-2018-5383 sends exactly such a point (x kept, y replaced).
    bad_y = (int.from_bytes(P256_PUBLIC_A_Y, "big") + 1).to_bytes(32, "big")
    with pytest.raises(InvalidPublicKeyError, match="not a point of P-256"):
        ours.shared_secret(P256_PUBLIC_A_X, bad_y)
    with pytest.raises(InvalidPublicKeyError):
        ours.shared_secret(P256_PUBLIC_A_X, bytes(32))


def test_point_at_infinity_and_out_of_range_coordinates_are_refused() -> None:
    for ours, length in ((EcdhKeyPair.generate_p256(), 32), (EcdhKeyPair.generate_p192(), 24)):
        with pytest.raises(InvalidPublicKeyError):
            ours.shared_secret(bytes(length), bytes(length))
        p = ours.curve.value.p.to_bytes(length, "big")
        with pytest.raises(InvalidPublicKeyError):
            ours.shared_secret(p, ours.public_y)
        with pytest.raises(InvalidPublicKeyError):
            ours.shared_secret(b"\xff" * length, b"\xff" * length)


def test_coordinates_reduced_modulo_p_are_refused() -> None:
    # x + p or y + p names the same point modulo p; a check that reduced first would accept
    # it. Both are out of range and refused (Vol 3 Part H 2.3.5.6.1).
    p = Curve.P256.value.p
    x = int.from_bytes(P256_PUBLIC_B_X, "big")
    y = int.from_bytes(P256_PUBLIC_B_Y, "big")
    ours = EcdhKeyPair.generate_p256()
    for bad_x, bad_y in ((x + p, y), (x, y + p)):
        if max(bad_x, bad_y) < 1 << 256:
            with pytest.raises(InvalidPublicKeyError):
                ours.shared_secret(bad_x.to_bytes(32, "big"), bad_y.to_bytes(32, "big"))
    assert not Curve.P256.contains(x, y + p)
    assert not Curve.P256.contains(x + p, y)
    assert Curve.P256.contains(x, y)


def test_off_curve_p192_key_is_refused() -> None:
    ours = EcdhKeyPair.generate_p192()
    peer = EcdhKeyPair.generate_p192()
    bad_y = ((int.from_bytes(peer.public_y, "big") + 1) % Curve.P192.value.p).to_bytes(24, "big")
    with pytest.raises(InvalidPublicKeyError, match="P-192"):
        ours.shared_secret(peer.public_x, bad_y)


def test_reflected_public_key_is_refused() -> None:
    ours = EcdhKeyPair.generate_p256()
    with pytest.raises(ReflectedPublicKeyError):
        ours.shared_secret(ours.public_x, ours.public_y)
    assert issubclass(ReflectedPublicKeyError, InvalidPublicKeyError)
    assert issubclass(InvalidPublicKeyError, BluetrioError)


def test_peer_key_of_wrong_size_is_an_argument_error() -> None:
    ours = EcdhKeyPair.generate_p256()
    with pytest.raises(InvalidArgumentError, match="peer_x"):
        ours.shared_secret(P192_U, P256_PUBLIC_A_Y)


def test_from_private_refuses_zero_and_wrong_length() -> None:
    with pytest.raises(InvalidArgumentError, match="P-256"):
        EcdhKeyPair.from_private(bytes(32), Curve.P256)
    with pytest.raises(InvalidArgumentError, match="32 bytes"):
        EcdhKeyPair.from_private(bytes(24), Curve.P256)


def test_debug_key() -> None:
    debug = EcdhKeyPair.from_private(crypto.DEBUG_PRIVATE_KEY, Curve.P256)
    assert crypto.is_debug_key(debug.public_x, debug.public_y)
    assert crypto.is_debug_key(P256_PUBLIC_A_X, P256_PUBLIC_A_Y)
    assert not crypto.is_debug_key(P256_PUBLIC_B_X, P256_PUBLIC_B_Y)
    assert not crypto.is_debug_key(P256_PUBLIC_A_X, P256_PUBLIC_B_Y)


def test_private_key_is_not_in_repr() -> None:
    pair = EcdhKeyPair.from_private(P256_PRIVATE_A, Curve.P256)
    assert "3f49f6d4" not in repr(pair)
    assert "P-256" in repr(pair)


# --- BR/EDR Secure Simple Pairing, Vol 2 Part G 7.2 ---------------------------------------


@pytest.mark.parametrize(
    ("u", "v", "z", "expected"),
    [
        (P192_U, P192_V, "00", "1bdc955a9d542ffc9f9e670cdf665010"),
        (P192_U, P192_V, "80", "611325ebcb6e5269b868113306095fa6"),
        (P192_U, P192_V, "81", "b68df39fd8a406b06a6c517d3666cf91"),
        (P192_V, P192_U, "00", "f4e1ec4b88f305e81477627b1643a927"),
        (P192_V, P192_U, "81", "5ad4721258aa1fa06082edad980d0cc5"),
        (P192_U, P192_U, "00", "49125fc1e8cdc615826c15e5d23ede41"),
        (P256_PUBLIC_A_X, P256_PRIVATE_B, "00", "d301ce92cc7b9e3f51d2924b8b33faca"),
        (P256_PUBLIC_A_X, P256_PRIVATE_B, "80", "7e431112c10de8a3984c8ac8149ff6ec"),
    ],
)
def test_ssp_f1(u: bytes, v: bytes, z: str, expected: str) -> None:
    assert crypto.ssp_f1(u, v, N1, h(z)) == h(expected)


def test_ssp_g() -> None:
    value = crypto.ssp_g(P192_U, P192_V, N1, N2)
    assert value == 0x52146A1E
    assert value % 10**6 == 0x52146A1E % 1000000


@pytest.mark.parametrize(
    ("w", "expected"),
    [
        (P192_DHKEY, "c234c1198f3b520186ab92a2f874934e"),
        (P256_DHKEY, "47300bb95c7404129450674b1741104d"),
    ],
)
def test_ssp_f2(w: bytes, expected: str) -> None:
    assert crypto.ssp_f2(w, N1, N2, b"btlk", BREDR_A1, BREDR_A2) == h(expected)


@pytest.mark.parametrize(
    ("w", "io_cap", "swapped", "expected"),
    [
        (P192_DHKEY, "000000", False, "5e6a346b8add7ee80e7ec0c2461b1509"),
        (P192_DHKEY, "000001", False, "7840e5445a13e3ce6e48a2decbe51482"),
        (P192_DHKEY, "000103", False, "4512274ba875b156c2187e2061b90434"),
        (P192_DHKEY, "010001", False, "0d4b97992eb570efb369cfe45e1681b5"),
        (P192_DHKEY, "000000", True, "8d56dc59e70855f563b5e85e42d5964e"),
        (P192_DHKEY, "000103", True, "e0f484bb0b071483285903e85094046b"),
        (P256_DHKEY, "000000", False, "5634c83c9996a86b53473fe25979ec90"),
    ],
)
def test_ssp_f3(w: bytes, io_cap: str, swapped: bool, expected: str) -> None:
    n1, n2, a1, a2 = (N2, N1, BREDR_A2, BREDR_A1) if swapped else (N1, N2, BREDR_A1, BREDR_A2)
    assert crypto.ssp_f3(w, n1, n2, R, h(io_cap), a1, a2) == h(expected)


LINK_KEY = h("c234c1198f3b520186ab92a2f874934e")


def test_h3() -> None:
    aco = h("c683b97d9d421f91")
    assert crypto.h3(LINK_KEY, BREDR_A1, BREDR_A2, aco) == h("677b377f74a5d501121c46492d4cb489")


def test_h4() -> None:
    device_key = crypto.h4(LINK_KEY, b"btdk", BREDR_A1, BREDR_A2)
    assert device_key == h("b089c4e39d7c192c3aba3c2109d24c0d")


def test_h5_yields_both_sres_and_the_aco_used_by_h3() -> None:
    device_key = h("b089c4e39d7c192c3aba3c2109d24c0d")
    result = crypto.h5(device_key, N1, N2)
    assert result == h("746af87e1eeb1137c683b97d9d421f91")
    assert result[8:] == h("c683b97d9d421f91")
