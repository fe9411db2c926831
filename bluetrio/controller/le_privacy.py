"""Controller-based LE privacy: the resolving list, resolving peers' RPAs and generating ours
(Core 5.4 Vol 6 Part B 1.3.2, 4.7, 6.3, 6.4; Vol 4 Part E 7.8.38-7.8.45, 7.8.77).

While address resolution is enabled:

* a received AdvA, InitA or ScanA that is an RPA is resolved with the peer IRKs of the list and
  stands for the peer's identity address from then on: reports and connection events give it
  as a Public/Random Identity Address (types 0x02/0x03), the Filter Accept List and the
  initiator's peer address are matched against the identity;
* a peer with a peer IRK in network privacy mode (the default) is ignored when it uses its
  identity address instead of an RPA (Vol 6 Part B 4.7);
* own address types 0x02/0x03 transmit an RPA generated from the local IRK of the peer's entry,
  and directed advertising to a listed peer with a peer IRK targets an RPA generated from it;
  both are generated anew every RPA timeout (Vol 4 Part E 7.8.45, default 900 s).

IRKs travel least significant octet first over HCI; :mod:`bluetrio.crypto` works most
significant octet first, so they are reversed once, when an entry is added. An IRK of all zeros
means the entry has none (Vol 4 Part E 7.8.38).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import attrs

from bluetrio import crypto
from bluetrio.address import Address, AddressType
from bluetrio.controller.dispatch import CommandError, Feature, Status, handles, register_feature
from bluetrio.controller.timers import Timer
from bluetrio.messages import hci

if TYPE_CHECKING:
    from bluetrio.controller.controller import VirtualController

DEFAULT_RPA_TIMEOUT = 900.0  # seconds (Vol 4 Part E 7.8.45: 0x0384)
NO_ADDRESS = Address(bytes(6))


class PrivacyMode(enum.IntEnum):
    """Privacy_Mode of LE_Set_Privacy_Mode (Vol 4 Part E 7.8.77)."""

    NETWORK = 0x00
    DEVICE = 0x01


def _irk(value: bytes) -> bytes | None:
    """An HCI IRK (LSB first) as crypto takes it (MSB first); None for the all-zero IRK."""
    return crypto.reverse(value) if any(value) else None


def _rpa(irk: bytes) -> Address:
    return Address(crypto.reverse(crypto.generate_rpa(irk)), AddressType.RANDOM)


@attrs.define(eq=False)
class ResolvingEntry:
    """One device of the resolving list (Vol 6 Part B 4.7)."""

    identity: Address  # type PUBLIC or RANDOM
    peer_irk: bytes | None  # MSB first
    local_irk: bytes | None
    privacy_mode: PrivacyMode = PrivacyMode.NETWORK
    local_rpa: Address | None = None  # ours toward this peer, until the RPA timeout
    peer_rpa: Address | None = None  # the peer's, as last resolved or generated for TargetA


@attrs.frozen
class Identified:
    """What a received device address stands for."""

    address: Address  # as reported to the host: type 0x02/0x03 when resolved
    entry: ResolvingEntry | None = None
    rpa: Address | None = None  # the RPA it was resolved from

    @property
    def identity(self) -> Address:
        """The address as filters and the initiator compare it (type PUBLIC or RANDOM)."""
        return Address(self.address.value, AddressType(self.address.type & 1))


def _key(identity: Address) -> tuple[int, bytes]:
    return identity.type & 1, identity.value


@register_feature
class LePrivacy(Feature):
    def __init__(self, controller: VirtualController) -> None:
        super().__init__(controller)
        self.entries: dict[tuple[int, bytes], ResolvingEntry] = {}
        self.enabled = False
        self.rpa_timeout = DEFAULT_RPA_TIMEOUT
        self._timer: Timer | None = None

    def reset(self) -> None:
        self._forget_generated()
        self.entries.clear()
        self.enabled = False
        self.rpa_timeout = DEFAULT_RPA_TIMEOUT

    # -- used by advertising, scanning and initiating ------------------------------------

    def identify(self, address: Address) -> Identified | None:
        """Resolve a received address; None when the device must be ignored (Vol 6 Part B
        4.7: network privacy mode accepts only RPAs from a peer that has an IRK)."""
        if not self.enabled:
            return Identified(address)
        if address.is_resolvable_private:
            rpa = crypto.reverse(address.value)
            for entry in self.entries.values():
                if entry.peer_irk is not None and crypto.resolve_rpa(entry.peer_irk, rpa):
                    entry.peer_rpa = address
                    reported = AddressType(entry.identity.type | AddressType.PUBLIC_IDENTITY)
                    return Identified(entry.identity.with_type(reported), entry, address)
            return Identified(address)
        listed = self.entries.get(_key(address))
        if (
            listed is not None
            and listed.peer_irk is not None
            and listed.privacy_mode is PrivacyMode.NETWORK
        ):
            return None
        return Identified(address, listed)

    def local_address(self, peer: Address | None) -> Address | None:
        """Our RPA toward ``peer`` (an identity address) for own address types 0x02/0x03, or
        None when the list has no entry with a local IRK for it (the caller falls back)."""
        entry = self.entries.get(_key(peer)) if self.enabled and peer is not None else None
        if entry is None or entry.local_irk is None:
            return None
        if entry.local_rpa is None:
            entry.local_rpa = _rpa(entry.local_irk)
            self.controller.extra_addresses.add(entry.local_rpa)
            self._arm_timer()
        return entry.local_rpa

    def target_address(self, peer: Address) -> Address:
        """TargetA of directed advertising to ``peer``: an RPA from its IRK when it has one."""
        entry = self.entries.get(_key(peer)) if self.enabled else None
        if entry is None or entry.peer_irk is None:
            return peer
        if entry.peer_rpa is None or not crypto.resolve_rpa(
            entry.peer_irk, crypto.reverse(entry.peer_rpa.value)
        ):
            entry.peer_rpa = _rpa(entry.peer_irk)
            self._arm_timer()
        return entry.peer_rpa

    def targets_us(self, target: Address) -> bool:
        """Whether a directed PDU's TargetA is ours: an address we answer to, or an RPA that a
        local IRK of the list resolves (Vol 6 Part B 6.4)."""
        if self.controller.answers_to(target):
            return True
        if not (self.enabled and target.is_resolvable_private):
            return False
        rpa = crypto.reverse(target.value)
        return any(
            entry.local_irk is not None and crypto.resolve_rpa(entry.local_irk, rpa)
            for entry in self.entries.values()
        )

    def is_generated_local_rpa(self, address: Address) -> bool:
        return any(entry.local_rpa == address for entry in self.entries.values())

    # -- the RPA timeout (Vol 4 Part E 7.8.45) ---------------------------------------------

    def _arm_timer(self) -> None:
        if self._timer is None:
            self._timer = self.controller.call_later(self.rpa_timeout, self._rpa_timed_out)

    def _forget_generated(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for entry in self.entries.values():
            if entry.local_rpa is not None:
                self.controller.extra_addresses.discard(entry.local_rpa)
            entry.local_rpa = None

    def _rpa_timed_out(self) -> None:
        """New RPAs from now on: the features in use take theirs again."""
        self._timer = None
        self._forget_generated()
        for entry in self.entries.values():
            entry.peer_rpa = None
        for feature in self.controller.features.values():
            feature.on_rpa_timeout()

    # -- commands ------------------------------------------------------------------------

    def _le_activity(self) -> bool:
        return any(feature.le_activity() for feature in self.controller.features.values())

    def _check_list_change(self) -> None:
        # Vol 4 Part E 7.8.38-7.8.40, 7.8.77: not while resolution is enabled and the Link
        # Layer advertises, scans or initiates.
        if self.enabled and self._le_activity():
            raise CommandError(Status.COMMAND_DISALLOWED)

    @staticmethod
    def _identity_key(identity: Address) -> tuple[int, bytes]:
        if identity.type > AddressType.RANDOM:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        return _key(identity)

    def _entry(self, identity: Address) -> ResolvingEntry:
        entry = self.entries.get(self._identity_key(identity))
        if entry is None:
            raise CommandError(Status.UNKNOWN_CONNECTION_IDENTIFIER)
        return entry

    @handles(hci.LeAddDeviceToResolvingList)
    def le_add_device_to_resolving_list(self, command: hci.LeAddDeviceToResolvingList) -> None:
        key = self._identity_key(command.peer_identity_address)
        self._check_list_change()
        peer_irk, local_irk = _irk(command.peer_irk), _irk(command.local_irk)
        existing = self.entries.get(key)
        if existing is not None:
            # One entry per identity (Vol 4 Part E 7.8.38): the same one again adds nothing;
            # new IRKs replace the old ones and the RPAs made from them.
            if (existing.peer_irk, existing.local_irk) != (peer_irk, local_irk):
                if existing.local_rpa is not None:
                    self.controller.extra_addresses.discard(existing.local_rpa)
                existing.peer_irk, existing.local_irk = peer_irk, local_irk
                existing.local_rpa = existing.peer_rpa = None
            return
        if len(self.entries) >= self.controller.config.resolving_list_size:
            raise CommandError(Status.MEMORY_CAPACITY_EXCEEDED)
        identity = Address(key[1], AddressType(key[0]))
        self.entries[key] = ResolvingEntry(identity, peer_irk, local_irk)

    @handles(hci.LeRemoveDeviceFromResolvingList)
    def le_remove_device_from_resolving_list(
        self, command: hci.LeRemoveDeviceFromResolvingList
    ) -> None:
        entry = self._entry(command.peer_identity_address)
        self._check_list_change()
        if entry.local_rpa is not None:
            self.controller.extra_addresses.discard(entry.local_rpa)
        del self.entries[_key(entry.identity)]

    @handles(hci.LeClearResolvingList)
    def le_clear_resolving_list(self, command: hci.LeClearResolvingList) -> None:
        self._check_list_change()
        self._forget_generated()
        self.entries.clear()

    @handles(hci.LeReadResolvingListSize)
    def le_read_resolving_list_size(
        self, command: hci.LeReadResolvingListSize
    ) -> hci.LeReadResolvingListSizeReturn:
        return hci.LeReadResolvingListSizeReturn(
            Status.SUCCESS, self.controller.config.resolving_list_size
        )

    def _current(self, identity: Address, attribute: str) -> Address:
        """The entry's current local or peer RPA, zero while there is none (7.8.42, 7.8.43)."""
        address: Address | None = getattr(self._entry(identity), attribute)
        return (address or NO_ADDRESS).with_type(AddressType.RANDOM)

    @handles(hci.LeReadPeerResolvableAddress)
    def le_read_peer_resolvable_address(
        self, command: hci.LeReadPeerResolvableAddress
    ) -> hci.LeReadPeerResolvableAddressReturn:
        address = self._current(command.peer_identity_address, "peer_rpa")
        return hci.LeReadPeerResolvableAddressReturn(Status.SUCCESS, address)

    @handles(hci.LeReadLocalResolvableAddress)
    def le_read_local_resolvable_address(
        self, command: hci.LeReadLocalResolvableAddress
    ) -> hci.LeReadLocalResolvableAddressReturn:
        address = self._current(command.peer_identity_address, "local_rpa")
        return hci.LeReadLocalResolvableAddressReturn(Status.SUCCESS, address)

    @handles(hci.LeSetAddressResolutionEnable)
    def le_set_address_resolution_enable(self, command: hci.LeSetAddressResolutionEnable) -> None:
        if command.address_resolution_enable > 1:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        # Vol 4 Part E 7.8.44: not while advertising, scanning or initiating.
        if self._le_activity():
            raise CommandError(Status.COMMAND_DISALLOWED)
        enabled = bool(command.address_resolution_enable)
        if not enabled:
            self._forget_generated()
        self.enabled = enabled

    @handles(hci.LeSetResolvablePrivateAddressTimeout)
    def le_set_resolvable_private_address_timeout(
        self, command: hci.LeSetResolvablePrivateAddressTimeout
    ) -> None:
        if not 0x0001 <= command.rpa_timeout <= 0x0E10:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        # A running period keeps its length; the new timeout applies from the next one.
        self.rpa_timeout = float(command.rpa_timeout)

    @handles(hci.LeSetPrivacyMode)
    def le_set_privacy_mode(self, command: hci.LeSetPrivacyMode) -> None:
        if command.privacy_mode > PrivacyMode.DEVICE:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        entry = self._entry(command.peer_identity_address)
        self._check_list_change()
        entry.privacy_mode = PrivacyMode(command.privacy_mode)
