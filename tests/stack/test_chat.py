"""``bluetrio chat`` in process: the embedded demo end to end under a mock clock, and the
pieces it is made of (the number comparison, pairing on the console, the friend, the
arguments)."""

from __future__ import annotations

import argparse
import io

import pytest
import trio
import trio.testing

from bluetrio.address import Address
from bluetrio.cli.chat import (
    COMPARISON_WAIT,
    ComparingDelegate,
    ConsolePairingDelegate,
    NumberComparison,
    befriend,
    channel_argument,
    describe_service,
    embedded_chat,
    uuid_argument,
)
from bluetrio.cli.console import PlainConsole
from bluetrio.cli.conversation import Ending
from bluetrio.messages.sdp_records import SERIAL_PORT
from bluetrio.pairing import AssociationModel, IoCapability

PEER = Address.parse("00:1B:DC:00:00:09")


class Keyboard:
    """A console's input and what it printed."""

    def __init__(self) -> None:
        self.send, source = trio.testing.memory_stream_one_way_pair()
        self.output, self.notes = io.StringIO(), io.StringIO()
        self.console = PlainConsole(source, self.output, self.notes)

    async def type(self, text: str) -> None:
        await self.send.send_all(text.encode())

    def noted(self) -> list[str]:
        return [line.removeprefix("bluetrio chat: ") for line in self.notes.getvalue().splitlines()]


async def test_the_embedded_chat_finds_pairs_looks_up_connects_and_converses(
    autojump_clock: trio.testing.MockClock,
) -> None:
    keyboard = Keyboard()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(keyboard.console.run)
        await keyboard.type("hello\nsecond line\n")
        await keyboard.send.aclose()
        with trio.fail_after(120):
            ending = (await embedded_chat(keyboard.console, {})).ending
    assert ending is Ending.WE_CLOSED
    assert keyboard.output.getvalue() == "echo: hello\necho: second line\n"
    notes = keyboard.noted()
    steps = ["discovery: found", "connected to", "pairing: we show", "pairing: done"]
    steps += ["SDP: friend offers", "RFCOMM: channel", "you ended the chat"]
    assert [step for step in steps for note in notes if note.startswith(step)] == steps
    [comparison] = [note for note in notes if note.startswith("pairing: we show")]
    ours, theirs = comparison.split()[3].rstrip(","), comparison.split()[6].rstrip(",")
    assert ours == theirs and "confirmed" in comparison
    assert "pairing: done (numeric comparison), the link is encrypted" in notes


async def test_our_side_refuses_a_number_the_friend_does_not_show(
    autojump_clock: trio.testing.MockClock,
) -> None:
    keyboard = Keyboard()
    comparison = NumberComparison()
    comparison.friend_shows(123456)
    delegate = ComparingDelegate(keyboard.console, comparison)
    assert not await delegate.confirm_numeric(PEER, 654321)
    assert await delegate.confirm_numeric(PEER, 123456)
    assert keyboard.noted() == [
        "pairing: we show 654321, friend shows 123456, different: refused",
        "pairing: we show 123456, friend shows 123456, the same: confirmed",
    ]


async def test_a_friend_that_never_shows_its_number_is_refused_in_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    keyboard = Keyboard()
    delegate = ComparingDelegate(keyboard.console, NumberComparison())
    start = trio.current_time()
    assert not await delegate.confirm_numeric(PEER, 123456)
    assert trio.current_time() - start == pytest.approx(COMPARISON_WAIT)
    assert keyboard.noted() == ["pairing: we show 123456, friend shows nothing, different: refused"]


async def test_pairing_questions_are_answered_on_the_console() -> None:
    keyboard = Keyboard()
    delegate = ConsolePairingDelegate(keyboard.console, IoCapability.DISPLAY_YES_NO, yes=False)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(keyboard.console.run)
        await keyboard.type("y\nno\n123456\nabc\nhello\n")
        assert await delegate.confirm_numeric(PEER, 42)
        assert not await delegate.accept_pairing(PEER)
        assert await delegate.enter_passkey(PEER) == 123456
        assert await delegate.enter_passkey(PEER) is None
        # The conversation gets the lines the questions did not take.
        assert await keyboard.console.read_line() == "hello"
        await keyboard.send.aclose()
        assert not await delegate.confirm_numeric(PEER, 42)  # no answer will come
    assert keyboard.noted()[:2] == [
        f"Does {PEER} show 000042? [y/N]",
        f"Pair with {PEER} (Just Works, no verification)? [y/N]",
    ]
    assert "'abc' is not a passkey of up to six digits; declined" in keyboard.noted()


async def test_yes_confirms_without_asking() -> None:
    keyboard = Keyboard()
    delegate = ConsolePairingDelegate(keyboard.console, IoCapability.DISPLAY_YES_NO, yes=True)
    assert await delegate.confirm_numeric(PEER, 7)
    await delegate.pairing_model(PEER, AssociationModel.PASSKEY_ENTRY)
    await delegate.display_passkey(PEER, 99)
    assert keyboard.noted() == [
        f"Does {PEER} show 000007? yes (--yes)",
        f"pairing with {PEER}: passkey entry",
        f"Type 000099 on {PEER}",
    ]


async def test_the_friend_answers_each_line_until_the_end() -> None:
    ours, friends = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(befriend, friends)
        await ours.send_all(b"one\r\ntw")
        await ours.send_all(b"o\n")
        received = b""
        while received.count(b"\n") < 2:
            received += await ours.receive_some()
        await ours.send_eof()
        assert await ours.receive_some() == b""  # the friend closed its side
    assert received == b"echo: one\necho: two\n"


def test_service_uuids_and_channels_from_the_command_line() -> None:
    assert uuid_argument("0x1101") == SERIAL_PORT == uuid_argument("1101")
    assert uuid_argument("00001101-0000-1000-8000-00805F9B34FB") == SERIAL_PORT
    assert describe_service(SERIAL_PORT) == "the Serial Port service (0x1101)"
    assert describe_service(uuid_argument("0x1234")) == "service 0x1234"
    custom = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
    assert describe_service(uuid_argument(custom)) == f"service {custom}"
    assert channel_argument("30") == 30
    for bad in ("0", "31", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="1 to 30"):
            channel_argument(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="is not a UUID"):
        uuid_argument("serial")
