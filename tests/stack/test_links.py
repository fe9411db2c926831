"""BTM on the virtual controller: two stacks in one trio run share one air."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from bluetrio.actors.btm.config import StackConfig
from bluetrio.address import Address
from bluetrio.bonds import Bond, KeyDistribution, Transport
from bluetrio.errors import ConnectionFailedError, ConnectionTimeoutError, InvalidArgumentError
from bluetrio.keystore import MemoryKeyStore
from bluetrio.messages.ad import AdvertisingData, Flags, LocalName
from bluetrio.messages.btm import ConnectionPolicy, LinkTransport, Role
from bluetrio.stack import open_stack

IRK = bytes.fromhex("ec0234a357c8ad05341010a60a397d9b")
NAME = AdvertisingData([Flags(0x06), LocalName("alpha")])


async def test_le_advertise_scan_connect_disconnect_in_both_roles() -> None:
    async with open_stack("virtual", bring_up=True) as a, open_stack("virtual", bring_up=True) as b:
        a_info, b_info = await a.ready(), await b.ready()
        async with a.advertise(NAME), b.scan(duration=5) as scans:
            async for report in scans:
                if report.address == a_info.address:
                    break
            assert report.name == "alpha" and report.connectable and report.rssi is not None
            async with b.connect(a_info.address, timeout=5) as link, a.accept() as peer_side:
                assert link.role is Role.CENTRAL and link.transport is LinkTransport.LE
                assert a.links == (peer_side,)
                assert peer_side.role is Role.PERIPHERAL and peer_side.address == b_info.address
                # The central disconnects; the peripheral's link sees the remote reason.
                await link.disconnect()
                assert not link.connected and link.disconnect_reason == 0x16
                with trio.fail_after(5):
                    assert await peer_side.wait_disconnected() == 0x13
        assert a.links == () and b.links == ()
        # And the other way round.
        async with b.advertise(NAME), a.connect(b_info.address, timeout=5) as link:
            assert link.role is Role.CENTRAL and b.links[0].role is Role.PERIPHERAL


async def test_bredr_inquiry_name_page_and_policy() -> None:
    async with open_stack("virtual", bring_up=True) as a, open_stack("virtual", bring_up=True) as b:
        b_address = (await b.ready()).address
        await b.set_discoverable(True)
        found = await a.inquiry(2.56)
        [result] = [r for r in found if r.address == b_address]
        assert result.name == "bluetrio" and result.rssi is not None
        assert await a.remote_name(b_address) == "bluetrio"
        async with (
            a.connect(b_address, transport=LinkTransport.BR_EDR) as link,
            b.accept(LinkTransport.BR_EDR) as peer_side,
        ):
            assert link.role is Role.CENTRAL and link.transport is LinkTransport.BR_EDR
            assert peer_side.role is Role.PERIPHERAL and b.links == (peer_side,)
        with trio.fail_after(5):
            await peer_side.wait_disconnected()
        await b.set_connection_policy(ConnectionPolicy.ACCEPT_BONDED)
        with pytest.raises(ConnectionFailedError) as failure:
            async with a.connect(b_address, transport=LinkTransport.BR_EDR):
                pass
        assert failure.value.status == 0x0F
        assert a.links == ()


def test_connect_timeout_and_cancel() -> None:
    async def scenario() -> None:
        async with open_stack("virtual", bring_up=True) as a:
            nobody = Address.parse("00:00:00:00:00:99")
            with pytest.raises(ConnectionTimeoutError):
                async with a.connect(nobody, timeout=2):
                    pass
            with trio.move_on_after(1) as scope:
                async with a.connect(nobody, timeout=30):
                    pass
            assert scope.cancelled_caught
            # The attempt was really cancelled: a new one is accepted.
            with pytest.raises(ConnectionTimeoutError):
                async with a.connect(nobody, timeout=1):
                    pass
            with pytest.raises(InvalidArgumentError):
                await a.disconnect(1, reason=0x01)

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_bonded_peer_is_recognised_under_its_rpa() -> None:
    private = StackConfig(privacy=True, local_irk=IRK)
    async with open_stack("virtual", config=private, bring_up=True) as a:
        identity = (await a.ready()).address
        keystore = MemoryKeyStore(Address.parse("00:00:00:00:00:00"))
        bond = Bond(
            keystore.local_address, identity, Transport.LE, peer_keys=KeyDistribution(irk=IRK)
        )
        await keystore.save(bond)
        async with open_stack("virtual", keystore=keystore, bring_up=True) as b:
            async with a.advertise(NAME), b.scan(duration=5) as scans:
                async for report in scans:
                    if report.resolved:
                        break
            assert report.address == identity
