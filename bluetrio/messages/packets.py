"""HCI packet indicators shared by the codec and every transport (Core 5.4 Vol 4 Part A 2)."""

from __future__ import annotations

import enum


class PacketType(enum.IntEnum):
    """H4 packet indicator; USB and virtual transports carry the same four kinds (plus ISO)."""

    COMMAND = 0x01
    ACL = 0x02
    SCO = 0x03
    EVENT = 0x04
    ISO = 0x05
