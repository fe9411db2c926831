"""The gatt actor's core driven synchronously: the ATT channel registered at bring-up, a link's
bearer from L2CAP's channel indication to the link's end, the peer's first PDUs held for
btm's LinkUpInd, notifications gathered over links, and what goes with a link."""

from __future__ import annotations

from collections.abc import Sequence

from bluetrio.actors.effects import CancelTimer, Emit, Send, StartTimer
from bluetrio.actors.gatt.config import GattConfig
from bluetrio.actors.gatt.core import EARLY_PDUS_PER_LINK, GattCore, NoDatabase
from bluetrio.actors.gatt.outputs import Output, SendPdu
from bluetrio.address import Address
from bluetrio.messages.att import (
    ATT_CID,
    EATT_PSM,
    AttErrorCode,
    AttOpcode,
    AttPdu,
    ErrorResponse,
    HandleValueIndication,
    HandleValueNotification,
    ReadRequest,
    WriteRequest,
    WriteResponse,
    decode_pdu,
)
from bluetrio.messages.btm import AclLink, ControllerReadyInd, LinkDownInd, LinkUpInd, Role
from bluetrio.messages.controller_info import LMP_BIT_LE_SUPPORTED, ControllerInfo
from bluetrio.messages.gatt_service import (
    AttExchangeCnf,
    AttExchangeReq,
    AttFailure,
    GattNotifyCnf,
    GattNotifyReq,
)
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap_credit_service import L2caCreditRegisterReq
from bluetrio.messages.l2cap_service import (
    L2caFixedChannelInd,
    L2caFixedDataCnf,
    L2caFixedDataInd,
    L2caFixedDataReq,
    L2caRegisterFixedChannelReq,
)

PEER = Address.parse("00:11:22:33:44:55")


def ready(le: bool = True) -> ControllerReadyInd:
    features = (1 << LMP_BIT_LE_SUPPORTED,) if le else (0,)
    info = ControllerInfo(
        Address(bytes(6)), 0x0D, 0, 0x0D, 0, 0xFFFF, bytes(64), features, 0, 251, 8, 251, 8, None
    )
    return ControllerReadyInd(info)


def opened(core: GattCore, handle: int) -> None:
    core.handle("l2cap", L2caFixedChannelInd(handle, ATT_CID, LinkTransport.LE, True), 0.0)


def link_up(core: GattCore, handle: int) -> list[object]:
    return list(
        core.handle("btm", LinkUpInd(AclLink(handle, LinkTransport.LE, PEER, Role.PERIPHERAL)), 0.0)
    )


def att_sent(effects: list[object]) -> list[object]:
    return [
        decode_pdu(e.message.payload)
        for e in effects
        if isinstance(e, Emit) and isinstance(e.message, L2caFixedDataReq)
    ]


def test_the_att_channel_is_registered_once_when_the_controller_has_le() -> None:
    core = GattCore(server=NoDatabase())
    assert core.handle("btm", ready(le=False), 0.0) == []
    register, eatt = core.handle("btm", ready(), 0.0)
    assert isinstance(register, Emit)
    assert register.message == L2caRegisterFixedChannelReq(1, ATT_CID)
    # And the EATT SPSM (Vol 3 Part G 5.3.2), with encryption required.
    assert isinstance(eatt, Emit) and isinstance(eatt.message, L2caCreditRegisterReq)
    assert eatt.message.spsm == EATT_PSM and eatt.message.security is not None
    assert eatt.message.security.encryption
    no_eatt = GattCore(GattConfig(eatt_bearers=0))
    assert len(no_eatt.handle("btm", ready(), 0.0)) == 1
    assert core.handle("btm", ready(), 1.0) == []  # after a reset: still registered


def test_requests_before_link_up_wait_for_it_bounded() -> None:
    core = GattCore(server=NoDatabase())
    opened(core, 0x40)
    for n in range(EARLY_PDUS_PER_LINK + 2):
        payload = ReadRequest(n + 1).encode()
        assert core.handle("l2cap", L2caFixedDataInd(0x40, ATT_CID, payload), 0.0) == []
    assert core.dropped_pdus == 2
    # Served in order at LinkUpInd (no database yet: Request Not Supported, each answered
    # before the next is read, so none breaks 3.3.2).
    answered = att_sent(link_up(core, 0x40))
    error = ErrorResponse(AttOpcode.READ_REQUEST, 0, AttErrorCode.REQUEST_NOT_SUPPORTED)
    assert answered == [error] * EARLY_PDUS_PER_LINK


def test_a_pdu_for_a_link_without_the_channel_is_dropped() -> None:
    core = GattCore(server=NoDatabase())
    assert core.handle("l2cap", L2caFixedDataInd(0x41, ATT_CID, b"\x0a\x01\x00"), 0.0) == []
    assert core.dropped_pdus == 1
    (cnf,) = core.handle("app", AttExchangeReq(5, 0x41, ReadRequest(1)), 0.0)
    assert isinstance(cnf, Send) and isinstance(cnf.message, AttExchangeCnf)
    assert cnf.message.failure is AttFailure.LINK_LOST


def test_notifications_are_gathered_over_the_links() -> None:
    core = GattCore(server=NoDatabase())
    for handle in (0x40, 0x41):
        opened(core, handle)
        link_up(core, handle)
    effects = core.handle("app", GattNotifyReq(9, 0x10, b"v", link=0x40), 0.0)
    assert att_sent(effects) == [HandleValueNotification(0x10, b"v")]
    assert core.handle("app", GattNotifyReq(10, 0x10, b"v", link=None), 0.0) == [
        Send("app", GattNotifyCnf(10))
    ]  # nobody subscribed
    (cnf,) = core.handle("l2cap", L2caFixedDataCnf(0x40, ATT_CID, 1), 0.1)
    assert cnf == Send("app", GattNotifyCnf(9, (0x40,), ()))
    effects = core.handle("app", GattNotifyReq(11, 0x10, b"v", link=0x99), 0.0)
    assert effects == [Send("app", GattNotifyCnf(11, (), ((0x99, "no LE link 0x0099 with ATT"),)))]


def test_the_link_going_answers_what_waited_and_forgets_it() -> None:
    core = GattCore(server=NoDatabase())
    opened(core, 0x40)
    link_up(core, 0x40)
    core.handle("app", AttExchangeReq(5, 0x40, ReadRequest(1)), 0.0)
    core.handle("app", GattNotifyReq(6, 0x10, b"v", link=0x40, indicate=True), 0.0)
    effects = core.handle("btm", LinkDownInd(0x40, 0x13), 1.0)
    messages = [e.message for e in effects if isinstance(e, Send)]
    (cnf,) = [m for m in messages if isinstance(m, AttExchangeCnf)]
    assert cnf.failure is AttFailure.LINK_LOST
    assert GattNotifyCnf(6, (), ((0x40, "the link went down: link down"),)) in messages
    assert not core.links
    assert (
        core.handle("l2cap", L2caFixedChannelInd(0x40, ATT_CID, LinkTransport.LE, False), 1.0) == []
    )
    assert not [e for e in effects if isinstance(e, StartTimer | CancelTimer)]


class IndicatingServer(NoDatabase):
    """Answers a Write Request and indicates value 0x0010 at once (as Service Changed goes)."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[int, int, str | None]] = []

    def on_request(
        self, handle: int, bearer: int, pdu: AttPdu, mtu: int, now: float
    ) -> Sequence[Output]:
        return [
            SendPdu(handle, bearer, WriteResponse()),
            SendPdu(handle, bearer, HandleValueIndication(0x0010, b"changed")),
        ]

    def on_indication_outcome(
        self, handle: int, value_handle: int, error: str | None
    ) -> Sequence[Output]:
        self.outcomes.append((handle, value_handle, error))
        return []


def test_the_servers_own_indication_reports_its_outcome_to_it() -> None:
    server = IndicatingServer()
    core = GattCore(server=server)
    opened(core, 0x40)
    link_up(core, 0x40)
    write = WriteRequest(3, b"x").encode()
    sent = att_sent(core.handle("l2cap", L2caFixedDataInd(0x40, ATT_CID, write), 0.0))
    assert sent == [WriteResponse(), HandleValueIndication(0x0010, b"changed")]
    confirmation = bytes([AttOpcode.HANDLE_VALUE_CONFIRMATION])
    core.handle("l2cap", L2caFixedDataInd(0x40, ATT_CID, confirmation), 1.0)
    assert server.outcomes == [(0x40, 0x0010, None)]
    core.handle("l2cap", L2caFixedDataInd(0x40, ATT_CID, write), 2.0)
    core.handle("btm", LinkDownInd(0x40, 0x08), 3.0)
    assert server.outcomes[1][:2] == (0x40, 0x0010) and server.outcomes[1][2]


def test_without_a_database_services_are_refused_in_the_answer() -> None:
    from bluetrio.messages.gatt_declarations import Service
    from bluetrio.messages.gatt_service import GattAddServiceCnf, GattAddServiceReq

    core = GattCore(server=NoDatabase())
    (cnf,) = core.handle("app", GattAddServiceReq(3, Service(0x180F)), 0.0)
    assert isinstance(cnf, Send) and isinstance(cnf.message, GattAddServiceCnf)
    assert cnf.message.handles is None and "no attribute database" in (cnf.message.error or "")
