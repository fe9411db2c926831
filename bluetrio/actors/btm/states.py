"""The state machines of BTM's security, as tables a reader can hold against the spec.

Two machines run per BR/EDR link, both released with the link:

* :class:`LinkSecurityState`: where the link stands on the way to "authenticated and
  encrypted to our policy". It follows the host side of the message sequence charts of
  Core 5.4 Vol 2 Part F 4 (authentication requested, then Set_Connection_Encryption, then
  the key size check) and the events of Vol 4 Part E 7.7.6 (Authentication_Complete),
  7.7.8 / 7.7.8.2 (Encryption_Change v1/v2) and the command 7.5.7
  (Read_Encryption_Key_Size). Its events are what the host does or learns, named for it.
* :class:`PairingState`: Secure Simple Pairing as the host sees it (Vol 3 Part C 5.2.2;
  Vol 2 Part F 4.2 and Vol 2 Part H 7): the IO capability exchange (Vol 4 Part E 7.7.40,
  7.7.41), authentication stage 1 with the user (7.7.42 User_Confirmation_Request,
  7.7.43 User_Passkey_Request, 7.7.44 Remote_OOB_Data_Request, 7.7.48
  User_Passkey_Notification), Simple_Pairing_Complete (7.7.45) and the new key
  (Link_Key_Notification, 7.7.24).

Each table maps ``(state, event)`` to the next state; the control blocks move only through
:func:`bluetrio.actors.state_machine.transition`, which refuses anything the table does not
list with :class:`~bluetrio.errors.StateTransitionError`. The handlers ask the table first
where an out-of-state input from the wire is expected (it is answered the spec's way, e.g. a
negative reply, and the state stays).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class LinkSecurityState(enum.Enum):
    """Security of one BR/EDR link, from link up to link down."""

    UNSECURED = "unsecured"  # connected; not (yet) authenticated and encrypted to policy
    AUTHENTICATING = "authenticating"  # our Authentication_Requested (7.1.15) is running
    ENCRYPTING = "encrypting"  # our Set_Connection_Encryption (7.1.16) is running
    CHECKING_KEY_SIZE = "checking key size"  # Read_Encryption_Key_Size (7.5.7) in flight
    VERIFYING_PEER = "verifying peer"  # challenging a peer that only challenged us (BIAS)
    SECURED = "secured"  # encrypted with an acceptable key of an acceptable size
    CLOSING = "closing"  # Disconnect (7.1.6) sent for a security reason


class LinkSecurityEvent(enum.Enum):
    AUTHENTICATION_REQUESTED = "Authentication_Requested sent for a requester"
    AUTHENTICATION_FAILED = "Authentication_Complete with an error, or the command refused"
    ENCRYPTION_REQUESTED = "Set_Connection_Encryption sent after authentication"
    ENCRYPTION_FAILED = "Encryption_Change with an error, or the command refused"
    KEY_SIZE_REQUESTED = "encryption on, key size unknown: Read_Encryption_Key_Size sent"
    PEER_CHALLENGED = "Authentication_Requested sent for the peer to prove the key"
    ACCEPTED = "encrypted with an acceptable key and size, peer verified"
    ENCRYPTION_OFF = "Encryption_Change with Encryption_Enabled 0x00"
    REJECTED = "a policy refused the link: Disconnect sent"


_L = LinkSecurityState
_LE = LinkSecurityEvent

# Every state but CLOSING may be refused (a timer, a key from a pairing we did not accept).
# A peer may start encryption itself, so an unsecured link can go straight to the checks.
# Encryption seen while one of our Authentication_Requested runs (AUTHENTICATING,
# VERIFYING_PEER) is checked when Authentication_Complete arrives: those states leave for
# the checks only through that event. A peer that proved its key is never challenged, so
# PEER_CHALLENGED follows only checks of a link the peer secured on its own.
LINK_TRANSITIONS: Mapping[tuple[LinkSecurityState, LinkSecurityEvent], LinkSecurityState] = {
    (_L.UNSECURED, _LE.AUTHENTICATION_REQUESTED): _L.AUTHENTICATING,
    (_L.UNSECURED, _LE.KEY_SIZE_REQUESTED): _L.CHECKING_KEY_SIZE,
    (_L.UNSECURED, _LE.PEER_CHALLENGED): _L.VERIFYING_PEER,
    (_L.UNSECURED, _LE.ACCEPTED): _L.SECURED,
    (_L.UNSECURED, _LE.ENCRYPTION_OFF): _L.UNSECURED,
    (_L.UNSECURED, _LE.REJECTED): _L.CLOSING,
    (_L.AUTHENTICATING, _LE.ENCRYPTION_REQUESTED): _L.ENCRYPTING,
    (_L.AUTHENTICATING, _LE.KEY_SIZE_REQUESTED): _L.CHECKING_KEY_SIZE,
    (_L.AUTHENTICATING, _LE.ACCEPTED): _L.SECURED,
    (_L.AUTHENTICATING, _LE.AUTHENTICATION_FAILED): _L.UNSECURED,
    (_L.AUTHENTICATING, _LE.ENCRYPTION_OFF): _L.UNSECURED,
    (_L.AUTHENTICATING, _LE.REJECTED): _L.CLOSING,
    (_L.ENCRYPTING, _LE.KEY_SIZE_REQUESTED): _L.CHECKING_KEY_SIZE,
    (_L.ENCRYPTING, _LE.ACCEPTED): _L.SECURED,
    (_L.ENCRYPTING, _LE.ENCRYPTION_FAILED): _L.UNSECURED,
    (_L.ENCRYPTING, _LE.ENCRYPTION_OFF): _L.UNSECURED,
    (_L.ENCRYPTING, _LE.REJECTED): _L.CLOSING,
    (_L.CHECKING_KEY_SIZE, _LE.KEY_SIZE_REQUESTED): _L.CHECKING_KEY_SIZE,
    (_L.CHECKING_KEY_SIZE, _LE.PEER_CHALLENGED): _L.VERIFYING_PEER,
    (_L.CHECKING_KEY_SIZE, _LE.ACCEPTED): _L.SECURED,
    (_L.CHECKING_KEY_SIZE, _LE.ENCRYPTION_OFF): _L.UNSECURED,
    (_L.CHECKING_KEY_SIZE, _LE.REJECTED): _L.CLOSING,
    (_L.VERIFYING_PEER, _LE.KEY_SIZE_REQUESTED): _L.CHECKING_KEY_SIZE,
    (_L.VERIFYING_PEER, _LE.ACCEPTED): _L.SECURED,
    (_L.VERIFYING_PEER, _LE.ENCRYPTION_OFF): _L.UNSECURED,
    (_L.VERIFYING_PEER, _LE.REJECTED): _L.CLOSING,
    # Encryption restarted on a secured link (e.g. paused for a role switch) is checked again.
    (_L.SECURED, _LE.KEY_SIZE_REQUESTED): _L.CHECKING_KEY_SIZE,
    (_L.SECURED, _LE.ACCEPTED): _L.SECURED,
    (_L.SECURED, _LE.ENCRYPTION_OFF): _L.UNSECURED,
    (_L.SECURED, _LE.REJECTED): _L.CLOSING,
}

# States in which a procedure runs: a requester waits, the procedure timer is armed.
LINK_PROCEDURE_STATES = frozenset(
    {_L.AUTHENTICATING, _L.ENCRYPTING, _L.CHECKING_KEY_SIZE, _L.VERIFYING_PEER}
)


class PairingState(enum.Enum):
    """Secure Simple Pairing on one link (Vol 3 Part C 5.2.2; Vol 2 Part H 7.2)."""

    IDLE = "idle"  # no pairing on this link
    PEER_IO_RECEIVED = "peer IO received"  # IO_Capability_Response first: we respond
    ASKING_OOB = "asking OOB"  # our IO_Capability_Request_Reply waits for the OOB provider
    IO_REPLIED = "IO replied"  # IO_Capability_Request_Reply sent
    STAGE_1 = "stage 1"  # the association model's user step (Vol 2 Part H 7.2.1-7.2.4)
    COMPLETED = "completed"  # Simple_Pairing_Complete success; the link key comes next


class PairingEvent(enum.Enum):
    IO_CAPABILITY_RECEIVED = "IO_Capability_Response (7.7.41)"
    OOB_ASKED = "IO_Capability_Request (7.7.40) while OOB data may exist: provider asked"
    IO_CAPABILITY_REPLIED = "IO_Capability_Request_Reply (7.1.29) sent"
    USER_STEP = "User_Confirmation/User_Passkey/Remote_OOB_Data request or passkey shown"
    PAIRING_SUCCEEDED = "Simple_Pairing_Complete (7.7.45), success"
    PAIRING_FAILED = "Simple_Pairing_Complete with an error, or pairing refused or abandoned"
    LINK_KEY_NOTIFIED = "Link_Key_Notification (7.7.24) after a completed pairing"


_P = PairingState
_PE = PairingEvent

# The two IO capability events come in either order: the initiator's host is asked first
# (7.7.40 then 7.7.41), the responder's is told first (Vol 2 Part F 4.2). Every step may fail.
PAIRING_TRANSITIONS: Mapping[tuple[PairingState, PairingEvent], PairingState] = {
    (_P.IDLE, _PE.IO_CAPABILITY_RECEIVED): _P.PEER_IO_RECEIVED,
    (_P.IDLE, _PE.OOB_ASKED): _P.ASKING_OOB,
    (_P.IDLE, _PE.IO_CAPABILITY_REPLIED): _P.IO_REPLIED,
    (_P.IDLE, _PE.PAIRING_FAILED): _P.IDLE,
    (_P.PEER_IO_RECEIVED, _PE.IO_CAPABILITY_RECEIVED): _P.PEER_IO_RECEIVED,
    (_P.PEER_IO_RECEIVED, _PE.OOB_ASKED): _P.ASKING_OOB,
    (_P.PEER_IO_RECEIVED, _PE.IO_CAPABILITY_REPLIED): _P.IO_REPLIED,
    (_P.PEER_IO_RECEIVED, _PE.PAIRING_FAILED): _P.IDLE,
    (_P.ASKING_OOB, _PE.IO_CAPABILITY_RECEIVED): _P.ASKING_OOB,
    (_P.ASKING_OOB, _PE.IO_CAPABILITY_REPLIED): _P.IO_REPLIED,
    (_P.ASKING_OOB, _PE.PAIRING_FAILED): _P.IDLE,
    (_P.IO_REPLIED, _PE.IO_CAPABILITY_RECEIVED): _P.IO_REPLIED,
    (_P.IO_REPLIED, _PE.USER_STEP): _P.STAGE_1,
    (_P.IO_REPLIED, _PE.PAIRING_FAILED): _P.IDLE,
    (_P.STAGE_1, _PE.USER_STEP): _P.STAGE_1,  # e.g. a passkey shown, then typed on the peer
    (_P.STAGE_1, _PE.PAIRING_SUCCEEDED): _P.COMPLETED,
    (_P.STAGE_1, _PE.PAIRING_FAILED): _P.IDLE,
    (_P.COMPLETED, _PE.LINK_KEY_NOTIFIED): _P.IDLE,
    (_P.COMPLETED, _PE.PAIRING_FAILED): _P.IDLE,
}


# -- LE links: what BTM does for SMP (Core 5.4 Vol 3 Part H 2.4.4; Vol 4 Part E 7.8.24) -------
#
# Two machines run per LE link too, both released with the link. The pairing protocol itself
# is SMP's; BTM only tracks whether it waits on SMP for its requesters, and drives the
# controller's encryption for SMP.


class LeSecurityState(enum.Enum):
    """BTM's requesters of one LE link (PairReq, LinkSecurityReq, a peer's Security Request)."""

    IDLE = "idle"  # nothing asked of SMP
    WAITING_SMP = "waiting for SMP"  # our SmpPairReq is out; its SmpPairCnf answers them


class LeSecurityEvent(enum.Enum):
    PAIR_REQUESTED = "SmpPairReq sent"
    SMP_ANSWERED = "SmpPairCnf received for our SmpPairReq"
    TIMED_OUT = "no SmpPairCnf within the procedure deadline"


_LS = LeSecurityState
_LSE = LeSecurityEvent

LE_SECURITY_TRANSITIONS: Mapping[tuple[LeSecurityState, LeSecurityEvent], LeSecurityState] = {
    (_LS.IDLE, _LSE.PAIR_REQUESTED): _LS.WAITING_SMP,
    (_LS.WAITING_SMP, _LSE.SMP_ANSWERED): _LS.IDLE,
    (_LS.WAITING_SMP, _LSE.TIMED_OUT): _LS.IDLE,
}


class LeEncryptionState(enum.Enum):
    """The controller's encryption of one LE link as BTM drives it."""

    IDLE = "idle"
    ENABLING = "enabling"  # central: LE_Enable_Encryption (7.8.24) sent for SMP's LeEncryptReq
    REPLIED = "replied"  # peripheral: LE_Long_Term_Key_Request_Reply (7.8.25) sent


class LeEncryptionEvent(enum.Enum):
    ENABLE_SENT = "LE_Enable_Encryption sent"
    KEY_REPLIED = "LE_Long_Term_Key_Request_Reply sent"
    CHANGED = "Encryption_Change (7.7.8) or Encryption_Key_Refresh_Complete (7.7.39) success"
    FAILED = "the command refused, Encryption_Change with an error, or the deadline passed"


_LN = LeEncryptionState
_LNE = LeEncryptionEvent

LE_ENCRYPTION_TRANSITIONS: Mapping[
    tuple[LeEncryptionState, LeEncryptionEvent], LeEncryptionState
] = {
    (_LN.IDLE, _LNE.ENABLE_SENT): _LN.ENABLING,
    (_LN.IDLE, _LNE.KEY_REPLIED): _LN.REPLIED,
    (_LN.IDLE, _LNE.CHANGED): _LN.IDLE,  # the peer (central) refreshed or paused encryption
    (_LN.ENABLING, _LNE.CHANGED): _LN.IDLE,
    (_LN.ENABLING, _LNE.FAILED): _LN.IDLE,
    (_LN.REPLIED, _LNE.CHANGED): _LN.IDLE,
    (_LN.REPLIED, _LNE.FAILED): _LN.IDLE,
    (_LN.REPLIED, _LNE.KEY_REPLIED): _LN.REPLIED,  # the central started again
}
