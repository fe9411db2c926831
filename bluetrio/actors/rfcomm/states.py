"""The state machines of RFCOMM: the multiplexer (one per link, on DLCI 0) and each DLC.

The multiplexer keeps Bluedroid's seven states (``RFC_MX_STATE_*``) and its events
(``RFC_MX_EVENT_*`` and the frame events ``RFC_EVENT_*``) so :data:`MUX_TRANSITIONS` can be held
against them. This stack's L2CAP confirms a channel only once it is configured both ways, so
the multiplexer meets L2CAP's configuration as one event: CONF_CNF right after CONN_CNF for a
channel we opened, CONF_IND for one the peer opened. A refused L2CAP connection is handled as
DISC_IND (the channel never existed). Events the table does not list are logged and ignored
(``MUX_UNEXPECTED`` names those Bluedroid says must not arrive in a state).

A DLC (Bluedroid's port, ``tPORT``) goes through PN (RFCOMM 1.2 5.5.3), SABM/UA, and
DISC/UA (TS 07.10 5.3); an incoming SABM waits for btm's security check (RFCOMM 1.2 6.3),
then for its owner's answer, so a DLC nobody takes is refused with DM before any UA.
"""

from __future__ import annotations

import enum


class MuxState(enum.Enum):
    IDLE = "IDLE"  # no L2CAP channel
    WAIT_CONN_CNF = "WAIT_CONN_CNF"  # our L2CAP Connection Request is out
    CONFIGURE = "CONFIGURE"  # L2CAP channel configuring
    SABME_WAIT_UA = "SABME_WAIT_UA"  # we sent SABM on DLCI 0 (T1)
    WAIT_SABME = "WAIT_SABME"  # the peer's L2CAP channel is up: its SABM is awaited
    CONNECTED = "CONNECTED"
    DISC_WAIT_UA = "DISC_WAIT_UA"  # we sent DISC on DLCI 0 (T1)

    def __str__(self) -> str:
        return self.value


class MuxEvent(enum.Enum):
    START_REQ = "START_REQ"  # a DLC needs the multiplexer
    START_RSP = "START_RSP"
    CLOSE_REQ = "CLOSE_REQ"  # the last DLC closed
    CONN_CNF = "CONN_CNF"  # L2CAP connected the channel we asked for
    CONN_IND = "CONN_IND"  # the peer opens an L2CAP channel to PSM 0x0003
    CONF_CNF = "CONF_CNF"  # our configuration was accepted
    CONF_IND = "CONF_IND"  # the peer's configuration was accepted
    QOS_VIOLATION_IND = "QOS_VIOLATION_IND"
    DISC_IND = "DISC_IND"  # the L2CAP channel is gone (or was refused)
    TEST_CMD = "TEST_CMD"
    TEST_RSP = "TEST_RSP"
    FCON_CMD = "FCON_CMD"
    FCOFF_CMD = "FCOFF_CMD"
    NSC = "NSC"  # a command we do not support arrived
    NSC_RSP = "NSC_RSP"  # the peer did not support one of ours
    TIMEOUT = "TIMEOUT"  # the multiplexer's timer (T1, the 120 s wait, back-off, idle)
    SABME = "SABME"  # SABM on DLCI 0
    UA = "UA"
    DM = "DM"
    DISC = "DISC"
    UIH = "UIH"

    def __str__(self) -> str:
        return self.value


M, E = MuxState, MuxEvent

# Bluedroid's multiplexer state machine (rfc_mx_fsm.cc), state by state.
MUX_TRANSITIONS: dict[tuple[MuxState, MuxEvent], MuxState] = {
    (M.IDLE, E.START_REQ): M.WAIT_CONN_CNF,  # L2CAP Connection Request to PSM 3
    (M.IDLE, E.CONN_IND): M.CONFIGURE,  # accepted; the 120 s wait starts
    (M.IDLE, E.DISC): M.IDLE,  # answered with DM
    (M.IDLE, E.UIH): M.IDLE,  # answered with DM
    (M.IDLE, E.TIMEOUT): M.WAIT_CONN_CNF,  # a collision's retry: L2CAP Connection Request
    (M.WAIT_CONN_CNF, E.CONN_CNF): M.CONFIGURE,
    (M.WAIT_CONN_CNF, E.CONF_IND): M.WAIT_CONN_CNF,  # configuration before the response
    (M.WAIT_CONN_CNF, E.DISC_IND): M.IDLE,  # refused: every DLC waiting fails
    (M.WAIT_CONN_CNF, E.TIMEOUT): M.IDLE,  # the collision back-off ran out (5.2.1)
    (M.CONFIGURE, E.CONF_IND): M.WAIT_SABME,  # the peer opened it: wait 120 s for SABM
    (M.CONFIGURE, E.CONF_CNF): M.SABME_WAIT_UA,  # we opened it: SABM on DLCI 0, T1
    (M.CONFIGURE, E.DISC_IND): M.IDLE,  # after we yielded in a collision: retried once
    (M.CONFIGURE, E.TIMEOUT): M.IDLE,
    (M.WAIT_SABME, E.SABME): M.CONNECTED,  # UA
    (M.WAIT_SABME, E.DISC_IND): M.IDLE,  # after we yielded in a collision: retried once
    (M.WAIT_SABME, E.TIMEOUT): M.IDLE,
    (M.WAIT_SABME, E.CONF_IND): M.IDLE,  # reconfiguration is not supported
    (M.WAIT_SABME, E.CONF_CNF): M.IDLE,
    (M.SABME_WAIT_UA, E.UA): M.CONNECTED,  # the waiting DLCs start with PN
    (M.SABME_WAIT_UA, E.DM): M.IDLE,
    (M.SABME_WAIT_UA, E.TIMEOUT): M.IDLE,
    (M.SABME_WAIT_UA, E.DISC_IND): M.IDLE,
    (M.SABME_WAIT_UA, E.CONF_IND): M.IDLE,
    (M.SABME_WAIT_UA, E.CONF_CNF): M.IDLE,
    (M.CONNECTED, E.START_REQ): M.CONNECTED,  # one more DLC: PN at once
    (M.CONNECTED, E.CLOSE_REQ): M.DISC_WAIT_UA,  # DISC on DLCI 0
    (M.CONNECTED, E.TIMEOUT): M.DISC_WAIT_UA,  # idle with no DLC
    (M.CONNECTED, E.DISC_IND): M.IDLE,
    (M.CONNECTED, E.DISC): M.IDLE,  # UA, and the initiator disconnects L2CAP
    (M.CONNECTED, E.UIH): M.CONNECTED,
    (M.CONNECTED, E.TEST_CMD): M.CONNECTED,
    (M.CONNECTED, E.TEST_RSP): M.CONNECTED,
    (M.CONNECTED, E.FCON_CMD): M.CONNECTED,
    (M.CONNECTED, E.FCOFF_CMD): M.CONNECTED,
    (M.CONNECTED, E.NSC): M.CONNECTED,
    (M.CONNECTED, E.NSC_RSP): M.CONNECTED,
    (M.DISC_WAIT_UA, E.UA): M.IDLE,  # L2CAP disconnected, restarted if asked meanwhile
    (M.DISC_WAIT_UA, E.DM): M.IDLE,
    (M.DISC_WAIT_UA, E.TIMEOUT): M.IDLE,
    (M.DISC_WAIT_UA, E.DISC): M.DISC_WAIT_UA,  # UA on DLCI 0
    (M.DISC_WAIT_UA, E.UIH): M.DISC_WAIT_UA,  # ignored, DM on DLCI 0
    (M.DISC_WAIT_UA, E.START_REQ): M.DISC_WAIT_UA,  # restart once closed
    (M.DISC_WAIT_UA, E.DISC_IND): M.IDLE,
}

# Events Bluedroid says must not arrive in a state: logged as warnings when they do.
MUX_UNEXPECTED: frozenset[tuple[MuxState, MuxEvent]] = frozenset(
    {
        (M.IDLE, E.START_RSP),
        (M.IDLE, E.CONN_CNF),
        (M.IDLE, E.CONF_IND),
        (M.IDLE, E.CONF_CNF),
        (M.WAIT_CONN_CNF, E.START_REQ),
        (M.CONFIGURE, E.START_REQ),
        (M.CONFIGURE, E.CONN_CNF),
        (M.SABME_WAIT_UA, E.START_REQ),
        (M.SABME_WAIT_UA, E.CONN_CNF),
    }
)

del M, E


class DlcState(enum.Enum):
    CLOSED = "CLOSED"  # not open (parameters from a PN may wait here for the SABM)
    WAIT_MUX = "WAIT_MUX"  # opened by us, waiting for the multiplexer
    WAIT_PN_RSP = "WAIT_PN_RSP"  # our PN is out (T2)
    WAIT_UA = "WAIT_UA"  # our SABM is out (T1)
    WAIT_SECURITY = "WAIT_SECURITY"  # the peer's SABM waits for btm's security check
    WAIT_ACCEPT = "WAIT_ACCEPT"  # ... then for its owner to take it (a listener's backlog)
    OPEN = "OPEN"
    WAIT_DISC_UA = "WAIT_DISC_UA"  # our DISC is out (T1)

    def __str__(self) -> str:
        return self.value


class DlcEvent(enum.Enum):
    OPEN_REQ = "open requested"
    MUX_UP = "multiplexer connected"
    MUX_DOWN = "multiplexer closed"
    PN_CMD = "PN command"
    PN_RSP = "PN response"
    SABM = "SABM"
    SECURITY_GRANTED = "link meets the channel's security"
    SECURITY_DENIED = "security not met"
    ACCEPTED = "owner accepted"
    REFUSED = "owner refused"
    UA = "UA"
    DM = "DM"
    DISC = "DISC"
    CLOSE_REQ = "close requested"
    TIMEOUT = "T1 or T2 expired"

    def __str__(self) -> str:
        return self.value


D, V = DlcState, DlcEvent

DLC_TRANSITIONS: dict[tuple[DlcState, DlcEvent], DlcState] = {
    (D.CLOSED, V.OPEN_REQ): D.WAIT_MUX,
    (D.CLOSED, V.PN_CMD): D.CLOSED,  # parameters kept for the SABM
    (D.CLOSED, V.SABM): D.WAIT_SECURITY,
    (D.CLOSED, V.DM): D.CLOSED,  # the peer gave its PN up: the parameters are dropped
    (D.CLOSED, V.DISC): D.CLOSED,  # DM (not connected), the parameters dropped
    (D.CLOSED, V.MUX_DOWN): D.CLOSED,
    (D.CLOSED, V.TIMEOUT): D.CLOSED,  # no SABM within T1 of the PN: the parameters dropped
    (D.WAIT_MUX, V.MUX_UP): D.WAIT_PN_RSP,
    (D.WAIT_MUX, V.MUX_DOWN): D.CLOSED,
    (D.WAIT_PN_RSP, V.PN_RSP): D.WAIT_UA,
    (D.WAIT_PN_RSP, V.DM): D.CLOSED,
    (D.WAIT_PN_RSP, V.TIMEOUT): D.CLOSED,
    (D.WAIT_PN_RSP, V.MUX_DOWN): D.CLOSED,
    (D.WAIT_PN_RSP, V.CLOSE_REQ): D.CLOSED,
    (D.WAIT_UA, V.UA): D.OPEN,
    (D.WAIT_UA, V.DM): D.CLOSED,
    (D.WAIT_UA, V.DISC): D.CLOSED,
    (D.WAIT_UA, V.TIMEOUT): D.CLOSED,
    (D.WAIT_UA, V.MUX_DOWN): D.CLOSED,
    (D.WAIT_UA, V.CLOSE_REQ): D.WAIT_DISC_UA,
    (D.WAIT_SECURITY, V.SECURITY_GRANTED): D.WAIT_ACCEPT,  # the owner is asked
    (D.WAIT_SECURITY, V.SECURITY_DENIED): D.CLOSED,  # DM
    (D.WAIT_SECURITY, V.DISC): D.CLOSED,
    (D.WAIT_SECURITY, V.MUX_DOWN): D.CLOSED,
    (D.WAIT_SECURITY, V.CLOSE_REQ): D.CLOSED,  # DM
    (D.WAIT_ACCEPT, V.ACCEPTED): D.OPEN,  # UA
    (D.WAIT_ACCEPT, V.REFUSED): D.CLOSED,  # DM
    (D.WAIT_ACCEPT, V.TIMEOUT): D.CLOSED,  # DM
    (D.WAIT_ACCEPT, V.DISC): D.CLOSED,
    (D.WAIT_ACCEPT, V.MUX_DOWN): D.CLOSED,
    (D.WAIT_ACCEPT, V.CLOSE_REQ): D.CLOSED,  # DM
    (D.OPEN, V.PN_CMD): D.OPEN,  # answered with the parameters in force
    (D.OPEN, V.DISC): D.CLOSED,  # UA
    (D.OPEN, V.DM): D.CLOSED,
    (D.OPEN, V.CLOSE_REQ): D.WAIT_DISC_UA,  # DISC once what was sent left
    (D.OPEN, V.MUX_DOWN): D.CLOSED,
    (D.WAIT_DISC_UA, V.UA): D.CLOSED,
    (D.WAIT_DISC_UA, V.DM): D.CLOSED,
    (D.WAIT_DISC_UA, V.DISC): D.CLOSED,  # both closed at once: UA
    (D.WAIT_DISC_UA, V.TIMEOUT): D.CLOSED,
    (D.WAIT_DISC_UA, V.MUX_DOWN): D.CLOSED,
}

del D, V
