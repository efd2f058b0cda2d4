"""Small helpers the admin codecs share: element building/reading and value conversions.

Readers run only on schema-valid trees, so a missing required child is a programming error of
the codec, not a peer error; value conversions still raise :class:`InvalidValue` with the field.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from lxml import etree

from app.domain import LogicalName, Obis, ServerId, SmgwId
from app.errors import InvalidValue, Text

T = TypeVar("T")


def fail(field: str, en: str, de: str, hint: Text | None = None) -> InvalidValue:
    """An :class:`InvalidValue` for ``field`` with the sentence in English and German."""
    return InvalidValue(Text(en, de), field=field, hint=hint)


@contextlib.contextmanager
def located(element: etree._Element) -> Iterator[None]:
    """Add the line of ``element`` to an :class:`InvalidValue` raised while decoding it.

    The innermost element wins; outer ``located`` blocks leave an annotated error alone.
    """
    try:
        yield
    except InvalidValue as err:
        if getattr(err, "line", None) is not None:
            raise
        line = element.sourceline or 0
        local = split_qname(element.tag)[1]
        located_err = InvalidValue(
            Text(f"{err.message.en} (line {line}, <{local}>)",
                 f"{err.message.de} (Zeile {line}, <{local}>)"),
            field=err.field,
            hint=err.hint,
        )
        located_err.line = line  # type: ignore[attr-defined]
        raise located_err from None


def qname(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def split_qname(tag: str) -> tuple[str, str]:
    """``{ns}local`` -> (ns, local); ('', local) without namespace."""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


# --- writing ------------------------------------------------------------------------------------


def _attr_text(value: object) -> str:
    if isinstance(value, bool):
        return fmt_bool(value)
    return str(value)


class Out:
    """An element under construction whose children share its namespace."""

    def __init__(self, element: etree._Element, ns: str) -> None:
        self.element = element
        self.ns = ns

    @classmethod
    def root(cls, ns: str, name: str, **attrs: object) -> Out:
        """A new document element that declares ``ns`` as its default namespace."""
        el = etree.Element(qname(ns, name), nsmap={None: ns})
        out = cls(el, ns)
        out.set(**attrs)
        return out

    def set(self, **attrs: object) -> Out:
        for key, value in attrs.items():
            if value is not None:
                self.element.set(key.rstrip("_"), _attr_text(value))
        return self

    def add(self, tag: str, text: object = None, /, **attrs: object) -> Out:
        el = etree.SubElement(self.element, qname(self.ns, tag))
        if text is not None:
            el.text = _attr_text(text)
        child = Out(el, self.ns)
        child.set(**attrs)
        return child

    def opt(self, name: str, text: object) -> None:
        """Add ``<name>text</name>`` unless ``text`` is None."""
        if text is not None:
            self.add(name, text)

    def append(self, element: etree._Element) -> None:
        """Insert a complete element of another document (keeps its own namespace)."""
        self.element.append(element)


# --- reading ------------------------------------------------------------------------------------


class In:
    """Read access to a schema-valid element whose children share its namespace."""

    def __init__(self, element: etree._Element, ns: str | None = None) -> None:
        self.element = element
        self.ns = ns if ns is not None else split_qname(element.tag)[0]

    @property
    def local(self) -> str:
        return split_qname(self.element.tag)[1]

    @property
    def text(self) -> str:
        return self.element.text or ""

    def one(self, name: str) -> In:
        found = self.maybe(name)
        if found is None:  # the schema requires it; reaching this is a codec bug
            raise AssertionError(f"schema-valid <{self.local}> lacks <{name}>")
        return found

    def maybe(self, name: str) -> In | None:
        el = self.element.find(qname(self.ns, name))
        return None if el is None else In(el, self.ns)

    def many(self, name: str) -> list[In]:
        return [In(el, self.ns) for el in self.element.findall(qname(self.ns, name))]

    def text_of(self, name: str) -> str:
        return self.one(name).text

    def opt_text(self, name: str) -> str | None:
        found = self.maybe(name)
        return None if found is None else found.text

    def attr(self, name: str) -> str:
        value = self.element.get(name)
        if value is None:
            raise AssertionError(f"schema-valid <{self.local}> lacks @{name}")
        return value

    def opt_attr(self, name: str) -> str | None:
        return self.element.get(name)

    def elements(self) -> list[etree._Element]:
        """Child elements (any namespace), in document order."""
        return [el for el in self.element if isinstance(el.tag, str)]


# --- value conversions ---------------------------------------------------------------------------


def fmt_bool(value: bool) -> str:
    return "true" if value else "false"


def parse_bool(text: str) -> bool:
    return text.strip() in ("true", "1")


def aware(value: object, field: str) -> datetime:
    """``value`` if it is a datetime with a time zone, else InvalidValue naming the field."""
    fmt_time(value, field)
    assert isinstance(value, datetime)
    return value


def fmt_time(value: object, field: str) -> str:
    """An aware datetime in UTC, ISO 8601 with ``Z``."""
    if not isinstance(value, datetime):
        raise fail(field, f"A date and time is needed, not {type(value).__name__}.",
                   f"Benötigt wird Datum und Uhrzeit, nicht {type(value).__name__}.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise fail(
            field,
            f"The time {value.isoformat()} has no time zone; give it in UTC or with an offset.",
            f"Die Zeit {value.isoformat()} hat keine Zeitzone; bitte in UTC oder mit Versatz "
            "angeben.",
        )
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def parse_time(text: str, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise fail(field, f"'{text[:40]}' is not a usable date and time.",
                   f"'{text[:40]}' ist keine verwendbare Zeitangabe.") from None
    if value.tzinfo is None:  # the schema requires a zone; keep the check for direct callers
        raise fail(field, f"The time '{text[:40]}' has no time zone.",
                   f"Die Zeit '{text[:40]}' hat keine Zeitzone.")
    return value.astimezone(UTC)


def expect(value: object, cls: type[T] | tuple[type, ...], field: str) -> Any:
    """``value`` if it is an instance of ``cls``, else InvalidValue naming the field."""
    if not isinstance(value, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise fail(field, f"Expected {names}, got {type(value).__name__}.",
                   f"Erwartet wird {names}, erhalten: {type(value).__name__}.")
    return value


def expect_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(field, f"Expected a whole number, got {value!r}.",
                   f"Erwartet wird eine ganze Zahl, erhalten: {value!r}.")
    return value


def server_hex(value: object, field: str) -> str:
    return expect(value, ServerId, field).hex


def obis_hex(value: object, field: str) -> str:
    return expect(value, Obis, field).hex


def ln_text(value: object, field: str) -> str:
    return expect(value, LogicalName, field).text


def smgw_text(value: object, field: str) -> str:
    return expect(value, SmgwId, field).text


def uuid_text(value: object, field: str) -> str:
    return str(expect(value, uuid.UUID, field))


def hex_bytes(value: object, field: str) -> str:
    return bytes(expect(value, (bytes, bytearray), field)).hex()


def read_uuid(text: str) -> uuid.UUID:
    return uuid.UUID(text)


def read_server_id(text: str, field: str) -> ServerId:
    return ServerId.from_hex(text, field)


def read_obis(text: str, field: str) -> Obis:
    return Obis.parse(text, field)


def read_ln(text: str, field: str) -> LogicalName:
    return LogicalName.parse(text, field)


def read_smgw_id(text: str, field: str) -> SmgwId:
    return SmgwId.parse(text, field)

