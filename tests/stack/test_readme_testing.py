"""The README's example of ``bluetrio.testing`` runs as printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_testing_example_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [example] = [block for block in blocks if "fuzz_case" in block]
    script = tmp_path / "testing_example.py"
    script.write_text(example)
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    peer, verdict = result.stdout.splitlines()
    assert re.fullmatch(r"peer ([0-9A-F]{2}:){5}[0-9A-F]{2}", peer)
    assert verdict in ("SERVING", "TYPED_ERROR")
