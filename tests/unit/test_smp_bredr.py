"""SMP over BR/EDR (Core 5.4 Vol 3 Part H 3.2, 2.4.2.5, 3.5.1-3.5.2, 3.6.1) driven
synchronously: two SMP cores joined by a BR/EDR link in memory, btm's indications and
L2CAP's Information Response played by the test."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrio import crypto
from bluetrio.actors.effects import (
    CancelTimer,
    Effects,
    Emit,
    ReleaseTimers,
    StartTimer,
    TimerExpired,
)
from bluetrio.actors.smp.bredr import (
    SECURITY_WAIT,
    BrEdrPairingContext,
    bredr_view,
    security_wait_key,
)
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.core import SmpCore
from bluetrio.actors.smp.pairing import timeout_key
from bluetrio.actors.smp.states import (
    BREDR_ALLOWED,
    BREDR_CODES,
    BREDR_TRANSITIONS,
    BrEdrPhase,
    BrEdrPhaseEvent,
)
from bluetrio.actors.state_machine import transition
from bluetrio.address import Address, AddressType
from bluetrio.bonds import Bond, LinkKey, LinkKeyType, Transport
from bluetrio.errors import StateTransitionError
from bluetrio.messages.base import Message
from bluetrio.messages.btm import AclLink, ControllerReadyInd, LinkDownInd, LinkUpInd, Role
from bluetrio.messages.btm_security import IoCapability
from bluetrio.messages.controller_info import ControllerInfo
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap import FixedCid, InformationType
from bluetrio.messages.l2cap_service import (
    L2caFixedDataInd,
    L2caFixedDataReq,
    L2caInfoCnf,
    L2caInfoReq,
    L2caRegisterFixedChannelReq,
)
from bluetrio.messages.smp import (
    AuthReq,
    IdentityAddressInformation,
    IdentityInformation,
    KeyDistributionFlags,
    OobDataFlag,
    PairingFailed,
    PairingRequest,
    SmpCode,
    decode_pdu,
)
from bluetrio.messages.smp import PairingFailedReason as Reason
from bluetrio.messages.smp_service import SmpBondInd, SmpBrEdrSecurityInd

HANDLE = 0x0041
CENTRAL = Address.parse("00:11:22:33:44:01")
PERIPHERAL = Address.parse("00:11:22:33:44:02")
LINK_KEY = LinkKey(bytes(range(16)), LinkKeyType.AUTHENTICATED_P256)
FIXED_WITH_SMP = (1 << 1) | (1 << FixedCid.SMP_BR_EDR)
DERIVING = SmpConfig(derive_le_keys=True)

# Page 2 of the LMP features with Secure Connections (Controller Support), bit 8.
SC_FEATURES = (1 << 63, 0, 1 << 8)


def ready(address: Address, features: tuple[int, ...] = SC_FEATURES) -> ControllerReadyInd:
    info = ControllerInfo(
        address, 0x0D, 0, 0x0D, 0, 0xFFFF, bytes(64), features, 0, 1021, 8, 251, 8, None
    )
    return ControllerReadyInd(info)


def secured(
    link_key: LinkKey | None = LINK_KEY, key_size: int = 16, *, paired: bool = True
) -> SmpBrEdrSecurityInd:
    return SmpBrEdrSecurityInd(HANDLE, PERIPHERAL, link_key, key_size, True, paired)


@attrs.define
class BrEdrPair:
    """Two cores on one BR/EDR link: ``a`` the central, ``b`` the peripheral."""

    a_config: SmpConfig = DERIVING
    b_config: SmpConfig = DERIVING
    a: SmpCore = attrs.field(init=False)
    b: SmpCore = attrs.field(init=False)
    emitted: dict[str, list[Message]] = attrs.Factory(lambda: {"a": [], "b": []})
    timers: dict[str, set[object]] = attrs.Factory(lambda: {"a": set(), "b": set()})
    wire: dict[str, list[bytes]] = attrs.Factory(lambda: {"a": [], "b": []})
    peer_mask: int | None = FIXED_WITH_SMP
    tamper: dict[str, Callable[[bytes], bytes | None]] = attrs.Factory(dict)
    queue: list[tuple[str, Message]] = attrs.Factory(list)
    delivering: bool = False

    def __attrs_post_init__(self) -> None:
        self.a, self.b = SmpCore(self.a_config), SmpCore(self.b_config)
        self.deliver("a", ready(CENTRAL))
        self.deliver("b", ready(PERIPHERAL))
        link = AclLink(HANDLE, LinkTransport.BR_EDR, PERIPHERAL, Role.CENTRAL)
        self.deliver("a", LinkUpInd(link))
        link = AclLink(HANDLE, LinkTransport.BR_EDR, CENTRAL, Role.PERIPHERAL)
        self.deliver("b", LinkUpInd(link))

    def core(self, side: str) -> SmpCore:
        return self.a if side == "a" else self.b

    def context(self, side: str) -> BrEdrPairingContext:
        return self.core(side).bredr_links[HANDLE]

    def deliver(self, side: str, message: Message) -> None:
        """Hand ``message`` to ``side``, then whatever that makes the cores send, in order."""
        self.queue.append((side, message))
        if self.delivering:
            return
        self.delivering = True
        try:
            while self.queue:
                to, queued = self.queue.pop(0)
                self.apply(to, self.core(to).handle("btm", queued, 0.0))
        finally:
            self.delivering = False

    def apply(self, side: str, effects: Effects) -> None:
        other = "b" if side == "a" else "a"
        for effect in effects:
            match effect:
                case Emit(message=L2caFixedDataReq(cid=FixedCid.SMP_BR_EDR) as request):
                    self.wire[side].append(request.payload)
                    self.emitted[side].append(request)
                    payload = self.tamper.get(side, _unchanged)(request.payload)
                    if payload is not None:
                        indication = L2caFixedDataInd(HANDLE, FixedCid.SMP_BR_EDR, payload)
                        self.deliver(other, indication)
                case Emit(message=L2caInfoReq() as request):
                    self.emitted[side].append(request)
                    data = b"" if self.peer_mask is None else self.peer_mask.to_bytes(8, "little")
                    result = 0 if self.peer_mask is not None else 1
                    self.deliver(side, L2caInfoCnf(request.token, HANDLE, result, data))
                case Emit(message=message):
                    self.emitted[side].append(message)
                case StartTimer(key=key):
                    self.timers[side].add(key)
                case CancelTimer(key=key):
                    self.timers[side].discard(key)
                case ReleaseTimers():
                    self.timers[side].clear()

    def secure(
        self, a: SmpBrEdrSecurityInd | None = None, b: SmpBrEdrSecurityInd | None = None
    ) -> None:
        """btm on each side says the link is secured (the peripheral first, as usually)."""
        a = a or secured()
        self.deliver("b", b or attrs.evolve(a, peer=CENTRAL))
        self.deliver("a", a)

    def bonds(self, side: str) -> list[Bond]:
        return [m.bond for m in self.emitted[side] if isinstance(m, SmpBondInd)]

    def failures(self, side: str) -> list[Reason]:
        pdus = [decode_pdu(p) for p in self.wire[side] if p[0] == SmpCode.PAIRING_FAILED]
        return [p.reason for p in pdus if isinstance(p, PairingFailed)]


def _unchanged(payload: bytes) -> bytes | None:
    return payload


def _without_ct2(payload: bytes) -> bytes | None:
    if payload[0] in (SmpCode.PAIRING_REQUEST, SmpCode.PAIRING_RESPONSE):
        return payload[:3] + b"\x00" + payload[4:]
    return payload


def request_pdu(key_size: int = 16, auth: int = 0x20, io: int = 0, oob: int = 0) -> bytes:
    return bytes((SmpCode.PAIRING_REQUEST, io, oob, auth, key_size, 0x07, 0x07))


# -- the tables -------------------------------------------------------------------------------


def test_every_transition_pair_is_in_the_table_or_refused() -> None:
    for phase in BrEdrPhase:
        for event in BrEdrPhaseEvent:
            if (phase, event) in BREDR_TRANSITIONS:
                assert (
                    transition(BREDR_TRANSITIONS, phase, event) is BREDR_TRANSITIONS[phase, event]
                )
            else:
                with pytest.raises(StateTransitionError):
                    transition(BREDR_TRANSITIONS, phase, event)


def test_allowed_sets_stay_within_the_codes_used_over_bredr() -> None:
    for role in Role:
        for phase in BrEdrPhase:
            assert BREDR_ALLOWED[role, phase] <= BREDR_CODES
    assert SmpCode.PAIRING_CONFIRM not in BREDR_CODES
    assert SmpCode.ENCRYPTION_INFORMATION not in BREDR_CODES
    assert SmpCode.SECURITY_REQUEST not in BREDR_CODES


# -- registration (Vol 3 Part A 4.12) ---------------------------------------------------------


def registrations(core: SmpCore, message: Message) -> list[int]:
    return [
        e.message.cid
        for e in core.handle("btm", message, 0.0)
        if isinstance(e, Emit) and isinstance(e.message, L2caRegisterFixedChannelReq)
    ]


def test_0x0007_is_registered_only_when_derivation_runs_and_the_controller_has_sc() -> None:
    assert registrations(SmpCore(DERIVING), ready(CENTRAL)) == [0x0006, 0x0007]
    assert registrations(SmpCore(SmpConfig()), ready(CENTRAL)) == [0x0006]
    assert registrations(SmpCore(DERIVING), ready(CENTRAL, (1 << 63, 0, 0))) == [0x0006]


def test_no_bredr_context_without_the_channel() -> None:
    core = SmpCore(SmpConfig())
    core.handle("btm", ready(CENTRAL), 0.0)
    link = AclLink(HANDLE, LinkTransport.BR_EDR, PERIPHERAL, Role.CENTRAL)
    core.handle("btm", LinkUpInd(link), 0.0)
    assert core.bredr_links == {}


# -- the procedure, both roles ----------------------------------------------------------------


@pytest.mark.parametrize("ct2", [True, False])
def test_both_roles_derive_the_same_ltk_and_exchange_identities(ct2: bool) -> None:
    pair = BrEdrPair()
    if not ct2:
        # As if both left CT2 clear (Zephyr sends AuthReq 0 over BR/EDR): h6 with "tmp2".
        pair.a_config = pair.b_config = DERIVING
        pair.tamper["a"] = pair.tamper["b"] = _without_ct2
    pair.secure()
    (a_bond,), (b_bond,) = pair.bonds("a"), pair.bonds("b")
    assert a_bond.transport is b_bond.transport is Transport.LE
    assert a_bond.derived_from is Transport.BR_EDR
    expected = crypto.ltk_from_link_key(LINK_KEY.value, ct2=ct2)
    assert a_bond.peer_keys.ltk is not None and a_bond.peer_keys.ltk.value == expected
    assert b_bond.peer_keys.ltk == a_bond.peer_keys.ltk == a_bond.local_keys.ltk
    assert a_bond.authenticated and a_bond.secure_connections and a_bond.key_size == 16
    assert a_bond.peer_address == PERIPHERAL and b_bond.peer_address == CENTRAL
    (a_indication,) = [m for m in pair.emitted["a"] if isinstance(m, SmpBondInd)]
    assert a_indication.link_peer == PERIPHERAL  # btm checks the identity against it
    assert a_bond.peer_keys.irk == DERIVING.identity_resolving_key
    assert pair.context("a").phase is pair.context("b").phase is BrEdrPhase.IDLE
    assert not pair.timers["a"] and not pair.timers["b"]


def test_the_pdus_carry_only_ct2_and_the_link_key_size() -> None:
    pair = BrEdrPair()
    pair.secure()
    request, response = pair.wire["a"][0], pair.wire["b"][0]
    assert request == bytes((0x01, 0x00, 0x00, 0x20, 16, 0x03, 0x03))
    assert response == bytes((0x02, 0x00, 0x00, 0x20, 16, 0x03, 0x03))
    # The responder's keys come first, then the initiator's (3.6.1); no LTK is sent.
    codes = [p[0] for p in pair.wire["b"][1:]] + [p[0] for p in pair.wire["a"][1:]]
    assert codes == [0x08, 0x09, 0x08, 0x09]


def test_signing_keys_when_configured() -> None:
    signing = attrs.evolve(DERIVING, distribute_signing_key=True)
    pair = BrEdrPair(a_config=signing, b_config=signing)
    pair.secure()
    codes = [p[0] for p in pair.wire["b"][1:]] + [p[0] for p in pair.wire["a"][1:]]
    assert codes == [0x08, 0x09, 0x0A, 0x08, 0x09, 0x0A]
    (bond,) = pair.bonds("a")
    assert bond.peer_keys.csrk is not None and bond.local_keys.csrk is not None


def test_the_central_asks_the_peers_fixed_channels_once() -> None:
    pair = BrEdrPair()
    pair.secure()
    asks = [m for m in pair.emitted["a"] if isinstance(m, L2caInfoReq)]
    assert [a.info_type for a in asks] == [InformationType.FIXED_CHANNELS]
    pair.deliver("a", secured(paired=True))  # a new pairing on the link: asked already
    assert len([m for m in pair.emitted["a"] if isinstance(m, L2caInfoReq)]) == 1


@pytest.mark.parametrize("mask", [None, 0x02], ids=["no answer", "no 0x0007"])
def test_a_peer_without_the_channel_is_not_sent_smp(mask: int | None) -> None:
    pair = BrEdrPair(peer_mask=mask)
    pair.secure()
    assert pair.wire["a"] == [] and pair.bonds("a") == []
    assert pair.context("a").phase is BrEdrPhase.IDLE


def test_a_stored_key_does_not_start_derivation() -> None:
    pair = BrEdrPair()
    pair.secure(secured(paired=False))
    assert pair.wire["a"] == []


def test_a_key_that_is_no_bond_derives_but_keeps_nothing() -> None:
    pair = BrEdrPair()
    unbonded = attrs.evolve(secured(), bonded=False)
    pair.secure(unbonded, attrs.evolve(unbonded, peer=CENTRAL))
    assert pair.bonds("a") == pair.bonds("b") == []
    assert pair.failures("a") == pair.failures("b") == []


def test_the_peripheral_never_starts() -> None:
    pair = BrEdrPair()
    pair.deliver("b", attrs.evolve(secured(), peer=CENTRAL))
    assert pair.wire["b"] == []


# -- the checks --------------------------------------------------------------------------------


def feed(pair: BrEdrPair, side: str, payload: bytes) -> None:
    pair.deliver(side, L2caFixedDataInd(HANDLE, FixedCid.SMP_BR_EDR, payload))


@pytest.mark.parametrize(
    "link_key",
    [None, LinkKey(bytes(16), LinkKeyType.AUTHENTICATED_P192)],
    ids=["not encrypted", "P-192 key"],
)
def test_a_request_on_a_link_not_sc_encrypted_is_cross_transport_not_allowed(
    link_key: LinkKey | None,
) -> None:
    pair = BrEdrPair()
    if link_key is not None:
        # btm reports P-192 keys as nothing to derive from (SmpBrEdrSecurityInd.link_key).
        pair.deliver("b", SmpBrEdrSecurityInd(HANDLE, CENTRAL, None, 16, True, True))
    feed(pair, "b", request_pdu())
    if link_key is None:
        # btm never said the link is secured: the request waits for that, then is refused.
        assert pair.failures("b") == [] and security_wait_key(HANDLE) in pair.timers["b"]
        expired = TimerExpired(security_wait_key(HANDLE))
        pair.apply("b", pair.b.handle("b", expired, SECURITY_WAIT))
    assert pair.failures("b") == [Reason.CROSS_TRANSPORT_KEY_NOT_ALLOWED]
    assert pair.bonds("b") == []


def test_a_request_that_overtakes_btms_word_is_answered_once_it_comes() -> None:
    """The peer may send its Pairing Request before btm finished checking the encryption
    (the key size read): the request waits, and the procedure runs when btm's word comes."""
    pair = BrEdrPair()
    pair.tamper["b"] = lambda p: None  # the test plays the central
    feed(pair, "b", request_pdu())
    assert pair.wire["b"] == []
    pair.deliver("b", attrs.evolve(secured(), peer=CENTRAL))
    assert pair.wire["b"][0][0] == SmpCode.PAIRING_RESPONSE
    assert security_wait_key(HANDLE) not in pair.timers["b"]
    assert pair.context("b").phase is BrEdrPhase.KEY_DISTRIBUTION


def test_encryption_going_off_ends_derivation_and_refuses_the_next_request() -> None:
    pair = BrEdrPair()
    pair.deliver("b", attrs.evolve(secured(), peer=CENTRAL))
    pair.deliver("b", SmpBrEdrSecurityInd(HANDLE, CENTRAL, None))
    feed(pair, "b", request_pdu())
    assert pair.failures("b") == [Reason.CROSS_TRANSPORT_KEY_NOT_ALLOWED]


@pytest.mark.parametrize("size", [7, 15])
def test_a_maximum_key_size_other_than_the_links_is_encryption_key_size(size: int) -> None:
    pair = BrEdrPair()
    pair.deliver("b", attrs.evolve(secured(), peer=CENTRAL))
    feed(pair, "b", request_pdu(key_size=size))
    assert pair.failures("b") == [Reason.ENCRYPTION_KEY_SIZE]


def test_a_link_key_size_below_our_minimum_is_encryption_key_size() -> None:
    pair = BrEdrPair(b_config=attrs.evolve(DERIVING, min_key_size=16))
    pair.deliver("b", attrs.evolve(secured(key_size=10), peer=CENTRAL))
    feed(pair, "b", request_pdu(key_size=10))
    assert pair.failures("b") == [Reason.ENCRYPTION_KEY_SIZE]


def test_the_central_checks_the_response_key_size_too() -> None:
    pair = BrEdrPair()
    pair.tamper["b"] = lambda p: p[:4] + b"\x0c" + p[5:] if p[0] == 2 else p
    pair.secure()
    # The responder's keys, already on their way, are out of state after that (3.6.1).
    assert pair.failures("a")[0] is Reason.ENCRYPTION_KEY_SIZE
    assert pair.bonds("a") == []


@pytest.mark.parametrize(
    "code",
    [0x03, 0x04, 0x06, 0x07, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x20],
    ids=lambda c: f"0x{c:02X}",
)
def test_codes_not_used_over_bredr_are_command_not_supported(code: int) -> None:
    pair = BrEdrPair()
    pair.deliver("b", attrs.evolve(secured(), peer=CENTRAL))
    feed(pair, "b", bytes((code,)) + bytes(16))
    assert pair.failures("b") == [Reason.COMMAND_NOT_SUPPORTED]


@pytest.mark.parametrize(
    ("side", "payload"),
    [
        ("a", request_pdu()),  # the central is asked to pair: only the central asks
        ("b", bytes((0x02,)) + bytes(6)),  # a response nobody asked for
        ("b", bytes((0x08,)) + bytes(16)),  # a key before any exchange
    ],
    ids=["request to the central", "unasked response", "key before exchange"],
)
def test_codes_out_of_their_phase_are_unspecified_reason(side: str, payload: bytes) -> None:
    pair = BrEdrPair()
    pair.deliver("a", secured(paired=False))
    pair.deliver("b", attrs.evolve(secured(paired=False), peer=CENTRAL))
    feed(pair, side, payload)
    assert pair.failures(side) == [Reason.UNSPECIFIED_REASON]


def test_a_length_other_than_the_code_fixes_is_invalid_parameters() -> None:
    pair = BrEdrPair()
    pair.deliver("b", attrs.evolve(secured(), peer=CENTRAL))
    feed(pair, "b", request_pdu()[:-1])
    assert pair.failures("b") == [Reason.INVALID_PARAMETERS]


def test_ignored_fields_are_ignored_even_with_reserved_values() -> None:
    """IO capability 0xFF, OOB 0x7F and Bonding_Flags 0b11 are nothing over BR/EDR."""
    pair = BrEdrPair()
    pair.tamper["b"] = lambda p: None  # the test plays the central
    pair.deliver("b", attrs.evolve(secured(), peer=CENTRAL))
    feed(pair, "b", request_pdu(io=0xFF, oob=0x7F, auth=0xFF))
    assert pair.failures("b") == []
    assert pair.context("b").phase is BrEdrPhase.KEY_DISTRIBUTION
    assert bredr_view(request_pdu(io=0xFF, oob=0x7F, auth=0xFF)) == request_pdu(auth=0x20)


def test_keys_out_of_order_are_unspecified_reason_and_nothing_is_kept() -> None:
    pair = BrEdrPair()
    # The responder's Identity Information is lost: its address comes first.
    pair.tamper["b"] = lambda p: None if p[0] == 0x08 else p
    pair.secure()
    assert pair.failures("a") == [Reason.UNSPECIFIED_REASON]
    assert pair.bonds("a") == []


def test_a_resolvable_identity_address_is_invalid_parameters() -> None:
    pair = BrEdrPair()
    rpa = Address.parse("4A:11:22:33:44:55", AddressType.RANDOM)
    pair.tamper["b"] = lambda p: IdentityAddressInformation(rpa).to_bytes() if p[0] == 0x09 else p
    pair.secure()
    assert pair.failures("a") == [Reason.INVALID_PARAMETERS]


def test_the_peers_pairing_failed_ends_it_without_an_answer() -> None:
    pair = BrEdrPair()
    pair.tamper["b"] = lambda p: PairingFailed(Reason.UNSPECIFIED_REASON).to_bytes()
    pair.secure()
    assert pair.failures("a") == [] and pair.bonds("a") == []
    assert pair.context("a").phase is BrEdrPhase.IDLE


def test_the_smp_timeout_ends_smp_on_the_link_until_it_reconnects() -> None:
    pair = BrEdrPair()
    pair.tamper["a"] = lambda p: None  # the request never arrives
    pair.secure()
    assert timeout_key(HANDLE) in pair.timers["a"]
    pair.apply("a", pair.a.handle("a", TimerExpired(timeout_key(HANDLE)), 30.0))
    assert pair.context("a").phase is BrEdrPhase.TIMED_OUT
    pair.tamper.clear()
    feed(pair, "a", bytes((0x02, 0, 0, 0x20, 16, 7, 7)))
    assert pair.failures("a") == []  # nothing processed, nothing answered (3.4)
    pair.deliver("a", LinkDownInd(HANDLE, 0x13))
    assert HANDLE not in pair.a.bredr_links


def test_not_pairable_is_pairing_not_supported() -> None:
    pair = BrEdrPair(b_config=attrs.evolve(DERIVING, pairable=False))
    pair.secure()
    assert pair.failures("b") == [Reason.PAIRING_NOT_SUPPORTED]


def test_a_pdu_for_a_link_that_is_not_there_is_dropped() -> None:
    core = SmpCore(DERIVING)
    core.handle("btm", ready(CENTRAL), 0.0)
    assert core.handle("l2cap", L2caFixedDataInd(7, FixedCid.SMP_BR_EDR, request_pdu()), 0) == []
    assert core.dropped_pdus == 1


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(min_size=0, max_size=20), max_size=6),
    st.sampled_from(["a", "b"]),
    st.booleans(),
)
def test_arbitrary_pdus_never_raise_and_give_no_other_key(
    payloads: list[bytes], side: str, secured_first: bool
) -> None:
    """Whatever arrives, the core does not fail, keeps nothing after the link, and the only
    LTK it can ever give is the one derived from the link key."""
    pair = BrEdrPair()
    pair.tamper["a"] = pair.tamper["b"] = lambda p: None
    if secured_first:
        pair.secure()
    for payload in payloads:
        feed(pair, side, payload)
    derivable = {crypto.ltk_from_link_key(LINK_KEY.value, ct2=ct2) for ct2 in (True, False)}
    for bond in pair.bonds(side):
        assert bond.peer_keys.ltk is not None and bond.peer_keys.ltk.value in derivable
    if not secured_first:
        assert pair.bonds(side) == []  # no key without an SC-encrypted link
    pair.deliver(side, LinkDownInd(HANDLE, 0x13))
    assert HANDLE not in pair.core(side).bredr_links


def test_a_request_our_core_sends_decodes_with_the_le_codec() -> None:
    request = PairingRequest(
        IoCapability.DISPLAY_ONLY,
        OobDataFlag.NOT_PRESENT,
        AuthReq(ct2=True),
        16,
        KeyDistributionFlags(True, True, True),
        KeyDistributionFlags(True, True, True),
    )
    assert request.to_bytes() == request_pdu()
    assert isinstance(decode_pdu(IdentityInformation(bytes(16)).to_bytes()), IdentityInformation)
