"""The line being typed on a terminal in character-at-a-time mode: keys in, the line so far
and the lines finished out. Pure, no I/O; :mod:`bluetrio.cli.console` draws it.

Keys as a terminal in cbreak mode sends them (``stty -icanon -echo``, ISIG kept, so Ctrl-C
is still SIGINT): Enter submits, Backspace/DEL deletes a character, Ctrl-U the line, Ctrl-W
a word, Ctrl-D on an empty line ends the input; escape sequences (arrow and function keys)
are read whole and ignored, as are other control characters.
"""

from __future__ import annotations

import enum

import attrs

from bluetrio.cli.lines import MAX_LINE_CHARACTERS

ESCAPE = "\x1b"
BACKSPACE = ("\x7f", "\x08")
KILL_LINE = "\x15"  # Ctrl-U
KILL_WORD = "\x17"  # Ctrl-W
END_OF_INPUT = "\x04"  # Ctrl-D
ENTER = ("\r", "\n")


class _Escape(enum.Enum):
    NONE = enum.auto()
    STARTED = enum.auto()  # ESC read
    CONTROL_SEQUENCE = enum.auto()  # ESC [ or ESC O read: parameters until a final byte


@attrs.frozen
class Submitted:
    line: str


@attrs.frozen
class InputEnded:
    """The user ended the input (Ctrl-D on an empty line)."""


EditorEvent = Submitted | InputEnded


class LineEditor:
    """Keys in, events out; :attr:`text` is the line being typed."""

    def __init__(self, limit: int = MAX_LINE_CHARACTERS) -> None:
        self.limit = limit
        self._characters: list[str] = []
        self._escape = _Escape.NONE
        self.ended = False

    @property
    def text(self) -> str:
        return "".join(self._characters)

    def feed(self, keys: str) -> list[EditorEvent]:
        events: list[EditorEvent] = []
        for key in keys:
            if self.ended:
                break
            if self._escape is not _Escape.NONE:
                self._continue_escape(key)
            elif key == ESCAPE:
                self._escape = _Escape.STARTED
            elif key in ENTER:
                events.append(Submitted(self.text))
                self._characters.clear()
            elif key in BACKSPACE:
                if self._characters:
                    self._characters.pop()
            elif key == KILL_LINE:
                self._characters.clear()
            elif key == KILL_WORD:
                self._kill_word()
            elif key == END_OF_INPUT:
                # As a shell does: Ctrl-D ends the input only on an empty line.
                if not self._characters:
                    self.ended = True
                    events.append(InputEnded())
            elif key == "\t":
                self._insert(" ")
            elif key.isprintable():
                self._insert(key)
        return events

    def _insert(self, character: str) -> None:
        if len(self._characters) < self.limit:
            self._characters.append(character)

    def _kill_word(self) -> None:
        while self._characters and self._characters[-1] == " ":
            self._characters.pop()
        while self._characters and self._characters[-1] != " ":
            self._characters.pop()

    def _continue_escape(self, key: str) -> None:
        # ECMA-48 5.4: a control sequence is ESC [ (or SS3, ESC O), parameter and
        # intermediate bytes 0x20-0x3F, then one final byte 0x40-0x7E.
        if self._escape is _Escape.STARTED:
            self._escape = _Escape.CONTROL_SEQUENCE if key in "[O" else _Escape.NONE
        elif "\x40" <= key <= "\x7e":
            self._escape = _Escape.NONE
        elif not "\x20" <= key <= "\x3f":
            self._escape = _Escape.NONE  # not a sequence after all: drop what was read
