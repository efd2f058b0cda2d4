"""The one safe XML parser factory and the XSD loader.

Every XML document the tool reads (from a peer, a file, a work order) goes through
:func:`parse_xml`: no DTDs, no entity expansion, no network access, no external files, a size cap,
and documents that declare a DOCTYPE are refused outright. Schemas are loaded only from the bundled
``resources/schemas`` directory; imports and includes outside it are refused.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from lxml import etree

from app.errors import InvalidValue, Text
from app.resources import resource_path

#: Default cap on a document's size in bytes (administration documents are small).
MAX_XML_BYTES = 4 * 1024 * 1024


def safe_parser(*, remove_blank_text: bool = False) -> etree.XMLParser:
    """A fresh lxml parser with every dangerous feature off."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        remove_blank_text=remove_blank_text,
        collect_ids=False,
    )


def _refuse(what_en: str, what_de: str, field: str) -> InvalidValue:
    return InvalidValue(Text(what_en, what_de), field=field)


def parse_xml(
    data: bytes,
    *,
    schema: str | None = None,
    max_bytes: int = MAX_XML_BYTES,
    field: str = "xml",
) -> etree._Element:
    """Parse ``data`` safely; validate against the bundled ``schema`` if given.

    Raises :class:`InvalidValue` naming the line and the problem for anything that is not a
    well-formed, DOCTYPE-free document within the size cap (and valid, with ``schema``).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("parse_xml takes bytes")
    if len(data) > max_bytes:
        raise _refuse(
            f"The XML document is {len(data)} bytes long; at most {max_bytes} are accepted.",
            f"Das XML-Dokument ist {len(data)} Bytes lang; höchstens {max_bytes} sind zulässig.",
            field,
        )
    parser = safe_parser()
    try:
        root = etree.fromstring(bytes(data), parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 0
        raise _refuse(
            f"The XML document is not well-formed (line {line}: {exc.msg}).",
            f"Das XML-Dokument ist nicht wohlgeformt (Zeile {line}: {exc.msg}).",
            field,
        ) from None
    if root is None:
        raise _refuse("The XML document is empty.", "Das XML-Dokument ist leer.", field)
    doc = root.getroottree()
    if doc.docinfo.doctype or doc.docinfo.internalDTD is not None:
        raise _refuse(
            "The XML document declares a DOCTYPE; DTDs and entities are not accepted.",
            "Das XML-Dokument enthält eine DOCTYPE-Deklaration; DTDs und Entitäten werden nicht "
            "akzeptiert.",
            field,
        )
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise _refuse(
                "The XML document uses entity references; they are not accepted.",
                "Das XML-Dokument verwendet Entitäten; diese werden nicht akzeptiert.",
                field,
            )
    if schema is not None:
        validate(root, schema, field=field)
    return root


log = logging.getLogger(__name__)


class _BundledOnlyResolver(etree.Resolver):
    """Resolve schema imports/includes only to files inside the schema directory."""

    def __init__(self, base: Path) -> None:
        super().__init__()
        self._base = base.resolve()

    def resolve(self, system_url: str, public_id: str, context: object):  # type: ignore[override]
        name = system_url.rsplit("/", 1)[-1]
        candidate = (self._base / name).resolve()
        if candidate.parent == self._base and candidate.is_file():
            return self.resolve_filename(str(candidate), context)
        raise etree.XMLSchemaParseError(
            f"schema reference outside the bundle refused: {system_url}"
        )


def schema_dir() -> Path:
    return resource_path("schemas")


_BUILD_LOCK = threading.Lock()
_SCHEMAS: dict[str, tuple[etree.XMLSchema, threading.Lock]] = {}


def _schema_entry(name: str) -> tuple[etree.XMLSchema, threading.Lock]:
    """The cached schema ``name`` and the lock that serialises its use.

    Schemas are built under one lock (libxml2 is not safe for two schema parsers with resolvers
    at the same time: a concurrent build failed with "not valid XML Schema"), and each schema's
    validations take turns, because lxml keeps the errors of the last one on the schema object.
    """
    with _BUILD_LOCK:
        entry = _SCHEMAS.get(name)
        if entry is None:
            base = schema_dir()
            path = (base / name).resolve()
            if path.parent != base.resolve() or not path.is_file():
                raise FileNotFoundError(f"no bundled schema named {name!r}")
            entry = (_build_schema(base, path), threading.Lock())
            _SCHEMAS[name] = entry
        return entry


def _build_schema(base: Path, path: Path) -> etree.XMLSchema:
    """Parse and compile a bundled schema. A bundled schema always compiles, yet libxml2 once
    reported "Document is not valid XML Schema" for one (under heavy load, in a process parsing
    XML in other threads): a failed compile is tried once more before it is raised."""
    for attempt in (1, 2):
        parser = safe_parser()
        parser.resolvers.add(_BundledOnlyResolver(base))
        doc = etree.parse(str(path), parser)
        try:
            return etree.XMLSchema(doc)
        except etree.XMLSchemaParseError as exc:
            if attempt == 2:
                raise
            log.warning("schema %s did not compile (%s); trying again", path.name, exc)
    raise AssertionError("unreachable")


def load_schema(name: str) -> etree.XMLSchema:
    """Load ``resources/schemas/<name>`` (cached). Only bundled schemas can be loaded.

    To validate from several threads use :func:`schema_errors` (or :func:`validate`)."""
    return _schema_entry(name)[0]


def schema_errors(root: etree._Element, name: str) -> list[Any]:
    """Validate ``root`` against the bundled schema ``name``: its errors, empty when valid.
    Safe from several threads at once."""
    xsd, lock = _schema_entry(name)
    with lock:
        if xsd.validate(root):
            return []
        return list(xsd.error_log)


def validate(root: etree._Element, schema: str, *, field: str = "xml") -> None:
    """Validate ``root`` against a bundled schema; raise :class:`InvalidValue` with the line."""
    errors = schema_errors(root, schema)
    if not errors:
        return
    err = errors[-1]
    line, msg = err.line, err.message
    raise _refuse(
        f"The XML document does not match {schema} (line {line}: {msg}).",
        f"Das XML-Dokument entspricht nicht {schema} (Zeile {line}: {msg}).",
        field,
    )


def to_bytes(root: etree._Element, *, pretty: bool = False) -> bytes:
    """Serialise with an XML declaration in UTF-8."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=pretty)
