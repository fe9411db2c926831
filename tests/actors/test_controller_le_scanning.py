"""LE scanning: scan responses, duplicate filtering, extended scan enable (Core 5.4 Vol 4 Part E
7.8.11, 7.8.65; Vol 6 Part B 4.4.3)."""

from __future__ import annotations

import trio
import trio.testing

from bluetrio import crypto
from bluetrio.address import Address, AddressType
from bluetrio.controller.harness import (
    RawHost,
    advertise,
    advertising_parameters,
    extended_advertise,
    open_hosts,
)
from bluetrio.controller.le_scanning import LeScanning
from bluetrio.messages import hci

ADV_IND, SCAN_RSP = 0x00, 0x04
NON_CONNECTABLE_EXTENDED = 0x0000


async def passive_extended_scan(host: RawHost) -> None:
    phy = hci.ExtendedScanPhyParameters(0, 16, 16)
    assert await host.run(hci.LeSetExtendedScanParameters(0, 0, 0b001, (phy,))) == b"\x00"


async def test_active_scan_with_duplicate_filter_reports_an_empty_scan_response(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The scan response a Bumble peripheral sends by default is empty; it is still reported
    once, so a central waiting for it (to connect by identity) gets it."""
    async with open_hosts(le_event_mask=0x1F) as (scanner, advertiser):
        await advertise(advertiser)  # ADV_IND, no scan response data
        assert await scanner.run(hci.LeSetScanParameters(1, 16, 16, 0, 0)) == b"\x00"
        assert await scanner.run(hci.LeSetScanEnable(1, 1)) == b"\x00"
        first = await scanner.next_event(hci.LeAdvertisingReport)
        second = await scanner.next_event(hci.LeAdvertisingReport)
        assert [r.event_type for r in first.reports + second.reports] == [ADV_IND, SCAN_RSP]
        assert second.reports[0].data == b""
        assert second.reports[0].address == advertiser.controller.public_address
        await trio.sleep(1.0)  # ten more advertising events: all duplicates
        assert not scanner.events_of(hci.LeAdvertisingReport)


async def test_without_duplicate_filter_every_advertisement_gets_a_scan_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_hosts(le_event_mask=0x1F) as (scanner, advertiser):
        await advertise(advertiser)
        assert await scanner.run(hci.LeSetScanParameters(1, 16, 16, 0, 0)) == b"\x00"
        assert await scanner.run(hci.LeSetScanEnable(1, 0)) == b"\x00"
        types = []
        for _ in range(4):
            report = await scanner.next_event(hci.LeAdvertisingReport)
            types.append(report.reports[0].event_type)
        assert types == [ADV_IND, SCAN_RSP, ADV_IND, SCAN_RSP]


async def test_extended_scan_enabled_again_keeps_the_duplicate_filter(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_hosts() as (scanner, advertiser):
        await extended_advertise(advertiser, NON_CONNECTABLE_EXTENDED, b"\x02\x01\x06")
        await passive_extended_scan(scanner)
        assert await scanner.run(hci.LeSetExtendedScanEnable(1, 1, 0, 0)) == b"\x00"
        await scanner.next_event(hci.LeExtendedAdvertisingReport)
        # Enabling while enabled applies the new settings; the filter stays (7.8.65).
        assert await scanner.run(hci.LeSetExtendedScanEnable(1, 1, 0, 0)) == b"\x00"
        await trio.sleep(1.0)
        assert not scanner.events_of(hci.LeExtendedAdvertisingReport)
        # Disabling ends the filter: the next scan reports the advertiser again.
        assert await scanner.run(hci.LeSetExtendedScanEnable(0, 0, 0, 0)) == b"\x00"
        assert await scanner.run(hci.LeSetExtendedScanEnable(1, 1, 0, 0)) == b"\x00"
        await scanner.next_event(hci.LeExtendedAdvertisingReport)


async def test_reset_each_period_needs_a_duration_and_a_period(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_hosts() as (scanner, _):
        await passive_extended_scan(scanner)
        for duration, period in ((0, 0), (0, 1), (50, 0)):
            command = hci.LeSetExtendedScanEnable(1, 0x02, duration, period)
            assert await scanner.run(command) == b"\x12", (duration, period)
        # The Duration must also be shorter than the Period (1.28 s here).
        assert await scanner.run(hci.LeSetExtendedScanEnable(1, 0x01, 128, 1)) == b"\x12"
        assert not scanner.controller.feature(LeScanning).enabled


async def test_reset_each_period_reports_again_in_every_period(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_hosts() as (scanner, advertiser):
        await extended_advertise(advertiser, NON_CONNECTABLE_EXTENDED, b"\x02\x01\x06")
        await passive_extended_scan(scanner)
        # Scan 0.5 s of every 1.28 s; the duplicate filter is reset at each period.
        assert await scanner.run(hci.LeSetExtendedScanEnable(1, 0x02, 50, 1)) == b"\x00"
        await scanner.next_event(hci.LeExtendedAdvertisingReport)
        start = trio.current_time()
        await trio.sleep(1.2)
        assert not scanner.events_of(hci.LeExtendedAdvertisingReport)
        await scanner.next_event(hci.LeExtendedAdvertisingReport)
        assert trio.current_time() - start >= 1.2
        # Periodic scanning ends only when the host disables it: no Scan Timeout.
        assert not scanner.events_of(hci.LeScanTimeout)


async def test_extended_filter_policy_reports_directed_advertising_to_an_unresolved_rpa(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Scanning_Filter_Policy 0x02 also takes directed PDUs whose TargetA is an RPA the
    controller cannot resolve, reported with LE Directed Advertising Report (Vol 4 Part E
    7.8.10, 7.7.65.11); policy 0x00 ignores them."""
    someone = Address.parse("11:22:33:44:55:66")
    irk = bytes(range(16))
    async with open_hosts() as (scanner, advertiser):
        identity = hci.LeAddDeviceToResolvingList(someone, irk, bytes(16))
        assert await advertiser.run(identity) == b"\x00"
        assert await advertiser.run(hci.LeSetAddressResolutionEnable(1)) == b"\x00"
        # ADV_DIRECT_IND (low duty cycle) to someone else, whose RPA is the TargetA.
        assert await advertiser.run(advertising_parameters(0x04, 0x00, someone)) == b"\x00"
        assert await advertiser.run(hci.LeSetAdvertisingEnable(1)) == b"\x00"
        assert await scanner.run(hci.LeSetScanParameters(0, 16, 16, 0, 0x00)) == b"\x00"
        assert await scanner.run(hci.LeSetScanEnable(1, 1)) == b"\x00"
        await trio.sleep(1.0)
        assert not scanner.events_of(hci.LeDirectedAdvertisingReport)
        assert not scanner.events_of(hci.LeAdvertisingReport)
        assert await scanner.run(hci.LeSetScanEnable(0, 0)) == b"\x00"
        assert await scanner.run(hci.LeSetScanParameters(0, 16, 16, 0, 0x02)) == b"\x00"
        assert await scanner.run(hci.LeSetScanEnable(1, 1)) == b"\x00"
        (report,) = (await scanner.next_event(hci.LeDirectedAdvertisingReport)).reports
        assert report.event_type == 0x01  # ADV_DIRECT_IND
        assert report.address == advertiser.controller.public_address
        # TargetA: an RPA of someone's IRK (HCI carries IRKs least significant octet first).
        target = crypto.reverse(report.direct_address.value)
        assert crypto.resolve_rpa(crypto.reverse(irk), target)
        assert report.direct_address_type == AddressType.RANDOM
