"""BR/EDR link management: inquiry with EIR, remote name, paging with a timeout and
cancellation, and the policy for incoming connections (Core 5.4 Vol 4 Part E 7.1)."""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any

import attrs

from bluetrio.actors.btm.commands import CommandIssuer, CommandOutcome
from bluetrio.actors.btm.devices import DeviceRecords
from bluetrio.actors.btm.le import CANCEL_GRACE
from bluetrio.actors.btm.timer_owners import InquiryTimer, PageTimer, RemoteNameTimer
from bluetrio.actors.effects import CancelTimer, Effects, Emit, Send, StartTimer, TimerKey
from bluetrio.address import Address
from bluetrio.errors import DecodeError
from bluetrio.messages import hci
from bluetrio.messages.ad import AdvertisingData
from bluetrio.messages.btm import (
    BtmCnf,
    ConnectCancelReq,
    ConnectCnf,
    ConnectionPolicy,
    ConnectionRequestInd,
    ConnectReq,
    InquiryCancelReq,
    InquiryCnf,
    InquiryReq,
    InquiryResult,
    InquiryResultInd,
    RemoteNameCancelReq,
    RemoteNameCnf,
    RemoteNameReq,
)

logger = logging.getLogger(__name__)

GIAC = 0x9E8B33  # General Inquiry Access Code (Assigned Numbers, Baseband)
INQUIRY_LENGTH_UNIT = 1.28  # seconds (Vol 4 Part E 7.1.1)
MAX_INQUIRY_LENGTH = 0x30
COMMAND_DISALLOWED = 0x0C
UNKNOWN_CONNECTION_ID = 0x02
CONNECTION_TIMEOUT_STATUS = 0x08
REJECT_LIMITED_RESOURCES = 0x0D  # Vol 1 Part F 1.3
REJECT_UNACCEPTABLE_ADDRESS = 0x0F
LINK_TYPE_ACL = 0x01
ROLE_REMAIN_PERIPHERAL = 0x01  # Accept_Connection_Request Role (Vol 4 Part E 7.1.8)
# Create_Connection defaults (Vol 4 Part E 7.1.5): DM1/DH1/DM3/DH3/DM5/DH5, R1, role switch ok.
ACL_PACKET_TYPES = 0xCC18
PAGE_SCAN_R1 = 0x01
ABANDONED_PAGES_KEPT = 16
UNSPECIFIED_ERROR = 0x1F  # Vol 1 Part F 1.3
# A completion event is overdue this long after it should have come: Inquiry_Length ends
# the inquiry (7.1.1); a name request pages the peer first (Page_Timeout, 5.12 s by default,
# 7.3.16) and then asks for its name.
COMPLETION_MARGIN = 5.0
REMOTE_NAME_TIMEOUT = 20.0
INQUIRY_TIMER = TimerKey(InquiryTimer(), "timeout")


def inquiry_length(duration: float) -> int:
    return max(1, min(MAX_INQUIRY_LENGTH, math.ceil(duration / INQUIRY_LENGTH_UNIT)))


@attrs.define
class _Inquiry:
    sender: str
    token: int
    results: dict[Address, InquiryResult] = attrs.field(factory=dict)


@attrs.define
class _Page:
    sender: str
    request: ConnectReq
    key: TimerKey
    timed_out: bool = False
    cancel_reason: str | None = None


class BrEdrManager:
    def __init__(self, commands: CommandIssuer, devices: DeviceRecords) -> None:
        self.commands = commands
        self.devices = devices
        self.policy = ConnectionPolicy.ACCEPT_ALL
        self.inquiry: _Inquiry | None = None
        self.pages: dict[Address, _Page] = {}
        # Peers of pages given up on (the last few: a late completion comes soon or never).
        self.abandoned: deque[Address] = deque(maxlen=ABANDONED_PAGES_KEPT)
        self.name_requests: dict[Address, list[tuple[str, int]]] = {}

    def reset(self) -> Effects:
        self.abandoned.clear()
        effects: Effects = []
        if self.inquiry is not None:
            effects.append(
                Send(
                    self.inquiry.sender,
                    InquiryCnf(self.inquiry.token, 0x03, (), "controller reset"),
                )
            )
            self.inquiry = None
        for page in self.pages.values():
            effects += [CancelTimer(page.key), _page_failure(page, 0x03, "controller reset")]
        self.pages.clear()
        for _address, waiters in self.name_requests.items():
            effects += [
                Send(s, RemoteNameCnf(t, 0x03, None, "controller reset")) for s, t in waiters
            ]
        self.name_requests.clear()
        return effects

    # -- inquiry ----------------------------------------------------------------------------
    def start_inquiry(self, sender: str, request: InquiryReq, now: float) -> Effects:
        if self.inquiry is not None:
            return [
                Send(
                    sender,
                    InquiryCnf(
                        request.token, COMMAND_DISALLOWED, (), "an inquiry is already running"
                    ),
                )
            ]
        self.inquiry = _Inquiry(sender, request.token)
        length = inquiry_length(request.duration)
        command = hci.Inquiry(GIAC, length, request.max_responses)
        due = now + length * INQUIRY_LENGTH_UNIT + COMPLETION_MARGIN
        return [
            *self.commands.send(command, self._on_inquiry_status),
            StartTimer(INQUIRY_TIMER, due),
        ]

    def on_inquiry_timeout(self, now: float) -> Effects:
        """No Inquiry Complete when the inquiry should have ended: stop it (7.1.2), fail."""
        if self.inquiry is None:
            return []
        inquiry, self.inquiry = self.inquiry, None
        error = "the controller never reported the inquiry complete"
        logger.warning("btm: %s; cancelling it", error)
        answer = InquiryCnf(inquiry.token, UNSPECIFIED_ERROR, (), error, timed_out=True)
        return [*self.commands.send(hci.InquiryCancel()), Send(inquiry.sender, answer)]

    def cancel_inquiry(self, sender: str, request: InquiryCancelReq, now: float) -> Effects:
        """The application left the inquiry early: stop the controller's (7.1.2), so that a
        new inquiry is not refused while this one would still run."""
        if self.inquiry is None or self.inquiry.token != request.inquiry:
            return [Send(sender, BtmCnf(request.token))]
        self.inquiry = None

        def answered(outcome: CommandOutcome, at: float) -> Effects:
            return [Send(sender, outcome.confirmation(request.token))]

        return [CancelTimer(INQUIRY_TIMER), *self.commands.send(hci.InquiryCancel(), answered)]

    def _on_inquiry_status(self, outcome: CommandOutcome, now: float) -> Effects:
        if outcome.ok or self.inquiry is None:
            return []
        inquiry, self.inquiry = self.inquiry, None
        return [
            CancelTimer(INQUIRY_TIMER),
            Send(inquiry.sender, InquiryCnf(inquiry.token, outcome.status, (), outcome.describe())),
        ]

    def on_inquiry_result(self, event: Any) -> Effects:
        if self.inquiry is None:
            return []
        if isinstance(event, hci.ExtendedInquiryResult):
            try:
                data = AdvertisingData.decode(event.extended_inquiry_response)
            except DecodeError as exc:
                logger.info("btm: EIR from %s is malformed (%s); ignored", event.bd_addr, exc)
                data = AdvertisingData.EMPTY
            return self._found(
                InquiryResult(
                    event.bd_addr,
                    event.class_of_device,
                    event.rssi,
                    data,
                    event.page_scan_repetition_mode,
                    event.clock_offset,
                )
            )
        effects: Effects = []
        for response in event.responses:
            rssi = getattr(response, "rssi", None)
            effects += self._found(InquiryResult(response.bd_addr, response.class_of_device, rssi,
                                   AdvertisingData.EMPTY, response.page_scan_repetition_mode,
                                   response.clock_offset))  # fmt: skip
        return effects

    def _found(self, result: InquiryResult) -> Effects:
        """Record ``result``; tell the requester of a device it had not heard of yet, or of
        one that now has an Extended Inquiry Response (a name, services)."""
        assert self.inquiry is not None
        previous = self.inquiry.results.get(result.address)
        if previous is not None and not result.data.structures:
            result = attrs.evolve(result, data=previous.data)  # keep the EIR seen earlier
        self.inquiry.results[result.address] = result
        record = self.devices.obtain(result.address)
        record.class_of_device = result.class_of_device
        if result.name is not None:
            record.name = result.name
        if previous is not None and previous.data == result.data:
            return []
        return [Send(self.inquiry.sender, InquiryResultInd(self.inquiry.token, result))]

    def on_inquiry_complete(self, event: Any) -> Effects:
        if self.inquiry is None:
            return []
        inquiry, self.inquiry = self.inquiry, None
        return [
            CancelTimer(INQUIRY_TIMER),
            Send(
                inquiry.sender,
                InquiryCnf(inquiry.token, event.status, tuple(inquiry.results.values())),
            ),
        ]

    # -- remote name --------------------------------------------------------------------------
    def request_name(self, sender: str, request: RemoteNameReq, now: float) -> Effects:
        waiters = self.name_requests.setdefault(request.address, [])
        waiters.append((sender, request.token))
        if len(waiters) > 1:
            return []  # one request on the air answers every asker
        command = hci.RemoteNameRequest(
            request.address, request.page_scan_repetition_mode, 0, request.clock_offset
        )

        def on_status(outcome: CommandOutcome, at: float) -> Effects:
            if outcome.ok:
                return []
            return self._answer_name(request.address, outcome.status, None, outcome.describe())

        due = StartTimer(_name_timer(request.address), now + REMOTE_NAME_TIMEOUT)
        return [*self.commands.send(command, on_status), due]

    def on_remote_name_timeout(self, address: Address, now: float) -> Effects:
        """No Remote Name Request Complete in time: cancel the request (7.1.20), fail."""
        if address not in self.name_requests:
            return []
        error = f"the controller never completed the name request within {REMOTE_NAME_TIMEOUT:g} s"
        logger.warning("btm: remote name of %s: %s; cancelling it", address, error)
        cancel = self.commands.send(hci.RemoteNameRequestCancel(address))
        return cancel + self._answer_name(address, UNSPECIFIED_ERROR, None, error, timed_out=True)

    def cancel_name_request(self, sender: str, request: RemoteNameCancelReq, now: float) -> Effects:
        """An asker gave up: forget it; with no asker left, cancel the request (7.1.20)."""
        waiters = self.name_requests.get(request.address, [])
        if (sender, request.request) in waiters:
            waiters.remove((sender, request.request))
        if waiters or request.address not in self.name_requests:
            return [Send(sender, BtmCnf(request.token))]
        del self.name_requests[request.address]

        def answered(outcome: CommandOutcome, at: float) -> Effects:
            return [Send(sender, outcome.confirmation(request.token))]

        cancel = self.commands.send(hci.RemoteNameRequestCancel(request.address), answered)
        return [CancelTimer(_name_timer(request.address)), *cancel]

    def on_remote_name(self, event: Any) -> Effects:
        if event.status == 0:
            record = self.devices.find(event.bd_addr)
            if record is not None:
                record.name = event.remote_name
        error = None if event.status == 0 else "remote name request failed"
        return self._answer_name(
            event.bd_addr, event.status, event.remote_name if event.status == 0 else None, error
        )

    def _answer_name(
        self,
        address: Address,
        status: int,
        name: str | None,
        error: str | None,
        *,
        timed_out: bool = False,
    ) -> Effects:
        waiters = self.name_requests.pop(address, [])
        effects: Effects = [CancelTimer(_name_timer(address))]
        return effects + [
            Send(sender, RemoteNameCnf(token, status, name, error, timed_out))
            for sender, token in waiters
        ]

    # -- paging -------------------------------------------------------------------------------
    def connect(self, sender: str, request: ConnectReq, now: float) -> Effects:
        address = request.address
        if address in self.pages:
            return [
                Send(
                    sender,
                    ConnectCnf(
                        request.token, COMMAND_DISALLOWED, None, f"already paging {address}"
                    ),
                )
            ]
        page = _Page(sender, request, TimerKey(PageTimer(address), "timeout"))
        self.pages[address] = page
        if address in self.abandoned:
            self.abandoned.remove(address)
        command = hci.CreateConnection(address, ACL_PACKET_TYPES, PAGE_SCAN_R1, 0, 0, 1)

        def on_status(outcome: CommandOutcome, at: float) -> Effects:
            if outcome.ok or self.pages.get(address) is not page:
                return []
            del self.pages[address]
            return [CancelTimer(page.key), _page_failure(page, outcome.status, outcome.describe())]

        return [
            *self.commands.send(command, on_status),
            StartTimer(page.key, now + request.timeout),
        ]

    def on_page_timeout(self, address: Address, now: float) -> Effects:
        page = self.pages.get(address)
        if page is None:
            return []
        if page.cancel_reason is not None:
            # Cancelled, yet no Connection Complete came (7.1.7 promises one).
            why = "the controller confirmed the cancellation but sent no Connection Complete"
            return self._give_up(page, why)
        page.timed_out = True
        reason = f"no connection to {address} within {page.request.timeout:g} s"
        return self._cancel(page, reason, now)

    def cancel(self, sender: str, request: ConnectCancelReq, now: float) -> Effects:
        page = self.pages.get(request.address)
        if page is None:
            return [
                Send(
                    sender,
                    BtmCnf(request.token, UNKNOWN_CONNECTION_ID, f"not paging {request.address}"),
                )
            ]
        effects: Effects = [Send(sender, BtmCnf(request.token))]
        if page.cancel_reason is None:
            effects = self._cancel(page, "cancelled by the application", now) + effects
        return effects

    def _cancel(self, page: _Page, reason: str, now: float) -> Effects:
        """Ask the controller to stop paging (Vol 4 Part E 7.1.7). Its Connection Complete
        (0x02) ends the page; a refusal (0x0B: the connection exists already; 0x02: no page),
        no answer, or no event within :data:`CANCEL_GRACE` ends it here, so that the next
        attempt is not refused."""
        page.cancel_reason = reason
        address = page.request.address

        def answered(outcome: CommandOutcome, at: float) -> Effects:
            if outcome.ok or self.pages.get(address) is not page:
                return []
            return self._give_up(page, f"the cancellation failed ({outcome.describe()})")

        return [
            *self.commands.send(
                hci.CreateConnectionCancel(address), answered, timeout=CANCEL_GRACE
            ),
            StartTimer(page.key, now + CANCEL_GRACE),
        ]

    def _give_up(self, page: _Page, why: str) -> Effects:
        address = page.request.address
        del self.pages[address]
        # A Connection Complete may still come (0x0B: the link exists already); that link
        # is nobody's and is disconnected when it shows up.
        self.abandoned.append(address)
        status = CONNECTION_TIMEOUT_STATUS if page.timed_out else UNKNOWN_CONNECTION_ID
        logger.warning("btm: page of %s ended: %s", address, why)
        return [CancelTimer(page.key), _page_failure(page, status, f"{page.cancel_reason}; {why}")]

    def take_abandoned(self, address: Address) -> bool:
        """Whether a connection to ``address`` completes a page we gave up on."""
        if address not in self.abandoned:
            return False
        self.abandoned.remove(address)
        return True

    def take_page(self, address: Address, status: int) -> tuple[_Page | None, Effects]:
        """On a Connection Complete: the page it answers (None if incoming), and failures."""
        page = self.pages.pop(address, None)
        if page is None:
            return None, []
        effects: Effects = [CancelTimer(page.key)]
        if status != 0:
            reason = page.cancel_reason or "page failed"
            effects.append(
                _page_failure(page, CONNECTION_TIMEOUT_STATUS if page.timed_out else status, reason)
            )
            return None, effects
        return page, effects

    # -- incoming connections ---------------------------------------------------------------------
    def on_connection_request(self, event: Any) -> Effects:
        address = event.bd_addr
        if event.link_type != LINK_TYPE_ACL:
            # No synchronous (SCO/eSCO) support in this stack.
            return self.commands.send(
                hci.RejectConnectionRequest(address, REJECT_LIMITED_RESOURCES)
            )
        record = self.devices.find(address)
        bonded = record is not None and record.paired
        accepted = self.policy is ConnectionPolicy.ACCEPT_ALL or (
            self.policy is ConnectionPolicy.ACCEPT_BONDED and bonded
        )
        if accepted:
            command: Any = hci.AcceptConnectionRequest(address, ROLE_REMAIN_PERIPHERAL)
        else:
            command = hci.RejectConnectionRequest(address, REJECT_UNACCEPTABLE_ADDRESS)
        note = Emit(ConnectionRequestInd(address, event.class_of_device, accepted))
        return [*self.commands.send(command), note]


def _name_timer(address: Address) -> TimerKey:
    return TimerKey(RemoteNameTimer(address), "timeout")


def _page_failure(page: _Page, status: int, reason: str) -> Send:
    return Send(page.sender, ConnectCnf(page.request.token, status, None, reason))
