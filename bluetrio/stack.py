"""``open_stack``: the actors of one host stack, started in order in one nursery.

    async with bluetrio.open_stack("virtual") as stack:
        complete = await stack.command(hci.ReadBdAddr())
        info = await stack.ready()                       # bring-up (once)
        async for report in stack.scan(duration=5): ...
        async with stack.connect(address) as link: ...

Actors: hci → btu → btm; ACL data goes from hci to l2cap, or to the application while no
L2CAP actor is registered. Bring-up runs at open when ``bring_up=True`` and otherwise on the
first :meth:`Stack.ready` (every high-level method awaits it), so raw HCI use stays possible.

Closing the stack cancels every actor and timer and closes the transport; no task is left
behind. A failure that belongs to no single connection ends the ``async with`` block with a
:class:`~bluetrio.errors.StackError` carrying the flight recorder; a lost transport ends it
with a :class:`~bluetrio.errors.TransportError`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import attrs
import trio

from bluetrio.actors.app_port import AppPort
from bluetrio.actors.btm.config import SecurityConfig, StackConfig
from bluetrio.actors.btm.controller_info import ControllerInfo
from bluetrio.actors.btm.core import BtmCore
from bluetrio.actors.btu.core import BtuCore
from bluetrio.actors.faults import FaultPolicy
from bluetrio.actors.hci.core import DEFAULT_COMMAND_TIMEOUT, HciCore
from bluetrio.actors.hci.shell import HciActor
from bluetrio.actors.runtime import (
    DEFAULT_FLIGHT_RECORDER_SIZE,
    Actor,
    Runtime,
    raise_single_error,
)
from bluetrio.address import Address
from bluetrio.errors import (
    ConnectionFailedError,
    ConnectionTimeoutError,
    ControllerNotReadyError,
    HciError,
    HciTimeout,
    InvalidArgumentError,
    StackError,
)
from bluetrio.keystore import MemoryKeyStore
from bluetrio.messages.ad import AdvertisingData
from bluetrio.messages.base import Message
from bluetrio.messages.btm import (
    AclLink,
    AdvertiseReq,
    AdvertiseStopReq,
    AdvertisingParameters,
    BondedPeer,
    BtmCnf,
    ConnectCancelReq,
    ConnectCnf,
    ConnectionPolicy,
    ConnectionUpdateReq,
    ConnectReq,
    ControllerFailedInd,
    ControllerReadyInd,
    DisconnectReq,
    InquiryCnf,
    InquiryReq,
    InquiryResult,
    LeConnectionParameters,
    LinkTransport,
    LoadBondsReq,
    RemoteNameCnf,
    RemoteNameReq,
    ScanReport,
    ScanReportInd,
    ScanReq,
    ScanStopReq,
    SetConnectionPolicyReq,
    SetDiscoverableReq,
    StartBringUpReq,
)
from bluetrio.messages.hci_service import HciCommandCnf, HciCommandReq, HciEventInd
from bluetrio.pairing import serve_pairing_delegate
from bluetrio.tracing.recorder import TraceRecorder
from bluetrio.transports import open_transport
from bluetrio.transports.base import Packet, Transport
from bluetrio.transports.spec import TransportSpec
from bluetrio.transports.tap import tapped


class _StackTap:
    """Applies transport faults, then records what crossed the transport as btsnoop."""

    def __init__(self, faults: FaultPolicy | None, snoop: Any | None) -> None:
        self.faults = faults
        self.snoop = snoop

    def _pass(self, packet: Packet, direction: str, received: bool) -> list[Packet]:
        packets = [packet]
        if self.faults is not None:
            packets = self.faults.filter_packet(direction, packet)  # type: ignore[arg-type]
        if self.snoop is not None:
            for packet_type, payload in packets:
                self.snoop.write(packet_type, payload, received=received)
        return packets

    def on_host_to_controller(self, packet: Packet) -> list[Packet]:
        return self._pass(packet, "to_controller", received=False)

    def on_controller_to_host(self, packet: Packet) -> list[Packet]:
        return self._pass(packet, "to_host", received=True)


# Disconnect reasons a host may give (Vol 4 Part E 7.1.6).
DEFAULT_CONNECTION_PARAMETERS = LeConnectionParameters()
DISCONNECT_REASONS = frozenset({0x05, 0x13, 0x14, 0x15, 0x1A, 0x29, 0x3B})


class Stack:
    """A running host stack: the runtime, its actors, and the application's port."""

    def __init__(
        self,
        runtime: Runtime,
        app: AppPort,
        hci: HciCore,
        btm: BtmCore | None = None,
        btu: BtuCore | None = None,
        keystore: Any | None = None,
        pairing_delegate: Any | None = None,
    ) -> None:
        self.runtime = runtime
        self.app = app
        self.hci = hci
        self.btm = btm
        self.btu = btu
        self.keystore = keystore
        self.pairing_delegate = pairing_delegate
        self._pairing_served = False
        self._info: ControllerInfo | None = None
        self._failure: str | None = None
        self._ready = trio.Event()
        self._bringup_started = False

    # -- raw HCI -----------------------------------------------------------------------------
    async def command(self, command: Any, *, timeout: float | None = None) -> Any:
        """Send one HCI command and return its Command Complete (or Command Status) event.

        Raises :class:`HciError` when the controller answers with a non-zero status and
        :class:`HciTimeout` when it does not answer within ``timeout`` seconds.
        """
        token = self.runtime.new_token()
        reply = await self.app.request("hci", HciCommandReq(token, command, timeout))
        assert isinstance(reply, HciCommandCnf)
        name = getattr(command, "NAME", type(command).__name__)
        if reply.event is None:
            if reply.timed_out:
                raise HciTimeout(f"{name}: {reply.error}")
            raise HciError(0x1F, f"{name}: {reply.error}")
        status = getattr(reply.event, "status", 0)
        if status:
            raise HciError(status, f"{name} failed")
        return reply.event

    def events(
        self, predicate: Callable[[Any], bool] | None = None
    ) -> trio.MemoryReceiveChannel[Message]:
        """A channel of HCI events the stack passes up (close it to stop receiving)."""

        def matches(message: Message) -> bool:
            return isinstance(message, HciEventInd) and (
                predicate is None or predicate(message.event)
            )

        if self.btu is not None:
            self.btu.mirror = (self.app.name,)
        return self.app.subscribe(matches)

    # -- bring-up ------------------------------------------------------------------------------
    async def _watch_controller(self, task_status: trio.TaskStatus[None]) -> None:
        updates = self.app.subscribe(
            lambda m: isinstance(m, ControllerReadyInd | ControllerFailedInd)
        )
        # The pairing service lives as long as this watcher, so closing the stack ends it.
        async with trio.open_nursery() as services:
            task_status.started()
            async for update in updates:
                if isinstance(update, ControllerReadyInd):
                    self._info, self._failure = update.info, None
                    await self._load_bonds()
                    await self._serve_pairing(services, update.info.address)
                elif isinstance(update, ControllerFailedInd):
                    self._failure = update.reason
                self._ready.set()

    async def _serve_pairing(self, services: trio.Nursery, local_address: Address) -> None:
        """Answer pairing prompts with the delegate and save bonds in the key store given to
        ``open_stack``, once the controller's address is known (a store needs it)."""
        if self._pairing_served or (self.pairing_delegate is None and self.keystore is None):
            return
        keystore = self.keystore if self.keystore is not None else MemoryKeyStore(local_address)
        await services.start(serve_pairing_delegate, self.app, self.pairing_delegate, keystore)
        self._pairing_served = True

    async def _load_bonds(self) -> None:
        if self.keystore is None:
            return
        bonds = await self.keystore.list()
        peers = tuple(BondedPeer(bond.peer_address, bond.peer_keys.irk) for bond in bonds)
        await self._btm_request(LoadBondsReq(self.runtime.new_token(), peers))

    def start_bringup(self) -> None:
        if self.btm is None:
            raise ControllerNotReadyError("this stack has no device manager")
        if not self._bringup_started:
            self._bringup_started = True
            self.app.send(BtmCore.name, StartBringUpReq())

    async def ready(self) -> ControllerInfo:
        """Bring the controller up (once) and return what it is."""
        self.start_bringup()
        await self._ready.wait()
        if self._info is None:
            raise ControllerNotReadyError(self._failure or "bring-up failed")
        return self._info

    @property
    def controller_info(self) -> ControllerInfo | None:
        return self._info

    @property
    def links(self) -> tuple[AclLink, ...]:
        """The ACL links up right now (a snapshot)."""
        return () if self.btm is None else self.btm.links.all()

    # -- requests to BTM -----------------------------------------------------------------------
    async def _btm_request(self, message: Message) -> Message:
        return await self.app.request(BtmCore.name, message)

    async def _btm_checked(self, message: Message, what: str) -> None:
        await self.ready()
        reply = await self._btm_request(message)
        assert isinstance(reply, BtmCnf)
        if reply.status:
            raise HciError(reply.status, f"{what}: {reply.error}")

    @contextlib.asynccontextmanager
    async def advertise(
        self,
        data: AdvertisingData = AdvertisingData.EMPTY,
        *,
        scan_response: AdvertisingData | None = None,
        connectable: bool = True,
        scannable: bool = True,
        extended: bool = False,
    ) -> AsyncIterator[None]:
        """Advertise ``data`` while the block runs."""
        if connectable and not scannable and not extended:
            raise InvalidArgumentError(
                "legacy connectable advertising is always scannable (ADV_IND); pass "
                "scannable=True or extended=True"
            )
        parameters = AdvertisingParameters(
            data, scan_response, connectable, scannable, extended=extended
        )
        await self._btm_checked(AdvertiseReq(self.runtime.new_token(), parameters), "advertise")
        try:
            yield
        finally:
            with trio.CancelScope(shield=True):
                await self._btm_checked(
                    AdvertiseStopReq(self.runtime.new_token()), "stop advertising"
                )

    async def scan(
        self,
        duration: float | None = None,
        *,
        active: bool = False,
        filter_duplicates: bool = True,
    ) -> AsyncGenerator[ScanReport, None]:
        """LE scan reports for ``duration`` seconds (forever when None)."""
        if duration is not None and duration <= 0:
            raise InvalidArgumentError(f"scan duration must be positive, got {duration!r}")
        await self.ready()
        reports = self.app.subscribe(lambda m: isinstance(m, ScanReportInd))
        try:
            request = ScanReq(self.runtime.new_token(), active, filter_duplicates)
            await self._btm_checked(request, "scan")
            # No cancel scope may stay open across a ``yield`` of an async generator (trio
            # issue 638): each receive gets its own scope with the common deadline.
            deadline = trio.current_time() + (math.inf if duration is None else duration)
            try:
                while True:
                    indication = None
                    with trio.move_on_at(deadline):
                        indication = await reports.receive()
                    if indication is None:
                        break
                    assert isinstance(indication, ScanReportInd)
                    yield indication.report
            finally:
                # Shielded so a cancelled consumer still stops the controller's scan, but
                # bounded: this may run when the generator is finalised late, and a closed
                # stack answers at once with StackError (caught below).
                with (
                    trio.CancelScope(shield=True, deadline=trio.current_time() + 2.0),
                    contextlib.suppress(StackError),
                ):
                    await self._btm_checked(ScanStopReq(self.runtime.new_token()), "stop scan")
        finally:
            self.app.unsubscribe(reports)

    @contextlib.asynccontextmanager
    async def connect(
        self,
        address: Address | str,
        *,
        transport: LinkTransport | None = None,
        timeout: float = 10.0,
        parameters: LeConnectionParameters = DEFAULT_CONNECTION_PARAMETERS,
    ) -> AsyncIterator[AclLink]:
        """Connect (LE unless ``transport`` says BR/EDR, or the address is public and the
        controller has no LE); disconnect when the block ends."""
        if isinstance(address, str):
            address = Address.parse(address)
        if timeout <= 0:
            raise InvalidArgumentError(f"connect timeout must be positive, got {timeout!r}")
        await self.ready()
        chosen = transport if transport is not None else LinkTransport.LE
        token = self.runtime.new_token()
        answers = self.app.subscribe(lambda m: isinstance(m, ConnectCnf) and m.token == token)
        try:
            self.app.send(BtmCore.name, ConnectReq(token, address, chosen, timeout, parameters))
            try:
                reply = await answers.receive()
            except trio.Cancelled:
                with trio.CancelScope(shield=True):
                    await self._abandon_connect(token, address, answers)
                raise
        finally:
            self.app.unsubscribe(answers)
        assert isinstance(reply, ConnectCnf)
        if reply.link is None:
            error = ConnectionTimeoutError if reply.status == 0x08 else ConnectionFailedError
            raise error(reply.status, f"connecting to {address}: {reply.error}")
        try:
            yield reply.link
        finally:
            with trio.CancelScope(shield=True):
                await self.disconnect(reply.link.handle, missing_ok=True)

    async def _abandon_connect(
        self, token: int, address: Address, answers: trio.MemoryReceiveChannel[Message]
    ) -> None:
        """The caller gave up: cancel the attempt, and drop a link that won the race."""
        self.app.send(BtmCore.name, ConnectCancelReq(self.runtime.new_token(), address))
        with trio.move_on_after(10):
            reply = await answers.receive()
            if isinstance(reply, ConnectCnf) and reply.link is not None:
                await self.disconnect(reply.link.handle, missing_ok=True)

    async def disconnect(
        self, handle: int, reason: int = 0x13, *, missing_ok: bool = False
    ) -> None:
        if reason not in DISCONNECT_REASONS:
            allowed = ", ".join(f"0x{r:02X}" for r in sorted(DISCONNECT_REASONS))
            raise InvalidArgumentError(
                f"disconnect reason 0x{reason:02X} is not one a host may give ({allowed})"
            )
        reply = await self._btm_request(DisconnectReq(self.runtime.new_token(), handle, reason))
        assert isinstance(reply, BtmCnf)
        if reply.status and not (missing_ok and reply.status == 0x02):
            raise HciError(reply.status, f"disconnect: {reply.error}")

    async def update_connection(self, handle: int, parameters: LeConnectionParameters) -> None:
        await self._btm_checked(
            ConnectionUpdateReq(self.runtime.new_token(), handle, parameters), "connection update"
        )

    async def inquiry(
        self, duration: float = 5.12, *, max_responses: int = 0
    ) -> list[InquiryResult]:
        """BR/EDR devices that answer a general inquiry of ``duration`` seconds."""
        if not 0 < duration <= 61.44:
            raise InvalidArgumentError(f"inquiry lasts 1.28..61.44 s, got {duration!r}")
        if not 0 <= max_responses <= 255:
            raise InvalidArgumentError(f"max_responses is 0..255, got {max_responses!r}")
        await self.ready()
        reply = await self._btm_request(
            InquiryReq(self.runtime.new_token(), duration, max_responses)
        )
        assert isinstance(reply, InquiryCnf)
        if reply.status:
            raise HciError(reply.status, f"inquiry: {reply.error}")
        return list(reply.results)

    async def remote_name(self, address: Address | str) -> str:
        if isinstance(address, str):
            address = Address.parse(address)
        await self.ready()
        reply = await self._btm_request(RemoteNameReq(self.runtime.new_token(), address))
        assert isinstance(reply, RemoteNameCnf)
        if reply.status or reply.name is None:
            raise HciError(reply.status, f"remote name of {address}: {reply.error}")
        return reply.name

    async def set_connection_policy(self, policy: ConnectionPolicy) -> None:
        if not isinstance(policy, ConnectionPolicy):
            raise InvalidArgumentError(f"policy must be a ConnectionPolicy, got {policy!r}")
        await self._btm_checked(
            SetConnectionPolicyReq(self.runtime.new_token(), policy), "connection policy"
        )

    async def set_discoverable(self, discoverable: bool, *, connectable: bool = True) -> None:
        await self._btm_checked(
            SetDiscoverableReq(self.runtime.new_token(), discoverable, connectable), "scan enable"
        )


@contextlib.asynccontextmanager
async def open_stack(
    transport: str | TransportSpec | Transport,
    *,
    snoop: str | os.PathLike[str] | None = None,
    trace: str | os.PathLike[str] | TraceRecorder | None = None,
    faults: FaultPolicy | None = None,
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
    flight_recorder_size: int = DEFAULT_FLIGHT_RECORDER_SIZE,
    config: StackConfig | None = None,
    keystore: Any | None = None,
    pairing_delegate: Any | None = None,
    pairable: bool | None = None,
    bring_up: bool = False,
    l2cap: Actor | None = None,
) -> AsyncIterator[Stack]:
    """Open a transport (a spec such as ``"virtual"``, ``"usb:0"``, ``"tcp:127.0.0.1:6402"``,
    or an open :class:`Transport`) and run a stack on it.

    ``snoop``: write every HCI packet, both directions, to this btsnoop file.
    ``trace``: record every inter-actor message (a path to save JSON Lines to on close, or a
    :class:`TraceRecorder` to fill). ``faults``: a :class:`FaultPolicy` to inject faults.
    ``config``: bring-up and device-manager settings; ``keystore``, ``pairing_delegate`` and
    ``pairable`` override its security part; with a delegate or a key store, the stack serves
    them after bring-up (prompts answered, bonds saved; without a key store, bonds live in a
    :class:`~bluetrio.keystore.MemoryKeyStore`). ``bring_up``: run bring-up before yielding.
    ``l2cap``: the L2CAP actor (named ``"l2cap"``); without one, ACL data goes to the app.
    """
    config = _with_security(config or StackConfig(), keystore, pairing_delegate, pairable)
    tracer: TraceRecorder | None
    tracer = trace if trace is None or isinstance(trace, TraceRecorder) else TraceRecorder()
    async with contextlib.AsyncExitStack() as resources:
        if isinstance(transport, Transport):
            opened = transport
            resources.push_async_callback(opened.aclose)
        else:
            opened = await resources.enter_async_context(open_transport(transport))
        snoop_writer = None
        if snoop is not None:
            from bluetrio.tracing.btsnoop import BtsnoopWriter

            snoop_writer = resources.enter_context(BtsnoopWriter(snoop))
        tap = _StackTap(faults, snoop_writer) if (faults or snoop_writer) else None
        runtime = Runtime(tracer=tracer, faults=faults, flight_recorder_size=flight_recorder_size)
        app = AppPort()
        acl_sink = l2cap.name if l2cap is not None else app.name
        hci_core = HciCore(
            event_sink=BtuCore.name, acl_sink=acl_sink, command_timeout=command_timeout
        )
        btu_core = BtuCore()
        btm_core = BtmCore(config, l2cap=None if l2cap is None else l2cap.name, app=app.name)
        runtime.add(HciActor(hci_core, tapped(opened, tap)))
        runtime.add(Actor(BtuCore.name, btu_core))
        runtime.add(Actor(BtmCore.name, btm_core))
        if l2cap is not None:
            runtime.add(l2cap)
        runtime.add(app)
        runtime.link_manager = BtmCore.name
        security = config.security
        stack = Stack(
            runtime, app, hci_core, btm_core, btu_core, security.keystore, security.pairing_delegate
        )
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(runtime.run)
                await nursery.start(stack._watch_controller)
                if bring_up:
                    await stack.ready()
                try:
                    yield stack
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise_single_error(group)
            raise
        finally:
            if tracer is not None and trace is not None and not isinstance(trace, TraceRecorder):
                save = getattr(tracer, "save", None)
                if save is not None:
                    save(trace)


def _with_security(
    config: StackConfig, keystore: Any | None, pairing_delegate: Any | None, pairable: bool | None
) -> StackConfig:
    security = config.security
    changes: dict[str, Any] = {}
    if keystore is not None:
        changes["keystore"] = keystore
    if pairing_delegate is not None:
        changes["pairing_delegate"] = pairing_delegate
    if pairable is not None:
        changes["pairable"] = pairable
    if not changes:
        return config
    return attrs.evolve(config, security=attrs.evolve(security, **changes))


__all__ = ["SecurityConfig", "Stack", "StackConfig", "open_stack"]
