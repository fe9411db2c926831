"""What the GATT server core hands the gatt actor besides the runtime's effects.

The server (``server.py``) answers requests with ATT PDUs but does not know how a bearer
carries them: :class:`SendPdu` names the link and the bearer, and the actor's bearer core
(``bearer.py``) checks and sends it (its MTU, its transaction state, Vol 3 Part F 3.3.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import attrs

from bluetrio.actors.effects import Effect

if TYPE_CHECKING:
    from bluetrio.messages.att import AttPdu

# The bearer number of the unenhanced ATT bearer, on the fixed channel 0x0004 (Vol 3 Part F
# 3.2.11); an enhanced bearer is numbered by its L2CAP channel's local CID (never 0).
UNENHANCED_BEARER = 0


@attrs.frozen
class SendPdu:
    """Send ``pdu`` on link ``handle``'s bearer ``bearer`` (:data:`UNENHANCED_BEARER` or
    an EATT channel's CID): a response to the request received there, a notification or an
    indication."""

    handle: int
    bearer: int
    pdu: AttPdu


Output: TypeAlias = Effect | SendPdu
