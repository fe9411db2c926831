"""Messages of the device manager (BTM): controller readiness, ACL links, discovery, and the
application's requests for advertising, scanning, connecting and inquiry.

Requests carry a ``token`` and are answered by one confirmation with the same token;
indications (``...Ind``) carry none, so an application port never mistakes one for a reply.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from bluetrio.address import Address
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.ad import AdvertisingData
from bluetrio.messages.base import Message
from bluetrio.messages.controller_info import ControllerInfo

# Re-exported: the transport of a link is part of this service too.
from bluetrio.messages.hci_service import LinkTransport as LinkTransport


class Role(enum.IntEnum):
    """Our role on a link (Vol 4 Part E 7.7.65.1 Role; 7.7.18 New_Role)."""

    CENTRAL = 0x00
    PERIPHERAL = 0x01


class ConnectionPolicy(enum.Enum):
    """Which incoming BR/EDR connections BTM accepts (Vol 4 Part E 7.7.4)."""

    ACCEPT_ALL = "accept_all"
    ACCEPT_BONDED = "accept_bonded"
    REJECT = "reject"


@attrs.frozen
class AclLink:
    """One entry of the ACL database, keyed by ``handle`` (L2CAP joins its LCBs on it).

    ``address`` is the address the peer used on the air; ``identity`` is its identity address
    when its resolvable private address was resolved with a stored IRK (Core 5.4 Vol 3 Part C
    10.8.2.3), so the application sees who the peer is rather than its current RPA.
    ``link_id`` is the number hci gave the link when it opened it
    (:class:`~bluetrio.messages.hci_service.AclLinkOpenedInd`); 0 when not known.
    ``local_address`` (LE): the address we used on the air when the link was made, with its
    type: public, our static random address, or our resolvable private address (the
    Own_Address_Type of LE_Create_Connection or of the advertising, or the controller's
    Local_Resolvable_Private_Address, Vol 4 Part E 7.7.65.10); SMP's c1, f5 and f6 take it
    (Vol 3 Part H 2.2.3, 2.2.7, 2.2.8). None on BR/EDR.
    """

    handle: int
    transport: LinkTransport
    address: Address
    role: Role
    identity: Address | None = None
    encrypted: bool = False
    key_size: int = 0
    interval: int = 0  # LE connection interval, units of 1.25 ms
    latency: int = 0
    supervision_timeout: int = 0  # units of 10 ms
    remote_features: tuple[int, ...] = ()  # LMP feature pages, or the LE feature mask
    link_id: int = 0
    local_address: Address | None = None

    @property
    def peer(self) -> Address:
        """Who the peer is: its identity address when known, else its on-air address."""
        return self.identity if self.identity is not None else self.address


class SecurityLevel(enum.IntEnum):
    """How well a link is protected: the levels of LE security mode 1 (Core 5.4 Vol 3 Part C
    10.2.1), which BR/EDR security mode 4 (Vol 3 Part C 5.2.2.8) defines alike."""

    NONE = 1  # not encrypted
    ENCRYPTED = 2  # encrypted with an unauthenticated key (Just Works), or one of unknown kind
    AUTHENTICATED = 3  # encrypted with a key from pairing protected against MITM
    SECURE_CONNECTIONS = 4  # authenticated Secure Connections key, 128-bit encryption key


@attrs.frozen
class ScanReport:
    """One LE advertiser as seen by a scan (advertising data and scan response merged)."""

    address: Address  # identity address when resolved, else as on air
    rssi: int | None
    data: AdvertisingData
    connectable: bool
    scannable: bool = False
    scan_response: bool = False  # ``data`` includes the scan response
    resolved: bool = False  # ``address`` is an identity resolved from an RPA

    @property
    def name(self) -> str | None:
        return self.data.local_name


@attrs.frozen
class InquiryResult:
    """One BR/EDR device found by inquiry (Vol 4 Part E 7.7.2, 7.7.33, 7.7.38)."""

    address: Address
    class_of_device: int
    rssi: int | None
    data: AdvertisingData  # the Extended Inquiry Response, empty when none
    page_scan_repetition_mode: int = 0
    clock_offset: int = 0

    @property
    def name(self) -> str | None:
        return self.data.local_name


@attrs.frozen
class AdvertisingParameters:
    """What ``AdvertiseReq`` advertises. Intervals in units of 0.625 ms (Vol 4 Part E 7.8.5)."""

    data: AdvertisingData = AdvertisingData.EMPTY
    scan_response: AdvertisingData | None = None
    connectable: bool = True
    scannable: bool = True
    interval_min: int = 0x00A0  # 100 ms
    interval_max: int = 0x00F0  # 150 ms
    extended: bool = False  # use the LE Extended Advertising commands (Vol 4 Part E 7.8.53)


def _in_range(low: int, high: int) -> Callable[[object, attrs.Attribute[int], object], None]:
    def check(_instance: object, attribute: attrs.Attribute[int], value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidArgumentError(
                f"{attribute.name} must be an integer 0x{low:04X}..0x{high:04X}, got {value!r}"
            )

    return check


@attrs.frozen
class LeConnectionParameters:
    """Connection parameters (Vol 4 Part E 7.8.12): interval in 1.25 ms, timeout in 10 ms.

    Checked as the specification bounds them, so a bad value fails where it is written.
    """

    interval_min: int = attrs.field(default=0x0018, validator=_in_range(0x0006, 0x0C80))  # 30 ms
    interval_max: int = attrs.field(default=0x0028, validator=_in_range(0x0006, 0x0C80))  # 50 ms
    latency: int = attrs.field(default=0, validator=_in_range(0x0000, 0x01F3))
    supervision_timeout: int = attrs.field(  # 5 s
        default=0x01F4, validator=_in_range(0x000A, 0x0C80)
    )

    def __attrs_post_init__(self) -> None:
        if self.interval_min > self.interval_max:
            raise InvalidArgumentError(
                f"interval_min 0x{self.interval_min:04X} exceeds interval_max "
                f"0x{self.interval_max:04X}"
            )
        # The supervision timeout must outlast (1 + latency) * interval_max * 2 (7.8.12).
        timeout_ms = self.supervision_timeout * 10
        needed_ms = (1 + self.latency) * self.interval_max * 1.25 * 2
        if not timeout_ms > needed_ms:
            raise InvalidArgumentError(
                f"supervision_timeout of {timeout_ms} ms must exceed (1 + latency) * "
                f"interval_max * 2 = {needed_ms:g} ms"
            )


# -- indications ----------------------------------------------------------------------------


@attrs.frozen
class ControllerReadyInd(Message):
    """Bring-up finished; ``info`` describes the controller."""

    info: ControllerInfo

    def summary(self) -> str:
        return f"ControllerReadyInd {self.info.address}"


@attrs.frozen
class LocalIdentityInd(Message):
    """Our LE identity (Vol 3 Part H 2.4.2.1, 3.6.4, 3.6.5): the identity address we
    distribute (public, or our static random address) and the IRK from which our resolvable
    private addresses are made. Sent at bring-up, before :class:`ControllerReadyInd`, and
    again when the stored bonds bring back the IRK distributed before."""

    address: Address
    irk: bytes = attrs.field(repr=False)


@attrs.frozen
class ControllerFailedInd(Message):
    """Bring-up could not finish (a mandatory command failed)."""

    reason: str


@attrs.frozen
class LinkUpInd(Message):
    """A link is up. BTM gives the role it was created with, so ``incoming`` tells a link
    the peer opened (we were advertising or page scanning) from one we initiated."""

    link: AclLink

    @property
    def incoming(self) -> bool:
        return self.link.role is Role.PERIPHERAL

    @property
    def handle(self) -> int:
        return self.link.handle


@attrs.frozen
class LinkDownInd(Message):
    """The link is gone; ``reason`` is the HCI reason code (Vol 1 Part F); ``link_id`` is its
    :attr:`AclLink.link_id`."""

    handle: int
    reason: int
    link_id: int = 0


@attrs.frozen
class LinkChangedInd(Message):
    """A link's entry changed (encryption, connection parameters, role)."""

    link: AclLink

    @property
    def handle(self) -> int:
        return self.link.handle


@attrs.frozen
class ScanReportInd(Message):
    report: ScanReport


@attrs.frozen
class ConnectionRequestInd(Message):
    """An incoming BR/EDR connection was accepted or rejected by the policy."""

    address: Address
    class_of_device: int
    accepted: bool


# Indications the device manager emits to whoever subscribes (bluetrio.actors.topology); scan
# reports go to the requester of the scan instead.
INDICATIONS: tuple[type[Message], ...] = (
    ControllerReadyInd, LocalIdentityInd, ControllerFailedInd, LinkUpInd, LinkDownInd,
    LinkChangedInd, ConnectionRequestInd,
)  # fmt: skip


# -- requests and confirmations ----------------------------------------------------------------


@attrs.frozen
class BtmCnf(Message):
    """The answer to a request without a result; ``status`` 0 is success (Vol 1 Part F).

    ``timed_out``: the controller never answered the command the request needed (``status``
    is then Unspecified Error, which the controller did not say).
    """

    token: int
    status: int = 0
    error: str | None = None
    timed_out: bool = False


@attrs.frozen
class AdvertiseReq(Message):
    token: int
    parameters: AdvertisingParameters


@attrs.frozen
class AdvertiseStopReq(Message):
    token: int


@attrs.frozen
class ScanReq(Message):
    token: int
    active: bool = False
    filter_duplicates: bool = True
    interval: int = 0x0060  # 60 ms, units of 0.625 ms (Vol 4 Part E 7.8.10)
    window: int = 0x0030  # 30 ms


@attrs.frozen
class ScanStopReq(Message):
    token: int


@attrs.frozen
class ConnectReq(Message):
    """Connect to ``address``: LE when ``transport`` is LE (``address.type`` tells public or
    random), BR/EDR paging otherwise. ``timeout`` in seconds."""

    token: int
    address: Address
    transport: LinkTransport = LinkTransport.LE
    timeout: float = 10.0
    parameters: LeConnectionParameters = LeConnectionParameters()


@attrs.frozen
class ConnectCnf(Message):
    token: int
    status: int
    link: AclLink | None = None
    error: str | None = None


@attrs.frozen
class ConnectCancelReq(Message):
    """Cancel the pending connection attempt to ``address``; its ConnectCnf reports it."""

    token: int
    address: Address


@attrs.frozen
class DisconnectReq(Message):
    token: int
    handle: int
    reason: int = 0x13  # Remote User Terminated Connection (Vol 4 Part E 7.1.6)


@attrs.frozen
class ReadRemoteFeaturesReq(Message):
    """Read the peer's features on link ``handle``: its LMP feature pages (BR/EDR, Vol 4
    Part E 7.1.21, 7.1.22) or its LE feature mask (7.8.21). Answered by RemoteFeaturesCnf."""

    token: int
    handle: int


@attrs.frozen
class RemoteFeaturesCnf(Message):
    """``features``: the LMP pages from page 0, or the one LE feature mask; ``status`` 0 is
    success (Vol 1 Part F)."""

    token: int
    status: int = 0
    error: str | None = None
    features: tuple[int, ...] = ()
    timed_out: bool = False


@attrs.frozen
class ConnectionUpdateReq(Message):
    token: int
    handle: int
    parameters: LeConnectionParameters


@attrs.frozen
class InquiryReq(Message):
    """Inquire for ``duration`` seconds (rounded to 1.28 s units, Vol 4 Part E 7.1.1)."""

    token: int
    duration: float = 5.12
    max_responses: int = 0  # 0: unlimited


@attrs.frozen
class InquiryCancelReq(Message):
    """Stop the inquiry whose request had token ``inquiry`` (HCI_Inquiry_Cancel, Core 5.4
    Vol 4 Part E 7.1.2); answered with :class:`BtmCnf`, at once if that inquiry has ended.
    The inquiry's own :class:`InquiryCnf` then never comes: the controller sends no
    Inquiry Complete for a cancelled inquiry."""

    token: int
    inquiry: int


@attrs.frozen
class InquiryResultInd(Message):
    """A device answered the inquiry whose request had token ``inquiry`` (or first sent its
    Extended Inquiry Response): sent as results come, before the :class:`InquiryCnf` that
    lists them all. (Not named ``token``: it is no reply to the request.)"""

    inquiry: int
    result: InquiryResult


@attrs.frozen
class InquiryCnf(Message):
    """``timed_out``: the controller never reported the inquiry complete."""

    token: int
    status: int
    results: tuple[InquiryResult, ...] = ()
    error: str | None = None
    timed_out: bool = False


@attrs.frozen
class RemoteNameReq(Message):
    token: int
    address: Address
    page_scan_repetition_mode: int = 0x01  # R1 (Vol 4 Part E 7.1.19)
    clock_offset: int = 0


@attrs.frozen
class RemoteNameCancelReq(Message):
    """The application stopped waiting for the name asked with token ``request``; when no
    other asker waits for ``address``'s name, btm cancels the request on the controller
    (HCI_Remote_Name_Request_Cancel, Core 5.4 Vol 4 Part E 7.1.20), so the page it runs ends
    now rather than at the page timeout. Answered with :class:`BtmCnf`; the request's own
    :class:`RemoteNameCnf` then never comes."""

    token: int
    request: int
    address: Address


@attrs.frozen
class RemoteNameCnf(Message):
    """``timed_out``: the controller never reported the request complete."""

    token: int
    status: int
    name: str | None = None
    error: str | None = None
    timed_out: bool = False


@attrs.frozen
class SetConnectionPolicyReq(Message):
    token: int
    policy: ConnectionPolicy


@attrs.frozen
class SetDiscoverableReq(Message):
    """BR/EDR inquiry scan (discoverable) and page scan (connectable) (Vol 4 Part E 7.3.18)."""

    token: int
    discoverable: bool
    connectable: bool = True


@attrs.frozen
class StartBringUpReq(Message):
    """Ask BTM to (re)run bring-up; it answers ControllerReadyInd or ControllerFailedInd."""


@attrs.frozen
class BondedPeer:
    """What BTM needs of a stored bond: the identity address, the peer's IRK, if any, and
    the address it connected with when it bonded (``link_address``), which names it again
    when it is not a resolvable private one."""

    address: Address
    irk: bytes | None = None
    link_address: Address | None = None


@attrs.frozen
class LoadBondsReq(Message):
    """Seed the device records with stored bonds (from the key store, at start).

    ``local_irk``: the IRK we distributed in those bonds, which our resolvable private
    addresses must keep using so the bonded peers resolve them (None: none distributed)."""

    token: int
    bonds: tuple[BondedPeer, ...]
    local_irk: bytes | None = attrs.field(default=None, repr=False)
