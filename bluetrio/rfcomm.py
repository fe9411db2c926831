"""RFCOMM DLCs as Trio streams: the application's side of the RFCOMM layer.

    stream = await stack.rfcomm_connect(address, channel=3)
    await stream.send_all(b"hello")
    reply = await stream.receive_some()
    await stream.aclose()

    async with stack.rfcomm_listen(channel=3) as listener:
        await trio.serve_listeners(handler, [listener])

An :class:`RfcommStream` is a :class:`trio.abc.HalfCloseableStream` of bytes over one DLC.
Flow: at most :data:`SEND_WINDOW` frames are handed to the stack and not yet taken by the
controller; ``send_all`` waits beyond that, and the RFCOMM layer sends as the peer's credits
allow (RFCOMM 1.2 6.5). What is received waits here until read; each frame read gives its
credit back to the peer, so the peer never sends more than the receive window the layer
granted.

Endings: after :meth:`RfcommStream.aclose` every call raises :class:`trio.ClosedResourceError`.
When the peer closes the DLC, what was received is still read, then ``receive_some`` returns
``b""`` while ``send_all`` raises :class:`trio.BrokenResourceError`. When the link or the
multiplexer is lost, every call raises :class:`trio.BrokenResourceError` with the reason once
the received data is read. RFCOMM has no half-close: ``send_eof`` waits until everything sent
left the stack, then closes the DLC.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import trio

from bluetrio import arguments
from bluetrio.actors.app_port import AppPort
from bluetrio.actors.topology import Layer
from bluetrio.errors import InvalidArgumentError, RfcommError, StackError
from bluetrio.message_streams import (
    ChannelRequests,
    Endpoint,
    Endpoints,
    MessageListener,
    MessageStream,
)
from bluetrio.messages.base import Message
from bluetrio.messages.btm import DisconnectReq
from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.rfcomm import (
    BREAK_UNIT,
    FLOW_PARAMETERS,
    MAX_BREAK_LENGTH,
    MAX_FRAME_SIZE,
    MAX_SERVER_CHANNEL,
    MIN_SERVER_CHANNEL,
    FlowControl,
    LineStatus,
    ModemStatus,
    Parity,
    PortParameter,
    PortSettings,
)
from bluetrio.messages.rfcomm_service import (
    READ_REPORT_BATCH,
    RfcommCnf,
    RfcommConnectCnf,
    RfcommConnectInd,
    RfcommConnectReq,
    RfcommConnectRsp,
    RfcommDataCnf,
    RfcommDataInd,
    RfcommDataReq,
    RfcommDataRsp,
    RfcommDeregisterReq,
    RfcommDisconnectInd,
    RfcommDisconnectReq,
    RfcommLineStatusInd,
    RfcommLineStatusReq,
    RfcommModemStatusInd,
    RfcommModemStatusReq,
    RfcommMultiplexerClosedInd,
    RfcommMultiplexerCloseReq,
    RfcommPortCnf,
    RfcommPortInd,
    RfcommPortReq,
    RfcommRegisterReq,
    RfcommTestReq,
    frame_count,
)

if TYPE_CHECKING:
    from bluetrio.address import Address
    from bluetrio.link import Link

logger = logging.getLogger(__name__)

SEND_WINDOW = 32  # frames handed to the stack and not yet confirmed, per DLC
RECEIVE_JOIN_LIMIT = 65536  # octets one receive_some joins from frames waiting
LISTEN_BACKLOG = 16  # DLCs opened by peers and not yet accepted
CLEANUP_TIMEOUT = 25.0  # bound of the shielded close in aclose(): T1 and some
CONNECT_TIMEOUT = 60.0  # the multiplexer may wait for pairing: T1 and T2 with room
MAX_TEST_DATA = 125  # what one Test command carries (the RFCOMM layer's bound)
KEPT_BREAKS = 16  # the peer's latest breaks a stream remembers


class _Dlc(Endpoint):
    """The application's state of one DLC, kept current by :class:`RfcommRegistry` in order
    with every message; ``unconfirmed`` counts frames."""

    def __init__(self, handle: int, dlci: int) -> None:
        super().__init__(handle)
        self.dlci = dlci
        self.unreported = 0  # frames read and not yet reported to the layer (RfcommDataRsp)
        # The port's signals and settings (RFCOMM 1.2 5.5.2, TS 07.10 5.4.6.3.7-10).
        self.local_status = ModemStatus()
        self.peer_status: ModemStatus | None = None
        self.peer_changes = 0  # MSC commands the peer sent
        self.breaks: deque[float] = deque(maxlen=KEPT_BREAKS)
        self.line_errors = LineStatus.NONE
        self.port = PortSettings()
        self.signals = trio.lowlevel.ParkingLot()  # waiting for the peer's next MSC
        self.claimed = False  # a stream stands on it
        # Frames the layer could not send when the DLC ended: senders are told (the DLC
        # ends broken), but when the peer's close that follows is orderly the receiver still
        # reads to the end of what arrived, as after any orderly close.
        self.lost_frames_at_end = False

    def wake_all(self) -> None:
        super().wake_all()
        self.signals.unpark_all()


class RfcommStream(MessageStream[_Dlc]):
    """One open DLC (see the module docstring)."""

    def __init__(self, registry: RfcommRegistry, dlc: _Dlc, channel: int, frame_size: int) -> None:
        super().__init__(dlc)
        self._registry = registry
        self._dlc = dlc
        self.channel = channel
        self.frame_size = frame_size  # N1: the most one frame carries
        self._peer_link = registry.link_of(dlc.handle)
        dlc.claimed = True
        self.link: Link | None = None  # a link opened for streams: this one holds it

    @property
    def peer(self) -> Address:
        """The device at the other end: its identity address when known, else its address."""
        if self._peer_link is None:
            raise RfcommError(f"link 0x{self.handle:04X} of this stream is not known")
        return self._peer_link.peer

    def __repr__(self) -> str:
        where = f"0x{self.handle:04X} DLCI {self.dlci} channel {self.channel}"
        return f"<RfcommStream {where} {self._state()}>"

    @property
    def dlci(self) -> int:
        return self._dlc.dlci

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data`` in frames of at most :attr:`frame_size` octets, as many at once as
        the send window takes, in one request to the layer."""
        view = memoryview(data).cast("B")
        with self._one_sender:
            await trio.lowlevel.checkpoint_if_cancelled()
            dlc = self._dlc
            size = self.frame_size
            offset = 0
            while offset < len(view):
                await self._wait_for_room(self._window_open)
                chunk = bytes(view[offset : offset + (SEND_WINDOW - dlc.unconfirmed) * size])
                dlc.unconfirmed += frame_count(len(chunk), size)
                offset += len(chunk)
                self._registry.send_many([RfcommDataReq(self.handle, self.dlci, chunk)])
            self._check_sendable()
            await trio.lowlevel.cancel_shielded_checkpoint()

    def _window_open(self) -> bool:
        return self._dlc.unconfirmed < SEND_WINDOW

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        await self._wait_for_room(self._window_open)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_sent(self) -> None:
        """Wait until everything sent left the controller (or the DLC ended)."""
        dlc = self._dlc
        await trio.lowlevel.checkpoint_if_cancelled()
        while dlc.unconfirmed and dlc.ended is None and not self._closed:
            await dlc.senders.park()
        if dlc.unconfirmed:
            self._check_sendable()

    async def send_eof(self) -> None:
        """Wait until what was sent left the stack, then close the DLC (RFCOMM has no
        half-close: our receiving ends too)."""
        await self.wait_sent()
        await self.aclose()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None:
            max_bytes = arguments.integer("max_bytes", max_bytes, 1, 1 << 31)
        with self._one_receiver:
            await trio.lowlevel.checkpoint_if_cancelled()
            dlc = self._dlc
            waited = False
            while not (self._partial or dlc.received or dlc.ended is not None or self._closed):
                waited = True
                await dlc.receivers.park()
            if self._closed:
                raise trio.ClosedResourceError("this stream was closed")
            if not self._partial:
                if not dlc.received:
                    if dlc.broken:
                        raise trio.BrokenResourceError(dlc.ended)
                    if not waited:
                        await trio.lowlevel.cancel_shielded_checkpoint()
                    return b""
                self._partial = self._take_received(max_bytes)
            data = self._take_partial(max_bytes)
            if not waited:
                await trio.lowlevel.cancel_shielded_checkpoint()
            return data

    def _take_received(self, max_bytes: int | None) -> bytes:
        """The first frame received and as many after it as fit in ``max_bytes`` (or
        :data:`RECEIVE_JOIN_LIMIT`), joined: a reader that falls behind catches up in fewer
        calls. The frames taken are reported read in batches (their credits go back to the
        peer), so a busy DLC does not cost a message per frame."""
        dlc = self._dlc
        received = dlc.received
        data = received.popleft()
        taken = 1
        limit = RECEIVE_JOIN_LIMIT if max_bytes is None else max_bytes
        if received and len(data) + len(received[0]) <= limit:
            parts = [data]
            size = len(data)
            while received and size + len(received[0]) <= limit:
                part = received.popleft()
                parts.append(part)
                size += len(part)
            taken = len(parts)
            data = b"".join(parts)
        dlc.unreported += taken
        if dlc.unreported >= READ_REPORT_BATCH and dlc.ended is None:
            self._registry.send_many([RfcommDataRsp(self.handle, self.dlci, dlc.unreported)])
            dlc.unreported = 0
        return data

    # -- the emulated serial port (RFCOMM 1.2 5.5, TS 07.10 5.4.6.3) ------------------------
    @property
    def modem_status(self) -> ModemStatus:
        """Our V.24 signals, as last sent to the peer."""
        return self._dlc.local_status

    @property
    def peer_modem_status(self) -> ModemStatus | None:
        """The peer's V.24 signals from its last MSC (None before its first)."""
        return self._dlc.peer_status

    @property
    def breaks(self) -> tuple[float, ...]:
        """The durations in seconds of the latest breaks the peer signalled, oldest first."""
        return tuple(self._dlc.breaks)

    @property
    def line_errors(self) -> LineStatus:
        """The line errors the peer reported (RLS) since :meth:`take_line_errors`."""
        return self._dlc.line_errors

    def take_line_errors(self) -> LineStatus:
        """The line errors reported so far, cleared."""
        errors, self._dlc.line_errors = self._dlc.line_errors, LineStatus.NONE
        return errors

    async def report_line_errors(self, errors: LineStatus) -> None:
        """Tell the peer about line errors on our side of the port (an RLS command: overrun,
        parity, framing) and wait for its response (T2)."""
        errors = arguments.instance("errors", errors, LineStatus)
        self._check_sendable()
        token = self._registry.new_token()
        reply = await self._registry.request(
            RfcommLineStatusReq(token, self.handle, self.dlci, errors)
        )
        assert isinstance(reply, RfcommCnf)
        self._raise_for(reply.error)

    @property
    def port_settings(self) -> PortSettings:
        """The port's settings, as the peer set them (RPN) or answered our configuration."""
        return self._dlc.port

    async def set_modem_status(self, status: ModemStatus) -> None:
        """Send our V.24 signals (an MSC command) and wait for the peer's response (T2)."""
        status = arguments.instance("status", status, ModemStatus)
        await self._modem_request(status, None)

    async def send_break(self, duration: float) -> None:
        """Signal a break of ``duration`` seconds (MSC's break octet: 0 to 3 s, counted in
        200 ms) and wait for the peer's response."""
        duration = arguments.seconds("duration", duration, maximum=MAX_BREAK_LENGTH * BREAK_UNIT)
        await self._modem_request(self._dlc.local_status, round(duration / BREAK_UNIT))

    async def _modem_request(self, status: ModemStatus, break_length: int | None) -> None:
        self._check_sendable()
        token = self._registry.new_token()
        request = RfcommModemStatusReq(token, self.handle, self.dlci, status, break_length)
        reply = await self._registry.request(request)
        assert isinstance(reply, RfcommCnf)
        self._raise_for(reply.error)
        self._dlc.local_status = status

    async def wait_modem_status(self) -> ModemStatus:
        """Wait for the peer's next MSC and return its signals (a break it signals is added
        to :attr:`breaks`). Raises :class:`trio.BrokenResourceError` when the DLC ends."""
        dlc = self._dlc
        seen = dlc.peer_changes
        while dlc.peer_changes == seen:
            if self._closed:
                raise trio.ClosedResourceError("this stream was closed")
            if dlc.ended is not None:
                raise trio.BrokenResourceError(dlc.ended)
            await dlc.signals.park()
        assert dlc.peer_status is not None
        return dlc.peer_status

    async def configure_port(
        self,
        *,
        bit_rate: int | None = None,
        data_bits: int | None = None,
        stop_bits: float | None = None,
        parity: Parity | None = None,
        flow_control: FlowControl | None = None,
        xon: int | None = None,
        xoff: int | None = None,
    ) -> tuple[PortSettings, PortParameter]:
        """Remote port negotiation (RPN, TS 07.10 5.4.6.3.9): ask the peer to set the port
        parameters given; with none, ask for its settings. Returns the settings the peer
        answered and the parameters it accepted."""
        parity = arguments.optional_instance("parity", parity, Parity)
        flow_control = arguments.optional_instance("flow_control", flow_control, FlowControl)
        given = {
            PortParameter.BIT_RATE: bit_rate,
            PortParameter.DATA_BITS: data_bits,
            PortParameter.STOP_BITS: stop_bits,
            PortParameter.PARITY | PortParameter.PARITY_TYPE: parity,
            FLOW_PARAMETERS: flow_control,
            PortParameter.XON: xon,
            PortParameter.XOFF: xoff,
        }
        mask = PortParameter.NONE
        for parameter, value in given.items():
            if value is not None:
                mask |= parameter
        settings: PortSettings | None = None
        if mask:
            current = self._dlc.port
            settings = PortSettings(
                bit_rate=current.bit_rate if bit_rate is None else bit_rate,
                data_bits=current.data_bits if data_bits is None else data_bits,
                stop_bits=current.stop_bits if stop_bits is None else stop_bits,
                parity=current.parity if parity is None else parity,
                flow_control=current.flow_control if flow_control is None else flow_control,
                xon=current.xon if xon is None else xon,
                xoff=current.xoff if xoff is None else xoff,
            )
        self._check_sendable()
        token = self._registry.new_token()
        reply = await self._registry.request(
            RfcommPortReq(token, self.handle, self.dlci, settings, mask)
        )
        assert isinstance(reply, RfcommPortCnf)
        self._raise_for(reply.error)
        assert reply.settings is not None
        self._dlc.port = reply.settings
        return reply.settings, reply.accepted

    async def ping(self, data: bytes = b"bluetrio") -> None:
        """Send a Test command with ``data`` (1 to 125 octets) on this DLC's multiplexer and
        return once the peer echoed it (TS 07.10 5.4.6.3.4); :class:`RfcommError` when no
        echo came within T2."""
        data = bytes(arguments.instance("data", data, bytes))
        if not 0 < len(data) <= MAX_TEST_DATA:
            raise InvalidArgumentError(f"data: {len(data)} octets, not 1..{MAX_TEST_DATA}")
        self._check_sendable()
        reply = await self._registry.request(
            RfcommTestReq(self._registry.new_token(), self.handle, data)
        )
        assert isinstance(reply, RfcommCnf)
        self._raise_for(reply.error)

    def _raise_for(self, error: str | None) -> None:
        """A request's error: the DLC's ending breaks the stream, anything else is an
        :class:`RfcommError`."""
        if error is None:
            return
        if self._closed:
            raise trio.ClosedResourceError("this stream was closed")
        if self._dlc.ended is not None:
            raise trio.BrokenResourceError(self._dlc.ended)
        raise RfcommError(error)

    async def _close_channel(self) -> None:
        """Close the DLC (DISC, bounded by :data:`CLEANUP_TIMEOUT`, shielded), and let go of
        the link if this stream holds it."""
        await self._registry.disconnect(self._dlc)
        if self.link is not None:
            await self._registry.release_link(self.link)


class RfcommListener(MessageListener[RfcommStream]):
    """The DLCs that peers open to one server channel."""

    def __init__(self, registry: RfcommRegistry, channel: int) -> None:
        super().__init__()
        self._registry = registry
        self.channel = channel

    async def _stop_listening(self) -> None:
        await self._registry.stop_listening(self)


class RfcommRegistry:
    """The application's DLCs and listeners, kept current by observers of the application
    port (in order with every other message)."""

    def __init__(self, app: AppPort, links: Callable[[int], Link | None] = lambda handle: None):
        self._app = app
        self._requests = ChannelRequests(app, Layer.RFCOMM)
        self.link_of = links  # the live Link of a handle
        self._dlcs = Endpoints(_Dlc)
        self._listeners: dict[int, RfcommListener] = {}
        # Links opened for streams, each held by its streams in either direction (and by the
        # rfcomm_connect calls still opening one): the last to let go closes the link.
        self._link_users: dict[int, int] = {}
        app.observe(RfcommDataInd, self._on_data)
        app.observe(RfcommDataCnf, self._on_data_confirmed)
        app.observe(RfcommDisconnectInd, self._on_disconnected)
        app.observe(RfcommConnectInd, self._on_connected)
        app.observe(RfcommModemStatusInd, self._on_modem_status)
        app.observe(RfcommLineStatusInd, self._on_line_status)
        app.observe(RfcommPortInd, self._on_port)
        app.observe(RfcommMultiplexerClosedInd, self._on_multiplexer_closed)
        app.when_closed(self.close)

    def new_token(self) -> int:
        return self._requests.new_token()

    async def request(self, message: Message) -> Message:
        """Send ``message`` to the RFCOMM layer and wait for its answer (the layer bounds the
        wait: T2 for the peer's response, the DLC's or the link's end)."""
        try:
            return await self._app.request(Layer.RFCOMM, message)
        except StackError as error:
            raise trio.BrokenResourceError(str(error)) from error

    def send_many(self, messages: list[Message]) -> None:
        """Hand ``messages`` to the RFCOMM layer in order, as one hop."""
        self._requests.send_many(messages)

    def _dlc(self, handle: int, dlci: int) -> _Dlc:
        """The state of DLC ``dlci`` on link ``handle``: a DLC that ended under a stream not
        yet closed is an earlier one, so a new DLC on the same DLCI starts afresh."""
        earlier = self._dlcs.get((handle, dlci))
        if earlier is not None and earlier.claimed and earlier.ended is not None:
            del self._dlcs[handle, dlci]  # its stream keeps its own state
        return self._dlcs.made(handle, dlci)

    # -- observers -----------------------------------------------------------------------------
    def _on_data(self, indication: RfcommDataInd) -> None:
        # The DLC's state exists from its first message: data may come before the caller of
        # rfcomm_connect resumes with the confirmation.
        dlc = self._dlc(indication.handle, indication.dlci)
        if dlc.ended is not None:
            return
        # Bounded by the credits the layer grants (or its flow control): never past them.
        dlc.received.append(indication.data)
        dlc.wake_receivers()

    def _on_data_confirmed(self, confirm: RfcommDataCnf) -> None:
        dlc = self._dlcs.get((confirm.handle, confirm.dlci))
        if dlc is None:
            return
        dlc.unconfirmed = max(0, dlc.unconfirmed - confirm.count)
        if confirm.error is not None:
            if dlc.ended is None:
                dlc.lost_frames_at_end = True
            dlc.end(f"data was not sent: {confirm.error}", broken=True)
        dlc.wake_senders()

    def _on_disconnected(self, indication: RfcommDisconnectInd) -> None:
        # The peer closing ends the stream; anything else breaks it. The layer reports the
        # frames it could not send just before the indication (an error on the data): the
        # senders keep that error, and an orderly close still reads as the end of the data.
        earlier = self._dlcs.get((indication.handle, indication.dlci))
        if earlier is not None and earlier.lost_frames_at_end:
            # The indication of the DLC the error ended, not of a new one on its DLCI.
            earlier.lost_frames_at_end = False
            if indication.orderly:
                earlier.broken = False
            earlier.wake_all()
            return
        dlc = self._dlc(indication.handle, indication.dlci)
        dlc.end(indication.reason, broken=not indication.orderly)

    def _on_modem_status(self, indication: RfcommModemStatusInd) -> None:
        dlc = self._dlcs.get((indication.handle, indication.dlci))
        if dlc is None:
            return
        dlc.peer_status = indication.status
        dlc.peer_changes += 1
        if indication.break_length is not None:
            dlc.breaks.append(indication.break_length * BREAK_UNIT)
        dlc.signals.unpark_all()

    def _on_line_status(self, indication: RfcommLineStatusInd) -> None:
        dlc = self._dlcs.get((indication.handle, indication.dlci))
        if dlc is not None:
            dlc.line_errors |= indication.status
            logger.info(
                "rfcomm 0x%04X DLC %d: the peer reports %s",
                indication.handle, indication.dlci, indication.status,
            )  # fmt: skip

    def _on_port(self, indication: RfcommPortInd) -> None:
        dlc = self._dlcs.get((indication.handle, indication.dlci))
        if dlc is not None:
            dlc.port = indication.settings

    def _on_multiplexer_closed(self, indication: RfcommMultiplexerClosedInd) -> None:
        """The multiplexer of a link kept for a DLC the peer was opening closed without it:
        nobody holds the link any more."""
        handle = indication.handle
        if self._link_users.get(handle) != 0:
            return
        del self._link_users[handle]
        token = self._app.runtime.new_token()
        self._app.router.abandon(token, lambda reply: None)
        self._app.send(Layer.BTM, DisconnectReq(token, handle))

    def _on_connected(self, indication: RfcommConnectInd) -> None:
        """A peer opens a DLC to one of our channels: taken while its listener has room in
        the backlog, refused (DM, before any UA) otherwise."""
        handle, dlci = indication.handle, indication.dlci
        listener = self._listeners.get(indication.channel)
        if listener is None or listener._closed or len(listener.backlog) >= LISTEN_BACKLOG:
            reason = "no listener" if listener is None or listener._closed else "backlog full"
            self.send_many([RfcommConnectRsp(handle, dlci, False, reason)])
            return
        self._dlcs.pop((handle, dlci), None)  # a new DLC: nothing of an earlier one stays
        dlc = self._dlc(handle, dlci)
        stream = RfcommStream(self, dlc, indication.channel, indication.frame_size)
        link = self.link_of(handle)
        if link is not None and self.opened_by_us(handle):
            self.use_link(link)
            stream.link = link
        listener._arrived(stream)
        self.send_many([RfcommConnectRsp(handle, dlci, True)])

    def close(self) -> None:
        """The stack closed: every stream is broken."""
        for dlc in self._dlcs.values():
            dlc.end("the stack closed", broken=True)
        for listener in self._listeners.values():
            listener._shut()

    # -- requests ------------------------------------------------------------------------------
    async def connect(
        self, handle: int, channel: int, *, frame_size: int, timeout: float
    ) -> RfcommStream:
        token = self._app.runtime.new_token()
        request = RfcommConnectReq(token, handle, channel, frame_size)

        def abandoned(late: Message) -> None:
            if isinstance(late, RfcommConnectCnf) and late.error is None:
                self._disconnect_later(self._dlc(handle, late.dlci))

        with trio.fail_after(timeout):
            reply = await self._app.request(Layer.RFCOMM, request, if_abandoned=abandoned)
        assert isinstance(reply, RfcommConnectCnf)
        if reply.error is not None:
            raise RfcommError(reply.error)
        return RfcommStream(self, self._dlc(handle, reply.dlci), channel, reply.frame_size)

    def _forget(self, dlc: _Dlc) -> None:
        if self._dlcs.get((dlc.handle, dlc.dlci)) is dlc:
            del self._dlcs[dlc.handle, dlc.dlci]

    async def disconnect(self, dlc: _Dlc) -> None:
        self._forget(dlc)
        handle, dlci = dlc.handle, dlc.dlci
        await self._requests.close_channel(
            dlc,
            lambda token: RfcommDisconnectReq(token, handle, dlci),
            timeout=CLEANUP_TIMEOUT,
            what="stream",
            label=f"rfcomm 0x{handle:04X} DLC {dlci}",
        )

    def _disconnect_later(self, dlc: _Dlc) -> None:
        """Close a DLC from an observer (no task to wait in)."""
        self._forget(dlc)
        handle, dlci = dlc.handle, dlc.dlci
        self._requests.close_later(lambda token: RfcommDisconnectReq(token, handle, dlci))

    def use_link(self, link: Link) -> None:
        self._link_users[link.handle] = self._link_users.get(link.handle, 0) + 1

    def opened_by_us(self, handle: int) -> bool:
        return handle in self._link_users

    async def release_link(self, link: Link) -> None:
        """The last holder of a link opened for streams closes it: the multiplexer first
        (DISC on DLCI 0 and its UA), then the link. A DLC still on the multiplexer (one the
        peer is opening, which will hold the link as a stream) keeps both."""
        users = self._link_users.get(link.handle, 0) - 1
        if users > 0:
            self._link_users[link.handle] = users
            await trio.lowlevel.checkpoint()
            return
        self._link_users.pop(link.handle, None)
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + CLEANUP_TIMEOUT
            if not self._app.runtime.closed and link.connected:
                token = self._app.runtime.new_token()
                with contextlib.suppress(StackError):
                    reply = await self._app.request(
                        Layer.RFCOMM, RfcommMultiplexerCloseReq(token, link.handle)
                    )
                    if isinstance(reply, RfcommCnf) and reply.error is not None:
                        # A DLC the peer is opening: its stream will hold the link, or the
                        # multiplexer's close (RfcommMultiplexerClosedInd) lets it go.
                        logger.info("rfcomm 0x%04X: link kept: %s", link.handle, reply.error)
                        self._link_users[link.handle] = 0
                        return
            with contextlib.suppress(StackError, trio.BrokenResourceError):
                await link.disconnect()

    @contextlib.asynccontextmanager
    async def listen(
        self, channel: int, security: SecurityRequirement | None
    ) -> AsyncIterator[RfcommListener]:
        reply = await self._app.request(
            Layer.RFCOMM, RfcommRegisterReq(self._app.runtime.new_token(), channel, security)
        )
        assert isinstance(reply, RfcommCnf)
        if reply.error is not None:
            raise RfcommError(reply.error)
        listener = RfcommListener(self, reply.channel)
        self._listeners[reply.channel] = listener
        try:
            yield listener
        finally:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + CLEANUP_TIMEOUT
                await listener.aclose()

    async def stop_listening(self, listener: RfcommListener) -> None:
        if self._listeners.get(listener.channel) is not listener:
            await trio.lowlevel.checkpoint()
            return
        del self._listeners[listener.channel]
        if not self._app.runtime.closed:
            request = RfcommDeregisterReq(self._app.runtime.new_token(), listener.channel)
            with contextlib.suppress(StackError):
                await self._app.request(Layer.RFCOMM, request)


def check_channel(channel: int) -> int:
    return arguments.integer("channel", channel, MIN_SERVER_CHANNEL, MAX_SERVER_CHANNEL)


def check_frame_size(frame_size: int) -> int:
    return arguments.integer("frame_size", frame_size, 1, MAX_FRAME_SIZE)


__all__ = ["SEND_WINDOW", "RfcommListener", "RfcommRegistry", "RfcommStream"]
