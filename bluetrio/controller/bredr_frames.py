"""What BR/EDR controllers say to each other on the virtual air.

Each frame stands for a baseband packet or an LMP exchange (Core 5.4 Vol 2 Part B for inquiry
and paging, Part C for the link manager); only the information the other side needs is
carried, and the air decides whether and when it arrives.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from bluetrio.address import Address
from bluetrio.controller.air import Frame
from bluetrio.controller.ssp import SspPdu


@attrs.frozen
class InquiryFrame(Frame):
    """ID packets with an inquiry access code (Vol 2 Part B 8.4)."""

    sender: Address
    lap: int


@attrs.frozen
class InquiryResponseFrame(Frame):
    """FHS packet, followed by the EIR packet when the scanner has one (Vol 2 Part B 8.4.3)."""

    address: Address
    class_of_device: int
    extended_inquiry_response: bytes

    @property
    def payload_length(self) -> int:
        return 18 + len(self.extended_inquiry_response)


@attrs.frozen
class PageFrame(Frame):
    """Paging: the central's FHS packet and LMP_host_connection_req (Vol 2 Part C 4.1.1)."""

    IS_CONNECTION_REQUEST: ClassVar[bool] = True

    central: Address
    class_of_device: int
    allow_role_switch: bool


@attrs.frozen
class PageAcceptedFrame(Frame):
    """LMP_accepted(host_connection_req), sent on the new link; maybe with a role switch."""

    role_switched: bool


@attrs.frozen
class PageRejectedFrame(Frame):
    """LMP_not_accepted(host_connection_req) with the host's reason, then LMP_detach."""

    sender: Address
    reason: int


@attrs.frozen
class PageWithdrawnFrame(Frame):
    """The central stopped paging (Create_Connection_Cancel or page timeout)."""

    central: Address


@attrs.frozen
class NameRequestFrame(Frame):
    """LMP_name_req, over a temporary link when none exists (Vol 2 Part C 4.3.5)."""

    sender: Address


@attrs.frozen
class NameResponseFrame(Frame):
    """LMP_name_res fragments, with the host features read on the way (Vol 4 Part E 7.7.50)."""

    sender: Address
    name: str
    host_features: int


@attrs.frozen
class FeaturesRequestFrame(Frame):
    """LMP_features_req / LMP_features_req_ext (Vol 2 Part C 4.3.4)."""

    page: int


@attrs.frozen
class FeaturesResponseFrame(Frame):
    """LMP_features_res / LMP_features_res_ext."""

    page: int
    max_page: int
    features: int


@attrs.frozen
class VersionRequestFrame(Frame):
    """LMP_version_req (Vol 2 Part C 4.3.3)."""


@attrs.frozen
class VersionResponseFrame(Frame):
    """LMP_version_res."""

    version: int
    company_identifier: int
    subversion: int


@attrs.frozen
class RoleSwitchFrame(Frame):
    """LMP_switch_req accepted: both ends swap roles (Vol 2 Part C 4.4.2)."""


@attrs.frozen
class AuthChallengeFrame(Frame):
    """LMP_au_rand (Vol 2 Part C 4.2.1)."""

    random: bytes


@attrs.frozen
class AuthResponseFrame(Frame):
    """LMP_sres, or LMP_not_accepted(au_rand) with ``status`` when the key is missing."""

    sres: bytes
    status: int = 0


@attrs.frozen
class PinPairingFrame(Frame):
    """LMP_in_rand and LMP_comb_key of legacy pairing (Vol 2 Part C 4.2.2).

    ``commitment`` binds the initiator's PIN to ``random`` so the responder can compare PINs
    without the PIN crossing the air.
    """

    random: bytes
    commitment: bytes


@attrs.frozen
class PinPairingResultFrame(Frame):
    """The responder's verdict on legacy pairing (``status`` 0 when the PINs matched)."""

    status: int


@attrs.frozen
class SspFrame(Frame):
    """One Secure Simple Pairing PDU (Vol 2 Part C 4.2.7)."""

    pdu: SspPdu


@attrs.frozen
class EncryptionRequestFrame(Frame):
    """LMP_encryption_mode_req + LMP_encryption_key_size_req + LMP_start_encryption_req."""

    enable: bool
    max_key_size: int


@attrs.frozen
class EncryptionResponseFrame(Frame):
    """The peer's answer: the negotiated key size, or a non-zero ``status``."""

    enable: bool
    key_size: int
    status: int = 0
