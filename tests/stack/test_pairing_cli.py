"""``bluetrio pair``: pair once, then reconnect with the stored bond."""

from __future__ import annotations

from pathlib import Path

import trio
from trio.testing import MockClock

from bluetrio.address import Address
from bluetrio.cli.main import build_parser
from bluetrio.cli.pair import pair_classic
from bluetrio.controller import VirtualController, default_air
from bluetrio.pairing import IoCapability, PairingDelegate, TerminalPairingDelegate
from bluetrio.stack import open_stack
from bluetrio.transports.virtual import transport_pair

LOCAL = Address.parse("00:1B:DC:0B:0B:0B")


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
