"""``bluetrio scan``: LE advertisers and BR/EDR devices on one virtual air, printed as lines."""

from __future__ import annotations

import functools
import io
from collections.abc import Awaitable, Callable

import pytest
import trio
from trio.testing import MockClock

from bluetrio.actors.faults import FaultPolicy
from bluetrio.address import Address
from bluetrio.cli.main import build_parser, main
from bluetrio.cli.scan import BR_EDR, LE, DeviceTable, ScanOptions, SeenDevice, scan_command
from bluetrio.errors import HciTimeout, InvalidArgumentError
from bluetrio.messages.ad import AdvertisingData, Flags, LocalName, ServiceUuids
from bluetrio.stack import StackConfig, open_stack
from bluetrio.testing.packets import event_with_code

AIR = "virtual:scan-room"
HEART_RATE, BATTERY, VENDOR_32 = 0x180D, 0x180F, 0x0000FEED
VENDOR_128 = 0x6E400001_B5A3_F393_E0A9_E50E24DCCA9E
ADVERTISED = AdvertisingData(
    [
        Flags(0x06),
        LocalName("beacon"),
        ServiceUuids((HEART_RATE, BATTERY)),
        ServiceUuids((VENDOR_32,), size=4),
    ]
)
SCAN_RESPONSE = AdvertisingData([ServiceUuids((VENDOR_128,), size=16)])
SERVICES = "services: 0x180D, 0x180F, 0x0000FEED"
VENDOR_128_TEXT = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
ESCAPE = "\x1b"


def scan_next_to_peers(options: ScanOptions, *, live: bool = False) -> tuple[str, dict[str, str]]:
    """Scan with ``options`` while a beacon advertises and a speaker is discoverable over
    BR/EDR; the output, and the peers' addresses by name."""

    async def scenario() -> tuple[str, dict[str, str]]:
        speaker_config = StackConfig(local_name="speaker", discoverable=True)
        async with (
            open_stack(AIR, config=speaker_config, bring_up=True) as speaker,
            open_stack(AIR, bring_up=True) as beacon,
            beacon.advertise(ADVERTISED, scan_response=SCAN_RESPONSE),
        ):
            output = io.StringIO()
            await scan_command(AIR, options, output, live=live)
            addresses = {
                name: str((await stack.ready()).address)
                for name, stack in (("speaker", speaker), ("beacon", beacon))
            }
        return output.getvalue(), addresses

    return run(scenario)


def run(
    scenario: Callable[[], Awaitable[tuple[str, dict[str, str]]]],
) -> tuple[str, dict[str, str]]:
    return trio.run(scenario, clock=MockClock(autojump_threshold=0))


def test_piped_scan_prints_each_device_once_without_escape_codes() -> None:
    output, address = scan_next_to_peers(ScanOptions(duration=3))
    # In the order they were found: the two radios run side by side.
    assert sorted(output.splitlines()) == [
        f"BR/EDR  {address['speaker']}              -50 dBm  'speaker'",
        f"LE      {address['beacon']}  public      -50 dBm  'beacon'  {SERVICES}",
    ]
    assert ESCAPE not in output


def test_bredr_devices_are_printed_as_they_answer() -> None:
    async def scenario() -> tuple[str, str]:
        speaker_config = StackConfig(local_name="speaker", discoverable=True)
        async with open_stack(AIR, config=speaker_config, bring_up=True) as speaker:
            output = io.StringIO()
            async with trio.open_nursery() as nursery:
                options = ScanOptions(duration=30, le=False)
                nursery.start_soon(
                    functools.partial(scan_command, live=False), AIR, options, output
                )
                # Well before the 30 s inquiry completes (MockClock time).
                await trio.sleep(5)
                early = output.getvalue()
            return early, str((await speaker.ready()).address)

    early, speaker = trio.run(scenario, clock=MockClock(autojump_threshold=0))
    assert early.splitlines() == [f"BR/EDR  {speaker}              -50 dBm  'speaker'"]


def test_a_scan_that_finds_nothing_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "-t", "virtual:nobody-here", "--le", "--duration", "0.2"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-1] == "bluetrio scan: found nothing in 0.2 s"


def test_active_le_scan_waits_for_the_scan_response_when_piped() -> None:
    output, address = scan_next_to_peers(ScanOptions(duration=2, classic=False, active=True))
    assert output.splitlines() == [
        f"LE      {address['beacon']}  public      -50 dBm  'beacon'  {SERVICES}, {VENDOR_128_TEXT}"
    ]


def test_classic_only_scan_finds_the_discoverable_device() -> None:
    output, address = scan_next_to_peers(ScanOptions(duration=2, le=False))
    assert output.splitlines() == [f"BR/EDR  {address['speaker']}              -50 dBm  'speaker'"]


def test_on_a_terminal_the_scan_response_rewrites_the_line_in_place() -> None:
    output, address = scan_next_to_peers(
        ScanOptions(duration=2, classic=False, active=True), live=True
    )
    first_line, rest = output.split("\n", 1)
    assert first_line == f"LE      {address['beacon']}  public      -50 dBm  'beacon'  {SERVICES}"
    # One line up, erase it, write the completed line, back down.
    assert rest.startswith(f"\x1b[1A\r\x1b[2K{first_line}, {VENDOR_128_TEXT}\x1b[1B\r")


def test_table_updates_rssi_in_place_only_on_a_terminal() -> None:
    first = SeenDevice(LE, Address.parse("C0:00:00:00:00:01/R"), "tag", -70)
    second = SeenDevice(BR_EDR, Address.parse("00:00:00:00:00:02"), None, None)
    for live in (True, False):
        output = io.StringIO()
        table = DeviceTable(output, live=live)
        table.show(first)
        table.show(second)
        table.show(SeenDevice(LE, first.address, None, -40))
        table.finish()
        lines = [
            "LE      C0:00:00:00:00:01  random      -70 dBm  'tag'",
            "BR/EDR  00:00:00:00:00:02                ? dBm  (no name)",
        ]
        rewrite = "\x1b[2A\r\x1b[2KLE      C0:00:00:00:00:01  random      -40 dBm  'tag'\x1b[2B\r"
        assert output.getvalue() == "\n".join(lines) + "\n" + (rewrite if live else "")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"duration": 0}, "must be positive"),
        ({"duration": 100.0}, "at most 61.44 s"),
        ({"le": False, "classic": False}, "LE, BR/EDR or both"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        ScanOptions(**options)  # type: ignore[arg-type]


def test_scan_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["scan", "-t", "virtual", "--le", "--active"])
    assert (args.le, args.classic, args.active, args.duration) == (True, False, True, 5.12)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["scan", "-t", "virtual", "--le", "--classic"])
    assert main(["scan", "-t", "virtual", "--duration", "-1"]) == 1
    assert "scan duration must be positive" in capsys.readouterr().err


def test_an_inquiry_whose_end_never_comes_ends_in_a_timeout() -> None:
    async def scenario() -> None:
        faults = FaultPolicy()
        faults.drop_packet(event_with_code(0x01), direction="to_host")  # Inquiry Complete
        async with open_stack("virtual", faults=faults, bring_up=True) as stack:
            with trio.fail_after(30), pytest.raises(HciTimeout, match="inquiry"):
                async with stack.inquire(1.28) as devices:
                    async for _ in devices:
                        pass

    trio.run(scenario, clock=MockClock(autojump_threshold=0))
