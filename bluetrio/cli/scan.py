"""``bluetrio scan -t SPEC``: list the LE advertisers and BR/EDR devices around.

LE scanning and BR/EDR inquiry run side by side for ``--duration`` seconds. Every device is
printed once, with its address, name, RSSI and advertised services. On a terminal, the lines
of devices already printed are rewritten in place when their RSSI (or name, or service list)
changes; piped, each device is one plain line with no escape codes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any, TextIO

import attrs
import trio

from bluetrio.address import Address, AddressType
from bluetrio.cli.common import add_stack_arguments, progress, stack_options
from bluetrio.errors import HciError, InvalidArgumentError
from bluetrio.messages.ad import AdvertisingData, ServiceData, ServiceUuids, format_uuid
from bluetrio.messages.btm import InquiryResult, ScanReport
from bluetrio.stack import Stack, open_stack
from bluetrio.transports.base import Transport

DEFAULT_DURATION = 5.12  # four inquiry length units (Vol 4 Part E 7.1.1)
MAX_INQUIRY_DURATION = 61.44  # Inquiry_Length 0x30 (Vol 4 Part E 7.1.1)

LE, BR_EDR = "LE", "BR/EDR"
_ADDRESS_TYPE_NAMES = {
    AddressType.PUBLIC: "public",
    AddressType.RANDOM: "random",
    AddressType.PUBLIC_IDENTITY: "public-id",
    AddressType.RANDOM_IDENTITY: "random-id",
}
# ANSI/VT100 control sequences (ECMA-48 8.3.22 CUU, 8.3.19 CUD, 8.3.41 EL).
_CURSOR_UP = "\x1b[{}A"
_CURSOR_DOWN = "\x1b[{}B"
_ERASE_LINE = "\x1b[2K"


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise InvalidArgumentError(f"scan {attribute.name} must be positive, got {value!r} s")


@attrs.frozen
class ScanOptions:
    """What ``bluetrio scan`` does: how long, on which radios, passively or not."""

    duration: float = attrs.field(default=DEFAULT_DURATION, validator=_positive)
    le: bool = True
    classic: bool = True
    active: bool = False  # ask advertisers for their scan response

    def __attrs_post_init__(self) -> None:
        if not (self.le or self.classic):
            raise InvalidArgumentError("scan needs LE, BR/EDR or both")
        if self.classic and self.duration > MAX_INQUIRY_DURATION:
            raise InvalidArgumentError(
                f"a BR/EDR inquiry lasts at most {MAX_INQUIRY_DURATION} s, not {self.duration} s"
            )


def render_services(data: AdvertisingData) -> tuple[str, ...]:
    """Advertised service UUIDs, once each: 16-bit as 0xXXXX, 32-bit as 0xXXXXXXXX, 128-bit
    in the 8-4-4-4-12 form."""
    rendered: dict[str, None] = {}
    for structure in data.structures:
        if isinstance(structure, ServiceUuids):
            uuids = [(uuid, structure.size) for uuid in structure.uuids]
        elif isinstance(structure, ServiceData):
            uuids = [(structure.uuid, structure.size)]
        else:
            continue
        for uuid, size in uuids:
            text = format_uuid(uuid) if size == 16 else f"0x{uuid:0{2 * size}X}"
            rendered[text] = None
    return tuple(rendered)


@attrs.frozen
class SeenDevice:
    """One device as the scan knows it so far."""

    transport: str
    address: Address
    name: str | None
    rssi: int | None
    services: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, Address]:
        return self.transport, self.address

    @classmethod
    def from_report(cls, report: ScanReport) -> SeenDevice:
        return cls(LE, report.address, report.name, report.rssi, render_services(report.data))

    @classmethod
    def from_inquiry(cls, result: InquiryResult, name: str | None) -> SeenDevice:
        return cls(BR_EDR, result.address, name, result.rssi, render_services(result.data))

    def updated_by(self, newer: SeenDevice) -> SeenDevice:
        """This device with what ``newer`` adds: its RSSI, a name and services if it has any
        (a scan response carries them, the next advertisement may not)."""
        services = dict.fromkeys(self.services + newer.services)
        return attrs.evolve(
            self,
            name=newer.name if newer.name is not None else self.name,
            rssi=newer.rssi if newer.rssi is not None else self.rssi,
            services=tuple(services),
        )

    def line(self) -> str:
        address_type = _ADDRESS_TYPE_NAMES[self.address.type] if self.transport == LE else ""
        rssi = "   ? dBm" if self.rssi is None else f"{self.rssi:4d} dBm"
        name = "(no name)" if self.name is None else repr(self.name)
        text = f"{self.transport:<6}  {self.address}  {address_type:<9}  {rssi}  {name}"
        if self.services:
            text += f"  services: {', '.join(self.services)}"
        return text


class DeviceTable:
    """Prints devices as they are found.

    ``live`` (a terminal): a device is printed at once and its line rewritten in place when
    it changes. Otherwise a device is printed once, as plain text; a device that will send a
    scan response is held until it does (or the scan ends) so its line has the name.
    """

    def __init__(self, output: TextIO, *, live: bool) -> None:
        self.output = output
        self.live = live
        self.devices: dict[tuple[str, Address], SeenDevice] = {}
        self._printed: list[tuple[str, Address]] = []
        self._held: list[tuple[str, Address]] = []

    def show(self, device: SeenDevice, *, complete: bool = True) -> None:
        """Record what was seen of ``device``; ``complete``: nothing more is expected."""
        key = device.key
        previous = self.devices.get(key)
        if previous is not None:
            device = previous.updated_by(device)
        self.devices[key] = device
        if previous is not None and key in self._printed:
            if self.live and device.line() != previous.line():
                self._rewrite(self._printed.index(key), device.line())
        elif self.live or complete:
            if key in self._held:
                self._held.remove(key)
            self._print(key)
        elif key not in self._held:
            self._held.append(key)

    def finish(self) -> int:
        """The scan is over: print the devices still waiting for their scan response; returns
        how many devices were found."""
        for key in self._held:
            self._print(key)
        self._held.clear()
        return len(self.devices)

    def _print(self, key: tuple[str, Address]) -> None:
        self._printed.append(key)
        print(self.devices[key].line(), file=self.output, flush=True)

    def _rewrite(self, index: int, line: str) -> None:
        lines_below = len(self._printed) - index
        if lines_below >= shutil.get_terminal_size().lines:
            return  # scrolled out of the screen: the cursor cannot reach it
        up, down = _CURSOR_UP.format(lines_below), _CURSOR_DOWN.format(lines_below)
        self.output.write(f"{up}\r{_ERASE_LINE}{line}{down}\r")
        self.output.flush()


async def _scan_le(stack: Stack, options: ScanOptions, table: DeviceTable) -> None:
    # On a terminal every advertisement is wanted, to follow the RSSI.
    async with stack.scan(
        options.duration, active=options.active, filter_duplicates=not table.live
    ) as reports:
        progress("scan", f"scanning LE for {options.duration:g} s")
        async for report in reports:
            awaiting_response = options.active and report.scannable and not report.scan_response
            table.show(SeenDevice.from_report(report), complete=not awaiting_response)


async def _inquire(stack: Stack, options: ScanOptions, table: DeviceTable) -> None:
    """Show BR/EDR devices as they answer; then ask the ones that sent no name for it (a
    Remote Name Request pages the device, which waits until the inquiry is over)."""
    # A scanner that answered its own kind of inquiry would show up in other scanners' lists.
    await stack.set_discoverable(False)
    nameless: dict[Address, InquiryResult] = {}
    duration = min(options.duration, MAX_INQUIRY_DURATION)
    async with stack.inquire(duration) as devices:
        progress("scan", f"inquiring BR/EDR for {duration:g} s")
        async for result in devices:
            if result.name is None:
                nameless[result.address] = result
            else:
                nameless.pop(result.address, None)
            table.show(
                SeenDevice.from_inquiry(result, result.name), complete=result.name is not None
            )
    for address, result in nameless.items():
        try:
            name: str | None = await stack.remote_name(address)
        except HciError:
            name = None
        table.show(SeenDevice.from_inquiry(result, name))


async def scan_devices(stack: Stack, options: ScanOptions, table: DeviceTable) -> int:
    """Run LE scanning and BR/EDR inquiry, as ``options`` asks, into ``table``; returns how
    many devices were found."""
    info = await stack.ready()
    if options.le and not info.le_supported:
        raise InvalidArgumentError(f"the controller {info.address} does not support LE")
    if options.classic and not info.bredr_supported:
        raise InvalidArgumentError(f"the controller {info.address} does not support BR/EDR")
    async with trio.open_nursery() as nursery:
        if options.le:
            nursery.start_soon(_scan_le, stack, options, table)
        if options.classic:
            nursery.start_soon(_inquire, stack, options, table)
    return table.finish()


async def scan_command(
    spec: str | Transport,
    options: ScanOptions,
    output: TextIO,
    *,
    live: bool,
    stack_options: dict[str, Any] | None = None,
) -> int:
    """The whole command: open the stack on ``spec`` (with ``stack_options`` for
    ``open_stack``), scan, print to ``output``; returns how many devices were found."""
    async with open_stack(spec, **(stack_options or {})) as stack:
        return await scan_devices(stack, options, DeviceTable(output, live=live))


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "scan",
        help="list nearby LE advertisers and BR/EDR devices",
        description="Scan LE and run a BR/EDR inquiry (both unless --le or --classic) and "
        "print each device found: address (and LE address type), name, RSSI and advertised "
        "services. On a terminal the RSSI of listed devices is updated in place.",
    )
    add_stack_arguments(parser)
    parser.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_DURATION,
        metavar="S",
        help=f"seconds to scan (default {DEFAULT_DURATION}, BR/EDR at most {MAX_INQUIRY_DURATION})",
    )
    radios = parser.add_mutually_exclusive_group()
    radios.add_argument("--le", action="store_true", help="LE scanning only")
    radios.add_argument("--classic", action="store_true", help="BR/EDR inquiry only")
    parser.add_argument(
        "--active", action="store_true", help="LE active scanning (ask for scan responses)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    options = ScanOptions(
        duration=args.duration,
        le=not args.classic,
        classic=not args.le,
        active=args.active,
    )
    found = trio.run(
        lambda: scan_command(
            args.transport, options, sys.stdout, live=sys.stdout.isatty(),
            stack_options=stack_options(args),
        )
    )  # fmt: skip
    if not found:
        progress("scan", f"found nothing in {options.duration:g} s")
    return 0
