"""Reading a peer's features: page 1 comes from the Remote Host Supported Features
Notification when it was sent (Core 5.4 Vol 4 Part E 7.7.50), not from the controller again."""

from __future__ import annotations

from bluetrio.actors.btm.commands import CommandIssuer
from bluetrio.actors.btm.remote_features import HOST_PAGES_KEPT, RemoteFeatureReads
from bluetrio.actors.effects import Effects, Emit, Send
from bluetrio.address import Address
from bluetrio.messages import hci
from bluetrio.messages.btm import AclLink, LinkTransport, RemoteFeaturesCnf, Role
from bluetrio.messages.hci_service import HciCommandReq

PEER = Address.parse("00:11:22:33:44:66")
LINK = AclLink(0x0001, LinkTransport.BR_EDR, PEER, Role.CENTRAL)
EXTENDED = 1 << 63  # LMP extended features bit (Vol 2 Part C 3.3)


def commands(effects: Effects) -> list[hci.HciCommand]:
    return [
        e.message.command
        for e in effects
        if isinstance(e, Emit) and isinstance(e.message, HciCommandReq)
    ]


def answers(effects: Effects) -> list[RemoteFeaturesCnf]:
    return [
        e.message
        for e in effects
        if isinstance(e, Send) and isinstance(e.message, RemoteFeaturesCnf)
    ]


def reads() -> tuple[RemoteFeatureReads, list[tuple[int, ...]]]:
    changed: list[tuple[int, ...]] = []

    def on_changed(handle: int, pages: tuple[int, ...]) -> Effects:
        changed.append(pages)
        return []

    return RemoteFeatureReads(CommandIssuer(), on_changed), changed


def test_page_1_from_the_notification_is_not_read_again() -> None:
    features, changed = reads()
    features.on_host_features(hci.RemoteHostSupportedFeaturesNotification(PEER, 0b1011))
    assert commands(features.read("app", 7, LINK)) == [hci.ReadRemoteSupportedFeatures(1)]
    page0 = hci.ReadRemoteSupportedFeaturesComplete(0, 1, EXTENDED | 1)
    assert commands(features.on_event(page0, LINK)) == [hci.ReadRemoteExtendedFeatures(1, 2)]
    page2 = hci.ReadRemoteExtendedFeaturesComplete(0, 1, 2, 2, 0b100)
    [answer] = answers(features.on_event(page2, LINK))
    assert answer == RemoteFeaturesCnf(7, features=(EXTENDED | 1, 0b1011, 0b100))
    assert changed == [answer.features]


def test_without_the_notification_page_1_is_read() -> None:
    features, _ = reads()
    features.read("app", 7, LINK)
    page0 = hci.ReadRemoteSupportedFeaturesComplete(0, 1, EXTENDED)
    assert commands(features.on_event(page0, LINK)) == [hci.ReadRemoteExtendedFeatures(1, 1)]
    page1 = hci.ReadRemoteExtendedFeaturesComplete(0, 1, 1, 1, 0b1)
    [answer] = answers(features.on_event(page1, LINK))
    assert answer.features == (EXTENDED, 0b1)


def test_a_read_under_way_when_the_link_goes_down_is_answered() -> None:
    features, _ = reads()
    features.read("app", 7, LINK)
    [answer] = answers(features.on_link_down(LINK))
    assert answer.status == 0x02 and answer.features == ()


def test_a_notified_page_serves_one_read_and_only_the_newest_pages_are_kept() -> None:
    features, _ = reads()
    features.on_host_features(hci.RemoteHostSupportedFeaturesNotification(PEER, 0b1011))
    for n in range(HOST_PAGES_KEPT):  # as many other peers' name requests: PEER's is dropped
        other = Address(bytes([n + 1, 0, 0, 0, 0, 0xAA]))
        features.on_host_features(hci.RemoteHostSupportedFeaturesNotification(other, 0b1))
    features.read("app", 7, LINK)
    page0 = hci.ReadRemoteSupportedFeaturesComplete(0, 1, EXTENDED)
    assert commands(features.on_event(page0, LINK)) == [hci.ReadRemoteExtendedFeatures(1, 1)]


def test_the_notified_page_is_taken_by_one_read_only() -> None:
    features, _ = reads()
    features.on_host_features(hci.RemoteHostSupportedFeaturesNotification(PEER, 0b1011))
    page0 = hci.ReadRemoteSupportedFeaturesComplete(0, 1, EXTENDED | 1)
    features.read("app", 7, LINK)
    assert commands(features.on_event(page0, LINK)) == [hci.ReadRemoteExtendedFeatures(1, 2)]
    answers(features.on_event(hci.ReadRemoteExtendedFeaturesComplete(0, 1, 2, 2, 0), LINK))
    features.read("app", 8, LINK)
    assert commands(features.on_event(page0, LINK)) == [hci.ReadRemoteExtendedFeatures(1, 1)]
