"""What an application declares to serve over GATT: services, characteristics, descriptors
and their permissions (Core 5.4 Vol 3 Part G 3.1-3.3; permissions Vol 3 Part F 3.2.5).

Every declaration checks its arguments when it is made, so a bad one raises
:class:`~bluetrio.errors.InvalidArgumentError` in the caller, never inside the gatt actor.
The server adds the attributes a declaration implies by itself: the characteristic
declaration, the Characteristic Extended Properties descriptor (0x2900) when
``extended_properties`` is set, the User Description (0x2901), the Client Characteristic
Configuration descriptor (0x2902) for NOTIFY or INDICATE, and the Presentation Format
(0x2904); so none of those may be given in ``descriptors``.

A value is either stored by the server (``value``, replaced by the peer's writes) or served by
the application (``on_read`` / ``on_write``): the gatt actor never calls these callbacks, it
asks the application (``GattServerReadInd`` / ``GattServerWriteInd``), whose side of the stack
calls them. A callback raises :class:`~bluetrio.errors.GattApplicationError` to answer with a
chosen ATT error; any other exception becomes Unlikely Error (0x0E).

Authorization (Vol 3 Part C 10.5) is the application's answer: an attribute whose security
asks for it must have an ``authorize`` callback, asked through the application like
``on_read`` before the value is read or written; False is Insufficient Authorization.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeAlias

import attrs

from bluetrio.address import Address
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.uuids import uuid16

# Vol 3 Part F 3.2.9: an attribute value is at most 512 octets.
MAX_ATTRIBUTE_VALUE_LENGTH = 512
# Vol 3 Part C 12.1: the Device Name is at most 248 octets.
MAX_DEVICE_NAME_LENGTH = 248
# Encryption key sizes an LE link may have (Vol 3 Part H 2.3.4).
MIN_ENCRYPTION_KEY_SIZE = 7
MAX_ENCRYPTION_KEY_SIZE = 16

# GATT attribute types (Vol 3 Part G 3.1-3.3, Assigned Numbers 3.5 and 3.7).
PRIMARY_SERVICE_UUID = uuid16(0x2800)
SECONDARY_SERVICE_UUID = uuid16(0x2801)
INCLUDE_UUID = uuid16(0x2802)
CHARACTERISTIC_UUID = uuid16(0x2803)
EXTENDED_PROPERTIES_UUID = uuid16(0x2900)
USER_DESCRIPTION_UUID = uuid16(0x2901)
CCCD_UUID = uuid16(0x2902)
SCCD_UUID = uuid16(0x2903)
PRESENTATION_FORMAT_UUID = uuid16(0x2904)
AGGREGATE_FORMAT_UUID = uuid16(0x2905)

# Types the server itself places: a declaration may not name them as its own.
SERVER_MADE_TYPES = frozenset(
    {
        PRIMARY_SERVICE_UUID,
        SECONDARY_SERVICE_UUID,
        INCLUDE_UUID,
        CHARACTERISTIC_UUID,
        EXTENDED_PROPERTIES_UUID,
        USER_DESCRIPTION_UUID,
        CCCD_UUID,
        PRESENTATION_FORMAT_UUID,
    }
)


class Properties(enum.IntFlag):
    """Characteristic Properties (Vol 3 Part G 3.3.1.1, table 3.5)."""

    BROADCAST = 0x01
    READ = 0x02
    WRITE_WITHOUT_RESPONSE = 0x04
    WRITE = 0x08
    NOTIFY = 0x10
    INDICATE = 0x20
    AUTHENTICATED_SIGNED_WRITES = 0x40
    EXTENDED_PROPERTIES = 0x80


# The properties that let a peer write the value.
WRITE_PROPERTIES = (
    Properties.WRITE | Properties.WRITE_WITHOUT_RESPONSE | Properties.AUTHENTICATED_SIGNED_WRITES
)


class ExtendedProperties(enum.IntFlag):
    """Characteristic Extended Properties (Vol 3 Part G 3.3.3.1, table 3.8)."""

    RELIABLE_WRITE = 0x0001
    WRITABLE_AUXILIARIES = 0x0002


NO_EXTENDED_PROPERTIES = ExtendedProperties(0)


def as_uuid(value: uuid.UUID | int | str) -> uuid.UUID:
    """A UUID from a 16 or 32-bit assigned number, a UUID string or a :class:`uuid.UUID`."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, bool):
        raise InvalidArgumentError(f"not a UUID: {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= 0xFFFFFFFF:
            raise InvalidArgumentError(f"0x{value:X} is not a 16 or 32-bit UUID")
        return uuid16(value)
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            raise InvalidArgumentError(f"not a UUID: {value!r}") from None
    raise InvalidArgumentError(f"not a UUID: {value!r}")


def as_value(value: bytes | bytearray | memoryview) -> bytes:
    """An attribute value as bytes, at most 512 octets (Vol 3 Part F 3.2.9)."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidArgumentError(f"an attribute value is bytes, got {value!r}")
    data = bytes(value)
    if len(data) > MAX_ATTRIBUTE_VALUE_LENGTH:
        raise InvalidArgumentError(
            f"an attribute value has at most {MAX_ATTRIBUTE_VALUE_LENGTH} octets, got {len(data)}"
        )
    return data


def _check_bool(_instance: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{attribute.name} must be True or False, got {value!r}")


def _check_callable(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        raise InvalidArgumentError(f"{attribute.name} must be a coroutine function or None")


@attrs.frozen
class AccessSecurity:
    """What the link must have for one kind of access (Vol 3 Part C 10.2, Part F 3.2.5):
    ``encryption``; ``authentication`` (an authenticated key, MITM protection; implies
    encryption); ``authorization`` (the application's ``authorize`` answer); ``min_key_size``
    (0: any; else 7..16 octets, and encryption or authentication must be asked too)."""

    encryption: bool = attrs.field(default=False, validator=_check_bool)
    authentication: bool = attrs.field(default=False, validator=_check_bool)
    authorization: bool = attrs.field(default=False, validator=_check_bool)
    min_key_size: int = 0

    def __attrs_post_init__(self) -> None:
        size = self.min_key_size
        if isinstance(size, bool) or not isinstance(size, int):
            raise InvalidArgumentError(f"min_key_size must be an int, got {size!r}")
        if size == 0:
            return
        if not MIN_ENCRYPTION_KEY_SIZE <= size <= MAX_ENCRYPTION_KEY_SIZE:
            raise InvalidArgumentError(f"min_key_size is 0 or 7..16 octets, got {size}")
        if not (self.encryption or self.authentication):
            raise InvalidArgumentError("min_key_size needs encryption or authentication")

    @property
    def needs_encryption(self) -> bool:
        return self.encryption or self.authentication or self.min_key_size > 0


OPEN = AccessSecurity()


@attrs.frozen
class Permissions:
    """Whether an attribute may be read and written, and the security each access needs
    (Vol 3 Part F 3.2.5)."""

    readable: bool = attrs.field(default=True, validator=_check_bool)
    writable: bool = attrs.field(default=False, validator=_check_bool)
    read_security: AccessSecurity = OPEN
    write_security: AccessSecurity = OPEN

    def __attrs_post_init__(self) -> None:
        for name in ("read_security", "write_security"):
            if not isinstance(getattr(self, name), AccessSecurity):
                raise InvalidArgumentError(f"{name} must be an AccessSecurity")

    @property
    def needs_authorization(self) -> bool:
        return (self.readable and self.read_security.authorization) or (
            self.writable and self.write_security.authorization
        )


@attrs.frozen
class ReadContext:
    """A peer's read of an application-served value, as the application's ``on_read`` (and
    ``authorize``) sees it: the connection (``handle``, ``peer``), the attribute, and the
    offset of a Read Blob (the callback returns the whole value; the server cuts it)."""

    handle: int
    peer: Address
    attribute_handle: int
    offset: int = 0


@attrs.frozen
class WriteContext:
    """A peer's write, as ``on_write`` (and ``authorize``) sees it; ``with_response`` is False
    for a Write Command or a Signed Write Command."""

    handle: int
    peer: Address
    attribute_handle: int
    with_response: bool = True


ReadCallback: TypeAlias = Callable[[ReadContext], Awaitable[bytes]]
WriteCallback: TypeAlias = Callable[[WriteContext, bytes], Awaitable[None]]
AuthorizeCallback: TypeAlias = Callable[[ReadContext | WriteContext], Awaitable[bool]]


def _check_callbacks(
    what: str,
    permissions: Permissions,
    value: bytes,
    on_read: ReadCallback | None,
    on_write: WriteCallback | None,
    authorize: AuthorizeCallback | None,
) -> None:
    if on_read is not None and not permissions.readable:
        raise InvalidArgumentError(f"{what}: on_read on a value that is not readable")
    if on_write is not None and not permissions.writable:
        raise InvalidArgumentError(f"{what}: on_write on a value that is not writable")
    if on_read is not None and value:
        raise InvalidArgumentError(f"{what}: a value and on_read: the value would never be read")
    if permissions.needs_authorization and authorize is None:
        raise InvalidArgumentError(f"{what}: authorization is asked but there is no authorize")
    if authorize is not None and not permissions.needs_authorization:
        raise InvalidArgumentError(f"{what}: authorize given but no access asks authorization")


@attrs.frozen
class PresentationFormat:
    """The Characteristic Presentation Format descriptor's value (Vol 3 Part G 3.3.3.5):
    ``format`` (Assigned Numbers 2.4.1), ``exponent`` (signed), ``unit`` (a 16-bit UUID),
    ``namespace`` (1: Bluetooth SIG) and ``description``."""

    format: int
    exponent: int = 0
    unit: int = 0x2700  # unitless
    namespace: int = 0x01
    description: int = 0x0000

    def __attrs_post_init__(self) -> None:
        checks = (
            ("format", self.format, 0, 0xFF),
            ("exponent", self.exponent, -128, 127),
            ("unit", self.unit, 0, 0xFFFF),
            ("namespace", self.namespace, 0, 0xFF),
            ("description", self.description, 0, 0xFFFF),
        )
        for name, field, low, high in checks:
            if isinstance(field, bool) or not isinstance(field, int) or not low <= field <= high:
                raise InvalidArgumentError(
                    f"presentation format {name} {field!r} not in {low}..{high}"
                )

    def encode(self) -> bytes:
        return (
            bytes((self.format, self.exponent & 0xFF))
            + self.unit.to_bytes(2, "little")
            + bytes((self.namespace,))
            + self.description.to_bytes(2, "little")
        )


@attrs.frozen(eq=False)
class Descriptor:
    """A characteristic descriptor of the application's own type (Vol 3 Part G 3.3.3);
    readable and not writable unless told."""

    uuid: uuid.UUID = attrs.field(converter=as_uuid)
    value: bytes = attrs.field(default=b"", converter=as_value)
    permissions: Permissions = Permissions()
    on_read: ReadCallback | None = attrs.field(default=None, validator=_check_callable)
    on_write: WriteCallback | None = attrs.field(default=None, validator=_check_callable)
    authorize: AuthorizeCallback | None = attrs.field(default=None, validator=_check_callable)

    def __attrs_post_init__(self) -> None:
        if self.uuid in SERVER_MADE_TYPES:
            raise InvalidArgumentError(
                f"descriptor {self.uuid}: the server makes this one (use the characteristic's "
                "properties, user_description, presentation_format or extended_properties)"
            )
        if not isinstance(self.permissions, Permissions):
            raise InvalidArgumentError("permissions must be a Permissions")
        _check_callbacks(
            f"descriptor {self.uuid}",
            self.permissions,
            self.value,
            self.on_read,
            self.on_write,
            self.authorize,
        )


def _descriptors(value: Iterable[Descriptor]) -> tuple[Descriptor, ...]:
    return tuple(value)


def _characteristics(value: Iterable[Characteristic]) -> tuple[Characteristic, ...]:
    return tuple(value)


def _services(value: Iterable[Service]) -> tuple[Service, ...]:
    return tuple(value)


def _permissions_from(properties: Properties) -> Permissions:
    return Permissions(
        readable=bool(properties & Properties.READ),
        writable=bool(properties & WRITE_PROPERTIES),
    )


@attrs.frozen(eq=False)
class Characteristic:
    """A characteristic (Vol 3 Part G 3.3). ``permissions`` defaults to what ``properties``
    allow (readable with READ, writable with a write property); given, it must agree with
    them. A CCCD is added for NOTIFY or INDICATE; ``user_description`` (text) becomes a
    0x2901 descriptor, writable by the peer only with ``WRITABLE_AUXILIARIES``;
    ``extended_properties`` becomes a 0x2900 descriptor and sets EXTENDED_PROPERTIES."""

    uuid: uuid.UUID = attrs.field(converter=as_uuid)
    properties: Properties = Properties.READ
    value: bytes = attrs.field(default=b"", converter=as_value)
    permissions: Permissions | None = None
    descriptors: tuple[Descriptor, ...] = attrs.field(default=(), converter=_descriptors)
    on_read: ReadCallback | None = attrs.field(default=None, validator=_check_callable)
    on_write: WriteCallback | None = attrs.field(default=None, validator=_check_callable)
    authorize: AuthorizeCallback | None = attrs.field(default=None, validator=_check_callable)
    user_description: str | None = None
    presentation_format: PresentationFormat | None = None
    extended_properties: ExtendedProperties = NO_EXTENDED_PROPERTIES

    def __attrs_post_init__(self) -> None:
        what = f"characteristic {self.uuid}"
        if self.uuid in SERVER_MADE_TYPES:
            raise InvalidArgumentError(f"{what}: a GATT declaration type is not a characteristic")
        properties = self.properties
        if isinstance(properties, bool) or not isinstance(properties, int):
            raise InvalidArgumentError(f"{what}: properties must be Properties")
        if not 0 <= properties <= 0xFF:
            raise InvalidArgumentError(f"{what}: properties are one octet")
        extended = self.extended_properties
        if isinstance(extended, bool) or not isinstance(extended, int) or extended & ~0x3:
            raise InvalidArgumentError(f"{what}: extended_properties must be ExtendedProperties")
        if properties & Properties.EXTENDED_PROPERTIES and not extended:
            raise InvalidArgumentError(
                f"{what}: EXTENDED_PROPERTIES is set from extended_properties, which is empty"
            )
        if extended & ExtendedProperties.RELIABLE_WRITE and not properties & Properties.WRITE:
            raise InvalidArgumentError(f"{what}: RELIABLE_WRITE needs the WRITE property")
        if extended & ExtendedProperties.WRITABLE_AUXILIARIES and self.user_description is None:
            raise InvalidArgumentError(f"{what}: WRITABLE_AUXILIARIES needs a user_description")
        if self.user_description is not None:
            if not isinstance(self.user_description, str):
                raise InvalidArgumentError(f"{what}: user_description is text")
            as_value(self.user_description.encode())
        if self.presentation_format is not None and not isinstance(
            self.presentation_format, PresentationFormat
        ):
            raise InvalidArgumentError(f"{what}: presentation_format must be a PresentationFormat")
        for descriptor in self.descriptors:
            if not isinstance(descriptor, Descriptor):
                raise InvalidArgumentError(f"{what}: descriptors must be Descriptor objects")
        permissions = self.permissions
        if permissions is None:
            object.__setattr__(self, "permissions", _permissions_from(Properties(properties)))
        elif not isinstance(permissions, Permissions):
            raise InvalidArgumentError(f"{what}: permissions must be a Permissions")
        else:
            if permissions.readable != bool(properties & Properties.READ):
                raise InvalidArgumentError(
                    f"{what}: readable={permissions.readable} contradicts the READ property"
                )
            if permissions.writable != bool(properties & WRITE_PROPERTIES):
                raise InvalidArgumentError(
                    f"{what}: writable={permissions.writable} contradicts the write properties"
                )
        _check_callbacks(what, self.access, self.value, self.on_read, self.on_write, self.authorize)

    @property
    def access(self) -> Permissions:
        """The value's permissions (``permissions`` once defaulted from the properties)."""
        assert self.permissions is not None  # set by __attrs_post_init__
        return self.permissions

    @property
    def declared_properties(self) -> Properties:
        """The properties octet of the declaration: EXTENDED_PROPERTIES with the 0x2900."""
        properties = Properties(self.properties)
        if self.extended_properties:
            properties |= Properties.EXTENDED_PROPERTIES
        return properties


@attrs.frozen(eq=False)
class Service:
    """A primary or secondary service (Vol 3 Part G 3.1), with the services it includes
    (3.2; each already in the server's database when this one is added)."""

    uuid: uuid.UUID = attrs.field(converter=as_uuid)
    characteristics: tuple[Characteristic, ...] = attrs.field(
        default=(), converter=_characteristics
    )
    primary: bool = attrs.field(default=True, validator=_check_bool)
    included: tuple[Service, ...] = attrs.field(default=(), converter=_services)

    def __attrs_post_init__(self) -> None:
        if self.uuid in SERVER_MADE_TYPES:
            raise InvalidArgumentError(f"service {self.uuid}: a GATT declaration type")
        for characteristic in self.characteristics:
            if not isinstance(characteristic, Characteristic):
                raise InvalidArgumentError(
                    f"service {self.uuid}: characteristics must be Characteristic objects"
                )
        for service in self.included:
            if not isinstance(service, Service):
                raise InvalidArgumentError(f"service {self.uuid}: included must be Service objects")
            if service is self:
                raise InvalidArgumentError(f"service {self.uuid} cannot include itself")


@attrs.frozen
class CharacteristicHandles:
    """Where the server placed one characteristic: its declaration, its value, the last
    handle of its group (``end``), each descriptor the server made (None when absent) and the
    application's own ``descriptors`` in the order declared."""

    declaration: int
    value: int
    end: int
    extended_properties: int | None = None
    user_description: int | None = None
    cccd: int | None = None
    presentation_format: int | None = None
    descriptors: tuple[int, ...] = ()


@attrs.frozen
class ServiceHandles:
    """Where the server placed one service: its declaration (``service``), the last handle of
    its group (``end``), its include declarations and its characteristics, in the order
    declared."""

    service: int
    end: int
    includes: tuple[int, ...] = ()
    characteristics: tuple[CharacteristicHandles, ...] = ()
