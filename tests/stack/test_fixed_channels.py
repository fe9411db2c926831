"""Fixed L2CAP channels as the application uses them (``link.fixed_channel(cid)``) between two
bluetrio stacks on the virtual controller: raw PDUs on ATT (in stacks without the gatt actor,
``StackConfig(gatt=False)``) and SMP (Core 5.4 Vol 3 Part A 2.1)."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from bluetrio import FixedChannelUnavailable, Link, Stack, StackConfig
from bluetrio.actors.topology import Layer
from bluetrio.errors import ConnectionClosedError, InvalidArgumentError
from bluetrio.fixed_channels import FIXED_SEND_WINDOW
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.l2cap import FixedCid, InformationType
from bluetrio.messages.l2cap_service import L2caInfoCnf, L2caInfoReq
from bluetrio.testing import open_stack_pair

ATT = FixedCid.ATT
SMP = FixedCid.SMP
# The gatt actor holds ATT's channel; these stacks leave it to the application.
RAW_ATT = {"config": StackConfig(gatt=False)}


@contextlib.asynccontextmanager
async def le_link(a: Stack, b: Stack) -> AsyncIterator[tuple[Link, Link]]:
    address = (await b.ready()).address
    async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE) as peer:
        yield link, peer


@contextlib.asynccontextmanager
async def bredr_link(a: Stack, b: Stack) -> AsyncIterator[tuple[Link, Link]]:
    address = (await b.ready()).address
    await b.set_discoverable(True)
    async with (
        a.connect(address, transport=LinkTransport.BR_EDR) as link,
        b.accept(LinkTransport.BR_EDR) as peer_link,
    ):
        yield link, peer_link


async def test_raw_att_pdus_both_ways(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        open_stack_pair(RAW_ATT, RAW_ATT) as (a, b),
        le_link(a, b) as (link, peer_link),
        link.fixed_channel(ATT) as client,
        peer_link.fixed_channel(ATT) as server,
    ):
        await client.send(bytes([0x02, 0x00, 0x02]))  # ATT Exchange MTU Request, 512
        assert await server.receive() == bytes([0x02, 0x00, 0x02])
        await server.send(bytes([0x03, 0x17, 0x00]))  # ATT Exchange MTU Response, 23
        assert await client.receive() == bytes([0x03, 0x17, 0x00])
        # Many PDUs: send waits on the window, the controller confirms them, order is kept.
        async with trio.open_nursery() as nursery:

            async def send_many() -> None:
                for n in range(4 * FIXED_SEND_WINDOW):
                    await client.send(struct.pack("<BH", 0x52, n))  # Write Command
                await client.wait_sent()

            nursery.start_soon(send_many)
            for n in range(4 * FIXED_SEND_WINDOW):
                assert await server.receive() == struct.pack("<BH", 0x52, n)


async def test_att_while_the_security_manager_pairs_on_smp(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_stack_pair(RAW_ATT, {**RAW_ATT, "pairable": True}) as (a, b),
        le_link(a, b) as (link, peer_link),
        link.fixed_channel(ATT) as att,
        peer_link.fixed_channel(ATT) as peer_att,
    ):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link.pair)
            for n in range(8):
                await att.send(bytes([0x0A, n, 0x00]))  # Read Request
                assert await peer_att.receive() == bytes([0x0A, n, 0x00])
        assert link.encrypted


async def test_a_lost_link_breaks_the_channel_after_what_was_received(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stack_pair(RAW_ATT, RAW_ATT) as (a, b), le_link(a, b) as (link, peer_link):
        async with link.fixed_channel(ATT) as client, peer_link.fixed_channel(ATT) as server:
            await client.send(b"\x12last")
            await client.wait_sent()
            with trio.fail_after(5):
                while not server._endpoint.received:
                    await trio.sleep(0.01)
            await link.disconnect()
            assert await server.receive() == b"\x12last"
            with pytest.raises(trio.BrokenResourceError):
                await server.receive()
            with pytest.raises(trio.BrokenResourceError):
                await client.send(b"\x12more")
        with pytest.raises(ConnectionClosedError):
            async with link.fixed_channel(ATT):
                pass


async def test_cids_that_cannot_be_had(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stack_pair(RAW_ATT, RAW_ATT) as (a, b), le_link(a, b) as (link, _):
        for cid in (FixedCid.SIGNALING, FixedCid.LE_SIGNALING, FixedCid.SMP_BR_EDR, 0x0003):
            with pytest.raises(FixedChannelUnavailable):
                async with link.fixed_channel(cid):
                    pass
        with pytest.raises(InvalidArgumentError):
            async with link.fixed_channel(0x0040):
                pass
        async with link.fixed_channel(ATT) as channel:
            with pytest.raises(FixedChannelUnavailable, match="already open"):
                async with link.fixed_channel(ATT):
                    pass
            with pytest.raises(InvalidArgumentError):
                await channel.send(bytes(0x10000))
        # Held by another layer: the Security Manager's.
        with pytest.raises(FixedChannelUnavailable, match="another layer") as taken:
            async with link.fixed_channel(SMP):
                pass
        assert taken.value.cid == SMP


async def test_a_peer_flooding_an_unread_channel_breaks_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        open_stack_pair(RAW_ATT, RAW_ATT) as (a, b),
        le_link(a, b) as (link, peer_link),
        link.fixed_channel(ATT) as client,
        peer_link.fixed_channel(ATT, receive_limit=4) as server,
    ):
        for n in range(5):
            await client.send(bytes([0x52, n]))
        await client.wait_sent()
        with trio.fail_after(5):
            while server._endpoint.ended is None:
                await trio.sleep(0.01)
        with pytest.raises(trio.BrokenResourceError, match="not read"):
            await server.receive()


async def test_the_information_response_lists_a_bredr_fixed_channel_only_while_open(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Vol 3 Part A 4.12: the Fixed Channels Supported mask is what is registered.
    async with open_stack_pair() as (a, b), bredr_link(a, b) as (link, peer_link):

        async def peer_mask() -> int:
            request = L2caInfoReq(
                a.runtime.new_token(), link.handle, InformationType.FIXED_CHANNELS
            )
            reply = await a.app.request(Layer.L2CAP, request)
            assert isinstance(reply, L2caInfoCnf) and reply.result == 0
            return int(struct.unpack("<Q", reply.data)[0])

        assert await peer_mask() == 1 << FixedCid.SIGNALING
        async with peer_link.fixed_channel(FixedCid.SMP_BR_EDR) as smp:
            assert await peer_mask() == (1 << FixedCid.SIGNALING) | (1 << FixedCid.SMP_BR_EDR)
            async with link.fixed_channel(FixedCid.SMP_BR_EDR) as ours:
                await ours.send(bytes([0x01, 0x03, 0x00, 0x01, 0x10, 0x00, 0x00]))
                assert await smp.receive() == bytes([0x01, 0x03, 0x00, 0x01, 0x10, 0x00, 0x00])
        assert await peer_mask() == 1 << FixedCid.SIGNALING


async def test_the_gatt_actor_holds_the_att_channel(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stack_pair() as (a, b), le_link(a, b) as (link, _):
        with pytest.raises(FixedChannelUnavailable, match="another layer") as taken:
            async with link.fixed_channel(ATT):
                pass
        assert taken.value.cid == ATT
