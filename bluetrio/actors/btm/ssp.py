"""Secure Simple Pairing, the host's part (Vol 3 Part C 5.2.2; Vol 2 Part H 7).

Each link's pairing walks :data:`~.states.PAIRING_TRANSITIONS`: the IO capability exchange
(Vol 4 Part E 7.7.40/7.7.41, our reply 7.1.29), authentication stage 1 with the user through
the pairing delegate (numeric comparison, Just Works consent, passkey entry or display, OOB
data), Simple_Pairing_Complete (7.7.45) and the new link key (7.7.24), which is checked by
:mod:`.security_policy` before it is used or stored. A pairing event for an address with no
link is answered negatively where the spec has a negative reply and otherwise ignored; it
creates no state.
"""

from __future__ import annotations

import logging

from bluetrio.actors.btm.link_security import LinkSecurityProcedure
from bluetrio.actors.btm.prompts import Prompt, PromptKind
from bluetrio.actors.btm.security_policy import (
    AUTHENTICATION_FAILURE,
    PAIRING_NOT_ALLOWED,
    SSP_KEY_TYPES,
    SUCCESS,
    association_model,
    both_bond,
    local_authentication_requirements,
    new_key_refusal,
)
from bluetrio.actors.btm.security_records import LinkRecord, Pairing
from bluetrio.actors.btm.states import PairingEvent, PairingState
from bluetrio.actors.effects import Effects, Emit
from bluetrio.address import Address
from bluetrio.bonds import LinkKey, LinkKeyType
from bluetrio.crypto import reverse
from bluetrio.messages import hci
from bluetrio.messages.btm_security import (
    MAX_PASSKEY,
    AssociationModel,
    BondRefusedInd,
    IoCapability,
    OobDataInd,
    OobDataRsp,
    PairingFailedInd,
    PasskeyDisplayInd,
    PasskeyEntryInd,
    PasskeyEntryRsp,
    PeerOobData,
    StoreBondReq,
    UserConfirmInd,
    UserConfirmRsp,
    bredr_bond,
)
from bluetrio.messages.hci.status import describe_status
from bluetrio.messages.smp import KeypressType
from bluetrio.messages.smp_service import KeypressInd

logger = logging.getLogger(__name__)

Step = PairingEvent


class SecureSimplePairing:
    def __init__(self, procedure: LinkSecurityProcedure) -> None:
        # Pairing runs inside a link's authentication: it works on the procedure's tables.
        self.procedure = procedure
        self.commands, self.config = procedure.commands, procedure.config
        self.links, self.keys, self.prompts = procedure.links, procedure.keys, procedure.prompts
        # Announced by the app-side pairing service (SecurityServiceReq).
        self.local_address: Address | None = None
        self.io_capability = IoCapability.NO_INPUT_NO_OUTPUT
        self.delegate_attached = False
        self.provides_oob_data = False

    def _pairing_link(self, address: Address, event: PairingEvent) -> LinkRecord | None:
        """The link whose pairing may take ``event`` now, or None (logged)."""
        record = self.links.by_peer(address)
        if record is None:
            logger.info("security: %s for %s, which has no link; ignored", event.value, address)
            return None
        if not record.pairing.can(event):
            logger.warning(
                "security: %s for %s while pairing is %s; refused",
                event.value,
                address,
                record.pairing.state.value,
            )
            return None
        return record

    # -- IO capability exchange ------------------------------------------------------------------
    def on_io_capability_request(self, event: hci.IoCapabilityRequest, now: float) -> Effects:
        record = self.links.by_peer(event.bd_addr)
        if record is None:
            logger.info("security: IO capability request for %s with no link", event.bd_addr)
            return self._refuse_io_capability(event.bd_addr)
        effects: Effects = []
        pairing = record.pairing
        if pairing.state not in (PairingState.IDLE, PairingState.PEER_IO_RECEIVED):
            # The controller started over: what the earlier attempt left is void.
            effects += self.procedure.abandon_pairing(record, "pairing started again")
            pairing = record.pairing
        locally_requested = bool(record.waiting)
        if not (self.config.pairable or locally_requested):
            logger.info("security: not pairable; refusing pairing with %s", record.peer)
            # Told even from IDLE: the peer asked to pair and was refused.
            effects.append(Emit(PairingFailedInd(record.peer, PAIRING_NOT_ALLOWED, "not pairable")))
            effects += self.procedure.abandon_pairing(record, "not pairable")
            return effects + self._refuse_io_capability(event.bd_addr)
        pairing.local_io = self.io_capability
        pairing.local_auth = local_authentication_requirements(
            self.io_capability,
            secure_connections_only=self.config.secure_connections_only,
            locally_requested=locally_requested,
            peer_auth=pairing.peer_auth,
        )
        if self.provides_oob_data:
            pairing._transition(Step.OOB_ASKED)
            prompt = Prompt(record.handle, record.peer, PromptKind.OOB)
            return effects + self.prompts.ask(prompt, OobDataInd, now)
        return effects + self._reply_io_capability(record.peer, pairing)

    def _refuse_io_capability(self, address: Address) -> Effects:
        return self.commands.send(
            hci.IoCapabilityRequestNegativeReply(bd_addr=address, reason=PAIRING_NOT_ALLOWED)
        )

    def _reply_io_capability(self, peer: Address, pairing: Pairing) -> Effects:
        assert pairing.local_io is not None and pairing.local_auth is not None
        pairing._transition(Step.IO_CAPABILITY_REPLIED)
        return self.commands.send(
            hci.IoCapabilityRequestReply(
                bd_addr=peer,
                io_capability=pairing.local_io,
                oob_data_present=int(pairing.oob_data is not None),
                authentication_requirements=pairing.local_auth,
            )
        )

    def on_io_capability_response(self, event: hci.IoCapabilityResponse, now: float) -> Effects:
        record = self._pairing_link(event.bd_addr, Step.IO_CAPABILITY_RECEIVED)
        if record is None:
            return []
        pairing = record.pairing
        # Kept as the wire's integers: only DisplayYesNo and the MITM bit change the model
        # (Vol 3 Part C Table 5.7), and a reserved value matches neither.
        pairing.peer_io = event.io_capability
        pairing.peer_auth = event.authentication_requirements
        pairing._transition(Step.IO_CAPABILITY_RECEIVED)
        return []

    # -- authentication stage 1 ------------------------------------------------------------------
    def on_user_confirmation_request(
        self, event: hci.UserConfirmationRequest, now: float
    ) -> Effects:
        record = self._pairing_link(event.bd_addr, Step.USER_STEP)
        if record is None:
            return self._answer_confirmation(event.bd_addr, False)
        pairing = record.pairing
        pairing._transition(Step.USER_STEP)
        assert pairing.local_io is not None and pairing.local_auth is not None
        pairing.model = association_model(
            pairing.local_io,
            pairing.local_auth,
            pairing.peer_io if pairing.peer_io is not None else IoCapability.NO_INPUT_NO_OUTPUT,
            pairing.peer_auth or 0,
        )
        prompt = Prompt(record.handle, record.peer, PromptKind.CONFIRM)
        model = pairing.model
        if model is AssociationModel.NUMERIC_COMPARISON:
            number = event.numeric_value
            return self.prompts.ask(prompt, lambda i, p: UserConfirmInd(i, p, number, model), now)
        if self.config.secure_connections_only:
            logger.info("security: Just Works with %s refused in SC-only mode", record.peer)
            return self._answer_confirmation(event.bd_addr, False)
        stored = self.keys.link_key(record.peer)
        if stored is not None and stored.type.is_authenticated:
            # An unauthenticated pairing would replace an authenticated bond (BLURtooth).
            logger.warning("security: Just Works with bonded %s refused", record.peer)
            return self._answer_confirmation(event.bd_addr, False)
        if record.waiting or not self.delegate_attached:
            # Our side asked for this pairing, or a headless device (NoInputNoOutput) made
            # itself pairable: nothing to ask.
            return self._answer_confirmation(event.bd_addr, True)
        return self.prompts.ask(prompt, lambda i, p: UserConfirmInd(i, p, None, model), now)

    def on_user_passkey_request(self, event: hci.UserPasskeyRequest, now: float) -> Effects:
        record = self._pairing_link(event.bd_addr, Step.USER_STEP)
        if record is None or not self.delegate_attached:
            return self._answer_passkey(event.bd_addr, None)
        record.pairing._transition(Step.USER_STEP)
        record.pairing.model = AssociationModel.PASSKEY_ENTRY
        prompt = Prompt(record.handle, record.peer, PromptKind.PASSKEY)
        passkey_entry = AssociationModel.PASSKEY_ENTRY
        return self.prompts.ask(prompt, lambda i, p: PasskeyEntryInd(i, p, passkey_entry), now)

    def on_user_passkey_notification(
        self, event: hci.UserPasskeyNotification, now: float
    ) -> Effects:
        record = self._pairing_link(event.bd_addr, Step.USER_STEP)
        if record is None:
            return []
        record.pairing._transition(Step.USER_STEP)
        record.pairing.model = AssociationModel.PASSKEY_ENTRY
        return [Emit(PasskeyDisplayInd(record.peer, event.passkey, AssociationModel.PASSKEY_ENTRY))]

    def on_keypress_notification(self, event: hci.KeypressNotification, now: float) -> Effects:
        # The same notification types as SMP's Keypress Notification (Vol 4 Part E 7.7.49,
        # Vol 3 Part H 3.5.8); a reserved one is nothing to show.
        try:
            kind = KeypressType(event.notification_type)
        except ValueError:
            logger.info("security: reserved keypress type %d ignored", event.notification_type)
            return []
        if self.links.by_peer(event.bd_addr) is None:
            return []
        return [Emit(KeypressInd(event.bd_addr, kind))]

    def on_remote_oob_data_request(self, event: hci.RemoteOobDataRequest, now: float) -> Effects:
        record = self._pairing_link(event.bd_addr, Step.USER_STEP)
        data = None if record is None else record.pairing.oob_data
        if record is None or data is None:
            return self.commands.send(hci.RemoteOobDataRequestNegativeReply(bd_addr=event.bd_addr))
        record.pairing._transition(Step.USER_STEP)
        record.pairing.model = AssociationModel.OUT_OF_BAND
        absent = bytes(16)  # "no data for this curve" in the extended reply (7.1.53)
        if data.c_256 is not None and data.r_256 is not None:
            command: hci.HciCommand = hci.RemoteOobExtendedDataRequestReply(
                bd_addr=event.bd_addr,
                c_192=reverse(data.c_192 or absent),
                r_192=reverse(data.r_192 or absent),
                c_256=reverse(data.c_256),
                r_256=reverse(data.r_256),
            )
        else:
            assert data.c_192 is not None and data.r_192 is not None
            command = hci.RemoteOobDataRequestReply(
                bd_addr=event.bd_addr, c=reverse(data.c_192), r=reverse(data.r_192)
            )
        return self.commands.send(command)

    def on_pin_code_request(self, event: hci.PinCodeRequest, now: float) -> Effects:
        # Legacy PIN pairing gives no protection against eavesdroppers (Vol 2 Part H 7).
        logger.info("security: refusing PIN pairing with %s", event.bd_addr)
        return self.commands.send(hci.PinCodeRequestNegativeReply(bd_addr=event.bd_addr))

    # -- the delegate's answers ------------------------------------------------------------------
    def on_user_confirm_response(self, message: UserConfirmRsp, now: float) -> Effects:
        prompt, effects = self.prompts.take(message.prompt_id, PromptKind.CONFIRM)
        if prompt is None:
            return effects
        return effects + self._answer_confirmation(prompt.peer, message.accepted is True)

    def on_passkey_response(self, message: PasskeyEntryRsp, now: float) -> Effects:
        prompt, effects = self.prompts.take(message.prompt_id, PromptKind.PASSKEY)
        if prompt is None:
            return effects
        return effects + self._answer_passkey(prompt.peer, message.passkey)

    def on_oob_response(self, message: OobDataRsp, now: float) -> Effects:
        prompt, effects = self.prompts.take(message.prompt_id, PromptKind.OOB)
        if prompt is None:
            return effects
        return effects + self._continue_after_oob(prompt, message.data)

    def on_prompt_timeout(self, prompt_id: int, now: float) -> Effects:
        prompt, effects = self.prompts.expire(prompt_id)
        if prompt is None:
            return effects
        record = self.links.get(prompt.handle)
        if record is not None:
            record.failure = (
                f"the {prompt.kind.noun} prompt timed out "
                f"(no answer within {self.prompts.timeout:g} s)"
            )
        if prompt.kind is PromptKind.CONFIRM:
            return effects + self._answer_confirmation(prompt.peer, False)
        if prompt.kind is PromptKind.PASSKEY:
            return effects + self._answer_passkey(prompt.peer, None)
        return effects + self._continue_after_oob(prompt, None)

    def _answer_confirmation(self, peer: Address, accepted: bool) -> Effects:
        if accepted:
            return self.commands.send(hci.UserConfirmationRequestReply(bd_addr=peer))
        return self.commands.send(hci.UserConfirmationRequestNegativeReply(bd_addr=peer))

    def _answer_passkey(self, peer: Address, passkey: object) -> Effects:
        if (
            isinstance(passkey, int)
            and not isinstance(passkey, bool)
            and 0 <= passkey <= MAX_PASSKEY
        ):
            return self.commands.send(
                hci.UserPasskeyRequestReply(bd_addr=peer, numeric_value=passkey)
            )
        if passkey is not None:
            logger.warning("security: passkey %r is not 0..%d; declined", passkey, MAX_PASSKEY)
        return self.commands.send(hci.UserPasskeyRequestNegativeReply(bd_addr=peer))

    def _continue_after_oob(self, prompt: Prompt, data: PeerOobData | None) -> Effects:
        record = self.links.get(prompt.handle)
        if record is None or record.pairing.state is not PairingState.ASKING_OOB:
            return []
        record.pairing.oob_data = data if isinstance(data, PeerOobData) else None
        return self._reply_io_capability(record.peer, record.pairing)

    # -- the outcome -----------------------------------------------------------------------------
    def on_simple_pairing_complete(self, event: hci.SimplePairingComplete, now: float) -> Effects:
        outcome = Step.PAIRING_SUCCEEDED if event.status == SUCCESS else Step.PAIRING_FAILED
        record = self.links.by_peer(event.bd_addr)
        if record is None or record.pairing.state is PairingState.IDLE:
            logger.info("security: pairing complete for %s, which was not pairing", event.bd_addr)
            return []
        pairing = record.pairing
        record.model = pairing.model
        if outcome is Step.PAIRING_SUCCEEDED and pairing.can(outcome):
            pairing._transition(outcome)
            return []
        if event.status == SUCCESS:
            why = f"pairing completed while {pairing.state.value}"
            logger.warning("security: %s with %s; not trusted", why, record.peer)
        else:
            why = f"pairing failed: {describe_status(event.status)}"
            logger.info("security: pairing with %s: %s", record.peer, why)
        status = event.status or AUTHENTICATION_FAILURE
        failed = self.procedure.pairing_failed(record, status, why)
        return failed + self.procedure.abandon_pairing(record, why)

    def on_link_key_notification(self, event: hci.LinkKeyNotification, now: float) -> Effects:
        record = self.links.by_peer(event.bd_addr)
        if record is None:
            logger.info("security: link key for %s, which has no link; ignored", event.bd_addr)
            return []
        pairing = record.pairing
        if not pairing.can(Step.LINK_KEY_NOTIFIED):
            return self.procedure.reject(record, "link key notified without a completed pairing")
        pairing._transition(Step.LINK_KEY_NOTIFIED)
        record.pairing = Pairing()
        try:
            key_type: LinkKeyType | None = LinkKeyType(event.key_type)
        except ValueError:
            key_type = None
        if key_type not in SSP_KEY_TYPES:
            why = f"link key type {event.key_type} is not accepted"
            return self.procedure.reject(record, why)
        assert key_type is not None
        key = LinkKey(reverse(event.link_key), key_type)
        record.key_type, record.link_key = key_type, key
        record.used_stored_key = False
        record.peer_verified = True  # both sides proved the DHKey (Vol 2 Part H 7.2.5)
        record.model = pairing.model
        refusal = new_key_refusal(
            key,
            self.keys.link_key(record.peer),
            secure_connections_only=self.config.secure_connections_only,
        )
        if refusal is not None:
            why, weaker = refusal
            if not weaker:
                return self.procedure.reject(record, why)
            refused: Effects = [Emit(BondRefusedInd(record.peer, why))]
            return refused + self.procedure.reject(record, f"bond kept: {why}")
        if not both_bond(pairing.local_auth, pairing.peer_auth):
            return []
        if self.local_address is None:
            self.keys.replace(record.peer, key, storing=False)
            logger.info(
                "security: no pairing service; bond with %s kept in memory only", record.peer
            )
            return []
        self.keys.replace(record.peer, key, storing=True)
        bond = bredr_bond(self.local_address, record.peer, key.value, key_type)
        return [Emit(StoreBondReq(bond))]
