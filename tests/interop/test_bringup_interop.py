"""The device manager's full bring-up (reset, reads, host configuration) against independent
controllers: Android's Root Canal and Bumble's controller. Every optional step the controller
does not list, refuses or leaves unanswered must end up as a note, never as a failure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trio
from interop_support import TEST_LIMIT

from bluetrio.actors.btm.config import StackConfig
from bluetrio.actors.faults import FaultPolicy
from bluetrio.messages import hci
from bluetrio.messages.controller_info import ControllerInfo
from bluetrio.messages.packets import PacketType
from bluetrio.stack import Stack, open_stack

pytestmark = pytest.mark.interop

# The two forms of note the bring-up writes (bluetrio.controller_info.optional_step and
# bluetrio.actors.btm.bringup.configure_sequence).
NOTE = re.compile(r"^HCI_\w+ (skipped: .+|not sent: not in the supported-commands bitmap)$")
# Steps without which there is no stack: these never appear in a note.
MANDATORY = ("HCI_Reset", "HCI_Read_Local_Version_Information", "HCI_Read_BD_ADDR",
             "HCI_Read_Buffer_Size", "HCI_Read_Local_Supported_Features")  # fmt: skip

CONFIG = StackConfig(local_name="bringup-interop", class_of_device=0x5A020C, discoverable=True)
COMMAND_COMPLETE = 0x0E


def assert_notes_only_skip_optional_steps(info: ControllerInfo) -> None:
    for note in info.notes:
        assert NOTE.match(note), note
        assert not note.startswith(MANDATORY), note


async def assert_addresses_agree(stack: Stack, info: ControllerInfo) -> None:
    """The info the stack kept is what the controller still says after bring-up."""
    assert stack.controller_info == info
    complete = await stack.command(hci.ReadBdAddr())
    assert complete.decode_return().bd_addr == info.address


async def test_bring_up_configures_rootcanal(rootcanal_hci_port: int) -> None:
    with trio.fail_after(TEST_LIMIT):
        async with open_stack(f"tcp:127.0.0.1:{rootcanal_hci_port}", config=CONFIG) as stack:
            info = await stack.ready()
            await assert_addresses_agree(stack, info)
            assert info.bredr_supported and info.le_supported
            assert info.manufacturer == 0x00E0  # Google
            assert info.le_acl_packet_length and info.acl_packets > 0
            assert_notes_only_skip_optional_steps(info)
            # Root Canal applied the host configuration: read it back.
            name = (await stack.command(hci.ReadLocalName())).decode_return().local_name
            assert name == "bringup-interop"
            scan = (await stack.command(hci.ReadScanEnable())).decode_return().scan_enable
            assert scan == 0x03  # inquiry and page scan: discoverable and connectable
            device_class = (await stack.command(hci.ReadClassOfDevice())).decode_return()
            assert device_class.class_of_device == 0x5A020C


async def test_bring_up_on_bumble_controller(bumble_controllers: tuple[Path, int]) -> None:
    with trio.fail_after(TEST_LIMIT):
        _, port = bumble_controllers
        async with open_stack(f"tcp:127.0.0.1:{port}", config=CONFIG) as stack:
            info = await stack.ready()
            await assert_addresses_agree(stack, info)
            # Bumble's controller is LE only: the BR/EDR configuration is left out, not failed.
            assert info.le_supported and not info.bredr_supported
            assert info.le_features is not None
            assert_notes_only_skip_optional_steps(info)


async def test_bring_up_on_bumble_controller_survives_an_unanswered_command(
    bumble_controllers: tuple[Path, int],
) -> None:
    """A controller that never answers an optional command (Bumble's answer is dropped on the
    way to the host) costs one optional-command timeout and a note; bring-up carries on."""
    with trio.fail_after(TEST_LIMIT):
        _, port = bumble_controllers
        unanswered = hci.LeReadLocalSupportedFeatures.OPCODE
        faults = FaultPolicy()
        faults.drop_packet(
            lambda packet: (
                packet[0] == PacketType.EVENT
                and packet[1][0] == COMMAND_COMPLETE
                and int.from_bytes(packet[1][3:5], "little") == unanswered
            ),
            direction="to_host",
        )
        config = StackConfig(optional_command_timeout=0.5)
        async with open_stack(f"tcp:127.0.0.1:{port}", config=config, faults=faults) as stack:
            info = await stack.ready()
            assert info.le_features is None
            assert any(
                note.startswith("HCI_LE_Read_Local_Supported_Features skipped")
                for note in info.notes
            ), info.notes
            assert_notes_only_skip_optional_steps(info)
            # The HCI command flow recovered from the missing Command Complete.
            await assert_addresses_agree(stack, info)
