"""The rules a work order must follow (Prüfregeln), shared by XML, JSON and typed input.

The same checks explain a refused file in the technician's words: :class:`Problem` names the
line and the field as written in the file, :class:`JobFileError` carries every problem found.
:func:`order_from_document` builds the :class:`~app.store.work_order.WorkOrder` from the
JSON-shaped document (the XML form is converted to it first, see ``docs/work-orders.md``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.domain import ServerId, ServerIdKind, SmgwId
from app.errors import InvalidValue, Text
from app.store.work_order import (
    FORMAT_VERSION,
    ExpectedMeter,
    MeterRole,
    PlannedFlow,
    Site,
    WorkOrder,
)

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

FieldPath = tuple[str | int, ...]

#: XML names of the JSON keys that differ.
XML_NAMES = {
    "job_id": "jobId", "postal_code": "postalCode", "metering_point_id": "meteringPointId",
    "customer_name": "customerName", "smgw_id": "smgwId", "gwa_tenant": "gwaTenant",
    "server_id": "serverId", "key_ref": "keyRef", "planned_date": "plannedDate",
}
JSON_NAMES = {v: k for k, v in XML_NAMES.items()}
XML_ITEMS = {"meters": "meter", "flows": "flow"}

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
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def field_label(path: FieldPath) -> tuple[str, str, str]:
    """English label, German label and an example for the field at ``path``."""
    key = ".".join(str(p) for p in path if isinstance(p, str))
    if path and isinstance(path[-1], int):
        key += "[]"
    return _LABELS.get(key, (key, key, ""))


def _cap(text: str) -> str:
    """Sentence start: first letter upper case, the rest as written (``SMGW-ID`` stays)."""
    return text[:1].upper() + text[1:]


def _did_you_mean(word: str, choices: Iterable[str]) -> Text:
    """`` Did you mean 'x'?`` for the closest choice, or empty text when none is close."""
    near = difflib.get_close_matches(word, list(choices), n=1)
    if not near:
        return Text("", "")
    return Text(f" Did you mean {near[0]!r}?", f" Meinten Sie {near[0]!r}?")


def _bad(path: FieldPath, en: str, de: str) -> InvalidValue:
    return InvalidValue(Text(en, de), field=".".join(str(p) for p in path))


def xs_token(value: str) -> str:
    """XML Schema ``xs:token`` whitespace rule: collapse runs, strip the ends."""
    return " ".join(value.split())


def _check_line(path: FieldPath, value: str, max_len: int) -> str:
    en, de, example = field_label(path)
    text = xs_token(value)
    if not text:
        raise _bad(path, f"The {en} is empty; enter it like {example!r}.",
                   f"{_cap(de)} ist leer; bitte wie {example!r} angeben.")
    if len(text) > max_len:
        raise _bad(path, f"The {en} has {len(text)} characters; at most {max_len} are allowed.",
                   f"{_cap(de)} hat {len(text)} Zeichen; höchstens {max_len} sind erlaubt.")
    if CONTROL.search(text):
        raise _bad(path, f"The {en} contains control characters.",
                   f"{_cap(de)} enthält Steuerzeichen.")
    return text


def _check_job_id(path: FieldPath, value: str) -> str:
    text = xs_token(value)
    if not _JOB_ID.fullmatch(text):
        raise _bad(
            path,
            f"Job number {text!r} is not usable: 1 to 64 letters, digits, '.', '_' or '-', "
            f"starting and ending with a letter or digit, e.g. 'A-2025-000123'.",
            f"Auftragsnummer {text!r} ist nicht verwendbar: 1 bis 64 Buchstaben, Ziffern, '.', "
            f"'_' oder '-', Anfang und Ende Buchstabe oder Ziffer, z. B. 'A-2025-000123'.",
        )
    return text


def _check_smgw_id(path: FieldPath, value: str) -> SmgwId:
    text = xs_token(value)
    parsed = SmgwId.parse(text, field=".".join(map(str, path)))  # explains what is wrong
    if not _SMGW_ID_TEXT.fullmatch(text):
        raise _bad(path, f"Write the SMGW ID {text!r} as text, e.g. {parsed.text!r}.",
                   f"Bitte die SMGW-ID {text!r} als Text angeben, z. B. {parsed.text!r}.")
    return parsed


def _check_server_id(path: FieldPath, value: str) -> ServerId:
    text = xs_token(value)
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


def _check_metering_point(path: FieldPath, value: str) -> str:
    text = xs_token(value)
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


def _check_postal_code(path: FieldPath, value: str) -> str:
    text = xs_token(value)
    if not _POSTAL_CODE.fullmatch(text):
        raise _bad(path, f"Postal code {text!r} must be 5 digits, e.g. '12345'.",
                   f"Postleitzahl {text!r} muss aus 5 Ziffern bestehen, z. B. '12345'.")
    return text


def _check_key_ref(path: FieldPath, value: str) -> str:
    text = xs_token(value)
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


def check_enum(path: FieldPath, value: str, kind: type[StrEnum]) -> Any:
    text = xs_token(value)
    try:
        return kind(text)
    except ValueError:
        pass
    allowed = [m.value for m in kind]  # type: ignore[attr-defined]
    en, de, _ = field_label(path)
    hint = _did_you_mean(text.lower(), allowed)
    raise _bad(path, f"{text!r} is not a known {en}; allowed: {', '.join(allowed)}.{hint.en}",
               f"{text!r} ist kein gültiger Wert für {de}; erlaubt: {', '.join(allowed)}."
               f"{hint.de}")


def _check_date(path: FieldPath, value: str) -> dt.date:
    text = xs_token(value)
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


def _check_notes(path: FieldPath, value: str) -> str:
    if len(value) > 4000:
        raise _bad(path, f"The notes have {len(value)} characters; at most 4000 are allowed.",
                   f"Die Hinweise haben {len(value)} Zeichen; höchstens 4000 sind erlaubt.")
    return value.strip()


#: Checker per field path (indices removed); used for JSON, typed input and to explain
#: XML Schema facet errors in the technician's words.
CHECKS: dict[str, Callable[[FieldPath, str], Any]] = {
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
    "meters.role": lambda p, v: check_enum(p, v, MeterRole),
    "meters.key_ref": _check_key_ref,
    "flows": lambda p, v: check_enum(p, v, PlannedFlow),
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
class Located:
    """Where the values of a document stand (line per path) and how the format names fields."""

    source: str
    fmt: str  # "json" or "xml"
    lines: dict[FieldPath, int]
    problems: list[Problem] = field(default_factory=list)

    def name(self, path: FieldPath) -> str:
        if self.fmt == "xml":
            parts: list[str] = []
            for i, p in enumerate(path):
                if isinstance(p, int):
                    parent = path[i - 1]
                    parts.append(f"{XML_ITEMS.get(str(parent), 'item')}[{p + 1}]")
                else:
                    parts.append(XML_NAMES.get(p, p))
            return "/".join(parts) or "workOrder"
        out = ""
        for p in path:
            out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
        return out or "(document)"

    def line(self, path: FieldPath) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def add(self, path: FieldPath, message: Text, *, at: FieldPath | None = None) -> None:
        """A problem with the value at ``path``, located at ``at`` (default: ``path``)."""
        line = self.line(path if at is None else at)
        self.problems.append(Problem(line, self.name(path), message))

    def fail(self) -> JobFileError:
        return JobFileError(self.source, self.problems)

    def refuse(self, message: Text, line: int | None = None) -> JobFileError:
        """The error for a file that cannot be read as a whole (``line``: where it broke)."""
        if line is not None:
            self.lines[()] = line
        self.add((), message)
        return self.fail()


def _check_structure(doc: Any, spec: _Field, path: FieldPath, where: Located) -> bool:
    """Types, required and unknown keys, list sizes; records problems, True when all fit."""
    en, de, example = field_label(path) if path else ("work order", "Arbeitsauftrag", "")
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
                hint = _did_you_mean(key, spec.children)
                where.add((*path, key), Text(
                    f"Unknown field {key!r}; allowed here: {', '.join(spec.children)}.{hint.en}",
                    f"Unbekanntes Feld {key!r}; erlaubt sind hier: {', '.join(spec.children)}."
                    f"{hint.de}"))
                ok = False
        for key, child in spec.children.items():
            if key not in doc or doc[key] is None:
                if child.required:
                    c_en, c_de, c_ex = field_label((*path, key))
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


def order_from_document(doc: dict[str, Any], where: Located) -> WorkOrder:
    """The work order from a JSON-shaped document; all problems are collected, then raised."""
    if not _check_structure(doc, _STRUCTURE, (), where):
        raise where.fail()
    if doc["version"] != FORMAT_VERSION:
        where.add(("version",), Text(
            f"Format version {doc['version']} is not supported; this program reads version "
            f"{FORMAT_VERSION}.",
            f"Formatversion {doc['version']} wird nicht unterstützt; dieses Programm liest "
            f"Version {FORMAT_VERSION}."))

    def check(path: FieldPath, value: Any) -> Any:
        key = ".".join(p for p in path if isinstance(p, str))
        try:
            return CHECKS[key](path, value)
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



__all__ = [
    "TYPED_HINT",
    "JobFileError",
    "Problem",
]
