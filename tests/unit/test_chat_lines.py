"""The chat's lines: cut from bytes (LF, CR, CR LF, bounded, UTF-8 with replacement), made
into bytes, shown safely, measured in terminal columns; and the terminal's line editor."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bluetrio.cli.line_editor import InputEnded, LineEditor, Submitted
from bluetrio.cli.lines import (
    LineDecoder,
    LineSplitter,
    character_width,
    display_width,
    encode_line,
    printable,
    tail_fitting,
)


def test_every_line_end_a_phone_may_send_ends_one_line() -> None:
    splitter = LineSplitter()
    assert splitter.feed("one\ntwo\r\nthree\rfour") == ["one", "two", "three"]
    assert splitter.finish() == ["four"]


def test_a_cr_lf_split_between_two_reads_is_one_line_end() -> None:
    splitter = LineSplitter()
    assert splitter.feed("one\r") == ["one"]
    assert splitter.feed("\ntwo\n") == ["two"]


def test_empty_lines_are_kept() -> None:
    assert LineSplitter().feed("\n\r\n\r") == ["", "", ""]


def test_a_long_line_is_cut_into_lines_of_the_limit_and_nothing_is_lost() -> None:
    splitter = LineSplitter(limit=4)
    assert splitter.feed("abcdefghij") == ["abcd", "efgh"]
    assert splitter.feed("\n") == ["ij"]
    # A line of exactly the limit is one line, not one and an empty one.
    assert splitter.feed("wxyz\n") == ["wxyz"]


@given(st.lists(st.text(alphabet="ab\r\n", max_size=30), max_size=10), st.integers(1, 8))
def test_splitting_keeps_every_character_within_the_limit(pieces: list[str], limit: int) -> None:
    splitter = LineSplitter(limit)
    lines = [line for piece in pieces for line in splitter.feed(piece)] + splitter.finish()
    assert all(len(line) <= limit for line in lines)
    text = "".join(pieces)
    assert "".join(lines) == text.replace("\r", "").replace("\n", "")


def test_a_character_split_between_two_reads_is_decoded_whole() -> None:
    decoder = LineDecoder()
    encoded = "héllo\n".encode()
    assert decoder.feed(encoded[:2]) == []
    assert decoder.feed(encoded[2:]) == ["héllo"]


def test_invalid_utf8_becomes_replacement_characters() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"ok \xff\xfe!\n") == ["ok \ufffd\ufffd!"]
    assert decoder.feed(b"cut \xc3") == []
    assert decoder.finish() == ["cut \ufffd"]


@given(st.binary(max_size=200))
def test_any_bytes_decode_to_bounded_lines(data: bytes) -> None:
    decoder = LineDecoder(limit=16)
    lines = decoder.feed(data) + decoder.finish()
    assert all(len(line) <= 16 for line in lines)


def test_a_line_is_sent_as_utf8_with_one_line_feed() -> None:
    assert encode_line("héllo") == b"h\xc3\xa9llo\n"
    # A line end inside a message would make it two at the peer.
    assert encode_line("a\nb\r\nc") == b"a b c\n"
    assert encode_line("lone \udc80 surrogate") == b"lone ? surrogate\n"


def test_control_characters_from_the_peer_cannot_drive_the_terminal() -> None:
    assert printable("\x1b]0;pwned\x07red\x1b[31m") == "\\x1b]0;pwned\\x07red\\x1b[31m"
    assert printable("tab\tkept, café, 👩‍💻") == "tab\tkept, café, 👩‍💻"
    assert printable("\x9bC1") == "\\x9bC1"


def test_the_editor_submits_the_line_typed() -> None:
    editor = LineEditor()
    assert editor.feed("hel") == []
    assert editor.text == "hel"
    assert editor.feed("lo\r") == [Submitted("hello")]
    assert editor.text == ""


def test_the_editor_deletes_characters_words_and_lines() -> None:
    editor = LineEditor()
    editor.feed("one two  three\x7f\x7f")
    assert editor.text == "one two  thr"
    editor.feed("\x17")
    assert editor.text == "one two  "
    editor.feed("\x17")
    assert editor.text == "one "
    editor.feed("\x15x\x08y")
    assert editor.text == "y"


def test_arrow_keys_and_other_controls_are_ignored() -> None:
    editor = LineEditor()
    editor.feed("a\x1b[Ab\x1b[1;5Cc\x1bOPd\x01\te")
    assert editor.text == "abcd e"


def test_ctrl_d_ends_the_input_only_on_an_empty_line() -> None:
    editor = LineEditor()
    assert editor.feed("typed\x04") == []
    assert editor.text == "typed"
    assert editor.feed("\x15\x04more") == [InputEnded()]
    assert editor.ended
    assert editor.feed("x\r") == []


def test_the_line_typed_is_bounded() -> None:
    editor = LineEditor(limit=3)
    assert editor.feed("abcdef\n") == [Submitted("abc")]


def test_wide_characters_take_two_columns_and_combining_marks_none() -> None:
    assert display_width("hello") == 5
    assert display_width("日本語") == 6  # East Asian Wide
    assert display_width("\uff21\uff22") == 4  # FULLWIDTH LATIN CAPITAL LETTER A, B
    assert display_width("e\u0301") == 1  # e and a combining acute accent
    assert display_width("\u20dd") == 0  # an enclosing mark
    assert display_width("a\u200db") == 2  # a zero-width joiner
    assert display_width("ｱ") == 1  # halfwidth katakana
    assert display_width("😀") == 2


def test_the_end_that_fits_never_starts_with_a_mark_whose_base_is_cut() -> None:
    assert tail_fitting("日本語", 5) == "本語"
    assert tail_fitting("日本語", 1) == ""  # half a wide character is not drawn
    assert tail_fitting("cafe\u0301s", 1) == "s"  # not the accent without its e
    assert tail_fitting("cafe\u0301s", 2) == "e\u0301s"
    assert tail_fitting("cafe\u0301s", 3) == "fe\u0301s"
    assert tail_fitting("abc", 10) == "abc"


# Printable text mixing narrow, wide and fullwidth characters and combining marks.
terminal_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.characters(min_codepoint=0x4E00, max_codepoint=0x4E40),  # CJK ideographs
        st.characters(min_codepoint=0xFF01, max_codepoint=0xFF20),  # fullwidth forms
        st.characters(min_codepoint=0x0300, max_codepoint=0x036F),  # combining marks
        st.characters(whitelist_categories=("L", "M", "N", "P", "S", "Zs")),
    ),
    max_size=60,
)


@given(terminal_text, st.integers(min_value=0, max_value=80))
def test_the_end_that_fits_is_the_longest_end_within_the_columns(text: str, columns: int) -> None:
    shown = tail_fitting(text, columns)
    assert text.endswith(shown)
    assert display_width(shown) <= columns
    # The longest end of the text that fits and starts on a base character (or is all of it).
    ends = [
        text[start:]
        for start in range(len(text) + 1)
        if display_width(text[start:]) <= columns
        and (start in (0, len(text)) or character_width(text[start]) > 0)
    ]
    assert shown == max(ends, key=len)


@given(terminal_text)
def test_display_width_adds_up_over_any_split(text: str) -> None:
    for cut in range(len(text) + 1):
        assert display_width(text[:cut]) + display_width(text[cut:]) == display_width(text)
    assert display_width(text) <= 2 * len(text)
