"""Nothing the application awaits waits forever on a controller that does not answer, and a
shielded clean-up is always bounded (issue 8 items 5 and 6)."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from bluetrio import (
    AdvertisingData,
    ConnectionTimeoutError,
    FaultPolicy,
    HciTimeout,
    LocalName,
    open_stack,
)
from bluetrio.link import CLEANUP_TIMEOUT
from bluetrio.messages import hci
from bluetrio.messages.packets import PacketType
from bluetrio.stack import CONNECT_CANCEL_GRACE

NAME = AdvertisingData([LocalName("bounded")])
NOBODY = "00:00:00:00:00:99"


def run(test: object) -> None:
    trio.run(test, clock=MockClock(autojump_threshold=0))  # type: ignore[arg-type]


def event_of(kind: type[hci.HciEvent]) -> object:
    def matches(packet: tuple[PacketType, bytes]) -> bool:
        packet_type, payload = packet
        return packet_type == PacketType.EVENT and isinstance(hci.parse_event(payload), kind)

    return matches


def completion_of(command: type[hci.HciCommand]) -> object:
    def matches(packet: tuple[PacketType, bytes]) -> bool:
        packet_type, payload = packet
        if packet_type != PacketType.EVENT:
            return False
        event = hci.parse_event(payload)
        return isinstance(event, hci.CommandComplete) and event.command_opcode == command.OPCODE

    return matches


def test_a_lost_disconnection_complete_does_not_hold_the_connect_block() -> None:
    faults = FaultPolicy()
    faults.drop_packet(event_of(hci.DisconnectionComplete), direction="to_host")  # type: ignore[arg-type]

    async def main() -> None:
        async with (
            open_stack("virtual", bring_up=True) as peripheral,
            open_stack("virtual", bring_up=True, faults=faults) as central,
        ):
            address = (await peripheral.ready()).address
            async with peripheral.advertise(NAME):
                async with central.connect(address) as link:
                    # The application's own deadline ends a disconnection it waits for.
                    with trio.move_on_after(1) as scope:
                        await link.disconnect(timeout=30)
                    assert scope.cancelled_caught and link.connected
                    with pytest.raises(HciTimeout):
                        await link.disconnect(timeout=2)
                    started = trio.current_time()
                # Leaving the block waited for the disconnection, but not forever.
                assert trio.current_time() - started <= CLEANUP_TIMEOUT

    run(main)


def test_connect_returns_when_the_cancellation_is_never_confirmed() -> None:
    faults = FaultPolicy()
    faults.drop_packet(completion_of(hci.LeCreateConnectionCancel), direction="to_host")  # type: ignore[arg-type]
    faults.drop_packet(event_of(hci.LeConnectionComplete), direction="to_host")  # type: ignore[arg-type]
    faults.drop_packet(event_of(hci.LeEnhancedConnectionComplete), direction="to_host")  # type: ignore[arg-type]

    async def main() -> None:
        async with open_stack("virtual", bring_up=True, faults=faults) as stack:
            started = trio.current_time()
            with pytest.raises(ConnectionTimeoutError):
                async with stack.connect(NOBODY, timeout=2):
                    pass
            assert 2 <= trio.current_time() - started <= 2 + CONNECT_CANCEL_GRACE

    run(main)
