"""The GAP service (Core 5.4 Vol 3 Part C 12), always the first service of the database.

Device Name (0x2A00, 12.1: read, written by a peer only when configured so), Appearance
(0x2A01, 12.2), Peripheral Preferred Connection Parameters (0x2A04, 12.3, when given) and
Central Address Resolution (0x2AA6, 12.4, present when we resolve private addresses: its
value 1 tells a peer it may direct advertising at our resolvable private address).
"""

from __future__ import annotations

import attrs

from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.gatt_declarations import (
    MAX_DEVICE_NAME_LENGTH,
    OPEN,
    AccessSecurity,
    Characteristic,
    Permissions,
    Properties,
    Service,
)
from bluetrio.messages.uuids import uuid16

GAP_SERVICE_UUID = uuid16(0x1800)
DEVICE_NAME_UUID = uuid16(0x2A00)
APPEARANCE_UUID = uuid16(0x2A01)
PERIPHERAL_PREFERRED_CONNECTION_PARAMETERS_UUID = uuid16(0x2A04)
CENTRAL_ADDRESS_RESOLUTION_UUID = uuid16(0x2AA6)

# Vol 3 Part C 12.3: "no specific value" for any of the four parameters.
NO_PREFERENCE = 0xFFFF


def _in_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be an int, got {value!r}")
    if not (low <= value <= high or value == NO_PREFERENCE):
        raise InvalidArgumentError(f"{name} 0x{value:04X} not in 0x{low:04X}..0x{high:04X}")


@attrs.frozen
class PreferredConnectionParameters:
    """Vol 3 Part C 12.3, in the HCI units: connection intervals in 1.25 ms (6..3200),
    peripheral latency in events (0..499), supervision timeout in 10 ms (10..3200);
    0xFFFF for any of them is "no preference"."""

    min_interval: int = NO_PREFERENCE
    max_interval: int = NO_PREFERENCE
    latency: int = NO_PREFERENCE
    supervision_timeout: int = NO_PREFERENCE

    def __attrs_post_init__(self) -> None:
        _in_range("min_interval", self.min_interval, 0x0006, 0x0C80)
        _in_range("max_interval", self.max_interval, 0x0006, 0x0C80)
        _in_range("latency", self.latency, 0x0000, 0x01F3)
        _in_range("supervision_timeout", self.supervision_timeout, 0x000A, 0x0C80)
        both = NO_PREFERENCE not in (self.min_interval, self.max_interval)
        if both and self.min_interval > self.max_interval:
            raise InvalidArgumentError("min_interval is above max_interval")

    def encode(self) -> bytes:
        return b"".join(
            field.to_bytes(2, "little")
            for field in (
                self.min_interval,
                self.max_interval,
                self.latency,
                self.supervision_timeout,
            )
        )


@attrs.frozen
class GapServiceConfig:
    """What the GAP service holds: the Device Name (UTF-8, at most 248 octets), writable by
    a peer with ``name_write_security`` when ``name_writable``; the Appearance (Assigned
    Numbers 2.6; 0 unknown); the preferred connection parameters (a peripheral's, optional);
    ``central_address_resolution``: we resolve private addresses (the characteristic is
    present, value 1)."""

    device_name: str = "bluetrio"
    appearance: int = 0x0000
    name_writable: bool = False
    name_write_security: AccessSecurity = OPEN
    preferred_connection_parameters: PreferredConnectionParameters | None = None
    central_address_resolution: bool = False

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.device_name, str):
            raise InvalidArgumentError("device_name is text")
        if len(self.device_name.encode()) > MAX_DEVICE_NAME_LENGTH:
            raise InvalidArgumentError(
                f"a Device Name has at most {MAX_DEVICE_NAME_LENGTH} octets of UTF-8"
            )
        appearance = self.appearance
        if isinstance(appearance, bool) or not isinstance(appearance, int):
            raise InvalidArgumentError(f"appearance must be an int, got {appearance!r}")
        if not 0 <= appearance <= 0xFFFF:
            raise InvalidArgumentError(f"appearance 0x{appearance:X} is not 16 bits")


def gap_service(config: GapServiceConfig) -> Service:
    """The GAP service's declaration for ``config``."""
    name_properties = Properties.READ | (Properties.WRITE if config.name_writable else 0)
    characteristics = [
        Characteristic(
            DEVICE_NAME_UUID,
            Properties(name_properties),
            value=config.device_name.encode(),
            permissions=Permissions(
                readable=True,
                writable=config.name_writable,
                write_security=config.name_write_security,
            ),
        ),
        Characteristic(
            APPEARANCE_UUID, Properties.READ, value=config.appearance.to_bytes(2, "little")
        ),
    ]
    if config.preferred_connection_parameters is not None:
        characteristics.append(
            Characteristic(
                PERIPHERAL_PREFERRED_CONNECTION_PARAMETERS_UUID,
                Properties.READ,
                value=config.preferred_connection_parameters.encode(),
            )
        )
    if config.central_address_resolution:
        characteristics.append(
            Characteristic(CENTRAL_ADDRESS_RESOLUTION_UUID, Properties.READ, value=b"\x01")
        )
    return Service(GAP_SERVICE_UUID, tuple(characteristics))
