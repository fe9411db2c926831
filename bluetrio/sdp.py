"""The application's side of SDP (Core 5.4 Vol 3 Part B): searching a peer's records and
publishing ours, as :meth:`Stack.sdp_search <bluetrio.stack.Stack.sdp_search>`,
:meth:`~bluetrio.stack.Stack.sdp_find_rfcomm_channel` and
:meth:`~bluetrio.stack.Stack.sdp_register` call them.

A search runs on the BR/EDR link to the peer when there is one, and otherwise on a link
opened for it and closed afterwards. Failures are typed: :class:`~bluetrio.errors.SdpTimeout`,
:class:`~bluetrio.errors.SdpErrorResponse` (the server's ErrorCode),
:class:`~bluetrio.errors.SdpError` for the rest, :class:`~bluetrio.errors.ServiceNotFound`
when a lookup finds nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import trio

from bluetrio import arguments
from bluetrio.actors.topology import Layer
from bluetrio.address import Address
from bluetrio.errors import (
    InvalidArgumentError,
    SdpError,
    SdpErrorResponse,
    SdpTimeout,
    ServiceNotFound,
    StackError,
)
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.sdp import ALL_ATTRIBUTES, AttributeRange
from bluetrio.messages.sdp_records import ServiceRecord, UuidLike, as_uuid, find_rfcomm_channel
from bluetrio.messages.sdp_service import (
    Query,
    QueryFailure,
    SdpCnf,
    SdpQueryCnf,
    SdpQueryReq,
    SdpRegisterCnf,
    SdpRegisterReq,
    SdpUnregisterReq,
    ServiceSearchAttributes,
)

if TYPE_CHECKING:
    from bluetrio.stack import Stack

logger = logging.getLogger(__name__)

# Seconds a search may take by default, the link set-up included.
DEFAULT_SEARCH_TIMEOUT = 30.0
# Seconds the removal of a record may take when a registration ends (shielded).
UNREGISTER_TIMEOUT = 5.0


def _link_handle(stack: Stack, address: Address) -> int | None:
    for link in stack.links:
        if link.transport is LinkTransport.BR_EDR and link.address.value == address.value:
            return link.handle
    return None


async def query(stack: Stack, handle: int, what: Query) -> SdpQueryCnf:
    """Run one query on link ``handle``; raise the typed error of a failure."""
    reply = await stack.app.request(Layer.SDP, SdpQueryReq(stack.runtime.new_token(), handle, what))
    assert isinstance(reply, SdpQueryCnf)
    match reply.failure:
        case None:
            return reply
        case QueryFailure.TIMEOUT:
            raise SdpTimeout(f"SDP on link 0x{handle:04X}: {reply.error}")
        case QueryFailure.PEER_ERROR:
            raise SdpErrorResponse(reply.error_code or 0, f"SDP: {reply.error}")
        case _:
            raise SdpError(f"SDP on link 0x{handle:04X}: {reply.error}")


async def search(
    stack: Stack,
    address: Address | str,
    uuid: UuidLike,
    attribute_ids: tuple[AttributeRange, ...] = ALL_ATTRIBUTES,
    timeout: float = DEFAULT_SEARCH_TIMEOUT,
) -> tuple[ServiceRecord, ...]:
    address = arguments.address("address", address)
    wanted = as_uuid(uuid)
    if not isinstance(attribute_ids, tuple) or not all(
        isinstance(item, AttributeRange) for item in attribute_ids
    ):
        raise InvalidArgumentError("attribute_ids: expected a tuple of AttributeRange")
    timeout = arguments.seconds("timeout", timeout)
    what = ServiceSearchAttributes((wanted,), attribute_ids or ALL_ATTRIBUTES)
    await stack.ready()
    with trio.move_on_after(timeout):
        handle = _link_handle(stack, address)
        if handle is not None:
            return (await query(stack, handle, what)).records
        async with stack.connect(address, transport=LinkTransport.BR_EDR) as link:
            return (await query(stack, link.handle, what)).records
    raise SdpTimeout(f"SDP search of {address} for {wanted}: no answer within {timeout:g} s")


async def rfcomm_channel(
    stack: Stack, address: Address | str, uuid: UuidLike, timeout: float = DEFAULT_SEARCH_TIMEOUT
) -> int:
    records = await search(stack, address, uuid, timeout=timeout)
    channel = find_rfcomm_channel(records, uuid)
    if channel is None:
        raise ServiceNotFound(
            f"{address} has no RFCOMM service {as_uuid(uuid)} ({len(records)} record(s) mention it)"
        )
    return channel


@contextlib.asynccontextmanager
async def register(stack: Stack, record: ServiceRecord) -> AsyncIterator[int]:
    record = arguments.instance("record", record, ServiceRecord)
    try:
        record.element()
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"record: {error}") from None
    reply = await stack.app.request(Layer.SDP, SdpRegisterReq(stack.runtime.new_token(), record))
    assert isinstance(reply, SdpRegisterCnf)
    if reply.error is not None:
        raise InvalidArgumentError(f"record not registered: {reply.error}")
    try:
        yield reply.record_handle
    finally:
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + UNREGISTER_TIMEOUT
            request = SdpUnregisterReq(stack.runtime.new_token(), reply.record_handle)
            try:
                answer = await stack.app.request(Layer.SDP, request)
            except StackError:
                return  # the stack closed: its database went with it
            assert isinstance(answer, SdpCnf)
            if answer.error is not None:
                logger.warning("SDP record not removed: %s", answer.error)
        if scope.cancelled_caught:
            logger.warning("SDP record 0x%08X: no answer to its removal", reply.record_handle)
