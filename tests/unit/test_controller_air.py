"""Sans-IO pieces of the virtual controller: event masks, timing, fault rules, timers."""

from __future__ import annotations

import pytest

from bluetrio.controller.air import AirFaults
from bluetrio.controller.config import Phy, TimingModel
from bluetrio.controller.connections import AclFrame
from bluetrio.controller.event_masks import EventMasks
from bluetrio.controller.timers import TimerQueue
from bluetrio.messages import hci


def test_default_masks_hide_le_meta_but_never_flow_control() -> None:
    masks = EventMasks()
    assert masks.allows(hci.DisconnectionComplete.EVENT_CODE)
    assert not masks.allows(hci.LeMetaEvent.EVENT_CODE, hci.LeConnectionComplete.SUBEVENT_CODE)
    masks.page_1 = 0
    for code in (hci.CommandComplete.EVENT_CODE, hci.CommandStatus.EVENT_CODE):
        assert masks.allows(code)
    assert masks.allows(hci.NumberOfCompletedPackets.EVENT_CODE)
    assert not masks.allows(hci.EncryptionChange.EVENT_CODE)


def test_le_mask_selects_subevents() -> None:
    masks = EventMasks(page_1=1 << 61, le=1 << (hci.LeEnhancedConnectionComplete.SUBEVENT_CODE - 1))
    assert masks.allows(hci.LeMetaEvent.EVENT_CODE, hci.LeEnhancedConnectionComplete.SUBEVENT_CODE)
    assert not masks.allows(hci.LeMetaEvent.EVENT_CODE, hci.LeConnectionComplete.SUBEVENT_CODE)


def test_page_2_mask() -> None:
    masks = EventMasks()
    authenticated_payload_timeout_expired = 0x57
    assert not masks.allows(authenticated_payload_timeout_expired)
    masks.page_2 = 1 << (0x57 - 0x40)
    assert masks.allows(authenticated_payload_timeout_expired)


def test_timing_models() -> None:
    assert TimingModel.instant().airtime(Phy.LE_1M, 251) == 0.0
    realistic = TimingModel.realistic(latency=0.0)
    # 261 bytes at 1 Mbit/s and at 2 Mbit/s.
    assert realistic.airtime(Phy.LE_1M, 251) == pytest.approx(261 * 8 / 1e6)
    assert realistic.airtime(Phy.LE_2M, 251) == pytest.approx(261 * 8 / 2e6)
    assert realistic.airtime(Phy.BR_EDR, 1021) < realistic.airtime(Phy.LE_1M, 1021)


def test_fault_rules_count_down_and_compose() -> None:
    faults = AirFaults()
    frame = AclFrame(True, b"\x10\x20")
    rule = faults.drop(lambda f: isinstance(f, AclFrame), count=1)
    faults.delay(0.5)
    assert faults.apply(frame) == (None, 0.0)
    assert rule.hits == 1 and rule not in faults.rules
    faults.corrupt(lambda f: True)
    arrived, delay = faults.apply(frame)
    assert delay == 0.5
    assert isinstance(arrived, AclFrame) and not arrived.intact and arrived.data == b"\x11\x20"
    faults.clear()
    assert faults.apply(frame) == (frame, 0.0)


def test_timer_queue_orders_by_deadline_then_fifo_and_skips_cancelled() -> None:
    queue = TimerQueue()
    fired: list[str] = []
    queue.schedule(2.0, lambda: fired.append("late"))
    queue.schedule(1.0, lambda: fired.append("first"))
    queue.schedule(1.0, lambda: fired.append("second"))
    queue.schedule(0.5, lambda: fired.append("cancelled")).cancel()
    assert queue.next_deadline() == 1.0
    while (timer := queue.pop_due(1.5)) is not None:
        timer.callback()
    assert fired == ["first", "second"]
    assert queue.next_deadline() == 2.0
