"""The application's side of pairing: the delegate that talks to the user, and bonds on disk.

The security core (``bluetrio.actors.btm.security``) is sans-IO: when pairing needs the user
it sends a prompt to the application port and waits (with a time limit) for the answer.
:func:`serve_pairing_delegate` is the task that answers those prompts by awaiting a
:class:`PairingDelegate`, and persists the bonds the core reports through a
:class:`~bluetrio.keystore.KeyStore`; ``open_stack`` runs it when given a delegate or a key
store. :class:`PairingDelegate` is the one interface for every transport.

    async with bluetrio.open_stack("usb:0", pairing_delegate=MyDelegate()) as stack:
        async with stack.connect(address, transport=LinkTransport.BR_EDR) as link:
            result = await link.pair()          # or: await stack.pair(address)
            print(result.model, result.key_type, link.encrypted)
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TextIO, TypeVar

import attrs
import trio

from bluetrio.actors.app_port import AppPort, Mailbox
from bluetrio.actors.topology import Layer
from bluetrio.address import Address
from bluetrio.bonds import Bond, BondKey, KeyDistribution, LinkKeyType, Transport
from bluetrio.errors import InvalidArgumentError, PairingError
from bluetrio.keystore import KeyStore, KeyStoreError, MemoryKeyStore, WeakerKeyError
from bluetrio.messages import hci
from bluetrio.messages.btm_security import (
    MAX_PASSKEY,
    AssociationModel,
    IoCapability,
    OobDataInd,
    OobDataRsp,
    PairCnf,
    PairingFailedInd,
    PasskeyDisplayInd,
    PasskeyEntryInd,
    PasskeyEntryRsp,
    PeerOobData,
    PromptCancelledInd,
    SecurityMessage,
    SecurityServiceReq,
    StoreBondReq,
    StoreBondRsp,
    UserConfirmInd,
    UserConfirmRsp,
)
from bluetrio.messages.gatt_state import (
    GattBondedPeer,
    GattBondsLoadReq,
    GattBondState,
    GattBondStateStoreReq,
)
from bluetrio.messages.hci_service import HciCommandCnf, HciCommandReq
from bluetrio.messages.smp import KeypressType
from bluetrio.messages.smp_service import KeypressInd, KeypressReq

__all__ = [
    "AssociationModel",
    "IoCapability",
    "KeypressReporter",
    "KeypressType",
    "PairingDelegate",
    "PairingError",
    "PairingResult",
    "PeerOobData",
    "TerminalPairingDelegate",
    "derive_io_capability",
    "serve_pairing_delegate",
]

logger = logging.getLogger(__name__)

BTM = Layer.BTM
T = TypeVar("T")
# The gatt layer takes the bonded peers at once; only a lost message delays its answer, and
# the stack then starts without them rather than wait forever.
GATT_BONDS_ANSWER_TIMEOUT = 5.0  # seconds
# GATT states waiting for the key store: one per change of a bonded client's state, saved
# in order; at the bound the oldest goes (a later state of the same client replaces it).
GATT_STATE_BACKLOG = 1024


@attrs.frozen
class PairingResult:
    """A link authenticated and encrypted by ``link.pair()`` or ``stack.pair(address)``.

    ``model`` is the association model when pairing happened, None when a bond was used.
    ``key_type`` is the BR/EDR link key's type (None on LE). ``authenticated``: the key is
    MITM-protected; ``secure_connections``: it comes from Secure Connections pairing (P-256),
    not legacy pairing. On LE, ``bond`` holds the keys SMP exchanged (Vol 3 Part H 3.6.1),
    which :attr:`distributed` names.
    """

    address: Address
    handle: int
    key_type: LinkKeyType | None
    key_size: int
    used_stored_key: bool
    model: AssociationModel | None
    transport: Transport = Transport.BR_EDR
    authenticated: bool = False
    secure_connections: bool = False
    bond: Bond | None = None

    @property
    def legacy(self) -> bool:
        """Made by legacy pairing (LE legacy, or BR/EDR without Secure Connections)."""
        return not self.secure_connections

    @property
    def distributed(self) -> tuple[str, ...]:
        """The keys each side handed over, e.g. ``("peer LTK", "peer IRK", "local IRK")``."""
        if self.bond is None:
            return ()
        return (
            *_key_names("peer", self.bond.peer_keys),
            *_key_names("local", self.bond.local_keys),
        )


def _key_names(side: str, keys: KeyDistribution) -> tuple[str, ...]:
    present = (
        ("LTK", keys.ltk),
        ("IRK", keys.irk),
        ("identity address", keys.identity_address),
        ("CSRK", keys.csrk),
    )
    return tuple(f"{side} {name}" for name, value in present if value is not None)


def derive_io_capability(delegate_class: type[PairingDelegate]) -> IoCapability:
    """The IO capability a delegate class has by what it overrides (Vol 3 Part C 5.2.2.4):
    confirming a number needs a display and yes/no input, typing a passkey a keyboard,
    showing one a display; nothing overridden means no input and no output."""
    confirms = delegate_class.confirm_numeric is not PairingDelegate.confirm_numeric
    types = (
        delegate_class.enter_passkey is not PairingDelegate.enter_passkey
        or delegate_class.type_passkey is not PairingDelegate.type_passkey
    )
    shows = delegate_class.display_passkey is not PairingDelegate.display_passkey
    if types and (shows or confirms):
        return IoCapability.KEYBOARD_DISPLAY
    if types:
        return IoCapability.KEYBOARD_ONLY
    if confirms:
        return IoCapability.DISPLAY_YES_NO
    if shows:
        return IoCapability.DISPLAY_ONLY
    return IoCapability.NO_INPUT_NO_OUTPUT


class KeypressReporter:
    """Tells the peer what the user does while typing a passkey (LE Keypress Notification,
    Core 5.4 Vol 3 Part H 3.5.8), so the peer's UI can show progress. A delegate gets one in
    :meth:`PairingDelegate.type_passkey` when the peer takes them, and calls its methods as
    the user types, before it returns the passkey::

        async def type_passkey(self, peer, keypresses):
            keypresses.entry_started()
            for key in await read_keys():      # the application's input
                keypresses.digit_entered()     # or digit_erased(), cleared()
            keypresses.entry_completed()
            return passkey

    The methods never block; each goes to the peer in order. Calls once the passkey was
    returned (or the pairing ended) are not sent: the peer takes them only during entry.
    """

    def __init__(self, send: Callable[[KeypressType], None]) -> None:
        self._send = send

    def entry_started(self) -> None:
        self._send(KeypressType.ENTRY_STARTED)

    def digit_entered(self) -> None:
        self._send(KeypressType.DIGIT_ENTERED)

    def digit_erased(self) -> None:
        self._send(KeypressType.DIGIT_ERASED)

    def cleared(self) -> None:
        self._send(KeypressType.CLEARED)

    def entry_completed(self) -> None:
        self._send(KeypressType.ENTRY_COMPLETED)


class PairingDelegate:
    """Answers the questions of pairing; subclass it to talk to your user.

    The IO capability announced to the peer decides the association model, so it must be
    true: give it to the constructor (``MyDelegate(IoCapability.DISPLAY_YES_NO)``), or
    leave it out and it is derived from the methods the subclass overrides
    (:func:`derive_io_capability`): a delegate that only overrides :meth:`confirm_numeric`
    announces ``DISPLAY_YES_NO``, so the peer is asked to compare numbers instead of
    silently pairing with Just Works.

    The defaults of the methods suit a device without input or output: Just Works pairing
    is accepted (it still needs the stack to be pairable, or the application to ask for
    it), anything that needs a user is declined.
    """

    _io_capability: IoCapability | None = None

    def __init__(self, io_capability: IoCapability | None = None) -> None:
        if io_capability is not None:
            self.io_capability = io_capability

    @property
    def io_capability(self) -> IoCapability:
        if self._io_capability is not None:
            return self._io_capability
        return derive_io_capability(type(self))

    @io_capability.setter
    def io_capability(self, value: IoCapability) -> None:
        if not isinstance(value, IoCapability):
            raise InvalidArgumentError(f"io_capability must be an IoCapability, got {value!r}")
        self._io_capability = value

    async def accept_pairing(self, peer: Address) -> bool:
        """Just Works: pair with ``peer`` at all? (No number to compare.)"""
        return True

    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        """Numeric Comparison: does ``peer`` show the same six digits?"""
        return False

    async def enter_passkey(self, peer: Address) -> int | None:
        """Passkey Entry: the six digits ``peer`` displays, or None to give up."""
        return None

    async def type_passkey(self, peer: Address, keypresses: KeypressReporter | None) -> int | None:
        """Passkey Entry, reporting the keys the user presses: override this instead of
        :meth:`enter_passkey` to call ``keypresses`` while the user types (see
        :class:`KeypressReporter`). ``keypresses`` is None when the peer does not take
        them (it did not set the Keypress flag, Vol 3 Part H 3.5.1, or the link is BR/EDR).
        By default, :meth:`enter_passkey`."""
        return await self.enter_passkey(peer)

    async def display_passkey(self, peer: Address, passkey: int) -> None:
        """Passkey Entry: show ``passkey``; the user types it on ``peer``."""

    async def oob_data(self, peer: Address) -> PeerOobData | None:
        """OOB data received from ``peer`` by other means (NFC...), or None."""
        return None

    async def pairing_model(self, peer: Address, model: AssociationModel) -> None:
        """Told, before each question of a pairing with ``peer``, which association model it
        uses: a UI that says "compare these numbers" or "type the passkey shown" keeps its
        user from answering one model's question as another's (method confusion)."""

    async def keypress(self, peer: Address, kind: KeypressType) -> None:
        """The user of ``peer`` pressed a key while typing the passkey we display (Keypress
        Notification, Vol 3 Part H 3.5.8); optional, for a UI that shows progress."""

    async def pairing_failed(self, peer: Address, reason: str) -> None:
        """Pairing with ``peer`` failed (``reason`` says why), whoever started it: the peer's
        attempts end here, as nobody on this side waits for their outcome. Pairings this
        side started also raise :class:`PairingError` in the caller."""

    @property
    def provides_oob_data(self) -> bool:
        """Whether :meth:`oob_data` is overridden, so asking it is worth a round trip."""
        return type(self).oob_data is not PairingDelegate.oob_data

    @property
    def uses_keypresses(self) -> bool:
        """Whether the delegate reports keypresses (:meth:`type_passkey` overridden) or shows
        the peer's (:meth:`keypress` overridden): SMP then sets the Keypress flag of its
        AuthReq (Vol 3 Part H 3.5.1), without which neither side sends them."""
        cls = type(self)
        return (
            cls.type_passkey is not PairingDelegate.type_passkey
            or cls.keypress is not PairingDelegate.keypress
        )


async def _read_line(prompt: str) -> str:
    # input() blocks its thread; abandoning it lets a cancelled prompt return at once.
    return await trio.to_thread.run_sync(input, prompt, abandon_on_cancel=True)


class TerminalPairingDelegate(PairingDelegate):
    """Asks on the terminal: confirm a number, type a passkey, show a passkey."""

    def __init__(
        self,
        io_capability: IoCapability = IoCapability.DISPLAY_YES_NO,
        *,
        read_line: Callable[[str], Awaitable[str]] = _read_line,
        output: TextIO | None = None,
    ) -> None:
        super().__init__(io_capability)
        self._read_line = read_line
        self._output = output

    def _say(self, text: str) -> None:
        print(text, file=self._output or sys.stdout, flush=True)

    async def _yes(self, question: str) -> bool:
        answer = await self._read_line(f"{question} [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    async def accept_pairing(self, peer: Address) -> bool:
        return await self._yes(f"Pair with {peer} (Just Works, no verification)?")

    async def confirm_numeric(self, peer: Address, number: int) -> bool:
        return await self._yes(f"Does {peer} show {number:06d}?")

    async def enter_passkey(self, peer: Address) -> int | None:
        answer = (await self._read_line(f"Passkey shown by {peer}: ")).strip()
        if not answer.isdigit() or int(answer) > MAX_PASSKEY:
            self._say(f"{answer!r} is not a passkey of up to six digits; pairing declined")
            return None
        return int(answer)

    async def display_passkey(self, peer: Address, passkey: int) -> None:
        self._say(f"Type {passkey:06d} on {peer}")

    async def pairing_model(self, peer: Address, model: AssociationModel) -> None:
        self._say(f"Pairing with {peer}: {model.value}")


async def _local_address(app: AppPort) -> Address:
    reply = await app.request(Layer.HCI, HciCommandReq(app.runtime.new_token(), hci.ReadBdAddr()))
    assert isinstance(reply, HciCommandCnf)
    event = reply.event
    if not isinstance(event, hci.CommandComplete) or event.status != 0:
        raise PairingError(0x1F, f"cannot read the local address: {reply.error or event}")
    returned = event.decode_return()
    assert isinstance(returned, hci.ReadBdAddrReturn)
    return returned.bd_addr


class _PairingService:
    """Answers the security core's prompts and persists its bonds."""

    def __init__(
        self, app: AppPort, delegate: PairingDelegate, keystore: KeyStore, btm: str
    ) -> None:
        self.app = app
        self.delegate = delegate
        self.keystore = keystore
        self.btm = btm
        self.prompts: dict[int, trio.CancelScope] = {}

    async def serve(self, channel: Mailbox[SecurityMessage], nursery: trio.Nursery) -> None:
        async for message in channel:
            if isinstance(message, UserConfirmInd):
                nursery.start_soon(self._answer_confirmation, message)
            elif isinstance(message, PasskeyEntryInd):
                nursery.start_soon(self._answer_passkey, message)
            elif isinstance(message, OobDataInd):
                nursery.start_soon(self._answer_oob, message)
            elif isinstance(message, PasskeyDisplayInd):
                nursery.start_soon(self._show_passkey, message)
            elif isinstance(message, PairingFailedInd):
                nursery.start_soon(self._report_failure, message)
            elif isinstance(message, PromptCancelledInd):
                scope = self.prompts.pop(message.prompt_id, None)
                if scope is not None:
                    scope.cancel()
            elif isinstance(message, StoreBondReq):
                nursery.start_soon(self._store, message)
            elif isinstance(message, KeypressInd):
                nursery.start_soon(self._show_keypress, message)

    async def _show_passkey(self, message: PasskeyDisplayInd) -> None:
        try:
            await self._tell_model(message.peer, message.model)
            await self.delegate.display_passkey(message.peer, message.passkey)
        except Exception:
            logger.exception("pairing delegate failed to display a passkey")

    async def _show_keypress(self, message: KeypressInd) -> None:
        try:
            await self.delegate.keypress(message.peer, message.kind)
        except Exception:
            logger.exception("pairing delegate failed to take a keypress")

    async def _tell_model(self, peer: Address, model: AssociationModel | None) -> None:
        if model is not None:
            await self.delegate.pairing_model(peer, model)

    async def _report_failure(self, message: PairingFailedInd) -> None:
        try:
            await self.delegate.pairing_failed(message.peer, message.reason)
        except Exception:
            logger.exception("pairing delegate failed to take a pairing failure")

    async def _ask(
        self,
        prompt_id: int,
        question: Callable[[], Awaitable[T]],
        declined: T,
        told: tuple[Address, AssociationModel | None] | None = None,
    ) -> tuple[bool, T]:
        """(still wanted, the delegate's answer); ``declined`` when the delegate raised.
        ``told``: the peer and model the delegate hears of first."""
        with trio.CancelScope() as scope:
            self.prompts[prompt_id] = scope
            try:
                if told is not None:
                    await self._tell_model(*told)
                return True, await question()
            except Exception:
                logger.exception("pairing delegate failed; answering no")
                return True, declined
            finally:
                self.prompts.pop(prompt_id, None)
        return False, declined  # the core withdrew the prompt and has answered it itself

    async def _answer_confirmation(self, message: UserConfirmInd) -> None:
        peer, number = message.peer, message.number
        told = (peer, message.model)
        if number is None:
            wanted, accepted = await self._ask(
                message.prompt_id, lambda: self.delegate.accept_pairing(peer), False, told
            )
        else:
            wanted, accepted = await self._ask(
                message.prompt_id,
                lambda: self.delegate.confirm_numeric(peer, number),
                False,
                told,
            )
        if wanted:
            self.app.send(self.btm, UserConfirmRsp(message.prompt_id, accepted is True))

    async def _answer_passkey(self, message: PasskeyEntryInd) -> None:
        keypresses = None
        if message.keypresses:
            prompt_id = message.prompt_id
            keypresses = KeypressReporter(
                lambda kind: self.app.send(self.btm, KeypressReq(prompt_id, kind))
            )
        wanted, passkey = await self._ask(
            message.prompt_id,
            lambda: self.delegate.type_passkey(message.peer, keypresses),
            None,
            (message.peer, message.model),
        )
        if wanted:
            self.app.send(self.btm, PasskeyEntryRsp(message.prompt_id, passkey))

    async def _answer_oob(self, message: OobDataInd) -> None:
        wanted, data = await self._ask(
            message.prompt_id,
            lambda: self.delegate.oob_data(message.peer),
            None,
            (message.peer, message.model),
        )
        if wanted:
            self.app.send(self.btm, OobDataRsp(message.prompt_id, data))

    async def _store(self, message: StoreBondReq) -> None:
        peer, transport = message.bond.peer_address, message.bond.transport
        try:
            await self.keystore.save(message.bond)
        except WeakerKeyError as error:
            self.app.send(
                self.btm, StoreBondRsp(peer, False, str(error), weaker=True, transport=transport)
            )
        except KeyStoreError as error:
            self.app.send(self.btm, StoreBondRsp(peer, False, str(error), transport=transport))
        else:
            self.app.send(self.btm, StoreBondRsp(peer, True, transport=transport))

    async def keep_gatt_states(self, channel: Mailbox[GattBondStateStoreReq]) -> None:
        """Save each bonded client's GATT state with its bond, one after the other in the
        order the gatt layer sent them, so an older state never replaces a newer one."""
        async for message in channel:
            try:
                await self.keystore.save_gatt_state(message.peer, message.state)
            except KeyStoreError:
                logger.exception("cannot keep the GATT state of %s", message.peer)


def gatt_bonded_peers(
    bonds: Iterable[Bond], states: Mapping[BondKey, GattBondState]
) -> tuple[GattBondedPeer, ...]:
    """The LE bonds as the gatt layer needs them: CSRK, the address bonded over, the GATT
    state kept with each."""
    return tuple(
        GattBondedPeer(
            bond.peer_address,
            bond.peer_keys.csrk,
            states.get(bond.key),
            bond.peer_link_address,
            bond.authenticated,
        )
        for bond in bonds
        if bond.transport is Transport.LE
    )


async def _load_gatt_bonds(app: AppPort, keystore: KeyStore, bonds: Iterable[Bond]) -> None:
    """Hand the bonded LE peers to the gatt layer, when the stack has one, before the stack
    is the application's (a bonded client may connect at once)."""
    gatt = app.runtime.topology.handler_of(GattBondsLoadReq)
    if gatt is None:
        return
    peers = gatt_bonded_peers(bonds, await keystore.gatt_states())
    with trio.move_on_after(GATT_BONDS_ANSWER_TIMEOUT):
        await app.request(gatt, GattBondsLoadReq(app.runtime.new_token(), peers))
        return
    logger.error("the gatt layer did not take %d bonded peer(s) in time", len(peers))


async def serve_pairing_delegate(
    app: AppPort,
    delegate: PairingDelegate | None = None,
    keystore: KeyStore | None = None,
    *,
    btm: str = BTM,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer the security core's prompts with ``delegate`` and keep bonds in ``keystore``.

    Start it with ``nursery.start``: it loads the bonds, hands them to the security core and
    reports started; it runs until cancelled. Without a key store, bonds last as long as the
    process (a :class:`MemoryKeyStore` of the controller's address).
    """
    delegate = delegate if delegate is not None else PairingDelegate()
    if keystore is None:
        keystore = MemoryKeyStore(await _local_address(app))
    bonds = tuple(await keystore.list())
    # Prompts are few (one per pairing in progress) and each has a time limit in the core:
    # at the bound, the oldest is discarded and the core's time limit answers it with "no".
    channel = app.open_mailbox(SecurityMessage)
    gatt_states = app.open_mailbox(GattBondStateStoreReq, capacity=GATT_STATE_BACKLOG)
    service = _PairingService(app, delegate, keystore, btm)
    with channel, gatt_states:
        async with trio.open_nursery() as nursery:
            app.send(
                btm,
                SecurityServiceReq(
                    keystore.local_address,
                    bonds,
                    IoCapability(delegate.io_capability),
                    delegate.provides_oob_data,
                ),
            )
            await _load_gatt_bonds(app, keystore, bonds)
            task_status.started()
            nursery.start_soon(service.keep_gatt_states, gatt_states)
            await service.serve(channel, nursery)


def pairing_result(reply: PairCnf) -> PairingResult:
    """What a :class:`PairCnf` says, or :class:`PairingError` when it reports a failure."""
    if reply.status != 0 or reply.handle is None or (reply.key_type is None and reply.bond is None):
        why = f": {reply.error}" if reply.error else ""
        raise PairingError(reply.status, f"securing the link to {reply.address}{why}")
    assert reply.key_size is not None
    if reply.key_type is not None:
        return PairingResult(
            address=reply.address,
            handle=reply.handle,
            key_type=reply.key_type,
            key_size=reply.key_size,
            used_stored_key=reply.used_stored_key,
            model=reply.model,
            authenticated=reply.key_type.is_authenticated,
            secure_connections=reply.key_type.is_secure_connections,
        )
    bond = reply.bond
    assert bond is not None
    return PairingResult(
        address=reply.address,
        handle=reply.handle,
        key_type=None,
        key_size=reply.key_size,
        used_stored_key=reply.used_stored_key,
        model=reply.model,
        transport=Transport.LE,
        authenticated=bond.authenticated,
        secure_connections=bond.secure_connections,
        bond=bond,
    )
