"""Messages as lines of text: bytes from a stream (or a keyboard) cut into bounded lines, and
lines made into bytes to send. Pure functions and classes, no I/O.

A line ends at LF, CR or CR LF (a phone's serial terminal app may send any of them); what
arrives is UTF-8, decoded with replacement characters for invalid bytes, so a peer sending
garbage shows garbage instead of ending the chat. A line grows to at most ``limit``
characters: a longer one is cut into several, so memory stays bounded and nothing is dropped.

A terminal shows a character in two columns, one or none (:func:`display_width`): the line
being typed is drawn by columns, not characters, so that it never wraps.
"""

from __future__ import annotations

import codecs
import unicodedata

MAX_LINE_CHARACTERS = 4096
LINE_END = b"\n"


class LineSplitter:
    """Text fed in pieces, complete lines out."""

    def __init__(self, limit: int = MAX_LINE_CHARACTERS) -> None:
        if limit < 1:
            raise ValueError("a line holds at least one character")
        self.limit = limit
        self._partial: list[str] = []
        self._partial_length = 0
        self._after_cr = False  # an LF right after a CR ends nothing more (CR LF is one end)

    def feed(self, text: str) -> list[str]:
        lines: list[str] = []
        start = 0
        for index, character in enumerate(text):
            if character not in "\r\n":
                continue
            if character == "\n" and self._after_cr and index == start:
                # CR LF: the CR already ended the line.
                self._after_cr = False
                start = index + 1
                continue
            self._add(text[start:index], lines)
            lines.append(self._take())
            self._after_cr = character == "\r"
            start = index + 1
        if start < len(text):
            self._after_cr = False
            self._add(text[start:], lines)
        return lines

    def finish(self) -> list[str]:
        """What is left when the input ends: the last line, if it had no line end."""
        self._after_cr = False
        return [self._take()] if self._partial_length else []

    def _add(self, piece: str, lines: list[str]) -> None:
        while self._partial_length + len(piece) > self.limit:
            room = self.limit - self._partial_length
            self._partial.append(piece[:room])
            self._partial_length += room
            piece = piece[room:]
            lines.append(self._take())
        if piece:
            self._partial.append(piece)
            self._partial_length += len(piece)

    def _take(self) -> str:
        line = "".join(self._partial)
        self._partial.clear()
        self._partial_length = 0
        return line


class LineDecoder:
    """Bytes (UTF-8, invalid sequences replaced) in, complete lines out; a character split
    across two reads is decoded whole."""

    def __init__(self, limit: int = MAX_LINE_CHARACTERS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._splitter = LineSplitter(limit)

    def feed(self, data: bytes | bytearray) -> list[str]:
        return self._splitter.feed(self._decoder.decode(data))

    def finish(self) -> list[str]:
        return self._splitter.feed(self._decoder.decode(b"", final=True)) + self._splitter.finish()


def encode_line(line: str) -> bytes:
    """One line to send: UTF-8 and a line feed. A line end inside ``line`` would make it two
    messages at the peer, so it is sent as a space."""
    flat = line.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return flat.encode("utf-8", errors="replace") + LINE_END


def printable(text: str) -> str:
    """``text`` safe to show on a terminal: control characters (C0, DEL, C1: an escape
    sequence could move the cursor, retitle the window or worse) shown as ``\\xNN``
    escapes; tabs kept."""
    if text.isprintable():
        return text
    return "".join(
        character
        if character == "\t" or unicodedata.category(character) != "Cc"
        else f"\\x{ord(character):02x}"
        for character in text
    )


# Zero-width characters that are not combining marks: ZERO WIDTH SPACE, NON-JOINER, JOINER.
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d")


def character_width(character: str) -> int:
    """Columns one printable character takes on a terminal: 2 for East Asian Wide and
    Fullwidth characters (Unicode Standard Annex #11: ``W`` and ``F``), 0 for combining marks
    (drawn over the character before them) and the zero-width spaces and joiners, else 1."""
    if (
        unicodedata.combining(character)
        or unicodedata.category(character) in ("Mn", "Me")
        or character in _ZERO_WIDTH
    ):
        return 0
    return 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns ``text`` (printable, one line) takes on a terminal."""
    return sum(character_width(character) for character in text)


def tail_fitting(text: str, columns: int) -> str:
    """The longest end of ``text`` that takes at most ``columns`` columns, not starting with
    combining marks whose base character it leaves out (they would draw on nothing)."""
    used, start = 0, len(text)
    while start > 0:
        width = character_width(text[start - 1])
        if used + width > columns:
            break
        used += width
        start -= 1
    if start > 0:
        while start < len(text) and character_width(text[start]) == 0:
            start += 1
    return text[start:]
