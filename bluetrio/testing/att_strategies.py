"""Hypothesis strategies for ATT PDUs (Core 5.4 Vol 3 Part F 3.4): every PDU class, each field
drawn within what its codec accepts, so every drawn PDU encodes; shared by the codec tests and
the fuzz tests of the GATT server and client. Needs hypothesis (the ``test`` extra)."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import strategies as st

from bluetrio.messages import att
from bluetrio.messages.fields import FieldCodec, FixedBytes, UInt
from bluetrio.messages.uuids import att_uuid_bytes, uuid16

handles = st.integers(0, 0xFFFF)
uuids16 = st.integers(0, 0xFFFF).map(uuid16)
uuids128 = st.one_of(
    st.integers(0x10000, 0xFFFFFFFF).map(uuid16),
    st.uuids().filter(lambda u: len(att_uuid_bytes(u)) == 16),
)
any_uuids: st.SearchStrategy[uuid.UUID] = st.one_of(uuids16, uuids128)


def _values(max_length: int) -> st.SearchStrategy[bytes]:
    return st.binary(max_size=min(max_length, 64)) | st.binary(
        min_size=max_length - 2, max_size=max_length
    )


def _field(codec: FieldCodec[Any]) -> st.SearchStrategy[Any]:
    if isinstance(codec, UInt):
        return st.integers(0, codec.limit - 1)
    if isinstance(codec, FixedBytes):
        return st.binary(min_size=codec.size, max_size=codec.size)
    if isinstance(codec, att.ValueBytes):
        return _values(codec.max_length)
    if isinstance(codec, att.AttUuid):
        return any_uuids
    if isinstance(codec, att.BooleanFlag):
        return st.booleans()
    if isinstance(codec, att.Handles):
        return st.lists(handles, min_size=2, max_size=codec.MAXIMUM).map(tuple)
    if isinstance(codec, att.UuidEntries):
        return st.one_of(
            st.lists(st.tuples(handles, uuids16), min_size=1, max_size=128),
            st.lists(st.tuples(handles, uuids128), min_size=1, max_size=28),
        ).map(tuple)
    if isinstance(codec, att.HandleRanges):
        return st.lists(st.tuples(handles, handles), min_size=1, max_size=codec.MAXIMUM).map(tuple)
    if isinstance(codec, att.LengthPrefixedList):
        return _length_prefixed(codec)
    if isinstance(codec, att.LengthValueList):
        return st.lists(st.binary(max_size=40), min_size=1, max_size=12).map(tuple)
    if isinstance(codec, att.HandleLengthValueList):
        return st.lists(st.tuples(handles, st.binary(max_size=40)), min_size=2, max_size=12).map(
            tuple
        )
    raise AssertionError(f"no strategy for {codec!r}")


def _length_prefixed(codec: att.LengthPrefixedList) -> st.SearchStrategy[Any]:
    @st.composite
    def entries(draw: st.DrawFn) -> tuple[tuple[Any, ...], ...]:
        size = draw(st.integers(0, codec.max_value))
        most = (att.MAX_MTU - 2) // (codec.header + size)
        count = draw(st.integers(1, min(most, 20)))
        return tuple(
            (
                *(draw(handles) for _ in range(codec.handles)),
                draw(st.binary(min_size=size, max_size=size)),
            )
            for _ in range(count)
        )

    return entries()


def pdus_of(cls: type[att.AttPdu]) -> st.SearchStrategy[att.AttPdu]:
    return st.builds(cls, **{name: _field(codec) for name, codec in cls.LAYOUT})


pdus: st.SearchStrategy[att.AttPdu] = st.one_of(*map(pdus_of, att.PDU_CLASSES.values()))
requests = st.one_of(
    *(
        pdus_of(cls)
        for opcode, cls in att.PDU_CLASSES.items()
        if att.kind_of(opcode) in (att.PduKind.REQUEST, att.PduKind.COMMAND)
    )
)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A well-formed PDU's octets cut short, extended, or with one octet changed: what a
    broken or hostile peer sends (lengths the opcode does not allow, reserved values)."""
    wire = bytearray(draw(pdus).encode())
    how = draw(st.sampled_from(("cut", "extend", "flip")))
    if how == "cut":
        return bytes(wire[: draw(st.integers(0, max(len(wire) - 1, 0)))])
    if how == "extend":
        return bytes(wire + draw(st.binary(min_size=1, max_size=4)))
    index = draw(st.integers(0, len(wire) - 1))
    wire[index] = draw(st.integers(0, 255))
    return bytes(wire)


# Octets as they come off a bearer: well-formed PDUs, damaged ones, and noise.
wire_pdus: st.SearchStrategy[bytes] = st.one_of(
    pdus.map(lambda pdu: pdu.encode()), _mutated(), st.binary(max_size=40)
)
