"""SMP over BR/EDR: the LE keys derived from a BR/EDR Secure Connections link key (Core 5.4
Vol 3 Part H 3.2, 2.4.2.5, 3.5.1-3.5.2, 3.6.1), on the fixed channel 0x0007, both roles.

A context lives with its BR/EDR link. btm tells it how the link is encrypted
(:class:`SmpBrEdrSecurityInd`); SMP runs only on a link encrypted with AES-CCM under a
P-256 link key (key types 0x07/0x08): a Pairing Request on any other link is answered
"Cross-transport Key Derivation/Generation not allowed" (0x0E). The central starts after a
new pairing made such a key, once the peer's L2CAP lists 0x0007 among its fixed channels
(Vol 3 Part A 4.12): Pairing Request, Pairing Response, then the responder's keys and the
initiator's (identity and signing keys; the LTK is derived, never sent). Over BR/EDR the IO
Capability, OOB data flag and every AuthReq bit but CT2 are sent as zero and ignored on
receipt; the Maximum Encryption Key Size of both PDUs is the link's encryption key size, and
a size other than that, or below our minimum, is Encryption Key Size. The checks on every
received PDU, in order: the SMP timeout (3.4), a code SMP uses over BR/EDR (else Command
Not Supported), the phase's allowed set (else Unspecified Reason), the length and the values
(else Invalid Parameters). The derived LE bond goes to btm only when the link key is a bond.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from bluetrio.actors.effects import CancelTimer, Effects, Emit, StartTimer, TimerKey
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.cross_transport import le_bond_from_link_key
from bluetrio.actors.smp.distribution import (
    expected_codes,
    identity_and_signing_keys,
    key_refusal,
    received_keys,
    response_refusal,
)
from bluetrio.actors.smp.pairing import SMP_TIMEOUT, LocalIdentity, timeout_key
from bluetrio.actors.smp.states import (
    BREDR_ALLOWED,
    BREDR_CODES,
    BREDR_TRANSITIONS,
    BrEdrPhase,
    BrEdrPhaseEvent,
)
from bluetrio.actors.state_machine import transition
from bluetrio.address import Address, AddressType
from bluetrio.bonds import KeyDistribution
from bluetrio.errors import SmpDecodeError
from bluetrio.messages.btm import Role
from bluetrio.messages.btm_security import IoCapability
from bluetrio.messages.l2cap import FixedCid
from bluetrio.messages.l2cap_service import L2caFixedDataReq
from bluetrio.messages.smp import (
    AuthReq,
    KeyDistributionFlags,
    OobDataFlag,
    PairingFailed,
    PairingFeatures,
    PairingRequest,
    PairingResponse,
    SmpCode,
    SmpPdu,
    decode_pdu,
    pdu_length,
    split_pdu,
)
from bluetrio.messages.smp import PairingFailedReason as Reason
from bluetrio.messages.smp_service import SmpBondInd, SmpBrEdrSecurityInd

logger = logging.getLogger(__name__)

_CT2 = 0x20  # the AuthReq bit SMP over BR/EDR keeps (3.5.1)
# A Pairing Request may overtake btm's word that the link is secured (btm still checks the
# encryption key size when the peer's request arrives): it waits this long for that word
# before it is refused with 0x0E.
SECURITY_WAIT = 5.0


def security_wait_key(handle: int) -> TimerKey:
    return TimerKey(("smp", handle), "bredr security")


class _Refused(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def bredr_view(payload: bytes) -> bytes:
    """A Pairing Request or Response as SMP over BR/EDR reads it: the IO Capability, the OOB
    data flag and the AuthReq bits other than CT2 ignored (zero), 3.5.1-3.5.2."""
    if len(payload) == 7 and payload[0] in (SmpCode.PAIRING_REQUEST, SmpCode.PAIRING_RESPONSE):
        return bytes((payload[0], 0, 0, payload[3] & _CT2)) + payload[4:]
    return payload


@attrs.define
class BrEdrPairingContext:
    handle: int
    role: Role
    peer: Address  # the BR/EDR address, a public device address
    identity: Callable[[], LocalIdentity]  # what we distribute, and whose store keeps bonds
    config: SmpConfig
    phase: BrEdrPhase = BrEdrPhase.IDLE
    expected: frozenset[SmpCode] = frozenset()
    security: SmpBrEdrSecurityInd | None = None
    # btm said the link is secured with no key to derive from (P-192, E0) or unencrypted
    told_not_derivable: bool = False
    waiting_request: bytes | None = None  # a Pairing Request waiting for btm's word
    peer_has_channel: bool | None = None  # from the peer's fixed channels mask, once asked
    # -- the running procedure (cleared when it ends) ------------------------------------------
    request: PairingFeatures | None = None
    response: PairingFeatures | None = None
    keys_expected: list[SmpCode] = attrs.Factory(list)
    received: list[SmpPdu] = attrs.Factory(list)
    local_keys: KeyDistribution = attrs.Factory(KeyDistribution)
    sent_keys: bool = False

    def __attrs_post_init__(self) -> None:
        self._expect()

    @property
    def initiator(self) -> bool:
        return self.role is Role.CENTRAL

    @property
    def running(self) -> bool:
        return self.phase not in (BrEdrPhase.IDLE, BrEdrPhase.TIMED_OUT)

    def _move(self, event: BrEdrPhaseEvent) -> None:
        self.phase = transition(BREDR_TRANSITIONS, self.phase, event)
        self._expect()

    def _expect(self, *codes: SmpCode) -> None:
        allowed = BREDR_ALLOWED[self.role, self.phase]
        if codes:
            allowed &= frozenset(codes) | {SmpCode.PAIRING_FAILED}
        self.expected = allowed

    def _send(self, pdu: SmpPdu, now: float) -> Effects:
        effects: Effects = [
            Emit(L2caFixedDataReq(self.handle, FixedCid.SMP_BR_EDR, pdu.to_bytes()))
        ]
        if self.running:
            effects.append(StartTimer(timeout_key(self.handle), now + SMP_TIMEOUT))  # 3.4
        return effects

    # -- what btm and L2CAP say ----------------------------------------------------------------
    def on_security(self, indication: SmpBrEdrSecurityInd, now: float) -> Effects:
        """How the link is encrypted now; a central starts once a pairing made an SC key."""
        self.security = indication if indication.link_key is not None else None
        self.told_not_derivable = self.security is None
        if self.waiting_request is not None:
            waiting, self.waiting_request = self.waiting_request, None
            return [CancelTimer(security_wait_key(self.handle)), *self.on_pdu(waiting, now)]
        if self.security is None and self.running:
            return self.fail(Reason.UNSPECIFIED_REASON, "the link is not encrypted any more", now)
        if (
            self.security is None
            or not indication.paired
            or not self.initiator
            or self.phase is not BrEdrPhase.IDLE
        ):
            return []
        if self.peer_has_channel is False:
            return []
        self._move(BrEdrPhaseEvent.ASK_PEER)
        if self.peer_has_channel:
            return self._send_pairing_request(now)
        return []  # no SMP command sent yet (3.4); L2CAP's RTX bounds the question

    def wants_peer_channels(self) -> bool:
        """The core asks the peer's L2CAP for its fixed channels (Information Request)."""
        return self.phase is BrEdrPhase.CHECKING_PEER and self.peer_has_channel is None

    def on_peer_channels(self, mask: int | None, now: float) -> Effects:
        """The peer's fixed channels mask (Vol 3 Part A 4.12), None when it did not say."""
        self.peer_has_channel = mask is not None and bool(mask >> FixedCid.SMP_BR_EDR & 1)
        if self.phase is not BrEdrPhase.CHECKING_PEER:
            return []
        if not self.peer_has_channel:
            logger.info("link 0x%04X: the peer has no BR/EDR SMP channel", self.handle)
            self._move(BrEdrPhaseEvent.ENDED)
            return []
        return self._send_pairing_request(now)

    def _key_flags(self) -> KeyDistributionFlags:
        """EncKey asks that the LTK be derived (3.6.1); LinkKey is reserved over BR/EDR."""
        return KeyDistributionFlags(
            enc_key=True,
            id_key=self.config.distribute_identity,
            sign_key=self.config.distribute_signing_key,
        )

    def _send_pairing_request(self, now: float) -> Effects:
        assert self.security is not None and self.security.key_size is not None
        # Over BR/EDR only CT2 of AuthReq is set; IO capability and OOB flag are zero (3.5.1).
        flags = self._key_flags()
        request = PairingRequest(
            IoCapability.DISPLAY_ONLY,
            OobDataFlag.NOT_PRESENT,
            AuthReq(ct2=True),
            self.security.key_size,
            flags,
            flags,
        )
        self.request = request
        self._move(BrEdrPhaseEvent.SEND_PAIRING_REQUEST)
        return self._send(request, now)

    # -- received PDUs -------------------------------------------------------------------------
    def on_pdu(self, payload: bytes, now: float) -> Effects:
        """A PDU from 0x0007, checked in the order of the module docstring."""
        if self.phase is BrEdrPhase.TIMED_OUT:
            return []
        try:
            code, data = split_pdu(payload)
        except SmpDecodeError as error:
            return self.fail(Reason(error.reason), str(error), now)
        if code not in BREDR_CODES:
            return self.fail(
                Reason.COMMAND_NOT_SUPPORTED, f"SMP code 0x{code:02X} is not used over BR/EDR", now
            )
        if code not in self.expected:
            if code == SmpCode.PAIRING_FAILED:
                return []
            return self.fail(
                Reason.UNSPECIFIED_REASON,
                f"{SmpCode(code).name} not expected in {self.phase.value}",
                now,
            )
        if len(data) != pdu_length(code):
            return self.fail(
                Reason.INVALID_PARAMETERS, f"{SmpCode(code).name} with {len(data)} octets", now
            )
        try:
            pdu = decode_pdu(bredr_view(payload))
        except SmpDecodeError as error:
            if code == SmpCode.PAIRING_FAILED:
                return self.fail(Reason.UNSPECIFIED_REASON, str(error), now, send=False)
            return self.fail(Reason(error.reason), str(error), now)
        if self.running:
            effects: Effects = [StartTimer(timeout_key(self.handle), now + SMP_TIMEOUT)]
        else:
            effects = []
        try:
            return effects + self._step(pdu, now)
        except _Refused as refusal:
            return self.fail(refusal.reason, refusal.detail, now)

    def _step(self, pdu: SmpPdu, now: float) -> Effects:
        match pdu:
            case PairingFailed():
                detail = f"the peer failed it: {pdu.reason.name}"
                return self.fail(pdu.reason, detail, now, send=False)
            case PairingRequest():
                return self._on_pairing_request(pdu, now)
            case PairingResponse():
                return self._on_pairing_response(pdu, now)
            case _:
                return self._on_key(pdu, now)

    def _check_key_size(self, features: PairingFeatures) -> None:
        assert self.security is not None
        size = self.security.key_size
        if features.max_key_size != size:
            raise _Refused(
                Reason.ENCRYPTION_KEY_SIZE,
                f"a maximum key size of {features.max_key_size}, the link's key has {size}",
            )
        if size is None or size < self.config.min_key_size:
            raise _Refused(
                Reason.ENCRYPTION_KEY_SIZE,
                f"the link's {size}-octet key is below the {self.config.min_key_size} required",
            )

    def security_wait_over(self, now: float) -> Effects:
        """btm never said the link is secured: the waiting request is refused (0x0E)."""
        waiting, self.waiting_request = self.waiting_request, None
        if waiting is None:
            return []
        self.told_not_derivable = True
        return self.on_pdu(waiting, now)

    def _on_pairing_request(self, pdu: PairingRequest, now: float) -> Effects:
        if self.security is None and not self.told_not_derivable:
            if self.waiting_request is None:
                self.waiting_request = pdu.to_bytes()
                return [StartTimer(security_wait_key(self.handle), now + SECURITY_WAIT)]
            raise _Refused(Reason.UNSPECIFIED_REASON, "a second Pairing Request")
        if self.security is None:
            raise _Refused(
                Reason.CROSS_TRANSPORT_KEY_NOT_ALLOWED,
                "the link is not encrypted with AES-CCM under a Secure Connections link key",
            )
        if not self.config.pairable:
            raise _Refused(Reason.PAIRING_NOT_SUPPORTED, "not pairable")
        self._check_key_size(pdu)
        ours = self._key_flags()
        self.request = pdu
        response = PairingResponse(
            IoCapability.DISPLAY_ONLY,
            OobDataFlag.NOT_PRESENT,
            AuthReq(ct2=True),
            pdu.max_key_size,
            pdu.initiator_key_distribution & ours,
            pdu.responder_key_distribution & ours,
        )
        self.response = response
        self._move(BrEdrPhaseEvent.FEATURES_EXCHANGED)
        effects = self._send(response, now)
        # The responder distributes first (3.6.1).
        self.keys_expected = expected_codes(self._theirs())
        effects += self._send_keys(now)
        self._expect_next_key()
        return effects + self._maybe_finish(now)

    def _on_pairing_response(self, pdu: PairingResponse, now: float) -> Effects:
        assert self.request is not None
        refusal = response_refusal(self.request, pdu)
        if refusal is not None:
            raise _Refused(Reason.INVALID_PARAMETERS, refusal)
        self._check_key_size(pdu)
        self.response = pdu
        self._move(BrEdrPhaseEvent.FEATURES_EXCHANGED)
        self.keys_expected = expected_codes(self._theirs())
        self._expect_next_key()
        return self._maybe_finish(now)

    # -- key distribution (3.6.1) --------------------------------------------------------------
    def _distribution(self) -> tuple[KeyDistributionFlags, KeyDistributionFlags]:
        """(ours, theirs) from the response, without EncKey: the LTK is derived, not sent."""
        assert self.response is not None
        initiator = attrs.evolve(self.response.initiator_key_distribution, enc_key=False)
        responder = attrs.evolve(self.response.responder_key_distribution, enc_key=False)
        initiator = attrs.evolve(initiator, link_key=False)  # reserved over BR/EDR
        responder = attrs.evolve(responder, link_key=False)
        return (initiator, responder) if self.initiator else (responder, initiator)

    def _theirs(self) -> KeyDistributionFlags:
        return self._distribution()[1]

    def _derives_ltk(self) -> bool:
        assert self.response is not None
        response = self.response
        return response.initiator_key_distribution.enc_key and (
            response.responder_key_distribution.enc_key
        )

    def _expect_next_key(self) -> None:
        if self.keys_expected:
            self._expect(self.keys_expected[0])
        else:
            self._expect(SmpCode.PAIRING_FAILED)

    def _send_keys(self, now: float) -> Effects:
        self.sent_keys = True
        ours = self.identity()
        # Our LE identity (the peer resolves our LE addresses with the IRK, 3.6.4).
        pdus, self.local_keys = identity_and_signing_keys(
            self._distribution()[0], irk=ours.irk, local=ours.address
        )
        effects: Effects = []
        for pdu in pdus:
            effects += self._send(pdu, now)
        return effects

    def _on_key(self, pdu: SmpPdu, now: float) -> Effects:
        refusal = key_refusal(self.keys_expected, pdu)
        if refusal is not None:
            raise _Refused(*refusal)
        self.keys_expected.pop(0)
        self.received.append(pdu)
        self._expect_next_key()
        return self._maybe_finish(now)

    def _maybe_finish(self, now: float) -> Effects:
        if self.phase is not BrEdrPhase.KEY_DISTRIBUTION or self.keys_expected:
            return []
        effects: Effects = []
        if self.initiator and not self.sent_keys:
            effects += self._send_keys(now)
        return effects + self._complete()

    def _complete(self) -> Effects:
        assert self.request is not None and self.response is not None
        assert self.security is not None and self.security.link_key is not None
        security = self.security
        self._move(BrEdrPhaseEvent.KEYS_DISTRIBUTED)
        effects: Effects = [CancelTimer(timeout_key(self.handle))]
        peer_keys = received_keys(self.received, 16)
        derive = self._derives_ltk()
        ct2 = self.request.auth_req.ct2 and self.response.auth_req.ct2
        local_keys = self.local_keys
        self._reset()
        if not derive:
            logger.info("link 0x%04X: SMP over BR/EDR derived no LTK (EncKey not set)", self.handle)
            return effects
        assert security.key_size is not None and security.link_key is not None
        bond = le_bond_from_link_key(
            local=self.identity().device,
            peer=peer_keys.identity_address or self.peer.with_type(AddressType.PUBLIC),
            link_key=security.link_key,
            key_size=security.key_size,
            ct2=ct2,
            peer_keys=peer_keys,
            local_keys=local_keys,
        )
        if not security.bonded:
            logger.info("link 0x%04X: the link key is no bond: no LE bond kept", self.handle)
            return effects
        # The BR/EDR peer made it: btm checks the identity against it, even when the link is
        # gone by the time this reaches btm.
        link_peer = self.peer.with_type(AddressType.PUBLIC)
        return [*effects, Emit(SmpBondInd(self.handle, bond, link_peer))]

    # -- the end -------------------------------------------------------------------------------
    def fail(self, reason: Reason, detail: str, now: float, *, send: bool = True) -> Effects:
        """End the procedure (3.5.5): tell the peer, forget every value."""
        logger.info("link 0x%04X: BR/EDR SMP failed: %s (%s)", self.handle, reason.name, detail)
        effects: Effects = self._send(PairingFailed(reason), now) if send else []
        if not self.running:
            return effects
        effects.append(CancelTimer(timeout_key(self.handle)))
        self._move(BrEdrPhaseEvent.ENDED)
        self._reset()
        return effects

    def timed_out(self, now: float) -> Effects:
        """The SMP timeout (3.4): no SMP on this link until it reconnects."""
        if not self.running:
            return []
        logger.info("link 0x%04X: SMP over BR/EDR timed out", self.handle)
        self._move(BrEdrPhaseEvent.TIMEOUT)
        self._reset()
        return []

    def _reset(self) -> None:
        self.request = self.response = None
        self.keys_expected, self.received = [], []
        self.local_keys = KeyDistribution()
        self.sent_keys = False
        self._expect()
