"""The GATT server's attribute table, built from the application's declarations (Core 5.4
Vol 3 Part G 3.1-3.3).

Each service becomes, in this order: its service declaration (0x2800 primary, 0x2801
secondary; value: the service UUID), one include declaration (0x2802) per included service
(value: the included service's handle, its group end handle and, only when the included
service's UUID is a 16-bit one, that UUID, 3.2), then per characteristic its declaration
(0x2803; value: properties, value handle, UUID, 3.3.1), its value, and the descriptors:
Characteristic Extended Properties (0x2900) when it has extended properties, User
Description (0x2901), Client Characteristic Configuration (0x2902) for NOTIFY or INDICATE,
Presentation Format (0x2904), then the application's own descriptors in the order declared.
A CCCD's value is per client (Vol 3 Part G 3.3.3.3): the server keeps it for each connection,
so in the table its value is None, like the values the application serves itself.

Handles: a service takes the handles after the highest one ever given, so a removed
service's range is not reused and a client's cached handles of the others stay true (what
Service Changed then reports is just the new range, Vol 3 Part G 7.1); only once the top of
the handle space is reached does a new service go into the lowest free gap large enough for
it. The same declarations added in the same order always get the same handles.

Look-ups (by handle, a handle range, a type within a range) bisect sorted lists, one for the
whole table and one per attribute type, so a request costs its answer's size and a logarithm,
not a scan of the table (10,000 attributes and more).
"""

from __future__ import annotations

import bisect
import enum
import uuid
from collections.abc import Iterator, Sequence

import attrs

from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.gatt_declarations import (
    CCCD_UUID,
    CHARACTERISTIC_UUID,
    EXTENDED_PROPERTIES_UUID,
    INCLUDE_UUID,
    OPEN,
    PRESENTATION_FORMAT_UUID,
    PRIMARY_SERVICE_UUID,
    SECONDARY_SERVICE_UUID,
    USER_DESCRIPTION_UUID,
    AccessSecurity,
    Characteristic,
    CharacteristicHandles,
    ExtendedProperties,
    Permissions,
    Properties,
    Service,
    ServiceHandles,
)
from bluetrio.messages.uuids import att_uuid_bytes, short_form

# Vol 3 Part F 3.2.2: handles 0x0001..0xFFFF (0x0000 is reserved).
FIRST_HANDLE = 0x0001
LAST_HANDLE = 0xFFFF

READ_ONLY = Permissions(readable=True, writable=False)


class AttributeKind(enum.Enum):
    """What an attribute of the table is, so a request knows what it may do with it."""

    SERVICE = "service declaration"
    INCLUDE = "include declaration"
    CHARACTERISTIC = "characteristic declaration"
    VALUE = "characteristic value"
    EXTENDED_PROPERTIES = "characteristic extended properties"
    USER_DESCRIPTION = "characteristic user description"
    CCCD = "client characteristic configuration"
    PRESENTATION_FORMAT = "characteristic presentation format"
    DESCRIPTOR = "descriptor"


@attrs.define(eq=False)
class Attribute:
    """One attribute of the table (Vol 3 Part F 3.2).

    ``value`` is the stored value, None when the application serves it (``on_read``) or, for
    a CCCD, when it is per client. ``group_end`` is the last handle of the group a service or
    characteristic declaration opens (its own handle for any other attribute);
    ``service`` the handle of the service declaration it belongs to; ``characteristic`` the
    declaration it belongs to (values and descriptors) with ``value_handle`` that
    characteristic's value handle. ``app_read``/``app_write``: the application serves reads /
    takes writes itself; ``authorize``: it is asked before an access whose security asks
    authorization.
    """

    handle: int
    type: uuid.UUID
    kind: AttributeKind
    value: bytes | None
    permissions: Permissions
    service: int
    group_end: int = 0
    characteristic: Characteristic | None = None
    value_handle: int = 0
    app_read: bool = False
    app_write: bool = False
    authorize: bool = False

    @property
    def properties(self) -> Properties:
        """The properties of the characteristic it belongs to (none for others)."""
        if self.characteristic is None:
            return Properties(0)
        return self.characteristic.declared_properties


def _service_declaration_value(service: Service) -> bytes:
    return att_uuid_bytes(service.uuid)


def _include_value(included: ServiceHandles, included_uuid: uuid.UUID) -> bytes:
    value = included.service.to_bytes(2, "little") + included.end.to_bytes(2, "little")
    short = short_form(included_uuid)
    if short is not None and short <= 0xFFFF:
        value += short.to_bytes(2, "little")
    return value


def _characteristic_declaration_value(characteristic: Characteristic, value_handle: int) -> bytes:
    return (
        bytes((int(characteristic.declared_properties),))
        + value_handle.to_bytes(2, "little")
        + att_uuid_bytes(characteristic.uuid)
    )


def attribute_count(service: Service) -> int:
    """How many handles ``service`` takes in the table."""
    count = 1 + len(service.included)
    for characteristic in service.characteristics:
        count += 2 + len(characteristic.descriptors)
        count += characteristic.extended_properties != 0
        count += characteristic.user_description is not None
        count += _has_cccd(characteristic)
        count += characteristic.presentation_format is not None
    return count


def _has_cccd(characteristic: Characteristic) -> bool:
    return bool(characteristic.properties & (Properties.NOTIFY | Properties.INDICATE))


def _cccd_permissions(characteristic: Characteristic) -> Permissions:
    # Vol 3 Part G 3.3.3.3: readable with no security; writing is the profile's choice.
    # A subscription reveals every later value, so writing needs what reading the value
    # needs (its authorization excepted: the CCCD is the server's, not the application's).
    security = characteristic.access.read_security
    return Permissions(
        readable=True,
        writable=True,
        write_security=AccessSecurity(
            encryption=security.encryption,
            authentication=security.authentication,
            min_key_size=security.min_key_size,
        ),
    )


def _user_description_permissions(characteristic: Characteristic) -> Permissions:
    # Vol 3 Part G 3.3.3.2: writable only with the Writable Auxiliaries extended property.
    writable = bool(characteristic.extended_properties & ExtendedProperties.WRITABLE_AUXILIARIES)
    write_security = characteristic.access.write_security if writable else OPEN
    if write_security.authorization:
        write_security = attrs.evolve(write_security, authorization=False)
    return Permissions(readable=True, writable=writable, write_security=write_security)


@attrs.define
class _Placed:
    """A service in the table: its declaration object and where it went."""

    service: Service
    handles: ServiceHandles


class _Builder:
    """Lays one service out from a first handle."""

    def __init__(self, first: int) -> None:
        self.next = first
        self.attributes: list[Attribute] = []

    def place(
        self,
        type: uuid.UUID,
        kind: AttributeKind,
        value: bytes | None,
        permissions: Permissions,
        service: int,
        characteristic: Characteristic | None = None,
        value_handle: int = 0,
        app_read: bool = False,
        app_write: bool = False,
        authorize: bool = False,
    ) -> Attribute:
        attribute = Attribute(
            handle=self.next,
            type=type,
            kind=kind,
            value=value,
            permissions=permissions,
            service=service,
            characteristic=characteristic,
            value_handle=value_handle,
            app_read=app_read,
            app_write=app_write,
            authorize=authorize,
        )
        self.attributes.append(attribute)
        self.next += 1
        return attribute

    def service(self, service: Service, placed: Sequence[_Placed]) -> ServiceHandles:
        start = self.next
        declaration = self.place(
            type=PRIMARY_SERVICE_UUID if service.primary else SECONDARY_SERVICE_UUID,
            kind=AttributeKind.SERVICE,
            value=_service_declaration_value(service),
            permissions=READ_ONLY,
            service=start,
        )
        includes = []
        for included in service.included:
            target = next((p for p in placed if p.service is included), None)
            if target is None:
                raise InvalidArgumentError(
                    f"service {service.uuid} includes service {included.uuid}, "
                    "which is not in the database: add it first"
                )
            includes.append(
                self.place(
                    type=INCLUDE_UUID,
                    kind=AttributeKind.INCLUDE,
                    value=_include_value(target.handles, included.uuid),
                    permissions=READ_ONLY,
                    service=start,
                ).handle
            )
        characteristics = tuple(self.characteristic(c, start) for c in service.characteristics)
        end = self.next - 1
        declaration.group_end = end
        return ServiceHandles(
            service=start, end=end, includes=tuple(includes), characteristics=characteristics
        )

    def characteristic(self, characteristic: Characteristic, service: int) -> CharacteristicHandles:
        declaration = self.place(
            type=CHARACTERISTIC_UUID,
            kind=AttributeKind.CHARACTERISTIC,
            value=_characteristic_declaration_value(characteristic, self.next + 1),
            permissions=READ_ONLY,
            service=service,
            characteristic=characteristic,
            value_handle=self.next + 1,
        )
        value_handle = self.next
        self.place(
            type=characteristic.uuid,
            kind=AttributeKind.VALUE,
            value=None if characteristic.on_read is not None else characteristic.value,
            permissions=characteristic.access,
            app_read=characteristic.on_read is not None,
            app_write=characteristic.on_write is not None,
            authorize=characteristic.authorize is not None,
            service=service,
            characteristic=characteristic,
            value_handle=value_handle,
        )
        extended = user_description = cccd = presentation = None
        if characteristic.extended_properties:
            extended = self.place(
                type=EXTENDED_PROPERTIES_UUID,
                kind=AttributeKind.EXTENDED_PROPERTIES,
                value=int(characteristic.extended_properties).to_bytes(2, "little"),
                permissions=READ_ONLY,
                service=service,
                characteristic=characteristic,
                value_handle=value_handle,
            ).handle
        if characteristic.user_description is not None:
            user_description = self.place(
                type=USER_DESCRIPTION_UUID,
                kind=AttributeKind.USER_DESCRIPTION,
                value=characteristic.user_description.encode(),
                permissions=_user_description_permissions(characteristic),
                service=service,
                characteristic=characteristic,
                value_handle=value_handle,
            ).handle
        if _has_cccd(characteristic):
            cccd = self.place(
                type=CCCD_UUID,
                kind=AttributeKind.CCCD,
                value=None,
                permissions=_cccd_permissions(characteristic),
                service=service,
                characteristic=characteristic,
                value_handle=value_handle,
            ).handle
        if characteristic.presentation_format is not None:
            presentation = self.place(
                type=PRESENTATION_FORMAT_UUID,
                kind=AttributeKind.PRESENTATION_FORMAT,
                value=characteristic.presentation_format.encode(),
                permissions=READ_ONLY,
                service=service,
                characteristic=characteristic,
                value_handle=value_handle,
            ).handle
        descriptors = tuple(
            self.place(
                type=descriptor.uuid,
                kind=AttributeKind.DESCRIPTOR,
                value=None if descriptor.on_read is not None else descriptor.value,
                permissions=descriptor.permissions,
                app_read=descriptor.on_read is not None,
                app_write=descriptor.on_write is not None,
                authorize=descriptor.authorize is not None,
                service=service,
                characteristic=characteristic,
                value_handle=value_handle,
            ).handle
            for descriptor in characteristic.descriptors
        )
        end = self.next - 1
        declaration.group_end = end
        return CharacteristicHandles(
            declaration=declaration.handle,
            value=value_handle,
            end=end,
            extended_properties=extended,
            user_description=user_description,
            cccd=cccd,
            presentation_format=presentation,
            descriptors=descriptors,
        )


class AttributeDatabase:
    """The attribute table: services added and removed, attributes looked up by handle,
    by handle range and by type within a range."""

    def __init__(self) -> None:
        self._handles: list[int] = []
        self._attributes: list[Attribute] = []
        # Per attribute type, the handles of that type in order.
        self._by_type: dict[uuid.UUID, list[int]] = {}
        self._services: list[_Placed] = []
        self._next = FIRST_HANDLE

    # -- building ------------------------------------------------------------------------------
    def add(self, service: Service) -> ServiceHandles:
        """Place ``service``; raises InvalidArgumentError when an included service is not in
        the table or no range of handles is left for it."""
        if not isinstance(service, Service):
            raise InvalidArgumentError(f"expected a Service, got {service!r}")
        if any(p.service is service for p in self._services):
            raise InvalidArgumentError(f"service {service.uuid} is already in the database")
        first = self._first_free(attribute_count(service))
        builder = _Builder(first)
        handles = builder.service(service, self._services)
        self._insert(builder.attributes)
        self._services.append(_Placed(service, handles))
        self._services.sort(key=lambda p: p.handles.service)
        self._next = max(self._next, handles.end + 1)
        return handles

    def remove(self, service_handle: int) -> ServiceHandles:
        """Take out the service declared at ``service_handle``; raises InvalidArgumentError
        when no service starts there or another service still includes it."""
        placed = next((p for p in self._services if p.handles.service == service_handle), None)
        if placed is None:
            raise InvalidArgumentError(f"no service starts at handle 0x{service_handle:04X}")
        for other in self._services:
            if placed.service in other.service.included:
                raise InvalidArgumentError(
                    f"service 0x{service_handle:04X} is included by the service at "
                    f"0x{other.handles.service:04X}: remove that one first"
                )
        start, end = placed.handles.service, placed.handles.end
        low = bisect.bisect_left(self._handles, start)
        high = bisect.bisect_right(self._handles, end)
        removed = self._attributes[low:high]
        del self._handles[low:high]
        del self._attributes[low:high]
        for attribute in removed:
            handles = self._by_type[attribute.type]
            del handles[bisect.bisect_left(handles, attribute.handle)]
            if not handles:
                del self._by_type[attribute.type]
        self._services.remove(placed)
        return placed.handles

    def _first_free(self, count: int) -> int:
        if self._next + count - 1 <= LAST_HANDLE:
            return self._next
        # The top of the handle space is reached: the lowest gap that fits.
        candidate = FIRST_HANDLE
        for placed in self._services:
            if placed.handles.service - candidate >= count:
                return candidate
            candidate = placed.handles.end + 1
        if LAST_HANDLE - candidate + 1 >= count:
            return candidate
        raise InvalidArgumentError(
            f"no room in the attribute handles for a service of {count} attributes"
        )

    def _insert(self, attributes: list[Attribute]) -> None:
        first = attributes[0].handle
        at = bisect.bisect_left(self._handles, first)
        self._handles[at:at] = [a.handle for a in attributes]
        self._attributes[at:at] = attributes
        for attribute in attributes:
            bisect.insort(self._by_type.setdefault(attribute.type, []), attribute.handle)

    # -- look-ups ------------------------------------------------------------------------------
    @property
    def services(self) -> tuple[ServiceHandles, ...]:
        """Every service's handles, in handle order."""
        return tuple(p.handles for p in self._services)

    def service_of(self, service_handle: int) -> Service | None:
        """The declaration of the service that starts at ``service_handle``."""
        placed = next((p for p in self._services if p.handles.service == service_handle), None)
        return None if placed is None else placed.service

    def __len__(self) -> int:
        return len(self._attributes)

    def __iter__(self) -> Iterator[Attribute]:
        return iter(list(self._attributes))

    def get(self, handle: int) -> Attribute | None:
        """The attribute at ``handle``, or None."""
        at = bisect.bisect_left(self._handles, handle)
        if at < len(self._handles) and self._handles[at] == handle:
            return self._attributes[at]
        return None

    def in_range(self, start: int, end: int) -> Iterator[Attribute]:
        """The attributes with handles in ``start..end``, in handle order."""
        at = bisect.bisect_left(self._handles, start)
        attributes = self._attributes
        while at < len(attributes) and attributes[at].handle <= end:
            yield attributes[at]
            at += 1

    def of_type(self, attribute_type: uuid.UUID, start: int, end: int) -> Iterator[Attribute]:
        """The attributes of ``attribute_type`` with handles in ``start..end``, in order."""
        handles = self._by_type.get(attribute_type)
        if not handles:
            return
        at = bisect.bisect_left(handles, start)
        while at < len(handles) and handles[at] <= end:
            attribute = self.get(handles[at])
            assert attribute is not None  # the index follows the table
            yield attribute
            at += 1

    def set_value(self, handle: int, value: bytes) -> None:
        """Store a new value at ``handle`` (a stored value: not a CCCD, not the app's)."""
        attribute = self.get(handle)
        if attribute is None or attribute.value is None:
            raise InvalidArgumentError(f"handle 0x{handle:04X} holds no stored value")
        attribute.value = bytes(value)
