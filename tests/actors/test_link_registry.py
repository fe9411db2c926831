"""The live links of the application side, driven by the device manager's indications
through a real app port: state updates, the incoming backlog and its bound."""

from __future__ import annotations

from typing import cast

import trio
import trio.testing

from bluetrio import Address, LinkKeyType, LinkTransport, Role, SecurityLevel
from bluetrio.actors.app_port import AppPort
from bluetrio.actors.effects import ConnectionFaultInd, Effects, Send
from bluetrio.actors.runtime import Actor, Runtime
from bluetrio.actors.topology import LayerSpec
from bluetrio.link import LinkRegistry
from bluetrio.messages.base import Message
from bluetrio.messages.btm import AclLink, LinkChangedInd, LinkDownInd, LinkUpInd
from bluetrio.messages.btm_security import LinkSecuredInd
from bluetrio.stack import Stack

PEER = Address.parse("00:11:22:33:44:55")


class Reflector:
    """Plays the device manager: sends every message straight back."""

    spec = LayerSpec(
        "btm", handles=(LinkUpInd, LinkChangedInd, LinkDownInd, LinkSecuredInd, ConnectionFaultInd)
    )

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        return [Send(sender, message)]

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


def incoming(handle: int, transport: LinkTransport = LinkTransport.LE) -> AclLink:
    return AclLink(handle, transport, PEER, Role.PERIPHERAL)


async def start(nursery: trio.Nursery, backlog: int = 16) -> tuple[AppPort, LinkRegistry]:
    runtime = Runtime()
    app = AppPort()
    runtime.add(Actor(Reflector()))
    runtime.add(app)
    # The registry only hands the stack to the links it makes; no link operation runs here.
    registry = LinkRegistry(cast(Stack, None), app, backlog=backlog)
    await nursery.start(runtime.run)
    return app, registry


async def indicate(app: AppPort, *messages: Message) -> None:
    for message in messages:
        app.send("btm", message)
    await trio.testing.wait_all_tasks_blocked()


async def test_state_follows_the_indications() -> None:
    async with trio.open_nursery() as nursery:
        app, registry = await start(nursery)
        await indicate(app, LinkUpInd(AclLink(1, LinkTransport.BR_EDR, PEER, Role.CENTRAL)))
        [link] = registry.all()
        assert (link.role, link.encrypted, link.security_level) == (
            Role.CENTRAL, False, SecurityLevel.NONE,
        )  # fmt: skip
        await indicate(
            app,
            LinkChangedInd(AclLink(1, LinkTransport.BR_EDR, PEER, Role.PERIPHERAL, encrypted=True)),
            LinkSecuredInd(1, PEER, LinkKeyType.UNAUTHENTICATED_P256, 16, False),
        )
        assert link.role is Role.PERIPHERAL and link.key_size == 16
        assert link.security_level is SecurityLevel.ENCRYPTED
        await indicate(app, LinkDownInd(1, 0x08))
        assert await link.wait_disconnected() == 0x08 and registry.all() == ()
        assert registry.known(1) is link  # still found for a confirmation that follows
        nursery.cancel_scope.cancel()


async def test_the_backlog_keeps_the_newest_incoming_links_and_drops_the_gone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        app, registry = await start(nursery, backlog=2)
        await indicate(app, *(LinkUpInd(incoming(handle)) for handle in (1, 2, 3, 4)))
        await indicate(app, LinkDownInd(3, 0x13))
        # 1 and 2 left the backlog for 3 and 4 (still connected), and 3 went down.
        assert [link.handle for link in registry.all()] == [1, 2, 4]
        assert (await registry.next_incoming()).handle == 4
        with trio.move_on_after(1) as waiting:
            await registry.next_incoming()
        assert waiting.cancelled_caught
        nursery.cancel_scope.cancel()


async def test_a_link_we_initiated_is_not_incoming(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        app, registry = await start(nursery)
        await indicate(app, LinkUpInd(AclLink(1, LinkTransport.LE, PEER, Role.CENTRAL)))
        await indicate(app, LinkUpInd(incoming(2, LinkTransport.BR_EDR)))
        assert (await registry.next_incoming(LinkTransport.BR_EDR)).handle == 2
        with trio.move_on_after(1) as waiting:
            await registry.next_incoming()
        assert waiting.cancelled_caught
        nursery.cancel_scope.cancel()
