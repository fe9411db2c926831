"""Turning recorded :class:`TraceEvent`s into files people and tools can read.

* JSON Lines (:func:`write_jsonl` / :func:`read_jsonl`): the storage format, one event per
  line, lossless; ``bluetrio trace`` converts it into the others.
* Chrome/Perfetto trace-event JSON (:func:`to_perfetto`): one track per actor, a short slice
  where a message leaves its sender and where its receiver takes it, a flow arrow between them.
  Opens in https://ui.perfetto.dev and ``chrome://tracing``.
* Mermaid (:func:`to_mermaid`): a ``sequenceDiagram`` that reads like the spec's sequence
  charts; paste it into a Markdown file or https://mermaid.live.
* Plain text (:func:`to_text`): one aligned line per message.

Times in the exported files are relative to the first message sent, because the runtime's
clock (``trio.current_time()``) has an arbitrary origin.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from bluetrio import strict_json
from bluetrio.errors import InvalidArgumentError, TraceFileError
from bluetrio.tracing.recorder import TraceEvent

# -- JSON Lines --------------------------------------------------------------------------------


def write_jsonl(events: Iterable[TraceEvent], file: TextIO) -> None:
    """Write one JSON object per event, one per line."""
    for event in events:
        file.write(json.dumps(event.to_json(), ensure_ascii=False))
        file.write("\n")


def save_jsonl(events: Iterable[TraceEvent], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as file:
        write_jsonl(events, file)


def read_jsonl(lines: Iterable[str | bytes], source: str = "<trace>") -> list[TraceEvent]:
    """Parse what :func:`write_jsonl` wrote; blank lines are skipped.

    ``lines`` may be a text file, a binary file (each line is decoded as UTF-8 on its own, so
    a bad byte is reported with its line number) or any iterable of lines. Anything that is
    not exactly a :class:`TraceEvent` raises :class:`TraceFileError` naming ``source`` and
    the line.
    """
    events = []
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            raise TraceFileError(source, number, f"not UTF-8 text ({exc.reason})") from None
        if not text.strip():
            continue
        try:
            record = strict_json.loads(text)
        except json.JSONDecodeError as exc:
            raise TraceFileError(source, number, f"not JSON ({exc.msg})") from None
        except ValueError as exc:  # NaN, integers too long, repeated keys, nesting too deep
            raise TraceFileError(source, number, f"not a trace record ({exc})") from None
        try:
            events.append(_event_from_record(record))
        except ValueError as exc:
            raise TraceFileError(source, number, str(exc)) from None
    return events


def load_jsonl(path: str | Path) -> list[TraceEvent]:
    """Read a trace file written by :meth:`TraceRecorder.save` or :func:`save_jsonl`."""
    try:
        with open(path, "rb") as file:
            return read_jsonl(file, str(path))
    except OSError as exc:
        raise TraceFileError(str(path), None, f"cannot read it ({exc.strerror})") from None


def _field_types() -> dict[str, tuple[type, ...]]:
    """The JSON types each TraceEvent field accepts, read from its annotations."""
    accepted = {}
    for name, hint in typing.get_type_hints(TraceEvent).items():
        members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        accepted[name] = tuple(member for member in members if isinstance(member, type))
    return accepted


_FIELD_TYPES = _field_types()
_REQUIRED_FIELDS = frozenset(
    field.name for field in attrs.fields(TraceEvent) if field.default is attrs.NOTHING
)


def _event_from_record(record: object) -> TraceEvent:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, found {type(record).__name__}")
    unknown = sorted(set(record) - set(_FIELD_TYPES))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}")
    missing = sorted(_REQUIRED_FIELDS - set(record))
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    values: dict[str, Any] = {}
    for name, value in record.items():
        values[name] = _checked_value(name, value, _FIELD_TYPES[name])
    received_at = values.get("received_at")
    if received_at is not None and received_at < values["sent_at"]:
        raise ValueError(f"received_at {received_at} is before sent_at {values['sent_at']}")
    return TraceEvent(**values)


def _checked_value(name: str, value: object, accepted: tuple[type, ...]) -> object:
    # bool is an int in Python but never a valid id, handle or time here.
    if isinstance(value, bool):
        raise ValueError(f"field {name!r} cannot be a boolean")
    if value is None and type(None) in accepted:
        return None
    if float in accepted and isinstance(value, int | float):
        return float(value)
    if isinstance(value, accepted):
        return value
    names = " or ".join("null" if kind is type(None) else kind.__name__ for kind in accepted)
    raise ValueError(f"field {name!r} should be {names}, found {json.dumps(value)}")


# -- shared helpers ----------------------------------------------------------------------------


def trace_origin(events: Sequence[TraceEvent]) -> float:
    """The time everything is shown relative to: the first send."""
    return min((event.sent_at for event in events), default=0.0)


def connection_label(event: TraceEvent) -> str:
    """``handle=0x0040 cid=0x0041``, or the part of it the message has."""
    parts = []
    if event.handle is not None:
        parts.append(f"handle=0x{event.handle:04X}")
    if event.cid is not None:
        parts.append(f"cid=0x{event.cid:04X}")
    return " ".join(parts)


def actors_in_order(events: Iterable[TraceEvent]) -> list[str]:
    """Every sender and receiver, in the order they first appear."""
    seen: dict[str, None] = {}
    for event in events:
        seen.setdefault(event.sender)
        seen.setdefault(event.receiver)
    return list(seen)


# -- Perfetto / Chrome trace-event JSON --------------------------------------------------------

PERFETTO_PID = 1
# Slices are this long (µs) so that a flow arrow has a slice to bind to at each end; slices
# of one actor are pushed later when they would overlap (identical times are common under
# MockClock), which keeps every arrow pointing forward in time.
SLICE_MICROSECONDS = 1.0
_FLOW_CATEGORY = "message"


def to_perfetto(events: Sequence[TraceEvent]) -> dict[str, object]:
    """Chrome trace-event JSON (a dict ready for :func:`json.dump`)."""
    origin = trace_origin(events)
    actors = actors_in_order(events)
    thread_of = {name: index for index, name in enumerate(actors, start=1)}
    trace_events: list[dict[str, object]] = [
        {
            "ph": "M",
            "name": "process_name",
            "pid": PERFETTO_PID,
            "tid": 0,
            "ts": 0,
            "args": {"name": "bluetrio"},
        }
    ]
    for name, tid in thread_of.items():
        for metadata, value in (("thread_name", name), ("thread_sort_index", tid)):
            trace_events.append(
                {
                    "ph": "M",
                    "name": metadata,
                    "pid": PERFETTO_PID,
                    "tid": tid,
                    "ts": 0,
                    "args": {"name": value} if metadata == "thread_name" else {"sort_index": value},
                }
            )

    # Each message has a send point and, if delivered, a receive point. Place them in time
    # order (a send before a receive at the same instant) so each actor's slices stay apart.
    points: list[tuple[float, int, int]] = []  # (time, 0 = send / 1 = receive, event index)
    for index, event in enumerate(events):
        points.append((event.sent_at, 0, index))
        if event.received_at is not None:
            # Never before its send, so every flow arrow has a start (a clock that went
            # backwards would otherwise put the receive first).
            points.append((max(event.received_at, event.sent_at), 1, index))
    points.sort()
    free_from: dict[int, float] = {}
    send_ts: dict[int, float] = {}
    for at, is_receive, index in points:
        event = events[index]
        tid = thread_of[event.receiver if is_receive else event.sender]
        ts = max((at - origin) * 1e6, free_from.get(tid, 0.0))
        if is_receive:
            ts = max(ts, send_ts[index])
        else:
            send_ts[index] = ts
        free_from[tid] = ts + SLICE_MICROSECONDS
        trace_events.extend(_perfetto_point(event, tid, ts, bool(is_receive)))
    return {"traceEvents": trace_events, "displayTimeUnit": "ns"}


def _perfetto_point(
    event: TraceEvent, tid: int, ts: float, is_receive: bool
) -> list[dict[str, object]]:
    args: dict[str, object] = {
        "trace_id": event.trace_id,
        "from": event.sender,
        "to": event.receiver,
        "summary": event.summary,
    }
    if event.handle is not None:
        args["handle"] = event.handle
    if event.cid is not None:
        args["cid"] = event.cid
    if event.wire is not None:
        args["message_type"] = event.message_type
    delivered = event.received_at is not None
    # The spec's name of the HCI packet carried, when there is one (HCI_Reset...).
    kind = event.wire or event.message_type
    if is_receive:
        name = kind
    elif delivered:
        name = f"{kind} → {event.receiver}"
    else:
        name = f"{kind} → {event.receiver} (never received)"
    base = {"pid": PERFETTO_PID, "tid": tid, "ts": ts}
    out: list[dict[str, object]] = [
        {
            **base,
            "ph": "X",
            "dur": SLICE_MICROSECONDS,
            "name": name,
            "cat": _FLOW_CATEGORY,
            "args": args,
        }
    ]
    if delivered:
        flow = {**base, "name": event.message_type, "cat": _FLOW_CATEGORY, "id": event.trace_id}
        out.append({**flow, "ph": "f", "bp": "e"} if is_receive else {**flow, "ph": "s"})
    return out


# -- Mermaid -----------------------------------------------------------------------------------

DEFAULT_MERMAID_LIMIT = 500

# Mermaid entity codes (decimal) for characters that end a statement (; and newline), start an
# entity (#), separate the message text (:), or are read as HTML (< > &).
_MERMAID_ESCAPES = str.maketrans(
    {char: f"#{ord(char)};" for char in ";#:<>&"} | {"\n": " ", "\r": " "}
)
_PLAIN_PARTICIPANT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words Mermaid's sequence-diagram grammar reserves; an actor with such a name gets an alias.
# fmt: off
_MERMAID_KEYWORDS = frozenset({
    "end", "participant", "actor", "as", "loop", "alt", "else", "opt", "par", "and", "rect",
    "note", "over", "critical", "break", "box", "activate", "deactivate", "autonumber", "title",
    "link", "links", "create", "destroy",
})
# fmt: on


def mermaid_escape(text: str) -> str:
    return text.translate(_MERMAID_ESCAPES)


CONTROLLER = "controller"
HCI_ACTOR = "hci"
# The HCI actor's own record of a packet read from the transport: drawn as the controller
# sending that packet, not as an arrow from hci to itself.
_FROM_CONTROLLER = "TransportPacketInd"
_TO_HCI = "HciCommandReq"


def _label(event: TraceEvent) -> str:
    return " ".join(filter(None, (event.wire or event.message_type, connection_label(event))))


def _mermaid_arrows(event: TraceEvent) -> list[tuple[str, str, str, bool]]:
    """(sender, receiver, label, delivered) of the arrows that draw ``event``."""
    delivered = event.received_at is not None
    if event.message_type == _FROM_CONTROLLER and event.sender == event.receiver:
        return [(CONTROLLER, event.receiver, _label(event), True)]
    arrows = [(event.sender, event.receiver, _label(event), delivered)]
    if event.message_type == _TO_HCI and event.receiver == HCI_ACTOR and delivered:
        # The HCI actor sends the command on to the controller (once it has credits).
        arrows.append((HCI_ACTOR, CONTROLLER, _label(event), True))
    return arrows


def to_mermaid(events: Sequence[TraceEvent], limit: int = DEFAULT_MERMAID_LIMIT) -> str:
    """A ``sequenceDiagram`` of the first ``limit`` messages, like a spec sequence chart.

    Messages carrying HCI packets are labelled with the spec's names (``HCI_Reset``,
    ``HCI_Command_Complete (HCI_Reset)``), and the controller is a participant: a command
    the HCI actor takes is drawn on to the controller, a packet it reads from the transport
    as coming from the controller. A message that was never received gets a crossed arrow
    (``-x``).
    """
    if limit < 0:
        raise InvalidArgumentError(f"the Mermaid limit cannot be negative (got {limit})")
    shown = events[:limit]
    arrows = [arrow for event in shown for arrow in _mermaid_arrows(event)]
    participants: dict[str, None] = {}
    for sender, receiver, _, _ in arrows:
        participants.setdefault(sender)
        participants.setdefault(receiver)
    if CONTROLLER in participants:  # at the right edge, below the host, as in the spec
        participants.pop(CONTROLLER)
        participants[CONTROLLER] = None
    lines = ["sequenceDiagram"]
    ids: dict[str, str] = {}
    for number, name in enumerate(participants, start=1):
        if _PLAIN_PARTICIPANT.fullmatch(name) and name.lower() not in _MERMAID_KEYWORDS:
            ids[name] = name
            lines.append(f"    participant {name}")
        else:
            ids[name] = f"actor{number}"
            lines.append(f"    participant actor{number} as {mermaid_escape(name)}")
    for sender, receiver, label, delivered in arrows:
        arrow = "->>" if delivered else "-x"
        lines.append(f"    {ids[sender]}{arrow}{ids[receiver]}: {mermaid_escape(label)}")
    hidden = len(events) - len(shown)
    if hidden and ids:
        names = list(ids.values())
        span = ",".join(dict.fromkeys((names[0], names[-1])))
        plural = "" if hidden == 1 else "s"
        lines.append(f"    Note over {span}: {hidden} more message{plural} not shown")
    return "\n".join(lines) + "\n"


# -- plain text --------------------------------------------------------------------------------


def to_text(events: Sequence[TraceEvent]) -> str:
    """One line per message: time (s), route, type, connection, latency (µs), summary."""
    origin = trace_origin(events)
    rows = []
    for event in events:
        if event.received_at is None:
            latency = "lost"
        else:
            latency = f"+{(event.received_at - event.sent_at) * 1e6:.1f}us"
        rows.append(
            (
                f"{event.sent_at - origin:.6f}",
                event.sender,
                event.receiver,
                event.message_type,
                connection_label(event),
                latency,
                event.summary,
            )
        )
    if not rows:
        return ""
    widths = [max(len(row[column]) for row in rows) for column in range(6)]
    lines = []
    for time, sender, receiver, kind, connection, latency, summary in rows:
        line = (
            f"{time:>{widths[0]}}  {sender:>{widths[1]}} -> {receiver:<{widths[2]}}  "
            f"{kind:<{widths[3]}}  {connection:<{widths[4]}}  {latency:>{widths[5]}}  {summary}"
        )
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"
