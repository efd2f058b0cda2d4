"""OBIS codes and SMGW logical names: notations, round trips, names, helpful errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import LogicalName, Obis
from app.errors import InvalidValue

byte = st.integers(0, 255)
obis_codes = st.builds(Obis, byte, byte, byte, byte, byte, byte)


# --- OBIS: notations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hex_form", "notation"),
    [
        ("0100010800ff", "1-0:1.8.0*255"),
        ("0100010801ff", "1-0:1.8.1*255"),
        ("0100020800ff", "1-0:2.8.0*255"),
        ("0100100700ff", "1-0:16.7.0*255"),
        ("0100200700ff", "1-0:32.7.0*255"),
        ("0100000009ff", "1-0:0.0.9*255"),
        ("8181c78203ff", "129-129:199.130.3*255"),
        ("8181c78205ff", "129-129:199.130.5*255"),
        ("01005e318021", "1-0:94.49.128*33"),
    ],
)
def test_domain_reference_table(hex_form, notation):
    by_hex = Obis.parse(hex_form)
    assert by_hex.notation == notation
    assert Obis.parse(notation) == by_hex
    assert Obis.parse(notation).hex == hex_form
    assert Obis.parse(hex_form.upper()) == by_hex
    assert Obis.from_bytes(bytes.fromhex(hex_form)) == by_hex


@pytest.mark.parametrize(
    "notation",
    [
        "1-0:1.8.0*255",
        "1-0:1.8.0",
        "1.0.1.8.0.255",
        "01 00 01 08 00 FF",
        "01:00:01:08:00:ff",
        "0x0100010800ff",
        " 1-0:1.8.0*255 ",
    ],
)
def test_import_total_in_every_notation(notation):
    assert Obis.parse(notation) == Obis.IMPORT_TOTAL == Obis(1, 0, 1, 8, 0, 255)


def test_forms_of_an_obis_code():
    code = Obis.parse("1-0:1.8.1*255")
    assert code.hex == "0100010801ff"
    assert code.notation == "1-0:1.8.1*255"
    assert str(code) == "1-0:1.8.1*255"
    assert code.short == "1.8.1"
    assert code.raw == code.to_bytes() == bytes([1, 0, 1, 8, 1, 255])
    assert Obis(1, 0, 1, 8, 0, 1).short == "1.8.0*1"


@pytest.mark.parametrize(
    ("reduced", "expected"),
    [
        ("1.8.0", Obis(1, 0, 1, 8, 0)),
        ("1.8.0*255", Obis(1, 0, 1, 8, 0)),
        ("1.8.1*01", Obis(1, 0, 1, 8, 1, 1)),
        ("1.8.0&2", Obis(1, 0, 1, 8, 0, 2)),
        ("C.1.0", Obis(1, 0, 96, 1, 0)),
        ("F.F", Obis(1, 0, 97, 97, 0)),
        ("L.1.0", Obis(1, 0, 98, 1, 0)),
        ("P.01", Obis(1, 0, 99, 1, 0)),
    ],
)
def test_reduced_iec_62056_21_codes_with_default_medium_and_channel(reduced, expected):
    assert Obis.parse(reduced, default_ab=(1, 0)) == expected


def test_reduced_codes_take_the_medium_and_channel_given():
    assert Obis.parse("C.1.0", default_ab=(0, 0)) == Obis(0, 0, 96, 1, 0)
    assert Obis.parse("1-0:C.1.0") == Obis(1, 0, 96, 1, 0)


def test_reduced_code_without_default_is_refused_with_the_full_form():
    with pytest.raises(InvalidValue) as info:
        Obis.parse("1.8.0", field="register")
    assert info.value.field == "register"
    assert "'1-0:1.8.0'" in info.value.message.en
    assert "'1-0:1.8.0'" in info.value.message.de
    with pytest.raises(InvalidValue) as info:
        Obis.parse("F.F")
    assert "'1-0:97.97.0'" in info.value.message.en


@given(obis_codes)
def test_round_trips_between_all_notations(code):
    assert Obis.parse(code.hex) == code
    assert Obis.parse(code.hex.upper()) == code
    assert Obis.parse(code.notation) == code
    assert Obis.from_bytes(code.raw) == code
    assert Obis.from_bytes(bytearray(code.raw)) == code
    assert Obis.parse(".".join(str(v) for v in code.values)) == code
    reduced = Obis.parse(f"{code.c}.{code.d}.{code.e}*{code.f}", default_ab=(code.a, code.b))
    assert reduced == code


@given(obis_codes, obis_codes)
def test_order_follows_the_six_values(x, y):
    assert (x < y) == (x.values < y.values)
    assert (x == y) == (x.hex == y.hex)


# --- OBIS: names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "en", "de"),
    [
        (Obis.IMPORT_TOTAL, "Active energy import, total", "Wirkarbeit Bezug, gesamt"),
        (Obis.IMPORT_T2, "Active energy import, tariff 2", "Wirkarbeit Bezug, Tarif 2"),
        (Obis.EXPORT_T1, "Active energy export, tariff 1", "Einspeisung"),
        (Obis.POWER_TOTAL, "Current active power, sum of phases", "Momentane Wirkleistung"),
        (Obis.POWER_L3, "Current active power L3", "Wirkleistung L3"),
        (Obis.VOLTAGE_L2, "Voltage L2", "Spannung L2"),
        (Obis.CURRENT_L1, "Current L1", "Strom L1"),
        (Obis.FREQUENCY, "Grid frequency", "Netzfrequenz"),
        (Obis.DEVICE_ID, "Device ID (server ID)", "Server-ID"),
        (Obis.METER_ID, "Meter number", "Zählernummer"),
        (Obis.MANUFACTURER_ID, "Manufacturer ID", "Hersteller"),
        (Obis.PUBLIC_KEY, "Meter public key", "Öffentlicher Schlüssel"),
        (Obis.parse("1-0:96.50.1*1"), "Manufacturer code (manufacturer-specific)", "Hersteller"),
    ],
)
def test_well_known_codes_have_english_and_german_names(code, en, de):
    assert code.name is not None
    assert code.name.en.startswith(en)
    assert de in code.name.de


def test_constants_are_the_expected_codes():
    assert Obis.POWER_L1.hex == "0100240700ff"
    assert Obis.POWER_L2.hex == "0100380700ff"
    assert Obis.VOLTAGE_L3.notation == "1-0:72.7.0*255"
    assert Obis.CURRENT_L3.notation == "1-0:71.7.0*255"
    assert Obis.MANUFACTURER_ID.hex == "8181c78203ff"
    assert Obis.PUBLIC_KEY.hex == "8181c78205ff"


def test_unknown_codes_have_no_name():
    assert Obis.parse("1-0:1.8.0*1").name is None
    assert Obis.parse("01005e318021").name is None


# --- OBIS: errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("1-0:1.8.300", "300 in group E"),
        ("1-0:1.8.0*256", "256 in group F"),
        ("0100010800", "10 hex digits"),
        ("0100010800ff00", "14 hex digits"),
        ("hello", "non-hex characters"),
        ("1-0:1.8", "not in the form A-B:C.D.E*F"),
        ("1-0:X.8.0", "not in the form A-B:C.D.E*F"),
        ("", "empty"),
    ],
)
def test_invalid_obis_explains_the_problem_and_the_form(typed, says):
    with pytest.raises(InvalidValue) as info:
        Obis.parse(typed)
    err = info.value
    assert err.field == "obis"
    assert says in err.message.en
    assert "1-0:1.8.0" in err.message.en and "1-0:1.8.0" in err.message.de


@pytest.mark.parametrize(
    "values", [(1, 0, 1, 8, 0, 256), (-1, 0, 1, 8, 0, 255), (1, 0, 1, 8, True)]
)
def test_constructor_checks_each_group(values):
    with pytest.raises(InvalidValue, match="0 to 255"):
        Obis(*values)


@pytest.mark.parametrize("raw", [b"", b"\x01\x00\x01\x08\x00", b"\x01" * 7])
def test_from_bytes_needs_six_bytes(raw):
    with pytest.raises(InvalidValue, match="exactly 6 bytes"):
        Obis.from_bytes(raw)


@given(st.text(max_size=30), st.none() | st.tuples(st.integers(-5, 300), st.integers(-5, 300)))
def test_parse_raises_only_invalid_value(text, default_ab):
    try:
        code = Obis.parse(text, default_ab=default_ab)
    except InvalidValue as err:
        assert err.message.en and err.message.de
    else:
        assert Obis.parse(code.hex) == code


@given(st.text(alphabet="0123456789.-:*&CFLPX ", max_size=20))
def test_notation_like_text_raises_only_invalid_value(text):
    try:
        code = Obis.parse(text, default_ab=(1, 0))
    except InvalidValue as err:
        assert err.field == "obis"
    else:
        assert Obis.parse(code.notation) == code


@given(st.binary(max_size=10))
def test_from_bytes_raises_only_invalid_value(raw):
    try:
        code = Obis.from_bytes(raw)
    except InvalidValue:
        assert len(raw) != 6
    else:
        assert code.raw == raw


# --- logical names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "obis", "instance"),
    [
        ("01005e318021.taf1-1.sm", "1-0:94.49.128*33", "taf1-1"),
        ("01005e318027.taf7-60.sm", "1-0:94.49.128*39", "taf7-60"),
        ("01005e318011.consumer1.sm", "1-0:94.49.128*17", "consumer1"),
        ("01005e318002.1emh0011802881.sm", "1-0:94.49.128*2", "1emh0011802881"),
        ("0100010800ff.0551010038180402.sm", "1-0:1.8.0*255", "0551010038180402"),
        ("00000000e001.ETHE0300186023.sm", "0-0:0.0.224*1", "ETHE0300186023"),
    ],
)
def test_logical_names_from_the_domain_reference(name, obis, instance):
    ln = LogicalName.parse(name)
    assert ln.obis == Obis.parse(obis)
    assert ln.instance == instance
    assert str(ln) == ln.text == name


def test_logical_name_normalises_hex_and_suffix_but_keeps_the_instance():
    ln = LogicalName.parse(" 0100010800FF.Meter-A.SM ")
    assert str(ln) == "0100010800ff.Meter-A.sm"
    assert ln == LogicalName(Obis.IMPORT_TOTAL, "Meter-A")
    assert ln != LogicalName(Obis.IMPORT_TOTAL, "meter-a")


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("01005e318021.taf1-1", "does not end in '.<instance>.sm'"),
        ("01005e318021.taf1-1.xml", "does not end in '.<instance>.sm'"),
        ("01005e31802.taf1-1.sm", "not with 12 hex digits"),
        ("01005e31802g.taf1-1.sm", "not with 12 hex digits"),
        ("01005e318021..sm", "instance part is empty"),
        ("01005e318021.taf 1.sm", "contains whitespace"),
        ("01005e318021.a.b.sm", "not with 12 hex digits"),
    ],
)
def test_invalid_logical_name_explains_the_form(typed, says):
    with pytest.raises(InvalidValue) as info:
        LogicalName.parse(typed, field="subject")
    assert info.value.field == "subject"
    assert says in info.value.message.en
    assert ".sm" in info.value.message.de


@pytest.mark.parametrize("instance", ["", "a b", "a.b", "tab\there"])
def test_logical_name_constructor_checks_the_instance(instance):
    with pytest.raises(InvalidValue):
        LogicalName(Obis.IMPORT_TOTAL, instance)


instances = st.text(min_size=1, max_size=20).filter(
    lambda s: "." not in s and not any(ch.isspace() for ch in s)
)


@given(obis_codes, instances)
def test_logical_name_round_trips(code, instance):
    ln = LogicalName(code, instance)
    assert LogicalName.parse(str(ln)) == ln
    assert LogicalName.parse(str(ln)).obis.hex == code.hex


@given(st.text(max_size=40))
def test_logical_name_parse_raises_only_invalid_value(text):
    try:
        ln = LogicalName.parse(text)
    except InvalidValue as err:
        assert err.field == "logical_name"
    else:
        assert LogicalName.parse(ln.text) == ln
