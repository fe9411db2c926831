"""Two SMP cores paired in memory: every association model in LE legacy pairing and LE Secure
Connections, both roles, each IO-capability pair giving the model of Core 5.4 Vol 3 Part H
2.3.5.1 table 2.8, key distribution (3.6.1) and re-encryption with a bond."""

from __future__ import annotations

import itertools

import attrs
import pytest

from bluetrio.actors.smp.association import IO_CAPABILITY_TABLE
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.pairing import SENT_WAIT
from bluetrio.actors.smp.states import Phase
from bluetrio.address import Address
from bluetrio.bonds import Transport
from bluetrio.crypto import h6, h7
from bluetrio.messages.btm_security import (
    AssociationModel,
    IoCapability,
    LeEncryptReq,
    LeResponderKeyReq,
    PeerOobData,
)
from bluetrio.messages.smp_service import (
    LeSecurityRequirement,
    SmpBondInd,
    SmpPairingInd,
    SmpPromptKind,
    SmpPromptReq,
    SmpPromptRsp,
)
from bluetrio.testing.smp_cores import HANDLE, SmpCorePair

Model = AssociationModel


def answer_passkeys(pair: SmpCorePair, chosen: int = 123456) -> None:
    """Type, on each side asked, the passkey the other side shows (or ``chosen`` when both
    sides type it)."""
    shown = {
        side: [p.number for p in pair.prompts[side] if p.kind is SmpPromptKind.DISPLAY_PASSKEY]
        for side in "ab"
    }
    for side, other in (("a", "b"), ("b", "a")):
        if any(p.kind is SmpPromptKind.ENTER_PASSKEY for p in pair.prompts[side]):
            passkey = shown[other][0] if shown[other] else chosen
            pair.deliver(side, SmpPromptRsp(HANDLE, True, passkey=passkey))


def run_pairing(a: SmpConfig, b: SmpConfig, *, initiator: str = "a") -> SmpCorePair:
    pair = SmpCorePair(a, b)
    pair.answer = {"a": _auto, "b": _auto}
    pair.open_link()
    pair.pair(initiator, LeSecurityRequirement(mitm=a.mitm))
    answer_passkeys(pair)
    return pair


def _auto(prompt: SmpPromptReq) -> SmpPromptRsp | None:
    if prompt.kind is SmpPromptKind.ENTER_PASSKEY or prompt.kind is SmpPromptKind.OOB:
        return None
    return SmpPromptRsp(prompt.handle, True)


def assert_paired(pair: SmpCorePair, model: Model, *, secure: bool) -> None:
    a, b = pair.result("a"), pair.result("b")
    assert (a.status, b.status) == (0, 0), (a.error, b.error)
    assert a.model is b.model is model
    assert a.bond is not None and b.bond is not None
    assert a.bond.secure_connections is b.bond.secure_connections is secure
    assert a.bond.authenticated is b.bond.authenticated is (model is not Model.JUST_WORKS)
    # Both ends encrypt with one key: what the central used is what the peripheral gave.
    (encrypt,) = [m for m in pair.emitted["a"] if isinstance(m, LeEncryptReq)]
    given = [m.ltk for m in pair.emitted["b"] if isinstance(m, LeResponderKeyReq)]
    assert given[0] == encrypt.ltk and given[-1] is None  # withdrawn once used
    assert encrypt.ltk.value != bytes(16)
    if secure:
        assert a.bond.peer_keys.ltk == b.bond.local_keys.ltk == encrypt.ltk
    else:
        # The STK encrypts the first time only; the bond keeps the distributed LTK.
        assert a.bond.peer_keys.ltk == b.bond.local_keys.ltk != encrypt.ltk
        assert b.bond.peer_keys.ltk == a.bond.local_keys.ltk
    assert a.bond.peer_keys.irk == pair.b_config.identity_resolving_key
    assert b.bond.peer_keys.irk == pair.a_config.identity_resolving_key
    assert a.bond.peer_address == pair.b_address and b.bond.peer_address == pair.a_address
    for side in "ab":
        assert pair.core(side).links[HANDLE].phase is Phase.IDLE
        assert not pair.timers[side]


IO = list(IoCapability)


@pytest.mark.parametrize("secure", [False, True], ids=["legacy", "sc"])
@pytest.mark.parametrize(("initiator_io", "responder_io"), list(itertools.product(IO, IO)))
def test_each_io_capability_pair_gives_the_model_of_table_2_8(
    secure: bool, initiator_io: IoCapability, responder_io: IoCapability
) -> None:
    a = SmpConfig(io_capability=initiator_io, mitm=True, secure_connections=secure)
    b = SmpConfig(io_capability=responder_io, mitm=True, secure_connections=secure)
    legacy, sc = IO_CAPABILITY_TABLE[responder_io, initiator_io]
    expected = (sc if secure else legacy).model
    # MITM comes from the requirement btm hands the central, not from the configuration.
    pair = SmpCorePair(attrs.evolve(a, mitm=False), attrs.evolve(b, mitm=False))
    pair.answer = {"a": _auto, "b": _auto}
    pair.open_link()
    pair.pair("a", LeSecurityRequirement(mitm=expected is not Model.JUST_WORKS))
    answer_passkeys(pair)
    assert_paired(pair, expected, secure=secure)
    if expected is Model.NUMERIC_COMPARISON:
        (shown_a,) = [p.number for p in pair.prompts["a"]]
        (shown_b,) = [p.number for p in pair.prompts["b"]]
        assert shown_a == shown_b and 0 <= shown_a <= 999_999


@pytest.mark.parametrize("secure", [False, True], ids=["legacy", "sc"])
def test_without_mitm_both_pair_just_works_whatever_their_io(secure: bool) -> None:
    pair = run_pairing(
        SmpConfig(io_capability=IoCapability.KEYBOARD_DISPLAY, secure_connections=secure),
        SmpConfig(io_capability=IoCapability.KEYBOARD_DISPLAY, secure_connections=secure),
    )
    assert_paired(pair, Model.JUST_WORKS, secure=secure)
    assert not pair.prompts["a"] and not pair.prompts["b"]


@pytest.mark.parametrize("secure", [False, True], ids=["legacy", "sc"])
def test_passkey_entry_both_typing(secure: bool) -> None:
    config = SmpConfig(
        io_capability=IoCapability.KEYBOARD_ONLY, mitm=True, secure_connections=secure
    )
    pair = run_pairing(config, config)
    assert_paired(pair, Model.PASSKEY_ENTRY, secure=secure)


def test_passkey_entry_with_different_passkeys_fails_without_keys() -> None:
    config = SmpConfig(io_capability=IoCapability.KEYBOARD_ONLY, mitm=True)
    pair = SmpCorePair(config, config)
    pair.answer = {"a": _auto, "b": _auto}
    pair.open_link()
    pair.pair("a", LeSecurityRequirement(mitm=True))
    pair.deliver("a", SmpPromptRsp(HANDLE, True, passkey=111111))
    pair.deliver("b", SmpPromptRsp(HANDLE, True, passkey=111112))
    a, b = pair.result("a"), pair.result("b")
    assert a.status != 0 and b.status != 0
    assert 0x04 in (a.smp_reason, b.smp_reason)  # Confirm Value Failed
    assert not any(isinstance(m, SmpBondInd) for m in pair.emitted["a"] + pair.emitted["b"])
    assert not any(isinstance(m, LeEncryptReq) for m in pair.emitted["a"])


@pytest.mark.parametrize("secure", [False, True], ids=["legacy", "sc"])
@pytest.mark.parametrize("initiator", ["a", "b"], ids=["central-starts", "security-request"])
def test_both_roles_start_pairing(secure: bool, initiator: str) -> None:
    config = SmpConfig(io_capability=IoCapability.DISPLAY_YES_NO, secure_connections=secure)
    pair = run_pairing(config, config, initiator=initiator)
    assert_paired(pair, Model.JUST_WORKS, secure=secure)
    if initiator == "b":
        # The peripheral's Security Request went to btm as an indication, btm asked again.
        assert any(isinstance(m, SmpPairingInd) and m.security_request for m in pair.emitted["a"])
        assert pair.answered["b"] and pair.result("b").token != 0
    else:
        assert pair.result("b").token == 0  # the peer started it: emitted, not answered


def test_legacy_oob_uses_the_tk_both_were_given() -> None:
    config = SmpConfig(oob_available=True, secure_connections=False)
    pair = SmpCorePair(config, config)
    pair.answer = {"a": _auto, "b": _auto}
    pair.open_link()
    pair.pair()
    tk = bytes(range(16))
    for side in "ab":
        assert [p.kind for p in pair.prompts[side]] == [SmpPromptKind.OOB]
        pair.deliver(side, SmpPromptRsp(HANDLE, True, oob_tk=tk))
    assert_paired(pair, Model.OUT_OF_BAND, secure=False)


@pytest.mark.parametrize("who_has_data", ["a", "b", "both"])
def test_secure_connections_oob(who_has_data: str) -> None:
    a = SmpConfig(oob_available=who_has_data in ("a", "both"))
    b = SmpConfig(oob_available=who_has_data in ("b", "both"))
    pair = SmpCorePair(a, b)
    pair.answer = {"a": _auto, "b": _auto}
    pair.open_link()
    pair.pair()
    for side, other in (("a", "b"), ("b", "a")):
        if pair.core(side).config.oob_available:
            r, c = pair.core(other).local_oob_data()
            pair.deliver(side, SmpPromptRsp(HANDLE, True, oob=PeerOobData(c_256=c, r_256=r)))
    assert_paired(pair, Model.OUT_OF_BAND, secure=True)


def test_secure_connections_oob_with_wrong_data_fails() -> None:
    pair = SmpCorePair(SmpConfig(oob_available=True), SmpConfig())
    pair.answer = {"a": _auto, "b": _auto}
    pair.open_link()
    pair.pair()
    _, c = pair.b.local_oob_data()
    pair.deliver("a", SmpPromptRsp(HANDLE, True, oob=PeerOobData(c_256=c, r_256=bytes(16))))
    assert pair.result("a").smp_reason == 0x04  # Confirm Value Failed
    assert pair.result("b").smp_reason == 0x04


def test_a_declined_numeric_comparison_fails_with_its_reason() -> None:
    config = SmpConfig(io_capability=IoCapability.DISPLAY_YES_NO, mitm=True)
    pair = SmpCorePair(config, config)
    pair.answer = {"a": _auto, "b": lambda prompt: SmpPromptRsp(prompt.handle, False)}
    pair.open_link()
    pair.pair("a", LeSecurityRequirement(mitm=True))
    assert pair.result("b").smp_reason == 0x0C
    assert pair.result("a").smp_reason == 0x0C
    assert not any(isinstance(m, LeResponderKeyReq) and m.ltk for m in pair.emitted["b"])


def test_prompts_name_the_model_so_the_user_knows_what_to_do() -> None:
    config = SmpConfig(io_capability=IoCapability.KEYBOARD_DISPLAY, mitm=True)
    pair = run_pairing(config, attrs.evolve(config, io_capability=IoCapability.KEYBOARD_ONLY))
    kinds = {(p.kind, p.model) for side in "ab" for p in pair.prompts[side]}
    assert kinds == {
        (SmpPromptKind.DISPLAY_PASSKEY, Model.PASSKEY_ENTRY),
        (SmpPromptKind.ENTER_PASSKEY, Model.PASSKEY_ENTRY),
    }


def test_reconnection_encrypts_with_the_stored_ltk_without_pairing() -> None:
    pair = run_pairing(SmpConfig(secure_connections=False), SmpConfig(secure_connections=False))
    bond_a = pair.result("a").bond
    bond_b = pair.result("b").bond
    assert bond_a is not None and bond_b is not None
    pair.close_link()
    assert not pair.a.links and not pair.b.links
    wire_before = len(pair.wire["a"])
    pair.open_link()
    pair.responder_key = bond_b.local_keys.ltk  # btm answers the LTK request from its bond
    token = pair.pair("a", LeSecurityRequirement(), bond=bond_a)
    (*_, cnf) = pair.results("a")
    assert (cnf.token, cnf.status, cnf.used_stored_key) == (token, 0, True)
    assert len(pair.wire["a"]) == wire_before  # no SMP PDU at all


def test_a_lost_bond_on_the_peer_leads_to_pairing_anew() -> None:
    pair = run_pairing(SmpConfig(), SmpConfig())
    bond_a = pair.result("a").bond
    pair.close_link()
    pair.open_link()
    pair.responder_key = None  # the peripheral forgot the bond: Key Missing
    pair.pair("a", LeSecurityRequirement(), bond=bond_a)
    cnf = pair.results("a")[-1]
    assert cnf.status == 0 and not cnf.used_stored_key and cnf.model is Model.JUST_WORKS


def test_cross_transport_link_key_from_the_ltk_with_ct2() -> None:
    config = SmpConfig(derive_link_key=True)
    pair = SmpCorePair(config, config, b_address=Address.parse("00:11:22:33:44:02"))
    pair.open_link()
    pair.pair()
    bonds = {
        side: [m.bond for m in pair.emitted[side] if isinstance(m, SmpBondInd)] for side in "ab"
    }
    (le_a, bredr_a), (_, bredr_b) = bonds["a"], bonds["b"]
    assert bredr_a.transport is bredr_b.transport is Transport.BR_EDR
    assert bredr_a.link_key is not None and bredr_b.link_key is not None
    assert bredr_a.link_key.value == bredr_b.link_key.value
    ltk = le_a.peer_keys.ltk
    assert ltk is not None
    # Vol 3 Part H 2.4.2.4 with CT2: ILK = h7(SALT "tmp1", LTK), link key = h6(ILK, "lebr").
    assert bredr_a.link_key.value == h6(h7(bytes(12) + b"tmp1", ltk.value), b"lebr")
    assert bredr_a.derived_from is bredr_b.derived_from is Transport.LE


def test_shorter_keys_only_when_configured() -> None:
    short = SmpConfig(max_key_size=10, min_key_size=7)
    pair = run_pairing(short, SmpConfig(min_key_size=7))
    assert_paired(pair, Model.JUST_WORKS, secure=True)
    (encrypt,) = [m for m in pair.emitted["a"] if isinstance(m, LeEncryptReq)]
    assert encrypt.ltk.key_size == 10
    assert encrypt.ltk.value[:6] == bytes(6)  # masked to 10 octets (2.3.4)


@pytest.mark.parametrize("secure", [False, True], ids=["legacy", "sc"])
def test_a_completed_pairing_whose_last_pdus_are_never_reported_sent_is_answered_in_time(
    secure: bool,
) -> None:
    # The answer waits for the controller to take our last keys, but not forever: a
    # controller that never reports them completed gets SMP's own 30 s (Vol 3 Part H 3.4).
    pair = SmpCorePair(SmpConfig(secure_connections=secure), SmpConfig(secure_connections=secure))
    pair.confirm_sent = False
    pair.answer = {"a": _auto, "b": _auto}
    pair.open_link()
    pair.pair("a", LeSecurityRequirement())
    assert not pair.results("a")  # held: nothing was reported sent
    held = [key for key in pair.timers["a"] if key.name == "sent"]
    assert len(held) == 1 and pair.timers["a"][held[0]] == pair.now + SENT_WAIT
    pair.fire("a", "sent")
    result = pair.result("a")
    assert result.status == 0 and result.bond is not None


def test_the_deadline_on_our_last_pdus_goes_once_they_are_reported_sent() -> None:
    pair = run_pairing(SmpConfig(), SmpConfig())
    assert pair.result("a").status == 0
    assert not any(key.name == "sent" for side in "ab" for key in pair.timers[side])
