"""The application's GATT server: ``stack.gatt_server`` (Core 5.4 Vol 3 Part G).

It adds and removes the application's services (the gatt actor's database places them and
answers every request it can alone), sends notifications and indications to subscribed
clients, and runs the declarations' callbacks when a client reads or writes a value the
application serves (``on_read`` / ``on_write``) or must authorize (``authorize``, for an
access whose security asks authorization: False answers Insufficient Authorization): each
in the stack's nursery, under
:data:`CALLBACK_DEADLINE`. A callback that raises :class:`~bluetrio.errors.GattApplicationError`
answers the client with its code; any other exception, a value that is not bytes, or a
callback that overruns its deadline answers Unlikely Error (Vol 3 Part F 3.4.1.1, 0x0E), so
a faulty callback never breaks the stack nor leaves the client waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import attrs
import trio

from bluetrio import arguments
from bluetrio.actors.app_port import AppPort
from bluetrio.actors.gatt.config import DEFAULT_APPLICATION_DEADLINE
from bluetrio.actors.topology import Layer
from bluetrio.errors import AttError, GattApplicationError, InvalidArgumentError, StackError
from bluetrio.messages.att import MAX_VALUE_LENGTH, AttErrorCode
from bluetrio.messages.base import Message
from bluetrio.messages.gatt_declarations import (
    AccessSecurity,
    AuthorizeCallback,
    Characteristic,
    Descriptor,
    Permissions,
    ReadCallback,
    ReadContext,
    Service,
    ServiceHandles,
    WriteCallback,
    WriteContext,
)
from bluetrio.messages.gatt_service import (
    GattAddServiceCnf,
    GattAddServiceReq,
    GattCnf,
    GattNotifyCnf,
    GattNotifyReq,
    GattRemoveServiceReq,
    GattServerReadInd,
    GattServerReadRsp,
    GattServerWriteInd,
    GattServerWriteRsp,
)

logger = logging.getLogger(__name__)

# A callback's time: a second inside the gatt actor's own deadline for the answer, so the
# callback's Unlikely Error, not the actor's, answers a callback that hangs.
CALLBACK_DEADLINE = DEFAULT_APPLICATION_DEADLINE - 1.0


@attrs.frozen
class Delivery:
    """Where a notification or indication went: ``delivered_to`` the links whose controller
    took the notification or whose client confirmed the indication; ``errors`` (link, why)."""

    delivered_to: tuple[int, ...]
    errors: tuple[tuple[int, str], ...] = ()


@attrs.define
class _Served:
    """A service the application added, with where the server placed it."""

    service: Service
    handles: ServiceHandles


@attrs.frozen
class _Attribute:
    """What the application does for one attribute: its callbacks, and whether reads and
    writes of it need its authorization (Vol 3 Part F 3.2.7)."""

    on_read: ReadCallback | None
    on_write: WriteCallback | None
    authorize: AuthorizeCallback | None
    permissions: Permissions

    @classmethod
    def of(cls, declaration: Characteristic | Descriptor) -> _Attribute:
        permissions = (
            declaration.access
            if isinstance(declaration, Characteristic)
            else declaration.permissions
        )
        return cls(declaration.on_read, declaration.on_write, declaration.authorize, permissions)

    @property
    def asks(self) -> bool:
        return not (self.on_read is None and self.on_write is None and self.authorize is None)


def _handle_of(link: object) -> int | None:
    if link is None:
        return None
    handle = getattr(link, "handle", link)
    return arguments.integer("link", handle, 0, 0x0EFF)


class GattServerApi:
    """``stack.gatt_server``: see the module docstring."""

    def __init__(self, app: AppPort) -> None:
        self._app = app
        self._served: dict[int, _Served] = {}  # by service declaration handle
        self._attributes: dict[int, _Attribute] = {}  # attribute handle -> its callbacks
        self._value_handles: dict[int, int] = {}  # id(characteristic) -> its value handle
        self._nursery: trio.Nursery | None = None
        self.failed_callbacks = 0
        app.observe(GattServerReadInd, self._on_read)
        app.observe(GattServerWriteInd, self._on_write)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the callbacks while the stack runs (``open_stack`` starts it)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    # -- the database -------------------------------------------------------------------------
    async def add_service(self, service: Service) -> ServiceHandles:
        """Add ``service``; the handles the server gave its attributes (deterministic: the
        same services added in the same order get the same handles)."""
        service = arguments.instance("service", service, Service)
        reply = await self._request(GattAddServiceReq(self._app.runtime.new_token(), service))
        assert isinstance(reply, GattAddServiceCnf)
        if reply.handles is None:
            raise InvalidArgumentError(reply.error or "the service was not added")
        handles = reply.handles
        self._served[handles.service] = _Served(service, handles)
        self._index(service, handles)
        return handles

    async def remove_service(self, service: Service | ServiceHandles | int) -> None:
        """Remove a service added before (by its declaration, its handles or its handle)."""
        handle = self._service_handle(service)
        reply = await self._request(GattRemoveServiceReq(self._app.runtime.new_token(), handle))
        assert isinstance(reply, GattCnf)
        if reply.error is not None:
            raise InvalidArgumentError(reply.error)
        served = self._served.pop(handle, None)
        if served is not None:
            self._forget(served.service, served.handles)

    def value_handle(self, characteristic: Characteristic) -> int:
        """The handle of ``characteristic``'s value in the database."""
        handle = self._value_handles.get(id(characteristic))
        if handle is None:
            raise InvalidArgumentError("this characteristic is not in a service added here")
        return handle

    def _service_handle(self, service: Service | ServiceHandles | int) -> int:
        if isinstance(service, ServiceHandles):
            return service.service
        if isinstance(service, Service):
            for handle, served in self._served.items():
                if served.service is service:
                    return handle
            raise InvalidArgumentError("this service was not added here")
        return arguments.integer("service handle", service, 0x0001, 0xFFFF)

    def _index(self, service: Service, handles: ServiceHandles) -> None:
        for characteristic, placed in zip(
            service.characteristics, handles.characteristics, strict=True
        ):
            self._value_handles[id(characteristic)] = placed.value
            self._keep(placed.value, _Attribute.of(characteristic))
            for descriptor, handle in zip(
                characteristic.descriptors, placed.descriptors, strict=True
            ):
                self._keep(handle, _Attribute.of(descriptor))

    def _keep(self, handle: int, attribute: _Attribute) -> None:
        if attribute.asks:
            self._attributes[handle] = attribute

    def _forget(self, service: Service, handles: ServiceHandles) -> None:
        for characteristic, placed in zip(
            service.characteristics, handles.characteristics, strict=True
        ):
            self._value_handles.pop(id(characteristic), None)
            for handle in (placed.value, *placed.descriptors):
                self._attributes.pop(handle, None)

    # -- notifications and indications ----------------------------------------------------------
    async def notify(
        self, characteristic: Characteristic, value: bytes, link: object = None
    ) -> Delivery:
        """Notify ``value`` to ``link`` (a :class:`~bluetrio.Link` or its handle) or, when
        None, to every client subscribed; returns once each controller took it. A value
        longer than a link's ATT_MTU - 3 is cut to it there (Vol 3 Part F 3.4.7.1)."""
        return await self._send(characteristic, value, link, indicate=False)

    async def indicate(
        self, characteristic: Characteristic, value: bytes, link: object = None
    ) -> Delivery:
        """Indicate ``value`` and wait for the confirmations (at most 30 s each, 3.3.3).
        With ``link`` given, raises :class:`~bluetrio.errors.AttError` when it was not
        confirmed there."""
        return await self._send(characteristic, value, link, indicate=True)

    async def _send(
        self, characteristic: Characteristic, value: bytes, link: object, indicate: bool
    ) -> Delivery:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise InvalidArgumentError(f"a value is bytes, not {type(value).__name__}")
        value = bytes(value)
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidArgumentError(
                f"an attribute value is at most {MAX_VALUE_LENGTH} octets, not {len(value)}"
            )
        handle = self.value_handle(characteristic)
        target = _handle_of(link)
        token = self._app.runtime.new_token()
        reply = await self._request(GattNotifyReq(token, handle, value, target, indicate))
        assert isinstance(reply, GattNotifyCnf)
        delivery = Delivery(reply.delivered_to, reply.errors)
        if target is not None and reply.errors:
            raise AttError(reply.errors[0][1])
        return delivery

    async def _request(self, message: Message) -> Message:
        return await self._app.request(Layer.GATT, message)

    # -- the callbacks --------------------------------------------------------------------------
    def _start(self, run: Callable[[], Awaitable[None]], fail: Callable[[], None]) -> None:
        if self._nursery is None:  # the stack is closing: the actor's deadline answers
            fail()
            return
        self._nursery.start_soon(run)

    def _on_read(self, indication: GattServerReadInd) -> None:
        attribute = self._attributes.get(indication.attribute_handle)
        context = ReadContext(
            indication.handle, indication.peer, indication.attribute_handle, indication.offset
        )

        def answer(value: bytes | None, code: int = 0) -> None:
            self._answer(GattServerReadRsp(indication.request_id, value, code))

        async def read() -> None:
            assert attribute is not None
            if not await self._authorized(attribute, attribute.permissions.read_security, context):
                answer(None, AttErrorCode.INSUFFICIENT_AUTHORIZATION)
                return
            if attribute.on_read is None:
                answer(None)  # authorized: the server reads the value it keeps
                return
            value = await attribute.on_read(context)
            if not isinstance(value, bytes | bytearray | memoryview):
                raise TypeError(f"on_read returned {type(value).__name__}, not bytes")
            answer(bytes(value))

        async def run() -> None:
            code = await self._guarded(read)
            if code:
                answer(None, code)

        if attribute is None:
            logger.error("gatt: nothing serves attribute 0x%04X", indication.attribute_handle)
            answer(None, AttErrorCode.UNLIKELY_ERROR)
            return
        self._start(run, lambda: answer(None, AttErrorCode.UNLIKELY_ERROR))

    def _on_write(self, indication: GattServerWriteInd) -> None:
        attribute = self._attributes.get(indication.attribute_handle)
        context = WriteContext(
            indication.handle,
            indication.peer,
            indication.attribute_handle,
            indication.with_response,
        )

        def answer(code: int) -> None:
            self._answer(GattServerWriteRsp(indication.request_id, code))

        async def write() -> None:
            assert attribute is not None
            security = attribute.permissions.write_security
            if not await self._authorized(attribute, security, context):
                answer(AttErrorCode.INSUFFICIENT_AUTHORIZATION)
                return
            if attribute.on_write is not None:
                await attribute.on_write(context, indication.value)
            answer(0)  # without on_write: authorized, the server stores the value

        async def run() -> None:
            code = await self._guarded(write)
            if code:
                answer(code)

        if attribute is None:
            logger.error("gatt: nothing serves attribute 0x%04X", indication.attribute_handle)
            answer(AttErrorCode.UNLIKELY_ERROR)
            return
        self._start(run, lambda: answer(AttErrorCode.UNLIKELY_ERROR))

    @staticmethod
    async def _authorized(
        attribute: _Attribute, security: AccessSecurity, context: ReadContext | WriteContext
    ) -> bool:
        """The application's authorization of this access, when its security asks it."""
        if not security.authorization or attribute.authorize is None:
            return True
        return bool(await attribute.authorize(context))

    async def _guarded(self, call: Callable[[], Awaitable[None]]) -> int:
        """Run a callback under its deadline: 0 when it answered, else the ATT error."""
        try:
            with trio.fail_after(CALLBACK_DEADLINE):
                await call()
            return 0
        except GattApplicationError as error:
            return error.code
        except trio.TooSlowError:
            self.failed_callbacks += 1
            logger.error("gatt: a callback took more than %.1f s", CALLBACK_DEADLINE)
            return AttErrorCode.UNLIKELY_ERROR
        except Exception:
            self.failed_callbacks += 1
            logger.exception("gatt: a callback raised")
            return AttErrorCode.UNLIKELY_ERROR

    def _answer(self, answer: GattServerReadRsp | GattServerWriteRsp) -> None:
        try:
            self._app.send(Layer.GATT, answer)
        except StackError:
            logger.debug("gatt: the stack closed before answer %d", answer.request_id)
