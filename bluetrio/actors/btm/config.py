"""Configuration of the device manager and of security, given to ``open_stack``."""

from __future__ import annotations

from typing import Any

import attrs

from bluetrio.address import Address
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.btm import ConnectionPolicy

DEFAULT_RPA_ROTATION = 15 * 60.0  # seconds (Vol 3 Part C Appendix A: T_GAP(private_addr_int))
DEFAULT_DEVICE_RECORDS = 64
DEFAULT_BRINGUP_TIMEOUT = 30.0  # seconds


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value <= 0:
        raise InvalidArgumentError(f"{attribute.name} must be positive, got {value!r}")


def _key_size(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not 7 <= value <= 16:
        raise InvalidArgumentError(
            f"{attribute.name} is 7..16 octets (Vol 3 Part H 2.3.4), got {value!r}"
        )


def _optional_irk(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, bytes) or len(value) != 16):
        raise InvalidArgumentError(f"{attribute.name} must be 16 bytes, got {value!r}")


@attrs.frozen
class SecurityConfig:
    """What the security core (``actors/btm/security.py``) reads.

    Pairing is refused unless ``pairable`` is set (the application opts in). The key store
    and the pairing delegate are the application's, given to ``open_stack``.
    """

    pairable: bool = False
    min_encryption_key_size: int = attrs.field(default=16, validator=_key_size)
    secure_connections_only: bool = False


def _optional_public_address(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, Address) or value.is_random):
        raise InvalidArgumentError(
            f"{attribute.name} must be a public Address (a BD_ADDR), got {value!r}"
        )


@attrs.frozen
class StackConfig:
    """Bring-up settings and device-manager policy.

    ``public_address``: the BD_ADDR to give the controller at bring-up, with the vendor
    Write_BD_ADDR command (:class:`~bluetrio.messages.hci.VendorWriteBdAddr`); None keeps the
    controller's own. Bring-up fails when the controller refuses it.
    """

    local_name: str | None = "bluetrio"
    public_address: Address | None = attrs.field(default=None, validator=_optional_public_address)
    class_of_device: int = 0x000000
    le: bool = True
    bredr: bool = True
    simple_pairing: bool = True
    secure_connections: bool = True
    # BR/EDR scans enabled at bring-up (Vol 4 Part E 7.3.18); off means invisible and closed.
    discoverable: bool = False
    connectable: bool = True
    connection_policy: ConnectionPolicy = ConnectionPolicy.ACCEPT_ALL
    privacy: bool = False  # advertise, scan and connect with our own RPA
    local_irk: bytes | None = attrs.field(default=None, validator=_optional_irk)
    rpa_rotation: float = attrs.field(default=DEFAULT_RPA_ROTATION, validator=_positive)
    device_records: int = attrs.field(default=DEFAULT_DEVICE_RECORDS, validator=_positive)
    optional_command_timeout: float = attrs.field(default=1.0, validator=_positive)
    # Bring-up as a whole (some 25 commands, each with its own timeout) must end by then.
    bringup_timeout: float = attrs.field(default=DEFAULT_BRINGUP_TIMEOUT, validator=_positive)
    security: SecurityConfig = SecurityConfig()
