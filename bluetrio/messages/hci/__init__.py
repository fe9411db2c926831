"""The HCI codec: typed commands, events and data packets (Core 5.4 Vol 4 Part E).

This module is the public face of the codec, shared by the host stack and the virtual
controller. The packet classes live in the ``hci_*`` modules next to it (one job each: field
machinery, base classes and registries, commands, events, data packets, status codes, feature
names) and are all re-exported here; this module adds the parsers that dispatch on the packet
header (5.4.1-5.4.5).
"""

# ruff: noqa: F405 (the names of __all__ come from the star imports)
from __future__ import annotations

import struct
from collections.abc import Callable

from bluetrio.errors import DecodeError

# Star imports re-export every public packet class without listing each one a second time.
from bluetrio.messages.hci.base import *  # noqa: F403
from bluetrio.messages.hci.base import (
    COMMAND_CLASSES,
    EVENT_CLASSES,
    LE_EVENT_CLASSES,
    LE_META_EVENT_CODE,
    HciCommand,
    HciEvent,
    LeMetaEvent,
    UnknownCommand,
    UnknownEvent,
    UnknownLeMetaEvent,
)
from bluetrio.messages.hci.commands import *  # noqa: F403
from bluetrio.messages.hci.data import *  # noqa: F403
from bluetrio.messages.hci.data import AclPacket, IsoPacket, ScoPacket
from bluetrio.messages.hci.events import *  # noqa: F403
from bluetrio.messages.hci.features import *  # noqa: F403
from bluetrio.messages.hci.status import *  # noqa: F403
from bluetrio.messages.packets import PacketType

HciPacket = HciCommand | HciEvent | AclPacket | ScoPacket | IsoPacket

_COMMAND_HEADER = struct.Struct("<HB")


def command_class(opcode: int) -> type[HciCommand] | None:
    """The class registered for ``opcode``, or None."""
    return COMMAND_CLASSES.get(opcode)


def event_class(code: int, subevent: int | None = None) -> type[HciEvent] | None:
    """The class for an event code (and, for LE Meta events, a subevent code), or None."""
    if code == LE_META_EVENT_CODE:
        if subevent is None:
            return LeMetaEvent
        return LE_EVENT_CLASSES.get(subevent)
    return EVENT_CLASSES.get(code)


def parse_command(data: bytes) -> HciCommand:
    """Decode a command packet (opcode, length, parameters; no H4 indicator)."""
    if len(data) < 3:
        raise DecodeError(f"HCI command: {len(data)} byte(s) is shorter than the 3-byte header")
    opcode, length = _COMMAND_HEADER.unpack_from(data)
    parameters = data[3:]
    if len(parameters) != length:
        raise DecodeError(
            f"HCI command 0x{opcode:04X}: header says {length} parameter byte(s), "
            f"packet carries {len(parameters)}"
        )
    cls = COMMAND_CLASSES.get(opcode)
    if cls is None:
        return UnknownCommand(opcode, parameters)
    return cls.from_parameters(parameters)


def parse_event(data: bytes) -> HciEvent:
    """Decode an event packet (code, length, parameters; no H4 indicator)."""
    if len(data) < 2:
        raise DecodeError(f"HCI event: {len(data)} byte(s) is shorter than the 2-byte header")
    code, length = data[0], data[1]
    parameters = data[2:]
    if len(parameters) != length:
        raise DecodeError(
            f"HCI event 0x{code:02X}: header says {length} parameter byte(s), "
            f"packet carries {len(parameters)}"
        )
    if code == LE_META_EVENT_CODE:
        if not parameters:
            raise DecodeError("HCI LE Meta event: no subevent code")
        le_class = LE_EVENT_CLASSES.get(parameters[0])
        if le_class is None:
            return UnknownLeMetaEvent(parameters[0], parameters[1:])
        return le_class.from_parameters(parameters)
    cls = EVENT_CLASSES.get(code)
    if cls is None:
        return UnknownEvent(code, parameters)
    return cls.from_parameters(parameters)


def parse_acl(data: bytes) -> AclPacket:
    return AclPacket.from_bytes(data)


def parse_sco(data: bytes) -> ScoPacket:
    return ScoPacket.from_bytes(data)


def parse_iso(data: bytes) -> IsoPacket:
    return IsoPacket.from_bytes(data)


_PARSERS: dict[PacketType, Callable[[bytes], HciPacket]] = {
    PacketType.COMMAND: parse_command,
    PacketType.EVENT: parse_event,
    PacketType.ACL: parse_acl,
    PacketType.SCO: parse_sco,
    PacketType.ISO: parse_iso,
}


def parse_packet(packet_type: PacketType, data: bytes) -> HciPacket:
    """Decode any HCI packet given its type (the H4 indicator, already removed)."""
    parser = _PARSERS.get(packet_type)
    if parser is None:
        raise DecodeError(f"unknown HCI packet type {packet_type!r}")
    return parser(data)


# The packet classes, their enums and constants, and the codec functions; nothing the
# modules above merely import (tests/unit/test_hci_exports.py keeps this list complete).
__all__ = [
    "BASEBAND",
    "COMMAND_CLASSES",
    "EVENT_CLASSES",
    "INFO",
    "LE",
    "LE_EVENT_CLASSES",
    "LE_FEATURES",
    "LE_META_EVENT_CODE",
    "LINK",
    "LMP_FEATURES",
    "MAX_CONNECTION_HANDLE",
    "OGF_CONTROLLER_AND_BASEBAND",
    "OGF_INFORMATIONAL",
    "OGF_LE",
    "OGF_LINK_CONTROL",
    "OGF_LINK_POLICY",
    "OGF_STATUS",
    "OGF_TESTING",
    "OGF_VENDOR",
    "PB_COMPLETE",
    "PB_CONTINUING",
    "PB_FIRST_FLUSHABLE",
    "PB_FIRST_NON_FLUSHABLE",
    "POLICY",
    "RETURN_CLASSES",
    "STATUS",
    "SUPPORTED_COMMANDS_LENGTH",
    "SUPPORTED_COMMAND_BITS",
    "VENDOR",
    "AcceptConnectionRequest",
    "AclPacket",
    "AdvertisingReport",
    "AdvertisingSetEnable",
    "AuthenticationComplete",
    "AuthenticationRequested",
    "BdAddrReturn",
    "ChangeConnectionLinkKeyComplete",
    "CommandComplete",
    "CommandStatus",
    "CompletedPackets",
    "ConnectionComplete",
    "ConnectionHandleReturn",
    "ConnectionRequest",
    "CreateConnection",
    "CreateConnectionCancel",
    "DataBufferOverflow",
    "DirectedAdvertisingReport",
    "Disconnect",
    "DisconnectionComplete",
    "EncryptionChange",
    "EncryptionChangeV2",
    "EncryptionKeyRefreshComplete",
    "ExtendedAdvertisingReport",
    "ExtendedCreateConnectionPhyParameters",
    "ExtendedInquiryResult",
    "ExtendedScanPhyParameters",
    "HardwareError",
    "HciCommand",
    "HciEvent",
    "HciPacket",
    "HciStatus",
    "HostBufferSize",
    "HostCompletedPackets",
    "HostNumberOfCompletedPackets",
    "Inquiry",
    "InquiryCancel",
    "InquiryComplete",
    "InquiryResponse",
    "InquiryResponseWithRssi",
    "InquiryResult",
    "InquiryResultWithRssi",
    "IoCapabilityRequest",
    "IoCapabilityRequestNegativeReply",
    "IoCapabilityRequestReply",
    "IoCapabilityResponse",
    "IsoPacket",
    "KeypressNotification",
    "LeAddDeviceToFilterAcceptList",
    "LeAddDeviceToResolvingList",
    "LeAdvertisingReport",
    "LeAdvertisingSetTerminated",
    "LeChannelSelectionAlgorithm",
    "LeClearAdvertisingSets",
    "LeClearFilterAcceptList",
    "LeClearResolvingList",
    "LeConnectionComplete",
    "LeConnectionUpdate",
    "LeConnectionUpdateComplete",
    "LeCreateConnection",
    "LeCreateConnectionCancel",
    "LeDataLengthChange",
    "LeDirectedAdvertisingReport",
    "LeEnableEncryption",
    "LeEncrypt",
    "LeEncryptReturn",
    "LeEnhancedConnectionComplete",
    "LeEnhancedConnectionCompleteV2",
    "LeExtendedAdvertisingReport",
    "LeExtendedCreateConnection",
    "LeLongTermKeyRequest",
    "LeLongTermKeyRequestNegativeReply",
    "LeLongTermKeyRequestReply",
    "LeMetaEvent",
    "LePhyUpdateComplete",
    "LeRand",
    "LeRandReturn",
    "LeReadAdvertisingPhysicalChannelTxPower",
    "LeReadAdvertisingPhysicalChannelTxPowerReturn",
    "LeReadBufferSize",
    "LeReadBufferSizeReturn",
    "LeReadBufferSizeV2",
    "LeReadBufferSizeV2Return",
    "LeReadChannelMap",
    "LeReadChannelMapReturn",
    "LeReadFilterAcceptListSize",
    "LeReadFilterAcceptListSizeReturn",
    "LeReadLocalResolvableAddress",
    "LeReadLocalResolvableAddressReturn",
    "LeReadLocalSupportedFeatures",
    "LeReadLocalSupportedFeaturesReturn",
    "LeReadMaximumAdvertisingDataLength",
    "LeReadMaximumAdvertisingDataLengthReturn",
    "LeReadMaximumDataLength",
    "LeReadMaximumDataLengthReturn",
    "LeReadNumberOfSupportedAdvertisingSets",
    "LeReadNumberOfSupportedAdvertisingSetsReturn",
    "LeReadPeerResolvableAddress",
    "LeReadPeerResolvableAddressReturn",
    "LeReadPhy",
    "LeReadPhyReturn",
    "LeReadRemoteFeatures",
    "LeReadRemoteFeaturesComplete",
    "LeReadResolvingListSize",
    "LeReadResolvingListSizeReturn",
    "LeReadSuggestedDefaultDataLength",
    "LeReadSuggestedDefaultDataLengthReturn",
    "LeReadSupportedStates",
    "LeReadSupportedStatesReturn",
    "LeReadTransmitPower",
    "LeReadTransmitPowerReturn",
    "LeRemoteConnectionParameterRequest",
    "LeRemoteConnectionParameterRequestNegativeReply",
    "LeRemoteConnectionParameterRequestReply",
    "LeRemoveAdvertisingSet",
    "LeRemoveDeviceFromFilterAcceptList",
    "LeRemoveDeviceFromResolvingList",
    "LeScanRequestReceived",
    "LeScanTimeout",
    "LeSetAddressResolutionEnable",
    "LeSetAdvertisingData",
    "LeSetAdvertisingEnable",
    "LeSetAdvertisingParameters",
    "LeSetAdvertisingSetRandomAddress",
    "LeSetDataLength",
    "LeSetDefaultPhy",
    "LeSetEventMask",
    "LeSetExtendedAdvertisingData",
    "LeSetExtendedAdvertisingEnable",
    "LeSetExtendedAdvertisingParameters",
    "LeSetExtendedAdvertisingParametersReturn",
    "LeSetExtendedScanEnable",
    "LeSetExtendedScanParameters",
    "LeSetExtendedScanResponseData",
    "LeSetHostChannelClassification",
    "LeSetPhy",
    "LeSetPrivacyMode",
    "LeSetRandomAddress",
    "LeSetResolvablePrivateAddressTimeout",
    "LeSetScanEnable",
    "LeSetScanParameters",
    "LeSetScanResponseData",
    "LeWriteSuggestedDefaultDataLength",
    "LinkKeyNotification",
    "LinkKeyRequest",
    "LinkKeyRequestNegativeReply",
    "LinkKeyRequestReply",
    "LinkSupervisionTimeoutChanged",
    "MaxSlotsChange",
    "ModeChange",
    "NumberOfCompletedPackets",
    "PacketType",
    "PageScanRepetitionModeChange",
    "PinCodeRequest",
    "PinCodeRequestNegativeReply",
    "PinCodeRequestReply",
    "ReadBdAddr",
    "ReadBdAddrReturn",
    "ReadBufferSize",
    "ReadBufferSizeReturn",
    "ReadClassOfDevice",
    "ReadClassOfDeviceReturn",
    "ReadEncryptionKeySize",
    "ReadEncryptionKeySizeReturn",
    "ReadLeHostSupport",
    "ReadLeHostSupportReturn",
    "ReadLocalExtendedFeatures",
    "ReadLocalExtendedFeaturesReturn",
    "ReadLocalName",
    "ReadLocalNameReturn",
    "ReadLocalOobData",
    "ReadLocalOobDataReturn",
    "ReadLocalOobExtendedData",
    "ReadLocalOobExtendedDataReturn",
    "ReadLocalSupportedCommands",
    "ReadLocalSupportedCommandsReturn",
    "ReadLocalSupportedFeatures",
    "ReadLocalSupportedFeaturesReturn",
    "ReadLocalVersionInformation",
    "ReadLocalVersionInformationReturn",
    "ReadRemoteExtendedFeatures",
    "ReadRemoteExtendedFeaturesComplete",
    "ReadRemoteSupportedFeatures",
    "ReadRemoteSupportedFeaturesComplete",
    "ReadRemoteVersionInformation",
    "ReadRemoteVersionInformationComplete",
    "ReadRssi",
    "ReadRssiReturn",
    "ReadScanEnable",
    "ReadScanEnableReturn",
    "RejectConnectionRequest",
    "RemoteHostSupportedFeaturesNotification",
    "RemoteNameRequest",
    "RemoteNameRequestCancel",
    "RemoteNameRequestComplete",
    "RemoteOobDataRequest",
    "RemoteOobDataRequestNegativeReply",
    "RemoteOobDataRequestReply",
    "RemoteOobExtendedDataRequestReply",
    "Reset",
    "ReturnParameters",
    "RoleChange",
    "RoleDiscovery",
    "RoleDiscoveryReturn",
    "ScoPacket",
    "SetConnectionEncryption",
    "SetControllerToHostFlowControl",
    "SetEventFilter",
    "SetEventMask",
    "SetEventMaskPage2",
    "SimplePairingComplete",
    "StatusReturn",
    "SwitchRole",
    "UnknownCommand",
    "UnknownEvent",
    "UnknownLeMetaEvent",
    "UserConfirmationRequest",
    "UserConfirmationRequestNegativeReply",
    "UserConfirmationRequestReply",
    "UserPasskeyNotification",
    "UserPasskeyRequest",
    "UserPasskeyRequestNegativeReply",
    "UserPasskeyRequestReply",
    "VendorWriteBdAddr",
    "WriteAuthenticationEnable",
    "WriteClassOfDevice",
    "WriteConnectionAcceptTimeout",
    "WriteDefaultLinkPolicySettings",
    "WriteExtendedInquiryResponse",
    "WriteInquiryMode",
    "WriteInquiryScanActivity",
    "WriteInquiryScanType",
    "WriteLeHostSupport",
    "WriteLinkPolicySettings",
    "WriteLocalName",
    "WritePageScanActivity",
    "WritePageScanType",
    "WritePageTimeout",
    "WriteScanEnable",
    "WriteSecureConnectionsHostSupport",
    "WriteSimplePairingMode",
    "bitmap_supports",
    "command",
    "command_class",
    "describe_status",
    "event",
    "event_class",
    "feature_names",
    "le_event",
    "le_feature_names",
    "lmp_feature_names",
    "opcode",
    "opcode_command",
    "opcode_group",
    "parse_acl",
    "parse_command",
    "parse_event",
    "parse_iso",
    "parse_packet",
    "parse_sco",
    "returns",
    "supported_commands_bitmap",
]
