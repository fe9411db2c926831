"""One RFCOMM core driven synchronously, its L2CAP and its peer played by the test: what the
core sends to L2CAP is decoded into frames, what the peer sends is built from frames, timers
are kept and fired on demand (no trio, no controller)."""

from __future__ import annotations

import random
from typing import TypeVar

import attrs

from bluetrio.actors.effects import (
    CancelTimer,
    Effects,
    Emit,
    ReleaseTimers,
    Send,
    StartTimer,
    TimerExpired,
    TimerKey,
)
from bluetrio.actors.rfcomm.control_blocks import Mcb
from bluetrio.actors.rfcomm.core import RfcommCore
from bluetrio.messages.base import Message
from bluetrio.messages.btm_security import LinkSecurityReq
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap_service import (
    ChannelParameters,
    L2caConfigInd,
    L2caConnectCnf,
    L2caConnectInd,
    L2caConnectReq,
    L2caDataCnf,
    L2caDataInd,
    L2caDataReq,
)
from bluetrio.messages.rfcomm import (
    PSM,
    CommandType,
    Frame,
    FrameType,
    MultiplexerCommand,
    decode_commands,
    decode_frame,
    encode_frame,
)
from bluetrio.messages.rfcomm_service import RfcommConnectInd, RfcommConnectRsp

M = TypeVar("M", bound=Message)

HANDLE = 0x0001
CID = 0x0040
APP = "app"


@attrs.define
class Driver:
    """``core`` is the device under test; the peer is whatever the test sends."""

    core: RfcommCore = attrs.Factory(lambda: RfcommCore(random.Random(7)))
    now: float = 0.0
    timers: dict[TimerKey, float] = attrs.Factory(dict)
    to_app: list[Message] = attrs.Factory(list)
    emitted: list[Message] = attrs.Factory(list)  # everything but L2caDataReq
    sent: list[bytes] = attrs.Factory(list)  # SDUs handed to L2CAP, not yet taken by the test
    # Whether the application takes every DLC a peer opens (as a listener with room does);
    # otherwise the test answers each RfcommConnectInd itself.
    auto_accept: bool = True

    def deliver(self, message: Message, sender: str = APP) -> None:
        self._apply(self.core.handle(sender, message, self.now))

    def _apply(self, effects: Effects) -> None:
        answers: list[Message] = []
        for effect in effects:
            match effect:
                case Send(message=RfcommConnectInd() as indication) if self.auto_accept:
                    self.to_app.append(indication)
                    answers.append(RfcommConnectRsp(indication.handle, indication.dlci, True))
                case Emit(message=L2caDataReq() as request):
                    self.sent.append(request.sdu)
                case Emit(message=message):
                    self.emitted.append(message)
                case Send(message=message):
                    self.to_app.append(message)
                case StartTimer(key=key, deadline=deadline):
                    self.timers[key] = deadline
                case CancelTimer(key=key):
                    self.timers.pop(key, None)
                case ReleaseTimers(owner=owner):
                    for key in [k for k in self.timers if k.owner == owner]:
                        del self.timers[key]
        for answer in answers:
            self.deliver(answer)

    def advance(self, seconds: float) -> None:
        """Let time pass, firing the timers that expire on the way, in order."""
        end = self.now + seconds
        while True:
            due = [(d, k) for k, d in self.timers.items() if d <= end]
            if not due:
                break
            # Equal deadlines fire in the order the timers were started (min keeps the first);
            # two DLCs' timers of one name and deadline have keys that do not order.
            deadline, key = min(due, key=lambda item: item[0])
            del self.timers[key]
            self.now = deadline
            self.deliver(TimerExpired(key), sender="rfcomm")
        self.now = end

    # -- the peer --------------------------------------------------------------------------
    def peer_sends(self, frame: Frame) -> None:
        self.deliver(L2caDataInd(HANDLE, CID, frame.encode()), sender="l2cap")

    def peer_raw(self, sdu: bytes) -> None:
        self.deliver(L2caDataInd(HANDLE, CID, sdu), sender="l2cap")

    def peer_command(self, kind: int, value: bytes = b"", *, command: bool = True) -> None:
        message = MultiplexerCommand(kind, command, value).encode()
        self.peer_sends(Frame(FrameType.UIH, 0, not self.initiator, information=message))

    def frames(self, *, credit_based: bool = True) -> list[Frame]:
        """The frames sent since the last call."""
        sent, self.sent = self.sent, []
        return [decode_frame(sdu, credit_based=credit_based) for sdu in sent]

    def commands(self) -> list[MultiplexerCommand]:
        """The multiplexer commands among the frames sent since the last call."""
        found = []
        for frame in self.frames():
            if frame.dlci == 0 and frame.type is FrameType.UIH:
                found += decode_commands(frame.information)
        return found

    def l2cap_confirms(self) -> None:
        """L2CAP says every SDU handed to it left the controller."""
        mcb = self.mcb
        if mcb is not None and mcb.in_flight:
            self.deliver(L2caDataCnf(HANDLE, CID, len(mcb.in_flight)), sender="l2cap")

    @property
    def mcb(self) -> Mcb | None:
        return self.core.muxes.get(HANDLE)

    @property
    def initiator(self) -> bool:
        mcb = self.mcb
        return bool(mcb and mcb.initiator)

    def taken(self, kind: type[M]) -> list[M]:
        """The messages of ``kind`` sent to the application (removed from the list)."""
        found = [m for m in self.to_app if isinstance(m, kind)]  # in order
        self.to_app = [m for m in self.to_app if not isinstance(m, kind)]
        return found

    def last_emitted(self, kind: type[M]) -> M:
        return next(m for m in reversed(self.emitted) if isinstance(m, kind))

    # -- getting somewhere ---------------------------------------------------------------------
    def open_as_initiator(self) -> None:
        """A DLC request opens the multiplexer: L2CAP connects, the peer answers SABM."""
        from bluetrio.messages.rfcomm_service import RfcommConnectReq

        self.deliver(RfcommConnectReq(1, HANDLE, 3, 1000))
        request = self.last_emitted(L2caConnectReq)
        assert request.psm == PSM
        self.deliver(
            L2caConnectCnf(request.token, HANDLE, CID, 0, ChannelParameters(1691, 1691)),
            sender="l2cap",
        )
        (sabm,) = self.frames()
        assert (sabm.type, sabm.dlci) == (FrameType.SABM, 0)
        self.peer_sends(Frame(FrameType.UA, 0, True, True))

    def open_as_responder(self) -> None:
        """The peer opens RFCOMM's L2CAP channel and the multiplexer."""
        self.deliver(L2caConnectInd(HANDLE, CID, PSM, LinkTransport.BR_EDR), sender="l2cap")
        self.deliver(L2caConfigInd(HANDLE, CID, PSM, ChannelParameters(1691, 1691)), sender="l2cap")
        self.peer_sends(Frame(FrameType.SABM, 0, True, True))
        (ua,) = self.frames()
        assert (ua.type, ua.dlci) == (FrameType.UA, 0)

    def security_request(self) -> LinkSecurityReq:
        return self.last_emitted(LinkSecurityReq)


def uih(dlci: int, data: bytes = b"", credits: int | None = None, *, command: bool = True) -> Frame:
    return Frame(FrameType.UIH, dlci, command, credits is not None, data, credits)


def raw_uih(dlci: int, data: bytes) -> bytes:
    return encode_frame(FrameType.UIH, dlci, True, False, data)


__all__ = ["APP", "CID", "HANDLE", "CommandType", "Driver", "raw_uih", "uih"]
