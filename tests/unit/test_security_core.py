"""The BR/EDR security core, driven synchronously with made-up events and times."""

from __future__ import annotations

import gc
import logging
import random
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from bluetrio.actors.btm.commands import CommandIssuer
from bluetrio.actors.btm.config import SecurityConfig
from bluetrio.actors.btm.security import SecurityCore
from bluetrio.actors.effects import CancelTimer, Emit, ReleaseTimers, Send, StartTimer, TimerExpired
from bluetrio.address import Address
from bluetrio.bonds import Bond, LinkKeyType
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages import hci
from bluetrio.messages.btm import AclLink, LinkTransport, Role
from bluetrio.messages.btm_security import (
    INDICATIONS,
    AssociationModel,
    BondRefusedInd,
    IoCapability,
    LinkSecuredInd,
    LinkSecurityCnf,
    LinkSecurityReq,
    OobDataInd,
    OobDataRsp,
    PairCnf,
    PairReq,
    PasskeyDisplayInd,
    PasskeyEntryInd,
    PasskeyEntryRsp,
    PeerOobData,
    PromptCancelledInd,
    SecurityRequirement,
    SecurityServiceReq,
    StoreBondReq,
    StoreBondRsp,
    UserConfirmInd,
    UserConfirmRsp,
    bredr_bond,
)
from bluetrio.messages.hci_service import HciCommandCnf, HciCommandReq
from bluetrio.messages.smp import KeypressType
from bluetrio.messages.smp_service import APP_INDICATIONS, KeypressInd

LOCAL = Address.parse("00:00:00:00:00:01")
PEER = Address.parse("00:00:00:00:00:02")
HANDLE = 0x0001
KEY = bytes(range(16))
DY, DO, KO, NO = (
    IoCapability.DISPLAY_YES_NO,
    IoCapability.DISPLAY_ONLY,
    IoCapability.KEYBOARD_ONLY,
    IoCapability.NO_INPUT_NO_OUTPUT,
)


class Harness:
    """A security core whose commands all succeed; records what it sends."""

    def __init__(
        self,
        *,
        io: IoCapability = DY,
        bonds: tuple[Bond, ...] = (),
        service: bool = True,
        oob: bool = False,
        **config: Any,
    ) -> None:
        self.core = SecurityCore(commands=CommandIssuer(), config=SecurityConfig(**config))
        self.now = 0.0
        self.commands: list[Any] = []
        self.app: list[Any] = []
        self.others: list[tuple[str, Any]] = []  # messages to other layers than the app
        self.timers: dict[Any, float] = {}
        self.controller_key_size = 16
        self.hold: set[type] = set()  # commands left unanswered until release()
        self.refuse: set[type] = set()  # commands answered with Command Disallowed
        self.held: list[HciCommandReq] = []
        if service:
            self.message(SecurityServiceReq(LOCAL, bonds, io, oob))
        self.apply(
            self.core.on_link_up(AclLink(HANDLE, LinkTransport.BR_EDR, PEER, Role.CENTRAL), 0)
        )

    def apply(self, effects: list[Any]) -> None:
        for effect in effects:
            if isinstance(effect, Emit) and isinstance(effect.message, HciCommandReq):
                command = effect.message.command
                self.commands.append(command)
                if type(command) in self.hold:
                    self.held.append(effect.message)
                    continue
                self.apply(
                    self.core.commands.on_confirmation(self._answer(effect.message), self.now)
                )
            elif isinstance(effect, Send) and effect.to == "app":
                self.app.append(effect.message)  # an answer to the app's own request
            elif isinstance(effect, Emit):
                assert type(effect.message) in (*INDICATIONS, *APP_INDICATIONS)  # routed to the app
                self.app.append(effect.message)
            elif isinstance(effect, Send):
                self.others.append((effect.to, effect.message))
            elif isinstance(effect, StartTimer):
                self.timers[effect.key] = effect.deadline
            elif isinstance(effect, CancelTimer):
                self.timers.pop(effect.key, None)
            elif isinstance(effect, ReleaseTimers):
                self.timers = {k: v for k, v in self.timers.items() if k.owner != effect.owner}
            else:
                raise AssertionError(f"unexpected effect {effect!r}")

    def _answer(self, request: HciCommandReq) -> HciCommandCnf:
        command: Any = request.command
        if isinstance(command, hci.ReadEncryptionKeySize):
            returned = hci.ReadEncryptionKeySizeReturn(
                0, command.connection_handle, self.controller_key_size
            )
            event: Any = hci.CommandComplete.for_return(command.OPCODE, returned)
        else:
            status = 0x0C if type(command) in self.refuse else 0x00
            event = hci.CommandStatus(status, 1, command.OPCODE)
        return HciCommandCnf(request.token, command.OPCODE, event)

    def release(self) -> None:
        held, self.held = self.held, []
        for request in held:
            self.apply(self.core.commands.on_confirmation(self._answer(request), self.now))

    def event(self, event: Any) -> None:
        self.apply(self.core.on_hci_event(event, self.now))

    def message(self, message: Any, sender: str = "app") -> None:
        self.apply(self.core.on_message(sender, message, self.now))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for key, deadline in sorted(self.timers.items(), key=lambda item: item[1]):
            if deadline <= self.now and key in self.timers:
                del self.timers[key]
                self.apply(self.core.on_timer(TimerExpired(key), self.now))

    def sent(self, kind: type) -> list[Any]:
        return [c for c in self.commands if isinstance(c, kind)]

    def to_app(self, kind: type) -> list[Any]:
        return [m for m in self.app if isinstance(m, kind)]

    def disconnected(self) -> bool:
        return any(c.reason == 0x05 for c in self.sent(hci.Disconnect))

    # -- scripted procedures ---------------------------------------------------------------
    def start_pairing(self, peer_io: int, peer_auth: int = 0x05) -> None:
        """PairReq, no stored key, IO capability exchange with us as initiator."""
        self.message(PairReq(1, PEER))
        assert self.sent(hci.AuthenticationRequested)
        self.event(hci.LinkKeyRequest(PEER))
        self.event(hci.IoCapabilityRequest(PEER))
        self.event(hci.IoCapabilityResponse(PEER, peer_io, 0, peer_auth))

    def finish_pairing(self, key_type: LinkKeyType, encryption: int = 0x02) -> None:
        self.event(hci.SimplePairingComplete(0, PEER))
        self.event(hci.LinkKeyNotification(PEER, KEY, key_type))
        self.event(hci.AuthenticationComplete(0, HANDLE))
        self.event(hci.EncryptionChange(0, HANDLE, encryption))

    def pair_cnf(self) -> PairCnf:
        (cnf,) = self.to_app(PairCnf)
        assert isinstance(cnf, PairCnf)
        return cnf


def stored_bond(key_type: LinkKeyType) -> Bond:
    return bredr_bond(LOCAL, PEER, bytes(reversed(KEY)), key_type)


# Vol 3 Part C Table 5.7 (MITM requested): initiator (row) x responder (column).
J, N, P = (
    AssociationModel.JUST_WORKS,
    AssociationModel.NUMERIC_COMPARISON,
    AssociationModel.PASSKEY_ENTRY,
)
MODEL_TABLE = {
    (DO, DO): J, (DO, DY): J, (DO, KO): P, (DO, NO): J,
    (DY, DO): J, (DY, DY): N, (DY, KO): P, (DY, NO): J,
    (KO, DO): P, (KO, DY): P, (KO, KO): P, (KO, NO): J,
    (NO, DO): J, (NO, DY): J, (NO, KO): J, (NO, NO): J,
}  # fmt: skip


@pytest.mark.parametrize(("local_io", "peer_io"), list(MODEL_TABLE))
def test_each_io_capability_pair_gives_the_table_model(
    local_io: IoCapability, peer_io: IoCapability
) -> None:
    expected = MODEL_TABLE[local_io, peer_io]
    h = Harness(io=local_io)
    h.start_pairing(peer_io)
    (reply,) = h.sent(hci.IoCapabilityRequestReply)
    assert reply.io_capability == local_io
    # MITM requested unless we have no IO; dedicated bonding since the app asked.
    assert reply.authentication_requirements == (0x02 if local_io is NO else 0x03)
    if expected is P:
        # The keyboard side types; the other displays (both type when both are keyboards).
        if local_io is KO:
            h.event(hci.UserPasskeyRequest(PEER))
            (prompt,) = h.to_app(PasskeyEntryInd)
            h.message(PasskeyEntryRsp(prompt.prompt_id, 123456))
            assert h.sent(hci.UserPasskeyRequestReply)[0].numeric_value == 123456
        else:
            h.event(hci.UserPasskeyNotification(PEER, 654321))
            assert h.to_app(PasskeyDisplayInd) == [PasskeyDisplayInd(PEER, 654321, P)]
        key_type = LinkKeyType.AUTHENTICATED_P256
    else:
        h.event(hci.UserConfirmationRequest(PEER, 999999))
        if expected is N:
            (prompt,) = h.to_app(UserConfirmInd)
            assert prompt.number == 999999
            h.message(UserConfirmRsp(prompt.prompt_id, True))
            key_type = LinkKeyType.AUTHENTICATED_P256
        else:
            assert h.to_app(UserConfirmInd) == []  # the app asked to pair: no consent prompt
            key_type = LinkKeyType.UNAUTHENTICATED_P256
        assert h.sent(hci.UserConfirmationRequestReply)
    h.finish_pairing(key_type)
    cnf = h.pair_cnf()
    assert (cnf.status, cnf.model, cnf.key_type, cnf.used_stored_key) == (
        0,
        expected,
        key_type,
        False,
    )
    assert cnf.key_size == 16
    (store,) = h.to_app(StoreBondReq)
    assert store.bond.link_key.type is key_type
    assert store.bond.link_key.value == bytes(reversed(KEY))  # MSB first in the store


def test_not_pairable_refuses_peer_initiated_pairing_with_0x18() -> None:
    h = Harness()
    h.event(hci.IoCapabilityResponse(PEER, DY, 0, 0x05))
    h.event(hci.IoCapabilityRequest(PEER))
    assert [(c.bd_addr, c.reason) for c in h.sent(hci.IoCapabilityRequestNegativeReply)] == [
        (PEER, 0x18)
    ]
    assert not h.sent(hci.IoCapabilityRequestReply)


def test_pairable_responder_asks_consent_for_just_works() -> None:
    h = Harness(pairable=True, io=NO)
    h.event(hci.IoCapabilityResponse(PEER, DY, 0, 0x04))
    h.event(hci.IoCapabilityRequest(PEER))
    (reply,) = h.sent(hci.IoCapabilityRequestReply)
    assert reply.authentication_requirements == 0x04  # general bonding, no MITM possible
    h.event(hci.UserConfirmationRequest(PEER, 1234))
    (prompt,) = h.to_app(UserConfirmInd)
    assert prompt.number is None
    h.message(UserConfirmRsp(prompt.prompt_id, False))
    assert h.sent(hci.UserConfirmationRequestNegativeReply)


def test_unanswered_prompt_is_declined_when_its_timer_expires() -> None:
    h = Harness()
    h.start_pairing(DY)
    h.event(hci.UserConfirmationRequest(PEER, 42))
    (prompt,) = h.to_app(UserConfirmInd)
    h.advance(29.0)
    assert not h.sent(hci.UserConfirmationRequestNegativeReply)
    h.advance(1.0)
    assert h.sent(hci.UserConfirmationRequestNegativeReply)
    assert h.to_app(PromptCancelledInd)[0].prompt_id == prompt.prompt_id
    h.message(UserConfirmRsp(prompt.prompt_id, True))  # too late: ignored
    assert not h.sent(hci.UserConfirmationRequestReply)
    h.event(hci.SimplePairingComplete(0x05, PEER))
    h.event(hci.AuthenticationComplete(0x05, HANDLE))
    cnf = h.pair_cnf()
    assert cnf.status == 0x05
    # The user learns that nobody answered, not only "Authentication Failure".
    assert cnf.error == "the confirmation prompt timed out (no answer within 30 s)"


def test_passkey_out_of_range_is_declined() -> None:
    h = Harness(io=KO)
    h.start_pairing(DO)
    h.event(hci.UserPasskeyRequest(PEER))
    (prompt,) = h.to_app(PasskeyEntryInd)
    h.message(PasskeyEntryRsp(prompt.prompt_id, 1_000_000))
    assert h.sent(hci.UserPasskeyRequestNegativeReply)
    assert not h.sent(hci.UserPasskeyRequestReply)


@pytest.mark.parametrize(("peer_size", "minimum", "kept"), [(7, 16, False), (7, 7, True)])
def test_encryption_key_size_policy(peer_size: int, minimum: int, kept: bool) -> None:
    h = Harness(min_encryption_key_size=minimum)
    h.controller_key_size = peer_size
    h.start_pairing(DY)
    h.event(hci.UserConfirmationRequest(PEER, 1))
    h.message(UserConfirmRsp(h.to_app(UserConfirmInd)[0].prompt_id, True))
    h.finish_pairing(LinkKeyType.AUTHENTICATED_P256)
    assert h.sent(hci.ReadEncryptionKeySize)
    cnf = h.pair_cnf()
    assert h.disconnected() is not kept
    assert (cnf.status == 0) is kept
    if not kept:
        assert "KNOB" in (cnf.error or "")
        assert h.to_app(LinkSecuredInd) == []


def test_encryption_change_v2_key_size_needs_no_read() -> None:
    h = Harness(bonds=(stored_bond(LinkKeyType.AUTHENTICATED_P256),))
    h.message(PairReq(1, PEER))
    h.event(hci.LinkKeyRequest(PEER))
    (reply,) = h.sent(hci.LinkKeyRequestReply)
    assert reply.link_key == KEY  # wire order again
    h.event(hci.AuthenticationComplete(0, HANDLE))
    h.event(hci.EncryptionChangeV2(0, HANDLE, 0x02, 8))
    assert not h.sent(hci.ReadEncryptionKeySize)
    assert h.disconnected()


def test_bonded_peer_reconnects_with_the_stored_key() -> None:
    h = Harness(bonds=(stored_bond(LinkKeyType.AUTHENTICATED_P256),))
    h.message(PairReq(1, PEER))
    h.event(hci.LinkKeyRequest(PEER))
    h.event(hci.AuthenticationComplete(0, HANDLE))
    h.event(hci.EncryptionChange(0, HANDLE, 0x02))
    cnf = h.pair_cnf()
    assert (cnf.status, cnf.used_stored_key, cnf.model) == (0, True, None)
    assert cnf.key_type is LinkKeyType.AUTHENTICATED_P256
    assert not h.sent(hci.IoCapabilityRequestReply)


def test_no_bond_gives_negative_link_key_reply() -> None:
    h = Harness()
    h.event(hci.LinkKeyRequest(PEER))
    assert h.sent(hci.LinkKeyRequestNegativeReply)


def test_secure_connections_only_refuses_p192_and_just_works() -> None:
    h = Harness(secure_connections_only=True, bonds=(stored_bond(LinkKeyType.AUTHENTICATED_P192),))
    h.message(PairReq(1, PEER))
    h.event(hci.LinkKeyRequest(PEER))
    assert h.sent(hci.LinkKeyRequestNegativeReply)  # the P-192 bond is not good enough
    h.event(hci.IoCapabilityRequest(PEER))
    assert h.sent(hci.IoCapabilityRequestReply)[0].authentication_requirements & 0x01
    h.event(hci.IoCapabilityResponse(PEER, NO, 0, 0x00))
    h.event(hci.UserConfirmationRequest(PEER, 5))
    assert h.sent(hci.UserConfirmationRequestNegativeReply)


def test_secure_connections_only_disconnects_on_authenticated_p192_key() -> None:
    h = Harness(secure_connections_only=True)
    h.start_pairing(DY)
    h.event(hci.UserConfirmationRequest(PEER, 1))
    h.message(UserConfirmRsp(h.to_app(UserConfirmInd)[0].prompt_id, True))
    h.event(hci.SimplePairingComplete(0, PEER))
    h.event(hci.LinkKeyNotification(PEER, KEY, LinkKeyType.AUTHENTICATED_P192))
    assert h.disconnected()
    assert h.to_app(StoreBondReq) == []
    assert h.pair_cnf().status == 0x05


def test_bias_downgrade_of_a_secure_connections_bond_is_refused() -> None:
    bond = stored_bond(LinkKeyType.AUTHENTICATED_P256)
    h = Harness(bonds=(bond,), pairable=True)
    # An impersonator without the key pairs again, only able to produce a P-192 key.
    h.event(hci.IoCapabilityResponse(PEER, DY, 0, 0x05))
    h.event(hci.IoCapabilityRequest(PEER))
    h.event(hci.UserConfirmationRequest(PEER, 7))
    h.message(UserConfirmRsp(h.to_app(UserConfirmInd)[0].prompt_id, True))
    h.event(hci.SimplePairingComplete(0, PEER))
    h.event(hci.LinkKeyNotification(PEER, bytes(16), LinkKeyType.AUTHENTICATED_P192))
    assert h.disconnected()
    assert h.to_app(BondRefusedInd) and h.to_app(StoreBondReq) == []
    assert h.core.link_keys[PEER] == bond.link_key  # the old bond is kept


def test_secure_connections_key_with_e0_encryption_is_a_downgrade() -> None:
    h = Harness(bonds=(stored_bond(LinkKeyType.AUTHENTICATED_P256),))
    h.event(hci.LinkKeyRequest(PEER))  # the peer authenticates us
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))  # E0, not AES-CCM
    assert h.disconnected()


def test_peer_that_only_challenged_us_must_answer_our_challenge() -> None:
    # Legacy authentication proves one side only; a role-switching impersonator never proves.
    h = Harness(bonds=(stored_bond(LinkKeyType.AUTHENTICATED_P192),))
    h.event(hci.LinkKeyRequest(PEER))
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))
    assert len(h.sent(hci.AuthenticationRequested)) == 1
    assert h.to_app(LinkSecuredInd) == []
    h.event(hci.AuthenticationComplete(0x06, HANDLE))
    assert h.disconnected()


def test_peer_that_answers_our_challenge_is_secured() -> None:
    h = Harness(bonds=(stored_bond(LinkKeyType.AUTHENTICATED_P192),))
    h.event(hci.LinkKeyRequest(PEER))
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))
    h.event(hci.AuthenticationComplete(0, HANDLE))
    (secured,) = h.to_app(LinkSecuredInd)
    assert (secured.key_size, secured.used_stored_key) == (16, True)
    assert not h.disconnected()


def test_encryption_without_any_key_disconnects() -> None:
    h = Harness()
    h.event(hci.EncryptionChange(0, HANDLE, 0x02))
    assert h.disconnected()


def test_link_key_without_completed_pairing_is_not_stored() -> None:
    h = Harness()
    h.event(hci.LinkKeyNotification(PEER, KEY, LinkKeyType.AUTHENTICATED_P256))
    assert h.to_app(StoreBondReq) == [] and PEER not in h.core.link_keys
    assert h.disconnected()


def test_store_refused_as_weaker_restores_the_previous_key() -> None:
    h = Harness(pairable=True)
    h.event(hci.IoCapabilityResponse(PEER, DY, 0, 0x05))
    h.event(hci.IoCapabilityRequest(PEER))
    h.event(hci.UserConfirmationRequest(PEER, 7))
    h.message(UserConfirmRsp(h.to_app(UserConfirmInd)[0].prompt_id, True))
    h.event(hci.SimplePairingComplete(0, PEER))
    h.event(hci.LinkKeyNotification(PEER, KEY, LinkKeyType.AUTHENTICATED_P256))
    assert h.to_app(StoreBondReq)
    h.message(StoreBondRsp(PEER, stored=False, error="weaker", weaker=True))
    assert PEER not in h.core.link_keys
    assert h.to_app(BondRefusedInd)


def test_oob_data_from_the_provider_is_announced_and_replied() -> None:
    h = Harness(oob=True)
    h.message(PairReq(1, PEER))
    h.event(hci.LinkKeyRequest(PEER))
    h.event(hci.IoCapabilityRequest(PEER))
    (ask,) = h.to_app(OobDataInd)
    assert not h.sent(hci.IoCapabilityRequestReply)
    c, r = bytes(range(16)), bytes(range(16, 32))
    h.message(OobDataRsp(ask.prompt_id, PeerOobData(c_256=c, r_256=r)))
    assert h.sent(hci.IoCapabilityRequestReply)[0].oob_data_present == 1
    h.event(hci.IoCapabilityResponse(PEER, DY, 0, 0x05))
    h.event(hci.RemoteOobDataRequest(PEER))
    (reply,) = h.sent(hci.RemoteOobExtendedDataRequestReply)
    assert (reply.c_256, reply.r_256) == (bytes(reversed(c)), bytes(reversed(r)))
    h.finish_pairing(LinkKeyType.AUTHENTICATED_P256)
    assert h.pair_cnf().model is AssociationModel.OUT_OF_BAND


def test_pair_request_without_link_fails_cleanly() -> None:
    h = Harness()
    h.message(PairReq(9, Address.parse("00:00:00:00:00:09")))
    assert h.pair_cnf().status == 0x02


def test_link_loss_answers_waiting_requests_and_cancels_prompts() -> None:
    h = Harness()
    h.start_pairing(DY)
    h.event(hci.UserConfirmationRequest(PEER, 3))
    h.apply(h.core.on_link_down(HANDLE, 0x08, h.now))
    assert h.pair_cnf().status == 0x08
    assert h.to_app(PromptCancelledInd)
    assert h.timers == {}


def test_pin_pairing_is_refused() -> None:
    h = Harness()
    h.event(hci.PinCodeRequest(PEER))
    assert h.sent(hci.PinCodeRequestNegativeReply)


def test_out_of_state_events_are_ignored() -> None:
    h = Harness()
    h.event(hci.AuthenticationComplete(0, 0x0777))
    h.event(hci.EncryptionChange(0, 0x0777, 1))
    h.event(hci.UserPasskeyNotification(PEER, 5))
    h.event(hci.SimplePairingComplete(0, PEER))
    h.message(UserConfirmRsp(99, True))
    h.event(hci.UserConfirmationRequest(PEER, 5))  # no IO capability exchange: declined
    assert h.sent(hci.UserConfirmationRequestNegativeReply)
    assert h.app == []


def test_le_long_term_key_request_without_bond_is_refused() -> None:
    h = Harness()
    h.apply(h.core.on_link_up(AclLink(0x40, LinkTransport.LE, PEER, Role.PERIPHERAL), 0))
    h.event(hci.LeLongTermKeyRequest(0x40, bytes(8), 0))
    assert h.sent(hci.LeLongTermKeyRequestNegativeReply)


def test_le_long_term_key_request_with_matching_bond_gets_the_key() -> None:
    from bluetrio.bonds import KeyDistribution, LongTermKey, Transport

    ltk = LongTermKey(KEY, ediv=0x1234, rand=bytes(range(8)))
    bond = Bond(LOCAL, PEER, Transport.LE, local_keys=KeyDistribution(ltk=ltk))
    h = Harness(bonds=(bond,))
    h.apply(h.core.on_link_up(AclLink(0x40, LinkTransport.LE, PEER, Role.PERIPHERAL), 0))
    h.event(hci.LeLongTermKeyRequest(0x40, bytes(reversed(range(8))), 0x1234))
    (reply,) = h.sent(hci.LeLongTermKeyRequestReply)
    assert reply.long_term_key == bytes(reversed(KEY))
    h.event(hci.LeLongTermKeyRequest(0x40, bytes(8), 0x1234))  # wrong Rand
    assert h.sent(hci.LeLongTermKeyRequestNegativeReply)


# -- security requests from other layers, answered to their sender ---------------------------


def secure_with_bond(h: Harness) -> None:
    """The controller's side of authenticating and encrypting with the stored key."""
    h.event(hci.LinkKeyRequest(PEER))
    h.event(hci.AuthenticationComplete(0, HANDLE))
    h.event(hci.EncryptionChange(0, HANDLE, 0x02))


def test_link_security_request_is_answered_to_its_requester_not_the_app() -> None:
    h = Harness(bonds=(stored_bond(LinkKeyType.AUTHENTICATED_P256),))
    h.message(LinkSecurityReq(7, HANDLE, SecurityRequirement(mitm=True)), sender="l2cap")
    assert h.sent(hci.AuthenticationRequested)
    secure_with_bond(h)
    assert h.others == [
        ("l2cap", LinkSecurityCnf(7, HANDLE, 0, LinkKeyType.AUTHENTICATED_P256, 16))
    ]
    assert h.to_app(PairCnf) == [] and h.to_app(LinkSecurityCnf) == []
    assert h.to_app(LinkSecuredInd)  # the app still hears that the link is secured
    # Secured now: a further request is answered at once, without a command.
    commands = len(h.commands)
    h.message(LinkSecurityReq(8, HANDLE, SecurityRequirement()), sender="sdp")
    assert h.others[-1] == (
        "sdp",
        LinkSecurityCnf(8, HANDLE, 0, LinkKeyType.AUTHENTICATED_P256, 16),
    )
    assert len(h.commands) == commands


def test_a_secured_link_short_of_the_requirement_is_insufficient_security() -> None:
    h = Harness(bonds=(stored_bond(LinkKeyType.UNAUTHENTICATED_P256),))
    h.message(LinkSecurityReq(3, HANDLE, SecurityRequirement(mitm=True)), sender="l2cap")
    secure_with_bond(h)
    ((to, cnf),) = h.others
    assert (to, cnf.token, cnf.status, cnf.key_type) == ("l2cap", 3, 0x2F, None)
    assert "MITM" in (cnf.error or "")
    assert not h.disconnected()  # the link is fine for services that ask less


def test_requesters_of_one_procedure_each_get_their_own_answer() -> None:
    h = Harness(bonds=(stored_bond(LinkKeyType.AUTHENTICATED_P256),))
    h.message(PairReq(1, PEER))
    h.message(LinkSecurityReq(2, HANDLE, SecurityRequirement(secure_connections=True)), "l2cap")
    assert len(h.sent(hci.AuthenticationRequested)) == 1  # one procedure for both
    secure_with_bond(h)
    assert h.pair_cnf().status == 0
    assert [(to, cnf.token, cnf.status) for to, cnf in h.others] == [("l2cap", 2, 0)]


def test_link_security_request_without_link_or_without_need() -> None:
    h = Harness()
    h.message(LinkSecurityReq(4, 0x0777, SecurityRequirement()), sender="l2cap")
    h.message(LinkSecurityReq(5, HANDLE, SecurityRequirement(False, False)), sender="l2cap")
    assert [(cnf.token, cnf.status) for _to, cnf in h.others] == [(4, 0x02), (5, 0)]
    assert h.commands == []


def test_link_loss_answers_a_waiting_layer_with_the_reason() -> None:
    h = Harness()
    h.message(LinkSecurityReq(6, HANDLE, SecurityRequirement()), sender="l2cap")
    h.apply(h.core.on_link_down(HANDLE, 0x08, h.now))
    ((to, cnf),) = h.others
    assert (to, cnf.status) == ("l2cap", 0x08)
    assert h.timers == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"encryption": True, "authentication": False},
        {"mitm": True, "encryption": False},
        {"min_key_size": 6},
        {"min_key_size": 17},
        {"mitm": 1},
    ],
)
def test_security_requirement_rejects_impossible_levels(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        SecurityRequirement(**fields)


def test_procedure_started_by_a_layer_has_a_deadline() -> None:
    h = Harness()
    h.message(LinkSecurityReq(9, HANDLE, SecurityRequirement()), sender="l2cap")
    h.advance(90.0)  # the controller never completes the authentication
    assert h.disconnected()
    assert h.others[0][1].status == 0x05


# -- security state only for links that exist ---------------------------------------------------


def unlinked(i: int) -> Address:
    return Address(i.to_bytes(6, "little"))


def drive(core: SecurityCore, event: Any) -> None:
    """Hand ``event`` to ``core`` and answer its commands, keeping nothing."""
    for effect in core.on_hci_event(event, 0.0):
        if isinstance(effect, Emit) and isinstance(effect.message, HciCommandReq):
            status = hci.CommandStatus(0, 1, effect.message.command.OPCODE)
            core.commands.on_confirmation(
                HciCommandCnf(effect.message.token, effect.message.command.OPCODE, status), 0.0
            )


def memory_growth(action: Callable[[], None]) -> int:
    """Bytes still allocated after ``action`` (log records, which pytest keeps, left out)."""
    gc.collect()
    logging.disable(logging.CRITICAL)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        action()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        logging.disable(logging.NOTSET)


def test_20000_unsolicited_io_capability_responses_leave_no_state() -> None:
    h = Harness(pairable=True)

    def flood() -> None:
        for i in range(20_000):
            drive(h.core, hci.IoCapabilityResponse(unlinked(0x10000 + i), DY, 0, 0x05))

    # Each response used to leave a pairing entry (about 3 MB for 20,000).
    assert memory_growth(flood) < 64 * 1024
    assert len(h.core.links) == 1 and len(h.core.prompts) == 0


PER_LINK_EVENTS: list[Callable[[Address], Any]] = [
    lambda a: hci.IoCapabilityRequest(a),
    lambda a: hci.IoCapabilityResponse(a, DY, 0, 0x05),
    lambda a: hci.UserConfirmationRequest(a, 123456),
    lambda a: hci.UserPasskeyRequest(a),
    lambda a: hci.UserPasskeyNotification(a, 123456),
    lambda a: hci.RemoteOobDataRequest(a),
    lambda a: hci.SimplePairingComplete(0, a),
    lambda a: hci.LinkKeyNotification(a, KEY, LinkKeyType.AUTHENTICATED_P256),
    lambda a: hci.LinkKeyRequest(a),
    lambda a: hci.KeypressNotification(a, 0),
    lambda a: hci.PinCodeRequest(a),
    lambda a: hci.AuthenticationComplete(0, int.from_bytes(a.value[:2], "little") & 0x0EFF),
    lambda a: hci.EncryptionChange(0, int.from_bytes(a.value[:2], "little") & 0x0EFF, 1),
    lambda a: hci.LeLongTermKeyRequest(int.from_bytes(a.value[:2], "little") & 0x0EFF, bytes(8), 0),
]


@pytest.mark.parametrize("make", PER_LINK_EVENTS)
def test_per_link_security_events_for_no_link_create_no_state(
    make: Callable[[Address], Any],
) -> None:
    h = Harness(pairable=True)

    def flood() -> None:
        for i in range(2_000):
            drive(h.core, make(unlinked(0x10000 + i)))

    assert memory_growth(flood) < 32 * 1024
    assert len(h.core.links) == 1 and len(h.core.prompts) == 0 and len(h.core.le) == 0
    assert h.core.link_keys == {}


def test_an_io_capability_response_from_before_the_link_does_not_shape_its_pairing() -> None:
    h = Harness(pairable=True)
    h.apply(h.core.on_link_down(HANDLE, 0x13, h.now))
    h.event(hci.IoCapabilityResponse(PEER, NO, 0, 0x00))  # no bonding, from no link
    h.apply(h.core.on_link_up(AclLink(HANDLE, LinkTransport.BR_EDR, PEER, Role.PERIPHERAL), 0))
    h.event(hci.IoCapabilityRequest(PEER))
    (reply,) = h.sent(hci.IoCapabilityRequestReply)
    assert reply.authentication_requirements == 0x05  # general bonding, MITM: nothing stale


def test_state_of_a_link_is_released_when_it_goes_down() -> None:
    h = Harness(pairable=True)
    h.message(PairReq(1, PEER))
    h.event(hci.IoCapabilityResponse(PEER, DY, 0, 0x05))
    h.event(hci.IoCapabilityRequest(PEER))
    h.event(hci.UserConfirmationRequest(PEER, 42))
    assert len(h.core.prompts) == 1
    h.apply(h.core.on_link_down(HANDLE, 0x08, h.now))
    assert (len(h.core.links), len(h.core.prompts), h.timers) == (0, 0, {})
    h.event(hci.UserConfirmationRequest(PEER, 42))  # the peer goes on: refused, no prompt
    assert h.sent(hci.UserConfirmationRequestNegativeReply)
    assert len(h.core.prompts) == 0


# -- every transition the tables allow is one the core takes -----------------------------------

P256, P192 = LinkKeyType.AUTHENTICATED_P256, LinkKeyType.AUTHENTICATED_P192


def bonded(key_type: LinkKeyType = P256, **options: Any) -> Harness:
    return Harness(bonds=(stored_bond(key_type),), **options)


def authenticating(h: Harness) -> Harness:
    h.message(PairReq(1, PEER))
    h.event(hci.LinkKeyRequest(PEER))
    return h


def encrypting(h: Harness) -> Harness:
    authenticating(h).event(hci.AuthenticationComplete(0, HANDLE))
    return h


def peer_encrypts(h: Harness, size: int | None = None, mode: int = 0x02) -> Harness:
    """The peer authenticates us with the bond and encrypts (v2 when ``size`` is given)."""
    h.event(hci.LinkKeyRequest(PEER))
    change = hci.EncryptionChange if size is None else hci.EncryptionChangeV2
    h.event(change(0, HANDLE, mode) if size is None else change(0, HANDLE, mode, size))
    return h


def checking(h: Harness) -> Harness:
    h.hold.add(hci.ReadEncryptionKeySize)
    return peer_encrypts(h)


def verifying(h: Harness) -> Harness:
    return peer_encrypts(h, mode=0x01)  # a legacy key: the peer must answer our challenge


def secured(h: Harness) -> Harness:
    peer_encrypts(h, 16)
    assert h.core.is_secured(HANDLE)
    return h


def responding(h: Harness) -> Harness:
    h.event(hci.IoCapabilityResponse(PEER, DY, 0, 0x05))
    return h


def replied(h: Harness) -> Harness:
    h.message(PairReq(1, PEER))
    h.event(hci.IoCapabilityRequest(PEER))
    return h


def stage_1(h: Harness) -> Harness:
    replied(h).event(hci.UserPasskeyNotification(PEER, 1))
    return h


def completed(h: Harness) -> Harness:
    stage_1(h).event(hci.SimplePairingComplete(0, PEER))
    return h


def again(h: Harness, *events: Any) -> Harness:
    for event in events:
        h.event(event)
    return h


OFF = hci.EncryptionChange(0, HANDLE, 0x00)
SCENARIOS: dict[str, Callable[[], object]] = {
    # link: from UNSECURED
    "pair request": lambda: Harness().message(PairReq(1, PEER)),
    "peer encrypts, size unknown": lambda: peer_encrypts(bonded()),
    "peer encrypts with a legacy key": lambda: peer_encrypts(bonded(P192), 16, 0x01),
    "peer encrypts with an SC key": lambda: peer_encrypts(bonded(), 16),
    "encryption off, unsecured": lambda: again(Harness(), OFF),
    "encryption without a key": lambda: again(Harness(), hci.EncryptionChange(0, HANDLE, 2)),
    # from AUTHENTICATING
    "authenticated": lambda: encrypting(bonded()),
    "peer encrypted first": lambda: again(
        authenticating(bonded()),
        hci.EncryptionChange(0, HANDLE, 2),
        hci.AuthenticationComplete(0, HANDLE),
    ),
    "peer encrypted first, v2": lambda: again(
        authenticating(bonded()),
        hci.EncryptionChangeV2(0, HANDLE, 2, 16),
        hci.AuthenticationComplete(0, HANDLE),
    ),
    "authentication failed": lambda: again(
        authenticating(bonded()), hci.AuthenticationComplete(0x05, HANDLE)
    ),
    "encryption off, authenticating": lambda: again(authenticating(bonded()), OFF),
    "authentication timed out": lambda: authenticating(bonded()).advance(90.0),
    # from ENCRYPTING
    "encrypted": lambda: again(encrypting(bonded()), hci.EncryptionChange(0, HANDLE, 2)),
    "encrypted, v2": lambda: again(encrypting(bonded()), hci.EncryptionChangeV2(0, HANDLE, 2, 16)),
    "encryption failed": lambda: again(encrypting(bonded()), hci.EncryptionChange(0x05, HANDLE, 0)),
    "encryption off, encrypting": lambda: again(encrypting(bonded()), OFF),
    "short key": lambda: again(encrypting(bonded()), hci.EncryptionChangeV2(0, HANDLE, 2, 7)),
    # from CHECKING_KEY_SIZE
    "encrypted again while checking": lambda: again(
        checking(bonded()), hci.EncryptionChange(0, HANDLE, 2)
    ),
    "legacy key checked": lambda: peer_encrypts(bonded(P192), mode=0x01),
    "SC key checked": lambda: checking(bonded()).release(),
    "encryption off, checking": lambda: again(checking(bonded()), OFF),
    "short key read": lambda: peer_encrypts(short_keys(bonded())),
    # from VERIFYING_PEER
    "peer proved, encrypted anew": lambda: again(
        verifying(bonded(P192)),
        hci.EncryptionChange(0, HANDLE, 1),
        hci.AuthenticationComplete(0, HANDLE),
    ),
    "peer proved": lambda: again(verifying(bonded(P192)), hci.AuthenticationComplete(0, HANDLE)),
    "encryption off, verifying": lambda: again(verifying(bonded(P192)), OFF),
    "peer failed to prove": lambda: again(
        verifying(bonded(P192)), hci.AuthenticationComplete(0x06, HANDLE)
    ),
    # from SECURED
    "re-encrypted": lambda: again(secured(bonded()), hci.EncryptionChange(0, HANDLE, 2)),
    "re-encrypted, v2": lambda: again(secured(bonded()), hci.EncryptionChangeV2(0, HANDLE, 2, 16)),
    "encryption off, secured": lambda: again(secured(bonded()), OFF),
    "downgraded to E0": lambda: again(secured(bonded()), hci.EncryptionChange(0, HANDLE, 1)),
    # pairing: from IDLE
    "peer's IO first": lambda: responding(Harness(pairable=True)),
    "OOB provider asked": lambda: again(
        Harness(oob=True, pairable=True), hci.IoCapabilityRequest(PEER)
    ),
    "our IO first": lambda: replied(Harness()),
    "not pairable": lambda: again(Harness(), hci.IoCapabilityRequest(PEER)),
    # from PEER_IO_RECEIVED
    "peer's IO twice": lambda: again(
        responding(Harness()), hci.IoCapabilityResponse(PEER, DY, 0, 5)
    ),
    "OOB provider asked after the peer's IO": lambda: again(
        responding(Harness(oob=True, pairable=True)), hci.IoCapabilityRequest(PEER)
    ),
    "we respond": lambda: again(responding(Harness(pairable=True)), hci.IoCapabilityRequest(PEER)),
    "not pairable after the peer's IO": lambda: again(
        responding(Harness()), hci.IoCapabilityRequest(PEER)
    ),
    # from ASKING_OOB
    "peer's IO while asking": lambda: again(
        Harness(oob=True, pairable=True),
        hci.IoCapabilityRequest(PEER),
        hci.IoCapabilityResponse(PEER, DY, 0, 5),
    ),
    "OOB answered": lambda: oob_answered(),
    "pairing failed while asking": lambda: again(
        Harness(oob=True, pairable=True),
        hci.IoCapabilityRequest(PEER),
        hci.SimplePairingComplete(0x05, PEER),
    ),
    # from IO_REPLIED
    "peer's IO after ours": lambda: again(
        replied(Harness()), hci.IoCapabilityResponse(PEER, DY, 0, 5)
    ),
    "confirmation asked": lambda: again(replied(Harness()), hci.UserConfirmationRequest(PEER, 1)),
    "pairing failed after our IO": lambda: again(
        replied(Harness()), hci.SimplePairingComplete(5, PEER)
    ),
    # from STAGE_1
    "passkey shown twice": lambda: again(stage_1(Harness()), hci.UserPasskeyNotification(PEER, 2)),
    "pairing succeeded": lambda: completed(Harness()),
    "pairing failed in stage 1": lambda: again(
        stage_1(Harness()), hci.SimplePairingComplete(5, PEER)
    ),
    # from COMPLETED
    "link key": lambda: again(completed(Harness()), hci.LinkKeyNotification(PEER, KEY, P256)),
    "link refused after pairing": lambda: completed(Harness()).advance(90.0),
}


def short_keys(h: Harness) -> Harness:
    h.controller_key_size = 7
    return h


def oob_answered() -> Harness:
    h = Harness(oob=True, pairable=True)
    h.event(hci.IoCapabilityRequest(PEER))
    (ask,) = h.to_app(OobDataInd)
    h.message(OobDataRsp(ask.prompt_id, None))
    return h


def test_every_transition_of_both_tables_is_taken_by_the_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bluetrio.actors.btm import security_records
    from bluetrio.actors.btm.states import LINK_TRANSITIONS, PAIRING_TRANSITIONS

    taken: set[tuple[Any, Any]] = set()
    real = security_records.transition

    def recording(table: Any, state: Any, event: Any) -> Any:
        taken.add((state, event))
        return real(table, state, event)

    monkeypatch.setattr(security_records, "transition", recording)
    for scenario in SCENARIOS.values():
        scenario()
    assert set(LINK_TRANSITIONS) - taken == set()
    assert set(PAIRING_TRANSITIONS) - taken == set()


@pytest.mark.parametrize("value", [0x03, 0x80, 0xFF])
def test_reserved_encryption_enabled_disconnects_that_link(value: int) -> None:
    # Vol 4 Part E 7.7.8 defines 0x00-0x02; with any other value what protects the link is
    # unknown, so it is not treated as some mode (it used to pass for E0).
    h = Harness(bonds=(stored_bond(LinkKeyType.AUTHENTICATED_P192),))
    h.event(hci.LinkKeyRequest(PEER))
    h.event(hci.EncryptionChange(0, HANDLE, value))
    assert h.disconnected()
    assert not h.sent(hci.ReadEncryptionKeySize) and h.to_app(LinkSecuredInd) == []


# -- any sequence of security events from the wire ----------------------------------------------

OTHER = Address.parse("00:00:00:00:00:09")
SSP_KEY_TYPES = [
    LinkKeyType.UNAUTHENTICATED_P192,
    LinkKeyType.AUTHENTICATED_P192,
    LinkKeyType.UNAUTHENTICATED_P256,
    LinkKeyType.AUTHENTICATED_P256,
]
COMMANDS = [hci.AuthenticationRequested, hci.SetConnectionEncryption, hci.ReadEncryptionKeySize]


class Script:
    """A seeded stream of controller events and app answers: mostly what a controller sends
    (the sequences matter more than the values), sometimes anything the fields can hold."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, usual: list[Any], anything: Callable[[], Any]) -> Any:
        return self.rng.choice(usual) if self.rng.random() < 0.9 else anything()

    def octet(self) -> int:
        return self.rng.randrange(0x100)

    def address(self) -> Address:
        return self.pick([PEER], lambda: OTHER)

    def handle(self) -> int:
        return self.pick([HANDLE], lambda: 0x0002)

    def status(self) -> int:
        return self.pick([0x00, 0x00, 0x05], lambda: self.rng.choice([0x06, 0x18, 0x0C]))

    def event(self) -> Any:
        r, a = self.rng, self.address
        makers: list[tuple[int, Callable[[], Any]]] = [
            (4, lambda: hci.LinkKeyRequest(a())),
            (2, lambda: hci.LinkKeyNotification(a(), KEY, self.pick(SSP_KEY_TYPES, self.octet))),
            (3, lambda: hci.IoCapabilityRequest(a())),
            (3, lambda: hci.IoCapabilityResponse(a(), r.randrange(5), r.randrange(2), 5)),
            (2, lambda: hci.UserConfirmationRequest(a(), r.randrange(1_000_000))),
            (1, lambda: hci.UserPasskeyRequest(a())),
            (1, lambda: hci.UserPasskeyNotification(a(), r.randrange(1_000_000))),
            (1, lambda: hci.RemoteOobDataRequest(a())),
            (3, lambda: hci.SimplePairingComplete(self.status(), a())),
            (3, lambda: hci.AuthenticationComplete(self.status(), self.handle())),
            (4, lambda: hci.EncryptionChange(self.status(), self.handle(), self.mode())),
            (2, lambda: hci.EncryptionChangeV2(0, self.handle(), self.mode(), self.size())),
            (1, lambda: hci.EncryptionKeyRefreshComplete(self.status(), self.handle())),
            (1, lambda: hci.PinCodeRequest(a())),
            (1, lambda: hci.KeypressNotification(a(), self.octet())),
        ]
        weights = [weight for weight, _make in makers]
        return r.choices([make for _weight, make in makers], weights)[0]()

    def mode(self) -> int:
        return self.pick([0x00, 0x01, 0x02, 0x02], self.octet)

    def size(self) -> int:
        return self.pick([7, 16, 16], self.octet)


@pytest.mark.parametrize("seed", range(1000))
def test_any_event_sequence_keeps_the_tables_and_answers_every_request(seed: int) -> None:
    script = Script(seed)
    rng = script.rng
    bond = rng.choice([None, *SSP_KEY_TYPES, LinkKeyType.DEBUG_COMBINATION])
    bonds = () if bond is None else (stored_bond(bond),)
    h = Harness(bonds=bonds, pairable=rng.random() < 0.5, oob=rng.random() < 0.3)
    h.refuse = {rng.choice(COMMANDS)} if rng.random() < 0.2 else set()
    h.hold = {rng.choice(COMMANDS)} if rng.random() < 0.3 else set()
    asked: list[tuple[str, int]] = []
    for step in range(40):
        roll = rng.random()
        if roll < 0.75:
            h.event(script.event())  # a table refusing a move would raise here
        elif roll < 0.8:
            asked.append(("app", step))
            h.message(PairReq(step, PEER))
        elif roll < 0.85:
            asked.append(("l2cap", step))
            requirement = SecurityRequirement(mitm=rng.random() < 0.5)
            h.message(LinkSecurityReq(step, HANDLE, requirement), "l2cap")
        elif roll < 0.9:
            h.message(UserConfirmRsp(rng.randrange(1, 8), rng.random() < 0.8))
        elif roll < 0.93:
            h.message(OobDataRsp(rng.randrange(1, 8), None))
        elif roll < 0.97:
            h.release()
        else:
            h.advance(rng.choice([1.0, 31.0, 91.0]))
        assert len(h.core.links) <= 1
    h.apply(h.core.on_link_down(HANDLE, 0x13, h.now))
    # Nothing is left of the link, and every request was answered exactly once.
    assert (len(h.core.links), len(h.core.prompts), h.timers) == (0, 0, {})
    answered = sorted(
        [("app", m.token) for m in h.to_app(PairCnf)]
        + [(to, m.token) for to, m in h.others if isinstance(m, LinkSecurityCnf)]
    )
    assert answered == sorted(asked)


def test_a_keypress_of_the_peer_reaches_the_user() -> None:
    h = Harness()
    h.event(hci.KeypressNotification(PEER, 1))
    assert h.to_app(KeypressInd) == [KeypressInd(PEER, KeypressType.DIGIT_ENTERED)]
    h.event(hci.KeypressNotification(PEER, 9))  # reserved (Vol 4 Part E 7.7.49)
    h.event(hci.KeypressNotification(unlinked(0x77), 0))  # no link
    assert len(h.to_app(KeypressInd)) == 1
