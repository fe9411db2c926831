"""The Security Manager core (Core 5.4 Vol 3 Part H): sans-IO, driven by the generic shell.

It registers the LE SMP fixed channel with L2CAP (0x0006; Vol 3 Part A 2.1), and the BR/EDR
one (0x0007) when it derives keys across transports, keeps one
:class:`~bluetrio.actors.smp.pairing.PairingContext` per LE link (and one
:class:`~bluetrio.actors.smp.bredr.BrEdrPairingContext` per BR/EDR link, which checks its
own PDUs) from the moment btm reports it up until it goes down (an LE PDU of a link hci
opened that comes before btm's report waits for it), and checks every received LE PDU in
this order before a handler sees it:

1. the link's SMP timed out: nothing more is processed until it reconnects (3.4);
2. the code is one SMP defines, else Command Not Supported (3.3, 3.5.5);
3. the code is in the allowed set of the current phase, else Unspecified Reason;
4. the length is the one the code fixes, else Invalid Parameters (3.3);
5. every value decodes (no reserved value), else Invalid Parameters;

and only then hands it to the pairing. btm owns HCI and the bonds: the core asks it to
encrypt (``LeEncryptReq``, ``LeResponderKeyReq``), to prompt the user, and to keep bonds.
"""

from __future__ import annotations

import logging

from bluetrio import crypto
from bluetrio.actors.effects import Effects, Emit, ReleaseTimers, Send, TimerExpired, TimerKey
from bluetrio.actors.smp.attempts import RepeatedAttempts
from bluetrio.actors.smp.bredr import BrEdrPairingContext, security_wait_key
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.pairing import (
    LocalIdentity,
    PairingContext,
    sent_wait_key,
    timeout_key,
)
from bluetrio.actors.smp.states import Phase
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.address import Address
from bluetrio.crypto import EcdhKeyPair
from bluetrio.errors import SmpDecodeError
from bluetrio.messages.base import Message
from bluetrio.messages.btm import (
    ControllerReadyInd,
    LinkChangedInd,
    LinkDownInd,
    LinkUpInd,
    LocalIdentityInd,
)
from bluetrio.messages.btm_security import (
    LeEncryptCnf,
    LeEncryptionChangedInd,
    LeEncryptReq,
    LeResponderKeyReq,
)
from bluetrio.messages.hci_service import AclLinkClosedInd, AclLinkOpenedInd, LinkTransport
from bluetrio.messages.l2cap import FixedCid, InformationType
from bluetrio.messages.l2cap_service import (
    L2caCnf,
    L2caFixedChannelInd,
    L2caFixedDataCnf,
    L2caFixedDataInd,
    L2caFixedDataReq,
    L2caInfoCnf,
    L2caInfoReq,
    L2caRegisterFixedChannelReq,
)
from bluetrio.messages.smp import (
    PDU_CLASSES,
    PairingFailedReason,
    SmpCode,
    decode_pdu,
    pdu_length,
    split_pdu,
)
from bluetrio.messages.smp_service import (
    SmpBondInd,
    SmpBondRsp,
    SmpBrEdrSecurityInd,
    SmpKeypressInd,
    SmpKeypressReq,
    SmpPairCnf,
    SmpPairingInd,
    SmpPairReq,
    SmpPromptReq,
    SmpPromptRsp,
)

logger = logging.getLogger(__name__)

LE = LinkTransport.LE


def _handle_of(key: TimerKey) -> int:
    """The link of one of our timers (owner ("smp", handle)), -1 for another owner."""
    owner = key.owner
    return owner[1] if isinstance(owner, tuple) and isinstance(owner[1], int) else -1


# Tokens of the core's own requests to L2CAP.
_REGISTER_LE = 1
_REGISTER_BREDR = 2
# PDUs kept for a link hci opened whose LinkUpInd has not reached us yet: the peer's first
# PDU (a Security Request or Pairing Request sent as soon as it connects) travels hci →
# L2CAP → SMP while the connection event travels hci → btm → SMP. At most this many per
# link; more are dropped and counted.
EARLY_PDUS_PER_LINK = 4


class SmpCore:
    spec = LayerSpec(
        Layer.SMP,
        handles=(
            SmpPairReq,
            SmpPromptRsp,
            SmpKeypressReq,
            SmpBondRsp,
            LeEncryptCnf,
            L2caCnf,
            L2caFixedChannelInd,
            L2caFixedDataInd,
            L2caFixedDataCnf,
            L2caInfoCnf,
            SmpBrEdrSecurityInd,
        ),
        subscribes=(
            ControllerReadyInd,
            LocalIdentityInd,
            LinkUpInd,
            LinkChangedInd,
            LinkDownInd,
            LeEncryptionChangedInd,
            AclLinkOpenedInd,
            AclLinkClosedInd,
        ),
        emits=(
            L2caRegisterFixedChannelReq,
            L2caFixedDataReq,
            L2caInfoReq,
            LeEncryptReq,
            LeResponderKeyReq,
            SmpPairingInd,
            SmpBondInd,
            SmpPromptReq,
            SmpPairCnf,
            SmpKeypressInd,
        ),
    )

    def __init__(self, config: SmpConfig | None = None) -> None:
        self.config = config or SmpConfig()
        self.links: dict[int, PairingContext] = {}
        self.bredr_links: dict[int, BrEdrPairingContext] = {}
        self.registered_bredr = False
        self.attempts = RepeatedAttempts()
        self.local_address = Address(bytes(6))  # the controller's public address
        # Our identity address and IRK as btm tells them (LocalIdentityInd); until then the
        # public address and the configured IRK.
        self.identity_address: Address | None = None
        self.irk: bytes | None = None
        self.registered = False
        self._key_pair: EcdhKeyPair | None = None
        self._oob_random: bytes | None = None
        self.dropped_pdus = 0
        # Links hci opened (AclLinkOpenedInd) and btm has not reported up yet, with the PDUs
        # that came for them meanwhile; hci's AclLinkClosedInd ends them, so a late PDU of a
        # closed link is never kept for a new link on the same handle.
        self.opening: dict[int, list[bytes]] = {}

    # -- keys --------------------------------------------------------------------------------
    def key_pair(self) -> EcdhKeyPair:
        """Our P-256 key pair (Vol 3 Part H 2.3.5.6.1): the debug key only when configured."""
        if self._key_pair is None:
            if self.config.use_debug_key:
                self._key_pair = EcdhKeyPair.from_private(crypto.DEBUG_PRIVATE_KEY)
            else:
                self._key_pair = EcdhKeyPair.generate_p256()
        return self._key_pair

    def identity(self) -> LocalIdentity:
        """What we distribute as Identity Information and Identity Address Information."""
        address = self.identity_address or self.local_address
        return LocalIdentity(
            address, self.irk or self.config.identity_resolving_key, self.local_address
        )

    def local_oob_random(self) -> bytes:
        if self._oob_random is None:
            self._oob_random = crypto.random_bytes(16)
        return self._oob_random

    def local_oob_data(self) -> tuple[bytes, bytes]:
        """(r, C) to hand the peer out of band (2.3.5.6.4): C = f4(PKx, PKx, r, 0), MSB first."""
        x = self.key_pair().public_x
        r = self.local_oob_random()
        return r, crypto.f4(x, x, r, b"\x00")

    # -- entry points ------------------------------------------------------------------------
    def handle(self, sender: str, message: Message, now: float) -> Effects:
        match message:
            case L2caFixedDataInd(cid=FixedCid.SMP):
                return self._on_pdu(message.handle, message.payload, now)
            case L2caFixedDataCnf(cid=FixedCid.SMP):
                context = self.links.get(message.handle)
                return [] if context is None else context.on_sent(message.count)
            case L2caFixedDataInd(cid=FixedCid.SMP_BR_EDR):
                bredr = self.bredr_links.get(message.handle)
                if bredr is None:
                    self.dropped_pdus += 1
                    return []
                return bredr.on_pdu(message.payload, now)
            case SmpBrEdrSecurityInd():
                bredr = self.bredr_links.get(message.handle)
                if bredr is None:
                    return []
                return self._bredr_step(bredr, bredr.on_security(message, now))
            case L2caInfoCnf():
                bredr = self.bredr_links.get(message.handle)
                if bredr is None:
                    return []
                mask = None
                if message.result == 0 and message.error is None and len(message.data) >= 8:
                    mask = int.from_bytes(message.data[:8], "little")
                return bredr.on_peer_channels(mask, now)
            case SmpPairReq():
                return self._on_pair_request(sender, message, now)
            case SmpPromptRsp():
                context = self.links.get(message.handle)
                return [] if context is None else context.on_prompt(message, now)
            case SmpKeypressReq():
                context = self.links.get(message.handle)
                return [] if context is None else context.on_keypress(message.kind, now)
            case LeEncryptCnf():
                context = self.links.get(message.handle)
                return [] if context is None else context.on_encrypt_cnf(message, now)
            case LeEncryptionChangedInd():
                context = self.links.get(message.handle)
                if context is None:
                    return []
                return context.on_encryption_changed(
                    message.encrypted, message.status, message.key_size, now
                )
            case SmpBondRsp():
                if not message.accepted:
                    logger.warning(
                        "link 0x%04X: bond with %s not kept: %s",
                        message.handle,
                        message.peer,
                        message.reason,
                    )
                return []
            case TimerExpired(key=key) if key == security_wait_key(_handle_of(key)):
                bredr = self.bredr_links.get(_handle_of(key))
                return [] if bredr is None else bredr.security_wait_over(now)
            case TimerExpired(key=key) if key == sent_wait_key(_handle_of(key)):
                context = self.links.get(_handle_of(key))
                return [] if context is None else context.sent_wait_over(now)
            case TimerExpired(key=key) if key.name == "timeout":
                handle = key.owner[1] if isinstance(key.owner, tuple) else None
                if not isinstance(handle, int):
                    return []
                if handle in self.bredr_links:
                    return self.bredr_links[handle].timed_out(now)
                context = self.links.get(handle)
                return [] if context is None else context.timed_out(now)
            case LocalIdentityInd(address=address, irk=irk):
                self.identity_address, self.irk = address, irk
                return []
            case ControllerReadyInd():
                self.local_address = message.info.address
                return self._register(message)
            case LinkUpInd(link=link) if link.transport is LE:
                self.links[link.handle] = PairingContext(
                    link.handle,
                    link.role,
                    link.address,
                    link.local_address or self.local_address,
                    self.config,
                    self.key_pair,
                    self.local_oob_random,
                    self.attempts,
                    self.identity,
                    link_peer=link.peer,
                )
                effects: Effects = []
                for payload in self.opening.pop(link.handle, []):
                    effects += self._on_pdu(link.handle, payload, now)
                return effects
            case AclLinkOpenedInd(transport=LinkTransport.LE) if message.handle not in self.links:
                self.opening[message.handle] = []
                return []
            case AclLinkClosedInd():
                self.dropped_pdus += len(self.opening.pop(message.handle, []))
                return []
            case LinkUpInd(link=link) if self.registered_bredr and link.transport is not LE:
                self.bredr_links[link.handle] = BrEdrPairingContext(
                    link.handle, link.role, link.address, self.identity, self.config
                )
                return []
            case LinkChangedInd(link=link) if link.handle in self.bredr_links:
                self.bredr_links[link.handle].role = link.role  # a role switch (Vol 2 Part C)
                return []
            case LinkDownInd():
                return self.drop_connection(message.handle, "link down", now)
            case L2caCnf() if message.result != 0:
                logger.error("SMP fixed channel registration refused: %s", message.error)
                return []
            case _:
                return []

    def _register(self, ready: ControllerReadyInd) -> Effects:
        """The LE channel always; the BR/EDR one only when this stack derives keys over it
        and the controller runs BR/EDR Secure Connections: the Information Response lists
        what is registered (Vol 3 Part A 4.12), so a peer is invited only to what we run."""
        effects: Effects = []
        if not self.registered:
            self.registered = True
            effects.append(Emit(L2caRegisterFixedChannelReq(_REGISTER_LE, FixedCid.SMP)))
        info = ready.info
        if (
            self.config.derive_le_keys
            and not self.registered_bredr
            and info.bredr_supported
            and info.bredr_secure_connections
        ):
            self.registered_bredr = True
            effects.append(Emit(L2caRegisterFixedChannelReq(_REGISTER_BREDR, FixedCid.SMP_BR_EDR)))
        return effects

    def _bredr_step(self, context: BrEdrPairingContext, effects: Effects) -> Effects:
        """A central about to start asks the peer's fixed channels first (4.12)."""
        if context.wants_peer_channels():
            request = L2caInfoReq(context.handle, context.handle, InformationType.FIXED_CHANNELS)
            effects = [*effects, Emit(request)]
        return effects

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        self.dropped_pdus += len(self.opening.pop(handle, []))
        if self.bredr_links.pop(handle, None) is not None:
            return [ReleaseTimers(timeout_key(handle).owner)]
        context = self.links.pop(handle, None)
        if context is None:
            return []
        effects: Effects = [ReleaseTimers(timeout_key(handle).owner)]
        # A pairing that completed here, its last keys not yet confirmed sent, is answered:
        # our keys are kept; whether the peer got its last ones, the link cannot tell now.
        effects += context.held_answer
        pending = context.pending
        if pending is not None and pending.sender is not None:
            effects.append(
                Send(
                    pending.sender,
                    SmpPairCnf(pending.token, handle, 0x08, error=f"the link went down: {reason}"),
                )
            )
        return effects

    def _on_pair_request(self, sender: str, request: SmpPairReq, now: float) -> Effects:
        context = self.links.get(request.handle)
        if context is None:
            return [
                Send(
                    sender,
                    SmpPairCnf(
                        request.token, request.handle, 0x02, error="no LE link with this handle"
                    ),
                )
            ]
        return context.pair(sender, request.token, request.requirement, request.bond, now)

    def _on_pdu(self, handle: int, payload: bytes, now: float) -> Effects:
        context = self.links.get(handle)
        if context is None:
            kept = self.opening.get(handle)
            if kept is not None and len(kept) < EARLY_PDUS_PER_LINK:
                kept.append(payload)  # handled when btm's LinkUpInd comes
            else:
                self.dropped_pdus += 1
            return []
        # 1. After an SMP timeout nothing runs on the link until it reconnects (3.4).
        if context.phase is Phase.TIMED_OUT:
            self.dropped_pdus += 1
            return []
        try:
            code, data = split_pdu(payload)
        except SmpDecodeError as error:
            return context.fail(PairingFailedReason(error.reason), str(error), now)
        # 2. A code SMP does not define.
        if code not in PDU_CLASSES:
            return context.fail(
                PairingFailedReason.COMMAND_NOT_SUPPORTED, f"unknown SMP code 0x{code:02X}", now
            )
        # 3. A code the current phase does not expect; a stray Pairing Failed is not answered.
        if code not in context.expected:
            if code == SmpCode.PAIRING_FAILED:
                return []
            return context.fail(
                PairingFailedReason.UNSPECIFIED_REASON,
                f"{SmpCode(code).name} not expected in {context.phase.value}",
                now,
            )
        # 4. and 5. The length the code fixes, then the values.
        if len(data) != pdu_length(code):
            return context.fail(
                PairingFailedReason.INVALID_PARAMETERS,
                f"{SmpCode(code).name} with {len(data)} octets",
                now,
            )
        try:
            pdu = decode_pdu(payload)
        except SmpDecodeError as error:
            if code == SmpCode.PAIRING_FAILED:
                return context.fail(
                    PairingFailedReason.UNSPECIFIED_REASON,
                    f"the peer failed the pairing ({error})",
                    now,
                    send=False,
                )
            return context.fail(PairingFailedReason(error.reason), str(error), now)
        return context.receive(pdu, now)
