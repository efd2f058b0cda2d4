"""Error documents of the technician API: "problem details" in their XML form (RFC 9457).

Every 4xx/5xx answer of the technician API carries ``application/problem+xml``::

    <problem xmlns="urn:ietf:rfc:7807">
      <type>urn:smgwct:tech-api:problem:idempotency-conflict</type>
      <title>Idempotency key reused for another request</title>
      <status>422</status>
      <detail>…English sentence…</detail>
      <instance>/tech/v1/processes</instance>
      <code>idempotency-conflict</code>
      <field>Idempotency-Key</field>
      <detailDe>…deutscher Satz…</detailDe>
      <hint>…next step…</hint>
      <hintDe>…nächster Schritt…</hintDe>
    </problem>

``code`` … ``hintDe`` are extension members (RFC 9457 §3.2). The codes are listed in
docs/protocol/gwa-link.md. Sans-I/O: bytes in, :class:`Problem` out, and back.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from app.errors import InvalidValue, Text
from app.security.xml import parse_xml, to_bytes

NS_PROBLEM = "urn:ietf:rfc:7807"
MEDIA_TYPE = "application/problem+xml"
TYPE_PREFIX = "urn:smgwct:tech-api:problem:"
MAX_PROBLEM_BYTES = 64 * 1024

_FIELDS = ("type", "title", "status", "detail", "instance", "code", "field", "detailDe", "hint",
           "hintDe")


@dataclass(frozen=True)
class Problem:
    """One error answer: HTTP status, machine code and the sentence in both languages."""

    status: int
    code: str
    message: Text
    title: str = ""
    field: str | None = None
    hint: Text | None = None
    instance: str | None = None

    @property
    def type_uri(self) -> str:
        return TYPE_PREFIX + self.code


def encode_problem(p: Problem) -> bytes:
    root = etree.Element(f"{{{NS_PROBLEM}}}problem", nsmap={None: NS_PROBLEM})

    def add(name: str, value: object) -> None:
        if value is not None:
            etree.SubElement(root, f"{{{NS_PROBLEM}}}{name}").text = str(value)

    add("type", p.type_uri)
    add("title", p.title or p.code.replace("-", " "))
    add("status", int(p.status))
    add("detail", p.message.en)
    add("instance", p.instance)
    add("code", p.code)
    add("field", p.field)
    add("detailDe", p.message.de)
    if p.hint is not None:
        add("hint", p.hint.en)
        add("hintDe", p.hint.de)
    return to_bytes(root)


def decode_problem(data: bytes) -> Problem:
    """Read a problem document; :class:`InvalidValue` if it is not one."""
    root = parse_xml(data, max_bytes=MAX_PROBLEM_BYTES, field="problem")
    if root.tag != f"{{{NS_PROBLEM}}}problem":
        raise InvalidValue(Text("The error answer is not a problem document.",
                                "Die Fehlerantwort ist kein Problem-Dokument."), field="problem")
    values: dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str):
            continue
        ns, _, local = child.tag[1:].partition("}") if child.tag.startswith("{") else ("", "", "")
        if ns == NS_PROBLEM and local in _FIELDS and local not in values:
            values[local] = (child.text or "").strip()
    try:
        status = int(values.get("status", ""))
    except ValueError:
        raise InvalidValue(Text("The problem document has no numeric status.",
                                "Das Problem-Dokument hat keinen numerischen Status."),
                           field="problem.status") from None
    type_uri = values.get("type", "about:blank")
    code = values.get("code") or (type_uri.removeprefix(TYPE_PREFIX)
                                  if type_uri.startswith(TYPE_PREFIX) else "unknown")
    detail = values.get("detail") or values.get("title") or code
    hint = None
    if values.get("hint"):
        hint = Text(values["hint"], values.get("hintDe") or values["hint"])
    return Problem(
        status=status, code=code, message=Text(detail, values.get("detailDe") or detail),
        title=values.get("title", ""), field=values.get("field") or None, hint=hint,
        instance=values.get("instance") or None,
    )
