"""``bluetrio chat`` as a user runs it: real processes driven through pipes. The embedded
demo answers each line piped in and exits 0 at the end of the input; two ``bluetrio chat``
processes talk through one served virtual controller."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from cli_process import BLUETRIO, ENVIRONMENT, REPOSITORY, WITHIN
from cli_process import BluetrioProcess as Chat

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


def test_two_chats_talk_through_a_served_controller(tmp_path: Path) -> None:
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
        spec = f"unix:{socket_path}"
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
    finally:
        controller.kill()
        controller.wait()
    assert caller_status == 0, caller_notes
    assert listener_status == 0, listener_notes
    assert caller_out == "hello from the listener\n"
    assert listener_out == "hello from the caller\nbye\n"
    assert "SDP:" in caller_notes and "yes (--yes)" in caller_notes
    assert "you ended the chat" in caller_notes
    assert "ended the chat" in listener_notes


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
