"""The procedure that makes a BR/EDR link authenticated and encrypted to our policy.

Driven by requesters (:class:`PairReq` from the app, :class:`LinkSecurityReq` from any
layer) and by the peer (who may authenticate and encrypt the link itself), it walks the
table :data:`~.states.LINK_TRANSITIONS`: Authentication_Requested (Vol 4 Part E 7.1.15,
with pairing inside when there is no bond), Set_Connection_Encryption (7.1.16), the key
size (7.5.7, or Encryption_Change v2, 7.7.8.2), and a challenge of a peer that only
challenged us. The rules checked at each step are :mod:`.security_policy`'s. A procedure
has a deadline; a link that fails a rule is disconnected with 0x05 Authentication Failure,
one of the reasons HCI_Disconnect allows (Vol 4 Part E 7.1.6).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bluetrio.actors.btm.commands import CommandIssuer, CommandOutcome
from bluetrio.actors.btm.config import SecurityConfig
from bluetrio.actors.btm.key_database import KeyDatabase
from bluetrio.actors.btm.prompts import Prompts
from bluetrio.actors.btm.security_policy import (
    AUTHENTICATION_FAILURE,
    SUCCESS,
    UNKNOWN_CONNECTION,
    EncryptionMode,
    encryption_refusal,
    key_size_refusal,
    usable_stored_key,
)
from bluetrio.actors.btm.security_records import LinkRecord, Pairing, SecurityLinks, Waiter
from bluetrio.actors.btm.states import (
    LINK_PROCEDURE_STATES,
    LinkSecurityEvent,
    LinkSecurityState,
    PairingEvent,
    PairingState,
)
from bluetrio.actors.btm.timer_owners import SecurityProcedureTimer
from bluetrio.actors.effects import CancelTimer, Effects, Emit, Send, StartTimer, TimerKey
from bluetrio.crypto import reverse
from bluetrio.messages import hci
from bluetrio.messages.btm_security import (
    LinkSecuredInd,
    LinkSecurityCnf,
    LinkSecurityReq,
    PairCnf,
    PairingFailedInd,
    PairReq,
)

logger = logging.getLogger(__name__)

# Authentication and encryption of one request, user prompts included.
DEFAULT_PROCEDURE_TIMEOUT = 90.0

State = LinkSecurityState
Event = LinkSecurityEvent


def procedure_timer(handle: int) -> TimerKey:
    return TimerKey(SecurityProcedureTimer(handle), "procedure")


class LinkSecurityProcedure:
    def __init__(
        self,
        *,
        commands: CommandIssuer,
        config: SecurityConfig,
        links: SecurityLinks,
        keys: KeyDatabase,
        prompts: Prompts,
        timeout: float = DEFAULT_PROCEDURE_TIMEOUT,
        on_secured: Callable[[LinkRecord], Effects] = lambda record: [],
        on_encryption_off: Callable[[LinkRecord], Effects] = lambda record: [],
    ) -> None:
        self.commands = commands
        self.config = config
        self.links = links
        self.keys = keys
        self.prompts = prompts
        self.timeout = timeout
        # Who else hears of a secured link, and of its encryption going off (SMP over BR/EDR
        # derives LE keys from the link key, :mod:`.cross_transport`).
        self.on_secured = on_secured
        self.on_encryption_off = on_encryption_off

    # -- requesters ----------------------------------------------------------------------------
    def on_pair_request(self, sender: str, message: PairReq, now: float) -> Effects:
        record = self.links.by_peer(message.address)
        if record is None:
            error = f"no BR/EDR link to {message.address}"
            cnf = PairCnf(message.token, message.address, UNKNOWN_CONNECTION, error=error)
            return [Send(sender, cnf)]
        return self._request(record, Waiter(sender, message.token), now)

    def on_link_security_request(
        self, sender: str, message: LinkSecurityReq, now: float
    ) -> Effects:
        record = self.links.get(message.handle)
        if record is None or record.state is State.CLOSING:
            error = f"no BR/EDR link 0x{message.handle:04X}"
            cnf = LinkSecurityCnf(message.token, message.handle, UNKNOWN_CONNECTION, error=error)
            return [Send(sender, cnf)]
        waiter = Waiter(sender, message.token, message.requirement)
        if not message.requirement.needs_security:
            return [waiter.answer(record, SUCCESS, None)]
        return self._request(record, waiter, now)

    def _request(self, record: LinkRecord, waiter: Waiter, now: float) -> Effects:
        record.waiting.append(waiter)
        if record.state is State.SECURED:
            return self._answer_waiting(record, SUCCESS, None)
        if record.state in LINK_PROCEDURE_STATES:
            return []  # the running procedure answers every waiting requester
        record.model = None
        effects = self._move(record, Event.AUTHENTICATION_REQUESTED, now)
        return effects + self.commands.send(
            hci.AuthenticationRequested(connection_handle=record.handle),
            self._on_command_status(record.handle, State.AUTHENTICATING),
        )

    def _move(self, record: LinkRecord, event: LinkSecurityEvent, now: float) -> Effects:
        """Take ``event``; a procedure starting arms its deadline, one ending stops it."""
        before = record.state in LINK_PROCEDURE_STATES
        record._transition(event)
        after = record.state in LINK_PROCEDURE_STATES
        if after and not before:
            return [StartTimer(procedure_timer(record.handle), now + self.timeout)]
        if before and not after:
            return [CancelTimer(procedure_timer(record.handle))]
        return []

    def _on_command_status(
        self, handle: int, sent_in: LinkSecurityState
    ) -> Callable[[CommandOutcome, float], Effects]:
        """A continuation that fails the procedure when its command was refused."""

        def then(outcome: CommandOutcome, now: float) -> Effects:
            record = self.links.get(handle)
            if outcome.ok or record is None or record.state is not sent_in:
                return []
            if sent_in is State.VERIFYING_PEER:
                return self.reject(
                    record, f"cannot challenge the peer: {outcome.describe_with_status()}"
                )
            failed = (
                Event.AUTHENTICATION_FAILED
                if sent_in is State.AUTHENTICATING
                else Event.ENCRYPTION_FAILED
            )
            return self._fail(record, failed, outcome.status, outcome.describe(), now)

        return then

    # -- the controller's answers ------------------------------------------------------------------
    def on_link_key_request(self, event: hci.LinkKeyRequest, now: float) -> Effects:
        stored = self.keys.link_key(event.bd_addr)
        key = usable_stored_key(stored, secure_connections_only=self.config.secure_connections_only)
        if stored is not None and key is None:
            logger.info("security: %s bond is %s; not used in SC-only mode", event.bd_addr, stored)
        if key is None:
            return self.commands.send(hci.LinkKeyRequestNegativeReply(bd_addr=event.bd_addr))
        record = self.links.by_peer(event.bd_addr)
        if record is not None:
            record.key_type, record.link_key = key.type, key
            record.used_stored_key = True
        return self.commands.send(
            hci.LinkKeyRequestReply(bd_addr=event.bd_addr, link_key=reverse(key.value))
        )

    def on_authentication_complete(self, event: hci.AuthenticationComplete, now: float) -> Effects:
        record = self.links.get(event.connection_handle)
        if record is None or record.state not in (State.AUTHENTICATING, State.VERIFYING_PEER):
            logger.info(
                "security: Authentication_Complete for 0x%04X not awaited; ignored",
                event.connection_handle,
            )
            return []
        if event.status != SUCCESS:
            if record.state is State.VERIFYING_PEER:
                return self.reject(record, "the peer failed to prove its link key")
            # The status names the failure; a prompt that timed out is worth saying too.
            return self._fail(
                record, Event.AUTHENTICATION_FAILED, event.status, record.failure, now
            )
        record.peer_verified = True
        if record.state is State.VERIFYING_PEER or record.encryption is not EncryptionMode.OFF:
            # Encrypted already (by the peer, or before our challenge): check the encryption
            # as it is now, which may have changed while we waited.
            return self._check_encryption(record, record.key_size, now)
        effects = self._move(record, Event.ENCRYPTION_REQUESTED, now)
        return effects + self.commands.send(
            hci.SetConnectionEncryption(connection_handle=record.handle, encryption_enable=1),
            self._on_command_status(record.handle, State.ENCRYPTING),
        )

    def on_encryption_change(
        self, event: hci.EncryptionChange | hci.EncryptionChangeV2, now: float
    ) -> Effects:
        record = self.links.get(event.connection_handle)
        if record is None or record.state is State.CLOSING:
            return []
        if event.status != SUCCESS:
            if record.state is State.ENCRYPTING:
                return self._fail(
                    record, Event.ENCRYPTION_FAILED, event.status, "encryption failed", now
                )
            logger.info("security: encryption change failed 0x%02X", event.status)
            return []
        mode = EncryptionMode.from_wire(event.encryption_enabled)
        if mode is None:
            # A reserved value (7.7.8): what protects the link is unknown.
            return self.reject(
                record, f"Encryption_Enabled 0x{event.encryption_enabled:02X} is reserved"
            )
        record.encryption = mode
        key_size = getattr(event, "encryption_key_size", None)
        if mode is EncryptionMode.OFF:
            record.key_size = None
            running = record.state in LINK_PROCEDURE_STATES
            effects = self._move(record, Event.ENCRYPTION_OFF, now) + self.on_encryption_off(record)
            if running:
                return effects + self._answer_waiting(
                    record, AUTHENTICATION_FAILURE, "encryption was turned off"
                )
            return effects
        if record.state in (State.AUTHENTICATING, State.VERIFYING_PEER):
            record.key_size = key_size  # checked when Authentication_Complete arrives
            return []
        return self._check_encryption(record, key_size, now)

    def on_key_refresh_complete(
        self, event: hci.EncryptionKeyRefreshComplete, now: float
    ) -> Effects:
        if event.status != SUCCESS:
            logger.warning("security: key refresh on 0x%04X failed", event.connection_handle)
        return []

    # -- the checks ------------------------------------------------------------------------------
    def _check_encryption(self, record: LinkRecord, key_size: int | None, now: float) -> Effects:
        refusal = encryption_refusal(
            record.key_type,
            record.encryption,
            secure_connections_only=self.config.secure_connections_only,
        )
        if refusal is not None:
            return self.reject(record, refusal)
        if key_size is not None:
            return self._check_key_size(record, key_size, now)
        effects = self._move(record, Event.KEY_SIZE_REQUESTED, now)
        handle = record.handle

        def then(outcome: CommandOutcome, at: float) -> Effects:
            current = self.links.get(handle)
            if current is None or current.state is not State.CHECKING_KEY_SIZE:
                return []
            if not outcome.ok:
                # Without the size the link cannot be trusted (fail closed).
                return self.reject(current, f"{outcome.describe_with_status()}: key size unknown")
            return self._check_key_size(current, outcome.returned().key_size, at)

        return effects + self.commands.send(
            hci.ReadEncryptionKeySize(connection_handle=handle), then
        )

    def _check_key_size(self, record: LinkRecord, key_size: int, now: float) -> Effects:
        record.key_size = key_size
        refusal = key_size_refusal(key_size, self.config.min_encryption_key_size)
        if refusal is not None:
            return self.reject(record, refusal)
        assert record.key_type is not None
        if record.key_type.is_secure_connections:
            record.peer_verified = True  # AES-CCM authentication is mutual (Vol 2 Part C 4.2.1.4)
        if record.peer_verified:
            return self._accept(record, now)
        effects = self._move(record, Event.PEER_CHALLENGED, now)
        return effects + self.commands.send(
            hci.AuthenticationRequested(connection_handle=record.handle),
            self._on_command_status(record.handle, State.VERIFYING_PEER),
        )

    # -- outcomes --------------------------------------------------------------------------------
    def _accept(self, record: LinkRecord, now: float) -> Effects:
        assert record.key_type is not None and record.key_size is not None
        effects = self._move(record, Event.ACCEPTED, now)
        effects.append(
            Emit(
                LinkSecuredInd(
                    record.handle,
                    record.peer,
                    record.key_type,
                    record.key_size,
                    record.used_stored_key,
                ),
            )
        )
        effects += self.on_secured(record)
        return effects + self._answer_waiting(record, SUCCESS, None)

    def _fail(
        self,
        record: LinkRecord,
        event: LinkSecurityEvent,
        status: int,
        error: str | None,
        now: float,
    ) -> Effects:
        """The procedure failed; the link stays up, unsecured."""
        return self._move(record, event, now) + self._answer_waiting(record, status, error)

    def _answer_waiting(self, record: LinkRecord, status: int, error: str | None) -> Effects:
        effects: Effects = [waiter.answer(record, status, error) for waiter in record.waiting]
        record.waiting.clear()
        record.failure = None
        return effects

    def reject(self, record: LinkRecord, why: str) -> Effects:
        """A rule refused the link: answer its requesters and disconnect it."""
        logger.warning("security: disconnecting %s (0x%04X): %s", record.peer, record.handle, why)
        record._transition(Event.REJECTED)
        effects: Effects = [CancelTimer(procedure_timer(record.handle))]
        effects += self._answer_waiting(record, AUTHENTICATION_FAILURE, why)
        effects += self.pairing_failed(record, AUTHENTICATION_FAILURE, why)
        effects += self.abandon_pairing(record, why)
        effects += self.on_encryption_off(record)  # what encrypts the link is not trusted
        return effects + self.commands.send(
            hci.Disconnect(connection_handle=record.handle, reason=AUTHENTICATION_FAILURE)
        )

    def pairing_failed(self, record: LinkRecord, status: int, why: str) -> Effects:
        """Tell the application a pairing in progress on the link failed (the user hears of
        it even when the peer started the pairing and nobody here waits for its outcome)."""
        if record.pairing.state is PairingState.IDLE:
            return []
        return [Emit(PairingFailedInd(record.peer, status, why))]

    def abandon_pairing(self, record: LinkRecord, why: str) -> Effects:
        """End the link's pairing, if any, and withdraw its prompts."""
        record.pairing._transition(PairingEvent.PAIRING_FAILED)
        record.pairing = Pairing()
        return self.prompts.cancel_link(record.handle, why)

    # -- deadlines and link loss ---------------------------------------------------------------
    def on_procedure_timeout(self, handle: int, now: float) -> Effects:
        record = self.links.get(handle)
        if record is None or record.state not in LINK_PROCEDURE_STATES:
            return []
        return self.reject(record, "security procedure did not finish in time")

    def on_link_down(self, record: LinkRecord, reason: int, fallback: int) -> Effects:
        why = f"link lost (reason 0x{reason:02X})"
        return (
            self._answer_waiting(record, reason or fallback, why)
            + self.pairing_failed(record, reason or fallback, why)
            + self.prompts.cancel_link(record.handle, "link lost")
        )

    def is_secured(self, handle: int) -> bool:
        record = self.links.get(handle)
        return record is not None and record.state is State.SECURED
