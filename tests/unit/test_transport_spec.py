"""Transport specification strings: every accepted form, and clear refusals."""

from __future__ import annotations

import pytest

from bluetrio.errors import InvalidArgumentError, TransportSpecError
from bluetrio.transports.spec import (
    ACCEPTED_FORMS,
    SerialSpec,
    TcpSpec,
    TransportSpec,
    UnixSpec,
    UsbSpec,
    VirtualSpec,
    parse_transport_spec,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("serial:/dev/ttyUSB0", SerialSpec("/dev/ttyUSB0", 1_000_000, False)),
        ("serial:/dev/ttyACM0,115200", SerialSpec("/dev/ttyACM0", 115_200, False)),
        ("serial:/dev/ttyS1,3000000,rtscts", SerialSpec("/dev/ttyS1", 3_000_000, True)),
        ("serial:/dev/ttyS1,rtscts", SerialSpec("/dev/ttyS1", 1_000_000, True)),
        ("usb", UsbSpec(index=0)),
        ("usb:", UsbSpec(index=0)),
        ("usb:2", UsbSpec(index=2)),
        ("usb:0a12:0001", UsbSpec(vendor_id=0x0A12, product_id=0x0001)),
        ("USB:0x8087:0AAA", UsbSpec(vendor_id=0x8087, product_id=0x0AAA)),
        ("tcp:127.0.0.1:6402", TcpSpec("127.0.0.1", 6402)),
        ("tcp:localhost:1", TcpSpec("localhost", 1)),
        ("tcp:[::1]:6402", TcpSpec("::1", 6402)),
        ("unix:/run/hci.sock", UnixSpec("/run/hci.sock")),
        ("virtual", VirtualSpec(None)),
        ("virtual:", VirtualSpec(None)),
        ("virtual:lab", VirtualSpec("lab")),
    ],
)
def test_accepted_forms(text: str, expected: TransportSpec) -> None:
    assert parse_transport_spec(text) == expected


@pytest.mark.parametrize(
    "spec",
    [
        SerialSpec("/dev/ttyUSB0", 115_200, True),
        UsbSpec(index=3),
        UsbSpec(vendor_id=0x0A12, product_id=1),
        TcpSpec("::1", 6402),
        TcpSpec("example.org", 6402),
        UnixSpec("/tmp/x"),
        VirtualSpec("lab"),
        VirtualSpec(),
    ],
)
def test_str_round_trips(spec: TransportSpec) -> None:
    assert parse_transport_spec(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "unknown transport"),
        ("bluetooth", "unknown transport"),
        ("hci0", "unknown transport"),
        ("serial", "needs an argument"),
        ("serial:", "no device path"),
        ("serial:/dev/x,fast", "unexpected serial option"),
        ("serial:/dev/x,9600,9600", "unexpected serial option"),
        ("serial:/dev/x,rtscts,9600", "unexpected serial option"),
        ("serial:/dev/x,0", "baud rate"),
        ("serial:/dev/x,99999999999", "baud rate"),
        ("usb:first", "index or hex VID:PID"),
        ("usb:12345:1", "not a 16-bit hex number"),
        ("usb:0a12:", "not a 16-bit hex number"),
        ("usb:0a12:zz", "not a 16-bit hex number"),
        ("usb:\u00b2", "index or hex VID:PID"),
        ("tcp:", "no host"),
        ("tcp:localhost", "port"),
        ("tcp:localhost:0", "port"),
        ("tcp:localhost:65536", "port"),
        ("tcp:localhost:http", "port"),
        ("tcp:::1:6402", "IPv6"),
        ("tcp:[::1]6402", "IPv6"),
        ("tcp:[::1", "IPv6"),
        ("unix:", "no socket path"),
        ("unix", "needs an argument"),
        ("x" * 5000, "longer than"),
    ],
)
def test_refusals_name_every_accepted_form(text: str, problem: str) -> None:
    with pytest.raises(TransportSpecError, match=problem) as caught:
        parse_transport_spec(text)
    for form in ACCEPTED_FORMS:
        assert form in str(caught.value)


def test_spec_errors_are_invalid_argument_errors() -> None:
    with pytest.raises(InvalidArgumentError):
        parse_transport_spec("nonsense:1")


def test_non_string_is_refused() -> None:
    with pytest.raises(TransportSpecError, match="must be a string"):
        parse_transport_spec(6402)  # type: ignore[arg-type]
