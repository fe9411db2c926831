"""btm's side of cross-transport key derivation (Core 5.4 Vol 3 Part H 2.4.2.4, 2.4.2.5):
what SMP hears of a BR/EDR link's encryption, and the keys SMP derived for the other
transport, never kept over a stronger one."""

from __future__ import annotations

import attrs
import pytest

from bluetrio.actors.btm.commands import CommandIssuer
from bluetrio.actors.btm.config import SecurityConfig
from bluetrio.actors.btm.cross_transport import CrossTransportKeys
from bluetrio.actors.btm.key_database import KeyDatabase
from bluetrio.actors.btm.security import SecurityCore
from bluetrio.actors.btm.security_policy import EncryptionMode
from bluetrio.actors.btm.security_records import LinkRecord
from bluetrio.actors.effects import Effects, Emit
from bluetrio.actors.smp.cross_transport import le_bond_from_link_key, link_key_bond
from bluetrio.address import Address, AddressType
from bluetrio.bonds import Bond, KeyDistribution, LinkKey, LinkKeyType, LongTermKey, Transport
from bluetrio.messages.base import Message
from bluetrio.messages.btm import AclLink, LinkTransport, Role
from bluetrio.messages.btm_security import BondRefusedInd, StoreBondReq, bredr_bond
from bluetrio.messages.smp_service import SmpBondInd, SmpBondRsp, SmpBrEdrSecurityInd

LOCAL = Address.parse("00:00:00:00:00:01")
PEER = Address.parse("00:00:00:00:00:02")
HANDLE = 0x0003
AUTHENTICATED = LinkKey(bytes(range(16)), LinkKeyType.AUTHENTICATED_P256)
UNAUTHENTICATED = LinkKey(bytes(range(1, 17)), LinkKeyType.UNAUTHENTICATED_P256)


def emitted(effects: Effects) -> list[Message]:
    return [effect.message for effect in effects if isinstance(effect, Emit)]


def keys_with(*keys: LinkKey) -> KeyDatabase:
    database = KeyDatabase()
    for key in keys:
        database.replace(PEER, key, storing=False)
    return database


def cross(
    keys: KeyDatabase | None = None, *, smp: bool = True, **config: bool
) -> CrossTransportKeys:
    return CrossTransportKeys(config=SecurityConfig(**config), keys=keys or KeyDatabase(), smp=smp)


def record(key: LinkKey, mode: EncryptionMode, *, stored: bool = False) -> LinkRecord:
    return LinkRecord(
        HANDLE, PEER, key_type=key.type, link_key=key, encryption=mode, key_size=16,
        used_stored_key=stored,
    )  # fmt: skip


def le_bond(*, authenticated: bool = False) -> Bond:
    ltk = LongTermKey(bytes(range(16)))
    keys = KeyDistribution(ltk)
    return Bond(
        LOCAL, PEER, Transport.LE, peer_keys=keys, local_keys=keys,
        authenticated=authenticated, secure_connections=True,
    )  # fmt: skip


def derived(*, authenticated: bool = False) -> Bond:
    le = le_bond(authenticated=authenticated)
    bond = link_key_bond(le, bytes(range(16)), ct2=True, local_identity=LOCAL)
    assert bond is not None
    return bond


# -- what SMP hears ----------------------------------------------------------------------------


def test_an_sc_key_under_aes_ccm_is_given_to_smp_with_what_made_it() -> None:
    keys = keys_with(AUTHENTICATED)
    (indication,) = emitted(cross(keys).link_secured(record(AUTHENTICATED, EncryptionMode.AES_CCM)))
    assert indication == SmpBrEdrSecurityInd(HANDLE, PEER, AUTHENTICATED, 16, True, True)


@pytest.mark.parametrize(
    ("key", "mode"),
    [
        (LinkKey(bytes(16), LinkKeyType.AUTHENTICATED_P192), EncryptionMode.E0),
        (AUTHENTICATED, EncryptionMode.E0),
    ],
    ids=["P-192 key", "SC key under E0"],
)
def test_other_keys_and_modes_give_smp_nothing_to_derive_from(
    key: LinkKey, mode: EncryptionMode
) -> None:
    (indication,) = emitted(cross().link_secured(record(key, mode, stored=True)))
    assert isinstance(indication, SmpBrEdrSecurityInd) and indication.link_key is None
    assert not indication.bonded and not indication.paired


def test_nothing_is_told_without_smp_and_encryption_off_is_told() -> None:
    assert cross(smp=False).link_secured(record(AUTHENTICATED, EncryptionMode.AES_CCM)) == []
    off = record(AUTHENTICATED, EncryptionMode.OFF)
    assert emitted(cross().encryption_off(off)) == [SmpBrEdrSecurityInd(HANDLE, PEER, None)]


# -- the link key derived from an LE LTK -------------------------------------------------------


def test_a_derived_link_key_is_kept_and_stored() -> None:
    keys = KeyDatabase()
    bond = derived()
    out = emitted(cross(keys).on_derived_link_key(SmpBondInd(HANDLE, bond)))
    assert out == [StoreBondReq(bond), SmpBondRsp(HANDLE, PEER, True)]
    assert keys.link_key(PEER) == bond.link_key


def test_a_derived_key_weaker_than_the_stored_one_is_refused_and_the_bond_kept() -> None:
    keys = keys_with(AUTHENTICATED)
    out = emitted(cross(keys).on_derived_link_key(SmpBondInd(HANDLE, derived())))
    refused, answer = out
    assert isinstance(refused, BondRefusedInd) and "unauthenticated" in refused.reason
    assert isinstance(answer, SmpBondRsp) and not answer.accepted
    assert keys.link_key(PEER) == AUTHENTICATED


def test_an_authenticated_derived_key_replaces_an_unauthenticated_one() -> None:
    keys = keys_with(UNAUTHENTICATED)
    bond = derived(authenticated=True)
    cross(keys).on_derived_link_key(SmpBondInd(HANDLE, bond))
    assert keys.link_key(PEER) == bond.link_key


def test_secure_connections_only_refuses_an_unauthenticated_derived_key() -> None:
    keys = KeyDatabase()
    out = emitted(cross(keys, secure_connections_only=True).on_derived_link_key(
        SmpBondInd(HANDLE, derived())
    ))  # fmt: skip
    assert [type(m) for m in out] == [SmpBondRsp]
    assert keys.link_key(PEER) is None


def test_a_link_key_smp_did_not_derive_is_refused() -> None:
    made_by_pairing = bredr_bond(LOCAL, PEER, AUTHENTICATED.value, AUTHENTICATED.type)
    out = emitted(cross().on_derived_link_key(SmpBondInd(HANDLE, made_by_pairing)))
    assert [type(m) for m in out] == [SmpBondRsp]


# -- the security core routes SMP's bonds by transport -------------------------------------------


def security_core() -> SecurityCore:
    core = SecurityCore(commands=CommandIssuer(), config=SecurityConfig(), smp=True)
    core.on_link_up(AclLink(HANDLE, LinkTransport.BR_EDR, PEER, Role.CENTRAL), 0.0)
    return core


def test_an_le_bond_derived_over_bredr_is_checked_against_the_bredr_peer_and_kept() -> None:
    core = security_core()
    bond = le_bond_from_link_key(
        local=LOCAL, peer=PEER, link_key=AUTHENTICATED, key_size=16, ct2=True,
        peer_keys=KeyDistribution(irk=bytes(16)), local_keys=KeyDistribution(),
    )  # fmt: skip
    out = emitted(core.on_message("smp", SmpBondInd(HANDLE, bond), 0.0))
    assert StoreBondReq(bond) in out and SmpBondRsp(HANDLE, PEER, True) in out
    assert core.keys.le_bond(PEER) == bond


def test_an_le_bond_over_bredr_claiming_anothers_identity_is_refused() -> None:
    core = security_core()
    other = Address.parse("00:00:00:00:00:09")
    existing = attrs.evolve(le_bond(), peer_address=other)
    core.keys.replace_le_bond(existing)
    claim = attrs.evolve(le_bond(), peer_address=other, derived_from=Transport.BR_EDR)
    out = emitted(core.on_message("smp", SmpBondInd(HANDLE, claim), 0.0))
    assert any(isinstance(m, SmpBondRsp) and not m.accepted for m in out)
    assert core.keys.le_bond(other) == existing


def test_a_derived_link_key_reaches_the_key_database_through_the_core() -> None:
    core = security_core()
    bond = derived()
    core.on_message("smp", SmpBondInd(0x0040, bond), 0.0)
    assert core.keys.link_key(PEER) == bond.link_key


def test_no_link_key_for_a_random_identity_on_either_side() -> None:
    static = Address.parse("C0:00:00:00:00:07", AddressType.RANDOM)
    ltk = bytes(range(16))
    assert link_key_bond(le_bond(), ltk, ct2=True, local_identity=static) is None
    random_peer = attrs.evolve(le_bond(), peer_address=static)
    assert link_key_bond(random_peer, ltk, ct2=True, local_identity=LOCAL) is None
    assert (
        link_key_bond(attrs.evolve(le_bond(), key_size=15), ltk, ct2=True, local_identity=LOCAL)
        is None
    )


def test_an_le_bond_derived_over_bredr_is_kept_when_the_link_went_down_first() -> None:
    core = security_core()
    core.on_link_down(HANDLE, 0x13, 0.0)
    bond = le_bond_from_link_key(
        local=LOCAL, peer=PEER, link_key=AUTHENTICATED, key_size=16, ct2=True,
        peer_keys=KeyDistribution(), local_keys=KeyDistribution(),
    )  # fmt: skip
    out = emitted(core.on_message("smp", SmpBondInd(HANDLE, bond, PEER), 0.0))
    assert SmpBondRsp(HANDLE, PEER, True) in out and core.keys.le_bond(PEER) == bond
