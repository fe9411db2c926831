"""The GATT server with the GATT service and its clients' state (Core 5.4 Vol 3 Part G 2.5.2,
3.3.3.3, 7): the database hash read, features per client, Database Out Of Sync, Service
Changed after a change, CCCDs kept with a bond across connections, signed writes."""

from __future__ import annotations

from bluetrio.actors.effects import Emit
from bluetrio.actors.gatt.database_hash import DATABASE_HASH_UUID, database_hash
from bluetrio.actors.gatt.outputs import Output, SendPdu
from bluetrio.actors.gatt.permissions import UNSECURED, LinkSecurity
from bluetrio.actors.gatt.server import GattServer
from bluetrio.actors.gatt.signing import sign_write
from bluetrio.address import Address, AddressType
from bluetrio.bonds import Bond, KeyDistribution, Transport
from bluetrio.messages.att import (
    AttPdu,
    ErrorResponse,
    HandleValueIndication,
    ReadByTypeRequest,
    ReadByTypeResponse,
    ReadRequest,
    ReadResponse,
    WriteCommand,
    WriteRequest,
    WriteResponse,
)
from bluetrio.messages.gatt_declarations import (
    AccessSecurity,
    Characteristic,
    Permissions,
    Properties,
    ReadContext,
    Service,
    WriteContext,
)
from bluetrio.messages.gatt_service import GattServerReadInd, GattServerReadRsp, GattServerWriteInd
from bluetrio.messages.gatt_state import GattBondState, GattBondStateStoreReq

LINK = 0x0040
PEER = Address.parse("C0:11:22:33:44:55", AddressType.RANDOM)
LOCAL = Address.parse("00:11:22:33:44:55")
CSRK = bytes(range(16))
# GAP 0x0001-0x0005; GATT 0x0006-0x000F: Service Changed 0x0008 (its CCCD 0x0009), Client
# Supported Features 0x000B, Database Hash 0x000D, Server Supported Features 0x000F.
SERVICE_CHANGED, SC_CCCD, FEATURES, HASH, SERVER_FEATURES = 0x08, 0x09, 0x0B, 0x0D, 0x0F
BATTERY = Service(
    0x180F, (Characteristic(0x2A19, Properties.READ | Properties.NOTIFY, value=b"\x64"),)
)
# The Battery Service then sits at 0x0010-0x0013: its level 0x0012, the CCCD 0x0013.
LEVEL, LEVEL_CCCD = 0x0012, 0x0013


def server(*services: Service) -> GattServer:
    gatt = GattServer()
    gatt.add_gatt_service()
    for service in services:
        gatt.add_service(service)
    gatt.take_changes()
    return gatt


def up(gatt: GattServer, security: LinkSecurity = UNSECURED) -> None:
    assert gatt.on_link_up(LINK, PEER, security, bonded=False) == []


def ask(gatt: GattServer, pdu: AttPdu) -> list[Output]:
    return gatt.on_request(LINK, 0, pdu, 23, now=0.0)


def answer(gatt: GattServer, pdu: AttPdu) -> AttPdu:
    [sent] = [o for o in ask(gatt, pdu) if isinstance(o, SendPdu)]
    return sent.pdu


def stored(outputs: list[Output]) -> list[GattBondState]:
    return [
        o.message.state
        for o in outputs
        if isinstance(o, Emit) and isinstance(o.message, GattBondStateStoreReq)
    ]


def test_the_gatt_service_follows_gap_and_serves_the_hash() -> None:
    gatt = server(BATTERY)
    assert gatt.gatt_service is not None and gatt.gatt_service.handles is not None
    assert gatt.gatt_service.handles.service == 0x0006
    up(gatt)
    current = database_hash(gatt.database)
    assert answer(gatt, ReadRequest(HASH)) == ReadResponse(current)
    by_type = answer(gatt, ReadByTypeRequest(0x0001, 0xFFFF, DATABASE_HASH_UUID))
    assert by_type == ReadByTypeResponse(((HASH, current),))
    assert answer(gatt, ReadRequest(SERVER_FEATURES)) == ReadResponse(b"\x00")
    assert answer(gatt, ReadRequest(SERVICE_CHANGED)) == ErrorResponse(0x0A, SERVICE_CHANGED, 0x02)


def test_client_supported_features_are_each_clients_and_never_cleared() -> None:
    gatt = server()
    up(gatt)
    assert answer(gatt, WriteRequest(FEATURES, b"\x01")) == WriteResponse()
    assert answer(gatt, ReadRequest(FEATURES)) == ReadResponse(b"\x01")
    assert answer(gatt, WriteRequest(FEATURES, b"\x00")) == ErrorResponse(0x12, FEATURES, 0x13)
    assert answer(gatt, ReadRequest(FEATURES)) == ReadResponse(b"\x01")
    gatt.on_link_up(0x0041, PEER, UNSECURED, bonded=False)
    [other] = gatt.on_request(0x0041, 0, ReadRequest(FEATURES), 23, 0.0)
    assert isinstance(other, SendPdu) and other.pdu == ReadResponse(b"\x00")


def test_a_change_is_indicated_and_a_change_unaware_client_is_out_of_sync_once() -> None:
    gatt = server()
    up(gatt)
    answer(gatt, WriteRequest(FEATURES, b"\x01"))  # robust caching
    answer(gatt, WriteRequest(SC_CCCD, b"\x02\x00"))
    gatt.add_service(BATTERY)
    indication = HandleValueIndication(SERVICE_CHANGED, b"\x10\x00\x13\x00")
    assert SendPdu(LINK, 0, indication) in gatt.take_changes()
    # Before it confirms: a command is ignored, a request told out of sync once.
    assert ask(gatt, WriteCommand(LEVEL, b"\x01")) == []
    assert answer(gatt, ReadRequest(LEVEL)) == ErrorResponse(0x0A, LEVEL, 0x12)
    assert answer(gatt, ReadRequest(LEVEL)) == ReadResponse(b"\x64")


def test_the_hash_read_by_type_is_answered_to_a_change_unaware_client() -> None:
    gatt = server()
    up(gatt)
    answer(gatt, WriteRequest(FEATURES, b"\x01"))
    gatt.add_service(BATTERY)
    response = answer(gatt, ReadByTypeRequest(0x0001, 0xFFFF, DATABASE_HASH_UUID))
    assert response == ReadByTypeResponse(((HASH, database_hash(gatt.database)),))
    assert answer(gatt, ReadRequest(LEVEL)) == ReadResponse(b"\x64")


def test_the_confirmation_makes_the_client_change_aware() -> None:
    gatt = server()
    up(gatt)
    answer(gatt, WriteRequest(FEATURES, b"\x01"))
    answer(gatt, WriteRequest(SC_CCCD, b"\x02\x00"))
    gatt.add_service(BATTERY)
    gatt.take_changes()
    assert gatt.on_indication_outcome(LINK, LEVEL, None) == []  # not Service Changed
    gatt.on_indication_outcome(LINK, SERVICE_CHANGED, None)
    assert answer(gatt, ReadRequest(LEVEL)) == ReadResponse(b"\x64")


def test_an_unconfirmed_service_changed_is_indicated_again_when_back() -> None:
    gatt = server()
    up(gatt)
    bonded(gatt)
    answer(gatt, WriteRequest(SC_CCCD, b"\x02\x00"))
    gatt.add_service(BATTERY)
    assert gatt.take_changes()
    gatt.on_indication_outcome(LINK, SERVICE_CHANGED, "the transaction timed out")
    gatt.on_link_down(LINK)
    up(gatt)
    again = gatt.on_link_encrypted(LINK, PEER, with_bond=True)
    indication = HandleValueIndication(SERVICE_CHANGED, b"\x10\x00\x13\x00")
    assert SendPdu(LINK, 0, indication) in again


def bonded(gatt: GattServer) -> list[Output]:
    bond = Bond(LOCAL, PEER, Transport.LE, peer_keys=KeyDistribution(csrk=CSRK))
    return gatt.on_bond(bond)


def test_cccds_of_a_bonded_client_come_back_once_encrypted_with_the_bond() -> None:
    gatt = server(BATTERY)
    up(gatt)
    bonded(gatt)
    outputs = ask(gatt, WriteRequest(LEVEL_CCCD, b"\x01\x00"))
    [state] = stored(outputs)
    assert state.cccds == ((LEVEL_CCCD, 1),)
    gatt.on_link_down(LINK)
    [last] = stored(gatt.take_changes())
    assert last.cccds == ((LEVEL_CCCD, 1),)
    up(gatt)
    assert gatt.subscribers(LEVEL, indicate=False, link=None) == ()
    gatt.on_link_encrypted(LINK, PEER, with_bond=True)
    assert gatt.subscribers(LEVEL, indicate=False, link=None) == (LINK,)
    assert answer(gatt, ReadRequest(LEVEL_CCCD)) == ReadResponse(b"\x01\x00")


def test_service_changed_reaches_a_bonded_client_that_was_away() -> None:
    gatt = server()
    up(gatt)
    bonded(gatt)
    answer(gatt, WriteRequest(SC_CCCD, b"\x02\x00"))
    gatt.on_link_down(LINK)
    assert stored(gatt.take_changes())
    gatt.add_service(BATTERY)
    assert gatt.take_changes() == []  # nobody to tell now
    up(gatt)
    outputs = gatt.on_link_encrypted(LINK, PEER, with_bond=True)
    indication = HandleValueIndication(SERVICE_CHANGED, b"\x10\x00\x13\x00")
    assert SendPdu(LINK, 0, indication) in outputs


def test_removing_a_service_drops_the_cccds_in_it() -> None:
    gatt = server()
    handles = gatt.add_service(BATTERY)
    up(gatt)
    answer(gatt, WriteRequest(LEVEL_CCCD, b"\x01\x00"))
    gatt.remove_service(handles.service)
    gatt.add_service(BATTERY)  # the same handles again
    assert gatt.subscribers(LEVEL, indicate=False, link=None) == ()


SIGNABLE = Service(
    0xAAAA,
    (
        Characteristic(
            0xBBBB,
            Properties.READ | Properties.AUTHENTICATED_SIGNED_WRITES,
            value=b"old",
            permissions=Permissions(
                readable=True, writable=True, write_security=AccessSecurity(encryption=True)
            ),
        ),
    ),
)
SIGNED_VALUE = 0x0012


def test_a_signed_write_from_the_bond_is_written_once() -> None:
    gatt = server(SIGNABLE)
    up(gatt)
    bonded(gatt)
    pdu = sign_write(CSRK, 1, WriteCommand(SIGNED_VALUE, b"new"))
    [state] = stored(ask(gatt, pdu))
    assert state.sign_counter == 1
    assert answer(gatt, ReadRequest(SIGNED_VALUE)) == ReadResponse(b"new")
    # Replayed, or with a bad MAC: ignored.
    replay = sign_write(CSRK, 1, WriteCommand(SIGNED_VALUE, b"again"))
    assert ask(gatt, replay) == []
    forged = sign_write(bytes(16), 2, WriteCommand(SIGNED_VALUE, b"forged"))
    assert ask(gatt, forged) == []
    assert answer(gatt, ReadRequest(SIGNED_VALUE)) == ReadResponse(b"new")


def test_a_signed_write_on_an_encrypted_link_is_a_write_command() -> None:
    gatt = server(SIGNABLE)
    up(gatt, LinkSecurity(encrypted=True, authenticated=False, key_size=16))
    pdu = sign_write(bytes(16), 1, WriteCommand(SIGNED_VALUE, b"plain"))
    assert ask(gatt, pdu) == []
    assert answer(gatt, ReadRequest(SIGNED_VALUE)) == ReadResponse(b"plain")


async def _serve(context: ReadContext) -> bytes:
    return b""


async def _take(context: WriteContext, value: bytes) -> None:
    return None


def test_a_command_ending_meanwhile_leaves_the_waiting_request_its_bearer() -> None:
    """A command may come while a request waits for the application (Vol 3 Part F 3.3.2);
    when the command's own ask ends, the request still holds its bearer (the old server
    freed it: the server fuzz test found it)."""
    served = Characteristic(0xCCCC, Properties.READ | Properties.WRITE, on_read=_serve,
                            on_write=_take)  # fmt: skip
    gatt = server(Service(0xAAAA, (served,)))
    up(gatt)
    [read] = ask(gatt, ReadRequest(SIGNED_VALUE))
    [write] = ask(gatt, WriteCommand(SIGNED_VALUE, b"x"))
    assert isinstance(read, Emit) and isinstance(write, Emit)
    assert isinstance(write.message, GattServerWriteInd)
    assert gatt.on_application_timeout(write.message.request_id) == []
    assert ask(gatt, ReadRequest(0x0003)) == []  # the bearer still waits for the read
    assert isinstance(read.message, GattServerReadInd)
    [response] = gatt.on_application_answer(GattServerReadRsp(read.message.request_id, b"v"))
    assert isinstance(response, SendPdu) and response.pdu == ReadResponse(b"v")
