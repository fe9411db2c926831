"""Every frame type into the L2CAP core in every channel state, and into channels open in
Enhanced Retransmission and Streaming mode: no exception escapes and the control blocks stay
bounded (Core 5.4 Vol 3 Part A 4: bad input gets a reject or is dropped; 8.6.5.3: a frame the
engine cannot take closes that channel)."""

from __future__ import annotations

from collections.abc import Callable

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

import bluetrio.messages.l2cap as l2cap
from bluetrio.actors.l2cap.channels import MAX_CHANNELS_PER_LINK
from bluetrio.actors.l2cap.ertm_config import ENGINE_MODES
from bluetrio.actors.l2cap.states import ChannelState
from bluetrio.messages.btm_security import LinkSecurityReq, SecurityRequirement
from bluetrio.messages.hci_service import AclDataInd, LinkTransport
from bluetrio.messages.l2cap import ChannelMode
from bluetrio.messages.l2cap.retransmission_frames import (
    Frame,
    FrameFormat,
    IFrame,
    Sar,
    SFrame,
    Supervisory,
    encode_frame,
)
from bluetrio.messages.l2cap_service import (
    L2caConnectInd,
    L2caConnectReq,
    L2caConnectRsp,
    L2caDataReq,
    L2caDisconnectReq,
    L2caRegisterFixedChannelReq,
    L2caRegisterPsmReq,
)
from bluetrio.testing.l2cap_cores import HANDLE, CorePair

PSM = 0x1001


def _link(transport: LinkTransport = LinkTransport.BR_EDR) -> CorePair:
    pair = CorePair()
    pair.open_link(transport)
    pair.request("a", L2caRegisterPsmReq(1, PSM))
    pair.request("a", L2caRegisterFixedChannelReq(2, l2cap.FixedCid.ATT))
    return pair


def _incoming(
    accept: bool, security: bool = False, mode: ChannelMode = ChannelMode.BASIC
) -> CorePair:
    pair = CorePair()
    pair.open_link()
    requirement = SecurityRequirement() if security else None
    pair.request("a", L2caRegisterPsmReq(1, PSM, security=requirement, mode=mode))
    pair.request("b", L2caConnectReq(2, HANDLE, PSM, mode=mode))
    if accept and not security:
        indication = pair.last("a", L2caConnectInd)
        assert isinstance(indication, L2caConnectInd)
        pair.drop = lambda side, pdu: side == "b"
        pair.request("a", L2caConnectRsp(HANDLE, indication.cid))
    return pair


def _opened(mode: ChannelMode = ChannelMode.BASIC) -> CorePair:
    pair = _incoming(accept=False, mode=mode)
    indication = pair.last("a", L2caConnectInd)
    assert isinstance(indication, L2caConnectInd)
    pair.request("a", L2caConnectRsp(HANDLE, indication.cid))
    ccb = pair.a.links[HANDLE].channels[indication.cid]
    assert ccb.state is ChannelState.OPEN and (ccb.engine is not None) is (mode in ENGINE_MODES)
    return pair


def _closing() -> CorePair:
    pair = _opened()
    pair.drop = lambda side, pdu: True
    (cid,) = pair.a.links[HANDLE].channels
    pair.request("a", L2caDisconnectReq(3, HANDLE, cid))
    return pair


def _outgoing(security: bool) -> CorePair:
    pair = CorePair()
    pair.open_link()
    pair.drop = lambda side, pdu: True
    requirement = SecurityRequirement() if security else None
    pair.request("a", L2caConnectReq(2, HANDLE, PSM, security=requirement))
    if security:
        assert isinstance(pair.emitted["a"][0], LinkSecurityReq)
    return pair


SETUPS: dict[str, Callable[[], CorePair]] = {
    "link only": _link,
    "LE link": lambda: _link(LinkTransport.LE),
    "WAIT_INCOMING_SECURITY": lambda: _incoming(accept=False, security=True),
    "WAIT_CONNECT": lambda: _incoming(accept=False),
    "WAIT_CONFIG_REQ_RSP": lambda: _incoming(accept=True),
    "OPEN": _opened,
    "OPEN in ERTM": lambda: _opened(ChannelMode.ENHANCED_RETRANSMISSION),
    "OPEN in streaming": lambda: _opened(ChannelMode.STREAMING),
    "WAIT_DISCONNECT": _closing,
    "WAIT_CONNECT_RSP": lambda: _outgoing(security=False),
    "WAIT_OUTGOING_SECURITY": lambda: _outgoing(security=True),
}


def _cids(pair: CorePair) -> list[int]:
    lcb = pair.a.links[HANDLE]
    return [*lcb.channels, *(ccb.remote_cid for ccb in lcb.channels.values()), 0x0040, 0x0001]


@st.composite
def frames(draw: st.DrawFn, pair: CorePair) -> bytes:
    """One PDU from the peer: a valid command with CIDs that exist, a command of any code
    with arbitrary data, arbitrary bytes on the signaling channel, or data on any CID."""
    kind = draw(st.integers(0, 4))
    signaling = pair.a.links[HANDLE].signaling_cid
    identifier = draw(st.integers(0, 255))
    if kind == 0:
        cls = draw(st.sampled_from(sorted(l2cap.COMMAND_CLASSES.values(), key=lambda c: c.CODE)))
        command = cls.example(draw(st.integers(0, 1000)))
        cid_fields = [name for name, _ in cls.LAYOUT if name.endswith("_cid")]
        replacements = {name: draw(st.sampled_from(_cids(pair))) for name in cid_fields}
        if "identifier" not in replacements and cls is l2cap.ConfigurationResponse:
            replacements["result"] = draw(st.integers(0, 6))
        command = attrs.evolve(command, **replacements)
        return l2cap.encode_basic_frame(signaling, command.to_bytes(identifier))
    if kind == 1:
        code = draw(st.integers(0, 0x20))
        data = draw(st.binary(max_size=40))
        return l2cap.encode_basic_frame(signaling, l2cap.encode_command(identifier, code, data))
    if kind == 2:
        return l2cap.encode_basic_frame(signaling, draw(st.binary(max_size=60)))
    if kind == 4:
        return draw(retransmission_frames(pair))
    cid = draw(st.sampled_from([c for c in _cids(pair) if c] + [2, 4, 5, 6, 0xFFFF]))
    payload = draw(st.binary(max_size=80))
    if draw(st.booleans()):
        return l2cap.encode_basic_frame(cid, payload)
    return payload  # not even a well-formed basic header


@st.composite
def retransmission_frames(draw: st.DrawFn, pair: CorePair) -> bytes:
    """An I- or S-frame of any field values for one of our channels, in either control
    format, with or without an FCS (Vol 3 Part A 3.3): what a peer in ERTM or streaming
    mode, or a confused one, sends."""
    lcb = pair.a.links[HANDLE]
    cid = draw(st.sampled_from([*lcb.channels, 0x0040]))
    fmt = FrameFormat(extended_control=draw(st.booleans()), fcs=draw(st.booleans()))
    modulus = fmt.sequence_modulus
    req_seq = draw(st.integers(0, modulus - 1))
    frame: Frame
    if draw(st.booleans()):
        sar = draw(st.sampled_from(list(Sar)))
        payload = draw(st.binary(max_size=60))
        length = draw(st.integers(0, 0xFFFF)) if sar is Sar.START else None
        frame = IFrame(
            draw(st.integers(0, modulus - 1)), req_seq, sar, payload,
            final=draw(st.booleans()), sdu_length=length,
        )  # fmt: skip
    else:
        frame = SFrame(
            draw(st.sampled_from(list(Supervisory))), req_seq,
            poll=draw(st.booleans()), final=draw(st.booleans()),
        )  # fmt: skip
    return encode_frame(cid, frame, fmt)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), setup=st.sampled_from(sorted(SETUPS)))
def test_any_frame_in_any_state(data: st.DataObject, setup: str) -> None:
    pair = SETUPS[setup]()
    pair.drop = lambda side, pdu: side == "b"  # the peer's own answers are what we inject
    for _ in range(data.draw(st.integers(1, 25))):
        pdu = data.draw(frames(pair))
        pair.deliver("a", AclDataInd(HANDLE, (pdu,)), "hci")
        lcb = pair.a.links[HANDLE]
        for cid in list(lcb.channels):
            pair.deliver("a", L2caDataReq(HANDLE, cid, b"x"))
        if data.draw(st.booleans()):
            pair.fire("a")
        assert len(lcb.channels) <= MAX_CHANNELS_PER_LINK
        assert len(lcb.pending) <= 255
        engines = sum(ccb.engine is not None for ccb in lcb.channels.values())
        # A request's RTX, a message's timer, and each engine's three (8.6.2).
        assert len(pair.timers["a"]) <= len(lcb.pending) + 1 + 3 * engines
        for ccb in lcb.channels.values():
            assert len(ccb.held) <= 25  # at most the SDUs this loop sent the channel
            if ccb.engine is not None:
                assert len(ccb.engine.unacked) <= ccb.engine.parameters.remote_tx_window
        assert all(ccb.state is not ChannelState.CLOSED for ccb in lcb.channels.values())
        assert sum(len(ccb.negotiation.pending_options) for ccb in lcb.channels.values()) <= 1024
    pair.close_link()
    assert pair.a.links == {} and pair.timers["a"] == {}
