"""The state machine of a credit-based channel (Core 5.4 Vol 3 Part A 4.22-4.28, 6.1), as an
enum of states, an enum of events and the table of moves between them.

A credit-based channel has no configuration: it opens with the response to its connection
request (LE Credit Based Connection Response 4.23, Credit Based Connection Response 4.26) and
stays OPEN while reconfigurations (4.27, 4.28) come and go. The security waits are those of
6.1 as for BR/EDR channels: before our request goes out, and before we answer the peer's
(Vol 3 Part C 5.2.2.5). A channel whose peer breaks credit-based flow control (3.4.3, 10.1)
is disconnected from OPEN like any channel the upper layer closes.
"""

from __future__ import annotations

import enum


class CreditState(enum.Enum):
    CLOSED = "CLOSED"
    WAIT_OUTGOING_SECURITY = "WAIT_OUTGOING_SECURITY"
    WAIT_CONNECT_RSP = "WAIT_CONNECT_RSP"
    WAIT_INCOMING_SECURITY = "WAIT_INCOMING_SECURITY"
    OPEN = "OPEN"
    WAIT_DISCONNECT = "WAIT_DISCONNECT"

    def __str__(self) -> str:
        return self.value


class CreditEvent(enum.Enum):
    OPEN_REQUESTED = "L2CA_CreditBasedConnectionReq"
    SECURITY_GRANTED = "link meets the security requirement"
    SECURITY_DENIED = "security requirement not met"
    CONNECT_PENDING = "Credit Based Connection Response pending"
    CONNECT_SUCCEEDED = "connection response success"
    CONNECT_REFUSED = "connection response refused"
    REQUEST_RECEIVED = "connection request received"
    DISCONNECT_REQUESTED = "L2CA_DisconnectReq, or the peer broke flow control"
    DISCONNECT_REQUEST_RECEIVED = "L2CAP_DisconnectReq received"
    DISCONNECT_RESPONSE_RECEIVED = "L2CAP_DisconnectRsp received"
    TIMEOUT = "RTX or ERTX expired"
    LINK_CLOSED = "ACL link closed"

    def __str__(self) -> str:
        return self.value


S = CreditState
E = CreditEvent

CREDIT_TRANSITIONS: dict[tuple[CreditState, CreditEvent], CreditState] = {
    # Opening a channel ourselves: security first, then the request and its response.
    (S.CLOSED, E.OPEN_REQUESTED): S.WAIT_OUTGOING_SECURITY,
    (S.WAIT_OUTGOING_SECURITY, E.SECURITY_GRANTED): S.WAIT_CONNECT_RSP,
    (S.WAIT_OUTGOING_SECURITY, E.SECURITY_DENIED): S.CLOSED,
    (S.WAIT_CONNECT_RSP, E.CONNECT_PENDING): S.WAIT_CONNECT_RSP,  # 4.26, results 0x000D-F
    (S.WAIT_CONNECT_RSP, E.CONNECT_SUCCEEDED): S.OPEN,
    (S.WAIT_CONNECT_RSP, E.CONNECT_REFUSED): S.CLOSED,
    (S.WAIT_CONNECT_RSP, E.TIMEOUT): S.CLOSED,
    # The peer opens one: its link is checked, then we answer and the channel is open.
    (S.CLOSED, E.REQUEST_RECEIVED): S.WAIT_INCOMING_SECURITY,
    (S.WAIT_INCOMING_SECURITY, E.SECURITY_GRANTED): S.OPEN,
    (S.WAIT_INCOMING_SECURITY, E.SECURITY_DENIED): S.CLOSED,
    # Disconnection (4.6, 4.7).
    (S.OPEN, E.DISCONNECT_REQUESTED): S.WAIT_DISCONNECT,
    (S.OPEN, E.DISCONNECT_REQUEST_RECEIVED): S.CLOSED,
    (S.WAIT_DISCONNECT, E.DISCONNECT_REQUEST_RECEIVED): S.CLOSED,
    (S.WAIT_DISCONNECT, E.DISCONNECT_RESPONSE_RECEIVED): S.CLOSED,
    (S.WAIT_DISCONNECT, E.TIMEOUT): S.CLOSED,
    # Losing the link closes every channel, whatever its state.
    **{(state, E.LINK_CLOSED): S.CLOSED for state in CreditState if state is not S.CLOSED},
}
