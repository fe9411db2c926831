"""BR/EDR basic-mode L2CAP channels between two bluetrio stacks on the virtual controller."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from bluetrio import L2capChannel, L2capConnectionRefused, Link, Stack
from bluetrio.actors.l2cap.signaling import RTX_TIMEOUT
from bluetrio.address import Address
from bluetrio.controller import Air
from bluetrio.controller.connections import AclFrame
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.btm_security import IoCapability, SecurityRequirement
from bluetrio.messages.l2cap import ChannelMode, ConnectionResult
from bluetrio.messages.l2cap_service import ModePolicy
from bluetrio.pairing import PairingDelegate
from bluetrio.testing import open_stack_pair

PSM = 0x1001
OTHER_PSM = 0x1003


def pattern(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(seed.to_bytes(4, "little")).digest() * 64
    return (block * (size // len(block) + 1))[:size]


async def read_all(channel: L2capChannel) -> bytes:
    parts = []
    while data := await channel.receive_some():
        parts.append(data)
    return b"".join(parts)


class Confirming(PairingDelegate):
    io_capability = IoCapability.DISPLAY_YES_NO

    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        return True

    async def accept_pairing(self, peer: Address) -> bool:
        return True


@contextlib.asynccontextmanager
async def bredr_link(a: Stack, b: Stack) -> AsyncIterator[tuple[Link, Link]]:
    address = (await b.ready()).address
    await b.set_discoverable(True)
    async with (
        a.connect(address, transport=LinkTransport.BR_EDR) as link,
        b.accept(LinkTransport.BR_EDR) as peer_link,
    ):
        yield link, peer_link


async def test_a_channel_carries_bytes_both_ways(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        open_stack_pair() as (a, b),
        b.l2cap_listen(psm=PSM) as listener,
        bredr_link(a, b) as (link, _),
    ):
        channel = await link.l2cap_connect(psm=PSM, mtu=1000)
        served = await listener.accept()
        assert (channel.mtu, channel.peer_mtu) == (1000, 672)
        assert (served.mtu, served.peer_mtu) == (672, 1000)
        assert channel.mode is served.mode is ChannelMode.BASIC
        await channel.send_sdu(b"ping")
        assert await served.receive_sdu() == b"ping"
        await served.send_all(pattern(5000))
        got = b""
        while len(got) < 5000:
            got += await channel.receive_some()
        assert got == pattern(5000)
        with pytest.raises(InvalidArgumentError, match="peer's MTU"):
            await channel.send_sdu(bytes(673))
        await channel.aclose()
        # The peer reads the end of the stream; its sends are broken.
        assert await served.receive_some() == b""
        with pytest.raises(trio.EndOfChannel):
            await served.receive_sdu()
        with pytest.raises(trio.BrokenResourceError, match="peer closed"):
            await served.send_sdu(b"late")
        with pytest.raises(trio.ClosedResourceError):
            await channel.send_sdu(b"after close")


async def test_channels_open_from_either_side_and_many_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_stack_pair() as (a, b),
        b.l2cap_listen(psm=PSM) as b_listener,
        a.l2cap_listen(psm=OTHER_PSM) as a_listener,
        bredr_link(a, b) as (link, peer_link),
    ):
        results: dict[str, bytes] = {}

        async def transfer(name: str, opener: Link, psm: int, seed: int) -> None:
            channel = await opener.l2cap_connect(psm=psm)
            await channel.send_all(pattern(50_000, seed))
            await channel.send_eof()
            results[f"{name} sent"] = pattern(50_000, seed)

        async def serve(listener: trio.abc.Listener[L2capChannel], count: int) -> None:
            async with trio.open_nursery() as nursery:
                for _ in range(count):
                    channel = await listener.accept()

                    async def drain(channel: L2capChannel = channel) -> None:
                        data = await read_all(channel)
                        results[f"received {hashlib.sha256(data).hexdigest()}"] = data
                        await channel.aclose()

                    nursery.start_soon(drain)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve, b_listener, 3)
            nursery.start_soon(serve, a_listener, 2)
            for seed in range(3):
                nursery.start_soon(transfer, f"a{seed}", link, PSM, seed)
            for seed in range(3, 5):
                nursery.start_soon(transfer, f"b{seed}", peer_link, OTHER_PSM, seed)
        received = sorted(v for k, v in results.items() if k.startswith("received"))
        assert received == sorted(pattern(50_000, seed) for seed in range(5))


async def test_ten_megabytes_with_a_checksum(autojump_clock: trio.testing.MockClock) -> None:
    size = 10 * 1024 * 1024
    data = pattern(size, 7)
    async with (
        open_stack_pair() as (a, b),
        b.l2cap_listen(psm=PSM) as listener,
        bredr_link(a, b) as (link, _),
    ):
        digest = hashlib.sha256()
        received = 0

        async def receive() -> None:
            nonlocal received
            channel = await listener.accept()
            while chunk := await channel.receive_some():
                digest.update(chunk)
                received += len(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            channel = await link.l2cap_connect(psm=PSM)
            await channel.send_all(data)
            await channel.send_eof()
        assert received == size
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


async def test_refusals_carry_the_result(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stack_pair() as (a, b), bredr_link(a, b) as (link, _):
        with pytest.raises(L2capConnectionRefused) as refused:
            await link.l2cap_connect(psm=PSM)
        assert refused.value.result == ConnectionResult.PSM_NOT_SUPPORTED
        with pytest.raises(L2capConnectionRefused, match="not available") as local:
            await link.l2cap_connect(
                psm=PSM,
                mode=ChannelMode.RETRANSMISSION,
                mode_policy=ModePolicy.REQUIRE,
            )
        assert local.value.result == 0xFFFF
        with pytest.raises(InvalidArgumentError, match="not valid"):
            await link.l2cap_connect(psm=0x0002)
        with pytest.raises(InvalidArgumentError):
            await link.l2cap_connect(psm=PSM, mtu=47)
        async with b.l2cap_listen(psm=PSM) as listener:
            # A mode the listener does not use falls back to basic when the policy allows it.
            channel = await link.l2cap_connect(psm=PSM, mode=ChannelMode.STREAMING)
            assert channel.mode is ChannelMode.BASIC
            served = await listener.accept()
            with pytest.raises(InvalidArgumentError, match="already"):
                async with b.l2cap_listen(psm=PSM):
                    pass
            await served.aclose()
            assert await channel.receive_some() == b""


async def test_link_loss_breaks_the_channels(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        open_stack_pair() as (a, b),
        b.l2cap_listen(psm=PSM) as listener,
        bredr_link(a, b) as (link, _peer_link),
    ):
        channel = await link.l2cap_connect(psm=PSM)
        served = await listener.accept()
        await served.send_sdu(b"last words")
        assert await channel.receive_sdu() == b"last words"
        async with trio.open_nursery() as nursery:

            async def pending_receive() -> None:
                with pytest.raises(trio.BrokenResourceError, match="link closed"):
                    await served.receive_some()

            nursery.start_soon(pending_receive)
            await trio.testing.wait_all_tasks_blocked()
            await link.disconnect()
        with pytest.raises(trio.BrokenResourceError, match="link closed"):
            await channel.send_sdu(b"into the void")


async def test_a_protected_psm_pairs_before_it_accepts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    options = {"pairing_delegate": Confirming(), "pairable": True}
    async with open_stack_pair(options, options) as (a, b):
        requirement = SecurityRequirement(authentication=True, encryption=True)
        async with (
            b.l2cap_listen(psm=PSM, security=requirement) as listener,
            bredr_link(a, b) as (link, _),
        ):
            assert not link.encrypted
            channel = await link.l2cap_connect(psm=PSM)
            served = await listener.accept()
            assert link.encrypted
            await channel.send_sdu(b"secret")
            assert await served.receive_sdu() == b"secret"


async def test_serve_listeners_takes_the_listener(autojump_clock: trio.testing.MockClock) -> None:
    async def echo(channel: L2capChannel) -> None:
        async with channel:
            while data := await channel.receive_some():
                await channel.send_all(data)

    async with (
        open_stack_pair() as (a, b),
        b.l2cap_listen(psm=PSM) as listener,
        bredr_link(a, b) as (link, _),
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(trio.serve_listeners, echo, [listener])
        for round_ in range(3):
            channel = await link.l2cap_connect(psm=PSM)
            await channel.send_sdu(b"hello %d" % round_)
            assert await channel.receive_sdu() == b"hello %d" % round_
            await channel.aclose()
        nursery.cancel_scope.cancel()


async def test_a_reader_that_falls_behind_its_receive_limit_breaks_the_channel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_stack_pair() as (a, b),
        b.l2cap_listen(psm=PSM, receive_limit=10_000) as listener,
        bredr_link(a, b) as (link, _),
    ):
        channel = await link.l2cap_connect(psm=PSM)
        served = await listener.accept()
        # Nobody reads on the other side: the sender learns that the channel was closed.
        with pytest.raises(trio.BrokenResourceError, match="peer closed"):
            await channel.send_all(pattern(200_000))
        assert await channel.receive_some() == b""
        with pytest.raises(trio.BrokenResourceError, match="were not read"):
            await served.receive_sdu()


async def test_a_full_listener_backlog_refuses_with_no_resources(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Vol 3 Part A 4.3: result 0x0004, and the channels already waiting stay open.
    monkeypatch.setattr("bluetrio.l2cap.LISTEN_BACKLOG", 2)
    async with (
        open_stack_pair() as (a, b),
        bredr_link(a, b) as (link, _),
        b.l2cap_listen(psm=PSM) as listener,
    ):
        waiting = [await link.l2cap_connect(psm=PSM) for _ in range(2)]
        with pytest.raises(L2capConnectionRefused) as refused:
            await link.l2cap_connect(psm=PSM)
        assert refused.value.result == ConnectionResult.NO_RESOURCES
        accepted = await listener.accept()
        third = await link.l2cap_connect(psm=PSM)
        await waiting[0].send_sdu(b"first")
        assert await accepted.receive_sdu() == b"first"
        for channel in (*waiting, third):
            await channel.send_sdu(b"still open")


async def test_a_lost_connection_request_is_sent_again_and_the_channel_opens(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Vol 3 Part A 6.2.1: after the RTX, the same request (same identifier) once more.
    def connection_requests(frame: object) -> bool:
        data = getattr(frame, "data", b"")
        return isinstance(frame, AclFrame) and data[2:4] == b"\x01\x00" and data[4:5] == b"\x02"

    air = Air(name="connection request lost once")
    async with (
        open_stack_pair(air=air) as (a, b),
        bredr_link(a, b) as (link, _),
        b.l2cap_listen(psm=PSM) as listener,
    ):
        air.faults.drop(connection_requests, count=1)
        started = trio.current_time()
        channel = await link.l2cap_connect(psm=PSM)
        assert trio.current_time() - started >= RTX_TIMEOUT
        peer = await listener.accept()
        await channel.send_sdu(b"after a retransmission")
        assert await peer.receive_sdu() == b"after a retransmission"
