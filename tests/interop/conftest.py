"""Fixtures that start independent implementations for interop tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop_support import (
    free_port_block,
    is_listening,
    reporting_process,
    start_process,
    stop_leftover_processes,
    stop_process,
    wait_for_port_listening,
)


@pytest.fixture(autouse=True)
def no_process_outlives_its_test() -> Iterator[None]:
    """Whatever a test started and did not stop (its run abandoned by pytest-timeout) is
    stopped when it ends, so that it cannot slow or disturb the tests after it."""
    yield
    stop_leftover_processes()


@pytest.fixture
def rootcanal_hci_port() -> Iterator[int]:
    """Android's Root Canal: every TCP connection to this port gets its own dual-mode
    controller, all on one simulated phy."""
    binaries = pytest.importorskip("rootcanal.binaries")
    base = free_port_block(4)
    # The binary itself, not ``python -m rootcanal``: that wrapper runs it as a child which
    # terminating the wrapper would leave running.
    process = start_process(
        [binaries.get_package_binary_resource_path("rootcanal"), f"-test_port={base}",
         f"-hci_port={base + 1}", f"-link_port={base + 2}", f"-link_ble_port={base + 3}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # Connecting to any port while Root Canal starts can make it refuse the HCI port for a
        # while (a probe of the test port did), so only watch the listening sockets.
        wait_for_port_listening(base + 1, process, "Root Canal")
        yield base + 1
    finally:
        stop_process(process)


@pytest.fixture
def bumble_controllers(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """Two Bumble controllers on one Bumble LocalLink: one on a pty, one on a TCP server."""
    pytest.importorskip("bumble")
    pty_link = tmp_path / "bumble-pty"
    port = free_port_block(1)
    process = start_process(
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
        stop_process(process)


@pytest.fixture
def served_controller_port(tmp_path: Path) -> Iterator[int]:
    """``bluetrio controller --listen tcp:127.0.0.1:PORT`` as a subprocess: every client of
    the port gets its own bluetrio virtual controller, all on one air."""
    port = free_port_block(1)
    command = [sys.executable, "-m", "bluetrio.cli.main", "controller", "--listen",
               f"tcp:127.0.0.1:{port}"]  # fmt: skip
    log_path = tmp_path / "bluetrio-controller.log"
    # It says "bluetrio controller: listening on ..." once it accepts hosts.
    with reporting_process(command, log_path, "bluetrio controller", ready="bluetrio"):
        yield port
