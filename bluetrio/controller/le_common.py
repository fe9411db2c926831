"""LE state shared by advertising, scanning and initiating: our addresses, the
legacy/extended command mode and the Filter Accept List (the resolving list is
:mod:`bluetrio.controller.le_privacy`)."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from bluetrio.address import Address
from bluetrio.controller.dispatch import CommandError, Feature, Status, handles, register_feature
from bluetrio.controller.le_privacy import NO_ADDRESS, Identified, LePrivacy
from bluetrio.messages import hci

if TYPE_CHECKING:
    from bluetrio.controller.controller import VirtualController


class LeCommandMode(enum.Enum):
    """Vol 4 Part E 3.1.1: a host uses legacy or extended advertising commands, not both."""

    UNDECIDED = "undecided"
    LEGACY = "legacy"
    EXTENDED = "extended"


# Own_Address_Type values (Vol 4 Part E 7.8.5) -> whether the address (or the fallback of a
# controller-generated RPA) is the random one.
_OWN_ADDRESS_TYPES = {0x00: False, 0x01: True, 0x02: False, 0x03: True}
ANONYMOUS_ADDRESS_TYPE = 0xFF  # Filter Accept List entry for anonymous advertisements


@register_feature
class LeCommon(Feature):
    random_address: Address | None = None
    mode = LeCommandMode.UNDECIDED

    def __init__(self, controller: VirtualController) -> None:
        super().__init__(controller)
        # Activities during which the random address may not change (Vol 4 Part E 7.8.4):
        # "legacy-advertising", "scanning", "initiating".
        self.busy: set[str] = set()
        self.accept_list: set[tuple[int, bytes]] = set()

    def reset(self) -> None:
        self.random_address = None
        self.mode = LeCommandMode.UNDECIDED
        self.accept_list.clear()
        self.busy.clear()

    def require_mode(self, mode: LeCommandMode) -> None:
        """Lock the command mode on first use; the other family gets 0x0C (Vol 4 Part E 3.1.1)."""
        if self.mode is LeCommandMode.UNDECIDED:
            self.mode = mode
        elif self.mode is not mode:
            raise CommandError(Status.COMMAND_DISALLOWED)

    @property
    def privacy(self) -> LePrivacy:
        return self.controller.feature(LePrivacy)

    def own_address(self, own_address_type: int, peer: Address | None = None) -> Address:
        """The address to scan or initiate with (Vol 4 Part E 7.8.5 Own_Address_Type), the
        random one being LE_Set_Random_Address's (7.8.4)."""
        return self.transmit_address(own_address_type, peer, self.random_address)

    def transmit_address(
        self, own_address_type: int, peer: Address | None, random: Address | None
    ) -> Address:
        """The address to transmit with for ``own_address_type`` (7.8.5, 7.8.53).

        0x02/0x03 take our RPA toward ``peer`` (its identity) when the resolving list has a
        local IRK for it, else fall back to 0x00/0x01; 0x01/0x03 use ``random``, which must
        have been set (else 0x12): an extended advertising set's own random address is
        never lent by another (7.8.56).
        """
        if own_address_type not in _OWN_ADDRESS_TYPES:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if own_address_type in (0x02, 0x03):
            rpa = self.privacy.local_address(peer)
            if rpa is not None:
                return rpa
        if not _OWN_ADDRESS_TYPES[own_address_type]:
            return self.controller.public_address
        if random is None:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        return random

    def accepts(self, address: Address) -> bool:
        return (address.type & 1, address.value) in self.accept_list

    def set_random_address(self, address: Address) -> Address:
        self.controller.extra_addresses.add(address)
        return address

    def uses_enhanced_connection_complete(self) -> bool:
        # Vol 4 Part E 7.7.65.10: the enhanced event replaces the legacy one when unmasked.
        subevent = hci.LeEnhancedConnectionComplete.SUBEVENT_CODE
        return bool(self.controller.masks.le >> (subevent - 1) & 1)

    def connection_complete_event(
        self,
        status: int,
        handle: int = 0,
        role: int = 0,
        peer: Identified | None = None,
        local: Address | None = None,
        parameters: tuple[int, int, int] = (0, 0, 0),
    ) -> hci.LeConnectionComplete | hci.LeEnhancedConnectionComplete:
        """LE (Enhanced) Connection Complete (Vol 4 Part E 7.7.65.1, 7.7.65.10).

        ``peer`` is reported as identified (type 0x02/0x03 when its RPA was resolved);
        ``local`` is the address we connected with. ``parameters``: interval, peripheral
        latency, supervision timeout in HCI units.
        """
        peer = peer if peer is not None else Identified(NO_ADDRESS)
        # Central clock accuracy 0x00: 500 ppm (the value is immaterial to the emulation).
        if not self.uses_enhanced_connection_complete():
            return hci.LeConnectionComplete(status, handle, role, peer.address, *parameters, 0)
        # The RPAs are those the controller generated or resolved, else zero (7.7.65.10).
        local_rpa = (
            local if local is not None and self.privacy.is_generated_local_rpa(local) else None
        )
        return hci.LeEnhancedConnectionComplete(
            status,
            handle,
            role,
            peer.address,
            local_rpa or NO_ADDRESS,
            peer.rpa or NO_ADDRESS,
            *parameters,
            0,
        )

    @handles(hci.LeSetRandomAddress)
    def le_set_random_address(self, command: hci.LeSetRandomAddress) -> None:
        if self.busy:
            raise CommandError(Status.COMMAND_DISALLOWED)
        if self.random_address is not None:
            self.controller.extra_addresses.discard(self.random_address)
        self.random_address = self.set_random_address(command.random_address)

    # -- Filter Accept List (Vol 4 Part E 7.8.14-7.8.17) ---------------------------------

    @handles(hci.LeReadFilterAcceptListSize)
    def le_read_filter_accept_list_size(
        self, command: hci.LeReadFilterAcceptListSize
    ) -> hci.LeReadFilterAcceptListSizeReturn:
        return hci.LeReadFilterAcceptListSizeReturn(
            Status.SUCCESS, self.controller.config.accept_list_size
        )

    @handles(hci.LeClearFilterAcceptList)
    def le_clear_filter_accept_list(self, command: hci.LeClearFilterAcceptList) -> None:
        self.accept_list.clear()

    @staticmethod
    def _list_entry(
        command: hci.LeAddDeviceToFilterAcceptList | hci.LeRemoveDeviceFromFilterAcceptList,
    ) -> tuple[int, bytes]:
        if command.address_type not in (0x00, 0x01, ANONYMOUS_ADDRESS_TYPE):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        return command.address_type, command.address.value

    @handles(hci.LeAddDeviceToFilterAcceptList)
    def le_add_device_to_filter_accept_list(
        self, command: hci.LeAddDeviceToFilterAcceptList
    ) -> None:
        entry = self._list_entry(command)
        if entry not in self.accept_list:
            if len(self.accept_list) >= self.controller.config.accept_list_size:
                raise CommandError(Status.MEMORY_CAPACITY_EXCEEDED)
            self.accept_list.add(entry)

    @handles(hci.LeRemoveDeviceFromFilterAcceptList)
    def le_remove_device_from_filter_accept_list(
        self, command: hci.LeRemoveDeviceFromFilterAcceptList
    ) -> None:
        self.accept_list.discard(self._list_entry(command))
