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
from bluetrio.messages.btm_security import LinkSecurityCnf, LinkSecurityReq
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap_service import (
    ChannelParameters,
    L2caConfigInd,
    L2caConnectCnf,
    L2caConnectInd,
    L2caConnectReq,
    L2caConnectRsp,
    L2caDataCnf,
    L2caDataInd,
    L2caDataReq,
    L2caDisconnectInd,
    L2caDisconnectReq,
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


class ScriptedRandom(random.Random):
    """A random source whose ``uniform`` returns the values given, in order (then the last
    again), so a test chooses each collision back-off."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self._values = list(values)

    def uniform(self, a: float, b: float) -> float:
        value = self._values.pop(0) if len(self._values) > 1 else self._values[0]
        assert a <= value <= b, f"a scripted back-off of {value} is outside {a}..{b}"
        return value


@attrs.define
class _Side:
    name: str
    core: RfcommCore
    timers: dict[TimerKey, float] = attrs.Factory(dict)
    to_app: list[Message] = attrs.Factory(list)
    next_cid: int = 0x0040


@attrs.define(order=True)
class _Delivery:
    at: float
    sequence: int
    side: str = attrs.field(order=False)
    message: Message = attrs.field(order=False)
    sender: str = attrs.field(order=False)


class LinkedCores:
    """Two RFCOMM cores on one link, each with its own clock-driven timers, joined by a
    stand-in L2CAP that carries every request to the other side after ``latency`` seconds
    (connection, configuration, SDUs, disconnection), so what is in flight when a timer fires
    is exactly what a real link would have in flight. Each side takes every DLC offered to
    its application; btm grants every security check."""

    def __init__(
        self,
        backoffs: tuple[list[float], list[float]] = ([7.0], [7.0]),
        latency: float = 0.01,
    ) -> None:
        self.sides = {
            "a": _Side("a", RfcommCore(ScriptedRandom(backoffs[0]))),
            "b": _Side("b", RfcommCore(ScriptedRandom(backoffs[1])), next_cid=0x0080),
        }
        self.latency = latency
        self.now = 0.0
        self._queue: list[_Delivery] = []
        self._sequence = 0
        self._channels: dict[tuple[str, int], tuple[str, int]] = {}  # (side, cid) -> peer's
        self._connecting: dict[tuple[str, int], tuple[str, int, int]] = {}  # -> (side, token, cid)

    def other(self, side: str) -> str:
        return "b" if side == "a" else "a"

    def deliver(self, side: str, message: Message, sender: str = APP) -> None:
        self._apply(side, self.sides[side].core.handle(sender, message, self.now))

    def _later(self, side: str, message: Message, sender: str = "l2cap") -> None:
        self._sequence += 1
        self._queue.append(
            _Delivery(self.now + self.latency, self._sequence, side, message, sender)
        )

    def _apply(self, name: str, effects: Effects) -> None:
        side = self.sides[name]
        for effect in effects:
            match effect:
                case Emit(message=message) | Send(message=message) if message is not None:
                    self._carry(name, message)
                case StartTimer(key=key, deadline=deadline):
                    side.timers[key] = deadline
                case CancelTimer(key=key):
                    side.timers.pop(key, None)
                case ReleaseTimers(owner=owner):
                    for key in [k for k in side.timers if k.owner == owner]:
                        del side.timers[key]

    def _carry(self, name: str, message: Message) -> None:
        """What one side's core sends: to the stand-in L2CAP, btm, or its application."""
        side, peer = self.sides[name], self.other(name)
        match message:
            case L2caConnectReq(token=token, handle=handle):
                cid, side.next_cid = side.next_cid, side.next_cid + 1
                peer_side = self.sides[peer]
                remote_cid, peer_side.next_cid = peer_side.next_cid, peer_side.next_cid + 1
                self._connecting[peer, remote_cid] = (name, token, cid)
                self._later(peer, L2caConnectInd(handle, remote_cid, PSM, LinkTransport.BR_EDR))
            case L2caConnectRsp(handle=handle, cid=cid, result=result):
                opener, token, opener_cid = self._connecting.pop((name, cid))
                if result:
                    self._later(opener, L2caConnectCnf(token, handle, result=result))
                    return
                self._channels[name, cid] = (opener, opener_cid)
                self._channels[opener, opener_cid] = (name, cid)
                parameters = ChannelParameters(1691, 1691)
                self._later(opener, L2caConnectCnf(token, handle, opener_cid, 0, parameters))
                self._later(name, L2caConfigInd(handle, cid, PSM, parameters))
            case L2caDataReq(handle=handle, cid=cid, sdu=sdu):
                self._later(name, L2caDataCnf(handle, cid, 1))
                if (name, cid) in self._channels:
                    remote, remote_cid = self._channels[name, cid]
                    self._later(remote, L2caDataInd(handle, remote_cid, sdu))
            case L2caDisconnectReq(handle=handle, cid=cid):
                if (name, cid) in self._channels:
                    remote, remote_cid = self._channels.pop((name, cid))
                    del self._channels[remote, remote_cid]
                    self._later(remote, L2caDisconnectInd(handle, remote_cid, "closed by the peer"))
            case LinkSecurityReq(token=token, handle=handle):
                self._later(name, LinkSecurityCnf(token, handle, 0), sender="btm")
            case RfcommConnectInd(handle=handle, dlci=dlci):
                side.to_app.append(message)
                self.deliver(name, RfcommConnectRsp(handle, dlci, True))
            case _:
                side.to_app.append(message)

    def run(self, until: float) -> None:
        """Deliver what is in flight and fire the timers that expire, in time order (a
        timer before a delivery due at the same instant), up to ``until``."""
        while True:
            due: list[tuple[float, int, str, TimerKey | None]] = []
            for name, side in self.sides.items():
                for timer, deadline in side.timers.items():
                    if deadline <= until:
                        due.append((deadline, 0, name, timer))
            if self._queue:
                first = min(self._queue)
                if first.at <= until:
                    due.append((first.at, 1, first.side, None))
            if not due:
                break
            at, _, name, key = min(due, key=lambda item: (item[0], item[1]))
            self.now = max(self.now, at)
            if key is not None:
                del self.sides[name].timers[key]
                self.deliver(name, TimerExpired(key), sender="rfcomm")
            else:
                delivery = min(self._queue)
                self._queue.remove(delivery)
                self.deliver(delivery.side, delivery.message, delivery.sender)
        self.now = max(self.now, until)

    def taken(self, side: str, kind: type[M]) -> list[M]:
        found = [m for m in self.sides[side].to_app if isinstance(m, kind)]
        self.sides[side].to_app = [m for m in self.sides[side].to_app if not isinstance(m, kind)]
        return found

    def mcb(self, side: str) -> Mcb | None:
        return self.sides[side].core.muxes.get(HANDLE)


__all__ = [
    "APP",
    "CID",
    "HANDLE",
    "CommandType",
    "Driver",
    "LinkedCores",
    "ScriptedRandom",
    "raw_uih",
    "uih",
]
