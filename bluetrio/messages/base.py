"""The base of every inter-actor message.

Messages are frozen, slotted attrs classes (``@attrs.frozen``) named after the service primitives
of the specification: ``...Req`` (a layer asks the one below), ``...Cnf`` (the answer),
``...Ind`` (something happened below), ``...Rsp`` (the upper layer's answer to an ``Ind``).

Two optional fields have a meaning to the runtime:

* ``handle`` -- the HCI connection handle the message belongs to. The runtime uses it for
  tracing and for failure containment: an exception while handling a message that has a
  handle tears down that connection only.
* ``cid`` -- an L2CAP channel identifier, shown in traces.
"""

from __future__ import annotations

import attrs

_SUMMARY_LIMIT = 120


@attrs.frozen
class Message:
    """Base class of all messages; gives a short one-line summary for traces."""

    def summary(self) -> str:
        text = repr(self)
        if len(text) > _SUMMARY_LIMIT:
            text = text[: _SUMMARY_LIMIT - 3] + "..."
        return text


def connection_handle_of(message: object) -> int | None:
    """The HCI connection handle a message belongs to, if any."""
    handle = getattr(message, "handle", None)
    return handle if isinstance(handle, int) else None


def channel_id_of(message: object) -> int | None:
    cid = getattr(message, "cid", None)
    return cid if isinstance(cid, int) else None


@attrs.frozen
class Batch(Message):
    """Several messages delivered as one hop; the receiving shell unpacks them in order.

    The data path uses this to amortise the per-hop cost.
    """

    messages: tuple[Message, ...]

    def summary(self) -> str:
        return f"Batch[{len(self.messages)}]"
