"""Controller bring-up as a sans-IO command sequence.

The read part is :func:`bluetrio.controller_info.read_sequence` (shared with ``bluetrio info``);
this module adds the host configuration (Vol 4 Part E 7.3): event masks, LE host support,
Simple Pairing, Secure Connections, class of device, name, EIR, inquiry mode and scans.
Every configuration command is optional: it is only sent when the Supported_Commands bitmap
lists it, and one that fails or is not answered is noted and skipped.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

import attrs

from bluetrio.actors.btm.config import StackConfig
from bluetrio.actors.btm.controller_info import (
    CommandSequence,
    Query,
    optional_step,
    read_sequence,
)
from bluetrio.messages import hci
from bluetrio.messages.ad import EIR_DATA_LIMIT, AdvertisingData, LocalName
from bluetrio.messages.controller_info import ControllerInfo

# Events we ask for (Vol 4 Part E 7.3.1, bit → event). Left out: QoS/flow specification,
# loopback, clock offset, packet type and sniff subrating events nobody here handles.
EVENT_MASK_BITS = {
    0: "Inquiry Complete", 1: "Inquiry Result", 2: "Connection Complete",
    3: "Connection Request", 4: "Disconnection Complete", 5: "Authentication Complete",
    6: "Remote Name Request Complete", 7: "Encryption Change",
    8: "Change Connection Link Key Complete", 10: "Read Remote Supported Features Complete",
    11: "Read Remote Version Information Complete", 15: "Hardware Error", 17: "Role Change",
    19: "Mode Change", 21: "PIN Code Request", 22: "Link Key Request",
    23: "Link Key Notification", 25: "Data Buffer Overflow", 26: "Max Slots Change",
    33: "Inquiry Result with RSSI", 34: "Read Remote Extended Features Complete",
    46: "Extended Inquiry Result", 47: "Encryption Key Refresh Complete",
    48: "IO Capability Request", 49: "IO Capability Response",
    50: "User Confirmation Request", 51: "User Passkey Request",
    52: "Remote OOB Data Request", 53: "Simple Pairing Complete",
    55: "Link Supervision Timeout Changed", 58: "User Passkey Notification",
    59: "Keypress Notification", 60: "Remote Host Supported Features Notification",
    61: "LE Meta",
}  # fmt: skip

# LE events we ask for (Vol 4 Part E 7.8.1, bit → subevent).
LE_EVENT_MASK_BITS = {
    0: "LE Connection Complete", 1: "LE Advertising Report",
    2: "LE Connection Update Complete", 3: "LE Read Remote Features Complete",
    4: "LE Long Term Key Request", 5: "LE Remote Connection Parameter Request",
    6: "LE Data Length Change", 9: "LE Enhanced Connection Complete",
    11: "LE PHY Update Complete", 12: "LE Extended Advertising Report",
    16: "LE Scan Timeout", 17: "LE Advertising Set Terminated",
    19: "LE Channel Selection Algorithm",
}  # fmt: skip

# Page 2 (Vol 4 Part E 7.3.69): bit 23 Authenticated Payload Timeout Expired.
EVENT_MASK_PAGE_2_BITS = {23: "Authenticated Payload Timeout Expired"}

INQUIRY_MODE_EXTENDED = 0x02  # results with RSSI or with EIR (Vol 4 Part E 7.3.50)
SCAN_INQUIRY = 0x01  # Vol 4 Part E 7.3.18
SCAN_PAGE = 0x02


# What the host announces with Host_Buffer_Size (Vol 4 Part E 7.3.39). The controller sizes
# the ACL packets it sends the host by the length, so it must cover what the host reassembles
# comfortably: 4096 holds a whole PDU of every default MTU the layers open (RFCOMM's 1691,
# SDP's 672, ATT's 517) for a controller that does not fragment towards the host, while
# keeping an H4 framer's bound for telling headers from noise small. The counts matter only
# with controller-to-host flow control, which the host leaves off (7.3.38).
HOST_ACL_DATA_PACKET_LENGTH = 4096
HOST_SYNCHRONOUS_DATA_PACKET_LENGTH = 255  # the one-octet field's maximum
HOST_TOTAL_NUM_ACL_DATA_PACKETS = 16
HOST_TOTAL_NUM_SYNCHRONOUS_DATA_PACKETS = 16


def host_buffer_size() -> hci.HostBufferSize:
    return hci.HostBufferSize(
        HOST_ACL_DATA_PACKET_LENGTH,
        HOST_SYNCHRONOUS_DATA_PACKET_LENGTH,
        HOST_TOTAL_NUM_ACL_DATA_PACKETS,
        HOST_TOTAL_NUM_SYNCHRONOUS_DATA_PACKETS,
    )


def mask_of(bits: Iterable[int]) -> int:
    return sum(1 << bit for bit in bits)


def scan_enable_value(discoverable: bool, connectable: bool) -> int:
    return (SCAN_INQUIRY if discoverable else 0) | (SCAN_PAGE if connectable else 0)


def configure_sequence(info: ControllerInfo, config: StackConfig) -> CommandSequence[list[str]]:
    """The host configuration for ``info``'s controller; returns the notes of skipped steps."""
    notes: list[str] = []
    steps: list[Any] = [hci.SetEventMask(mask_of(EVENT_MASK_BITS)), host_buffer_size()]
    page2_supported = len(info.lmp_features) > 2
    if page2_supported:
        steps.append(hci.SetEventMaskPage2(mask_of(EVENT_MASK_PAGE_2_BITS)))
    if info.le_supported:
        steps.append(hci.LeSetEventMask(mask_of(LE_EVENT_MASK_BITS)))
        if info.bredr_supported:
            steps.append(hci.WriteLeHostSupport(int(config.le), 0))
    if info.bredr_supported:
        steps += _bredr_steps(info, config)
    for command in steps:
        if info.supports(command.OPCODE):
            yield from optional_step(command, notes)
        else:
            notes.append(f"{command.NAME} not sent: not in the supported-commands bitmap")
    return notes


def _bredr_steps(info: ControllerInfo, config: StackConfig) -> list[Any]:
    steps: list[Any] = []
    if config.simple_pairing:
        steps.append(hci.WriteSimplePairingMode(1))
        if config.secure_connections and info.bredr_secure_connections:
            steps.append(hci.WriteSecureConnectionsHostSupport(1))
    steps.append(hci.WriteClassOfDevice(config.class_of_device))
    if config.local_name is not None:
        steps.append(hci.WriteLocalName(config.local_name))
        eir = AdvertisingData([LocalName(config.local_name)]).encode(EIR_DATA_LIMIT)
        steps.append(hci.WriteExtendedInquiryResponse(0, eir.ljust(EIR_DATA_LIMIT, b"\0")))
    steps.append(hci.WriteInquiryMode(INQUIRY_MODE_EXTENDED))
    steps.append(hci.WriteScanEnable(scan_enable_value(config.discoverable, config.connectable)))
    return steps


def bringup_sequence(config: StackConfig) -> Generator[Query, Any, ControllerInfo]:
    """Reset, set the public address if asked, read everything, configure; the result carries
    every skipped step as a note."""
    yield Query(hci.Reset())
    if config.public_address is not None:
        # Before anything is read, so that what the stack learns is the new address.
        yield Query(hci.VendorWriteBdAddr(config.public_address))
    # A name the stack writes need not be read first: the written one is the name.
    info = yield from read_sequence(reset=False, name=config.local_name is None)
    notes = yield from configure_sequence(info, config)
    if config.local_name is not None and not _skipped(hci.WriteLocalName, notes):
        info = attrs.evolve(info, local_name=config.local_name)
    return attrs.evolve(info, notes=info.notes + tuple(notes))


def _skipped(command: type[hci.HciCommand], notes: list[str]) -> bool:
    """Whether configure_sequence's ``notes`` say ``command`` was not sent or failed."""
    return any(note.startswith(f"{command.NAME} ") for note in notes)
