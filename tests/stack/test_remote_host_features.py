"""BTM's page-1 shortcut end to end: a Remote Host Supported Features Notification (Core 5.4
Vol 4 Part E 7.7.50), which a remote name request brings when it makes its own temporary
connection (7.1.19), gives the peer's host features page, so the next link's read of the
peer's features asks the controller for pages 0 and 2 only. A name request over an existing
link brings no notification."""

from __future__ import annotations

import trio.testing

from bluetrio.messages import hci
from bluetrio.messages.btm import LinkTransport
from bluetrio.stack import StackConfig, open_stack
from bluetrio.testing import counted_transport

AIR = "virtual:host-features"
HOST_FEATURES_PAGE = 1  # Vol 2 Part C 3.3
SSP_HOST_SUPPORT = 0x01  # page 1, bit 0 (Vol 2 Part C 3.3)
NOTIFICATION = 0x3D  # Remote Host Supported Features Notification (7.7.50)


async def test_a_name_request_before_the_link_spares_the_read_of_the_host_features_page(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        counted_transport(AIR) as transport,
        open_stack(transport, bring_up=True) as central,
        open_stack(AIR, config=StackConfig(local_name="speaker"), bring_up=True) as speaker,
    ):
        speaker_address = (await speaker.ready()).address
        await speaker.set_discoverable(True)
        async with central.connect(speaker_address, transport=LinkTransport.BR_EDR) as link:
            # Without the notification: pages 0, 1 and 2, two of them extended reads.
            start = len(transport.opcodes)
            unaided = await link.read_remote_features()
            assert transport.opcodes[start:].count(hci.ReadRemoteExtendedFeatures.OPCODE) == 2
            await link.disconnect()
        assert await central.remote_name(speaker_address) == "speaker"
        async with central.connect(speaker_address, transport=LinkTransport.BR_EDR) as link:
            start = len(transport.opcodes)
            aided = await link.read_remote_features()
            # Page 1 came with the name; only page 2 is read.
            assert transport.opcodes[start:].count(hci.ReadRemoteExtendedFeatures.OPCODE) == 1
            # The page serves one link's read: the next read asks for it again.
            start = len(transport.opcodes)
            assert await link.read_remote_features() == aided
            assert transport.opcodes[start:].count(hci.ReadRemoteExtendedFeatures.OPCODE) == 2
        assert aided == unaided
        assert aided[HOST_FEATURES_PAGE] & SSP_HOST_SUPPORT


async def test_a_name_request_over_an_existing_link_brings_no_host_features(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        counted_transport(AIR) as transport,
        open_stack(transport, bring_up=True) as central,
        open_stack(AIR, config=StackConfig(local_name="speaker"), bring_up=True) as speaker,
    ):
        speaker_address = (await speaker.ready()).address
        await speaker.set_discoverable(True)
        async with central.connect(speaker_address, transport=LinkTransport.BR_EDR):
            assert await central.remote_name(speaker_address) == "speaker"
        assert NOTIFICATION not in transport.event_codes
