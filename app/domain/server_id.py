"""Meter server ID (*Server-ID*, *Herstellerübergreifende Identifikationsnummer*).

Forms, told apart by the first byte of the binary (hex) form:

=====  =====================  ===========================================================
type   kind                   layout (bytes)
=====  =====================  ===========================================================
``0A`` DIN 43863-5:2012-01    type, medium, FLAG (3 ASCII), block (0-99), serial (u32 BE)
``09`` DIN 43863-5:2010-07    type, medium, FLAG (3 ASCII), block (BCD), serial (u32 BE)
``06`` DIN 43863-5:2010-02    type, FLAG (3 ASCII), 6-byte big-endian number whose 13
                              decimal digits are medium, year (2), block (2), serial (8)
``01`` wireless M-Bus         type, manufacturer (2, LE), ident (4 BCD, LE), version, device
``02`` wired M-Bus            type, ident (4 BCD, LE), manufacturer (2, LE), version, device
=====  =====================  ===========================================================

The DIN text form is ``<medium><FLAG><block><serial>`` (``1EMH0012345678``), shown as
``1 EMH00 12345678``. The layouts of ``09`` and ``06`` follow PTB's display software TRuDI
(``ServerId.cs``); no other public source describes them. Anything else (e.g. ``05`` Ethernet
MAC, or octet strings that do not fit their type's layout) is kept as opaque bytes of kind
:attr:`ServerIdKind.OTHER`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from app.domain._parsing import hex_digits, invalid, quote, require_text, without_whitespace
from app.errors import InvalidValue

__all__ = ["ServerId", "ServerIdKind"]

_EXAMPLE = "1 EMH00 12345678"
_HEX_EXAMPLE = "0a01454d480000bc614e"
_MAX_BYTES = 64

_DIN_2012_TEXT = re.compile(r"([0-9E])([A-Z]{3})([0-9]{2})([0-9]{8})")
_DIN_2010_02_TEXT = re.compile(r"([0-9])([A-Z]{3})([0-9]{2})([0-9]{2})([0-9]{8})")
_DIN_LIKE = re.compile(r"([0-9A-Z])([A-Z]*)([0-9]*)")
_DIN_TEXT_ATTEMPT = re.compile(r"[0-9E][A-Z]{3}[0-9]*")

# M-Bus device type (EN 13757-3) -> DIN/OBIS medium digit
_MBUS_DEVICE_MEDIUM = {
    0x02: 1,  # electricity
    0x08: 4,  # heat cost allocator
    0x0A: 5,  # cooling (outlet)
    0x0B: 5,  # cooling (inlet)
    0x04: 6,  # heat (outlet)
    0x0C: 6,  # heat (inlet)
    0x0D: 6,  # heat / cooling
    0x03: 7,  # gas
    0x07: 8,  # water
    0x16: 8,  # cold water
    0x17: 8,  # dual water
    0x06: 9,  # warm water
}


class ServerIdKind(Enum):
    """Which standard a server ID follows (first byte of the binary form)."""

    DIN_2012 = "DIN 43863-5:2012-01"
    DIN_2010_07 = "DIN 43863-5:2010-07"
    DIN_2010_02 = "DIN 43863-5:2010-02"
    WIRELESS_MBUS = "wireless M-Bus"
    WIRED_MBUS = "wired M-Bus"
    OTHER = "other"


_TYPE_BYTES = {
    0x0A: ServerIdKind.DIN_2012,
    0x09: ServerIdKind.DIN_2010_07,
    0x06: ServerIdKind.DIN_2010_02,
    0x01: ServerIdKind.WIRELESS_MBUS,
    0x02: ServerIdKind.WIRED_MBUS,
}
_TYPE_LENGTHS = {0x0A: 10, 0x09: 10, 0x06: 10, 0x01: 9, 0x02: 9}
_OTHER_TYPE_NAMES = {0x05: "Ethernet MAC address"}


@dataclass(frozen=True, slots=True)
class _Fields:
    kind: ServerIdKind
    medium: int | None = None
    manufacturer: str | None = None
    block: int | None = None
    serial: int | None = None
    year: int | None = None
    version: int | None = None
    device_type: int | None = None


_OTHER = _Fields(ServerIdKind.OTHER)


def _medium_char(medium: int) -> str:
    return "E" if medium == 0x0E else str(medium)


def _is_flag(raw: bytes) -> bool:
    return len(raw) == 3 and all(0x41 <= b <= 0x5A for b in raw)


def _bcd_le(raw: bytes) -> int | None:
    """Little-endian BCD bytes as an int; None when a nibble is above 9."""
    digits = raw[::-1].hex()
    return int(digits) if digits.isdigit() else None


def _mbus_manufacturer(lo: int, hi: int) -> str | None:
    value = lo | hi << 8
    letters = [(value >> shift) & 0x1F for shift in (10, 5, 0)]
    if value & 0x8000 or not all(1 <= v <= 26 for v in letters):
        return None
    return "".join(chr(v + 64) for v in letters)


def _mbus_manufacturer_bytes(code: str) -> bytes:
    value = 0
    for ch in code:
        value = value << 5 | (ord(ch) - 64)
    return value.to_bytes(2, "little")


def _decode(raw: bytes) -> _Fields | tuple[str, str]:
    """The fields of ``raw``, or (English, German) why it does not fit its type's layout."""
    type_byte = raw[0]
    kind = _TYPE_BYTES.get(type_byte)
    if kind is None:
        return (
            f"type byte {type_byte:02X} is not a known server ID type",
            f"Typ-Byte {type_byte:02X} ist kein bekannter Server-ID-Typ",
        )
    expected = _TYPE_LENGTHS[type_byte]
    if len(raw) != expected:
        return (
            f"has {len(raw)} bytes; type {type_byte:02X} ({kind.value}) has {expected}",
            f"hat {len(raw)} Bytes; Typ {type_byte:02X} ({kind.value}) hat {expected}",
        )
    if type_byte in (0x0A, 0x09):
        return _decode_din_2012_or_2010_07(raw, kind)
    if type_byte == 0x06:
        return _decode_din_2010_02(raw)
    return _decode_mbus(raw, kind)


def _decode_din_2012_or_2010_07(raw: bytes, kind: ServerIdKind) -> _Fields | tuple[str, str]:
    medium = raw[1]
    if medium > 9 and medium != 0x0E:
        return (
            f"medium byte {medium:02X} is not 00-09 or 0E",
            f"Sparten-Byte {medium:02X} ist nicht 00-09 oder 0E",
        )
    if not _is_flag(raw[2:5]):
        return _BAD_FLAG
    block_hex = f"{raw[5]:02x}"
    if kind is ServerIdKind.DIN_2012:
        block = raw[5] if raw[5] <= 99 else None
    else:  # 2010-07 prints the block byte as two hex digits (BCD), see TRuDI
        block = int(block_hex) if block_hex.isdigit() else None
    if block is None:
        return (
            f"production block byte {block_hex.upper()} is not a 2-digit number",
            f"Fabrikationsblock-Byte {block_hex.upper()} ist keine 2-stellige Zahl",
        )
    serial = int.from_bytes(raw[6:10], "big")
    if serial > 99_999_999:
        return (
            f"serial {serial} has more than 8 digits",
            f"Seriennummer {serial} hat mehr als 8 Ziffern",
        )
    return _Fields(kind, medium, raw[2:5].decode("ascii"), block, serial)


def _decode_din_2010_02(raw: bytes) -> _Fields | tuple[str, str]:
    if not _is_flag(raw[1:4]):
        return _BAD_FLAG
    number = int.from_bytes(raw[4:10], "big")
    if number >= 10**13:
        return (
            f"number {number} has more than 13 digits",
            f"Nummer {number} hat mehr als 13 Ziffern",
        )
    digits = f"{number:013d}"
    return _Fields(
        ServerIdKind.DIN_2010_02,
        medium=int(digits[0]),
        manufacturer=raw[1:4].decode("ascii"),
        year=int(digits[1:3]),
        block=int(digits[3:5]),
        serial=int(digits[5:]),
    )


def _decode_mbus(raw: bytes, kind: ServerIdKind) -> _Fields | tuple[str, str]:
    # wireless: manufacturer before ident; wired: the other way round
    if kind is ServerIdKind.WIRELESS_MBUS:
        manufacturer, ident = _mbus_manufacturer(raw[1], raw[2]), _bcd_le(raw[3:7])
    else:
        ident, manufacturer = _bcd_le(raw[1:5]), _mbus_manufacturer(raw[5], raw[6])
    if manufacturer is None:
        return (
            "manufacturer bytes do not encode three letters A-Z",
            "Herstellerbytes ergeben keine drei Buchstaben A-Z",
        )
    if ident is None:
        return (
            "identification number is not BCD (digits 0-9 only)",
            "Identnummer ist nicht BCD-codiert (nur Ziffern 0-9)",
        )
    return _Fields(
        kind,
        medium=_MBUS_DEVICE_MEDIUM.get(raw[8]),
        manufacturer=manufacturer,
        serial=ident,
        version=raw[7],
        device_type=raw[8],
    )


_BAD_FLAG = (
    "manufacturer bytes are not three ASCII letters A-Z",
    "Herstellerbytes sind keine drei ASCII-Buchstaben A-Z",
)


class ServerId:
    """A meter's server ID; equal when the binary forms are equal.

    Build it with :meth:`parse` (DIN text or hex), :meth:`from_hex` or :meth:`from_bytes`.
    """

    __slots__ = ("_fields", "_raw")

    _raw: bytes
    _fields: _Fields

    def __init__(self, raw: bytes) -> None:
        """Wrap ``raw`` leniently (like :meth:`from_bytes`)."""
        decoded = ServerId.from_bytes(raw)
        object.__setattr__(self, "_raw", decoded._raw)
        object.__setattr__(self, "_fields", decoded._fields)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ServerId is immutable")

    @classmethod
    def _make(cls, raw: bytes, fields: _Fields) -> ServerId:
        obj = object.__new__(cls)
        object.__setattr__(obj, "_raw", raw)
        object.__setattr__(obj, "_fields", fields)
        return obj

    # construction ------------------------------------------------------------------------

    @classmethod
    def from_bytes(cls, raw: bytes | bytearray | memoryview, field: str = "server_id") -> ServerId:
        """Any octet string received as a server ID (SML, XML, HAN).

        Forms that do not fit a known layout are kept as kind OTHER, so no peer value is lost.
        Only empty, overlong or non-bytes input raises :class:`InvalidValue`.
        """
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise invalid(
                field,
                f"Server ID must be bytes, not {type(raw).__name__}.",
                f"Die Server-ID muss als Bytes vorliegen, nicht als {type(raw).__name__}.",
            )
        data = bytes(raw)
        if not data:
            raise invalid(
                field,
                f"Server ID is empty; expected e.g. 10 bytes like 0a01454d480000bc614e "
                f"({_EXAMPLE}).",
                f"Die Server-ID ist leer; erwartet werden z. B. 10 Bytes wie "
                f"0a01454d480000bc614e ({_EXAMPLE}).",
            )
        if len(data) > _MAX_BYTES:
            raise invalid(
                field,
                f"Server ID has {len(data)} bytes; a server ID has at most {_MAX_BYTES} "
                f"(usually 10, e.g. 0a01454d480000bc614e).",
                f"Die Server-ID hat {len(data)} Bytes; eine Server-ID hat höchstens "
                f"{_MAX_BYTES} (meist 10, z. B. 0a01454d480000bc614e).",
            )
        decoded = _decode(data)
        return cls._make(data, decoded if isinstance(decoded, _Fields) else _OTHER)

    @classmethod
    def from_hex(cls, text: str, field: str = "server_id") -> ServerId:
        """Hex form (spaces, colons, ``0x`` allowed); unknown layouts become kind OTHER."""
        stripped = require_text(text, field, "Server ID", "Die Server-ID", _HEX_EXAMPLE)
        digits = hex_digits(stripped)
        if digits is None:
            raise invalid(
                field,
                f"Server ID {quote(stripped)} is not hexadecimal; expected hex digits like "
                f"'{_HEX_EXAMPLE}'.",
                f"Server-ID {quote(stripped)} ist nicht hexadezimal; erwartet werden "
                f"Hex-Ziffern wie '{_HEX_EXAMPLE}'.",
            )
        problem = _hex_problem(digits, strict=False)
        if problem is not None:
            raise _hex_error(stripped, problem, field)
        return cls.from_bytes(bytes.fromhex(digits), field)

    @classmethod
    def parse(cls, text: str, field: str = "server_id", *, strict: bool = True) -> ServerId:
        """DIN text (``1 EMH00 12345678``, ``1emh0012345678``) or hex (``0a01454d...``).

        Case and spaces do not matter; hex may carry spaces, colons or ``0x``. With ``strict``
        (the default, for typed input) a hex value must fit one of the known layouts;
        ``strict=False`` keeps anything else as kind OTHER like :meth:`from_hex`.
        """
        stripped = require_text(text, field, "Server ID", "Die Server-ID", _EXAMPLE)
        compact = without_whitespace(stripped)
        upper = compact.upper() if compact.isascii() else ""
        if m := _DIN_2012_TEXT.fullmatch(upper):
            return cls._from_din_2012(m)
        if m := _DIN_2010_02_TEXT.fullmatch(upper):
            return cls._from_din_2010_02(m)
        digits = hex_digits(stripped)
        if digits is not None:
            problem = _hex_problem(digits, strict=strict)
            if problem is None:
                return cls.from_bytes(bytes.fromhex(digits), field)
            # e.g. "1ABC001234567": all hex digits, but meant as DIN text
            if not _DIN_TEXT_ATTEMPT.fullmatch(upper):
                raise _hex_error(stripped, problem, field)
        raise cls._text_error(stripped, upper, field)

    # parse helpers -------------------------------------------------------------------------

    @classmethod
    def _from_din_2012(cls, m: re.Match[str]) -> ServerId:
        medium = 0x0E if m[1] == "E" else int(m[1])
        raw = (
            bytes([0x0A, medium])
            + m[2].encode("ascii")
            + bytes([int(m[3])])
            + int(m[4]).to_bytes(4, "big")
        )
        return cls.from_bytes(raw)

    @classmethod
    def _from_din_2010_02(cls, m: re.Match[str]) -> ServerId:
        number = int(m[1] + m[3] + m[4] + m[5])
        return cls.from_bytes(b"\x06" + m[2].encode("ascii") + number.to_bytes(6, "big"))

    @staticmethod
    def _text_error(stripped: str, upper: str, field: str) -> InvalidValue:
        shown = quote(stripped)
        m = _DIN_LIKE.fullmatch(upper)
        if m is None:
            return invalid(
                field,
                f"Server ID {shown} is neither DIN text nor hex; expected e.g. '{_EXAMPLE}' "
                f"(medium digit, 3-letter manufacturer code, 2-digit block, 8-digit serial) "
                f"or '0a01454d480000bc614e'.",
                f"Server-ID {shown} ist weder DIN-Text noch hexadezimal; erwartet z. B. "
                f"'{_EXAMPLE}' (Sparte, 3 Buchstaben Herstellerkennung, 2 Ziffern "
                f"Fabrikationsblock, 8 Ziffern Seriennummer) oder '0a01454d480000bc614e'.",
            )
        medium, flag, digits = m[1], m[2], m[3]
        if medium not in "0123456789E":
            return invalid(
                field,
                f"Server ID {shown} starts with {medium!r}; the first character is the "
                f"medium, 0-9 or E (e.g. 1 = electricity), as in '{_EXAMPLE}'.",
                f"Server-ID {shown} beginnt mit {medium!r}; das erste Zeichen ist die "
                f"Sparte, 0-9 oder E (z. B. 1 = Strom), wie in '{_EXAMPLE}'.",
            )
        if len(flag) != 3:
            return invalid(
                field,
                f"Server ID {shown} has a {len(flag)}-letter manufacturer code {flag!r}; "
                f"expected the medium digit and 3 letters, e.g. '{_EXAMPLE}'.",
                f"Server-ID {shown} hat eine Herstellerkennung aus {len(flag)} Buchstaben "
                f"({flag!r}); erwartet werden Sparte und 3 Buchstaben, z. B. '{_EXAMPLE}'.",
            )
        serial_digits = max(len(digits) - 2, 0)
        if len(digits) < 2:
            return invalid(
                field,
                f"Server ID {shown} lacks the 2-digit production block and the 8-digit "
                f"serial, e.g. '{_EXAMPLE}'.",
                f"Server-ID {shown} fehlen der 2-stellige Fabrikationsblock und die "
                f"8-stellige Seriennummer, z. B. '{_EXAMPLE}'.",
            )
        return invalid(
            field,
            f"Server ID {shown} has {serial_digits} serial digits; expected 8, e.g. '{_EXAMPLE}'.",
            f"Server-ID {shown} hat {serial_digits} Ziffern Seriennummer; erwartet werden 8, "
            f"z. B. '{_EXAMPLE}'.",
        )

    # properties ----------------------------------------------------------------------------

    @property
    def raw(self) -> bytes:
        """The binary form as carried in SML."""
        return self._raw

    @property
    def hex(self) -> str:
        """The binary form as lower-case hex without separators."""
        return self._raw.hex()

    @property
    def kind(self) -> ServerIdKind:
        return self._fields.kind

    @property
    def type_byte(self) -> int:
        return self._raw[0]

    @property
    def type_name(self) -> str:
        """Human-readable name of the form, also for unknown or malformed ones."""
        if self.kind is not ServerIdKind.OTHER:
            return self.kind.value
        tb = self.type_byte
        if tb in _TYPE_BYTES:
            return f"{_TYPE_BYTES[tb].value}, not decodable (type {tb:02X})"
        name = _OTHER_TYPE_NAMES.get(tb, "unknown")
        return f"{name} (type {tb:02X})"

    @property
    def manufacturer(self) -> str | None:
        """FLAG / M-Bus manufacturer code (3 letters), e.g. ``EMH``."""
        return self._fields.manufacturer

    @property
    def medium(self) -> int | None:
        """DIN medium digit (1 electricity, 7 gas, 14 = E communication, ...).

        For M-Bus derived from the device type; None where unknown.
        """
        return self._fields.medium

    @property
    def block(self) -> int | None:
        """Production block (*Fabrikationsblock*), DIN forms only."""
        return self._fields.block

    @property
    def serial(self) -> int | None:
        """Serial (*Fertigungsnummer*) or M-Bus identification number."""
        return self._fields.serial

    @property
    def production_year(self) -> int | None:
        """Two-digit production year, DIN 43863-5:2010-02 only."""
        return self._fields.year

    @property
    def version(self) -> int | None:
        """M-Bus version byte."""
        return self._fields.version

    @property
    def device_type(self) -> int | None:
        """M-Bus device type byte (02 electricity, 03 gas, 04 heat, 07 water, ...)."""
        return self._fields.device_type

    @property
    def text(self) -> str | None:
        """DIN 43863-5 text without spaces (``1EMH0012345678``); None for other forms."""
        f = self._fields
        if f.kind in (ServerIdKind.DIN_2012, ServerIdKind.DIN_2010_07):
            assert f.medium is not None and f.block is not None and f.serial is not None
            return f"{_medium_char(f.medium)}{f.manufacturer}{f.block:02d}{f.serial:08d}"
        if f.kind is ServerIdKind.DIN_2010_02:
            return f"{f.medium}{f.manufacturer}{f.year:02d}{f.block:02d}{f.serial:08d}"
        return None

    @property
    def display(self) -> str:
        """Form for people: ``1 EMH00 12345678``, ``EMH 12345678 (wireless M-Bus, ...)``."""
        f = self._fields
        if f.kind in (ServerIdKind.DIN_2012, ServerIdKind.DIN_2010_07):
            assert f.medium is not None
            return f"{_medium_char(f.medium)} {f.manufacturer}{f.block:02d} {f.serial:08d}"
        if f.kind is ServerIdKind.DIN_2010_02:
            return f"{f.medium} {f.manufacturer} {f.year:02d} {f.block:02d} {f.serial:08d}"
        if f.kind in (ServerIdKind.WIRELESS_MBUS, ServerIdKind.WIRED_MBUS):
            return (
                f"{f.manufacturer} {f.serial:08d} ({f.kind.value}, version {f.version:02X}, "
                f"device type {f.device_type:02X})"
            )
        return self.hex

    # value semantics -------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerId):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash((ServerId, self._raw))

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:
        if self.text is not None and self.kind is ServerIdKind.DIN_2012:
            return f"ServerId.parse({self.text!r})"
        return f"ServerId.from_hex({self.hex!r})"

    def __reduce__(self) -> tuple[object, tuple[bytes]]:
        return (ServerId, (self._raw,))

    @classmethod
    def for_mbus(
        cls,
        manufacturer: str,
        ident: int,
        version: int,
        device_type: int,
        *,
        wireless: bool = True,
    ) -> ServerId:
        """Build an M-Bus address (type 01 wireless or 02 wired) from its parts."""
        if not (
            len(manufacturer) == 3
            and manufacturer.isascii()
            and manufacturer.isupper()
            and manufacturer.isalpha()
        ):
            raise invalid(
                "manufacturer",
                f"M-Bus manufacturer {quote(manufacturer)} must be 3 letters A-Z, e.g. 'EMH'.",
                f"M-Bus-Hersteller {quote(manufacturer)} muss aus 3 Buchstaben A-Z bestehen, "
                f"z. B. 'EMH'.",
            )
        if not 0 <= ident <= 99_999_999:
            raise invalid(
                "ident",
                f"M-Bus identification number {ident} must have at most 8 digits.",
                f"M-Bus-Identnummer {ident} darf höchstens 8 Ziffern haben.",
            )
        if not (0 <= version <= 255 and 0 <= device_type <= 255):
            raise invalid(
                "version",
                "M-Bus version and device type must each be a byte (0-255).",
                "M-Bus-Version und Gerätetyp müssen je ein Byte sein (0-255).",
            )
        ident_le = bytes.fromhex(f"{ident:08d}")[::-1]
        man = _mbus_manufacturer_bytes(manufacturer)
        body = man + ident_le if wireless else ident_le + man
        return cls.from_bytes(
            bytes([0x01 if wireless else 0x02]) + body + bytes([version, device_type])
        )


def _hex_problem(digits: str, *, strict: bool) -> tuple[str, str] | None:
    """Why ``digits`` is not acceptable as a server ID, or None."""
    if len(digits) % 2:
        return (
            f"has {len(digits)} hex digits, an odd number (each byte needs two)",
            f"hat {len(digits)} Hex-Ziffern, eine ungerade Anzahl (jedes Byte braucht zwei)",
        )
    if len(digits) > 2 * _MAX_BYTES:
        return (
            f"has {len(digits) // 2} bytes; a server ID has at most {_MAX_BYTES}",
            f"hat {len(digits) // 2} Bytes; eine Server-ID hat höchstens {_MAX_BYTES}",
        )
    if strict:
        decoded = _decode(bytes.fromhex(digits))
        if isinstance(decoded, tuple):
            return decoded
    return None


def _hex_error(shown: str, problem: tuple[str, str], field: str) -> InvalidValue:
    return invalid(
        field,
        f"Server ID {quote(shown)}: {problem[0]}; expected the DIN text '{_EXAMPLE}', its hex "
        f"form '{_HEX_EXAMPLE}' (type 0A) or an M-Bus address like '01a815785634120102'.",
        f"Server-ID {quote(shown)}: {problem[1]}; erwartet wird der DIN-Text '{_EXAMPLE}', "
        f"seine Hex-Form '{_HEX_EXAMPLE}' (Typ 0A) oder eine M-Bus-Adresse wie "
        f"'01a815785634120102'.",
    )
