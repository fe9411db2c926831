"""Service records (Core 5.4 Vol 3 Part B 2.2, 5): the builders, the accessors, the RFCOMM
channel lookup, and attribute lists as servers really send them."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from sdp_strategies import elements

import bluetrio.messages.sdp as sdp
from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.sdp_records import (
    L2CAP_PROTOCOL,
    PUBLIC_BROWSE_ROOT,
    RFCOMM_PROTOCOL,
    SERIAL_PORT,
    AttributeId,
    ServiceRecord,
    find_rfcomm_channel,
    rfcomm_service_record,
    sdp_server_record,
    serial_port_record,
)

CHAT = uuid.UUID("8ce255c0-200a-11e0-ac64-0800200c9a66")


def test_the_serial_port_record() -> None:
    record = serial_port_record(channel=3)
    assert record.service_class_ids == (SERIAL_PORT,)
    assert record.rfcomm_channel == 3 and record.l2cap_psm is None
    assert [protocol for protocol, _ in record.protocols] == [L2CAP_PROTOCOL, RFCOMM_PROTOCOL]
    assert record.name == "Serial Port"
    assert PUBLIC_BROWSE_ROOT in record.uuids()
    profile = record[AttributeId.BLUETOOTH_PROFILE_DESCRIPTOR_LIST]
    assert profile == sdp.Sequence((sdp.Sequence((sdp.Uuid.of(0x1101), sdp.UnsignedInt(0x0102))),))
    # 16-bit UUIDs go out in their short form.
    assert bytes.fromhex("191101") in record.element().encode()


def test_an_application_record_and_its_wire_form() -> None:
    record = rfcomm_service_record(CHAT, "chat", 12, description="talk")
    assert ServiceRecord.decode(record.element().encode()) == record
    assert record.service_class_ids == (CHAT,)
    assert record[AttributeId.SERVICE_DESCRIPTION] == sdp.Text(b"talk")
    assert record.handle is None
    assert record.with_handle(0x10005).handle == 0x10005
    assert AttributeId.SERVICE_NAME in record and 0x0200 not in record
    with pytest.raises(KeyError):
        record[0x0200]


def test_the_server_record() -> None:
    record = sdp_server_record(7)
    assert record.handle == 0 and record.l2cap_psm == 1
    assert record[AttributeId.SERVICE_DATABASE_STATE] == sdp.UnsignedInt(7, 4)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rfcomm_service_record(CHAT, "chat", 0),
        lambda: rfcomm_service_record(CHAT, "chat", 31),
        lambda: rfcomm_service_record("not a uuid", "chat", 1),
        lambda: rfcomm_service_record(CHAT, 5, 1),
        lambda: rfcomm_service_record(CHAT, "chat", 1, profile=(SERIAL_PORT, 0x10000)),
        lambda: ServiceRecord(((1, sdp.Nil()), (1, sdp.Nil()))),
        lambda: ServiceRecord(((2, sdp.Nil()), (1, sdp.Nil()))),
        lambda: ServiceRecord(((0x10000, sdp.Nil()),)),
        lambda: ServiceRecord(((1, "x"),)),
    ],
)
def test_bad_records_are_refused_on_construction(make: object) -> None:
    with pytest.raises(InvalidArgumentError):
        make()  # type: ignore[operator]


def test_find_rfcomm_channel_prefers_the_service_class() -> None:
    chat = rfcomm_service_record(CHAT, "chat", 4)
    spp = serial_port_record(9)
    assert find_rfcomm_channel([chat, spp], 0x1101) == 9
    assert find_rfcomm_channel([chat, spp], str(CHAT)) == 4
    assert find_rfcomm_channel([chat], 0x1101) is None
    # A record that mentions the UUID elsewhere than its service classes, as a fallback.
    assert find_rfcomm_channel([chat, spp], RFCOMM_PROTOCOL) == 4


def test_an_attribute_list_out_of_order_is_taken_in_order() -> None:
    # Bumble's RFCOMM records list 0x0000, 0x0005, 0x0004, 0x0001 (2.2 asks for ascending).
    unsorted = sdp.Sequence(
        (
            sdp.UnsignedInt(0x0005),
            sdp.Sequence((sdp.Uuid.of(0x1002),)),
            sdp.UnsignedInt(0x0001),
            sdp.Sequence((sdp.Uuid.of(CHAT),)),
        )
    )
    record = ServiceRecord.from_element(unsorted)
    assert [attribute_id for attribute_id, _ in record.attributes] == [1, 5]
    duplicated = sdp.Sequence((sdp.UnsignedInt(1), sdp.Nil(), sdp.UnsignedInt(1), sdp.Nil()))
    with pytest.raises(DecodeError):
        ServiceRecord.from_element(duplicated)


@given(element=elements)
def test_any_element_is_a_record_or_a_decode_error(element: sdp.DataElement) -> None:
    try:
        record = ServiceRecord.from_element(element)
    except DecodeError:
        return
    assert ServiceRecord.from_element(record.element()) == record
    record.rfcomm_channel, record.name, record.protocols, record.service_class_ids  # noqa: B018
