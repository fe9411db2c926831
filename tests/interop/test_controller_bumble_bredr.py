"""Two Bumble hosts on two bluetrio virtual controllers: BR/EDR connection, Secure Simple
Pairing, encryption and an RFCOMM exchange, all driven by Bumble's own host stack."""

from __future__ import annotations

import asyncio

import pytest
import trio
from interop_support import TEST_LIMIT, run_asyncio

from bluetrio.controller import Air, VirtualController
from bluetrio.transports.base import Transport
from bluetrio.transports.socket import serve_h4
from bluetrio.transports.spec import TcpSpec

pytestmark = pytest.mark.interop

bumble_device = pytest.importorskip("bumble.device")
bumble_core = pytest.importorskip("bumble.core")
bumble_hci = pytest.importorskip("bumble.hci")
bumble_rfcomm = pytest.importorskip("bumble.rfcomm")
bumble_transport = pytest.importorskip("bumble.transport")
bumble_pairing = pytest.importorskip("bumble.pairing")

ADDRESS_A = "00:00:00:00:0A:01"
ADDRESS_B = "00:00:00:00:0B:02"


async def bumble_scenario(port_a: int, port_b: int) -> dict[str, object]:
    """Runs in a worker thread with its own asyncio loop; returns what it observed."""
    observed: dict[str, object] = {}
    transport_a = await bumble_transport.open_transport(f"tcp-client:127.0.0.1:{port_a}")
    transport_b = await bumble_transport.open_transport(f"tcp-client:127.0.0.1:{port_b}")
    async with transport_a, transport_b:
        devices = []
        for name, address, transport in (
            ("alpha", ADDRESS_A, transport_a),
            ("bravo", ADDRESS_B, transport_b),
        ):
            device = bumble_device.Device.with_hci(
                name, bumble_hci.Address(address), transport.source, transport.sink
            )
            device.classic_enabled = True
            device.le_enabled = False
            # Secure Connections with MITM on both sides: DisplayYesNo twice is numeric
            # comparison, which Bumble's default delegate confirms.
            device.pairing_config_factory = lambda _connection: bumble_pairing.PairingConfig(
                sc=True, mitm=True, bonding=True,
                delegate=bumble_pairing.PairingDelegate(
                    io_capability=bumble_pairing.PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_YES_NO_INPUT
                ),
            )  # fmt: skip
            await device.power_on()
            devices.append(device)
        alpha, bravo = devices
        await bravo.set_discoverable(True)
        await bravo.set_connectable(True)

        received: asyncio.Queue[bytes] = asyncio.Queue()

        def on_dlc(dlc: object) -> None:
            def echo(data: bytes) -> None:
                received.put_nowait(data)
                dlc.write(data.upper())  # type: ignore[attr-defined]

            dlc.sink = echo  # type: ignore[attr-defined]

        channel = bumble_rfcomm.Server(bravo).listen(on_dlc)

        connection = await alpha.connect(
            bravo.public_address, transport=bumble_core.PhysicalTransport.BR_EDR
        )
        await connection.authenticate()
        await connection.encrypt()
        observed["encryption"] = connection.encryption
        observed["authenticated"] = connection.authenticated

        client = bumble_rfcomm.Client(connection)
        multiplexer = await client.start()
        dlc = await multiplexer.open_dlc(channel)
        replies: asyncio.Queue[bytes] = asyncio.Queue()
        dlc.sink = replies.put_nowait
        dlc.write(b"hello over rfcomm")
        observed["server_got"] = await asyncio.wait_for(received.get(), 5)
        observed["client_got"] = await asyncio.wait_for(replies.get(), 5)
        await client.shutdown()
        await connection.disconnect()
    return observed


async def test_bumble_hosts_connect_pair_encrypt_and_talk_rfcomm() -> None:
    with trio.fail_after(TEST_LIMIT):
        air = Air()
        controllers = [VirtualController(air) for _ in range(2)]
        async with trio.open_nursery() as nursery:
            ports = []
            for controller in controllers:

                async def handler(
                    transport: Transport, controller: VirtualController = controller
                ) -> None:
                    await controller.serve(transport)

                bound = await nursery.start(serve_h4, TcpSpec("127.0.0.1", 0), handler)
                assert isinstance(bound, TcpSpec)
                ports.append(bound.port)
            observed = await run_asyncio(bumble_scenario(ports[0], ports[1]), 30)
            nursery.cancel_scope.cancel()
        assert observed["server_got"] == b"hello over rfcomm"
        assert observed["client_got"] == b"HELLO OVER RFCOMM"
        assert observed["authenticated"] is True
        # Both Bumble hosts enable Secure Connections, so the link uses AES-CCM (0x02).
        assert observed["encryption"] == 0x02
