"""H4 over any byte stream: serial ports, TCP and Unix sockets, pipes (Core 5.4 Vol 4 Part A)."""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import sys
from collections.abc import Iterator, Sequence

import trio

from bluetrio.errors import TransportError
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import FramingLimits, NowaitSend, Packet, Transport
from bluetrio.transports.h4 import H4Framer, H4Role, encode

# A partial packet with no further byte for this long was misframed (0.5 s is some 5,000
# byte times at 115,200 baud, far longer than any gap inside one packet).
STALLED_PACKET_TIME = 0.5
# Bytes asked of the stream per read: several maximal packets, so a busy link needs few reads.
RECEIVE_CHUNK_SIZE = 65536
# Linux only: acknowledge at once instead of delaying the ACK (tcp(7)). A controller that
# waits for our ACK before it answers (Root Canal does) then answers at once.
TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class H4StreamTransport(Transport):
    """Whole HCI packets over a ``trio.abc.Stream`` carrying H4 bytes.

    ``role`` says which end this is: a host parses events, a controller parses commands.
    ``description`` names the link in error messages (e.g. ``"tcp:127.0.0.1:6402"``).
    Several tasks may send at once; each packet goes out whole.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        role: H4Role = H4Role.HOST,
        description: str = "H4 stream",
        framer: H4Framer | None = None,
    ) -> None:
        self._stream = stream
        self._framer = framer if framer is not None else H4Framer(role)
        self.description = description
        self._received: collections.deque[Packet] = collections.deque()
        self._send_lock = trio.Lock()
        self._receive_lock = trio.Lock()
        self._closed = False
        self._peer_gone = False
        self._partial_send = False
        self._unsent = bytearray()  # the rest of a partial send_batch_nowait, sent first
        socket_stream = stream if isinstance(stream, trio.SocketStream) else None
        # Writing to the socket's descriptor from synchronous code (send_batch_nowait):
        # POSIX only, where a socket is a file descriptor.
        self._fd = (
            socket_stream.socket.fileno()
            if socket_stream is not None and sys.platform != "win32"
            else None
        )
        self._quickack = (
            socket_stream is not None
            and TCP_QUICKACK is not None
            and socket_stream.socket.family in (socket.AF_INET, socket.AF_INET6)
        )
        if self._quickack:
            self._arm_quickack()

    @property
    def discarded_bytes(self) -> int:
        """Bytes of received garbage the framer skipped (worth logging when it grows)."""
        return self._framer.discarded_bytes

    def configure_framing(self, limits: FramingLimits) -> None:
        self._framer.configure(limits)

    async def send(self, packet_type: PacketType, payload: bytes) -> None:
        await self._send_bytes(encode(packet_type, payload))

    async def send_batch(self, packets: Sequence[Packet]) -> None:
        # One send_all for the lot: a burst of packets costs one system call.
        await self._send_bytes(b"".join([encode(kind, payload) for kind, payload in packets]))

    def send_batch_nowait(self, packets: Sequence[Packet]) -> NowaitSend:
        if self._fd is None or self._send_lock.locked() or self._unsent:
            return NowaitSend.REFUSED  # (and a send in progress keeps packets in order)
        if self._closed or self._peer_gone or self._partial_send:
            return NowaitSend.REFUSED  # send_batch reports it
        data = b"".join([encode(kind, payload) for kind, payload in packets])
        try:
            written = os.write(self._fd, data)
        except OSError:
            # Full (BlockingIOError) or failed: send_batch waits, or meets and reports the
            # same failure.
            return NowaitSend.REFUSED
        if written == len(data):
            return NowaitSend.WRITTEN
        self._unsent += memoryview(data)[written:]
        return NowaitSend.PARTIAL

    async def _send_bytes(self, data: bytes) -> None:
        async with self._send_lock:
            if self._unsent:
                data = bytes(self._unsent) + data
                self._unsent.clear()
            self._check_sendable()
            try:
                with self._stream_errors():
                    await self._stream.send_all(data)
            except trio.Cancelled:
                # A cancelled send_all may have written part of the packet; anything sent
                # after it would be misframed by the peer (trio.abc.SendStream.send_all).
                self._partial_send = True
                raise

    def _check_sendable(self) -> None:
        self._check_open()
        if self._partial_send:
            raise TransportError(
                f"{self.description}: a cancelled send may have left a partial packet; "
                "close and reopen the transport"
            )

    async def receive(self) -> Packet:
        async with self._receive_lock:
            # Packets already framed are delivered even after the peer went away.
            while not self._received:
                self._check_open()
                await self._frame_more()
            return self._received.popleft()

    async def receive_batch(self) -> list[Packet]:
        lock = self._receive_lock
        try:
            # Nobody else reading (the rule): no schedule point of the lock's own; the read
            # below is one, so a packet costs the reader one task switch, not two.
            lock.acquire_nowait()
        except trio.WouldBlock:
            await lock.acquire()
        try:
            if self._received:
                await trio.lowlevel.checkpoint()  # framed already: no read to wait in
            # One read of up to RECEIVE_CHUNK_SIZE bytes frames every whole packet in it.
            while not self._received:
                self._check_open()
                await self._frame_more()
            packets = list(self._received)
            self._received.clear()
            return packets
        finally:
            lock.release()

    async def _frame_more(self) -> None:
        """Read once and frame what arrived. On the host side, a partial packet that gets no
        more bytes for :data:`STALLED_PACKET_TIME` had a header that was noise (the bytes of
        a real packet arrive together): the framer rescans from the byte after it, so a
        quiet line cannot keep the answer it already holds."""
        framer = self._framer
        if framer.buffered_bytes and framer.expectations is not None:
            with trio.move_on_after(STALLED_PACKET_TIME):
                self._received.extend(framer.feed(await self._receive_some()))
                return
            self._received.extend(framer.resync())
            return
        self._received.extend(framer.feed(await self._receive_some()))

    async def _receive_some(self) -> bytes | bytearray:
        with self._stream_errors():
            data = await self._stream.receive_some(RECEIVE_CHUNK_SIZE)
        if not data:
            self._peer_gone = True
            raise TransportError(f"{self.description} closed by peer")
        if self._quickack:
            self._arm_quickack()  # the kernel leaves quick-ACK mode by itself: re-arm it
        return data

    def _arm_quickack(self) -> None:
        assert isinstance(self._stream, trio.SocketStream) and TCP_QUICKACK is not None
        try:
            self._stream.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
        except OSError:
            self._quickack = False  # not this socket, after all

    @contextlib.contextmanager
    def _stream_errors(self) -> Iterator[None]:
        """Turn the stream's failures into TransportError saying which side ended it."""
        try:
            yield
        except (trio.BrokenResourceError, OSError) as exc:
            # OSError: serial ports and pseudo-terminals report a hang-up as EIO.
            self._peer_gone = True
            raise TransportError(f"{self.description} closed by peer ({exc})") from exc
        except trio.ClosedResourceError as exc:
            raise TransportError(f"{self.description} is closed") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError(f"{self.description} is closed")
        if self._peer_gone:
            raise TransportError(f"{self.description} closed by peer")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._stream.aclose()
