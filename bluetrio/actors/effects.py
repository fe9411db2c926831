"""The contract between sans-IO protocol cores and their actor shells.

A core is plain code: it takes one input (a message from another actor, or the expiry of one
of its timers, delivered as :class:`TimerExpired`) together with the current time, updates its
control blocks, and returns a list of *effects*. It never awaits and never imports trio, so a
test can drive it synchronously with made-up times.

The effects understood by every shell are below. A shell for a layer that owns I/O (the HCI
actor owns the transport) adds its own effect classes by deriving them from
:class:`ShellEffect`; :data:`Effect` is the closed union, so a shell's ``match`` over it is
exhaustive and mypy narrows each case.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol, TypeAlias, runtime_checkable

import attrs

from bluetrio.actors.topology import LayerSpec
from bluetrio.messages.base import Message


@attrs.frozen
class TimerKey:
    """Names a protocol timer: the control block that owns it and the timer's name.

    ``owner`` is any hashable identifying the control block (e.g. ``("ccb", 0x0040)``), so that
    releasing the block releases all of its timers at once.
    """

    owner: Hashable
    name: str


@attrs.frozen
class TimerExpired(Message):
    """Delivered to a core when one of its timers reaches its deadline."""

    key: TimerKey


@attrs.frozen
class Send:
    """Send ``message`` to the actor called ``to``: the sender of the request this answers.

    Everything else a core sends is an :class:`Emit`, so no core holds another layer's name.
    """

    to: str
    message: Message


@attrs.frozen
class Emit:
    """Send ``message`` wherever the stack's topology routes its type: the one layer that
    handles it, every layer that subscribes to it, the owner of an HCI event (see
    :mod:`bluetrio.actors.topology`)."""

    message: Message


@attrs.frozen
class StartTimer:
    """Arm (or re-arm, if already running) the timer ``key`` to expire at ``deadline``.

    Deadlines are absolute, on the same clock as the ``now`` the core was given
    (``trio.current_time()``), so ``MockClock`` drives them.
    """

    key: TimerKey
    deadline: float


@attrs.frozen
class CancelTimer:
    """Stop the timer ``key`` if it is running; no-op otherwise."""

    key: TimerKey


@attrs.frozen
class ReleaseTimers:
    """Stop every timer owned by ``owner`` (the control block is being released)."""

    owner: Hashable


@attrs.frozen
class ShellEffect:
    """Base of the effects only one shell carries out (e.g. the HCI shell's transport write).

    The runtime hands these to :meth:`~bluetrio.actors.runtime.Actor.apply_effect`.
    """


Effect: TypeAlias = Send | Emit | StartTimer | CancelTimer | ReleaseTimers | ShellEffect
# A fresh list per call: cores append to what they return, so no empty list is ever shared.
Effects: TypeAlias = list[Effect]


class ProtocolCore(Protocol):
    """What an actor shell drives."""

    @property
    def spec(self) -> LayerSpec:
        """The layer's name and what it handles, subscribes to, owns and emits."""
        ...

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        """Process one message (or :class:`TimerExpired`) and return the effects."""
        ...

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        """Forget every control block of connection ``handle``.

        Called by the shell after handling a message of that connection raised: the
        connection is being torn down and its state can no longer be trusted.
        """
        ...


@runtime_checkable
class WakeupHooks(Protocol):
    """What a core may add to :class:`ProtocolCore` to work per wake-up, not per message.

    A shell wakes up for whatever its inbox holds (a burst of messages, expired timers) and
    hands it to the core message by message. A core with these hooks hears when a wake-up
    begins and ends, so it can gather work across the burst and do it once at the end (the
    L2CAP scheduler serves its links once per wake-up and sends each link's PDUs to hci in
    one request). A core driven message by message without the hooks (a synchronous test)
    must still work: :meth:`begin_wakeup` is the only thing telling it to defer.
    """

    def begin_wakeup(self) -> None:
        """Messages of one wake-up follow; work that can wait for :meth:`end_wakeup` may."""
        ...

    def end_wakeup(self, now: float) -> Effects:
        """The wake-up's messages are handled: do the deferred work, return its effects
        (applied before the wake-up's sends leave)."""
        ...


@attrs.frozen
class ConnectionFaultInd(Message):
    """Sent by the runtime to the link manager (the layer that handles this type) when
    handling a message of connection ``handle`` raised in ``actor``: the link manager
    disconnects that link with ``reason``."""

    handle: int
    actor: str
    reason: str
