"""Real meter captures (tests/fixtures/sml, see its README) decode to the values checked by hand.

The expected server IDs and register values below were read off the hex dumps by walking the
TL structure manually (e.g. EMH 1.8.0: ``56 00 05 00 76 C8`` = Integer40 0x050076C8 =
83916488, scaler ``52 FF`` = -1, unit ``62 1E`` = 30 = Wh) and cross-checked with smllib.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from app.domain import Obis
from app.protocols.meter_reading import decode_dump, identity_from_sml, snapshot_from_sml
from app.protocols.sml import (
    CrcVariant,
    SmlCloseResponse,
    SmlGetListResponse,
    SmlOpenResponse,
    SmlStreamDecoder,
    iter_list_entries,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sml"

# file -> (server ID hex, DIN text, frames ok, frames total, 1.8.0 raw, scaler, 1.8.0 in Wh)
EXPECTED = {
    "DZG_DVS-7420.2V.G2_mtr0.bin": (
        "0a01445a4700039e2054",
        "1DZG0060694612",
        1,
        1,
        6074471,
        -1,
        Decimal("607447.1"),
    ),
    "EMH_eHZ-HW8E2A5L0EK2P.bin": (
        "06454d4801027153c8c6",
        "1EMH110002878662",
        12,
        12,
        83916488,
        -1,
        Decimal("8391648.8"),
    ),
    "EasyMeter_Q3A_A1064V1009.bin": (
        "09014553591103b599a5",
        "1ESY1162232997",
        4,
        7,
        29416461614,
        -4,
        Decimal("2941646.1614"),
    ),
    "ISKRA_MT631-D1A52-K0z-H01_with_PIN.bin": (
        "0a0149534b00047a5544",
        "1ISK0075126084",
        5,
        5,
        20431047,
        -1,
        Decimal("2043104.7"),
    ),
    "ISKRA_MT631-D1A52-K0z-H01_without_PIN.bin": (
        "0a0149534b00047a5544",
        "1ISK0075126084",
        5,
        5,
        2043,
        3,
        Decimal("2043000"),
    ),
    "ITRON_OpenWay-3.HZ.bin": (
        "0a01495452000348f58e",
        "1ITR0055113102",
        1,
        1,
        81895949,
        -1,
        Decimal("8189594.9"),
    ),
}

IMPORT = Obis.parse("1-0:1.8.0")


def _load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _decode(name: str) -> tuple[SmlStreamDecoder, list]:
    decoder = SmlStreamDecoder()
    frames = decoder.feed(_load(name))
    decoder.flush()
    return decoder, frames


def test_every_fixture_is_covered() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.bin")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_server_id_and_import_register(name: str) -> None:
    server_hex, din_text, ok, total, raw, scaler, wh = EXPECTED[name]
    decoder, frames = _decode(name)

    assert decoder.counters.frames_ok == ok
    assert decoder.counters.frames_total == total == len(frames)
    first = next(f for f in frames if f.crc_ok)
    assert first.crc_variant is CrcVariant.X25
    assert [m.body.name for m in first.messages] == [
        "OpenResponse",
        "GetListResponse",
        "CloseResponse",
    ]
    assert all(m.crc_variant is CrcVariant.X25 for m in first.messages)
    assert first.server_id == bytes.fromhex(server_hex)

    entry = next(e for _, e in iter_list_entries(first) if e.obj_name == IMPORT.raw)
    assert (entry.value, entry.scaler, entry.unit) == (raw, scaler, 30)

    snapshot = snapshot_from_sml(first)
    assert snapshot.identity.server_id is not None
    assert snapshot.identity.server_id.hex == server_hex
    assert snapshot.identity.server_id.text == din_text
    reading = snapshot.get(IMPORT)
    assert reading is not None
    assert reading.value == wh
    assert reading.unit == "Wh"
    assert reading.raw == raw


def test_dzg_all_values() -> None:
    _, frames = _decode("DZG_DVS-7420.2V.G2_mtr0.bin")
    snap = snapshot_from_sml(frames[0])
    assert snap.value("1-0:2.8.0") == Decimal("1266728.6")  # 64 C1 49 96 = 12667286, x 0.1
    power = snap.get("1-0:16.7.0")
    assert power is not None
    assert (power.value, power.unit) == (Decimal("215.99"), "W")  # 53 54 5F = 21599, x 0.01
    assert snap.get("1-0:1.8.0").status == 0x1C0104  # type: ignore[union-attr]
    assert snap.identity.manufacturer == "DZG"  # 1-0:96.50.1*1 (no 129-129:199.130.3)
    # valTime is sent as SML_Time choice secIndex = 0
    entry = next(e for _, e in iter_list_entries(frames[0]) if e.obj_name == IMPORT.raw)
    assert entry.val_time is not None
    assert (entry.val_time.kind, entry.val_time.value) == ("sec_index", 0)


def test_emh_identity_with_public_key_and_tariffs() -> None:
    _, frames = _decode("EMH_eHZ-HW8E2A5L0EK2P.bin")
    snap = snapshot_from_sml(frames[0])
    identity = snap.identity
    assert identity.manufacturer == "EMH"
    assert identity.public_key == bytes.fromhex(
        "28abdbf441a5ef6335ec38bd9c0e0a79030da5f4a4d7395f"
        "6952ef7a0b0ff3fcd137f866d114154cf0a95242deaab17d"
    )
    assert snap.value("1-0:1.8.1") == Decimal("8391447.6")
    assert snap.value("1-0:1.8.2") == Decimal("201.2")
    assert snap.value("1-0:15.7.0") == Decimal("163.5")
    # the register counts up by one digit per telegram across the capture
    values = [snapshot_from_sml(f).get(IMPORT).raw for f in frames]  # type: ignore[union-attr]
    assert values == list(range(83916488, 83916500))


def test_emh_open_response_fields() -> None:
    _, frames = _decode("EMH_eHZ-HW8E2A5L0EK2P.bin")
    open_body = frames[0].messages[0].body
    assert isinstance(open_body, SmlOpenResponse)
    assert open_body.req_file_id == bytes.fromhex("002806eafc92")
    assert open_body.codepage is None and open_body.ref_time is None
    get_list = frames[0].messages[1].body
    assert isinstance(get_list, SmlGetListResponse)
    assert get_list.act_sensor_time is not None
    assert get_list.act_sensor_time.value == 0x06EA2F7A
    assert isinstance(frames[0].messages[2].body, SmlCloseResponse)


def test_easymeter_damaged_frames_are_reported_and_skipped() -> None:
    decoder, frames = _decode("EasyMeter_Q3A_A1064V1009.bin")
    c = decoder.counters
    assert (c.frames_ok, c.crc_errors, c.garbage_bytes) == (4, 3, 445)
    kinds = [(e.offset, e.kind) for e in decoder.errors]
    assert (0, "garbage") in kinds
    assert (943, "crc") in kinds  # aligned end, 4 bytes lost
    assert (2444, "misaligned") in kinds and (2934, "misaligned") in kinds
    assert kinds[-1] == (3950, "truncated")
    bad = [f for f in frames if not f.crc_ok]
    assert [f.offset for f in bad] == [445, 1953, 2452]
    # a damaged frame contributes no readings, only messages whose own CRC verified
    for frame in bad:
        assert all(m.crc_ok for m in frame.messages)
        assert snapshot_from_sml(frame).readings == ()
    good = [snapshot_from_sml(f).value(IMPORT) for f in frames if f.crc_ok]
    assert good == [
        Decimal("2941646.1614"),
        Decimal("2941646.3734"),
        Decimal("2941646.9715"),
        Decimal("2941647.1626"),
    ]


def test_easymeter_voltage_and_property_number() -> None:
    _, frames = _decode("EasyMeter_Q3A_A1064V1009.bin")
    snap = snapshot_from_sml(frames[1])
    voltage = snap.get("1-0:32.7.0")
    assert voltage is not None
    assert (voltage.value, voltage.unit) == (Decimal("232.5"), "V")
    assert snap.get("1-0:0.0.0").raw == b"1ESY1162232997"  # type: ignore[union-attr]
    assert snap.identity.manufacturer == "ESY"
    assert snap.identity.public_key is not None and len(snap.identity.public_key) == 48


def test_iskra_power_and_itron_power() -> None:
    _, iskra = _decode("ISKRA_MT631-D1A52-K0z-H01_with_PIN.bin")
    assert snapshot_from_sml(iskra[0]).value("1-0:16.7.0") == Decimal(193)
    _, itron = _decode("ITRON_OpenWay-3.HZ.bin")
    assert snapshot_from_sml(itron[0]).value("1-0:16.7.0") == Decimal(613)
    assert identity_from_sml(itron[0]).manufacturer == "ITR"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_byte_by_byte_feeding_gives_the_same_frames(name: str) -> None:
    data = _load(name)
    _, bulk = _decode(name)
    decoder = SmlStreamDecoder()
    frames = []
    for i in range(len(data)):
        frames += decoder.feed(data[i : i + 1])
    decoder.flush()
    assert [(f.offset, f.raw, f.crc_ok) for f in frames] == [
        (f.offset, f.raw, f.crc_ok) for f in bulk
    ]
    assert [m.body for f in frames for m in f.messages] == [
        m.body for f in bulk for m in f.messages
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_values_agree_with_smllib(name: str) -> None:
    smllib = pytest.importorskip("smllib")
    from smllib.errors import CrcError

    reader = smllib.SmlStreamReader()
    reader.add(_load(name))
    theirs = []
    while True:
        try:
            frame = reader.get_frame()
        except CrcError:
            continue
        if frame is None:
            break
        theirs.append(
            [
                (str(e.obis), e.value, e.unit, e.scaler)
                for e in frame.get_obis()
                if e.value is not None
            ]
        )
    _, frames = _decode(name)
    ours = [
        [
            (e.obj_name.hex(), e.value, e.unit, e.scaler)
            for _, e in iter_list_entries(f)
            if isinstance(e.value, int) and e.obj_name[0] == 1
        ]
        for f in frames
        if f.crc_ok
    ]
    theirs_numeric = [[t for t in frame if isinstance(t[1], int)] for frame in theirs]
    assert ours == theirs_numeric


def test_decode_dump_contract() -> None:
    result = decode_dump(_load("DZG_DVS-7420.2V.G2_mtr0.bin"))
    assert set(result) == {"identity", "frames", "errors"}
    assert result["identity"] == {
        "server_id": "0a01445a4700039e2054",
        "server_id_text": "1DZG0060694612",
        "manufacturer": "DZG",
        "public_key": None,
    }
    assert len(result["frames"]) == 1
    frame = result["frames"][0]
    assert frame["crc_ok"] is True
    assert frame["server_id"] == "0a01445a4700039e2054"
    readings = {r["obis"]: r for r in frame["readings"]}
    assert readings["0100010800ff"] == {
        "obis": "0100010800ff",
        "value": 607447.1,
        "unit": "Wh",
        "raw": 6074471,
    }
    assert readings["0100100700ff"]["value"] == 215.99
    assert readings["010060320101"] == {
        "obis": "010060320101",
        "value": None,
        "unit": None,
        "raw": "445a47",
    }
    assert result["errors"] == [
        {
            "offset": 252,
            "kind": "truncated",
            "detail": "stream ends 56 bytes into a frame (no end sequence)",
        }
    ]


def test_decode_dump_is_json_serialisable_for_every_fixture() -> None:
    import json

    for name in EXPECTED:
        result = decode_dump(_load(name))
        text = json.dumps(result)
        assert json.loads(text) == result
        assert result["identity"]["server_id"] == EXPECTED[name][0]


def test_decode_dump_easymeter_errors_sorted_with_offsets() -> None:
    result = decode_dump(_load("EasyMeter_Q3A_A1064V1009.bin"))
    offsets = [e["offset"] for e in result["errors"]]
    assert offsets == sorted(offsets)
    assert [f["crc_ok"] for f in result["frames"]] == [False, True, True, False, False, True, True]
    assert result["frames"][0]["readings"] == []
    assert {"offset": 0, "kind": "garbage", "detail": "445 bytes outside an SML file skipped"} in (
        result["errors"]
    )
