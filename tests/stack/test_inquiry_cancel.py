"""Leaving an inquiry early cancels it (HCI_Inquiry_Cancel, Core 5.4 Vol 4 Part E 7.1.2):
the controller stops inquiring, so a new inquiry starts at once."""

from __future__ import annotations

import trio
import trio.testing

from bluetrio.messages import hci
from bluetrio.stack import StackConfig, open_stack
from bluetrio.testing import counted_transport

AIR = "virtual:inquiry-cancel"
LONG_INQUIRY = 30.72


async def test_breaking_out_of_an_inquiry_cancels_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    speaker_config = StackConfig(local_name="speaker", discoverable=True)
    async with (
        open_stack(AIR, config=speaker_config, bring_up=True) as speaker,
        open_stack(AIR, bring_up=True) as stack,
    ):
        speaker_address = (await speaker.ready()).address
        with trio.fail_after(LONG_INQUIRY):
            async with stack.inquire(LONG_INQUIRY) as devices:
                async for result in devices:
                    assert result.address == speaker_address
                    break
            # Without the cancel, btm and the controller would refuse this with Command
            # Disallowed: the first inquiry would run for another thirty seconds.
            async with stack.inquire(LONG_INQUIRY) as devices:
                async for result in devices:
                    assert result.address == speaker_address
                    break
            found = await stack.inquiry(1.28)
        assert [result.address for result in found] == [speaker_address]


async def test_a_cancelled_inquiry_is_cancelled_at_the_controller(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with counted_transport(None) as counter, open_stack(counter, bring_up=True) as stack:
        with trio.move_on_after(2.0):
            await stack.inquiry(LONG_INQUIRY)
        with trio.fail_after(5.0):
            await stack.inquiry(1.28)
    assert hci.InquiryCancel.OPCODE in counter.opcodes
