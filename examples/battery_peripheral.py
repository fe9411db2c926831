"""A GATT peripheral: the Battery Service and one characteristic that needs encryption.

    python examples/battery_peripheral.py                      # with a central, in process
    python examples/battery_peripheral.py -t SPEC [--count N]  # on a controller, for others

It advertises as ``bluetrio-battery``, is pairable (LE Secure Connections, Just Works,
bonding) and serves the Battery Service (0x180F) with its Battery Level (0x2A19: read and
notify; the level drops by one every ``--interval`` seconds and is notified to the centrals
that subscribed) and a service of its own with one characteristic that can be read only over
an encrypted link (a central that reads it unencrypted gets Insufficient Encryption, pairs
and reads it again). It prints its address, then ``READY`` once advertising, then a line per
level notified; with ``--count N`` it ends after N levels were notified to a subscriber.

Without ``-t`` the example is one command on a fresh machine: the peripheral and the central
of ``battery_central.py`` run together in this process on an embedded virtual air, and the
central finds the peripheral by its name.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import uuid
from collections.abc import Callable

import trio

import bluetrio
from bluetrio.gatt import (
    AccessSecurity,
    Characteristic,
    Permissions,
    Properties,
    ReadContext,
    Service,
)

NAME = "bluetrio-battery"
EMBEDDED_AIR = "virtual:battery-demo"
BATTERY_SERVICE = 0x180F
BATTERY_LEVEL = 0x2A19
# A service and characteristic of our own (128-bit UUIDs, Vol 3 Part B 2.5.1).
SECRET_SERVICE = uuid.UUID("b7e1a000-3f1c-4b52-9a8e-5c0de7ba7700")
SECRET_CHARACTERISTIC = uuid.UUID("b7e1a001-3f1c-4b52-9a8e-5c0de7ba7700")
SECRET_VALUE = b"only over an encrypted link"
# LE General Discoverable Mode, BR/EDR Not Supported (Supplement Part A 1.3).
ADVERTISING_FLAGS = 0x06

Say = Callable[[str], None]


def print_line(text: str) -> None:
    """Print a line at once (also when standard output is a pipe)."""
    print(text, flush=True)


class Battery:
    """A battery that drains: its level in percent, read by the peer through ``read``."""

    def __init__(self, level: int = 100) -> None:
        self.level = level

    def drain(self) -> int:
        self.level = self.level - 1 if self.level > 0 else 100
        return self.level

    async def read(self, context: ReadContext) -> bytes:
        return bytes([self.level])


def battery_services(battery: Battery) -> tuple[Characteristic, list[Service]]:
    """The Battery Level characteristic and the two services to add."""
    level = Characteristic(BATTERY_LEVEL, Properties.READ | Properties.NOTIFY, on_read=battery.read)
    secret = Characteristic(
        SECRET_CHARACTERISTIC,
        Properties.READ,
        value=SECRET_VALUE,
        permissions=Permissions(read_security=AccessSecurity(encryption=True)),
    )
    return level, [Service(BATTERY_SERVICE, [level]), Service(SECRET_SERVICE, [secret])]


async def run_peripheral(
    stack: bluetrio.Stack,
    say: Say,
    *,
    count: int | None = None,
    interval: float = 1.0,
    task_status: trio.TaskStatus[bluetrio.Address] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the battery on ``stack`` to one central at a time, advertising while none is
    connected; every ``interval`` seconds the level drops and is notified, until ``count``
    levels reached a subscriber (forever when None)."""
    battery = Battery()
    level, services = battery_services(battery)
    for service in services:
        await stack.gatt_server.add_service(service)
    address = (await stack.ready()).address
    data = bluetrio.AdvertisingData([bluetrio.Flags(ADVERTISING_FLAGS), bluetrio.LocalName(NAME)])
    say(str(address))
    notified = 0
    announced = False
    while count is None or notified < count:
        # A legacy advertiser stops when a central connects (Vol 6 Part B 4.4.2): advertise
        # again for the next one once the link is gone.
        async with stack.advertise(data):
            if not announced:
                say("READY")
                task_status.started(address)
                announced = True
            async with stack.accept(bluetrio.LinkTransport.LE) as link:
                say(f"{link.peer} connected")
                while link.connected and (count is None or notified < count):
                    await trio.sleep(interval)
                    value = battery.drain()
                    delivery = await stack.gatt_server.notify(level, bytes([value]))
                    if delivery.delivered_to:
                        notified += 1
                        centrals = len(delivery.delivered_to)
                        say(f"battery level {value}% notified to {centrals} central(s)")


def peripheral_stack(transport: str) -> contextlib.AbstractAsyncContextManager[bluetrio.Stack]:
    """``open_stack`` for the peripheral: pairable, Just Works (no input, no output)."""
    return bluetrio.open_stack(
        transport,
        config=bluetrio.StackConfig(local_name=NAME),
        pairable=True,
        pairing_delegate=bluetrio.PairingDelegate(bluetrio.IoCapability.NO_INPUT_NO_OUTPUT),
        bring_up=True,
    )


async def main(args: argparse.Namespace) -> None:
    if args.transport is None:
        from battery_central import run_demo

        await run_demo(args.count)
        return
    async with peripheral_stack(args.transport) as stack:
        await run_peripheral(stack, print_line, count=args.count, interval=args.interval)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-t", "--transport", metavar="SPEC", help="the controller to use")
    parser.add_argument(
        "--count",
        type=int,
        default=None,
        help="end after N levels notified (default: never with -t, 5 in the demo)",
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between levels")
    return parser.parse_args(argv)


if __name__ == "__main__":
    trio.run(main, parse(sys.argv[1:]))
