"""The L2CAP wire codec: B-frames, every signaling command and every configuration option
(Core 5.4 Vol 3 Part A 3, 4, 5)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bluetrio.messages.l2cap as l2cap
from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.fields import FieldCodec, RemainingBytes, UInt
from bluetrio.messages.l2cap.options import OptionList
from bluetrio.messages.l2cap.signaling import CidList


def _field_strategy(codec: FieldCodec[Any]) -> st.SearchStrategy[Any]:
    if isinstance(codec, UInt):
        return st.integers(0, codec.limit - 1)
    if isinstance(codec, RemainingBytes):
        return st.binary(max_size=40)
    if isinstance(codec, CidList):
        return st.lists(st.integers(0, 0xFFFF), min_size=max(codec.minimum, 1), max_size=5).map(
            tuple
        )
    if isinstance(codec, OptionList):
        return st.lists(option_strategy(), max_size=4).map(tuple)
    raise AssertionError(f"no strategy for {codec!r}")


def _struct_strategy(cls: type[Any]) -> st.SearchStrategy[Any]:
    return st.builds(cls, **{name: _field_strategy(codec) for name, codec in cls.LAYOUT})


def option_strategy() -> st.SearchStrategy[Any]:
    known = st.one_of(*(_struct_strategy(cls) for cls in l2cap.OPTION_CLASSES.values()))
    unknown = st.builds(
        l2cap.UnknownOption,
        option_type=st.integers(0x08, 0x7F),
        value=st.binary(max_size=30),
        hint=st.booleans(),
    )
    return st.one_of(known, unknown)


commands = st.one_of(*(_struct_strategy(cls) for cls in l2cap.COMMAND_CLASSES.values()))


@given(command=commands, identifier=st.integers(0, 255))
def test_every_command_round_trips(command: l2cap.SignalingCommand, identifier: int) -> None:
    split = l2cap.split_commands(command.to_bytes(identifier))
    assert split.problem is None
    (raw,) = split.commands
    assert (raw.code, raw.identifier) == (command.CODE, identifier)
    assert raw.decode() == command


@given(options=st.lists(option_strategy(), max_size=6).map(tuple))
def test_option_lists_round_trip(options: tuple[l2cap.AnyOption, ...]) -> None:
    assert l2cap.decode_options(l2cap.encode_options(options)) == options


@given(many=st.lists(st.tuples(commands, st.integers(1, 255)), min_size=1, max_size=5))
def test_a_c_frame_carries_several_commands(
    many: list[tuple[l2cap.SignalingCommand, int]],
) -> None:
    payload = b"".join(command.to_bytes(identifier) for command, identifier in many)
    split = l2cap.split_commands(payload)
    assert split.problem is None
    assert [(raw.identifier, raw.decode()) for raw in split.commands] == [
        (identifier, command) for command, identifier in many
    ]


def test_every_command_of_the_spec_is_registered() -> None:
    assert set(l2cap.COMMAND_CLASSES) == {int(code) for code in l2cap.SignalingCode}


def test_known_vectors() -> None:
    # Connection Request for SDP (PSM 0x0001) from CID 0x0040, identifier 1 (4.2).
    assert l2cap.ConnectionRequest(psm=0x0001, source_cid=0x0040).to_bytes(1) == bytes.fromhex(
        "0201040001004000"
    )
    # A B-frame of 3 octets on CID 0x0041 (3.1).
    assert l2cap.encode_basic_frame(0x0041, b"abc") == bytes.fromhex("03004100") + b"abc"
    request = l2cap.ConfigurationRequest(
        destination_cid=0x0041, flags=0, options=(l2cap.MtuOption(0x02A0),)
    )
    assert request.to_bytes(2) == bytes.fromhex("04020800410000000102a002")


@pytest.mark.parametrize("option_class", list(l2cap.OPTION_CLASSES.values()))
@pytest.mark.parametrize("delta", [-1, 1, 200])
def test_an_option_whose_length_is_not_its_types_is_refused_before_reading(
    option_class: type[l2cap.ConfigOption], delta: int
) -> None:
    # BlueBorne (CVE-2017-1000251): an Extended Flow Specification longer than 16 octets.
    length = option_class.LENGTH + delta
    if length < 0:
        return
    data = bytes((option_class.OPTION_TYPE, length)) + bytes(length)
    with pytest.raises(DecodeError, match="must be"):
        l2cap.decode_options(data)


def test_an_option_running_past_the_list_is_refused() -> None:
    with pytest.raises(DecodeError, match="claims 2 octets"):
        l2cap.decode_options(bytes.fromhex("0102a0"))
    with pytest.raises(DecodeError, match="header truncated"):
        l2cap.decode_options(bytes.fromhex("01"))


def test_unknown_options_are_collected_and_hints_told_apart() -> None:
    data = bytes.fromhex("0102a0022001ffa10200ff")
    options = l2cap.decode_options(data)
    assert options[0] == l2cap.MtuOption(0x02A0)
    assert l2cap.unknown_non_hints(options) == (l2cap.UnknownOption(0x20, b"\xff"),)
    assert options[2] == l2cap.UnknownOption(0x21, b"\x00\xff", hint=True)


def test_an_unknown_options_response_may_list_types_only() -> None:
    data = bytes.fromhex("4000000003002021")
    response = l2cap.ConfigurationResponse.from_data(data)
    assert response.options == (l2cap.UnknownOption(0x20, b""), l2cap.UnknownOption(0x21, b""))
    with pytest.raises(DecodeError):
        l2cap.ConfigurationResponse.from_data(bytes.fromhex("4000000000002021"))


def test_bad_lengths_are_decode_errors() -> None:
    with pytest.raises(DecodeError, match="unexpected byte"):
        l2cap.RawCommand(0x02, 1, bytes(5)).decode()
    with pytest.raises(DecodeError):
        l2cap.RawCommand(0x02, 1, bytes(3)).decode()
    with pytest.raises(DecodeError, match="unknown signaling command"):
        l2cap.RawCommand(0x0C, 1, b"").decode()
    # A credit based request is 8 + 2n octets with n = 1..5 (4.25).
    with pytest.raises(DecodeError):
        l2cap.RawCommand(0x17, 1, bytes(8)).decode()
    with pytest.raises(DecodeError):
        l2cap.RawCommand(0x17, 1, bytes(8 + 12)).decode()
    with pytest.raises(DecodeError):
        l2cap.RawCommand(0x17, 1, bytes(8 + 3)).decode()
    assert l2cap.RawCommand(0x17, 1, bytes(8 + 10)).decode() == (
        l2cap.CreditBasedConnectionRequest(0, 0, 0, 0, (0,) * 5)
    )


def test_split_reports_a_truncated_command_with_its_identifier() -> None:
    good = l2cap.EchoRequest(b"hi").to_bytes(3)
    split = l2cap.split_commands(good + bytes.fromhex("0a07040002"))
    assert [raw.identifier for raw in split.commands] == [3]
    assert split.truncated == l2cap.RawCommand(0x0A, 7, b"\x02")
    assert split.problem is not None
    assert l2cap.split_commands(good + b"\x0a").truncated is None


def test_basic_frame_lengths_are_checked() -> None:
    assert l2cap.decode_basic_frame(bytes.fromhex("02000500") + b"ok") == (5, b"ok")
    for bad in (b"", bytes.fromhex("020005"), bytes.fromhex("03000500") + b"ok"):
        with pytest.raises(DecodeError):
            l2cap.decode_basic_frame(bad)
    with pytest.raises(InvalidArgumentError):
        l2cap.encode_basic_frame(0, b"")


def test_values_are_checked_when_built() -> None:
    with pytest.raises(InvalidArgumentError):
        l2cap.ConnectionRequest(psm=0x10000, source_cid=0x40)
    with pytest.raises(InvalidArgumentError):
        l2cap.CreditBasedReconfigureRequest(mtu=64, mps=64, destination_cids=())
    with pytest.raises(InvalidArgumentError):
        l2cap.UnknownOption(0x80, b"")


def test_psm_rules() -> None:
    assert l2cap.is_valid_psm(0x0001) and l2cap.is_valid_psm(0x1001)
    assert not l2cap.is_valid_psm(0x0002) and not l2cap.is_valid_psm(0x0101)
    assert l2cap.is_valid_le_spsm(0x0080) and not l2cap.is_valid_le_spsm(0x0100)
