"""The LE Connection Parameter Update procedure between two bluetrio stacks on the virtual
controller (Core 5.4 Vol 3 Part A 4.20, 4.21): the peripheral asks with
``link.request_connection_parameters``, the central answers and applies the parameters
through its device manager (LE Connection Update, Vol 4 Part E 7.8.18), and both links
follow the LE Connection Update Complete."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from bluetrio import ConnectionParametersRejected, InvalidArgumentError, Link, Stack
from bluetrio.actors.l2cap.signaling import MAX_RTX_TOTAL, RTX_TIMEOUT
from bluetrio.actors.topology import Layer
from bluetrio.controller import Air
from bluetrio.controller.connections import AclFrame
from bluetrio.messages.btm import LinkTransport
from bluetrio.testing import open_stack_pair


@contextlib.asynccontextmanager
async def le_link(a: Stack, b: Stack) -> AsyncIterator[tuple[Link, Link]]:
    """``a`` is the central, ``b`` the peripheral."""
    address = (await b.ready()).address
    async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE) as peer:
        yield link, peer


async def interval_becomes(link: Link, interval: int) -> None:
    with trio.fail_after(10):
        while link.interval != interval:
            await trio.sleep(0.01)


async def test_the_peripheral_asks_and_both_sides_get_the_new_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stack_pair() as (a, b), le_link(a, b) as (central, peripheral):
        assert central.interval != 80
        await peripheral.request_connection_parameters(
            interval_min=80, interval_max=80, latency=2, supervision_timeout=600
        )
        await interval_becomes(central, 80)
        await interval_becomes(peripheral, 80)
        assert (central.latency, central.supervision_timeout) == (2, 600)
        assert (peripheral.latency, peripheral.supervision_timeout) == (2, 600)


async def test_a_rejection_by_the_central_raises(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stack_pair() as (a, b), le_link(a, b) as (central, peripheral):
        before = central.interval
        # This central's policy accepts nothing (its ranges are its own to choose, 4.20).
        a.runtime.actor(Layer.L2CAP).core.signaling.parameters_acceptable = lambda r: False  # type: ignore[attr-defined]
        with pytest.raises(ConnectionParametersRejected) as rejected:
            await peripheral.request_connection_parameters(
                interval_min=80, interval_max=100, supervision_timeout=600
            )
        assert rejected.value.result == 0x0001
        assert central.interval == peripheral.interval == before


async def test_bad_parameters_and_the_wrong_role_raise_in_the_caller(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_stack_pair() as (a, b), le_link(a, b) as (central, peripheral):
        bad = [
            {"interval_min": 5, "interval_max": 80, "supervision_timeout": 600},
            {"interval_min": 80, "interval_max": 3201, "supervision_timeout": 600},
            {"interval_min": 100, "interval_max": 80, "supervision_timeout": 600},
            {"interval_min": 80, "interval_max": 80, "latency": 500, "supervision_timeout": 600},
            {"interval_min": 80, "interval_max": 80, "supervision_timeout": 9},
            # 100 ms is not longer than (1 + 1) x 100 ms x 2.
            {"interval_min": 80, "interval_max": 80, "latency": 1, "supervision_timeout": 10},
        ]
        for arguments in bad:
            with pytest.raises(InvalidArgumentError):
                await peripheral.request_connection_parameters(**arguments)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="peripheral"):
            await central.request_connection_parameters(
                interval_min=80, interval_max=80, supervision_timeout=600
            )


def parameter_update_requests(frame: object) -> bool:
    """An LE signaling C-frame carrying a Connection Parameter Update Request (code 0x12)."""
    data = getattr(frame, "data", b"")
    return isinstance(frame, AclFrame) and data[2:4] == b"\x05\x00" and data[4:5] == b"\x12"


async def test_a_lost_request_is_sent_again_after_the_rtx(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Vol 3 Part A 6.2.1: the same request again after RTX, under twice the timeout.
    air = Air(name="parameter update, lost once")
    async with open_stack_pair(air=air) as (a, b), le_link(a, b) as (central, peripheral):
        air.faults.drop(parameter_update_requests, count=1)
        started = trio.current_time()
        await peripheral.request_connection_parameters(
            interval_min=80, interval_max=80, supervision_timeout=600
        )
        assert trio.current_time() - started >= RTX_TIMEOUT
        await interval_becomes(central, 80)


async def test_a_central_that_never_answers_ends_the_request_within_60_s(
    autojump_clock: trio.testing.MockClock,
) -> None:
    air = Air(name="parameter update, never answered")
    async with open_stack_pair(air=air) as (a, b), le_link(a, b) as (_, peripheral):
        air.faults.drop(parameter_update_requests)
        started = trio.current_time()
        with pytest.raises(ConnectionParametersRejected) as failed:
            await peripheral.request_connection_parameters(
                interval_min=80, interval_max=80, supervision_timeout=600
            )
        assert failed.value.result == 0xFFFF and "no response" in failed.value.reason
        assert RTX_TIMEOUT * 3 <= trio.current_time() - started <= MAX_RTX_TOTAL
