"""Every wait of the device manager on the controller has a deadline: a connection
cancellation refused or unanswered, a missing Inquiry Complete or Remote Name Request
Complete (fault injection on the host's transport, under MockClock)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from bluetrio.actors.faults import FaultPolicy, Packet
from bluetrio.address import Address
from bluetrio.errors import ConnectionTimeoutError, HciError, HciTimeout
from bluetrio.messages import hci
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.packets import PacketType
from bluetrio.stack import open_stack
from bluetrio.testing.command_counter import counted_transport
from bluetrio.testing.packets import command_complete_for, event_with_code, with_completion_status

NOBODY = Address.parse("00:00:00:00:00:99")


def failed_connection_complete(packet: Packet) -> bool:
    packet_type, payload = packet
    if packet_type != PacketType.EVENT:
        return False
    if payload[0] == 0x03:  # Connection Complete
        return payload[2] != 0
    # LE Connection Complete, LE Enhanced Connection Complete [v2]
    return payload[0] == 0x3E and payload[2] in (0x01, 0x0A, 0x29) and payload[3] != 0


CANCELS = {
    LinkTransport.LE: hci.LeCreateConnectionCancel.OPCODE,
    LinkTransport.BR_EDR: hci.CreateConnectionCancel.OPCODE,
}


def refuse_cancellations(faults: FaultPolicy, transport: LinkTransport, how: str) -> None:
    opcode = CANCELS[transport]
    if how == "unanswered":
        faults.drop_packet(command_complete_for(opcode), direction="to_host")
    else:
        # Command Disallowed for LE (7.8.13), Connection Already Exists for BR/EDR (7.1.7);
        # a controller that refuses sends no connection complete for the attempt either.
        status = 0x0C if transport is LinkTransport.LE else 0x0B
        faults.replace_packet(
            command_complete_for(opcode), with_completion_status(status), direction="to_host"
        )
        faults.drop_packet(failed_connection_complete, direction="to_host")


@pytest.mark.parametrize("transport", [LinkTransport.LE, LinkTransport.BR_EDR])
@pytest.mark.parametrize("how", ["unanswered", "refused"])
async def test_a_failed_cancellation_ends_the_attempt_and_frees_the_next_one(
    autojump_clock: trio.testing.MockClock, transport: LinkTransport, how: str
) -> None:
    faults = FaultPolicy()
    refuse_cancellations(faults, transport, how)
    async with open_stack("virtual", faults=faults, bring_up=True) as stack:
        for _ in range(2):  # the second attempt is not refused as one in progress
            started = trio.current_time()
            with pytest.raises(ConnectionTimeoutError):
                async with stack.connect(NOBODY, transport=transport, timeout=2):
                    pass
            assert trio.current_time() - started <= 3.0


async def test_a_missing_inquiry_complete_ends_the_inquiry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    faults = FaultPolicy()
    faults.drop_packet(event_with_code(0x01), direction="to_host")  # Inquiry Complete
    async with open_stack("virtual", faults=faults, bring_up=True) as stack:
        with trio.fail_after(30), pytest.raises(HciTimeout, match="inquiry"):
            await stack.inquiry(1.28)
        # The next inquiry is not refused as one already running (it times out alike).
        with trio.fail_after(30), pytest.raises(HciTimeout, match="inquiry"):
            await stack.inquiry(1.28)


async def test_a_missing_remote_name_request_complete_ends_the_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    faults = FaultPolicy()
    faults.drop_packet(event_with_code(0x07), direction="to_host")
    async with open_stack("virtual", faults=faults, bring_up=True) as stack:
        with trio.fail_after(60), pytest.raises(HciTimeout, match="name"):
            await stack.remote_name(NOBODY)


async def test_a_name_request_given_up_is_cancelled_on_the_controller(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Core 5.4 Vol 4 Part E 7.1.20: the page a name request runs goes on until the page
    # timeout unless the host cancels it; a caller that stops waiting must not leave it.
    async with counted_transport(None) as transport, open_stack(transport, bring_up=True) as s:
        await s.ready()
        with trio.move_on_after(1.0) as scope:
            await s.remote_name(NOBODY)
        assert scope.cancelled_caught
        assert transport.opcodes.count(hci.RemoteNameRequestCancel.OPCODE) == 1
        # Nothing of the first request is left: a new one runs on its own (and ends at the
        # page timeout, as the virtual controller finds nobody).
        requests = transport.opcodes.count(hci.RemoteNameRequest.OPCODE)
        with trio.fail_after(60), pytest.raises(HciError):
            await s.remote_name(NOBODY)
        assert transport.opcodes.count(hci.RemoteNameRequest.OPCODE) == requests + 1
