"""``bluetrio info`` against Bumble's virtual controller, over a pseudo-terminal (``serial:``)
and over TCP. Bumble's controller answers some commands with errors and leaves others
unanswered; the read-only bring-up must adapt and still describe the controller."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop_support import free_port_block, is_listening

from bluetrio.cli.main import main

pytestmark = pytest.mark.interop


@pytest.fixture
def bumble_controllers(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """Two Bumble controllers on one Bumble LocalLink: one on a pty, one on a TCP server."""
    pytest.importorskip("bumble")
    pty_link = tmp_path / "bumble-pty"
    port = free_port_block(1)
    process = subprocess.Popen(
        [sys.executable, "-m", "bumble.apps.controllers", f"pty:{pty_link}",
         f"tcp-server:127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not (pty_link.exists() and is_listening(port)):
            if process.poll() is not None or time.monotonic() > deadline:
                assert process.stderr is not None
                pytest.fail(f"Bumble controllers did not start: {process.stderr.read()!r}")
            time.sleep(0.05)
        yield pty_link, port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_info_over_a_pseudo_terminal(
    bumble_controllers: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    pty_link, _ = bumble_controllers
    assert main(["info", "-t", f"serial:{os.path.realpath(pty_link)}"]) == 0
    out = capsys.readouterr().out
    assert "BD_ADDR:" in out and "LE:            supported" in out
    assert "ACL buffers:" in out


def test_info_over_tcp(
    bumble_controllers: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    _, port = bumble_controllers
    assert main(["info", "-t", f"tcp:127.0.0.1:{port}"]) == 0
    out = capsys.readouterr().out
    assert "BD_ADDR:" in out and "LMP version:" in out
