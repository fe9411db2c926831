"""LE pairing, bluetrio against Bumble on the same controllers: connect to paired and encrypted.

    python bench/pairing.py                          # local, served controller, Root Canal
    python bench/pairing.py --controllers served --rounds 10
    python bench/pairing.py --profile served         # cProfile of bluetrio's rounds

For each controller -- ``local`` (bluetrio's in-process controller / Bumble's LocalLink),
``served`` (``bluetrio controller --listen``), ``rootcanal`` (Root Canal) -- and each stack,
in a fresh interpreter with a fresh controller server, two devices of that stack: the
responder advertises (every 20 ms), the initiator connects over LE and pairs with LE Secure
Connections Just Works and bonding (both without input or output, Core 5.4 Vol 3 Part H
2.3.5.6.2), until its pairing call returns: the link is encrypted with the new key and the
keys are distributed (3.6.1). Bonds are fresh every round (new stacks, new key stores).

The time is the median over ``--rounds`` from the connect call until then; commands are
those both hosts wrote meanwhile. The ratio is bluetrio's time over Bumble's (lower is
faster).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trio
from procedures import ADVERTISING_INTERVAL_MS, Tally, compare_stacks, fast_advertising
from support import CONTROLLERS, bumble_devices, controller_process, print_table, summary_json

PROCEDURE = "LE connect+SC Just Works+encrypt"


def bluetrio_worker(
    args: argparse.Namespace, profiler: cProfile.Profile | None = None
) -> dict[str, Any]:
    """bluetrio's rounds; ``profiler`` runs during the timed part of each only."""
    from bluetrio.keystore import MemoryKeyStore
    from bluetrio.pairing import PairingDelegate
    from bluetrio.stack import open_stack
    from bluetrio.testing.command_counter import counted_transport

    tally = Tally()

    async def main() -> None:
        for _ in range(args.rounds):
            async with (
                counted_transport(args.spec) as ta,
                counted_transport(args.spec) as tb,
                open_stack(ta, bring_up=True, pairing_delegate=PairingDelegate(),
                           keystore=MemoryKeyStore) as a,
                open_stack(tb, bring_up=True, pairing_delegate=PairingDelegate(),
                           keystore=MemoryKeyStore, pairable=True) as b,
            ):  # fmt: skip
                b_address = (await b.ready()).address
                async with fast_advertising(b):
                    before = len(ta.opcodes) + len(tb.opcodes)
                    if profiler is not None:
                        profiler.enable()
                    start = time.perf_counter()
                    link = await a.open_link(b_address, timeout=10)
                    result = await link.pair()
                    done = time.perf_counter()
                    if profiler is not None:
                        profiler.disable()
                    assert link.encrypted and result.secure_connections
                    assert not result.used_stored_key
                    tally.add(PROCEDURE, done - start, len(ta.opcodes) + len(tb.opcodes) - before)
                await link.disconnect()

    trio.run(main)
    return tally.result()


def bumble_worker(args: argparse.Namespace) -> dict[str, Any]:
    from bumble.keys import MemoryKeyStore
    from bumble.pairing import PairingConfig, PairingDelegate
    from support import count_bumble_commands

    tally = Tally()

    def just_works(_connection: Any) -> PairingConfig:
        return PairingConfig(sc=True, mitm=False, bonding=True, delegate=PairingDelegate())

    async def main() -> None:
        for _ in range(args.rounds):
            async with bumble_devices(args.spec, 2, power_on=False) as (a, b):
                counted = [count_bumble_commands(a), count_bumble_commands(b)]
                for device in (a, b):
                    device.keystore = MemoryKeyStore()
                    device.pairing_config_factory = just_works
                    await device.power_on()
                await b.start_advertising(
                    auto_restart=False,
                    advertising_interval_min=ADVERTISING_INTERVAL_MS,
                    advertising_interval_max=ADVERTISING_INTERVAL_MS,
                )
                before = sum(map(len, counted))
                start = time.perf_counter()
                connection = await a.connect(b.random_address)
                await connection.pair()  # pairs, encrypts with the new key, distributes keys
                done = time.perf_counter()
                assert connection.is_encrypted and connection.sc
                tally.add(PROCEDURE, done - start, sum(map(len, counted)) - before)
                await connection.disconnect()

    asyncio.run(main())
    return tally.result()


def profile(args: argparse.Namespace) -> None:
    """bluetrio's rounds on one controller in this process, the timed parts under cProfile."""
    with controller_process(args.profile) as (spec, _pid):
        args.spec = spec
        profiler = cProfile.Profile()
        result = bluetrio_worker(args, profiler)
    print(result)
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--controllers", nargs="+", choices=CONTROLLERS, default=list(CONTROLLERS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=CONTROLLERS, help="profile bluetrio's rounds")
    parser.add_argument(
        "--worker", choices=("bluetrio", "bumble"), dest="stack", help=argparse.SUPPRESS
    )
    parser.add_argument("--controller", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stack:
        run: Callable[[argparse.Namespace], dict[str, Any]] = (
            bluetrio_worker if args.stack == "bluetrio" else bumble_worker
        )
        summary_json(run(args))
    elif args.profile:
        profile(args)
    else:
        rows = compare_stacks(Path(__file__), args, (PROCEDURE,))
        print(f"median of {args.rounds} rounds; cells are bluetrio / Bumble")
        print_table(["controller", "procedure", "ms", "time ratio", "HCI commands"], rows)


if __name__ == "__main__":
    main()
