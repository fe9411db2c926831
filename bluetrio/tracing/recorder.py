"""Recording of inter-actor messages, so a run can be read afterwards as a sequence chart.

The runtime calls :meth:`TraceRecorder.record_send` for every message when a recorder is
attached, and the receiving actor calls :meth:`TraceRecorder.record_receive` when it takes the
message out of its inbox. Both are cheap appends; formatting happens at export time.
With no recorder attached the runtime does not call into this module at all.
"""

from __future__ import annotations

import logging
from pathlib import Path

import attrs

from bluetrio.messages.base import Message, channel_id_of, connection_handle_of
from bluetrio.tracing.wire_names import wire_name_of

logger = logging.getLogger(__name__)


@attrs.frozen
class TraceEvent:
    """One message, as seen at send time (and, once delivered, at receive time)."""

    trace_id: int
    sent_at: float
    sender: str
    receiver: str
    message_type: str
    handle: int | None
    cid: int | None
    summary: str
    received_at: float | None = None
    # The spec's name of the HCI packet the message carries (HCI_Reset...), if it carries one.
    wire: str | None = None

    def to_json(self) -> dict[str, object]:
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> TraceEvent:
        return cls(**data)  # type: ignore[arg-type]


class TraceRecorder:
    """Collects :class:`TraceEvent`s in memory; exporters turn them into files."""

    def __init__(self, limit: int | None = None) -> None:
        self._pending: dict[int, tuple[float, str, str, Message]] = {}
        self._received: dict[int, float] = {}
        self._next_id = 1
        self.limit = limit
        # Messages not recorded because the limit was reached: reported, never hidden.
        self.unrecorded = 0

    def record_send(self, now: float, sender: str, receiver: str, message: Message) -> int:
        trace_id = self._next_id
        if self.limit is not None and trace_id > self.limit:
            if self.unrecorded == 0:
                logger.warning(
                    "trace limit of %d messages reached; later ones not recorded", self.limit
                )
            self.unrecorded += 1
            return 0
        self._next_id = trace_id + 1
        self._pending[trace_id] = (now, sender, receiver, message)
        return trace_id

    def record_receive(self, now: float, trace_id: int) -> None:
        if trace_id:
            self._received[trace_id] = now

    def events(self) -> list[TraceEvent]:
        """Every recorded message in send order."""
        out = []
        for trace_id, (sent_at, sender, receiver, message) in self._pending.items():
            out.append(
                TraceEvent(
                    trace_id=trace_id,
                    sent_at=sent_at,
                    sender=sender,
                    receiver=receiver,
                    message_type=type(message).__name__,
                    handle=connection_handle_of(message),
                    cid=channel_id_of(message),
                    summary=message.summary(),
                    received_at=self._received.get(trace_id),
                    wire=wire_name_of(message),
                )
            )
        return out

    def __len__(self) -> int:
        return len(self._pending)

    def save(self, path: str | Path) -> None:
        """Write every recorded message to ``path`` as JSON Lines (``bluetrio trace`` reads it)."""
        # Imported here because the exporters module imports TraceEvent from this one.
        from bluetrio.tracing.exporters import save_jsonl

        save_jsonl(self.events(), path)
