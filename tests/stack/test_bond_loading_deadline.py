"""Loading the key store's bonds into the device manager has a deadline: a lost request or
answer ends ``ready()`` with ControllerNotReadyError, never a wait without end."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio
import trio.testing

from bluetrio.actors.faults import FaultPolicy, Hop
from bluetrio.address import Address
from bluetrio.errors import ControllerNotReadyError
from bluetrio.keystore import MemoryKeyStore
from bluetrio.messages.btm import BtmCnf, LoadBondsReq
from bluetrio.stack import open_stack


def lost_answer() -> Callable[[Hop], bool]:
    """The BtmCnf that answers the LoadBondsReq (the first request to the device manager)."""
    tokens: set[int] = set()

    def matches(hop: Hop) -> bool:
        if isinstance(hop.message, LoadBondsReq):
            tokens.add(hop.message.token)
        return isinstance(hop.message, BtmCnf) and hop.message.token in tokens

    return matches


@pytest.mark.parametrize(
    "lost",
    [lambda hop: isinstance(hop.message, LoadBondsReq), lost_answer()],
    ids=["LoadBondsReq", "its BtmCnf"],
)
async def test_a_lost_bond_load_ends_ready_with_a_clear_error(
    autojump_clock: trio.testing.MockClock, lost: Callable[[Hop], bool]
) -> None:
    faults = FaultPolicy()
    faults.drop(lost, times=1)
    async with open_stack("virtual", faults=faults, keystore=MemoryKeyStore) as stack:
        with trio.fail_after(60), pytest.raises(ControllerNotReadyError, match="bond"):
            await stack.ready()
    assert faults.log


async def test_bonds_load_when_nothing_is_lost(autojump_clock: trio.testing.MockClock) -> None:
    async with open_stack("virtual", keystore=MemoryKeyStore) as stack:
        with trio.fail_after(60):
            info = await stack.ready()
    assert isinstance(info.address, Address)
