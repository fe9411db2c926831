"""Two L2CAP cores joined by a link in memory, driven synchronously (no trio, no controller).

    pair = CorePair()
    pair.open_link()                      # AclLinkOpenedInd and LinkUpInd on both sides
    pair.a_request(L2caRegisterPsmReq(...)) ...
    pair.run()                            # carry PDUs both ways until both cores are quiet

Each core's ``AclDataReq`` becomes the other core's ``AclDataInd`` (and ``AclDataCnf`` for
the sender, as hci would say once the controller sent it), unless ``pair.drop`` says to lose
it. Messages the cores send upward are collected per side (``pair.up["a"]``); timers armed
are kept (``pair.timers["a"]``) and fired on demand with :meth:`CorePair.fire`, so a test of a
60-second timer takes no time. Security and connection-update requests are collected in
``pair.emitted``; answer them with :meth:`CorePair.deliver`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import attrs

from bluetrio.actors.effects import (
    CancelTimer,
    Effects,
    Emit,
    ReleaseTimers,
    Send,
    StartTimer,
    TimerExpired,
    TimerKey,
)
from bluetrio.actors.l2cap.core import L2capCore
from bluetrio.address import Address
from bluetrio.messages.base import Message
from bluetrio.messages.btm import AclLink, LinkUpInd, Role
from bluetrio.messages.hci_service import (
    AclDataCnf,
    AclDataInd,
    AclDataReq,
    AclLinkClosedInd,
    AclLinkOpenedInd,
    LinkTransport,
)

HANDLE = 0x0001
UPPER = "upper"  # the actor name the tests send requests as


@attrs.define
class CorePair:
    """``a`` is the central (the side that opened the link), ``b`` the peripheral."""

    a: L2capCore = attrs.Factory(L2capCore)
    b: L2capCore = attrs.Factory(L2capCore)
    now: float = 0.0
    up: dict[str, list[Message]] = attrs.Factory(lambda: {"a": [], "b": []})
    emitted: dict[str, list[Message]] = attrs.Factory(lambda: {"a": [], "b": []})
    timers: dict[str, dict[TimerKey, float]] = attrs.Factory(lambda: {"a": {}, "b": {}})
    wire: dict[str, list[bytes]] = attrs.Factory(lambda: {"a": [], "b": []})  # PDUs each sent
    drop: Callable[[str, bytes], bool] = lambda side, pdu: False
    _queue: deque[tuple[str, str, Message]] = attrs.Factory(deque)

    def core(self, side: str) -> L2capCore:
        return self.a if side == "a" else self.b

    def open_link(self, transport: LinkTransport = LinkTransport.BR_EDR, link_id: int = 1) -> None:
        for side, role in (("a", Role.CENTRAL), ("b", Role.PERIPHERAL)):
            link = AclLink(HANDLE, transport, Address(bytes(6)), role, link_id=link_id)
            self.deliver(side, AclLinkOpenedInd(HANDLE, transport, link_id), sender="hci")
            self.deliver(side, LinkUpInd(link), sender="btm")

    def close_link(self, reason: int = 0x13) -> None:
        for side in ("a", "b"):
            self.deliver(side, AclLinkClosedInd(HANDLE, reason), sender="hci")

    def deliver(self, side: str, message: Message, sender: str = UPPER) -> None:
        """Hand ``message`` to one core and carry everything that follows."""
        self._queue.append((side, sender, message))
        self.run()

    def request(self, side: str, message: Message) -> list[Message]:
        """Deliver an upper-layer request; return what reached the upper layer meanwhile."""
        before = len(self.up[side])
        self.deliver(side, message)
        return self.up[side][before:]

    def fire(self, side: str, name: str | None = None) -> list[TimerKey]:
        """Expire the armed timers of one side (those called ``name`` if given)."""
        keys = [k for k in self.timers[side] if name is None or k.name == name]
        for key in keys:
            deadline = self.timers[side].pop(key, None)
            if deadline is not None:
                self.now = max(self.now, deadline)
                self.deliver(side, TimerExpired(key), sender="l2cap")
        return keys

    def run(self) -> None:
        while self._queue:
            side, sender, message = self._queue.popleft()
            self._apply(side, self.core(side).handle(sender, message, self.now))

    def _apply(self, side: str, effects: Effects) -> None:
        other = "b" if side == "a" else "a"
        for effect in effects:
            match effect:
                case Emit(message=AclDataReq(handle=handle, pdus=pdus)):
                    self.wire[side].extend(pdus)
                    kept = tuple(p for p in pdus if not self.drop(side, p))
                    if kept:
                        self._queue.append((other, "hci", AclDataInd(handle, kept)))
                    self._queue.append((side, "hci", AclDataCnf(handle, len(pdus))))
                case Emit(message=message):
                    self.emitted[side].append(message)
                case Send(message=message):
                    self.up[side].append(message)
                case StartTimer(key=key, deadline=deadline):
                    self.timers[side][key] = deadline
                case CancelTimer(key=key):
                    self.timers[side].pop(key, None)
                case ReleaseTimers(owner=owner):
                    for key in [k for k in self.timers[side] if k.owner == owner]:
                        del self.timers[side][key]

    def last(self, side: str, kind: type[Message]) -> Message:
        """The last message of ``kind`` one side's upper layer received."""
        for message in reversed(self.up[side]):
            if isinstance(message, kind):
                return message
        raise AssertionError(f"{side} received no {kind.__name__}: {self.up[side]}")
