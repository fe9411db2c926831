"""Drive a virtual controller with raw HCI bytes, as a test host would.

:func:`open_host` serves a controller over an in-process transport and returns a
:class:`RawHost` that sends commands and ACL packets and waits for events by code.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar

import trio

from bluetrio.address import Address
from bluetrio.controller.air import Air
from bluetrio.controller.controller import VirtualController
from bluetrio.messages import hci
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
        payload = struct.pack("<HB", opcode, len(parameters)) + parameters
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
        header = struct.pack("<HH", handle | (boundary << 12), len(data))
        await self.transport.send(PacketType.ACL, header + data)

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


def adv_params(adv_type: int = 0, peer: bytes = bytes(6), interval: int = 0x00A0) -> bytes:
    return struct.pack("<HHBBB6sBB", interval, interval, adv_type, 0, 0, peer, 0x07, 0)


def create_connection_params(peer: Address, timeout: int = 0x0064) -> bytes:
    return struct.pack(
        "<HHBB6sBHHHHHH",
        0x60,
        0x30,
        0,
        peer.type,
        peer.to_wire(),
        0,
        0x18,
        0x18,
        0,
        timeout,
        0,
        0,
    )


async def advertise(host: RawHost, data: bytes = b"\x02\x01\x06", adv_type: int = 0) -> None:
    assert await host.command(0x2006, adv_params(adv_type)) == b"\x00"
    assert await host.command(0x2008, bytes((len(data),)) + data.ljust(31, b"\0")) == b"\x00"
    assert await host.command(0x200A, b"\x01") == b"\x00"


async def connect(central: RawHost, peripheral: RawHost) -> tuple[int, int]:
    await advertise(peripheral)
    status = await central.command(
        0x200D, create_connection_params(peripheral.controller.public_address)
    )
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
    host: RawHost, properties: int, data: bytes = b"", scan_response: bytes = b"", handle: int = 1
) -> None:
    """Set up advertising set ``handle`` (interval 100 ms, public address) and enable it."""
    parameters = hci.LeSetExtendedAdvertisingParameters(
        advertising_handle=handle,
        advertising_event_properties=properties,
        primary_advertising_interval_min=0xA0,
        primary_advertising_interval_max=0xA0,
        primary_advertising_channel_map=7,
        own_address_type=0,
        peer_address=Address(bytes(6)),
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
