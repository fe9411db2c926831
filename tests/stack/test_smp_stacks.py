"""Two bluetrio stacks pair over LE on the virtual controller with the real Security Manager
(Core 5.4 Vol 3 Part H): link.pair() on the central, the peripheral answering the Pairing
Request, encryption through btm (LE_Enable_Encryption / LE_Long_Term_Key_Request_Reply),
the bonds in both key stores, and re-encryption with the stored LTK on reconnection."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio
from key_stores import Stores
from trio.testing import MockClock

from bluetrio import L2capConnectionRefused
from bluetrio.actors.btm.config import SecurityConfig, StackConfig
from bluetrio.actors.faults import FaultPolicy
from bluetrio.actors.runtime import Actor
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.core import SmpCore
from bluetrio.actors.smp.pairing import SMP_TIMEOUT
from bluetrio.actors.smp.states import Phase
from bluetrio.address import Address
from bluetrio.bonds import Transport
from bluetrio.errors import PairingError
from bluetrio.messages.btm import LinkTransport, SecurityLevel
from bluetrio.messages.btm_security import AssociationModel, IoCapability, SecurityRequirement
from bluetrio.messages.l2cap import LeCreditConnectionResult
from bluetrio.messages.l2cap_service import L2caFixedDataReq
from bluetrio.messages.smp import SmpCode
from bluetrio.messages.smp_service import SmpBondInd
from bluetrio.pairing import PairingDelegate
from bluetrio.testing import open_stack_pair


async def test_sc_just_works_bonds_both_sides_then_reconnection_reuses_the_ltk(
    autojump_clock: MockClock,
) -> None:
    central_store, peripheral_store = Stores(), Stores()
    first = {"keystore": central_store}
    second = {"keystore": peripheral_store, "pairable": True}
    async with open_stack_pair(first, second) as (a, b):
        central, address = (await a.ready()).address, (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE) as peer:
            with trio.fail_after(30):
                result = await link.pair()
            assert result.transport is Transport.LE and result.model is AssociationModel.JUST_WORKS
            assert result.secure_connections and not result.authenticated
            assert result.key_size == 16 and not result.used_stored_key
            assert link.encrypted and link.security_level is SecurityLevel.ENCRYPTED
            assert peer.encrypted
            (central_bond,) = await central_store.made[0].list()
            # The peripheral's pairing completes when the central's last keys arrive.
            peripheral_bond = await peripheral_store.bond(central, Transport.LE)
            assert central_bond.peer_keys.ltk == peripheral_bond.local_keys.ltk
            assert central_bond.peer_keys.ltk is not None
            assert central_bond.peer_keys.irk is not None and peripheral_bond.peer_keys.irk
            assert not central_bond.debug_key
            await link.disconnect()
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            with trio.fail_after(30):
                again = await link.pair()
            assert again.used_stored_key and link.encrypted


@pytest.mark.parametrize("reversed_roles", [False, True], ids=["same-roles", "reversed-roles"])
async def test_legacy_bond_re_encrypts_with_the_key_its_ediv_and_rand_name(
    autojump_clock: MockClock, reversed_roles: bool
) -> None:
    """A legacy bond: the central encrypts with the LTK the peripheral distributed, named by
    its EDIV and Rand (Vol 3 Part H 2.4.4.2), and the peripheral answers with that key. With
    the roles reversed later, the key the old central distributed serves. The virtual
    controller ends the link with a MIC failure when the two sides hold different keys (the
    failure Bumble's host caused by answering with the central's key)."""
    central_store, peripheral_store = Stores(), Stores()
    legacy = SmpConfig(secure_connections=False)
    first = {"keystore": central_store, "extra_layers": [Actor(SmpCore(legacy))]}
    second = {
        "keystore": peripheral_store,
        "pairable": True,
        "extra_layers": [Actor(SmpCore(legacy))],
    }
    async with open_stack_pair(first, second) as (a, b):
        address_a, address_b = (await a.ready()).address, (await b.ready()).address
        async with b.advertise(), a.connect(address_b) as link, b.accept(LinkTransport.LE):
            with trio.fail_after(30):
                result = await link.pair()
            assert not result.secure_connections and not result.used_stored_key
            await link.disconnect()
        (central_bond,) = await central_store.made[0].list()
        (peripheral_bond,) = await peripheral_store.made[0].list()
        for distributed in (central_bond.peer_keys.ltk, central_bond.local_keys.ltk):
            assert distributed is not None
            assert distributed.ediv != 0 or distributed.rand != bytes(8)
        assert central_bond.peer_keys.ltk == peripheral_bond.local_keys.ltk
        assert central_bond.local_keys.ltk == peripheral_bond.peer_keys.ltk
        assert central_bond.peer_keys.ltk != central_bond.local_keys.ltk
        central, peripheral, target = (b, a, address_a) if reversed_roles else (a, b, address_b)
        async with (
            peripheral.advertise(),
            central.connect(target) as link,
            peripheral.accept(LinkTransport.LE) as peer,
        ):
            with trio.fail_after(30):
                again = await link.pair()
            assert again.used_stored_key and link.encrypted
            assert peer.encrypted and link.connected


class Typist(PairingDelegate):
    """Shows a passkey, or types the one the other side showed."""

    shown: list[int]

    def __init__(self, io_capability: IoCapability, shown: list[int]) -> None:
        super().__init__(io_capability)
        self.shown = shown

    async def display_passkey(self, peer: Address, passkey: int) -> None:
        self.shown.append(passkey)

    async def enter_passkey(self, peer: Address) -> int | None:
        with trio.fail_after(10):
            while not self.shown:
                await trio.sleep(0.1)
        return self.shown[0]

    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        return True


@pytest.mark.parametrize("secure", [True, False], ids=["sc", "legacy"])
async def test_passkey_entry_over_the_air(autojump_clock: MockClock, secure: bool) -> None:
    shown: list[int] = []
    # The central asks for MITM protection (its AuthReq, 3.5.1).
    smp_a = SmpCore(
        SmpConfig(io_capability=IoCapability.KEYBOARD_ONLY, mitm=True, secure_connections=secure)
    )
    smp_b = SmpCore(SmpConfig(io_capability=IoCapability.DISPLAY_ONLY, secure_connections=secure))
    first = {
        "pairing_delegate": Typist(IoCapability.KEYBOARD_ONLY, shown),
        "extra_layers": [Actor(smp_a)],
    }
    second = {
        "pairing_delegate": Typist(IoCapability.DISPLAY_ONLY, shown),
        "extra_layers": [Actor(smp_b)],
        "pairable": True,
    }
    async with open_stack_pair(first, second) as (a, b):
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            with trio.fail_after(60):
                result = await link.pair()
            assert result.model is AssociationModel.PASSKEY_ENTRY and result.authenticated
            assert result.secure_connections is secure
            assert link.security_level >= SecurityLevel.AUTHENTICATED
            assert len(shown) == 1


async def test_a_peripheral_not_pairable_refuses(autojump_clock: MockClock) -> None:
    async with open_stack_pair({}, {"pairable": False}) as (a, b):
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):
            with trio.fail_after(30), pytest.raises(PairingError):
                await link.pair()
            assert not link.encrypted


async def test_a_security_request_answered_with_a_short_stored_key_fails_at_once(
    autojump_clock: MockClock,
) -> None:
    """The peripheral's SPSM needs a 16-octet key; the central answers the Security Request
    by encrypting with its 7-octet bond (Vol 3 Part H 2.4.6: a key size is nothing the
    request can say). The peripheral refuses the channel with "key size too short" at once,
    not after the 30 s SMP timeout, which would have ended SMP on the link (3.4)."""
    short_keys = StackConfig(security=SecurityConfig(pairable=True, min_encryption_key_size=7))
    smp_b = SmpCore(SmpConfig(min_key_size=7, max_key_size=7))
    first = {"config": short_keys, "extra_layers": [Actor(SmpCore(SmpConfig(min_key_size=7)))]}
    second = {"config": short_keys, "extra_layers": [Actor(smp_b)]}
    async with open_stack_pair(first, second) as (a, b):
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE) as peer:
            assert (await link.pair()).key_size == 7
            async with b.l2cap_listen(spsm=0x0081, security=SecurityRequirement(min_key_size=16)):
                asked = trio.current_time()
                with pytest.raises(L2capConnectionRefused) as refused:
                    await link.l2cap_connect(spsm=0x0081)
                assert trio.current_time() - asked < SMP_TIMEOUT
            assert refused.value.result == LeCreditConnectionResult.ENCRYPTION_KEY_SIZE_TOO_SHORT
            assert smp_b.links[peer.handle].phase is Phase.IDLE and link.encrypted


def _central_signing_key_late(faults: FaultPolicy) -> None:
    """The central's last key (Signing Information, 3.6.6) waits in its own stack a second
    before L2CAP takes it, as behind a busy ACL queue."""
    faults.delay(
        lambda hop: (
            hop.sender == "smp"
            and isinstance(hop.message, L2caFixedDataReq)
            and hop.message.payload[:1] == bytes([SmpCode.SIGNING_INFORMATION])
        ),
        seconds=1,
    )


def _peripheral_bond_late(faults: FaultPolicy) -> None:
    """The peripheral's SMP completes, but its bond reaches btm a second later, after btm
    heard of the disconnection."""
    faults.delay(lambda hop: hop.to == "btm" and isinstance(hop.message, SmpBondInd), seconds=1)


@pytest.mark.parametrize("secure", [True, False], ids=["sc", "legacy"])
@pytest.mark.parametrize(
    ("central_faults", "peripheral_faults"),
    [(None, None), (_central_signing_key_late, None), (None, _peripheral_bond_late)],
    ids=["no-delay", "central-keys-queued", "peripheral-btm-hears-loss-first"],
)
async def test_both_sides_bond_when_the_central_leaves_as_soon_as_pair_returns(
    autojump_clock: MockClock,
    secure: bool,
    central_faults: Callable[[FaultPolicy], None] | None,
    peripheral_faults: Callable[[FaultPolicy], None] | None,
) -> None:
    """The central disconnects the moment link.pair() returns, with no pause. pair() returns
    once the controller took the central's last keys (as Bluedroid waits for them), and the
    peripheral keeps the bond its SMP completed even when btm hears of the disconnection
    first: both sides hold the bond, with every key each side distributed (3.6.1)."""
    central_store, peripheral_store = Stores(), Stores()
    smp = SmpConfig(secure_connections=secure, distribute_signing_key=True)
    first: dict[str, object] = {"keystore": central_store, "extra_layers": [Actor(SmpCore(smp))]}
    second: dict[str, object] = {
        "keystore": peripheral_store,
        "pairable": True,
        "extra_layers": [Actor(SmpCore(smp))],
    }
    for options, add_faults in ((first, central_faults), (second, peripheral_faults)):
        if add_faults is not None:
            faults = FaultPolicy()
            add_faults(faults)
            options["faults"] = faults
    async with open_stack_pair(first, second) as (a, b):
        central, peripheral = (await a.ready()).address, (await b.ready()).address
        async with b.advertise(), a.connect(peripheral) as link, b.accept(LinkTransport.LE):
            with trio.fail_after(30):
                result = await link.pair()
            assert result.secure_connections is secure
            await link.disconnect()
        at_peripheral = await peripheral_store.bond(central, Transport.LE)
        at_central = await central_store.bond(peripheral, Transport.LE)
        for bond, identity in ((at_peripheral, central), (at_central, peripheral)):
            assert bond.peer_keys.irk is not None and bond.peer_keys.identity_address == identity
            assert bond.peer_keys.csrk is not None and bond.local_keys.csrk is not None
            assert bond.peer_keys.ltk is not None
        assert at_central.peer_keys.ltk == at_peripheral.local_keys.ltk
        assert at_central.local_keys.ltk == at_peripheral.peer_keys.ltk
        assert at_central.peer_keys.csrk == at_peripheral.local_keys.csrk
        assert at_central.local_keys.csrk == at_peripheral.peer_keys.csrk
