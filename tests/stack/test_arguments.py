"""Bad arguments to the public API raise InvalidArgumentError in the caller's task, before
anything reaches an actor, and the stack goes on serving (issue 8 item 3: each of these
used to stop the stack, some after a 10 s shielded wait)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bluetrio import (
    AdvertisingData,
    InvalidArgumentError,
    LeConnectionParameters,
    LocalName,
    Stack,
    open_stack,
)
from bluetrio.messages import hci

PEER = "00:11:22:33:44:55"
LONG_NAME = AdvertisingData([LocalName("x" * 40)])


async def enter(manager: Any) -> None:
    async with manager:
        raise AssertionError("entered despite a bad argument")


CASES: dict[str, Callable[[Stack], Awaitable[object]]] = {
    "command(None)": lambda s: s.command(None),  # type: ignore[arg-type]
    "command(the class)": lambda s: s.command(hci.ReadBdAddr),  # type: ignore[arg-type]
    "command(timeout='2')": lambda s: s.command(hci.ReadBdAddr(), timeout="2"),  # type: ignore[arg-type]
    "command(timeout=nan)": lambda s: s.command(hci.ReadBdAddr(), timeout=math.nan),
    "command(timeout=-1)": lambda s: s.command(hci.ReadBdAddr(), timeout=-1),
    "disconnect('0x40')": lambda s: s.disconnect("0x40"),  # type: ignore[arg-type]
    "disconnect(reason='0x13')": lambda s: s.disconnect(1, "0x13"),  # type: ignore[arg-type]
    "disconnect(reason=True)": lambda s: s.disconnect(1, True),
    "advertise(data='x')": lambda s: enter(s.advertise(data="x")),  # type: ignore[arg-type]
    "advertise(legacy data of 42 octets)": lambda s: enter(s.advertise(LONG_NAME)),
    "advertise(legacy scan response of 42 octets)": lambda s: enter(
        s.advertise(scan_response=LONG_NAME)
    ),
    "advertise(extended data of 262 octets)": lambda s: enter(
        s.advertise(AdvertisingData([LocalName("x" * 260)]), extended=True)
    ),
    "advertise(extended, connectable and scannable)": lambda s: enter(
        s.advertise(extended=True, scannable=True)
    ),
    "advertise(connectable='no')": lambda s: enter(s.advertise(connectable="no")),  # type: ignore[arg-type]
    "connect(12345)": lambda s: enter(s.connect(12345)),  # type: ignore[arg-type]
    "connect('x')": lambda s: enter(s.connect("x")),
    "connect(parameters=None)": lambda s: enter(s.connect(PEER, parameters=None)),  # type: ignore[arg-type]
    "connect(timeout='x')": lambda s: enter(s.connect(PEER, timeout="x")),  # type: ignore[arg-type]
    "connect(timeout=nan)": lambda s: enter(s.connect(PEER, timeout=math.nan)),
    "connect(timeout=inf)": lambda s: enter(s.connect(PEER, timeout=math.inf)),
    "connect(transport='le')": lambda s: enter(s.connect(PEER, transport="le")),  # type: ignore[arg-type]
    "scan('x')": lambda s: enter(s.scan("x")),  # type: ignore[arg-type]
    "scan(nan)": lambda s: enter(s.scan(math.nan)),
    "scan(active='yes')": lambda s: enter(s.scan(1, active="yes")),  # type: ignore[arg-type]
    "inquiry('x')": lambda s: s.inquiry("x"),  # type: ignore[arg-type]
    "inquiry(nan)": lambda s: s.inquiry(math.nan),
    "inquiry(max_responses=1.5)": lambda s: s.inquiry(1.28, max_responses=1.5),  # type: ignore[arg-type]
    "remote_name(12345)": lambda s: s.remote_name(12345),  # type: ignore[arg-type]
    "set_discoverable('yes')": lambda s: s.set_discoverable("yes"),  # type: ignore[arg-type]
    "set_connection_policy('all')": lambda s: s.set_connection_policy("all"),  # type: ignore[arg-type]
    "update_connection(parameters=None)": lambda s: s.update_connection(1, None),  # type: ignore[arg-type]
    "accept(timeout='x')": lambda s: enter(s.accept(timeout="x")),  # type: ignore[arg-type]
    "accept('le')": lambda s: enter(s.accept("le")),  # type: ignore[arg-type]
    "incoming('le')": lambda s: _incoming(s, "le"),
    "pair(12345)": lambda s: s.pair(12345),  # type: ignore[arg-type]
    "events(predicate=1)": lambda s: _events(s, 1),
}


async def _incoming(stack: Stack, transport: object) -> None:
    stack.incoming(transport)  # type: ignore[arg-type]


async def _events(stack: Stack, predicate: object) -> None:
    stack.events(predicate)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", sorted(CASES))
async def test_bad_argument_is_refused_in_the_caller_and_the_stack_goes_on(case: str) -> None:
    async with open_stack("virtual", bring_up=True) as stack:
        with pytest.raises(InvalidArgumentError):
            await CASES[case](stack)
        await stack.command(hci.ReadBdAddr())


@pytest.mark.parametrize(
    "options",
    [
        {"command_timeout": -1},
        {"command_timeout": "2"},
        {"command_timeout": math.nan},
        {"flight_recorder_size": 0},
        {"bring_up": "yes"},
        {"pairable": 1},
        {"keystore": "bonds.json"},
        {"pairing_delegate": object()},
        {"config": {}},
    ],
    ids=repr,
)
async def test_bad_open_stack_option_is_refused_before_anything_opens(
    options: dict[str, Any],
) -> None:
    with pytest.raises(InvalidArgumentError):
        async with open_stack("virtual", **options):
            raise AssertionError("opened despite a bad option")


async def test_bad_transport_is_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        async with open_stack(12345):  # type: ignore[arg-type]
            raise AssertionError("opened")


@pytest.mark.parametrize(
    "fields",
    [
        {"interval_min": 1},
        {"interval_max": "0x28"},
        {"interval_min": 0x30, "interval_max": 0x20},
        {"latency": 0x01F4},
        {"supervision_timeout": 0x0A},  # 100 ms, not above 2 * 50 ms
        {"latency": True},
    ],
    ids=repr,
)
def test_connection_parameters_outside_the_spec_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        LeConnectionParameters(**fields)


@pytest.mark.parametrize("options", [{"snoop": 5}, {"trace": 5}], ids=repr)
async def test_bad_capture_targets_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        async with open_stack("virtual", **options):
            raise AssertionError("opened")


async def test_link_disconnect_checks_its_arguments() -> None:
    async with (
        open_stack("virtual", bring_up=True) as peripheral,
        open_stack("virtual", bring_up=True) as central,
    ):
        address = (await peripheral.ready()).address
        async with peripheral.advertise(), central.connect(address) as link:
            with pytest.raises(InvalidArgumentError):
                await link.disconnect("0x13")  # type: ignore[arg-type]
            with pytest.raises(InvalidArgumentError):
                await link.disconnect(timeout="x")  # type: ignore[arg-type]
            assert link.connected


async def test_extended_advertising_defaults_to_what_the_pdu_allows() -> None:
    async with open_stack("virtual", bring_up=True) as stack:
        async with stack.advertise(LONG_NAME, extended=True):  # connectable, not scannable
            pass
        async with stack.advertise(
            extended=True, connectable=False, scannable=True, scan_response=LONG_NAME
        ):
            pass
