"""Random and mutated RFCOMM frames into the core, in every multiplexer state it can be in and
on open DLCs: no exception escapes, nothing hangs (every input is handled at once) and the
control blocks stay bounded (RFCOMM 1.2; TS 07.10 5.2.1.6 discards a frame with a bad FCS)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bluetrio.actors.rfcomm.control_blocks import MAX_PARKED_DLCS, MAX_SEND_QUEUE, RECEIVE_WINDOW
from bluetrio.actors.rfcomm.states import DlcState
from bluetrio.messages.rfcomm import (
    CommandType,
    Frame,
    FrameType,
    MultiplexerCommand,
    ParameterNegotiation,
    encode_frame,
    fcs,
)
from bluetrio.messages.rfcomm_service import RfcommDataReq, RfcommRegisterReq
from bluetrio.testing.rfcomm_core import HANDLE, Driver


def connected(role: str) -> Driver:
    driver = Driver()
    for channel in (1, 2, 3):
        driver.deliver(RfcommRegisterReq(channel, channel))
    if role == "initiator":
        driver.open_as_initiator()
    else:
        driver.open_as_responder()
    return driver


def well_formed_frames() -> st.SearchStrategy[bytes]:
    """Frames with a good FCS: what a peer can really send, right or wrong in content."""
    commands = st.builds(
        lambda kind, command, value: MultiplexerCommand(kind, command, value).encode(),
        st.integers(0, 63),
        st.booleans(),
        st.binary(max_size=12),
    )
    pn = st.builds(
        lambda dlci, size, cl, k: MultiplexerCommand(
            CommandType.PN, True,
            ParameterNegotiation(dlci, cl << 4, 7, 0, size, 0, k).encode_fields(),
        ).encode(),
        st.integers(0, 63), st.integers(0, 0xFFFF), st.integers(0, 15), st.integers(0, 255),
    )  # fmt: skip
    control = st.builds(
        lambda body: encode_frame(FrameType.UIH, 0, True, False, body),
        st.lists(st.one_of(commands, pn), max_size=3).map(b"".join),
    )
    any_frame = st.builds(
        lambda kind, dlci, cr, pf, data, credits: Frame(
            kind, dlci, cr, pf,
            data if kind is FrameType.UIH else b"",
            credits if kind is FrameType.UIH and pf and dlci else None,
        ).encode(),
        st.sampled_from(list(FrameType)), st.integers(0, 63), st.booleans(), st.booleans(),
        st.binary(max_size=1200), st.integers(0, 255),
    )  # fmt: skip
    return st.one_of(control, any_frame)


def mutated(data: bytes, position: int, value: int) -> bytes:
    """One octet changed, the FCS made right again so the frame gets past the check."""
    if not data:
        return data
    changed = bytearray(data)
    changed[position % len(changed)] = value
    header = bytes(changed[:2])
    changed[-1] = fcs(header)
    return bytes(changed)


# Two DLCs' timers with one name and one deadline: the driver could not order their keys.
@example(role="initiator", sdus=[b"\r/\x01\xef"], reads=0)
@settings(max_examples=150, deadline=None)
@given(
    role=st.sampled_from(["initiator", "responder"]),
    sdus=st.lists(
        st.one_of(
            well_formed_frames(),
            st.binary(max_size=40),
            st.tuples(well_formed_frames(), st.integers(0, 2000), st.integers(0, 255)).map(
                lambda t: mutated(*t)
            ),
        ),
        max_size=40,
    ),
    reads=st.integers(0, 5),
)
def test_frames_never_crash_and_state_stays_bounded(
    role: str, sdus: list[bytes], reads: int
) -> None:
    driver = connected(role)
    for sdu in sdus:
        driver.peer_raw(sdu)
        driver.l2cap_confirms()
        for dlc in list(driver.mcb.dlcs.values()) if driver.mcb else []:
            driver.deliver(RfcommDataReq(HANDLE, dlc.dlci, b"x" * reads))
        driver.advance(1.0)
        mcb = driver.mcb
        if mcb is not None:
            assert len(mcb.dlcs) <= MAX_PARKED_DLCS
            for dlc in mcb.dlcs.values():
                assert len(dlc.send_queue) <= MAX_SEND_QUEUE
                assert dlc.unread <= 2 * RECEIVE_WINDOW
                assert (
                    dlc.peer_credits + dlc.unread + dlc.owed <= RECEIVE_WINDOW
                    or not dlc.credit_based
                )
        driver.sent.clear()
    # Time passing ends every procedure the frames started.
    driver.advance(300.0)
    mcb = driver.mcb
    waiting = (DlcState.WAIT_PN_RSP, DlcState.WAIT_UA, DlcState.WAIT_DISC_UA)
    assert mcb is None or not any(d.state in waiting for d in mcb.dlcs.values())
