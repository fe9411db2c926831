"""Issuing HCI commands from a sans-IO core and routing each answer back to its sender.

Every BTM module (and the security core) sends commands through one :class:`CommandIssuer`
owned by the BTM core: :meth:`CommandIssuer.send` returns the ``Emit(HciCommandReq)`` effect and
remembers a continuation under a fresh token; when the HCI actor's ``HciCommandCnf`` comes
back, :meth:`CommandIssuer.on_confirmation` calls that continuation with a
:class:`CommandOutcome` (success, non-zero status, or no answer at all) and returns its effects.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Generator
from typing import Any

import attrs

from bluetrio.actors.btm.controller_info import OPTIONAL_COMMAND_TIMEOUT, Query, Skipped
from bluetrio.actors.effects import Effects, Emit
from bluetrio.errors import DecodeError
from bluetrio.messages import hci
from bluetrio.messages.btm import BtmCnf
from bluetrio.messages.hci.status import describe_status
from bluetrio.messages.hci_service import HciCommandCnf, HciCommandReq

logger = logging.getLogger(__name__)

# Status used when no event came back (Vol 1 Part F 1.3: "Unspecified Error").
UNSPECIFIED_ERROR = 0x1F


@attrs.frozen
class CommandOutcome:
    """What became of one command: the controller's answer, or why there is none."""

    command: hci.HciCommand
    event: hci.CommandComplete | hci.CommandStatus | None
    error: str | None = None
    timed_out: bool = False

    @property
    def status(self) -> int:
        """The HCI status (0 = success); ``UNSPECIFIED_ERROR`` when there was no answer."""
        if self.event is None:
            return UNSPECIFIED_ERROR
        status = getattr(self.event, "status", 0)
        return status if isinstance(status, int) else UNSPECIFIED_ERROR

    @property
    def ok(self) -> bool:
        return self.event is not None and self.status == 0

    def returned(self) -> Any:
        """The decoded return parameters of a Command Complete (Vol 4 Part E 7.7.14); the
        event itself for a Command Status, which has none."""
        decode = getattr(self.event, "decode_return", None)
        return self.event if decode is None else decode()

    def describe(self) -> str:
        """What failed, without the status: an :class:`~bluetrio.errors.HciError` built from
        ``status`` names it (see :meth:`describe_with_status` for logs)."""
        name = getattr(self.command, "NAME", type(self.command).__name__)
        if self.event is None:
            return f"{name}: {self.error}"
        return f"{name} failed"

    def describe_with_status(self) -> str:
        """:meth:`describe` with the status named, for logs and notes shown as they are."""
        if self.event is None:
            return self.describe()
        return f"{self.describe()}: {describe_status(self.status)}"

    def confirmation(self, token: int) -> BtmCnf:
        """The :class:`BtmCnf` of a request that this command's outcome answers."""
        if self.ok:
            return BtmCnf(token)
        return BtmCnf(token, self.status, self.describe(), timed_out=self.timed_out)


Continuation = Callable[[CommandOutcome, float], Effects]


def ignore_outcome(outcome: CommandOutcome, now: float) -> Effects:
    """A continuation for commands whose answer only matters when it is a failure."""
    if not outcome.ok:
        logger.warning("btm: %s", outcome.describe_with_status())
    return []


class CommandIssuer:
    """Tokens and continuations of the commands one actor has in flight."""

    def __init__(self) -> None:
        self._tokens = itertools.count(1)
        self._waiting: dict[int, tuple[hci.HciCommand, Continuation]] = {}

    def send(
        self,
        command: hci.HciCommand,
        then: Continuation = ignore_outcome,
        *,
        timeout: float | None = None,
    ) -> Effects:
        """Effects that send ``command``; ``then(outcome, now)`` runs when it is answered.

        ``timeout`` (seconds) overrides the HCI actor's default; use a short one for
        optional commands a controller may leave unanswered.
        """
        token = next(self._tokens)
        self._waiting[token] = (command, then)
        return [Emit(HciCommandReq(token, command, timeout))]

    def on_confirmation(self, confirmation: HciCommandCnf, now: float) -> Effects:
        """Run the continuation waiting for ``confirmation``; stray answers are logged."""
        waiting = self._waiting.pop(confirmation.token, None)
        if waiting is None:
            logger.warning("btm: %s matches no command in flight; ignored", confirmation.summary())
            return []
        command, then = waiting
        outcome = CommandOutcome(
            command, confirmation.event, confirmation.error, confirmation.timed_out
        )
        if outcome.ok:
            # A successful Command Complete whose return parameters do not decode is no
            # success: every continuation sees it as a failure, none has to catch it.
            try:
                outcome.returned()
            except DecodeError as exc:
                logger.warning("btm: %s: malformed return parameters; failed", command.NAME)
                outcome = CommandOutcome(command, None, f"malformed return parameters: {exc}")
        return then(outcome, now)

    @property
    def in_flight(self) -> int:
        return len(self._waiting)


Finished = Callable[[Any, float], Effects]
Failed = Callable[[CommandOutcome, float], Effects]


class SequenceRunner:
    """Drives a :data:`~bluetrio.controller_info.CommandSequence` (a generator of Queries)
    through a :class:`CommandIssuer`: each answer is sent back into the generator.

    A failed mandatory command ends the sequence with ``on_failed``; an optional one that
    fails or times out (after ``optional_timeout`` seconds) is logged and skipped.
    """

    def __init__(
        self,
        issuer: CommandIssuer,
        sequence: Generator[Query, Any, Any],
        on_finished: Finished,
        on_failed: Failed,
        *,
        optional_timeout: float = OPTIONAL_COMMAND_TIMEOUT,
    ) -> None:
        self._issuer = issuer
        self._sequence = sequence
        self._on_finished = on_finished
        self._on_failed = on_failed
        self._optional_timeout = optional_timeout
        self._current: Query | None = None
        self.active = False

    def start(self, now: float) -> Effects:
        self.active = True
        return self._advance(None, now)

    @property
    def current_step(self) -> str | None:
        """The name of the command the sequence waits for, if any."""
        if not self.active or self._current is None:
            return None
        command = self._current.command
        return str(getattr(command, "NAME", type(command).__name__))

    def abandon(self) -> None:
        """Stop without calling back (a reset made the sequence pointless)."""
        self.active = False
        self._sequence.close()

    def _advance(self, answer: Any, now: float) -> Effects:
        try:
            query = self._sequence.send(answer)
        except StopIteration as finished:
            self.active = False
            return self._on_finished(finished.value, now)
        self._current = query
        timeout = self._optional_timeout if query.optional else None
        return self._issuer.send(query.command, self._on_answer, timeout=timeout)

    def _on_answer(self, outcome: CommandOutcome, now: float) -> Effects:
        if not self.active or self._current is None:
            return []
        if outcome.ok:
            try:
                answer = outcome.returned()
            except DecodeError as exc:
                if not self._current.optional:
                    return self._fail(outcome, now)
                answer = Skipped(f"malformed return parameters: {exc}")
            return self._advance(answer, now)
        if self._current.optional:
            logger.info("btm: optional %s; skipped", outcome.describe_with_status())
            return self._advance(Skipped(outcome.describe_with_status()), now)
        return self._fail(outcome, now)

    def _fail(self, outcome: CommandOutcome, now: float) -> Effects:
        self.active = False
        self._sequence.close()
        return self._on_failed(outcome, now)
