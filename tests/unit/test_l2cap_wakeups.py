"""The L2CAP core under the runtime's wake-up hooks: the links are served once per wake-up,
so a burst of requests and completions leaves as one ``AclDataReq`` per link."""

from __future__ import annotations

from test_l2cap_core import opened_pair  # the neighbouring module: two cores, one channel

import bluetrio.messages.l2cap as l2cap
from bluetrio.actors.effects import Effects, Emit
from bluetrio.actors.l2cap.core import L2capCore
from bluetrio.actors.l2cap.scheduler import DEFAULT_BUDGET
from bluetrio.messages.base import Message
from bluetrio.messages.hci_service import AclDataCnf, AclDataReq, AclLinkOpenedInd, LinkTransport
from bluetrio.messages.l2cap_service import (
    L2caDataReq,
    L2caDisconnectReq,
    L2caFixedDataReq,
    L2caRegisterFixedChannelReq,
)
from bluetrio.testing.l2cap_cores import HANDLE

UPPER = "upper"


def one_wakeup(core: L2capCore, messages: list[tuple[str, Message]]) -> Effects:
    """Hand ``messages`` to ``core`` as the shell does for one wake-up."""
    core.begin_wakeup()
    effects: Effects = []
    for sender, message in messages:
        effects += core.handle(sender, message, 0.0)
    return effects + core.end_wakeup(0.0)


def data_requests(effects: Effects) -> list[AclDataReq]:
    return [e.message for e in effects if isinstance(e, Emit) and type(e.message) is AclDataReq]


def core_with_att_links(*handles: int) -> L2capCore:
    core = L2capCore()
    for link_id, handle in enumerate(handles, 1):
        core.handle("hci", AclLinkOpenedInd(handle, LinkTransport.LE, link_id), 0.0)
    core.handle(UPPER, L2caRegisterFixedChannelReq(1, l2cap.FixedCid.ATT), 0.0)
    return core


def att(handle: int, n: int) -> L2caFixedDataReq:
    return L2caFixedDataReq(handle, l2cap.FixedCid.ATT, bytes([n]))


def test_requests_of_one_wakeup_leave_as_one_acl_request_per_link() -> None:
    core = core_with_att_links(1, 2)
    requests = [(UPPER, att(handle, n)) for n in range(3) for handle in (1, 2)]
    sent = data_requests(one_wakeup(core, requests))
    assert sorted(request.handle for request in sent) == [1, 2]
    for request in sent:
        assert request.pdus == tuple(
            l2cap.encode_basic_frame(l2cap.FixedCid.ATT, bytes([n])) for n in range(3)
        )


def test_a_completion_of_k_buffers_lets_k_queued_pdus_go() -> None:
    core = core_with_att_links(1)
    queued = DEFAULT_BUDGET + 5
    sent = data_requests(one_wakeup(core, [(UPPER, att(1, n)) for n in range(queued)]))
    assert [len(request.pdus) for request in sent] == [DEFAULT_BUDGET]
    sent = data_requests(one_wakeup(core, [("hci", AclDataCnf(1, 3))]))
    assert sent == [
        AclDataReq(
            1,
            tuple(
                l2cap.encode_basic_frame(l2cap.FixedCid.ATT, bytes([n]))
                for n in range(DEFAULT_BUDGET, DEFAULT_BUDGET + 3)
            ),
        )
    ]
    # Two completions in one wake-up free their buffers together.
    sent = data_requests(one_wakeup(core, [("hci", AclDataCnf(1, 1)), ("hci", AclDataCnf(1, 1))]))
    assert [len(request.pdus) for request in sent] == [2]


def test_channel_data_of_one_wakeup_is_one_acl_request() -> None:
    pair, a_cid, b_cid = opened_pair()
    sdus = [bytes([n]) * 10 for n in range(5)]
    sent = data_requests(
        one_wakeup(pair.a, [(UPPER, L2caDataReq(HANDLE, a_cid, sdu)) for sdu in sdus])
    )
    assert sent == [AclDataReq(HANDLE, tuple(l2cap.encode_basic_frame(b_cid, sdu) for sdu in sdus))]


def test_data_sent_before_a_disconnection_in_one_wakeup_leaves_first() -> None:
    pair, a_cid, b_cid = opened_pair()
    effects = one_wakeup(
        pair.a,
        [
            (UPPER, L2caDataReq(HANDLE, a_cid, b"last")),
            (UPPER, L2caDisconnectReq(9, HANDLE, a_cid)),
        ],
    )
    pdus = [pdu for request in data_requests(effects) for pdu in request.pdus]
    assert pdus[0] == l2cap.encode_basic_frame(b_cid, b"last")
    cid, payload = l2cap.decode_basic_frame(pdus[1])
    assert cid == l2cap.FixedCid.SIGNALING
    assert (
        l2cap.split_commands(payload).commands[0].code == l2cap.SignalingCode.DISCONNECTION_REQUEST
    )
