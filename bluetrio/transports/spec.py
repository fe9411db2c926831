"""Transport specification strings: which controller to open, and how.

A specification is a short string a person types on a command line, such as
``serial:/dev/ttyUSB0,115200,rtscts``, ``usb:0a12:0001``, ``tcp:[::1]:6402`` or ``virtual``.
:func:`parse_transport_spec` turns it into one of the attrs classes below.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import attrs

from bluetrio.errors import TransportSpecError

DEFAULT_SERIAL_BAUDRATE = 1_000_000
MAX_SERIAL_BAUDRATE = 50_000_000
# Longest specification accepted; a path or host name never needs more.
MAX_SPEC_LENGTH = 1024

ACCEPTED_FORMS = (
    "serial:PATH[,BAUD][,rtscts]",
    "usb:[INDEX|VID:PID]",
    "tcp:HOST:PORT",
    "unix:PATH",
    "virtual[:NAME]",
)


@attrs.frozen
class SerialSpec:
    """An H4 UART: a serial device path, its baud rate, and RTS/CTS flow control."""

    path: str
    baudrate: int = DEFAULT_SERIAL_BAUDRATE
    rtscts: bool = False

    def __str__(self) -> str:
        return f"serial:{self.path},{self.baudrate}" + (",rtscts" if self.rtscts else "")


@attrs.frozen
class UsbSpec:
    """A USB controller: the Nth one found (``index``), or the first with a vendor/product ID."""

    index: int = 0
    vendor_id: int | None = None
    product_id: int | None = None

    def __str__(self) -> str:
        if self.vendor_id is not None and self.product_id is not None:
            return f"usb:{self.vendor_id:04x}:{self.product_id:04x}"
        return f"usb:{self.index}"


@attrs.frozen
class TcpSpec:
    """H4 over a TCP connection."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp:{host}:{self.port}"


@attrs.frozen
class UnixSpec:
    """H4 over a Unix domain stream socket."""

    path: str

    def __str__(self) -> str:
        return f"unix:{self.path}"


@attrs.frozen
class VirtualSpec:
    """The in-process virtual controller on the named air (``None``: the default air)."""

    name: str | None = None

    def __str__(self) -> str:
        return "virtual" if self.name is None else f"virtual:{self.name}"


TransportSpec = SerialSpec | UsbSpec | TcpSpec | UnixSpec | VirtualSpec


def parse_transport_spec(text: str, *, kinds: Collection[str] | None = None) -> TransportSpec:
    """Parse a transport specification; raise TransportSpecError naming the accepted forms.

    ``kinds`` limits the transports accepted (e.g. ``("tcp", "unix")`` where only a socket
    makes sense); the error then lists only their forms.
    """
    allowed = set(_PARSERS) if kinds is None else set(kinds)
    forms = [form for form in ACCEPTED_FORMS if _kind_of(form) in allowed]
    try:
        return _parse(text, allowed)
    except _SpecProblem as problem:
        raise TransportSpecError(f"{problem}; accepted forms: {', '.join(forms)}") from None


def _kind_of(form: str) -> str:
    return form.partition(":")[0].partition("[")[0]


def _parse(text: str, allowed: set[str]) -> TransportSpec:
    if not isinstance(text, str):
        raise _spec_error(f"a transport specification must be a string, got {type(text).__name__}")
    if len(text) > MAX_SPEC_LENGTH:
        raise _spec_error(f"transport specification longer than {MAX_SPEC_LENGTH} characters")
    kind, separator, rest = text.strip().partition(":")
    parser = _PARSERS.get(kind.lower())
    if parser is None:
        raise _spec_error(f"unknown transport {text!r}")
    if kind.lower() not in allowed:
        raise _spec_error(f"a {kind.lower()} transport cannot be used here ({text!r})")
    if not separator and kind.lower() not in ("usb", "virtual"):
        raise _spec_error(f"transport {text!r} needs an argument after '{kind}:'")
    return parser(rest, text)


class _SpecProblem(Exception):
    """What is wrong with a specification; :func:`parse_transport_spec` adds the forms."""


def _spec_error(problem: str) -> _SpecProblem:
    return _SpecProblem(problem)


def _parse_serial(rest: str, text: str) -> SerialSpec:
    path, *options = rest.split(",")
    if not path:
        raise _spec_error(f"serial transport {text!r} has no device path")
    baudrate = DEFAULT_SERIAL_BAUDRATE
    rtscts = False
    seen_baudrate = False
    for option in options:
        if option.lower() == "rtscts" and not rtscts:
            rtscts = True
        elif _is_decimal(option) and not seen_baudrate and not rtscts:
            baudrate = int(option)
            seen_baudrate = True
            if not 0 < baudrate <= MAX_SERIAL_BAUDRATE:
                raise _spec_error(
                    f"serial baud rate in {text!r} must be from 1 to {MAX_SERIAL_BAUDRATE}"
                )
        else:
            raise _spec_error(f"unexpected serial option {option!r} in {text!r}")
    return SerialSpec(path, baudrate, rtscts)


def _parse_usb(rest: str, text: str) -> UsbSpec:
    if not rest:
        return UsbSpec()
    if _is_decimal(rest):
        return UsbSpec(index=int(rest))
    vendor, separator, product = rest.partition(":")
    if separator:
        vendor_id = _parse_usb_id(vendor, text)
        product_id = _parse_usb_id(product, text)
        return UsbSpec(vendor_id=vendor_id, product_id=product_id)
    raise _spec_error(f"USB transport {text!r} needs an index or hex VID:PID")


def _is_decimal(field: str) -> bool:
    # str.isdigit alone accepts non-ASCII digits such as superscripts, which int() refuses.
    return field.isascii() and field.isdigit()


def _parse_usb_id(field: str, text: str) -> int:
    digits = field[2:] if field.lower().startswith("0x") else field
    if not 1 <= len(digits) <= 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise _spec_error(f"USB ID {field!r} in {text!r} is not a 16-bit hex number")
    return int(digits, 16)


def _parse_tcp(rest: str, text: str) -> TcpSpec:
    if rest.startswith("["):
        host, bracket, port_part = rest[1:].partition("]")
        if not bracket or not port_part.startswith(":"):
            raise _spec_error(f"TCP transport {text!r}: write IPv6 hosts as [ADDRESS]:PORT")
        port_text = port_part[1:]
    else:
        host, separator, port_text = rest.rpartition(":")
        if not separator and host == "" and port_text:
            raise _spec_error(f"TCP transport {text!r} has no port (write tcp:HOST:PORT)")
        if ":" in host:
            raise _spec_error(f"TCP transport {text!r}: write IPv6 hosts as [ADDRESS]:PORT")
    if not host:
        raise _spec_error(f"TCP transport {text!r} has no host")
    if not _is_decimal(port_text) or not 0 < int(port_text) <= 0xFFFF:
        raise _spec_error(f"TCP port in {text!r} must be a number from 1 to 65535")
    return TcpSpec(host, int(port_text))


def _parse_unix(rest: str, text: str) -> UnixSpec:
    if not rest:
        raise _spec_error(f"unix transport {text!r} has no socket path")
    return UnixSpec(rest)


def _parse_virtual(rest: str, text: str) -> VirtualSpec:
    return VirtualSpec(rest or None)


_PARSERS: dict[str, Callable[[str, str], TransportSpec]] = {
    "serial": _parse_serial,
    "usb": _parse_usb,
    "tcp": _parse_tcp,
    "unix": _parse_unix,
    "virtual": _parse_virtual,
}
