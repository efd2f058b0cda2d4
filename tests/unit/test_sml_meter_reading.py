"""Meter identity/readings model and the JSON contract of ``decode_dump``."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import Obis, ServerId
from app.protocols.meter_reading import (
    MeterIdentity,
    Reading,
    decode_dump,
    merge_identities,
    readings_from_sml,
)
from app.protocols.sml import SmlListEntry, build_meter_file, decode_frame, encode_sml_file
from app.protocols.sml.messages import SmlGetListResponse

SERVER = ServerId.from_bytes(bytes.fromhex("0a01454d480000bc614e"))


def test_identity_json_and_merge() -> None:
    a = MeterIdentity(server_id=SERVER)
    b = MeterIdentity(manufacturer="EMH", public_key=b"\x01\x02", firmware="1.0")
    merged = merge_identities([MeterIdentity(), a, b])
    assert merged == MeterIdentity(SERVER, "EMH", b"\x01\x02", "1.0")
    assert merged.to_json_dict() == {
        "server_id": "0a01454d480000bc614e",
        "server_id_text": "1EMH0012345678",
        "manufacturer": "EMH",
        "public_key": "0102",
    }
    assert MeterIdentity().to_json_dict() == {
        "server_id": None,
        "server_id_text": None,
        "manufacturer": None,
        "public_key": None,
    }


def test_reading_json_numbers() -> None:
    obis = Obis.parse("1-0:1.8.0")
    assert Reading(obis, Decimal("2043000"), "Wh", 2043).to_json_dict()["value"] == 2043000
    assert type(Reading(obis, Decimal("2.043E+6"), "Wh", 2043).to_json_dict()["value"]) is int
    assert Reading(obis, Decimal("607447.1"), "Wh", 6074471).to_json_dict()["value"] == 607447.1
    assert Reading(obis, None, None, b"\xab").to_json_dict() == {
        "obis": "0100010800ff",
        "value": None,
        "unit": None,
        "raw": "ab",
    }


def test_entries_without_a_six_byte_obis_are_reported_not_dropped_silently() -> None:
    body = SmlGetListResponse(
        SERVER.raw,
        (
            SmlListEntry(b"\x01\x00", 5),
            SmlListEntry(bytes.fromhex("0100010800ff"), 7, unit=30, scaler=0),
        ),
    )
    data = encode_sml_file([body])
    frame = decode_frame(data)
    assert [r.obis.hex for r in readings_from_sml(frame)] == ["0100010800ff"]
    result = decode_dump(data)
    assert [e["kind"] for e in result["errors"]] == ["structure"]
    assert "0100" in result["errors"][0]["detail"]


def test_decode_dump_of_nothing_and_of_garbage() -> None:
    assert decode_dump(b"") == {
        "identity": MeterIdentity().to_json_dict(),
        "frames": [],
        "errors": [],
    }
    result = decode_dump(b"hello")
    assert result["frames"] == []
    assert result["errors"] == [
        {"offset": 0, "kind": "garbage", "detail": "5 bytes outside an SML file skipped"}
    ]


@settings(max_examples=50, deadline=None)
@given(
    value=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    scaler=st.integers(min_value=-10, max_value=10),
)
def test_scaled_value_is_exact(value: int, scaler: int) -> None:
    entry = SmlListEntry(bytes.fromhex("0100010800ff"), value, unit=30, scaler=scaler)
    result = decode_dump(build_meter_file(SERVER.raw, [entry]))
    (reading,) = result["frames"][0]["readings"]
    assert reading["raw"] == value
    assert reading["unit"] == "Wh"
    exact = Decimal(value).scaleb(scaler)
    if exact == exact.to_integral_value():
        assert reading["value"] == int(exact) and type(reading["value"]) is int
    else:
        assert reading["value"] == float(exact)
    (typed,) = readings_from_sml(decode_frame(build_meter_file(SERVER.raw, [entry])))
    assert typed.value == Decimal(value).scaleb(scaler)
    json.dumps(result)


def test_read_dump_typed_result_matches_json() -> None:
    from pathlib import Path

    from app.protocols.meter_reading import read_dump
    from app.protocols.sml import CrcVariant

    data = (
        Path(__file__).resolve().parents[1] / "fixtures" / "sml" / "ITRON_OpenWay-3.HZ.bin"
    ).read_bytes()
    dump = read_dump(data)
    assert dump.counters.frames_ok == 1
    (frame,) = dump.frames
    assert frame.crc_variant is CrcVariant.X25 and frame.offset == 0
    assert dump.identity.server_id is not None
    assert dump.identity.server_id.text == "1ITR0055113102"
    assert dump.to_json_dict() == decode_dump(data)
    assert dump.to_json_dict()["frames"][0]["readings"][2] == {
        "obis": "0100010800ff",
        "value": 8189594.9,
        "unit": "Wh",
        "raw": 81895949,
    }
