"""Secure Simple Pairing as the link manager runs it (Core 5.4 Vol 2 Part H 7, Part C 4.2.7).

This is the sans-IO core: one :class:`SspSession` per pairing attempt and per side. It takes the
host's replies (IO capabilities, confirmation, passkey, OOB data) and the peer's PDUs, and
returns effects: PDUs for the peer link manager and notifications the controller turns into HCI
events. Public keys, nonces, commitments and check values are real (``bluetrio.crypto``), so a
wrong passkey, a rejected confirmation or forged OOB data fail exactly where the spec says.

The PDUs are an emulation of the LMP PDUs of Vol 2 Part C 4.2.7 between two virtual
controllers; the encapsulated public key travels in one PDU instead of header + payloads.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from bluetrio import crypto
from bluetrio.crypto import Curve, EcdhKeyPair
from bluetrio.errors import InvalidArgumentError

# HCI status codes used by pairing (Core 5.4 Vol 1 Part F 1.3).
STATUS_SUCCESS = 0x00
STATUS_AUTHENTICATION_FAILURE = 0x05

PASSKEY_ROUNDS = 20  # one round per passkey bit (Vol 2 Part H 7.2.3)
MAX_PASSKEY = 999_999
_NO_RANDOM = bytes(16)
_LINK_KEY_ID = b"btlk"


class IoCapability(enum.IntEnum):
    """IO_Capability parameter (Vol 4 Part E 7.1.29)."""

    DISPLAY_ONLY = 0x00
    DISPLAY_YES_NO = 0x01
    KEYBOARD_ONLY = 0x02
    NO_INPUT_NO_OUTPUT = 0x03


class AssociationModel(enum.Enum):
    """Authentication stage 1 protocols (Vol 2 Part H 7.2)."""

    JUST_WORKS = "just works"  # numeric comparison with automatic confirmation
    NUMERIC_COMPARISON = "numeric comparison"
    PASSKEY_ENTRY = "passkey entry"
    OUT_OF_BAND = "out of band"

    @property
    def authenticated(self) -> bool:
        """Whether the model gives MITM protection (Vol 3 Part C 5.2.2.6)."""
        return self is not AssociationModel.JUST_WORKS


class LinkKeyType(enum.IntEnum):
    """Key_Type of the HCI_Link_Key_Notification event (Vol 4 Part E 7.7.24)."""

    COMBINATION = 0x00
    DEBUG_COMBINATION = 0x03
    UNAUTHENTICATED_P192 = 0x04
    AUTHENTICATED_P192 = 0x05
    CHANGED_COMBINATION = 0x06
    UNAUTHENTICATED_P256 = 0x07
    AUTHENTICATED_P256 = 0x08


def link_key_type(model: AssociationModel, curve: Curve) -> LinkKeyType:
    """Key type from the model's MITM protection and the curve (Vol 2 Part H 7.1)."""
    if curve is Curve.P256:
        return (
            LinkKeyType.AUTHENTICATED_P256
            if model.authenticated
            else LinkKeyType.UNAUTHENTICATED_P256
        )
    return (
        LinkKeyType.AUTHENTICATED_P192 if model.authenticated else LinkKeyType.UNAUTHENTICATED_P192
    )


@attrs.frozen
class PairingCapabilities:
    """What a host answered in HCI_IO_Capability_Request_Reply (Vol 4 Part E 7.1.29)."""

    io_capability: int
    oob_data_present: int
    authentication_requirements: int

    @property
    def mitm_required(self) -> bool:
        # Odd Authentication_Requirements values are the "MITM protection required" ones.
        return bool(self.authentication_requirements & 0x01)

    def iocap_octets(self) -> bytes:
        """IOcap input of f3: AuthReq, OOB flag, IO capability, MSB first (Vol 2 Part H 7.7.4)."""
        return bytes([self.authentication_requirements, self.oob_data_present, self.io_capability])


_K = IoCapability.KEYBOARD_ONLY
_N = IoCapability.NO_INPUT_NO_OUTPUT
_Y = IoCapability.DISPLAY_YES_NO


def association_model(
    initiator: PairingCapabilities, responder: PairingCapabilities
) -> AssociationModel:
    """Vol 3 Part C 5.2.2.6 (IO capability mapping), with Vol 2 Part H 7.1's precedence.

    OOB wins whenever either side holds OOB data. If neither host asked for MITM protection,
    stage 1 runs as if both were DisplayOnly, i.e. Just Works. Otherwise a keyboard facing
    anything but NoInputNoOutput means Passkey Entry; two DisplayYesNo devices compare numbers;
    every other pair (a side without input or output) falls back to Just Works.
    """
    if initiator.oob_data_present or responder.oob_data_present:
        return AssociationModel.OUT_OF_BAND
    if not (initiator.mitm_required or responder.mitm_required):
        return AssociationModel.JUST_WORKS
    pair = (initiator.io_capability, responder.io_capability)
    if _N in pair:
        return AssociationModel.JUST_WORKS
    if _K in pair:
        return AssociationModel.PASSKEY_ENTRY
    if pair == (_Y, _Y):
        return AssociationModel.NUMERIC_COMPARISON
    return AssociationModel.JUST_WORKS


# --------------------------------------------------------------------------------------------
# PDUs between the two link managers (emulating Vol 2 Part C 4.2.7)
# --------------------------------------------------------------------------------------------


@attrs.frozen
class IoCapabilityReq:
    capabilities: PairingCapabilities


@attrs.frozen
class IoCapabilityRes:
    capabilities: PairingCapabilities


@attrs.frozen
class IoCapabilityNotAccepted:
    """LMP_not_accepted_ext for LMP_io_capability_req, carrying the host's reason."""

    reason: int


@attrs.frozen
class PublicKey:
    """LMP_encapsulated_header + payloads: a public key, coordinates MSB first."""

    x: bytes
    y: bytes


@attrs.frozen
class Confirm:
    """LMP_simple_pairing_confirm: a commitment value."""

    commitment: bytes


@attrs.frozen
class Number:
    """LMP_simple_pairing_number: a nonce."""

    nonce: bytes


@attrs.frozen
class DhKeyCheck:
    """LMP_DHkey_check: Ea or Eb."""

    value: bytes


@attrs.frozen
class PairingAborted:
    """LMP_numeric_comparison_failed / passkey_failed / oob_failed / not_accepted(DHkey_check)."""

    reason: int


SspPdu = (
    IoCapabilityReq
    | IoCapabilityRes
    | IoCapabilityNotAccepted
    | PublicKey
    | Confirm
    | Number
    | DhKeyCheck
    | PairingAborted
)


# --------------------------------------------------------------------------------------------
# Effects returned by the session
# --------------------------------------------------------------------------------------------


@attrs.frozen
class SendToPeer:
    pdu: SspPdu


@attrs.frozen
class IoCapabilityRequested:
    """Ask the host: HCI_IO_Capability_Request (Vol 4 Part E 7.7.40)."""


@attrs.frozen
class PeerCapabilitiesReceived:
    """Tell the host: HCI_IO_Capability_Response (Vol 4 Part E 7.7.41)."""

    capabilities: PairingCapabilities


@attrs.frozen
class ConfirmationRequested:
    """HCI_User_Confirmation_Request (Vol 4 Part E 7.7.42) with the six-digit value."""

    numeric_value: int


@attrs.frozen
class PasskeyRequested:
    """HCI_User_Passkey_Request (Vol 4 Part E 7.7.43)."""


@attrs.frozen
class PasskeyDisplayed:
    """HCI_User_Passkey_Notification (Vol 4 Part E 7.7.48)."""

    passkey: int


@attrs.frozen
class OobDataRequested:
    """HCI_Remote_OOB_Data_Request (Vol 4 Part E 7.7.44)."""


@attrs.frozen
class PairingFinished:
    """HCI_Simple_Pairing_Complete and, on success, HCI_Link_Key_Notification.

    ``link_key`` is MSB first (the caller reverses it for the HCI event).
    """

    status: int
    link_key: bytes | None = None
    key_type: LinkKeyType | None = None


SspEffect = (
    SendToPeer
    | IoCapabilityRequested
    | PeerCapabilitiesReceived
    | ConfirmationRequested
    | PasskeyRequested
    | PasskeyDisplayed
    | OobDataRequested
    | PairingFinished
)


@attrs.frozen
class OobData:
    """The peer's OOB values as the host gave them (Vol 4 Part E 7.1.34 / 7.1.53)."""

    c_192: bytes | None = None
    r_192: bytes | None = None
    c_256: bytes | None = None
    r_256: bytes | None = None

    def for_curve(self, curve: Curve) -> tuple[bytes, bytes] | None:
        c, r = (self.c_256, self.r_256) if curve is Curve.P256 else (self.c_192, self.r_192)
        return None if c is None or r is None else (c, r)


def oob_commitment(key: EcdhKeyPair, r: bytes) -> bytes:
    """C = f1(PKx, PKx, R, 0), what Read_Local_OOB_Data hands out (Vol 2 Part H 7.2.4)."""
    return crypto.ssp_f1(key.public_x, key.public_x, r, b"\x00")


def _passkey_bit_octet(passkey: int, round_index: int) -> bytes:
    # z = 0x80 | r_i: one passkey bit per round, least significant first (Vol 2 Part H 7.2.3).
    return bytes([0x80 | ((passkey >> round_index) & 1)])


class Role(enum.Enum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class _Wait(enum.Enum):
    HOST_IO = "host io capability"
    PEER_IO = "peer io capability"
    PEER_KEY = "peer public key"
    STAGE1 = "authentication stage 1"
    PEER_DHKEY_CHECK = "peer dhkey check"
    DONE = "done"


class SspSession:
    """One side of one Secure Simple Pairing.

    ``local_address``/``peer_address`` are BD_ADDRs MSB first; ``central_is_initiator`` tells
    f2 which of the two is the central (Vol 2 Part H 7.7.3). ``key_for`` returns this
    controller's key pair for a curve (kept across pairings so that OOB data stays valid) and
    ``local_oob_random`` the R last handed out by Read_Local_OOB_Data, if any.
    """

    def __init__(
        self,
        role: Role,
        local_address: bytes,
        peer_address: bytes,
        *,
        central_is_initiator: bool,
        curve: Curve,
        key_for: Callable[[Curve], EcdhKeyPair],
        local_oob_random: Callable[[Curve], bytes | None],
        random: Callable[[int], bytes] = crypto.random_bytes,
    ) -> None:
        self.role = role
        self._local_address = local_address
        self._peer_address = peer_address
        self._central_is_initiator = central_is_initiator
        self.curve = curve
        self._key_for = key_for
        self._local_oob_random = local_oob_random
        self._random = random
        self._wait = _Wait.HOST_IO if role is Role.INITIATOR else _Wait.PEER_IO
        self._local: PairingCapabilities | None = None
        self._peer: PairingCapabilities | None = None
        self.model: AssociationModel | None = None
        self._key: EcdhKeyPair | None = None
        self._peer_key: PublicKey | None = None
        self._dhkey = b""
        self._local_nonce = b""
        self._peer_nonce = b""
        self._peer_commitment: bytes | None = None
        # Stage 1 bookkeeping.
        self._awaiting_host: type[SspEffect] | None = None
        self._host_confirmed = False
        self._passkey: int | None = None
        self._round = 0
        self._sent_commitment = False
        self._local_r = _NO_RANDOM  # the r this side's check value is built with
        self._peer_r = _NO_RANDOM
        self._oob_checked = False
        self._pending_peer_check: bytes | None = None

    # ---- helpers --------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self._wait is _Wait.DONE

    @property
    def is_initiator(self) -> bool:
        return self.role is Role.INITIATOR

    def awaiting_host(self, request: type[SspEffect]) -> bool:
        """Whether the host owes an answer to ``request`` (else its reply is out of state)."""
        if request is IoCapabilityRequested:
            return self._wait is _Wait.HOST_IO
        return self._awaiting_host is request

    def _fail(self, reason: int = STATUS_AUTHENTICATION_FAILURE) -> list[SspEffect]:
        self._wait = _Wait.DONE
        self._awaiting_host = None
        return [SendToPeer(PairingAborted(reason)), PairingFinished(reason)]

    def _local_x(self) -> bytes:
        assert self._key is not None
        return self._key.public_x

    def _peer_x(self) -> bytes:
        assert self._peer_key is not None
        return self._peer_key.x

    # ---- inputs from the host -------------------------------------------------------------

    def start(self) -> list[SspEffect]:
        """Initiator: the host refused to give a link key, so pairing begins."""
        return [IoCapabilityRequested()]

    def on_io_capability_reply(self, capabilities: PairingCapabilities) -> list[SspEffect]:
        self._local = capabilities
        if self.is_initiator:
            self._wait = _Wait.PEER_IO
            return [SendToPeer(IoCapabilityReq(capabilities))]
        self._select_model()
        self._wait = _Wait.PEER_KEY
        return [SendToPeer(IoCapabilityRes(capabilities))]

    def on_io_capability_negative_reply(self, reason: int) -> list[SspEffect]:
        self._wait = _Wait.DONE
        finished = PairingFinished(STATUS_AUTHENTICATION_FAILURE)
        if self.is_initiator:
            return [finished]
        return [SendToPeer(IoCapabilityNotAccepted(reason)), finished]

    def on_user_confirmation(self, accepted: bool) -> list[SspEffect]:
        self._awaiting_host = None
        if not accepted:
            return self._fail()
        self._host_confirmed = True
        return self._maybe_start_stage2()

    def on_passkey(self, passkey: int | None) -> list[SspEffect]:
        self._awaiting_host = None
        if passkey is None:
            return self._fail()
        self._passkey = passkey
        return self._passkey_round_step()

    def on_oob_data(self, data: OobData | None) -> list[SspEffect]:
        self._awaiting_host = None
        values = None if data is None else data.for_curve(self.curve)
        if values is None:
            return self._fail()
        commitment, peer_r = values
        # Check the peer's commitment against the public key it sent in band (Part H 7.2.4).
        if crypto.ssp_f1(self._peer_x(), self._peer_x(), peer_r, b"\x00") != commitment:
            return self._fail()
        self._peer_r = peer_r
        self._oob_checked = True
        return self._oob_step()

    # ---- inputs from the peer -------------------------------------------------------------

    def on_peer_pdu(self, pdu: SspPdu) -> list[SspEffect]:
        if self._wait is _Wait.DONE:
            return []
        if isinstance(pdu, PairingAborted):
            self._wait = _Wait.DONE
            self._awaiting_host = None
            return [PairingFinished(pdu.reason)]
        if isinstance(pdu, IoCapabilityNotAccepted) and self._wait is _Wait.PEER_IO:
            self._wait = _Wait.DONE
            return [PairingFinished(pdu.reason)]
        handler = self._pdu_handlers.get((self._wait, type(pdu)))
        if handler is None:
            # An unexpected PDU is a protocol violation: abort rather than guess.
            return self._fail()
        return handler(self, pdu)

    def _on_io_capability_req(self, pdu: SspPdu) -> list[SspEffect]:
        assert isinstance(pdu, IoCapabilityReq)
        self._peer = pdu.capabilities
        self._wait = _Wait.HOST_IO
        return [PeerCapabilitiesReceived(pdu.capabilities), IoCapabilityRequested()]

    def _on_io_capability_res(self, pdu: SspPdu) -> list[SspEffect]:
        assert isinstance(pdu, IoCapabilityRes)
        self._peer = pdu.capabilities
        self._select_model()
        self._key = self._key_for(self.curve)
        self._wait = _Wait.PEER_KEY
        own_key = PublicKey(self._key.public_x, self._key.public_y)
        return [PeerCapabilitiesReceived(pdu.capabilities), SendToPeer(own_key)]

    def _on_public_key(self, pdu: SspPdu) -> list[SspEffect]:
        assert isinstance(pdu, PublicKey)
        effects: list[SspEffect] = []
        if not self.is_initiator:
            # The responder answers with a key on the curve the initiator chose.
            self.curve = Curve.P256 if len(pdu.x) == Curve.P256.coordinate_length else Curve.P192
            self._key = self._key_for(self.curve)
            effects.append(SendToPeer(PublicKey(self._key.public_x, self._key.public_y)))
        assert self._key is not None
        try:
            self._dhkey = self._key.shared_secret(pdu.x, pdu.y)
        except (crypto.InvalidPublicKeyError, InvalidArgumentError):
            # Off-curve, reflected or wrongly sized keys end the pairing (CVE-2018-5383).
            return effects + self._fail()
        self._peer_key = pdu
        self._wait = _Wait.STAGE1
        return effects + self._begin_stage1()

    def _on_confirm(self, pdu: SspPdu) -> list[SspEffect]:
        assert isinstance(pdu, Confirm)
        if self._peer_commitment is not None:
            return self._fail()
        self._peer_commitment = pdu.commitment
        if not self.is_initiator:
            # Only passkey entry has the initiator commit; the responder answers in kind.
            if self.model is not AssociationModel.PASSKEY_ENTRY:
                return self._fail()
            return self._passkey_round_step()
        if self.model is AssociationModel.PASSKEY_ENTRY and not self._sent_commitment:
            return self._fail()
        # The responder's commitment is in, so the initiator reveals its nonce.
        return [SendToPeer(Number(self._local_nonce))]

    def _on_number(self, pdu: SspPdu) -> list[SspEffect]:
        assert isinstance(pdu, Number)
        if self._peer_nonce and self.model is not AssociationModel.PASSKEY_ENTRY:
            return self._fail()
        self._peer_nonce = pdu.nonce
        if self.model is AssociationModel.PASSKEY_ENTRY:
            return self._passkey_nonce_received()
        if self.model is AssociationModel.OUT_OF_BAND:
            return self._oob_step()
        return self._numeric_nonce_received()

    def _on_dhkey_check(self, pdu: SspPdu) -> list[SspEffect]:
        assert isinstance(pdu, DhKeyCheck)
        if self.is_initiator:
            if self._wait is not _Wait.PEER_DHKEY_CHECK:
                return self._fail()
            if pdu.value != self._expected_peer_check():
                return self._fail()
            return self._succeed()
        # The responder may get Ea before its own host confirmed; keep it until then.
        self._pending_peer_check = pdu.value
        return self._maybe_start_stage2()

    _pdu_handlers: dict[tuple[_Wait, type], Callable[[SspSession, SspPdu], list[SspEffect]]] = {
        (_Wait.PEER_IO, IoCapabilityReq): _on_io_capability_req,
        (_Wait.PEER_IO, IoCapabilityRes): _on_io_capability_res,
        (_Wait.PEER_KEY, PublicKey): _on_public_key,
        (_Wait.STAGE1, Confirm): _on_confirm,
        (_Wait.STAGE1, Number): _on_number,
        (_Wait.STAGE1, DhKeyCheck): _on_dhkey_check,
        (_Wait.PEER_DHKEY_CHECK, DhKeyCheck): _on_dhkey_check,
    }

    # ---- stage 1 ---------------------------------------------------------------------------

    def _select_model(self) -> None:
        assert self._local is not None and self._peer is not None
        if self.is_initiator:
            self.model = association_model(self._local, self._peer)
        else:
            self.model = association_model(self._peer, self._local)

    def _begin_stage1(self) -> list[SspEffect]:
        self._local_nonce = self._random(16)
        if self.model is AssociationModel.PASSKEY_ENTRY:
            return self._begin_passkey_entry()
        if self.model is AssociationModel.OUT_OF_BAND:
            return self._begin_oob()
        if self.is_initiator:
            return []  # wait for the responder's commitment Cb
        commitment = crypto.ssp_f1(self._local_x(), self._peer_x(), self._local_nonce, b"\x00")
        return [SendToPeer(Confirm(commitment))]

    def _numeric_nonce_received(self) -> list[SspEffect]:
        effects: list[SspEffect] = []
        if self.is_initiator:
            expected = crypto.ssp_f1(self._peer_x(), self._local_x(), self._peer_nonce, b"\x00")
            if expected != self._peer_commitment:
                return self._fail()
            pka, pkb, na, nb = self._local_x(), self._peer_x(), self._local_nonce, self._peer_nonce
        else:
            effects.append(SendToPeer(Number(self._local_nonce)))
            pka, pkb, na, nb = self._peer_x(), self._local_x(), self._peer_nonce, self._local_nonce
        value = crypto.ssp_g(pka, pkb, na, nb) % (MAX_PASSKEY + 1)
        self._awaiting_host = ConfirmationRequested
        return [*effects, ConfirmationRequested(value)]

    def _passkey_roles(self) -> tuple[bool, bool]:
        """(this side types the passkey, this side displays it) per Vol 3 Part C 5.2.2.6."""
        assert self._local is not None and self._peer is not None
        local_keyboard = self._local.io_capability == IoCapability.KEYBOARD_ONLY
        peer_keyboard = self._peer.io_capability == IoCapability.KEYBOARD_ONLY
        if local_keyboard:
            return True, False
        # A display side shows the passkey a keyboard-only peer types.
        return False, peer_keyboard

    def _begin_passkey_entry(self) -> list[SspEffect]:
        types_passkey, _displays = self._passkey_roles()
        if types_passkey:
            self._awaiting_host = PasskeyRequested
            return [PasskeyRequested()]
        self._passkey = int.from_bytes(self._random(4), "big") % (MAX_PASSKEY + 1)
        return [PasskeyDisplayed(self._passkey), *self._passkey_round_step()]

    def _passkey_round_step(self) -> list[SspEffect]:
        """Send this round's commitment once the passkey is known and it is our turn."""
        if self._passkey is None or self._sent_commitment:
            return []
        # The initiator commits first in every round; the responder answers a commitment.
        if not self.is_initiator and self._peer_commitment is None:
            return []
        self._sent_commitment = True
        z = _passkey_bit_octet(self._passkey, self._round)
        commitment = crypto.ssp_f1(self._local_x(), self._peer_x(), self._local_nonce, z)
        return [SendToPeer(Confirm(commitment))]

    def _passkey_nonce_received(self) -> list[SspEffect]:
        if self._passkey is None or self._peer_commitment is None or not self._sent_commitment:
            return self._fail()
        z = _passkey_bit_octet(self._passkey, self._round)
        expected = crypto.ssp_f1(self._peer_x(), self._local_x(), self._peer_nonce, z)
        if expected != self._peer_commitment:
            return self._fail()
        effects: list[SspEffect] = []
        if not self.is_initiator:
            effects.append(SendToPeer(Number(self._local_nonce)))
        self._round += 1
        if self._round == PASSKEY_ROUNDS:
            self._local_r = self._peer_r = self._passkey.to_bytes(16, "big")
            self._host_confirmed = True
            return effects + self._maybe_start_stage2()
        # Next round: fresh nonce and commitment from both sides.
        self._local_nonce = self._random(16)
        self._peer_nonce = b""
        self._peer_commitment = None
        self._sent_commitment = False
        return effects + self._passkey_round_step()

    def _begin_oob(self) -> list[SspEffect]:
        assert self._local is not None and self._peer is not None
        if self._peer.oob_data_present:
            # The peer holds our OOB data, so our check value carries our R.
            self._local_r = self._local_oob_random(self.curve) or _NO_RANDOM
        if self._local.oob_data_present:
            self._awaiting_host = OobDataRequested
            return [OobDataRequested()]
        self._oob_checked = True
        return self._oob_step()

    def _oob_step(self) -> list[SspEffect]:
        """Exchange nonces once the OOB commitment check is done (Vol 2 Part H 7.2.4)."""
        if not self._oob_checked or self._awaiting_host is not None:
            return []
        if self.is_initiator:
            if not self._sent_commitment:
                self._sent_commitment = True
                return [SendToPeer(Number(self._local_nonce))]
            if self._peer_nonce:
                self._host_confirmed = True
                return self._maybe_start_stage2()
            return []
        if not self._peer_nonce or self._sent_commitment:
            return []
        self._sent_commitment = True
        self._host_confirmed = True
        return [SendToPeer(Number(self._local_nonce)), *self._maybe_start_stage2()]

    # ---- stage 2 ---------------------------------------------------------------------------

    def _addresses(self) -> tuple[bytes, bytes]:
        """(A, B): initiator then responder."""
        if self.is_initiator:
            return self._local_address, self._peer_address
        return self._peer_address, self._local_address

    def _check_value(self, for_initiator: bool) -> bytes:
        assert self._local is not None and self._peer is not None
        a, b = self._addresses()
        initiator_caps, responder_caps = (
            (self._local, self._peer) if self.is_initiator else (self._peer, self._local)
        )
        na, nb = (
            (self._local_nonce, self._peer_nonce)
            if self.is_initiator
            else (self._peer_nonce, self._local_nonce)
        )
        ra, rb = (
            (self._local_r, self._peer_r) if self.is_initiator else (self._peer_r, self._local_r)
        )
        if for_initiator:
            return crypto.ssp_f3(self._dhkey, na, nb, rb, initiator_caps.iocap_octets(), a, b)
        return crypto.ssp_f3(self._dhkey, nb, na, ra, responder_caps.iocap_octets(), b, a)

    def _expected_peer_check(self) -> bytes:
        return self._check_value(for_initiator=not self.is_initiator)

    def _maybe_start_stage2(self) -> list[SspEffect]:
        if not self._host_confirmed:
            return []
        if self.is_initiator:
            if self._wait is _Wait.PEER_DHKEY_CHECK:
                return []
            self._wait = _Wait.PEER_DHKEY_CHECK
            return [SendToPeer(DhKeyCheck(self._check_value(for_initiator=True)))]
        if self._pending_peer_check is None:
            return []
        if self._pending_peer_check != self._expected_peer_check():
            return self._fail()
        own_check = self._check_value(for_initiator=False)
        return [SendToPeer(DhKeyCheck(own_check)), *self._succeed()]

    def _succeed(self) -> list[SspEffect]:
        assert self.model is not None
        self._wait = _Wait.DONE
        a, b = self._addresses()
        na, nb = (
            (self._local_nonce, self._peer_nonce)
            if self.is_initiator
            else (self._peer_nonce, self._local_nonce)
        )
        # LK = f2(DHKey, N_central, N_peripheral, "btlk", BD_ADDR_central, BD_ADDR_peripheral).
        if self._central_is_initiator:
            key = crypto.ssp_f2(self._dhkey, na, nb, _LINK_KEY_ID, a, b)
        else:
            key = crypto.ssp_f2(self._dhkey, nb, na, _LINK_KEY_ID, b, a)
        return [PairingFinished(STATUS_SUCCESS, key, link_key_type(self.model, self.curve))]
