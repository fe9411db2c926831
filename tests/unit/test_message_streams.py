"""What the application's channels share (bluetrio.message_streams), apart from any layer:
the endpoint's ending, one task at a time, the send window's wait, the listener's backlog."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from bluetrio.message_streams import Endpoint, MessageListener, MessageStream, OneTaskAtATime


class _Stream(MessageStream[Endpoint]):
    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self.closes = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with self._one_sender:
            await self._wait_for_room(lambda: self._endpoint.unconfirmed < 1)
            self._endpoint.unconfirmed += 1

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def send_eof(self) -> None:
        await self.aclose()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        with self._one_receiver:
            if not self._partial:
                self._partial = self._endpoint.received.popleft()
            await trio.lowlevel.checkpoint()
            return self._take_partial(max_bytes)

    async def _close_channel(self) -> None:
        self.closes += 1
        await trio.lowlevel.checkpoint()


class _Listener(MessageListener[_Stream]):
    def __init__(self) -> None:
        super().__init__()
        self.stopped = 0

    async def _stop_listening(self) -> None:
        self.stopped += 1
        await trio.lowlevel.checkpoint()


def test_an_endpoint_keeps_its_first_ending() -> None:
    endpoint = Endpoint(1)
    endpoint.end("the link was lost", broken=True)
    endpoint.end("the peer closed it", broken=False)
    assert (endpoint.ended, endpoint.broken) == ("the link was lost", True)


def test_one_task_at_a_time() -> None:
    guard = OneTaskAtATime("busy")
    with guard, pytest.raises(trio.BusyResourceError, match="busy"), guard:
        pass
    with guard:  # free again
        pass


async def test_a_sender_waits_for_room_and_breaks_when_the_channel_ends() -> None:
    endpoint = Endpoint(1)
    stream = _Stream(endpoint)
    await stream.send_all(b"a")
    raised: list[BaseException] = []

    async def send_more() -> None:
        try:
            await stream.send_all(b"b")  # waits: the window holds one
        except trio.BrokenResourceError as error:
            raised.append(error)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_more)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError, match="sending on this stream"):
            await stream.send_all(b"c")
        endpoint.end("the link was lost", broken=True)
    assert [str(error) for error in raised] == ["the link was lost"]


async def test_a_partial_read_keeps_the_rest_and_close_happens_once() -> None:
    endpoint = Endpoint(1)
    endpoint.received.append(b"abcdef")
    stream = _Stream(endpoint)
    assert await stream.receive_some(4) == b"abcd"
    assert await stream.receive_some() == b"ef"
    await stream.aclose()
    await stream.aclose()
    assert stream.closes == 1
    with pytest.raises(trio.ClosedResourceError, match="this stream was closed"):
        await stream.send_all(b"x")


async def test_a_listener_hands_out_its_backlog_then_closes_what_was_not_accepted() -> None:
    listener = _Listener()
    first, second = _Stream(Endpoint(1)), _Stream(Endpoint(2))
    listener._arrived(first)
    listener._arrived(second)
    assert await listener.accept() is first
    await listener.aclose()
    await listener.aclose()
    assert (listener.stopped, second.closes, first.closes) == (1, 1, 0)
    with pytest.raises(trio.ClosedResourceError):
        await listener.accept()
