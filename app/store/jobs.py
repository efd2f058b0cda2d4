"""Work orders (Arbeitsaufträge) and the offline job list (Auftragsliste) of the technician.

A :class:`WorkOrder` is what the back office plans for one visit: job number, site, metering
point, the expected SMGW ID, the expected meters (server ID, role, a *reference* to their key
material) and the planned flows. It comes as XML (``resources/schemas/work-order.xsd``) or JSON
(the same fields in snake case, checked here with the same rules) or is typed in on site.
A file that breaks a rule is refused with the line and field at fault and what is expected
(:class:`JobFileError`); the formats are described in ``docs/work-orders.md``.

:class:`WorkOrderStore` keeps the jobs in SQLite next to the flow runs (``app.store.db``): each job
collects its flow runs (ids of the engine's :class:`~app.store.db.JobStore`), readings, notes,
seal numbers (Plombennummern), photos (copied into the job's folder with their SHA-256), the
devices and certificates seen, and writes every change to the audit log tagged with the job id.
"""

from __future__ import annotations

import bisect
import datetime as dt
import difflib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from lxml import etree

from app.domain import Obis, ServerId, ServerIdKind, SmgwId
from app.errors import InvalidValue, SmgwctError, Text
from app.security.pki import describe_certificate
from app.security.xml import load_schema, parse_xml, to_bytes
from app.store.audit import AuditEntry, AuditLog
from app.store.db import Database, Migration, dumps, parse_utc, utc_text
from app.store.settings import data_dir

NAMESPACE = "urn:smgwct:work-order:1"
SCHEMA = "work-order.xsd"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 1024 * 1024
MAX_PHOTO_BYTES = 64 * 1024 * 1024
DB_FILE = "work_orders.sqlite3"
FILES_DIR = "jobs"


class PlannedFlow(StrEnum):
    """Flows a work order can plan (names as in ``smgwct flow run``)."""

    HANDOVER = "handover"
    METER_CHANGE = "meter_change"
    PAIRING = "pairing"
    DISCOVERY = "discovery"
    LOGS = "logs"
    TECHNICAL_DATA = "technical_data"


class MeterRole(StrEnum):
    """What happens to a meter on this visit: installed, removed, or kept."""

    NEW = "new"
    OLD = "old"
    EXISTING = "existing"


class JobState(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"


# -- the work order ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """Einsatzort: address and where in the building the cabinet is."""

    street: str
    postal_code: str
    city: str
    location: str | None = None

    @property
    def one_line(self) -> str:
        text = f"{self.street}, {self.postal_code} {self.city}"
        return f"{text} ({self.location})" if self.location else text


@dataclass(frozen=True)
class ExpectedMeter:
    """A meter the work order names; ``key_ref`` points to its key material (never the key)."""

    server_id: ServerId
    role: MeterRole
    key_ref: str | None = None

    @property
    def server_id_text(self) -> str:
        return self.server_id.text or self.server_id.hex


@dataclass(frozen=True)
class WorkOrder:
    """One job as planned by the back office (Arbeitsauftrag)."""

    job_id: str
    site: Site
    metering_point_id: str
    smgw_id: SmgwId
    gwa_tenant: str
    meters: tuple[ExpectedMeter, ...]
    flows: tuple[PlannedFlow, ...]
    customer_name: str | None = None
    planned_date: dt.date | None = None
    notes: str | None = None

    @classmethod
    def create(
        cls,
        *,
        job_id: str,
        street: str,
        postal_code: str,
        city: str,
        metering_point_id: str,
        smgw_id: str,
        gwa_tenant: str,
        meters: Iterable[tuple[str, str] | tuple[str, str, str | None]] = (),
        flows: Iterable[str] = (),
        location: str | None = None,
        customer_name: str | None = None,
        planned_date: str | None = None,
        notes: str | None = None,
    ) -> WorkOrder:
        """A work order typed in on site; the same rules as for files, errors name the field."""
        doc: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "job_id": job_id,
            "site": _without_none({"street": street, "postal_code": postal_code, "city": city,
                                   "location": location}),
            "metering_point_id": metering_point_id,
            "smgw_id": smgw_id,
            "gwa_tenant": gwa_tenant,
            "meters": [
                _without_none({"server_id": m[0], "role": m[1],
                               "key_ref": m[2] if len(m) > 2 else None})  # type: ignore[misc]
                for m in meters
            ],
            "flows": list(flows),
        }
        doc.update(_without_none({"customer_name": customer_name, "planned_date": planned_date,
                                  "notes": notes}))
        return _order_from_document(doc, _Located("", "json", {}))

    def meters_with(self, role: MeterRole) -> list[ExpectedMeter]:
        return [m for m in self.meters if m.role is role]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see docs/work-orders.md)."""
        doc: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "job_id": self.job_id,
            "site": _without_none({
                "street": self.site.street, "postal_code": self.site.postal_code,
                "city": self.site.city, "location": self.site.location,
            }),
            "metering_point_id": self.metering_point_id,
            "customer_name": self.customer_name,
            "smgw_id": self.smgw_id.text,
            "gwa_tenant": self.gwa_tenant,
            "meters": [
                _without_none({"server_id": m.server_id_text, "role": m.role.value,
                               "key_ref": m.key_ref})
                for m in self.meters
            ],
            "flows": [f.value for f in self.flows],
            "planned_date": None if self.planned_date is None else self.planned_date.isoformat(),
            "notes": self.notes,
        }
        return _without_none(doc)

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    def to_xml(self) -> bytes:
        """The XML form, valid against ``work-order.xsd``."""
        def sub(parent: etree._Element, name: str, text: str | None) -> None:
            if text is not None:
                etree.SubElement(parent, _q(name)).text = text

        root = etree.Element(_q("workOrder"), nsmap={None: NAMESPACE})
        root.set("version", str(FORMAT_VERSION))
        sub(root, "jobId", self.job_id)
        site = etree.SubElement(root, _q("site"))
        sub(site, "street", self.site.street)
        sub(site, "postalCode", self.site.postal_code)
        sub(site, "city", self.site.city)
        sub(site, "location", self.site.location)
        sub(root, "meteringPointId", self.metering_point_id)
        sub(root, "customerName", self.customer_name)
        sub(root, "smgwId", self.smgw_id.text)
        sub(root, "gwaTenant", self.gwa_tenant)
        meters = etree.SubElement(root, _q("meters"))
        for m in self.meters:
            meter = etree.SubElement(meters, _q("meter"))
            sub(meter, "serverId", m.server_id_text)
            sub(meter, "role", m.role.value)
            sub(meter, "keyRef", m.key_ref)
        flows = etree.SubElement(root, _q("flows"))
        for f in self.flows:
            sub(flows, "flow", f.value)
        planned = self.planned_date
        sub(root, "plannedDate", None if planned is None else planned.isoformat())
        sub(root, "notes", self.notes)
        return to_bytes(root, pretty=True)


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _without_none(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


# -- errors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One rule a work order breaks: where (line, field as named in the file) and what."""

    line: int | None
    field: str
    message: Text

    def describe(self, lang: str = "en") -> str:
        de = lang.lower().startswith("de")
        where = f"{'Zeile' if de else 'line'} {self.line}, " if self.line else ""
        return f"{where}{self.field}: {self.message.get(lang)}"


TYPED_HINT = Text("Correct the entry and save again.",
                  "Korrigieren Sie die Eingabe und speichern Sie erneut.")


class JobFileError(InvalidValue):
    """A work order was refused; ``line``/``field`` name the first problem, ``problems`` all."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        first = problems[0]
        more = len(problems) - 1
        tail_en = f" ({more} more problem{'s' if more > 1 else ''} in the file)" if more else ""
        tail_de = (f" ({more} weitere{'s' if more == 1 else ''} Problem{'e' if more > 1 else ''}"
                   f" in der Datei)" if more else "")
        prefix = f"{source}, " if source else ""
        hint = TYPED_HINT if not source else Text(
            "Correct the file (or ask the back office for a corrected work order) and import it "
            "again.",
            "Korrigieren Sie die Datei (oder fordern Sie einen korrigierten Auftrag an) und "
            "importieren Sie sie erneut.")
        super().__init__(
            Text(f"{prefix}{first.describe('en')}{tail_en}",
                 f"{prefix}{first.describe('de')}{tail_de}"),
            field=first.field,
            hint=hint,
        )
        self.source = source
        self.line = first.line
        self.problems = tuple(problems)

    def describe(self, lang: str = "en") -> str:
        """``file, line N, field: what is wrong (N more problems) what to do``."""
        hint = f" {self.hint.get(lang)}" if self.hint is not None else ""
        return f"{self.message.get(lang)}{hint}"


# -- field rules (shared by XML, JSON and typed input) ------------------------------------------

Path_ = tuple[str | int, ...]

#: XML names of the JSON keys that differ.
_XML_NAMES = {
    "job_id": "jobId", "postal_code": "postalCode", "metering_point_id": "meteringPointId",
    "customer_name": "customerName", "smgw_id": "smgwId", "gwa_tenant": "gwaTenant",
    "server_id": "serverId", "key_ref": "keyRef", "planned_date": "plannedDate",
}
_JSON_NAMES = {v: k for k, v in _XML_NAMES.items()}
_XML_ITEMS = {"meters": "meter", "flows": "flow"}

# English label, German label, example. Keyed by the path without list indices.
_LABELS: dict[str, tuple[str, str, str]] = {
    "version": ("format version", "Formatversion", "1"),
    "job_id": ("job number", "Auftragsnummer", "A-2025-000123"),
    "site": ("site", "Einsatzort", '{"street": ..., "postal_code": ..., "city": ...}'),
    "site.street": ("street and house number", "Straße und Hausnummer", "Musterstraße 1"),
    "site.postal_code": ("postal code", "Postleitzahl", "12345"),
    "site.city": ("city", "Ort", "Musterstadt"),
    "site.location": ("location in the building", "Einbauort", "Keller, Zählerschrank 2"),
    "metering_point_id": ("metering point ID", "Zählpunktbezeichnung",
                          "DE0001234512345000000000000000001"),
    "customer_name": ("customer name", "Kundenname", "Erika Mustermann"),
    "smgw_id": ("SMGW ID", "SMGW-ID", "EDEM0100000001"),
    "gwa_tenant": ("GWA tenant", "GWA-Mandant", "demo-gwa"),
    "meters": ("meters", "Zähler", '[{"server_id": "1EMH0012345678", "role": "new"}]'),
    "meters.server_id": ("meter server ID", "Server-ID des Zählers", "1EMH0012345678"),
    "meters.role": ("meter role", "Rolle des Zählers", "new"),
    "meters.key_ref": ("key reference", "Schlüsselverweis", "keys/1EMH0012345678.key"),
    "flows": ("planned flows", "geplante Abläufe", '["handover"]'),
    "flows[]": ("flow", "Ablauf", "handover"),
    "meters[]": ("meter", "Zähler", '{"server_id": "1EMH0012345678", "role": "new"}'),
    "planned_date": ("planned date", "geplantes Datum", "2025-03-01"),
    "notes": ("notes", "Hinweise", "Schlüssel beim Hausmeister"),
}

_JOB_ID = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._\-]{0,62}[A-Za-z0-9])?")
_SMGW_ID_TEXT = re.compile(r"[Ee] ?[A-Za-z]{3}[0-9]{2} ?[0-9]{8}")
_SERVER_ID_TEXT = re.compile(r"[0-9] ?[A-Za-z]{3}[0-9]{2} ?[0-9]{8}|([0-9A-Fa-f]{2}){9,10}")
_METERING_POINT = re.compile(r"[Dd][Ee]( ?[0-9A-Za-z]){31}")
_POSTAL_CODE = re.compile(r"[0-9]{5}")
_KEY_REF = re.compile(r"[0-9A-Za-z][0-9A-Za-z._:/\-]{0,79}")
_KEY_LIKE = re.compile(r"(?:[0-9A-Fa-f]{2}[:\- ]?){16,}")
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _label(path: Path_) -> tuple[str, str, str]:
    key = ".".join(str(p) for p in path if isinstance(p, str))
    if path and isinstance(path[-1], int):
        key += "[]"
    return _LABELS.get(key, (key, key, ""))


def _cap(text: str) -> str:
    """Sentence start: first letter upper case, the rest as written (``SMGW-ID`` stays)."""
    return text[:1].upper() + text[1:]


def _bad(path: Path_, en: str, de: str) -> InvalidValue:
    return InvalidValue(Text(en, de), field=".".join(str(p) for p in path))


def _token(value: str) -> str:
    """XML Schema ``xs:token`` whitespace rule: collapse runs, strip the ends."""
    return " ".join(value.split())


def _check_line(path: Path_, value: str, max_len: int) -> str:
    en, de, example = _label(path)
    text = _token(value)
    if not text:
        raise _bad(path, f"The {en} is empty; enter it like {example!r}.",
                   f"{_cap(de)} ist leer; bitte wie {example!r} angeben.")
    if len(text) > max_len:
        raise _bad(path, f"The {en} has {len(text)} characters; at most {max_len} are allowed.",
                   f"{_cap(de)} hat {len(text)} Zeichen; höchstens {max_len} sind erlaubt.")
    if _CONTROL.search(text):
        raise _bad(path, f"The {en} contains control characters.",
                   f"{_cap(de)} enthält Steuerzeichen.")
    return text


def _check_job_id(path: Path_, value: str) -> str:
    text = _token(value)
    if not _JOB_ID.fullmatch(text):
        raise _bad(
            path,
            f"Job number {text!r} is not usable: 1 to 64 letters, digits, '.', '_' or '-', "
            f"starting and ending with a letter or digit, e.g. 'A-2025-000123'.",
            f"Auftragsnummer {text!r} ist nicht verwendbar: 1 bis 64 Buchstaben, Ziffern, '.', "
            f"'_' oder '-', Anfang und Ende Buchstabe oder Ziffer, z. B. 'A-2025-000123'.",
        )
    return text


def _check_smgw_id(path: Path_, value: str) -> SmgwId:
    text = _token(value)
    parsed = SmgwId.parse(text, field=".".join(map(str, path)))  # explains what is wrong
    if not _SMGW_ID_TEXT.fullmatch(text):
        raise _bad(path, f"Write the SMGW ID {text!r} as text, e.g. {parsed.text!r}.",
                   f"Bitte die SMGW-ID {text!r} als Text angeben, z. B. {parsed.text!r}.")
    return parsed


def _check_server_id(path: Path_, value: str) -> ServerId:
    text = _token(value)
    name = ".".join(map(str, path))
    compact = text.replace(" ", "")
    if compact[:1] in ("E", "e") and len(compact) == 14:
        raise _bad(path, f"{text!r} is an SMGW ID (it starts with 'E'), not a meter's server "
                         f"ID; a meter's server ID starts with its medium digit, e.g. "
                         f"'1EMH0012345678'.",
                   f"{text!r} ist eine SMGW-ID (beginnt mit 'E'), keine Server-ID eines "
                   f"Zählers; diese beginnt mit der Sparte, z. B. '1EMH0012345678'.")
    parsed = ServerId.parse(text, field=name)
    if not _SERVER_ID_TEXT.fullmatch(text) or parsed.kind is ServerIdKind.OTHER:
        raise _bad(path, f"Server ID {text!r} is not in a form a work order may use: DIN text "
                         f"like '1EMH0012345678' or its 10-byte hex form "
                         f"'0a01454d480000bc614e' (M-Bus: 9 bytes).",
                   f"Server-ID {text!r} hat keine für Aufträge zulässige Form: DIN-Text wie "
                   f"'1EMH0012345678' oder die 10-Byte-Hex-Form '0a01454d480000bc614e' "
                   f"(M-Bus: 9 Bytes).")
    if parsed.medium == 0x0E:
        raise _bad(path, f"Server ID {text!r} has the medium 'E' of a gateway; expected a "
                         f"meter, e.g. '1EMH0012345678'.",
                   f"Server-ID {text!r} hat die Sparte 'E' eines Gateways; erwartet wird ein "
                   f"Zähler, z. B. '1EMH0012345678'.")
    return parsed


def _check_metering_point(path: Path_, value: str) -> str:
    text = _token(value)
    compact = text.replace(" ", "").upper()
    if _METERING_POINT.fullmatch(text) and compact.isascii():
        return compact
    if not compact.startswith("DE"):
        why_en, why_de = "does not start with 'DE'", "beginnt nicht mit 'DE'"
    elif len(compact) != 33:
        why_en = f"has {len(compact)} characters instead of 33"
        why_de = f"hat {len(compact)} statt 33 Zeichen"
    else:
        why_en, why_de = "contains characters other than A-Z and 0-9", \
            "enthält andere Zeichen als A-Z und 0-9"
    raise _bad(path, f"Metering point ID {text!r} {why_en}; expected 'DE' and 31 letters or "
                     f"digits, e.g. 'DE0001234512345000000000000000001'.",
               f"Zählpunktbezeichnung {text!r} {why_de}; erwartet werden 'DE' und 31 "
               f"Buchstaben oder Ziffern, z. B. 'DE0001234512345000000000000000001'.")


def _check_postal_code(path: Path_, value: str) -> str:
    text = _token(value)
    if not _POSTAL_CODE.fullmatch(text):
        raise _bad(path, f"Postal code {text!r} must be 5 digits, e.g. '12345'.",
                   f"Postleitzahl {text!r} muss aus 5 Ziffern bestehen, z. B. '12345'.")
    return text


def _check_key_ref(path: Path_, value: str) -> str:
    text = _token(value)
    if "-----BEGIN" in value or _KEY_LIKE.fullmatch(text):
        raise _bad(path, "The key reference looks like key material itself. A work order "
                         "names the key only, e.g. 'keys/1EMH0012345678.key' or a key id.",
                   "Der Schlüsselverweis sieht wie der Schlüssel selbst aus. Ein Auftrag nennt "
                   "den Schlüssel nur, z. B. 'keys/1EMH0012345678.key' oder eine Schlüssel-ID.")
    if not _KEY_REF.fullmatch(text):
        raise _bad(path, f"Key reference {text!r} must be 1 to 80 characters of letters, "
                         f"digits and . _ : / -, e.g. 'keys/1EMH0012345678.key'.",
                   f"Schlüsselverweis {text!r} muss aus 1 bis 80 Buchstaben, Ziffern und "
                   f". _ : / - bestehen, z. B. 'keys/1EMH0012345678.key'.")
    return text


def _check_enum(path: Path_, value: str, kind: type[StrEnum]) -> Any:
    text = _token(value)
    try:
        return kind(text)
    except ValueError:
        pass
    allowed = [m.value for m in kind]  # type: ignore[attr-defined]
    en, de, _ = _label(path)
    near = difflib.get_close_matches(text.lower(), allowed, n=1)
    hint_en = f" Did you mean {near[0]!r}?" if near else ""
    hint_de = f" Meinten Sie {near[0]!r}?" if near else ""
    raise _bad(path, f"{text!r} is not a known {en}; allowed: {', '.join(allowed)}.{hint_en}",
               f"{text!r} ist kein gültiger Wert für {de}; erlaubt: {', '.join(allowed)}."
               f"{hint_de}")


def _check_date(path: Path_, value: str) -> dt.date:
    text = _token(value)
    m = _DATE.fullmatch(text)
    try:
        if m is None:
            raise ValueError
        return dt.date.fromisoformat(m.group(1))
    except ValueError:
        raise _bad(path, f"Planned date {text!r} is not a date in the form YYYY-MM-DD, "
                         f"e.g. '2025-03-01'.",
                   f"Geplantes Datum {text!r} ist kein Datum der Form JJJJ-MM-TT, "
                   f"z. B. '2025-03-01'.") from None


def _check_notes(path: Path_, value: str) -> str:
    if len(value) > 4000:
        raise _bad(path, f"The notes have {len(value)} characters; at most 4000 are allowed.",
                   f"Die Hinweise haben {len(value)} Zeichen; höchstens 4000 sind erlaubt.")
    return value.strip()


#: Checker per field path (indices removed); used for JSON, typed input and to explain
#: XML Schema facet errors in the technician's words.
_CHECKS: dict[str, Callable[[Path_, str], Any]] = {
    "job_id": _check_job_id,
    "site.street": lambda p, v: _check_line(p, v, 120),
    "site.postal_code": _check_postal_code,
    "site.city": lambda p, v: _check_line(p, v, 120),
    "site.location": lambda p, v: _check_line(p, v, 120),
    "metering_point_id": _check_metering_point,
    "customer_name": lambda p, v: _check_line(p, v, 120),
    "smgw_id": _check_smgw_id,
    "gwa_tenant": lambda p, v: _check_line(p, v, 64),
    "meters.server_id": _check_server_id,
    "meters.role": lambda p, v: _check_enum(p, v, MeterRole),
    "meters.key_ref": _check_key_ref,
    "flows": lambda p, v: _check_enum(p, v, PlannedFlow),
    "planned_date": _check_date,
    "notes": _check_notes,
}


# -- the structure (what the XSD says, for JSON) --------------------------------------------


@dataclass(frozen=True)
class _Field:
    kind: str  # "str", "int", "object", "list"
    required: bool = True
    children: Mapping[str, _Field] = field(default_factory=dict)
    item: _Field | None = None
    min_items: int = 0
    max_items: int = 0


_STR, _OPT = _Field("str"), _Field("str", required=False)
_STRUCTURE = _Field("object", children={
    "version": _Field("int"),
    "job_id": _STR,
    "site": _Field("object", children={
        "street": _STR, "postal_code": _STR, "city": _STR, "location": _OPT,
    }),
    "metering_point_id": _STR,
    "customer_name": _OPT,
    "smgw_id": _STR,
    "gwa_tenant": _STR,
    "meters": _Field("list", max_items=16, item=_Field("object", children={
        "server_id": _STR, "role": _STR, "key_ref": _OPT,
    })),
    "flows": _Field("list", min_items=1, max_items=6, item=_STR),
    "planned_date": _OPT,
    "notes": _OPT,
})

_TYPE_NAMES = {"str": ("text", "Text"), "int": ("a whole number", "eine ganze Zahl"),
               "object": ("an object {...}", "ein Objekt {...}"),
               "list": ("a list [...]", "eine Liste [...]")}


def _json_type(value: Any) -> tuple[str, str]:
    if isinstance(value, bool):
        return ("true/false", "true/false")
    if isinstance(value, int):
        return ("a number", "eine Zahl")
    if isinstance(value, float):
        return ("a decimal number", "eine Dezimalzahl")
    if isinstance(value, str):
        return ("text", "Text")
    if isinstance(value, list):
        return ("a list", "eine Liste")
    if isinstance(value, dict):
        return ("an object", "ein Objekt")
    return ("null", "null")


def _matches(spec: _Field, value: Any) -> bool:
    if spec.kind == "str":
        return isinstance(value, str)
    if spec.kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.kind == "object":
        return isinstance(value, dict)
    return isinstance(value, list)


@dataclass
class _Located:
    """Where the values of a document stand (line per path) and how the format names fields."""

    source: str
    fmt: str  # "json" or "xml"
    lines: dict[Path_, int]
    problems: list[Problem] = field(default_factory=list)

    def name(self, path: Path_) -> str:
        if self.fmt == "xml":
            parts: list[str] = []
            for i, p in enumerate(path):
                if isinstance(p, int):
                    parent = path[i - 1]
                    parts.append(f"{_XML_ITEMS.get(str(parent), 'item')}[{p + 1}]")
                else:
                    parts.append(_XML_NAMES.get(p, p))
            return "/".join(parts) or "workOrder"
        out = ""
        for p in path:
            out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
        return out or "(document)"

    def line(self, path: Path_) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def add(self, path: Path_, message: Text, *, at: Path_ | None = None) -> None:
        """A problem with the value at ``path``, located at ``at`` (default: ``path``)."""
        line = self.line(path if at is None else at)
        self.problems.append(Problem(line, self.name(path), message))

    def fail(self) -> JobFileError:
        return JobFileError(self.source, self.problems)


def _check_structure(doc: Any, spec: _Field, path: Path_, where: _Located) -> bool:
    """Types, required and unknown keys, list sizes; records problems, True when all fit."""
    en, de, example = _label(path) if path else ("work order", "Arbeitsauftrag", "")
    if not _matches(spec, doc):
        got_en, got_de = _json_type(doc)
        want_en, want_de = _TYPE_NAMES[spec.kind]
        where.add(path, Text(f"The {en} must be {want_en}, not {got_en}"
                             f"{f' (e.g. {example})' if example else ''}.",
                             f"{_cap(de)} muss {want_de} sein, nicht {got_de}"
                             f"{f' (z. B. {example})' if example else ''}."))
        return False
    ok = True
    if spec.kind == "object":
        for key in doc:
            if key not in spec.children:
                near = difflib.get_close_matches(key, list(spec.children), n=1)
                hint_en = f" Did you mean {near[0]!r}?" if near else ""
                hint_de = f" Meinten Sie {near[0]!r}?" if near else ""
                where.add((*path, key), Text(
                    f"Unknown field {key!r}; allowed here: {', '.join(spec.children)}.{hint_en}",
                    f"Unbekanntes Feld {key!r}; erlaubt sind hier: {', '.join(spec.children)}."
                    f"{hint_de}"))
                ok = False
        for key, child in spec.children.items():
            if key not in doc or doc[key] is None:
                if child.required:
                    c_en, c_de, c_ex = _label((*path, key))
                    ok = False
                    where.add((*path, key), Text(
                        f"The required field {where.name((*path, key))!r} ({c_en}) is missing "
                        f"here; e.g. {c_ex!r}.",
                        f"Das Pflichtfeld {where.name((*path, key))!r} ({c_de}) fehlt hier; "
                        f"z. B. {c_ex!r}."), at=path)
                continue
            ok = _check_structure(doc[key], child, (*path, key), where) and ok
    elif spec.kind == "list":
        if len(doc) < spec.min_items or (spec.max_items and len(doc) > spec.max_items):
            where.add(path, Text(
                f"The {en} list has {len(doc)} entries; allowed are {spec.min_items} to "
                f"{spec.max_items}.",
                f"Die Liste {de} hat {len(doc)} Einträge; erlaubt sind {spec.min_items} bis "
                f"{spec.max_items}."))
            ok = False
        assert spec.item is not None
        for index, item in enumerate(doc):
            ok = _check_structure(item, spec.item, (*path, index), where) and ok
    return ok


def _order_from_document(doc: dict[str, Any], where: _Located) -> WorkOrder:
    """The work order from a JSON-shaped document; all problems are collected, then raised."""
    if not _check_structure(doc, _STRUCTURE, (), where):
        raise where.fail()
    if doc["version"] != FORMAT_VERSION:
        where.add(("version",), Text(
            f"Format version {doc['version']} is not supported; this program reads version "
            f"{FORMAT_VERSION}.",
            f"Formatversion {doc['version']} wird nicht unterstützt; dieses Programm liest "
            f"Version {FORMAT_VERSION}."))

    def check(path: Path_, value: Any) -> Any:
        key = ".".join(p for p in path if isinstance(p, str))
        try:
            return _CHECKS[key](path, value)
        except InvalidValue as exc:
            where.add(path, exc.message)
            return None

    job_id = check(("job_id",), doc["job_id"])
    site_doc = doc["site"]
    site_values = {k: check(("site", k), site_doc[k]) for k in site_doc}
    metering_point = check(("metering_point_id",), doc["metering_point_id"])
    customer = check(("customer_name",), doc["customer_name"]) if "customer_name" in doc else None
    smgw = check(("smgw_id",), doc["smgw_id"])
    tenant = check(("gwa_tenant",), doc["gwa_tenant"])
    meters: list[ExpectedMeter] = []
    seen: dict[bytes, int] = {}
    for i, m in enumerate(doc["meters"]):
        sid = check(("meters", i, "server_id"), m["server_id"])
        role = check(("meters", i, "role"), m["role"])
        key_ref = check(("meters", i, "key_ref"), m["key_ref"]) if "key_ref" in m else None
        if sid is None or role is None:
            continue
        if sid.raw in seen:
            where.add(("meters", i, "server_id"), Text(
                f"Meter {sid.text or sid.hex} is listed twice (also as meter "
                f"{seen[sid.raw] + 1}).",
                f"Zähler {sid.text or sid.hex} ist doppelt aufgeführt (auch als Zähler "
                f"{seen[sid.raw] + 1})."))
            continue
        seen[sid.raw] = i
        meters.append(ExpectedMeter(sid, role, key_ref))
    flows: list[PlannedFlow] = []
    for i, f in enumerate(doc["flows"]):
        flow = check(("flows", i), f)
        if flow is None:
            continue
        if flow in flows:
            where.add(("flows", i), Text(f"Flow {flow.value!r} is planned twice.",
                                         f"Ablauf {flow.value!r} ist doppelt geplant."))
            continue
        flows.append(flow)
    planned = check(("planned_date",), doc["planned_date"]) if "planned_date" in doc else None
    notes = check(("notes",), doc["notes"]) if "notes" in doc else None
    if PlannedFlow.METER_CHANGE in flows and len(meters) == len(doc["meters"]):
        olds = sum(m.role is MeterRole.OLD for m in meters)
        news = sum(m.role is MeterRole.NEW for m in meters)
        if olds != 1 or news < 1:
            where.add(("flows", flows.index(PlannedFlow.METER_CHANGE)), Text(
                f"A meter change needs exactly one meter with role 'old' and at least one with "
                f"role 'new'; the work order has {olds} old and {news} new.",
                f"Ein Zählerwechsel braucht genau einen Zähler mit Rolle 'old' und mindestens "
                f"einen mit Rolle 'new'; der Auftrag hat {olds} alte und {news} neue."))
    if where.problems:
        raise where.fail()
    return WorkOrder(
        job_id=job_id,
        site=Site(site_values["street"], site_values["postal_code"], site_values["city"],
                  site_values.get("location")),
        metering_point_id=metering_point,
        smgw_id=smgw,
        gwa_tenant=tenant,
        meters=tuple(meters),
        flows=tuple(flows),
        customer_name=customer,
        planned_date=planned,
        notes=notes or None,
    )


# -- JSON --------------------------------------------------------------------------------------


def _json_positions(text: str) -> tuple[dict[Path_, int], list[Path_]]:
    """Line of every object key and list item by path, and the paths of duplicate keys.

    ``text`` must already have been accepted by :func:`json.loads`; this walk only locates.
    """
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    def line_at(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    lines: dict[Path_, int] = {}
    duplicates: list[Path_] = []
    stack: list[_Frame] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n:\ufeff":
            i += 1
            continue
        frame = stack[-1] if stack else None
        if ch == "," and frame is not None:
            if frame.is_object:
                frame.expect_key = True
            else:
                frame.index += 1
            i += 1
            continue
        if ch in "}]":
            stack.pop()
            i += 1
            continue
        if frame is not None and frame.is_object and frame.expect_key:
            key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            path = (*frame.path, key)
            if key in frame.keys:
                duplicates.append(path)
            else:
                lines[path] = line_at(i)
            frame.keys.add(key)
            frame.expect_key, frame.key = False, key
            continue
        if frame is None:
            path = ()
            lines[path] = line_at(i)
        elif frame.is_object:
            path = (*frame.path, frame.key)
        else:
            path = (*frame.path, frame.index)
            lines[path] = line_at(i)
        if ch in "{[":
            stack.append(_Frame(ch == "{", path))
            i += 1
        elif ch == '"':
            _, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        else:
            while i < n and text[i] not in ",]} \t\r\n":
                i += 1
    return lines, duplicates


@dataclass
class _Frame:
    """An open object or list while locating JSON values."""

    is_object: bool
    path: Path_
    expect_key: bool = True
    key: str = ""
    index: int = 0
    keys: set[str] = field(default_factory=set)


def parse_work_order_json(data: bytes, source: str = "work order") -> WorkOrder:
    """A work order from JSON; :class:`JobFileError` names line and field of each problem."""
    where = _Located(source, "json", {})
    if len(data) > MAX_FILE_BYTES:
        where.add((), Text(f"The file has {len(data)} bytes; at most {MAX_FILE_BYTES} are read.",
                           f"Die Datei hat {len(data)} Bytes; höchstens {MAX_FILE_BYTES} werden "
                           f"gelesen."))
        raise where.fail()
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where.lines[()] = bytes(data)[: exc.start].count(b"\n") + 1
        where.add((), Text(f"The file is not UTF-8 text (byte {exc.start}).",
                           f"Die Datei ist kein UTF-8-Text (Byte {exc.start})."))
        raise where.fail() from None
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        msg = getattr(exc, "msg", str(exc))
        col = getattr(exc, "colno", None)
        where.lines[()] = line or 1
        where.add((), Text(f"The file is not valid JSON ({msg}, column {col}).",
                           f"Die Datei ist kein gültiges JSON ({msg}, Spalte {col})."))
        raise where.fail() from None
    lines, duplicates = _json_positions(text)
    where.lines.update(lines)
    for path in duplicates:
        where.lines.setdefault(path, lines.get(path, 0))
        where.add(path, Text(f"The field {where.name(path)!r} appears twice in the same object.",
                             f"Das Feld {where.name(path)!r} steht zweimal im selben Objekt."))
    if where.problems:
        raise where.fail()
    return _order_from_document(doc, where)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# -- XML ---------------------------------------------------------------------------------------

_IGNORED_SCHEMA_ERRORS = {"SCHEMAV_CVC_IDC"}
_MISSING_CHILD = re.compile(r"Missing child element\(s\)\. Expected is \( ?([^)]+?) ?\)")


def parse_work_order_xml(data: bytes, source: str = "work order") -> WorkOrder:
    """A work order from XML, validated against ``work-order.xsd``; errors name line and field."""
    where = _Located(source, "xml", {})
    try:
        root = parse_xml(data, max_bytes=MAX_FILE_BYTES, field="work_order")
    except InvalidValue as exc:
        match = re.search(r"line (\d+)", exc.message.en)
        where.lines[()] = int(match.group(1)) if match else 1
        where.add((), exc.message)
        raise where.fail() from None
    schema = load_schema(SCHEMA)
    if not schema.validate(root):
        _explain_schema_errors(root, schema.error_log, where)
        raise where.fail()
    doc, lines = _xml_document(root)
    where.lines.update(lines)
    return _order_from_document(doc, where)


def _element_path(element: etree._Element, root: etree._Element) -> Path_:
    """The JSON-shaped path of an element of the work order."""
    parts: list[str | int] = []
    node: etree._Element | None = element
    while node is not None and node is not root:
        name = _JSON_NAMES.get(etree.QName(node).localname, etree.QName(node).localname)
        parent = node.getparent()
        if parent is not None and etree.QName(parent).localname in _XML_ITEMS:
            same = [c for c in parent if isinstance(c.tag, str)]
            parts.append(same.index(node))
        else:
            parts.append(name)
        node = parent
    return tuple(reversed(parts))


def _explain_schema_errors(
    root: etree._Element, log: etree._ListErrorLog, where: _Located
) -> None:
    seen: set[tuple[int, str]] = set()
    for err in log:
        if err.type_name in _IGNORED_SCHEMA_ERRORS and "Duplicate" not in err.message:
            continue
        found = root.getroottree().xpath(err.path) if err.path else []
        element = found[0] if found and isinstance(found[0], etree._Element) else root
        path = _element_path(element, root)
        where.lines[path] = err.line or element.sourceline or 0
        key = (err.line, where.name(path))
        if key in seen:
            continue
        seen.add(key)
        message = _schema_message(err.message)
        missing = _MISSING_CHILD.search(err.message)
        if missing is not None:
            local = missing.group(1).split(",")[0].strip().split("}")[-1]
            child = (*path, _JSON_NAMES.get(local, local))
            c_en, c_de, c_ex = _label(child)
            where.add(child, Text(
                f"The required element <{local}> ({c_en}) is missing here; e.g. {c_ex!r}.",
                f"Das Pflichtelement <{local}> ({c_de}) fehlt hier; z. B. {c_ex!r}."), at=path)
            continue
        if element is root and root.tag != _q("workOrder"):
            where.add(path, Text(
                f"The file is not a work order: the root element is <{etree.QName(root).localname}>"
                f" instead of <workOrder xmlns=\"{NAMESPACE}\">.",
                f"Die Datei ist kein Arbeitsauftrag: das Wurzelelement ist "
                f"<{etree.QName(root).localname}> statt <workOrder xmlns=\"{NAMESPACE}\">."))
            continue
        if "Duplicate key-sequence" in err.message:
            message = Text(f"Flow {_token(element.text or '')!r} is planned twice.",
                           f"Ablauf {_token(element.text or '')!r} ist doppelt geplant.")
        check = _CHECKS.get(".".join(p for p in path if isinstance(p, str)))
        if check is not None and element.text is not None and (
                "facet" in err.message or "atomic type" in err.message):
            try:
                check(path, element.text)
            except InvalidValue as exc:
                message = exc.message
        where.add(path, message)


def _schema_message(raw: str) -> Text:
    text = raw.replace(f"{{{NAMESPACE}}}", "")
    return Text(f"Not allowed by the work order schema: {text}",
                f"Vom Schema für Arbeitsaufträge nicht zugelassen: {text}")


def _xml_document(root: etree._Element) -> tuple[dict[str, Any], dict[Path_, int]]:
    """The schema-valid XML as the JSON-shaped document, with the line of every value."""
    lines: dict[Path_, int] = {(): root.sourceline or 1}
    doc: dict[str, Any] = {"version": int(root.get("version", "0"))}
    lines[("version",)] = root.sourceline or 1

    def convert(element: etree._Element, path: Path_) -> Any:
        lines[path] = element.sourceline or 0
        local = etree.QName(element).localname
        children = [c for c in element if isinstance(c.tag, str)]
        if local in _XML_ITEMS:
            return [convert(c, (*path, i)) for i, c in enumerate(children)]
        if local in ("site", "meter"):
            return {
                _JSON_NAMES.get(etree.QName(c).localname, etree.QName(c).localname):
                    convert(c, (*path, _JSON_NAMES.get(etree.QName(c).localname,
                                                       etree.QName(c).localname)))
                for c in children
            }
        return element.text or ""

    for child in root:
        if not isinstance(child.tag, str):
            continue
        local = etree.QName(child).localname
        key = _JSON_NAMES.get(local, local)
        doc[key] = convert(child, (key,))
    return doc, lines


# -- entry points ------------------------------------------------------------------------------


def parse_work_order(data: bytes, source: str = "work order") -> WorkOrder:
    """XML or JSON, told apart by the first character that is not white space."""
    head = bytes(data[:4096]).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return parse_work_order_xml(data, source)
    return parse_work_order_json(data, source)


def read_work_order(path: str | Path) -> WorkOrder:
    """Read and check a work order file (``.xml`` or ``.json``)."""
    return _read_file(Path(path))[0]


def _read_file(path: Path) -> tuple[WorkOrder, bytes, str]:
    """The work order in ``path``, the file's bytes and its format (``xml`` or ``json``)."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SmgwctError(
            Text(f"The work order {path} cannot be read: {exc.strerror or exc}",
                 f"Der Auftrag {path} kann nicht gelesen werden: {exc.strerror or exc}"),
            field="file",
        ) from exc
    suffix = path.suffix.lower()
    if suffix not in (".xml", ".json"):
        head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
        suffix = ".xml" if head.startswith(b"<") else ".json"
    if suffix == ".xml":
        return parse_work_order_xml(data, path.name), data, "xml"
    return parse_work_order_json(data, path.name), data, "json"


# -- what a job collects on site ----------------------------------------------------------------


@dataclass(frozen=True)
class JobRun:
    """A flow run (id in the engine's JobStore) that belongs to the job."""

    run_id: str
    flow: str
    attached: dt.datetime


@dataclass(frozen=True)
class Reading:
    """A register value (Zählerstand) of a meter, e.g. the final reading of the old meter."""

    server_id: str
    obis: str
    value: str
    unit: str | None = None
    source: str = "optical"
    role: str | None = None
    run_id: str | None = None
    time: dt.datetime | None = None
    seq: int = 0

    @classmethod
    def create(cls, server_id: str, obis: str, value: str | int | Decimal, unit: str | None = None,
               *, source: str = "optical", role: str | None = None,
               run_id: str | None = None) -> Reading:
        """A checked reading: server ID, OBIS code and a finite decimal value."""
        sid = ServerId.parse(server_id, field="server_id")
        code = Obis.parse(obis, field="obis")
        try:
            number = Decimal(str(value).strip())
            if not number.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            raise InvalidValue(Text(f"Reading {value!r} is not a number, e.g. '12345.678'.",
                                    f"Zählerstand {value!r} ist keine Zahl, z. B. '12345,678'."),
                               field="value") from None
        if source not in ("optical", "han", "gwa", "manual"):
            raise InvalidValue(Text(f"Unknown reading source {source!r}.",
                                    f"Unbekannte Quelle {source!r}."), field="source")
        if role is not None:
            role = _check_enum(("meters", "role"), role, MeterRole).value
        return cls(sid.text or sid.hex, code.notation, str(number), unit, source, role, run_id)


@dataclass(frozen=True)
class Seal:
    """A seal (Plombe) fitted, removed or checked."""

    number: str
    action: str = "fitted"
    location: str | None = None
    server_id: str | None = None
    time: dt.datetime | None = None
    seq: int = 0

    @classmethod
    def create(cls, number: str, action: str = "fitted", *, location: str | None = None,
               server_id: str | None = None) -> Seal:
        text = _token(number or "")
        if not text or len(text) > 40 or _CONTROL.search(text):
            raise InvalidValue(Text("A seal number is 1 to 40 characters, e.g. 'DE-123456'.",
                                    "Eine Plombennummer hat 1 bis 40 Zeichen, z. B. "
                                    "'DE-123456'."), field="seal")
        if action not in ("fitted", "removed", "checked"):
            raise InvalidValue(Text(f"Seal action {action!r}: use fitted, removed or checked.",
                                    f"Plombenvorgang {action!r}: fitted, removed oder checked."),
                               field="action")
        sid = None
        if server_id:
            parsed = ServerId.parse(server_id, field="server_id")
            sid = parsed.text or parsed.hex
        return cls(text, action, _token(location) if location else None, sid)


@dataclass(frozen=True)
class Note:
    text: str
    author: str | None = None
    time: dt.datetime | None = None
    seq: int = 0


@dataclass(frozen=True)
class Photo:
    """A photo copied into the job's folder; ``file`` is relative to that folder."""

    file: str
    sha256: str
    size: int
    original_name: str
    caption: str | None = None
    time: dt.datetime | None = None
    seq: int = 0


@dataclass(frozen=True)
class DeviceRecord:
    """What was seen of a device: gateway or meter identity, firmware, key fingerprint."""

    kind: str  # "gateway" or "meter"
    identifier: str
    role: str | None = None
    vendor: str | None = None
    model: str | None = None
    firmware_version: str | None = None
    firmware_hash: str | None = None
    public_key_sha256: str | None = None
    source: str = "han"
    run_id: str | None = None
    time: dt.datetime | None = None
    seq: int = 0


@dataclass(frozen=True)
class CertificateRecord:
    """A certificate seen during the job (HAN, TLS, SIG ...), by its SHA-256 fingerprint."""

    owner: str
    purpose: str
    sha256: str
    subject: str | None = None
    issuer: str | None = None
    not_after: str | None = None
    state: str | None = None
    run_id: str | None = None
    time: dt.datetime | None = None
    seq: int = 0

    @classmethod
    def from_certificate(cls, cert: x509.Certificate | bytes, owner: str, purpose: str,
                         *, state: str | None = None, run_id: str | None = None
                         ) -> CertificateRecord:
        info = describe_certificate(cert)
        return cls(owner, purpose, info.sha256, info.subject, info.issuer,
                   info.not_after.isoformat(), state, run_id)


_ENTRY_TYPES: dict[str, type] = {
    "reading": Reading, "seal": Seal, "note": Note, "photo": Photo,
    "device": DeviceRecord, "certificate": CertificateRecord,
}


@dataclass(frozen=True)
class Job:
    """A stored job: the work order and everything collected for it."""

    order: WorkOrder
    state: JobState
    created: dt.datetime
    updated: dt.datetime
    folder: Path
    source: str
    source_name: str | None = None
    source_sha256: str | None = None
    runs: tuple[JobRun, ...] = ()
    readings: tuple[Reading, ...] = ()
    seals: tuple[Seal, ...] = ()
    notes: tuple[Note, ...] = ()
    photos: tuple[Photo, ...] = ()
    devices: tuple[DeviceRecord, ...] = ()
    certificates: tuple[CertificateRecord, ...] = ()

    @property
    def job_id(self) -> str:
        return self.order.job_id


@dataclass(frozen=True)
class JobSummary:
    """One line of the job list."""

    job_id: str
    smgw_id: str
    site: str
    state: JobState
    runs: int
    updated: dt.datetime


# -- the store ---------------------------------------------------------------------------------

WORK_ORDER_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        """
        CREATE TABLE work_orders (
            job_id TEXT PRIMARY KEY COLLATE NOCASE,
            folder TEXT NOT NULL,
            work_order TEXT NOT NULL,
            source TEXT NOT NULL,
            source_name TEXT,
            source_sha256 TEXT,
            state TEXT NOT NULL,
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE TABLE job_runs (
            job_id TEXT NOT NULL REFERENCES work_orders(job_id) ON DELETE CASCADE,
            run_id TEXT NOT NULL,
            flow TEXT NOT NULL,
            attached TEXT NOT NULL,
            PRIMARY KEY (job_id, run_id)
        );
        CREATE TABLE job_entries (
            job_id TEXT NOT NULL REFERENCES work_orders(job_id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            time TEXT NOT NULL,
            withdrawn TEXT,
            PRIMARY KEY (job_id, seq)
        );
        """,
    ),
)


def _no_such_job(job_id: str) -> SmgwctError:
    return SmgwctError(
        Text(f"There is no job {job_id!r} in the job list.",
             f"In der Auftragsliste gibt es keinen Auftrag {job_id!r}."),
        field="job_id",
        hint=Text("Import the work order first or pick a job from the list.",
                  "Importieren Sie zuerst den Auftrag oder wählen Sie einen aus der Liste."),
    )


class WorkOrderStore:
    """The offline job list (SQLite, WAL) plus a folder per job for photos.

    Every change is also written to ``audit`` (if given) with ``job_id`` in the payload, so
    :meth:`audit_trail` can list the job's entries next to those of its flow runs.
    """

    def __init__(self, path: str | Path, files: str | Path | None = None,
                 audit: AuditLog | None = None, *, actor: str = "technician") -> None:
        self.db = Database(path, "work_orders", WORK_ORDER_MIGRATIONS)
        self.path = self.db.path
        self.files = Path(files) if files is not None else self.path.parent / FILES_DIR
        self.audit = audit
        self.actor = actor

    @classmethod
    def open_default(cls, audit: AuditLog | None = None) -> WorkOrderStore:
        """The store in the data folder (``SMGWCT_DATA_DIR`` or the platform default)."""
        base = data_dir(create=True)
        return cls(base / DB_FILE, base / FILES_DIR, audit)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> WorkOrderStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ---------------------------------------------------------------------------------

    def add(self, order: WorkOrder, *, source: str = "typed", source_name: str | None = None,
            source_sha256: str | None = None) -> Job:
        """Store a new job; a job with the same number (case-insensitive) is refused."""
        folder = f"job-{order.job_id}"
        now = utc_text()
        with self.db.write() as conn:
            exists = conn.execute("SELECT job_id FROM work_orders WHERE job_id = ?",
                                  (order.job_id,)).fetchone()
            if exists:
                raise SmgwctError(
                    Text(f"The job {exists[0]!r} is already in the job list.",
                         f"Der Auftrag {exists[0]!r} steht bereits in der Auftragsliste."),
                    field="job_id",
                    hint=Text("Open the existing job, or give the new one another number.",
                              "Öffnen Sie den vorhandenen Auftrag oder vergeben Sie eine andere "
                              "Nummer."),
                )
            conn.execute(
                "INSERT INTO work_orders(job_id, folder, work_order, source, source_name,"
                " source_sha256, state, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (order.job_id, folder, dumps(order.to_dict()), source, source_name,
                 source_sha256, JobState.OPEN.value, now, now),
            )
        self._audit(order.job_id, "job.imported" if source != "typed" else "job.created", {
            "source": source, "source_name": source_name, "source_sha256": source_sha256,
            "work_order": order.to_dict(),
        })
        return self.get(order.job_id)

    def import_file(self, path: str | Path) -> Job:
        """Read, check and store a work order file (its SHA-256 is kept with the job)."""
        path = Path(path)
        order, data, fmt = _read_file(path)
        return self.add(order, source=fmt, source_name=path.name,
                        source_sha256=hashlib.sha256(data).hexdigest())

    def _row(self, job_id: str) -> Any:
        rows = self.db.read("SELECT * FROM work_orders WHERE job_id = ?", (job_id,))
        if not rows:
            raise _no_such_job(job_id)
        return rows[0]

    def get(self, job_id: str) -> Job:
        """The job with everything collected (withdrawn entries left out)."""
        row = self._row(job_id)
        real_id = row["job_id"]
        order = _order_from_document(json.loads(row["work_order"]),
                                     _Located(f"stored job {real_id}", "json", {}))
        runs = tuple(
            JobRun(r["run_id"], r["flow"], parse_utc(r["attached"]))
            for r in self.db.read("SELECT * FROM job_runs WHERE job_id = ? ORDER BY attached",
                                  (real_id,))
        )
        entries: dict[str, list[Any]] = {k: [] for k in _ENTRY_TYPES}
        for r in self.db.read("SELECT * FROM job_entries WHERE job_id = ? AND withdrawn IS NULL"
                              " ORDER BY seq", (real_id,)):
            kind = r["kind"]
            if kind not in _ENTRY_TYPES:
                continue
            data = json.loads(r["data"])
            entries[kind].append(_ENTRY_TYPES[kind](**data, time=parse_utc(r["time"]),
                                                    seq=int(r["seq"])))
        return Job(
            order=order, state=JobState(row["state"]), created=parse_utc(row["created"]),
            updated=parse_utc(row["updated"]), folder=self.files / row["folder"],
            source=row["source"], source_name=row["source_name"],
            source_sha256=row["source_sha256"], runs=runs,
            readings=tuple(entries["reading"]), seals=tuple(entries["seal"]),
            notes=tuple(entries["note"]), photos=tuple(entries["photo"]),
            devices=tuple(entries["device"]), certificates=tuple(entries["certificate"]),
        )

    def list(self, *, state: JobState | None = None) -> list[JobSummary]:
        """The job list, most recently changed first."""
        sql = ("SELECT w.*, (SELECT COUNT(*) FROM job_runs r WHERE r.job_id = w.job_id) AS runs"
               " FROM work_orders w")
        params: tuple[Any, ...] = ()
        if state is not None:
            sql += " WHERE state = ?"
            params = (JobState(state).value,)
        out = []
        for row in self.db.read(sql + " ORDER BY updated DESC", params):
            doc = json.loads(row["work_order"])
            site = doc.get("site", {})
            out.append(JobSummary(
                row["job_id"], doc.get("smgw_id", ""),
                f"{site.get('street', '')}, {site.get('postal_code', '')} {site.get('city', '')}",
                JobState(row["state"]), int(row["runs"]), parse_utc(row["updated"])))
        return out

    def set_state(self, job_id: str, state: JobState) -> None:
        real = self._row(job_id)["job_id"]
        with self.db.write() as conn:
            conn.execute("UPDATE work_orders SET state = ?, updated = ? WHERE job_id = ?",
                         (JobState(state).value, utc_text(), real))
        self._audit(real, "job.state", {"state": JobState(state).value})

    # -- what is collected ------------------------------------------------------------------

    def attach_run(self, job_id: str, run_id: str, flow: str) -> JobRun:
        """Record that the engine run ``run_id`` (flow ``flow``) belongs to this job."""
        real = self._row(job_id)["job_id"]
        now = utc_text()
        with self.db.write() as conn:
            conn.execute("INSERT OR IGNORE INTO job_runs(job_id, run_id, flow, attached)"
                         " VALUES (?, ?, ?, ?)", (real, run_id, flow, now))
            self._touch(conn, real)
        self._audit(real, "job.run_attached", {"run_id": run_id, "flow": flow})
        return JobRun(run_id, flow, parse_utc(now))

    def add_reading(self, job_id: str, reading: Reading) -> Reading:
        return self._add_entry(job_id, "reading", reading)

    def add_seal(self, job_id: str, seal: Seal) -> Seal:
        return self._add_entry(job_id, "seal", seal)

    def add_note(self, job_id: str, text: str, author: str | None = None) -> Note:
        clean = (text or "").strip()
        if not clean or len(clean) > 4000:
            raise InvalidValue(Text("A note has 1 to 4000 characters.",
                                    "Eine Notiz hat 1 bis 4000 Zeichen."), field="note")
        return self._add_entry(job_id, "note", Note(clean, author or self.actor))

    def record_device(self, job_id: str, device: DeviceRecord) -> DeviceRecord:
        return self._add_entry(job_id, "device", device)

    def record_certificate(self, job_id: str, cert: CertificateRecord) -> CertificateRecord:
        return self._add_entry(job_id, "certificate", cert)

    def add_photo(self, job_id: str, source: str | Path, caption: str | None = None) -> Photo:
        """Copy ``source`` into the job's folder and record its SHA-256."""
        row = self._row(job_id)
        source = Path(source)
        folder = self.files / row["folder"] / "photos"
        try:
            size = source.stat().st_size
            if size > MAX_PHOTO_BYTES:
                raise InvalidValue(
                    Text(f"The photo {source.name} has {size} bytes; at most "
                         f"{MAX_PHOTO_BYTES} are accepted.",
                         f"Das Foto {source.name} hat {size} Bytes; höchstens "
                         f"{MAX_PHOTO_BYTES} sind zulässig."), field="photo")
            folder.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9._-]+", "_", source.name).strip("._-")[-100:] or "photo"
            number = len(list(folder.iterdir())) + 1
            while (target := folder / f"{number:03d}-{stem}").exists():
                number += 1
            digest = hashlib.sha256()
            tmp = target.with_name(target.name + ".part")
            with source.open("rb") as src, tmp.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise SmgwctError(
                Text(f"The photo {source} cannot be copied into the job: {exc.strerror or exc}",
                     f"Das Foto {source} kann nicht in den Auftrag kopiert werden: "
                     f"{exc.strerror or exc}"), field="photo") from exc
        photo = Photo(target.relative_to(self.files / row["folder"]).as_posix(),
                      digest.hexdigest(), size, source.name,
                      _token(caption) if caption else None)
        return self._add_entry(job_id, "photo", photo)

    def withdraw(self, job_id: str, seq: int, reason: str) -> None:
        """Take back a wrong entry (e.g. a mistyped seal number); it stays stored and audited."""
        real = self._row(job_id)["job_id"]
        if not reason.strip():
            raise InvalidValue(Text("Say why the entry is withdrawn.",
                                    "Bitte angeben, warum der Eintrag zurückgezogen wird."),
                               field="reason")
        with self.db.write() as conn:
            cur = conn.execute("UPDATE job_entries SET withdrawn = ? WHERE job_id = ? AND seq = ?"
                               " AND withdrawn IS NULL", (utc_text(), real, seq))
            if cur.rowcount != 1:
                raise InvalidValue(Text(f"Job {real} has no open entry {seq}.",
                                        f"Auftrag {real} hat keinen offenen Eintrag {seq}."),
                                   field="seq")
            self._touch(conn, real)
        self._audit(real, "job.withdrawn", {"seq": seq, "reason": reason.strip()})

    def _add_entry(self, job_id: str, kind: str, entry: Any) -> Any:
        real = self._row(job_id)["job_id"]
        data = {k: v for k, v in entry.__dict__.items() if k not in ("time", "seq")}
        now = utc_text()
        with self.db.write() as conn:
            row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM job_entries WHERE job_id = ?",
                               (real,)).fetchone()
            seq = int(row[0]) + 1
            conn.execute("INSERT INTO job_entries(job_id, seq, kind, data, time)"
                         " VALUES (?, ?, ?, ?, ?)", (real, seq, kind, dumps(data), now))
            self._touch(conn, real)
        self._audit(real, f"job.{kind}", {"seq": seq, **data})
        return replace(entry, time=parse_utc(now), seq=seq)

    @staticmethod
    def _touch(conn: Any, job_id: str) -> None:
        conn.execute("UPDATE work_orders SET updated = ? WHERE job_id = ?", (utc_text(), job_id))

    # -- audit --------------------------------------------------------------------------------

    def _audit(self, job_id: str, action: str, payload: Mapping[str, Any]) -> None:
        if self.audit is None:
            return
        self.audit.append(self.actor, action, {"job_id": job_id, **payload})

    def audit_trail(self, job_id: str, audit: AuditLog | None = None) -> list[AuditEntry]:
        """Entries of the audit log for this job and for the flow runs attached to it."""
        log = audit or self.audit
        if log is None:
            return []
        job = self.get(job_id)
        runs = {r.run_id for r in job.runs}
        return [e for e in log.entries()
                if e.payload.get("job_id") == job.job_id or e.payload.get("run_id") in runs]

    # -- export -------------------------------------------------------------------------------

    def export(self, job_id: str, fmt: str = "xml") -> bytes:
        """The job's work order as XML or JSON (as it would be imported)."""
        order = self.get(job_id).order
        if fmt == "xml":
            return order.to_xml()
        if fmt == "json":
            return order.to_json()
        raise InvalidValue(Text(f"Unknown export format {fmt!r}; use xml or json.",
                                f"Unbekanntes Exportformat {fmt!r}; xml oder json verwenden."),
                           field="format")

    def copy_photos(self, job_id: str, target: Path) -> list[Photo]:
        """Copy the job's photos to ``target`` (same relative names); used by the report."""
        job = self.get(job_id)
        for photo in job.photos:
            dest = target / photo.file
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(job.folder / photo.file, dest)
        return list(job.photos)


__all__ = [
    "FORMAT_VERSION",
    "NAMESPACE",
    "CertificateRecord",
    "DeviceRecord",
    "ExpectedMeter",
    "Job",
    "JobFileError",
    "JobRun",
    "JobState",
    "JobSummary",
    "MeterRole",
    "Note",
    "Photo",
    "PlannedFlow",
    "Problem",
    "Reading",
    "Seal",
    "Site",
    "WorkOrder",
    "WorkOrderStore",
    "parse_work_order",
    "parse_work_order_json",
    "parse_work_order_xml",
    "read_work_order",
]
