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

import attrs

from bluetrio.actors.effects import (
    CancelTimer,
    Effects,
    Emit,
    Send,
    ShellEffect,
    StartTimer,
    TimerExpired,
    TimerKey,
)
from bluetrio.actors.hci.acl import AclReassembler, AclScheduler
from bluetrio.actors.hci.states import COMMAND_TRANSITIONS, CommandEvent, CommandState
from bluetrio.actors.state_machine import transition
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.errors import DecodeError
from bluetrio.messages import hci
from bluetrio.messages.base import Message
from bluetrio.messages.hci_service import (
    AclDataCnf,
    AclDataInd,
    AclDataReq,
    AclLinkClosedInd,
    AclLinkOpenedInd,
    ControllerErrorInd,
    HciCommandCnf,
    HciCommandReq,
    HciEventInd,
    LinkTransport,
    TransportPacketInd,
)
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import FramingLimits

logger = logging.getLogger(__name__)

DEFAULT_COMMAND_TIMEOUT = 2.0  # seconds; the Linux kernel uses the same (HCI_CMD_TIMEOUT)
# Reasons given to the ACL data owner when a link closes without a Disconnection Complete
# (Vol 1 Part F 1.3): the host reset the controller; the controller reused a live handle.
LOCAL_HOST_TERMINATED = 0x16
CONNECTION_ALREADY_EXISTS = 0x0B
LINK_TYPE_ACL = 0x01  # Connection Complete Link_Type (Vol 4 Part E 7.7.3); 0x00 is SCO
EVENT_HEADER_SIZE = 2  # Event_Code, Parameter_Total_Length (Vol 4 Part E 5.4.4)
INTERNAL_TOKEN = 0  # commands the HCI actor sends on its own; their answers go nowhere


@attrs.frozen
class CommandTimer:
    """Owner of the deadline of the ``sequence``-th command asked for."""

    sequence: int


@attrs.frozen
class CreditRecoveryTimer:
    """Owner of the wait for a command credit the controller withholds (Vol 4 Part E 4.4)."""


CREDIT_RECOVERY_TIMER = TimerKey(CreditRecoveryTimer(), "recovery")
BUFFER_SIZE_OPCODES = frozenset(
    {hci.ReadBufferSize.OPCODE, hci.LeReadBufferSize.OPCODE, hci.LeReadBufferSizeV2.OPCODE}
)


@attrs.frozen
class TransportWrite(ShellEffect):
    """Effect: write one packet to the transport."""

    packet_type: PacketType
    payload: bytes


@attrs.frozen
class ConfigureFraming(ShellEffect):
    """Effect: tell the transport the controller's buffer sizes, so that a byte-stream framer
    can refuse headers announcing more (``Transport.configure_framing``)."""

    limits: FramingLimits


@attrs.define
class _PendingCommand:
    """A command asked for: queued until a credit allows sending it, then pending until
    answered (:data:`~.states.COMMAND_TRANSITIONS`). Its timer runs from the moment it was
    asked for, queued or not."""

    sender: str
    request: HciCommandReq
    opcode: int
    key: TimerKey
    state: CommandState = CommandState.QUEUED

    @property
    def token(self) -> int:
        return self.request.token

    def _transition(self, event: CommandEvent) -> None:
        self.state = transition(COMMAND_TRANSITIONS, self.state, event)


class HciCore:
    """Sans-IO HCI logic (see the module docstring)."""

    name = Layer.HCI
    # Events go to the layer that owns each event class and ACL data to the layer that handles
    # AclDataInd, as the topology says; the link signals travel with the data.
    spec = LayerSpec(
        Layer.HCI,
        handles=(HciCommandReq, AclDataReq),
        emits=(HciEventInd, ControllerErrorInd, AclDataInd, AclLinkOpenedInd, AclLinkClosedInd),
    )

    def __init__(self, *, command_timeout: float = DEFAULT_COMMAND_TIMEOUT) -> None:
        self.command_timeout = command_timeout
        self.command_credits = 1  # Vol 4 Part E 4.4: one command may be sent after power-on
        self._queued: deque[_PendingCommand] = deque()  # waiting for a command credit
        self._pending: list[_PendingCommand] = []  # sent, waiting for Command Complete/Status
        self._sequence = 0
        self.acl = AclScheduler()
        self.reassembler = AclReassembler()
        self.malformed_packets = 0
        # Events longer than the parameters this codec knows: a later specification appended
        # parameters, which the host ignores (Vol 4 Part E 5.4.4).
        self.extended_events = 0
        self.ignored_completions = 0
        self.host_acl_data_length: int | None = None  # announced by Host_Buffer_Size
        self.links_opened = 0  # numbers the links: AclLinkOpenedInd.link_id
        self.unknown_handle_packets = 0  # ACL packets dropped for handles with no link
        # PDUs reassembled during the current wake-up, per handle in arrival order: they leave
        # as one AclDataInd per handle when the wake-up ends, or before anything that must
        # follow them (an event, a link opened or closed).
        self._received: dict[int, list[bytes]] = {}
        self._in_wakeup = False  # between the shell's begin_wakeup and end_wakeup

    # -- entry point -------------------------------------------------------------------------
    def handle(self, sender: str, message: Message, now: float) -> Effects:
        match message:
            case TransportPacketInd():
                return self._on_packet(message, now)
            case AclDataReq():
                return self._on_acl_request(sender, message)
            case HciCommandReq():
                return self._on_command_request(sender, message, now)
            case TimerExpired(key=TimerKey(owner=CreditRecoveryTimer())):
                return self._on_credit_recovery(now)
            case TimerExpired(key=TimerKey(owner=CommandTimer()) as key):
                return self._on_command_timeout(key, now)
        logger.warning("hci: ignoring unexpected %s from %s", message.summary(), sender)
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        self.reassembler.forget(handle)
        return []

    def begin_wakeup(self) -> None:
        """The shell's wake-up hook: the PDUs of a burst of ACL packets are gathered and
        handed up as one ``AclDataInd`` per link when the wake-up ends."""
        self._in_wakeup = True

    def end_wakeup(self, now: float) -> Effects:
        self._in_wakeup = False
        return self._flush_received()

    def _flush_received(self) -> Effects:
        """The gathered PDUs, one ``AclDataInd`` per link, in the order the links spoke."""
        if not self._received:
            return []
        received, self._received = self._received, {}
        return [Emit(AclDataInd(handle, tuple(pdus))) for handle, pdus in received.items()]

    # -- commands ----------------------------------------------------------------------------
    def _on_command_request(self, sender: str, request: HciCommandReq, now: float) -> Effects:
        opcode = request.command.OPCODE
        self._sequence += 1
        key = TimerKey(CommandTimer(self._sequence), "timeout")
        timeout = self.command_timeout if request.timeout is None else request.timeout
        self._queued.append(_PendingCommand(sender, request, opcode, key))
        # The deadline counts from the request, not from the send: a controller that
        # withholds credits must not make the caller wait past its timeout.
        return [StartTimer(key, now + timeout), *self._pump_commands(now)]

    def _internal_command(self, command: hci.HciCommand, now: float) -> Effects:
        return self._on_command_request(self.name, HciCommandReq(INTERNAL_TOKEN, command), now)

    def _pump_commands(self, now: float) -> Effects:
        effects: Effects = []
        while self.command_credits > 0 and self._queued:
            pending = self._queued.popleft()
            pending._transition(CommandEvent.CREDIT_TAKEN)
            self._pending.append(pending)
            self.command_credits -= 1
            if pending.opcode == hci.Reset.OPCODE:
                effects += self._on_reset_sent()
            command = pending.request.command
            effects.append(TransportWrite(PacketType.COMMAND, command.to_bytes()))
        return effects

    def _on_reset_sent(self) -> Effects:
        # After HCI_Reset the controller forgets every connection and buffer (Vol 4 Part E
        # 7.3.2): what was in flight will never be reported completed, and the ACL data owner
        # learns that each link is closed (after the data received on it) before anything of
        # a new link reaches it.
        self.reassembler.reset()
        self.host_acl_data_length = None  # Reset returns it to the controller's default
        effects = self._flush_received()
        effects += [
            Emit(AclLinkClosedInd(handle, LOCAL_HOST_TERMINATED)) for handle in self.acl.reset()
        ]
        return effects

    def _answer(self, pending: _PendingCommand, cnf: HciCommandCnf) -> Effects:
        if pending.sender == self.name:
            if cnf.error is not None:
                logger.warning("hci: internal command 0x%04X failed: %s", pending.opcode, cnf.error)
            return [CancelTimer(pending.key)]
        return [CancelTimer(pending.key), Send(pending.sender, cnf)]

    def _on_command_answer(
        self, event: hci.CommandComplete | hci.CommandStatus, now: float
    ) -> Effects:
        effects = self._set_credits(event.num_hci_command_packets, now)
        opcode = event.command_opcode
        for index, pending in enumerate(self._pending):
            if pending.opcode == opcode:
                del self._pending[index]
                pending._transition(CommandEvent.ANSWERED)
                confirmation = self._confirmation(pending, event)
                effects += self._answer(pending, confirmation)
                if pending.opcode in BUFFER_SIZE_OPCODES and confirmation.event is not None:
                    effects.append(ConfigureFraming(self._framing_limits()))
                elif isinstance(pending.request.command, hci.HostBufferSize):
                    effects += self._learn_host_buffer_size(pending.request.command, event)
                break
        else:
            if opcode != 0:  # opcode 0 only carries credits (Vol 4 Part E 7.7.14)
                self.ignored_completions += 1
                logger.warning(
                    "hci: %s for opcode 0x%04X that was not sent; ignored",
                    type(event).__name__,
                    opcode,
                )
        effects += self._pump_commands(now)
        effects += self._send_acl()
        return effects

    def _confirmation(
        self, pending: _PendingCommand, event: hci.CommandComplete | hci.CommandStatus
    ) -> HciCommandCnf:
        """The answer for ``pending``; a buffer-size completion the ACL pools cannot be
        configured from is refused (the caller gets an error naming it) rather than trusted."""
        opcode = pending.opcode
        if opcode in BUFFER_SIZE_OPCODES and isinstance(event, hci.CommandComplete):
            problem = self._learn_from_completion(opcode, event)
            if problem is not None:
                self.malformed_packets += 1
                logger.warning("hci: %s; ACL buffers left as they were", problem)
                return HciCommandCnf(pending.token, opcode, None, problem)
        return HciCommandCnf(pending.token, opcode, event)

    def _learn_from_completion(self, opcode: int, event: hci.CommandComplete) -> str | None:
        """Configure the ACL credit pools from buffer-size completions (Vol 4 Part E 7.4.5,
        7.8.2, 7.8.93), whichever actor asked for them. Returns what was wrong with a
        successful completion whose return parameters do not decode, else None."""
        if event.status != 0:
            return None
        try:
            sizes = event.decode_return()
        except DecodeError as exc:
            return f"malformed return parameters: {exc}"
        match sizes:
            case hci.ReadBufferSizeReturn():
                self.acl.bredr.configure(
                    sizes.acl_data_packet_length, sizes.total_num_acl_data_packets
                )
            case hci.LeReadBufferSizeReturn() | hci.LeReadBufferSizeV2Return():
                length, total = sizes.le_acl_data_packet_length, sizes.total_num_le_acl_data_packets
                # Zero means LE shares the BR/EDR buffers (Vol 4 Part E 7.8.2).
                self.acl.le_shares_bredr = length == 0 or total == 0
                if not self.acl.le_shares_bredr:
                    self.acl.le.configure(length, total)
        return None

    def _learn_host_buffer_size(
        self, command: hci.HostBufferSize, event: hci.CommandComplete | hci.CommandStatus
    ) -> Effects:
        """Once the controller took Host_Buffer_Size, the ACL packets it sends are sized by
        the length the host announced (Vol 4 Part E 7.3.39), whichever actor announced it."""
        if not isinstance(event, hci.CommandComplete) or event.status != 0:
            return []
        self.host_acl_data_length = command.host_acl_data_packet_length
        return [ConfigureFraming(self._framing_limits())]

    def _framing_limits(self) -> FramingLimits:
        """What the transport may check ACL lengths against (see :class:`FramingLimits`)."""
        bredr, le = self.acl.bredr.packet_length, self.acl.le.packet_length
        return FramingLimits(
            bredr_acl_data_length=bredr or None,
            le_acl_data_length=0 if self.acl.le_shares_bredr else (le or None),
            host_acl_data_length=self.host_acl_data_length,
        )

    def _set_credits(self, credits: int, now: float) -> Effects:
        """Num_HCI_Command_Packets from Command Complete/Status (Vol 4 Part E 4.4, 7.7.14)."""
        self.command_credits = credits
        if credits == 0:
            # A controller that never gives a credit back would wedge every later command;
            # after one command timeout the host sends again, as BlueZ and Bluedroid do.
            return [StartTimer(CREDIT_RECOVERY_TIMER, now + self.command_timeout)]
        return [CancelTimer(CREDIT_RECOVERY_TIMER)]

    def _on_credit_recovery(self, now: float) -> Effects:
        if self.command_credits > 0:
            return []
        logger.warning(
            "hci: no command credit for %g s (Num_HCI_Command_Packets = 0); sending again",
            self.command_timeout,
        )
        self.command_credits = 1
        return self._pump_commands(now)

    def _on_command_timeout(self, key: TimerKey, now: float) -> Effects:
        for queued in self._queued:
            if queued.key == key:
                self._queued.remove(queued)
                queued._transition(CommandEvent.DEADLINE_PASSED)
                error = (
                    f"command 0x{queued.opcode:04X} timed out before it could be sent: the "
                    "controller returned no command credit (Num_HCI_Command_Packets) in time"
                )
                return self._answer(queued, self._timed_out(queued, error))
        for index, pending in enumerate(self._pending):
            if pending.key == key:
                del self._pending[index]
                pending._transition(CommandEvent.DEADLINE_PASSED)
                break
        else:
            return []
        # The controller lost the command; let the next one go (as Linux does) so one
        # unanswered optional command does not wedge the stack.
        self.command_credits = max(self.command_credits, 1)
        error = f"controller did not answer command 0x{pending.opcode:04X} in time"
        effects = self._answer(pending, self._timed_out(pending, error))
        return [*effects, CancelTimer(CREDIT_RECOVERY_TIMER), *self._pump_commands(now)]

    @staticmethod
    def _timed_out(pending: _PendingCommand, error: str) -> HciCommandCnf:
        return HciCommandCnf(pending.token, pending.opcode, None, error, timed_out=True)

    # -- packets from the controller ---------------------------------------------------------
    def _on_packet(self, packet: TransportPacketInd, now: float) -> Effects:
        if packet.packet_type == PacketType.ACL:
            return self._on_acl(packet.payload)
        if packet.packet_type != PacketType.EVENT:
            logger.debug("hci: %s packet ignored (no SCO/ISO user)", packet.packet_type.name)
            return []
        try:
            event = hci.parse_event(packet.payload)
        except DecodeError as exc:
            self.malformed_packets += 1
            logger.warning("hci: malformed event dropped: %s", exc)
            return []
        if type(event) is hci.NumberOfCompletedPackets:
            # Only frees our own buffers: the data received meanwhile may go on gathering.
            return self._on_completed_packets(event)
        self._note_extension(event, packet.payload)  # (NOCP's length is its count's)
        # Any other event (a link opened or closed, one the upper layers act on) follows the
        # data that arrived before it.
        effects = self._flush_received()
        match event:
            case hci.CommandComplete() | hci.CommandStatus():
                return effects + self._on_command_answer(event, now)
            case hci.ConnectionComplete(status=0) if event.link_type == LINK_TYPE_ACL:
                effects += self._open_link(event.connection_handle, LinkTransport.BR_EDR)
            case hci.LeConnectionComplete(status=0) | hci.LeEnhancedConnectionComplete(status=0):
                effects += self._open_link(event.connection_handle, LinkTransport.LE)
            case hci.DisconnectionComplete(status=0):
                effects += self._close_link(event.connection_handle, event.reason)
            case hci.HardwareError(hardware_code=code):
                effects.append(Emit(ControllerErrorInd(code, f"hardware error 0x{code:02X}")))
                effects += self._internal_command(hci.Reset(), now)
        effects.append(Emit(HciEventInd(event)))
        return effects

    def _note_extension(self, event: hci.HciEvent, payload: bytes) -> None:
        unknown = len(payload) - EVENT_HEADER_SIZE - len(event.parameters())
        if unknown > 0:
            self.extended_events += 1
            logger.debug("hci: %s: %d octet(s) of later parameters ignored", event.name, unknown)

    # -- links: opened and closed in order with their data -----------------------------------
    def _open_link(self, handle: int, transport: LinkTransport) -> Effects:
        effects: Effects = []
        if self.acl.has_link(handle):
            # A controller must not reuse a live handle; if it does, the old link is gone.
            logger.warning("hci: connection complete for live handle 0x%04X", handle)
            effects += self._close_link(handle, CONNECTION_ALREADY_EXISTS)
        self.acl.add_link(handle, transport)
        self.links_opened += 1
        effects.append(Emit(AclLinkOpenedInd(handle, transport, self.links_opened)))
        return effects

    def _close_link(self, handle: int, reason: int) -> Effects:
        self.reassembler.forget(handle)
        if not self.acl.has_link(handle):
            return []
        self.acl.remove_link(handle)
        return [Emit(AclLinkClosedInd(handle, reason))]

    def _on_completed_packets(self, event: hci.NumberOfCompletedPackets) -> Effects:
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
            return []
        header = int.from_bytes(payload[:2], "little")
        length = int.from_bytes(payload[2:4], "little")
        if length != len(payload) - 4:
            self.malformed_packets += 1
            logger.warning(
                "hci: ACL length %d disagrees with %d bytes; dropped", length, len(payload) - 4
            )
            return []
        handle = header & 0x0FFF
        if not self.acl.has_link(handle):
            # Data for a connection that does not exist (never completed, or gone): holding
            # it would let a controller fill memory with partial PDUs of invented handles.
            self.unknown_handle_packets += 1
            if self.unknown_handle_packets & (self.unknown_handle_packets - 1) == 0:
                logger.warning(
                    "hci: ACL for handle 0x%03X, which has no link; dropped (%d so far)",
                    handle,
                    self.unknown_handle_packets,
                )
            return []
        problems = len(self.reassembler.problems)
        pdu = self.reassembler.feed(handle, (header >> 12) & 0b11, payload[4:])
        if len(self.reassembler.problems) != problems:
            logger.warning("hci: %s", self.reassembler.problems[-1])
        if pdu is None:
            return []
        if not self._in_wakeup:  # driven packet by packet (no wake-up hooks): at once
            return [Emit(AclDataInd(handle, (pdu,)))]
        pending = self._received.get(handle)
        if pending is None:
            self._received[handle] = [pdu]
        else:
            pending.append(pdu)
        return []

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
            return []
        return [TransportWrite(PacketType.ACL, packet) for packet in packets]
