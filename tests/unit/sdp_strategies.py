"""Hypothesis strategies for SDP data elements and PDUs (Core 5.4 Vol 3 Part B 3, 4), shared
by the codec, server and client tests."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import strategies as st

import bluetrio.messages.sdp as sdp
from bluetrio.messages.uuids import uuid16


def _sized_integers(signed: bool) -> st.SearchStrategy[sdp.DataElement]:
    def build(size: int) -> st.SearchStrategy[sdp.DataElement]:
        bits = 8 * size
        if signed:
            values = st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
            return values.map(lambda value: sdp.SignedInt(value, size))
        return st.integers(0, (1 << bits) - 1).map(lambda value: sdp.UnsignedInt(value, size))

    return st.sampled_from(sorted(sdp.INTEGER_SIZES)).flatmap(build)


uuids = st.one_of(
    st.integers(0, 0xFFFF).map(lambda value: sdp.Uuid(uuid16(value), 2)),
    st.integers(0, 0xFFFFFFFF).map(lambda value: sdp.Uuid(uuid16(value), 4)),
    st.uuids().map(lambda value: sdp.Uuid(value, 16)),
    st.integers(0, 0xFFFF).map(lambda value: sdp.Uuid(uuid16(value), 16)),
)

leaves: st.SearchStrategy[sdp.DataElement] = st.one_of(
    st.just(sdp.Nil()),
    _sized_integers(False),
    _sized_integers(True),
    uuids,
    st.binary(max_size=300).map(sdp.Text),
    st.binary(max_size=40).map(sdp.Url),
    st.booleans().map(sdp.Boolean),
)

elements: st.SearchStrategy[sdp.DataElement] = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=6).map(lambda items: sdp.Sequence(tuple(items))),
        st.lists(children, max_size=4).map(lambda items: sdp.Alternative(tuple(items))),
    ),
    max_leaves=30,
)

attribute_ranges = st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)).map(
    lambda pair: sdp.AttributeRange(min(pair), max(pair))
)


def _field(codec: Any) -> st.SearchStrategy[Any]:
    if isinstance(codec, sdp.BigUInt):
        return st.integers(codec.minimum, codec.limit - 1)
    if isinstance(codec, sdp.PatternField):
        return st.lists(uuids, min_size=1, max_size=sdp.MAX_PATTERN_UUIDS).map(tuple)
    if isinstance(codec, sdp.AttributeIdsField):
        return st.lists(attribute_ranges, min_size=1, max_size=8).map(tuple)
    if isinstance(codec, sdp.ContinuationField):
        return st.binary(max_size=sdp.MAX_CONTINUATION)
    if isinstance(codec, sdp.CountedBytes):
        return st.binary(max_size=200)
    if isinstance(codec, sdp.HandleListField):
        return st.lists(st.integers(0, 0xFFFFFFFF), max_size=10).map(tuple)
    return st.binary(max_size=8)  # ErrorInfo


def pdu_of(cls: type[sdp.SdpPdu]) -> st.SearchStrategy[sdp.SdpPdu]:
    return st.builds(cls, **{name: _field(codec) for name, codec in cls.LAYOUT})


pdus = st.one_of(*(pdu_of(cls) for cls in sdp.PDU_CLASSES.values()))
requests = st.one_of(
    *(pdu_of(cls) for pdu_id, cls in sdp.PDU_CLASSES.items() if pdu_id in sdp.REQUEST_IDS)
)

__all__ = ["attribute_ranges", "elements", "pdu_of", "pdus", "requests", "uuid", "uuids"]
