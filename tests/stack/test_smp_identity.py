"""Addresses and identities in LE pairing between two bluetrio stacks on the virtual
controller (Core 5.4 Vol 3 Part H 2.2.3, 2.2.7, 2.2.8, 3.6.4, 3.6.5): each link pairs with
the addresses it was made with (a static random address, a resolvable private one), each
side distributes its identity address and btm's IRK, the peer resolves our next RPA with it,
and a peer that bonded over a static random address with another identity is found by its
bond when it connects again, in both roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from bluetrio import crypto
from bluetrio.actors.btm.config import StackConfig
from bluetrio.actors.runtime import Actor
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.core import SmpCore
from bluetrio.address import Address, AddressType
from bluetrio.bonds import Bond
from bluetrio.controller.air import Air
from bluetrio.keystore import JsonKeyStore, MemoryKeyStore
from bluetrio.messages.btm import LinkTransport
from bluetrio.stack import Stack
from bluetrio.testing import open_stack_pair
from bluetrio.testing.pair import open_virtual_stack

STATIC = Address.parse("C3:11:22:33:44:55", AddressType.RANDOM)
PUBLIC_A = Address.parse("00:AA:00:00:00:01")
PUBLIC_B = Address.parse("00:BB:00:00:00:02")
ROTATION = 60.0


class Stores:
    """The key store each stack made for itself, kept for the test to read."""

    def __init__(self) -> None:
        self.made: list[MemoryKeyStore] = []

    def __call__(self, address: Address) -> MemoryKeyStore:
        store = MemoryKeyStore(address)
        self.made.append(store)
        return store

    async def bond(self) -> Bond:
        (bond,) = await self.made[-1].list()
        return bond


def options(config: StackConfig, stores: Stores, *, secure: bool = True) -> dict[str, Any]:
    smp = SmpCore(SmpConfig(secure_connections=secure))
    return {"config": config, "keystore": stores, "pairable": True, "extra_layers": [Actor(smp)]}


def on_air(stack: Stack) -> Address:
    """The address the stack transmits with now."""
    assert stack.btm is not None
    return stack.btm.own_address()


def local_irk(stack: Stack) -> bytes:
    assert stack.btm is not None and stack.btm.local_irk is not None
    return stack.btm.local_irk


@pytest.mark.parametrize("secure", [True, False], ids=["sc", "legacy"])
@pytest.mark.parametrize("static_central", [True, False], ids=["static-central", "rpa-central"])
async def test_a_static_random_and_a_private_stack_pair_with_their_link_addresses(
    autojump_clock: MockClock, secure: bool, static_central: bool
) -> None:
    """c1 and f5/f6 take each side's address on the link: a stack that used its public
    address in them instead fails Confirm Value (legacy) or the DHKey check (SC)."""
    static_stores, private_stores = Stores(), Stores()
    static_side = options(StackConfig(static_address=STATIC), static_stores, secure=secure)
    private_side = options(StackConfig(privacy=True), private_stores, secure=secure)
    async with open_stack_pair(static_side, private_side) as (s, r):
        public_s, public_r = (await s.ready()).address, (await r.ready()).address
        rpa = on_air(r)
        assert rpa.is_resolvable_private and on_air(s) == STATIC
        central, peripheral = (s, r) if static_central else (r, s)
        target = on_air(peripheral)
        async with (
            peripheral.advertise(),
            central.connect(target) as link,
            peripheral.accept(LinkTransport.LE) as peer,
        ):
            assert link.local_address == on_air(central) and peer.local_address == target
            assert peer.address == on_air(central)
            with trio.fail_after(30):
                result = await link.pair()
            assert result.secure_connections is secure and link.encrypted
            assert peer.encrypted
        # Each side distributed its identity and btm's IRK (3.6.4, 3.6.5).
        bond_at_r, bond_at_s = await private_stores.bond(), await static_stores.bond()
        assert bond_at_r.peer_address == STATIC and bond_at_r.local_address == public_r
        assert bond_at_r.peer_keys.irk == local_irk(s)
        assert bond_at_s.peer_address == public_r and bond_at_s.local_address == public_s
        assert bond_at_s.peer_keys.irk == local_irk(r)
        assert bond_at_s.peer_link_address == rpa
        assert bond_at_s.local_keys.identity_address == STATIC


async def test_the_peer_resolves_our_next_rpa_with_the_irk_we_distributed(
    autojump_clock: MockClock,
) -> None:
    private_stores, plain_stores = Stores(), Stores()
    private = options(StackConfig(privacy=True, rpa_rotation=ROTATION), private_stores)
    async with open_stack_pair(private, options(StackConfig(), plain_stores)) as (r, p):
        identity = (await r.ready()).address
        first = on_air(r)
        async with r.advertise(), p.connect(first) as link, r.accept(LinkTransport.LE):
            await link.pair()
        irk = (await plain_stores.bond()).peer_keys.irk
        assert irk == local_irk(r)
        await trio.sleep(ROTATION + 1)
        second = on_air(r)
        assert second != first and second.is_resolvable_private
        assert crypto.resolve_rpa(irk, bytes(reversed(second.value)))
        # p's btm resolves it: the link is to r's identity, and the bond encrypts it.
        async with r.advertise(), p.connect(second) as link, r.accept(LinkTransport.LE):
            assert link.address == second and link.identity == identity
            again = await link.pair()
            assert again.used_stored_key and link.encrypted


async def test_our_irk_outlives_a_restart_through_the_bonds(
    autojump_clock: MockClock, tmp_path: Path
) -> None:
    """The IRK distributed to a bonded peer comes back from the key store after a restart,
    so the peer still resolves our RPAs (3.6.4)."""
    air = Air(name="restart")
    private = StackConfig(privacy=True, public_address=PUBLIC_A)

    def store(address: Address) -> JsonKeyStore:
        return JsonKeyStore.in_directory(tmp_path, address)

    plain_stores = Stores()
    plain = options(StackConfig(public_address=PUBLIC_B), plain_stores)
    async with open_virtual_stack(air, **plain) as p:
        async with open_virtual_stack(air, config=private, keystore=store, pairable=True) as r:
            await r.ready()
            async with r.advertise(), p.connect(on_air(r)) as link, r.accept(LinkTransport.LE):
                await link.pair()
            given = local_irk(r)
        async with open_virtual_stack(air, config=private, keystore=store, pairable=True) as r:
            await r.ready()
            assert local_irk(r) == given
            address = on_air(r)
            assert crypto.resolve_rpa(given, bytes(reversed(address.value)))
            async with r.advertise(), p.connect(address) as link, r.accept(LinkTransport.LE):
                assert link.identity == PUBLIC_A
                again = await link.pair()
                assert again.used_stored_key
        assert (await plain_stores.bond()).peer_keys.irk == given


@pytest.mark.parametrize("we_central", [True, False], ids=["we-central", "we-peripheral"])
async def test_a_peer_on_a_static_address_with_a_public_identity_is_found_by_its_bond(
    autojump_clock: MockClock, we_central: bool
) -> None:
    """The peer connects with a static random address and distributes its public address as
    identity: when it connects again with the same static address, its bond serves (the
    central re-encrypts, the peripheral answers the LTK request) instead of a new pairing
    that btm refuses as another device's identity."""
    our_stores, their_stores = Stores(), Stores()
    ours = options(StackConfig(), our_stores)
    theirs = options(StackConfig(static_address=STATIC, static_identity=False), their_stores)
    async with open_stack_pair(ours, theirs) as (we, they):
        our_public, their_public = (await we.ready()).address, (await they.ready()).address
        central, peripheral = (we, they) if we_central else (they, we)
        target = on_air(peripheral)
        for attempt in range(2):
            async with (
                peripheral.advertise(),
                central.connect(target) as link,
                peripheral.accept(LinkTransport.LE) as peer,
            ):
                ours_link = link if we_central else peer
                assert ours_link.address == STATIC
                result = await link.pair()
                assert result.used_stored_key is (attempt == 1) and link.encrypted
                assert peer.encrypted
                if attempt == 1:
                    assert ours_link.identity == their_public and ours_link.peer == their_public
        bond = await our_stores.bond()
        assert bond.peer_address == their_public and bond.peer_link_address == STATIC
        assert (await their_stores.bond()).peer_address == our_public
