"""A recorded run exported as Mermaid reads like a spec sequence chart (Vol 4 Part E)."""

from __future__ import annotations

import re

import trio
from trio.testing import MockClock

from bluetrio.address import Address
from bluetrio.messages import hci
from bluetrio.messages.hci_service import HciEventInd, TransportPacketInd
from bluetrio.messages.packets import PacketType
from bluetrio.stack import open_stack
from bluetrio.tracing.exporters import to_mermaid, to_perfetto
from bluetrio.tracing.recorder import TraceRecorder
from bluetrio.tracing.wire_names import wire_name_of


def bring_up_chart() -> list[str]:
    async def scenario() -> list[str]:
        recorder = TraceRecorder()
        async with open_stack("virtual", trace=recorder, bring_up=True) as stack:
            await stack.command(hci.ReadBdAddr())
        return to_mermaid(recorder.events()).splitlines()

    return trio.run(scenario, clock=MockClock(autojump_threshold=0))


def test_commands_and_events_have_their_spec_names_and_the_controller_takes_part() -> None:
    chart = bring_up_chart()
    participants = [line.split()[-1] for line in chart if line.startswith("    participant")]
    assert participants[-1] == "controller"
    start = chart.index("    btm->>hci: HCI_Reset")
    assert chart[start : start + 4] == [
        "    btm->>hci: HCI_Reset",
        "    hci->>controller: HCI_Reset",
        "    controller->>hci: HCI_Command_Complete (HCI_Reset)",
        "    hci->>btm: HCI_Command_Complete (HCI_Reset)",
    ]
    assert "    app->>hci: HCI_Read_BD_ADDR" in chart
    assert not any("HciCommandReq" in line or "TransportPacketInd" in line for line in chart)


def test_no_arrow_points_from_a_participant_to_itself() -> None:
    arrows = [re.match(r"\s+(\w+)-[>x]+(\w+):", line) for line in bring_up_chart()]
    routes = [(found[1], found[2]) for found in arrows if found is not None]
    assert routes and all(sender != receiver for sender, receiver in routes)


def test_wire_names_of_events_and_raw_packets() -> None:
    peer = Address.parse("00:11:22:33:44:55")
    assert wire_name_of(HciEventInd(hci.IoCapabilityRequest(peer))) == "HCI_IO_Capability_Request"
    # Command Status for HCI_Create_Connection (opcode 0x0405), read from the raw packet.
    status = TransportPacketInd(PacketType.EVENT, bytes([0x0F, 4, 0x00, 1, 0x05, 0x04]))
    assert wire_name_of(status) == "HCI_Command_Status (HCI_Create_Connection)"
    le_meta = TransportPacketInd(PacketType.EVENT, bytes([0x3E, 1, 0x0A]))
    assert wire_name_of(le_meta) == "HCI_LE_Enhanced_Connection_Complete_v1"


def test_perfetto_slices_use_the_spec_names_too() -> None:
    async def scenario() -> list[str]:
        recorder = TraceRecorder()
        async with open_stack("virtual", trace=recorder, bring_up=True):
            pass
        trace = to_perfetto(recorder.events())["traceEvents"]
        assert isinstance(trace, list)
        return [item["name"] for item in trace if item.get("ph") == "X"]

    names = trio.run(scenario, clock=MockClock(autojump_threshold=0))
    assert "HCI_Reset → hci" in names and "HCI_Command_Complete (HCI_Reset)" in names
