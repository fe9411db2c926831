"""The channel state machine of a connection-oriented BR/EDR channel (Core 5.4 Vol 3 Part A
6.1), as an enum of states, an enum of events and the table of moves between them.

The spec's states are kept with their names: CLOSED, WAIT_CONNECT, WAIT_CONNECT_RSP, the
configuration sub-states of 6.1.3 (WAIT_CONFIG, WAIT_SEND_CONFIG, WAIT_CONFIG_REQ_RSP,
WAIT_CONFIG_RSP, WAIT_CONFIG_REQ), OPEN and WAIT_DISCONNECT. Two states wait on the device
manager's security procedure (Vol 3 Part C 5.2.2.5) before a Connection Request is sent or
before the upper layer is asked about an incoming one; the spec leaves those waits inside
CLOSED and WAIT_CONNECT, Bluedroid calls them ORIG_W4_SEC_COMP and TERM_W4_SEC_COMP. The
lockstep sub-states of the Extended Flow Specification (WAIT_IND_FINAL_RSP, WAIT_FINAL_RSP,
WAIT_CONTROL_IND) are not listed: this stack does not send the EFS option.
"""

from __future__ import annotations

import enum


class ChannelState(enum.Enum):
    CLOSED = "CLOSED"
    WAIT_OUTGOING_SECURITY = "WAIT_OUTGOING_SECURITY"
    WAIT_INCOMING_SECURITY = "WAIT_INCOMING_SECURITY"
    WAIT_CONNECT = "WAIT_CONNECT"
    WAIT_CONNECT_RSP = "WAIT_CONNECT_RSP"
    WAIT_CONFIG = "WAIT_CONFIG"
    WAIT_SEND_CONFIG = "WAIT_SEND_CONFIG"
    WAIT_CONFIG_REQ_RSP = "WAIT_CONFIG_REQ_RSP"
    WAIT_CONFIG_RSP = "WAIT_CONFIG_RSP"
    WAIT_CONFIG_REQ = "WAIT_CONFIG_REQ"
    OPEN = "OPEN"
    WAIT_DISCONNECT = "WAIT_DISCONNECT"

    def __str__(self) -> str:
        return self.value


class ChannelEvent(enum.Enum):
    OPEN_REQUESTED = "L2CA_ConnectReq"  # the upper layer opens a channel
    CONNECT_REQUEST_RECEIVED = "L2CAP_ConnectReq received"
    SECURITY_GRANTED = "link meets the security requirement"
    SECURITY_DENIED = "security requirement not met"
    CONNECT_PENDING = "L2CAP_ConnectRsp pending"
    CONNECT_SUCCEEDED = "L2CAP_ConnectRsp success"
    CONNECT_REFUSED = "L2CAP_ConnectRsp refused"
    UPPER_ACCEPTED = "L2CA_ConnectRsp accept"
    UPPER_REFUSED = "L2CA_ConnectRsp refuse"
    CONFIG_REQ_SENT = "L2CAP_ConfigReq sent"
    PEER_CONFIG_ACCEPTED = "L2CAP_ConfigReq received, answered success"
    PEER_CONFIG_REFUSED = "L2CAP_ConfigReq received, answered failure"
    OUR_CONFIG_ACCEPTED = "L2CAP_ConfigRsp success"
    OUR_CONFIG_RETRIED = "L2CAP_ConfigRsp failure, request sent again"
    CONFIG_FAILED = "configuration failed"
    DISCONNECT_REQUESTED = "L2CA_DisconnectReq"
    DISCONNECT_REQUEST_RECEIVED = "L2CAP_DisconnectReq received"
    DISCONNECT_RESPONSE_RECEIVED = "L2CAP_DisconnectRsp received"
    TIMEOUT = "RTX or ERTX expired"
    LINK_CLOSED = "ACL link closed"

    def __str__(self) -> str:
        return self.value


S = ChannelState
E = ChannelEvent

# Configuration states from which the channel moves on when both directions are done.
CONFIG_STATES = frozenset(
    {S.WAIT_CONFIG, S.WAIT_SEND_CONFIG, S.WAIT_CONFIG_REQ_RSP, S.WAIT_CONFIG_RSP, S.WAIT_CONFIG_REQ}
)
# States in which the remote CID is known, so the channel can be disconnected on the air.
CONNECTED_STATES = CONFIG_STATES | {S.OPEN}
_ALL_BUT_CLOSED = frozenset(ChannelState) - {S.CLOSED}

TRANSITIONS: dict[tuple[ChannelState, ChannelEvent], ChannelState] = {
    # 6.1.1 CLOSED: an upper layer request, or a request from the peer.
    (S.CLOSED, E.OPEN_REQUESTED): S.WAIT_OUTGOING_SECURITY,
    (S.CLOSED, E.CONNECT_REQUEST_RECEIVED): S.WAIT_INCOMING_SECURITY,
    (S.WAIT_OUTGOING_SECURITY, E.SECURITY_GRANTED): S.WAIT_CONNECT_RSP,
    (S.WAIT_OUTGOING_SECURITY, E.SECURITY_DENIED): S.CLOSED,
    (S.WAIT_INCOMING_SECURITY, E.SECURITY_GRANTED): S.WAIT_CONNECT,
    (S.WAIT_INCOMING_SECURITY, E.SECURITY_DENIED): S.CLOSED,
    # 6.1.2 WAIT_CONNECT_RSP / WAIT_CONNECT.
    (S.WAIT_CONNECT_RSP, E.CONNECT_PENDING): S.WAIT_CONNECT_RSP,
    (S.WAIT_CONNECT_RSP, E.CONNECT_SUCCEEDED): S.WAIT_CONFIG,
    (S.WAIT_CONNECT_RSP, E.CONNECT_REFUSED): S.CLOSED,
    (S.WAIT_CONNECT_RSP, E.TIMEOUT): S.CLOSED,
    (S.WAIT_CONNECT, E.UPPER_ACCEPTED): S.WAIT_CONFIG,
    (S.WAIT_CONNECT, E.UPPER_REFUSED): S.CLOSED,
    # 6.1.3 configuration: our request and the peer's are independent (5, 7.1.3).
    (S.WAIT_CONFIG, E.CONFIG_REQ_SENT): S.WAIT_CONFIG_REQ_RSP,
    (S.WAIT_CONFIG, E.PEER_CONFIG_ACCEPTED): S.WAIT_SEND_CONFIG,
    (S.WAIT_CONFIG, E.PEER_CONFIG_REFUSED): S.WAIT_CONFIG,
    (S.WAIT_SEND_CONFIG, E.CONFIG_REQ_SENT): S.WAIT_CONFIG_RSP,
    (S.WAIT_CONFIG_REQ_RSP, E.PEER_CONFIG_ACCEPTED): S.WAIT_CONFIG_RSP,
    (S.WAIT_CONFIG_REQ_RSP, E.PEER_CONFIG_REFUSED): S.WAIT_CONFIG_REQ_RSP,
    (S.WAIT_CONFIG_REQ_RSP, E.OUR_CONFIG_ACCEPTED): S.WAIT_CONFIG_REQ,
    (S.WAIT_CONFIG_REQ_RSP, E.OUR_CONFIG_RETRIED): S.WAIT_CONFIG_REQ_RSP,
    (S.WAIT_CONFIG_RSP, E.OUR_CONFIG_ACCEPTED): S.OPEN,
    (S.WAIT_CONFIG_RSP, E.OUR_CONFIG_RETRIED): S.WAIT_CONFIG_RSP,
    (S.WAIT_CONFIG_RSP, E.PEER_CONFIG_ACCEPTED): S.WAIT_CONFIG_RSP,
    (S.WAIT_CONFIG_RSP, E.PEER_CONFIG_REFUSED): S.WAIT_CONFIG_RSP,
    (S.WAIT_CONFIG_REQ, E.PEER_CONFIG_ACCEPTED): S.OPEN,
    (S.WAIT_CONFIG_REQ, E.PEER_CONFIG_REFUSED): S.WAIT_CONFIG_REQ,
    # 6.1.4 OPEN: a Configuration Request re-negotiates; this stack answers it in place.
    (S.OPEN, E.PEER_CONFIG_ACCEPTED): S.OPEN,
    (S.OPEN, E.PEER_CONFIG_REFUSED): S.OPEN,
    # A configuration that cannot converge, or whose request went unanswered, ends in a
    # disconnection (7.1.3).
    **{(state, E.CONFIG_FAILED): S.WAIT_DISCONNECT for state in CONFIG_STATES},
    **{(state, E.TIMEOUT): S.WAIT_DISCONNECT for state in CONFIG_STATES},
    # 6.1.5 / 6.1.6 disconnection.
    **{(state, E.DISCONNECT_REQUESTED): S.WAIT_DISCONNECT for state in CONNECTED_STATES},
    **{(state, E.DISCONNECT_REQUEST_RECEIVED): S.CLOSED for state in CONNECTED_STATES},
    # A peer may withdraw a request it made while we still consider it.
    (S.WAIT_INCOMING_SECURITY, E.DISCONNECT_REQUEST_RECEIVED): S.CLOSED,
    (S.WAIT_CONNECT, E.DISCONNECT_REQUEST_RECEIVED): S.CLOSED,
    (S.WAIT_DISCONNECT, E.DISCONNECT_REQUEST_RECEIVED): S.CLOSED,
    (S.WAIT_DISCONNECT, E.DISCONNECT_RESPONSE_RECEIVED): S.CLOSED,
    (S.WAIT_DISCONNECT, E.TIMEOUT): S.CLOSED,
    # Losing the link closes every channel, whatever its state.
    **{(state, E.LINK_CLOSED): S.CLOSED for state in _ALL_BUT_CLOSED},
}
