"""HCI decode/encode cost per packet: bluetrio's codec against Bumble's, in the same run.

Plain script: ``python bench/codec_vs_bumble.py``. Prints µs per operation and the ratio
bluetrio / Bumble (below 1.0: bluetrio is faster). Needs the ``bumble`` package (test extra).

Caveat on the encode table: a Bumble packet that came from ``from_bytes`` keeps those bytes
and returns them, so its "encode" is a cached lookup, while bluetrio re-encodes the fields.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

from bumble import hci as bumble_hci

from bluetrio.address import Address, AddressType
from bluetrio.messages import hci
from bluetrio.messages.packets import PacketType

PEER = Address.parse("C0:11:22:33:44:55", AddressType.RANDOM)

SAMPLES: dict[str, tuple[PacketType, bytes]] = {
    "Command Complete (Read_BD_ADDR)": (
        PacketType.EVENT,
        hci.CommandComplete(1, hci.ReadBdAddr.OPCODE, b"\x00" + PEER.to_wire()).to_bytes(),
    ),
    "Number Of Completed Packets (2 handles)": (
        PacketType.EVENT,
        hci.NumberOfCompletedPackets(((0x0040, 3), (0x0041, 1))).to_bytes(),
    ),
    "LE Connection Complete": (
        PacketType.EVENT,
        hci.LeConnectionComplete(0, 0x0040, 1, PEER, 24, 0, 72, 0).to_bytes(),
    ),
    "Disconnection Complete": (
        PacketType.EVENT,
        hci.DisconnectionComplete(0, 0x0040, 0x13).to_bytes(),
    ),
    "ACL, 251-byte payload": (
        PacketType.ACL,
        hci.AclPacket(0x0040, 0b10, 0, bytes(251)).to_bytes(),
    ),
}


def per_call_us(function: Callable[[], object], number: int = 20_000) -> float:
    best = min(timeit.repeat(function, number=number, repeat=5))
    return best / number * 1e6


def main() -> None:
    print(f"{'decode':<42} {'bluetrio µs':>12} {'Bumble µs':>10} {'ratio':>7}")
    for name, (packet_type, payload) in SAMPLES.items():
        ours = per_call_us(lambda: hci.parse_packet(packet_type, payload))  # noqa: B023
        framed = bytes([packet_type]) + payload
        theirs = per_call_us(lambda: bumble_hci.HCI_Packet.from_bytes(framed))  # noqa: B023
        print(f"{name:<42} {ours:12.2f} {theirs:10.2f} {ours / theirs:7.2f}")
    print()
    print(f"{'encode':<42} {'bluetrio µs':>12} {'Bumble µs':>10} {'ratio':>7}")
    for name, (packet_type, payload) in SAMPLES.items():
        ours_packet = hci.parse_packet(packet_type, payload)
        theirs_packet = bumble_hci.HCI_Packet.from_bytes(bytes([packet_type]) + payload)
        ours = per_call_us(ours_packet.to_bytes)
        theirs = per_call_us(lambda: bytes(theirs_packet))  # noqa: B023
        print(f"{name:<42} {ours:12.2f} {theirs:10.2f} {ours / theirs:7.2f}")


if __name__ == "__main__":
    main()
