"""The event masks a host sets (Core 5.4 Vol 4 Part E 7.3.1, 7.3.69, 7.8.1) and which events
they let through."""

from __future__ import annotations

import attrs

from bluetrio.messages import hci

# Defaults after power-on and HCI_Reset (Vol 4 Part E 7.3.1, 7.3.69, 7.8.1).
DEFAULT_EVENT_MASK = 0x0000_1FFF_FFFF_FFFF
DEFAULT_EVENT_MASK_PAGE_2 = 0
DEFAULT_LE_EVENT_MASK = 0x1F

# Events no mask can suppress: they carry flow control (Vol 4 Part E 7.3.1 marks their bits
# reserved).
_UNMASKABLE = frozenset(
    {
        hci.CommandComplete.EVENT_CODE,
        hci.CommandStatus.EVENT_CODE,
        hci.NumberOfCompletedPackets.EVENT_CODE,
    }
)
# Page 1 covers event codes 0x01..0x3E at bit code-1; page 2 covers 0x40..0x59 at bit code-0x40.
_PAGE_1_CODES = range(0x01, 0x3F)
_PAGE_2_CODES = range(0x40, 0x5A)


@attrs.define
class EventMasks:
    """The three masks a host sets; :meth:`allows` decides whether an event reaches it."""

    page_1: int = DEFAULT_EVENT_MASK
    page_2: int = DEFAULT_EVENT_MASK_PAGE_2
    le: int = DEFAULT_LE_EVENT_MASK

    def allows(self, code: int, subevent: int | None = None) -> bool:
        if code in _UNMASKABLE:
            return True
        if code in _PAGE_1_CODES:
            if not (self.page_1 >> (code - 1)) & 1:
                return False
        elif code in _PAGE_2_CODES and not (self.page_2 >> (code - 0x40)) & 1:
            return False
        if code == hci.LeMetaEvent.EVENT_CODE and subevent is not None:
            return bool((self.le >> (subevent - 1)) & 1)
        return True

    def allows_event(self, event: hci.HciEvent) -> bool:
        subevent = event.subevent_code if isinstance(event, hci.LeMetaEvent) else None
        return self.allows(event.event_code, subevent)
