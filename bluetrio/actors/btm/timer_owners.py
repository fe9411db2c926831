"""The owners of BTM's timers, one type per job, so the core dispatches an expiry by type.

A :class:`~bluetrio.actors.effects.TimerKey` names its owner; BTM's owners are these frozen
classes (hashable, compared by value), and :meth:`BtmCore._on_timer` matches on them.
Releasing an owner (``ReleaseTimers``) stops every timer it holds.
"""

from __future__ import annotations

import attrs

from bluetrio.address import Address


@attrs.frozen
class BringUpTimer:
    """The whole of bring-up: a lost command or answer must not leave it waiting forever."""


@attrs.frozen
class LeConnectTimer:
    """Our one LE_Create_Connection attempt (Vol 4 Part E 7.8.12)."""


@attrs.frozen
class InquiryTimer:
    """Our one inquiry: its Inquiry Complete is due when Inquiry_Length ends (7.1.1)."""


@attrs.frozen
class RemoteNameTimer:
    """A Remote_Name_Request to ``address`` (Vol 4 Part E 7.1.19)."""

    address: Address


@attrs.frozen
class PageTimer:
    """A Create_Connection to ``address`` (Vol 4 Part E 7.1.5)."""

    address: Address


@attrs.frozen
class RpaRotationTimer:
    """Regeneration of our resolvable private address (Vol 3 Part C 10.7)."""


class SecurityTimer:
    """Base of the timers the security core owns; BTM hands their expiry to it."""


@attrs.frozen
class SecurityProcedureTimer(SecurityTimer):
    """The security procedure of link ``handle`` (authentication, encryption, checks)."""

    handle: int


@attrs.frozen
class PromptTimer(SecurityTimer):
    """A question put to the pairing delegate, answered within the prompt timeout."""

    prompt_id: int


@attrs.frozen
class LeSecurityTimer(SecurityTimer):
    """BTM's wait on SMP for the requesters of LE link ``handle``."""

    handle: int


@attrs.frozen
class LeEncryptionTimer(SecurityTimer):
    """LE_Enable_Encryption on link ``handle``, until Encryption Change (Vol 4 Part E 7.7.8)."""

    handle: int
