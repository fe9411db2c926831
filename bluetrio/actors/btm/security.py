"""The security core of the device manager: dispatches security events and messages to
the module that owns each job.

BTM hands it the security HCI events (:meth:`SecurityCore.on_hci_event`), every
:class:`SecurityMessage` (:meth:`SecurityCore.on_message`), the expiry of its timers
(:meth:`SecurityCore.on_timer`) and link up/down. The jobs:

* :mod:`.security_policy`: the rules (which keys, modes and sizes a link may use);
* :mod:`.key_database`: the bonds' keys;
* :mod:`.link_security`: the per-link procedure to "authenticated and encrypted";
* :mod:`.ssp`: Secure Simple Pairing, with :mod:`.prompts` for the user's answers;
* :mod:`.le_security`: LE links, for SMP: encryption, LTK replies (:mod:`.le_keys`), bonds,
  prompts, and the requesters of LE links;
* :mod:`.security_records` the per-link state, :mod:`.states` its transition tables.

Security state exists only for links that are up: :meth:`on_link_down` releases it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bluetrio.actors.btm.commands import CommandIssuer
from bluetrio.actors.btm.config import SecurityConfig
from bluetrio.actors.btm.cross_transport import CrossTransportKeys
from bluetrio.actors.btm.key_database import KeyDatabase
from bluetrio.actors.btm.le_security import SMP_BOUND, LeSecurity, RememberIdentity
from bluetrio.actors.btm.link_security import (
    DEFAULT_PROCEDURE_TIMEOUT,
    LinkSecurityProcedure,
    procedure_timer,
)
from bluetrio.actors.btm.prompts import DEFAULT_PROMPT_TIMEOUT, Prompts
from bluetrio.actors.btm.security_policy import UNSPECIFIED_ERROR
from bluetrio.actors.btm.security_records import SecurityLinks
from bluetrio.actors.btm.ssp import SecureSimplePairing
from bluetrio.actors.btm.timer_owners import (
    LeEncryptionTimer,
    LeSecurityTimer,
    PromptTimer,
    SecurityProcedureTimer,
)
from bluetrio.actors.effects import Effects, Emit, ReleaseTimers, TimerExpired
from bluetrio.address import Address
from bluetrio.bonds import LinkKey, Transport
from bluetrio.messages import hci
from bluetrio.messages.base import Message
from bluetrio.messages.btm import AclLink, LinkTransport
from bluetrio.messages.btm_security import (
    INDICATIONS,
    LeEncryptReq,
    LeResponderKeyReq,
    LinkSecurityReq,
    OobDataRsp,
    PairReq,
    PasskeyEntryRsp,
    SecurityServiceReq,
    StoreBondRsp,
    UserConfirmRsp,
)
from bluetrio.messages.smp_service import (
    APP_INDICATIONS,
    KeypressReq,
    SmpBondInd,
    SmpBrEdrSecurityInd,
    SmpKeypressInd,
    SmpPairCnf,
    SmpPairingInd,
    SmpPromptReq,
)

logger = logging.getLogger(__name__)

MessageHandler = Callable[[str, Any, float], Effects]


class SecurityCore:
    """The security core of BTM (see the module docstring)."""

    def __init__(
        self,
        *,
        commands: CommandIssuer,
        config: SecurityConfig,
        prompt_timeout: float = DEFAULT_PROMPT_TIMEOUT,
        procedure_timeout: float = DEFAULT_PROCEDURE_TIMEOUT,
        smp: bool = False,
        remember_identity: RememberIdentity = lambda address, irk, link_address: None,
    ) -> None:
        self.commands = commands
        self.config = config
        self.keys = KeyDatabase()
        self.links = SecurityLinks()
        self.prompts = Prompts(timeout=prompt_timeout)
        # SMP over BR/EDR derives LE keys from a BR/EDR link key, and LE pairing a link key.
        self.cross_transport = CrossTransportKeys(config=config, keys=self.keys, smp=smp)
        self.procedure = LinkSecurityProcedure(
            commands=commands, config=config, links=self.links, keys=self.keys,
            prompts=self.prompts, timeout=procedure_timeout,
            on_secured=self.cross_transport.link_secured,
            on_encryption_off=self.cross_transport.encryption_off,
        )  # fmt: skip
        self.ssp = SecureSimplePairing(self.procedure)
        # SMP is a layer of its own (Vol 3 Part H); BTM serves it when the stack runs one.
        self.le = LeSecurity(
            commands=commands, config=config, keys=self.keys, prompts=self.prompts, smp=smp,
            remember_identity=remember_identity, timeout=procedure_timeout,
        )  # fmt: skip
        ssp, le = self.ssp, self.le
        self._message_handlers: dict[type[Message], MessageHandler] = {
            SecurityServiceReq: self._on_service,
            PairReq: self._on_pair_request,
            LinkSecurityReq: self._on_link_security_request,
            UserConfirmRsp: _from_anyone(
                self._by_prompt(le.on_user_confirm, ssp.on_user_confirm_response)
            ),
            PasskeyEntryRsp: _from_anyone(self._by_prompt(le.on_passkey, ssp.on_passkey_response)),
            OobDataRsp: _from_anyone(self._by_prompt(le.on_oob, ssp.on_oob_response)),
            # Keypresses are sent for LE prompts only (BR/EDR's passkey prompt offers none).
            KeypressReq: _from_anyone(le.on_keypress_request),
            StoreBondRsp: _from_anyone(self._on_store_bond_response),
            SmpPairCnf: _from_anyone(le.on_pair_confirm),
            SmpPairingInd: _from_anyone(le.on_pairing_indication),
            SmpBondInd: _from_anyone(self._on_bond),
            SmpPromptReq: _from_anyone(le.on_prompt_request),
            SmpKeypressInd: _from_anyone(le.on_keypress),
            LeEncryptReq: le.on_encrypt_request,
            LeResponderKeyReq: _from_anyone(le.on_responder_key),
        }
        # What the security core emits: the indications for the application, and what SMP
        # takes when the stack runs it (the topology refuses an emit nobody receives).
        self.emitted_types: tuple[type[Message], ...] = (
            *INDICATIONS,
            *APP_INDICATIONS,
            *(SMP_BOUND if smp else ()),
            *((SmpBrEdrSecurityInd,) if smp else ()),
        )

    @property
    def message_types(self) -> tuple[type[Message], ...]:
        """The messages :meth:`on_message` takes (BTM declares it handles them)."""
        return tuple(self._message_handlers)

    @property
    def link_keys(self) -> dict[Address, LinkKey]:
        return self.keys.link_keys

    # -- entry points (the BTM delegation contract) ------------------------------------------
    def on_hci_event(self, event: object, now: float) -> Effects:
        handler = _EVENT_HANDLERS.get(type(event))
        if handler is None:
            logger.warning("security: ignoring %s, not a security event", type(event).__name__)
            return []
        return handler(self, event, now)

    def on_message(self, sender: str, message: Message, now: float) -> Effects:
        handler = self._message_handlers.get(type(message))
        if handler is None:
            logger.warning("security: ignoring %s from %s", message.summary(), sender)
            return []
        return handler(sender, message, now)

    def on_timer(self, expired: TimerExpired, now: float) -> Effects:
        match expired.key.owner:
            case SecurityProcedureTimer(handle=handle):
                return self.procedure.on_procedure_timeout(handle, now)
            case PromptTimer(prompt_id=prompt_id):
                if self.le.owns_prompt(prompt_id):
                    return self.le.on_prompt_timeout(prompt_id, now)
                return self.ssp.on_prompt_timeout(prompt_id, now)
            case LeSecurityTimer(handle=handle):
                return self.le.on_procedure_timeout(handle, now)
            case LeEncryptionTimer(handle=handle):
                return self.le.on_encryption_timeout(handle, now)
        logger.debug("security: stale timer %s", expired.key)
        return []

    def on_link_up(self, link: AclLink, now: float) -> Effects:
        if link.transport is LinkTransport.LE:
            self.le.on_link_up(link)
        else:
            self.links.add(link.handle, link.peer)
        return []

    def on_link_down(self, handle: int, reason: int, now: float) -> Effects:
        if self.le.owns(handle):
            return self.le.on_link_down(handle, reason)
        record = self.links.remove(handle)
        if record is None:
            return []
        effects: Effects = [ReleaseTimers(procedure_timer(handle).owner)]
        return effects + self.procedure.on_link_down(record, reason, UNSPECIFIED_ERROR)

    # -- queries for other BTM modules -------------------------------------------------------
    def is_secured(self, handle: int) -> bool:
        return self.procedure.is_secured(handle)

    # -- requesters: a BR/EDR link's own procedure, an LE link's SMP ------------------------
    def _on_pair_request(self, sender: str, message: PairReq, now: float) -> Effects:
        if message.handle is not None:
            record = self.le.records.get(message.handle)
            if record is not None:
                return self.le.on_pair_request(sender, message, record, now)
        elif self.links.by_peer(message.address) is None:
            record = self.le.by_peer(message.address)
            if record is not None:
                return self.le.on_pair_request(sender, message, record, now)
        return self.procedure.on_pair_request(sender, message, now)

    def _on_link_security_request(
        self, sender: str, message: LinkSecurityReq, now: float
    ) -> Effects:
        if self.le.owns(message.handle):
            return self.le.on_link_security_request(sender, message, now)
        return self.procedure.on_link_security_request(sender, message, now)

    def _by_prompt(
        self, le: Callable[[Any, float], Effects], bredr: Callable[[Any, float], Effects]
    ) -> Callable[[Any, float], Effects]:
        """An answer to a prompt goes to whoever asked it: SMP for an LE link, else SSP."""

        def answer(message: Any, now: float) -> Effects:
            if self.le.owns_prompt(message.prompt_id):
                return le(message, now)
            return bredr(message, now)

        return answer

    def _on_bond(self, message: SmpBondInd, now: float) -> Effects:
        """A bond from SMP: a derived BR/EDR link key, or an LE bond made over LE or derived
        over a BR/EDR link (whose peer made it)."""
        if message.bond.transport is Transport.BR_EDR:
            return self.cross_transport.on_derived_link_key(message)
        bredr = self.links.get(message.handle)
        return self.le.on_bond(message, now, bredr.peer if bredr is not None else None)

    def _on_encryption_change(self, event: Any, now: float) -> Effects:
        if self.le.owns(event.connection_handle):
            return self.le.on_encryption_change(event, now)
        return self.procedure.on_encryption_change(event, now)

    def _on_key_refresh_complete(
        self, event: hci.EncryptionKeyRefreshComplete, now: float
    ) -> Effects:
        if self.le.owns(event.connection_handle):
            return self.le.on_key_refresh_complete(event, now)
        return self.procedure.on_key_refresh_complete(event, now)

    # -- the app-side service ----------------------------------------------------------------
    def _on_service(self, sender: str, message: SecurityServiceReq, now: float) -> Effects:
        self.ssp.local_address = message.local_address
        self.ssp.io_capability = message.io_capability.for_bredr
        self.ssp.delegate_attached = True
        self.ssp.provides_oob_data = message.provides_oob_data
        self.keys.load(message.bonds)
        return []

    def _on_store_bond_response(self, message: StoreBondRsp, now: float) -> Effects:
        refused = self.keys.on_store_response(message)
        return [] if refused is None else [Emit(refused)]


def _from_anyone(handler: Callable[[Any, float], Effects]) -> MessageHandler:
    """Answers to our prompts and requests come from the app side; who sent them is moot."""

    def call(sender: str, message: Any, now: float) -> Effects:
        return handler(message, now)

    return call


# The HCI events of the security core and the job each goes to.
_EVENT_HANDLERS: dict[type, Callable[[SecurityCore, Any, float], Effects]] = {
    hci.LinkKeyRequest: lambda core, e, now: core.procedure.on_link_key_request(e, now),
    hci.AuthenticationComplete: lambda core, e, now: core.procedure.on_authentication_complete(
        e, now
    ),
    hci.EncryptionChange: lambda core, e, now: core._on_encryption_change(e, now),
    hci.EncryptionChangeV2: lambda core, e, now: core._on_encryption_change(e, now),
    hci.EncryptionKeyRefreshComplete: lambda core, e, now: core._on_key_refresh_complete(e, now),
    hci.LinkKeyNotification: lambda core, e, now: core.ssp.on_link_key_notification(e, now),
    hci.IoCapabilityRequest: lambda core, e, now: core.ssp.on_io_capability_request(e, now),
    hci.IoCapabilityResponse: lambda core, e, now: core.ssp.on_io_capability_response(e, now),
    hci.UserConfirmationRequest: lambda core, e, now: core.ssp.on_user_confirmation_request(e, now),
    hci.UserPasskeyRequest: lambda core, e, now: core.ssp.on_user_passkey_request(e, now),
    hci.UserPasskeyNotification: lambda core, e, now: core.ssp.on_user_passkey_notification(e, now),
    hci.RemoteOobDataRequest: lambda core, e, now: core.ssp.on_remote_oob_data_request(e, now),
    hci.SimplePairingComplete: lambda core, e, now: core.ssp.on_simple_pairing_complete(e, now),
    hci.PinCodeRequest: lambda core, e, now: core.ssp.on_pin_code_request(e, now),
    hci.KeypressNotification: lambda core, e, now: core.ssp.on_keypress_notification(e, now),
    hci.LeLongTermKeyRequest: lambda core, e, now: core.le.on_long_term_key_request(e, now),
}

SECURITY_EVENTS: tuple[type, ...] = tuple(_EVENT_HANDLERS)
"""The HCI events BTM hands to the security core."""
