"""Wireshark (tshark) reads our btsnoop captures and decodes every packet the codec writes.

This checks two things independently of our own parser: the btsnoop container and flags,
and the wire layout of every command and event class against Wireshark's HCI dissectors.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bluetrio.address import Address
from bluetrio.messages import hci
from bluetrio.messages.packets import PacketType
from bluetrio.tracing.btsnoop import BtsnoopWriter

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        shutil.which("tshark") is None, reason="tshark (Wireshark) is not installed"
    ),
]

PEER = Address.parse("C0:11:22:33:44:55/R")
HANDLE = 0x0040
Packet = tuple[PacketType, bytes, bool]


def command_and_complete(command: hci.HciCommand, returned: bytes = b"\x00") -> list[Packet]:
    complete = hci.CommandComplete(1, command.OPCODE, returned)
    return [
        (PacketType.COMMAND, command.to_bytes(), False),
        (PacketType.EVENT, complete.to_bytes(), True),
    ]


def att_notification_fragments() -> list[Packet]:
    """An ATT Handle Value Notification (Vol 3 Part F 3.4.7.1) split into two ACL fragments."""
    att = bytes((0x1B,)) + (0x0025).to_bytes(2, "little") + bytes(range(40))
    l2cap = len(att).to_bytes(2, "little") + (0x0004).to_bytes(2, "little") + att
    first = hci.AclPacket(HANDLE, hci.PB_FIRST_FLUSHABLE, 0, l2cap[:27])
    rest = hci.AclPacket(HANDLE, hci.PB_CONTINUING, 0, l2cap[27:])
    return [(PacketType.ACL, first.to_bytes(), True), (PacketType.ACL, rest.to_bytes(), True)]


def realistic_session() -> list[Packet]:
    # Interval 100 ms, connectable undirected, public, all three channels, no filter.
    advertising = hci.LeSetAdvertisingParameters(0x00A0, 0x00A0, 0, 0, Address(bytes(6)), 0x07, 0)
    # Peripheral role, 30 ms interval, 5 s supervision timeout.
    connected = hci.LeConnectionComplete(0, HANDLE, 1, PEER, 0x0018, 0, 0x01F4, 0)
    bd_addr = hci.ReadBdAddrReturn(0, Address.parse("00:1B:DC:01:02:03")).to_bytes()
    return [
        *command_and_complete(hci.Reset()),
        *command_and_complete(hci.ReadBdAddr(), bd_addr),
        *command_and_complete(advertising),
        *command_and_complete(hci.LeSetAdvertisingData(b"\x02\x01\x06\x05\x09test")),
        *command_and_complete(hci.LeSetAdvertisingEnable(1)),
        (PacketType.EVENT, connected.to_bytes(), True),
        *att_notification_fragments(),
        (
            PacketType.ACL,
            hci.AclPacket(HANDLE, 0, 0, bytes.fromhex("0300040002f700")).to_bytes(),
            False,
        ),
        (PacketType.EVENT, hci.NumberOfCompletedPackets(((HANDLE, 1),)).to_bytes(), True),
        (PacketType.COMMAND, hci.Disconnect(HANDLE, 0x13).to_bytes(), False),
        (PacketType.EVENT, hci.CommandStatus(0, 1, hci.Disconnect.OPCODE).to_bytes(), True),
        (PacketType.EVENT, hci.DisconnectionComplete(0, HANDLE, 0x16).to_bytes(), True),
    ]


def every_class() -> list[Packet]:
    packets: list[Packet] = []
    for command in hci.COMMAND_CLASSES.values():
        packets.append((PacketType.COMMAND, command.example().to_bytes(), False))
    events = [*hci.EVENT_CLASSES.values(), *hci.LE_EVENT_CLASSES.values()]
    for event in events:
        if event is not hci.NumberOfCompletedPackets:
            packets.append((PacketType.EVENT, event.example().to_bytes(), True))
    return packets


def tshark_frames(path: Path) -> list[list[str]]:
    result = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "frame.number",
            "-e",
            "frame.protocols",
            "-e",
            "_ws.malformed",
            "-e",
            "hci_h4.direction",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [line.split("|") for line in result.stdout.splitlines()]


def write_capture(path: Path, packets: list[Packet]) -> None:
    with BtsnoopWriter(path) as writer:
        for index, (packet_type, payload, received) in enumerate(packets):
            writer.write(packet_type, payload, received, timestamp_us=1_700_000_000_000_000 + index)


EXPECTED_PROTOCOL = {
    PacketType.COMMAND: "bthci_cmd",
    PacketType.EVENT: "bthci_evt",
    PacketType.ACL: "bthci_acl",
}


@pytest.mark.parametrize("scenario", [realistic_session, every_class])
def test_tshark_decodes_every_frame_as_hci(tmp_path: Path, scenario: object) -> None:
    packets = scenario()  # type: ignore[operator]
    path = tmp_path / "capture.btsnoop"
    write_capture(path, packets)
    frames = tshark_frames(path)
    assert len(frames) == len(packets)
    problems = []
    for (packet_type, payload, received), (number, protocols, malformed, direction) in zip(
        packets, frames, strict=True
    ):
        layers = protocols.split(":")
        if EXPECTED_PROTOCOL[packet_type] not in layers or malformed or "_ws.malformed" in layers:
            problems.append(f"frame {number} ({payload[:3].hex()}): {protocols} {malformed}")
        # hci_h4.direction: 0x00 host to controller, 0x01 controller to host (from flags bit 0).
        if int(direction, 0) != int(received):
            problems.append(f"frame {number}: direction {direction}, expected received={received}")
    assert not problems, "\n".join(problems)


def test_tshark_reads_the_fields_we_wrote(tmp_path: Path) -> None:
    path = tmp_path / "fields.btsnoop"
    write_capture(path, realistic_session())
    result = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-Y",
            "bthci_evt.le_meta_subevent == 0x01",
            "-T",
            "fields",
            "-e",
            "bthci_evt.connection_handle",
            "-e",
            "bthci_evt.bd_addr",
            "-e",
            "bthci_evt.le_peer_address_type",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    handle, address, address_type = result.stdout.strip().split("\t")
    assert int(handle, 0) == HANDLE
    assert address.lower() == str(PEER).lower()
    assert int(address_type, 0) == 1
