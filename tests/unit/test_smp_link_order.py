"""The peer's first SMP PDU may reach the Security Manager before btm's LinkUpInd of its link:
hci hands the data to L2CAP, which hands it to SMP, while the connection event goes through
btm. A peripheral that sends its Security Request (Core 5.4 Vol 3 Part H 2.4.6), or a central
its Pairing Request, at once must still be answered; a PDU of a link hci closed is never kept
for a new link on the same handle."""

from __future__ import annotations

from bluetrio.messages.btm import AclLink, LinkUpInd, Role
from bluetrio.messages.hci_service import AclLinkClosedInd, AclLinkOpenedInd, LinkTransport
from bluetrio.messages.smp import (
    AuthReq,
    BondingFlag,
    SecurityRequest,
    SmpCode,
)
from bluetrio.messages.smp_service import SmpPairingInd
from bluetrio.testing.smp_cores import HANDLE, SmpCorePair

SECURITY_REQUEST = SecurityRequest(AuthReq(BondingFlag.BONDING, secure_connections=True))


def link_up(pair: SmpCorePair, side: str) -> None:
    peer, role = (
        (pair.b_address, Role.CENTRAL) if side == "a" else (pair.a_address, Role.PERIPHERAL)
    )
    pair.deliver(side, LinkUpInd(AclLink(HANDLE, LinkTransport.LE, peer, role)))


def opened(pair: SmpCorePair, side: str) -> None:
    pair.deliver(side, AclLinkOpenedInd(HANDLE, LinkTransport.LE, 1), sender="hci")


def test_a_pairing_request_before_the_peripherals_link_up_is_answered_once_it_comes() -> None:
    pair = SmpCorePair()
    opened(pair, "b")
    link_up(pair, "a")
    pair.pair("a")  # the central's Pairing Request reaches b before b's LinkUpInd
    assert pair.wire["a"][0][0] == SmpCode.PAIRING_REQUEST
    assert not pair.wire["b"]  # kept, not answered and not dropped
    assert pair.b.dropped_pdus == 0
    link_up(pair, "b")
    assert pair.result("a").status == 0 and pair.result("b").status == 0


def test_a_security_request_before_the_centrals_link_up_makes_it_pair() -> None:
    pair = SmpCorePair()
    opened(pair, "a")
    pair.inject("a", SECURITY_REQUEST.to_bytes())
    assert pair.a.opening[HANDLE] and pair.a.dropped_pdus == 0
    link_up(pair, "b")
    link_up(pair, "a")
    (indication,) = [m for m in pair.emitted["a"] if isinstance(m, SmpPairingInd)]
    assert indication.security_request
    assert pair.result("a").status == 0 and pair.result("b").status == 0


def test_a_pdu_of_a_closed_link_is_not_kept_for_the_next_on_its_handle() -> None:
    pair = SmpCorePair()
    opened(pair, "a")
    pair.deliver("a", AclLinkClosedInd(HANDLE, 0x13), sender="hci")
    pair.inject("a", SECURITY_REQUEST.to_bytes())  # late, from the link that closed
    opened(pair, "a")
    link_up(pair, "a")
    assert not [m for m in pair.emitted["a"] if isinstance(m, SmpPairingInd)]
    assert pair.a.dropped_pdus == 1


def test_pdus_for_a_link_hci_never_opened_are_dropped_and_a_link_keeps_few() -> None:
    pair = SmpCorePair()
    pair.inject("a", SECURITY_REQUEST.to_bytes())
    assert pair.a.dropped_pdus == 1 and not pair.a.opening
    opened(pair, "a")
    for _ in range(10):
        pair.inject("a", SECURITY_REQUEST.to_bytes())
    assert len(pair.a.opening[HANDLE]) == 4 and pair.a.dropped_pdus == 7
