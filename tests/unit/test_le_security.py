"""BTM's side of LE security, driven synchronously, with the test standing in for SMP.

The security core serves SMP (Core 5.4 Vol 3 Part H) with LE encryption (Vol 4 Part E
7.8.24, 7.8.25, 7.7.8, 7.7.39, 7.7.65.5), checks and stores its bonds, puts its prompts to
the user, and routes the requesters of LE links to it.
"""

from __future__ import annotations

from typing import Any

import pytest

from bluetrio.actors.btm.commands import CommandIssuer
from bluetrio.actors.btm.config import SecurityConfig
from bluetrio.actors.btm.le_security import LE_ENCRYPTION_TIMEOUT, SMP_BOUND
from bluetrio.actors.btm.security import SecurityCore
from bluetrio.actors.effects import (
    CancelTimer,
    Emit,
    ReleaseTimers,
    Send,
    StartTimer,
    TimerExpired,
)
from bluetrio.address import Address, AddressType
from bluetrio.bonds import Bond, BondStrength, KeyDistribution, LongTermKey, Transport
from bluetrio.crypto import reverse
from bluetrio.messages import hci
from bluetrio.messages.btm import AclLink, LinkTransport, Role
from bluetrio.messages.btm_security import (
    INDICATIONS,
    AssociationModel,
    BondRefusedInd,
    IoCapability,
    LeEncryptCnf,
    LeEncryptionChangedInd,
    LeEncryptReq,
    LeResponderKeyReq,
    LinkSecuredInd,
    LinkSecurityCnf,
    LinkSecurityReq,
    OobDataInd,
    OobDataRsp,
    PairCnf,
    PairingFailedInd,
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
)
from bluetrio.messages.hci_service import HciCommandCnf, HciCommandReq
from bluetrio.messages.smp import KeypressType
from bluetrio.messages.smp_service import (
    PAIRING_FAILED_STATUS,
    PEER_STARTED_TOKEN,
    KeypressInd,
    LeSecurityRequirement,
    SmpBondInd,
    SmpBondRsp,
    SmpKeypressInd,
    SmpPairCnf,
    SmpPairingInd,
    SmpPairReq,
    SmpPromptKind,
    SmpPromptReq,
    SmpPromptRsp,
)

LOCAL = Address.parse("C0:00:00:00:00:01", AddressType.RANDOM)
PEER = Address.parse("C0:00:00:00:00:02", AddressType.RANDOM)
OTHER = Address.parse("C0:00:00:00:00:03", AddressType.RANDOM)
HANDLE = 0x0040
LTK = LongTermKey(bytes(range(16)), ediv=0x1234, rand=bytes(range(8)))
SC_LTK = LongTermKey(bytes(range(16, 32)))
IRK = bytes(range(32, 48))


def le_bond(
    peer: Address = PEER,
    *,
    authenticated: bool = False,
    secure_connections: bool = True,
    irk: bytes | None = IRK,
    key_size: int = 16,
) -> Bond:
    ltk = SC_LTK if secure_connections else LTK
    return Bond(
        LOCAL,
        peer,
        Transport.LE,
        peer_keys=KeyDistribution(ltk=ltk, irk=irk, identity_address=peer),
        local_keys=KeyDistribution(ltk=ltk),
        authenticated=authenticated,
        secure_connections=secure_connections,
        key_size=key_size,
    )


class Harness:
    """A security core serving a stand-in SMP on one LE link; its commands all succeed."""

    def __init__(
        self,
        *,
        role: Role = Role.CENTRAL,
        bonds: tuple[Bond, ...] = (),
        smp: bool = True,
        peer: Address = PEER,
        **config: Any,
    ) -> None:
        self.identities: list[tuple[Address, bytes | None]] = []
        self.core = SecurityCore(
            commands=CommandIssuer(),
            config=SecurityConfig(**config),
            smp=smp,
            remember_identity=lambda address, irk, link: self.identities.append((address, irk)),
        )
        self.now = 0.0
        self.commands: list[Any] = []
        self.emitted: list[Any] = []  # to the app and to SMP, as the topology routes them
        self.sent: list[tuple[str, Any]] = []
        self.timers: dict[Any, float] = {}
        self.refuse: set[type] = set()
        self.message(SecurityServiceReq(LOCAL, bonds, IoCapability.DISPLAY_YES_NO))
        link = AclLink(HANDLE, LinkTransport.LE, peer, role)
        self.apply(self.core.on_link_up(link, 0))

    def apply(self, effects: list[Any]) -> None:
        for effect in effects:
            if isinstance(effect, Emit) and isinstance(effect.message, HciCommandReq):
                command = effect.message.command
                self.commands.append(command)
                status = 0x0C if type(command) in self.refuse else 0x00
                event = hci.CommandStatus(status, 1, command.OPCODE)
                confirmation = HciCommandCnf(effect.message.token, command.OPCODE, event)
                self.apply(self.core.commands.on_confirmation(confirmation, self.now))
            elif isinstance(effect, Emit):
                assert type(effect.message) in (*INDICATIONS, *self.core.emitted_types)
                self.emitted.append(effect.message)
            elif isinstance(effect, Send):
                self.sent.append((effect.to, effect.message))
            elif isinstance(effect, StartTimer):
                self.timers[effect.key] = effect.deadline
            elif isinstance(effect, CancelTimer):
                self.timers.pop(effect.key, None)
            elif isinstance(effect, ReleaseTimers):
                self.timers = {k: v for k, v in self.timers.items() if k.owner != effect.owner}
            else:
                raise AssertionError(f"unexpected effect {effect!r}")

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

    def commands_of(self, kind: type) -> list[Any]:
        return [c for c in self.commands if isinstance(c, kind)]

    def of(self, kind: type) -> list[Any]:
        return [m for m in self.emitted if isinstance(m, kind)]

    def sent_to(self, to: str, kind: type) -> list[Any]:
        return [m for t, m in self.sent if t == to and isinstance(m, kind)]

    def smp_request(self) -> SmpPairReq:
        (request,) = self.of(SmpPairReq)
        assert isinstance(request, SmpPairReq)
        return request


# -- requesters of an LE link go to SMP ----------------------------------------------------------


def test_pair_request_on_an_le_link_goes_to_smp_with_the_bond_held() -> None:
    bond = le_bond()
    h = Harness(bonds=(bond,))
    h.message(PairReq(5, PEER, HANDLE))
    request = h.smp_request()
    assert (request.handle, request.peer, request.role) == (HANDLE, PEER, Role.CENTRAL)
    assert request.bond == bond
    assert request.requirement.min_key_size == 16  # the policy's minimum
    # The link encrypts (as SMP had btm do), then SMP answers: the requester hears.
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))
    h.message(SmpPairCnf(request.token, HANDLE, 0, None, bond, True, 16), sender="smp")
    (cnf,) = h.sent_to("app", PairCnf)
    assert cnf.status == 0 and cnf.used_stored_key and cnf.bond == bond
    assert cnf.key_type is None and cnf.key_size == 16 and cnf.handle == HANDLE
    (secured,) = h.of(LinkSecuredInd)
    assert secured.strength == bond.strength() and secured.key_type is None
    assert not h.timers  # the deadline went with the answer


def test_pair_request_without_a_handle_finds_the_le_link_of_the_address() -> None:
    h = Harness()
    h.message(PairReq(5, PEER))
    assert h.smp_request().handle == HANDLE


def test_a_new_pairing_answers_with_its_model_and_keys() -> None:
    h = Harness()
    h.message(PairReq(5, PEER, HANDLE))
    request = h.smp_request()
    bond = le_bond(authenticated=True)
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))
    h.message(
        SmpPairCnf(request.token, HANDLE, 0, AssociationModel.PASSKEY_ENTRY, bond, False, 16),
        sender="smp",
    )
    (cnf,) = h.sent_to("app", PairCnf)
    assert cnf.model is AssociationModel.PASSKEY_ENTRY and not cnf.used_stored_key


def test_requests_while_smp_works_are_answered_by_its_one_answer() -> None:
    h = Harness()
    h.message(PairReq(5, PEER, HANDLE))
    h.message(LinkSecurityReq(6, HANDLE, SecurityRequirement()), sender="l2cap")
    request = h.smp_request()  # one SmpPairReq only
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))
    h.message(
        SmpPairCnf(request.token, HANDLE, 0, AssociationModel.JUST_WORKS, le_bond(), False, 16)
    )
    assert h.sent_to("app", PairCnf)[0].status == 0
    strength = BondStrength(False, True, 16)
    assert h.sent_to("l2cap", LinkSecurityCnf) == [
        LinkSecurityCnf(6, HANDLE, 0, None, 16, strength=strength)
    ]


def test_a_link_secured_already_answers_at_once() -> None:
    h = Harness()
    h.message(PairReq(5, PEER, HANDLE))
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))
    h.message(SmpPairCnf(h.smp_request().token, HANDLE, 0, None, le_bond(), True, 16))
    h.message(LinkSecurityReq(6, HANDLE, SecurityRequirement(secure_connections=True, mitm=False)))
    assert len(h.of(SmpPairReq)) == 1
    assert h.sent_to("app", LinkSecurityCnf)[0].status == 0


def test_a_link_short_of_the_requirement_asks_smp_again_and_says_what_lacks() -> None:
    h = Harness()
    h.message(PairReq(5, PEER, HANDLE))
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))
    h.message(SmpPairCnf(h.smp_request().token, HANDLE, 0, None, le_bond(), True, 16))
    h.message(LinkSecurityReq(6, HANDLE, SecurityRequirement(mitm=True)), sender="l2cap")
    second = h.of(SmpPairReq)[1]
    assert second.requirement.mitm
    # SMP could only offer the unauthenticated key again.
    h.message(
        SmpPairCnf(second.token, HANDLE, 0, AssociationModel.JUST_WORKS, le_bond(), False, 16)
    )
    (cnf,) = h.sent_to("l2cap", LinkSecurityCnf)
    assert cnf.status == 0x2F and "not authenticated" in (cnf.error or "")


def test_a_failed_pairing_answers_with_its_status_and_tells_the_user() -> None:
    h = Harness()
    h.message(PairReq(5, PEER, HANDLE))
    request = h.smp_request()
    h.message(
        SmpPairCnf(
            request.token,
            HANDLE,
            PAIRING_FAILED_STATUS,
            AssociationModel.NUMERIC_COMPARISON,
            error="numeric comparison failed",
            smp_reason=0x0C,
        )
    )
    (cnf,) = h.sent_to("app", PairCnf)
    assert cnf.status == PAIRING_FAILED_STATUS and cnf.error == "numeric comparison failed"
    assert cnf.bond is None
    (failed,) = h.of(PairingFailedInd)
    assert failed.peer == PEER


def test_a_stale_smp_answer_is_ignored() -> None:
    h = Harness()
    h.message(SmpPairCnf(77, HANDLE, 0, None, le_bond(), True, 16))
    h.message(SmpPairCnf(77, 0x0999, 0, None, le_bond(), True, 16))
    assert h.sent == [] and h.of(LinkSecuredInd) == []


def test_smp_that_never_answers_fails_the_requesters_and_drops_the_link() -> None:
    h = Harness()
    h.message(PairReq(5, PEER, HANDLE))
    h.advance(89)
    assert h.sent_to("app", PairCnf) == []
    h.advance(1)
    (cnf,) = h.sent_to("app", PairCnf)
    assert cnf.status == 0x05 and "SMP did not answer" in (cnf.error or "")
    assert h.commands_of(hci.Disconnect)


def test_link_loss_answers_the_requesters_with_the_reason() -> None:
    h = Harness()
    h.message(PairReq(5, PEER, HANDLE))
    h.apply(h.core.on_link_down(HANDLE, 0x08, h.now))
    (cnf,) = h.sent_to("app", PairCnf)
    assert cnf.status == 0x08
    assert h.of(PairingFailedInd)
    assert not h.timers and len(h.core.le) == 0


def test_without_smp_an_le_request_is_refused_at_once() -> None:
    h = Harness(smp=False)
    h.message(LinkSecurityReq(6, HANDLE, SecurityRequirement()), sender="l2cap")
    (cnf,) = h.sent_to("l2cap", LinkSecurityCnf)
    assert cnf.status == 0x2F and "SMP" in (cnf.error or "")
    assert not any(type(m) in SMP_BOUND for m in h.emitted)
    assert not any(kind in h.core.emitted_types for kind in SMP_BOUND)


def test_a_requirement_of_no_security_is_met_without_smp() -> None:
    h = Harness()
    none = SecurityRequirement(authentication=False, encryption=False)
    h.message(LinkSecurityReq(6, HANDLE, none), sender="l2cap")
    assert h.sent_to("l2cap", LinkSecurityCnf)[0].status == 0 and h.of(SmpPairReq) == []


def test_a_security_request_makes_the_central_ask_smp_with_the_bond() -> None:
    bond = le_bond()
    h = Harness(bonds=(bond,))
    h.message(SmpPairingInd(HANDLE, PEER, LeSecurityRequirement(mitm=True), True), sender="smp")
    request = h.smp_request()
    assert request.bond == bond and request.requirement.mitm and request.role is Role.CENTRAL


def test_a_pairing_the_peer_started_reports_its_keys_with_the_peer_token() -> None:
    h = Harness(role=Role.PERIPHERAL)
    h.message(SmpPairingInd(HANDLE, PEER, LeSecurityRequirement()), sender="smp")
    assert h.of(SmpPairReq) == []
    h.message(LeResponderKeyReq(HANDLE, SC_LTK), sender="smp")
    h.event(hci.LeLongTermKeyRequest(HANDLE, bytes(8), 0))
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))
    bond = le_bond(authenticated=True)
    h.message(SmpPairCnf(PEER_STARTED_TOKEN, HANDLE, 0, AssociationModel.NUMERIC_COMPARISON, bond))
    (secured,) = h.of(LinkSecuredInd)
    assert secured.strength == bond.strength()
    # Secured to that strength: a request it meets is answered without SMP.
    h.message(LinkSecurityReq(6, HANDLE, SecurityRequirement(mitm=True)), sender="l2cap")
    assert h.sent_to("l2cap", LinkSecurityCnf)[0].status == 0


def test_a_pairing_the_peer_started_that_fails_tells_the_user() -> None:
    h = Harness(role=Role.PERIPHERAL)
    h.message(SmpPairingInd(HANDLE, PEER, LeSecurityRequirement()), sender="smp")
    h.message(SmpPairCnf(PEER_STARTED_TOKEN, HANDLE, 0x05, error="confirm mismatch", smp_reason=4))
    (failed,) = h.of(PairingFailedInd)
    assert failed.reason == "confirm mismatch"


# -- encryption for SMP ------------------------------------------------------------------------


def test_central_encryption_enables_with_the_key_and_answers_on_encryption_change() -> None:
    h = Harness()
    h.message(LeEncryptReq(9, HANDLE, LTK), sender="smp")
    (command,) = h.commands_of(hci.LeEnableEncryption)
    assert command.long_term_key == reverse(LTK.value)
    assert command.random_number == reverse(LTK.rand)
    assert command.encrypted_diversifier == LTK.ediv
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))
    assert h.sent_to("smp", LeEncryptCnf) == [LeEncryptCnf(9, HANDLE, 0, 16)]
    assert h.of(LeEncryptionChangedInd) == [LeEncryptionChangedInd(HANDLE, 0, True, 16)]
    assert not h.timers


def test_a_key_refresh_answers_a_reencryption() -> None:
    h = Harness()
    h.message(LeEncryptReq(9, HANDLE, LTK), sender="smp")
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))
    h.message(LeEncryptReq(10, HANDLE, SC_LTK), sender="smp")
    h.event(hci.EncryptionKeyRefreshComplete(0, HANDLE))
    assert h.sent_to("smp", LeEncryptCnf)[1] == LeEncryptCnf(10, HANDLE, 0, 16)


def test_a_failed_encryption_answers_with_the_status() -> None:
    h = Harness()
    h.message(LeEncryptReq(9, HANDLE, LTK), sender="smp")
    h.event(hci.EncryptionChange(0x06, HANDLE, 0x00))  # PIN or Key Missing
    (cnf,) = h.sent_to("smp", LeEncryptCnf)
    assert cnf.status == 0x06 and cnf.key_size is None
    assert h.of(LeEncryptionChangedInd) == [LeEncryptionChangedInd(HANDLE, 0x06, False, None)]


def test_a_refused_command_answers_with_its_status() -> None:
    h = Harness()
    h.refuse.add(hci.LeEnableEncryption)
    h.message(LeEncryptReq(9, HANDLE, LTK), sender="smp")
    (cnf,) = h.sent_to("smp", LeEncryptCnf)
    assert cnf.status == 0x0C and not h.timers


def test_encryption_without_an_answer_ends_at_the_deadline() -> None:
    h = Harness()
    h.message(LeEncryptReq(9, HANDLE, LTK), sender="smp")
    h.advance(LE_ENCRYPTION_TIMEOUT - 1)
    assert h.sent_to("smp", LeEncryptCnf) == []
    h.advance(1)
    (cnf,) = h.sent_to("smp", LeEncryptCnf)
    assert cnf.status == 0x22
    # And the link may be encrypted again afterwards.
    h.message(LeEncryptReq(10, HANDLE, LTK), sender="smp")
    assert len(h.commands_of(hci.LeEnableEncryption)) == 2


def test_encryption_ends_with_the_link() -> None:
    h = Harness()
    h.message(LeEncryptReq(9, HANDLE, LTK), sender="smp")
    h.apply(h.core.on_link_down(HANDLE, 0x13, h.now))
    (cnf,) = h.sent_to("smp", LeEncryptCnf)
    assert cnf.status == 0x13 and not h.timers


@pytest.mark.parametrize(
    ("role", "handle", "status"),
    [(Role.PERIPHERAL, HANDLE, 0x0C), (Role.CENTRAL, 0x0999, 0x02)],
)
def test_encryption_is_refused_where_the_central_cannot_start_it(
    role: Role, handle: int, status: int
) -> None:
    h = Harness(role=role)
    h.message(LeEncryptReq(9, handle, LTK), sender="smp")
    (cnf,) = h.sent_to("smp", LeEncryptCnf)
    assert cnf.status == status and h.commands_of(hci.LeEnableEncryption) == []


def test_a_second_encryption_while_one_runs_is_refused() -> None:
    h = Harness()
    h.message(LeEncryptReq(9, HANDLE, LTK), sender="smp")
    h.message(LeEncryptReq(10, HANDLE, LTK), sender="smp")
    assert h.sent_to("smp", LeEncryptCnf) == [
        LeEncryptCnf(10, HANDLE, 0x0C, None, "an encryption procedure runs on the link already")
    ]


def test_the_peripheral_answers_with_the_key_smp_provided_once() -> None:
    h = Harness(role=Role.PERIPHERAL)
    stk = LongTermKey(bytes(range(1, 17)), key_size=7)
    h.message(LeResponderKeyReq(HANDLE, stk), sender="smp")
    h.event(hci.LeLongTermKeyRequest(HANDLE, bytes(8), 0))
    (reply,) = h.commands_of(hci.LeLongTermKeyRequestReply)
    assert reply.long_term_key == reverse(stk.value)
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))
    assert h.of(LeEncryptionChangedInd) == [LeEncryptionChangedInd(HANDLE, 0, True, 7)]
    # Used once: the STK never encrypts the link again (no stale STK).
    h.event(hci.LeLongTermKeyRequest(HANDLE, bytes(8), 0))
    assert h.commands_of(hci.LeLongTermKeyRequestNegativeReply)


def test_a_withdrawn_key_is_not_used() -> None:
    h = Harness(role=Role.PERIPHERAL)
    h.message(LeResponderKeyReq(HANDLE, SC_LTK), sender="smp")
    h.message(LeResponderKeyReq(HANDLE, None), sender="smp")
    h.event(hci.LeLongTermKeyRequest(HANDLE, bytes(8), 0))
    assert h.commands_of(hci.LeLongTermKeyRequestNegativeReply)


def test_the_peripheral_answers_from_the_bond_and_the_link_takes_its_strength() -> None:
    bond = le_bond(authenticated=True, secure_connections=False)
    h = Harness(role=Role.PERIPHERAL, bonds=(bond,))
    h.event(hci.LeLongTermKeyRequest(HANDLE, reverse(LTK.rand), LTK.ediv))
    (reply,) = h.commands_of(hci.LeLongTermKeyRequestReply)
    assert reply.long_term_key == reverse(LTK.value)
    h.event(hci.EncryptionChange(0, HANDLE, 0x01))
    (secured,) = h.of(LinkSecuredInd)
    assert secured.used_stored_key and secured.strength == bond.strength()


def test_a_key_provided_for_another_role_is_ignored() -> None:
    h = Harness(role=Role.CENTRAL)
    h.message(LeResponderKeyReq(HANDLE, SC_LTK), sender="smp")
    h.event(hci.LeLongTermKeyRequest(HANDLE, bytes(8), 0))
    assert h.commands_of(hci.LeLongTermKeyRequestNegativeReply)


def test_a_peer_encryption_change_goes_to_smp() -> None:
    h = Harness(role=Role.PERIPHERAL)
    h.event(hci.EncryptionChangeV2(0, HANDLE, 0x01, 12))
    assert h.of(LeEncryptionChangedInd) == [LeEncryptionChangedInd(HANDLE, 0, True, 12)]
    h.event(hci.EncryptionChange(0, HANDLE, 0x00))
    assert h.of(LeEncryptionChangedInd)[-1] == LeEncryptionChangedInd(HANDLE, 0, False, None)


# -- bonds -----------------------------------------------------------------------------------


def test_a_bond_is_kept_stored_and_its_irk_resolves_the_peer() -> None:
    h = Harness()
    bond = le_bond()
    h.message(SmpBondInd(HANDLE, bond, PEER), sender="smp")
    assert h.of(StoreBondReq) == [StoreBondReq(bond)]
    assert h.of(SmpBondRsp) == [SmpBondRsp(HANDLE, PEER, True)]
    assert h.identities == [(PEER, IRK)]
    assert h.core.keys.le_bond(PEER) == bond


def test_a_weaker_bond_never_replaces_a_stronger_one() -> None:
    stored = le_bond(authenticated=True)
    h = Harness(bonds=(stored,))
    h.message(SmpBondInd(HANDLE, le_bond(authenticated=False), PEER), sender="smp")
    (refused,) = h.of(SmpBondRsp)
    assert not refused.accepted and "weaker" in (refused.reason or "")
    assert h.of(BondRefusedInd) and h.of(StoreBondReq) == []
    assert h.core.keys.le_bond(PEER) == stored


def test_an_identity_address_of_another_bonded_device_is_refused() -> None:
    """CVE-2021-3436: a device on link address OTHER claims the identity of bonded PEER."""
    stored = le_bond(PEER)
    h = Harness(bonds=(stored,), peer=OTHER)
    h.message(SmpBondInd(HANDLE, le_bond(PEER, authenticated=True, irk=None), OTHER), sender="smp")
    (refused,) = h.of(SmpBondRsp)
    assert not refused.accepted and "another bonded device" in (refused.reason or "")
    assert h.core.keys.le_bond(PEER) == stored and h.of(StoreBondReq) == []
    assert h.identities == []


def test_an_irk_of_another_bonded_device_is_refused() -> None:
    """BLURtooth (CVE-2020-15802): a new identity with a bonded device's IRK."""
    h = Harness(bonds=(le_bond(PEER),), peer=OTHER)
    h.message(SmpBondInd(HANDLE, le_bond(OTHER), OTHER), sender="smp")
    (refused,) = h.of(SmpBondRsp)
    assert not refused.accepted and "IRK" in (refused.reason or "")
    assert h.core.keys.le_bond(OTHER) is None


def test_the_same_device_may_renew_its_bond() -> None:
    h = Harness(bonds=(le_bond(PEER),))
    renewed = le_bond(PEER, authenticated=True)
    h.message(SmpBondInd(HANDLE, renewed, PEER), sender="smp")
    assert h.of(SmpBondRsp)[0].accepted and h.core.keys.le_bond(PEER) == renewed


def test_a_bond_the_store_refuses_as_weaker_is_undone() -> None:
    stored = le_bond(PEER)
    h = Harness(bonds=(stored,))
    h.message(SmpBondInd(HANDLE, le_bond(PEER, authenticated=True), PEER), sender="smp")
    h.message(StoreBondRsp(PEER, False, "weaker", weaker=True, transport=Transport.LE))
    assert h.core.keys.le_bond(PEER) == stored
    assert h.of(BondRefusedInd)


def test_a_bond_whose_link_went_down_after_the_last_key_is_kept() -> None:
    """The peer disconnected as soon as it sent its last key: btm saw the link go down
    before SMP's bond reached it. The pairing completed and the peer keeps its keys, so
    ours are kept too (they were refused as "the link it was made on is gone", and the
    peer's next encryption then failed for want of our LTK)."""
    h = Harness()
    h.apply(h.core.on_link_down(HANDLE, 0x13, h.now))
    bond = le_bond(PEER)
    h.message(SmpBondInd(HANDLE, bond, PEER), sender="smp")
    assert h.of(SmpBondRsp) == [SmpBondRsp(HANDLE, PEER, True)]
    assert h.of(StoreBondReq) == [StoreBondReq(bond)]
    assert h.core.keys.le_bond(PEER) == bond


def test_a_bond_after_its_link_went_down_is_still_checked_against_other_bonds() -> None:
    stored = le_bond(PEER)
    h = Harness(bonds=(stored,), peer=OTHER)
    h.apply(h.core.on_link_down(HANDLE, 0x13, h.now))
    claim = le_bond(PEER, authenticated=True, irk=None)
    h.message(SmpBondInd(HANDLE, claim, OTHER), sender="smp")
    (refused,) = h.of(SmpBondRsp)
    assert not refused.accepted and "another bonded device" in (refused.reason or "")
    assert h.core.keys.le_bond(PEER) == stored


# -- prompts ---------------------------------------------------------------------------------


def test_numeric_comparison_asks_the_user_with_the_model() -> None:
    h = Harness()
    model = AssociationModel.NUMERIC_COMPARISON
    h.message(SmpPromptReq(HANDLE, PEER, SmpPromptKind.CONFIRM_NUMBER, model, 123456))
    (prompt,) = h.of(UserConfirmInd)
    assert prompt.number == 123456 and prompt.model is model
    h.message(UserConfirmRsp(prompt.prompt_id, True))
    assert h.of(SmpPromptRsp) == [SmpPromptRsp(HANDLE, True)]
    assert not h.timers


def test_just_works_asks_without_a_number() -> None:
    h = Harness()
    h.message(SmpPromptReq(HANDLE, PEER, SmpPromptKind.ACCEPT, AssociationModel.JUST_WORKS, 999))
    (prompt,) = h.of(UserConfirmInd)
    assert prompt.number is None and prompt.model is AssociationModel.JUST_WORKS
    h.message(UserConfirmRsp(prompt.prompt_id, False))
    assert h.of(SmpPromptRsp) == [SmpPromptRsp(HANDLE, False)]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [(123, SmpPromptRsp(HANDLE, True, 123)), (None, SmpPromptRsp(HANDLE, False)),
     (1_000_000, SmpPromptRsp(HANDLE, False))],
)  # fmt: skip
def test_passkey_entry_asks_for_the_passkey(typed: int | None, expected: SmpPromptRsp) -> None:
    h = Harness()
    model = AssociationModel.PASSKEY_ENTRY
    h.message(SmpPromptReq(HANDLE, PEER, SmpPromptKind.ENTER_PASSKEY, model))
    (prompt,) = h.of(PasskeyEntryInd)
    assert prompt.model is model
    h.message(PasskeyEntryRsp(prompt.prompt_id, typed))
    assert h.of(SmpPromptRsp) == [expected]


def test_a_passkey_to_show_is_shown_without_a_question() -> None:
    h = Harness()
    model = AssociationModel.PASSKEY_ENTRY
    h.message(SmpPromptReq(HANDLE, PEER, SmpPromptKind.DISPLAY_PASSKEY, model, 42))
    assert h.of(PasskeyDisplayInd) == [PasskeyDisplayInd(PEER, 42, model)]
    assert not h.timers


def test_oob_data_goes_back_to_smp() -> None:
    h = Harness()
    h.message(SmpPromptReq(HANDLE, PEER, SmpPromptKind.OOB, AssociationModel.OUT_OF_BAND))
    (prompt,) = h.of(OobDataInd)
    data = PeerOobData(c_256=bytes(16), r_256=bytes(range(16)))
    h.message(OobDataRsp(prompt.prompt_id, data))
    assert h.of(SmpPromptRsp) == [SmpPromptRsp(HANDLE, True, oob=data)]


def test_an_unanswered_prompt_is_declined_at_its_deadline() -> None:
    h = Harness()
    model = AssociationModel.NUMERIC_COMPARISON
    h.message(SmpPromptReq(HANDLE, PEER, SmpPromptKind.CONFIRM_NUMBER, model, 1))
    (prompt,) = h.of(UserConfirmInd)
    h.advance(30)
    assert h.of(SmpPromptRsp) == [SmpPromptRsp(HANDLE, False)]
    assert h.of(PromptCancelledInd)
    h.message(UserConfirmRsp(prompt.prompt_id, True))  # too late: nothing more
    assert len(h.of(SmpPromptRsp)) == 1


def test_prompts_of_a_link_go_with_it() -> None:
    h = Harness()
    h.message(
        SmpPromptReq(HANDLE, PEER, SmpPromptKind.ENTER_PASSKEY, AssociationModel.PASSKEY_ENTRY)
    )
    h.apply(h.core.on_link_down(HANDLE, 0x13, h.now))
    assert h.of(PromptCancelledInd) and len(h.core.prompts) == 0 and not h.timers
    assert h.of(SmpPromptRsp) == []


def test_messages_for_links_that_do_not_exist_create_no_state() -> None:
    h = Harness()
    for handle in range(0x100, 0x200):
        h.message(SmpPromptReq(handle, PEER, SmpPromptKind.ACCEPT, AssociationModel.JUST_WORKS))
        h.message(SmpPairingInd(handle, PEER, LeSecurityRequirement(), True))
        h.message(LeResponderKeyReq(handle, SC_LTK))
        h.event(hci.LeLongTermKeyRequest(handle, bytes(8), 0))
        h.event(hci.EncryptionChange(0, handle, 1))
    assert len(h.core.le) == 1 and len(h.core.prompts) == 0 and not h.timers


def test_a_keypress_of_the_peer_reaches_the_user() -> None:
    h = Harness()
    h.message(SmpKeypressInd(HANDLE, PEER, KeypressType.DIGIT_ERASED), sender="smp")
    h.message(SmpKeypressInd(0x0999, PEER, KeypressType.CLEARED), sender="smp")
    assert h.of(KeypressInd) == [KeypressInd(PEER, KeypressType.DIGIT_ERASED)]
