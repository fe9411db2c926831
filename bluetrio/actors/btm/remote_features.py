"""Reading a peer's features on demand, without reading what the controller already told.

Nothing in the stack needs the peer's features to set a link up or to pair (SSP and Secure
Connections are settled by the IO capability exchange and the link key type), so BTM reads
them only when asked: a read issued at every connection complete would take the command credit
(Num_HCI_Command_Packets, Vol 4 Part E 7.7.14) just when the user may want to disconnect.

BR/EDR page 1 holds the peer's host features; a Remote Host Supported Features Notification
(Vol 4 Part E 7.7.50), which a controller sends when a remote name request reads the peer's
features (7.1.19), delivers that page, so a read after it skips page 1 (pages 0 and 2 still
come from the controller).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from bluetrio.actors.btm.commands import CommandIssuer, CommandOutcome
from bluetrio.actors.effects import Effects, Send
from bluetrio.address import Address
from bluetrio.messages import hci
from bluetrio.messages.btm import AclLink, LinkTransport, RemoteFeaturesCnf

logger = logging.getLogger(__name__)

LMP_EXTENDED_FEATURES_BIT = 63  # Vol 2 Part C 3.3
HOST_FEATURES_PAGE = 1  # Vol 2 Part C 3.3: page 1 is the host's
HOST_PAGES_KEPT = 16  # notifications kept for links not yet made
HIGHEST_PAGE_READ = 2  # page 2 has the controller's Secure Connections bit (Vol 2 Part C 3.3)

FeaturesEvent = (
    hci.ReadRemoteSupportedFeaturesComplete
    | hci.ReadRemoteExtendedFeaturesComplete
    | hci.LeReadRemoteFeaturesComplete
)
Changed = Callable[[int, tuple[int, ...]], Effects]


@attrs.define
class _Read:
    """One read under way on a link: who waits for it and the pages read so far."""

    waiters: list[tuple[str, int]]
    pages: list[int] = attrs.Factory(list)


class RemoteFeatureReads:
    def __init__(self, commands: CommandIssuer, changed: Changed) -> None:
        self._commands = commands
        self._changed = changed
        self._reads: dict[int, _Read] = {}
        # Page 1 of peers that a Remote Host Supported Features Notification delivered, by
        # address, oldest first. The notification comes only for a name request's temporary
        # connection (Core 5.4 Vol 4 Part E 7.1.19, 7.7.50), so it arrives while no link to
        # the peer exists; the next link's read takes it (once) instead of asking for page 1.
        self._host_pages: dict[Address, int] = {}

    def read(self, sender: str, token: int, link: AclLink) -> Effects:
        """Start (or join) the read of ``link``'s features; ``sender`` gets the answer."""
        under_way = self._reads.get(link.handle)
        if under_way is not None:
            under_way.waiters.append((sender, token))
            return []
        self._reads[link.handle] = _Read([(sender, token)])
        command: hci.HciCommand
        if link.transport is LinkTransport.LE:
            command = hci.LeReadRemoteFeatures(link.handle)
        else:
            command = hci.ReadRemoteSupportedFeatures(link.handle)
        return self._send(link.handle, command)

    def on_host_features(self, event: hci.RemoteHostSupportedFeaturesNotification) -> None:
        self._host_pages.pop(event.bd_addr, None)
        self._host_pages[event.bd_addr] = event.host_supported_features
        while len(self._host_pages) > HOST_PAGES_KEPT:
            del self._host_pages[next(iter(self._host_pages))]

    def on_event(self, event: FeaturesEvent, link: AclLink) -> Effects:
        read = self._reads.get(link.handle)
        if read is None:
            return []
        if event.status != 0:
            why = f"reading the remote features failed (0x{event.status:02X})"
            return self._finish(link.handle, event.status, why)
        if isinstance(event, hci.LeReadRemoteFeaturesComplete):
            read.pages = [event.le_features]
            return self._finish(link.handle)
        if isinstance(event, hci.ReadRemoteSupportedFeaturesComplete):
            read.pages = [event.lmp_features]
            if not event.lmp_features >> LMP_EXTENDED_FEATURES_BIT & 1:
                return self._finish(link.handle)
            host_page = self._host_pages.pop(link.address, None)
            if host_page is None:
                return self._next_page(link.handle, HOST_FEATURES_PAGE)
            read.pages.append(host_page)
            return self._next_page(link.handle, HOST_FEATURES_PAGE + 1)
        if event.page_number != len(read.pages):
            return []  # not the page this read asked for
        read.pages.append(event.extended_lmp_features)
        if event.page_number < min(event.maximum_page_number, HIGHEST_PAGE_READ):
            return self._next_page(link.handle, event.page_number + 1)
        return self._finish(link.handle)

    def on_link_down(self, link: AclLink) -> Effects:
        return self._finish(link.handle, 0x02, "the link went down")  # Unknown Connection ID

    def _next_page(self, handle: int, page: int) -> Effects:
        return self._send(handle, hci.ReadRemoteExtendedFeatures(handle, page))

    def _send(self, handle: int, command: hci.HciCommand) -> Effects:
        def on_status(outcome: CommandOutcome, now: float) -> Effects:
            if outcome.ok:
                return []
            read = self._reads.get(handle)
            if read is not None and len(read.pages) > HOST_FEATURES_PAGE:
                # A controller that refuses a page beyond the peer's last one (Vol 4 Part E
                # 7.1.22) leaves the pages read so far, which are the answer.
                return self._finish(handle)
            return self._finish(handle, outcome.status, outcome.describe(), outcome.timed_out)

        return self._commands.send(command, on_status)

    def _finish(
        self, handle: int, status: int = 0, error: str | None = None, timed_out: bool = False
    ) -> Effects:
        read = self._reads.pop(handle, None)
        if read is None:
            return []
        pages = tuple(read.pages) if status == 0 else ()
        effects = self._changed(handle, pages) if status == 0 else []
        return effects + [
            Send(sender, RemoteFeaturesCnf(token, status, error, pages, timed_out))
            for sender, token in read.waiters
        ]
