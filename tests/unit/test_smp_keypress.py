"""Keypress notifications (Core 5.4 Vol 3 Part H 3.5.8, 2.3.5.6.3): the side typing the
passkey sends what its user presses when both devices set the Keypress flag of AuthReq
(3.5.1), and the side showing the passkey hands them to btm; two SMP cores in memory."""

from __future__ import annotations

import pytest

from bluetrio.actors.smp.config import SmpConfig
from bluetrio.messages.btm_security import AssociationModel, IoCapability
from bluetrio.messages.smp import KeypressNotification, KeypressType, SmpCode
from bluetrio.messages.smp_service import (
    LeSecurityRequirement,
    SmpKeypressInd,
    SmpKeypressReq,
    SmpPairCnf,
    SmpPromptKind,
    SmpPromptReq,
    SmpPromptRsp,
)
from bluetrio.testing.smp_cores import HANDLE, SmpCorePair

# Every notification type (table 3.8), in the order a user might cause them.
TYPED = [*KeypressType, KeypressType.DIGIT_ENTERED]


def typist_pair(
    *, secure: bool, typist: str, typist_flag: bool = True, display_flag: bool = True
) -> SmpCorePair:
    """``typist`` ("a" the central, "b" the peripheral) has only a keyboard, the other only
    a display: Passkey Entry, the keyboard side types (2.3.5.1, table 2.8)."""
    keyboard = IoCapability.KEYBOARD_ONLY
    display = IoCapability.DISPLAY_ONLY
    configs = {
        side: SmpConfig(
            io_capability=keyboard if side == typist else display,
            mitm=True,
            secure_connections=secure,
            keypress=typist_flag if side == typist else display_flag,
        )
        for side in "ab"
    }
    pair = SmpCorePair(configs["a"], configs["b"])
    pair.answer = {"a": None, "b": None}  # prompts stay open until the test answers
    pair.open_link()
    pair.pair("a", LeSecurityRequirement(mitm=True))
    return pair


def entry_prompt(pair: SmpCorePair, side: str) -> SmpPromptReq:
    (prompt,) = [p for p in pair.prompts[side] if p.kind is SmpPromptKind.ENTER_PASSKEY]
    return prompt


def shown_passkey(pair: SmpCorePair, side: str) -> int:
    (prompt,) = [p for p in pair.prompts[side] if p.kind is SmpPromptKind.DISPLAY_PASSKEY]
    assert prompt.number is not None
    return prompt.number


def keypresses_heard(pair: SmpCorePair, side: str) -> list[KeypressType]:
    return [m.kind for m in pair.emitted[side] if isinstance(m, SmpKeypressInd)]


def sent_keypresses(pair: SmpCorePair, side: str) -> list[bytes]:
    return [pdu for pdu in pair.wire[side] if pdu[0] == SmpCode.PAIRING_KEYPRESS_NOTIFICATION]


@pytest.mark.parametrize("typist", ["a", "b"], ids=["central-types", "peripheral-types"])
@pytest.mark.parametrize("secure", [True, False], ids=["sc", "legacy"])
def test_the_typing_side_notifies_each_key_and_the_display_side_hears_them(
    secure: bool, typist: str
) -> None:
    pair = typist_pair(secure=secure, typist=typist)
    display = "b" if typist == "a" else "a"
    prompt = entry_prompt(pair, typist)
    assert prompt.keypresses and prompt.model is AssociationModel.PASSKEY_ENTRY
    for kind in TYPED:
        pair.deliver(typist, SmpKeypressReq(HANDLE, kind))
    assert sent_keypresses(pair, typist) == [KeypressNotification(k).to_bytes() for k in TYPED]
    # The display side takes them in its confirm phase (legacy too) and tells btm in order.
    assert keypresses_heard(pair, display) == TYPED
    pair.deliver(typist, SmpPromptRsp(HANDLE, True, passkey=shown_passkey(pair, display)))
    a, b = pair.result("a"), pair.result("b")
    assert (a.status, b.status) == (0, 0), (a.error, b.error)
    assert a.bond is not None and a.bond.authenticated


@pytest.mark.parametrize(
    ("typist_flag", "display_flag"), [(True, False), (False, True)], ids=["display", "typist"]
)
def test_without_both_flags_no_keypress_is_sent(typist_flag: bool, display_flag: bool) -> None:
    pair = typist_pair(secure=True, typist="a", typist_flag=typist_flag, display_flag=display_flag)
    assert not entry_prompt(pair, "a").keypresses
    pair.deliver("a", SmpKeypressReq(HANDLE, KeypressType.ENTRY_STARTED))
    assert sent_keypresses(pair, "a") == []
    pair.deliver("a", SmpPromptRsp(HANDLE, True, passkey=shown_passkey(pair, "b")))
    assert pair.result("a").status == 0


def test_a_keypress_after_the_passkey_was_given_is_not_sent() -> None:
    pair = typist_pair(secure=True, typist="a")
    pair.deliver("a", SmpPromptRsp(HANDLE, True, passkey=shown_passkey(pair, "b")))
    assert pair.result("a").status == 0
    pair.deliver("a", SmpKeypressReq(HANDLE, KeypressType.ENTRY_COMPLETED))
    assert sent_keypresses(pair, "a") == []


def test_no_keypress_is_sent_outside_passkey_entry() -> None:
    pair = SmpCorePair(SmpConfig(keypress=True), SmpConfig(keypress=True))
    pair.open_link()
    pair.pair("a")
    assert pair.result("a").status == 0  # Just Works: no prompt to type into
    pair.deliver("a", SmpKeypressReq(HANDLE, KeypressType.DIGIT_ENTERED))
    assert sent_keypresses(pair, "a") == []


def test_a_peer_typing_while_the_legacy_initiator_shows_the_passkey_does_not_fail_it() -> None:
    """The legacy initiator that displays the passkey sent its confirm value and waits for
    the responder's: a Keypress Notification there is the responder's user typing (3.5.8),
    not a PDU out of state (it was refused with Unspecified Reason)."""
    pair = typist_pair(secure=False, typist="b")
    pair.inject("a", KeypressNotification(KeypressType.ENTRY_STARTED).to_bytes())
    assert not [m for m in pair.emitted["a"] if isinstance(m, SmpPairCnf)]
    assert KeypressType.ENTRY_STARTED in keypresses_heard(pair, "a")
    pair.deliver("b", SmpPromptRsp(HANDLE, True, passkey=shown_passkey(pair, "a")))
    assert pair.result("a").status == 0
