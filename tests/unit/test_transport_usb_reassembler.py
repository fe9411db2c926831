"""Reassembly of HCI packets read from USB endpoints in maximum-packet-size pieces."""

from __future__ import annotations

from bluetrio.messages.packets import PacketType
from bluetrio.transports.h4 import packet_layouts
from bluetrio.transports.usb import UsbReassembler

LAYOUTS = packet_layouts(max_acl_data_length=1021)


def test_event_split_over_three_interrupt_reads() -> None:
    reassembler = UsbReassembler(LAYOUTS[PacketType.EVENT])
    event = bytes((0x0E, 40)) + bytes(range(40))
    assert reassembler.feed(event[:16]) == []
    assert reassembler.feed(event[16:32]) == []
    assert reassembler.feed(event[32:]) == [event]


def test_two_packets_in_one_read_and_a_header_split_across_reads() -> None:
    reassembler = UsbReassembler(LAYOUTS[PacketType.ACL])
    first = bytes.fromhex("01200200") + b"hi"
    second = bytes.fromhex("02200300") + b"abc"
    assert reassembler.feed(first + second[:2]) == [first]
    assert reassembler.feed(second[2:]) == [second]


def test_impossible_length_discards_the_read_and_recovers_on_the_next() -> None:
    reassembler = UsbReassembler(LAYOUTS[PacketType.ACL])
    assert reassembler.feed(bytes.fromhex("0120ffff") + bytes(60)) == []
    assert reassembler.discarded_bytes == 64
    packet = bytes.fromhex("01200100") + b"!"
    assert reassembler.feed(packet) == [packet]
