"""Every command the virtual controller handles, fed valid and random parameters: each gets
exactly one answer (Command Complete or Command Status, Core 5.4 Vol 4 Part E 4.4), never
Unspecified Error (a handler's own exception), whatever the bytes."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from bluetrio.controller import Air, VirtualController
from bluetrio.controller.controller import load_feature_modules
from bluetrio.controller.dispatch import COMMAND_TABLE, Reply
from bluetrio.messages import hci
from bluetrio.messages.packets import PacketType

load_feature_modules()
HANDLED = sorted(COMMAND_TABLE)


def answers(packets: list[tuple[PacketType, bytes]], opcode: int) -> list[hci.HciEvent]:
    found = []
    for packet_type, payload in packets:
        if packet_type != PacketType.EVENT:
            continue
        event = hci.parse_event(payload)
        if isinstance(event, hci.CommandComplete | hci.CommandStatus) and (
            event.command_opcode == opcode
        ):
            found.append(event)
    return found


def parameter_samples(opcode: int, rng: random.Random) -> list[bytes]:
    command_class = COMMAND_TABLE[opcode].spec.command_class
    samples = [command_class.example(seed).parameters() for seed in range(3)]
    samples += [rng.randbytes(rng.randrange(0, 40)) for _ in range(12)]
    # The valid length with random content: reaches the handlers' own checks.
    samples += [rng.randbytes(len(samples[0])) for _ in range(12)]
    return samples


@pytest.mark.parametrize("opcode", HANDLED, ids=lambda code: f"0x{code:04X}")
async def test_every_handled_command_is_answered_once_whatever_its_parameters(
    autojump_clock: trio.testing.MockClock, opcode: int
) -> None:
    rng = random.Random(opcode)
    air = Air()
    controller, peer = VirtualController(air), VirtualController(air)
    for radio in (controller, peer):
        air.attach(radio)
    reply = COMMAND_TABLE[opcode].spec.reply
    for parameters in parameter_samples(opcode, rng):
        controller.handle_packet(
            PacketType.COMMAND, hci.UnknownCommand(opcode, parameters).to_bytes()
        )
        controller.run_due_timers()
        found = answers(controller.take_host_packets(), opcode)
        if reply is Reply.NONE_ON_SUCCESS:
            assert len(found) <= 1, parameters.hex()
            assert all(isinstance(e, hci.CommandComplete) and e.status for e in found)
        else:
            assert len(found) == 1, parameters.hex()
        # Unspecified Error is what a handler's own exception becomes: a bug, not an answer.
        assert all(e.status != hci.HciStatus.UNSPECIFIED_ERROR for e in found), parameters.hex()
        # Parameters the codec cannot decode are Invalid HCI Command Parameters (4.5).
        command_class = COMMAND_TABLE[opcode].spec.command_class
        try:
            command_class.from_parameters(parameters)
        except Exception:
            assert found and found[0].status == hci.HciStatus.INVALID_HCI_COMMAND_PARAMETERS
        peer.take_host_packets()
