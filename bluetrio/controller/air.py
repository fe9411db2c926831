"""The shared virtual "air": broadcast and addressed frames, links, and fault injection.

Controllers in one Trio run share an :class:`Air`. It does not interpret frames: LE frames
(``le_pdus``) and BR/EDR frames (``bredr``) are plain attrs objects deriving from
:class:`Frame`. The air decides *when* (timing model, delay faults) and *whether*
(drop/corrupt faults, dropped links) a frame reaches the other radios, and hands it to each
receiver's own timer queue, so delivery happens in the receiver's task and in order. On the
instant air without fault rules, the frames sent on a link before its receiver runs travel
as one burst: one callback in the receiver delivers them all, in order.

Everything here is synchronous: the air is called from the controllers' Trio tasks and never
awaits. It is a "Trio object" only in that :func:`default_air` keeps one per Trio run.
"""

from __future__ import annotations

import enum
import functools
import itertools
from collections.abc import Callable, Iterator
from typing import ClassVar, Protocol

import attrs
import trio

from bluetrio.address import Address
from bluetrio.controller.config import Phy, TimingModel


@attrs.frozen
class Frame:
    """Base of everything sent over the air (an LL PDU, an LMP PDU, an ACL fragment...)."""

    # Dropped by the "refuse connections" fault when aimed at a refusing radio.
    IS_CONNECTION_REQUEST: ClassVar[bool] = False

    @property
    def payload_length(self) -> int:
        """Bytes charged by the realistic timing model."""
        return 0

    def corrupted(self) -> Frame:
        """This frame after bit errors the CRC did not catch (corrupt fault)."""
        return self


class Radio(Protocol):
    """What the air needs from a controller."""

    @property
    def public_address(self) -> Address: ...

    def answers_to(self, address: Address) -> bool:
        """Whether a frame addressed to ``address`` is for this radio."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> object:
        """Run ``callback`` in the radio's own task ``delay`` seconds from now (FIFO)."""
        ...

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` in the radio's own task as soon as it runs (FIFO, no timer)."""
        ...

    def on_frame(self, frame: Frame, link: Link | None) -> None: ...

    def on_link_lost(self, link: Link) -> None:
        """The link's supervision timer expired (Vol 6 Part B 4.5.2; Vol 2 Part B 3.1)."""
        ...


class LinkKind(enum.Enum):
    LE = "le"
    BR_EDR = "br-edr"


_link_ids = itertools.count(1)


@attrs.define(eq=False)
class Link:
    """A connection between two radios; both controllers' ACL and control traffic rides on it."""

    kind: LinkKind
    central: Radio
    peripheral: Radio
    supervision_timeout: float
    phy: Phy
    id: int = attrs.field(factory=lambda: next(_link_ids))
    open: bool = True
    dropped: bool = False  # the "drop link" fault: nothing goes through any more
    # Per-direction time of the last scheduled delivery, to keep a link in order (LL and
    # baseband both deliver in sequence: Vol 6 Part B 4.5.9, Vol 2 Part B 7.6).
    _last_delivery: dict[int, float] = attrs.field(factory=dict, repr=False)
    _busy_until: dict[int, float] = attrs.field(factory=dict, repr=False)
    # Per receiver: frames sent on the instant air and not yet delivered (one burst).
    _bursts: dict[int, list[Frame]] = attrs.field(factory=dict, repr=False)

    def peer_of(self, radio: Radio) -> Radio:
        return self.peripheral if radio is self.central else self.central

    def has(self, radio: Radio) -> bool:
        return radio is self.central or radio is self.peripheral


FramePredicate = Callable[[Frame], bool]


class FaultAction(enum.Enum):
    DROP = "drop"
    CORRUPT = "corrupt"
    DELAY = "delay"


@attrs.define(eq=False)
class FaultRule:
    """Frames matching ``predicate`` get ``action``, ``remaining`` times (None: always)."""

    predicate: FramePredicate
    action: FaultAction
    remaining: int | None = None
    delay: float = 0.0
    hits: int = 0


@attrs.define
class AirFaults:
    """Fault injection on the air; every method takes effect on the next frame."""

    rules: list[FaultRule] = attrs.field(factory=list)
    refusing: set[Address] = attrs.field(factory=set)
    muted: set[Address] = attrs.field(factory=set)

    def drop(self, predicate: FramePredicate, count: int | None = None) -> FaultRule:
        return self._add(FaultRule(predicate, FaultAction.DROP, count))

    def corrupt(self, predicate: FramePredicate, count: int | None = None) -> FaultRule:
        return self._add(FaultRule(predicate, FaultAction.CORRUPT, count))

    def delay(
        self,
        seconds: float,
        predicate: FramePredicate = lambda frame: True,
        count: int | None = None,
    ) -> FaultRule:
        return self._add(FaultRule(predicate, FaultAction.DELAY, count, delay=seconds))

    def remove(self, rule: FaultRule) -> None:
        if rule in self.rules:
            self.rules.remove(rule)

    def refuse_connections(self, address: Address, refuse: bool = True) -> None:
        """Connection requests aimed at ``address`` vanish (the initiator keeps trying)."""
        (self.refusing.add if refuse else self.refusing.discard)(address)

    def mute(self, address: Address, mute: bool = True) -> None:
        """The controller with this public address stops answering HCI commands."""
        (self.muted.add if mute else self.muted.discard)(address)

    def clear(self) -> None:
        self.rules.clear()
        self.refusing.clear()
        self.muted.clear()

    def _add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def apply(self, frame: Frame) -> tuple[Frame | None, float]:
        """The frame as it arrives (None: lost) and the extra delay it suffers."""
        extra_delay = 0.0
        for rule in list(self.rules):
            if not rule.predicate(frame):
                continue
            rule.hits += 1
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.rules.remove(rule)
            if rule.action is FaultAction.DROP:
                return None, 0.0
            if rule.action is FaultAction.CORRUPT:
                frame = frame.corrupted()
            else:
                extra_delay += rule.delay
        return frame, extra_delay


class Air:
    """The medium shared by virtual controllers."""

    def __init__(self, timing: TimingModel | None = None, name: str | None = None) -> None:
        self.name = name
        self.timing = timing if timing is not None else TimingModel.instant()
        self.faults = AirFaults()
        # Insertion-ordered, with membership in O(1): frames check it on every arrival.
        self._radios: dict[Radio, None] = {}
        self._links: list[Link] = []

    # -- membership --------------------------------------------------------------------

    def attach(self, radio: Radio) -> None:
        self._radios.setdefault(radio, None)

    def detach(self, radio: Radio) -> None:
        """The radio leaves: its links are lost for the peers (supervision timeout)."""
        self._radios.pop(radio, None)
        for link in list(self._links):
            if link.has(radio):
                self._lose_link(link, survivors=(link.peer_of(radio),))

    @property
    def radios(self) -> tuple[Radio, ...]:
        return tuple(self._radios)

    def radio_answering(self, address: Address) -> Radio | None:
        for radio in self._radios:
            if radio.answers_to(address):
                return radio
        return None

    def address_in_use(self, address: Address) -> bool:
        return any(radio.public_address == address for radio in self._radios)

    # -- sending ---------------------------------------------------------------------------

    def broadcast(self, sender: Radio, frame: Frame, phy: Phy = Phy.LE_1M) -> None:
        """Send to every other radio in range (advertising, inquiry)."""
        if self.timing.is_instant and not self.faults.rules:
            # Nothing to decide per receiver: each gets the frame in its next wake-up.
            arrive = self._arrive
            for radio in list(self._radios):
                if radio is not sender:
                    radio.call_soon(functools.partial(arrive, radio, frame, None))
            return
        for radio in list(self._radios):
            if radio is not sender:
                self._deliver(radio, frame, phy)

    def unicast(self, sender: Radio, target: Address, frame: Frame, phy: Phy = Phy.LE_1M) -> None:
        """Send to the radio answering to ``target`` (scan request, connect request, page)."""
        if frame.IS_CONNECTION_REQUEST and target in self._refusing_addresses():
            return
        for radio in self._radios:
            if radio is not sender and radio.answers_to(target):
                self._deliver(radio, frame, phy)

    def _refusing_addresses(self) -> set[Address]:
        return self.faults.refusing

    def send_on_link(self, link: Link, sender: Radio, frame: Frame) -> float:
        """Send to the other end of ``link``; lost if the link is closed or dropped.

        Frames on one link go out one after the other, so the realistic model limits the
        link's throughput to the PHY's rate. Returns the seconds from now until the frame
        has left the sender (when its controller buffer is free again).
        """
        now = trio.current_time()
        receiver = link.peer_of(sender)
        if self.timing.is_instant and not self.faults.rules:
            if not link.open or link.dropped:
                return 0.0
            if link._last_delivery.get(id(receiver), now) <= now:  # nothing delayed ahead
                self._add_to_burst(link, receiver, frame)
                return 0.0
        start = max(now, link._busy_until.get(id(receiver), now))
        sent = start + self.timing.airtime(link.phy, frame.payload_length)
        link._busy_until[id(receiver)] = sent
        if link.open and not link.dropped:
            self._deliver(receiver, frame, link.phy, link, sent - now)
        return sent - now

    def _deliver(
        self,
        receiver: Radio,
        frame: Frame,
        phy: Phy,
        link: Link | None = None,
        airtime: float | None = None,
    ) -> None:
        arriving, extra_delay = self.faults.apply(frame)
        if arriving is None:
            return
        if airtime is None:
            airtime = self.timing.airtime(phy, arriving.payload_length)
        delay = airtime + extra_delay
        if link is not None:
            # Even a delayed frame does not overtake: links deliver in sequence.
            now = trio.current_time()
            at = max(now + delay, link._last_delivery.get(id(receiver), now))
            link._last_delivery[id(receiver)] = at
            delay = at - now
        arrival = functools.partial(self._arrive, receiver, arriving, link)
        if delay <= 0:
            receiver.call_soon(arrival)  # in order with the other frames due at once
        else:
            receiver.call_later(delay, arrival)

    def _add_to_burst(self, link: Link, receiver: Radio, frame: Frame) -> None:
        burst = link._bursts.get(id(receiver))
        if burst is None:
            link._bursts[id(receiver)] = burst = []
            receiver.call_soon(functools.partial(self._arrive_burst, receiver, link))
        burst.append(frame)

    def _arrive_burst(self, receiver: Radio, link: Link) -> None:
        frames = link._bursts.pop(id(receiver), ())
        for frame in frames:
            if link.dropped or receiver not in self._radios:
                return
            receiver.on_frame(frame, link)

    def _arrive(self, receiver: Radio, frame: Frame, link: Link | None) -> None:
        # A frame in flight is lost if its link was lost meanwhile. A link closed by the
        # disconnect procedure still delivers what was sent before, above all the
        # LL_TERMINATE_IND / LMP_detach that closed it (the receiver ignores frames for a
        # connection it no longer has).
        if link is not None and link.dropped:
            return
        if receiver in self._radios:
            receiver.on_frame(frame, link)

    # -- links -------------------------------------------------------------------------

    def open_link(
        self,
        kind: LinkKind,
        central: Radio,
        peripheral: Radio,
        supervision_timeout: float,
        phy: Phy,
    ) -> Link:
        link = Link(kind, central, peripheral, supervision_timeout, phy)
        self._links.append(link)
        return link

    def close_link(self, link: Link) -> None:
        """Both ends agreed to end the link (disconnect procedure completed)."""
        link.open = False
        if link in self._links:
            self._links.remove(link)

    @property
    def links(self) -> tuple[Link, ...]:
        return tuple(self._links)

    def links_between(self, a: Address, b: Address) -> Iterator[Link]:
        for link in self._links:
            ends = {link.central.public_address, link.peripheral.public_address}
            if ends == {a, b}:
                yield link

    def abandon_link(self, link: Link, by: Radio) -> None:
        """``by`` stopped serving the link (reset): the peer's supervision timer expires."""
        self._lose_link(link, survivors=(link.peer_of(by),))

    def drop_link(self, link: Link) -> None:
        """Fault: the link goes silent; each end reports a supervision timeout (0x08)."""
        self._lose_link(link, survivors=(link.central, link.peripheral))

    def _lose_link(self, link: Link, survivors: tuple[Radio, ...]) -> None:
        if link.dropped or not link.open:
            return
        link.dropped = True
        for radio in survivors:
            if radio in self._radios:
                radio.call_later(
                    link.supervision_timeout, functools.partial(self._expire, radio, link)
                )

    def _expire(self, radio: Radio, link: Link) -> None:
        if link in self._links:
            self._links.remove(link)
        link.open = False
        if radio in self._radios:
            radio.on_link_lost(link)


_default_airs: trio.lowlevel.RunVar[dict[str | None, Air]] = trio.lowlevel.RunVar("bluetrio_airs")


def default_air(name: str | None = None) -> Air:
    """The air shared by every controller of this Trio run that asks for ``name``."""
    try:
        airs = _default_airs.get()
    except LookupError:
        airs = {}
        _default_airs.set(airs)
    if name not in airs:
        airs[name] = Air(name=name)
    return airs[name]
