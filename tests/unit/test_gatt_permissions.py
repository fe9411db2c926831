"""Attribute permissions against the link's security, table-driven (Core 5.4 Vol 3 Part F
3.4.4.3 / 3.4.5.1 error lists, Vol 3 Part C 10.3): every requirement on every kind of link."""

from __future__ import annotations

import pytest

from bluetrio.actors.gatt.permissions import (
    Access,
    LinkSecurity,
    access_error,
    needs_authorization,
)
from bluetrio.messages.att import AttErrorCode
from bluetrio.messages.gatt_declarations import AccessSecurity, Permissions

UNENCRYPTED = LinkSecurity()
ENCRYPTED_7 = LinkSecurity(encrypted=True, authenticated=False, key_size=7)
ENCRYPTED_16 = LinkSecurity(encrypted=True, authenticated=False, key_size=16)
AUTHENTICATED_7 = LinkSecurity(encrypted=True, authenticated=True, key_size=7)
AUTHENTICATED_16 = LinkSecurity(encrypted=True, authenticated=True, key_size=16)
LINKS = (UNENCRYPTED, ENCRYPTED_7, ENCRYPTED_16, AUTHENTICATED_7, AUTHENTICATED_16)

OPEN = AccessSecurity()
ENCRYPTION = AccessSecurity(encryption=True)
ENCRYPTION_16 = AccessSecurity(encryption=True, min_key_size=16)
AUTHENTICATION = AccessSecurity(authentication=True)
AUTHENTICATION_16 = AccessSecurity(authentication=True, min_key_size=16)

AUTHN = AttErrorCode.INSUFFICIENT_AUTHENTICATION
ENC = AttErrorCode.INSUFFICIENT_ENCRYPTION
SIZE = AttErrorCode.ENCRYPTION_KEY_SIZE_TOO_SHORT

# requirement -> the answer on each link of LINKS, in order (None: allowed).
TABLE = {
    OPEN: (None, None, None, None, None),
    ENCRYPTION: (ENC, None, None, None, None),
    ENCRYPTION_16: (ENC, SIZE, None, SIZE, None),
    AUTHENTICATION: (AUTHN, AUTHN, AUTHN, None, None),
    AUTHENTICATION_16: (AUTHN, AUTHN, AUTHN, SIZE, None),
}

CASES = [
    (requirement, link, expected)
    for requirement, answers in TABLE.items()
    for link, expected in zip(LINKS, answers, strict=True)
]


@pytest.mark.parametrize(("requirement", "link", "expected"), CASES)
def test_reads(
    requirement: AccessSecurity, link: LinkSecurity, expected: AttErrorCode | None
) -> None:
    permissions = Permissions(readable=True, read_security=requirement)
    assert access_error(permissions, Access.READ, link) == expected
    # The write side's security is not the read side's.
    assert (
        access_error(
            Permissions(readable=True, writable=True, write_security=requirement),
            Access.READ,
            link,
        )
        is None
    )


@pytest.mark.parametrize(("requirement", "link", "expected"), CASES)
def test_writes(
    requirement: AccessSecurity, link: LinkSecurity, expected: AttErrorCode | None
) -> None:
    permissions = Permissions(readable=False, writable=True, write_security=requirement)
    assert access_error(permissions, Access.WRITE, link) == expected


@pytest.mark.parametrize("link", LINKS)
def test_not_permitted_comes_before_any_security(link: LinkSecurity) -> None:
    permissions = Permissions(
        readable=False,
        writable=False,
        read_security=AUTHENTICATION_16,
        write_security=AUTHENTICATION_16,
    )
    assert access_error(permissions, Access.READ, link) == AttErrorCode.READ_NOT_PERMITTED
    assert access_error(permissions, Access.WRITE, link) == AttErrorCode.WRITE_NOT_PERMITTED


def test_authorization_is_asked_only_for_the_access_that_needs_it() -> None:
    permissions = Permissions(
        readable=True, writable=True, write_security=AccessSecurity(authorization=True)
    )
    assert needs_authorization(permissions, Access.WRITE)
    assert not needs_authorization(permissions, Access.READ)
    # The link's security is checked first; authorization comes after it passes.
    assert access_error(permissions, Access.WRITE, UNENCRYPTED) is None
