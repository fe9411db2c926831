"""Ctrl-C ends every long-running ``bluetrio`` command quietly with status 130, after the
stack has closed: a real process, a real SIGINT, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

from cli_process import WITHIN
from cli_process import BluetrioProcess as Command

from bluetrio.messages.packets import PacketType
from bluetrio.tracing.btsnoop import read_btsnoop

LE_SET_SCAN_ENABLE, LE_SET_EXTENDED_SCAN_ENABLE = 0x200C, 0x2042
EXIT_INTERRUPTED = 130
READY_WITHIN = WITHIN


def assert_quiet_interrupt(status: int, stderr: str) -> None:
    assert status == EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr


def last_scan_enable(snoop: Path) -> int:
    """The Enable parameter of the last (extended) LE scan enable command sent."""
    enables = [
        record.payload[3]
        for record in read_btsnoop(snoop)
        if record.packet_type == PacketType.COMMAND
        and int.from_bytes(record.payload[:2], "little")
        in (LE_SET_SCAN_ENABLE, LE_SET_EXTENDED_SCAN_ENABLE)
    ]
    assert enables, "the scan never started"
    return enables[-1]


def test_scan(tmp_path: Path) -> None:
    snoop = tmp_path / "scan.btsnoop"
    command = Command(
        ["scan", "-t", "virtual", "--le", "--duration", "3600", "--snoop", str(snoop)]
    )
    command.wait_for("scanning LE")
    status, _, stderr = command.interrupt()
    assert_quiet_interrupt(status, stderr)
    # Closed cleanly: the controller was told to stop scanning, and the capture is complete.
    assert last_scan_enable(snoop) == 0


def test_pair(tmp_path: Path) -> None:
    nobody = "00:00:00:00:00:99"  # paged for 5.12 s (Vol 4 Part E 7.3.16): time to interrupt
    command = Command(["pair", "-t", "virtual", nobody, "--classic", "--keystore", str(tmp_path)])
    command.wait_for(f"connecting to {nobody}")
    status, _, stderr = command.interrupt()
    assert_quiet_interrupt(status, stderr)


def test_info_waiting_for_a_controller(tmp_path: Path) -> None:
    path = tmp_path / "silent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        # A controller that takes the host's connection and never answers it.
        listener.bind(str(path))
        listener.listen()
        listener.settimeout(READY_WITHIN)
        command = Command(["info", "-t", f"unix:{path}"])
        host, _ = listener.accept()
        with host:
            host.settimeout(READY_WITHIN)
            # Ready: the host has sent HCI_Reset and waits for its Command Complete.
            assert host.recv(4) == bytes([PacketType.COMMAND, 0x03, 0x0C, 0x00])
            status, _, stderr = command.interrupt()
    assert_quiet_interrupt(status, stderr)


def test_controller(tmp_path: Path) -> None:
    command = Command(["controller", "--listen", f"unix:{tmp_path / 'controller.sock'}"])
    command.wait_for("listening on")
    status, _, stderr = command.interrupt()
    assert_quiet_interrupt(status, stderr)


def test_serve(tmp_path: Path) -> None:
    command = Command(
        ["serve", "-t", "virtual", "--advertise", "--pairable", "--keystore", str(tmp_path)]
    )
    command.wait_for("Ctrl-C to stop")
    status, _, stderr = command.interrupt()
    assert_quiet_interrupt(status, stderr)


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    command = Command(["info", "-t", "virtual"])
    assert command.process.stdout is not None
    command.process.stdout.close()  # as `bluetrio info | head -1` does once it has its line
    _, stderr = command.process.communicate(timeout=READY_WITHIN)
    assert command.process.returncode == 141, stderr
    assert stderr == b""
