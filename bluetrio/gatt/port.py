"""The application's ATT bearer of a link: raw ATT requests, commands and received values
(Core 5.4 Vol 3 Part F), on the gatt actor's service primitives.

:class:`AttClientBearer` is what a GATT client stands on (``bluetrio/gatt/client.py`` drives
its procedures over it, a test drives them over a fake); :class:`LinkAttBearer` is the one of
a live LE link, reached as ``link.att``. The gatt actor keeps the transaction rule (one
request at a time per bearer, the 30 s timeout), so concurrent callers of :meth:`exchange`
simply wait their turn; with EATT the actor spreads them over the link's bearers.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

import attrs
import trio

from bluetrio import arguments
from bluetrio.actors.app_port import AppPort, Mailbox
from bluetrio.actors.topology import Layer
from bluetrio.errors import AttError, AttTransactionTimeout, InvalidArgumentError, LinkLost
from bluetrio.messages.att import (
    DEFAULT_MTU,
    TRANSACTION_TIMEOUT,
    AttPdu,
    PduKind,
    kind_of,
)
from bluetrio.messages.btm import LinkDownInd
from bluetrio.messages.gatt_service import (
    AttCommandCnf,
    AttCommandReq,
    AttExchangeCnf,
    AttExchangeReq,
    AttFailure,
    AttMtuInd,
    AttValueInd,
)

if TYPE_CHECKING:
    from bluetrio.actors.runtime import Runtime

logger = logging.getLogger(__name__)

DEFAULT_LISTEN_CAPACITY = 256


@attrs.frozen
class AttValue:
    """A value the server sent: by notification, or by indication (already confirmed)."""

    value: bytes
    indication: bool


class ValueStream:
    """The values of one attribute as they arrive (``async for value in stream``); at most
    ``capacity`` wait unread, the oldest discarded beyond (counted in :attr:`dropped`)."""

    def __init__(self, mailbox: Mailbox[AttValueInd]) -> None:
        self._mailbox = mailbox

    @property
    def dropped(self) -> int:
        return self._mailbox.dropped

    async def receive(self) -> AttValue:
        """The next value; ``trio.EndOfChannel`` once the link or the stack is gone."""
        message = await self._mailbox.receive()
        return AttValue(message.value, message.indication)

    def __aiter__(self) -> ValueStream:
        return self

    async def __anext__(self) -> AttValue:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


class AttClientBearer(Protocol):
    """What a GATT client needs of a link's ATT bearer."""

    @property
    def mtu(self) -> int:
        """The ATT_MTU requests and responses are cut to (23 until an exchange)."""
        ...

    async def exchange(self, request: AttPdu, *, timeout: float = TRANSACTION_TIMEOUT) -> AttPdu:
        """Send ``request`` and return its response or the server's Error Response."""
        ...

    async def send_command(self, pdu: AttPdu) -> None:
        """Send a command (no response); returns once the controller took it."""
        ...

    def listen(
        self, value_handle: int, capacity: int = DEFAULT_LISTEN_CAPACITY
    ) -> AbstractAsyncContextManager[ValueStream]:
        """The values of ``value_handle`` from now on, open before this returns."""
        ...


class LinkAttBearer:
    """The ATT bearer of live LE link ``handle`` (implements :class:`AttClientBearer`)."""

    def __init__(self, app: AppPort, handle: int) -> None:
        self._app = app
        self.handle = handle
        self._mtu = DEFAULT_MTU
        self._lost: str | None = None  # why the link went
        self._listening: set[Mailbox[AttValueInd]] = set()

    @property
    def runtime(self) -> Runtime:
        return self._app.runtime

    @property
    def mtu(self) -> int:
        return self._mtu

    def _mtu_changed(self, mtu: int) -> None:
        self._mtu = mtu

    def _link_down(self, reason: int) -> None:
        self._lost = f"the link went down (reason 0x{reason:02X})"
        # No value comes any more: the listeners' iterations end after what is queued.
        for mailbox in self._listening:
            mailbox.end()

    def _check(self, pdu: object, kind: PduKind) -> AttPdu:
        if not isinstance(pdu, AttPdu):
            raise InvalidArgumentError(f"an ATT PDU is needed, got {pdu!r}")
        if kind_of(pdu.opcode) is not kind:
            raise InvalidArgumentError(f"{type(pdu).__name__} is not an ATT {kind.value}")
        length = len(pdu.encode())
        if length > self._mtu:
            raise InvalidArgumentError(
                f"{type(pdu).__name__} of {length} octets does not fit the ATT_MTU {self._mtu}"
            )
        if self._lost is not None:
            raise LinkLost(self._lost)
        return pdu

    async def exchange(self, request: AttPdu, *, timeout: float = TRANSACTION_TIMEOUT) -> AttPdu:
        """Send ``request``; its response or the server's Error Response.

        Raises :class:`AttTransactionTimeout` when the server did not answer within 30 s of
        the request going out (or the bearer timed out before: it then carries nothing
        more), or when a ``timeout`` shorter than that passed first; :class:`LinkLost` when
        the link went; :class:`AttError` when the actor refused it (its queue is full, the
        MTU was already exchanged)."""
        self._check(request, PduKind.REQUEST)
        timeout = arguments.seconds("timeout", timeout)
        token = self.runtime.new_token()
        # The actor answers every request: its response, or the failure when the 30 s from
        # the moment it was sent ran out (a request queued behind others is sent later) or
        # the link went. A shorter ``timeout`` is the caller's own.
        limit = timeout if timeout < TRANSACTION_TIMEOUT else math.inf
        with trio.move_on_after(limit) as scope:
            reply = await self._app.request(
                Layer.GATT,
                AttExchangeReq(token, self.handle, request),
                if_abandoned=_ignore,
            )
        if scope.cancelled_caught:
            raise AttTransactionTimeout(
                f"no response to {type(request).__name__} within {timeout:g} s"
            )
        assert isinstance(reply, AttExchangeCnf)
        if reply.response is not None:
            return reply.response
        raise _failure(reply.error or "no response", reply.failure)

    async def send_command(self, pdu: AttPdu) -> None:
        """Send command ``pdu`` (Write Command, Signed Write Command); returns once the
        controller took it, so a loop of commands is paced by the link."""
        self._check(pdu, PduKind.COMMAND)
        token = self.runtime.new_token()
        reply = await self._app.request(Layer.GATT, AttCommandReq(token, self.handle, pdu))
        assert isinstance(reply, AttCommandCnf)
        if reply.error is not None:
            raise _failure(reply.error, reply.failure)

    @contextlib.asynccontextmanager
    async def listen(
        self, value_handle: int, capacity: int = DEFAULT_LISTEN_CAPACITY
    ) -> AsyncIterator[ValueStream]:
        """The values the server sends for ``value_handle`` while the block runs; the
        mailbox is open before the block starts, so none sent after is lost."""
        value_handle = arguments.integer("value_handle", value_handle, 0x0001, 0xFFFF)
        capacity = arguments.integer("capacity", capacity, 1, 1 << 20)
        with self._app.open_mailbox(
            AttValueInd, handle=self.handle, cid=value_handle, capacity=capacity
        ) as mailbox:
            if self._lost is not None:
                mailbox.end()
            self._listening.add(mailbox)
            try:
                yield ValueStream(mailbox)
            finally:
                self._listening.discard(mailbox)


def _failure(error: str, failure: AttFailure | None) -> AttError:
    if failure is AttFailure.TIMED_OUT:
        return AttTransactionTimeout(error)
    if failure is AttFailure.LINK_LOST:
        return LinkLost(error)
    return AttError(error)


def _ignore(reply: object) -> None:
    """A response that came after its caller gave up: nobody wants it any more."""


class AttBearerRegistry:
    """The :class:`LinkAttBearer` of every LE link, kept current by the gatt actor's
    indications (observed in order with every other message of the link)."""

    def __init__(self, app: AppPort) -> None:
        self._app = app
        self._bearers: dict[int, LinkAttBearer] = {}
        app.observe(AttMtuInd, self._on_mtu)
        app.observe(LinkDownInd, self._on_link_down)

    def bearer(self, handle: int) -> LinkAttBearer:
        bearer = self._bearers.get(handle)
        if bearer is None:
            bearer = self._bearers[handle] = LinkAttBearer(self._app, handle)
        return bearer

    def gone(self, handle: int, reason: int) -> LinkAttBearer:
        """A bearer of link ``handle``, which went down: everything sent fails with
        :class:`LinkLost` and every listener ends at once. Not kept, so a new link that
        reuses the handle gets a bearer of its own."""
        bearer = LinkAttBearer(self._app, handle)
        bearer._link_down(reason)
        return bearer

    def _on_mtu(self, indication: AttMtuInd) -> None:
        bearer = self._bearers.get(indication.handle)
        if bearer is not None and indication.bearer == 0:
            bearer._mtu_changed(indication.mtu)
        elif bearer is None:
            self.bearer(indication.handle)._mtu_changed(indication.mtu)

    def _on_link_down(self, indication: LinkDownInd) -> None:
        bearer = self._bearers.pop(indication.handle, None)
        if bearer is not None:
            bearer._link_down(indication.reason)
