"""The GATT service (Core 5.4 Vol 3 Part G 7): its declaration and the values it serves."""

from __future__ import annotations

import pytest

from bluetrio.actors.gatt.client_state import (
    ClientStates,
    FeatureWriteRefused,
    IndicateServiceChanged,
)
from bluetrio.actors.gatt.database_hash import database_hash
from bluetrio.actors.gatt.gatt_service import (
    CLIENT_SUPPORTED_FEATURES_UUID,
    GATT_SERVICE_UUID,
    SERVER_SUPPORTED_FEATURES_UUID,
    SERVICE_CHANGED_UUID,
    GattService,
    gatt_service_declaration,
)
from bluetrio.address import Address
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.att import HandleValueIndication
from bluetrio.messages.gatt_declarations import (
    CharacteristicHandles,
    Properties,
    ServiceHandles,
)
from tests.unit.test_gatt_database_hash import APPENDIX_B, Attribute, _attribute

# Where a server puts the service first in its database: 0x0001 the service, then each
# characteristic's declaration and value, Service Changed with its CCCD.
HANDLES = ServiceHandles(
    0x0001,
    0x0009,
    characteristics=(
        CharacteristicHandles(0x0002, 0x0003, 0x0004, cccd=0x0004),
        CharacteristicHandles(0x0005, 0x0006, 0x0006),
        CharacteristicHandles(0x0007, 0x0008, 0x0008),
        CharacteristicHandles(0x0009, 0x000A, 0x000A),
    ),
)
LINK = 0x0040
PEER = Address.parse("00:AA:BB:CC:DD:EE")


def test_the_declaration() -> None:
    service = gatt_service_declaration(eatt=True)
    assert service.uuid == GATT_SERVICE_UUID and service.primary
    changed, client, hash_, server = service.characteristics
    assert (changed.uuid, changed.properties) == (SERVICE_CHANGED_UUID, Properties.INDICATE)
    assert not changed.access.readable and not changed.access.writable
    assert client.uuid == CLIENT_SUPPORTED_FEATURES_UUID
    assert client.properties == Properties.READ | Properties.WRITE
    assert hash_.properties == Properties.READ
    assert (server.uuid, server.value) == (SERVER_SUPPORTED_FEATURES_UUID, b"\x01")
    assert gatt_service_declaration(eatt=False).characteristics[3].value == b"\x00"


def placed() -> GattService:
    clients = ClientStates()
    service = GattService(clients)
    service.placed(HANDLES, APPENDIX_B)
    clients.on_link_up(LINK, PEER, PEER)
    return service


def test_placing_it_names_the_service_changed_cccd_and_the_hash() -> None:
    service = placed()
    assert service.clients.service_changed_cccd == 0x0004
    assert service.read(LINK, 0x0008) == database_hash(APPENDIX_B)
    assert service.clients.database_hash == database_hash(APPENDIX_B)
    assert service.serves(0x0006) and service.serves(0x0008)
    assert not service.serves(0x000A)  # a stored value
    assert not service.serves(0x0003)  # Service Changed is never read


def test_client_supported_features_are_each_clients() -> None:
    service = placed()
    service.clients.on_link_up(0x0041, PEER, PEER)
    assert service.write(LINK, 0x0006, b"\x01") == []
    assert service.read(LINK, 0x0006) == b"\x01"
    assert service.read(0x0041, 0x0006) == b"\x00"
    with pytest.raises(FeatureWriteRefused):
        service.write(LINK, 0x0006, b"\x00")


def test_a_database_change_changes_the_hash_and_is_indicated() -> None:
    service = placed()
    service.clients.write_cccd(LINK, 0x0004, 0x0002)
    extra = Attribute(0x0017, _attribute(0, 0x2800).type, b"\x0f\x18")
    outputs = service.database_changed(0x0017, 0x0017, (*APPENDIX_B, extra))
    assert service.read(LINK, 0x0008) == database_hash((*APPENDIX_B, extra))
    assert outputs == [IndicateServiceChanged(LINK, 0x0017, 0x0017)]
    assert service.indication(outputs[0]) == HandleValueIndication(0x0003, b"\x17\x00\x17\x00")


def test_a_service_placed_without_its_characteristics_is_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        GattService(ClientStates()).placed(ServiceHandles(0x0001, 0x0001), ())
    with pytest.raises(InvalidArgumentError):
        _ = GattService(ClientStates()).hash_value
