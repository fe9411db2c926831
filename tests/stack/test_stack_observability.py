"""A whole stack on the virtual controller: btsnoop capture, tracing, transport faults,
and the end of the stack when the controller goes away."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import trio
import trio.testing

from bluetrio.actors.btm.controller_info import read_controller_info
from bluetrio.actors.faults import FaultPolicy
from bluetrio.errors import HciTimeout, TransportError
from bluetrio.messages import hci
from bluetrio.messages.packets import PacketType
from bluetrio.stack import open_stack
from bluetrio.tracing.btsnoop import read_btsnoop
from bluetrio.tracing.exporters import read_jsonl
from bluetrio.transports.virtual import transport_pair


async def test_snoop_records_both_directions(tmp_path: Path) -> None:
    capture = tmp_path / "info.btsnoop"
    async with open_stack("virtual", snoop=capture) as stack:
        await read_controller_info(stack.command)
    records = list(read_btsnoop(capture))
    sent = [r for r in records if not r.received]
    received = [r for r in records if r.received]
    assert sent and received
    assert len(received) >= len(sent)  # one answer (at least) per command


@pytest.mark.interop
async def test_tshark_decodes_a_live_capture_without_malformed_frames(tmp_path: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    capture = tmp_path / "live.btsnoop"
    async with open_stack("virtual", snoop=capture) as stack:
        await read_controller_info(stack.command)
    frames = len(list(read_btsnoop(capture)))
    result = await trio.to_thread.run_sync(
        lambda: subprocess.run(
            ["tshark", "-r", str(capture), "-T", "fields", "-e", "frame.protocols",
             "-e", "_ws.malformed"],
            capture_output=True, text=True, timeout=60, check=True,
        )
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert len(lines) == frames
    assert all(("bthci_cmd" in line or "bthci_evt" in line) for line in lines), lines
    assert not any(line.split("\t")[1:] != [""] for line in lines), "malformed frames"


async def test_trace_file_is_written_on_close(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    async with open_stack("virtual", trace=trace) as stack:
        await stack.command(hci.Reset())
    with trace.open() as file:
        events = read_jsonl(file)
    kinds = [(e.sender, e.receiver, e.message_type) for e in events]
    assert ("app", "hci", "HciCommandReq") in kinds
    assert ("hci", "app", "HciCommandCnf") in kinds


def test_a_dropped_answer_is_a_timeout_not_a_hang() -> None:
    faults = FaultPolicy()

    def is_bd_addr_answer(packet: tuple[PacketType, bytes]) -> bool:
        packet_type, payload = packet
        if packet_type != PacketType.EVENT:
            return False
        event = hci.parse_event(payload)
        return isinstance(event, hci.CommandComplete) and (
            event.command_opcode == hci.ReadBdAddr.OPCODE
        )

    faults.drop_packet(is_bd_addr_answer, direction="to_host", times=1)
    outcome: list[str] = []

    async def scenario() -> None:
        async with open_stack("virtual", faults=faults, command_timeout=5.0) as stack:
            with pytest.raises(HciTimeout, match="did not answer"):
                await stack.command(hci.ReadBdAddr())
            # The stack goes on: the next command is answered.
            await stack.command(hci.ReadBdAddr())
            outcome.append("recovered")

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
    assert outcome == ["recovered"]
    assert any(entry.startswith("drop packet") for entry in faults.log)


async def test_losing_the_controller_stops_the_stack_with_a_transport_error() -> None:
    host_side, controller_side = transport_pair()

    async def answer_one_reset_then_vanish() -> None:
        packet_type, _ = await controller_side.receive()
        assert packet_type == PacketType.COMMAND
        reply = hci.CommandComplete(1, hci.Reset.OPCODE, b"\x00")
        await controller_side.send(PacketType.EVENT, reply.to_bytes())
        await controller_side.aclose()

    # The test's own nursery wraps what open_stack raises: a single, bare TransportError.
    with pytest.RaisesGroup(pytest.RaisesExc(TransportError, match="closed by peer")):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer_one_reset_then_vanish)
            async with open_stack(host_side) as stack:
                await stack.command(hci.Reset())
                await trio.sleep_forever()
