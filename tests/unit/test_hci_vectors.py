"""Known byte vectors, value checks and the helper tables of the HCI codec."""

from __future__ import annotations

import pytest

from bluetrio.address import Address, AddressType
from bluetrio.errors import DecodeError, InvalidArgumentError
from bluetrio.messages import hci

PEER = Address.parse("7B:9A:1D:E5:4C:F2/R")


@pytest.mark.parametrize(
    ("packet", "hex_bytes"),
    [
        (hci.Reset(), "030c00"),
        (hci.Disconnect(connection_handle=0x0040, reason=0x13), "0604034000 13"),
        (hci.LeSetScanEnable(le_scan_enable=1, filter_duplicates=0), "0c2002 0100"),
        (
            hci.LeSetAdvertisingParameters(
                advertising_interval_min=0x0800,
                advertising_interval_max=0x0800,
                advertising_type=0,
                own_address_type=0,
                peer_address=Address(bytes(6)),
                advertising_channel_map=7,
                advertising_filter_policy=0,
            ),
            "06200f 0008 0008 00 00 00 000000000000 07 00",
        ),
        (
            hci.LeSetAdvertisingData(b"\x02\x01\x06"),
            "082020 03 020106" + "00" * 28,
        ),
        (hci.WriteLocalName("bt"), "130cf8 6274" + "00" * 246),
        (hci.CommandComplete(1, 0x0C03, b"\x00"), "0e04 01 030c 00"),
        (hci.CommandStatus(0, 1, 0x0405), "0f04 00 01 0504"),
        (
            hci.NumberOfCompletedPackets(((0x0040, 1), (0x0041, 3))),
            "1309 02 4000 0100 4100 0300",
        ),
        (
            hci.LeConnectionComplete(
                status=0,
                connection_handle=0x0040,
                role=0,
                peer_address=PEER,
                connection_interval=0x0028,
                peripheral_latency=0,
                supervision_timeout=0x002A,
                central_clock_accuracy=0,
            ),
            # As btmon shows a real one: handle 64, random peer, 50 ms, 420 ms timeout.
            "3e13 01 00 4000 00 01 f24ce51d9a7b 2800 0000 2a00 00",
        ),
        (
            hci.LeAdvertisingReport(
                (
                    hci.AdvertisingReport(0x00, PEER, b"\x02\x01\x06", -60),
                    hci.AdvertisingReport(
                        0x04, Address(bytes(range(1, 7)), AddressType.PUBLIC), b"", -1
                    ),
                )
            ),
            "3e19 02 02  00 01 f24ce51d9a7b 03 020106 c4  04 00 010203040506 00 ff",
        ),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else "bytes",
)
def test_known_vectors(packet: hci.HciCommand | hci.HciEvent, hex_bytes: str) -> None:
    data = bytes.fromhex(hex_bytes)
    assert packet.to_bytes() == data
    parsed = (
        hci.parse_command(data) if isinstance(packet, hci.HciCommand) else hci.parse_event(data)
    )
    assert parsed == packet


def test_read_bd_addr_command_complete_decodes_its_return() -> None:
    event = hci.parse_event(bytes.fromhex("0e0a 01 0910 00 665544332211"))
    assert isinstance(event, hci.CommandComplete)
    assert event.status == 0
    returned = event.decode_return()
    assert returned == hci.ReadBdAddrReturn(0, Address.parse("11:22:33:44:55:66"))
    assert isinstance(returned, hci.ReadBdAddrReturn)


def test_decode_return_variants() -> None:
    vendor = hci.CommandComplete(1, 0xFC01, b"\x00\x07")
    assert vendor.decode_return() == b"\x00\x07"
    failed_short = hci.CommandComplete(1, hci.ReadBufferSize.OPCODE, b"\x0c")
    assert failed_short.decode_return() == hci.StatusReturn(0x0C)
    assert failed_short.status == hci.HciStatus.COMMAND_DISALLOWED
    broken = hci.CommandComplete(1, hci.ReadBufferSize.OPCODE, b"\x00\x1b")
    with pytest.raises(DecodeError, match="0x1005"):
        broken.decode_return()
    assert hci.CommandComplete(1, 0x0000, b"").status is None  # a bare credit update


def test_le_meta_from_parameters_checks_the_subevent() -> None:
    with pytest.raises(InvalidArgumentError, match="subevent code 0x01"):
        hci.LeConnectionComplete.from_parameters(b"\x02" + bytes(18))


def test_typed_address_rejects_unknown_address_types() -> None:
    data = bytearray(bytes.fromhex("3e13 01 00 4000 00 01 f24ce51d9a7b 2800 0000 2a00 00"))
    data[7] = 0x04
    with pytest.raises(DecodeError, match="address type 0x04"):
        hci.parse_event(bytes(data))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: hci.Disconnect(connection_handle=0x10000, reason=0), "connection_handle"),
        (lambda: hci.Disconnect(connection_handle=-1, reason=0), "does not fit"),
        (lambda: hci.Disconnect(connection_handle=1, reason=True), "expected an integer"),
        (lambda: hci.LeEncrypt(key=bytes(15), plaintext_data=bytes(16)), "exactly 16"),
        (lambda: hci.LeEncrypt(key="k" * 16, plaintext_data=bytes(16)), "expected bytes"),
        (lambda: hci.LeSetAdvertisingData(bytes(32)), "at most 31"),
        (lambda: hci.WriteLocalName("x" * 249), "at most 248"),
        (lambda: hci.WriteLocalName("a\x00b"), "NUL"),
        (lambda: hci.ReadRssiReturn(0, 1, 128), "signed octet"),
        (lambda: hci.CreateConnectionCancel(bd_addr=b"123456"), "expected Address"),
        (
            lambda: hci.LeSetExtendedScanParameters(
                0, 0, 0b101, (hci.ExtendedScanPhyParameters(1, 16, 16),)
            ),
            "expected 2 entries",
        ),
        (lambda: hci.LeSetExtendedAdvertisingEnable(1, ((0, 0, 0),)), "AdvertisingSetEnable"),
        (lambda: hci.NumberOfCompletedPackets(((0x1000, 1),)), "connection_handle 0..0xFFF"),
        (lambda: hci.NumberOfCompletedPackets(((1, 2, 3),)), "pairs"),
        (lambda: hci.NumberOfCompletedPackets(tuple((i, 1) for i in range(64))), "63"),
        (lambda: hci.UnknownCommand(0x1FFFF, b""), "opcode"),
        (lambda: hci.UnknownCommand.from_parameters(b""), "parse_command"),
        (lambda: hci.UnknownEvent.from_parameters(b""), "parse_event"),
        (lambda: hci.SetEventFilter(0, bytes(255)).to_bytes(), "do not fit"),
    ],
)
def test_bad_arguments_raise_invalid_argument(build: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        build()  # type: ignore[operator]


def test_extended_scan_parameters_use_one_entry_per_phy_bit() -> None:
    command = hci.LeSetExtendedScanParameters(
        own_address_type=1,
        scanning_filter_policy=0,
        scanning_phys=0b101,  # 1M and Coded
        phys=(
            hci.ExtendedScanPhyParameters(1, 0x10, 0x10),
            hci.ExtendedScanPhyParameters(0, 0x20, 0x18),
        ),
    )
    assert command.parameters() == bytes.fromhex("01 00 05 01 1000 1000 00 2000 1800")
    assert hci.parse_command(command.to_bytes()) == command
    # One PHY bit but two entries on the wire: the second becomes trailing garbage.
    with pytest.raises(DecodeError, match="unexpected byte"):
        hci.LeSetExtendedScanParameters.from_parameters(
            bytes.fromhex("01 00 01 01 1000 1000 00 2000 1800")
        )


def test_advertising_report_count_is_bounded_by_the_data() -> None:
    # Num_Reports says 3 but only one report follows.
    data = bytes.fromhex("3e0c 02 03 00 01 f24ce51d9a7b 00 c4")
    with pytest.raises(DecodeError, match="AdvertisingReport"):
        hci.parse_event(data)


def test_remote_name_with_invalid_utf8_is_replaced_not_rejected() -> None:
    event = hci.RemoteNameRequestComplete.from_parameters(b"\x00" + bytes(6) + b"\xff" * 248)
    assert event.remote_name == "\ufffd" * 82  # trimmed so that it fits in 248 bytes again
    assert len(event.parameters()) == 255


def test_supported_commands_bits() -> None:
    assert hci.SUPPORTED_COMMAND_BITS[hci.Reset.OPCODE] == (5, 7)
    assert hci.SUPPORTED_COMMAND_BITS[hci.LeSetExtendedAdvertisingParameters.OPCODE] == (36, 2)
    positions = list(hci.SUPPORTED_COMMAND_BITS.values())
    assert len(positions) == len(set(positions)), "two commands share a bit"
    assert all(0 <= octet < 64 and 0 <= bit < 8 for octet, bit in positions)
    bitmap = hci.supported_commands_bitmap([hci.Reset.OPCODE, hci.ReadBdAddr.OPCODE])
    assert len(bitmap) == 64
    assert bitmap[5] == 0x80 and bitmap[15] == 0x02 and sum(bitmap) == 0x82
    returned = hci.ReadLocalSupportedCommandsReturn(0, bitmap)
    assert returned.supports(hci.Reset.OPCODE)
    assert returned.supports(hci.ReadBdAddr.OPCODE)
    assert not returned.supports(hci.Inquiry.OPCODE)
    assert not returned.supports(0xFC01)  # vendor commands have no bit
    with pytest.raises(InvalidArgumentError, match="0xFC01"):
        hci.supported_commands_bitmap([0xFC01])


def test_feature_names() -> None:
    assert hci.lmp_feature_names(0b1000_0101) == ["3-slot packets", "Encryption", "Sniff mode"]
    assert hci.lmp_feature_names(bytes([0x02, 0, 0, 0, 0, 0, 0, 0x80])) == [
        "5-slot packets",
        "Extended features",
    ]
    assert hci.lmp_feature_names(0b1001, page=1) == [
        "Secure simple pairing (host)",
        "Secure connections (host)",
    ]
    assert hci.le_feature_names((1 << 0) | (1 << 8) | (1 << 60)) == [
        "LE encryption",
        "LE 2M PHY",
        "bit 60",
    ]
    assert hci.feature_names(0) == []
    with pytest.raises(InvalidArgumentError):
        hci.feature_names(-1)


def test_status_codes() -> None:
    assert hci.HciStatus(0x13) is hci.HciStatus.REMOTE_USER_TERMINATED_CONNECTION
    assert hci.HciStatus.PAGE_TIMEOUT == 0x04
    assert hci.HciStatus.CONNECTION_FAILED_TO_BE_ESTABLISHED == 0x3E
    assert hci.describe_status(0x08) == "Connection Timeout (0x08)"
    assert hci.describe_status(0xEE) == "unknown status (0xEE)"
