"""The stack's topology is checked when the stack starts: a misdeclared layer stops
``open_stack`` with a TopologyError naming the problem, before anything runs."""

from __future__ import annotations

import pytest

from bluetrio.actors.effects import Effects
from bluetrio.actors.runtime import Actor
from bluetrio.actors.topology import Layer, LayerSpec
from bluetrio.errors import TopologyError
from bluetrio.messages import hci
from bluetrio.messages.base import Message
from bluetrio.messages.hci_service import AclDataInd, AclLinkClosedInd, AclLinkOpenedInd
from bluetrio.stack import open_stack


class DeclaredCore:
    """A layer that only declares itself."""

    def __init__(self, spec: LayerSpec) -> None:
        self.spec = spec

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []


async def test_a_layer_claiming_an_event_btm_owns_fails_at_start() -> None:
    greedy = LayerSpec(Layer.L2CAP, hci_events=(hci.DisconnectionComplete,))
    with pytest.raises(TopologyError, match=r"DisconnectionComplete is owned .* btm and l2cap"):
        async with open_stack("virtual", extra_layers=[Actor(DeclaredCore(greedy))]):
            pytest.fail("the stack must not start")


async def test_a_layer_taking_acl_data_without_its_link_signals_fails_at_start() -> None:
    half = LayerSpec(Layer.L2CAP, handles=(AclDataInd,))
    with pytest.raises(TopologyError, match="ACL data and its link signals must reach"):
        async with open_stack("virtual", extra_layers=[Actor(DeclaredCore(half))]):
            pytest.fail("the stack must not start")


async def test_one_more_well_declared_layer_is_all_a_new_layer_needs() -> None:
    l2cap = LayerSpec(Layer.L2CAP, handles=(AclLinkOpenedInd, AclDataInd, AclLinkClosedInd))
    async with open_stack("virtual", extra_layers=[Actor(DeclaredCore(l2cap))]) as stack:
        assert stack.runtime.topology.names == ("hci", "btm", "l2cap", "app")
        assert stack.runtime.topology.handler_of(AclDataInd) == "l2cap"
        await stack.ready()
