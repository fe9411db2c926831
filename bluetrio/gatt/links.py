"""The GATT client of every live LE link (``link.gatt``), and what it asks of the stack.

:class:`GattClients` (``stack.gatt_clients``) makes one :class:`~bluetrio.gatt.GattClient`
per link on first use, over the link's ATT bearer (``link.att``), and gives it:

- security on demand: a :class:`~bluetrio.messages.btm_security.LinkSecurityReq` to btm
  for what the server's error asks (Vol 3 Part C 10.3.1: encryption, which pairs when there
  is no bond and encrypts with it when there is; an authenticated key for Insufficient
  Authentication on a link already encrypted; a 16-octet key for Insufficient Encryption
  Key Size);
- the discovery cache of the stack (:func:`~bluetrio.gatt.cache.cache_for_keystore`): for a
  peer bonded in the stack's key store, or, in a stack without a key store, for any peer in
  memory (an entry is still used only under an equal Database Hash);
- signed writes: the CSRK we distributed to the bonded peer and a SignCounter that grows
  across connections (kept with the cache); on an encrypted link a Write Command instead
  (Vol 3 Part G 4.9.2);
- the values the peer notifies or indicates, observed in order with the link's other
  messages, so a Service Changed indication drops the cache's entry at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from bluetrio.actors.app_port import AppPort
from bluetrio.actors.gatt.signing import signature_mac
from bluetrio.actors.topology import Layer
from bluetrio.bonds import Bond, Transport
from bluetrio.errors import GattError, PairingError
from bluetrio.gatt.cache import CachedDatabase, DiscoveryCache, cache_for_keystore
from bluetrio.gatt.client import GattClient
from bluetrio.messages.att import AttErrorCode, AttPdu, SignedWriteCommand, WriteCommand
from bluetrio.messages.btm import LinkDownInd
from bluetrio.messages.btm_security import (
    MAX_KEY_SIZE,
    LinkSecurityCnf,
    LinkSecurityReq,
    SecurityRequirement,
)
from bluetrio.messages.gatt_service import AttValueInd

if TYPE_CHECKING:
    from bluetrio.link import Link
    from bluetrio.stack import Stack

__all__ = ["GattClients", "requirement_for"]


def requirement_for(error_code: int, *, encrypted: bool) -> SecurityRequirement:
    """What the link must meet after the server refused an operation with ``error_code``
    (Vol 3 Part C 10.3.1, Vol 3 Part F 3.4.1.1)."""
    if error_code == AttErrorCode.INSUFFICIENT_AUTHENTICATION and encrypted:
        return SecurityRequirement(mitm=True)  # encrypted, yet not with an authenticated key
    if error_code == AttErrorCode.ENCRYPTION_KEY_SIZE_TOO_SHORT:
        return SecurityRequirement(min_key_size=MAX_KEY_SIZE)
    return SecurityRequirement()  # encrypted (LE: with a key from pairing or the bond)


class GattClients:
    """The GATT clients of one stack's links (see the module docstring)."""

    def __init__(self, stack: Stack, app: AppPort) -> None:
        self._stack = stack
        self._app = app
        self._clients: dict[int, tuple[Link, GattClient]] = {}  # by handle, while up
        self._cache: DiscoveryCache | None = None
        app.observe(AttValueInd, self._on_value)
        app.observe(LinkDownInd, self._on_link_down)

    @property
    def cache(self) -> DiscoveryCache:
        """The stack's discovery cache (made once the key store is known)."""
        if self._cache is None:
            self._cache = cache_for_keystore(self._stack.keystore)
        return self._cache

    def client(self, link: Link) -> GattClient:
        """The GATT client of ``link``: one per link while it is up, made on first use
        (a link that went down gets one whose every operation fails with LinkLost)."""
        known = self._clients.get(link.handle)
        if known is not None and known[0] is link:
            return known[1]
        served = _LinkServices(self, link)
        client = GattClient(link.att, secure=served.secure, cache=served, signer=served.sign)
        if link.connected:
            self._clients[link.handle] = (link, client)
        return client

    def _on_value(self, indication: AttValueInd) -> None:
        known = self._clients.get(indication.handle)
        if known is not None:
            known[1].on_value(indication.attribute_handle, indication.value)

    def _on_link_down(self, indication: LinkDownInd) -> None:
        self._clients.pop(indication.handle, None)

    async def bond(self, link: Link) -> Bond | None:
        """The LE bond with ``link``'s peer in the stack's key store."""
        keystore = self._stack.keystore
        if keystore is None:
            return None
        return await keystore.get(link.peer, Transport.LE)


@attrs.define
class _LinkServices:
    """What the stack does for one link's client: security, its cache slot, signing."""

    clients: GattClients
    link: Link

    async def secure(self, error_code: int) -> None:
        link, app = self.link, self.clients._app
        requirement = requirement_for(error_code, encrypted=link.encrypted)
        request = LinkSecurityReq(app.runtime.new_token(), link.handle, requirement)
        reply = await app.request(Layer.BTM, request)
        assert isinstance(reply, LinkSecurityCnf)
        if reply.status != 0:
            raise PairingError(
                reply.status, f"securing the link for GATT: {reply.error or 'refused'}"
            )

    async def _cached(self) -> bool:
        """Whether the peer's database may be cached: it is bonded, or the stack keeps no
        bonds (then the cache is in memory only)."""
        if self.clients._stack.keystore is None:
            return True
        return await self.clients.bond(self.link) is not None

    async def load(self) -> CachedDatabase | None:
        if not await self._cached():
            return None
        return await self.clients.cache.get(self.link.peer)

    async def store(self, entry: CachedDatabase) -> None:
        if await self._cached():
            await self.clients.cache.put(self.link.peer, entry)

    def drop(self) -> None:
        self.clients.cache.drop(self.link.peer)

    async def sign(self, handle: int, value: bytes) -> AttPdu:
        if self.link.encrypted:
            return WriteCommand(handle, value)
        bond = await self.clients.bond(self.link)
        csrk = bond.local_keys.csrk if bond is not None else None
        if csrk is None:
            raise GattError(
                "a signed write needs a bond in which we gave the peer our CSRK "
                "(Vol 3 Part H 3.6.6)"
            )
        counter = await self.clients.cache.next_sign_counter(self.link.peer)
        unsigned = SignedWriteCommand(handle, value, counter, bytes(8))
        return attrs.evolve(unsigned, mac=signature_mac(csrk, unsigned.signed_part()))
