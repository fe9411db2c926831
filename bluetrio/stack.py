"""``open_stack``: the actors of one host stack, started in order in one nursery.

    async with bluetrio.open_stack("virtual") as stack:
        complete = await stack.command(hci.ReadBdAddr())
        info = await stack.ready()                       # bring-up (once)
        async with stack.scan(duration=5) as reports:
            async for report in reports: ...
        async with stack.connect(address) as link: ...   # a live bluetrio.Link
        async with stack.advertise(data), stack.accept() as link: ...

Layers (bottom up, declared once in :func:`open_stack`): hci, btm, l2cap, app. HCI events go
from hci to the layer owning each event class, ACL data to L2CAP (or to a stand-in layer
called "l2cap" given in ``extra_layers``), as :mod:`bluetrio.actors.topology` routes them.
L2CAP channels: :meth:`Stack.l2cap_listen` and :meth:`bluetrio.Link.l2cap_connect`.

Bring-up runs at open when ``bring_up=True`` and otherwise on the first :meth:`Stack.ready`
(every high-level method awaits it), so raw HCI use stays possible.

Closing the stack cancels every actor and timer and closes the transport; no task is left
behind. A failure that belongs to no single connection ends the ``async with`` block with a
:class:`~bluetrio.errors.StackError` carrying the flight recorder; a lost transport ends it
with a :class:`~bluetrio.errors.TransportError`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

import attrs
import trio

from bluetrio import arguments, sdp
from bluetrio.actors.app_port import AppPort, Mailbox
from bluetrio.actors.btm.config import SecurityConfig, StackConfig
from bluetrio.actors.btm.core import BtmCore
from bluetrio.actors.btm.le import EXT_DATA_PER_COMMAND
from bluetrio.actors.faults import Direction, FaultPolicy
from bluetrio.actors.gatt.config import GattConfig
from bluetrio.actors.gatt.core import GattCore
from bluetrio.actors.gatt.gap_service import GapServiceConfig
from bluetrio.actors.hci.core import DEFAULT_COMMAND_TIMEOUT, HciCore
from bluetrio.actors.hci.shell import HciActor
from bluetrio.actors.l2cap.core import L2capCore
from bluetrio.actors.rfcomm.core import RfcommCore
from bluetrio.actors.runtime import (
    DEFAULT_FLIGHT_RECORDER_SIZE,
    Actor,
    Runtime,
    raise_single_error,
)
from bluetrio.actors.sdp.core import SdpCore
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.core import SmpCore
from bluetrio.actors.topology import Layer
from bluetrio.address import Address
from bluetrio.bonds import distributed_irk
from bluetrio.errors import (
    BluetrioError,
    ConnectionFailedError,
    ConnectionTimeoutError,
    ControllerNotReadyError,
    HciError,
    HciTimeout,
    InvalidArgumentError,
    UnsupportedFeatureError,
)
from bluetrio.fixed_channels import FixedChannelRegistry
from bluetrio.gatt.links import GattClients
from bluetrio.gatt.port import AttBearerRegistry
from bluetrio.gatt.server_api import GattServerApi
from bluetrio.keystore import KeyStore, MemoryKeyStore
from bluetrio.l2cap import (
    DEFAULT_CREDIT_MPS,
    RECEIVE_LIMIT,
    ChannelRegistry,
    L2capListener,
    check_channel_arguments,
    check_credit_arguments,
)
from bluetrio.link import (
    DISCONNECT_REASONS,
    DISCONNECT_TIMEOUT,
    FEATURES_TIMEOUT,
    REMOTE_USER_TERMINATED,
    IncomingLinks,
    Link,
    LinkRegistry,
)
from bluetrio.messages import hci
from bluetrio.messages.ad import LEGACY_DATA_LIMIT, AdvertisingData
from bluetrio.messages.base import Message
from bluetrio.messages.btm import (
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
    InquiryCancelReq,
    InquiryCnf,
    InquiryReq,
    InquiryResult,
    InquiryResultInd,
    LeConnectionParameters,
    LinkTransport,
    LoadBondsReq,
    ReadRemoteFeaturesReq,
    RemoteFeaturesCnf,
    RemoteNameCancelReq,
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
from bluetrio.messages.btm_security import IoCapability, PairCnf, PairReq, SecurityRequirement
from bluetrio.messages.controller_info import ControllerInfo
from bluetrio.messages.hci_service import HciCommandCnf, HciCommandReq, HciEventInd
from bluetrio.messages.l2cap import DEFAULT_BR_EDR_MTU, ChannelMode
from bluetrio.messages.l2cap_credit_service import CreditMode
from bluetrio.messages.l2cap_service import ModePolicy
from bluetrio.messages.rfcomm import MAX_FRAME_SIZE
from bluetrio.messages.sdp import ALL_ATTRIBUTES, AttributeRange
from bluetrio.messages.sdp_records import (
    SERIAL_PORT,
    ServiceRecord,
    UuidLike,
    as_uuid,
    rfcomm_service_record,
    serial_port_record,
)
from bluetrio.pairing import (
    PairingDelegate,
    PairingResult,
    pairing_result,
    serve_pairing_delegate,
)
from bluetrio.rfcomm import (
    CONNECT_TIMEOUT as RFCOMM_CONNECT_TIMEOUT,
)
from bluetrio.rfcomm import (
    RfcommListener,
    RfcommRegistry,
    RfcommStream,
    check_channel,
    check_frame_size,
)
from bluetrio.tracing.recorder import TraceRecorder
from bluetrio.transports import open_transport
from bluetrio.transports.base import Packet, Transport
from bluetrio.transports.spec import TransportSpec
from bluetrio.transports.tap import tapped

if TYPE_CHECKING:
    from bluetrio.tracing.btsnoop import BtsnoopWriter

logger = logging.getLogger(__name__)

# Makes the key store once the controller's address is known, e.g.
# ``lambda address: JsonKeyStore.in_directory(directory, address)``.
KeyStoreFactory: TypeAlias = Callable[[Address], KeyStore]


class _StackTap:
    """Applies transport faults, then records what crossed the transport as btsnoop."""

    def __init__(self, faults: FaultPolicy | None, snoop: BtsnoopWriter | None) -> None:
        self.faults = faults
        self.snoop = snoop

    def _pass(self, packet: Packet, direction: Direction, received: bool) -> list[Packet]:
        packets = [packet]
        if self.faults is not None:
            packets = self.faults.filter_packet(direction, packet)
        if self.snoop is not None:
            for packet_type, payload in packets:
                self.snoop.write(packet_type, payload, received=received)
        return packets

    def on_host_to_controller(self, packet: Packet) -> list[Packet]:
        return self._pass(packet, "to_controller", received=False)

    def on_controller_to_host(self, packet: Packet) -> list[Packet]:
        return self._pass(packet, "to_host", received=True)


DEFAULT_CONNECTION_PARAMETERS = LeConnectionParameters()
# After the device manager's own connect timer fired, the cancellation it sends needs the
# controller's answer; the caller waits this much longer at most (Core 5.4 Vol 4 Part E
# 7.8.13: LE_Create_Connection_Cancel answers with Command Complete, then the Connection
# Complete of the cancelled attempt).
CONNECT_CANCEL_GRACE = 1.0
# Bound of every shielded clean-up that waits for the controller (stopping a scan or an
# advertisement, cancelling a connection): a controller that does not answer is logged and
# the application goes on.
CLEANUP_TIMEOUT = 2.0
# Reports waiting in a scan's mailbox; when a reader falls behind, the oldest go first.
SCAN_BACKLOG = 1024
# Raw HCI events waiting in an events() mailbox; the oldest go first at the bound.
EVENTS_BACKLOG = 4096
MAX_CONNECTION_HANDLE = 0x0EFF  # Vol 4 Part E 5.4.2
MAX_INQUIRY_DURATION = 61.44  # Inquiry_Length 0x30 (Vol 4 Part E 7.1.1)
CONNECTION_ACCEPT_TIMEOUT = 0x10  # Connection Accept Timeout Exceeded (Vol 1 Part F 1.3)
CONNECTION_TIMEOUT = 0x08  # Connection Timeout (Vol 1 Part F 1.3)
UNKNOWN_CONNECTION_ID = 0x02

CommandAnswer = hci.CommandComplete | hci.CommandStatus


BRINGUP_ANSWER_MARGIN = 5.0  # seconds
# The device manager confirms loaded bonds itself, without the controller: only a lost
# message delays the answer, and bring-up fails rather than wait for it forever.
BONDS_ANSWER_TIMEOUT = 5.0  # seconds


class Stack:
    """A running host stack: the runtime, its actors, the application's port, and the live
    links (:class:`~bluetrio.link.Link`). Made by :func:`open_stack`."""

    def __init__(
        self,
        runtime: Runtime,
        app: AppPort,
        hci: HciCore,
        btm: BtmCore | None = None,
        keystore: KeyStore | KeyStoreFactory | None = None,
        pairing_delegate: PairingDelegate | None = None,
        l2cap: L2capCore | None = None,
    ) -> None:
        self.runtime = runtime
        self.l2cap = l2cap
        self.app = app
        self.hci = hci
        self.btm = btm
        self.keystore: KeyStore | None = keystore if isinstance(keystore, KeyStore) else None
        self._keystore_factory = keystore if not isinstance(keystore, KeyStore) else None
        self.pairing_delegate = pairing_delegate
        self._registry = LinkRegistry(self, app)
        self.channels = ChannelRegistry(self, app)
        self.fixed_channels = FixedChannelRegistry(app)
        self.rfcomm = RfcommRegistry(app, self._registry.get)
        self.att = AttBearerRegistry(app)
        self.gatt_server = GattServerApi(app)
        self.gatt_clients = GattClients(self, app)
        app.when_closed(self._registry.close)
        self._pairing_served = False
        self._info: ControllerInfo | None = None
        self._failure: str | None = None
        self._ready = trio.Event()
        self._bringup_answered = trio.Event()  # the device manager said how bring-up ended
        self._bringup_started = False
        self._event_readers = 0

    # -- raw HCI -----------------------------------------------------------------------------
    async def command(
        self, command: hci.HciCommand, *, timeout: float | None = None
    ) -> CommandAnswer:
        """Send one HCI command and return its Command Complete (or Command Status) event.

        Raises :class:`HciError` when the controller answers with a non-zero status and
        :class:`HciTimeout` when it does not answer within ``timeout`` seconds (the HCI
        actor's ``command_timeout`` when None).
        """
        arguments.instance("command", command, hci.HciCommand)
        timeout = arguments.optional_seconds("timeout", timeout)
        token = self.runtime.new_token()
        reply = await self.app.request(Layer.HCI, HciCommandReq(token, command, timeout))
        assert isinstance(reply, HciCommandCnf)
        name = command.NAME
        event = reply.event
        if event is None:
            if reply.timed_out:
                raise HciTimeout(f"{name}: {reply.error}")
            raise HciError(0x1F, f"{name}: {reply.error}")
        assert isinstance(event, hci.CommandComplete | hci.CommandStatus)
        status = event.status
        if status:
            raise HciError(status, f"{name} failed")
        return event

    def events(
        self, predicate: Callable[[hci.HciEvent], bool] | None = None
    ) -> Mailbox[HciEventInd]:
        """A mailbox of the HCI events the stack passes up (those ``predicate`` accepts).

        Close it (``with stack.events() as events:``, or ``events.close()``) to stop
        receiving. It holds the newest :data:`EVENTS_BACKLOG` events unread; older ones are
        discarded and counted in ``dropped``.
        """
        if predicate is not None and not callable(predicate):
            raise InvalidArgumentError(f"predicate must be callable, got {predicate!r}")

        def accepts(message: HciEventInd) -> bool:
            event = message.event
            return predicate is None or (isinstance(event, hci.HciEvent) and predicate(event))

        box = self.app.open_mailbox(
            HciEventInd, capacity=EVENTS_BACKLOG, accepts=accepts, on_close=self._events_closed
        )
        # Copies of the events reach the app only while someone reads them.
        self._event_readers += 1
        self.runtime.topology.observe(Layer.APP, HciEventInd, True)
        return box

    def _events_closed(self, box: Mailbox[HciEventInd]) -> None:
        self._event_readers -= 1
        if self._event_readers == 0:
            self.runtime.topology.observe(Layer.APP, HciEventInd, False)

    # -- bring-up ------------------------------------------------------------------------------
    async def _watch_controller(self, task_status: trio.TaskStatus[None]) -> None:
        updates = self.app.open_mailbox(ControllerReadyInd, ControllerFailedInd)
        # The pairing service lives as long as this watcher, so closing the stack ends it.
        with updates:
            async with trio.open_nursery() as services:
                task_status.started()
                async for update in updates:
                    self._bringup_answered.set()
                    if isinstance(update, ControllerReadyInd):
                        self._info, self._failure = update.info, None
                        failure = await self._load_bonds(update.info.address)
                        if failure is None:
                            await self._serve_pairing(services, update.info.address)
                        else:
                            self._info, self._failure = None, failure
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

    async def _load_bonds(self, local_address: Address) -> str | None:
        """Give the device manager the key store's bonds; the reason it failed, or None."""
        if self.keystore is None and self._keystore_factory is not None:
            self.keystore = self._keystore_factory(local_address)
        if self.keystore is None:
            return None
        bonds = await self.keystore.list()
        peers = tuple(
            BondedPeer(bond.peer_address, bond.peer_keys.irk, bond.peer_link_address)
            for bond in bonds
        )
        request = LoadBondsReq(self.runtime.new_token(), peers, distributed_irk(bonds))
        with trio.move_on_after(BONDS_ANSWER_TIMEOUT):
            await self._btm_request(request)
            return None
        return (
            f"bring-up: the device manager did not confirm loading {len(peers)} bond(s) "
            f"within {BONDS_ANSWER_TIMEOUT:g} s"
        )

    def start_bringup(self) -> None:
        if self.btm is None:
            raise ControllerNotReadyError("this stack has no device manager")
        if not self._bringup_started:
            self._bringup_started = True
            self.app.send(BtmCore.name, StartBringUpReq())

    async def ready(self) -> ControllerInfo:
        """Bring the controller up (once) and return what it is.

        Raises :class:`ControllerNotReadyError` naming the step that failed, at the latest
        ``StackConfig.bringup_timeout`` seconds (and a margin) after bring-up started.
        """
        self.start_bringup()
        assert self.btm is not None
        # The device manager ends bring-up itself at its deadline; this margin only covers a
        # lost answer between it and this task.
        with trio.move_on_after(self.btm.config.bringup_timeout + BRINGUP_ANSWER_MARGIN):
            await self._bringup_answered.wait()
        if not self._bringup_answered.is_set():
            raise ControllerNotReadyError(
                f"bring-up gave no answer ({self.btm.bringup_step}, but the application "
                "was not told)"
            )
        # Then the bonds are loaded from the key store (local I/O, not the controller).
        await self._ready.wait()
        if self._info is None:
            raise ControllerNotReadyError(self._failure or "bring-up failed")
        return self._info

    @property
    def controller_info(self) -> ControllerInfo | None:
        return self._info

    @property
    def links(self) -> tuple[Link, ...]:
        """The links up right now, as the application sees them."""
        return self._registry.all()

    # -- requests to BTM -----------------------------------------------------------------------
    async def _btm_request(self, message: Message) -> Message:
        return await self.app.request(BtmCore.name, message)

    async def _btm_checked(self, message: Message, what: str) -> None:
        await self.ready()
        reply = await self._btm_request(message)
        assert isinstance(reply, BtmCnf)
        if reply.timed_out:
            raise HciTimeout(f"{what}: {reply.error}")
        if reply.status:
            raise HciError(reply.status, f"{what}: {reply.error}")

    async def _clean_up(self, message: Message, what: str) -> None:
        """Send a clean-up request, shielded from cancellation but bounded by
        :data:`CLEANUP_TIMEOUT`; a failure or a closed stack is logged, not raised."""
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + CLEANUP_TIMEOUT
            try:
                await self._btm_checked(message, what)
            except BluetrioError as error:
                logger.info("%s: %s", what, error)
        if scope.cancelled_caught:
            logger.warning("%s: no answer within %g s", what, CLEANUP_TIMEOUT)

    @contextlib.asynccontextmanager
    async def advertise(
        self,
        data: AdvertisingData = AdvertisingData.EMPTY,
        *,
        scan_response: AdvertisingData | None = None,
        connectable: bool = True,
        scannable: bool | None = None,
        extended: bool = False,
    ) -> AsyncIterator[None]:
        """Advertise ``data`` while the block runs. A central that connects is an incoming
        link: take it with :meth:`accept` or :meth:`incoming`.

        ``scannable`` defaults to what the PDU type allows: legacy connectable advertising is
        always scannable (ADV_IND), extended advertising is never both connectable and
        scannable (Vol 4 Part E 7.8.53).
        """
        data = arguments.instance("data", data, AdvertisingData)
        scan_response = arguments.optional_instance("scan_response", scan_response, AdvertisingData)
        connectable = arguments.flag("connectable", connectable)
        extended = arguments.flag("extended", extended)
        if scannable is None:
            scannable = not (extended and connectable)
        scannable = arguments.flag("scannable", scannable)
        if connectable and not scannable and not extended:
            raise InvalidArgumentError(
                "legacy connectable advertising is always scannable (ADV_IND); pass "
                "scannable=True or extended=True"
            )
        if extended and connectable and scannable:
            raise InvalidArgumentError(
                "extended advertising is not both connectable and scannable "
                "(Vol 4 Part E 7.8.53); pass scannable=False or connectable=False"
            )
        # What one advertising command carries (Vol 4 Part E 7.8.7, 7.8.54): checked here so
        # that data too long is refused in the caller, not inside the device manager.
        limit = EXT_DATA_PER_COMMAND if extended else LEGACY_DATA_LIMIT
        for name, value in (("data", data), ("scan_response", scan_response)):
            if value is not None:
                try:
                    value.encode(limit)
                except InvalidArgumentError as error:
                    kind = "extended" if extended else "legacy"
                    raise InvalidArgumentError(f"{name} ({kind} advertising): {error}") from None
        if extended and not (await self.ready()).le_extended_commands:
            # Its legacy commands once used, the controller refuses the extended ones until
            # HCI_Reset (Vol 4 Part E 3.1.1), so btm chose the legacy family at bring-up.
            raise UnsupportedFeatureError(
                "advertise(extended=True): the controller does not take the extended LE "
                "commands (Vol 4 Part E 7.8.53, 7.8.64, 7.8.66)"
            )
        parameters = AdvertisingParameters(
            data, scan_response, connectable, scannable, extended=extended
        )
        await self._btm_checked(AdvertiseReq(self.runtime.new_token(), parameters), "advertise")
        try:
            yield
        finally:
            await self._clean_up(AdvertiseStopReq(self.runtime.new_token()), "stop advertising")

    @contextlib.asynccontextmanager
    async def l2cap_listen(
        self,
        psm: int | None = None,
        *,
        spsm: int | None = None,
        transport: LinkTransport | None = None,
        security: SecurityRequirement | None = None,
        mtu: int = DEFAULT_BR_EDR_MTU,
        mode: ChannelMode = ChannelMode.BASIC,
        mode_policy: ModePolicy = ModePolicy.FALL_BACK_TO_BASIC,
        receive_limit: int = RECEIVE_LIMIT,
        mps: int = DEFAULT_CREDIT_MPS,
        credits: int = 0,
    ) -> AsyncIterator[L2capListener]:
        """Accept L2CAP channels that peers open to ``psm``: a
        :class:`trio.abc.Listener` of :class:`~bluetrio.l2cap.L2capChannel`, usable with
        :func:`trio.serve_listeners`. A peer's request is accepted once its link meets
        ``security`` (btm authenticates, pairs and encrypts as needed; the peer is told
        "pending" meanwhile) and refused with "security block" when it cannot.
        ``mode``: basic, ``ChannelMode.ERTM`` or ``ChannelMode.STREAMING`` (a peer without it
        gets basic mode with ``mode_policy`` FALL_BACK_TO_BASIC, a refusal with REQUIRE).
        ``receive_limit``: octets each channel holds for the application before it breaks
        (basic and streaming mode have no flow control, see :mod:`bluetrio.l2cap`). Raises
        :class:`~bluetrio.errors.L2capConnectionRefused` when the PSM is taken.

        With ``spsm`` instead of ``psm`` it accepts credit-based channels (on LE, by default:
        LE credit-based and enhanced credit-based; on BR/EDR, enhanced): ``mtu``/``mps`` what
        we receive, ``credits`` the receive window granted. A link short of ``security`` is
        refused with the spec's result (insufficient authentication, encryption, key size)."""
        if spsm is not None:
            if psm is not None:
                raise InvalidArgumentError("give a psm or an spsm, not both")
            on = arguments.instance("transport", transport or LinkTransport.LE, LinkTransport)
            limits = (
                CreditMode.LE_CREDIT_BASED
                if on is LinkTransport.LE
                else CreditMode.ENHANCED_CREDIT_BASED
            )
            spsm, mtu, mps, credits = check_credit_arguments(spsm, on, limits, mtu, mps, credits)
            security = arguments.optional_instance("security", security, SecurityRequirement)
            await self.ready()
            async with self.channels.listen_credit(
                spsm, on, security, mtu, mps, credits
            ) as credit_listener:
                yield credit_listener
            return
        if psm is None:
            raise InvalidArgumentError("give the psm (or the spsm) to listen on")
        psm, mtu = check_channel_arguments(psm, mtu)
        transport = arguments.instance(
            "transport", transport or LinkTransport.BR_EDR, LinkTransport
        )
        security = arguments.optional_instance("security", security, SecurityRequirement)
        mode = arguments.instance("mode", mode, ChannelMode)
        mode_policy = arguments.instance("mode_policy", mode_policy, ModePolicy)
        receive_limit = arguments.integer("receive_limit", receive_limit, 1, 1 << 40)
        await self.ready()
        async with self.channels.listen(
            psm, transport, security, mtu, mode, mode_policy, receive_limit
        ) as listener:
            yield listener

    # -- SDP (bluetrio/sdp.py) -----------------------------------------------------------------
    async def sdp_search(
        self,
        address: Address | str,
        uuid: UuidLike,
        *,
        attribute_ids: tuple[AttributeRange | int, ...] = ALL_ATTRIBUTES,
        timeout: float = sdp.DEFAULT_SEARCH_TIMEOUT,
    ) -> tuple[ServiceRecord, ...]:
        """The service records of the peer at ``address`` that mention ``uuid`` (a 16/32-bit
        assigned number, a UUID or its string), with their ``attribute_ids`` (all by default),
        searched over the BR/EDR link to it (one is opened for the search when there is none).
        Raises :class:`~bluetrio.errors.SdpTimeout`, :class:`~bluetrio.errors.SdpErrorResponse`
        or :class:`~bluetrio.errors.SdpError`."""
        return await sdp.search(self, address, uuid, attribute_ids, timeout)

    async def sdp_service_search(
        self,
        address: Address | str,
        uuids: UuidLike | tuple[UuidLike, ...] | list[UuidLike],
        *,
        max_records: int = sdp.MAX_RECORDS,
        timeout: float = sdp.DEFAULT_SEARCH_TIMEOUT,
    ) -> tuple[int, ...]:
        """The ServiceRecordHandles of the peer's records that hold every UUID of ``uuids``
        (one UUID-like value or up to 12), at most ``max_records`` of them (Service Search,
        Core 5.4 Vol 3 Part B 4.5); raises as :meth:`sdp_search` does."""
        return await sdp.service_search(self, address, uuids, max_records, timeout)

    async def sdp_service_attributes(
        self,
        address: Address | str,
        record_handle: int,
        *,
        attribute_ids: tuple[AttributeRange | int, ...] = ALL_ATTRIBUTES,
        timeout: float = sdp.DEFAULT_SEARCH_TIMEOUT,
    ) -> ServiceRecord:
        """The attributes ``attribute_ids`` (IDs or :class:`AttributeRange`, all by default)
        of the peer's record at ``record_handle`` (Service Attribute, Vol 3 Part B 4.6); an
        unknown handle raises :class:`~bluetrio.errors.SdpErrorResponse` with code 0x0002."""
        return await sdp.service_attributes(self, address, record_handle, attribute_ids, timeout)

    async def sdp_find_rfcomm_channel(
        self, address: Address | str, uuid: UuidLike, *, timeout: float = sdp.DEFAULT_SEARCH_TIMEOUT
    ) -> int:
        """The RFCOMM server channel of the peer's service ``uuid``; raises
        :class:`~bluetrio.errors.ServiceNotFound` when no record gives one."""
        return await sdp.rfcomm_channel(self, address, uuid, timeout)

    def sdp_register(self, record: ServiceRecord) -> contextlib.AbstractAsyncContextManager[int]:
        """``async with stack.sdp_register(record) as handle:`` publishes ``record`` (see
        :mod:`bluetrio.messages.sdp_records` for builders) in our SDP server while the block
        runs, under ServiceRecordHandle ``handle``."""
        return sdp.register(self, record)

    async def rfcomm_connect(
        self,
        address: Address | str,
        *,
        channel: int | None = None,
        uuid: UuidLike | None = None,
        frame_size: int = MAX_FRAME_SIZE,
        timeout: float = RFCOMM_CONNECT_TIMEOUT,
    ) -> RfcommStream:
        """Open an RFCOMM DLC to server ``channel`` (1-30) of the device at ``address``, or
        to the channel its SDP record for service ``uuid`` gives, and return it as a stream
        (see :mod:`bluetrio.rfcomm`). The BR/EDR link to it is used if there is one, or
        opened, and then closed with the last stream that needed it; the multiplexer is
        opened on it when there is none (RFCOMM 1.2 5.2).
        ``frame_size``: the largest frame we propose (N1); the L2CAP MTUs and the peer may
        lower it (``stream.frame_size`` says what was agreed).
        Raises :class:`~bluetrio.errors.RfcommError` with the reason (the peer's DM, no answer
        within T1/T2, the L2CAP channel refused), :class:`~bluetrio.errors.ServiceNotFound`
        when no record gives ``uuid`` a channel, :class:`trio.TooSlowError` after ``timeout``
        seconds."""
        address = arguments.address("address", address)
        if (channel is None) == (uuid is None):
            raise InvalidArgumentError("give the channel or the uuid of the service")
        service = None if uuid is None else as_uuid(uuid)
        if channel is not None:
            channel = check_channel(channel)
        frame_size = check_frame_size(frame_size)
        timeout = arguments.seconds("timeout", timeout)
        await self.ready()
        link = next(
            (
                up
                for up in self.links
                if up.peer == address and up.transport is LinkTransport.BR_EDR and up.connected
            ),
            None,
        )
        ours = link is None or self.rfcomm.opened_by_us(link.handle)
        if link is None:
            link = await self.open_link(address, transport=LinkTransport.BR_EDR)
        if ours:
            self.rfcomm.use_link(link)
        try:
            if service is not None:
                channel = await self.sdp_find_rfcomm_channel(address, service)
            assert channel is not None
            stream = await self.rfcomm.connect(
                link.handle, channel, frame_size=frame_size, timeout=timeout
            )
        except BaseException:
            if ours:
                await self.rfcomm.release_link(link)
            raise
        if ours:
            stream.link = link
        return stream

    @contextlib.asynccontextmanager
    async def rfcomm_listen(
        self,
        *,
        uuid: UuidLike | None = None,
        name: str | None = None,
        channel: int | None = None,
        security: SecurityRequirement | None = None,
    ) -> AsyncIterator[RfcommListener]:
        """Accept RFCOMM DLCs that peers open to server ``channel`` (the lowest free one when
        None; ``listener.channel`` says which): a :class:`trio.abc.Listener` of
        :class:`~bluetrio.rfcomm.RfcommStream`. With ``uuid``, the service is published in
        our SDP server while the block runs (service class ``uuid``, named ``name``; the
        Serial Port Profile's record for 0x1101), so peers find the channel by SDP. A DLC
        opens once its link meets ``security`` (btm authenticates, pairs and encrypts as
        needed) and is refused with DM when it cannot. Raises
        :class:`~bluetrio.errors.RfcommError` when the channel is taken."""
        if channel is not None:
            channel = check_channel(channel)
        service = None if uuid is None else as_uuid(uuid)
        if name is not None and not isinstance(name, str):
            raise InvalidArgumentError(f"name: expected a str, got {name!r}")
        if name is not None and service is None:
            raise InvalidArgumentError("a name is published with the service's uuid: give both")
        security = arguments.optional_instance("security", security, SecurityRequirement)
        await self.ready()
        async with self.rfcomm.listen(channel or 0, security) as listener:
            if service is None:
                yield listener
                return
            if service == SERIAL_PORT:
                record = serial_port_record(listener.channel, name or "Serial Port")
            else:
                record = rfcomm_service_record(service, name or "RFCOMM", listener.channel)
            async with self.sdp_register(record):
                yield listener

    @contextlib.asynccontextmanager
    async def scan(
        self,
        duration: float | None = None,
        *,
        active: bool = False,
        filter_duplicates: bool = True,
    ) -> AsyncIterator[ScanReports]:
        """Scan LE while the block runs; iterate the reports for ``duration`` seconds
        (forever when None)::

            async with stack.scan(5) as reports:
                async for report in reports:
                    ...

        The controller stops scanning when the block ends, however it ends.
        """
        duration = arguments.optional_seconds("duration", duration)
        active = arguments.flag("active", active)
        filter_duplicates = arguments.flag("filter_duplicates", filter_duplicates)
        await self.ready()
        with self.app.open_mailbox(ScanReportInd, capacity=SCAN_BACKLOG) as mailbox:
            request = ScanReq(self.runtime.new_token(), active, filter_duplicates)
            await self._btm_checked(request, "scan")
            deadline = trio.current_time() + (math.inf if duration is None else duration)
            try:
                yield ScanReports(mailbox, deadline)
            finally:
                await self._clean_up(ScanStopReq(self.runtime.new_token()), "stop scan")

    @contextlib.asynccontextmanager
    async def connect(
        self,
        address: Address | str,
        *,
        transport: LinkTransport | None = None,
        timeout: float = 10.0,
        parameters: LeConnectionParameters = DEFAULT_CONNECTION_PARAMETERS,
    ) -> AsyncIterator[Link]:
        """Connect (LE unless ``transport`` is BR/EDR); disconnect when the block ends.

        Raises :class:`ConnectionTimeoutError` when no connection is made within
        ``timeout`` seconds (the attempt is cancelled; the call returns at the latest
        :data:`CONNECT_CANCEL_GRACE` later, even if the controller never confirms the
        cancellation), :class:`ConnectionFailedError` when the attempt fails.
        """
        link = await self.open_link(
            address, transport=transport, timeout=timeout, parameters=parameters
        )
        async with link:
            yield link

    async def open_link(
        self,
        address: Address | str,
        *,
        transport: LinkTransport | None = None,
        timeout: float = 10.0,
        parameters: LeConnectionParameters = DEFAULT_CONNECTION_PARAMETERS,
    ) -> Link:
        """Connect like :meth:`connect`, and hand the link to the caller, who disconnects it
        (``async with link:`` or ``await link.disconnect()``)."""
        address = arguments.address("address", address)
        transport = arguments.optional_instance("transport", transport, LinkTransport)
        timeout = arguments.seconds("timeout", timeout)
        parameters = arguments.instance("parameters", parameters, LeConnectionParameters)
        await self.ready()
        chosen = transport if transport is not None else LinkTransport.LE
        request = ConnectReq(self.runtime.new_token(), address, chosen, timeout, parameters)
        settled = trio.Event()

        def abandoned(late: Message) -> None:
            """The caller gave up: drop a link that won the race."""
            settled.set()
            if isinstance(late, ConnectCnf) and late.link is not None:
                logger.info("connection to %s came after it was abandoned; dropping it", address)
                handle = late.link.handle
                self.app.send(BtmCore.name, DisconnectReq(self.runtime.new_token(), handle))

        reply: Message | None = None
        try:
            with trio.move_on_after(timeout + CONNECT_CANCEL_GRACE):
                reply = await self.app.request(BtmCore.name, request, if_abandoned=abandoned)
        except trio.Cancelled:
            await self._cancel_connect(address, settled, wait=True)
            raise
        if reply is None:
            await self._cancel_connect(address, settled, wait=False)
            raise ConnectionTimeoutError(
                CONNECTION_TIMEOUT,
                f"connecting to {address}: no connection within {timeout:g} s, and the "
                "controller did not confirm the cancellation",
            )
        assert isinstance(reply, ConnectCnf)
        if reply.link is None:
            what = f"connecting to {address}: {reply.error}"
            if reply.status == CONNECTION_TIMEOUT:
                raise ConnectionTimeoutError(reply.status, what)
            raise ConnectionFailedError(reply.status, what)
        # LinkUpInd comes before its ConnectCnf, so the registry knows the link (it may be
        # down already when the port handled its LinkDownInd too before this task ran).
        return self._registry.known(reply.link.handle)

    async def _cancel_connect(self, address: Address, settled: trio.Event, *, wait: bool) -> None:
        """Cancel the attempt the caller abandoned. With ``wait``, give the controller
        :data:`CONNECT_CANCEL_GRACE` seconds (shielded) to settle it, so that a new attempt
        right after is not refused as one already in progress."""
        if settled.is_set() or self.runtime.closed:
            return
        self.app.send(BtmCore.name, ConnectCancelReq(self.runtime.new_token(), address))
        if wait:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + CONNECT_CANCEL_GRACE
                await settled.wait()

    # -- incoming links ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def accept(
        self, transport: LinkTransport | None = None, *, timeout: float | None = None
    ) -> AsyncIterator[Link]:
        """Wait for a peer to connect (of ``transport`` when given) and yield the link;
        disconnect it when the block ends. The primary way for a peripheral::

            async with stack.advertise(data), stack.accept() as link:
                await link.wait_disconnected()

        Links that came before the call are taken first, oldest first (a backlog of
        :data:`~bluetrio.link.DEFAULT_BACKLOG`). Raises :class:`ConnectionTimeoutError`
        when nobody connects within ``timeout`` seconds (None: wait as long as it takes).
        """
        link = await self._next_incoming(transport, timeout)
        async with link:
            yield link

    def incoming(self, transport: LinkTransport | None = None) -> IncomingLinks:
        """``async for link in stack.incoming():`` every incoming link as it comes, for a
        server that serves several at once; each link is the caller's to close
        (``async with link:``)."""
        transport = arguments.optional_instance("transport", transport, LinkTransport)
        return IncomingLinks(self._registry, transport)

    async def _next_incoming(self, transport: LinkTransport | None, timeout: float | None) -> Link:
        transport = arguments.optional_instance("transport", transport, LinkTransport)
        timeout = arguments.optional_seconds("timeout", timeout)
        await self.ready()
        with trio.move_on_after(math.inf if timeout is None else timeout):
            return await self._registry.next_incoming(transport)
        raise ConnectionTimeoutError(
            CONNECTION_ACCEPT_TIMEOUT, f"nobody connected within {timeout:g} s"
        )

    # -- link operations -----------------------------------------------------------------------
    @staticmethod
    def check_disconnect_reason(reason: object) -> int:
        reason = arguments.integer("reason", reason, 0, 0xFF)
        if reason not in DISCONNECT_REASONS:
            allowed = ", ".join(f"0x{r:02X}" for r in sorted(DISCONNECT_REASONS))
            raise InvalidArgumentError(
                f"disconnect reason 0x{reason:02X} is not one a host may give ({allowed})"
            )
        return reason

    async def disconnect(
        self,
        handle: int,
        reason: int = REMOTE_USER_TERMINATED,
        *,
        missing_ok: bool = False,
        timeout: float = DISCONNECT_TIMEOUT,
    ) -> None:
        """Disconnect link ``handle`` and wait for the controller to report it down.

        Raises :class:`HciError` (status 0x02) when there is no such link unless
        ``missing_ok``, :class:`HciTimeout` when the disconnection is not reported within
        ``timeout`` seconds.
        """
        handle = arguments.integer("handle", handle, 0, MAX_CONNECTION_HANDLE)
        reason = self.check_disconnect_reason(reason)
        missing_ok = arguments.flag("missing_ok", missing_ok)
        timeout = arguments.seconds("timeout", timeout)
        reply: Message | None = None
        with trio.move_on_after(timeout):
            reply = await self._btm_request(DisconnectReq(self.runtime.new_token(), handle, reason))
        if reply is None:
            raise HciTimeout(
                f"disconnecting 0x{handle:04X}: no Disconnection Complete within {timeout:g} s"
            )
        assert isinstance(reply, BtmCnf)
        if reply.status and not (missing_ok and reply.status == UNKNOWN_CONNECTION_ID):
            raise HciError(reply.status, f"disconnect: {reply.error}")

    async def pair(self, address: Address | str, *, handle: int | None = None) -> PairingResult:
        """Authenticate and encrypt the link to ``address``, pairing first when there is no
        bond (:meth:`Link.pair` does the same for a link in hand): link ``handle`` when
        given, else the BR/EDR link to ``address``, or its LE link when there is none (LE
        pairing is SMP's, Core 5.4 Vol 3 Part H).

        The link must be up (connect first). Raises :class:`PairingError` when pairing,
        authentication or encryption fails, or when the security policy refuses the link
        (key too short, Secure Connections Only, downgrade of a bond).
        """
        address = arguments.address("address", address)
        await self.ready()
        if handle is not None:
            handle = arguments.integer("handle", handle, 0, MAX_CONNECTION_HANDLE)
        reply = await self._btm_request(PairReq(self.runtime.new_token(), address, handle))
        assert isinstance(reply, PairCnf)
        return pairing_result(reply)

    async def read_remote_features(
        self, handle: int, *, timeout: float = FEATURES_TIMEOUT
    ) -> tuple[int, ...]:
        """Read the peer's features on link ``handle``: its LMP feature pages from page 0
        (BR/EDR) or its LE feature mask (LE). The link's ``remote_features`` keeps them.

        Raises :class:`HciError` when the controller refuses, there is no such link or it
        goes down meanwhile, :class:`HciTimeout` when the pages are not all read within
        ``timeout`` seconds.
        """
        handle = arguments.integer("handle", handle, 0, MAX_CONNECTION_HANDLE)
        timeout = arguments.seconds("timeout", timeout)
        await self.ready()
        what = f"reading the remote features of 0x{handle:04X}"
        reply: Message | None = None
        with trio.move_on_after(timeout):
            request = ReadRemoteFeaturesReq(self.runtime.new_token(), handle)
            reply = await self._btm_request(request)
        if reply is None:
            raise HciTimeout(f"{what}: not read within {timeout:g} s")
        assert isinstance(reply, RemoteFeaturesCnf)
        if reply.timed_out:
            raise HciTimeout(f"{what}: {reply.error}")
        if reply.status:
            raise HciError(reply.status, f"{what}: {reply.error}")
        return reply.features

    async def update_connection(self, handle: int, parameters: LeConnectionParameters) -> None:
        handle = arguments.integer("handle", handle, 0, MAX_CONNECTION_HANDLE)
        parameters = arguments.instance("parameters", parameters, LeConnectionParameters)
        await self._btm_checked(
            ConnectionUpdateReq(self.runtime.new_token(), handle, parameters), "connection update"
        )

    # -- BR/EDR discovery ----------------------------------------------------------------------
    async def inquiry(
        self, duration: float = 5.12, *, max_responses: int = 0
    ) -> list[InquiryResult]:
        """BR/EDR devices that answer a general inquiry of ``duration`` seconds (a cancelled
        caller cancels the inquiry)."""
        duration = arguments.seconds("inquiry duration", duration, maximum=MAX_INQUIRY_DURATION)
        max_responses = arguments.integer("max_responses", max_responses, 0, 255)
        await self.ready()
        token = self.runtime.new_token()
        reply: Message | None = None
        try:
            reply = await self._btm_request(InquiryReq(token, duration, max_responses))
        finally:
            if reply is None:
                cancel = InquiryCancelReq(self.runtime.new_token(), token)
                await self._clean_up(cancel, "inquiry cancel")
        assert isinstance(reply, InquiryCnf)
        if reply.timed_out:
            raise HciTimeout(f"inquiry: {reply.error}")
        if reply.status:
            raise HciError(reply.status, f"inquiry: {reply.error}")
        return list(reply.results)

    @contextlib.asynccontextmanager
    async def inquire(
        self, duration: float = 5.12, *, max_responses: int = 0
    ) -> AsyncIterator[InquiryResults]:
        """Run a BR/EDR general inquiry of ``duration`` seconds; iterate the devices as they
        answer (a device again when its Extended Inquiry Response comes later)::

            async with stack.inquire(5.12) as devices:
                async for result in devices:
                    ...

        Iteration ends when the inquiry completes; :meth:`inquiry` waits for the whole list.
        Leaving the block before the inquiry completed (a break, a cancellation) cancels
        it, so a new inquiry can start at once.
        """
        duration = arguments.seconds("inquiry duration", duration, maximum=MAX_INQUIRY_DURATION)
        max_responses = arguments.integer("max_responses", max_responses, 0, 255)
        await self.ready()
        token = self.runtime.new_token()

        def ours(message: Message) -> bool:
            if isinstance(message, InquiryResultInd):
                return message.inquiry == token
            return isinstance(message, InquiryCnf) and message.token == token

        # Results and the completion share one mailbox, so the completion comes after every
        # result, in the order btm sent them.
        with self.app.open_mailbox(
            InquiryResultInd, InquiryCnf, capacity=SCAN_BACKLOG, accepts=ours
        ) as mailbox:
            self.app.send(BtmCore.name, InquiryReq(token, duration, max_responses))
            results = InquiryResults(mailbox)
            try:
                yield results
            finally:
                if not results.ended:
                    cancel = InquiryCancelReq(self.runtime.new_token(), token)
                    await self._clean_up(cancel, "inquiry cancel")

    async def remote_name(self, address: Address | str) -> str:
        address = arguments.address("address", address)
        await self.ready()
        token = self.runtime.new_token()
        try:
            reply = await self._btm_request(RemoteNameReq(token, address))
        except trio.Cancelled:
            # Leaving early must not leave the controller paging for the name (7.1.20).
            cancel = RemoteNameCancelReq(self.runtime.new_token(), token, address)
            await self._clean_up(cancel, "remote name cancel")
            raise
        assert isinstance(reply, RemoteNameCnf)
        if reply.timed_out:
            raise HciTimeout(f"remote name of {address}: {reply.error}")
        if reply.status or reply.name is None:
            raise HciError(reply.status, f"remote name of {address}: {reply.error}")
        return reply.name

    async def set_connection_policy(self, policy: ConnectionPolicy) -> None:
        policy = arguments.instance("policy", policy, ConnectionPolicy)
        await self._btm_checked(
            SetConnectionPolicyReq(self.runtime.new_token(), policy), "connection policy"
        )

    async def set_discoverable(self, discoverable: bool, *, connectable: bool = True) -> None:
        """BR/EDR inquiry scan (``discoverable``) and page scan (``connectable``); a device
        that pages us is an incoming link (:meth:`accept`)."""
        discoverable = arguments.flag("discoverable", discoverable)
        connectable = arguments.flag("connectable", connectable)
        await self._btm_checked(
            SetDiscoverableReq(self.runtime.new_token(), discoverable, connectable), "scan enable"
        )


class ScanReports:
    """The reports of one scan: ``async for report in reports`` until the scan's duration
    ends. Reports the reader has not taken wait in a mailbox of :data:`SCAN_BACKLOG`; when
    the reader falls behind, the oldest are discarded and counted in :attr:`dropped`."""

    def __init__(self, mailbox: Mailbox[ScanReportInd], deadline: float) -> None:
        self._mailbox = mailbox
        self.deadline = deadline

    @property
    def dropped(self) -> int:
        return self._mailbox.dropped

    def __aiter__(self) -> ScanReports:
        return self

    async def __anext__(self) -> ScanReport:
        with trio.move_on_at(self.deadline):
            try:
                return (await self._mailbox.receive()).report
            except trio.EndOfChannel:
                raise StopAsyncIteration from None
        raise StopAsyncIteration


class InquiryResults:
    """The devices of one inquiry as they answer: ``async for result in results`` until the
    inquiry completes; raises :class:`HciError` when the controller refuses or ends it with
    an error, :class:`HciTimeout` when it never reports the end."""

    def __init__(self, mailbox: Mailbox[Message]) -> None:
        self._mailbox = mailbox
        self._done = False

    @property
    def ended(self) -> bool:
        """Whether the inquiry's end (its completion or failure) was read."""
        return self._done

    def __aiter__(self) -> InquiryResults:
        return self

    async def __anext__(self) -> InquiryResult:
        if self._done:
            raise StopAsyncIteration
        try:
            message = await self._mailbox.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
        if isinstance(message, InquiryResultInd):
            return message.result
        self._done = True
        assert isinstance(message, InquiryCnf)
        if message.timed_out:
            raise HciTimeout(f"inquiry: {message.error}")
        if message.status:
            raise HciError(message.status, f"inquiry: {message.error or 'failed'}")
        raise StopAsyncIteration


def smp_config(config: StackConfig, delegate: PairingDelegate | None) -> SmpConfig:
    """What the Security Manager offers and requires, from the stack's security policy and
    the pairing delegate's abilities (as btm takes them for BR/EDR)."""
    security = config.security
    return SmpConfig(
        io_capability=IoCapability(delegate.io_capability)
        if delegate is not None
        else IoCapability.NO_INPUT_NO_OUTPUT,
        pairable=security.pairable,
        min_key_size=security.min_encryption_key_size,
        secure_connections_only=security.secure_connections_only,
        oob_available=delegate is not None and delegate.provides_oob_data,
        derive_link_key=security.cross_transport_key_derivation,
        derive_le_keys=security.cross_transport_key_derivation,
        keypress=delegate is not None and delegate.uses_keypresses,
    )


def gap_config(config: StackConfig) -> GapServiceConfig:
    """The GAP service's values (Core 5.4 Vol 3 Part C 12) from the stack's configuration:
    its Device Name is the local name."""
    return GapServiceConfig(device_name=config.local_name or "")


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
    keystore: KeyStore | KeyStoreFactory | None = None,
    pairing_delegate: PairingDelegate | None = None,
    pairable: bool | None = None,
    address: Address | str | None = None,
    bring_up: bool = False,
    extra_layers: Sequence[Actor] = (),
    gatt: GattConfig | None = None,
) -> AsyncIterator[Stack]:
    """Open a transport (a spec such as ``"virtual"``, ``"usb:0"``, ``"tcp:127.0.0.1:6402"``,
    or an open :class:`Transport`) and run a stack on it.

    ``snoop``: write every HCI packet, both directions, to this btsnoop file.
    ``trace``: record every inter-actor message (a path to save JSON Lines to on close, or a
    :class:`TraceRecorder` to fill). ``faults``: a :class:`FaultPolicy` to inject faults.
    ``command_timeout``: seconds an HCI command may wait for its answer.
    ``config``: bring-up and device-manager settings; ``pairable`` overrides its security
    part. ``keystore`` (a :class:`~bluetrio.keystore.KeyStore`, or a function making one from
    the controller's address) and ``pairing_delegate`` (a
    :class:`~bluetrio.pairing.PairingDelegate`): with either, the stack serves them after
    bring-up (prompts answered, bonds saved; without a key store, bonds live in a
    :class:`~bluetrio.keystore.MemoryKeyStore`).
    ``address``: the public address (BD_ADDR) to give the controller at bring-up, so a host
    keeps its identity, and its bonds, across runs on a controller that would otherwise
    assign another (``bluetrio controller --listen``); it is written with the vendor
    Write_BD_ADDR command (opcode 0xFC06, as in Zephyr), and bring-up fails with
    :class:`~bluetrio.errors.ControllerNotReadyError` on a controller that refuses it.
    ``bring_up``: run bring-up before yielding.
    ``gatt``: the gatt actor's settings (:class:`~bluetrio.actors.gatt.config.GattConfig`:
    the receive MTU, the enhanced bearers to open, the application's deadline).
    ``extra_layers``: actors stacked between btm and the application (a layer under
    development, a test's or a bench's stand-in); their declarations are checked with the
    others' when the stack starts.

    Every argument is checked before anything is opened: a bad one raises
    :class:`~bluetrio.errors.InvalidArgumentError`.
    """
    if not (snoop is None or isinstance(snoop, str | os.PathLike)):
        raise InvalidArgumentError(f"snoop must be a path, got {snoop!r}")
    if not (trace is None or isinstance(trace, str | os.PathLike | TraceRecorder)):
        raise InvalidArgumentError(f"trace must be a path or a TraceRecorder, got {trace!r}")
    if not isinstance(transport, str | TransportSpec | Transport):
        raise InvalidArgumentError(
            f"transport must be a spec such as 'virtual' or 'usb:0', or a Transport; "
            f"got {transport!r}"
        )
    faults = arguments.optional_instance("faults", faults, FaultPolicy)
    command_timeout = arguments.seconds("command_timeout", command_timeout)
    flight_recorder_size = arguments.integer(
        "flight_recorder_size", flight_recorder_size, 1, 1 << 20
    )
    config = arguments.optional_instance("config", config, StackConfig)
    if keystore is not None and not (isinstance(keystore, KeyStore) or callable(keystore)):
        raise InvalidArgumentError(
            f"keystore must be a KeyStore or a function of the local address, got {keystore!r}"
        )
    pairing_delegate = arguments.optional_instance(
        "pairing_delegate", pairing_delegate, PairingDelegate
    )
    if pairable is not None:
        pairable = arguments.flag("pairable", pairable)
    bring_up = arguments.flag("bring_up", bring_up)
    extra_layers = tuple(arguments.instance("extra layer", a, Actor) for a in extra_layers)
    gatt = arguments.optional_instance("gatt", gatt, GattConfig)
    config = config or StackConfig()
    if address is not None:
        public = arguments.address("address", address)
        config = attrs.evolve(config, public_address=public)
    if pairable is not None:
        config = attrs.evolve(config, security=attrs.evolve(config.security, pairable=pairable))
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
        hci_core = HciCore(command_timeout=command_timeout)
        # An extra layer called "l2cap" or "smp" (a bench's or a test's stand-in) takes that
        # layer's place; SMP runs on L2CAP's fixed channel, so a stand-in L2CAP has none.
        replaced = any(layer.name == Layer.L2CAP for layer in extra_layers)
        smp_replaced = any(layer.name == Layer.SMP for layer in extra_layers)
        smp_core = None
        if not (replaced or smp_replaced) and config.le:
            smp_core = SmpCore(smp_config(config, pairing_delegate))
        # btm serves SMP (LE pairing) whenever the stack runs one.
        btm_core = BtmCore(config, smp=smp_replaced or smp_core is not None)
        app = AppPort()
        # The stack's layers, bottom up, one line each. Each core declares what it handles,
        # subscribes to, owns and emits; the runtime checks that the declarations fit together
        # when it starts and routes from them (bluetrio.actors.topology).
        l2cap_core = None if replaced else L2capCore()
        # SDP and RFCOMM run over our L2CAP; an extra layer called "sdp" takes SDP's place.
        without_sdp = replaced or any(layer.name == Layer.SDP for layer in extra_layers)
        # ATT and GATT run on LE links over our L2CAP; an extra layer called "gatt" takes
        # the gatt actor's place.
        gatt_replaced = any(layer.name == Layer.GATT for layer in extra_layers)
        with_gatt = not (replaced or gatt_replaced) and config.le and config.gatt
        layers = (
            HciActor(hci_core, tapped(opened, tap)),
            Actor(btm_core),
            *(() if l2cap_core is None else (Actor(l2cap_core), Actor(RfcommCore()))),
            *(() if smp_core is None else (Actor(smp_core),)),
            *(() if without_sdp else (Actor(SdpCore()),)),
            *((Actor(GattCore(gatt, gap=gap_config(config))),) if with_gatt else ()),
            *extra_layers,
            app,
        )
        for layer in layers:
            runtime.add(layer)
        stack = Stack(runtime, app, hci_core, btm_core, keystore, pairing_delegate, l2cap_core)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(runtime.run)
                await nursery.start(stack._watch_controller)
                await nursery.start(stack.gatt_server.serve)
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


__all__ = ["KeyStoreFactory", "ScanReports", "SecurityConfig", "Stack", "StackConfig", "open_stack"]
