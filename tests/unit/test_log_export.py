"""Log export: CSV for German Excel, XML valid against log-export.xsd, lossless round trips."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from app.errors import InvalidValue
from app.report.log_export import (
    LogFilter,
    LogSnapshot,
    entry_from_dict,
    export,
    from_csv,
    from_xml,
    load_snapshot,
    save_snapshot,
    to_csv,
    to_xml,
)
from app.security.xml import load_schema
from app.transports.han.base import LogEntry, LogKind

T0 = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC)


def entry(index: int, *, kind: LogKind = LogKind.SYSTEM, message: str = "Self-test passed",
          level: int | None = 1, minutes: int = 0, **extra: str | None) -> LogEntry:
    return LogEntry(kind=kind, index=index, time=T0 + dt.timedelta(minutes=minutes), level=level,
                    event_id=extra.pop("event_id", "13002"), message=message,
                    event_sub_id=extra.pop("event_sub_id", "0"),
                    subject=extra.pop("subject", "01005e318027.taf7-1.sm"),
                    outcome=extra.pop("outcome", "success"), user=extra.pop("user", "srv"),
                    vendor_id=extra.pop("vendor_id", "BSI"), version=extra.pop("version", "1"))


SAMPLE = [
    entry(1, message="Zählerwerte übertragen; Wärmepumpe \"WP\"", minutes=0),
    entry(2, message="=HYPERLINK(\"http://x\")", level=3, outcome="failure", minutes=5),
    entry(3, message="'quoted start", level=None, subject=None, user=None, minutes=10),
    entry(4, kind=LogKind.CONSUMER, message="line one\nline two; with semicolon", minutes=15),
    entry(5, kind=LogKind.CONSUMER, message="-12 negative looking", level=2, minutes=20),
]


def test_csv_is_what_german_excel_expects():
    data = to_csv(SAMPLE, lang="de", tz=dt.UTC)
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    header = text.split("\r\n", 1)[0].split(";")
    assert header[:4] == ["Log", "Index", "Zeit (UTC, ISO 8601)", "Zeit (lokal)"]
    assert header[-1] == "Meldung"
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert len(rows) == 1 + len(SAMPLE)  # the message with a newline stays one record
    first = dict(zip(header, rows[1], strict=True))
    assert first["Zeit (UTC, ISO 8601)"] == "2026-01-31T12:00:00Z"
    assert first["Zeit (lokal)"] == "31.01.2026 12:00:00"
    assert first["Meldung"] == "Zählerwerte übertragen; Wärmepumpe \"WP\""
    assert first["Stufe (Text)"] == "Information"
    # a gateway-supplied formula is neutralised for Excel
    second = dict(zip(header, rows[2], strict=True))
    assert second["Meldung"].startswith("'=HYPERLINK")
    assert second["Stufe (Text)"] == "Fehler"


def test_csv_round_trip_is_lossless_in_both_header_languages():
    for lang in ("de", "en"):
        back = from_csv(to_csv(SAMPLE, lang=lang))
        assert back == SAMPLE


def test_csv_reader_names_the_broken_line():
    data = to_csv(SAMPLE[:1]).decode("utf-8-sig") + "system;2;broken\r\n"
    with pytest.raises(InvalidValue) as info:
        from_csv(data.encode("utf-8"))
    assert "Line 3" in info.value.message.en


def test_xml_is_valid_and_round_trips():
    data = to_xml(SAMPLE, source={"smgw_id": "ETHE0390000001", "vendor": "theben",
                                  "host": "127.0.0.1:443", "sha256": "ab" * 32},
                  log_filter=LogFilter(since=T0, from_index=1, text="self"))
    root = etree.fromstring(data)
    assert root.tag == "{urn:smgwct:han-log-export:1}logExport"
    assert load_schema("log-export.xsd").validate(root)
    logs = root.findall("{urn:smgwct:han-log-export:1}log")
    assert [(lg.get("kind"), lg.get("count")) for lg in logs] == [("system", "3"),
                                                                   ("consumer", "2")]
    assert from_xml(data) == SAMPLE


def test_xml_escapes_characters_xml_cannot_carry():
    odd = entry(9, message="bell\x07 and nul\x00 end")
    data = to_xml([odd])
    (back,) = from_xml(data)
    assert back.message == "bell\\u0007 and nul\\u0000 end"


def test_xsd_rejects_duplicate_indices_and_bad_kinds():
    data = to_xml(SAMPLE[:2])
    duplicated = data.replace(b'index="2"', b'index="1"')
    with pytest.raises(InvalidValue):
        from_xml(duplicated)
    with pytest.raises(InvalidValue):
        from_xml(data.replace(b'kind="system"', b'kind="audit"'))
    with pytest.raises(InvalidValue):  # count must match
        from_xml(data.replace(b'count="2"', b'count="3"'))


def test_export_picks_the_format_from_the_suffix(tmp_path):
    for name in ("log.csv", "log.xml", "log.json"):
        path = export(SAMPLE, tmp_path / name)
        assert path.exists()
    assert from_csv((tmp_path / "log.csv").read_bytes()) == SAMPLE
    assert from_xml((tmp_path / "log.xml").read_bytes()) == SAMPLE
    with pytest.raises(InvalidValue) as info:
        export(SAMPLE, tmp_path / "log.txt")
    assert info.value.field == "format"


def test_snapshot_round_trip_and_damage(tmp_path):
    snap = LogSnapshot(LogKind.SYSTEM, tuple(SAMPLE[:3]), T0, "ETHE0390000001", "theben",
                       "127.0.0.1:443", "ab" * 32, {"count": None})
    path = save_snapshot(tmp_path / "s.json", snap)
    assert load_snapshot(path) == snap
    path.write_text("{not json", "utf-8")
    with pytest.raises(InvalidValue) as info:
        load_snapshot(path)
    assert str(path) in info.value.message.en


def test_filter_by_time_index_and_text():
    assert [e.index for e in LogFilter(since=T0 + dt.timedelta(minutes=5)).apply(SAMPLE)] == [
        2, 3, 4, 5]
    assert [e.index for e in LogFilter(from_index=2, to_index=3).apply(SAMPLE)] == [2, 3]
    assert [e.index for e in LogFilter(text="hyperlink").apply(SAMPLE)] == [2]
    assert [e.index for e in LogFilter(text="fehler").apply(SAMPLE)] == [2]  # level in German
    assert LogFilter().empty and not LogFilter(text="x").empty


def test_entry_from_dict_refuses_broken_records():
    with pytest.raises(InvalidValue):
        entry_from_dict({"kind": "system", "index": "x", "time": "2026-01-01T00:00:00Z"})
    with pytest.raises(InvalidValue):
        entry_from_dict({"kind": "audit", "index": 1, "time": "2026-01-01T00:00:00Z"})


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
_XML_ILLEGAL = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"} | {"\ufffe", "\uffff"}


@settings(max_examples=80, deadline=None)
@given(message=_text, subject=_text, level=st.one_of(st.none(), st.integers(-5, 99)))
def test_any_text_survives_csv_and_xml(message: str, subject: str, level: int | None):
    item = entry(7, message=message, subject=subject or None, level=level)
    assert from_csv(to_csv([item])) == [item]
    if not _XML_ILLEGAL & set(message + subject):
        assert from_xml(to_xml([item])) == [item]
