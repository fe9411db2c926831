"""The GATT server's state of each client: per connection, and per bonded peer across them.

What a server keeps for a client (Core 5.4 Vol 3 Part G):

- the value of every Client Characteristic Configuration descriptor the client wrote (3.3.3.3:
  one value per client, kept across connections for bonded clients);
- its Client Supported Features (7.2: bits the client may set and never clear);
- robust caching (2.5.2.1): whether the client is change-aware. A client connects change-aware
  unless it is bonded and the database changed since it last knew it; every change of the
  database makes every client change-unaware. A change-unaware client that enabled robust
  caching gets Database Out Of Sync (0x12) for a request and nothing for a command, except
  an ATT_READ_BY_TYPE_REQ for the Database Hash, which is answered. It becomes change-aware
  when it confirms a Service Changed indication, when it sends another request after reading
  the hash, or (on a single bearer) another request after the error. The moves are
  :data:`TRANSITIONS`, what becomes of the PDU is :data:`VERDICTS`;
- Service Changed (7.1): a connected client that enabled indications of it hears of each
  change at once (the range of changes made while one indication waits for its confirmation
  is merged into the next one); a bonded client that was away hears of the range changed
  meanwhile when it is back, once the link is encrypted with the bond.

A bond's state is restored when its peer's link is encrypted with that bond; from then on
every change is kept in the bond's record and handed to the key store
(:class:`~bluetrio.messages.gatt_state.GattBondStateStoreReq`). Before that the client is
treated as an unbonded one: what it writes then lasts for the connection only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

import attrs

from bluetrio.actors.effects import Emit
from bluetrio.actors.gatt.database_hash import DATABASE_HASH_UUID
from bluetrio.actors.state_machine import transition
from bluetrio.address import Address
from bluetrio.bonds import Bond, Transport, identity_key
from bluetrio.messages.att import (
    AttErrorCode,
    AttPdu,
    ErrorResponse,
    ExchangeMtuRequest,
    PduKind,
    ReadByTypeRequest,
    kind_of,
)
from bluetrio.messages.gatt_state import (
    CLIENT_FEATURE_BITS,
    FULL_RANGE,
    GattBondedPeer,
    GattBondState,
    GattBondStateStoreReq,
)

__all__ = [
    "TRANSITIONS",
    "VERDICTS",
    "Awareness",
    "CachingEvent",
    "CachingGate",
    "ClientFeature",
    "ClientStates",
    "FeatureWriteRefused",
    "IndicateServiceChanged",
    "StateOutput",
    "Verdict",
    "caching_event",
    "robust_caching",
]

CCCD_NOTIFY = 0x0001  # Vol 3 Part G 3.3.3.3, table 3.11
CCCD_INDICATE = 0x0002


class ClientFeature(enum.IntFlag):
    """Client Supported Features (Vol 3 Part G 7.2, table 7.6)."""

    ROBUST_CACHING = 0x01
    ENHANCED_ATT_BEARER = 0x02
    MULTIPLE_HANDLE_VALUE_NOTIFICATIONS = 0x04


class Awareness(enum.Enum):
    """Robust caching state of a client (Vol 3 Part G 2.5.2.1)."""

    CHANGE_AWARE = "change-aware"
    CHANGE_UNAWARE = "change-unaware"
    # Change-unaware, answered Database Out Of Sync: its next request makes it aware (with
    # exactly one bearer).
    UNAWARE_TOLD_OUT_OF_SYNC = "change-unaware, told out of sync"
    # Change-unaware, has read the Database Hash: its next request makes it aware.
    UNAWARE_READ_HASH = "change-unaware, read the hash"


class CachingEvent(enum.Enum):
    DATABASE_CHANGED = "the database changed"
    REQUEST = "a request, on the client's only bearer"
    REQUEST_OF_SEVERAL_BEARERS = "a request, the client having several bearers"
    HASH_READ_BY_TYPE = "ATT_READ_BY_TYPE_REQ for the Database Hash"
    COMMAND = "a command"
    SERVICE_CHANGED_CONFIRMED = "the client confirmed a Service Changed indication"


class Verdict(enum.Enum):
    """What the server does with a PDU of a client that enabled robust caching."""

    PROCESS = "process it"
    OUT_OF_SYNC = "answer Database Out Of Sync (0x12)"
    IGNORE = "ignore it"


_A, _U = Awareness.CHANGE_AWARE, Awareness.CHANGE_UNAWARE
_TOLD, _READ = Awareness.UNAWARE_TOLD_OUT_OF_SYNC, Awareness.UNAWARE_READ_HASH
_E = CachingEvent

# (state, event) -> next state; every pair is listed (a reader holds it against 2.5.2.1).
TRANSITIONS: Mapping[tuple[Awareness, CachingEvent], Awareness] = {
    **{(state, _E.DATABASE_CHANGED): _U for state in Awareness},
    **{(state, _E.SERVICE_CHANGED_CONFIRMED): _A for state in Awareness},
    **{(_A, event): _A for event in (_E.REQUEST, _E.REQUEST_OF_SEVERAL_BEARERS)},
    (_A, _E.HASH_READ_BY_TYPE): _A,
    (_A, _E.COMMAND): _A,
    (_U, _E.REQUEST): _TOLD,
    (_U, _E.REQUEST_OF_SEVERAL_BEARERS): _TOLD,
    (_U, _E.HASH_READ_BY_TYPE): _READ,
    (_U, _E.COMMAND): _U,
    # "... sends the client a response with Database Out Of Sync and then receives another
    # ATT request from the client": only with exactly one bearer, where no request can have
    # been sent before the client saw the error.
    (_TOLD, _E.REQUEST): _A,
    (_TOLD, _E.REQUEST_OF_SEVERAL_BEARERS): _TOLD,
    (_TOLD, _E.HASH_READ_BY_TYPE): _A,
    (_TOLD, _E.COMMAND): _TOLD,
    # "... reads the Database Hash characteristic and then the server receives another ATT
    # request from the client."
    (_READ, _E.REQUEST): _A,
    (_READ, _E.REQUEST_OF_SEVERAL_BEARERS): _A,
    (_READ, _E.HASH_READ_BY_TYPE): _A,
    (_READ, _E.COMMAND): _READ,
}

# What becomes of a PDU of a client with robust caching enabled, by its state before it.
VERDICTS: Mapping[tuple[Awareness, CachingEvent], Verdict] = {
    **{(_A, event): Verdict.PROCESS for event in CachingEvent},
    **{(state, _E.COMMAND): Verdict.IGNORE for state in (_U, _TOLD, _READ)},
    **{(state, _E.HASH_READ_BY_TYPE): Verdict.PROCESS for state in (_U, _TOLD, _READ)},
    (_U, _E.REQUEST): Verdict.OUT_OF_SYNC,
    (_U, _E.REQUEST_OF_SEVERAL_BEARERS): Verdict.OUT_OF_SYNC,
    (_TOLD, _E.REQUEST): Verdict.PROCESS,
    (_TOLD, _E.REQUEST_OF_SEVERAL_BEARERS): Verdict.OUT_OF_SYNC,
    (_READ, _E.REQUEST): Verdict.PROCESS,
    (_READ, _E.REQUEST_OF_SEVERAL_BEARERS): Verdict.PROCESS,
}


def caching_event(pdu: AttPdu, bearers: int) -> CachingEvent | None:
    """What ``pdu`` from a client using ``bearers`` ATT bearers is to robust caching; None
    for what does not touch the database (an MTU exchange, a confirmation)."""
    kind = kind_of(pdu.opcode)
    if kind is PduKind.COMMAND:
        return _E.COMMAND
    if kind is not PduKind.REQUEST or isinstance(pdu, ExchangeMtuRequest):
        return None
    if isinstance(pdu, ReadByTypeRequest) and pdu.attribute_type == DATABASE_HASH_UUID:
        return _E.HASH_READ_BY_TYPE
    return _E.REQUEST if bearers <= 1 else _E.REQUEST_OF_SEVERAL_BEARERS


def _handle_in_error(pdu: AttPdu) -> int:
    """The request's first attribute handle, 0 when it names none (Vol 3 Part F 3.4.1.1)."""
    for name in ("handle", "start"):
        value = getattr(pdu, name, None)
        if isinstance(value, int):
            return value
    handles = getattr(pdu, "handles", ())
    return handles[0] if handles else 0


@attrs.frozen
class CachingGate:
    """Whether the server goes on with a PDU (``process``), or answers it with ``answer``
    (Database Out Of Sync, on the bearer it came on) or ignores it; ``outputs``: the client's
    state for the key store when it became change-aware."""

    process: bool
    answer: ErrorResponse | None = None
    outputs: tuple[StateOutput, ...] = ()


_GO_ON = CachingGate(True)


def robust_caching(clients: ClientStates, handle: int, pdu: AttPdu, bearers: int) -> CachingGate:
    """The robust caching check (2.5.2.1) of ``pdu`` from the client of link ``handle``,
    which uses ``bearers`` ATT bearers, before the server looks at it."""
    if not clients.out_of_date(handle):
        return _GO_ON  # every PDU of a change-aware client goes on, its state unchanged
    event = caching_event(pdu, bearers)
    if event is None:
        return _GO_ON
    verdict, outputs = clients.on_pdu(handle, event)
    if verdict is Verdict.OUT_OF_SYNC:
        error = ErrorResponse(pdu.opcode, _handle_in_error(pdu), AttErrorCode.DATABASE_OUT_OF_SYNC)
        return CachingGate(False, error, tuple(outputs))
    return CachingGate(verdict is Verdict.PROCESS, None, tuple(outputs))


@attrs.frozen
class IndicateServiceChanged:
    """Indicate Service Changed with ``start``..``end`` (7.1) to the client of link
    ``handle``; :meth:`ClientStates.on_service_changed_confirmed` reports its confirmation."""

    handle: int
    start: int
    end: int


# What the clients' state hands the server: the key store's messages and indications.
StateOutput = Emit | IndicateServiceChanged


class FeatureWriteRefused(Exception):
    """A write of Client Supported Features that would clear a bit set before (7.2):
    answered with Value Not Allowed (0x13)."""


def _merge(range_a: tuple[int, int] | None, range_b: tuple[int, int]) -> tuple[int, int]:
    if range_a is None:
        return range_b
    return min(range_a[0], range_b[0]), max(range_a[1], range_b[1])


@attrs.define
class _ClientState:
    """What is kept of one client, on a link or with a bond."""

    cccds: dict[int, int] = attrs.field(factory=dict)
    features: int = 0
    awareness: Awareness = Awareness.CHANGE_AWARE
    # The range to indicate next (changed since the client last confirmed a Service Changed).
    service_changed: tuple[int, int] | None = None

    def copy(self) -> _ClientState:
        return attrs.evolve(self, cccds=dict(self.cccds))

    def changed(self, start: int, end: int) -> None:
        """Handles ``start``..``end`` changed: the CCCDs there are gone or new ones."""
        for handle in [h for h in self.cccds if start <= h <= end]:
            del self.cccds[handle]
        self.awareness = transition(TRANSITIONS, self.awareness, _E.DATABASE_CHANGED)
        self.service_changed = _merge(self.service_changed, (start, end))


@attrs.define
class _BondedClient:
    """A bonded peer. ``state`` is its state when the database hash was ``base_hash``;
    ``since``: the handles changed since then while this server ran, when ``tracked``
    (otherwise the database may have changed anywhere: this server started with another one)."""

    peer: Address
    csrk: bytes | None
    link_address: Address | None
    state: _ClientState
    base_hash: bytes | None
    tracked: bool
    since: tuple[int, int] | None = None
    sign_counter: int | None = None
    authenticated: bool = False

    def current(self, database_hash: bytes | None) -> _ClientState:
        """Its state against the database as it is now (2.5.2.1: a bonded client's
        change-awareness is kept across connections)."""
        state = self.state.copy()
        if database_hash is not None and database_hash == self.base_hash:
            return state  # whatever changed meanwhile was changed back
        if self.tracked and self.since is not None:
            state.changed(*self.since)
        elif not self.tracked:
            state.changed(*FULL_RANGE)  # its CCCDs with it: their handles mean nothing now
        return state


@attrs.define
class _Link:
    handle: int
    address: Address  # on the air
    peer: Address  # identity when known, else the address on the air
    state: _ClientState = attrs.field(factory=_ClientState)
    bond: _BondedClient | None = None  # set once the link is encrypted with the bond
    # The range of the Service Changed indication awaiting its confirmation.
    in_flight: tuple[int, int] | None = None


class ClientStates:
    """Every client's state: one per link while it is up, one per bonded peer for ever.

    ``service_changed_cccd`` is the handle of the Service Changed characteristic's CCCD (the
    GATT service sets it when it joins the database); ``database_hash`` is the current hash,
    kept with each bond's state.
    """

    def __init__(self) -> None:
        self.bonds: dict[Address, _BondedClient] = {}
        self.links: dict[int, _Link] = {}
        self.service_changed_cccd: int | None = None
        self.database_hash: bytes | None = None

    # -- bonds -----------------------------------------------------------------------------
    def load(self, peers: Iterable[GattBondedPeer]) -> None:
        """Take the bonded peers of the key store (at start, once :attr:`database_hash` is
        that of the database as it is then)."""
        for bonded in peers:
            stored = bonded.state if bonded.state is not None else GattBondState()
            key = identity_key(bonded.peer)
            state = _ClientState(
                cccds=dict(stored.cccds),
                features=stored.client_features,
                awareness=_A if stored.change_aware else _U,
                service_changed=stored.service_changed,
            )
            tracked = stored.database_hash is not None and stored.database_hash == (
                self.database_hash
            )
            self.bonds[key] = _BondedClient(
                key, bonded.csrk, bonded.link_address, state, stored.database_hash, tracked,
                sign_counter=stored.sign_counter, authenticated=bonded.authenticated,
            )  # fmt: skip

    def on_bond(self, bond: Bond) -> list[StateOutput]:
        """A bond was made (btm's StoreBondReq). For an LE bond the client's state on its
        link, if up, becomes the bond's state: a new bond starts from what the client did on
        the link that made it, not from what an earlier bond with the peer kept."""
        if bond.transport is not Transport.LE:
            return []
        key = identity_key(bond.peer_address)
        record = _BondedClient(
            key, bond.peer_keys.csrk, bond.peer_link_address, _ClientState(),
            self.database_hash, tracked=True, authenticated=bond.authenticated,
        )  # fmt: skip
        self.bonds[key] = record
        for link in self.links.values():
            if link.peer == key or link.address == bond.peer_link_address:
                link.peer, link.bond = key, record
                return [self._store(record, link.state)]
        return [self._store(record)]

    # -- links -----------------------------------------------------------------------------
    def on_link_up(self, handle: int, address: Address, peer: Address) -> None:
        """An LE link is up; ``peer`` its identity address when btm knows it."""
        self.links[handle] = _Link(handle, address, identity_key(peer))

    def on_link_down(self, handle: int) -> list[StateOutput]:
        """The link is gone; a bonded client's state stays with its bond, a Service Changed
        indication it did not confirm included."""
        link = self.links.pop(handle, None)
        if link is None or link.bond is None:
            return []
        if link.in_flight is not None:
            link.state.service_changed = _merge(link.state.service_changed, link.in_flight)
            link.in_flight = None
        if link.state.awareness is not _A:
            link.state.awareness = _U
        return [self._store(link.bond, link.state)]

    def on_link_encrypted(self, handle: int, peer: Address, with_bond: bool) -> list[StateOutput]:
        """The link is encrypted (btm's LinkSecuredInd); ``with_bond``: with the stored bond's
        key. The bond's state then applies to the link, and a change the client missed is
        indicated."""
        link = self.links.get(handle)
        if link is None or link.bond is not None or not with_bond:
            return []
        record = self._bond_of(identity_key(peer), link.address)
        if record is None:
            return []
        link.peer, link.bond = record.peer, record
        link.state = record.current(self.database_hash)
        return [*self._indicate_pending(link), self._store(record, link.state)]

    def _bond_of(self, peer: Address, address: Address) -> _BondedClient | None:
        record = self.bonds.get(peer)
        if record is not None:
            return record
        for candidate in self.bonds.values():
            if candidate.link_address == address:
                return candidate
        return None

    def bonded_peer(self, handle: int) -> _BondedClient | None:
        """The bond of the link's peer, found by its identity or the address it bonded over,
        encrypted or not (a signed write comes on a link that is not)."""
        link = self.links.get(handle)
        if link is None:
            return None
        return link.bond if link.bond is not None else self._bond_of(link.peer, link.address)

    # -- CCCDs -----------------------------------------------------------------------------
    def cccd(self, handle: int, descriptor: int) -> int:
        """The value of CCCD ``descriptor`` for the client of link ``handle`` (0 unless it
        wrote one)."""
        link = self.links.get(handle)
        return 0 if link is None else link.state.cccds.get(descriptor, 0)

    def write_cccd(self, handle: int, descriptor: int, value: int) -> list[StateOutput]:
        """The client wrote ``value`` to CCCD ``descriptor`` (the server checked it). A client
        enabling Service Changed indications with a change pending hears of it at once."""
        link = self.links.get(handle)
        if link is None:
            return []
        if value:
            link.state.cccds[descriptor] = value
        else:
            link.state.cccds.pop(descriptor, None)
        return [*self._indicate_pending(link), *self._store_link(link)]

    def subscribers(self, descriptor: int, indicate: bool) -> tuple[int, ...]:
        """The links whose client set the notify (or indicate) bit of CCCD ``descriptor``."""
        bit = CCCD_INDICATE if indicate else CCCD_NOTIFY
        return tuple(
            handle
            for handle, link in self.links.items()
            if link.state.cccds.get(descriptor, 0) & bit
        )

    # -- Client Supported Features (7.2) ---------------------------------------------------
    def client_features(self, handle: int) -> int:
        link = self.links.get(handle)
        return 0 if link is None else link.state.features

    def features_refused(self, handle: int, value: bytes) -> bool:
        """Whether writing ``value`` to Client Supported Features would clear a bit the
        client set before (7.2: answered Value Not Allowed)."""
        link = self.links.get(handle)
        return link is not None and bool(link.state.features & ~int.from_bytes(value, "little"))

    def write_client_features(self, handle: int, value: bytes) -> list[StateOutput]:
        """The client wrote Client Supported Features. Bits it set stay set: a write that
        clears one raises :class:`FeatureWriteRefused`; reserved bits are not kept."""
        link = self.links.get(handle)
        if link is None:
            return []
        written = int.from_bytes(value, "little")
        if self.features_refused(handle, value):
            raise FeatureWriteRefused(
                f"Client Supported Features 0x{link.state.features:02X} would lose bits"
            )
        features = written & CLIENT_FEATURE_BITS
        if features == link.state.features:
            return []
        link.state.features = features
        return self._store_link(link)

    # -- robust caching (2.5.2.1) ----------------------------------------------------------
    def awareness(self, handle: int) -> Awareness:
        link = self.links.get(handle)
        return Awareness.CHANGE_AWARE if link is None else link.state.awareness

    def out_of_date(self, handle: int) -> bool:
        """Whether robust caching has anything to say about the client's PDUs: it enabled it
        and is not change-aware."""
        link = self.links.get(handle)
        return (
            link is not None
            and link.state.awareness is not _A
            and bool(link.state.features & ClientFeature.ROBUST_CACHING)
        )

    def on_pdu(self, handle: int, event: CachingEvent) -> tuple[Verdict, list[StateOutput]]:
        """A request or command came from the client of link ``handle``: what to do with it.

        Robust caching applies to clients that enabled it (7.2); the PDUs of the others are
        processed, and their state moves only with the database and Service Changed."""
        link = self.links.get(handle)
        if link is None or not link.state.features & ClientFeature.ROBUST_CACHING:
            return Verdict.PROCESS, []
        before = link.state.awareness
        link.state.awareness = transition(TRANSITIONS, before, event)
        became_aware = link.state.awareness is _A and before is not _A
        return VERDICTS[before, event], self._store_link(link) if became_aware else []

    # -- Service Changed (7.1) -------------------------------------------------------------
    def on_database_changed(
        self, start: int, end: int, new_hash: bytes | None
    ) -> list[StateOutput]:
        """Handles ``start``..``end`` changed and the hash is ``new_hash``: every client
        becomes change-unaware and loses its CCCD values in the range (those descriptors are
        gone or new); a connected one that enabled Service Changed indications hears of it
        now, a bonded one that is away when it is back (:meth:`on_link_encrypted`). ``new_hash``
        is None for a server without the GATT service."""
        self.database_hash = new_hash
        outputs: list[StateOutput] = []
        for link in self.links.values():
            link.state.changed(start, end)
            outputs.extend(self._indicate_pending(link))
            outputs.extend(self._store_link(link))
        connected = {id(link.bond) for link in self.links.values() if link.bond is not None}
        for record in self.bonds.values():
            if id(record) not in connected and record.tracked:
                record.since = _merge(record.since, (start, end))
        return outputs

    def on_service_changed_confirmed(self, handle: int) -> list[StateOutput]:
        """The client confirmed the Service Changed indication: it is change-aware, unless
        another change came meanwhile, which is indicated now."""
        link = self.links.get(handle)
        if link is None or link.in_flight is None:
            return []
        link.in_flight = None
        if link.state.service_changed is None:
            event = _E.SERVICE_CHANGED_CONFIRMED
            link.state.awareness = transition(TRANSITIONS, link.state.awareness, event)
        return [*self._indicate_pending(link), *self._store_link(link)]

    def on_service_changed_failed(self, handle: int) -> None:
        """The indication was not confirmed (the bearer timed out or closed): its range is
        indicated again at the client's next connection, if the client is bonded."""
        link = self.links.get(handle)
        if link is not None and link.in_flight is not None:
            link.state.service_changed = _merge(link.state.service_changed, link.in_flight)
            link.in_flight = None

    def _indicate_pending(self, link: _Link) -> list[StateOutput]:
        changed = link.state.service_changed
        descriptor = self.service_changed_cccd
        if changed is None or link.in_flight is not None or descriptor is None:
            return []
        if not link.state.cccds.get(descriptor, 0) & CCCD_INDICATE:
            return []
        link.in_flight, link.state.service_changed = changed, None
        return [IndicateServiceChanged(link.handle, *changed)]

    # -- signed writes ---------------------------------------------------------------------
    def accept_sign_counter(self, handle: int, counter: int) -> list[StateOutput]:
        """A signed write with ``counter`` was accepted from the link's bonded peer."""
        record = self.bonded_peer(handle)
        if record is None:
            return []
        record.sign_counter = counter
        link = self.links[handle]
        return [self._store(record, link.state if link.bond is record else None)]

    # -- persistence -----------------------------------------------------------------------
    def _store_link(self, link: _Link) -> list[StateOutput]:
        return [] if link.bond is None else [self._store(link.bond, link.state)]

    def _store(self, record: _BondedClient, live: _ClientState | None = None) -> Emit:
        """Make ``live`` (the state on the client's link) the bond's state, against the
        database as it is now, and hand it to the key store."""
        if live is not None:
            record.state = live.copy()
            record.base_hash, record.tracked, record.since = self.database_hash, True, None
        state = record.state
        pending = state.service_changed
        for link in self.links.values():
            if link.bond is record and link.in_flight is not None:
                # Sent and not yet confirmed: if the client never confirms it, it hears of
                # the range again (7.1).
                pending = _merge(pending, link.in_flight)
        return Emit(
            GattBondStateStoreReq(
                record.peer,
                GattBondState(
                    cccds=tuple(sorted(state.cccds.items())),
                    client_features=state.features,
                    change_aware=state.awareness is _A,
                    service_changed=pending,
                    database_hash=record.base_hash,
                    sign_counter=record.sign_counter,
                ),
            )
        )
