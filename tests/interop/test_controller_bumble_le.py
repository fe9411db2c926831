"""Two Bumble hosts on bluetrio's virtual controller: scan, connect, SMP Secure Connections
pairing and a GATT read, all over H4 on TCP (the way Bumble talks to Root Canal)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
import trio
from interop_support import TEST_LIMIT, run_asyncio

from bluetrio import crypto
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
    with trio.fail_after(TEST_LIMIT):
        air = Air()
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(
                functools.partial(serve_controllers, TcpSpec("127.0.0.1", 0), air)
            )
            assert isinstance(bound, TcpSpec)
            result = await run_asyncio(bumble_scenario(bound.port), 20)
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
    with trio.fail_after(TEST_LIMIT):
        air = Air()
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(
                functools.partial(serve_controllers, TcpSpec("127.0.0.1", 0), air)
            )
            assert isinstance(bound, TcpSpec)
            found = await run_asyncio(bumble_active_scan_with_duplicate_filter(bound.port), 20)
            nursery.cancel_scope.cancel()
        assert found


# Bumble hands IRKs to the controller as given; both sides share these.
PERIPHERAL_IRK = bytes.fromhex("f0e0d0c0b0a090807060504030201000")
CENTRAL_IRK = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
PERIPHERAL_IDENTITY = "F0:F1:F2:F3:F4:F7"


async def bumble_offloaded_privacy(port: int) -> dict[str, Any]:
    """A Bumble peripheral that lets the controller make its RPAs, and a Bumble central that
    lets it resolve them from a bond's IRK: the central finds and connects by identity."""
    from bumble.device import Device, DeviceConfiguration
    from bumble.hci import Address, OwnAddressType
    from bumble.host import Host
    from bumble.keys import MemoryKeyStore, PairingKeys
    from bumble.transport import open_transport

    spec = f"tcp-client:127.0.0.1:{port}"
    identity = Address(PERIPHERAL_IDENTITY, Address.RANDOM_DEVICE_ADDRESS)
    async with (
        await open_transport(spec) as peripheral_transport,
        await open_transport(spec) as central_transport,
    ):
        peripheral_config = DeviceConfiguration(
            name="bluetrio-private-peripheral",
            address=identity,
            irk=PERIPHERAL_IRK,
            address_generation_offload=True,
            address_resolution_offload=True,
        )
        peripheral = Device(
            config=peripheral_config,
            host=Host(peripheral_transport.source, peripheral_transport.sink),
        )
        central_config = DeviceConfiguration(
            name="bluetrio-private-central",
            address=Address("E0:E1:E2:E3:E4:E7", Address.RANDOM_DEVICE_ADDRESS),
            irk=CENTRAL_IRK,
            address_resolution_offload=True,
        )
        central = Device(
            config=central_config, host=Host(central_transport.source, central_transport.sink)
        )
        # The central is bonded with the peripheral: it holds its identity and IRK.
        keystore = MemoryKeyStore()
        bond = PairingKeys(address_type=identity.address_type, irk=PairingKeys.Key(PERIPHERAL_IRK))
        await keystore.update(str(identity), bond)
        central.keystore = keystore
        for device in (peripheral, central):
            await device.power_on()
        await peripheral.start_advertising(
            own_address_type=OwnAddressType.RESOLVABLE_OR_RANDOM, auto_restart=False
        )
        found: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_advertisement(advertisement: Any) -> None:
            if not found.done() and advertisement.address.address_bytes == identity.address_bytes:
                found.set_result(advertisement)

        central.on("advertisement", on_advertisement)
        await central.start_scanning(filter_duplicates=True)
        try:
            advertisement = await asyncio.wait_for(found, 5)
        except TimeoutError:
            return {"found": False}
        finally:
            await central.stop_scanning()
        connection = await asyncio.wait_for(central.connect(advertisement.address), 5)
        result = {
            "found": True,
            "address_type": int(advertisement.address.address_type),
            "peer_address": str(connection.peer_address),
            "peer_rpa": str(connection.peer_resolvable_address),
        }
        await connection.disconnect()
        return result


async def test_bumble_hosts_offloading_privacy_connect_by_identity() -> None:
    with trio.fail_after(TEST_LIMIT):
        air = Air()
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(
                functools.partial(serve_controllers, TcpSpec("127.0.0.1", 0), air)
            )
            assert isinstance(bound, TcpSpec)
            result = await run_asyncio(bumble_offloaded_privacy(bound.port), 20)
            nursery.cancel_scope.cancel()
        assert result["found"], "the peripheral's RPA was never reported as its identity"
        assert result["address_type"] == 0x03  # Random (static) Identity Address
        assert result["peer_address"] == PERIPHERAL_IDENTITY
        # The RPA in Enhanced Connection Complete is the peripheral's, from its IRK (Bumble's
        # text is most significant octet first; HCI carried the IRK least significant first).
        rpa = bytes.fromhex(result["peer_rpa"].replace(":", ""))
        assert crypto.resolve_rpa(crypto.reverse(PERIPHERAL_IRK), rpa)
