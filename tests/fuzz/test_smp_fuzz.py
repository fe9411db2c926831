"""Hypothesis drives arbitrary SMP PDUs into both roles in every phase of a pairing: no
exception, no hang (everything settles synchronously), and a pairing that fails leaves no
key behind (Core 5.4 Vol 3 Part H 3.3-3.6)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.states import Phase
from bluetrio.messages import smp
from bluetrio.messages.btm_security import IoCapability, LeResponderKeyReq
from bluetrio.messages.smp_service import LeSecurityRequirement, SmpBondInd, SmpPairCnf
from bluetrio.testing.smp_cores import HANDLE, SmpCorePair

# Well-formed PDUs of every code, and raw octets (bad lengths, unknown codes, reserved values).
well_formed = st.sampled_from(list(smp.PDU_CLASSES.values())).flatmap(
    lambda cls: st.integers(0, 1000).map(lambda seed: cls.example(seed).to_bytes())
)
raw = st.binary(max_size=70)
mutated = well_formed.flatmap(
    lambda pdu: st.tuples(st.integers(0, len(pdu) - 1), st.integers(0, 255)).map(
        lambda change: pdu[: change[0]] + bytes((change[1],)) + pdu[change[0] + 1 :]
    )
)
pdus = st.one_of(well_formed, raw, mutated)

configs = st.builds(
    SmpConfig,
    io_capability=st.sampled_from(list(IoCapability)),
    secure_connections=st.booleans(),
    keypress=st.booleans(),
    min_key_size=st.just(7),
    oob_available=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    a=configs,
    b=configs,
    mitm=st.booleans(),
    cut=st.integers(0, 12),
    victim=st.sampled_from("ab"),
    injected=st.lists(pdus, min_size=1, max_size=6),
)
def test_arbitrary_pdus_in_every_phase(
    a: SmpConfig,
    b: SmpConfig,
    mitm: bool,
    cut: int,
    victim: str,
    injected: list[bytes],
) -> None:
    pair = SmpCorePair(a, b)
    sent = {"n": 0}

    # The pairing runs normally for ``cut`` PDUs, then stops: the victim is left in
    # whatever phase that is, and receives the injected PDUs.
    def drop(side: str, pdu: bytes) -> bool:
        sent["n"] += 1
        return sent["n"] > cut

    pair.drop = drop
    pair.open_link()
    pair.pair("a", LeSecurityRequirement(mitm=mitm, min_key_size=7))
    for pdu in injected:
        pair.inject(victim, pdu)
    for side in "ab":
        context = pair.core(side).links[HANDLE]
        assert context.expected <= frozenset(smp.SmpCode)
        results = [m for m in pair.emitted[side] + pair.answered[side] if isinstance(m, SmpPairCnf)]
        bonds = [m for m in pair.emitted[side] if isinstance(m, SmpBondInd)]
        ended = context.phase in (Phase.IDLE, Phase.TIMED_OUT)
        if results and results[-1].status != 0 and ended:
            # The last pairing failed and none runs: no key is left with btm, no bond came
            # of it (a bond only with a pairing that succeeded).
            assert len(bonds) <= sum(r.status == 0 for r in results)
            given_keys = [m for m in pair.emitted[side] if isinstance(m, LeResponderKeyReq)]
            assert not given_keys or given_keys[-1].ltk is None
        if context.phase in (Phase.IDLE, Phase.TIMED_OUT):
            assert context.ltk is None and context.dhkey is None and context.tk is None
    # The link goes down: every context and timer goes with it.
    pair.close_link()
    assert not pair.a.links and not pair.b.links
    assert not pair.timers["a"] and not pair.timers["b"]
