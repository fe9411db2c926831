"""HCI status and error codes (Core 5.4 Vol 1 Part F 1.3)."""

from __future__ import annotations

import enum


class HciStatus(enum.IntEnum):
    """Status of a command, or reason of a disconnection, as the controller reports it."""

    SUCCESS = 0x00
    UNKNOWN_HCI_COMMAND = 0x01
    UNKNOWN_CONNECTION_IDENTIFIER = 0x02
    HARDWARE_FAILURE = 0x03
    PAGE_TIMEOUT = 0x04
    AUTHENTICATION_FAILURE = 0x05
    PIN_OR_KEY_MISSING = 0x06
    MEMORY_CAPACITY_EXCEEDED = 0x07
    CONNECTION_TIMEOUT = 0x08
    CONNECTION_LIMIT_EXCEEDED = 0x09
    SYNCHRONOUS_CONNECTION_LIMIT_TO_A_DEVICE_EXCEEDED = 0x0A
    CONNECTION_ALREADY_EXISTS = 0x0B
    COMMAND_DISALLOWED = 0x0C
    CONNECTION_REJECTED_DUE_TO_LIMITED_RESOURCES = 0x0D
    CONNECTION_REJECTED_DUE_TO_SECURITY_REASONS = 0x0E
    CONNECTION_REJECTED_DUE_TO_UNACCEPTABLE_BD_ADDR = 0x0F
    CONNECTION_ACCEPT_TIMEOUT_EXCEEDED = 0x10
    UNSUPPORTED_FEATURE_OR_PARAMETER_VALUE = 0x11
    INVALID_HCI_COMMAND_PARAMETERS = 0x12
    REMOTE_USER_TERMINATED_CONNECTION = 0x13
    REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_LOW_RESOURCES = 0x14
    REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF = 0x15
    CONNECTION_TERMINATED_BY_LOCAL_HOST = 0x16
    REPEATED_ATTEMPTS = 0x17
    PAIRING_NOT_ALLOWED = 0x18
    UNKNOWN_LMP_PDU = 0x19
    UNSUPPORTED_REMOTE_FEATURE = 0x1A
    SCO_OFFSET_REJECTED = 0x1B
    SCO_INTERVAL_REJECTED = 0x1C
    SCO_AIR_MODE_REJECTED = 0x1D
    INVALID_LMP_OR_LL_PARAMETERS = 0x1E
    UNSPECIFIED_ERROR = 0x1F
    UNSUPPORTED_LMP_OR_LL_PARAMETER_VALUE = 0x20
    ROLE_CHANGE_NOT_ALLOWED = 0x21
    LMP_OR_LL_RESPONSE_TIMEOUT = 0x22
    LMP_ERROR_TRANSACTION_COLLISION = 0x23
    LMP_PDU_NOT_ALLOWED = 0x24
    ENCRYPTION_MODE_NOT_ACCEPTABLE = 0x25
    LINK_KEY_CANNOT_BE_CHANGED = 0x26
    REQUESTED_QOS_NOT_SUPPORTED = 0x27
    INSTANT_PASSED = 0x28
    PAIRING_WITH_UNIT_KEY_NOT_SUPPORTED = 0x29
    DIFFERENT_TRANSACTION_COLLISION = 0x2A
    QOS_UNACCEPTABLE_PARAMETER = 0x2C
    QOS_REJECTED = 0x2D
    CHANNEL_CLASSIFICATION_NOT_SUPPORTED = 0x2E
    INSUFFICIENT_SECURITY = 0x2F
    PARAMETER_OUT_OF_MANDATORY_RANGE = 0x30
    ROLE_SWITCH_PENDING = 0x32
    RESERVED_SLOT_VIOLATION = 0x34
    ROLE_SWITCH_FAILED = 0x35
    EXTENDED_INQUIRY_RESPONSE_TOO_LARGE = 0x36
    SECURE_SIMPLE_PAIRING_NOT_SUPPORTED_BY_HOST = 0x37
    HOST_BUSY_PAIRING = 0x38
    CONNECTION_REJECTED_DUE_TO_NO_SUITABLE_CHANNEL_FOUND = 0x39
    CONTROLLER_BUSY = 0x3A
    UNACCEPTABLE_CONNECTION_PARAMETERS = 0x3B
    ADVERTISING_TIMEOUT = 0x3C
    CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE = 0x3D
    CONNECTION_FAILED_TO_BE_ESTABLISHED = 0x3E
    COARSE_CLOCK_ADJUSTMENT_REJECTED = 0x40
    TYPE0_SUBMAP_NOT_DEFINED = 0x41
    UNKNOWN_ADVERTISING_IDENTIFIER = 0x42
    LIMIT_REACHED = 0x43
    OPERATION_CANCELLED_BY_HOST = 0x44
    PACKET_TOO_LONG = 0x45
    TOO_LATE = 0x46
    TOO_EARLY = 0x47

    @property
    def description(self) -> str:
        """The spec's name of this code, e.g. "Page Timeout" (Vol 1 Part F 1.3)."""
        return _SPEC_NAMES[self]


# The names in the table of Core 5.4 Vol 1 Part F 1.3, spelled as there (codes shared by LMP
# and LL give both names).
_SPEC_NAMES = {
    HciStatus.SUCCESS: "Success",
    HciStatus.UNKNOWN_HCI_COMMAND: "Unknown HCI Command",
    HciStatus.UNKNOWN_CONNECTION_IDENTIFIER: "Unknown Connection Identifier",
    HciStatus.HARDWARE_FAILURE: "Hardware Failure",
    HciStatus.PAGE_TIMEOUT: "Page Timeout",
    HciStatus.AUTHENTICATION_FAILURE: "Authentication Failure",
    HciStatus.PIN_OR_KEY_MISSING: "PIN or Key Missing",
    HciStatus.MEMORY_CAPACITY_EXCEEDED: "Memory Capacity Exceeded",
    HciStatus.CONNECTION_TIMEOUT: "Connection Timeout",
    HciStatus.CONNECTION_LIMIT_EXCEEDED: "Connection Limit Exceeded",
    HciStatus.SYNCHRONOUS_CONNECTION_LIMIT_TO_A_DEVICE_EXCEEDED: (
        "Synchronous Connection Limit To A Device Exceeded"
    ),
    HciStatus.CONNECTION_ALREADY_EXISTS: "Connection Already Exists",
    HciStatus.COMMAND_DISALLOWED: "Command Disallowed",
    HciStatus.CONNECTION_REJECTED_DUE_TO_LIMITED_RESOURCES: (
        "Connection Rejected due to Limited Resources"
    ),
    HciStatus.CONNECTION_REJECTED_DUE_TO_SECURITY_REASONS: (
        "Connection Rejected Due To Security Reasons"
    ),
    HciStatus.CONNECTION_REJECTED_DUE_TO_UNACCEPTABLE_BD_ADDR: (
        "Connection Rejected due to Unacceptable BD_ADDR"
    ),
    HciStatus.CONNECTION_ACCEPT_TIMEOUT_EXCEEDED: "Connection Accept Timeout Exceeded",
    HciStatus.UNSUPPORTED_FEATURE_OR_PARAMETER_VALUE: "Unsupported Feature or Parameter Value",
    HciStatus.INVALID_HCI_COMMAND_PARAMETERS: "Invalid HCI Command Parameters",
    HciStatus.REMOTE_USER_TERMINATED_CONNECTION: "Remote User Terminated Connection",
    HciStatus.REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_LOW_RESOURCES: (
        "Remote Device Terminated Connection due to Low Resources"
    ),
    HciStatus.REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF: (
        "Remote Device Terminated Connection due to Power Off"
    ),
    HciStatus.CONNECTION_TERMINATED_BY_LOCAL_HOST: "Connection Terminated By Local Host",
    HciStatus.REPEATED_ATTEMPTS: "Repeated Attempts",
    HciStatus.PAIRING_NOT_ALLOWED: "Pairing Not Allowed",
    HciStatus.UNKNOWN_LMP_PDU: "Unknown LMP PDU",
    HciStatus.UNSUPPORTED_REMOTE_FEATURE: "Unsupported Remote Feature",
    HciStatus.SCO_OFFSET_REJECTED: "SCO Offset Rejected",
    HciStatus.SCO_INTERVAL_REJECTED: "SCO Interval Rejected",
    HciStatus.SCO_AIR_MODE_REJECTED: "SCO Air Mode Rejected",
    HciStatus.INVALID_LMP_OR_LL_PARAMETERS: "Invalid LMP Parameters / Invalid LL Parameters",
    HciStatus.UNSPECIFIED_ERROR: "Unspecified Error",
    HciStatus.UNSUPPORTED_LMP_OR_LL_PARAMETER_VALUE: (
        "Unsupported LMP Parameter Value / Unsupported LL Parameter Value"
    ),
    HciStatus.ROLE_CHANGE_NOT_ALLOWED: "Role Change Not Allowed",
    HciStatus.LMP_OR_LL_RESPONSE_TIMEOUT: "LMP Response Timeout / LL Response Timeout",
    HciStatus.LMP_ERROR_TRANSACTION_COLLISION: (
        "LMP Error Transaction Collision / LL Procedure Collision"
    ),
    HciStatus.LMP_PDU_NOT_ALLOWED: "LMP PDU Not Allowed",
    HciStatus.ENCRYPTION_MODE_NOT_ACCEPTABLE: "Encryption Mode Not Acceptable",
    HciStatus.LINK_KEY_CANNOT_BE_CHANGED: "Link Key cannot be Changed",
    HciStatus.REQUESTED_QOS_NOT_SUPPORTED: "Requested QoS Not Supported",
    HciStatus.INSTANT_PASSED: "Instant Passed",
    HciStatus.PAIRING_WITH_UNIT_KEY_NOT_SUPPORTED: "Pairing With Unit Key Not Supported",
    HciStatus.DIFFERENT_TRANSACTION_COLLISION: "Different Transaction Collision",
    HciStatus.QOS_UNACCEPTABLE_PARAMETER: "QoS Unacceptable Parameter",
    HciStatus.QOS_REJECTED: "QoS Rejected",
    HciStatus.CHANNEL_CLASSIFICATION_NOT_SUPPORTED: "Channel Classification Not Supported",
    HciStatus.INSUFFICIENT_SECURITY: "Insufficient Security",
    HciStatus.PARAMETER_OUT_OF_MANDATORY_RANGE: "Parameter Out Of Mandatory Range",
    HciStatus.ROLE_SWITCH_PENDING: "Role Switch Pending",
    HciStatus.RESERVED_SLOT_VIOLATION: "Reserved Slot Violation",
    HciStatus.ROLE_SWITCH_FAILED: "Role Switch Failed",
    HciStatus.EXTENDED_INQUIRY_RESPONSE_TOO_LARGE: "Extended Inquiry Response Too Large",
    HciStatus.SECURE_SIMPLE_PAIRING_NOT_SUPPORTED_BY_HOST: (
        "Secure Simple Pairing Not Supported By Host"
    ),
    HciStatus.HOST_BUSY_PAIRING: "Host Busy - Pairing",
    HciStatus.CONNECTION_REJECTED_DUE_TO_NO_SUITABLE_CHANNEL_FOUND: (
        "Connection Rejected due to No Suitable Channel Found"
    ),
    HciStatus.CONTROLLER_BUSY: "Controller Busy",
    HciStatus.UNACCEPTABLE_CONNECTION_PARAMETERS: "Unacceptable Connection Parameters",
    HciStatus.ADVERTISING_TIMEOUT: "Advertising Timeout",
    HciStatus.CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE: "Connection Terminated due to MIC Failure",
    HciStatus.CONNECTION_FAILED_TO_BE_ESTABLISHED: (
        "Connection Failed to be Established / Synchronization Timeout"
    ),
    HciStatus.COARSE_CLOCK_ADJUSTMENT_REJECTED: (
        "Coarse Clock Adjustment Rejected but Will Try to Adjust Using Clock Dragging"
    ),
    HciStatus.TYPE0_SUBMAP_NOT_DEFINED: "Type0 Submap Not Defined",
    HciStatus.UNKNOWN_ADVERTISING_IDENTIFIER: "Unknown Advertising Identifier",
    HciStatus.LIMIT_REACHED: "Limit Reached",
    HciStatus.OPERATION_CANCELLED_BY_HOST: "Operation Cancelled by Host",
    HciStatus.PACKET_TOO_LONG: "Packet Too Long",
    HciStatus.TOO_LATE: "Too Late",
    HciStatus.TOO_EARLY: "Too Early",
}


def describe_status(code: int) -> str:
    """The spec's name of any status octet with its code, e.g. "Page Timeout (0x04)"; a code
    the table does not have (reserved, or newer than this table) is named as such."""
    try:
        name = HciStatus(code).description
    except ValueError:
        name = "unknown status"
    return f"{name} (0x{code:02X})"
