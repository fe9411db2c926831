"""The key store's side of the GATT state of bonded clients: the pairing service hands every
LE bond (CSRK, GATT state) to the layer that takes GattBondsLoadReq before the stack is the
application's, and keeps each GattBondStateStoreReq with its bond, in order."""

from __future__ import annotations

import trio
import trio.testing

from bluetrio.actors.btm.config import StackConfig
from bluetrio.actors.effects import Effects, Emit, Send
from bluetrio.actors.runtime import Actor
from bluetrio.actors.topology import LayerSpec
from bluetrio.address import Address, AddressType
from bluetrio.bonds import Bond, KeyDistribution, LinkKey, LinkKeyType, Transport
from bluetrio.keystore import MemoryKeyStore
from bluetrio.messages.base import Message
from bluetrio.messages.gatt_state import (
    GattBondedPeer,
    GattBondsLoadCnf,
    GattBondsLoadReq,
    GattBondState,
    GattBondStateStoreReq,
)
from bluetrio.stack import open_stack

LOCAL = Address.parse("00:1B:DC:00:00:01")
PEER = Address.parse("C0:11:22:33:44:55", AddressType.RANDOM)
CSRK = bytes(range(16))
STORED = GattBondState(cccds=((0x0009, 0x0002),), client_features=1, database_hash=bytes(16))
STATES = [GattBondState(cccds=((0x0009, 0x0002), (0x0012, n)), sign_counter=n) for n in (1, 2, 3)]


class GattStandIn:
    """Takes the bonded peers like the gatt layer; then reports three states in a row."""

    spec = LayerSpec("gatt-stand-in", handles=(GattBondsLoadReq,), emits=(GattBondStateStoreReq,))

    def __init__(self) -> None:
        self.loaded: list[GattBondsLoadReq] = []

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        assert isinstance(message, GattBondsLoadReq)
        self.loaded.append(message)
        changes: Effects = [Emit(GattBondStateStoreReq(PEER, state)) for state in STATES]
        return [*changes, Send(sender, GattBondsLoadCnf(message.token))]

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


async def test_the_bonds_go_to_the_gatt_layer_and_its_states_to_the_store(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryKeyStore(LOCAL)
    await store.save(Bond(LOCAL, PEER, Transport.LE, peer_keys=KeyDistribution(csrk=CSRK)))
    other = Address.parse("00:AA:BB:CC:DD:EE")
    key = LinkKey(bytes(16), LinkKeyType.UNAUTHENTICATED_P192)
    await store.save(Bond(LOCAL, other, Transport.BR_EDR, link_key=key))
    await store.save_gatt_state(PEER, STORED)
    gatt = GattStandIn()
    async with open_stack(
        "virtual",
        address=LOCAL,
        keystore=store,
        config=StackConfig(gatt=False),  # the stand-in takes the gatt actor's place
        extra_layers=[Actor(gatt)],
    ) as stack:
        with trio.fail_after(60):
            await stack.ready()
            # Loaded before the stack was handed over: only the LE bond, with its state.
            assert [request.peers for request in gatt.loaded] == [
                (GattBondedPeer(PEER, CSRK, STORED),)
            ]
            while await store.gatt_state(PEER) != STATES[-1]:
                await trio.sleep(0.1)
