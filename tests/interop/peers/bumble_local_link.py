"""Bumble's virtual controllers for the peer scripts: two on one Bumble ``LocalLink``, the
first for the peer's own Bumble host, the second served to one HCI host (the test's) over TCP
on a port the system picks.

For BR/EDR each gets a distinct public address, never Bumble's default 00:00:00:00:00:00:
the LocalLink routes BR/EDR traffic (LMP, ACL) by public address, so two controllers that
share the default cannot page each other, and Bumble's host takes that address for "any
address" when it decides whether to accept a BR/EDR connection. For LE the served controller
keeps the default: the LocalLink names the sender of LE ACL data by its controller's random
address whatever own address the connection uses, so a host that connects with its public
address (bluetrio does) is found by the peer only when public and random are both the
default 00:00:00:00:00:00. Bumble's controller does not take the vendor
Write_BD_ADDR (0xFC06): it logs "Unsupported command" and answers nothing at all, not even
Unknown HCI Command (Core 5.4 Vol 4 Part E 4.5), so bluetrio's ``open_stack(address=...)``
times out there. The address is set through Bumble's API when each controller is made.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

from bumble.controller import Controller
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

# Public addresses of the two controllers (the peer's own, the served one) for BR/EDR.
PEER_PUBLIC_ADDRESS = "00:00:00:B0:B0:01"
SERVED_PUBLIC_ADDRESS = "00:00:00:B0:B0:02"


def larger_le_buffers(controller: Controller) -> Controller:
    """LE ACL buffers of 251 octets (Bumble's default is 27), so that a K-frame of MPS 247
    and its header travel in one packet."""
    controller.le_acl_data_packet_length = 251
    controller.total_num_le_acl_data_packets = 8
    return controller


@contextlib.asynccontextmanager
async def local_link_controllers(*, bredr: bool) -> AsyncIterator[tuple[Host, int]]:
    """The peer's host on its own controller, and the port where the second one is served;
    ``bredr``: distinct public addresses, for BR/EDR links (LE links need the default)."""
    link = LocalLink()  # type: ignore[no-untyped-call]  # Bumble leaves it untyped
    own_public = PEER_PUBLIC_ADDRESS if bredr else None
    served_public = SERVED_PUBLIC_ADDRESS if bredr else None
    own = Controller("bumble-peer", link=link, public_address=own_public)
    host = Host(controller_source=larger_le_buffers(own), controller_sink=AsyncPipeSink(own))
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = int(listening.getsockname()[1])
    async with await open_tcp_server_transport_with_socket(listening) as transport:
        served = Controller(
            "for-the-test",
            transport.source,
            transport.sink,
            link=link,
            public_address=served_public,
        )
        larger_le_buffers(served)
        yield host, port
