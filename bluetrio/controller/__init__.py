"""bluetrio's virtual controller: HCI (Core 5.4 Vol 4 Part E) over an emulated radio.

Public API::

    air = default_air()                    # one per Trio run and name (or Air(timing=...))
    controller = VirtualController(air, public_address=..., config=ControllerConfig(...))
    await controller.serve(transport)      # until the transport closes; then leaves the air
    air.faults.drop(predicate) / corrupt(...) / delay(...) / refuse_connections(addr) / mute(addr)
    air.drop_link(link)                    # both ends: Disconnection Complete 0x08 after the
                                           # link's supervision timeout

Hooks for feature modules (LE here; BR/EDR in ``bredr.py``/``ssp.py``)
---------------------------------------------------------------------
* Subclass :class:`Feature` and decorate the class with :func:`register_feature`. One
  instance per controller is created with the controller as argument
  (``self.controller``); reach a sibling with ``self.controller.feature(OtherFeature)``.
  The module must be listed in ``controller.FEATURE_MODULES`` (``bredr``/``ssp`` already are).
* ``@command(opcode, "Name", reply=Reply.COMPLETE|Reply.STATUS, return_size=n)`` on a
  method ``(self, cmd: Command) -> bytes | None``. Return the return parameters *after* the
  status byte (Command Complete) or None (Command Status 0x00 is sent). Raise
  ``CommandError(status, echo=b"...")`` to fail (echo: e.g. the BD_ADDR/handle the return
  parameters start with; the rest is zero-padded to ``return_size``). A ``DecodeError`` becomes
  0x12 Invalid HCI Command Parameters. Parse with ``cmd.reader()`` (u8/u16/uint/address/take/
  done) or ``cmd.decoded()`` (the shared codec's typed command). Events sent while a command is
  handled go out after its Command Complete/Status. Opcode collisions raise at import.
* ``@receives(FrameClass, ...)`` on a method ``(self, frame, link: Link | None)``: frames
  from the air (subclass :class:`Frame`; set ``IS_CONNECTION_REQUEST = True`` on page/connect
  requests so the refuse fault applies). Send with ``controller.air.broadcast(controller,
  frame, phy)``, ``air.unicast(controller, target_address, frame, phy)`` or
  ``air.send_on_link(link, controller, frame)``.
* ``reset()`` (HCI_Reset) and ``on_connection_closed(connection, reason)`` overrides.
* Controller services: ``send_event(packet_bytes)`` (event masks applied; build with
  ``events.event_packet``/``le_event`` or any codec event's ``to_bytes()``),
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
    Command,
    CommandError,
    Feature,
    Reply,
    Status,
    command,
    receives,
    register_feature,
)

__all__ = [
    "Air",
    "AirFaults",
    "Command",
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
    "command",
    "default_air",
    "receives",
    "register_feature",
]
