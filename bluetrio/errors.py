"""Typed exceptions raised by bluetrio.

Every error a user can see derives from :class:`BluetrioError`. Errors that carry a status or
reason code from the specification expose it as an attribute so callers can branch on it.
"""

from __future__ import annotations


class BluetrioError(Exception):
    """Base class of every bluetrio error."""


class InvalidArgumentError(BluetrioError, ValueError):
    """A value passed by the user is out of range or malformed."""


class TransportSpecError(InvalidArgumentError):
    """A transport specification string could not be parsed."""


class TransportError(BluetrioError):
    """The transport to the controller failed (closed, unplugged, I/O error)."""


class DecodeError(BluetrioError):
    """A packet received from a peer or controller is malformed (truncated, oversized...)."""


class FcsError(DecodeError):
    """An L2CAP frame's Frame Check Sequence does not match it: corrupted on the way
    (Core 5.4 Vol 3 Part A 3.3.5)."""


class SmpDecodeError(DecodeError):
    """A received SMP PDU is malformed; ``reason`` is the Pairing Failed reason code that
    answers it (Core 5.4 Vol 3 Part H 3.5.5: Command Not Supported or Invalid Parameters)."""

    def __init__(self, message: str, reason: int) -> None:
        super().__init__(message)
        self.reason = reason


class AttDecodeError(DecodeError):
    """A received ATT PDU is malformed or unknown (Core 5.4 Vol 3 Part F 3.4).

    ``error_code`` is the ATT error a server answers it with (Invalid PDU, or Request Not
    Supported for an opcode ATT does not define, 3.4.9); ``opcode`` is the PDU's opcode when
    it had one (a server ignores an unknown command, 3.3.1, and names the opcode in its Error
    Response); ``handle`` is the request's first handle when it could be read, else 0.
    """

    def __init__(
        self, message: str, error_code: int, opcode: int | None = None, handle: int = 0
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.opcode = opcode
        self.handle = handle


class AttError(BluetrioError):
    """An ATT operation on a link ended without its response (Core 5.4 Vol 3 Part F 3.3)."""


class AttTransactionTimeout(AttError):
    """The ATT transaction timed out (30 s, Vol 3 Part F 3.3.3), now or earlier on this
    bearer, which then carries nothing more until the link goes."""


class LinkLost(AttError):
    """The link went before the ATT operation ended."""


class HciError(BluetrioError):
    """The controller answered a command with a non-zero status (Core 5.4 Vol 1 Part F).

    The one place a status reaches the user's eyes: ``message`` says what failed and never
    the code, which is named here, e.g. "connecting to ...: page failed: Page Timeout (0x04)".
    """

    def __init__(self, status: int, message: str) -> None:
        # Imported here: the codec package imports this module.
        from bluetrio.messages.hci.status import describe_status

        super().__init__(f"{message}: {describe_status(status)}")
        self.status = status


class HciTimeout(BluetrioError):
    """The controller did not answer a command in time."""


class ControllerError(BluetrioError):
    """The controller reported a hardware error or was reset underneath the stack."""


class UnsupportedFeatureError(BluetrioError):
    """The controller lacks what the call needs (e.g. extended advertising on a controller
    that takes only the legacy LE commands, Core 5.4 Vol 4 Part E 3.1.1)."""


class StackError(BluetrioError):
    """The stack stopped because of an error that belongs to no single connection.

    ``flight_recorder`` holds the last inter-actor messages (one line each) that led to it.
    """

    def __init__(self, message: str, flight_recorder: tuple[str, ...] = ()) -> None:
        text = message
        if flight_recorder:
            text += "\nlast messages (oldest first):\n  " + "\n  ".join(flight_recorder)
        super().__init__(text)
        self.reason = message
        self.flight_recorder = flight_recorder


class TopologyError(BluetrioError):
    """The stack's layers do not fit together (two owners of one event, a message type
    nobody handles...): raised when the stack starts, before any layer runs."""


class ConnectionClosedError(BluetrioError):
    """The connection or channel was closed; ``reason`` tells why."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason if code is None else f"{reason} (code 0x{code:02X})")
        self.reason = reason
        self.code = code


class ConnectionFailedError(HciError):
    """A connection could not be established; ``status`` is the HCI status (Vol 1 Part F)."""


class ConnectionTimeoutError(ConnectionFailedError):
    """No connection was established within the requested time; the attempt was cancelled."""


class ControllerNotReadyError(ControllerError):
    """Bring-up failed, so the controller cannot be used."""


class ProtocolError(BluetrioError):
    """A protocol rule was broken: an input or a move its state does not allow."""


class StateTransitionError(ProtocolError):
    """A protocol state machine (a layer's ``states.py``) refused an event.

    ``state`` and ``event`` are the enum members that the transition table has no entry for.
    """

    def __init__(self, state: object, event: object) -> None:
        super().__init__(f"{event!s} is not allowed in {state!s}")
        self.state = state
        self.event = event


class PairingError(HciError):
    """Pairing, authentication or encryption of a link failed; ``status`` is the HCI code."""


class KeyStoreError(BluetrioError):
    """The bond store cannot be read or written, or refused a bond."""


class WeakerKeyError(KeyStoreError):
    """A new bond is weaker than the stored one it would replace (CVE-2020-15802)."""


class InvalidPublicKeyError(BluetrioError):
    """A peer's public key is not a valid point of the curve (Core 5.4 Vol 3 Part H 2.3.5.6.1)."""


class ReflectedPublicKeyError(InvalidPublicKeyError):
    """A peer sent back our own public key, which is an attack on the key exchange."""


class TraceFileError(InvalidArgumentError):
    """A trace file could not be read; the message names the file and, if known, the line."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        where = source if line is None else f"{source}, line {line}"
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


class L2capError(BluetrioError):
    """An L2CAP channel could not be opened or used."""


class L2capConnectionRefused(L2capError):
    """A channel was refused: by the peer, with the Connection Response ``result`` of Core 5.4
    Vol 3 Part A 4.3 (0x0002 PSM not supported, 0x0003 security block, 0x0004 no resources...),
    or locally (``result`` 0xFFFF) with ``reason`` saying why."""

    def __init__(self, result: int, reason: str) -> None:
        super().__init__(f"{reason} (result 0x{result:04X})")
        self.result = result
        self.reason = reason


class RfcommError(BluetrioError):
    """An RFCOMM DLC could not be opened or a server channel not registered: ``reason`` says
    why (the peer's DM, no answer within T1 or T2, the multiplexer's L2CAP channel refused,
    a server channel taken...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectionParametersRejected(L2capError):
    """The central did not take the connection parameters a peripheral asked for: it
    rejected them (``result`` 0x0001 of the Connection Parameter Update Response, Core 5.4
    Vol 3 Part A 4.21), or the request failed locally (``result`` 0xFFFF: no response within
    the signaling timers, the link went down) with ``reason`` saying why."""

    def __init__(self, result: int, reason: str) -> None:
        super().__init__(f"{reason} (result 0x{result:04X})")
        self.result = result
        self.reason = reason


class FixedChannelUnavailable(L2capError):
    """Fixed channel ``cid`` cannot be used by the application on this link: it is not one an
    upper layer may register on the link's transport (Core 5.4 Vol 3 Part A 2.1, tables 2.1
    and 2.3), another layer holds it, or it is already open on the link."""

    def __init__(self, cid: int, reason: str) -> None:
        super().__init__(reason)
        self.cid = cid
        self.reason = reason


class SdpError(BluetrioError):
    """An SDP query failed: the channel could not be opened or closed under it, or the
    server's response was malformed or went past the client's bounds."""


class SdpErrorResponse(SdpError):
    """The SDP server answered with an error response; ``error_code`` is its ErrorCode
    (Core 5.4 Vol 3 Part B 4.4.1: 0x0002 invalid service record handle, 0x0003 invalid
    request syntax, 0x0004 invalid PDU size, 0x0005 invalid continuation state, 0x0006
    insufficient resources)."""

    def __init__(self, error_code: int, reason: str) -> None:
        super().__init__(reason)
        self.error_code = error_code


class SdpTimeout(SdpError):
    """The SDP server did not answer in time."""


class ServiceNotFound(SdpError):
    """The peer's SDP server has no record of the service asked for (or none that says how
    to reach it, such as an RFCOMM channel)."""


class GattApplicationError(BluetrioError):
    """Raised by a GATT server's callback (``on_read``, ``on_write``) to answer the peer with
    the ATT error ``code``: an Application Error 0x80-0x9F, a common profile error 0xE0-0xFF
    (Core Specification Supplement Part B 1.2) or an ATT error of Core 5.4 Vol 3 Part F
    table 3.4 (e.g. 0x0D Invalid Attribute Value Length). Any other exception from a callback
    is answered with Unlikely Error (0x0E)."""

    def __init__(self, code: int, reason: str = "") -> None:
        # Imported here: the codec imports this module.
        from bluetrio.messages.att import is_defined_error

        if isinstance(code, bool) or not isinstance(code, int) or not is_defined_error(code):
            raise InvalidArgumentError(
                "an ATT error code is 0x01-0x13, 0x80-0x9F or 0xE0-0xFF (Core 5.4 Vol 3 "
                f"Part F table 3.4; the others are reserved), got {code!r}"
            )
        super().__init__(
            f"{reason} (ATT error 0x{code:02X})" if reason else f"ATT error 0x{code:02X}"
        )
        self.code = code
        self.reason = reason


class GattError(BluetrioError):
    """A GATT client operation failed (Core 5.4 Vol 3 Part G 4)."""


class GattAttributeError(GattError):
    """The server answered the operation with an Error Response (Vol 3 Part F 3.4.1.1):
    ``error_code`` (table 3.4, an application error 0x80-0x9F, or a common profile error
    0xFC-0xFF) and ``handle``, the attribute handle in error."""

    def __init__(self, error_code: int, handle: int, operation: str = "") -> None:
        # Imported here: the codec package imports this module.
        from bluetrio.messages.att import AttErrorCode

        try:
            name = AttErrorCode(error_code).name.replace("_", " ").title()
        except ValueError:
            name = "Application Error" if 0x80 <= error_code <= 0x9F else "Error"
        text = f"{name} (0x{error_code:02X}) on handle 0x{handle:04X}"
        super().__init__(f"{operation}: {text}" if operation else text)
        self.error_code = error_code
        self.handle = handle
        self.operation = operation


class GattProtocolError(GattError, ProtocolError):
    """The server's answer broke the rules of the operation (Vol 3 Part G 4): another PDU
    than the request's response, handles outside the range asked for or going backwards,
    entries of sizes the procedure does not define, a value longer than allowed. The
    operation ends with this error; nothing else of the answer is used."""
