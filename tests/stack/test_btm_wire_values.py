"""Values from the wire that the spec reserves, on events of a live link: BTM checks them
before they become enums, disconnects that link and keeps serving (issue: a Role_Change
with New_Role 5 stopped the whole stack with ``ValueError('5 is not a valid Role')``)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from bluetrio.actors.faults import FaultPolicy, Packet
from bluetrio.address import Address
from bluetrio.errors import ConnectionFailedError, HciError
from bluetrio.messages import hci
from bluetrio.messages.ad import AdvertisingData, Flags
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.packets import PacketType
from bluetrio.stack import Stack, open_stack

RESERVED_ROLE = 0x05
READ_REMOTE_FEATURES_COMPLETE = 0x0B  # Vol 4 Part E 7.7.11
ROLE_CHANGE = 0x12  # Vol 4 Part E 7.7.18
LE_META = 0x3E
LE_CONNECTION_COMPLETES = {0x01, 0x0A, 0x29}  # 7.7.65.1, 7.7.65.10 and its v2


def is_event(code: int) -> object:
    def matches(packet: Packet) -> bool:
        packet_type, payload = packet
        return packet_type == PacketType.EVENT and payload[0] == code

    return matches


def is_le_connection_complete(packet: Packet) -> bool:
    packet_type, payload = packet
    return (
        packet_type == PacketType.EVENT
        and payload[0] == LE_META
        and payload[2] in LE_CONNECTION_COMPLETES
    )


def role_change(peer: Address, new_role: int) -> Packet:
    parameters = bytes([0x00]) + peer.value + bytes([new_role])
    return PacketType.EVENT, bytes([ROLE_CHANGE, len(parameters)]) + parameters


async def still_serving(stack: Stack) -> None:
    with trio.fail_after(10):
        assert (await stack.command(hci.ReadBdAddr())).status == 0


async def test_role_change_with_a_reserved_role_disconnects_that_link_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    faults = FaultPolicy()
    async with (
        open_stack("virtual", bring_up=True, faults=faults) as a,
        open_stack("virtual", bring_up=True) as b,
    ):
        b_address = (await b.ready()).address
        # The event that follows the connection becomes a Role_Change naming a reserved role.
        faults.replace_packet(
            is_event(READ_REMOTE_FEATURES_COMPLETE),  # type: ignore[arg-type]
            lambda packet: role_change(b_address, RESERVED_ROLE),
            direction="to_host",
            times=1,
        )
        async with a.connect(b_address, transport=LinkTransport.BR_EDR) as link:
            # The features are read only when asked; their answer is what the fault replaces.
            with trio.fail_after(30), pytest.raises(HciError) as down:
                await link.read_remote_features()
            assert down.value.status == 0x02  # the link went down with the read under way
            with trio.fail_after(30):
                await link.wait_disconnected()
        assert link.disconnect_reason is not None
        assert a.links == ()
        await still_serving(a)


async def test_le_connection_complete_with_a_reserved_role_fails_that_connection_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    faults = FaultPolicy()

    def reserved_role(packet: Packet) -> Packet:
        packet_type, payload = packet
        changed = bytearray(payload)
        changed[6] = RESERVED_ROLE  # code, length, subevent, status, handle (2), Role
        return packet_type, bytes(changed)

    async with (
        open_stack("virtual", bring_up=True) as a,
        open_stack("virtual", bring_up=True, faults=faults) as b,
    ):
        a_address = (await a.ready()).address
        faults.replace_packet(
            is_le_connection_complete, reserved_role, direction="to_host", times=1
        )
        async with a.advertise(AdvertisingData([Flags(0x06)])):
            with pytest.raises(ConnectionFailedError), trio.fail_after(30):
                async with b.connect(a_address, timeout=5):
                    pass
        await still_serving(b)
        assert b.links == ()
