"""The application's side of RFCOMM keeps every message of a DLC, even those observed before
the caller of rfcomm_connect resumes with its confirmation and makes the stream (as
``RfcommRegistry.connect`` does, from the DLC's state the registry holds)."""

from __future__ import annotations

from bluetrio.actors.app_port import AppPort
from bluetrio.messages.rfcomm_service import RfcommDataInd, RfcommDisconnectInd
from bluetrio.rfcomm import RfcommRegistry, RfcommStream


def stream_made_after(registry: RfcommRegistry) -> RfcommStream:
    return RfcommStream(registry, registry._dlc(1, 6), 3, 100)


async def test_data_before_the_connect_confirmation_is_kept() -> None:
    # Regression: data observed before connect() made the DLC's state was dropped.
    registry = RfcommRegistry(AppPort())
    registry._on_data(RfcommDataInd(1, 6, b"early"))
    stream = stream_made_after(registry)
    assert list(stream._dlc.received) == [b"early"]


async def test_an_ending_before_the_connect_confirmation_ends_the_stream() -> None:
    registry = RfcommRegistry(AppPort())
    registry._on_disconnected(RfcommDisconnectInd(1, 6, "the peer closed the DLC", orderly=True))
    stream = stream_made_after(registry)
    assert await stream.receive_some() == b""
