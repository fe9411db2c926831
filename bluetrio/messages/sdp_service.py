"""The service primitives of the SDP layer: what the application (and RFCOMM) exchange with
the SDP actor. Requests carry a ``token`` and are answered to their sender.

The server side is the record database (:class:`SdpRegisterReq`, :class:`SdpUnregisterReq`);
the client side runs one query on a BR/EDR link (:class:`SdpQueryReq`), opening the SDP
channel (L2CAP PSM 0x0001) when the link has none and closing it once idle.
"""

from __future__ import annotations

import enum
import uuid as uuid_module

import attrs

from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.base import Message
from bluetrio.messages.sdp import ALL_ATTRIBUTES, MAX_PATTERN_UUIDS, AttributeRange
from bluetrio.messages.sdp_records import ServiceRecord


@attrs.frozen
class SdpRegisterReq(Message):
    """Add ``record`` to the server's database; answered by :class:`SdpRegisterCnf` with the
    ServiceRecordHandle the server gave it."""

    token: int
    record: ServiceRecord


@attrs.frozen
class SdpRegisterCnf(Message):
    token: int
    record_handle: int = 0
    error: str | None = None


@attrs.frozen
class SdpUnregisterReq(Message):
    """Remove the record at ``record_handle`` (one the sender registered); answered by
    :class:`SdpCnf`."""

    token: int
    record_handle: int


@attrs.frozen
class SdpCnf(Message):
    token: int
    error: str | None = None


def _check_uuids(uuids: tuple[uuid_module.UUID, ...]) -> None:
    if not isinstance(uuids, tuple) or not all(
        isinstance(value, uuid_module.UUID) for value in uuids
    ):
        raise InvalidArgumentError("uuids: expected a tuple of uuid.UUID")
    if not 1 <= len(uuids) <= MAX_PATTERN_UUIDS:
        raise InvalidArgumentError(f"a search pattern has 1 to {MAX_PATTERN_UUIDS} UUIDs")


def _check_ranges(ranges: tuple[AttributeRange, ...]) -> None:
    if not ranges or not all(isinstance(value, AttributeRange) for value in ranges):
        raise InvalidArgumentError("attribute_ids: expected a non-empty tuple of AttributeRange")


@attrs.frozen
class ServiceSearch:
    """SDP_ServiceSearchRequest: the handles of records holding every UUID of ``uuids``."""

    uuids: tuple[uuid_module.UUID, ...]
    maximum_records: int = 0xFFFF

    def __attrs_post_init__(self) -> None:
        _check_uuids(self.uuids)
        if not 1 <= self.maximum_records <= 0xFFFF:
            raise InvalidArgumentError("maximum_records: 1..0xFFFF")


@attrs.frozen
class ServiceAttributes:
    """SDP_ServiceAttributeRequest: the attributes ``attribute_ids`` of one record."""

    record_handle: int
    attribute_ids: tuple[AttributeRange, ...] = ALL_ATTRIBUTES

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.record_handle <= 0xFFFFFFFF:
            raise InvalidArgumentError("record_handle: a service record handle is 32 bits")
        _check_ranges(self.attribute_ids)


@attrs.frozen
class ServiceSearchAttributes:
    """SDP_ServiceSearchAttributeRequest: both in one."""

    uuids: tuple[uuid_module.UUID, ...]
    attribute_ids: tuple[AttributeRange, ...] = ALL_ATTRIBUTES

    def __attrs_post_init__(self) -> None:
        _check_uuids(self.uuids)
        _check_ranges(self.attribute_ids)


Query = ServiceSearch | ServiceAttributes | ServiceSearchAttributes


class QueryFailure(enum.Enum):
    """Why a query gave no answer."""

    PEER_ERROR = "the server answered with an error response"
    TIMEOUT = "the server did not answer in time"
    MALFORMED_RESPONSE = "the server's response was malformed"
    TOO_LARGE = "the response went past the bound on size or continuation rounds"
    CHANNEL_FAILED = "the SDP channel could not be opened or was closed"
    NO_LINK = "there is no BR/EDR link with that handle"
    BUSY = "too many queries wait on this link"


@attrs.frozen
class SdpQueryReq(Message):
    """Run ``query`` against the SDP server on BR/EDR link ``handle``; answered by
    :class:`SdpQueryCnf`. Queries on one link run one at a time, in order."""

    token: int
    handle: int
    query: Query


@attrs.frozen
class SdpQueryCnf(Message):
    """The answer to :class:`SdpQueryReq`: ``record_handles`` for a service search,
    ``records`` for the attribute queries; or ``failure`` with ``error`` saying why (and
    ``error_code``, the server's ErrorCode, for PEER_ERROR)."""

    token: int
    handle: int
    record_handles: tuple[int, ...] = ()
    records: tuple[ServiceRecord, ...] = ()
    failure: QueryFailure | None = None
    error_code: int | None = None
    error: str | None = None


REQUESTS: tuple[type[Message], ...] = (SdpRegisterReq, SdpUnregisterReq, SdpQueryReq)
