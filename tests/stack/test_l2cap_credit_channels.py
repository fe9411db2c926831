"""LE credit-based and enhanced credit-based L2CAP channels between two bluetrio stacks on
the virtual controller (Core 5.4 Vol 3 Part A 4.22-4.28, 10.1)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from bluetrio import L2capChannel, L2capConnectionRefused, Link, Stack
from bluetrio.actors.btm.config import SecurityConfig, StackConfig
from bluetrio.actors.runtime import Actor
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.core import SmpCore
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.l2cap import LeCreditConnectionResult
from bluetrio.messages.l2cap_credit_service import CreditMode
from bluetrio.testing import open_stack_pair

SPSM = 0x0081


def pattern(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(seed.to_bytes(4, "little")).digest() * 64
    return (block * (size // len(block) + 1))[:size]


async def read_exactly(channel: L2capChannel, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        data = await channel.receive_some()
        assert data, "the channel ended early"
        parts.append(data)
        got += len(data)
    return b"".join(parts)


@contextlib.asynccontextmanager
async def le_link(a: Stack, b: Stack) -> AsyncIterator[tuple[Link, Link]]:
    address = (await b.ready()).address
    async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE) as peer:
        yield link, peer


async def test_an_le_channel_carries_ten_megabytes_with_a_checksum(
    autojump_clock: trio.testing.MockClock,
) -> None:
    size = 10 * 1024 * 1024
    data = pattern(size)
    async with (
        open_stack_pair() as (a, b),
        le_link(a, b) as (link, _),
        b.l2cap_listen(spsm=SPSM, mtu=4096, mps=247) as listener,
    ):
        channel = await link.l2cap_connect(spsm=SPSM, mtu=4096)
        assert channel.mode is CreditMode.LE_CREDIT_BASED and channel.peer_mtu == 4096
        peer = await listener.accept()
        received = b""

        async def receive() -> None:
            nonlocal received
            received = await read_exactly(peer, size)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            await channel.send_all(data)
        assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()
        await channel.aclose()
        assert await peer.receive_some() == b""


async def test_both_directions_and_several_channels_on_one_link(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_stack_pair() as (a, b),
        le_link(a, b) as (link, peer_link),
        b.l2cap_listen(spsm=SPSM) as b_listener,
        a.l2cap_listen(spsm=0x0083) as a_listener,
    ):
        ours = [await link.l2cap_connect(spsm=SPSM, mtu=600, mps=100) for _ in range(3)]
        theirs = [await b_listener.accept() for _ in range(3)]
        # And one the other way, opened by B.
        backwards = await peer_link.l2cap_connect(spsm=0x0083)
        accepted = await a_listener.accept()
        async with trio.open_nursery() as nursery:
            for n, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
                nursery.start_soon(mine.send_all, pattern(50_000, n))
                nursery.start_soon(other.send_all, pattern(30_000, n + 10))
            nursery.start_soon(backwards.send_all, pattern(20_000, 99))
        for n, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            assert await read_exactly(other, 50_000) == pattern(50_000, n)
            assert await read_exactly(mine, 30_000) == pattern(30_000, n + 10)
        assert await read_exactly(accepted, 20_000) == pattern(20_000, 99)
        # SDU boundaries are kept.
        await ours[0].send_sdu(b"one")
        await ours[0].send_sdu(b"")
        await ours[0].send_sdu(b"three")
        assert [await theirs[0].receive_sdu() for _ in range(3)] == [b"one", b"", b"three"]


async def test_enhanced_channels_open_in_one_request_and_reconfigure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_stack_pair() as (a, b),
        le_link(a, b) as (link, _),
        b.l2cap_listen(spsm=SPSM, mtu=100, mps=64) as listener,
    ):
        channels = await link.l2cap_connect_credit(
            SPSM, count=5, mode=CreditMode.ENHANCED_CREDIT_BASED, mtu=300, mps=100
        )
        assert len(channels) == 5
        assert all(c.mode is CreditMode.ENHANCED_CREDIT_BASED for c in channels)
        peers = [await listener.accept() for _ in range(5)]
        assert all(c.peer_mtu == 100 for c in channels)
        with pytest.raises(InvalidArgumentError):
            await channels[0].send_sdu(bytes(101))
        # B raises its MTU: A may send larger SDUs at once.
        for peer in peers:
            await peer.reconfigure(mtu=1000, mps=64)
        assert all(c.peer_mtu == 1000 for c in channels)
        for n, (channel, peer) in enumerate(zip(channels, peers, strict=True)):
            await channel.send_sdu(pattern(1000, n))
            assert await peer.receive_sdu() == pattern(1000, n)
            await peer.send_sdu(pattern(300, n))
            assert await channel.receive_sdu() == pattern(300, n)
        # Shrinking the MTU is refused by the peer's rules, checked before asking.
        with pytest.raises(L2capConnectionRefused) as refused:
            await peers[0].reconfigure(mtu=500, mps=64)
        assert refused.value.result == 0x0001


async def test_an_le_link_encrypted_with_a_short_key_is_refused_as_key_size_too_short(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The link is encrypted with a 7-octet key (the peripheral offers no more), a channel to
    the central's SPSM needs 16: the central's pairing for a longer key fails, and the
    refusal names the key size (4.23), judged by the LE key's strength."""
    short_keys = StackConfig(security=SecurityConfig(pairable=True, min_encryption_key_size=7))
    central = {"config": short_keys, "extra_layers": [Actor(SmpCore(SmpConfig(min_key_size=7)))]}
    seven = SmpConfig(min_key_size=7, max_key_size=7)
    peripheral = {"config": short_keys, "extra_layers": [Actor(SmpCore(seven))]}
    async with open_stack_pair(central, peripheral) as (a, b), le_link(a, b) as (link, peer):
        paired = await link.pair()
        assert paired.key_size == 7 and link.encrypted
        async with a.l2cap_listen(spsm=SPSM, security=SecurityRequirement(min_key_size=16)):
            with pytest.raises(L2capConnectionRefused) as short:
                await peer.l2cap_connect(spsm=SPSM)
        assert short.value.result == LeCreditConnectionResult.ENCRYPTION_KEY_SIZE_TOO_SHORT


async def test_an_unknown_spsm_and_a_short_security_are_refused_with_their_results(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stack_pair() as (a, b), le_link(a, b) as (link, _):
        with pytest.raises(L2capConnectionRefused) as unknown:
            await link.l2cap_connect(spsm=0x0091)
        assert unknown.value.result == LeCreditConnectionResult.SPSM_NOT_SUPPORTED
        # MITM protection cannot be had between two devices without IO (Vol 3 Part H
        # 2.3.5.1): the pairing the protected SPSM asks for fails, and so does the channel.
        async with b.l2cap_listen(spsm=SPSM, security=SecurityRequirement(mitm=True)):
            with pytest.raises(L2capConnectionRefused) as short:
                await link.l2cap_connect(spsm=SPSM)
        assert short.value.result == LeCreditConnectionResult.INSUFFICIENT_AUTHENTICATION
        assert not link.encrypted
        # An SPSM that asks for encryption only: the Security Manager pairs (Just Works),
        # then the channel opens.
        async with b.l2cap_listen(spsm=SPSM, security=SecurityRequirement()) as listener:
            channel = await link.l2cap_connect(spsm=SPSM)
            await listener.accept()
            assert link.encrypted
            await channel.aclose()


async def test_enhanced_channels_on_a_bredr_link(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stack_pair() as (a, b):
        address = (await b.ready()).address
        await b.set_discoverable(True)
        async with (
            a.connect(address, transport=LinkTransport.BR_EDR) as link,
            b.accept(LinkTransport.BR_EDR),
            b.l2cap_listen(spsm=0x1001, transport=LinkTransport.BR_EDR, mtu=500) as listener,
        ):
            (channel,) = await link.l2cap_connect_credit(
                0x1001, mode=CreditMode.ENHANCED_CREDIT_BASED, mtu=500
            )
            peer = await listener.accept()
            async with trio.open_nursery() as nursery:
                # More than the transmit limit: the sender waits for the reader's credits.
                nursery.start_soon(channel.send_all, pattern(100_000))
                assert await read_exactly(peer, 100_000) == pattern(100_000)


async def test_a_remote_close_ends_the_stream_and_a_link_loss_breaks_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_stack_pair() as (a, b),
        le_link(a, b) as (link, peer_link),
        b.l2cap_listen(spsm=SPSM) as listener,
    ):
        channel = await link.l2cap_connect(spsm=SPSM)
        peer = await listener.accept()
        await peer.send_sdu(b"last")
        await peer.aclose()
        assert await channel.receive_some() == b"last"
        assert await channel.receive_some() == b""
        with pytest.raises(trio.BrokenResourceError):
            await channel.send_sdu(b"x")
        second = await link.l2cap_connect(spsm=SPSM)
        await listener.accept()
        await peer_link.close()
        with pytest.raises(trio.BrokenResourceError):
            await second.receive_sdu()


async def test_a_full_listener_backlog_refuses_with_no_resources(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Vol 3 Part A 4.23: result 0x0004 before the channel opens, never opened and closed.
    monkeypatch.setattr("bluetrio.l2cap.LISTEN_BACKLOG", 2)
    async with (
        open_stack_pair() as (a, b),
        le_link(a, b) as (link, _),
        b.l2cap_listen(spsm=SPSM) as listener,
    ):
        waiting = [await link.l2cap_connect(spsm=SPSM) for _ in range(2)]
        with pytest.raises(L2capConnectionRefused) as refused:
            await link.l2cap_connect(spsm=SPSM)
        assert refused.value.result == LeCreditConnectionResult.NO_RESOURCES
        accepted = await listener.accept()  # one leaves the backlog: room for one more
        third = await link.l2cap_connect(spsm=SPSM)
        await waiting[0].send_sdu(b"first")
        assert await accepted.receive_sdu() == b"first"
        for channel in (*waiting, third):
            await channel.send_sdu(b"still open")
        assert (await listener.accept()).cid != accepted.cid
