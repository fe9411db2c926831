"""RFCOMM DLCs between two bluetrio stacks on the virtual controller: by server channel, both
directions, several DLCs on one multiplexer, megabytes with a checksum, and the multiplexer
opened by both sides at once (RFCOMM 1.2; TS 07.10)."""

from __future__ import annotations

import hashlib
import logging

import pytest
import trio
import trio.testing

import bluetrio.rfcomm
import bluetrio.stack
from bluetrio import (
    LineStatus,
    ModemStatus,
    Parity,
    PortParameter,
    RfcommError,
    RfcommStream,
    Stack,
)
from bluetrio.actors.faults import FaultPolicy
from bluetrio.actors.rfcomm.control_blocks import T1
from bluetrio.actors.rfcomm.core import RfcommCore
from bluetrio.actors.topology import Layer
from bluetrio.address import Address
from bluetrio.controller import Air
from bluetrio.errors import InvalidArgumentError, ServiceNotFound
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.btm_security import IoCapability, SecurityRequirement
from bluetrio.messages.l2cap_service import L2caDataReq
from bluetrio.messages.rfcomm import FrameType
from bluetrio.pairing import PairingDelegate
from bluetrio.testing import open_stack_pair
from bluetrio.testing.pair import open_virtual_stack
from bluetrio.testing.rfcomm_core import ScriptedRandom


def pattern(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(seed.to_bytes(4, "little")).digest() * 64
    return (block * (size // len(block) + 1))[:size]


async def read_exactly(stream: RfcommStream, size: int) -> bytes:
    parts = []
    got = 0
    while got < size:
        data = await stream.receive_some()
        assert data, "the stream ended early"
        parts.append(data)
        got += len(data)
    return b"".join(parts)


async def address_of(stack: Stack) -> str:
    info = await stack.ready()
    await stack.set_discoverable(True)
    return str(info.address)


async def test_a_dlc_by_channel_carries_bytes_both_ways(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stack_pair() as (a, b), b.rfcomm_listen(channel=5) as listener:
        stream = await a.rfcomm_connect(await address_of(b), channel=5)
        served = await listener.accept()
        assert stream.channel == served.channel == 5
        assert stream.frame_size == served.frame_size > 600
        await stream.send_all(b"ping")
        assert await served.receive_some() == b"ping"
        await served.send_all(pattern(5000))
        assert await read_exactly(stream, 5000) == pattern(5000)
        await stream.aclose()
        assert await served.receive_some() == b""
        with pytest.raises(trio.BrokenResourceError):
            await served.send_all(b"late")
        await served.aclose()


async def test_megabytes_with_a_checksum_each_way(autojump_clock: trio.testing.MockClock) -> None:
    size = 3 << 20
    async with open_stack_pair() as (a, b), b.rfcomm_listen() as listener:
        stream = await a.rfcomm_connect(await address_of(b), channel=listener.channel)
        served = await listener.accept()
        for sender, receiver, seed in ((stream, served, 1), (served, stream, 2)):
            data = pattern(size, seed)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sender.send_all, data)
                received = await read_exactly(receiver, size)
            assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()
        await stream.send_eof()


async def test_several_dlcs_on_one_multiplexer(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        open_stack_pair() as (a, b),
        b.rfcomm_listen(channel=1) as first,
        b.rfcomm_listen(channel=2) as second,
        a.rfcomm_listen(channel=3) as back,
    ):
        address = await address_of(b)
        one = await a.rfcomm_connect(address, channel=1)
        two = await a.rfcomm_connect(address, channel=2)
        served_one, served_two = await first.accept(), await second.accept()
        assert one.handle == two.handle and one.dlci != two.dlci
        # The other direction on the same multiplexer: the DLCI's direction bit differs.
        info = await a.ready()
        reverse = await b.rfcomm_connect(str(info.address), channel=3)
        served_back = await back.accept()
        assert reverse.dlci % 2 == 1
        await one.send_all(b"one")
        await two.send_all(b"two")
        await reverse.send_all(b"three")
        assert await served_one.receive_some() == b"one"
        assert await served_two.receive_some() == b"two"
        assert await served_back.receive_some() == b"three"
        for stream in (one, two, reverse, served_one, served_two, served_back):
            await stream.aclose()


async def test_an_unregistered_channel_is_refused(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stack_pair() as (a, b), b.rfcomm_listen(channel=4):
        with pytest.raises(RfcommError, match="DM"):
            await a.rfcomm_connect(await address_of(b), channel=9)
        with pytest.raises(InvalidArgumentError):
            await a.rfcomm_connect(await address_of(b), channel=31)


async def test_both_sides_open_the_multiplexer_at_once(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bluetrio.actors.rfcomm")
    async with (
        open_stack_pair() as (a, b),
        a.rfcomm_listen(channel=7) as at_a,
        b.rfcomm_listen(channel=7) as at_b,
    ):
        address_a, address_b = await address_of(a), await address_of(b)
        async with (
            a.connect(address_b, transport=LinkTransport.BR_EDR),
            b.accept(LinkTransport.BR_EDR),
        ):
            streams: dict[str, RfcommStream] = {}

            async def open_from(name: str, stack: Stack, address: str) -> None:
                streams[name] = await stack.rfcomm_connect(address, channel=7)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(open_from, "a", a, address_b)
                nursery.start_soon(open_from, "b", b, address_a)
            served_at_b, served_at_a = await at_b.accept(), await at_a.accept()
            await streams["a"].send_all(b"from a")
            await streams["b"].send_all(b"from b")
            assert await served_at_b.receive_some() == b"from a"
            assert await served_at_a.receive_some() == b"from b"
            assert streams["a"].handle == served_at_a.handle  # one multiplexer carries both
    assert caplog.text.count("both sides open RFCOMM") == 2


async def test_collision_back_offs_that_run_out_together_still_converge(
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Regression: with equal back-offs both sides gave their channel up for the other's and
    # both connects failed. Each stack's core draws the back-offs the test gives it.
    caplog.set_level(logging.INFO, logger="bluetrio.actors.rfcomm")
    backoffs = iter([[5.0, 2.0], [5.0, 6.0]])
    monkeypatch.setattr(
        bluetrio.stack, "RfcommCore", lambda: RfcommCore(ScriptedRandom(next(backoffs)))
    )
    async with (
        open_stack_pair() as (a, b),
        a.rfcomm_listen(channel=7) as at_a,
        b.rfcomm_listen(channel=7) as at_b,
    ):
        address_a, address_b = await address_of(a), await address_of(b)
        async with (
            a.connect(address_b, transport=LinkTransport.BR_EDR),
            b.accept(LinkTransport.BR_EDR),
        ):
            streams: dict[str, RfcommStream] = {}

            async def open_from(name: str, stack: Stack, address: str) -> None:
                streams[name] = await stack.rfcomm_connect(address, channel=7)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(open_from, "a", a, address_b)
                nursery.start_soon(open_from, "b", b, address_a)
            served_at_b, served_at_a = await at_b.accept(), await at_a.accept()
            await streams["a"].send_all(b"from a")
            assert await served_at_b.receive_some() == b"from a"
            await streams["b"].send_all(b"from b")
            assert await served_at_a.receive_some() == b"from b"
    assert caplog.text.count("both sides gave way in the collision") == 2


async def test_a_dlc_by_sdp_uuid(autojump_clock: trio.testing.MockClock) -> None:
    service = "0b1e0000-0000-4000-8000-00805f9b34fb"
    async with (
        open_stack_pair() as (a, b),
        b.rfcomm_listen(uuid=service, name="bluetrio test") as listener,
        b.rfcomm_listen(uuid=0x1101) as serial,
    ):
        address = await address_of(b)
        stream = await a.rfcomm_connect(address, uuid=service)
        served = await listener.accept()
        assert stream.channel == listener.channel != serial.channel
        await stream.send_all(b"found by SDP")
        assert await served.receive_some() == b"found by SDP"
        spp = await a.rfcomm_connect(address, uuid=0x1101)
        assert spp.channel == serial.channel
        await (await serial.accept()).aclose()
        await spp.aclose()
        await stream.aclose()
        with pytest.raises(InvalidArgumentError):
            await a.rfcomm_connect(address, channel=1, uuid=service)


async def test_a_uuid_nobody_serves_is_not_found(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stack_pair() as (a, b), b.rfcomm_listen(channel=2):
        with pytest.raises(ServiceNotFound):
            await a.rfcomm_connect(await address_of(b), uuid=0x1101)


class Confirming(PairingDelegate):
    io_capability = IoCapability.DISPLAY_YES_NO

    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        return True

    async def accept_pairing(self, peer: Address) -> bool:
        return True


async def test_a_protected_channel_pairs_before_the_dlc_opens(
    autojump_clock: trio.testing.MockClock,
) -> None:
    options = {"pairing_delegate": Confirming(), "pairable": True}
    async with open_stack_pair(options, options) as (a, b):
        requirement = SecurityRequirement(authentication=True, encryption=True)
        async with b.rfcomm_listen(channel=6, security=requirement) as listener:
            stream = await a.rfcomm_connect(await address_of(b), channel=6)
            served = await listener.accept()
            (link,) = a.links
            assert link.encrypted
            await stream.send_all(b"secret")
            assert await served.receive_some() == b"secret"


async def test_a_lost_link_breaks_pending_calls(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stack_pair() as (a, b), b.rfcomm_listen(channel=5) as listener:
        stream = await a.rfcomm_connect(await address_of(b), channel=5)
        served = await listener.accept()
        raised: list[BaseException] = []

        async def pending_receive() -> None:
            try:
                await stream.receive_some()
            except trio.BrokenResourceError as error:
                raised.append(error)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pending_receive)
            await trio.testing.wait_all_tasks_blocked()
            (link,) = b.links
            await link.disconnect()
        assert raised
        with pytest.raises(trio.BrokenResourceError):
            await stream.send_all(b"into the void")
        with pytest.raises(trio.BrokenResourceError):
            await served.receive_some()


async def test_a_link_is_held_while_the_peers_dlcs_use_it(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: closing the last stream we opened disconnected the link under the streams
    # the peer had opened on it; and the multiplexer was never closed before the link went.
    caplog.set_level(logging.INFO, logger="bluetrio.actors.rfcomm")
    async with (
        open_stack_pair() as (a, b),
        a.rfcomm_listen(channel=3) as at_a,
        b.rfcomm_listen(channel=5) as at_b,
    ):
        ours = await a.rfcomm_connect(await address_of(b), channel=5)  # opens the link
        served_at_b = await at_b.accept()
        theirs = await b.rfcomm_connect(await address_of(a), channel=3)  # on that link
        served_at_a = await at_a.accept()
        assert ours.peer == served_at_a.peer and ours.handle == served_at_a.handle
        assert str(ours.peer) == await address_of(b) and str(theirs.peer) == await address_of(a)
        assert (served_at_a.channel, served_at_a.dlci) == (3, theirs.dlci)
        await ours.aclose()
        assert await served_at_b.receive_some() == b""
        (link,) = a.links
        await theirs.send_all(b"still here")
        assert await served_at_a.receive_some() == b"still here"
        assert link.connected
        await served_at_a.aclose()  # the last stream on the link: multiplexer, then link
        await link.wait_disconnected()
        assert await theirs.receive_some() == b""
    # b heard DISC on DLCI 0 (it answered UA) before the link went down.
    assert "multiplexer closed: the peer closed the multiplexer" in caplog.text


async def test_a_full_backlog_refuses_the_dlc_with_dm(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: the DLC was opened (UA) and then closed, so the peer's connect succeeded.
    monkeypatch.setattr(bluetrio.rfcomm, "LISTEN_BACKLOG", 1)
    air = Air(name="backlog")
    async with (
        open_stack_pair(air=air) as (a, b),
        open_virtual_stack(air) as c,
        b.rfcomm_listen(channel=5) as listener,
    ):
        address = await address_of(b)
        waiting = await a.rfcomm_connect(address, channel=5)  # fills the backlog of one
        with pytest.raises(RfcommError, match="DM"):
            await c.rfcomm_connect(address, channel=5)
        served = await listener.accept()
        await waiting.send_all(b"first")
        assert await served.receive_some() == b"first"


async def test_the_serial_port_signals_settings_and_test_between_two_stacks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stack_pair() as (a, b), b.rfcomm_listen(channel=4) as listener:
        stream = await a.rfcomm_connect(await address_of(b), channel=4)
        served = await listener.accept()
        # Modem status: ours reaches the peer, which can wait for the next change.
        if served.peer_modem_status is None:  # the one each end sends as the DLC opens
            assert await served.wait_modem_status() == ModemStatus()
        async with trio.open_nursery() as nursery:
            seen: list[ModemStatus] = []

            async def watch() -> None:
                seen.append(await served.wait_modem_status())

            nursery.start_soon(watch)
            await trio.testing.wait_all_tasks_blocked()
            await stream.set_modem_status(ModemStatus(rtr=False, ic=True))
        assert seen == [ModemStatus(rtr=False, ic=True)]
        assert served.peer_modem_status == stream.modem_status == ModemStatus(rtr=False, ic=True)
        # A break of 0.6 s, counted in 200 ms.
        await stream.send_break(0.6)
        await trio.testing.wait_all_tasks_blocked()
        assert served.breaks == pytest.approx((0.6,))
        with pytest.raises(InvalidArgumentError):
            await stream.send_break(3.2)
        # RPN: the peer (a virtual port) takes the settings and both ends know them.
        settings, accepted = await stream.configure_port(bit_rate=115200, parity=Parity.ODD)
        assert (settings.bit_rate, settings.parity) == (115200, Parity.ODD)
        assert PortParameter.BIT_RATE in accepted and PortParameter.PARITY in accepted
        assert served.port_settings == settings == stream.port_settings
        assert (await served.configure_port())[0] == settings  # a query, the other way
        with pytest.raises(InvalidArgumentError):
            await stream.configure_port(data_bits=9)
        # Line errors: reported, flagged at the other end until taken.
        await served.report_line_errors(LineStatus.OVERRUN | LineStatus.FRAMING)
        await trio.testing.wait_all_tasks_blocked()
        assert stream.line_errors == LineStatus.OVERRUN | LineStatus.FRAMING
        assert stream.take_line_errors() == LineStatus.OVERRUN | LineStatus.FRAMING
        assert stream.line_errors == LineStatus.NONE
        # Test on the multiplexer, both ways.
        await stream.ping(b"are you there")
        await served.ping()
        await stream.aclose()
        with pytest.raises(trio.BrokenResourceError):
            await served.wait_modem_status()
        with pytest.raises(trio.ClosedResourceError):
            await stream.ping()


async def test_a_link_kept_for_a_dlc_the_peer_was_opening_goes_when_that_dlc_fails(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The last stream closed while the peer's DLC was under way (its PN here, its SABM lost):
    # the link stayed up for the DLC's stream, then for nobody once the DLC failed.
    faults = FaultPolicy()
    faults.drop(
        lambda hop: (
            hop.sender == Layer.RFCOMM
            and isinstance(hop.message, L2caDataReq)
            and hop.message.sdu[1] & 0xEF == FrameType.SABM
            and hop.message.sdu[0] >> 2 != 0
        )
    )
    async with (
        open_stack_pair(None, {"faults": faults}) as (a, b),
        a.rfcomm_listen(channel=3),
        b.rfcomm_listen(channel=5) as at_b,
    ):
        ours = await a.rfcomm_connect(await address_of(b), channel=5)  # opens the link
        await at_b.accept()
        (link,) = a.links
        address_a = await address_of(a)

        async def open_back() -> None:
            with pytest.raises(RfcommError):  # its SABM never reaches a
                await b.rfcomm_connect(address_a, channel=3)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(open_back)
            await trio.testing.wait_all_tasks_blocked()
            await ours.aclose()
            assert link.connected  # kept for the DLC b is opening
            with trio.fail_after(T1 + 10):
                await link.wait_disconnected()
