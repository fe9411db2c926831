"""A client's queue of prepared writes (Core 5.4 Vol 3 Part F 3.4.6).

Prepare Write Requests queue parts of values; Execute Write writes them all or cancels them.
The queue is bounded (:data:`PREPARE_QUEUE_LIMIT` parts per client, so at most that many
times 512 octets held for one connection): one more part is Prepare Queue Full (0x09).
Execution first assembles and checks every value (3.4.6.3: an offset past what is there is
Invalid Offset, a value over 512 octets Invalid Attribute Value Length, both found only now),
and only then are they written, so a bad part writes nothing.
"""

from __future__ import annotations

import attrs

from bluetrio.messages.att import AttErrorCode
from bluetrio.messages.gatt_declarations import MAX_ATTRIBUTE_VALUE_LENGTH

# Parts queued per client; a long write of 512 octets over the default MTU needs 29.
PREPARE_QUEUE_LIMIT = 64


@attrs.frozen
class PreparedWrite:
    handle: int
    offset: int
    value: bytes


@attrs.frozen
class AssembledValue:
    """The value one handle gets from the queue's parts."""

    handle: int
    value: bytes


@attrs.frozen
class QueueError:
    """Why the queue cannot be executed: ``error`` for ``handle``."""

    handle: int
    error: AttErrorCode


@attrs.define
class PrepareQueue:
    parts: list[PreparedWrite] = attrs.Factory(list)

    def __len__(self) -> int:
        return len(self.parts)

    def add(self, part: PreparedWrite) -> bool:
        """Queue ``part``; False when the queue is full."""
        if len(self.parts) >= PREPARE_QUEUE_LIMIT:
            return False
        self.parts.append(part)
        return True

    def clear(self) -> None:
        self.parts.clear()

    def handles(self) -> tuple[int, ...]:
        """The handles written, each once, in the order of their first part."""
        return tuple(dict.fromkeys(part.handle for part in self.parts))

    def assemble(self, current: dict[int, bytes]) -> list[AssembledValue] | QueueError:
        """Every handle's new value from ``current`` (its value now) and the parts in order:
        each part replaces the value from its offset on (the long write of Vol 3 Part G
        4.9.4 sends a value from offset 0 in order); an offset past the value is refused."""
        values = dict(current)
        for part in self.parts:
            value = values[part.handle]
            if part.offset > len(value):
                return QueueError(part.handle, AttErrorCode.INVALID_OFFSET)
            value = value[: part.offset] + part.value
            if len(value) > MAX_ATTRIBUTE_VALUE_LENGTH:
                return QueueError(part.handle, AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH)
            values[part.handle] = value
        return [AssembledValue(handle, values[handle]) for handle in self.handles()]
