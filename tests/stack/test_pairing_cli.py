"""``bluetrio pair``: pair once, then reconnect with the stored bond."""

from __future__ import annotations

from pathlib import Path

import trio
from trio.testing import MockClock

from bluetrio.actors.runtime import Actor
from bluetrio.address import Address
from bluetrio.bonds import LongTermKey
from bluetrio.cli.main import build_parser
from bluetrio.cli.pair import pair_classic, pair_le, pair_over
from bluetrio.controller import VirtualController, default_air
from bluetrio.keystore import MemoryKeyStore
from bluetrio.pairing import IoCapability, PairingDelegate, TerminalPairingDelegate
from bluetrio.stack import open_stack
from bluetrio.testing.smp_stand_in import StandInSmp
from bluetrio.transports.virtual import transport_pair

LOCAL = Address.parse("00:1B:DC:0B:0B:0B")
KEY = LongTermKey(bytes(range(16)), ediv=0x2468, rand=bytes(range(8)))


def test_pair_then_reconnect_with_the_bond(tmp_path: Path) -> None:
    async def main() -> list[list[str]]:
        outputs = []
        async with open_stack("virtual", pairable=True, pairing_delegate=PairingDelegate()) as peer:
            info = await peer.ready()
            async with trio.open_nursery() as nursery:
                for _ in range(2):
                    # The same local address each time, as a real controller has.
                    host_side, controller_side = transport_pair()
                    controller = VirtualController(default_air(), public_address=LOCAL)
                    nursery.start_soon(controller.serve, controller_side)
                    outputs.append(
                        await pair_classic(
                            host_side,
                            info.address,
                            TerminalPairingDelegate(IoCapability.DISPLAY_YES_NO),
                            tmp_path,
                        )
                    )
                    # The virtual controller does not yet tell the peer about a Disconnect.
                    for link in peer.links:
                        await peer.disconnect(link.handle, missing_ok=True)
                nursery.cancel_scope.cancel()
        return outputs

    first, second = trio.run(main, clock=MockClock(autojump_threshold=0))
    assert "paired (just works), bond stored" in first[0]
    assert "unauthenticated_p256" in first[1]
    assert "reconnected with the stored bond, no pairing" in second[0]
    assert len(list(tmp_path.glob("bonds-*.json"))) == 1


def test_pair_subcommand_is_registered() -> None:
    command = ["pair", "-t", "virtual", "00:11:22:33:44:55", "--classic"]
    args = build_parser().parse_args([*command, "--io-capability", "keyboard-only"])
    assert (args.io_capability, args.classic) == ("keyboard-only", True)


def test_pair_le_then_reconnect_and_encrypt_with_the_stored_ltk(tmp_path: Path) -> None:
    """``bluetrio pair --le`` with a stand-in in SMP's place on both sides (it hands both the
    same key): the CLI says the model, the strength and the keys, stores the bond; run again,
    it encrypts with the stored LTK and says so."""

    async def main() -> list[list[str]]:
        outputs = []
        peer_smp = StandInSmp(provide=KEY)
        async with open_stack(
            "virtual", extra_layers=[Actor(peer_smp)], keystore=MemoryKeyStore
        ) as peer:
            info = await peer.ready()
            peer_smp.local = info.address
            async with trio.open_nursery() as nursery:
                for _ in range(2):
                    host_side, controller_side = transport_pair()
                    controller = VirtualController(default_air(), public_address=LOCAL)
                    nursery.start_soon(controller.serve, controller_side)
                    options = {"extra_layers": [Actor(StandInSmp(key=KEY, local=LOCAL))]}
                    delegate = TerminalPairingDelegate(IoCapability.NO_INPUT_NO_OUTPUT)
                    async with peer.advertise():  # a connection ends the advertising
                        outputs.append(
                            await pair_le(host_side, info.address, delegate, tmp_path, options)
                        )
                    for link in peer.links:
                        await peer.disconnect(link.handle, missing_ok=True)
                nursery.cancel_scope.cancel()
        return outputs

    first, second = trio.run(main, clock=MockClock(autojump_threshold=0))
    assert first[0].endswith("paired (just works), bond stored")
    assert first[1] == (
        "keys: LE Secure Connections, unauthenticated, key size 16, "
        "security level 2 (encrypted, unauthenticated)"
    )
    assert first[2] == "keys distributed: peer LTK, local LTK"
    assert second[0].endswith("reconnected and encrypted with the stored LTK, no pairing")
    assert len(list(tmp_path.glob("bonds-*.json"))) == 1


def test_pair_without_a_transport_finds_the_le_advertiser(tmp_path: Path) -> None:
    async def main() -> list[str]:
        peer_smp = StandInSmp(provide=KEY)
        async with open_stack(
            "virtual", extra_layers=[Actor(peer_smp)], keystore=MemoryKeyStore
        ) as peer:
            info = await peer.ready()
            peer_smp.local = info.address
            async with peer.advertise(), trio.open_nursery() as nursery:
                host_side, controller_side = transport_pair()
                controller = VirtualController(default_air(), public_address=LOCAL)
                nursery.start_soon(controller.serve, controller_side)
                options = {"extra_layers": [Actor(StandInSmp(key=KEY, local=LOCAL))]}
                lines = await pair_over(
                    host_side, info.address, PairingDelegate(), tmp_path, None, options
                )
                nursery.cancel_scope.cancel()
        return lines

    lines = trio.run(main, clock=MockClock(autojump_threshold=0))
    assert lines[0].endswith("paired (just works), bond stored")
    assert lines[1].startswith("keys: LE Secure Connections")


def test_pair_le_arguments() -> None:
    command = ["pair", "-t", "virtual", "00:11:22:33:44:55", "--le"]
    args = build_parser().parse_args([*command, "--address-type", "random"])
    assert (args.le, args.address_type) == (True, "random")
