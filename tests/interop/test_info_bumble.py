"""``bluetrio info`` against Bumble's virtual controller, over a pseudo-terminal (``serial:``)
and over TCP. Bumble's controller answers some commands with errors and leaves others
unanswered; the read-only bring-up must adapt and still describe the controller."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bluetrio.cli.main import main

pytestmark = pytest.mark.interop


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
