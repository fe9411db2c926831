"""BR/EDR security: Secure Simple Pairing, link keys, authentication and encryption policy.

The sans-IO security core of the device manager. BTM forwards the security HCI events
(:meth:`SecurityCore.on_hci_event`), every :class:`SecurityMessage` and the expiry of the
core's timers (:meth:`SecurityCore.on_message`), and link up/down. It answers with effects:
HCI commands (through BTM's :class:`CommandIssuer`), prompts and bonds for the application
(``bluetrio.pairing`` runs the delegate and the key store on the app side), timers.

Policy, with the attacks each rule stops:

* Pairing started by a peer is refused (0x18 Pairing Not Allowed) unless the stack is
  pairable (Vol 3 Part C 4.3); pairing the application asked for is always allowed.
* A link key is used only when it came from a completed Secure Simple Pairing or from a bond;
  PIN (legacy) pairing and debug keys are refused. Encryption on a link with no such key
  disconnects it.
* After every encryption the key size is checked against ``min_encryption_key_size``
  (KNOB, CVE-2019-9506) and the link disconnected when shorter.
* Secure Connections Only mode (Vol 3 Part C 5.2.2.8): only authenticated P-256 keys and
  AES-CCM encryption; Just Works is declined.
* A new key weaker than the bond (unauthenticated over authenticated, P-192 over
  Secure Connections) is not stored and the link is disconnected (BIAS CVE-2020-10135,
  BLURtooth CVE-2020-15802). A Secure Connections key must be used with AES-CCM; a link
  encrypted with E0 under it is a downgrade and is disconnected.
* Mutual authentication (BIAS role switch): legacy authentication proves only the side that
  answers the challenge. When a peer authenticated and encrypted the link itself, so that we
  only proved *our* key, and the key is not a Secure Connections key (whose AES-CCM
  authentication is mutual, Vol 2 Part C 4.2.1.4), we challenge the peer in turn
  (Authentication_Requested) before the link counts as secured; a peer that cannot answer,
  e.g. an impersonator that switched roles to avoid being challenged, is disconnected.

Disconnections for security reasons use 0x05 Authentication Failure, one of the reasons
HCI_Disconnect allows (Vol 4 Part E 7.1.6).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

import attrs

from bluetrio.actors.btm.commands import CommandIssuer, CommandOutcome
from bluetrio.actors.effects import (
    CancelTimer,
    Effects,
    ReleaseTimers,
    Send,
    StartTimer,
    TimerExpired,
    TimerKey,
)
from bluetrio.address import Address, AddressType
from bluetrio.bonds import Bond, BondStrength, LinkKey, LinkKeyType, Transport
from bluetrio.crypto import reverse
from bluetrio.messages import hci
from bluetrio.messages.base import Message
from bluetrio.messages.btm import AclLink, LinkTransport
from bluetrio.messages.btm_security import (
    MAX_KEY_SIZE,
    MAX_PASSKEY,
    AssociationModel,
    BondRefusedInd,
    IoCapability,
    LinkSecuredInd,
    OobDataInd,
    OobDataRsp,
    PairCnf,
    PairReq,
    PasskeyDisplayInd,
    PasskeyEntryInd,
    PasskeyEntryRsp,
    PeerOobData,
    PromptCancelledInd,
    SecurityServiceReq,
    StoreBondReq,
    StoreBondRsp,
    UserConfirmInd,
    UserConfirmRsp,
    bredr_bond,
)
from bluetrio.messages.hci.status import describe_status

logger = logging.getLogger(__name__)

APP = "app"
DEFAULT_PROMPT_TIMEOUT = 30.0  # seconds; the LMP response timeout is 30 s (Vol 2 Part C 4.1)
# Authentication and encryption of one PairReq, user prompts included.
DEFAULT_PROCEDURE_TIMEOUT = 90.0

# HCI status and reason codes (Vol 1 Part F 1.3).
SUCCESS = 0x00
UNKNOWN_CONNECTION = 0x02
AUTHENTICATION_FAILURE = 0x05
PIN_OR_KEY_MISSING = 0x06
CONNECTION_TIMEOUT = 0x08
PAIRING_NOT_ALLOWED = 0x18
UNSPECIFIED_ERROR = 0x1F

# Encryption_Enabled (Vol 4 Part E 7.7.8).
ENCRYPTION_OFF = 0x00
ENCRYPTION_AES_CCM = 0x02

# Authentication_Requirements (Vol 4 Part E 7.1.29): bit 0 is MITM protection required.
MITM_REQUIRED = 0x01
NO_BONDING = 0x00
DEDICATED_BONDING = 0x02
GENERAL_BONDING = 0x04

# Keys Secure Simple Pairing produces (Vol 4 Part E 7.7.24); the others come from PIN
# pairing, unit keys or debug mode (Vol 2 Part H 7.6) and are never used.
SSP_KEY_TYPES = frozenset(
    {
        LinkKeyType.UNAUTHENTICATED_P192,
        LinkKeyType.AUTHENTICATED_P192,
        LinkKeyType.UNAUTHENTICATED_P256,
        LinkKeyType.AUTHENTICATED_P256,
    }
)


def peer_key(address: Address) -> Address:
    """BR/EDR addresses are public (Vol 2 Part B 1.2); events and bonds may type them apart."""
    return address.with_type(AddressType.PUBLIC)


def key_strength(key: LinkKey) -> BondStrength:
    return BondStrength(key.type.is_authenticated, key.type.is_secure_connections, MAX_KEY_SIZE)


def association_model(
    local_io: int, local_auth: int, peer_io: int, peer_auth: int
) -> AssociationModel:
    """The model a User_Confirmation_Request stands for (Vol 3 Part C Table 5.7).

    Only two DisplayYesNo devices compare numbers, and only when one side asked for MITM
    protection (Vol 2 Part H 7.1); every other confirmation request is Just Works.
    """
    mitm = bool((local_auth | peer_auth) & MITM_REQUIRED)
    both_yes_no = local_io == peer_io == IoCapability.DISPLAY_YES_NO
    return (
        AssociationModel.NUMERIC_COMPARISON if mitm and both_yes_no else AssociationModel.JUST_WORKS
    )


class Procedure(enum.Enum):
    """Where a link's security procedure stands."""

    AUTHENTICATING = "authenticating"  # our Authentication_Requested (PairReq)
    ENCRYPTING = "encrypting"  # our Set_Connection_Encryption
    CHECKING_KEY_SIZE = "checking key size"  # Read_Encryption_Key_Size
    VERIFYING_PEER = "verifying peer"  # challenging a peer that only challenged us


class PromptKind(enum.Enum):
    CONFIRM = "confirm"
    PASSKEY = "passkey"
    OOB = "oob"

    @property
    def noun(self) -> str:
        return {"confirm": "confirmation", "passkey": "passkey", "oob": "OOB data"}[self.value]


@attrs.define
class Pairing:
    """Secure Simple Pairing with one peer, as far as this host has seen it."""

    local_io: int | None = None
    local_auth: int | None = None
    peer_io: int | None = None
    peer_auth: int | None = None
    model: AssociationModel | None = None
    oob_data: PeerOobData | None = None
    oob_asked: bool = False
    completed: bool = False


@attrs.define
class Prompt:
    peer: Address
    kind: PromptKind


@attrs.define
class LinkRecord:
    """Security state of one BR/EDR link."""

    handle: int
    peer: Address
    key_type: LinkKeyType | None = None  # the key the controller holds for this link
    used_stored_key: bool = False
    peer_verified: bool = False  # the peer proved the key to us (SSP, or our challenge)
    model: AssociationModel | None = None  # of the pairing on this link, if any
    encryption: int = ENCRYPTION_OFF
    key_size: int | None = None
    secured: bool = False
    closing: bool = False
    procedure: Procedure | None = None
    waiting: list[int] = attrs.Factory(list)  # tokens of PairReq
    # Why the procedure is failing when the status alone does not say (a prompt timed out).
    failure: str | None = None


def _timer_owner(kind: str, what: object) -> tuple[str, str, object]:
    return ("security", kind, what)


class SecurityCore:
    """The security core of BTM (see the module docstring)."""

    def __init__(
        self,
        *,
        commands: CommandIssuer,
        config: Any,
        links: object | None = None,
        devices: object | None = None,
        prompt_timeout: float = DEFAULT_PROMPT_TIMEOUT,
        procedure_timeout: float = DEFAULT_PROCEDURE_TIMEOUT,
    ) -> None:
        # ``links`` and ``devices`` are BTM's tables; this core keeps what it needs of a link
        # from on_link_up, so it reads neither.
        del links, devices
        self.commands = commands
        self.config = config
        self.prompt_timeout = prompt_timeout
        self.procedure_timeout = procedure_timeout
        self.local_address: Address | None = None
        self.io_capability = IoCapability.NO_INPUT_NO_OUTPUT
        self.delegate_attached = False
        self.provides_oob_data = False
        self.link_keys: dict[Address, LinkKey] = {}
        self.le_bonds: dict[Address, Bond] = {}
        self._replaced_keys: dict[Address, LinkKey | None] = {}
        self._links: dict[int, LinkRecord] = {}
        self._le_links: dict[int, Address] = {}
        self._pairings: dict[Address, Pairing] = {}
        self._prompts: dict[int, Prompt] = {}
        self._next_prompt = 1
        self._event_handlers: dict[type, Callable[[Any, float], Effects]] = {
            hci.LinkKeyRequest: self._on_link_key_request,
            hci.LinkKeyNotification: self._on_link_key_notification,
            hci.IoCapabilityRequest: self._on_io_capability_request,
            hci.IoCapabilityResponse: self._on_io_capability_response,
            hci.UserConfirmationRequest: self._on_user_confirmation_request,
            hci.UserPasskeyRequest: self._on_user_passkey_request,
            hci.UserPasskeyNotification: self._on_user_passkey_notification,
            hci.RemoteOobDataRequest: self._on_remote_oob_data_request,
            hci.SimplePairingComplete: self._on_simple_pairing_complete,
            hci.AuthenticationComplete: self._on_authentication_complete,
            hci.EncryptionChange: self._on_encryption_change,
            hci.EncryptionChangeV2: self._on_encryption_change,
            hci.EncryptionKeyRefreshComplete: self._on_key_refresh_complete,
            hci.PinCodeRequest: self._on_pin_code_request,
            hci.KeypressNotification: self._on_keypress_notification,
            hci.LeLongTermKeyRequest: self._on_le_long_term_key_request,
        }
        self._message_handlers: dict[type, Callable[[Any, float], Effects]] = {
            SecurityServiceReq: self._on_service,
            PairReq: self._on_pair_request,
            UserConfirmRsp: self._on_user_confirm_response,
            PasskeyEntryRsp: self._on_passkey_response,
            OobDataRsp: self._on_oob_response,
            StoreBondRsp: self._on_store_bond_response,
            TimerExpired: self._on_timer,
        }

    # -- entry points (the BTM delegation contract) ------------------------------------------
    def on_hci_event(self, event: object, now: float) -> Effects:
        handler = self._event_handlers.get(type(event))
        if handler is None:
            logger.warning("security: ignoring %s, not a security event", type(event).__name__)
            return []
        return handler(event, now)

    def on_message(self, sender: str, message: Message, now: float) -> Effects:
        handler = self._message_handlers.get(type(message))
        if handler is None:
            logger.warning("security: ignoring %s from %s", message.summary(), sender)
            return []
        return handler(message, now)

    def on_link_up(self, link: AclLink, now: float) -> Effects:
        if link.transport is LinkTransport.LE:
            self._le_links[link.handle] = link.peer
        else:
            self._links[link.handle] = LinkRecord(link.handle, peer_key(link.peer))
        return []

    def on_link_down(self, handle: int, reason: int, now: float) -> Effects:
        self._le_links.pop(handle, None)
        record = self._links.pop(handle, None)
        if record is None:
            return []
        effects: Effects = [ReleaseTimers(_timer_owner("link", handle))]
        effects += self._answer_waiting(
            record, reason or UNSPECIFIED_ERROR, f"link lost (reason 0x{reason:02X})"
        )
        if not any(other.peer == record.peer for other in self._links.values()):
            effects += self._forget_pairing(record.peer, "link lost")
        return effects

    # -- queries for other BTM modules -------------------------------------------------------
    def is_secured(self, handle: int) -> bool:
        record = self._links.get(handle)
        return record is not None and record.secured

    # -- the app-side service ----------------------------------------------------------------
    def _on_service(self, message: SecurityServiceReq, now: float) -> Effects:
        self.local_address = message.local_address
        self.io_capability = message.io_capability.for_bredr
        self.delegate_attached = True
        self.provides_oob_data = message.provides_oob_data
        for bond in message.bonds:
            if bond.transport is Transport.BR_EDR and bond.link_key is not None:
                self.link_keys[peer_key(bond.peer_address)] = bond.link_key
            elif bond.transport is Transport.LE:
                self.le_bonds[bond.peer_address] = bond
        return []

    def _on_store_bond_response(self, message: StoreBondRsp, now: float) -> Effects:
        peer = peer_key(message.peer)
        previous = self._replaced_keys.pop(peer, None)
        if message.stored:
            return []
        logger.error("security: bond with %s not stored: %s", peer, message.error)
        if not message.weaker:
            return []
        # The store holds a stronger bond than this core knew of: keep using the old one.
        if previous is None:
            self.link_keys.pop(peer, None)
        else:
            self.link_keys[peer] = previous
        return [Send(APP, BondRefusedInd(peer, message.error or "weaker than the stored bond"))]

    # -- PairReq: authenticate, encrypt, check ---------------------------------------------------
    def _on_pair_request(self, message: PairReq, now: float) -> Effects:
        record = self._record_for(message.address)
        if record is None or record.closing:
            return [
                Send(
                    APP,
                    PairCnf(
                        message.token,
                        message.address,
                        UNKNOWN_CONNECTION,
                        error=f"no BR/EDR link to {message.address}",
                    ),
                )
            ]
        if record.secured and record.procedure is None:
            record.waiting.append(message.token)
            return self._answer_waiting(record, SUCCESS, None)
        record.waiting.append(message.token)
        if record.procedure is not None:
            return []  # the running procedure answers every waiting request
        record.procedure = Procedure.AUTHENTICATING
        record.model = None
        key = TimerKey(_timer_owner("link", record.handle), "procedure")
        effects: Effects = [StartTimer(key, now + self.procedure_timeout)]
        effects += self.commands.send(
            hci.AuthenticationRequested(connection_handle=record.handle),
            self._command_step(record.handle),
        )
        return effects

    def _command_step(self, handle: int) -> Callable[[CommandOutcome, float], Effects]:
        """A continuation that fails the link's procedure when its command failed."""

        def then(outcome: CommandOutcome, now: float) -> Effects:
            record = self._links.get(handle)
            if outcome.ok or record is None or record.procedure is None:
                return []
            return self._answer_waiting(record, outcome.status, outcome.describe())

        return then

    def _on_authentication_complete(self, event: Any, now: float) -> Effects:
        record = self._links.get(event.connection_handle)
        if record is None or record.closing:
            logger.info("security: authentication complete for unknown link; ignored")
            return []
        procedure = record.procedure
        if procedure not in (Procedure.AUTHENTICATING, Procedure.VERIFYING_PEER):
            logger.info("security: authentication complete 0x%04X not awaited", record.handle)
            return []
        if event.status != SUCCESS:
            if procedure is Procedure.VERIFYING_PEER:
                return self._disconnect(record, "the peer failed to prove its link key")
            return self._answer_waiting(record, event.status, record.failure)
        record.peer_verified = True
        if procedure is Procedure.VERIFYING_PEER:
            return self._secured(record)
        if record.encryption != ENCRYPTION_OFF:
            # Already encrypted (by the peer): check it as if we had started it.
            return self._check_encryption(record, record.key_size)
        record.procedure = Procedure.ENCRYPTING
        return self.commands.send(
            hci.SetConnectionEncryption(connection_handle=record.handle, encryption_enable=1),
            self._command_step(record.handle),
        )

    def _on_encryption_change(self, event: Any, now: float) -> Effects:
        record = self._links.get(event.connection_handle)
        if record is None or record.closing:
            return []
        if event.status != SUCCESS:
            if record.procedure is Procedure.ENCRYPTING:
                return self._answer_waiting(record, event.status, "encryption failed")
            logger.info("security: encryption change failed 0x%02X", event.status)
            return []
        record.encryption = event.encryption_enabled
        if record.encryption == ENCRYPTION_OFF:
            record.secured = False
            record.key_size = None
            if record.procedure is not None:
                return self._answer_waiting(
                    record, AUTHENTICATION_FAILURE, "encryption was turned off"
                )
            return []
        key_size = getattr(event, "encryption_key_size", None)
        return self._check_encryption(record, key_size)

    def _check_encryption(self, record: LinkRecord, key_size: int | None) -> Effects:
        key_type = record.key_type
        if key_type is None:
            return self._disconnect(
                record, "encrypted with a key that no completed pairing or bond produced"
            )
        aes_ccm = record.encryption == ENCRYPTION_AES_CCM
        if self.config.secure_connections_only and not (
            aes_ccm and key_type is LinkKeyType.AUTHENTICATED_P256
        ):
            return self._disconnect(
                record,
                f"Secure Connections Only mode refuses {key_type.name} keys and "
                f"encryption mode 0x{record.encryption:02X}",
            )
        if key_type.is_secure_connections and not aes_ccm:
            return self._disconnect(
                record, "a Secure Connections key used without AES-CCM (downgrade, BIAS)"
            )
        if key_size is not None:
            return self._check_key_size(record, key_size)
        record.procedure = Procedure.CHECKING_KEY_SIZE
        handle = record.handle

        def then(outcome: CommandOutcome, now: float) -> Effects:
            current = self._links.get(handle)
            if current is None or current.closing:
                return []
            if not outcome.ok:
                # Without the size the link cannot be trusted (fail closed).
                return self._disconnect(
                    current, f"{outcome.describe_with_status()}: key size unknown"
                )
            return self._check_key_size(current, outcome.returned().key_size)

        return self.commands.send(hci.ReadEncryptionKeySize(connection_handle=handle), then)

    def _check_key_size(self, record: LinkRecord, key_size: int) -> Effects:
        record.key_size = key_size
        minimum = self.config.min_encryption_key_size
        if key_size < minimum:
            return self._disconnect(
                record,
                f"encryption key size {key_size} is below the minimum of {minimum} octets "
                "(KNOB, CVE-2019-9506)",
            )
        assert record.key_type is not None
        if not record.peer_verified and record.key_type.is_secure_connections:
            record.peer_verified = True  # AES-CCM authentication is mutual (Vol 2 Part C 4.2.1.4)
        if not record.peer_verified:
            record.procedure = Procedure.VERIFYING_PEER
            return self.commands.send(
                hci.AuthenticationRequested(connection_handle=record.handle),
                self._verification_step(record.handle),
            )
        return self._secured(record)

    def _verification_step(self, handle: int) -> Callable[[CommandOutcome, float], Effects]:
        def then(outcome: CommandOutcome, now: float) -> Effects:
            record = self._links.get(handle)
            if outcome.ok or record is None or record.closing:
                return []
            return self._disconnect(
                record, f"cannot challenge the peer: {outcome.describe_with_status()}"
            )

        return then

    def _secured(self, record: LinkRecord) -> Effects:
        assert record.key_type is not None and record.key_size is not None
        record.secured = True
        effects: Effects = [
            Send(
                APP,
                LinkSecuredInd(
                    record.handle,
                    record.peer,
                    record.key_type,
                    record.key_size,
                    record.used_stored_key,
                ),
            )
        ]
        return effects + self._answer_waiting(record, SUCCESS, None)

    def _answer_waiting(self, record: LinkRecord, status: int, error: str | None) -> Effects:
        """End the link's procedure and answer every PairReq waiting on it."""
        record.procedure = None
        record.failure = None
        effects: Effects = [CancelTimer(TimerKey(_timer_owner("link", record.handle), "procedure"))]
        ok = status == SUCCESS
        for token in record.waiting:
            cnf = PairCnf(
                token,
                record.peer,
                status,
                handle=record.handle,
                model=record.model,
                key_type=record.key_type if ok else None,
                used_stored_key=record.used_stored_key if ok else False,
                key_size=record.key_size if ok else None,
                error=error,
            )
            effects.append(Send(APP, cnf))
        record.waiting.clear()
        return effects

    def _disconnect(self, record: LinkRecord, why: str) -> Effects:
        logger.warning("security: disconnecting %s (0x%04X): %s", record.peer, record.handle, why)
        record.closing = True
        record.secured = False
        effects = self._answer_waiting(record, AUTHENTICATION_FAILURE, why)
        effects += self._forget_pairing(record.peer, why)
        return effects + self.commands.send(
            hci.Disconnect(connection_handle=record.handle, reason=AUTHENTICATION_FAILURE)
        )

    def _disconnect_peer(self, peer: Address, why: str) -> Effects:
        record = self._record_for(peer)
        if record is None:
            logger.warning("security: %s: %s (no link to disconnect)", peer, why)
            return self._forget_pairing(peer, why)
        return self._disconnect(record, why)

    def _record_for(self, address: Address) -> LinkRecord | None:
        peer = peer_key(address)
        for record in self._links.values():
            if record.peer == peer and not record.closing:
                return record
        return None

    def _locally_requested(self, peer: Address) -> bool:
        record = self._record_for(peer)
        return record is not None and bool(record.waiting)

    def _on_key_refresh_complete(self, event: Any, now: float) -> Effects:
        if event.status != SUCCESS:
            logger.warning("security: key refresh on 0x%04X failed", event.connection_handle)
        return []

    # -- link keys -------------------------------------------------------------------------
    def _on_link_key_request(self, event: Any, now: float) -> Effects:
        peer = peer_key(event.bd_addr)
        key = self.link_keys.get(peer)
        sc_only = self.config.secure_connections_only
        if key is not None and sc_only and key.type is not LinkKeyType.AUTHENTICATED_P256:
            logger.info("security: %s bond is %s; not used in SC-only mode", peer, key.type)
            key = None
        if key is None:
            return self.commands.send(hci.LinkKeyRequestNegativeReply(bd_addr=event.bd_addr))
        record = self._record_for(peer)
        if record is not None:
            record.key_type = key.type
            record.used_stored_key = True
        return self.commands.send(
            hci.LinkKeyRequestReply(bd_addr=event.bd_addr, link_key=reverse(key.value))
        )

    def _on_link_key_notification(self, event: Any, now: float) -> Effects:
        peer = peer_key(event.bd_addr)
        pairing = self._pairings.pop(peer, None)
        if pairing is None or not pairing.completed:
            return self._disconnect_peer(peer, "link key notified without a completed pairing")
        try:
            key_type = LinkKeyType(event.key_type)
        except ValueError:
            key_type = None
        if key_type not in SSP_KEY_TYPES:
            return self._disconnect_peer(peer, f"link key type {event.key_type} is not accepted")
        assert key_type is not None
        key = LinkKey(reverse(event.link_key), key_type)
        record = self._record_for(peer)
        if record is not None:
            record.key_type = key_type
            record.used_stored_key = False
            record.peer_verified = True  # both sides proved the DHKey (Vol 2 Part H 7.2.5)
            record.model = pairing.model
        if self.config.secure_connections_only and key_type is not LinkKeyType.AUTHENTICATED_P256:
            return self._disconnect_peer(
                peer, f"Secure Connections Only mode refuses a {key_type.name} key"
            )
        previous = self.link_keys.get(peer)
        if previous is not None:
            shortfalls = key_strength(key).shortfalls(key_strength(previous))
            if shortfalls:
                why = "; ".join(shortfalls)
                effects: Effects = [Send(APP, BondRefusedInd(peer, why))]
                return effects + self._disconnect_peer(peer, f"bond kept: {why}")
        if not self._bonding(pairing):
            return []
        self.link_keys[peer] = key
        if self.local_address is None:
            logger.info("security: no pairing service; bond with %s kept in memory only", peer)
            return []
        self._replaced_keys[peer] = previous
        return [Send(APP, StoreBondReq(bredr_bond(self.local_address, peer, key.value, key_type)))]

    @staticmethod
    def _bonding(pairing: Pairing) -> bool:
        """Both sides asked to bond (Authentication_Requirements above 0x01, 7.1.29)."""
        local = pairing.local_auth if pairing.local_auth is not None else GENERAL_BONDING
        peer = pairing.peer_auth if pairing.peer_auth is not None else GENERAL_BONDING
        return local >= DEDICATED_BONDING and peer >= DEDICATED_BONDING

    def _on_pin_code_request(self, event: Any, now: float) -> Effects:
        # Legacy PIN pairing gives no protection against eavesdroppers (Vol 2 Part H 7).
        logger.info("security: refusing PIN pairing with %s", event.bd_addr)
        return self.commands.send(hci.PinCodeRequestNegativeReply(bd_addr=event.bd_addr))

    def _on_le_long_term_key_request(self, event: Any, now: float) -> Effects:
        handle = event.connection_handle
        peer = self._le_links.get(handle)
        bond = None if peer is None else self.le_bonds.get(peer)
        if bond is not None:
            candidates = [bond.local_keys.ltk]
            if bond.secure_connections:
                candidates.append(bond.peer_keys.ltk)  # both sides hold the LE SC key
            for ltk in candidates:
                if (
                    ltk is not None
                    and ltk.ediv == event.encrypted_diversifier
                    and ltk.rand == reverse(event.random_number)
                    and ltk.key_size >= self.config.min_encryption_key_size
                ):
                    return self.commands.send(
                        hci.LeLongTermKeyRequestReply(
                            connection_handle=handle, long_term_key=reverse(ltk.value)
                        )
                    )
        return self.commands.send(hci.LeLongTermKeyRequestNegativeReply(connection_handle=handle))

    # -- Secure Simple Pairing --------------------------------------------------------------
    def _on_io_capability_request(self, event: Any, now: float) -> Effects:
        peer = peer_key(event.bd_addr)
        locally_requested = self._locally_requested(peer)
        if not (self.config.pairable or locally_requested):
            logger.info("security: not pairable; refusing pairing with %s", peer)
            self._pairings.pop(peer, None)
            return self.commands.send(
                hci.IoCapabilityRequestNegativeReply(
                    bd_addr=event.bd_addr, reason=PAIRING_NOT_ALLOWED
                )
            )
        pairing = self._pairings.setdefault(peer, Pairing())
        pairing.local_io = self.io_capability
        mitm = self.config.secure_connections_only or self.io_capability is not (
            IoCapability.NO_INPUT_NO_OUTPUT
        )
        if locally_requested:
            bonding = DEDICATED_BONDING
        elif pairing.peer_auth is not None and pairing.peer_auth < DEDICATED_BONDING:
            bonding = NO_BONDING  # answer a non-bonding peer in kind
        else:
            bonding = GENERAL_BONDING
        pairing.local_auth = bonding | (MITM_REQUIRED if mitm else 0)
        if self.provides_oob_data and not pairing.oob_asked:
            pairing.oob_asked = True
            return self._prompt(peer, PromptKind.OOB, OobDataInd, now)
        return self._reply_io_capability(peer, pairing)

    def _reply_io_capability(self, peer: Address, pairing: Pairing) -> Effects:
        assert pairing.local_io is not None and pairing.local_auth is not None
        return self.commands.send(
            hci.IoCapabilityRequestReply(
                bd_addr=peer,
                io_capability=pairing.local_io,
                oob_data_present=int(pairing.oob_data is not None),
                authentication_requirements=pairing.local_auth,
            )
        )

    def _on_io_capability_response(self, event: Any, now: float) -> Effects:
        pairing = self._pairings.setdefault(peer_key(event.bd_addr), Pairing())
        pairing.peer_io = event.io_capability
        pairing.peer_auth = event.authentication_requirements
        return []

    def _pairing_in_progress(self, address: Address) -> Pairing | None:
        pairing = self._pairings.get(peer_key(address))
        if pairing is None or pairing.local_auth is None:
            logger.warning("security: pairing step for %s without IO capabilities", address)
            return None
        return pairing

    def _on_user_confirmation_request(self, event: Any, now: float) -> Effects:
        peer = peer_key(event.bd_addr)
        pairing = self._pairing_in_progress(peer)

        def refuse() -> Effects:
            return self.commands.send(
                hci.UserConfirmationRequestNegativeReply(bd_addr=event.bd_addr)
            )

        if pairing is None:
            return refuse()
        assert pairing.local_io is not None and pairing.local_auth is not None
        pairing.model = association_model(
            pairing.local_io,
            pairing.local_auth,
            pairing.peer_io if pairing.peer_io is not None else IoCapability.NO_INPUT_NO_OUTPUT,
            pairing.peer_auth or 0,
        )
        if pairing.model is AssociationModel.NUMERIC_COMPARISON:
            return self._prompt(
                peer,
                PromptKind.CONFIRM,
                lambda i, p: UserConfirmInd(i, p, event.numeric_value),
                now,
            )
        if self.config.secure_connections_only:
            logger.info("security: Just Works with %s refused in SC-only mode", peer)
            return refuse()
        stored = self.link_keys.get(peer)
        if stored is not None and stored.type.is_authenticated:
            # An unauthenticated pairing would replace an authenticated bond (BLURtooth).
            logger.warning("security: Just Works with bonded %s refused", peer)
            return refuse()
        if self._locally_requested(peer) or not self.delegate_attached:
            # The user asked for this pairing, or a headless device (NoInputNoOutput) made
            # itself pairable: nothing to ask.
            return self.commands.send(hci.UserConfirmationRequestReply(bd_addr=event.bd_addr))
        return self._prompt(peer, PromptKind.CONFIRM, lambda i, p: UserConfirmInd(i, p, None), now)

    def _on_user_passkey_request(self, event: Any, now: float) -> Effects:
        peer = peer_key(event.bd_addr)
        pairing = self._pairing_in_progress(peer)
        if pairing is None or not self.delegate_attached:
            return self.commands.send(hci.UserPasskeyRequestNegativeReply(bd_addr=event.bd_addr))
        pairing.model = AssociationModel.PASSKEY_ENTRY
        return self._prompt(peer, PromptKind.PASSKEY, PasskeyEntryInd, now)

    def _on_user_passkey_notification(self, event: Any, now: float) -> Effects:
        peer = peer_key(event.bd_addr)
        pairing = self._pairing_in_progress(peer)
        if pairing is None:
            return []
        pairing.model = AssociationModel.PASSKEY_ENTRY
        return [Send(APP, PasskeyDisplayInd(peer, event.passkey))]

    def _on_keypress_notification(self, event: Any, now: float) -> Effects:
        logger.debug("security: keypress %d from %s", event.notification_type, event.bd_addr)
        return []

    def _on_remote_oob_data_request(self, event: Any, now: float) -> Effects:
        peer = peer_key(event.bd_addr)
        pairing = self._pairing_in_progress(peer)
        data = None if pairing is None else pairing.oob_data
        if pairing is None or data is None:
            return self.commands.send(hci.RemoteOobDataRequestNegativeReply(bd_addr=event.bd_addr))
        pairing.model = AssociationModel.OUT_OF_BAND
        absent = bytes(16)  # "no data for this curve" in the extended reply (7.1.53)
        if data.c_256 is not None and data.r_256 is not None:
            command: object = hci.RemoteOobExtendedDataRequestReply(
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

    def _on_simple_pairing_complete(self, event: Any, now: float) -> Effects:
        peer = peer_key(event.bd_addr)
        pairing = self._pairings.get(peer)
        if pairing is None:
            logger.info("security: pairing complete for %s, which was not pairing", peer)
            return []
        record = self._record_for(peer)
        if record is not None:
            record.model = pairing.model
        if event.status == SUCCESS:
            pairing.completed = True
            return []
        why = f"pairing failed: {describe_status(event.status)}"
        logger.info("security: pairing with %s: %s", peer, why)
        return self._forget_pairing(peer, why)

    def _forget_pairing(self, peer: Address, why: str) -> Effects:
        self._pairings.pop(peer, None)
        effects: Effects = []
        for prompt_id, prompt in list(self._prompts.items()):
            if prompt.peer == peer:
                del self._prompts[prompt_id]
                effects.append(CancelTimer(self._prompt_timer(prompt_id)))
                effects.append(Send(APP, PromptCancelledInd(prompt_id, why)))
        return effects

    # -- prompts to the delegate ------------------------------------------------------------
    @staticmethod
    def _prompt_timer(prompt_id: int) -> TimerKey:
        return TimerKey(_timer_owner("prompt", prompt_id), "answer")

    def _prompt(
        self,
        peer: Address,
        kind: PromptKind,
        build: Callable[[int, Address], Message],
        now: float,
    ) -> Effects:
        prompt_id = self._next_prompt
        self._next_prompt += 1
        self._prompts[prompt_id] = Prompt(peer, kind)
        return [
            Send(APP, build(prompt_id, peer)),
            StartTimer(self._prompt_timer(prompt_id), now + self.prompt_timeout),
        ]

    def _take_prompt(self, prompt_id: int, kind: PromptKind) -> Prompt | None:
        prompt = self._prompts.get(prompt_id)
        if prompt is None or prompt.kind is not kind:
            logger.info("security: answer to prompt %d, which is not open; ignored", prompt_id)
            return None
        del self._prompts[prompt_id]
        return prompt

    def _on_user_confirm_response(self, message: UserConfirmRsp, now: float) -> Effects:
        prompt = self._take_prompt(message.prompt_id, PromptKind.CONFIRM)
        if prompt is None:
            return []
        effects: Effects = [CancelTimer(self._prompt_timer(message.prompt_id))]
        return effects + self._answer_confirmation(prompt.peer, message.accepted is True)

    def _answer_confirmation(self, peer: Address, accepted: bool) -> Effects:
        if accepted:
            return self.commands.send(hci.UserConfirmationRequestReply(bd_addr=peer))
        return self.commands.send(hci.UserConfirmationRequestNegativeReply(bd_addr=peer))

    def _on_passkey_response(self, message: PasskeyEntryRsp, now: float) -> Effects:
        prompt = self._take_prompt(message.prompt_id, PromptKind.PASSKEY)
        if prompt is None:
            return []
        effects: Effects = [CancelTimer(self._prompt_timer(message.prompt_id))]
        return effects + self._answer_passkey(prompt.peer, message.passkey)

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

    def _on_oob_response(self, message: OobDataRsp, now: float) -> Effects:
        prompt = self._take_prompt(message.prompt_id, PromptKind.OOB)
        if prompt is None:
            return []
        effects: Effects = [CancelTimer(self._prompt_timer(message.prompt_id))]
        return effects + self._continue_after_oob(prompt.peer, message.data)

    def _continue_after_oob(self, peer: Address, data: PeerOobData | None) -> Effects:
        pairing = self._pairings.get(peer)
        if pairing is None:
            return []
        pairing.oob_data = data if isinstance(data, PeerOobData) else None
        return self._reply_io_capability(peer, pairing)

    def _on_timer(self, message: TimerExpired, now: float) -> Effects:
        owner = message.key.owner
        if not (isinstance(owner, tuple) and len(owner) == 3 and owner[0] == "security"):
            return []
        _, kind, what = owner
        if kind == "prompt" and isinstance(what, int):
            prompt = self._prompts.pop(what, None)
            if prompt is None:
                return []
            logger.info("security: %s prompt for %s unanswered", prompt.kind.value, prompt.peer)
            record = self._record_for(prompt.peer)
            if record is not None:
                record.failure = (
                    f"the {prompt.kind.noun} prompt timed out "
                    f"(no answer within {self.prompt_timeout:g} s)"
                )
            effects: Effects = [Send(APP, PromptCancelledInd(what, "no answer in time"))]
            if prompt.kind is PromptKind.CONFIRM:
                return effects + self._answer_confirmation(prompt.peer, False)
            if prompt.kind is PromptKind.PASSKEY:
                return effects + self._answer_passkey(prompt.peer, None)
            return effects + self._continue_after_oob(prompt.peer, None)
        if kind == "link" and isinstance(what, int):
            record = self._links.get(what)
            if record is not None and record.procedure is not None:
                return self._disconnect(record, "security procedure did not finish in time")
        return []
