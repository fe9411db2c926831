"""A conversation over a byte stream: each line entered on the console is one message sent,
each line received is shown, until one side ends it.

It runs over any :class:`trio.abc.HalfCloseableStream` (an RFCOMM stream in ``bluetrio
chat``). The end of our input sends the end of the stream (``send_eof``; on RFCOMM, which
has no half-close, that waits for what was sent to leave, then closes the DLC), and the
conversation lasts until the peer's end arrives too, for at most :data:`LINGER` seconds. The
peer's end ends the conversation at once. A lost link raises
:class:`~bluetrio.errors.ConnectionClosedError`. The stream stays the caller's to close.

Nothing the user entered is lost without a word: when the conversation ends before the input
does (the peer closed, the link was lost), the lines not sent (the one being sent, those
queued in the console) are :attr:`Conversation.undelivered` and each is noted on the console.
A line counts as delivered once the stream took all of it (``send_all`` returned).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable

import trio

from bluetrio.actors.runtime import raise_single_error
from bluetrio.cli.console import Console
from bluetrio.cli.lines import LineDecoder, encode_line
from bluetrio.errors import ConnectionClosedError

RECEIVE_SIZE = 4096
# After our end was sent, how long the peer has to send the rest of what it says and close
# its side (a stream with a real half-close; over RFCOMM our end closes both at once).
LINGER = 10.0


class Ending(enum.Enum):
    WE_CLOSED = "you ended the chat"
    PEER_CLOSED = "the peer ended the chat"


class Conversation:
    """One conversation with ``peer`` (its name, as the console shows it) on ``stream``."""

    def __init__(self, stream: trio.abc.HalfCloseableStream, console: Console, peer: str) -> None:
        self.stream = stream
        self.console = console
        self.peer = peer
        self.lines_sent = 0
        self.lines_received = 0
        self.undelivered: list[str] = []  # the lines entered that were not sent, in order
        self.ending: Ending | None = None  # once run returned
        self._sending: str | None = None  # the line being sent
        self._received = trio.Event()  # set and replaced at each line received

    async def wait_received(self, count: int) -> None:
        """Until ``count`` lines have been received in all."""
        while self.lines_received < count:
            await self._received.wait()

    async def run(
        self, before_closing: Callable[[Conversation], Awaitable[None]] | None = None
    ) -> Ending:
        """Converse until one side ends it; ``before_closing`` runs when our input has
        ended, before our end is sent (receiving goes on meanwhile). Lines not delivered
        are noted on the console and kept in :attr:`undelivered`."""
        try:
            self.ending = await self._converse(before_closing)
        except ConnectionClosedError:
            await self._report_undelivered()
            raise
        await self._report_undelivered()
        return self.ending

    async def _report_undelivered(self) -> None:
        unsent = [self._sending] if self._sending is not None else []
        self._sending = None
        self.undelivered = unsent + await self.console.withdraw()
        if not self.undelivered:
            return
        count = len(self.undelivered)
        self.console.note(f"{count} line(s) you entered were not delivered to {self.peer}:")
        for line in self.undelivered:
            self.console.note(f"not delivered: {line}")
        if self.console.withdrawn:
            self.console.note("the input after these lines was not read")

    async def _converse(
        self, before_closing: Callable[[Conversation], Awaitable[None]] | None
    ) -> Ending:
        ending = Ending.PEER_CLOSED
        peer_finished = trio.Event()
        try:
            async with trio.open_nursery() as nursery:

                async def receive_until_the_end() -> None:
                    await self._receive()
                    peer_finished.set()
                    if ending is Ending.PEER_CLOSED:
                        nursery.cancel_scope.cancel()  # stop sending: nobody listens

                nursery.start_soon(receive_until_the_end)
                try:
                    await self._send()
                    ending = Ending.WE_CLOSED
                    if before_closing is not None:
                        await before_closing(self)
                    await self.stream.send_eof()
                except trio.BrokenResourceError as error:
                    # Closed by the peer, if its end is on the way (the receiver then
                    # cancels this wait); lost otherwise.
                    with trio.move_on_after(LINGER):
                        await peer_finished.wait()
                    if not peer_finished.is_set():
                        raise self._lost(error) from error
                with trio.move_on_after(LINGER):
                    await peer_finished.wait()
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise_single_error(group)
            raise
        return ending

    async def _send(self) -> None:
        while (line := await self.console.read_line()) is not None:
            self._sending = line  # until the stream took all of it
            await self.stream.send_all(encode_line(line))
            self._sending = None
            self.lines_sent += 1

    async def _receive(self) -> None:
        decoder = LineDecoder()
        while True:
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except trio.ClosedResourceError:
                data = b""  # our own end closed the stream (RFCOMM has no half-close)
            except trio.BrokenResourceError as error:
                raise self._lost(error) from error
            lines = decoder.feed(data) if data else decoder.finish()
            for line in lines:
                self.console.show(self.peer, line)
                self.lines_received += 1
            if lines:
                self._received.set()
                self._received = trio.Event()
            if not data:
                return

    def _lost(self, error: BaseException) -> ConnectionClosedError:
        detail = f": {error}" if str(error) else ""
        return ConnectionClosedError(f"the connection to {self.peer} was lost{detail}")
