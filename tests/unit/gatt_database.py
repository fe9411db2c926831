"""A small GATT database on the fake ATT server, shared by the GATT client's tests: GAP,
two secondary services (16 and 128-bit UUIDs) included by a custom 128-bit service with a
notifying characteristic and a 300-octet one, and the Battery service."""

from __future__ import annotations

import uuid as uuid_module

import attrs

from bluetrio.gatt.remote import RemoteService
from bluetrio.messages.gatt_declarations import Properties
from bluetrio.messages.uuids import uuid16
from bluetrio.testing.att_fake import FakeAttServer

GAP = uuid16(0x1800)
DEVICE_NAME = uuid16(0x2A00)
BATTERY = uuid16(0x180F)
LEVEL = uuid16(0x2A19)
USER_DESCRIPTION = uuid16(0x2901)
CUSTOM = uuid_module.UUID("6e400001-b5a3-f393-e0a9-e50e24dcca9e")
CUSTOM_VALUE = uuid_module.UUID("6e400002-b5a3-f393-e0a9-e50e24dcca9e")
CUSTOM_INCLUDED = uuid_module.UUID("6e400003-b5a3-f393-e0a9-e50e24dcca9e")
LONG_VALUE = bytes(range(256)) + bytes(range(44))  # 300 octets


@attrs.define
class Database:
    """The handles of the fake database every test reads."""

    server: FakeAttServer
    gap: RemoteService
    secondary_16: RemoteService
    secondary_128: RemoteService
    custom: RemoteService
    battery: RemoteService
    name: int
    custom_value: int
    long_value: int
    level: int


def database(mtu: int = 517) -> Database:
    server = FakeAttServer(receive_mtu=mtu)
    gap = server.add_service(GAP)
    name = server.add_characteristic(DEVICE_NAME, Properties.READ, b"bluetrio")
    tx_power = server.add_service(uuid16(0x1804), primary=False)
    server.add_characteristic(uuid16(0x2A07), Properties.READ, b"\x00")
    hidden = server.add_service(CUSTOM_INCLUDED, primary=False)
    server.add_characteristic(uuid16(0x2A07), Properties.READ, b"\x01")
    custom = server.add_service(CUSTOM)
    server.add_include(tx_power)
    server.add_include(hidden)
    custom_value = server.add_characteristic(
        CUSTOM_VALUE, Properties.READ | Properties.WRITE | Properties.NOTIFY, b"custom"
    )
    server.add_descriptor(USER_DESCRIPTION, b"a custom value")
    long_value = server.add_characteristic(LEVEL, Properties.READ | Properties.WRITE, LONG_VALUE)
    battery = server.add_service(BATTERY)
    level = server.add_characteristic(LEVEL, Properties.READ | Properties.NOTIFY, b"\x64")

    def span(handle: int, uuid: uuid_module.UUID, primary: bool | None) -> RemoteService:
        return RemoteService(handle, server.service_end(handle), uuid, primary)

    return Database(
        server,
        span(gap, GAP, True),
        span(tx_power, uuid16(0x1804), None),
        span(hidden, CUSTOM_INCLUDED, None),
        span(custom, CUSTOM, True),
        span(battery, BATTERY, True),
        name,
        custom_value,
        long_value,
        level,
    )
