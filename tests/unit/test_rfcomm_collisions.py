"""Both devices open RFCOMM's multiplexer at once (its L2CAP channels cross, RFCOMM 1.2 5.2
and Bluedroid's resolution of it): two cores on one stand-in L2CAP with a latency, the
random back-offs chosen by the test, so each timing is run exactly: back-offs far apart, equal,
and crossing within one round trip (both sides give way, then retry once)."""

from __future__ import annotations

import pytest

from bluetrio.actors.rfcomm.states import MuxState
from bluetrio.messages.rfcomm_service import (
    RfcommConnectCnf,
    RfcommConnectInd,
    RfcommConnectReq,
    RfcommRegisterReq,
)
from bluetrio.testing.rfcomm_core import HANDLE, LinkedCores

CHANNEL = 7
LATENCY = 0.01


def collide(backoff_a: list[float], backoff_b: list[float]) -> LinkedCores:
    """Both sides register channel 7 and open a DLC to the other's at the same instant."""
    cores = LinkedCores((backoff_a, backoff_b), latency=LATENCY)
    for side in ("a", "b"):
        cores.deliver(side, RfcommRegisterReq(1, CHANNEL))
    for side in ("a", "b"):
        cores.deliver(side, RfcommConnectReq(2, HANDLE, CHANNEL))
    cores.run(until=1.0)
    for side in ("a", "b"):  # each holds the other's channel and waits out its back-off
        mcb = cores.mcb(side)
        assert mcb is not None and mcb.state is MuxState.WAIT_CONN_CNF
        assert mcb.pending_cid is not None
    return cores


def assert_one_multiplexer_carries_both(cores: LinkedCores) -> None:
    a, b = cores.mcb("a"), cores.mcb("b")
    assert a is not None and b is not None
    assert a.state is b.state is MuxState.CONNECTED
    assert a.initiator != b.initiator  # one channel, opened by one of them
    for side in ("a", "b"):
        (opened,) = cores.taken(side, RfcommConnectCnf)
        assert opened.error is None
        (served,) = cores.taken(side, RfcommConnectInd)
        assert served.channel == CHANNEL
    assert len({d.dlci for d in a.dlcs.values()}) == 2  # ours and the peer's DLC


@pytest.mark.parametrize(
    ("backoff_a", "backoff_b"),
    [
        ([3.0], [9.0]),  # a yields first, b's accepted channel wins
        ([9.0], [3.0]),  # the other way round
        ([5.0], [5.0 + 1.5 * LATENCY]),  # b's runs out just after a's acceptance came
    ],
    ids=["a yields", "b yields", "just apart"],
)
def test_back_offs_far_apart_resolve_without_a_retry(
    backoff_a: list[float], backoff_b: list[float]
) -> None:
    cores = collide(backoff_a, backoff_b)
    cores.run(until=30.0)
    assert_one_multiplexer_carries_both(cores)
    yielder = "a" if backoff_a[0] < backoff_b[0] else "b"
    mcb = cores.mcb(yielder)
    assert mcb is not None and not mcb.initiator and mcb.may_retry  # no retry needed


@pytest.mark.parametrize(
    ("backoff_a", "backoff_b"),
    [
        ([5.0, 2.0], [5.0, 6.0]),  # equal: both expire at the same instant
        ([5.0, 2.0], [5.0 + LATENCY / 2, 6.0]),  # crossing: within one one-way latency
        ([5.0 + LATENCY / 2, 6.0], [5.0, 2.0]),  # crossing, b first
    ],
    ids=["equal", "crossing", "crossing b first"],
)
def test_back_offs_that_expire_together_converge_after_one_retry(
    backoff_a: list[float], backoff_b: list[float]
) -> None:
    # Regression: both sides gave their own channel up for the other's, each disconnected
    # the other's, and every DLC failed.
    cores = collide(backoff_a, backoff_b)
    cores.run(until=6.0)
    for side in ("a", "b"):  # both gave way: each waits its retry back-off
        mcb = cores.mcb(side)
        assert mcb is not None and mcb.retrying and mcb.waiting
        assert not cores.taken(side, RfcommConnectCnf)
    cores.run(until=30.0)
    assert_one_multiplexer_carries_both(cores)
    first = "a" if backoff_a[1] < backoff_b[1] else "b"
    mcb = cores.mcb(first)
    assert mcb is not None and mcb.initiator  # the shorter retry back-off opened it


def test_a_second_crossing_gives_up_with_the_reason() -> None:
    cores = collide([5.0, 4.0, 6.0], [5.0, 4.0, 6.0])
    cores.run(until=60.0)
    for side in ("a", "b"):
        (failed,) = cores.taken(side, RfcommConnectCnf)
        assert failed.error is not None
        assert cores.mcb(side) is None
