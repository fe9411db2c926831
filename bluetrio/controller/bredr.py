"""The BR/EDR baseband and link manager of the virtual controller (Core 5.4 Vol 2 Parts B, C).

Host-visible behaviour follows Vol 4 Part E: scan enables, inquiry with its three result
formats, paging and accepting connections (with role switch), remote name, features and
role commands. Security (authentication, pairing, encryption) lives in
:mod:`bluetrio.controller.bredr_security`, which reaches this feature for per-link state.
Where the spec leaves a choice, the behaviour is Root Canal's.
"""

from __future__ import annotations

import attrs

from bluetrio.address import Address
from bluetrio.controller.air import Frame, Link, LinkKind, Radio
from bluetrio.controller.bredr_frames import (
    FeaturesRequestFrame,
    FeaturesResponseFrame,
    InquiryFrame,
    InquiryResponseFrame,
    NameRequestFrame,
    NameResponseFrame,
    PageAcceptedFrame,
    PageFrame,
    PageRejectedFrame,
    PageWithdrawnFrame,
    RoleSwitchFrame,
)
from bluetrio.controller.config import Phy
from bluetrio.controller.connections import Connection, Role
from bluetrio.controller.controller import VirtualController
from bluetrio.controller.dispatch import (
    CommandError,
    Feature,
    Status,
    handles,
    receives,
    register_feature,
)
from bluetrio.controller.general import General, handle_of
from bluetrio.controller.timers import Timer
from bluetrio.messages import hci

SLOT_SECONDS = 0.000625  # baseband slot (Vol 2 Part B 1.1)
INQUIRY_LENGTH_UNIT_SECONDS = 1.28  # Inquiry_Length unit (Vol 4 Part E 7.1.1)
DEFAULT_PAGE_TIMEOUT_SLOTS = 0x2000  # 5.12 s (Vol 4 Part E 7.3.16)
DEFAULT_CONNECTION_ACCEPT_TIMEOUT_SLOTS = 0x1FA0  # 5.06 s (Vol 4 Part E 7.3.14)
DEFAULT_LINK_SUPERVISION_TIMEOUT_SLOTS = 0x7D00  # 20 s (Vol 4 Part E 7.3.42)
GENERAL_INQUIRY_LAP = 0x9E8B33  # GIAC (Assigned Numbers, Baseband)
LIMITED_INQUIRY_LAP = 0x9E8B00  # LIAC
EIR_LENGTH = 240
LOCAL_NAME_LENGTH = 248
LINK_TYPE_ACL = 0x01
# Page scan repetition mode R1 is what a scanner with the default interval reports.
PAGE_SCAN_REPETITION_MODE_R1 = 0x01
MAX_FEATURE_PAGE = 2

# Host-controlled bits of LMP features page 1 (Vol 2 Part C 3.3).
HOST_FEATURE_SSP = 1 << 0
HOST_FEATURE_SECURE_CONNECTIONS = 1 << 3
# Secure Connections (Controller Support), page 2 bit 8 (Vol 2 Part C 3.3).
CONTROLLER_FEATURE_SECURE_CONNECTIONS = 1 << 8

# Scan_Enable values (Vol 4 Part E 7.3.18) as (inquiry scan, page scan).
SCAN_ENABLE_BITS = {
    0x00: (False, False),
    0x01: (True, False),
    0x02: (False, True),
    0x03: (True, True),
}


class InquiryMode:
    """Inquiry_Mode values (Vol 4 Part E 7.3.50)."""

    STANDARD = 0x00
    WITH_RSSI = 0x01
    EXTENDED = 0x02


def require(
    condition: bool, status: int = Status.INVALID_HCI_COMMAND_PARAMETERS, **echo: object
) -> None:
    """Fail the command with ``status`` unless ``condition``; ``echo`` as in CommandError."""
    if not condition:
        raise CommandError(status, **echo)


def _scan_activity(interval: int, window: int) -> tuple[int, int]:
    # Interval 0x0012-0x1000 and even, window 0x0011 up to the interval (7.3.20, 7.3.22).
    require(0x0012 <= interval <= 0x1000 and interval % 2 == 0)
    require(0x0011 <= window <= interval)
    return interval, window


def flag(value: int) -> bool:
    """A 0x00/0x01 enable parameter (anything else is 0x12)."""
    require(value in (0, 1))
    return bool(value)


@attrs.define
class Inquiry:
    lap: int
    max_responses: int
    timer: Timer
    found: set[Address] = attrs.field(factory=set)


@attrs.define
class OutgoingPage:
    target: Address
    allow_role_switch: bool
    timer: Timer


@attrs.define
class IncomingPage:
    frame: PageFrame
    timer: Timer


@attrs.define(eq=False)
class BrEdrLink:
    """What the link manager keeps per BR/EDR connection."""

    connection: Connection
    feature_requests: list[int] = attrs.field(factory=list)
    link_policy: int = 0

    @property
    def peer(self) -> Address:
        return self.connection.peer_address


@register_feature
class BrEdr(Feature):
    """Inquiry, paging, connections and link manager queries (Vol 4 Part E 7.1-7.3)."""

    def __init__(self, controller: VirtualController) -> None:
        super().__init__(controller)
        self.reset()

    def reset(self) -> None:
        # The controller drops every pending timer on reset before calling this.
        self.inquiry_scan = False
        self.page_scan = False
        self.class_of_device = 0
        self.local_name = self.controller.config.local_name
        self.inquiry_mode = InquiryMode.STANDARD
        self.extended_inquiry_response = bytes(EIR_LENGTH)
        self.page_timeout = DEFAULT_PAGE_TIMEOUT_SLOTS
        self.connection_accept_timeout = DEFAULT_CONNECTION_ACCEPT_TIMEOUT_SLOTS
        self.page_scan_activity = (0x0800, 0x0012)
        self.inquiry_scan_activity = (0x1000, 0x0012)
        self.inquiry_scan_type = 0
        self.page_scan_type = 0
        self.authentication_enable = False
        self.default_link_policy = 0
        self.inquiry: Inquiry | None = None
        self.page: OutgoingPage | None = None
        self.incoming: dict[Address, IncomingPage] = {}
        self.name_requests: dict[Address, Timer] = {}
        self.links: dict[int, BrEdrLink] = {}

    def radio_busy(self) -> bool:
        return (
            self.inquiry is not None
            or self.page is not None
            or bool(self.incoming or self.name_requests)
        )

    # -- helpers -------------------------------------------------------------------------

    @property
    def address(self) -> Address:
        return self.controller.public_address

    @property
    def general(self) -> General:
        return self.controller.feature(General)

    def host_features(self) -> int:
        return self.general.host_features

    def set_host_feature(self, bit: int, enabled: bool) -> None:
        general = self.general
        general.host_features = (
            (general.host_features | bit) if enabled else (general.host_features & ~bit)
        )

    def feature_page(self, page: int) -> int:
        if page == 1:
            return self.host_features()
        return int.from_bytes(self.controller.config.lmp_feature_page(page), "little")

    def send(self, event: hci.HciEvent) -> None:
        self.controller.send_event(event)

    def link_for_handle(self, handle: int) -> BrEdrLink:
        """The BR/EDR link behind ``handle``, or 0x02 Unknown Connection Identifier."""
        link = self.links.get(handle_of(handle))
        if link is None:
            raise CommandError(Status.UNKNOWN_CONNECTION_IDENTIFIER, connection_handle=handle)
        return link

    def link_for_address(self, address: Address) -> BrEdrLink | None:
        for link in self.links.values():
            if link.peer == address:
                return link
        return None

    def link_on(self, air_link: Link | None) -> BrEdrLink | None:
        connection = self.controller.connection_on(air_link) if air_link is not None else None
        return None if connection is None else self.links.get(connection.handle)

    def send_on(self, link: BrEdrLink, frame: Frame) -> None:
        self.controller.air.send_on_link(link.connection.link, self.controller, frame)

    def on_connection_closed(self, connection: Connection, reason: int) -> None:
        self.links.pop(connection.handle, None)

    # -- scanning and local settings (Vol 4 Part E 7.3) ----------------------------------

    @handles(hci.WriteScanEnable)
    def write_scan_enable(self, command: hci.WriteScanEnable) -> None:
        require(command.scan_enable in SCAN_ENABLE_BITS)
        self.inquiry_scan, self.page_scan = SCAN_ENABLE_BITS[command.scan_enable]

    @handles(hci.ReadScanEnable)
    def read_scan_enable(self, command: hci.ReadScanEnable) -> hci.ReadScanEnableReturn:
        value = int(self.inquiry_scan) | int(self.page_scan) << 1
        return hci.ReadScanEnableReturn(Status.SUCCESS, value)

    @handles(hci.WriteClassOfDevice)
    def write_class_of_device(self, command: hci.WriteClassOfDevice) -> None:
        self.class_of_device = command.class_of_device

    @handles(hci.ReadClassOfDevice)
    def read_class_of_device(self, command: hci.ReadClassOfDevice) -> hci.ReadClassOfDeviceReturn:
        return hci.ReadClassOfDeviceReturn(Status.SUCCESS, self.class_of_device)

    @handles(hci.WriteLocalName)
    def write_local_name(self, command: hci.WriteLocalName) -> None:
        # The name is null-terminated unless it fills all 248 octets (Vol 4 Part E 7.3.11).
        self.local_name = command.local_name

    @handles(hci.ReadLocalName)
    def read_local_name(self, command: hci.ReadLocalName) -> hci.ReadLocalNameReturn:
        return hci.ReadLocalNameReturn(Status.SUCCESS, self.local_name)

    @handles(hci.WriteInquiryMode)
    def write_inquiry_mode(self, command: hci.WriteInquiryMode) -> None:
        mode = command.inquiry_mode
        require(mode in (InquiryMode.STANDARD, InquiryMode.WITH_RSSI, InquiryMode.EXTENDED))
        self.inquiry_mode = mode

    @handles(hci.WriteExtendedInquiryResponse)
    def write_extended_inquiry_response(self, command: hci.WriteExtendedInquiryResponse) -> None:
        require(command.fec_required in (0, 1))
        self.extended_inquiry_response = command.extended_inquiry_response

    @handles(hci.WritePageTimeout)
    def write_page_timeout(self, command: hci.WritePageTimeout) -> None:
        require(command.page_timeout != 0)  # range 0x0001-0xFFFF (Vol 4 Part E 7.3.16)
        self.page_timeout = command.page_timeout

    @handles(hci.WriteConnectionAcceptTimeout)
    def write_connection_accept_timeout(self, command: hci.WriteConnectionAcceptTimeout) -> None:
        value = command.connection_accept_timeout
        require(0x0001 <= value <= 0xB540)  # Vol 4 Part E 7.3.14
        self.connection_accept_timeout = value

    @handles(hci.WritePageScanActivity)
    def write_page_scan_activity(self, command: hci.WritePageScanActivity) -> None:
        self.page_scan_activity = _scan_activity(
            command.page_scan_interval, command.page_scan_window
        )

    @handles(hci.WriteInquiryScanActivity)
    def write_inquiry_scan_activity(self, command: hci.WriteInquiryScanActivity) -> None:
        self.inquiry_scan_activity = _scan_activity(
            command.inquiry_scan_interval, command.inquiry_scan_window
        )

    # Scan types: 0x00 standard, 0x01 interlaced (Vol 4 Part E 7.3.48, 7.3.52); only the
    # timing differs, which the emulation does not model.

    @handles(hci.WriteInquiryScanType)
    def write_inquiry_scan_type(self, command: hci.WriteInquiryScanType) -> None:
        self.inquiry_scan_type = int(flag(command.scan_type))

    @handles(hci.WritePageScanType)
    def write_page_scan_type(self, command: hci.WritePageScanType) -> None:
        self.page_scan_type = int(flag(command.page_scan_type))

    @handles(hci.WriteAuthenticationEnable)
    def write_authentication_enable(self, command: hci.WriteAuthenticationEnable) -> None:
        self.authentication_enable = flag(command.authentication_enable)

    @handles(hci.WriteSimplePairingMode)
    def write_simple_pairing_mode(self, command: hci.WriteSimplePairingMode) -> None:
        self.set_host_feature(HOST_FEATURE_SSP, flag(command.simple_pairing_mode))

    @handles(hci.WriteSecureConnectionsHostSupport)
    def write_secure_connections_host_support(
        self, command: hci.WriteSecureConnectionsHostSupport
    ) -> None:
        enabled = flag(command.secure_connections_host_support)
        self.set_host_feature(HOST_FEATURE_SECURE_CONNECTIONS, enabled)

    @handles(hci.WriteDefaultLinkPolicySettings)
    def write_default_link_policy_settings(
        self, command: hci.WriteDefaultLinkPolicySettings
    ) -> None:
        value = command.default_link_policy_settings
        require(value <= 0x0007)  # role switch, hold, sniff (Vol 4 Part E 7.2.12)
        self.default_link_policy = value

    # -- inquiry (Vol 4 Part E 7.1.1, 7.1.2; Vol 2 Part B 8.4) ---------------------------

    @handles(hci.Inquiry)
    def inquiry_command(self, request: hci.Inquiry) -> None:
        require(0x9E8B00 <= request.lap <= 0x9E8B3F)
        require(0x01 <= request.inquiry_length <= 0x30)
        require(self.inquiry is None, Status.COMMAND_DISALLOWED)
        timer = self.controller.call_later(
            request.inquiry_length * INQUIRY_LENGTH_UNIT_SECONDS, self._inquiry_finished
        )
        self.inquiry = Inquiry(request.lap, request.num_responses, timer)
        self.controller.air.broadcast(
            self.controller, InquiryFrame(self.address, request.lap), Phy.BR_EDR
        )

    @handles(hci.InquiryCancel)
    def inquiry_cancel(self, command: hci.InquiryCancel) -> None:
        require(self.inquiry is not None, Status.COMMAND_DISALLOWED)
        assert self.inquiry is not None
        # No Inquiry Complete after a cancel (Vol 4 Part E 7.1.2).
        self.inquiry.timer.cancel()
        self.inquiry = None

    def _inquiry_finished(self) -> None:
        if self.inquiry is None:
            return
        self.inquiry.timer.cancel()
        self.inquiry = None
        self.send(hci.InquiryComplete(Status.SUCCESS))

    @receives(InquiryFrame)
    def on_inquiry(self, frame: InquiryFrame, link: Link | None) -> None:
        # A scanner listens to the GIAC; the LIAC reaches it too while it is discoverable
        # (Vol 3 Part C 4.1 lets limited discovery find only limited-discoverable devices,
        # which this controller does not distinguish).
        if not self.inquiry_scan or frame.lap not in (GENERAL_INQUIRY_LAP, LIMITED_INQUIRY_LAP):
            return
        response = InquiryResponseFrame(
            self.address, self.class_of_device, self.extended_inquiry_response
        )
        self.controller.air.unicast(self.controller, frame.sender, response, Phy.BR_EDR)

    @receives(InquiryResponseFrame)
    def on_inquiry_response(self, frame: InquiryResponseFrame, link: Link | None) -> None:
        inquiry = self.inquiry
        if inquiry is None or frame.address in inquiry.found:
            return
        inquiry.found.add(frame.address)
        self.send(self._inquiry_result(frame))
        if inquiry.max_responses and len(inquiry.found) >= inquiry.max_responses:
            self._inquiry_finished()

    def _inquiry_result(
        self, frame: InquiryResponseFrame
    ) -> hci.ExtendedInquiryResult | hci.InquiryResultWithRssi | hci.InquiryResult:
        """The result event the host asked for with Write_Inquiry_Mode (Vol 4 Part E 7.7)."""
        address, mode, cod = frame.address, PAGE_SCAN_REPETITION_MODE_R1, frame.class_of_device
        rssi = self.controller.config.rssi
        if self.inquiry_mode == InquiryMode.EXTENDED:
            eir = frame.extended_inquiry_response.ljust(EIR_LENGTH, b"\x00")[:EIR_LENGTH]
            return hci.ExtendedInquiryResult(address, mode, 0, cod, 0, rssi, eir)
        if self.inquiry_mode == InquiryMode.WITH_RSSI:
            entry = hci.InquiryResponseWithRssi(address, mode, 0, cod, 0, rssi)
            return hci.InquiryResultWithRssi((entry,))
        return hci.InquiryResult((hci.InquiryResponse(address, mode, 0, cod, 0),))

    # -- paging: outgoing (Vol 4 Part E 7.1.5, 7.1.7) ------------------------------------

    @handles(hci.CreateConnection)
    def create_connection(self, request: hci.CreateConnection) -> None:
        require(request.allow_role_switch in (0, 1))
        require(request.page_scan_repetition_mode <= 0x02)
        target = request.bd_addr
        require(target != self.address)
        # Root Canal: one page at a time; an existing or forming link is 0x0B.
        require(self.page is None, Status.COMMAND_DISALLOWED)
        require(
            self.link_for_address(target) is None and target not in self.incoming,
            Status.CONNECTION_ALREADY_EXISTS,
        )
        timer = self.controller.call_later(
            self.page_timeout * SLOT_SECONDS, lambda: self._page_failed(Status.PAGE_TIMEOUT)
        )
        self.page = OutgoingPage(target, bool(request.allow_role_switch), timer)
        frame = PageFrame(self.address, self.class_of_device, bool(request.allow_role_switch))
        self.controller.air.unicast(self.controller, target, frame, Phy.BR_EDR)

    @handles(hci.CreateConnectionCancel)
    def create_connection_cancel(self, command: hci.CreateConnectionCancel) -> hci.BdAddrReturn:
        target = command.bd_addr
        if self.link_for_address(target) is not None:
            raise CommandError(Status.CONNECTION_ALREADY_EXISTS, bd_addr=target)
        require(
            self.page is not None and self.page.target == target,
            Status.UNKNOWN_CONNECTION_IDENTIFIER,
            bd_addr=target,
        )
        # Connection Complete 0x02 follows the Command Complete (Vol 4 Part E 7.1.7).
        self._page_failed(Status.UNKNOWN_CONNECTION_IDENTIFIER)
        return hci.BdAddrReturn(Status.SUCCESS, target)

    def _page_failed(self, status: int) -> None:
        page, self.page = self.page, None
        if page is None:
            return
        page.timer.cancel()
        withdrawn = PageWithdrawnFrame(self.address)
        self.controller.air.unicast(self.controller, page.target, withdrawn, Phy.BR_EDR)
        self.send(hci.ConnectionComplete(status, 0, page.target, LINK_TYPE_ACL, 0))

    @receives(PageAcceptedFrame)
    def on_page_accepted(self, frame: PageAcceptedFrame, air_link: Link | None) -> None:
        page = self.page
        if page is None or air_link is None:
            return
        peer = air_link.peer_of(self.controller)
        if peer.public_address != page.target:
            return
        self.page = None
        page.timer.cancel()
        role = Role.PERIPHERAL if frame.role_switched else Role.CENTRAL
        self._connected(air_link, role, page.target, role_changed=frame.role_switched)

    @receives(PageRejectedFrame)
    def on_page_rejected(self, frame: PageRejectedFrame, link: Link | None) -> None:
        if self.page is not None and self.page.target == frame.sender:
            page, self.page = self.page, None
            page.timer.cancel()
            self.send(hci.ConnectionComplete(frame.reason, 0, page.target, LINK_TYPE_ACL, 0))

    def _connected(self, air_link: Link, role: Role, peer: Address, role_changed: bool) -> None:
        connection = self.controller.add_connection(air_link, role, peer, self.address)
        self.links[connection.handle] = BrEdrLink(connection, link_policy=self.default_link_policy)
        if role_changed:
            # Root Canal reports the switch before Connection Complete on both sides.
            self.send(hci.RoleChange(Status.SUCCESS, peer, role))
        self.send(hci.ConnectionComplete(Status.SUCCESS, connection.handle, peer, LINK_TYPE_ACL, 0))

    # -- paging: incoming (Vol 4 Part E 7.1.8, 7.1.9, 7.7.4) -----------------------------

    @receives(PageFrame)
    def on_page(self, frame: PageFrame, link: Link | None) -> None:
        if not self.page_scan or frame.central in self.incoming:
            return
        if self.link_for_address(frame.central) is not None:
            return
        timer = self.controller.call_later(
            self.connection_accept_timeout * SLOT_SECONDS,
            lambda: self._reject(frame.central, Status.CONNECTION_ACCEPT_TIMEOUT_EXCEEDED),
        )
        self.incoming[frame.central] = IncomingPage(frame, timer)
        self.send(hci.ConnectionRequest(frame.central, frame.class_of_device, LINK_TYPE_ACL))

    @receives(PageWithdrawnFrame)
    def on_page_withdrawn(self, frame: PageWithdrawnFrame, link: Link | None) -> None:
        pending = self.incoming.pop(frame.central, None)
        if pending is not None:
            pending.timer.cancel()
            # The central gave up: the connection attempt ends here too (Page Timeout).
            self.send(
                hci.ConnectionComplete(Status.PAGE_TIMEOUT, 0, frame.central, LINK_TYPE_ACL, 0)
            )

    @handles(hci.AcceptConnectionRequest)
    def accept_connection_request(self, request: hci.AcceptConnectionRequest) -> None:
        require(request.role in (0x00, 0x01))
        pending = self.incoming.pop(request.bd_addr, None)
        require(pending is not None, Status.UNKNOWN_CONNECTION_IDENTIFIER)
        assert pending is not None
        pending.timer.cancel()
        # Role 0x00: become central, possible only if the pager allows it (7.1.8).
        switch = request.role == 0x00 and pending.frame.allow_role_switch
        pager = self._radio_of(request.bd_addr)
        if pager is None:
            # The pager left the air meanwhile; its page would have timed out.
            self.send(
                hci.ConnectionComplete(Status.PAGE_TIMEOUT, 0, request.bd_addr, LINK_TYPE_ACL, 0)
            )
            return
        central, peripheral = (self.controller, pager) if switch else (pager, self.controller)
        air_link = self.controller.air.open_link(
            LinkKind.BR_EDR,
            central,
            peripheral,
            DEFAULT_LINK_SUPERVISION_TIMEOUT_SLOTS * SLOT_SECONDS,
            Phy.BR_EDR,
        )
        role = Role.CENTRAL if switch else Role.PERIPHERAL
        self._connected(air_link, role, request.bd_addr, role_changed=switch)
        self.controller.air.send_on_link(air_link, self.controller, PageAcceptedFrame(switch))

    def _radio_of(self, address: Address) -> Radio | None:
        for radio in self.controller.air.radios:
            if radio.public_address == address:
                return radio
        return None

    @handles(hci.RejectConnectionRequest)
    def reject_connection_request(self, request: hci.RejectConnectionRequest) -> None:
        # Reasons allowed by Vol 4 Part E 7.1.9: 0x0D-0x0F.
        require(
            Status.CONNECTION_REJECTED_DUE_TO_LIMITED_RESOURCES
            <= request.reason
            <= Status.CONNECTION_REJECTED_DUE_TO_UNACCEPTABLE_BD_ADDR
        )
        require(request.bd_addr in self.incoming, Status.UNKNOWN_CONNECTION_IDENTIFIER)
        self._reject(request.bd_addr, request.reason)

    def _reject(self, central: Address, reason: int) -> None:
        pending = self.incoming.pop(central, None)
        if pending is None:
            return
        pending.timer.cancel()
        frame = PageRejectedFrame(self.address, reason)
        self.controller.air.unicast(self.controller, central, frame, Phy.BR_EDR)
        self.send(hci.ConnectionComplete(reason, 0, central, LINK_TYPE_ACL, 0))

    # -- remote name (Vol 4 Part E 7.1.19, 7.1.20) ---------------------------------------

    @handles(hci.RemoteNameRequest)
    def remote_name_request(self, request: hci.RemoteNameRequest) -> None:
        require(request.page_scan_repetition_mode <= 0x02)
        target = request.bd_addr
        require(target not in self.name_requests, Status.COMMAND_DISALLOWED)
        # Without a connection the request pages the target first, so it can time out.
        self.name_requests[target] = self.controller.call_later(
            self.page_timeout * SLOT_SECONDS, lambda: self._name_failed(target)
        )
        request_frame = NameRequestFrame(self.address)
        existing = self.link_for_address(target)
        if existing is not None:
            self.send_on(existing, request_frame)
        else:
            self.controller.air.unicast(self.controller, target, request_frame, Phy.BR_EDR)

    @handles(hci.RemoteNameRequestCancel)
    def remote_name_request_cancel(self, command: hci.RemoteNameRequestCancel) -> hci.BdAddrReturn:
        target = command.bd_addr
        timer = self.name_requests.pop(target, None)
        require(timer is not None, Status.INVALID_HCI_COMMAND_PARAMETERS, bd_addr=target)
        assert timer is not None
        timer.cancel()
        # The request still completes, with status 0x02 (Vol 4 Part E 7.1.20).
        self._name_complete(Status.UNKNOWN_CONNECTION_IDENTIFIER, target, "")
        return hci.BdAddrReturn(Status.SUCCESS, target)

    def _name_failed(self, target: Address) -> None:
        if self.name_requests.pop(target, None) is not None:
            self._name_complete(Status.PAGE_TIMEOUT, target, "")

    def _name_complete(self, status: int, target: Address, name: str) -> None:
        self.send(hci.RemoteNameRequestComplete(status, target, name))

    @receives(NameRequestFrame)
    def on_name_request(self, frame: NameRequestFrame, link: Link | None) -> None:
        if link is None and not self.page_scan:
            return  # not connectable: the requester's page times out
        response = NameResponseFrame(self.address, self.local_name, self.host_features())
        if link is not None:
            self.controller.air.send_on_link(link, self.controller, response)
        else:
            self.controller.air.unicast(self.controller, frame.sender, response, Phy.BR_EDR)

    @receives(NameResponseFrame)
    def on_name_response(self, frame: NameResponseFrame, link: Link | None) -> None:
        timer = self.name_requests.pop(frame.sender, None)
        if timer is None:
            return
        timer.cancel()
        if link is None:
            # The name request's own temporary connection read the host features too; over
            # an existing link it does not (Vol 4 Part E 7.1.19, 7.7.50).
            self.send(
                hci.RemoteHostSupportedFeaturesNotification(frame.sender, frame.host_features)
            )
        self._name_complete(Status.SUCCESS, frame.sender, frame.name)

    # -- remote features (Vol 4 Part E 7.1.21, 7.1.22) -----------------------------------

    @handles(hci.ReadRemoteSupportedFeatures)
    def read_remote_supported_features(self, command: hci.ReadRemoteSupportedFeatures) -> None:
        link = self.link_for_handle(command.connection_handle)
        self._request_features(link, None)

    @handles(hci.ReadRemoteExtendedFeatures)
    def read_remote_extended_features(self, request: hci.ReadRemoteExtendedFeatures) -> None:
        link = self.link_for_handle(request.connection_handle)
        self._request_features(link, request.page_number)

    def _request_features(self, link: BrEdrLink, page: int | None) -> None:
        # ``None`` marks the legacy command, answered with the page 0 event.
        link.feature_requests.append(-1 if page is None else page)
        self.send_on(link, FeaturesRequestFrame(0 if page is None else page))

    @receives(FeaturesRequestFrame)
    def on_features_request(self, frame: FeaturesRequestFrame, air_link: Link | None) -> None:
        link = self.link_on(air_link)
        if link is None:
            return
        # A page beyond the last one reads as zeros (Vol 2 Part C 4.3.4).
        features = self.feature_page(frame.page) if frame.page <= MAX_FEATURE_PAGE else 0
        self.send_on(link, FeaturesResponseFrame(frame.page, MAX_FEATURE_PAGE, features))

    @receives(FeaturesResponseFrame)
    def on_features_response(self, frame: FeaturesResponseFrame, air_link: Link | None) -> None:
        link = self.link_on(air_link)
        if link is None or not link.feature_requests:
            return
        asked = link.feature_requests.pop(0)
        handle = link.connection.handle
        if asked < 0:
            self.send(
                hci.ReadRemoteSupportedFeaturesComplete(Status.SUCCESS, handle, frame.features)
            )
        else:
            self.send(
                hci.ReadRemoteExtendedFeaturesComplete(
                    Status.SUCCESS, handle, frame.page, frame.max_page, frame.features
                )
            )

    def peer_feature_page(self, link: BrEdrLink, page: int) -> int:
        """The peer's features page as its link manager would report it.

        Procedures that depend on both sides' features (pairing, encryption mode) read the
        peer's static answer directly, as General does for the version.
        """
        peer = link.connection.link.peer_of(self.controller)
        if not isinstance(peer, VirtualController):
            return 0
        return peer.feature(BrEdr).feature_page(page)

    # -- roles and policy (Vol 4 Part E 7.2) ----------------------------------------------

    @handles(hci.RoleDiscovery)
    def role_discovery(self, command: hci.RoleDiscovery) -> hci.RoleDiscoveryReturn:
        connection = self.link_for_handle(command.connection_handle).connection
        return hci.RoleDiscoveryReturn(Status.SUCCESS, connection.handle, connection.role)

    @handles(hci.SwitchRole)
    def switch_role(self, request: hci.SwitchRole) -> None:
        require(request.role in (Role.CENTRAL, Role.PERIPHERAL))
        link = self.link_for_address(request.bd_addr)
        require(link is not None, Status.UNKNOWN_CONNECTION_IDENTIFIER)
        assert link is not None
        # Asking for the role the link already has is out of state.
        require(link.connection.role != request.role, Status.COMMAND_DISALLOWED)
        self._change_role(link)
        self.send_on(link, RoleSwitchFrame())

    @receives(RoleSwitchFrame)
    def on_role_switch(self, frame: RoleSwitchFrame, air_link: Link | None) -> None:
        link = self.link_on(air_link)
        if link is not None:
            self._change_role(link)

    def _change_role(self, link: BrEdrLink) -> None:
        connection = link.connection
        connection.role = Role.PERIPHERAL if connection.role == Role.CENTRAL else Role.CENTRAL
        self.send(hci.RoleChange(Status.SUCCESS, link.peer, connection.role))

    @handles(hci.WriteLinkPolicySettings)
    def write_link_policy_settings(
        self, request: hci.WriteLinkPolicySettings
    ) -> hci.ConnectionHandleReturn:
        link = self.link_for_handle(request.connection_handle)
        handle = link.connection.handle
        require(request.link_policy_settings <= 0x0007, connection_handle=handle)
        link.link_policy = request.link_policy_settings
        return hci.ConnectionHandleReturn(Status.SUCCESS, handle)


# Security registers its feature when this module is imported by the controller.
from bluetrio.controller import bredr_security as _bredr_security  # noqa: E402, F401
