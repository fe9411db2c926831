"""L2CAP channels as Trio streams: the application's side of the L2CAP layer.

    async with stack.connect(address, transport=LinkTransport.BR_EDR) as link:
        channel = await link.l2cap_connect(psm=0x1001)
        await channel.send_all(b"hello")
        reply = await channel.receive_some()
        await channel.aclose()

    async with stack.l2cap_listen(psm=0x1001) as listener:
        await trio.serve_listeners(handler, [listener])

An :class:`L2capChannel` is a :class:`trio.abc.HalfCloseableStream` of bytes; ``send_sdu`` and
``receive_sdu`` keep SDU boundaries for message-oriented protocols.

Flow: a channel has at most :data:`SEND_WINDOW` SDUs handed to the stack and not yet taken by
the controller; ``send`` waits beyond that, so nothing queues without bound. Basic mode has no
flow control toward the peer (Core 5.4 Vol 3 Part A 3.1), so what is received waits for the
application up to ``receive_limit`` octets per channel (:data:`RECEIVE_LIMIT` unless
``l2cap_connect``/``l2cap_listen`` say otherwise); a peer that sends more while the
application does not read breaks the channel (it is disconnected and every call raises
:class:`trio.BrokenResourceError` saying so) rather than losing data quietly or growing
memory. Credit-based channels bound what the peer may send by the credits they grant.

Channels in Enhanced Retransmission mode (``mode=ChannelMode.ERTM``, Core 5.4 Vol 3 Part A
8.6) and Streaming mode (8.7) are the same streams. An SDU is confirmed, and leaves the send
window, when the peer acknowledged all of it (ERTM) or when the controller took its last frame
(streaming); so ``send_eof`` and ``aclose`` after it lose nothing. The SDUs the application
reads are reported to the engine (in batches, at once when it has read everything waiting),
which holds the peer back (RNR, "receiver not ready") while SDUs wait unread, so an ERTM
channel never breaks at ``receive_limit``; a streaming channel, like a basic one, does.

Credit-based channels (LE credit-based, enhanced credit-based: Core 5.4 Vol 3 Part A 10.1)
are opened with ``spsm=`` (``link.l2cap_connect(spsm=...)``, ``stack.l2cap_listen(spsm=...)``)
and are the same streams. Sending waits while the SDUs handed to the stack and not yet
confirmed would pass the channel's transmit limit (in octets); each SDU the application reads
gives its credits back to the peer (the stack returns them in batches), so what the peer may
send is bounded by the credits granted, never by a queue here. SDUs read are reported to the
stack in batches of :data:`~bluetrio.messages.l2cap_credit_service.READ_REPORT_BATCH`, and at
once whenever the application has read everything waiting.

Endings: after :meth:`L2capChannel.aclose` every call raises :class:`trio.ClosedResourceError`.
When the peer closes the channel, what was received is still read, then ``receive_some``
returns ``b""`` (the end of the stream) and ``receive_sdu`` raises :class:`trio.EndOfChannel`,
while ``send`` raises :class:`trio.BrokenResourceError`. When the link is lost, every call
raises :class:`trio.BrokenResourceError` with the reason once the received data is read.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import trio

from bluetrio import arguments
from bluetrio.actors.app_port import AppPort
from bluetrio.actors.topology import Layer
from bluetrio.errors import InvalidArgumentError, L2capConnectionRefused, StackError
from bluetrio.message_streams import (
    ChannelRequests,
    Endpoint,
    Endpoints,
    MessageListener,
    MessageStream,
)
from bluetrio.messages.base import Message
from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap import (
    DEFAULT_BR_EDR_MTU,
    MIN_BR_EDR_MTU,
    ChannelMode,
    ConnectionResult,
    is_valid_psm,
)
from bluetrio.messages.l2cap_credit_service import (
    READ_REPORT_BATCH,
    CreditChannelParameters,
    CreditMode,
    L2caCreditAcceptReq,
    L2caCreditConnectCnf,
    L2caCreditConnectInd,
    L2caCreditConnectReq,
    L2caCreditDeregisterReq,
    L2caCreditRegisterReq,
    L2caDataRsp,
    L2caReconfigureInd,
    L2caReconfigureReq,
)
from bluetrio.messages.l2cap_service import (
    ChannelParameters,
    L2caCnf,
    L2caConfigInd,
    L2caCongestionInd,
    L2caConnectCnf,
    L2caConnectInd,
    L2caConnectReq,
    L2caConnectRsp,
    L2caDataCnf,
    L2caDataInd,
    L2caDataReq,
    L2caDeregisterPsmReq,
    L2caDisconnectInd,
    L2caDisconnectReq,
    L2caRegisterPsmReq,
    ModePolicy,
)

if TYPE_CHECKING:
    from bluetrio.stack import Stack

logger = logging.getLogger(__name__)

SEND_WINDOW = 32  # SDUs handed to the stack and not yet confirmed (see the module docstring)
RETRANSMISSION_MODES = (ChannelMode.ENHANCED_RETRANSMISSION, ChannelMode.STREAMING)
RECEIVE_LIMIT = 8 << 20  # default bound of what is received and not yet read, per channel
LISTEN_BACKLOG = 16  # opened channels waiting for accept()
CLEANUP_TIMEOUT = 5.0  # bound of the shielded disconnection in aclose()
CONNECT_TIMEOUT = 30.0


class _Endpoint(Endpoint):
    """The application's state of one channel, kept current by :class:`ChannelRegistry`
    in order with every message."""

    def __init__(self, handle: int, cid: int) -> None:
        super().__init__(handle)
        self.cid = cid
        self.buffered = 0
        self.congested = False
        self.limit = RECEIVE_LIMIT
        # Credit-based channels: the transmit limit in octets, what is unconfirmed, and the
        # peer's MTU as reconfigurations raise it.
        self.credit: CreditChannelParameters | None = None
        self.unconfirmed_sizes: deque[int] = deque()
        self.unconfirmed_octets = 0
        self.peer_mtu = 0
        # Enhanced Retransmission or Streaming mode: each SDU read is reported (L2caDataRsp)
        # so the engine leaves its local busy condition; ERTM's flow control then bounds what
        # the peer sends, so only Streaming mode (like basic) breaks at the receive limit.
        self.reports_reads = False
        self.flow_controlled = False
        self.unreported = 0  # SDUs read and not yet reported (L2caDataRsp)


class L2capChannel(MessageStream[_Endpoint]):
    """One open connection-oriented channel (see the module docstring)."""

    noun = "channel"

    def __init__(
        self,
        registry: ChannelRegistry,
        endpoint: _Endpoint,
        psm: int,
        parameters: ChannelParameters | CreditChannelParameters,
    ) -> None:
        super().__init__(endpoint)
        self._registry = registry
        self.psm = psm
        if isinstance(parameters, CreditChannelParameters):
            endpoint.credit = parameters
            endpoint.peer_mtu = max(endpoint.peer_mtu, parameters.peer_mtu)
            parameters = ChannelParameters(parameters.mtu, parameters.peer_mtu)
        elif parameters.mode in RETRANSMISSION_MODES:
            endpoint.reports_reads = True
            endpoint.flow_controlled = parameters.mode is ChannelMode.ENHANCED_RETRANSMISSION
        self.parameters = parameters

    def __repr__(self) -> str:
        where = f"0x{self.handle:04X}/0x{self.cid:04X} psm 0x{self.psm:04X}"
        return f"<L2capChannel {where} {self._state()}>"

    @property
    def cid(self) -> int:
        """Our channel identifier."""
        return self._endpoint.cid

    @property
    def mtu(self) -> int:
        """The largest SDU we receive."""
        return self.parameters.mtu

    @property
    def peer_mtu(self) -> int:
        """The largest SDU the peer receives (what ``send_sdu`` takes)."""
        if self._endpoint.credit is not None:
            return self._endpoint.peer_mtu
        return self.parameters.peer_mtu

    @property
    def mode(self) -> ChannelMode | CreditMode:
        credit = self._endpoint.credit
        return credit.mode if credit is not None else self.parameters.mode

    @property
    def credit_parameters(self) -> CreditChannelParameters | None:
        """A credit-based channel's MTUs, MPSs, window and transmit limit as opened."""
        return self._endpoint.credit

    async def reconfigure(self, *, mtu: int, mps: int) -> None:
        """Raise the MTU we receive (and change our MPS) of this enhanced credit-based
        channel (Core 5.4 Vol 3 Part A 4.27); raises
        :class:`~bluetrio.errors.L2capConnectionRefused` with the peer's result (0x0001 MTU
        reduction, 0x0002 MPS reduction...)."""
        credit = self._endpoint.credit
        if credit is None or credit.mode is not CreditMode.ENHANCED_CREDIT_BASED:
            raise InvalidArgumentError("only enhanced credit-based channels reconfigure")
        await self._registry.reconfigure([self], mtu=mtu, mps=mps)

    @property
    def congested(self) -> bool:
        """The stack's transmit queue of this channel is past its quota."""
        return self._endpoint.congested

    # -- sending -------------------------------------------------------------------------------
    async def send_sdu(self, sdu: bytes | bytearray | memoryview) -> None:
        """Send one SDU (at most :attr:`peer_mtu` octets), waiting while :data:`SEND_WINDOW`
        SDUs are in the stack."""
        data = bytes(sdu)
        if len(data) > self.peer_mtu:
            raise InvalidArgumentError(
                f"an SDU of {len(data)} octets exceeds the peer's MTU of {self.peer_mtu}"
            )
        with self._one_sender:
            await trio.lowlevel.checkpoint_if_cancelled()
            await self._wait_window(len(data))
            self._registry.send(self._request(data))
            await trio.lowlevel.cancel_shielded_checkpoint()

    def _request(self, data: bytes) -> L2caDataReq:
        """The request carrying one SDU, counted in the send window."""
        endpoint = self._endpoint
        endpoint.unconfirmed += 1
        if endpoint.credit is not None:
            endpoint.unconfirmed_sizes.append(len(data))
            endpoint.unconfirmed_octets += len(data)
        return L2caDataReq(self.handle, self.cid, data)

    def _window_open(self, size: int) -> bool:
        endpoint = self._endpoint
        credit = endpoint.credit
        if credit is None:
            return endpoint.unconfirmed < SEND_WINDOW
        return (
            not endpoint.unconfirmed_octets
            or endpoint.unconfirmed_octets + size <= credit.transmit_limit
        )

    async def _wait_window(self, size: int = 1) -> None:
        await self._wait_for_room(lambda: self._window_open(size))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data`` as SDUs of at most :attr:`peer_mtu` octets.

        As many SDUs as the send window takes are handed to the stack at once, as one
        message hop, so the stack moves them as one burst.
        """
        view = memoryview(data)
        if not view:
            self._check_sendable()
            await trio.lowlevel.checkpoint()
            return
        with self._one_sender:
            await trio.lowlevel.checkpoint_if_cancelled()
            size = self.peer_mtu
            offset = 0
            while offset < len(view):
                await self._wait_window(min(size, len(view) - offset))
                burst: list[Message] = []
                while offset < len(view):
                    sdu = view[offset : offset + size]
                    if burst and not self._window_open(len(sdu)):
                        break
                    burst.append(self._request(bytes(sdu)))
                    offset += len(sdu)
                self._registry.send_many(burst)
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        await self._wait_window()
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def send_eof(self) -> None:
        """L2CAP has no half-close: wait until what was sent left the stack, then disconnect
        the channel (the peer reads the end of the stream; our receiving ends too)."""
        endpoint = self._endpoint
        while endpoint.unconfirmed and endpoint.ended is None and not self._closed:
            await endpoint.senders.park()
        await self.aclose()

    # -- receiving -----------------------------------------------------------------------------
    async def receive_sdu(self) -> bytes:
        """The next SDU; :class:`trio.EndOfChannel` once the peer closed the channel."""
        with self._one_receiver:
            await trio.lowlevel.checkpoint_if_cancelled()
            endpoint = self._endpoint
            if endpoint.received or endpoint.ended is not None or self._closed:
                sdu = self._next_sdu()
                await trio.lowlevel.cancel_shielded_checkpoint()
                return sdu
            # Waiting is the schedule point: the SDU is returned as soon as this task runs.
            while not (endpoint.received or endpoint.ended is not None or self._closed):
                await endpoint.receivers.park()
            return self._next_sdu()

    def _next_sdu(self) -> bytes:
        """The first SDU received, or the channel's ending raised."""
        endpoint = self._endpoint
        if self._closed:
            raise trio.ClosedResourceError("this channel was closed")
        if endpoint.received:
            sdu = endpoint.received.popleft()
            endpoint.buffered -= len(sdu)
            if endpoint.credit is not None or endpoint.reports_reads:
                # Taken: its credits may go back to the peer, or the ERTM engine may leave
                # its local busy condition. Reported in batches while more SDUs wait, at
                # once when this was the last: a reader that holds nothing has told the
                # engine so, and the engine's rescue of a peer out of credits fires.
                endpoint.unreported += 1
                if endpoint.unreported >= READ_REPORT_BATCH or not endpoint.received:
                    self._report_reads()
            return sdu
        if endpoint.broken:
            raise trio.BrokenResourceError(endpoint.ended)
        raise trio.EndOfChannel(endpoint.ended)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None:
            max_bytes = arguments.integer("max_bytes", max_bytes, 1, 1 << 31)
        if not self._partial:
            try:
                self._partial = await self.receive_sdu()
            except trio.EndOfChannel:
                return b""
        else:
            await trio.lowlevel.checkpoint()
        return self._take_partial(max_bytes)

    def _report_reads(self) -> None:
        """Tell the layer of the SDUs read and not yet reported (none once the channel
        ended: the engine is gone)."""
        endpoint = self._endpoint
        if endpoint.unreported and endpoint.ended is None:
            self._registry.send(L2caDataRsp(self.handle, self.cid, endpoint.unreported))
        endpoint.unreported = 0

    # -- closing -------------------------------------------------------------------------------
    async def _close_channel(self) -> None:
        """Report what was read, then disconnect the channel (bounded by
        :data:`CLEANUP_TIMEOUT`, shielded)."""
        self._report_reads()
        await self._registry.disconnect(self._endpoint)


class L2capListener(MessageListener[L2capChannel]):
    """The channels opened by peers to one PSM, as :func:`trio.serve_listeners` takes them."""

    def __init__(
        self,
        registry: ChannelRegistry,
        psm: int,
        transport: LinkTransport,
        receive_limit: int = RECEIVE_LIMIT,
        *,
        credit: bool = False,
    ) -> None:
        super().__init__()
        self._registry = registry
        self.receive_limit = receive_limit
        self.psm = psm  # the SPSM of a credit-based listener
        self.transport = transport
        self.credit = credit
        self.opening = 0  # accepted by us, still being configured

    @property
    def full(self) -> bool:
        return len(self.backlog) + self.opening >= LISTEN_BACKLOG

    def _accepted(self, channel: L2capChannel) -> None:
        if self.credit and not channel._endpoint.ended:
            # Out of the backlog the L2CAP layer counts (L2caCreditRegisterReq).
            self._registry.send(L2caCreditAcceptReq(channel.handle, channel.cid))

    async def _stop_listening(self) -> None:
        await self._registry.stop_listening(self)


class ChannelRegistry:
    """The application's channels and listeners, by (handle, cid) and PSM, kept current by
    observers of the application port (in order with every other message)."""

    def __init__(self, stack: Stack, app: AppPort) -> None:
        self._stack = stack
        self._app = app
        self._requests = ChannelRequests(app, Layer.L2CAP)
        self._endpoints = Endpoints(_Endpoint)
        self._listeners: dict[tuple[LinkTransport, int], L2capListener] = {}
        self._opening: dict[tuple[int, int], L2capListener] = {}
        app.observe(L2caDataInd, self._on_data)
        app.observe(L2caDataCnf, self._on_data_confirmed)
        app.observe(L2caCongestionInd, self._on_congestion)
        app.observe(L2caDisconnectInd, self._on_disconnected)
        app.observe(L2caConnectInd, self._on_connect_request)
        app.observe(L2caConfigInd, self._on_configured)
        app.observe(L2caCreditConnectInd, self._on_credit_channels_opened)
        app.observe(L2caReconfigureInd, self._on_reconfigured)
        self._credit_listeners: dict[tuple[LinkTransport, int], L2capListener] = {}
        app.when_closed(self.close)

    def send(self, message: Message) -> None:
        self.send_many([message])

    def send_many(self, messages: list[Message]) -> None:
        """Hand ``messages`` to the L2CAP layer in order, as one hop."""
        self._requests.send_many(messages)

    def _endpoint(self, handle: int, cid: int) -> _Endpoint:
        return self._endpoints.made(handle, cid)

    # -- observers -------------------------------------------------------------------------------
    def _on_data(self, indication: L2caDataInd) -> None:
        endpoint = self._endpoint(indication.handle, indication.cid)
        if endpoint.ended is not None:
            return
        endpoint.received.append(indication.sdu)
        endpoint.buffered += len(indication.sdu)
        if (
            endpoint.credit is None
            and not endpoint.flow_controlled
            and endpoint.buffered > endpoint.limit
        ):
            reason = (
                f"more than {endpoint.limit} received octets were not read: the channel was "
                "disconnected (basic and streaming mode have no flow control)"
            )
            logger.warning("l2cap 0x%04X/0x%04X: %s", endpoint.handle, endpoint.cid, reason)
            endpoint.received.clear()
            endpoint.buffered = 0
            endpoint.end(reason, broken=True)
            self._disconnect_later(endpoint)
        else:
            endpoint.wake_receivers()

    def _on_data_confirmed(self, confirm: L2caDataCnf) -> None:
        endpoint = self._endpoints.get((confirm.handle, confirm.cid))
        if endpoint is not None:
            endpoint.unconfirmed = max(0, endpoint.unconfirmed - confirm.count)
            for _ in range(min(confirm.count, len(endpoint.unconfirmed_sizes))):
                endpoint.unconfirmed_octets -= endpoint.unconfirmed_sizes.popleft()
            endpoint.wake_senders()

    def _on_congestion(self, indication: L2caCongestionInd) -> None:
        endpoint = self._endpoints.get((indication.handle, indication.cid))
        if endpoint is not None:
            endpoint.congested = indication.congested

    def _on_disconnected(self, indication: L2caDisconnectInd) -> None:
        key = (indication.handle, indication.cid)
        listener = self._opening.pop(key, None)
        if listener is not None:
            listener.opening -= 1
        endpoint = self._endpoints.get(key)
        if endpoint is not None:
            endpoint.end(indication.reason, broken=indication.link_lost)

    def _on_connect_request(self, indication: L2caConnectInd) -> None:
        listener = self._listeners.get((indication.transport, indication.psm))
        if listener is None or listener.full:
            result = ConnectionResult.NO_RESOURCES
        else:
            result = ConnectionResult.SUCCESS
            listener.opening += 1
            self._opening[indication.handle, indication.cid] = listener
        self.send(L2caConnectRsp(indication.handle, indication.cid, result))

    def _on_configured(self, indication: L2caConfigInd) -> None:
        key = (indication.handle, indication.cid)
        listener = self._opening.pop(key, None)
        endpoint = self._endpoint(*key)
        if listener is None:
            self._disconnect_later(endpoint)
            return
        listener.opening -= 1
        endpoint.limit = listener.receive_limit
        listener._arrived(L2capChannel(self, endpoint, indication.psm, indication.parameters))

    def _on_credit_channels_opened(self, indication: L2caCreditConnectInd) -> None:
        listener = self._credit_listeners.get((indication.transport, indication.spsm))
        for cid in indication.cids:
            endpoint = self._endpoint(indication.handle, cid)
            if listener is None or listener.full:
                # The layer refuses what passes the backlog (L2caCreditRegisterReq.backlog):
                # only a listener that went away meanwhile gets here.
                self._disconnect_later(endpoint)
            else:
                channel = L2capChannel(self, endpoint, indication.spsm, indication.parameters)
                listener._arrived(channel)

    def _on_reconfigured(self, indication: L2caReconfigureInd) -> None:
        endpoint = self._endpoints.get((indication.handle, indication.cid))
        if endpoint is not None:
            endpoint.peer_mtu = max(endpoint.peer_mtu, indication.peer_mtu)

    def close(self) -> None:
        """The stack closed: every channel is broken."""
        for endpoint in self._endpoints.values():
            endpoint.end("the stack closed", broken=True)
        for listener in [*self._listeners.values(), *self._credit_listeners.values()]:
            listener._shut()

    # -- requests --------------------------------------------------------------------------------
    async def connect(
        self,
        handle: int,
        psm: int,
        *,
        mtu: int,
        mode: ChannelMode,
        mode_policy: ModePolicy,
        security: SecurityRequirement | None,
        timeout: float,
        receive_limit: int = RECEIVE_LIMIT,
    ) -> L2capChannel:
        token = self._app.runtime.new_token()
        request = L2caConnectReq(token, handle, psm, mtu, mode, mode_policy, security)

        def abandoned(late: Message) -> None:
            if isinstance(late, L2caConnectCnf) and late.result == 0:
                self._disconnect_later(self._endpoint(handle, late.cid))

        with trio.fail_after(timeout):
            reply = await self._app.request(Layer.L2CAP, request, if_abandoned=abandoned)
        assert isinstance(reply, L2caConnectCnf)
        if reply.result != 0 or reply.parameters is None:
            raise L2capConnectionRefused(reply.result, reply.error or "the channel was refused")
        endpoint = self._endpoint(handle, reply.cid)
        endpoint.limit = receive_limit
        return L2capChannel(self, endpoint, psm, reply.parameters)

    async def connect_credit(
        self,
        handle: int,
        spsm: int,
        *,
        mode: CreditMode,
        count: int,
        mtu: int,
        mps: int,
        credits: int,
        security: SecurityRequirement | None,
        timeout: float,
    ) -> list[L2capChannel]:
        """Open ``count`` credit-based channels; those the peer accepted."""
        token = self._app.runtime.new_token()
        request = L2caCreditConnectReq(
            token, handle, spsm, mode, count, mtu, mps, credits, security
        )

        def abandoned(late: Message) -> None:
            if isinstance(late, L2caCreditConnectCnf):
                for cid in late.cids:
                    self._disconnect_later(self._endpoint(handle, cid))

        with trio.fail_after(timeout):
            reply = await self._app.request(Layer.L2CAP, request, if_abandoned=abandoned)
        assert isinstance(reply, L2caCreditConnectCnf)
        if not reply.cids or reply.parameters is None:
            raise L2capConnectionRefused(reply.result, reply.error or "the channel was refused")
        return [
            L2capChannel(self, self._endpoint(handle, cid), spsm, reply.parameters)
            for cid in reply.cids
        ]

    async def reconfigure(self, channels: list[L2capChannel], *, mtu: int, mps: int) -> None:
        handle = channels[0].handle
        request = L2caReconfigureReq(
            self._app.runtime.new_token(), handle, tuple(c.cid for c in channels), mtu, mps
        )
        reply = await self._app.request(Layer.L2CAP, request)
        assert isinstance(reply, L2caCnf)
        if reply.result != 0:
            raise L2capConnectionRefused(reply.result, reply.error or "reconfiguration refused")

    @contextlib.asynccontextmanager
    async def listen_credit(
        self,
        spsm: int,
        transport: LinkTransport,
        security: SecurityRequirement | None,
        mtu: int,
        mps: int,
        credits: int,
    ) -> AsyncIterator[L2capListener]:
        if (transport, spsm) in self._credit_listeners:
            raise InvalidArgumentError(f"SPSM 0x{spsm:04X} is already being listened on")
        request = L2caCreditRegisterReq(
            self._app.runtime.new_token(), spsm, transport, security, mtu, mps, credits,
            backlog=LISTEN_BACKLOG,
        )  # fmt: skip
        listener = L2capListener(self, spsm, transport, credit=True)
        async with self._registered(request, listener, self._credit_listeners):
            yield listener

    async def disconnect(self, endpoint: _Endpoint) -> None:
        handle, cid = endpoint.handle, endpoint.cid
        self._endpoints.pop((handle, cid), None)
        await self._requests.close_channel(
            endpoint,
            lambda token: L2caDisconnectReq(token, handle, cid),
            timeout=CLEANUP_TIMEOUT,
            what="channel",
            label=f"l2cap 0x{handle:04X}/0x{cid:04X}",
        )

    def _disconnect_later(self, endpoint: _Endpoint) -> None:
        """Disconnect a channel from an observer (no task to wait in)."""
        handle, cid = endpoint.handle, endpoint.cid
        self._endpoints.pop((handle, cid), None)
        self._requests.close_later(lambda token: L2caDisconnectReq(token, handle, cid))

    @contextlib.asynccontextmanager
    async def listen(
        self,
        psm: int,
        transport: LinkTransport,
        security: SecurityRequirement | None,
        mtu: int,
        mode: ChannelMode,
        mode_policy: ModePolicy,
        receive_limit: int = RECEIVE_LIMIT,
    ) -> AsyncIterator[L2capListener]:
        if (transport, psm) in self._listeners:
            raise InvalidArgumentError(f"PSM 0x{psm:04X} is already being listened on")
        request = L2caRegisterPsmReq(
            self._app.runtime.new_token(), psm, transport, security, mtu, mode, mode_policy
        )
        listener = L2capListener(self, psm, transport, receive_limit)
        async with self._registered(request, listener, self._listeners):
            yield listener

    @contextlib.asynccontextmanager
    async def _registered(
        self,
        request: Message,
        listener: L2capListener,
        listeners: dict[tuple[LinkTransport, int], L2capListener],
    ) -> AsyncIterator[None]:
        """Register a (S)PSM with the L2CAP layer and keep ``listener`` for its incoming
        channels while the block runs; the shielded deregistration is bounded."""
        reply = await self._app.request(Layer.L2CAP, request)
        assert isinstance(reply, L2caCnf)
        if reply.result != 0:
            raise L2capConnectionRefused(reply.result, reply.error or "registration refused")
        listeners[(listener.transport, listener.psm)] = listener
        try:
            yield
        finally:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + CLEANUP_TIMEOUT
                await listener.aclose()

    async def stop_listening(self, listener: L2capListener) -> None:
        key = (listener.transport, listener.psm)
        listeners = self._credit_listeners if listener.credit else self._listeners
        if listeners.get(key) is not listener:
            await trio.lowlevel.checkpoint()
            return
        del listeners[key]
        if not self._app.runtime.closed:
            token = self._app.runtime.new_token()
            request: Message = (
                L2caCreditDeregisterReq(token, listener.psm, listener.transport)
                if listener.credit
                else L2caDeregisterPsmReq(token, listener.psm, listener.transport)
            )
            with contextlib.suppress(StackError):
                await self._app.request(Layer.L2CAP, request)


DEFAULT_CREDIT_MTU = 2048
# One K-frame and its basic header fill one LE ACL packet of 251 octets (Vol 6 Part B 2.4.2.21).
DEFAULT_CREDIT_MPS = 247


def check_credit_arguments(
    spsm: int, transport: LinkTransport, mode: CreditMode, mtu: int, mps: int, credits: int
) -> tuple[int, int, int, int]:
    """Check a credit-based channel's SPSM, MTU, MPS and credits in the caller's task."""
    spsm = arguments.integer("spsm", spsm, 1, 0xFFFF)
    if transport is LinkTransport.LE and spsm > 0x00FF:
        raise InvalidArgumentError(f"SPSM 0x{spsm:04X} is not 0x0001-0x00FF (an LE SPSM)")
    if transport is LinkTransport.BR_EDR and not is_valid_psm(spsm):
        raise InvalidArgumentError(f"0x{spsm:04X} is not a valid PSM")
    if transport is LinkTransport.BR_EDR and mode is CreditMode.LE_CREDIT_BASED:
        raise InvalidArgumentError("LE credit-based channels exist on LE links only")
    mtu = arguments.integer("mtu", mtu, mode.min_mtu, 0xFFFF)
    mps = arguments.integer("mps", mps, mode.min_mps, 65533)
    credits = arguments.integer("credits", credits, 0, 0xFFFF)
    return spsm, mtu, mps, credits


def check_channel_arguments(psm: int, mtu: int) -> tuple[int, int]:
    """Check a PSM and MTU in the caller's task."""
    psm = arguments.integer("psm", psm, 1, 0xFFFF)
    if not is_valid_psm(psm):
        raise InvalidArgumentError(
            f"PSM 0x{psm:04X} is not valid: its low octet must be odd, its high octet even"
        )
    mtu = arguments.integer("mtu", mtu, MIN_BR_EDR_MTU, 0xFFFF)
    return psm, mtu


__all__ = [
    "DEFAULT_BR_EDR_MTU",
    "RECEIVE_LIMIT",
    "SEND_WINDOW",
    "ChannelRegistry",
    "L2capChannel",
    "L2capListener",
    "check_channel_arguments",
    "check_credit_arguments",
]
