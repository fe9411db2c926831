"""Configuration options to retransmission engine parameters (Core 5.4 Vol 3 Part A 4.12,
5.4-5.7): each side's request bounds what the other sends, FCS left out only when both ask,
the extended control field with the Extended Window Size option."""

from __future__ import annotations

import pytest
from test_l2cap_ertm_pipe import Impairments, Pipe, Side

from bluetrio.actors.l2cap.ertm import RetransmissionChannel
from bluetrio.actors.l2cap.ertm_config import (
    ENGINE_FEATURES,
    ENGINE_MODES,
    RetransmissionSettings,
    engine_parameters,
    peer_supports,
    request_options,
    response_option,
)
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.l2cap.constants import ChannelMode, ExtendedFeature, FcsType
from bluetrio.messages.l2cap.options import (
    AnyOption,
    ExtendedWindowSizeOption,
    FcsOption,
    RetransmissionAndFlowControlOption,
)

ERTM = ChannelMode.ENHANCED_RETRANSMISSION
ALL = int(ENGINE_FEATURES)


def test_peer_support_comes_from_the_extended_features() -> None:
    assert peer_supports(ChannelMode.BASIC, 0)
    assert not peer_supports(ERTM, 0)
    assert peer_supports(ERTM, ExtendedFeature.ENHANCED_RETRANSMISSION_MODE)
    assert not peer_supports(ChannelMode.STREAMING, ExtendedFeature.ENHANCED_RETRANSMISSION_MODE)
    assert peer_supports(ChannelMode.STREAMING, ExtendedFeature.STREAMING_MODE)
    assert not peer_supports(ChannelMode.RETRANSMISSION, ALL)


def test_our_request() -> None:
    options = request_options(ERTM, RetransmissionSettings(mps=500, tx_window=20, fcs=True), ALL)
    assert options == (
        RetransmissionAndFlowControlOption(
            mode=ERTM,
            tx_window_size=20,
            max_transmit=3,
            retransmission_timeout=0,
            monitor_timeout=0,
            maximum_pdu_size=500,
        ),
    )
    streaming = request_options(ChannelMode.STREAMING, RetransmissionSettings(mps=500), ALL)
    assert isinstance(streaming[0], RetransmissionAndFlowControlOption)
    assert streaming[0].tx_window_size == streaming[0].max_transmit == 0


def test_by_default_we_ask_for_no_fcs_of_a_peer_that_knows_the_option() -> None:
    settings = RetransmissionSettings(mps=500)
    assert FcsOption(fcs_type=FcsType.NO_FCS) in request_options(ERTM, settings, ALL)
    without_option = ExtendedFeature.ENHANCED_RETRANSMISSION_MODE
    assert not any(
        isinstance(o, FcsOption) for o in request_options(ERTM, settings, without_option)
    )


def test_no_fcs_and_extended_window_options() -> None:
    settings = RetransmissionSettings(mps=500, tx_window=1000, fcs=False)
    options = request_options(ERTM, settings, ALL)
    assert FcsOption(fcs_type=FcsType.NO_FCS) in options
    assert ExtendedWindowSizeOption(max_window_size=1000) in options
    with pytest.raises(InvalidArgumentError):
        request_options(ERTM, settings, ExtendedFeature.ENHANCED_RETRANSMISSION_MODE)
    with pytest.raises(InvalidArgumentError):
        request_options(ChannelMode.BASIC, settings, ALL)


def test_the_response_gives_the_time_outs() -> None:
    [request] = request_options(ERTM, RetransmissionSettings(mps=500, fcs=True), ALL)
    assert isinstance(request, RetransmissionAndFlowControlOption)
    response = response_option(request)
    assert (response.retransmission_timeout, response.monitor_timeout) == (2000, 12000)


def negotiate(
    mode: ChannelMode, a: RetransmissionSettings, b: RetransmissionSettings
) -> tuple[RetransmissionChannel, RetransmissionChannel]:
    a_request = request_options(mode, a, ALL)
    b_request = request_options(mode, b, ALL)

    def responded(request: tuple[AnyOption, ...]) -> tuple[AnyOption, ...]:
        return tuple(
            response_option(o) if isinstance(o, RetransmissionAndFlowControlOption) else o
            for o in request
        )

    engine_a = RetransmissionChannel(
        engine_parameters(
            remote_cid=0x41,
            local_mtu=2000,
            remote_mtu=3000,
            settings=a,
            our_request=a_request,
            peer_request=b_request,
            peer_response=responded(a_request),
        )
    )
    engine_b = RetransmissionChannel(
        engine_parameters(
            remote_cid=0x40,
            local_mtu=3000,
            remote_mtu=2000,
            settings=b,
            our_request=b_request,
            peer_request=a_request,
            peer_response=responded(b_request),
        )
    )
    return engine_a, engine_b


def test_each_request_bounds_what_the_other_side_sends() -> None:
    a, b = negotiate(
        ERTM,
        RetransmissionSettings(mps=100, tx_window=5, max_transmit=7),
        RetransmissionSettings(mps=300, tx_window=9, max_transmit=0),
    )
    assert (a.parameters.local_mps, a.parameters.remote_mps) == (100, 300)
    assert (a.parameters.local_tx_window, a.parameters.remote_tx_window) == (5, 9)
    assert (a.parameters.max_transmit, b.parameters.max_transmit) == (0, 7)
    assert a.parameters.retransmission_timeout == 2.0
    # By default both ask for "No FCS", so neither side sends one.
    assert a.format == b.format and not a.format.fcs and not a.format.extended_control


@pytest.mark.parametrize(
    ("a_fcs", "b_fcs", "fcs"), [(True, True, True), (False, True, True), (False, False, False)]
)
def test_fcs_is_left_out_only_when_both_ask(a_fcs: bool, b_fcs: bool, fcs: bool) -> None:
    a, b = negotiate(
        ERTM, RetransmissionSettings(mps=100, fcs=a_fcs), RetransmissionSettings(mps=100, fcs=b_fcs)
    )
    assert a.format.fcs is b.format.fcs is fcs


def test_one_extended_window_option_makes_both_use_the_extended_control_field() -> None:
    a, b = negotiate(
        ERTM, RetransmissionSettings(mps=100, tx_window=2000), RetransmissionSettings(mps=100)
    )
    assert a.format.extended_control and b.format.extended_control
    assert a.parameters.local_tx_window == b.parameters.remote_tx_window == 2000


def test_disagreeing_modes_are_refused() -> None:
    settings = RetransmissionSettings(mps=100)
    with pytest.raises(InvalidArgumentError):
        engine_parameters(
            remote_cid=0x41,
            local_mtu=100,
            remote_mtu=100,
            settings=settings,
            our_request=request_options(ERTM, settings, ALL),
            peer_request=request_options(ChannelMode.STREAMING, settings, ALL),
        )


@pytest.mark.parametrize("mode", [ERTM, ChannelMode.STREAMING])
@pytest.mark.parametrize("window", [4, 32, 3000])
def test_negotiated_engines_carry_sdus_both_ways(mode: ChannelMode, window: int) -> None:
    a, b = negotiate(
        mode,
        RetransmissionSettings(mps=64, tx_window=window, fcs=False),
        RetransmissionSettings(mps=200, tx_window=window),
    )
    expected_mode = ENGINE_MODES[mode]
    assert a.parameters.mode is b.parameters.mode is expected_mode
    sdus = [bytes([n]) * (n * 37 % 1500) for n in range(40)]
    pipe = Pipe(Side("a", a, sdus), Side("b", b, sdus[::-1]), Impairments(), seed=0)
    pipe.run((sdus, sdus[::-1]), max_steps=100_000)
    assert pipe.sides[1].received == sdus
    assert pipe.sides[0].received == sdus[::-1]
