"""Small helpers shared by the identifier parsers of :mod:`app.domain`."""

from __future__ import annotations

import re

from app.errors import InvalidValue, Text

MAX_INPUT_CHARS = 200
"""Longest text any identifier parser looks at; longer input is rejected outright."""

_HEX_SEPARATORS = re.compile(r"[\s:\-]+")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")


def quote(value: object, limit: int = 40) -> str:
    """``value`` quoted for an error message, shortened and with control characters escaped."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


def invalid(field: str, en: str, de: str) -> InvalidValue:
    """An :class:`InvalidValue` for ``field`` with the sentence in English and German."""
    return InvalidValue(Text(en=en, de=de), field=field)


def require_text(value: object, field: str, what_en: str, what_de: str, example: str) -> str:
    """``value`` as a stripped, non-empty string of sensible length, else InvalidValue."""
    if not isinstance(value, str):
        raise invalid(
            field,
            f"{what_en} must be text, not {type(value).__name__}; e.g. {example!r}.",
            f"{what_de} muss als Text angegeben werden, nicht als {type(value).__name__}; "
            f"z. B. {example!r}.",
        )
    stripped = value.strip()
    if not stripped:
        raise invalid(
            field,
            f"{what_en} is empty; enter it like {example!r}.",
            f"{what_de} ist leer; bitte wie {example!r} eingeben.",
        )
    if len(stripped) > MAX_INPUT_CHARS:
        raise invalid(
            field,
            f"{what_en} {quote(stripped)} is {len(stripped)} characters long; "
            f"expected something like {example!r}.",
            f"{what_de} {quote(stripped)} ist {len(stripped)} Zeichen lang; "
            f"erwartet wird etwa {example!r}.",
        )
    return stripped


def hex_digits(text: str) -> str | None:
    """The hex digits of ``text`` with separators (space, ``:``, ``-``) and ``0x`` removed.

    None when anything else than hex digits remains. The digit count may be odd; callers
    report that themselves.
    """
    parts = [p for p in _HEX_SEPARATORS.split(text.strip()) if p]
    cleaned = []
    for part in parts:
        if part[:2] in ("0x", "0X"):
            part = part[2:]
        cleaned.append(part)
    digits = "".join(cleaned)
    if not digits or not _HEX_DIGITS.fullmatch(digits):
        return None
    return digits


def without_whitespace(text: str) -> str:
    """``text`` with every whitespace character (also inside) removed."""
    return "".join(ch for ch in text if not ch.isspace())
