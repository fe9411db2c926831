"""What the gatt actor offers and how long it waits (Core 5.4 Vol 3 Parts F and G)."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from bluetrio.errors import InvalidArgumentError

# ATT_MTU bounds on LE (Vol 3 Part F 3.2.8, 3.2.9: the default is 23; an attribute value is
# at most 512 octets, so a bearer never needs more than 517 to carry one whole).
MIN_LE_MTU = 23
MAX_USEFUL_MTU = 517
# How long the application may take to answer a read or write of an attribute it serves
# (GattServerReadInd / GattServerWriteInd): well inside the client's 30 s transaction timeout
# (3.3.3), so a callback that hangs costs that one request an Unlikely Error, never the
# client's bearer.
DEFAULT_APPLICATION_DEADLINE = 5.0
# Our requests waiting behind the one outstanding (3.3.2), and our indications behind the
# one awaiting its confirmation (3.4.7.2), per bearer. Beyond, a request is refused at once.
DEFAULT_REQUEST_QUEUE = 64
DEFAULT_INDICATION_QUEUE = 64
# Enhanced ATT bearers opened when both sides support EATT (Vol 3 Part G 7.2, 7.4).
DEFAULT_EATT_BEARERS = 3
MAX_EATT_BEARERS = 5  # one L2CAP Credit Based Connection Request opens up to five (4.25)


def _integer(low: int, high: int) -> Callable[[object, attrs.Attribute[int], object], None]:
    def check(_instance: object, attribute: attrs.Attribute[int], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidArgumentError(
                f"{attribute.name} must be an int {low}..{high}, got {value!r}"
            )

    return check


def _positive(_instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidArgumentError(f"{attribute.name} must be a positive number, got {value!r}")


def _flag(_instance: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{attribute.name} must be True or False, got {value!r}")


@attrs.frozen
class GattConfig:
    """``receive_mtu``: the largest ATT PDU we take, answered to an Exchange MTU Request and
    sent in ours (Vol 3 Part F 3.4.2). ``application_deadline``: seconds the application
    has to answer a read or write it serves, after which the request gets Unlikely Error.
    ``disconnect_on_timeout``: disconnect a link whose unenhanced bearer timed out (3.3.3
    leaves the bearer unusable until the link goes; Bluedroid and Zephyr disconnect too);
    an enhanced bearer that times out has its channel closed either way. ``eatt_bearers``:
    how many enhanced bearers to open on an encrypted link when both sides support EATT
    (0: none)."""

    receive_mtu: int = attrs.field(default=MAX_USEFUL_MTU, validator=_integer(MIN_LE_MTU, 0xFFFF))
    application_deadline: float = attrs.field(
        default=DEFAULT_APPLICATION_DEADLINE, validator=_positive
    )
    request_queue: int = attrs.field(default=DEFAULT_REQUEST_QUEUE, validator=_integer(1, 4096))
    indication_queue: int = attrs.field(
        default=DEFAULT_INDICATION_QUEUE, validator=_integer(1, 4096)
    )
    disconnect_on_timeout: bool = attrs.field(default=True, validator=_flag)
    eatt_bearers: int = attrs.field(
        default=DEFAULT_EATT_BEARERS, validator=_integer(0, MAX_EATT_BEARERS)
    )
