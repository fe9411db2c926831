"""The L2CAP wire codec (Core 5.4 Vol 3 Part A): the basic header and B-frames, signaling
commands and configuration options. ``import bluetrio.messages.l2cap as l2cap`` is the public
face; the modules next to it each hold one part (constants, frames, options, signaling).
"""

from __future__ import annotations

from bluetrio.messages.l2cap.constants import *  # noqa: F403
from bluetrio.messages.l2cap.frames import *  # noqa: F403
from bluetrio.messages.l2cap.options import *  # noqa: F403
from bluetrio.messages.l2cap.signaling import *  # noqa: F403
