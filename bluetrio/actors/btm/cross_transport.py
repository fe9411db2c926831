"""What BTM does for cross-transport key derivation (Core 5.4 Vol 3 Part H 2.4.2.4, 2.4.2.5).

SMP derives the keys; BTM owns the link keys, the BR/EDR links and the bonds, so it:

* tells SMP how each BR/EDR link is encrypted once the link security procedure accepted it
  (:class:`SmpBrEdrSecurityInd`: the Secure Connections link key under AES-CCM that SMP
  over BR/EDR may derive an LTK from, its size, whether it is a bond and whether a pairing
  made it just now), and when its encryption goes off;
* keeps the BR/EDR link key SMP derived from an LE LTK (:class:`SmpBondInd` with a BR/EDR
  bond): never over a stronger key (2.4.2.5 and BLURtooth, CVE-2020-15802), nor one Secure
  Connections Only mode refuses; kept, it answers the next Link_Key_Request, so a later
  BR/EDR connection authenticates with no pairing.

The LE bonds SMP derives over BR/EDR go through the checks of every LE bond
(:mod:`.le_security`), with the BR/EDR link's peer as the device that made them.
"""

from __future__ import annotations

import logging

from bluetrio.actors.btm.config import SecurityConfig
from bluetrio.actors.btm.key_database import KeyDatabase
from bluetrio.actors.btm.security_policy import EncryptionMode, new_key_refusal
from bluetrio.actors.btm.security_records import LinkRecord
from bluetrio.actors.effects import Effects, Emit
from bluetrio.bonds import Transport
from bluetrio.messages.btm_security import BondRefusedInd, StoreBondReq
from bluetrio.messages.smp_service import SmpBondInd, SmpBondRsp, SmpBrEdrSecurityInd

logger = logging.getLogger(__name__)


class CrossTransportKeys:
    def __init__(self, *, config: SecurityConfig, keys: KeyDatabase, smp: bool) -> None:
        self.config = config
        self.keys = keys
        self.smp = smp

    # -- BR/EDR link security, for SMP over BR/EDR ---------------------------------------------
    def link_secured(self, record: LinkRecord) -> Effects:
        """The link security procedure accepted ``record``'s link."""
        if not self.smp:
            return []
        key = record.link_key
        derivable = (
            key is not None
            and key.type.is_secure_connections
            and record.encryption is EncryptionMode.AES_CCM
        )
        stored = self.keys.link_key(record.peer)
        indication = SmpBrEdrSecurityInd(
            record.handle,
            record.peer,
            key if derivable else None,
            record.key_size,
            bonded=key is not None and stored == key,
            paired=not record.used_stored_key,
        )
        return [Emit(indication)]

    def encryption_off(self, record: LinkRecord) -> Effects:
        if not self.smp:
            return []
        return [Emit(SmpBrEdrSecurityInd(record.handle, record.peer, None))]

    # -- the link key SMP derived from an LE LTK -----------------------------------------------
    def on_derived_link_key(self, message: SmpBondInd) -> Effects:
        bond = message.bond
        key = bond.link_key
        peer = bond.peer_address
        refusal: str | None = None
        weaker = False
        if bond.transport is not Transport.BR_EDR or key is None:
            refusal = "not a BR/EDR bond with a link key"
        elif bond.derived_from is not Transport.LE:
            refusal = "a BR/EDR link key from SMP must be derived from an LE key"
        else:
            verdict = new_key_refusal(
                key,
                self.keys.link_key(peer),
                secure_connections_only=self.config.secure_connections_only,
            )
            if verdict is not None:
                refusal, weaker = verdict
        if refusal is not None or key is None:
            why = refusal or "no link key"
            logger.warning("security: derived BR/EDR link key for %s refused: %s", peer, why)
            effects: Effects = [Emit(BondRefusedInd(peer, why))] if weaker else []
            return [*effects, Emit(SmpBondRsp(message.handle, peer, False, why))]
        self.keys.replace(peer, key, storing=True)
        return [Emit(StoreBondReq(bond)), Emit(SmpBondRsp(message.handle, peer, True))]
