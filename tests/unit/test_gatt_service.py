"""The gatt service primitives (bluetrio/messages/gatt_service.py): what the application
port routes by, and what the application subscribes to."""

from __future__ import annotations

from bluetrio.actors.app_port import AppRouter, Mailbox, MailboxKey
from bluetrio.address import Address
from bluetrio.messages.base import channel_id_of, connection_handle_of
from bluetrio.messages.gatt_service import (
    APP_INDICATIONS,
    AttMtuInd,
    AttValueInd,
    GattServerReadInd,
)


def test_a_value_is_keyed_by_its_link_and_attribute_handle() -> None:
    value = AttValueInd(0x0040, 0x0012, b"\x01", indication=False)
    assert connection_handle_of(value) == 0x0040
    assert channel_id_of(value) == 0x0012


def test_the_router_puts_a_value_only_in_the_mailbox_of_its_attribute() -> None:
    router = AppRouter()
    mine: Mailbox[AttValueInd] = Mailbox((MailboxKey(AttValueInd, 0x40, 0x12),), 4)
    other: Mailbox[AttValueInd] = Mailbox((MailboxKey(AttValueInd, 0x40, 0x13),), 4)
    router.register(mine)
    router.register(other)
    router.handle("gatt", AttValueInd(0x40, 0x12, b"a", indication=True), 0.0)
    router.handle("gatt", AttValueInd(0x41, 0x12, b"b", indication=False), 0.0)
    assert [m.value for m in (mine.receive_nowait(),)] == [b"a"]
    assert len(mine) == 0 and len(other) == 0
    assert router.unrouted == 1  # link 0x41's value: nobody listens


def test_the_application_subscribes_to_every_gatt_indication() -> None:
    subscribed = set(AppRouter.spec.subscribes)
    assert set(APP_INDICATIONS) <= subscribed
    assert {AttValueInd, AttMtuInd, GattServerReadInd} <= set(APP_INDICATIONS)
    read = GattServerReadInd(7, 0x40, Address.parse("00:11:22:33:44:55"), 0x0003, 0)
    assert connection_handle_of(read) == 0x40
