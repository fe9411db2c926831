"""``examples/battery_peripheral.py`` and ``examples/battery_central.py`` as a user runs them:
each alone is the whole demo on the embedded virtual air (peripheral and central in one
process); with ``-t`` they are two processes on one served controller, the central finding
the peripheral by its address or by its advertised name."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence

from cli_process import ENVIRONMENT, REPOSITORY, WITHIN, BluetrioProcess
from test_chat_cli import served_controller

EXAMPLES = REPOSITORY / "examples"
PERIPHERAL = [sys.executable, str(EXAMPLES / "battery_peripheral.py")]
CENTRAL = [sys.executable, str(EXAMPLES / "battery_central.py")]
SECRET = "secret: 'only over an encrypted link' (encrypted, key size 16)"


def run_example(program: Sequence[str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*program, *arguments],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=WITHIN,
        env=ENVIRONMENT,
    )


def check_central(lines: list[str], count: int) -> None:
    """The central's lines: the level read, subscribed, the secret read once paired, then
    ``count`` levels notified, each one lower than the one before."""
    assert any(re.fullmatch(r"battery level \d+%", line) for line in lines), lines
    assert "subscribed to the battery level" in lines
    assert SECRET in lines
    matches = [re.fullmatch(r"battery level (\d+)% \(notified\)", line) for line in lines]
    notified = [int(match.group(1)) for match in matches if match is not None]
    assert len(notified) == count, lines
    assert notified == sorted(notified, reverse=True)
    assert lines.index(SECRET) < lines.index(f"battery level {notified[0]}% (notified)")


def demo_lines(output: str, side: str) -> list[str]:
    prefix = f"{side}: "
    return [line.removeprefix(prefix) for line in output.splitlines() if line.startswith(prefix)]


def test_the_central_alone_runs_the_whole_demo() -> None:
    result = run_example(CENTRAL, "--count", "2")
    assert result.returncode == 0, result.stderr
    central = demo_lines(result.stdout, "central")
    peripheral = demo_lines(result.stdout, "peripheral")
    assert "READY" in peripheral
    assert "scanning for 'bluetrio-battery'" in central
    assert any(line.startswith("found 'bluetrio-battery' at ") for line in central)
    check_central(central, 2)


def test_the_peripheral_alone_runs_the_whole_demo() -> None:
    result = run_example(PERIPHERAL, "--count", "2")
    assert result.returncode == 0, result.stderr
    peripheral = demo_lines(result.stdout, "peripheral")
    assert re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", peripheral[0]), peripheral
    assert peripheral[1] == "READY"
    check_central(demo_lines(result.stdout, "central"), 2)


def test_peripheral_and_central_on_a_served_controller(tmp_path: object) -> None:
    with served_controller(tmp_path) as spec:  # type: ignore[arg-type]
        peripheral = BluetrioProcess(
            ["-t", spec, "--count", "4", "--interval", "0.2"], program=PERIPHERAL
        )
        peripheral.wait_for("READY\n", "stdout")
        address = peripheral.output["stdout"].decode().splitlines()[0]
        assert re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", address)
        # One central at a time: by its address, then (advertising again) by its name.
        by_address = run_example(CENTRAL, "-t", spec, address, "--count", "2")
        assert by_address.returncode == 0, by_address.stderr
        check_central(by_address.stdout.splitlines(), 2)
        by_name = run_example(CENTRAL, "-t", spec, "--count", "2")
        assert by_name.returncode == 0, by_name.stderr
        assert f"found 'bluetrio-battery' at {address}" in by_name.stdout
        check_central(by_name.stdout.splitlines(), 2)
        status, output, errors = peripheral.finish()  # it ends after four levels notified
        assert status == 0, errors
        assert len(re.findall(r"battery level \d+% notified to 1 central", output)) == 4
