"""The application's port: the edge between the actors and user code.

A message that reaches the application goes, in this order, to

1. the caller awaiting the confirmation with its ``token`` (:meth:`AppPort.request`);
2. the *observers* of its class: synchronous functions run in the port's own task, in order
   with every other message (the live :class:`~bluetrio.link.Link` objects are kept current
   this way, so a link's state never lags behind a confirmation that follows it);
3. the *mailboxes* open for it. A mailbox is one resource's bounded queue, keyed by message
   class and, optionally, connection handle and channel id: finding the mailboxes of a
   message is a few dictionary look-ups, whatever the number of open mailboxes.

A message nobody takes is logged, never dropped silently. Handling runs under the runtime's
failure containment (:meth:`~bluetrio.actors.runtime.Actor.dispatch`): an observer that raises
on a connection's message tears down that connection only.

Mailboxes are bounded and say what happens at the bound (:class:`Mailbox`). A stream that is
flow-controlled by credits (L2CAP credit-based channels, RFCOMM) opens its mailbox with a
capacity equal to the credits it grants and passes ``on_consumed``, which runs each time the
application takes a message, to give a credit back: the producer never has more in flight
than the mailbox holds, so backpressure reaches the peer instead of growing a queue.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, NamedTuple, TypeVar

import attrs
import trio

from bluetrio.actors.effects import Effects
from bluetrio.actors.runtime import Actor
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.errors import InvalidArgumentError, StackError
from bluetrio.messages import btm as btm_service
from bluetrio.messages import btm_security as security_service
from bluetrio.messages import gatt_service, gatt_state, smp_service
from bluetrio.messages.base import Message, channel_id_of, connection_handle_of
from bluetrio.messages.hci_service import (
    AclDataInd,
    AclLinkClosedInd,
    AclLinkOpenedInd,
    HciEventInd,
)

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
DEFAULT_MAILBOX_CAPACITY = 256
# Requests whose caller gave up and whose reply has not come; beyond, the oldest is forgotten
# (its reply, should it come, is then logged like any message nobody takes).
MAX_ABANDONED_REQUESTS = 256


class MailboxKey(NamedTuple):
    """What a mailbox receives: messages of class ``kind`` (or a subclass) and, when given,
    only those of connection ``handle`` and L2CAP channel ``cid``. (A tuple, so that routing
    looks keys up without building objects.)"""

    kind: type
    handle: int | None = None
    cid: int | None = None


class Mailbox(trio.abc.ReceiveChannel[M], Generic[M]):
    """The bounded queue of one resource, filled by the app port, read by the application.

    At most ``capacity`` messages wait; when one more arrives, the oldest is discarded,
    counted in :attr:`dropped` and logged (a reader that falls behind a stream of
    observations, such as scan reports, sees the newest ones). A flow under credits never
    reaches the bound (see the module docstring).

    Read it with ``await mailbox.receive()`` or ``async for message in mailbox``; close it
    with ``with mailbox:`` (or :meth:`close`), which unsubscribes it at once. When the stack
    closes, the reader gets what is queued, then the iteration ends
    (``trio.EndOfChannel`` from :meth:`receive`).
    """

    def __init__(
        self,
        keys: tuple[MailboxKey, ...],
        capacity: int,
        *,
        accepts: Callable[[M], bool] | None = None,
        on_consumed: Callable[[M], None] | None = None,
        on_close: Callable[[Mailbox[M]], None] | None = None,
    ) -> None:
        if capacity < 1:
            raise InvalidArgumentError(f"a mailbox holds at least one message, not {capacity}")
        self.keys = keys
        self.capacity = capacity
        self.dropped = 0
        self._accepts = accepts
        self._on_consumed = on_consumed
        self._on_close = on_close
        self._queue: deque[M] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False  # by the application
        self._ended = False  # by the stack

    def __repr__(self) -> str:
        kinds = ", ".join(key.kind.__name__ for key in self.keys)
        return f"<Mailbox {kinds} {len(self._queue)}/{self.capacity}>"

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed or self._ended

    # -- the port's side ---------------------------------------------------------------------
    def put(self, message: M) -> None:
        """Queue ``message`` (never blocks; see the class docstring for the bound)."""
        if self.closed or (self._accepts is not None and not self._accepts(message)):
            return
        if len(self._queue) >= self.capacity:
            discarded = self._queue.popleft()
            self.dropped += 1
            log = logger.warning if self.dropped == 1 else logger.debug
            log("%r full: discarded %s (%d so far)", self, discarded.summary(), self.dropped)
        self._queue.append(message)
        if self._lot:
            self._lot.unpark()

    def end(self) -> None:
        """The stack closed: readers get what is queued, then the end of the channel."""
        self._ended = True
        self._lot.unpark_all()

    # -- the application's side ---------------------------------------------------------------
    def receive_nowait(self) -> M:
        """The next message; ``trio.WouldBlock`` when none is queued."""
        if self._closed:
            raise trio.ClosedResourceError("this mailbox was closed")
        if not self._queue:
            if self._ended:
                raise trio.EndOfChannel
            raise trio.WouldBlock
        message = self._queue.popleft()
        if self._on_consumed is not None:
            self._on_consumed(message)
        return message

    async def receive(self) -> M:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                message = self.receive_nowait()
            except trio.WouldBlock:
                await self._lot.park()
                continue
            await trio.lowlevel.cancel_shielded_checkpoint()
            return message

    def close(self) -> None:
        """Stop receiving: unsubscribe and discard what is queued. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._lot.unpark_all()
        if self._on_close is not None:
            self._on_close(self)

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()

    def __enter__(self) -> Mailbox[M]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


Observer = Callable[[Message], None]


def _message_classes(cls: type) -> tuple[type, ...]:
    """``cls`` and its bases up to :class:`Message`: the kinds a message of ``cls`` is."""
    return tuple(kind for kind in cls.__mro__ if issubclass(kind, Message))


@attrs.define
class _Waiter:
    event: trio.Event = attrs.Factory(trio.Event)
    reply: Message | None = None


class AppRouter:
    """The port's core: routes each message to its waiter, observers and mailboxes.

    Not sans-IO like a protocol core (waking a waiting task is I/O to the application), but
    driven the same way, so the shell's failure containment covers it.

    Its declaration makes the application the edge of the stack: it subscribes to the
    indications of the services below, watches every HCI event while ``Stack.events`` is
    read, and takes raw ACL data with its link signals while no layer of the stack handles
    them.
    """

    spec = LayerSpec(
        Layer.APP,
        subscribes=(
            *btm_service.INDICATIONS,
            *security_service.INDICATIONS,
            *smp_service.APP_INDICATIONS,
            *gatt_service.APP_INDICATIONS,
            *gatt_state.APP_INDICATIONS,
        ),
        fallback=(AclLinkOpenedInd, AclDataInd, AclLinkClosedInd),
        observes=(HciEventInd,),
    )

    def __init__(self) -> None:
        self.waiters: dict[int, _Waiter] = {}
        self.late_replies: dict[int, Callable[[Message], None]] = {}
        self.observers: dict[type, list[Observer]] = {}
        # Mailbox[Any]: each mailbox takes one message class, which its key names and the
        # value type of one dictionary cannot.
        self.mailboxes: dict[tuple[type, int | None, int | None], list[Mailbox[Any]]] = {}
        self.unrouted = 0
        self._kinds: dict[type, tuple[type, ...]] = {}

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        token = getattr(message, "token", None)
        if isinstance(token, int):
            waiter = self.waiters.pop(token, None)
            if waiter is not None:
                waiter.reply = message
                waiter.event.set()
                return []
            late = self.late_replies.pop(token, None)
            if late is not None:
                late(message)
                return []
        taken = False
        cls = type(message)
        kinds = self._kinds.get(cls)
        if kinds is None:
            kinds = self._kinds[cls] = _message_classes(cls)
        handle = connection_handle_of(message)
        cid = channel_id_of(message) if handle is not None else None
        observers, mailboxes = self.observers, self.mailboxes
        for kind in kinds:
            watching = observers.get(kind)
            if watching is not None:
                taken = True
                for observe in watching:
                    observe(message)
            if not mailboxes:
                continue
            keys: list[tuple[type, int | None, int | None]] = [(kind, None, None)]
            if handle is not None:
                keys.append((kind, handle, None))
                if cid is not None:
                    keys.append((kind, handle, cid))
            for key in keys:
                boxes = mailboxes.get(key)
                if boxes:
                    taken = True
                    for box in boxes:
                        box.put(message)
        if not taken:
            self.unrouted += 1
            logger.debug("app: nobody takes %s from %s", message.summary(), sender)
        return []

    def abandon(self, token: int, handler: Callable[[Message], None]) -> None:
        """Hand the reply with ``token``, when it comes, to ``handler``."""
        self.late_replies[token] = handler
        if len(self.late_replies) > MAX_ABANDONED_REQUESTS:
            forgotten = next(iter(self.late_replies))
            del self.late_replies[forgotten]
            logger.warning("app: forgot abandoned request #%d (too many unanswered)", forgotten)

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        # The link manager disconnects the link; its LinkDownInd then ends the app's view.
        return []

    def register(self, mailbox: Mailbox[Any]) -> None:
        for key in mailbox.keys:
            self.mailboxes.setdefault(key, []).append(mailbox)

    def unregister(self, mailbox: Mailbox[Any]) -> None:
        for key in mailbox.keys:
            boxes = self.mailboxes.get(key, [])
            if mailbox in boxes:
                boxes.remove(mailbox)
            if not boxes:
                self.mailboxes.pop(key, None)

    def all_mailboxes(self) -> Iterator[Mailbox[Any]]:
        seen: set[int] = set()
        for boxes in self.mailboxes.values():
            for box in boxes:
                if id(box) not in seen:
                    seen.add(id(box))
                    yield box


class AppPort(Actor):
    """The application's mailbox (address ``"app"``): the edge between actors and user code.

    User-facing APIs send requests carrying a ``token`` and await the confirmation with the
    same token (:meth:`request`); indications go to observers (:meth:`observe`) and to
    per-resource mailboxes (:meth:`open_mailbox`).
    """

    NAME = Layer.APP

    def __init__(self) -> None:
        self.router = AppRouter()
        self._closers: list[Callable[[], None]] = []
        super().__init__(self.router)

    def send(self, to: str, message: Message) -> None:
        self.runtime.send(self.name, to, message)

    def on_runtime_closed(self) -> None:
        # Wake every waiter with no reply: request() turns that into a StackError, so a
        # caller never hangs; end every mailbox so its reader's iteration ends.
        for waiter in self.router.waiters.values():
            waiter.event.set()
        for box in list(self.router.all_mailboxes()):
            box.end()
        for close in self._closers:
            close()

    def when_closed(self, close: Callable[[], None]) -> None:
        """Call ``close`` when the stack has stopped (to release what waits on the port)."""
        self._closers.append(close)

    async def request(
        self,
        to: str,
        message: Message,
        *,
        if_abandoned: Callable[[Message], None] | None = None,
    ) -> Message:
        """Send ``message`` (which has a ``token``) and wait for the reply with that token.

        Raises :class:`StackError` if the stack is closed, or closes before the reply. When
        the caller is cancelled, ``if_abandoned`` gets the reply, in the port's task when it
        comes later (e.g. to drop a link that won the race against a cancelled connect).
        """
        token = getattr(message, "token", None)
        if not isinstance(token, int):
            raise TypeError(f"{type(message).__name__} carries no token to match a reply")
        if self.runtime.closed:
            raise StackError(f"the stack is closed; {type(message).__name__} was not sent")
        waiter = _Waiter()
        self.router.waiters[token] = waiter
        try:
            self.send(to, message)
            await waiter.event.wait()
        except BaseException:
            if if_abandoned is not None:
                if waiter.reply is not None:
                    if_abandoned(waiter.reply)
                else:
                    self.router.abandon(token, if_abandoned)
            raise
        finally:
            self.router.waiters.pop(token, None)
        if waiter.reply is None:
            raise StackError(f"the stack closed before {type(message).__name__} was answered")
        return waiter.reply

    def observe(self, kind: type[M], observer: Callable[[M], None]) -> None:
        """Call ``observer`` synchronously with every message of class ``kind``."""
        # The router calls it with messages of ``kind`` only, which the list's type cannot say.
        self.router.observers.setdefault(kind, []).append(observer)  # type: ignore[arg-type]

    def open_mailbox(
        self,
        *kinds: type[M],
        handle: int | None = None,
        cid: int | None = None,
        capacity: int = DEFAULT_MAILBOX_CAPACITY,
        accepts: Callable[[M], bool] | None = None,
        on_consumed: Callable[[M], None] | None = None,
        on_close: Callable[[Mailbox[M]], None] | None = None,
    ) -> Mailbox[M]:
        """A mailbox receiving the messages of ``kinds`` (for ``handle``/``cid`` if given).

        ``accepts`` narrows it further; ``on_consumed`` runs as the application takes each
        message (to return a credit); ``on_close`` runs when the application closes it.
        """
        if not kinds:
            raise InvalidArgumentError("a mailbox needs at least one message class")
        keys = tuple(MailboxKey(kind, handle, cid) for kind in kinds)
        router = self.router

        def closed(box: Mailbox[M]) -> None:
            router.unregister(box)
            if on_close is not None:
                on_close(box)

        box = Mailbox(keys, capacity, accepts=accepts, on_consumed=on_consumed, on_close=closed)
        if self.runtime.closed:
            box.end()
        else:
            router.register(box)
        return box
