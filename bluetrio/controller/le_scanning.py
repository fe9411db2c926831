"""LE scanning: passive and active, legacy or extended reports, duplicate filtering
(Vol 6 Part B 4.4.3; Vol 4 Part E 7.8.10-7.8.11, 7.8.64-7.8.65).

The scanner listens continuously while enabled (scan window = scan interval), so every
advertisement on the air is seen once. Duplicates are keyed by address, report type and data,
so changed advertising data is reported again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from bluetrio.address import Address, AddressType
from bluetrio.controller.air import Link
from bluetrio.controller.config import Phy
from bluetrio.controller.dispatch import (
    CommandError,
    Feature,
    Status,
    handles,
    receives,
    register_feature,
)
from bluetrio.controller.le_common import LeCommandMode, LeCommon
from bluetrio.controller.le_pdus import AdvertisingPdu, ScanRequest, ScanResponse
from bluetrio.controller.le_privacy import Identified
from bluetrio.controller.timers import Timer
from bluetrio.messages import hci

if TYPE_CHECKING:
    from bluetrio.controller.controller import VirtualController

PHY_CODES = {Phy.LE_1M: 0x01, Phy.LE_2M: 0x02, Phy.LE_CODED: 0x03}
# Extended report data is cut to fit one event: 255 minus subevent, count and fixed fields.
EXTENDED_REPORT_DATA_LIMIT = 229
DATA_INCOMPLETE_MORE = 0b01 << 5  # Event_Type data status (Vol 4 Part E 7.7.65.13)
# Direct_Address_Type of an RPA the controller could not resolve (Vol 4 Part E 7.7.65.13).
UNRESOLVED_RPA = 0xFE
# Units of Duration and Period in LE_Set_Extended_Scan_Enable (Vol 4 Part E 7.8.65).
SCAN_DURATION_UNIT = 0.01
SCAN_PERIOD_UNIT = 1.28


def legacy_event_type(pdu: AdvertisingPdu, scan_response: bool) -> int:
    """Advertising Report Event_Type (Vol 4 Part E 7.7.65.2)."""
    if scan_response:
        return 0x04
    if pdu.directed:
        return 0x01
    if pdu.connectable:
        return 0x00
    return 0x02 if pdu.scannable else 0x03


def extended_event_type(pdu: AdvertisingPdu, scan_response: bool) -> int:
    """Extended Advertising Report Event_Type bits 0-4 (Vol 4 Part E 7.7.65.13)."""
    bits = (pdu.connectable, pdu.scannable, pdu.directed, scan_response, pdu.legacy)
    return sum(1 << index for index, bit in enumerate(bits) if bit)


@attrs.define
class ScanSettings:
    active: bool = False
    own_address_type: int = 0
    filter_policy: int = 0


@register_feature
class LeScanning(Feature):
    def __init__(self, controller: VirtualController) -> None:
        super().__init__(controller)
        self.settings = ScanSettings()
        # Enabled by the host; listening while within a scan duration (Vol 4 Part E 7.8.65:
        # with a Period the scanner pauses from the end of each Duration to the next Period).
        self.enabled = False
        self.listening = False
        self.filter_duplicates = False
        self.address: Address | None = None
        # The duplicate filter: what was reported since scanning was enabled (or, with
        # Filter_Duplicates 0x02, since the period began).
        self.seen: set[tuple[Address, int, bytes]] = set()
        # Advertisers that answered a scan request: while duplicates are filtered they are not
        # asked again (the back-off of Vol 6 Part B 4.4.3.2 reduced to its effect). Kept apart
        # from the duplicate filter so that their first scan response is always reported.
        self.answered: set[Address] = set()
        self.timers: list[Timer] = []

    @property
    def common(self) -> LeCommon:
        return self.controller.feature(LeCommon)

    def reset(self) -> None:
        self._stop()
        self.settings = ScanSettings()

    def le_activity(self) -> bool:
        return self.enabled

    def _start(self, filter_duplicates: bool) -> None:
        self.address = self.common.own_address(self.settings.own_address_type)
        self.enabled = self.listening = True
        self.filter_duplicates = filter_duplicates
        self.seen.clear()
        self.answered.clear()
        self.common.busy.add("scanning")

    def _stop(self) -> None:
        self.enabled = self.listening = False
        self._cancel_timers()
        self.common.busy.discard("scanning")

    def _cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()

    # -- receiving -----------------------------------------------------------------------

    def _identified(self, pdu: AdvertisingPdu) -> Identified | None:
        """The advertiser as reported, if this scanner takes the PDU (Vol 6 Part B 4.4.3)."""
        if not self.listening:
            return None
        if self.common.mode is LeCommandMode.LEGACY and not pdu.legacy:
            return None  # a legacy scanner does not follow AUX pointers
        if pdu.directed and not self._takes_directed(pdu.target):
            return None
        advertiser = self.common.privacy.identify(pdu.advertiser)
        if advertiser is None:
            return None
        # The Filter Accept List holds identities: a resolved RPA is checked as its identity.
        if self.settings.filter_policy & 0b01 and not self.common.accepts(advertiser.identity):
            return None
        return advertiser

    @receives(AdvertisingPdu)
    def on_advertisement(self, frame: AdvertisingPdu, link: Link | None) -> None:
        advertiser = self._identified(frame)
        if advertiser is None:
            return
        self._report(frame, advertiser, frame.data, scan_response=False)
        asks = self.settings.active and frame.scannable and self.address is not None
        if asks and not (self.filter_duplicates and frame.advertiser in self.answered):
            scanner = self.common.own_address(
                self.settings.own_address_type, peer=advertiser.identity
            )
            request = ScanRequest(scanner, frame.advertiser)
            self.controller.air.unicast(self.controller, frame.advertiser, request)

    @receives(ScanResponse)
    def on_scan_response(self, frame: ScanResponse, link: Link | None) -> None:
        if not (self.listening and self.settings.active):
            return
        advertiser = self.common.privacy.identify(frame.advertiser)
        if advertiser is not None:
            self.answered.add(frame.advertiser)
            self._report(frame.to, advertiser, frame.data, scan_response=True)

    def _report(
        self, pdu: AdvertisingPdu, advertiser: Identified, data: bytes, scan_response: bool
    ) -> None:
        reported = advertiser.address
        key = (reported, legacy_event_type(pdu, scan_response), data)
        if self.filter_duplicates:
            if key in self.seen:
                return
            self.seen.add(key)
        rssi = self.controller.config.rssi
        if self.common.mode is LeCommandMode.LEGACY and self._reports_as_directed(pdu):
            assert pdu.target is not None
            # Direct_Address_Type 0x01: a random device address (7.7.65.11).
            directed = hci.DirectedAdvertisingReport(
                key[1], reported, AddressType.RANDOM, pdu.target, rssi
            )
            self.controller.send_event(hci.LeDirectedAdvertisingReport((directed,)))
            return
        if self.common.mode is LeCommandMode.LEGACY:
            report = hci.AdvertisingReport(key[1], reported, data, rssi)
            self.controller.send_event(hci.LeAdvertisingReport((report,)))
            return
        event_type = extended_event_type(pdu, scan_response)
        target = pdu.target if pdu.directed and pdu.target is not None else Address(bytes(6))
        chunks = [
            data[offset : offset + EXTENDED_REPORT_DATA_LIMIT]
            for offset in range(0, max(len(data), 1), EXTENDED_REPORT_DATA_LIMIT)
        ]
        for index, chunk in enumerate(chunks):
            status = DATA_INCOMPLETE_MORE if index < len(chunks) - 1 else 0
            extended = hci.ExtendedAdvertisingReport(
                event_type=event_type | status,
                address_type=reported.type,
                address=reported,
                primary_phy=PHY_CODES[pdu.primary_phy],
                secondary_phy=PHY_CODES[pdu.secondary_phy] if pdu.secondary_phy else 0,
                advertising_sid=pdu.sid,
                tx_power=pdu.tx_power if -127 <= pdu.tx_power <= 126 else 127,
                rssi=rssi,
                periodic_advertising_interval=0,  # no periodic advertising
                direct_address_type=self._direct_address_type(target),
                direct_address=target,
                data=chunk,
            )
            self.controller.send_event(hci.LeExtendedAdvertisingReport((extended,)))

    def _takes_directed(self, target: Address | None) -> bool:
        """A directed PDU is for this scanner when TargetA is ours; with the extended scanner
        filter policies (0x02, 0x03) also when it is an RPA, resolved or not (7.8.10)."""
        if target is None:
            return False
        if self.common.privacy.targets_us(target):
            return True
        return bool(self.settings.filter_policy & 0b10) and target.is_resolvable_private

    def _direct_address_type(self, target: Address) -> int:
        """Direct_Address_Type of extended reports (Vol 4 Part E 7.7.65.13): an RPA the
        resolving list resolved as ours is 0x02 or 0x03, after the scanner's own address type;
        one it could not resolve is 0xFE."""
        if not target.is_resolvable_private:
            return target.type & 1
        if self.common.privacy.targets_us(target):
            return 0x03 if self.settings.own_address_type & 1 else 0x02
        return UNRESOLVED_RPA

    def _reports_as_directed(self, pdu: AdvertisingPdu) -> bool:
        """Legacy scanning reports a directed PDU whose TargetA is an RPA it cannot resolve,
        taken under an extended filter policy, with LE Directed Advertising Report
        (Vol 4 Part E 7.7.65.11)."""
        target = pdu.target
        return (
            pdu.directed
            and target is not None
            and target.is_resolvable_private
            and not self.common.privacy.targets_us(target)
        )

    # -- commands ------------------------------------------------------------------------

    def _check_settings(self, scan_type: int, interval: int, window: int) -> None:
        if scan_type > 1 or not 0x0004 <= window <= interval <= 0xFFFF:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)

    def _set_settings(self, active: int, own_address_type: int, filter_policy: int) -> None:
        if self.enabled:
            raise CommandError(Status.COMMAND_DISALLOWED)
        if own_address_type > 3 or filter_policy > 3:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        self.settings = ScanSettings(bool(active), own_address_type, filter_policy)

    @handles(hci.LeSetScanParameters)
    def le_set_scan_parameters(self, command: hci.LeSetScanParameters) -> None:
        self.common.require_mode(LeCommandMode.LEGACY)
        self._check_settings(command.le_scan_type, command.le_scan_interval, command.le_scan_window)
        if command.le_scan_interval > 0x4000:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        self._set_settings(
            command.le_scan_type, command.own_address_type, command.scanning_filter_policy
        )

    @handles(hci.LeSetScanEnable)
    def le_set_scan_enable(self, command: hci.LeSetScanEnable) -> None:
        self.common.require_mode(LeCommandMode.LEGACY)
        enable, filter_duplicates = command.le_scan_enable, command.filter_duplicates
        if enable > 1 or filter_duplicates > 1:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if enable and not self.enabled:
            self._start(bool(filter_duplicates))
        elif enable:
            self.filter_duplicates = bool(filter_duplicates)
        else:
            self._stop()

    @handles(hci.LeSetExtendedScanParameters)
    def le_set_extended_scan_parameters(self, command: hci.LeSetExtendedScanParameters) -> None:
        self.common.require_mode(LeCommandMode.EXTENDED)
        # Scanning_PHYs: bit 0 LE 1M, bit 2 LE Coded (Vol 4 Part E 7.8.64).
        phys = command.scanning_phys
        if not phys or phys & ~0b101:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        for phy in command.phys:
            self._check_settings(phy.scan_type, phy.scan_interval, phy.scan_window)
        self._set_settings(
            any(phy.scan_type for phy in command.phys),
            command.own_address_type,
            command.scanning_filter_policy,
        )

    @handles(hci.LeSetExtendedScanEnable)
    def le_set_extended_scan_enable(self, command: hci.LeSetExtendedScanEnable) -> None:
        self.common.require_mode(LeCommandMode.EXTENDED)
        enable, filter_duplicates = command.enable, command.filter_duplicates
        duration, period = command.duration, command.period
        if enable > 1 or filter_duplicates > 2:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if not enable:
            self._stop()
            return
        # Vol 4 Part E 7.8.65: a Period needs a Duration shorter than it, and resetting the
        # filter each period (0x02) needs both.
        duration_s, period_s = duration * SCAN_DURATION_UNIT, period * SCAN_PERIOD_UNIT
        if (
            (period and not duration)
            or (period and duration_s >= period_s)
            or (filter_duplicates == 0x02 and not (duration and period))
        ):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if self.enabled:
            # Enabled again while enabled: the new Filter_Duplicates, Duration and Period apply
            # from now on, but the duplicate filter is kept until scanning is disabled.
            self._cancel_timers()
            self.filter_duplicates = bool(filter_duplicates)
            self.listening = True
        else:
            self._start(bool(filter_duplicates))
        if duration:
            self.timers.append(
                self.controller.call_later(duration_s, lambda: self._duration_over(period_s))
            )
        if period:
            reset_each_period = filter_duplicates == 0x02
            self.timers.append(
                self.controller.call_later(
                    period_s, lambda: self._next_period(duration_s, period_s, reset_each_period)
                )
            )

    def _duration_over(self, period_s: float) -> None:
        if period_s:
            self.listening = False  # until the next period begins
            return
        # Without a Period, scanning ends with LE Scan Timeout (Vol 4 Part E 7.7.65.17).
        self._stop()
        self.controller.send_event(hci.LeScanTimeout())

    def _next_period(self, duration_s: float, period_s: float, reset_each_period: bool) -> None:
        if not self.enabled:
            return
        self._cancel_timers()
        self.listening = True
        if reset_each_period:
            self.seen.clear()
            self.answered.clear()
        self.timers.append(
            self.controller.call_later(duration_s, lambda: self._duration_over(period_s))
        )
        self.timers.append(
            self.controller.call_later(
                period_s, lambda: self._next_period(duration_s, period_s, reset_each_period)
            )
        )
