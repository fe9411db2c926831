"""The attribute table built from declarations (Core 5.4 Vol 3 Part G 3.1-3.3): an example
database with every handle and value written out by hand from the spec's formats, handle
assignment, removal and look-ups."""

from __future__ import annotations

import uuid

import pytest

from bluetrio.actors.gatt.database import AttributeDatabase, AttributeKind, attribute_count
from bluetrio.actors.gatt.gap_service import GapServiceConfig, gap_service
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.gatt_declarations import (
    AccessSecurity,
    Characteristic,
    CharacteristicHandles,
    Descriptor,
    ExtendedProperties,
    Permissions,
    PresentationFormat,
    Properties,
    Service,
    ServiceHandles,
)
from bluetrio.messages.uuids import uuid16

CUSTOM_SERVICE = uuid.UUID("0000aaaa-1111-2222-3333-444455556666")
CUSTOM_CHARACTERISTIC = uuid.UUID("0000bbbb-1111-2222-3333-444455556666")


def le(value: uuid.UUID) -> bytes:
    return value.bytes[::-1]


def example() -> tuple[AttributeDatabase, list[ServiceHandles]]:
    battery = Service(
        0x180F,
        (
            Characteristic(
                0x2A19,
                Properties.READ | Properties.NOTIFY,
                value=b"\x64",
                presentation_format=PresentationFormat(format=0x04, unit=0x27AD),
            ),
        ),
        primary=False,
    )
    custom = Service(
        CUSTOM_SERVICE,
        (
            Characteristic(
                CUSTOM_CHARACTERISTIC,
                Properties.READ | Properties.WRITE,
                value=b"abc",
                extended_properties=ExtendedProperties.RELIABLE_WRITE,
                user_description="Level",
                descriptors=(Descriptor(0x2908, value=b"\x01\x02"),),
            ),
        ),
        included=(battery,),
    )
    outer = Service(0x1234, included=(custom,))
    database = AttributeDatabase()
    handles = [database.add(s) for s in (gap_service(GapServiceConfig()), battery, custom, outer)]
    return database, handles


# (handle, type, value) of every attribute; None where the value is per client.
EXAMPLE_TABLE = [
    # GAP (Vol 3 Part C 12): Device Name and Appearance, read only.
    (0x0001, 0x2800, bytes.fromhex("0018")),
    (0x0002, 0x2803, bytes.fromhex("02 0300 002A")),
    (0x0003, 0x2A00, b"bluetrio"),
    (0x0004, 0x2803, bytes.fromhex("02 0500 012A")),
    (0x0005, 0x2A01, bytes.fromhex("0000")),
    # A secondary service, with a CCCD (per client) and a presentation format.
    (0x0006, 0x2801, bytes.fromhex("0F18")),
    (0x0007, 0x2803, bytes.fromhex("12 0800 192A")),
    (0x0008, 0x2A19, b"\x64"),
    (0x0009, 0x2902, None),
    (0x000A, 0x2904, bytes.fromhex("04 00 AD27 01 0000")),
    # A 128-bit service including the 16-bit one (its UUID in the include, 3.2).
    (0x000B, 0x2800, le(CUSTOM_SERVICE)),
    (0x000C, 0x2802, bytes.fromhex("0600 0A00 0F18")),
    (0x000D, 0x2803, bytes.fromhex("8A 0E00") + le(CUSTOM_CHARACTERISTIC)),
    (0x000E, CUSTOM_CHARACTERISTIC, b"abc"),
    (0x000F, 0x2900, bytes.fromhex("0100")),
    (0x0010, 0x2901, b"Level"),
    (0x0011, 0x2908, b"\x01\x02"),
    # A service including the 128-bit one: no UUID in the include declaration.
    (0x0012, 0x2800, bytes.fromhex("3412")),
    (0x0013, 0x2802, bytes.fromhex("0B00 1100")),
]


def test_example_database_layout() -> None:
    database, _handles = example()
    table = [
        (
            a.handle,
            a.type if a.type == CUSTOM_CHARACTERISTIC else int(a.type.int >> 96),
            a.value,
        )
        for a in database
    ]
    assert table == EXAMPLE_TABLE


def test_example_service_handles() -> None:
    _database, handles = example()
    gap, battery, custom, outer = handles
    assert gap == ServiceHandles(
        service=1,
        end=5,
        characteristics=(
            CharacteristicHandles(declaration=2, value=3, end=3),
            CharacteristicHandles(declaration=4, value=5, end=5),
        ),
    )
    assert battery.characteristics == (
        CharacteristicHandles(declaration=7, value=8, end=10, cccd=9, presentation_format=10),
    )
    assert custom == ServiceHandles(
        service=0x0B,
        end=0x11,
        includes=(0x0C,),
        characteristics=(
            CharacteristicHandles(
                declaration=0x0D,
                value=0x0E,
                end=0x11,
                extended_properties=0x0F,
                user_description=0x10,
                descriptors=(0x11,),
            ),
        ),
    )
    assert outer == ServiceHandles(service=0x12, end=0x13, includes=(0x13,))


def test_groups_and_kinds() -> None:
    database, _handles = example()
    groups = {a.handle: a.group_end for a in database if a.group_end}
    assert groups == {1: 5, 2: 3, 4: 5, 6: 10, 7: 10, 0x0B: 0x11, 0x0D: 0x11, 0x12: 0x13}
    cccd = database.get(9)
    assert cccd is not None and cccd.kind is AttributeKind.CCCD and cccd.value_handle == 8
    assert all(a.service == 0x0B for a in database.in_range(0x0B, 0x11))


def test_attribute_count_matches_the_layout() -> None:
    database, handles = example()
    for placed in handles:
        service = database.service_of(placed.service)
        assert service is not None
        assert attribute_count(service) == placed.end - placed.service + 1


def test_look_ups_by_handle_range_and_type() -> None:
    database, _handles = example()
    assert database.get(0) is None and database.get(0x14) is None
    assert [a.handle for a in database.in_range(0x05, 0x07)] == [5, 6, 7]
    assert [a.handle for a in database.in_range(0x14, 0xFFFF)] == []
    declarations = database.of_type(uuid16(0x2803), 0x0003, 0xFFFF)
    assert [a.handle for a in declarations] == [4, 7, 0x0D]
    assert [a.handle for a in database.of_type(uuid16(0x2802), 1, 0x0C)] == [0x0C]
    assert list(database.of_type(uuid16(0x9999), 1, 0xFFFF)) == []


def test_an_included_service_must_already_be_there() -> None:
    database = AttributeDatabase()
    absent = Service(0x180F)
    with pytest.raises(InvalidArgumentError, match="add it first"):
        database.add(Service(0x1234, included=(absent,)))
    assert len(database) == 0
    database.add(absent)
    with pytest.raises(InvalidArgumentError, match="already"):
        database.add(absent)


def test_removed_ranges_are_not_reused_and_an_included_service_stays() -> None:
    database, handles = example()
    custom = handles[2]
    with pytest.raises(InvalidArgumentError, match="included by"):
        database.remove(custom.service)
    with pytest.raises(InvalidArgumentError, match="no service"):
        database.remove(0x0002)
    removed = database.remove(0x12)
    assert removed.service == 0x12
    assert database.get(0x12) is None and list(database.of_type(uuid16(0x2802), 0x12, 0x13)) == []
    again = database.add(Service(0x5678))
    assert again.service == 0x14  # after the highest handle ever given
    database.remove(custom.service)
    assert [s.service for s in database.services] == [1, 6, 0x14]


def big_service(uuid16_value: int, characteristics: int, descriptors: int) -> Service:
    characteristic = Characteristic(0x2A19, descriptors=(Descriptor(0x2908),) * descriptors)
    return Service(uuid16_value, (characteristic,) * characteristics)


def test_the_top_of_the_handle_space_reached_the_lowest_gap_that_fits_is_used() -> None:
    database = AttributeDatabase()
    first = database.add(big_service(0x1801, 300, 98))  # 30,001 handles
    second = database.add(big_service(0x1802, 300, 98))
    assert (first.service, first.end) == (1, 30001)
    assert (second.service, second.end) == (30002, 60002)
    database.remove(first.service)
    # 10,001 handles do not fit above 60002 any more: into the gap at 1.
    third = database.add(big_service(0x1803, 100, 98))
    assert (third.service, third.end) == (1, 10001)
    # 5,001 still fit at the top.
    fourth = database.add(big_service(0x1804, 50, 98))
    assert (fourth.service, fourth.end) == (60003, 65003)
    with pytest.raises(InvalidArgumentError, match="no room"):
        database.add(big_service(0x1805, 300, 98))
    assert len(database) == 10001 + 30001 + 5001


def test_writable_user_description_and_cccd_permissions() -> None:
    secure = AccessSecurity(encryption=True, min_key_size=16)
    characteristic = Characteristic(
        0x2A19,
        Properties.READ | Properties.WRITE | Properties.INDICATE,
        permissions=Permissions(readable=True, writable=True, read_security=secure),
        user_description="x",
        extended_properties=ExtendedProperties.WRITABLE_AUXILIARIES,
    )
    database = AttributeDatabase()
    placed = database.add(Service(0x180F, (characteristic,))).characteristics[0]
    assert placed.user_description is not None and placed.cccd is not None
    description = database.get(placed.user_description)
    cccd = database.get(placed.cccd)
    assert description is not None and description.permissions.writable
    assert cccd is not None and cccd.permissions.readable and cccd.permissions.writable
    assert cccd.permissions.write_security == secure  # a subscription needs what a read does
    assert cccd.permissions.read_security == AccessSecurity()
