"""H4 over TCP and Unix stream sockets: clients, and a server for the virtual controller."""

from __future__ import annotations

import contextlib
import errno
import os
import socket as stdlib_socket
import stat
from collections.abc import Awaitable, Callable

import trio

from bluetrio.errors import InvalidArgumentError, TransportError
from bluetrio.transports.base import Transport
from bluetrio.transports.h4 import H4Role
from bluetrio.transports.spec import TcpSpec, UnixSpec, parse_transport_spec
from bluetrio.transports.stream import H4StreamTransport

LISTEN_KINDS = ("tcp", "unix")  # the transports a server can listen on

SocketSpec = TcpSpec | UnixSpec
ConnectionHandler = Callable[[Transport], Awaitable[None]]


async def open_socket_transport(
    spec: SocketSpec, *, role: H4Role = H4Role.HOST
) -> H4StreamTransport:
    """Connect to an H4 server (a controller, or an emulator such as Root Canal)."""
    stream: trio.abc.Stream
    try:
        if isinstance(spec, TcpSpec):
            stream = await trio.open_tcp_stream(spec.host, spec.port)
        else:
            stream = await trio.open_unix_socket(spec.path)
    except OSError as exc:
        raise TransportError(f"{spec}: cannot connect ({exc})") from exc
    return H4StreamTransport(stream, role=role, description=str(spec))


async def serve_h4(
    listen_spec: str | SocketSpec,
    handler: ConnectionHandler,
    *,
    task_status: trio.TaskStatus[SocketSpec] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept H4 connections forever; run ``handler(transport)`` for each, concurrently.

    Each transport is controller-side (it parses commands and ACL) and is closed when its
    handler returns. A handler ending with TransportError (the host went away) ends only that
    connection. ``task_status.started`` receives the address actually listened on (a TCP port
    of 0 picks a free one).
    """
    spec = (
        parse_transport_spec(listen_spec, kinds=LISTEN_KINDS)
        if isinstance(listen_spec, str)
        else listen_spec
    )
    if not isinstance(spec, TcpSpec | UnixSpec):
        raise InvalidArgumentError(
            f"can only listen on tcp:HOST:PORT or unix:PATH, not {listen_spec}"
        )
    listener, bound = await _open_listener(spec)
    try:

        async def serve_connection(stream: trio.abc.Stream) -> None:
            transport = H4StreamTransport(
                stream, role=H4Role.CONTROLLER, description=f"connection to {bound}"
            )
            async with transport:
                with contextlib.suppress(TransportError):
                    await handler(transport)

        task_status.started(bound)
        await trio.serve_listeners(serve_connection, [listener])
    finally:
        # Unlink before the checkpoint in aclose, which raises at once when cancelled.
        if isinstance(bound, UnixSpec):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(bound.path)
        await listener.aclose()


async def _open_listener(spec: SocketSpec) -> tuple[trio.SocketListener, SocketSpec]:
    try:
        if isinstance(spec, TcpSpec):
            listeners = await trio.open_tcp_listeners(spec.port, host=spec.host)
            # Bind one address only, so the caller gets one definite port back.
            for extra in listeners[1:]:
                await extra.aclose()
            listener = listeners[0]
            port = listener.socket.getsockname()[1]
            return listener, TcpSpec(spec.host, port)
        return await _open_unix_listener(spec), spec
    except OSError as exc:
        raise TransportError(f"{spec}: cannot listen: {exc.strerror or exc}") from exc


async def _open_unix_listener(spec: UnixSpec) -> trio.SocketListener:
    _remove_stale_socket(spec.path)
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    listening = False
    try:
        await sock.bind(spec.path)
        sock.listen()
        listening = True
    finally:
        if not listening:
            sock.close()
    return trio.SocketListener(sock)


def _remove_stale_socket(path: str) -> None:
    """Remove a socket file left by a server that has gone; never remove anything else."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, "exists and is not a socket", path)
    probe = stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nobody listens: left over from a server that died
        return
    except BlockingIOError:
        pass  # a full backlog: a live server
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, "another server is listening on it", path)
