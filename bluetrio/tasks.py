"""Task helpers shared by the places that run background tasks around a body of user code."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import trio


@contextlib.asynccontextmanager
async def open_service_nursery() -> AsyncIterator[trio.Nursery]:
    """A nursery for the tasks that serve the body (a transport's readers, a virtual
    controller): what the body raises, or Ctrl-C, leaves the block as it is instead of inside
    an exception group, so the caller catches the error it knows. The body must make the
    tasks end (close what they serve, or cancel the nursery) as it leaves."""
    body_error: Exception | KeyboardInterrupt | None = None
    async with trio.open_nursery() as nursery:
        try:
            yield nursery
        except (Exception, KeyboardInterrupt) as error:
            body_error = error
    if body_error is not None:
        raise body_error
