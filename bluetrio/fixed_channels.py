"""Fixed L2CAP channels for the application: raw PDUs on ATT (0x0004), SMP (0x0006) or BR/EDR
SMP (0x0007) of one live link, before (or instead of) the layers that own them.

    async with link.fixed_channel(0x0004) as channel:
        await channel.send(bytes([0x02, 0x17, 0x00]))   # ATT Exchange MTU Request
        response = await channel.receive()

The L2CAP layer registers a fixed channel for one owner at a time (Core 5.4 Vol 3 Part A 2.1,
tables 2.1 and 2.3); while a block runs the application holds the registration (on every
link, shared by the blocks open on the channel), so the peer's Information Response lists a
BR/EDR fixed channel only then. A channel another layer holds, or one L2CAP keeps for itself
(the signaling channels), raises :class:`~bluetrio.errors.FixedChannelUnavailable`.

Flow: at most :data:`FIXED_SEND_WINDOW` PDUs are handed to the stack and not yet taken by the
controller; ``send`` waits beyond that. A fixed channel has no flow control toward the peer,
so received PDUs wait for ``receive`` up to ``receive_limit`` of them; a peer that sends more
while the application does not read breaks the channel (every call raises
:class:`trio.BrokenResourceError` saying so) rather than losing PDUs quietly. When the link
goes down, what was received is still read, then every call raises
:class:`trio.BrokenResourceError`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import trio

from bluetrio import arguments
from bluetrio.actors.app_port import AppPort
from bluetrio.actors.l2cap.registry import REGISTRABLE_FIXED_CHANNELS
from bluetrio.actors.topology import Layer
from bluetrio.errors import FixedChannelUnavailable, InvalidArgumentError, StackError
from bluetrio.message_streams import Endpoint, MessageChannel
from bluetrio.messages.base import Message
from bluetrio.messages.btm import LinkDownInd
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap.frames import MAX_PAYLOAD
from bluetrio.messages.l2cap_service import (
    L2caCnf,
    L2caCongestionInd,
    L2caDeregisterFixedChannelReq,
    L2caFixedChannelInd,
    L2caFixedDataCnf,
    L2caFixedDataInd,
    L2caFixedDataReq,
    L2caRegisterFixedChannelReq,
)

logger = logging.getLogger(__name__)

FIXED_SEND_WINDOW = 32  # PDUs handed to the stack and not yet taken by the controller
FIXED_RECEIVE_LIMIT = 256  # default bound of PDUs received and not yet read
CLEANUP_TIMEOUT = 5.0  # bound of the shielded deregistration when the last block ends


class _FixedEndpoint(Endpoint):
    """The application's state of one fixed channel on one link, kept current in order with
    every message by :class:`FixedChannelRegistry`. It only ends broken: the link went down
    or the channel overflowed."""

    def __init__(self, handle: int, cid: int, limit: int) -> None:
        super().__init__(handle)
        self.cid = cid
        self.limit = limit
        self.congested = False


class FixedChannel(MessageChannel[_FixedEndpoint]):
    """One fixed channel of one link (see the module docstring). PDUs in, PDUs out."""

    noun = "fixed channel"

    def __init__(self, registry: FixedChannelRegistry, endpoint: _FixedEndpoint) -> None:
        super().__init__(endpoint)
        self._registry = registry

    def __repr__(self) -> str:
        return f"<FixedChannel 0x{self.handle:04X}/0x{self.cid:04X} {self._state()}>"

    @property
    def cid(self) -> int:
        return self._endpoint.cid

    @property
    def congested(self) -> bool:
        """The stack's transmit queue of this channel is past its quota."""
        return self._endpoint.congested

    async def send(self, pdu: bytes | bytearray | memoryview) -> None:
        """Send one PDU as a B-frame (at most 65535 octets), waiting while
        :data:`FIXED_SEND_WINDOW` PDUs are in the stack."""
        data = bytes(pdu)
        if len(data) > MAX_PAYLOAD:
            raise InvalidArgumentError(f"a PDU of {len(data)} octets does not fit in a B-frame")
        await trio.lowlevel.checkpoint_if_cancelled()
        endpoint = self._endpoint
        await self._wait_for_room(lambda: endpoint.unconfirmed < FIXED_SEND_WINDOW)
        endpoint.unconfirmed += 1
        self._registry.send(L2caFixedDataReq(self.handle, self.cid, data))
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_sent(self) -> None:
        """Wait until the controller took every PDU sent; raises
        :class:`trio.BrokenResourceError` when the link went down first."""
        await trio.lowlevel.checkpoint_if_cancelled()
        endpoint = self._endpoint
        while endpoint.unconfirmed:
            self._check_sendable()
            await endpoint.senders.park()
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def receive(self) -> bytes:
        """The next PDU received; :class:`trio.BrokenResourceError` once the link is down (or
        the channel overflowed) and what came before was read."""
        await trio.lowlevel.checkpoint_if_cancelled()
        endpoint = self._endpoint
        while True:
            if self._closed:
                raise trio.ClosedResourceError("this fixed channel was closed")
            if endpoint.received:
                pdu = endpoint.received.popleft()
                await trio.lowlevel.cancel_shielded_checkpoint()
                return pdu
            if endpoint.ended is not None:
                raise trio.BrokenResourceError(endpoint.ended)
            await endpoint.receivers.park()

    def _close(self) -> None:
        self._closed = True
        self._endpoint.wake_all()


class FixedChannelRegistry:
    """The application's fixed channels, by (handle, cid), and its registrations with the
    L2CAP layer, by CID (held while at least one block uses the CID on some link)."""

    def __init__(self, app: AppPort) -> None:
        self._app = app
        self._endpoints: dict[tuple[int, int], _FixedEndpoint] = {}
        self._users: dict[int, int] = {}  # CID -> blocks using it
        self._lock = trio.Lock()  # registrations change one at a time
        self.dropped = 0  # PDUs received on a registered CID for a link nobody opened it on
        app.observe(L2caFixedDataInd, self._on_data)
        app.observe(L2caFixedDataCnf, self._on_confirmed)
        app.observe(L2caFixedChannelInd, self._on_channel)
        app.observe(L2caCongestionInd, self._on_congestion)
        app.observe(LinkDownInd, self._on_link_down)
        app.when_closed(self.close)

    def send(self, message: Message) -> None:
        if self._app.runtime.closed:
            raise trio.BrokenResourceError("the stack is closed")
        self._app.send(Layer.L2CAP, message)

    # -- observers -------------------------------------------------------------------------------
    def _on_data(self, indication: L2caFixedDataInd) -> None:
        endpoint = self._endpoints.get((indication.handle, indication.cid))
        if endpoint is None or endpoint.ended is not None:
            self.dropped += 1
            logger.debug(
                "fixed channel 0x%04X/0x%04X: %d B dropped (not open here)",
                indication.handle, indication.cid, len(indication.payload),
            )  # fmt: skip
            return
        if len(endpoint.received) >= endpoint.limit:
            reason = (
                f"more than {endpoint.limit} received PDUs were not read (a fixed channel has "
                "no flow control)"
            )
            logger.warning("fixed channel 0x%04X/0x%04X: %s", endpoint.handle, endpoint.cid, reason)
            endpoint.received.clear()
            endpoint.end(reason, broken=True)
            return
        endpoint.received.append(indication.payload)
        endpoint.wake_receivers()

    def _on_confirmed(self, confirm: L2caFixedDataCnf) -> None:
        endpoint = self._endpoints.get((confirm.handle, confirm.cid))
        if endpoint is None:
            return
        if confirm.error is not None:
            logger.warning(
                "fixed channel 0x%04X/0x%04X: %s", confirm.handle, confirm.cid, confirm.error
            )
            endpoint.end(f"a PDU was not sent: {confirm.error}", broken=True)
        endpoint.unconfirmed = max(0, endpoint.unconfirmed - confirm.count)
        endpoint.wake_senders()

    def _on_channel(self, indication: L2caFixedChannelInd) -> None:
        endpoint = self._endpoints.get((indication.handle, indication.cid))
        if endpoint is not None and not indication.open:
            endpoint.end(f"link 0x{indication.handle:04X} is down", broken=True)

    def _on_link_down(self, indication: LinkDownInd) -> None:
        for endpoint in self._endpoints.values():
            if endpoint.handle == indication.handle:
                endpoint.end(f"link 0x{indication.handle:04X} is down", broken=True)

    def _on_congestion(self, indication: L2caCongestionInd) -> None:
        endpoint = self._endpoints.get((indication.handle, indication.cid))
        if endpoint is not None:
            endpoint.congested = indication.congested

    def close(self) -> None:
        """The stack closed: every fixed channel is broken."""
        for endpoint in self._endpoints.values():
            endpoint.end("the stack closed", broken=True)

    # -- requests --------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def open(
        self, handle: int, transport: LinkTransport, cid: int, receive_limit: int
    ) -> AsyncIterator[FixedChannel]:
        """Fixed channel ``cid`` of link ``handle`` while the block runs."""
        cid = arguments.integer("cid", cid, 0x0001, 0x003F)
        receive_limit = arguments.integer("receive_limit", receive_limit, 1, 1 << 20)
        if transport not in REGISTRABLE_FIXED_CHANNELS.get(cid, frozenset()):
            raise FixedChannelUnavailable(
                cid, f"0x{cid:04X} is not a fixed channel an application may use on {transport}"
            )
        key = (handle, cid)
        if key in self._endpoints:
            raise FixedChannelUnavailable(cid, f"0x{cid:04X} is already open on this link")
        # Kept from now on, so that the link going down while we register is seen.
        endpoint = self._endpoints[key] = _FixedEndpoint(handle, cid, receive_limit)
        channel = FixedChannel(self, endpoint)
        try:
            await self._use(cid)
        except BaseException:
            del self._endpoints[key]
            raise
        try:
            yield channel
        finally:
            channel._close()
            del self._endpoints[key]
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + CLEANUP_TIMEOUT
                await self._release(cid)
            if scope.cancelled_caught:
                logger.warning("fixed channel 0x%04X: not deregistered in time", cid)

    async def _use(self, cid: int) -> None:
        async with self._lock:
            if self._users.get(cid, 0) == 0:
                token = self._app.runtime.new_token()
                reply = await self._app.request(
                    Layer.L2CAP, L2caRegisterFixedChannelReq(token, cid)
                )
                assert isinstance(reply, L2caCnf)
                if reply.result != 0:
                    raise FixedChannelUnavailable(cid, reply.error or "registration refused")
            self._users[cid] = self._users.get(cid, 0) + 1

    async def _release(self, cid: int) -> None:
        async with self._lock:
            self._users[cid] -= 1
            if self._users[cid] > 0:
                return
            del self._users[cid]
            if self._app.runtime.closed:
                return
            token = self._app.runtime.new_token()
            with contextlib.suppress(StackError):
                await self._app.request(Layer.L2CAP, L2caDeregisterFixedChannelReq(token, cid))


__all__ = ["FIXED_RECEIVE_LIMIT", "FIXED_SEND_WINDOW", "FixedChannel", "FixedChannelRegistry"]
