"""bluetrio: a Bluetooth host stack (BR/EDR and LE) for Trio, with its own virtual controller.

Everything an application uses is importable from here: :func:`open_stack` and the
:class:`Stack` it yields, the live :class:`Link`, the value types of addresses, advertising
data, scan and inquiry results, pairing (:class:`PairingDelegate`) and bonds
(:class:`KeyStore`), and every error (all defined in :mod:`bluetrio.errors`, all derived from
:class:`BluetrioError`).
"""

from bluetrio.actors.app_port import Mailbox
from bluetrio.actors.btm.config import SecurityConfig, StackConfig
from bluetrio.actors.faults import FaultPolicy
from bluetrio.address import Address, AddressType
from bluetrio.bonds import Bond, LinkKeyType
from bluetrio.errors import (
    AttDecodeError,
    AttError,
    AttTransactionTimeout,
    BluetrioError,
    ConnectionClosedError,
    ConnectionFailedError,
    ConnectionParametersRejected,
    ConnectionTimeoutError,
    ControllerError,
    ControllerNotReadyError,
    DecodeError,
    FcsError,
    FixedChannelUnavailable,
    GattApplicationError,
    GattAttributeError,
    GattError,
    GattProtocolError,
    HciError,
    HciTimeout,
    InvalidArgumentError,
    InvalidPublicKeyError,
    KeyStoreError,
    L2capConnectionRefused,
    L2capError,
    LinkLost,
    PairingError,
    ProtocolError,
    ReflectedPublicKeyError,
    RfcommError,
    SdpError,
    SdpErrorResponse,
    SdpTimeout,
    ServiceNotFound,
    SmpDecodeError,
    StackError,
    StateTransitionError,
    TopologyError,
    TraceFileError,
    TransportError,
    TransportSpecError,
    UnsupportedFeatureError,
    WeakerKeyError,
)
from bluetrio.fixed_channels import FixedChannel
from bluetrio.keystore import JsonKeyStore, KeyStore, MemoryKeyStore
from bluetrio.l2cap import L2capChannel, L2capListener
from bluetrio.link import IncomingLinks, Link
from bluetrio.messages.ad import (
    AdvertisingData,
    Appearance,
    Flags,
    LocalName,
    ManufacturerData,
    ServiceData,
    ServiceUuids,
    TxPowerLevel,
)
from bluetrio.messages.btm import (
    AclLink,
    ConnectionPolicy,
    InquiryResult,
    LeConnectionParameters,
    LinkTransport,
    Role,
    ScanReport,
    SecurityLevel,
)
from bluetrio.messages.btm_security import (
    AssociationModel,
    IoCapability,
    PeerOobData,
    SecurityRequirement,
)
from bluetrio.messages.controller_info import ControllerInfo
from bluetrio.messages.l2cap import ChannelMode
from bluetrio.messages.l2cap_credit_service import CreditMode
from bluetrio.messages.l2cap_service import ChannelParameters, ModePolicy
from bluetrio.messages.rfcomm import (
    FlowControl,
    LineStatus,
    ModemStatus,
    Parity,
    PortParameter,
    PortSettings,
)
from bluetrio.messages.sdp_records import ServiceRecord
from bluetrio.pairing import PairingDelegate, PairingResult, TerminalPairingDelegate
from bluetrio.rfcomm import RfcommListener, RfcommStream
from bluetrio.stack import KeyStoreFactory, ScanReports, Stack, open_stack
from bluetrio.tracing.recorder import TraceRecorder

__version__ = "0.1.0"

__all__ = [
    "AclLink",
    "Address",
    "AddressType",
    "AdvertisingData",
    "Appearance",
    "AssociationModel",
    "AttDecodeError",
    "AttError",
    "AttTransactionTimeout",
    "BluetrioError",
    "Bond",
    "ChannelMode",
    "ChannelParameters",
    "ConnectionClosedError",
    "ConnectionFailedError",
    "ConnectionParametersRejected",
    "ConnectionPolicy",
    "ConnectionTimeoutError",
    "ControllerError",
    "ControllerInfo",
    "ControllerNotReadyError",
    "CreditMode",
    "DecodeError",
    "FaultPolicy",
    "FcsError",
    "FixedChannel",
    "FixedChannelUnavailable",
    "Flags",
    "FlowControl",
    "GattApplicationError",
    "GattAttributeError",
    "GattError",
    "GattProtocolError",
    "HciError",
    "HciTimeout",
    "IncomingLinks",
    "InquiryResult",
    "InvalidArgumentError",
    "InvalidPublicKeyError",
    "IoCapability",
    "JsonKeyStore",
    "KeyStore",
    "KeyStoreError",
    "KeyStoreFactory",
    "L2capChannel",
    "L2capConnectionRefused",
    "L2capError",
    "L2capListener",
    "LeConnectionParameters",
    "LineStatus",
    "Link",
    "LinkKeyType",
    "LinkLost",
    "LinkTransport",
    "LocalName",
    "Mailbox",
    "ManufacturerData",
    "MemoryKeyStore",
    "ModePolicy",
    "ModemStatus",
    "PairingDelegate",
    "PairingError",
    "PairingResult",
    "Parity",
    "PeerOobData",
    "PortParameter",
    "PortSettings",
    "ProtocolError",
    "ReflectedPublicKeyError",
    "RfcommError",
    "RfcommListener",
    "RfcommStream",
    "Role",
    "ScanReport",
    "ScanReports",
    "SdpError",
    "SdpErrorResponse",
    "SdpTimeout",
    "SecurityConfig",
    "SecurityLevel",
    "SecurityRequirement",
    "ServiceData",
    "ServiceNotFound",
    "ServiceRecord",
    "ServiceUuids",
    "SmpDecodeError",
    "Stack",
    "StackConfig",
    "StackError",
    "StateTransitionError",
    "TerminalPairingDelegate",
    "TopologyError",
    "TraceFileError",
    "TraceRecorder",
    "TransportError",
    "TransportSpecError",
    "TxPowerLevel",
    "UnsupportedFeatureError",
    "WeakerKeyError",
    "__version__",
    "open_stack",
]
