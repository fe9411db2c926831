"""bluetrio's virtual controller: HCI (Core 5.4 Vol 4 Part E) over an emulated radio.

Public API::

    air = default_air()                    # one per Trio run and name (or Air(timing=...))
    controller = VirtualController(air, public_address=..., config=ControllerConfig(...))
    await controller.serve(transport)      # until the transport closes; then leaves the air
    air.faults.drop(predicate) / corrupt(...) / delay(...) / refuse_connections(addr) / mute(addr)
    air.drop_link(link)                    # both ends: Disconnection Complete 0x08 after the
                                           # link's supervision timeout

LE features: ``le_common`` (addresses, command mode, Filter Accept List), ``le_privacy``
(resolving list, controller-based privacy), ``le_advertising``, ``le_scanning``,
``le_connection``, ``le_security``; BR/EDR: ``bredr``, ``bredr_security``, ``ssp``.

Hooks for feature modules
-------------------------
* Subclass :class:`Feature` and decorate the class with :func:`register_feature`. One
  instance per controller is created with the controller as argument
  (``self.controller``); reach a sibling with ``self.controller.feature(OtherFeature)``.
  The module must be listed in ``controller.FEATURE_MODULES`` (``bredr``/``ssp`` already are).
* ``@handles(hci.SomeCommand)`` (a class of the shared codec, :mod:`bluetrio.messages.hci`)
  on a method ``(self, command: hci.SomeCommand) -> hci.SomeCommandReturn | None``. The
  codec class gives the opcode, the reply (Command Complete when it has return parameters,
  Command Status otherwise) and the return layout. Return the typed return parameters, or
  None when they are the status alone (and for Command Status commands). Raise
  ``CommandError(status, connection_handle=...)`` to fail: the named fields are echoed in
  the return parameters, the rest is zero. Parameters the codec cannot decode fail with 0x12
  Invalid HCI Command Parameters before the method runs. A codec command without a class yet
  gets one in ``bluetrio/messages/hci/commands.py``. Events sent while a command is handled
  go out after its Command Complete/Status. A command handled twice raises at import.
* ``@receives(FrameClass, ...)`` on a method ``(self, frame, link: Link | None)``: frames
  from the air (subclass :class:`Frame`; set ``IS_CONNECTION_REQUEST = True`` on page/connect
  requests so the refuse fault applies). Send with ``controller.air.broadcast(controller,
  frame, phy)``, ``air.unicast(controller, target_address, frame, phy)`` or
  ``air.send_on_link(link, controller, frame)``.
* ``reset()`` (HCI_Reset), ``on_connection_closed(connection, reason)``, ``le_activity()``
  (advertising, scanning or initiating), ``radio_busy()`` (also inquiring or paging) and
  ``on_rpa_timeout()`` (take new resolvable private addresses) overrides.
* Controller services: ``send_event(hci.SomeEvent(...))`` (event masks applied),
  ``call_later(delay, callback) -> Timer`` (``.cancel()``), ``air.open_link(LinkKind.BR_EDR,
  central, peripheral, supervision_timeout_s, Phy.BR_EDR)`` then
  ``add_connection(link, role, peer_address, local_address) -> Connection`` (handle
  allocated; ACL flow control, Number_Of_Completed_Packets, fragmentation toward the host,
  Disconnect, Read_RSSI, Read_Remote_Version_Information, supervision timeout and MIC-failure
  handling are then generic), ``close_connection(connection, reason)``,
  ``disconnect(connection, reason)``, ``config`` (:class:`ControllerConfig`),
  ``public_address``, ``feature(General).host_features`` (LMP features page 1 as an int).

Timing: with the default instant :class:`TimingModel` every frame arrives at the current Trio
time; only protocol timers (advertising interval, supervision timeout) advance the clock, so
tests under ``MockClock(autojump_threshold=0)`` run instantly. ``TimingModel.realistic()``
charges airtime per frame at the PHY rate and serialises each link.
"""

from bluetrio.controller.air import Air, AirFaults, Frame, Link, LinkKind, default_air
from bluetrio.controller.config import ControllerConfig, Phy, TimingModel
from bluetrio.controller.connections import Connection, Role
from bluetrio.controller.controller import VirtualController
from bluetrio.controller.dispatch import (
    CommandError,
    Feature,
    Reply,
    Status,
    handles,
    receives,
    register_feature,
)

__all__ = [
    "Air",
    "AirFaults",
    "CommandError",
    "Connection",
    "ControllerConfig",
    "Feature",
    "Frame",
    "Link",
    "LinkKind",
    "Phy",
    "Reply",
    "Role",
    "Status",
    "TimingModel",
    "VirtualController",
    "default_air",
    "handles",
    "receives",
    "register_feature",
]
