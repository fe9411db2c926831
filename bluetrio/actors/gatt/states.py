"""The transactions of an ATT bearer (Core 5.4 Vol 3 Part F 3.3.2, 3.3.3) and how they move.

A bearer carries three flows that each hold at most one transaction at a time:

* ``OUR_REQUEST``: a request we sent, until its response or Error Response (3.3.2: a client
  sends one request at a time; ours wait in the bearer's queue meanwhile);
* ``PEER_REQUEST``: a request the peer sent, until we respond (a second request before our
  response breaks 3.3.2 and is dropped, never blocking the receive path);
* ``OUR_INDICATION``: an indication we sent, until its confirmation (3.4.7.2: one at a
  time; later ones wait).

A transaction we wait for that does not end within 30 s times out (3.3.3): "no more
attribute protocol requests, commands, indications or notifications shall be sent" on the
bearer, so every flow of that bearer moves to ``TIMED_OUT`` and stays there until the link
(or, for an enhanced bearer, its channel) goes. ``TIMED_OUT`` has no way out.
"""

from __future__ import annotations

import enum


class Flow(enum.Enum):
    OUR_REQUEST = "our request"
    PEER_REQUEST = "the peer's request"
    OUR_INDICATION = "our indication"


class Transaction(enum.Enum):
    IDLE = "idle"
    PENDING = "pending"  # sent (or received), its answer not yet
    TIMED_OUT = "timed out"  # 3.3.3: the bearer carries nothing more


class TransactionEvent(enum.Enum):
    START = "request or indication sent, or the peer's request received"
    ANSWER = "response or confirmation"
    TIME_OUT = "30 s without the answer"  # ours only: the peer times out its own requests
    BEARER_TIMED_OUT = "another flow of the bearer timed out"


_T = Transaction
_E = TransactionEvent

TRANSITIONS: dict[tuple[Transaction, TransactionEvent], Transaction] = {
    (_T.IDLE, _E.START): _T.PENDING,
    (_T.PENDING, _E.ANSWER): _T.IDLE,
    (_T.PENDING, _E.TIME_OUT): _T.TIMED_OUT,
    (_T.IDLE, _E.BEARER_TIMED_OUT): _T.TIMED_OUT,
    (_T.PENDING, _E.BEARER_TIMED_OUT): _T.TIMED_OUT,
}

# The flows whose transaction we wait for under the 30 s timer (3.3.3); the peer's requests
# are ours to answer (the application's deadline bounds that, in the core).
TIMED_FLOWS = frozenset({Flow.OUR_REQUEST, Flow.OUR_INDICATION})
