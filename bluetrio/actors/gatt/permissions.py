"""Whether a link may read or write an attribute, and the exact ATT error when it may not
(Core 5.4 Vol 3 Part F 3.2.5 and the error lists of 3.4.3-3.4.6; Vol 3 Part C 10.3; Vol 3
Part G 8.1).

The checks run in this order, the first that fails giving the answer:

1. the attribute is not readable / not writable: Read Not Permitted (0x02) / Write Not
   Permitted (0x03);
2. the access needs authentication (an authenticated key, MITM protection) and the link is
   not encrypted with one: Insufficient Authentication (0x05), also on an unencrypted link;
3. the access needs encryption and the link is not encrypted: Insufficient Encryption (0x0F);
4. the link's key is shorter than the access needs: Insufficient Encryption Key Size (0x0C);
5. the access needs authorization: the application's ``authorize`` answers, false being
   Insufficient Authorization (0x08); the server asks it after these checks pass.

Vol 3 Part C 10.3.1 would answer an unencrypted link that only lacks encryption with
Insufficient Authentication when no bond exists (the client should pair) and Insufficient
Encryption when one does; like Bluedroid and Zephyr we answer Insufficient Encryption either
way: the client that has the bond encrypts with it and the one that has none pairs, which
encrypts too, so both reach the value.
"""

from __future__ import annotations

import enum

import attrs

from bluetrio.messages.att import AttErrorCode
from bluetrio.messages.gatt_declarations import AccessSecurity, Permissions


@attrs.frozen
class LinkSecurity:
    """How a link is secured now: ``encrypted``, with a key made with MITM protection
    (``authenticated``), of ``key_size`` octets (0 while unencrypted)."""

    encrypted: bool = False
    authenticated: bool = False
    key_size: int = 0


UNSECURED = LinkSecurity()


class Access(enum.Enum):
    READ = "read"
    WRITE = "write"


def security_of(permissions: Permissions, access: Access) -> AccessSecurity:
    return permissions.read_security if access is Access.READ else permissions.write_security


def access_error(
    permissions: Permissions, access: Access, link: LinkSecurity
) -> AttErrorCode | None:
    """The ATT error for this access on this link, or None when steps 1-4 allow it (the
    application may still refuse authorization: :func:`needs_authorization`)."""
    if access is Access.READ and not permissions.readable:
        return AttErrorCode.READ_NOT_PERMITTED
    if access is Access.WRITE and not permissions.writable:
        return AttErrorCode.WRITE_NOT_PERMITTED
    security = security_of(permissions, access)
    if security.authentication and not (link.encrypted and link.authenticated):
        return AttErrorCode.INSUFFICIENT_AUTHENTICATION
    if security.needs_encryption and not link.encrypted:
        return AttErrorCode.INSUFFICIENT_ENCRYPTION
    if security.min_key_size and link.key_size < security.min_key_size:
        return AttErrorCode.ENCRYPTION_KEY_SIZE_TOO_SHORT
    return None


def needs_authorization(permissions: Permissions, access: Access) -> bool:
    """Whether the application must authorize this access (step 5)."""
    return security_of(permissions, access).authorization
