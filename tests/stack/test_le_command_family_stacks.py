"""Stacks on virtual controllers that enforce one LE command family until HCI_Reset (Core 5.4
Vol 4 Part E 3.1.1): advertising, scanning and connecting mix in any order."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import attrs
import pytest
import trio

from bluetrio.address import Address
from bluetrio.controller import VirtualController, default_air
from bluetrio.controller.config import DEFAULT_LE_FEATURES, ControllerConfig
from bluetrio.errors import UnsupportedFeatureError
from bluetrio.messages.ad import AdvertisingData, LocalName
from bluetrio.stack import Stack, open_stack
from bluetrio.transports.virtual import transport_pair

NAME = AdvertisingData((LocalName("beta"),))
# A controller without LE Extended Advertising (Vol 6 Part B 4.6, bit 12).
LEGACY_ONLY = attrs.evolve(ControllerConfig(), le_features=DEFAULT_LE_FEATURES & ~(1 << 12))


@contextlib.asynccontextmanager
async def stack_on(config: ControllerConfig) -> AsyncIterator[Stack]:
    host_side, controller_side = transport_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(VirtualController(default_air(), config=config).serve, controller_side)
        async with open_stack(host_side, bring_up=True) as stack:
            yield stack
        nursery.cancel_scope.cancel()


async def scan_for(stack: Stack, address: Address) -> None:
    async with stack.scan(duration=5) as reports:
        async for report in reports:
            if report.address == address:
                return
    raise AssertionError(f"{address} was not seen")


async def test_extended_advertising_then_scanning_and_connecting() -> None:
    """The extended commands once used, the legacy ones were refused (0x0C Command
    Disallowed) by LE_Set_Scan_Parameters and LE_Create_Connection."""
    async with open_stack("virtual", bring_up=True) as a, open_stack("virtual", bring_up=True) as b:
        b_address = (await b.ready()).address
        async with a.advertise(NAME, connectable=False, extended=True):
            pass
        async with b.advertise(NAME):
            await scan_for(a, b_address)
            async with a.connect(b_address, timeout=5) as link:
                assert link.connected
        # And legacy advertising after it, on the same controller.
        async with a.advertise(NAME), b.connect((await a.ready()).address, timeout=5) as link:
            assert link.connected


async def test_a_controller_without_extended_advertising_gets_the_legacy_family() -> None:
    async with stack_on(LEGACY_ONLY) as a, open_stack("virtual", bring_up=True) as b:
        assert not (await a.ready()).le_extended_commands
        with pytest.raises(UnsupportedFeatureError, match="extended"):
            async with a.advertise(NAME, connectable=False, extended=True):
                pass
        b_address = (await b.ready()).address
        async with b.advertise(NAME):
            await scan_for(a, b_address)
            async with a.connect(b_address, timeout=5) as link:
                assert link.connected
        async with a.advertise(NAME):
            await scan_for(b, (await a.ready()).address)
