"""Credit-based channels through two L2CAP cores joined back to back (sans-IO): the LE credit
based procedures (Core 5.4 Vol 3 Part A 4.22-4.24), the enhanced ones (4.25-4.28) on LE and
BR/EDR, disconnection, security refusals, timeouts, and every refusal a bad request earns."""

from __future__ import annotations

import hashlib
import random
from collections import deque

import attrs
import pytest

from bluetrio.actors.effects import Emit, Send, StartTimer, TimerExpired, TimerKey
from bluetrio.actors.l2cap.core import L2capCore
from bluetrio.actors.l2cap.credit_states import CREDIT_TRANSITIONS, CreditEvent, CreditState
from bluetrio.actors.state_machine import allowed
from bluetrio.bonds import BondStrength
from bluetrio.errors import StateTransitionError
from bluetrio.messages.base import Message
from bluetrio.messages.btm_security import LinkSecurityCnf, LinkSecurityReq, SecurityRequirement
from bluetrio.messages.hci_service import (
    AclDataCnf,
    AclDataInd,
    AclDataReq,
    AclLinkClosedInd,
    AclLinkOpenedInd,
    LinkTransport,
)
from bluetrio.messages.l2cap import (
    COMMAND_HEADER,
    CreditBasedConnectionRequest,
    CreditBasedConnectionResponse,
    CreditBasedReconfigureRequest,
    CreditBasedReconfigureResponse,
    CreditConnectionResult,
    CreditReconfigureResult,
    FixedCid,
    FlowControlCreditInd,
    LeCreditBasedConnectionRequest,
    LeCreditBasedConnectionResponse,
    LeCreditConnectionResult,
    SignalingCommand,
    decode_basic_frame,
    encode_basic_frame,
    split_commands,
)
from bluetrio.messages.l2cap_credit_service import (
    CreditMode,
    L2caCreditAcceptReq,
    L2caCreditConnectCnf,
    L2caCreditConnectInd,
    L2caCreditConnectReq,
    L2caCreditRegisterReq,
    L2caDataRsp,
    L2caReconfigureInd,
    L2caReconfigureReq,
)
from bluetrio.messages.l2cap_service import (
    L2caCnf,
    L2caDataCnf,
    L2caDataInd,
    L2caDataReq,
    L2caDisconnectInd,
    L2caDisconnectReq,
)

HANDLE = 0x0040
SPSM = 0x0081
APP = "app"


@attrs.define
class Peer:
    """One core, what it sent the application, and the timers it runs."""

    core: L2capCore
    inbox: list[Message] = attrs.Factory(list)
    security: list[LinkSecurityReq] = attrs.Factory(list)
    timers: dict[TimerKey, float] = attrs.Factory(dict)
    wire: deque[bytes] = attrs.Factory(deque)  # PDUs on their way to the other core
    consume: bool = True  # the application takes every SDU at once

    def of(self, kind: type[Message]) -> list[Message]:
        return [message for message in self.inbox if isinstance(message, kind)]


class Pair:
    """Two cores on one link; the wire delivers in order, and the controller confirms every
    PDU it takes."""

    def __init__(self, transport: LinkTransport = LinkTransport.LE) -> None:
        self.a, self.b = Peer(L2capCore()), Peer(L2capCore())
        self.now = 0.0
        for peer in (self.a, self.b):
            self.feed(peer, "hci", AclLinkOpenedInd(HANDLE, transport, link_id=1))

    def feed(self, peer: Peer, sender: str, message: Message) -> None:
        for effect in peer.core.handle(sender, message, self.now):
            match effect:
                case Send(message=sent) | Emit(message=sent) if isinstance(sent, AclDataReq):
                    peer.wire.extend(sent.pdus)
                    self.feed(peer, "hci", AclDataCnf(HANDLE, len(sent.pdus)))
                case Emit(message=LinkSecurityReq() as request):
                    peer.security.append(request)
                case Send(message=sent):
                    peer.inbox.append(sent)
                    if isinstance(sent, L2caDataInd) and peer.consume:
                        self.feed(peer, APP, L2caDataRsp(sent.handle, sent.cid))
                case StartTimer(key=key, deadline=deadline):
                    peer.timers[key] = deadline
                case _:
                    pass

    def run(self) -> None:
        """Deliver until both wires are empty."""
        while self.a.wire or self.b.wire:
            for source, sink in ((self.a, self.b), (self.b, self.a)):
                while source.wire:
                    self.feed(sink, "hci", AclDataInd(HANDLE, (source.wire.popleft(),)))

    def request(self, peer: Peer, message: Message) -> Message:
        before = len(peer.inbox)
        self.feed(peer, APP, message)
        self.run()
        token = getattr(message, "token", None)
        for answer in peer.inbox[before:]:
            if getattr(answer, "token", None) == token:
                return answer
        raise AssertionError(f"no answer to {message}")

    def register(self, peer: Peer, **options: object) -> None:
        answer = self.request(peer, L2caCreditRegisterReq(token=900, spsm=SPSM, **options))  # type: ignore[arg-type]
        assert isinstance(answer, L2caCnf) and answer.result == 0, answer

    def connect(self, **options: object) -> L2caCreditConnectCnf:
        request = L2caCreditConnectReq(token=1, handle=HANDLE, spsm=SPSM, **options)  # type: ignore[arg-type]
        answer = self.request(self.a, request)
        assert isinstance(answer, L2caCreditConnectCnf)
        return answer


def sent_commands(peer: Peer) -> list[bytes]:
    """The signaling C-frames ``peer`` has on its wire (taken off it)."""
    frames = []
    for pdu in list(peer.wire):
        cid, payload = decode_basic_frame(pdu)
        if cid in (FixedCid.LE_SIGNALING, FixedCid.SIGNALING):
            frames.append(payload)
    peer.wire.clear()
    return frames


def decoded(payload: bytes) -> SignalingCommand:
    (raw,) = split_commands(payload).commands
    return raw.decode()


def inject(pair: Pair, peer: Peer, command: SignalingCommand, identifier: int = 7) -> None:
    cid = FixedCid.LE_SIGNALING if peer.core.links[HANDLE].transport is LinkTransport.LE else 1
    pdu = encode_basic_frame(cid, command.to_bytes(identifier))
    pair.feed(peer, "hci", AclDataInd(HANDLE, (pdu,)))


def transfer(pair: Pair, cid_a: int, cid_b: int, sdus: list[bytes], limit: int) -> list[bytes]:
    """A sends ``sdus`` on its channel keeping within the transmit limit; what B received."""
    outstanding: deque[int] = deque()
    queued = 0
    pending = deque(sdus)
    while pending or outstanding:
        before = len(pair.a.of(L2caDataCnf))
        while pending and (not outstanding or queued + len(pending[0]) <= limit):
            sdu = pending.popleft()
            outstanding.append(len(sdu))
            queued += len(sdu)
            pair.feed(pair.a, APP, L2caDataReq(HANDLE, cid_a, sdu))
        pair.run()
        for cnf in pair.a.of(L2caDataCnf)[before:]:
            assert isinstance(cnf, L2caDataCnf) and cnf.cid == cid_a
            for _ in range(cnf.count):
                queued -= outstanding.popleft()
        if len(pair.a.of(L2caDataCnf)) == before:
            raise AssertionError("stalled")
    return [m.sdu for m in pair.b.of(L2caDataInd) if isinstance(m, L2caDataInd) and m.cid == cid_b]


# -- LE credit-based channels -----------------------------------------------------------------


def test_an_le_channel_opens_carries_sdus_both_ways_and_closes() -> None:
    pair = Pair()
    pair.register(pair.b, mtu=512, mps=64, credits=4)
    cnf = pair.connect(mtu=300, mps=50, credits=2)
    assert cnf.result == 0 and len(cnf.cids) == 1 and cnf.parameters is not None
    p = cnf.parameters
    assert (p.mtu, p.mps, p.peer_mtu, p.peer_mps) == (300, 50, 512, 64)
    assert p.credits >= 8  # raised to hold one SDU of 300 octets at MPS 50
    (ind,) = pair.b.of(L2caCreditConnectInd)
    assert isinstance(ind, L2caCreditConnectInd) and ind.parameters.peer_mtu == 300
    ours, theirs = cnf.cids[0], ind.cids[0]
    rng = random.Random(1)
    sdus = [rng.randbytes(rng.randrange(0, 513)) for _ in range(60)]
    assert transfer(pair, ours, theirs, sdus, p.transmit_limit) == sdus
    # And back: B sends on its end.
    pair.a, pair.b = pair.b, pair.a
    back = [rng.randbytes(rng.randrange(0, 301)) for _ in range(30)]
    assert transfer(pair, theirs, ours, back, p.transmit_limit) == back
    pair.a, pair.b = pair.b, pair.a
    answer = pair.request(pair.a, L2caDisconnectReq(5, HANDLE, ours))
    assert isinstance(answer, L2caCnf) and answer.result == 0
    (closed,) = pair.b.of(L2caDisconnectInd)
    assert isinstance(closed, L2caDisconnectInd) and closed.cid == theirs
    assert not pair.a.core.links[HANDLE].credit_channels
    assert not pair.b.core.links[HANDLE].credit_channels


def test_a_megabyte_with_a_checksum_through_small_frames() -> None:
    pair = Pair()
    pair.register(pair.b, mtu=2048, mps=23)
    cnf = pair.connect(mtu=2048, mps=247)
    (ind,) = pair.b.of(L2caCreditConnectInd)
    assert isinstance(ind, L2caCreditConnectInd) and cnf.parameters is not None
    data = random.Random(2).randbytes(1 << 20)
    sdus = [data[i : i + 2048] for i in range(0, len(data), 2048)]
    received = transfer(pair, cnf.cids[0], ind.cids[0], sdus, cnf.parameters.transmit_limit)
    assert hashlib.sha256(b"".join(received)).digest() == hashlib.sha256(data).digest()


def test_credits_go_back_only_as_the_application_takes_sdus() -> None:
    pair = Pair()
    pair.register(pair.b, mtu=64, mps=64, credits=8)
    pair.b.consume = False
    cnf = pair.connect()
    (ind,) = pair.b.of(L2caCreditConnectInd)
    assert isinstance(ind, L2caCreditConnectInd)
    for n in range(20):
        pair.feed(pair.a, APP, L2caDataReq(HANDLE, cnf.cids[0], bytes([n]) * 10))
    pair.run()
    # The window is 8 credits: 8 SDUs of one frame each reached B, the rest wait at A.
    assert len(pair.b.of(L2caDataInd)) == 8
    engine = pair.a.core.links[HANDLE].credit_channels[cnf.cids[0]].engine
    assert engine is not None and engine.credits == 0 and engine.queued_sdus == 12
    for _ in range(8):
        pair.feed(pair.b, APP, L2caDataRsp(HANDLE, ind.cids[0]))
    pair.run()
    assert len(pair.b.of(L2caDataInd)) == 16


@pytest.mark.parametrize(
    ("request_", "result"),
    [
        (LeCreditBasedConnectionRequest(0x0083, 0x0040, 100, 50, 5), "SPSM_NOT_SUPPORTED"),
        (LeCreditBasedConnectionRequest(SPSM, 0x0020, 100, 50, 5), "INVALID_SOURCE_CID"),
        (LeCreditBasedConnectionRequest(SPSM, 0x0080, 100, 50, 5), "INVALID_SOURCE_CID"),
        (LeCreditBasedConnectionRequest(SPSM, 0x0040, 22, 50, 5), "UNACCEPTABLE_PARAMETERS"),
        (LeCreditBasedConnectionRequest(SPSM, 0x0040, 100, 22, 5), "UNACCEPTABLE_PARAMETERS"),
        (LeCreditBasedConnectionRequest(SPSM, 0x0040, 100, 65534, 5), "UNACCEPTABLE_PARAMETERS"),
    ],
)
def test_le_requests_the_spec_refuses(
    request_: LeCreditBasedConnectionRequest, result: str
) -> None:
    pair = Pair()
    pair.register(pair.b)
    inject(pair, pair.b, request_)
    (frame,) = sent_commands(pair.b)
    response = decoded(frame)
    assert isinstance(response, LeCreditBasedConnectionResponse)
    assert response.result == LeCreditConnectionResult[result]
    assert response.destination_cid == 0 and not pair.b.core.links[HANDLE].credit_channels


def test_a_source_cid_already_allocated_is_refused() -> None:
    pair = Pair()
    pair.register(pair.b)
    inject(pair, pair.b, LeCreditBasedConnectionRequest(SPSM, 0x0041, 100, 50, 5))
    sent_commands(pair.b)
    inject(pair, pair.b, LeCreditBasedConnectionRequest(SPSM, 0x0041, 100, 50, 5), 8)
    response = decoded(sent_commands(pair.b)[0])
    assert isinstance(response, LeCreditBasedConnectionResponse)
    assert response.result == LeCreditConnectionResult.SOURCE_CID_ALREADY_ALLOCATED


@pytest.mark.parametrize(
    ("confirm", "result"),
    [
        (LinkSecurityCnf(0, HANDLE, 0x02, error="no BR/EDR link"), "INSUFFICIENT_AUTHENTICATION"),
        (LinkSecurityCnf(0, HANDLE, 0x2F, key_size=7), "ENCRYPTION_KEY_SIZE_TOO_SHORT"),
        (LinkSecurityCnf(0, HANDLE, 0x2F, key_type=None), "INSUFFICIENT_AUTHENTICATION"),
        # LE: the strength of the key encrypting the link (LE has no link key type).
        (
            LinkSecurityCnf(0, HANDLE, 0x2F, strength=BondStrength(True, False, 7)),
            "ENCRYPTION_KEY_SIZE_TOO_SHORT",
        ),
        (
            LinkSecurityCnf(0, HANDLE, 0x2F, strength=BondStrength(True, True, 16)),
            "INSUFFICIENT_ENCRYPTION",
        ),
    ],
)
def test_a_link_short_of_the_spsm_security_is_refused(
    confirm: LinkSecurityCnf, result: str
) -> None:
    pair = Pair()
    pair.register(pair.b, security=SecurityRequirement(min_key_size=16))
    cnf_before = pair.a.inbox[:]
    pair.feed(pair.a, APP, L2caCreditConnectReq(token=1, handle=HANDLE, spsm=SPSM))
    pair.run()
    (asked,) = pair.b.security
    pair.feed(pair.b, "btm", attrs.evolve(confirm, token=asked.token))
    pair.run()
    (cnf,) = [
        m for m in pair.a.inbox if m not in cnf_before and isinstance(m, L2caCreditConnectCnf)
    ]
    assert isinstance(cnf, L2caCreditConnectCnf)
    assert cnf.result == LeCreditConnectionResult[result] and not cnf.cids
    assert "refused" in (cnf.error or "")


def test_the_link_meeting_the_security_opens_the_channel() -> None:
    pair = Pair()
    pair.register(pair.b, security=SecurityRequirement())
    pair.feed(pair.a, APP, L2caCreditConnectReq(token=1, handle=HANDLE, spsm=SPSM))
    pair.run()
    (asked,) = pair.b.security
    pair.feed(pair.b, "btm", LinkSecurityCnf(asked.token, HANDLE, 0))
    pair.run()
    (cnf,) = pair.a.of(L2caCreditConnectCnf)
    assert isinstance(cnf, L2caCreditConnectCnf) and cnf.result == 0 and cnf.cids


def test_our_own_security_requirement_is_asked_before_the_request() -> None:
    pair = Pair()
    pair.register(pair.b)
    pair.feed(pair.a, APP, L2caCreditConnectReq(1, HANDLE, SPSM, security=SecurityRequirement()))
    assert not pair.a.wire and len(pair.a.security) == 1
    pair.feed(pair.a, "btm", LinkSecurityCnf(pair.a.security[0].token, HANDLE, 0x05, error="no"))
    (cnf,) = pair.a.of(L2caCreditConnectCnf)
    assert isinstance(cnf, L2caCreditConnectCnf) and cnf.error == "no"
    assert not pair.a.wire and not pair.a.core.links[HANDLE].credit_channels


def test_an_unanswered_request_fails_after_rtx() -> None:
    pair = Pair()
    pair.feed(pair.a, APP, L2caCreditConnectReq(token=1, handle=HANDLE, spsm=SPSM))
    pair.a.wire.clear()  # the peer never answers
    (key,) = pair.a.timers
    assert pair.a.timers[key] == 10.0
    pair.now = 10.0
    pair.feed(pair.a, "l2cap", TimerExpired(key))
    # Vol 3 Part A 6.2.1: sent again with the same identifier, twice the timeout.
    (again,) = pair.a.wire
    assert again[4:6] == bytes([0x14, key.owner.identifier])
    assert pair.a.timers[key] == 30.0 and not pair.a.of(L2caCreditConnectCnf)
    pair.now = 30.0
    pair.feed(pair.a, "l2cap", TimerExpired(key))
    (cnf,) = pair.a.of(L2caCreditConnectCnf)
    assert isinstance(cnf, L2caCreditConnectCnf) and "no response" in (cnf.error or "")
    assert not pair.a.core.links[HANDLE].credit_channels
    assert not pair.a.core.links[HANDLE].pending


def test_a_peer_breaking_flow_control_gets_the_channel_disconnected() -> None:
    pair = Pair()
    pair.register(pair.b, mtu=100, mps=50)
    cnf = pair.connect()
    (ind,) = pair.b.of(L2caCreditConnectInd)
    assert isinstance(ind, L2caCreditConnectInd)
    remote = pair.b.core.links[HANDLE].credit_channels[ind.cids[0]].remote_cid
    # A K-frame over B's MPS of 50.
    pair.feed(pair.b, "hci", AclDataInd(HANDLE, (encode_basic_frame(ind.cids[0], bytes(51)),)))
    (closed,) = pair.b.of(L2caDisconnectInd)
    assert isinstance(closed, L2caDisconnectInd) and "MPS" in closed.reason
    pair.run()
    (peer_closed,) = pair.a.of(L2caDisconnectInd)
    assert isinstance(peer_closed, L2caDisconnectInd) and peer_closed.cid == cnf.cids[0]
    assert remote == cnf.cids[0]
    assert not pair.a.core.links[HANDLE].credit_channels
    assert not pair.b.core.links[HANDLE].credit_channels


def test_credits_past_65535_disconnect() -> None:
    pair = Pair()
    pair.register(pair.b)
    cnf = pair.connect()
    (ind,) = pair.b.of(L2caCreditConnectInd)
    assert isinstance(ind, L2caCreditConnectInd)
    inject(pair, pair.a, FlowControlCreditInd(ind.cids[0], 0xFFFF))
    (closed,) = pair.a.of(L2caDisconnectInd)
    assert isinstance(closed, L2caDisconnectInd) and "65535" in closed.reason
    assert cnf.cids[0] == closed.cid


def test_link_loss_closes_every_channel() -> None:
    pair = Pair()
    pair.register(pair.b)
    cnf = pair.connect()
    pair.feed(pair.a, "hci", AclLinkClosedInd(HANDLE, 0x08))
    (closed,) = pair.a.of(L2caDisconnectInd)
    assert isinstance(closed, L2caDisconnectInd) and closed.link_lost
    assert closed.cid == cnf.cids[0] and HANDLE not in pair.a.core.links


# -- enhanced credit-based channels -----------------------------------------------------------


@pytest.mark.parametrize("transport", [LinkTransport.LE, LinkTransport.BR_EDR])
def test_five_enhanced_channels_open_reconfigure_and_carry_data(transport: LinkTransport) -> None:
    spsm = SPSM if transport is LinkTransport.LE else 0x1001
    pair = Pair(transport)
    answer = pair.request(
        pair.b, L2caCreditRegisterReq(9, spsm, transport, mtu=100, mps=64, credits=3)
    )
    assert isinstance(answer, L2caCnf) and answer.result == 0, answer
    request = L2caCreditConnectReq(
        1, HANDLE, spsm, CreditMode.ENHANCED_CREDIT_BASED, count=5, mtu=200, mps=100
    )
    cnf = pair.request(pair.a, request)
    assert isinstance(cnf, L2caCreditConnectCnf) and cnf.result == 0 and len(cnf.cids) == 5
    (ind,) = pair.b.of(L2caCreditConnectInd)
    assert isinstance(ind, L2caCreditConnectInd) and len(ind.cids) == 5
    # B grows its MTU on all five (its MPS may not shrink for several): A may send more.
    reconfigure = L2caReconfigureReq(3, HANDLE, ind.cids, mtu=1000, mps=64)
    done = pair.request(pair.b, reconfigure)
    assert isinstance(done, L2caCnf) and done.result == 0, done
    grown = [m for m in pair.a.of(L2caReconfigureInd) if isinstance(m, L2caReconfigureInd)]
    assert sorted(m.cid for m in grown) == sorted(cnf.cids)
    assert all(m.peer_mtu == 1000 for m in grown)
    rng = random.Random(3)
    for ours, theirs in zip(cnf.cids, ind.cids, strict=True):
        sdus = [rng.randbytes(rng.randrange(0, 1001)) for _ in range(10)]
        assert transfer(pair, ours, theirs, sdus, 64 * 1024) == sdus
    # An MTU that would shrink, and an MPS that would shrink for several, are refused.
    shrink = pair.request(pair.b, L2caReconfigureReq(4, HANDLE, ind.cids, mtu=900, mps=64))
    assert isinstance(shrink, L2caCnf) and shrink.result == 0x0001
    inject(pair, pair.b, CreditBasedReconfigureRequest(300, 64, ind.cids[:2]))  # A's MPS is 100
    response = decoded(sent_commands(pair.b)[0])
    assert isinstance(response, CreditBasedReconfigureResponse)
    assert response.result == CreditReconfigureResult.MPS_REDUCTION_NOT_ALLOWED


def test_a_single_enhanced_channel_may_shrink_its_mps() -> None:
    pair = Pair()
    pair.register(pair.b, mtu=200, mps=200)
    cnf = pair.connect(mode=CreditMode.ENHANCED_CREDIT_BASED, mtu=200, mps=200)
    (ind,) = pair.b.of(L2caCreditConnectInd)
    assert isinstance(ind, L2caCreditConnectInd)
    done = pair.request(pair.b, L2caReconfigureReq(3, HANDLE, ind.cids, mtu=400, mps=64))
    assert isinstance(done, L2caCnf) and done.result == 0
    sdus = [bytes([n]) * 400 for n in range(5)]
    assert transfer(pair, cnf.cids[0], ind.cids[0], sdus, 64 * 1024) == sdus
    engine = pair.b.core.links[HANDLE].credit_channels[ind.cids[0]].engine
    assert engine is not None and (engine.local_mtu, engine.local_mps) == (400, 64)


def test_enhanced_request_refusals_cid_by_cid() -> None:
    pair = Pair()
    pair.register(pair.b, mtu=100, mps=64)
    inject(pair, pair.a, CreditBasedConnectionRequest(SPSM, 100, 64, 5, (0x40,)))  # A: no SPSM
    refused = decoded(sent_commands(pair.a)[0])
    assert isinstance(refused, CreditBasedConnectionResponse)
    assert refused.result == CreditConnectionResult.SPSM_NOT_SUPPORTED
    assert refused.destination_cids == (0,)
    # Duplicates are refused each time, an invalid CID is refused, the rest open.
    inject(
        pair, pair.b, CreditBasedConnectionRequest(SPSM, 100, 64, 5, (0x41, 0x50, 0x41, 0x20, 0x42))
    )
    response = decoded(sent_commands(pair.b)[0])
    assert isinstance(response, CreditBasedConnectionResponse)
    assert response.result == CreditConnectionResult.SOME_REFUSED_SOURCE_CID_ALREADY_ALLOCATED
    dests = response.destination_cids
    assert dests[0] == dests[2] == dests[3] == 0 and dests[1] and dests[4]
    # MTU below 64 in enhanced mode.
    inject(pair, pair.b, CreditBasedConnectionRequest(SPSM, 63, 64, 5, (0x60,)), 9)
    small = decoded(sent_commands(pair.b)[0])
    assert isinstance(small, CreditBasedConnectionResponse)
    assert small.result == CreditConnectionResult.UNACCEPTABLE_PARAMETERS


@pytest.mark.parametrize("sources", [0, 6])
def test_an_enhanced_request_of_bad_length_is_refused_invalid_parameters(sources: int) -> None:
    pair = Pair()
    pair.register(pair.b)
    data = bytes(8) + bytes(2 * sources)
    pdu = encode_basic_frame(FixedCid.LE_SIGNALING, COMMAND_HEADER.pack(0x17, 3, len(data)) + data)
    pair.feed(pair.b, "hci", AclDataInd(HANDLE, (pdu,)))
    response = decoded(sent_commands(pair.b)[0])
    assert isinstance(response, CreditBasedConnectionResponse)
    assert response.result == CreditConnectionResult.INVALID_PARAMETERS


def test_a_response_with_the_wrong_number_of_cids_fails_the_opening() -> None:
    pair = Pair()
    request = L2caCreditConnectReq(1, HANDLE, SPSM, CreditMode.ENHANCED_CREDIT_BASED, count=2)
    pair.feed(pair.a, APP, request)
    (frame,) = sent_commands(pair.a)
    identifier = frame[1]
    reply = CreditBasedConnectionResponse(100, 64, 5, 0, (0x45,))
    inject(pair, pair.a, reply, identifier)
    (cnf,) = pair.a.of(L2caCreditConnectCnf)
    assert isinstance(cnf, L2caCreditConnectCnf) and not cnf.cids and cnf.error
    assert not pair.a.core.links[HANDLE].credit_channels


def test_several_le_channels_on_one_link_at_once() -> None:
    pair = Pair()
    pair.register(pair.b, mtu=500, mps=100)
    channels = []
    for token in range(1, 5):
        cnf = pair.request(pair.a, L2caCreditConnectReq(token, HANDLE, SPSM, mtu=500))
        assert isinstance(cnf, L2caCreditConnectCnf) and cnf.cids
        channels.append(cnf.cids[0])
    inds = [m for m in pair.b.of(L2caCreditConnectInd) if isinstance(m, L2caCreditConnectInd)]
    # Interleaved: every channel's SDUs queued before any is delivered.
    for n, cid in enumerate(channels):
        for k in range(5):
            pair.feed(pair.a, APP, L2caDataReq(HANDLE, cid, bytes([n, k]) * 200))
    pair.run()
    for n, ind in enumerate(inds):
        got = [
            m.sdu
            for m in pair.b.of(L2caDataInd)
            if isinstance(m, L2caDataInd) and m.cid == ind.cids[0]
        ]
        assert got == [bytes([n, k]) * 200 for k in range(5)]


# -- the state table ------------------------------------------------------------------------------


def test_every_state_event_pair_is_either_in_the_table_or_refused() -> None:
    from bluetrio.actors.state_machine import transition

    for state in CreditState:
        for event in CreditEvent:
            if allowed(CREDIT_TRANSITIONS, state, event):
                assert transition(CREDIT_TRANSITIONS, state, event) in CreditState
            else:
                with pytest.raises(StateTransitionError):
                    transition(CREDIT_TRANSITIONS, state, event)


# -- the owner's backlog -----------------------------------------------------------------------


def test_a_full_backlog_refuses_an_le_channel_with_no_resources() -> None:
    # 4.23 result 0x0004: refused before anything opens, never opened and then disconnected.
    pair = Pair()
    pair.register(pair.b, backlog=2)
    first, second = pair.connect(), pair.connect()
    assert first.cids and second.cids
    refused = pair.connect()
    assert refused.result == LeCreditConnectionResult.NO_RESOURCES and not refused.cids
    assert len(pair.b.of(L2caCreditConnectInd)) == 2
    assert not pair.b.of(L2caDisconnectInd) and len(pair.b.core.links[HANDLE].credit_channels) == 2
    # The owner takes one: room for one more.
    (taken, _) = pair.b.of(L2caCreditConnectInd)
    assert isinstance(taken, L2caCreditConnectInd)
    pair.feed(pair.b, APP, L2caCreditAcceptReq(HANDLE, taken.cids[0]))
    assert pair.connect().cids
    assert pair.connect().result == LeCreditConnectionResult.NO_RESOURCES


def test_a_channel_closed_in_the_backlog_frees_its_place() -> None:
    pair = Pair()
    pair.register(pair.b, backlog=1)
    opened = pair.connect()
    assert pair.connect().result == LeCreditConnectionResult.NO_RESOURCES
    done = pair.request(pair.a, L2caDisconnectReq(5, HANDLE, opened.cids[0]))
    assert isinstance(done, L2caCnf)
    assert pair.connect().cids


def test_a_full_backlog_refuses_the_enhanced_channels_past_it() -> None:
    # 4.26 result 0x0004: some refused, insufficient resources; those that fit open.
    pair = Pair()
    pair.register(pair.b, backlog=3)
    cnf = pair.connect(mode=CreditMode.ENHANCED_CREDIT_BASED, count=5, mtu=200, mps=100)
    assert len(cnf.cids) == 3
    assert cnf.result == CreditConnectionResult.SOME_REFUSED_NO_RESOURCES
    refused = pair.connect(mode=CreditMode.ENHANCED_CREDIT_BASED, count=2, mtu=200, mps=100)
    assert not refused.cids
    assert refused.result == CreditConnectionResult.SOME_REFUSED_NO_RESOURCES


def test_a_registration_without_backlog_takes_every_channel() -> None:
    pair = Pair()
    pair.register(pair.b)
    assert all(pair.connect().cids for _ in range(20))


# -- requests received again (Vol 3 Part A 6.2.1) ---------------------------------------------


def test_an_le_request_received_again_gets_the_same_response() -> None:
    pair = Pair()
    pair.register(pair.b)
    request = LeCreditBasedConnectionRequest(SPSM, 0x0041, 100, 50, 3)
    inject(pair, pair.b, request, identifier=9)
    inject(pair, pair.b, request, identifier=9)  # the peer's RTX ran out
    first, again = (decoded(frame) for frame in sent_commands(pair.b))
    assert isinstance(first, LeCreditBasedConnectionResponse)
    assert first == again and first.result == LeCreditConnectionResult.SUCCESS
    assert len(pair.b.core.links[HANDLE].credit_channels) == 1
    assert len(pair.b.of(L2caCreditConnectInd)) == 1
    # A new request (another identifier) for the same source CID is still refused.
    inject(pair, pair.b, request, identifier=10)
    (refused,) = (decoded(frame) for frame in sent_commands(pair.b))
    assert isinstance(refused, LeCreditBasedConnectionResponse)
    assert refused.result == LeCreditConnectionResult.SOURCE_CID_ALREADY_ALLOCATED


def test_a_request_received_again_during_the_security_check_waits_for_it() -> None:
    pair = Pair()
    pair.register(pair.b, security=SecurityRequirement())
    request = CreditBasedConnectionRequest(SPSM, 100, 64, 3, (0x0041, 0x0042))
    inject(pair, pair.b, request, identifier=9)
    inject(pair, pair.b, request, identifier=9)
    assert sent_commands(pair.b) == []  # neither answered before the link is checked
    (ask,) = pair.b.security
    pair.feed(pair.b, "btm", LinkSecurityCnf(ask.token, HANDLE, 0))
    (response,) = (decoded(frame) for frame in sent_commands(pair.b))
    assert isinstance(response, CreditBasedConnectionResponse)
    assert response.result == CreditConnectionResult.ALL_SUCCESSFUL
    assert len(pair.b.core.links[HANDLE].credit_channels) == 2
    inject(pair, pair.b, request, identifier=9)
    (again,) = (decoded(frame) for frame in sent_commands(pair.b))
    assert again == response
