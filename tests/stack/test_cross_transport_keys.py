"""Cross-transport key derivation between two dual-mode bluetrio stacks on the virtual
controller (Core 5.4 Vol 3 Part H 2.4.2.4, 2.4.2.5): a Secure Connections pairing on one
transport bonds the other, and a later connection on the other transport encrypts with the
derived key, with no pairing there."""

from __future__ import annotations

import attrs
import trio
from key_stores import Stores
from trio.testing import MockClock

from bluetrio.actors.btm.config import SecurityConfig, StackConfig
from bluetrio.address import Address
from bluetrio.bonds import LinkKeyType, Transport
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.btm_security import AssociationModel
from bluetrio.stack import Stack
from bluetrio.testing import open_stack_pair

DERIVING = StackConfig(security=SecurityConfig(cross_transport_key_derivation=True))


def options(stores: Stores, config: StackConfig = DERIVING, **more: object) -> dict[str, object]:
    return {"keystore": stores, "config": config, **more}


async def address_of(stack: Stack) -> Address:
    return (await stack.ready()).address


async def test_le_pairing_gives_a_link_key_that_authenticates_bredr_with_no_pairing(
    autojump_clock: MockClock,
) -> None:
    a_stores, b_stores = Stores(), Stores()
    async with open_stack_pair(options(a_stores), options(b_stores, pairable=True)) as (a, b):
        a_address, b_address = await address_of(a), await address_of(b)
        async with b.advertise(), a.connect(b_address) as link, b.accept(LinkTransport.LE):
            with trio.fail_after(30):
                result = await link.pair()
            assert result.transport is Transport.LE and result.secure_connections
            # The peripheral completes once the central's keys reach it: wait on the link.
            for stores, peer in ((a_stores, b_address), (b_stores, a_address)):
                derived = await stores.bond(peer, Transport.BR_EDR)
                assert derived.derived_from is Transport.LE
                assert derived.link_key is not None
                assert derived.link_key.type is LinkKeyType.UNAUTHENTICATED_P256
        a_key = (await a_stores.bond(b_address, Transport.BR_EDR)).link_key
        b_key = (await b_stores.bond(a_address, Transport.BR_EDR)).link_key
        assert a_key is not None and b_key is not None and a_key.value == b_key.value
        async with a.connect(b_address, transport=LinkTransport.BR_EDR) as bredr:
            with trio.fail_after(30):
                again = await bredr.pair()
            # Authenticated with the derived key: no Secure Simple Pairing ran.
            assert again.used_stored_key and again.model is None
            assert again.key_type is LinkKeyType.UNAUTHENTICATED_P256
            assert bredr.encrypted and again.key_size == 16


async def test_bredr_pairing_gives_an_ltk_that_encrypts_le_with_no_pairing(
    autojump_clock: MockClock,
) -> None:
    a_stores, b_stores = Stores(), Stores()
    async with open_stack_pair(options(a_stores), options(b_stores, pairable=True)) as (a, b):
        a_address, b_address = await address_of(a), await address_of(b)
        async with a.connect(b_address, transport=LinkTransport.BR_EDR) as bredr:
            with trio.fail_after(30):
                result = await bredr.pair()
            assert result.model is AssociationModel.JUST_WORKS and not result.used_stored_key
            # The central runs SMP over BR/EDR once the link is encrypted (0x0007).
            a_le = await a_stores.bond(b_address, Transport.LE)
            b_le = await b_stores.bond(a_address, Transport.LE)
        assert a_le.derived_from is b_le.derived_from is Transport.BR_EDR
        assert a_le.peer_keys.ltk is not None and a_le.peer_keys.ltk == b_le.peer_keys.ltk
        assert a_le.secure_connections and not a_le.authenticated and a_le.key_size == 16
        # Identity keys went over BR/EDR too (3.6.1).
        assert a_le.peer_keys.irk is not None and b_le.peer_keys.irk is not None
        assert a_le.peer_keys.identity_address == b_address
        async with b.advertise(), a.connect(b_address) as link, b.accept(LinkTransport.LE):
            with trio.fail_after(30):
                again = await link.pair()
            assert again.used_stored_key and again.model is None
            assert link.encrypted and again.key_size == 16


async def test_without_derivation_no_bond_appears_on_the_other_transport(
    autojump_clock: MockClock,
) -> None:
    plain = attrs.evolve(DERIVING, security=SecurityConfig())
    a_stores, b_stores = Stores(), Stores()
    first, second = options(a_stores, plain), options(b_stores, plain, pairable=True)
    async with open_stack_pair(first, second) as (a, b):
        b_address = await address_of(b)
        async with a.connect(b_address, transport=LinkTransport.BR_EDR) as bredr:
            with trio.fail_after(30):
                await bredr.pair()
            await trio.sleep(5)
        assert [bond.transport for bond in await a_stores.made[0].list()] == [Transport.BR_EDR]
