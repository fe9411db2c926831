"""Address text parsing: six pairs of ASCII hex digits, nothing else (Vol 2 Part B 1.2)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bluetrio.address import Address, AddressType
from bluetrio.errors import InvalidArgumentError

HEX_DIGITS = set(string.hexdigits)


@given(st.binary(min_size=6, max_size=6), st.booleans())
def test_formatted_address_parses_back(value: bytes, lower: bool) -> None:
    text = str(Address(value))
    assert Address.parse(text.lower() if lower else text) == Address(value)


@given(
    st.lists(st.text(min_size=2, max_size=2), min_size=6, max_size=6),
)
def test_a_part_that_is_not_two_hex_digits_is_refused(parts: list[str]) -> None:
    text = ":".join(parts)
    if all(set(p) <= HEX_DIGITS for p in parts):
        assert Address.parse(text).value == bytes(int(p, 16) for p in reversed(parts))
    else:
        with pytest.raises(InvalidArgumentError):
            Address.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "+1:00:00:00:00:00",
        "00:-0:00:00:00:00",
        "00:00: 1:00:00:00",
        "00:00:00:1 :00:00",
        "00:00:00:00:_1:00",
        "00:00:00:00:00:\u0661\u0662",  # Arabic-Indic digits, which int() accepts
    ],
)
def test_signs_blanks_and_non_ascii_digits_are_not_hex(text: str) -> None:
    with pytest.raises(InvalidArgumentError):
        Address.parse(text)


def test_type_suffix() -> None:
    assert Address.parse("00:11:22:33:44:55/R").type is AddressType.RANDOM
