"""Per-link security state: one :class:`LinkRecord` per BR/EDR connection, holding the
link's security state, its Secure Simple Pairing and the requesters waiting on it.

A record exists exactly while its connection does (created on link up, released on link
down): a security event for an address or handle with no link finds no record and creates
none, so a peer or controller cannot make the host hold state for connections that do not
exist.
"""

from __future__ import annotations

import attrs

from bluetrio.actors.btm.security_policy import (
    INSUFFICIENT_SECURITY,
    SUCCESS,
    AchievedSecurity,
    EncryptionMode,
    peer_key,
)
from bluetrio.actors.btm.states import (
    LINK_TRANSITIONS,
    PAIRING_TRANSITIONS,
    LinkSecurityEvent,
    LinkSecurityState,
    PairingEvent,
    PairingState,
)
from bluetrio.actors.effects import Send
from bluetrio.actors.state_machine import allowed, transition
from bluetrio.address import Address
from bluetrio.bonds import LinkKey, LinkKeyType
from bluetrio.messages.btm_security import (
    AssociationModel,
    LinkSecurityCnf,
    PairCnf,
    PeerOobData,
    SecurityRequirement,
)


@attrs.define
class Pairing:
    """Secure Simple Pairing on one link, as far as this host has seen it."""

    state: PairingState = PairingState.IDLE
    local_io: int | None = None
    local_auth: int | None = None
    peer_io: int | None = None
    peer_auth: int | None = None
    model: AssociationModel | None = None
    oob_data: PeerOobData | None = None

    def can(self, event: PairingEvent) -> bool:
        return allowed(PAIRING_TRANSITIONS, self.state, event)

    def _transition(self, event: PairingEvent) -> None:
        self.state = transition(PAIRING_TRANSITIONS, self.state, event)


@attrs.frozen
class Waiter:
    """Who asked for a link's security, answered when the procedure ends.

    ``requirement`` is None for a :class:`PairReq` (answered by :class:`PairCnf`), else the
    requirement of a :class:`LinkSecurityReq` (answered by :class:`LinkSecurityCnf`).
    """

    sender: str
    token: int
    requirement: SecurityRequirement | None = None

    def answer(self, record: LinkRecord, status: int, error: str | None) -> Send:
        ok = status == SUCCESS
        if self.requirement is None:
            return Send(
                self.sender,
                PairCnf(
                    self.token,
                    record.peer,
                    status,
                    handle=record.handle,
                    model=record.model,
                    key_type=record.key_type if ok else None,
                    used_stored_key=record.used_stored_key if ok else False,
                    key_size=record.key_size if ok else None,
                    error=error,
                ),
            )
        achieved = record.achieved() if ok else None
        if achieved is not None:
            missing = achieved.shortfalls(self.requirement)
            if missing:
                status = INSUFFICIENT_SECURITY
                error = "the link lacks " + ", ".join(missing)
        return Send(
            self.sender,
            LinkSecurityCnf(
                self.token,
                record.handle,
                status,
                key_type=record.key_type if status == SUCCESS else None,
                key_size=record.key_size if status == SUCCESS else None,
                error=error,
            ),
        )


@attrs.define
class LinkRecord:
    """Security state of one BR/EDR link."""

    handle: int
    peer: Address
    state: LinkSecurityState = LinkSecurityState.UNSECURED
    pairing: Pairing = attrs.Factory(Pairing)
    key_type: LinkKeyType | None = None  # the key the controller holds for this link
    link_key: LinkKey | None = None  # that key (SMP over BR/EDR derives LE keys from it)
    used_stored_key: bool = False
    peer_verified: bool = False  # the peer proved the key to us (SSP, or our challenge)
    model: AssociationModel | None = None  # of the pairing on this link, if any
    encryption: EncryptionMode = EncryptionMode.OFF
    key_size: int | None = None
    waiting: list[Waiter] = attrs.Factory(list)
    # Why the procedure is failing when the status alone does not say (a prompt timed out).
    failure: str | None = None

    def _transition(self, event: LinkSecurityEvent) -> None:
        self.state = transition(LINK_TRANSITIONS, self.state, event)

    def achieved(self) -> AchievedSecurity | None:
        if self.state is not LinkSecurityState.SECURED:
            return None
        assert self.key_type is not None and self.key_size is not None
        return AchievedSecurity(self.key_type, self.encryption, self.key_size)


class SecurityLinks:
    """The records of the BR/EDR links that are up, by handle."""

    def __init__(self) -> None:
        self._records: dict[int, LinkRecord] = {}

    def __len__(self) -> int:
        return len(self._records)

    def add(self, handle: int, peer: Address) -> LinkRecord:
        record = LinkRecord(handle, peer_key(peer))
        self._records[handle] = record
        return record

    def remove(self, handle: int) -> LinkRecord | None:
        return self._records.pop(handle, None)

    def get(self, handle: int) -> LinkRecord | None:
        return self._records.get(handle)

    def by_peer(self, address: Address) -> LinkRecord | None:
        """The open (not closing) link to ``address``."""
        peer = peer_key(address)
        for record in self._records.values():
            if record.peer == peer and record.state is not LinkSecurityState.CLOSING:
                return record
        return None
