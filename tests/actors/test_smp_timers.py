"""The Security Manager's timers in the running stack, under MockClock: the 30 s SMP timeout
(Core 5.4 Vol 3 Part H 3.4) and the repeated-attempts wait (2.3.6)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio
from trio.testing import MockClock

from bluetrio.actors.faults import FaultPolicy, Hop
from bluetrio.actors.runtime import Actor
from bluetrio.actors.smp.core import SmpCore
from bluetrio.actors.smp.pairing import SMP_TIMEOUT
from bluetrio.actors.smp.states import Phase
from bluetrio.actors.topology import Layer
from bluetrio.errors import PairingError
from bluetrio.messages.base import Message
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.l2cap_service import L2caFixedDataReq
from bluetrio.messages.smp import SmpCode
from bluetrio.testing import open_stack_pair


def smp_pdu(code: SmpCode) -> Callable[[Hop], bool]:
    def matches(hop: Hop) -> bool:
        message = hop.message
        return (
            hop.sender == Layer.SMP
            and isinstance(message, L2caFixedDataReq)
            and message.payload[:1] == bytes((code,))
        )

    return matches


async def test_an_unanswered_pairing_times_out_after_30_s_and_smp_stays_off_the_link(
    autojump_clock: MockClock,
) -> None:
    silent = FaultPolicy()
    # The peripheral's Security Manager answers nothing after the Pairing Response.
    silent.drop(
        lambda hop: (
            hop.sender == Layer.SMP
            and isinstance(hop.message, L2caFixedDataReq)
            and hop.message.payload[:1] != bytes((SmpCode.PAIRING_RESPONSE,))
        )
    )
    smp = SmpCore()
    async with open_stack_pair(
        {"extra_layers": [Actor(smp)]}, {"faults": silent, "pairable": True}
    ) as (a, b):
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            started = trio.current_time()
            with pytest.raises(PairingError, match="timeout"):
                await link.pair()
            assert trio.current_time() - started == pytest.approx(SMP_TIMEOUT, abs=0.5)
            assert smp.links[link.handle].phase is Phase.TIMED_OUT
            # No SMP on this link until it reconnects (3.4): refused at once.
            refused_at = trio.current_time()
            with pytest.raises(PairingError):
                await link.pair()
            assert trio.current_time() == refused_at
            await link.disconnect()
        assert not smp.links


async def test_a_failed_attempt_makes_the_next_wait_then_it_pairs(
    autojump_clock: MockClock,
) -> None:
    tamper = FaultPolicy()

    def zero_nonce(message: Message) -> Message:
        assert isinstance(message, L2caFixedDataReq)
        return L2caFixedDataReq(message.handle, message.cid, message.payload[:1] + bytes(16))

    # The central's first Pairing Random is replaced: the peripheral's DHKey check fails.
    tamper.replace(smp_pdu(SmpCode.PAIRING_RANDOM), zero_nonce, times=1)
    verifier = SmpCore()
    async with open_stack_pair(
        {"faults": tamper}, {"extra_layers": [Actor(verifier)], "pairable": True}
    ) as (a, b):
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            with pytest.raises(PairingError):
                await link.pair()
            peer = next(iter(verifier.links.values())).peer
            wait = verifier.attempts.wait_remaining(peer, trio.current_time())
            assert wait == pytest.approx(2.0, abs=0.1)
            # Within the wait: Repeated Attempts.
            with pytest.raises(PairingError, match=r"(?i)repeated"):
                await link.pair()
            await trio.sleep(wait)
            result = await link.pair()
            assert link.encrypted and not result.used_stored_key
            assert verifier.attempts.wait_remaining(peer, trio.current_time()) == 0
