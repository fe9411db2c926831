"""HCI commands and their Command Complete return parameters (Core 5.4 Vol 4 Part E 7.1-7.8).

Each class is one row of the table: its decorator names the opcode, the spec name, the
return-parameter class (None when the controller answers with Command Status) and the
(octet, bit) of the command in the Supported_Commands bitmap (6.27). The annotations are the
wire layout, in order (see :mod:`bluetrio.messages.fields`).
"""

from __future__ import annotations

from typing import Annotated

import attrs

from bluetrio.messages.fields import (
    I8,
    U8,
    U16,
    U24,
    U32,
    U64,
    BdAddr,
    Bytes8,
    FixedBytes,
    HciRecord,
    Key16,
    LeAddr,
    LengthPrefixedBytes,
    Name248,
    RandomAddr,
    RecordList,
    Rest,
    popcount,
    record,
)
from bluetrio.messages.hci.base import (
    OGF_CONTROLLER_AND_BASEBAND,
    OGF_INFORMATIONAL,
    OGF_LE,
    OGF_LINK_CONTROL,
    OGF_LINK_POLICY,
    OGF_STATUS,
    OGF_VENDOR,
    HciCommand,
    ReturnParameters,
    StatusReturn,
    bitmap_supports,
    command,
    returns,
)

LINK = OGF_LINK_CONTROL
POLICY = OGF_LINK_POLICY
BASEBAND = OGF_CONTROLLER_AND_BASEBAND
INFO = OGF_INFORMATIONAL
STATUS = OGF_STATUS
LE = OGF_LE
VENDOR = OGF_VENDOR

# ---------------------------------------------------------------------------------------------
# Return parameters shared by several commands
# ---------------------------------------------------------------------------------------------


@returns
@attrs.frozen
class BdAddrReturn(ReturnParameters):
    """Status and BD_ADDR: the answer of the pairing replies and of cancel commands."""

    status: U8
    bd_addr: BdAddr


@returns
@attrs.frozen
class ConnectionHandleReturn(ReturnParameters):
    """Status and Connection_Handle: the answer of per-connection settings and LE replies."""

    status: U8
    connection_handle: U16


# ---------------------------------------------------------------------------------------------
# Link control (7.1)
# ---------------------------------------------------------------------------------------------


@command(LINK, 0x0001, "HCI_Inquiry", returns=None, bit=(0, 0))
@attrs.frozen
class Inquiry(HciCommand):
    lap: U24
    inquiry_length: U8
    num_responses: U8


@command(LINK, 0x0002, "HCI_Inquiry_Cancel", returns=StatusReturn, bit=(0, 1))
@attrs.frozen
class InquiryCancel(HciCommand):
    """Has no parameters."""


@command(LINK, 0x0005, "HCI_Create_Connection", returns=None, bit=(0, 4))
@attrs.frozen
class CreateConnection(HciCommand):
    bd_addr: BdAddr
    packet_type: U16
    page_scan_repetition_mode: U8
    reserved: U8
    clock_offset: U16
    allow_role_switch: U8


@command(LINK, 0x0006, "HCI_Disconnect", returns=None, bit=(0, 5))
@attrs.frozen
class Disconnect(HciCommand):
    connection_handle: U16
    reason: U8


@command(LINK, 0x0008, "HCI_Create_Connection_Cancel", returns=BdAddrReturn, bit=(0, 7))
@attrs.frozen
class CreateConnectionCancel(HciCommand):
    bd_addr: BdAddr


@command(LINK, 0x0009, "HCI_Accept_Connection_Request", returns=None, bit=(1, 0))
@attrs.frozen
class AcceptConnectionRequest(HciCommand):
    bd_addr: BdAddr
    role: U8


@command(LINK, 0x000A, "HCI_Reject_Connection_Request", returns=None, bit=(1, 1))
@attrs.frozen
class RejectConnectionRequest(HciCommand):
    bd_addr: BdAddr
    reason: U8


@command(LINK, 0x000B, "HCI_Link_Key_Request_Reply", returns=BdAddrReturn, bit=(1, 2))
@attrs.frozen
class LinkKeyRequestReply(HciCommand):
    bd_addr: BdAddr
    link_key: Key16


@attrs.frozen
class _BdAddrOnly(HciCommand):
    """Commands whose only parameter is the peer's BD_ADDR."""

    bd_addr: BdAddr


@command(LINK, 0x000C, "HCI_Link_Key_Request_Negative_Reply", returns=BdAddrReturn, bit=(1, 3))
@attrs.frozen
class LinkKeyRequestNegativeReply(_BdAddrOnly):
    """Same parameters as :class:`_BdAddrOnly`."""


@command(LINK, 0x000D, "HCI_PIN_Code_Request_Reply", returns=BdAddrReturn, bit=(1, 4))
@attrs.frozen
class PinCodeRequestReply(HciCommand):
    bd_addr: BdAddr
    # PIN_Code_Length then a 16-octet PIN_Code field (7.1.12).
    pin_code: Annotated[bytes, LengthPrefixedBytes(16, padded_to=16)]


@command(LINK, 0x000E, "HCI_PIN_Code_Request_Negative_Reply", returns=BdAddrReturn, bit=(1, 5))
@attrs.frozen
class PinCodeRequestNegativeReply(_BdAddrOnly):
    """Same parameters as :class:`_BdAddrOnly`."""


@attrs.frozen
class _HandleOnly(HciCommand):
    """Commands whose only parameter is a Connection_Handle."""

    connection_handle: U16


@command(LINK, 0x0011, "HCI_Authentication_Requested", returns=None, bit=(1, 7))
@attrs.frozen
class AuthenticationRequested(_HandleOnly):
    """Same parameters as :class:`_HandleOnly`."""


@command(LINK, 0x0013, "HCI_Set_Connection_Encryption", returns=None, bit=(2, 0))
@attrs.frozen
class SetConnectionEncryption(HciCommand):
    connection_handle: U16
    encryption_enable: U8


@command(LINK, 0x0019, "HCI_Remote_Name_Request", returns=None, bit=(2, 3))
@attrs.frozen
class RemoteNameRequest(HciCommand):
    bd_addr: BdAddr
    page_scan_repetition_mode: U8
    reserved: U8
    clock_offset: U16


@command(LINK, 0x001A, "HCI_Remote_Name_Request_Cancel", returns=BdAddrReturn, bit=(2, 4))
@attrs.frozen
class RemoteNameRequestCancel(_BdAddrOnly):
    """Same parameters as :class:`_BdAddrOnly`."""


@command(LINK, 0x001B, "HCI_Read_Remote_Supported_Features", returns=None, bit=(2, 5))
@attrs.frozen
class ReadRemoteSupportedFeatures(_HandleOnly):
    """Same parameters as :class:`_HandleOnly`."""


@command(LINK, 0x001C, "HCI_Read_Remote_Extended_Features", returns=None, bit=(2, 6))
@attrs.frozen
class ReadRemoteExtendedFeatures(HciCommand):
    connection_handle: U16
    page_number: U8


@command(LINK, 0x001D, "HCI_Read_Remote_Version_Information", returns=None, bit=(2, 7))
@attrs.frozen
class ReadRemoteVersionInformation(_HandleOnly):
    """Same parameters as :class:`_HandleOnly`."""


@command(LINK, 0x002B, "HCI_IO_Capability_Request_Reply", returns=BdAddrReturn, bit=(18, 7))
@attrs.frozen
class IoCapabilityRequestReply(HciCommand):
    bd_addr: BdAddr
    io_capability: U8
    oob_data_present: U8
    authentication_requirements: U8


@command(LINK, 0x002C, "HCI_User_Confirmation_Request_Reply", returns=BdAddrReturn, bit=(19, 0))
@attrs.frozen
class UserConfirmationRequestReply(_BdAddrOnly):
    """Same parameters as :class:`_BdAddrOnly`."""


@command(
    LINK,
    0x002D,
    "HCI_User_Confirmation_Request_Negative_Reply",
    returns=BdAddrReturn,
    bit=(19, 1),
)
@attrs.frozen
class UserConfirmationRequestNegativeReply(_BdAddrOnly):
    """Same parameters as :class:`_BdAddrOnly`."""


@command(LINK, 0x002E, "HCI_User_Passkey_Request_Reply", returns=BdAddrReturn, bit=(19, 2))
@attrs.frozen
class UserPasskeyRequestReply(HciCommand):
    bd_addr: BdAddr
    numeric_value: U32


@command(LINK, 0x002F, "HCI_User_Passkey_Request_Negative_Reply", returns=BdAddrReturn, bit=(19, 3))
@attrs.frozen
class UserPasskeyRequestNegativeReply(_BdAddrOnly):
    """Same parameters as :class:`_BdAddrOnly`."""


@command(LINK, 0x0030, "HCI_Remote_OOB_Data_Request_Reply", returns=BdAddrReturn, bit=(19, 4))
@attrs.frozen
class RemoteOobDataRequestReply(HciCommand):
    bd_addr: BdAddr
    c: Key16
    r: Key16


@command(
    LINK,
    0x0033,
    "HCI_Remote_OOB_Data_Request_Negative_Reply",
    returns=BdAddrReturn,
    bit=(19, 7),
)
@attrs.frozen
class RemoteOobDataRequestNegativeReply(_BdAddrOnly):
    """Same parameters as :class:`_BdAddrOnly`."""


@command(
    LINK, 0x0034, "HCI_IO_Capability_Request_Negative_Reply", returns=BdAddrReturn, bit=(20, 3)
)
@attrs.frozen
class IoCapabilityRequestNegativeReply(HciCommand):
    bd_addr: BdAddr
    reason: U8


@command(
    LINK,
    0x0045,
    "HCI_Remote_OOB_Extended_Data_Request_Reply",
    returns=BdAddrReturn,
    bit=(32, 1),
)
@attrs.frozen
class RemoteOobExtendedDataRequestReply(HciCommand):
    bd_addr: BdAddr
    c_192: Key16
    r_192: Key16
    c_256: Key16
    r_256: Key16


# ---------------------------------------------------------------------------------------------
# Link policy (7.2)
# ---------------------------------------------------------------------------------------------


@returns
@attrs.frozen
class RoleDiscoveryReturn(ReturnParameters):
    status: U8
    connection_handle: U16
    current_role: U8


@command(POLICY, 0x0009, "HCI_Role_Discovery", returns=RoleDiscoveryReturn, bit=(4, 7))
@attrs.frozen
class RoleDiscovery(_HandleOnly):
    """Same parameters as :class:`_HandleOnly`."""


@command(POLICY, 0x000B, "HCI_Switch_Role", returns=None, bit=(5, 0))
@attrs.frozen
class SwitchRole(HciCommand):
    bd_addr: BdAddr
    role: U8


@command(
    POLICY, 0x000D, "HCI_Write_Link_Policy_Settings", returns=ConnectionHandleReturn, bit=(5, 2)
)
@attrs.frozen
class WriteLinkPolicySettings(HciCommand):
    connection_handle: U16
    link_policy_settings: U16


@command(POLICY, 0x000F, "HCI_Write_Default_Link_Policy_Settings", returns=StatusReturn, bit=(5, 4))
@attrs.frozen
class WriteDefaultLinkPolicySettings(HciCommand):
    default_link_policy_settings: U16


# ---------------------------------------------------------------------------------------------
# Controller and baseband (7.3)
# ---------------------------------------------------------------------------------------------


@command(BASEBAND, 0x0001, "HCI_Set_Event_Mask", returns=StatusReturn, bit=(5, 6))
@attrs.frozen
class SetEventMask(HciCommand):
    event_mask: U64


@command(BASEBAND, 0x0003, "HCI_Reset", returns=StatusReturn, bit=(5, 7))
@attrs.frozen
class Reset(HciCommand):
    """Has no parameters."""


@command(BASEBAND, 0x0005, "HCI_Set_Event_Filter", returns=StatusReturn, bit=(6, 0))
@attrs.frozen
class SetEventFilter(HciCommand):
    """Filter_Type then a condition whose shape depends on it (7.3.3); kept as bytes."""

    filter_type: U8
    filter_condition: Rest


@command(BASEBAND, 0x0013, "HCI_Write_Local_Name", returns=StatusReturn, bit=(7, 0))
@attrs.frozen
class WriteLocalName(HciCommand):
    local_name: Name248


@returns
@attrs.frozen
class ReadLocalNameReturn(ReturnParameters):
    status: U8
    local_name: Name248


@command(BASEBAND, 0x0014, "HCI_Read_Local_Name", returns=ReadLocalNameReturn, bit=(7, 1))
@attrs.frozen
class ReadLocalName(HciCommand):
    """Has no parameters."""


@command(BASEBAND, 0x0016, "HCI_Write_Connection_Accept_Timeout", returns=StatusReturn, bit=(7, 3))
@attrs.frozen
class WriteConnectionAcceptTimeout(HciCommand):
    connection_accept_timeout: U16


@command(BASEBAND, 0x0018, "HCI_Write_Page_Timeout", returns=StatusReturn, bit=(7, 5))
@attrs.frozen
class WritePageTimeout(HciCommand):
    page_timeout: U16


@returns
@attrs.frozen
class ReadScanEnableReturn(ReturnParameters):
    status: U8
    scan_enable: U8


@command(BASEBAND, 0x0019, "HCI_Read_Scan_Enable", returns=ReadScanEnableReturn, bit=(7, 6))
@attrs.frozen
class ReadScanEnable(HciCommand):
    """Has no parameters."""


@command(BASEBAND, 0x001A, "HCI_Write_Scan_Enable", returns=StatusReturn, bit=(7, 7))
@attrs.frozen
class WriteScanEnable(HciCommand):
    scan_enable: U8


@command(BASEBAND, 0x001C, "HCI_Write_Page_Scan_Activity", returns=StatusReturn, bit=(8, 1))
@attrs.frozen
class WritePageScanActivity(HciCommand):
    page_scan_interval: U16
    page_scan_window: U16


@command(BASEBAND, 0x001E, "HCI_Write_Inquiry_Scan_Activity", returns=StatusReturn, bit=(8, 3))
@attrs.frozen
class WriteInquiryScanActivity(HciCommand):
    inquiry_scan_interval: U16
    inquiry_scan_window: U16


@command(BASEBAND, 0x0020, "HCI_Write_Authentication_Enable", returns=StatusReturn, bit=(8, 5))
@attrs.frozen
class WriteAuthenticationEnable(HciCommand):
    authentication_enable: U8


@returns
@attrs.frozen
class ReadClassOfDeviceReturn(ReturnParameters):
    status: U8
    class_of_device: U24


@command(BASEBAND, 0x0023, "HCI_Read_Class_Of_Device", returns=ReadClassOfDeviceReturn, bit=(9, 0))
@attrs.frozen
class ReadClassOfDevice(HciCommand):
    """Has no parameters."""


@command(BASEBAND, 0x0024, "HCI_Write_Class_Of_Device", returns=StatusReturn, bit=(9, 1))
@attrs.frozen
class WriteClassOfDevice(HciCommand):
    class_of_device: U24


@command(BASEBAND, 0x0033, "HCI_Host_Buffer_Size", returns=StatusReturn, bit=(10, 6))
@attrs.frozen
class HostBufferSize(HciCommand):
    host_acl_data_packet_length: U16
    host_synchronous_data_packet_length: U8
    host_total_num_acl_data_packets: U16
    host_total_num_synchronous_data_packets: U16


@command(
    BASEBAND, 0x0031, "HCI_Set_Controller_To_Host_Flow_Control", returns=StatusReturn, bit=(10, 5)
)
@attrs.frozen
class SetControllerToHostFlowControl(HciCommand):
    flow_control_enable: U8


@record
@attrs.frozen
class HostCompletedPackets(HciRecord):
    """One entry of Host_Number_Of_Completed_Packets (7.3.40)."""

    connection_handle: U16
    host_num_of_completed_packets: U16


@command(
    BASEBAND, 0x0035, "HCI_Host_Number_Of_Completed_Packets", returns=StatusReturn, bit=(10, 7)
)
@attrs.frozen
class HostNumberOfCompletedPackets(HciCommand):
    """Answered only when it fails (7.3.40): the return parameters are those of the failure."""

    entries: Annotated[tuple[HostCompletedPackets, ...], RecordList(HostCompletedPackets)]


@command(BASEBAND, 0x0045, "HCI_Write_Inquiry_Mode", returns=StatusReturn, bit=(12, 7))
@attrs.frozen
class WriteInquiryMode(HciCommand):
    inquiry_mode: U8


@command(BASEBAND, 0x0043, "HCI_Write_Inquiry_Scan_Type", returns=StatusReturn, bit=(12, 5))
@attrs.frozen
class WriteInquiryScanType(HciCommand):
    scan_type: U8


@command(BASEBAND, 0x0047, "HCI_Write_Page_Scan_Type", returns=StatusReturn, bit=(13, 1))
@attrs.frozen
class WritePageScanType(HciCommand):
    page_scan_type: U8


@command(BASEBAND, 0x0052, "HCI_Write_Extended_Inquiry_Response", returns=StatusReturn, bit=(17, 1))
@attrs.frozen
class WriteExtendedInquiryResponse(HciCommand):
    fec_required: U8
    extended_inquiry_response: Annotated[bytes, FixedBytes(240)]


@command(BASEBAND, 0x0056, "HCI_Write_Simple_Pairing_Mode", returns=StatusReturn, bit=(17, 6))
@attrs.frozen
class WriteSimplePairingMode(HciCommand):
    simple_pairing_mode: U8


@returns
@attrs.frozen
class ReadLocalOobDataReturn(ReturnParameters):
    status: U8
    c: Key16
    r: Key16


@command(BASEBAND, 0x0057, "HCI_Read_Local_OOB_Data", returns=ReadLocalOobDataReturn, bit=(17, 7))
@attrs.frozen
class ReadLocalOobData(HciCommand):
    """Has no parameters."""


@command(BASEBAND, 0x0063, "HCI_Set_Event_Mask_Page_2", returns=StatusReturn, bit=(22, 2))
@attrs.frozen
class SetEventMaskPage2(HciCommand):
    event_mask_page_2: U64


@returns
@attrs.frozen
class ReadLeHostSupportReturn(ReturnParameters):
    status: U8
    le_supported_host: U8
    unused: U8  # formerly Simultaneous_LE_Host (7.3.78)


@command(BASEBAND, 0x006C, "HCI_Read_LE_Host_Support", returns=ReadLeHostSupportReturn, bit=(24, 5))
@attrs.frozen
class ReadLeHostSupport(HciCommand):
    """Has no parameters."""


@command(BASEBAND, 0x006D, "HCI_Write_LE_Host_Support", returns=StatusReturn, bit=(24, 6))
@attrs.frozen
class WriteLeHostSupport(HciCommand):
    le_supported_host: U8
    unused: U8  # formerly Simultaneous_LE_Host; shall be 0 (7.3.79)


@command(
    BASEBAND,
    0x007A,
    "HCI_Write_Secure_Connections_Host_Support",
    returns=StatusReturn,
    bit=(32, 3),
)
@attrs.frozen
class WriteSecureConnectionsHostSupport(HciCommand):
    secure_connections_host_support: U8


@returns
@attrs.frozen
class ReadLocalOobExtendedDataReturn(ReturnParameters):
    status: U8
    c_192: Key16
    r_192: Key16
    c_256: Key16
    r_256: Key16


@command(
    BASEBAND,
    0x007D,
    "HCI_Read_Local_OOB_Extended_Data",
    returns=ReadLocalOobExtendedDataReturn,
    bit=(32, 6),
)
@attrs.frozen
class ReadLocalOobExtendedData(HciCommand):
    """Has no parameters."""


# ---------------------------------------------------------------------------------------------
# Informational parameters (7.4)
# ---------------------------------------------------------------------------------------------


@returns
@attrs.frozen
class ReadLocalVersionInformationReturn(ReturnParameters):
    status: U8
    hci_version: U8
    hci_subversion: U16
    lmp_version: U8
    company_identifier: U16
    lmp_subversion: U16


@command(
    INFO,
    0x0001,
    "HCI_Read_Local_Version_Information",
    returns=ReadLocalVersionInformationReturn,
    bit=(14, 3),
)
@attrs.frozen
class ReadLocalVersionInformation(HciCommand):
    """Has no parameters."""


@returns
@attrs.frozen
class ReadLocalSupportedCommandsReturn(ReturnParameters):
    status: U8
    supported_commands: Annotated[bytes, FixedBytes(64)]

    def supports(self, opcode: int) -> bool:
        """Whether the controller reports ``opcode`` as supported (6.27)."""
        return bitmap_supports(self.supported_commands, opcode)


@command(
    INFO,
    0x0002,
    "HCI_Read_Local_Supported_Commands",
    returns=ReadLocalSupportedCommandsReturn,
    bit=(14, 4),
)
@attrs.frozen
class ReadLocalSupportedCommands(HciCommand):
    """Has no parameters."""


@returns
@attrs.frozen
class ReadLocalSupportedFeaturesReturn(ReturnParameters):
    status: U8
    lmp_features: U64


@command(
    INFO,
    0x0003,
    "HCI_Read_Local_Supported_Features",
    returns=ReadLocalSupportedFeaturesReturn,
    bit=(14, 5),
)
@attrs.frozen
class ReadLocalSupportedFeatures(HciCommand):
    """Has no parameters."""


@returns
@attrs.frozen
class ReadLocalExtendedFeaturesReturn(ReturnParameters):
    status: U8
    page_number: U8
    maximum_page_number: U8
    extended_lmp_features: U64


@command(
    INFO,
    0x0004,
    "HCI_Read_Local_Extended_Features",
    returns=ReadLocalExtendedFeaturesReturn,
    bit=(14, 6),
)
@attrs.frozen
class ReadLocalExtendedFeatures(HciCommand):
    page_number: U8


@returns
@attrs.frozen
class ReadBufferSizeReturn(ReturnParameters):
    status: U8
    acl_data_packet_length: U16
    synchronous_data_packet_length: U8
    total_num_acl_data_packets: U16
    total_num_synchronous_data_packets: U16


@command(INFO, 0x0005, "HCI_Read_Buffer_Size", returns=ReadBufferSizeReturn, bit=(14, 7))
@attrs.frozen
class ReadBufferSize(HciCommand):
    """Has no parameters."""


@returns
@attrs.frozen
class ReadBdAddrReturn(BdAddrReturn):
    """Same parameters as :class:`BdAddrReturn`."""


@command(INFO, 0x0009, "HCI_Read_BD_ADDR", returns=ReadBdAddrReturn, bit=(15, 1))
@attrs.frozen
class ReadBdAddr(HciCommand):
    """Has no parameters."""


# ---------------------------------------------------------------------------------------------
# Status parameters (7.5)
# ---------------------------------------------------------------------------------------------


@returns
@attrs.frozen
class ReadRssiReturn(ReturnParameters):
    status: U8
    connection_handle: U16
    rssi: I8


@command(STATUS, 0x0005, "HCI_Read_RSSI", returns=ReadRssiReturn, bit=(15, 5))
@attrs.frozen
class ReadRssi(_HandleOnly):
    """Same parameters as :class:`_HandleOnly`."""


@returns
@attrs.frozen
class ReadEncryptionKeySizeReturn(ReturnParameters):
    status: U8
    connection_handle: U16
    key_size: U8


@command(
    STATUS,
    0x0008,
    "HCI_Read_Encryption_Key_Size",
    returns=ReadEncryptionKeySizeReturn,
    bit=(20, 4),
)
@attrs.frozen
class ReadEncryptionKeySize(_HandleOnly):
    """Same parameters as :class:`_HandleOnly`."""


# ---------------------------------------------------------------------------------------------
# LE controller (7.8)
# ---------------------------------------------------------------------------------------------


@command(LE, 0x0001, "HCI_LE_Set_Event_Mask", returns=StatusReturn, bit=(25, 0))
@attrs.frozen
class LeSetEventMask(HciCommand):
    le_event_mask: U64


@returns
@attrs.frozen
class LeReadBufferSizeReturn(ReturnParameters):
    status: U8
    le_acl_data_packet_length: U16
    total_num_le_acl_data_packets: U8


@command(LE, 0x0002, "HCI_LE_Read_Buffer_Size", returns=LeReadBufferSizeReturn, bit=(25, 1))
@attrs.frozen
class LeReadBufferSize(HciCommand):
    """Has no parameters."""


@returns
@attrs.frozen
class LeReadBufferSizeV2Return(ReturnParameters):
    status: U8
    le_acl_data_packet_length: U16
    total_num_le_acl_data_packets: U8
    iso_data_packet_length: U16
    total_num_iso_data_packets: U8


@command(LE, 0x0060, "HCI_LE_Read_Buffer_Size_V2", returns=LeReadBufferSizeV2Return, bit=(41, 5))
@attrs.frozen
class LeReadBufferSizeV2(HciCommand):
    """Has no parameters."""


@returns
@attrs.frozen
class LeReadLocalSupportedFeaturesReturn(ReturnParameters):
    status: U8
    le_features: U64


@command(
    LE,
    0x0003,
    "HCI_LE_Read_Local_Supported_Features",
    returns=LeReadLocalSupportedFeaturesReturn,
    bit=(25, 2),
)
@attrs.frozen
class LeReadLocalSupportedFeatures(HciCommand):
    """Has no parameters."""


@command(LE, 0x0005, "HCI_LE_Set_Random_Address", returns=StatusReturn, bit=(25, 4))
@attrs.frozen
class LeSetRandomAddress(HciCommand):
    random_address: RandomAddr


@command(LE, 0x0006, "HCI_LE_Set_Advertising_Parameters", returns=StatusReturn, bit=(25, 5))
@attrs.frozen
class LeSetAdvertisingParameters(HciCommand):
    advertising_interval_min: U16
    advertising_interval_max: U16
    advertising_type: U8
    own_address_type: U8
    peer_address: LeAddr  # Peer_Address_Type + Peer_Address
    advertising_channel_map: U8
    advertising_filter_policy: U8


@returns
@attrs.frozen
class LeReadAdvertisingPhysicalChannelTxPowerReturn(ReturnParameters):
    status: U8
    tx_power_level: I8


@command(
    LE,
    0x0007,
    "HCI_LE_Read_Advertising_Physical_Channel_Tx_Power",
    returns=LeReadAdvertisingPhysicalChannelTxPowerReturn,
    bit=(25, 6),
)
@attrs.frozen
class LeReadAdvertisingPhysicalChannelTxPower(HciCommand):
    """Has no parameters."""


# Legacy advertising and scan response data: length, then always 31 octets (7.8.7, 7.8.8).
LegacyAdvertisingData = Annotated[bytes, LengthPrefixedBytes(31, padded_to=31)]


@command(LE, 0x0008, "HCI_LE_Set_Advertising_Data", returns=StatusReturn, bit=(25, 7))
@attrs.frozen
class LeSetAdvertisingData(HciCommand):
    advertising_data: LegacyAdvertisingData


@command(LE, 0x0009, "HCI_LE_Set_Scan_Response_Data", returns=StatusReturn, bit=(26, 0))
@attrs.frozen
class LeSetScanResponseData(HciCommand):
    scan_response_data: LegacyAdvertisingData


@command(LE, 0x000A, "HCI_LE_Set_Advertising_Enable", returns=StatusReturn, bit=(26, 1))
@attrs.frozen
class LeSetAdvertisingEnable(HciCommand):
    advertising_enable: U8


@command(LE, 0x000B, "HCI_LE_Set_Scan_Parameters", returns=StatusReturn, bit=(26, 2))
@attrs.frozen
class LeSetScanParameters(HciCommand):
    le_scan_type: U8
    le_scan_interval: U16
    le_scan_window: U16
    own_address_type: U8
    scanning_filter_policy: U8


@command(LE, 0x000C, "HCI_LE_Set_Scan_Enable", returns=StatusReturn, bit=(26, 3))
@attrs.frozen
class LeSetScanEnable(HciCommand):
    le_scan_enable: U8
    filter_duplicates: U8


@command(LE, 0x000D, "HCI_LE_Create_Connection", returns=None, bit=(26, 4))
@attrs.frozen
class LeCreateConnection(HciCommand):
    le_scan_interval: U16
    le_scan_window: U16
    initiator_filter_policy: U8
    peer_address: LeAddr  # Peer_Address_Type + Peer_Address
    own_address_type: U8
    connection_interval_min: U16
    connection_interval_max: U16
    max_latency: U16
    supervision_timeout: U16
    min_ce_length: U16
    max_ce_length: U16


@command(LE, 0x000E, "HCI_LE_Create_Connection_Cancel", returns=StatusReturn, bit=(26, 5))
@attrs.frozen
class LeCreateConnectionCancel(HciCommand):
    """Has no parameters."""


@returns
@attrs.frozen
class LeReadFilterAcceptListSizeReturn(ReturnParameters):
    status: U8
    filter_accept_list_size: U8


@command(
    LE,
    0x000F,
    "HCI_LE_Read_Filter_Accept_List_Size",
    returns=LeReadFilterAcceptListSizeReturn,
    bit=(26, 6),
)
@attrs.frozen
class LeReadFilterAcceptListSize(HciCommand):
    """Has no parameters."""


@command(LE, 0x0010, "HCI_LE_Clear_Filter_Accept_List", returns=StatusReturn, bit=(26, 7))
@attrs.frozen
class LeClearFilterAcceptList(HciCommand):
    """Has no parameters."""


@attrs.frozen
class _FilterAcceptListEntry(HciCommand):
    # Address_Type may be 0xFF ("anonymous advertisements", 7.8.16), so it stays separate.
    address_type: U8
    address: BdAddr


@command(LE, 0x0011, "HCI_LE_Add_Device_To_Filter_Accept_List", returns=StatusReturn, bit=(27, 0))
@attrs.frozen
class LeAddDeviceToFilterAcceptList(_FilterAcceptListEntry):
    """Same parameters as :class:`_FilterAcceptListEntry`."""


@command(
    LE,
    0x0012,
    "HCI_LE_Remove_Device_From_Filter_Accept_List",
    returns=StatusReturn,
    bit=(27, 1),
)
@attrs.frozen
class LeRemoveDeviceFromFilterAcceptList(_FilterAcceptListEntry):
    """Same parameters as :class:`_FilterAcceptListEntry`."""


@command(LE, 0x0013, "HCI_LE_Connection_Update", returns=None, bit=(27, 2))
@attrs.frozen
class LeConnectionUpdate(HciCommand):
    connection_handle: U16
    connection_interval_min: U16
    connection_interval_max: U16
    max_latency: U16
    supervision_timeout: U16
    min_ce_length: U16
    max_ce_length: U16


@command(LE, 0x0014, "HCI_LE_Set_Host_Channel_Classification", returns=StatusReturn, bit=(27, 3))
@attrs.frozen
class LeSetHostChannelClassification(HciCommand):
    channel_map: Annotated[bytes, FixedBytes(5)]


@returns
@attrs.frozen
class LeReadChannelMapReturn(ReturnParameters):
    status: U8
    connection_handle: U16
    channel_map: Annotated[bytes, FixedBytes(5)]


@command(LE, 0x0015, "HCI_LE_Read_Channel_Map", returns=LeReadChannelMapReturn, bit=(27, 4))
@attrs.frozen
class LeReadChannelMap(_HandleOnly):
    """Same parameters as :class:`_HandleOnly`."""


@command(LE, 0x0016, "HCI_LE_Read_Remote_Features", returns=None, bit=(27, 5))
@attrs.frozen
class LeReadRemoteFeatures(_HandleOnly):
    """Same parameters as :class:`_HandleOnly`."""


@returns
@attrs.frozen
class LeEncryptReturn(ReturnParameters):
    status: U8
    encrypted_data: Key16


@command(LE, 0x0017, "HCI_LE_Encrypt", returns=LeEncryptReturn, bit=(27, 6))
@attrs.frozen
class LeEncrypt(HciCommand):
    key: Key16
    plaintext_data: Key16


@returns
@attrs.frozen
class LeRandReturn(ReturnParameters):
    status: U8
    random_number: Bytes8


@command(LE, 0x0018, "HCI_LE_Rand", returns=LeRandReturn, bit=(27, 7))
@attrs.frozen
class LeRand(HciCommand):
    """Has no parameters."""


@command(LE, 0x0019, "HCI_LE_Enable_Encryption", returns=None, bit=(28, 0))
@attrs.frozen
class LeEnableEncryption(HciCommand):
    connection_handle: U16
    random_number: Bytes8
    encrypted_diversifier: U16
    long_term_key: Key16


@command(
    LE,
    0x001A,
    "HCI_LE_Long_Term_Key_Request_Reply",
    returns=ConnectionHandleReturn,
    bit=(28, 1),
)
@attrs.frozen
class LeLongTermKeyRequestReply(HciCommand):
    connection_handle: U16
    long_term_key: Key16


@command(
    LE,
    0x001B,
    "HCI_LE_Long_Term_Key_Request_Negative_Reply",
    returns=ConnectionHandleReturn,
    bit=(28, 2),
)
@attrs.frozen
class LeLongTermKeyRequestNegativeReply(_HandleOnly):
    """Same parameters as :class:`_HandleOnly`."""


@returns
@attrs.frozen
class LeReadSupportedStatesReturn(ReturnParameters):
    status: U8
    le_states: U64


@command(
    LE, 0x001C, "HCI_LE_Read_Supported_States", returns=LeReadSupportedStatesReturn, bit=(28, 3)
)
@attrs.frozen
class LeReadSupportedStates(HciCommand):
    """Has no parameters."""


@command(
    LE,
    0x0020,
    "HCI_LE_Remote_Connection_Parameter_Request_Reply",
    returns=ConnectionHandleReturn,
    bit=(33, 4),
)
@attrs.frozen
class LeRemoteConnectionParameterRequestReply(HciCommand):
    connection_handle: U16
    interval_min: U16
    interval_max: U16
    max_latency: U16
    timeout: U16
    min_ce_length: U16
    max_ce_length: U16


@command(
    LE,
    0x0021,
    "HCI_LE_Remote_Connection_Parameter_Request_Negative_Reply",
    returns=ConnectionHandleReturn,
    bit=(33, 5),
)
@attrs.frozen
class LeRemoteConnectionParameterRequestNegativeReply(HciCommand):
    connection_handle: U16
    reason: U8


@command(LE, 0x0022, "HCI_LE_Set_Data_Length", returns=ConnectionHandleReturn, bit=(33, 6))
@attrs.frozen
class LeSetDataLength(HciCommand):
    connection_handle: U16
    tx_octets: U16
    tx_time: U16


@returns
@attrs.frozen
class LeReadSuggestedDefaultDataLengthReturn(ReturnParameters):
    status: U8
    suggested_max_tx_octets: U16
    suggested_max_tx_time: U16


@command(
    LE,
    0x0023,
    "HCI_LE_Read_Suggested_Default_Data_Length",
    returns=LeReadSuggestedDefaultDataLengthReturn,
    bit=(33, 7),
)
@attrs.frozen
class LeReadSuggestedDefaultDataLength(HciCommand):
    """Has no parameters."""


@command(
    LE, 0x0024, "HCI_LE_Write_Suggested_Default_Data_Length", returns=StatusReturn, bit=(34, 0)
)
@attrs.frozen
class LeWriteSuggestedDefaultDataLength(HciCommand):
    suggested_max_tx_octets: U16
    suggested_max_tx_time: U16


@command(LE, 0x0027, "HCI_LE_Add_Device_To_Resolving_List", returns=StatusReturn, bit=(34, 3))
@attrs.frozen
class LeAddDeviceToResolvingList(HciCommand):
    peer_identity_address: LeAddr  # Peer_Identity_Address_Type + Peer_Identity_Address
    peer_irk: Key16
    local_irk: Key16


@command(LE, 0x0028, "HCI_LE_Remove_Device_From_Resolving_List", returns=StatusReturn, bit=(34, 4))
@attrs.frozen
class LeRemoveDeviceFromResolvingList(HciCommand):
    peer_identity_address: LeAddr  # Peer_Identity_Address_Type + Peer_Identity_Address


@command(LE, 0x0029, "HCI_LE_Clear_Resolving_List", returns=StatusReturn, bit=(34, 5))
@attrs.frozen
class LeClearResolvingList(HciCommand):
    """Has no parameters."""


@returns
@attrs.frozen
class LeReadResolvingListSizeReturn(ReturnParameters):
    status: U8
    resolving_list_size: U8


@command(
    LE,
    0x002A,
    "HCI_LE_Read_Resolving_List_Size",
    returns=LeReadResolvingListSizeReturn,
    bit=(34, 6),
)
@attrs.frozen
class LeReadResolvingListSize(HciCommand):
    """Has no parameters."""


@returns
@attrs.frozen
class LeReadPeerResolvableAddressReturn(ReturnParameters):
    status: U8
    peer_resolvable_address: RandomAddr


@command(
    LE,
    0x002B,
    "HCI_LE_Read_Peer_Resolvable_Address",
    returns=LeReadPeerResolvableAddressReturn,
    bit=(34, 7),
)
@attrs.frozen
class LeReadPeerResolvableAddress(HciCommand):
    peer_identity_address: LeAddr  # Peer_Identity_Address_Type + Peer_Identity_Address


@returns
@attrs.frozen
class LeReadLocalResolvableAddressReturn(ReturnParameters):
    status: U8
    local_resolvable_address: RandomAddr


@command(
    LE,
    0x002C,
    "HCI_LE_Read_Local_Resolvable_Address",
    returns=LeReadLocalResolvableAddressReturn,
    bit=(35, 0),
)
@attrs.frozen
class LeReadLocalResolvableAddress(HciCommand):
    peer_identity_address: LeAddr  # Peer_Identity_Address_Type + Peer_Identity_Address


@command(LE, 0x002D, "HCI_LE_Set_Address_Resolution_Enable", returns=StatusReturn, bit=(35, 1))
@attrs.frozen
class LeSetAddressResolutionEnable(HciCommand):
    address_resolution_enable: U8


@command(
    LE,
    0x002E,
    "HCI_LE_Set_Resolvable_Private_Address_Timeout",
    returns=StatusReturn,
    bit=(35, 2),
)
@attrs.frozen
class LeSetResolvablePrivateAddressTimeout(HciCommand):
    rpa_timeout: U16


@returns
@attrs.frozen
class LeReadMaximumDataLengthReturn(ReturnParameters):
    status: U8
    supported_max_tx_octets: U16
    supported_max_tx_time: U16
    supported_max_rx_octets: U16
    supported_max_rx_time: U16


@command(
    LE,
    0x002F,
    "HCI_LE_Read_Maximum_Data_Length",
    returns=LeReadMaximumDataLengthReturn,
    bit=(35, 3),
)
@attrs.frozen
class LeReadMaximumDataLength(HciCommand):
    """Has no parameters."""


@returns
@attrs.frozen
class LeReadPhyReturn(ReturnParameters):
    status: U8
    connection_handle: U16
    tx_phy: U8
    rx_phy: U8


@command(LE, 0x0030, "HCI_LE_Read_PHY", returns=LeReadPhyReturn, bit=(35, 4))
@attrs.frozen
class LeReadPhy(_HandleOnly):
    """Same parameters as :class:`_HandleOnly`."""


@command(LE, 0x0031, "HCI_LE_Set_Default_PHY", returns=StatusReturn, bit=(35, 5))
@attrs.frozen
class LeSetDefaultPhy(HciCommand):
    all_phys: U8
    tx_phys: U8
    rx_phys: U8


@command(LE, 0x0032, "HCI_LE_Set_PHY", returns=None, bit=(35, 6))
@attrs.frozen
class LeSetPhy(HciCommand):
    connection_handle: U16
    all_phys: U8
    tx_phys: U8
    rx_phys: U8
    phy_options: U16


@command(
    LE,
    0x0035,
    "HCI_LE_Set_Advertising_Set_Random_Address",
    returns=StatusReturn,
    bit=(36, 1),
)
@attrs.frozen
class LeSetAdvertisingSetRandomAddress(HciCommand):
    advertising_handle: U8
    random_address: RandomAddr


@returns
@attrs.frozen
class LeSetExtendedAdvertisingParametersReturn(ReturnParameters):
    status: U8
    selected_tx_power: I8


@command(
    LE,
    0x0036,
    "HCI_LE_Set_Extended_Advertising_Parameters",
    returns=LeSetExtendedAdvertisingParametersReturn,
    bit=(36, 2),
)
@attrs.frozen
class LeSetExtendedAdvertisingParameters(HciCommand):
    advertising_handle: U8
    advertising_event_properties: U16
    primary_advertising_interval_min: U24
    primary_advertising_interval_max: U24
    primary_advertising_channel_map: U8
    own_address_type: U8
    peer_address: LeAddr  # Peer_Address_Type + Peer_Address
    advertising_filter_policy: U8
    advertising_tx_power: I8
    primary_advertising_phy: U8
    secondary_advertising_max_skip: U8
    secondary_advertising_phy: U8
    advertising_sid: U8
    scan_request_notification_enable: U8


# One fragment of extended advertising data: at most 251 octets fit in a command (7.8.54).
ExtendedAdvertisingData = Annotated[bytes, LengthPrefixedBytes(251)]


@command(LE, 0x0037, "HCI_LE_Set_Extended_Advertising_Data", returns=StatusReturn, bit=(36, 3))
@attrs.frozen
class LeSetExtendedAdvertisingData(HciCommand):
    advertising_handle: U8
    operation: U8
    fragment_preference: U8
    advertising_data: ExtendedAdvertisingData


@command(LE, 0x0038, "HCI_LE_Set_Extended_Scan_Response_Data", returns=StatusReturn, bit=(36, 4))
@attrs.frozen
class LeSetExtendedScanResponseData(HciCommand):
    advertising_handle: U8
    operation: U8
    fragment_preference: U8
    scan_response_data: ExtendedAdvertisingData


@record
@attrs.frozen
class AdvertisingSetEnable(HciRecord):
    """One advertising set of LE_Set_Extended_Advertising_Enable (7.8.56)."""

    advertising_handle: U8
    duration: U16
    max_extended_advertising_events: U8


@command(LE, 0x0039, "HCI_LE_Set_Extended_Advertising_Enable", returns=StatusReturn, bit=(36, 5))
@attrs.frozen
class LeSetExtendedAdvertisingEnable(HciCommand):
    enable: U8
    sets: Annotated[
        tuple[AdvertisingSetEnable, ...], RecordList(AdvertisingSetEnable, max_count=63)
    ]


@returns
@attrs.frozen
class LeReadMaximumAdvertisingDataLengthReturn(ReturnParameters):
    status: U8
    max_advertising_data_length: U16


@command(
    LE,
    0x003A,
    "HCI_LE_Read_Maximum_Advertising_Data_Length",
    returns=LeReadMaximumAdvertisingDataLengthReturn,
    bit=(36, 6),
)
@attrs.frozen
class LeReadMaximumAdvertisingDataLength(HciCommand):
    """Has no parameters."""


@returns
@attrs.frozen
class LeReadNumberOfSupportedAdvertisingSetsReturn(ReturnParameters):
    status: U8
    num_supported_advertising_sets: U8


@command(
    LE,
    0x003B,
    "HCI_LE_Read_Number_Of_Supported_Advertising_Sets",
    returns=LeReadNumberOfSupportedAdvertisingSetsReturn,
    bit=(36, 7),
)
@attrs.frozen
class LeReadNumberOfSupportedAdvertisingSets(HciCommand):
    """Has no parameters."""


@command(LE, 0x003C, "HCI_LE_Remove_Advertising_Set", returns=StatusReturn, bit=(37, 0))
@attrs.frozen
class LeRemoveAdvertisingSet(HciCommand):
    advertising_handle: U8


@command(LE, 0x003D, "HCI_LE_Clear_Advertising_Sets", returns=StatusReturn, bit=(37, 1))
@attrs.frozen
class LeClearAdvertisingSets(HciCommand):
    """Has no parameters."""


@record
@attrs.frozen
class ExtendedScanPhyParameters(HciRecord):
    """Scan settings for one PHY bit of Scanning_PHYs (7.8.64), lowest bit first."""

    scan_type: U8
    scan_interval: U16
    scan_window: U16


@command(LE, 0x0041, "HCI_LE_Set_Extended_Scan_Parameters", returns=StatusReturn, bit=(37, 5))
@attrs.frozen
class LeSetExtendedScanParameters(HciCommand):
    own_address_type: U8
    scanning_filter_policy: U8
    scanning_phys: U8
    phys: Annotated[
        tuple[ExtendedScanPhyParameters, ...],
        RecordList(ExtendedScanPhyParameters, counted_by=("scanning_phys", popcount)),
    ]


@command(LE, 0x0042, "HCI_LE_Set_Extended_Scan_Enable", returns=StatusReturn, bit=(37, 6))
@attrs.frozen
class LeSetExtendedScanEnable(HciCommand):
    enable: U8
    filter_duplicates: U8
    duration: U16
    period: U16


@record
@attrs.frozen
class ExtendedCreateConnectionPhyParameters(HciRecord):
    """Connection settings for one PHY bit of Initiating_PHYs (7.8.66), lowest bit first."""

    scan_interval: U16
    scan_window: U16
    connection_interval_min: U16
    connection_interval_max: U16
    max_latency: U16
    supervision_timeout: U16
    min_ce_length: U16
    max_ce_length: U16


@command(LE, 0x0043, "HCI_LE_Extended_Create_Connection", returns=None, bit=(37, 7))
@attrs.frozen
class LeExtendedCreateConnection(HciCommand):
    initiator_filter_policy: U8
    own_address_type: U8
    peer_address: LeAddr  # Peer_Address_Type + Peer_Address
    initiating_phys: U8
    phys: Annotated[
        tuple[ExtendedCreateConnectionPhyParameters, ...],
        RecordList(ExtendedCreateConnectionPhyParameters, counted_by=("initiating_phys", popcount)),
    ]


@returns
@attrs.frozen
class LeReadTransmitPowerReturn(ReturnParameters):
    status: U8
    min_tx_power: I8
    max_tx_power: I8


@command(LE, 0x004B, "HCI_LE_Read_Transmit_Power", returns=LeReadTransmitPowerReturn, bit=(38, 7))
@attrs.frozen
class LeReadTransmitPower(HciCommand):
    """Has no parameters."""


@command(LE, 0x004E, "HCI_LE_Set_Privacy_Mode", returns=StatusReturn, bit=(39, 2))
@attrs.frozen
class LeSetPrivacyMode(HciCommand):
    peer_identity_address: LeAddr  # Peer_Identity_Address_Type + Peer_Identity_Address
    privacy_mode: U8


# ---------------------------------------------------------------------------------------------
# Vendor-specific commands (OGF 0x3F)
# ---------------------------------------------------------------------------------------------


@command(VENDOR, 0x0006, "HCI_Vendor_Write_BD_ADDR", returns=StatusReturn, bit=None)
@attrs.frozen
class VendorWriteBdAddr(HciCommand):
    """Set the controller's public address (the opcode and layout of Zephyr's vendor command).

    Vendor commands have no Supported_Commands bit (Vol 4 Part E 6.27): a host learns that a
    controller takes it from who made the controller, or by trying.
    """

    bd_addr: BdAddr
