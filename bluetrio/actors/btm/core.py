"""The BTM core: dispatches HCI events, command answers, timers and requests to the module
that owns them, and keeps the ACL database and device records (Bluedroid's
``btm_ble_conn_complete`` → ``btm_sec_alloc_dev`` → ``btm_acl_created`` flow).

Values from the wire are checked before they become enums; one that is out of range on an
event of a live link affects that link only (it is logged and the link disconnected).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bluetrio import crypto
from bluetrio.actors.btm.bredr import BrEdrManager
from bluetrio.actors.btm.bringup import bringup_sequence, scan_enable_value
from bluetrio.actors.btm.commands import CommandIssuer, CommandOutcome, SequenceRunner
from bluetrio.actors.btm.config import StackConfig
from bluetrio.actors.btm.devices import DeviceRecords
from bluetrio.actors.btm.le import LeManager
from bluetrio.actors.btm.links import AclDatabase
from bluetrio.actors.btm.privacy import LocalPrivacy
from bluetrio.actors.btm.remote_features import RemoteFeatureReads
from bluetrio.actors.btm.security import SECURITY_EVENTS, SecurityCore
from bluetrio.actors.btm.security_policy import EncryptionMode
from bluetrio.actors.btm.timer_owners import (
    BringUpTimer,
    InquiryTimer,
    LeConnectTimer,
    PageTimer,
    RemoteNameTimer,
    RpaRotationTimer,
    SecurityTimer,
)
from bluetrio.actors.effects import (
    CancelTimer,
    ConnectionFaultInd,
    Effects,
    Emit,
    Send,
    StartTimer,
    TimerExpired,
    TimerKey,
)
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.address import Address, AddressType
from bluetrio.messages import btm as btm_service
from bluetrio.messages import hci
from bluetrio.messages.base import Message
from bluetrio.messages.btm import (
    AclLink,
    AdvertiseReq,
    AdvertiseStopReq,
    BtmCnf,
    ConnectCancelReq,
    ConnectCnf,
    ConnectionUpdateReq,
    ConnectReq,
    ControllerFailedInd,
    ControllerReadyInd,
    DisconnectReq,
    InquiryCancelReq,
    InquiryReq,
    LinkChangedInd,
    LinkDownInd,
    LinkTransport,
    LinkUpInd,
    LoadBondsReq,
    LocalIdentityInd,
    ReadRemoteFeaturesReq,
    RemoteFeaturesCnf,
    RemoteNameCancelReq,
    RemoteNameReq,
    Role,
    ScanReq,
    ScanStopReq,
    SetConnectionPolicyReq,
    SetDiscoverableReq,
    StartBringUpReq,
)
from bluetrio.messages.btm_security import SecurityMessage
from bluetrio.messages.controller_info import ControllerInfo
from bluetrio.messages.hci_service import (
    AclLinkOpenedInd,
    ControllerErrorInd,
    HciCommandCnf,
    HciCommandReq,
    HciEventInd,
)

logger = logging.getLogger(__name__)

HARDWARE_FAILURE = 0x03  # Vol 1 Part F 1.3
BRINGUP_TIMER = TimerKey(BringUpTimer(), "deadline")
UNKNOWN_CONNECTION_ID = 0x02
COMMAND_DISALLOWED = 0x0C
CONNECTION_ALREADY_EXISTS = 0x0B
UNSPECIFIED_ERROR = 0x1F
ENCRYPTION_ENABLED = 0x01  # Connection_Complete Encryption_Enabled (Vol 4 Part E 7.7.3)
LOCAL_TEARDOWN_REASON = 0x13  # Remote User Terminated Connection (Vol 4 Part E 7.1.6)
LINK_TYPE_ACL = 0x01

# Events BTM notes without acting on them (no feature of this stack depends on them yet).
NOTED_EVENTS: tuple[type[hci.HciEvent], ...] = (
    hci.ModeChange, hci.MaxSlotsChange, hci.PageScanRepetitionModeChange,
    hci.LinkSupervisionTimeoutChanged,
    hci.ReadRemoteVersionInformationComplete, hci.ChangeConnectionLinkKeyComplete,
    hci.DataBufferOverflow, hci.HardwareError, hci.LeDataLengthChange, hci.LePhyUpdateComplete,
    hci.LeChannelSelectionAlgorithm, hci.LeScanTimeout, hci.LeScanRequestReceived,
    hci.LeDirectedAdvertisingReport,
)  # fmt: skip


def role_from_wire(value: int) -> Role | None:
    """Role (Vol 4 Part E 7.7.65.1) or New_Role (7.7.18); None for a reserved value."""
    try:
        return Role(value)
    except ValueError:
        return None


class BtmCore:
    name = Layer.BTM

    def __init__(
        self,
        config: StackConfig | None = None,
        *,
        security: SecurityCore | None = None,
        smp: bool = False,
    ) -> None:
        self.config = config or StackConfig()
        self.commands = CommandIssuer()
        self.links = AclDatabase()
        self.devices = DeviceRecords(self.config.device_records)
        self.info: ControllerInfo | None = None
        self.privacy: LocalPrivacy | None = None
        # Our IRK (Vol 3 Part H 2.4.2.1): made at bring-up on LE, for our RPAs and for SMP
        # to distribute; the stored bonds bring back the one distributed before.
        self.local_irk: bytes | None = None
        self.le = LeManager(self.commands, self.devices, self.own_address)
        self.bredr = BrEdrManager(self.commands, self.devices)
        self.bredr.policy = self.config.connection_policy
        self.remote_features = RemoteFeatureReads(
            self.commands, lambda handle, pages: self._changed(handle, remote_features=pages)
        )
        self._bringup: SequenceRunner | None = None
        self._disconnect_waiters: dict[int, list[tuple[str, int]]] = {}
        self._update_waiters: dict[int, list[tuple[str, int]]] = {}
        # link_id of each handle hci opened whose Connection Complete is still to come.
        self._opened: dict[int, int] = {}
        # ``smp``: the stack runs an SMP layer, which BTM serves for LE security.
        self.security = security or SecurityCore(
            commands=self.commands, config=self.config.security, smp=smp,
            remember_identity=self._remember_identity,
        )  # fmt: skip
        self._events: dict[type[hci.HciEvent], Callable[[Any, float], Effects]] = {
            hci.ConnectionComplete: self._on_bredr_connection_complete,
            hci.LeConnectionComplete: self._on_le_connection_complete,
            hci.LeEnhancedConnectionComplete: self._on_le_connection_complete,
            hci.LeEnhancedConnectionCompleteV2: self._on_le_connection_complete,
            hci.DisconnectionComplete: self._on_disconnection_complete,
            hci.LeAdvertisingReport: _ignore_now(self.le.on_advertising_report),
            hci.LeExtendedAdvertisingReport: _ignore_now(self.le.on_advertising_report),
            hci.LeAdvertisingSetTerminated: self._on_advertising_set_terminated,
            hci.InquiryResult: _ignore_now(self.bredr.on_inquiry_result),
            hci.InquiryResultWithRssi: _ignore_now(self.bredr.on_inquiry_result),
            hci.ExtendedInquiryResult: _ignore_now(self.bredr.on_inquiry_result),
            hci.InquiryComplete: _ignore_now(self.bredr.on_inquiry_complete),
            hci.RemoteNameRequestComplete: _ignore_now(self.bredr.on_remote_name),
            hci.ConnectionRequest: _ignore_now(self.bredr.on_connection_request),
            hci.RoleChange: self._on_role_change,
            hci.ReadRemoteSupportedFeaturesComplete: self._on_remote_features,
            hci.ReadRemoteExtendedFeaturesComplete: self._on_remote_features,
            hci.LeReadRemoteFeaturesComplete: self._on_remote_features,
            hci.RemoteHostSupportedFeaturesNotification: self._on_host_features,
            hci.LeConnectionUpdateComplete: self._on_connection_update_complete,
            hci.LeRemoteConnectionParameterRequest: self._on_parameter_request,
            **{kind: self._on_security_event for kind in SECURITY_EVENTS},
            **{kind: self._on_noted_event for kind in NOTED_EVENTS},
        }
        self._requests: dict[type[Message], Callable[[str, Any, float], Effects]] = {
            StartBringUpReq: self._start_bringup,
            LoadBondsReq: self._load_bonds,
            AdvertiseReq: self.le.advertise,
            AdvertiseStopReq: self.le.stop_advertising,
            ScanReq: self.le.scan,
            ScanStopReq: self.le.stop_scan,
            ConnectReq: self._connect,
            ConnectCancelReq: self._cancel_connect,
            DisconnectReq: self._disconnect,
            ReadRemoteFeaturesReq: self._read_remote_features,
            ConnectionUpdateReq: self._update_connection,
            InquiryReq: self.bredr.start_inquiry,
            InquiryCancelReq: self.bredr.cancel_inquiry,
            RemoteNameCancelReq: self.bredr.cancel_name_request,
            RemoteNameReq: self.bredr.request_name,
            SetConnectionPolicyReq: self._set_policy,
            SetDiscoverableReq: self._set_discoverable,
        }
        # Declared from the dispatch tables above, so the declaration cannot drift from what
        # the core does. Owning HciEvent itself takes every event no other layer owns (unknown
        # codes included): they are logged in _dispatch, never lost.
        self.spec = LayerSpec(
            Layer.BTM,
            handles=(
                *self._requests, *self.security.message_types, ControllerErrorInd,
                ConnectionFaultInd,
            ),
            hci_events=(*self._events, hci.HciEvent),
            # hci emits it just before the Connection Complete: the link's number (link_id).
            subscribes=(AclLinkOpenedInd,),
            emits=(HciCommandReq, *btm_service.INDICATIONS, *self.security.emitted_types),
        )  # fmt: skip

    # -- entry point ------------------------------------------------------------------------
    def handle(self, sender: str, message: Message, now: float) -> Effects:
        effects = self._dispatch(sender, message, now)
        if self.privacy is not None and self.privacy.pending is not None and self.le.radio_idle:
            effects = effects + self.privacy.apply_pending()
        return effects

    def _dispatch(self, sender: str, message: Message, now: float) -> Effects:
        match message:
            case AclLinkOpenedInd(handle=handle, link_id=link_id):
                self._opened[handle] = link_id
                return []
            case HciEventInd(event=event):
                handler = self._events.get(type(event))
                if handler is None:
                    logger.info("btm: %s has no handler; ignored", type(event).__name__)
                    return []
                return handler(event, now)
            case HciCommandCnf():
                return self.commands.on_confirmation(message, now)
            case TimerExpired():
                return self._on_timer(message, now)
            case ControllerErrorInd():
                return self._on_controller_error(message, now)
            case ConnectionFaultInd(handle=handle):
                return self.commands.send(hci.Disconnect(handle, LOCAL_TEARDOWN_REASON))
            case SecurityMessage():
                return self.security.on_message(sender, message, now)
        request = self._requests.get(type(message))
        if request is not None:
            return request(sender, message, now)
        logger.warning("btm: unexpected %s from %s; ignored", message.summary(), sender)
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        # The runtime also sends us ConnectionFaultInd, which disconnects the link; the
        # database entry goes when the controller reports the disconnection.
        logger.error("btm: connection 0x%04X faulted: %s", handle, reason)
        return []

    # -- bring-up ----------------------------------------------------------------------------
    def _start_bringup(self, sender: str, message: Message, now: float) -> Effects:
        if self._bringup is not None and self._bringup.active:
            self._bringup.abandon()
        self.info = None
        self._bringup = SequenceRunner(
            self.commands, bringup_sequence(self.config), self._on_bringup_done,
            self._on_bringup_failed, optional_timeout=self.config.optional_command_timeout,
        )  # fmt: skip
        deadline = StartTimer(BRINGUP_TIMER, now + self.config.bringup_timeout)
        return [deadline, *self._bringup.start(now)]

    @property
    def bringup_step(self) -> str:
        """Where bring-up is, in words (for an error when it does not finish)."""
        if self._bringup is None:
            return "bring-up was never asked for"
        step = self._bringup.current_step
        if step is not None:
            return f"no answer to {step}"
        return "finished" if self.info is not None else "failed"

    def _on_bringup_timeout(self, now: float) -> Effects:
        if self._bringup is None or not self._bringup.active:
            return []
        reason = (
            f"bring-up did not finish within {self.config.bringup_timeout:g} s "
            f"({self.bringup_step})"
        )
        self._bringup.abandon()
        return [Emit(ControllerFailedInd(reason))]

    def _on_bringup_done(self, info: ControllerInfo, now: float) -> Effects:
        self.info = info
        for note in info.notes:
            logger.info("btm: bring-up: %s", note)
        effects: Effects = []
        self.privacy = None
        if info.le_supported:
            self.le.choose_family(info.le_extended_commands)
            if self.local_irk is None:  # kept over a new bring-up (a controller error)
                self.local_irk = self.config.local_irk or crypto.random_bytes(16)
            static = self.config.static_address
            if self.config.privacy:
                self.privacy = LocalPrivacy(
                    self.local_irk, self.config.rpa_rotation, self.commands.send
                )
                effects += self.privacy.start(now, self.le.radio_idle)
            elif static is not None:
                # Our static random address on the air (Vol 6 Part B 1.3.2.1).
                effects += self.commands.send(hci.LeSetRandomAddress(static), self._log_failure)
            effects.append(Emit(LocalIdentityInd(self.identity_address, self.local_irk)))
        return [CancelTimer(BRINGUP_TIMER), *effects, Emit(ControllerReadyInd(info))]

    def _on_bringup_failed(self, outcome: CommandOutcome, now: float) -> Effects:
        reason = f"bring-up failed: {outcome.describe_with_status()}"
        if isinstance(outcome.command, hci.VendorWriteBdAddr):
            reason = (
                f"the controller did not take the address {outcome.command.bd_addr} (it needs "
                f"the vendor Write_BD_ADDR command, opcode 0x{hci.VendorWriteBdAddr.OPCODE:04X}"
                f", as bluetrio's virtual controller has): {outcome.describe_with_status()}"
            )
        return [CancelTimer(BRINGUP_TIMER), Emit(ControllerFailedInd(reason))]

    def _on_controller_error(self, error: ControllerErrorInd, now: float) -> Effects:
        logger.error("btm: controller error (%s); bringing it up again", error.description)
        effects = self.le.reset() + self.bredr.reset()
        for link in self.links.clear():
            effects += self._link_gone(link, HARDWARE_FAILURE, now)
        return effects + self._start_bringup(Layer.HCI, error, now)

    def _load_bonds(self, sender: str, request: LoadBondsReq, now: float) -> Effects:
        for bond in request.bonds:
            self.devices.remember_bond(bond.address, bond.irk, bond.link_address)
        effects: Effects = [Send(sender, BtmCnf(request.token))]
        stored = request.local_irk
        if stored is None or self.local_irk is None or stored == self.local_irk:
            return effects
        if self.config.local_irk is not None:
            logger.warning("btm: the bonds hold another IRK of ours than the configured one")
            return effects
        # The peers bonded with us resolve our RPAs with the IRK we gave them: keep it.
        self.local_irk = stored
        effects.append(Emit(LocalIdentityInd(self.identity_address, stored)))
        if self.privacy is not None:
            self.privacy.irk = stored
            effects += self.privacy.rotate(now, self.le.radio_idle)
        return effects

    def _remember_identity(
        self, identity: Address, irk: bytes | None, link_address: Address | None
    ) -> None:
        """A new LE bond: its IRK resolves the peer's private addresses from now on (Vol 3
        Part C 10.8.2.3), and the address it bonded over names it too, so it is known when
        it reconnects with a new RPA or the same static address."""
        self.devices.remember_bond(identity, irk, link_address)

    def own_address(self) -> Address:
        """The address we transmit with on LE now: our RPA, our static random address, or
        the public address (Vol 6 Part B 1.3)."""
        if self.privacy is not None and self.privacy.address is not None:
            return self.privacy.address
        if self.config.static_address is not None and self.privacy is None:
            return self.config.static_address.with_type(AddressType.RANDOM)
        return self._public_address()

    @property
    def identity_address(self) -> Address:
        """The identity address SMP distributes (Vol 3 Part H 3.6.5)."""
        static = self.config.static_address
        if static is not None and self.config.static_identity:
            return static.with_type(AddressType.RANDOM)
        return self._public_address()

    def _public_address(self) -> Address:
        public = self.info.address if self.info is not None else Address(bytes(6))
        return public.with_type(AddressType.PUBLIC)

    def _local_link_address(
        self,
        event: hci.LeConnectionComplete | hci.LeEnhancedConnectionComplete,
        role: Role,
        own: Address | None,
    ) -> Address:
        """Our address on a new LE link (Vol 4 Part E 7.7.65.10): the RPA the controller
        generated, else the one LE_Create_Connection or the advertising named."""
        rpa = getattr(event, "local_resolvable_private_address", None)
        if isinstance(rpa, Address) and any(rpa.value):
            return Address(rpa.value, AddressType.RANDOM)
        if own is not None:
            return own
        if role is Role.PERIPHERAL and self.le.advertising_address is not None:
            return self.le.advertising_address
        return self.own_address()

    # -- timers --------------------------------------------------------------------------------
    def _on_timer(self, expired: TimerExpired, now: float) -> Effects:
        match expired.key.owner:
            case LeConnectTimer():
                return self.le.on_connect_timeout(now)
            case BringUpTimer():
                return self._on_bringup_timeout(now)
            case RpaRotationTimer() if self.privacy is not None:
                return self.privacy.rotate(now, self.le.radio_idle)
            case PageTimer(address=address):
                return self.bredr.on_page_timeout(address, now)
            case InquiryTimer():
                return self.bredr.on_inquiry_timeout(now)
            case RemoteNameTimer(address=address):
                return self.bredr.on_remote_name_timeout(address, now)
            case SecurityTimer():
                return self.security.on_timer(expired, now)
        logger.debug("btm: stale timer %s", expired.key)
        return []

    # -- requests --------------------------------------------------------------------------------
    def _connect(self, sender: str, request: ConnectReq, now: float) -> Effects:
        if self.links.by_address(request.address, request.transport) is not None:
            return [
                Send(
                    sender,
                    ConnectCnf(
                        request.token, 0x0B, None, f"already connected to {request.address}"
                    ),
                )
            ]
        if request.transport is LinkTransport.LE:
            return self.le.connect(sender, request, now)
        return self.bredr.connect(sender, request, now)

    def _cancel_connect(self, sender: str, request: ConnectCancelReq, now: float) -> Effects:
        if request.address in self.bredr.pages:
            return self.bredr.cancel(sender, request, now)
        return self.le.cancel(sender, request, now)

    def _disconnect(self, sender: str, request: DisconnectReq, now: float) -> Effects:
        if request.handle not in self.links:
            return [
                Send(
                    sender,
                    BtmCnf(request.token, UNKNOWN_CONNECTION_ID, f"no link 0x{request.handle:04X}"),
                )
            ]
        self._disconnect_waiters.setdefault(request.handle, []).append((sender, request.token))

        def on_status(outcome: CommandOutcome, at: float) -> Effects:
            if outcome.ok:
                return []
            waiters = self._disconnect_waiters.pop(request.handle, [])
            return [Send(s, outcome.confirmation(t)) for s, t in waiters]

        return self.commands.send(hci.Disconnect(request.handle, request.reason), on_status)

    def _read_remote_features(
        self, sender: str, request: ReadRemoteFeaturesReq, now: float
    ) -> Effects:
        link = self.links.get(request.handle)
        if link is None:
            why = f"no link 0x{request.handle:04X}"
            return [Send(sender, RemoteFeaturesCnf(request.token, UNKNOWN_CONNECTION_ID, why))]
        return self.remote_features.read(sender, request.token, link)

    def _update_connection(self, sender: str, request: ConnectionUpdateReq, now: float) -> Effects:
        link = self.links.get(request.handle)
        if link is None or link.transport is not LinkTransport.LE:
            return [
                Send(
                    sender,
                    BtmCnf(
                        request.token, UNKNOWN_CONNECTION_ID, f"no LE link 0x{request.handle:04X}"
                    ),
                )
            ]
        self._update_waiters.setdefault(request.handle, []).append((sender, request.token))
        p = request.parameters
        command = hci.LeConnectionUpdate(
            request.handle, p.interval_min, p.interval_max, p.latency, p.supervision_timeout, 0, 0
        )

        def on_status(outcome: CommandOutcome, at: float) -> Effects:
            if outcome.ok:
                return []
            waiters = self._update_waiters.pop(request.handle, [])
            return [Send(s, outcome.confirmation(t)) for s, t in waiters]

        return self.commands.send(command, on_status)

    def _set_policy(self, sender: str, request: SetConnectionPolicyReq, now: float) -> Effects:
        self.bredr.policy = request.policy
        return [Send(sender, BtmCnf(request.token))]

    def _set_discoverable(self, sender: str, request: SetDiscoverableReq, now: float) -> Effects:
        def answer(outcome: CommandOutcome, at: float) -> Effects:
            return [Send(sender, outcome.confirmation(request.token))]

        value = scan_enable_value(request.discoverable, request.connectable)
        return self.commands.send(hci.WriteScanEnable(value), answer)

    # -- links -------------------------------------------------------------------------------------
    def _on_le_connection_complete(
        self, event: hci.LeConnectionComplete | hci.LeEnhancedConnectionComplete, now: float
    ) -> Effects:
        role = role_from_wire(event.role)
        if role is None and event.status == 0:
            # Which side we are decides who may do what on the link (Vol 6 Part B 4.5):
            # unknown, the link cannot be used. An attempt of ours it may answer fails.
            _, effects = self.le.take_pending_connect(UNSPECIFIED_ERROR, True)
            why = f"connection complete with reserved Role {event.role}"
            return effects + self._distrust(event.connection_handle, why)
        pending, effects = self.le.take_pending_connect(event.status, role is Role.CENTRAL)
        if event.status != 0 or role is None:
            return effects
        address: Address = event.peer_address
        peer_rpa = getattr(event, "peer_resolvable_private_address", None)
        identity: Address | None = None
        if address.type >= AddressType.PUBLIC_IDENTITY:  # resolved by the controller (7.7.65.10)
            identity = address.with_type(AddressType(address.type - 2))
            if peer_rpa is not None and any(peer_rpa.value):
                address = Address(peer_rpa.value, AddressType.RANDOM)
        else:
            resolved, was_resolved = self.le.peer_identity(address)
            identity = resolved if was_resolved else None
            bonded = self.devices.bonded_as(address) if identity is None else None
            if bonded is not None:
                identity = bonded.address  # it bonded over this address with that identity
        local = self._local_link_address(
            event, role, pending.own_address if pending is not None else None
        )
        if role is Role.PERIPHERAL:
            self.le.on_connected_as_peripheral()
        link = AclLink(
            event.connection_handle, LinkTransport.LE, address, role, identity,
            interval=event.connection_interval, latency=event.peripheral_latency,
            supervision_timeout=event.supervision_timeout,
            link_id=self._opened.pop(event.connection_handle, 0), local_address=local,
        )  # fmt: skip
        effects += self._link_created(link, now)
        if pending is not None:
            effects.append(Send(pending.sender, ConnectCnf(pending.request.token, 0, link)))
        elif role is Role.CENTRAL and self.le.take_abandoned(event.peer_address):
            return effects + self._drop_unwanted(link)
        return effects

    def _on_bredr_connection_complete(self, event: hci.ConnectionComplete, now: float) -> Effects:
        if event.link_type != LINK_TYPE_ACL:
            logger.info("btm: synchronous connection to %s ignored (no SCO support)", event.bd_addr)
            return []
        page, effects = self.bredr.take_page(event.bd_addr, event.status)
        if event.status != 0:
            if page is None and not effects:
                logger.info(
                    "btm: incoming connection from %s failed (0x%02X)", event.bd_addr, event.status
                )
            return effects
        late = page is None and self.bredr.take_abandoned(event.bd_addr)
        role = Role.CENTRAL if page is not None or late else Role.PERIPHERAL
        link = AclLink(
            event.connection_handle, LinkTransport.BR_EDR, event.bd_addr, role,
            encrypted=event.encryption_enabled == ENCRYPTION_ENABLED,
            link_id=self._opened.pop(event.connection_handle, 0),
        )  # fmt: skip
        effects += self._link_created(link, now)
        if page is not None:
            effects.append(Send(page.sender, ConnectCnf(page.request.token, 0, link)))
        elif late:
            return effects + self._drop_unwanted(link)
        return effects

    def _drop_unwanted(self, link: AclLink) -> Effects:
        """A link that completed an attempt given up on (its caller was told it failed)."""
        logger.info("btm: link to %s came after its attempt was given up; disconnecting", link.peer)
        return self.commands.send(hci.Disconnect(link.handle, LOCAL_TEARDOWN_REASON))

    def _link_created(self, link: AclLink, now: float) -> Effects:
        """``btm_acl_created``: the device record, the ACL entry, then the indications."""
        effects: Effects = []
        old = self.links.remove(link.handle)
        if old is not None:
            # The controller reused a live handle: the old link is gone (as HCI tells the ACL
            # owner), and what waited on it is answered rather than left behind.
            logger.warning("btm: connection complete for live handle 0x%04X", link.handle)
            gone = "the controller reused the link's handle"
            effects += [Send(s, BtmCnf(t)) for s, t in self._disconnect_waiters.pop(old.handle, [])]
            effects += [
                Send(s, BtmCnf(t, CONNECTION_ALREADY_EXISTS, gone))
                for s, t in self._update_waiters.pop(old.handle, [])
            ]
            effects += self._link_gone(old, CONNECTION_ALREADY_EXISTS, now)
        self.links.add(link)
        record = self.devices.obtain(link.peer)
        if link.identity is not None and link.address != link.identity:
            record.last_private_address = link.address
        self.devices.attach_handle(record, link.handle)
        effects += self.security.on_link_up(link, now)
        return effects + self._to_link_users(LinkUpInd(link))

    def _to_link_users(self, message: Message) -> Effects:
        return [Emit(message)]

    def _on_disconnection_complete(self, event: hci.DisconnectionComplete, now: float) -> Effects:
        handle = event.connection_handle
        waiters = self._disconnect_waiters.pop(handle, [])
        if event.status != 0:
            error = "disconnection failed"
            return [Send(s, BtmCnf(t, event.status, error)) for s, t in waiters]
        effects: Effects = [Send(s, BtmCnf(t)) for s, t in waiters]
        self._update_waiters.pop(handle, None)
        link = self.links.remove(handle)
        if link is None:
            logger.info("btm: disconnection of unknown handle 0x%04X ignored", handle)
            return effects
        return effects + self._link_gone(link, event.reason, now)

    def _link_gone(self, link: AclLink, reason: int, now: float) -> Effects:
        self.devices.detach_handle(link.handle)
        effects = self.remote_features.on_link_down(link)
        effects += self.security.on_link_down(link.handle, reason, now)
        return effects + self._to_link_users(LinkDownInd(link.handle, reason, link.link_id))

    def _changed(self, handle: int, **changes: Any) -> Effects:
        link = self.links.update(handle, **changes)
        if link is None:
            return []
        return self._to_link_users(LinkChangedInd(link))

    def _on_role_change(self, event: hci.RoleChange, now: float) -> Effects:
        if event.status != 0:
            return []
        link = self.links.by_address(event.bd_addr, LinkTransport.BR_EDR)
        if link is None:
            return []
        role = role_from_wire(event.new_role)
        if role is None:
            why = f"Role_Change with reserved New_Role {event.new_role}"
            return self._distrust(link.handle, why)
        return self._changed(link.handle, role=role)

    def _distrust(self, handle: int, why: str) -> Effects:
        """An event of link ``handle`` made its state unknowable: disconnect that link."""
        logger.warning("btm: link 0x%04X: %s; disconnecting it", handle, why)
        return self.commands.send(hci.Disconnect(handle, LOCAL_TEARDOWN_REASON), self._log_failure)

    def _on_remote_features(
        self,
        event: hci.ReadRemoteSupportedFeaturesComplete
        | hci.ReadRemoteExtendedFeaturesComplete
        | hci.LeReadRemoteFeaturesComplete,
        now: float,
    ) -> Effects:
        link = self.links.get(event.connection_handle)
        if link is None:
            return []
        return self.remote_features.on_event(event, link)

    def _on_host_features(
        self, event: hci.RemoteHostSupportedFeaturesNotification, now: float
    ) -> Effects:
        self.remote_features.on_host_features(event)
        return []

    def _on_connection_update_complete(
        self, event: hci.LeConnectionUpdateComplete, now: float
    ) -> Effects:
        waiters = self._update_waiters.pop(event.connection_handle, [])
        error = None if event.status == 0 else f"connection update failed (0x{event.status:02X})"
        effects: Effects = [Send(s, BtmCnf(t, event.status, error)) for s, t in waiters]
        if event.status == 0:
            effects += self._changed(
                event.connection_handle, interval=event.connection_interval,
                latency=event.peripheral_latency, supervision_timeout=event.supervision_timeout,
            )  # fmt: skip
        return effects

    def _on_parameter_request(
        self, event: hci.LeRemoteConnectionParameterRequest, now: float
    ) -> Effects:
        # Accept the peer's request as asked (Vol 4 Part E 7.8.31); the controller has
        # already checked the values are within the spec's ranges.
        reply = hci.LeRemoteConnectionParameterRequestReply(
            event.connection_handle, event.interval_min, event.interval_max, event.max_latency,
            event.timeout, 0, 0,
        )  # fmt: skip
        return self.commands.send(reply, self._log_failure)

    def _on_advertising_set_terminated(
        self, event: hci.LeAdvertisingSetTerminated, now: float
    ) -> Effects:
        self.le.advertising = None
        return []

    def _on_security_event(self, event: hci.HciEvent, now: float) -> Effects:
        effects: Effects = []
        if isinstance(event, hci.EncryptionChange | hci.EncryptionChangeV2) and event.status == 0:
            key_size = getattr(event, "encryption_key_size", 0)
            # A reserved Encryption_Enabled is no encryption the host knows of; the security
            # core disconnects such a link.
            mode = EncryptionMode.from_wire(event.encryption_enabled)
            encrypted = mode is not None and mode is not EncryptionMode.OFF
            effects += self._changed(
                event.connection_handle, encrypted=encrypted, key_size=key_size
            )
        return effects + self.security.on_hci_event(event, now)

    def _on_noted_event(self, event: hci.HciEvent, now: float) -> Effects:
        logger.debug("btm: noted %s", type(event).__name__)
        return []

    @staticmethod
    def _log_failure(outcome: CommandOutcome, now: float) -> Effects:
        if not outcome.ok:
            logger.info("btm: %s", outcome.describe_with_status())
        return []


def _ignore_now(handler: Callable[[Any], Effects]) -> Callable[[Any, float], Effects]:
    def call(event: Any, now: float) -> Effects:
        return handler(event)

    return call
