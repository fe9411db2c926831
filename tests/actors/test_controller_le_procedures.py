"""LE procedures on a live connection, encryption, extended advertising and random addresses."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing

from bluetrio.address import Address, AddressType
from bluetrio.controller import Air, VirtualController
from bluetrio.controller.connections import AclFrame
from bluetrio.controller.harness import RawHost, adv_params, advertise, connect, open_host
from bluetrio.messages import hci

ALL_EVENTS = struct.pack("<Q", 0x3FFF_FFFF_FFFF_FFFF)
LTK = bytes(range(16))
RAND, EDIV = bytes(range(8, 16)), 0x1234


@asynccontextmanager
async def two_hosts(le_mask: int = 0x1F) -> AsyncIterator[tuple[RawHost, RawHost, Air]]:
    air = Air()
    async with (
        open_host(VirtualController(air)) as first,
        open_host(VirtualController(air)) as second,
    ):
        for host in (first, second):
            await host.command(0x0C01, ALL_EVENTS)
            await host.command(0x2001, struct.pack("<Q", le_mask))
        yield first, second, air


async def start_encryption(
    central: RawHost, peripheral: RawHost, handles: tuple[int, int], peripheral_ltk: bytes
) -> None:
    central_handle, peripheral_handle = handles
    request = struct.pack("<H8sH16s", central_handle, RAND, EDIV, LTK)
    assert await central.command(0x2019, request) == b"\x00"
    ltk_request = await peripheral.expect(hci.LeLongTermKeyRequest)
    assert ltk_request == struct.pack("<H8sH", peripheral_handle, RAND, EDIV)
    reply = await peripheral.command(
        0x201A, struct.pack("<H16s", peripheral_handle, peripheral_ltk)
    )
    assert reply == b"\x00" + struct.pack("<H", peripheral_handle)


async def test_encryption_with_matching_keys(autojump_clock: trio.testing.MockClock) -> None:
    async with two_hosts() as (central, peripheral, _):
        handles = await connect(central, peripheral)
        await start_encryption(central, peripheral, handles, LTK)
        for host, handle in zip((central, peripheral), handles, strict=True):
            change = await host.expect(hci.EncryptionChange)
            assert change == struct.pack("<BHB", 0, handle, 1)
        # Starting again refreshes the key (Vol 4 Part E 7.7.39).
        await start_encryption(central, peripheral, handles, LTK)
        refresh = await central.expect(hci.EncryptionKeyRefreshComplete)
        assert refresh == struct.pack("<BH", 0, handles[0])


async def test_encryption_with_different_keys_ends_in_mic_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts() as (central, peripheral, _):
        handles = await connect(central, peripheral)
        await start_encryption(central, peripheral, handles, bytes(16))
        for host, handle in zip((central, peripheral), handles, strict=True):
            event = await host.expect(hci.DisconnectionComplete)
            assert event == struct.pack("<BHB", 0, handle, 0x3D)
        assert not [e for e in central.events if e[0] == hci.EncryptionChange.EVENT_CODE]


async def test_negative_reply_reports_key_missing(autojump_clock: trio.testing.MockClock) -> None:
    async with two_hosts() as (central, peripheral, _):
        central_handle, peripheral_handle = await connect(central, peripheral)
        await central.command(0x2019, struct.pack("<H8sH16s", central_handle, RAND, EDIV, LTK))
        await peripheral.expect(hci.LeLongTermKeyRequest)
        reply = await peripheral.command(0x201B, struct.pack("<H", peripheral_handle))
        assert reply == b"\x00" + struct.pack("<H", peripheral_handle)
        change = await central.expect(hci.EncryptionChange)
        assert change == struct.pack("<BHB", 0x06, central_handle, 0)
        # Only the central may start encryption; a reply with nothing pending is disallowed.
        peripheral_start = struct.pack("<H8sH16s", peripheral_handle, RAND, EDIV, LTK)
        assert await peripheral.command(0x2019, peripheral_start) == b"\x0c"
        late = await peripheral.command(0x201B, struct.pack("<H", peripheral_handle))
        assert late[:1] == b"\x0c"


async def test_corrupted_pdu_on_encrypted_link_is_a_mic_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts() as (central, peripheral, air):
        handles = await connect(central, peripheral)
        await start_encryption(central, peripheral, handles, LTK)
        await central.expect(hci.EncryptionChange)
        air.faults.corrupt(lambda frame: isinstance(frame, AclFrame), count=1)
        await central.send_acl(handles[0], b"\x01\x00\x04\x00\x0a")
        for host, handle in zip((central, peripheral), handles, strict=True):
            event = await host.expect(hci.DisconnectionComplete)
            assert event == struct.pack("<BHB", 0, handle, 0x3D)
        assert peripheral.acl == []


async def test_le_encrypt_matches_fips_197(autojump_clock: trio.testing.MockClock) -> None:
    key = bytes(range(16))
    plaintext = bytes.fromhex("00112233445566778899aabbccddeeff")
    expected = bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a")
    async with open_host(VirtualController(Air())) as host:
        # HCI carries the three values least significant octet first.
        result = await host.command(0x2017, key[::-1] + plaintext[::-1])
        assert result == b"\x00" + expected[::-1]
        first, second = await host.command(0x2018), await host.command(0x2018)
        assert len(first) == 9 and first != second


async def test_connection_update_data_length_and_phy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Default LE events plus Data Length Change (bit 6) and PHY Update Complete (bit 11).
    async with two_hosts(le_mask=0x1F | 1 << 6 | 1 << 11) as (central, peripheral, air):
        central_handle, peripheral_handle = await connect(central, peripheral)
        update = struct.pack("<HHHHHHH", central_handle, 0x28, 0x30, 2, 0x200, 0, 0)
        assert await central.command(0x2013, update) == b"\x00"
        for host, handle in ((central, central_handle), (peripheral, peripheral_handle)):
            event = await host.expect(hci.LeConnectionUpdateComplete)
            assert event == struct.pack("<BHHHH", 0, handle, 0x28, 2, 0x200)
        assert air.links[0].supervision_timeout == 0x200 * 0.01

        reply = await central.command(0x2022, struct.pack("<HHH", central_handle, 251, 2120))
        assert reply == b"\x00" + struct.pack("<H", central_handle)
        ours = await central.expect(hci.LeDataLengthChange)
        theirs = await peripheral.expect(hci.LeDataLengthChange)
        assert ours == struct.pack("<HHHHH", central_handle, 251, 2120, 27, 328)
        assert theirs == struct.pack("<HHHHH", peripheral_handle, 27, 328, 251, 2120)

        assert await central.command(0x2032, struct.pack("<HBBBH", central_handle, 0, 2, 2, 0))
        for host, handle in ((central, central_handle), (peripheral, peripheral_handle)):
            event = await host.expect(hci.LePhyUpdateComplete)
            assert event == struct.pack("<BHBB", 0, handle, 2, 2)
        assert await peripheral.command(0x2030, struct.pack("<H", peripheral_handle)) == (
            b"\x00" + struct.pack("<HBB", peripheral_handle, 2, 2)
        )
        # Out-of-range update: Invalid HCI Command Parameters (Vol 4 Part E 7.8.18).
        bad = struct.pack("<HHHHHHH", central_handle, 0x30, 0x28, 0, 0x200, 0, 0)
        assert await central.command(0x2013, bad) == b"\x12"


async def extended_advertise(
    host: RawHost, properties: int, data: bytes, *, own_address_type: int = 0, enable: bool = True
) -> None:
    parameters = struct.pack(
        "<BH3s3sBBB6sBbBBBBB",
        1,
        properties,
        (0xA0).to_bytes(3, "little"),
        (0xA0).to_bytes(3, "little"),
        7,
        own_address_type,
        0,
        bytes(6),
        0,
        0x7F,
        1,
        0,
        1,
        3,
        0,
    )
    assert (await host.command(0x2036, parameters))[:1] == b"\x00"
    for offset in range(0, len(data), 251):
        chunk = data[offset : offset + 251]
        operation = 3 if len(data) <= 251 else 1 if offset == 0 else 0
        if offset + 251 >= len(data) and len(data) > 251:
            operation = 2
        command = struct.pack("<BBBB", 1, operation, 1, len(chunk)) + chunk
        assert await host.command(0x2037, command) == b"\x00"
    if enable:
        assert await host.command(0x2039, EXTENDED_ENABLE) == b"\x00"


EXTENDED_ENABLE = struct.pack("<BBBHB", 1, 1, 1, 0, 0)  # set 1, no duration, no event limit


async def test_extended_advertising_reaches_an_extended_scanner_in_fragments(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts(le_mask=0xFFFFF) as (scanner, advertiser, _):
        data = bytes(range(256)) + bytes(44)  # 300 bytes: two report fragments
        await extended_advertise(advertiser, 0x0000, data)
        scan = struct.pack("<BBBBHH", 0, 0, 1, 0, 16, 16)
        assert await scanner.command(0x2041, scan) == b"\x00"
        assert await scanner.command(0x2042, struct.pack("<BBHH", 1, 1, 0, 0)) == b"\x00"
        first = await scanner.expect(hci.LeExtendedAdvertisingReport)
        second = await scanner.expect(hci.LeExtendedAdvertisingReport)
        event_type_first = struct.unpack_from("<H", first, 1)[0]
        event_type_second = struct.unpack_from("<H", second, 1)[0]
        assert event_type_first == 0b01 << 5  # non-connectable, incomplete: more to come
        assert event_type_second == 0
        assert first[25:] + second[25:] == data
        assert first[4:10] == advertiser.controller.public_address.to_wire()
        # The host chose extended commands: legacy ones are now disallowed.
        assert await advertiser.command(0x2006, adv_params()) == b"\x0c"
        assert await scanner.command(0x200C, b"\x00\x00") == b"\x0c"


async def test_connecting_to_an_extended_set_terminates_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts(le_mask=0xFFFFF) as (central, peripheral, _):
        await extended_advertise(peripheral, 0x0001, b"\x02\x01\x06")  # connectable
        peer = peripheral.controller.public_address
        per_phy = struct.pack("<HHHHHHHH", 16, 16, 0x18, 0x18, 0, 0x64, 0, 0)
        request = struct.pack("<BBB6sB", 0, 0, 0, peer.to_wire(), 1) + per_phy
        assert await central.command(0x2043, request) == b"\x00"
        complete = await peripheral.expect(hci.LeEnhancedConnectionComplete)
        handle = struct.unpack_from("<H", complete, 1)[0]
        terminated = await peripheral.expect(hci.LeAdvertisingSetTerminated)
        # Two advertising events: one on enable (before the central initiated), one answered.
        assert terminated == struct.pack("<BBHB", 0, 1, handle, 2)
        central_complete = await central.expect(hci.LeEnhancedConnectionComplete)
        assert central_complete[0] == 0 and central_complete[3] == 0


async def test_random_address_is_used_and_locked_while_advertising(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts() as (scanner, advertiser, _):
        random = Address(bytes((1, 2, 3, 4, 5, 0xC6)), AddressType.RANDOM)
        # Advertising with a random own address before setting one is invalid.
        own_random = bytearray(adv_params())
        own_random[5] = 1
        await advertiser.command(0x2006, bytes(own_random))
        assert await advertiser.command(0x200A, b"\x01") == b"\x12"
        assert await advertiser.command(0x2005, random.to_wire()) == b"\x00"
        assert await advertiser.command(0x200A, b"\x01") == b"\x00"
        assert await advertiser.command(0x2005, bytes(6)) == b"\x0c"
        await scanner.command(0x200B, struct.pack("<BHHBB", 0, 16, 16, 0, 0))
        await scanner.command(0x200C, b"\x01\x01")
        report = await scanner.expect(hci.LeAdvertisingReport)
        assert report[2] == AddressType.RANDOM and report[3:9] == random.to_wire()


async def test_an_extended_set_advertises_with_its_own_random_address_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An extended set with a random own address needs the set's random address
    (LE_Set_Advertising_Set_Random_Address, Vol 4 Part E 7.8.52): enabling it without one is
    Invalid HCI Command Parameters (7.8.56), even when LE_Set_Random_Address gave the
    controller a random address; with one, the set transmits with it."""
    async with two_hosts(le_mask=0xFFFFF) as (scanner, advertiser, _):
        common = Address(bytes((1, 2, 3, 4, 5, 0xC6)), AddressType.RANDOM)
        own = Address(bytes((6, 7, 8, 9, 10, 0xC7)), AddressType.RANDOM)
        assert await advertiser.command(0x2005, common.to_wire()) == b"\x00"
        await extended_advertise(
            advertiser, 0x0000, b"\x02\x01\x06", own_address_type=1, enable=False
        )
        assert await advertiser.command(0x2039, EXTENDED_ENABLE) == b"\x12"
        assert await advertiser.command(0x2035, b"\x01" + own.to_wire()) == b"\x00"
        assert await advertiser.command(0x2039, EXTENDED_ENABLE) == b"\x00"
        scan = struct.pack("<BBBBHH", 0, 0, 1, 0, 16, 16)
        assert await scanner.command(0x2041, scan) == b"\x00"
        assert await scanner.command(0x2042, struct.pack("<BBHH", 1, 1, 0, 0)) == b"\x00"
        report = await scanner.expect(hci.LeExtendedAdvertisingReport)
        assert report[3] == AddressType.RANDOM and report[4:10] == own.to_wire()


async def test_high_duty_directed_advertising_times_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_hosts() as (_, advertiser, _air):
        await advertise(advertiser, b"", adv_type=0x01)
        start = trio.current_time()
        event = await advertiser.expect(hci.LeConnectionComplete)
        assert event[0] == 0x3C
        assert trio.current_time() - start == 1.28
