"""The states of Enhanced Retransmission mode and the moves between them, as tables to hold
against Core 5.4 Vol 3 Part A 8.6.4 (the transmitter: XMIT, WAIT_F) and 8.6.5 (the receiver:
RECV, REJ_SENT, SREJ_SENT). A channel the engine closed is CLOSED in both machines.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class TxState(enum.Enum):
    XMIT = "XMIT"  # sending I-frames within the peer's window (8.6.4.1)
    WAIT_F = "WAIT_F"  # polled the peer (P=1), waiting for its F=1; no new I-frames (8.6.4.2)
    CLOSED = "CLOSED"


class TxEvent(enum.Enum):
    RETRANSMISSION_TIMER_EXPIRED = "RetransTimer expires"
    MONITOR_TIMER_EXPIRED = "MonitorTimer expires, RetryCount below MaxTransmit"
    LOCAL_BUSY_CLEARED = "Local busy clears after RNR was sent (poll with RR P=1)"
    FINAL_RECEIVED = "a frame with F=1 arrives"
    CHANNEL_FAILED = "MaxTransmit reached or an invalid frame: close the channel"


TX_TRANSITIONS: Mapping[tuple[TxState, TxEvent], TxState] = {
    (TxState.XMIT, TxEvent.RETRANSMISSION_TIMER_EXPIRED): TxState.WAIT_F,
    (TxState.XMIT, TxEvent.LOCAL_BUSY_CLEARED): TxState.WAIT_F,
    (TxState.XMIT, TxEvent.CHANNEL_FAILED): TxState.CLOSED,
    (TxState.WAIT_F, TxEvent.MONITOR_TIMER_EXPIRED): TxState.WAIT_F,
    (TxState.WAIT_F, TxEvent.FINAL_RECEIVED): TxState.XMIT,
    (TxState.WAIT_F, TxEvent.CHANNEL_FAILED): TxState.CLOSED,
}


class RxState(enum.Enum):
    RECV = "RECV"  # every I-frame so far in sequence (8.6.5.4)
    REJ_SENT = "REJ_SENT"  # REJ sent; out-of-sequence frames dropped until ExpectedTxSeq (8.6.5.5)
    SREJ_SENT = "SREJ_SENT"  # SREJs sent for the missing frames; later ones buffered (8.6.5.6)
    CLOSED = "CLOSED"


class RxEvent(enum.Enum):
    EXPECTED_TX_SEQ = "I-frame with TxSeq = ExpectedTxSeq"
    UNEXPECTED_TX_SEQ_REJ = "I-frame past a gap, recovered with REJ"
    UNEXPECTED_TX_SEQ_SREJ = "I-frame past a gap, recovered with SREJ"
    DUPLICATE_TX_SEQ = "I-frame received before"
    SREJ_FRAME_PENDING = "a frame asked for by SREJ arrives, others still missing"
    SREJ_FRAME_LAST = "the last frame asked for by SREJ arrives"
    CHANNEL_FAILED = "invalid TxSeq or ReqSeq, or a SAR violation: close the channel"


RX_TRANSITIONS: Mapping[tuple[RxState, RxEvent], RxState] = {
    (RxState.RECV, RxEvent.EXPECTED_TX_SEQ): RxState.RECV,
    (RxState.RECV, RxEvent.UNEXPECTED_TX_SEQ_REJ): RxState.REJ_SENT,
    (RxState.RECV, RxEvent.UNEXPECTED_TX_SEQ_SREJ): RxState.SREJ_SENT,
    (RxState.RECV, RxEvent.DUPLICATE_TX_SEQ): RxState.RECV,
    (RxState.RECV, RxEvent.CHANNEL_FAILED): RxState.CLOSED,
    # REJ_SENT: frames past the gap are dropped (the REJ is not repeated) until the peer
    # retransmits from ExpectedTxSeq.
    (RxState.REJ_SENT, RxEvent.EXPECTED_TX_SEQ): RxState.RECV,
    (RxState.REJ_SENT, RxEvent.UNEXPECTED_TX_SEQ_REJ): RxState.REJ_SENT,
    (RxState.REJ_SENT, RxEvent.DUPLICATE_TX_SEQ): RxState.REJ_SENT,
    (RxState.REJ_SENT, RxEvent.CHANNEL_FAILED): RxState.CLOSED,
    # SREJ_SENT: new frames (in sequence or past a further gap) are buffered, a further gap gets
    # its own SREJs; the state ends when every frame asked for has arrived.
    (RxState.SREJ_SENT, RxEvent.EXPECTED_TX_SEQ): RxState.SREJ_SENT,
    (RxState.SREJ_SENT, RxEvent.UNEXPECTED_TX_SEQ_SREJ): RxState.SREJ_SENT,
    (RxState.SREJ_SENT, RxEvent.DUPLICATE_TX_SEQ): RxState.SREJ_SENT,
    (RxState.SREJ_SENT, RxEvent.SREJ_FRAME_PENDING): RxState.SREJ_SENT,
    (RxState.SREJ_SENT, RxEvent.SREJ_FRAME_LAST): RxState.RECV,
    (RxState.SREJ_SENT, RxEvent.CHANNEL_FAILED): RxState.CLOSED,
}
