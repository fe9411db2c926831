"""From configuration options to a running retransmission engine (Core 5.4 Vol 3 Part A 4.12,
5.4-5.7): which mode the peer can do, what we put in our Configuration Request, and the
:class:`~bluetrio.actors.l2cap.ertm.RetransmissionParameters` both requests and our response
settle.

Each direction is configured by the request of the side that receives it: the Retransmission
and Flow Control option (5.4) in a request says what its sender can receive (TxWindow, MPS)
and how often the other side may transmit one I-frame (MaxTransmit), so our engine takes its
receive limits from our request and its transmit limits from the peer's. For Enhanced
Retransmission mode the time-outs of a request are 0 and the response gives the values its
receiver is to use (5.4), so ours come from the peer's response to our request. The FCS is
left out only when both requests carry the FCS option with "No FCS" (5.5), and the extended
control field is used as soon as either request carries the Extended Window Size option (5.7).
"""

from __future__ import annotations

from typing import TypeVar

import attrs

from bluetrio.actors.l2cap.ertm import (
    DEFAULT_MONITOR_TIMEOUT,
    DEFAULT_RETRANSMISSION_TIMEOUT,
    MAX_ENHANCED_TX_WINDOW,
    Recovery,
    RetransmissionMode,
    RetransmissionParameters,
)
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.l2cap.constants import ChannelMode, ExtendedFeature, FcsType
from bluetrio.messages.l2cap.options import (
    AnyOption,
    ExtendedWindowSizeOption,
    FcsOption,
    RetransmissionAndFlowControlOption,
)
from bluetrio.messages.l2cap.retransmission_frames import (
    ENHANCED_SEQUENCE_MODULUS,
    EXTENDED_SEQUENCE_MODULUS,
    FrameFormat,
)

T = TypeVar("T")

ENGINE_MODES: dict[ChannelMode, RetransmissionMode] = {
    ChannelMode.ENHANCED_RETRANSMISSION: RetransmissionMode.ENHANCED_RETRANSMISSION,
    ChannelMode.STREAMING: RetransmissionMode.STREAMING,
}
# What the engine lets us announce in the Information Response (4.12, table 4.14).
ENGINE_FEATURES = (
    ExtendedFeature.ENHANCED_RETRANSMISSION_MODE
    | ExtendedFeature.STREAMING_MODE
    | ExtendedFeature.FCS_OPTION
    | ExtendedFeature.EXTENDED_WINDOW_SIZE
)
MODE_FEATURES = {
    ChannelMode.ENHANCED_RETRANSMISSION: ExtendedFeature.ENHANCED_RETRANSMISSION_MODE,
    ChannelMode.STREAMING: ExtendedFeature.STREAMING_MODE,
}


def peer_supports(mode: ChannelMode, extended_features: int) -> bool:
    """Whether a peer whose Information Response gave ``extended_features`` can run ``mode``
    (basic mode needs no feature bit)."""
    feature = MODE_FEATURES.get(mode)
    if feature is None:
        return mode is ChannelMode.BASIC
    return bool(extended_features & feature)


@attrs.frozen
class RetransmissionSettings:
    """Our side's choices for a channel in Enhanced Retransmission or Streaming mode."""

    mps: int
    tx_window: int = ENHANCED_SEQUENCE_MODULUS // 2  # I-frames we take unacknowledged
    max_transmit: int = 3  # how often the peer may send one I-frame (0: without limit)
    # Ask for "No FCS" (5.5): HCI ACL under us is already checked by the baseband, and the
    # CRC is the dearest part of the data path in Python (about a fifth of the throughput).
    # The FCS is still used whenever the peer does not ask for "No FCS" too.
    fcs: bool = False
    recovery: Recovery = Recovery.SREJ
    transmit_limit: int = 64 * 1024
    # SDUs delivered and not yet read before we are locally busy (RNR): two windows, so a
    # reader that runs a moment after L2CAP does not hold the peer back at every burst.
    receive_limit: int = 64

    def uses_extended_window(self) -> bool:
        """A window over what the enhanced control field can number safely needs the
        Extended Window Size option (5.7) and the extended control field."""
        return self.tx_window > ENHANCED_SEQUENCE_MODULUS // 2


def request_options(
    mode: ChannelMode, settings: RetransmissionSettings, peer_features: int
) -> tuple[AnyOption, ...]:
    """The options of our Configuration Request for ``mode`` besides the MTU."""
    if mode not in ENGINE_MODES:
        raise InvalidArgumentError(f"{mode.name} is not run by the retransmission engine")
    if settings.uses_extended_window() and not peer_features & ExtendedFeature.EXTENDED_WINDOW_SIZE:
        raise InvalidArgumentError(
            f"a window of {settings.tx_window} needs the peer's Extended Window Size support"
        )
    streaming = mode is ChannelMode.STREAMING
    options: list[AnyOption] = [
        RetransmissionAndFlowControlOption(
            mode=mode,
            # Streaming mode has no window and no retransmission: both 0 (5.4).
            tx_window_size=0 if streaming else min(settings.tx_window, MAX_ENHANCED_TX_WINDOW),
            max_transmit=0 if streaming else settings.max_transmit,
            retransmission_timeout=0,  # given by the response in these modes (5.4)
            monitor_timeout=0,
            maximum_pdu_size=settings.mps,
        )
    ]
    if not settings.fcs and peer_features & ExtendedFeature.FCS_OPTION:
        options.append(FcsOption(fcs_type=FcsType.NO_FCS))
    if settings.uses_extended_window():
        options.append(ExtendedWindowSizeOption(max_window_size=settings.tx_window))
    return tuple(options)


def response_option(
    peer_request: RetransmissionAndFlowControlOption,
) -> RetransmissionAndFlowControlOption:
    """The Retransmission and Flow Control option of our positive response to the peer's
    request: its values, with the time-outs the peer is to use (5.4)."""
    if peer_request.mode != ChannelMode.ENHANCED_RETRANSMISSION:
        return peer_request
    return attrs.evolve(
        peer_request,
        retransmission_timeout=round(DEFAULT_RETRANSMISSION_TIMEOUT * 1000),
        monitor_timeout=round(DEFAULT_MONITOR_TIMEOUT * 1000),
    )


def _option_of(options: tuple[AnyOption, ...], kind: type[T]) -> T | None:
    for option in options:
        if isinstance(option, kind):
            return option
    return None


def engine_parameters(
    *,
    remote_cid: int,
    local_mtu: int,
    remote_mtu: int,
    settings: RetransmissionSettings,
    our_request: tuple[AnyOption, ...],
    peer_request: tuple[AnyOption, ...],
    peer_response: tuple[AnyOption, ...] = (),
) -> RetransmissionParameters:
    """The engine parameters of a channel whose configuration completed with these options;
    InvalidArgumentError when they disagree on the mode or describe no runnable channel."""
    ours = _option_of(our_request, RetransmissionAndFlowControlOption)
    theirs = _option_of(peer_request, RetransmissionAndFlowControlOption)
    if ours is None or theirs is None or ours.mode != theirs.mode or ours.mode not in ENGINE_MODES:
        raise InvalidArgumentError("both requests must ask for the same retransmission mode")
    mode = ENGINE_MODES[ChannelMode(ours.mode)]
    our_fcs = _option_of(our_request, FcsOption)
    their_fcs = _option_of(peer_request, FcsOption)
    no_fcs = all(
        option is not None and option.fcs_type == FcsType.NO_FCS for option in (our_fcs, their_fcs)
    )
    our_window_option = _option_of(our_request, ExtendedWindowSizeOption)
    their_window_option = _option_of(peer_request, ExtendedWindowSizeOption)
    extended = our_window_option is not None or their_window_option is not None
    modulus = EXTENDED_SEQUENCE_MODULUS if extended else ENHANCED_SEQUENCE_MODULUS
    local_window = (
        our_window_option.max_window_size if our_window_option is not None else ours.tx_window_size
    )
    remote_window = (
        their_window_option.max_window_size
        if their_window_option is not None
        else theirs.tx_window_size
    )
    timeouts = _option_of(peer_response, RetransmissionAndFlowControlOption)
    retransmission = DEFAULT_RETRANSMISSION_TIMEOUT
    monitor = DEFAULT_MONITOR_TIMEOUT
    if timeouts is not None and timeouts.retransmission_timeout and timeouts.monitor_timeout:
        retransmission = timeouts.retransmission_timeout / 1000
        monitor = timeouts.monitor_timeout / 1000
    streaming = mode is RetransmissionMode.STREAMING
    return RetransmissionParameters(
        mode=mode,
        remote_cid=remote_cid,
        local_mtu=local_mtu,
        local_mps=ours.maximum_pdu_size,
        remote_mtu=remote_mtu,
        remote_mps=theirs.maximum_pdu_size,
        # Streaming mode keeps no window; the engine ignores these values there.
        local_tx_window=max(1, min(local_window, modulus // 2)) if streaming else local_window,
        remote_tx_window=max(1, remote_window) if streaming else remote_window,
        max_transmit=theirs.max_transmit,
        retransmission_timeout=retransmission,
        monitor_timeout=monitor,
        frame_format=FrameFormat(extended_control=extended, fcs=not no_fcs),
        recovery=settings.recovery,
        transmit_limit=settings.transmit_limit,
        receive_limit=settings.receive_limit,
    )
