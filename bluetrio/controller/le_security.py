"""LE encryption start, LE_Encrypt and LE_Rand (Vol 6 Part B 5.1.3; Vol 4 Part E 7.8.22-7.8.26).

The session key is derived as the spec does, SK = e(LTK, SKD) with SKD = SKDp || SKDc
(Vol 6 Part E 1). Instead of encrypting every packet, the peripheral sends what the central
must be able to decrypt: e(SK, 0); a different LTK gives a different value, which the central
treats as the MIC failure of LL_START_ENC_RSP and ends the link with 0x3D.
"""

from __future__ import annotations

import struct

from bluetrio import crypto
from bluetrio.controller.air import Link
from bluetrio.controller.connections import Connection, Role, TerminateFrame
from bluetrio.controller.dispatch import (
    Command,
    CommandError,
    Feature,
    Reply,
    Status,
    command,
    receives,
    register_feature,
)
from bluetrio.controller.events import (
    EventCode,
    LeSubevent,
    encryption_change,
    event_packet,
    le_event,
)
from bluetrio.controller.le_connection import LeConnection
from bluetrio.controller.le_pdus import (
    EncryptionReject,
    EncryptionRequest,
    EncryptionResponse,
    EncryptionStarted,
)

_PROOF_BLOCK = bytes(16)


def session_key(ltk: bytes, skd_peripheral: bytes, skd_central: bytes) -> bytes:
    """SK = e(LTK, SKDp || SKDc), MSB first (Vol 6 Part E 1)."""
    return crypto.e(ltk, skd_peripheral + skd_central)


@register_feature
class LeSecurity(Feature):
    def __init__(self, controller: object) -> None:
        super().__init__(controller)  # type: ignore[arg-type]
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
                event_packet(
                    EventCode.ENCRYPTION_KEY_REFRESH_COMPLETE,
                    struct.pack("<BH", Status.SUCCESS, connection.handle),
                )
            )
        else:
            connection.encrypted = True
            self.controller.send_event(encryption_change(Status.SUCCESS, connection.handle, 0x01))

    # -- central -------------------------------------------------------------------------

    @command(0x2019, "LE_Enable_Encryption", reply=Reply.STATUS)
    def le_enable_encryption(self, cmd: Command) -> None:
        reader = cmd.reader()
        handle, rand, ediv, ltk = reader.u16(), reader.take(8), reader.u16(), reader.take(16)
        reader.done()
        connection = self.controller.feature(LeConnection).le_connection(handle)
        if connection.role is not Role.CENTRAL or connection.handle in self.central_pending:
            raise CommandError(Status.COMMAND_DISALLOWED)
        skd_central = crypto.random_bytes(8)
        self.central_pending[connection.handle] = (crypto.reverse(ltk), skd_central)
        self.controller.air.send_on_link(
            connection.link, self.controller, EncryptionRequest(rand, ediv, skd_central)
        )

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
                encryption_change(frame.reason, connection.handle, int(connection.encrypted))
            )

    # -- peripheral ----------------------------------------------------------------------

    @receives(EncryptionRequest)
    def on_encryption_request(self, frame: EncryptionRequest, link: Link | None) -> None:
        connection = self._connection_for(link)
        if connection is None or connection.role is not Role.PERIPHERAL:
            return
        self.peripheral_pending[connection.handle] = frame.skd_central
        self.controller.send_event(
            le_event(
                LeSubevent.LONG_TERM_KEY_REQUEST,
                struct.pack("<H8sH", connection.handle, frame.rand, frame.ediv),
            )
        )

    def _pending_peripheral(self, cmd: Command, with_key: bool) -> tuple[Connection, bytes, bytes]:
        reader = cmd.reader()
        handle = reader.u16()
        ltk = reader.take(16) if with_key else b""
        reader.done()
        echo = struct.pack("<H", handle)
        connection = self.controller.connections.get(handle)
        if connection is None or not connection.is_le:
            raise CommandError(Status.UNKNOWN_CONNECTION_IDENTIFIER, echo)
        skd_central = self.peripheral_pending.pop(handle, None)
        if skd_central is None:
            raise CommandError(Status.COMMAND_DISALLOWED, echo)
        return connection, skd_central, ltk

    @command(0x201A, "LE_Long_Term_Key_Request_Reply", return_size=2)
    def le_long_term_key_request_reply(self, cmd: Command) -> bytes:
        connection, skd_central, ltk = self._pending_peripheral(cmd, with_key=True)
        skd_peripheral = crypto.random_bytes(8)
        key = session_key(crypto.reverse(ltk), skd_peripheral, skd_central)
        response = EncryptionResponse(skd_peripheral, crypto.e(key, _PROOF_BLOCK))
        self.controller.air.send_on_link(connection.link, self.controller, response)
        return struct.pack("<H", connection.handle)

    @command(0x201B, "LE_Long_Term_Key_Request_Negative_Reply", return_size=2)
    def le_long_term_key_request_negative_reply(self, cmd: Command) -> bytes:
        connection, _, _ = self._pending_peripheral(cmd, with_key=False)
        reject = EncryptionReject(Status.PIN_OR_KEY_MISSING)
        self.controller.air.send_on_link(connection.link, self.controller, reject)
        return struct.pack("<H", connection.handle)

    # -- cryptographic helpers -----------------------------------------------------------

    @command(0x2017, "LE_Encrypt", return_size=16)
    def le_encrypt(self, cmd: Command) -> bytes:
        reader = cmd.reader()
        key, plaintext = reader.take(16), reader.take(16)
        reader.done()
        # HCI carries both least significant octet first; e() works MSB first.
        return crypto.reverse(crypto.e(crypto.reverse(key), crypto.reverse(plaintext)))

    @command(0x2018, "LE_Rand", return_size=8)
    def le_rand(self, cmd: Command) -> bytes:
        cmd.reader().done()
        return crypto.random_bytes(8)
