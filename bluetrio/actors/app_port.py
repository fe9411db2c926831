"""The application's port: the edge between the actors and user code."""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import trio

from bluetrio.actors.effects import Effects
from bluetrio.actors.runtime import Actor
from bluetrio.errors import StackError
from bluetrio.messages.base import Message


@attrs.define
class _Subscription:
    predicate: Callable[[Message], bool]
    channel: trio.MemorySendChannel[Message]


class AppCore:
    """Placeholder core of the application port: never called (AppPort overrides dispatch)."""

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        raise AssertionError("AppPort dispatches itself")

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


class AppPort(Actor):
    """The application's mailbox (address ``"app"``): the edge between actors and user code.

    User-facing APIs send requests carrying a ``token`` and await the confirmation with the
    same token (:meth:`request`); indications are fanned out to subscribers (:meth:`subscribe`).
    Indications nobody subscribed to are logged, never silently dropped.
    """

    NAME = "app"

    def __init__(self) -> None:
        super().__init__(self.NAME, AppCore())
        self._waiters: dict[int, tuple[trio.Event, list[Message]]] = {}
        self._subscriptions: list[_Subscription] = []

    def dispatch(self, sender: str, message: Message, now: float) -> None:
        token = getattr(message, "token", None)
        if isinstance(token, int) and token in self._waiters:
            event, slot = self._waiters[token]
            slot.append(message)
            event.set()
            return
        delivered = False
        for subscription in self._subscriptions:
            if subscription.predicate(message):
                subscription.channel.send_nowait(message)
                delivered = True
        if not delivered:
            self.logger.debug("no subscriber for %s from %s", message.summary(), sender)

    def send(self, to: str, message: Message) -> None:
        self.runtime.send(self.name, to, message)

    def on_runtime_closed(self) -> None:
        # Wake every waiter with no reply: request() turns that into a StackError, so a
        # caller (or an async generator finalised after the stack closed) never hangs.
        for event, _ in self._waiters.values():
            event.set()

    async def request(self, to: str, message: Message) -> Message:
        """Send ``message`` (which has a ``token``) and wait for the reply with that token.

        Raises :class:`StackError` if the stack is closed, or closes before the reply.
        """
        token = getattr(message, "token", None)
        if not isinstance(token, int):
            raise TypeError(f"{type(message).__name__} carries no token to match a reply")
        if self.runtime.closed:
            raise StackError(f"the stack is closed; {type(message).__name__} was not sent")
        event = trio.Event()
        slot: list[Message] = []
        self._waiters[token] = (event, slot)
        try:
            self.send(to, message)
            await event.wait()
        finally:
            del self._waiters[token]
        if not slot:
            raise StackError(f"the stack closed before {type(message).__name__} was answered")
        return slot[0]

    def subscribe(self, predicate: Callable[[Message], bool]) -> trio.MemoryReceiveChannel[Message]:
        """A channel receiving every indication for which ``predicate`` is true.

        Close the returned channel to unsubscribe.
        """
        send, receive = trio.open_memory_channel[Message](math.inf)
        subscription = _Subscription(predicate, send)
        self._subscriptions.append(subscription)

        def unsubscribe_on_close() -> None:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

        _close_hooks[id(receive)] = unsubscribe_on_close
        return receive

    def unsubscribe(self, channel: trio.MemoryReceiveChannel[Message]) -> None:
        hook = _close_hooks.pop(id(channel), None)
        if hook is not None:
            hook()
        channel.close()


_close_hooks: dict[int, Callable[[], None]] = {}
