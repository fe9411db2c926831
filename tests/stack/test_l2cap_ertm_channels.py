"""BR/EDR channels in Enhanced Retransmission and Streaming mode between two bluetrio stacks
on the virtual controller (Core 5.4 Vol 3 Part A 8.6, 8.7)."""

from __future__ import annotations

import hashlib

import pytest
import trio
import trio.testing
from test_l2cap_channels import PSM, bredr_link, pattern

from bluetrio import L2capChannel
from bluetrio.messages.l2cap import ChannelMode
from bluetrio.messages.l2cap_service import ModePolicy
from bluetrio.testing import open_stack_pair

MEGABYTE = 1024 * 1024
OTHER_PSM = 0x1003
THIRD_PSM = 0x1005


async def digest_of(channel: L2capChannel, size: int) -> str:
    digest = hashlib.sha256()
    received = 0
    while received < size:
        chunk = await channel.receive_some()
        assert chunk, "the stream ended early"
        digest.update(chunk)
        received += len(chunk)
    return digest.hexdigest()


@pytest.mark.parametrize("mode", [ChannelMode.ERTM, ChannelMode.STREAMING])
async def test_a_megabyte_each_way_with_a_checksum(
    mode: ChannelMode, autojump_clock: trio.testing.MockClock
) -> None:
    data = pattern(MEGABYTE, 3)
    reply = pattern(MEGABYTE, 4)
    async with (
        open_stack_pair() as (a, b),
        b.l2cap_listen(psm=PSM, mode=mode, mode_policy=ModePolicy.REQUIRE) as listener,
        bredr_link(a, b) as (link, _),
    ):
        channel = await link.l2cap_connect(
            psm=PSM, mode=mode, mode_policy=ModePolicy.REQUIRE, mtu=4000
        )
        served = await listener.accept()
        assert channel.mode is served.mode is mode
        assert (channel.mtu, served.peer_mtu) == (4000, 4000)
        digests: dict[str, str] = {}

        async def receive(name: str, on: L2capChannel) -> None:
            digests[name] = await digest_of(on, MEGABYTE)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive, "b", served)
            nursery.start_soon(receive, "a", channel)
            nursery.start_soon(channel.send_all, data)
            nursery.start_soon(served.send_all, reply)
        assert digests["b"] == hashlib.sha256(data).hexdigest()
        assert digests["a"] == hashlib.sha256(reply).hexdigest()
        # Everything sent was confirmed: ERTM's peer acknowledged it, streaming's left.
        await channel.send_eof()
        assert await served.receive_some() == b""


async def test_several_channels_in_different_modes_on_one_link(
    autojump_clock: trio.testing.MockClock,
) -> None:
    modes = {PSM: ChannelMode.ERTM, OTHER_PSM: ChannelMode.STREAMING, THIRD_PSM: ChannelMode.BASIC}
    async with (
        open_stack_pair() as (a, b),
        b.l2cap_listen(psm=PSM, mode=ChannelMode.ERTM) as ertm,
        b.l2cap_listen(psm=OTHER_PSM, mode=ChannelMode.STREAMING) as streaming,
        b.l2cap_listen(psm=THIRD_PSM) as basic,
        bredr_link(a, b) as (link, _),
    ):
        results: dict[int, str] = {}

        async def transfer(psm: int, listener: trio.abc.Listener[L2capChannel]) -> None:
            channel = await link.l2cap_connect(psm=psm, mode=modes[psm])
            served = await listener.accept()
            assert channel.mode is served.mode is modes[psm]
            data = pattern(200_000, psm)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(channel.send_all, data)
                results[psm] = await digest_of(served, len(data))
            assert results[psm] == hashlib.sha256(data).hexdigest()
            await channel.aclose()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(transfer, PSM, ertm)
            nursery.start_soon(transfer, OTHER_PSM, streaming)
            nursery.start_soon(transfer, THIRD_PSM, basic)
        assert sorted(results) == sorted(modes)


async def test_ertm_falls_back_to_basic_with_a_basic_listener(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_stack_pair() as (a, b),
        b.l2cap_listen(psm=PSM) as listener,
        bredr_link(a, b) as (link, _),
    ):
        channel = await link.l2cap_connect(psm=PSM, mode=ChannelMode.ERTM)
        served = await listener.accept()
        assert channel.mode is served.mode is ChannelMode.BASIC
        await channel.send_sdu(b"basic after all")
        assert await served.receive_sdu() == b"basic after all"


async def test_a_remote_disconnect_during_an_ertm_transfer_raises_in_pending_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_stack_pair() as (a, b),
        b.l2cap_listen(psm=PSM, mode=ChannelMode.ERTM) as listener,
        bredr_link(a, b) as (link, _),
    ):
        channel = await link.l2cap_connect(psm=PSM, mode=ChannelMode.ERTM)
        served = await listener.accept()
        assert served.mode is ChannelMode.ERTM
        await served.send_sdu(b"first")
        assert await channel.receive_sdu() == b"first"

        async def keep_sending() -> None:
            # The peer reads nothing: its engine is soon locally busy, ours stops sending,
            # the window fills and send waits, until the peer closes the channel.
            with pytest.raises(trio.BrokenResourceError, match="peer closed"):
                while True:
                    await channel.send_sdu(bytes(600))

        async def keep_receiving() -> None:
            assert await channel.receive_some() == b""  # the end of the stream

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_sending)
            nursery.start_soon(keep_receiving)
            await trio.sleep(5)
            await served.aclose()
        with pytest.raises(trio.BrokenResourceError, match="peer closed"):
            await channel.send_sdu(b"late")


async def test_the_acknowledgement_timer_confirms_a_lone_sdu(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_stack_pair() as (a, b),
        b.l2cap_listen(psm=PSM, mode=ChannelMode.ERTM) as listener,
        bredr_link(a, b) as (link, _),
    ):
        channel = await link.l2cap_connect(psm=PSM, mode=ChannelMode.ERTM)
        served = await listener.accept()
        start = trio.current_time()
        await channel.send_sdu(b"alone")
        assert await served.receive_sdu() == b"alone"
        # One I-frame is under a quarter of the window: the peer acknowledges it when its
        # acknowledgement timer (a tenth of the 2 s retransmission time-out) fires in its
        # actor, and only then is the SDU confirmed and send_eof done.
        await channel.send_eof()
        assert trio.current_time() - start >= 0.2
        assert await served.receive_some() == b""
