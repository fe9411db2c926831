"""HCI commands per procedure on the virtual controller: what the stack already knows is not
read again, and no read of the peer's features is sent unless asked (counts, not time)."""

from __future__ import annotations

from bluetrio.messages import hci
from bluetrio.messages.btm import LinkTransport
from bluetrio.pairing import PairingDelegate
from bluetrio.stack import open_stack
from bluetrio.testing import CommandCounter, counted_transport

FEATURE_READS = {
    hci.LeReadRemoteFeatures.OPCODE,
    hci.ReadRemoteSupportedFeatures.OPCODE,
    hci.ReadRemoteExtendedFeatures.OPCODE,
}


def sent(*counters: CommandCounter) -> int:
    return sum(len(counter.opcodes) for counter in counters)


async def test_bringup_commands_and_no_local_name_read() -> None:
    async with counted_transport(None) as transport, open_stack(transport, bring_up=True) as s:
        info = await s.ready()
    assert hci.ReadLocalName.OPCODE not in transport.opcodes
    assert hci.WriteLocalName.OPCODE in transport.opcodes
    assert info.local_name == "bluetrio"
    assert hci.HostBufferSize.OPCODE in transport.opcodes
    assert len(transport.opcodes) == 22


async def test_le_connect_is_one_command_and_disconnect_one() -> None:
    async with (
        counted_transport(None) as ta,
        counted_transport(None) as tb,
        open_stack(ta, bring_up=True) as a,
        open_stack(tb, bring_up=True) as b,
    ):
        b_address = (await b.ready()).address
        await a.ready()
        async with b.advertise():
            before = sent(ta, tb)
            link = await a.open_link(b_address, timeout=5)
            connected = sent(ta, tb)
            await link.disconnect()
            assert connected - before == 1  # LE Create Connection
            assert sent(ta, tb) - connected == 1  # Disconnect
        assert not FEATURE_READS & {*ta.opcodes, *tb.opcodes}


async def test_disconnect_right_after_connect_goes_before_any_feature_read() -> None:
    async with (
        counted_transport(None) as ta,
        open_stack(ta, bring_up=True) as a,
        open_stack("virtual", bring_up=True) as b,
    ):
        b_address = (await b.ready()).address
        await a.ready()
        async with b.advertise():
            link = await a.open_link(b_address, timeout=5)
            start = len(ta.opcodes)
            await link.disconnect()
        # The connection complete started no read that the Disconnect would queue behind.
        assert ta.opcodes[start] == hci.Disconnect.OPCODE
        assert not FEATURE_READS & set(ta.opcodes)


async def test_le_remote_features_are_read_when_asked() -> None:
    async with open_stack("virtual", bring_up=True) as a, open_stack("virtual", bring_up=True) as b:
        b_info = await b.ready()
        await a.ready()
        async with b.advertise(), a.connect(b_info.address, timeout=5) as link:
            assert link.remote_features == ()
            [le_features] = await link.read_remote_features()
            assert le_features != 0
            assert link.remote_features == (le_features,)


async def test_bredr_connect_ssp_encrypt_commands_and_features_after() -> None:
    async with (
        counted_transport(None) as ta,
        counted_transport(None) as tb,
        open_stack(ta, bring_up=True, pairing_delegate=PairingDelegate()) as a,
        open_stack(tb, bring_up=True, pairing_delegate=PairingDelegate(), pairable=True) as b,
    ):
        b_info = await b.ready()
        await a.ready()
        await b.set_discoverable(True)
        before = sent(ta, tb)
        link = await a.open_link(b_info.address, transport=LinkTransport.BR_EDR, timeout=5)
        await link.pair()
        assert sent(ta, tb) - before == 11
        assert not FEATURE_READS & {*ta.opcodes, *tb.opcodes}
        # Asked for, the pages come from the controller: page 0, 1 and 2 (Secure Connections).
        pages = await link.read_remote_features()
        assert len(pages) == 3 and link.remote_features == pages
        await link.disconnect()
