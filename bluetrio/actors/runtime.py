"""The actor runtime: addressing, inboxes, timers, failure containment, tracing, faults.

Every layer is an :class:`Actor`: an inbox (a Trio memory channel), a sans-IO protocol core
that owns the layer's control blocks, and a :class:`~bluetrio.actors.timers.TimerTable`.
Actors never call each other: a core returns :class:`~bluetrio.actors.effects.Send` and
:class:`~bluetrio.actors.effects.Emit` effects and the shell hands them to
:meth:`Runtime.send`, the single choke point where the flight recorder, the optional tracer
and the optional fault policy see every message. Emitted messages go where the
:class:`~bluetrio.actors.topology.Topology` built from the actors' declarations routes them;
it is checked when the runtime starts, before any actor runs.

Inboxes are unbounded on purpose: the protocols bound what is in flight (HCI ACL credits,
L2CAP windows and credits, RFCOMM credits), and a cycle of bounded channels between actors
could deadlock. Sends are therefore synchronous and never block.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from collections.abc import Iterable

import trio

from bluetrio.actors.effects import (
    CancelTimer,
    ConnectionFaultInd,
    Effect,
    Effects,
    Emit,
    ProtocolCore,
    ReleaseTimers,
    Send,
    ShellEffect,
    StartTimer,
    TimerExpired,
    WakeupHooks,
)
from bluetrio.actors.faults import FaultKind, FaultPolicy, Hop
from bluetrio.actors.timers import TimerTable
from bluetrio.actors.topology import LayerSpec, Topology
from bluetrio.errors import BluetrioError, StackError
from bluetrio.messages.base import Batch, Message, connection_handle_of
from bluetrio.tracing.recorder import TraceRecorder

logger = logging.getLogger(__name__)

# What travels through an inbox: (sender, message, trace id or 0 when tracing is off).
InboxItem = tuple[str, Message, int]

DEFAULT_FLIGHT_RECORDER_SIZE = 256


class Runtime:
    """Owns the actors of one stack and the channels between them."""

    def __init__(
        self,
        *,
        tracer: TraceRecorder | None = None,
        faults: FaultPolicy | None = None,
        flight_recorder_size: int = DEFAULT_FLIGHT_RECORDER_SIZE,
    ) -> None:
        self.tracer = tracer
        self.faults = faults
        self._flight: deque[tuple[float, str, str, Message]] = deque(maxlen=flight_recorder_size)
        self._inboxes: dict[str, trio.MemorySendChannel[InboxItem]] = {}
        self._actors: dict[str, Actor] = {}
        self._nursery: trio.Nursery | None = None
        self._tokens = itertools.count(1)
        self.topology = Topology(())  # replaced by the actors' topology when the stack starts
        self.connection_faults: list[ConnectionFaultInd] = []
        self.closed = False  # set once the actors have stopped; requests then fail at once

    # -- set-up ------------------------------------------------------------------------------
    def add(self, actor: Actor) -> None:
        """Register ``actor``; actors start in the order they were added, which is also the
        order in which subscribers receive an emitted indication (declare them bottom up)."""
        if actor.name in self._actors:
            raise ValueError(f"an actor called {actor.name!r} is already registered")
        send, receive = trio.open_memory_channel[InboxItem](math.inf)
        self._inboxes[actor.name] = send
        self._actors[actor.name] = actor
        actor.attach(self, receive)

    def actor(self, name: str) -> Actor:
        return self._actors[name]

    @property
    def actor_names(self) -> list[str]:
        return list(self._actors)

    def new_token(self) -> int:
        """A fresh correlation token for a request that expects a confirmation."""
        return next(self._tokens)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Check the topology, start every actor in order and run until cancelled or until
        one fails. Raises :class:`~bluetrio.actors.topology.TopologyError` before starting
        anything when the actors' declarations do not fit together."""
        self.topology = Topology(actor.spec for actor in self._actors.values())
        for actor in self._actors.values():
            actor.emit_routes = self.topology.routes_of(actor.name)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for actor in self._actors.values():
                    await nursery.start(actor.run)
                if self.faults is not None:
                    for name in self.faults.attach_kill_listener(self.kill):
                        self.kill(name)
                task_status.started()
        except BaseExceptionGroup as group:
            raise_single_error(group)
            raise
        finally:
            self._nursery = None
            self.closed = True
            for channel in self._inboxes.values():
                channel.close()
            for actor in self._actors.values():
                actor.on_runtime_closed()

    # -- the choke point ---------------------------------------------------------------------
    def send(self, sender: str, to: str, message: Message, now: float | None = None) -> None:
        """Deliver ``message`` to the inbox of ``to``. Never blocks.

        ``now``: the current Trio time if the caller has it already (saves a clock read).
        """
        if now is None:
            now = trio.current_time()
        self._flight.append((now, sender, to, message))
        if self.faults is not None and self._inject(sender, to, message):
            return
        trace_id = 0
        if self.tracer is not None:
            trace_id = self.tracer.record_send(now, sender, to, message)
        self._deliver(sender, to, message, trace_id)

    def send_many(
        self, sender: str, to: str, messages: list[Message], now: float | None = None
    ) -> None:
        """Deliver ``messages`` to ``to`` in order as one hop (a :class:`Batch`): the receiver
        wakes once for all of them. Every message still enters the flight recorder; with a
        tracer or hop fault rules attached they are sent one by one, so each is traced and
        each meets the rules."""
        if (
            len(messages) == 1  # (none: an empty Batch, which only wakes the receiver)
            or self.tracer is not None
            or (self.faults is not None and self.faults.has_hop_rules)
        ):
            for message in messages:
                self.send(sender, to, message, now)
            return
        if now is None:
            now = trio.current_time()
        self.record(sender, to, messages, now)
        self._deliver(sender, to, Batch(tuple(messages)), 0)

    def send_now(self, sender: str, to: str, messages: list[Message]) -> None:
        """Like :meth:`send_many`, from a task that is not one of the stack's (the
        application sending data): when ``to`` is idle it handles the messages at once, in
        the caller's task (:meth:`Actor.handle_now`), so a burst costs no task switch.

        A failure of that handling stops the actor, and with it the stack, as if its own
        task had raised, and reaches the caller as :class:`trio.BrokenResourceError`.
        """
        actor = self._actors.get(to)
        deadline = None if actor is None else actor._claim()
        if actor is None or deadline is None:
            self.send_many(sender, to, messages)
            return
        try:
            actor._handle_claimed(sender, messages, deadline)
        except Exception as exc:
            actor.fail(exc)
            raise trio.BrokenResourceError(f"the stack failed: {exc}") from exc

    def record(self, sender: str, to: str, messages: list[Message], now: float) -> None:
        """Enter ``messages`` in the flight recorder (what :meth:`send` does for one)."""
        flight = self._flight
        for message in messages:
            flight.append((now, sender, to, message))

    def _deliver(self, sender: str, to: str, message: Message, trace_id: int) -> None:
        try:
            inbox = self._inboxes[to]
        except KeyError:
            raise StackError(
                f"{sender} sent {type(message).__name__} to {to!r}, which is not an actor of "
                f"this stack (actors: {', '.join(self._actors)})",
                self.flight_recorder_lines(),
            ) from None
        try:
            inbox.send_nowait((sender, message, trace_id))
            self._actors[to]._waiting = False  # handed to its loop, which has not run yet
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # The receiver has stopped (the stack is shutting down): nothing can use it now.
            logger.debug("dropped %s to stopped actor %s", type(message).__name__, to)

    def _inject(self, sender: str, to: str, message: Message) -> bool:
        """Apply the fault policy; True when the policy took care of the message."""
        assert self.faults is not None
        if not self.faults.has_hop_rules:
            return False
        action = self.faults.on_send(Hop(sender, to, message))
        if action is None:
            return False
        if action.kind is FaultKind.DROP:
            return True
        if action.kind is FaultKind.REPLACE and action.replacement is not None:
            replaced = action.replacement(message)
            assert isinstance(replaced, Message)
            self._deliver(sender, to, replaced, self._trace(sender, to, replaced))
            return True
        if action.kind is FaultKind.DUPLICATE:
            for _ in range(action.copies):
                self._deliver(sender, to, message, self._trace(sender, to, message))
            return True
        if action.kind is FaultKind.DELAY:
            if self._nursery is None:
                return False
            self._nursery.start_soon(self._deliver_later, sender, to, message, action.seconds)
            return True
        return False

    def _trace(self, sender: str, to: str, message: Message) -> int:
        if self.tracer is None:
            return 0
        return self.tracer.record_send(trio.current_time(), sender, to, message)

    async def _deliver_later(self, sender: str, to: str, message: Message, seconds: float) -> None:
        await trio.sleep(seconds)
        self._deliver(sender, to, message, self._trace(sender, to, message))

    # -- failures ----------------------------------------------------------------------------
    def flight_recorder_lines(self) -> tuple[str, ...]:
        return tuple(
            f"{at:12.6f} {sender:>7} -> {to:<7} {message.summary()}"
            for at, sender, to, message in self._flight
        )

    def report_connection_fault(self, actor: str, handle: int, reason: str) -> None:
        fault = ConnectionFaultInd(handle=handle, actor=actor, reason=reason)
        self.connection_faults.append(fault)
        logger.error(
            "connection 0x%04X torn down: %s\n%s",
            handle,
            reason,
            "\n".join(self.flight_recorder_lines()[-32:]),
        )
        link_manager = self.topology.handler_of(ConnectionFaultInd)
        if link_manager is not None:
            self.send(actor, link_manager, fault)

    def kill(self, name: str) -> None:
        """Kill actor ``name`` (fault injection): it stops and the stack stops with an error."""
        self._actors[name].kill()


def leaf_exceptions(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaf_exceptions(inner)]
    return [error]


def raise_single_error(group: BaseExceptionGroup[BaseException]) -> None:
    """Re-raise bare what really happened inside ``group``, when that is one thing.

    Trio wraps task failures in exception groups; a user of the stack should see the one
    StackError (with its flight recorder), TransportError, KeyboardInterrupt, or the
    exception their own code raised in the ``async with`` block, rather than a nest of groups
    and cancellations. Several failures of other kinds stay grouped.
    """
    leaves = leaf_exceptions(group)
    happened = [leaf for leaf in leaves if not isinstance(leaf, trio.Cancelled)]
    if len(happened) == 1:
        raise happened[0] from group
    if not all(isinstance(leaf, BluetrioError | KeyboardInterrupt) for leaf in happened):
        return
    # Ctrl-C comes first: the errors next to it are what the interruption caused.
    interrupts = [leaf for leaf in happened if isinstance(leaf, KeyboardInterrupt)]
    if interrupts or happened:
        raise (interrupts or happened)[0] from group


class Actor:
    """The generic shell around a protocol core."""

    def __init__(self, core: ProtocolCore) -> None:
        self.spec: LayerSpec = core.spec
        self.name = self.spec.name
        self.core = core
        # Where this actor's emitted messages go, by type (the runtime's topology fills it).
        self.emit_routes: dict[type[Message], tuple[str, ...]] = {}
        self.timers = TimerTable()
        self.runtime: Runtime = _UNATTACHED
        self._inbox: trio.MemoryReceiveChannel[InboxItem] | None = None
        self._scope: trio.CancelScope | None = None
        self._killed = False
        self._failure: BaseException | None = None  # see fail()
        # While the loop handles one wake-up's messages, Sends are gathered here by
        # destination and go out as one hop each when the wake-up ends: a burst crosses
        # every hop once instead of once per message (a channel hop costs microseconds).
        self._outbox: dict[str, list[Message]] | None = None
        # True while the loop waits on an empty inbox with nothing handed to it yet (the
        # runtime clears it as it delivers): the actor is idle.
        self._waiting = False
        # A core that works per wake-up (see WakeupHooks) hears when each begins and ends.
        self._hooks: WakeupHooks | None = core if isinstance(core, WakeupHooks) else None
        # The clock read once per wake-up: its messages, timers and end share one instant
        # (a wake-up runs without a checkpoint, so the time a reading would give barely moves).
        self._now = 0.0
        self.logger = logging.getLogger(f"bluetrio.{self.name}")

    def attach(self, runtime: Runtime, inbox: trio.MemoryReceiveChannel[InboxItem]) -> None:
        self.runtime = runtime
        self._inbox = inbox

    # -- hooks for shells that own I/O -------------------------------------------------------
    async def start_background(self, nursery: trio.Nursery) -> None:
        """Start helper tasks (e.g. a transport reader) before messages are processed."""

    def on_runtime_closed(self) -> None:
        """The stack has stopped: release anything that waits on this actor."""

    def apply_effect(self, effect: ShellEffect) -> None:
        """Carry out an effect type only this shell knows; the base shell knows none."""
        raise TypeError(f"actor {self.name} does not know how to apply {effect!r}")

    # -- the loop ----------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        assert self._inbox is not None, "add the actor to a Runtime before running it"
        with trio.CancelScope() as scope:
            self._scope = scope
            if type(self).start_background is Actor.start_background:
                # No helper tasks: no nursery either (its cancel scope and status are memory
                # every actor of every stack would hold).
                task_status.started()
                await self._loop(self._inbox)
            else:
                async with trio.open_nursery() as nursery:
                    await self.start_background(nursery)
                    task_status.started()
                    await self._loop(self._inbox)
                    nursery.cancel_scope.cancel()
        if self._failure is not None:
            raise self._failure
        if self._killed:
            raise StackError(
                f"actor {self.name!r} was killed (fault injection)",
                self.runtime.flight_recorder_lines(),
            )

    def kill(self) -> None:
        self._killed = True
        if self._scope is not None:
            self._scope.cancel()

    def fail(self, error: BaseException) -> None:
        """Handling in another task raised ``error``: stop, raising it from this actor's task
        (so the stack stops with it, as when the actor's own task raises)."""
        if self._failure is None:
            self._failure = error
        if self._scope is not None:
            self._scope.cancel()

    async def _loop(self, inbox: trio.MemoryReceiveChannel[InboxItem]) -> None:
        timers = self.timers
        while True:
            deadline = timers.next_deadline()
            item: InboxItem | None = None
            try:
                try:
                    item = inbox.receive_nowait()
                except trio.WouldBlock:
                    # Idle: waiting on an empty inbox, where handle_now may claim this actor.
                    self._waiting = True
                    try:
                        if deadline == math.inf:
                            # No timer armed: wait without a cancel scope (the common data-path
                            # case; a scope per wake-up was a third of the hop cost, see
                            # bench/hop_cost.py).
                            item = await inbox.receive()
                        else:
                            with trio.CancelScope(deadline=deadline):
                                item = await inbox.receive()
                    finally:
                        self._waiting = False
                else:
                    # A schedule point per wake-up, as receive() makes when something is queued.
                    await trio.lowlevel.cancel_shielded_checkpoint()
            except trio.EndOfChannel:
                return
            now = trio.current_time()
            self._begin_wakeup(now)
            try:
                if item is None:  # the deadline came first
                    self._fire_expired_timers(now)
                    continue
                self.deliver(item, now)
                # Drain what is already queued without another scheduling round trip.
                while True:
                    try:
                        item = inbox.receive_nowait()
                    except trio.WouldBlock:
                        break
                    except trio.EndOfChannel:
                        return
                    self.deliver(item, now)
                if len(timers):
                    self._fire_expired_timers(now)
            finally:
                self._finish_wakeup()

    def handle_now(self, sender: str, messages: list[Message]) -> None:
        """Handle ``messages`` at once, in the calling task, as one wake-up: a burst then
        costs no hop. Called by a helper task of this actor's shell (the HCI transport
        reader); actors ending a wake-up hand their output to idle receivers the same way
        (:meth:`end_wakeup`), so a packet crosses idle layers as nested calls instead of
        one task switch per layer.

        Only while the loop waits on an empty inbox and no wake-up of this actor is under
        way (nor its output being sent), so nothing sent earlier is overtaken, and without a
        tracer or fault policy, which must see every hop; otherwise the messages take the
        inbox as one :meth:`Runtime.send_many` hop.
        """
        deadline = self._claim()
        if deadline is None:
            self.runtime.send_many(sender, self.name, messages)
        else:
            self._handle_claimed(sender, messages, deadline)

    def _claim(self) -> float | None:
        """Begin a wake-up in the calling task if this actor is idle (see :meth:`handle_now`);
        returns the deadline its loop waits for, or None when it is not idle."""
        runtime = self.runtime
        if (
            not self._waiting
            or self._outbox is not None
            or runtime.tracer is not None
            or runtime.faults is not None
        ):
            return None
        deadline = self.timers.next_deadline()
        self._begin_wakeup(trio.current_time())
        return deadline

    def _handle_claimed(self, sender: str, messages: list[Message], deadline: float) -> None:
        now = self._now
        self.runtime.record(sender, self.name, messages, now)
        try:
            message = messages[0] if len(messages) == 1 else Batch(tuple(messages))
            self.deliver((sender, message, 0), now)
        finally:
            self._finish_wakeup()
        if self.timers.next_deadline() < deadline:
            # A timer armed here: wake the loop (an empty hop) so it waits for the new deadline.
            self.runtime.send_many(self.name, self.name, [])

    def _begin_wakeup(self, now: float) -> None:
        self._now = now
        self._outbox = {}
        if self._hooks is not None:
            self._hooks.begin_wakeup()

    def _finish_wakeup(self) -> None:
        """The core's end-of-wake-up work first (its effects join the wake-up's), then
        :meth:`end_wakeup`."""
        hooks = self._hooks
        if hooks is not None:
            now = self._now
            try:
                effects = hooks.end_wakeup(now)
            except Exception as exc:
                self._outbox = None
                raise StackError(
                    f"{self.name} failed ending a wake-up: {exc!r}",
                    self.runtime.flight_recorder_lines(),
                ) from exc
            if effects:
                self.apply(effects, now)
        self.end_wakeup()

    def end_wakeup(self) -> None:
        """The wake-up's messages are handled: send what they produced, one hop per
        destination; a receiver that is idle handles its share at once, in this task.
        Shells that own I/O extend this to flush their own output.

        Every idle receiver is claimed before any of them runs, so what one of them sends
        on at once to another receiver of this wake-up queues behind what this wake-up sent
        it, as it would with every hop through an inbox.
        """
        outbox = self._outbox
        try:
            if outbox:
                runtime = self.runtime
                actors = runtime._actors
                claims: list[tuple[str, list[Message], Actor | None, float | None]] = []
                for to, messages in outbox.items():
                    receiver = actors.get(to)
                    deadline = None if receiver is None else receiver._claim()
                    claims.append((to, messages, receiver, deadline))
                for to, messages, receiver, deadline in claims:
                    if receiver is None or deadline is None:
                        runtime.send_many(self.name, to, messages)  # (unknown: StackError)
                    else:
                        receiver._handle_claimed(self.name, messages, deadline)
        finally:
            # Only now: while the output leaves, this actor is still busy, so a receiver
            # answering at once queues behind it instead of overtaking what is not sent yet.
            self._outbox = None

    def _fire_expired_timers(self, now: float) -> None:
        for key in self.timers.pop_expired(now):
            self.dispatch(self.name, TimerExpired(key), now)

    def deliver(self, item: InboxItem, now: float) -> None:
        sender, message, trace_id = item
        if trace_id:
            tracer = self.runtime.tracer
            if tracer is not None:
                tracer.record_receive(now, trace_id)
        if type(message) is Batch:
            for inner in message.messages:
                self.dispatch(sender, inner, now)
        else:
            self.dispatch(sender, message, now)

    def dispatch(self, sender: str, message: Message, now: float) -> None:
        try:
            effects = self.core.handle(sender, message, now)
        except Exception as exc:
            effects = self._contain(message, exc, now)
        if effects:
            self.apply(effects, now)

    def apply(self, effects: Iterable[Effect], now: float | None = None) -> None:
        runtime = self.runtime
        timers = self.timers
        for effect in effects:
            match effect:
                case Send(to=to, message=message):
                    self._send(to, message, now)
                case Emit(message=message):
                    route = self.emit_routes.get(type(message))
                    if route is None:
                        route = runtime.topology.route(self.name, message)
                    for to in route:
                        self._send(to, message, now)
                case StartTimer(key=key, deadline=deadline):
                    timers.start(key, deadline)
                case CancelTimer(key=key):
                    timers.cancel(key)
                case ReleaseTimers(owner=owner):
                    timers.release(owner)
                case ShellEffect():
                    self.apply_effect(effect)

    def _send(self, to: str, message: Message, now: float | None) -> None:
        outbox = self._outbox
        if outbox is None:
            self.runtime.send(self.name, to, message, now)
        else:
            outbox.setdefault(to, []).append(message)

    def _contain(self, message: Message, exc: Exception, now: float) -> Effects:
        """Failure containment.

        An exception tied to one connection tears that connection down and the stack goes
        on; any other exception stops the stack with the flight recorder attached.
        """
        handle = connection_handle_of(message)
        what = f"{self.name} failed handling {type(message).__name__}: {exc!r}"
        if handle is None:
            raise StackError(what, self.runtime.flight_recorder_lines()) from exc
        self.logger.error("%s", what, exc_info=exc)
        self.runtime.report_connection_fault(self.name, handle, what)
        try:
            return self.core.drop_connection(handle, what, now)
        except Exception as cleanup_exc:
            raise StackError(
                f"{self.name} could not drop connection 0x{handle:04X} after: {what}",
                self.runtime.flight_recorder_lines(),
            ) from cleanup_exc


class _Unattached(Runtime):
    def send(self, sender: str, to: str, message: Message, now: float | None = None) -> None:
        raise RuntimeError(f"actor {sender} is not attached to a runtime")


_UNATTACHED: Runtime = _Unattached.__new__(_Unattached)
