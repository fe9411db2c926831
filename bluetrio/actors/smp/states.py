"""The phases of an SMP pairing (Core 5.4 Vol 3 Part H 2.1, 2.3, 3) and what may be received
in each.

A pairing runs phase 1 (Pairing Feature Exchange, 2.3), phase 2 (legacy: TK and STK, 2.3.5;
Secure Connections: public keys, authentication stages 1 and 2, 2.3.5.6), encryption with the
STK or LTK (2.4.4) and phase 3 (Transport Specific Key Distribution, 3.6.1). ``ALLOWED`` is
the set of codes a phase may receive: a code outside it is out of state and fails the
pairing with Unspecified Reason; the context narrows it further step by step (for example
to the one key that comes next in 3.6.1's order), always within the phase's set.
``TRANSITIONS`` is every move between phases; a context moves only through it.
"""

from __future__ import annotations

import enum

from bluetrio.messages.btm import Role
from bluetrio.messages.smp import SmpCode


class Phase(enum.Enum):
    IDLE = "idle"  # no pairing on the link
    ENCRYPTING_WITH_BOND = "encrypting with a stored key"  # central, LTK of a bond (2.4.4.2)
    SECURITY_REQUESTED = "security requested"  # peripheral sent a Security Request (2.4.6)
    FEATURE_EXCHANGE = "pairing feature exchange"  # central sent a Pairing Request (2.3)
    PUBLIC_KEY_EXCHANGE = "public key exchange"  # Secure Connections (2.3.5.6.1)
    CONFIRM = "confirm"  # waiting for the peer's Pairing Confirm (2.3.5.5, 2.3.5.6.2-3)
    RANDOM = "random"  # waiting for the peer's Pairing Random
    DHKEY_CHECK = "DHKey check"  # Secure Connections authentication stage 2 (2.3.5.6.5)
    ENCRYPTION = "encryption"  # the link is being encrypted with the STK or LTK (2.4.4)
    KEY_DISTRIBUTION = "key distribution"  # 3.6.1
    TIMED_OUT = "timed out"  # no SMP until the link is closed (3.4)


class PhaseEvent(enum.Enum):
    ENCRYPT_WITH_BOND = "encrypt with a stored key"
    REQUEST_SECURITY = "send a Security Request"
    SEND_PAIRING_REQUEST = "send a Pairing Request"
    FEATURES_LEGACY = "features exchanged, legacy pairing"
    FEATURES_SECURE = "features exchanged, Secure Connections"
    PUBLIC_KEYS_EXCHANGED = "public keys exchanged"
    OOB_NONCES = "OOB: nonces exchanged without confirm values"
    CONFIRM_RECEIVED = "confirm value received"
    NEXT_PASSKEY_ROUND = "next passkey round"
    RANDOMS_CHECKED_LEGACY = "legacy randoms checked"
    RANDOMS_CHECKED_SECURE = "Secure Connections nonces checked"
    DHKEY_CHECKED = "DHKey check value checked"
    ENCRYPTED = "link encrypted"
    KEYS_DISTRIBUTED = "keys distributed"
    ENDED = "pairing ended (completed or failed)"
    TIMEOUT = "SMP timeout"


_P = Phase
_E = PhaseEvent

TRANSITIONS: dict[tuple[Phase, PhaseEvent], Phase] = {
    (_P.IDLE, _E.ENCRYPT_WITH_BOND): _P.ENCRYPTING_WITH_BOND,
    (_P.IDLE, _E.REQUEST_SECURITY): _P.SECURITY_REQUESTED,
    (_P.IDLE, _E.SEND_PAIRING_REQUEST): _P.FEATURE_EXCHANGE,
    (_P.ENCRYPTING_WITH_BOND, _E.SEND_PAIRING_REQUEST): _P.FEATURE_EXCHANGE,
    (_P.ENCRYPTING_WITH_BOND, _E.ENDED): _P.IDLE,
    (_P.SECURITY_REQUESTED, _E.ENDED): _P.IDLE,
    # The peripheral answers a Pairing Request from IDLE or after its Security Request.
    (_P.IDLE, _E.FEATURES_LEGACY): _P.CONFIRM,
    (_P.IDLE, _E.FEATURES_SECURE): _P.PUBLIC_KEY_EXCHANGE,
    (_P.SECURITY_REQUESTED, _E.FEATURES_LEGACY): _P.CONFIRM,
    (_P.SECURITY_REQUESTED, _E.FEATURES_SECURE): _P.PUBLIC_KEY_EXCHANGE,
    (_P.FEATURE_EXCHANGE, _E.FEATURES_LEGACY): _P.CONFIRM,
    (_P.FEATURE_EXCHANGE, _E.FEATURES_SECURE): _P.PUBLIC_KEY_EXCHANGE,
    (_P.PUBLIC_KEY_EXCHANGE, _E.PUBLIC_KEYS_EXCHANGED): _P.CONFIRM,
    (_P.PUBLIC_KEY_EXCHANGE, _E.OOB_NONCES): _P.RANDOM,
    (_P.CONFIRM, _E.CONFIRM_RECEIVED): _P.RANDOM,
    (_P.RANDOM, _E.NEXT_PASSKEY_ROUND): _P.CONFIRM,
    (_P.RANDOM, _E.RANDOMS_CHECKED_LEGACY): _P.ENCRYPTION,
    (_P.RANDOM, _E.RANDOMS_CHECKED_SECURE): _P.DHKEY_CHECK,
    (_P.DHKEY_CHECK, _E.DHKEY_CHECKED): _P.ENCRYPTION,
    (_P.ENCRYPTION, _E.ENCRYPTED): _P.KEY_DISTRIBUTION,
    (_P.KEY_DISTRIBUTION, _E.KEYS_DISTRIBUTED): _P.IDLE,
    **{(phase, _E.ENDED): _P.IDLE for phase in Phase if phase is not _P.TIMED_OUT},
    **{(phase, _E.TIMEOUT): _P.TIMED_OUT for phase in Phase if phase is not _P.TIMED_OUT},
}

_C = SmpCode
_KEYS = frozenset(
    {
        _C.ENCRYPTION_INFORMATION,
        _C.CENTRAL_IDENTIFICATION,
        _C.IDENTITY_INFORMATION,
        _C.IDENTITY_ADDRESS_INFORMATION,
        _C.SIGNING_INFORMATION,
    }
)
_FAILED = frozenset({_C.PAIRING_FAILED})

# What each role may receive in each phase (the receiver's allowed command set, 3.3-3.6).
ALLOWED: dict[tuple[Role, Phase], frozenset[SmpCode]] = {
    (Role.CENTRAL, _P.IDLE): frozenset({_C.SECURITY_REQUEST}),
    (Role.PERIPHERAL, _P.IDLE): frozenset({_C.PAIRING_REQUEST}),
    (Role.CENTRAL, _P.ENCRYPTING_WITH_BOND): frozenset({_C.SECURITY_REQUEST}),
    (Role.PERIPHERAL, _P.ENCRYPTING_WITH_BOND): frozenset(),
    (Role.CENTRAL, _P.SECURITY_REQUESTED): frozenset(),
    (Role.PERIPHERAL, _P.SECURITY_REQUESTED): frozenset({_C.PAIRING_REQUEST, _C.PAIRING_FAILED}),
    (Role.CENTRAL, _P.FEATURE_EXCHANGE): frozenset({_C.PAIRING_RESPONSE, _C.PAIRING_FAILED}),
    (Role.PERIPHERAL, _P.FEATURE_EXCHANGE): frozenset(),
    **{
        (role, _P.PUBLIC_KEY_EXCHANGE): frozenset({_C.PAIRING_PUBLIC_KEY, _C.PAIRING_FAILED})
        for role in Role
    },
    **{
        (role, _P.CONFIRM): frozenset(
            {_C.PAIRING_CONFIRM, _C.PAIRING_KEYPRESS_NOTIFICATION, _C.PAIRING_FAILED}
        )
        for role in Role
    },
    **{
        (role, _P.RANDOM): frozenset(
            {_C.PAIRING_RANDOM, _C.PAIRING_KEYPRESS_NOTIFICATION, _C.PAIRING_FAILED}
        )
        for role in Role
    },
    **{
        (role, _P.DHKEY_CHECK): frozenset({_C.PAIRING_DHKEY_CHECK, _C.PAIRING_FAILED})
        for role in Role
    },
    # The peer's first key may come before our Encryption Change event (3.6.1).
    **{(role, _P.ENCRYPTION): _KEYS | _FAILED for role in Role},
    **{(role, _P.KEY_DISTRIBUTION): _KEYS | _FAILED for role in Role},
    **{(role, _P.TIMED_OUT): frozenset() for role in Role},
}


# -- SMP over BR/EDR (3.2, 2.4.2.5) ----------------------------------------------------------
# On the BR/EDR fixed channel 0x0007, after the link was encrypted with AES-CCM under a
# Secure Connections link key, the central sends a Pairing Request and the peripheral
# answers; there is no phase 2 (the link key authenticated both sides) and no encryption
# step, so key distribution follows the Pairing Response at once: the LE LTK is derived from
# the link key (EncKey), the identity and signing keys are distributed (3.6.1).


class BrEdrPhase(enum.Enum):
    IDLE = "idle"
    CHECKING_PEER = "asking the peer's fixed channels"  # L2CAP Information Request (4.12)
    FEATURE_EXCHANGE = "pairing feature exchange"  # the central sent a Pairing Request
    KEY_DISTRIBUTION = "key distribution"
    TIMED_OUT = "timed out"  # no SMP until the link is closed (3.4)


class BrEdrPhaseEvent(enum.Enum):
    ASK_PEER = "ask whether the peer has the BR/EDR SMP channel"
    SEND_PAIRING_REQUEST = "send a Pairing Request"
    FEATURES_EXCHANGED = "Pairing Request and Response exchanged"
    KEYS_DISTRIBUTED = "keys distributed"
    ENDED = "ended (completed, failed or not run)"
    TIMEOUT = "SMP timeout"


_B = BrEdrPhase
_BE = BrEdrPhaseEvent

BREDR_TRANSITIONS: dict[tuple[BrEdrPhase, BrEdrPhaseEvent], BrEdrPhase] = {
    (_B.IDLE, _BE.ASK_PEER): _B.CHECKING_PEER,
    (_B.CHECKING_PEER, _BE.SEND_PAIRING_REQUEST): _B.FEATURE_EXCHANGE,
    (_B.IDLE, _BE.FEATURES_EXCHANGED): _B.KEY_DISTRIBUTION,  # the peripheral answered
    (_B.FEATURE_EXCHANGE, _BE.FEATURES_EXCHANGED): _B.KEY_DISTRIBUTION,
    (_B.KEY_DISTRIBUTION, _BE.KEYS_DISTRIBUTED): _B.IDLE,
    **{(phase, _BE.ENDED): _B.IDLE for phase in BrEdrPhase if phase is not _B.TIMED_OUT},
    **{(phase, _BE.TIMEOUT): _B.TIMED_OUT for phase in BrEdrPhase if phase is not _B.TIMED_OUT},
}

# The codes SMP uses over BR/EDR (3.3, table 3.3: the ACL-U column); any other code received
# on 0x0007 is Command Not Supported.
BREDR_CODES = frozenset(
    {
        _C.PAIRING_REQUEST,
        _C.PAIRING_RESPONSE,
        _C.PAIRING_FAILED,
        _C.IDENTITY_INFORMATION,
        _C.IDENTITY_ADDRESS_INFORMATION,
        _C.SIGNING_INFORMATION,
    }
)
_BREDR_KEYS = frozenset(
    {_C.IDENTITY_INFORMATION, _C.IDENTITY_ADDRESS_INFORMATION, _C.SIGNING_INFORMATION}
)

BREDR_ALLOWED: dict[tuple[Role, BrEdrPhase], frozenset[SmpCode]] = {
    (Role.CENTRAL, _B.IDLE): frozenset(),
    (Role.PERIPHERAL, _B.IDLE): frozenset({_C.PAIRING_REQUEST}),
    **{(role, _B.CHECKING_PEER): frozenset() for role in Role},
    (Role.CENTRAL, _B.FEATURE_EXCHANGE): frozenset({_C.PAIRING_RESPONSE, _C.PAIRING_FAILED}),
    (Role.PERIPHERAL, _B.FEATURE_EXCHANGE): frozenset(),
    **{(role, _B.KEY_DISTRIBUTION): _BREDR_KEYS | _FAILED for role in Role},
    **{(role, _B.TIMED_OUT): frozenset() for role in Role},
}
