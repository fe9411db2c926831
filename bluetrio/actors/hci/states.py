"""The command flow of HCI as a table (Core 5.4 Vol 4 Part E 4.4, 7.7.14, 7.7.15).

The host may send a command only while the controller grants a command credit
(Num_HCI_Command_Packets); each command then waits for its Command_Complete or
Command_Status. Every command asked for has a deadline counted from the request, so one that
never got a credit times out as surely as one the controller never answered.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class CommandState(enum.Enum):
    QUEUED = "queued"  # asked for; waits for a command credit (4.4)
    SENT = "sent"  # written; waits for Command_Complete (7.7.14) or Command_Status (7.7.15)
    ANSWERED = "answered"  # the controller answered; the requester has its confirmation
    TIMED_OUT = "timed out"  # no credit, or no answer, within the command's timeout


class CommandEvent(enum.Enum):
    CREDIT_TAKEN = "a command credit let it be written to the transport"
    ANSWERED = "Command_Complete or Command_Status with its opcode"
    DEADLINE_PASSED = "its timeout expired"


_C = CommandState
_E = CommandEvent

COMMAND_TRANSITIONS: Mapping[tuple[CommandState, CommandEvent], CommandState] = {
    (_C.QUEUED, _E.CREDIT_TAKEN): _C.SENT,
    (_C.QUEUED, _E.DEADLINE_PASSED): _C.TIMED_OUT,
    (_C.SENT, _E.ANSWERED): _C.ANSWERED,
    (_C.SENT, _E.DEADLINE_PASSED): _C.TIMED_OUT,
}
