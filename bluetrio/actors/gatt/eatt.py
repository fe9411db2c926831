"""Enhanced ATT bearers (Core 5.4 Vol 3 Part F 3.2.11, Part G 5.3.2): ATT over L2CAP enhanced
credit-based channels to the fixed SPSM 0x0027 (Vol 3 Part A 4.25-4.28), several per link,
each with its own transactions, beside the unenhanced bearer on 0x0004.

EATT needs an encrypted link (Part G 5.3.2): the SPSM is registered with an encryption
requirement, and the central opens :attr:`GattConfig.eatt_bearers` channels in one Credit
Based Connection Request once the link is encrypted (as Zephyr's automatic EATT connection
does); a peer without EATT refuses the SPSM and the link keeps its unenhanced bearer alone.
The peripheral takes the channels a central opens. An enhanced bearer's ATT_MTU is the
smaller of both channels' MTUs (Part F 3.2.8; no Exchange MTU there, 3.4.2.1), raised when
the peer reconfigures its channel (Part A 4.27).

This module turns L2CAP's credit-based channel primitives into bearers and back; the core
runs each bearer's outputs.
"""

from __future__ import annotations

import itertools
import logging

import attrs

from bluetrio.actors.effects import Effects, Emit
from bluetrio.actors.gatt.bearer import AttBearer
from bluetrio.actors.gatt.config import GattConfig
from bluetrio.messages.att import EATT_PSM
from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.gatt_service import AttMtuInd
from bluetrio.messages.hci_service import LinkTransport
from bluetrio.messages.l2cap_credit_service import (
    CreditChannelParameters,
    CreditMode,
    L2caCreditConnectReq,
    L2caCreditRegisterReq,
    L2caReconfigureInd,
)
from bluetrio.messages.l2cap_service import L2caDisconnectReq

logger = logging.getLogger(__name__)

# What the link must have before an enhanced bearer opens (Vol 3 Part G 5.3.2: encrypted).
EATT_SECURITY = SecurityRequirement(authentication=True, encryption=True)
# Tokens of our own requests to L2CAP (distinct from the core's registration token, 1).
REGISTER_TOKEN = 2
_FIRST_CONNECT_TOKEN = 0x100


@attrs.define
class EattLink:
    """EATT's part of one link: whether the central asked for bearers yet."""

    handle: int
    asked: bool = False


class Eatt:
    """The enhanced bearers of every link (the bearers themselves live in the link's
    ``GattLink.bearers``, numbered by their channel's local CID)."""

    def __init__(self, config: GattConfig) -> None:
        self.config = config
        self.enabled = config.eatt_bearers > 0
        self.registered = False
        self._tokens = itertools.count(_FIRST_CONNECT_TOKEN)
        self.pending: dict[int, int] = {}  # token of a connect request -> link

    def register(self) -> Effects:
        """Take the peer's channels to SPSM 0x0027 on LE (at bring-up)."""
        if not self.enabled or self.registered:
            return []
        self.registered = True
        request = L2caCreditRegisterReq(
            REGISTER_TOKEN,
            EATT_PSM,
            LinkTransport.LE,
            security=EATT_SECURITY,
            mtu=self.config.receive_mtu,
        )
        return [Emit(request)]

    def open(self, link: EattLink) -> Effects:
        """The central's link is encrypted: ask for the bearers, once."""
        if not self.enabled or link.asked:
            return []
        link.asked = True
        token = next(self._tokens)
        self.pending[token] = link.handle
        request = L2caCreditConnectReq(
            token,
            link.handle,
            EATT_PSM,
            mode=CreditMode.ENHANCED_CREDIT_BASED,
            count=self.config.eatt_bearers,
            mtu=self.config.receive_mtu,
            security=EATT_SECURITY,
        )
        return [Emit(request)]

    def bearers(
        self, handle: int, cids: tuple[int, ...], parameters: CreditChannelParameters
    ) -> list[AttBearer]:
        """The bearers of channels ``cids`` just opened (by either side)."""
        mtu = min(parameters.mtu, parameters.peer_mtu)
        return [AttBearer(handle, self.config, bearer=cid, mtu=mtu) for cid in cids]

    def reconfigured(self, bearer: AttBearer, indication: L2caReconfigureInd) -> Effects:
        """The peer raised its channel's MTU (Vol 3 Part A 4.27: never lowered)."""
        mtu = min(self.config.receive_mtu, indication.peer_mtu)
        if mtu <= bearer.mtu:
            return []
        bearer.mtu = mtu
        return [Emit(AttMtuInd(bearer.handle, mtu, bearer.bearer))]

    def close(self, bearer: AttBearer) -> Effects:
        """Close a bearer's channel (its transaction timed out, 3.3.3)."""
        return [Emit(L2caDisconnectReq(next(self._tokens), bearer.handle, bearer.bearer))]
