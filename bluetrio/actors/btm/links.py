"""The ACL database (Bluedroid's ``btm_cb.acl_db``): one :class:`AclLink` per connection
handle; L2CAP joins its link control blocks to it by handle."""

from __future__ import annotations

from typing import Any

import attrs

from bluetrio.address import Address
from bluetrio.messages.btm import AclLink, LinkTransport


class AclDatabase:
    def __init__(self) -> None:
        self._links: dict[int, AclLink] = {}

    def __len__(self) -> int:
        return len(self._links)

    def __contains__(self, handle: int) -> bool:
        return handle in self._links

    def get(self, handle: int) -> AclLink | None:
        return self._links.get(handle)

    def all(self) -> tuple[AclLink, ...]:
        return tuple(self._links.values())

    def by_address(self, address: Address, transport: LinkTransport) -> AclLink | None:
        for link in self._links.values():
            if link.transport is transport and address in (link.address, link.identity):
                return link
        return None

    def add(self, link: AclLink) -> None:
        self._links[link.handle] = link

    def remove(self, handle: int) -> AclLink | None:
        return self._links.pop(handle, None)

    def update(self, handle: int, **changes: Any) -> AclLink | None:
        link = self._links.get(handle)
        if link is None:
            return None
        changed = attrs.evolve(link, **changes)
        self._links[handle] = changed
        return changed

    def clear(self) -> tuple[AclLink, ...]:
        gone = self.all()
        self._links.clear()
        return gone
