"""SMGW IDs and meter server IDs: every notation, round trips, helpful errors."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import ServerId, ServerIdKind, SmgwId
from app.errors import InvalidValue

# --- strategies ------------------------------------------------------------------------------

letters = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3)
din_medium = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14])
block = st.integers(0, 99)
serial = st.integers(0, 99_999_999)
spacing = st.text(alphabet=" \t", max_size=2)


def medium_char(medium: int) -> str:
    return "E" if medium == 14 else str(medium)


def mbus_manufacturer_le(code: str) -> bytes:
    """Independent oracle: letters -> ord(c) - 64, 5 bits each, first letter highest, LE."""
    a, b, c = (ord(ch) - 64 for ch in code)
    return (a * 32 * 32 + b * 32 + c).to_bytes(2, "little")


def bcd_le(number: int) -> bytes:
    return bytes.fromhex(f"{number:08d}")[::-1]


# --- SMGW ID ---------------------------------------------------------------------------------


def test_smgw_id_example_from_domain_reference():
    smgw = SmgwId.parse("ETHE0300186023")
    assert smgw.text == "ETHE0300186023"
    assert str(smgw) == "ETHE0300186023"
    assert (smgw.flag, smgw.block, smgw.serial) == ("THE", 3, 186023)
    assert smgw.to_server_id() == "0a0e544845030002d6a7"
    assert SmgwId.from_hex("0A0E544845030002D6A7") == smgw
    assert smgw.server_id == ServerId.parse("0a0e544845030002d6a7")
    assert smgw.server_id.medium == 0x0E


@pytest.mark.parametrize(
    "typed",
    ["ethe0300186023", "E THE03 00186023", "  e the 03 0018 6023 \n", "ETHE0300186023\t"],
)
def test_smgw_id_accepts_label_spacing_and_lower_case(typed):
    assert SmgwId.parse(typed).text == "ETHE0300186023"
    assert SmgwId(typed) == SmgwId("ETHE0300186023")


def test_smgw_id_accepts_hex_with_separators():
    assert SmgwId.parse("0a:0e:54:48:45:03:00:02:d6:a7").text == "ETHE0300186023"
    assert SmgwId.parse("0x0a0e544845030002d6a7").text == "ETHE0300186023"


def test_smgw_ids_order_and_hash_by_text():
    a, b = SmgwId("EDNT0100000001"), SmgwId("ETHE0300186023")
    assert sorted([b, a]) == [a, b]
    assert len({SmgwId("ethe0300186023"), SmgwId("ETHE0300186023")}) == 1
    with pytest.raises(AttributeError):
        a.text = "EDNT0100000002"  # type: ignore[misc]


def test_smgw_id_from_server_id_requires_medium_e():
    sid = ServerId.parse("E THE03 00186023")
    assert SmgwId.from_server_id(sid).text == "ETHE0300186023"
    with pytest.raises(InvalidValue) as info:
        SmgwId.from_server_id(ServerId.parse("1EMH0012345678"))
    assert "0E" in str(info.value)


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("1EMH0012345678", "server ID"),
        ("ETH0300186023", "2-letter manufacturer code"),
        ("ETHE030018602", "9 digits"),
        ("ETHE03001860234", "11 digits"),
        ("ETHE-0300186023", "letters and digits"),
        ("0a01454d480000bc614e", "medium byte 01"),
        ("0a0e5448", "4 bytes"),
        ("", "empty"),
    ],
)
def test_invalid_smgw_id_explains_the_problem_and_the_form(typed, says):
    with pytest.raises(InvalidValue) as info:
        SmgwId.parse(typed, field="gateway")
    err = info.value
    assert err.field == "gateway"
    assert says in err.message.en
    assert "ETHE0300186023" in err.message.en
    assert "ETHE0300186023" in err.message.de
    assert err.message.de != err.message.en


@given(letters, block, serial, spacing, spacing, st.booleans())
def test_smgw_id_round_trips_text_hex_text(flag, blk, ser, sp1, sp2, lower):
    text = f"E{flag}{blk:02d}{ser:08d}"
    typed = f"{sp1}E{sp2}{flag}{blk:02d}{sp1}{ser:08d}{sp2}"
    smgw = SmgwId.parse(typed.lower() if lower else typed)
    assert smgw.text == text
    assert (smgw.flag, smgw.block, smgw.serial) == (flag, blk, ser)
    hex_form = smgw.to_server_id()
    assert hex_form == (b"\x0a\x0e" + flag.encode() + bytes([blk]) + ser.to_bytes(4, "big")).hex()
    assert SmgwId.from_hex(hex_form) == smgw
    assert SmgwId.parse(smgw.display) == smgw


@given(st.text(max_size=40))
def test_smgw_id_parse_raises_only_invalid_value(text):
    for parse in (SmgwId.parse, SmgwId.from_hex):
        try:
            result = parse(text)
        except InvalidValue as err:
            assert err.field == "smgw_id"
        else:
            assert len(result.text) == 14


# --- server ID: DIN 43863-5:2012 ---------------------------------------------------------------


def test_server_id_din_text_and_hex_are_the_same_id():
    by_text = ServerId.parse("1 EMH00 12345678")
    by_hex = ServerId.parse("0a01454d480000bc614e")
    assert by_text == by_hex
    assert hash(by_text) == hash(by_hex)
    assert ServerId.parse("1EMH0012345678") == by_text
    assert by_text.raw == bytes.fromhex("0a01454d480000bc614e")
    assert by_text.hex == "0a01454d480000bc614e"
    assert by_text.text == "1EMH0012345678"
    assert by_text.display == "1 EMH00 12345678"
    assert str(by_text) == "1 EMH00 12345678"
    assert by_text.kind is ServerIdKind.DIN_2012
    assert (by_text.manufacturer, by_text.medium, by_text.block, by_text.serial) == (
        "EMH",
        1,
        0,
        12345678,
    )


@pytest.mark.parametrize(
    "notation",
    [
        "0A 01 44 5A 47 00 02 82 C0 B0",
        "0a01445a47000282c0b0",
        "0A:01:44:5A:47:00:02:82:C0:B0",
        "0x0a01445a47000282c0b0",
        "1DZG0042123440",
        "1 dzg00 42123440",
    ],
)
def test_real_dzg_meter_from_an_sml_telegram(notation):
    sid = ServerId.parse(notation)
    assert sid.text == "1DZG0042123440"
    assert sid.manufacturer == "DZG"
    assert sid.serial == 42123440


def test_smgw_id_is_a_server_id_with_medium_e():
    sid = ServerId.parse("ETHE0300186023")
    assert sid.hex == "0a0e544845030002d6a7"
    assert sid.display == "E THE03 00186023"


@given(din_medium, letters, block, serial, spacing, st.booleans())
def test_din_2012_round_trips_text_hex_text(medium, flag, blk, ser, sp, lower):
    text = f"{medium_char(medium)}{flag}{blk:02d}{ser:08d}"
    typed = f"{medium_char(medium)}{sp}{flag}{blk:02d}{sp}{ser:08d}"
    sid = ServerId.parse(typed.lower() if lower else typed)
    assert sid.text == text
    expected = bytes([0x0A, medium]) + flag.encode() + bytes([blk]) + ser.to_bytes(4, "big")
    assert sid.raw == expected
    assert ServerId.parse(sid.hex) == sid
    assert ServerId.parse(sid.hex.upper()).text == text
    assert ServerId.parse(sid.display) == sid
    assert ServerId.from_bytes(sid.raw) == sid
    assert pickle.loads(pickle.dumps(sid)) == sid


# --- server ID: older DIN forms -----------------------------------------------------------------


def test_din_2010_07_decodes_block_as_bcd():
    sid = ServerId.parse("09 01 45 4D 48 12 00 BC 61 4E")
    assert sid.kind is ServerIdKind.DIN_2010_07
    assert (sid.manufacturer, sid.medium, sid.block, sid.serial) == ("EMH", 1, 12, 12345678)
    assert sid.text == "1EMH1212345678"
    # a different binary ID from the 2012 form with the same text
    assert sid != ServerId.parse(sid.text)


def test_din_2010_02_decodes_its_thirteen_digit_number():
    number = int("1100012345678")
    raw = b"\x06EMH" + number.to_bytes(6, "big")
    sid = ServerId.from_bytes(raw)
    assert sid.kind is ServerIdKind.DIN_2010_02
    assert (sid.medium, sid.production_year, sid.block, sid.serial) == (1, 10, 0, 12345678)
    assert sid.text == "1EMH100012345678"
    assert sid.display == "1 EMH 10 00 12345678"
    assert ServerId.parse(sid.text) == sid


@given(st.integers(0, 9), letters, st.integers(0, 9), st.integers(0, 9), serial)
def test_din_2010_07_round_trips_bytes_and_hex(medium, flag, hi, lo, ser):
    raw = bytes([0x09, medium]) + flag.encode() + bytes([hi << 4 | lo]) + ser.to_bytes(4, "big")
    sid = ServerId.from_bytes(raw)
    assert sid.kind is ServerIdKind.DIN_2010_07
    assert sid.block == hi * 10 + lo
    assert sid.raw == raw
    assert ServerId.parse(sid.hex) == sid
    assert sid.text == f"{medium}{flag}{hi}{lo}{ser:08d}"


@given(st.integers(0, 9), letters, st.integers(0, 99), block, serial)
def test_din_2010_02_round_trips_text_hex_text(medium, flag, year, blk, ser):
    text = f"{medium}{flag}{year:02d}{blk:02d}{ser:08d}"
    sid = ServerId.parse(text)
    assert sid.kind is ServerIdKind.DIN_2010_02
    assert sid.text == text
    assert ServerId.parse(sid.hex) == sid
    assert ServerId.from_bytes(sid.raw).text == text


# --- server ID: M-Bus -------------------------------------------------------------------------


def test_wireless_mbus_example_from_domain_reference():
    sid = ServerId.parse("01A815785634120102")
    assert sid.kind is ServerIdKind.WIRELESS_MBUS
    assert sid.manufacturer == "EMH"
    assert sid.serial == 12345678
    assert (sid.version, sid.device_type) == (0x01, 0x02)
    assert sid.medium == 1  # device type 02 = electricity
    assert sid.text is None
    assert sid.display.startswith("EMH 12345678")
    assert sid.hex == "01a815785634120102"
    assert ServerId.for_mbus("EMH", 12345678, 1, 2) == sid


def test_wired_mbus_puts_ident_before_manufacturer():
    sid = ServerId.parse("02 78563412 A815 01 07")
    assert sid.kind is ServerIdKind.WIRED_MBUS
    assert (sid.manufacturer, sid.serial, sid.device_type, sid.medium) == ("EMH", 12345678, 7, 8)
    assert ServerId.for_mbus("EMH", 12345678, 1, 7, wireless=False) == sid


@given(letters, serial, st.integers(0, 255), st.integers(0, 255), st.booleans())
def test_mbus_round_trips_against_an_independent_encoding(flag, ident, version, dev, wireless):
    man, idb = mbus_manufacturer_le(flag), bcd_le(ident)
    body = man + idb if wireless else idb + man
    raw = bytes([1 if wireless else 2]) + body + bytes([version, dev])
    sid = ServerId.parse(raw.hex())
    assert sid.kind is (ServerIdKind.WIRELESS_MBUS if wireless else ServerIdKind.WIRED_MBUS)
    assert (sid.manufacturer, sid.serial, sid.version, sid.device_type) == (
        flag,
        ident,
        version,
        dev,
    )
    assert sid.raw == raw
    assert ServerId.for_mbus(flag, ident, version, dev, wireless=wireless) == sid


# --- server ID: odd octet strings from peers ---------------------------------------------------


@pytest.mark.parametrize(
    "hex_form",
    [
        "0a01454d480000bc61",  # 0A but 9 bytes
        "0a0f454d480000bc614e",  # medium 0F
        "0a01454d48ff00bc614e",  # block 255
        "0a01000000000000000001",  # flag not letters, 11 bytes
        "01ffff785634120102",  # manufacturer not letters
        "01a8157856341a0102",  # ident not BCD
        "05001122334455",  # Ethernet MAC
        "ff",
        "123456",
    ],
)
def test_peer_octet_strings_that_fit_no_layout_are_kept_as_other(hex_form):
    sid = ServerId.from_bytes(bytes.fromhex(hex_form))
    assert sid.kind is ServerIdKind.OTHER
    assert sid.hex == hex_form
    assert sid.text is None
    assert sid.display == hex_form
    assert ServerId.from_hex(hex_form) == sid
    assert ServerId.parse(hex_form, strict=False) == sid
    with pytest.raises(InvalidValue):  # typed input must fit a known layout
        ServerId.parse(hex_form)


def test_type_name_names_unknown_and_malformed_forms():
    assert ServerId.from_hex("05001122334455").type_name == "Ethernet MAC address (type 05)"
    assert "not decodable" in ServerId.from_hex("0a01454d480000bc61").type_name
    assert ServerId.from_hex("7f").type_name == "unknown (type 7F)"
    assert ServerId.parse("1EMH0012345678").type_name == "DIN 43863-5:2012-01"


@given(st.binary(max_size=70))
def test_from_bytes_raises_only_invalid_value_and_keeps_every_byte(raw):
    try:
        sid = ServerId.from_bytes(raw)
    except InvalidValue as err:
        assert err.field == "server_id"
        assert raw == b"" or len(raw) > 64
        return
    assert sid.raw == raw
    assert ServerId.from_bytes(sid.raw) == sid
    assert ServerId.from_hex(sid.hex) == sid
    assert isinstance(sid.display, str)
    if sid.text is not None:
        assert ServerId.parse(sid.text).text == sid.text


@given(st.text(max_size=40), st.booleans())
def test_parse_raises_only_invalid_value(text, strict):
    try:
        sid = ServerId.parse(text, field="meter", strict=strict)
    except InvalidValue as err:
        assert err.field == "meter"
        assert err.message.en and err.message.de
    else:
        assert isinstance(sid.hex, str)


@given(st.text(alphabet="0123456789abcdefABCDEF :x-", max_size=30))
def test_from_hex_raises_only_invalid_value(text):
    try:
        ServerId.from_hex(text)
    except InvalidValue as err:
        assert err.field == "server_id"


# --- server ID: error messages -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("1EMH001234567", "has 7 serial digits; expected 8"),
        ("1 EMH00 123456789", "has 9 serial digits; expected 8"),
        ("1EM0012345678", "2-letter manufacturer code"),
        ("XEMH0012345678", "the first character is the medium"),
        ("1EMH", "lacks the 2-digit production block"),
        ("0a01454d480000bc614", "odd number"),
        ("0a01454d480000bc61", "has 9 bytes; type 0A"),
        ("12345678", "type byte 12 is not a known server ID type"),
        ("1EMH-0012345678", "neither DIN text nor hex"),
        ("   ", "empty"),
    ],
)
def test_invalid_server_id_explains_the_problem_and_the_form(typed, says):
    with pytest.raises(InvalidValue) as info:
        ServerId.parse(typed, field="meter_server_id")
    err = info.value
    assert err.field == "meter_server_id"
    assert says in err.message.en
    assert "1 EMH00 12345678" in err.message.en or "1 EMH00 12345678" in (err.message.de)
    assert "1 EMH00 12345678" in err.message.de or "0a01454d480000bc614e" in err.message.de
    assert err.message.de != err.message.en


def test_brief_example_message_reads_well():
    with pytest.raises(InvalidValue) as info:
        ServerId.parse("1EMH001234567")
    assert str(info.value) == (
        "Server ID '1EMH001234567' has 7 serial digits; expected 8, e.g. '1 EMH00 12345678'."
    )
    assert info.value.describe("de").startswith("server_id: Server-ID '1EMH001234567' hat 7")


def test_server_id_is_immutable_and_compares_only_with_server_ids():
    sid = ServerId.parse("1EMH0012345678")
    with pytest.raises(AttributeError):
        sid._raw = b"x"  # type: ignore[misc]
    assert sid != "1EMH0012345678"
    assert sid != bytes.fromhex("0a01454d480000bc614e")
    assert ServerId(bytes.fromhex("0a01454d480000bc614e")) == sid
