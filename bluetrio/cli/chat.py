"""``bluetrio chat``: a conversation over RFCOMM, one message per line.

* ``bluetrio chat``: the embedded demo. Two stacks on an in-process virtual air: ours finds
  the other (a scripted friend that answers each line) by inquiry, pairs with Secure Simple
  Pairing (both sides compare the number), looks the Serial Port service up by SDP, opens
  an RFCOMM channel to it, and the conversation runs.
* ``bluetrio chat -t SPEC --listen [--name NAME]``: wait for one peer (another ``bluetrio
  chat``, a phone's Bluetooth serial terminal) on an RFCOMM channel published by SDP.
* ``bluetrio chat -t SPEC --connect ADDRESS [--channel N | --uuid UUID]``: open one.

Standard input gives the lines to send and standard output gets the peer's lines (see
:mod:`bluetrio.cli.console`): the end of the input ends the chat once everything sent was
delivered, the peer closing ends it too, and the process exits 0 either way, unless lines
entered were not delivered (the peer closed first): those are named in notes (standard error,
or the terminal) and the exit status is :data:`EXIT_NOT_DELIVERED`.
"""

from __future__ import annotations

import argparse
import contextlib
import uuid as uuid_module
from collections.abc import AsyncIterator
from typing import Any

import trio

from bluetrio.address import Address
from bluetrio.cli.common import (
    add_pairing_arguments,
    add_stack_arguments,
    address_argument,
    bond_directory,
    keystore_factory,
)
from bluetrio.cli.console import Console, open_console
from bluetrio.cli.conversation import Conversation, Ending
from bluetrio.cli.lines import LineDecoder, encode_line
from bluetrio.errors import BluetrioError, InvalidArgumentError
from bluetrio.messages.btm import LinkTransport
from bluetrio.messages.btm_security import SecurityRequirement
from bluetrio.messages.sdp_records import (
    SERIAL_PORT,
    as_uuid,
    rfcomm_service_record,
    serial_port_record,
)
from bluetrio.messages.uuids import short_form
from bluetrio.pairing import AssociationModel, IoCapability, PairingDelegate
from bluetrio.rfcomm import RfcommListener, RfcommStream
from bluetrio.stack import Stack, StackConfig, open_stack

EMBEDDED_AIR = "virtual:chat-demo"
FRIEND_NAME = "friend"
DEFAULT_NAME = "bluetrio chat"
SERVICE_NAME = "bluetrio chat"
# The embedded demo's inquiry ends as soon as the friend answers; this bounds it if not.
INQUIRY_DURATION = 10.24
# How long our side of the embedded demo waits for the friend's number to compare it.
COMPARISON_WAIT = 10.0
# After our input ended, how long the friend has to answer the last lines.
ANSWER_WAIT = 10.0
# What a listener needs of the link before the DLC opens (Security Mode 4 level 2, Vol 3
# Part C 5.2.2.8): authenticated and encrypted, as phones expect of a serial port.
LISTEN_SECURITY = SecurityRequirement(authentication=True, encryption=True)
# The exit status when lines entered were not delivered (the chat itself went well).
EXIT_NOT_DELIVERED = 1


def uuid_argument(text: str) -> uuid_module.UUID:
    """An argparse ``type`` for a service UUID: ``0x1101``, ``1101`` or a full UUID."""
    try:
        return as_uuid(int(text, 16) if len(text) <= 10 else text)
    except (InvalidArgumentError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a UUID (0x1101, 1101 or 00001101-0000-1000-8000-00805f9b34fb)"
        ) from None


def channel_argument(text: str) -> int:
    try:
        channel = int(text)
    except ValueError:
        channel = 0
    if not 1 <= channel <= 30:
        raise argparse.ArgumentTypeError(f"an RFCOMM server channel is 1 to 30, got {text!r}")
    return channel


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "chat",
        help="chat over RFCOMM, one message per line (without -t: a demo with a friend "
        "in the same process)",
        description="Without -t: the embedded demo on an in-process virtual air, with a "
        "friend that answers each line: discovery, pairing, the SDP lookup, the RFCOMM "
        "connection, then the conversation. With -t SPEC: --listen for one peer, or "
        "--connect ADDRESS. Lines typed (or piped in) are sent, the peer's lines printed; "
        "the end of the input (Ctrl-D) ends the chat once everything was delivered.",
    )
    add_stack_arguments(parser, transport_required=False)
    parser.add_argument(
        "--trace", metavar="FILE", help="record every message between the actors (JSON Lines)"
    )
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--listen", action="store_true", help="wait for a peer to connect")
    modes.add_argument(
        "--connect", metavar="ADDRESS", type=address_argument, help="connect to ADDRESS"
    )
    parser.add_argument(
        "--name", default=DEFAULT_NAME, help=f"--listen: the device name (default: {DEFAULT_NAME})"
    )
    parser.add_argument(
        "--channel",
        type=channel_argument,
        metavar="N",
        help="the RFCOMM server channel (--connect: instead of the SDP lookup; --listen: the "
        "one to serve, by default the lowest free)",
    )
    parser.add_argument(
        "--uuid",
        type=uuid_argument,
        default=SERIAL_PORT,
        metavar="UUID",
        help="the service's UUID, looked up by SDP (--connect) or published (--listen); "
        "default 0x1101, the Serial Port Profile",
    )
    add_pairing_arguments(parser)
    parser.set_defaults(handler=run)


# -- pairing through the console ----------------------------------------------------------------


class ConsolePairingDelegate(PairingDelegate):
    """Pairing questions asked on the chat's console (the next line entered answers), so
    they never compete with the conversation for standard input; ``yes`` confirms without
    asking (``--yes``), for scripts."""

    def __init__(self, console: Console, io_capability: IoCapability, *, yes: bool) -> None:
        super().__init__(io_capability)
        self._console = console
        self._yes = yes

    async def _confirm(self, question: str) -> bool:
        if self._yes:
            self._console.note(f"{question} yes (--yes)")
            return True
        answer = await self._console.ask(f"{question} [y/N]")
        return answer is not None and answer.strip().lower() in ("y", "yes")

    async def accept_pairing(self, peer: Address) -> bool:
        return await self._confirm(f"Pair with {peer} (Just Works, no verification)?")

    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        return await self._confirm(f"Does {peer} show {number:06d}?")

    async def enter_passkey(self, peer: Address) -> int | None:
        answer = (await self._console.ask(f"Passkey shown by {peer}:") or "").strip()
        if not answer.isdigit() or len(answer) > 6:
            self._console.note(f"{answer!r} is not a passkey of up to six digits; declined")
            return None
        return int(answer)

    async def display_passkey(self, peer: Address, passkey: int) -> None:
        self._console.note(f"Type {passkey:06d} on {peer}")

    async def pairing_model(self, peer: Address, model: AssociationModel) -> None:
        # Said before each question, so a number to compare is not typed as a passkey.
        self._console.note(f"pairing with {peer}: {model.value}")

    async def pairing_failed(self, peer: Address, reason: str) -> None:
        self._console.note(f"pairing with {peer} failed: {reason}")


# -- RFCOMM -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve_channel(
    stack: Stack, uuid: uuid_module.UUID, name: str, channel: int | None = None
) -> AsyncIterator[RfcommListener]:
    """An RFCOMM server channel published in our SDP server as service ``uuid`` (the Serial
    Port Profile's own record for 0x1101, SPP 1.2 6.1), while the block runs."""
    async with stack.rfcomm_listen(channel=channel, security=LISTEN_SECURITY) as listener:
        if uuid == SERIAL_PORT:
            record = serial_port_record(listener.channel, name)
        else:
            record = rfcomm_service_record(uuid, name, listener.channel)
        async with stack.sdp_register(record):
            yield listener


def describe_service(uuid: uuid_module.UUID) -> str:
    if uuid == SERIAL_PORT:
        return "the Serial Port service (0x1101)"
    short = short_form(uuid)
    return f"service 0x{short:04X}" if short is not None else f"service {uuid}"


def peer_of(stack: Stack, stream: RfcommStream) -> str:
    """The address of the device at the other end of ``stream``."""
    for link in stack.links:
        if link.handle == stream.handle:
            return str(link.peer)
    return f"the peer on link 0x{stream.handle:04X}"


# -- the embedded demo ------------------------------------------------------------------------


class NumberComparison:
    """The two sides of the embedded demo compare the six digits each displays (Secure
    Simple Pairing's numeric comparison, Vol 2 Part H 7.2.1), as two people would."""

    def __init__(self) -> None:
        self._friend_shows: int | None = None
        self._shown = trio.Event()

    def friend_shows(self, number: int) -> None:
        self._friend_shows = number
        self._shown.set()

    async def friend_number(self) -> int | None:
        with trio.move_on_after(COMPARISON_WAIT):
            await self._shown.wait()
        return self._friend_shows


class FriendDelegate(PairingDelegate):
    """The friend's side of pairing: shows its number (to the comparison) and agrees."""

    def __init__(self, comparison: NumberComparison) -> None:
        super().__init__(IoCapability.DISPLAY_YES_NO)
        self._comparison = comparison

    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        self._comparison.friend_shows(number)
        return True


class ComparingDelegate(PairingDelegate):
    """Our side of the embedded demo's pairing: says yes when the friend shows our number."""

    def __init__(self, console: Console, comparison: NumberComparison) -> None:
        super().__init__(IoCapability.DISPLAY_YES_NO)
        self._console = console
        self._comparison = comparison

    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        theirs = await self._comparison.friend_number()
        same = theirs == number
        seen = "nothing" if theirs is None else f"{theirs:06d}"
        verdict = "the same: confirmed" if same else "different: refused"
        self._console.note(f"pairing: we show {number:06d}, {FRIEND_NAME} shows {seen}, {verdict}")
        return same

    async def pairing_failed(self, peer: Address, reason: str) -> None:
        self._console.note(f"pairing with {peer} failed: {reason}")


def friend_answer(line: str) -> str:
    """What the friend says to ``line``."""
    return f"echo: {line}"


async def befriend(stream: trio.abc.Stream) -> None:
    """The friend: answer each line until our side closes the DLC."""
    decoder = LineDecoder()
    async with stream:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while data := await stream.receive_some():
                for line in decoder.feed(data):
                    await stream.send_all(encode_line(friend_answer(line)))


@contextlib.asynccontextmanager
async def open_friend(comparison: NumberComparison) -> AsyncIterator[Address]:
    """The friend's stack on the embedded air, discoverable, pairable, serving the chat on
    an RFCOMM channel published by SDP, while the block runs; yields its address."""
    config = StackConfig(local_name=FRIEND_NAME, discoverable=True)
    async with (
        open_stack(
            EMBEDDED_AIR,
            config=config,
            pairable=True,
            pairing_delegate=FriendDelegate(comparison),
            bring_up=True,
        ) as friend,
        serve_channel(friend, SERIAL_PORT, SERVICE_NAME) as listener,
        trio.open_nursery() as nursery,
    ):
        await friend.set_discoverable(True, connectable=True)
        nursery.start_soon(trio.serve_listeners, befriend, [listener])
        yield (await friend.ready()).address
        nursery.cancel_scope.cancel()


async def discover(stack: Stack, console: Console) -> Address:
    """The friend found by inquiry (ended as soon as it answers)."""
    console.note("discovery: inquiry for nearby BR/EDR devices")
    async with stack.inquire(INQUIRY_DURATION) as devices:
        async for device in devices:
            if device.name == FRIEND_NAME:
                console.note(f"discovery: found {device.name!r} at {device.address}")
                return device.address
    raise BluetrioError(f"no device called {FRIEND_NAME!r} answered the inquiry")


async def embedded_chat(console: Console, options: dict[str, Any]) -> Conversation:
    comparison = NumberComparison()
    async with (
        open_friend(comparison),
        open_stack(
            EMBEDDED_AIR,
            pairing_delegate=ComparingDelegate(console, comparison),
            bring_up=True,
            **options,
        ) as stack,
    ):
        address = await discover(stack, console)
        async with stack.connect(address, transport=LinkTransport.BR_EDR) as link:
            console.note(f"connected to {address} over BR/EDR")
            result = await link.pair()
            model = result.model.value if result.model is not None else "a stored key"
            console.note(f"pairing: done ({model}), the link is encrypted")
            channel = await stack.sdp_find_rfcomm_channel(address, SERIAL_PORT)
            console.note(
                f"SDP: {FRIEND_NAME} offers {describe_service(SERIAL_PORT)} on channel {channel}"
            )
            async with await stack.rfcomm_connect(address, channel=channel) as stream:
                console.note(f"RFCOMM: channel {channel} open; type a line, Ctrl-D to end")
                return await converse(stream, console, FRIEND_NAME, wait_for_answers=True)


async def converse(
    stream: trio.abc.HalfCloseableStream,
    console: Console,
    peer: str,
    *,
    wait_for_answers: bool = False,
) -> Conversation:
    """The conversation on ``stream``, run to its end (see :class:`Conversation`)."""
    conversation = Conversation(stream, console, peer)

    async def answered(conversation: Conversation) -> None:
        # The friend answers each line: the chat ends once every answer was shown.
        with trio.move_on_after(ANSWER_WAIT):
            await conversation.wait_received(conversation.lines_sent)

    ending = await conversation.run(answered if wait_for_answers else None)
    console.note(ending.value if ending is Ending.WE_CLOSED else f"{peer} ended the chat")
    return conversation


# -- two processes ----------------------------------------------------------------------------


def _stack_options(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    io_capability = IoCapability.from_name(args.io_capability)
    return {
        "pairable": True,  # either side may start pairing: the listener's security asks it
        "snoop": args.snoop,
        "trace": args.trace,
        "address": args.address,
        "keystore": keystore_factory(bond_directory(args.keystore)),
        "pairing_delegate": ConsolePairingDelegate(console, io_capability, yes=args.yes),
    }


async def listen_chat(args: argparse.Namespace, console: Console) -> Conversation:
    config = StackConfig(local_name=args.name, discoverable=True)
    options = _stack_options(args, console)
    async with open_stack(args.transport, config=config, **options) as stack:
        info = await stack.ready()
        async with serve_channel(stack, args.uuid, args.name, args.channel) as listener:
            await stack.set_discoverable(True, connectable=True)
            console.note(
                f"{info.address}: listening as {args.name!r} on RFCOMM channel "
                f"{listener.channel} ({describe_service(args.uuid)}); waiting for a peer"
            )
            async with await listener.accept() as stream:
                peer = peer_of(stack, stream)
                console.note(f"RFCOMM: {peer} connected; type a line, Ctrl-D to end")
                return await converse(stream, console, peer)


async def connect_chat(args: argparse.Namespace, console: Console) -> Conversation:
    peer: Address = args.connect
    async with open_stack(args.transport, **_stack_options(args, console)) as stack:
        info = await stack.ready()
        console.note(f"{info.address}: connecting to {peer}")
        channel = args.channel
        if channel is None:
            channel = await stack.sdp_find_rfcomm_channel(peer, args.uuid)
            console.note(f"SDP: {peer} offers {describe_service(args.uuid)} on channel {channel}")
        async with await stack.rfcomm_connect(peer, channel=channel) as stream:
            console.note(f"RFCOMM: channel {channel} open; type a line, Ctrl-D to end")
            return await converse(stream, console, str(peer))


async def chat(args: argparse.Namespace) -> int:
    """The chat ``args`` ask for; its exit status."""
    async with open_console() as console:
        if args.transport is None:
            conversation = await embedded_chat(console, {"snoop": args.snoop, "trace": args.trace})
        elif args.listen:
            conversation = await listen_chat(args, console)
        else:
            conversation = await connect_chat(args, console)
    return EXIT_NOT_DELIVERED if conversation.undelivered else 0


def run(args: argparse.Namespace) -> int:
    if args.transport is None and (args.listen or args.connect is not None):
        raise InvalidArgumentError("--listen and --connect need -t SPEC, the controller to use")
    if args.transport is not None and not (args.listen or args.connect is not None):
        raise InvalidArgumentError(
            "with -t SPEC, say --listen or --connect ADDRESS (without -t, bluetrio chat runs "
            "its demo with a friend in the same process)"
        )
    return trio.run(chat, args)
