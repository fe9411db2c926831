"""Drive a virtual controller with raw HCI bytes, as a test host would.

:func:`open_host` serves a controller over an in-process transport and returns a
:class:`RawHost` that sends commands and ACL packets and waits for events by code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar

import trio

from bluetrio.address import Address
from bluetrio.controller.air import Air
from bluetrio.controller.controller import VirtualController
from bluetrio.messages import hci
from bluetrio.messages.fields import command_header
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import Transport
from bluetrio.transports.virtual import transport_pair

E = TypeVar("E", bound=hci.HciEvent)

# Every event page 1 has (LE Meta included) and every LE subevent this controller sends.
ALL_EVENTS_MASK = 0x3FFF_FFFF_FFFF_FFFF
ALL_LE_EVENTS_MASK = 0xFFFFF

# Longer than any procedure takes (supervision timeouts are at most 32 s), in Trio time.
DEFAULT_TIMEOUT = 60.0


def _matcher(event_class: type[hci.HciEvent]) -> Callable[[bytes], bool]:
    """Whether an event packet is of ``event_class`` (by event code and LE subevent)."""
    code = event_class.EVENT_CODE
    if issubclass(event_class, hci.LeMetaEvent) and event_class is not hci.LeMetaEvent:
        subevent = event_class.SUBEVENT_CODE
        return lambda packet: packet[0] == code and len(packet) > 2 and packet[2] == subevent
    return lambda packet: packet[0] == code


class RawHost:
    """The host end: everything received is kept, in order, until a test takes it."""

    def __init__(self, transport: Transport, controller: VirtualController) -> None:
        self.transport = transport
        self.controller = controller
        self.events: list[bytes] = []
        self.acl: list[bytes] = []
        self._arrived = trio.Event()

    async def run_receiver(self) -> None:
        while True:
            packet_type, payload = await self.transport.receive()
            (self.events if packet_type == PacketType.EVENT else self.acl).append(payload)
            self._arrived.set()
            self._arrived = trio.Event()

    async def send_command(self, opcode: int, parameters: bytes = b"") -> None:
        payload = command_header(opcode, len(parameters)) + parameters
        await self.transport.send(PacketType.COMMAND, payload)

    async def command(self, opcode: int, parameters: bytes = b"") -> bytes:
        """Send a command; return its Command Complete return parameters or Command Status."""
        await self.send_command(opcode, parameters)
        return await self.take_reply(opcode)

    async def run(self, command: hci.HciCommand) -> bytes:
        """Send a codec command; return what :meth:`command` returns for it."""
        return await self.command(command.opcode, command.parameters())

    async def take_reply(self, opcode: int) -> bytes:
        event = await self.take_event(
            lambda e: (
                e[0] in (hci.CommandComplete.EVENT_CODE, hci.CommandStatus.EVENT_CODE)
                and int.from_bytes(
                    e[3:5] if e[0] == hci.CommandComplete.EVENT_CODE else e[4:6], "little"
                )
                == opcode
            )
        )
        if event[0] == hci.CommandComplete.EVENT_CODE:
            return event[5:]
        return event[2:3]

    async def send_acl(self, handle: int, data: bytes, boundary: int = 0b00) -> None:
        packet = hci.AclPacket(handle, boundary, 0, data)
        await self.transport.send(PacketType.ACL, packet.to_bytes())

    async def take_event(self, predicate: object, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """The first (oldest) received event matching ``predicate``, waiting for it.

        Raises ``trio.TooSlowError`` after ``timeout`` seconds of Trio time, so a missing
        event fails a test instead of hanging it.
        """
        assert callable(predicate)
        with trio.fail_after(timeout):
            while True:
                for index, event in enumerate(self.events):
                    if predicate(event):
                        return self.events.pop(index)
                await self._arrived.wait()

    async def expect(self, event_class: type[hci.HciEvent]) -> bytes:
        """The next event of ``event_class``; returns its parameters (after the subevent code
        for LE Meta events)."""
        packet = await self.take_event(_matcher(event_class))
        return packet[3:] if issubclass(event_class, hci.LeMetaEvent) else packet[2:]

    async def next_event(self, event_class: type[E], timeout: float = DEFAULT_TIMEOUT) -> E:
        """The oldest received event of ``event_class``, decoded by the codec."""
        packet = await self.take_event(_matcher(event_class), timeout)
        event = hci.parse_event(packet)
        assert isinstance(event, event_class), event
        return event

    def events_of(self, event_class: type[hci.HciEvent]) -> list[bytes]:
        """Received events of ``event_class`` not taken yet."""
        return [event for event in self.events if _matcher(event_class)(event)]

    async def take_acl(self, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        with trio.fail_after(timeout):
            while not self.acl:
                await self._arrived.wait()
        return self.acl.pop(0)


# -- LE scenario steps shared by tests ---------------------------------------------------


def advertising_parameters(
    adv_type: int = 0, own_address_type: int = 0, peer: Address | None = None
) -> hci.LeSetAdvertisingParameters:
    """Legacy advertising every 100 ms on all three channels."""
    peer = peer if peer is not None else Address(bytes(6))
    return hci.LeSetAdvertisingParameters(0xA0, 0xA0, adv_type, own_address_type, peer, 7, 0)


def adv_params(adv_type: int = 0, peer: bytes = bytes(6), interval: int = 0x00A0) -> bytes:
    return hci.LeSetAdvertisingParameters(
        interval, interval, adv_type, 0, Address(peer), 7, 0
    ).parameters()


def create_connection(
    peer: Address, own_address_type: int = 0, timeout: int = 0x0064
) -> hci.LeCreateConnection:
    """LE_Create_Connection to ``peer`` (its Peer_Address_Type is ``peer.type``), 30 ms."""
    return hci.LeCreateConnection(
        le_scan_interval=0x60,
        le_scan_window=0x30,
        initiator_filter_policy=0,
        peer_address=peer,
        own_address_type=own_address_type,
        connection_interval_min=0x18,
        connection_interval_max=0x18,
        max_latency=0,
        supervision_timeout=timeout,
        min_ce_length=0,
        max_ce_length=0,
    )


def create_connection_params(peer: Address, timeout: int = 0x0064) -> bytes:
    return create_connection(peer, timeout=timeout).parameters()


async def advertise(host: RawHost, data: bytes = b"\x02\x01\x06", adv_type: int = 0) -> None:
    assert await host.run(advertising_parameters(adv_type)) == b"\x00"
    assert await host.run(hci.LeSetAdvertisingData(data)) == b"\x00"
    assert await host.run(hci.LeSetAdvertisingEnable(1)) == b"\x00"


async def connect(central: RawHost, peripheral: RawHost) -> tuple[int, int]:
    await advertise(peripheral)
    status = await central.run(create_connection(peripheral.controller.public_address))
    assert status == b"\x00"
    central_event = await central.expect(hci.LeConnectionComplete)
    peripheral_event = await peripheral.expect(hci.LeConnectionComplete)
    assert central_event[0] == 0 and peripheral_event[0] == 0
    assert central_event[3] == 0x00 and peripheral_event[3] == 0x01  # roles
    assert central_event[5:11] == peripheral.controller.public_address.to_wire()
    assert peripheral_event[5:11] == central.controller.public_address.to_wire()
    return (
        int.from_bytes(central_event[1:3], "little"),
        int.from_bytes(peripheral_event[1:3], "little"),
    )


@asynccontextmanager
async def open_host(controller: VirtualController) -> AsyncIterator[RawHost]:
    host_side, controller_side = transport_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(controller.serve, controller_side)
        host = RawHost(host_side, controller)
        nursery.start_soon(host.run_receiver)
        yield host
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def open_hosts(
    count: int = 2, *, air: Air | None = None, le_event_mask: int = ALL_LE_EVENTS_MASK
) -> AsyncIterator[list[RawHost]]:
    """``count`` hosts on controllers sharing one air, every event unmasked."""
    air = air if air is not None else Air()
    async with AsyncExitStack() as stack:
        hosts = [
            await stack.enter_async_context(open_host(VirtualController(air))) for _ in range(count)
        ]
        for host in hosts:
            assert await host.run(hci.SetEventMask(ALL_EVENTS_MASK)) == b"\x00"
            assert await host.run(hci.LeSetEventMask(le_event_mask)) == b"\x00"
        yield hosts


async def extended_advertise(
    host: RawHost,
    properties: int,
    data: bytes = b"",
    scan_response: bytes = b"",
    handle: int = 1,
    own_address_type: int = 0,
    peer: Address | None = None,
) -> None:
    """Set up advertising set ``handle`` (interval 100 ms) and enable it."""
    parameters = hci.LeSetExtendedAdvertisingParameters(
        advertising_handle=handle,
        advertising_event_properties=properties,
        primary_advertising_interval_min=0xA0,
        primary_advertising_interval_max=0xA0,
        primary_advertising_channel_map=7,
        own_address_type=own_address_type,
        peer_address=peer if peer is not None else Address(bytes(6)),
        advertising_filter_policy=0,
        advertising_tx_power=0x7F,
        primary_advertising_phy=1,
        secondary_advertising_max_skip=0,
        secondary_advertising_phy=1,
        advertising_sid=3,
        scan_request_notification_enable=0,
    )
    assert (await host.run(parameters))[:1] == b"\x00"
    if data:
        command = hci.LeSetExtendedAdvertisingData(handle, 3, 1, data)
        assert await host.run(command) == b"\x00"
    if scan_response:
        response = hci.LeSetExtendedScanResponseData(handle, 3, 1, scan_response)
        assert await host.run(response) == b"\x00"
    enable = hci.LeSetExtendedAdvertisingEnable(1, (hci.AdvertisingSetEnable(handle, 0, 0),))
    assert await host.run(enable) == b"\x00"
