"""The application edge of a whole stack: event mailboxes, live links, incoming connections."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from bluetrio import (
    AdvertisingData,
    ConnectionTimeoutError,
    IncomingLinks,
    Link,
    LinkTransport,
    LocalName,
    Role,
    SecurityLevel,
    Stack,
    StackError,
    open_stack,
)
from bluetrio.actors.app_port import MailboxKey
from bluetrio.messages import hci
from bluetrio.messages.hci_service import HciEventInd

NAME = AdvertisingData([LocalName("edge")])


def run(test: object) -> None:
    trio.run(test, clock=MockClock(autojump_threshold=0))  # type: ignore[arg-type]


async def test_closing_the_events_mailbox_early_keeps_the_stack_running() -> None:
    # Closing the channel from events() used to make the next mirrored event raise
    # trio.BrokenResourceError inside the app port, which stopped the whole stack.
    async with open_stack("virtual", bring_up=True) as stack:
        events = stack.events()
        events.close()
        await stack.inquiry(1.28)  # Inquiry Complete is an event the port would mirror
        await stack.command(hci.ReadBdAddr())


async def test_events_mailbox_closed_by_with_and_filtered() -> None:
    async with open_stack("virtual", bring_up=True) as stack:
        with stack.events(lambda event: isinstance(event, hci.InquiryComplete)) as events:
            await stack.inquiry(1.28)
            indication = events.receive_nowait()
            assert isinstance(indication.event, hci.InquiryComplete)
            with pytest.raises(trio.WouldBlock):
                events.receive_nowait()
        assert events.closed
        assert MailboxKey(HciEventInd) not in stack.app.router.mailboxes  # nobody reads them
        # ... so the events no longer travel to the app at all.
        assert stack.runtime.topology.route("hci", indication) == ("btm",)
        await stack.inquiry(1.28)


def test_accept_an_le_central_then_see_it_leave() -> None:
    async def main() -> None:
        async with (
            open_stack("virtual", bring_up=True) as peripheral,
            open_stack("virtual", bring_up=True) as central,
        ):
            address = (await peripheral.ready()).address
            async with peripheral.advertise(NAME), central.connect(address) as link:
                async with peripheral.accept(LinkTransport.LE) as incoming:
                    assert isinstance(incoming, Link) and incoming.connected
                    assert incoming.role is Role.PERIPHERAL and incoming.handle == 1
                    assert incoming.security_level is SecurityLevel.NONE
                    await link.disconnect()
                    assert await incoming.wait_disconnected() == 0x13
                    assert not incoming.connected and incoming.disconnect_reason == 0x13
                # Leaving the block of a link already down returns at once.
                assert peripheral.links == ()

    run(main)


def test_accept_a_bredr_pager() -> None:
    async def main() -> None:
        async with (
            open_stack("virtual", bring_up=True) as acceptor,
            open_stack("virtual", bring_up=True) as pager,
        ):
            address = (await acceptor.ready()).address
            async with pager.connect(address, transport=LinkTransport.BR_EDR) as link:
                async with acceptor.accept() as incoming:
                    assert incoming.transport is LinkTransport.BR_EDR
                    assert incoming.peer == (await pager.ready()).address
                # The acceptor's block ended first: the pager sees the remote disconnect.
                assert await link.wait_disconnected() == 0x13

    run(main)


def test_incoming_serves_several_centrals_and_keeps_early_arrivals() -> None:
    async def main() -> None:
        async with (
            open_stack("virtual", bring_up=True) as peripheral,
            open_stack("virtual", bring_up=True) as first,
            open_stack("virtual", bring_up=True) as second,
        ):
            address = (await peripheral.ready()).address
            expected = [(await first.ready()).address, (await second.ready()).address]
            # Legacy advertising ends with a connection: advertise again for the second.
            async with peripheral.advertise(NAME):
                one = await first.open_link(address)
            async with peripheral.advertise(NAME):
                two = await second.open_link(address)
            # Both connected before anyone asked: they waited in the backlog, oldest first.
            async with one, two:
                seen = []
                async for link in peripheral.incoming():
                    async with link:
                        seen.append(link.peer)
                    if len(seen) == 2:
                        break
                assert seen == expected
                assert await one.wait_disconnected() == await two.wait_disconnected() == 0x13

    run(main)


def test_accept_times_out() -> None:
    async def main() -> None:
        async with open_stack("virtual", bring_up=True) as stack:
            with pytest.raises(ConnectionTimeoutError) as failure:
                async with stack.accept(timeout=3):
                    pass
            assert failure.value.status == 0x10

    run(main)


def test_waiting_for_incoming_links_ends_when_the_stack_closes() -> None:
    async def main() -> None:
        ended: list[str] = []

        async def serve(links: IncomingLinks) -> None:
            async for _ in links:
                raise AssertionError("nobody connected")
            ended.append("incoming")

        async def accept(stack: Stack) -> None:
            with pytest.raises(StackError, match="closed"):
                async with stack.accept():
                    raise AssertionError("nobody connected")
            ended.append("accept")

        async with (
            trio.open_nursery() as outside,
            open_stack("virtual", bring_up=True) as stack,
        ):
            outside.start_soon(serve, stack.incoming())
            outside.start_soon(accept, stack)
            await trio.testing.wait_all_tasks_blocked()
        assert sorted(ended) == ["accept", "incoming"]

    run(main)


def test_accept_by_transport_takes_the_matching_link_from_a_mixed_backlog() -> None:
    async def main() -> None:
        async with (
            open_stack("virtual", bring_up=True) as server,
            open_stack("virtual", bring_up=True) as pager,
            open_stack("virtual", bring_up=True) as central,
        ):
            address = (await server.ready()).address
            classic = await pager.open_link(address, transport=LinkTransport.BR_EDR)
            async with server.advertise(NAME):
                low_energy = await central.open_link(address)
            async with classic, low_energy:
                async with server.accept(LinkTransport.LE) as first:
                    assert first.transport is LinkTransport.LE
                    assert first.peer == (await central.ready()).address
                async for second in server.incoming(LinkTransport.BR_EDR):
                    async with second:
                        assert second.transport is LinkTransport.BR_EDR
                        assert second.peer == (await pager.ready()).address
                    break

    run(main)
