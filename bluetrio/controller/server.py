"""Serve virtual controllers over H4 sockets: one controller per client, one shared air
(as Root Canal serves its HCI port)."""

from __future__ import annotations

import trio

from bluetrio.address import Address
from bluetrio.controller.air import Air
from bluetrio.controller.config import ControllerConfig
from bluetrio.controller.controller import VirtualController
from bluetrio.transports.base import Transport
from bluetrio.transports.socket import SocketSpec, serve_h4


async def serve_controllers(
    listen_spec: str | SocketSpec,
    air: Air,
    *,
    first_address: Address | None = None,
    config: ControllerConfig | None = None,
    task_status: trio.TaskStatus[SocketSpec] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept clients forever; each gets a fresh controller on ``air``.

    ``first_address`` is the public address of the first client's controller, as long as no
    other controller on the air uses it; every other controller gets a distinct one.
    """

    async def handle(transport: Transport) -> None:
        wanted = first_address
        address = wanted if wanted is not None and not air.address_in_use(wanted) else None
        controller = VirtualController(air, public_address=address, config=config)
        await controller.serve(transport)

    await serve_h4(listen_spec, handle, task_status=task_status)
