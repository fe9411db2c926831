"""BTM's LE security service between two stacks on the virtual controller, with a stand-in
in SMP's place (it pairs by fiat: both sides are given the same key by the test).

What is real: ``link.pair()`` on an LE link reaching SMP's place as SmpPairReq with the bond
held, LE_Enable_Encryption with SMP's key (Vol 4 Part E 7.8.24), the peripheral's
LE_Long_Term_Key_Request answered with the key SMP provided or with the stored bond (7.8.25),
the controllers proving they hold the same key (a mismatch fails), Encryption Change reaching
SMP's place, the bond checked and stored in the key store, and the PairingResult.
"""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from bluetrio.actors.runtime import Actor
from bluetrio.address import Address
from bluetrio.bonds import LongTermKey, Transport
from bluetrio.errors import PairingError
from bluetrio.keystore import MemoryKeyStore
from bluetrio.messages.btm import LinkTransport, Role, SecurityLevel
from bluetrio.messages.btm_security import AssociationModel
from bluetrio.messages.smp_service import PAIRING_FAILED_STATUS
from bluetrio.testing import open_stack_pair
from bluetrio.testing.smp_stand_in import StandInSmp

KEY = LongTermKey(bytes(range(16)), ediv=0x2468, rand=bytes(range(8)))
OTHER_KEY = LongTermKey(bytes(range(1, 17)), ediv=0x2468, rand=bytes(range(8)))


async def test_link_pair_on_le_encrypts_with_smp_key_and_stores_the_bond_then_reuses_it(
    autojump_clock: MockClock,
) -> None:
    central_smp, peripheral_smp = StandInSmp(), StandInSmp(provide=KEY)
    central_store: list[MemoryKeyStore] = []

    def store(address: Address) -> MemoryKeyStore:
        central_store.append(MemoryKeyStore(address))
        return central_store[0]

    first = {"extra_layers": [Actor(central_smp)], "keystore": store}
    second = {"extra_layers": [Actor(peripheral_smp)], "keystore": MemoryKeyStore}
    async with open_stack_pair(first, second) as (a, b):
        central_smp.local = (await a.ready()).address
        peripheral_smp.local = address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE) as peer:
            result = await link.pair()
            assert result.transport is Transport.LE and result.key_type is None
            assert result.model is AssociationModel.JUST_WORKS and not result.used_stored_key
            assert result.secure_connections and not result.authenticated and not result.legacy
            assert result.key_size == 16
            assert result.distributed == ("peer LTK", "local LTK")
            assert link.encrypted and link.security_level is SecurityLevel.ENCRYPTED
            (request,) = central_smp.requests
            assert request.bond is None and request.role is Role.CENTRAL
            with trio.fail_after(5):
                await peripheral_smp.changed.wait()
            assert peripheral_smp.changes[-1].encrypted
            await trio.sleep(1)
            assert peer.encrypted
            (stored,) = await central_store[0].list()
            assert stored.peer_keys.ltk == KEY and stored.transport is Transport.LE
            assert [answer.accepted for answer in central_smp.bond_answers] == [True]
            assert [answer.accepted for answer in peripheral_smp.bond_answers] == [True]
            await link.disconnect()
        # Reconnected: the central's btm hands SMP the bond, whose LTK the peripheral's btm
        # finds in its own bond (nobody provides a key this time).
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            again = await link.pair()
            assert again.used_stored_key and again.model is None and link.encrypted
            held = central_smp.requests[-1].bond
            assert held is not None and held.peer_keys == stored.peer_keys


async def test_a_key_the_peripheral_does_not_hold_fails_the_pairing(
    autojump_clock: MockClock,
) -> None:
    central_smp, peripheral_smp = StandInSmp(key=OTHER_KEY), StandInSmp()
    async with open_stack_pair(
        {"extra_layers": [Actor(central_smp)]}, {"extra_layers": [Actor(peripheral_smp)]}
    ) as (a, b):
        central_smp.local = (await a.ready()).address
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            with pytest.raises(PairingError) as caught:
                await link.pair()
            assert caught.value.status == PAIRING_FAILED_STATUS
            assert not link.encrypted
