"""Numbers of L2CAP: channel identifiers, PSMs, signaling codes and result codes
(Core 5.4 Vol 3 Part A 2.1, 4, 5).

Values read from the wire stay integers in the packets; these enums name them, and a core
checks that a value is a member (``Enum(value)`` inside a membership test) before it acts on it.
"""

from __future__ import annotations

import enum


class FixedCid(enum.IntEnum):
    """Fixed channel identifiers (Vol 3 Part A 2.1, table 2.1 and 2.2)."""

    SIGNALING = 0x0001  # BR/EDR signaling channel
    CONNECTIONLESS = 0x0002
    ATT = 0x0004
    LE_SIGNALING = 0x0005
    SMP = 0x0006  # LE Security Manager
    SMP_BR_EDR = 0x0007


NULL_CID = 0x0000
# BR/EDR: 0x0001-0x003F are fixed, 0x0040-0xFFFF dynamically allocated (Vol 3 Part A 2.1).
FIRST_DYNAMIC_CID = 0x0040
LAST_DYNAMIC_CID = 0xFFFF
# LE: dynamically allocated channels are 0x0040-0x007F (Vol 3 Part A 2.1, table 2.3).
LAST_LE_DYNAMIC_CID = 0x007F
LAST_FIXED_CID = 0x003F

# The smallest MTUs an implementation must support (Vol 3 Part A 5.1, 4): 48 octets on
# BR/EDR channels and the BR/EDR signaling channel, 23 on LE.
MIN_BR_EDR_MTU = 48
MIN_LE_MTU = 23
DEFAULT_BR_EDR_MTU = 672  # the MTU assumed when a configuration request carries none (5.1)
MIN_SIGNALING_MTU = 48
MIN_LE_SIGNALING_MTU = 23

# PSMs (Vol 3 Part A 4.2): odd least significant octet, even most significant; 0x0001-0x0EFF
# are assigned by the SIG, 0x1001 and above are dynamic. LE SPSMs are 0x0001-0x00FF (4.22),
# 0x0001-0x007F fixed by the SIG, 0x0080-0x00FF dynamic.
LAST_SIG_PSM = 0x0EFF
FIRST_DYNAMIC_PSM = 0x1001
LAST_LE_SPSM = 0x00FF
FIRST_DYNAMIC_LE_SPSM = 0x0080


def is_valid_psm(psm: int) -> bool:
    """A PSM's least significant octet is odd and its most significant octet even (4.2)."""
    return 0 < psm <= 0xFFFF and psm & 0x0001 == 1 and psm & 0x0100 == 0


def is_valid_le_spsm(spsm: int) -> bool:
    return 0x0001 <= spsm <= LAST_LE_SPSM


class SignalingCode(enum.IntEnum):
    """Signaling command codes (Vol 3 Part A 4, table 4.2)."""

    COMMAND_REJECT = 0x01
    CONNECTION_REQUEST = 0x02
    CONNECTION_RESPONSE = 0x03
    CONFIGURATION_REQUEST = 0x04
    CONFIGURATION_RESPONSE = 0x05
    DISCONNECTION_REQUEST = 0x06
    DISCONNECTION_RESPONSE = 0x07
    ECHO_REQUEST = 0x08
    ECHO_RESPONSE = 0x09
    INFORMATION_REQUEST = 0x0A
    INFORMATION_RESPONSE = 0x0B
    CONNECTION_PARAMETER_UPDATE_REQUEST = 0x12
    CONNECTION_PARAMETER_UPDATE_RESPONSE = 0x13
    LE_CREDIT_BASED_CONNECTION_REQUEST = 0x14
    LE_CREDIT_BASED_CONNECTION_RESPONSE = 0x15
    FLOW_CONTROL_CREDIT_IND = 0x16
    CREDIT_BASED_CONNECTION_REQUEST = 0x17
    CREDIT_BASED_CONNECTION_RESPONSE = 0x18
    CREDIT_BASED_RECONFIGURE_REQUEST = 0x19
    CREDIT_BASED_RECONFIGURE_RESPONSE = 0x1A


class RejectReason(enum.IntEnum):
    """Command Reject reasons (Vol 3 Part A 4.1, table 4.3)."""

    COMMAND_NOT_UNDERSTOOD = 0x0000
    SIGNALING_MTU_EXCEEDED = 0x0001
    INVALID_CID = 0x0002


class ConnectionResult(enum.IntEnum):
    """Connection Response results (Vol 3 Part A 4.3, table 4.6)."""

    SUCCESS = 0x0000
    PENDING = 0x0001
    PSM_NOT_SUPPORTED = 0x0002
    SECURITY_BLOCK = 0x0003
    NO_RESOURCES = 0x0004
    INVALID_SOURCE_CID = 0x0006
    SOURCE_CID_ALREADY_ALLOCATED = 0x0007


class ConnectionStatus(enum.IntEnum):
    """Connection Response status while the result is pending (Vol 3 Part A 4.3, table 4.7)."""

    NO_FURTHER_INFORMATION = 0x0000
    AUTHENTICATION_PENDING = 0x0001
    AUTHORIZATION_PENDING = 0x0002


class ConfigurationResult(enum.IntEnum):
    """Configuration Response results (Vol 3 Part A 4.5, table 4.9)."""

    SUCCESS = 0x0000
    UNACCEPTABLE_PARAMETERS = 0x0001
    REJECTED = 0x0002
    UNKNOWN_OPTIONS = 0x0003
    PENDING = 0x0004
    FLOW_SPEC_REJECTED = 0x0005


# Configuration Request/Response flags (Vol 3 Part A 4.4): bit 0 is the continuation flag.
CONTINUATION_FLAG = 0x0001


class InformationType(enum.IntEnum):
    """Information Request types (Vol 3 Part A 4.10, table 4.11)."""

    CONNECTIONLESS_MTU = 0x0001
    EXTENDED_FEATURES = 0x0002
    FIXED_CHANNELS = 0x0003


class InformationResult(enum.IntEnum):
    """Information Response results (Vol 3 Part A 4.11, table 4.13)."""

    SUCCESS = 0x0000
    NOT_SUPPORTED = 0x0001


class ExtendedFeature(enum.IntFlag):
    """The extended feature mask (Vol 3 Part A 4.12, table 4.14)."""

    FLOW_CONTROL_MODE = 1 << 0
    RETRANSMISSION_MODE = 1 << 1
    BIDIRECTIONAL_QOS = 1 << 2
    ENHANCED_RETRANSMISSION_MODE = 1 << 3
    STREAMING_MODE = 1 << 4
    FCS_OPTION = 1 << 5
    EXTENDED_FLOW_SPECIFICATION = 1 << 6
    FIXED_CHANNELS = 1 << 7
    EXTENDED_WINDOW_SIZE = 1 << 8
    UNICAST_CONNECTIONLESS_DATA = 1 << 9
    ENHANCED_CREDIT_BASED_FLOW_CONTROL = 1 << 10


class ConnectionParameterUpdateResult(enum.IntEnum):
    """Connection Parameter Update Response results (Vol 3 Part A 4.21, table 4.17)."""

    ACCEPTED = 0x0000
    REJECTED = 0x0001


class LeCreditConnectionResult(enum.IntEnum):
    """LE Credit Based Connection Response results (Vol 3 Part A 4.23, table 4.19)."""

    SUCCESS = 0x0000
    SPSM_NOT_SUPPORTED = 0x0002
    NO_RESOURCES = 0x0004
    INSUFFICIENT_AUTHENTICATION = 0x0005
    INSUFFICIENT_AUTHORIZATION = 0x0006
    ENCRYPTION_KEY_SIZE_TOO_SHORT = 0x0007
    INSUFFICIENT_ENCRYPTION = 0x0008
    INVALID_SOURCE_CID = 0x0009
    SOURCE_CID_ALREADY_ALLOCATED = 0x000A
    UNACCEPTABLE_PARAMETERS = 0x000B


class CreditConnectionResult(enum.IntEnum):
    """Credit Based Connection Response results (Vol 3 Part A 4.26, table 4.23)."""

    ALL_SUCCESSFUL = 0x0000
    SPSM_NOT_SUPPORTED = 0x0002
    SOME_REFUSED_NO_RESOURCES = 0x0004  # 0x0003 is reserved
    INSUFFICIENT_AUTHENTICATION = 0x0005
    INSUFFICIENT_AUTHORIZATION = 0x0006
    ENCRYPTION_KEY_SIZE_TOO_SHORT = 0x0007
    INSUFFICIENT_ENCRYPTION = 0x0008
    SOME_REFUSED_INVALID_SOURCE_CID = 0x0009
    SOME_REFUSED_SOURCE_CID_ALREADY_ALLOCATED = 0x000A
    UNACCEPTABLE_PARAMETERS = 0x000B
    INVALID_PARAMETERS = 0x000C
    ALL_PENDING = 0x000D
    ALL_PENDING_AUTHENTICATION = 0x000E
    ALL_PENDING_AUTHORIZATION = 0x000F


class CreditReconfigureResult(enum.IntEnum):
    """Credit Based Reconfigure Response results (Vol 3 Part A 4.28, table 4.26)."""

    SUCCESS = 0x0000
    MTU_REDUCTION_NOT_ALLOWED = 0x0001
    MPS_REDUCTION_NOT_ALLOWED = 0x0002
    INVALID_DESTINATION_CID = 0x0003
    UNACCEPTABLE_PARAMETERS = 0x0004


# At most five channels per Credit Based Connection/Reconfigure Request (Vol 3 Part A 4.25).
MAX_CREDIT_BASED_CHANNELS = 5
MAX_CREDITS = 0xFFFF


class ChannelMode(enum.IntEnum):
    """The mode octet of the Retransmission and Flow Control option (Vol 3 Part A 5.4)."""

    BASIC = 0x00
    RETRANSMISSION = 0x01
    FLOW_CONTROL = 0x02
    ENHANCED_RETRANSMISSION = 0x03
    STREAMING = 0x04
    ERTM = ENHANCED_RETRANSMISSION  # the spec's abbreviation, as an alias


class FcsType(enum.IntEnum):
    """The FCS option (Vol 3 Part A 5.5)."""

    NO_FCS = 0x00
    FCS_16 = 0x01
