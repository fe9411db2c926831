"""What the application's channels over the stack's messages share: L2CAP channels
(:mod:`bluetrio.l2cap`), fixed channels (:mod:`bluetrio.fixed_channels`) and RFCOMM DLCs
(:mod:`bluetrio.rfcomm`).

Each is the application's view of one channel a layer carries, kept current by observers of
the application port (so in order with every other message):

* an :class:`Endpoint` holds what arrived and waits to be read, the requests handed to the
  layer and not yet confirmed (the send window), and why the channel ended; tasks wait on it
  apart for room to send and for data, so a confirmation never wakes a reader;
* a :class:`MessageStream` is a :class:`trio.abc.HalfCloseableStream` over one endpoint: one
  task sends and one receives at a time, a call after ``aclose`` raises
  :class:`trio.ClosedResourceError`, one after the channel ended
  :class:`trio.BrokenResourceError` with the reason;
* a :class:`MessageListener` is the backlog of channels peers opened, as
  :func:`trio.serve_listeners` takes them;
* a :class:`ChannelRequests` hands messages to its layer and closes a channel, waiting in the
  caller's task (bounded and shielded) or from an observer, where no task can wait.
"""

from __future__ import annotations

import abc
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import ClassVar, Generic, TypeVar

import trio

from bluetrio.actors.app_port import AppPort
from bluetrio.errors import StackError
from bluetrio.messages.base import Message

logger = logging.getLogger(__name__)


class Endpoint:
    """The application's state of one channel of link ``handle``, from its first message on
    (which may come before the caller that opened the channel resumes)."""

    def __init__(self, handle: int) -> None:
        self.handle = handle
        self.received: deque[bytes] = deque()
        self.unconfirmed = 0  # requests handed to the layer and not yet confirmed
        self.ended: str | None = None  # why the channel ended, from the stack's side
        self.broken = False  # ended by a failure (link loss, the stack closing), not the peer
        self.senders = trio.lowlevel.ParkingLot()
        self.receivers = trio.lowlevel.ParkingLot()

    def wake_senders(self) -> None:
        """The send window moved: the sender waiting, if one is, looks again. (A lot with
        nobody in it is not touched: unparking costs microseconds, and the data path calls
        this per message.)"""
        if self.senders:
            self.senders.unpark_all()

    def wake_receivers(self) -> None:
        """Data arrived: the reader waiting, if one is, takes it."""
        if self.receivers:
            self.receivers.unpark_all()

    def wake_all(self) -> None:
        self.senders.unpark_all()
        self.receivers.unpark_all()

    def end(self, reason: str, *, broken: bool) -> None:
        """The channel ended (the first reason stays): every waiting task wakes to see it."""
        if self.ended is None:
            self.ended = reason
            self.broken = broken
        self.wake_all()


E = TypeVar("E", bound=Endpoint)


class Endpoints(dict[tuple[int, int], E]):
    """The endpoints of a registry by (link handle, channel), made on first use by
    ``make(handle, channel)``."""

    def __init__(self, make: Callable[[int, int], E]) -> None:
        super().__init__()
        self._make = make

    def made(self, handle: int, channel: int) -> E:
        """The endpoint of ``channel`` on link ``handle``, made now if it has no state yet."""
        endpoint = self.get((handle, channel))
        if endpoint is None:
            endpoint = self[handle, channel] = self._make(handle, channel)
        return endpoint


class MessageChannel(Generic[E]):
    """The application's handle on one :class:`Endpoint`: closed by the application, or
    ended by the stack. Subclasses say what they are called in errors (:attr:`noun`)."""

    noun: ClassVar[str] = "channel"

    def __init__(self, endpoint: E) -> None:
        self._endpoint = endpoint
        self._closed = False

    @property
    def handle(self) -> int:
        """The ACL link the channel runs on."""
        return self._endpoint.handle

    def _state(self) -> str:
        """How the channel stands, for ``repr``."""
        return "closed" if self._closed else (self._endpoint.ended or "open")

    def _check_sendable(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError(f"this {self.noun} was closed")
        ended = self._endpoint.ended
        if ended is not None:
            raise trio.BrokenResourceError(ended)

    async def _wait_for_room(self, room: Callable[[], bool]) -> None:
        """Wait until ``room()`` says the send window takes more (checked again after every
        confirmation); raises once the stream is closed or the channel ended."""
        endpoint = self._endpoint
        while True:
            self._check_sendable()
            if room():
                return
            await endpoint.senders.park()


class OneTaskAtATime:
    """A context that a second task may not enter while one is in it: it raises
    :class:`trio.BusyResourceError` (trio's rule for a stream's sending and its receiving)."""

    __slots__ = ("_busy", "_message")

    def __init__(self, message: str) -> None:
        self._message = message
        self._busy = False

    def __enter__(self) -> None:
        if self._busy:
            raise trio.BusyResourceError(self._message)
        self._busy = True

    def __exit__(self, *exc_info: object) -> None:
        self._busy = False


class MessageStream(MessageChannel[E], trio.abc.HalfCloseableStream):
    """A byte stream over one :class:`Endpoint` (see the module docstring): one task sends
    (within ``self._one_sender``) and one receives (``self._one_receiver``) at a time.
    Subclasses say how the channel closes (:meth:`_close_channel`)."""

    noun: ClassVar[str] = "stream"

    def __init__(self, endpoint: E) -> None:
        super().__init__(endpoint)
        self._partial = b""  # the rest of what a receive_some with max_bytes cut
        self._one_sender = OneTaskAtATime(f"another task is sending on this {self.noun}")
        self._one_receiver = OneTaskAtATime(f"another task is receiving on this {self.noun}")

    def _take_partial(self, max_bytes: int | None) -> bytes:
        """At most ``max_bytes`` of what was taken and not yet returned; the rest stays."""
        if max_bytes is None or max_bytes >= len(self._partial):
            data, self._partial = self._partial, b""
        else:
            data, self._partial = self._partial[:max_bytes], self._partial[max_bytes:]
        return data

    async def aclose(self) -> None:
        """Close the channel (see :meth:`_close_channel`); a second close only checkpoints."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        self._endpoint.wake_all()
        await self._close_channel()

    @abc.abstractmethod
    async def _close_channel(self) -> None:
        """Close the channel with the layer (called once, by the first :meth:`aclose`)."""


S = TypeVar("S", bound=trio.abc.AsyncResource)


class MessageListener(trio.abc.Listener[S], Generic[S]):
    """The channels peers opened and the application has not accepted yet. Subclasses say
    how listening stops (:meth:`_stop_listening`) and may act on a channel as it is
    accepted (:meth:`_accepted`)."""

    def __init__(self) -> None:
        self.backlog: deque[S] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False

    def _arrived(self, channel: S) -> None:
        self.backlog.append(channel)
        self._lot.unpark()

    def _shut(self) -> None:
        """No more accepting (the stack closed, or the listener is closing)."""
        self._closed = True
        self._lot.unpark_all()

    def _accepted(self, channel: S) -> None:
        """``channel`` leaves the backlog for the application."""

    async def accept(self) -> S:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            if self._closed:
                raise trio.ClosedResourceError("this listener was closed")
            if self.backlog:
                channel = self.backlog.popleft()
                self._accepted(channel)
                await trio.lowlevel.cancel_shielded_checkpoint()
                return channel
            await self._lot.park()

    async def aclose(self) -> None:
        """Stop listening; channels opened and not accepted are closed."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._shut()
        await self._stop_listening()
        while self.backlog:
            await self.backlog.popleft().aclose()

    @abc.abstractmethod
    async def _stop_listening(self) -> None:
        """Deregister with the layer (called once, by the first :meth:`aclose`)."""


class ChannelRequests:
    """Requests to the layer ``layer`` on the application's behalf, from the application's
    tasks or from observers of its port."""

    def __init__(self, app: AppPort, layer: str) -> None:
        self._app = app
        self._layer = layer

    def send_many(self, messages: list[Message]) -> None:
        """Hand ``messages`` to the layer in order, as one hop (handled at once, in this task,
        when the layer is idle)."""
        runtime = self._app.runtime
        if runtime.closed:
            raise trio.BrokenResourceError("the stack is closed")
        runtime.send_now(self._app.name, self._layer, messages)

    def new_token(self) -> int:
        return self._app.runtime.new_token()

    async def close_channel(
        self,
        endpoint: Endpoint,
        request: Callable[[int], Message],
        *,
        timeout: float,
        what: str,
        label: str,
    ) -> None:
        """End ``endpoint`` as closed by us ("this {what} was closed") and send the layer
        ``request(token)``, waiting for its confirmation at most ``timeout`` seconds, shielded
        (a close is not undone by a cancellation). Nothing is sent when the channel ended
        already. ``label`` names the channel in the warning of a close that took too long."""
        if endpoint.ended is not None or self._app.runtime.closed:
            await trio.lowlevel.checkpoint()
            return
        endpoint.end(f"this {what} was closed", broken=False)
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + timeout
            with contextlib.suppress(StackError):
                await self._app.request(self._layer, request(self.new_token()))
        if scope.cancelled_caught:
            logger.warning("%s: no disconnection in time", label)

    def close_later(self, request: Callable[[int], Message]) -> None:
        """Send the layer ``request(token)`` from an observer (no task to wait in): its
        confirmation is taken by nobody and dropped."""
        token = self.new_token()
        self._app.router.abandon(token, lambda reply: None)
        self.send_many([request(token)])


__all__ = [
    "ChannelRequests",
    "Endpoint",
    "Endpoints",
    "MessageChannel",
    "MessageListener",
    "MessageStream",
    "OneTaskAtATime",
]
