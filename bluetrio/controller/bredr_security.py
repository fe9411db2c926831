"""BR/EDR link security: authentication, pairing and encryption (Core 5.4 Vol 2 Part C 4.2).

The host-visible procedures are those of Vol 4 Part E: Authentication_Requested asks the host
for a link key; with a key the two link managers run a challenge-response, without one they
pair (Secure Simple Pairing, :mod:`bluetrio.controller.ssp`, when both hosts enabled it; PIN
pairing otherwise). Set_Connection_Encryption then starts E0 or AES-CCM.

Emulation choices: SAFER+ (E1, E21, E22) is not available, so the challenge response uses h4/h5
(Vol 2 Part H 7.7.8-9) for every key type and legacy pairing derives its combination key with
HMAC-SHA-256; both still fail exactly when the two sides hold different keys or PINs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import attrs

from bluetrio import crypto
from bluetrio.address import Address
from bluetrio.controller import ssp
from bluetrio.controller.air import Link
from bluetrio.controller.bredr import (
    CONTROLLER_FEATURE_SECURE_CONNECTIONS,
    HOST_FEATURE_SECURE_CONNECTIONS,
    HOST_FEATURE_SSP,
    BrEdr,
    BrEdrLink,
    require,
)
from bluetrio.controller.bredr_frames import (
    AuthChallengeFrame,
    AuthResponseFrame,
    EncryptionRequestFrame,
    EncryptionResponseFrame,
    PinPairingFrame,
    PinPairingResultFrame,
    SspFrame,
)
from bluetrio.controller.connections import Connection, Role
from bluetrio.controller.controller import VirtualController
from bluetrio.controller.dispatch import (
    CommandError,
    Feature,
    Status,
    handles,
    receives,
    register_feature,
)
from bluetrio.crypto import Curve, EcdhKeyPair
from bluetrio.messages import hci

MAX_ENCRYPTION_KEY_SIZE = 16
MAX_PASSKEY = 999_999
MAX_AUTHENTICATION_REQUIREMENTS = 0x05  # Vol 4 Part E 7.1.29
SIMPLE_PAIRING_NOT_SUPPORTED_BY_HOST = 0x37

# Encryption_Enabled values (Vol 4 Part E 7.7.8).
ENCRYPTION_OFF = 0x00
ENCRYPTION_E0 = 0x01
ENCRYPTION_AES_CCM = 0x02

_DEVICE_AUTHENTICATION_KEY_ID = b"btdk"


def challenge_response(
    link_key: bytes, challenge: bytes, central: Address, peripheral: Address
) -> bytes:
    """SRES for ``challenge``: h5 over the device authentication key from h4 (Part H 7.7)."""
    device_key = crypto.h4(
        link_key,
        _DEVICE_AUTHENTICATION_KEY_ID,
        crypto.reverse(central.to_wire()),
        crypto.reverse(peripheral.to_wire()),
    )
    return crypto.h5(device_key, challenge, challenge)[:4]


def pin_commitment(pin: bytes, random: bytes) -> bytes:
    return hmac.new(pin, b"pin-commitment" + random, hashlib.sha256).digest()


def pin_link_key(pin: bytes, random: bytes) -> bytes:
    return hmac.new(pin, b"combination-key" + random, hashlib.sha256).digest()[:16]


@attrs.define
class LinkSecurity:
    """Security state of one BR/EDR link."""

    authenticated: bool = False
    link_key: bytes | None = None  # wire order, as the host hands it over
    authentication_requested: bool = False  # this side owes Authentication_Complete
    awaiting_link_key: bool = False
    challenge: bytes | None = None  # LMP_au_rand we sent, waiting for LMP_sres
    peer_challenge: bytes | None = None  # LMP_au_rand we received, waiting for our host
    pairing: ssp.SspSession | None = None
    awaiting_pin: bool = False
    pin_request: PinPairingFrame | None = None  # the initiator's, while our host types a PIN
    pin: bytes | None = None  # the initiator's PIN and LMP_in_rand, until the verdict
    pin_random: bytes = b""
    encryption_pending: bool = False
    encryption_mode: int = ENCRYPTION_OFF
    key_size: int = 0

    @property
    def busy(self) -> bool:
        return (
            self.authentication_requested
            or self.awaiting_link_key
            or self.challenge is not None
            or self.pairing is not None
            or self.awaiting_pin
        )


@register_feature
class BrEdrSecurity(Feature):
    """Authentication, Secure Simple Pairing, PIN pairing and encryption."""

    def __init__(self, controller: VirtualController) -> None:
        super().__init__(controller)
        # Test knob: the largest key size this controller negotiates (KNOB emulation).
        self.max_encryption_key_size = MAX_ENCRYPTION_KEY_SIZE
        self.reset()

    def reset(self) -> None:
        self.links: dict[int, LinkSecurity] = {}
        # Kept until reset, so OOB data handed out stays valid (Vol 4 Part E 7.3.60).
        self.keys: dict[Curve, EcdhKeyPair] = {}
        self.local_oob_random: dict[Curve, bytes] = {}

    @property
    def bredr(self) -> BrEdr:
        return self.controller.feature(BrEdr)

    def security_of(self, link: BrEdrLink) -> LinkSecurity:
        return self.links.setdefault(link.connection.handle, LinkSecurity())

    def key_for(self, curve: Curve) -> EcdhKeyPair:
        if curve not in self.keys:
            self.keys[curve] = EcdhKeyPair.generate(curve)
        return self.keys[curve]

    def on_connection_closed(self, connection: Connection, reason: int) -> None:
        self.links.pop(connection.handle, None)

    def _link_by_address(self, address: Address) -> BrEdrLink:
        link = self.bredr.link_for_address(address)
        if link is None:
            raise CommandError(Status.UNKNOWN_CONNECTION_IDENTIFIER, bd_addr=address)
        return link

    def _send(self, event: hci.HciEvent) -> None:
        self.bredr.send(event)

    def _both_have(self, link: BrEdrLink, page: int, bit: int) -> bool:
        return bool(self.bredr.feature_page(page) & self.bredr.peer_feature_page(link, page) & bit)

    def _secure_connections(self, link: BrEdrLink) -> bool:
        """Both hosts and both controllers support Secure Connections (Vol 2 Part H 7.1)."""
        return self._both_have(link, 1, HOST_FEATURE_SECURE_CONNECTIONS) and self._both_have(
            link, 2, CONTROLLER_FEATURE_SECURE_CONNECTIONS
        )

    def _central_and_peripheral(self, link: BrEdrLink) -> tuple[Address, Address]:
        own, peer = self.bredr.address, link.peer
        return (own, peer) if link.connection.role == Role.CENTRAL else (peer, own)

    def _authentication_complete(self, link: BrEdrLink, status: int) -> None:
        security = self.security_of(link)
        if security.authentication_requested:
            security.authentication_requested = False
            self._send(hci.AuthenticationComplete(status, link.connection.handle))

    # -- Authentication_Requested and link keys (Vol 4 Part E 7.1.15, 7.1.10, 7.1.11) -----

    @handles(hci.AuthenticationRequested)
    def authentication_requested(self, command: hci.AuthenticationRequested) -> None:
        link = self.bredr.link_for_handle(command.connection_handle)
        security = self.security_of(link)
        require(not security.busy and security.peer_challenge is None, Status.COMMAND_DISALLOWED)
        security.authentication_requested = True
        security.awaiting_link_key = True
        self._send(hci.LinkKeyRequest(link.peer))

    @handles(hci.LinkKeyRequestReply)
    def link_key_request_reply(self, request: hci.LinkKeyRequestReply) -> hci.BdAddrReturn:
        link, security = self._expecting(request.bd_addr, lambda s: s.awaiting_link_key)
        security.awaiting_link_key = False
        security.link_key = request.link_key
        central, peripheral = self._central_and_peripheral(link)
        if security.peer_challenge is not None:
            # Responder: answer the peer's LMP_au_rand with our key (Vol 2 Part C 4.2.1).
            sres = challenge_response(
                request.link_key, security.peer_challenge, central, peripheral
            )
            security.peer_challenge = None
            security.authenticated = True
            self.bredr.send_on(link, AuthResponseFrame(sres))
        else:
            security.challenge = crypto.random_bytes(16)
            self.bredr.send_on(link, AuthChallengeFrame(security.challenge))
        return hci.BdAddrReturn(Status.SUCCESS, request.bd_addr)

    @handles(hci.LinkKeyRequestNegativeReply)
    def link_key_request_negative_reply(
        self, command: hci.LinkKeyRequestNegativeReply
    ) -> hci.BdAddrReturn:
        address = command.bd_addr
        link, security = self._expecting(address, lambda s: s.awaiting_link_key)
        security.awaiting_link_key = False
        if security.peer_challenge is not None:
            # Responder without a key: LMP_not_accepted(au_rand, PIN or Key Missing).
            security.peer_challenge = None
            self.bredr.send_on(link, AuthResponseFrame(b"", Status.PIN_OR_KEY_MISSING))
        elif self._both_have(link, 1, HOST_FEATURE_SSP):
            self._start_ssp(link, security)
        else:
            security.awaiting_pin = True
            self._send(hci.PinCodeRequest(link.peer))
        return hci.BdAddrReturn(Status.SUCCESS, address)

    def _expecting(
        self, address: Address, state: Callable[[LinkSecurity], bool]
    ) -> tuple[BrEdrLink, LinkSecurity]:
        """The link a host reply names, if that reply is awaited (else 0x02 or 0x0C)."""
        link = self._link_by_address(address)
        security = self.security_of(link)
        require(state(security), Status.COMMAND_DISALLOWED, bd_addr=address)
        return link, security

    @receives(AuthChallengeFrame)
    def on_challenge(self, frame: AuthChallengeFrame, air_link: Link | None) -> None:
        link = self.bredr.link_on(air_link)
        if link is None:
            return
        security = self.security_of(link)
        security.peer_challenge = frame.random
        security.awaiting_link_key = True
        self._send(hci.LinkKeyRequest(link.peer))

    @receives(AuthResponseFrame)
    def on_challenge_response(self, frame: AuthResponseFrame, air_link: Link | None) -> None:
        link = self.bredr.link_on(air_link)
        if link is None:
            return
        security = self.security_of(link)
        challenge, security.challenge = security.challenge, None
        if challenge is None or security.link_key is None:
            return
        central, peripheral = self._central_and_peripheral(link)
        expected = challenge_response(security.link_key, challenge, central, peripheral)
        # A peer without the key, or with another one, fails the same way (0x06).
        matched = frame.status == Status.SUCCESS and hmac.compare_digest(frame.sres, expected)
        security.authenticated = matched
        self._authentication_complete(
            link, Status.SUCCESS if matched else Status.PIN_OR_KEY_MISSING
        )

    # -- Secure Simple Pairing glue (Vol 4 Part E 7.1.29-7.1.34, 7.7.40-7.7.50) ------------

    def _new_session(self, link: BrEdrLink, role: ssp.Role) -> ssp.SspSession:
        central_is_initiator = (link.connection.role == Role.CENTRAL) == (
            role is ssp.Role.INITIATOR
        )
        curve = Curve.P256 if self._secure_connections(link) else Curve.P192
        return ssp.SspSession(
            role,
            crypto.reverse(self.bredr.address.to_wire()),
            crypto.reverse(link.peer.to_wire()),
            central_is_initiator=central_is_initiator,
            curve=curve,
            key_for=self.key_for,
            local_oob_random=self.local_oob_random.get,
        )

    def _start_ssp(self, link: BrEdrLink, security: LinkSecurity) -> None:
        security.pairing = self._new_session(link, ssp.Role.INITIATOR)
        self._apply(link, security.pairing.start())

    @receives(SspFrame)
    def on_ssp_frame(self, frame: SspFrame, air_link: Link | None) -> None:
        link = self.bredr.link_on(air_link)
        if link is None:
            return
        security = self.security_of(link)
        if security.pairing is None:
            if not isinstance(frame.pdu, ssp.IoCapabilityReq):
                return  # a late PDU of a pairing that already ended
            if not self.bredr.host_features() & HOST_FEATURE_SSP:
                refusal = ssp.IoCapabilityNotAccepted(SIMPLE_PAIRING_NOT_SUPPORTED_BY_HOST)
                self.bredr.send_on(link, SspFrame(refusal))
                return
            security.pairing = self._new_session(link, ssp.Role.RESPONDER)
        self._apply(link, security.pairing.on_peer_pdu(frame.pdu))

    def _apply(self, link: BrEdrLink, effects: list[ssp.SspEffect]) -> None:
        """Turn the pairing core's effects into LMP frames and HCI events."""
        peer = link.peer
        for effect in effects:
            if isinstance(effect, ssp.SendToPeer):
                self.bredr.send_on(link, SspFrame(effect.pdu))
            elif isinstance(effect, ssp.IoCapabilityRequested):
                self._send(hci.IoCapabilityRequest(peer))
            elif isinstance(effect, ssp.PeerCapabilitiesReceived):
                c = effect.capabilities
                self._send(
                    hci.IoCapabilityResponse(
                        peer, c.io_capability, c.oob_data_present, c.authentication_requirements
                    )
                )
            elif isinstance(effect, ssp.ConfirmationRequested):
                self._send(hci.UserConfirmationRequest(peer, effect.numeric_value))
            elif isinstance(effect, ssp.PasskeyRequested):
                self._send(hci.UserPasskeyRequest(peer))
            elif isinstance(effect, ssp.PasskeyDisplayed):
                self._send(hci.UserPasskeyNotification(peer, effect.passkey))
            elif isinstance(effect, ssp.OobDataRequested):
                self._send(hci.RemoteOobDataRequest(peer))
            else:
                self._pairing_finished(link, effect)

    def _pairing_finished(self, link: BrEdrLink, result: ssp.PairingFinished) -> None:
        security = self.security_of(link)
        security.pairing = None
        self._send(hci.SimplePairingComplete(result.status, link.peer))
        if result.status == Status.SUCCESS and result.link_key is not None:
            assert result.key_type is not None
            security.link_key = crypto.reverse(result.link_key)
            security.authenticated = True
            self._send(hci.LinkKeyNotification(link.peer, security.link_key, result.key_type))
        self._authentication_complete(link, result.status)

    def _pairing_reply(
        self,
        address: Address,
        awaited: type[ssp.SspEffect],
        step: Callable[[ssp.SspSession], list[ssp.SspEffect]],
    ) -> hci.BdAddrReturn:
        def awaiting(security: LinkSecurity) -> bool:
            return security.pairing is not None and security.pairing.awaiting_host(awaited)

        link, security = self._expecting(address, awaiting)
        assert security.pairing is not None
        self._apply(link, step(security.pairing))
        return hci.BdAddrReturn(Status.SUCCESS, address)

    @handles(hci.IoCapabilityRequestReply)
    def io_capability_request_reply(self, r: hci.IoCapabilityRequestReply) -> hci.BdAddrReturn:
        echo = r.bd_addr
        require(r.io_capability <= ssp.IoCapability.NO_INPUT_NO_OUTPUT, bd_addr=echo)
        require(r.oob_data_present <= 0x01, bd_addr=echo)
        require(r.authentication_requirements <= MAX_AUTHENTICATION_REQUIREMENTS, bd_addr=echo)
        capabilities = ssp.PairingCapabilities(
            r.io_capability, r.oob_data_present, r.authentication_requirements
        )
        return self._pairing_reply(
            r.bd_addr,
            ssp.IoCapabilityRequested,
            lambda s: s.on_io_capability_reply(capabilities),
        )

    @handles(hci.IoCapabilityRequestNegativeReply)
    def io_capability_request_negative_reply(
        self, r: hci.IoCapabilityRequestNegativeReply
    ) -> hci.BdAddrReturn:
        return self._pairing_reply(
            r.bd_addr,
            ssp.IoCapabilityRequested,
            lambda s: s.on_io_capability_negative_reply(r.reason),
        )

    @handles(hci.UserConfirmationRequestReply)
    def user_confirmation_request_reply(
        self, command: hci.UserConfirmationRequestReply
    ) -> hci.BdAddrReturn:
        address = command.bd_addr
        return self._pairing_reply(
            address, ssp.ConfirmationRequested, lambda s: s.on_user_confirmation(True)
        )

    @handles(hci.UserConfirmationRequestNegativeReply)
    def user_confirmation_request_negative_reply(
        self, command: hci.UserConfirmationRequestNegativeReply
    ) -> hci.BdAddrReturn:
        address = command.bd_addr
        return self._pairing_reply(
            address, ssp.ConfirmationRequested, lambda s: s.on_user_confirmation(False)
        )

    @handles(hci.UserPasskeyRequestReply)
    def user_passkey_request_reply(self, r: hci.UserPasskeyRequestReply) -> hci.BdAddrReturn:
        require(r.numeric_value <= MAX_PASSKEY, bd_addr=r.bd_addr)
        return self._pairing_reply(
            r.bd_addr, ssp.PasskeyRequested, lambda s: s.on_passkey(r.numeric_value)
        )

    @handles(hci.UserPasskeyRequestNegativeReply)
    def user_passkey_request_negative_reply(
        self, command: hci.UserPasskeyRequestNegativeReply
    ) -> hci.BdAddrReturn:
        address = command.bd_addr
        return self._pairing_reply(address, ssp.PasskeyRequested, lambda s: s.on_passkey(None))

    @handles(hci.RemoteOobDataRequestReply)
    def remote_oob_data_request_reply(self, r: hci.RemoteOobDataRequestReply) -> hci.BdAddrReturn:
        data = ssp.OobData(c_192=crypto.reverse(r.c), r_192=crypto.reverse(r.r))
        return self._pairing_reply(r.bd_addr, ssp.OobDataRequested, lambda s: s.on_oob_data(data))

    @handles(hci.RemoteOobExtendedDataRequestReply)
    def remote_oob_extended_data_request_reply(
        self, r: hci.RemoteOobExtendedDataRequestReply
    ) -> hci.BdAddrReturn:
        data = ssp.OobData(*(crypto.reverse(v) for v in (r.c_192, r.r_192, r.c_256, r.r_256)))
        return self._pairing_reply(r.bd_addr, ssp.OobDataRequested, lambda s: s.on_oob_data(data))

    @handles(hci.RemoteOobDataRequestNegativeReply)
    def remote_oob_data_request_negative_reply(
        self, command: hci.RemoteOobDataRequestNegativeReply
    ) -> hci.BdAddrReturn:
        address = command.bd_addr
        return self._pairing_reply(address, ssp.OobDataRequested, lambda s: s.on_oob_data(None))

    @handles(hci.ReadLocalOobData)
    def read_local_oob_data(self, command: hci.ReadLocalOobData) -> hci.ReadLocalOobDataReturn:
        return hci.ReadLocalOobDataReturn(Status.SUCCESS, *self._local_oob(Curve.P192))

    @handles(hci.ReadLocalOobExtendedData)
    def read_local_oob_extended_data(
        self, command: hci.ReadLocalOobExtendedData
    ) -> hci.ReadLocalOobExtendedDataReturn:
        return hci.ReadLocalOobExtendedDataReturn(
            Status.SUCCESS, *self._local_oob(Curve.P192), *self._local_oob(Curve.P256)
        )

    def _local_oob(self, curve: Curve) -> tuple[bytes, bytes]:
        """Fresh R and its commitment C for this controller's key (Vol 2 Part H 7.2.4), as
        HCI carries them (C then R, least significant octet first)."""
        r = crypto.random_bytes(16)
        self.local_oob_random[curve] = r
        c = ssp.oob_commitment(self.key_for(curve), r)
        return crypto.reverse(c), crypto.reverse(r)

    # -- PIN (legacy) pairing (Vol 4 Part E 7.1.12, 7.1.13; Vol 2 Part C 4.2.2) -----------

    @handles(hci.PinCodeRequestReply)
    def pin_code_request_reply(self, r: hci.PinCodeRequestReply) -> hci.BdAddrReturn:
        returned = hci.BdAddrReturn(Status.SUCCESS, r.bd_addr)
        require(len(r.pin_code) >= 1, bd_addr=r.bd_addr)
        link, security = self._expecting(r.bd_addr, lambda s: s.awaiting_pin)
        security.awaiting_pin = False
        request, security.pin_request = security.pin_request, None
        if request is None:
            # Initiator: LMP_in_rand with a commitment to our PIN.
            security.pin = r.pin_code
            security.pin_random = random = crypto.random_bytes(16)
            self.bredr.send_on(link, PinPairingFrame(random, pin_commitment(r.pin_code, random)))
            return returned
        matched = hmac.compare_digest(
            pin_commitment(r.pin_code, request.random), request.commitment
        )
        status = Status.SUCCESS if matched else Status.AUTHENTICATION_FAILURE
        self.bredr.send_on(link, PinPairingResultFrame(status))
        if matched:
            self._legacy_key(link, security, r.pin_code, request.random)
        return returned

    @handles(hci.PinCodeRequestNegativeReply)
    def pin_code_request_negative_reply(
        self, command: hci.PinCodeRequestNegativeReply
    ) -> hci.BdAddrReturn:
        address = command.bd_addr
        link, security = self._expecting(address, lambda s: s.awaiting_pin)
        security.awaiting_pin = False
        if security.pin_request is not None:
            security.pin_request = None
            self.bredr.send_on(link, PinPairingResultFrame(Status.PIN_OR_KEY_MISSING))
        else:
            # Without a PIN there is no key: the authentication fails (Vol 2 Part F 3.3).
            self._authentication_complete(link, Status.PIN_OR_KEY_MISSING)
        return hci.BdAddrReturn(Status.SUCCESS, address)

    @receives(PinPairingFrame)
    def on_pin_pairing(self, frame: PinPairingFrame, air_link: Link | None) -> None:
        link = self.bredr.link_on(air_link)
        if link is None:
            return
        security = self.security_of(link)
        security.pin_request = frame
        security.awaiting_pin = True
        self._send(hci.PinCodeRequest(link.peer))

    @receives(PinPairingResultFrame)
    def on_pin_pairing_result(self, frame: PinPairingResultFrame, air_link: Link | None) -> None:
        link = self.bredr.link_on(air_link)
        if link is None:
            return
        security = self.security_of(link)
        pin, security.pin = security.pin, None
        if frame.status == Status.SUCCESS and pin is not None:
            # Both sides bind the key to the initiator's LMP_in_rand.
            self._legacy_key(link, security, pin, security.pin_random)
        else:
            self._authentication_complete(link, frame.status)

    def _legacy_key(
        self, link: BrEdrLink, security: LinkSecurity, pin: bytes, random: bytes
    ) -> None:
        security.link_key = pin_link_key(pin, random)
        security.authenticated = True
        self._send(
            hci.LinkKeyNotification(link.peer, security.link_key, ssp.LinkKeyType.COMBINATION)
        )
        self._authentication_complete(link, Status.SUCCESS)

    # -- encryption (Vol 4 Part E 7.1.16, 7.5.7; Vol 2 Part C 4.2.5) --------------------

    @handles(hci.SetConnectionEncryption)
    def set_connection_encryption(self, r: hci.SetConnectionEncryption) -> None:
        link = self.bredr.link_for_handle(r.connection_handle)
        require(r.encryption_enable in (0, 1))
        security = self.security_of(link)
        # Encryption needs the key authentication established (Vol 2 Part C 4.2.5).
        require(
            security.authenticated and not security.encryption_pending, Status.COMMAND_DISALLOWED
        )
        security.encryption_pending = True
        frame = EncryptionRequestFrame(bool(r.encryption_enable), self.max_encryption_key_size)
        self.bredr.send_on(link, frame)

    @receives(EncryptionRequestFrame)
    def on_encryption_request(self, frame: EncryptionRequestFrame, air_link: Link | None) -> None:
        link = self.bredr.link_on(air_link)
        if link is None:
            return
        security = self.security_of(link)
        if not security.authenticated:
            self.bredr.send_on(
                link, EncryptionResponseFrame(frame.enable, 0, Status.PIN_OR_KEY_MISSING)
            )
            return
        # Both sides settle on the smaller maximum (LMP_encryption_key_size_req, 4.2.5.2).
        key_size = min(frame.max_key_size, self.max_encryption_key_size)
        self._encryption_changed(link, security, frame.enable, key_size)
        self.bredr.send_on(link, EncryptionResponseFrame(frame.enable, key_size))

    @receives(EncryptionResponseFrame)
    def on_encryption_response(self, frame: EncryptionResponseFrame, air_link: Link | None) -> None:
        link = self.bredr.link_on(air_link)
        if link is None:
            return
        security = self.security_of(link)
        if not security.encryption_pending:
            return
        security.encryption_pending = False
        if frame.status != Status.SUCCESS:
            self._send(
                hci.EncryptionChange(frame.status, link.connection.handle, security.encryption_mode)
            )
            return
        self._encryption_changed(link, security, frame.enable, frame.key_size)

    def _encryption_changed(
        self, link: BrEdrLink, security: LinkSecurity, enable: bool, key_size: int
    ) -> None:
        if enable:
            mode = ENCRYPTION_AES_CCM if self._secure_connections(link) else ENCRYPTION_E0
        else:
            mode, key_size = ENCRYPTION_OFF, 0
        security.encryption_mode = mode
        security.key_size = key_size
        link.connection.encrypted = enable
        self._send(hci.EncryptionChange(Status.SUCCESS, link.connection.handle, mode))

    @handles(hci.ReadEncryptionKeySize)
    def read_encryption_key_size(
        self, command: hci.ReadEncryptionKeySize
    ) -> hci.ReadEncryptionKeySizeReturn:
        link = self.bredr.link_for_handle(command.connection_handle)
        handle = link.connection.handle
        security = self.security_of(link)
        require(
            security.encryption_mode != ENCRYPTION_OFF,
            Status.COMMAND_DISALLOWED,
            connection_handle=handle,
        )
        return hci.ReadEncryptionKeySizeReturn(Status.SUCCESS, handle, security.key_size)
