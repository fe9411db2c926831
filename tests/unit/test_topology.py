"""The declared topology: every HCI event has one owner, indications fan out to their
subscribers bottom up, ACL data and its link signals share one destination, and a misdeclared
layer is refused when the stack starts."""

from __future__ import annotations

import attrs
import pytest

from bluetrio.actors.app_port import AppRouter
from bluetrio.actors.btm.core import BtmCore
from bluetrio.actors.effects import ConnectionFaultInd, Emit
from bluetrio.actors.hci.core import HciCore
from bluetrio.actors.topology import Layer, LayerSpec, Topology
from bluetrio.address import Address
from bluetrio.errors import TopologyError
from bluetrio.messages import hci
from bluetrio.messages.base import Message
from bluetrio.messages.btm import AclLink, ConnectionRequestInd, LinkTransport, LinkUpInd, Role
from bluetrio.messages.hci.base import EVENT_CLASSES, LE_EVENT_CLASSES
from bluetrio.messages.hci_service import (
    AclDataCnf,
    AclDataInd,
    AclDataReq,
    AclLinkClosedInd,
    AclLinkOpenedInd,
    HciCommandReq,
    HciEventInd,
)

# Consumed by the HCI actor itself (command flow control and ACL credits).
HCI_OWN = {hci.CommandComplete, hci.CommandStatus, hci.NumberOfCompletedPackets}
PEER = Address.parse("11:22:33:44:55:66")

# What an L2CAP layer will declare about the ACL data path: adding it is one more layer.
L2CAP = LayerSpec(
    Layer.L2CAP,
    handles=(AclLinkOpenedInd, AclDataInd, AclLinkClosedInd, AclDataCnf),
    subscribes=(LinkUpInd,),
    emits=(AclDataReq,),
)


def stack_specs() -> list[LayerSpec]:
    return [HciCore.spec, BtmCore().spec, AppRouter.spec]


def test_the_stack_topology_fits_together_and_btm_owns_every_event_by_name() -> None:
    topology = Topology(stack_specs())
    assert topology.names == ("hci", "btm", "app")
    known = set(EVENT_CLASSES.values()) | set(LE_EVENT_CLASSES.values())
    owned_by_name = BtmCore().spec.hci_events
    assert known - HCI_OWN - owned_by_name == set()
    assert {topology.owner_of_event(kind) for kind in known - HCI_OWN} == {"btm"}
    assert topology.handler_of(ConnectionFaultInd) == "btm"  # the link manager


def test_events_go_to_their_owner_and_to_observers_while_they_watch() -> None:
    topology = Topology(stack_specs())
    known = HciEventInd(hci.InquiryComplete(0))
    unknown = HciEventInd(hci.UnknownEvent(0xF0, b"\x01"))
    assert topology.route("hci", known) == ("btm",)
    assert topology.route("hci", unknown) == ("btm",)  # owning HciEvent takes the rest
    topology.observe(Layer.APP, HciEventInd, True)  # someone reads Stack.events()
    assert topology.route("hci", known) == ("btm", "app")
    topology.observe(Layer.APP, HciEventInd, False)
    assert topology.route("hci", unknown) == ("btm",)
    with pytest.raises(TopologyError, match="btm does not declare that it observes"):
        topology.observe(Layer.BTM, HciEventInd, True)


def test_acl_data_goes_to_the_app_until_a_layer_handles_it() -> None:
    alone = Topology(stack_specs())
    assert alone.route("hci", AclDataInd(1, (b"",))) == ("app",)
    specs = stack_specs()
    with_l2cap = Topology([*specs[:2], L2CAP, specs[2]])
    assert with_l2cap.route("hci", AclDataInd(1, (b"",))) == ("l2cap",)
    # btm takes the link signals too, for the link's number.
    assert with_l2cap.route("hci", AclLinkOpenedInd(1, LinkTransport.LE, 1)) == ("l2cap", "btm")
    assert with_l2cap.route("hci", AclLinkClosedInd(1, 0x13)) == ("l2cap",)


def test_indications_fan_out_to_every_subscriber_bottom_up() -> None:
    specs = stack_specs()
    topology = Topology([*specs[:2], L2CAP, specs[2]])
    link = AclLink(0x0040, LinkTransport.LE, PEER, Role.CENTRAL)
    assert topology.route("btm", LinkUpInd(link)) == ("l2cap", "app")
    assert topology.route("btm", ConnectionRequestInd(PEER, 0, True)) == ("app",)
    command = HciCommandReq(1, hci.Reset())
    assert topology.route("btm", command) == ("hci",)


def test_btm_emits_what_it_declares() -> None:
    core = BtmCore()
    effects = core.handle("runtime", ConnectionFaultInd(0x0040, "l2cap", "boom"), 0.0)
    [emit] = effects
    assert isinstance(emit, Emit) and isinstance(emit.message, HciCommandReq)
    assert emit.message.command == hci.Disconnect(0x0040, 0x13)
    assert type(emit.message) in core.spec.emits


@attrs.frozen
class Unheard(Message):
    """A message no layer handles or subscribes to."""


def misdeclared(**changes: object) -> list[LayerSpec]:
    return [*stack_specs()[:2], attrs.evolve(L2CAP, **changes), AppRouter.spec]


@pytest.mark.parametrize(
    ("specs", "problem"),
    [
        (misdeclared(hci_events=(hci.ConnectionRequest,)), "ConnectionRequest is owned"),
        (misdeclared(handles=(HciCommandReq,)), "HciCommandReq is handled by two layers"),
        (misdeclared(emits=(Unheard,)), "l2cap emits Unheard, which no layer handles"),
        (misdeclared(name=Layer.BTM), "two layers are called 'btm'"),
        (misdeclared(handles=(AclDataInd,)), "ACL data and its link signals must reach"),
        (
            [HciCore.spec, attrs.evolve(AppRouter.spec, subscribes=())],
            "hci emits HciEventInd but no layer owns HciEvent",
        ),
    ],
)
def test_a_misdeclared_layer_is_refused(specs: list[LayerSpec], problem: str) -> None:
    with pytest.raises(TopologyError, match=problem):
        Topology(specs)


def test_emitting_an_undeclared_type_is_an_error() -> None:
    topology = Topology(stack_specs())
    with pytest.raises(TopologyError, match="app emitted HciCommandReq, which it does not"):
        topology.route("app", HciCommandReq(1, hci.Reset()))
