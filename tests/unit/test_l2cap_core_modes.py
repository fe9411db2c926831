"""Mode negotiation through two L2CAP cores joined in memory (Core 5.4 Vol 3 Part A 4.10,
5.4-5.7, 7.1): the peer's extended features asked once per link, the Retransmission and Flow
Control option with real values, FCS left out only when both ask, the Extended Window Size
option, fallback to basic mode or refusal, counters to unacceptable values, and an
unanswered Information Request."""

from __future__ import annotations

import pytest

import bluetrio.messages.l2cap as l2cap
from bluetrio.actors.l2cap.channels import Ccb
from bluetrio.actors.l2cap.config import MAX_CONFIG_ROUNDS, SUPPORTED_MODES
from bluetrio.actors.l2cap.ertm import RetransmissionParameters
from bluetrio.actors.l2cap.ertm_channels import EngineTimer
from bluetrio.actors.l2cap.ertm_config import ENGINE_FEATURES, RetransmissionSettings
from bluetrio.actors.l2cap.states import ChannelState
from bluetrio.messages.hci_service import AclDataInd
from bluetrio.messages.l2cap import ChannelMode, FcsType
from bluetrio.messages.l2cap.retransmission_frames import FrameFormat, IFrame, Sar, encode_frame
from bluetrio.messages.l2cap_credit_service import L2caDataRsp
from bluetrio.messages.l2cap_service import (
    L2caCnf,
    L2caConfigInd,
    L2caConnectCnf,
    L2caConnectInd,
    L2caConnectReq,
    L2caConnectRsp,
    L2caDataCnf,
    L2caDataInd,
    L2caDataReq,
    L2caDisconnectInd,
    L2caDisconnectReq,
    L2caRegisterPsmReq,
    ModePolicy,
)
from bluetrio.testing.l2cap_cores import HANDLE, CorePair

PSM = 0x1001
ERTM = ChannelMode.ENHANCED_RETRANSMISSION
STREAMING = ChannelMode.STREAMING

# Fixed channels (bit 7) and enhanced credit-based channels (bit 10), Vol 3 Part A 4.12.
BASE_FEATURES = 0x80 | 0x400


def commands(pdus: list[bytes]) -> list[tuple[int, l2cap.SignalingCommand]]:
    found = []
    for pdu in pdus:
        cid, payload = l2cap.decode_basic_frame(pdu)
        if cid == l2cap.FixedCid.SIGNALING:
            found += [
                (raw.identifier, raw.decode()) for raw in l2cap.split_commands(payload).commands
            ]
    return found


def sent(
    pair: CorePair, side: str, kind: type[l2cap.SignalingCommand]
) -> list[l2cap.SignalingCommand]:
    return [c for _, c in commands(pair.wire[side]) if isinstance(c, kind)]


def pair_with(
    a_modes: frozenset[ChannelMode] = SUPPORTED_MODES,
    b_modes: frozenset[ChannelMode] = SUPPORTED_MODES,
    a_settings: RetransmissionSettings | None = None,
    b_settings: RetransmissionSettings | None = None,
) -> CorePair:
    pair = CorePair()
    for core, modes, settings in ((pair.a, a_modes, a_settings), (pair.b, b_modes, b_settings)):
        core.signaling.supported_modes = modes
        core.signaling.retransmission_settings = settings
    pair.open_link()
    return pair


def open_channel(
    pair: CorePair,
    mode: ChannelMode,
    policy: ModePolicy = ModePolicy.FALL_BACK_TO_BASIC,
    listener_mode: ChannelMode | None = None,
) -> tuple[L2caConnectCnf, L2caConnectInd | None]:
    pair.request(
        "b",
        L2caRegisterPsmReq(
            1, PSM, mode=mode if listener_mode is None else listener_mode, mode_policy=policy
        ),
    )
    pair.request("a", L2caConnectReq(2, HANDLE, PSM, mode=mode, mode_policy=policy))
    indication = None
    for message in pair.up["b"]:
        if isinstance(message, L2caConnectInd):
            indication = message
    if indication is not None:
        pair.request("b", L2caConnectRsp(HANDLE, indication.cid))
    confirm = pair.last("a", L2caConnectCnf)
    assert isinstance(confirm, L2caConnectCnf)
    return confirm, indication


def ccb(pair: CorePair, side: str, cid: int) -> Ccb:
    return pair.core(side).links[HANDLE].channels[cid]


def engines(
    pair: CorePair, a_cid: int, b_cid: int
) -> tuple[RetransmissionParameters, RetransmissionParameters]:
    a, b = ccb(pair, "a", a_cid), ccb(pair, "b", b_cid)
    a_params = a.negotiation.engine_parameters(a.remote_cid)
    b_params = b.negotiation.engine_parameters(b.remote_cid)
    assert a_params is not None and b_params is not None
    return a_params, b_params


@pytest.mark.parametrize("mode", [ERTM, STREAMING])
def test_both_support_the_mode(mode: ChannelMode) -> None:
    pair = pair_with()
    confirm, indication = open_channel(pair, mode)
    assert confirm.result == 0 and confirm.parameters is not None
    assert confirm.parameters.mode is mode
    assert indication is not None
    configured = pair.last("b", L2caConfigInd)
    assert isinstance(configured, L2caConfigInd) and configured.parameters.mode is mode
    # Each side asked the other's features once, before its own request.
    for side in ("a", "b"):
        [info] = sent(pair, side, l2cap.InformationRequest)
        assert isinstance(info, l2cap.InformationRequest)
        assert info.info_type == l2cap.InformationType.EXTENDED_FEATURES
        assert pair.core(side).links[HANDLE].peer_features == ENGINE_FEATURES | BASE_FEATURES
    [request, *_] = sent(pair, "a", l2cap.ConfigurationRequest)
    assert isinstance(request, l2cap.ConfigurationRequest)
    rfc = next(
        o for o in request.options if isinstance(o, l2cap.RetransmissionAndFlowControlOption)
    )
    assert rfc.mode == mode and rfc.maximum_pdu_size == 1010
    if mode is ERTM:
        assert (rfc.tx_window_size, rfc.max_transmit) == (32, 3)
        # Our positive response gives the peer its time-outs (5.4).
        [response, *_] = sent(pair, "b", l2cap.ConfigurationResponse)
        assert isinstance(response, l2cap.ConfigurationResponse)
        (answered,) = response.options
        assert isinstance(answered, l2cap.RetransmissionAndFlowControlOption)
        assert (answered.retransmission_timeout, answered.monitor_timeout) == (2000, 12000)
    a, b = engines(pair, confirm.cid, indication.cid)
    assert a.mode is b.mode
    assert not a.frame_format.fcs and not a.frame_format.extended_control
    assert (a.local_mps, a.remote_mps) == (1010, 1010)
    # A second channel on the link does not ask again.
    pair.request("a", L2caConnectReq(3, HANDLE, PSM, mode=mode))
    assert len(sent(pair, "a", l2cap.InformationRequest)) == 1


def test_our_information_response_announces_the_engine() -> None:
    pair = pair_with(b_modes=frozenset({ChannelMode.BASIC}))
    assert pair.a.signaling.extended_features == ENGINE_FEATURES | BASE_FEATURES
    assert pair.b.signaling.extended_features == BASE_FEATURES


def test_a_peer_without_the_mode_gets_basic_mode_when_the_policy_allows() -> None:
    pair = pair_with(b_modes=frozenset({ChannelMode.BASIC}))
    confirm, indication = open_channel(pair, ERTM, listener_mode=ChannelMode.BASIC)
    assert confirm.result == 0 and confirm.parameters is not None
    assert confirm.parameters.mode is ChannelMode.BASIC
    assert indication is not None
    assert ccb(pair, "a", confirm.cid).negotiation.engine_parameters(0x40) is None
    # No retransmission option was ever asked of that peer.
    for request in sent(pair, "a", l2cap.ConfigurationRequest):
        assert isinstance(request, l2cap.ConfigurationRequest)
        assert not any(
            isinstance(o, l2cap.RetransmissionAndFlowControlOption) for o in request.options
        )


def test_a_peer_without_the_mode_is_refused_when_the_mode_is_required() -> None:
    pair = pair_with(b_modes=frozenset({ChannelMode.BASIC}))
    confirm, indication = open_channel(
        pair, ERTM, ModePolicy.REQUIRE, listener_mode=ChannelMode.BASIC
    )
    assert confirm.result == 0xFFFF
    assert confirm.error == "the peer does not support ENHANCED_RETRANSMISSION mode"
    assert indication is not None
    closed = pair.last("b", L2caDisconnectInd)
    assert isinstance(closed, L2caDisconnectInd) and closed.cid == indication.cid
    assert pair.a.links[HANDLE].channels == {} and pair.b.links[HANDLE].channels == {}
    assert pair.timers["a"] == {} and pair.timers["b"] == {}


def test_a_listener_requiring_the_mode_refuses_a_basic_peer() -> None:
    pair = pair_with(a_modes=frozenset({ChannelMode.BASIC}))
    confirm, _ = open_channel(pair, ChannelMode.BASIC, ModePolicy.REQUIRE, listener_mode=ERTM)
    # b counters a's basic request with its mode, a counters back: no agreement in the
    # bounded rounds, and the channel is closed with a reason a sees.
    assert confirm.result == 0xFFFF and confirm.error
    assert pair.a.links[HANDLE].channels == {} and pair.b.links[HANDLE].channels == {}


@pytest.mark.parametrize(
    ("a_fcs", "b_fcs", "fcs"), [(False, False, False), (True, False, True), (True, True, True)]
)
def test_no_fcs_only_when_both_ask(a_fcs: bool, b_fcs: bool, fcs: bool) -> None:
    pair = pair_with(
        a_settings=RetransmissionSettings(mps=500, fcs=a_fcs),
        b_settings=RetransmissionSettings(mps=600, fcs=b_fcs),
    )
    confirm, indication = open_channel(pair, ERTM)
    assert indication is not None
    a, b = engines(pair, confirm.cid, indication.cid)
    assert a.frame_format.fcs is b.frame_format.fcs is fcs
    assert (a.local_mps, a.remote_mps, b.local_mps) == (500, 600, 600)


def test_a_window_over_63_uses_the_extended_window_size_option() -> None:
    pair = pair_with(a_settings=RetransmissionSettings(mps=500, tx_window=300))
    confirm, indication = open_channel(pair, ERTM)
    assert indication is not None
    [request, *_] = sent(pair, "a", l2cap.ConfigurationRequest)
    assert isinstance(request, l2cap.ConfigurationRequest)
    assert l2cap.ExtendedWindowSizeOption(300) in request.options
    a, b = engines(pair, confirm.cid, indication.cid)
    assert a.frame_format.extended_control and b.frame_format.extended_control
    assert a.local_tx_window == b.remote_tx_window == 300


def test_a_large_window_shrinks_for_a_peer_without_extended_windows() -> None:
    pair = pair_with(a_settings=RetransmissionSettings(mps=500, tx_window=300))
    pair.b.signaling.supported_modes = SUPPORTED_MODES
    lacking = ENGINE_FEATURES & ~l2cap.ExtendedFeature.EXTENDED_WINDOW_SIZE
    pair.a.links[HANDLE].peer_features = int(lacking)
    confirm, indication = open_channel(pair, ERTM)
    assert indication is not None
    a, _ = engines(pair, confirm.cid, indication.cid)
    assert not a.frame_format.extended_control and a.local_tx_window == 32


def b_accepted_channel(pair: CorePair, policy: ModePolicy = ModePolicy.FALL_BACK_TO_BASIC) -> int:
    """b accepted a channel a asked for in ERTM; a's answers are what the test injects."""
    pair.request("b", L2caRegisterPsmReq(1, PSM, mode=ERTM, mode_policy=policy))
    pair.b.links[HANDLE].peer_features = int(ENGINE_FEATURES)
    pair.drop = lambda side, pdu: side == "b"
    inject(pair, l2cap.ConnectionRequest(PSM, 0x0050).to_bytes(1))
    indication = pair.last("b", L2caConnectInd)
    assert isinstance(indication, L2caConnectInd)
    pair.request("b", L2caConnectRsp(HANDLE, indication.cid))
    return indication.cid


def inject(pair: CorePair, payload: bytes) -> None:
    frame = l2cap.encode_basic_frame(l2cap.FixedCid.SIGNALING, payload)
    pair.deliver("b", AclDataInd(HANDLE, (frame,)), "hci")


def responses(pair: CorePair) -> list[l2cap.ConfigurationResponse]:
    return [c for c in sent(pair, "b", l2cap.ConfigurationResponse)]  # type: ignore[misc]


def test_unacceptable_values_are_countered_with_what_we_accept() -> None:
    pair = pair_with()
    cid = b_accepted_channel(pair, ModePolicy.REQUIRE)
    bad = (
        l2cap.RetransmissionAndFlowControlOption(ERTM, 0, 3, 0, 0, 4),
        l2cap.FcsOption(7),
        l2cap.QosOption(0, 9, 0, 0, 0, 0, 0),
    )
    inject(pair, l2cap.ConfigurationRequest(cid, 0, bad).to_bytes(2))
    response = responses(pair)[-1]
    assert response.result == l2cap.ConfigurationResult.UNACCEPTABLE_PARAMETERS
    assert set(response.options) == {
        l2cap.FcsOption(FcsType.FCS_16),
        l2cap.QosOption(0, 1, 0, 0, 0, 0, 0),
        l2cap.RetransmissionAndFlowControlOption(ERTM, 1, 3, 0, 0, 9),
    }
    # The peer takes the values: accepted, with the time-outs and the MPS we will send.
    good = (l2cap.RetransmissionAndFlowControlOption(ERTM, 10, 3, 0, 0, 0xFFFF),)
    inject(pair, l2cap.ConfigurationRequest(cid, 0, good).to_bytes(3))
    response = responses(pair)[-1]
    assert response.result == 0
    assert response.options == (
        l2cap.RetransmissionAndFlowControlOption(ERTM, 10, 3, 2000, 12000, 65527),
    )
    # A basic request is countered with our mode, which b requires.
    inject(pair, l2cap.ConfigurationRequest(cid, 0, ()).to_bytes(4))
    response = responses(pair)[-1]
    assert response.result == l2cap.ConfigurationResult.UNACCEPTABLE_PARAMETERS
    (rfc,) = response.options
    assert isinstance(rfc, l2cap.RetransmissionAndFlowControlOption) and rfc.mode == ERTM


def test_our_request_takes_the_peers_counter() -> None:
    pair = pair_with()
    cid = b_accepted_channel(pair)
    ours = [
        (i, c) for i, c in commands(pair.wire["b"]) if isinstance(c, l2cap.ConfigurationRequest)
    ]
    identifier, first = ours[-1]
    assert isinstance(first, l2cap.ConfigurationRequest)
    assert l2cap.FcsOption(FcsType.NO_FCS) in first.options
    counter = (
        l2cap.RetransmissionAndFlowControlOption(ERTM, 8, 3, 0, 0, 200),
        l2cap.FcsOption(FcsType.FCS_16),
    )
    inject(pair, l2cap.ConfigurationResponse(0x0050, 0, 1, counter).to_bytes(identifier))
    identifier, retry = [
        (i, c) for i, c in commands(pair.wire["b"]) if isinstance(c, l2cap.ConfigurationRequest)
    ][-1]
    assert isinstance(retry, l2cap.ConfigurationRequest)
    rfc = next(o for o in retry.options if isinstance(o, l2cap.RetransmissionAndFlowControlOption))
    assert (rfc.tx_window_size, rfc.maximum_pdu_size) == (8, 200)
    assert not any(isinstance(o, l2cap.FcsOption) for o in retry.options)
    # A counter with basic mode: the policy (fall back) takes it.
    assert ccb(pair, "b", cid).negotiation.mode is ERTM
    basic = (l2cap.RetransmissionAndFlowControlOption(0, 0, 0, 0, 0, 0),)
    inject(pair, l2cap.ConfigurationResponse(0x0050, 0, 1, basic).to_bytes(identifier))
    _, last = [
        (i, c) for i, c in commands(pair.wire["b"]) if isinstance(c, l2cap.ConfigurationRequest)
    ][-1]
    assert isinstance(last, l2cap.ConfigurationRequest)
    assert not any(isinstance(o, l2cap.RetransmissionAndFlowControlOption) for o in last.options)
    assert ccb(pair, "b", cid).negotiation.mode is ChannelMode.BASIC


def test_a_peer_asking_for_basic_first_gets_it_when_we_may_fall_back() -> None:
    pair = pair_with()
    cid = b_accepted_channel(pair)
    inject(pair, l2cap.ConfigurationRequest(cid, 0, ()).to_bytes(2))
    assert responses(pair)[-1].result == 0
    assert ccb(pair, "b", cid).negotiation.mode is ChannelMode.BASIC


def test_counters_that_never_converge_disconnect() -> None:
    pair = pair_with()
    cid = b_accepted_channel(pair, ModePolicy.REQUIRE)
    for identifier in range(2, 2 + MAX_CONFIG_ROUNDS):
        inject(pair, l2cap.ConfigurationRequest(cid, 0, ()).to_bytes(identifier))
    assert ccb(pair, "b", cid).state is ChannelState.WAIT_DISCONNECT


def lose_information_responses(side: str, pdu: bytes) -> bool:
    return side == "b" and any(isinstance(c, l2cap.InformationResponse) for _, c in commands([pdu]))


@pytest.mark.parametrize("policy", list(ModePolicy))
def test_an_unanswered_information_request_and_a_peer_that_asks_for_the_mode(
    policy: ModePolicy,
) -> None:
    pair = pair_with()
    pair.drop = lose_information_responses
    pair.request("b", L2caRegisterPsmReq(1, PSM, mode=ERTM, mode_policy=policy))
    pair.request("a", L2caConnectReq(2, HANDLE, PSM, mode=ERTM, mode_policy=policy))
    indication = pair.last("b", L2caConnectInd)
    assert isinstance(indication, L2caConnectInd)
    pair.request("b", L2caConnectRsp(HANDLE, indication.cid))
    (a_cid,) = pair.a.links[HANDLE].channels
    # a took b's request for ERTM and waits for b's features before its own.
    assert ccb(pair, "a", a_cid).state is ChannelState.WAIT_SEND_CONFIG
    assert not sent(pair, "a", l2cap.ConfigurationRequest)
    [key] = pair.timers["a"]
    assert pair.timers["a"][key] == 10.0  # RTX
    pair.fire("a")
    pair.fire("a")  # and the doubled RTX of the request sent again (Vol 3 Part A 6.2.1)
    # No answer: the peer counts as basic only, but its request showed it has ERTM.
    assert pair.a.links[HANDLE].peer_features == 0
    confirm = pair.last("a", L2caConnectCnf)
    assert isinstance(confirm, L2caConnectCnf) and confirm.parameters is not None
    assert confirm.parameters.mode is ERTM


@pytest.mark.parametrize("policy", list(ModePolicy))
def test_an_unanswered_information_request_of_a_basic_peer(policy: ModePolicy) -> None:
    pair = pair_with(b_modes=frozenset({ChannelMode.BASIC}))
    pair.drop = lose_information_responses
    pair.request("b", L2caRegisterPsmReq(1, PSM))
    pair.request("a", L2caConnectReq(2, HANDLE, PSM, mode=ERTM, mode_policy=policy))
    indication = pair.last("b", L2caConnectInd)
    assert isinstance(indication, L2caConnectInd)
    pair.request("b", L2caConnectRsp(HANDLE, indication.cid))
    pair.fire("a")
    pair.fire("a")  # and the doubled RTX of the request sent again (Vol 3 Part A 6.2.1)
    assert pair.a.links[HANDLE].peer_features == 0
    confirm = pair.last("a", L2caConnectCnf)
    assert isinstance(confirm, L2caConnectCnf)
    if policy is ModePolicy.REQUIRE:
        assert confirm.result == 0xFFFF and confirm.error
        assert pair.a.links[HANDLE].channels == {} and pair.b.links[HANDLE].channels == {}
    else:
        assert confirm.parameters is not None
        assert confirm.parameters.mode is ChannelMode.BASIC


# -- the data path ---------------------------------------------------------------------------


def opened(
    mode: ChannelMode = ERTM,
    a_settings: RetransmissionSettings | None = None,
    b_settings: RetransmissionSettings | None = None,
) -> tuple[CorePair, int, int]:
    pair = pair_with(a_settings=a_settings, b_settings=b_settings)
    confirm, indication = open_channel(pair, mode)
    assert confirm.result == 0 and indication is not None
    return pair, confirm.cid, indication.cid


def received(pair: CorePair, side: str, cid: int) -> list[bytes]:
    return [m.sdu for m in pair.up[side] if isinstance(m, L2caDataInd) and m.cid == cid]


def confirmed(pair: CorePair, side: str, cid: int) -> int:
    return sum(m.count for m in pair.up[side] if isinstance(m, L2caDataCnf) and m.cid == cid)


def i_frames(pair: CorePair, side: str, cid: int) -> list[bytes]:
    remote = ccb(pair, side, cid).remote_cid
    return [p for p in pair.wire[side] if l2cap.decode_basic_frame(p)[0] == remote]


@pytest.mark.parametrize("mode", [ERTM, STREAMING])
def test_sdus_go_both_ways_through_the_engines(mode: ChannelMode) -> None:
    pair, a_cid, b_cid = opened(
        mode,
        a_settings=RetransmissionSettings(mps=100, receive_limit=64),
        b_settings=RetransmissionSettings(mps=1010, receive_limit=64),
    )
    assert ccb(pair, "a", a_cid).engine is not None
    sdus = [bytes([n]) * (n * 53 % 600 + 1) for n in range(20)]
    for sdu in sdus:
        pair.request("a", L2caDataReq(HANDLE, a_cid, sdu))
        pair.request("b", L2caDataReq(HANDLE, b_cid, sdu[::-1]))
    if mode is ERTM:
        pair.fire("a", "acknowledgement")
        pair.fire("b", "acknowledgement")
    assert received(pair, "b", b_cid) == sdus
    assert received(pair, "a", a_cid) == [sdu[::-1] for sdu in sdus]
    # Every SDU is confirmed once delivered (ERTM: acknowledged; streaming: sent).
    assert confirmed(pair, "a", a_cid) == confirmed(pair, "b", b_cid) == len(sdus)
    # b's MPS is 1010 and a's 100: a's SDUs were cut to b's MPS, b's to a's.
    assert max(len(p) for p in i_frames(pair, "b", b_cid)) <= 100 + 4 + 2 + 2
    pair.request("a", L2caDisconnectReq(9, HANDLE, a_cid))
    assert pair.timers["a"] == {} and pair.timers["b"] == {}


def test_an_sdu_is_confirmed_only_when_the_peer_acknowledged_it() -> None:
    pair, a_cid, b_cid = opened()
    pair.request("a", L2caDataReq(HANDLE, a_cid, b"one"))
    assert received(pair, "b", b_cid) == [b"one"]
    assert confirmed(pair, "a", a_cid) == 0  # b acknowledges on its timer
    timers = {key.name for key in pair.timers["b"]}
    assert timers == {"acknowledgement"}
    [key] = pair.timers["b"]
    assert key.owner == EngineTimer(HANDLE, b_cid)
    pair.fire("b", "acknowledgement")
    assert confirmed(pair, "a", a_cid) == 1
    assert pair.timers["a"] == {}  # nothing unacknowledged: no retransmission timer


def test_a_lost_frame_is_sent_again_when_the_retransmission_timer_fires() -> None:
    pair, a_cid, b_cid = opened()
    remote = ccb(pair, "a", a_cid).remote_cid
    lost = [False]

    def lose_first_i_frame(side: str, pdu: bytes) -> bool:
        if side == "a" and not lost[0] and l2cap.decode_basic_frame(pdu)[0] == remote:
            lost[0] = True
            return True
        return False

    pair.drop = lose_first_i_frame
    pair.request("a", L2caDataReq(HANDLE, a_cid, b"lost once"))
    assert received(pair, "b", b_cid) == []
    assert {key.name for key in pair.timers["a"]} == {"retransmission"}
    pair.fire("a", "retransmission")  # a polls, b answers F=1, a sends the frame again
    pair.fire("b", "acknowledgement")
    assert received(pair, "b", b_cid) == [b"lost once"]
    assert confirmed(pair, "a", a_cid) == 1


def test_an_engine_failure_disconnects_with_its_reason() -> None:
    pair, _a_cid, b_cid = opened()
    remote = ccb(pair, "b", b_cid).remote_cid
    # An I-frame acknowledging frames b never sent (ReqSeq 5) breaks the channel (8.6.5.3).
    frame = encode_frame(remote, IFrame(0, 5, Sar.UNSEGMENTED, b"x"), FrameFormat(fcs=False))
    pair.deliver("b", AclDataInd(HANDLE, (frame,)), "hci")
    closed = pair.last("b", L2caDisconnectInd)
    assert isinstance(closed, L2caDisconnectInd) and "ReqSeq" in closed.reason
    assert pair.a.links[HANDLE].channels == {} and pair.b.links[HANDLE].channels == {}
    assert pair.timers["a"] == {} and pair.timers["b"] == {}


def test_an_unread_channel_holds_the_peer_back_until_read() -> None:
    settings = RetransmissionSettings(mps=100, receive_limit=2)
    pair, a_cid, b_cid = opened(b_settings=settings)
    for n in range(6):
        pair.request("a", L2caDataReq(HANDLE, a_cid, bytes([n])))
        pair.fire("b", "acknowledgement")
    # b delivered two and is locally busy (RNR): a keeps the rest.
    assert received(pair, "b", b_cid) == [b"\x00", b"\x01"]
    assert ccb(pair, "b", b_cid).engine.local_busy  # type: ignore[union-attr]
    pair.request("b", L2caDataRsp(HANDLE, b_cid, 2))
    for _ in range(4):
        pair.fire("a")
        pair.fire("b")
        pair.request("b", L2caDataRsp(HANDLE, b_cid, 2))
    assert received(pair, "b", b_cid) == [bytes([n]) for n in range(6)]
    assert confirmed(pair, "a", a_cid) == 6


def test_sdus_past_the_engines_queue_wait_in_order_until_it_has_room() -> None:
    settings = RetransmissionSettings(mps=100, transmit_limit=300)
    pair, a_cid, b_cid = opened(a_settings=settings)
    pair.drop = lambda side, pdu: side == "b"  # b's acknowledgements are lost for now
    sdus = [bytes([n]) * 250 for n in range(40)]
    for sdu in sdus:
        pair.request("a", L2caDataReq(HANDLE, a_cid, sdu))
    a = ccb(pair, "a", a_cid)
    assert a.held  # the engine's queue is full: the rest wait, not confirmed, not lost
    assert confirmed(pair, "a", a_cid) == 0
    pair.drop = lambda side, pdu: False
    for _ in range(40):
        if len(received(pair, "b", b_cid)) == len(sdus) and not a.held:
            break
        pair.request("b", L2caDataRsp(HANDLE, b_cid, len(sdus)))  # b's owner reads
        pair.fire("b", "acknowledgement")
        pair.fire("a", "retransmission")
        pair.fire("a", "monitor")
    assert received(pair, "b", b_cid)[: len(sdus)] == sdus
    pair.fire("b", "acknowledgement")
    assert confirmed(pair, "a", a_cid) == len(sdus)


def test_a_listener_requiring_a_mode_the_stack_lacks_is_refused_at_registration() -> None:
    pair = pair_with()
    [answer] = pair.request(
        "b",
        L2caRegisterPsmReq(1, PSM, mode=ChannelMode.RETRANSMISSION, mode_policy=ModePolicy.REQUIRE),
    )
    assert isinstance(answer, L2caCnf) and answer.result == 0xFFFF
    assert answer.error == "RETRANSMISSION mode is not available in this stack"
    # With fallback allowed it registers, and its channels are basic.
    [answer] = pair.request("b", L2caRegisterPsmReq(2, PSM, mode=ChannelMode.RETRANSMISSION))
    assert isinstance(answer, L2caCnf) and answer.result == 0
