"""HCI events and LE Meta subevents (Core 5.4 Vol 4 Part E 7.7).

Like the commands, each class is one table row: the decorator gives the event (or subevent)
code and the spec name, the annotations give the wire layout. Number_Of_Completed_Packets is
hand-written because it is on the data path.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Annotated, NamedTuple, Self

import attrs

from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.fields import (
    I8,
    U8,
    U16,
    U24,
    U32,
    U64,
    BdAddr,
    Bytes8,
    Constant,
    FixedBytes,
    HciRecord,
    Key16,
    LeAddr,
    LengthPrefixedBytes,
    Name248,
    RecordList,
    Rest,
    record,
)
from bluetrio.messages.hci.base import (
    RETURN_CLASSES,
    HciEvent,
    LeMetaEvent,
    ReturnParameters,
    StatusReturn,
    event,
    le_event,
)

# ---------------------------------------------------------------------------------------------
# Command flow (7.7.14, 7.7.15)
# ---------------------------------------------------------------------------------------------


@event(0x0E, "HCI_Command_Complete")
@attrs.frozen
class CommandComplete(HciEvent):
    num_hci_command_packets: U8
    command_opcode: U16
    return_parameters: Rest

    @classmethod
    def for_return(
        cls, command_opcode: int, returned: ReturnParameters, num_hci_command_packets: int = 1
    ) -> Self:
        """The Command Complete a controller sends for ``command_opcode``."""
        return cls(num_hci_command_packets, command_opcode, returned.to_bytes())

    @property
    def status(self) -> int | None:
        """The first return parameter, which is the status for nearly every command."""
        return self.return_parameters[0] if self.return_parameters else None

    def decode_return(self) -> ReturnParameters | bytes:
        """The typed return parameters for this opcode, or the raw bytes if it is unknown.

        Some controllers send only the status octet when a command fails; a short failure
        answer therefore decodes as :class:`StatusReturn`.
        """
        return_class = RETURN_CLASSES.get(self.command_opcode)
        if return_class is None:
            return self.return_parameters
        if len(self.return_parameters) == 1 and self.return_parameters[0] != 0:
            return StatusReturn(self.return_parameters[0])
        try:
            return return_class.from_bytes(self.return_parameters)
        except DecodeError as error:
            raise DecodeError(
                f"{self.NAME} for opcode 0x{self.command_opcode:04X}: {error}"
            ) from None


@event(0x0F, "HCI_Command_Status")
@attrs.frozen
class CommandStatus(HciEvent):
    status: U8
    num_hci_command_packets: U8
    command_opcode: U16


class CompletedPackets(NamedTuple):
    """Packets of one connection the controller finished with (7.7.19)."""

    connection_handle: int
    num_completed_packets: int


_HANDLE_COUNT = struct.Struct("<HH")


def _completed_entries(value: Iterable[Iterable[int]]) -> tuple[CompletedPackets, ...]:
    """Accept plain (handle, count) pairs as well as :class:`CompletedPackets`."""
    try:
        return tuple(
            entry if type(entry) is CompletedPackets else CompletedPackets(*entry)
            for entry in value
        )
    except TypeError as error:
        raise InvalidArgumentError(
            f"Number_Of_Completed_Packets entries must be (handle, count) pairs: {error}"
        ) from None


@event(0x13, "HCI_Number_Of_Completed_Packets", hand_written=True)
@attrs.frozen
class NumberOfCompletedPackets(HciEvent):
    """Flow-control credits returned by the controller (7.7.19); hand-tuned for speed.

    Handle/count pairs are interleaved on the wire, as every controller sends them.
    """

    completed: tuple[CompletedPackets, ...] = attrs.field(converter=_completed_entries)

    def __attrs_post_init__(self) -> None:
        for entry in self.completed:
            if not (
                isinstance(entry, tuple)
                and len(entry) == 2
                and all(type(value) is int for value in entry)
                and 0 <= entry[0] <= 0x0FFF
                and 0 <= entry[1] <= 0xFFFF
            ):
                raise InvalidArgumentError(
                    f"{self.NAME}: each entry must be (connection_handle 0..0xFFF, "
                    f"num_completed_packets 0..0xFFFF), got {entry!r}"
                )
        if len(self.completed) > 63:  # 1 + 4 * 63 = 253 octets: the most that fits
            raise InvalidArgumentError(f"{self.NAME}: at most 63 entries per event")

    def parameters(self) -> bytes:
        return bytes((len(self.completed),)) + b"".join(
            _HANDLE_COUNT.pack(handle, count) for handle, count in self.completed
        )

    @classmethod
    def from_parameters(cls, data: bytes) -> Self:
        if not data:
            raise DecodeError(f"{cls.NAME}: empty parameters")
        count = data[0]
        if len(data) != 1 + 4 * count:
            raise DecodeError(
                f"{cls.NAME}: {count} handle(s) need {1 + 4 * count} bytes, got {len(data)}"
            )
        completed = tuple(
            CompletedPackets(handle & 0x0FFF, packets)
            for handle, packets in _HANDLE_COUNT.iter_unpack(data[1:])
        )
        return cls(completed)


# ---------------------------------------------------------------------------------------------
# BR/EDR events
# ---------------------------------------------------------------------------------------------


@event(0x01, "HCI_Inquiry_Complete")
@attrs.frozen
class InquiryComplete(HciEvent):
    status: U8


@record
@attrs.frozen
class InquiryResponse(HciRecord):
    """One response of Inquiry_Result (7.7.2)."""

    bd_addr: BdAddr
    page_scan_repetition_mode: U8
    reserved: U16
    class_of_device: U24
    clock_offset: U16


@event(0x02, "HCI_Inquiry_Result")
@attrs.frozen
class InquiryResult(HciEvent):
    responses: Annotated[tuple[InquiryResponse, ...], RecordList(InquiryResponse)]


@record
@attrs.frozen
class InquiryResponseWithRssi(HciRecord):
    """One response of Inquiry_Result_with_RSSI (7.7.33)."""

    bd_addr: BdAddr
    page_scan_repetition_mode: U8
    reserved: U8
    class_of_device: U24
    clock_offset: U16
    rssi: I8


@event(0x22, "HCI_Inquiry_Result_with_RSSI")
@attrs.frozen
class InquiryResultWithRssi(HciEvent):
    responses: Annotated[tuple[InquiryResponseWithRssi, ...], RecordList(InquiryResponseWithRssi)]


@event(0x2F, "HCI_Extended_Inquiry_Result")
@attrs.frozen
class ExtendedInquiryResult(HciEvent):
    # Always 1 (7.7.38); keyword-only with its default so that callers can leave it out.
    num_responses: Annotated[int, Constant(1, 1)] = attrs.field(default=1, kw_only=True)
    bd_addr: BdAddr
    page_scan_repetition_mode: U8
    reserved: U8
    class_of_device: U24
    clock_offset: U16
    rssi: I8
    extended_inquiry_response: Annotated[bytes, FixedBytes(240)]


@event(0x03, "HCI_Connection_Complete")
@attrs.frozen
class ConnectionComplete(HciEvent):
    status: U8
    connection_handle: U16
    bd_addr: BdAddr
    link_type: U8
    encryption_enabled: U8


@event(0x04, "HCI_Connection_Request")
@attrs.frozen
class ConnectionRequest(HciEvent):
    bd_addr: BdAddr
    class_of_device: U24
    link_type: U8


@event(0x05, "HCI_Disconnection_Complete")
@attrs.frozen
class DisconnectionComplete(HciEvent):
    status: U8
    connection_handle: U16
    reason: U8


@attrs.frozen
class _StatusHandle(HciEvent):
    """Events that only report a status for a connection."""

    status: U8
    connection_handle: U16


@event(0x06, "HCI_Authentication_Complete")
@attrs.frozen
class AuthenticationComplete(_StatusHandle):
    """Same parameters as :class:`_StatusHandle`."""


@event(0x07, "HCI_Remote_Name_Request_Complete")
@attrs.frozen
class RemoteNameRequestComplete(HciEvent):
    status: U8
    bd_addr: BdAddr
    remote_name: Name248


@event(0x08, "HCI_Encryption_Change_v1")
@attrs.frozen
class EncryptionChange(HciEvent):
    status: U8
    connection_handle: U16
    encryption_enabled: U8


@event(0x59, "HCI_Encryption_Change_v2")
@attrs.frozen
class EncryptionChangeV2(HciEvent):
    status: U8
    connection_handle: U16
    encryption_enabled: U8
    encryption_key_size: U8


@event(0x09, "HCI_Change_Connection_Link_Key_Complete")
@attrs.frozen
class ChangeConnectionLinkKeyComplete(_StatusHandle):
    """Same parameters as :class:`_StatusHandle`."""


@event(0x0B, "HCI_Read_Remote_Supported_Features_Complete")
@attrs.frozen
class ReadRemoteSupportedFeaturesComplete(HciEvent):
    status: U8
    connection_handle: U16
    lmp_features: U64


@event(0x0C, "HCI_Read_Remote_Version_Information_Complete")
@attrs.frozen
class ReadRemoteVersionInformationComplete(HciEvent):
    status: U8
    connection_handle: U16
    version: U8
    company_identifier: U16
    subversion: U16


@event(0x10, "HCI_Hardware_Error")
@attrs.frozen
class HardwareError(HciEvent):
    hardware_code: U8


@event(0x12, "HCI_Role_Change")
@attrs.frozen
class RoleChange(HciEvent):
    status: U8
    bd_addr: BdAddr
    new_role: U8


@event(0x14, "HCI_Mode_Change")
@attrs.frozen
class ModeChange(HciEvent):
    status: U8
    connection_handle: U16
    current_mode: U8
    interval: U16


@attrs.frozen
class _BdAddrEvent(HciEvent):
    """Events that only name the peer device."""

    bd_addr: BdAddr


@event(0x16, "HCI_PIN_Code_Request")
@attrs.frozen
class PinCodeRequest(_BdAddrEvent):
    """Same parameters as :class:`_BdAddrEvent`."""


@event(0x17, "HCI_Link_Key_Request")
@attrs.frozen
class LinkKeyRequest(_BdAddrEvent):
    """Same parameters as :class:`_BdAddrEvent`."""


@event(0x18, "HCI_Link_Key_Notification")
@attrs.frozen
class LinkKeyNotification(HciEvent):
    bd_addr: BdAddr
    link_key: Key16
    key_type: U8


@event(0x1A, "HCI_Data_Buffer_Overflow")
@attrs.frozen
class DataBufferOverflow(HciEvent):
    link_type: U8


@event(0x1B, "HCI_Max_Slots_Change")
@attrs.frozen
class MaxSlotsChange(HciEvent):
    connection_handle: U16
    lmp_max_slots: U8


@event(0x20, "HCI_Page_Scan_Repetition_Mode_Change")
@attrs.frozen
class PageScanRepetitionModeChange(HciEvent):
    bd_addr: BdAddr
    page_scan_repetition_mode: U8


@event(0x23, "HCI_Read_Remote_Extended_Features_Complete")
@attrs.frozen
class ReadRemoteExtendedFeaturesComplete(HciEvent):
    status: U8
    connection_handle: U16
    page_number: U8
    maximum_page_number: U8
    extended_lmp_features: U64


@event(0x30, "HCI_Encryption_Key_Refresh_Complete")
@attrs.frozen
class EncryptionKeyRefreshComplete(_StatusHandle):
    """Same parameters as :class:`_StatusHandle`."""


@event(0x31, "HCI_IO_Capability_Request")
@attrs.frozen
class IoCapabilityRequest(_BdAddrEvent):
    """Same parameters as :class:`_BdAddrEvent`."""


@event(0x32, "HCI_IO_Capability_Response")
@attrs.frozen
class IoCapabilityResponse(HciEvent):
    bd_addr: BdAddr
    io_capability: U8
    oob_data_present: U8
    authentication_requirements: U8


@event(0x33, "HCI_User_Confirmation_Request")
@attrs.frozen
class UserConfirmationRequest(HciEvent):
    bd_addr: BdAddr
    numeric_value: U32


@event(0x34, "HCI_User_Passkey_Request")
@attrs.frozen
class UserPasskeyRequest(_BdAddrEvent):
    """Same parameters as :class:`_BdAddrEvent`."""


@event(0x35, "HCI_Remote_OOB_Data_Request")
@attrs.frozen
class RemoteOobDataRequest(_BdAddrEvent):
    """Same parameters as :class:`_BdAddrEvent`."""


@event(0x36, "HCI_Simple_Pairing_Complete")
@attrs.frozen
class SimplePairingComplete(HciEvent):
    status: U8
    bd_addr: BdAddr


@event(0x38, "HCI_Link_Supervision_Timeout_Changed")
@attrs.frozen
class LinkSupervisionTimeoutChanged(HciEvent):
    connection_handle: U16
    link_supervision_timeout: U16


@event(0x3B, "HCI_User_Passkey_Notification")
@attrs.frozen
class UserPasskeyNotification(HciEvent):
    bd_addr: BdAddr
    passkey: U32


@event(0x3C, "HCI_Keypress_Notification")
@attrs.frozen
class KeypressNotification(HciEvent):
    bd_addr: BdAddr
    notification_type: U8


@event(0x3D, "HCI_Remote_Host_Supported_Features_Notification")
@attrs.frozen
class RemoteHostSupportedFeaturesNotification(HciEvent):
    bd_addr: BdAddr
    host_supported_features: U64


# ---------------------------------------------------------------------------------------------
# LE Meta subevents (7.7.65)
# ---------------------------------------------------------------------------------------------


@le_event(0x01, "HCI_LE_Connection_Complete")
@attrs.frozen
class LeConnectionComplete(LeMetaEvent):
    status: U8
    connection_handle: U16
    role: U8
    peer_address: LeAddr  # Peer_Address_Type + Peer_Address
    connection_interval: U16
    peripheral_latency: U16
    supervision_timeout: U16
    central_clock_accuracy: U8


@record
@attrs.frozen
class AdvertisingReport(HciRecord):
    """One report of LE_Advertising_Report (7.7.65.2)."""

    event_type: U8
    address: LeAddr  # Address_Type + Address
    data: Annotated[bytes, LengthPrefixedBytes(31)]
    rssi: I8


@le_event(0x02, "HCI_LE_Advertising_Report")
@attrs.frozen
class LeAdvertisingReport(LeMetaEvent):
    reports: Annotated[tuple[AdvertisingReport, ...], RecordList(AdvertisingReport, max_count=25)]


@le_event(0x03, "HCI_LE_Connection_Update_Complete")
@attrs.frozen
class LeConnectionUpdateComplete(LeMetaEvent):
    status: U8
    connection_handle: U16
    connection_interval: U16
    peripheral_latency: U16
    supervision_timeout: U16


@le_event(0x04, "HCI_LE_Read_Remote_Features_Complete")
@attrs.frozen
class LeReadRemoteFeaturesComplete(LeMetaEvent):
    status: U8
    connection_handle: U16
    le_features: U64


@le_event(0x05, "HCI_LE_Long_Term_Key_Request")
@attrs.frozen
class LeLongTermKeyRequest(LeMetaEvent):
    connection_handle: U16
    random_number: Bytes8
    encrypted_diversifier: U16


@le_event(0x06, "HCI_LE_Remote_Connection_Parameter_Request")
@attrs.frozen
class LeRemoteConnectionParameterRequest(LeMetaEvent):
    connection_handle: U16
    interval_min: U16
    interval_max: U16
    max_latency: U16
    timeout: U16


@le_event(0x07, "HCI_LE_Data_Length_Change")
@attrs.frozen
class LeDataLengthChange(LeMetaEvent):
    connection_handle: U16
    max_tx_octets: U16
    max_tx_time: U16
    max_rx_octets: U16
    max_rx_time: U16


@le_event(0x0A, "HCI_LE_Enhanced_Connection_Complete_v1")
@attrs.frozen
class LeEnhancedConnectionComplete(LeMetaEvent):
    status: U8
    connection_handle: U16
    role: U8
    peer_address: LeAddr  # Peer_Address_Type + Peer_Address
    local_resolvable_private_address: BdAddr
    peer_resolvable_private_address: BdAddr
    connection_interval: U16
    peripheral_latency: U16
    supervision_timeout: U16
    central_clock_accuracy: U8


@le_event(0x29, "HCI_LE_Enhanced_Connection_Complete_v2")
@attrs.frozen
class LeEnhancedConnectionCompleteV2(LeEnhancedConnectionComplete):
    advertising_handle: U8
    sync_handle: U16


@record
@attrs.frozen
class DirectedAdvertisingReport(HciRecord):
    """One report of LE_Directed_Advertising_Report (7.7.65.11)."""

    event_type: U8
    address: LeAddr  # Address_Type + Address
    # Direct_Address_Type may be 0xFE (unresolved RPA), so it stays a separate field.
    direct_address_type: U8
    direct_address: BdAddr
    rssi: I8


@le_event(0x0B, "HCI_LE_Directed_Advertising_Report")
@attrs.frozen
class LeDirectedAdvertisingReport(LeMetaEvent):
    reports: Annotated[
        tuple[DirectedAdvertisingReport, ...], RecordList(DirectedAdvertisingReport, max_count=15)
    ]


@le_event(0x0C, "HCI_LE_PHY_Update_Complete")
@attrs.frozen
class LePhyUpdateComplete(LeMetaEvent):
    status: U8
    connection_handle: U16
    tx_phy: U8
    rx_phy: U8


@record
@attrs.frozen
class ExtendedAdvertisingReport(HciRecord):
    """One report of LE_Extended_Advertising_Report (7.7.65.13).

    Address_Type may be 0xFF (anonymous) and Direct_Address_Type 0xFE (unresolved RPA), so
    both stay separate integer fields.
    """

    event_type: U16
    address_type: U8
    address: BdAddr
    primary_phy: U8
    secondary_phy: U8
    advertising_sid: U8
    tx_power: I8
    rssi: I8
    periodic_advertising_interval: U16
    direct_address_type: U8
    direct_address: BdAddr
    data: Annotated[bytes, LengthPrefixedBytes(229)]


@le_event(0x0D, "HCI_LE_Extended_Advertising_Report")
@attrs.frozen
class LeExtendedAdvertisingReport(LeMetaEvent):
    reports: Annotated[
        tuple[ExtendedAdvertisingReport, ...], RecordList(ExtendedAdvertisingReport, max_count=10)
    ]


@le_event(0x11, "HCI_LE_Scan_Timeout")
@attrs.frozen
class LeScanTimeout(LeMetaEvent):
    """Has no parameters."""


@le_event(0x12, "HCI_LE_Advertising_Set_Terminated")
@attrs.frozen
class LeAdvertisingSetTerminated(LeMetaEvent):
    status: U8
    advertising_handle: U8
    connection_handle: U16
    num_completed_extended_advertising_events: U8


@le_event(0x13, "HCI_LE_Scan_Request_Received")
@attrs.frozen
class LeScanRequestReceived(LeMetaEvent):
    advertising_handle: U8
    scanner_address: LeAddr  # Scanner_Address_Type + Scanner_Address


@le_event(0x14, "HCI_LE_Channel_Selection_Algorithm")
@attrs.frozen
class LeChannelSelectionAlgorithm(LeMetaEvent):
    connection_handle: U16
    channel_selection_algorithm: U8
