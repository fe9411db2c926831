"""What a user reads when something fails: one line, the status named once."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from bluetrio.actors.faults import FaultPolicy
from bluetrio.address import Address
from bluetrio.errors import ConnectionFailedError, HciTimeout
from bluetrio.messages import hci
from bluetrio.messages.btm import LinkTransport
from bluetrio.stack import open_stack
from bluetrio.testing.packets import command_complete_for

NOBODY = Address.parse("00:00:00:00:00:99")


def test_a_page_nobody_answers_says_page_timeout_once() -> None:
    async def scenario() -> str:
        async with open_stack("virtual", bring_up=True) as stack:
            with pytest.raises(ConnectionFailedError) as failure:
                async with stack.connect(NOBODY, transport=LinkTransport.BR_EDR, timeout=30):
                    pass
            return str(failure.value)

    message = trio.run(scenario, clock=MockClock(autojump_threshold=0))
    assert message == f"connecting to {NOBODY}: page failed: Page Timeout (0x04)"


def test_ctrl_c_leaves_open_stack_bare_not_in_a_group() -> None:
    async def interrupted() -> None:
        async with open_stack("virtual", bring_up=True), trio.open_nursery() as nursery:
            # Where Trio delivers Ctrl-C: in a task, so it reaches open_stack in groups.
            nursery.start_soon(_raise_keyboard_interrupt)
            await trio.sleep_forever()

    with pytest.raises(KeyboardInterrupt):
        trio.run(interrupted, clock=MockClock(autojump_threshold=0))


async def _raise_keyboard_interrupt() -> None:
    await trio.sleep(1)
    raise KeyboardInterrupt


def test_a_command_the_controller_never_answers_is_a_timeout_not_a_status() -> None:
    async def scenario() -> str:
        faults = FaultPolicy()
        for opcode in (hci.LeSetScanEnable.OPCODE, hci.LeSetExtendedScanEnable.OPCODE):
            faults.drop_packet(command_complete_for(opcode), direction="to_host")
        async with open_stack("virtual", faults=faults, bring_up=True) as stack:
            with pytest.raises(HciTimeout) as failure:
                async with stack.scan(1):
                    pass
            return str(failure.value)

    message = trio.run(scenario, clock=MockClock(autojump_threshold=0))
    assert message.startswith("scan: HCI_LE_Set_")
    assert "in time" in message and "Unspecified Error" not in message
