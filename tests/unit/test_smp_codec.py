"""The SMP wire codec: every command of Core 5.4 Vol 3 Part H 3.5 and 3.6, its length fixed by
its code, and every enumerated value checked before it becomes an enum."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bluetrio.address import Address, AddressType
from bluetrio.errors import InvalidArgumentError
from bluetrio.messages import smp
from bluetrio.messages.btm_security import IoCapability
from bluetrio.messages.fields import FieldCodec, FixedBytes, UInt
from bluetrio.messages.smp import PairingFailedReason as Reason

auth_reqs = st.builds(
    smp.AuthReq,
    st.sampled_from(smp.BondingFlag),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
distributions = st.builds(
    smp.KeyDistributionFlags, st.booleans(), st.booleans(), st.booleans(), st.booleans()
)


def _field_strategy(codec: FieldCodec[Any]) -> st.SearchStrategy[Any]:
    if isinstance(codec, UInt):
        return st.integers(0, codec.limit - 1)
    if isinstance(codec, FixedBytes):
        return st.binary(min_size=codec.size, max_size=codec.size)
    if isinstance(codec, smp.EnumOctet):
        return st.sampled_from(list(codec.enum_type))
    if isinstance(codec, smp.AuthReqOctet):
        return auth_reqs
    if isinstance(codec, smp.KeyDistributionOctet):
        return distributions
    if isinstance(codec, smp.IdentityAddress):
        return st.builds(
            Address,
            st.binary(min_size=6, max_size=6),
            st.sampled_from((AddressType.PUBLIC, AddressType.RANDOM)),
        )
    raise AssertionError(f"no strategy for {codec!r}")


pdus = st.one_of(
    *(
        st.builds(cls, **{name: _field_strategy(codec) for name, codec in cls.LAYOUT})
        for cls in smp.PDU_CLASSES.values()
    )
)


def test_every_code_of_table_3_3_has_a_pdu_of_the_length_its_figure_gives() -> None:
    # Data lengths of figures 3.2-3.18 (the code octet not counted).
    expected = {
        smp.SmpCode.PAIRING_REQUEST: 6,
        smp.SmpCode.PAIRING_RESPONSE: 6,
        smp.SmpCode.PAIRING_CONFIRM: 16,
        smp.SmpCode.PAIRING_RANDOM: 16,
        smp.SmpCode.PAIRING_FAILED: 1,
        smp.SmpCode.ENCRYPTION_INFORMATION: 16,
        smp.SmpCode.CENTRAL_IDENTIFICATION: 10,
        smp.SmpCode.IDENTITY_INFORMATION: 16,
        smp.SmpCode.IDENTITY_ADDRESS_INFORMATION: 7,
        smp.SmpCode.SIGNING_INFORMATION: 16,
        smp.SmpCode.SECURITY_REQUEST: 1,
        smp.SmpCode.PAIRING_PUBLIC_KEY: 64,
        smp.SmpCode.PAIRING_DHKEY_CHECK: 16,
        smp.SmpCode.PAIRING_KEYPRESS_NOTIFICATION: 1,
    }
    assert {code: smp.pdu_length(code) for code in smp.SmpCode} == expected
    assert set(smp.PDU_CLASSES) == set(map(int, smp.SmpCode))


@given(pdu=pdus)
def test_every_pdu_round_trips(pdu: smp.SmpPdu) -> None:
    payload = pdu.to_bytes()
    assert payload[0] == pdu.CODE
    assert len(payload) == 1 + smp.pdu_length(pdu.CODE)  # type: ignore[operator]
    assert smp.decode_pdu(payload) == pdu


def test_pairing_request_wire_layout() -> None:
    # The Pairing Request of the c1 sample data (Vol 3 Part H D.2: preq = 07071000000101,
    # MSB first): code 0x01, IO capability 0x01, OOB 0x00, AuthReq 0x00, max key size 0x10,
    # initiator distribution 0x07, responder distribution 0x07.
    request = smp.PairingRequest(
        IoCapability.DISPLAY_YES_NO,
        smp.OobDataFlag.NOT_PRESENT,
        smp.AuthReq(),
        16,
        smp.KeyDistributionFlags(True, True, True),
        smp.KeyDistributionFlags(True, True, True),
    )
    assert request.to_bytes()[::-1].hex() == "07071000000101"
    assert request.io_cap_octets() == bytes((0x00, 0x00, 0x01))


def test_auth_req_bits() -> None:
    auth = smp.AuthReq(smp.BondingFlag.BONDING, mitm=True, secure_connections=True, ct2=True)
    assert auth.to_octet() == 0b101101
    # Reserved bits 6-7 are ignored on receipt.
    assert smp.AuthReq.from_octet(0b11101101) == auth


@given(payload=st.binary(max_size=80))
def test_any_payload_decodes_or_raises_smp_decode_error_with_a_reason(payload: bytes) -> None:
    try:
        pdu = smp.decode_pdu(payload)
    except smp.SmpDecodeError as error:
        assert error.reason in (Reason.INVALID_PARAMETERS, Reason.COMMAND_NOT_SUPPORTED)
        if not payload:
            assert error.reason is Reason.INVALID_PARAMETERS
        elif payload[0] not in smp.PDU_CLASSES:
            assert error.reason is Reason.COMMAND_NOT_SUPPORTED
        else:
            assert error.reason is Reason.INVALID_PARAMETERS
    else:
        assert len(payload) == 1 + smp.pdu_length(payload[0])  # type: ignore[operator]
        assert smp.decode_pdu(pdu.to_bytes()) == pdu


@pytest.mark.parametrize("code", list(smp.SmpCode))
def test_a_length_other_than_the_code_fixes_is_invalid_parameters(code: smp.SmpCode) -> None:
    good = smp.PDU_CLASSES[code].example().to_bytes()
    for payload in (good[:-1], good + b"\x00"):
        with pytest.raises(smp.SmpDecodeError, match="its code fixes") as caught:
            smp.decode_pdu(payload)
        assert caught.value.reason is Reason.INVALID_PARAMETERS


@pytest.mark.parametrize("code", [0x00, 0x0F, 0x10, 0x7F, 0xFF])
def test_an_unknown_code_is_command_not_supported(code: int) -> None:
    with pytest.raises(smp.SmpDecodeError) as caught:
        smp.decode_pdu(bytes((code, 0)))
    assert caught.value.reason is Reason.COMMAND_NOT_SUPPORTED


@pytest.mark.parametrize(
    "payload",
    [
        "01 05 00 00 10 00 00",  # IO capability 0x05 is reserved (3.5.1)
        "01 00 02 00 10 00 00",  # OOB data flag 0x02 is reserved
        "01 00 00 02 10 00 00",  # Bonding_Flags 0b10 is reserved
        "02 00 00 03 10 00 00",  # Bonding_Flags 0b11 in a Pairing Response
        "05 00",  # reason 0x00 is reserved (3.5.5)
        "05 10",  # reason 0x10 is not one this version defines
        "0e 05",  # keypress notification type 0x05 is reserved (3.5.8)
        "09 02 01 02 03 04 05 06",  # identity address type 0x02 is reserved (3.6.5)
        "0b 03",  # Security Request with reserved Bonding_Flags
    ],
)
def test_a_reserved_value_is_invalid_parameters(payload: str) -> None:
    with pytest.raises(smp.SmpDecodeError) as caught:
        smp.decode_pdu(bytes.fromhex(payload))
    assert caught.value.reason is Reason.INVALID_PARAMETERS


def test_max_key_size_out_of_range_decodes_for_the_core_to_refuse() -> None:
    request = smp.decode_pdu(bytes.fromhex("01 03 00 01 06 00 00"))
    assert isinstance(request, smp.PairingRequest)
    assert request.max_key_size == 6


def test_an_empty_pdu_is_invalid_parameters() -> None:
    with pytest.raises(smp.SmpDecodeError) as caught:
        smp.split_pdu(b"")
    assert caught.value.reason is Reason.INVALID_PARAMETERS


def test_bad_arguments_raise_in_the_caller() -> None:
    with pytest.raises(InvalidArgumentError, match="confirm_value"):
        smp.PairingConfirm(bytes(15))
    with pytest.raises(InvalidArgumentError, match="reason"):
        smp.PairingFailed(8)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="identity address"):
        smp.IdentityAddressInformation(Address(bytes(6), AddressType.PUBLIC_IDENTITY))


def test_key_distribution_ignores_reserved_bits_and_intersects() -> None:
    flags = smp.KeyDistributionFlags.from_octet(0xFF)
    assert flags.to_octet() == 0x0F
    assert (flags & smp.KeyDistributionFlags(enc_key=True)).to_octet() == 0x01
    assert smp.KeyDistributionFlags().empty
