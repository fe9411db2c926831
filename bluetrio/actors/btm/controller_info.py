"""What a controller says about itself: the read-only part of bring-up, used by
``bluetrio info`` and by the device manager.

The sequence adapts to the controller (Core 5.4 Vol 4 Part E 7.4): a command is only sent when
the Supported_Commands bitmap lists it, and an optional command that fails or is not answered
is noted and skipped rather than aborting (some virtual controllers leave commands unanswered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

import attrs

from bluetrio.address import Address
from bluetrio.errors import HciError, HciTimeout
from bluetrio.messages import hci
from bluetrio.messages.hci.features import le_feature_names, lmp_feature_names

CommandRunner = Callable[..., Awaitable[Any]]
T = TypeVar("T")

OPTIONAL_COMMAND_TIMEOUT = 1.0  # seconds; a missing answer to an optional read costs this much

# LMP feature bits (Vol 2 Part C 3.3): page 0.
LMP_BIT_LE_SUPPORTED = 38
LMP_BIT_BR_EDR_NOT_SUPPORTED = 37
LMP_BIT_SSP = 51
LMP_BIT_EXTENDED_FEATURES = 63

# Version numbers of HCI and LMP (Assigned Numbers 2.1).
CORE_VERSIONS = {
    0: "1.0b", 1: "1.1", 2: "1.2", 3: "2.0+EDR", 4: "2.1+EDR", 5: "3.0+HS", 6: "4.0",
    7: "4.1", 8: "4.2", 9: "5.0", 10: "5.1", 11: "5.2", 12: "5.3", 13: "5.4", 14: "6.0",
}  # fmt: skip

# A few company identifiers (Assigned Numbers, Company Identifiers) seen on common hosts.
MANUFACTURERS = {
    0x0000: "Ericsson", 0x0002: "Intel", 0x0006: "Microsoft", 0x000A: "Qualcomm (CSR)",
    0x000D: "Texas Instruments", 0x000F: "Broadcom", 0x001D: "Qualcomm", 0x0046: "MediaTek",
    0x004C: "Apple", 0x0059: "Nordic Semiconductor", 0x005D: "Realtek", 0x0075: "Samsung",
    0x0131: "Cypress", 0x00E0: "Google", 0x0171: "Amazon", 0x02E5: "Espressif",
    0xFFFF: "none (test/internal use)",
}  # fmt: skip


@attrs.frozen
class ControllerInfo:
    address: Address
    hci_version: int
    hci_subversion: int
    lmp_version: int
    lmp_subversion: int
    manufacturer: int
    supported_commands: bytes
    lmp_features: tuple[int, ...]  # one 64-bit mask per page
    le_features: int | None
    acl_packet_length: int
    acl_packets: int
    le_acl_packet_length: int | None  # None: no LE; 0: LE shares the BR/EDR buffers
    le_acl_packets: int | None
    local_name: str | None
    notes: tuple[str, ...] = ()  # optional steps that were skipped, and why

    @property
    def le_supported(self) -> bool:
        return bool(self.lmp_features[0] >> LMP_BIT_LE_SUPPORTED & 1)

    @property
    def bredr_supported(self) -> bool:
        return not self.lmp_features[0] >> LMP_BIT_BR_EDR_NOT_SUPPORTED & 1

    def supports(self, opcode: int) -> bool:
        return hci.bitmap_supports(self.supported_commands, opcode)

    def feature_names(self) -> list[str]:
        names: list[str] = []
        for page, mask in enumerate(self.lmp_features):
            names += lmp_feature_names(mask, page)
        return names

    def describe(self) -> list[str]:
        """Human-readable lines, as ``bluetrio info`` prints them."""
        lines = [
            f"BD_ADDR:       {self.address}",
            f"HCI version:   {_version(self.hci_version)} (subversion 0x{self.hci_subversion:04X})",
            f"LMP version:   {_version(self.lmp_version)} (subversion 0x{self.lmp_subversion:04X})",
            f"Manufacturer:  {MANUFACTURERS.get(self.manufacturer, 'unknown')} "
            f"(0x{self.manufacturer:04X})",
        ]
        if self.local_name:
            lines.append(f"Name:          {self.local_name}")
        lines.append(f"BR/EDR:        {'supported' if self.bredr_supported else 'not supported'}")
        lines.append(f"LE:            {'supported' if self.le_supported else 'not supported'}")
        lines.append(f"ACL buffers:   BR/EDR {self.acl_packets} x {self.acl_packet_length} bytes")
        if self.le_acl_packet_length == 0:
            lines.append("               LE shares the BR/EDR buffers")
        elif self.le_acl_packet_length is not None:
            lines.append(
                f"               LE {self.le_acl_packets} x {self.le_acl_packet_length} bytes"
            )
        lines.append("LMP features:  " + ", ".join(self.feature_names()))
        if self.le_features is not None:
            lines.append("LE features:   " + ", ".join(le_feature_names(self.le_features)))
        lines += [f"note:          {note}" for note in self.notes]
        return lines


def _version(number: int) -> str:
    return f"{CORE_VERSIONS.get(number, '?')} (0x{number:02X})"


@attrs.frozen
class Query:
    """One step of a command sequence: send ``command``; ``optional`` ones may be skipped."""

    command: Any
    optional: bool = False


@attrs.frozen
class Skipped:
    """Sent back into a sequence when an optional command failed or was not answered."""

    reason: str


# A sans-IO command sequence: yields Queries and is sent back each command's decoded return
# parameters (or Skipped for an optional command); its return value is the result. The
# ``bluetrio info`` path drives it with awaits (:func:`run_sequence`), the device manager with
# command continuations, so the read sequence is written once.
CommandSequence = Generator[Query, Any, T]


def optional_step(command: Any, notes: list[str]) -> Generator[Query, Any, Any | None]:
    """``yield from`` this: the return parameters of ``command``, or None (noted) if skipped."""
    answer = yield Query(command, optional=True)
    if isinstance(answer, Skipped):
        notes.append(f"{command.NAME} skipped: {answer.reason}")
        return None
    return answer


def read_sequence(*, reset: bool = True) -> CommandSequence[ControllerInfo]:
    """Reset (optionally) and read what the controller says about itself (Vol 4 Part E 7.4)."""
    notes: list[str] = []
    if reset:
        yield Query(hci.Reset())
    version = yield Query(hci.ReadLocalVersionInformation())
    commands_return = yield from optional_step(hci.ReadLocalSupportedCommands(), notes)
    # Controllers older than 1.2 lack the bitmap; then assume the mandatory reads only.
    supported = commands_return.supported_commands if commands_return else bytes(64)

    def listed(opcode: int) -> bool:
        return commands_return is None or hci.bitmap_supports(supported, opcode)

    features = (yield Query(hci.ReadLocalSupportedFeatures())).lmp_features
    pages = [features]
    if features >> LMP_BIT_EXTENDED_FEATURES & 1 and listed(hci.ReadLocalExtendedFeatures.OPCODE):
        page1 = yield from optional_step(hci.ReadLocalExtendedFeatures(1), notes)
        if page1 is not None:
            pages.append(page1.extended_lmp_features)
            for number in range(2, min(page1.maximum_page_number, 3) + 1):
                page = yield from optional_step(hci.ReadLocalExtendedFeatures(number), notes)
                if page is None:
                    break
                pages.append(page.extended_lmp_features)
    address = (yield Query(hci.ReadBdAddr())).bd_addr
    # The HCI actor configures its BR/EDR and LE credit pools from these two completions.
    buffers = yield Query(hci.ReadBufferSize())
    le_length = le_count = le_features = None
    if features >> LMP_BIT_LE_SUPPORTED & 1:
        le_buffers = None
        if listed(hci.LeReadBufferSizeV2.OPCODE) and commands_return is not None:
            le_buffers = yield from optional_step(hci.LeReadBufferSizeV2(), notes)
        if le_buffers is None:
            le_buffers = yield Query(hci.LeReadBufferSize())
        le_length = le_buffers.le_acl_data_packet_length
        le_count = le_buffers.total_num_le_acl_data_packets
        le_return = yield from optional_step(hci.LeReadLocalSupportedFeatures(), notes)
        le_features = le_return.le_features if le_return is not None else None
    name = None
    if listed(hci.ReadLocalName.OPCODE):
        name_return = yield from optional_step(hci.ReadLocalName(), notes)
        name = name_return.local_name if name_return is not None else None
    return ControllerInfo(
        address=address,
        hci_version=version.hci_version,
        hci_subversion=version.hci_subversion,
        lmp_version=version.lmp_version,
        lmp_subversion=version.lmp_subversion,
        manufacturer=version.company_identifier,
        supported_commands=supported,
        lmp_features=tuple(pages),
        le_features=le_features,
        acl_packet_length=buffers.acl_data_packet_length,
        acl_packets=buffers.total_num_acl_data_packets,
        le_acl_packet_length=le_length,
        le_acl_packets=le_count,
        local_name=name,
        notes=tuple(notes),
    )


async def run_sequence(
    sequence: CommandSequence[T],
    command: CommandRunner,
    *,
    optional_timeout: float = OPTIONAL_COMMAND_TIMEOUT,
) -> T:
    """Drive ``sequence`` with ``command`` (e.g. :meth:`bluetrio.stack.Stack.command`).

    A mandatory command that fails raises its HciError/HciTimeout.
    """
    answer: Any = None
    try:
        while True:
            query = sequence.send(answer)
            if not query.optional:
                answer = (await command(query.command)).decode_return()
                continue
            try:
                complete = await command(query.command, timeout=optional_timeout)
            except (HciError, HciTimeout) as exc:
                answer = Skipped(str(exc))
            else:
                answer = complete.decode_return()
    except StopIteration as finished:
        result: T = finished.value
        return result


async def read_controller_info(command: CommandRunner, *, reset: bool = True) -> ControllerInfo:
    """Query the controller through ``command`` (e.g. :meth:`bluetrio.stack.Stack.command`)."""
    return await run_sequence(read_sequence(reset=reset), command)
