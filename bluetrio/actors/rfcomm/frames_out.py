"""What the RFCOMM core sends: frames handed to L2CAP on a multiplexer's channel, with the
C/R bit set as TS 07.10 5.2.1.2 gives it (commands carry 1 from the multiplexer's initiator,
responses 1 from its responder)."""

from __future__ import annotations

from bluetrio.actors.effects import Emit
from bluetrio.actors.rfcomm.control_blocks import Mcb
from bluetrio.messages.l2cap_service import L2caDataReq
from bluetrio.messages.rfcomm import CommandType, FrameType, MultiplexerCommand, encode_frame

CONTROL = -1  # the tag of an SDU that carries no application data


def transmit(mcb: Mcb, sdu: bytes, tag: int = CONTROL) -> Emit:
    """Hand ``sdu`` to L2CAP, remembered as ``tag`` (the DLCI of application data) until
    L2CAP confirms it."""
    mcb.in_flight.append(tag)
    return Emit(L2caDataReq(mcb.handle, mcb.cid, sdu))


def command(mcb: Mcb, frame_type: FrameType, dlci: int) -> Emit:
    """SABM or DISC, with the poll bit (TS 07.10 5.4.1)."""
    return transmit(mcb, encode_frame(frame_type, dlci, mcb.initiator, True))


def response(mcb: Mcb, frame_type: FrameType, dlci: int, final: bool = True) -> Emit:
    """UA or DM; ``final`` when it answers a command sent with the poll bit."""
    return transmit(mcb, encode_frame(frame_type, dlci, not mcb.initiator, final))


def multiplexer_message(mcb: Mcb, kind: CommandType, is_command: bool, value: bytes) -> Emit:
    """A multiplexer command or response in a UIH frame on DLCI 0."""
    message = MultiplexerCommand(kind, is_command, value)
    return transmit(mcb, encode_frame(FrameType.UIH, 0, mcb.initiator, False, message.encode()))


def raw_multiplexer_message(mcb: Mcb, message: MultiplexerCommand) -> Emit:
    return transmit(mcb, encode_frame(FrameType.UIH, 0, mcb.initiator, False, message.encode()))
