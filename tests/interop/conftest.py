"""Fixtures that start independent implementations for interop tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from interop_support import free_port_block, wait_for_port, wait_for_port_listening


@pytest.fixture
def rootcanal_hci_port() -> Iterator[int]:
    """Android's Root Canal: every TCP connection to this port gets its own dual-mode
    controller, all on one simulated phy."""
    pytest.importorskip("rootcanal")
    base = free_port_block(4)
    process = subprocess.Popen(
        [sys.executable, "-m", "rootcanal", f"-test_port={base}", f"-hci_port={base + 1}",
         f"-link_port={base + 2}", f"-link_ble_port={base + 3}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # Probing the HCI port would create a controller; the test port is harmless.
        wait_for_port(base, process, "Root Canal")
        wait_for_port_listening(base + 1)
        yield base + 1
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
