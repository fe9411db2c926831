"""LE link-layer frames exchanged over the air (Core 5.4 Vol 6 Part B 2.3, 2.4).

They carry what the emulation needs, not the bit layout: a scanner learns the same facts a
real one would decode from the PDU.
"""

from __future__ import annotations

import attrs

from bluetrio.address import Address
from bluetrio.controller.air import Frame
from bluetrio.controller.config import Phy


@attrs.frozen
class AdvertisingPdu(Frame):
    """ADV_IND, ADV_DIRECT_IND, ADV_SCAN_IND, ADV_NONCONN_IND or an extended ADV_EXT_IND chain."""

    advertiser: Address
    connectable: bool
    scannable: bool
    directed: bool
    legacy: bool
    data: bytes
    target: Address | None = None
    sid: int = 0xFF
    tx_power: int = 0x7F
    primary_phy: Phy = Phy.LE_1M
    secondary_phy: Phy | None = None

    @property
    def payload_length(self) -> int:
        return 6 + len(self.data)


@attrs.frozen
class ScanRequest(Frame):
    """SCAN_REQ / AUX_SCAN_REQ (Vol 6 Part B 2.3.2.1)."""

    scanner: Address
    advertiser: Address


@attrs.frozen
class ScanResponse(Frame):
    """SCAN_RSP / AUX_SCAN_RSP (Vol 6 Part B 2.3.2.2), answering the advertisement ``to``."""

    advertiser: Address
    data: bytes
    to: AdvertisingPdu

    @property
    def payload_length(self) -> int:
        return 6 + len(self.data)


@attrs.frozen
class ConnectRequest(Frame):
    """CONNECT_IND / AUX_CONNECT_REQ (Vol 6 Part B 2.3.3.1)."""

    IS_CONNECTION_REQUEST = True

    initiator: Address
    advertiser: Address
    interval: int
    latency: int
    supervision_timeout: int
    phy: Phy


@attrs.frozen
class ConnectionEstablished(Frame):
    """The peripheral's first packet in the new connection: the central may report it."""

    advertiser: Address


@attrs.frozen
class ConnectionUpdate(Frame):
    """LL_CONNECTION_UPDATE_IND (Vol 6 Part B 2.4.2.1), applied by both ends at once."""

    interval: int
    latency: int
    supervision_timeout: int


@attrs.frozen
class DataLengthUpdate(Frame):
    """LL_LENGTH_REQ/RSP (Vol 6 Part B 2.4.2.21): the sender's new maximum transmit values."""

    tx_octets: int
    tx_time: int


@attrs.frozen
class PhyUpdate(Frame):
    """LL_PHY_UPDATE_IND (Vol 6 Part B 2.4.2.22): PHYs as seen by the receiver."""

    tx_phy: int
    rx_phy: int


@attrs.frozen
class EncryptionRequest(Frame):
    """LL_ENC_REQ (Vol 6 Part B 2.4.2.4)."""

    rand: bytes
    ediv: int
    skd_central: bytes


@attrs.frozen
class EncryptionResponse(Frame):
    """LL_ENC_RSP + LL_START_ENC_REQ: ``proof`` is what decrypting with the session key gives."""

    skd_peripheral: bytes
    proof: bytes


@attrs.frozen
class EncryptionReject(Frame):
    """LL_REJECT_EXT_IND answering LL_ENC_REQ (Vol 6 Part B 5.1.3.1)."""

    reason: int


@attrs.frozen
class EncryptionStarted(Frame):
    """LL_START_ENC_RSP from the central (Vol 6 Part B 5.1.3.1): both ends now encrypt."""
