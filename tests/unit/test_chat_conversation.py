"""The chat's conversation core over in-memory streams: lines in, lines out, the ends of
both sides, a lost link; and the consoles (piped and terminal)."""

from __future__ import annotations

import io

import pytest
import trio
import trio.testing

from bluetrio.cli.console import CLEAR_LINE, LINES_AHEAD, PlainConsole, TerminalConsole
from bluetrio.cli.conversation import LINGER, Conversation, Ending
from bluetrio.cli.lines import display_width
from bluetrio.errors import ConnectionClosedError


class Keyboard:
    """The console's input: what a test types, and its end."""

    def __init__(self) -> None:
        self.send, self.source = trio.testing.memory_stream_one_way_pair()

    async def type(self, text: str) -> None:
        await self.send.send_all(text.encode())

    async def end(self) -> None:
        await self.send.aclose()


def plain_console(keyboard: Keyboard) -> tuple[PlainConsole, io.StringIO, io.StringIO]:
    output, notes = io.StringIO(), io.StringIO()
    return PlainConsole(keyboard.source, output, notes), output, notes


async def read_until(stream: trio.abc.ReceiveStream, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = await stream.receive_some()
        assert chunk, f"the stream ended after {data!r}"
        data += chunk
    return data


async def test_lines_typed_are_sent_and_lines_received_shown() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    keyboard = Keyboard()
    console, output, _ = plain_console(keyboard)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        conversation = Conversation(ours, console, "friend")
        nursery.start_soon(conversation.run)
        await keyboard.type("hello\nhow are ")
        assert await read_until(theirs, b"\n") == b"hello\n"
        await theirs.send_all(b"fine, th")
        await theirs.send_all(b"anks \xe2\x9c\x93\r\n")
        await keyboard.type("you?\n")
        assert await read_until(theirs, b"\n") == b"how are you?\n"
        await conversation.wait_received(1)
        assert output.getvalue() == "fine, thanks ✓\n"
        await theirs.aclose()
        await keyboard.end()
    assert (conversation.lines_sent, conversation.lines_received) == (2, 1)


async def test_the_end_of_our_input_sends_the_end_and_waits_for_the_peers() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    keyboard = Keyboard()
    console, output, _ = plain_console(keyboard)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await keyboard.type("last words")  # no line end: still a message
        await keyboard.end()
        conversation = Conversation(ours, console, "friend")
        ended: list[Ending] = []

        async def converse() -> None:
            ended.append(await conversation.run())

        nursery.start_soon(converse)
        # Everything sent, then the end of the stream.
        assert await read_until(theirs, b"\n") == b"last words\n"
        assert await theirs.receive_some() == b""
        # Half-closed: the peer's answer still comes through, then its end.
        await theirs.send_all(b"bye\n")
        await theirs.send_eof()
    assert ended == [Ending.WE_CLOSED]
    assert output.getvalue() == "bye\n"


async def test_the_peer_closing_ends_the_conversation_while_we_could_still_type() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    keyboard = Keyboard()
    console, output, _ = plain_console(keyboard)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await theirs.send_all(b"gotta go")
        await theirs.aclose()
        ending = await Conversation(ours, console, "friend").run()
        nursery.cancel_scope.cancel()
    assert ending is Ending.PEER_CLOSED
    assert output.getvalue() == "gotta go\n"  # the last line, although it had no line end


async def test_a_peer_that_never_closes_after_our_end_is_waited_for_a_bounded_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    keyboard = Keyboard()
    console, _, _ = plain_console(keyboard)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await keyboard.end()
        start = trio.current_time()
        ending = await Conversation(ours, console, "friend").run()
        assert trio.current_time() - start == pytest.approx(LINGER)
        nursery.cancel_scope.cancel()
    assert ending is Ending.WE_CLOSED
    assert await theirs.receive_some() == b""


async def test_before_closing_runs_while_the_answers_still_arrive() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    keyboard = Keyboard()
    console, output, _ = plain_console(keyboard)

    async def echo() -> None:
        while data := await theirs.receive_some():
            await trio.sleep(0.01)  # answers come after our input has ended
            await theirs.send_all(data.upper())
        await theirs.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        nursery.start_soon(echo)
        await keyboard.type("one\ntwo\nthree\n")
        await keyboard.end()
        conversation = Conversation(ours, console, "echo")

        async def answers_came(conversation: Conversation) -> None:
            await conversation.wait_received(conversation.lines_sent)

        assert await conversation.run(answers_came) is Ending.WE_CLOSED
    assert output.getvalue() == "ONE\nTWO\nTHREE\n"


class BrokenStream(trio.abc.HalfCloseableStream):
    """A stream whose link went down: every call raises as a lost link does."""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        raise trio.BrokenResourceError("link lost (supervision timeout)")

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def send_eof(self) -> None:
        raise trio.BrokenResourceError("link lost (supervision timeout)")

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        raise trio.BrokenResourceError("link lost (supervision timeout)")

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def test_a_lost_link_is_a_connection_closed_error_naming_the_peer() -> None:
    keyboard = Keyboard()
    console, _, _ = plain_console(keyboard)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        with pytest.raises(ConnectionClosedError, match="connection to friend was lost: link"):
            await Conversation(BrokenStream(), console, "friend").run()
        nursery.cancel_scope.cancel()


async def test_a_send_failing_as_the_peer_closes_is_the_peers_end() -> None:
    # The peer closed; its end is read just after our send failed on the closed stream.
    ours, theirs = trio.testing.lockstep_stream_pair()
    keyboard = Keyboard()
    console, _, _ = plain_console(keyboard)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await keyboard.type("are you there?\n")
        nursery.start_soon(theirs.aclose)
        ending = await Conversation(ours, console, "friend").run()
        nursery.cancel_scope.cancel()
    assert ending is Ending.PEER_CLOSED


async def test_a_question_takes_the_first_line_the_conversation_has_not_taken() -> None:
    keyboard = Keyboard()
    console, _, notes = plain_console(keyboard)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await keyboard.type("yes\nhello\n")
        # Entered while the question waits.
        assert await console.ask("Does 00:11:22:33:44:55 show 123456?") == "yes"
        assert await console.read_line() == "hello"
        await keyboard.type("y\nagain\n")
        await trio.testing.wait_all_tasks_blocked()  # both lines read ahead, queued
        assert await console.ask("Confirm?") == "y"
        assert await console.read_line() == "again"
        await keyboard.end()
        assert await console.read_line() is None
        assert await console.ask("Another question?") is None
    assert notes.getvalue().splitlines() == [
        "bluetrio chat: Does 00:11:22:33:44:55 show 123456?",
        "bluetrio chat: Confirm?",
        "bluetrio chat: Another question?",
    ]


async def test_notes_go_to_their_own_stream_and_messages_stay_bare_lines() -> None:
    keyboard = Keyboard()
    console, output, notes = plain_console(keyboard)
    console.note("connected to friend")
    console.show("friend", "\x1b[2Jhi")
    assert output.getvalue() == "\\x1b[2Jhi\n"
    assert notes.getvalue() == "bluetrio chat: connected to friend\n"


async def test_the_terminal_redraws_the_line_being_typed_below_a_message() -> None:
    keyboard = Keyboard()
    output = io.StringIO()
    console = TerminalConsole(keyboard.source, output)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await keyboard.type("half a sen")
        await trio.testing.wait_all_tasks_blocked()
        output.truncate(0)
        output.seek(0)
        console.show("friend", "hi!")
        assert output.getvalue() == f"{CLEAR_LINE}friend> hi!\n{CLEAR_LINE}you> half a sen"
        await keyboard.type("tence\r")
        assert await console.read_line() == "half a sentence"
        assert output.getvalue().endswith(f"{CLEAR_LINE}you> half a sentence\n{CLEAR_LINE}you> ")
        await keyboard.type("\x04")
        assert await console.read_line() is None
    assert output.getvalue().endswith(CLEAR_LINE)


async def test_the_terminal_asks_in_the_prompt_line() -> None:
    keyboard = Keyboard()
    output = io.StringIO()
    console = TerminalConsole(keyboard.source, output)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await trio.testing.wait_all_tasks_blocked()
        async with trio.open_nursery() as asking:
            answers: list[str | None] = []

            async def ask() -> None:
                answers.append(await console.ask("Confirm 123456? [y/N]"))

            asking.start_soon(ask)
            await trio.testing.wait_all_tasks_blocked()
            assert output.getvalue().endswith(f"{CLEAR_LINE}Confirm 123456? [y/N] ")
            await keyboard.type("y\n")
        assert answers == ["y"]
        assert output.getvalue().endswith(f"Confirm 123456? [y/N] y\n{CLEAR_LINE}you> ")
        await keyboard.end()


async def test_lines_still_queued_when_the_peer_closes_are_named_as_not_delivered() -> None:
    ours, theirs = trio.testing.lockstep_stream_pair()
    keyboard = Keyboard()
    console, output, notes = plain_console(keyboard)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await keyboard.type("one\ntwo\nthree\nfour\n")
        await trio.testing.wait_all_tasks_blocked()  # all four read ahead, queued
        conversation = Conversation(ours, console, "friend")

        async def peer() -> None:
            assert await read_until(theirs, b"\n") == b"one\n"
            await trio.testing.wait_all_tasks_blocked()  # "one" sent, "two" on its way
            await theirs.aclose()  # "three" and "four" wait in the queue

        nursery.start_soon(peer)
        assert await conversation.run() is Ending.PEER_CLOSED
        nursery.cancel_scope.cancel()
    assert conversation.lines_sent == 1
    assert conversation.undelivered == ["two", "three", "four"]
    assert notes.getvalue().splitlines() == [
        "bluetrio chat: 3 line(s) you entered were not delivered to friend:",
        "bluetrio chat: not delivered: two",
        "bluetrio chat: not delivered: three",
        "bluetrio chat: not delivered: four",
        "bluetrio chat: the input after these lines was not read",
    ]
    assert output.getvalue() == ""


async def test_lines_read_beyond_a_full_queue_are_not_lost_either() -> None:
    ours, theirs = trio.testing.lockstep_stream_pair()
    keyboard = Keyboard()
    console, _, _ = plain_console(keyboard)
    typed = [f"line {number}" for number in range(LINES_AHEAD + 3)]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await keyboard.type("".join(f"{line}\n" for line in typed))
        await trio.testing.wait_all_tasks_blocked()  # the queue is full, one line waits
        await theirs.aclose()
        conversation = Conversation(ours, console, "friend")
        assert await conversation.run() is Ending.PEER_CLOSED
        nursery.cancel_scope.cancel()
    # Every line read is accounted for: sent (none) or named: the one the send failed on,
    # the queue it left room in, the one waiting to enter it and the one read after it.
    assert conversation.lines_sent == 0
    assert conversation.undelivered == typed


async def test_a_lost_link_names_the_lines_not_delivered_then_raises() -> None:
    keyboard = Keyboard()
    console, _, notes = plain_console(keyboard)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await keyboard.type("are you there?\nhello?\n")
        await trio.testing.wait_all_tasks_blocked()
        conversation = Conversation(BrokenStream(), console, "friend")
        with pytest.raises(ConnectionClosedError, match="was lost"):
            await conversation.run()
        nursery.cancel_scope.cancel()
    assert conversation.undelivered == ["are you there?", "hello?"]
    assert "not delivered: hello?" in notes.getvalue()


async def test_nothing_is_reported_when_everything_was_sent() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    keyboard = Keyboard()
    console, _, notes = plain_console(keyboard)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await keyboard.type("one\ntwo\n")
        await keyboard.end()
        conversation = Conversation(ours, console, "friend")

        async def peer() -> None:
            assert await read_until(theirs, b"two\n") == b"one\ntwo\n"
            await theirs.aclose()

        nursery.start_soon(peer)
        assert await conversation.run() in (Ending.WE_CLOSED, Ending.PEER_CLOSED)
    assert (conversation.lines_sent, conversation.undelivered) == (2, [])
    assert "not delivered" not in notes.getvalue()


async def test_the_terminal_shows_the_lines_not_delivered() -> None:
    ours, theirs = trio.testing.lockstep_stream_pair()
    keyboard = Keyboard()
    output = io.StringIO()
    console = TerminalConsole(keyboard.source, output)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await keyboard.type("hi\r")
        await trio.testing.wait_all_tasks_blocked()
        await theirs.aclose()
        conversation = Conversation(ours, console, "friend")
        assert await conversation.run() is Ending.PEER_CLOSED
        nursery.cancel_scope.cancel()
    assert conversation.undelivered == ["hi"]
    assert output.getvalue().endswith(
        f"{CLEAR_LINE}* 1 line(s) you entered were not delivered to friend:\n"
        f"{CLEAR_LINE}* not delivered: hi\n"
        f"{CLEAR_LINE}* the input after these lines was not read\n"
    )


async def test_the_terminal_draws_a_line_of_wide_characters_within_its_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "20")  # what shutil.get_terminal_size reads first
    keyboard = Keyboard()
    output = io.StringIO()
    console = TerminalConsole(keyboard.source, output)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        await keyboard.type("日本語" * 4 + "e\u0301")
        await trio.testing.wait_all_tasks_blocked()
        drawn = output.getvalue().rsplit(CLEAR_LINE, 1)[1]
        # "you> " (5 columns), then the end of the line in the 14 columns left before the
        # last one: six wide characters and the accented e, 13 columns (the whole line, 14
        # characters, would take 25 and wrap).
        assert drawn == "you> 日本語日本語e\u0301"
        assert display_width(drawn) == 18
        await keyboard.type("\r")
        assert await console.read_line() == "日本語" * 4 + "e\u0301"
        await keyboard.end()


async def test_a_question_wider_than_the_terminal_shows_its_end_and_the_answer_typed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "24")
    keyboard = Keyboard()
    output = io.StringIO()
    console = TerminalConsole(keyboard.source, output)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(console.run)
        async with trio.open_nursery() as asking:
            answers: list[str | None] = []

            async def ask() -> None:
                answers.append(await console.ask("Does 00:11:22:33:44:55 show 123456? [y/N]"))

            asking.start_soon(ask)
            await trio.testing.wait_all_tasks_blocked()
            await keyboard.type("ye")
            await trio.testing.wait_all_tasks_blocked()
            drawn = output.getvalue().rsplit(CLEAR_LINE, 1)[1]
            assert drawn == "456? [y/N] ye"  # the question's end in 11 columns, then the answer
            assert display_width(drawn) <= 23
            await keyboard.type("s\n")
        assert answers == ["yes"]
        await keyboard.end()
