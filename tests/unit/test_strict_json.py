"""Strict JSON: what json.loads lets through and our files never hold is a ValueError."""

from __future__ import annotations

import json

import pytest

from bluetrio import strict_json


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": NaN}', "NaN is not a JSON number"),
        ("[-Infinity]", "-Infinity is not a JSON number"),
        ("1" * 21, "an integer of 21 digits"),
        ('{"a": 1, "a": 2}', "repeated key(s) 'a' in one object"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        strict_json.loads(text)
    assert str(refused.value) == problem


def test_plain_json_reads_as_json_loads_reads_it() -> None:
    text = '{"id": 18446744073709551615, "t": -1.5e3, "x": [null, true, "é"]}'
    assert strict_json.loads(text) == json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        strict_json.loads("{")
