"""Static configuration of a virtual controller and the timing model of the air.

Everything a host can read back with an informational command (Core 5.4 Vol 4 Part E 7.4)
comes from :class:`ControllerConfig`; the supported-commands bitmap is *not* configured here
but derived from the handler table, so it cannot disagree with what the controller does.
"""

from __future__ import annotations

import enum

import attrs


class Phy(enum.Enum):
    """Physical layers a frame can travel on (Vol 6 Part A 3; Vol 2 Part A 3)."""

    LE_1M = "le-1m"
    LE_2M = "le-2m"
    LE_CODED = "le-coded"
    BR_EDR = "br-edr"


# Raw bit rates of the realistic model. LE Coded S=8 carries 125 kbit/s (Vol 6 Part A 3.2);
# BR/EDR 3-DH5 carries 1021 bytes per 6 slots (3.75 ms) ~ 2.18 Mbit/s (Vol 2 Part B 6.7).
_REALISTIC_BITS_PER_SECOND: dict[Phy, float] = {
    Phy.LE_1M: 1_000_000.0,
    Phy.LE_2M: 2_000_000.0,
    Phy.LE_CODED: 125_000.0,
    Phy.BR_EDR: 2_178_000.0,
}


@attrs.frozen
class TimingModel:
    """How long frames take on the air.

    The default (``instant``) delivers every frame at the current Trio time: protocol
    procedures complete in zero virtual time, and only protocol timers (advertising interval,
    supervision timeout) make the clock move. ``realistic`` charges each frame its airtime at
    the PHY's raw bit rate plus a fixed ``latency``.
    """

    bits_per_second: dict[Phy, float] = attrs.field(factory=dict)
    latency: float = 0.0

    @classmethod
    def instant(cls) -> TimingModel:
        return cls()

    @classmethod
    def realistic(cls, latency: float = 0.000150) -> TimingModel:
        # 150 us is the inter-frame space T_IFS (Vol 6 Part B 4.1.1).
        return cls(dict(_REALISTIC_BITS_PER_SECOND), latency)

    @property
    def is_instant(self) -> bool:
        return not self.bits_per_second and self.latency == 0.0

    def airtime(self, phy: Phy, payload_length: int) -> float:
        """Seconds a frame of ``payload_length`` bytes spends between two controllers."""
        rate = self.bits_per_second.get(phy)
        if rate is None:
            return self.latency
        # Preamble, access address, header and CRC add about 10 bytes on LE (Vol 6 Part B 2.1).
        return self.latency + (payload_length + 10) * 8 / rate


def _default_lmp_features() -> tuple[bytes, ...]:
    # Page 0 (Vol 2 Part C 3.3): 3-slot/5-slot packets, encryption, RSSI, EDR 2/3 Mb/s,
    # 3-slot/5-slot EDR, LE supported (controller), simultaneous LE and BR/EDR, secure simple
    # pairing, encapsulated PDU, extended inquiry response, pause encryption, extended
    # features. Page 1 is written by the host (Write_LE_Host_Support etc.). Page 2: secure
    # connections (controller) and ping.
    page0 = bytes([0xFF, 0xFE, 0x8F, 0xFE, 0xDB, 0xFF, 0x5B, 0x87])
    page1 = bytes(8)
    page2 = bytes([0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00])
    return (page0, page1, page2)


# LE features (Vol 6 Part B 4.6): encryption, connection parameters request, extended reject
# indication, peripheral-initiated features exchange, LE ping, data packet length extension,
# LL privacy, extended scanner filter policies, 2M PHY, coded PHY, extended advertising.
DEFAULT_LE_FEATURES = (
    (1 << 0)
    | (1 << 1)
    | (1 << 2)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 11)
    | (1 << 12)
)


@attrs.frozen
class ControllerConfig:
    """What a virtual controller reports about itself and how big its buffers are."""

    hci_version: int = 0x0D  # Core 5.4 (Assigned Numbers 2.1)
    hci_subversion: int = 0x0001
    lmp_version: int = 0x0D
    lmp_subversion: int = 0x0001
    # 0xFFFF: "for use in internal and interoperability tests" (Assigned Numbers, company IDs).
    manufacturer: int = 0xFFFF
    acl_data_packet_length: int = 1021
    total_num_acl_data_packets: int = 8
    synchronous_data_packet_length: int = 255
    total_num_synchronous_data_packets: int = 8
    le_acl_data_packet_length: int = 251
    total_num_le_acl_data_packets: int = 8
    iso_data_packet_length: int = 0
    total_num_iso_data_packets: int = 0
    lmp_features: tuple[bytes, ...] = attrs.field(factory=_default_lmp_features)
    le_features: int = DEFAULT_LE_FEATURES
    # LE supported states (Vol 4 Part E 7.8.27): every combination.
    le_supported_states: int = 0x3FF_FFFF_FFFF
    num_hci_command_packets: int = 1
    accept_list_size: int = 16
    resolving_list_size: int = 16
    max_advertising_data_length: int = 1650
    num_supported_advertising_sets: int = 4
    tx_power: int = 0  # dBm, reported in advertising reports and parameter commands
    # RSSI (dBm) a receiver reports for every frame; fault tests can change it.
    rssi: int = -50
    local_name: str = "bluetrio"

    def lmp_feature_page(self, page: int) -> bytes:
        return self.lmp_features[page] if page < len(self.lmp_features) else bytes(8)
