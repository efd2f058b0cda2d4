"""COSEM logical name inside an SMGW: ``<12 hex digits OBIS>.<instance>.sm``.

Examples: ``01005e318021.taf1-1.sm`` (a TAF-1 profile), ``0100010800ff.0551010038180402.sm``
(channel 1.8.0 of a meter). ``.sm`` is a fixed suffix and the instance an opaque string; the
name is split from the right (``rsplit('.', 2)``), never at fixed offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain._parsing import invalid, quote, require_text
from app.domain.obis import Obis
from app.errors import InvalidValue

__all__ = ["LogicalName"]

_EXAMPLE = "0100010800ff.0551010038180402.sm"
_SUFFIX = "sm"


@dataclass(frozen=True, order=True)
class LogicalName:
    """``<obis hex>.<instance>.sm``; the instance is kept exactly as given."""

    obis: Obis
    instance: str

    def __post_init__(self) -> None:
        if not isinstance(self.obis, Obis):
            raise invalid(
                "logical_name",
                f"Logical name needs an OBIS code, not {type(self.obis).__name__}.",
                f"Der logische Name braucht eine OBIS-Kennzahl, nicht {type(self.obis).__name__}.",
            )
        _check_instance(self.instance, "logical_name", None)

    @classmethod
    def parse(cls, text: str, field: str = "logical_name") -> LogicalName:
        """``01005e318021.taf1-1.sm``; the OBIS part may be upper case, the suffix too."""
        stripped = require_text(text, field, "Logical name", "Der logische Name", _EXAMPLE)
        parts = stripped.rsplit(".", 2)
        if len(parts) != 3 or parts[2].lower() != _SUFFIX:
            raise invalid(
                field,
                f"Logical name {quote(stripped)} does not end in '.<instance>.sm'; "
                f"expected '<12 hex digits>.<instance>.sm', e.g. '{_EXAMPLE}'.",
                f"Logischer Name {quote(stripped)} endet nicht auf '.<Instanz>.sm'; erwartet "
                f"'<12 Hex-Ziffern>.<Instanz>.sm', z. B. '{_EXAMPLE}'.",
            )
        obis_text, instance, _ = parts
        if len(obis_text) != 12 or not all(ch in "0123456789abcdefABCDEF" for ch in obis_text):
            raise invalid(
                field,
                f"Logical name {quote(stripped)} starts with {quote(obis_text)}, not with "
                f"12 hex digits of an OBIS code; expected e.g. '{_EXAMPLE}'.",
                f"Logischer Name {quote(stripped)} beginnt mit {quote(obis_text)} statt mit "
                f"12 Hex-Ziffern einer OBIS-Kennzahl; erwartet z. B. '{_EXAMPLE}'.",
            )
        _check_instance(instance, field, stripped)
        return cls(Obis.from_bytes(bytes.fromhex(obis_text), field), instance)

    @property
    def text(self) -> str:
        return f"{self.obis.hex}.{self.instance}.{_SUFFIX}"

    def __str__(self) -> str:
        return self.text


def _check_instance(instance: object, field: str, whole: str | None) -> None:
    shown = quote(whole) if whole is not None else quote(instance)
    problem: tuple[str, str] | None = None
    if not isinstance(instance, str):
        problem = (f"is {type(instance).__name__}", f"ist {type(instance).__name__}")
    elif not instance:
        problem = ("is empty", "ist leer")
    elif any(ch.isspace() for ch in instance):
        problem = ("contains whitespace", "enthält Leerraum")
    elif "." in instance:
        problem = ("contains a dot", "enthält einen Punkt")
    if problem is not None:
        raise _instance_error(shown, problem, field)


def _instance_error(shown: str, problem: tuple[str, str], field: str) -> InvalidValue:
    return invalid(
        field,
        f"Logical name {shown}: the instance part {problem[0]}; it must be a non-empty name "
        f"without spaces or dots, e.g. 'taf1-1' in '01005e318021.taf1-1.sm'.",
        f"Logischer Name {shown}: der Instanzteil {problem[1]}; er muss ein nicht leerer "
        f"Name ohne Leerzeichen und Punkte sein, z. B. 'taf1-1' in '01005e318021.taf1-1.sm'.",
    )
