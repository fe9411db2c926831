"""Our own resolvable private address (Core 5.4 Vol 6 Part B 1.3.2.2, Vol 3 Part C 10.7).

The address is ``prand || ah(IRK, prand)`` from our IRK, regenerated every ``rotation``
seconds (T_GAP(private_addr_int), Vol 3 Part C Appendix A, 15 minutes recommended). The
controller may not take a new random address while advertising, scanning or initiating
(Vol 4 Part E 7.8.4), so a rotation that falls due then is deferred until the LE module says
the radio is idle. Resolving peers' RPAs is :meth:`DeviceRecords.resolve`.
"""

from __future__ import annotations

from collections.abc import Callable

from bluetrio import crypto
from bluetrio.actors.btm.timer_owners import RpaRotationTimer
from bluetrio.actors.effects import Effects, StartTimer, TimerKey
from bluetrio.address import Address, AddressType
from bluetrio.messages import hci

ROTATION_TIMER = TimerKey(RpaRotationTimer(), "rotate")

CommandSender = Callable[[hci.HciCommand], Effects]


def rpa_address(irk: bytes) -> Address:
    """A fresh RPA as an Address (crypto gives MSB-first bytes; the wire is LSB-first)."""
    return Address(bytes(reversed(crypto.generate_rpa(irk))), AddressType.RANDOM)


class LocalPrivacy:
    """Generates and rotates our RPA; ``send_command`` issues LE_Set_Random_Address."""

    def __init__(self, irk: bytes, rotation: float, send_command: CommandSender) -> None:
        self.irk = irk
        self.rotation = rotation
        self._send_command = send_command
        self.address: Address | None = None  # the RPA the controller currently holds
        self.pending: Address | None = None  # generated, waiting for an idle radio
        self.rotations = 0

    def start(self, now: float, radio_idle: bool) -> Effects:
        return self.rotate(now, radio_idle)

    def rotate(self, now: float, radio_idle: bool) -> Effects:
        self.pending = rpa_address(self.irk)
        effects: Effects = [StartTimer(ROTATION_TIMER, now + self.rotation)]
        if radio_idle:
            effects += self.apply_pending()
        return effects

    def apply_pending(self) -> Effects:
        """Set the pending address now (the caller checked the radio is idle)."""
        if self.pending is None:
            return []
        self.address, self.pending = self.pending, None
        self.rotations += 1
        return self._send_command(hci.LeSetRandomAddress(self.address))
