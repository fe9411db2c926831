"""Control is never overtaken by data: the owner of ACL data learns of a link before its first
PDU and receives none after the link closed, however fast the controller sends them."""

from __future__ import annotations

import struct

import trio
import trio.testing

from bluetrio.actors.effects import Effects
from bluetrio.actors.runtime import Actor
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.address import Address, AddressType
from bluetrio.messages import hci
from bluetrio.messages.base import Message
from bluetrio.messages.btm import LinkDownInd, LinkUpInd
from bluetrio.messages.hci_service import (
    AclDataInd,
    AclLinkClosedInd,
    AclLinkOpenedInd,
    LinkTransport,
)
from bluetrio.messages.packets import PacketType
from bluetrio.stack import open_stack
from bluetrio.transports.base import Packet, Transport

HANDLE = 0x0040
PEER = Address.parse("11:22:33:44:55:66").with_type(AddressType.RANDOM)
NO_ADDRESS = Address.parse("00:00:00:00:00:00")


class ScriptedTransport(Transport):
    """A controller that has already sent ``packets`` when the stack starts reading."""

    def __init__(self, packets: list[Packet]) -> None:
        self.packets = packets

    async def send(self, packet_type: PacketType, payload: bytes) -> None:
        """The stack's commands go nowhere: nothing here depends on their answers."""

    async def receive(self) -> Packet:
        if not self.packets:
            await trio.sleep_forever()
        return self.packets.pop(0)

    async def aclose(self) -> None:
        self.packets = []


class AclOwnerCore:
    """Stands in for L2CAP: records what reaches the owner of ACL data."""

    spec = LayerSpec(
        Layer.L2CAP,
        handles=(AclLinkOpenedInd, AclDataInd, AclLinkClosedInd),
        subscribes=(LinkUpInd, LinkDownInd),
    )

    def __init__(self) -> None:
        self.seen: list[Message] = []

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        self.seen.append(message)
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


def acl_packet(payload: bytes) -> Packet:
    pdu = struct.pack("<HH", len(payload), 0x0004) + payload
    return PacketType.ACL, struct.pack("<HH", HANDLE | 0b10 << 12, len(pdu)) + pdu


def event_packet(event: hci.HciEvent) -> Packet:
    return PacketType.EVENT, event.to_bytes()


async def test_link_signals_and_data_reach_the_acl_owner_in_order() -> None:
    connected = hci.LeEnhancedConnectionComplete(
        0, HANDLE, 1, PEER, NO_ADDRESS, NO_ADDRESS, 24, 0, 72, 0
    )
    transport = ScriptedTransport(
        [
            event_packet(connected),
            acl_packet(b"first"),
            acl_packet(b"second"),
            event_packet(hci.DisconnectionComplete(0, HANDLE, 0x13)),
            acl_packet(b"after the close"),
        ]
    )
    owner = AclOwnerCore()
    # The stack with one more layer above btm, where L2CAP will be.
    async with open_stack(transport, extra_layers=[Actor(owner)]):
        await trio.testing.wait_all_tasks_blocked()
    about_the_link = [
        message
        for message in owner.seen
        if isinstance(
            message, AclLinkOpenedInd | AclDataInd | AclLinkClosedInd | LinkUpInd | LinkDownInd
        )
    ]
    # hci's own signals frame the data; btm's richer indications follow in their own time.
    ordered = [m for m in about_the_link if not isinstance(m, LinkUpInd | LinkDownInd)]
    assert ordered == [
        AclLinkOpenedInd(HANDLE, LinkTransport.LE, 1),
        AclDataInd(HANDLE, (acl_packet(b"first")[1][4:],)),
        AclDataInd(HANDLE, (acl_packet(b"second")[1][4:],)),
        AclLinkClosedInd(HANDLE, 0x13),
    ]
    richer = [type(m) for m in about_the_link if isinstance(m, LinkUpInd | LinkDownInd)]
    assert richer == [LinkUpInd, LinkDownInd]
    [up] = [m for m in about_the_link if isinstance(m, LinkUpInd)]
    assert up.link.link_id == 1  # the number hci gave the link


async def test_a_reused_handle_tells_its_links_apart() -> None:
    # Connected, gone, and the controller gives the handle to the next connection at once:
    # btm's LinkUpInd of the first link may reach the owner after hci opened the second.
    other = Address.parse("66:55:44:33:22:11").with_type(AddressType.RANDOM)
    first, second = (
        hci.LeEnhancedConnectionComplete(0, HANDLE, 1, peer, NO_ADDRESS, NO_ADDRESS, 24, 0, 72, 0)
        for peer in (PEER, other)
    )
    transport = ScriptedTransport(
        [
            event_packet(first),
            event_packet(hci.DisconnectionComplete(0, HANDLE, 0x13)),
            event_packet(second),
        ]
    )
    owner = AclOwnerCore()
    async with open_stack(transport, extra_layers=[Actor(owner)]):
        await trio.testing.wait_all_tasks_blocked()
    opened = [m.link_id for m in owner.seen if isinstance(m, AclLinkOpenedInd)]
    ups = {m.link.link_id: m.link.address for m in owner.seen if isinstance(m, LinkUpInd)}
    downs = [m.link_id for m in owner.seen if isinstance(m, LinkDownInd)]
    assert opened == [1, 2]
    assert ups == {1: PEER, 2: other}  # each LinkUpInd names the link it is about
    assert downs == [1]  # the first link went, the second is up
