"""The LE command family (Core 5.4 Vol 4 Part E 3.1.1): chosen once per controller at
bring-up, and every advertising, scanning and connecting command btm sends belongs to it."""

from __future__ import annotations

from typing import Any

import pytest

from bluetrio.actors.btm.commands import CommandIssuer
from bluetrio.actors.btm.core import BtmCore
from bluetrio.actors.btm.devices import DeviceRecords
from bluetrio.actors.btm.le import LeManager
from bluetrio.actors.effects import Emit, Send
from bluetrio.address import Address, AddressType
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages import hci
from bluetrio.messages.btm import (
    AdvertiseReq,
    AdvertiseStopReq,
    AdvertisingParameters,
    BtmCnf,
    ConnectReq,
    ScanReq,
    ScanStopReq,
)
from bluetrio.messages.controller_info import ControllerInfo
from bluetrio.messages.hci.base import SUPPORTED_COMMAND_BITS

PUBLIC = Address.parse("00:11:22:33:44:55")
PEER = Address.parse("C0:00:00:00:00:02", AddressType.RANDOM)
EXTENDED_ADVERTISING_BIT = 1 << 12  # LE feature bit (Vol 6 Part B 4.6)
EXTENDED_COMMANDS = (
    hci.LeSetExtendedAdvertisingParameters,
    hci.LeSetExtendedScanParameters,
    hci.LeExtendedCreateConnection,
)
LEGACY_FAMILY = (
    hci.LeSetAdvertisingParameters, hci.LeSetAdvertisingData, hci.LeSetScanResponseData,
    hci.LeSetAdvertisingEnable, hci.LeSetScanParameters, hci.LeSetScanEnable,
    hci.LeCreateConnection,
)  # fmt: skip


def bitmap_without(*opcodes: int) -> bytes:
    bitmap = bytearray(b"\xff" * 64)
    for opcode in opcodes:
        octet, bit = SUPPORTED_COMMAND_BITS[opcode]
        bitmap[octet] &= ~(1 << bit) & 0xFF
    return bytes(bitmap)


def info(le_features: int | None, supported_commands: bytes) -> ControllerInfo:
    return ControllerInfo(
        PUBLIC, 13, 1, 13, 1, 0xFFFF, supported_commands, ((1 << 38) | (1 << 63), 0, 0),
        le_features, 1021, 8, 251, 8, None,
    )  # fmt: skip


def test_extended_family_needs_the_feature_bit_and_each_extended_command() -> None:
    assert info(EXTENDED_ADVERTISING_BIT, bitmap_without()).le_extended_commands
    assert not info(0xFF, bitmap_without()).le_extended_commands
    assert not info(None, bitmap_without()).le_extended_commands
    for command in EXTENDED_COMMANDS:
        missing = bitmap_without(command.OPCODE)
        assert not info(EXTENDED_ADVERTISING_BIT, missing).le_extended_commands


@pytest.mark.parametrize("extended", [True, False])
def test_bringup_chooses_the_family_of_the_controller(extended: bool) -> None:
    core = BtmCore()
    features = EXTENDED_ADVERTISING_BIT if extended else 0xFF
    core._on_bringup_done(info(features, bitmap_without()), 0.0)
    assert core.le.extended is extended


def manager(extended: bool, own: Address = PUBLIC) -> LeManager:
    le = LeManager(CommandIssuer(), DeviceRecords(), lambda: own)
    le.choose_family(extended)
    return le


def commands_of(sequence: Any) -> list[Any]:
    return [query.command for query in sequence]


def sent(effects: Any) -> list[Any]:
    return [
        e.message.command for e in effects if isinstance(e, Emit) and hasattr(e.message, "command")
    ]


def every_command(le: LeManager, parameters: AdvertisingParameters) -> list[Any]:
    """What advertising, scanning and connecting send (each sequence driven to its end)."""
    advertising = commands_of(
        le._extended_advertising(parameters) if le.extended else le._legacy_advertising(parameters)
    )
    scanning = commands_of(le._scan_sequence(ScanReq(1)))
    connecting = sent(le.connect("app", ConnectReq(2, PEER), 0.0))
    le.advertising, le.scanning = parameters, True
    stopping = sent(le.stop_advertising("app", AdvertiseStopReq(3), 0.0))
    stopping += sent(le.stop_scan("app", ScanStopReq(4), 0.0))
    return advertising + scanning + connecting + stopping


@pytest.mark.parametrize(
    ("connectable", "scannable", "properties"),
    [(True, True, 0x13), (False, True, 0x12), (False, False, 0x10)],
)
def test_extended_family_sends_a_legacy_advertisement_as_a_set_of_legacy_pdus(
    connectable: bool, scannable: bool, properties: int
) -> None:
    """ADV_IND, ADV_SCAN_IND, ADV_NONCONN_IND (Vol 4 Part E 7.8.53, Table 7.2)."""
    from bluetrio.messages.ad import AdvertisingData, LocalName

    parameters = AdvertisingParameters(
        AdvertisingData((LocalName("x" * 29),)), connectable=connectable, scannable=scannable
    )
    le = manager(True)
    commands = every_command(le, parameters)
    [set_parameters] = [
        c for c in commands if isinstance(c, hci.LeSetExtendedAdvertisingParameters)
    ]
    assert set_parameters.advertising_event_properties == properties
    assert not [c for c in commands if isinstance(c, LEGACY_FAMILY)]
    # A legacy PDU carries 31 octets at most (Vol 4 Part E 7.8.54).
    too_long = AdvertisingParameters(AdvertisingData((LocalName("x" * 30),)))
    with pytest.raises(InvalidArgumentError):
        commands_of(le._extended_advertising(too_long))


def test_extended_family_scans_and_connects_on_the_1m_phy() -> None:
    le = manager(True)
    commands = every_command(le, AdvertisingParameters(connectable=False, extended=True))
    types = [type(c) for c in commands]
    assert types == [
        hci.LeSetExtendedAdvertisingParameters, hci.LeSetExtendedAdvertisingData,
        hci.LeSetExtendedAdvertisingEnable,
        hci.LeSetExtendedScanParameters, hci.LeSetExtendedScanEnable,
        hci.LeExtendedCreateConnection,
        hci.LeSetExtendedAdvertisingEnable, hci.LeSetExtendedScanEnable,
    ]  # fmt: skip
    scan_parameters, scan_enable = commands[3], commands[4]
    assert scan_parameters == hci.LeSetExtendedScanParameters(
        0, 0, 0x01, (hci.ExtendedScanPhyParameters(0, 0x0060, 0x0030),)
    )
    assert scan_enable == hci.LeSetExtendedScanEnable(1, 1, 0, 0)
    create = commands[5]
    assert create.initiating_phys == 0x01 and create.peer_address == PEER
    [phy] = create.phys
    assert (phy.connection_interval_min, phy.connection_interval_max) == (0x0018, 0x0028)
    assert phy.supervision_timeout == 0x01F4
    assert commands[6].enable == 0 and commands[7] == hci.LeSetExtendedScanEnable(0, 0, 0, 0)


def test_legacy_family_sends_legacy_commands_only() -> None:
    le = manager(False)
    commands = every_command(le, AdvertisingParameters())
    assert [type(c) for c in commands] == [
        hci.LeSetAdvertisingParameters, hci.LeSetAdvertisingData, hci.LeSetAdvertisingEnable,
        hci.LeSetScanParameters, hci.LeSetScanEnable, hci.LeCreateConnection,
        hci.LeSetAdvertisingEnable, hci.LeSetScanEnable,
    ]  # fmt: skip


def test_legacy_family_refuses_extended_advertising_without_a_command() -> None:
    le = manager(False)
    request = AdvertiseReq(7, AdvertisingParameters(connectable=False, extended=True))
    [answer] = le.advertise("app", request, 0.0)
    assert isinstance(answer, Send) and isinstance(answer.message, BtmCnf)
    assert answer.message.status == 0x11 and le.advertising is None
