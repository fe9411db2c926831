"""RFCOMM's timers in running stacks, under MockClock: the peer's stack drops what it should
answer (a fault policy on its RFCOMM layer) and ours gives up after the spec's time: T1 for
SABM on DLCI 0 and on a DLC, T2 for PN, MSC, RPN, RLS and Test, the wait for a DISC on
DLCI 0, the idle multiplexer, the 120 s wait for a SABM, the wait for the application to take
a DLC (RFCOMM 1.2, TS 07.10 5.7)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import trio
import trio.testing

from bluetrio import LineStatus, RfcommError, RfcommStream, Stack
from bluetrio.actors.faults import FaultPolicy, Hop
from bluetrio.actors.rfcomm.control_blocks import (
    ACCEPT_WAIT,
    IDLE_TIMEOUT,
    MUX_DISC_WAIT,
    PEER_PAIRING_WAIT,
    T1,
    T2,
)
from bluetrio.actors.topology import Layer
from bluetrio.errors import DecodeError
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.l2cap_service import L2caDataReq, L2caDisconnectReq
from bluetrio.messages.rfcomm import CommandType, Frame, FrameType, decode_commands, decode_frame
from bluetrio.messages.rfcomm_service import RfcommConnectRsp
from bluetrio.testing import open_stack_pair

CHANNEL = 5


def frames_from_rfcomm(match: Callable[[Frame], bool]) -> Callable[[Hop], bool]:
    """Hops carrying a frame the RFCOMM layer hands to L2CAP that ``match`` picks."""

    def predicate(hop: Hop) -> bool:
        if hop.sender != Layer.RFCOMM or not isinstance(hop.message, L2caDataReq):
            return False
        try:
            frame = decode_frame(hop.message.sdu)
        except DecodeError:
            return False
        return match(frame)

    return predicate


def frame(kind: FrameType, *, on_dlci_0: bool) -> Callable[[Frame], bool]:
    return lambda f: f.type is kind and (f.dlci == 0) == on_dlci_0


def response(kind: CommandType) -> Callable[[Frame], bool]:
    def match(f: Frame) -> bool:
        if f.dlci != 0 or f.type is not FrameType.UIH:
            return False
        try:
            return any(c.kind is kind and not c.command for c in decode_commands(f.information))
        except DecodeError:
            return False

    return match


async def address_of(stack: Stack) -> str:
    info = await stack.ready()
    await stack.set_discoverable(True)
    return str(info.address)


async def connect_failing(dropped: FaultPolicy, match: str) -> float:
    """a connects to b's channel while b drops what ``dropped`` says: the error and the
    virtual seconds it took."""
    async with (
        open_stack_pair(None, {"faults": dropped}) as (a, b),
        b.rfcomm_listen(channel=CHANNEL),
    ):
        address = await address_of(b)
        started = trio.current_time()
        with pytest.raises(RfcommError, match=match):
            await a.rfcomm_connect(address, channel=CHANNEL)
        return trio.current_time() - started


def silent_rfcomm(hop: Hop) -> bool:
    """Everything b's RFCOMM layer sends, its closing of the L2CAP channel too."""
    return hop.sender == Layer.RFCOMM and isinstance(hop.message, L2caDataReq | L2caDisconnectReq)


def owner_answer(hop: Hop) -> bool:
    return hop.sender == Layer.APP and isinstance(hop.message, RfcommConnectRsp)


@pytest.mark.parametrize(
    ("dropped", "error", "wait"),
    [
        (silent_rfcomm, "T1", T1),  # no UA to SABM on DLCI 0
        (frames_from_rfcomm(response(CommandType.PN)), "T2", T2),  # no PN response
        (frames_from_rfcomm(lambda f: f.dlci != 0), "UA within T1", T1),  # nothing on the DLC
        (owner_answer, "DM", ACCEPT_WAIT),  # b's application never takes the DLC
    ],
    ids=["SABM on DLCI 0", "PN", "SABM on the DLC", "the owner's answer"],
)
async def test_an_unanswered_step_of_opening_fails_after_its_timer(
    autojump_clock: trio.testing.MockClock,
    dropped: Callable[[Hop], bool],
    error: str,
    wait: float,
) -> None:
    silent = FaultPolicy()
    silent.drop(dropped)
    took = await connect_failing(silent, error)
    assert wait <= took < wait + 2


async def opened(
    a: Stack, b: Stack, listener_channel: int = CHANNEL
) -> tuple[RfcommStream, RfcommStream]:
    async with b.rfcomm_listen(channel=listener_channel) as listener:
        stream = await a.rfcomm_connect(await address_of(b), channel=listener_channel)
        return stream, await listener.accept()


async def test_no_msc_response_breaks_the_dlc_after_t2(
    autojump_clock: trio.testing.MockClock,
) -> None:
    silent = FaultPolicy()
    silent.drop(frames_from_rfcomm(response(CommandType.MSC)))
    async with open_stack_pair(None, {"faults": silent}) as (a, b):
        started = trio.current_time()
        stream, _served = await opened(a, b)
        with pytest.raises(trio.BrokenResourceError, match="MSC"):
            await stream.receive_some()
        assert T2 <= trio.current_time() - started < T2 + 2


@pytest.mark.parametrize(
    "kind", [CommandType.RPN, CommandType.RLS, CommandType.TEST], ids=lambda k: k.name
)
async def test_no_rpn_rls_or_test_response_fails_the_request_after_t2(
    autojump_clock: trio.testing.MockClock, kind: CommandType
) -> None:
    silent = FaultPolicy()
    silent.drop(frames_from_rfcomm(response(kind)))
    async with open_stack_pair(None, {"faults": silent}) as (a, b):
        stream, _served = await opened(a, b)
        started = trio.current_time()
        with pytest.raises(RfcommError, match="T2"):
            if kind is CommandType.RPN:
                await stream.configure_port(bit_rate=19200)
            elif kind is CommandType.RLS:
                await stream.report_line_errors(LineStatus.OVERRUN)
            else:
                await stream.ping(b"anyone?")
        assert T2 <= trio.current_time() - started < T2 + 1
        await stream.send_all(b"the DLC stays open")


async def test_an_unanswered_disc_on_dlci_0_lets_the_link_go_after_its_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    faults = FaultPolicy()
    async with open_stack_pair(None, {"faults": faults}) as (a, b):
        stream, _served = await opened(a, b)
        # From now on b's UA on DLCI 0 is lost, and so is its closing of the L2CAP channel.
        faults.drop(frames_from_rfcomm(frame(FrameType.UA, on_dlci_0=True)))
        faults.drop(
            lambda hop: hop.sender == Layer.RFCOMM and isinstance(hop.message, L2caDisconnectReq)
        )
        (link,) = a.links
        started = trio.current_time()
        await stream.aclose()  # DLC, then the multiplexer (its UA lost), then the link
        assert not link.connected
        assert MUX_DISC_WAIT <= trio.current_time() - started < MUX_DISC_WAIT + 1


@pytest.fixture
def rfcomm_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """What the RFCOMM layers of both stacks log, from INFO up."""
    caplog.set_level(logging.INFO, logger="bluetrio.actors.rfcomm")
    return caplog


async def test_the_peer_closing_the_last_dlc_leaves_the_multiplexer_the_idle_time(
    autojump_clock: trio.testing.MockClock, rfcomm_log: pytest.LogCaptureFixture
) -> None:
    faults = FaultPolicy()
    # b's own DISC on DLCI 0 is lost: a closes the multiplexer once it was idle for 2 s.
    faults.drop(frames_from_rfcomm(frame(FrameType.DISC, on_dlci_0=True)))
    async with open_stack_pair(None, {"faults": faults}) as (a, b):
        stream, served = await opened(a, b)
        await served.aclose()
        assert await stream.receive_some() == b""
        closed_at = trio.current_time()
        await trio.sleep(IDLE_TIMEOUT - 0.1)
        assert "multiplexer closed" not in rfcomm_log.text
        await trio.sleep(0.2)
        assert trio.current_time() - closed_at < MUX_DISC_WAIT  # b has not given up yet
        assert "multiplexer closed: the multiplexer closed" in rfcomm_log.text  # ours, answered


async def test_a_peer_that_never_sends_sabm_on_dlci_0_is_given_120_s(
    autojump_clock: trio.testing.MockClock, rfcomm_log: pytest.LogCaptureFixture
) -> None:
    mute = FaultPolicy()
    # a opens RFCOMM's L2CAP channel but its SABM never leaves, nor its disconnection.
    mute.drop(frames_from_rfcomm(frame(FrameType.SABM, on_dlci_0=True)))
    mute.drop(lambda hop: hop.sender == Layer.RFCOMM and isinstance(hop.message, L2caDisconnectReq))
    async with (
        open_stack_pair({"faults": mute}) as (a, b),
        b.rfcomm_listen(channel=CHANNEL),
        a.connect(await address_of(b), transport=LinkTransport.BR_EDR),  # not RFCOMM's link
        b.accept(LinkTransport.BR_EDR),
    ):
        address = await address_of(b)
        started = trio.current_time()
        with pytest.raises(RfcommError, match="T1"):
            await a.rfcomm_connect(address, channel=CHANNEL)
        assert "no SABM" not in rfcomm_log.text
        await trio.sleep(PEER_PAIRING_WAIT - (trio.current_time() - started) - 1)
        assert "no SABM" not in rfcomm_log.text
        await trio.sleep(2)
        assert f"no SABM within {PEER_PAIRING_WAIT:g} s" in rfcomm_log.text
