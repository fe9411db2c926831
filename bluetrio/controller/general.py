"""Commands every controller answers whatever its radios: reset, masks, information,
buffer sizes, host flow control and the transport-independent connection commands."""

from __future__ import annotations

from bluetrio.controller.connections import Connection
from bluetrio.controller.dispatch import (
    COMMAND_TABLE,
    CommandError,
    Feature,
    Reply,
    Status,
    handles,
    register_feature,
)
from bluetrio.messages import hci

# Reasons the host may give to HCI_Disconnect (Vol 4 Part E 7.1.6).
DISCONNECT_REASONS = frozenset(
    {
        Status.AUTHENTICATION_FAILURE,
        Status.REMOTE_USER_TERMINATED_CONNECTION,
        Status.REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_LOW_RESOURCES,
        Status.REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF,
        Status.UNSUPPORTED_REMOTE_FEATURE,
        Status.PAIRING_WITH_UNIT_KEY_NOT_SUPPORTED,
        Status.UNACCEPTABLE_CONNECTION_PARAMETERS,
    }
)

# Host features page 1 bits (Vol 2 Part C 3.3): LE Supported (Host) and Simultaneous LE and
# BR/EDR (Host, obsolete but still echoed).
HOST_FEATURE_LE = 1 << 1
HOST_FEATURE_SIMULTANEOUS_LE_BREDR = 1 << 2


def handle_of(value: int) -> int:
    """The 12-bit connection handle from a 16-bit field; 0x0F00 and up are 0x12 (5.4.2)."""
    if value > 0x0EFF:
        raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS, connection_handle=value)
    return value


@register_feature
class General(Feature):
    """Controller-wide state: host features (page 1) and host flow control settings."""

    host_features = 0
    controller_to_host_flow_control = 0

    def reset(self) -> None:
        self.host_features = 0
        self.controller_to_host_flow_control = 0

    def connection(self, handle: int) -> Connection:
        connection = self.controller.connections.get(handle_of(handle))
        if connection is None:
            raise CommandError(Status.UNKNOWN_CONNECTION_IDENTIFIER, connection_handle=handle)
        return connection

    # -- Controller & Baseband (Vol 4 Part E 7.3) ----------------------------------------

    @handles(hci.Reset)
    def reset_command(self, command: hci.Reset) -> None:
        self.controller.reset()

    @handles(hci.SetEventMask)
    def set_event_mask(self, command: hci.SetEventMask) -> None:
        self.controller.masks.page_1 = command.event_mask

    @handles(hci.SetEventMaskPage2)
    def set_event_mask_page_2(self, command: hci.SetEventMaskPage2) -> None:
        self.controller.masks.page_2 = command.event_mask_page_2

    @handles(hci.LeSetEventMask)
    def le_set_event_mask(self, command: hci.LeSetEventMask) -> None:
        self.controller.masks.le = command.le_event_mask

    @handles(hci.WriteLeHostSupport)
    def write_le_host_support(self, command: hci.WriteLeHostSupport) -> None:
        if command.le_supported_host > 1 or command.unused > 1:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        self.set_host_feature(HOST_FEATURE_LE, command.le_supported_host)
        self.set_host_feature(HOST_FEATURE_SIMULTANEOUS_LE_BREDR, command.unused)

    def set_host_feature(self, bit: int, enabled: int) -> None:
        self.host_features = (self.host_features | bit) if enabled else (self.host_features & ~bit)

    @handles(hci.ReadLeHostSupport)
    def read_le_host_support(self, command: hci.ReadLeHostSupport) -> hci.ReadLeHostSupportReturn:
        return hci.ReadLeHostSupportReturn(
            Status.SUCCESS,
            int(bool(self.host_features & HOST_FEATURE_LE)),
            int(bool(self.host_features & HOST_FEATURE_SIMULTANEOUS_LE_BREDR)),
        )

    @handles(hci.SetControllerToHostFlowControl)
    def set_controller_to_host_flow_control(
        self, command: hci.SetControllerToHostFlowControl
    ) -> None:
        if command.flow_control_enable > 3:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        # Accepted and remembered; the emulation never runs out of host buffers because the
        # transport to the host applies its own backpressure.
        self.controller_to_host_flow_control = command.flow_control_enable

    @handles(hci.HostBufferSize)
    def host_buffer_size(self, command: hci.HostBufferSize) -> None:
        """Accepted: see :meth:`set_controller_to_host_flow_control`."""

    @handles(hci.HostNumberOfCompletedPackets, reply=Reply.NONE_ON_SUCCESS)
    def host_number_of_completed_packets(self, command: hci.HostNumberOfCompletedPackets) -> None:
        """Accepted: see :meth:`set_controller_to_host_flow_control`."""

    # -- Informational (Vol 4 Part E 7.4) ----------------------------------------------------

    @handles(hci.ReadLocalVersionInformation)
    def read_local_version_information(
        self, command: hci.ReadLocalVersionInformation
    ) -> hci.ReadLocalVersionInformationReturn:
        config = self.controller.config
        return hci.ReadLocalVersionInformationReturn(
            Status.SUCCESS,
            config.hci_version,
            config.hci_subversion,
            config.lmp_version,
            config.manufacturer,
            config.lmp_subversion,
        )

    @handles(hci.ReadLocalSupportedCommands)
    def read_local_supported_commands(
        self, command: hci.ReadLocalSupportedCommands
    ) -> hci.ReadLocalSupportedCommandsReturn:
        # Only opcodes with a handler are claimed, so the bitmap tells the truth; vendor
        # commands have no bit (Vol 4 Part E 6.27) and are left out.
        supported = (op for op in COMMAND_TABLE if op in hci.SUPPORTED_COMMAND_BITS)
        return hci.ReadLocalSupportedCommandsReturn(
            Status.SUCCESS, hci.supported_commands_bitmap(supported)
        )

    @handles(hci.ReadLocalSupportedFeatures)
    def read_local_supported_features(
        self, command: hci.ReadLocalSupportedFeatures
    ) -> hci.ReadLocalSupportedFeaturesReturn:
        page = self.controller.config.lmp_feature_page(0)
        return hci.ReadLocalSupportedFeaturesReturn(Status.SUCCESS, int.from_bytes(page, "little"))

    @handles(hci.ReadLocalExtendedFeatures)
    def read_local_extended_features(
        self, command: hci.ReadLocalExtendedFeatures
    ) -> hci.ReadLocalExtendedFeaturesReturn:
        page = command.page_number
        config = self.controller.config
        max_page = len(config.lmp_features) - 1
        if page > max_page:
            raise CommandError(
                Status.INVALID_HCI_COMMAND_PARAMETERS,
                page_number=page,
                maximum_page_number=max_page,
            )
        # Page 1 is the host's own features (Vol 4 Part E 7.4.4).
        features = (
            self.host_features
            if page == 1
            else int.from_bytes(config.lmp_feature_page(page), "little")
        )
        return hci.ReadLocalExtendedFeaturesReturn(Status.SUCCESS, page, max_page, features)

    @handles(hci.ReadBufferSize)
    def read_buffer_size(self, command: hci.ReadBufferSize) -> hci.ReadBufferSizeReturn:
        config = self.controller.config
        return hci.ReadBufferSizeReturn(
            Status.SUCCESS,
            config.acl_data_packet_length,
            config.synchronous_data_packet_length,
            config.total_num_acl_data_packets,
            config.total_num_synchronous_data_packets,
        )

    @handles(hci.ReadBdAddr)
    def read_bd_addr(self, command: hci.ReadBdAddr) -> hci.ReadBdAddrReturn:
        return hci.ReadBdAddrReturn(Status.SUCCESS, self.controller.public_address)

    @handles(hci.LeReadBufferSize)
    def le_read_buffer_size(self, command: hci.LeReadBufferSize) -> hci.LeReadBufferSizeReturn:
        config = self.controller.config
        return hci.LeReadBufferSizeReturn(
            Status.SUCCESS, config.le_acl_data_packet_length, config.total_num_le_acl_data_packets
        )

    @handles(hci.LeReadBufferSizeV2)
    def le_read_buffer_size_v2(
        self, command: hci.LeReadBufferSizeV2
    ) -> hci.LeReadBufferSizeV2Return:
        config = self.controller.config
        return hci.LeReadBufferSizeV2Return(
            Status.SUCCESS,
            config.le_acl_data_packet_length,
            config.total_num_le_acl_data_packets,
            config.iso_data_packet_length,
            config.total_num_iso_data_packets,
        )

    @handles(hci.LeReadLocalSupportedFeatures)
    def le_read_local_supported_features(
        self, command: hci.LeReadLocalSupportedFeatures
    ) -> hci.LeReadLocalSupportedFeaturesReturn:
        return hci.LeReadLocalSupportedFeaturesReturn(
            Status.SUCCESS, self.controller.config.le_features
        )

    @handles(hci.LeReadSupportedStates)
    def le_read_supported_states(
        self, command: hci.LeReadSupportedStates
    ) -> hci.LeReadSupportedStatesReturn:
        return hci.LeReadSupportedStatesReturn(
            Status.SUCCESS, self.controller.config.le_supported_states
        )

    # -- Vendor-specific ---------------------------------------------------------------------

    @handles(hci.VendorWriteBdAddr)
    def vendor_write_bd_addr(self, command: hci.VendorWriteBdAddr) -> None:
        """Take a new public address, kept across HCI_Reset so that a host that sets it at
        every start keeps its identity (and its bonds) from one run to the next."""
        controller = self.controller
        busy = controller.connections or any(f.radio_busy() for f in controller.features.values())
        if busy:
            # The address is in use on the air (Vol 4 Part E 7.8.4 disallows changing the
            # random address in the same states).
            raise CommandError(Status.COMMAND_DISALLOWED)
        wanted = command.bd_addr
        if wanted != controller.public_address and controller.air.address_in_use(wanted):
            # Another radio on this air has it: two radios cannot answer to one address.
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        controller.public_address = wanted

    # -- Connections, whatever their transport (Vol 4 Part E 7.1, 7.5) ------------------

    @handles(hci.Disconnect)
    def disconnect(self, command: hci.Disconnect) -> None:
        connection = self.connection(command.connection_handle)
        if command.reason not in DISCONNECT_REASONS:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if connection.disconnecting:
            raise CommandError(Status.COMMAND_DISALLOWED)
        # Disconnection Complete follows the Command Status (the dispatcher defers it).
        self.controller.disconnect(connection, command.reason)

    @handles(hci.ReadRemoteVersionInformation)
    def read_remote_version_information(self, command: hci.ReadRemoteVersionInformation) -> None:
        connection = self.connection(command.connection_handle)
        peer = connection.link.peer_of(self.controller)
        # The peer controller's own answer (LL_VERSION_IND / LMP_version_res) is its static
        # configuration, so it is read here rather than exchanged frame by frame.
        peer_config = getattr(peer, "config", self.controller.config)
        self.controller.send_event(
            hci.ReadRemoteVersionInformationComplete(
                Status.SUCCESS,
                connection.handle,
                peer_config.lmp_version,
                peer_config.manufacturer,
                peer_config.lmp_subversion,
            )
        )

    @handles(hci.ReadRssi)
    def read_rssi(self, command: hci.ReadRssi) -> hci.ReadRssiReturn:
        connection = self.connection(command.connection_handle)
        return hci.ReadRssiReturn(Status.SUCCESS, connection.handle, self.controller.config.rssi)
