"""The user's side of a chat: the lines typed (or piped) in, the peer's messages and the
chat's notes out.

:class:`PlainConsole` is for scripts: standard input read as lines, the peer's messages on
standard output exactly as lines (no prefix, no terminal control codes), notes on standard
error. :class:`TerminalConsole` is for a person at a terminal: it reads keys in cbreak mode
and redraws the line being typed below each message that arrives, so incoming lines never
break what is being typed. :func:`open_console` picks one for the standard streams.

A question (a pairing confirmation) takes the first line entered that the conversation has
not taken; without a pending question lines go to :meth:`Console.read_line`.
"""

from __future__ import annotations

import abc
import codecs
import collections
import contextlib
import os
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from typing import TextIO

import trio

from bluetrio.cli.line_editor import InputEnded, LineEditor, Submitted
from bluetrio.cli.lines import LineDecoder, display_width, printable, tail_fitting

READ_SIZE = 4096
# Lines read ahead of the conversation: reading stops (and so does a pipe's writer) while
# this many wait to be sent.
LINES_AHEAD = 16
CLEAR_LINE = "\r\x1b[K"  # carriage return, then ECMA-48 EL (erase to the end of the line)
OWN_NAME = "you"
# Seconds :meth:`Console.withdraw` waits for the reading task to stop (it stops at once).
WITHDRAW_WAIT = 1.0


class StandardInput(trio.abc.ReceiveStream):
    """Standard input read in a worker thread: its file description stays blocking, which
    standard output shares on a terminal (a non-blocking terminal would make ``print``
    fail with EAGAIN). A closed standard input reads as its end."""

    def __init__(self, fd: int = 0) -> None:
        self._fd = fd

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        try:
            return await trio.to_thread.run_sync(
                os.read, self._fd, max_bytes or READ_SIZE, abandon_on_cancel=True
            )
        except OSError:  # EBADF: started with standard input closed (``<&-``)
            return b""

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


class Console(abc.ABC):
    """What every console does: lines entered go to a pending question or to the
    conversation; the input's end ends both."""

    def __init__(self, source: trio.abc.ReceiveStream) -> None:
        self._source = source
        self._entered, self._lines = trio.open_memory_channel[str](LINES_AHEAD)
        self._answers: trio.MemorySendChannel[str | None] | None = None
        self.input_ended = False
        self.withdrawn = False  # reading stopped before the input ended (see withdraw)
        self._reading = trio.CancelScope()
        self._started = False
        self._stopped = trio.Event()
        # Lines read and not yet in the queue (the first on its way in): withdrawn with it.
        self._backlog: collections.deque[str] = collections.deque()

    async def run(self) -> None:
        """Read the input until it ends or :meth:`withdraw` stops it (run it in a task for
        the console's lifetime)."""
        self._started = True
        try:
            with self._reading:
                await self._read()
        finally:
            self.input_ended = True
            self._entered.close()
            if self._answers is not None:
                self._answers.send_nowait(None)
            self._stopped.set()

    async def withdraw(self) -> list[str]:
        """Stop reading the input and take back the lines entered that the conversation has
        not taken, in order: when the conversation ends before the input does, these were
        never sent, and the user must be told (:attr:`withdrawn` then says that what
        followed them in the input was not read)."""
        self.withdrawn = not self.input_ended
        self._reading.cancel()
        if self._started:
            with trio.CancelScope(shield=True):
                # The reading task stops at its next checkpoint (a read in a thread is
                # abandoned at once): bounded, as shielded cleanup must be.
                with trio.move_on_after(WITHDRAW_WAIT):
                    await self._stopped.wait()
        lines = []
        while True:
            try:
                lines.append(self._lines.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        lines.extend(self._backlog)
        self._backlog.clear()
        return lines

    @abc.abstractmethod
    async def _read(self) -> None:
        """Read standard input into lines until it ends (each console reads its own way)."""

    async def _enter(self, lines: list[str]) -> None:
        """Give ``lines`` (read together) to the pending question or the conversation, in
        order; those not given yet when reading stops stay for :meth:`withdraw`."""
        self._backlog.extend(lines)
        while self._backlog:
            line = self._backlog[0]
            self._entering(line)
            if self._answers is not None:
                answers, self._answers = self._answers, None
                answers.send_nowait(line)
            else:
                await self._entered.send(line)
            self._backlog.popleft()

    @abc.abstractmethod
    def _entering(self, line: str) -> None:
        """``line`` goes to the question or the conversation now."""

    async def read_line(self) -> str | None:
        """The next line entered for the conversation; ``None`` once the input ended."""
        try:
            return await self._lines.receive()
        except trio.EndOfChannel:
            return None

    async def ask(self, question: str) -> str | None:
        """Ask ``question``; the first line the conversation has not taken is the answer (one
        typed ahead, or the next entered); ``None`` when the input ends before one comes."""
        self._show_question(question)
        try:
            await trio.lowlevel.checkpoint()
            try:
                return self._lines.receive_nowait()
            except trio.WouldBlock:
                pass
            except trio.EndOfChannel:
                return None
            if self.input_ended:
                return None
            answers, answer = trio.open_memory_channel[str | None](1)
            self._answers = answers
            try:
                return await answer.receive()
            finally:
                if self._answers is answers:
                    self._answers = None
        finally:
            self._show_question(None)

    @abc.abstractmethod
    def show(self, sender: str, text: str) -> None:
        """A message from ``sender``."""

    @abc.abstractmethod
    def note(self, text: str) -> None:
        """What the chat is doing (connecting, pairing, closing)."""

    @abc.abstractmethod
    def _show_question(self, question: str | None) -> None:
        """Show the pending question, or clear it with ``None``."""


class PlainConsole(Console):
    """Lines from a pipe, messages as bare lines on ``output``, notes on ``notes``."""

    def __init__(self, source: trio.abc.ReceiveStream, output: TextIO, notes: TextIO) -> None:
        super().__init__(source)
        self._output = output
        self._notes = notes

    async def _read(self) -> None:
        decoder = LineDecoder()
        while data := await self._source.receive_some(READ_SIZE):
            await self._enter(decoder.feed(data))
        await self._enter(decoder.finish())

    def _entering(self, line: str) -> None:
        # Not echoed: standard output carries the peer's lines alone.
        return

    def show(self, sender: str, text: str) -> None:
        print(printable(text), file=self._output, flush=True)

    def note(self, text: str) -> None:
        print(f"bluetrio chat: {printable(text)}", file=self._notes, flush=True)

    def _show_question(self, question: str | None) -> None:
        if question is not None:
            self.note(question)


class TerminalConsole(Console):
    """A person at a terminal: ``output`` gets every line, drawn above the line being
    typed, which is redrawn after each."""

    def __init__(self, source: trio.abc.ReceiveStream, output: TextIO) -> None:
        super().__init__(source)
        self._output = output
        self._editor = LineEditor()
        self._question: str | None = None

    @property
    def prompt(self) -> str:
        return f"{self._question} " if self._question is not None else f"{OWN_NAME}> "

    async def _read(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._redraw()
        while data := await self._source.receive_some(READ_SIZE):
            events = self._editor.feed(decoder.decode(data))
            submitted = [event.line for event in events if isinstance(event, Submitted)]
            await self._enter(submitted)
            if any(isinstance(event, InputEnded) for event in events):
                break  # the editor takes no key after the end
            if not events:
                self._redraw()
        self._write(CLEAR_LINE)

    def _entering(self, line: str) -> None:
        # The line stays on the screen as what was said (or answered), above a new prompt:
        # the conversation's once it answers a question.
        said = f"{self.prompt}{line}"
        if self._answers is not None:
            self._question = None
        self._above(said)

    def show(self, sender: str, text: str) -> None:
        self._above(f"{sender}> {printable(text)}")

    def note(self, text: str) -> None:
        self._above(f"* {printable(text)}")

    def _show_question(self, question: str | None) -> None:
        shown = printable(question) if question is not None else None
        if shown == self._question:
            return
        self._question = shown
        if not self.input_ended:
            self._redraw()

    def _above(self, line: str) -> None:
        self._write(f"{CLEAR_LINE}{line}\n")
        if not self.input_ended:
            self._redraw()

    def _redraw(self) -> None:
        # Only the end of a long line, so it never wraps (a wrapped line would leave its
        # first rows on the screen at the next redraw), counted in display columns (a wide
        # character takes two, a combining mark none), the last column left for the cursor.
        # A prompt (a question) as wide as the terminal shows its end in half of it.
        width = max(shutil.get_terminal_size().columns - 1, 1)
        prompt = self.prompt
        if display_width(prompt) >= width:
            prompt = tail_fitting(prompt, width // 2)
        text = tail_fitting(self._editor.text, width - display_width(prompt))
        self._write(f"{CLEAR_LINE}{prompt}{text}")

    def _write(self, text: str) -> None:
        self._output.write(text)
        self._output.flush()


@contextlib.contextmanager
def _cbreak(fd: int) -> Iterator[None]:
    """Keys one at a time, not echoed; Ctrl-C still raises SIGINT (ISIG stays set). The
    terminal's settings come back however the chat ends."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.asynccontextmanager
async def open_console(
    stdin: TextIO | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> AsyncIterator[Console]:
    """The console for the process's standard streams, reading while the block runs: a
    :class:`TerminalConsole` when both standard input and output are a terminal, else a
    :class:`PlainConsole`."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        fd = stdin.fileno()
        interactive = os.isatty(fd) and stdout.isatty()
    except (AttributeError, OSError, ValueError):
        # Started with standard input closed (sys.stdin is None), or not a real file.
        fd, interactive = -1, False
    source = StandardInput(fd)
    console: Console
    with contextlib.ExitStack() as terminal:
        if interactive:
            terminal.enter_context(_cbreak(fd))
            console = TerminalConsole(source, stdout)
        else:
            console = PlainConsole(source, stdout, stderr)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(console.run)
            try:
                yield console
            finally:
                nursery.cancel_scope.cancel()
