"""Service records (Core 5.4 Vol 3 Part B 2.2, 5): what an SDP server holds and a search
returns, as typed values with accessors for the attributes everyone reads, and builders for
the records bluetrio serves (the SDP server's own, the Serial Port Profile's, an application's
RFCOMM service).

A record is a list of (attribute ID, data element) pairs in ascending ID order; on the wire it
is a data element sequence of alternating 16-bit IDs and values (4.6.2).
"""

from __future__ import annotations

import enum
import uuid as uuid_module
from collections.abc import Iterable, Iterator

import attrs

from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.sdp import (
    ELEMENT_CLASSES,
    Alternative,
    DataElement,
    Sequence,
    Text,
    UnsignedInt,
    Uuid,
    decode_element_exactly,
)
from bluetrio.messages.uuids import uuid16


class AttributeId(enum.IntEnum):
    """Universal attribute IDs (Vol 3 Part B 5.1) and the SDP server's own (5.2)."""

    SERVICE_RECORD_HANDLE = 0x0000
    SERVICE_CLASS_ID_LIST = 0x0001
    SERVICE_RECORD_STATE = 0x0002
    SERVICE_ID = 0x0003
    PROTOCOL_DESCRIPTOR_LIST = 0x0004
    BROWSE_GROUP_LIST = 0x0005
    LANGUAGE_BASE_ATTRIBUTE_ID_LIST = 0x0006
    SERVICE_INFO_TIME_TO_LIVE = 0x0007
    SERVICE_AVAILABILITY = 0x0008
    BLUETOOTH_PROFILE_DESCRIPTOR_LIST = 0x0009
    DOCUMENTATION_URL = 0x000A
    CLIENT_EXECUTABLE_URL = 0x000B
    ICON_URL = 0x000C
    ADDITIONAL_PROTOCOL_DESCRIPTOR_LISTS = 0x000D
    # Offsets from the primary language base 0x0100 (5.1.15-5.1.17).
    SERVICE_NAME = 0x0100
    SERVICE_DESCRIPTION = 0x0101
    PROVIDER_NAME = 0x0102
    # The SDP server's service record (5.2).
    VERSION_NUMBER_LIST = 0x0200
    SERVICE_DATABASE_STATE = 0x0201


# Assigned numbers (Bluetooth Assigned Numbers, "Protocol Identifiers" and "Service Class").
SDP_PROTOCOL = uuid16(0x0001)
RFCOMM_PROTOCOL = uuid16(0x0003)
L2CAP_PROTOCOL = uuid16(0x0100)
SERVICE_DISCOVERY_SERVER = uuid16(0x1000)
PUBLIC_BROWSE_ROOT = uuid16(0x1002)
SERIAL_PORT = uuid16(0x1101)

SDP_PSM = 0x0001
# English, UTF-8 (MIBenum 106), the primary language base 0x0100 (5.1.8).
_LANGUAGE_BASE = Sequence((UnsignedInt(0x656E, 2), UnsignedInt(106, 2), UnsignedInt(0x0100, 2)))
# RFCOMM server channels are 1..30 (RFCOMM 1.2, 5.4).
RFCOMM_CHANNELS = range(1, 31)
# Records a server holds and a client accepts in one response, and attributes per record:
# far beyond what any device publishes, and a bound on what a peer can make us keep.
MAX_ATTRIBUTES = 256

UuidLike = int | str | uuid_module.UUID


def as_uuid(value: object, what: str = "uuid") -> uuid_module.UUID:
    """A UUID from a 16/32-bit assigned number, a UUID string or a ``uuid.UUID``."""
    if isinstance(value, uuid_module.UUID):
        return value
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return Uuid.of(value).full
        except InvalidArgumentError as error:
            raise InvalidArgumentError(f"{what}: {error}") from None
    raise InvalidArgumentError(f"{what}: expected a UUID, an int or a UUID string, got {value!r}")


def _uuids_in(element: DataElement) -> Iterator[uuid_module.UUID]:
    match element:
        case Uuid():
            yield element.full
        case Sequence() | Alternative():
            for item in element.items:
                yield from _uuids_in(item)
        case _:
            return


@attrs.frozen
class ServiceRecord:
    """One service record: ``attributes`` as (ID, value) pairs, in ascending ID order."""

    attributes: tuple[tuple[int, DataElement], ...]

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.attributes, tuple):
            raise InvalidArgumentError("attributes: expected a tuple of (ID, data element)")
        if len(self.attributes) > MAX_ATTRIBUTES:
            raise InvalidArgumentError(f"a record holds at most {MAX_ATTRIBUTES} attributes")
        previous = -1
        for pair in self.attributes:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise InvalidArgumentError(f"attribute {pair!r} is not an (ID, value) pair")
            attribute_id, value = pair
            if type(attribute_id) is bool or not isinstance(attribute_id, int):
                raise InvalidArgumentError(f"attribute ID {attribute_id!r} is not an integer")
            if not 0 <= attribute_id <= 0xFFFF:
                raise InvalidArgumentError(f"attribute ID {attribute_id} is not 0..0xFFFF")
            if attribute_id <= previous:
                raise InvalidArgumentError(
                    "attribute IDs must be unique and in ascending order (Vol 3 Part B 2.2)"
                )
            if not isinstance(value, ELEMENT_CLASSES):
                raise InvalidArgumentError(f"attribute 0x{attribute_id:04X}: not a data element")
            previous = attribute_id

    @classmethod
    def of(cls, attributes: Iterable[tuple[int, DataElement]]) -> ServiceRecord:
        """A record of ``attributes`` in any order (sorted here)."""
        return cls(tuple(sorted(attributes, key=lambda pair: pair[0])))

    # -- the wire form ------------------------------------------------------------------------
    def element(self) -> Sequence:
        """The attribute list: a sequence of ID, value, ID, value... (4.6.2)."""
        items: list[DataElement] = []
        for attribute_id, value in self.attributes:
            items += (UnsignedInt(attribute_id, 2), value)
        return Sequence(tuple(items))

    @classmethod
    def from_element(cls, element: DataElement) -> ServiceRecord:
        """A record from an attribute list; DecodeError unless it is a sequence of 16-bit IDs
        in ascending order, each followed by its value."""
        if not isinstance(element, Sequence):
            raise DecodeError("an attribute list is a data element sequence")
        items = element.items
        if len(items) % 2:
            raise DecodeError("an attribute list has an ID without a value")
        pairs = []
        for index in range(0, len(items), 2):
            attribute_id = items[index]
            if not (isinstance(attribute_id, UnsignedInt) and attribute_id.size == 2):
                raise DecodeError(f"attribute ID {attribute_id!r} is not a 16-bit integer")
            pairs.append((attribute_id.value, items[index + 1]))
        # Servers are to list attributes in ascending ID order (Vol 3 Part B 2.2) and some
        # do not (Bumble's RFCOMM records); the order carries nothing, so it is restored.
        pairs.sort(key=lambda pair: pair[0])
        try:
            return cls(tuple(pairs))
        except InvalidArgumentError as error:
            raise DecodeError(str(error)) from None

    @classmethod
    def decode(cls, data: bytes) -> ServiceRecord:
        return cls.from_element(decode_element_exactly(data))

    # -- accessors ----------------------------------------------------------------------------
    def get(self, attribute_id: int) -> DataElement | None:
        for candidate, value in self.attributes:
            if candidate == attribute_id:
                return value
        return None

    def __getitem__(self, attribute_id: int) -> DataElement:
        value = self.get(attribute_id)
        if value is None:
            raise KeyError(f"no attribute 0x{attribute_id:04X}")
        return value

    def __contains__(self, attribute_id: object) -> bool:
        return any(candidate == attribute_id for candidate, _ in self.attributes)

    @property
    def handle(self) -> int | None:
        """The ServiceRecordHandle (5.1.1), when the record carries it."""
        value = self.get(AttributeId.SERVICE_RECORD_HANDLE)
        return value.value if isinstance(value, UnsignedInt) else None

    @property
    def service_class_ids(self) -> tuple[uuid_module.UUID, ...]:
        """The ServiceClassIDList (5.1.2), most specific class first."""
        value = self.get(AttributeId.SERVICE_CLASS_ID_LIST)
        if not isinstance(value, Sequence):
            return ()
        return tuple(item.full for item in value.items if isinstance(item, Uuid))

    @property
    def name(self) -> str | None:
        """The ServiceName in the primary language (5.1.15)."""
        value = self.get(AttributeId.SERVICE_NAME)
        return value.text if isinstance(value, Text) else None

    @property
    def protocols(self) -> tuple[tuple[uuid_module.UUID, tuple[DataElement, ...]], ...]:
        """The ProtocolDescriptorList (5.1.5) as (protocol UUID, parameters), lowest layer
        first; for a list of alternatives (a data element alternative), the first one."""
        value = self.get(AttributeId.PROTOCOL_DESCRIPTOR_LIST)
        if isinstance(value, Alternative):
            value = value.items[0] if value.items else None
        if not isinstance(value, Sequence):
            return ()
        protocols = []
        for descriptor in value.items:
            if not isinstance(descriptor, Sequence) or not descriptor.items:
                continue
            protocol, *parameters = descriptor.items
            if isinstance(protocol, Uuid):
                protocols.append((protocol.full, tuple(parameters)))
        return tuple(protocols)

    def _protocol_parameter(self, protocol: uuid_module.UUID) -> int | None:
        for candidate, parameters in self.protocols:
            if candidate == protocol and parameters and isinstance(parameters[0], UnsignedInt):
                return parameters[0].value
        return None

    @property
    def rfcomm_channel(self) -> int | None:
        """The RFCOMM server channel in the protocol descriptor list, if it is 1..30."""
        channel = self._protocol_parameter(RFCOMM_PROTOCOL)
        return channel if channel in RFCOMM_CHANNELS else None

    @property
    def l2cap_psm(self) -> int | None:
        """The PSM of the L2CAP descriptor, when it has one."""
        return self._protocol_parameter(L2CAP_PROTOCOL)

    def uuids(self) -> frozenset[uuid_module.UUID]:
        """Every UUID anywhere in the record's values: what a search pattern matches
        (Vol 3 Part B 2.5.2), in their 128-bit forms."""
        found: set[uuid_module.UUID] = set()
        for _, value in self.attributes:
            found.update(_uuids_in(value))
        return frozenset(found)

    def with_handle(self, handle: int) -> ServiceRecord:
        """This record carrying ServiceRecordHandle ``handle`` (the server's, 5.1.1)."""
        kept = tuple(
            pair for pair in self.attributes if pair[0] != AttributeId.SERVICE_RECORD_HANDLE
        )
        return ServiceRecord(((AttributeId.SERVICE_RECORD_HANDLE, UnsignedInt(handle, 4)), *kept))


def find_rfcomm_channel(records: Iterable[ServiceRecord], uuid: UuidLike) -> int | None:
    """The RFCOMM server channel of the first record whose service classes include ``uuid``
    (or, failing that, that mentions it anywhere), or None."""
    wanted = as_uuid(uuid)
    candidates = list(records)
    for record in candidates:
        if wanted in record.service_class_ids and record.rfcomm_channel is not None:
            return record.rfcomm_channel
    for record in candidates:
        if wanted in record.uuids() and record.rfcomm_channel is not None:
            return record.rfcomm_channel
    return None


# -- builders -------------------------------------------------------------------------------------


def _uuid_sequence(*values: uuid_module.UUID) -> Sequence:
    return Sequence(tuple(Uuid.of(value) for value in values))


def rfcomm_protocols(channel: int) -> Sequence:
    """The ProtocolDescriptorList of an RFCOMM service: L2CAP, then RFCOMM on ``channel``."""
    return Sequence(
        (
            Sequence((Uuid.of(L2CAP_PROTOCOL),)),
            Sequence((Uuid.of(RFCOMM_PROTOCOL), UnsignedInt(channel, 1))),
        )
    )


def rfcomm_service_record(
    uuid: UuidLike,
    name: str,
    channel: int,
    *,
    profile: tuple[UuidLike, int] | None = None,
    description: str | None = None,
) -> ServiceRecord:
    """The record of an RFCOMM service: service class ``uuid``, its ``name``, served on RFCOMM
    server ``channel`` (1..30), in the public browse group; ``profile`` adds a
    BluetoothProfileDescriptorList entry (profile UUID, version such as 0x0102)."""
    service = as_uuid(uuid)
    if not isinstance(name, str):
        raise InvalidArgumentError(f"name: expected a str, got {name!r}")
    if type(channel) is bool or not isinstance(channel, int) or channel not in RFCOMM_CHANNELS:
        raise InvalidArgumentError(f"channel: an RFCOMM server channel is 1..30, got {channel!r}")
    attributes: list[tuple[int, DataElement]] = [
        (AttributeId.SERVICE_CLASS_ID_LIST, _uuid_sequence(service)),
        (AttributeId.PROTOCOL_DESCRIPTOR_LIST, rfcomm_protocols(channel)),
        (AttributeId.BROWSE_GROUP_LIST, _uuid_sequence(PUBLIC_BROWSE_ROOT)),
        (AttributeId.LANGUAGE_BASE_ATTRIBUTE_ID_LIST, _LANGUAGE_BASE),
        (AttributeId.SERVICE_NAME, Text.of(name)),
    ]
    if profile is not None:
        profile_uuid, version = profile
        if type(version) is bool or not isinstance(version, int) or not 0 <= version <= 0xFFFF:
            raise InvalidArgumentError(f"profile version: expected 0..0xFFFF, got {version!r}")
        descriptor = Sequence((Uuid.of(as_uuid(profile_uuid)), UnsignedInt(version, 2)))
        attributes.append((AttributeId.BLUETOOTH_PROFILE_DESCRIPTOR_LIST, Sequence((descriptor,))))
    if description is not None:
        attributes.append((AttributeId.SERVICE_DESCRIPTION, Text.of(description)))
    return ServiceRecord.of(attributes)


def serial_port_record(channel: int, name: str = "Serial Port") -> ServiceRecord:
    """The Serial Port Profile's record (SPP 1.2, 6.1): service class 0x1101 on RFCOMM
    ``channel``, profile descriptor SPP version 1.2."""
    return rfcomm_service_record(SERIAL_PORT, name, channel, profile=(SERIAL_PORT, 0x0102))


def sdp_server_record(database_state: int = 0) -> ServiceRecord:
    """The SDP server's own record (Vol 3 Part B 5.2), at handle 0x00000000: service class
    0x1000, SDP over L2CAP PSM 0x0001, version 1.1, and ServiceDatabaseState, which changes
    whenever a record is added or removed (5.2.2)."""
    return ServiceRecord.of(
        [
            (AttributeId.SERVICE_RECORD_HANDLE, UnsignedInt(0, 4)),
            (AttributeId.SERVICE_CLASS_ID_LIST, _uuid_sequence(SERVICE_DISCOVERY_SERVER)),
            (
                AttributeId.PROTOCOL_DESCRIPTOR_LIST,
                Sequence(
                    (
                        Sequence((Uuid.of(L2CAP_PROTOCOL), UnsignedInt(SDP_PSM, 2))),
                        Sequence((Uuid.of(SDP_PROTOCOL),)),
                    )
                ),
            ),
            (AttributeId.BROWSE_GROUP_LIST, _uuid_sequence(PUBLIC_BROWSE_ROOT)),
            (AttributeId.LANGUAGE_BASE_ATTRIBUTE_ID_LIST, _LANGUAGE_BASE),
            (AttributeId.SERVICE_NAME, Text.of("Service Discovery")),
            (AttributeId.VERSION_NUMBER_LIST, Sequence((UnsignedInt(0x0101, 2),))),
            (AttributeId.SERVICE_DATABASE_STATE, UnsignedInt(database_state, 4)),
        ]
    )
