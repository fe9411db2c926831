"""BTU routing: every event class has exactly one owner; unknown events still reach BTM."""

from __future__ import annotations

from collections import Counter

from bluetrio.actors.btm.core import BtmCore
from bluetrio.actors.btu.core import EVENT_OWNERS, ROUTING, BtuCore
from bluetrio.actors.effects import Send
from bluetrio.messages import hci
from bluetrio.messages.hci.base import EVENT_CLASSES, LE_EVENT_CLASSES
from bluetrio.messages.hci_service import HciEventInd

# Consumed by the HCI actor itself (command flow control and ACL credits).
HCI_OWN = {hci.CommandComplete, hci.CommandStatus, hci.NumberOfCompletedPackets}


def test_every_event_class_is_listed_exactly_once() -> None:
    listed = Counter(kind for _, events in ROUTING for kind in events)
    assert [kind for kind, count in listed.items() if count > 1] == []
    known = set(EVENT_CLASSES.values()) | set(LE_EVENT_CLASSES.values())
    assert known - HCI_OWN - set(EVENT_OWNERS) == set()


def test_btm_has_a_handler_for_every_event_routed_to_it() -> None:
    handled = set(BtmCore()._events)
    routed = {kind for kind, owner in EVENT_OWNERS.items() if owner == "btm"}
    assert routed - handled == set()


def test_routes_by_class_and_forwards_unknown_events_to_btm() -> None:
    btu = BtuCore()
    known = HciEventInd(hci.InquiryComplete(0))
    assert btu.handle("hci", known, 0.0) == [Send("btm", known)]
    unknown = HciEventInd(hci.UnknownEvent(0xF0, b"\x01"))
    assert btu.handle("hci", unknown, 0.0) == [Send("btm", unknown)]
    assert btu.unrouted == 1
