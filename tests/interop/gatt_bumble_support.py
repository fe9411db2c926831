"""What the GATT interop tests share: starting the Bumble GATT peers
(``peers/bumble_gatt_server.py``, ``peers/bumble_gatt_client.py``), where both hosts get
their controllers, and the values both sides agree on."""

from __future__ import annotations

import contextlib
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from interop_support import ReportingProcess, reporting_process

PEERS = Path(__file__).parent / "peers"
# Guards against a hang only: one peer report. Root Canal answers back-to-back exchanges
# late (a long read at MTU 23 is 14 of them), so it is generous.
STEP_LIMIT = 60.0
# The roles of the characteristics both peers' scenarios use (see the peer scripts).
ROLES = ("long", "echo", "notify", "indicate", "encrypted")
LONG_VALUE = random.Random(300).randbytes(300)
WRITTEN_VALUE = random.Random(500).randbytes(500)
VALUE_COUNT = 3  # notifications, and indications, each subscription waits for
CONTROLLER_KINDS = ("bumble", "served", "rootcanal")


@attrs.frozen
class Controllers:
    """Where the two hosts run: ``kind`` (a member of :data:`CONTROLLER_KINDS`), the
    peer's controller argument (``local``: the peer serves ours), and ours when known."""

    kind: str
    bumble: str
    ours: str | None

    def our_spec(self, peer: ReportingProcess) -> str:
        return self.ours or f"tcp:127.0.0.1:{peer.reports['PORT']}"


def controllers_for(kind: str, request: pytest.FixtureRequest) -> Controllers:
    if kind == "bumble":
        return Controllers("bumble", "local", None)
    fixture = "served_controller_port" if kind == "served" else "rootcanal_hci_port"
    port = request.getfixturevalue(fixture)
    return Controllers(kind, f"tcp-client:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}")


@contextlib.contextmanager
def gatt_peer(script: str, log: Path, *arguments: str) -> Iterator[ReportingProcess]:
    """The peer ``script`` (``bumble_gatt_server.py``, ``bumble_gatt_client.py``) run with
    ``arguments`` until READY; stopped on exit."""
    command = [sys.executable, str(PEERS / script), *arguments]
    with reporting_process(command, log, f"the Bumble peer {script}") as peer:
        yield peer


def server_uuids(server: ReportingProcess) -> dict[str, str]:
    """The Bumble server's characteristic UUID per role (its CHARACTERISTICS report, made
    before READY)."""
    uuids: dict[str, str] = json.loads(server.reports["CHARACTERISTICS"])
    return uuids


def client_arguments(uuids: dict[str, str]) -> list[str]:
    """The Bumble client's arguments naming the characteristic of each role."""
    arguments = ["--values", str(VALUE_COUNT)]
    for role in ROLES:
        arguments += [f"--{role}", uuids[role]]
    return arguments


async def wait_for(peer: ReportingProcess, word: str) -> str:
    return await trio.to_thread.run_sync(peer.wait_for, word, STEP_LIMIT)


async def wait_for_json(peer: ReportingProcess, word: str) -> Any:
    """The JSON object of the peer's next ``word`` report (a peer whose step failed exits:
    the wait then fails at once, with its traceback)."""
    return json.loads(await wait_for(peer, word))


@attrs.frozen
class ClientRun:
    """What the Bumble client's scenario reported, in its order."""

    discovered: Any
    long_value: bytes
    written_sha256: str
    echoed: bytes
    notifications: list[bytes]
    indications: list[bytes]
    security_error: int | None
    encrypted_value: bytes


async def follow_client(client: ReportingProcess, *, while_subscribed: Any) -> ClientRun:
    """Read the Bumble client's reports step by step to DONE; ``while_subscribed()`` (an
    async function) runs once it subscribed, to make its server send the values."""
    discovered = await wait_for_json(client, "DISCOVERED")
    long_read = await wait_for_json(client, "READ")
    assert long_read["role"] == "long"
    wrote = await wait_for_json(client, "WROTE")
    echo_read = await wait_for_json(client, "READ")
    assert echo_read["role"] == "echo"
    await wait_for(client, "SUBSCRIBED")
    await while_subscribed()
    values: dict[str, list[bytes]] = {}
    for _ in range(2):
        fact = await wait_for_json(client, "VALUES")
        values[fact["role"]] = [bytes.fromhex(value) for value in fact["values"]]
    encrypted = await wait_for_json(client, "READ")
    assert encrypted["role"] == "encrypted"
    await wait_for(client, "DONE")
    error = client.reports.get("SECURITY_ERROR")
    return ClientRun(
        discovered=discovered,
        long_value=bytes.fromhex(long_read["value"]),
        written_sha256=wrote["sha256"],
        echoed=bytes.fromhex(echo_read["value"]),
        notifications=values["notify"],
        indications=values["indicate"],
        security_error=None if error is None else json.loads(error)["error"],
        encrypted_value=bytes.fromhex(encrypted["value"]),
    )


def discovered_characteristics(discovered: Any) -> dict[str, Any]:
    """The Bumble client's DISCOVERED tree, its characteristics by UUID."""
    return {
        characteristic["uuid"]: characteristic
        for service in discovered["services"]
        for characteristic in service["characteristics"]
    }


def dumped_value(lines: list[str], label: str) -> bytes:
    """The value ``bluetrio gatt-dump`` printed for the characteristic whose line has
    ``label`` (its UUID as printed), read back from the hex columns."""
    start = next(i for i, line in enumerate(lines) if "characteristic" in line and label in line)
    first = lines[start + 1].strip()
    assert first.startswith("value: "), first
    shown = first.removeprefix("value: ")
    if not shown.startswith("("):  # one line: hex, then the text between bars
        return bytes.fromhex(shown.split("  |")[0])
    octets = int(shown.strip("()").split()[0])
    value = b"".join(
        bytes.fromhex(line.strip()[6:].split("  |")[0])
        for line in lines[start + 2 :][: (octets + 15) // 16]
    )
    assert len(value) == octets
    return value
