"""LE encryption start, LE_Encrypt and LE_Rand (Vol 6 Part B 5.1.3; Vol 4 Part E 7.8.22-7.8.26).

The session key is derived as the spec does, SK = e(LTK, SKD) with SKD = SKDp || SKDc
(Vol 6 Part E 1). Instead of encrypting every packet, the peripheral sends what the central
must be able to decrypt: e(SK, 0); a different LTK gives a different value, which the central
treats as the MIC failure of LL_START_ENC_RSP and ends the link with 0x3D.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bluetrio import crypto
from bluetrio.controller.air import Link
from bluetrio.controller.connections import Connection, Role, TerminateFrame
from bluetrio.controller.dispatch import (
    CommandError,
    Feature,
    Status,
    handles,
    receives,
    register_feature,
)
from bluetrio.controller.le_connection import LeConnection
from bluetrio.controller.le_pdus import (
    EncryptionReject,
    EncryptionRequest,
    EncryptionResponse,
    EncryptionStarted,
)
from bluetrio.messages import hci

if TYPE_CHECKING:
    from bluetrio.controller.controller import VirtualController

_PROOF_BLOCK = bytes(16)
ENCRYPTION_ON = 0x01  # Encryption_Enabled: AES-CCM on an LE link (Vol 4 Part E 7.7.8)


def session_key(ltk: bytes, skd_peripheral: bytes, skd_central: bytes) -> bytes:
    """SK = e(LTK, SKDp || SKDc), MSB first (Vol 6 Part E 1)."""
    return crypto.e(ltk, skd_peripheral + skd_central)


@register_feature
class LeSecurity(Feature):
    def __init__(self, controller: VirtualController) -> None:
        super().__init__(controller)
        # Per connection: (LTK as given by the host, MSB first; SKDc) while the central waits.
        self.central_pending: dict[int, tuple[bytes, bytes]] = {}
        # Per connection: the SKDc the peripheral received, awaiting its host's LTK.
        self.peripheral_pending: dict[int, bytes] = {}

    def reset(self) -> None:
        self.central_pending.clear()
        self.peripheral_pending.clear()

    def on_connection_closed(self, connection: Connection, reason: int) -> None:
        self.central_pending.pop(connection.handle, None)
        self.peripheral_pending.pop(connection.handle, None)

    def _connection_for(self, link: Link | None) -> Connection | None:
        return self.controller.connection_on(link) if link is not None else None

    def _encrypted(self, connection: Connection) -> None:
        """Encryption Change, or Key Refresh Complete when it already was (7.7.8, 7.7.39)."""
        if connection.encrypted:
            self.controller.send_event(
                hci.EncryptionKeyRefreshComplete(Status.SUCCESS, connection.handle)
            )
        else:
            connection.encrypted = True
            self.controller.send_event(
                hci.EncryptionChange(Status.SUCCESS, connection.handle, ENCRYPTION_ON)
            )

    # -- central -------------------------------------------------------------------------

    @handles(hci.LeEnableEncryption)
    def le_enable_encryption(self, command: hci.LeEnableEncryption) -> None:
        connection = self.controller.feature(LeConnection).le_connection(command.connection_handle)
        if connection.role is not Role.CENTRAL or connection.handle in self.central_pending:
            raise CommandError(Status.COMMAND_DISALLOWED)
        skd_central = crypto.random_bytes(8)
        self.central_pending[connection.handle] = (
            crypto.reverse(command.long_term_key),
            skd_central,
        )
        request = EncryptionRequest(
            command.random_number, command.encrypted_diversifier, skd_central
        )
        self.controller.air.send_on_link(connection.link, self.controller, request)

    @receives(EncryptionResponse)
    def on_encryption_response(self, frame: EncryptionResponse, link: Link | None) -> None:
        connection = self._connection_for(link)
        if connection is None or connection.handle not in self.central_pending:
            return
        ltk, skd_central = self.central_pending.pop(connection.handle)
        expected = crypto.e(session_key(ltk, frame.skd_peripheral, skd_central), _PROOF_BLOCK)
        if expected != frame.proof:
            reason = Status.CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE
            self.controller.air.send_on_link(
                connection.link, self.controller, TerminateFrame(reason)
            )
            self.controller.air.close_link(connection.link)
            self.controller.close_connection(connection, reason)
            return
        self._encrypted(connection)
        # LL_START_ENC_RSP from the central completes the peripheral's side.
        self.controller.air.send_on_link(connection.link, self.controller, EncryptionStarted())

    @receives(EncryptionStarted)
    def on_encryption_started(self, frame: EncryptionStarted, link: Link | None) -> None:
        connection = self._connection_for(link)
        if connection is not None and connection.role is Role.PERIPHERAL:
            self._encrypted(connection)

    @receives(EncryptionReject)
    def on_encryption_reject(self, frame: EncryptionReject, link: Link | None) -> None:
        connection = self._connection_for(link)
        if connection is not None and connection.handle in self.central_pending:
            del self.central_pending[connection.handle]
            self.controller.send_event(
                hci.EncryptionChange(frame.reason, connection.handle, int(connection.encrypted))
            )

    # -- peripheral ----------------------------------------------------------------------

    @receives(EncryptionRequest)
    def on_encryption_request(self, frame: EncryptionRequest, link: Link | None) -> None:
        connection = self._connection_for(link)
        if connection is None or connection.role is not Role.PERIPHERAL:
            return
        self.peripheral_pending[connection.handle] = frame.skd_central
        self.controller.send_event(
            hci.LeLongTermKeyRequest(connection.handle, frame.rand, frame.ediv)
        )

    def _pending_peripheral(self, handle: int) -> tuple[Connection, bytes]:
        connection = self.controller.connections.get(handle)
        if connection is None or not connection.is_le:
            raise CommandError(Status.UNKNOWN_CONNECTION_IDENTIFIER, connection_handle=handle)
        skd_central = self.peripheral_pending.pop(handle, None)
        if skd_central is None:
            raise CommandError(Status.COMMAND_DISALLOWED, connection_handle=handle)
        return connection, skd_central

    @handles(hci.LeLongTermKeyRequestReply)
    def le_long_term_key_request_reply(
        self, command: hci.LeLongTermKeyRequestReply
    ) -> hci.ConnectionHandleReturn:
        connection, skd_central = self._pending_peripheral(command.connection_handle)
        skd_peripheral = crypto.random_bytes(8)
        key = session_key(crypto.reverse(command.long_term_key), skd_peripheral, skd_central)
        response = EncryptionResponse(skd_peripheral, crypto.e(key, _PROOF_BLOCK))
        self.controller.air.send_on_link(connection.link, self.controller, response)
        return hci.ConnectionHandleReturn(Status.SUCCESS, connection.handle)

    @handles(hci.LeLongTermKeyRequestNegativeReply)
    def le_long_term_key_request_negative_reply(
        self, command: hci.LeLongTermKeyRequestNegativeReply
    ) -> hci.ConnectionHandleReturn:
        connection, _ = self._pending_peripheral(command.connection_handle)
        reject = EncryptionReject(Status.PIN_OR_KEY_MISSING)
        self.controller.air.send_on_link(connection.link, self.controller, reject)
        return hci.ConnectionHandleReturn(Status.SUCCESS, connection.handle)

    # -- cryptographic helpers -----------------------------------------------------------

    @handles(hci.LeEncrypt)
    def le_encrypt(self, command: hci.LeEncrypt) -> hci.LeEncryptReturn:
        # HCI carries both least significant octet first; e() works MSB first.
        key, plaintext = crypto.reverse(command.key), crypto.reverse(command.plaintext_data)
        return hci.LeEncryptReturn(Status.SUCCESS, crypto.reverse(crypto.e(key, plaintext)))

    @handles(hci.LeRand)
    def le_rand(self, command: hci.LeRand) -> hci.LeRandReturn:
        return hci.LeRandReturn(Status.SUCCESS, crypto.random_bytes(8))
