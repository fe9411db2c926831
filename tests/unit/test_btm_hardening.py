"""The device manager against a misbehaving controller: a refused connection cancellation
(Core 5.4 Vol 4 Part E 7.8.13, 7.1.7) ends the attempt at once, and a link that completes it
afterwards is nobody's and is disconnected; a malformed successful completion is a failure."""

from __future__ import annotations

from typing import Any

from bluetrio.actors.btm.commands import CommandIssuer, CommandOutcome
from bluetrio.actors.btm.core import BtmCore
from bluetrio.actors.btm.le import CONNECT_TIMER
from bluetrio.actors.effects import Effects, Emit, Send, TimerExpired
from bluetrio.address import Address
from bluetrio.messages import hci
from bluetrio.messages.btm import (
    BtmCnf,
    ConnectCnf,
    ConnectReq,
    InquiryCancelReq,
    InquiryCnf,
    InquiryReq,
    LinkTransport,
)
from bluetrio.messages.hci_service import HciCommandCnf, HciCommandReq, HciEventInd

PEER = Address.parse("11:22:33:44:55:66")


def messages(effects: Effects) -> list[object]:
    return [e.message for e in effects if isinstance(e, Send | Emit)]


def requests(effects: Effects) -> list[HciCommandReq]:
    return [m for m in messages(effects) if isinstance(m, HciCommandReq)]


def answers(effects: Effects) -> list[ConnectCnf]:
    return [m for m in messages(effects) if isinstance(m, ConnectCnf)]


def answer(core: BtmCore, request: HciCommandReq, event: Any, now: float) -> Effects:
    opcode = request.command.OPCODE  # type: ignore[attr-defined]
    return core.handle("hci", HciCommandCnf(request.token, opcode, event), now)


def test_a_refused_le_cancellation_ends_the_attempt_and_a_late_link_is_dropped() -> None:
    core = BtmCore()
    (create,) = requests(core.handle("app", ConnectReq(1, PEER, LinkTransport.LE, 2.0), 0.0))
    answer(core, create, hci.CommandStatus(0, 1, hci.LeCreateConnection.OPCODE), 0.1)
    (cancel,) = requests(core.handle("btm", TimerExpired(CONNECT_TIMER), 2.0))
    assert isinstance(cancel.command, hci.LeCreateConnectionCancel)
    opcode = hci.LeCreateConnectionCancel.OPCODE
    refused = answer(core, cancel, hci.CommandComplete(1, opcode, b"\x0c"), 2.1)
    (failed,) = answers(refused)
    assert (
        failed.token == 1 and failed.link is None and "cancellation failed" in (failed.error or "")
    )
    # The controller had connected after all: that link is disconnected, not handed out.
    late = hci.LeConnectionComplete(0, 0x0040, 0, PEER, 24, 0, 72, 0)
    effects = core.handle("hci", HciEventInd(late), 2.2)
    assert answers(effects) == []
    assert hci.Disconnect(0x0040, 0x13) in [r.command for r in requests(effects)]


def test_a_refused_page_cancellation_ends_the_page_and_a_late_link_is_dropped() -> None:
    core = BtmCore()
    connect = ConnectReq(1, PEER, LinkTransport.BR_EDR, 2.0)
    (create,) = requests(core.handle("app", connect, 0.0))
    answer(core, create, hci.CommandStatus(0, 1, hci.CreateConnection.OPCODE), 0.1)
    page_timer = core.bredr.pages[PEER].key
    (cancel,) = requests(core.handle("btm", TimerExpired(page_timer), 2.0))
    opcode = hci.CreateConnectionCancel.OPCODE
    # Connection Already Exists (7.1.7): the Connection Complete is still on its way.
    refused = answer(core, cancel, hci.CommandComplete(1, opcode, b"\x0b" + PEER.to_wire()), 2.1)
    (failed,) = answers(refused)
    assert failed.link is None and failed.status == 0x08
    late = hci.ConnectionComplete(0, 0x0041, PEER, 1, 0)
    effects = core.handle("hci", HciEventInd(late), 2.2)
    assert hci.Disconnect(0x0041, 0x13) in [r.command for r in requests(effects)]
    [link] = core.links.all()
    assert link.role.name == "CENTRAL"


def test_a_malformed_successful_completion_reaches_its_continuation_as_a_failure() -> None:
    # Found by the fuzzer: a malformed Read_Encryption_Key_Size completion made the security
    # core raise DecodeError, which stopped the stack. (Trailing bytes are no longer
    # malformed, Vol 4 Part E 5.4.4; a completion short of the key size is.)
    seen: list[CommandOutcome] = []
    issuer = CommandIssuer()
    (request,) = requests(issuer.send(hci.ReadEncryptionKeySize(0x0040), _keep(seen)))
    opcode = hci.ReadEncryptionKeySize.OPCODE
    returns = b"\x00\x40\x00"  # status and handle, but no key size
    event = hci.CommandComplete(1, opcode, returns)
    issuer.on_confirmation(HciCommandCnf(request.token, opcode, event), 0.0)
    (outcome,) = seen
    assert not outcome.ok and "malformed return parameters" in outcome.describe()


def test_a_completion_with_appended_return_parameters_is_a_success() -> None:
    # A later specification may append return parameters (Vol 4 Part E 7.7.14).
    seen: list[CommandOutcome] = []
    issuer = CommandIssuer()
    (request,) = requests(issuer.send(hci.ReadEncryptionKeySize(0x0040), _keep(seen)))
    opcode = hci.ReadEncryptionKeySize.OPCODE
    returns = b"\x00\x40\x00\x10" + bytes(9)  # status, handle, key size, then 9 more
    event = hci.CommandComplete(1, opcode, returns)
    issuer.on_confirmation(HciCommandCnf(request.token, opcode, event), 0.0)
    (outcome,) = seen
    assert outcome.ok and outcome.returned().key_size == 0x10


def _keep(seen: list[CommandOutcome]) -> Any:
    def then(outcome: CommandOutcome, now: float) -> Effects:
        seen.append(outcome)
        return []

    return then


def test_cancelling_an_inquiry_stops_it_and_a_late_result_is_ignored() -> None:
    core = BtmCore()
    (inquiry,) = requests(core.handle("app", InquiryReq(1, 5.12), 0.0))
    answer(core, inquiry, hci.CommandStatus(0, 1, hci.Inquiry.OPCODE), 0.1)
    (cancel,) = requests(core.handle("app", InquiryCancelReq(2, inquiry=1), 1.0))
    assert isinstance(cancel.command, hci.InquiryCancel)
    done = answer(core, cancel, hci.CommandComplete(1, hci.InquiryCancel.OPCODE, b"\x00"), 1.1)
    assert messages(done) == [BtmCnf(2)]
    # A result already on its way when the controller stopped goes nowhere; a new inquiry
    # is not refused as "already running".
    late = hci.InquiryResult((hci.InquiryResponse(PEER, 1, 0, 0x200404, 0),))
    assert messages(core.handle("hci", HciEventInd(late), 1.2)) == []
    (again,) = requests(core.handle("app", InquiryReq(3, 5.12), 1.3))
    assert isinstance(again.command, hci.Inquiry)


def test_cancelling_an_inquiry_that_ended_is_answered_at_once() -> None:
    core = BtmCore()
    (inquiry,) = requests(core.handle("app", InquiryReq(1, 5.12), 0.0))
    answer(core, inquiry, hci.CommandStatus(0, 1, hci.Inquiry.OPCODE), 0.1)
    ended = core.handle("hci", HciEventInd(hci.InquiryComplete(0)), 5.2)
    assert [type(m) for m in messages(ended)] == [InquiryCnf]
    assert messages(core.handle("app", InquiryCancelReq(2, inquiry=1), 5.3)) == [BtmCnf(2)]
