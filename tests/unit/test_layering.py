"""The layering of docs/architecture.md, enforced: the import-linter contracts in
pyproject.toml hold (sans-IO cores, state tables and codecs never import trio; the runtime
never imports a layer; layers share messages only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import EXIT_STATUS_ERROR, EXIT_STATUS_SUCCESS, lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_the_layering_contracts_hold() -> None:
    assert lint_imports(str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == (
        EXIT_STATUS_SUCCESS
    )


def test_a_broken_contract_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The HCI shell does I/O: a contract saying it never imports trio must fail.
    config = tmp_path / "contracts.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_package = "bluetrio"\n'
        "include_external_packages = true\n"
        "[[tool.importlinter.contracts]]\n"
        'name = "the HCI shell is sans-IO"\n'
        'type = "forbidden"\n'
        'source_modules = ["bluetrio.actors.hci.shell"]\n'
        'forbidden_modules = ["trio"]\n'
    )
    assert lint_imports(str(config), no_cache=True, no_logo=True) == EXIT_STATUS_ERROR
    assert "bluetrio.actors.hci.shell is not allowed to import trio" in capsys.readouterr().out
