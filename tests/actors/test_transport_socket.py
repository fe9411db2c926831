"""H4 over TCP and Unix sockets: clients against serve_h4, peer loss, refused connections."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import trio
import trio.testing

from bluetrio.errors import InvalidArgumentError, TransportError
from bluetrio.messages.packets import PacketType
from bluetrio.transports.base import Transport
from bluetrio.transports.socket import open_socket_transport, serve_h4
from bluetrio.transports.spec import SerialSpec, TcpSpec, UnixSpec

RESET_COMPLETE = bytes.fromhex("0e0401030c00")
RESET_COMMAND = bytes.fromhex("030c00")
# Connection Complete: status 0, handle 0x0001, a peer address, ACL link, no encryption.
CONNECTION_COMPLETE = bytes.fromhex("030b000100665544332211" + "0100")


async def answer_resets(transport: Transport) -> None:
    """A tiny controller: Command Complete for every command, ACL echoed back (after a
    Connection Complete for its handle, as a host only takes data on a connection)."""
    connected = False
    while True:
        packet_type, payload = await transport.receive()
        if packet_type == PacketType.COMMAND:
            await transport.send(PacketType.EVENT, bytes((0x0E, 4, 1)) + payload[:2] + b"\x00")
        else:
            if not connected:
                await transport.send(PacketType.EVENT, CONNECTION_COMPLETE)
                connected = True
            await transport.send(packet_type, payload)


@pytest.mark.parametrize("family", ["tcp", "unix"])
async def test_client_talks_to_served_controller(family: str, tmp_path: Path) -> None:
    listen = TcpSpec("127.0.0.1", 0) if family == "tcp" else UnixSpec(str(tmp_path / "hci"))
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(serve_h4, listen, answer_resets)
        async with await open_socket_transport(bound) as host:
            await host.send(PacketType.COMMAND, RESET_COMMAND)
            assert await host.receive() == (PacketType.EVENT, RESET_COMPLETE)
            acl = bytes.fromhex("0120e803") + bytes(1000)
            for _ in range(5):
                await host.send(PacketType.ACL, acl)
            assert await host.receive() == (PacketType.EVENT, CONNECTION_COMPLETE)
            for _ in range(5):
                assert await host.receive() == (PacketType.ACL, acl)
        nursery.cancel_scope.cancel()
    if family == "unix":
        assert not os.path.exists(listen.path)  # type: ignore[union-attr]


async def test_server_accepts_a_spec_string_and_serves_several_hosts(tmp_path: Path) -> None:
    path = tmp_path / "hci.sock"
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(serve_h4, f"unix:{path}", answer_resets)
        assert bound == UnixSpec(str(path))
        first = await open_socket_transport(bound)
        second = await open_socket_transport(bound)
        async with first, second:
            await second.send(PacketType.COMMAND, RESET_COMMAND)
            await first.send(PacketType.COMMAND, RESET_COMMAND)
            assert await first.receive() == (PacketType.EVENT, RESET_COMPLETE)
            assert await second.receive() == (PacketType.EVENT, RESET_COMPLETE)
        nursery.cancel_scope.cancel()


async def test_host_disconnecting_ends_only_its_handler(tmp_path: Path) -> None:
    handler_ended = trio.Event()
    seen: list[str] = []

    async def handler(transport: Transport) -> None:
        try:
            await transport.receive()
        except TransportError as exc:
            seen.append(str(exc))
            raise
        finally:
            handler_ended.set()

    async with trio.open_nursery() as nursery:
        bound = await nursery.start(serve_h4, UnixSpec(str(tmp_path / "s")), handler)
        host = await open_socket_transport(bound)
        await host.aclose()
        await handler_ended.wait()
        # The server still accepts connections after that host went away.
        async with await open_socket_transport(bound):
            pass
        nursery.cancel_scope.cancel()
    assert seen and "closed by peer" in seen[0]


async def test_server_closing_the_connection_raises_on_the_host(tmp_path: Path) -> None:
    async def hang_up(transport: Transport) -> None:
        await transport.send(PacketType.EVENT, RESET_COMPLETE)

    async with trio.open_nursery() as nursery:
        bound = await nursery.start(serve_h4, UnixSpec(str(tmp_path / "s")), hang_up)
        async with await open_socket_transport(bound) as host:
            assert await host.receive() == (PacketType.EVENT, RESET_COMPLETE)
            with pytest.raises(TransportError, match="closed by peer"):
                await host.receive()
        nursery.cancel_scope.cancel()


async def test_refused_connections_name_the_spec(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransportError, match=rf"tcp:127.0.0.1:{port}: cannot connect"):
        await open_socket_transport(TcpSpec("127.0.0.1", port))
    missing = tmp_path / "nothing-here"
    with pytest.raises(TransportError, match=rf"unix:{missing}: cannot connect"):
        await open_socket_transport(UnixSpec(str(missing)))


async def test_stale_socket_file_is_replaced_but_other_files_are_kept(tmp_path: Path) -> None:
    stale = tmp_path / "stale"
    with socket.socket(socket.AF_UNIX) as old_server:
        old_server.bind(str(stale))  # bound but never listening: a dead server's leftover
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_h4, UnixSpec(str(stale)), answer_resets)
        async with await open_socket_transport(UnixSpec(str(stale))) as host:
            await host.send(PacketType.COMMAND, RESET_COMMAND)
            assert await host.receive() == (PacketType.EVENT, RESET_COMPLETE)
        # A second server on the same live path is refused rather than stealing it.
        with pytest.raises(TransportError, match="another server is listening"):
            await serve_h4(UnixSpec(str(stale)), answer_resets)
        nursery.cancel_scope.cancel()
    regular = tmp_path / "notes.txt"
    regular.write_text("keep me")
    with pytest.raises(TransportError, match="not a socket"):
        await serve_h4(UnixSpec(str(regular)), answer_resets)
    assert regular.read_text() == "keep me"


async def test_only_socket_specs_can_be_served() -> None:
    with pytest.raises(InvalidArgumentError, match="can only listen on"):
        await serve_h4(SerialSpec("/dev/ttyS0"), answer_resets)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"accepted forms: tcp:HOST:PORT, unix:PATH$"):
        await serve_h4("virtual", answer_resets)
