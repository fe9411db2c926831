"""HCI over USB with pyusb (Core 5.4 Vol 4 Part B).

A Bluetooth USB controller carries HCI on interface 0 (Core 5.4 Vol 4 Part B 2.1): commands
go out as class control requests on endpoint 0, events come in on an interrupt IN endpoint,
ACL data uses a pair of bulk endpoints. SCO over the isochronous interface 1 is not
supported. ISO data is sent on the bulk OUT endpoint; data arriving on bulk IN is reported
as ACL, since USB gives no indicator to tell the two apart.

pyusb calls block, so each IN endpoint has a reader thread (``trio.to_thread.run_sync``)
polling with a short timeout, which lets it notice cancellation promptly; packets come back
to Trio through a bounded memory channel.
"""

from __future__ import annotations

import contextlib
import errno
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import trio

from bluetrio.errors import InvalidArgumentError, TransportError
from bluetrio.messages.packets import PacketType
from bluetrio.tasks import open_service_nursery
from bluetrio.transports.base import Packet, Transport
from bluetrio.transports.h4 import PacketLayout, packet_layouts
from bluetrio.transports.spec import UsbSpec

# Class, subclass, protocol of a Bluetooth primary controller (Core 5.4 Vol 4 Part B 2.1).
BLUETOOTH_CLASS_TRIPLE = (0xE0, 0x01, 0x01)
# HCI commands: class request, host to device, recipient device, bRequest 0
# (Core 5.4 Vol 4 Part B 2.2).
COMMAND_REQUEST_TYPE = 0x20
COMMAND_REQUEST = 0x00
# How long a reader blocks in one read before checking for cancellation.
DEFAULT_POLL_INTERVAL_MS = 100
WRITE_TIMEOUT_MS = 5000
RECEIVED_PACKET_CAPACITY = 64
_ENDPOINT_DIRECTION_IN = 0x80
_TRANSFER_TYPE_MASK = 0x03
_TRANSFER_TYPE_BULK = 0x02
_TRANSFER_TYPE_INTERRUPT = 0x03
# libusb's LIBUSB_ERROR_NO_DEVICE, as pyusb's libusb1 backend reports it.
_LIBUSB_ERROR_NO_DEVICE = -4


@attrs.frozen
class UsbEndpoints:
    """Where the HCI traffic of one controller goes, read from its descriptors."""

    interface_number: int
    event_in: int
    event_packet_size: int
    acl_in: int
    acl_packet_size: int
    acl_out: int


class UsbReassembler:
    """Joins the pieces of HCI packets read from one endpoint (sans-IO).

    A packet larger than the endpoint's maximum packet size arrives over several reads;
    its header's length field says when it is complete (Core 5.4 Vol 4 Part B 2.1).
    """

    def __init__(self, layout: PacketLayout) -> None:
        self._layout = layout
        self._buffer = bytearray()
        #: Bytes thrown away because a header announced an impossible length.
        self.discarded_bytes = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add one read's bytes; return the HCI packets (without indicator) now complete."""
        buffer = self._buffer
        buffer += data
        layout = self._layout
        packets: list[bytes] = []
        position = 0
        while len(buffer) - position >= layout.header_length:
            length = layout.length_from(buffer, position)
            if length > layout.max_length:
                # USB has no indicator to resynchronise on; start again with the next read.
                self.discarded_bytes += len(buffer) - position
                position = len(buffer)
                break
            end = position + layout.header_length + length
            if end > len(buffer):
                break
            packets.append(bytes(buffer[position:end]))
            position = end
        del buffer[:position]
        return packets


def is_bluetooth_controller(device: Any) -> bool:
    """True for a device whose class, or one of whose interfaces' class, is E0/01/01."""
    return _bluetooth_interface_number(device) is not None


def _bluetooth_interface_number(device: Any) -> int | None:
    if _class_triple(device, "bDevice") == BLUETOOTH_CLASS_TRIPLE:
        return 0
    for configuration in device:
        for interface in configuration:
            if _class_triple(interface, "bInterface") == BLUETOOTH_CLASS_TRIPLE:
                return int(interface.bInterfaceNumber)
    return None


def _class_triple(descriptor: Any, prefix: str) -> tuple[int, int, int]:
    return (
        int(getattr(descriptor, prefix + "Class")),
        int(getattr(descriptor, prefix + "SubClass")),
        int(getattr(descriptor, prefix + "Protocol")),
    )


def default_backend() -> Any:
    """pyusb's libusb 1.0 backend on the libusb shipped by the ``libusb-package`` wheel (the
    ``usb`` extra installs it), so no system libusb is needed; None lets pyusb look for a
    system libusb when that wheel is absent."""
    try:
        import libusb_package
    except ImportError:
        return None
    return libusb_package.get_libusb1_backend()


def find_controller(spec: UsbSpec, backend: Any = None) -> Any:
    """The pyusb device the spec designates; raises TransportError if there is none.

    ``backend``: a pyusb backend; None uses :func:`default_backend`.
    """
    import usb.core

    if backend is None:
        backend = default_backend()
    try:
        devices = list(usb.core.find(find_all=True, backend=backend))
        if spec.vendor_id is not None:
            for device in devices:
                if (device.idVendor, device.idProduct) == (spec.vendor_id, spec.product_id):
                    return device
            raise TransportError(f"{spec}: no USB device with that vendor and product ID")
        controllers = [device for device in devices if is_bluetooth_controller(device)]
    except usb.core.NoBackendError as exc:
        raise TransportError(
            f"{spec}: no USB backend could start: libusb is missing (pip install "
            "'bluetrio[usb]' ships it) or cannot reach the USB devices"
        ) from exc
    except usb.core.USBError as exc:
        raise TransportError(f"{spec}: cannot enumerate USB devices ({exc})") from exc
    if spec.index >= len(controllers):
        raise TransportError(
            f"{spec}: found {len(controllers)} Bluetooth USB controller(s), "
            f"so there is no controller number {spec.index}"
        )
    return controllers[spec.index]


def discover_endpoints(device: Any) -> UsbEndpoints:
    """Read the HCI endpoints of the device's Bluetooth interface from its descriptors."""
    import usb.core
    import usb.util

    try:
        configuration = device.get_active_configuration()
    except usb.core.USBError:
        device.set_configuration()  # unconfigured: take the first configuration
        configuration = device.get_active_configuration()
    interface_number = _bluetooth_interface_number(device) or 0
    interface = usb.util.find_descriptor(
        configuration, bInterfaceNumber=interface_number, bAlternateSetting=0
    )
    if interface is None:
        raise TransportError(f"USB device has no interface {interface_number}")
    found: dict[str, tuple[int, int]] = {}
    for endpoint in interface:
        address = int(endpoint.bEndpointAddress)
        transfer_type = int(endpoint.bmAttributes) & _TRANSFER_TYPE_MASK
        is_in = bool(address & _ENDPOINT_DIRECTION_IN)
        if transfer_type == _TRANSFER_TYPE_INTERRUPT and is_in:
            role = "event_in"
        elif transfer_type == _TRANSFER_TYPE_BULK:
            role = "acl_in" if is_in else "acl_out"
        else:
            continue
        found.setdefault(role, (address, int(endpoint.wMaxPacketSize) & 0x7FF))
    missing = {"event_in", "acl_in", "acl_out"} - found.keys()
    if missing:
        raise TransportError(
            f"USB interface {interface_number} lacks HCI endpoints: {', '.join(sorted(missing))}"
        )
    return UsbEndpoints(
        interface_number=interface_number,
        event_in=found["event_in"][0],
        event_packet_size=found["event_in"][1],
        acl_in=found["acl_in"][0],
        acl_packet_size=found["acl_in"][1],
        acl_out=found["acl_out"][0],
    )


def _claim(device: Any, interface_number: int) -> bool:
    """Take the interface from the kernel driver if needed; True if one was detached."""
    import usb.core
    import usb.util

    detached = False
    with contextlib.suppress(NotImplementedError):  # backends that cannot tell
        if device.is_kernel_driver_active(interface_number):
            device.detach_kernel_driver(interface_number)
            detached = True
    try:
        usb.util.claim_interface(device, interface_number)
    except usb.core.USBError:
        if detached:
            _give_back(device, interface_number, detached)
        raise
    return detached


def _give_back(device: Any, interface_number: int, reattach: bool) -> None:
    """Release the interface and hand it back to the kernel driver we took it from."""
    import usb.core
    import usb.util

    # A device that was unplugged fails all of these; there is nothing left to release.
    with contextlib.suppress(usb.core.USBError):
        usb.util.release_interface(device, interface_number)
    if reattach:
        with contextlib.suppress(usb.core.USBError, NotImplementedError):
            device.attach_kernel_driver(interface_number)
    with contextlib.suppress(usb.core.USBError):
        usb.util.dispose_resources(device)


def _failure(description: str, exc: Exception) -> TransportError:
    if (
        getattr(exc, "errno", None) == errno.ENODEV
        or getattr(exc, "backend_error_code", None) == _LIBUSB_ERROR_NO_DEVICE
        or "no such device" in str(exc).lower()
    ):
        return TransportError("USB device unplugged")
    return TransportError(f"{description}: USB transfer failed ({exc})")


class UsbTransport(Transport):
    """HCI packets over a claimed USB Bluetooth interface; open with :func:`open_usb_transport`."""

    def __init__(
        self,
        device: Any,
        endpoints: UsbEndpoints,
        *,
        description: str,
        poll_interval_ms: int = DEFAULT_POLL_INTERVAL_MS,
    ) -> None:
        self.device = device
        self.endpoints = endpoints
        self.description = description
        self._poll_interval_ms = poll_interval_ms
        # The two long-lived reader threads get their own tokens, so they never use up the
        # default thread limiter that short blocking calls elsewhere rely on.
        self._reader_limiter = trio.CapacityLimiter(2)
        self._incoming_sender, self._incoming = trio.open_memory_channel[Packet](
            RECEIVED_PACKET_CAPACITY
        )
        self._command_lock = trio.Lock()
        self._data_lock = trio.Lock()
        self._readers_scope = trio.CancelScope()
        self._readers_done = trio.Event()
        self._failure: TransportError | None = None
        self._closed = False
        layouts = packet_layouts()
        self.event_reassembler = UsbReassembler(layouts[PacketType.EVENT])
        self.acl_reassembler = UsbReassembler(layouts[PacketType.ACL])

    async def run_readers(self, release: Callable[[], None]) -> None:
        """Read events and ACL data until closed or failed, then call ``release`` (blocking)."""
        readers = (
            (
                self.endpoints.event_in,
                self.endpoints.event_packet_size,
                PacketType.EVENT,
                self.event_reassembler,
            ),
            (
                self.endpoints.acl_in,
                self.endpoints.acl_packet_size,
                PacketType.ACL,
                self.acl_reassembler,
            ),
        )
        try:
            with self._readers_scope:
                async with trio.open_nursery() as nursery:
                    # receive() sees EndOfChannel once both readers closed their clone.
                    for endpoint, size, packet_type, reassembler in readers:
                        sender = self._incoming_sender.clone()
                        nursery.start_soon(
                            self._read_endpoint, endpoint, size, packet_type, reassembler, sender
                        )
                    self._incoming_sender.close()
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(release)
            self._readers_done.set()

    async def _read_endpoint(
        self,
        endpoint: int,
        size: int,
        packet_type: PacketType,
        reassembler: UsbReassembler,
        sender: trio.MemorySendChannel[Packet],
    ) -> None:
        async def deliver(payloads: list[bytes]) -> None:
            # BrokenResourceError: the transport was closed; nobody wants these any more.
            with contextlib.suppress(trio.BrokenResourceError):
                for payload in payloads:
                    await sender.send((packet_type, payload))

        # Reading exactly one maximum-size packet per transfer means a read completes as
        # soon as the controller sends anything, so a timeout never cuts a transfer short
        # and loses the bytes already received.
        read = functools.partial(self.device.read, endpoint, size, self._poll_interval_ms)

        def read_loop() -> None:
            import usb.core

            while True:
                trio.from_thread.check_cancelled()
                try:
                    data = read()
                except usb.core.USBTimeoutError:
                    continue
                except usb.core.USBError as exc:
                    raise _failure(self.description, exc) from exc
                payloads = reassembler.feed(data.tobytes())
                if payloads:
                    trio.from_thread.run(deliver, payloads)

        async with sender:
            try:
                await trio.to_thread.run_sync(read_loop, limiter=self._reader_limiter)
            except TransportError as exc:
                self._failure = self._failure or exc
                self._readers_scope.cancel()

    async def send(self, packet_type: PacketType, payload: bytes) -> None:
        self._check_usable()
        if packet_type == PacketType.COMMAND:
            lock = self._command_lock
            transfer = functools.partial(
                self.device.ctrl_transfer,
                COMMAND_REQUEST_TYPE,
                COMMAND_REQUEST,
                0,
                self.endpoints.interface_number,
                payload,
                WRITE_TIMEOUT_MS,
            )
        elif packet_type in (PacketType.ACL, PacketType.ISO):
            lock = self._data_lock
            transfer = functools.partial(
                self.device.write, self.endpoints.acl_out, payload, WRITE_TIMEOUT_MS
            )
        else:
            raise TransportError(f"{self.description}: cannot send {packet_type!r} over USB")
        import usb.core

        async with lock:
            self._check_usable()
            try:
                await trio.to_thread.run_sync(transfer)
            except usb.core.USBError as exc:
                failure = _failure(self.description, exc)
                self._failure = self._failure or failure
                self._readers_scope.cancel()
                raise failure from exc

    async def receive(self) -> Packet:
        try:
            return await self._incoming.receive()
        except trio.EndOfChannel:
            # Readers have stopped: report why, after every packet they read was delivered.
            raise self._failure or TransportError(f"{self.description} is closed") from None
        except trio.ClosedResourceError as exc:
            raise TransportError(f"{self.description} is closed") from exc

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise TransportError(f"{self.description} is closed")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._readers_scope.cancel()
        self._incoming.close()
        # Reader threads notice within one poll interval; wait so the device is released.
        with trio.CancelScope(shield=True):
            await self._readers_done.wait()


def _open_device(spec: UsbSpec, backend: Any) -> tuple[Any, UsbEndpoints, bool]:
    import usb.core

    device = find_controller(spec, backend)
    try:
        endpoints = discover_endpoints(device)
        detached = _claim(device, endpoints.interface_number)
    except usb.core.USBError as exc:
        raise TransportError(f"{spec}: cannot claim the controller ({exc})") from exc
    return device, endpoints, detached


@contextlib.asynccontextmanager
async def open_usb_transport(
    spec: UsbSpec, *, backend: Any = None, poll_interval_ms: int = DEFAULT_POLL_INTERVAL_MS
) -> AsyncIterator[UsbTransport]:
    """Find, claim and open a USB controller; release it (and its kernel driver) on exit.

    ``backend`` is a pyusb backend (default: :func:`default_backend`, the libusb of the
    ``libusb-package`` wheel).
    """
    try:
        import usb.core  # noqa: F401
    except ImportError as exc:
        raise TransportError(
            f"{spec}: USB transports need pyusb (pip install 'bluetrio[usb]')"
        ) from exc
    if not isinstance(poll_interval_ms, int) or not 0 < poll_interval_ms <= 10_000:
        raise InvalidArgumentError(
            f"poll_interval_ms must be from 1 to 10000 milliseconds, got {poll_interval_ms!r}"
        )
    device, endpoints, detached = await trio.to_thread.run_sync(_open_device, spec, backend)
    transport = UsbTransport(
        device, endpoints, description=str(spec), poll_interval_ms=poll_interval_ms
    )
    release = functools.partial(_give_back, device, endpoints.interface_number, detached)
    async with open_service_nursery() as nursery:
        nursery.start_soon(transport.run_readers, release)
        try:
            yield transport
        finally:
            await transport.aclose()
