"""The DLC state machine entry by entry (``DLC_TRANSITIONS``, parametrized from the table so a
new row cannot go untested): each state reached through the core as a peer and an application
would, each event produced as the wire or the application produces it, and the state that
follows checked (RFCOMM 1.2 5.2-5.5, TS 07.10 5.3-5.4). Every other pair is ignored: the DLC
stays as it was."""

from __future__ import annotations

import pytest

from bluetrio.actors.rfcomm.control_blocks import Dlc
from bluetrio.actors.rfcomm.states import DLC_TRANSITIONS, DlcEvent, DlcState
from bluetrio.messages.btm_security import LinkSecurityCnf, SecurityRequirement
from bluetrio.messages.l2cap_service import (
    ChannelParameters,
    L2caConnectCnf,
    L2caConnectReq,
    L2caDisconnectInd,
)
from bluetrio.messages.rfcomm import (
    CREDIT_ACCEPT,
    CREDIT_REQUEST,
    CommandType,
    Frame,
    FrameType,
    ParameterNegotiation,
)
from bluetrio.messages.rfcomm_service import (
    RfcommConnectReq,
    RfcommConnectRsp,
    RfcommDisconnectReq,
    RfcommRegisterReq,
)
from bluetrio.testing.rfcomm_core import CID, HANDLE, Driver

SERVER = 3
DLCI = 6  # channel 3: the peer's when we open the multiplexer, ours when it does


def pn(*, credit_flow: int) -> bytes:
    return ParameterNegotiation.build(
        DLCI, frame_size=1000, priority=7, credit_flow=credit_flow, credits=7
    ).encode_fields()


def dlc_of(driver: Driver) -> Dlc | None:
    """The DLC under test, wherever the core keeps it (None once released)."""
    mcb = driver.mcb
    if mcb is None:
        return None
    return mcb.dlcs.get(DLCI) or next(iter(mcb.waiting), None)


def reach(driver: Driver, state: DlcState) -> None:
    match state:
        case DlcState.WAIT_MUX:  # ours, the multiplexer still opening
            driver.deliver(RfcommConnectReq(1, HANDLE, SERVER))
        case DlcState.WAIT_PN_RSP:
            driver.open_as_initiator()
        case DlcState.WAIT_UA:
            reach(driver, DlcState.WAIT_PN_RSP)
            driver.peer_command(CommandType.PN, pn(credit_flow=CREDIT_ACCEPT), command=False)
        case DlcState.OPEN:
            reach(driver, DlcState.WAIT_UA)
            driver.peer_sends(Frame(FrameType.UA, DLCI, True, True))
        case DlcState.WAIT_DISC_UA:
            reach(driver, DlcState.OPEN)
            driver.deliver(RfcommDisconnectReq(2, HANDLE, DLCI))
        case DlcState.CLOSED:  # the peer's PN parked for its SABM
            driver.deliver(RfcommRegisterReq(9, SERVER, SecurityRequirement()))
            driver.open_as_responder()
            driver.peer_command(CommandType.PN, pn(credit_flow=CREDIT_REQUEST))
        case DlcState.WAIT_SECURITY:
            reach(driver, DlcState.CLOSED)
            driver.peer_sends(Frame(FrameType.SABM, DLCI, True, True))
        case DlcState.WAIT_ACCEPT:
            driver.auto_accept = False
            reach(driver, DlcState.WAIT_SECURITY)
            grant(driver, 0)
    dlc = dlc_of(driver)
    assert dlc is not None and dlc.state is state
    driver.frames()


def grant(driver: Driver, status: int) -> None:
    request = driver.security_request()
    driver.deliver(LinkSecurityCnf(request.token, HANDLE, status), sender="btm")


def fire(driver: Driver, event: DlcEvent) -> None:
    dlc = dlc_of(driver)
    assert dlc is not None
    mcb = driver.mcb
    assert mcb is not None
    peer_is_initiator = not mcb.initiator
    match event:
        case DlcEvent.OPEN_REQ:
            driver.deliver(RfcommConnectReq(3, HANDLE, SERVER))
        case DlcEvent.MUX_UP:
            request = driver.last_emitted(L2caConnectReq)
            parameters = ChannelParameters(1691, 1691)
            driver.deliver(
                L2caConnectCnf(request.token, HANDLE, CID, 0, parameters), sender="l2cap"
            )
            driver.peer_sends(Frame(FrameType.UA, 0, True, True))
        case DlcEvent.MUX_DOWN if mcb.state.name == "WAIT_CONN_CNF":
            request = driver.last_emitted(L2caConnectReq)
            driver.deliver(L2caConnectCnf(request.token, HANDLE, result=4), sender="l2cap")
        case DlcEvent.MUX_DOWN:
            driver.deliver(L2caDisconnectInd(HANDLE, CID, "gone", link_lost=True), sender="l2cap")
        case DlcEvent.PN_CMD:
            driver.peer_command(CommandType.PN, pn(credit_flow=CREDIT_REQUEST))
        case DlcEvent.PN_RSP:
            driver.peer_command(CommandType.PN, pn(credit_flow=CREDIT_ACCEPT), command=False)
        case DlcEvent.SABM:
            driver.peer_sends(Frame(FrameType.SABM, DLCI, peer_is_initiator, True))
        case DlcEvent.SECURITY_GRANTED | DlcEvent.SECURITY_DENIED:
            grant(driver, 0 if event is DlcEvent.SECURITY_GRANTED else 0x05)
        case DlcEvent.ACCEPTED | DlcEvent.REFUSED:
            driver.deliver(RfcommConnectRsp(HANDLE, DLCI, event is DlcEvent.ACCEPTED))
        case DlcEvent.UA | DlcEvent.DM:
            kind = FrameType.UA if event is DlcEvent.UA else FrameType.DM
            driver.peer_sends(Frame(kind, DLCI, not peer_is_initiator, True))
        case DlcEvent.DISC:
            driver.peer_sends(Frame(FrameType.DISC, DLCI, peer_is_initiator, True))
        case DlcEvent.CLOSE_REQ:
            driver.deliver(RfcommDisconnectReq(4, HANDLE, DLCI))
        case DlcEvent.TIMEOUT:
            driver.advance(max(driver.timers[mcb.dlc_timer(DLCI)] - driver.now, 0))


# A CLOSED DLC is released, unless it holds the peer's PN for its SABM.
KEPT_CLOSED = {(DlcState.CLOSED, DlcEvent.PN_CMD)}


@pytest.mark.parametrize(
    ("state", "event"),
    [key for key in DLC_TRANSITIONS if key != (DlcState.CLOSED, DlcEvent.OPEN_REQ)],
    ids=lambda value: str(value),
)
def test_dlc_transition(state: DlcState, event: DlcEvent) -> None:
    driver = Driver(auto_accept=False)
    reach(driver, state)
    fire(driver, event)
    expected = DLC_TRANSITIONS[state, event]
    dlc = dlc_of(driver)
    if expected is DlcState.CLOSED and (state, event) not in KEPT_CLOSED:
        assert dlc is None  # released
    else:
        assert dlc is not None and dlc.state is expected


def test_a_dlc_asked_for_starts_waiting_for_the_multiplexer() -> None:
    # (CLOSED, OPEN_REQ): the DLC is made by the request itself.
    driver = Driver()
    driver.deliver(RfcommConnectReq(1, HANDLE, SERVER))
    dlc = dlc_of(driver)
    assert dlc is not None and dlc.state is DLC_TRANSITIONS[DlcState.CLOSED, DlcEvent.OPEN_REQ]


REACHABLE = [state for state in DlcState]
EVENTS_OUTSIDE = [
    (state, event)
    for state in REACHABLE
    for event in DlcEvent
    if (state, event) not in DLC_TRANSITIONS
    # Events this core cannot be given in a state at all: no timer runs, nothing to answer.
    and not (event is DlcEvent.TIMEOUT and state in (DlcState.CLOSED, DlcState.WAIT_MUX,
                                                      DlcState.WAIT_SECURITY, DlcState.OPEN))
    and not (event in (DlcEvent.SECURITY_GRANTED, DlcEvent.SECURITY_DENIED)
             and state is not DlcState.WAIT_SECURITY)
    and not (event is DlcEvent.MUX_UP and state is not DlcState.WAIT_MUX)
    and event is not DlcEvent.OPEN_REQ  # a request makes a new DLC, it never reaches one
]  # fmt: skip


@pytest.mark.parametrize(("state", "event"), EVENTS_OUTSIDE, ids=lambda value: str(value))
def test_events_outside_the_table_leave_the_dlc_as_it_was(state: DlcState, event: DlcEvent) -> None:
    driver = Driver()
    reach(driver, state)
    fire(driver, event)
    dlc = dlc_of(driver)
    assert dlc is not None and dlc.state is state
