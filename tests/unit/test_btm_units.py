"""Unit tests of the BTM cores: bring-up sequence, command runner, device records, RPA."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bluetrio.actors.btm.bringup import bringup_sequence
from bluetrio.actors.btm.commands import CommandIssuer, SequenceRunner
from bluetrio.actors.btm.config import StackConfig
from bluetrio.actors.btm.controller_info import Query, Skipped
from bluetrio.actors.btm.devices import DeviceRecords
from bluetrio.actors.btm.le import LeManager
from bluetrio.actors.effects import Effects, Emit, Send
from bluetrio.address import Address, AddressType
from bluetrio.messages import hci
from bluetrio.messages.hci.base import SUPPORTED_COMMAND_BITS
from bluetrio.messages.hci_service import HciCommandCnf, HciCommandReq

SPEC_IRK = bytes.fromhex("ec0234a357c8ad05341010a60a397d9b")
# Vol 3 Part H D.7: prand 0x708194 gives hash 0x0dfbaa; the RPA is prand || hash.
SPEC_RPA = Address.parse("70:81:94:0D:FB:AA", AddressType.RANDOM)


def bitmap_without(*opcodes: int) -> bytes:
    bitmap = bytearray(b"\xff" * 64)
    for opcode in opcodes:
        octet, bit = SUPPORTED_COMMAND_BITS[opcode]
        bitmap[octet] &= ~(1 << bit) & 0xFF
    return bytes(bitmap)


def answer(query: Query, bitmap: bytes) -> Any:
    """Made-up return parameters of a dual-mode controller."""
    opcode = query.command.OPCODE
    returns: dict[int, Any] = {
        hci.ReadLocalVersionInformation.OPCODE: SimpleNamespace(
            hci_version=13, hci_subversion=1, lmp_version=13, lmp_subversion=1,
            company_identifier=0xFFFF,
        ),
        hci.ReadLocalSupportedCommands.OPCODE: SimpleNamespace(supported_commands=bitmap),
        hci.ReadLocalSupportedFeatures.OPCODE: SimpleNamespace(lmp_features=(1 << 38) | (1 << 63)),
        hci.ReadLocalExtendedFeatures.OPCODE: SimpleNamespace(
            extended_lmp_features=1 << 8, maximum_page_number=2
        ),
        hci.ReadBdAddr.OPCODE: SimpleNamespace(bd_addr=Address.parse("00:11:22:33:44:55")),
        hci.ReadBufferSize.OPCODE: SimpleNamespace(
            acl_data_packet_length=1021, total_num_acl_data_packets=8
        ),
        hci.LeReadBufferSizeV2.OPCODE: SimpleNamespace(
            le_acl_data_packet_length=251, total_num_le_acl_data_packets=8
        ),
        hci.LeReadLocalSupportedFeatures.OPCODE: SimpleNamespace(le_features=0xFF),
        hci.ReadLocalName.OPCODE: SimpleNamespace(local_name="ctrl"),
    }  # fmt: skip
    return returns.get(opcode, SimpleNamespace(status=0))


def drive(
    bitmap: bytes, skip: frozenset[int] = frozenset(), config: StackConfig | None = None
) -> tuple[list[Any], Any]:
    sequence = bringup_sequence(config or StackConfig())
    sent: list[Any] = []
    reply: Any = None
    try:
        while True:
            query = sequence.send(reply)
            sent.append(query.command)
            if query.command.OPCODE in skip:
                assert query.optional
                reply = Skipped("no answer")
            else:
                reply = answer(query, bitmap)
    except StopIteration as done:
        return sent, done.value


def test_bringup_sends_only_listed_commands() -> None:
    missing = (hci.WriteSecureConnectionsHostSupport.OPCODE, hci.WriteLocalName.OPCODE)
    sent, info = drive(bitmap_without(*missing))
    opcodes = [command.OPCODE for command in sent]
    assert opcodes[0] == hci.Reset.OPCODE
    assert not set(missing) & set(opcodes)
    assert hci.WriteSimplePairingMode.OPCODE in opcodes
    assert hci.LeSetEventMask.OPCODE in opcodes and hci.SetEventMaskPage2.OPCODE in opcodes
    assert any("Write_Local_Name not sent" in note for note in info.notes)
    assert info.address == Address.parse("00:11:22:33:44:55")


def test_bringup_with_secure_connections_listed_enables_it() -> None:
    sent, _ = drive(bitmap_without())
    assert hci.WriteSecureConnectionsHostSupport(1) in sent


def test_bringup_announces_the_acl_length_the_host_takes() -> None:
    # Core 5.4 Vol 4 Part E 7.3.39: without it a controller may size what it sends the host
    # by anything; with it, by what the host reassembles.
    sent, _ = drive(bitmap_without())
    assert hci.HostBufferSize(4096, 255, 16, 16) in sent


def test_optional_step_that_times_out_is_skipped_and_noted() -> None:
    unnamed = StackConfig(local_name=None)
    sent, info = drive(bitmap_without(), frozenset({hci.ReadLocalName.OPCODE}), unnamed)
    assert info.local_name is None
    assert any("Read_Local_Name skipped" in note for note in info.notes)
    assert hci.SetEventMask.OPCODE in [command.OPCODE for command in sent]


def test_bringup_does_not_read_the_name_it_writes() -> None:
    sent, info = drive(bitmap_without(), config=StackConfig(local_name="written"))
    assert hci.ReadLocalName() not in sent
    assert hci.WriteLocalName("written") in sent
    assert info.local_name == "written"


def test_bringup_reads_the_name_when_it_writes_none() -> None:
    sent, info = drive(bitmap_without(), config=StackConfig(local_name=None))
    assert hci.ReadLocalName() in sent
    assert info.local_name == "ctrl"


def test_bringup_reports_no_name_when_writing_it_is_not_possible() -> None:
    _, info = drive(bitmap_without(hci.WriteLocalName.OPCODE))
    assert info.local_name is None


def sole_request(effects: Effects) -> HciCommandReq:
    [effect] = effects
    assert isinstance(effect, Emit) and isinstance(effect.message, HciCommandReq)
    return effect.message


def test_sequence_runner_skips_an_unanswered_optional_command() -> None:
    issuer = CommandIssuer()
    finished: list[Any] = []

    def sequence() -> Any:
        name = yield Query(hci.ReadLocalName(), optional=True)
        address = yield Query(hci.ReadBdAddr())
        return name, address.bd_addr

    runner = SequenceRunner(
        issuer, sequence(), lambda result, now: finished.append(result) or [],
        lambda outcome, now: pytest.fail(outcome.describe()), optional_timeout=0.5,
    )  # fmt: skip
    first = sole_request(runner.start(0.0))
    assert first.timeout == 0.5
    timed_out = HciCommandCnf(first.token, first.command.OPCODE, None, "no answer", True)  # type: ignore[attr-defined]
    second = sole_request(issuer.on_confirmation(timed_out, 1.0))
    assert second.timeout is None
    address = Address.parse("00:11:22:33:44:55")
    complete = hci.CommandComplete(1, hci.ReadBdAddr.OPCODE, b"\x00" + address.value)
    assert (
        issuer.on_confirmation(HciCommandCnf(second.token, second.command.OPCODE, complete), 2.0)
        == []
    )  # type: ignore[attr-defined]
    assert finished == [(Skipped("HCI_Read_Local_Name: no answer"), address)]


def test_stray_confirmation_is_ignored() -> None:
    assert CommandIssuer().on_confirmation(HciCommandCnf(99, 0x0C03, None, "x"), 0.0) == []


def test_device_pool_evicts_the_oldest_unpaired_record_first() -> None:
    records = DeviceRecords(capacity=3)
    oldest_paired = records.remember_bond(Address.parse("00:00:00:00:00:01"), None)
    records.obtain(Address.parse("00:00:00:00:00:02"))
    records.obtain(Address.parse("00:00:00:00:00:03"))
    records.obtain(Address.parse("00:00:00:00:00:04"))
    addresses = {str(record.address) for record in records}
    assert addresses == {"00:00:00:00:00:01", "00:00:00:00:00:03", "00:00:00:00:00:04"}
    assert records.find(oldest_paired.address) is oldest_paired


def test_device_pool_evicts_the_oldest_paired_when_all_are_paired() -> None:
    records = DeviceRecords(capacity=2)
    for last in (1, 2, 3):
        records.remember_bond(Address.parse(f"00:00:00:00:00:0{last}"), None)
    assert {str(r.address)[-2:] for r in records} == {"02", "03"}


def test_lookup_by_handle() -> None:
    records = DeviceRecords()
    record = records.obtain(Address.parse("00:00:00:00:00:01"))
    records.attach_handle(record, 0x0040)
    assert records.by_handle(0x0040) is record
    records.detach_handle(0x0040)
    assert records.by_handle(0x0040) is None


def test_spec_rpa_resolves_to_the_bonded_identity() -> None:
    records = DeviceRecords()
    identity = Address.parse("C0:00:00:00:00:01", AddressType.RANDOM)
    records.remember_bond(identity, SPEC_IRK)
    assert SPEC_RPA.is_resolvable_private
    resolved = records.resolve(SPEC_RPA)
    assert resolved is not None and resolved.address == identity
    other = Address.parse("70:81:94:0D:FB:AB", AddressType.RANDOM)
    assert records.resolve(other) is None


def test_advertising_report_from_a_bonded_rpa_names_the_identity() -> None:
    records = DeviceRecords()
    identity = Address.parse("C0:00:00:00:00:01", AddressType.RANDOM)
    records.remember_bond(identity, SPEC_IRK)
    le = LeManager(CommandIssuer(), records, lambda: Address(bytes(6)))
    assert le.peer_identity(SPEC_RPA) == (identity, True)
    assert records.find(SPEC_RPA) is records.find(identity)


def test_a_reserved_encryption_enabled_is_not_shown_as_encryption() -> None:
    from bluetrio.actors.btm.core import BtmCore
    from bluetrio.messages.btm import LinkChangedInd
    from bluetrio.messages.hci_service import HciEventInd

    core = BtmCore()
    peer = Address.parse("00:00:00:00:00:02")
    core.handle("hci", HciEventInd(hci.ConnectionComplete(0, 0x0001, peer, 0x01, 0x00)), 0.0)
    effects = core.handle("hci", HciEventInd(hci.EncryptionChange(0, 0x0001, 0x07)), 0.0)
    [changed] = [
        e.message for e in effects if isinstance(e, Emit) and isinstance(e.message, LinkChangedInd)
    ]
    assert changed.link.encrypted is False  # 0x07 is reserved (Vol 4 Part E 7.7.8)
    commands = [getattr(e.message, "command", None) for e in effects if isinstance(e, Emit)]
    assert any(isinstance(c, hci.Disconnect) and c.connection_handle == 1 for c in commands)


def test_a_reused_handle_ends_the_old_link_and_answers_what_waited_on_it() -> None:
    from bluetrio.actors.btm.core import BtmCore
    from bluetrio.messages.btm import LinkDownInd, LinkUpInd
    from bluetrio.messages.btm_security import LinkSecurityCnf, LinkSecurityReq
    from bluetrio.messages.hci_service import HciEventInd

    core = BtmCore()
    first, second = Address.parse("00:00:00:00:00:02"), Address.parse("00:00:00:00:00:03")
    core.handle("hci", HciEventInd(hci.ConnectionComplete(0, 0x0001, first, 0x01, 0x00)), 0.0)
    core.handle("l2cap", LinkSecurityReq(5, 0x0001), 0.0)  # its authentication is running
    effects = core.handle(
        "hci", HciEventInd(hci.ConnectionComplete(0, 0x0001, second, 0x01, 0x00)), 1.0
    )
    answers = [e.message for e in effects if isinstance(e, Send) and e.to == "l2cap"]
    assert [(a.token, a.status) for a in answers if isinstance(a, LinkSecurityCnf)] == [(5, 0x0B)]
    signals = [e.message for e in effects if isinstance(e, Emit)]
    down = [m for m in signals if isinstance(m, LinkDownInd)]
    up = [m for m in signals if isinstance(m, LinkUpInd)]
    assert down and up and signals.index(down[0]) < signals.index(up[0])
    assert up[0].link.address == second and core.links.get(1) == up[0].link


STATIC_PEER = Address.parse("C3:00:00:00:00:07", AddressType.RANDOM)


def test_a_bond_made_over_a_static_address_is_found_by_it() -> None:
    records = DeviceRecords()
    identity = Address.parse("00:00:00:00:00:07")
    records.remember_bond(identity, None, STATIC_PEER)
    found = records.bonded_as(STATIC_PEER)
    assert found is not None and found.address == identity
    assert records.bonded_as(Address.parse("C3:00:00:00:00:08", AddressType.RANDOM)) is None
    # An RPA names nobody for long: its IRK resolves the peer instead.
    records.remember_bond(Address.parse("00:00:00:00:00:09"), SPEC_IRK, SPEC_RPA)
    assert records.bonded_as(SPEC_RPA) is None


def test_the_irk_we_distributed_is_that_of_the_latest_le_bond() -> None:
    from bluetrio.bonds import Bond, KeyDistribution, Transport, distributed_irk

    local = Address.parse("00:00:00:00:00:01")

    def bond(irk: bytes | None, at: float, transport: Transport = Transport.LE) -> Bond:
        keys = KeyDistribution(irk=irk) if transport is Transport.LE else KeyDistribution()
        return Bond(local, STATIC_PEER, transport, local_keys=keys, updated_at=at)

    assert distributed_irk([]) is None
    assert distributed_irk([bond(None, 5.0), bond(None, 1.0, Transport.BR_EDR)]) is None
    assert distributed_irk([bond(b"\x01" * 16, 1.0), bond(b"\x02" * 16, 2.0)]) == b"\x02" * 16


def _le_link_up(core: Any, event: hci.HciEvent) -> Any:
    from bluetrio.messages.btm import LinkUpInd
    from bluetrio.messages.hci_service import HciEventInd

    effects = core.handle("hci", HciEventInd(event), 0.0)
    (up,) = [e.message for e in effects if isinstance(e, Emit) and isinstance(e.message, LinkUpInd)]
    return up.link


def test_an_le_link_carries_our_address_on_it() -> None:
    """Our address on the link: the controller's RPA when the enhanced event names one
    (Vol 4 Part E 7.7.65.10), else the address the advertising was started with."""
    from bluetrio.actors.btm.core import BtmCore

    static = Address.parse("C3:00:00:00:00:01", AddressType.RANDOM)
    core = BtmCore(StackConfig(static_address=static))
    core.le.advertising_address = core.own_address()
    plain = hci.LeConnectionComplete(0, 0x0001, 0x01, STATIC_PEER, 0x0030, 0, 0x0100, 0)
    assert _le_link_up(core, plain).local_address == static
    controller_rpa = Address.parse("4A:00:00:00:00:02")
    enhanced = hci.LeEnhancedConnectionComplete(
        0, 0x0002, 0x01, STATIC_PEER, controller_rpa, Address(bytes(6)), 0x0030, 0, 0x0100, 0
    )
    local = _le_link_up(core, enhanced).local_address
    assert local == controller_rpa.with_type(AddressType.RANDOM)


def test_extended_advertising_with_a_random_address_gives_the_set_that_address() -> None:
    """Vol 4 Part E 7.8.52, 7.8.56: a set whose Own_Address_Type is random needs its own
    random address, else enabling it fails (our virtual controller lends the common one)."""
    from bluetrio.messages.btm import AdvertisingParameters

    static = Address.parse("C3:00:00:00:00:01", AddressType.RANDOM)
    for own, expected in ((static, [static]), (Address.parse("00:00:00:00:00:01"), [])):
        le = LeManager(CommandIssuer(), DeviceRecords(), lambda o=own: o)
        commands = [query.command for query in le._extended_advertising(AdvertisingParameters())]
        given = [
            c.random_address
            for c in commands
            if isinstance(c, hci.LeSetAdvertisingSetRandomAddress)
        ]
        assert given == expected
        enable = next(
            i for i, c in enumerate(commands) if isinstance(c, hci.LeSetExtendedAdvertisingEnable)
        )
        assert all(
            i < enable
            for i, c in enumerate(commands)
            if isinstance(c, hci.LeSetAdvertisingSetRandomAddress)
        )
