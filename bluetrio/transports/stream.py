"""H4 over any byte stream: serial ports, TCP and Unix sockets, pipes (Core 5.4 Vol 4 Part A)."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator, Sequence

import trio

from bluetrio.errors import TransportError
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import FramingLimits, Packet, Transport
from bluetrio.transports.h4 import H4Framer, H4Role, encode

# Bytes asked of the stream per read: several maximal packets, so a busy link needs few reads.
RECEIVE_CHUNK_SIZE = 65536


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

    async def _send_bytes(self, data: bytes) -> None:
        async with self._send_lock:
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
                self._received.extend(self._framer.feed(await self._receive_some()))
            return self._received.popleft()

    async def receive_batch(self) -> list[Packet]:
        async with self._receive_lock:
            # One read of up to RECEIVE_CHUNK_SIZE bytes frames every whole packet in it.
            while not self._received:
                self._check_open()
                self._received.extend(self._framer.feed(await self._receive_some()))
            packets = list(self._received)
            self._received.clear()
            return packets

    async def _receive_some(self) -> bytes | bytearray:
        with self._stream_errors():
            data = await self._stream.receive_some(RECEIVE_CHUNK_SIZE)
        if not data:
            self._peer_gone = True
            raise TransportError(f"{self.description} closed by peer")
        return data

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
