"""A ``bluetrio`` command in a subprocess, as a user runs it, read as it prints: for the
tests of long-running commands (Ctrl-C, chats driven through pipes)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
BLUETRIO = [sys.executable, "-m", "bluetrio.cli.main"]
ENVIRONMENT = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
# A wait for the process to get somewhere, not an assertion on how fast it is.
WITHIN = 90.0


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and a child keeps that; give the
    # command the disposition of a program started from a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class BluetrioProcess:
    """``bluetrio ARGS`` (or another ``program``, such as an example script) in a
    subprocess; standard input a pipe when ``stdin`` says so."""

    def __init__(
        self, arguments: Sequence[str], *, stdin: bool = False, program: Sequence[str] = BLUETRIO
    ) -> None:
        self.process = subprocess.Popen(
            [*program, *arguments],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ENVIRONMENT,
            preexec_fn=_default_sigint,
        )
        self.output = {"stdout": b"", "stderr": b""}

    def type(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def wait_for(self, text: str, stream: str | None = None) -> None:
        """Read both outputs until ``stream`` (either, when None) has ``text``; fail if the
        process ends first."""
        streams = {"stdout": self.process.stdout, "stderr": self.process.stderr}
        watched = [stream] if stream is not None else list(streams)
        deadline = time.monotonic() + WITHIN
        with selectors.DefaultSelector() as selector:
            for name, pipe in streams.items():
                assert pipe is not None
                selector.register(pipe, selectors.EVENT_READ, name)
            while not any(text.encode() in self.output[name] for name in watched):
                remaining = deadline - time.monotonic()
                ready = selector.select(remaining) if remaining > 0 else []
                chunks = [(key.data, os.read(key.fd, 4096)) for key, _ in ready]
                if not any(chunk for _, chunk in chunks):
                    self.process.kill()
                    pytest.fail(f"never printed {text!r}: {self.output}")
                for name, chunk in chunks:
                    self.output[name] += chunk

    def finish(self) -> tuple[int, str, str]:
        """Close standard input and wait for the end: the exit status and everything
        printed."""
        stdout, stderr = self.process.communicate(timeout=WITHIN)
        return (
            self.process.returncode,
            (self.output["stdout"] + stdout).decode(),
            (self.output["stderr"] + stderr).decode(),
        )

    def interrupt(self) -> tuple[int, str, str]:
        """Send SIGINT; the exit status and everything printed."""
        self.process.send_signal(signal.SIGINT)
        return self.finish()
