"""Reading and writing work order files (Auftragsdateien): JSON, XML and the export.

XML is validated against ``resources/schemas/work-order.xsd``; JSON is checked with the same
rules by walking the structure the schema describes (:mod:`app.store.work_order_check`). Both
report every problem with its line and the field as named in the file (:class:`JobFileError`).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from app.errors import InvalidValue, SmgwctError, Text
from app.security.xml import parse_xml, schema_errors
from app.store.work_order import NAMESPACE, WorkOrder, qname
from app.store.work_order_check import (
    CHECKS,
    JSON_NAMES,
    XML_ITEMS,
    FieldPath,
    Located,
    field_label,
    order_from_document,
    xs_token,
)

SCHEMA = "work-order.xsd"
MAX_FILE_BYTES = 1024 * 1024


# -- JSON --------------------------------------------------------------------------------------


def _json_positions(text: str) -> tuple[dict[FieldPath, int], list[FieldPath]]:
    """Line of every object key and list item by path, and the paths of duplicate keys.

    ``text`` must already have been accepted by :func:`json.loads`; this walk only locates.
    """
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    def line_at(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    lines: dict[FieldPath, int] = {}
    duplicates: list[FieldPath] = []
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
    path: FieldPath
    expect_key: bool = True
    key: str = ""
    index: int = 0
    keys: set[str] = field(default_factory=set)


def parse_work_order_json(data: bytes, source: str = "work order") -> WorkOrder:
    """A work order from JSON; :class:`JobFileError` names line and field of each problem."""
    where = Located(source, "json", {})
    if len(data) > MAX_FILE_BYTES:
        raise where.refuse(Text(
            f"The file has {len(data)} bytes; at most {MAX_FILE_BYTES} are read.",
            f"Die Datei hat {len(data)} Bytes; höchstens {MAX_FILE_BYTES} werden gelesen."))
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise where.refuse(Text(f"The file is not UTF-8 text (byte {exc.start}).",
                                f"Die Datei ist kein UTF-8-Text (Byte {exc.start})."),
                           bytes(data)[: exc.start].count(b"\n") + 1) from None
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        msg = getattr(exc, "msg", str(exc))
        col = getattr(exc, "colno", None)
        raise where.refuse(Text(f"The file is not valid JSON ({msg}, column {col}).",
                                f"Die Datei ist kein gültiges JSON ({msg}, Spalte {col})."),
                           getattr(exc, "lineno", None) or 1) from None
    lines, duplicates = _json_positions(text)
    where.lines.update(lines)
    for path in duplicates:
        where.lines.setdefault(path, lines.get(path, 0))
        where.add(path, Text(f"The field {where.name(path)!r} appears twice in the same object.",
                             f"Das Feld {where.name(path)!r} steht zweimal im selben Objekt."))
    if where.problems:
        raise where.fail()
    return order_from_document(doc, where)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# -- XML ---------------------------------------------------------------------------------------

_IGNORED_SCHEMA_ERRORS = {"SCHEMAV_CVC_IDC"}
_MISSING_CHILD = re.compile(r"Missing child element\(s\)\. Expected is \( ?([^)]+?) ?\)")


def parse_work_order_xml(data: bytes, source: str = "work order") -> WorkOrder:
    """A work order from XML, validated against ``work-order.xsd``; errors name line and field."""
    where = Located(source, "xml", {})
    try:
        root = parse_xml(data, max_bytes=MAX_FILE_BYTES, field="work_order")
    except InvalidValue as exc:
        match = re.search(r"line (\d+)", exc.message.en)
        raise where.refuse(exc.message, int(match.group(1)) if match else 1) from None
    errors = schema_errors(root, SCHEMA)
    if errors:
        _explain_schema_errors(root, errors, where)
        raise where.fail()
    doc, lines = _xml_document(root)
    where.lines.update(lines)
    return order_from_document(doc, where)


def _element_path(element: etree._Element, root: etree._Element) -> FieldPath:
    """The JSON-shaped path of an element of the work order."""
    parts: list[str | int] = []
    node: etree._Element | None = element
    while node is not None and node is not root:
        parent = node.getparent()
        if parent is not None and etree.QName(parent).localname in XML_ITEMS:
            same = [c for c in parent if isinstance(c.tag, str)]
            parts.append(same.index(node))
        else:
            parts.append(_json_key(node))
        node = parent
    return tuple(reversed(parts))


def _explain_schema_errors(
    root: etree._Element, log: Iterable[Any], where: Located
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
            child = (*path, JSON_NAMES.get(local, local))
            c_en, c_de, c_ex = field_label(child)
            where.add(child, Text(
                f"The required element <{local}> ({c_en}) is missing here; e.g. {c_ex!r}.",
                f"Das Pflichtelement <{local}> ({c_de}) fehlt hier; z. B. {c_ex!r}."), at=path)
            continue
        if element is root and root.tag != qname("workOrder"):
            where.add(path, Text(
                f"The file is not a work order: the root element is <{etree.QName(root).localname}>"
                f" instead of <workOrder xmlns=\"{NAMESPACE}\">.",
                f"Die Datei ist kein Arbeitsauftrag: das Wurzelelement ist "
                f"<{etree.QName(root).localname}> statt <workOrder xmlns=\"{NAMESPACE}\">."))
            continue
        if "Duplicate key-sequence" in err.message:
            message = Text(f"Flow {xs_token(element.text or '')!r} is planned twice.",
                           f"Ablauf {xs_token(element.text or '')!r} ist doppelt geplant.")
        check = CHECKS.get(".".join(p for p in path if isinstance(p, str)))
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


def _xml_document(root: etree._Element) -> tuple[dict[str, Any], dict[FieldPath, int]]:
    """The schema-valid XML as the JSON-shaped document, with the line of every value."""
    lines: dict[FieldPath, int] = {(): root.sourceline or 1}
    doc: dict[str, Any] = {"version": int(root.get("version", "0"))}
    lines[("version",)] = root.sourceline or 1

    def convert(element: etree._Element, path: FieldPath) -> Any:
        lines[path] = element.sourceline or 0
        local = etree.QName(element).localname
        children = [c for c in element if isinstance(c.tag, str)]
        if local in XML_ITEMS:
            return [convert(c, (*path, i)) for i, c in enumerate(children)]
        if local in ("site", "meter"):
            return {_json_key(c): convert(c, (*path, _json_key(c))) for c in children}
        return element.text or ""

    for child in root:
        if not isinstance(child.tag, str):
            continue
        key = _json_key(child)
        doc[key] = convert(child, (key,))
    return doc, lines


def _json_key(element: etree._Element) -> str:
    """The JSON name of an element (``serverId`` -> ``server_id``)."""
    local = etree.QName(element).localname
    return JSON_NAMES.get(local, local)


# -- entry points ------------------------------------------------------------------------------


def parse_work_order(data: bytes, source: str = "work order") -> WorkOrder:
    """XML or JSON, told apart by the first character that is not white space."""
    if _looks_like_xml(data):
        return parse_work_order_xml(data, source)
    return parse_work_order_json(data, source)


def read_work_order(path: str | Path) -> WorkOrder:
    """Read and check a work order file (``.xml`` or ``.json``)."""
    return read_work_order_file(Path(path))[0]


def read_work_order_file(path: Path) -> tuple[WorkOrder, bytes, str]:
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
    is_xml = suffix == ".xml" if suffix in (".xml", ".json") else _looks_like_xml(data)
    if is_xml:
        return parse_work_order_xml(data, path.name), data, "xml"
    return parse_work_order_json(data, path.name), data, "json"


def _looks_like_xml(data: bytes) -> bool:
    """XML or JSON, told apart by the first character that is not white space (or a BOM)."""
    return bytes(data[:4096]).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def export_work_order(order: WorkOrder, fmt: str = "xml") -> bytes:
    """``order`` as XML or JSON, as it would be imported."""
    if fmt == "xml":
        return order.to_xml()
    if fmt == "json":
        return order.to_json()
    raise InvalidValue(Text(f"Unknown export format {fmt!r}; use xml or json.",
                            f"Unbekanntes Exportformat {fmt!r}; xml oder json verwenden."),
                       field="format")


__all__ = [
    "MAX_FILE_BYTES",
    "SCHEMA",
    "export_work_order",
    "parse_work_order",
    "parse_work_order_json",
    "parse_work_order_xml",
    "read_work_order",
    "read_work_order_file",
]
