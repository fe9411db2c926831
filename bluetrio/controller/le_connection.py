"""LE connections: initiating, establishment, and the procedures on a live connection
(connection update, data length, PHY, remote features, channel map).

Establishment (Vol 6 Part B 4.5): the initiator answers a connectable advertisement with a
CONNECT_IND; the advertiser opens the link, reports LE (Enhanced) Connection Complete as
peripheral and sends its first packet, on which the initiator reports as central.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from bluetrio.address import Address, AddressType
from bluetrio.controller.air import Link, LinkKind
from bluetrio.controller.config import Phy
from bluetrio.controller.connections import Connection, Role, TerminateFrame
from bluetrio.controller.dispatch import (
    CommandError,
    Feature,
    Status,
    handles,
    receives,
    register_feature,
)
from bluetrio.controller.general import handle_of
from bluetrio.controller.le_advertising import LeAdvertising
from bluetrio.controller.le_common import LeCommandMode, LeCommon
from bluetrio.controller.le_pdus import (
    AdvertisingPdu,
    ConnectionEstablished,
    ConnectionUpdate,
    ConnectRequest,
    DataLengthUpdate,
    PhyUpdate,
)
from bluetrio.controller.le_privacy import Identified
from bluetrio.messages import hci

if TYPE_CHECKING:
    from bluetrio.controller.controller import VirtualController

SUPERVISION_UNIT = 0.01  # supervision timeout counts 10 ms (Vol 4 Part E 7.8.12)
# Data length limits (Vol 6 Part B 4.5.10): 27..251 octets, 328..17040 us.
MIN_OCTETS, MAX_OCTETS, MIN_TIME, MAX_TIME = 27, 251, 328, 17040
PHY_BITS = {Phy.LE_1M: 0x01, Phy.LE_2M: 0x02, Phy.LE_CODED: 0x04}
PHY_CODES = {Phy.LE_1M: 0x01, Phy.LE_2M: 0x02, Phy.LE_CODED: 0x03}
ALL_CHANNELS = bytes((0xFF, 0xFF, 0xFF, 0xFF, 0x1F))


@attrs.frozen
class ConnectionParameters:
    interval: int
    latency: int
    supervision_timeout: int

    @classmethod
    def checked(
        cls, interval_min: int, interval_max: int, latency: int, timeout: int
    ) -> ConnectionParameters:
        """Interval min/max, latency, timeout checked as Vol 4 Part E 7.8.12 (the CE lengths
        are informative only)."""
        if (
            not 0x0006 <= interval_min <= interval_max <= 0x0C80
            or latency > 0x01F3
            or not 0x000A <= timeout <= 0x0C80
            # The timeout must exceed (1 + latency) * interval * 2 (in 10 ms vs 1.25 ms units).
            or timeout * 8 <= (1 + latency) * interval_max * 2
        ):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        return cls(interval_min, latency, timeout)

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.interval, self.latency, self.supervision_timeout)


@attrs.define
class Initiating:
    peer: Address | None  # an identity; None: any device on the Filter Accept List
    own_address_type: int
    parameters: ConnectionParameters
    phy: Phy
    # CONNECT_INDs sent, by the AdvA they answered: whom it stands for, and our address.
    requests: dict[Address, tuple[Identified, Address]] = attrs.field(factory=dict)


@attrs.define
class LinkState:
    """Per-connection LE state: data length and PHYs (Vol 6 Part B 4.5.10, 5.1.10)."""

    tx_octets: int = MIN_OCTETS
    tx_time: int = MIN_TIME
    rx_octets: int = MIN_OCTETS
    rx_time: int = MIN_TIME
    tx_phy: Phy = Phy.LE_1M
    rx_phy: Phy = Phy.LE_1M


@register_feature
class LeConnection(Feature):
    def __init__(self, controller: VirtualController) -> None:
        super().__init__(controller)
        self.initiating: Initiating | None = None
        self.states: dict[int, LinkState] = {}
        self.suggested = (MIN_OCTETS, MIN_TIME)
        self.default_phys = (0x07, 0x07)  # tx, rx preferences (bits as in 7.8.48)

    @property
    def common(self) -> LeCommon:
        return self.controller.feature(LeCommon)

    def reset(self) -> None:
        self.initiating = None
        self.states.clear()
        self.suggested = (MIN_OCTETS, MIN_TIME)
        self.default_phys = (0x07, 0x07)

    def le_activity(self) -> bool:
        return self.initiating is not None

    def on_connection_closed(self, connection: Connection, reason: int) -> None:
        self.states.pop(connection.handle, None)

    def le_connection(self, handle: int) -> Connection:
        connection = self.controller.connections.get(handle_of(handle))
        if connection is None or not connection.is_le:
            raise CommandError(Status.UNKNOWN_CONNECTION_IDENTIFIER, connection_handle=handle)
        return connection

    # -- establishment -------------------------------------------------------------------

    def _start_initiating(
        self,
        filter_policy: int,
        own_address_type: int,
        peer: Address,
        parameters: ConnectionParameters,
        phy: Phy,
    ) -> None:
        """``peer``: Peer_Address_Type and Peer_Address; 0x02/0x03 name an identity whose RPA
        the controller resolves (Vol 4 Part E 7.8.12), as it does for 0x00/0x01 when the
        resolving list has the address."""
        if self.initiating is not None:
            raise CommandError(Status.COMMAND_DISALLOWED)
        if filter_policy > 1 or own_address_type > 3:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        target = None if filter_policy else Address(peer.value, AddressType(peer.type & 1))
        if target is not None and any(
            c.is_le and c.peer_address == target for c in self.controller.connections.values()
        ):
            raise CommandError(Status.CONNECTION_ALREADY_EXISTS)
        self.common.own_address(own_address_type, peer=target)  # 0x12 if it cannot be had
        self.initiating = Initiating(target, own_address_type, parameters, phy)
        self.common.busy.add("initiating")

    def _stop_initiating(self) -> None:
        self.initiating = None
        self.common.busy.discard("initiating")

    @receives(AdvertisingPdu)
    def on_advertisement(self, frame: AdvertisingPdu, link: Link | None) -> None:
        initiating = self.initiating
        if initiating is None or not frame.connectable:
            return
        if self.common.mode is LeCommandMode.LEGACY and not frame.legacy:
            return
        if frame.directed and (
            frame.target is None or not self.common.privacy.targets_us(frame.target)
        ):
            return
        advertiser = self.common.privacy.identify(frame.advertiser)
        if advertiser is None:
            return
        wanted = (
            advertiser.identity == initiating.peer
            if initiating.peer is not None
            else self.common.accepts(advertiser.identity)
        )
        if not wanted:
            return
        own = self.common.own_address(initiating.own_address_type, peer=advertiser.identity)
        initiating.requests[frame.advertiser] = (advertiser, own)
        request = ConnectRequest(
            own, frame.advertiser, *initiating.parameters.as_tuple(), initiating.phy
        )
        self.controller.air.unicast(self.controller, frame.advertiser, request, frame.primary_phy)

    @receives(ConnectRequest)
    def on_connect_request(self, frame: ConnectRequest, link: Link | None) -> None:
        initiator = self.common.privacy.identify(frame.initiator)
        if initiator is None:
            return
        advertising_set = self.controller.feature(LeAdvertising).accept_connection(
            initiator, frame.advertiser
        )
        central = self.controller.air.radio_answering(frame.initiator)
        if advertising_set is None or central is None:
            return
        new_link = self.controller.air.open_link(
            LinkKind.LE,
            central,
            self.controller,
            frame.supervision_timeout * SUPERVISION_UNIT,
            frame.phy,
        )
        parameters = ConnectionParameters(frame.interval, frame.latency, frame.supervision_timeout)
        connection = self._connected(
            new_link, Role.PERIPHERAL, initiator, frame.advertiser, parameters
        )
        self.controller.feature(LeAdvertising).connected(advertising_set, connection.handle)
        self.controller.air.send_on_link(
            new_link, self.controller, ConnectionEstablished(frame.advertiser)
        )

    @receives(ConnectionEstablished)
    def on_connection_established(self, frame: ConnectionEstablished, link: Link | None) -> None:
        initiating = self.initiating
        if link is None:
            return
        request = initiating.requests.get(frame.advertiser) if initiating is not None else None
        if initiating is None or request is None:
            # Cancelled meanwhile: the peripheral never hears from us again.
            self.controller.air.send_on_link(
                link, self.controller, TerminateFrame(Status.CONNECTION_FAILED_TO_BE_ESTABLISHED)
            )
            self.controller.air.close_link(link)
            return
        self._stop_initiating()
        advertiser, own = request
        self._connected(link, Role.CENTRAL, advertiser, own, initiating.parameters)

    def _connected(
        self,
        link: Link,
        role: Role,
        peer: Identified,
        local: Address,
        parameters: ConnectionParameters,
    ) -> Connection:
        connection = self.controller.add_connection(link, role, peer.identity, local)
        connection.interval, connection.latency, connection.supervision_timeout = (
            parameters.as_tuple()
        )
        self.states[connection.handle] = LinkState(
            tx_octets=self.suggested[0], tx_time=self.suggested[1], tx_phy=link.phy, rx_phy=link.phy
        )
        self.controller.send_event(
            self.common.connection_complete_event(
                Status.SUCCESS, connection.handle, role, peer, local, parameters.as_tuple()
            )
        )
        return connection

    @handles(hci.LeCreateConnection)
    def le_create_connection(self, command: hci.LeCreateConnection) -> None:
        parameters = ConnectionParameters.checked(
            command.connection_interval_min,
            command.connection_interval_max,
            command.max_latency,
            command.supervision_timeout,
        )
        self.common.require_mode(LeCommandMode.LEGACY)
        if not 0x0004 <= command.le_scan_window <= command.le_scan_interval <= 0x4000:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        self._start_initiating(
            command.initiator_filter_policy,
            command.own_address_type,
            command.peer_address,
            parameters,
            Phy.LE_1M,
        )

    @handles(hci.LeExtendedCreateConnection)
    def le_extended_create_connection(self, command: hci.LeExtendedCreateConnection) -> None:
        per_phy = [
            (
                phy.scan_interval,
                phy.scan_window,
                ConnectionParameters.checked(
                    phy.connection_interval_min,
                    phy.connection_interval_max,
                    phy.max_latency,
                    phy.supervision_timeout,
                ),
            )
            for phy in command.phys
        ]
        self.common.require_mode(LeCommandMode.EXTENDED)
        phys = command.initiating_phys
        if not phys or phys & ~0b111:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if any(not 0x0004 <= window <= interval for interval, window, _ in per_phy):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        # The connection starts on the first PHY the host allowed (1M, then 2M, then Coded).
        phy = next(p for p, bit in PHY_BITS.items() if phys & bit)
        self._start_initiating(
            command.initiator_filter_policy,
            command.own_address_type,
            command.peer_address,
            per_phy[0][2],
            phy,
        )

    @handles(hci.LeCreateConnectionCancel)
    def le_create_connection_cancel(self, command: hci.LeCreateConnectionCancel) -> None:
        if self.initiating is None:
            raise CommandError(Status.COMMAND_DISALLOWED)
        self._stop_initiating()
        # Sent after this command's Command Complete (Vol 4 Part E 7.8.13).
        self.controller.send_event(
            self.common.connection_complete_event(Status.UNKNOWN_CONNECTION_IDENTIFIER)
        )

    # -- procedures on a connection ------------------------------------------------------

    @handles(hci.LeConnectionUpdate)
    def le_connection_update(self, command: hci.LeConnectionUpdate) -> None:
        parameters = ConnectionParameters.checked(
            command.connection_interval_min,
            command.connection_interval_max,
            command.max_latency,
            command.supervision_timeout,
        )
        connection = self.le_connection(command.connection_handle)
        # A peripheral's request goes through the parameters request procedure, which the
        # emulated central's controller accepts as it stands (Vol 6 Part B 5.1.7).
        update = ConnectionUpdate(*parameters.as_tuple())
        self.controller.air.send_on_link(connection.link, self.controller, update)
        self._apply_update(connection, update)

    @receives(ConnectionUpdate)
    def on_connection_update(self, frame: ConnectionUpdate, link: Link | None) -> None:
        connection = self.controller.connection_on(link) if link is not None else None
        if connection is not None:
            self._apply_update(connection, frame)

    def _apply_update(self, connection: Connection, update: ConnectionUpdate) -> None:
        connection.interval, connection.latency = update.interval, update.latency
        connection.supervision_timeout = update.supervision_timeout
        connection.link.supervision_timeout = update.supervision_timeout * SUPERVISION_UNIT
        self.controller.send_event(
            hci.LeConnectionUpdateComplete(
                Status.SUCCESS,
                connection.handle,
                update.interval,
                update.latency,
                update.supervision_timeout,
            )
        )

    @handles(hci.LeReadRemoteFeatures)
    def le_read_remote_features(self, command: hci.LeReadRemoteFeatures) -> None:
        connection = self.le_connection(command.connection_handle)
        # LL_FEATURE_REQ/RSP: the peer controller's static feature set (Vol 6 Part B 5.1.4).
        peer_config = getattr(connection.link.peer_of(self.controller), "config", None)
        features = peer_config.le_features if peer_config is not None else 0
        self.controller.send_event(
            hci.LeReadRemoteFeaturesComplete(Status.SUCCESS, connection.handle, features)
        )

    @handles(hci.LeSetHostChannelClassification)
    def le_set_host_channel_classification(
        self, command: hci.LeSetHostChannelClassification
    ) -> None:
        channel_map = command.channel_map
        # At least two channels must remain usable, and bits 37-39 are reserved (7.8.19).
        if int.from_bytes(channel_map, "little").bit_count() < 2 or channel_map[4] & 0xE0:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)

    @handles(hci.LeReadChannelMap)
    def le_read_channel_map(self, command: hci.LeReadChannelMap) -> hci.LeReadChannelMapReturn:
        connection = self.le_connection(command.connection_handle)
        return hci.LeReadChannelMapReturn(Status.SUCCESS, connection.handle, ALL_CHANNELS)

    # -- data length (Vol 4 Part E 7.8.33-7.8.35, 7.8.46) -----------------------------------

    @handles(hci.LeSetDataLength)
    def le_set_data_length(self, command: hci.LeSetDataLength) -> hci.ConnectionHandleReturn:
        handle, tx_octets, tx_time = command.connection_handle, command.tx_octets, command.tx_time
        connection = self.le_connection(handle)
        if not (MIN_OCTETS <= tx_octets <= MAX_OCTETS and MIN_TIME <= tx_time <= MAX_TIME):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS, connection_handle=handle)
        state = self.states[connection.handle]
        if (state.tx_octets, state.tx_time) != (tx_octets, tx_time):
            state.tx_octets, state.tx_time = tx_octets, tx_time
            update = DataLengthUpdate(tx_octets, tx_time)
            self.controller.air.send_on_link(connection.link, self.controller, update)
            self._data_length_changed(connection, state)
        return hci.ConnectionHandleReturn(Status.SUCCESS, handle)

    @receives(DataLengthUpdate)
    def on_data_length_update(self, frame: DataLengthUpdate, link: Link | None) -> None:
        connection = self.controller.connection_on(link) if link is not None else None
        if connection is not None:
            state = self.states[connection.handle]
            state.rx_octets, state.rx_time = frame.tx_octets, frame.tx_time
            self._data_length_changed(connection, state)

    def _data_length_changed(self, connection: Connection, state: LinkState) -> None:
        self.controller.send_event(
            hci.LeDataLengthChange(
                connection.handle, state.tx_octets, state.tx_time, state.rx_octets, state.rx_time
            )
        )

    @handles(hci.LeReadSuggestedDefaultDataLength)
    def le_read_suggested_default_data_length(
        self, command: hci.LeReadSuggestedDefaultDataLength
    ) -> hci.LeReadSuggestedDefaultDataLengthReturn:
        return hci.LeReadSuggestedDefaultDataLengthReturn(Status.SUCCESS, *self.suggested)

    @handles(hci.LeWriteSuggestedDefaultDataLength)
    def le_write_suggested_default_data_length(
        self, command: hci.LeWriteSuggestedDefaultDataLength
    ) -> None:
        octets, time = command.suggested_max_tx_octets, command.suggested_max_tx_time
        if not (MIN_OCTETS <= octets <= MAX_OCTETS and MIN_TIME <= time <= MAX_TIME):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        self.suggested = (octets, time)

    @handles(hci.LeReadMaximumDataLength)
    def le_read_maximum_data_length(
        self, command: hci.LeReadMaximumDataLength
    ) -> hci.LeReadMaximumDataLengthReturn:
        return hci.LeReadMaximumDataLengthReturn(
            Status.SUCCESS, MAX_OCTETS, MAX_TIME, MAX_OCTETS, MAX_TIME
        )

    # -- PHY (Vol 4 Part E 7.8.47-7.8.49) -------------------------------------------------

    @handles(hci.LeReadPhy)
    def le_read_phy(self, command: hci.LeReadPhy) -> hci.LeReadPhyReturn:
        connection = self.le_connection(command.connection_handle)
        state = self.states[connection.handle]
        return hci.LeReadPhyReturn(
            Status.SUCCESS, connection.handle, PHY_CODES[state.tx_phy], PHY_CODES[state.rx_phy]
        )

    @staticmethod
    def _phy_preferences(all_phys: int, tx_phys: int, rx_phys: int) -> tuple[int, int]:
        # All_PHYs bit 0/1: "no preference" for transmit/receive.
        tx_phys = 0x07 if all_phys & 0x01 else tx_phys
        rx_phys = 0x07 if all_phys & 0x02 else rx_phys
        if all_phys > 3 or not tx_phys or not rx_phys or (tx_phys | rx_phys) & ~0x07:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        return tx_phys, rx_phys

    @handles(hci.LeSetDefaultPhy)
    def le_set_default_phy(self, command: hci.LeSetDefaultPhy) -> None:
        self.default_phys = self._phy_preferences(
            command.all_phys, command.tx_phys, command.rx_phys
        )

    @handles(hci.LeSetPhy)
    def le_set_phy(self, command: hci.LeSetPhy) -> None:
        tx_phys, rx_phys = self._phy_preferences(command.all_phys, command.tx_phys, command.rx_phys)
        connection = self.le_connection(command.connection_handle)
        peer = connection.link.peer_of(self.controller)
        peer_feature = getattr(peer, "feature", None)
        peer_tx, peer_rx = peer_feature(LeConnection).default_phys if peer_feature else (0x07, 0x07)
        # Fastest PHY both ends accept in each direction (Vol 6 Part B 5.1.10).
        tx = _fastest(tx_phys & peer_rx)
        rx = _fastest(rx_phys & peer_tx)
        state = self.states[connection.handle]
        changed = (tx, rx) != (state.tx_phy, state.rx_phy)
        state.tx_phy, state.rx_phy = tx, rx
        connection.link.phy = tx
        self._phy_updated(connection, state)
        if changed:
            self.controller.air.send_on_link(
                connection.link, self.controller, PhyUpdate(PHY_CODES[rx], PHY_CODES[tx])
            )

    @receives(PhyUpdate)
    def on_phy_update(self, frame: PhyUpdate, link: Link | None) -> None:
        connection = self.controller.connection_on(link) if link is not None else None
        if connection is not None:
            codes = {code: phy for phy, code in PHY_CODES.items()}
            state = self.states[connection.handle]
            state.tx_phy, state.rx_phy = codes[frame.tx_phy], codes[frame.rx_phy]
            self._phy_updated(connection, state)

    def _phy_updated(self, connection: Connection, state: LinkState) -> None:
        self.controller.send_event(
            hci.LePhyUpdateComplete(
                Status.SUCCESS,
                connection.handle,
                PHY_CODES[state.tx_phy],
                PHY_CODES[state.rx_phy],
            )
        )

    @handles(hci.LeReadTransmitPower)
    def le_read_transmit_power(
        self, command: hci.LeReadTransmitPower
    ) -> hci.LeReadTransmitPowerReturn:
        power = self.controller.config.tx_power
        return hci.LeReadTransmitPowerReturn(Status.SUCCESS, power - 20, power)


def _fastest(phys: int) -> Phy:
    for phy in (Phy.LE_2M, Phy.LE_1M, Phy.LE_CODED):
        if phys & PHY_BITS[phy]:
            return phy
    return Phy.LE_1M
