"""The HCI actor: owns the transport; command flow control, event routing, ACL data path.

The protocol logic is :class:`HciCore` (sans-IO); :class:`HciActor` is the shell that reads
and writes the transport, records btsnoop and applies transport faults.

Responsibilities (Core 5.4 Vol 4 Part E 4.4, 4.1, 5.4):
* command flow control by ``Num_HCI_Command_Packets``; Command Complete/Status matched to the
  pending command by opcode (oldest first); a per-command timeout answered with a clear error
  instead of a hang; completions for opcodes never sent are logged and ignored;
* ACL flow control with separate BR/EDR and LE credit pools, learned from the completions of
  ``Read_Buffer_Size`` and ``LE_Read_Buffer_Size`` whoever sent them, and returned by
  ``Number_Of_Completed_Packets``; fragmentation to the controller's packet length;
  reassembly bounded by the L2CAP length;
* ``HCI_Hardware_Error`` → a reset and a :class:`ControllerErrorInd` for the upper layers.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import attrs

from bluetrio.actors.effects import (
    NO_EFFECTS,
    CancelTimer,
    ConnectionFaultInd,
    Effects,
    Send,
    StartTimer,
    TimerExpired,
    TimerKey,
)
from bluetrio.actors.hci.acl import AclReassembler, AclScheduler, LinkKind
from bluetrio.errors import DecodeError
from bluetrio.messages import hci
from bluetrio.messages.base import Message
from bluetrio.messages.hci_service import (
    AclDataCnf,
    AclDataInd,
    AclDataReq,
    ControllerErrorInd,
    HciCommandCnf,
    HciCommandReq,
    HciEventInd,
    TransportPacketInd,
)
from bluetrio.messages.packets import PacketType

logger = logging.getLogger(__name__)

DEFAULT_COMMAND_TIMEOUT = 2.0  # seconds; the Linux kernel uses the same (HCI_CMD_TIMEOUT)
# Disconnect reason when the host tears a link down after an internal failure:
# "Remote User Terminated Connection" (Vol 1 Part F 2.1, allowed by Vol 4 Part E 7.1.6).
LOCAL_TEARDOWN_REASON = 0x13
INTERNAL_TOKEN = 0  # commands the HCI actor sends on its own; their answers go nowhere


@attrs.frozen
class TransportWrite:
    """Effect: write one packet to the transport."""

    packet_type: PacketType
    payload: bytes


@attrs.define
class _PendingCommand:
    sender: str
    token: int
    opcode: int
    key: TimerKey


class HciCore:
    """Sans-IO HCI logic (see the module docstring)."""

    name = "hci"

    def __init__(
        self,
        *,
        event_sink: str = "btu",
        acl_sink: str = "l2cap",
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
    ) -> None:
        self.event_sink = event_sink
        self.acl_sink = acl_sink
        self.command_timeout = command_timeout
        self.command_credits = 1  # Vol 4 Part E 4.4: one command may be sent after power-on
        self._queued: deque[tuple[str, HciCommandReq]] = deque()
        self._pending: list[_PendingCommand] = []
        self._sequence = 0
        self.acl = AclScheduler()
        self.reassembler = AclReassembler()
        self.malformed_packets = 0
        self.ignored_completions = 0

    # -- entry point -------------------------------------------------------------------------
    def handle(self, sender: str, message: Message, now: float) -> Effects:
        kind = type(message)
        if kind is TransportPacketInd:
            return self._on_packet(message, now)  # type: ignore[arg-type]
        if kind is AclDataReq:
            return self._on_acl_request(sender, message)  # type: ignore[arg-type]
        if kind is HciCommandReq:
            self._queued.append((sender, message))  # type: ignore[arg-type]
            return self._pump_commands(now)
        if kind is TimerExpired:
            return self._on_command_timeout(message.key, now)  # type: ignore[attr-defined]
        if kind is ConnectionFaultInd:
            fault: ConnectionFaultInd = message  # type: ignore[assignment]
            return self._internal_command(
                hci.Disconnect(connection_handle=fault.handle, reason=LOCAL_TEARDOWN_REASON), now
            )
        logger.warning("hci: ignoring unexpected %s from %s", message.summary(), sender)
        return NO_EFFECTS

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        self.reassembler.forget(handle)
        return NO_EFFECTS

    # -- commands ----------------------------------------------------------------------------
    def _internal_command(self, command: Any, now: float) -> Effects:
        self._queued.append((self.name, HciCommandReq(INTERNAL_TOKEN, command)))
        return self._pump_commands(now)

    def _pump_commands(self, now: float) -> Effects:
        effects: Effects = []
        while self.command_credits > 0 and self._queued:
            sender, request = self._queued.popleft()
            command = request.command
            opcode: int = command.OPCODE  # type: ignore[attr-defined]
            self._sequence += 1
            key = TimerKey(("command", self._sequence), "timeout")
            timeout = self.command_timeout if request.timeout is None else request.timeout
            self._pending.append(_PendingCommand(sender, request.token, opcode, key))
            self.command_credits -= 1
            if opcode == hci.Reset.OPCODE:
                self._on_reset_sent()
            effects.append(TransportWrite(PacketType.COMMAND, command.to_bytes()))  # type: ignore[attr-defined]
            effects.append(StartTimer(key, now + timeout))
        return effects

    def _on_reset_sent(self) -> None:
        # After HCI_Reset the controller forgets every connection and buffer (Vol 4 Part E
        # 7.3.2): what was in flight will never be reported completed.
        self.acl.reset()
        self.reassembler.reset()

    def _answer(self, pending: _PendingCommand, cnf: HciCommandCnf) -> Effects:
        if pending.sender == self.name:
            if cnf.error is not None:
                logger.warning("hci: internal command 0x%04X failed: %s", pending.opcode, cnf.error)
            return [CancelTimer(pending.key)]
        return [CancelTimer(pending.key), Send(pending.sender, cnf)]

    def _on_command_answer(self, event: Any, now: float) -> Effects:
        self.command_credits = event.num_hci_command_packets
        opcode = event.command_opcode
        effects: Effects = []
        for index, pending in enumerate(self._pending):
            if pending.opcode == opcode:
                del self._pending[index]
                effects += self._answer(pending, HciCommandCnf(pending.token, opcode, event))
                break
        else:
            if opcode != 0:  # opcode 0 only carries credits (Vol 4 Part E 7.7.14)
                self.ignored_completions += 1
                logger.warning(
                    "hci: %s for opcode 0x%04X that was not sent; ignored",
                    type(event).__name__,
                    opcode,
                )
        if isinstance(event, hci.CommandComplete) and event.status == 0:
            self._learn_from_completion(opcode, event)
        effects += self._pump_commands(now)
        effects += self._send_acl()
        return effects

    def _learn_from_completion(self, opcode: int, event: Any) -> None:
        """Configure the ACL credit pools from buffer-size completions (Vol 4 Part E 7.4.5,
        7.8.2, 7.8.93), whichever actor asked for them."""
        if opcode == hci.ReadBufferSize.OPCODE:
            sizes = event.decode_return()
            self.acl.bredr.configure(sizes.acl_data_packet_length, sizes.total_num_acl_data_packets)
        elif opcode in (hci.LeReadBufferSize.OPCODE, hci.LeReadBufferSizeV2.OPCODE):
            sizes = event.decode_return()
            if sizes.le_acl_data_packet_length == 0 or sizes.total_num_le_acl_data_packets == 0:
                self.acl.le_shares_bredr = True
            else:
                self.acl.le_shares_bredr = False
                self.acl.le.configure(
                    sizes.le_acl_data_packet_length, sizes.total_num_le_acl_data_packets
                )

    def _on_command_timeout(self, key: TimerKey, now: float) -> Effects:
        for index, pending in enumerate(self._pending):
            if pending.key == key:
                del self._pending[index]
                break
        else:
            return NO_EFFECTS
        # The controller lost the command; let the next one go (as Linux does) so one
        # unanswered optional command does not wedge the stack.
        self.command_credits = max(self.command_credits, 1)
        error = f"controller did not answer command 0x{pending.opcode:04X} in time"
        effects = self._answer(
            pending, HciCommandCnf(pending.token, pending.opcode, None, error, timed_out=True)
        )
        return effects + self._pump_commands(now)

    # -- packets from the controller ---------------------------------------------------------
    def _on_packet(self, packet: TransportPacketInd, now: float) -> Effects:
        if packet.packet_type == PacketType.ACL:
            return self._on_acl(packet.payload)
        if packet.packet_type != PacketType.EVENT:
            logger.debug("hci: %s packet ignored (no SCO/ISO user)", packet.packet_type.name)
            return NO_EFFECTS
        try:
            event = hci.parse_event(packet.payload)
        except DecodeError as exc:
            self.malformed_packets += 1
            logger.warning("hci: malformed event dropped: %s", exc)
            return NO_EFFECTS
        kind = type(event)
        if kind is hci.NumberOfCompletedPackets:
            return self._on_completed_packets(event)
        if kind is hci.CommandComplete or kind is hci.CommandStatus:
            return self._on_command_answer(event, now)
        effects: Effects = []
        if isinstance(event, hci.ConnectionComplete):
            if event.status == 0 and event.link_type == 0x01:  # ACL, not SCO
                self.acl.add_link(event.connection_handle, LinkKind.BR_EDR, self.acl_sink)
        elif isinstance(event, hci.LeConnectionComplete | hci.LeEnhancedConnectionComplete):
            if event.status == 0:
                self.acl.add_link(event.connection_handle, LinkKind.LE, self.acl_sink)
        elif isinstance(event, hci.DisconnectionComplete):
            if event.status == 0:
                self.acl.remove_link(event.connection_handle)
                self.reassembler.forget(event.connection_handle)
        elif isinstance(event, hci.HardwareError):
            code = event.hardware_code
            effects.append(
                Send(self.event_sink, ControllerErrorInd(code, f"hardware error 0x{code:02X}"))
            )
            effects += self._internal_command(hci.Reset(), now)
        effects.append(Send(self.event_sink, HciEventInd(event)))
        return effects

    def _on_completed_packets(self, event: Any) -> Effects:
        effects: Effects = []
        for entry in event.completed:
            done = self.acl.complete(entry.connection_handle, entry.num_completed_packets)
            if done is not None:
                owner, count = done
                effects.append(Send(owner, AclDataCnf(entry.connection_handle, count)))
        return effects + self._send_acl()

    def _on_acl(self, payload: bytes) -> Effects:
        if len(payload) < 4:
            self.malformed_packets += 1
            logger.warning("hci: ACL packet of %d bytes has no header; dropped", len(payload))
            return NO_EFFECTS
        header = int.from_bytes(payload[:2], "little")
        length = int.from_bytes(payload[2:4], "little")
        if length != len(payload) - 4:
            self.malformed_packets += 1
            logger.warning(
                "hci: ACL length %d disagrees with %d bytes; dropped", length, len(payload) - 4
            )
            return NO_EFFECTS
        handle = header & 0x0FFF
        problems = len(self.reassembler.problems)
        pdu = self.reassembler.feed(handle, (header >> 12) & 0b11, payload[4:])
        if len(self.reassembler.problems) != problems:
            logger.warning("hci: %s", self.reassembler.problems[-1])
        if pdu is None:
            return NO_EFFECTS
        return [Send(self.acl_sink, AclDataInd(handle, (pdu,)))]

    # -- ACL toward the controller -----------------------------------------------------------
    def _on_acl_request(self, sender: str, request: AclDataReq) -> Effects:
        if not self.acl.queue(request.handle, request.pdus, sender):
            # The link is gone (or never was): the sender learns it from the disconnection
            # it has seen or is about to see; say so loudly rather than lose data quietly.
            logger.warning("hci: %s for unknown connection; dropped", request.summary())
            return [Send(sender, AclDataCnf(request.handle, 0))]
        return self._send_acl()

    def _send_acl(self) -> Effects:
        packets = self.acl.take_sendable()
        if not packets:
            return NO_EFFECTS
        return [TransportWrite(PacketType.ACL, packet) for packet in packets]
