"""Commands every controller answers whatever its radios: reset, masks, information,
buffer sizes, host flow control and the transport-independent connection commands."""

from __future__ import annotations

import struct

import bluetrio.messages.hci.commands  # noqa: F401  (fills the Supported_Commands bit table)
from bluetrio.controller.connections import Connection
from bluetrio.controller.dispatch import (
    COMMAND_TABLE,
    Command,
    CommandError,
    Feature,
    Reply,
    Status,
    command,
    register_feature,
)
from bluetrio.controller.events import EventCode, event_packet
from bluetrio.messages.hci.base import SUPPORTED_COMMAND_BITS, supported_commands_bitmap

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


def handle_of(reader_value: int) -> int:
    """The 12-bit connection handle from a 16-bit field; upper bits must be zero."""
    if reader_value > 0x0EFF:
        raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
    return reader_value


@register_feature
class General(Feature):
    """Controller-wide state: host features (page 1) and host flow control settings."""

    host_features = 0
    controller_to_host_flow_control = 0

    def reset(self) -> None:
        self.host_features = 0
        self.controller_to_host_flow_control = 0

    def connection(self, handle: int) -> Connection:
        connection = self.controller.connections.get(handle)
        if connection is None:
            raise CommandError(Status.UNKNOWN_CONNECTION_IDENTIFIER, struct.pack("<H", handle))
        return connection

    # -- Controller & Baseband (Vol 4 Part E 7.3) ----------------------------------------

    @command(0x0C03, "Reset")
    def reset_command(self, cmd: Command) -> bytes:
        cmd.reader().done()
        self.controller.reset()
        return b""

    def _store_mask(self, cmd: Command, page: str) -> bytes:
        """The three event-mask commands differ only in which 64-bit mask they set."""
        reader = cmd.reader()
        setattr(self.controller.masks, page, reader.uint(8))
        reader.done()
        return b""

    @command(0x0C01, "Set_Event_Mask")
    def set_event_mask(self, cmd: Command) -> bytes:
        return self._store_mask(cmd, "page_1")

    @command(0x0C63, "Set_Event_Mask_Page_2")
    def set_event_mask_page_2(self, cmd: Command) -> bytes:
        return self._store_mask(cmd, "page_2")

    @command(0x2001, "LE_Set_Event_Mask")
    def le_set_event_mask(self, cmd: Command) -> bytes:
        return self._store_mask(cmd, "le")

    @command(0x0C6D, "Write_LE_Host_Support")
    def write_le_host_support(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        le_supported, simultaneous = reader.u8(), reader.u8()
        reader.done()
        if le_supported > 1 or simultaneous > 1:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        self._set_host_feature(HOST_FEATURE_LE, le_supported)
        self._set_host_feature(HOST_FEATURE_SIMULTANEOUS_LE_BREDR, simultaneous)
        return b""

    def _set_host_feature(self, bit: int, enabled: int) -> None:
        self.host_features = (self.host_features | bit) if enabled else (self.host_features & ~bit)

    @command(0x0C6C, "Read_LE_Host_Support", return_size=2)
    def read_le_host_support(self, cmd: Command) -> bytes:
        cmd.reader().done()
        return bytes(
            (
                int(bool(self.host_features & HOST_FEATURE_LE)),
                int(bool(self.host_features & HOST_FEATURE_SIMULTANEOUS_LE_BREDR)),
            )
        )

    @command(0x0C31, "Set_Controller_To_Host_Flow_Control")
    def set_controller_to_host_flow_control(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        enable = reader.u8()
        reader.done()
        if enable > 3:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        # Accepted and remembered; the emulation never runs out of host buffers because the
        # transport to the host applies its own backpressure.
        self.controller_to_host_flow_control = enable
        return b""

    @command(0x0C33, "Host_Buffer_Size")
    def host_buffer_size(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        reader.take(7)
        reader.done()
        return b""

    @command(0x0C35, "Host_Number_Of_Completed_Packets", reply=Reply.NONE_ON_SUCCESS)
    def host_number_of_completed_packets(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        reader.take(4 * reader.u8())
        reader.done()
        return b""

    # -- Informational (Vol 4 Part E 7.4) ----------------------------------------------------

    @command(0x1001, "Read_Local_Version_Information", return_size=8)
    def read_local_version_information(self, cmd: Command) -> bytes:
        cmd.reader().done()
        config = self.controller.config
        return struct.pack(
            "<BHBHH",
            config.hci_version,
            config.hci_subversion,
            config.lmp_version,
            config.manufacturer,
            config.lmp_subversion,
        )

    @command(0x1002, "Read_Local_Supported_Commands", return_size=64)
    def read_local_supported_commands(self, cmd: Command) -> bytes:
        cmd.reader().done()
        # Only opcodes with a handler are claimed, so the bitmap tells the truth; an opcode
        # the shared codec has no bit for cannot be advertised (Vol 4 Part E 6.27).
        return supported_commands_bitmap(op for op in COMMAND_TABLE if op in SUPPORTED_COMMAND_BITS)

    @command(0x1003, "Read_Local_Supported_Features", return_size=8)
    def read_local_supported_features(self, cmd: Command) -> bytes:
        cmd.reader().done()
        return self.controller.config.lmp_feature_page(0)

    @command(0x1004, "Read_Local_Extended_Features", return_size=10)
    def read_local_extended_features(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        page = reader.u8()
        reader.done()
        config = self.controller.config
        max_page = len(config.lmp_features) - 1
        if page > max_page:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS, bytes((page, max_page)))
        features = config.lmp_feature_page(page)
        if page == 1:
            # Page 1 is the host's own features (Vol 4 Part E 7.4.4).
            features = self.host_features.to_bytes(8, "little")
        return bytes((page, max_page)) + features

    @command(0x1005, "Read_Buffer_Size", return_size=7)
    def read_buffer_size(self, cmd: Command) -> bytes:
        cmd.reader().done()
        config = self.controller.config
        return struct.pack(
            "<HBHH",
            config.acl_data_packet_length,
            config.synchronous_data_packet_length,
            config.total_num_acl_data_packets,
            config.total_num_synchronous_data_packets,
        )

    @command(0x1009, "Read_BD_ADDR", return_size=6)
    def read_bd_addr(self, cmd: Command) -> bytes:
        cmd.reader().done()
        return self.controller.public_address.to_wire()

    @command(0x2002, "LE_Read_Buffer_Size", return_size=3)
    def le_read_buffer_size(self, cmd: Command) -> bytes:
        cmd.reader().done()
        config = self.controller.config
        return struct.pack(
            "<HB", config.le_acl_data_packet_length, config.total_num_le_acl_data_packets
        )

    @command(0x2060, "LE_Read_Buffer_Size_V2", return_size=6)
    def le_read_buffer_size_v2(self, cmd: Command) -> bytes:
        config = self.controller.config
        return self.le_read_buffer_size(cmd) + struct.pack(
            "<HB", config.iso_data_packet_length, config.total_num_iso_data_packets
        )

    @command(0x2003, "LE_Read_Local_Supported_Features", return_size=8)
    def le_read_local_supported_features(self, cmd: Command) -> bytes:
        cmd.reader().done()
        return self.controller.config.le_features.to_bytes(8, "little")

    @command(0x201C, "LE_Read_Supported_States", return_size=8)
    def le_read_supported_states(self, cmd: Command) -> bytes:
        cmd.reader().done()
        return self.controller.config.le_supported_states.to_bytes(8, "little")

    # -- Connections, whatever their transport (Vol 4 Part E 7.1, 7.5) ------------------

    @command(0x0406, "Disconnect", reply=Reply.STATUS)
    def disconnect(self, cmd: Command) -> None:
        reader = cmd.reader()
        handle, reason = handle_of(reader.u16()), reader.u8()
        reader.done()
        connection = self.connection(handle)
        if reason not in DISCONNECT_REASONS:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if connection.disconnecting:
            raise CommandError(Status.COMMAND_DISALLOWED)
        # Disconnection Complete follows the Command Status (the dispatcher defers it).
        self.controller.disconnect(connection, reason)

    @command(0x041D, "Read_Remote_Version_Information", reply=Reply.STATUS)
    def read_remote_version_information(self, cmd: Command) -> None:
        reader = cmd.reader()
        handle = handle_of(reader.u16())
        reader.done()
        connection = self.connection(handle)
        peer = connection.link.peer_of(self.controller)
        # The peer controller's own answer (LL_VERSION_IND / LMP_version_res) is its static
        # configuration, so it is read here rather than exchanged frame by frame.
        peer_config = getattr(peer, "config", self.controller.config)
        self.controller.send_event(
            event_packet(
                EventCode.READ_REMOTE_VERSION_INFORMATION_COMPLETE,
                struct.pack(
                    "<BHBHH",
                    Status.SUCCESS,
                    handle,
                    peer_config.lmp_version,
                    peer_config.manufacturer,
                    peer_config.lmp_subversion,
                ),
            )
        )

    @command(0x1405, "Read_RSSI", return_size=3)
    def read_rssi(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        handle = handle_of(reader.u16())
        reader.done()
        self.connection(handle)
        return struct.pack("<Hb", handle, self.controller.config.rssi)
