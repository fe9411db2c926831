"""The association model of a pairing (Core 5.4 Vol 3 Part H 2.3.5.1).

It follows from both devices' IO capabilities, MITM flags and OOB data flags: out of band
data decides first (legacy: both have it, table 2.6; Secure Connections: either has it,
table 2.7); then, when neither side asks for MITM protection, Just Works; otherwise the IO
capabilities' table 2.8, whose rows are the responder's capability and columns the
initiator's, and whose Numeric Comparison entries are Secure Connections only (legacy falls
back to the entry written beside them).
"""

from __future__ import annotations

import enum

import attrs

from bluetrio.messages.btm_security import AssociationModel, IoCapability

_D = IoCapability.DISPLAY_ONLY
_Y = IoCapability.DISPLAY_YES_NO
_K = IoCapability.KEYBOARD_ONLY
_N = IoCapability.NO_INPUT_NO_OUTPUT
_KD = IoCapability.KEYBOARD_DISPLAY


class PasskeyInput(enum.Enum):
    """Who types the passkey in Passkey Entry (table 2.8); the other side shows it."""

    INITIATOR = "initiator inputs, responder displays"
    RESPONDER = "responder inputs, initiator displays"
    BOTH = "both input"


@attrs.frozen
class Association:
    model: AssociationModel
    passkey_input: PasskeyInput | None = None  # for Passkey Entry only

    @property
    def authenticated(self) -> bool:
        """Whether the keys are protected against a man in the middle (2.3.5.1)."""
        return self.model is not AssociationModel.JUST_WORKS


JW = Association(AssociationModel.JUST_WORKS)
NC = Association(AssociationModel.NUMERIC_COMPARISON)
PK_INIT = Association(AssociationModel.PASSKEY_ENTRY, PasskeyInput.INITIATOR)
PK_RESP = Association(AssociationModel.PASSKEY_ENTRY, PasskeyInput.RESPONDER)
PK_BOTH = Association(AssociationModel.PASSKEY_ENTRY, PasskeyInput.BOTH)

# Table 2.8: (responder, initiator) -> (legacy, Secure Connections).
IO_CAPABILITY_TABLE: dict[tuple[IoCapability, IoCapability], tuple[Association, Association]] = {
    (_D, _D): (JW, JW),
    (_D, _Y): (JW, JW),
    (_D, _K): (PK_INIT, PK_INIT),
    (_D, _N): (JW, JW),
    (_D, _KD): (PK_INIT, PK_INIT),
    (_Y, _D): (JW, JW),
    (_Y, _Y): (JW, NC),
    (_Y, _K): (PK_INIT, PK_INIT),
    (_Y, _N): (JW, JW),
    (_Y, _KD): (PK_INIT, NC),
    (_K, _D): (PK_RESP, PK_RESP),
    (_K, _Y): (PK_RESP, PK_RESP),
    (_K, _K): (PK_BOTH, PK_BOTH),
    (_K, _N): (JW, JW),
    (_K, _KD): (PK_RESP, PK_RESP),
    (_N, _D): (JW, JW),
    (_N, _Y): (JW, JW),
    (_N, _K): (JW, JW),
    (_N, _N): (JW, JW),
    (_N, _KD): (JW, JW),
    (_KD, _D): (PK_RESP, PK_RESP),
    (_KD, _Y): (PK_RESP, NC),
    (_KD, _K): (PK_INIT, PK_INIT),
    (_KD, _N): (JW, JW),
    (_KD, _KD): (PK_RESP, NC),
}

OOB = Association(AssociationModel.OUT_OF_BAND)


def association(
    *,
    secure_connections: bool,
    initiator_io: IoCapability,
    responder_io: IoCapability,
    initiator_mitm: bool,
    responder_mitm: bool,
    initiator_oob: bool,
    responder_oob: bool,
) -> Association:
    """The model both sides arrive at from the Pairing Request and Response (2.3.5.1)."""
    if secure_connections and (initiator_oob or responder_oob):
        return OOB  # table 2.7
    if not secure_connections and initiator_oob and responder_oob:
        return OOB  # table 2.6
    if not (initiator_mitm or responder_mitm):
        return JW
    legacy, secure = IO_CAPABILITY_TABLE[responder_io, initiator_io]
    return secure if secure_connections else legacy
