"""SML codec: CRC variants, TL fields, messages, escaping and encode -> decode round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.protocols.meter_reading import snapshot_from_sml
from app.protocols.sml import (
    END,
    START,
    CrcVariant,
    SmlAttentionResponse,
    SmlCloseResponse,
    SmlDecodeError,
    SmlGenericBody,
    SmlGetListResponse,
    SmlListEntry,
    SmlOpenResponse,
    SmlStreamDecoder,
    SmlTime,
    build_meter_file,
    crc16_kermit,
    crc16_x25,
    decode_frame,
    decode_messages,
    encode_file,
    encode_message,
    encode_sml_file,
    encode_value,
    escape_body,
    match_crc,
    read_value,
)
from app.protocols.sml.crc import x25_wire_bytes
from app.protocols.sml.tl import encode_octets, encode_signed, encode_unsigned, list_header

SERVER_ID = bytes.fromhex("0a01454d480000bc614e")  # 1EMH0012345678


# --- CRC -------------------------------------------------------------------------------------


def test_crc_check_values() -> None:
    assert crc16_x25(b"123456789") == 0x906E
    assert crc16_kermit(b"123456789") == 0x2189
    assert crc16_x25(b"") == 0x0000
    assert crc16_kermit(b"") == 0x0000


def test_message_crc_from_public_example() -> None:
    # SmlLib test vector: a CloseResponse-like message ending in crc16 "63 FA 36" and "00"
    msg = bytes.fromhex("7605032b18116200620072630201710163fa3600")
    assert crc16_x25(msg[:-4]) == 0x36FA  # sent low byte first: FA 36
    assert match_crc(msg[:-4], 0xFA36) is CrcVariant.X25


@pytest.mark.parametrize(
    ("wire", "variant"),
    [
        (lambda d: crc16_x25(d).to_bytes(2, "little"), CrcVariant.X25),
        (lambda d: crc16_x25(d).to_bytes(2, "big"), CrcVariant.X25_SWAPPED),
        (lambda d: crc16_kermit(d).to_bytes(2, "big"), CrcVariant.KERMIT),
        (lambda d: crc16_kermit(d).to_bytes(2, "little"), CrcVariant.KERMIT_SWAPPED),
    ],
)
def test_frame_crc_variants_are_accepted_and_named(wire, variant) -> None:
    good = encode_sml_file([SmlCloseResponse()])
    head = good[:-2]
    frame = head + wire(head)
    result = decode_frame(frame)
    assert result.crc_ok
    assert result.crc_variant is variant
    assert result.messages[0].crc_variant is CrcVariant.X25


def test_wrong_frame_crc_is_reported_with_both_values() -> None:
    good = encode_sml_file([SmlCloseResponse()])
    bad = good[:-2] + bytes((good[-2] ^ 0xFF, good[-1]))
    result = decode_frame(bad, offset=100)
    assert not result.crc_ok and result.crc_variant is None
    (error,) = result.errors
    assert error.kind == "crc"
    assert error.offset == 100 + len(bad) - 2
    assert x25_wire_bytes(good[:-2]).hex() in error.detail
    # the message inside is intact and still verified by its own CRC
    assert result.messages[0].crc_ok


@given(st.binary(max_size=300))
def test_crc_matches_bitwise_reference(data: bytes) -> None:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    assert crc16_x25(data) == crc ^ 0xFFFF


# --- TL fields --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hex_", "value"),
    [
        ("6205", 5),
        ("52ff", -1),
        ("53fffe", -2),
        ("63fa36", 0xFA36),
        ("64123456", 0x123456),  # 3-byte unsigned
        ("56000500 76c8".replace(" ", ""), 83916488),  # 5-byte signed
        ("58" + "ff" * 7, -1),  # 7-byte signed
        ("58" + "00" * 6 + "2a", 42),
        ("69ffffffffffffffff", 2**64 - 1),
        ("59" + "80" + "00" * 7, -(2**63)),
        ("4201", True),
        ("4200", False),
        ("01", None),
        ("00", END),
        ("070100010800ff", bytes.fromhex("0100010800ff")),
        ("72620162 00".replace(" ", ""), [1, 0]),
    ],
)
def test_read_value(hex_: str, value) -> None:
    data = bytes.fromhex(hex_)
    decoded, end = read_value(data, 0, len(data))
    assert decoded == value and type(decoded) is type(value)
    assert end == len(data)


def test_multi_byte_tl_octet_string_and_list() -> None:
    key = bytes(range(48))
    encoded = encode_octets(key)
    assert encoded[:2] == b"\x83\x02"  # 50 = 0x32 bytes incl. two TL bytes
    assert read_value(encoded, 0, len(encoded)) == (key, 50)
    assert encode_octets(bytes(14))[0] == 0x0F
    assert encode_octets(bytes(15))[:2] == b"\x81\x01"  # 17 bytes incl. TL
    header = list_header(20)
    assert header == b"\xf1\x04"
    items = header + b"\x01" * 20
    assert read_value(items, 0, len(items)) == ([None] * 20, 22)


@pytest.mark.parametrize(
    ("hex_", "needle"),
    [
        ("", "ends"),
        ("65000001", "past the end"),
        ("76010101", "only 3 bytes"),
        ("61", "no room"),
        ("6a" + "00" * 9, "at most 8"),
        ("1234", "reserved type"),
        ("8f8f8f8f8f8f8f8f8f", "longer than 8"),
        ("83", "inside a multi-byte"),
    ],
)
def test_read_value_errors(hex_: str, needle: str) -> None:
    data = bytes.fromhex(hex_)
    with pytest.raises(SmlDecodeError) as info:
        read_value(data, 0, len(data))
    assert needle in info.value.detail
    assert "SML" in info.value.describe("de")


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    data = b"\x71" * 5000 + b"\x01"
    with pytest.raises(SmlDecodeError, match="nested deeper"):
        read_value(data, 0, len(data))


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_signed_round_trip(value: int) -> None:
    data = encode_signed(value)
    assert read_value(data, 0, len(data)) == (value, len(data))


@given(st.integers(min_value=0, max_value=2**64 - 1), st.integers(min_value=1, max_value=8))
def test_unsigned_round_trip_any_width(value: int, width: int) -> None:
    if value >= 1 << (8 * width):
        with pytest.raises(ValueError):
            encode_unsigned(value, width)
        return
    data = encode_unsigned(value, width)
    assert len(data) == width + 1
    assert read_value(data, 0, len(data)) == (value, len(data))


sml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.binary(min_size=1, max_size=300),
    lambda inner: st.lists(inner, max_size=20),
    max_leaves=40,
)


@given(sml_values)
def test_generic_value_round_trip(value) -> None:
    data = encode_value(value)
    assert read_value(data, 0, len(data)) == (value, len(data))


# --- messages ---------------------------------------------------------------------------------


def test_encode_message_layout() -> None:
    msg = encode_message(SmlCloseResponse(), b"\x01\x02")
    assert msg.startswith(bytes.fromhex("76 03 0102 6200 6200 72 6500000201 7101".replace(" ", "")))
    assert msg[-4] == 0x63 and msg[-1] == 0x00
    assert msg[-3:-1] == crc16_x25(msg[:-4]).to_bytes(2, "little")
    messages, errors = decode_messages(msg)
    assert errors == []
    assert messages[0].body == SmlCloseResponse()
    assert messages[0].transaction_id == b"\x01\x02"


def test_message_crc_error_is_reported_but_message_kept() -> None:
    msg = bytearray(encode_message(SmlCloseResponse(), b"\x01"))
    msg[-2] ^= 0x01
    messages, errors = decode_messages(bytes(msg), base=8)
    assert not messages[0].crc_ok
    (error,) = errors
    assert error.kind == "message_crc"
    assert error.offset == 8 + len(msg) - 4


def test_unknown_and_malformed_bodies_are_kept_generically() -> None:
    profile = SmlGenericBody(0x0401, [b"\x01", None, [1, 2, [b"x"]]])
    attention = SmlAttentionResponse(SERVER_ID, bytes.fromhex("8181c7c7fd00"), b"ok", None)
    bad_open = SmlGenericBody(0x0101, [1, 2, 3])  # OpenResponse must be a list of 6
    data = b"".join(
        encode_message(b, bytes((i,))) for i, b in enumerate((profile, attention, bad_open))
    )
    messages, errors = decode_messages(data)
    assert [m.body for m in messages] == [profile, attention, bad_open]
    assert messages[0].body.name == "GetProfileListResponse"
    assert [e.kind for e in errors] == ["structure"]
    assert "OpenResponse" in errors[0].detail


def test_bare_integer_time_and_local_timestamp() -> None:
    # Holley DTZ541 sends valTime as a bare Unsigned32 instead of the SML_Time choice
    assert SmlTime.from_value(0x011C1EB7) == SmlTime("raw", 0x011C1EB7)
    local = SmlTime("local_timestamp", 1_700_000_000, 60, 0)
    data = local.encode()
    assert SmlTime.from_value(read_value(data, 0, len(data))[0]) == local


def test_parse_stops_at_garbage_and_reports_position() -> None:
    good = encode_message(SmlCloseResponse(), b"\x01")
    messages, errors = decode_messages(good + b"\x00\x00\x76\x01", base=8)
    assert len(messages) == 1
    assert errors[0].kind == "parse" and errors[0].offset >= 8 + len(good) + 2


# --- escaping and files ------------------------------------------------------------------------


def test_escape_doubles_aligned_escape_sequences_only() -> None:
    assert escape_body(b"\x1b" * 4 + b"abcd") == b"\x1b" * 8 + b"abcd"
    assert escape_body(b"a" + b"\x1b" * 4 + b"bcd") == b"a" + b"\x1b" * 4 + b"bcd"


def test_file_layout_padding_and_crc() -> None:
    body = b"\x01\x02\x03\x04\x05"
    data = encode_file(body)
    assert data.startswith(START)
    assert len(data) % 4 == 0
    assert data[-8:-3] == b"\x1b\x1b\x1b\x1b\x1a"
    assert data[-3] == 3  # 8 + 5 + 3 padding = 16
    assert data[13:16] == b"\x00\x00\x00"
    assert data[-2:] == crc16_x25(data[:-2]).to_bytes(2, "little")


def _entry_with_escape() -> SmlListEntry:
    # an octet string value containing the escape sequence at various alignments
    return SmlListEntry(bytes.fromhex("8181c78205ff"), b"\x1b" * 4 + b"\x00" + b"\x1b" * 9)


def test_payload_escape_sequences_survive_a_round_trip() -> None:
    data = build_meter_file(SERVER_ID, [_entry_with_escape()])
    assert b"\x1b" * 8 in data[8:-8]
    frame = decode_frame(data)
    assert frame.ok, frame.errors
    get_list = frame.messages[1].body
    assert isinstance(get_list, SmlGetListResponse)
    assert get_list.entries == (_entry_with_escape(),)


def test_unaligned_escaping_convention_is_also_accepted() -> None:
    # a sender that doubles every 1B1B1B1B regardless of alignment (sml-rs style)
    messages = encode_message(
        SmlGetListResponse(SERVER_ID, (SmlListEntry(b"\x01\x00\x00\x00\x09\xff", b"\x1b" * 4),)),
        b"\x07",
    )
    assert messages.find(b"\x1b" * 4) % 4 != 0
    escaped = messages.replace(b"\x1b" * 4, b"\x1b" * 8)
    pad = -len(escaped) % 4
    head = START + escaped + b"\x00" * pad + b"\x1b\x1b\x1b\x1b\x1a" + bytes((pad,))
    data = head + crc16_x25(head).to_bytes(2, "little")
    (frame,) = SmlStreamDecoder().feed(data)
    assert frame.ok, frame.errors
    assert frame.messages[0].body.entries[0].value == b"\x1b" * 4


list_entries = st.builds(
    SmlListEntry,
    obj_name=st.binary(min_size=6, max_size=6),
    value=st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.binary(min_size=1, max_size=120),
    unit=st.none() | st.integers(min_value=0, max_value=255),
    scaler=st.none() | st.integers(min_value=-128, max_value=127),
    status=st.none() | st.integers(min_value=0, max_value=2**64 - 1),
    val_time=st.none()
    | st.builds(SmlTime, st.sampled_from(["sec_index", "timestamp"]), st.integers(0, 2**32 - 1)),
    value_signature=st.none() | st.binary(min_size=1, max_size=70),
)


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(list_entries, max_size=12),
    server_id=st.binary(min_size=1, max_size=20),
    sec_index=st.none() | st.integers(min_value=0, max_value=2**32 - 1),
)
def test_encode_decode_round_trip(entries, server_id: bytes, sec_index) -> None:
    data = build_meter_file(server_id, entries, sec_index=sec_index)
    assert len(data) % 4 == 0
    frames = SmlStreamDecoder().feed(b"garbage" + data + data[:5])
    assert len(frames) == 1
    frame = frames[0]
    assert frame.ok, frame.errors
    assert frame.offset == 7
    open_body, get_list, close = (m.body for m in frame.messages)
    assert isinstance(open_body, SmlOpenResponse) and open_body.server_id == server_id
    assert isinstance(close, SmlCloseResponse)
    assert isinstance(get_list, SmlGetListResponse)
    assert get_list.entries == tuple(entries)
    if sec_index is not None:
        assert get_list.act_sensor_time == SmlTime("sec_index", sec_index)


def test_built_telegram_gives_expected_snapshot() -> None:
    entries = [
        SmlListEntry(bytes.fromhex("8181c78203ff"), b"EMH"),
        SmlListEntry(bytes.fromhex("0100010800ff"), 123456789, unit=30, scaler=-1, status=0x182),
        SmlListEntry(bytes.fromhex("0100100700ff"), -250, unit=27, scaler=0),
        SmlListEntry(bytes.fromhex("8181c78205ff"), bytes(48)),
    ]
    frame = decode_frame(build_meter_file(SERVER_ID, entries, sec_index=42))
    snap = snapshot_from_sml(frame)
    assert snap.identity.server_id is not None
    assert snap.identity.server_id.text == "1EMH0012345678"
    assert snap.identity.manufacturer == "EMH"
    assert snap.identity.public_key == bytes(48)
    assert snap.value("1-0:1.8.0") == Decimal("12345678.9")
    assert snap.value("1-0:16.7.0") == Decimal(-250)
