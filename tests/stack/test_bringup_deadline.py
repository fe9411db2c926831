"""Bring-up has a deadline: a lost command, answer or indication ends ``ready()`` with
ControllerNotReadyError naming the step, never a wait without end."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import trio
import trio.testing

from bluetrio.actors.faults import FaultPolicy, Hop
from bluetrio.errors import ControllerNotReadyError
from bluetrio.messages import hci
from bluetrio.messages.btm import ControllerReadyInd
from bluetrio.messages.hci_service import HciCommandCnf, HciCommandReq
from bluetrio.stack import open_stack


def request_for(command: type) -> Callable[[Hop], bool]:
    return lambda hop: (
        isinstance(hop.message, HciCommandReq) and isinstance(hop.message.command, command)
    )


def answer_for(command: type) -> Callable[[Hop], bool]:
    opcode = command.OPCODE  # type: ignore[attr-defined]
    return lambda hop: isinstance(hop.message, HciCommandCnf) and hop.message.opcode == opcode


@pytest.mark.parametrize(
    ("lost", "step"),
    [
        (request_for(hci.ReadBufferSize), "HCI_Read_Buffer_Size"),
        (answer_for(hci.ReadBdAddr), "HCI_Read_BD_ADDR"),
        # Lost on its way to the application (L2CAP, which also subscribes, gets its copy).
        (
            lambda hop: isinstance(hop.message, ControllerReadyInd) and hop.to == "app",
            "finished",
        ),
    ],
    ids=["HciCommandReq", "HciCommandCnf", "ControllerReadyInd"],
)
async def test_a_lost_message_ends_bring_up_naming_the_step(
    autojump_clock: trio.testing.MockClock, lost: Callable[[Hop], bool], step: str
) -> None:
    faults = FaultPolicy()
    faults.drop(lost, times=1)
    async with open_stack("virtual", faults=faults) as stack:
        with trio.fail_after(60), pytest.raises(ControllerNotReadyError, match=step):
            await stack.ready()


@pytest.mark.parametrize("seed", range(8))
async def test_random_drops_end_bring_up_one_way_or_the_other(
    autojump_clock: trio.testing.MockClock, seed: int
) -> None:
    chance = random.Random(seed)
    faults = FaultPolicy()
    faults.drop(lambda hop: chance.random() < 0.10)
    async with open_stack("virtual", faults=faults) as stack:
        with trio.fail_after(60):
            try:
                await stack.ready()
            except ControllerNotReadyError as error:
                assert "bring-up" in str(error)
