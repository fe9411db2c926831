"""Two Bumble hosts on bluetrio's virtual controller: scan, connect, SMP Secure Connections
pairing and a GATT read, all over H4 on TCP (the way Bumble talks to Root Canal)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
import trio

from bluetrio.controller import Air
from bluetrio.controller.server import serve_controllers
from bluetrio.transports.spec import TcpSpec

pytestmark = pytest.mark.interop

SERVICE_UUID = "50DB505C-8AC4-4738-8448-3B1D9CC09CC5"
CHARACTERISTIC_UUID = "486F64C6-4B5F-4B3B-8AFF-EDE134A8446A"
VALUE = b"hello from bluetrio's air"


async def bumble_scenario(port: int) -> dict[str, Any]:
    """Runs in a worker thread under asyncio; returns what the test checks."""
    from bumble.core import UUID
    from bumble.device import Device, Peer
    from bumble.gatt import Characteristic, Service
    from bumble.hci import Address
    from bumble.pairing import PairingConfig
    from bumble.transport import open_transport

    spec = f"tcp-client:127.0.0.1:{port}"
    async with (
        await open_transport(spec) as peripheral_transport,
        await open_transport(spec) as central_transport,
    ):
        peripheral = Device.with_hci(
            "bluetrio-peripheral",
            Address("F0:F1:F2:F3:F4:F5"),
            peripheral_transport.source,
            peripheral_transport.sink,
        )
        peripheral.add_service(
            Service(
                SERVICE_UUID,
                [
                    Characteristic(
                        CHARACTERISTIC_UUID,
                        Characteristic.Properties.READ,
                        Characteristic.READABLE,
                        VALUE,
                    )
                ],
            )
        )
        central = Device.with_hci(
            "bluetrio-central",
            Address("E0:E1:E2:E3:E4:E5"),
            central_transport.source,
            central_transport.sink,
        )
        for device in (peripheral, central):
            device.pairing_config_factory = lambda _connection: PairingConfig(
                sc=True, mitm=False, bonding=True
            )
            await device.power_on()
        await peripheral.start_advertising(auto_restart=False)

        found: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_advertisement(advertisement: Any) -> None:
            if not found.done() and advertisement.address == peripheral.random_address:
                found.set_result(advertisement)

        central.on("advertisement", on_advertisement)
        await central.start_scanning()
        advertisement = await asyncio.wait_for(found, 5)
        await central.stop_scanning()

        connection = await asyncio.wait_for(central.connect(advertisement.address), 5)
        await asyncio.wait_for(connection.pair(), 5)
        peer = Peer(connection)
        await peer.discover_services()
        await peer.discover_characteristics()
        (characteristic,) = peer.get_characteristics_by_uuid(UUID(CHARACTERISTIC_UUID))
        value = await asyncio.wait_for(characteristic.read_value(), 5)
        result = {
            "value": bytes(value),
            "encrypted": connection.is_encrypted,
            "secure_connections": connection.sc,
            "central_role": connection.role,
            "peripheral_connections": len(peripheral.connections),
        }
        await connection.disconnect()
        return result


async def test_two_bumble_hosts_scan_connect_pair_and_read() -> None:
    air = Air()
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(
            functools.partial(serve_controllers, TcpSpec("127.0.0.1", 0), air)
        )
        assert isinstance(bound, TcpSpec)
        with trio.fail_after(20):
            result = await trio.to_thread.run_sync(asyncio.run, bumble_scenario(bound.port))
        nursery.cancel_scope.cancel()
    assert result["value"] == VALUE
    assert result["encrypted"]
    assert result["secure_connections"]
    assert result["central_role"] == 0  # Bumble's hci.Role.CENTRAL
    assert result["peripheral_connections"] == 1


async def bumble_active_scan_with_duplicate_filter(port: int) -> bool:
    """A Bumble central scanning actively with duplicates filtered waits for the scan
    response of a scannable advertiser; Bumble's default scan response is empty."""
    from bumble.device import Device
    from bumble.hci import Address
    from bumble.transport import open_transport

    spec = f"tcp-client:127.0.0.1:{port}"
    async with (
        await open_transport(spec) as peripheral_transport,
        await open_transport(spec) as central_transport,
    ):
        peripheral = Device.with_hci(
            "bluetrio-peripheral",
            Address("F0:F1:F2:F3:F4:F6"),
            peripheral_transport.source,
            peripheral_transport.sink,
        )
        central = Device.with_hci(
            "bluetrio-central",
            Address("E0:E1:E2:E3:E4:E6"),
            central_transport.source,
            central_transport.sink,
        )
        for device in (peripheral, central):
            await device.power_on()
        await peripheral.start_advertising(auto_restart=False)
        found: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_advertisement(advertisement: Any) -> None:
            if not found.done() and advertisement.address == peripheral.random_address:
                found.set_result(advertisement)

        central.on("advertisement", on_advertisement)
        await central.start_scanning(active=True, filter_duplicates=True)
        try:
            await asyncio.wait_for(found, 5)
        except TimeoutError:
            return False
        finally:
            await central.stop_scanning()
        return True


async def test_bumble_active_scan_with_duplicate_filter_sees_an_empty_scan_response() -> None:
    air = Air()
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(
            functools.partial(serve_controllers, TcpSpec("127.0.0.1", 0), air)
        )
        assert isinstance(bound, TcpSpec)
        with trio.fail_after(20):
            found = await trio.to_thread.run_sync(
                asyncio.run, bumble_active_scan_with_duplicate_filter(bound.port)
            )
        nursery.cancel_scope.cancel()
    assert found
