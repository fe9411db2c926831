"""LE state shared by advertising, scanning and initiating: addresses, the legacy/extended
command mode, the Filter Accept List and the resolving list."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from bluetrio.address import Address, AddressType
from bluetrio.controller.dispatch import CommandError, Feature, Status, handles, register_feature
from bluetrio.messages import hci

if TYPE_CHECKING:
    from bluetrio.controller.controller import VirtualController


class LeCommandMode(enum.Enum):
    """Vol 4 Part E 3.1.1: a host uses legacy or extended advertising commands, not both."""

    UNDECIDED = "undecided"
    LEGACY = "legacy"
    EXTENDED = "extended"


# Own_Address_Type values (Vol 4 Part E 7.8.5). 0x02/0x03 ask for a controller-generated RPA
# with a fallback; without resolving-list privacy the fallback is what is used.
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
        self.resolving_list: dict[tuple[int, bytes], tuple[bytes, bytes]] = {}
        self.address_resolution = False

    def reset(self) -> None:
        self.random_address = None
        self.mode = LeCommandMode.UNDECIDED
        self.accept_list.clear()
        self.resolving_list.clear()
        self.address_resolution = False
        self.busy.clear()

    def require_mode(self, mode: LeCommandMode) -> None:
        """Lock the command mode on first use; the other family gets 0x0C (Vol 4 Part E 3.1.1)."""
        if self.mode is LeCommandMode.UNDECIDED:
            self.mode = mode
        elif self.mode is not mode:
            raise CommandError(Status.COMMAND_DISALLOWED)

    def own_address(self, own_address_type: int) -> Address:
        """The address to transmit with; 0x12 if the random address was never set."""
        if own_address_type not in _OWN_ADDRESS_TYPES:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if not _OWN_ADDRESS_TYPES[own_address_type]:
            return self.controller.public_address
        if self.random_address is None:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        return self.random_address

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
        peer: Address | None = None,
        parameters: tuple[int, int, int] = (0, 0, 0),
    ) -> hci.LeConnectionComplete | hci.LeEnhancedConnectionComplete:
        """LE (Enhanced) Connection Complete (Vol 4 Part E 7.7.65.1, 7.7.65.10).

        ``parameters``: interval, peripheral latency, supervision timeout in HCI units.
        Local and peer RPAs are zero: the controller does not generate RPAs.
        """
        peer = peer if peer is not None else Address(bytes(6))
        # Central clock accuracy 0x00: 500 ppm (the value is immaterial to the emulation).
        if self.uses_enhanced_connection_complete():
            none = Address(bytes(6))
            return hci.LeEnhancedConnectionComplete(
                status, handle, role, peer, none, none, *parameters, 0
            )
        return hci.LeConnectionComplete(status, handle, role, peer, *parameters, 0)

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

    # -- Resolving list (Vol 4 Part E 7.8.38-7.8.44): kept, not used to generate RPAs ------

    @staticmethod
    def _identity_key(identity: Address) -> tuple[int, bytes]:
        if identity.type > AddressType.RANDOM:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        return identity.type, identity.value

    @handles(hci.LeAddDeviceToResolvingList)
    def le_add_device_to_resolving_list(self, command: hci.LeAddDeviceToResolvingList) -> None:
        key = self._identity_key(command.peer_identity_address)
        if key not in self.resolving_list and (
            len(self.resolving_list) >= self.controller.config.resolving_list_size
        ):
            raise CommandError(Status.MEMORY_CAPACITY_EXCEEDED)
        self.resolving_list[key] = (command.peer_irk, command.local_irk)

    @handles(hci.LeRemoveDeviceFromResolvingList)
    def le_remove_device_from_resolving_list(
        self, command: hci.LeRemoveDeviceFromResolvingList
    ) -> None:
        key = self._identity_key(command.peer_identity_address)
        if self.resolving_list.pop(key, None) is None:
            raise CommandError(Status.UNKNOWN_CONNECTION_IDENTIFIER)

    @handles(hci.LeClearResolvingList)
    def le_clear_resolving_list(self, command: hci.LeClearResolvingList) -> None:
        self.resolving_list.clear()

    @handles(hci.LeReadResolvingListSize)
    def le_read_resolving_list_size(
        self, command: hci.LeReadResolvingListSize
    ) -> hci.LeReadResolvingListSizeReturn:
        return hci.LeReadResolvingListSizeReturn(
            Status.SUCCESS, self.controller.config.resolving_list_size
        )

    @handles(hci.LeSetAddressResolutionEnable)
    def le_set_address_resolution_enable(self, command: hci.LeSetAddressResolutionEnable) -> None:
        if command.address_resolution_enable > 1:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        self.address_resolution = bool(command.address_resolution_enable)

    @handles(hci.LeSetResolvablePrivateAddressTimeout)
    def le_set_resolvable_private_address_timeout(
        self, command: hci.LeSetResolvablePrivateAddressTimeout
    ) -> None:
        if not 0x0001 <= command.rpa_timeout <= 0x0E10:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)

    @handles(hci.LeSetPrivacyMode)
    def le_set_privacy_mode(self, command: hci.LeSetPrivacyMode) -> None:
        key = self._identity_key(command.peer_identity_address)
        if command.privacy_mode > 1:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if key not in self.resolving_list:
            raise CommandError(Status.UNKNOWN_CONNECTION_IDENTIFIER)
