"""The client's SDP channel on one link, as states, events and the table of moves.

An SDP client opens its L2CAP channel when a query needs one and closes it once no query has
used it for a while (Core 5.4 Vol 3 Part B 2.1: the client may keep the connection while it
expects more requests). Queries wait in order while the channel opens or closes; one runs at
a time (Vol 3 Part B 4.2: a client sends its next request only after the response).
"""

from __future__ import annotations

import enum


class ClientChannelState(enum.Enum):
    CLOSED = "CLOSED"  # no channel; a query opens one
    CONNECTING = "CONNECTING"  # L2caConnectReq sent
    OPEN = "OPEN"  # queries run on it
    DISCONNECTING = "DISCONNECTING"  # L2caDisconnectReq sent; new queries wait for CLOSED

    def __str__(self) -> str:
        return self.value


class ClientChannelEvent(enum.Enum):
    QUERY_QUEUED = "a query needs the channel"
    CONNECTED = "L2caConnectCnf success"
    CONNECT_FAILED = "L2caConnectCnf refused"
    IDLE_TIMEOUT = "no query for the idle time"
    RESPONSE_TIMEOUT = "the server did not answer in time"
    DISCONNECTED = "L2caDisconnectInd, or L2caCnf of our disconnection"

    def __str__(self) -> str:
        return self.value


S = ClientChannelState
E = ClientChannelEvent

CLIENT_TRANSITIONS: dict[tuple[ClientChannelState, ClientChannelEvent], ClientChannelState] = {
    (S.CLOSED, E.QUERY_QUEUED): S.CONNECTING,
    (S.CONNECTING, E.QUERY_QUEUED): S.CONNECTING,
    (S.CONNECTING, E.CONNECTED): S.OPEN,
    (S.CONNECTING, E.CONNECT_FAILED): S.CLOSED,
    (S.CONNECTING, E.DISCONNECTED): S.CLOSED,
    (S.OPEN, E.QUERY_QUEUED): S.OPEN,
    (S.OPEN, E.IDLE_TIMEOUT): S.DISCONNECTING,
    (S.OPEN, E.RESPONSE_TIMEOUT): S.DISCONNECTING,
    (S.OPEN, E.DISCONNECTED): S.CLOSED,
    (S.DISCONNECTING, E.QUERY_QUEUED): S.DISCONNECTING,
    (S.DISCONNECTING, E.DISCONNECTED): S.CLOSED,
}
