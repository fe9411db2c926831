"""A GATT central for ``battery_peripheral.py``: read a battery, follow its level.

    python examples/battery_central.py                           # with the peripheral, in process
    python examples/battery_central.py -t SPEC [ADDRESS] [--count N]

It finds the peripheral (an LE scan for the name ``bluetrio-battery`` when no ADDRESS is
given), connects, discovers its services, reads the Battery Level (0x2A19) and subscribes to
its notifications, reads the characteristic that needs encryption (the peripheral answers
Insufficient Encryption, so the client pairs, Just Works, and reads it again), then prints
each level as it comes; with ``--count N`` it ends after N notifications.

Without ``-t`` the peripheral of ``battery_peripheral.py`` runs in this process too, on an
embedded virtual air, so the example is one command on a fresh machine.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import trio
from battery_peripheral import (
    BATTERY_LEVEL,
    EMBEDDED_AIR,
    NAME,
    SECRET_CHARACTERISTIC,
    peripheral_stack,
    print_line,
    run_peripheral,
)

import bluetrio
from bluetrio.gatt.names import uuid_name
from bluetrio.messages.uuids import uuid16

SCAN_SECONDS = 10.0
DEMO_COUNT = 5  # levels the in-process demo follows before it ends

Say = Callable[[str], None]


async def find_peripheral(stack: bluetrio.Stack, say: Say) -> bluetrio.Address:
    """The address of the first device advertising :data:`NAME`."""
    say(f"scanning for {NAME!r}")
    async with stack.scan(SCAN_SECONDS) as reports:
        async for report in reports:
            if report.name == NAME:
                say(f"found {NAME!r} at {report.address}")
                return report.address
    raise bluetrio.BluetrioError(f"nothing called {NAME!r} advertised in {SCAN_SECONDS:g} s")


async def follow_battery(link: bluetrio.Link, say: Say, count: int | None) -> None:
    """Read, subscribe, read the secret (pairing), then print levels as they come."""
    gatt = link.gatt
    services = await gatt.discover_all()
    names = [uuid_name(service.uuid) or str(service.uuid) for service in services]
    say(f"{len(services)} services: {', '.join(names)}")
    level = gatt.characteristic(uuid16(BATTERY_LEVEL))
    secret = gatt.characteristic(SECRET_CHARACTERISTIC)
    if level is None or secret is None:
        raise bluetrio.BluetrioError(f"{link.peer} is not a {NAME}: no battery level or secret")
    say(f"battery level {(await gatt.read(level))[0]}%")
    async with gatt.subscribe(level) as values:
        say("subscribed to the battery level")
        value = await gatt.read(secret)  # pairs when the peripheral asks for encryption
        say(f"secret: {value.decode()!r} (encrypted, key size {link.key_size})")
        received = 0
        async for update in values:
            say(f"battery level {update[0]}% (notified)")
            received += 1
            if count is not None and received >= count:
                break


async def run_central(
    transport: str, address: bluetrio.Address | None, say: Say, count: int | None
) -> None:
    """The central on ``transport``: find the peripheral unless ``address`` names it."""
    async with bluetrio.open_stack(
        transport,
        pairable=True,
        pairing_delegate=bluetrio.PairingDelegate(bluetrio.IoCapability.NO_INPUT_NO_OUTPUT),
        bring_up=True,
    ) as stack:
        if address is None:
            address = await find_peripheral(stack, say)
        async with stack.connect(address) as link:
            say(f"connected to {address}")
            await follow_battery(link, say, count)


async def run_demo(count: int | None) -> None:
    """The peripheral and the central in this process, on the embedded air; ``count``
    levels (:data:`DEMO_COUNT` when None)."""
    count = DEMO_COUNT if count is None else count
    async with peripheral_stack(EMBEDDED_AIR) as stack, trio.open_nursery() as nursery:
        await nursery.start(run_peripheral, stack, lambda text: print_line(f"peripheral: {text}"))
        await run_central(EMBEDDED_AIR, None, lambda text: print_line(f"central: {text}"), count)
        nursery.cancel_scope.cancel()


async def main(args: argparse.Namespace) -> None:
    if args.transport is None:
        await run_demo(args.count)
        return
    address = None
    if args.address is not None:
        kind = bluetrio.AddressType.RANDOM if args.random else bluetrio.AddressType.PUBLIC
        address = bluetrio.Address.parse(args.address).with_type(kind)
    await run_central(args.transport, address, print_line, args.count)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-t", "--transport", metavar="SPEC", help="the controller to use")
    parser.add_argument("address", nargs="?", metavar="ADDRESS", help="the peripheral (-t)")
    parser.add_argument("--random", action="store_true", help="ADDRESS is a random address")
    parser.add_argument(
        "--count",
        type=int,
        default=None,
        help="end after N levels notified (default: never with -t, 5 in the demo)",
    )
    args = parser.parse_args(argv)
    if args.address is not None and args.transport is None:
        parser.error("ADDRESS needs -t SPEC (without -t the peripheral runs in this process)")
    return args


if __name__ == "__main__":
    trio.run(main, parse(sys.argv[1:]))
