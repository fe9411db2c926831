"""Two stacks on one virtual air, for testing an application against a peer::

    async def test_my_app(autojump_clock):            # pytest-trio's MockClock fixture
        async with open_stack_pair() as (central, peripheral):
            info = await peripheral.ready()
            async with peripheral.advertise(data), central.connect(info.address) as link:
                ...

Each stack has its own virtual controller; the air is private to the pair, so pairs in the
same Trio run do not hear each other. Under ``MockClock(autojump_threshold=0)`` (see
:func:`mock_clock`) every protocol timer is crossed in virtual time, so a test of a
30-second timeout takes milliseconds.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import trio
import trio.testing

from bluetrio.controller import Air, VirtualController
from bluetrio.controller.config import ControllerConfig
from bluetrio.stack import Stack, open_stack
from bluetrio.tasks import open_service_nursery
from bluetrio.testing.mutator import CorruptingStream
from bluetrio.transports.base import Transport
from bluetrio.transports.h4 import H4Role
from bluetrio.transports.stream import H4StreamTransport
from bluetrio.transports.tap import PacketTap, tapped
from bluetrio.transports.virtual import transport_pair

_pair_numbers = itertools.count(1)


def mock_clock() -> trio.testing.MockClock:
    """The clock to run stack tests under: it jumps to the next deadline whenever every
    task waits (``trio.run(main, clock=mock_clock())``)."""
    return trio.testing.MockClock(autojump_threshold=0)


@contextlib.asynccontextmanager
async def open_virtual_stack(
    air: Air,
    *,
    controller: ControllerConfig | None = None,
    tap: PacketTap | None = None,
    line: CorruptingStream | None = None,
    **stack_options: Any,
) -> AsyncIterator[Stack]:
    """A stack on its own virtual controller on ``air`` (``stack_options`` go to
    :func:`~bluetrio.open_stack`: ``config``, ``faults``, ``keystore``, ``bring_up``...).

    ``tap`` sees and may change every packet between the two (an
    :class:`~bluetrio.testing.mutator.EvilController`, say). With ``line`` (from
    :func:`~bluetrio.testing.mutator.noisy_line`) they talk H4 over a byte stream whose
    bytes toward the host ``line`` corrupts; otherwise they exchange whole packets.
    """
    host_side: Transport
    controller_side: Transport
    if line is None:
        host_side, controller_side = transport_pair()
    else:
        host_side, controller_side = _h4_pair(line)
    radio = VirtualController(air, config=controller)
    # What the test raises in the block leaves as it is, not inside an exception group.
    async with open_service_nursery() as nursery:
        nursery.start_soon(_serve, radio, controller_side)
        try:
            async with open_stack(tapped(host_side, tap), **stack_options) as stack:
                yield stack
        finally:
            nursery.cancel_scope.cancel()


def _h4_pair(line: CorruptingStream) -> tuple[Transport, Transport]:
    """H4 over in-memory byte streams; what the controller sends goes through ``line``."""
    to_host, from_controller = trio.testing.memory_stream_one_way_pair()
    to_controller, from_host = trio.testing.memory_stream_one_way_pair()
    line.inner = to_host
    host = H4StreamTransport(trio.StapledStream(to_controller, from_controller), description="line")
    controller = H4StreamTransport(trio.StapledStream(line, from_host), role=H4Role.CONTROLLER)
    return host, controller


async def _serve(radio: VirtualController, transport: Transport) -> None:
    async with transport:
        await radio.serve(transport)


@contextlib.asynccontextmanager
async def open_stack_pair(
    first: dict[str, Any] | None = None,
    second: dict[str, Any] | None = None,
    *,
    air: Air | None = None,
    bring_up: bool = True,
) -> AsyncIterator[tuple[Stack, Stack]]:
    """Two stacks on one private air, brought up unless ``bring_up=False``.

    ``first``/``second``: options for each stack (as :func:`open_virtual_stack` takes them),
    e.g. ``{"faults": FaultPolicy(), "config": StackConfig(local_name="peer")}``.
    ``air``: share an air you made (``Air(timing=TimingModel.realistic())``, or one whose
    ``air.faults`` drop or corrupt frames).
    """
    shared = air if air is not None else Air(name=f"pair {next(_pair_numbers)}")
    options = [{"bring_up": bring_up, **(first or {})}, {"bring_up": bring_up, **(second or {})}]
    async with (
        open_virtual_stack(shared, **options[0]) as one,
        open_virtual_stack(shared, **options[1]) as two,
    ):
        yield one, two
