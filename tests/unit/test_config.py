"""StackConfig and SecurityConfig refuse values of the wrong kind with InvalidArgumentError
(a truthy string such as ``"no"`` used to switch a feature on; ``NaN`` passed as positive)."""

from __future__ import annotations

from typing import Any

import pytest

from bluetrio.actors.btm.config import SecurityConfig, StackConfig
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.btm import ConnectionPolicy


@pytest.mark.parametrize(
    "fields",
    [
        {"le": "no"},
        {"bredr": 1},
        {"discoverable": "yes"},
        {"privacy": None},
        {"class_of_device": "x"},
        {"class_of_device": 0x1000000},
        {"local_name": 5},
        {"local_name": "é" * 125},  # 250 octets of UTF-8
        {"rpa_rotation": "60"},
        {"rpa_rotation": float("nan")},
        {"bringup_timeout": float("inf")},
        {"optional_command_timeout": True},
        {"device_records": 2.5},
        {"connection_policy": "reject"},
        {"security": None},
    ],
)
def test_stack_config_refuses_values_of_the_wrong_kind(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        StackConfig(**fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"pairable": "yes"},
        {"secure_connections_only": 1},
        {"min_encryption_key_size": "16"},
        {"min_encryption_key_size": 16.0},
        {"min_encryption_key_size": 6},
    ],
)
def test_security_config_refuses_values_of_the_wrong_kind(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        SecurityConfig(**fields)


def test_sound_values_are_kept() -> None:
    config = StackConfig(
        local_name=None,
        class_of_device=0x5A020C,
        rpa_rotation=60,
        connection_policy=ConnectionPolicy.REJECT,
        security=SecurityConfig(pairable=True, min_encryption_key_size=7),
    )
    assert (config.rpa_rotation, config.security.min_encryption_key_size) == (60, 7)
