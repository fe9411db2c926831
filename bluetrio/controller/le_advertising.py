"""LE advertising: the legacy advertiser and extended advertising sets (Vol 6 Part B 4.4.2;
Vol 4 Part E 7.8.5-7.8.9, 7.8.53-7.8.61).

Timing choice: an enabled set transmits once on enable and then every advertising interval
(the minimum the host allowed) on the Trio clock, without the random advDelay, so tests are
deterministic and run instantly under MockClock. A legacy set is one advertising set with
handle 0 that the legacy commands address.
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

ADVERTISING_UNIT = 0.000625  # intervals count 0.625 ms (Vol 4 Part E 7.8.5)
HIGH_DUTY_DIRECTED_TIMEOUT = 1.28  # seconds (Vol 6 Part B 4.4.2.4.3)
HIGH_DUTY_DIRECTED_INTERVAL = 0.00375
LEGACY_DATA_LIMIT = 31
MAX_ADVERTISING_HANDLE = 0xEF

# Advertising_Event_Properties bits (Vol 4 Part E 7.8.53).
CONNECTABLE, SCANNABLE, DIRECTED, HIGH_DUTY, LEGACY, ANONYMOUS, INCLUDE_TX_POWER = (
    1 << bit for bit in range(7)
)

# Legacy Advertising_Type (7.8.5) -> the equivalent legacy event properties (7.8.53 table).
LEGACY_TYPE_PROPERTIES = {
    0x00: LEGACY | SCANNABLE | CONNECTABLE,  # ADV_IND
    0x01: LEGACY | HIGH_DUTY | DIRECTED | CONNECTABLE,  # ADV_DIRECT_IND, high duty cycle
    0x02: LEGACY | SCANNABLE,  # ADV_SCAN_IND
    0x03: LEGACY,  # ADV_NONCONN_IND
    0x04: LEGACY | DIRECTED | CONNECTABLE,  # ADV_DIRECT_IND, low duty cycle
}
PHYS = {0x01: Phy.LE_1M, 0x02: Phy.LE_2M, 0x03: Phy.LE_CODED}


@attrs.define(eq=False)
class AdvertisingSet:
    handle: int
    properties: int = LEGACY_TYPE_PROPERTIES[0x00]
    interval: float = 0x0800 * ADVERTISING_UNIT
    own_address_type: int = 0
    peer_address: Address | None = None
    filter_policy: int = 0
    tx_power: int = 0
    primary_phy: Phy = Phy.LE_1M
    secondary_phy: Phy = Phy.LE_1M
    sid: int = 0
    scan_request_notification: bool = False
    data: bytes = b""
    scan_response_data: bytes = b""
    random_address: Address | None = None
    enabled: bool = False
    address: Address | None = None  # what it transmits with while enabled
    events_left: int | None = None
    events_sent: int = 0
    timers: list[Timer] = attrs.field(factory=list)

    @property
    def legacy(self) -> bool:
        return bool(self.properties & LEGACY)

    def has(self, bit: int) -> bool:
        return bool(self.properties & bit)


def _interval(value: int) -> float:
    if not 0x20 <= value <= 0xFFFFFF:
        raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
    return value * ADVERTISING_UNIT


@register_feature
class LeAdvertising(Feature):
    def __init__(self, controller: VirtualController) -> None:
        super().__init__(controller)
        self.sets: dict[int, AdvertisingSet] = {}

    @property
    def common(self) -> LeCommon:
        return self.controller.feature(LeCommon)

    def reset(self) -> None:
        for advertising_set in self.sets.values():
            self._stop(advertising_set)
        self.sets.clear()

    def le_activity(self) -> bool:
        return any(advertising_set.enabled for advertising_set in self.sets.values())

    # -- running a set -------------------------------------------------------------------

    def _transmit_address(self, advertising_set: AdvertisingSet) -> Address:
        # With own address type 0x02/0x03 the Peer_Address names the entry whose local IRK
        # makes our RPA (Vol 4 Part E 7.8.5, 7.8.53). A random address is the set's own: an
        # extended set's from LE_Set_Advertising_Set_Random_Address (7.8.52), else enabling
        # it is 0x12 (7.8.56); the legacy set's is LE_Set_Random_Address's (7.8.4).
        return self.common.transmit_address(
            advertising_set.own_address_type,
            advertising_set.peer_address,
            advertising_set.random_address,
        )

    def on_rpa_timeout(self) -> None:
        for advertising_set in self.sets.values():
            if advertising_set.enabled and advertising_set.own_address_type in (0x02, 0x03):
                advertising_set.address = self._transmit_address(advertising_set)

    def _start(self, advertising_set: AdvertisingSet, duration: float, max_events: int) -> None:
        advertising_set.address = self._transmit_address(advertising_set)
        advertising_set.enabled = True
        advertising_set.events_sent = 0
        advertising_set.events_left = max_events or None
        if advertising_set.legacy and advertising_set.handle == 0 and self._legacy_mode():
            self.common.busy.add("legacy-advertising")
        interval = advertising_set.interval
        if advertising_set.has(HIGH_DUTY):
            interval = HIGH_DUTY_DIRECTED_INTERVAL
            duration = duration or HIGH_DUTY_DIRECTED_TIMEOUT
        if duration:
            advertising_set.timers.append(
                self.controller.call_later(
                    duration, lambda: self._end(advertising_set, Status.ADVERTISING_TIMEOUT)
                )
            )
        self._advertise(advertising_set, interval)

    def _advertise(self, advertising_set: AdvertisingSet, interval: float) -> None:
        if not advertising_set.enabled or advertising_set.address is None:
            return
        self.controller.air.broadcast(
            self.controller, self.pdu_of(advertising_set), advertising_set.primary_phy
        )
        advertising_set.events_sent += 1
        if advertising_set.events_left is not None:
            advertising_set.events_left -= 1
            if advertising_set.events_left <= 0:
                self._end(advertising_set, Status.LIMIT_REACHED)
                return
        advertising_set.timers.append(
            self.controller.call_later(interval, lambda: self._advertise(advertising_set, interval))
        )

    def pdu_of(self, advertising_set: AdvertisingSet) -> AdvertisingPdu:
        assert advertising_set.address is not None
        return AdvertisingPdu(
            advertiser=advertising_set.address,
            connectable=advertising_set.has(CONNECTABLE),
            scannable=advertising_set.has(SCANNABLE),
            directed=advertising_set.has(DIRECTED),
            legacy=advertising_set.legacy,
            # Directed PDUs carry no advertising data (Vol 6 Part B 2.3.1.2).
            data=b""
            if advertising_set.has(DIRECTED) and advertising_set.legacy
            else advertising_set.data,
            target=self._target(advertising_set),
            sid=0xFF if advertising_set.legacy else advertising_set.sid,
            tx_power=advertising_set.tx_power,
            primary_phy=advertising_set.primary_phy,
            secondary_phy=None if advertising_set.legacy else advertising_set.secondary_phy,
        )

    def _target(self, advertising_set: AdvertisingSet) -> Address | None:
        """TargetA of a directed set: the peer's RPA when the list has its IRK (6.3)."""
        peer = advertising_set.peer_address
        if not advertising_set.has(DIRECTED) or peer is None:
            return None
        return self.common.privacy.target_address(peer)

    def _stop(self, advertising_set: AdvertisingSet) -> None:
        advertising_set.enabled = False
        for timer in advertising_set.timers:
            timer.cancel()
        advertising_set.timers.clear()
        if advertising_set.handle == 0 and self._legacy_mode():
            self.common.busy.discard("legacy-advertising")

    def _end(
        self, advertising_set: AdvertisingSet, status: int, connection_handle: int = 0
    ) -> None:
        """The set stops by itself: timeout, event limit or a connection."""
        self._stop(advertising_set)
        if self._legacy_mode():
            if status == Status.ADVERTISING_TIMEOUT and advertising_set.has(HIGH_DUTY):
                # Legacy high duty directed advertising reports its timeout as a failed
                # connection (Vol 4 Part E 7.8.9).
                self.controller.send_event(
                    self.common.connection_complete_event(Status.ADVERTISING_TIMEOUT)
                )
            return
        self.controller.send_event(
            hci.LeAdvertisingSetTerminated(
                status,
                advertising_set.handle,
                connection_handle,
                min(advertising_set.events_sent, 0xFF),
            )
        )

    def _legacy_mode(self) -> bool:
        return self.common.mode is LeCommandMode.LEGACY

    # -- used by the connection feature --------------------------------------------------

    def accept_connection(
        self, initiator: Identified, advertiser: Address
    ) -> AdvertisingSet | None:
        """The enabled connectable set that takes a CONNECT_IND from ``initiator``, if any."""
        for advertising_set in self.sets.values():
            if not (
                advertising_set.enabled
                and advertising_set.has(CONNECTABLE)
                and advertising_set.address == advertiser
            ):
                continue
            if advertising_set.has(DIRECTED) and advertising_set.peer_address != initiator.identity:
                continue
            if advertising_set.filter_policy & 0b10 and not self.common.accepts(initiator.identity):
                continue
            self._stop(advertising_set)
            return advertising_set
        return None

    def connected(self, advertising_set: AdvertisingSet, connection_handle: int) -> None:
        """Advertising ends with the connection (Vol 4 Part E 7.7.65.18)."""
        if not self._legacy_mode():
            self._end(advertising_set, Status.SUCCESS, connection_handle)

    @receives(ScanRequest)
    def on_scan_request(self, frame: ScanRequest, link: Link | None) -> None:
        scanner = self.common.privacy.identify(frame.scanner)
        if scanner is None:
            return
        for advertising_set in self.sets.values():
            if not (
                advertising_set.enabled
                and advertising_set.has(SCANNABLE)
                and advertising_set.address == frame.advertiser
            ):
                continue
            if advertising_set.filter_policy & 0b01 and not self.common.accepts(scanner.identity):
                continue
            if advertising_set.scan_request_notification:
                self.controller.send_event(
                    hci.LeScanRequestReceived(advertising_set.handle, scanner.address)
                )
            response = ScanResponse(
                frame.advertiser, advertising_set.scan_response_data, self.pdu_of(advertising_set)
            )
            self.controller.air.unicast(
                self.controller, frame.scanner, response, advertising_set.primary_phy
            )

    # -- helpers for commands ------------------------------------------------------------

    def _legacy_set(self) -> AdvertisingSet:
        self.common.require_mode(LeCommandMode.LEGACY)
        return self.sets.setdefault(0, AdvertisingSet(0))

    def _extended_set(self, handle: int) -> AdvertisingSet:
        self.common.require_mode(LeCommandMode.EXTENDED)
        if handle > MAX_ADVERTISING_HANDLE:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        advertising_set = self.sets.get(handle)
        if advertising_set is None:
            raise CommandError(Status.UNKNOWN_ADVERTISING_IDENTIFIER)
        return advertising_set

    # -- legacy commands (Vol 4 Part E 7.8.5-7.8.9) ---------------------------------------

    @handles(hci.LeSetAdvertisingParameters)
    def le_set_advertising_parameters(self, command: hci.LeSetAdvertisingParameters) -> None:
        advertising_set = self._legacy_set()
        if advertising_set.enabled:
            raise CommandError(Status.COMMAND_DISALLOWED)
        properties = LEGACY_TYPE_PROPERTIES.get(command.advertising_type)
        interval_min, interval_max = (
            command.advertising_interval_min,
            command.advertising_interval_max,
        )
        if (
            properties is None
            or command.own_address_type > 3
            or command.peer_address.type > AddressType.RANDOM
            or not 0 < command.advertising_channel_map <= 7
            or command.advertising_filter_policy > 3
            or (not properties & HIGH_DUTY and not 0x20 <= interval_min <= interval_max <= 0x4000)
        ):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        advertising_set.properties = properties
        advertising_set.interval = interval_min * ADVERTISING_UNIT
        advertising_set.own_address_type = command.own_address_type
        advertising_set.peer_address = command.peer_address
        advertising_set.filter_policy = command.advertising_filter_policy
        advertising_set.tx_power = self.controller.config.tx_power

    @handles(hci.LeReadAdvertisingPhysicalChannelTxPower)
    def le_read_advertising_physical_channel_tx_power(
        self, command: hci.LeReadAdvertisingPhysicalChannelTxPower
    ) -> hci.LeReadAdvertisingPhysicalChannelTxPowerReturn:
        self._legacy_set()
        return hci.LeReadAdvertisingPhysicalChannelTxPowerReturn(
            Status.SUCCESS, self.controller.config.tx_power
        )

    @handles(hci.LeSetAdvertisingData)
    def le_set_advertising_data(self, command: hci.LeSetAdvertisingData) -> None:
        self._legacy_set().data = command.advertising_data

    @handles(hci.LeSetScanResponseData)
    def le_set_scan_response_data(self, command: hci.LeSetScanResponseData) -> None:
        self._legacy_set().scan_response_data = command.scan_response_data

    @handles(hci.LeSetAdvertisingEnable)
    def le_set_advertising_enable(self, command: hci.LeSetAdvertisingEnable) -> None:
        enable = command.advertising_enable
        if enable > 1:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        advertising_set = self._legacy_set()
        if enable and not advertising_set.enabled:
            advertising_set.random_address = self.common.random_address
            self._start(advertising_set, 0.0, 0)
        elif not enable:
            self._stop(advertising_set)

    # -- extended commands (Vol 4 Part E 7.8.52-7.8.61) -----------------------------------

    @handles(hci.LeSetAdvertisingSetRandomAddress)
    def le_set_advertising_set_random_address(
        self, command: hci.LeSetAdvertisingSetRandomAddress
    ) -> None:
        advertising_set = self._extended_set(command.advertising_handle)
        if advertising_set.random_address is not None:
            self.controller.extra_addresses.discard(advertising_set.random_address)
        advertising_set.random_address = self.common.set_random_address(command.random_address)

    @handles(hci.LeSetExtendedAdvertisingParameters)
    def le_set_extended_advertising_parameters(
        self, command: hci.LeSetExtendedAdvertisingParameters
    ) -> hci.LeSetExtendedAdvertisingParametersReturn:
        self.common.require_mode(LeCommandMode.EXTENDED)
        handle, properties = command.advertising_handle, command.advertising_event_properties
        legacy_ok = not properties & LEGACY or properties in LEGACY_TYPE_PROPERTIES.values()
        extended_ok = properties & LEGACY or properties & (CONNECTABLE | SCANNABLE) != (
            CONNECTABLE | SCANNABLE
        )
        if (
            handle > MAX_ADVERTISING_HANDLE
            or not (legacy_ok and extended_ok)
            or properties >> 7
            or command.own_address_type > 3
            or command.peer_address.type > AddressType.RANDOM
            or not 0 < command.primary_advertising_channel_map <= 7
            or command.advertising_filter_policy > 3
            or command.primary_advertising_phy not in (0x01, 0x03)
            or command.secondary_advertising_phy not in PHYS
            or command.advertising_sid > 0x0F
            or command.scan_request_notification_enable > 1
            or (
                not properties & HIGH_DUTY
                and command.primary_advertising_interval_min
                > command.primary_advertising_interval_max
            )
        ):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        advertising_set = self.sets.get(handle)
        if advertising_set is None:
            if len(self.sets) >= self.controller.config.num_supported_advertising_sets:
                raise CommandError(Status.MEMORY_CAPACITY_EXCEEDED)
            advertising_set = self.sets[handle] = AdvertisingSet(handle)
        if advertising_set.enabled:
            raise CommandError(Status.COMMAND_DISALLOWED)
        if properties & LEGACY and (
            len(advertising_set.data) > LEGACY_DATA_LIMIT
            or len(advertising_set.scan_response_data) > LEGACY_DATA_LIMIT
        ):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        advertising_set.properties = properties
        advertising_set.interval = (
            _interval(command.primary_advertising_interval_min)
            if not properties & HIGH_DUTY
            else 0.0
        )
        advertising_set.own_address_type = command.own_address_type
        advertising_set.peer_address = command.peer_address
        advertising_set.filter_policy = command.advertising_filter_policy
        # 0x7F: "Host has no preference"; the controller then uses its own power.
        tx_power = command.advertising_tx_power
        advertising_set.tx_power = (
            self.controller.config.tx_power
            if tx_power == 0x7F
            else min(tx_power, self.controller.config.tx_power)
        )
        advertising_set.primary_phy = PHYS[command.primary_advertising_phy]
        advertising_set.secondary_phy = PHYS[command.secondary_advertising_phy]
        advertising_set.sid = command.advertising_sid
        advertising_set.scan_request_notification = bool(command.scan_request_notification_enable)
        return hci.LeSetExtendedAdvertisingParametersReturn(
            Status.SUCCESS, advertising_set.tx_power
        )

    def _extended_data(self, handle: int, operation: int, data: bytes, scan_response: bool) -> None:
        advertising_set = self._extended_set(handle)
        current = advertising_set.scan_response_data if scan_response else advertising_set.data
        if operation > 4 or (operation == 4 and (data or scan_response)):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        # Operation: 0 intermediate, 1 first, 2 last fragment, 3 complete, 4 unchanged
        # (Vol 4 Part E 7.8.54); fragments only while disabled.
        if operation in (0, 1, 2) and (advertising_set.enabled or advertising_set.legacy):
            raise CommandError(Status.COMMAND_DISALLOWED)
        new = current if operation == 4 else data if operation in (1, 3) else current + data
        limit = (
            LEGACY_DATA_LIMIT
            if advertising_set.legacy
            else self.controller.config.max_advertising_data_length
        )
        if len(new) > limit:
            raise CommandError(
                Status.INVALID_HCI_COMMAND_PARAMETERS
                if advertising_set.legacy
                else Status.MEMORY_CAPACITY_EXCEEDED
            )
        if scan_response:
            advertising_set.scan_response_data = new
        else:
            advertising_set.data = new

    @handles(hci.LeSetExtendedAdvertisingData)
    def le_set_extended_advertising_data(self, command: hci.LeSetExtendedAdvertisingData) -> None:
        self._extended_data(
            command.advertising_handle,
            command.operation,
            command.advertising_data,
            scan_response=False,
        )

    @handles(hci.LeSetExtendedScanResponseData)
    def le_set_extended_scan_response_data(
        self, command: hci.LeSetExtendedScanResponseData
    ) -> None:
        self._extended_data(
            command.advertising_handle,
            command.operation,
            command.scan_response_data,
            scan_response=True,
        )

    @handles(hci.LeSetExtendedAdvertisingEnable)
    def le_set_extended_advertising_enable(
        self, command: hci.LeSetExtendedAdvertisingEnable
    ) -> None:
        self.common.require_mode(LeCommandMode.EXTENDED)
        enable, entries = command.enable, command.sets
        if enable > 1 or (enable and not entries):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if not entries:  # disable every set
            for advertising_set in self.sets.values():
                self._stop(advertising_set)
            return
        chosen = [(self._extended_set(entry.advertising_handle), entry) for entry in entries]
        for advertising_set, entry in chosen:
            if not enable:
                self._stop(advertising_set)
                continue
            self._transmit_address(advertising_set)  # 0x12 if it needs an unset random one
            self._stop(advertising_set)
            self._start(
                advertising_set, entry.duration * 0.01, entry.max_extended_advertising_events
            )

    @handles(hci.LeReadMaximumAdvertisingDataLength)
    def le_read_maximum_advertising_data_length(
        self, command: hci.LeReadMaximumAdvertisingDataLength
    ) -> hci.LeReadMaximumAdvertisingDataLengthReturn:
        self.common.require_mode(LeCommandMode.EXTENDED)
        return hci.LeReadMaximumAdvertisingDataLengthReturn(
            Status.SUCCESS, self.controller.config.max_advertising_data_length
        )

    @handles(hci.LeReadNumberOfSupportedAdvertisingSets)
    def le_read_number_of_supported_advertising_sets(
        self, command: hci.LeReadNumberOfSupportedAdvertisingSets
    ) -> hci.LeReadNumberOfSupportedAdvertisingSetsReturn:
        self.common.require_mode(LeCommandMode.EXTENDED)
        return hci.LeReadNumberOfSupportedAdvertisingSetsReturn(
            Status.SUCCESS, self.controller.config.num_supported_advertising_sets
        )

    @handles(hci.LeRemoveAdvertisingSet)
    def le_remove_advertising_set(self, command: hci.LeRemoveAdvertisingSet) -> None:
        handle = command.advertising_handle
        if self._extended_set(handle).enabled:
            raise CommandError(Status.COMMAND_DISALLOWED)
        del self.sets[handle]

    @handles(hci.LeClearAdvertisingSets)
    def le_clear_advertising_sets(self, command: hci.LeClearAdvertisingSets) -> None:
        self.common.require_mode(LeCommandMode.EXTENDED)
        if any(advertising_set.enabled for advertising_set in self.sets.values()):
            raise CommandError(Status.COMMAND_DISALLOWED)
        self.sets.clear()
