"""What a controller says about itself (Core 5.4 Vol 4 Part E 7.4): the answer of bring-up's
read sequence, carried in ``ControllerReadyInd`` and shown by ``bluetrio info``."""

from __future__ import annotations

import attrs

from bluetrio.address import Address
from bluetrio.messages import hci
from bluetrio.messages.hci.features import le_feature_names, lmp_feature_names

# LMP feature bits (Vol 2 Part C 3.3): page 0.
LMP_BIT_LE_SUPPORTED = 38
LMP_BIT_BR_EDR_NOT_SUPPORTED = 37
LMP_BIT_SSP = 51
LMP_BIT_EXTENDED_FEATURES = 63
# Page 2: Secure Connections (Controller Support), Vol 2 Part C 3.3.
LMP_PAGE_2_BIT_SECURE_CONNECTIONS = 8
# LE feature bit: LE Extended Advertising (Vol 6 Part B 4.6).
LE_BIT_EXTENDED_ADVERTISING = 12

# Version numbers of HCI and LMP (Assigned Numbers 2.1).
CORE_VERSIONS = {
    0: "1.0b", 1: "1.1", 2: "1.2", 3: "2.0+EDR", 4: "2.1+EDR", 5: "3.0+HS", 6: "4.0",
    7: "4.1", 8: "4.2", 9: "5.0", 10: "5.1", 11: "5.2", 12: "5.3", 13: "5.4", 14: "6.0",
}  # fmt: skip

# A few company identifiers (Assigned Numbers, Company Identifiers) seen on common hosts.
MANUFACTURERS = {
    0x0000: "Ericsson", 0x0002: "Intel", 0x0006: "Microsoft", 0x000A: "Qualcomm (CSR)",
    0x000D: "Texas Instruments", 0x000F: "Broadcom", 0x001D: "Qualcomm", 0x0046: "MediaTek",
    0x004C: "Apple", 0x0059: "Nordic Semiconductor", 0x005D: "Realtek", 0x0075: "Samsung",
    0x0131: "Cypress", 0x00E0: "Google", 0x0171: "Amazon", 0x02E5: "Espressif",
    0xFFFF: "none (test/internal use)",
}  # fmt: skip


@attrs.frozen
class ControllerInfo:
    address: Address
    hci_version: int
    hci_subversion: int
    lmp_version: int
    lmp_subversion: int
    manufacturer: int
    supported_commands: bytes
    lmp_features: tuple[int, ...]  # one 64-bit mask per page
    le_features: int | None
    acl_packet_length: int
    acl_packets: int
    le_acl_packet_length: int | None  # None: no LE; 0: LE shares the BR/EDR buffers
    le_acl_packets: int | None
    local_name: str | None
    notes: tuple[str, ...] = ()  # optional steps that were skipped, and why

    @property
    def le_supported(self) -> bool:
        return bool(self.lmp_features[0] >> LMP_BIT_LE_SUPPORTED & 1)

    @property
    def bredr_supported(self) -> bool:
        return not self.lmp_features[0] >> LMP_BIT_BR_EDR_NOT_SUPPORTED & 1

    @property
    def bredr_secure_connections(self) -> bool:
        """The controller runs BR/EDR Secure Connections (P-256 keys, AES-CCM)."""
        pages = self.lmp_features
        return len(pages) > 2 and bool(pages[2] >> LMP_PAGE_2_BIT_SECURE_CONNECTIONS & 1)

    def supports(self, opcode: int) -> bool:
        return hci.bitmap_supports(self.supported_commands, opcode)

    @property
    def le_extended_commands(self) -> bool:
        """The controller takes the extended LE command family: extended advertising
        (7.8.53), scanning (7.8.64) and connecting (7.8.66). A host uses that family or the
        legacy one, never both, until HCI_Reset (Vol 4 Part E 3.1.1)."""
        features = self.le_features or 0
        return bool(features >> LE_BIT_EXTENDED_ADVERTISING & 1) and all(
            self.supports(command.OPCODE)
            for command in (
                hci.LeSetExtendedAdvertisingParameters,
                hci.LeSetExtendedScanParameters,
                hci.LeExtendedCreateConnection,
            )
        )

    def feature_names(self) -> list[str]:
        names: list[str] = []
        for page, mask in enumerate(self.lmp_features):
            names += lmp_feature_names(mask, page)
        return names

    def describe(self) -> list[str]:
        """Human-readable lines, as ``bluetrio info`` prints them."""
        lines = [
            f"BD_ADDR:       {self.address}",
            f"HCI version:   {_version(self.hci_version)} (subversion 0x{self.hci_subversion:04X})",
            f"LMP version:   {_version(self.lmp_version)} (subversion 0x{self.lmp_subversion:04X})",
            f"Manufacturer:  {MANUFACTURERS.get(self.manufacturer, 'unknown')} "
            f"(0x{self.manufacturer:04X})",
        ]
        if self.local_name:
            lines.append(f"Name:          {self.local_name}")
        lines.append(f"BR/EDR:        {'supported' if self.bredr_supported else 'not supported'}")
        lines.append(f"LE:            {'supported' if self.le_supported else 'not supported'}")
        lines.append(f"ACL buffers:   BR/EDR {self.acl_packets} x {self.acl_packet_length} bytes")
        if self.le_acl_packet_length == 0:
            lines.append("               LE shares the BR/EDR buffers")
        elif self.le_acl_packet_length is not None:
            lines.append(
                f"               LE {self.le_acl_packets} x {self.le_acl_packet_length} bytes"
            )
        lines.append("LMP features:  " + ", ".join(self.feature_names()))
        if self.le_features is not None:
            lines.append("LE features:   " + ", ".join(le_feature_names(self.le_features)))
        lines += [f"note:          {note}" for note in self.notes]
        return lines


def _version(number: int) -> str:
    return f"{CORE_VERSIONS.get(number, '?')} (0x{number:02X})"
