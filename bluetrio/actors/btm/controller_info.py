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

from bluetrio.errors import HciError, HciTimeout
from bluetrio.messages import hci
from bluetrio.messages.controller_info import (
    LMP_BIT_EXTENDED_FEATURES,
    LMP_BIT_LE_SUPPORTED,
    ControllerInfo,
)

CommandRunner = Callable[..., Awaitable[Any]]
T = TypeVar("T")

OPTIONAL_COMMAND_TIMEOUT = 1.0  # seconds; a missing answer to an optional read costs this much


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


def read_sequence(*, reset: bool = True, name: bool = True) -> CommandSequence[ControllerInfo]:
    """Reset (optionally) and read what the controller says about itself (Vol 4 Part E 7.4);
    ``name=False`` leaves out the local name (a host about to write it knows it)."""
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
    local_name = None
    if name and listed(hci.ReadLocalName.OPCODE):
        name_return = yield from optional_step(hci.ReadLocalName(), notes)
        local_name = name_return.local_name if name_return is not None else None
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
        local_name=local_name,
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
