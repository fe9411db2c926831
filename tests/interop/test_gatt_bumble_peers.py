"""The Bumble GATT peers the GATT interop tests run, against each other: Bumble's client
(``peers/bumble_gatt_client.py``) runs its whole scenario on Bumble's server
(``peers/bumble_gatt_server.py``), each host on its own controller of one server (bluetrio's
served controller, Root Canal).

What each peer does and reports is what test_gatt_bumble.py expects of it with bluetrio on
the other side, so a failure there lies with bluetrio, not with the scenario: discovery of
the Battery Service and the custom service, the 300-octet read (Read Blob, Core 5.4 Vol 3
Part G 4.8.3), the 500-octet write (Write Long, 4.9.4) read back, notifications and
indications on demand, the encrypted characteristic (Insufficient Encryption, pairing, the
read again).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import trio
from gatt_bumble_support import (
    LONG_VALUE,
    VALUE_COUNT,
    WRITTEN_VALUE,
    client_arguments,
    controllers_for,
    discovered_characteristics,
    follow_client,
    gatt_peer,
    server_uuids,
    wait_for,
)
from interop_support import TEST_LIMIT

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"
INSUFFICIENT_ENCRYPTION = 0x0F
NOTIFY, INDICATE = 0x10, 0x20  # characteristic properties (Vol 3 Part G 3.3.1.1)


@pytest.mark.parametrize("kind", ["served", "rootcanal"])
async def test_the_bumble_client_runs_its_scenario_on_the_bumble_server(
    tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    controllers = controllers_for(kind, request)
    with (
        trio.fail_after(TEST_LIMIT),
        gatt_peer("bumble_gatt_server.py", tmp_path / "server.log", controllers.bumble) as server,
    ):
        uuids = server_uuids(server)
        arguments = [controllers.bumble, "--connect", server.reports["ADDRESS"] + "/R"]
        with gatt_peer(
            "bumble_gatt_client.py", tmp_path / "client.log", *arguments, *client_arguments(uuids)
        ) as client:

            async def send_values() -> None:
                server.tell(f"notify {VALUE_COUNT}")
                server.tell(f"indicate {VALUE_COUNT}")

            run = await follow_client(client, while_subscribed=send_values)
            assert await wait_for(server, "INDICATED") == str(VALUE_COUNT)

    characteristics = discovered_characteristics(run.discovered)
    assert BATTERY_LEVEL in characteristics
    assert set(uuids.values()) <= set(characteristics)
    assert characteristics[uuids["notify"]]["properties"] & NOTIFY
    assert characteristics[uuids["indicate"]]["properties"] & INDICATE
    assert run.long_value == LONG_VALUE
    assert run.written_sha256 == hashlib.sha256(WRITTEN_VALUE).hexdigest()
    assert run.echoed == WRITTEN_VALUE
    assert run.notifications == [f"notify-{i}".encode() for i in range(VALUE_COUNT)]
    assert run.indications == [f"indicate-{i}".encode() for i in range(VALUE_COUNT)]
    assert run.security_error == INSUFFICIENT_ENCRYPTION
    assert run.encrypted_value == b"the encrypted characteristic"
