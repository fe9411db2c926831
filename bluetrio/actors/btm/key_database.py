"""The keys BTM holds for bonded peers: BR/EDR link keys and LE bonds.

Loaded from the key store by the app-side pairing service (:class:`SecurityServiceReq`);
a new BR/EDR key or LE bond replaces the held one at once and is sent for storage
(:class:`StoreBondReq`). When the store refuses it as weaker than what it holds (BLURtooth,
CVE-2020-15802), what it replaced here is put back. LE bonds are keyed by the peer's
identity (:func:`~bluetrio.bonds.identity_key`).
"""

from __future__ import annotations

import logging

from bluetrio.actors.btm.security_policy import peer_key
from bluetrio.address import Address
from bluetrio.bonds import Bond, LinkKey, Transport, identity_key
from bluetrio.messages.btm_security import BondRefusedInd, StoreBondRsp

logger = logging.getLogger(__name__)


class KeyDatabase:
    def __init__(self) -> None:
        self.link_keys: dict[Address, LinkKey] = {}
        self.le_bonds: dict[Address, Bond] = {}
        # Keys replaced by a new one whose storage is not yet confirmed (StoreBondRsp).
        self._replaced: dict[Address, LinkKey | None] = {}
        self._replaced_le: dict[Address, Bond | None] = {}

    def load(self, bonds: tuple[Bond, ...]) -> None:
        for bond in bonds:
            if bond.transport is Transport.BR_EDR and bond.link_key is not None:
                self.link_keys[peer_key(bond.peer_address)] = bond.link_key
            elif bond.transport is Transport.LE:
                self.le_bonds[identity_key(bond.peer_address)] = bond

    def le_bond(self, address: Address) -> Bond | None:
        return self.le_bonds.get(identity_key(address))

    def replace_le_bond(self, bond: Bond) -> None:
        """Use ``bond`` for its peer from now on; a StoreBondReq for it goes out."""
        peer = identity_key(bond.peer_address)
        self._replaced_le[peer] = self.le_bonds.get(peer)
        self.le_bonds[peer] = bond

    def link_key(self, address: Address) -> LinkKey | None:
        return self.link_keys.get(peer_key(address))

    def replace(self, address: Address, key: LinkKey, *, storing: bool) -> None:
        """Use ``key`` for ``address`` from now on; ``storing``: a StoreBondReq goes out."""
        peer = peer_key(address)
        if storing:
            self._replaced[peer] = self.link_keys.get(peer)
        self.link_keys[peer] = key

    def on_store_response(self, message: StoreBondRsp) -> BondRefusedInd | None:
        """Settle a storage; the indication for the app when a weaker key was refused."""
        if message.transport is Transport.LE:
            return self._on_le_store_response(message)
        peer = peer_key(message.peer)
        previous = self._replaced.pop(peer, None)
        if message.stored:
            return None
        logger.error("security: bond with %s not stored: %s", peer, message.error)
        if not message.weaker:
            return None
        # The store holds a stronger bond than this core knew of: keep using the old one.
        if previous is None:
            self.link_keys.pop(peer, None)
        else:
            self.link_keys[peer] = previous
        return BondRefusedInd(peer, message.error or "weaker than the stored bond")

    def _on_le_store_response(self, message: StoreBondRsp) -> BondRefusedInd | None:
        peer = identity_key(message.peer)
        previous = self._replaced_le.pop(peer, None)
        if message.stored:
            return None
        logger.error("security: LE bond with %s not stored: %s", peer, message.error)
        if not message.weaker:
            return None
        if previous is None:
            self.le_bonds.pop(peer, None)
        else:
            self.le_bonds[peer] = previous
        return BondRefusedInd(peer, message.error or "weaker than the stored bond")
