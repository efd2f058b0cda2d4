"""Root element -> codec: encode any admin object, decode any admin document.

Both directions validate against the bundled XSD of the document's namespace: :func:`to_xml`
refuses an invalid object with :class:`InvalidValue` before anything can be sent, and
:func:`from_xml` refuses malformed, unknown or invalid documents with the line at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lxml import etree

from app.errors import InvalidValue, Text
from app.protocols.admin import _xml as x
from app.protocols.admin import events, gwa_link, management, methods, profiles, responses
from app.protocols.admin.catalog import (
    NAMESPACE_FAMILY,
    NAMESPACES,
    PROFILE_CLASSES,
    namespace_by_uri,
)
from app.security.xml import parse_xml, to_bytes, validate

T = TypeVar("T")


@dataclass(frozen=True)
class Codec:
    """How one document kind is written and read."""

    namespace: str
    element: str
    types: tuple[type, ...]
    encode: Callable[[Any], etree._Element]
    decode: Callable[[etree._Element], Any]

    @property
    def uri(self) -> str:
        return NAMESPACES[self.namespace].uri

    @property
    def schema(self) -> str:
        return NAMESPACES[self.namespace].schema

    @property
    def qname(self) -> str:
        return x.qname(self.uri, self.element)


def _profile_codecs() -> list[Codec]:
    return [
        Codec(c.namespace, c.element, (profiles.PROFILE_TYPES[kind],), profiles.encode_profile,
              profiles.decode_profile)
        for kind, c in PROFILE_CLASSES.items()
    ]


def _result_codecs() -> list[Codec]:
    return [
        Codec("method-call", name, (cls,), methods.encode_result, methods.decode_result)
        for cls, name in methods.RESULT_ELEMENTS.items()
    ]


CODECS: tuple[Codec, ...] = (
    *_profile_codecs(),
    Codec("evaluation-profile", "readings", (profiles.Readings,), profiles.encode_readings,
          profiles.decode_readings),
    Codec("method-call", "methodCall", tuple(methods.METHOD_ELEMENTS), methods.encode_call,
          methods.decode_call),
    *_result_codecs(),
    Codec("event", "event", (events.Event,), events.encode_event, events.decode_event),
    Codec("event", "eventReport", (events.EventReport,), events.encode_report,
          events.decode_report),
    Codec("event", "eventAck", (events.EventAck,), events.encode_ack, events.decode_ack),
    Codec("response", "response", (responses.Response,), responses.encode_response,
          responses.decode_response),
    Codec("management", "sessionStart", (management.SessionStart,), management.encode_start,
          management.decode_start),
    Codec("management", "sessionRequest", (management.SessionRequest,),
          management.encode_request, management.decode_request),
    Codec("management", "sessionResult", (management.SessionResult,), management.encode_result,
          management.decode_result),
    Codec("management", "sessionEnd", (management.SessionEnd,), management.encode_end,
          management.decode_end),
    Codec("gwa-link", "processRequest", (gwa_link.ProcessRequest,),
          gwa_link.encode_process_request, gwa_link.decode_process_request),
    Codec("gwa-link", "jobStatus", (gwa_link.JobStatus,), gwa_link.encode_job_status,
          gwa_link.decode_job_status),
    Codec("gwa-link", "jobEvent", (gwa_link.JobEvent,), gwa_link.encode_job_event,
          gwa_link.decode_job_event),
    Codec("gwa-link", "jobEvents", (gwa_link.JobEvents,), gwa_link.encode_job_events,
          gwa_link.decode_job_events),
)

_BY_ROOT: dict[str, Codec] = {c.qname: c for c in CODECS}
_BY_TYPE: dict[type, Codec] = {t: c for c in CODECS for t in c.types}

_NOT_SENT = Text(
    "Nothing was sent. Correct the value named above and try again.",
    "Es wurde nichts gesendet. Bitte den genannten Wert korrigieren und erneut versuchen.",
)


def codec_for_root(tag: str) -> Codec:
    """The codec of a document element ``{namespace}local``; InvalidValue if there is none."""
    codec = _BY_ROOT.get(tag)
    if codec is not None:
        return codec
    uri, local = x.split_qname(tag)
    if namespace_by_uri(uri) is None and uri.startswith(NAMESPACE_FAMILY):
        raise InvalidValue(
            Text(
                f"The document uses namespace {uri}, a version this tool does not support.",
                f"Das Dokument nutzt den Namensraum {uri}, eine Version, die dieses Programm "
                "nicht unterstützt.",
            ),
            field="xml",
            hint=Text("Update the tool or ask the sender for version 1 documents.",
                      "Programm aktualisieren oder den Absender um Dokumente der Version 1 "
                      "bitten."),
        )
    known = ", ".join(sorted(c.element for c in CODECS))
    raise InvalidValue(
        Text(
            f"<{local}> in namespace '{uri}' is not an administration document; known: {known}.",
            f"<{local}> im Namensraum '{uri}' ist kein Administrationsdokument; bekannt: {known}.",
        ),
        field="xml",
    )


def codec_for(obj: object) -> Codec:
    codec = _BY_TYPE.get(type(obj))
    if codec is None:
        raise InvalidValue(
            Text(f"{type(obj).__name__} has no XML form.",
                 f"{type(obj).__name__} hat keine XML-Form."),
            field="xml",
        )
    return codec


def schema_for_root(tag: str) -> str:
    """The bundled XSD file that validates a document with root ``tag``."""
    return codec_for_root(tag).schema


def to_element(obj: object) -> etree._Element:
    """The object's document element, checked but not yet validated (for embedding)."""
    return codec_for(obj).encode(obj)


def to_xml(obj: object, *, pretty: bool = False) -> bytes:
    """Serialise ``obj`` (UTF-8, XML declaration) after validating it against its XSD.

    Raises :class:`InvalidValue` naming the field when the object breaks a rule of the schema or
    of the protocol; nothing is returned that the receiver would refuse.
    """
    codec = codec_for(obj)
    try:
        element = codec.encode(obj)
    except InvalidValue as err:
        raise InvalidValue(err.message, field=err.field, hint=err.hint or _NOT_SENT) from None
    except (ValueError, TypeError, AttributeError) as err:  # e.g. a str where an enum belongs
        raise InvalidValue(
            Text(f"<{codec.element}> cannot be written: {err}",
                 f"<{codec.element}> kann nicht geschrieben werden: {err}"),
            field=codec.element,
            hint=_NOT_SENT,
        ) from None
    data = to_bytes(element, pretty=pretty)
    try:
        parse_xml(data, schema=codec.schema, field=codec.element)
    except InvalidValue as err:
        raise InvalidValue(err.message, field=codec.element, hint=_NOT_SENT) from None
    return data


def from_xml(
    data: bytes, *, expect: type[T] | tuple[type, ...] | None = None, field: str = "xml"
) -> Any:
    """Decode any administration document; validate it against its XSD first.

    ``expect`` restricts which object types are acceptable here (e.g. ``SessionResult`` on the
    MANAGEMENT endpoint). Every problem is an :class:`InvalidValue` with the line at fault.
    """
    root = parse_xml(data, field=field)
    return decode_element(root, expect=expect, field=field)


def decode_element(
    root: etree._Element, *, expect: type | tuple[type, ...] | None = None, field: str = "xml"
) -> Any:
    """Validate and decode an already parsed document element (from :mod:`app.security.xml`)."""
    codec = codec_for_root(root.tag)
    validate(root, codec.schema, field=field)
    try:
        with x.located(root):
            obj = codec.decode(root)
    except InvalidValue:
        raise
    except (AssertionError, ValueError) as err:  # a schema-valid document the codec cannot map
        raise InvalidValue(
            Text(f"<{codec.element}> could not be decoded: {err}",
                 f"<{codec.element}> ließ sich nicht decodieren: {err}"),
            field=field,
        ) from None
    if expect is not None and not isinstance(obj, expect):
        wanted = expect if isinstance(expect, tuple) else (expect,)
        names = ", ".join(t.__name__ for t in wanted)
        raise InvalidValue(
            Text(f"Expected {names} here, got <{codec.element}>.",
                 f"Erwartet wird hier {names}, erhalten: <{codec.element}>."),
            field=field,
        )
    return obj
