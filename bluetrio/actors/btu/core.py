"""BTU: the dispatcher between the HCI actor and the layers above (Bluedroid's
``btu_hcif_process_event``, seed 001).

Each HCI event class has exactly one owner, listed in :data:`EVENT_OWNERS` by topic so a
reader can check it against Core 5.4 Vol 4 Part E 7.7. The device manager owns every event
today (connection, security, controller, inquiry, advertising and scanning); security events
reach the security core through it. An event without an entry (an unknown code, or a class
nobody claimed) is logged with its code and forwarded to BTM as-is: nothing is dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from bluetrio.actors.effects import Effects, Send
from bluetrio.messages import hci
from bluetrio.messages.base import Message
from bluetrio.messages.hci_service import ControllerErrorInd, HciEventInd

logger = logging.getLogger(__name__)

BTM = "btm"

CONNECTION_EVENTS: tuple[type[Any], ...] = (
    hci.ConnectionComplete, hci.ConnectionRequest, hci.DisconnectionComplete, hci.RoleChange,
    hci.ReadRemoteSupportedFeaturesComplete, hci.ReadRemoteExtendedFeaturesComplete,
    hci.ReadRemoteVersionInformationComplete, hci.ModeChange, hci.MaxSlotsChange,
    hci.LinkSupervisionTimeoutChanged, hci.LeConnectionComplete,
    hci.LeEnhancedConnectionComplete, hci.LeEnhancedConnectionCompleteV2,
    hci.LeConnectionUpdateComplete, hci.LeReadRemoteFeaturesComplete,
    hci.LeRemoteConnectionParameterRequest, hci.LeDataLengthChange, hci.LePhyUpdateComplete,
    hci.LeChannelSelectionAlgorithm,
)  # fmt: skip
SECURITY_EVENTS: tuple[type[Any], ...] = (
    hci.AuthenticationComplete, hci.EncryptionChange, hci.EncryptionChangeV2,
    hci.ChangeConnectionLinkKeyComplete, hci.PinCodeRequest, hci.LinkKeyRequest,
    hci.LinkKeyNotification, hci.EncryptionKeyRefreshComplete, hci.IoCapabilityRequest,
    hci.IoCapabilityResponse, hci.UserConfirmationRequest, hci.UserPasskeyRequest,
    hci.RemoteOobDataRequest, hci.SimplePairingComplete, hci.UserPasskeyNotification,
    hci.KeypressNotification, hci.RemoteHostSupportedFeaturesNotification,
    hci.LeLongTermKeyRequest,
)  # fmt: skip
CONTROLLER_EVENTS: tuple[type[Any], ...] = (hci.HardwareError, hci.DataBufferOverflow)
INQUIRY_EVENTS: tuple[type[Any], ...] = (
    hci.InquiryComplete, hci.InquiryResult, hci.InquiryResultWithRssi,
    hci.ExtendedInquiryResult, hci.RemoteNameRequestComplete,
    hci.PageScanRepetitionModeChange,
)  # fmt: skip
ADVERTISING_AND_SCAN_EVENTS: tuple[type[Any], ...] = (
    hci.LeAdvertisingReport, hci.LeExtendedAdvertisingReport, hci.LeDirectedAdvertisingReport,
    hci.LeScanTimeout, hci.LeAdvertisingSetTerminated, hci.LeScanRequestReceived,
)  # fmt: skip

# (owner, events) by topic; EVENT_OWNERS is derived, so a class listed twice is caught by
# the BTU unit test rather than silently routed to the later owner.
ROUTING: tuple[tuple[str, tuple[type[Any], ...]], ...] = (
    (BTM, CONNECTION_EVENTS),
    (BTM, SECURITY_EVENTS),
    (BTM, CONTROLLER_EVENTS),
    (BTM, INQUIRY_EVENTS),
    (BTM, ADVERTISING_AND_SCAN_EVENTS),
)
EVENT_OWNERS: dict[type[Any], str] = {kind: owner for owner, events in ROUTING for kind in events}


def event_code(event: Any) -> str:
    """The event code (and LE subevent code) for logs."""
    code = getattr(event, "event_code", None)
    subevent = getattr(event, "subevent_code", None)
    text = f"0x{code:02X}" if isinstance(code, int) else "?"
    if isinstance(subevent, int):
        text += f"/0x{subevent:02X}"
    return text


class BtuCore:
    name = "btu"

    def __init__(self, owners: dict[type[Any], str] | None = None) -> None:
        self.owners = EVENT_OWNERS if owners is None else owners
        self.unrouted = 0
        # Actors that also get a copy of every event (the application, while it asked for
        # raw events with ``Stack.events``).
        self.mirror: tuple[str, ...] = ()

    def handle(self, sender: str, message: Message, now: float) -> Effects:
        if isinstance(message, HciEventInd):
            event: Any = message.event
            owner = self.owners.get(type(event))
            if owner is None:
                self.unrouted += 1
                logger.info(
                    "btu: event %s (%s) has no owner; forwarded to btm",
                    event_code(event), type(event).__name__,
                )  # fmt: skip
                owner = BTM
            effects: Effects = [Send(owner, message)]
            return effects + [Send(name, message) for name in self.mirror]
        if type(message) is ControllerErrorInd:
            return [Send(BTM, message)]
        logger.warning("btu: unexpected %s from %s; ignored", message.summary(), sender)
        return []

    def drop_connection(self, handle: int, reason: str, now: float) -> Effects:
        return []  # BTU keeps no per-connection state
