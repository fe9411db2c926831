"""Random databases discovered through the server the way a client does it (Core 5.4 Vol 3
Part G 4.4-4.7): every handle is reached, groups are contiguous, and a Read By Type or Read By
Group Type response never mixes value lengths."""

from __future__ import annotations

import itertools
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrio.actors.gatt.outputs import SendPdu
from bluetrio.actors.gatt.permissions import LinkSecurity
from bluetrio.actors.gatt.server import GattServer
from bluetrio.address import Address
from bluetrio.messages.att import (
    AttErrorCode,
    AttPdu,
    ErrorResponse,
    FindInformationRequest,
    FindInformationResponse,
    ReadByGroupTypeRequest,
    ReadByGroupTypeResponse,
    ReadByTypeRequest,
    ReadByTypeResponse,
    decode_pdu,
)
from bluetrio.messages.gatt_declarations import (
    Characteristic,
    Descriptor,
    ExtendedProperties,
    PresentationFormat,
    Properties,
    Service,
)
from bluetrio.messages.uuids import uuid16, uuid_from_att_bytes

LINK = 0x0001
LAST = 0xFFFF

uuids = st.one_of(
    st.integers(0x3000, 0x3FFF).map(uuid16),
    st.uuids(version=4),
)


@st.composite
def characteristics(draw: st.DrawFn) -> Characteristic:
    properties = Properties(draw(st.integers(0, 0x7F)))
    extended = ExtendedProperties(draw(st.integers(0, 3)))
    description = draw(st.one_of(st.none(), st.text(max_size=10)))
    if extended & ExtendedProperties.RELIABLE_WRITE:
        properties |= Properties.WRITE
    if extended & ExtendedProperties.WRITABLE_AUXILIARIES and description is None:
        description = "aux"
    return Characteristic(
        draw(uuids),
        properties,
        value=draw(st.binary(max_size=40)) if properties & Properties.READ else b"",
        descriptors=draw(
            st.lists(
                st.builds(
                    Descriptor, st.integers(0x2905, 0x2910).map(uuid16), st.binary(max_size=8)
                ),
                max_size=3,
            )
        ),
        user_description=description,
        presentation_format=draw(
            st.one_of(st.none(), st.builds(PresentationFormat, st.integers(1, 0x1B)))
        ),
        extended_properties=extended,
    )


@st.composite
def databases(draw: st.DrawFn) -> list[Service]:
    services: list[Service] = []
    for _ in range(draw(st.integers(0, 6))):
        included = (
            draw(st.lists(st.sampled_from(services), unique=True, max_size=2)) if services else []
        )
        services.append(
            Service(
                draw(uuids),
                draw(st.lists(characteristics(), max_size=4)),
                primary=draw(st.booleans()),
                included=included,
            )
        )
    return services


class Client:
    """Discovery through the server's answers, each checked to fit the MTU."""

    def __init__(self, server: GattServer, mtu: int) -> None:
        self.server = server
        self.mtu = mtu

    def ask(self, pdu: AttPdu) -> AttPdu:
        outputs = self.server.on_request(LINK, 0, pdu, self.mtu, 0.0)
        assert len(outputs) == 1 and isinstance(outputs[0], SendPdu)
        encoded = outputs[0].pdu.encode()
        assert len(encoded) <= self.mtu
        return decode_pdu(encoded)

    def read_by_type(self, start: int, end: int, type_: uuid.UUID) -> list[tuple[int, bytes]]:
        found: list[tuple[int, bytes]] = []
        while start <= end:
            response = self.ask(ReadByTypeRequest(start, end, type_))
            if isinstance(response, ErrorResponse):
                assert response.error_code == AttErrorCode.ATTRIBUTE_NOT_FOUND
                break
            assert isinstance(response, ReadByTypeResponse)
            assert len({len(value) for _, value in response.entries}) == 1
            found.extend(response.entries)
            start = response.entries[-1][0] + 1
        return found

    def primary_services(self) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        start = 1
        while start <= LAST:
            response = self.ask(ReadByGroupTypeRequest(start, LAST, uuid16(0x2800)))
            if isinstance(response, ErrorResponse):
                assert response.error_code == AttErrorCode.ATTRIBUTE_NOT_FOUND
                break
            assert isinstance(response, ReadByGroupTypeResponse)
            assert len({len(value) for _, _, value in response.entries}) == 1
            found.extend((handle, end) for handle, end, _ in response.entries)
            start = response.entries[-1][1] + 1
        return found

    def information(self, start: int, end: int) -> list[int]:
        found: list[int] = []
        while start <= end:
            response = self.ask(FindInformationRequest(start, end))
            if isinstance(response, ErrorResponse):
                assert response.error_code == AttErrorCode.ATTRIBUTE_NOT_FOUND
                break
            assert isinstance(response, FindInformationResponse)
            found.extend(handle for handle, _ in response.entries)
            start = response.entries[-1][0] + 1
        return found

    def everything(self) -> set[int]:
        reached: set[int] = set()
        services = self.primary_services()
        seen = set(services)
        while services:
            start, end = services.pop()
            reached.add(start)
            for handle, value in self.read_by_type(start, end, uuid16(0x2802)):
                reached.add(handle)
                included = (
                    int.from_bytes(value[0:2], "little"),
                    int.from_bytes(value[2:4], "little"),
                )
                if included not in seen:
                    seen.add(included)
                    services.append(included)
            declarations = self.read_by_type(start, end, uuid16(0x2803))
            for index, (handle, value) in enumerate(declarations):
                value_handle = int.from_bytes(value[1:3], "little")
                assert value_handle == handle + 1
                uuid_from_att_bytes(value[3:])
                reached.update((handle, value_handle))
                last = declarations[index + 1][0] - 1 if index + 1 < len(declarations) else end
                reached.update(self.information(value_handle + 1, last))
        return reached


@settings(max_examples=60, deadline=None)
@given(databases(), st.sampled_from([23, 24, 50, 185, 517]))
def test_every_handle_is_reached_by_discovery(services: list[Service], mtu: int) -> None:
    server = GattServer()
    placed = [server.add_service(service) for service in services]
    server.on_link_up(LINK, Address.parse("00:00:00:00:00:01"), LinkSecurity(), bonded=False)
    client = Client(server, mtu)
    every = {attribute.handle for attribute in server.database}
    # A secondary service is reached only through an include (Vol 3 Part G 2.6.3).
    reachable = [server.gap_handles] + [
        h for s, h in zip(services, placed, strict=True) if s.primary
    ]
    by_service = {id(s): h for s, h in zip(services, placed, strict=True)}
    todo = [s for s in services if s.primary]
    while todo:
        for included in todo.pop().included:
            if by_service[id(included)] not in reachable:
                reachable.append(by_service[id(included)])
                todo.append(included)
    expected = {h for r in reachable for h in range(r.service, r.end + 1)}
    assert client.everything() == expected
    assert set(client.information(1, LAST)) == every
    # Groups are contiguous: each service's attributes are exactly its range.
    ranges = sorted((s.service, s.end) for s in [server.gap_handles, *placed])
    for (_, end), (next_start, _) in itertools.pairwise(ranges):
        assert end < next_start
    for attribute in server.database:
        owner = next(r for r in ranges if r[0] <= attribute.handle <= r[1])
        assert attribute.service == owner[0]
