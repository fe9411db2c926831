"""Transports to a controller: H4 on serial ports and sockets, USB, and in-process virtual.

``open_transport(spec)`` opens any of them from a specification string (see
:mod:`bluetrio.transports.spec`) as an async context manager.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bluetrio.tasks import open_service_nursery
from bluetrio.transports.base import Packet, Transport
from bluetrio.transports.h4 import H4Framer, H4Role, encode
from bluetrio.transports.spec import (
    SerialSpec,
    TcpSpec,
    TransportSpec,
    UnixSpec,
    UsbSpec,
    VirtualSpec,
    parse_transport_spec,
)
from bluetrio.transports.stream import H4StreamTransport
from bluetrio.transports.tap import PacketTap, TappedTransport, tapped
from bluetrio.transports.virtual import transport_pair

if TYPE_CHECKING:
    from bluetrio.controller import VirtualController

__all__ = [
    "H4Framer",
    "H4Role",
    "H4StreamTransport",
    "Packet",
    "PacketTap",
    "SerialSpec",
    "TappedTransport",
    "TcpSpec",
    "Transport",
    "TransportSpec",
    "UnixSpec",
    "UsbSpec",
    "VirtualSpec",
    "encode",
    "open_transport",
    "parse_transport_spec",
    "transport_pair",
]


@contextlib.asynccontextmanager
async def open_transport(
    spec: str | TransportSpec, *, tap: PacketTap | None = None
) -> AsyncIterator[Transport]:
    """Open the host side of a transport to a controller; close it on exit.

    ``virtual`` runs the in-process virtual controller for as long as the context lasts.
    ``tap`` sees (and may alter) every packet in both directions.
    """
    parsed = parse_transport_spec(spec) if isinstance(spec, str) else spec
    if isinstance(parsed, VirtualSpec):
        async with _open_virtual(parsed) as transport:
            yield tapped(transport, tap)
        return
    if isinstance(parsed, UsbSpec):
        from bluetrio.transports.usb import open_usb_transport

        async with open_usb_transport(parsed) as transport:
            yield tapped(transport, tap)
        return
    opened = await _open_stream_transport(parsed)
    async with opened:
        yield tapped(opened, tap)


async def _open_stream_transport(spec: SerialSpec | TcpSpec | UnixSpec) -> H4StreamTransport:
    if isinstance(spec, SerialSpec):
        from bluetrio.transports.serial import open_serial_transport

        return await open_serial_transport(spec)
    from bluetrio.transports.socket import open_socket_transport

    return await open_socket_transport(spec)


@contextlib.asynccontextmanager
async def _open_virtual(spec: VirtualSpec) -> AsyncIterator[Transport]:
    from bluetrio.controller import VirtualController, default_air

    host_side, controller_side = transport_pair()
    controller = VirtualController(default_air(spec.name))
    async with open_service_nursery() as nursery:
        nursery.start_soon(_serve_until_closed, controller, controller_side)
        try:
            yield host_side
        finally:
            # The controller's serve() returns once the host side is closed.
            await host_side.aclose()


async def _serve_until_closed(controller: VirtualController, transport: Transport) -> None:
    async with transport:
        await controller.serve(transport)
