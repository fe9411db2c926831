"""Two SMP cores joined by an LE link in memory, driven synchronously (no trio, no
controller), with a stand-in for btm's side of the interface.

    pair = SmpCorePair(central_config, peripheral_config)
    pair.open_link()
    pair.pair()                              # btm's SmpPairReq to the central
    assert pair.result("a").status == 0

Each core's ``L2caFixedDataReq`` on 0x0006 becomes the other's ``L2caFixedDataInd`` (unless
``drop`` or ``tamper`` say otherwise), and L2CAP's ``L2caFixedDataCnf`` to the sender. The
stand-in btm encrypts as a controller would: the central's ``LeEncryptReq`` succeeds only
when the peripheral gave the same key with ``LeResponderKeyReq`` (otherwise "PIN or Key
Missing", 0x06), and both sides hear ``LeEncryptionChangedInd``. Prompts are answered by
``answer[side]`` (None leaves them open); a Security Request's ``SmpPairingInd`` is answered
with an ``SmpPairReq`` holding ``bonds[side]``. Timers are kept per side and fired on demand.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

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
from bluetrio.actors.smp.config import SmpConfig
from bluetrio.actors.smp.core import SmpCore
from bluetrio.address import Address, AddressType
from bluetrio.bonds import Bond, LongTermKey
from bluetrio.messages.base import Message
from bluetrio.messages.btm import AclLink, ControllerReadyInd, LinkDownInd, LinkUpInd, Role
from bluetrio.messages.btm_security import (
    LeEncryptCnf,
    LeEncryptionChangedInd,
    LeEncryptReq,
    LeResponderKeyReq,
)
from bluetrio.messages.controller_info import ControllerInfo
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap import FixedCid
from bluetrio.messages.l2cap_service import (
    L2caFixedDataCnf,
    L2caFixedDataInd,
    L2caFixedDataReq,
)
from bluetrio.messages.smp_service import (
    LeSecurityRequirement,
    SmpPairCnf,
    SmpPairingInd,
    SmpPairReq,
    SmpPromptReq,
    SmpPromptRsp,
)

HANDLE = 0x0040
BTM = "btm"
CENTRAL_ADDRESS = Address.parse("00:11:22:33:44:01")
PERIPHERAL_ADDRESS = Address.parse("C0:11:22:33:44:02", AddressType.RANDOM)

Answer = Callable[[SmpPromptReq], SmpPromptRsp | None]


def controller_ready(address: Address) -> ControllerReadyInd:
    """What btm says when bring-up ends; SMP reads only the address."""
    info = ControllerInfo(
        address, 0x0D, 0, 0x0D, 0, 0xFFFF, bytes(64), (0,), 0, 251, 8, 251, 8, None
    )
    return ControllerReadyInd(info)


def accept_all(prompt: SmpPromptReq) -> SmpPromptRsp | None:
    return SmpPromptRsp(prompt.handle, True)


@attrs.define
class SmpCorePair:
    """``a`` is the central, ``b`` the peripheral."""

    a_config: SmpConfig = attrs.Factory(SmpConfig)
    b_config: SmpConfig = attrs.Factory(SmpConfig)
    a_address: Address = CENTRAL_ADDRESS
    b_address: Address = PERIPHERAL_ADDRESS
    now: float = 0.0
    a: SmpCore = attrs.field(init=False)
    b: SmpCore = attrs.field(init=False)
    emitted: dict[str, list[Message]] = attrs.Factory(lambda: {"a": [], "b": []})
    answered: dict[str, list[Message]] = attrs.Factory(lambda: {"a": [], "b": []})
    timers: dict[str, dict[TimerKey, float]] = attrs.Factory(lambda: {"a": {}, "b": {}})
    wire: dict[str, list[bytes]] = attrs.Factory(lambda: {"a": [], "b": []})
    answer: dict[str, Answer | None] = attrs.Factory(lambda: {"a": accept_all, "b": accept_all})
    bonds: dict[str, Bond | None] = attrs.Factory(lambda: {"a": None, "b": None})
    prompts: dict[str, list[SmpPromptReq]] = attrs.Factory(lambda: {"a": [], "b": []})
    drop: Callable[[str, bytes], bool] = lambda side, pdu: False
    tamper: Callable[[str, bytes], bytes] = lambda side, pdu: pdu
    responder_key: LongTermKey | None = None
    refuse_encryption: bool = False  # the controller fails every encryption (Key Missing)
    confirm_sent: bool = True  # False: the controller never reports a PDU sent
    _queue: deque[tuple[str, str, Message]] = attrs.Factory(deque)
    _token: int = 100

    def __attrs_post_init__(self) -> None:
        self.a = SmpCore(self.a_config)
        self.b = SmpCore(self.b_config)
        self.deliver("a", controller_ready(self.a_address), sender=BTM)
        self.deliver("b", controller_ready(self.b_address), sender=BTM)

    def core(self, side: str) -> SmpCore:
        return self.a if side == "a" else self.b

    def open_link(self) -> None:
        self.deliver(
            "a", LinkUpInd(AclLink(HANDLE, LinkTransport.LE, self.b_address, Role.CENTRAL))
        )
        self.deliver(
            "b", LinkUpInd(AclLink(HANDLE, LinkTransport.LE, self.a_address, Role.PERIPHERAL))
        )

    def close_link(self) -> None:
        for side in ("a", "b"):
            self.deliver(side, LinkDownInd(HANDLE, 0x13))

    def pair(
        self,
        side: str = "a",
        requirement: LeSecurityRequirement | None = None,
        bond: Bond | None = None,
    ) -> int:
        """btm's SmpPairReq to one side; returns its token."""
        self._token += 1
        role = Role.CENTRAL if side == "a" else Role.PERIPHERAL
        peer = self.b_address if side == "a" else self.a_address
        self.deliver(
            side,
            SmpPairReq(
                self._token, HANDLE, peer, role, requirement or LeSecurityRequirement(), bond
            ),
        )
        return self._token

    def inject(self, side: str, payload: bytes) -> None:
        """A PDU arrives at ``side`` as if its peer had sent it."""
        self.deliver(side, L2caFixedDataInd(HANDLE, FixedCid.SMP, payload), sender="l2cap")

    def deliver(self, side: str, message: Message, sender: str = BTM) -> None:
        self._queue.append((side, sender, message))
        self.run()

    def fire(self, side: str, name: str | None = None) -> list[TimerKey]:
        keys = [k for k in self.timers[side] if name is None or k.name == name]
        for key in keys:
            deadline = self.timers[side].pop(key, None)
            if deadline is not None:
                self.now = max(self.now, deadline)
                self.deliver(side, TimerExpired(key), sender="smp")
        return keys

    def run(self) -> None:
        while self._queue:
            side, sender, message = self._queue.popleft()
            self._apply(side, self.core(side).handle(sender, message, self.now))

    def results(self, side: str) -> list[SmpPairCnf]:
        return [m for m in self.answered[side] + self.emitted[side] if isinstance(m, SmpPairCnf)]

    def result(self, side: str) -> SmpPairCnf:
        (result,) = self.results(side)
        return result

    def _apply(self, side: str, effects: Effects) -> None:
        other = "b" if side == "a" else "a"
        for effect in effects:
            match effect:
                case Emit(message=L2caFixedDataReq(payload=payload)):
                    self.wire[side].append(payload)
                    if not self.drop(side, payload):
                        self._queue.append(
                            (
                                other,
                                "l2cap",
                                L2caFixedDataInd(HANDLE, FixedCid.SMP, self.tamper(side, payload)),
                            )
                        )
                    # The controller took it (Number Of Completed Packets): L2CAP confirms.
                    if self.confirm_sent:
                        confirmed = L2caFixedDataCnf(HANDLE, FixedCid.SMP, 1)
                        self._queue.append((side, "l2cap", confirmed))
                case Emit(message=LeEncryptReq() as request):
                    self.emitted[side].append(request)
                    self._encrypt(side, request)
                case Emit(message=LeResponderKeyReq(ltk=ltk) as request):
                    self.emitted[side].append(request)
                    self.responder_key = ltk
                case Emit(message=SmpPromptReq() as prompt):
                    self.emitted[side].append(prompt)
                    self.prompts[side].append(prompt)
                    answer = self.answer[side]
                    reply = None if answer is None else answer(prompt)
                    if reply is not None:
                        self._queue.append((side, BTM, reply))
                case Emit(message=SmpPairingInd(security_request=True) as indication):
                    self.emitted[side].append(indication)
                    self._token += 1
                    self._queue.append(
                        (
                            side,
                            BTM,
                            SmpPairReq(
                                self._token,
                                HANDLE,
                                indication.peer,
                                Role.CENTRAL,
                                indication.requirement,
                                self.bonds[side],
                            ),
                        )
                    )
                case Emit(message=message):
                    self.emitted[side].append(message)
                case Send(message=message):
                    self.answered[side].append(message)
                case StartTimer(key=key, deadline=deadline):
                    self.timers[side][key] = deadline
                case CancelTimer(key=key):
                    self.timers[side].pop(key, None)
                case ReleaseTimers(owner=owner):
                    for key in [k for k in self.timers[side] if k.owner == owner]:
                        del self.timers[side][key]

    def _encrypt(self, side: str, request: LeEncryptReq) -> None:
        given = self.responder_key
        ok = not self.refuse_encryption and given is not None and given == request.ltk
        status = 0 if ok else 0x06
        size = request.ltk.key_size if ok else None
        self._queue.append((side, BTM, LeEncryptCnf(request.token, HANDLE, status, size)))
        for each in ("b", "a"):
            self._queue.append((each, BTM, LeEncryptionChangedInd(HANDLE, status, ok, size)))
