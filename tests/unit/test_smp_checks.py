"""Every check the Security Manager applies to what a peer sends, each with the Pairing Failed
reason it answers with (Core 5.4 Vol 3 Part H 3.3-3.5), and the attacks they stop."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bluetrio import crypto
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.states import Phase
from bluetrio.crypto import Curve
from bluetrio.messages import smp
from bluetrio.messages.btm_security import IoCapability, LeEncryptReq, LeResponderKeyReq
from bluetrio.messages.smp import PairingFailedReason as Reason
from bluetrio.messages.smp import SmpCode
from bluetrio.messages.smp_service import (
    LeSecurityRequirement,
    SmpBondInd,
    SmpKeypressInd,
    SmpPromptRsp,
)
from bluetrio.testing.smp_cores import HANDLE, SmpCorePair

REQUEST = smp.PairingRequest(
    IoCapability.NO_INPUT_NO_OUTPUT,
    smp.OobDataFlag.NOT_PRESENT,
    smp.AuthReq(smp.BondingFlag.BONDING, secure_connections=True),
    16,
    smp.KeyDistributionFlags(True, True),
    smp.KeyDistributionFlags(True, True),
).to_bytes()


def failed_with(pair: SmpCorePair, side: str) -> Reason:
    last = pair.wire[side][-1]
    assert last[0] == SmpCode.PAIRING_FAILED, last.hex()
    return Reason(last[1])


def no_key_left(pair: SmpCorePair) -> None:
    """A failed pairing leaves no key behind: no bond, no encryption key given to btm that
    was not withdrawn, nothing of the pairing kept in the context."""
    for side in "ab":
        assert not any(isinstance(m, SmpBondInd) for m in pair.emitted[side])
        given = [m for m in pair.emitted[side] if isinstance(m, LeResponderKeyReq)]
        assert not given or given[-1].ltk is None
        context = pair.core(side).links.get(HANDLE)
        if context is not None:
            assert context.ltk is None and context.dhkey is None and context.tk is None
            assert context.phase in (Phase.IDLE, Phase.TIMED_OUT)


def connected(a: SmpConfig | None = None, b: SmpConfig | None = None) -> SmpCorePair:
    pair = SmpCorePair(a or SmpConfig(), b or SmpConfig())
    pair.open_link()
    return pair


# -- the receive path's order: code, allowed set, length, values -------------------------------


def test_a_length_other_than_the_code_fixes_is_invalid_parameters() -> None:
    pair = connected()
    pair.inject("b", REQUEST[:-1])
    assert failed_with(pair, "b") is Reason.INVALID_PARAMETERS
    pair.inject("b", REQUEST + b"\x00")
    assert failed_with(pair, "b") is Reason.INVALID_PARAMETERS


def test_an_unknown_code_is_command_not_supported() -> None:
    pair = connected()
    for code in (0x00, 0x0F, 0xFF):
        pair.inject("b", bytes((code, 1, 2, 3)))
        assert failed_with(pair, "b") is Reason.COMMAND_NOT_SUPPORTED


def test_a_code_out_of_its_phase_is_unspecified_reason() -> None:
    pair = connected()
    pair.inject("b", smp.PairingConfirm(bytes(16)).to_bytes())  # peripheral, no pairing
    assert failed_with(pair, "b") is Reason.UNSPECIFIED_REASON
    pair.inject("a", REQUEST)  # a central never receives a Pairing Request
    assert failed_with(pair, "a") is Reason.UNSPECIFIED_REASON
    pair.inject("a", smp.PairingResponse.example().to_bytes())  # no request was sent
    assert failed_with(pair, "a") is Reason.UNSPECIFIED_REASON


def test_the_allowed_set_is_checked_before_the_length() -> None:
    # An out-of-state confirm of the wrong length: Unspecified (its phase), not Invalid.
    pair = connected()
    pair.inject("b", bytes((SmpCode.PAIRING_CONFIRM, 1, 2)))
    assert failed_with(pair, "b") is Reason.UNSPECIFIED_REASON


def test_a_reserved_value_is_invalid_parameters() -> None:
    pair = connected()
    bad_io = bytes((SmpCode.PAIRING_REQUEST, 0x07)) + REQUEST[2:]
    pair.inject("b", bad_io)
    assert failed_with(pair, "b") is Reason.INVALID_PARAMETERS


def test_a_stray_pairing_failed_is_not_answered() -> None:
    pair = connected()
    pair.inject("b", bytes((SmpCode.PAIRING_FAILED, 0x08)))
    assert pair.wire["b"] == []


def test_out_of_order_keys_fail_with_unspecified_reason() -> None:
    # The central expects the peripheral's Encryption Information first (3.6.1): the
    # peripheral's keys are lost and an Identity Information comes instead.
    legacy = SmpConfig(secure_connections=False)
    pair = connected(legacy, legacy)
    pair.drop = lambda side, pdu: side == "b" and pdu[0] in (0x06, 0x07, 0x08, 0x09)
    pair.pair()
    assert pair.a.links[HANDLE].phase is Phase.KEY_DISTRIBUTION
    pair.inject("a", smp.IdentityInformation(bytes(16)).to_bytes())
    assert failed_with(pair, "a") is Reason.UNSPECIFIED_REASON
    no_key_left(pair)


# -- public keys (CVE-2018-5383, CVE-2020-26558) -------------------------------------------------


def _replace_public_key(x: int, y: int) -> Callable[[str, bytes], bytes]:
    def tamper(side: str, pdu: bytes) -> bytes:
        if side == "a" and pdu[0] == SmpCode.PAIRING_PUBLIC_KEY:
            return bytes((pdu[0],)) + x.to_bytes(32, "little") + y.to_bytes(32, "little")
        return pdu

    return tamper


P = Curve.P256.value.p
VALID = crypto.EcdhKeyPair.generate_p256()
VX, VY = int.from_bytes(VALID.public_x, "big"), int.from_bytes(VALID.public_y, "big")


def _point_with_small_x() -> tuple[int, int]:
    """A point of P-256 whose x + p still fits in 32 octets (x < 2**256 - p): the same
    point modulo p, written out of range."""
    b = Curve.P256.value.b
    for x in range(1, 1000):
        rhs = (x**3 - 3 * x + b) % P
        y = pow(rhs, (P + 1) // 4, P)  # p = 3 mod 4
        if y * y % P == rhs:
            assert Curve.P256.contains(x, y)
            return x, y
    raise AssertionError("no small x found")


SMALL_X, SMALL_Y = _point_with_small_x()


@pytest.mark.parametrize(
    ("x", "y"),
    [
        (VX, (VY + 1) % P),  # off the curve: the invalid-curve attack of CVE-2018-5383
        (VX, P + 1),  # y >= p
        (SMALL_X + P, SMALL_Y),  # x >= p, naming a valid point modulo p
        (P, P),  # both coordinates out of range
        (0, 0),  # the point at infinity
        (VX, 0),  # the x of a valid point with y = 0
    ],
    ids=["off-curve", "y-ge-p", "x-ge-p", "both-ge-p", "infinity", "y-zero"],
)
def test_a_public_key_not_on_p256_is_dhkey_check_failed(x: int, y: int) -> None:
    pair = connected()
    pair.tamper = _replace_public_key(x, y)
    pair.pair()
    assert failed_with(pair, "b") is Reason.DHKEY_CHECK_FAILED
    assert pair.result("a").smp_reason == Reason.DHKEY_CHECK_FAILED
    no_key_left(pair)


def test_our_own_public_key_sent_back_is_refused_cve_2020_26558() -> None:
    pair = connected()
    ours = pair.b.key_pair()
    pair.tamper = _replace_public_key(
        int.from_bytes(ours.public_x, "big"), int.from_bytes(ours.public_y, "big")
    )
    pair.pair()
    assert failed_with(pair, "b") is Reason.DHKEY_CHECK_FAILED
    no_key_left(pair)


# -- key size ------------------------------------------------------------------------------------


def test_a_key_below_the_policy_minimum_is_encryption_key_size() -> None:
    pair = connected(SmpConfig(max_key_size=15, min_key_size=7), SmpConfig())
    pair.pair()
    assert failed_with(pair, "b") is Reason.ENCRYPTION_KEY_SIZE
    assert pair.result("a").smp_reason == Reason.ENCRYPTION_KEY_SIZE
    no_key_left(pair)


def test_the_central_refuses_a_response_below_its_minimum() -> None:
    pair = connected(SmpConfig(), SmpConfig(max_key_size=7, min_key_size=7))
    pair.pair()
    assert failed_with(pair, "a") is Reason.ENCRYPTION_KEY_SIZE
    no_key_left(pair)


def test_a_requirement_of_level_4_needs_16_octets_even_when_7_are_allowed() -> None:
    pair = connected(
        SmpConfig(min_key_size=7, io_capability=IoCapability.DISPLAY_YES_NO),
        SmpConfig(min_key_size=7, max_key_size=12, io_capability=IoCapability.DISPLAY_YES_NO),
    )
    pair.pair("a", LeSecurityRequirement(mitm=True, secure_connections=True, min_key_size=7))
    assert failed_with(pair, "a") is Reason.ENCRYPTION_KEY_SIZE


def test_a_maximum_key_size_outside_7_to_16_is_invalid_parameters() -> None:
    pair = connected()
    pair.inject("b", REQUEST[:4] + b"\x06" + REQUEST[5:])
    assert failed_with(pair, "b") is Reason.INVALID_PARAMETERS
    pair.inject("b", REQUEST[:4] + b"\x11" + REQUEST[5:])
    assert failed_with(pair, "b") is Reason.INVALID_PARAMETERS


# -- no key that did not come out of a completed pairing ----------------------------------------


def test_a_skipped_dhkey_check_never_gives_btm_the_ltk() -> None:
    pair = connected()
    pair.drop = lambda side, pdu: side == "a" and pdu[0] == SmpCode.PAIRING_DHKEY_CHECK
    pair.pair()
    assert not any(isinstance(m, LeResponderKeyReq) for m in pair.emitted["b"])
    assert not any(isinstance(m, LeEncryptReq) for m in pair.emitted["a"])
    # Whatever the central sends instead of the check is out of state.
    pair.inject("b", smp.EncryptionInformation(bytes(16)).to_bytes())
    assert failed_with(pair, "b") is Reason.UNSPECIFIED_REASON
    no_key_left(pair)


def test_a_wrong_dhkey_check_is_dhkey_check_failed() -> None:
    pair = connected()

    def tamper(side: str, pdu: bytes) -> bytes:
        if side == "a" and pdu[0] == SmpCode.PAIRING_DHKEY_CHECK:
            return pdu[:1] + bytes(16)
        return pdu

    pair.tamper = tamper
    pair.pair()
    assert failed_with(pair, "b") is Reason.DHKEY_CHECK_FAILED
    no_key_left(pair)


@pytest.mark.parametrize("secure", [False, True], ids=["legacy", "sc"])
def test_a_wrong_confirm_value_is_confirm_value_failed_and_no_stk(secure: bool) -> None:
    # Legacy: the central's random does not open its confirm value; Secure Connections
    # (Just Works): the peripheral's nonce does not open its commitment Cb (2.3.5.6.2).
    config = SmpConfig(secure_connections=secure)
    pair = connected(config, config)
    liar, verifier = ("b", "a") if secure else ("a", "b")

    def tamper(side: str, pdu: bytes) -> bytes:
        if side == liar and pdu[0] == SmpCode.PAIRING_RANDOM:
            return pdu[:1] + bytes(16)
        return pdu

    pair.tamper = tamper
    pair.pair()
    assert failed_with(pair, verifier) is Reason.CONFIRM_VALUE_FAILED
    assert not any(isinstance(m, LeResponderKeyReq) for m in pair.emitted["b"])
    assert not any(isinstance(m, LeEncryptReq) for m in pair.emitted["a"])
    no_key_left(pair)


def test_a_failed_encryption_withdraws_the_stk_from_btm() -> None:
    pair = connected(SmpConfig(secure_connections=False), SmpConfig(secure_connections=False))
    pair.refuse_encryption = True
    pair.pair()
    assert pair.result("a").status == 0x06
    given = [m.ltk for m in pair.emitted["b"] if isinstance(m, LeResponderKeyReq)]
    assert given[0] is not None and given[-1] is None
    no_key_left(pair)


# -- repeated attempts (2.3.6) -------------------------------------------------------------------


def _fail_confirm(side: str, pdu: bytes) -> bytes:
    return pdu[:1] + bytes(16) if side == "a" and pdu[0] == SmpCode.PAIRING_RANDOM else pdu


def test_repeated_attempts_wait_grows_exponentially() -> None:
    pair = connected(SmpConfig(secure_connections=False), SmpConfig(secure_connections=False))
    pair.tamper = _fail_confirm
    waits = []
    for attempt in range(4):
        pair.pair()
        assert pair.results("a")[-1].smp_reason == Reason.CONFIRM_VALUE_FAILED, attempt
        wait = pair.b.attempts.wait_remaining(pair.a_address, pair.now)
        waits.append(wait)
        # Within the wait, a new attempt is refused with Repeated Attempts.
        pair.pair()
        assert failed_with(pair, "b") is Reason.REPEATED_ATTEMPTS
        assert pair.results("a")[-1].smp_reason == Reason.REPEATED_ATTEMPTS
        pair.now += wait  # then it is let through again
    assert waits == [2.0, 4.0, 8.0, 16.0]
    pair.tamper = lambda side, pdu: pdu
    pair.pair()
    assert pair.results("a")[-1].status == 0
    assert pair.b.attempts.wait_remaining(pair.a_address, pair.now) == 0  # success resets


def test_a_declined_prompt_does_not_count_as_a_failed_attempt() -> None:
    config = SmpConfig(io_capability=IoCapability.DISPLAY_YES_NO)
    pair = connected(config, config)
    pair.answer["b"] = lambda prompt: SmpPromptRsp(prompt.handle, False)
    pair.pair("a", LeSecurityRequirement(mitm=True))
    assert pair.result("a").smp_reason == Reason.NUMERIC_COMPARISON_FAILED
    assert len(pair.b.attempts) == 1  # numeric comparison failed: the claimant's failure


# -- the debug key (2.3.5.6.1) -------------------------------------------------------------------


def test_the_debug_key_is_refused_unless_enabled() -> None:
    debug = SmpConfig(allow_debug_keys=True, use_debug_key=True)
    pair = connected(debug, SmpConfig())
    pair.pair()
    assert failed_with(pair, "b") is Reason.AUTHENTICATION_REQUIREMENTS
    no_key_left(pair)


def test_a_bond_made_with_the_debug_key_is_marked() -> None:
    debug = SmpConfig(allow_debug_keys=True, use_debug_key=True)
    pair = connected(debug, SmpConfig(allow_debug_keys=True))
    pair.pair()
    a, b = pair.result("a"), pair.result("b")
    assert a.status == b.status == 0
    assert a.bond is not None and a.bond.debug_key
    assert b.bond is not None and b.bond.debug_key
    assert pair.a.key_pair().public_x == crypto.DEBUG_PUBLIC_X


def test_debug_keys_need_explicit_configuration() -> None:
    assert not SmpConfig().allow_debug_keys and not SmpConfig().use_debug_key
    with pytest.raises(Exception, match="allow_debug_keys"):
        SmpConfig(use_debug_key=True)


# -- MITM and Secure Connections requirements ----------------------------------------------------


def test_mitm_required_with_no_io_is_authentication_requirements() -> None:
    pair = connected()
    pair.pair("a", LeSecurityRequirement(mitm=True))
    assert failed_with(pair, "a") is Reason.AUTHENTICATION_REQUIREMENTS
    no_key_left(pair)


def test_secure_connections_only_refuses_legacy() -> None:
    pair = connected(SmpConfig(secure_connections=False), SmpConfig(secure_connections_only=True))
    pair.pair()
    assert failed_with(pair, "b") is Reason.AUTHENTICATION_REQUIREMENTS


# -- the SMP timeout (3.4) and the context's life -------------------------------------------------


def test_smp_timeout_fails_the_pairing_and_no_smp_runs_until_reconnection() -> None:
    pair = connected()
    pair.drop = lambda side, pdu: side == "b"  # the peripheral's answers are lost
    token = pair.pair()
    assert pair.timers["a"]
    assert len(pair.fire("a", "timeout")) == 1
    assert pair.now == 30.0
    cnf = pair.result("a")
    assert cnf.token == token and cnf.status != 0 and "timeout" in (cnf.error or "")
    context = pair.a.links[HANDLE]
    assert context.phase is Phase.TIMED_OUT
    sent = len(pair.wire["a"])
    pair.inject("a", smp.SecurityRequest(smp.AuthReq()).to_bytes())
    pair.inject("a", b"\xff")
    assert len(pair.wire["a"]) == sent  # nothing answered, not even Pairing Failed
    pair.pair()
    assert pair.results("a")[-1].status != 0 and len(pair.wire["a"]) == sent
    # A new link starts afresh.
    pair.close_link()
    pair.drop = lambda side, pdu: False
    pair.open_link()
    pair.pair()
    assert pair.results("a")[-1].status == 0
    no_key_left_after_success = pair.a.links[HANDLE]
    assert no_key_left_after_success.ltk is None


def test_every_pdu_restarts_the_timer() -> None:
    pair = connected()
    pair.drop = lambda side, pdu: side == "b" and pdu[0] != SmpCode.PAIRING_RESPONSE
    pair.now = 5.0
    pair.pair()
    assert set(pair.timers["a"].values()) == {35.0}


def test_link_down_releases_the_context_and_answers_the_waiter() -> None:
    pair = connected()
    pair.drop = lambda side, pdu: True
    token = pair.pair()
    pair.close_link()
    assert HANDLE not in pair.a.links and HANDLE not in pair.b.links
    assert not pair.timers["a"] and not pair.timers["b"]
    cnf = pair.result("a")
    assert cnf.token == token and cnf.status != 0


def test_a_keypress_notification_is_taken_during_passkey_entry() -> None:
    config = SmpConfig(io_capability=IoCapability.KEYBOARD_ONLY, keypress=True)
    pair = connected(config, config)
    pair.answer = {"a": lambda p: None, "b": lambda p: None}
    pair.pair("a", LeSecurityRequirement(mitm=True))
    before = len(pair.wire["b"])
    pair.inject("b", smp.KeypressNotification(smp.KeypressType.DIGIT_ENTERED).to_bytes())
    assert len(pair.wire["b"]) == before  # taken, no failure
    (shown,) = [m for m in pair.emitted["b"] if isinstance(m, SmpKeypressInd)]
    assert shown.kind is smp.KeypressType.DIGIT_ENTERED and shown.peer == pair.a_address


def test_a_second_pair_request_while_pairing_is_refused_in_the_caller() -> None:
    pair = connected()
    pair.drop = lambda side, pdu: True
    pair.pair()
    pair.pair()
    (second,) = [m for m in pair.answered["a"]]
    assert second.status != 0 and "already" in (second.error or "")
