"""LE scanning: passive and active, legacy or extended reports, duplicate filtering
(Vol 6 Part B 4.4.3; Vol 4 Part E 7.8.10-7.8.11, 7.8.64-7.8.65).

The scanner listens continuously while enabled (scan window = scan interval), so every
advertisement on the air is seen once. Duplicates are keyed by address, report type and data,
so changed advertising data is reported again.
"""

from __future__ import annotations

import struct

import attrs

from bluetrio.address import Address
from bluetrio.controller.air import Link
from bluetrio.controller.config import Phy
from bluetrio.controller.dispatch import (
    Command,
    CommandError,
    Feature,
    Status,
    command,
    receives,
    register_feature,
)
from bluetrio.controller.events import LeSubevent, le_event
from bluetrio.controller.le_common import LeCommandMode, LeCommon
from bluetrio.controller.le_pdus import AdvertisingPdu, ScanRequest, ScanResponse
from bluetrio.controller.timers import Timer

PHY_CODES = {Phy.LE_1M: 0x01, Phy.LE_2M: 0x02, Phy.LE_CODED: 0x03}
# Extended report data is cut to fit one event: 255 minus subevent, count and fixed fields.
EXTENDED_REPORT_DATA_LIMIT = 229
DATA_INCOMPLETE_MORE = 0b01 << 5  # Event_Type data status (Vol 4 Part E 7.7.65.13)


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
    def __init__(self, controller: object) -> None:
        super().__init__(controller)  # type: ignore[arg-type]
        self.settings = ScanSettings()
        self.enabled = False
        self.filter_duplicates = False
        self.address: Address | None = None
        self.seen: set[tuple[Address, int, bytes]] = set()
        self.timers: list[Timer] = []

    @property
    def common(self) -> LeCommon:
        return self.controller.feature(LeCommon)

    def reset(self) -> None:
        self._stop()
        self.settings = ScanSettings()

    def radio_busy(self) -> bool:
        return self.enabled

    def _start(self, filter_duplicates: bool) -> None:
        self.address = self.common.own_address(self.settings.own_address_type)
        self.enabled = True
        self.filter_duplicates = filter_duplicates
        self.seen.clear()
        self.common.busy.add("scanning")

    def _stop(self) -> None:
        self.enabled = False
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
        self.common.busy.discard("scanning")

    # -- receiving -----------------------------------------------------------------------

    def _wanted(self, pdu: AdvertisingPdu) -> bool:
        if not self.enabled:
            return False
        if self.common.mode is LeCommandMode.LEGACY and not pdu.legacy:
            return False  # a legacy scanner does not follow AUX pointers
        if pdu.directed and (pdu.target is None or not self.controller.answers_to(pdu.target)):
            return False
        return not (self.settings.filter_policy & 0b01 and not self.common.accepts(pdu.advertiser))

    @receives(AdvertisingPdu)
    def on_advertisement(self, frame: AdvertisingPdu, link: Link | None) -> None:
        if not self._wanted(frame):
            return
        self._report(frame, frame.data, scan_response=False)
        if self.settings.active and frame.scannable and self.address is not None:
            key = (frame.advertiser, legacy_event_type(frame, True), b"")
            if not (self.filter_duplicates and key in self.seen):
                self.controller.air.unicast(
                    self.controller, frame.advertiser, ScanRequest(self.address, frame.advertiser)
                )

    @receives(ScanResponse)
    def on_scan_response(self, frame: ScanResponse, link: Link | None) -> None:
        if self.enabled and self.settings.active:
            self.seen.add((frame.advertiser, legacy_event_type(frame.to, True), b""))
            self._report(frame.to, frame.data, scan_response=True)

    def _report(self, pdu: AdvertisingPdu, data: bytes, scan_response: bool) -> None:
        key = (pdu.advertiser, legacy_event_type(pdu, scan_response), data)
        if self.filter_duplicates:
            if key in self.seen:
                return
            self.seen.add(key)
        rssi = struct.pack("<b", self.controller.config.rssi)
        address = bytes((pdu.advertiser.type,)) + pdu.advertiser.to_wire()
        if self.common.mode is LeCommandMode.LEGACY:
            self.controller.send_event(
                le_event(
                    LeSubevent.ADVERTISING_REPORT,
                    bytes((1, key[1])) + address + bytes((len(data),)) + data + rssi,
                )
            )
            return
        event_type = extended_event_type(pdu, scan_response)
        target = pdu.target if pdu.directed and pdu.target is not None else Address(bytes(6))
        chunks = [
            data[offset : offset + EXTENDED_REPORT_DATA_LIMIT]
            for offset in range(0, max(len(data), 1), EXTENDED_REPORT_DATA_LIMIT)
        ]
        for index, chunk in enumerate(chunks):
            status = DATA_INCOMPLETE_MORE if index < len(chunks) - 1 else 0
            fields = struct.pack(
                "<H7sBBBbbHB6s",
                event_type | status,
                address,
                PHY_CODES[pdu.primary_phy],
                PHY_CODES[pdu.secondary_phy] if pdu.secondary_phy else 0,
                pdu.sid,
                pdu.tx_power if -127 <= pdu.tx_power <= 126 else 127,
                self.controller.config.rssi,
                0,  # no periodic advertising
                target.type,
                target.to_wire(),
            )
            self.controller.send_event(
                le_event(
                    LeSubevent.EXTENDED_ADVERTISING_REPORT,
                    b"\x01" + fields + bytes((len(chunk),)) + chunk,
                )
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

    @command(0x200B, "LE_Set_Scan_Parameters")
    def le_set_scan_parameters(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        scan_type, interval, window = reader.u8(), reader.u16(), reader.u16()
        own_address_type, filter_policy = reader.u8(), reader.u8()
        reader.done()
        self.common.require_mode(LeCommandMode.LEGACY)
        self._check_settings(scan_type, interval, window)
        if interval > 0x4000:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        self._set_settings(scan_type, own_address_type, filter_policy)
        return b""

    @command(0x200C, "LE_Set_Scan_Enable")
    def le_set_scan_enable(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        enable, filter_duplicates = reader.u8(), reader.u8()
        reader.done()
        self.common.require_mode(LeCommandMode.LEGACY)
        if enable > 1 or filter_duplicates > 1:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if enable and not self.enabled:
            self._start(bool(filter_duplicates))
        elif enable:
            self.filter_duplicates = bool(filter_duplicates)
        else:
            self._stop()
        return b""

    @command(0x2041, "LE_Set_Extended_Scan_Parameters")
    def le_set_extended_scan_parameters(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        own_address_type, filter_policy, phys = reader.u8(), reader.u8(), reader.u8()
        per_phy = [(reader.u8(), reader.u16(), reader.u16()) for _ in range(phys.bit_count())]
        reader.done()
        self.common.require_mode(LeCommandMode.EXTENDED)
        # Scanning_PHYs: bit 0 LE 1M, bit 2 LE Coded (Vol 4 Part E 7.8.64).
        if not phys or phys & ~0b101:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        for scan_type, interval, window in per_phy:
            self._check_settings(scan_type, interval, window)
        self._set_settings(
            any(scan_type for scan_type, _, _ in per_phy), own_address_type, filter_policy
        )
        return b""

    @command(0x2042, "LE_Set_Extended_Scan_Enable")
    def le_set_extended_scan_enable(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        enable, filter_duplicates = reader.u8(), reader.u8()
        duration, period = reader.u16(), reader.u16()
        reader.done()
        self.common.require_mode(LeCommandMode.EXTENDED)
        # Filter_Duplicates 2 ("reset each period") behaves as 1 without periodic scanning.
        if enable > 1 or filter_duplicates > 2 or (enable and period and not duration):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if not enable:
            self._stop()
            return b""
        self._stop()
        self._start(bool(filter_duplicates))
        if duration:
            # Duration counts 10 ms; at its end, LE Scan Timeout (Vol 4 Part E 7.7.65.17).
            self.timers.append(self.controller.call_later(duration * 0.01, self._timed_out))
        return b""

    def _timed_out(self) -> None:
        self._stop()
        self.controller.send_event(le_event(LeSubevent.SCAN_TIMEOUT, b""))
