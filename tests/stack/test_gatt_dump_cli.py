"""``bluetrio gatt-dump`` against our own GATT server on the virtual controller: the tree
with handles, SIG names and properties, every readable value in full, the errors of values
the server refuses, and the value that needs encryption read once the client paired (by
itself, or first with ``--pair``)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from bluetrio.cli.gatt_dump import gatt_dump
from bluetrio.cli.main import build_parser
from bluetrio.errors import GattApplicationError
from bluetrio.gatt import (
    AccessSecurity,
    Characteristic,
    Permissions,
    Properties,
    ReadContext,
    Service,
)
from bluetrio.messages.ad import AdvertisingData, LocalName
from bluetrio.messages.uuids import uuid16
from bluetrio.pairing import IoCapability, PairingDelegate
from bluetrio.stack import open_stack

SERVICE = uuid.UUID("c0de0000-1111-2222-3333-444455556666")
LONG = uuid.UUID("c0de0001-1111-2222-3333-444455556666")
SECRET = uuid.UUID("c0de0002-1111-2222-3333-444455556666")
REFUSING = uuid.UUID("c0de0003-1111-2222-3333-444455556666")
WRITE_ONLY = uuid.UUID("c0de0004-1111-2222-3333-444455556666")
LONG_VALUE = (bytes(range(256)) + b"the end of a long value of three hundred octets")[:300]


async def refuse(_context: ReadContext) -> bytes:
    raise GattApplicationError(0x80)


def services() -> list[Service]:
    return [
        Service(
            uuid16(0x180F),
            [Characteristic(0x2A19, Properties.READ | Properties.NOTIFY, value=bytes([42]))],
        ),
        Service(
            SERVICE,
            [
                Characteristic(LONG, Properties.READ, value=LONG_VALUE, user_description="long"),
                Characteristic(
                    SECRET,
                    Properties.READ,
                    value=b"encrypted only",
                    permissions=Permissions(read_security=AccessSecurity(encryption=True)),
                ),
                Characteristic(REFUSING, Properties.READ, on_read=refuse),
                Characteristic(WRITE_ONLY, Properties.WRITE),
            ],
        ),
    ]


def dump(tmp_path: Path, *, pair: bool) -> list[str]:
    """The lines gatt-dump prints for our server."""

    async def main() -> list[str]:
        lines: list[str] = []
        async with open_stack(
            "virtual",
            pairable=True,
            pairing_delegate=PairingDelegate(IoCapability.NO_INPUT_NO_OUTPUT),
            bring_up=True,
        ) as server:
            for service in services():
                await server.gatt_server.add_service(service)
            address = (await server.ready()).address
            async with server.advertise(AdvertisingData([LocalName("server")])):
                await gatt_dump(
                    "virtual",
                    address,
                    PairingDelegate(IoCapability.NO_INPUT_NO_OUTPUT),
                    tmp_path,
                    lines.append,
                    pair=pair,
                )
        return lines

    return trio.run(main, clock=MockClock(autojump_threshold=0))


def value_after(lines: list[str], label: str) -> bytes:
    start = next(i for i, line in enumerate(lines) if "characteristic" in line and label in line)
    shown = lines[start + 1].strip().removeprefix("value: ")
    if not shown.startswith("("):
        return bytes.fromhex(shown.split("  |")[0])
    octets = int(shown.strip("()").split()[0])
    rows = lines[start + 2 : start + 2 + (octets + 15) // 16]
    return b"".join(bytes.fromhex(row.strip()[6:].split("  |")[0]) for row in rows)


@pytest.mark.parametrize("pair", [False, True], ids=["security-retry", "pair-first"])
def test_gatt_dump_prints_the_whole_database(tmp_path: Path, pair: bool) -> None:
    lines = dump(tmp_path, pair=pair)
    text = "\n".join(lines)
    assert re.match(r"service 0x0001\.\.0x[0-9A-F]{4} 0x1800 Generic Access \(primary\)", lines[0])
    assert re.search(r"^service .* 0x180F Battery \(primary\)$", text, re.M)
    assert re.search(
        r"^  characteristic 0x[0-9A-F]{4} 0x2A19 Battery Level \[read, notify\] "
        r"value 0x[0-9A-F]{4}$",
        text,
        re.M,
    )
    assert value_after(lines, "0x2A19 Battery Level") == bytes([42])
    assert "0x2902 Client Characteristic Configuration: 00 00  |..|" in text
    assert value_after(lines, str(LONG)) == LONG_VALUE
    assert "(300 octets)" in text
    assert "0x2901 Characteristic User Description: 6c 6f 6e 67  |long|" in text
    assert value_after(lines, str(SECRET)) == b"encrypted only"
    refused = lines[next(i for i, line in enumerate(lines) if str(REFUSING) in line) + 1]
    assert re.fullmatch(
        r"value: not read \(Read: Application Error \(0x80\) on handle 0x[0-9A-F]{4}\)",
        refused.strip(),
    )
    write_only = next(i for i, line in enumerate(lines) if str(WRITE_ONLY) in line)
    assert "[write]" in lines[write_only]
    assert not lines[write_only + 1 :] or "value" not in lines[write_only + 1]
    bond_files = [path for path in tmp_path.glob("bonds-*.json") if "cache" not in path.name]
    assert len(bond_files) == 1  # paired, the bond kept


def test_gatt_dump_subcommand_is_registered() -> None:
    args = build_parser().parse_args(
        ["gatt-dump", "-t", "virtual", "00:11:22:33:44:55", "--pair", "--address-type", "random"]
    )
    assert (args.pair, args.address_type, str(args.peer)) == (True, "random", "00:11:22:33:44:55")
