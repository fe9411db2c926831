"""Configuration negotiation of a BR/EDR channel (Core 5.4 Vol 3 Part A 5, 7.1).

Each direction is negotiated on its own: our Configuration Request says what we receive (our
MTU) and the mode we want; the peer's says what it receives. A request is answered with
success, with "unacceptable parameters" and the values we would accept, with "unknown options"
listing the non-hint options we do not know, or with "rejected". Each side sends at most
:data:`MAX_CONFIG_ROUNDS` requests that fail; past that the channel is disconnected, so a
negotiation converges or fails in a bounded number of rounds.

Modes (5.4, 7.1): basic mode needs nothing of the peer. Enhanced Retransmission and
Streaming mode are run by :mod:`bluetrio.actors.l2cap.ertm`; before asking for one, the
channel learns the peer's extended features (an Information Request once per link, 4.10):
a peer that lacks the mode gets basic mode when the channel's policy allows it (a "state 1"
device of 5.4) and the channel is refused otherwise (state 2). Our request then carries the
Retransmission and Flow Control option with our real values (5.4), "No FCS" (5.5, used only
when the peer asks for it too) and the Extended Window Size option for a window over 63 when
the peer supports it (5.7). The peer's request is read option by option: a different mode,
a window or MPS we cannot run, an FCS, QoS or flow specification value outside its range is
answered "unacceptable parameters" with what we accept; our positive response to a request
for Enhanced Retransmission mode gives the time-outs the peer is to use (5.4, 8.6.2: 2 s and
12 s, since our flush timeout is infinite). A mode that the peer refuses falls back or fails
the same way, and a channel whose two directions end in different modes is disconnected.
"""

from __future__ import annotations

import attrs

from bluetrio.actors.l2cap.ertm import RetransmissionParameters
from bluetrio.actors.l2cap.ertm_config import (
    ENGINE_MODES,
    MODE_FEATURES,
    RetransmissionSettings,
    engine_parameters,
    peer_supports,
    request_options,
    response_option,
)
from bluetrio.messages.l2cap import (
    CONTINUATION_FLAG,
    DEFAULT_BR_EDR_MTU,
    MIN_BR_EDR_MTU,
    AnyOption,
    ChannelMode,
    ConfigurationResult,
    ExtendedFeature,
    ExtendedFlowSpecOption,
    ExtendedWindowSizeOption,
    FcsOption,
    FcsType,
    FlushTimeoutOption,
    MtuOption,
    QosOption,
    RetransmissionAndFlowControlOption,
    UnknownOption,
    unknown_non_hints,
)
from bluetrio.messages.l2cap.retransmission_frames import ENHANCED_SEQUENCE_MODULUS
from bluetrio.messages.l2cap_service import ChannelParameters, ModePolicy

MAX_CONFIG_ROUNDS = 4
# Options of one request, continuation included, held while the rest comes (Vol 3 Part A
# 4.4: a request may be split over several with the continuation flag).
MAX_PENDING_OPTION_OCTETS = 1024
INFINITE_FLUSH_TIMEOUT = 0xFFFF
SUPPORTED_MODES: frozenset[ChannelMode] = frozenset(
    {ChannelMode.BASIC, ChannelMode.ENHANCED_RETRANSMISSION, ChannelMode.STREAMING}
)
# The payload a retransmission-mode frame may carry, whatever its control field and FCS
# (RetransmissionParameters.problem): over the 8 octets of the largest overhead less the
# basic header, and no more than a PDU holds.
MIN_MPS = 9
MAX_MPS = 0xFFFF - 12 + 4
# Our MPS: what one I-frame carries (Bluedroid's L2CAP_DEFAULT_ERM_MPS is the same size).
DEFAULT_MPS = 1010
MAX_ENHANCED_WINDOW = 63  # TxWindow without the Extended Window Size option (5.4)
MAX_EXTENDED_WINDOW = 0x3FFF  # 5.7
MAX_SERVICE_TYPE = 0x02  # no traffic, best effort, guaranteed (5.3, 5.6)


def _shown_features(mode: ChannelMode, options: tuple[AnyOption, ...]) -> int:
    """The extended features (4.12) a peer has if it sent this request."""
    features = 0
    if mode in ENGINE_MODES:
        features |= MODE_FEATURES[mode]
    for option in options:
        if isinstance(option, FcsOption):
            features |= ExtendedFeature.FCS_OPTION
        elif isinstance(option, ExtendedWindowSizeOption):
            features |= ExtendedFeature.EXTENDED_WINDOW_SIZE
    return features


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
    # Our choices for a retransmission mode (None in basic mode).
    settings: RetransmissionSettings | None = None
    peer_features: int | None = None  # the peer's extended features, once known
    # Features the peer showed it has by its request (a mode it asks for, the FCS option).
    shown_features: int = 0
    our_options: tuple[AnyOption, ...] = ()  # our request as last sent
    peer_options: tuple[AnyOption, ...] = ()  # the peer's accepted request, as we answered it
    response_options: tuple[AnyOption, ...] = ()  # the peer's positive response to ours
    peer_mtu: int = DEFAULT_BR_EDR_MTU
    peer_flush_timeout: int = INFINITE_FLUSH_TIMEOUT
    peer_mode: ChannelMode = ChannelMode.BASIC
    our_rounds: int = 0  # our requests sent
    peer_failures: int = 0  # the peer's requests we refused
    pending_options: list[AnyOption] = attrs.Factory(list)
    pending_octets: int = 0
    our_done: bool = False
    peer_done: bool = False

    def __attrs_post_init__(self) -> None:
        if self.settings is None and self.mode in ENGINE_MODES:
            self.settings = RetransmissionSettings(mps=DEFAULT_MPS)

    # -- what we ask ---------------------------------------------------------------------------
    def mode_problem(self) -> str | None:
        """Why the channel cannot be opened in the mode asked for, or None (after falling back
        to basic mode when the policy allows)."""
        if self.mode in self.supported_modes:
            return None
        return self._fall_back(f"{self.mode.name} mode is not available in this stack")

    def _fall_back(self, why: str) -> str | None:
        """Basic mode instead when the policy allows it (None), else ``why``."""
        if self.mode_policy is ModePolicy.FALL_BACK_TO_BASIC:
            self.mode = ChannelMode.BASIC
            self.settings = None
            return None
        return why

    @property
    def needs_peer_features(self) -> bool:
        """Our request waits for the peer's extended features (a retransmission mode)."""
        return self.mode in ENGINE_MODES and self.peer_features is None

    def peer_features_known(self, features: int) -> str | None:
        """The peer's extended features (0 when it did not say): fall back to basic mode, or
        the reason the channel cannot be opened, when it lacks our mode (5.4); a window only
        the extended control field numbers shrinks to 63 when the peer lacks it (5.7)."""
        features |= self.shown_features
        self.peer_features = features
        if self.mode not in ENGINE_MODES:
            return None
        if not peer_supports(self.mode, features):
            return self._fall_back(f"the peer does not support {self.mode.name} mode")
        settings = self.settings
        assert settings is not None
        if settings.uses_extended_window() and not features & ExtendedFeature.EXTENDED_WINDOW_SIZE:
            self.settings = attrs.evolve(settings, tx_window=ENHANCED_SEQUENCE_MODULUS // 2)
        return None

    def our_request(self) -> tuple[AnyOption, ...]:
        """The options of our next Configuration Request (Vol 3 Part A 5): the MTU when it is
        not the default, and in a retransmission mode its option with our values, the FCS
        option and the Extended Window Size option (ertm_config.request_options)."""
        self.our_rounds += 1
        self.response_options = ()
        options: list[AnyOption] = []
        if self.mtu != DEFAULT_BR_EDR_MTU:
            options.append(MtuOption(self.mtu))
        if self.mode in ENGINE_MODES:
            assert self.settings is not None
            options += request_options(self.mode, self.settings, self.peer_features or 0)
        elif self.mode is not ChannelMode.BASIC:
            options.append(RetransmissionAndFlowControlOption(self.mode, 0, 0, 0, 0, 0))
        self.our_options = tuple(options)
        return self.our_options

    def on_our_response(
        self, result: int, flags: int, options: tuple[AnyOption, ...]
    ) -> OurResponseVerdict:
        """The peer answered our request (Vol 3 Part A 4.5)."""
        if result == ConfigurationResult.SUCCESS:
            # A positive response may give the values we are to use (the time-outs, 5.4).
            self.response_options += options
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
                failure = self._take_counter(option)
                if failure is not None:
                    return OurResponseVerdict(failure=failure)
            return OurResponseVerdict(retry=self.our_request())
        return OurResponseVerdict(
            failure=f"the peer refused our configuration (result 0x{result:04X})"
        )

    def _take_counter(self, option: AnyOption) -> str | None:
        """Adopt one value of the peer's "unacceptable parameters" response, or say why the
        channel cannot be opened."""
        settings = self.settings
        match option:
            case MtuOption(mtu=mtu):
                if mtu < MIN_BR_EDR_MTU:
                    return f"the peer wants MTU {mtu}"
                self.mtu = mtu
            case RetransmissionAndFlowControlOption(mode=mode) if mode != self.mode:
                if mode == ChannelMode.BASIC:
                    return self._fall_back(f"the peer refuses {self.mode.name} mode")
                return f"the peer refuses {self.mode.name} mode (it asks for mode {mode})"
            case RetransmissionAndFlowControlOption() if settings is not None:
                # The same mode with other values: the window and MPS we offer may shrink.
                window = settings.tx_window
                if self.mode is ChannelMode.ENHANCED_RETRANSMISSION and option.tx_window_size:
                    window = min(window, option.tx_window_size)
                mps = settings.mps
                if MIN_MPS <= option.maximum_pdu_size < mps:
                    mps = option.maximum_pdu_size
                self.settings = attrs.evolve(settings, tx_window=window, mps=mps)
            case FcsOption(fcs_type=fcs_type) if settings is not None:
                # The peer wants the FCS (5.5): we stop asking for none.
                self.settings = attrs.evolve(settings, fcs=fcs_type != FcsType.NO_FCS)
            case ExtendedWindowSizeOption(max_window_size=size) if settings is not None:
                if 1 <= size < settings.tx_window:
                    self.settings = attrs.evolve(settings, tx_window=size)
        return None

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
        mode: int = ChannelMode.BASIC
        window_option: ExtendedWindowSizeOption | None = None
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
                    mode = value
                case FcsOption(fcs_type=value):
                    if value not in FcsType._value2member_map_:
                        counter.append(FcsOption(FcsType.FCS_16))
                case QosOption(service_type=value) | ExtendedFlowSpecOption(service_type=value):
                    # Best effort is what this stack gives a channel; any valid service type
                    # is taken as a wish (5.3, 5.6), an invalid one countered.
                    if value > MAX_SERVICE_TYPE:
                        counter.append(attrs.evolve(option, service_type=1))
                case ExtendedWindowSizeOption(max_window_size=value):
                    window_option = option
                    if not 1 <= value <= MAX_EXTENDED_WINDOW:
                        counter.append(
                            ExtendedWindowSizeOption(min(max(value, 1), MAX_EXTENDED_WINDOW))
                        )
                case UnknownOption():
                    pass  # a hint (the non-hints were refused above)
        rfc = next((o for o in options if isinstance(o, RetransmissionAndFlowControlOption)), None)
        if mode != self.mode and self._takes_basic_instead(mode):
            pass  # self.mode is basic now
        elif mode != self.mode:
            # A mode we do not run on this channel: counter with ours (5.4).
            counter.append(self._our_mode_option())
        elif rfc is not None and mode in ENGINE_MODES:
            counter += self._check_retransmission_values(rfc, window_option)
        if counter:
            return self._refuse(ConfigurationResult.UNACCEPTABLE_PARAMETERS, tuple(counter))
        self.peer_mtu = mtu
        self.peer_flush_timeout = flush_timeout
        self.peer_mode = ChannelMode(mode)
        self.shown_features |= _shown_features(self.peer_mode, options)
        self.peer_done = True
        if rfc is None or mode not in ENGINE_MODES:
            self.peer_options = options
            return PeerRequestVerdict(ConfigurationResult.SUCCESS)
        # The positive response carries the option with the MPS we will send (at most what
        # the peer receives, 5.4) and, in Enhanced Retransmission mode, the time-outs.
        answered = response_option(
            attrs.evolve(rfc, maximum_pdu_size=min(rfc.maximum_pdu_size, MAX_MPS))
        )
        self.peer_options = tuple(answered if o is rfc else o for o in options)
        return PeerRequestVerdict(ConfigurationResult.SUCCESS, (answered,))

    def _takes_basic_instead(self, peer_mode: int) -> bool:
        """A peer asking for basic mode before it accepted ours gets it when our policy
        allows (5.4: a "state 1" device), whether or not it has our mode: it may want basic
        mode for this PSM, and insisting would never converge with a peer that does."""
        if peer_mode != ChannelMode.BASIC or self.our_done:
            return False
        return self._fall_back("") is None

    def _our_mode_option(self) -> RetransmissionAndFlowControlOption:
        if self.mode in ENGINE_MODES:
            assert self.settings is not None
            ours = request_options(self.mode, self.settings, self.peer_features or 0)[0]
            assert isinstance(ours, RetransmissionAndFlowControlOption)
            return ours
        return RetransmissionAndFlowControlOption(ChannelMode.BASIC, 0, 0, 0, 0, 0)

    def _check_retransmission_values(
        self,
        rfc: RetransmissionAndFlowControlOption,
        window_option: ExtendedWindowSizeOption | None,
    ) -> list[AnyOption]:
        """The values of the peer's retransmission-mode option we cannot run, countered."""
        good = rfc
        if rfc.maximum_pdu_size < MIN_MPS:
            good = attrs.evolve(good, maximum_pdu_size=MIN_MPS)
        if (
            rfc.mode == ChannelMode.ENHANCED_RETRANSMISSION
            and window_option is None
            and not 1 <= rfc.tx_window_size <= MAX_ENHANCED_WINDOW
        ):
            good = attrs.evolve(
                good, tx_window_size=min(max(rfc.tx_window_size, 1), MAX_ENHANCED_WINDOW)
            )
        return [] if good is rfc else [good]

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

    @property
    def mode_mismatch(self) -> str | None:
        """Why the two directions cannot run together: they settled on different modes."""
        if self.mode == self.peer_mode:
            return None
        return f"the peer configured {self.peer_mode.name} mode and we {self.mode.name} mode"

    def parameters(self) -> ChannelParameters:
        mode = self.mode if self.mode == self.peer_mode else ChannelMode.BASIC
        return ChannelParameters(self.mtu, self.peer_mtu, mode, self.peer_flush_timeout)

    def engine_parameters(self, remote_cid: int) -> RetransmissionParameters | None:
        """The retransmission engine's parameters of a channel configured in Enhanced
        Retransmission or Streaming mode (None in basic mode); InvalidArgumentError when the
        options settle nothing the engine can run."""
        if self.mode not in ENGINE_MODES or self.settings is None:
            return None
        return engine_parameters(
            remote_cid=remote_cid,
            local_mtu=self.mtu,
            remote_mtu=self.peer_mtu,
            settings=self.settings,
            our_request=self.our_options,
            peer_request=self.peer_options,
            peer_response=self.response_options,
        )
