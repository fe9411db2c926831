"""The L2CAP core driven synchronously: two cores joined in memory (bluetrio.testing.l2cap_cores),
every channel state, every timer, the signaling error paths (Core 5.4 Vol 3 Part A 4, 6, 7)."""

from __future__ import annotations

import struct
from typing import Any

import pytest

import bluetrio.messages.l2cap as l2cap
from bluetrio.actors.effects import Send, TimerKey
from bluetrio.actors.l2cap.channels import CONGESTION_QUOTA, Ccb
from bluetrio.actors.l2cap.config import MAX_CONFIG_ROUNDS
from bluetrio.actors.l2cap.ertm_config import ENGINE_FEATURES
from bluetrio.actors.l2cap.links import RequestTimer
from bluetrio.actors.l2cap.scheduler import DEFAULT_BUDGET
from bluetrio.actors.l2cap.signaling import acceptable_parameters
from bluetrio.actors.l2cap.states import TRANSITIONS, ChannelEvent, ChannelState
from bluetrio.actors.state_machine import transition
from bluetrio.errors import StateTransitionError
from bluetrio.messages.btm import BtmCnf, ConnectionUpdateReq, LeConnectionParameters
from bluetrio.messages.btm_security import LinkSecurityCnf, LinkSecurityReq, SecurityRequirement
from bluetrio.messages.hci_service import AclDataCnf, AclDataInd, AclDataReq, LinkTransport
from bluetrio.messages.l2cap_service import (
    L2caCnf,
    L2caConfigInd,
    L2caCongestionInd,
    L2caConnectCnf,
    L2caConnectInd,
    L2caConnectionParameterUpdateReq,
    L2caConnectReq,
    L2caConnectRsp,
    L2caDataCnf,
    L2caDataInd,
    L2caDataReq,
    L2caDeregisterFixedChannelReq,
    L2caDisconnectInd,
    L2caDisconnectReq,
    L2caEchoCnf,
    L2caEchoReq,
    L2caFixedChannelInd,
    L2caFixedDataCnf,
    L2caFixedDataInd,
    L2caFixedDataReq,
    L2caInfoCnf,
    L2caInfoReq,
    L2caRegisterFixedChannelReq,
    L2caRegisterPsmReq,
)
from bluetrio.testing.l2cap_cores import HANDLE, CorePair

PSM = 0x1001
S = ChannelState


def channel(pair: CorePair, side: str, cid: int) -> Ccb:
    return pair.core(side).links[HANDLE].channels[cid]


def commands_sent(pair: CorePair, side: str) -> list[tuple[int, l2cap.SignalingCommand]]:
    found = []
    for pdu in pair.wire[side]:
        cid, payload = l2cap.decode_basic_frame(pdu)
        if cid in (l2cap.FixedCid.SIGNALING, l2cap.FixedCid.LE_SIGNALING):
            for raw in l2cap.split_commands(payload).commands:
                found.append((raw.identifier, raw.decode()))
    return found


def inject(pair: CorePair, side: str, payload: bytes, cid: int = 0x0001) -> None:
    """A C-frame (or any B-frame) from the peer of ``side``."""
    pair.deliver(side, AclDataInd(HANDLE, (l2cap.encode_basic_frame(cid, payload),)), "hci")


def opened_pair(security: SecurityRequirement | None = None) -> tuple[CorePair, int, int]:
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM, security=security))
    pair.request("a", L2caConnectReq(2, HANDLE, PSM, mtu=1000))
    indication = pair.last("b", L2caConnectInd)
    assert isinstance(indication, L2caConnectInd)
    pair.request("b", L2caConnectRsp(HANDLE, indication.cid))
    confirm = pair.last("a", L2caConnectCnf)
    assert isinstance(confirm, L2caConnectCnf) and confirm.result == 0
    return pair, confirm.cid, indication.cid


# -- the table ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(ChannelState))
@pytest.mark.parametrize("event", list(ChannelEvent))
def test_every_pair_of_the_table(state: ChannelState, event: ChannelEvent) -> None:
    if (state, event) in TRANSITIONS:
        assert transition(TRANSITIONS, state, event) is TRANSITIONS[state, event]
    else:
        with pytest.raises(StateTransitionError):
            transition(TRANSITIONS, state, event)


def test_every_state_is_reachable_and_left() -> None:
    targets = set(TRANSITIONS.values())
    sources = {state for state, _ in TRANSITIONS}
    assert targets == set(ChannelState)
    assert sources == set(ChannelState) - {S.CLOSED} | {S.CLOSED}


# -- opening, configuring, data, closing --------------------------------------------------------


def test_a_channel_opens_carries_data_and_closes() -> None:
    pair, a_cid, b_cid = opened_pair()
    assert channel(pair, "a", a_cid).state is S.OPEN
    assert channel(pair, "b", b_cid).state is S.OPEN
    config = pair.last("b", L2caConfigInd)
    assert isinstance(config, L2caConfigInd)
    assert (config.parameters.mtu, config.parameters.peer_mtu) == (672, 1000)
    pair.request("a", L2caDataReq(HANDLE, a_cid, b"hello"))
    assert pair.last("b", L2caDataInd) == L2caDataInd(HANDLE, b_cid, b"hello")
    assert pair.last("a", L2caDataCnf) == L2caDataCnf(HANDLE, a_cid, 1)
    answers = pair.request("a", L2caDisconnectReq(3, HANDLE, a_cid))
    assert L2caCnf(3) in answers
    assert pair.last("b", L2caDisconnectInd) == L2caDisconnectInd(
        HANDLE, b_cid, "the peer closed the channel"
    )
    assert pair.a.links[HANDLE].channels == {} and pair.b.links[HANDLE].channels == {}
    assert pair.timers["a"] == {} and pair.timers["b"] == {}


def test_states_along_the_way() -> None:
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM))
    pair.drop = lambda side, pdu: side == "b"  # b's answers are lost for now
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    (cid,) = pair.a.links[HANDLE].channels
    assert channel(pair, "a", cid).state is S.WAIT_CONNECT_RSP
    (b_cid,) = pair.b.links[HANDLE].channels
    assert channel(pair, "b", b_cid).state is S.WAIT_CONNECT
    pair.request("b", L2caConnectRsp(HANDLE, b_cid))
    assert channel(pair, "b", b_cid).state is S.WAIT_CONFIG_REQ_RSP


def test_an_sdu_past_the_peers_mtu_closes_the_channel_with_the_reason() -> None:
    pair, a_cid, _ = opened_pair()
    pair.request("a", L2caDataReq(HANDLE, a_cid, bytes(673)))  # b receives up to 672
    closed = pair.last("a", L2caDisconnectInd)
    assert isinstance(closed, L2caDisconnectInd) and closed.cid == a_cid
    assert "past the peer's MTU of 672" in closed.reason
    assert not [m for m in pair.up["b"] if isinstance(m, L2caDataInd)]
    assert pair.a.links[HANDLE].channels == {} and pair.b.links[HANDLE].channels == {}


def test_oversized_sdus_are_dropped_not_delivered() -> None:
    pair, a_cid, b_cid = opened_pair()
    remote = channel(pair, "b", b_cid).remote_cid
    inject(pair, "a", bytes(1001), cid=a_cid)  # a announced MTU 1000
    assert not [m for m in pair.up["a"] if isinstance(m, L2caDataInd)]
    assert pair.a.dropped_pdus == 1
    assert remote == a_cid


# -- timers --------------------------------------------------------------------------------------


def give_up(pair: CorePair, side: str) -> None:
    """Let one side's pending requests run out of time: the RTX, then the doubled RTX of the
    one retransmission that fits in 60 s (Vol 3 Part A 6.2.1)."""
    pair.fire(side)
    pair.fire(side)


def test_rtx_ends_an_unanswered_connection_request() -> None:
    pair = CorePair()
    pair.open_link()
    pair.drop = lambda side, pdu: side == "a"
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    [key] = pair.timers["a"]
    assert isinstance(key.owner, RequestTimer) and pair.timers["a"][key] == 10.0
    give_up(pair, "a")
    confirm = pair.last("a", L2caConnectCnf)
    assert isinstance(confirm, L2caConnectCnf) and "no response" in (confirm.error or "")
    assert pair.a.links[HANDLE].channels == {}


def requests_sent(pair: CorePair, side: str, kind: type) -> list[tuple[int, object]]:
    return [(i, c) for i, c in commands_sent(pair, side) if isinstance(c, kind)]


def test_an_unanswered_request_is_sent_again_with_twice_the_rtx() -> None:
    # Vol 3 Part A 6.2.1: same identifier, at least double the timeout, 60 s at most in all.
    pair = CorePair()
    pair.open_link()
    pair.drop = lambda side, pdu: True
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    [key] = pair.timers["a"]
    assert pair.timers["a"][key] == 10.0
    pair.fire("a")
    first, again = requests_sent(pair, "a", l2cap.ConnectionRequest)
    assert first == again and first[0] == key.owner.identifier
    assert pair.timers["a"] == {key: 30.0}
    assert not [m for m in pair.up["a"] if isinstance(m, L2caConnectCnf)]
    pair.fire("a")
    assert len(requests_sent(pair, "a", l2cap.ConnectionRequest)) == 2  # 30 + 40 > 60
    confirm = pair.last("a", L2caConnectCnf)
    assert isinstance(confirm, L2caConnectCnf)
    assert confirm.error == "no response to CONNECTION_REQUEST within 30 s (RTX expired)"
    assert pair.now <= 60.0 and pair.timers["a"] == {} and pair.a.links[HANDLE].pending == {}


def test_the_answer_to_the_request_sent_again_opens_the_channel() -> None:
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM))
    lost = [True]

    def lose_the_first(side: str, pdu: bytes) -> bool:
        if side == "a" and lost:
            return bool(lost.pop())
        return False

    pair.drop = lose_the_first
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    assert pair.b.links[HANDLE].channels == {}
    pair.fire("a")
    indication = pair.last("b", L2caConnectInd)
    assert isinstance(indication, L2caConnectInd)
    pair.request("b", L2caConnectRsp(HANDLE, indication.cid))
    confirm = pair.last("a", L2caConnectCnf)
    assert isinstance(confirm, L2caConnectCnf) and confirm.result == 0
    assert pair.timers["a"] == {} and pair.timers["b"] == {}


def test_a_connection_request_received_again_is_answered_pending_while_undecided() -> None:
    # 6.2.1: a duplicate request is processed as the original, not refused as a second
    # channel with the same source CID.
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM))
    pair.drop = lambda side, pdu: side == "b"
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    (b_cid,) = pair.b.links[HANDLE].channels  # with b's upper layer
    pair.drop = lambda side, pdu: False
    pair.fire("a")
    (answer,) = requests_sent(pair, "b", l2cap.ConnectionResponse)
    assert isinstance(answer[1], l2cap.ConnectionResponse)
    assert answer[1].result == l2cap.ConnectionResult.PENDING
    assert list(pair.timers["a"].values()) == [10.0 + 60.0]  # ERTX now
    pair.request("b", L2caConnectRsp(HANDLE, b_cid))
    confirm = pair.last("a", L2caConnectCnf)
    assert isinstance(confirm, L2caConnectCnf) and confirm.result == 0
    assert list(pair.b.links[HANDLE].channels) == [b_cid]


def test_a_connection_request_received_again_after_success_gets_success_again() -> None:
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM))
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    indication = pair.last("b", L2caConnectInd)
    assert isinstance(indication, L2caConnectInd)
    pair.drop = lambda side, pdu: side == "b"  # b's success and configuration request
    pair.request("b", L2caConnectRsp(HANDLE, indication.cid))
    pair.drop = lambda side, pdu: False
    pair.fire("a")  # a's request again: b says success again
    successes = [
        c for _, c in requests_sent(pair, "b", l2cap.ConnectionResponse)
        if isinstance(c, l2cap.ConnectionResponse) and c.result == 0
    ]  # fmt: skip
    assert len(successes) == 2 and successes[0] == successes[1]
    pair.fire("b")  # and b's configuration request comes again on its RTX
    confirm = pair.last("a", L2caConnectCnf)
    assert isinstance(confirm, L2caConnectCnf) and confirm.result == 0
    assert channel(pair, "b", indication.cid).state is S.OPEN
    assert list(pair.b.links[HANDLE].channels) == [indication.cid]


def l2cap_frame_from_b(pair: CorePair, identifier: int, command: l2cap.SignalingCommand) -> Any:
    frame = l2cap.encode_basic_frame(l2cap.FixedCid.SIGNALING, command.to_bytes(identifier))
    return AclDataInd(HANDLE, (frame,))


def test_a_lost_configuration_response_is_recovered_by_the_request_sent_again() -> None:
    # b's Configuration Request is answered, but the answer is lost: b sends the request again
    # on its RTX (6.2.1) and a, open meanwhile, answers it again; both end open, once.
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM))
    lost = [True]

    def lose_a_first_config_response(side: str, pdu: bytes) -> bool:
        if side == "a" and pdu[4] == l2cap.SignalingCode.CONFIGURATION_RESPONSE and lost:
            return bool(lost.pop())
        return False

    pair.drop = lose_a_first_config_response
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    indication = pair.last("b", L2caConnectInd)
    assert isinstance(indication, L2caConnectInd)
    pair.request("b", L2caConnectRsp(HANDLE, indication.cid))
    assert channel(pair, "b", indication.cid).state is S.WAIT_CONFIG_RSP
    pair.fire("b")
    assert channel(pair, "b", indication.cid).state is S.OPEN
    (a_cid,) = pair.a.links[HANDLE].channels
    assert channel(pair, "a", a_cid).state is S.OPEN
    assert [type(m) for m in pair.up["a"]] == [L2caConnectCnf]
    assert len([m for m in pair.up["b"] if isinstance(m, L2caConfigInd)]) == 1
    assert pair.timers == {"a": {}, "b": {}}


def test_an_expired_ertx_ends_the_request_without_sending_it_again() -> None:
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM, security=SecurityRequirement()))
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    [key] = pair.timers["a"]
    assert pair.timers["a"][key] == 60.0
    pair.fire("a")
    assert len(requests_sent(pair, "a", l2cap.ConnectionRequest)) == 1
    assert pair.timers["a"] == {}


def test_no_request_is_sent_again_for_a_channel_given_up() -> None:
    pair = CorePair()
    pair.open_link()
    pair.drop = lambda side, pdu: True
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    (cid,) = pair.a.links[HANDLE].channels
    pair.request("a", L2caDisconnectReq(3, HANDLE, cid))
    pair.fire("a")
    assert len(requests_sent(pair, "a", l2cap.ConnectionRequest)) == 1
    assert pair.timers["a"] == {} and pair.a.links[HANDLE].pending == {}


def test_a_continued_configuration_response_waits_under_rtx() -> None:
    # 4.5: a response with the continuation flag is followed by more; nothing is pending at
    # the peer, so the rest is awaited under RTX (6.2.1), not ERTX.
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM))

    def lose_b_config_responses(side: str, pdu: bytes) -> bool:
        return side == "b" and pdu[4] == l2cap.SignalingCode.CONFIGURATION_RESPONSE

    pair.drop = lose_b_config_responses
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    indication = pair.last("b", L2caConnectInd)
    assert isinstance(indication, L2caConnectInd)
    pair.request("b", L2caConnectRsp(HANDLE, indication.cid))
    [identifier] = [
        i
        for i, p in pair.a.links[HANDLE].pending.items()
        if p.code is l2cap.SignalingCode.CONFIGURATION_REQUEST
    ]
    pair.now = 5.0
    b_cid = indication.cid
    a_cid = channel(pair, "b", b_cid).remote_cid
    part = l2cap.ConfigurationResponse(a_cid, l2cap.CONTINUATION_FLAG, 0)
    pair.deliver("a", l2cap_frame_from_b(pair, identifier, part), "hci")
    assert pair.timers["a"] == {rtx_key(identifier): 15.0}
    rest = l2cap.ConfigurationResponse(a_cid, 0, 0)
    pair.deliver("a", l2cap_frame_from_b(pair, identifier, rest), "hci")
    assert channel(pair, "a", a_cid).state is S.OPEN
    assert pair.timers["a"] == {}


def rtx_key(identifier: int) -> TimerKey:
    return TimerKey(RequestTimer(HANDLE, identifier), "rtx")


def test_ertx_runs_while_security_is_pending_and_ends_the_wait() -> None:
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM, security=SecurityRequirement()))
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    [ask] = pair.emitted["b"]
    assert isinstance(ask, LinkSecurityReq)
    [key] = pair.timers["a"]
    assert pair.timers["a"][key] == 60.0  # the peer said pending: ERTX
    pair.fire("a")
    confirm = pair.last("a", L2caConnectCnf)
    assert isinstance(confirm, L2caConnectCnf) and confirm.result == 0xFFFF


def test_security_granted_then_refused() -> None:
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM, security=SecurityRequirement()))
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    [ask] = pair.emitted["b"]
    assert isinstance(ask, LinkSecurityReq)
    (b_cid,) = pair.b.links[HANDLE].channels
    assert channel(pair, "b", b_cid).state is S.WAIT_INCOMING_SECURITY
    pair.deliver(
        "b", LinkSecurityCnf(ask.token, HANDLE, 0x05, error="authentication failed"), "btm"
    )
    confirm = pair.last("a", L2caConnectCnf)
    assert isinstance(confirm, L2caConnectCnf)
    assert confirm.result == l2cap.ConnectionResult.SECURITY_BLOCK
    # Granted this time; the upper layer is asked only then.
    pair.request("a", L2caConnectReq(3, HANDLE, PSM))
    ask = pair.emitted["b"][-1]
    assert isinstance(ask, LinkSecurityReq)
    assert not [m for m in pair.up["b"] if isinstance(m, L2caConnectInd)]
    pair.deliver("b", LinkSecurityCnf(ask.token, HANDLE, 0), "btm")
    assert isinstance(pair.last("b", L2caConnectInd), L2caConnectInd)


def test_outgoing_security_is_asked_before_the_request() -> None:
    pair = CorePair()
    pair.open_link()
    pair.request("a", L2caConnectReq(2, HANDLE, PSM, security=SecurityRequirement()))
    (cid,) = pair.a.links[HANDLE].channels
    assert channel(pair, "a", cid).state is S.WAIT_OUTGOING_SECURITY
    assert commands_sent(pair, "a") == []
    [ask] = pair.emitted["a"]
    assert isinstance(ask, LinkSecurityReq)
    pair.deliver("a", LinkSecurityCnf(ask.token, HANDLE, 0x2F), "btm")
    confirm = pair.last("a", L2caConnectCnf)
    assert isinstance(confirm, L2caConnectCnf) and confirm.result == 3


def test_an_unanswered_configuration_disconnects_and_the_disconnection_times_out() -> None:
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM))
    pair.request("a", L2caConnectReq(2, HANDLE, PSM))
    (b_cid,) = pair.b.links[HANDLE].channels
    pair.drop = lambda side, pdu: side == "b"
    pair.request("b", L2caConnectRsp(HANDLE, b_cid))
    (a_cid,) = pair.a.links[HANDLE].channels
    assert channel(pair, "a", a_cid).state is S.WAIT_CONNECT_RSP  # b's answer was lost
    assert channel(pair, "b", b_cid).state is S.WAIT_CONFIG_REQ_RSP
    pair.drop = lambda side, pdu: True
    give_up(pair, "b")  # b's configuration request went unanswered
    assert channel(pair, "b", b_cid).state is S.WAIT_DISCONNECT
    assert isinstance(pair.last("b", L2caDisconnectInd), L2caDisconnectInd)
    give_up(pair, "b")  # and so did its disconnection request
    assert pair.b.links[HANDLE].channels == {}
    assert pair.timers["b"] == {}


def test_echo_and_information() -> None:
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterFixedChannelReq(1, l2cap.FixedCid.SMP_BR_EDR))
    pair.request("a", L2caEchoReq(5, HANDLE, b"are you there"))
    assert pair.last("a", L2caEchoCnf) == L2caEchoCnf(5, HANDLE, b"are you there")
    pair.request("a", L2caInfoReq(6, HANDLE, l2cap.InformationType.FIXED_CHANNELS))
    info = pair.last("a", L2caInfoCnf)
    assert isinstance(info, L2caInfoCnf) and info.result == 0
    assert struct.unpack("<Q", info.data)[0] == (1 << 1) | (1 << 7)
    pair.request("a", L2caInfoReq(7, HANDLE, l2cap.InformationType.EXTENDED_FEATURES))
    info = pair.last("a", L2caInfoCnf)
    assert isinstance(info, L2caInfoCnf)
    assert struct.unpack("<I", info.data)[0] == (
        l2cap.ExtendedFeature.FIXED_CHANNELS
        | l2cap.ExtendedFeature.ENHANCED_CREDIT_BASED_FLOW_CONTROL
        | ENGINE_FEATURES
    )
    pair.request("a", L2caInfoReq(8, HANDLE, l2cap.InformationType.CONNECTIONLESS_MTU))
    info = pair.last("a", L2caInfoCnf)
    assert isinstance(info, L2caInfoCnf) and info.result == 1
    pair.drop = lambda side, pdu: True
    pair.request("a", L2caEchoReq(9, HANDLE))
    give_up(pair, "a")
    echo = pair.last("a", L2caEchoCnf)
    assert isinstance(echo, L2caEchoCnf) and echo.error is not None
    too_long = pair.request("a", L2caEchoReq(10, HANDLE, bytes(45)))
    assert isinstance(too_long[0], L2caEchoCnf) and too_long[0].error is not None


# -- command rejects -----------------------------------------------------------------------------


def reject_after(pair: CorePair, payload: bytes) -> l2cap.CommandReject:
    before = len(pair.wire["a"])
    inject(pair, "a", payload)
    [pdu] = pair.wire["a"][before:]
    _, frame = l2cap.decode_basic_frame(pdu)
    command = l2cap.split_commands(frame).commands[0].decode()
    assert isinstance(command, l2cap.CommandReject)
    return command


def test_command_rejects() -> None:
    pair = CorePair()
    pair.open_link()
    unknown = l2cap.encode_command(7, 0x0C, b"")  # an AMP code, gone from Core 5.4
    assert reject_after(pair, unknown).reason == l2cap.RejectReason.COMMAND_NOT_UNDERSTOOD
    bad_length = l2cap.encode_command(8, 0x02, bytes(3))
    assert reject_after(pair, bad_length).reason == l2cap.RejectReason.COMMAND_NOT_UNDERSTOOD
    le_only = l2cap.ConnectionParameterUpdateRequest(6, 6, 0, 100).to_bytes(9)
    assert reject_after(pair, le_only).reason == l2cap.RejectReason.COMMAND_NOT_UNDERSTOOD
    no_such = l2cap.ConfigurationRequest(0x0077, 0, ()).to_bytes(10)
    rejected = reject_after(pair, no_such)
    assert rejected.reason == l2cap.RejectReason.INVALID_CID
    assert rejected.data == struct.pack("<HH", 0x0077, 0)
    huge = l2cap.EchoRequest(bytes(700)).to_bytes(11)
    rejected = reject_after(pair, huge)
    assert rejected.reason == l2cap.RejectReason.SIGNALING_MTU_EXCEEDED
    truncated = bytes.fromhex("0a0c0400") + b"\x02"
    assert reject_after(pair, truncated).reason == l2cap.RejectReason.COMMAND_NOT_UNDERSTOOD
    # Responses nobody asked for, and rejects, are never answered.
    before = len(pair.wire["a"])
    inject(pair, "a", l2cap.EchoResponse(b"x").to_bytes(12))
    inject(pair, "a", l2cap.CommandReject(0).to_bytes(13))
    inject(pair, "a", l2cap.encode_command(14, 0x03, bytes(1)))  # malformed response
    assert pair.wire["a"][before:] == []


def test_the_peer_reject_ends_our_request() -> None:
    pair = CorePair()
    pair.open_link()
    pair.drop = lambda side, pdu: True
    pair.request("a", L2caInfoReq(1, HANDLE, 2))
    [(identifier, _)] = commands_sent(pair, "a")
    inject(pair, "a", l2cap.CommandReject(0).to_bytes(identifier))
    info = pair.last("a", L2caInfoCnf)
    assert isinstance(info, L2caInfoCnf) and "rejected" in (info.error or "")
    assert pair.timers["a"] == {}


def test_refused_connection_requests() -> None:
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM))
    answers = []
    for identifier, request in enumerate(
        [
            l2cap.ConnectionRequest(0x1003, 0x0040),  # no such PSM
            l2cap.ConnectionRequest(PSM, 0x0003),  # a fixed CID as source
            l2cap.ConnectionRequest(PSM, 0x0041),
            l2cap.ConnectionRequest(PSM, 0x0041),  # the same source CID again
        ],
        start=1,
    ):
        inject(pair, "b", request.to_bytes(identifier))
    for _, command in commands_sent(pair, "b"):
        assert isinstance(command, l2cap.ConnectionResponse)
        answers.append(command.result)
    assert answers == [2, 6, 7]  # the third is offered to the upper layer first
    assert len(pair.up["b"]) == 2  # L2caCnf of the registration and one L2caConnectInd


# -- configuration -------------------------------------------------------------------------------


def config_pair() -> tuple[CorePair, int]:
    """b has accepted a channel a asked for; a's answers to b are what the test injects."""
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterPsmReq(1, PSM))
    pair.drop = lambda side, pdu: side == "a"
    inject(pair, "b", l2cap.ConnectionRequest(PSM, 0x0050).to_bytes(1))
    indication = pair.last("b", L2caConnectInd)
    assert isinstance(indication, L2caConnectInd)
    pair.request("b", L2caConnectRsp(HANDLE, indication.cid))
    return pair, indication.cid


def last_response(pair: CorePair) -> l2cap.ConfigurationResponse:
    responses = [
        c for _, c in commands_sent(pair, "b") if isinstance(c, l2cap.ConfigurationResponse)
    ]
    return responses[-1]


def test_unknown_options_and_hints() -> None:
    pair, cid = config_pair()
    options = (l2cap.UnknownOption(0x30, b"\x01"), l2cap.UnknownOption(0x31, b"", hint=True))
    inject(pair, "b", l2cap.ConfigurationRequest(cid, 0, options).to_bytes(2))
    response = last_response(pair)
    assert response.result == l2cap.ConfigurationResult.UNKNOWN_OPTIONS
    assert response.options == (l2cap.UnknownOption(0x30, b"\x01"),)
    hint_only = (l2cap.UnknownOption(0x31, b"", hint=True), l2cap.MtuOption(800))
    inject(pair, "b", l2cap.ConfigurationRequest(cid, 0, hint_only).to_bytes(3))
    assert last_response(pair).result == l2cap.ConfigurationResult.SUCCESS
    assert channel(pair, "b", cid).negotiation.peer_mtu == 800


def test_a_bad_option_length_is_rejected_not_read() -> None:
    pair, cid = config_pair()
    # An Extended Flow Specification of 40 octets (BlueBorne, CVE-2017-1000251).
    data = struct.pack("<HH", cid, 0) + bytes((0x06, 40)) + bytes(40)
    reject = reject_after_b(pair, l2cap.encode_command(2, 0x04, data))
    assert reject.reason == l2cap.RejectReason.COMMAND_NOT_UNDERSTOOD
    assert channel(pair, "b", cid).state is S.WAIT_CONFIG_REQ_RSP


def reject_after_b(pair: CorePair, payload: bytes) -> l2cap.CommandReject:
    before = len(pair.wire["b"])
    inject(pair, "b", payload)
    [pdu] = pair.wire["b"][before:]
    command = l2cap.split_commands(l2cap.decode_basic_frame(pdu)[1]).commands[0].decode()
    assert isinstance(command, l2cap.CommandReject)
    return command


def test_a_negotiation_that_does_not_converge_ends_in_a_disconnection() -> None:
    pair, cid = config_pair()
    small = (l2cap.MtuOption(20),)
    for identifier in range(2, 2 + MAX_CONFIG_ROUNDS):
        inject(pair, "b", l2cap.ConfigurationRequest(cid, 0, small).to_bytes(identifier))
        response = last_response(pair)
        assert response.result == l2cap.ConfigurationResult.UNACCEPTABLE_PARAMETERS
        assert response.options == (l2cap.MtuOption(48),)
    assert channel(pair, "b", cid).state is S.WAIT_DISCONNECT
    assert isinstance(commands_sent(pair, "b")[-1][1], l2cap.DisconnectionRequest)


def test_our_request_retries_what_the_peer_counters_then_gives_up() -> None:
    pair, _cid = config_pair()
    ours = [
        (i, c) for i, c in commands_sent(pair, "b") if isinstance(c, l2cap.ConfigurationRequest)
    ]
    identifier = ours[-1][0]
    for round_ in range(MAX_CONFIG_ROUNDS):
        counter = l2cap.ConfigurationResponse(0x0050, 0, 1, (l2cap.MtuOption(500),))
        inject(pair, "b", counter.to_bytes(identifier))
        sent = commands_sent(pair, "b")[-1]
        if round_ < MAX_CONFIG_ROUNDS - 1:
            assert isinstance(sent[1], l2cap.ConfigurationRequest)
            assert sent[1].options == (l2cap.MtuOption(500),)
            identifier = sent[0]
    assert isinstance(commands_sent(pair, "b")[-1][1], l2cap.DisconnectionRequest)


def test_a_peer_asking_for_ertm_is_countered_with_basic_mode() -> None:
    pair, cid = config_pair()
    ertm = (l2cap.RetransmissionAndFlowControlOption(3, 10, 3, 2000, 12000, 1000),)
    inject(pair, "b", l2cap.ConfigurationRequest(cid, 0, ertm).to_bytes(2))
    response = last_response(pair)
    assert response.result == l2cap.ConfigurationResult.UNACCEPTABLE_PARAMETERS
    (option,) = response.options
    assert isinstance(option, l2cap.RetransmissionAndFlowControlOption) and option.mode == 0


def test_a_continued_request_is_gathered() -> None:
    pair, cid = config_pair()
    inject(pair, "b", l2cap.ConfigurationRequest(cid, 1, (l2cap.MtuOption(900),)).to_bytes(2))
    assert last_response(pair).flags == 1
    inject(
        pair, "b", l2cap.ConfigurationRequest(cid, 0, (l2cap.FlushTimeoutOption(5),)).to_bytes(3)
    )
    assert last_response(pair).result == 0
    negotiation = channel(pair, "b", cid).negotiation
    assert (negotiation.peer_mtu, negotiation.peer_flush_timeout) == (900, 5)


# -- LE ------------------------------------------------------------------------------------------


def test_le_parameter_update_asked_by_the_peripheral() -> None:
    pair = CorePair()
    pair.open_link(LinkTransport.LE)
    parameters = LeConnectionParameters(0x0018, 0x0028, 0, 0x01F4)
    pair.request("b", L2caConnectionParameterUpdateReq(1, HANDLE, parameters))
    assert pair.last("b", L2caCnf) == L2caCnf(1, 0, None)
    [update] = pair.emitted["a"]
    assert isinstance(update, ConnectionUpdateReq) and update.parameters == parameters
    pair.deliver("a", BtmCnf(update.token), "btm")
    # The central does not ask; the central refuses what is out of range.
    refused = pair.request("a", L2caConnectionParameterUpdateReq(2, HANDLE, parameters))
    assert isinstance(refused[0], L2caCnf) and refused[0].result == 0xFFFF
    inject(pair, "a", l2cap.ConnectionParameterUpdateRequest(6, 3200, 499, 10).to_bytes(3), cid=5)
    *_, (_, response) = [
        c
        for c in commands_sent(pair, "a")
        if isinstance(c[1], l2cap.ConnectionParameterUpdateResponse)
    ]
    assert response == l2cap.ConnectionParameterUpdateResponse(1)
    # A peripheral receiving the request rejects it (4.20).
    inject(pair, "b", l2cap.ConnectionParameterUpdateRequest(6, 6, 0, 100).to_bytes(4), cid=5)
    assert isinstance(commands_sent(pair, "b")[-1][1], l2cap.CommandReject)


@pytest.mark.parametrize(
    ("values", "ok"),
    [
        ((6, 6, 0, 10), True),
        ((6, 3200, 0, 3200), True),
        ((5, 6, 0, 100), False),
        ((7, 6, 0, 100), False),
        ((6, 3201, 0, 3200), False),
        ((6, 6, 500, 3200), False),
        ((6, 6, 0, 9), False),
        ((80, 80, 4, 100), False),  # 1 s is not longer than (1 + 4) x 100 ms x 2
        ((80, 80, 3, 100), True),
    ],
)
def test_parameter_ranges(values: tuple[int, int, int, int], ok: bool) -> None:
    assert acceptable_parameters(l2cap.ConnectionParameterUpdateRequest(*values)) is ok


def test_le_links_carry_only_le_commands() -> None:
    pair = CorePair()
    pair.open_link(LinkTransport.LE)
    inject(pair, "a", l2cap.ConnectionRequest(PSM, 0x40).to_bytes(1), cid=5)
    assert isinstance(commands_sent(pair, "a")[-1][1], l2cap.CommandReject)
    # An LE credit based request is answered (by the credit-based procedures): SPSM 0x80
    # is not registered.
    inject(
        pair, "a", l2cap.LeCreditBasedConnectionRequest(0x80, 0x40, 64, 64, 1).to_bytes(2), cid=5
    )
    answer = commands_sent(pair, "a")[-1][1]
    assert isinstance(answer, l2cap.LeCreditBasedConnectionResponse)
    assert answer.result == l2cap.LeCreditConnectionResult.SPSM_NOT_SUPPORTED
    inject(pair, "a", l2cap.ConnectionRequest(PSM, 0x40).to_bytes(3), cid=1)  # not signaling on LE
    assert pair.a.dropped_pdus == 1


# -- fixed channels, the scheduler, the link -------------------------------------------------


def test_fixed_channels() -> None:
    pair = CorePair()
    pair.request("a", L2caRegisterFixedChannelReq(1, l2cap.FixedCid.ATT))
    refused = pair.request("a", L2caRegisterFixedChannelReq(2, l2cap.FixedCid.SIGNALING))
    assert isinstance(refused[0], L2caCnf) and refused[0].result == 0xFFFF
    pair.request("b", L2caRegisterFixedChannelReq(3, l2cap.FixedCid.ATT))
    pair.open_link(LinkTransport.LE)
    assert pair.last("a", L2caFixedChannelInd) == L2caFixedChannelInd(
        HANDLE, 4, LinkTransport.LE, True
    )
    pair.request("a", L2caFixedDataReq(HANDLE, 4, b"\x02\x17\x00"))
    assert pair.last("b", L2caFixedDataInd) == L2caFixedDataInd(HANDLE, 4, b"\x02\x17\x00")
    inject(pair, "a", b"ignored", cid=l2cap.FixedCid.CONNECTIONLESS)
    assert pair.a.dropped_pdus == 0
    pair.close_link()
    assert pair.last("a", L2caFixedChannelInd) == L2caFixedChannelInd(
        HANDLE, 4, LinkTransport.LE, False
    )


def test_fixed_channel_pdus_are_confirmed_when_the_controller_took_them() -> None:
    pair = CorePair()
    pair.open_link(LinkTransport.LE)
    pair.request("a", L2caRegisterFixedChannelReq(1, l2cap.FixedCid.SMP))
    answers = pair.request("a", L2caFixedDataReq(HANDLE, 6, b"\x01\x03\x00"))
    assert L2caFixedDataCnf(HANDLE, 6, 1) in answers


def test_fixed_channel_pdus_that_cannot_go_are_confirmed_with_the_reason() -> None:
    pair = CorePair()
    pair.open_link(LinkTransport.LE)
    pair.deliver("a", L2caRegisterFixedChannelReq(1, l2cap.FixedCid.ATT), "att")
    pair.request("a", L2caRegisterFixedChannelReq(2, l2cap.FixedCid.SMP))
    pair.request("a", L2caRegisterFixedChannelReq(3, l2cap.FixedCid.SMP_BR_EDR))
    for request in (
        L2caFixedDataReq(HANDLE, 4, b"another layer's channel"),
        L2caFixedDataReq(0x0999, 6, b"no such link"),
        L2caFixedDataReq(HANDLE, 6, bytes(0x10000)),  # past a B-frame's length field
        L2caFixedDataReq(HANDLE, 7, b"a BR/EDR channel on an LE link"),
    ):
        (answer,) = pair.request("a", request)
        assert isinstance(answer, L2caFixedDataCnf) and answer.count == 1 and answer.error
    assert pair.wire["a"] == []


def test_a_deregistered_fixed_channel_is_dropped_and_no_longer_reported() -> None:
    # Vol 3 Part A 4.12: the Fixed Channels Supported mask lists what is registered.
    pair = CorePair()
    pair.open_link()
    pair.request("b", L2caRegisterFixedChannelReq(1, l2cap.FixedCid.SMP_BR_EDR))

    def mask() -> int:
        pair.request("a", L2caInfoReq(6, HANDLE, l2cap.InformationType.FIXED_CHANNELS))
        info = pair.last("a", L2caInfoCnf)
        assert isinstance(info, L2caInfoCnf)
        return int(struct.unpack("<Q", info.data)[0])

    assert mask() == (1 << 1) | (1 << 7)
    done = pair.request("b", L2caDeregisterFixedChannelReq(2, l2cap.FixedCid.SMP_BR_EDR))
    assert L2caCnf(2) in done
    assert mask() == 1 << 1
    pair.request("a", L2caRegisterFixedChannelReq(3, l2cap.FixedCid.SMP_BR_EDR))
    pair.request("a", L2caFixedDataReq(HANDLE, 7, b"\x01"))
    assert not [m for m in pair.up["b"] if isinstance(m, L2caFixedDataInd)]
    assert pair.b.dropped_pdus == 1


def test_only_the_owner_deregisters_a_fixed_channel() -> None:
    pair = CorePair()
    pair.deliver("a", L2caRegisterFixedChannelReq(1, l2cap.FixedCid.ATT), "smp")
    pair.request("a", L2caDeregisterFixedChannelReq(2, l2cap.FixedCid.ATT))
    assert pair.a.registry.fixed == {l2cap.FixedCid.ATT: "smp"}


def test_the_scheduler_holds_what_hci_cannot_take_and_signals_congestion() -> None:
    pair, a_cid, _ = opened_pair()
    core = pair.a
    lcb = core.links[HANDLE]
    effects = []
    for _ in range(CONGESTION_QUOTA + DEFAULT_BUDGET + 1):
        effects += core.handle("upper", L2caDataReq(HANDLE, a_cid, b"x"), 0.0)
    assert len(lcb.in_flight) == DEFAULT_BUDGET
    assert len(channel(pair, "a", a_cid).tx.pdus) == CONGESTION_QUOTA + 1
    congestion = [
        e.message for e in effects if isinstance(getattr(e, "message", None), L2caCongestionInd)
    ]
    assert congestion == [L2caCongestionInd(HANDLE, a_cid, True)]
    # Signaling goes ahead of the channel's queue.
    effects = core.handle("upper", L2caEchoReq(9, HANDLE), 0.0)
    assert lcb.signaling_queue
    effects = core.handle("hci", AclDataCnf(HANDLE, 1), 0.0)
    sent = [e.message for e in effects if isinstance(getattr(e, "message", None), AclDataReq)]
    _, frame = l2cap.decode_basic_frame(sent[0].pdus[0])
    assert l2cap.split_commands(frame).commands[0].code == l2cap.SignalingCode.ECHO_REQUEST
    effects = core.handle("hci", AclDataCnf(HANDLE, DEFAULT_BUDGET), 0.0)
    for _ in range(10):
        effects += core.handle("hci", AclDataCnf(HANDLE, DEFAULT_BUDGET), 0.0)
    drained = [
        e.message for e in effects if isinstance(getattr(e, "message", None), L2caCongestionInd)
    ]
    assert drained == [L2caCongestionInd(HANDLE, a_cid, False)]


def test_a_fixed_channel_congests_and_drains_on_its_own_link() -> None:
    # The drained indication names the link whose queue drained (it was handle 0 for every
    # queue but a BR/EDR channel's).
    pair = CorePair()
    pair.open_link(LinkTransport.LE)
    core = pair.a
    core.handle("upper", L2caRegisterFixedChannelReq(1, l2cap.FixedCid.ATT), 0.0)
    effects = []
    for _ in range(CONGESTION_QUOTA + DEFAULT_BUDGET + 1):
        effects += core.handle("upper", L2caFixedDataReq(HANDLE, 4, b"\x52"), 0.0)
    congestion = [e.message for e in effects if isinstance(e, Send)]
    assert L2caCongestionInd(HANDLE, 4, True) in congestion
    effects = []
    for _ in range(12):
        effects += core.handle("hci", AclDataCnf(HANDLE, DEFAULT_BUDGET), 0.0)
    drained = [
        e.message for e in effects if isinstance(getattr(e, "message", None), L2caCongestionInd)
    ]
    assert drained == [L2caCongestionInd(HANDLE, 4, False)]
    confirmed = [
        e.message for e in effects if isinstance(getattr(e, "message", None), L2caFixedDataCnf)
    ]
    assert sum(m.count for m in confirmed) == CONGESTION_QUOTA + DEFAULT_BUDGET + 1


def test_link_loss_closes_every_channel_and_request() -> None:
    pair, a_cid, _b_cid = opened_pair()
    pair.drop = lambda side, pdu: True
    pair.request("a", L2caEchoReq(9, HANDLE))
    pair.request("a", L2caConnectReq(10, HANDLE, PSM))
    assert pair.timers["a"]
    pair.close_link(0x08)
    lost = pair.last("a", L2caDisconnectInd)
    assert isinstance(lost, L2caDisconnectInd) and lost.link_lost and lost.cid == a_cid
    assert isinstance(pair.last("a", L2caEchoCnf), L2caEchoCnf)
    assert isinstance(pair.last("a", L2caConnectCnf), L2caConnectCnf)
    assert pair.timers["a"] == {} and pair.a.links == {}
    assert isinstance(pair.last("b", L2caDisconnectInd), L2caDisconnectInd)
