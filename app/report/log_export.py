"""Export of gateway log entries (Logexport): CSV for Excel, XML against ``log-export.xsd``.

CSV (``to_csv``): UTF-8 **with BOM** and **semicolons** as separators, CRLF line ends, one header
row in the chosen language. That is what a German Excel opens correctly by double click: without
the BOM it reads ANSI and breaks umlauts; with commas it puts everything into one column (German
Excel uses ``;`` because ``,`` is the decimal separator). Times appear twice: ``time`` as ISO 8601
in UTC (exact, for scripts) and as local time ``31.01.2026 13:00:00`` (Excel recognises it as a
date). Text cells that start with ``=``, ``+``, ``-``, ``@``, tab, CR or an apostrophe get a
leading apostrophe, so that Excel never runs a gateway-supplied text as a formula; :func:`from_csv`
removes it again.

XML (``to_xml``): namespace ``urn:smgwct:han-log-export:1``, one ``<log kind=...>`` per log,
validated against the bundled XSD before it is returned. Characters XML 1.0 cannot carry
(control characters other than tab/LF/CR) are written as ``\\uXXXX`` escapes.

Fetched logs are kept as snapshots (JSON files in the data directory) so that the export and the
log view can use them without reading the gateway again; step data only names the file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from app.errors import InvalidValue, Text
from app.security.xml import parse_xml, to_bytes, validate
from app.transports.han.base import LogEntry, LogKind

NAMESPACE = "urn:smgwct:han-log-export:1"
SCHEMA = "log-export.xsd"
CSV_SEPARATOR = ";"
BOM = "\ufeff"
FORMATS = ("csv", "xml", "json")
#: Larger than the default XML cap: a full system log runs into megabytes.
MAX_EXPORT_BYTES = 256 * 1024 * 1024

_SNAPSHOT_FORMAT = "smgwct-han-log"
_SNAPSHOT_VERSION = 1

#: (key, English header, German header) in column order
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("kind", "Log", "Log"),
    ("index", "Index", "Index"),
    ("time", "Time (UTC, ISO 8601)", "Zeit (UTC, ISO 8601)"),
    ("local_time", "Time (local)", "Zeit (lokal)"),
    ("level", "Level", "Stufe"),
    ("level_text", "Level (text)", "Stufe (Text)"),
    ("event_id", "Event ID", "Ereignis-ID"),
    ("event_sub_id", "Event sub-ID", "Ereignis-Unter-ID"),
    ("outcome", "Outcome", "Ergebnis"),
    ("subject", "Subject", "Subjekt"),
    ("user", "User", "Benutzer"),
    ("vendor_id", "Vendor ID", "Hersteller-ID"),
    ("version", "Version", "Version"),
    ("message", "Message", "Meldung"),
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _bad(field_name: str, en: str, de: str) -> InvalidValue:
    return InvalidValue(Text(en, de), field=field_name)


def utc_text(moment: dt.datetime) -> str:
    """``2026-01-31T12:00:00Z`` (seconds; fractions kept when present)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_time(text: str, field_name: str = "time") -> dt.datetime:
    """ISO 8601 with ``Z`` or an offset; a time without zone is taken as UTC."""
    try:
        parsed = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise _bad(field_name,
                   f"'{text[:40]}' is not a date/time like 2026-01-31T12:00:00Z.",
                   f"'{text[:40]}' ist keine Zeitangabe wie 2026-01-31T12:00:00Z.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# -- entries as plain data ----------------------------------------------------------------------


def entry_from_dict(data: Mapping[str, Any]) -> LogEntry:
    """The inverse of :meth:`LogEntry.to_dict`."""

    def opt(key: str) -> str | None:
        value = data.get(key)
        return None if value is None or value == "" else str(value)

    try:
        level = data.get("level")
        return LogEntry(
            kind=LogKind(str(data["kind"])),
            index=int(data["index"]),
            time=parse_time(str(data["time"])),
            level=None if level in (None, "") else int(level),
            event_id=opt("event_id"),
            message=str(data.get("message") or ""),
            event_sub_id=opt("event_sub_id"),
            subject=opt("subject"),
            outcome=opt("outcome"),
            user=opt("user"),
            vendor_id=opt("vendor_id"),
            version=opt("version"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InvalidValue):
            raise
        raise _bad("entry", f"A log entry is incomplete or malformed ({exc}).",
                   f"Ein Logeintrag ist unvollständig oder fehlerhaft ({exc}).") from exc


# -- filters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilter:
    """Which entries to show or export: time range, index range, free-text search."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    from_index: int | None = None
    to_index: int | None = None
    text: str = ""

    def matches(self, entry: LogEntry) -> bool:
        if self.since is not None and entry.time < self.since:
            return False
        if self.until is not None and entry.time > self.until:
            return False
        if self.from_index is not None and entry.index < self.from_index:
            return False
        if self.to_index is not None and entry.index > self.to_index:
            return False
        if self.text:
            needle = self.text.casefold()
            hay = " ".join(str(v) for v in (
                entry.message, entry.event_id, entry.event_sub_id, entry.subject, entry.user,
                entry.outcome, entry.level_text.en, entry.level_text.de, entry.index,
            ) if v is not None)
            return needle in hay.casefold()
        return True

    def apply(self, entries: Iterable[LogEntry]) -> list[LogEntry]:
        return [e for e in entries if self.matches(e)]

    @property
    def empty(self) -> bool:
        return self == LogFilter()


# -- CSV ----------------------------------------------------------------------------------------


def _guard(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _unguard(text: str) -> str:
    return text[1:] if text.startswith("'") else text


def _local(moment: dt.datetime, tz: dt.tzinfo | None) -> str:
    return moment.astimezone(tz).strftime("%d.%m.%Y %H:%M:%S")


def to_csv(entries: Iterable[LogEntry], *, lang: str = "de",
           tz: dt.tzinfo | None = None) -> bytes:
    """Entries as CSV for Excel: UTF-8 with BOM, ``;``, CRLF, header row in ``lang``.

    ``tz``: the zone of the "local time" column (default: this computer's)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_SEPARATOR, lineterminator="\r\n",
                        quoting=csv.QUOTE_MINIMAL)
    german = lang.lower().startswith("de")
    writer.writerow([de if german else en for _key, en, de in COLUMNS])
    for e in entries:
        row: dict[str, str] = {
            "kind": e.kind.value, "index": str(e.index), "time": utc_text(e.time),
            "local_time": _local(e.time, tz),
            "level": "" if e.level is None else str(e.level),
            "level_text": e.level_text.get(lang),
            "event_id": e.event_id or "", "event_sub_id": e.event_sub_id or "",
            "outcome": e.outcome or "", "subject": e.subject or "", "user": e.user or "",
            "vendor_id": e.vendor_id or "", "version": e.version or "", "message": e.message,
        }
        writer.writerow([
            row[key] if key in ("kind", "index", "time", "local_time", "level")
            else _guard(row[key])
            for key, _en, _de in COLUMNS
        ])
    return (BOM + out.getvalue()).encode("utf-8")


def from_csv(data: bytes) -> list[LogEntry]:
    """Read a CSV written by :func:`to_csv` (either header language)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _bad("csv", "The CSV file is not UTF-8.", "Die CSV-Datei ist kein UTF-8.") from exc
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=CSV_SEPARATOR))
    if not rows:
        raise _bad("csv", "The CSV file is empty.", "Die CSV-Datei ist leer.")
    by_header = {h: key for key, en, de in COLUMNS for h in (en, de)}
    keys = [by_header.get(h.strip()) for h in rows[0]]
    if "index" not in keys or "time" not in keys or "kind" not in keys:
        raise _bad("csv", "The CSV file lacks the columns Log, Index and Time.",
                   "Der CSV-Datei fehlen die Spalten Log, Index und Zeit.")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(keys):
            raise _bad("csv", f"Line {n} of the CSV file has {len(row)} cells, not {len(keys)}.",
                       f"Zeile {n} der CSV-Datei hat {len(row)} Zellen statt {len(keys)}.")
        record = {k: cell for k, cell in zip(keys, row, strict=True) if k}
        for key in ("level_text", "event_id", "event_sub_id", "outcome", "subject", "user",
                    "vendor_id", "version", "message"):
            if key in record:
                record[key] = _unguard(record[key])
        out.append(entry_from_dict(record))
    return out


# -- XML ----------------------------------------------------------------------------------------


def _xml_safe(text: str) -> str:
    return _XML_ILLEGAL.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def to_xml(
    entries: Iterable[LogEntry],
    *,
    source: Mapping[str, str | None] | None = None,
    log_filter: LogFilter | None = None,
    count: int | None = None,
    exported_at: dt.datetime | None = None,
) -> bytes:
    """Entries as XML (grouped by kind, index order), validated against ``log-export.xsd``.

    ``source``: ``smgw_id``, ``vendor``, ``host``, ``sha256`` of the gateway."""
    groups: dict[LogKind, list[LogEntry]] = {}
    for e in entries:
        groups.setdefault(e.kind, []).append(e)
    if not groups:
        groups[LogKind.SYSTEM] = []
    root = etree.Element(_q("logExport"), nsmap={None: NAMESPACE})
    root.set("version", "1")
    root.set("exported", utc_text(exported_at or dt.datetime.now(dt.UTC)))
    if source:
        src = etree.SubElement(root, _q("source"))
        for key, attr in (("smgw_id", "smgwId"), ("vendor", "vendor"), ("host", "host"),
                          ("sha256", "certificateSha256")):
            value = source.get(key)
            if value:
                src.set(attr, _xml_safe(str(value)))
    if (log_filter is not None and not log_filter.empty) or count:
        flt = etree.SubElement(root, _q("filter"))
        if log_filter is not None:
            if log_filter.since:
                flt.set("from", utc_text(log_filter.since))
            if log_filter.until:
                flt.set("to", utc_text(log_filter.until))
            if log_filter.from_index is not None:
                flt.set("fromIndex", str(log_filter.from_index))
            if log_filter.to_index is not None:
                flt.set("toIndex", str(log_filter.to_index))
            if log_filter.text:
                flt.set("search", _xml_safe(log_filter.text))
        if count:
            flt.set("count", str(count))
    for kind in (LogKind.SYSTEM, LogKind.CONSUMER):
        if kind not in groups:
            continue
        items = sorted(groups[kind], key=lambda e: e.index)
        log = etree.SubElement(root, _q("log"), kind=kind.value, count=str(len(items)))
        for e in items:
            node = etree.SubElement(log, _q("entry"), index=str(e.index), time=utc_text(e.time))
            for attr, value in (("level", e.level), ("eventId", e.event_id),
                                ("eventSubId", e.event_sub_id), ("outcome", e.outcome),
                                ("vendorId", e.vendor_id), ("version", e.version)):
                if value is not None and value != "":
                    node.set(attr, _xml_safe(str(value)))
            if e.subject:
                etree.SubElement(node, _q("subject")).text = _xml_safe(e.subject)
            if e.user:
                etree.SubElement(node, _q("user")).text = _xml_safe(e.user)
            etree.SubElement(node, _q("message")).text = _xml_safe(e.message)
    validate(root, SCHEMA, field="log_export")
    return to_bytes(root, pretty=True)


def from_xml(data: bytes) -> list[LogEntry]:
    """Read and validate a log export (through the safe parser)."""
    root = parse_xml(data, schema=SCHEMA, max_bytes=MAX_EXPORT_BYTES, field="log_export")
    out: list[LogEntry] = []
    for log in root.iter(_q("log")):
        kind = LogKind(log.get("kind"))
        items = log.findall(_q("entry"))
        if int(log.get("count", "0")) != len(items):
            raise _bad("log_export",
                       f"The {kind.value} log says {log.get('count')} entries but holds "
                       f"{len(items)}.",
                       f"Das Log {kind.value} nennt {log.get('count')} Einträge, enthält aber "
                       f"{len(items)}.")
        for node in items:
            level = node.get("level")
            out.append(LogEntry(
                kind=kind, index=int(node.get("index", "0")),
                time=parse_time(node.get("time", "")),
                level=int(level) if level is not None else None,
                event_id=node.get("eventId"), event_sub_id=node.get("eventSubId"),
                message=node.findtext(_q("message")) or "",
                subject=node.findtext(_q("subject")), user=node.findtext(_q("user")),
                outcome=node.get("outcome"), vendor_id=node.get("vendorId"),
                version=node.get("version"),
            ))
    return out


# -- files --------------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def render(entries: Sequence[LogEntry], fmt: str, *, lang: str = "de",
           source: Mapping[str, str | None] | None = None,
           log_filter: LogFilter | None = None) -> bytes:
    """The export in ``fmt`` (``csv``, ``xml`` or ``json``) as bytes."""
    fmt = fmt.lower()
    if fmt == "csv":
        return to_csv(entries, lang=lang)
    if fmt == "xml":
        return to_xml(entries, source=source, log_filter=log_filter)
    if fmt == "json":
        return (json.dumps([e.to_dict() for e in entries], indent=2, ensure_ascii=False)
                + "\n").encode("utf-8")
    raise _bad("format", f"Unknown export format '{fmt}'; use csv, xml or json.",
               f"Unbekanntes Exportformat '{fmt}'; csv, xml oder json verwenden.")


def export(entries: Sequence[LogEntry], path: str | Path, fmt: str | None = None, *,
           lang: str = "de", source: Mapping[str, str | None] | None = None,
           log_filter: LogFilter | None = None) -> Path:
    """Write ``entries`` to ``path`` (format from ``fmt`` or the file suffix); atomic."""
    target = Path(path)
    chosen = (fmt or target.suffix.lstrip(".")).lower()
    data = render(entries, chosen, lang=lang, source=source, log_filter=log_filter)
    try:
        _write_atomic(target, data)
    except OSError as exc:
        raise _bad("path", f"The export cannot be written to {target}: "
                           f"{exc.strerror or exc}.",
                   f"Der Export kann nicht nach {target} geschrieben werden: "
                   f"{exc.strerror or exc}.") from exc
    return target


# -- snapshots ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogSnapshot:
    """The entries of one log as fetched, with where and how they were read."""

    kind: LogKind
    entries: tuple[LogEntry, ...]
    fetched_at: dt.datetime
    smgw_id: str | None = None
    vendor: str | None = None
    host: str | None = None
    sha256: str | None = None
    query: Mapping[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> dict[str, str | None]:
        return {"smgw_id": self.smgw_id, "vendor": self.vendor, "host": self.host,
                "sha256": self.sha256}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _SNAPSHOT_FORMAT, "version": _SNAPSHOT_VERSION, "kind": self.kind.value,
            "fetched_at": utc_text(self.fetched_at), "smgw_id": self.smgw_id,
            "vendor": self.vendor, "host": self.host, "sha256": self.sha256,
            "query": dict(self.query), "entries": [e.to_dict() for e in self.entries],
        }


def save_snapshot(path: str | Path, snapshot: LogSnapshot) -> Path:
    target = Path(path)
    _write_atomic(target, json.dumps(snapshot.to_json(), ensure_ascii=False).encode("utf-8"))
    return target


def load_snapshot(path: str | Path) -> LogSnapshot:
    """Read a snapshot file; InvalidValue naming the file when it is missing or damaged."""
    source = Path(path)
    try:
        data = json.loads(source.read_text("utf-8"))
        if data.get("format") != _SNAPSHOT_FORMAT or data.get("version") != _SNAPSHOT_VERSION:
            raise ValueError("unknown format or version")
        return LogSnapshot(
            kind=LogKind(data["kind"]),
            entries=tuple(entry_from_dict(e) for e in data["entries"]),
            fetched_at=parse_time(data["fetched_at"]),
            smgw_id=data.get("smgw_id"), vendor=data.get("vendor"), host=data.get("host"),
            sha256=data.get("sha256"), query=data.get("query") or {},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _bad("log_snapshot", f"The stored log {source} cannot be read ({exc}).",
                   f"Das gespeicherte Log {source} ist nicht lesbar ({exc}).") from exc
