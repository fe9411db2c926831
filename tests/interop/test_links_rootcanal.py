"""Two bluetrio stacks on Root Canal (two TCP connections, two controllers on one phy): our
host driving an independent controller through LE advertising, scanning and connections, and
BR/EDR inquiry, remote name, paging, accepting and disconnection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
import trio
from interop_support import TEST_LIMIT

from bluetrio.actors.app_port import Mailbox
from bluetrio.messages.ad import AdvertisingData, Flags, LocalName
from bluetrio.messages.base import Message
from bluetrio.messages.btm import (
    ConnectionRequestInd,
    LinkDownInd,
    LinkTransport,
    LinkUpInd,
    Role,
)
from bluetrio.stack import Stack, open_stack

pytestmark = pytest.mark.interop

ADVERTISED = AdvertisingData([Flags(0x06), LocalName("rootcanal-peripheral")])
REMOTE_USER_TERMINATED = 0x13
# Guards against a hang only; Root Canal pages in about a second.
STEP_LIMIT = 5.0


@contextlib.asynccontextmanager
async def two_stacks(hci_port: int) -> AsyncIterator[tuple[Stack, Stack]]:
    spec = f"tcp:127.0.0.1:{hci_port}"
    async with open_stack(spec, bring_up=True) as first, open_stack(spec, bring_up=True) as second:
        yield first, second


async def next_message(channel: Mailbox[Message], kind: type[Message]) -> Message:
    """The next message of ``kind`` on ``channel`` (subscribed before the action causing it)."""
    with trio.fail_after(STEP_LIMIT):
        async for message in channel:
            if isinstance(message, kind):
                return message
    raise AssertionError(f"the channel closed before a {kind.__name__}")


def link_updates(stack: Stack) -> Mailbox[Message]:
    return stack.app.open_mailbox(LinkUpInd, LinkDownInd, ConnectionRequestInd)


async def test_le_advertise_scan_connect_disconnect(rootcanal_hci_port: int) -> None:
    with trio.fail_after(TEST_LIMIT):
        async with two_stacks(rootcanal_hci_port) as (peripheral, central):
            peripheral_address = (await peripheral.ready()).address
            central_address = (await central.ready()).address
            updates = link_updates(peripheral)
            async with peripheral.advertise(ADVERTISED):
                # The scan is stopped as soon as the peripheral is found.
                with trio.fail_after(STEP_LIMIT):
                    async with central.scan() as reports:
                        async for report in reports:
                            if report.address == peripheral_address:
                                break
                assert report.name == "rootcanal-peripheral"
                assert report.connectable and report.rssi is not None
                async with central.connect(peripheral_address, timeout=STEP_LIMIT) as link:
                    assert link.transport is LinkTransport.LE and link.role is Role.CENTRAL
                    assert link.address == peripheral_address
                    up = await next_message(updates, LinkUpInd)
                    assert isinstance(up, LinkUpInd)
                    assert up.link.role is Role.PERIPHERAL and up.link.address == central_address
                    assert up.link.transport is LinkTransport.LE
                    assert [c.handle for c in central.links] == [link.handle]
                down = await next_message(updates, LinkDownInd)
            assert isinstance(down, LinkDownInd)
            assert (down.handle, down.reason) == (up.link.handle, REMOTE_USER_TERMINATED)
            assert peripheral.links == () and central.links == ()


async def test_bredr_inquiry_name_page_accept_disconnect(rootcanal_hci_port: int) -> None:
    with trio.fail_after(TEST_LIMIT):
        async with two_stacks(rootcanal_hci_port) as (acceptor, pager):
            acceptor_address = (await acceptor.ready()).address
            pager_address = (await pager.ready()).address
            await acceptor.set_discoverable(True)
            # As long as the default Inquiry_Scan_Interval (2.56 s, Vol 4 Part E 7.3.21): a
            # shorter inquiry finds the acceptor only if its scan happens to fall inside.
            found = await pager.inquiry(2.56)
            [result] = [r for r in found if r.address == acceptor_address]
            # The name comes from the extended inquiry response the bring-up wrote.
            assert result.name == "bluetrio"
            assert await pager.remote_name(acceptor_address) == "bluetrio"

            updates = link_updates(acceptor)
            async with pager.connect(
                acceptor_address, transport=LinkTransport.BR_EDR, timeout=STEP_LIMIT
            ) as link:
                assert link.transport is LinkTransport.BR_EDR and link.role is Role.CENTRAL
                request = await next_message(updates, ConnectionRequestInd)
                assert isinstance(request, ConnectionRequestInd)
                assert request.address == pager_address and request.accepted
                up = await next_message(updates, LinkUpInd)
                assert isinstance(up, LinkUpInd)
                assert up.link.transport is LinkTransport.BR_EDR
                assert up.link.role is Role.PERIPHERAL and up.link.address == pager_address
            down = await next_message(updates, LinkDownInd)
            assert isinstance(down, LinkDownInd)
            assert (down.handle, down.reason) == (up.link.handle, REMOTE_USER_TERMINATED)
            assert acceptor.links == () and pager.links == ()
