"""Cryptographic toolbox for pairing, bonding and privacy.

Byte order convention: every function here takes and returns ``bytes`` in the order the
specification prints its values and sample data, most significant octet first. Values that
arrive from the air or the controller are little-endian; the caller reverses them with
:func:`reverse` before calling in and reverses results before sending them out. Keeping a single
convention inside this module lets the spec's sample data be used verbatim in the tests.

Sections implemented:

- LE security functions (Core 5.4 Vol 3 Part H 2.2): ``e``, ``aes_cmac``, ``ah``, ``c1``, ``s1``,
  ``f4``, ``f5``, ``f6``, ``g2``, ``h6``, ``h7``, ``h8``.
- Resolvable private addresses (Vol 6 Part B 1.3.2.2, Vol 3 Part H 2.2.2).
- Elliptic-curve Diffie-Hellman on P-192 and P-256 with public-key validation (the fix for
  CVE-2018-5383) and the SMP debug key (Vol 3 Part H 2.3.5.6.1).
- BR/EDR Secure Simple Pairing functions (Vol 2 Part H 7.7): ``ssp_f1``, ``ssp_g``, ``ssp_f2``,
  ``ssp_f3``, and the BR/EDR Secure Connections functions ``h3``, ``h4``, ``h5``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets

import attrs
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bluetrio.errors import InvalidArgumentError, InvalidPublicKeyError, ReflectedPublicKeyError

__all__ = [
    "DEBUG_PRIVATE_KEY",
    "DEBUG_PUBLIC_X",
    "DEBUG_PUBLIC_Y",
    "Curve",
    "EcdhKeyPair",
    "InvalidPublicKeyError",
    "ReflectedPublicKeyError",
    "aes_cmac",
    "ah",
    "c1",
    "e",
    "f4",
    "f5",
    "f6",
    "g2",
    "generate_rpa",
    "h3",
    "h4",
    "h5",
    "h6",
    "h7",
    "h8",
    "is_debug_key",
    "random_bytes",
    "resolve_rpa",
    "reverse",
    "s1",
    "ssp_f1",
    "ssp_f2",
    "ssp_f3",
    "ssp_g",
]


# --------------------------------------------------------------------------------------------
# Argument checks and helpers
# --------------------------------------------------------------------------------------------


def reverse(data: bytes) -> bytes:
    """Swap between wire order (little-endian) and specification order (MSB first)."""
    return bytes(reversed(data))


def random_bytes(length: int) -> bytes:
    """Return ``length`` bytes from the operating system's cryptographic random source."""
    if length < 0:
        raise InvalidArgumentError(f"cannot generate a negative number of bytes ({length})")
    return secrets.token_bytes(length)


def _require(name: str, value: bytes, *lengths: int) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidArgumentError(f"{name} must be bytes, got {type(value).__name__}")
    value = bytes(value)
    if len(value) not in lengths:
        expected = " or ".join(str(n) for n in lengths)
        raise InvalidArgumentError(f"{name} must be {expected} bytes long, got {len(value)}")
    return value


def _checked(*arguments: tuple[str, bytes, int | tuple[int, ...]]) -> tuple[bytes, ...]:
    """Check several ``(name, value, allowed lengths)`` arguments; return the values as bytes."""
    return tuple(
        _require(name, value, *(lengths if isinstance(lengths, tuple) else (lengths,)))
        for name, value, lengths in arguments
    )


def _coordinates(u: bytes, v: bytes) -> tuple[bytes, bytes]:
    """Check two public-key x coordinates of the same curve (P-192 or P-256)."""
    u, v = _checked(("u", u, _DH_LENGTHS), ("v", v, _DH_LENGTHS))
    if len(u) != len(v):
        raise InvalidArgumentError(
            f"u and v must come from the same curve, got {len(u)} and {len(v)} bytes"
        )
    return u, v


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


# --------------------------------------------------------------------------------------------
# LE security functions (Core 5.4 Vol 3 Part H 2.2)
# --------------------------------------------------------------------------------------------


def e(key: bytes, plaintext: bytes) -> bytes:
    """Security function e: AES-128 encryption of one block (Vol 3 Part H 2.2.1)."""
    key, plaintext = _checked(("key", key, 16), ("plaintext", plaintext, 16))
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize()


def aes_cmac(key: bytes, message: bytes) -> bytes:
    """AES-CMAC with a 128-bit key as defined in RFC 4493 (Vol 3 Part H 2.2.5)."""
    key = _require("key", key, 16)
    if not isinstance(message, bytes | bytearray | memoryview):
        raise InvalidArgumentError(f"message must be bytes, got {type(message).__name__}")
    mac = cmac.CMAC(algorithms.AES(key))
    mac.update(bytes(message))
    return mac.finalize()


def ah(irk: bytes, prand: bytes) -> bytes:
    """Random address hash function ah (Vol 3 Part H 2.2.2): 24-bit hash of ``prand``."""
    irk, prand = _checked(("irk", irk, 16), ("prand", prand, 3))
    # r' = padding || r, with 13 zero octets of padding in the most significant positions.
    return e(irk, bytes(13) + prand)[-3:]


def c1(
    k: bytes,
    r: bytes,
    preq: bytes,
    pres: bytes,
    iat: int,
    rat: int,
    ia: bytes,
    ra: bytes,
) -> bytes:
    """Legacy pairing confirm value generation function c1 (Vol 3 Part H 2.2.3).

    ``preq``/``pres`` are the 7-octet Pairing Request/Response commands (MSB first), ``iat``
    and ``rat`` the initiating/responding address types (0 public, 1 random), ``ia``/``ra``
    the 6-octet addresses.
    """
    k, r, preq, pres, ia, ra = _checked(
        ("k", k, 16),
        ("r", r, 16),
        ("preq", preq, 7),
        ("pres", pres, 7),
        ("ia", ia, 6),
        ("ra", ra, 6),
    )
    for name, value in (("iat", iat), ("rat", rat)):
        if value not in (0, 1):
            raise InvalidArgumentError(f"{name} must be 0 (public) or 1 (random), got {value!r}")
    p1 = pres + preq + bytes((rat, iat))
    p2 = bytes(4) + ia + ra
    return e(k, _xor(e(k, _xor(r, p1)), p2))


def s1(k: bytes, r1: bytes, r2: bytes) -> bytes:
    """Legacy pairing key generation function s1 (Vol 3 Part H 2.2.4): the STK."""
    k, r1, r2 = _checked(("k", k, 16), ("r1", r1, 16), ("r2", r2, 16))
    # r' = the least significant 64 bits of r1 followed by those of r2.
    return e(k, r1[8:] + r2[8:])


def f4(u: bytes, v: bytes, x: bytes, z: bytes) -> bytes:
    """LE Secure Connections confirm value generation function f4 (Vol 3 Part H 2.2.6)."""
    u, v, x, z = _checked(("u", u, 32), ("v", v, 32), ("x", x, 16), ("z", z, 1))
    return aes_cmac(x, u + v + z)


# SALT and keyID of f5 (Vol 3 Part H 2.2.7).
_F5_SALT = bytes.fromhex("6C888391AAF5A53860370BDB5A6083BE")
_F5_KEY_ID = b"btle"
_F5_LENGTH = (256).to_bytes(2, "big")


def f5(w: bytes, n1: bytes, n2: bytes, a1: bytes, a2: bytes) -> tuple[bytes, bytes]:
    """LE Secure Connections key generation function f5 (Vol 3 Part H 2.2.7).

    ``w`` is the 32-octet DHKey, ``a1``/``a2`` are 7 octets: address type || address.
    Returns ``(mac_key, ltk)``.
    """
    w, n1, n2, a1, a2 = _checked(
        ("w", w, 32),
        ("n1", n1, 16),
        ("n2", n2, 16),
        ("a1", a1, 7),
        ("a2", a2, 7),
    )
    t = aes_cmac(_F5_SALT, w)
    tail = _F5_KEY_ID + n1 + n2 + a1 + a2 + _F5_LENGTH
    mac_key = aes_cmac(t, b"\x00" + tail)
    ltk = aes_cmac(t, b"\x01" + tail)
    return mac_key, ltk


def f6(w: bytes, n1: bytes, n2: bytes, r: bytes, io_cap: bytes, a1: bytes, a2: bytes) -> bytes:
    """LE Secure Connections check value generation function f6 (Vol 3 Part H 2.2.8).

    ``io_cap`` is 3 octets: AuthReq || OOB data flag || IO capability (MSB first).
    """
    w, n1, n2, r, io_cap, a1, a2 = _checked(
        ("w", w, 16),
        ("n1", n1, 16),
        ("n2", n2, 16),
        ("r", r, 16),
        ("io_cap", io_cap, 3),
        ("a1", a1, 7),
        ("a2", a2, 7),
    )
    return aes_cmac(w, n1 + n2 + r + io_cap + a1 + a2)


def g2(u: bytes, v: bytes, x: bytes, y: bytes) -> int:
    """LE Secure Connections numeric comparison function g2 (Vol 3 Part H 2.2.9).

    Returns the 32-bit value; the six digits shown to the user are ``g2(...) % 10**6``.
    """
    u, v, x, y = _checked(("u", u, 32), ("v", v, 32), ("x", x, 16), ("y", y, 16))
    return int.from_bytes(aes_cmac(x, u + v + y), "big") % (1 << 32)


def h6(w: bytes, key_id: bytes) -> bytes:
    """Link key conversion function h6 (Vol 3 Part H 2.2.10)."""
    w, key_id = _checked(("w", w, 16), ("key_id", key_id, 4))
    return aes_cmac(w, key_id)


def h7(salt: bytes, w: bytes) -> bytes:
    """Link key conversion function h7 (Vol 3 Part H 2.2.11)."""
    salt, w = _checked(("salt", salt, 16), ("w", w, 16))
    return aes_cmac(salt, w)


def h8(k: bytes, s: bytes, key_id: bytes) -> bytes:
    """Key derivation function h8 (Vol 3 Part H 2.2.12): AES-CMAC_IK(keyID) with
    IK = AES-CMAC_S(K)."""
    k, s, key_id = _checked(("k", k, 16), ("s", s, 16), ("key_id", key_id, 4))
    return aes_cmac(aes_cmac(s, k), key_id)


# Cross-transport key derivation (Vol 3 Part H 2.4.2.4, 2.4.2.5): the salts of h7 are the
# key IDs of h6 zero-padded to 128 bits, used when both devices set CT2 in AuthReq.
_SALT_TMP1 = bytes(12) + b"tmp1"
_SALT_TMP2 = bytes(12) + b"tmp2"


def link_key_from_ltk(ltk: bytes, *, ct2: bool) -> bytes:
    """The BR/EDR link key derived from an LE Secure Connections LTK (2.4.2.4):
    ILK = h7(SALT, LTK) with CT2, else h6(LTK, "tmp1"); link key = h6(ILK, "lebr")."""
    (ltk,) = _checked(("ltk", ltk, 16))
    intermediate = h7(_SALT_TMP1, ltk) if ct2 else h6(ltk, b"tmp1")
    return h6(intermediate, b"lebr")


def ltk_from_link_key(link_key: bytes, *, ct2: bool) -> bytes:
    """The LE LTK derived from a BR/EDR Secure Connections link key (2.4.2.5):
    ILK = h7(SALT, LK) with CT2, else h6(LK, "tmp2"); LTK = h6(ILK, "brle")."""
    (link_key,) = _checked(("link_key", link_key, 16))
    intermediate = h7(_SALT_TMP2, link_key) if ct2 else h6(link_key, b"tmp2")
    return h6(intermediate, b"brle")


# --------------------------------------------------------------------------------------------
# Resolvable private addresses (Vol 6 Part B 1.3.2.2, Vol 3 Part H 2.2.2)
# --------------------------------------------------------------------------------------------


def generate_rpa(irk: bytes) -> bytes:
    """Generate a resolvable private address for ``irk`` (6 bytes, MSB first).

    prand has its two most significant bits set to 0b01 and its random part neither all
    zeros nor all ones (Vol 6 Part B 1.3.2.2); the address is prand || hash.
    """
    irk = _require("irk", irk, 16)
    while True:
        random_part = int.from_bytes(random_bytes(3), "big") & 0x3FFFFF
        if random_part not in (0, 0x3FFFFF):
            break
    prand = (random_part | 0x400000).to_bytes(3, "big")
    return prand + ah(irk, prand)


def resolve_rpa(irk: bytes, rpa: bytes) -> bool:
    """Return whether ``rpa`` (6 bytes, MSB first) was generated from ``irk``."""
    irk, rpa = _checked(("irk", irk, 16), ("rpa", rpa, 6))
    if rpa[0] >> 6 != 0b01:
        return False
    return hmac.compare_digest(ah(irk, rpa[:3]), rpa[3:])


# --------------------------------------------------------------------------------------------
# Elliptic-curve Diffie-Hellman (Vol 3 Part H 2.3.5.6, Vol 2 Part H 7.1)
# --------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class _CurveParameters:
    """Short Weierstrass curve y^2 = x^3 - 3x + b over GF(p) (FIPS 186-4 D.1.2)."""

    name: str
    p: int
    b: int
    coordinate_length: int


class Curve(enum.Enum):
    """The NIST curves used by Bluetooth pairing."""

    # BR/EDR Secure Simple Pairing without Secure Connections (Vol 2 Part H 7.1).
    P192 = _CurveParameters(
        name="P-192",
        p=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFF,
        b=0x64210519E59C80E70FA7E9AB72243049FEB8DEECC146B9B1,
        coordinate_length=24,
    )
    # LE Secure Connections and BR/EDR Secure Connections.
    P256 = _CurveParameters(
        name="P-256",
        p=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
        b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        coordinate_length=32,
    )

    @property
    def coordinate_length(self) -> int:
        return self.value.coordinate_length

    def _cryptography_curve(self) -> ec.EllipticCurve:
        return ec.SECP192R1() if self is Curve.P192 else ec.SECP256R1()

    def contains(self, x: int, y: int) -> bool:
        """Whether (x, y) is an affine point of the curve with coordinates below p."""
        p = self.value.p
        if not (0 <= x < p and 0 <= y < p):
            return False
        return (y * y - (x * x * x - 3 * x + self.value.b)) % p == 0


@attrs.frozen(slots=True, repr=False)
class EcdhKeyPair:
    """An ECDH key pair on P-192 or P-256; coordinates are big-endian bytes."""

    curve: Curve
    _private_key: ec.EllipticCurvePrivateKey
    public_x: bytes
    public_y: bytes

    def __repr__(self) -> str:
        # The private key is never printed, not even in a traceback.
        return f"EcdhKeyPair({self.curve.value.name}, public_x={self.public_x.hex()})"

    @classmethod
    def _from_private_key(cls, curve: Curve, key: ec.EllipticCurvePrivateKey) -> EcdhKeyPair:
        numbers = key.public_key().public_numbers()
        length = curve.coordinate_length
        return cls(curve, key, numbers.x.to_bytes(length, "big"), numbers.y.to_bytes(length, "big"))

    @classmethod
    def generate(cls, curve: Curve) -> EcdhKeyPair:
        return cls._from_private_key(curve, ec.generate_private_key(curve._cryptography_curve()))

    @classmethod
    def generate_p256(cls) -> EcdhKeyPair:
        return cls.generate(Curve.P256)

    @classmethod
    def generate_p192(cls) -> EcdhKeyPair:
        return cls.generate(Curve.P192)

    @classmethod
    def from_private(cls, scalar: bytes, curve: Curve = Curve.P256) -> EcdhKeyPair:
        """Build a key pair from a known private scalar (big-endian), e.g. the debug key."""
        scalar = _require("private scalar", scalar, curve.coordinate_length)
        try:
            key = ec.derive_private_key(int.from_bytes(scalar, "big"), curve._cryptography_curve())
        except ValueError as error:
            raise InvalidArgumentError(
                f"not a valid {curve.value.name} private key: {error}"
            ) from None
        return cls._from_private_key(curve, key)

    def shared_secret(self, peer_x: bytes, peer_y: bytes) -> bytes:
        """Compute the DHKey (the x coordinate of the shared point, big-endian).

        The peer's key is validated first: a point off the curve would let an attacker learn
        the private key or force a known DHKey (CVE-2018-5383), and a reflected copy of our own
        key is refused too.
        """
        length = self.curve.coordinate_length
        peer_x, peer_y = _checked(("peer_x", peer_x, length), ("peer_y", peer_y, length))
        if peer_x == self.public_x and peer_y == self.public_y:
            raise ReflectedPublicKeyError("the peer's public key is our own public key")
        x = int.from_bytes(peer_x, "big")
        y = int.from_bytes(peer_y, "big")
        # (0, 0) is how the point at infinity would be sent; it is never on these curves.
        if not self.curve.contains(x, y):
            raise InvalidPublicKeyError(
                f"the peer's public key is not a point of {self.curve.value.name}"
            )
        try:
            peer_key = ec.EllipticCurvePublicNumbers(
                x, y, self.curve._cryptography_curve()
            ).public_key()
        except ValueError as error:
            raise InvalidPublicKeyError(f"the peer's public key was refused: {error}") from None
        return self._private_key.exchange(ec.ECDH(), peer_key)


# The SMP debug key pair (Vol 3 Part H 2.3.5.6.1), used only in debug mode; a device must
# refuse it outside debug mode because everyone knows its private key.
DEBUG_PRIVATE_KEY = bytes.fromhex(
    "3f49f6d4a3c55f3874c9b3e3d2103f504aff607beb40b7995899b8a6cd3c1abd"
)
DEBUG_PUBLIC_X = bytes.fromhex("20b003d2f297be2c5e2c83a7e9f9a5b9eff49111acf4fddbcc0301480e359de6")
DEBUG_PUBLIC_Y = bytes.fromhex("dc809c49652aeb6d63329abf5a52155c766345c28fed3024741c8ed01589d28b")


def is_debug_key(x: bytes, y: bytes) -> bool:
    """Whether (x, y) (big-endian) is the public SMP debug key."""
    return bytes(x) == DEBUG_PUBLIC_X and bytes(y) == DEBUG_PUBLIC_Y


# --------------------------------------------------------------------------------------------
# BR/EDR Secure Simple Pairing (Vol 2 Part H 7.7)
# --------------------------------------------------------------------------------------------


def _hmac_sha256_128(key: bytes, message: bytes) -> bytes:
    # The SSP functions keep the 128 most significant bits of HMAC-SHA-256 (Vol 2 Part H 7.7).
    return hmac.new(key, message, hashlib.sha256).digest()[:16]


_DH_LENGTHS = (Curve.P192.coordinate_length, Curve.P256.coordinate_length)


def ssp_f1(u: bytes, v: bytes, x: bytes, z: bytes) -> bytes:
    """Commitment function f1 (Vol 2 Part H 7.7.1): U and V are P-192 or P-256 x coordinates."""
    u, v = _coordinates(u, v)
    x, z = _checked(("x", x, 16), ("z", z, 1))
    return _hmac_sha256_128(x, u + v + z)


def ssp_g(u: bytes, v: bytes, x: bytes, y: bytes) -> int:
    """Numeric verification function g (Vol 2 Part H 7.7.2).

    Returns the 32-bit value; the six digits shown to the user are ``ssp_g(...) % 10**6``.
    """
    u, v = _coordinates(u, v)
    x, y = _checked(("x", x, 16), ("y", y, 16))
    return int.from_bytes(hashlib.sha256(u + v + x + y).digest(), "big") % (1 << 32)


_SSP_LINK_KEY_ID = b"btlk"


def ssp_f2(w: bytes, n1: bytes, n2: bytes, key_id: bytes, a1: bytes, a2: bytes) -> bytes:
    """Link key calculation function f2 (Vol 2 Part H 7.7.3).

    ``w`` is the DHKey (24 or 32 octets), ``key_id`` is ``b"btlk"``, ``a1``/``a2`` are 6-octet
    BD_ADDRs.
    """
    w, n1, n2, key_id, a1, a2 = _checked(
        ("w", w, _DH_LENGTHS),
        ("n1", n1, 16),
        ("n2", n2, 16),
        ("key_id", key_id, 4),
        ("a1", a1, 6),
        ("a2", a2, 6),
    )
    return _hmac_sha256_128(w, n1 + n2 + key_id + a1 + a2)


def ssp_f3(w: bytes, n1: bytes, n2: bytes, r: bytes, io_cap: bytes, a1: bytes, a2: bytes) -> bytes:
    """Check value function f3 (Vol 2 Part H 7.7.4); ``io_cap`` is 3 octets."""
    w, n1, n2, r, io_cap, a1, a2 = _checked(
        ("w", w, _DH_LENGTHS),
        ("n1", n1, 16),
        ("n2", n2, 16),
        ("r", r, 16),
        ("io_cap", io_cap, 3),
        ("a1", a1, 6),
        ("a2", a2, 6),
    )
    return _hmac_sha256_128(w, n1 + n2 + r + io_cap + a1 + a2)


_H3_KEY_ID = b"btak"


def h3(t: bytes, a1: bytes, a2: bytes, aco: bytes) -> bytes:
    """AES encryption key generation function h3 (Vol 2 Part H 7.7.7), key ID "btak"."""
    t, a1, a2, aco = _checked(("t", t, 16), ("a1", a1, 6), ("a2", a2, 6), ("aco", aco, 8))
    return _hmac_sha256_128(t, _H3_KEY_ID + a1 + a2 + aco)


def h4(t: bytes, key_id: bytes, a1: bytes, a2: bytes) -> bytes:
    """Device authentication key generation function h4 (Vol 2 Part H 7.7.8), e.g. "btdk"."""
    t, key_id, a1, a2 = _checked(("t", t, 16), ("key_id", key_id, 4), ("a1", a1, 6), ("a2", a2, 6))
    return _hmac_sha256_128(t, key_id + a1 + a2)


def h5(s: bytes, r1: bytes, r2: bytes) -> bytes:
    """Device authentication confirmation function h5 (Vol 2 Part H 7.7.9).

    Returns 16 octets, MSB first: SRES of the central (4 octets) || SRES of the peripheral
    (4 octets) || ACO (8 octets) (Vol 2 Part H 5.2).
    """
    s, r1, r2 = _checked(("s", s, 16), ("r1", r1, 16), ("r2", r2, 16))
    return _hmac_sha256_128(s, r1 + r2)
