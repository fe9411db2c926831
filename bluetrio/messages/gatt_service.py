"""The service between the application and the gatt actor (ATT and GATT, Core 5.4 Vol 3
Parts F and G).

Directions:

* client side, app → gatt: :class:`AttExchangeReq` (one ATT request on a link's bearer,
  answered by :class:`AttExchangeCnf` with the response or the server's Error Response),
  :class:`AttCommandReq` (a command, answered by :class:`AttCommandCnf` once the controller
  took it); gatt → app: :class:`AttValueInd` (every notification and indication received;
  the stack confirms indications itself, 3.4.7.2) and :class:`AttMtuInd` (a bearer's MTU
  changed);
* server side, app → gatt: :class:`GattAddServiceReq`, :class:`GattRemoveServiceReq`,
  :class:`GattNotifyReq` (notify or indicate a value to the subscribed clients); gatt → app:
  :class:`GattServerReadInd` / :class:`GattServerWriteInd` (a client reads or writes an
  attribute the application serves; answered by :class:`GattServerReadRsp` /
  :class:`GattServerWriteRsp` within the actor's deadline) and :class:`GattSubscriptionInd`
  (a client changed its Client Characteristic Configuration).

Every message about a connection carries its HCI ``handle``. An ``error`` is a sentence for
the application (the transaction timed out, the bearer is unusable, the link is gone); an
``error_code`` is an ATT error code (Vol 3 Part F 3.4.1.1, table 3.4; the application
errors 0x80-0x9F; Core Specification Supplement Part B 1.2), 0 for success.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import attrs

from bluetrio.address import Address
from bluetrio.messages.base import Message

if TYPE_CHECKING:
    from bluetrio.messages.att import AttPdu
    from bluetrio.messages.gatt_declarations import Service, ServiceHandles


# -- client side -------------------------------------------------------------------------------
class AttFailure(enum.Enum):
    """Why a request or command of the application got no response."""

    TIMED_OUT = "timed out"  # now or earlier on this bearer (3.3.3)
    LINK_LOST = "link lost"
    REFUSED = "refused"  # not sent: not a request, too long, queue full, MTU exchanged
    MALFORMED_RESPONSE = "malformed response"  # the server's answer does not decode


@attrs.frozen
class AttExchangeReq(Message):
    """Send ``request`` (an ATT request PDU) on link ``handle``'s bearer and wait for its
    response. The bearer sends one request at a time (Vol 3 Part F 3.3.2) and queues the
    others, each under the 30 s transaction timeout (3.3.3) from the moment it is sent."""

    token: int
    handle: int
    request: AttPdu


@attrs.frozen
class AttExchangeCnf(Message):
    """``response``: the response to the request or the server's Error Response; None with
    ``error`` when there is none (the transaction timed out, the bearer is unusable since a
    timeout, the link is gone, the request was refused before it was sent)."""

    token: int
    handle: int
    response: AttPdu | None = None
    error: str | None = None
    failure: AttFailure | None = None


@attrs.frozen
class AttCommandReq(Message):
    """Send ``pdu`` (a command: Write Command, Signed Write Command) on link ``handle``;
    commands need no response and are never held behind a request (3.3.1)."""

    token: int
    handle: int
    pdu: AttPdu


@attrs.frozen
class AttCommandCnf(Message):
    """The controller took the command (``error`` None), or why it was not sent."""

    token: int
    handle: int
    error: str | None = None
    failure: AttFailure | None = None


@attrs.frozen
class AttValueInd(Message):
    """A Handle Value Notification or Indication received on link ``handle`` for
    ``attribute_handle`` (a Multiple Handle Value Notification becomes one per value).

    The application's port keys its mailboxes by (class, handle, cid): ``cid`` is the
    attribute handle here, so each listener of one characteristic has its own mailbox."""

    handle: int
    attribute_handle: int
    value: bytes
    indication: bool

    @property
    def cid(self) -> int:
        return self.attribute_handle


@attrs.frozen
class AttMtuInd(Message):
    """The ATT_MTU of a bearer of link ``handle`` is now ``mtu`` (Vol 3 Part F 3.4.2)."""

    handle: int
    mtu: int
    bearer: int = 0  # 0: the unenhanced bearer (0x0004), else the EATT channel's CID


# -- server side -------------------------------------------------------------------------------
@attrs.frozen
class GattCnf(Message):
    """The answer to a server request without a value: ``error`` None on success."""

    token: int
    error: str | None = None


@attrs.frozen
class GattAddServiceReq(Message):
    """Add ``service`` to the database; answered by :class:`GattAddServiceCnf`."""

    token: int
    service: Service


@attrs.frozen
class GattAddServiceCnf(Message):
    """The handles given to the service's attributes, or why it was not added."""

    token: int
    handles: ServiceHandles | None = None
    error: str | None = None


@attrs.frozen
class GattRemoveServiceReq(Message):
    """Remove the service whose declaration has ``service_handle``; answered by
    :class:`GattCnf`."""

    token: int
    service_handle: int


@attrs.frozen
class GattServerReadInd(Message):
    """Client ``peer`` on link ``handle`` reads ``attribute_handle`` from ``offset``, whose
    value the application serves: answer :class:`GattServerReadRsp` with ``request_id``."""

    request_id: int
    handle: int
    peer: Address
    attribute_handle: int
    offset: int


@attrs.frozen
class GattServerReadRsp(Message):
    """The value of a :class:`GattServerReadInd` (the whole value; the server cuts it to
    the offset and the MTU), or ``error_code`` (``value`` None)."""

    request_id: int
    value: bytes | None
    error_code: int = 0


@attrs.frozen
class GattServerWriteInd(Message):
    """Client ``peer`` on link ``handle`` writes ``value`` to ``attribute_handle``, whose
    value the application serves (``with_response``: a Write Request or an executed queued
    write, whose Response waits for the answer): answer :class:`GattServerWriteRsp`."""

    request_id: int
    handle: int
    peer: Address
    attribute_handle: int
    value: bytes
    with_response: bool


@attrs.frozen
class GattServerWriteRsp(Message):
    """The outcome of a :class:`GattServerWriteInd`: 0 or the ATT error code."""

    request_id: int
    error_code: int = 0


@attrs.frozen
class GattNotifyReq(Message):
    """Notify (or, with ``indicate``, indicate) ``value`` of the characteristic value at
    ``value_handle`` to link ``link``, or to every client subscribed to it when None.

    A value longer than a bearer's ATT_MTU - 3 is cut to it there, as Vol 3 Part F 3.4.7.1
    and 3.4.7.2 say. Answered by :class:`GattNotifyCnf` once every notification was taken
    by the controller, every indication confirmed (or failed)."""

    token: int
    value_handle: int
    value: bytes
    link: int | None = None
    indicate: bool = False


@attrs.frozen
class GattNotifyCnf(Message):
    """``delivered_to``: the links whose controller took the notification, or whose client
    confirmed the indication; ``errors``: (link, why) for the others."""

    token: int
    delivered_to: tuple[int, ...] = ()
    errors: tuple[tuple[int, str], ...] = ()


@attrs.frozen
class GattSubscriptionInd(Message):
    """Client ``peer`` on link ``handle`` wrote the Client Characteristic Configuration of
    the characteristic whose value is at ``value_handle`` (Vol 3 Part G 3.3.3.3)."""

    handle: int
    peer: Address
    value_handle: int
    notify: bool
    indicate: bool


# What the gatt actor emits to the application (routed by the topology).
APP_INDICATIONS: tuple[type[Message], ...] = (
    AttValueInd,
    AttMtuInd,
    GattServerReadInd,
    GattServerWriteInd,
    GattSubscriptionInd,
)
