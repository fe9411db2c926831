"""What the layers above registered: PSMs they accept channels on, with the security each
needs (Vol 3 Part C 5.2.2.5), and the fixed channels they receive."""

from __future__ import annotations

import attrs

from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap import ChannelMode, FixedCid
from bluetrio.messages.l2cap_service import ModePolicy

# Fixed channels an upper layer may register, and the transports they exist on
# (Vol 3 Part A 2.1, tables 2.1 and 2.3). The signaling channels are L2CAP's own; the
# connectionless channel (0x0002) is received and dropped.
REGISTRABLE_FIXED_CHANNELS: dict[int, frozenset[LinkTransport]] = {
    FixedCid.ATT: frozenset({LinkTransport.LE}),
    FixedCid.SMP: frozenset({LinkTransport.LE}),
    FixedCid.SMP_BR_EDR: frozenset({LinkTransport.BR_EDR}),
}


@attrs.frozen
class PsmRegistration:
    owner: str
    psm: int
    transport: LinkTransport
    security: SecurityRequirement | None
    mtu: int
    mode: ChannelMode
    mode_policy: ModePolicy


@attrs.define
class Registry:
    psms: dict[tuple[LinkTransport, int], PsmRegistration] = attrs.Factory(dict)
    fixed: dict[int, str] = attrs.Factory(dict)  # CID -> owner

    def fixed_channels_on(self, transport: LinkTransport) -> list[tuple[int, str]]:
        return [
            (cid, owner)
            for cid, owner in self.fixed.items()
            if transport in REGISTRABLE_FIXED_CHANNELS.get(cid, frozenset())
        ]

    def fixed_channel_mask(self) -> int:
        """The Fixed Channels Supported mask of an Information Response on BR/EDR (Vol 3
        Part A 4.12): the signaling channel and the BR/EDR fixed channels registered."""
        mask = 1 << FixedCid.SIGNALING
        for cid, _ in self.fixed_channels_on(LinkTransport.BR_EDR):
            mask |= 1 << cid
        return mask
