"""Two virtual controllers on one air, driven with HCI bytes: the BR/EDR procedures."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import attrs
import pytest
import trio

from bluetrio.address import Address
from bluetrio.controller import Air, VirtualController
from bluetrio.controller.bredr import BrEdr
from bluetrio.controller.bredr_security import BrEdrSecurity
from bluetrio.controller.harness import RawHost, open_host
from bluetrio.messages.hci import commands as cmds
from bluetrio.messages.hci import events as evts
from bluetrio.messages.hci.base import HciCommand, HciEvent

E = TypeVar("E", bound=HciEvent)

ADDRESS_A = Address.parse("00:00:00:00:0A:0A")
ADDRESS_B = Address.parse("00:00:00:00:0B:0B")
COD_PHONE = 0x5A020C

DISPLAY_ONLY, DISPLAY_YES_NO, KEYBOARD_ONLY, NO_IO = 0, 1, 2, 3
MITM_GENERAL_BONDING = 0x05


@attrs.define
class Side:
    host: RawHost
    controller: VirtualController
    address: Address

    async def run(self, command: HciCommand) -> bytes:
        """Send a typed command; the Command Complete return parameters or Status byte."""
        return await self.host.run(command)

    async def ok(self, command: HciCommand) -> bytes:
        reply = await self.run(command)
        assert reply[0] == 0, f"{command.NAME} failed with 0x{reply[0]:02X}"
        return reply

    async def event(self, cls: type[E]) -> E:
        return await self.host.next_event(cls)

    def pending(self, cls: type[HciEvent]) -> list[bytes]:
        return self.host.events_of(cls)


@asynccontextmanager
async def two_controllers(
    *, ssp: bool = True, secure_connections: bool = True
) -> AsyncIterator[tuple[Side, Side]]:
    air = Air()
    a_ctrl = VirtualController(air, public_address=ADDRESS_A)
    b_ctrl = VirtualController(air, public_address=ADDRESS_B)
    async with open_host(a_ctrl) as a_host, open_host(b_ctrl) as b_host:
        a, b = Side(a_host, a_ctrl, ADDRESS_A), Side(b_host, b_ctrl, ADDRESS_B)
        for side in (a, b):
            # The default mask leaves out EIR and every SSP event (Vol 4 Part E 7.3.1).
            await side.ok(cmds.SetEventMask(0xFFFF_FFFF_FFFF_FFFF))
            await side.ok(cmds.WriteSimplePairingMode(int(ssp)))
            await side.ok(cmds.WriteSecureConnectionsHostSupport(int(secure_connections)))
        yield a, b


async def connect(a: Side, b: Side, role: int = 0x01) -> tuple[int, int]:
    await b.ok(cmds.WriteScanEnable(0x02))
    await a.ok(cmds.CreateConnection(b.address, 0xCC18, 0x01, 0, 0, 1))
    request = await b.event(evts.ConnectionRequest)
    assert isinstance(request, evts.ConnectionRequest) and request.bd_addr == a.address
    await b.ok(cmds.AcceptConnectionRequest(a.address, role))
    a_done = await a.event(evts.ConnectionComplete)
    b_done = await b.event(evts.ConnectionComplete)
    assert isinstance(a_done, evts.ConnectionComplete)
    assert isinstance(b_done, evts.ConnectionComplete)
    assert a_done.status == b_done.status == 0
    return a_done.connection_handle, b_done.connection_handle


# -- inquiry -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "result"),
    [(0, evts.InquiryResult), (1, evts.InquiryResultWithRssi), (2, evts.ExtendedInquiryResult)],
)
async def test_inquiry_reports_in_the_requested_mode(
    autojump_clock: trio.testing.MockClock, mode: int, result: type[HciEvent]
) -> None:
    async with two_controllers() as (a, b):
        eir = bytes([0x05, 0x09]) + b"spam"
        await b.ok(cmds.WriteClassOfDevice(COD_PHONE))
        await b.ok(cmds.WriteExtendedInquiryResponse(0, eir.ljust(240, b"\0")))
        await b.ok(cmds.WriteScanEnable(0x01))
        await a.ok(cmds.WriteInquiryMode(mode))
        start = trio.current_time()
        status = await a.run(cmds.Inquiry(0x9E8B33, 2, 0))
        assert status == b"\x00"
        report = await a.event(result)
        if isinstance(report, evts.ExtendedInquiryResult):
            assert report.bd_addr == b.address and report.class_of_device == COD_PHONE
            assert report.extended_inquiry_response.startswith(eir)
        else:
            assert isinstance(report, evts.InquiryResult | evts.InquiryResultWithRssi)
            responses = report.responses
            assert [(r.bd_addr, r.class_of_device) for r in responses] == [(b.address, COD_PHONE)]
        done = await a.event(evts.InquiryComplete)
        assert isinstance(done, evts.InquiryComplete) and done.status == 0
        assert trio.current_time() - start == pytest.approx(2 * 1.28)


async def test_inquiry_cancel_and_bad_inquiry_parameters(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_controllers() as (a, _b):
        assert await a.run(cmds.Inquiry(0x9E8B33, 0, 0)) == b"\x12"  # length 0 is invalid
        assert await a.run(cmds.InquiryCancel()) == b"\x0c"  # nothing to cancel
        assert await a.run(cmds.Inquiry(0x9E8B33, 4, 0)) == b"\x00"
        assert await a.run(cmds.Inquiry(0x9E8B33, 4, 0)) == b"\x0c"  # already running
        assert await a.run(cmds.InquiryCancel()) == b"\x00"
        await trio.sleep(10)
        assert not a.pending(evts.InquiryComplete)


async def test_inquiry_does_not_find_a_device_without_inquiry_scan(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_controllers() as (a, b):
        await b.ok(cmds.WriteScanEnable(0x02))  # page scan only
        await a.ok(cmds.Inquiry(0x9E8B33, 1, 0))
        await a.event(evts.InquiryComplete)
        assert not a.pending(evts.InquiryResult)


# -- paging ----------------------------------------------------------------------------------


async def test_page_accept_and_acl_both_ways(autojump_clock: trio.testing.MockClock) -> None:
    async with two_controllers() as (a, b):
        await b.ok(cmds.WriteClassOfDevice(COD_PHONE))
        await b.ok(cmds.WriteScanEnable(0x02))
        await a.ok(cmds.WriteClassOfDevice(0x1F00))
        await a.ok(cmds.CreateConnection(b.address, 0xCC18, 0x01, 0, 0, 0))
        request = await b.event(evts.ConnectionRequest)
        assert request == evts.ConnectionRequest(a.address, 0x1F00, 0x01)
        await b.ok(cmds.AcceptConnectionRequest(a.address, 0x01))
        a_done = await a.event(evts.ConnectionComplete)
        b_done = await b.event(evts.ConnectionComplete)
        assert isinstance(a_done, evts.ConnectionComplete)
        assert isinstance(b_done, evts.ConnectionComplete)
        assert (a_done.status, a_done.bd_addr, a_done.link_type) == (0, b.address, 1)
        assert (b_done.status, b_done.bd_addr) == (0, a.address)
        assert not a.pending(evts.RoleChange) and not b.pending(evts.RoleChange)
        roles = await a.run(cmds.RoleDiscovery(a_done.connection_handle))
        assert roles == b"\x00" + struct.pack("<HB", a_done.connection_handle, 0x00)
        await a.host.send_acl(a_done.connection_handle, b"\x04\x00\x01\x00ping", 0b00)
        assert (await b.host.take_acl())[4:] == b"\x04\x00\x01\x00ping"
        await b.host.send_acl(b_done.connection_handle, b"\x04\x00\x01\x00pong", 0b00)
        assert (await a.host.take_acl())[4:] == b"\x04\x00\x01\x00pong"


async def test_accept_with_role_switch_reports_role_change_on_both_sides(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_controllers() as (a, b):
        _, handle_b = await connect(a, b, role=0x00)
        assert await a.event(evts.RoleChange) == evts.RoleChange(0, b.address, 0x01)
        assert await b.event(evts.RoleChange) == evts.RoleChange(0, a.address, 0x00)
        reply = await b.run(cmds.RoleDiscovery(handle_b))
        assert reply[3] == 0x00  # B is now central


async def test_reject_reaches_both_hosts(autojump_clock: trio.testing.MockClock) -> None:
    async with two_controllers() as (a, b):
        await b.ok(cmds.WriteScanEnable(0x02))
        await a.ok(cmds.CreateConnection(b.address, 0xCC18, 0x01, 0, 0, 1))
        await b.event(evts.ConnectionRequest)
        assert await b.run(cmds.RejectConnectionRequest(a.address, 0x12)) == b"\x12"
        assert await b.run(cmds.RejectConnectionRequest(a.address, 0x0F)) == b"\x00"
        a_done = await a.event(evts.ConnectionComplete)
        b_done = await b.event(evts.ConnectionComplete)
        assert isinstance(a_done, evts.ConnectionComplete) and a_done.status == 0x0F
        assert isinstance(b_done, evts.ConnectionComplete) and b_done.status == 0x0F


@pytest.mark.parametrize("refuse", [False, True])
async def test_page_timeout_without_page_scan_or_when_refused(
    autojump_clock: trio.testing.MockClock, refuse: bool
) -> None:
    async with two_controllers() as (a, b):
        if refuse:
            await b.ok(cmds.WriteScanEnable(0x02))
            a.controller.air.faults.refuse_connections(b.address)
        await a.ok(cmds.WritePageTimeout(0x0640))  # 1 s
        start = trio.current_time()
        await a.ok(cmds.CreateConnection(b.address, 0xCC18, 0x01, 0, 0, 1))
        done = await a.event(evts.ConnectionComplete)
        assert isinstance(done, evts.ConnectionComplete) and done.status == 0x04
        assert trio.current_time() - start == pytest.approx(1.0)
        assert not b.pending(evts.ConnectionRequest)


async def test_connection_accept_timeout_rejects(autojump_clock: trio.testing.MockClock) -> None:
    async with two_controllers() as (a, b):
        await b.ok(cmds.WriteScanEnable(0x02))
        await a.ok(cmds.CreateConnection(b.address, 0xCC18, 0x01, 0, 0, 1))
        await b.event(evts.ConnectionRequest)
        a_done = await a.event(evts.ConnectionComplete)
        assert isinstance(a_done, evts.ConnectionComplete) and a_done.status == 0x10


async def test_create_connection_cancel(autojump_clock: trio.testing.MockClock) -> None:
    async with two_controllers() as (a, b):
        cancel = cmds.CreateConnectionCancel(b.address)
        assert await a.run(cancel) == b"\x02" + b.address.to_wire()
        await a.ok(cmds.CreateConnection(b.address, 0xCC18, 0x01, 0, 0, 1))
        assert await a.run(cmds.CreateConnection(b.address, 0xCC18, 0x01, 0, 0, 1)) == b"\x0c"
        assert await a.run(cancel) == b"\x00" + b.address.to_wire()
        done = await a.event(evts.ConnectionComplete)
        assert isinstance(done, evts.ConnectionComplete) and done.status == 0x02


# -- remote name and features ------------------------------------------------------------


async def test_remote_name_without_connection(autojump_clock: trio.testing.MockClock) -> None:
    async with two_controllers() as (a, b):
        await b.ok(cmds.WriteLocalName("bravo"))
        await b.ok(cmds.WriteScanEnable(0x02))
        assert await a.run(cmds.RemoteNameRequest(b.address, 1, 0, 0)) == b"\x00"
        done = await a.event(evts.RemoteNameRequestComplete)
        assert done == evts.RemoteNameRequestComplete(0, b.address, "bravo")
        features = await a.event(evts.RemoteHostSupportedFeaturesNotification)
        assert isinstance(features, evts.RemoteHostSupportedFeaturesNotification)
        assert features.host_supported_features & 0b1001 == 0b1001  # SSP + SC host


async def test_remote_name_of_unreachable_device_times_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_controllers() as (a, b):
        await a.ok(cmds.RemoteNameRequest(b.address, 1, 0, 0))
        done = await a.event(evts.RemoteNameRequestComplete)
        assert isinstance(done, evts.RemoteNameRequestComplete) and done.status == 0x04


async def test_remote_features_pages(autojump_clock: trio.testing.MockClock) -> None:
    async with two_controllers(secure_connections=False) as (a, b):
        handle, _ = await connect(a, b)
        await a.ok(cmds.ReadRemoteSupportedFeatures(handle))
        page0 = await a.event(evts.ReadRemoteSupportedFeaturesComplete)
        expected0 = int.from_bytes(b.controller.config.lmp_feature_page(0), "little")
        assert page0 == evts.ReadRemoteSupportedFeaturesComplete(0, handle, expected0)
        for page, expected in ((1, 0b0001), (2, 0x0300), (3, 0)):
            await a.ok(cmds.ReadRemoteExtendedFeatures(handle, page))
            reply = await a.event(evts.ReadRemoteExtendedFeaturesComplete)
            assert reply == evts.ReadRemoteExtendedFeaturesComplete(0, handle, page, 2, expected)
        assert await a.run(cmds.ReadRemoteSupportedFeatures(0x0123)) == b"\x02"


# -- security ----------------------------------------------------------------------------


@attrs.define
class Pairing:
    """What each host saw during one SSP run."""

    confirmation_values: list[int] = attrs.field(factory=list)
    passkey_requests: int = 0
    notified_passkey: int | None = None
    link_key: bytes | None = None
    key_type: int | None = None
    simple_pairing_status: int | None = None


async def answer_pairing(
    side: Side,
    peer: Address,
    io: int,
    *,
    confirm: bool = True,
    passkey: int | None = None,
    shown: list[int] | None = None,
) -> Pairing:
    """Play the host: answer every SSP request until Simple Pairing Complete."""
    seen = Pairing()
    codes = {
        evts.IoCapabilityRequest.EVENT_CODE,
        evts.UserConfirmationRequest.EVENT_CODE,
        evts.UserPasskeyRequest.EVENT_CODE,
        evts.UserPasskeyNotification.EVENT_CODE,
        evts.SimplePairingComplete.EVENT_CODE,
    }
    while True:
        event = await side.host.take_event(lambda e: e[0] in codes)
        code, parameters = event[0], event[2:]
        if code == evts.IoCapabilityRequest.EVENT_CODE:
            await side.ok(cmds.IoCapabilityRequestReply(peer, io, 0, MITM_GENERAL_BONDING))
        elif code == evts.UserConfirmationRequest.EVENT_CODE:
            value = evts.UserConfirmationRequest.from_parameters(parameters).numeric_value
            seen.confirmation_values.append(value)
            reply = (
                cmds.UserConfirmationRequestReply
                if confirm
                else cmds.UserConfirmationRequestNegativeReply
            )
            answer = await side.run(reply(peer))
            # 0x0C: the other user already refused, so the pairing is over before this reply.
            assert answer in (b"\x00" + peer.to_wire(), b"\x0c" + peer.to_wire())
        elif code == evts.UserPasskeyNotification.EVENT_CODE:
            seen.notified_passkey = evts.UserPasskeyNotification.from_parameters(parameters).passkey
            if shown is not None:
                shown.append(seen.notified_passkey)
        elif code == evts.UserPasskeyRequest.EVENT_CODE:
            seen.passkey_requests += 1
            typed = passkey
            while typed is None:
                if shown:
                    typed = shown[-1]
                else:
                    await trio.sleep(0)
            await side.ok(cmds.UserPasskeyRequestReply(peer, typed))
        else:
            done = evts.SimplePairingComplete.from_parameters(parameters)
            seen.simple_pairing_status = done.status
            if done.status == 0:
                notification = await side.event(evts.LinkKeyNotification)
                assert isinstance(notification, evts.LinkKeyNotification)
                seen.link_key, seen.key_type = notification.link_key, notification.key_type
            return seen


async def pair(
    a: Side, b: Side, handle: int, io_a: int, io_b: int, **options: object
) -> tuple[Pairing, Pairing, int]:
    await a.ok(cmds.AuthenticationRequested(handle))
    await a.event(evts.LinkKeyRequest)
    await a.ok(cmds.LinkKeyRequestNegativeReply(b.address))
    shown: list[int] = []
    results: dict[str, Pairing] = {}
    a_options = {k[2:]: v for k, v in options.items() if k.startswith("a_")}
    b_options = {k[2:]: v for k, v in options.items() if k.startswith("b_")}

    async def run(name: str, side: Side, peer: Address, io: int, extra: dict[str, object]) -> None:
        results[name] = await answer_pairing(side, peer, io, shown=shown, **extra)  # type: ignore[arg-type]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, "a", a, b.address, io_a, a_options)
        nursery.start_soon(run, "b", b, a.address, io_b, b_options)
    complete = await a.event(evts.AuthenticationComplete)
    assert isinstance(complete, evts.AuthenticationComplete)
    return results["a"], results["b"], complete.status


# Key types by association model and curve: (initiator IO, responder IO) -> (P-192, P-256).
KEY_TYPES = {
    (DISPLAY_YES_NO, DISPLAY_YES_NO): (0x05, 0x08),  # numeric comparison
    (NO_IO, DISPLAY_YES_NO): (0x04, 0x07),  # just works
    (DISPLAY_ONLY, DISPLAY_YES_NO): (0x04, 0x07),  # just works (auto-confirm on A)
    (KEYBOARD_ONLY, DISPLAY_ONLY): (0x05, 0x08),  # passkey: A types, B shows
    (DISPLAY_YES_NO, KEYBOARD_ONLY): (0x05, 0x08),  # passkey: A shows, B types
    (KEYBOARD_ONLY, KEYBOARD_ONLY): (0x05, 0x08),  # passkey: both type
}


@pytest.mark.parametrize("secure_connections", [False, True])
@pytest.mark.parametrize(("io_a", "io_b"), list(KEY_TYPES))
async def test_ssp_association_models_and_key_types(
    autojump_clock: trio.testing.MockClock, io_a: int, io_b: int, secure_connections: bool
) -> None:
    async with two_controllers(secure_connections=secure_connections) as (a, b):
        handle, _ = await connect(a, b)
        options = {"a_passkey": 123456, "b_passkey": 123456} if (io_a, io_b) == (2, 2) else {}
        seen_a, seen_b, status = await pair(a, b, handle, io_a, io_b, **options)
        assert status == 0
        assert seen_a.simple_pairing_status == seen_b.simple_pairing_status == 0
        assert seen_a.link_key == seen_b.link_key and seen_a.link_key is not None
        expected_type = KEY_TYPES[(io_a, io_b)][int(secure_connections)]
        assert seen_a.key_type == seen_b.key_type == expected_type
        if KEYBOARD_ONLY in (io_a, io_b):
            assert seen_a.passkey_requests == int(io_a == KEYBOARD_ONLY)
            assert seen_b.passkey_requests == int(io_b == KEYBOARD_ONLY)
        else:
            assert len(seen_a.confirmation_values) == len(seen_b.confirmation_values) == 1
            assert seen_a.confirmation_values == seen_b.confirmation_values


async def test_io_capability_response_reaches_both_hosts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_controllers() as (a, b):
        handle, _ = await connect(a, b)
        await pair(a, b, handle, DISPLAY_YES_NO, NO_IO)
        on_a = await a.event(evts.IoCapabilityResponse)
        on_b = await b.event(evts.IoCapabilityResponse)
        assert on_a == evts.IoCapabilityResponse(b.address, NO_IO, 0, MITM_GENERAL_BONDING)
        assert on_b == evts.IoCapabilityResponse(a.address, DISPLAY_YES_NO, 0, MITM_GENERAL_BONDING)


async def test_wrong_passkey_fails_with_authentication_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_controllers() as (a, b):
        handle, _ = await connect(a, b)
        seen_a, seen_b, status = await pair(
            a, b, handle, KEYBOARD_ONLY, KEYBOARD_ONLY, a_passkey=111111, b_passkey=111112
        )
        assert status == 0x05
        assert seen_a.simple_pairing_status == seen_b.simple_pairing_status == 0x05
        assert seen_a.link_key is None and seen_b.link_key is None


async def test_rejected_confirmation_fails(autojump_clock: trio.testing.MockClock) -> None:
    async with two_controllers() as (a, b):
        handle, _ = await connect(a, b)
        seen_a, seen_b, status = await pair(
            a, b, handle, DISPLAY_YES_NO, DISPLAY_YES_NO, b_confirm=False
        )
        assert status == 0x05
        assert seen_a.simple_pairing_status == seen_b.simple_pairing_status == 0x05


async def reauthenticate(a: Side, b: Side, handle: int, key_a: bytes, key_b: bytes) -> int:
    await a.ok(cmds.AuthenticationRequested(handle))
    await a.event(evts.LinkKeyRequest)
    await a.ok(cmds.LinkKeyRequestReply(b.address, key_a))
    await b.event(evts.LinkKeyRequest)
    await b.ok(cmds.LinkKeyRequestReply(a.address, key_b))
    complete = await a.event(evts.AuthenticationComplete)
    assert isinstance(complete, evts.AuthenticationComplete)
    return complete.status


async def test_bonded_reauthentication_needs_the_same_key(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_controllers() as (a, b):
        handle, _ = await connect(a, b)
        key = bytes(range(16))
        assert await reauthenticate(a, b, handle, key, key) == 0
        assert await reauthenticate(a, b, handle, key, bytes(16)) == 0x06
        # A peer that lost the bond answers the challenge with "key missing".
        await a.ok(cmds.AuthenticationRequested(handle))
        await a.event(evts.LinkKeyRequest)
        await a.ok(cmds.LinkKeyRequestReply(b.address, key))
        await b.event(evts.LinkKeyRequest)
        await b.ok(cmds.LinkKeyRequestNegativeReply(a.address))
        complete = await a.event(evts.AuthenticationComplete)
        assert complete == evts.AuthenticationComplete(0x06, handle)


async def test_legacy_pin_negative_reply(autojump_clock: trio.testing.MockClock) -> None:
    async with two_controllers(ssp=False) as (a, b):
        handle, _ = await connect(a, b)
        await a.ok(cmds.AuthenticationRequested(handle))
        await a.event(evts.LinkKeyRequest)
        await a.ok(cmds.LinkKeyRequestNegativeReply(b.address))
        assert await a.event(evts.PinCodeRequest) == evts.PinCodeRequest(b.address)
        assert await a.run(cmds.PinCodeRequestNegativeReply(b.address)) == (
            b"\x00" + b.address.to_wire()
        )
        assert await a.event(evts.AuthenticationComplete) == evts.AuthenticationComplete(
            0x06, handle
        )


@pytest.mark.parametrize(("pin_b", "status"), [(b"0000", 0), (b"1234", 0x05)])
async def test_legacy_pin_pairing(
    autojump_clock: trio.testing.MockClock, pin_b: bytes, status: int
) -> None:
    async with two_controllers(ssp=False) as (a, b):
        handle, _ = await connect(a, b)
        await a.ok(cmds.AuthenticationRequested(handle))
        await a.event(evts.LinkKeyRequest)
        await a.ok(cmds.LinkKeyRequestNegativeReply(b.address))
        await a.event(evts.PinCodeRequest)
        await a.ok(cmds.PinCodeRequestReply(b.address, b"0000"))
        await b.event(evts.PinCodeRequest)
        await b.ok(cmds.PinCodeRequestReply(a.address, pin_b))
        complete = await a.event(evts.AuthenticationComplete)
        assert complete == evts.AuthenticationComplete(status, handle)
        if status == 0:
            key_a = await a.event(evts.LinkKeyNotification)
            key_b = await b.event(evts.LinkKeyNotification)
            assert key_a == evts.LinkKeyNotification(b.address, key_b.link_key, 0)


@pytest.mark.parametrize(("secure_connections", "mode"), [(False, 0x01), (True, 0x02)])
async def test_encryption_after_pairing(
    autojump_clock: trio.testing.MockClock, secure_connections: bool, mode: int
) -> None:
    async with two_controllers(secure_connections=secure_connections) as (a, b):
        handle_a, handle_b = await connect(a, b)
        assert await a.run(cmds.SetConnectionEncryption(handle_a, 1)) == b"\x0c"
        assert await a.run(cmds.ReadEncryptionKeySize(handle_a)) == b"\x0c" + struct.pack(
            "<HB", handle_a, 0
        )
        await pair(a, b, handle_a, NO_IO, NO_IO)
        assert await a.run(cmds.SetConnectionEncryption(handle_a, 1)) == b"\x00"
        assert await b.event(evts.EncryptionChange) == evts.EncryptionChange(0, handle_b, mode)
        assert await a.event(evts.EncryptionChange) == evts.EncryptionChange(0, handle_a, mode)
        assert await a.run(cmds.ReadEncryptionKeySize(handle_a)) == b"\x00" + struct.pack(
            "<HB", handle_a, 16
        )


async def test_small_key_size_is_negotiated_down(autojump_clock: trio.testing.MockClock) -> None:
    async with two_controllers() as (a, b):
        b.controller.feature(BrEdrSecurity).max_encryption_key_size = 1  # KNOB
        handle_a, handle_b = await connect(a, b)
        await pair(a, b, handle_a, NO_IO, NO_IO)
        await a.ok(cmds.SetConnectionEncryption(handle_a, 1))
        await a.event(evts.EncryptionChange)
        for side, handle in ((a, handle_a), (b, handle_b)):
            reply = await side.run(cmds.ReadEncryptionKeySize(handle))
            assert reply == b"\x00" + struct.pack("<HB", handle, 1)


# -- link loss and bad input ---------------------------------------------------------------


async def test_supervision_timeout_when_the_air_drops_the_link(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_controllers() as (a, b):
        handle_a, handle_b = await connect(a, b)
        (link,) = a.controller.air.links
        start = trio.current_time()
        a.controller.air.drop_link(link)
        lost_a = await a.event(evts.DisconnectionComplete)
        lost_b = await b.event(evts.DisconnectionComplete)
        assert lost_a == evts.DisconnectionComplete(0, handle_a, 0x08)
        assert lost_b == evts.DisconnectionComplete(0, handle_b, 0x08)
        assert trio.current_time() - start == pytest.approx(20.0)
        assert a.controller.feature(BrEdr).links == {}


async def test_disconnect_on_both_sides(autojump_clock: trio.testing.MockClock) -> None:
    async with two_controllers() as (a, b):
        handle_a, handle_b = await connect(a, b)
        assert await a.run(cmds.Disconnect(handle_a, 0x13)) == b"\x00"
        assert await a.event(evts.DisconnectionComplete) == evts.DisconnectionComplete(
            0, handle_a, 0x16
        )
        assert await b.event(evts.DisconnectionComplete) == evts.DisconnectionComplete(
            0, handle_b, 0x13
        )
        assert await a.run(cmds.AuthenticationRequested(handle_a)) == b"\x02"


async def test_out_of_state_and_malformed_commands_get_error_statuses(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_controllers() as (a, b):
        assert await a.run(cmds.WriteScanEnable(4)) == b"\x12"
        assert await a.run(cmds.WriteInquiryMode(3)) == b"\x12"
        assert await a.run(cmds.AuthenticationRequested(0x0001)) == b"\x02"
        reply = await a.run(cmds.UserConfirmationRequestReply(b.address))
        assert reply == b"\x02" + b.address.to_wire()
        assert await a.run(cmds.AcceptConnectionRequest(b.address, 0)) == b"\x02"
        handle, _ = await connect(a, b)
        reply = await a.run(cmds.UserPasskeyRequestReply(b.address, 1))
        assert reply == b"\x0c" + b.address.to_wire()
        reply = await a.run(cmds.IoCapabilityRequestReply(b.address, 7, 0, 0))
        assert reply == b"\x12" + b.address.to_wire()
        assert await a.run(cmds.SetConnectionEncryption(handle, 2)) == b"\x12"
        # Truncated parameters: 0x12, never silence.
        await a.host.send_command(cmds.WriteScanEnable.OPCODE, b"")
        assert await a.host.take_reply(cmds.WriteScanEnable.OPCODE) == b"\x12"
        assert await a.run(cmds.CreateConnection(b.address, 0xCC18, 0x01, 0, 0, 1)) == b"\x0b"


async def start_oob_pairing(a: Side, b: Side, handle: int) -> evts.RemoteOobDataRequest:
    """A pairs with B saying it holds B's OOB data; returns A's Remote_OOB_Data_Request."""
    await a.ok(cmds.AuthenticationRequested(handle))
    await a.event(evts.LinkKeyRequest)
    await a.ok(cmds.LinkKeyRequestNegativeReply(b.address))
    await a.event(evts.IoCapabilityRequest)
    await a.ok(cmds.IoCapabilityRequestReply(b.address, NO_IO, 1, MITM_GENERAL_BONDING))
    await b.event(evts.IoCapabilityRequest)
    await b.ok(cmds.IoCapabilityRequestReply(a.address, NO_IO, 0, MITM_GENERAL_BONDING))
    return await a.event(evts.RemoteOobDataRequest)


async def test_oob_pairing_with_data_read_from_the_peer_controller(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_controllers() as (a, b):
        handle, _ = await connect(a, b)
        # B's host hands its OOB data to A's host out of band (Vol 4 Part E 7.3.95).
        oob = await b.host.run(cmds.ReadLocalOobExtendedData())
        assert oob[0] == 0 and len(oob) == 65
        assert await start_oob_pairing(a, b, handle) == evts.RemoteOobDataRequest(b.address)
        c_192, r_192, c_256, r_256 = (oob[1 + 16 * i : 17 + 16 * i] for i in range(4))
        await a.ok(cmds.RemoteOobExtendedDataRequestReply(b.address, c_192, r_192, c_256, r_256))
        for side, peer in ((a, b), (b, a)):
            assert await side.event(evts.SimplePairingComplete) == evts.SimplePairingComplete(
                0, peer.address
            )
            notification = await side.event(evts.LinkKeyNotification)
            assert notification.key_type == 0x08  # OOB is authenticated; P-256 here
        assert await a.event(evts.AuthenticationComplete) == evts.AuthenticationComplete(0, handle)
        assert not b.pending(evts.RemoteOobDataRequest)


async def test_oob_pairing_with_stale_data_fails(autojump_clock: trio.testing.MockClock) -> None:
    async with two_controllers() as (a, b):
        handle, _ = await connect(a, b)
        await start_oob_pairing(a, b, handle)
        forged = bytes(16)
        await a.ok(cmds.RemoteOobExtendedDataRequestReply(b.address, *(forged,) * 4))
        for side, peer in ((a, b), (b, a)):
            assert await side.event(evts.SimplePairingComplete) == evts.SimplePairingComplete(
                0x05, peer.address
            )
        assert await a.event(evts.AuthenticationComplete) == evts.AuthenticationComplete(
            0x05, handle
        )
