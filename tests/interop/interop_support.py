"""Helpers for interop tests: free ports, waiting for servers to listen, peer processes
that report on stdout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import socket
import subprocess
import time
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

T = TypeVar("T")

# A whole interop test's deadline (trio.fail_after), under pytest-timeout's 120 s: a test
# that hangs then fails in its own run, so its ``finally`` blocks stop what it started.
TEST_LIMIT = 100.0
# Every process started through this module and not stopped yet, for
# :func:`stop_leftover_processes`.
_running: set[subprocess.Popen[bytes]] = set()


def free_port_block(size: int) -> int:
    """A base port such that ``base .. base+size-1`` are all free right now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + size > 65535:
            continue
        if all(_port_free(base + offset) for offset in range(size)):
            return base
    raise RuntimeError("no block of free TCP ports found")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            output = process.stderr.read() if process.stderr else b""
            pytest.fail(f"{what} did not start listening on {port}: {output[-2000:]!r}")
        time.sleep(0.05)


def wait_for_port_listening(
    port: int, process: subprocess.Popen[bytes] | None = None, what: str = "server"
) -> None:
    """Wait until something listens on ``port`` without connecting to it (/proc/net/tcp);
    fail early, with its stderr, if ``process`` exits first."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if is_listening(port):
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.05)
    output = process.stderr.read() if process is not None and process.stderr else b""
    pytest.fail(f"{what} is not listening on port {port}: {output[-2000:]!r}")


async def run_asyncio(coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
    """Run an asyncio coroutine (a Bumble host) in a worker thread, cancelled inside its own
    event loop after ``timeout`` seconds: a trio deadline cannot interrupt a worker thread."""
    return await trio.to_thread.run_sync(asyncio.run, asyncio.wait_for(coroutine, timeout))


def start_process(command: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(command, **options)``, remembered until :func:`stop_process`."""
    process: subprocess.Popen[bytes] = subprocess.Popen(list(command), **options)
    _running.add(process)
    return process


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process``, killing it if it does not exit within ten seconds."""
    _running.discard(process)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_leftover_processes() -> None:
    """Stop every process :func:`start_process` started and nothing stopped. A test whose
    run was abandoned (pytest-timeout) never reached its own clean-up, and its peers would
    otherwise outlive it."""
    for process in list(_running):
        stop_process(process)


def is_listening(port: int) -> bool:
    try:
        with open("/proc/net/tcp") as table:
            return any(f":{port:04X} " in line and " 0A " in line for line in table)
    except OSError:
        return False


class ReportingProcess:
    """A subprocess that reports facts on stdout, one ``WORD rest...`` line each (the peer
    scripts under ``peers/``); ``reports`` maps each word to the rest of its last line."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, what: str) -> None:
        self.process = process
        self.log_path = log_path
        self.what = what
        self.reports: dict[str, str] = {}
        self._buffer = b""

    def wait_for(self, word: str, timeout: float = 20.0) -> str:
        """The rest of the next line starting with ``word``; fails the test with the
        process's log when it exits or stays silent for ``timeout`` seconds."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while True:
                while b"\n" in self._buffer:
                    line, self._buffer = self._buffer.split(b"\n", 1)
                    first, _, rest = line.decode(errors="replace").strip().partition(" ")
                    self.reports[first] = rest
                    if first == word:
                        return rest
                remaining = deadline - time.monotonic()
                chunk = b""
                if remaining > 0 and selector.select(remaining):
                    chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    log = self.log_path.read_text(errors="replace")[-3000:]
                    pytest.fail(f"{self.what} never reported {word}; its log:\n{log}")
                self._buffer += chunk

    def tell(self, line: str) -> None:
        """Write ``line`` to the process's standard input (a peer that waits for it)."""
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()


@contextlib.contextmanager
def reporting_process(
    command: Sequence[str], log_path: Path, what: str, *, ready: str = "READY"
) -> Iterator[ReportingProcess]:
    """Run ``command`` (stderr to ``log_path``) until it reports ``ready``; stop it on exit."""
    with log_path.open("wb") as log:
        process = start_process(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        try:
            running = ReportingProcess(process, log_path, what)
            running.wait_for(ready)
            yield running
        finally:
            stop_process(process)
            assert process.stdin is not None and process.stdout is not None
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
            process.stdout.close()
