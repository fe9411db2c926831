"""Configuration negotiation of a BR/EDR channel (Core 5.4 Vol 3 Part A 5, 7.1).

Each direction is negotiated on its own: our Configuration Request says what we receive (our
MTU) and the mode we want; the peer's says what it receives. A request is answered with
success, with "unacceptable parameters" and the values we would accept, with "unknown options"
listing the non-hint options we do not know, or with "rejected". Each side sends at most
:data:`MAX_CONFIG_ROUNDS` requests that fail; past that the channel is disconnected, so a
negotiation converges or fails in a bounded number of rounds.

Modes: basic mode is complete. The modes an engine is installed for are listed in
``supported_modes`` (the ERTM/streaming engine adds itself); a mode asked for without its
engine falls back to basic when the channel's policy allows it, and otherwise the channel is
refused cleanly.
"""

from __future__ import annotations

import attrs

from bluetrio.messages.l2cap import (
    CONTINUATION_FLAG,
    DEFAULT_BR_EDR_MTU,
    MIN_BR_EDR_MTU,
    AnyOption,
    ChannelMode,
    ConfigurationResult,
    ExtendedFlowSpecOption,
    ExtendedWindowSizeOption,
    FcsOption,
    FlushTimeoutOption,
    MtuOption,
    QosOption,
    RetransmissionAndFlowControlOption,
    UnknownOption,
    unknown_non_hints,
)
from bluetrio.messages.l2cap_service import ChannelParameters, ModePolicy

MAX_CONFIG_ROUNDS = 4
# Options of one request, continuation included, held while the rest comes (Vol 3 Part A
# 4.4: a request may be split over several with the continuation flag).
MAX_PENDING_OPTION_OCTETS = 1024
INFINITE_FLUSH_TIMEOUT = 0xFFFF
SUPPORTED_MODES: frozenset[ChannelMode] = frozenset({ChannelMode.BASIC})


@attrs.frozen
class PeerRequestVerdict:
    """How to answer one of the peer's Configuration Requests."""

    result: ConfigurationResult
    options: tuple[AnyOption, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.result is ConfigurationResult.SUCCESS


@attrs.frozen
class OurResponseVerdict:
    """What to do after the peer answered our request: done, send ``retry``, or fail."""

    done: bool = False
    retry: tuple[AnyOption, ...] | None = None
    failure: str | None = None
    pending: bool = False


@attrs.define
class Negotiation:
    """Both directions of one channel's configuration."""

    mtu: int  # what we receive
    mode: ChannelMode
    mode_policy: ModePolicy
    supported_modes: frozenset[ChannelMode] = SUPPORTED_MODES
    peer_mtu: int = DEFAULT_BR_EDR_MTU
    peer_flush_timeout: int = INFINITE_FLUSH_TIMEOUT
    peer_mode: ChannelMode = ChannelMode.BASIC
    our_rounds: int = 0  # our requests sent
    peer_failures: int = 0  # the peer's requests we refused
    pending_options: list[AnyOption] = attrs.Factory(list)
    pending_octets: int = 0
    our_done: bool = False
    peer_done: bool = False

    # -- what we ask ---------------------------------------------------------------------------
    def mode_problem(self) -> str | None:
        """Why the channel cannot be opened in the mode asked for, or None (after falling back
        to basic mode when the policy allows)."""
        if self.mode in self.supported_modes:
            return None
        if self.mode_policy is ModePolicy.FALL_BACK_TO_BASIC:
            self.mode = ChannelMode.BASIC
            return None
        return f"{self.mode.name} mode is not available in this stack"

    def our_request(self) -> tuple[AnyOption, ...]:
        """The options of our next Configuration Request (Vol 3 Part A 5): the MTU when it is
        not the default, and the mode when it is not basic."""
        self.our_rounds += 1
        options: list[AnyOption] = []
        if self.mtu != DEFAULT_BR_EDR_MTU:
            options.append(MtuOption(self.mtu))
        if self.mode is not ChannelMode.BASIC:
            options.append(RetransmissionAndFlowControlOption(self.mode, 0, 0, 0, 0, 0))
        return tuple(options)

    def on_our_response(
        self, result: int, flags: int, options: tuple[AnyOption, ...]
    ) -> OurResponseVerdict:
        """The peer answered our request (Vol 3 Part A 4.5)."""
        if result == ConfigurationResult.SUCCESS:
            if flags & CONTINUATION_FLAG:
                return OurResponseVerdict(pending=True)
            self.our_done = True
            return OurResponseVerdict(done=True)
        if result == ConfigurationResult.PENDING:
            return OurResponseVerdict(pending=True)
        if self.our_rounds >= MAX_CONFIG_ROUNDS:
            return OurResponseVerdict(
                failure=f"configuration did not converge in {MAX_CONFIG_ROUNDS} requests"
            )
        if result == ConfigurationResult.UNACCEPTABLE_PARAMETERS:
            for option in options:
                if isinstance(option, MtuOption):
                    if option.mtu < MIN_BR_EDR_MTU:
                        return OurResponseVerdict(failure=f"the peer wants MTU {option.mtu}")
                    self.mtu = option.mtu
                elif (
                    isinstance(option, RetransmissionAndFlowControlOption)
                    and option.mode != self.mode
                ):
                    if (
                        option.mode == ChannelMode.BASIC
                        and self.mode_policy is ModePolicy.FALL_BACK_TO_BASIC
                    ):
                        self.mode = ChannelMode.BASIC
                    else:
                        return OurResponseVerdict(failure=f"the peer refuses {self.mode.name} mode")
            return OurResponseVerdict(retry=self.our_request())
        return OurResponseVerdict(
            failure=f"the peer refused our configuration (result 0x{result:04X})"
        )

    # -- what the peer asks --------------------------------------------------------------------
    def collect(self, flags: int, options: tuple[AnyOption, ...], octets: int) -> bool:
        """Hold the options of a request; True when the request is complete (no continuation
        flag). False with the continuation flag set; raises ValueError when the pieces
        together exceed :data:`MAX_PENDING_OPTION_OCTETS`."""
        self.pending_octets += octets
        if self.pending_octets > MAX_PENDING_OPTION_OCTETS:
            self.pending_options.clear()
            self.pending_octets = 0
            raise ValueError("the peer's configuration request continues without end")
        self.pending_options.extend(options)
        return not flags & CONTINUATION_FLAG

    def on_peer_request(self) -> PeerRequestVerdict:
        """Judge the peer's complete request (Vol 3 Part A 5.1-5.7, 7.1.3)."""
        options = tuple(self.pending_options)
        self.pending_options.clear()
        self.pending_octets = 0
        unknown = unknown_non_hints(options)
        if unknown:
            return self._refuse(ConfigurationResult.UNKNOWN_OPTIONS, unknown)
        mtu = DEFAULT_BR_EDR_MTU
        flush_timeout = self.peer_flush_timeout
        mode = ChannelMode.BASIC
        counter: list[AnyOption] = []
        for option in options:
            match option:
                case MtuOption(mtu=value):
                    if value < MIN_BR_EDR_MTU:
                        counter.append(MtuOption(MIN_BR_EDR_MTU))
                    mtu = value
                case FlushTimeoutOption(flush_timeout=value):
                    flush_timeout = value
                case RetransmissionAndFlowControlOption(mode=value):
                    if value not in self.supported_modes:
                        # Counter with the mode we run: basic, or ours when we have its engine.
                        ours = self.mode if self.mode in self.supported_modes else ChannelMode.BASIC
                        counter.append(RetransmissionAndFlowControlOption(ours, 0, 0, 0, 0, 0))
                    else:
                        mode = ChannelMode(value)
                case QosOption() | FcsOption() | ExtendedFlowSpecOption():
                    pass  # best effort on this link; FCS and flow specs matter only to ERTM
                case ExtendedWindowSizeOption():
                    pass
                case UnknownOption():
                    pass  # a hint (the non-hints were refused above)
        if counter:
            return self._refuse(ConfigurationResult.UNACCEPTABLE_PARAMETERS, tuple(counter))
        self.peer_mtu = mtu
        self.peer_flush_timeout = flush_timeout
        self.peer_mode = mode
        self.peer_done = True
        return PeerRequestVerdict(ConfigurationResult.SUCCESS)

    def _refuse(
        self, result: ConfigurationResult, options: tuple[AnyOption, ...]
    ) -> PeerRequestVerdict:
        self.peer_failures += 1
        return PeerRequestVerdict(result, options)

    @property
    def peer_gave_up(self) -> bool:
        return self.peer_failures >= MAX_CONFIG_ROUNDS

    @property
    def complete(self) -> bool:
        return self.our_done and self.peer_done

    def parameters(self) -> ChannelParameters:
        mode = self.mode if self.mode == self.peer_mode else ChannelMode.BASIC
        return ChannelParameters(self.mtu, self.peer_mtu, mode, self.peer_flush_timeout)
