"""A host keeps its address across runs on ``bluetrio controller --listen`` (which gives
every client a fresh controller): ``open_stack(address=...)``/``--address`` write it at
bring-up with the vendor Write_BD_ADDR command, so a bond made in one run serves the next."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from bluetrio.address import Address
from bluetrio.cli.pair import pair_classic
from bluetrio.controller.air import Air
from bluetrio.controller.config import TimingModel
from bluetrio.controller.server import serve_controllers
from bluetrio.errors import ControllerNotReadyError, InvalidArgumentError
from bluetrio.pairing import IoCapability, PairingDelegate
from bluetrio.stack import open_stack
from bluetrio.transports.spec import UnixSpec

HOST = Address.parse("00:1B:DC:0A:0A:0A")


class Agreeing(PairingDelegate):
    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        return True


def test_pair_reconnects_with_the_bond_in_a_second_run_through_a_served_controller(
    tmp_path: Path,
) -> None:
    socket_path = tmp_path / "controller.sock"
    bonds = tmp_path / "bonds"
    bonds.mkdir()

    async def main() -> list[list[str]]:
        air = Air(TimingModel.instant(), name="served")
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_controllers, UnixSpec(str(socket_path)), air)
            spec = f"unix:{socket_path}"
            async with open_stack(spec, pairable=True, pairing_delegate=Agreeing()) as peer:
                peer_address = (await peer.ready()).address
                runs = []
                for _ in range(2):
                    runs.append(
                        await pair_classic(
                            spec,
                            peer_address,
                            Agreeing(IoCapability.DISPLAY_YES_NO),
                            bonds,
                            {"address": HOST},
                        )
                    )
            nursery.cancel_scope.cancel()
        return runs

    first, second = trio.run(main)
    assert "paired (numeric comparison), bond stored" in first[0]
    assert "reconnected with the stored bond, no pairing" in second[0]
    # One local identity across both runs, so one bond file.
    assert [path.name for path in bonds.iterdir()] == ["bonds-00-1B-DC-0A-0A-0A-public.json"]


def test_the_address_is_the_one_the_stack_reports() -> None:
    async def main() -> Address:
        async with open_stack("virtual:own-address", address="00:1B:DC:0A:0A:0B") as stack:
            return (await stack.ready()).address

    assert trio.run(main, clock=MockClock(autojump_threshold=0)) == Address.parse(
        "00:1B:DC:0A:0A:0B"
    )


def test_a_controller_that_refuses_the_address_fails_bring_up_clearly() -> None:
    async def main() -> None:
        async with open_stack("virtual:one-air", bring_up=True) as first:
            taken = (await first.ready()).address
            # Two radios on one air cannot answer to one address: the controller refuses.
            async with open_stack("virtual:one-air", address=taken) as second:
                await second.ready()

    with pytest.raises(ControllerNotReadyError) as failure:
        trio.run(main, clock=MockClock(autojump_threshold=0))
    message = str(failure.value)
    assert message.startswith("the controller did not take the address ")
    assert "vendor Write_BD_ADDR command, opcode 0xFC06" in message
    assert message.endswith(
        "HCI_Vendor_Write_BD_ADDR failed: Invalid HCI Command Parameters (0x12)"
    )


@pytest.mark.parametrize("address", ["00:11:22", "C0:11:22:33:44:55/R", 12])
def test_the_address_must_be_a_public_bd_addr(address: object) -> None:
    async def main() -> None:
        async with open_stack("virtual", address=address):  # type: ignore[arg-type]
            pass

    with pytest.raises(InvalidArgumentError):
        trio.run(main)
