"""LE state shared by advertising, scanning and initiating: addresses, the legacy/extended
command mode, the Filter Accept List and the resolving list."""

from __future__ import annotations

import enum
import struct
from typing import TYPE_CHECKING

from bluetrio.address import Address, AddressType
from bluetrio.controller.dispatch import (
    Command,
    CommandError,
    Feature,
    Status,
    command,
    register_feature,
)
from bluetrio.controller.events import LeSubevent, le_event

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

    def set_random_address(self, value: bytes) -> Address:
        address = Address(value, AddressType.RANDOM)
        self.controller.extra_addresses.add(address)
        return address

    def uses_enhanced_connection_complete(self) -> bool:
        # Vol 4 Part E 7.7.65.10: the enhanced event replaces the legacy one when unmasked.
        return bool(self.controller.masks.le >> (LeSubevent.ENHANCED_CONNECTION_COMPLETE - 1) & 1)

    def connection_complete_event(
        self,
        status: int,
        handle: int = 0,
        role: int = 0,
        peer: Address | None = None,
        parameters: tuple[int, int, int] = (0, 0, 0),
    ) -> bytes:
        """LE (Enhanced) Connection Complete (Vol 4 Part E 7.7.65.1, 7.7.65.10).

        ``parameters``: interval, peripheral latency, supervision timeout in HCI units.
        Local and peer RPAs are zero: the controller does not generate RPAs.
        """
        peer = peer if peer is not None else Address(bytes(6))
        head = struct.pack("<BHBB", status, handle, role, peer.type) + peer.to_wire()
        # Central clock accuracy 0x00: 500 ppm (the value is immaterial to the emulation).
        tail = struct.pack("<HHHB", *parameters, 0)
        if self.uses_enhanced_connection_complete():
            return le_event(LeSubevent.ENHANCED_CONNECTION_COMPLETE, head + bytes(12) + tail)
        return le_event(LeSubevent.CONNECTION_COMPLETE, head + tail)

    @command(0x2005, "LE_Set_Random_Address")
    def le_set_random_address(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        value = reader.take(6)
        reader.done()
        if self.busy:
            raise CommandError(Status.COMMAND_DISALLOWED)
        if self.random_address is not None:
            self.controller.extra_addresses.discard(self.random_address)
        self.random_address = self.set_random_address(value)
        return b""

    # -- Filter Accept List (Vol 4 Part E 7.8.14-7.8.17) ---------------------------------

    @command(0x200F, "LE_Read_Filter_Accept_List_Size", return_size=1)
    def le_read_filter_accept_list_size(self, cmd: Command) -> bytes:
        cmd.reader().done()
        return bytes((self.controller.config.accept_list_size,))

    @command(0x2010, "LE_Clear_Filter_Accept_List")
    def le_clear_filter_accept_list(self, cmd: Command) -> bytes:
        cmd.reader().done()
        self.accept_list.clear()
        return b""

    def _list_entry(self, cmd: Command) -> tuple[int, bytes]:
        reader = cmd.reader()
        address_type, value = reader.u8(), reader.take(6)
        reader.done()
        if address_type not in (0x00, 0x01, ANONYMOUS_ADDRESS_TYPE):
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        return address_type, value

    @command(0x2011, "LE_Add_Device_To_Filter_Accept_List")
    def le_add_device_to_filter_accept_list(self, cmd: Command) -> bytes:
        entry = self._list_entry(cmd)
        if entry not in self.accept_list:
            if len(self.accept_list) >= self.controller.config.accept_list_size:
                raise CommandError(Status.MEMORY_CAPACITY_EXCEEDED)
            self.accept_list.add(entry)
        return b""

    @command(0x2012, "LE_Remove_Device_From_Filter_Accept_List")
    def le_remove_device_from_filter_accept_list(self, cmd: Command) -> bytes:
        self.accept_list.discard(self._list_entry(cmd))
        return b""

    # -- Resolving list (Vol 4 Part E 7.8.38-7.8.44): kept, not used to generate RPAs ------

    @command(0x2027, "LE_Add_Device_To_Resolving_List")
    def le_add_device_to_resolving_list(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        key = (reader.u8(), reader.take(6))
        irks = (reader.take(16), reader.take(16))
        reader.done()
        if key[0] > 1:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if key not in self.resolving_list and (
            len(self.resolving_list) >= self.controller.config.resolving_list_size
        ):
            raise CommandError(Status.MEMORY_CAPACITY_EXCEEDED)
        self.resolving_list[key] = irks
        return b""

    @command(0x2028, "LE_Remove_Device_From_Resolving_List")
    def le_remove_device_from_resolving_list(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        key = (reader.u8(), reader.take(6))
        reader.done()
        if self.resolving_list.pop(key, None) is None:
            raise CommandError(Status.UNKNOWN_CONNECTION_IDENTIFIER)
        return b""

    @command(0x2029, "LE_Clear_Resolving_List")
    def le_clear_resolving_list(self, cmd: Command) -> bytes:
        cmd.reader().done()
        self.resolving_list.clear()
        return b""

    @command(0x202A, "LE_Read_Resolving_List_Size", return_size=1)
    def le_read_resolving_list_size(self, cmd: Command) -> bytes:
        cmd.reader().done()
        return bytes((self.controller.config.resolving_list_size,))

    @command(0x202D, "LE_Set_Address_Resolution_Enable")
    def le_set_address_resolution_enable(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        enable = reader.u8()
        reader.done()
        if enable > 1:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        self.address_resolution = bool(enable)
        return b""

    @command(0x202E, "LE_Set_Resolvable_Private_Address_Timeout")
    def le_set_resolvable_private_address_timeout(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        timeout = reader.u16()
        reader.done()
        if not 0x0001 <= timeout <= 0x0E10:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        return b""

    @command(0x204E, "LE_Set_Privacy_Mode")
    def le_set_privacy_mode(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        key = (reader.u8(), reader.take(6))
        mode = reader.u8()
        reader.done()
        if mode > 1 or key[0] > 1:
            raise CommandError(Status.INVALID_HCI_COMMAND_PARAMETERS)
        if key not in self.resolving_list:
            raise CommandError(Status.UNKNOWN_CONNECTION_IDENTIFIER)
        return b""
