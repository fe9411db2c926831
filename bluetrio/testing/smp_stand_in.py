"""A stand-in for SMP, to test what serves it (btm's LE security service, ``link.pair()`` on
LE, the CLI) before or without the Security Manager itself.

It "pairs" by fiat: both sides are given the same LTK by the test instead of running Core 5.4
Vol 3 Part H, and it drives btm exactly as SMP does: LeEncryptReq as central with the bond's
LTK or the given key, LeResponderKeyReq as peripheral, SmpBondInd and SmpPairCnf.
"""

from __future__ import annotations

import trio

from bluetrio.actors.effects import Effects, Emit, Send
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.address import Address
from bluetrio.bonds import Bond, KeyDistribution, LongTermKey, Transport
from bluetrio.messages.base import Message
from bluetrio.messages.btm import LinkTransport, LinkUpInd, Role
from bluetrio.messages.btm_security import (
    AssociationModel,
    LeEncryptCnf,
    LeEncryptionChangedInd,
    LeEncryptReq,
    LeResponderKeyReq,
)
from bluetrio.messages.smp_service import (
    PAIRING_FAILED_STATUS,
    SmpBondInd,
    SmpBondRsp,
    SmpBrEdrSecurityInd,
    SmpKeypressReq,
    SmpPairCnf,
    SmpPairReq,
    SmpPromptRsp,
)

__all__ = ["StandInSmp", "bond_between"]

DEFAULT_KEY = LongTermKey(bytes(range(16)), ediv=0x2468, rand=bytes(range(8)))


class StandInSmp:
    """In SMP's place: as central, encrypts with the bond's LTK or with ``key``; as
    peripheral, provides ``provide`` for the LTK request. Keeps what btm told it."""

    spec = LayerSpec(
        Layer.SMP,
        # SmpBrEdrSecurityInd (how BR/EDR links are encrypted) and SmpKeypressReq (our
        # user's keys while typing a passkey) are taken and ignored.
        handles=(
            SmpPairReq,
            SmpPromptRsp,
            SmpKeypressReq,
            SmpBondRsp,
            LeEncryptCnf,
            SmpBrEdrSecurityInd,
        ),
        subscribes=(LinkUpInd, LeEncryptionChangedInd),
        emits=(LeEncryptReq, LeResponderKeyReq, SmpBondInd),
    )

    def __init__(
        self,
        key: LongTermKey = DEFAULT_KEY,
        provide: LongTermKey | None = None,
        local: Address | None = None,
    ) -> None:
        self.key = key
        self.provide = provide
        self.local: Address | None = local  # our identity address, for the bonds made
        self.requests: list[SmpPairReq] = []
        self.changes: list[LeEncryptionChangedInd] = []
        self.bond_answers: list[SmpBondRsp] = []
        self.changed = trio.Event()
        self._pending: dict[int, tuple[str, SmpPairReq, LongTermKey]] = {}
        self._peers: dict[int, Address] = {}
        self._provided: dict[int, LongTermKey] = {}

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        match message:
            case LinkUpInd(link=link) if link.transport is LinkTransport.LE:
                self._peers[link.handle] = link.peer
                if link.role is Role.PERIPHERAL and self.provide is not None:
                    self._provided[link.handle], self.provide = self.provide, None  # once
                    return [Emit(LeResponderKeyReq(link.handle, self._provided[link.handle]))]
            case SmpPairReq():
                self.requests.append(message)
                bond = message.bond
                ltk = bond.peer_keys.ltk if bond is not None and bond.peer_keys.ltk else self.key
                self._pending[message.handle] = (sender, message, ltk)
                return [Emit(LeEncryptReq(message.token, message.handle, ltk))]
            case LeEncryptCnf():
                return self._encrypted(message)
            case LeEncryptionChangedInd():
                self.changes.append(message)
                self.changed.set()
                provided = self._provided.pop(message.handle, None)
                if provided is not None and message.encrypted and self.local is not None:
                    bond = bond_between(self.local, self._peers[message.handle], provided)
                    return [Emit(SmpBondInd(message.handle, bond, self._peers[message.handle]))]
            case SmpBondRsp():
                self.bond_answers.append(message)
        return []

    def _encrypted(self, cnf: LeEncryptCnf) -> Effects:
        sender, request, ltk = self._pending.pop(cnf.handle)
        if cnf.status != 0:
            failed = SmpPairCnf(
                request.token, request.handle, PAIRING_FAILED_STATUS, error=cnf.error or "no"
            )
            return [Send(sender, failed)]
        if request.bond is not None:
            reused = SmpPairCnf(request.token, request.handle, 0, None, request.bond, True, 16)
            return [Send(sender, reused)]
        assert self.local is not None
        bond = bond_between(self.local, request.peer, ltk)
        model = AssociationModel.JUST_WORKS
        answer = SmpPairCnf(request.token, request.handle, 0, model, bond, False, 16)
        return [Emit(SmpBondInd(request.handle, bond, request.peer)), Send(sender, answer)]

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


def bond_between(local: Address, peer: Address, key: LongTermKey) -> Bond:
    keys = KeyDistribution(ltk=key)
    return Bond(local, peer, Transport.LE, peer_keys=keys, local_keys=keys, secure_connections=True)
