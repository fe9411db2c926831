"""Feature bit names: LMP features (Core 5.4 Vol 2 Part C 3.3) and LE features (Vol 6 Part B 4.6).

Tables map a bit number (bit 0 = least significant bit of octet 0) to a short name;
extended LMP pages 1 and 2 continue the numbering at 64 and 128 as in the spec's table.
"""

from __future__ import annotations

from collections.abc import Mapping

from bluetrio.errors import InvalidArgumentError

LMP_FEATURES: Mapping[int, str] = {
    0: "3-slot packets",
    1: "5-slot packets",
    2: "Encryption",
    3: "Slot offset",
    4: "Timing accuracy",
    5: "Role switch",
    6: "Hold mode",
    7: "Sniff mode",
    9: "Power control requests",
    10: "Channel quality driven data rate (CQDDR)",
    11: "SCO link",
    12: "HV2 packets",
    13: "HV3 packets",
    14: "u-law log synchronous data",
    15: "A-law log synchronous data",
    16: "CVSD synchronous data",
    17: "Paging parameter negotiation",
    18: "Power control",
    19: "Transparent synchronous data",
    20: "Flow control lag (LSB)",
    21: "Flow control lag (middle bit)",
    22: "Flow control lag (MSB)",
    23: "Broadcast encryption",
    25: "EDR ACL 2 Mb/s mode",
    26: "EDR ACL 3 Mb/s mode",
    27: "Enhanced inquiry scan",
    28: "Interlaced inquiry scan",
    29: "Interlaced page scan",
    30: "RSSI with inquiry results",
    31: "Extended SCO link (EV3 packets)",
    32: "EV4 packets",
    33: "EV5 packets",
    35: "AFH capable peripheral",
    36: "AFH classification peripheral",
    37: "BR/EDR not supported",
    38: "LE supported (controller)",
    39: "3-slot EDR ACL packets",
    40: "5-slot EDR ACL packets",
    41: "Sniff subrating",
    42: "Pause encryption",
    43: "AFH capable central",
    44: "AFH classification central",
    45: "EDR eSCO 2 Mb/s mode",
    46: "EDR eSCO 3 Mb/s mode",
    47: "3-slot EDR eSCO packets",
    48: "Extended inquiry response",
    49: "Simultaneous LE and BR/EDR to same device capable (controller)",
    51: "Secure simple pairing (controller)",
    52: "Encapsulated PDU",
    53: "Erroneous data reporting",
    54: "Non-flushable packet boundary flag",
    56: "HCI Link Supervision Timeout Changed event",
    57: "Variable inquiry TX power level",
    58: "Enhanced power control",
    63: "Extended features",
    64: "Secure simple pairing (host)",
    65: "LE supported (host)",
    67: "Secure connections (host)",
    128: "Connectionless peripheral broadcast transmitter",
    129: "Connectionless peripheral broadcast receiver",
    130: "Synchronization train",
    131: "Synchronization scan",
    132: "HCI Inquiry Response Notification event",
    133: "Generalized interlaced scan",
    134: "Coarse clock adjustment",
    136: "Secure connections (controller)",
    137: "Ping",
    138: "Slot availability mask",
    139: "Train nudging",
}

LE_FEATURES: Mapping[int, str] = {
    0: "LE encryption",
    1: "Connection parameters request procedure",
    2: "Extended reject indication",
    3: "Peripheral-initiated features exchange",
    4: "LE ping",
    5: "LE data packet length extension",
    6: "LL privacy",
    7: "Extended scanner filter policies",
    8: "LE 2M PHY",
    9: "Stable modulation index (transmitter)",
    10: "Stable modulation index (receiver)",
    11: "LE Coded PHY",
    12: "LE extended advertising",
    13: "LE periodic advertising",
    14: "Channel selection algorithm #2",
    15: "LE power class 1",
    16: "Minimum number of used channels procedure",
    17: "Connection CTE request",
    18: "Connection CTE response",
    19: "Connectionless CTE transmitter",
    20: "Connectionless CTE receiver",
    21: "Antenna switching during CTE transmission (AoD)",
    22: "Antenna switching during CTE reception (AoA)",
    23: "Receiving constant tone extensions",
    24: "Periodic advertising sync transfer (sender)",
    25: "Periodic advertising sync transfer (recipient)",
    26: "Sleep clock accuracy updates",
    27: "Remote public key validation",
    28: "Connected isochronous stream (central)",
    29: "Connected isochronous stream (peripheral)",
    30: "Isochronous broadcaster",
    31: "Synchronized receiver",
    32: "Connected isochronous stream (host support)",
    33: "LE power control request",
    34: "LE power control request (second bit)",
    35: "LE path loss monitoring",
    36: "Periodic advertising ADI support",
    37: "Connection subrating",
    38: "Connection subrating (host support)",
    39: "Channel classification",
    40: "Advertising coding selection",
    41: "Advertising coding selection (host support)",
    43: "Periodic advertising with responses (advertiser)",
    44: "Periodic advertising with responses (scanner)",
}


def feature_names(bitmap: int | bytes, table: Mapping[int, str] = LMP_FEATURES) -> list[str]:
    """Names of the bits set in a feature mask (an int or its little-endian octets).

    Bits the table does not name are listed as "bit N" so that nothing is hidden.
    """
    value = int.from_bytes(bitmap, "little") if isinstance(bitmap, bytes) else bitmap
    if value < 0:
        raise InvalidArgumentError(f"a feature mask cannot be negative, got {value}")
    names = []
    bit = 0
    while value >> bit:
        if value >> bit & 1:
            names.append(table.get(bit, f"bit {bit}"))
        bit += 1
    return names


def lmp_feature_names(bitmap: int | bytes, page: int = 0) -> list[str]:
    """Names of the LMP features of one page of the extended feature mask."""
    value = int.from_bytes(bitmap, "little") if isinstance(bitmap, bytes) else bitmap
    return feature_names(value << (64 * page), LMP_FEATURES)


def le_feature_names(bitmap: int | bytes) -> list[str]:
    return feature_names(bitmap, LE_FEATURES)
