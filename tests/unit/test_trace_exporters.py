"""Trace exporters on hand-made events: JSONL round trip, Perfetto, Mermaid, text."""

from __future__ import annotations

import io
import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bluetrio.errors import InvalidArgumentError
from bluetrio.tracing.exporters import (
    TraceFileError,
    load_jsonl,
    mermaid_escape,
    read_jsonl,
    save_jsonl,
    to_mermaid,
    to_perfetto,
    to_text,
    write_jsonl,
)
from bluetrio.tracing.recorder import TraceEvent


def event(
    trace_id: int,
    sender: str,
    receiver: str,
    message_type: str = "Ping",
    *,
    sent_at: float = 100.0,
    received_at: float | None = 100.0,
    handle: int | None = None,
    cid: int | None = None,
    summary: str | None = None,
) -> TraceEvent:
    return TraceEvent(
        trace_id=trace_id,
        sent_at=sent_at,
        sender=sender,
        receiver=receiver,
        message_type=message_type,
        handle=handle,
        cid=cid,
        summary=summary if summary is not None else f"{message_type}()",
        received_at=received_at,
    )


SAMPLE = [
    event(1, "app", "l2cap", "L2caConnectReq", sent_at=10.0, received_at=10.000004, handle=0x40),
    event(2, "l2cap", "hci", "HciAclDataReq", sent_at=10.00001, received_at=10.000012,
          handle=0x40, cid=0x0041, summary="HciAclDataReq(handle=64, data=b'\\x01;#:')"),
    event(3, "hci", "l2cap", "HciAclDataInd", sent_at=10.00002, received_at=None, handle=0x40),
    event(4, "l2cap", "app", "L2caConnectCnf", sent_at=10.00003, received_at=10.00004, cid=0x41),
]  # fmt: skip


def trace_items(trace: dict[str, object]) -> list[dict[str, Any]]:
    items = trace["traceEvents"]
    assert isinstance(items, list)
    return items


# -- JSONL ---------------------------------------------------------------------------------------


def test_jsonl_round_trip_is_lossless() -> None:
    buffer = io.StringIO()
    write_jsonl(SAMPLE, buffer)
    text = buffer.getvalue()
    assert text.count("\n") == len(SAMPLE)
    assert read_jsonl(io.StringIO(text)) == SAMPLE
    assert read_jsonl(io.BytesIO(text.encode())) == SAMPLE


finite_times = st.floats(allow_nan=False, allow_infinity=False)
optional_ids = st.none() | st.integers(min_value=0, max_value=0xFFFF)


@given(
    st.lists(
        st.builds(
            TraceEvent,
            trace_id=st.integers(min_value=1, max_value=2**63),  # ids fit in 64 bits
            sent_at=finite_times,
            sender=st.text(),
            receiver=st.text(),
            message_type=st.text(),
            handle=optional_ids,
            cid=optional_ids,
            summary=st.text(),
            received_at=st.none() | finite_times,
            wire=st.none() | st.text(),
        ).filter(lambda e: e.received_at is None or e.received_at >= e.sent_at),
        max_size=5,
    )
)
def test_jsonl_round_trip_of_any_events(events: list[TraceEvent]) -> None:
    buffer = io.StringIO()
    write_jsonl(events, buffer)
    assert buffer.getvalue().count("\n") == len(events)
    assert read_jsonl(io.StringIO(buffer.getvalue())) == events


def test_save_and_load_a_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    save_jsonl(SAMPLE, path)
    assert load_jsonl(path) == SAMPLE


def test_blank_lines_are_skipped_and_whole_number_times_become_floats() -> None:
    record = SAMPLE[0].to_json() | {"sent_at": 3, "received_at": 4}
    loaded = read_jsonl(["\n", json.dumps(record) + "\n", "   \n"])
    assert loaded == [event(1, "app", "l2cap", "L2caConnectReq", sent_at=3.0, received_at=4.0,
                            handle=0x40)]  # fmt: skip
    assert isinstance(loaded[0].sent_at, float)


GOOD_LINE = json.dumps(SAMPLE[0].to_json())


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object, found list"),
        (json.dumps(SAMPLE[0].to_json() | {"colour": "red"}), "unknown field(s) colour"),
        (
            json.dumps({k: v for k, v in SAMPLE[0].to_json().items() if k[0] not in "rm"}),
            "missing field(s) message_type, receiver",
        ),
        (json.dumps(SAMPLE[0].to_json() | {"handle": "0x40"}), "field 'handle' should be int"),
        (json.dumps(SAMPLE[0].to_json() | {"trace_id": True}), "cannot be a boolean"),
        (json.dumps(SAMPLE[0].to_json() | {"sender": None}), "field 'sender' should be str"),
        (json.dumps(SAMPLE[0].to_json() | {"sent_at": None}), "'sent_at' should be float"),
    ],
)
def test_malformed_line_names_source_and_line(bad_line: str, reason: str) -> None:
    with pytest.raises(TraceFileError) as info:
        read_jsonl([GOOD_LINE, "", bad_line], source="stack.jsonl")
    assert info.value.line == 3
    assert str(info.value).startswith("stack.jsonl, line 3: ")
    assert reason in str(info.value)
    assert isinstance(info.value, InvalidArgumentError)


def test_bad_utf8_is_reported_with_its_line() -> None:
    lines = [GOOD_LINE.encode() + b"\n", b'{"sender": "\xff"}\n']
    with pytest.raises(TraceFileError, match=r"^t\.jsonl, line 2: not UTF-8"):
        read_jsonl(lines, source="t.jsonl")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.jsonl"
    with pytest.raises(TraceFileError, match=r"absent\.jsonl: cannot read it") as info:
        load_jsonl(path)
    assert info.value.line is None


# -- Perfetto ------------------------------------------------------------------------------------


def test_perfetto_structure() -> None:
    trace = json.loads(json.dumps(to_perfetto(SAMPLE)))
    items = trace_items(trace)
    assert all({"pid", "tid", "ts", "ph", "name"} <= item.keys() for item in items)
    names = {
        item["args"]["name"]: item["tid"]
        for item in items
        if item["ph"] == "M" and item["name"] == "thread_name"
    }
    assert list(names) == ["app", "l2cap", "hci"]  # first-appearance order
    assert len(set(names.values())) == 3

    starts = {item["id"]: item for item in items if item["ph"] == "s"}
    finishes = {item["id"]: item for item in items if item["ph"] == "f"}
    # Message 3 was never received: no arrow.
    assert sorted(starts) == sorted(finishes) == [1, 2, 4]
    for flow_id, start in starts.items():
        finish = finishes[flow_id]
        assert finish["bp"] == "e"
        assert (start["cat"], start["name"]) == (finish["cat"], finish["name"])
        assert start["ts"] <= finish["ts"]
        source = SAMPLE[flow_id - 1]
        assert start["tid"] == names[source.sender]
        assert finish["tid"] == names[source.receiver]

    slices = [item for item in items if item["ph"] == "X"]
    assert len(slices) == 2 * len(SAMPLE) - 1  # a send and a receive slice per delivered message
    first_receive = next(s for s in slices if s["name"] == "L2caConnectReq")
    assert first_receive["ts"] == pytest.approx(4.0)  # microseconds after the first send
    data = next(s for s in slices if s["name"] == "HciAclDataReq")
    assert data["args"]["handle"] == 0x40
    assert data["args"]["cid"] == 0x41
    assert data["args"]["summary"] == SAMPLE[1].summary
    lost = [s for s in slices if "never received" in s["name"]]
    assert [s["args"]["trace_id"] for s in lost] == [3]


def test_perfetto_keeps_slices_apart_when_times_are_identical() -> None:
    # Under MockClock every message is sent and received at the same instant.
    same_time = [event(i, "a", "b" if i % 2 else "c", sent_at=5.0, received_at=5.0)
                 for i in range(1, 7)]  # fmt: skip
    items = trace_items(to_perfetto(same_time))
    by_thread: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)
    for item in items:
        if item["ph"] == "X":
            by_thread[item["tid"]].append((item["ts"], item["ts"] + item["dur"]))
    for spans in by_thread.values():
        spans.sort()
        assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    starts = {item["id"]: item["ts"] for item in items if item["ph"] == "s"}
    finishes = {item["id"]: item["ts"] for item in items if item["ph"] == "f"}
    assert all(starts[i] <= finishes[i] for i in starts)


def test_perfetto_of_nothing_is_a_valid_trace() -> None:
    trace = to_perfetto([])
    assert [item["ph"] for item in trace_items(trace)] == ["M"]


# -- Mermaid -------------------------------------------------------------------------------------


def test_mermaid_sequence_diagram() -> None:
    text = to_mermaid(SAMPLE)
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert lines[1:4] == ["    participant app", "    participant l2cap", "    participant hci"]
    arrows = [line for line in lines if "->>" in line or "-x" in line]
    assert len(arrows) == len(SAMPLE)
    assert arrows[0] == "    app->>l2cap: L2caConnectReq handle=0x0040"
    assert arrows[1] == "    l2cap->>hci: HciAclDataReq handle=0x0040 cid=0x0041"
    assert arrows[2] == "    hci-xl2cap: HciAclDataInd handle=0x0040"  # never received
    assert arrows[3] == "    l2cap->>app: L2caConnectCnf cid=0x0041"


def test_mermaid_limit_adds_a_note() -> None:
    lines = to_mermaid(SAMPLE, limit=2).splitlines()
    assert sum("->>" in line for line in lines) == 2
    assert "participant app" in lines[1] and "participant hci" in lines[3]
    assert lines[-1] == "    Note over app,hci: 2 more messages not shown"
    with pytest.raises(InvalidArgumentError):
        to_mermaid(SAMPLE, limit=-1)


def test_mermaid_escapes_labels_and_aliases_odd_names() -> None:
    assert mermaid_escape("a;b#c:d<e>") == "a#59;b#35;c#58;d#60;e#62;"
    odd = [event(1, "end", "rf:comm", "Data;Req#1", handle=1)]
    lines = to_mermaid(odd).splitlines()
    assert lines[1:3] == ["    participant actor1 as end", "    participant actor2 as rf#58;comm"]
    assert lines[3] == "    actor1->>actor2: Data#59;Req#35;1 handle=0x0001"


# -- text ----------------------------------------------------------------------------------------


def test_text_is_one_aligned_line_per_message() -> None:
    lines = to_text(SAMPLE).splitlines()
    assert len(lines) == len(SAMPLE)
    assert lines[0].split()[:5] == ["0.000000", "app", "->", "l2cap", "L2caConnectReq"]
    assert "+4.0us" in lines[0]
    assert "lost" in lines[2]
    assert lines[1].endswith(SAMPLE[1].summary)
    arrow_columns = {line.index(" -> ") for line in lines}
    assert len(arrow_columns) == 1
    assert to_text([]) == ""
