"""The ATT bearer core (bluetrio/actors/gatt/bearer.py), driven synchronously: the MTU
exchange in both roles (Core 5.4 Vol 3 Part F 3.4.2), the transaction rule and its timeout
(3.3.2, 3.3.3), indications and confirmations (3.4.7), commands and notifications never
held, responses checked against the request outstanding, and the transition table."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrio.actors.effects import CancelTimer, Emit, ReleaseTimers, Send, StartTimer
from bluetrio.actors.gatt.bearer import (
    CONFIRMATION_TIMER,
    TIMED_OUT_ERROR,
    TRANSACTION_TIMER,
    AttBearer,
    BearerOutputs,
    BearerTimedOut,
    Delivered,
    ServerDecodeError,
    ServerRequest,
)
from bluetrio.actors.gatt.config import GattConfig
from bluetrio.actors.gatt.states import TRANSITIONS, Flow, Transaction, TransactionEvent
from bluetrio.actors.state_machine import transition
from bluetrio.errors import StateTransitionError
from bluetrio.messages.att import (
    ATT_CID,
    TRANSACTION_TIMEOUT,
    AttErrorCode,
    AttOpcode,
    AttPdu,
    ErrorResponse,
    ExchangeMtuRequest,
    ExchangeMtuResponse,
    HandleValueConfirmation,
    HandleValueIndication,
    HandleValueNotification,
    MultipleHandleValueNotification,
    PduKind,
    ReadRequest,
    ReadResponse,
    WriteCommand,
    WriteRequest,
    WriteResponse,
    decode_pdu,
    kind_of,
)
from bluetrio.messages.gatt_service import (
    AttCommandCnf,
    AttExchangeCnf,
    AttFailure,
    AttMtuInd,
    AttValueInd,
)
from bluetrio.messages.l2cap_service import L2caDataReq, L2caFixedDataReq
from bluetrio.testing import att_strategies

LINK = 0x0040


def sent(outputs: BearerOutputs) -> list[AttPdu]:
    """The PDUs the outputs hand to L2CAP, decoded."""
    pdus = []
    for output in outputs:
        if isinstance(output, Emit) and isinstance(output.message, L2caFixedDataReq):
            assert output.message.cid == ATT_CID and output.message.handle == LINK
            pdus.append(decode_pdu(output.message.payload))
        elif isinstance(output, Emit) and isinstance(output.message, L2caDataReq):
            pdus.append(decode_pdu(output.message.sdu))
    return pdus


def answers(outputs: BearerOutputs) -> list[AttExchangeCnf]:
    return [
        o.message for o in outputs if isinstance(o, Send) and isinstance(o.message, AttExchangeCnf)
    ]


def emitted(outputs: BearerOutputs, kind: type) -> list[object]:
    return [o.message for o in outputs if isinstance(o, Emit) and isinstance(o.message, kind)]


def bearer(**config: object) -> AttBearer:
    return AttBearer(LINK, GattConfig(**config))  # type: ignore[arg-type]


def is_request(pdu: AttPdu) -> bool:
    return kind_of(pdu.opcode) is PduKind.REQUEST


def read(handle: int = 3) -> bytes:
    return ReadRequest(handle).encode()


# -- MTU (3.4.2) ---------------------------------------------------------------------------------
def test_the_le_default_mtu_is_23_and_a_peer_exchange_sets_the_smaller() -> None:
    b = bearer(receive_mtu=247)
    assert b.mtu == 23
    outputs = b.receive(ExchangeMtuRequest(517).encode(), 0.0)
    assert sent(outputs) == [ExchangeMtuResponse(247)]
    assert b.mtu == 247
    assert emitted(outputs, AttMtuInd) == [AttMtuInd(LINK, 247, 0)]


def test_a_second_exchange_from_the_peer_is_answered_and_changes_nothing() -> None:
    b = bearer()
    b.receive(ExchangeMtuRequest(100).encode(), 0.0)
    outputs = b.receive(ExchangeMtuRequest(300).encode(), 1.0)
    assert sent(outputs) == [ExchangeMtuResponse(517)]
    assert b.mtu == 100 and not emitted(outputs, AttMtuInd)


def test_a_client_rx_mtu_below_the_default_leaves_the_mtu() -> None:
    b = bearer()
    outputs = b.receive(ExchangeMtuRequest(10).encode(), 0.0)
    assert sent(outputs) == [ExchangeMtuResponse(517)]
    assert b.mtu == 23


def test_our_exchange_sets_the_smaller_and_goes_once() -> None:
    b = bearer()
    outputs = b.request("app", 1, ExchangeMtuRequest(517), 0.0)
    assert sent(outputs) == [ExchangeMtuRequest(517)]
    outputs = b.receive(ExchangeMtuResponse(185).encode(), 1.0)
    assert answers(outputs) == [AttExchangeCnf(1, LINK, response=ExchangeMtuResponse(185))]
    assert b.mtu == 185 and emitted(outputs, AttMtuInd) == [AttMtuInd(LINK, 185, 0)]
    (again,) = answers(b.request("app", 2, ExchangeMtuRequest(517), 2.0))
    assert again.response is None and "once" in (again.error or "")


def test_no_exchange_mtu_on_an_enhanced_bearer() -> None:
    b = AttBearer(LINK, GattConfig(), bearer=0x41, mtu=300)
    outputs = b.receive(ExchangeMtuRequest(517).encode(), 0.0)
    (error,) = sent(outputs)
    assert error == ErrorResponse(
        AttOpcode.EXCHANGE_MTU_REQUEST, 0, AttErrorCode.REQUEST_NOT_SUPPORTED
    )
    assert isinstance(outputs[0], Emit) and isinstance(outputs[0].message, L2caDataReq)
    (refused,) = answers(b.request("app", 1, ExchangeMtuRequest(517), 0.0))
    assert refused.error is not None and b.mtu == 300


# -- our requests (3.3.2, 3.3.3) -----------------------------------------------------------------
def test_one_request_at_a_time_the_others_wait_in_order() -> None:
    b = bearer()
    first = b.request("app", 1, ReadRequest(3), 0.0)
    assert sent(first) == [ReadRequest(3)]
    assert StartTimer(b._timer(TRANSACTION_TIMER), TRANSACTION_TIMEOUT) in first
    assert sent(b.request("app", 2, ReadRequest(5), 0.1)) == []
    outputs = b.receive(ReadResponse(b"x").encode(), 1.0)
    assert answers(outputs) == [AttExchangeCnf(1, LINK, response=ReadResponse(b"x"))]
    assert CancelTimer(b._timer(TRANSACTION_TIMER)) in outputs
    assert sent(outputs) == [ReadRequest(5)]
    assert StartTimer(b._timer(TRANSACTION_TIMER), 1.0 + TRANSACTION_TIMEOUT) in outputs


def test_an_error_response_ends_the_transaction() -> None:
    b = bearer()
    b.request("app", 1, ReadRequest(3), 0.0)
    error = ErrorResponse(AttOpcode.READ_REQUEST, 3, AttErrorCode.READ_NOT_PERMITTED)
    assert answers(b.receive(error.encode(), 1.0)) == [AttExchangeCnf(1, LINK, response=error)]
    assert b.states[Flow.OUR_REQUEST] is Transaction.IDLE


def test_responses_that_do_not_answer_ours_are_ignored_and_counted() -> None:
    b = bearer()
    assert b.receive(ReadResponse(b"stray").encode(), 0.0) == []  # nothing outstanding
    b.request("app", 1, ReadRequest(3), 0.0)
    other_error = ErrorResponse(AttOpcode.WRITE_REQUEST, 3, AttErrorCode.INVALID_HANDLE)
    assert b.receive(other_error.encode(), 1.0) == []
    assert b.receive(WriteResponse().encode(), 1.0) == []
    assert b.dropped == 3
    assert b.states[Flow.OUR_REQUEST] is Transaction.PENDING
    assert answers(b.receive(ReadResponse(b"ok").encode(), 2.0))[0].response == ReadResponse(b"ok")


def test_a_malformed_response_to_ours_fails_that_request_only() -> None:
    b = bearer()
    b.request("app", 1, WriteRequest(3, b"v"), 0.0)
    b.request("app", 2, ReadRequest(4), 0.0)
    outputs = b.receive(bytes([AttOpcode.WRITE_RESPONSE, 0x00]), 1.0)  # one octet too many
    (cnf,) = answers(outputs)
    assert cnf.token == 1 and cnf.response is None
    assert cnf.failure is AttFailure.MALFORMED_RESPONSE
    assert sent(outputs) == [ReadRequest(4)]


def test_the_transaction_timeout_makes_the_bearer_unusable() -> None:
    b = bearer()
    b.request("app", 1, ReadRequest(3), 0.0)
    b.request("app", 2, ReadRequest(4), 0.0)
    b.indicate(7, 0x10, b"i", 0.0)
    b.indicate(8, 0x10, b"j", 0.0)
    outputs = b.timer_expired(TRANSACTION_TIMER, TRANSACTION_TIMEOUT)
    assert [(c.token, c.error, c.failure) for c in answers(outputs)] == [
        (1, TIMED_OUT_ERROR, AttFailure.TIMED_OUT),
        (2, TIMED_OUT_ERROR, AttFailure.TIMED_OUT),
    ]
    assert [o for o in outputs if isinstance(o, Delivered)] == [
        Delivered(7, TIMED_OUT_ERROR),
        Delivered(8, TIMED_OUT_ERROR),
    ]
    assert BearerTimedOut(LINK, 0) in outputs
    assert set(b.states.values()) == {Transaction.TIMED_OUT}
    # 3.3.3: nothing more on this bearer: requests, commands, notifications, indications.
    (later,) = answers(b.request("app", 3, ReadRequest(3), 31.0))
    assert later.failure is AttFailure.TIMED_OUT and later.error == TIMED_OUT_ERROR
    command = b.command("app", 4, WriteCommand(3, b"c"))
    assert command == [Send("app", AttCommandCnf(4, LINK, TIMED_OUT_ERROR, AttFailure.TIMED_OUT))]
    assert b.notify(9, 3, b"n") == [Delivered(9, TIMED_OUT_ERROR)]
    assert b.indicate(10, 3, b"n", 31.0) == [Delivered(10, TIMED_OUT_ERROR)]
    assert b.receive(ReadRequest(3).encode(), 31.0) == []  # and nothing is answered


def test_a_timer_that_fires_after_the_answer_does_nothing() -> None:
    b = bearer()
    b.request("app", 1, ReadRequest(3), 0.0)
    b.receive(ReadResponse(b"").encode(), 1.0)
    assert b.timer_expired(TRANSACTION_TIMER, 30.0) == []
    assert not b.timed_out


def test_the_request_queue_is_bounded() -> None:
    b = bearer(request_queue=2)
    b.request("app", 1, ReadRequest(3), 0.0)  # sent
    b.request("app", 2, ReadRequest(3), 0.0)
    b.request("app", 3, ReadRequest(3), 0.0)
    (refused,) = answers(b.request("app", 4, ReadRequest(3), 0.0))
    assert refused.token == 4 and "wait" in (refused.error or "")


def test_a_pdu_over_the_mtu_is_refused_at_send() -> None:
    b = bearer()
    (refused,) = answers(b.request("app", 1, WriteRequest(3, bytes(21)), 0.0))
    assert "ATT_MTU of 23" in (refused.error or "")
    assert sent(b.request("app", 2, WriteRequest(3, bytes(20)), 0.0)) == [
        WriteRequest(3, bytes(20))
    ]
    command = b.command("app", 3, WriteCommand(3, bytes(21)))
    assert isinstance(command[0], Send) and command[0].message.error is not None


def test_only_requests_go_as_requests_and_only_commands_as_commands() -> None:
    b = bearer()
    (refused,) = answers(b.request("app", 1, WriteCommand(3, b""), 0.0))
    assert refused.error is not None
    (cnf,) = b.command("app", 2, ReadRequest(3))
    assert isinstance(cnf, Send) and cnf.message.error is not None


# -- commands and notifications are never held ---------------------------------------------------
def test_commands_and_notifications_go_while_a_request_is_outstanding() -> None:
    b = bearer()
    b.request("app", 1, ReadRequest(3), 0.0)
    b.indicate(5, 0x10, b"i", 0.0)
    assert sent(b.command("app", 2, WriteCommand(3, b"w"))) == [WriteCommand(3, b"w")]
    assert sent(b.notify(6, 0x10, b"n")) == [HandleValueNotification(0x10, b"n")]


def test_a_command_is_confirmed_when_l2cap_confirms_it_in_order() -> None:
    b = bearer()
    b.request("app", 1, ReadRequest(3), 0.0)  # its completion tells nobody
    b.command("app", 2, WriteCommand(3, b"w"))
    b.notify(6, 0x10, b"n")
    b.command("app", 3, WriteCommand(3, b"v"))
    assert b.sent(2) == [Send("app", AttCommandCnf(2, LINK))]
    assert b.sent(2, "the link is gone") == [
        Delivered(6, "the link is gone"),
        Send("app", AttCommandCnf(3, LINK, "the link is gone", AttFailure.REFUSED)),
    ]
    assert b.sent(5) == []


def test_notification_and_indication_values_are_cut_to_mtu_minus_3() -> None:
    b = bearer()
    assert sent(b.notify(1, 0x10, bytes(range(40)))) == [
        HandleValueNotification(0x10, bytes(range(20)))
    ]
    assert sent(b.indicate(2, 0x10, bytes(range(40)), 0.0)) == [
        HandleValueIndication(0x10, bytes(range(20)))
    ]


# -- the peer's requests -------------------------------------------------------------------------
def test_the_peers_request_goes_to_the_server_and_its_response_back() -> None:
    b = bearer()
    assert b.receive(read(), 0.0) == [ServerRequest(ReadRequest(3))]
    assert sent(b.respond(ReadResponse(b"v"))) == [ReadResponse(b"v")]
    assert b.states[Flow.PEER_REQUEST] is Transaction.IDLE


def test_a_second_request_before_our_response_is_dropped_not_blocking() -> None:
    b = bearer()
    assert b.receive(read(3), 0.0) == [ServerRequest(ReadRequest(3))]
    assert b.receive(read(4), 0.1) == []
    assert b.dropped == 1
    # The receive path goes on: a command, a notification, a response to our request.
    assert b.receive(WriteCommand(3, b"c").encode(), 0.2) == [ServerRequest(WriteCommand(3, b"c"))]
    value = emitted(b.receive(HandleValueNotification(9, b"n").encode(), 0.3), AttValueInd)
    assert value == [AttValueInd(LINK, 9, b"n", indication=False)]
    b.respond(ReadResponse(b"v"))
    assert b.receive(read(4), 1.0) == [ServerRequest(ReadRequest(4))]


def test_a_response_with_no_request_to_answer_is_not_sent() -> None:
    b = bearer()
    assert b.respond(ReadResponse(b"v")) == []


def test_a_server_response_over_the_mtu_becomes_unlikely_error() -> None:
    b = bearer()
    b.receive(read(), 0.0)
    assert sent(b.respond(ReadResponse(bytes(30)))) == [
        ErrorResponse(AttOpcode.READ_REQUEST, 0, AttErrorCode.UNLIKELY_ERROR)
    ]


def test_a_malformed_request_gets_one_error_an_unknown_command_none() -> None:
    b = bearer()
    (decoded,) = b.receive(bytes([AttOpcode.READ_REQUEST, 0x01]), 0.0)
    assert isinstance(decoded, ServerDecodeError)
    assert decoded.error.error_code == AttErrorCode.INVALID_PDU
    b.respond(ErrorResponse(AttOpcode.READ_REQUEST, 0, AttErrorCode.INVALID_PDU))
    (unknown,) = b.receive(bytes([0x3F, 1, 2]), 0.0)
    assert isinstance(unknown, ServerDecodeError)
    assert unknown.error.error_code == AttErrorCode.REQUEST_NOT_SUPPORTED
    b.respond(ErrorResponse(0x3F, 0, AttErrorCode.REQUEST_NOT_SUPPORTED))
    assert b.receive(bytes([0x7F, 1, 2]), 0.0) == []  # the command flag: ignored (3.3.1)
    assert b.receive(b"", 0.0) == []


# -- values received -------------------------------------------------------------------------------
def test_an_indication_is_passed_up_and_confirmed_at_once() -> None:
    b = bearer()
    b.request("app", 1, ReadRequest(3), 0.0)  # the confirmation does not wait for it
    outputs = b.receive(HandleValueIndication(9, b"i").encode(), 0.5)
    assert emitted(outputs, AttValueInd) == [AttValueInd(LINK, 9, b"i", indication=True)]
    assert sent(outputs) == [HandleValueConfirmation()]


def test_a_multiple_handle_value_notification_becomes_one_value_each() -> None:
    b = bearer()
    pdu = MultipleHandleValueNotification(((9, b"a"), (11, b"bc")))
    assert emitted(b.receive(pdu.encode(), 0.0), AttValueInd) == [
        AttValueInd(LINK, 9, b"a", indication=False),
        AttValueInd(LINK, 11, b"bc", indication=False),
    ]


# -- our indications (3.4.7.2) -------------------------------------------------------------------
def test_indications_go_one_at_a_time_each_confirmed() -> None:
    b = bearer()
    first = b.indicate(1, 0x10, b"a", 0.0)
    assert sent(first) == [HandleValueIndication(0x10, b"a")]
    assert StartTimer(b._timer(CONFIRMATION_TIMER), TRANSACTION_TIMEOUT) in first
    assert b.indicate(2, 0x10, b"b", 0.0) == []
    outputs = b.receive(HandleValueConfirmation().encode(), 1.0)
    assert Delivered(1) in outputs and CancelTimer(b._timer(CONFIRMATION_TIMER)) in outputs
    assert sent(outputs) == [HandleValueIndication(0x10, b"b")]


def test_a_confirmation_with_no_indication_is_ignored() -> None:
    b = bearer()
    assert b.receive(HandleValueConfirmation().encode(), 0.0) == []
    assert b.dropped == 1


def test_the_confirmation_timeout_makes_the_bearer_unusable() -> None:
    b = bearer()
    b.indicate(1, 0x10, b"a", 0.0)
    b.request("app", 2, ReadRequest(3), 0.0)
    outputs = b.timer_expired(CONFIRMATION_TIMER, 30.0)
    assert Delivered(1, TIMED_OUT_ERROR) in outputs
    assert [c.token for c in answers(outputs)] == [2]
    assert b.timed_out


def test_the_indication_queue_is_bounded() -> None:
    b = bearer(indication_queue=1)
    b.indicate(1, 0x10, b"a", 0.0)
    b.indicate(2, 0x10, b"b", 0.0)
    (refused,) = b.indicate(3, 0x10, b"c", 0.0)
    assert isinstance(refused, Delivered) and refused.ticket == 3 and refused.error


def test_closing_fails_everything_waiting() -> None:
    b = bearer()
    b.request("app", 1, ReadRequest(3), 0.0)
    b.request("app", 2, ReadRequest(3), 0.0)
    b.indicate(3, 0x10, b"a", 0.0)
    b.command("app", 4, WriteCommand(3, b""))
    outputs = b.close("link lost")
    assert [c.token for c in answers(outputs)] == [1, 2]
    assert Delivered(3, "link lost") in outputs
    assert Send("app", AttCommandCnf(4, LINK, "link lost", AttFailure.LINK_LOST)) in outputs
    assert {c.failure for c in answers(outputs)} == {AttFailure.LINK_LOST}
    assert ReleaseTimers(b.owner) in outputs


# -- the transition table ------------------------------------------------------------------------
@pytest.mark.parametrize(("state", "event"), list(itertools.product(Transaction, TransactionEvent)))
def test_every_state_and_event(state: Transaction, event: TransactionEvent) -> None:
    if (state, event) in TRANSITIONS:
        assert transition(TRANSITIONS, state, event) is TRANSITIONS[state, event]
    else:
        with pytest.raises(StateTransitionError):
            transition(TRANSITIONS, state, event)


def test_timed_out_is_final() -> None:
    assert not [key for key in TRANSITIONS if key[0] is Transaction.TIMED_OUT]


# -- any sequence --------------------------------------------------------------------------------
_STEP = st.one_of(
    st.tuples(st.just("request"), st.sampled_from([3, 4])),
    st.tuples(st.just("response"), st.sampled_from(["read", "write", "error", "other-error"])),
    st.tuples(st.just("peer-request"), st.sampled_from([3, 4])),
    st.tuples(st.just("respond"), st.just(0)),
    st.tuples(st.just("indicate"), st.just(0)),
    st.tuples(st.just("confirm"), st.just(0)),
    st.tuples(st.just("command"), st.just(0)),
    st.tuples(st.just("l2cap-confirms"), st.integers(1, 3)),
    st.tuples(st.just("timeout"), st.sampled_from([TRANSACTION_TIMER, CONFIRMATION_TIMER])),
)
_RESPONSES: dict[str, bytes] = {
    "read": ReadResponse(b"r").encode(),
    "write": WriteResponse().encode(),
    "error": ErrorResponse(AttOpcode.READ_REQUEST, 3, AttErrorCode.ATTRIBUTE_NOT_FOUND).encode(),
    "other-error": ErrorResponse(AttOpcode.WRITE_REQUEST, 3, 0x80).encode(),
}


@settings(max_examples=300, deadline=None)
@given(st.lists(_STEP, max_size=40))
def test_any_sequence_keeps_the_transaction_rule(steps: list[tuple[str, object]]) -> None:
    """However requests, responses, the peer's requests, indications, confirmations and
    timeouts interleave: never two of our requests (or indications) in flight, nothing sent
    after a timeout, no transition the table refuses, and every request and indication
    answered exactly once by the time the link goes."""
    b = bearer(request_queue=4, indication_queue=4)
    tokens = itertools.count(1)
    asked: set[int] = set()
    answered: list[int] = []
    indicated: set[int] = set()
    delivered: list[int] = []
    in_flight = indications_in_flight = 0
    now = 0.0

    def take(outputs: BearerOutputs) -> None:
        nonlocal in_flight, indications_in_flight
        answered.extend(c.token for c in answers(outputs))
        delivered.extend(o.ticket for o in outputs if isinstance(o, Delivered))
        pdus = sent(outputs)
        if b.timed_out:
            assert (
                all(isinstance(p, HandleValueConfirmation | ErrorResponse) for p in pdus)
                or not pdus
            )
        in_flight += sum(isinstance(p, ReadRequest | WriteRequest) for p in pdus)
        indications_in_flight += sum(isinstance(p, HandleValueIndication) for p in pdus)

    for kind, argument in steps:
        now += 1.0
        timed_out_before = b.timed_out
        if kind == "request":
            token = next(tokens)
            asked.add(token)
            request = ReadRequest(3) if argument == 3 else WriteRequest(3, b"w")
            take(b.request("app", token, request, now))
        elif kind == "response":
            before = b.outstanding
            outputs = b.receive(_RESPONSES[str(argument)], now)
            if before is not None and answers(outputs):
                in_flight -= 1
            take(outputs)
        elif kind == "peer-request":
            take(b.receive(read(int(str(argument))), now))
        elif kind == "respond":
            take(b.respond(ReadResponse(b"v")))
        elif kind == "indicate":
            ticket = next(tokens)
            indicated.add(ticket)
            take(b.indicate(ticket, 0x10, b"i", now))
        elif kind == "confirm":
            had = b.indication is not None
            outputs = b.receive(HandleValueConfirmation().encode(), now)
            if had and not timed_out_before:
                indications_in_flight -= 1
            take(outputs)
        elif kind == "command":
            take(b.command("app", next(tokens), WriteCommand(3, b"c")))
        elif kind == "l2cap-confirms":
            take(b.sent(int(str(argument))))
        else:
            outputs = b.timer_expired(str(argument), now)
            take(outputs)
            if b.timed_out:
                in_flight = indications_in_flight = 0
        if timed_out_before:
            assert b.timed_out
        assert in_flight <= 1 and indications_in_flight <= 1
    take(b.close("link lost"))
    assert sorted(answered) == sorted(asked)
    assert sorted(delivered) == sorted(indicated)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.binary(max_size=40), att_strategies.pdus.map(lambda pdu: pdu.encode())),
        max_size=30,
    ),
    st.booleans(),
)
def test_whatever_the_peer_sends_the_bearer_answers_or_drops(
    received: list[bytes], enhanced: bool
) -> None:
    """Arbitrary octets and PDUs of every kind, with our request and indication waiting:
    never an exception, at most one answer of ours per request of the peer's, and our own
    request still answered exactly once."""
    b = AttBearer(LINK, GattConfig(), bearer=0x40 if enhanced else 0, mtu=64 if enhanced else 23)
    outputs = b.request("app", 1, ReadRequest(3), 0.0) + b.indicate(2, 0x10, b"v", 0.0)
    for n, data in enumerate(received):
        step = b.receive(data, float(n))
        outputs += step
        to_answer = [o for o in step if isinstance(o, ServerRequest | ServerDecodeError)]
        pending = b.states[Flow.PEER_REQUEST] is Transaction.PENDING
        # Only a request (never a command) leaves one answer owed, and at most one.
        owed = [o for o in to_answer if not isinstance(o, ServerRequest) or is_request(o.pdu)]
        assert len(owed) == pending
        if pending:
            outputs += b.respond(ErrorResponse(0x0A, 0, AttErrorCode.UNLIKELY_ERROR))
    outputs += b.close("link lost")
    assert [c.token for c in answers(outputs)] == [1]
    assert [o.ticket for o in outputs if isinstance(o, Delivered)] == [2]
