"""Two virtual controllers on one air, driven with raw HCI bytes (LE)."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from bluetrio.controller import Air, TimingModel, VirtualController
from bluetrio.controller.harness import (
    RawHost,
    advertise,
    connect,
    create_connection_params,
    open_host,
)
from bluetrio.messages import hci

ADV_PARAMS = 0x2006
ADV_DATA = 0x2008
SCAN_RSP_DATA = 0x2009
ADV_ENABLE = 0x200A
SCAN_PARAMS = 0x200B
SCAN_ENABLE = 0x200C
CREATE_CONNECTION = 0x200D
CREATE_CONNECTION_CANCEL = 0x200E
LE_SET_EVENT_MASK = 0x2001
DISCONNECT = 0x0406
ALL_LE_EVENTS = struct.pack("<Q", 0xFFFFF)


@asynccontextmanager
async def two_hosts(
    timing: TimingModel | None = None,
) -> AsyncIterator[tuple[RawHost, RawHost, Air]]:
    air = Air(timing)
    async with (
        open_host(VirtualController(air)) as first,
        open_host(VirtualController(air)) as second,
    ):
        for host in (first, second):
            # LE Meta events are off in the power-on mask (Vol 4 Part E 7.3.1).
            assert await host.command(0x0C01, struct.pack("<Q", 0x3FFF_FFFF_FFFF_FFFF)) == b"\0"
        yield first, second, air


async def test_passive_scan_reports_advertising_data_at_the_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts() as (scanner, advertiser, _):
        await advertise(advertiser, b"\x05\x09abcd")
        assert await scanner.command(SCAN_PARAMS, struct.pack("<BHHBB", 0, 16, 16, 0, 0)) == b"\0"
        assert await scanner.command(SCAN_ENABLE, b"\x01\x00") == b"\x00"
        first = await scanner.expect(hci.LeAdvertisingReport)
        start = trio.current_time()
        second = await scanner.expect(hci.LeAdvertisingReport)
        # One report per advertising event: the interval (0xA0 * 0.625 ms) separates them.
        assert trio.current_time() - start == pytest.approx(0x00A0 * 0.000625, abs=1e-6)
        assert first == second
        assert first[:2] == b"\x01\x00"  # one report, ADV_IND
        assert first[3:9] == advertiser.controller.public_address.to_wire()
        assert first[9:16] == b"\x06\x05\x09abcd"
        assert struct.unpack("<b", first[-1:])[0] == scanner.controller.config.rssi


async def test_active_scan_gets_scan_response_and_filters_duplicates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts() as (scanner, advertiser, _):
        response = b"\x04\x09xyz"
        await advertiser.command(SCAN_RSP_DATA, bytes((len(response),)) + response.ljust(31, b"\0"))
        await advertise(advertiser)
        await scanner.command(SCAN_PARAMS, struct.pack("<BHHBB", 1, 16, 16, 0, 0))
        await scanner.command(SCAN_ENABLE, b"\x01\x01")
        advertisement = await scanner.expect(hci.LeAdvertisingReport)
        scan_response = await scanner.expect(hci.LeAdvertisingReport)
        assert advertisement[1] == 0x00 and scan_response[1] == 0x04
        assert scan_response[10:15] == response
        await trio.sleep(1.0)  # many more advertising events, all duplicates
        assert not [e for e in scanner.events if e[0] == hci.LeMetaEvent.EVENT_CODE]


async def test_connect_exchange_acl_with_flow_control_and_disconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts() as (central, peripheral, _):
        central_handle, peripheral_handle = await connect(central, peripheral)
        payload = bytes(range(200)) * 2  # 400 bytes: more than the peer's 251-byte buffers
        await central.send_acl(central_handle, payload[:251], 0b00)
        await central.send_acl(central_handle, payload[251:], 0b01)
        # Both packets completed; the controller may report them in one event or two.
        completed = 0
        while completed < 2:
            event = await central.expect(hci.NumberOfCompletedPackets)
            handles, handle, count = struct.unpack("<BHH", event)
            assert (handles, handle) == (1, central_handle)
            completed += count
        assert completed == 2
        first, second = await peripheral.take_acl(), await peripheral.take_acl()
        assert struct.unpack("<HH", first[:4]) == (peripheral_handle | 0x2000, 251)
        assert struct.unpack("<HH", second[:4]) == (peripheral_handle | 0x1000, 149)
        assert first[4:] + second[4:] == payload
        status = await central.command(DISCONNECT, struct.pack("<HB", central_handle, 0x13))
        assert status == b"\x00"
        assert await central.expect(hci.DisconnectionComplete) == struct.pack(
            "<BHB", 0, central_handle, 0x16
        )
        assert await peripheral.expect(hci.DisconnectionComplete) == struct.pack(
            "<BHB", 0, peripheral_handle, 0x13
        )


async def test_host_overrunning_the_buffers_gets_data_buffer_overflow(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts(TimingModel.realistic()) as (central, peripheral, _):
        central_handle, _ = await connect(central, peripheral)
        # With real airtime the buffers stay busy while the link sends them one by one.
        for _ in range(central.controller.config.total_num_le_acl_data_packets + 1):
            await central.send_acl(central_handle, b"\x01\x00\x04\x00\x0a", 0b00)
        assert await central.expect(hci.DataBufferOverflow) == b"\x01"


async def test_create_connection_cancel_reports_unknown_connection_identifier(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts() as (central, peripheral, air):
        air.faults.refuse_connections(peripheral.controller.public_address)
        await advertise(peripheral)
        await central.command(
            CREATE_CONNECTION, create_connection_params(peripheral.controller.public_address)
        )
        await trio.sleep(2.0)  # the refused connect requests never get an answer
        assert await central.command(CREATE_CONNECTION_CANCEL) == b"\x00"
        event = await central.expect(hci.LeConnectionComplete)
        assert event[0] == 0x02
        # Cancelling again: nothing is being created any more.
        assert await central.command(CREATE_CONNECTION_CANCEL) == b"\x0c"


async def test_enhanced_connection_complete_when_unmasked(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts() as (central, peripheral, _):
        await central.command(LE_SET_EVENT_MASK, ALL_LE_EVENTS)
        await advertise(peripheral)
        await central.command(
            CREATE_CONNECTION, create_connection_params(peripheral.controller.public_address)
        )
        enhanced = await central.expect(hci.LeEnhancedConnectionComplete)
        assert enhanced[0] == 0 and len(enhanced) == 30
        legacy = await peripheral.expect(hci.LeConnectionComplete)
        assert legacy[0] == 0


async def test_dropped_link_times_out_on_both_sides_after_supervision_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts() as (central, peripheral, air):
        central_handle, peripheral_handle = await connect(central, peripheral)
        (link,) = air.links
        start = trio.current_time()
        air.drop_link(link)
        central_event = await central.expect(hci.DisconnectionComplete)
        peripheral_event = await peripheral.expect(hci.DisconnectionComplete)
        assert trio.current_time() - start == pytest.approx(0x64 * 0.01)
        assert central_event == struct.pack("<BHB", 0, central_handle, 0x08)
        assert peripheral_event == struct.pack("<BHB", 0, peripheral_handle, 0x08)


async def test_dropped_pdu_never_arrives_and_corrupted_pdu_arrives_altered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from bluetrio.controller.connections import AclFrame

    async with two_hosts() as (central, peripheral, air):
        central_handle, _ = await connect(central, peripheral)
        air.faults.drop(lambda frame: isinstance(frame, AclFrame) and frame.data == b"lost", 1)
        air.faults.corrupt(lambda frame: isinstance(frame, AclFrame) and frame.data == b"bent", 1)
        for data in (b"lost", b"bent", b"fine"):
            await central.send_acl(central_handle, data)
        assert (await peripheral.take_acl())[4:] == b"cent"
        assert (await peripheral.take_acl())[4:] == b"fine"


async def test_muted_controller_answers_no_commands(autojump_clock: trio.testing.MockClock) -> None:
    async with two_hosts() as (host, _, air):
        air.faults.mute(host.controller.public_address)
        await host.send_command(0x1009)
        await trio.sleep(5.0)
        assert host.events == []
        air.faults.mute(host.controller.public_address, mute=False)
        assert await host.command(0x1009) == b"\x00" + host.controller.public_address.to_wire()
