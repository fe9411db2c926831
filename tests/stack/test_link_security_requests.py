"""A layer above BTM (here a fake requester in L2CAP's place) asks BTM to secure a link, as
L2CAP will before opening a channel to a protected service (Bluedroid's
``btm_sec_l2cap_access_req``); the answer comes back to that layer, not to the application."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from bluetrio.actors.effects import Effects, Emit
from bluetrio.actors.runtime import Actor
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.address import Address
from bluetrio.bonds import LinkKeyType
from bluetrio.messages.base import Message
from bluetrio.messages.btm import LinkTransport, LinkUpInd
from bluetrio.messages.btm_security import (
    IoCapability,
    LinkSecurityCnf,
    LinkSecurityReq,
    PairCnf,
    SecurityRequirement,
)
from bluetrio.pairing import PairingDelegate
from bluetrio.stack import open_stack


class FakeRequester:
    """Asks for ``requirement`` on every BR/EDR link that comes up; keeps the answers."""

    # Stands where L2CAP will be: told of links, asks btm for their security.
    spec = LayerSpec(Layer.L2CAP, subscribes=(LinkUpInd,), emits=(LinkSecurityReq,))

    def __init__(self, requirement: SecurityRequirement) -> None:
        self.requirement = requirement
        self.answers: list[LinkSecurityCnf] = []
        self.answered = trio.Event()
        self._tokens = iter(range(100, 1000))

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        match message:
            case LinkUpInd(link=link) if link.transport is LinkTransport.BR_EDR:
                request = LinkSecurityReq(next(self._tokens), link.handle, self.requirement)
                return [Emit(request)]
            case LinkSecurityCnf():
                self.answers.append(message)
                self.answered.set()
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


class Confirming(PairingDelegate):
    def __init__(self, io: IoCapability) -> None:
        self.io_capability = io

    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        return True

    async def accept_pairing(self, peer: Address) -> bool:
        return True


@pytest.mark.parametrize(
    ("io", "requirement", "status", "key_type"),
    [
        (
            IoCapability.DISPLAY_YES_NO,
            SecurityRequirement(mitm=True, secure_connections=True),
            0x00,
            LinkKeyType.AUTHENTICATED_P256,
        ),
        # Just Works gives no MITM protection: the link is secured but short of the need.
        (IoCapability.NO_INPUT_NO_OUTPUT, SecurityRequirement(mitm=True), 0x2F, None),
    ],
)
def test_link_security_request_from_a_layer_is_answered_to_that_layer(
    io: IoCapability,
    requirement: SecurityRequirement,
    status: int,
    key_type: LinkKeyType | None,
) -> None:
    async def main() -> None:
        requester = FakeRequester(requirement)
        async with (
            open_stack(
                "virtual",
                bring_up=True,
                pairing_delegate=Confirming(io),
                extra_layers=[Actor(requester)],
            ) as a,
            open_stack(
                "virtual", bring_up=True, pairing_delegate=Confirming(io), pairable=True
            ) as b,
        ):
            to_app: list[Message] = []
            a.app.observe(LinkSecurityCnf, to_app.append)
            a.app.observe(PairCnf, to_app.append)
            b_address = (await b.ready()).address
            async with a.connect(b_address, transport=LinkTransport.BR_EDR) as link:
                with trio.fail_after(120):
                    await requester.answered.wait()
            [answer] = requester.answers
            assert (answer.handle, answer.status, answer.key_type) == (
                link.handle,
                status,
                key_type,
            )
            assert answer.key_size == (16 if status == 0 else None)
            assert to_app == []  # nothing of it reached the application

    trio.run(main, clock=MockClock(autojump_threshold=0))
