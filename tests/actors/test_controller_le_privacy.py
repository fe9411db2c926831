"""Controller-based LE privacy on the virtual controller (Core 5.4 Vol 6 Part B 1.3.2, 4.7,
6.3, 6.4; Vol 4 Part E 7.8.38-7.8.45, 7.8.77)."""

from __future__ import annotations

import trio
import trio.testing

from bluetrio import crypto
from bluetrio.address import Address, AddressType
from bluetrio.controller.config import DEFAULT_LE_FEATURES
from bluetrio.controller.harness import (
    RawHost,
    advertise,
    advertising_parameters,
    create_connection,
    extended_advertise,
    open_hosts,
)
from bluetrio.controller.le_advertising import LeAdvertising
from bluetrio.messages import hci

# The sample of Vol 3 Part H D.7: ah(IRK, 0x708194) = 0x0dfbaa, so 70:81:94:0D:FB:AA is an RPA
# of this IRK (both written most significant octet first).
SPEC_IRK = bytes.fromhex("ec0234a357c8ad05341010a60a397d9b")
SPEC_RPA = Address(crypto.reverse(bytes.fromhex("7081940dfbaa")), AddressType.RANDOM)
NO_IRK = bytes(16)
CENTRAL_IRK = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
PERIPHERAL_IRK = bytes.fromhex("f0e0d0c0b0a090807060504030201000")
LL_PRIVACY = 1 << 6  # LE feature bit 6 (Vol 6 Part B 4.6)
ENHANCED_CONNECTION_COMPLETE_MASK = 0xFFFFF  # with bit 9: the enhanced event (7.8.1)


def hci_irk(irk: bytes) -> bytes:
    """IRKs travel least significant octet first over HCI."""
    return crypto.reverse(irk)


def resolves(irk: bytes, address: Address) -> bool:
    return crypto.resolve_rpa(irk, crypto.reverse(address.value))


async def add_to_resolving_list(
    host: RawHost, identity: Address, peer_irk: bytes, local_irk: bytes = NO_IRK
) -> None:
    command = hci.LeAddDeviceToResolvingList(identity, hci_irk(peer_irk), hci_irk(local_irk))
    assert await host.run(command) == b"\x00"


async def enable_resolution(host: RawHost, enable: int = 1) -> bytes:
    return await host.run(hci.LeSetAddressResolutionEnable(enable))


async def passive_scan(host: RawHost) -> None:
    assert await host.run(hci.LeSetScanParameters(0, 16, 16, 0, 0)) == b"\x00"
    assert await host.run(hci.LeSetScanEnable(1, 1)) == b"\x00"


async def advertise_from(host: RawHost, address: Address) -> None:
    assert await host.run(hci.LeSetRandomAddress(address)) == b"\x00"
    parameters = advertising_parameters(own_address_type=0x01)
    assert await host.run(parameters) == b"\x00"
    assert await host.run(hci.LeSetAdvertisingEnable(1)) == b"\x00"


async def test_ll_privacy_is_advertised_and_implemented() -> None:
    assert DEFAULT_LE_FEATURES & LL_PRIVACY


async def test_a_listed_peers_rpa_is_reported_as_its_identity(
    autojump_clock: trio.testing.MockClock,
) -> None:
    identity = Address.parse("11:22:33:44:55:66")
    async with open_hosts(le_event_mask=0x1F) as (scanner, advertiser):
        await advertise_from(advertiser, SPEC_RPA)
        await add_to_resolving_list(scanner, identity, SPEC_IRK)
        assert await enable_resolution(scanner) == b"\x00"
        await passive_scan(scanner)
        (report,) = (await scanner.next_event(hci.LeAdvertisingReport)).reports
        assert report.address == identity.with_type(AddressType.PUBLIC_IDENTITY)
        # The controller remembers the RPA it resolved (Vol 4 Part E 7.8.42).
        returned = await scanner.run(hci.LeReadPeerResolvableAddress(identity))
        peer_rpa = hci.LeReadPeerResolvableAddressReturn.from_bytes(returned)
        assert peer_rpa.status == 0 and peer_rpa.peer_resolvable_address.value == SPEC_RPA.value


async def test_without_address_resolution_the_rpa_is_reported_as_it_is(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_hosts(le_event_mask=0x1F) as (scanner, advertiser):
        await advertise_from(advertiser, SPEC_RPA)
        await add_to_resolving_list(scanner, Address.parse("11:22:33:44:55:66"), SPEC_IRK)
        await passive_scan(scanner)
        (report,) = (await scanner.next_event(hci.LeAdvertisingReport)).reports
        assert report.address == SPEC_RPA


async def test_network_privacy_ignores_a_listed_peer_using_its_identity(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_hosts(le_event_mask=0x1F) as (scanner, advertiser):
        identity = advertiser.controller.public_address
        await advertise(advertiser)  # with its public (identity) address
        await add_to_resolving_list(scanner, identity, SPEC_IRK)
        assert await enable_resolution(scanner) == b"\x00"
        await passive_scan(scanner)
        await trio.sleep(1.0)
        assert not scanner.events_of(hci.LeAdvertisingReport)
        # Device privacy mode accepts the identity address too (Vol 4 Part E 7.8.77).
        assert await scanner.run(hci.LeSetScanEnable(0, 0)) == b"\x00"
        assert await scanner.run(hci.LeSetPrivacyMode(identity, 0x01)) == b"\x00"
        await passive_scan(scanner)
        (report,) = (await scanner.next_event(hci.LeAdvertisingReport)).reports
        assert report.address == identity


async def test_connecting_by_identity_reports_both_rpas(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_hosts(le_event_mask=ENHANCED_CONNECTION_COMPLETE_MASK) as (
        central,
        peripheral,
    ):
        central_identity = central.controller.public_address
        peripheral_identity = peripheral.controller.public_address
        await add_to_resolving_list(central, peripheral_identity, PERIPHERAL_IRK, CENTRAL_IRK)
        await add_to_resolving_list(peripheral, central_identity, CENTRAL_IRK, PERIPHERAL_IRK)
        for host in (central, peripheral):
            assert await enable_resolution(host) == b"\x00"
        # The peripheral advertises with an RPA from its local IRK (own address type 0x02).
        parameters = advertising_parameters(0x00, 0x02, central_identity)
        assert await peripheral.run(parameters) == b"\x00"
        assert await peripheral.run(hci.LeSetAdvertisingEnable(1)) == b"\x00"
        # The central names the peer by identity (type 0x02) and uses an RPA itself.
        peer = peripheral_identity.with_type(AddressType.PUBLIC_IDENTITY)
        create = create_connection(peer, own_address_type=0x02)
        assert await central.run(create) == b"\x00"
        ours = await central.next_event(hci.LeEnhancedConnectionComplete)
        theirs = await peripheral.next_event(hci.LeEnhancedConnectionComplete)
        assert ours.status == theirs.status == 0
        assert ours.peer_address == peripheral_identity.with_type(AddressType.PUBLIC_IDENTITY)
        assert theirs.peer_address == central_identity.with_type(AddressType.PUBLIC_IDENTITY)
        assert resolves(CENTRAL_IRK, ours.local_resolvable_private_address)
        assert resolves(PERIPHERAL_IRK, ours.peer_resolvable_private_address)
        assert resolves(PERIPHERAL_IRK, theirs.local_resolvable_private_address)
        assert resolves(CENTRAL_IRK, theirs.peer_resolvable_private_address)
        assert ours.local_resolvable_private_address.value == (
            theirs.peer_resolvable_private_address.value
        )
        returned = await peripheral.run(hci.LeReadLocalResolvableAddress(central_identity))
        local = hci.LeReadLocalResolvableAddressReturn.from_bytes(returned)
        assert local.local_resolvable_address.value == (
            theirs.local_resolvable_private_address.value
        )


async def test_own_address_types_2_and_3_fall_back_without_an_entry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    random = Address.parse("C1:22:33:44:55:66", AddressType.RANDOM)
    async with open_hosts(le_event_mask=0x1F) as (scanner, advertiser):
        assert await enable_resolution(advertiser) == b"\x00"
        parameters = advertising_parameters(own_address_type=0x03)
        assert await advertiser.run(parameters) == b"\x00"
        # 0x03 falls back to the random address, which has not been set: 0x12 (7.8.9).
        assert await advertiser.run(hci.LeSetAdvertisingEnable(1)) == b"\x12"
        assert await advertiser.run(hci.LeSetRandomAddress(random)) == b"\x00"
        assert await advertiser.run(hci.LeSetAdvertisingEnable(1)) == b"\x00"
        await passive_scan(scanner)
        (report,) = (await scanner.next_event(hci.LeAdvertisingReport)).reports
        assert report.address == random


async def test_rpas_are_generated_anew_every_rpa_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_hosts(le_event_mask=0x1F) as (scanner, advertiser):
        peer = scanner.controller.public_address
        await add_to_resolving_list(advertiser, peer, NO_IRK, PERIPHERAL_IRK)
        assert await enable_resolution(advertiser) == b"\x00"
        assert await advertiser.run(hci.LeSetResolvablePrivateAddressTimeout(60)) == b"\x00"
        parameters = advertising_parameters(0x03, 0x02, peer)
        assert await advertiser.run(parameters) == b"\x00"
        assert await advertiser.run(hci.LeSetAdvertisingEnable(1)) == b"\x00"
        assert await scanner.run(hci.LeSetScanParameters(0, 16, 16, 0, 0)) == b"\x00"
        assert await scanner.run(hci.LeSetScanEnable(1, 0)) == b"\x00"
        first = (await scanner.next_event(hci.LeAdvertisingReport)).reports[0].address
        assert first.type == AddressType.RANDOM and resolves(PERIPHERAL_IRK, first)
        await trio.sleep(59)
        scanner.events.clear()
        assert (await scanner.next_event(hci.LeAdvertisingReport)).reports[0].address == first
        await trio.sleep(2)
        scanner.events.clear()
        second = (await scanner.next_event(hci.LeAdvertisingReport)).reports[0].address
        assert second != first and resolves(PERIPHERAL_IRK, second)


async def test_changing_the_list_while_resolving_and_busy_is_disallowed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    identity = Address.parse("11:22:33:44:55:66")
    async with open_hosts(count=1) as (host,):
        await add_to_resolving_list(host, identity, SPEC_IRK)
        assert await enable_resolution(host) == b"\x00"
        await passive_scan(host)
        changes = [
            hci.LeAddDeviceToResolvingList(Address.parse("22:22:33:44:55:66"), NO_IRK, NO_IRK),
            hci.LeSetPrivacyMode(identity, 0x01),
            hci.LeRemoveDeviceFromResolvingList(identity),
            hci.LeClearResolvingList(),
            hci.LeSetAddressResolutionEnable(0),
        ]
        for change in changes:
            assert await host.run(change) == b"\x0c", change.NAME
        assert await host.run(hci.LeSetScanEnable(0, 0)) == b"\x00"
        for change in changes:
            assert await host.run(change) == b"\x00", change.NAME
        # With resolution off the list may change while scanning; enabling it may not.
        await passive_scan(host)
        assert await host.run(changes[0]) == b"\x00"
        assert await enable_resolution(host) == b"\x0c"


async def test_directed_advertising_targets_the_peers_rpa(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_hosts(le_event_mask=0x1F) as (central, peripheral):
        central_identity = central.controller.public_address
        peripheral_identity = peripheral.controller.public_address
        await add_to_resolving_list(peripheral, central_identity, CENTRAL_IRK, PERIPHERAL_IRK)
        assert await enable_resolution(peripheral) == b"\x00"
        # ADV_DIRECT_IND (low duty cycle) to the central's identity, from our RPA.
        parameters = advertising_parameters(0x04, 0x02, central_identity)
        assert await peripheral.run(parameters) == b"\x00"
        assert await peripheral.run(hci.LeSetAdvertisingEnable(1)) == b"\x00"
        target = (
            peripheral.controller.feature(LeAdvertising)
            .pdu_of(peripheral.controller.feature(LeAdvertising).sets[0])
            .target
        )
        assert target is not None and resolves(CENTRAL_IRK, target)
        # The central knows the TargetA is its own once it has its local IRK (Vol 6 Part B 6.4).
        await add_to_resolving_list(central, peripheral_identity, PERIPHERAL_IRK, CENTRAL_IRK)
        assert await enable_resolution(central) == b"\x00"
        # Its own RPA too: in network privacy mode the peripheral ignores its identity.
        create = create_connection(peripheral_identity, own_address_type=0x02)
        assert await central.run(create) == b"\x00"
        ours = await central.next_event(hci.LeConnectionComplete)
        theirs = await peripheral.next_event(hci.LeConnectionComplete)
        assert ours.status == theirs.status == 0
        assert ours.peer_address == peripheral_identity.with_type(AddressType.PUBLIC_IDENTITY)
        assert theirs.peer_address == central_identity.with_type(AddressType.PUBLIC_IDENTITY)


async def test_an_extended_report_says_the_controller_resolved_the_target(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_hosts() as (scanner, advertiser):
        scanner_identity = scanner.controller.public_address
        await add_to_resolving_list(advertiser, scanner_identity, CENTRAL_IRK, PERIPHERAL_IRK)
        assert await enable_resolution(advertiser) == b"\x00"
        await add_to_resolving_list(
            scanner, advertiser.controller.public_address, PERIPHERAL_IRK, CENTRAL_IRK
        )
        assert await enable_resolution(scanner) == b"\x00"
        connectable_directed = 0b0101
        await extended_advertise(
            advertiser, connectable_directed, own_address_type=0x02, peer=scanner_identity
        )
        phy = hci.ExtendedScanPhyParameters(0, 16, 16)
        assert await scanner.run(hci.LeSetExtendedScanParameters(0, 0, 0b001, (phy,))) == b"\x00"
        assert await scanner.run(hci.LeSetExtendedScanEnable(1, 1, 0, 0)) == b"\x00"
        (report,) = (await scanner.next_event(hci.LeExtendedAdvertisingReport)).reports
        assert report.address_type == AddressType.PUBLIC_IDENTITY
        assert report.address == advertiser.controller.public_address
        # 0x02: an RPA the controller resolved, own address type 0x00 (Vol 4 Part E 7.7.65.13).
        assert report.direct_address_type == 0x02
        assert resolves(CENTRAL_IRK, report.direct_address)
