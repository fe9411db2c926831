"""Per-client state of the GATT server (Core 5.4 Vol 3 Part G 2.5.2.1, 3.3.3.3, 7.1, 7.2):
the robust caching table as a table, and the state of connected and bonded clients."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bluetrio.actors.effects import Emit
from bluetrio.actors.gatt.client_state import (
    TRANSITIONS,
    VERDICTS,
    Awareness,
    CachingEvent,
    CachingGate,
    ClientFeature,
    ClientStates,
    FeatureWriteRefused,
    IndicateServiceChanged,
    Verdict,
    caching_event,
    robust_caching,
)
from bluetrio.address import Address, AddressType
from bluetrio.bonds import Bond, KeyDistribution, Transport
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.att import (
    AttPdu,
    ErrorResponse,
    ExchangeMtuRequest,
    ExecuteWriteRequest,
    HandleValueConfirmation,
    ReadByTypeRequest,
    ReadMultipleRequest,
    ReadRequest,
    SignedWriteCommand,
    WriteCommand,
)
from bluetrio.messages.gatt_state import GattBondedPeer, GattBondState, GattBondStateStoreReq
from bluetrio.messages.uuids import uuid16

A, U = Awareness.CHANGE_AWARE, Awareness.CHANGE_UNAWARE
TOLD, READ = Awareness.UNAWARE_TOLD_OUT_OF_SYNC, Awareness.UNAWARE_READ_HASH
E = CachingEvent
P, OOS, IGN = Verdict.PROCESS, Verdict.OUT_OF_SYNC, Verdict.IGNORE

# The whole of 2.5.2.1 as (state, event) -> (next state, what becomes of the PDU); the
# verdict of the two events that are not PDUs is never asked for (None).
EXPECTED = {
    (A, E.DATABASE_CHANGED): (U, None),
    (A, E.REQUEST): (A, P),
    (A, E.REQUEST_OF_SEVERAL_BEARERS): (A, P),
    (A, E.HASH_READ_BY_TYPE): (A, P),
    (A, E.COMMAND): (A, P),
    (A, E.SERVICE_CHANGED_CONFIRMED): (A, None),
    (U, E.DATABASE_CHANGED): (U, None),
    (U, E.REQUEST): (TOLD, OOS),
    (U, E.REQUEST_OF_SEVERAL_BEARERS): (TOLD, OOS),
    (U, E.HASH_READ_BY_TYPE): (READ, P),
    (U, E.COMMAND): (U, IGN),
    (U, E.SERVICE_CHANGED_CONFIRMED): (A, None),
    (TOLD, E.DATABASE_CHANGED): (U, None),
    (TOLD, E.REQUEST): (A, P),
    (TOLD, E.REQUEST_OF_SEVERAL_BEARERS): (TOLD, OOS),
    (TOLD, E.HASH_READ_BY_TYPE): (A, P),
    (TOLD, E.COMMAND): (TOLD, IGN),
    (TOLD, E.SERVICE_CHANGED_CONFIRMED): (A, None),
    (READ, E.DATABASE_CHANGED): (U, None),
    (READ, E.REQUEST): (A, P),
    (READ, E.REQUEST_OF_SEVERAL_BEARERS): (A, P),
    (READ, E.HASH_READ_BY_TYPE): (A, P),
    (READ, E.COMMAND): (READ, IGN),
    (READ, E.SERVICE_CHANGED_CONFIRMED): (A, None),
}
PDU_EVENTS = (E.REQUEST, E.REQUEST_OF_SEVERAL_BEARERS, E.HASH_READ_BY_TYPE, E.COMMAND)


def test_every_state_and_event_is_in_the_table() -> None:
    assert set(TRANSITIONS) == {(s, e) for s in Awareness for e in CachingEvent}


@pytest.mark.parametrize(("state", "event"), sorted(EXPECTED, key=str))
def test_the_table_row(state: Awareness, event: CachingEvent) -> None:
    next_state, verdict = EXPECTED[state, event]
    assert TRANSITIONS[state, event] is next_state
    if event in PDU_EVENTS:
        assert VERDICTS[state, event] is verdict


PEER = Address.parse("C0:11:22:33:44:55", AddressType.RANDOM)
OTHER = Address.parse("00:AA:BB:CC:DD:EE", AddressType.PUBLIC)
HASH_1, HASH_2 = bytes(range(16)), bytes(range(1, 17))
LINK = 0x0040
SC_CCCD = 0x0009  # the Service Changed CCCD of these tests
CCCD = 0x0012


def states() -> ClientStates:
    clients = ClientStates()
    clients.service_changed_cccd = SC_CCCD
    clients.database_hash = HASH_1
    return clients


def stored(outputs: list[object]) -> list[GattBondState]:
    return [
        o.message.state
        for o in outputs
        if isinstance(o, Emit) and isinstance(o.message, GattBondStateStoreReq)
    ]


def connected(clients: ClientStates, handle: int = LINK, peer: Address = PEER) -> None:
    clients.on_link_up(handle, peer, peer)


def test_a_new_client_is_change_aware_and_processed() -> None:
    clients = states()
    connected(clients)
    assert clients.awareness(LINK) is A
    assert clients.on_pdu(LINK, E.REQUEST) == (P, [])


def test_robust_caching_applies_only_to_a_client_that_enabled_it() -> None:
    clients = states()
    connected(clients)
    clients.on_database_changed(0x0020, 0x0030, HASH_2)
    assert clients.awareness(LINK) is U
    assert clients.on_pdu(LINK, E.REQUEST)[0] is P
    assert clients.on_pdu(LINK, E.COMMAND)[0] is P
    assert clients.awareness(LINK) is U  # unchanged: only its own PDUs were processed


def test_a_change_unaware_client_is_told_out_of_sync_once() -> None:
    clients = states()
    connected(clients)
    clients.write_client_features(LINK, bytes([ClientFeature.ROBUST_CACHING]))
    clients.on_database_changed(0x0020, 0x0030, HASH_2)
    assert clients.on_pdu(LINK, E.COMMAND)[0] is IGN
    assert clients.on_pdu(LINK, E.REQUEST)[0] is OOS
    assert clients.on_pdu(LINK, E.REQUEST)[0] is P
    assert clients.awareness(LINK) is A


def test_reading_the_hash_by_type_is_answered_and_the_next_request_makes_it_aware() -> None:
    clients = states()
    connected(clients)
    clients.write_client_features(LINK, b"\x01")
    clients.on_database_changed(0x0020, 0x0030, HASH_2)
    assert clients.on_pdu(LINK, E.HASH_READ_BY_TYPE)[0] is P
    assert clients.awareness(LINK) is READ
    assert clients.on_pdu(LINK, E.REQUEST_OF_SEVERAL_BEARERS)[0] is P
    assert clients.awareness(LINK) is A


def test_client_features_bits_are_set_never_cleared() -> None:
    clients = states()
    connected(clients)
    clients.write_client_features(LINK, b"\x01")
    clients.write_client_features(LINK, b"\x05")
    assert clients.client_features(LINK) == 0x05
    with pytest.raises(FeatureWriteRefused):
        clients.write_client_features(LINK, b"\x04")
    assert clients.client_features(LINK) == 0x05
    clients.write_client_features(LINK, b"\xff\x01")  # reserved bits are not kept
    assert clients.client_features(LINK) == 0x07


def test_cccds_are_per_client() -> None:
    clients = states()
    connected(clients)
    connected(clients, 0x0041, OTHER)
    clients.write_cccd(LINK, CCCD, 0x0001)
    clients.write_cccd(0x0041, CCCD, 0x0002)
    assert clients.cccd(LINK, CCCD) == 1
    assert clients.subscribers(CCCD, indicate=False) == (LINK,)
    assert clients.subscribers(CCCD, indicate=True) == (0x0041,)
    clients.write_cccd(LINK, CCCD, 0)
    assert clients.subscribers(CCCD, indicate=False) == ()


def test_service_changed_is_indicated_to_a_connected_client_that_enabled_it() -> None:
    clients = states()
    connected(clients)
    connected(clients, 0x0041, OTHER)
    clients.write_cccd(LINK, SC_CCCD, 0x0002)
    outputs = clients.on_database_changed(0x0020, 0x0030, HASH_2)
    assert outputs == [IndicateServiceChanged(LINK, 0x0020, 0x0030)]


def test_changes_while_an_indication_waits_are_merged_into_the_next() -> None:
    clients = states()
    connected(clients)
    clients.write_cccd(LINK, SC_CCCD, 0x0002)
    clients.write_client_features(LINK, b"\x01")
    clients.on_database_changed(0x0020, 0x0030, HASH_2)
    assert clients.on_database_changed(0x0040, 0x0050, HASH_1) == []
    assert clients.on_database_changed(0x0010, 0x0018, HASH_2) == []
    again = clients.on_service_changed_confirmed(LINK)
    assert again == [IndicateServiceChanged(LINK, 0x0010, 0x0050)]
    assert clients.awareness(LINK) is U  # the second one is not confirmed yet
    assert clients.on_service_changed_confirmed(LINK) == []
    assert clients.awareness(LINK) is A


def test_enabling_service_changed_with_a_change_pending_indicates_it() -> None:
    clients = states()
    connected(clients)
    clients.on_database_changed(0x0020, 0x0030, HASH_2)
    assert clients.write_cccd(LINK, SC_CCCD, 0x0002) == [
        IndicateServiceChanged(LINK, 0x0020, 0x0030)
    ]


def test_a_database_change_clears_the_cccds_in_its_range() -> None:
    clients = states()
    connected(clients)
    clients.write_cccd(LINK, CCCD, 0x0001)
    clients.write_cccd(LINK, 0x0031, 0x0001)
    clients.on_database_changed(0x0010, 0x0020, HASH_2)
    assert clients.cccd(LINK, CCCD) == 0
    assert clients.cccd(LINK, 0x0031) == 1


def bond(peer: Address = PEER, csrk: bytes | None = None) -> Bond:
    return Bond(
        Address.parse("00:11:22:33:44:55", AddressType.PUBLIC),
        peer,
        Transport.LE,
        peer_keys=KeyDistribution(csrk=csrk),
    )


def test_an_unbonded_client_keeps_nothing_and_stores_nothing() -> None:
    clients = states()
    connected(clients)
    assert clients.write_cccd(LINK, CCCD, 0x0001) == []
    clients.on_link_down(LINK)
    connected(clients)
    assert clients.cccd(LINK, CCCD) == 0


def test_a_bond_made_on_the_link_keeps_what_the_client_wrote() -> None:
    clients = states()
    connected(clients)
    clients.write_cccd(LINK, CCCD, 0x0001)
    [state] = stored(clients.on_bond(bond()))
    assert state == GattBondState(cccds=((CCCD, 1),), database_hash=HASH_1)
    [state] = stored(clients.write_client_features(LINK, b"\x01"))
    assert state.client_features == 1


def reconnect(clients: ClientStates, with_bond: bool = True) -> list[object]:
    connected(clients)
    return list(clients.on_link_encrypted(LINK, PEER, with_bond))


def test_a_bonded_client_gets_its_cccds_back_once_encrypted_with_the_bond() -> None:
    clients = states()
    connected(clients)
    clients.on_bond(bond())
    clients.write_cccd(LINK, CCCD, 0x0001)
    clients.on_link_down(LINK)
    connected(clients)
    assert clients.cccd(LINK, CCCD) == 0  # not yet: not encrypted with the bond
    clients.on_link_encrypted(LINK, PEER, with_bond=False)
    assert clients.cccd(LINK, CCCD) == 0
    clients.on_link_encrypted(LINK, PEER, with_bond=True)
    assert clients.cccd(LINK, CCCD) == 1
    assert clients.subscribers(CCCD, indicate=False) == (LINK,)


def test_a_bonded_client_away_during_a_change_hears_of_it_when_back() -> None:
    clients = states()
    connected(clients)
    clients.on_bond(bond())
    clients.write_cccd(LINK, SC_CCCD, 0x0002)
    clients.write_client_features(LINK, b"\x01")
    clients.on_link_down(LINK)
    assert clients.on_database_changed(0x0020, 0x0030, HASH_2) == []
    assert clients.on_database_changed(0x0040, 0x0048, HASH_1 + b"") == []
    clients.database_hash = HASH_2
    outputs = reconnect(clients)
    assert IndicateServiceChanged(LINK, 0x0020, 0x0048) in outputs
    assert clients.awareness(LINK) is U
    assert clients.on_pdu(LINK, E.REQUEST)[0] is OOS
    # Unconfirmed, its state as stored still names the range.
    [state] = stored(clients.on_link_down(LINK))
    assert state.service_changed == (0x0020, 0x0048)
    assert not state.change_aware


def test_a_database_changed_and_changed_back_is_no_change() -> None:
    clients = states()
    connected(clients)
    clients.on_bond(bond())
    clients.write_cccd(LINK, SC_CCCD, 0x0002)
    clients.on_link_down(LINK)
    clients.on_database_changed(0x0020, 0x0030, HASH_2)
    clients.on_database_changed(0x0020, 0x0030, HASH_1)
    assert reconnect(clients)[:-1] == []
    assert clients.awareness(LINK) is A


def test_a_confirmed_indication_after_reconnection_is_stored_as_aware() -> None:
    clients = states()
    connected(clients)
    clients.on_bond(bond())
    clients.write_cccd(LINK, SC_CCCD, 0x0002)
    clients.on_link_down(LINK)
    clients.on_database_changed(0x0020, 0x0030, HASH_2)
    reconnect(clients)
    [state] = stored(clients.on_service_changed_confirmed(LINK))
    assert state.change_aware and state.service_changed is None
    assert state.database_hash == HASH_2


def loaded(state: GattBondState, current_hash: bytes = HASH_1) -> ClientStates:
    clients = states()
    clients.database_hash = current_hash
    clients.load([GattBondedPeer(PEER, bytes(16), state)])
    return clients


def test_a_stored_state_is_restored_on_the_same_database() -> None:
    clients = loaded(GattBondState(cccds=((CCCD, 1),), client_features=1, database_hash=HASH_1))
    reconnect(clients)
    assert clients.cccd(LINK, CCCD) == 1
    assert clients.client_features(LINK) == 1
    assert clients.awareness(LINK) is A


def test_a_stored_state_of_another_database_is_change_unaware_for_every_handle() -> None:
    state = GattBondState(cccds=((SC_CCCD, 2), (CCCD, 1)), database_hash=HASH_2)
    clients = loaded(state)
    outputs = reconnect(clients)
    assert clients.awareness(LINK) is U
    assert clients.cccd(LINK, CCCD) == 0
    assert IndicateServiceChanged(LINK, 0x0001, 0xFFFF) not in outputs  # its CCCD is gone too
    [stored_now] = stored(outputs)
    assert stored_now.service_changed == (0x0001, 0xFFFF)
    assert stored_now.database_hash == HASH_1


def test_a_bond_is_found_by_the_address_it_bonded_over() -> None:
    clients = states()
    identity = OTHER
    clients.load([GattBondedPeer(identity, bytes(16), GattBondState(), link_address=PEER)])
    connected(clients)  # the peer connects on its static address, not its identity
    assert clients.bonded_peer(LINK) is not None
    clients.on_link_encrypted(LINK, PEER, with_bond=True)
    [state] = stored(clients.write_cccd(LINK, CCCD, 1))
    assert state.cccds == ((CCCD, 1),)


def test_the_sign_counter_is_kept_with_the_bond() -> None:
    clients = loaded(GattBondState(sign_counter=5, database_hash=HASH_1))
    connected(clients)
    record = clients.bonded_peer(LINK)
    assert record is not None and record.sign_counter == 5
    [state] = stored(clients.accept_sign_counter(LINK, 9))
    assert state.sign_counter == 9
    assert clients.on_bond(bond(OTHER)) and clients.bonded_peer(LINK) is record


def test_a_br_edr_bond_is_no_gatt_client() -> None:
    clients = states()
    edr = Bond(Address.parse("00:11:22:33:44:55"), OTHER, Transport.BR_EDR)
    assert clients.on_bond(edr) == []
    assert clients.bonds == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"cccds": ((0x0012, 0),)},  # a zero value is no subscription: not kept
        {"cccds": ((0x0012, 1), (0x0010, 1))},  # out of order
        {"cccds": ((0x0012, 1), (0x0012, 2))},  # twice
        {"cccds": ((0, 1),)},
        {"cccds": [(0x0012, 1)]},
        {"cccds": ((0x0012,),)},
        {"client_features": 0x08},
        {"client_features": True},
        {"service_changed": (0x0030, 0x0020)},
        {"service_changed": (0x0000, 0x0020)},
        {"database_hash": bytes(15)},
        {"sign_counter": 1 << 32},
        {"sign_counter": -1},
    ],
)
def test_a_bond_state_refuses_what_no_server_would_keep(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError):
        GattBondState(**fields)


@pytest.mark.parametrize(
    ("pdu", "bearers", "event"),
    [
        (ReadRequest(0x0003), 1, E.REQUEST),
        (ReadRequest(0x0003), 2, E.REQUEST_OF_SEVERAL_BEARERS),
        (ReadByTypeRequest(0x0001, 0xFFFF, uuid16(0x2B2A)), 1, E.HASH_READ_BY_TYPE),
        (ReadByTypeRequest(0x0001, 0xFFFF, uuid16(0x2A00)), 1, E.REQUEST),
        (WriteCommand(0x0003, b""), 1, E.COMMAND),
        (SignedWriteCommand(0x0003, b"", 1, bytes(8)), 1, E.COMMAND),
        (ExchangeMtuRequest(247), 1, None),
        (HandleValueConfirmation(), 1, None),
    ],
)
def test_what_each_pdu_is_to_robust_caching(
    pdu: object, bearers: int, event: CachingEvent | None
) -> None:
    assert caching_event(pdu, bearers) is event


# -- any sequence of what clients and the database do -----------------------------------------

_LINKS = (0x0040, 0x0041)
_operations = st.one_of(
    st.tuples(st.just("up"), st.sampled_from(_LINKS), st.booleans()),
    st.tuples(st.just("down"), st.sampled_from(_LINKS)),
    st.tuples(st.just("encrypted"), st.sampled_from(_LINKS), st.booleans()),
    st.tuples(st.just("bond"), st.sampled_from(_LINKS)),
    st.tuples(
        st.just("cccd"),
        st.sampled_from(_LINKS),
        st.sampled_from((SC_CCCD, CCCD, 0x0031)),
        st.integers(0, 0xFFFF),
    ),
    st.tuples(st.just("features"), st.sampled_from(_LINKS), st.binary(max_size=3)),
    st.tuples(st.just("pdu"), st.sampled_from(_LINKS), st.sampled_from(list(CachingEvent))),
    st.tuples(st.just("changed"), st.integers(1, 0x40), st.integers(0, 0x40)),
    st.tuples(st.just("confirmed"), st.sampled_from(_LINKS)),
    st.tuples(st.just("failed"), st.sampled_from(_LINKS)),
)


@given(st.lists(_operations, max_size=40))
def test_any_sequence_keeps_the_state_consistent(operations: list[tuple[object, ...]]) -> None:
    clients = states()
    peers = {0x0040: PEER, 0x0041: OTHER}
    outputs: list[object] = []
    for operation in operations:
        name, *args = operation
        handle = args[0]
        if name == "up":
            clients.on_link_down(handle)
            clients.on_link_up(handle, peers[handle], peers[handle])
        elif name == "down":
            outputs += clients.on_link_down(handle)
        elif name == "encrypted":
            outputs += clients.on_link_encrypted(handle, peers[handle], args[1])
        elif name == "bond":
            outputs += clients.on_bond(bond(peers[handle]))
        elif name == "cccd":
            outputs += clients.write_cccd(handle, args[1], args[2])
        elif name == "features":
            with contextlib.suppress(FeatureWriteRefused):
                outputs += clients.write_client_features(handle, args[1])
        elif name == "pdu":
            _verdict, stored_now = clients.on_pdu(handle, args[1])
            outputs += stored_now
        elif name == "changed":
            start = args[0]
            end = start + args[1]
            outputs += clients.on_database_changed(start, end, bytes([end % 256]) * 16)
        elif name == "confirmed":
            outputs += clients.on_service_changed_confirmed(handle)
        else:
            clients.on_service_changed_failed(handle)
    # Every indication names a link that is up or was; every state stored is one a server
    # may keep (GattBondState checks itself); subscribers are links that are up.
    for output in outputs:
        assert isinstance(output, Emit | IndicateServiceChanged)
        if isinstance(output, IndicateServiceChanged):
            assert output.start <= output.end
    for descriptor in (SC_CCCD, CCCD, 0x0031):
        for indicate in (False, True):
            assert set(clients.subscribers(descriptor, indicate)) <= set(clients.links)
    for link in clients.links.values():
        assert all(value for value in link.state.cccds.values())
        assert link.state.features & ~0x07 == 0


def unaware_client() -> ClientStates:
    clients = states()
    connected(clients)
    clients.write_client_features(LINK, b"\x01")
    clients.on_database_changed(0x0020, 0x0030, HASH_2)
    return clients


@pytest.mark.parametrize(
    ("pdu", "handle_in_error"),
    [
        (ReadRequest(0x0003), 0x0003),
        (ReadByTypeRequest(0x0010, 0xFFFF, uuid16(0x2A00)), 0x0010),
        (ReadMultipleRequest((0x0005, 0x0007)), 0x0005),
        (ExecuteWriteRequest(True), 0x0000),
    ],
)
def test_a_change_unaware_request_is_answered_out_of_sync(
    pdu: AttPdu, handle_in_error: int
) -> None:
    gate = robust_caching(unaware_client(), LINK, pdu, bearers=1)
    assert not gate.process
    assert gate.answer == ErrorResponse(pdu.opcode, handle_in_error, 0x12)


def test_the_gate_lets_the_hash_read_through_and_ignores_commands() -> None:
    clients = unaware_client()
    hash_read = ReadByTypeRequest(0x0001, 0xFFFF, uuid16(0x2B2A))
    assert robust_caching(clients, LINK, hash_read, 1) == CachingGate(True)
    assert robust_caching(clients, LINK, WriteCommand(3, b""), 1) == CachingGate(False)
    assert robust_caching(clients, LINK, ExchangeMtuRequest(100), 1) == CachingGate(True)
    assert robust_caching(clients, LINK, ReadRequest(3), 1).process
    assert clients.awareness(LINK) is A


def test_a_refused_features_write_is_told_before_it_is_made() -> None:
    clients = states()
    connected(clients)
    clients.write_client_features(LINK, b"\x03")
    assert clients.features_refused(LINK, b"\x01")
    assert not clients.features_refused(LINK, b"\x07")
    assert not clients.features_refused(0x0099, b"\x00")  # no such link
