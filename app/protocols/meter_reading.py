"""Meter identity and readings taken over the optical interface (SML or IEC 62056-21).

Values: :attr:`Reading.value` is a :class:`~decimal.Decimal` equal to ``raw x 10^scaler``
(exact, no binary rounding: ``6074471`` with scaler -1 is ``Decimal("607447.1")``); it is None
for values that are not numbers (text, octet strings such as a server ID or public key).
:attr:`Reading.raw` keeps the value as received (SML: int, bytes or bool; IEC: the text
between the brackets including the unit). Units are symbols from the DLMS unit table
(``"Wh"``, ``"W"``, ``"V"``...); IEC readouts in ``kWh``/``kW``/``kvarh``... are converted to the
base unit (value x 1000) so that both sources compare directly.

Only SML messages whose own CRC verified contribute readings and identity, so a frame whose
file CRC failed may still contribute the messages that arrived intact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from app.domain import Obis, ServerId, ServerIdKind
from app.errors import InvalidValue
from app.protocols.iec62056_21 import IecDataBlock, IecIdentification
from app.protocols.sml import (
    CrcVariant,
    SmlCounters,
    SmlError,
    SmlFrameResult,
    SmlGetListResponse,
    SmlOpenResponse,
    SmlStreamDecoder,
    unit_symbol,
)

__all__ = [
    "FrameReadings",
    "MeterDump",
    "MeterIdentity",
    "MeterSnapshot",
    "Reading",
    "decode_dump",
    "identity_from_iec",
    "identity_from_sml",
    "merge_identities",
    "read_dump",
    "readings_from_iec",
    "readings_from_sml",
    "snapshot_from_iec",
    "snapshot_from_sml",
]

OBIS_DEVICE_ID: Final = bytes.fromhex("0100000009ff")  # 1-0:0.0.9*255
OBIS_SERVER_ID_96: Final = bytes.fromhex("0100600100ff")  # 1-0:96.1.0*255
OBIS_MANUFACTURER: Final = bytes.fromhex("8181c78203ff")  # 129-129:199.130.3*255
OBIS_MANUFACTURER_96: Final = bytes.fromhex("010060320101")  # 1-0:96.50.1*1
OBIS_PUBLIC_KEY: Final = bytes.fromhex("8181c78205ff")  # 129-129:199.130.5*255
OBIS_FIRMWARE: Final = bytes.fromhex("0100000200ff")  # 1-0:0.2.0*255

_SI_PREFIX: Final = {"k": 3, "M": 6, "G": 9}
_BASE_UNITS: Final = {"Wh", "W", "varh", "var", "VAh", "VA", "V", "A", "Hz"}


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    """Who the meter is: server ID, manufacturer FLAG, public key (SML meters of the smart
    metering system), firmware or type string."""

    server_id: ServerId | None = None
    manufacturer: str | None = None
    public_key: bytes | None = None
    firmware: str | None = None

    def merged(self, other: MeterIdentity) -> MeterIdentity:
        """Fields of ``self``, gaps filled from ``other``."""
        return MeterIdentity(
            self.server_id or other.server_id,
            self.manufacturer or other.manufacturer,
            self.public_key or other.public_key,
            self.firmware or other.firmware,
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "server_id": self.server_id.hex if self.server_id else None,
            "server_id_text": self.server_id.text if self.server_id else None,
            "manufacturer": self.manufacturer,
            "public_key": self.public_key.hex() if self.public_key else None,
        }


@dataclass(frozen=True, slots=True)
class Reading:
    """One value: OBIS code, scaled value, unit symbol, value as received."""

    obis: Obis
    value: Decimal | None
    unit: str | None = None
    raw: Any = None
    status: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "obis": self.obis.hex,
            "value": _json_number(self.value),
            "unit": self.unit,
            "raw": _json_raw(self.raw),
        }


@dataclass(frozen=True, slots=True)
class MeterSnapshot:
    """Identity and readings of one telegram or readout."""

    identity: MeterIdentity
    readings: tuple[Reading, ...]
    source: str  # "sml" or "iec62056-21"
    crc_ok: bool = True

    def get(self, obis: Obis | str) -> Reading | None:
        """The first reading for ``obis`` (an :class:`Obis` or its hex/notation)."""
        wanted = obis if isinstance(obis, Obis) else Obis.parse(obis)
        return next((r for r in self.readings if r.obis == wanted), None)

    def value(self, obis: Obis | str) -> Decimal | None:
        reading = self.get(obis)
        return reading.value if reading else None


def _json_number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _json_raw(raw: Any) -> Any:
    if isinstance(raw, bytes | bytearray):
        return bytes(raw).hex()
    if isinstance(raw, list | tuple):
        return [_json_raw(v) for v in raw]
    if raw is None or isinstance(raw, bool | int | str):
        return raw
    return str(raw)


def _scaled(raw: Any, scaler: int | None) -> Decimal | None:
    if type(raw) is not int:
        return None
    return Decimal(raw).scaleb(scaler or 0)


def _server_id(raw: Any) -> ServerId | None:
    if not isinstance(raw, bytes) or not raw:
        return None
    try:
        return ServerId.from_bytes(raw)
    except InvalidValue:
        return None


def _text(raw: Any) -> str | None:
    if not isinstance(raw, bytes) or not raw:
        return None
    text = raw.decode("latin-1").strip("\x00 ")
    return text if text.isprintable() and text else None


# --- SML --------------------------------------------------------------------------------------


def _sml_readings(frame: SmlFrameResult) -> tuple[list[Reading], list[SmlError]]:
    readings: list[Reading] = []
    problems: list[SmlError] = []
    for message in frame.messages:
        if message.crc_variant is None or not isinstance(message.body, SmlGetListResponse):
            continue
        for entry in message.body.entries:
            if len(entry.obj_name) != 6:
                problems.append(
                    SmlError(
                        message.offset,
                        "structure",
                        f"list entry objName {entry.obj_name.hex()} is not a 6-byte OBIS "
                        "code; entry skipped",
                    )
                )
                continue
            raw = entry.value
            readings.append(
                Reading(
                    obis=Obis.from_bytes(entry.obj_name),
                    value=_scaled(raw, entry.scaler),
                    unit=unit_symbol(entry.unit),
                    raw=raw,
                    status=entry.status,
                )
            )
    return readings, problems


def readings_from_sml(frame: SmlFrameResult) -> list[Reading]:
    """Readings of the frame's verified GetListResponses, in telegram order."""
    return _sml_readings(frame)[0]


def identity_from_sml(frame: SmlFrameResult) -> MeterIdentity:
    """Server ID (OpenResponse, GetListResponse, 1-0:0.0.9, 1-0:96.1.0), manufacturer
    (129-129:199.130.3, else 1-0:96.50.1*1), public key (129-129:199.130.5), firmware
    (1-0:0.2.0)."""
    server: ServerId | None = None
    by_obis: dict[bytes, Any] = {}
    for message in frame.messages:
        if message.crc_variant is None:
            continue
        body = message.body
        if isinstance(body, SmlOpenResponse | SmlGetListResponse) and server is None:
            server = _server_id(body.server_id)
        if isinstance(body, SmlGetListResponse):
            for entry in body.entries:
                by_obis.setdefault(entry.obj_name, entry.value)
    if server is None:
        server = _server_id(by_obis.get(OBIS_DEVICE_ID)) or _server_id(
            by_obis.get(OBIS_SERVER_ID_96)
        )
    manufacturer = _text(by_obis.get(OBIS_MANUFACTURER)) or _text(by_obis.get(OBIS_MANUFACTURER_96))
    key = by_obis.get(OBIS_PUBLIC_KEY)
    return MeterIdentity(
        server_id=server,
        manufacturer=manufacturer,
        public_key=key if isinstance(key, bytes) and key else None,
        firmware=_text(by_obis.get(OBIS_FIRMWARE)),
    )


def snapshot_from_sml(frame: SmlFrameResult) -> MeterSnapshot:
    return MeterSnapshot(
        identity_from_sml(frame),
        tuple(readings_from_sml(frame)),
        "sml",
        frame.crc_ok,
    )


@dataclass(frozen=True, slots=True)
class FrameReadings:
    """What one SML file of a dump contributed."""

    offset: int
    crc_ok: bool
    crc_variant: CrcVariant | None
    server_id: bytes | None
    readings: tuple[Reading, ...]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "crc_ok": self.crc_ok,
            "server_id": self.server_id.hex() if self.server_id else None,
            "readings": [r.to_json_dict() for r in self.readings],
        }


@dataclass(frozen=True, slots=True)
class MeterDump:
    """Everything decoded from raw bytes read at an SML meter's optical interface."""

    identity: MeterIdentity
    frames: tuple[FrameReadings, ...]
    errors: tuple[SmlError, ...]
    counters: SmlCounters

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON contract of ``smgwct meter decode``::

        {"identity": {"server_id", "server_id_text", "manufacturer", "public_key"},
         "frames": [{"crc_ok", "server_id", "readings": [{"obis", "value", "unit", "raw"}]}],
         "errors": [{"offset", "kind", "detail"}]}

        Hex is lower case without separators; ``value`` is a JSON number (int when whole).
        """
        return {
            "identity": self.identity.to_json_dict(),
            "frames": [f.to_json_dict() for f in self.frames],
            "errors": [e.to_json_dict() for e in self.errors],
        }


def read_dump(data: bytes) -> MeterDump:
    """Decode a capture (any bytes; never raises). Errors are sorted by stream offset."""
    decoder = SmlStreamDecoder(max_errors=None)
    frames = decoder.feed(data)
    decoder.flush()
    errors: list[SmlError] = list(decoder.errors)
    identity = MeterIdentity()
    results: list[FrameReadings] = []
    for frame in frames:
        identity = identity.merged(identity_from_sml(frame))
        readings, problems = _sml_readings(frame)
        errors.extend(problems)
        results.append(
            FrameReadings(
                frame.offset, frame.crc_ok, frame.crc_variant, frame.server_id, tuple(readings)
            )
        )
    errors.sort(key=lambda e: e.offset)
    return MeterDump(identity, tuple(results), tuple(errors), decoder.counters)


def decode_dump(data: bytes) -> dict[str, Any]:
    """``read_dump(data).to_json_dict()``: what ``smgwct meter decode`` prints."""
    return read_dump(data).to_json_dict()


# --- IEC 62056-21 -----------------------------------------------------------------------------


def _normalise_unit(unit: str | None, value: Decimal | None) -> tuple[str | None, Decimal | None]:
    if not unit:
        return None, value
    if unit in _BASE_UNITS:
        return unit, value
    prefix, rest = unit[0], unit[1:]
    if prefix in _SI_PREFIX and rest in _BASE_UNITS:
        scaled = value.scaleb(_SI_PREFIX[prefix]) if value is not None else None
        return rest, scaled
    return unit, value


def readings_from_iec(block: IecDataBlock) -> list[Reading]:
    """One reading per data set whose address is an OBIS code (first value group)."""
    readings: list[Reading] = []
    for ds in block.datasets:
        obis = ds.obis
        first = ds.value
        if obis is None or first is None:
            continue
        unit, value = _normalise_unit(first.unit, first.number)
        raw = first.value + (f"*{first.unit}" if first.unit else "")
        readings.append(Reading(obis=obis, value=value, unit=unit, raw=raw))
    return readings


def identity_from_iec(
    block: IecDataBlock, identification: IecIdentification | None = None
) -> MeterIdentity:
    """Manufacturer from the identification message, the identification string as firmware
    (it names type and version), server ID from 1-0:0.0.9, 1-0:96.1.0 or 1-0:0.0.0 when it
    is a DIN 43863-5 text or hex."""
    server: ServerId | None = None
    for address in ("1-0:0.0.9", "1-0:96.1.0", "1-0:0.0.0"):
        ds = block.get(address)
        if ds is None or ds.value is None:
            continue
        text = ds.value.value.strip()
        for parse in (ServerId.parse, ServerId.from_hex):
            try:
                candidate = parse(text)
            except InvalidValue:
                continue
            if candidate.kind is not ServerIdKind.OTHER:  # a serial number is no server ID
                server = candidate
                break
        if server is not None:
            break
    return MeterIdentity(
        server_id=server,
        manufacturer=identification.flag if identification else None,
        firmware=identification.ident if identification else None,
    )


def snapshot_from_iec(
    block: IecDataBlock, identification: IecIdentification | None = None
) -> MeterSnapshot:
    return MeterSnapshot(
        identity_from_iec(block, identification),
        tuple(readings_from_iec(block)),
        "iec62056-21",
        block.bcc_ok,
    )


def merge_identities(identities: Iterable[MeterIdentity]) -> MeterIdentity:
    """The first known value of each field."""
    result = MeterIdentity()
    for identity in identities:
        result = result.merged(identity)
    return result
