"""The data path of BR/EDR channels in Enhanced Retransmission or Streaming mode (Core 5.4
Vol 3 Part A 8.6, 8.7): each open channel's :class:`~bluetrio.actors.l2cap.ertm.
RetransmissionChannel`, wired into the core.

The engine is made when the channel opens, from what configuration settled
(:meth:`~bluetrio.actors.l2cap.config.Negotiation.engine_parameters`), and stopped when the
channel leaves OPEN, with its timers. What it returns becomes the core's effects:

- its PDUs go into the channel's transmit queue and through the link scheduler;
- its timers are the actor's timers, owned by :class:`EngineTimer` (the link and our CID), so
  releasing the channel releases them all;
- each SDU it reassembles goes to the owner as ``L2caDataInd``; the owner's ``L2caDataRsp``
  (sent as the application reads, as for credit-based channels) tells the engine, which
  leaves its local busy condition when the application catches up (8.6.5.4);
- ``L2caDataCnf`` tells the owner how many SDUs are done, which is what its send window
  counts: in Enhanced Retransmission mode an SDU is done when the peer acknowledged all its
  I-frames, in Streaming mode when the controller took its last frame (no acknowledgement);
  so ``send_eof`` and ``aclose`` after it lose nothing that was sent;
- an SDU the engine's transmit queue has no room for waits here, in order, until the engine
  reports ``TransmitSpace``; the owner is not confirmed meanwhile, so its ``send`` waits and
  what waits here is bounded by the owner's window;
- ``ChannelFailed`` disconnects the channel and gives the owner the engine's reason.
"""

from __future__ import annotations

import logging

import attrs

from bluetrio.actors.effects import CancelTimer, Effects, ReleaseTimers, Send, StartTimer, TimerKey
from bluetrio.actors.l2cap.channels import Ccb
from bluetrio.actors.l2cap.ertm import (
    CancelChannelTimer,
    ChannelEffect,
    ChannelFailed,
    ChannelTimer,
    QueueResult,
    RetransmissionChannel,
    SduReceived,
    SdusAcknowledged,
    StartChannelTimer,
    TransmitPdu,
    TransmitSpace,
)
from bluetrio.actors.l2cap.links import Lcb
from bluetrio.actors.l2cap.scheduler import Scheduler
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.l2cap_service import L2caCongestionInd, L2caDataCnf, L2caDataInd

logger = logging.getLogger(__name__)

_TIMERS = {timer.value: timer for timer in ChannelTimer}
# The core's effects of one input, and why the channel failed (None while it runs).
Outcome = tuple[Effects, str | None]


@attrs.frozen
class EngineTimer:
    """Owner of the retransmission, monitor and acknowledgement timers of one channel."""

    handle: int
    cid: int


class RetransmissionChannels:
    """The engines of every channel in a retransmission mode, on every link."""

    def __init__(self, links: dict[int, Lcb], scheduler: Scheduler) -> None:
        self.links = links
        self.scheduler = scheduler

    # -- life --------------------------------------------------------------------------------
    @staticmethod
    def start(ccb: Ccb) -> str | None:
        """Make the engine of a channel that just opened in a retransmission mode; the reason
        the channel cannot run, or None (also for a channel in basic mode)."""
        try:
            parameters = ccb.negotiation.engine_parameters(ccb.remote_cid)
            if parameters is not None:
                ccb.engine = RetransmissionChannel(parameters)
        except InvalidArgumentError as error:
            return f"the configuration settles no channel the engine runs: {error}"
        return None

    @staticmethod
    def stop(lcb: Lcb, ccb: Ccb) -> Effects:
        """The channel leaves OPEN: its engine, its timers and the SDUs it held go."""
        if ccb.engine is None:
            return []
        ccb.engine = None
        ccb.held.clear()
        ccb.streamed.clear()
        return [ReleaseTimers(EngineTimer(lcb.handle, ccb.local_cid))]

    # -- inputs ------------------------------------------------------------------------------
    # Each returns the core's effects and the reason the channel failed (the caller then
    # disconnects it), or None.
    def on_pdu(self, lcb: Lcb, ccb: Ccb, pdu: bytes, now: float) -> Outcome:
        """A whole PDU on the channel's CID (the engine checks its FCS and sequence)."""
        engine = ccb.engine
        assert engine is not None
        return self._apply(lcb, ccb, engine.receive_pdu(pdu, now), now)

    def send(self, lcb: Lcb, ccb: Ccb, sdu: bytes, now: float) -> Outcome:
        """The owner's SDU (at most the peer's MTU, checked by the caller)."""
        if not ccb.held:
            queued = self._queue(lcb, ccb, sdu, now)
            if queued is not None:
                return queued
        ccb.held.append(sdu)  # behind those that already wait for room
        return [], None

    def on_timer(self, owner: EngineTimer, name: str, now: float) -> Outcome:
        lcb = self.links.get(owner.handle)
        ccb = lcb.channels.get(owner.cid) if lcb is not None else None
        timer = _TIMERS.get(name)
        if lcb is None or ccb is None or ccb.engine is None or timer is None:
            return [], None
        return self._apply(lcb, ccb, ccb.engine.timer_expired(timer, now), now)

    def consumed(self, lcb: Lcb, ccb: Ccb, count: int, now: float) -> Outcome:
        """The owner took ``count`` SDUs of those delivered."""
        engine = ccb.engine
        assert engine is not None
        outcome: list[ChannelEffect] = []
        for _ in range(max(0, min(count, engine.undelivered))):
            outcome += engine.sdu_consumed(now)
        return self._apply(lcb, ccb, outcome, now)

    def completed(self, lcb: Lcb, ccb: Ccb, count: int) -> Effects:
        """hci completed ``count`` PDUs of the channel: in Streaming mode, SDUs whose last
        frame went are done."""
        if ccb.engine is None or not ccb.engine.streaming:
            return []
        sdus = 0
        for _ in range(min(count, len(ccb.streamed))):
            sdus += ccb.streamed.popleft()
        return [Send(ccb.owner, L2caDataCnf(lcb.handle, ccb.local_cid, sdus))] if sdus else []

    # -- the engine's effects ----------------------------------------------------------------
    def _queue(self, lcb: Lcb, ccb: Ccb, sdu: bytes, now: float) -> Outcome | None:
        """Give the engine one SDU; None when its transmit queue is full."""
        engine = ccb.engine
        assert engine is not None
        result, outcome = engine.queue_sdu(sdu, now)
        if result is QueueResult.FULL:
            return None
        if result is not QueueResult.QUEUED:
            # The owner hears of a close separately; confirm so its window stays true.
            logger.warning(
                "l2cap 0x%04X/0x%04X: SDU not queued: %s", lcb.handle, ccb.local_cid, result.value
            )
            return [Send(ccb.owner, L2caDataCnf(lcb.handle, ccb.local_cid, 1))], None
        if engine.streaming:
            frames = sum(isinstance(effect, TransmitPdu) for effect in outcome)
            ccb.streamed.extend([False] * (frames - 1) + [True])
        return self._apply(lcb, ccb, outcome, now, draining=True)

    def _apply(
        self,
        lcb: Lcb,
        ccb: Ccb,
        outcome: list[ChannelEffect],
        now: float,
        *,
        draining: bool = False,
    ) -> Outcome:
        effects: Effects = []
        owner = EngineTimer(lcb.handle, ccb.local_cid)
        pdus: list[bytes] = []
        space = False
        failure: str | None = None
        for effect in outcome:
            match effect:
                case TransmitPdu(pdu=pdu):
                    pdus.append(pdu)
                case SduReceived(sdu=sdu):
                    effects.append(Send(ccb.owner, L2caDataInd(lcb.handle, ccb.local_cid, sdu)))
                case SdusAcknowledged(count=count):
                    effects.append(Send(ccb.owner, L2caDataCnf(lcb.handle, ccb.local_cid, count)))
                case StartChannelTimer(timer=timer, deadline=deadline):
                    effects.append(StartTimer(TimerKey(owner, timer.value), deadline))
                case CancelChannelTimer(timer=timer):
                    effects.append(CancelTimer(TimerKey(owner, timer.value)))
                case TransmitSpace():
                    space = True
                case ChannelFailed():
                    failure = effect.reason
        if pdus:
            change = self.scheduler.add(lcb, ccb.tx, pdus)
            if change is not None:
                congestion = L2caCongestionInd(lcb.handle, ccb.local_cid, change)
                effects.append(Send(ccb.owner, congestion))
        if failure is not None or not space or draining:
            return effects, failure
        # Room again: the SDUs that waited go in order, until the queue is full again.
        while ccb.held and ccb.engine is not None:
            queued = self._queue(lcb, ccb, ccb.held[0], now)
            if queued is None:
                break
            ccb.held.popleft()
            effects += queued[0]
            if queued[1] is not None:
                return effects, queued[1]
        return effects, None
