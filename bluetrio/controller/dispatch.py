"""How commands and air frames reach the code that handles them.

A controller is assembled from *features*: subclasses of :class:`Feature` registered with
:func:`register_feature`. Each feature keeps its own per-controller state and declares

* command handlers: methods decorated ``@handles(hci.SomeCommand)``: they take the typed
  command from the shared codec and return its typed return parameters (or None when the
  return parameters are the status alone, or the command is answered by Command Status);
* frame handlers: methods decorated ``@receives(FrameClass, ...)`` for frames from the air;
* hooks: :meth:`Feature.reset` (HCI_Reset), :meth:`Feature.on_connection_closed`.

The opcode table is global and checked at registration, so two features can never both
claim a command, and Read_Local_Supported_Commands is computed from it. Commands, their
return parameters and events are the shared codec's classes (:mod:`bluetrio.messages.hci`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from bluetrio.controller.air import Frame
from bluetrio.messages.fields import MAX_PARAMETER_LENGTH
from bluetrio.messages.hci.base import HciCommand, ReturnParameters, StatusReturn
from bluetrio.messages.hci.status import HciStatus

if TYPE_CHECKING:
    from bluetrio.controller.connections import Connection
    from bluetrio.controller.controller import VirtualController


# The controller reports the codec's status codes (Core 5.4 Vol 1 Part F 1.3); the short name
# keeps the many ``raise CommandError(Status.X)`` lines readable.
Status = HciStatus


class CommandError(Exception):
    """Raised by a handler: the command fails with ``status``.

    For Command Complete commands the return parameters carry ``status``, the ``echo`` fields
    (e.g. ``connection_handle=...``, the handle the command named) and zeros elsewhere
    (Vol 4 Part E 4.5: only the status and the echoed parameters are meaningful).
    """

    def __init__(self, status: int, **echo: object) -> None:
        super().__init__(f"HCI status 0x{status:02X}")
        self.status = status
        self.echo = echo


def failure_return(
    return_class: type[ReturnParameters], status: int, fields: dict[str, object]
) -> ReturnParameters:
    """The return parameters of a failed command: ``status``, the echoed fields, zeros."""
    zeros, _ = return_class.decode_fields(bytes(MAX_PARAMETER_LENGTH), 0)
    values = {name: getattr(zeros, name) for name, _ in return_class.LAYOUT}
    values.update((name, value) for name, value in fields.items() if name in values)
    values["status"] = status
    return return_class(**values)


class Reply(enum.Enum):
    """Which event acknowledges a command (Vol 4 Part E 4.4)."""

    COMPLETE = "command-complete"
    STATUS = "command-status"
    # Host_Number_Of_Completed_Packets: no event unless it fails (Vol 4 Part E 7.3.40).
    NONE_ON_SUCCESS = "none-on-success"


@attrs.frozen
class CommandSpec:
    command_class: type[HciCommand]
    reply: Reply

    @property
    def opcode(self) -> int:
        return self.command_class.OPCODE


@attrs.frozen
class HandlerEntry:
    spec: CommandSpec
    feature: type[Feature]
    method: str


F = TypeVar("F", bound=Callable[..., Any])

# Methods marked by @handles / @receives, read back by register_feature.
_MARKED_COMMANDS: dict[Callable[..., Any], CommandSpec] = {}
_MARKED_RECEIVERS: dict[Callable[..., Any], tuple[type[Frame], ...]] = {}


def handles(command_class: type[HciCommand], *, reply: Reply | None = None) -> Callable[[F], F]:
    """Mark a feature method as the handler of ``command_class`` (a codec command).

    The method takes the decoded command and returns an instance of the class's ``RETURN``,
    or None when the return parameters are only the status (or the command is answered by
    Command Status). Raising :class:`CommandError` makes the command fail; parameters the
    codec cannot decode fail with 0x12 before the method is called (Vol 4 Part E 4.5).
    """
    if reply is None:
        reply = Reply.STATUS if command_class.RETURN is None else Reply.COMPLETE
    spec = CommandSpec(command_class, reply)

    def mark(method: F) -> F:
        _MARKED_COMMANDS[method] = spec
        return method

    return mark


def success_return(command_class: type[HciCommand], returned: object) -> ReturnParameters:
    """What a handler of ``command_class`` returned, checked against the codec's layout."""
    expected = command_class.RETURN
    if returned is None and expected is StatusReturn:
        return StatusReturn(Status.SUCCESS)
    if expected is None or not isinstance(returned, expected):
        raise TypeError(f"handler of {command_class.NAME} returned {returned!r}")
    return returned


def receives(*frame_types: type[Frame]) -> Callable[[F], F]:
    """Mark a feature method as the receiver of these frame classes: ``(frame, link)``."""

    def mark(method: F) -> F:
        _MARKED_RECEIVERS[method] = frame_types
        return method

    return mark


class Feature:
    """One part of a controller (LE advertising, BR/EDR inquiry...) with its own state.

    Instantiated once per controller with the controller as argument; features reach each
    other through :meth:`VirtualController.feature`.
    """

    def __init__(self, controller: VirtualController) -> None:
        self.controller = controller

    def reset(self) -> None:
        """Return to the power-on state (HCI_Reset, Vol 4 Part E 7.3.2)."""

    def on_connection_closed(self, connection: Connection, reason: int) -> None:
        """A connection of any kind is gone (after Disconnection Complete was sent)."""

    def le_activity(self) -> bool:
        """Whether this feature is advertising, scanning or initiating on LE."""
        return False

    def radio_busy(self) -> bool:
        """Whether this feature is advertising, scanning, initiating, inquiring or paging."""
        return self.le_activity()

    def on_rpa_timeout(self) -> None:
        """The resolvable private addresses generated so far expired (Vol 4 Part E 7.8.45):
        take new ones for whatever is transmitting with one."""


COMMAND_TABLE: dict[int, HandlerEntry] = {}
# Every receiver of a frame class gets it, in registration order (advertisements go to the
# scanner and the initiator alike).
FRAME_TABLE: dict[type[Frame], list[tuple[type[Feature], str]]] = {}
FEATURES: list[type[Feature]] = []

FeatureT = TypeVar("FeatureT", bound=type[Feature])


def register_feature(cls: FeatureT) -> FeatureT:
    """Add a feature class to every controller created from now on."""
    if cls in FEATURES:
        return cls
    found: list[tuple[int, HandlerEntry]] = []
    for attribute in dir(cls):
        member = getattr(cls, attribute)
        spec = _MARKED_COMMANDS.get(member) if callable(member) else None
        if isinstance(spec, CommandSpec):
            owner = COMMAND_TABLE.get(spec.opcode)
            if owner is not None:
                raise ValueError(
                    f"{spec.command_class.NAME} is already handled by "
                    f"{owner.feature.__name__}.{owner.method}"
                )
            found.append((spec.opcode, HandlerEntry(spec, cls, attribute)))
        for frame_type in _MARKED_RECEIVERS.get(member, ()) if callable(member) else ():
            FRAME_TABLE.setdefault(frame_type, []).append((cls, attribute))
    COMMAND_TABLE.update(found)
    FEATURES.append(cls)
    return cls
