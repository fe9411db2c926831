"""One link's pairing context: LE legacy pairing and LE Secure Connections in both roles
(Core 5.4 Vol 3 Part H 2.3-2.4, 3.5-3.6).

The context is created when the link comes up and dropped when it goes down. It keeps the
phase (:mod:`states`), the narrower set of codes the next step expects (always inside the
phase's ``ALLOWED`` set), and every value of the running pairing: the exchanged features, TK
or the public keys and DHKey, nonces and confirm values, and the keys distributed. Values are
held in the specification's printed order (MSB first), as :mod:`bluetrio.crypto` takes them;
:mod:`bluetrio.messages.smp` PDUs carry wire order, reversed at the edge.

Nothing leaves the context as a key unless a pairing completed: ``_fail`` forgets every value
of the pairing, a peripheral withdraws the key it had given btm, and only ``_complete`` builds
a :class:`~bluetrio.bonds.Bond`.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable

import attrs

from bluetrio import crypto
from bluetrio.actors.effects import CancelTimer, Effects, Emit, Send, StartTimer, TimerKey
from bluetrio.actors.smp.association import Association, PasskeyInput, association
from bluetrio.actors.smp.attempts import AUTHENTICATION_FAILURES, RepeatedAttempts
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.cross_transport import link_key_bond
from bluetrio.actors.smp.distribution import (
    expected_codes,
    identity_and_signing_keys,
    key_refusal,
    received_keys,
    response_refusal,
)
from bluetrio.actors.smp.states import ALLOWED, TRANSITIONS, Phase, PhaseEvent
from bluetrio.actors.state_machine import transition
from bluetrio.address import Address
from bluetrio.bonds import Bond, KeyDistribution, LongTermKey, Transport
from bluetrio.crypto import EcdhKeyPair, InvalidPublicKeyError, ReflectedPublicKeyError, reverse
from bluetrio.messages.btm import Role
from bluetrio.messages.btm_security import (
    AssociationModel,
    LeEncryptCnf,
    LeEncryptReq,
    LeResponderKeyReq,
)
from bluetrio.messages.hci.status import HciStatus
from bluetrio.messages.l2cap import FixedCid
from bluetrio.messages.l2cap_service import L2caFixedDataReq
from bluetrio.messages.smp import (
    AuthReq,
    BondingFlag,
    CentralIdentification,
    DhKeyCheck,
    EncryptionInformation,
    KeyDistributionFlags,
    KeypressNotification,
    KeypressType,
    OobDataFlag,
    PairingConfirm,
    PairingFailed,
    PairingFeatures,
    PairingPublicKey,
    PairingRandom,
    PairingRequest,
    PairingResponse,
    SecurityRequest,
    SmpCode,
    SmpPdu,
)
from bluetrio.messages.smp import PairingFailedReason as Reason
from bluetrio.messages.smp_service import (
    PAIRING_FAILED_STATUS,
    LeSecurityRequirement,
    SmpBondInd,
    SmpKeypressInd,
    SmpPairCnf,
    SmpPairingInd,
    SmpPromptKind,
    SmpPromptReq,
    SmpPromptRsp,
)

logger = logging.getLogger(__name__)

# The SMP timeout (Vol 3 Part H 3.4).
SMP_TIMEOUT = 30.0
PASSKEY_ROUNDS = 20  # Vol 3 Part H 2.3.5.6.3
_MAX_PASSKEY = 999_999


def timeout_key(handle: int) -> TimerKey:
    return TimerKey(("smp", handle), "timeout")


# How long a completed pairing's answer waits for the controller to report our last PDUs
# sent: the SMP timeout's 30 s (Vol 3 Part H 3.4), which bounds every other wait of SMP.
SENT_WAIT = SMP_TIMEOUT


def sent_wait_key(handle: int) -> TimerKey:
    return TimerKey(("smp", handle), "sent")


class _PairingAborted(Exception):
    """Raised inside a step to fail the pairing with ``reason`` (3.5.5)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _masked(key: bytes, size: int) -> bytes:
    """A key shortened to ``size`` octets by zeroing its most significant octets (2.3.4)."""
    return bytes(16 - size) + key[16 - size :]


def _address_octets(address: Address) -> bytes:
    """Address type || address, MSB first, as f5 and f6 take A1 and A2 (2.2.7)."""
    return bytes((1 if address.is_random else 0,)) + reverse(address.value)


@attrs.frozen
class LocalIdentity:
    """Who we are to a peer we bond with: the identity address and IRK we distribute (Vol 3
    Part H 3.6.4, 3.6.5; btm's, whose RPAs that IRK makes), and the device address whose
    key store keeps the bond."""

    address: Address
    irk: bytes = attrs.field(repr=False)
    device: Address


@attrs.define
class Pending:
    """The SmpPairReq this context answers (token 0: the peer started the pairing)."""

    sender: str | None
    token: int
    requirement: LeSecurityRequirement
    bond: Bond | None = None


@attrs.define
class PairingContext:
    handle: int
    role: Role
    peer: Address  # the peer's address on the air, with its type
    local: Address  # ours on this link (AclLink.local_address), as c1, f5 and f6 take it
    config: SmpConfig
    keys: Callable[[], EcdhKeyPair]
    local_oob_random: Callable[[], bytes]
    attempts: RepeatedAttempts
    identity: Callable[[], LocalIdentity]
    # Who the peer was to btm when the link came up (AclLink.peer: its identity when its
    # address resolved), carried with the bond so btm checks it even if the link is gone.
    link_peer: Address = attrs.field(kw_only=True)
    phase: Phase = Phase.IDLE
    expected: frozenset[SmpCode] = frozenset()
    pending: Pending | None = None
    encrypted: bool = False
    # PDUs handed to L2CAP that the controller has not taken yet (L2caFixedDataCnf), and the
    # answer of a completed pairing held until they have: the keys we distribute last must
    # leave before whoever asked may disconnect, or the peer never completes (kept by _reset).
    unsent: int = 0
    held_answer: Effects = attrs.Factory(list)
    # -- the running pairing (cleared by _reset) ---------------------------------------------
    request: PairingFeatures | None = None
    response: PairingFeatures | None = None
    secure: bool = False
    method: Association | None = None
    key_size: int = 16
    distribution_ours: KeyDistributionFlags = attrs.Factory(KeyDistributionFlags)
    distribution_theirs: KeyDistributionFlags = attrs.Factory(KeyDistributionFlags)
    tk: bytes | None = None  # legacy
    passkey: int | None = None
    prompt_open: bool = False
    user_confirmed: bool = False
    peer_confirm: bytes | None = None
    our_confirm_sent: bool = False
    our_random: bytes | None = None
    peer_public: tuple[bytes, bytes] | None = None
    dhkey: bytes | None = None
    mac_key: bytes | None = None
    ltk: bytes | None = None  # SC LTK, or the legacy STK while encrypting
    peer_check: bytes | None = None
    our_check_sent: bool = False
    round: int = 0
    peer_oob: tuple[bytes, bytes] | None = None  # (r, c) of the peer, MSB first
    peer_used_debug_key: bool = False
    responder_key_given: bool = False
    received: list[SmpPdu] = attrs.Factory(list)  # keys received, in order
    early_keys: list[SmpPdu] = attrs.Factory(list)  # keys received before Encryption Change
    keys_expected: list[SmpCode] = attrs.Factory(list)
    local_keys: KeyDistribution = attrs.Factory(KeyDistribution)
    sent_keys: bool = False
    peer_random: bytes | None = None
    nonces: tuple[bytes, bytes] = (bytes(16), bytes(16))  # (Na, Nb) of the last round

    def __attrs_post_init__(self) -> None:
        self._expect(ALLOWED[self.role, self.phase])

    # -- helpers -----------------------------------------------------------------------------
    @property
    def initiator(self) -> bool:
        return self.role is Role.CENTRAL

    @property
    def running(self) -> bool:
        return self.phase not in (Phase.IDLE, Phase.TIMED_OUT)

    def _move(self, event: PhaseEvent) -> None:
        self.phase = transition(TRANSITIONS, self.phase, event)
        self._expect(ALLOWED[self.role, self.phase])

    def _expect(self, *codes: SmpCode | frozenset[SmpCode]) -> None:
        wanted: set[SmpCode] = set()
        for code in codes:
            wanted |= code if isinstance(code, frozenset) else {code}
        if self.running:
            wanted.add(SmpCode.PAIRING_FAILED)
        if self.method is not None and self.method.model is AssociationModel.PASSKEY_ENTRY:
            # The typing side may notify its keypresses until its confirm value (3.5.8,
            # 2.3.5.6.3); both sides type when both have only a keyboard.
            wanted.add(SmpCode.PAIRING_KEYPRESS_NOTIFICATION)
        self.expected = frozenset(wanted) & ALLOWED[self.role, self.phase]

    def _send(self, pdu: SmpPdu, now: float) -> Effects:
        self.unsent += 1
        effects: Effects = [Emit(L2caFixedDataReq(self.handle, FixedCid.SMP, pdu.to_bytes()))]
        if self.running:
            # Every SMP command queued restarts the timer (3.4).
            effects.append(StartTimer(timeout_key(self.handle), now + SMP_TIMEOUT))
        return effects

    def _requirement(self) -> LeSecurityRequirement:
        if self.pending is not None:
            return self.pending.requirement
        return self.config.default_requirement

    def _auth_req(self, requirement: LeSecurityRequirement) -> AuthReq:
        bonding = requirement.bonding and self.config.bonding
        return AuthReq(
            BondingFlag.BONDING if bonding else BondingFlag.NO_BONDING,
            mitm=requirement.mitm or self.config.mitm,
            secure_connections=self.config.secure_connections,
            keypress=self.config.keypress,
            ct2=True,
        )

    def _key_flags(self) -> KeyDistributionFlags:
        c = self.config
        return KeyDistributionFlags(
            enc_key=True,
            id_key=c.distribute_identity,
            sign_key=c.distribute_signing_key,
            link_key=c.derive_link_key,
        )

    def _initiator_address(self) -> Address:
        return self.local if self.initiator else self.peer

    def _responder_address(self) -> Address:
        return self.peer if self.initiator else self.local

    def _public(self, initiator: bool) -> tuple[bytes, bytes]:
        ours = self.keys()
        if initiator == self.initiator:
            return ours.public_x, ours.public_y
        assert self.peer_public is not None
        return self.peer_public

    # -- entry points ------------------------------------------------------------------------
    def pair(
        self,
        sender: str,
        token: int,
        requirement: LeSecurityRequirement,
        bond: Bond | None,
        now: float,
    ) -> Effects:
        """btm asks that the link meet ``requirement`` (SmpPairReq)."""
        if self.phase is Phase.TIMED_OUT:
            return [
                Send(
                    sender,
                    self._cnf_failure(
                        token,
                        Reason.UNSPECIFIED_REASON,
                        "no SMP on this link after an SMP timeout until it reconnects (3.4)",
                    ),
                )
            ]
        if self.running or self.pending is not None:
            return [
                Send(
                    sender,
                    SmpPairCnf(
                        token, self.handle, 0x0C, error="a pairing already runs on this link"
                    ),
                )
            ]
        self.pending = Pending(sender, token, requirement, bond)
        if self.role is Role.PERIPHERAL:
            # 2.4.6: the peripheral asks the central to pair or encrypt.
            self._move(PhaseEvent.REQUEST_SECURITY)
            effects = self._send(SecurityRequest(self._auth_req(requirement)), now)
            return [*effects, StartTimer(timeout_key(self.handle), now + SMP_TIMEOUT)]
        if bond is not None and bond.peer_keys.ltk is not None and requirement.met_by_bond(bond):
            self._move(PhaseEvent.ENCRYPT_WITH_BOND)
            return [Emit(LeEncryptReq(token, self.handle, self._stored_ltk(bond)))]
        return self._send_pairing_request(now)

    def _stored_ltk(self, bond: Bond) -> LongTermKey:
        # As central, the LTK the peripheral distributed (legacy) or the one both derived (SC).
        ltk = bond.peer_keys.ltk
        assert ltk is not None
        return ltk

    def _send_pairing_request(self, now: float) -> Effects:
        requirement = self._requirement()
        flags = self._key_flags()
        self.request = PairingRequest(
            self.config.io_capability,
            OobDataFlag.PRESENT if self.config.oob_available else OobDataFlag.NOT_PRESENT,
            self._auth_req(requirement),
            self.config.max_key_size,
            flags,
            flags,
        )
        self._move(PhaseEvent.SEND_PAIRING_REQUEST)
        self._expect(SmpCode.PAIRING_RESPONSE)
        return self._send(self.request, now)

    def receive(self, pdu: SmpPdu, now: float) -> Effects:
        """A PDU that passed the code, allowed-set and length checks."""
        if isinstance(pdu, PairingFailed):
            return self._peer_failed(pdu.reason, now)
        effects: Effects = []
        if self.running:
            effects.append(StartTimer(timeout_key(self.handle), now + SMP_TIMEOUT))
        try:
            return effects + self._step(pdu, now)
        except _PairingAborted as abort:
            return self.fail(abort.reason, abort.detail, now)

    def _step(self, pdu: SmpPdu, now: float) -> Effects:
        match pdu:
            case SecurityRequest():
                return self._on_security_request(pdu)
            case PairingRequest():
                return self._on_pairing_request(pdu, now)
            case PairingResponse():
                return self._on_pairing_response(pdu, now)
            case PairingPublicKey():
                return self._on_public_key(pdu, now)
            case PairingConfirm():
                return self._on_confirm(reverse(pdu.confirm_value), now)
            case PairingRandom():
                return self._on_random(reverse(pdu.random_value), now)
            case DhKeyCheck():
                self.peer_check = reverse(pdu.check)
                return self._dhkey_check_step(now)
            case KeypressNotification():
                # The peer's user is typing the passkey (3.5.8): tell ours.
                return [Emit(SmpKeypressInd(self.handle, self.peer, pdu.notification_type))]
            case _:
                return self._on_key(pdu, now)

    # -- phase 1: pairing feature exchange (2.3) -----------------------------------------------
    def _on_security_request(self, pdu: SecurityRequest) -> Effects:
        requirement = LeSecurityRequirement(
            mitm=pdu.auth_req.mitm,
            secure_connections=pdu.auth_req.secure_connections,
            min_key_size=self.config.min_key_size,
            bonding=pdu.auth_req.bonding is BondingFlag.BONDING,
        )
        if self.phase is not Phase.IDLE:
            return []  # encrypting already: the Security Request is answered by that (2.4.6)
        # btm answers with an SmpPairReq holding the bond it keeps for the peer (2.4.6).
        return [Emit(SmpPairingInd(self.handle, self.peer, requirement, security_request=True))]

    def _on_pairing_request(self, pdu: PairingRequest, now: float) -> Effects:
        wait = self.attempts.wait_remaining(self.peer, now)
        if wait > 0:
            # 2.3.6: a new attempt from a claimant that failed lately must wait.
            refusal = self._send(PairingFailed(Reason.REPEATED_ATTEMPTS), now)
            logger.info(
                "link 0x%04X: pairing refused for %.1f s more (repeated attempts)",
                self.handle,
                wait,
            )
            return refusal
        if self.pending is None and not self.config.pairable:
            return self._send(PairingFailed(Reason.PAIRING_NOT_SUPPORTED), now)
        effects: Effects = [StartTimer(timeout_key(self.handle), now + SMP_TIMEOUT)]
        self.request = pdu
        requirement = self._requirement()
        theirs = LeSecurityRequirement(
            mitm=pdu.auth_req.mitm,
            secure_connections=pdu.auth_req.secure_connections,
            min_key_size=self.config.min_key_size,
            bonding=pdu.auth_req.bonding is BondingFlag.BONDING,
        )
        if self.pending is None:
            effects.append(Emit(SmpPairingInd(self.handle, self.peer, theirs)))
            self.pending = Pending(None, 0, requirement)
        ours = self._key_flags()
        auth = self._auth_req(requirement)
        bonding = (
            auth.bonding is BondingFlag.BONDING and pdu.auth_req.bonding is BondingFlag.BONDING
        )
        if not bonding:
            ours = KeyDistributionFlags()
        self.response = PairingResponse(
            self.config.io_capability,
            OobDataFlag.PRESENT if self.config.oob_available else OobDataFlag.NOT_PRESENT,
            auth,
            self.config.max_key_size,
            pdu.initiator_key_distribution & ours,
            pdu.responder_key_distribution & ours,
        )
        self._negotiate()  # raises before the response goes out when the request is refused
        effects += self._send(self.response, now)
        return effects + self._begin_phase_2(now)

    def _on_pairing_response(self, pdu: PairingResponse, now: float) -> Effects:
        assert self.request is not None
        refusal = response_refusal(self.request, pdu)
        if refusal is not None:
            raise _PairingAborted(Reason.INVALID_PARAMETERS, refusal)
        self.response = pdu
        self._negotiate()
        return self._begin_phase_2(now)

    def _negotiate(self) -> None:
        """Check the exchanged features and choose the method (2.3.4, 2.3.5.1)."""
        assert self.request is not None and self.response is not None
        request, response = self.request, self.response
        requirement = self._requirement()
        for name, size in (("request", request.max_key_size), ("response", response.max_key_size)):
            if not 7 <= size <= 16:
                raise _PairingAborted(
                    Reason.INVALID_PARAMETERS, f"the {name}'s maximum key size {size} is not 7..16"
                )
        self.key_size = min(request.max_key_size, response.max_key_size)
        minimum = max(self.config.min_key_size, requirement.effective_min_key_size)
        if self.key_size < minimum:
            raise _PairingAborted(
                Reason.ENCRYPTION_KEY_SIZE,
                f"a {self.key_size}-octet key is below the {minimum} octets required",
            )
        self.secure = (
            request.auth_req.secure_connections
            and response.auth_req.secure_connections
            and self.config.secure_connections
        )
        if not self.secure and (
            self.config.secure_connections_only or requirement.secure_connections
        ):
            raise _PairingAborted(
                Reason.AUTHENTICATION_REQUIREMENTS,
                "Secure Connections is required, the peer pairs only legacy",
            )
        self.method = association(
            secure_connections=self.secure,
            initiator_io=request.io_capability,
            responder_io=response.io_capability,
            initiator_mitm=request.auth_req.mitm,
            responder_mitm=response.auth_req.mitm,
            initiator_oob=request.oob_data_flag is OobDataFlag.PRESENT,
            responder_oob=response.oob_data_flag is OobDataFlag.PRESENT,
        )
        if (requirement.mitm or self.config.mitm) and not self.method.authenticated:
            raise _PairingAborted(
                Reason.AUTHENTICATION_REQUIREMENTS,
                "MITM protection is required and the IO capabilities allow only Just Works",
            )
        initiator_keys = response.initiator_key_distribution
        responder_keys = response.responder_key_distribution
        if self.secure:
            # The LTK is derived, not distributed, in Secure Connections (3.6.1).
            initiator_keys = attrs.evolve(initiator_keys, enc_key=False)
            responder_keys = attrs.evolve(responder_keys, enc_key=False)
        if self.initiator:
            self.distribution_ours, self.distribution_theirs = initiator_keys, responder_keys
        else:
            self.distribution_ours, self.distribution_theirs = responder_keys, initiator_keys

    def _begin_phase_2(self, now: float) -> Effects:
        assert self.method is not None
        if not self.secure:
            self._move(PhaseEvent.FEATURES_LEGACY)
            self._expect(SmpCode.PAIRING_CONFIRM if not self.initiator else frozenset())
            return self._legacy_tk(now)
        self._move(PhaseEvent.FEATURES_SECURE)
        effects: Effects = []
        if self.method.model is AssociationModel.OUT_OF_BAND and self._we_have_peer_oob():
            effects += self._prompt(SmpPromptKind.OOB)
        if self.initiator:
            ours = self.keys()
            effects += self._send(
                PairingPublicKey(reverse(ours.public_x), reverse(ours.public_y)), now
            )
        return effects

    def _we_have_peer_oob(self) -> bool:
        features = self.request if self.initiator else self.response
        return features is not None and features.oob_data_flag is OobDataFlag.PRESENT

    def _peer_has_our_oob(self) -> bool:
        features = self.response if self.initiator else self.request
        return features is not None and features.oob_data_flag is OobDataFlag.PRESENT

    # -- prompts -------------------------------------------------------------------------------
    def _prompt(self, kind: SmpPromptKind, number: int | None = None) -> Effects:
        assert self.method is not None
        if kind is not SmpPromptKind.DISPLAY_PASSKEY:
            self.prompt_open = True
        keypresses = kind is SmpPromptKind.ENTER_PASSKEY and self._keypresses_agreed()
        prompt = SmpPromptReq(self.handle, self.peer, kind, self.method.model, number, keypresses)
        return [Emit(prompt)]

    def _keypresses_agreed(self) -> bool:
        """Both devices set the Keypress flag of AuthReq (3.5.1): the one typing a passkey
        notifies its keys (3.5.8)."""
        return (
            self.request is not None
            and self.response is not None
            and self.request.auth_req.keypress
            and self.response.auth_req.keypress
        )

    def on_keypress(self, kind: KeypressType, now: float) -> Effects:
        """Our user pressed a key while typing the passkey: a Keypress Notification to the
        peer (3.5.8), only while our Passkey Entry prompt is open and both set the flag."""
        typing = (
            self.prompt_open
            and self.method is not None
            and self.method.model is AssociationModel.PASSKEY_ENTRY
        )
        if not typing or not self._keypresses_agreed():
            logger.info(
                "link 0x%04X: keypress %s not sent: no passkey being typed, or the peer does "
                "not take keypresses",
                self.handle,
                kind.name,
            )
            return []
        return self._send(KeypressNotification(kind), now)

    def on_prompt(self, answer: SmpPromptRsp, now: float) -> Effects:
        if not self.prompt_open or not self.running:
            return []  # an answer to nothing we asked (late, or after the pairing ended)
        self.prompt_open = False
        try:
            return self._on_answer(answer, now)
        except _PairingAborted as abort:
            return self.fail(abort.reason, abort.detail, now)

    def _on_answer(self, answer: SmpPromptRsp, now: float) -> Effects:
        assert self.method is not None
        model = self.method.model
        if not answer.accepted:
            reason = {
                AssociationModel.PASSKEY_ENTRY: Reason.PASSKEY_ENTRY_FAILED,
                AssociationModel.NUMERIC_COMPARISON: Reason.NUMERIC_COMPARISON_FAILED,
                AssociationModel.OUT_OF_BAND: Reason.OOB_NOT_AVAILABLE,
            }.get(model, Reason.UNSPECIFIED_REASON)
            raise _PairingAborted(reason, "the user declined or did not answer")
        if model is AssociationModel.PASSKEY_ENTRY:
            if answer.passkey is None or not 0 <= answer.passkey <= _MAX_PASSKEY:
                raise _PairingAborted(Reason.PASSKEY_ENTRY_FAILED, "no valid passkey entered")
            self.passkey = answer.passkey
            return self._passkey_known(now)
        if model is AssociationModel.OUT_OF_BAND:
            if not self.secure:
                if answer.oob_tk is None or len(answer.oob_tk) != 16:
                    raise _PairingAborted(Reason.OOB_NOT_AVAILABLE, "no 16-octet OOB TK given")
                self.tk = answer.oob_tk
                return self._legacy_tk_ready(now)
            oob = answer.oob
            if oob is None or oob.r_256 is None or oob.c_256 is None:
                raise _PairingAborted(Reason.OOB_NOT_AVAILABLE, "no P-256 OOB data given")
            self.peer_oob = (oob.r_256, oob.c_256)
            return self._oob_step(now)
        # Numeric Comparison or an accepted Just Works.
        self.user_confirmed = True
        return self._dhkey_check_step(now)

    # -- legacy pairing: TK, confirm and random, STK (2.3.5.2-2.3.5.5) -------------------------
    def _legacy_tk(self, now: float) -> Effects:
        assert self.method is not None
        match self.method.model:
            case AssociationModel.JUST_WORKS:
                self.tk = bytes(16)
                return self._legacy_tk_ready(now)
            case AssociationModel.OUT_OF_BAND:
                return self._prompt(SmpPromptKind.OOB)
            case _:
                return self._passkey_start(now)

    def _passkey_start(self, now: float) -> Effects:
        assert self.method is not None
        inputs = self.method.passkey_input
        we_input = inputs is PasskeyInput.BOTH or (
            (inputs is PasskeyInput.INITIATOR) == self.initiator
        )
        if we_input:
            return self._prompt(SmpPromptKind.ENTER_PASSKEY)
        # 2.3.5.3: the displaying device generates a random six-digit passkey.
        self.passkey = secrets.randbelow(_MAX_PASSKEY + 1)
        return self._prompt(SmpPromptKind.DISPLAY_PASSKEY, self.passkey) + self._passkey_known(now)

    def _passkey_known(self, now: float) -> Effects:
        assert self.passkey is not None
        if not self.secure:
            self.tk = self.passkey.to_bytes(16, "big")
            return self._legacy_tk_ready(now)
        return self._passkey_round(now) if self.peer_public is not None else []

    def _legacy_confirm(self, random: bytes) -> bytes:
        assert self.tk is not None and self.request is not None and self.response is not None
        ia, ra = self._initiator_address(), self._responder_address()
        return crypto.c1(
            self.tk,
            random,
            reverse(self.request.to_bytes()),
            reverse(self.response.to_bytes()),
            int(ia.is_random),
            int(ra.is_random),
            reverse(ia.value),
            reverse(ra.value),
        )

    def _legacy_tk_ready(self, now: float) -> Effects:
        self.our_random = crypto.random_bytes(16)
        if self.initiator:
            self.our_confirm_sent = True
            self._expect(SmpCode.PAIRING_CONFIRM)
            return self._send(PairingConfirm(reverse(self._legacy_confirm(self.our_random))), now)
        return self._responder_confirm(now)

    def _responder_confirm(self, now: float) -> Effects:
        """The responder answers the initiator's confirm once its own value is ready."""
        if self.peer_confirm is None or self.our_confirm_sent or not self._confirm_ready():
            return []
        self.our_confirm_sent = True
        self._move(PhaseEvent.CONFIRM_RECEIVED)
        self._expect(SmpCode.PAIRING_RANDOM)
        return self._send(PairingConfirm(reverse(self._our_confirm_value())), now)

    def _confirm_ready(self) -> bool:
        if not self.secure:
            return self.tk is not None and self.our_random is not None
        return self.passkey is not None and self.our_random is not None

    def _our_confirm_value(self) -> bytes:
        assert self.our_random is not None
        if not self.secure:
            return self._legacy_confirm(self.our_random)
        ours, theirs = self._public(self.initiator), self._public(not self.initiator)
        return crypto.f4(ours[0], theirs[0], self.our_random, self._passkey_bit())

    def _on_confirm(self, value: bytes, now: float) -> Effects:
        if self.initiator:
            if not self.our_confirm_sent:
                raise _PairingAborted(Reason.UNSPECIFIED_REASON, "a confirm value before ours")
            self.peer_confirm = value
            self._move(PhaseEvent.CONFIRM_RECEIVED)
            self._expect(SmpCode.PAIRING_RANDOM)
            assert self.our_random is not None
            return self._send(PairingRandom(reverse(self.our_random)), now)
        if self.peer_confirm is not None:
            raise _PairingAborted(Reason.UNSPECIFIED_REASON, "a second confirm value")
        self.peer_confirm = value
        return self._responder_confirm(now)

    def _on_random(self, random: bytes, now: float) -> Effects:
        if self.secure:
            return self._secure_random(random, now)
        assert self.our_random is not None and self.tk is not None
        if self.peer_confirm is None or not self.our_confirm_sent:
            raise _PairingAborted(Reason.UNSPECIFIED_REASON, "a random value before the confirms")
        # The peer's random must reproduce the confirm value it committed to (2.3.5.5).
        if not hmac.compare_digest(self._legacy_confirm(random), self.peer_confirm):
            raise _PairingAborted(
                Reason.CONFIRM_VALUE_FAILED, "the peer's confirm value does not match its random"
            )
        # STK = s1(TK, Srand, Mrand) (2.3.5.5), shortened to the agreed size (2.3.4).
        if self.initiator:
            stk = crypto.s1(self.tk, random, self.our_random)
        else:
            stk = crypto.s1(self.tk, self.our_random, random)
        self.ltk = _masked(stk, self.key_size)
        self._move(PhaseEvent.RANDOMS_CHECKED_LEGACY)
        effects: Effects = []
        if not self.initiator:
            effects += self._send(PairingRandom(reverse(self.our_random)), now)
        return effects + self._encrypt(now)

    # -- Secure Connections (2.3.5.6) ----------------------------------------------------------
    def _on_public_key(self, pdu: PairingPublicKey, now: float) -> Effects:
        if self.peer_public is not None:
            raise _PairingAborted(Reason.UNSPECIFIED_REASON, "a second public key")
        x, y = reverse(pdu.public_key_x), reverse(pdu.public_key_y)
        ours = self.keys()
        try:
            # Validates the point (CVE-2018-5383) and refuses our own key sent back to us
            # (CVE-2020-26558), 2.3.5.6.1.
            self.dhkey = ours.shared_secret(x, y)
        except ReflectedPublicKeyError as error:
            raise _PairingAborted(Reason.DHKEY_CHECK_FAILED, str(error)) from None
        except InvalidPublicKeyError as error:
            raise _PairingAborted(Reason.DHKEY_CHECK_FAILED, str(error)) from None
        if crypto.is_debug_key(x, y):
            if not self.config.allow_debug_keys:
                raise _PairingAborted(
                    Reason.AUTHENTICATION_REQUIREMENTS,
                    "the peer uses the P-256 debug key and debug mode is off",
                )
            self.peer_used_debug_key = True
        self.peer_public = (x, y)
        effects: Effects = []
        if not self.initiator:
            effects += self._send(
                PairingPublicKey(reverse(ours.public_x), reverse(ours.public_y)), now
            )
        assert self.method is not None
        if self.method.model is AssociationModel.OUT_OF_BAND:
            self._move(PhaseEvent.OOB_NONCES)
            return effects + self._oob_step(now)
        self._move(PhaseEvent.PUBLIC_KEYS_EXCHANGED)
        if self.method.model is AssociationModel.PASSKEY_ENTRY:
            # The passkey is asked for or shown once the keys are exchanged (2.3.5.6.3).
            return effects + self._passkey_start_once(now)
        # Just Works and Numeric Comparison (2.3.5.6.2): the responder commits to Nb.
        if self.initiator:
            self._expect(SmpCode.PAIRING_CONFIRM)
            self.our_confirm_sent = True  # the initiator sends no confirm in this model
            self.our_random = crypto.random_bytes(16)
            return effects
        self.our_random = crypto.random_bytes(16)
        ours_x, theirs_x = ours.public_x, self.peer_public[0]
        confirm = crypto.f4(ours_x, theirs_x, self.our_random, b"\x00")
        self.our_confirm_sent = True
        self._move(PhaseEvent.CONFIRM_RECEIVED)
        self._expect(SmpCode.PAIRING_RANDOM)
        return effects + self._send(PairingConfirm(reverse(confirm)), now)

    def _passkey_start_once(self, now: float) -> Effects:
        if self.passkey is not None:
            return self._passkey_round(now)
        return self._passkey_start(now)

    def _passkey_bit(self) -> bytes:
        if self.method is None or self.method.model is not AssociationModel.PASSKEY_ENTRY:
            return b"\x00"
        assert self.passkey is not None
        return bytes((0x80 | ((self.passkey >> self.round) & 1),))

    def _passkey_round(self, now: float) -> Effects:
        """Round ``self.round`` of 2.3.5.6.3: the initiator commits first, the responder
        answers its commitment once it has the passkey."""
        self.our_random = crypto.random_bytes(16)
        self._expect(SmpCode.PAIRING_CONFIRM, SmpCode.PAIRING_KEYPRESS_NOTIFICATION)
        if self.initiator:
            self.our_confirm_sent = True
            return self._send(PairingConfirm(reverse(self._our_confirm_value())), now)
        return self._responder_confirm(now)

    def _next_passkey_round(self, now: float) -> Effects:
        self.round += 1
        self.peer_confirm = None
        self.our_confirm_sent = False
        self._move(PhaseEvent.NEXT_PASSKEY_ROUND)
        return self._passkey_round(now)

    def _secure_random(self, random: bytes, now: float) -> Effects:
        assert self.method is not None
        if self.our_random is None:
            # OOB responder still waiting for the user's OOB data: Na waits with it.
            if self.peer_random is not None:
                raise _PairingAborted(Reason.UNSPECIFIED_REASON, "a second random value")
            self.peer_random = random
            return []
        model = self.method.model
        effects: Effects = []
        if model is not AssociationModel.OUT_OF_BAND:
            if self.peer_confirm is None and not (
                self.initiator or model is AssociationModel.PASSKEY_ENTRY
            ):
                pass  # the responder of Just Works / Numeric Comparison got no confirm
            elif self.peer_confirm is None:
                raise _PairingAborted(Reason.UNSPECIFIED_REASON, "a random value before a confirm")
            else:
                theirs, ours = self._public(not self.initiator), self._public(self.initiator)
                z = self._passkey_bit()
                expected = crypto.f4(theirs[0], ours[0], random, z)
                if not hmac.compare_digest(expected, self.peer_confirm):
                    raise _PairingAborted(
                        Reason.CONFIRM_VALUE_FAILED,
                        "the peer's confirm value does not match its nonce",
                    )
        if not self.initiator:
            effects += self._send(PairingRandom(reverse(self.our_random)), now)
        self.peer_random = random
        if model is AssociationModel.PASSKEY_ENTRY and self.round + 1 < PASSKEY_ROUNDS:
            return effects + self._next_passkey_round(now)
        self._move(PhaseEvent.RANDOMS_CHECKED_SECURE)
        self._derive_keys(random)
        self._expect(SmpCode.PAIRING_DHKEY_CHECK if not self.initiator else frozenset())
        if model is AssociationModel.NUMERIC_COMPARISON:
            na, nb = (self.our_random, random) if self.initiator else (random, self.our_random)
            pka, pkb = self._public(True), self._public(False)
            number = crypto.g2(pka[0], pkb[0], na, nb) % 10**6
            return effects + self._prompt(SmpPromptKind.CONFIRM_NUMBER, number)
        if model is AssociationModel.JUST_WORKS and self.config.confirm_just_works:
            return effects + self._prompt(SmpPromptKind.ACCEPT)
        self.user_confirmed = True
        return effects + self._dhkey_check_step(now)

    def _oob_step(self, now: float) -> Effects:
        """OOB (2.3.5.6.4): check the peer's commitment, then exchange the nonces."""
        if self.peer_public is None or self.phase is not Phase.RANDOM:
            return []
        if self._we_have_peer_oob():
            if self.peer_oob is None:
                return []  # the OOB prompt is open
            r, c = self.peer_oob
            peer_x = self.peer_public[0]
            if not hmac.compare_digest(crypto.f4(peer_x, peer_x, r, b"\x00"), c):
                raise _PairingAborted(
                    Reason.CONFIRM_VALUE_FAILED, "the peer's OOB confirm value does not match"
                )
        if self.our_random is not None:
            return []
        self.our_random = crypto.random_bytes(16)
        self._expect(SmpCode.PAIRING_RANDOM)
        if self.initiator:
            return self._send(PairingRandom(reverse(self.our_random)), now)
        early, self.peer_random = self.peer_random, None
        return [] if early is None else self._secure_random(early, now)

    def _oob_values(self) -> tuple[bytes, bytes]:
        """(ra, rb) of f6 for OOB: the r each side gave the other, zero when not given."""
        ours = self.local_oob_random() if self._peer_has_our_oob() else bytes(16)
        theirs = self.peer_oob[0] if self.peer_oob is not None else bytes(16)
        return (ours, theirs) if self.initiator else (theirs, ours)

    def _derive_keys(self, peer_random: bytes) -> None:
        assert self.dhkey is not None and self.our_random is not None
        na, nb = (
            (self.our_random, peer_random) if self.initiator else (peer_random, self.our_random)
        )
        a1 = _address_octets(self._initiator_address())
        a2 = _address_octets(self._responder_address())
        self.mac_key, ltk = crypto.f5(self.dhkey, na, nb, a1, a2)
        self.ltk = _masked(ltk, self.key_size)
        self.nonces = (na, nb)

    def _check_values(self) -> tuple[bytes, bytes]:
        """(Ea, Eb) of 2.3.5.6.5."""
        assert self.mac_key is not None and self.request is not None and self.response is not None
        na, nb = self.nonces
        assert self.method is not None
        if self.method.model is AssociationModel.PASSKEY_ENTRY:
            assert self.passkey is not None
            ra = rb = self.passkey.to_bytes(16, "big")
        elif self.method.model is AssociationModel.OUT_OF_BAND:
            ra, rb = self._oob_values()
        else:
            ra = rb = bytes(16)
        a = _address_octets(self._initiator_address())
        b = _address_octets(self._responder_address())
        ea = crypto.f6(self.mac_key, na, nb, rb, self.request.io_cap_octets(), a, b)
        eb = crypto.f6(self.mac_key, nb, na, ra, self.response.io_cap_octets(), b, a)
        return ea, eb

    def _dhkey_check_step(self, now: float) -> Effects:
        if self.phase is not Phase.DHKEY_CHECK or not self.user_confirmed:
            return []
        ea, eb = self._check_values()
        if self.initiator:
            if not self.our_check_sent:
                self.our_check_sent = True
                self._expect(SmpCode.PAIRING_DHKEY_CHECK)
                return self._send(DhKeyCheck(reverse(ea)), now)
            if self.peer_check is None:
                return []
            if not hmac.compare_digest(self.peer_check, eb):
                raise _PairingAborted(
                    Reason.DHKEY_CHECK_FAILED, "the peer's DHKey check value does not match"
                )
            self._move(PhaseEvent.DHKEY_CHECKED)
            return self._encrypt(now)
        if self.peer_check is None:
            return []
        if not hmac.compare_digest(self.peer_check, ea):
            raise _PairingAborted(
                Reason.DHKEY_CHECK_FAILED, "the peer's DHKey check value does not match"
            )
        self._move(PhaseEvent.DHKEY_CHECKED)
        return self._send(DhKeyCheck(reverse(eb)), now) + self._encrypt(now)

    # -- encryption (2.4.4) --------------------------------------------------------------------
    def _encrypt(self, now: float) -> Effects:
        assert self.ltk is not None
        key = LongTermKey(self.ltk, 0, bytes(8), self.key_size)
        if self.initiator:
            return [Emit(LeEncryptReq(self.pending.token if self.pending else 0, self.handle, key))]
        self.responder_key_given = True
        return [Emit(LeResponderKeyReq(self.handle, key))]

    def on_encrypt_cnf(self, cnf: LeEncryptCnf, now: float) -> Effects:
        if self.phase is Phase.ENCRYPTING_WITH_BOND:
            pending = self.pending
            assert pending is not None and pending.bond is not None
            if cnf.status == 0:
                self.encrypted = True
                self.phase = transition(TRANSITIONS, self.phase, PhaseEvent.ENDED)
                self.pending = None
                return self._answer(
                    SmpPairCnf(
                        pending.token,
                        self.handle,
                        0,
                        bond=pending.bond,
                        used_stored_key=True,
                        key_size=cnf.key_size,
                    )
                )
            # The stored key failed (the peer lost the bond: Key Missing, 0x06): pair anew.
            logger.info(
                "link 0x%04X: the stored LTK failed (0x%02X), pairing", self.handle, cnf.status
            )
            return self._send_pairing_request(now)
        if self.phase is not Phase.ENCRYPTION or not self.initiator:
            return []
        if cnf.status != 0:
            return self.fail(
                Reason.UNSPECIFIED_REASON,
                f"encryption failed (HCI status 0x{cnf.status:02X})",
                now,
                hci_status=cnf.status,
            )
        return self._encrypted(cnf.key_size, now)

    def on_encryption_changed(
        self, encrypted: bool, status: int, key_size: int | None, now: float
    ) -> Effects:
        self.encrypted = encrypted and status == 0
        if self.role is not Role.PERIPHERAL:
            return []
        if self.phase is Phase.SECURITY_REQUESTED and self.encrypted and self.pending is not None:
            # The central encrypted with a bond instead of pairing (2.4.6).
            pending = self.pending
            bond = pending.bond
            if bond is not None and pending.requirement.met_by_bond(bond):
                self.phase = transition(TRANSITIONS, self.phase, PhaseEvent.ENDED)
                self.pending = None
                return [
                    CancelTimer(timeout_key(self.handle)),
                    *self._answer(
                        SmpPairCnf(
                            pending.token,
                            self.handle,
                            0,
                            bond=bond,
                            used_stored_key=True,
                            key_size=key_size,
                        )
                    ),
                ]
            # The central answered with a stored key short of what is asked (a key size
            # the Security Request cannot say), and only it can start a pairing: say so now,
            # rather than wait out the SMP timeout, which would end SMP on the link (3.4).
            # A Pairing Request it still sends is a pairing it started.
            return self.fail(
                Reason.UNSPECIFIED_REASON,
                "the central encrypted with a stored key short of the requirement",
                now,
                send=False,
                hci_status=HciStatus.INSUFFICIENT_SECURITY,
            )
        if self.phase is not Phase.ENCRYPTION:
            return []
        if not self.encrypted:
            return self.fail(
                Reason.UNSPECIFIED_REASON,
                f"encryption failed (HCI status 0x{status:02X})",
                now,
                hci_status=status or 0x05,
            )
        return self._encrypted(key_size, now)

    def _encrypted(self, key_size: int | None, now: float) -> Effects:
        if key_size is not None and key_size != self.key_size:
            return self.fail(
                Reason.ENCRYPTION_KEY_SIZE,
                f"the link encrypted with {key_size} octets, {self.key_size} agreed",
                now,
            )
        self.encrypted = True
        self._move(PhaseEvent.ENCRYPTED)
        self.keys_expected = expected_codes(self.distribution_theirs)
        effects: Effects = []
        if not self.initiator:
            effects += self._send_keys(now)  # the responder distributes first (3.6.1)
        self._expect_next_key()
        early, self.early_keys = self.early_keys, []
        for pdu in early:
            effects += self.receive(pdu, now)
        return effects + self._maybe_finish(now)

    # -- phase 3: key distribution (3.6.1) -----------------------------------------------------
    def _expect_next_key(self) -> None:
        if self.keys_expected:
            self._expect(self.keys_expected[0])
        else:
            self._expect()

    def _on_key(self, pdu: SmpPdu, now: float) -> Effects:
        if self.phase is Phase.ENCRYPTION:
            # Sent after the peer's Encryption Change; ours may still be on its way.
            if len(self.early_keys) >= 5:
                raise _PairingAborted(Reason.UNSPECIFIED_REASON, "keys before encryption")
            self.early_keys.append(pdu)
            return []
        refusal = key_refusal(self.keys_expected, pdu)
        if refusal is not None:
            raise _PairingAborted(*refusal)
        self.keys_expected.pop(0)
        self.received.append(pdu)
        self._expect_next_key()
        return self._maybe_finish(now)

    def _send_keys(self, now: float) -> Effects:
        self.sent_keys = True
        flags = self.distribution_ours
        effects: Effects = []
        ltk: LongTermKey | None = None
        if flags.enc_key:
            ltk = LongTermKey(
                _masked(crypto.random_bytes(16), self.key_size),
                int.from_bytes(crypto.random_bytes(2), "big"),
                crypto.random_bytes(8),
                self.key_size,
            )
            effects += self._send(EncryptionInformation(reverse(ltk.value)), now)
            effects += self._send(CentralIdentification(ltk.ediv, reverse(ltk.rand)), now)
        ours = self.identity()
        pdus, others = identity_and_signing_keys(flags, irk=ours.irk, local=ours.address)
        for pdu in pdus:
            effects += self._send(pdu, now)
        self.local_keys = attrs.evolve(others, ltk=ltk)
        return effects

    def _maybe_finish(self, now: float) -> Effects:
        if self.phase is not Phase.KEY_DISTRIBUTION or self.keys_expected:
            return []
        effects: Effects = []
        if self.initiator and not self.sent_keys:
            effects += self._send_keys(now)
        return effects + self._complete(now)

    def _complete(self, now: float) -> Effects:
        assert self.method is not None and self.ltk is not None
        self._move(PhaseEvent.KEYS_DISTRIBUTED)
        effects: Effects = [CancelTimer(timeout_key(self.handle))]
        if self.responder_key_given:
            # The STK or LTK served this encryption only: no later LTK request gets it.
            effects.append(Emit(LeResponderKeyReq(self.handle, None)))
        peer = self._peer_keys()
        local = self.local_keys
        if self.secure:
            shared = LongTermKey(self.ltk, 0, bytes(8), self.key_size)
            peer = attrs.evolve(peer, ltk=shared)
            local = attrs.evolve(local, ltk=shared)
        identity = peer.identity_address or self.peer
        bond = Bond(
            local_address=self.identity().device,
            peer_address=identity,
            transport=Transport.LE,
            peer_keys=peer,
            local_keys=local,
            authenticated=self.method.authenticated,
            secure_connections=self.secure,
            key_size=self.key_size,
            debug_key=self.peer_used_debug_key or self.config.use_debug_key,
            peer_link_address=self.peer,
        )
        assert self.request is not None and self.response is not None
        bonding = (
            self.request.auth_req.bonding is BondingFlag.BONDING
            and self.response.auth_req.bonding is BondingFlag.BONDING
        )
        if bonding:
            effects.append(Emit(SmpBondInd(self.handle, bond, self.link_peer)))
            link_bond = self._cross_transport_bond(bond)
            if link_bond is not None:
                effects.append(Emit(SmpBondInd(self.handle, link_bond, self.link_peer)))
        pending = self.pending
        self.attempts.succeeded(self.peer)
        model, key_size = self.method.model, self.key_size
        self._reset()
        cnf = SmpPairCnf(
            pending.token if pending else 0,
            self.handle,
            0,
            model=model,
            bond=bond,
            key_size=key_size,
        )
        answer = self._answer(cnf, pending)
        if self.unsent > 0:
            # Until our last keys left (on_sent), within a deadline of its own: a controller
            # that never reports them completed must not hold the answer forever.
            self.held_answer = answer
            return [*effects, StartTimer(sent_wait_key(self.handle), now + SENT_WAIT)]
        return effects + answer

    def on_sent(self, count: int) -> Effects:
        """The controller took ``count`` of our PDUs (L2caFixedDataCnf)."""
        self.unsent = max(0, self.unsent - count)
        if self.unsent or not self.held_answer:
            return []
        answer, self.held_answer = self.held_answer, []
        return [CancelTimer(sent_wait_key(self.handle)), *answer]

    def sent_wait_over(self, now: float) -> Effects:
        """The controller did not report our last PDUs sent within :data:`SENT_WAIT`: the
        pairing did complete, so it is answered now (with the doubt logged)."""
        if not self.held_answer:
            return []
        logger.warning(
            "link 0x%04X: the controller did not report our last %d SMP PDU(s) sent within "
            "%g s; answering the completed pairing anyway",
            self.handle,
            self.unsent,
            SENT_WAIT,
        )
        answer, self.held_answer = self.held_answer, []
        return answer

    def _peer_keys(self) -> KeyDistribution:
        return received_keys(self.received, self.key_size)

    def _cross_transport_bond(self, bond: Bond) -> Bond | None:
        """The BR/EDR link key derived from the LE LTK (2.4.2.4), when both set LinkKey."""
        assert self.request is not None and self.response is not None and self.ltk is not None
        if not (
            self.secure
            and self.request.initiator_key_distribution.link_key
            and self.response.initiator_key_distribution.link_key
        ):
            return None
        ct2 = self.request.auth_req.ct2 and self.response.auth_req.ct2
        return link_key_bond(bond, self.ltk, ct2=ct2, local_identity=self.identity().address)

    # -- failure -------------------------------------------------------------------------------
    def _peer_failed(self, reason: Reason, now: float) -> Effects:
        if self.phase is Phase.SECURITY_REQUESTED or self.running:
            return self.fail(reason, f"the peer failed the pairing: {reason.name}", now, send=False)
        return []

    def fail(
        self,
        reason: Reason,
        detail: str,
        now: float,
        *,
        send: bool = True,
        hci_status: int = PAIRING_FAILED_STATUS,
    ) -> Effects:
        """End the pairing: tell the peer (3.5.5), withdraw any key, answer btm."""
        logger.info("link 0x%04X: pairing failed: %s (%s)", self.handle, reason.name, detail)
        active = self.running or self.pending is not None
        effects: Effects = []
        if send:
            effects += self._send(PairingFailed(reason), now)
        if not active:
            return effects  # a PDU refused while no pairing runs: nothing to answer
        effects.append(CancelTimer(timeout_key(self.handle)))
        if reason in AUTHENTICATION_FAILURES:
            self.attempts.failed(self.peer, now)
        if self.responder_key_given:
            effects.append(Emit(LeResponderKeyReq(self.handle, None)))
        pending = self.pending
        if self.phase is not Phase.TIMED_OUT:
            self.phase = transition(TRANSITIONS, self.phase, PhaseEvent.ENDED)
        model = self.method.model if self.method else None
        self._reset()
        cnf = SmpPairCnf(
            pending.token if pending else 0,
            self.handle,
            hci_status,
            model=model,
            error=detail,
            smp_reason=int(reason) if hci_status == PAIRING_FAILED_STATUS else None,
        )
        return effects + self._answer(cnf, pending)

    def timed_out(self, now: float) -> Effects:
        """The SMP timeout (3.4): the pairing failed and no SMP runs until the link closes."""
        if not self.running and self.phase is not Phase.SECURITY_REQUESTED:
            return []
        self.phase = transition(TRANSITIONS, self.phase, PhaseEvent.TIMEOUT)
        effects = self.fail(
            Reason.UNSPECIFIED_REASON,
            "SMP timeout (30 s without a step, Vol 3 Part H 3.4)",
            now,
            send=False,
            hci_status=0x22,
        )
        self.expected = frozenset()
        return effects

    def _answer(self, cnf: SmpPairCnf, pending: Pending | None = None) -> Effects:
        if pending is not None and pending.sender is not None:
            return [Send(pending.sender, cnf)]
        return [Emit(cnf)]

    def _cnf_failure(self, token: int, reason: Reason, detail: str) -> SmpPairCnf:
        return SmpPairCnf(
            token, self.handle, PAIRING_FAILED_STATUS, error=detail, smp_reason=int(reason)
        )

    def _reset(self) -> None:
        """Forget every value of the pairing (a failed pairing leaves no key behind)."""
        keep = (
            self.handle,
            self.role,
            self.peer,
            self.local,
            self.config,
            self.keys,
            self.local_oob_random,
            self.attempts,
            self.identity,
            self.phase,
            self.encrypted,
        )
        fresh = PairingContext(
            *keep[:9], link_peer=self.link_peer, phase=keep[9], encrypted=keep[10],
            unsent=self.unsent, held_answer=self.held_answer,
        )  # fmt: skip
        for field in attrs.fields(PairingContext):
            setattr(self, field.name, getattr(fresh, field.name))
        self._expect(ALLOWED[self.role, self.phase])
