"""The README's examples and its first command run as printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_library_example_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    script = tmp_path / "example.py"
    script.write_text(blocks[0])
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert re.match(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", result.stdout)
    assert (tmp_path / "capture.btsnoop").stat().st_size > 16
    assert (tmp_path / "trace.jsonl").read_text().count("\n") > 2


def test_readme_link_example_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [example] = [block for block in blocks if "accept()" in block]
    script = tmp_path / "link_example.py"
    script.write_text(example)
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["reason 0x13"]
    assert "PERIPHERAL NONE" in result.stdout


def test_readme_first_command_runs_with_nothing_on_standard_input() -> None:
    # As CI runs it: no terminal, standard input empty. The main job exits 0 at its end.
    first_block = re.search(r"```\n(.*?)```", README.read_text(), flags=re.S)
    assert first_block is not None
    install, command = first_block.group(1).strip().split(" && ")
    assert install == "pip install -e ."
    program, *arguments = command.split()
    assert program == "bluetrio"
    result = subprocess.run(
        [sys.executable, "-m", "bluetrio.cli.main", *arguments],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(README.parent)},
    )
    assert result.returncode == 0, result.stderr
