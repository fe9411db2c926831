"""The Secure Simple Pairing core run between two sessions with scripted hosts."""

from __future__ import annotations

import itertools

import attrs
import pytest

from bluetrio import crypto
from bluetrio.controller import ssp
from bluetrio.controller.ssp import (
    AssociationModel,
    IoCapability,
    LinkKeyType,
    PairingCapabilities,
    Role,
    SspSession,
)
from bluetrio.crypto import Curve, EcdhKeyPair

ADDRESS_A = bytes.fromhex("00000000a0a0")
ADDRESS_B = bytes.fromhex("00000000b0b0")
GENERAL_BONDING = 0x04
GENERAL_BONDING_MITM = 0x05

D = IoCapability.DISPLAY_ONLY
Y = IoCapability.DISPLAY_YES_NO
K = IoCapability.KEYBOARD_ONLY
N = IoCapability.NO_INPUT_NO_OUTPUT

# Vol 3 Part C 5.2.2.6, rows = initiator, columns = responder, with MITM required.
EXPECTED_MODELS = {
    (D, D): AssociationModel.JUST_WORKS,
    (D, Y): AssociationModel.JUST_WORKS,
    (D, K): AssociationModel.PASSKEY_ENTRY,
    (D, N): AssociationModel.JUST_WORKS,
    (Y, D): AssociationModel.JUST_WORKS,
    (Y, Y): AssociationModel.NUMERIC_COMPARISON,
    (Y, K): AssociationModel.PASSKEY_ENTRY,
    (Y, N): AssociationModel.JUST_WORKS,
    (K, D): AssociationModel.PASSKEY_ENTRY,
    (K, Y): AssociationModel.PASSKEY_ENTRY,
    (K, K): AssociationModel.PASSKEY_ENTRY,
    (K, N): AssociationModel.JUST_WORKS,
    (N, D): AssociationModel.JUST_WORKS,
    (N, Y): AssociationModel.JUST_WORKS,
    (N, K): AssociationModel.JUST_WORKS,
    (N, N): AssociationModel.JUST_WORKS,
}


def caps(io: int, auth: int = GENERAL_BONDING_MITM, oob: int = 0) -> PairingCapabilities:
    return PairingCapabilities(io, oob, auth)


@pytest.mark.parametrize(("initiator", "responder"), list(EXPECTED_MODELS))
def test_association_model_table(initiator: IoCapability, responder: IoCapability) -> None:
    model = ssp.association_model(caps(initiator), caps(responder))
    assert model is EXPECTED_MODELS[(initiator, responder)]


def test_no_mitm_on_either_side_is_just_works() -> None:
    model = ssp.association_model(caps(Y, GENERAL_BONDING), caps(Y, GENERAL_BONDING))
    assert model is AssociationModel.JUST_WORKS


def test_oob_flag_on_either_side_wins() -> None:
    model = ssp.association_model(caps(N, oob=1), caps(N))
    assert model is AssociationModel.OUT_OF_BAND


def test_key_types() -> None:
    assert ssp.link_key_type(AssociationModel.JUST_WORKS, Curve.P192) == 0x04
    assert ssp.link_key_type(AssociationModel.PASSKEY_ENTRY, Curve.P192) == 0x05
    assert ssp.link_key_type(AssociationModel.JUST_WORKS, Curve.P256) == 0x07
    assert ssp.link_key_type(AssociationModel.OUT_OF_BAND, Curve.P256) == 0x08


@attrs.define
class ScriptedHost:
    """Answers its controller's requests the way a test says."""

    capabilities: PairingCapabilities
    confirm: bool = True
    passkey: int | None = None  # None: type what the other side displayed
    oob: ssp.OobData | None = None
    refuse_passkey: bool = False
    seen: list[ssp.SspEffect] = attrs.field(factory=list)


@attrs.define
class Side:
    session: SspSession
    host: ScriptedHost
    keys: dict[Curve, EcdhKeyPair]
    oob_random: dict[Curve, bytes] = attrs.field(factory=dict)
    result: ssp.PairingFinished | None = None


def make_side(role: Role, host: ScriptedHost, curve: Curve) -> Side:
    keys = {Curve.P192: EcdhKeyPair.generate_p192(), Curve.P256: EcdhKeyPair.generate_p256()}
    oob_random: dict[Curve, bytes] = {}
    local, peer = (ADDRESS_A, ADDRESS_B) if role is Role.INITIATOR else (ADDRESS_B, ADDRESS_A)
    session = SspSession(
        role,
        local,
        peer,
        central_is_initiator=True,
        curve=curve,
        key_for=keys.__getitem__,
        local_oob_random=oob_random.get,
    )
    return Side(session, host, keys, oob_random)


def run_pairing(a: Side, b: Side) -> None:
    """Deliver effects until both sides are finished or nothing moves."""
    displayed: list[int] = []
    queue: list[tuple[Side, ssp.SspEffect]] = [(a, e) for e in a.session.start()]
    for _ in range(10_000):
        if not queue:
            return
        side, effect = queue.pop(0)
        other = b if side is a else a
        side.host.seen.append(effect)
        produced: list[ssp.SspEffect]
        if isinstance(effect, ssp.SendToPeer):
            queue += [(other, e) for e in other.session.on_peer_pdu(effect.pdu)]
            continue
        if isinstance(effect, ssp.IoCapabilityRequested):
            produced = side.session.on_io_capability_reply(side.host.capabilities)
        elif isinstance(effect, ssp.ConfirmationRequested):
            produced = side.session.on_user_confirmation(side.host.confirm)
        elif isinstance(effect, ssp.PasskeyDisplayed):
            displayed.append(effect.passkey)
            produced = []
        elif isinstance(effect, ssp.PasskeyRequested):
            typed = side.host.passkey
            peer_displays = other.host.capabilities.io_capability != K
            if typed is None and peer_displays and not displayed and queue:
                # The user waits until the other device shows the passkey.
                queue.append((side, effect))
                continue
            if typed is None:
                typed = displayed[-1] if displayed else 123456
            produced = side.session.on_passkey(None if side.host.refuse_passkey else typed)
        elif isinstance(effect, ssp.OobDataRequested):
            produced = side.session.on_oob_data(side.host.oob)
        elif isinstance(effect, ssp.PairingFinished):
            side.result = effect
            produced = []
        else:
            produced = []
        queue += [(side, e) for e in produced]
    raise AssertionError("pairing did not settle")


def pair(
    initiator: ScriptedHost, responder: ScriptedHost, curve: Curve = Curve.P256
) -> tuple[Side, Side]:
    a = make_side(Role.INITIATOR, initiator, curve)
    b = make_side(Role.RESPONDER, responder, curve)
    run_pairing(a, b)
    return a, b


def kinds(host: ScriptedHost) -> list[type]:
    return [type(e) for e in host.seen if not isinstance(e, ssp.SendToPeer)]


@pytest.mark.parametrize(
    ("initiator", "responder"), list(itertools.product([D, Y, K, N], repeat=2))
)
def test_every_io_pair_yields_the_same_key_and_expected_type(
    initiator: IoCapability, responder: IoCapability
) -> None:
    a, b = pair(ScriptedHost(caps(initiator)), ScriptedHost(caps(responder)), Curve.P192)
    assert a.result is not None and b.result is not None
    assert a.result.status == b.result.status == ssp.STATUS_SUCCESS
    assert a.result.link_key == b.result.link_key
    assert a.result.link_key is not None and len(a.result.link_key) == 16
    model = EXPECTED_MODELS[(initiator, responder)]
    expected_type = ssp.link_key_type(model, Curve.P192)
    assert a.result.key_type == b.result.key_type == expected_type
    if model is AssociationModel.PASSKEY_ENTRY:
        for host, io in ((a.host, initiator), (b.host, responder)):
            expected = ssp.PasskeyRequested if io == K else ssp.PasskeyDisplayed
            assert expected in kinds(host)
    else:
        assert ssp.ConfirmationRequested in kinds(a.host)
        assert ssp.ConfirmationRequested in kinds(b.host)


def test_numeric_comparison_shows_the_same_six_digits_on_both_sides() -> None:
    a, b = pair(ScriptedHost(caps(Y)), ScriptedHost(caps(Y)))
    values = [
        e.numeric_value
        for side in (a, b)
        for e in side.host.seen
        if isinstance(e, ssp.ConfirmationRequested)
    ]
    assert len(values) == 2 and values[0] == values[1] and 0 <= values[0] <= 999_999
    assert a.result is not None and a.result.key_type is LinkKeyType.AUTHENTICATED_P256


def test_link_key_is_f2_over_the_real_dhkey() -> None:
    a, b = pair(ScriptedHost(caps(N)), ScriptedHost(caps(N)))
    dhkey = a.keys[Curve.P256].shared_secret(
        b.keys[Curve.P256].public_x, b.keys[Curve.P256].public_y
    )
    nonces = [
        e.pdu.nonce
        for e in a.host.seen
        if isinstance(e, ssp.SendToPeer) and isinstance(e.pdu, ssp.Number)
    ]
    peer_nonces = [
        e.pdu.nonce
        for e in b.host.seen
        if isinstance(e, ssp.SendToPeer) and isinstance(e.pdu, ssp.Number)
    ]
    expected = crypto.ssp_f2(dhkey, nonces[0], peer_nonces[0], b"btlk", ADDRESS_A, ADDRESS_B)
    assert a.result is not None and a.result.link_key == expected
    assert a.result.key_type is LinkKeyType.UNAUTHENTICATED_P256


@pytest.mark.parametrize("rejecting", ["initiator", "responder"])
def test_rejected_confirmation_fails_on_both_sides(rejecting: str) -> None:
    hosts = [ScriptedHost(caps(Y)), ScriptedHost(caps(Y))]
    hosts[0 if rejecting == "initiator" else 1].confirm = False
    a, b = pair(hosts[0], hosts[1])
    assert a.result == b.result == ssp.PairingFinished(ssp.STATUS_AUTHENTICATION_FAILURE)


def test_wrong_passkey_fails_on_both_sides() -> None:
    a, b = pair(ScriptedHost(caps(K), passkey=123456), ScriptedHost(caps(K), passkey=123457))
    assert a.result == b.result == ssp.PairingFinished(ssp.STATUS_AUTHENTICATION_FAILURE)


def test_matching_typed_passkeys_succeed_after_twenty_rounds() -> None:
    a, _ = pair(ScriptedHost(caps(K), passkey=999999), ScriptedHost(caps(K), passkey=999999))
    assert a.result is not None and a.result.status == ssp.STATUS_SUCCESS
    commitments = [
        e for e in a.host.seen if isinstance(e, ssp.SendToPeer) and isinstance(e.pdu, ssp.Confirm)
    ]
    assert len(commitments) == ssp.PASSKEY_ROUNDS


def test_passkey_negative_reply_fails_on_both_sides() -> None:
    a, b = pair(ScriptedHost(caps(K), refuse_passkey=True), ScriptedHost(caps(D)))
    assert a.result == b.result == ssp.PairingFinished(ssp.STATUS_AUTHENTICATION_FAILURE)


def _oob_pair(forge: bool) -> tuple[Side, Side]:
    a = make_side(Role.INITIATOR, ScriptedHost(caps(N, oob=1)), Curve.P256)
    b = make_side(Role.RESPONDER, ScriptedHost(caps(N)), Curve.P256)
    r = crypto.random_bytes(16)
    b.oob_random[Curve.P256] = r
    c = ssp.oob_commitment(b.keys[Curve.P256], r)
    if forge:
        c = bytes(16)
    a.host.oob = ssp.OobData(c_256=c, r_256=r)
    run_pairing(a, b)
    return a, b


def test_oob_pairing_with_the_peers_real_data_is_authenticated() -> None:
    a, b = _oob_pair(forge=False)
    assert ssp.OobDataRequested in kinds(a.host)
    assert ssp.OobDataRequested not in kinds(b.host)
    assert a.result is not None and b.result is not None
    assert a.result.key_type is LinkKeyType.AUTHENTICATED_P256
    assert a.result.link_key == b.result.link_key


def test_oob_pairing_with_forged_commitment_fails() -> None:
    a, b = _oob_pair(forge=True)
    assert a.result == b.result == ssp.PairingFinished(ssp.STATUS_AUTHENTICATION_FAILURE)


def test_responder_io_capability_rejection_reports_the_reason_to_the_initiator() -> None:
    a = make_side(Role.INITIATOR, ScriptedHost(caps(Y)), Curve.P256)
    b = make_side(Role.RESPONDER, ScriptedHost(caps(Y)), Curve.P256)
    a.session.start()
    effects = a.session.on_io_capability_reply(caps(Y))
    request = effects[0]
    assert isinstance(request, ssp.SendToPeer)
    b_effects = b.session.on_peer_pdu(request.pdu)
    assert ssp.IoCapabilityRequested() in b_effects
    refusal = b.session.on_io_capability_negative_reply(0x18)
    assert refusal[-1] == ssp.PairingFinished(ssp.STATUS_AUTHENTICATION_FAILURE)
    assert isinstance(refusal[0], ssp.SendToPeer)
    assert a.session.on_peer_pdu(refusal[0].pdu) == [ssp.PairingFinished(0x18)]


def test_off_curve_public_key_aborts() -> None:
    b = make_side(Role.RESPONDER, ScriptedHost(caps(N)), Curve.P256)
    b.session.on_peer_pdu(ssp.IoCapabilityReq(caps(N)))
    b.session.on_io_capability_reply(caps(N))
    effects = b.session.on_peer_pdu(ssp.PublicKey(bytes(32), bytes(32)))
    assert effects[-1] == ssp.PairingFinished(ssp.STATUS_AUTHENTICATION_FAILURE)
    assert b.session.finished


def test_unexpected_pdu_aborts_instead_of_crashing() -> None:
    b = make_side(Role.RESPONDER, ScriptedHost(caps(N)), Curve.P256)
    effects = b.session.on_peer_pdu(ssp.DhKeyCheck(bytes(16)))
    assert effects[-1] == ssp.PairingFinished(ssp.STATUS_AUTHENTICATION_FAILURE)
    assert b.session.on_peer_pdu(ssp.Number(bytes(16))) == []
