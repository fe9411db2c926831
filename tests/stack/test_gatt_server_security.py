"""The GATT server's permissions against the link's real security, on two stacks on the
virtual controller (Core 5.4 Vol 3 Part F 3.4.4.3, 3.4.5.1; Vol 3 Part C 10.3): before
pairing a protected value is answered with the error that tells the client what to do, after
a Just Works pairing (encrypted, not authenticated, 16 octets) what encryption allows is
served and what needs authentication still is not; the CCCD of a protected value the same."""

from __future__ import annotations

import trio
from trio.testing import MockClock

from bluetrio.messages.att import (
    AttErrorCode,
    AttOpcode,
    ErrorResponse,
    ReadRequest,
    ReadResponse,
    WriteRequest,
    WriteResponse,
)
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.gatt_declarations import (
    AccessSecurity,
    Characteristic,
    Permissions,
    Properties,
    Service,
)
from bluetrio.testing import open_stack_pair


def protected(security: AccessSecurity, value: bytes) -> Characteristic:
    return Characteristic(
        0x2A3D,
        Properties.READ | Properties.NOTIFY,
        value=value,
        permissions=Permissions(readable=True, read_security=security),
    )


async def test_protected_values_before_and_after_pairing(autojump_clock: MockClock) -> None:
    encrypted = protected(AccessSecurity(encryption=True, min_key_size=16), b"secret")
    authenticated = protected(AccessSecurity(authentication=True), b"mitm only")
    service = Service(0x180F, (encrypted, authenticated))
    async with open_stack_pair({}, {"pairable": True}) as (a, b):
        handles = await b.gatt_server.add_service(service)
        first, second = handles.characteristics
        assert first.cccd is not None
        address = (await b.ready()).address
        async with b.advertise(), a.connect(address) as link, b.accept(LinkTransport.LE):

            def refused(handle: int, code: AttErrorCode, opcode: AttOpcode) -> ErrorResponse:
                return ErrorResponse(int(opcode), handle, int(code))

            read = AttOpcode.READ_REQUEST
            assert await link.att.exchange(ReadRequest(first.value)) == refused(
                first.value, AttErrorCode.INSUFFICIENT_ENCRYPTION, read
            )
            assert await link.att.exchange(ReadRequest(second.value)) == refused(
                second.value, AttErrorCode.INSUFFICIENT_AUTHENTICATION, read
            )
            subscribe = WriteRequest(first.cccd, b"\x01\x00")
            assert await link.att.exchange(subscribe) == refused(
                first.cccd, AttErrorCode.INSUFFICIENT_ENCRYPTION, AttOpcode.WRITE_REQUEST
            )
            with trio.fail_after(30):
                result = await link.pair()
            assert not result.authenticated and result.key_size == 16
            await trio.testing.wait_all_tasks_blocked()
            assert await link.att.exchange(ReadRequest(first.value)) == ReadResponse(b"secret")
            assert await link.att.exchange(subscribe) == WriteResponse()
            # Just Works is not authenticated (no MITM protection).
            assert await link.att.exchange(ReadRequest(second.value)) == refused(
                second.value, AttErrorCode.INSUFFICIENT_AUTHENTICATION, read
            )
