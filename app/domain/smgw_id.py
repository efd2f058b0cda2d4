"""SMGW ID (*Herstellerübergreifende Identifikationsnummer* of the gateway, DIN 43863-5).

``E`` (medium "communication device") + 3-letter FLAG manufacturer code + 2-digit production
block + 8-digit serial, e.g. ``ETHE0300186023``. Labels print it with spaces and the field
also writes it in lower case; both are normalised here. Its binary form is a DIN 43863-5:2012
server ID with medium 0x0E: ``0a0e544845030002d6a7``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.domain._parsing import hex_digits, invalid, quote, require_text, without_whitespace
from app.domain.server_id import ServerId, ServerIdKind
from app.errors import InvalidValue

__all__ = ["SmgwId"]

_EXAMPLE = "ETHE0300186023"
_HEX_EXAMPLE = "0a0e544845030002d6a7"
_FORM = re.compile(r"E([A-Z]{3})([0-9]{2})([0-9]{8})")
_ATTEMPT = re.compile(r"([A-Z0-9])([A-Z]*)([0-9]*)")


@dataclass(frozen=True, order=True)
class SmgwId:
    """A gateway's ID in its canonical upper-case text form; ordered by that text.

    ``SmgwId("e the03 00186023")`` normalises like :meth:`parse`.
    """

    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", _normalise(self.text, "smgw_id"))

    @classmethod
    def parse(cls, text: str, field: str = "smgw_id") -> SmgwId:
        """Text as typed or printed (``ETHE0300186023``, ``e the03 00186023``) or its hex form."""
        return cls(_normalise(text, field))

    @classmethod
    def from_hex(cls, text: str, field: str = "smgw_id") -> SmgwId:
        """The 10-byte hex form ``0a0e544845030002d6a7`` (spaces, colons, ``0x`` allowed)."""
        stripped = require_text(text, field, "SMGW ID", "Die SMGW-ID", _HEX_EXAMPLE)
        digits = hex_digits(stripped)
        if digits is None or len(digits) % 2:
            raise _hex_error(
                stripped,
                field,
                "is not an even number of hex digits",
                "ist keine gerade Anzahl Hex-Ziffern",
            )
        return cls._from_bytes(bytes.fromhex(digits), stripped, field)

    @classmethod
    def from_server_id(cls, server_id: ServerId, field: str = "smgw_id") -> SmgwId:
        """The SMGW ID that a server ID with medium E stands for."""
        return cls._from_bytes(server_id.raw, server_id.hex, field)

    @classmethod
    def _from_bytes(cls, raw: bytes, shown: str, field: str) -> SmgwId:
        if len(raw) != 10:
            raise _hex_error(
                shown, field, f"has {len(raw)} bytes, not 10", f"hat {len(raw)} Bytes statt 10"
            )
        if raw[0] != 0x0A:
            raise _hex_error(
                shown,
                field,
                f"has type byte {raw[0]:02X}, not 0A (DIN 43863-5:2012)",
                f"hat Typ-Byte {raw[0]:02X} statt 0A (DIN 43863-5:2012)",
            )
        if raw[1] != 0x0E:
            raise _hex_error(
                shown,
                field,
                f"has medium byte {raw[1]:02X}, not 0E (communication device)",
                f"hat Sparten-Byte {raw[1]:02X} statt 0E (Kommunikationsgerät)",
            )
        sid = ServerId.from_bytes(raw, field)
        if sid.text is None or sid.kind is not ServerIdKind.DIN_2012:
            raise _hex_error(
                shown,
                field,
                "does not decode (FLAG must be 3 letters A-Z, block 0-99, serial 8 digits)",
                "lässt sich nicht decodieren (FLAG 3 Buchstaben A-Z, Block 0-99, "
                "Seriennummer 8 Ziffern)",
            )
        return cls(sid.text)

    @property
    def flag(self) -> str:
        """FLAG manufacturer code, e.g. ``THE``."""
        return self.text[1:4]

    @property
    def block(self) -> int:
        """Production block (*Fabrikationsblock*)."""
        return int(self.text[4:6])

    @property
    def serial(self) -> int:
        """Serial number (*Fertigungsnummer*)."""
        return int(self.text[6:])

    @property
    def display(self) -> str:
        """Form printed on labels: ``E THE03 00186023``."""
        return f"E {self.text[1:6]} {self.text[6:]}"

    @property
    def server_id(self) -> ServerId:
        """The same identity as a :class:`ServerId` (type 0A, medium E)."""
        return ServerId.parse(self.text)

    def to_server_id(self) -> str:
        """The hex form of the server ID (``0a0e544845030002d6a7``)."""
        return self.server_id.hex

    def __str__(self) -> str:
        return self.text


def _normalise(value: object, field: str) -> str:
    stripped = require_text(value, field, "SMGW ID", "Die SMGW-ID", _EXAMPLE)
    compact = without_whitespace(stripped)
    upper = compact.upper() if compact.isascii() else ""
    if _FORM.fullmatch(upper):
        return upper
    digits = hex_digits(stripped)
    if digits is not None and digits.lower().startswith("0a"):
        return SmgwId.from_hex(stripped, field).text
    raise _text_error(stripped, upper, field)


def _text_error(stripped: str, upper: str, field: str) -> InvalidValue:
    shown = quote(stripped)
    m = _ATTEMPT.fullmatch(upper)
    if m is None:
        en = "may only contain letters and digits in the order E, 3 letters, 10 digits"
        de = "darf nur Buchstaben und Ziffern in der Reihenfolge E, 3 Buchstaben, 10 Ziffern"
        de += " enthalten"
    elif m[1] != "E":
        if m[1].isdigit():
            en = (
                f"starts with the meter medium digit {m[1]!r} instead of 'E' (communication "
                f"device), so it is probably a meter's server ID"
            )
            de = (
                f"beginnt mit der Zählersparte {m[1]!r} statt 'E' (Kommunikationsgerät) und "
                f"ist daher wohl die Server-ID eines Zählers"
            )
        else:
            en = f"starts with {m[1]!r}; an SMGW ID starts with 'E'"
            de = f"beginnt mit {m[1]!r}; eine SMGW-ID beginnt mit 'E'"
    elif len(m[2]) != 3:
        en = f"has a {len(m[2])}-letter manufacturer code {m[2]!r} instead of 3 letters"
        de = f"hat eine Herstellerkennung aus {len(m[2])} statt 3 Buchstaben ({m[2]!r})"
    else:
        n = len(m[3])
        en = (
            f"has {n} digits after the manufacturer code instead of 10 "
            f"(2-digit production block + 8-digit serial)"
        )
        de = (
            f"hat {n} statt 10 Ziffern nach der Herstellerkennung "
            f"(2 Ziffern Fabrikationsblock + 8 Ziffern Seriennummer)"
        )
    return invalid(
        field,
        f"SMGW ID {shown} {en}. A valid SMGW ID looks like '{_EXAMPLE}' "
        f"(on labels 'E THE03 00186023').",
        f"SMGW-ID {shown} {de}. Eine gültige SMGW-ID sieht so aus: '{_EXAMPLE}' "
        f"(auf Etiketten 'E THE03 00186023').",
    )


def _hex_error(shown: str, field: str, en: str, de: str) -> InvalidValue:
    return invalid(
        field,
        f"SMGW ID {quote(shown)} {en}. A valid SMGW ID looks like '{_EXAMPLE}', in hex "
        f"'{_HEX_EXAMPLE}' (type 0A, medium 0E).",
        f"SMGW-ID {quote(shown)} {de}. Eine gültige SMGW-ID sieht so aus: '{_EXAMPLE}', "
        f"hexadezimal '{_HEX_EXAMPLE}' (Typ 0A, Sparte 0E).",
    )
