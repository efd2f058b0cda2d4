"""SmlStreamDecoder: resynchronisation, error accounting, bounded work and memory, fuzzing."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.protocols.meter_reading import decode_dump
from app.protocols.sml import (
    START,
    CrcVariant,
    SmlListEntry,
    SmlStreamDecoder,
    build_meter_file,
    crc16_kermit,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sml"
SERVER_ID = bytes.fromhex("0a01454d480000bc614e")
REAL = {p.name: p.read_bytes() for p in sorted(FIXTURES.glob("*.bin"))}


def _frame(value: int = 1) -> bytes:
    return build_meter_file(
        SERVER_ID,
        [SmlListEntry(bytes.fromhex("0100010800ff"), value, unit=30, scaler=-1)],
        sec_index=value,
    )


def _check_invariants(decoder: SmlStreamDecoder) -> None:
    c = decoder.counters
    assert c.frames_ok + c.crc_errors == c.frames_total
    assert c.garbage_bytes >= 0 and c.parse_errors <= c.frames_total
    assert decoder.buffered <= decoder.max_frame_size + 8192


def test_resync_after_garbage_between_frames() -> None:
    a, b = _frame(1), _frame(2)
    junk = b"\x1b\x1b\x1b\x1b\x1b junk \x1b\x1b"
    stream = b"\xff\x00noise" + a + junk + b
    decoder = SmlStreamDecoder()
    frames = decoder.feed(stream)
    assert [f.ok for f in frames] == [True, True]
    assert frames[0].offset == 7
    assert frames[1].offset == 7 + len(a) + len(junk)
    assert decoder.counters.garbage_bytes == 7 + len(junk)
    assert [(e.offset, e.kind) for e in decoder.errors] == [(0, "garbage"), (7 + len(a), "garbage")]


def test_crc_error_is_counted_and_next_frame_decodes() -> None:
    bad = bytearray(_frame(1))
    bad[40] ^= 0x10
    decoder = SmlStreamDecoder()
    frames = decoder.feed(bytes(bad) + _frame(2))
    assert [f.crc_ok for f in frames] == [False, True]
    assert decoder.counters.crc_errors == 1 and decoder.counters.frames_ok == 1
    crc_errors = [e for e in decoder.errors if e.kind == "crc"]
    assert crc_errors[0].offset == len(bad) - 2


def test_frame_interrupted_by_new_start_is_truncated() -> None:
    a, b = _frame(1), _frame(2)
    decoder = SmlStreamDecoder()
    frames = decoder.feed(a[:50] + b)
    assert len(frames) == 1 and frames[0].ok and frames[0].offset == 50
    assert decoder.counters.truncated == 1
    assert (0, "truncated") in [(e.offset, e.kind) for e in decoder.errors]


def test_lost_bytes_give_misaligned_end_and_crc_error() -> None:
    a = _frame(1)
    damaged = a[:30] + a[31:]  # one byte lost on the line
    decoder = SmlStreamDecoder()
    frames = decoder.feed(damaged + _frame(2))
    assert [f.crc_ok for f in frames] == [False, True]
    kinds = {e.kind for e in frames[0].errors}
    assert {"misaligned", "crc"} <= kinds


def test_kermit_frame_in_stream_reports_variant() -> None:
    a = _frame(1)
    head = a[:-2]
    kermit = head + crc16_kermit(head).to_bytes(2, "big")
    (frame,) = SmlStreamDecoder().feed(kermit)
    assert frame.crc_ok and frame.crc_variant is CrcVariant.KERMIT


def test_overflow_drops_the_frame_and_keeps_the_buffer_bounded() -> None:
    decoder = SmlStreamDecoder(max_frame_size=1024)
    frames = decoder.feed(START + bytes(range(256)) * 40)
    assert frames == []
    assert decoder.buffered <= 1024
    assert decoder.errors[0].kind == "overflow"
    frames = decoder.feed(_frame(3))
    assert len(frames) == 1 and frames[0].ok


def test_flush_reports_partial_frame_and_trailing_garbage() -> None:
    decoder = SmlStreamDecoder()
    decoder.feed(_frame(1)[:20])
    decoder.flush()
    assert [e.kind for e in decoder.errors] == ["truncated"]
    decoder = SmlStreamDecoder()
    decoder.feed(b"abc")
    decoder.flush()
    assert [(e.offset, e.kind) for e in decoder.errors] == [(0, "garbage")]
    assert decoder.counters.garbage_bytes == 3


def test_position_counts_all_bytes() -> None:
    decoder = SmlStreamDecoder()
    decoder.feed(b"x" * 10)
    decoder.feed(_frame(1))
    assert decoder.position == 10 + len(_frame(1))


def test_worst_case_inputs_finish_quickly() -> None:
    inputs = [
        b"\x1b" * 200_000,
        START * 20_000,
        START + b"\x1b" * 200_000,
        (START + b"\x1b\x1b\x1b\x1b\x1a") * 10_000,
        START + b"\x71" * 100_000,
        bytes(300_000),
    ]
    for data in inputs:
        decoder = SmlStreamDecoder()
        started = time.perf_counter()
        decoder.feed(data)
        decoder.flush()
        assert time.perf_counter() - started < 5.0
        _check_invariants(decoder)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(data: bytes) -> None:
    decoder = SmlStreamDecoder()
    decoder.feed(data)
    decoder.flush()
    _check_invariants(decoder)
    assert decode_dump(data)["frames"] is not None


sml_ish = st.lists(
    st.sampled_from(
        [START, b"\x1b\x1b\x1b\x1b", b"\x1a", b"\x00", b"\x01", b"\x76", b"\x77", b"\x83\x02"]
    )
    | st.binary(max_size=20),
    max_size=60,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(sml_ish)
def test_sml_like_noise_never_raises(data: bytes) -> None:
    decoder = SmlStreamDecoder()
    decoder.feed(data)
    decoder.flush()
    _check_invariants(decoder)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(sorted(REAL)),
    cut=st.integers(min_value=0, max_value=4096),
    flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 7)), max_size=6),
)
def test_truncated_and_bit_flipped_real_captures(name: str, cut: int, flips) -> None:
    data = bytearray(REAL[name][:cut])
    for pos, bit in flips:
        if pos < len(data):
            data[pos] ^= 1 << bit
    decoder = SmlStreamDecoder()
    frames = decoder.feed(bytes(data))
    decoder.flush()
    _check_invariants(decoder)
    result = decode_dump(bytes(data))
    assert len(result["frames"]) == len(frames)
    if not flips:
        # a clean prefix: every complete frame in it verifies
        assert all(f.crc_ok for f in frames) or name.startswith("EasyMeter")


@settings(max_examples=100, deadline=None)
@given(
    name=st.sampled_from(sorted(REAL)),
    cuts=st.lists(st.integers(min_value=0, max_value=4096), max_size=12),
)
def test_chunking_does_not_change_the_result(name: str, cuts: list[int]) -> None:
    data = REAL[name]
    whole = SmlStreamDecoder()
    expected = whole.feed(data)
    whole.flush()
    chunked = SmlStreamDecoder()
    got = []
    last = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        got += chunked.feed(data[last:cut])
        last = max(last, cut)
    chunked.flush()
    assert [(f.offset, f.raw) for f in got] == [(f.offset, f.raw) for f in expected]
    assert list(chunked.errors) == list(whole.errors)
    assert chunked.counters == whole.counters


def test_single_bit_flip_in_every_position_of_a_real_frame() -> None:
    frame = REAL["ITRON_OpenWay-3.HZ.bin"]
    good_readings = decode_dump(frame)["frames"][0]["readings"]
    for pos in range(len(frame)):
        for bit in (0, 7):
            data = bytearray(frame)
            data[pos] ^= 1 << bit
            result = decode_dump(bytes(data))
            for f in result["frames"]:
                if f["crc_ok"]:
                    # impossible for a single flipped bit: CRC-16 detects all 1-bit errors
                    raise AssertionError(f"flip at {pos} passed the file CRC")
                for reading in f["readings"]:
                    # only readings of intact (CRC-verified) messages may appear
                    assert reading in good_readings
