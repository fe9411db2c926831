"""The RFCOMM codec: TS 07.10 FCS vectors, frames and multiplexer commands both ways, and
every malformed input refused with DecodeError (RFCOMM 1.2 over 3GPP TS 07.10)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.rfcomm import (
    BIT_RATES,
    MAX_FRAME_SIZE,
    CommandType,
    FlowControl,
    Frame,
    FrameType,
    LineStatus,
    ModemStatus,
    ModemStatusCommand,
    MultiplexerCommand,
    ParameterNegotiation,
    Parity,
    PortParameter,
    PortSettings,
    RemoteLineStatus,
    RemotePortNegotiation,
    break_octet,
    decode_commands,
    decode_frame,
    fcs,
    fcs_valid,
    non_supported,
    server_channel_dlci,
)


def test_fcs_vectors_of_ts_07_10() -> None:
    # SABM with P on DLCI 0 (address, control and length checked) and a UIH header.
    assert fcs(bytes((0x03, 0x3F, 0x01))) == 0x1C
    assert fcs(bytes((0x03, 0xEF))) == 0x70
    assert fcs_valid(bytes((0x03, 0x3F, 0x01)), 0x1C)
    assert not fcs_valid(bytes((0x03, 0x3F, 0x01)), 0x1D)


def test_sabm_on_dlci_0_is_the_known_octets() -> None:
    assert Frame(FrameType.SABM, 0, True, True).encode() == bytes((0x03, 0x3F, 0x01, 0x1C))


def test_uih_fcs_leaves_the_length_out() -> None:
    short = Frame(FrameType.UIH, 0, True, information=b"a").encode()
    long = Frame(FrameType.UIH, 0, True, information=b"a" * 200).encode()
    assert short[-1] == long[-1] == 0x70


def test_two_octet_length() -> None:
    frame = Frame(FrameType.UIH, 2, False, information=bytes(range(128)) * 3)
    wire = frame.encode()
    assert wire[2] & 0x01 == 0
    assert (wire[2] >> 1) | (wire[3] << 7) == 384
    assert decode_frame(wire) == frame


def test_credit_octet_only_when_credit_based() -> None:
    frame = Frame(FrameType.UIH, 4, True, True, b"hi", 7)
    wire = frame.encode()
    assert decode_frame(wire) == frame
    with pytest.raises(DecodeError):  # the credit octet read as information: length wrong
        decode_frame(wire, credit_based=False)
    # On DLCI 0 a UIH with P/F set carries no credits.
    control = Frame(FrameType.UIH, 0, True, True, b"x")
    assert decode_frame(control.encode()) == control


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b"\x03\x3f\x01", "at least 4"),
        (b"\x02\x3f\x01\x1c", "EA"),
        (b"\x03\x3e\x01\x1c", "control field"),
        (b"\x03\x3f\x01\x1d", "FCS"),
        (bytes((0x03, 0xEF, 0x05, 0x70)), "length field"),
        (bytes((0x0B, 0xFF, 0x01, fcs(b"\x0b\xff"))), "credit octet"),
        (bytes((0x03, 0xEF, 0x00, 0x70)), "two-octet length"),
    ],
)
def test_malformed_frames(wire: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        decode_frame(wire)


def test_frame_arguments_checked() -> None:
    with pytest.raises(InvalidArgumentError):
        Frame(FrameType.SABM, 0, True, information=b"x")
    with pytest.raises(InvalidArgumentError):
        Frame(FrameType.UIH, 64, True)
    with pytest.raises(InvalidArgumentError):
        Frame(FrameType.UIH, 2, True, False, b"", 3)
    with pytest.raises(InvalidArgumentError):
        Frame(FrameType.UIH, 2, True, information=bytes(MAX_FRAME_SIZE + 1))


def test_server_channel_dlci() -> None:
    assert server_channel_dlci(1, False) == 2
    assert server_channel_dlci(1, True) == 3
    assert server_channel_dlci(30, True) == 61


def test_pn_round_trip_and_known_octets() -> None:
    pn = ParameterNegotiation.build(2, frame_size=1011, priority=7, credit_flow=0xF, credits=7)
    command = MultiplexerCommand(CommandType.PN, True, pn.encode_fields())
    assert command.encode() == bytes((0x83, 0x11, 0x02, 0xF0, 0x07, 0x00, 0xF3, 0x03, 0x00, 0x07))
    (back,) = decode_commands(command.encode())
    assert back == command and back.kind is CommandType.PN
    assert ParameterNegotiation.decode(back.value) == pn
    assert pn.convergence_layer == 0xF and pn.problems() is None
    with pytest.raises(DecodeError):
        ParameterNegotiation.decode(back.value[:7])


def test_pn_problems() -> None:
    assert ParameterNegotiation.build(
        1, frame_size=10, priority=0, credit_flow=0, credits=0
    ).problems()
    assert ParameterNegotiation.build(
        2, frame_size=0, priority=0, credit_flow=0, credits=0
    ).problems()
    assert ParameterNegotiation.build(
        2, frame_size=9, priority=64, credit_flow=0, credits=0
    ).problems()


def test_msc_rpn_rls_lengths() -> None:
    msc = ModemStatusCommand(4, 0x8D)
    assert msc.encode() == bytes((0x13, 0x8D))
    assert ModemStatusCommand.decode(msc.encode()) == msc
    assert ModemStatusCommand.decode(bytes((0x13, 0x8F, 0x03))).flow_stopped
    for bad in (b"\x13", b"\x13\x01\x02\x03"):
        with pytest.raises(DecodeError):
            ModemStatusCommand.decode(bad)
    assert RemotePortNegotiation.decode(b"\x13") == RemotePortNegotiation(4)
    settings = bytes(7)
    assert (
        RemotePortNegotiation.decode(RemotePortNegotiation(4, settings).encode()).settings
        == settings
    )
    with pytest.raises(DecodeError):
        RemotePortNegotiation.decode(b"\x13\x00")
    assert RemoteLineStatus.decode(RemoteLineStatus(4, 2).encode()) == RemoteLineStatus(4, 2)
    with pytest.raises(DecodeError):
        RemoteLineStatus.decode(b"\x13")


def test_several_commands_in_one_frame_and_truncation() -> None:
    one = MultiplexerCommand(CommandType.FCON, True)
    two = MultiplexerCommand(CommandType.TEST, False, b"ping")
    assert decode_commands(one.encode() + two.encode()) == [one, two]
    with pytest.raises(DecodeError):
        decode_commands(two.encode()[:-1])
    with pytest.raises(DecodeError):
        decode_commands(b"\xa3")
    with pytest.raises(DecodeError):
        decode_commands(b"\xa2\x01")


def test_nsc_names_the_unknown_command() -> None:
    unknown = MultiplexerCommand(0x3F, True)
    nsc = non_supported(unknown)
    assert nsc.kind is CommandType.NSC and not nsc.command
    assert nsc.value == bytes((0xFF,))


@given(
    frame_type=st.sampled_from(list(FrameType)),
    dlci=st.integers(0, 63),
    command=st.booleans(),
    poll_final=st.booleans(),
    information=st.binary(max_size=600),
    credits=st.integers(0, 255),
)
def test_frame_round_trip(
    frame_type: FrameType,
    dlci: int,
    command: bool,
    poll_final: bool,
    information: bytes,
    credits: int,
) -> None:
    uih = frame_type is FrameType.UIH
    frame = Frame(
        frame_type,
        dlci,
        command,
        poll_final,
        information if uih else b"",
        credits if uih and poll_final and dlci else None,
    )
    assert decode_frame(frame.encode()) == frame


@given(type_code=st.integers(0, 63), command=st.booleans(), value=st.binary(max_size=300))
def test_command_round_trip(type_code: int, command: bool, value: bytes) -> None:
    item = MultiplexerCommand(type_code, command, value)
    assert decode_commands(item.encode()) == [item]


# -- the serial port's values (TS 07.10 5.4.6.3.7, 5.4.6.3.9, 5.4.6.3.10) ---------------------
port_settings = st.builds(
    PortSettings,
    bit_rate=st.sampled_from(BIT_RATES),
    data_bits=st.integers(5, 8),
    stop_bits=st.sampled_from([1, 1.5]),
    parity=st.sampled_from(list(Parity)),
    flow_control=st.integers(0, 0x3F).map(FlowControl),
    xon=st.integers(0, 255),
    xoff=st.integers(0, 255),
)


@given(port_settings)
def test_port_settings_round_trip(settings: PortSettings) -> None:
    wire = settings.encode()
    assert len(wire) == 7 and wire[5:] == bytes((0x7F, 0x3F))
    assert PortSettings.decode(wire) == settings


@given(port_settings, st.binary(min_size=7, max_size=7))
def test_negotiation_takes_exactly_what_the_mask_selects(
    current: PortSettings, request: bytes
) -> None:
    result, taken = PortSettings.negotiate(current, request)
    asked = int.from_bytes(request[5:7], "little") & 0x3F7F
    assert int(taken) & ~asked == 0  # never more than asked
    if request[0] > 8:  # a reserved bit rate code is refused, the rate kept
        assert PortParameter.BIT_RATE not in taken and result.bit_rate == current.bit_rate
    if PortParameter.DATA_BITS not in taken:
        assert result.data_bits == current.data_bits
    if not asked & 0x3F00:
        assert result.flow_control == current.flow_control
    if not asked:
        assert result == current


def test_the_default_port_is_the_specs() -> None:
    assert PortSettings().encode() == bytes((0x03, 0x03, 0x00, 0x11, 0x13, 0x7F, 0x3F))
    # 7 data bits, 1.5 stop bits, even parity: D = 2, S, P and PT = 1.
    odd_one = PortSettings(bit_rate=2400, data_bits=7, stop_bits=1.5, parity=Parity.EVEN)
    assert odd_one.encode()[:2] == bytes((0x00, 0x02 | 0x04 | 0x08 | 0x10))
    with pytest.raises(InvalidArgumentError):
        PortSettings(bit_rate=300)


@given(st.integers(0, 255))
def test_modem_status_octets(octet: int) -> None:
    status = ModemStatus.from_octet(octet)
    assert status.to_octet() == (octet | 0x01) & ~0x30  # EA set, reserved bits dropped
    assert ModemStatusCommand(4, octet | 0x01, break_octet(3)).break_length == 3
    assert ModemStatusCommand(4, octet | 0x01, 0x31).break_length is None  # B1 clear


def test_line_status_octets() -> None:
    assert LineStatus.from_octet(0x0B) == LineStatus.OVERRUN | LineStatus.FRAMING
    assert LineStatus.from_octet(0x0A) == LineStatus.NONE  # L1 clear: no error
    assert LineStatus.PARITY.to_octet() == 0x05 and LineStatus.NONE.to_octet() == 0
