"""Fault injection: a policy the runtime consults on every inter-actor send and on the transport.

Tests (and people probing robustness) describe faults as rules::

    faults = FaultPolicy()
    faults.drop(lambda hop: isinstance(hop.message, L2caDataReq), times=1)
    faults.delay(lambda hop: hop.to == "smp", seconds=31.0)
    faults.duplicate(lambda hop: hop.sender == "l2cap")
    faults.replace(lambda hop: ..., lambda message: attrs.evolve(message, data=b"garbage"))
    faults.drop_packet(lambda packet: packet[0] == PacketType.EVENT, direction="to_host")
    faults.kill("l2cap")          # the actor dies; the stack must stop with a clear error

    async with open_stack("virtual", faults=faults) as stack: ...

A rule matches a :class:`Hop` (sender, receiver, message) or, for the transport, a packet.
Each rule fires at most ``times`` times (``None``: forever). The first matching rule wins.
When no policy is given the runtime never calls into this module.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

import attrs

from bluetrio.messages.base import Message
from bluetrio.messages.packets import PacketType

Packet = tuple[PacketType, bytes]
Direction = Literal["to_controller", "to_host"]
# What a rule looks at (a Hop between actors, a transport Packet) and what its replacement
# takes and gives (the hop's Message, the Packet).
Subject = TypeVar("Subject")
Replaced = TypeVar("Replaced")


@attrs.frozen
class Hop:
    """One inter-actor message about to be delivered."""

    sender: str
    to: str
    message: Message


class FaultKind(enum.Enum):
    DROP = "drop"
    DELAY = "delay"
    DUPLICATE = "duplicate"
    REPLACE = "replace"


@attrs.frozen
class FaultAction(Generic[Replaced]):
    """What the runtime does with a matched hop (its message is replaced) or packet."""

    kind: FaultKind
    seconds: float = 0.0
    copies: int = 2
    replacement: Callable[[Replaced], Replaced] | None = None


@attrs.define
class _Rule(Generic[Subject, Replaced]):
    predicate: Callable[[Subject], bool]
    action: FaultAction[Replaced]
    times: int | None
    fired: int = 0

    def take(self, subject: Subject) -> FaultAction[Replaced] | None:
        if self.times is not None and self.fired >= self.times:
            return None
        if not self.predicate(subject):
            return None
        self.fired += 1
        return self.action


class FaultPolicy:
    """An ordered list of fault rules, plus actors to kill."""

    def __init__(self) -> None:
        self._hop_rules: list[_Rule[Hop, Message]] = []
        self._packet_rules: dict[Direction, list[_Rule[Packet, Packet]]] = {
            "to_controller": [],
            "to_host": [],
        }
        self._kill_requests: list[str] = []
        self._kill_listener: Callable[[str], None] | None = None
        self.log: list[str] = []  # what was injected, for test assertions and post-mortems

    # -- inter-actor rules -------------------------------------------------------------------
    def _add_hop_rule(
        self, predicate: Callable[[Hop], bool], action: FaultAction[Message], times: int | None
    ) -> None:
        self._hop_rules.append(_Rule(predicate, action, times))

    def drop(self, predicate: Callable[[Hop], bool], *, times: int | None = None) -> None:
        self._add_hop_rule(predicate, FaultAction(FaultKind.DROP), times)

    def delay(
        self, predicate: Callable[[Hop], bool], *, seconds: float, times: int | None = None
    ) -> None:
        if seconds < 0:
            raise ValueError(f"a delay cannot be negative (got {seconds} s)")
        self._add_hop_rule(predicate, FaultAction(FaultKind.DELAY, seconds=seconds), times)

    def duplicate(
        self, predicate: Callable[[Hop], bool], *, copies: int = 2, times: int | None = None
    ) -> None:
        if copies < 2:
            raise ValueError(f"duplicating means at least 2 copies (got {copies})")
        self._add_hop_rule(predicate, FaultAction(FaultKind.DUPLICATE, copies=copies), times)

    def replace(
        self,
        predicate: Callable[[Hop], bool],
        replacement: Callable[[Message], Message],
        *,
        times: int | None = None,
    ) -> None:
        action = FaultAction(FaultKind.REPLACE, replacement=replacement)
        self._add_hop_rule(predicate, action, times)

    def on_send(self, hop: Hop) -> FaultAction[Message] | None:
        """The action for this hop, or None to deliver it normally."""
        for rule in self._hop_rules:
            action = rule.take(hop)
            if action is not None:
                summary = hop.message.summary()
                self.log.append(f"{action.kind.value} {hop.sender}->{hop.to} {summary}")
                return action
        return None

    # -- transport rules ---------------------------------------------------------------------
    def _add_packet_rule(
        self,
        predicate: Callable[[Packet], bool],
        action: FaultAction[Packet],
        direction: Direction,
        times: int | None,
    ) -> None:
        self._packet_rules[direction].append(_Rule(predicate, action, times))

    def drop_packet(
        self, predicate: Callable[[Packet], bool], *, direction: Direction, times: int | None = None
    ) -> None:
        self._add_packet_rule(predicate, FaultAction(FaultKind.DROP), direction, times)

    def duplicate_packet(
        self, predicate: Callable[[Packet], bool], *, direction: Direction, times: int | None = None
    ) -> None:
        self._add_packet_rule(predicate, FaultAction(FaultKind.DUPLICATE), direction, times)

    def replace_packet(
        self,
        predicate: Callable[[Packet], bool],
        replacement: Callable[[Packet], Packet],
        *,
        direction: Direction,
        times: int | None = None,
    ) -> None:
        action = FaultAction(FaultKind.REPLACE, replacement=replacement)
        self._add_packet_rule(predicate, action, direction, times)

    def filter_packet(self, direction: Direction, packet: Packet) -> list[Packet]:
        """Apply the transport rules: the packets to pass on instead of ``packet``."""
        for rule in self._packet_rules[direction]:
            action = rule.take(packet)
            if action is None:
                continue
            self.log.append(f"{action.kind.value} packet {direction} {packet[0].name}")
            if action.kind is FaultKind.DROP:
                return []
            if action.kind is FaultKind.DUPLICATE:
                return [packet] * action.copies
            if action.kind is FaultKind.REPLACE and action.replacement is not None:
                return [action.replacement(packet)]
        return [packet]

    @property
    def has_hop_rules(self) -> bool:
        return bool(self._hop_rules)

    @property
    def has_packet_rules(self) -> bool:
        return any(self._packet_rules.values())

    # -- killing actors ----------------------------------------------------------------------
    def kill(self, actor: str) -> None:
        """Kill ``actor`` (now if the stack runs, else as soon as it starts)."""
        self.log.append(f"kill {actor}")
        if self._kill_listener is not None:
            self._kill_listener(actor)
        else:
            self._kill_requests.append(actor)

    def attach_kill_listener(self, listener: Callable[[str], None]) -> list[str]:
        """Used by the runtime: returns kills requested before it started."""
        self._kill_listener = listener
        pending, self._kill_requests = self._kill_requests, []
        return pending
