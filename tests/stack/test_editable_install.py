"""After the README's ``pip install -e .``, a type checker sees the package: a user's file
that uses bluetrio type-checks against the installed package (an editable install that only
works through an import hook, as setuptools' default, leaves mypy blind to it)."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]

USER_FILE = """\
import trio

import bluetrio
from bluetrio.messages import hci


async def main() -> None:
    async with bluetrio.open_stack("virtual") as stack:
        info = await stack.ready()
        address: bluetrio.Address = info.address
        complete = await stack.command(hci.ReadBdAddr())
        print(address, complete)


trio.run(main)
"""


# A pip install and a strict mypy run, each bounded by its own subprocess timeout: the
# suite's 120 s per test would cut them short on a loaded machine.
@pytest.mark.timeout(1500)
def test_mypy_sees_the_editable_install(tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    # The machine's packages (trio, mypy...) stay visible; bluetrio itself is installed anew.
    venv.create(environment, system_site_packages=True, with_pip=True)
    python = str(environment / "bin" / "python")
    clean = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(REPOSITORY)],
        capture_output=True,
        text=True,
        env=clean,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    user = tmp_path / "user" / "app.py"
    user.parent.mkdir()
    user.write_text(USER_FILE)
    # Run where no configuration or source tree of ours is in sight: only the install.
    checked = subprocess.run(
        [python, "-m", "mypy", "--strict", "--no-incremental", str(user)],
        capture_output=True,
        text=True,
        cwd=user.parent,
        env=clean,
        timeout=600,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Success: no issues found in 1 source file" in checked.stdout
