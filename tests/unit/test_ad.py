"""AD structures: round trips, bounds, malformed data rejected."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages.ad import (
    AdvertisingData,
    Appearance,
    Flags,
    LocalName,
    ManufacturerData,
    ServiceData,
    ServiceUuids,
    TxPowerLevel,
)

sizes = st.sampled_from([2, 4, 16])


@st.composite
def uuid_lists(draw: st.DrawFn) -> ServiceUuids:
    size = draw(sizes)
    uuids = draw(st.lists(st.integers(0, (1 << (8 * size)) - 1), max_size=3))
    return ServiceUuids(tuple(uuids), size, draw(st.booleans()))


@st.composite
def service_data(draw: st.DrawFn) -> ServiceData:
    size = draw(sizes)
    uuid = draw(st.integers(0, (1 << (8 * size)) - 1))
    return ServiceData(uuid, draw(st.binary(max_size=20)), size)


structures = st.one_of(
    st.builds(Flags, st.integers(0, 255)),
    st.builds(LocalName, st.text(max_size=20), st.booleans()),
    uuid_lists(),
    service_data(),
    st.builds(ManufacturerData, st.integers(0, 0xFFFF), st.binary(max_size=20)),
    st.builds(TxPowerLevel, st.integers(-127, 127)),
    st.builds(Appearance, st.integers(0, 0xFFFF)),
)


@given(st.lists(structures, max_size=6))
def test_encode_decode_round_trip(items: list[object]) -> None:
    data = AdvertisingData(items)  # type: ignore[arg-type]
    assert AdvertisingData.decode(data.encode()) == data


@given(st.binary(max_size=64))
def test_decoding_arbitrary_bytes_never_crashes(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        AdvertisingData.decode(raw)


@pytest.mark.parametrize(
    "raw",
    [
        bytes([5, 0x09, 0x41]),  # length past the end
        bytes([2, 0x03, 0x0D]),  # 16-bit UUID list of one octet
        bytes([1, 0xFF]),  # manufacturer data without company
        bytes([2, 0x0A, 0x80]),  # TX power -128
        bytes([1, 0x16]),  # service data without UUID
        bytes([0, 0x01]),  # junk after the terminator
    ],
)
def test_malformed_data_is_rejected(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        AdvertisingData.decode(raw)


def test_zero_padding_ends_the_data() -> None:
    data = AdvertisingData([LocalName("x")])
    assert AdvertisingData.decode(data.encode().ljust(240, b"\0")) == data


def test_legacy_limit_and_bad_values_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="at most 31"):
        AdvertisingData([LocalName("x" * 40)]).encode(31)
    with pytest.raises(InvalidArgumentError):
        ServiceUuids((0x10000,), 2)
    with pytest.raises(InvalidArgumentError):
        ServiceUuids((1,), 3)
    with pytest.raises(InvalidArgumentError):
        TxPowerLevel(200)
    with pytest.raises(InvalidArgumentError):
        LocalName("y" * 300)


def test_views() -> None:
    data = AdvertisingData([LocalName("short", False), LocalName("complete"),
                            ServiceUuids((0x180D,)), ServiceData(0xFEAA, b"x")])  # fmt: skip
    assert data.local_name == "complete"
    assert data.service_uuids == (0x180D, 0xFEAA)
