"""Configuration of the device manager and of security, given to ``open_stack``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from bluetrio.address import Address
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.btm import ConnectionPolicy

DEFAULT_RPA_ROTATION = 15 * 60.0  # seconds (Vol 3 Part C Appendix A: T_GAP(private_addr_int))
DEFAULT_DEVICE_RECORDS = 64
DEFAULT_BRINGUP_TIMEOUT = 30.0  # seconds


MAX_LOCAL_NAME = 248  # octets of UTF-8 (Vol 4 Part E 7.3.11)
MAX_CLASS_OF_DEVICE = 0xFFFFFF  # three octets (Vol 4 Part E 7.3.26)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _flag(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    # A truthy string such as "no" must not quietly turn a feature on.
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{attribute.name} must be True or False, got {value!r}")


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    number = _is_int(value) or isinstance(value, float)
    if not number or not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"{attribute.name} must be a positive number, got {value!r}")


def _count(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not _is_int(value) or value < 1:
        raise InvalidArgumentError(f"{attribute.name} must be a positive integer, got {value!r}")


def _key_size(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not _is_int(value) or not 7 <= value <= 16:
        raise InvalidArgumentError(
            f"{attribute.name} is 7..16 octets (Vol 3 Part H 2.3.4), got {value!r}"
        )


def _local_name(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value.encode()) > MAX_LOCAL_NAME:
        raise InvalidArgumentError(
            f"{attribute.name} must be a str of at most {MAX_LOCAL_NAME} UTF-8 octets, "
            f"got {value!r}"
        )


def _class_of_device(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not _is_int(value) or not 0 <= value <= MAX_CLASS_OF_DEVICE:
        raise InvalidArgumentError(
            f"{attribute.name} is three octets (0..0x{MAX_CLASS_OF_DEVICE:X}), got {value!r}"
        )


def _optional_irk(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, bytes) or len(value) != 16):
        raise InvalidArgumentError(f"{attribute.name} must be 16 bytes, got {value!r}")


@attrs.frozen
class SecurityConfig:
    """What the security core (``actors/btm/security.py``) reads.

    Pairing is refused unless ``pairable`` is set (the application opts in). The key store
    and the pairing delegate are the application's, given to ``open_stack``.
    ``cross_transport_key_derivation``: a Secure Connections pairing on one transport also
    bonds the other (Vol 3 Part H 2.4.2.4, 2.4.2.5): LE pairing derives the BR/EDR link key
    (LinkKey), and after BR/EDR pairing SMP over BR/EDR derives the LE LTK.
    """

    pairable: bool = attrs.field(default=False, validator=_flag)
    min_encryption_key_size: int = attrs.field(default=16, validator=_key_size)
    secure_connections_only: bool = attrs.field(default=False, validator=_flag)
    cross_transport_key_derivation: bool = attrs.field(default=False, validator=_flag)


def _optional_public_address(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, Address) or value.is_random):
        raise InvalidArgumentError(
            f"{attribute.name} must be a public Address (a BD_ADDR), got {value!r}"
        )


def _optional_static_address(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    # Vol 6 Part B 1.3.2.1: the two most significant bits are 1, and the 46 random bits are
    # neither all zeros nor all ones.
    random_bits = (1 << 46) - 1
    static = isinstance(value, Address) and value.is_static_random
    if not static or int.from_bytes(value.value, "little") & random_bits in (0, random_bits):
        raise InvalidArgumentError(
            f"{attribute.name} must be a static random Address (two top bits set, the rest "
            f"neither all zeros nor all ones; Vol 6 Part B 1.3.2.1), got {value!r}"
        )


def _instance_of(kind: type) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, kind):
            raise InvalidArgumentError(f"{attribute.name} must be a {kind.__name__}, got {value!r}")

    return check


@attrs.frozen
class StackConfig:
    """Bring-up settings and device-manager policy.

    ``public_address``: the BD_ADDR to give the controller at bring-up, with the vendor
    Write_BD_ADDR command (:class:`~bluetrio.messages.hci.VendorWriteBdAddr`); None keeps the
    controller's own. Bring-up fails when the controller refuses it.

    ``static_address``: a static random address (Vol 6 Part B 1.3.2.1) set at bring-up and
    used on the LE air (advertising, scanning, connecting) when ``privacy`` is off; with
    ``static_identity`` it is also the identity address SMP distributes (Vol 3 Part H
    3.6.5), else the public address is. ``privacy``: our resolvable private address on the
    air, made from ``local_irk`` (None: the IRK of the stored bonds, else a new one), the IRK
    SMP distributes so bonded peers resolve it.
    """

    local_name: str | None = attrs.field(default="bluetrio", validator=_local_name)
    public_address: Address | None = attrs.field(default=None, validator=_optional_public_address)
    class_of_device: int = attrs.field(default=0x000000, validator=_class_of_device)
    le: bool = attrs.field(default=True, validator=_flag)
    bredr: bool = attrs.field(default=True, validator=_flag)
    simple_pairing: bool = attrs.field(default=True, validator=_flag)
    secure_connections: bool = attrs.field(default=True, validator=_flag)
    # BR/EDR scans enabled at bring-up (Vol 4 Part E 7.3.18); off means invisible and closed.
    discoverable: bool = attrs.field(default=False, validator=_flag)
    connectable: bool = attrs.field(default=True, validator=_flag)
    connection_policy: ConnectionPolicy = attrs.field(
        default=ConnectionPolicy.ACCEPT_ALL, validator=_instance_of(ConnectionPolicy)
    )
    static_address: Address | None = attrs.field(default=None, validator=_optional_static_address)
    static_identity: bool = attrs.field(default=True, validator=_flag)
    privacy: bool = attrs.field(default=False, validator=_flag)  # our own RPA on the air
    local_irk: bytes | None = attrs.field(default=None, validator=_optional_irk)
    rpa_rotation: float = attrs.field(default=DEFAULT_RPA_ROTATION, validator=_positive)
    device_records: int = attrs.field(default=DEFAULT_DEVICE_RECORDS, validator=_count)
    optional_command_timeout: float = attrs.field(default=1.0, validator=_positive)
    # Bring-up as a whole (some 25 commands, each with its own timeout) must end by then.
    bringup_timeout: float = attrs.field(default=DEFAULT_BRINGUP_TIMEOUT, validator=_positive)
    security: SecurityConfig = attrs.field(
        default=SecurityConfig(), validator=_instance_of(SecurityConfig)
    )
    # Run the gatt actor (ATT and GATT, Vol 3 Parts F and G) on LE links: it holds the ATT
    # fixed channel 0x0004, so link.fixed_channel(0x0004) needs this off.
    gatt: bool = attrs.field(default=True, validator=_flag)
