"""The RFCOMM core driven synchronously: the multiplexer's transition table entry by entry,
DLCs opened both ways with PN, credits and MSC, security before a DLC opens, every timer, and
the answers to frames and commands that break the rules (RFCOMM 1.2, TS 07.10)."""

from __future__ import annotations

import pytest

from bluetrio.actors.rfcomm import multiplexer
from bluetrio.actors.rfcomm.control_blocks import (
    ACCEPT_WAIT,
    CREDIT_RETURN_BATCH,
    IDLE_TIMEOUT,
    INITIAL_CREDITS,
    MAX_SEND_QUEUE,
    MUX_DISC_WAIT,
    PEER_PAIRING_WAIT,
    RECEIVE_WINDOW,
    T1,
    T2,
    Mcb,
)
from bluetrio.actors.rfcomm.states import MUX_TRANSITIONS, MUX_UNEXPECTED, MuxEvent, MuxState
from bluetrio.messages.btm_security import LinkSecurityCnf, SecurityRequirement
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap_service import (
    ChannelParameters,
    L2caConfigInd,
    L2caConnectCnf,
    L2caConnectInd,
    L2caConnectReq,
    L2caConnectRsp,
    L2caDataInd,
    L2caDisconnectInd,
    L2caDisconnectReq,
)
from bluetrio.messages.rfcomm import (
    CREDIT_ACCEPT,
    CREDIT_REQUEST,
    DEFAULT_PORT_SETTINGS,
    MODEM_FLOW,
    PSM,
    CommandType,
    Frame,
    FrameType,
    LineStatus,
    ModemStatus,
    ModemStatusCommand,
    MultiplexerCommand,
    ParameterNegotiation,
    Parity,
    PortParameter,
    PortSettings,
    RemoteLineStatus,
    RemotePortNegotiation,
    decode_commands,
)
from bluetrio.messages.rfcomm_service import (
    READ_REPORT_BATCH,
    RfcommCnf,
    RfcommConnectCnf,
    RfcommConnectInd,
    RfcommConnectReq,
    RfcommConnectRsp,
    RfcommDataCnf,
    RfcommDataInd,
    RfcommDataReq,
    RfcommDataRsp,
    RfcommDisconnectInd,
    RfcommDisconnectReq,
    RfcommLineStatusInd,
    RfcommLineStatusReq,
    RfcommModemStatusInd,
    RfcommModemStatusReq,
    RfcommMultiplexerClosedInd,
    RfcommMultiplexerCloseReq,
    RfcommPortCnf,
    RfcommPortInd,
    RfcommPortReq,
    RfcommRegisterReq,
    RfcommTestReq,
)
from bluetrio.testing.rfcomm_core import CID, HANDLE, Driver, raw_uih, uih

SERVER = 3
OUTGOING_DLCI = 6  # channel 3 on the peer, which did not open the multiplexer
INCOMING_DLCI = 6  # channel 3 here, when the peer opened the multiplexer


def pn(
    dlci: int, *, frame_size: int = 1000, credit_flow: int = CREDIT_REQUEST, credits: int = 7
) -> bytes:
    return ParameterNegotiation.build(
        dlci, frame_size=frame_size, priority=7, credit_flow=credit_flow, credits=credits
    ).encode_fields()


def open_outgoing(driver: Driver, *, credits: int = 2) -> None:
    """We open the multiplexer and a DLC to the peer's channel 3 with credit flow."""
    driver.open_as_initiator()
    (command,) = driver.commands()
    assert command.kind is CommandType.PN and command.command
    asked = ParameterNegotiation.decode(command.value)
    assert (asked.dlci, asked.convergence_layer, asked.window) == (
        OUTGOING_DLCI, CREDIT_REQUEST, INITIAL_CREDITS,
    )  # fmt: skip
    answer = pn(OUTGOING_DLCI, frame_size=800, credit_flow=CREDIT_ACCEPT, credits=credits)
    driver.peer_command(CommandType.PN, answer, command=False)
    (sabm,) = driver.frames()
    assert (sabm.type, sabm.dlci, sabm.poll_final) == (FrameType.SABM, OUTGOING_DLCI, True)
    driver.peer_sends(Frame(FrameType.UA, OUTGOING_DLCI, True, True))
    (opened,) = driver.taken(RfcommConnectCnf)
    assert isinstance(opened, RfcommConnectCnf)
    assert (opened.error, opened.dlci, opened.frame_size) == (None, OUTGOING_DLCI, 800)
    # The peer answers our MSC (it would close the DLC after T2 otherwise).
    msc = ModemStatusCommand(OUTGOING_DLCI).encode()
    driver.peer_command(CommandType.MSC, msc, command=False)


def open_incoming(driver: Driver, security: SecurityRequirement | None = None) -> None:
    driver.deliver(RfcommRegisterReq(9, SERVER, security))
    driver.open_as_responder()
    driver.peer_command(CommandType.PN, pn(INCOMING_DLCI))
    driver.peer_sends(Frame(FrameType.SABM, INCOMING_DLCI, True, True))


# -- DLCs ---------------------------------------------------------------------------------------
def test_an_outgoing_dlc_negotiates_credits_and_modem_status() -> None:
    driver = Driver()
    open_outgoing(driver)
    msc, credits = driver.frames()
    assert ModemStatusCommand.decode(driver_commands_of(msc)[0].value).dlci == OUTGOING_DLCI
    assert (credits.dlci, credits.credits, credits.information) == (
        OUTGOING_DLCI, RECEIVE_WINDOW - INITIAL_CREDITS, b"",
    )  # fmt: skip
    # Two credits from the PN response: two frames go, the third waits for a credit.
    for data in (b"a", b"b", b"c"):
        driver.deliver(RfcommDataReq(HANDLE, OUTGOING_DLCI, data))
    assert [f.information for f in driver.frames()] == [b"a", b"b"]
    driver.peer_sends(uih(OUTGOING_DLCI, credits=1, command=False))
    assert [f.information for f in driver.frames()] == [b"c"]
    driver.l2cap_confirms()
    assert sum(m.count for m in driver.taken(RfcommDataCnf)) == 3


def driver_commands_of(frame: Frame) -> list[MultiplexerCommand]:
    return decode_commands(frame.information)


def test_an_incoming_dlc_waits_for_security_then_opens() -> None:
    driver = Driver()
    open_incoming(driver, SecurityRequirement())
    (answer,) = driver.commands()  # the PN response, credits granted
    accepted = ParameterNegotiation.decode(answer.value)
    assert (accepted.convergence_layer, accepted.window) == (CREDIT_ACCEPT, INITIAL_CREDITS)
    assert not driver.frames()  # no UA before btm's answer
    request = driver.security_request()
    assert request.handle == HANDLE
    driver.deliver(LinkSecurityCnf(request.token, HANDLE, 0), sender="btm")
    ua, _msc, _credits = driver.frames()
    assert (ua.type, ua.dlci) == (FrameType.UA, INCOMING_DLCI)
    (indication,) = driver.taken(RfcommConnectInd)
    assert isinstance(indication, RfcommConnectInd)
    assert (indication.channel, indication.dlci, indication.frame_size) == (3, 6, 1000)


def test_security_not_met_is_answered_with_dm() -> None:
    driver = Driver()
    open_incoming(driver, SecurityRequirement(mitm=True))
    driver.frames()
    request = driver.security_request()
    driver.deliver(LinkSecurityCnf(request.token, HANDLE, 0x05, error="no"), sender="btm")
    (dm,) = driver.frames()
    assert (dm.type, dm.dlci) == (FrameType.DM, INCOMING_DLCI)
    assert not driver.taken(RfcommConnectInd)


def test_sabm_without_pn_opens_with_the_defaults() -> None:
    driver = Driver()
    driver.deliver(RfcommRegisterReq(9, SERVER))
    driver.open_as_responder()
    driver.peer_sends(Frame(FrameType.SABM, INCOMING_DLCI, True, True))
    ua, _msc = driver.frames()  # no credits: the DLC has none
    assert ua.type is FrameType.UA
    (indication,) = driver.taken(RfcommConnectInd)
    assert indication.frame_size == 127


@pytest.mark.parametrize(
    "frame",
    [
        Frame(FrameType.SABM, 10, True, True),  # channel 5: not registered
        Frame(FrameType.SABM, 7, True, True),  # channel 3 with the wrong direction bit
        Frame(FrameType.DISC, 6, True, True),  # not connected (TS 07.10 5.3.4)
        Frame(FrameType.UIH, 6, True, information=b"x"),  # data on a closed DLC
    ],
)
def test_frames_for_a_dlc_that_is_not_open_get_dm(frame: Frame) -> None:
    driver = Driver()
    driver.deliver(RfcommRegisterReq(9, SERVER))
    driver.open_as_responder()
    driver.peer_sends(frame)
    (dm,) = driver.frames()
    assert (dm.type, dm.dlci) == (FrameType.DM, frame.dlci)


def test_a_frame_over_n1_closes_the_dlc_with_dm() -> None:
    driver = Driver()
    open_outgoing(driver)
    driver.frames()
    driver.peer_sends(uih(OUTGOING_DLCI, bytes(801), command=False))
    (dm,) = driver.frames()
    assert (dm.type, dm.dlci) == (FrameType.DM, OUTGOING_DLCI)
    (ended,) = driver.taken(RfcommDisconnectInd)
    assert "N1" in ended.reason and not ended.orderly
    assert not driver.taken(RfcommDataInd)


def test_frames_beyond_the_credits_granted_close_the_dlc() -> None:
    driver = Driver()
    open_outgoing(driver)
    driver.frames()
    for _ in range(RECEIVE_WINDOW):
        driver.peer_sends(uih(OUTGOING_DLCI, b"d", command=False))
    assert len(driver.taken(RfcommDataInd)) == RECEIVE_WINDOW
    assert not driver.frames()
    driver.peer_sends(uih(OUTGOING_DLCI, b"one too many", command=False))
    (dm,) = driver.frames()
    assert dm.type is FrameType.DM
    (ended,) = driver.taken(RfcommDisconnectInd)
    assert "credit" in ended.reason


def test_credits_go_back_as_the_application_reads() -> None:
    driver = Driver()
    open_outgoing(driver)
    driver.frames()
    for _ in range(CREDIT_RETURN_BATCH + 2):
        driver.peer_sends(uih(OUTGOING_DLCI, b"d", command=False))
    for _ in range(CREDIT_RETURN_BATCH - 1):
        driver.deliver(RfcommDataRsp(HANDLE, OUTGOING_DLCI))
    assert not driver.frames()  # fewer than a batch read
    driver.deliver(RfcommDataRsp(HANDLE, OUTGOING_DLCI))
    (credit,) = driver.frames()
    assert (credit.credits, credit.information) == (CREDIT_RETURN_BATCH, b"")
    # Credits owed ride on data when there is data to send.
    driver.deliver(RfcommDataRsp(HANDLE, OUTGOING_DLCI, 2))
    driver.deliver(RfcommDataReq(HANDLE, OUTGOING_DLCI, b"up"))
    (data,) = driver.frames()
    assert (data.information, data.credits) == (b"up", 2)


def test_credits_go_back_in_bulk_even_when_the_peer_runs_out() -> None:
    # Regression: once the peer held fewer than a batch of credits, every frame read sent a
    # credit frame of its own, and the peer then sent one frame per credit frame.
    driver = Driver()
    open_outgoing(driver)
    driver.frames()
    for _ in range(RECEIVE_WINDOW):  # every credit granted is used
        driver.peer_sends(uih(OUTGOING_DLCI, b"d", command=False))
    returned = []
    for _ in range(RECEIVE_WINDOW):
        driver.deliver(RfcommDataRsp(HANDLE, OUTGOING_DLCI))
        returned += [frame.credits for frame in driver.frames()]
    assert returned == [CREDIT_RETURN_BATCH] * (RECEIVE_WINDOW // CREDIT_RETURN_BATCH)


def test_reads_reported_in_batches_never_leave_the_peer_without_credits() -> None:
    # The application holds back fewer than READ_REPORT_BATCH reads at a time: whatever it
    # holds, a peer that used every credit has some back once the rest were reported.
    assert READ_REPORT_BATCH - 1 + CREDIT_RETURN_BATCH <= RECEIVE_WINDOW
    for held in range(READ_REPORT_BATCH):
        driver = Driver()
        open_outgoing(driver)
        driver.frames()
        for _ in range(RECEIVE_WINDOW):
            driver.peer_sends(uih(OUTGOING_DLCI, b"d", command=False))
        driver.deliver(RfcommDataRsp(HANDLE, OUTGOING_DLCI, RECEIVE_WINDOW - held))
        assert sum(frame.credits or 0 for frame in driver.frames()) >= CREDIT_RETURN_BATCH


def test_a_bad_fcs_is_discarded() -> None:
    driver = Driver()
    open_outgoing(driver)
    driver.frames()
    wire = bytearray(uih(OUTGOING_DLCI, b"data", command=False).encode())
    wire[-1] ^= 0xFF
    driver.peer_raw(bytes(wire))
    assert not driver.frames() and not driver.taken(RfcommDataInd)
    assert driver.core.multiplexers.discarded == 1


def test_a_data_request_goes_in_frames_of_n1_as_credits_allow() -> None:
    driver = Driver()
    open_outgoing(driver, credits=2)  # N1 = 800
    driver.frames()
    data = bytes(range(256)) * 10  # 2,560 octets: four frames, the last of 160
    driver.deliver(RfcommDataReq(HANDLE, OUTGOING_DLCI, data))
    assert [f.information for f in driver.frames()] == [data[:800], data[800:1600]]
    driver.peer_sends(uih(OUTGOING_DLCI, credits=5, command=False))
    assert [f.information for f in driver.frames()] == [data[1600:2400], data[2400:]]
    driver.l2cap_confirms()
    assert sum(m.count for m in driver.taken(RfcommDataCnf)) == 4


def test_data_requests_beyond_the_send_queue_empty_or_on_a_closed_dlc_are_refused() -> None:
    driver = Driver()
    open_outgoing(driver, credits=0)
    driver.frames()
    driver.deliver(RfcommDataReq(HANDLE, OUTGOING_DLCI, bytes(800 * (MAX_SEND_QUEUE - 1))))
    driver.deliver(RfcommDataReq(HANDLE, OUTGOING_DLCI, bytes(801)))  # two frames: no room
    driver.deliver(RfcommDataReq(HANDLE, OUTGOING_DLCI, b""))
    driver.deliver(RfcommDataReq(HANDLE, 20, b"x"))
    refusals = driver.taken(RfcommDataCnf)
    assert [(r.count, r.error is not None) for r in refusals] == [(2, True), (1, True), (1, True)]
    driver.deliver(RfcommDataReq(HANDLE, OUTGOING_DLCI, b"last"))  # the last place
    assert not driver.taken(RfcommDataCnf)


def test_closing_waits_for_what_was_sent_then_disc_ua() -> None:
    driver = Driver()
    open_outgoing(driver, credits=0)
    driver.frames()
    driver.deliver(RfcommDataReq(HANDLE, OUTGOING_DLCI, b"last"))
    driver.deliver(RfcommDisconnectReq(5, HANDLE, OUTGOING_DLCI))
    assert not driver.frames()  # no credit yet: the data waits, DISC after it
    driver.peer_sends(uih(OUTGOING_DLCI, credits=1, command=False))
    data, disc = driver.frames()
    assert (data.information, disc.type) == (b"last", FrameType.DISC)
    driver.peer_sends(Frame(FrameType.UA, OUTGOING_DLCI, True, True))
    (closed,) = driver.taken(RfcommCnf)
    assert closed.error is None


def test_a_request_cut_at_the_credits_is_sent_whole_before_disc() -> None:
    driver = Driver()
    open_outgoing(driver, credits=2)  # N1 = 800
    driver.frames()
    data = bytes(range(250)) * 16  # five frames
    driver.deliver(RfcommDataReq(HANDLE, OUTGOING_DLCI, data))
    driver.deliver(RfcommDisconnectReq(5, HANDLE, OUTGOING_DLCI))
    assert [len(f.information) for f in driver.frames()] == [800, 800]  # then no credit
    driver.peer_sends(uih(OUTGOING_DLCI, credits=3, command=False))
    *rest, disc = driver.frames()
    assert b"".join(f.information for f in rest) == data[1600:]
    assert disc.type is FrameType.DISC
    driver.l2cap_confirms()
    assert sum(m.count for m in driver.taken(RfcommDataCnf)) == 5


def test_a_close_waiting_for_credits_gives_up_after_t1_and_says_so() -> None:
    driver = Driver()
    open_outgoing(driver, credits=0)
    driver.frames()
    driver.deliver(RfcommDataReq(HANDLE, OUTGOING_DLCI, b"stuck"))
    driver.deliver(RfcommDisconnectReq(5, HANDLE, OUTGOING_DLCI))
    driver.advance(T1)
    (lost,) = driver.taken(RfcommDataCnf)
    assert lost.error is not None and "not sent" in lost.error
    (disc,) = driver.frames()
    assert disc.type is FrameType.DISC


@pytest.mark.parametrize("closing", [FrameType.DISC, FrameType.DM])
def test_frames_waiting_for_credits_when_the_peer_closes_are_reported_not_sent(
    closing: FrameType,
) -> None:
    # Nothing the application wrote is silently lost: the peer's close, orderly as it is,
    # comes after an error naming what could not be sent.
    driver = Driver()
    open_outgoing(driver, credits=0)
    driver.frames()
    driver.deliver(RfcommDataReq(HANDLE, OUTGOING_DLCI, b"never sent"))
    driver.peer_sends(Frame(closing, OUTGOING_DLCI, closing is FrameType.DM, True))
    (lost,) = driver.taken(RfcommDataCnf)
    assert lost.count == 1 and lost.error is not None and "1 frame(s) not sent" in lost.error
    (ended,) = driver.taken(RfcommDisconnectInd)
    assert ended.orderly
    assert all(f.type is not FrameType.UIH for f in driver.frames())


def test_the_peer_closing_a_dlc_is_orderly() -> None:
    driver = Driver()
    open_outgoing(driver)
    driver.frames()
    driver.peer_sends(Frame(FrameType.DISC, OUTGOING_DLCI, False, True))
    (ua,) = driver.frames()
    assert ua.type is FrameType.UA
    (ended,) = driver.taken(RfcommDisconnectInd)
    assert ended.orderly


# -- multiplexer commands -----------------------------------------------------------------------
def test_commands_are_answered() -> None:
    driver = Driver()
    open_outgoing(driver)
    driver.frames()
    driver.peer_command(CommandType.TEST, b"echo")
    driver.peer_command(CommandType.RPN, RemotePortNegotiation(OUTGOING_DLCI).encode())
    driver.peer_command(CommandType.RLS, RemoteLineStatus(OUTGOING_DLCI, 0x03).encode())
    driver.peer_command(0x3D)  # no such command
    driver.peer_command(CommandType.MSC, ModemStatusCommand(OUTGOING_DLCI).encode())
    answers = driver.commands()
    assert [(a.kind, a.command) for a in answers] == [
        (CommandType.TEST, False),
        (CommandType.RPN, False),
        (CommandType.RLS, False),
        (CommandType.NSC, False),
        (CommandType.MSC, False),
    ]
    assert answers[0].value == b"echo"
    assert RemotePortNegotiation.decode(answers[1].value).settings == DEFAULT_PORT_SETTINGS
    assert answers[3].value == bytes(((0x3D << 2) | 0x03,))


def test_fcoff_stops_data_and_fcon_resumes_it() -> None:
    driver = Driver()
    open_outgoing(driver, credits=5)
    driver.frames()
    driver.peer_command(CommandType.FCOFF)
    driver.commands()
    driver.deliver(RfcommDataReq(HANDLE, OUTGOING_DLCI, b"held"))
    assert not driver.frames()
    driver.peer_command(CommandType.FCON)
    frames = driver.frames()
    assert [f.information for f in frames if f.dlci == OUTGOING_DLCI] == [b"held"]


def test_without_credits_msc_flow_control_holds_the_peer() -> None:
    driver = Driver()
    driver.deliver(RfcommRegisterReq(9, SERVER))
    driver.open_as_responder()
    driver.peer_command(CommandType.PN, pn(INCOMING_DLCI, credit_flow=0))
    driver.peer_sends(Frame(FrameType.SABM, INCOMING_DLCI, True, True))
    driver.frames(credit_based=False)
    for _ in range(RECEIVE_WINDOW):
        driver.deliver(raw_uih_from_peer(INCOMING_DLCI, b"x"), sender="l2cap")
    (flow,) = [
        c for f in driver.frames(credit_based=False) if f.dlci == 0 for c in driver_commands_of(f)
    ]
    assert ModemStatusCommand.decode(flow.value).signals & MODEM_FLOW
    driver.deliver(RfcommDataRsp(HANDLE, INCOMING_DLCI, RECEIVE_WINDOW))
    (resume,) = [c for f in driver.frames(credit_based=False) for c in driver_commands_of(f)]
    assert not ModemStatusCommand.decode(resume.value).signals & MODEM_FLOW
    # The peer stopping us holds our data (no credits on this DLC).
    driver.peer_command(CommandType.MSC, ModemStatusCommand(INCOMING_DLCI, 0x8F).encode())
    driver.frames(credit_based=False)
    driver.deliver(RfcommDataReq(HANDLE, INCOMING_DLCI, b"held"))
    assert not driver.frames(credit_based=False)
    driver.peer_command(CommandType.MSC, ModemStatusCommand(INCOMING_DLCI).encode())
    assert b"held" in [f.information for f in driver.frames(credit_based=False)]


def raw_uih_from_peer(dlci: int, data: bytes) -> L2caDataInd:
    return L2caDataInd(HANDLE, CID, raw_uih(dlci, data))


# -- timers -------------------------------------------------------------------------------------
def test_no_ua_to_sabm_within_t1_fails_the_multiplexer() -> None:
    driver = Driver()
    driver.deliver(RfcommConnectReq(1, HANDLE, SERVER))
    request = driver.last_emitted(L2caConnectReq)
    driver.deliver(
        L2caConnectCnf(request.token, HANDLE, CID, 0, ChannelParameters(1691, 672)),
        sender="l2cap",
    )
    driver.advance(T1 - 0.1)
    assert not driver.taken(RfcommConnectCnf)
    driver.advance(0.1)
    (failed,) = driver.taken(RfcommConnectCnf)
    assert "T1" in (failed.error or "")
    assert isinstance(driver.emitted[-1], L2caDisconnectReq) and driver.mcb is None


def test_no_pn_response_within_t2_fails_the_dlc() -> None:
    driver = Driver()
    driver.open_as_initiator()
    driver.advance(T2)
    (failed,) = driver.taken(RfcommConnectCnf)
    assert "T2" in (failed.error or "")


def test_no_ua_to_a_dlc_sabm_within_t1_fails_it() -> None:
    driver = Driver()
    driver.open_as_initiator()
    driver.frames()
    driver.peer_command(CommandType.PN, pn(OUTGOING_DLCI, credit_flow=CREDIT_ACCEPT), command=False)
    driver.advance(T1)
    (failed,) = driver.taken(RfcommConnectCnf)
    assert "UA" in (failed.error or "")


def test_a_peer_that_never_sends_sabm_is_given_120_s() -> None:
    driver = Driver()
    driver.deliver(L2caConnectInd(HANDLE, CID, PSM, LinkTransport.BR_EDR), sender="l2cap")
    driver.deliver(L2caConfigInd(HANDLE, CID, PSM, ChannelParameters(1691, 1691)), sender="l2cap")
    driver.advance(PEER_PAIRING_WAIT - 1)
    assert driver.mcb is not None and driver.mcb.state is MuxState.WAIT_SABME
    driver.advance(1)
    assert driver.mcb is None and isinstance(driver.emitted[-1], L2caDisconnectReq)


def test_the_idle_multiplexer_is_closed_after_its_last_dlc() -> None:
    driver = Driver()
    open_outgoing(driver)
    driver.frames()
    driver.peer_sends(Frame(FrameType.DISC, OUTGOING_DLCI, False, True))
    driver.frames()
    driver.advance(IDLE_TIMEOUT)
    (disc,) = driver.frames()
    assert (disc.type, disc.dlci) == (FrameType.DISC, 0)
    assert driver.mcb is not None and driver.mcb.state is MuxState.DISC_WAIT_UA
    driver.peer_sends(Frame(FrameType.UA, 0, False, True))
    assert driver.mcb is None and isinstance(driver.emitted[-1], L2caDisconnectReq)


def test_an_unanswered_multiplexer_disc_still_closes_l2cap() -> None:
    driver = Driver()
    driver.open_as_responder()
    driver.advance(IDLE_TIMEOUT)
    driver.frames()
    driver.advance(MUX_DISC_WAIT)
    assert driver.mcb is None and isinstance(driver.emitted[-1], L2caDisconnectReq)


def test_a_dlc_asked_for_while_the_multiplexer_closes_reopens_it() -> None:
    driver = Driver()
    driver.open_as_responder()
    driver.advance(IDLE_TIMEOUT)
    driver.deliver(RfcommConnectReq(2, HANDLE, SERVER))
    driver.peer_sends(Frame(FrameType.UA, 0, True, True))
    assert isinstance(driver.emitted[-1], L2caConnectReq)
    assert driver.mcb is not None and driver.mcb.state is MuxState.WAIT_CONN_CNF


# -- collisions (Bluedroid's handling of RFCOMM 1.2 5.2.1) --------------------------------------
def start_collision(driver: Driver) -> L2caConnectReq:
    driver.deliver(RfcommConnectReq(1, HANDLE, SERVER))
    ours = driver.last_emitted(L2caConnectReq)
    driver.deliver(L2caConnectInd(HANDLE, 0x0041, PSM, LinkTransport.BR_EDR), sender="l2cap")
    assert not any(isinstance(m, L2caConnectRsp) for m in driver.emitted)  # held
    assert isinstance(ours, L2caConnectReq)
    return ours


def test_collision_peer_accepts_ours_so_we_refuse_its_own() -> None:
    driver = Driver()
    ours = start_collision(driver)
    driver.deliver(
        L2caConnectCnf(ours.token, HANDLE, CID, 0, ChannelParameters(1691, 1691)), sender="l2cap"
    )
    refusal = driver.last_emitted(L2caConnectRsp)
    assert (refusal.cid, refusal.result) == (0x0041, 4)
    assert driver.mcb is not None and driver.mcb.state is MuxState.SABME_WAIT_UA


def test_collision_peer_refuses_ours_so_we_take_its_channel() -> None:
    driver = Driver()
    ours = start_collision(driver)
    driver.deliver(L2caConnectCnf(ours.token, HANDLE, result=4), sender="l2cap")
    accepted = driver.last_emitted(L2caConnectRsp)
    assert (accepted.cid, accepted.result) == (0x0041, 0)
    assert driver.mcb is not None and not driver.mcb.initiator
    assert driver.mcb.state is MuxState.CONFIGURE and driver.mcb.waiting  # the DLC waits


def test_collision_both_giving_way_retries_once_and_accepts_the_peers_retry() -> None:
    driver = Driver()
    wait_to_retry(driver)
    mcb = driver.mcb
    assert mcb is not None and mcb.retrying and mcb.waiting  # the DLC is kept
    assert not driver.taken(RfcommConnectCnf)
    driver.deliver(RfcommConnectReq(4, HANDLE, 4))  # waits for the retry too
    assert not isinstance(driver.emitted[-1], L2caConnectReq)
    # The peer's retry comes first: taken, and our DLCs start on its SABM.
    driver.deliver(L2caConnectInd(HANDLE, 0x0043, PSM, LinkTransport.BR_EDR), sender="l2cap")
    accepted = driver.last_emitted(L2caConnectRsp)
    assert (accepted.cid, accepted.result) == (0x0043, 0)
    assert mcb.state is MuxState.CONFIGURE and not mcb.retrying


def test_collision_back_off_gives_ours_up() -> None:
    driver = Driver()
    ours = start_collision(driver)
    driver.advance(12.0)
    accepted = driver.last_emitted(L2caConnectRsp)
    assert (accepted.cid, accepted.result) == (0x0041, 0)
    # Ours, accepted late, is not needed any more.
    driver.deliver(
        L2caConnectCnf(ours.token, HANDLE, 0x0042, 0, ChannelParameters(1691, 1691)),
        sender="l2cap",
    )
    disconnect = driver.last_emitted(L2caDisconnectReq)
    assert disconnect.cid == 0x0042


# -- the multiplexer's table, entry by entry -----------------------------------------------------
def reach(driver: Driver, state: MuxState) -> None:
    match state:
        case MuxState.WAIT_CONN_CNF:
            driver.deliver(RfcommConnectReq(1, HANDLE, SERVER))
        case MuxState.CONFIGURE:
            driver.deliver(L2caConnectInd(HANDLE, CID, PSM, LinkTransport.BR_EDR), sender="l2cap")
        case MuxState.WAIT_SABME:
            reach(driver, MuxState.CONFIGURE)
            driver.deliver(
                L2caConfigInd(HANDLE, CID, PSM, ChannelParameters(1691, 1691)), sender="l2cap"
            )
        case MuxState.SABME_WAIT_UA:
            reach(driver, MuxState.WAIT_CONN_CNF)
            fire(driver, MuxEvent.CONN_CNF)
        case MuxState.CONNECTED:
            driver.open_as_responder()
        case MuxState.DISC_WAIT_UA:
            driver.open_as_responder()
            driver.advance(IDLE_TIMEOUT)
    assert driver.mcb is not None and driver.mcb.state is state
    driver.frames()


def fire(driver: Driver, event: MuxEvent) -> None:
    mcb = driver.mcb
    assert mcb is not None
    peer_is_initiator = not mcb.initiator
    match event:
        case MuxEvent.START_REQ:
            driver.deliver(RfcommConnectReq(2, HANDLE, SERVER))
        case MuxEvent.CLOSE_REQ:  # the application lets the idle multiplexer go
            driver.deliver(RfcommMultiplexerCloseReq(3, HANDLE))
        case MuxEvent.CONN_CNF:
            token = mcb.connect_token
            driver.deliver(
                L2caConnectCnf(token or 0, HANDLE, CID, 0, ChannelParameters(1691, 1691)),
                sender="l2cap",
            )
        case MuxEvent.CONN_IND:
            driver.deliver(L2caConnectInd(HANDLE, CID, PSM, LinkTransport.BR_EDR), sender="l2cap")
        case MuxEvent.CONF_IND:
            driver.deliver(
                L2caConfigInd(HANDLE, CID, PSM, ChannelParameters(1691, 1691)), sender="l2cap"
            )
        case MuxEvent.DISC_IND if mcb.state is MuxState.WAIT_CONN_CNF:
            # Before the channel exists, L2CAP says it is gone by refusing it.
            driver.deliver(L2caConnectCnf(mcb.connect_token or 0, HANDLE, result=2), sender="l2cap")
        case MuxEvent.DISC_IND:
            driver.deliver(L2caDisconnectInd(HANDLE, CID, "gone"), sender="l2cap")
        case MuxEvent.TIMEOUT:
            if mcb.state is MuxState.WAIT_CONN_CNF:  # only a collision arms it here
                driver.deliver(
                    L2caConnectInd(HANDLE, 0x0041, PSM, LinkTransport.BR_EDR), sender="l2cap"
                )
            driver.advance(max(driver.timers[mcb.timer] - driver.now, 0))
        case MuxEvent.SABME:
            driver.peer_sends(Frame(FrameType.SABM, 0, peer_is_initiator, True))
        case MuxEvent.UA | MuxEvent.DM:
            kind = FrameType.UA if event is MuxEvent.UA else FrameType.DM
            driver.peer_sends(Frame(kind, 0, not peer_is_initiator, True))
        case MuxEvent.DISC:
            driver.peer_sends(Frame(FrameType.DISC, 0, peer_is_initiator, True))
        case MuxEvent.UIH:
            driver.peer_sends(Frame(FrameType.UIH, 0, peer_is_initiator))
        case MuxEvent.TEST_CMD | MuxEvent.TEST_RSP:
            driver.peer_command(CommandType.TEST, b"t", command=event is MuxEvent.TEST_CMD)
        case MuxEvent.FCON_CMD:
            driver.peer_command(CommandType.FCON)
        case MuxEvent.FCOFF_CMD:
            driver.peer_command(CommandType.FCOFF)
        case MuxEvent.NSC:
            driver.peer_command(0x3D)
        case MuxEvent.NSC_RSP:
            driver.peer_command(CommandType.NSC, b"\x83", command=False)


# Entries this stack cannot produce on their own, and why.
NOT_GENERATED = {
    # Our L2CAP confirms a channel only once configured both ways: CONF_CNF comes with
    # CONN_CNF (tested there), never alone.
    (MuxState.CONFIGURE, MuxEvent.CONF_CNF),
    (MuxState.WAIT_SABME, MuxEvent.CONF_CNF),
    (MuxState.SABME_WAIT_UA, MuxEvent.CONF_CNF),
    # A multiplexer in IDLE is released: there is no L2CAP channel to carry frames to it.
    (MuxState.IDLE, MuxEvent.DISC),
    (MuxState.IDLE, MuxEvent.UIH),
}

# Where the table's next state is followed by a move of its own.
THEN = {
    (MuxState.WAIT_CONN_CNF, MuxEvent.CONN_CNF): MuxState.SABME_WAIT_UA,  # CONF_CNF with it
    (MuxState.WAIT_CONN_CNF, MuxEvent.TIMEOUT): MuxState.CONFIGURE,  # the peer's channel taken
}


@pytest.mark.parametrize(
    ("state", "event"),
    [key for key in MUX_TRANSITIONS if key not in NOT_GENERATED],
    ids=lambda value: str(value),
)
def test_multiplexer_transition(state: MuxState, event: MuxEvent) -> None:
    driver = Driver()
    if state is MuxState.IDLE:
        fire_from_idle(driver, event)
    else:
        reach(driver, state)
        fire(driver, event)
    expected = THEN.get((state, event), MUX_TRANSITIONS[state, event])
    if expected is MuxState.IDLE:
        assert driver.mcb is None  # released
    else:
        assert driver.mcb is not None and driver.mcb.state is expected


def fire_from_idle(driver: Driver, event: MuxEvent) -> None:
    match event:
        case MuxEvent.START_REQ:
            driver.deliver(RfcommConnectReq(1, HANDLE, SERVER))
        case MuxEvent.CONN_IND:
            driver.deliver(L2caConnectInd(HANDLE, CID, PSM, LinkTransport.BR_EDR), sender="l2cap")
        case MuxEvent.TIMEOUT:  # the retry of a collision both sides gave way in
            wait_to_retry(driver)
            mcb = driver.mcb
            assert mcb is not None and mcb.state is MuxState.IDLE
            driver.advance(driver.timers[mcb.timer] - driver.now)
            assert isinstance(driver.emitted[-1], L2caConnectReq)


def wait_to_retry(driver: Driver) -> None:
    """A collision in which our back-off ran out and so did the peer's: the channel we took
    is disconnected by the peer before any SABM."""
    start_collision(driver)
    driver.advance(12.0)  # ours ran out: the peer's channel 0x0041 is taken
    driver.deliver(L2caDisconnectInd(HANDLE, 0x0041, "given up by the peer"), sender="l2cap")


def test_every_table_entry_is_tested_or_explained() -> None:
    assert set(MUX_TRANSITIONS) >= NOT_GENERATED


def test_a_disc_sent_when_the_peer_lifts_flow_control_waits_t1_from_then() -> None:
    # Regression: the pump run by an MSC took time 0 for now, so the DISC it sent after the
    # last held frame had a T1 that had long expired, and the DLC closed without its UA.
    driver = Driver()
    driver.deliver(RfcommRegisterReq(9, SERVER))
    assert [c.channel for c in driver.taken(RfcommCnf)] == [SERVER]
    driver.open_as_responder()
    driver.peer_command(CommandType.PN, pn(INCOMING_DLCI, credit_flow=0))
    driver.peer_sends(Frame(FrameType.SABM, INCOMING_DLCI, True, True))
    driver.peer_command(CommandType.MSC, ModemStatusCommand(INCOMING_DLCI).encode(), command=False)
    driver.peer_command(CommandType.MSC, ModemStatusCommand(INCOMING_DLCI, 0x8F).encode())
    driver.advance(100.0)
    driver.deliver(RfcommDataReq(HANDLE, INCOMING_DLCI, b"held"))
    driver.deliver(RfcommDisconnectReq(5, HANDLE, INCOMING_DLCI))
    driver.frames(credit_based=False)
    driver.peer_command(CommandType.MSC, ModemStatusCommand(INCOMING_DLCI).encode())
    assert FrameType.DISC in [f.type for f in driver.frames(credit_based=False)]
    driver.advance(1.0)
    assert not driver.taken(RfcommCnf)  # still waiting for the UA
    driver.peer_sends(Frame(FrameType.UA, INCOMING_DLCI, False, True))
    assert [c.error for c in driver.taken(RfcommCnf)] == [None]


# -- closing the multiplexer and refusing DLCs nobody takes ---------------------------------------
def test_closing_our_last_dlc_closes_the_multiplexer_at_once() -> None:
    # Regression: only the 2 s idle timer closed it, so a link dropped right after the last
    # DLC closed never carried DISC on DLCI 0.
    driver = Driver()
    open_outgoing(driver)
    driver.frames()
    driver.deliver(RfcommDisconnectReq(5, HANDLE, OUTGOING_DLCI))
    (disc,) = driver.frames()
    driver.peer_sends(Frame(FrameType.UA, OUTGOING_DLCI, False, True))
    assert [c.error for c in driver.taken(RfcommCnf)] == [None]
    (close_down,) = driver.frames()
    assert (disc.dlci, close_down.type, close_down.dlci) == (OUTGOING_DLCI, FrameType.DISC, 0)
    assert driver.mcb is not None and driver.mcb.state is MuxState.DISC_WAIT_UA
    driver.peer_sends(Frame(FrameType.UA, 0, False, True))
    assert driver.mcb is None and isinstance(driver.emitted[-1], L2caDisconnectReq)


def test_the_peer_closing_the_last_dlc_leaves_it_the_idle_time() -> None:
    driver = Driver()
    open_outgoing(driver)
    driver.frames()
    driver.peer_sends(Frame(FrameType.DISC, OUTGOING_DLCI, False, True))
    driver.frames()
    assert driver.mcb is not None and driver.mcb.state is MuxState.CONNECTED
    assert driver.timers[driver.mcb.timer] == driver.now + IDLE_TIMEOUT


def test_letting_the_multiplexer_go_closes_it_then_answers() -> None:
    driver = Driver()
    driver.deliver(RfcommMultiplexerCloseReq(40, HANDLE))  # none: answered at once
    open_outgoing(driver)
    driver.frames()
    driver.deliver(RfcommMultiplexerCloseReq(41, HANDLE))  # a DLC uses it: kept
    assert [(c.token, c.error is not None) for c in driver.taken(RfcommCnf)] == [
        (40, False), (41, True),
    ]  # fmt: skip
    driver.peer_sends(Frame(FrameType.DISC, OUTGOING_DLCI, False, True))
    driver.frames()
    driver.deliver(RfcommMultiplexerCloseReq(42, HANDLE))  # idle now: DISC without waiting
    (disc,) = driver.frames()
    assert (disc.type, disc.dlci) == (FrameType.DISC, 0)
    assert not driver.taken(RfcommCnf)
    driver.peer_sends(Frame(FrameType.UA, 0, False, True))
    assert [(c.token, c.error) for c in driver.taken(RfcommCnf)] == [(42, None)]
    assert isinstance(driver.emitted[-1], L2caDisconnectReq)


def test_letting_go_a_multiplexer_whose_disc_is_unanswered_answers_after_the_wait() -> None:
    driver = Driver()
    driver.open_as_responder()
    driver.advance(IDLE_TIMEOUT)  # the idle close down is under way
    driver.deliver(RfcommMultiplexerCloseReq(43, HANDLE))
    driver.advance(MUX_DISC_WAIT - 0.1)
    assert not driver.taken(RfcommCnf)
    driver.advance(0.1)
    assert [(c.token, c.error) for c in driver.taken(RfcommCnf)] == [(43, None)]
    assert driver.mcb is None


def test_an_incoming_dlc_is_refused_with_dm_before_any_ua() -> None:
    # Regression: a DLC to a listener whose backlog was full was opened (UA) and then closed.
    driver = Driver(auto_accept=False)
    open_incoming(driver)
    driver.frames()
    (asked,) = driver.taken(RfcommConnectInd)
    assert not driver.frames()  # the peer waits for the owner's answer
    driver.deliver(RfcommConnectRsp(HANDLE, asked.dlci, False, "backlog full"))
    (dm,) = driver.frames()
    assert (dm.type, dm.dlci) == (FrameType.DM, INCOMING_DLCI)
    assert driver.mcb is not None and INCOMING_DLCI not in driver.mcb.dlcs


def test_an_incoming_dlc_accepted_opens() -> None:
    driver = Driver(auto_accept=False)
    open_incoming(driver)
    driver.frames()
    (asked,) = driver.taken(RfcommConnectInd)
    driver.deliver(RfcommConnectRsp(HANDLE, asked.dlci, True), sender="someone else")
    assert not driver.frames()  # only the channel's owner answers
    driver.deliver(RfcommConnectRsp(HANDLE, asked.dlci, True))
    ua, msc, _credits = driver.frames()
    assert (ua.type, ua.dlci, msc.dlci) == (FrameType.UA, INCOMING_DLCI, 0)


def test_an_incoming_dlc_its_owner_never_answers_is_refused_after_the_wait() -> None:
    driver = Driver(auto_accept=False)
    open_incoming(driver)
    driver.frames()
    driver.taken(RfcommConnectInd)
    driver.advance(ACCEPT_WAIT)
    (dm,) = driver.frames()
    assert (dm.type, dm.dlci) == (FrameType.DM, INCOMING_DLCI)
    (ended,) = driver.taken(RfcommDisconnectInd)
    assert ended.dlci == INCOMING_DLCI


# -- the emulated serial port: MSC, break, RLS, RPN and Test --------------------------------------
def opened(driver: Driver) -> None:
    open_outgoing(driver)
    driver.frames()


def test_our_modem_status_goes_out_and_is_confirmed_by_the_response() -> None:
    driver = Driver()
    opened(driver)
    status = ModemStatus(rtc=True, rtr=False, ic=True, dv=False)
    driver.deliver(RfcommModemStatusReq(50, HANDLE, OUTGOING_DLCI, status))
    (sent,) = driver.commands()
    command = ModemStatusCommand.decode(sent.value)
    assert (sent.kind, sent.command, command.dlci) == (CommandType.MSC, True, OUTGOING_DLCI)
    assert (command.status, command.break_length) == (status, None)
    assert not driver.taken(RfcommCnf)
    driver.peer_command(CommandType.MSC, sent.value, command=False)
    assert [(c.token, c.error) for c in driver.taken(RfcommCnf)] == [(50, None)]


def test_a_break_rides_in_the_msc_break_octet() -> None:
    driver = Driver()
    opened(driver)
    driver.deliver(RfcommModemStatusReq(51, HANDLE, OUTGOING_DLCI, ModemStatus(), 5))
    (sent,) = driver.commands()
    assert ModemStatusCommand.decode(sent.value).break_octet == (5 << 4) | 0x03
    driver.deliver(RfcommModemStatusReq(52, HANDLE, OUTGOING_DLCI, ModemStatus(), 16))
    (refused,) = driver.taken(RfcommCnf)
    assert refused.token == 52 and "break" in (refused.error or "")


def test_no_msc_response_within_t2_closes_the_dlc_and_fails_the_request() -> None:
    driver = Driver()
    opened(driver)
    driver.deliver(RfcommModemStatusReq(53, HANDLE, OUTGOING_DLCI, ModemStatus(flow=True)))
    driver.frames()
    driver.advance(T2)
    (dm,) = driver.frames()
    assert (dm.type, dm.dlci) == (FrameType.DM, OUTGOING_DLCI)
    (failed,) = driver.taken(RfcommCnf)
    assert failed.token == 53 and failed.error is not None
    (ended,) = driver.taken(RfcommDisconnectInd)
    assert "MSC" in ended.reason


def test_the_peers_modem_status_and_break_reach_the_owner() -> None:
    driver = Driver()
    opened(driver)
    signals = ModemStatus(rtc=False, ic=True).to_octet()
    driver.peer_command(CommandType.MSC, ModemStatusCommand(OUTGOING_DLCI, signals, 0x33).encode())
    (answer,) = driver.commands()
    assert (answer.kind, answer.command) == (CommandType.MSC, False)
    (indication,) = driver.taken(RfcommModemStatusInd)
    assert indication.status == ModemStatus(rtc=False, ic=True)
    assert indication.break_length == 3


def test_line_status_is_answered_and_reported_to_the_owner() -> None:
    driver = Driver()
    opened(driver)
    errors = LineStatus.OVERRUN | LineStatus.FRAMING
    driver.peer_command(
        CommandType.RLS, RemoteLineStatus(OUTGOING_DLCI, errors.to_octet()).encode()
    )
    (answer,) = driver.commands()
    assert (answer.kind, answer.command) == (CommandType.RLS, False)
    (indication,) = driver.taken(RfcommLineStatusInd)
    assert indication.status == errors


def test_rpn_takes_what_the_spec_defines_and_answers_the_values_in_force() -> None:
    driver = Driver()
    opened(driver)
    asked = PortSettings(bit_rate=115200, data_bits=7, parity=Parity.EVEN).encode(
        PortParameter.BIT_RATE | PortParameter.DATA_BITS | PortParameter.PARITY
        | PortParameter.PARITY_TYPE
    )  # fmt: skip
    driver.peer_command(CommandType.RPN, RemotePortNegotiation(OUTGOING_DLCI, asked).encode())
    (answer,) = driver.commands()
    settings = RemotePortNegotiation.decode(answer.value).settings
    assert settings is not None and answer.command is False
    assert PortSettings.decode(settings) == PortSettings(115200, 7, parity=Parity.EVEN)
    accepted = int.from_bytes(settings[5:7], "little")
    assert accepted == 0x1B  # bit rate, data bits, parity, parity type
    (indication,) = driver.taken(RfcommPortInd)
    assert indication.settings.bit_rate == 115200
    # A reserved bit rate (code 9) is refused, the rest of the request taken.
    reserved = bytes((0x09, 0x00, 0x00, 0x11, 0x13, 0x03, 0x00))  # 5 data bits, mask rate|data
    driver.peer_command(CommandType.RPN, RemotePortNegotiation(OUTGOING_DLCI, reserved).encode())
    (answer,) = driver.commands()
    settings = RemotePortNegotiation.decode(answer.value).settings
    assert settings is not None
    assert int.from_bytes(settings[5:7], "little") == PortParameter.DATA_BITS
    assert PortSettings.decode(settings).bit_rate == 115200  # kept
    assert PortSettings.decode(settings).data_bits == 5
    # A request without values is answered with the settings in force.
    driver.peer_command(CommandType.RPN, RemotePortNegotiation(OUTGOING_DLCI).encode())
    (answer,) = driver.commands()
    settings = RemotePortNegotiation.decode(answer.value).settings
    assert settings is not None
    assert PortSettings.decode(settings) == PortSettings(115200, 5, parity=Parity.EVEN)


def test_our_rpn_request_is_answered_with_the_peers_values_or_fails_after_t2() -> None:
    driver = Driver()
    opened(driver)
    mask = PortParameter.BIT_RATE
    driver.deliver(RfcommPortReq(60, HANDLE, OUTGOING_DLCI, PortSettings(bit_rate=57600), mask))
    (sent,) = driver.commands()
    asked = RemotePortNegotiation.decode(sent.value)
    assert sent.command and asked.settings is not None
    assert int.from_bytes(asked.settings[5:7], "little") == PortParameter.BIT_RATE
    answer = RemotePortNegotiation(OUTGOING_DLCI, PortSettings(bit_rate=57600).encode(mask))
    driver.peer_command(CommandType.RPN, answer.encode(), command=False)
    (confirmed,) = driver.taken(RfcommPortCnf)
    assert confirmed.token == 60 and confirmed.settings == PortSettings(bit_rate=57600)
    assert confirmed.accepted == PortParameter.BIT_RATE
    driver.deliver(RfcommPortReq(61, HANDLE, OUTGOING_DLCI))  # a query: the DLCI alone
    (query,) = driver.commands()
    assert query.value == RemotePortNegotiation(OUTGOING_DLCI).encode()
    driver.advance(T2)
    (failed,) = driver.taken(RfcommPortCnf)
    assert failed.token == 61 and "T2" in (failed.error or "")
    assert driver.mcb is not None and OUTGOING_DLCI in driver.mcb.dlcs  # the DLC stays


def test_our_test_command_returns_with_the_matching_response() -> None:
    driver = Driver()
    opened(driver)
    driver.deliver(RfcommTestReq(70, HANDLE, b"first"))
    driver.deliver(RfcommTestReq(71, HANDLE, b"second"))
    assert [(c.kind, c.command, c.value) for c in driver.commands()] == [
        (CommandType.TEST, True, b"first"), (CommandType.TEST, True, b"second"),
    ]  # fmt: skip
    driver.peer_command(CommandType.TEST, b"other", command=False)
    assert not driver.taken(RfcommCnf)  # matches nothing we sent
    driver.peer_command(CommandType.TEST, b"second", command=False)
    assert [(c.token, c.error) for c in driver.taken(RfcommCnf)] == [(71, None)]
    driver.advance(T2)
    (late,) = driver.taken(RfcommCnf)
    assert late.token == 70 and "T2" in (late.error or "")


def test_a_test_command_needs_a_connected_multiplexer() -> None:
    driver = Driver()
    driver.deliver(RfcommTestReq(72, HANDLE, b"x"))
    (refused,) = driver.taken(RfcommCnf)
    assert refused.error is not None


def test_requests_waiting_for_the_peer_fail_when_the_link_goes() -> None:
    driver = Driver()
    opened(driver)
    driver.deliver(RfcommTestReq(80, HANDLE, b"t"))
    driver.deliver(RfcommPortReq(81, HANDLE, OUTGOING_DLCI))
    driver.deliver(RfcommModemStatusReq(82, HANDLE, OUTGOING_DLCI, ModemStatus()))
    driver.deliver(L2caDisconnectInd(HANDLE, CID, "link lost", link_lost=True), sender="l2cap")
    answers = {m.token: m.error for m in driver.taken(RfcommCnf) + driver.taken(RfcommPortCnf)}
    assert set(answers) == {80, 81, 82} and all(answers.values())
    assert not driver.timers


@pytest.mark.parametrize(
    ("state", "event"), sorted(MUX_UNEXPECTED, key=str), ids=lambda value: str(value)
)
def test_events_that_must_not_arrive_are_logged_and_ignored(
    state: MuxState, event: MuxEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = Driver()
    if state is MuxState.IDLE:  # a multiplexer not (or no longer) opened
        mcb = Mcb(HANDLE, initiator=False)
    else:
        reach(driver, state)
        assert driver.mcb is not None
        mcb = driver.mcb
    # The module's own logger, recorded (independent of how logging is configured).
    warnings = WarningsOf()
    monkeypatch.setattr(multiplexer, "logger", warnings)
    assert not driver.core.multiplexers.move(mcb, event)
    assert mcb.state is state
    assert f"0x{HANDLE:04X}: multiplexer {event} ignored in {state}" in " ".join(warnings.seen)


class WarningsOf:
    """Stands in for a module's logger: keeps its warnings."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def warning(self, message: str, *args: object) -> None:
        self.seen.append(message % args)

    def debug(self, message: str, *args: object) -> None:
        pass


# Pairs outside the table that fire() produces in a state without ending the multiplexer.
OUTSIDE_THE_TABLE = [
    (state, event)
    for state in MuxState
    if state is not MuxState.IDLE
    for event in (MuxEvent.SABME, MuxEvent.UA, MuxEvent.DM, MuxEvent.DISC, MuxEvent.CONN_IND)
    if (state, event) not in MUX_TRANSITIONS
]


@pytest.mark.parametrize(("state", "event"), OUTSIDE_THE_TABLE, ids=lambda value: str(value))
def test_frames_and_channels_outside_the_table_leave_the_multiplexer_as_it_was(
    state: MuxState, event: MuxEvent
) -> None:
    driver = Driver()
    reach(driver, state)
    fire(driver, event)
    assert driver.mcb is not None and driver.mcb.state is state


def test_letting_go_a_multiplexer_a_dlc_is_opening_on_tells_when_it_closes_after_all() -> None:
    driver = Driver()
    driver.deliver(RfcommRegisterReq(9, SERVER))
    driver.open_as_responder()
    driver.peer_command(CommandType.PN, pn(INCOMING_DLCI))  # the peer's DLC under way
    driver.taken(RfcommCnf)
    driver.deliver(RfcommMultiplexerCloseReq(44, HANDLE))
    (kept,) = driver.taken(RfcommCnf)
    assert kept.token == 44 and kept.error is not None
    driver.advance(T1)  # no SABM came for the PN: the parameters are dropped
    driver.advance(IDLE_TIMEOUT)  # then the idle multiplexer closes
    assert not driver.taken(RfcommMultiplexerClosedInd)
    driver.peer_sends(Frame(FrameType.UA, 0, True, True))
    assert driver.taken(RfcommMultiplexerClosedInd) == [RfcommMultiplexerClosedInd(HANDLE)]


def test_our_line_status_goes_out_and_waits_for_its_response() -> None:
    driver = Driver()
    opened(driver)
    errors = LineStatus.PARITY
    driver.deliver(RfcommLineStatusReq(90, HANDLE, OUTGOING_DLCI, errors))
    (sent,) = driver.commands()
    assert (sent.kind, sent.command) == (CommandType.RLS, True)
    assert sent.value == RemoteLineStatus(OUTGOING_DLCI, 0x05).encode()
    driver.peer_command(CommandType.RLS, sent.value, command=False)
    assert [(c.token, c.error) for c in driver.taken(RfcommCnf)] == [(90, None)]
    driver.deliver(RfcommLineStatusReq(91, HANDLE, OUTGOING_DLCI, errors))
    driver.advance(T2)
    (late,) = driver.taken(RfcommCnf)
    assert late.token == 91 and "T2" in (late.error or "")
