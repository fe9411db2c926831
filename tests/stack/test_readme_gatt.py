"""The README's GATT example runs as printed: a server's value read and notified."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_gatt_example_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [example] = [block for block in blocks if "gatt_server" in block]
    script = tmp_path / "gatt_example.py"
    script.write_text(example)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(README.parent)},  # this tree's bluetrio
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["level 90", "notified 89"]
