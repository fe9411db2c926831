"""The stored LTK that answers an LE_Long_Term_Key_Request (Vol 4 Part E 7.7.65.5).

The controller asks for the key when the central starts encryption on a link where we are
peripheral (Vol 6 Part B 5.1.3.1). The bond's LTK answers when EDIV and Rand match the ones
distributed at pairing (Vol 3 Part H 2.4.4) and its key size meets the minimum; otherwise
nothing does and the request is refused. A key SMP provides during pairing comes first
(:mod:`.le_security`).
"""

from __future__ import annotations

from bluetrio.bonds import Bond, LongTermKey


def bonded_long_term_key(
    bond: Bond | None, ediv: int, rand: bytes, min_key_size: int
) -> LongTermKey | None:
    """The LTK of ``bond`` named by ``ediv`` and ``rand`` (MSB first), if long enough."""
    if bond is None:
        return None
    candidates = [bond.local_keys.ltk]
    if bond.secure_connections:
        candidates.append(bond.peer_keys.ltk)  # both sides hold the LE SC key
    for ltk in candidates:
        if (
            ltk is not None
            and ltk.ediv == ediv
            and ltk.rand == rand
            and ltk.key_size >= min_key_size
        ):
            return ltk
    return None
