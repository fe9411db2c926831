"""``bluetrio trace``: converting a recorded trace file, and refusing bad ones clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bluetrio.cli.main import main
from bluetrio.tracing.exporters import load_jsonl, save_jsonl
from bluetrio.tracing.recorder import TraceEvent

EVENTS = [
    TraceEvent(1, 2.0, "app", "l2cap", "L2caConnectReq", 0x40, None, "L2caConnectReq()", 2.00001),
    TraceEvent(2, 2.00002, "l2cap", "hci", "HciAclDataReq", 0x40, 0x41, "data;#:", 2.00003),
    TraceEvent(3, 2.00004, "hci", "l2cap", "HciAclDataInd", 0x40, 0x41, "lost", None),
]


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "stack.jsonl"
    save_jsonl(EVENTS, path)
    return path


def test_text_to_stdout_by_default(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", str(trace_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert "app -> l2cap" in lines[0]
    assert "lost" in lines[2]


def test_perfetto_to_a_file(trace_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "stack.json"
    assert main(["trace", str(trace_file), "--format", "perfetto", "-o", str(out)]) == 0
    items = json.loads(out.read_text(encoding="utf-8"))["traceEvents"]
    assert sorted(i["id"] for i in items if i["ph"] == "s") == [1, 2]
    assert sorted(i["id"] for i in items if i["ph"] == "f") == [1, 2]


def test_mermaid_with_a_limit(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", str(trace_file), "--format", "mermaid", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sequenceDiagram\n")
    assert out.count("->>") == 2
    assert "l2cap->>hci: HciAclDataReq handle=0x0040 cid=0x0041" in out
    assert "1 more message not shown" in out


def test_jsonl_copy_is_identical(trace_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy.jsonl"
    assert main(["trace", str(trace_file), "--format", "jsonl", "-o", str(out)]) == 0
    assert load_jsonl(out) == EVENTS
    assert out.read_bytes() == trace_file.read_bytes()


def test_malformed_line_exits_1_naming_file_and_line(
    trace_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with trace_file.open("a", encoding="utf-8") as file:
        file.write('{"trace_id": 4, "oops"\n')
    assert main(["trace", str(trace_file)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"bluetrio trace: {trace_file}, line 4: not JSON")


def test_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.jsonl"
    assert main(["trace", str(missing)]) == 1
    assert f"{missing}: cannot read it" in capsys.readouterr().err


def test_unwritable_output_exits_1(
    trace_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no-such-dir" / "out.json"
    assert main(["trace", str(trace_file), "-o", str(out)]) == 1
    assert f"cannot write {out}" in capsys.readouterr().err


def test_unknown_format_is_a_usage_error(trace_file: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["trace", str(trace_file), "--format", "svg"])
    assert info.value.code == 2
