"""The SMP service's LE security requirement (Core 5.4 Vol 3 Part C 10.2.1)."""

from __future__ import annotations

import pytest

from bluetrio.address import Address
from bluetrio.bonds import Bond, Transport
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages.btm import SecurityLevel
from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.smp_service import LeSecurityRequirement

LOCAL = Address.parse("C0:00:00:00:00:01/R")
PEER = Address.parse("C0:00:00:00:00:02/R")


def test_levels_of_le_security_mode_1() -> None:
    assert LeSecurityRequirement().level is SecurityLevel.ENCRYPTED
    assert LeSecurityRequirement(mitm=True).level is SecurityLevel.AUTHENTICATED
    level_4 = LeSecurityRequirement(mitm=True, secure_connections=True)
    assert level_4.level is SecurityLevel.SECURE_CONNECTIONS
    # Level 4 needs a 128-bit key whatever the minimum says.
    assert level_4.effective_min_key_size == 16
    assert level_4.shortfall(authenticated=True, secure_connections=True, key_size=15)


def test_shortfalls_name_what_is_missing() -> None:
    requirement = LeSecurityRequirement(mitm=True, secure_connections=True)
    assert "authenticated" in (
        requirement.shortfall(authenticated=False, secure_connections=True, key_size=16) or ""
    )
    assert "legacy" in (
        requirement.shortfall(authenticated=True, secure_connections=False, key_size=16) or ""
    )
    assert requirement.shortfall(authenticated=True, secure_connections=True, key_size=16) is None
    short = LeSecurityRequirement(min_key_size=10)
    assert short.shortfall(authenticated=False, secure_connections=False, key_size=9)
    assert short.shortfall(authenticated=False, secure_connections=False, key_size=10) is None


def test_a_bond_meets_the_requirement_by_its_strength() -> None:
    bond = Bond(LOCAL, PEER, Transport.LE, authenticated=False, secure_connections=True)
    assert LeSecurityRequirement(secure_connections=True).met_by_bond(bond)
    assert not LeSecurityRequirement(mitm=True).met_by_bond(bond)


def test_from_a_bredr_style_requirement() -> None:
    requirement = SecurityRequirement(mitm=True, min_key_size=12)
    le = LeSecurityRequirement.from_requirement(requirement)
    assert (le.mitm, le.secure_connections, le.min_key_size) == (True, False, 12)


@pytest.mark.parametrize(
    "kwargs", [{"mitm": 1}, {"bonding": None}, {"min_key_size": 6}, {"min_key_size": True}]
)
def test_bad_arguments_raise_in_the_caller(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError):
        LeSecurityRequirement(**kwargs)  # type: ignore[arg-type]
