"""The application's side of RFCOMM keeps every message of a DLC, even those observed before
the caller of rfcomm_connect resumes with its confirmation and makes the stream (as
``RfcommRegistry.connect`` does, from the DLC's state the registry holds)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from bluetrio.actors.app_port import AppPort
from bluetrio.messages.base import Message
from bluetrio.messages.rfcomm_service import (
    READ_REPORT_BATCH,
    RfcommDataCnf,
    RfcommDataInd,
    RfcommDataReq,
    RfcommDataRsp,
    RfcommDisconnectInd,
)
from bluetrio.rfcomm import SEND_WINDOW, RfcommRegistry, RfcommStream


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


def recording(registry: RfcommRegistry) -> list[Message]:
    sent: list[Message] = []
    registry.send_many = sent.extend  # type: ignore[method-assign]
    return sent


async def test_reads_are_reported_to_the_layer_in_batches() -> None:
    registry = RfcommRegistry(AppPort())
    sent = recording(registry)
    stream = stream_made_after(registry)
    for _ in range(2 * READ_REPORT_BATCH + 3):
        registry._on_data(RfcommDataInd(1, 6, b"d"))
    for _ in range(2 * READ_REPORT_BATCH + 3):
        assert await stream.receive_some(1) == b"d"
    assert sent == [RfcommDataRsp(1, 6, READ_REPORT_BATCH)] * 2


async def test_a_read_takes_every_frame_waiting_that_fits() -> None:
    registry = RfcommRegistry(AppPort())
    sent = recording(registry)
    stream = stream_made_after(registry)
    for data in (b"ab", b"cd", b"ef"):
        registry._on_data(RfcommDataInd(1, 6, data))
    assert await stream.receive_some(5) == b"abcd"  # "ef" does not fit whole: it waits
    assert await stream.receive_some() == b"ef"
    for _ in range(READ_REPORT_BATCH):
        registry._on_data(RfcommDataInd(1, 6, b"x"))
    assert await stream.receive_some() == b"x" * READ_REPORT_BATCH
    # Three frames, then eight in one read: eleven reported at once.
    assert sent == [RfcommDataRsp(1, 6, READ_REPORT_BATCH + 3)]


async def test_send_all_hands_what_the_window_takes_to_the_layer_in_one_request() -> None:
    registry = RfcommRegistry(AppPort())
    sent = recording(registry)
    stream = stream_made_after(registry)  # frame size 100
    await stream.send_all(bytes(250))
    assert sent == [RfcommDataReq(1, 6, bytes(250))]
    assert stream._dlc.unconfirmed == 3  # frames
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream.send_all, bytes(100 * SEND_WINDOW))
        await trio.testing.wait_all_tasks_blocked()
        assert [len(request.data) for request in sent[1:]] == [100 * (SEND_WINDOW - 3)]
        assert stream._dlc.unconfirmed == SEND_WINDOW
        registry._on_data_confirmed(RfcommDataCnf(1, 6, 3))
    assert [len(request.data) for request in sent[1:]] == [100 * (SEND_WINDOW - 3), 300]


async def test_a_new_dlc_on_the_dlci_of_one_ended_under_an_open_stream_starts_afresh() -> None:
    # Regression: the stream of a DLC the peer had closed, not yet closed by the application,
    # left its ended state under the DLCI, so the next DLC there was born ended.
    registry = RfcommRegistry(AppPort())
    earlier = stream_made_after(registry)
    registry._on_disconnected(RfcommDisconnectInd(1, 6, "the peer closed the DLC", orderly=True))
    registry._on_data(RfcommDataInd(1, 6, b"the next DLC's"))
    later = stream_made_after(registry)
    assert await later.receive_some() == b"the next DLC's"
    assert await earlier.receive_some() == b""


async def test_frames_lost_as_the_peer_closes_fail_the_sender_and_end_the_reader() -> None:
    # Regression: the layer reports the frames it could not send just before an orderly
    # DISC from the peer; the DLC ended broken with that error, so the reader saw the
    # connection lost instead of the end of the data (the chat then said "lost").
    registry = RfcommRegistry(AppPort())
    stream = stream_made_after(registry)
    registry._on_data(RfcommDataInd(1, 6, b"last words"))
    error = "3 frame(s) not sent: the peer closed the DLC"
    registry._on_data_confirmed(RfcommDataCnf(1, 6, 0, error))
    registry._on_disconnected(RfcommDisconnectInd(1, 6, "the peer closed the DLC", orderly=True))
    assert await stream.receive_some() == b"last words"
    assert await stream.receive_some() == b""
    with pytest.raises(trio.BrokenResourceError, match="data was not sent: 3 frame"):
        await stream.send_all(b"more")


async def test_frames_lost_then_a_broken_end_break_the_reader_too() -> None:
    registry = RfcommRegistry(AppPort())
    stream = stream_made_after(registry)
    registry._on_data_confirmed(RfcommDataCnf(1, 6, 0, "2 frame(s) not sent: link lost"))
    assert stream._dlc.broken
    registry._on_disconnected(RfcommDisconnectInd(1, 6, "link lost", orderly=False))
    with pytest.raises(trio.BrokenResourceError, match="data was not sent"):
        await stream.receive_some()


async def test_the_close_after_lost_frames_leaves_no_ended_state_for_the_next_dlc() -> None:
    # Regression: the indication after the error made a fresh, ended state for the DLCI,
    # which a new DLC on it would have started from.
    registry = RfcommRegistry(AppPort())
    stream_made_after(registry)
    registry._on_data_confirmed(RfcommDataCnf(1, 6, 0, "1 frame(s) not sent: closed"))
    registry._on_disconnected(RfcommDisconnectInd(1, 6, "the peer closed the DLC", orderly=True))
    following = stream_made_after(registry)
    assert following._dlc.ended is None
