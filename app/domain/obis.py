"""OBIS code (*OBIS-Kennzahl*, IEC 62056-61 / IEC 62056-6-1): six value groups ``A-B:C.D.E*F``.

Accepted notations:

* hex, one byte per group: ``0100010800ff`` (also ``01 00 01 08 00 FF``, ``0x...``);
* full: ``1-0:1.8.0*255``, ``1-0:1.8.0`` (F = 255), ``1-0:1.8.0&1`` (``&`` = ``*``);
* dotted six groups as in DLMS logical names: ``1.0.1.8.0.255``;
* reduced (IEC 62056-21 readouts): ``1.8.0``, ``1.8.0*255``, ``C.1.0``, ``F.F`` (E = 0),
  only when the caller supplies A and B via ``default_ab``.

In groups C and D the letters ``C``, ``F``, ``L``, ``P`` stand for 96, 97, 98, 99
(service entries, error messages, lists, profiles); ``F.F`` is the error register 97.97.0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from app.domain._parsing import hex_digits, invalid, quote, require_text
from app.errors import Text

__all__ = ["Obis"]

_EXAMPLE = "1-0:1.8.0*255"
_GROUPS = "ABCDEF"
_LETTERS = {"C": 96, "F": 97, "L": 98, "P": 99}

_G = r"([0-9]{1,3}|[CFLP])"  # group C or D: number or letter
_N = r"([0-9]{1,3})"
_F = r"(?:[*&]([0-9]{1,3}))?"
_FULL = re.compile(rf"{_N}-{_N}:{_G}\.{_G}\.{_N}{_F}")
_DOTTED = re.compile(rf"{_N}\.{_N}\.{_N}\.{_N}\.{_N}\.{_N}")
_REDUCED = re.compile(rf"{_G}\.{_G}(?:\.{_N})?{_F}")


@dataclass(frozen=True, order=True)
class Obis:
    """An OBIS code; ``Obis(1, 0, 1, 8, 0)`` has F = 255. Ordered by its six values."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = 255

    IMPORT_TOTAL: ClassVar[Obis]
    IMPORT_T1: ClassVar[Obis]
    IMPORT_T2: ClassVar[Obis]
    EXPORT_TOTAL: ClassVar[Obis]
    EXPORT_T1: ClassVar[Obis]
    EXPORT_T2: ClassVar[Obis]
    POWER_TOTAL: ClassVar[Obis]
    POWER_L1: ClassVar[Obis]
    POWER_L2: ClassVar[Obis]
    POWER_L3: ClassVar[Obis]
    VOLTAGE_L1: ClassVar[Obis]
    VOLTAGE_L2: ClassVar[Obis]
    VOLTAGE_L3: ClassVar[Obis]
    CURRENT_L1: ClassVar[Obis]
    CURRENT_L2: ClassVar[Obis]
    CURRENT_L3: ClassVar[Obis]
    FREQUENCY: ClassVar[Obis]
    DEVICE_ID: ClassVar[Obis]
    METER_ID: ClassVar[Obis]
    MANUFACTURER_ID: ClassVar[Obis]
    PUBLIC_KEY: ClassVar[Obis]

    def __post_init__(self) -> None:
        for name, value in zip(_GROUPS, self.values, strict=True):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
                raise invalid(
                    "obis",
                    f"OBIS group {name} is {value!r}; each of the six groups is a number "
                    f"from 0 to 255, as in '{_EXAMPLE}'.",
                    f"OBIS-Gruppe {name} ist {value!r}; jede der sechs Gruppen ist eine Zahl "
                    f"von 0 bis 255, wie in '{_EXAMPLE}'.",
                )

    # construction ------------------------------------------------------------------------

    @classmethod
    def parse(
        cls,
        text: str,
        field: str = "obis",
        *,
        default_ab: tuple[int, int] | None = None,
    ) -> Obis:
        """Hex (``0100010800ff``) or notation (``1-0:1.8.0*255``, ``1-0:1.8.0``).

        Reduced codes without A and B (``1.8.0``, ``C.1.0``, ``F.F``) need ``default_ab``,
        e.g. ``(1, 0)`` for an electricity meter's readout.
        """
        stripped = require_text(text, field, "OBIS code", "Die OBIS-Kennzahl", _EXAMPLE)
        if "." not in stripped:
            return cls._parse_hex(stripped, field)
        compact = stripped.replace(" ", "")
        if m := _FULL.fullmatch(compact):
            return cls._from_groups(compact, m.groups(), field)
        if m := _DOTTED.fullmatch(compact):
            return cls._from_groups(compact, m.groups(), field)
        if m := _REDUCED.fullmatch(compact):
            c, d, e, f = m.groups()
            if default_ab is None:
                full = f"1-0:{_LETTERS.get(c, c)}.{_LETTERS.get(d, d)}.{e or 0}"
                full += f"*{f}" if f is not None else ""
                raise invalid(
                    field,
                    f"OBIS code {quote(stripped)} lacks medium and channel (A-B:); "
                    f"write it in full, e.g. '{full}' for an electricity meter.",
                    f"OBIS-Kennzahl {quote(stripped)} fehlen Medium und Kanal (A-B:); "
                    f"bitte vollständig angeben, z. B. '{full}' bei einem Stromzähler.",
                )
            groups = (str(default_ab[0]), str(default_ab[1]), c, d, e or "0", f)
            return cls._from_groups(compact, groups, field)
        raise invalid(
            field,
            f"OBIS code {quote(stripped)} is not in the form A-B:C.D.E*F; expected e.g. "
            f"'{_EXAMPLE}', '1-0:1.8.0' or the hex form '0100010800ff'.",
            f"OBIS-Kennzahl {quote(stripped)} hat nicht die Form A-B:C.D.E*F; erwartet z. B. "
            f"'{_EXAMPLE}', '1-0:1.8.0' oder die Hex-Form '0100010800ff'.",
        )

    @classmethod
    def from_bytes(cls, raw: bytes | bytearray | memoryview, field: str = "obis") -> Obis:
        """The six bytes of an OBIS code as carried in SML and COSEM."""
        if not isinstance(raw, bytes | bytearray | memoryview) or len(raw) != 6:
            size = len(raw) if isinstance(raw, bytes | bytearray | memoryview) else None
            got_en = f"{size} bytes" if size is not None else type(raw).__name__
            got_de = f"{size} Bytes" if size is not None else type(raw).__name__
            raise invalid(
                field,
                f"OBIS code has {got_en}; it needs exactly 6 bytes, e.g. 01 00 01 08 00 FF.",
                f"OBIS-Kennzahl hat {got_de}; nötig sind genau 6 Bytes, z. B. 01 00 01 08 00 FF.",
            )
        return cls(*bytes(raw))

    @classmethod
    def _parse_hex(cls, stripped: str, field: str) -> Obis:
        digits = hex_digits(stripped)
        if digits is None or len(digits) != 12:
            count = f"{len(digits)} hex digits" if digits is not None else "non-hex characters"
            count_de = f"{len(digits)} Hex-Ziffern" if digits is not None else "Nicht-Hex-Zeichen"
            raise invalid(
                field,
                f"OBIS code {quote(stripped)} has {count}; expected 12 hex digits like "
                f"'0100010800ff' or the notation '{_EXAMPLE}'.",
                f"OBIS-Kennzahl {quote(stripped)} enthält {count_de}; erwartet werden 12 "
                f"Hex-Ziffern wie '0100010800ff' oder die Schreibweise '{_EXAMPLE}'.",
            )
        return cls.from_bytes(bytes.fromhex(digits), field)

    @classmethod
    def _from_groups(cls, shown: str, groups: tuple[str | None, ...], field: str) -> Obis:
        values = []
        for name, group in zip(_GROUPS, groups, strict=True):
            if group is None:  # F omitted
                values.append(255)
                continue
            value = _LETTERS[group] if group in _LETTERS else int(group)
            if value > 255:
                raise invalid(
                    field,
                    f"OBIS code {quote(shown)} has {value} in group {name}; each group is "
                    f"0 to 255, as in '{_EXAMPLE}'.",
                    f"OBIS-Kennzahl {quote(shown)} hat {value} in Gruppe {name}; jede Gruppe "
                    f"liegt zwischen 0 und 255, wie in '{_EXAMPLE}'.",
                )
            values.append(value)
        return cls(*values)

    # forms -----------------------------------------------------------------------------------

    @property
    def values(self) -> tuple[int, int, int, int, int, int]:
        return (self.a, self.b, self.c, self.d, self.e, self.f)

    @property
    def raw(self) -> bytes:
        return bytes(self.values)

    def to_bytes(self) -> bytes:
        return self.raw

    @property
    def hex(self) -> str:
        """12 lower-case hex digits, the form used in XML and JSON: ``0100010800ff``."""
        return self.raw.hex()

    @property
    def notation(self) -> str:
        """``1-0:1.8.0*255``."""
        return f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}*{self.f}"

    @property
    def short(self) -> str:
        """C.D.E as on meter displays: ``1.8.0``; ``*F`` is added when F is not 255."""
        base = f"{self.c}.{self.d}.{self.e}"
        return base if self.f == 255 else f"{base}*{self.f}"

    @property
    def name(self) -> Text | None:
        """English and German description for well-known codes; None otherwise."""
        return _NAMES.get(self.values)

    def __str__(self) -> str:
        return self.notation


def _name(en: str, de: str) -> Text:
    return Text(en=en, de=de)


_PHASES = ("L1", "L2", "L3")
_NAMES: dict[tuple[int, ...], Text] = {
    (1, 0, 1, 8, 0, 255): _name("Active energy import, total", "Wirkarbeit Bezug, gesamt"),
    (1, 0, 1, 8, 1, 255): _name("Active energy import, tariff 1", "Wirkarbeit Bezug, Tarif 1"),
    (1, 0, 1, 8, 2, 255): _name("Active energy import, tariff 2", "Wirkarbeit Bezug, Tarif 2"),
    (1, 0, 2, 8, 0, 255): _name(
        "Active energy export, total", "Wirkarbeit Lieferung (Einspeisung), gesamt"
    ),
    (1, 0, 2, 8, 1, 255): _name(
        "Active energy export, tariff 1", "Wirkarbeit Lieferung (Einspeisung), Tarif 1"
    ),
    (1, 0, 2, 8, 2, 255): _name(
        "Active energy export, tariff 2", "Wirkarbeit Lieferung (Einspeisung), Tarif 2"
    ),
    (1, 0, 16, 7, 0, 255): _name(
        "Current active power, sum of phases", "Momentane Wirkleistung, Summe der Phasen"
    ),
    (1, 0, 14, 7, 0, 255): _name("Grid frequency", "Netzfrequenz"),
    (1, 0, 0, 0, 9, 255): _name("Device ID (server ID)", "Geräte-ID (Server-ID)"),
    (1, 0, 96, 1, 0, 255): _name("Meter number (device ID)", "Zählernummer (Geräte-ID)"),
    (0, 0, 96, 1, 0, 255): _name("Device ID 1", "Geräte-ID 1"),
    (1, 0, 96, 5, 0, 255): _name("Operating status", "Betriebszustand"),
    (0, 0, 97, 97, 0, 255): _name("Error register", "Fehlerregister"),
    (1, 0, 97, 97, 0, 255): _name("Error register", "Fehlerregister"),
    (1, 0, 0, 2, 0, 0): _name("Firmware version", "Firmware-Version"),
    (129, 129, 199, 130, 3, 255): _name("Manufacturer ID", "Herstelleridentifikation"),
    (129, 129, 199, 130, 5, 255): _name("Meter public key", "Öffentlicher Schlüssel des Zählers"),
    # seen in SML telegrams of several vendors; meaning set by the manufacturer
    (1, 0, 96, 50, 1, 1): _name(
        "Manufacturer code (manufacturer-specific)", "Herstellerkennung (herstellerspezifisch)"
    ),
    (1, 0, 96, 50, 1, 4): _name(
        "Hardware version (manufacturer-specific)", "Hardware-Version (herstellerspezifisch)"
    ),
    (1, 0, 96, 50, 4, 4): _name(
        "Parameter version (manufacturer-specific)", "Parameterversion (herstellerspezifisch)"
    ),
    (1, 0, 96, 90, 2, 1): _name(
        "Firmware checksum (manufacturer-specific)", "Firmware-Prüfsumme (herstellerspezifisch)"
    ),
    (1, 0, 97, 97, 0, 0): _name(
        "Status register (manufacturer-specific)", "Statusregister (herstellerspezifisch)"
    ),
}
for _i, _phase in enumerate(_PHASES):
    _NAMES[(1, 0, 36 + 20 * _i, 7, 0, 255)] = _name(
        f"Current active power {_phase}", f"Momentane Wirkleistung {_phase}"
    )
    _NAMES[(1, 0, 32 + 20 * _i, 7, 0, 255)] = _name(f"Voltage {_phase}", f"Spannung {_phase}")
    _NAMES[(1, 0, 31 + 20 * _i, 7, 0, 255)] = _name(f"Current {_phase}", f"Strom {_phase}")


Obis.IMPORT_TOTAL = Obis(1, 0, 1, 8, 0)
Obis.IMPORT_T1 = Obis(1, 0, 1, 8, 1)
Obis.IMPORT_T2 = Obis(1, 0, 1, 8, 2)
Obis.EXPORT_TOTAL = Obis(1, 0, 2, 8, 0)
Obis.EXPORT_T1 = Obis(1, 0, 2, 8, 1)
Obis.EXPORT_T2 = Obis(1, 0, 2, 8, 2)
Obis.POWER_TOTAL = Obis(1, 0, 16, 7, 0)
Obis.POWER_L1 = Obis(1, 0, 36, 7, 0)
Obis.POWER_L2 = Obis(1, 0, 56, 7, 0)
Obis.POWER_L3 = Obis(1, 0, 76, 7, 0)
Obis.VOLTAGE_L1 = Obis(1, 0, 32, 7, 0)
Obis.VOLTAGE_L2 = Obis(1, 0, 52, 7, 0)
Obis.VOLTAGE_L3 = Obis(1, 0, 72, 7, 0)
Obis.CURRENT_L1 = Obis(1, 0, 31, 7, 0)
Obis.CURRENT_L2 = Obis(1, 0, 51, 7, 0)
Obis.CURRENT_L3 = Obis(1, 0, 71, 7, 0)
Obis.FREQUENCY = Obis(1, 0, 14, 7, 0)
Obis.DEVICE_ID = Obis(1, 0, 0, 0, 9)
Obis.METER_ID = Obis(1, 0, 96, 1, 0)
Obis.MANUFACTURER_ID = Obis(129, 129, 199, 130, 3)
Obis.PUBLIC_KEY = Obis(129, 129, 199, 130, 5)
