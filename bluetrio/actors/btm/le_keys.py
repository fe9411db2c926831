"""Answers to LE_Long_Term_Key_Request (Vol 4 Part E 7.7.65.5) from the LE bonds held.

The controller asks for the key when the central starts encryption on a link where we are
peripheral (Vol 6 Part B 5.1.3.1). The reply holds the bond's LTK when EDIV and Rand match
the ones distributed at pairing (Vol 3 Part H 2.4.4) and its key size meets the minimum;
otherwise the request is refused. This belongs to SMP, which will take it over.
"""

from __future__ import annotations

from bluetrio.actors.btm.commands import CommandIssuer
from bluetrio.actors.btm.config import SecurityConfig
from bluetrio.actors.btm.key_database import KeyDatabase
from bluetrio.actors.effects import Effects
from bluetrio.address import Address
from bluetrio.bonds import LongTermKey
from bluetrio.crypto import reverse
from bluetrio.messages import hci


class LeKeyResponder:
    def __init__(
        self, *, commands: CommandIssuer, config: SecurityConfig, keys: KeyDatabase
    ) -> None:
        self.commands = commands
        self.config = config
        self.keys = keys
        self._peers: dict[int, Address] = {}  # LE links that are up, by handle

    def __len__(self) -> int:
        return len(self._peers)

    def on_link_up(self, handle: int, peer: Address) -> None:
        self._peers[handle] = peer

    def on_link_down(self, handle: int) -> None:
        self._peers.pop(handle, None)

    def on_long_term_key_request(self, event: hci.LeLongTermKeyRequest, now: float) -> Effects:
        handle = event.connection_handle
        ltk = self._matching_key(handle, event.encrypted_diversifier, reverse(event.random_number))
        if ltk is None:
            return self.commands.send(
                hci.LeLongTermKeyRequestNegativeReply(connection_handle=handle)
            )
        return self.commands.send(
            hci.LeLongTermKeyRequestReply(
                connection_handle=handle, long_term_key=reverse(ltk.value)
            )
        )

    def _matching_key(self, handle: int, ediv: int, rand: bytes) -> LongTermKey | None:
        peer = self._peers.get(handle)
        bond = None if peer is None else self.keys.le_bonds.get(peer)
        if bond is None:
            return None
        candidates = [bond.local_keys.ltk]
        if bond.secure_connections:
            candidates.append(bond.peer_keys.ltk)  # both sides hold the LE SC key
        for ltk in candidates:
            if (
                ltk is not None
                and ltk.ediv == ediv
                and ltk.rand == rand
                and ltk.key_size >= self.config.min_encryption_key_size
            ):
                return ltk
        return None
