"""The key stores a test's stacks make for themselves, kept for the test to read."""

from __future__ import annotations

import trio

from bluetrio.address import Address
from bluetrio.bonds import Bond, Transport
from bluetrio.keystore import MemoryKeyStore


class Stores:
    """A key store factory for ``open_stack(keystore=...)`` that keeps what it made."""

    def __init__(self) -> None:
        self.made: list[MemoryKeyStore] = []

    def __call__(self, address: Address) -> MemoryKeyStore:
        store = MemoryKeyStore(address)
        self.made.append(store)
        return store

    async def bond(self, peer: Address, transport: Transport, *, within: float = 30) -> Bond:
        """The first store's bond with ``peer`` on ``transport``, once it is there (a peer's
        bond is stored when its last key arrives, after the pairing ended on our side)."""
        with trio.fail_after(within):
            while (bond := await self.made[0].get(peer, transport)) is None:
                await trio.sleep(0.1)
        return bond
