"""The GATT declarations check their arguments when made (Core 5.4 Vol 3 Part G 3)."""

from __future__ import annotations

import uuid

import pytest

from bluetrio.errors import GattApplicationError, InvalidArgumentError
from bluetrio.messages.gatt_declarations import (
    CCCD_UUID,
    AccessSecurity,
    Characteristic,
    Descriptor,
    ExtendedProperties,
    Permissions,
    PresentationFormat,
    Properties,
    ReadContext,
    Service,
    WriteContext,
)
from bluetrio.messages.uuids import uuid16


async def read_callback(context: ReadContext) -> bytes:
    return b"x"


async def write_callback(context: WriteContext, value: bytes) -> None:
    return None


async def authorize_callback(context: ReadContext | WriteContext) -> bool:
    return True


def test_uuids_from_numbers_strings_and_uuids() -> None:
    custom = "12345678-1234-5678-1234-56789abcdef0"
    assert Characteristic(0x2A19).uuid == uuid16(0x2A19)
    assert Characteristic(custom).uuid == uuid.UUID(custom)
    assert Service(uuid.UUID(custom)).uuid == uuid.UUID(custom)
    for bad in ("not a uuid", -1, 1 << 32, True, 1.5):
        with pytest.raises(InvalidArgumentError):
            Characteristic(bad)  # type: ignore[arg-type]


def test_default_permissions_follow_the_properties() -> None:
    read_only = Characteristic(0x2A19, Properties.READ | Properties.NOTIFY)
    assert read_only.access == Permissions(readable=True, writable=False)
    write_only = Characteristic(0x2A19, Properties.WRITE_WITHOUT_RESPONSE)
    assert write_only.access == Permissions(readable=False, writable=True)
    notify_only = Characteristic(0x2A19, Properties.NOTIFY)
    assert notify_only.access == Permissions(readable=False, writable=False)


@pytest.mark.parametrize(
    ("properties", "permissions"),
    [
        (Properties.READ, Permissions(readable=False)),
        (Properties.WRITE, Permissions(readable=False, writable=False)),
        (Properties.NOTIFY, Permissions(readable=True)),
        (Properties.READ, Permissions(readable=True, writable=True)),
    ],
)
def test_permissions_that_contradict_the_properties(
    properties: Properties, permissions: Permissions
) -> None:
    with pytest.raises(InvalidArgumentError, match="contradicts"):
        Characteristic(0x2A19, properties, permissions=permissions)


def test_values_over_512_octets_are_refused() -> None:
    Characteristic(0x2A19, value=bytes(512))
    Descriptor(0x2908, value=bytes(512))
    with pytest.raises(InvalidArgumentError, match="512"):
        Characteristic(0x2A19, value=bytes(513))
    with pytest.raises(InvalidArgumentError, match="512"):
        Descriptor(0x2908, value=bytes(513))
    with pytest.raises(InvalidArgumentError):
        Characteristic(0x2A19, value="text")  # type: ignore[arg-type]


def test_notify_and_indicate_need_no_cccd_from_the_application() -> None:
    Characteristic(0x2A19, Properties.NOTIFY | Properties.INDICATE)
    with pytest.raises(InvalidArgumentError, match="server makes"):
        Descriptor(CCCD_UUID)
    for made in (0x2800, 0x2803, 0x2900, 0x2901, 0x2904):
        with pytest.raises(InvalidArgumentError):
            Descriptor(made)


def test_extended_properties() -> None:
    reliable = Characteristic(
        0x2A19, Properties.WRITE, extended_properties=ExtendedProperties.RELIABLE_WRITE
    )
    assert reliable.declared_properties == Properties.WRITE | Properties.EXTENDED_PROPERTIES
    with pytest.raises(InvalidArgumentError, match="RELIABLE_WRITE"):
        Characteristic(
            0x2A19, Properties.READ, extended_properties=ExtendedProperties.RELIABLE_WRITE
        )
    with pytest.raises(InvalidArgumentError, match="empty"):
        Characteristic(0x2A19, Properties.READ | Properties.EXTENDED_PROPERTIES)
    with pytest.raises(InvalidArgumentError, match="user_description"):
        Characteristic(
            0x2A19, Properties.READ, extended_properties=ExtendedProperties.WRITABLE_AUXILIARIES
        )


def test_callbacks_must_fit_the_permissions() -> None:
    Characteristic(0x2A19, Properties.READ, on_read=read_callback)
    Characteristic(0x2A19, Properties.WRITE, on_write=write_callback)
    with pytest.raises(InvalidArgumentError, match="not readable"):
        Characteristic(0x2A19, Properties.WRITE, on_read=read_callback)
    with pytest.raises(InvalidArgumentError, match="not writable"):
        Characteristic(0x2A19, Properties.READ, on_write=write_callback)
    with pytest.raises(InvalidArgumentError, match="never be read"):
        Characteristic(0x2A19, Properties.READ, value=b"1", on_read=read_callback)
    with pytest.raises(InvalidArgumentError, match="coroutine"):
        Characteristic(0x2A19, Properties.READ, on_read="nope")  # type: ignore[arg-type]


def test_authorization_needs_an_authorize_callback_and_the_reverse() -> None:
    asks = Permissions(readable=True, read_security=AccessSecurity(authorization=True))
    Characteristic(0x2A19, Properties.READ, permissions=asks, authorize=authorize_callback)
    with pytest.raises(InvalidArgumentError, match="no authorize"):
        Characteristic(0x2A19, Properties.READ, permissions=asks)
    with pytest.raises(InvalidArgumentError, match="no access asks"):
        Characteristic(0x2A19, Properties.READ, authorize=authorize_callback)
    with pytest.raises(InvalidArgumentError, match="no authorize"):
        Descriptor(0x2908, permissions=asks)


def test_access_security_key_sizes() -> None:
    assert AccessSecurity(encryption=True, min_key_size=16).needs_encryption
    assert AccessSecurity(authentication=True).needs_encryption
    assert not AccessSecurity().needs_encryption
    for size in (1, 6, 17):
        with pytest.raises(InvalidArgumentError, match=r"7\.\.16"):
            AccessSecurity(encryption=True, min_key_size=size)
    with pytest.raises(InvalidArgumentError, match="needs encryption"):
        AccessSecurity(min_key_size=16)
    with pytest.raises(InvalidArgumentError):
        AccessSecurity(encryption=1)  # type: ignore[arg-type]


def test_presentation_format() -> None:
    # Vol 3 Part G 3.3.3.5: format, exponent, unit, namespace, description.
    percent = PresentationFormat(format=0x04, exponent=-1, unit=0x27AD, description=0x0106)
    assert percent.encode() == bytes([0x04, 0xFF, 0xAD, 0x27, 0x01, 0x06, 0x01])
    with pytest.raises(InvalidArgumentError, match="exponent"):
        PresentationFormat(format=0x04, exponent=200)


def test_services() -> None:
    inner = Service(0x180F, primary=False)
    outer = Service(0x1234, (Characteristic(0x2A19),), included=(inner,))
    assert outer.included == (inner,)
    with pytest.raises(InvalidArgumentError):
        Service(0x2800)
    with pytest.raises(InvalidArgumentError):
        Service(0x1234, ("not a characteristic",))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        Characteristic(0x2A19, descriptors=("x",))  # type: ignore[arg-type]


def test_gatt_application_error() -> None:
    assert GattApplicationError(0x80).code == 0x80
    assert "0x81" in str(GattApplicationError(0x81, "busy"))
    assert GattApplicationError(0x0D).code == 0x0D
    assert GattApplicationError(0xFC).code == 0xFC
    # 0x14-0x7F and 0xA0-0xDF are reserved (table 3.4): refused where they are raised.
    for bad in (0, 0x100, True, 0x14, 0x7F, 0xA0, 0xDF):
        with pytest.raises(InvalidArgumentError):
            GattApplicationError(bad)


def test_the_public_gatt_package_exports_the_declarations() -> None:
    import bluetrio.gatt as gatt

    assert gatt.Characteristic is Characteristic and gatt.Service is Service
    assert gatt.GattApplicationError is GattApplicationError
    assert all(hasattr(gatt, name) for name in gatt.__all__)
