"""The RFCOMM wire format (RFCOMM 1.2, over 3GPP TS 07.10): frames and multiplexer commands.

A frame (TS 07.10 5.2.1, basic option) is address, control, length, an optional credit octet
(RFCOMM 1.2 6.5.2: a UIH frame with the P/F bit set on a credit-based DLC), information and
the FCS. The FCS (TS 07.10 5.2.1.6) covers address and control, and the length too in every
frame but UIH. Multiplexer commands (TS 07.10 5.4.6) travel in UIH frames on DLCI 0 as type,
length and value.

Everything decoded from the wire is checked before it becomes a value here: a bad FCS, a
length that disagrees with the frame, a control field no frame type has, a command whose
value has the wrong length all raise :class:`~bluetrio.errors.DecodeError`.
"""

from __future__ import annotations

import enum
from typing import Annotated, ClassVar, Self, TypeVar

import attrs

from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.fields import UInt, WireStruct, decode_exactly, record

_T = TypeVar("_T")

PSM = 0x0003  # RFCOMM's L2CAP PSM (Assigned Numbers)
MAX_DLCI = 61  # server channels 1-30 in either direction (RFCOMM 1.2 5.4)
MIN_SERVER_CHANNEL = 1
MAX_SERVER_CHANNEL = 30
DEFAULT_FRAME_SIZE = 127  # N1 when no PN says otherwise (TS 07.10 5.7.2)
MAX_FRAME_SIZE = 32767  # N1 fits a two-octet length field (TS 07.10 5.2.1.5)
MAX_CREDITS = 255  # a credit octet (RFCOMM 1.2 6.5.2)
MAX_INITIAL_CREDITS = 7  # PN's K field is three bits (RFCOMM 1.2 5.5.3)
# Address, control, two length octets, the credit octet and the FCS: what one UIH frame adds
# to its information (so N1 is at most the L2CAP MTU less this).
FRAME_OVERHEAD = 6


def server_channel_dlci(channel: int, server_is_initiator: bool) -> int:
    """The DLCI of server channel ``channel``: the direction bit is set when the server is on
    the device that opened the multiplexer (RFCOMM 1.2 5.4)."""
    return (channel << 1) | int(server_is_initiator)


def dlci_channel(dlci: int) -> int:
    return dlci >> 1


# -- the FCS (TS 07.10 5.2.1.6): CRC-8, polynomial x^8 + x^2 + x + 1, sent reflected ----------


def _crc_table() -> tuple[int, ...]:
    table = []
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = (crc >> 1) ^ 0xE0 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def fcs(data: bytes) -> int:
    """The frame check sequence over ``data`` (TS 07.10 Annex B: ones' complement of the
    reflected CRC started at 0xFF)."""
    crc = 0xFF
    for octet in data:
        crc = _CRC_TABLE[crc ^ octet]
    return 0xFF - crc


def fcs_valid(data: bytes, received: int) -> bool:
    """Whether ``received`` is the FCS of ``data`` (the receiver's check in Annex B)."""
    crc = 0xFF
    for octet in (*data, received):
        crc = _CRC_TABLE[crc ^ octet]
    return crc == 0xCF


# -- frames -----------------------------------------------------------------------------------


class FrameType(enum.IntEnum):
    """Control field values with the P/F bit clear (TS 07.10 5.2.1.3)."""

    SABM = 0x2F
    UA = 0x63
    DM = 0x0F
    DISC = 0x43
    UIH = 0xEF


POLL_FINAL = 0x10
_FRAME_TYPES = {member.value: member for member in FrameType}


@attrs.frozen
class Frame:
    """One RFCOMM frame. ``command`` is the C/R bit of the address as sent (its meaning depends
    on which side opened the multiplexer, TS 07.10 5.2.1.2); ``credits`` is the credit octet of
    a UIH frame with P/F set on a credit-based DLC (None when there is none)."""

    type: FrameType
    dlci: int
    command: bool
    poll_final: bool = False
    information: bytes = b""
    credits: int | None = None

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.dlci <= 63:
            raise InvalidArgumentError(f"DLCI {self.dlci} does not fit in six bits")
        if self.type is not FrameType.UIH and (self.information or self.credits is not None):
            raise InvalidArgumentError(f"a {self.type.name} frame carries no information")
        if self.credits is not None:
            if not self.poll_final:
                raise InvalidArgumentError("credits travel in a UIH frame with P/F set")
            if not 0 <= self.credits <= MAX_CREDITS:
                raise InvalidArgumentError(f"{self.credits} credits do not fit in an octet")
        if len(self.information) > MAX_FRAME_SIZE:
            raise InvalidArgumentError(
                f"{len(self.information)} octets exceed the longest frame ({MAX_FRAME_SIZE})"
            )

    def encode(self) -> bytes:
        return encode_frame(
            self.type, self.dlci, self.command, self.poll_final, self.information, self.credits
        )


def encode_frame(
    frame_type: FrameType,
    dlci: int,
    command: bool,
    poll_final: bool = False,
    information: bytes | memoryview = b"",
    credits: int | None = None,
) -> bytes:
    """The wire octets of a frame (the data path calls this without building a :class:`Frame`;
    the caller keeps within the limits :class:`Frame` checks)."""
    address = (dlci << 2) | (0x02 if command else 0) | 0x01
    control = frame_type | (POLL_FINAL if poll_final else 0)
    size = len(information)
    table = _CRC_TABLE
    # The FCS by table over address and control, and the length too but in UIH (TS 07.10
    # 5.2.1.6): two or four lookups, whatever the information.
    crc = table[table[0xFF ^ address] ^ control]
    if size < 128:
        length = (size << 1) | 1
        header = [address, control, length]
        if frame_type is not FrameType.UIH:
            crc = table[crc ^ length]
    else:
        low, high = (size << 1) & 0xFE, size >> 7
        header = [address, control, low, high]
        if frame_type is not FrameType.UIH:
            crc = table[table[crc ^ low] ^ high]
    if credits is not None:
        header.append(credits)
    if not size:
        header.append(0xFF - crc)
        return bytes(header)
    return b"".join((bytes(header), information, bytes((0xFF - crc,))))


def decode_frame(data: bytes, *, credit_based: bool = True) -> Frame:
    """Decode one frame (a whole L2CAP SDU). ``credit_based``: whether a UIH frame with P/F
    set on a DLC other than 0 carries a credit octet (RFCOMM 1.2 6.5.2); the caller knows this
    from the DLC's PN negotiation."""
    frame_type, dlci, command, poll_final, information, credits = decode_frame_fields(
        data, credit_based=credit_based
    )
    return Frame(frame_type, dlci, command, poll_final, information, credits)


def decode_frame_fields(
    data: bytes, *, credit_based: bool = True
) -> tuple[FrameType, int, bool, bool, bytes, int | None]:
    """What :func:`decode_frame` checks and decodes, as (type, DLCI, C/R, P/F, information,
    credits): the data path takes them without building a :class:`Frame`."""
    end = len(data) - 1
    if end < 3:
        raise DecodeError(f"an RFCOMM frame has at least 4 octets, got {len(data)}")
    address, control, first_length = data[0], data[1], data[2]
    if not address & 0x01:
        raise DecodeError("the address field has one octet (EA set) in RFCOMM")
    frame_type = _FRAME_TYPES.get(control & ~POLL_FINAL)
    if frame_type is None:
        raise DecodeError(f"control field 0x{control:02X} is no frame type RFCOMM uses")
    dlci = address >> 2
    poll_final = bool(control & POLL_FINAL)
    table = _CRC_TABLE
    crc = table[table[0xFF ^ address] ^ control]
    if first_length & 0x01:
        size, offset = first_length >> 1, 3
        if frame_type is not FrameType.UIH:
            crc = table[crc ^ first_length]
    else:
        if end < 4:
            raise DecodeError("a two-octet length field needs a frame of at least 5 octets")
        size, offset = (first_length >> 1) | (data[3] << 7), 4
        if frame_type is not FrameType.UIH:
            crc = table[table[crc ^ first_length] ^ data[3]]
    # The receiver's check (TS 07.10 Annex B): the CRC run on over the FCS received.
    if table[crc ^ data[end]] != 0xCF:
        raise DecodeError("bad FCS")
    credits: int | None = None
    if frame_type is FrameType.UIH and poll_final and dlci != 0 and credit_based:
        if offset >= end:
            raise DecodeError("a UIH frame with P/F set lacks its credit octet")
        credits = data[offset]
        offset += 1
    if offset + size != end:
        raise DecodeError(
            f"the length field says {size} octets of information, the frame holds {end - offset}"
        )
    if size and frame_type is not FrameType.UIH:
        raise DecodeError(f"a {frame_type.name} frame carries no information")
    return frame_type, dlci, bool(address & 0x02), poll_final, data[offset:end], credits


# -- multiplexer commands (TS 07.10 5.4.6.3, RFCOMM 1.2 5.5) ---------------------------------


class CommandType(enum.IntEnum):
    """The six type bits of a multiplexer command (TS 07.10 5.4.6.3)."""

    PN = 0x20  # DLC parameter negotiation
    PSC = 0x10  # power saving control (not used by RFCOMM)
    CLD = 0x30  # multiplexer close down
    TEST = 0x08
    FCON = 0x28  # flow control on (aggregate)
    FCOFF = 0x18
    MSC = 0x38  # modem status
    NSC = 0x04  # non-supported command response
    RPN = 0x24  # remote port negotiation
    RLS = 0x14  # remote line status
    SNC = 0x34  # service negotiation (not used by RFCOMM)


_COMMAND_TYPES = {member.value: member for member in CommandType}


@attrs.frozen
class MultiplexerCommand:
    """One command or response on DLCI 0. ``type_code`` is the six-bit type as received (it may
    be one we do not know, which is answered with NSC); ``command`` is its C/R bit."""

    type_code: int
    command: bool
    value: bytes = b""

    @property
    def kind(self) -> CommandType | None:
        return _COMMAND_TYPES.get(self.type_code)

    def encode(self) -> bytes:
        size = len(self.value)
        length = bytes(((size << 1) | 1,)) if size < 128 else bytes(((size << 1) & 0xFE, size >> 7))
        head = (self.type_code << 2) | (0x02 if self.command else 0) | 0x01
        return bytes((head,)) + length + self.value


def decode_commands(data: bytes) -> list[MultiplexerCommand]:
    """The commands in a UIH frame's information on DLCI 0 (several may share one frame,
    TS 07.10 5.4.6.1)."""
    commands = []
    offset = 0
    while offset < len(data):
        head = data[offset]
        if not head & 0x01:
            raise DecodeError("a multiplexer command type of more than one octet")
        size = 0
        shift = 0
        offset += 1
        while True:  # the length field is extended by its EA bits
            if offset >= len(data):
                raise DecodeError("a multiplexer command ends inside its length field")
            octet = data[offset]
            offset += 1
            size |= (octet >> 1) << shift
            shift += 7
            if octet & 0x01:
                break
            if shift > 14:
                raise DecodeError("a multiplexer command length of more than two octets")
        if offset + size > len(data):
            raise DecodeError(
                f"a multiplexer command says {size} octets, {len(data) - offset} remain"
            )
        commands.append(
            MultiplexerCommand(head >> 2, bool(head & 0x02), data[offset : offset + size])
        )
        offset += size
    return commands


U8 = Annotated[int, UInt(1)]
U16 = Annotated[int, UInt(2)]


class CommandValue(WireStruct):
    """The value of a multiplexer command with a fixed layout."""

    __slots__ = ()
    NAME: ClassVar[str] = ""

    @classmethod
    def decode(cls, value: bytes) -> Self:
        return decode_exactly(cls, cls.NAME, value)


def _dlci_octet(dlci: int) -> int:
    # A DLCI inside a command value sits where an address field would (EA set, C/R 1:
    # TS 07.10 5.4.6.3.7); PN's first octet is the bare DLCI (5.4.6.3.1).
    return (dlci << 2) | 0x03


CREDIT_REQUEST = 0xF  # PN CL bits asking for credit-based flow control (RFCOMM 1.2 5.5.3)
CREDIT_ACCEPT = 0xE  # PN CL bits of a response accepting it


@record
@attrs.frozen
class ParameterNegotiation(CommandValue):
    """PN (TS 07.10 5.4.6.3.1, RFCOMM 1.2 5.5.3): the DLC's frame size N1, priority and, in the
    convergence layer bits, credit-based flow control with K initial credits."""

    NAME: ClassVar[str] = "PN"
    dlci: U8
    frame_type_and_cl: U8  # I bits (0: UIH frames) and CL bits (credit flow control)
    priority: U8
    ack_timer: U8  # T1 in 10 ms units, unused by RFCOMM
    frame_size: U16  # N1
    retransmissions: U8  # N2, unused by RFCOMM
    window: U8  # K: initial credits with credit-based flow control

    @classmethod
    def build(
        cls, dlci: int, *, frame_size: int, priority: int, credit_flow: int, credits: int
    ) -> ParameterNegotiation:
        return cls(dlci, credit_flow << 4, priority, 0, frame_size, 0, credits)

    @property
    def convergence_layer(self) -> int:
        return self.frame_type_and_cl >> 4

    def problems(self) -> str | None:
        """Why this PN is not one RFCOMM accepts (checked on receipt)."""
        if not 1 < self.dlci <= MAX_DLCI:
            return f"PN names DLCI {self.dlci}, not a server channel's"
        if self.frame_size == 0 or self.frame_size > MAX_FRAME_SIZE:
            return f"PN frame size {self.frame_size} is not 1..{MAX_FRAME_SIZE}"
        if self.priority > 63:
            return f"PN priority {self.priority} is not 0..63"
        return None


MODEM_FLOW = 0x02  # FC: the sender cannot take frames (TS 07.10 5.4.6.3.7)
MODEM_RTC = 0x04  # ready to communicate
MODEM_RTR = 0x08  # ready to receive
MODEM_IC = 0x40  # incoming call
MODEM_DV = 0x80  # data valid
DEFAULT_MODEM_SIGNALS = MODEM_RTC | MODEM_RTR | MODEM_DV | 0x01
BREAK_SIGNAL = 0x02  # B1 of MSC's break octet: a break is signalled
BREAK_UNIT = 0.2  # the break octet's length L1-L4 counts 200 ms (TS 07.10 5.4.6.3.7)
MAX_BREAK_LENGTH = 15


@attrs.frozen
class ModemStatus:
    """The V.24 signals of one end of a DLC, as MSC's control signal octet carries them
    (TS 07.10 5.4.6.3.7): ready to communicate (RTC, DSR/DTR), ready to receive (RTR,
    RTS/CTS), incoming call (IC, RI), data valid (DV, DCD), and ``flow`` (FC: this end cannot
    take frames; meaningless with credit-based flow control, RFCOMM 1.2 6.5.3)."""

    rtc: bool = True
    rtr: bool = True
    ic: bool = False
    dv: bool = True
    flow: bool = False

    def to_octet(self) -> int:
        return (
            0x01
            | (MODEM_FLOW if self.flow else 0)
            | (MODEM_RTC if self.rtc else 0)
            | (MODEM_RTR if self.rtr else 0)
            | (MODEM_IC if self.ic else 0)
            | (MODEM_DV if self.dv else 0)
        )

    @classmethod
    def from_octet(cls, octet: int) -> ModemStatus:
        """The signals of a control signal octet (its reserved bits 5 and 6 are ignored)."""
        return cls(
            rtc=bool(octet & MODEM_RTC),
            rtr=bool(octet & MODEM_RTR),
            ic=bool(octet & MODEM_IC),
            dv=bool(octet & MODEM_DV),
            flow=bool(octet & MODEM_FLOW),
        )


def break_octet(length: int) -> int:
    """MSC's break signal octet for a break of ``length`` units of 200 ms (0-15)."""
    return (length << 4) | BREAK_SIGNAL | 0x01


@attrs.frozen
class ModemStatusCommand:
    """MSC's value (TS 07.10 5.4.6.3.7): a DLC's V.24 signals and an optional break octet."""

    dlci: int
    signals: int = DEFAULT_MODEM_SIGNALS
    break_octet: int | None = None

    @property
    def flow_stopped(self) -> bool:
        return bool(self.signals & MODEM_FLOW)

    @property
    def status(self) -> ModemStatus:
        return ModemStatus.from_octet(self.signals)

    @property
    def break_length(self) -> int | None:
        """The signalled break's length in units of 200 ms (None: no break signalled)."""
        if self.break_octet is None or not self.break_octet & BREAK_SIGNAL:
            return None
        return self.break_octet >> 4

    def encode(self) -> bytes:
        extra = b"" if self.break_octet is None else bytes((self.break_octet,))
        return bytes((_dlci_octet(self.dlci), self.signals | 0x01)) + extra

    @classmethod
    def decode(cls, value: bytes) -> ModemStatusCommand:
        if len(value) not in (2, 3):
            raise DecodeError(f"MSC: {len(value)} octets, not 2 or 3")
        return cls(value[0] >> 2, value[1], value[2] if len(value) == 3 else None)


@attrs.frozen
class RemotePortNegotiation:
    """RPN (TS 07.10 5.4.6.3.9): with only the DLCI a request for the port's settings;
    otherwise the 7 octets of settings (baud rate, data bits/stop bits/parity, flow control,
    XON, XOFF, parameter mask)."""

    dlci: int
    settings: bytes | None = None

    def __attrs_post_init__(self) -> None:
        if self.settings is not None and len(self.settings) != 7:
            raise InvalidArgumentError("RPN settings are 7 octets")

    def encode(self) -> bytes:
        return bytes((_dlci_octet(self.dlci),)) + (self.settings or b"")

    @classmethod
    def decode(cls, value: bytes) -> RemotePortNegotiation:
        if len(value) not in (1, 8):
            raise DecodeError(f"RPN: {len(value)} octets, not 1 or 8")
        return cls(value[0] >> 2, value[1:] if len(value) == 8 else None)


class PortParameter(enum.IntFlag):
    """RPN's parameter mask (TS 07.10 5.4.6.3.9, its two octets little-endian): in a command
    the parameters to set, in the response those accepted."""

    NONE = 0
    BIT_RATE = 0x0001
    DATA_BITS = 0x0002
    STOP_BITS = 0x0004
    PARITY = 0x0008
    PARITY_TYPE = 0x0010
    XON = 0x0020
    XOFF = 0x0040
    XON_XOFF_INPUT = 0x0100
    XON_XOFF_OUTPUT = 0x0200
    RTR_INPUT = 0x0400
    RTR_OUTPUT = 0x0800
    RTC_INPUT = 0x1000
    RTC_OUTPUT = 0x2000


EVERY_PORT_PARAMETER = PortParameter(0x3F7F)
FLOW_PARAMETERS = PortParameter(0x3F00)


class FlowControl(enum.IntFlag):
    """RPN's flow control octet (TS 07.10 5.4.6.3.9): XON/XOFF, RTR and RTC, each way."""

    NONE = 0
    XON_XOFF_INPUT = 0x01
    XON_XOFF_OUTPUT = 0x02
    RTR_INPUT = 0x04
    RTR_OUTPUT = 0x08
    RTC_INPUT = 0x10
    RTC_OUTPUT = 0x20


class Parity(enum.Enum):
    """The parity bit P and parity type PT of RPN's data format octet."""

    NONE = "none"
    ODD = "odd"
    EVEN = "even"
    MARK = "mark"
    SPACE = "space"


_PARITY_TYPES = (Parity.ODD, Parity.EVEN, Parity.MARK, Parity.SPACE)  # PT 0-3
BIT_RATES = (2400, 4800, 7200, 9600, 19200, 38400, 57600, 115200, 230400)  # codes 0-8


@attrs.frozen
class PortSettings:
    """The settings of an emulated serial port (RPN, TS 07.10 5.4.6.3.9). The defaults are
    the spec's: 9600 bit/s, 8 data bits, 1 stop bit, no parity, no flow control, XON DC1,
    XOFF DC3."""

    bit_rate: int = 9600
    data_bits: int = 8
    stop_bits: float = 1
    parity: Parity = Parity.NONE
    flow_control: FlowControl = FlowControl.NONE
    xon: int = 0x11
    xoff: int = 0x13

    def __attrs_post_init__(self) -> None:
        if self.bit_rate not in BIT_RATES:
            raise InvalidArgumentError(f"bit rate {self.bit_rate} is none of {BIT_RATES}")
        if not 5 <= self.data_bits <= 8:
            raise InvalidArgumentError(f"{self.data_bits} data bits, not 5..8")
        if self.stop_bits not in (1, 1.5):
            raise InvalidArgumentError(f"{self.stop_bits} stop bits, not 1 or 1.5")
        if not 0 <= self.xon <= 0xFF or not 0 <= self.xoff <= 0xFF:
            raise InvalidArgumentError("XON and XOFF are characters of one octet")

    def encode(self, mask: PortParameter = EVERY_PORT_PARAMETER) -> bytes:
        """The 7 octets after RPN's DLCI: bit rate, data format, flow control, XON, XOFF,
        and ``mask``."""
        parity = 0
        if self.parity is not Parity.NONE:
            parity = 0x08 | (_PARITY_TYPES.index(self.parity) << 4)
        data_format = (self.data_bits - 5) | (0x04 if self.stop_bits == 1.5 else 0) | parity
        return bytes(
            (
                BIT_RATES.index(self.bit_rate),
                data_format,
                int(self.flow_control),
                self.xon,
                self.xoff,
                int(mask) & 0xFF,
                int(mask) >> 8,
            )
        )

    @classmethod
    def negotiate(
        cls, current: PortSettings, settings: bytes
    ) -> tuple[PortSettings, PortParameter]:
        """Take from ``settings`` (RPN's 7 octets) each parameter its mask selects and whose
        value is defined (a reserved bit rate code is not), over ``current``; return the
        result and the mask of the parameters taken."""
        rate_code, data_format, flow, xon, xoff = settings[:5]
        asked = PortParameter(int.from_bytes(settings[5:7], "little") & EVERY_PORT_PARAMETER)
        if rate_code >= len(BIT_RATES):  # reserved: not taken
            asked &= ~PortParameter.BIT_RATE

        def chosen(parameter: PortParameter, offered: _T, kept: _T) -> _T:
            return offered if parameter in asked else kept

        parity_on = chosen(
            PortParameter.PARITY, bool(data_format & 0x08), current.parity is not Parity.NONE
        )
        kept_type = Parity.ODD if current.parity is Parity.NONE else current.parity
        parity_type = chosen(
            PortParameter.PARITY_TYPE, _PARITY_TYPES[(data_format >> 4) & 0x03], kept_type
        )
        flow_asked = int(asked & FLOW_PARAMETERS) >> 8
        result = cls(
            bit_rate=chosen(PortParameter.BIT_RATE, BIT_RATES[min(rate_code, 8)], current.bit_rate),
            data_bits=chosen(PortParameter.DATA_BITS, (data_format & 0x03) + 5, current.data_bits),
            stop_bits=chosen(
                PortParameter.STOP_BITS, 1.5 if data_format & 0x04 else 1, current.stop_bits
            ),
            parity=parity_type if parity_on else Parity.NONE,
            flow_control=FlowControl(
                (int(current.flow_control) & ~flow_asked) | (flow & flow_asked)
            ),
            xon=chosen(PortParameter.XON, xon, current.xon),
            xoff=chosen(PortParameter.XOFF, xoff, current.xoff),
        )
        return result, asked

    @classmethod
    def decode(cls, settings: bytes) -> PortSettings:
        """The settings RPN's 7 octets give (a reserved bit rate code reads as 9600)."""
        return cls.negotiate(cls(), settings[:5] + bytes((0x7F, 0x3F)))[0]


# The defaults of TS 07.10 5.4.6.3.9 with every parameter in the mask.
DEFAULT_PORT_SETTINGS = PortSettings().encode()


class LineStatus(enum.IntFlag):
    """The errors RLS reports (TS 07.10 5.4.6.3.10: L1 set, then L2-L4)."""

    NONE = 0
    OVERRUN = 0x02
    PARITY = 0x04
    FRAMING = 0x08

    @classmethod
    def from_octet(cls, octet: int) -> LineStatus:
        return cls(octet & 0x0E) if octet & 0x01 else cls.NONE

    def to_octet(self) -> int:
        return (int(self) | 0x01) if self else 0


@attrs.frozen
class RemoteLineStatus:
    """RLS (TS 07.10 5.4.6.3.10): a line status (overrun, parity, framing error) of a DLC."""

    dlci: int
    status: int

    def encode(self) -> bytes:
        return bytes((_dlci_octet(self.dlci), self.status))

    @classmethod
    def decode(cls, value: bytes) -> RemoteLineStatus:
        if len(value) != 2:
            raise DecodeError(f"RLS: {len(value)} octets, not 2")
        return cls(value[0] >> 2, value[1])


def check_empty(kind: CommandType, value: bytes) -> None:
    """FCon, FCoff and CLD carry nothing (TS 07.10 5.4.6.3.4-6)."""
    if value:
        raise DecodeError(f"{kind.name}: {len(value)} octets, not 0")


def non_supported(command: MultiplexerCommand) -> MultiplexerCommand:
    """The NSC response naming ``command`` (TS 07.10 5.4.6.3.8)."""
    octet = (command.type_code << 2) | (0x02 if command.command else 0) | 0x01
    return MultiplexerCommand(CommandType.NSC, False, bytes((octet,)))


__all__ = [
    "CREDIT_ACCEPT",
    "CREDIT_REQUEST",
    "DEFAULT_FRAME_SIZE",
    "DEFAULT_MODEM_SIGNALS",
    "DEFAULT_PORT_SETTINGS",
    "FRAME_OVERHEAD",
    "MAX_FRAME_SIZE",
    "PSM",
    "CommandType",
    "FlowControl",
    "Frame",
    "FrameType",
    "LineStatus",
    "ModemStatus",
    "ModemStatusCommand",
    "MultiplexerCommand",
    "ParameterNegotiation",
    "Parity",
    "PortParameter",
    "PortSettings",
    "RemoteLineStatus",
    "RemotePortNegotiation",
    "decode_commands",
    "decode_frame",
    "encode_frame",
    "fcs",
    "fcs_valid",
    "non_supported",
    "server_channel_dlci",
]
