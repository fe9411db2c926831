"""Device and security records: the analogue of Bluedroid's ``tBTM_SEC_DEV_REC``.

A bounded pool with one record per peer identity. When it is full, allocating a record
evicts the oldest record that is not paired (and not connected); only when every record is
paired does the oldest paired one go, as Bluedroid's ``btm_sec_allocate_dev_rec`` does.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

import attrs

from bluetrio import crypto
from bluetrio.address import Address, AddressType
from bluetrio.errors import InvalidArgumentError

logger = logging.getLogger(__name__)


def identity_key(address: Address) -> Address:
    """Identity types 0x02/0x03 name the same device as public/random (Vol 4 Part E 7.8.12)."""
    return address.with_type(AddressType.RANDOM if address.is_random else AddressType.PUBLIC)


@attrs.define
class DeviceRecord:
    """What BTM knows about one peer; ``address`` is its identity (or only known) address."""

    address: Address
    age: int  # allocation order: smaller is older
    paired: bool = False
    irk: bytes | None = None  # the peer's IRK, to resolve its RPAs (Vol 3 Part H 2.4.2.1)
    handles: set[int] = attrs.field(factory=set)
    last_private_address: Address | None = None
    # The address it connected with when it bonded, if not its identity nor an RPA: a peer
    # on a static random (or public) address that distributed another identity.
    bonding_address: Address | None = None
    name: str | None = None
    class_of_device: int | None = None


class DeviceRecords:
    """The pool of device records (see the module docstring)."""

    def __init__(self, capacity: int = 64) -> None:
        if capacity < 1:
            raise InvalidArgumentError(f"the device record pool needs room, got {capacity}")
        self.capacity = capacity
        self._records: dict[Address, DeviceRecord] = {}
        self._ages = itertools.count()

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[DeviceRecord]:
        return iter(list(self._records.values()))

    def find(self, address: Address) -> DeviceRecord | None:
        """The record whose identity or last private address is ``address``."""
        record = self._records.get(identity_key(address))
        if record is not None:
            return record
        for candidate in self._records.values():
            if candidate.last_private_address == address:
                return candidate
        return None

    def by_handle(self, handle: int) -> DeviceRecord | None:
        for record in self._records.values():
            if handle in record.handles:
                return record
        return None

    def resolve(self, address: Address) -> DeviceRecord | None:
        """The record whose IRK generated the resolvable private ``address``, if any."""
        if not address.is_resolvable_private:
            return None
        # crypto works on MSB-first bytes; Address holds the wire (LSB-first) order.
        msb_first = bytes(reversed(address.value))
        for record in self._records.values():
            if record.irk is not None and crypto.resolve_rpa(record.irk, msb_first):
                return record
        return None

    def bonded_as(self, address: Address) -> DeviceRecord | None:
        """The bonded record whose peer connected with ``address`` (not an RPA) when it
        bonded, yet distributed another identity (Vol 3 Part H 3.6.5)."""
        if address.is_resolvable_private:
            return None
        for record in self._records.values():
            if record.paired and record.bonding_address == identity_key(address):
                return record
        return None

    def obtain(self, address: Address) -> DeviceRecord:
        """The record of ``address``, allocated (evicting if the pool is full) if new."""
        record = self.find(address)
        if record is not None:
            return record
        if len(self._records) >= self.capacity:
            self._evict()
        record = DeviceRecord(identity_key(address), next(self._ages))
        self._records[record.address] = record
        return record

    def remember_bond(
        self, address: Address, irk: bytes | None, link_address: Address | None = None
    ) -> DeviceRecord:
        """Mark ``address`` paired (a stored bond), keeping its IRK for resolution and the
        address it bonded over (``link_address``) when that names it too."""
        record = self.obtain(address)
        record.paired = True
        if irk is not None:
            record.irk = irk
        if (
            link_address is not None
            and not link_address.is_resolvable_private
            and identity_key(link_address) != record.address
        ):
            record.bonding_address = identity_key(link_address)
        return record

    def forget(self, address: Address) -> bool:
        return self._records.pop(identity_key(address), None) is not None

    def attach_handle(self, record: DeviceRecord, handle: int) -> None:
        for other in self._records.values():
            other.handles.discard(handle)
        record.handles.add(handle)

    def detach_handle(self, handle: int) -> None:
        for record in self._records.values():
            record.handles.discard(handle)

    def _evict(self) -> None:
        def order(record: DeviceRecord) -> tuple[bool, bool, int]:
            return (record.paired, bool(record.handles), record.age)

        victim = min(self._records.values(), key=order)
        logger.info("btm: device record pool full; evicting %s", victim.address)
        del self._records[victim.address]
