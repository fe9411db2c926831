"""``bluetrio scan`` finds Bumble devices: an LE advertiser on Bumble's own virtual controller
(LE scan over Bumble's controller), and a discoverable BR/EDR Bumble host on bluetrio's
served controller (inquiry answered by Bumble's host settings, name from its EIR or a remote
name request)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop_support import ReportingProcess, reporting_process

from bluetrio.cli.main import main

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PEERS = Path(__file__).parent / "peers"
ADVERTISED_NAME = "bumble-tracker"
HEART_RATE = 0x180D
# The name bumble_classic_peer.py gives its device.
CLASSIC_PEER_NAME = "bumble-classic-peer"


@pytest.fixture
def bumble_advertiser(tmp_path: Path) -> Iterator[ReportingProcess]:
    command = [sys.executable, str(PEERS / "bumble_le_advertiser.py"), "--name",
               ADVERTISED_NAME, "--service", f"0x{HEART_RATE:04X}"]  # fmt: skip
    with reporting_process(command, tmp_path / "advertiser.log", "Bumble advertiser") as peer:
        yield peer


@pytest.fixture
def bumble_classic_host(tmp_path: Path, served_controller_port: int) -> Iterator[ReportingProcess]:
    command = [sys.executable, str(PEERS / "bumble_classic_peer.py"),
               f"tcp-client:127.0.0.1:{served_controller_port}"]  # fmt: skip
    with reporting_process(command, tmp_path / "classic.log", "Bumble classic host") as peer:
        yield peer


def scan(capsys: pytest.CaptureFixture[str], port: int, *options: str) -> list[str]:
    """``bluetrio scan`` as a user runs it, piped: its output lines."""
    argv = ["scan", "-t", f"tcp:127.0.0.1:{port}", "--duration", "2", *options]
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "\x1b" not in captured.out
    return captured.out.splitlines()


def test_le_scan_finds_a_bumble_advertiser_by_name(
    bumble_advertiser: ReportingProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    port = int(bumble_advertiser.reports["PORT"])
    address = bumble_advertiser.reports["ADDRESS"].split("/")[0]
    lines = scan(capsys, port, "--le")
    (line,) = [line for line in lines if repr(ADVERTISED_NAME) in line]
    assert line.startswith(f"LE      {address}  random ")
    assert line.endswith(f"services: 0x{HEART_RATE:04X}")


def test_inquiry_finds_a_discoverable_bumble_host_with_its_name(
    bumble_classic_host: ReportingProcess,
    served_controller_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = bumble_classic_host.reports["ADDRESS"].split("/")[0]
    # The only other host on the air is the scanner itself, which is not discoverable.
    (line,) = scan(capsys, served_controller_port, "--classic")
    assert line.startswith(f"BR/EDR  {address}  ")
    assert line.endswith(f"dBm  {CLASSIC_PEER_NAME!r}")
