"""``bluetrio chat`` as a user runs it: real processes driven through pipes. The embedded
demo answers each line piped in and exits 0 at the end of the input; two ``bluetrio chat``
processes talk through one served virtual controller; lines piped in that a peer closed
before taking are named on standard error, with exit status 1."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import trio
from cli_process import BLUETRIO, ENVIRONMENT, REPOSITORY, WITHIN
from cli_process import BluetrioProcess as Chat

from bluetrio.stack import open_stack

LISTENER = "00:1B:DC:CA:70:01"


def run_chat(
    arguments: Sequence[str], stdin: bytes, program: Sequence[str] = BLUETRIO
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*program, *arguments],
        input=stdin.decode(),
        capture_output=True,
        text=True,
        timeout=WITHIN,
        env=ENVIRONMENT,
    )


def test_the_embedded_chat_answers_each_line_piped_in_and_exits_0_at_the_end() -> None:
    result = run_chat(["chat"], "hello\nhow are you? ✓\n".encode())
    assert result.returncode == 0, result.stderr
    # Standard output is the conversation alone: the friend's answers, as lines.
    assert result.stdout == "echo: hello\necho: how are you? ✓\n"
    notes = result.stderr
    for step in ("discovery: found 'friend'", "pairing: we show", "the same: confirmed"):
        assert step in notes
    assert "SDP: friend offers the Serial Port service (0x1101) on channel" in notes
    assert "RFCOMM: channel" in notes and "you ended the chat" in notes
    assert "\x1b" not in result.stdout + notes  # no terminal control codes on pipes


def test_the_embedded_chat_with_nothing_to_say_exits_0(tmp_path: Path) -> None:
    snoop, trace = tmp_path / "chat.btsnoop", tmp_path / "chat.jsonl"
    result = run_chat(["chat", "--snoop", str(snoop), "--trace", str(trace)], b"")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "you ended the chat" in result.stderr
    assert snoop.stat().st_size > 16
    assert "Rfcomm" in trace.read_text()


def test_ctrl_c_ends_the_embedded_chat_closing_the_dlc_the_multiplexer_and_the_link(
    tmp_path: Path,
) -> None:
    trace = tmp_path / "chat.jsonl"
    chat = Chat(["chat", "--trace", str(trace)], stdin=True)
    chat.wait_for("type a line")
    chat.type("still here?\n")
    chat.wait_for("echo: still here?\n", "stdout")
    status, _, notes = chat.interrupt()
    assert status == 130, notes
    assert "Traceback" not in notes and "KeyboardInterrupt" not in notes, notes
    # Closed top down, each step answered: the DLC (DISC, UA), then the link, which takes the
    # multiplexer's L2CAP channel with it.
    events = [json.loads(line) for line in trace.read_text().splitlines()]

    def first(message_type: str, after: int = 0, to: str = "", **fields: object) -> int:
        for index, event in enumerate(events[after:], after):
            summary = event["summary"]
            if to and event["receiver"] != to:
                continue
            if event["message_type"] == message_type and all(
                f"{name}={value}" in summary for name, value in fields.items()
            ):
                return index
        pytest.fail(f"no {message_type} {fields} after event {after}")

    dlc_closing = first("RfcommDisconnectReq")
    dlc_closed = first("RfcommCnf", dlc_closing, error=None)
    link_closing = first("DisconnectReq", dlc_closed)
    first("BtmCnf", link_closing, status=0)
    first("L2caDisconnectInd", link_closing, to="rfcomm")


def test_the_example_runs_the_same_chat() -> None:
    example = [sys.executable, str(REPOSITORY / "examples" / "chat.py")]
    result = run_chat([], b"from the example\n", program=example)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "echo: from the example\n"


@contextlib.contextmanager
def served_controller(tmp_path: Path) -> Iterator[str]:
    """``bluetrio controller --listen unix:PATH`` while the block runs; yields its -t SPEC."""
    socket_path = tmp_path / "air.sock"
    controller = subprocess.Popen(
        [*BLUETRIO, "controller", "--listen", f"unix:{socket_path}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENVIRONMENT,
    )
    try:
        deadline = time.monotonic() + WITHIN
        while not socket_path.exists():
            assert time.monotonic() < deadline, "the controller never listened"
            time.sleep(0.05)
        yield f"unix:{socket_path}"
    finally:
        controller.kill()
        controller.wait()


def test_two_chats_talk_through_a_served_controller(tmp_path: Path) -> None:
    with served_controller(tmp_path) as spec:
        listener = Chat(
            ["chat", "-t", spec, "--listen", "--name", "kitchen", "--address", LISTENER,
             "--yes", "--keystore", str(tmp_path / "listener")],
            stdin=True,
        )  # fmt: skip
        listener.wait_for("waiting for a peer")
        caller = Chat(
            ["chat", "-t", spec, "--connect", LISTENER, "--yes",
             "--keystore", str(tmp_path / "caller")],
            stdin=True,
        )  # fmt: skip
        caller.wait_for("type a line")
        listener.wait_for("type a line")
        caller.type("hello from the caller\n")
        listener.wait_for("hello from the caller\n", "stdout")
        listener.type("hello from the listener\n")
        caller.wait_for("hello from the listener\n", "stdout")
        caller.type("bye")  # the last line, ended by the end of the input
        caller_status, caller_out, caller_notes = caller.finish()
        listener_status, listener_out, listener_notes = listener.finish()
    assert caller_status == 0, caller_notes
    assert listener_status == 0, listener_notes
    assert caller_out == "hello from the listener\n"
    assert listener_out == "hello from the caller\nbye\n"
    assert "SDP:" in caller_notes and "yes (--yes)" in caller_notes
    assert "you ended the chat" in caller_notes
    assert "ended the chat" in listener_notes


async def test_lines_piped_in_that_the_peer_closed_before_are_named_and_exit_1(
    tmp_path: Path,
) -> None:
    # The peer is a stack in this process: it takes the DLC, reads one piece of what the
    # chat sends, then closes while the chat still has most of its piped lines to send.
    lines = [f"line {number:03d}" for number in range(200)]
    channel = 5
    with served_controller(tmp_path) as spec:
        async with (
            open_stack(spec, address=LISTENER) as peer,
            peer.rfcomm_listen(channel=channel) as listener,
        ):
            caller = Chat(
                ["chat", "-t", spec, "--connect", LISTENER, "--channel", str(channel),
                 "--yes", "--keystore", str(tmp_path / "caller")],
                stdin=True,
            )  # fmt: skip
            caller.type("".join(f"{line}\n" for line in lines))  # the pipe stays open
            stream = await listener.accept()
            received = await stream.receive_some()
            await stream.aclose()
            await trio.to_thread.run_sync(caller.wait_for, "input after these lines", "stderr")
            status, output, notes = await trio.to_thread.run_sync(caller.finish)
    assert status == 1, notes
    assert output == ""
    named = [
        note.removeprefix("bluetrio chat: not delivered: ")
        for note in notes.splitlines()
        if note.startswith("bluetrio chat: not delivered: ")
    ]
    assert f"bluetrio chat: {len(named)} line(s) you entered were not delivered" in notes
    # The lines named are the run of lines after those sent: none lost without a word.
    assert named, notes
    first = lines.index(named[0])
    assert named == lines[first : first + len(named)]
    assert b"".join(f"{line}\n".encode() for line in lines[:first]).startswith(received)
    assert "ended the chat" in notes


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["chat", "-t", "virtual"], "say --listen or --connect ADDRESS"),
        (["chat", "--listen"], "--listen and --connect need -t SPEC"),
    ],
)
def test_a_chat_without_its_mode_says_what_is_missing(arguments: list[str], error: str) -> None:
    result = run_chat(arguments, b"")
    assert result.returncode == 1
    assert error in result.stderr
