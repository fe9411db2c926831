"""LE link management: advertising (legacy and extended), scanning with typed reports, and
connecting as central with a timeout and cancellation (Core 5.4 Vol 4 Part E 7.8, Vol 3 Part
C 9.3). Connection completes are handled by the core, which tells this module about them.

A host uses either the legacy LE commands or the extended ones, never both, until HCI_Reset
(Vol 4 Part E 3.1.1): a controller that enforces it answers the other family with Command
Disallowed. The family is chosen once at bring-up (:meth:`LeManager.choose_family`): the
extended one wherever the controller takes it, where a legacy advertisement is an extended
set with legacy-PDU properties.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import attrs

from bluetrio.actors.btm.commands import CommandIssuer, CommandOutcome, SequenceRunner
from bluetrio.actors.btm.controller_info import CommandSequence, Query
from bluetrio.actors.btm.devices import DeviceRecords, identity_key
from bluetrio.actors.btm.timer_owners import LeConnectTimer
from bluetrio.actors.effects import CancelTimer, Effects, Send, StartTimer, TimerKey
from bluetrio.address import Address, AddressType
from bluetrio.errors import DecodeError
from bluetrio.messages import hci
from bluetrio.messages.ad import LEGACY_DATA_LIMIT, AdvertisingData
from bluetrio.messages.btm import (
    AdvertiseReq,
    AdvertiseStopReq,
    AdvertisingParameters,
    BtmCnf,
    ConnectCancelReq,
    ConnectCnf,
    ConnectReq,
    ScanReport,
    ScanReportInd,
    ScanReq,
    ScanStopReq,
)

logger = logging.getLogger(__name__)

COMMAND_DISALLOWED = 0x0C  # Vol 1 Part F 1.3
UNKNOWN_CONNECTION_ID = 0x02  # status of a cancelled LE_Create_Connection (Vol 4 Part E 7.8.13)
CONNECTION_TIMEOUT_STATUS = 0x08  # "Connection Timeout" reported for our own timeout
CONNECT_TIMER = TimerKey(LeConnectTimer(), "timeout")
# How long a connection cancellation may take: the answer to LE_Create_Connection_Cancel and
# the LE Connection Complete that follows it (Vol 4 Part E 7.8.13). Shorter than the grace
# the application allows (stack.CONNECT_CANCEL_GRACE), so the attempt has ended by then.
CANCEL_GRACE = 0.5

# Legacy advertising PDU types (Vol 4 Part E 7.8.5) by (connectable, scannable).
LEGACY_ADVERTISING_TYPES = {
    (True, True): 0x00,  # ADV_IND
    (False, True): 0x02,  # ADV_SCAN_IND
    (False, False): 0x03,  # ADV_NONCONN_IND
}
# Legacy report event types (Vol 4 Part E 7.7.65.2) → (connectable, scannable).
LEGACY_REPORT_TYPES = {
    0x00: (True, True),
    0x01: (True, False),
    0x02: (False, True),
    0x03: (False, False),
}
SCAN_RESPONSE_REPORT = 0x04
# Extended report Event_Type bits (Vol 4 Part E 7.7.65.13).
EXT_CONNECTABLE, EXT_SCANNABLE, EXT_SCAN_RESPONSE = 0x01, 0x02, 0x08
# Advertising_Event_Properties bits (Vol 4 Part E 7.8.53).
EXT_PROP_CONNECTABLE, EXT_PROP_SCANNABLE, EXT_PROP_LEGACY_PDU = 0x01, 0x02, 0x10
# Legacy PDUs sent by an extended advertising set (Vol 4 Part E 7.8.53, Table 7.2) by
# (connectable, scannable).
LEGACY_PDU_PROPERTIES = {
    (True, True): 0x13,  # ADV_IND
    (False, True): 0x12,  # ADV_SCAN_IND
    (False, False): 0x10,  # ADV_NONCONN_IND
}
LE_1M_PHY = 0x01  # Scanning_PHYs, Initiating_PHYs bit 0 (7.8.64, 7.8.66)
# Scan interval and window of an attempt to connect (7.8.12, 7.8.66), in 0.625 ms units.
INITIATOR_SCAN_INTERVAL, INITIATOR_SCAN_WINDOW = 0x0060, 0x0030
EXT_DATA_COMPLETE, EXT_NO_FRAGMENTING = 0x03, 0x01
EXT_DATA_PER_COMMAND = 251  # Vol 4 Part E 7.8.54
ADVERTISING_HANDLE = 0x00
SCAN_CACHE_SIZE = 256  # advertisers remembered to merge their scan responses
ALL_CHANNELS = 0x07

# The address we transmit with now: public, our static random address or our RPA.
OwnAddress = Callable[[], Address]


@attrs.define
class _PendingConnect:
    sender: str
    request: ConnectReq
    own_address: Address  # what LE_Create_Connection's Own_Address_Type named
    cancel_reason: str | None = None  # set once we asked the controller to cancel
    timed_out: bool = False


@attrs.define
class _Seen:
    data: AdvertisingData
    connectable: bool
    scannable: bool


class LeManager:
    def __init__(
        self,
        commands: CommandIssuer,
        devices: DeviceRecords,
        own_address: OwnAddress,
    ) -> None:
        self.commands = commands
        self.devices = devices
        self.own_address = own_address
        # The LE command family of this controller (Vol 4 Part E 3.1.1), set at bring-up.
        self.extended = False
        self.advertising: AdvertisingParameters | None = None
        # The address the advertising (or the last that ran) was started with: a link made
        # by a central answering it carries that address as ours.
        self.advertising_address: Address | None = None
        self.scanning = False
        self.scan_subscriber: str | None = None
        self.connecting: _PendingConnect | None = None
        self.abandoned: Address | None = None  # the peer of an attempt given up on
        self._seen: OrderedDict[Address, _Seen] = OrderedDict()
        self._busy: SequenceRunner | None = None

    @property
    def radio_idle(self) -> bool:
        """No advertising, scanning or initiating: LE_Set_Random_Address is allowed."""
        return self.advertising is None and not self.scanning and self.connecting is None

    def choose_family(self, extended: bool) -> None:
        """Use the extended LE commands (``extended``) or the legacy ones from now until the
        next bring-up; every command this manager sends belongs to that family."""
        self.extended = extended

    def reset(self) -> Effects:
        """The controller was reset: everything stopped; a pending connect fails."""
        self.advertising = None
        self.abandoned = None
        self.scanning = False
        self._seen.clear()
        effects: Effects = []
        if self.connecting is not None:
            pending, self.connecting = self.connecting, None
            effects += [
                CancelTimer(CONNECT_TIMER),
                _connect_failure(pending, 0x03, "controller reset"),
            ]
        return effects

    # -- procedures made of several commands -----------------------------------------------
    def _run(
        self,
        sender: str,
        token: int,
        sequence: CommandSequence[Any],
        now: float,
        on_done: Callable[[], None] = lambda: None,
    ) -> Effects:
        def finished(result: Any, at: float) -> Effects:
            on_done()
            return [Send(sender, BtmCnf(token))]

        def failed(outcome: CommandOutcome, at: float) -> Effects:
            return [Send(sender, outcome.confirmation(token))]

        return SequenceRunner(self.commands, sequence, finished, failed).start(now)

    # -- advertising ------------------------------------------------------------------------
    def advertise(self, sender: str, request: AdvertiseReq, now: float) -> Effects:
        parameters = request.parameters
        if self.advertising is not None:
            return [Send(sender, BtmCnf(request.token, COMMAND_DISALLOWED, "already advertising"))]
        if parameters.extended and not self.extended:
            return [
                Send(sender, BtmCnf(request.token, 0x11, "controller lacks extended advertising"))
            ]
        sequence = (
            self._extended_advertising(parameters)
            if self.extended
            else self._legacy_advertising(parameters)
        )

        def started() -> None:
            self.advertising = parameters

        self.advertising_address = self.own_address()
        return self._run(sender, request.token, sequence, now, started)

    def _own_address_type(self) -> int:
        """Own_Address_Type (Vol 4 Part E 7.8.5): 0x00 public, 0x01 the random address."""
        return AddressType.RANDOM if self.own_address().is_random else AddressType.PUBLIC

    def _legacy_advertising(self, p: AdvertisingParameters) -> CommandSequence[None]:
        kind = LEGACY_ADVERTISING_TYPES.get((p.connectable, p.scannable), 0x00)
        yield Query(hci.LeSetAdvertisingParameters(
            p.interval_min, p.interval_max, kind, self._own_address_type(), Address(bytes(6)),
            ALL_CHANNELS, 0))  # fmt: skip
        yield Query(hci.LeSetAdvertisingData(p.data.encode(LEGACY_DATA_LIMIT)))
        if p.scan_response is not None:
            yield Query(hci.LeSetScanResponseData(p.scan_response.encode(LEGACY_DATA_LIMIT)))
        yield Query(hci.LeSetAdvertisingEnable(1))

    def _extended_advertising(self, p: AdvertisingParameters) -> CommandSequence[None]:
        """An advertising set: extended PDUs, or legacy ones for a legacy advertisement
        (whose data then holds at most 31 octets, 7.8.54)."""
        if p.extended:
            properties = (EXT_PROP_CONNECTABLE if p.connectable else 0) | (
                EXT_PROP_SCANNABLE if p.scannable else 0
            )
            limit = EXT_DATA_PER_COMMAND
        else:
            properties = LEGACY_PDU_PROPERTIES.get((p.connectable, p.scannable), 0x13)
            limit = LEGACY_DATA_LIMIT
        yield Query(hci.LeSetExtendedAdvertisingParameters(
            ADVERTISING_HANDLE, properties, p.interval_min, p.interval_max, ALL_CHANNELS,
            self._own_address_type(), Address(bytes(6)), 0, 0x7F, 0x01, 0, 0x01, 0, 0))  # fmt: skip
        own = self.own_address()
        if own.is_random:
            # A set advertising with a random address has its own (7.8.52); enabling it
            # without one is refused with Invalid HCI Command Parameters (7.8.56).
            yield Query(hci.LeSetAdvertisingSetRandomAddress(ADVERTISING_HANDLE, own))
        # One command carries 251 octets (7.8.54); longer data needs fragmenting, which the
        # validation below refuses rather than send half of it.
        data = p.data.encode(limit)
        yield Query(hci.LeSetExtendedAdvertisingData(
            ADVERTISING_HANDLE, EXT_DATA_COMPLETE, EXT_NO_FRAGMENTING, data))  # fmt: skip
        if p.scan_response is not None:
            response = p.scan_response.encode(limit)
            yield Query(hci.LeSetExtendedScanResponseData(
                ADVERTISING_HANDLE, EXT_DATA_COMPLETE, EXT_NO_FRAGMENTING, response))  # fmt: skip
        yield Query(hci.LeSetExtendedAdvertisingEnable(
            1, (hci.AdvertisingSetEnable(ADVERTISING_HANDLE, 0, 0),)))  # fmt: skip

    def stop_advertising(self, sender: str, request: AdvertiseStopReq, now: float) -> Effects:
        if self.advertising is None:
            return [Send(sender, BtmCnf(request.token))]
        self.advertising = None
        command: Any = (
            hci.LeSetExtendedAdvertisingEnable(
                0, (hci.AdvertisingSetEnable(ADVERTISING_HANDLE, 0, 0),)
            )
            if self.extended
            else hci.LeSetAdvertisingEnable(0)
        )
        return self._run(sender, request.token, _single(command), now)

    def on_connected_as_peripheral(self) -> None:
        # Connectable advertising stops when a connection is created (Vol 4 Part E 7.8.9).
        if self.advertising is not None and self.advertising.connectable:
            self.advertising = None

    # -- scanning ---------------------------------------------------------------------------
    def scan(self, sender: str, request: ScanReq, now: float) -> Effects:
        if self.scanning:
            return [Send(sender, BtmCnf(request.token, COMMAND_DISALLOWED, "already scanning"))]
        self._seen.clear()
        self.scan_subscriber = sender

        def started() -> None:
            self.scanning = True

        return self._run(sender, request.token, self._scan_sequence(request), now, started)

    def _scan_sequence(self, request: ScanReq) -> CommandSequence[None]:
        active, duplicates = int(request.active), int(request.filter_duplicates)
        if self.extended:
            # On the 1M PHY only, as legacy scanning does (7.8.64); no duration (7.8.65).
            phy = hci.ExtendedScanPhyParameters(active, request.interval, request.window)
            yield Query(hci.LeSetExtendedScanParameters(
                self._own_address_type(), 0, LE_1M_PHY, (phy,)))  # fmt: skip
            yield Query(hci.LeSetExtendedScanEnable(1, duplicates, 0, 0))
            return
        yield Query(hci.LeSetScanParameters(
            active, request.interval, request.window, self._own_address_type(), 0))  # fmt: skip
        yield Query(hci.LeSetScanEnable(1, duplicates))

    def stop_scan(self, sender: str, request: ScanStopReq, now: float) -> Effects:
        if not self.scanning:
            return [Send(sender, BtmCnf(request.token))]
        self.scanning = False
        self.scan_subscriber = None
        command: Any = (
            hci.LeSetExtendedScanEnable(0, 0, 0, 0) if self.extended else hci.LeSetScanEnable(0, 0)
        )
        return self._run(sender, request.token, _single(command), now)

    def on_advertising_report(self, event: Any) -> Effects:
        if not self.scanning or self.scan_subscriber is None:
            return []
        effects: Effects = []
        for report in event.reports:
            if isinstance(report, hci.ExtendedAdvertisingReport):
                if report.address_type > AddressType.RANDOM_IDENTITY:
                    continue  # anonymous advertiser (Vol 4 Part E 7.7.65.13)
                address = report.address.with_type(AddressType(report.address_type))
                kind = report.event_type
                found = self._report(address, report.data, report.rssi,
                                     bool(kind & EXT_CONNECTABLE), bool(kind & EXT_SCANNABLE),
                                     bool(kind & EXT_SCAN_RESPONSE))  # fmt: skip
            else:
                connectable, scannable = LEGACY_REPORT_TYPES.get(report.event_type, (False, False))
                found = self._report(
                    report.address,
                    report.data,
                    report.rssi,
                    connectable,
                    scannable,
                    report.event_type == SCAN_RESPONSE_REPORT,
                )
            if found is not None:
                effects.append(Send(self.scan_subscriber, ScanReportInd(found)))
        return effects

    def _report(self, address: Address, raw: bytes, rssi: int, connectable: bool,
                scannable: bool, scan_response: bool) -> ScanReport | None:  # fmt: skip
        try:
            data = AdvertisingData.decode(raw)
        except DecodeError as exc:
            logger.info(
                "btm: advertising data from %s is malformed (%s); reported empty", address, exc
            )
            data = AdvertisingData.EMPTY
        address, resolved = self.peer_identity(address)
        rssi_value = None if rssi == 127 else rssi  # 127: not available (7.7.65.2)
        if scan_response:
            seen = self._seen.get(address)
            if seen is None:
                return ScanReport(address, rssi_value, data, False, True, True, resolved)
            return ScanReport(address, rssi_value, seen.data.merged(data), seen.connectable,
                              seen.scannable, True, resolved)  # fmt: skip
        self._seen[address] = _Seen(data, connectable, scannable)
        self._seen.move_to_end(address)
        while len(self._seen) > SCAN_CACHE_SIZE:
            self._seen.popitem(last=False)
        return ScanReport(address, rssi_value, data, connectable, scannable, False, resolved)

    def peer_identity(self, address: Address) -> tuple[Address, bool]:
        """The identity behind ``address`` when a peer IRK we hold resolves it (Vol 3 Part C
        10.8.2.3)."""
        if address.type >= 0x02:  # the controller resolved it already (7.7.65.10)
            return identity_key(address), True
        record = self.devices.resolve(address)
        if record is None:
            return address, False
        record.last_private_address = address
        return record.address, True

    # -- connecting as central --------------------------------------------------------------
    def connect(self, sender: str, request: ConnectReq, now: float) -> Effects:
        if self.connecting is not None:
            return [
                Send(
                    sender,
                    ConnectCnf(
                        request.token,
                        COMMAND_DISALLOWED,
                        None,
                        "another LE connection attempt is in progress",
                    ),
                )
            ]
        own = self.own_address()
        self.connecting = _PendingConnect(sender, request, own)
        self.abandoned = None
        return [
            *self.commands.send(self._create_connection(request, own), self._on_create_status),
            StartTimer(CONNECT_TIMER, now + request.timeout),
        ]

    def _create_connection(self, request: ConnectReq, own: Address) -> Any:
        """LE_Extended_Create_Connection on the 1M PHY (7.8.66) or LE_Create_Connection
        (7.8.12), by the family in use."""
        p = request.parameters
        if self.extended:
            phy = hci.ExtendedCreateConnectionPhyParameters(
                INITIATOR_SCAN_INTERVAL, INITIATOR_SCAN_WINDOW, p.interval_min, p.interval_max,
                p.latency, p.supervision_timeout, 0, 0)  # fmt: skip
            return hci.LeExtendedCreateConnection(
                0, int(own.type), request.address, LE_1M_PHY, (phy,)
            )
        return hci.LeCreateConnection(
            INITIATOR_SCAN_INTERVAL, INITIATOR_SCAN_WINDOW, 0, request.address, int(own.type),
            p.interval_min, p.interval_max, p.latency, p.supervision_timeout, 0, 0)  # fmt: skip

    def _on_create_status(self, outcome: CommandOutcome, now: float) -> Effects:
        if outcome.ok or self.connecting is None:
            return []
        pending, self.connecting = self.connecting, None
        return [
            CancelTimer(CONNECT_TIMER),
            _connect_failure(pending, outcome.status, outcome.describe()),
        ]

    def on_connect_timeout(self, now: float) -> Effects:
        pending = self.connecting
        if pending is None:
            return []
        if pending.cancel_reason is not None:
            # Cancelled, yet no LE Connection Complete came (7.8.13 promises one).
            return self._give_up(pending, "the controller confirmed the cancellation but sent no "
                                 "LE Connection Complete")  # fmt: skip
        request = pending.request
        pending.timed_out = True
        return self._cancel(pending, f"no connection to {request.address} within "
                            f"{request.timeout:g} s", now)  # fmt: skip

    def cancel(self, sender: str, request: ConnectCancelReq, now: float) -> Effects:
        pending = self.connecting
        if pending is None or pending.request.address != request.address:
            return [
                Send(
                    sender,
                    BtmCnf(
                        request.token,
                        UNKNOWN_CONNECTION_ID,
                        f"no LE connection attempt to {request.address}",
                    ),
                )
            ]
        effects: Effects = [Send(sender, BtmCnf(request.token))]
        if pending.cancel_reason is None:
            effects = self._cancel(pending, "cancelled by the application", now) + effects
        return effects

    def _cancel(self, pending: _PendingConnect, reason: str, now: float) -> Effects:
        """Ask the controller to stop initiating (Vol 4 Part E 7.8.13). Its LE Connection
        Complete (0x02) ends the attempt; a refusal, no answer, or no event within
        :data:`CANCEL_GRACE` ends it here, so that the next attempt is not refused."""
        pending.cancel_reason = reason

        def answered(outcome: CommandOutcome, at: float) -> Effects:
            if outcome.ok or self.connecting is not pending:
                return []
            # 0x0C: the controller is not initiating (it never started, or already ended).
            return self._give_up(pending, f"the cancellation failed ({outcome.describe()})")

        cancel = hci.LeCreateConnectionCancel()
        return [
            *self.commands.send(cancel, answered, timeout=CANCEL_GRACE),
            StartTimer(CONNECT_TIMER, now + CANCEL_GRACE),
        ]

    def _give_up(self, pending: _PendingConnect, why: str) -> Effects:
        self.connecting = None
        # The controller may still complete it (a refused cancellation can mean the link is
        # up already); such a link is nobody's and is disconnected when it shows up.
        self.abandoned = pending.request.address
        status = CONNECTION_TIMEOUT_STATUS if pending.timed_out else UNKNOWN_CONNECTION_ID
        reason = f"{pending.cancel_reason}; {why}"
        logger.warning("btm: LE connection attempt to %s ended: %s", pending.request.address, why)
        return [CancelTimer(CONNECT_TIMER), _connect_failure(pending, status, reason)]

    def take_abandoned(self, address: Address) -> bool:
        """Whether a central link to ``address`` completes an attempt we gave up on."""
        if self.abandoned is None or self.abandoned != address:
            return False
        self.abandoned = None
        return True

    def take_pending_connect(
        self, status: int, role_central: bool
    ) -> tuple[_PendingConnect | None, Effects]:
        """On an LE connection complete: the central attempt it answers, if any."""
        if not role_central and status == 0:
            return None, []
        pending, self.connecting = self.connecting, None
        effects: Effects = [CancelTimer(CONNECT_TIMER)] if pending is not None else []
        if pending is not None and status != 0:
            reason = pending.cancel_reason or "LE connection failed"
            code = CONNECTION_TIMEOUT_STATUS if pending.timed_out else status
            effects.append(_connect_failure(pending, code, reason))
            return None, effects
        return pending, effects


def _connect_failure(pending: _PendingConnect, status: int, reason: str) -> Send:
    return Send(pending.sender, ConnectCnf(pending.request.token, status, None, reason))


def _single(command: Any) -> CommandSequence[None]:
    yield Query(command)
