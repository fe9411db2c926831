"""H4 over a serial port (a UART controller), through trio-serial (Core 5.4 Vol 4 Part A)."""

from __future__ import annotations

from bluetrio.errors import TransportError
from bluetrio.transports.h4 import H4Role
from bluetrio.transports.spec import SerialSpec
from bluetrio.transports.stream import H4StreamTransport

try:
    from termios import error as TerminalError  # POSIX only
except ImportError:  # pragma: no cover - Windows has no termios
    TerminalError = OSError  # type: ignore[assignment,misc]


async def open_serial_transport(
    spec: SerialSpec, *, role: H4Role = H4Role.HOST
) -> H4StreamTransport:
    """Open and configure the serial port (8N1, the spec's baud rate and flow control)."""
    try:
        import trio_serial
    except ImportError as exc:
        raise TransportError(
            f"{spec}: serial transports need trio-serial (pip install 'bluetrio[serial]')"
        ) from exc
    # Core 5.4 Vol 4 Part A 1: 8 data bits, no parity, one stop bit, RTS/CTS when wired.
    stream = trio_serial.SerialStream(
        spec.path, baudrate=spec.baudrate, rtscts=spec.rtscts, exclusive=True
    )
    try:
        await stream.aopen()
    # termios.error (not an OSError) when the path is no terminal, e.g. /dev/null.
    except (OSError, TerminalError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) else exc.args[-1]
        raise TransportError(f"{spec}: cannot open the serial port: {problem}") from exc
    return H4StreamTransport(stream, role=role, description=str(spec))
