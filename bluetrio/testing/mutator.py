"""An "evil controller": a packet tap that mutates, drops, duplicates and injects HCI packets
in both directions between a stack and its controller, driven by a seeded random source.

    evil = EvilController(seed=7)
    transport = TappedTransport(host_side, evil)      # or open_fuzzed_stack() in .fuzz

Every decision comes from ``random.Random(seed)``, so a case replays exactly from its seed
(under ``MockClock`` the packet order is deterministic too). :attr:`EvilController.stats`
counts what was done; :attr:`EvilController.enabled` switches the faults off (the packets then
pass untouched), which is how a harness checks that the stack still serves afterwards.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable

import attrs
import trio
import trio.testing

from bluetrio.address import Address
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages import hci
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import Packet

# Bytes that make decoders take their edge paths: zero, all ones, sign bits, reserved values.
BOUNDARY_BYTES = (0x00, 0x01, 0x02, 0x03, 0x05, 0x7F, 0x80, 0xFE, 0xFF)
MAX_PARAMETERS = 255  # Parameter_Total_Length is one octet (Core 5.4 Vol 4 Part E 5.4.1, 5.4.4)
EVENT_HEADER = 2  # Event_Code, Parameter_Total_Length
COMMAND_HEADER = 3  # OpCode, Parameter_Total_Length
ACL_HEADER = 4  # Handle and flags, Data_Total_Length

# Events a controller sends on its own that steer a host the most; injected with mutations.
_INJECTED_EVENTS: tuple[type[hci.HciEvent], ...] = tuple(
    cls for cls in hci.EVENT_CLASSES.values() if cls.LAYOUT
)
_INJECTED_LE_EVENTS: tuple[type[hci.LeMetaEvent], ...] = tuple(hci.LE_EVENT_CLASSES.values())
_COMMANDS: tuple[type[hci.HciCommand], ...] = tuple(hci.COMMAND_CLASSES.values())


def _probability(name: str, value: float) -> float:
    if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise InvalidArgumentError(f"{name} must be a probability from 0 to 1, got {value!r}")
    return float(value)


def _is_probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    _probability(attribute.name, value)


@attrs.frozen
class MutationRates:
    """How often each fault hits a packet (each a probability per packet, in this order:
    drop, else duplicate, else mutate; injection adds a packet after the current one)."""

    drop: float = attrs.field(default=0.02, validator=_is_probability)
    duplicate: float = attrs.field(default=0.02, validator=_is_probability)
    mutate: float = attrs.field(default=0.06, validator=_is_probability)
    inject: float = attrs.field(default=0.03, validator=_is_probability)
    #: Whether packets toward the controller are attacked too (commands and ACL).
    to_controller: bool = True


@attrs.define
class MutationStats:
    """What an :class:`EvilController` did."""

    passed: int = 0
    dropped: int = 0
    duplicated: int = 0
    mutated: int = 0
    injected: int = 0
    line_corruptions: int = 0  # writes a noisy H4 line corrupted (each hits one packet)

    @property
    def touched(self) -> int:
        """Packets dropped, duplicated, mutated, injected, or corrupted on the line."""
        return self.dropped + self.duplicated + self.mutated + self.injected + self.line_corruptions

    def add(self, other: MutationStats) -> None:
        self.passed += other.passed
        self.dropped += other.dropped
        self.duplicated += other.duplicated
        self.mutated += other.mutated
        self.injected += other.injected
        self.line_corruptions += other.line_corruptions


class EvilController:
    """A :class:`~bluetrio.transports.tap.PacketTap` that attacks the packets it sees.

    ``handles`` and ``peers`` (optional) return the connection handles and the peer
    addresses of the stack's live links, so injected events and data can aim at real links
    as well as invented ones.
    """

    def __init__(
        self,
        seed: int,
        rates: MutationRates | None = None,
        *,
        handles: Callable[[], list[int]] | None = None,
        peers: Callable[[], list[Address]] | None = None,
    ) -> None:
        self.seed = seed
        self.rates = rates if rates is not None else MutationRates()
        self.random = random.Random(seed)
        self.handles = handles
        self.peers = peers
        self.enabled = True
        self.stats = MutationStats()
        self.log: list[str] = []  # the last faults done, for a finding's report
        self._log_limit = 64

    # -- the tap -------------------------------------------------------------------------
    def on_host_to_controller(self, packet: Packet) -> list[Packet]:
        if not self.rates.to_controller:
            self.stats.passed += 1
            return [packet]
        return self._attack(packet, "to controller")

    def on_controller_to_host(self, packet: Packet) -> list[Packet]:
        return self._attack(packet, "to host")

    def _attack(self, packet: Packet, direction: str) -> list[Packet]:
        if not self.enabled:
            self.stats.passed += 1
            return [packet]
        rates, draw = self.rates, self.random.random()
        if draw < rates.drop:
            self.stats.dropped += 1
            self._note(f"drop {direction} {_describe(packet)}")
            out: list[Packet] = []
        elif draw < rates.drop + rates.duplicate:
            self.stats.duplicated += 1
            self._note(f"duplicate {direction} {_describe(packet)}")
            out = [packet, packet]
        elif draw < rates.drop + rates.duplicate + rates.mutate:
            self.stats.mutated += 1
            mutated = self.mutate(packet)
            self._note(f"mutate {direction} {_describe(packet)} -> {mutated[1].hex()}")
            out = [mutated]
        else:
            self.stats.passed += 1
            out = [packet]
        if self.random.random() < rates.inject:
            self.stats.injected += 1
            injected = self.invent(toward_host=direction == "to host")
            self._note(f"inject {direction} {injected[0].name} {injected[1].hex()}")
            out.append(injected)
        return out

    def _note(self, line: str) -> None:
        self.log.append(line[:200])
        if len(self.log) > self._log_limit:
            del self.log[: self._log_limit // 2]

    # -- mutations -----------------------------------------------------------------------
    def mutate(self, packet: Packet) -> Packet:
        """One random change to ``packet`` (its header kept consistent unless the change is
        to the header itself)."""
        packet_type, payload = packet
        header = _header_size(packet_type)
        choice = self.random.randrange(7)
        data = bytearray(payload)
        if choice == 0 and len(data) > header:  # flip one bit of the parameters
            at = self.random.randrange(header, len(data))
            data[at] ^= 1 << self.random.randrange(8)
        elif choice == 1 and len(data) > header:  # an edge value somewhere in the parameters
            data[self.random.randrange(header, len(data))] = self.random.choice(BOUNDARY_BYTES)
        elif choice == 2:  # cut the parameters short
            keep = self.random.randrange(0, max(1, len(data) - header + 1))
            data = data[: header + keep]
        elif choice == 3:  # add bytes after them
            data += self.random.randbytes(self.random.randrange(1, 16))
        elif choice == 4 and len(data) >= header:  # a random header byte (code, handle, flags)
            data[self.random.randrange(header)] = self.random.randrange(256)
            return packet_type, bytes(data)
        elif choice == 5 and len(data) >= header:  # a length field that lies
            data[header - 1] = self.random.randrange(256)
            return packet_type, bytes(data)
        else:  # random parameters of a random length
            data = data[:header] + bytearray(self.random.randbytes(self.random.randrange(64)))
        return packet_type, _with_length(packet_type, bytes(data))

    def invent(self, *, toward_host: bool) -> Packet:
        """A packet nobody asked for: an event or ACL data toward the host, a command or ACL
        toward the controller, sometimes mutated."""
        if self.random.random() < 0.25:
            handle = self._handle()
            data = self.random.randbytes(self.random.randrange(32))
            flags = self.random.choice((0b00, 0b01, 0b10, 0b11)) << 12
            header = (handle | flags).to_bytes(2, "little") + len(data).to_bytes(2, "little")
            packet: Packet = (PacketType.ACL, header + data)
        elif toward_host:
            packet = (PacketType.EVENT, self._invented_event())
        else:
            command = self.random.choice(_COMMANDS).example(self.random.randrange(1, 200))
            packet = (PacketType.COMMAND, command.to_bytes())
        if self.random.random() < 0.5:
            packet = self.mutate(packet)
        return packet

    def _invented_event(self) -> bytes:
        roll = self.random.random()
        if roll < 0.2:  # a completion for some command, with any credits (0 included)
            opcode = self.random.choice(_COMMANDS).OPCODE
            returns = self.random.randbytes(self.random.randrange(1, 12))
            credits = self.random.choice((0, 1, 1, 1, 5, 255))
            return hci.CommandComplete(credits, opcode, returns).to_bytes()
        if roll < 0.3:  # credits for ACL that may never have been sent
            completed = (hci.CompletedPackets(self._handle(), self.random.randrange(8)),)
            return hci.NumberOfCompletedPackets(completed).to_bytes()
        seed = self.random.randrange(1, 200)
        event_class: type[hci.HciEvent]
        if roll < 0.6:
            event_class = self.random.choice(_INJECTED_LE_EVENTS)
        else:
            event_class = self.random.choice(_INJECTED_EVENTS)
        event = event_class.example(seed)
        # Aim it at a live link (or an invented one): its handle, or its peer's address.
        aimed: dict[str, object] = {}
        if hasattr(event, "connection_handle"):
            aimed["connection_handle"] = self._handle()
        if hasattr(event, "bd_addr") and self.peers is not None:
            peers = self.peers()
            if peers and self.random.random() < 0.7:
                aimed["bd_addr"] = self.random.choice(peers)
        with contextlib.suppress(InvalidArgumentError):
            event = attrs.evolve(event, **aimed)  # type: ignore[misc]
        return event.to_bytes()

    def _handle(self) -> int:
        live = self.handles() if self.handles is not None else []
        if live and self.random.random() < 0.7:
            return self.random.choice(live)
        return self.random.randrange(0x0F00)


class CorruptingStream(trio.abc.SendStream):
    """A byte stream (a UART toward the host) that now and then inserts a stray byte, drops
    one or flips a bit, as a noisy line does; ``rate`` is the chance per write."""

    def __init__(self, inner: trio.abc.SendStream, seed: int, rate: float = 0.05) -> None:
        self.inner = inner
        self.random = random.Random(seed)
        self.rate = _probability("rate", rate)
        self.enabled = True
        self.corrupted_writes = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.enabled and data and self.random.random() < self.rate:
            self.corrupted_writes += 1
            data = bytearray(data)
            at = self.random.randrange(len(data))
            roll = self.random.random()
            if roll < 0.5:
                data[at:at] = bytes((self.random.choice((0x02, 0x04, self.random.randrange(256))),))
            elif roll < 0.75:
                del data[at]
            else:
                data[at] ^= 1 << self.random.randrange(8)
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.inner.aclose()


def noisy_line(seed: int, rate: float = 0.05) -> CorruptingStream:
    """The controller-to-host half of an H4 line that corrupts ``rate`` of its writes (for
    :func:`~bluetrio.testing.pair.open_virtual_stack`, which connects it)."""
    to_host, _ = trio.testing.memory_stream_one_way_pair()
    return CorruptingStream(to_host, seed, rate)


def _header_size(packet_type: PacketType) -> int:
    if packet_type == PacketType.EVENT:
        return EVENT_HEADER
    if packet_type == PacketType.COMMAND:
        return COMMAND_HEADER
    if packet_type == PacketType.ACL:
        return ACL_HEADER
    return COMMAND_HEADER  # SCO: handle (2) and a one-octet length, like a command


def _with_length(packet_type: PacketType, data: bytes) -> bytes:
    """``data`` with its length field matching what follows the header."""
    header = _header_size(packet_type)
    if len(data) < header:
        return data
    if packet_type == PacketType.ACL:
        body = data[ACL_HEADER:]
        return data[:2] + len(body).to_bytes(2, "little") + body
    body = data[header:][:MAX_PARAMETERS]
    return data[: header - 1] + bytes((len(body),)) + body


def _describe(packet: Packet) -> str:
    packet_type, payload = packet
    return f"{packet_type.name} {payload[:12].hex()}"
