"""Questions put to the user through the app-side pairing delegate during Secure Simple
Pairing (Vol 2 Part H 7.2: numeric comparison, passkey entry, out of band).

Each open prompt has an id (the answer carries it back), belongs to one link and has a
deadline: an unanswered prompt is declined when its :class:`PromptTimer` expires, within
the LMP response timeout of 30 s (Vol 2 Part C 4.1). Prompts of a link go with its pairing.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

import attrs

from bluetrio.actors.btm.timer_owners import PromptTimer
from bluetrio.actors.effects import CancelTimer, Effects, Emit, StartTimer, TimerKey
from bluetrio.address import Address
from bluetrio.messages.base import Message
from bluetrio.messages.btm_security import PromptCancelledInd

logger = logging.getLogger(__name__)

DEFAULT_PROMPT_TIMEOUT = 30.0  # seconds; the LMP response timeout (Vol 2 Part C 4.1)


class PromptKind(enum.Enum):
    CONFIRM = "confirm"
    PASSKEY = "passkey"
    OOB = "oob"

    @property
    def noun(self) -> str:
        return {"confirm": "confirmation", "passkey": "passkey", "oob": "OOB data"}[self.value]


@attrs.frozen
class Prompt:
    handle: int
    peer: Address
    kind: PromptKind


def prompt_timer(prompt_id: int) -> TimerKey:
    return TimerKey(PromptTimer(prompt_id), "answer")


class Prompts:
    def __init__(self, *, timeout: float = DEFAULT_PROMPT_TIMEOUT) -> None:
        self.timeout = timeout
        self._open: dict[int, Prompt] = {}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._open)

    def ask(
        self,
        prompt: Prompt,
        build: Callable[[int, Address], Message],
        now: float,
    ) -> Effects:
        """Send the question ``build(prompt_id, peer)`` to the app and arm its deadline."""
        prompt_id = self._next_id
        self._next_id += 1
        self._open[prompt_id] = prompt
        return [
            Emit(build(prompt_id, prompt.peer)),
            StartTimer(prompt_timer(prompt_id), now + self.timeout),
        ]

    def take(self, prompt_id: int, kind: PromptKind) -> tuple[Prompt | None, Effects]:
        """The open prompt an answer is for (its deadline stopped), or None if not open."""
        prompt = self._open.get(prompt_id)
        if prompt is None or prompt.kind is not kind:
            logger.info("security: answer to prompt %d, which is not open; ignored", prompt_id)
            return None, []
        del self._open[prompt_id]
        return prompt, [CancelTimer(prompt_timer(prompt_id))]

    def expire(self, prompt_id: int) -> tuple[Prompt | None, Effects]:
        """A deadline passed: the prompt (if still open) and the app's cancellation."""
        prompt = self._open.pop(prompt_id, None)
        if prompt is None:
            return None, []
        logger.info("security: %s prompt for %s unanswered", prompt.kind.value, prompt.peer)
        return prompt, [Emit(PromptCancelledInd(prompt_id, "no answer in time"))]

    def cancel_link(self, handle: int, why: str) -> Effects:
        """Withdraw every prompt of link ``handle``."""
        effects: Effects = []
        for prompt_id, prompt in list(self._open.items()):
            if prompt.handle == handle:
                del self._open[prompt_id]
                effects.append(CancelTimer(prompt_timer(prompt_id)))
                effects.append(Emit(PromptCancelledInd(prompt_id, why)))
        return effects
