"""What BTM does for the security of LE links: it serves SMP and answers its requesters.

SMP (Core 5.4 Vol 3 Part H) runs the pairing protocol; BTM owns HCI, the key database and
the prompt machinery, and serves SMP with (:mod:`bluetrio.messages.smp_service`):

* encryption as central: :class:`LeEncryptReq` → LE_Enable_Encryption (Vol 4 Part E 7.8.24),
  answered by :class:`LeEncryptCnf` on Encryption Change (7.7.8) or Encryption Key Refresh
  Complete (7.7.39), a refusal, link loss or a deadline;
* encryption as peripheral: LE_Long_Term_Key_Request (7.7.65.5) answered with the key SMP
  provided for the link during pairing (:class:`LeResponderKeyReq`: STK or new SC LTK, used
  once), else with a bond's LTK (:mod:`.le_keys`), else refused (7.8.26);
* :class:`LeEncryptionChangedInd` for every change of an LE link's encryption;
* the user's prompts (:class:`SmpPromptReq`), put through :mod:`.prompts` with the association
  model, the answers sent back as :class:`SmpPromptRsp`;
* bonds (:class:`SmpBondInd`): checked (no weaker bond over a stronger one, CVE-2020-15802;
  no identity address or IRK that another bond holds, CVE-2020-15802 and CVE-2021-3436), kept,
  the IRK given to address resolution, and sent to the key store (:class:`StoreBondReq`).

Requesters of an LE link (:class:`PairReq`, :class:`LinkSecurityReq`, and a Security Request
the peer sent us as central) are served by :class:`SmpPairReq` with the bond held for the
peer; its :class:`SmpPairCnf` answers them. Without an SMP layer in the stack they are
refused at once (nothing is sent that no layer would receive). Records live while their link
does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from bluetrio.actors.btm.commands import CommandIssuer, CommandOutcome
from bluetrio.actors.btm.config import SecurityConfig
from bluetrio.actors.btm.key_database import KeyDatabase
from bluetrio.actors.btm.le_keys import bonded_long_term_key
from bluetrio.actors.btm.prompts import Prompt, PromptKind, Prompts
from bluetrio.actors.btm.security_policy import (
    AUTHENTICATION_FAILURE,
    INSUFFICIENT_SECURITY,
    SUCCESS,
    UNKNOWN_CONNECTION,
    EncryptionMode,
)
from bluetrio.actors.btm.states import (
    LE_ENCRYPTION_TRANSITIONS,
    LE_SECURITY_TRANSITIONS,
    LeEncryptionEvent,
    LeEncryptionState,
    LeSecurityEvent,
    LeSecurityState,
)
from bluetrio.actors.btm.timer_owners import LeEncryptionTimer, LeSecurityTimer
from bluetrio.actors.effects import (
    CancelTimer,
    Effects,
    Emit,
    ReleaseTimers,
    Send,
    StartTimer,
    TimerKey,
)
from bluetrio.actors.state_machine import allowed, transition
from bluetrio.address import Address
from bluetrio.bonds import Bond, BondStrength, LongTermKey, Transport, identity_key
from bluetrio.crypto import reverse
from bluetrio.messages import hci
from bluetrio.messages.base import Message
from bluetrio.messages.btm import AclLink, Role
from bluetrio.messages.btm_security import (
    AssociationModel,
    BondRefusedInd,
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
    StoreBondReq,
    UserConfirmInd,
    UserConfirmRsp,
)
from bluetrio.messages.smp_service import (
    PEER_STARTED_TOKEN,
    KeypressInd,
    KeypressReq,
    LeSecurityRequirement,
    SmpBondInd,
    SmpBondRsp,
    SmpKeypressInd,
    SmpKeypressReq,
    SmpPairCnf,
    SmpPairingInd,
    SmpPairReq,
    SmpPromptKind,
    SmpPromptReq,
    SmpPromptRsp,
)

logger = logging.getLogger(__name__)

# SMP answers within its own 30 s timeout (Vol 3 Part H 3.4) after each prompt, which may take
# the user 30 s itself; this is the backstop when SMP never answers.
DEFAULT_LE_PROCEDURE_TIMEOUT = 90.0
# The Link Layer's procedure response timeout (Vol 6 Part B 5.2) bounds the encryption start
# procedure; Encryption Change comes by then or the link is lost.
LE_ENCRYPTION_TIMEOUT = 40.0
LL_RESPONSE_TIMEOUT = 0x22  # HCI status LMP Response Timeout / LL Response Timeout
COMMAND_DISALLOWED = 0x0C

# The messages BTM emits for SMP, declared only when an SMP layer is in the stack.
SMP_BOUND: tuple[type[Message], ...] = (
    SmpPairReq,
    SmpPromptRsp,
    SmpKeypressReq,
    SmpBondRsp,
    LeEncryptionChangedInd,
)

# SMP's prompt kinds as BTM's prompt machinery knows them (DISPLAY_PASSKEY needs no answer).
_PROMPT_KINDS = {
    SmpPromptKind.ACCEPT: PromptKind.CONFIRM,
    SmpPromptKind.CONFIRM_NUMBER: PromptKind.CONFIRM,
    SmpPromptKind.ENTER_PASSKEY: PromptKind.PASSKEY,
    SmpPromptKind.OOB: PromptKind.OOB,
}


# A new LE bond for btm's device records: identity, IRK, the address it bonded over.
RememberIdentity = Callable[[Address, bytes | None, Address | None], None]


def le_security_timer(handle: int) -> TimerKey:
    return TimerKey(LeSecurityTimer(handle), "smp")


def le_encryption_timer(handle: int) -> TimerKey:
    return TimerKey(LeEncryptionTimer(handle), "encryption")


@attrs.frozen
class LeWaiter:
    """Who asked for an LE link's security: a :class:`PairReq` (``link_security`` False) or a
    :class:`LinkSecurityReq`, to be answered when SMP answers."""

    sender: str
    token: int
    requirement: LeSecurityRequirement
    link_security: bool


@attrs.define
class LeLinkRecord:
    """Security of one LE link, from link up to link down."""

    handle: int
    peer: Address  # identity address when resolved, else the address on the air
    role: Role
    state: LeSecurityState = LeSecurityState.IDLE
    encryption: LeEncryptionState = LeEncryptionState.IDLE
    encrypted: bool = False
    key_size: int | None = None
    # How strong the key encrypting the link is; None when not encrypted or not yet known
    # (SMP tells with SmpPairCnf).
    strength: BondStrength | None = None
    keys: Bond | None = None  # the keys the link is encrypted with, as SMP or the store gave
    used_stored_key: bool = False
    model: AssociationModel | None = None
    waiting: list[LeWaiter] = attrs.Factory(list)
    smp_token: int | None = None
    peer_pairing: bool = False  # the peer started a pairing that has not ended yet
    encrypt_waiter: tuple[str, int] | None = None  # the LeEncryptReq being served
    pending_key_size: int | None = None  # of the key given to the controller
    pending_bond: Bond | None = None  # the bond whose LTK answered the controller
    responder_ltk: LongTermKey | None = None  # SMP's key for the next LTK request

    def move(self, event: LeSecurityEvent) -> None:
        self.state = transition(LE_SECURITY_TRANSITIONS, self.state, event)

    def move_encryption(self, event: LeEncryptionEvent) -> None:
        self.encryption = transition(LE_ENCRYPTION_TRANSITIONS, self.encryption, event)

    def shortfall(self, requirement: LeSecurityRequirement) -> str | None:
        if not self.encrypted:
            return "the link is not encrypted"
        if self.strength is None:
            return "the key encrypting the link is of unknown strength"
        return requirement.shortfall(
            authenticated=self.strength.authenticated,
            secure_connections=self.strength.secure_connections,
            key_size=self.strength.key_size,
        )


class LeSecurity:
    """BTM's side of LE security (see the module docstring)."""

    def __init__(
        self,
        *,
        commands: CommandIssuer,
        config: SecurityConfig,
        keys: KeyDatabase,
        prompts: Prompts,
        smp: bool,
        remember_identity: RememberIdentity = lambda address, irk, link_address: None,
        timeout: float = DEFAULT_LE_PROCEDURE_TIMEOUT,
        encryption_timeout: float = LE_ENCRYPTION_TIMEOUT,
    ) -> None:
        self.commands = commands
        self.config = config
        self.keys = keys
        self.prompts = prompts
        self.smp = smp
        self.remember_identity = remember_identity
        self.timeout = timeout
        self.encryption_timeout = encryption_timeout
        self.records: dict[int, LeLinkRecord] = {}
        self._prompt_links: dict[int, int] = {}  # open prompt id → LE handle
        self._tokens = PEER_STARTED_TOKEN

    def __len__(self) -> int:
        return len(self.records)

    def _new_token(self) -> int:
        self._tokens += 1
        return self._tokens

    # -- links -----------------------------------------------------------------------------
    def on_link_up(self, link: AclLink) -> None:
        self.records[link.handle] = LeLinkRecord(link.handle, identity_key(link.peer), link.role)

    def on_link_down(self, handle: int, reason: int) -> Effects:
        record = self.records.pop(handle, None)
        if record is None:
            return []
        why = f"link lost (reason 0x{reason:02X})"
        status = reason or AUTHENTICATION_FAILURE
        effects: Effects = [
            ReleaseTimers(LeSecurityTimer(handle)),
            ReleaseTimers(LeEncryptionTimer(handle)),
        ]
        effects += self._answer_waiting(record, status, why)
        effects += self._answer_encrypt(record, status, None, why)
        if record.peer_pairing or record.state is LeSecurityState.WAITING_SMP:
            effects.append(Emit(PairingFailedInd(record.peer, status, why)))
        for prompt_id in [p for p, h in self._prompt_links.items() if h == handle]:
            del self._prompt_links[prompt_id]
        return effects + self.prompts.cancel_link(handle, "link lost")

    def by_peer(self, address: Address) -> LeLinkRecord | None:
        peer = identity_key(address)
        for record in self.records.values():
            if record.peer == peer:
                return record
        return None

    def owns(self, handle: int) -> bool:
        return handle in self.records

    def owns_prompt(self, prompt_id: int) -> bool:
        return prompt_id in self._prompt_links

    # -- requesters ------------------------------------------------------------------------
    def _policy(self) -> LeSecurityRequirement:
        """What our policy asks of every LE link we secure."""
        only_sc = self.config.secure_connections_only  # LE Secure Connections Only mode, 10.2.4
        return LeSecurityRequirement(
            mitm=only_sc,
            secure_connections=only_sc,
            min_key_size=self.config.min_encryption_key_size,
        )

    def _with_policy(self, requirement: LeSecurityRequirement) -> LeSecurityRequirement:
        policy = self._policy()
        return LeSecurityRequirement(
            mitm=requirement.mitm or policy.mitm,
            secure_connections=requirement.secure_connections or policy.secure_connections,
            min_key_size=max(requirement.min_key_size, policy.min_key_size),
            bonding=requirement.bonding,
        )

    def on_pair_request(
        self, sender: str, message: PairReq, record: LeLinkRecord, now: float
    ) -> Effects:
        waiter = LeWaiter(sender, message.token, self._policy(), link_security=False)
        return self._request(record, waiter, now)

    def on_link_security_request(
        self, sender: str, message: LinkSecurityReq, now: float
    ) -> Effects:
        record = self.records[message.handle]
        if not message.requirement.needs_security:
            cnf = LinkSecurityCnf(message.token, message.handle, SUCCESS)
            return [Send(sender, cnf)]
        requirement = self._with_policy(LeSecurityRequirement.from_requirement(message.requirement))
        return self._request(record, LeWaiter(sender, message.token, requirement, True), now)

    def _request(self, record: LeLinkRecord, waiter: LeWaiter, now: float) -> Effects:
        if not self.smp:
            error = "LE pairing needs a Security Manager (SMP), which this stack does not run"
            return [self._answer(record, waiter, INSUFFICIENT_SECURITY, error)]
        if record.state is LeSecurityState.IDLE and record.shortfall(waiter.requirement) is None:
            return [self._answer(record, waiter, SUCCESS, None)]
        record.waiting.append(waiter)
        if record.state is LeSecurityState.WAITING_SMP:
            return []  # SMP's answer answers every waiting requester
        return self._ask_smp(record, waiter.requirement, now)

    def _ask_smp(
        self, record: LeLinkRecord, requirement: LeSecurityRequirement, now: float
    ) -> Effects:
        record.move(LeSecurityEvent.PAIR_REQUESTED)
        record.smp_token = self._new_token()
        bond = self.keys.le_bond(record.peer)
        request = SmpPairReq(
            record.smp_token, record.handle, record.peer, record.role, requirement, bond
        )
        return [StartTimer(le_security_timer(record.handle), now + self.timeout), Emit(request)]

    def _answer(
        self, record: LeLinkRecord, waiter: LeWaiter, status: int, error: str | None
    ) -> Send:
        ok = status == SUCCESS
        if ok:
            missing = record.shortfall(waiter.requirement)
            if missing is not None:
                status, error = INSUFFICIENT_SECURITY, missing
                ok = False
        if waiter.link_security:
            key_size = record.key_size if ok else None
            strength = record.strength if record.encrypted else None
            cnf = LinkSecurityCnf(
                waiter.token, record.handle, status, None, key_size, error, strength
            )
            return Send(waiter.sender, cnf)
        return Send(
            waiter.sender,
            PairCnf(
                waiter.token,
                record.peer,
                status,
                handle=record.handle,
                model=record.model,
                used_stored_key=record.used_stored_key if ok else False,
                key_size=record.key_size if ok else None,
                error=error,
                bond=record.keys if ok else None,
            ),
        )

    @staticmethod
    def _secured(record: LeLinkRecord) -> Effects:
        """The application hears how the link is protected now (its ``security_level``)."""
        if not record.encrypted or record.strength is None or record.key_size is None:
            return []
        secured = LinkSecuredInd(
            record.handle, record.peer, None, record.key_size, record.used_stored_key,
            record.strength,
        )  # fmt: skip
        return [Emit(secured)]

    def _answer_waiting(self, record: LeLinkRecord, status: int, error: str | None) -> Effects:
        effects: Effects = [
            self._answer(record, waiter, status, error) for waiter in record.waiting
        ]
        record.waiting.clear()
        return effects

    # -- SMP's answers and indications -----------------------------------------------------
    def on_pair_confirm(self, message: SmpPairCnf, now: float) -> Effects:
        record = self.records.get(message.handle)
        if record is None:
            return []
        ours = (
            message.token == record.smp_token
            and message.token != PEER_STARTED_TOKEN
            and allowed(LE_SECURITY_TRANSITIONS, record.state, LeSecurityEvent.SMP_ANSWERED)
        )
        if not ours and message.token != PEER_STARTED_TOKEN:
            logger.info(
                "security: SmpPairCnf %d for 0x%04X not awaited", message.token, record.handle
            )
            return []
        effects: Effects = []
        ran_pairing = record.peer_pairing or message.model is not None
        record.peer_pairing = False
        if ours:
            record.move(LeSecurityEvent.SMP_ANSWERED)
            record.smp_token = None
            effects.append(CancelTimer(le_security_timer(record.handle)))
        if message.status == SUCCESS and message.bond is not None:
            key_size = message.key_size or message.bond.key_size
            record.keys = message.bond
            record.strength = BondStrength(
                message.bond.authenticated, message.bond.secure_connections, key_size
            )
            record.key_size = key_size
            record.model = message.model
            record.used_stored_key = message.used_stored_key
            effects += self._secured(record)
            return effects + self._answer_waiting(record, SUCCESS, None)
        status = message.status or AUTHENTICATION_FAILURE
        error = message.error or "pairing failed"
        if ran_pairing or message.smp_reason is not None:
            effects.append(Emit(PairingFailedInd(record.peer, status, error)))
        return effects + self._answer_waiting(record, status, error)

    def on_pairing_indication(self, message: SmpPairingInd, now: float) -> Effects:
        record = self.records.get(message.handle)
        if record is None:
            return []
        record.peer_pairing = True
        if not message.security_request:
            return []
        if record.role is not Role.CENTRAL:
            logger.info(
                "security: a Security Request on 0x%04X, where we are peripheral", record.handle
            )
            return []
        if record.state is not LeSecurityState.IDLE:
            return []  # our own request is with SMP already
        # The central answers a Security Request by encrypting with the bond or pairing
        # (Vol 3 Part H 2.4.6); nobody here waits for the outcome.
        return self._ask_smp(record, self._with_policy(message.requirement), now)

    def on_procedure_timeout(self, handle: int, now: float) -> Effects:
        record = self.records.get(handle)
        if record is None or record.state is not LeSecurityState.WAITING_SMP:
            return []
        record.move(LeSecurityEvent.TIMED_OUT)
        record.smp_token = None
        why = f"SMP did not answer within {self.timeout:g} s"
        logger.warning("security: disconnecting %s (0x%04X): %s", record.peer, handle, why)
        effects = self._answer_waiting(record, AUTHENTICATION_FAILURE, why)
        effects.append(Emit(PairingFailedInd(record.peer, AUTHENTICATION_FAILURE, why)))
        return effects + self.commands.send(
            hci.Disconnect(connection_handle=handle, reason=AUTHENTICATION_FAILURE)
        )

    # -- bonds -----------------------------------------------------------------------------
    def on_bond(
        self, message: SmpBondInd, now: float, bredr_peer: Address | None = None
    ) -> Effects:
        """An LE bond from SMP, made on LE link ``message.handle`` or, when ``bredr_peer`` is
        given, derived over the BR/EDR link to that peer (Vol 3 Part H 2.4.2.5)."""
        bond = message.bond
        # Who the peer was on the link the bond was made on: SMP names it for an LE link,
        # which may be gone already (the peer disconnected right after its last key).
        record = self.records.get(message.handle)
        if bredr_peer is not None:
            link_peer: Address | None = bredr_peer
        elif message.link_peer is not None:
            link_peer = message.link_peer
        else:
            link_peer = record.peer if record else None
        refusal = self._bond_refusal(bond, link_peer)
        peer = bond.peer_address
        if refusal is not None:
            logger.warning("security: LE bond with %s refused: %s", peer, refusal)
            return [
                Emit(BondRefusedInd(peer, refusal)),
                Emit(SmpBondRsp(message.handle, peer, False, refusal)),
            ]
        self.keys.replace_le_bond(bond)
        self.remember_identity(identity_key(peer), bond.peer_keys.irk, bond.peer_link_address)
        return [Emit(StoreBondReq(bond)), Emit(SmpBondRsp(message.handle, peer, True))]

    def _bond_refusal(self, bond: Bond, link_peer: Address | None) -> str | None:
        """Why ``bond``, made on a link to ``link_peer``, is not kept (None: it is). The link
        may be gone already: a peer may disconnect as soon as it sent its last key, and the
        pairing completed (both keep the keys, Vol 3 Part H 3.6.1)."""
        if bond.transport is not Transport.LE:
            return "not an LE bond"
        if link_peer is None:
            return "the link it was made on is gone"
        key = identity_key(bond.peer_address)
        existing = self.keys.le_bond(key)
        # Identity information naming a device bonded already, on a link that is not that
        # device's (its address did not resolve to it): another device claims its identity
        # (CVE-2021-3436, BLURtooth CVE-2020-15802). Its bond is kept as it is.
        if existing is not None and key != identity_key(link_peer):
            return f"the identity address {key} belongs to another bonded device"
        irk = bond.peer_keys.irk
        if irk is not None:
            for other_key, other in self.keys.le_bonds.items():
                if other_key != key and other.peer_keys.irk == irk:
                    return f"the IRK is that of the bonded device {other_key}"
        if existing is not None:
            shortfalls = bond.strength().shortfalls(existing.strength())
            if shortfalls:
                return "weaker than the stored bond: " + "; ".join(shortfalls)
        return None

    # -- prompts ---------------------------------------------------------------------------
    def on_prompt_request(self, message: SmpPromptReq, now: float) -> Effects:
        record = self.records.get(message.handle)
        if record is None:
            return []
        if message.kind is SmpPromptKind.DISPLAY_PASSKEY:
            passkey = message.number if message.number is not None else 0
            return [Emit(PasskeyDisplayInd(record.peer, passkey, message.model))]
        kind = _PROMPT_KINDS[message.kind]
        handle, model, number = record.handle, message.model, message.number

        def build(prompt_id: int, peer: Address) -> Message:
            self._prompt_links[prompt_id] = handle
            if kind is PromptKind.CONFIRM:
                shown = number if message.kind is SmpPromptKind.CONFIRM_NUMBER else None
                return UserConfirmInd(prompt_id, peer, shown, model)
            if kind is PromptKind.PASSKEY:
                return PasskeyEntryInd(prompt_id, peer, model, keypresses=message.keypresses)
            return OobDataInd(prompt_id, peer, model)

        return self.prompts.ask(Prompt(handle, record.peer, kind), build, now)

    def on_keypress(self, message: SmpKeypressInd, now: float) -> Effects:
        record = self.records.get(message.handle)
        if record is None:
            return []
        return [Emit(KeypressInd(record.peer, message.kind))]

    def on_keypress_request(self, message: KeypressReq, now: float) -> Effects:
        """The user typing the passkey of an open prompt pressed a key: SMP tells the peer."""
        handle = self._prompt_links.get(message.prompt_id)
        if handle is None:
            logger.info("security: keypress for prompt %d, which is not open", message.prompt_id)
            return []
        return [Emit(SmpKeypressReq(handle, message.kind))]

    def on_user_confirm(self, message: UserConfirmRsp, now: float) -> Effects:
        return self._prompt_answered(
            message.prompt_id,
            PromptKind.CONFIRM,
            lambda h: SmpPromptRsp(h, message.accepted is True),
        )

    def on_passkey(self, message: PasskeyEntryRsp, now: float) -> Effects:
        passkey = message.passkey
        valid = (
            isinstance(passkey, int) and not isinstance(passkey, bool) and 0 <= passkey <= 999_999
        )
        return self._prompt_answered(
            message.prompt_id,
            PromptKind.PASSKEY,
            lambda h: SmpPromptRsp(h, valid, passkey if valid else None),
        )

    def on_oob(self, message: OobDataRsp, now: float) -> Effects:
        data = message.data
        return self._prompt_answered(
            message.prompt_id, PromptKind.OOB, lambda h: SmpPromptRsp(h, data is not None, oob=data)
        )

    def _prompt_answered(
        self, prompt_id: int, kind: PromptKind, answer: Callable[[int], SmpPromptRsp]
    ) -> Effects:
        prompt, effects = self.prompts.take(prompt_id, kind)
        if prompt is None:
            return effects
        self._prompt_links.pop(prompt_id, None)
        return [*effects, Emit(answer(prompt.handle))]

    def on_prompt_timeout(self, prompt_id: int, now: float) -> Effects:
        prompt, effects = self.prompts.expire(prompt_id)
        self._prompt_links.pop(prompt_id, None)
        if prompt is None:
            return effects
        return [*effects, Emit(SmpPromptRsp(prompt.handle, False))]

    # -- encryption ------------------------------------------------------------------------
    def on_encrypt_request(self, sender: str, message: LeEncryptReq, now: float) -> Effects:
        record = self.records.get(message.handle)
        refusal: tuple[int, str] | None = None
        if record is None:
            refusal = UNKNOWN_CONNECTION, f"no LE link 0x{message.handle:04X}"
        elif record.role is not Role.CENTRAL:
            refusal = COMMAND_DISALLOWED, "only the central starts encryption (Vol 6 Part B 5.1.3)"
        elif record.encryption is not LeEncryptionState.IDLE:
            refusal = COMMAND_DISALLOWED, "an encryption procedure runs on the link already"
        if refusal is not None or record is None:
            status, why = refusal or (UNKNOWN_CONNECTION, "no link")
            return [Send(sender, LeEncryptCnf(message.token, message.handle, status, None, why))]
        ltk = message.ltk
        record.move_encryption(LeEncryptionEvent.ENABLE_SENT)
        record.encrypt_waiter = (sender, message.token)
        record.pending_key_size = ltk.key_size
        record.pending_bond = None
        handle = record.handle

        def then(outcome: CommandOutcome, at: float) -> Effects:
            current = self.records.get(handle)
            if (
                outcome.ok
                or current is None
                or current.encryption is not LeEncryptionState.ENABLING
            ):
                return []
            current.move_encryption(LeEncryptionEvent.FAILED)
            return [
                CancelTimer(le_encryption_timer(handle)),
                *self._answer_encrypt(current, outcome.status, None, outcome.describe()),
            ]

        command = hci.LeEnableEncryption(
            connection_handle=handle,
            random_number=reverse(ltk.rand),
            encrypted_diversifier=ltk.ediv,
            long_term_key=reverse(ltk.value),
        )
        timer = StartTimer(le_encryption_timer(handle), now + self.encryption_timeout)
        return [timer, *self.commands.send(command, then)]

    def _answer_encrypt(
        self, record: LeLinkRecord, status: int, key_size: int | None, error: str | None
    ) -> Effects:
        if record.encrypt_waiter is None:
            return []
        sender, token = record.encrypt_waiter
        record.encrypt_waiter = None
        return [Send(sender, LeEncryptCnf(token, record.handle, status, key_size, error))]

    def on_encryption_timeout(self, handle: int, now: float) -> Effects:
        record = self.records.get(handle)
        if record is None or record.encryption is not LeEncryptionState.ENABLING:
            return []
        record.move_encryption(LeEncryptionEvent.FAILED)
        why = f"no Encryption Change within {self.encryption_timeout:g} s"
        return self._answer_encrypt(record, LL_RESPONSE_TIMEOUT, None, why)

    def on_responder_key(self, message: LeResponderKeyReq, now: float) -> Effects:
        record = self.records.get(message.handle)
        if record is None or record.role is not Role.PERIPHERAL:
            logger.info(
                "security: LeResponderKeyReq for 0x%04X, no LE peripheral link", message.handle
            )
            return []
        record.responder_ltk = message.ltk
        return []

    def on_long_term_key_request(self, event: hci.LeLongTermKeyRequest, now: float) -> Effects:
        handle = event.connection_handle
        record = self.records.get(handle)
        if record is None:
            return self.commands.send(
                hci.LeLongTermKeyRequestNegativeReply(connection_handle=handle)
            )
        ediv, rand = event.encrypted_diversifier, reverse(event.random_number)
        provided = record.responder_ltk
        bond: Bond | None = None
        ltk: LongTermKey | None = None
        if provided is not None and provided.ediv == ediv and provided.rand == rand:
            ltk = provided
            record.responder_ltk = None  # a key from pairing is used once (no stale STK)
        else:
            bond = self.keys.le_bond(record.peer)
            ltk = bonded_long_term_key(bond, ediv, rand, self.config.min_encryption_key_size)
        if ltk is None:
            return self.commands.send(
                hci.LeLongTermKeyRequestNegativeReply(connection_handle=handle)
            )
        if allowed(LE_ENCRYPTION_TRANSITIONS, record.encryption, LeEncryptionEvent.KEY_REPLIED):
            record.move_encryption(LeEncryptionEvent.KEY_REPLIED)
        record.pending_key_size = ltk.key_size
        record.pending_bond = bond
        return self.commands.send(
            hci.LeLongTermKeyRequestReply(
                connection_handle=handle, long_term_key=reverse(ltk.value)
            )
        )

    def on_encryption_change(
        self, event: hci.EncryptionChange | hci.EncryptionChangeV2, now: float
    ) -> Effects:
        record = self.records[event.connection_handle]
        if event.status != SUCCESS:
            return self._encryption_failed(record, event.status)
        mode = EncryptionMode.from_wire(event.encryption_enabled)
        encrypted = mode is not None and mode is not EncryptionMode.OFF
        key_size = getattr(event, "encryption_key_size", None) or record.pending_key_size
        return self._encryption_on(record, encrypted, key_size)

    def on_key_refresh_complete(
        self, event: hci.EncryptionKeyRefreshComplete, now: float
    ) -> Effects:
        record = self.records[event.connection_handle]
        if event.status != SUCCESS:
            return self._encryption_failed(record, event.status)
        return self._encryption_on(record, True, record.pending_key_size or record.key_size)

    def _encryption_failed(self, record: LeLinkRecord, status: int) -> Effects:
        effects: Effects = []
        if record.encryption is not LeEncryptionState.IDLE:
            if record.encryption is LeEncryptionState.ENABLING:
                effects.append(CancelTimer(le_encryption_timer(record.handle)))
            record.move_encryption(LeEncryptionEvent.FAILED)
            effects += self._answer_encrypt(
                record, status, None, f"encryption failed (0x{status:02X})"
            )
        record.pending_bond = None
        if self.smp:
            changed = LeEncryptionChangedInd(
                record.handle, status, record.encrypted, record.key_size
            )
            effects.append(Emit(changed))
        return effects

    def _encryption_on(
        self, record: LeLinkRecord, encrypted: bool, key_size: int | None
    ) -> Effects:
        effects: Effects = []
        was = record.encryption
        record.move_encryption(LeEncryptionEvent.CHANGED)
        record.encrypted = encrypted
        record.key_size = key_size if encrypted else None
        if not encrypted:
            record.strength, record.keys = None, None
        elif was is LeEncryptionState.REPLIED and record.pending_bond is not None:
            # The central encrypted with our bond's LTK: the bond's strength protects the link.
            bond = record.pending_bond
            size = key_size or bond.key_size
            record.strength = BondStrength(bond.authenticated, bond.secure_connections, size)
            record.keys, record.used_stored_key, record.model = bond, True, None
            effects += self._secured(record)
        elif was is not LeEncryptionState.IDLE:
            # A key from SMP, whose strength SMP reports with its SmpPairCnf.
            record.strength, record.keys = None, None
        record.pending_bond = None
        if was is LeEncryptionState.ENABLING:
            effects.append(CancelTimer(le_encryption_timer(record.handle)))
            status = SUCCESS if encrypted else AUTHENTICATION_FAILURE
            error = None if encrypted else "the controller reports encryption off"
            effects += self._answer_encrypt(record, status, record.key_size, error)
        if self.smp:
            effects.append(
                Emit(LeEncryptionChangedInd(record.handle, SUCCESS, encrypted, record.key_size))
            )
        return effects
