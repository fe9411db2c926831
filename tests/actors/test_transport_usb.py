"""USB transport against a fake pyusb backend that emulates Bluetooth dongles."""

from __future__ import annotations

import collections
import errno
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing
import usb.backend
import usb.core

from bluetrio.errors import InvalidArgumentError, TransportError
from bluetrio.messages.packets import PacketType
from bluetrio.transports.spec import UsbSpec
from bluetrio.transports.usb import default_backend, find_controller, open_usb_transport

BLUETOOTH = (0xE0, 0x01, 0x01)
EVENT_IN, ACL_IN, ACL_OUT = 0x81, 0x82, 0x02
INTERRUPT, BULK, ISOCHRONOUS = 0x03, 0x02, 0x01
RESET_COMMAND = bytes.fromhex("030c00")
UNPLUG = b"unplug"  # queued in place of a read: the device disappears at that point
POLL_MS = 10


class FakeDongle:
    """One emulated USB device: descriptors, and HCI behaviour for a Bluetooth dongle.

    A command is answered by a Command Complete carrying 37 filler bytes after the status,
    so it needs three 16-byte interrupt reads; ACL data written is echoed back on bulk IN in
    64-byte pieces.
    """

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        device_class: tuple[int, int, int],
        interfaces: list[tuple[tuple[int, int, int], list[tuple[int, int, int]]]],
    ) -> None:
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.device_class = device_class
        self.interfaces = interfaces
        self.configuration = 0  # unconfigured until the transport sets it
        self.kernel_driver = {0: True}
        self.claimed: set[int] = set()
        self.open = False
        self.commands: list[tuple[int, int, int, int, bytes]] = []
        self.acl_written: list[bytes] = []
        self.reads: dict[int, collections.deque[bytes]] = {
            EVENT_IN: collections.deque(),
            ACL_IN: collections.deque(),
        }
        self.unplugged = False
        self.fail_writes = False
        self.changed = threading.Condition()

    def queue(self, endpoint: int, data: bytes, piece: int) -> None:
        with self.changed:
            for start in range(0, len(data), piece):
                self.reads[endpoint].append(data[start : start + piece])
            self.changed.notify_all()

    def queue_unplug(self, endpoint: int) -> None:
        with self.changed:
            self.reads[endpoint].append(UNPLUG)
            self.changed.notify_all()

    def check_present(self) -> None:
        if self.unplugged:
            raise usb.core.USBError("No such device (it may have been disconnected)", -4, 19)


def bluetooth_dongle(vendor_id: int = 0x0A12, product_id: int = 0x0001, **kw: Any) -> FakeDongle:
    hci = [(EVENT_IN, INTERRUPT, 16), (ACL_IN, BULK, 64), (ACL_OUT, BULK, 64)]
    sco = [(0x83, ISOCHRONOUS, 0), (0x03, ISOCHRONOUS, 0)]
    interface_class = kw.get("interface_class", BLUETOOTH)
    return FakeDongle(
        vendor_id,
        product_id,
        kw.get("device_class", BLUETOOTH),
        [(interface_class, hci), (interface_class, sco)],
    )


class FakeBackend(usb.backend.IBackend):  # type: ignore[misc]
    """A pyusb backend over FakeDongle objects; no libusb involved."""

    def __init__(self, devices: list[FakeDongle]) -> None:
        super().__init__()
        self.devices = devices

    def enumerate_devices(self) -> Iterator[FakeDongle]:
        return iter(self.devices)

    def get_device_descriptor(self, dev: FakeDongle) -> SimpleNamespace:
        cls, sub, proto = dev.device_class
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=cls,
            bDeviceSubClass=sub, bDeviceProtocol=proto, bMaxPacketSize0=64,
            idVendor=dev.vendor_id, idProduct=dev.product_id, bcdDevice=0x0100,
            iManufacturer=0, iProduct=0, iSerialNumber=0, bNumConfigurations=1,
            address=self.devices.index(dev) + 1, bus=1, port_number=None, port_numbers=None,
            speed=None,
        )  # fmt: skip

    def get_configuration_descriptor(self, dev: FakeDongle, config: int) -> SimpleNamespace:
        if config != 0:
            raise IndexError(config)
        return SimpleNamespace(
            bLength=9, bDescriptorType=2, wTotalLength=0, bNumInterfaces=len(dev.interfaces),
            bConfigurationValue=1, iConfiguration=0, bmAttributes=0xE0, bMaxPower=50,
            extra_descriptors=[],
        )  # fmt: skip

    def get_interface_descriptor(
        self, dev: FakeDongle, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        if alt != 0 or intf >= len(dev.interfaces):
            raise IndexError(alt)
        (cls, sub, proto), endpoints = dev.interfaces[intf]
        return SimpleNamespace(
            bLength=9, bDescriptorType=4, bInterfaceNumber=intf, bAlternateSetting=0,
            bNumEndpoints=len(endpoints), bInterfaceClass=cls, bInterfaceSubClass=sub,
            bInterfaceProtocol=proto, iInterface=0, extra_descriptors=[],
        )  # fmt: skip

    def get_endpoint_descriptor(
        self, dev: FakeDongle, ep: int, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        address, attributes, size = dev.interfaces[intf][1][ep]
        return SimpleNamespace(
            bLength=7, bDescriptorType=5, bEndpointAddress=address, bmAttributes=attributes,
            wMaxPacketSize=size, bInterval=1, bRefresh=0, bSynchAddress=0, extra_descriptors=[],
        )  # fmt: skip

    def open_device(self, dev: FakeDongle) -> FakeDongle:
        dev.check_present()
        dev.open = True
        return dev

    def close_device(self, dev: FakeDongle) -> None:
        dev.open = False

    def set_configuration(self, dev: FakeDongle, config_value: int) -> None:
        dev.check_present()
        dev.configuration = config_value

    def get_configuration(self, dev: FakeDongle) -> int:
        dev.check_present()
        return dev.configuration

    def claim_interface(self, dev: FakeDongle, intf: int) -> None:
        dev.check_present()
        if dev.kernel_driver.get(intf):
            raise usb.core.USBError("Resource busy", -6, errno.EBUSY)
        dev.claimed.add(intf)

    def release_interface(self, dev: FakeDongle, intf: int) -> None:
        dev.check_present()
        dev.claimed.discard(intf)

    def is_kernel_driver_active(self, dev: FakeDongle, intf: int) -> bool:
        dev.check_present()
        return dev.kernel_driver.get(intf, False)

    def detach_kernel_driver(self, dev: FakeDongle, intf: int) -> None:
        dev.kernel_driver[intf] = False

    def attach_kernel_driver(self, dev: FakeDongle, intf: int) -> None:
        dev.check_present()
        dev.kernel_driver[intf] = True

    def ctrl_transfer(
        self, dev: FakeDongle, request_type: int, request: int, value: int, index: int,
        data: Any, timeout: int,
    ) -> int:  # fmt: skip
        dev.check_present()
        payload = bytes(data)
        dev.commands.append((request_type, request, value, index, payload))
        parameters = b"\x01" + payload[:2] + b"\x00" + bytes(range(37))
        dev.queue(EVENT_IN, bytes((0x0E, len(parameters))) + parameters, 16)
        return len(payload)

    def bulk_write(self, dev: FakeDongle, ep: int, intf: int, data: Any, timeout: int) -> int:
        dev.check_present()
        if dev.fail_writes:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        payload = bytes(data)
        dev.acl_written.append(payload)
        dev.queue(ACL_IN, payload, 64)
        return len(payload)

    def _read(self, dev: FakeDongle, ep: int, buff: Any, timeout: int) -> int:
        with dev.changed:
            dev.check_present()
            if not dev.reads[ep]:
                dev.changed.wait(timeout / 1000)
            if not dev.reads[ep]:
                raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
            piece = dev.reads[ep].popleft()
            if piece == UNPLUG:
                dev.unplugged = True
                dev.check_present()
        assert len(piece) <= len(buff), "a read must ask for at least one maximum packet"
        buff[: len(piece)] = type(buff)("B", piece)
        return len(piece)

    def intr_read(self, dev: FakeDongle, ep: int, intf: int, buff: Any, timeout: int) -> int:
        return self._read(dev, ep, buff, timeout)

    def bulk_read(self, dev: FakeDongle, ep: int, intf: int, buff: Any, timeout: int) -> int:
        return self._read(dev, ep, buff, timeout)


def lab() -> tuple[FakeBackend, list[FakeDongle]]:
    """A mouse, a plain dongle, a composite device with a Bluetooth interface, a vendor one."""
    mouse = FakeDongle(0x046D, 0xC077, (0, 0, 0), [((3, 1, 2), [(0x81, INTERRUPT, 8)])])
    plain = bluetooth_dongle()
    composite = bluetooth_dongle(0x8087, 0x0AAA, device_class=(0xEF, 2, 1))
    vendor = bluetooth_dongle(0x0A5C, 0x21E8, device_class=(0xFF, 1, 1),
                              interface_class=(0xFF, 1, 1))  # fmt: skip
    devices = [mouse, plain, composite, vendor]
    return FakeBackend(devices), devices


def test_controllers_are_found_by_class_index_or_ids() -> None:
    backend, (_, plain, composite, _) = lab()

    def found(spec: UsbSpec) -> tuple[int, int]:
        device = find_controller(spec, backend)
        return device.idVendor, device.idProduct

    assert found(UsbSpec()) == (plain.vendor_id, plain.product_id)
    assert found(UsbSpec(index=1)) == (composite.vendor_id, composite.product_id)
    assert found(UsbSpec(vendor_id=0x0A5C, product_id=0x21E8)) == (0x0A5C, 0x21E8)
    with pytest.raises(TransportError, match="usb:2: found 2 Bluetooth USB controller"):
        find_controller(UsbSpec(index=2), backend)
    with pytest.raises(TransportError, match="usb:1234:5678: no USB device with that"):
        find_controller(UsbSpec(vendor_id=0x1234, product_id=0x5678), backend)


async def test_command_goes_by_control_transfer_and_event_is_reassembled() -> None:
    backend, devices = lab()
    dongle = devices[1]
    async with open_usb_transport(UsbSpec(), backend=backend, poll_interval_ms=POLL_MS) as usb_:
        assert dongle.configuration == 1
        assert dongle.kernel_driver[0] is False and dongle.claimed == {0}
        await usb_.send(PacketType.COMMAND, RESET_COMMAND)
        packet_type, event = await usb_.receive()
    assert dongle.commands == [(0x20, 0x00, 0, 0, RESET_COMMAND)]
    assert packet_type == PacketType.EVENT
    assert event[:6] == bytes.fromhex("0e2901030c00") and len(event) == 2 + 0x29
    # Closing gave the interface back to the kernel driver.
    assert dongle.claimed == set() and dongle.kernel_driver[0] is True and not dongle.open


async def test_acl_crosses_in_several_bulk_reads_in_order() -> None:
    backend, devices = lab()
    packets = [bytes.fromhex("0120") + (300).to_bytes(2, "little") + bytes([n]) * 300
               for n in range(10)]  # fmt: skip
    async with open_usb_transport(
        UsbSpec(index=1), backend=backend, poll_interval_ms=POLL_MS
    ) as usb_:
        for packet in packets:
            await usb_.send(PacketType.ACL, packet)
        assert [await usb_.receive() for _ in packets] == [(PacketType.ACL, p) for p in packets]
    assert devices[2].acl_written == packets


async def test_many_events_queued_at_once_all_arrive_in_order() -> None:
    backend, devices = lab()
    events = [bytes((0x13, 5, 1)) + n.to_bytes(2, "little") + b"\x01\x00" for n in range(200)]
    for event in events:
        devices[1].queue(EVENT_IN, event, 16)
    async with open_usb_transport(UsbSpec(), backend=backend, poll_interval_ms=POLL_MS) as usb_:
        assert [await usb_.receive() for _ in events] == [(PacketType.EVENT, e) for e in events]


async def test_unplug_mid_stream_delivers_what_came_then_fails() -> None:
    backend, devices = lab()
    dongle = devices[1]
    first, second = bytes.fromhex("0e0401030c00"), bytes.fromhex("0f0400010000")
    dongle.queue(EVENT_IN, first, 16)
    dongle.queue(EVENT_IN, second, 16)
    dongle.queue_unplug(EVENT_IN)
    async with open_usb_transport(UsbSpec(), backend=backend, poll_interval_ms=POLL_MS) as usb_:
        assert await usb_.receive() == (PacketType.EVENT, first)
        assert await usb_.receive() == (PacketType.EVENT, second)
        with pytest.raises(TransportError, match=r"^USB device unplugged$"):
            await usb_.receive()
        with pytest.raises(TransportError, match=r"^USB device unplugged$"):
            await usb_.send(PacketType.COMMAND, RESET_COMMAND)


async def test_unplug_seen_by_a_write_stops_the_readers() -> None:
    backend, devices = lab()
    async with open_usb_transport(UsbSpec(), backend=backend, poll_interval_ms=POLL_MS) as usb_:
        devices[1].unplugged = True
        with pytest.raises(TransportError, match="USB device unplugged"):
            await usb_.send(PacketType.ACL, bytes.fromhex("01200000"))
        with pytest.raises(TransportError, match="USB device unplugged"):
            await usb_.receive()


async def test_other_write_errors_are_transport_errors() -> None:
    backend, devices = lab()
    devices[1].fail_writes = True
    async with open_usb_transport(UsbSpec(), backend=backend, poll_interval_ms=POLL_MS) as usb_:
        with pytest.raises(TransportError, match=r"usb:0: USB transfer failed .*Pipe error"):
            await usb_.send(PacketType.ACL, bytes.fromhex("01200000"))


async def test_close_ends_a_blocked_receive() -> None:
    backend, _ = lab()
    async with open_usb_transport(UsbSpec(), backend=backend, poll_interval_ms=POLL_MS) as usb_:
        async with trio.open_nursery() as nursery:

            async def receive_until_closed() -> None:
                with pytest.raises(TransportError, match="usb:0 is closed"):
                    await usb_.receive()

            nursery.start_soon(receive_until_closed)
            await trio.testing.wait_all_tasks_blocked()
            await usb_.aclose()
        with pytest.raises(TransportError, match="is closed"):
            await usb_.send(PacketType.COMMAND, RESET_COMMAND)


async def test_sco_is_refused() -> None:
    backend, _ = lab()
    async with open_usb_transport(UsbSpec(), backend=backend, poll_interval_ms=POLL_MS) as usb_:
        with pytest.raises(TransportError, match=r"cannot send .*SCO"):
            await usb_.send(PacketType.SCO, bytes.fromhex("010000"))


async def test_cancelling_the_surrounding_scope_stops_reader_threads() -> None:
    backend, devices = lab()
    with trio.move_on_after(0.05) as scope:
        async with open_usb_transport(UsbSpec(), backend=backend, poll_interval_ms=POLL_MS) as t:
            await t.receive()  # nothing ever arrives
    assert scope.cancelled_caught
    assert devices[1].claimed == set()


async def test_poll_interval_is_checked_before_the_device_is_claimed() -> None:
    backend, devices = lab()
    with pytest.raises(InvalidArgumentError, match="poll_interval_ms"):
        async with open_usb_transport(UsbSpec(), backend=backend, poll_interval_ms=0):
            pass
    assert devices[1].claimed == set() and not devices[1].open


async def test_no_controller_anywhere_names_the_spec() -> None:
    with pytest.raises(TransportError, match="usb:0"):
        async with open_usb_transport(UsbSpec(), backend=FakeBackend([])):
            pass


def test_the_default_backend_is_the_libusb_of_the_usb_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    libusb_package = pytest.importorskip("libusb_package")
    # The wheel carries the library itself: nothing is needed from the system.
    assert Path(libusb_package.get_library_path()).is_file()
    backend, (_, plain, _, _) = lab()
    monkeypatch.setattr(libusb_package, "get_libusb1_backend", lambda: backend)
    assert default_backend() is backend
    device = find_controller(UsbSpec())  # no backend given: the default one
    assert (device.idVendor, device.idProduct) == (plain.vendor_id, plain.product_id)


@pytest.mark.parametrize("error", [KeyboardInterrupt, TransportError])
async def test_what_the_user_raises_leaves_the_transport_bare(error: type[BaseException]) -> None:
    backend, _ = lab()
    with pytest.raises(error):
        async with open_usb_transport(UsbSpec(), backend=backend, poll_interval_ms=POLL_MS):
            raise error("the user's")
