"""The sans-IO HCI core: command flow control, timeouts, ACL credits, reassembly."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bluetrio.actors.effects import CancelTimer, Emit, Send, StartTimer, TimerExpired
from bluetrio.actors.hci.acl import AclReassembler
from bluetrio.actors.hci.core import (
    CREDIT_RECOVERY_TIMER,
    ConfigureFraming,
    HciCore,
    TransportWrite,
)
from bluetrio.address import Address, AddressType
from bluetrio.messages import hci
from bluetrio.messages.hci_service import (
    AclDataCnf,
    AclDataInd,
    AclDataReq,
    AclLinkClosedInd,
    AclLinkOpenedInd,
    ControllerErrorInd,
    HciCommandCnf,
    HciCommandReq,
    HciEventInd,
    LinkTransport,
    TransportPacketInd,
)
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import FramingLimits

PEER = Address.parse("11:22:33:44:55:66")


def event_packet(event: object) -> TransportPacketInd:
    return TransportPacketInd(PacketType.EVENT, event.to_bytes())  # type: ignore[attr-defined]


def complete(opcode: int, returns: bytes = b"\x00", credits: int = 1) -> TransportPacketInd:
    return event_packet(hci.CommandComplete(credits, opcode, returns))


def writes(effects: list[object]) -> list[TransportWrite]:
    return [e for e in effects if isinstance(e, TransportWrite)]


def emitted(effects: list[object]) -> list[object]:
    """What hci emits: routed by the topology (events to their owner, ACL data and its link
    signals to the layer that handles ACL data)."""
    return [e.message for e in effects if isinstance(e, Emit)]


def sends(effects: list[object]) -> list[Send]:
    return [e for e in effects if isinstance(e, Send)]


def configured_core() -> HciCore:
    core = HciCore()
    core.handle("btm", HciCommandReq(1, hci.ReadBufferSize()), 0.0)
    returns = hci.ReadBufferSizeReturn(0, 27, 64, 3, 0).to_bytes()
    core.handle("hci", complete(hci.ReadBufferSize.OPCODE, returns), 0.0)
    core.handle("btm", HciCommandReq(2, hci.LeReadBufferSize()), 0.0)
    returns = hci.LeReadBufferSizeReturn(0, 20, 2).to_bytes()
    core.handle("hci", complete(hci.LeReadBufferSize.OPCODE, returns), 0.0)
    return core


def connect(core: HciCore, handle: int, le: bool) -> list[object]:
    if le:
        event: object = hci.LeConnectionComplete(
            0, handle, 0, PEER.with_type(AddressType.RANDOM), 24, 0, 72, 0
        )
    else:
        event = hci.ConnectionComplete(0, handle, PEER, 1, 0)
    return core.handle("hci", event_packet(event), 0.0)


def test_commands_wait_for_credits_and_are_answered_by_opcode() -> None:
    core = HciCore()
    first = core.handle("btm", HciCommandReq(1, hci.Reset()), 0.0)
    assert [w.payload for w in writes(first)] == [bytes.fromhex("030c00")]
    assert any(isinstance(e, StartTimer) for e in first)
    second = core.handle("btm", HciCommandReq(2, hci.ReadBdAddr()), 0.0)
    assert writes(second) == []  # no credit until the Reset is answered
    answered = core.handle("hci", complete(hci.Reset.OPCODE), 0.1)
    cnf = [s for s in sends(answered) if isinstance(s.message, HciCommandCnf)]
    assert cnf[0].to == "btm" and cnf[0].message.token == 1
    assert any(isinstance(e, CancelTimer) for e in answered)
    assert [hci.parse_command(w.payload) for w in writes(answered)] == [hci.ReadBdAddr()]


def test_command_status_answers_the_pending_command() -> None:
    core = HciCore()
    command = hci.CreateConnection(PEER, 0xCC18, 1, 0, 0, 1)
    core.handle("btm", HciCommandReq(5, command), 0.0)
    status = hci.CommandStatus(0, 1, hci.CreateConnection.OPCODE)
    effects = core.handle("hci", event_packet(status), 0.0)
    (reply,) = [s.message for s in sends(effects)]
    assert isinstance(reply, HciCommandCnf) and reply.event == status


def test_timeout_answers_with_an_error_and_lets_the_next_command_go() -> None:
    core = HciCore(command_timeout=2.0)
    effects = core.handle("btm", HciCommandReq(1, hci.ReadLocalName()), 0.0)
    (timer,) = [e for e in effects if isinstance(e, StartTimer)]
    assert timer.deadline == 2.0
    core.handle("btm", HciCommandReq(2, hci.ReadBdAddr()), 0.5)
    effects = core.handle("hci", TimerExpired(timer.key), 2.0)
    (reply,) = [s.message for s in sends(effects)]
    assert isinstance(reply, HciCommandCnf)
    assert reply.timed_out and reply.event is None and "did not answer" in (reply.error or "")
    assert [hci.parse_command(w.payload) for w in writes(effects)] == [hci.ReadBdAddr()]


def test_completion_for_a_command_never_sent_is_ignored() -> None:
    core = HciCore()
    effects = core.handle("hci", complete(hci.ReadBdAddr.OPCODE, bytes(7)), 0.0)
    assert sends(effects) == [] and core.ignored_completions == 1
    # Its credits still count (Vol 4 Part E 4.4).
    assert writes(core.handle("btm", HciCommandReq(1, hci.Reset()), 0.0))


def test_acl_is_fragmented_to_the_controller_size_and_waits_for_credits() -> None:
    core = configured_core()
    connect(core, 0x0001, le=False)
    pdu = bytes(range(60))  # 60 bytes with BR/EDR packets of 27 bytes: 3 fragments
    effects = core.handle("l2cap", AclDataReq(0x0001, (pdu, pdu)), 0.0)
    packets = [w.payload for w in writes(effects)]
    assert len(packets) == 3  # only three BR/EDR credits
    headers = [struct.unpack_from("<HH", p) for p in packets]
    assert [(h >> 12, n) for h, n in headers] == [(0b10, 27), (0b01, 27), (0b01, 6)]
    assert b"".join(p[4:] for p in packets) == pdu
    nocp = hci.NumberOfCompletedPackets(((0x0001, 3),))
    effects = core.handle("hci", event_packet(nocp), 0.0)
    assert [s.message for s in sends(effects)] == [AclDataCnf(0x0001, 1)]
    assert len(writes(effects)) == 3  # the second PDU goes out with the freed credits


def test_le_and_bredr_pools_are_separate_and_served_round_robin() -> None:
    core = configured_core()
    connect(core, 0x0001, le=False)
    connect(core, 0x0040, le=True)
    connect(core, 0x0041, le=True)
    small = b"\x01\x00\x04\x00\xff"
    core.handle("l2cap", AclDataReq(0x0040, (small,) * 3), 0.0)
    effects = core.handle("l2cap", AclDataReq(0x0041, (small,) * 3), 0.0)
    # The LE pool has 2 credits: 0x0040 took both before 0x0041 asked.
    assert writes(effects) == []
    effects = core.handle("l2cap", AclDataReq(0x0001, (small,)), 0.0)
    assert len(writes(effects)) == 1  # BR/EDR credits are not LE credits
    effects = core.handle("hci", event_packet(hci.NumberOfCompletedPackets(((0x0040, 2),))), 0)
    handles = [struct.unpack_from("<H", w.payload)[0] & 0x0FFF for w in writes(effects)]
    assert handles == [0x0040, 0x0041]  # round robin across the LE links


def test_disconnection_returns_credits_of_packets_in_flight() -> None:
    core = configured_core()
    connect(core, 0x0040, le=True)
    core.handle("l2cap", AclDataReq(0x0040, (b"\x01\x00\x04\x00\xff",) * 2), 0.0)
    assert core.acl.le.free == 0
    core.handle("hci", event_packet(hci.DisconnectionComplete(0, 0x0040, 0x13)), 0.0)
    assert core.acl.le.free == 2


def test_data_for_an_unknown_link_is_refused_not_queued_forever() -> None:
    core = configured_core()
    effects = core.handle("l2cap", AclDataReq(0x0123, (b"abcd",)), 0.0)
    assert [s.message for s in sends(effects)] == [AclDataCnf(0x0123, 0)]


def acl(handle: int, boundary: int, data: bytes) -> TransportPacketInd:
    header = struct.pack("<HH", handle | boundary << 12, len(data))
    return TransportPacketInd(PacketType.ACL, header + data)


def test_reassembly_of_fragments_into_one_pdu() -> None:
    core = HciCore()
    connect(core, 0x0040, le=True)
    pdu = struct.pack("<HH", 8, 0x0004) + b"12345678"
    assert core.handle("hci", acl(0x0040, 0b10, pdu[:5]), 0.0) == []
    effects = core.handle("hci", acl(0x0040, 0b01, pdu[5:]), 0.0)
    assert emitted(effects) == [AclDataInd(0x0040, (pdu,))]


def test_bluefrag_continuations_are_dropped() -> None:
    core = HciCore()
    connect(core, 0x0040, le=True)
    assert core.handle("hci", acl(0x0040, 0b01, b"orphan"), 0.0) == []
    pdu = struct.pack("<HH", 4, 0x0004) + b"ab"
    core.handle("hci", acl(0x0040, 0b10, pdu), 0.0)
    # Announced 8 bytes in all; 6 arrived; the continuation brings 10 more: overrun.
    assert core.handle("hci", acl(0x0040, 0b01, b"x" * 10), 0.0) == []
    assert any("overrun" in p for p in core.reassembler.problems)
    assert any("without a start" in p for p in core.reassembler.problems)
    # The link is usable again afterwards.
    whole = struct.pack("<HH", 1, 0x0004) + b"z"
    effects = core.handle("hci", acl(0x0040, 0b10, whole), 0.0)
    assert emitted(effects) == [AclDataInd(0x0040, (whole,))]


def test_link_opened_reaches_the_acl_owner_before_its_first_pdu() -> None:
    # A Connection Complete followed at once by ACL data: the owner of ACL data hears of the
    # link from hci itself, ahead of the data, in one effect list (btm's LinkUpInd takes
    # longer and may come after the data).
    core = configured_core()
    pdu = struct.pack("<HH", 1, 0x0004) + b"z"
    effects = connect(core, 0x0040, le=True) + core.handle("hci", acl(0x0040, 0b10, pdu), 0.0)
    effects += connect(core, 0x0001, le=False)
    to_owner = [m for m in emitted(effects) if not isinstance(m, HciEventInd)]
    assert to_owner == [
        AclLinkOpenedInd(0x0040, LinkTransport.LE, 1),
        AclDataInd(0x0040, (pdu,)),
        AclLinkOpenedInd(0x0001, LinkTransport.BR_EDR, 2),
    ]


def test_no_pdu_reaches_the_owner_after_the_link_closed() -> None:
    core = configured_core()
    connect(core, 0x0040, le=True)
    first = struct.pack("<HH", 8, 0x0004) + b"12345678"
    core.handle("hci", acl(0x0040, 0b10, first[:6]), 0.0)  # a PDU half reassembled
    effects = core.handle("hci", event_packet(hci.DisconnectionComplete(0, 0x0040, 0x13)), 0.0)
    effects += core.handle("hci", acl(0x0040, 0b01, first[6:]), 0.0)
    effects += core.handle("hci", acl(0x0040, 0b10, struct.pack("<HH", 1, 0x0004) + b"z"), 0.0)
    to_owner = [m for m in emitted(effects) if not isinstance(m, HciEventInd)]
    assert to_owner == [AclLinkClosedInd(0x0040, 0x13)]
    assert core.unknown_handle_packets == 2


def test_data_for_a_handle_never_opened_is_dropped_and_counted() -> None:
    core = configured_core()
    effects = core.handle("hci", acl(0x0050, 0b10, struct.pack("<HH", 1, 0x0004) + b"z"), 0.0)
    assert effects == [] and core.unknown_handle_packets == 1


def test_reset_closes_every_link_for_the_acl_owner() -> None:
    core = configured_core()
    connect(core, 0x0040, le=True)
    connect(core, 0x0001, le=False)
    effects = core.handle("btm", HciCommandReq(9, hci.Reset()), 0.0)
    to_owner = [m for m in emitted(effects) if not isinstance(m, HciEventInd)]
    assert to_owner == [AclLinkClosedInd(0x0040, 0x16), AclLinkClosedInd(0x0001, 0x16)]
    assert not core.acl.has_link(0x0040) and not core.acl.has_link(0x0001)


def test_a_reused_live_handle_closes_the_old_link_first() -> None:
    core = configured_core()
    connect(core, 0x0040, le=True)
    effects = connect(core, 0x0040, le=False)
    to_owner = [m for m in emitted(effects) if not isinstance(m, HciEventInd)]
    assert to_owner == [
        AclLinkClosedInd(0x0040, 0x0B),
        AclLinkOpenedInd(0x0040, LinkTransport.BR_EDR, 2),  # a new number for the new link
    ]


def test_truncated_packets_are_dropped_and_counted() -> None:
    core = HciCore()
    assert core.handle("hci", TransportPacketInd(PacketType.ACL, b"\x40\x00\x09"), 0.0) == []
    assert core.handle("hci", TransportPacketInd(PacketType.EVENT, b"\x0e\x09\x01"), 0.0) == []
    assert core.malformed_packets == 2


def test_hardware_error_resets_and_tells_the_upper_layers() -> None:
    core = HciCore()
    effects = core.handle("hci", event_packet(hci.HardwareError(0x42)), 0.0)
    messages = emitted(effects)
    assert ControllerErrorInd(0x42, "hardware error 0x42") in messages
    assert any(isinstance(m, HciEventInd) for m in messages)
    assert [hci.parse_command(w.payload) for w in writes(effects)] == [hci.Reset()]


def test_events_other_than_flow_control_go_up() -> None:
    core = HciCore()
    event = hci.EncryptionChange(0, 0x0040, 1)
    effects = core.handle("hci", event_packet(event), 0.0)
    assert emitted(effects) == [HciEventInd(event)] and sends(effects) == []


@given(
    st.lists(
        st.tuples(st.sampled_from([0b00, 0b01, 0b10, 0b11]), st.binary(max_size=40)),
        max_size=30,
    )
)
def test_reassembler_never_returns_a_pdu_that_disagrees_with_its_header(
    fragments: list[tuple[int, bytes]],
) -> None:
    reassembler = AclReassembler(max_pdu=128)
    for boundary, data in fragments:
        pdu = reassembler.feed(1, boundary, data)
        if pdu is not None:
            assert len(pdu) == int.from_bytes(pdu[:2], "little") + 4
            assert len(pdu) <= 128


# -- a misbehaving controller: short buffer-size completions, withheld command credits ----


def confirmations(effects: list[object]) -> list[HciCommandCnf]:
    return [s.message for s in sends(effects) if isinstance(s.message, HciCommandCnf)]


def timers(effects: list[object]) -> list[StartTimer]:
    return [e for e in effects if isinstance(e, StartTimer)]


@pytest.mark.parametrize(
    "command", [hci.ReadBufferSize(), hci.LeReadBufferSize(), hci.LeReadBufferSizeV2()]
)
def test_a_short_successful_buffer_size_completion_is_refused_not_fatal(command: object) -> None:
    core = HciCore()
    core.handle("btm", HciCommandReq(7, command), 0.0)
    opcode = command.OPCODE  # type: ignore[attr-defined]
    effects = core.handle("hci", complete(opcode, b"\x00\x1b"), 0.1)
    (reply,) = confirmations(effects)
    assert reply.token == 7 and reply.event is None and not reply.timed_out
    assert "malformed return parameters" in (reply.error or "")
    assert core.malformed_packets == 1
    assert core.acl.bredr.packet_length == 0 and core.acl.le.packet_length == 0
    # The stack goes on: the next command is sent.
    assert writes(core.handle("btm", HciCommandReq(8, hci.ReadBdAddr()), 0.2))


def test_a_failed_buffer_size_completion_is_passed_on_as_it_is() -> None:
    core = HciCore()
    core.handle("btm", HciCommandReq(1, hci.ReadBufferSize()), 0.0)
    (reply,) = confirmations(core.handle("hci", complete(hci.ReadBufferSize.OPCODE, b"\x01"), 0.1))
    assert isinstance(reply.event, hci.CommandComplete) and reply.event.status == 0x01


def test_the_command_timeout_runs_from_the_request_even_without_credits() -> None:
    core = HciCore(command_timeout=2.0)
    core.handle("btm", HciCommandReq(1, hci.Reset()), 0.0)
    # Answered, but with Num_HCI_Command_Packets = 0: no credit to send the next command.
    answered = core.handle("hci", complete(hci.Reset.OPCODE, credits=0), 0.1)
    assert [t.key for t in timers(answered)] == [CREDIT_RECOVERY_TIMER]
    asked = core.handle("btm", HciCommandReq(2, hci.ReadBdAddr(), timeout=0.5), 0.2)
    assert writes(asked) == []
    (deadline,) = timers(asked)
    assert deadline.deadline == pytest.approx(0.7)
    (reply,) = confirmations(core.handle("hci", TimerExpired(deadline.key), 0.7))
    assert reply.token == 2 and reply.timed_out and "command credit" in (reply.error or "")


def test_zero_credits_recover_after_a_command_timeout() -> None:
    core = HciCore(command_timeout=2.0)
    core.handle("btm", HciCommandReq(1, hci.Reset()), 0.0)
    core.handle("hci", complete(hci.Reset.OPCODE, credits=0), 0.1)
    core.handle("btm", HciCommandReq(2, hci.ReadBdAddr(), timeout=5.0), 0.2)
    recovered = core.handle("hci", TimerExpired(CREDIT_RECOVERY_TIMER), 2.1)
    assert [hci.parse_command(w.payload) for w in writes(recovered)] == [hci.ReadBdAddr()]
    (reply,) = confirmations(core.handle("hci", complete(hci.ReadBdAddr.OPCODE, bytes(7)), 2.2))
    assert reply.token == 2 and reply.event is not None


def test_a_credit_given_back_in_time_cancels_the_recovery() -> None:
    core = HciCore(command_timeout=2.0)
    core.handle("btm", HciCommandReq(1, hci.Reset()), 0.0)
    core.handle("hci", complete(hci.Reset.OPCODE, credits=0), 0.1)
    core.handle("btm", HciCommandReq(2, hci.ReadBdAddr()), 0.2)
    # A Command Complete with opcode 0 only returns credits (Vol 4 Part E 7.7.14).
    effects = core.handle("hci", complete(0x0000, b"", credits=1), 0.5)
    assert [hci.parse_command(w.payload) for w in writes(effects)] == [hci.ReadBdAddr()]
    assert core.handle("hci", TimerExpired(CREDIT_RECOVERY_TIMER), 2.1) == []


# -- ACL toward the host: only for live links, partial PDUs bounded in total ----------------


def test_acl_for_a_handle_with_no_link_is_dropped_and_counted() -> None:
    core = HciCore()
    start = struct.pack("<HH", 1000, 0x0004) + b"x" * 20  # the start of a 1,004-byte PDU
    for handle in range(0x100, 0x100 + 4096 // 16):
        assert core.handle("hci", acl(handle, 0b10, start), 0.0) == []
    assert core.unknown_handle_packets == 256
    assert core.reassembler.buffered == 0
    connect(core, 0x0040, le=True)
    whole = struct.pack("<HH", 1, 0x0004) + b"z"
    effects = core.handle("hci", acl(0x0040, 0b10, whole), 0.0)
    assert emitted(effects) == [AclDataInd(0x0040, (whole,))]
    # Once the link is gone its data is refused again.
    core.handle("hci", event_packet(hci.DisconnectionComplete(0, 0x0040, 0x13)), 0.0)
    assert core.handle("hci", acl(0x0040, 0b10, whole), 0.0) == []


def test_partial_pdus_of_all_links_together_are_bounded() -> None:
    reassembler = AclReassembler(max_buffered=100)
    start = struct.pack("<HH", 200, 0x0004) + b"x" * 36  # 40 of 204 bytes
    assert reassembler.feed(1, 0b10, start) is None
    assert reassembler.feed(2, 0b10, start) is None
    assert reassembler.buffered == 80
    # A third would pass the bound: that PDU is dropped, the others are kept.
    assert reassembler.feed(3, 0b10, start) is None
    assert reassembler.buffered == 80 and "exceed" in reassembler.problems[-1]
    # Handle 1 growing past the bound loses its PDU, which frees its bytes.
    assert reassembler.feed(1, 0b01, b"y" * 30) is None
    assert reassembler.buffered == 40
    assert reassembler.feed(2, 0b01, b"y" * 60) is None
    assert reassembler.buffered == 100
    reassembler.forget(2)
    assert reassembler.buffered == 0


@given(
    st.lists(
        st.tuples(
            st.integers(0, 5), st.sampled_from([0b01, 0b10]), st.binary(min_size=0, max_size=90)
        ),
        max_size=60,
    )
)
def test_reassembly_never_holds_more_than_its_bound(
    fragments: list[tuple[int, int, bytes]],
) -> None:
    reassembler = AclReassembler(max_pdu=300, max_buffered=256)
    for handle, boundary, data in fragments:
        reassembler.feed(handle, boundary, data)
        held = sum(len(p) for p in reassembler._partial.values())
        assert held == reassembler.buffered <= 256


def test_events_with_parameters_of_a_later_specification_are_delivered_and_counted() -> None:
    # Vol 4 Part E 5.4.4: octets past the known parameters are ignored, not an error.
    core = HciCore()
    known = hci.DisconnectionComplete(status=0, connection_handle=0x0040, reason=0x13)
    payload = bytes((known.EVENT_CODE, len(known.parameters()) + 2)) + known.parameters()
    effects = core.handle("hci", TransportPacketInd(PacketType.EVENT, payload + b"\x01\x02"), 0.0)
    assert HciEventInd(known) in emitted(effects)
    assert (core.extended_events, core.malformed_packets) == (1, 0)
    core.handle("hci", event_packet(known), 0.0)
    assert core.extended_events == 1


def pdu_of(payload: bytes) -> bytes:
    return struct.pack("<HH", len(payload), 0x0040) + payload


def test_a_wakeup_hands_up_one_acl_data_ind_per_link_in_arrival_order() -> None:
    core = configured_core()
    connect(core, 0x0040, le=True)
    connect(core, 0x0001, le=False)
    first, second, third = pdu_of(b"one"), pdu_of(b"two"), pdu_of(b"three")
    core.begin_wakeup()
    effects = core.handle("hci", acl(0x0040, 0b00, first), 0.0)
    effects += core.handle("hci", acl(0x0001, 0b10, second), 0.0)
    # Completions of our own packets do not hold back or split the gathered data.
    completed = hci.NumberOfCompletedPackets(((0x0040, 0),))
    effects += core.handle("hci", event_packet(completed), 0.0)
    effects += core.handle("hci", acl(0x0040, 0b00, third), 0.0)
    assert emitted(effects) == []
    effects = core.end_wakeup(0.0)
    assert emitted(effects) == [AclDataInd(0x0040, (first, third)), AclDataInd(0x0001, (second,))]
    assert core.end_wakeup(0.0) == []  # nothing handed up twice


def test_data_gathered_in_a_wakeup_reaches_the_owner_before_the_link_closes() -> None:
    core = configured_core()
    connect(core, 0x0040, le=True)
    pdu = pdu_of(b"last words")
    core.begin_wakeup()
    effects = core.handle("hci", acl(0x0040, 0b00, pdu), 0.0)
    effects += core.handle("hci", event_packet(hci.DisconnectionComplete(0, 0x0040, 0x13)), 0.0)
    effects += core.handle("hci", acl(0x0040, 0b00, pdu_of(b"too late")), 0.0)
    effects += core.end_wakeup(0.0)
    to_owner = [m for m in emitted(effects) if not isinstance(m, HciEventInd)]
    assert to_owner == [AclDataInd(0x0040, (pdu,)), AclLinkClosedInd(0x0040, 0x13)]


def test_data_gathered_in_a_wakeup_goes_up_before_a_reset_closes_its_link() -> None:
    core = configured_core()
    connect(core, 0x0040, le=True)
    pdu = pdu_of(b"before reset")
    core.begin_wakeup()
    effects = core.handle("hci", acl(0x0040, 0b00, pdu), 0.0)
    effects += core.handle("btm", HciCommandReq(9, hci.Reset()), 0.0)
    effects += core.end_wakeup(0.0)
    to_owner = [m for m in emitted(effects) if not isinstance(m, HciEventInd)]
    assert to_owner == [AclDataInd(0x0040, (pdu,)), AclLinkClosedInd(0x0040, 0x16)]


def framing(effects: list[object]) -> list[FramingLimits]:
    return [e.limits for e in effects if isinstance(e, ConfigureFraming)]


def test_the_length_announced_by_host_buffer_size_reaches_the_framer() -> None:
    # Core 5.4 Vol 4 Part E 7.3.39: the controller sizes the ACL packets it sends the host by
    # Host_ACL_Data_Packet_Length, so the framer must accept that much once it is taken.
    core = configured_core()
    core.handle("btm", HciCommandReq(3, hci.HostBufferSize(4096, 255, 16, 16)), 0.0)
    effects = core.handle("hci", complete(hci.HostBufferSize.OPCODE), 0.0)
    assert framing(effects) == [
        FramingLimits(bredr_acl_data_length=27, le_acl_data_length=20, host_acl_data_length=4096)
    ]


def test_a_refused_host_buffer_size_leaves_the_framer_as_it_was() -> None:
    core = configured_core()
    core.handle("btm", HciCommandReq(3, hci.HostBufferSize(4096, 255, 16, 16)), 0.0)
    status = bytes([hci.HciStatus.INVALID_HCI_COMMAND_PARAMETERS])
    assert framing(core.handle("hci", complete(hci.HostBufferSize.OPCODE, status), 0.0)) == []
    assert core.host_acl_data_length is None
