"""The application's side of SDP (Core 5.4 Vol 3 Part B): searching a peer's records and
publishing ours, as :meth:`Stack.sdp_search <bluetrio.stack.Stack.sdp_search>` (Service
Search Attribute, 4.7), :meth:`~bluetrio.stack.Stack.sdp_service_search` (Service Search,
4.5), :meth:`~bluetrio.stack.Stack.sdp_service_attributes` (Service Attribute, 4.6),
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
import uuid as uuid_module
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
from bluetrio.messages.sdp import (
    ALL_ATTRIBUTES,
    MAX_ATTRIBUTE_RANGES,
    MAX_PATTERN_UUIDS,
    AttributeRange,
)
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
    ServiceAttributes,
    ServiceSearch,
    ServiceSearchAttributes,
)

if TYPE_CHECKING:
    from bluetrio.stack import Stack

logger = logging.getLogger(__name__)

# Seconds a search may take by default, the link set-up included.
DEFAULT_SEARCH_TIMEOUT = 30.0
# Seconds the removal of a record may take when a registration ends (shielded).
UNREGISTER_TIMEOUT = 5.0
# MaximumServiceRecordCount asked for by default: the largest the field holds (4.5.1).
MAX_RECORDS = 0xFFFF


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


def _uuids(value: object) -> tuple[uuid_module.UUID, ...]:
    """A search pattern from one UUID-like value or a tuple or list of 1 to 12 of them."""
    items = tuple(value) if isinstance(value, tuple | list) else (value,)
    if not 1 <= len(items) <= MAX_PATTERN_UUIDS:
        raise InvalidArgumentError(
            f"uuids: a search pattern has 1 to {MAX_PATTERN_UUIDS} UUIDs, got {len(items)}"
        )
    return tuple(as_uuid(item, "uuids") for item in items)


def _attribute_ranges(value: object) -> tuple[AttributeRange, ...]:
    """An AttributeIDList (Vol 3 Part B 4.6.1) from a tuple or list whose items are attribute
    IDs (0..0xFFFF) or :class:`AttributeRange`; empty means every attribute."""
    if not isinstance(value, tuple | list):
        raise InvalidArgumentError(
            "attribute_ids: expected a tuple of attribute IDs or AttributeRange"
        )
    if len(value) > MAX_ATTRIBUTE_RANGES:
        raise InvalidArgumentError(
            f"attribute_ids: at most {MAX_ATTRIBUTE_RANGES} IDs or ranges, got {len(value)}"
        )
    ranges = []
    for item in value:
        if isinstance(item, AttributeRange):
            ranges.append(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            ranges.append(AttributeRange(int(item), int(item)))  # checks 0..0xFFFF
        else:
            raise InvalidArgumentError(
                f"attribute_ids: {item!r} is neither an attribute ID nor an AttributeRange"
            )
    return tuple(ranges) or ALL_ATTRIBUTES


async def _run(
    stack: Stack, address: Address, what: Query, timeout: float, describe: str
) -> SdpQueryCnf:
    """Run ``what`` on the BR/EDR link to ``address`` (one opened for it when there is none,
    and closed after), all within ``timeout`` seconds."""
    await stack.ready()
    with trio.move_on_after(timeout):
        handle = _link_handle(stack, address)
        if handle is not None:
            return await query(stack, handle, what)
        async with stack.connect(address, transport=LinkTransport.BR_EDR) as link:
            return await query(stack, link.handle, what)
    raise SdpTimeout(f"SDP {describe} on {address}: no answer within {timeout:g} s")


async def search(
    stack: Stack,
    address: Address | str,
    uuid: UuidLike,
    attribute_ids: tuple[AttributeRange | int, ...] = ALL_ATTRIBUTES,
    timeout: float = DEFAULT_SEARCH_TIMEOUT,
) -> tuple[ServiceRecord, ...]:
    """SDP_ServiceSearchAttributeRequest (Vol 3 Part B 4.7): the records mentioning ``uuid``,
    with their attributes in ``attribute_ids``."""
    address = arguments.address("address", address)
    wanted = as_uuid(uuid)
    what = ServiceSearchAttributes((wanted,), _attribute_ranges(attribute_ids))
    timeout = arguments.seconds("timeout", timeout)
    return (await _run(stack, address, what, timeout, f"search for {wanted}")).records


async def service_search(
    stack: Stack,
    address: Address | str,
    uuids: UuidLike | tuple[UuidLike, ...] | list[UuidLike],
    max_records: int = MAX_RECORDS,
    timeout: float = DEFAULT_SEARCH_TIMEOUT,
) -> tuple[int, ...]:
    """SDP_ServiceSearchRequest (Vol 3 Part B 4.5): the ServiceRecordHandles of the records
    holding every UUID of ``uuids``, at most ``max_records`` of them."""
    address = arguments.address("address", address)
    pattern = _uuids(uuids)
    max_records = arguments.integer("max_records", max_records, 1, MAX_RECORDS)
    timeout = arguments.seconds("timeout", timeout)
    what = ServiceSearch(pattern, max_records)
    described = ", ".join(str(value) for value in pattern)
    return (
        await _run(stack, address, what, timeout, f"service search for {described}")
    ).record_handles


async def service_attributes(
    stack: Stack,
    address: Address | str,
    record_handle: int,
    attribute_ids: tuple[AttributeRange | int, ...] = ALL_ATTRIBUTES,
    timeout: float = DEFAULT_SEARCH_TIMEOUT,
) -> ServiceRecord:
    """SDP_ServiceAttributeRequest (Vol 3 Part B 4.6): the attributes in ``attribute_ids`` of
    the record at ``record_handle``; an unknown handle is the server's
    :class:`~bluetrio.errors.SdpErrorResponse` 0x0002 (Invalid Service Record Handle)."""
    address = arguments.address("address", address)
    record_handle = arguments.integer("record_handle", record_handle, 0, 0xFFFFFFFF)
    what = ServiceAttributes(record_handle, _attribute_ranges(attribute_ids))
    timeout = arguments.seconds("timeout", timeout)
    reply = await _run(stack, address, what, timeout, f"attributes of record 0x{record_handle:08X}")
    (record,) = reply.records
    return record


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
