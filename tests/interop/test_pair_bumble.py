"""``bluetrio pair --classic`` against Bumble's host stack, both on bluetrio's virtual
controller (served in the test's trio run, one controller per TCP client, one shared air).

The Bumble host (``peers/bumble_classic_peer.py``, a subprocess) is connectable and
discoverable and accepts every pairing question; it reports what it sees on stdout. The CLI
runs as a user would run it, through ``bluetrio.cli.main.main`` in a worker thread, once to
pair and store the bond in ``--keystore``, once more to reconnect and encrypt with that bond;
the test types into its terminal what the user would: ``y`` to a number Bumble shows too, the
passkey Bumble displays.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trio
from interop_support import TEST_LIMIT

from bluetrio.address import Address
from bluetrio.bonds import LinkKeyType
from bluetrio.cli.main import main
from bluetrio.controller import Air
from bluetrio.controller.server import serve_controllers
from bluetrio.messages.btm_security import AssociationModel
from bluetrio.transports.spec import TcpSpec

pytestmark = pytest.mark.interop

pytest.importorskip("bumble")

PEER_SCRIPT = Path(__file__).parent / "peers" / "bumble_classic_peer.py"
# Our controller keeps this public address across both runs, as a real adapter would: the
# bond on each side is keyed by the other's address.
LOCAL_ADDRESS = Address.parse("00:1B:DC:0B:0B:0B")
AES_CCM = 2  # Encryption_Enabled of HCI_Encryption_Change v1 (Vol 4 Part E 7.7.8)
# Guards against a hang only.
STEP_LIMIT = 10.0


class BumblePeer:
    """The running peer script: its report lines, read as they come."""

    def __init__(self, process: trio.Process, log_path: Path) -> None:
        assert process.stdout is not None
        self.stdout = process.stdout
        self.log_path = log_path
        self.lines: list[str] = []
        self._buffer = b""

    async def _next_line(self) -> str:
        while b"\n" not in self._buffer:
            chunk = await self.stdout.receive_some()
            if not chunk:
                raise AssertionError(f"the Bumble peer exited; its log:\n{self.log_tail()}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        self.lines.append(line.decode())
        return self.lines[-1]

    async def expect_address(self, word: str) -> Address:
        """The address in the next ``word`` report (Bumble marks public ones with "/P")."""
        return Address.parse((await self.expect(word)).split("/")[0])

    async def expect(self, word: str) -> str:
        """The rest of the next report starting with ``word``; earlier ones are kept."""
        with trio.fail_after(STEP_LIMIT):
            while True:
                line = await self._next_line()
                if line.split(" ", 1)[0] == word:
                    return line[len(word) :].strip()

    def reports_since(self, start: int) -> list[str]:
        return [line.split(" ", 1)[0] for line in self.lines[start:]]

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@contextlib.asynccontextmanager
async def bumble_peer(port: int, io_capability: str, log_path: Path) -> AsyncIterator[BumblePeer]:
    command = [sys.executable, str(PEER_SCRIPT), f"tcp-client:127.0.0.1:{port}",
               "--io-capability", io_capability]  # fmt: skip
    # Bumble's full log, to tell from it whose fault a failure is.
    environment = {**os.environ, "BUMBLE_LOGLEVEL": "DEBUG"}
    with log_path.open("wb") as log:
        async with trio.open_nursery() as nursery:
            run = functools.partial(
                trio.run_process, command, stdout=subprocess.PIPE, stderr=log,
                env=environment, check=False,
            )  # fmt: skip
            process = await nursery.start(run)
            try:
                yield BumblePeer(process, log_path)
            finally:
                # Cancelling run_process terminates the peer (and kills it if it lingers).
                nursery.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def served_controllers() -> AsyncIterator[tuple[int, int]]:
    """(port for Bumble, port for bluetrio): every client of the second gets LOCAL_ADDRESS."""
    air = Air()
    async with trio.open_nursery() as nursery:
        listen = TcpSpec("127.0.0.1", 0)
        for_bumble = await nursery.start(serve_controllers, listen, air)
        serve_ours = functools.partial(serve_controllers, first_address=LOCAL_ADDRESS)
        for_bluetrio = await nursery.start(serve_ours, listen, air)
        assert isinstance(for_bumble, TcpSpec) and isinstance(for_bluetrio, TcpSpec)
        yield for_bumble.port, for_bluetrio.port
        nursery.cancel_scope.cancel()


async def run_pair_cli(
    port: int, peer: Address, io_capability: str, keystore: Path, capsys: pytest.CaptureFixture[str]
) -> str:
    """``bluetrio pair --classic``; returns what it printed (its prompts included)."""
    argv = ["pair", "-t", f"tcp:127.0.0.1:{port}", str(peer), "--classic",
            "--io-capability", io_capability, "--keystore", str(keystore)]  # fmt: skip
    with trio.fail_after(STEP_LIMIT):
        status = await trio.to_thread.run_sync(main, argv, abandon_on_cancel=True)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


class Terminal:
    """The CLI's stdin: a pipe the test types its answers into, as a user would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        read_end, self._write_end = os.pipe()
        self._reader = os.fdopen(read_end)
        monkeypatch.setattr("sys.stdin", self._reader)

    def type_line(self, text: str) -> None:
        os.write(self._write_end, f"{text}\n".encode())

    def close(self) -> None:
        # End of input: a prompt still waiting gets EOF, and the delegate declines.
        os.close(self._write_end)
        self._reader.close()


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    typed_into = Terminal(monkeypatch)
    try:
        yield typed_into
    finally:
        typed_into.close()


async def pair_answering_the_peer(
    peer: BumblePeer,
    model: AssociationModel | None,
    terminal: Terminal,
    run_cli: Callable[[], Awaitable[str]],
) -> tuple[str, str | None]:
    """Run the CLI while answering its prompt with what the peer shows: ``y`` to a number to
    compare, the digits of a passkey to type. Returns (what it printed, what the peer showed)."""
    printed: list[str] = []

    async def run() -> None:
        printed.append(await run_cli())

    shown = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        assert await peer.expect_address("CONNECTED") == LOCAL_ADDRESS
        if model is AssociationModel.NUMERIC_COMPARISON:
            shown = await peer.expect("COMPARE")
            terminal.type_line("y")
        elif model is AssociationModel.PASSKEY_ENTRY:
            shown = await peer.expect("DISPLAY")
            terminal.type_line(shown)
    return printed[0], shown


@pytest.mark.parametrize(
    ("ours", "bumbles", "model", "key_type"),
    [
        # Both DisplayYesNo, Bumble asks for MITM protection: numbers are compared.
        ("display-yes-no", "display-yes-no", AssociationModel.NUMERIC_COMPARISON,
         LinkKeyType.AUTHENTICATED_P256),
        # We have a keyboard, Bumble a display: we type the passkey it shows.
        ("keyboard-only", "display-only", AssociationModel.PASSKEY_ENTRY,
         LinkKeyType.AUTHENTICATED_P256),
        # Neither side has input or output.
        ("no-io", "no-io", AssociationModel.JUST_WORKS, LinkKeyType.UNAUTHENTICATED_P256),
    ],
)  # fmt: skip
async def test_pair_with_bumble_then_reconnect_with_the_bond(
    ours: str,
    bumbles: str,
    model: AssociationModel,
    key_type: LinkKeyType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    terminal: Terminal,
) -> None:
    with trio.fail_after(TEST_LIMIT):
        keystore = tmp_path / "bonds"
        async with (
            served_controllers() as (bumble_port, bluetrio_port),
            bumble_peer(bumble_port, bumbles, tmp_path / "bumble.log") as peer,
        ):
            peer_address = await peer.expect_address("ADDRESS")
            await peer.expect("READY")
            run_cli = functools.partial(
                run_pair_cli, bluetrio_port, peer_address, ours, keystore, capsys
            )

            printed, shown = await pair_answering_the_peer(peer, model, terminal, run_cli)
            assert f"paired ({model.value}), bond stored" in printed, peer.log_tail()
            assert f"link key: {key_type.name.lower()}, encryption key size 16" in printed
            if model is AssociationModel.NUMERIC_COMPARISON:
                asked = re.search(r"Does \S+ show (\d{6})\?", printed)
                assert asked is not None and asked.group(1) == shown
            assert int(await peer.expect("LINK_KEY")) == key_type
            assert int(await peer.expect("ENCRYPTION")) == AES_CCM
            await peer.expect("DISCONNECTED")
            assert len(list(keystore.glob("*.json"))) == 1

            second_start = len(peer.lines)
            printed, _ = await pair_answering_the_peer(peer, None, terminal, run_cli)
            assert "reconnected with the stored bond, no pairing" in printed, peer.log_tail()
            assert f"link key: {key_type.name.lower()}" in printed
            assert "Does " not in printed and "Passkey" not in printed
            assert int(await peer.expect("ENCRYPTION")) == AES_CCM
            await peer.expect("DISCONNECTED")
            # Bumble found the key it stored: it neither paired nor was handed a new key.
            assert peer.reports_since(second_start) == ["CONNECTED", "ENCRYPTION", "DISCONNECTED"]
