"""``bluetrio gatt-dump`` against Bumble's GATT server (``peers/bumble_gatt_server.py``), our
host and Bumble's each on its own controller of one server (Bumble's controllers, bluetrio's
served controller, Root Canal): the tree with the SIG's names, every readable value in full
(the 300-octet one in Read Blob parts), and the
characteristic that needs encryption read once the client paired on Insufficient Encryption.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trio
from gatt_bumble_support import (
    CONTROLLER_KINDS,
    LONG_VALUE,
    Controllers,
    controllers_for,
    dumped_value,
    gatt_peer,
    server_uuids,
    wait_for,
)
from interop_support import TEST_LIMIT

from bluetrio.actors.btm.config import StackConfig
from bluetrio.address import Address, AddressType
from bluetrio.cli.gatt_dump import gatt_dump
from bluetrio.pairing import IoCapability, PairingDelegate

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

# On Bumble's LocalLink our stack uses a static random address (see test_gatt_bumble.py).
OUR_STATIC_ADDRESS = Address.parse("C4:11:22:33:44:77", AddressType.RANDOM)
ENCRYPTED_VALUE = b"the encrypted characteristic"


@pytest.fixture(params=CONTROLLER_KINDS)
def controllers(request: pytest.FixtureRequest) -> Controllers:
    return controllers_for(request.param, request)


def our_config(controllers: Controllers) -> StackConfig:
    if controllers.kind == "bumble":
        return StackConfig(static_address=OUR_STATIC_ADDRESS)
    return StackConfig()


async def test_gatt_dump_prints_the_bumble_servers_database(
    tmp_path: Path, controllers: Controllers
) -> None:
    """``bluetrio gatt-dump`` on Bumble's server: the tree with SIG names, every readable
    value in full, the encrypted one read after the client paired."""
    lines: list[str] = []
    with (
        trio.fail_after(TEST_LIMIT),
        gatt_peer("bumble_gatt_server.py", tmp_path / "server.log", controllers.bumble) as server,
    ):
        uuids = server_uuids(server)
        address = Address.parse(server.reports["ADDRESS"], AddressType.RANDOM)
        await gatt_dump(
            controllers.our_spec(server),
            address,
            PairingDelegate(IoCapability.NO_INPUT_NO_OUTPUT),
            tmp_path,
            lines.append,
            {"config": our_config(controllers)},
        )
        await wait_for(server, "PAIRED")
    text = "\n".join(lines)
    assert re.search(r"^service 0x[0-9A-F]{4}\.\.0x[0-9A-F]{4} 0x1800 Generic Access", text, re.M)
    assert re.search(r"^service .* 0x180F Battery \(primary\)$", text, re.M)
    assert re.search(r"characteristic 0x[0-9A-F]{4} 0x2A19 Battery Level \[read, notify\]", text)
    assert "0x2902 Client Characteristic Configuration: 00 00  |..|" in text
    assert dumped_value(lines, "0x2A19 Battery Level") == bytes([87])
    assert dumped_value(lines, uuids["long"]) == LONG_VALUE
    assert dumped_value(lines, uuids["encrypted"]) == ENCRYPTED_VALUE
    assert "|the encrypted ch|" in text
    assert f"{uuids['notify']} [notify]" in text
