"""The declared topology of a stack: which layers exist, what each handles, subscribes to,
owns and emits, and the routes the runtime derives from that.

Every layer's core declares itself with a :class:`LayerSpec`; the runtime builds one
:class:`Topology` from the specs of the actors it runs and checks it before any actor starts,
so a misdeclared layer fails when the stack starts, with a :class:`TopologyError` naming the
layers and the message type, never when the first message is sent.

A core addresses nobody by name except the actor that sent it a request (``Send(sender,
answer)``). Everything else is an :class:`~bluetrio.actors.effects.Emit`: the runtime delivers
it from the tables built here:

* a type that one layer *handles* (a request, ``AclDataInd``) goes to that layer;
* a type layers *subscribe* to (an indication such as ``LinkUpInd``) goes to each of them, in
  the order the layers were declared (bottom up);
* an :class:`~bluetrio.messages.hci_service.HciEventInd` goes to the one layer that *owns* the
  event's class (or the nearest base class it owns, so owning ``HciEvent`` itself means "every
  event nobody else owns"), then to the layers that subscribe to ``HciEventInd``;
* a layer that *observes* a type gets copies only while it asks (:meth:`Topology.observe`).

This replaces Bluedroid's BTU task (``btu_hcif_process_event``): the event routing table is
derived from what each layer declares and applied when hci emits, without a hop of its own.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TypeVar

import attrs

from bluetrio.errors import TopologyError
from bluetrio.messages.base import Message
from bluetrio.messages.hci.base import HciEvent
from bluetrio.messages.hci_service import (
    AclDataInd,
    AclLinkClosedInd,
    AclLinkOpenedInd,
    HciEventInd,
)


class Layer(enum.StrEnum):
    """The layers of a host stack, bottom up; the value is the actor's address."""

    HCI = "hci"
    BTM = "btm"
    L2CAP = "l2cap"
    SMP = "smp"
    SDP = "sdp"
    GATT = "gatt"
    RFCOMM = "rfcomm"
    APP = "app"


MessageTypes = frozenset[type[Message]]


def _types(values: Iterable[type[Message]]) -> MessageTypes:
    return frozenset(values)


def _events(values: Iterable[type[HciEvent]]) -> frozenset[type[HciEvent]]:
    return frozenset(values)


@attrs.frozen
class LayerSpec:
    """What one layer declares about itself.

    ``handles``: message types routed to this layer alone (requests to it; at most one layer
    handles a type). ``subscribes``: indications fanned out to it. ``hci_events``: the HCI
    event classes it owns (exactly one owner each; owning a base class claims the subclasses
    nobody else owns). ``emits``: the types it emits (each must reach some layer).
    ``fallback``: types it handles while no other layer of the stack handles them (the
    application takes raw ACL data until an L2CAP layer is there). ``observes``: types it
    receives a copy of only while it asks (:meth:`Topology.observe`; the application watches
    HCI events while someone reads ``Stack.events()``).
    """

    # Kept as a plain str: actor names are dictionary keys on every hop, and a StrEnum key
    # costs several times a str's in a look-up.
    name: str = attrs.field(converter=str)
    handles: MessageTypes = attrs.field(default=frozenset(), converter=_types)
    subscribes: MessageTypes = attrs.field(default=frozenset(), converter=_types)
    hci_events: frozenset[type[HciEvent]] = attrs.field(default=frozenset(), converter=_events)
    emits: MessageTypes = attrs.field(default=frozenset(), converter=_types)
    fallback: MessageTypes = attrs.field(default=frozenset(), converter=_types)
    observes: MessageTypes = attrs.field(default=frozenset(), converter=_types)


# ACL data, then the link signals that must reach every layer the data reaches, so the order
# in which hci emits them is the order in which that layer receives them: no PDU before its
# link opened, none after it closed.
ORDERED_TOGETHER: tuple[type[Message], ...] = (AclDataInd, AclLinkOpenedInd, AclLinkClosedInd)

Route = tuple[str, ...]
_Declared = TypeVar("_Declared")


class Topology:
    """The routes of a set of layers, checked when built (see the module docstring)."""

    def __init__(self, layers: Iterable[LayerSpec]) -> None:
        self.layers = tuple(layers)
        self._problems: list[str] = []
        self._handlers = self._single_owners(
            "handled", [(spec.name, spec.handles) for spec in self.layers]
        )
        fallbacks = self._single_owners(
            "taken as a fallback", [(spec.name, spec.fallback) for spec in self.layers]
        )
        for kind, name in fallbacks.items():
            self._handlers.setdefault(kind, name)
        self._event_owners: dict[type[HciEvent], str] = self._single_owners(
            "owned (HCI event)", [(spec.name, spec.hci_events) for spec in self.layers]
        )
        self._subscribers: dict[type[Message], Route] = {}
        for spec in self.layers:
            for kind in spec.subscribes:
                self._subscribers[kind] = (*self._subscribers.get(kind, ()), spec.name)
        self._observable = {spec.name: spec.observes for spec in self.layers}
        self._observers: dict[type[Message], Route] = {}  # those observing now, in layer order
        self._emitted = {spec.name: spec.emits for spec in self.layers}
        self._routes: dict[str, dict[type[Message], Route]] = {
            spec.name: {} for spec in self.layers
        }
        self._event_routes: dict[type[HciEvent], Route] = {}
        self._check()
        if self._problems:
            raise TopologyError(
                "the stack's layers do not fit together:\n  " + "\n  ".join(self._problems)
            )

    def _single_owners(
        self, what: str, declared: list[tuple[str, frozenset[type[_Declared]]]]
    ) -> dict[type[_Declared], str]:
        owners: dict[type[_Declared], str] = {}
        for name, kinds in declared:
            for kind in kinds:
                if kind in owners:
                    self._problems.append(
                        f"{kind.__name__} is {what} by two layers: {owners[kind]} and {name}"
                    )
                else:
                    owners[kind] = name
        return owners

    def _check(self) -> None:
        names = [spec.name for spec in self.layers]
        for name in sorted({n for n in names if names.count(n) > 1}):
            self._problems.append(f"two layers are called '{name}'")
        for spec in self.layers:
            for kind in sorted(spec.emits, key=lambda k: k.__name__):
                if kind is HciEventInd:
                    if HciEvent not in self._event_owners:
                        self._problems.append(
                            f"{spec.name} emits HciEventInd but no layer owns HciEvent, so "
                            "events nobody else owns would be lost"
                        )
                elif not self._destinations(kind):
                    self._problems.append(
                        f"{spec.name} emits {kind.__name__}, which no layer handles or "
                        "subscribes to"
                    )
        # Whoever receives ACL data receives the link signals too (others may take the
        # signals alone: btm reads the link's number from them).
        data, *signals = ORDERED_TOGETHER
        receivers = set(self._destinations(data))
        for signal in signals:
            without = sorted(receivers - set(self._destinations(signal)))
            if without:
                self._problems.append(
                    "ACL data and its link signals must reach the same layer to stay in order: "
                    f"{data.__name__} goes to {without} but {signal.__name__} does not"
                )

    # -- queries -------------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.layers)

    def handler_of(self, kind: type[Message]) -> str | None:
        """The one layer that handles ``kind``, if any."""
        return self._handlers.get(kind)

    def owner_of_event(self, kind: type[HciEvent]) -> str | None:
        """The layer that owns HCI event class ``kind`` (or its nearest owned base class)."""
        for base in kind.__mro__:
            owner = self._event_owners.get(base)
            if owner is not None:
                return owner
        return None

    def subscribers_of(self, kind: type[Message]) -> Route:
        """The layers ``kind`` is fanned out to now: its subscribers, then its observers."""
        return self._subscribers.get(kind, ()) + self._observers.get(kind, ())

    def _destinations(self, kind: type[Message]) -> Route:
        handler = self._handlers.get(kind)
        subscribers = self.subscribers_of(kind)
        return subscribers if handler is None else (handler, *subscribers)

    def observe(self, name: str, kind: type[Message], watching: bool) -> None:
        """Start (``watching``) or stop sending layer ``name`` a copy of every ``kind``; it
        must have declared that it observes ``kind``."""
        if kind not in self._observable.get(name, frozenset()):
            raise TopologyError(f"{name} does not declare that it observes {kind.__name__}")
        wanted = {*self._observers.get(kind, ())}
        if watching:
            wanted.add(name)
        else:
            wanted.discard(name)
        self._observers[kind] = tuple(n for n in self.names if n in wanted)
        # The cached routes (shells hold these dicts) are worked out again on the next emit.
        for routes in self._routes.values():
            routes.clear()
        self._event_routes.clear()

    def route(self, sender: str, message: Message) -> Route:
        """Where an emitted ``message`` goes; raises :class:`TopologyError` when ``sender``
        did not declare emitting its type (its declaration would be wrong)."""
        kind = type(message)
        cached = self.routes_of(sender)
        route = cached.get(kind)
        if route is not None:
            return route
        if kind not in self._emitted.get(sender, frozenset()):
            raise TopologyError(f"{sender} emitted {kind.__name__}, which it does not declare")
        if isinstance(message, HciEventInd):
            return self._event_route(type(message.event))
        route = self._destinations(kind)
        cached[kind] = route
        return route

    def routes_of(self, sender: str) -> dict[type[Message], Route]:
        """The routes of what ``sender`` emits, filled as it emits (HCI events are left out:
        the class of the event decides). A shell keeps this dict to route with one look-up."""
        return self._routes.setdefault(sender, {})

    def _event_route(self, kind: type[HciEvent]) -> Route:
        route = self._event_routes.get(kind)
        if route is None:
            owner = self.owner_of_event(kind)
            route = ((owner,) if owner is not None else ()) + self.subscribers_of(HciEventInd)
            self._event_routes[kind] = route
        return route
