"""Every mistake a user can make on the command line is one line and a non-zero exit."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from bluetrio.cli.main import build_parser, main

TRACE_RECORD = {
    "trace_id": 1,
    "sent_at": 2.0,
    "sender": "btm",
    "receiver": "hci",
    "message_type": "HciCommandReq",
    "handle": None,
    "cid": None,
    "summary": "HciCommandReq#1 Reset",
}


def one_line_error(capsys: pytest.CaptureFixture[str], arguments: list[str]) -> str:
    """Run ``bluetrio ARGUMENTS``; the error it printed, checked to be one line."""
    status = main(arguments)
    error = capsys.readouterr().err
    assert status == 1, error
    assert error.startswith(f"bluetrio {arguments[0]}: ") and error.count("\n") == 1, error
    return error.strip()


def test_controller_on_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        error = one_line_error(capsys, ["controller", "--listen", f"tcp:127.0.0.1:{port}"])
    assert "cannot listen: Address already in use" in error


def test_controller_on_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "not-a-socket"
    path.write_text("keep me")
    error = one_line_error(capsys, ["controller", "--listen", f"unix:{path}"])
    assert "cannot listen" in error
    assert path.read_text() == "keep me"


def test_controller_lists_only_the_forms_it_listens_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = one_line_error(capsys, ["controller", "--listen", "virtual"])
    assert error.endswith("accepted forms: tcp:HOST:PORT, unix:PATH")


def test_snoop_in_a_missing_directory(capsys: pytest.CaptureFixture[str]) -> None:
    error = one_line_error(capsys, ["info", "-t", "virtual", "--snoop", "/no/such/dir/x"])
    assert "cannot write the btsnoop file '/no/such/dir/x': No such file or directory" in error


@pytest.mark.parametrize("inside", [False, True])
def test_keystore_that_cannot_hold_bonds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], inside: bool
) -> None:
    file = tmp_path / "a-file"
    file.write_text("")
    keystore = file / "bonds" if inside else file
    arguments = ["pair", "-t", "virtual", "00:11:22:33:44:55", "--classic"]
    error = one_line_error(capsys, [*arguments, "--keystore", str(keystore)])
    assert ("Not a directory" if inside else "is a file, not a directory") in error


def test_serial_port_that_is_no_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("trio_serial")
    error = one_line_error(capsys, ["info", "-t", "serial:/dev/null"])
    assert "cannot open the serial port: Inappropriate ioctl for device" in error


def test_tcp_without_a_port(capsys: pytest.CaptureFixture[str]) -> None:
    error = one_line_error(capsys, ["info", "-t", "tcp:localhost"])
    assert "'tcp:localhost' has no port (write tcp:HOST:PORT)" in error


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[" * 100_000, "nested too deeply"),
        ('{"trace_id": 1' + "0" * 5000 + "}", "an integer of 5001 digits"),
        (json.dumps({**TRACE_RECORD, "sent_at": float("nan")}), "NaN is not a JSON number"),
        (json.dumps({**TRACE_RECORD, "received_at": 1.0}), "received_at 1.0 is before sent_at"),
    ],
)
@pytest.mark.parametrize("output", ["perfetto", "mermaid", "text"])
def test_trace_files_that_are_not_traces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, problem: str, output: str
) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text(content + "\n")
    error = one_line_error(capsys, ["trace", str(path), "--format", output])
    assert f"{path}, line 1: " in error and problem in error


def test_pair_says_which_transport_to_give(capsys: pytest.CaptureFixture[str]) -> None:
    # Nobody on the air has the address: the short scan finds it on neither transport.
    assert main(["pair", "-t", "virtual", "00:11:22:33:44:55"]) == 1
    progress, error = capsys.readouterr().err.splitlines()
    assert progress.startswith("bluetrio pair: looking for 00:11:22:33:44:55")
    assert error.startswith("bluetrio pair: ") and error.endswith("say --le or --classic")
    assert "seen on neither LE nor BR/EDR" in error


def test_pair_refuses_an_le_address_type_for_bredr(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["pair", "-t", "virtual", "00:11:22:33:44:55", "--classic"]
    error = one_line_error(capsys, [*arguments, "--address-type", "random"])
    assert "--address-type is for LE addresses" in error


@pytest.mark.parametrize("command", ["info", "scan", "pair", "serve"])
def test_a_malformed_address_says_what_an_address_looks_like(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main([command, "-t", "virtual", "--address", "00:11:22"])
    assert exit_status.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert "'00:11:22' (expected six hex pairs like 00:11:22:33:44:55)" in error


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["--version"])
    assert exit_status.value.code == 0
    assert capsys.readouterr().out.startswith("bluetrio ")


def test_subcommands_in_the_order_a_user_needs_them() -> None:
    usage = build_parser().format_help()
    order = [usage.index(f"    {name} ") for name in ("info", "scan", "pair", "serve", "trace")]
    assert order == sorted(order)
    assert usage.index("    serve ") < usage.index("    controller") < usage.index("    trace ")
