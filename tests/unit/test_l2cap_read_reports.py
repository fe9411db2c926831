"""The application's L2CAP channels report the SDUs they read in batches: one ``L2caDataRsp``
for up to ``READ_REPORT_BATCH`` SDUs, at once when the reader has taken everything waiting
(so the credit engine's return to a peer out of credits and ERTM's leaving of local busy
still fire), and on close."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, cast

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from test_l2cap_credit import LawfulPeer, cut  # the neighbouring module: the engine's peer

from bluetrio.actors.app_port import AppPort
from bluetrio.actors.l2cap.credit import (
    CreditChannel,
    GrantCredits,
    Limits,
    SduReceived,
    receive_window,
)
from bluetrio.l2cap import ChannelRegistry, L2capChannel
from bluetrio.messages.base import Message
from bluetrio.messages.l2cap import ChannelMode
from bluetrio.messages.l2cap_credit_service import (
    READ_REPORT_BATCH,
    CreditChannelParameters,
    CreditMode,
    L2caDataRsp,
)
from bluetrio.messages.l2cap_service import ChannelParameters, L2caDataInd

if TYPE_CHECKING:
    from bluetrio.stack import Stack

HANDLE, CID = 1, 0x0040


def credit_parameters(mtu: int = 100, mps: int = 100, credits: int = 10) -> CreditChannelParameters:
    return CreditChannelParameters(CreditMode.LE_CREDIT_BASED, mtu, mps, mtu, mps, credits, 4096)


ERTM = ChannelParameters(100, 100, ChannelMode.ENHANCED_RETRANSMISSION)
KINDS = {"credit-based": credit_parameters(), "ERTM": ERTM}


def channel_recording(
    parameters: ChannelParameters | CreditChannelParameters,
) -> tuple[ChannelRegistry, L2capChannel, list[Message]]:
    """A channel whose requests to the layer are recorded, not sent."""
    registry = ChannelRegistry(cast("Stack", None), AppPort())
    sent: list[Message] = []
    registry.send_many = sent.extend  # type: ignore[method-assign]
    channel = L2capChannel(registry, registry._endpoint(HANDLE, CID), 0x0081, parameters)
    return registry, channel, sent


def arrive(registry: ChannelRegistry, count: int) -> None:
    for index in range(count):
        registry._on_data(L2caDataInd(HANDLE, CID, bytes([index % 256])))


@pytest.mark.parametrize("parameters", KINDS.values(), ids=KINDS.keys())
async def test_reads_with_more_waiting_are_reported_in_batches(
    parameters: ChannelParameters | CreditChannelParameters,
) -> None:
    registry, channel, sent = channel_recording(parameters)
    arrive(registry, 2 * READ_REPORT_BATCH + 3)
    for _ in range(2 * READ_REPORT_BATCH):
        await channel.receive_sdu()
    assert sent == [L2caDataRsp(HANDLE, CID, READ_REPORT_BATCH)] * 2
    await channel.receive_sdu()
    await channel.receive_some()
    assert sent[2:] == []  # one SDU still waits: the two read are not reported yet
    await channel.receive_some()
    assert sent[2:] == [L2caDataRsp(HANDLE, CID, 3)]  # drained: reported at once


@pytest.mark.parametrize("parameters", KINDS.values(), ids=KINDS.keys())
async def test_a_reader_that_keeps_up_reports_each_sdu_as_it_drains(
    parameters: ChannelParameters | CreditChannelParameters,
) -> None:
    registry, channel, sent = channel_recording(parameters)
    for _ in range(3):
        arrive(registry, 1)
        await channel.receive_sdu()
    assert sent == [L2caDataRsp(HANDLE, CID, 1)] * 3


@pytest.mark.parametrize("parameters", KINDS.values(), ids=KINDS.keys())
async def test_reads_not_yet_reported_are_reported_on_close(
    parameters: ChannelParameters | CreditChannelParameters,
) -> None:
    registry, channel, sent = channel_recording(parameters)

    async def disconnect(endpoint: object) -> None:
        sent.append(cast("Message", "disconnected"))
        await trio.lowlevel.checkpoint()

    registry.disconnect = disconnect  # type: ignore[method-assign,assignment]
    arrive(registry, 3)
    await channel.receive_sdu()
    assert sent == []
    await channel.aclose()
    assert sent == [L2caDataRsp(HANDLE, CID, 1), "disconnected"]


async def test_a_basic_channel_reports_nothing() -> None:
    registry, channel, sent = channel_recording(ChannelParameters(100, 100))
    arrive(registry, READ_REPORT_BATCH + 1)
    for _ in range(READ_REPORT_BATCH + 1):
        await channel.receive_sdu()
    assert sent == []


@settings(max_examples=200, deadline=None)
@given(data=st.data(), requested=st.one_of(st.just(0), st.integers(0, 60)))
def test_a_peer_out_of_credits_is_never_left_waiting_on_batched_reports(
    data: st.DataObject, requested: int
) -> None:
    """The credit engine behind the application's channel, with every hop between them
    (SDUs on their way up, reports on their way down, credit indications on their way to the
    peer) taken in any order, the reader reading any number of SDUs at any time (whole SDUs
    and parts of them): after every step, a peer that has spent every credit always has some
    on their way, or SDUs wait that the reader will read (the reports of which will free
    credits); and everything sent is read in order."""
    mtu = data.draw(st.integers(23, 300))
    mps = data.draw(st.integers(23, 120))
    window = receive_window(mtu, mps, requested)
    engine = CreditChannel(
        CreditMode.LE_CREDIT_BASED, Limits(mtu, mps, window), Limits(mtu, mps, 10)
    )
    lengths = data.draw(st.lists(st.integers(0, mtu), max_size=30))
    sdus = [bytes([index % 256]) * length for index, length in enumerate(lengths)]
    sizes = data.draw(st.lists(st.integers(1, mps), min_size=1, max_size=4))
    peer = LawfulPeer(deque(f for sdu in sdus for f in cut(sdu, sizes, mps)), window)
    registry, channel, reports = channel_recording(credit_parameters(mtu, mps, window))
    endpoint = channel._endpoint
    going_up: deque[bytes] = deque()  # SDUs the engine delivered, not yet at the channel
    read: list[bytes] = []
    actions = data.draw(st.lists(st.integers(0, 3), max_size=300))
    read_sizes = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))

    def apply(effects: list[object]) -> None:
        for effect in effects:
            if isinstance(effect, SduReceived):
                going_up.append(effect.sdu)
            elif isinstance(effect, GrantCredits):
                peer.grants_on_the_way.append(effect.credits)
            else:
                raise AssertionError(f"a lawful peer made the channel fail: {effect}")

    def check() -> None:
        waiting = endpoint.received or going_up or reports or peer.grants_on_the_way
        assert peer.credits > 0 or waiting or not peer.frames, "the peer waits forever"

    async def act(action: int, step: int) -> bool:
        if action == 0 and peer.frames and peer.credits:
            peer.credits -= 1
            apply(list(engine.receive_frame(peer.frames.popleft())))
        elif action == 1 and going_up:
            registry._on_data(L2caDataInd(HANDLE, CID, going_up.popleft()))
        elif action == 2 and (endpoint.received or channel._partial):
            for _ in range(read_sizes[step % len(read_sizes)]):
                if not (endpoint.received or channel._partial):
                    break
                if channel._partial or step % 3 == 0:
                    read.append(await channel.receive_some(max(1, mtu // 2)))
                else:
                    read.append(await channel.receive_sdu())
        elif action == 3 and (reports or peer.grants_on_the_way):
            if reports:
                report = reports.pop(0)
                assert isinstance(report, L2caDataRsp)
                assert report.count <= READ_REPORT_BATCH
                for _ in range(report.count):
                    apply(list(engine.sdu_consumed()))
            if peer.grants_on_the_way:
                peer.credits += peer.grants_on_the_way.popleft()
        else:
            return False
        check()
        return True

    async def main() -> None:
        for step, action in enumerate(actions):
            await act(action, step)
        step = len(actions)
        while any([await act(a, step + a) for a in range(4)]):
            step += 1

    trio.run(main)
    assert b"".join(read) == b"".join(sdus)
    assert not peer.frames
