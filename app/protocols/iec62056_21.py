"""IEC 62056-21 (formerly IEC 61107) optical readout, modes A, B and C; sans-I/O.

Message formats (IEC 62056-21:2002 ch. 6.3), all 7-bit ASCII sent at 7E1:

* request (*Anforderungstelegramm*): ``/ ? [device address] ! CR LF``
* identification (*Kennungstelegramm*): ``/ XXX Z [\\W ...] ident CR LF`` - ``XXX`` the
  manufacturer's FLAG letters (a lower-case third letter allows 20 ms instead of 200 ms reaction
  time), ``Z`` the baud rate character (``0``-``6`` mode C, ``A``-``I`` mode B, anything else
  mode A), ``\\W`` enhanced capability characters (``\\2`` = binary HDLC, mode E)
* acknowledgement/option select (*Quittierungs-/Optionsauswahltelegramm*, mode C):
  ``ACK V Z Y CR LF`` - ``V`` protocol control, ``Z`` baud rate, ``Y`` mode (``0`` readout,
  ``1`` programming)
* data message (*Datentelegramm*): ``STX data-lines ! CR LF ETX BCC``; data sets
  ``address(value*unit)``, several value groups per address (``0.0.0(12345678)(ABC)``) and
  several data sets per line are allowed. ``BCC`` is the XOR of every byte after STX (or SOH)
  up to and including ETX.
* break (*Abbruch*): ``SOH B 0 ETX BCC``

Mode A stays at 300 Bd and the meter sends its data right after the identification; in mode B
both sides switch to the identification's baud rate without acknowledgement; in mode C the
client chooses the baud rate in the acknowledgement. :class:`Iec62056Session` (client) and
:class:`Iec62056MeterSession` (meter) return *actions* - bytes to send, serial settings, waits
and timeouts as data - and never touch a port or a clock themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Final

from app.domain import Obis
from app.errors import InvalidValue, Text

__all__ = [
    "ACK",
    "ETX",
    "MODE_B_BAUD",
    "MODE_C_BAUD",
    "NAK",
    "SOH",
    "STX",
    "Expect",
    "Failed",
    "Finished",
    "Iec62056Error",
    "Iec62056MeterSession",
    "Iec62056Session",
    "IecAck",
    "IecDataBlock",
    "IecDataSet",
    "IecIdentification",
    "IecReadout",
    "IecValue",
    "Send",
    "SerialSettings",
    "SessionState",
    "SetSerial",
    "Wait",
    "bcc",
    "build_ack",
    "build_break",
    "build_identification",
    "build_request",
    "encode_data_block",
    "parse_ack",
    "parse_data_block",
    "parse_identification",
    "parse_request",
]

SOH: Final = 0x01
STX: Final = 0x02
ETX: Final = 0x03
EOT: Final = 0x04
ACK: Final = 0x06
NAK: Final = 0x15
CRLF: Final = b"\r\n"

MODE_C_BAUD: Final[dict[str, int]] = {
    "0": 300,
    "1": 600,
    "2": 1200,
    "3": 2400,
    "4": 4800,
    "5": 9600,
    "6": 19200,
}
MODE_B_BAUD: Final[dict[str, int]] = {
    "A": 600,
    "B": 1200,
    "C": 2400,
    "D": 4800,
    "E": 9600,
    "F": 19200,
}
_MODE_B_RESERVED: Final = "GHI"
INITIAL_BAUD: Final = 300
REACTION_TIME: Final = 0.2  # t_r minimum, seconds
SHORT_REACTION_TIME: Final = 0.02  # with a lower-case third manufacturer letter
MAX_REACTION_TIME: Final = 1.5  # t_r maximum and inactivity time-out t_a

_ADDRESS_RE: Final = re.compile(r"[0-9A-Za-z ]{0,32}")
_PRINTABLE: Final = re.compile(r"[\x20-\x7e]*")
_STRIP_PARITY: Final = bytes(i & 0x7F for i in range(256))


class Iec62056Error(InvalidValue):
    """Received IEC 62056-21 bytes do not have the required form (or a session failed)."""

    def __init__(self, en: str, de: str, *, kind: str = "format") -> None:
        super().__init__(
            Text(en, de),
            field="iec62056_21",
            hint=Text(
                "Check the read head position and that the meter's optical interface uses "
                "IEC 62056-21 (300 Bd 7E1), then read again.",
                "Lage des Lesekopfs prüfen und ob die optische Schnittstelle des Zählers "
                "IEC 62056-21 spricht (300 Bd 7E1), dann erneut lesen.",
            ),
        )
        self.kind = kind


def _ascii(data: bytes | bytearray | memoryview) -> str:
    """Bytes as text with the parity bit removed (ports opened 8N1 deliver it)."""
    return bytes(data).translate(_STRIP_PARITY).decode("ascii")


def bcc(data: bytes | bytearray | memoryview) -> int:
    """Block check character: XOR of all bytes (7-bit when the input is 7-bit)."""
    value = 0
    for b in bytes(data):
        value ^= b
    return value


# --- request ------------------------------------------------------------------------------


def build_request(address: str = "") -> bytes:
    """Sign-on request ``/?!\\r\\n``, or ``/?<address>!\\r\\n`` for one meter on a bus."""
    if not _ADDRESS_RE.fullmatch(address):
        raise InvalidValue(
            Text(
                f"Device address {address!r} is not valid: up to 32 characters 0-9, A-Z, a-z "
                "or space.",
                f"Geräteadresse {address!r} ist ungültig: bis zu 32 Zeichen 0-9, A-Z, a-z "
                "oder Leerzeichen.",
            ),
            field="device_address",
            hint=Text(
                "Leave it empty for the optical interface.",
                "Für die optische Schnittstelle leer lassen.",
            ),
        )
    return f"/?{address}!\r\n".encode("ascii")


def parse_request(data: bytes) -> str:
    """The device address of a request message (empty for ``/?!``)."""
    text = _ascii(data)
    if not (text.startswith("/?") and text.endswith("!\r\n")):
        raise Iec62056Error(
            f"Not a request message: {text!r} (expected '/?!\\r\\n').",
            f"Keine Anforderung: {text!r} (erwartet '/?!\\r\\n').",
        )
    address = text[2:-3]
    if not _ADDRESS_RE.fullmatch(address):
        raise Iec62056Error(
            f"Request carries an invalid device address {address!r}.",
            f"Anforderung enthält eine ungültige Geräteadresse {address!r}.",
        )
    return address


# --- identification -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IecIdentification:
    """Identification message ``/XXXZ\\Wident``."""

    manufacturer: str
    baud_char: str
    ident: str
    enhanced: tuple[str, ...] = ()

    @property
    def mode(self) -> str:
        """``"C"``, ``"B"`` or ``"A"``, told by the baud rate character."""
        if self.baud_char in MODE_C_BAUD:
            return "C"
        if self.baud_char in MODE_B_BAUD or self.baud_char in _MODE_B_RESERVED:
            return "B"
        return "A"

    @property
    def baud(self) -> int:
        """Mode C: highest baud rate offered; mode B: the data baud rate; mode A: 300."""
        return MODE_C_BAUD.get(self.baud_char) or MODE_B_BAUD.get(self.baud_char) or 300

    @property
    def short_reaction_time(self) -> bool:
        """A lower-case third manufacturer letter: 20 ms minimum reaction time."""
        return self.manufacturer[2].islower()

    @property
    def reaction_time(self) -> float:
        return SHORT_REACTION_TIME if self.short_reaction_time else REACTION_TIME

    @property
    def flag(self) -> str:
        """Manufacturer FLAG code in upper case (``ISk`` -> ``ISK``)."""
        return self.manufacturer.upper()

    @property
    def supports_hdlc(self) -> bool:
        """``\\2``: the meter also speaks binary HDLC (mode E, IEC 62056-46)."""
        return "2" in self.enhanced

    def to_bytes(self) -> bytes:
        enhanced = "".join("\\" + w for w in self.enhanced)
        return f"/{self.manufacturer}{self.baud_char}{enhanced}{self.ident}\r\n".encode("ascii")


def parse_identification(data: bytes) -> IecIdentification:
    """Parse ``/XXXZ<ident>\\r\\n`` (leading bytes before ``/`` are ignored)."""
    text = _ascii(data)
    start = text.find("/")
    if start == -1 or not text.endswith("\r\n"):
        raise Iec62056Error(
            f"Not an identification message: {text!r} (expected '/XXXZident' + CR LF).",
            f"Kein Kennungstelegramm: {text!r} (erwartet '/XXXZKennung' + CR LF).",
        )
    body = text[start + 1 : -2]
    if len(body) < 4 or not body[:3].isalpha() or not body[:3].isascii():
        raise Iec62056Error(
            f"Identification {body!r} does not start with three manufacturer letters and a "
            "baud rate character.",
            f"Kennung {body!r} beginnt nicht mit drei Herstellerbuchstaben und einem "
            "Baudratenzeichen.",
        )
    manufacturer, baud_char, rest = body[:3], body[3], body[4:]
    if baud_char in "/!" or not _PRINTABLE.fullmatch(rest):
        raise Iec62056Error(
            f"Identification {body!r} contains invalid characters.",
            f"Kennung {body!r} enthält ungültige Zeichen.",
        )
    enhanced: list[str] = []
    while len(rest) >= 2 and rest[0] == "\\":
        enhanced.append(rest[1])
        rest = rest[2:]
    return IecIdentification(manufacturer, baud_char, rest, tuple(enhanced))


def build_identification(
    manufacturer: str, baud_char: str, ident: str, enhanced: Sequence[str] = ()
) -> bytes:
    """Identification message as a meter sends it."""
    if len(manufacturer) != 3 or not manufacturer.isalpha() or not manufacturer.isascii():
        raise ValueError("manufacturer must be three ASCII letters")
    if len(baud_char) != 1 or baud_char in "/!":
        raise ValueError("baud_char must be one character other than '/' and '!'")
    return IecIdentification(manufacturer, baud_char, ident, tuple(enhanced)).to_bytes()


# --- acknowledgement / option select --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IecAck:
    """Acknowledgement/option select ``ACK V Z Y``."""

    baud_char: str
    mode_char: str = "0"
    protocol_char: str = "0"

    @property
    def baud(self) -> int | None:
        return MODE_C_BAUD.get(self.baud_char)

    @property
    def readout(self) -> bool:
        return self.mode_char == "0"

    def to_bytes(self) -> bytes:
        return bytes((ACK,)) + f"{self.protocol_char}{self.baud_char}{self.mode_char}\r\n".encode(
            "ascii"
        )


def build_ack(baud_char: str = "0", mode_char: str = "0", protocol_char: str = "0") -> bytes:
    """``ACK 0 Z 0 CR LF`` (data readout at the baud rate of ``Z``)."""
    for name, ch in (("baud", baud_char), ("mode", mode_char), ("protocol", protocol_char)):
        if len(ch) != 1 or not ch.isdigit():
            raise ValueError(f"{name} character must be one digit, got {ch!r}")
    return IecAck(baud_char, mode_char, protocol_char).to_bytes()


def parse_ack(data: bytes) -> IecAck:
    """Parse an acknowledgement/option select message."""
    raw = bytes(data).translate(_STRIP_PARITY)
    if len(raw) != 6 or raw[0] != ACK or raw[4:] != CRLF:
        raise Iec62056Error(
            f"Not an acknowledgement/option select message: {raw!r}.",
            f"Kein Quittierungs-/Optionsauswahltelegramm: {raw!r}.",
        )
    v, z, y = (chr(b) for b in raw[1:4])
    return IecAck(baud_char=z, mode_char=y, protocol_char=v)


def build_break() -> bytes:
    """Break message ``SOH B 0 ETX BCC``: ends the session."""
    body = b"B0\x03"
    return bytes((SOH,)) + body + bytes((bcc(body),))


# --- data message -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IecValue:
    """One ``(value*unit)`` group."""

    value: str
    unit: str | None = None

    @property
    def number(self) -> Decimal | None:
        """The value as a number, or None if it is not numeric (dates, IDs, text)."""
        try:
            number = Decimal(self.value)
        except (InvalidOperation, ValueError):
            return None
        return number if number.is_finite() else None

    def encode(self) -> str:
        return f"({self.value}*{self.unit})" if self.unit else f"({self.value})"


@dataclass(frozen=True, slots=True)
class IecDataSet:
    """A data set: address (OBIS, usually reduced: ``1.8.0``) and one or more values."""

    address: str
    values: tuple[IecValue, ...]

    @property
    def obis(self) -> Obis | None:
        """The address as an OBIS code (A-B default 1-0), None if it is not one."""
        try:
            return Obis.parse(self.address, default_ab=(1, 0))
        except InvalidValue:
            return None

    @property
    def value(self) -> IecValue | None:
        return self.values[0] if self.values else None

    def encode(self) -> str:
        return self.address + "".join(v.encode() for v in self.values)


@dataclass(frozen=True, slots=True)
class IecDataBlock:
    """A data message. ``complete`` is False for a partial block (ended by EOT)."""

    datasets: tuple[IecDataSet, ...]
    bcc_ok: bool
    complete: bool = True
    raw: bytes = field(default=b"", compare=False, repr=False)

    def get(self, address: str) -> IecDataSet | None:
        """The first data set with this exact address or OBIS code."""
        wanted = _try_obis(address)
        for ds in self.datasets:
            if ds.address == address or (wanted is not None and ds.obis == wanted):
                return ds
        return None


def _try_obis(text: str) -> Obis | None:
    try:
        return Obis.parse(text, default_ab=(1, 0))
    except InvalidValue:
        return None


def _parse_line(line: str, lineno: int) -> list[IecDataSet]:
    """One data line: ``addr(v*u)(v)addr2(v)...``."""
    sets: list[IecDataSet] = []
    pos = 0
    n = len(line)
    while pos < n:
        open_at = line.find("(", pos)
        if open_at == -1:
            raise Iec62056Error(
                f"Data line {lineno} {line!r}: text after the last value has no '('.",
                f"Datenzeile {lineno} {line!r}: Text nach dem letzten Wert ohne '('.",
            )
        address = line[pos:open_at].strip()
        values: list[IecValue] = []
        pos = open_at
        while pos < n and line[pos] == "(":
            close_at = line.find(")", pos + 1)
            if close_at == -1:
                raise Iec62056Error(
                    f"Data line {lineno} {line!r}: '(' without ')'.",
                    f"Datenzeile {lineno} {line!r}: '(' ohne ')'.",
                )
            inner = line[pos + 1 : close_at]
            value, star, unit = inner.partition("*")
            values.append(IecValue(value, unit if star and unit else None))
            pos = close_at + 1
        sets.append(IecDataSet(address, tuple(values)))
    return sets


def parse_data_block(data: bytes, *, strict: bool = True) -> IecDataBlock:
    """Parse ``STX lines ! CR LF ETX BCC``.

    Bytes before STX are ignored. A BCC mismatch raises :class:`Iec62056Error` (kind
    ``"bcc"``) when ``strict``; otherwise the block is returned with ``bcc_ok`` False.
    """
    raw = bytes(data).translate(_STRIP_PARITY)
    stx = raw.find(bytes((STX,)))
    if stx == -1:
        raise Iec62056Error(
            "Data message has no STX.", "Datentelegramm ohne STX.", kind="incomplete"
        )
    end = -1
    for i in range(stx + 1, len(raw)):
        if raw[i] in (ETX, EOT):
            end = i
            break
    if end == -1 or end + 1 >= len(raw):
        raise Iec62056Error(
            "Data message ends before ETX and BCC.",
            "Datentelegramm endet vor ETX und BCC.",
            kind="incomplete",
        )
    complete = raw[end] == ETX
    expected = bcc(raw[stx + 1 : end + 1])
    received = raw[end + 1]
    bcc_ok = expected == received
    if strict and not bcc_ok:
        raise Iec62056Error(
            f"Data message BCC is {received:02x}, computed {expected:02x}: transmission error.",
            f"BCC des Datentelegramms ist {received:02x}, berechnet {expected:02x}: "
            "Übertragungsfehler.",
            kind="bcc",
        )
    text = raw[stx + 1 : end].decode("ascii")
    lines = text.replace("\r\n", "\n").split("\n")
    datasets: list[IecDataSet] = []
    ended = False
    for lineno, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped == "!":
            ended = True
            break
        datasets.extend(_parse_line(stripped, lineno))
    if complete and not ended and strict:
        raise Iec62056Error(
            "Data message lacks the end line '!'.",
            "Datentelegramm fehlt die Endezeile '!'.",
            kind="incomplete",
        )
    return IecDataBlock(tuple(datasets), bcc_ok, complete, raw[stx : end + 2])


def encode_data_block(datasets: Iterable[IecDataSet | str]) -> bytes:
    """``STX`` + one line per data set + ``!`` CR LF + ``ETX`` + BCC."""
    lines = [ds if isinstance(ds, str) else ds.encode() for ds in datasets]
    body = ("".join(line + "\r\n" for line in lines) + "!\r\n").encode("ascii") + bytes((ETX,))
    return bytes((STX,)) + body + bytes((bcc(body),))


# --- session actions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Port settings; IEC 62056-21 uses 7 data bits, even parity, 1 stop bit."""

    baud: int
    bytesize: int = 7
    parity: str = "E"
    stopbits: int = 1


@dataclass(frozen=True, slots=True)
class SetSerial:
    """Change the port settings once everything sent before has left the port."""

    settings: SerialSettings


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes


@dataclass(frozen=True, slots=True)
class Wait:
    """Pause before carrying out the next action."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Expect:
    """Wait for input: call ``on_timeout()`` after ``timeout`` seconds without a byte."""

    what: str
    timeout: float


@dataclass(frozen=True, slots=True)
class Finished:
    readout: IecReadout


@dataclass(frozen=True, slots=True)
class Failed:
    error: Iec62056Error


Action = SetSerial | Send | Wait | Expect | Finished | Failed


@dataclass(frozen=True, slots=True)
class IecReadout:
    """Result of a readout session."""

    identification: IecIdentification
    block: IecDataBlock
    baud: int
    baud_switch_refused: bool = False


class SessionState(Enum):
    """Where a client or meter session stands."""

    IDLE = "idle"
    AWAIT_IDENTIFICATION = "await_identification"
    AWAIT_DATA = "await_data"
    DRAIN = "drain"  # waiting for a meter that refused the baud switch to fall silent
    AWAIT_ACK = "await_ack"  # meter side
    DONE = "done"
    FAILED = "failed"


def _serial(baud: int) -> SetSerial:
    return SetSerial(SerialSettings(baud))


class Iec62056Session:
    """Client side of a readout (mode C with or without baud switch, mode A, mode B).

    Call :meth:`start`, then :meth:`receive` with every byte read and :meth:`on_timeout` when
    an :class:`Expect` timed out; carry out the returned actions in order. The mode follows
    from the meter's identification. In mode C a meter that ignores the requested baud rate
    (no data, or only garbage at the new rate) is read again at 300 Bd after it fell silent
    (``baud_switch_refused`` in the result).
    """

    GARBAGE_LIMIT: Final = 64

    def __init__(
        self,
        *,
        address: str = "",
        baud_switch: bool = True,
        max_baud: int = 19200,
        identification_timeout: float = 2.0,
        data_timeout: float = 3.0,
        drain_timeout: float = 2.0,
        reaction_delay: float = 0.25,
        max_size: int = 64 * 1024,
    ) -> None:
        self.request = build_request(address)
        self.baud_switch = baud_switch
        self.max_baud = max_baud
        self.identification_timeout = identification_timeout
        self.data_timeout = data_timeout
        self.drain_timeout = drain_timeout
        self.reaction_delay = reaction_delay
        self.max_size = max_size
        self.state = SessionState.IDLE
        self.identification: IecIdentification | None = None
        self.readout: IecReadout | None = None
        self.error: Iec62056Error | None = None
        self.baud_switch_refused = False
        self._data_baud = INITIAL_BAUD
        self._buf = bytearray()
        self._scan = 0  # where to continue looking for ETX/EOT

    def start(self) -> list[Action]:
        """Open at 300 Bd 7E1 and send the request."""
        self._buf.clear()
        self._scan = 0
        self.state = SessionState.AWAIT_IDENTIFICATION
        return [
            _serial(INITIAL_BAUD),
            Send(self.request),
            Expect("identification", self.identification_timeout),
        ]

    def receive(self, data: bytes) -> list[Action]:
        """Bytes read from the port (any split; a parity bit from an 8N1 port is removed)."""
        if self.state in (SessionState.DONE, SessionState.FAILED, SessionState.IDLE):
            return []
        if self.state is SessionState.DRAIN:
            return [Expect("silence", self.drain_timeout)]
        self._buf += bytes(data).translate(_STRIP_PARITY)
        if len(self._buf) > self.max_size:
            return self._fail(
                Iec62056Error(
                    f"More than {self.max_size} bytes without a complete message.",
                    f"Mehr als {self.max_size} Bytes ohne vollständiges Telegramm.",
                    kind="overflow",
                )
            )
        if self.state is SessionState.AWAIT_IDENTIFICATION:
            return self._on_identification_bytes()
        return self._on_data_bytes()

    def on_timeout(self) -> list[Action]:
        """The last :class:`Expect` saw no byte for its ``timeout``."""
        if self.state is SessionState.AWAIT_IDENTIFICATION:
            return self._fail(
                Iec62056Error(
                    "The meter did not answer the sign-on request.",
                    "Der Zähler hat auf die Anforderung nicht geantwortet.",
                    kind="timeout",
                )
            )
        if self.state is SessionState.AWAIT_DATA:
            if self._data_baud != INITIAL_BAUD and not self.baud_switch_refused:
                return self._fall_back()
            return self._fail(
                Iec62056Error(
                    "The meter stopped sending before the data message was complete.",
                    "Der Zähler hat vor Ende des Datentelegramms aufgehört zu senden.",
                    kind="timeout",
                )
            )
        if self.state is SessionState.DRAIN:
            self._buf.clear()
            self._scan = 0
            self.state = SessionState.AWAIT_IDENTIFICATION
            return [Send(self.request), Expect("identification", self.identification_timeout)]
        return []

    # internals

    def _fail(self, error: Iec62056Error) -> list[Action]:
        self.state = SessionState.FAILED
        self.error = error
        return [Failed(error)]

    def _fall_back(self) -> list[Action]:
        self.baud_switch_refused = True
        self._buf.clear()
        self._scan = 0
        self.state = SessionState.DRAIN
        return [_serial(INITIAL_BAUD), Expect("silence", self.drain_timeout)]

    def _on_identification_bytes(self) -> list[Action]:
        start = self._buf.find(b"/")
        if start == -1:
            self._buf.clear()
            return []
        end = self._buf.find(CRLF, start)
        if end == -1:
            return []
        line = bytes(self._buf[start : end + 2])
        del self._buf[: end + 2]
        self._scan = 0
        try:
            ident = parse_identification(line)
        except Iec62056Error as exc:
            return self._fail(exc)
        self.identification = ident
        self.state = SessionState.AWAIT_DATA
        actions: list[Action] = []
        if ident.mode == "C":
            baud_char = "0"
            if self.baud_switch and not self.baud_switch_refused:
                offered = ident.baud
                candidates = [c for c, b in MODE_C_BAUD.items() if b <= min(offered, self.max_baud)]
                baud_char = max(candidates, key=lambda c: MODE_C_BAUD[c])
            self._data_baud = MODE_C_BAUD[baud_char]
            actions += [
                Wait(max(self.reaction_delay, ident.reaction_time)),
                Send(build_ack(baud_char)),
            ]
            if self._data_baud != INITIAL_BAUD:
                actions.append(_serial(self._data_baud))
        elif ident.mode == "B":
            self._data_baud = ident.baud
            actions.append(_serial(self._data_baud))
        else:
            self._data_baud = INITIAL_BAUD
        actions.append(Expect("data", self.data_timeout))
        return actions + self._on_data_bytes()

    def _on_data_bytes(self) -> list[Action]:
        buf = self._buf
        stx = buf.find(STX)
        if stx == -1:
            if (
                len(buf) > self.GARBAGE_LIMIT
                and self._data_baud != INITIAL_BAUD
                and not self.baud_switch_refused
            ):
                return self._fall_back()
            return []
        start = max(stx + 1, self._scan)
        ends = [i for i in (buf.find(ETX, start), buf.find(EOT, start)) if i != -1]
        if not ends:
            self._scan = len(buf)
            return []
        end = min(ends)
        if end + 1 >= len(buf):  # BCC not yet received
            self._scan = end
            return []
        try:
            block = parse_data_block(bytes(buf[stx : end + 2]))
        except Iec62056Error as exc:
            return self._fail(exc)
        assert self.identification is not None
        self.readout = IecReadout(
            self.identification, block, self._data_baud, self.baud_switch_refused
        )
        self.state = SessionState.DONE
        return [Finished(self.readout)]


class Iec62056MeterSession:
    """Meter side for a virtual meter: answers the sign-on, the option select and sends its
    data set list. With ``accept_baud_switch=False`` it ignores the requested baud rate and
    answers at 300 Bd, as some field meters do."""

    def __init__(
        self,
        datasets: Sequence[IecDataSet | str],
        *,
        manufacturer: str = "EMH",
        ident: str = "eHZ-VIRTUAL",
        baud_char: str = "5",
        address: str = "",
        accept_baud_switch: bool = True,
        reaction_time: float = REACTION_TIME,
    ) -> None:
        self.identification = parse_identification(
            build_identification(manufacturer, baud_char, ident)
        )
        self.datasets = list(datasets)
        self.address = address
        self.accept_baud_switch = accept_baud_switch
        self.reaction_time = reaction_time
        self.state = SessionState.IDLE
        self._buf = bytearray()

    def data_message(self) -> bytes:
        """The readout this meter sends."""
        return encode_data_block(self.datasets)

    def receive(self, data: bytes) -> list[Action]:
        """Bytes the meter's optical receiver got."""
        self._buf += bytes(data).translate(_STRIP_PARITY)
        actions: list[Action] = []
        while True:
            end = self._buf.find(CRLF)
            if end == -1:
                if len(self._buf) > 256:
                    del self._buf[:-2]
                return actions
            line = bytes(self._buf[: end + 2])
            del self._buf[: end + 2]
            actions += self._on_line(line)

    def on_timeout(self) -> list[Action]:
        """Inactivity time-out: back to waiting for a request at 300 Bd."""
        self._buf.clear()
        was_idle = self.state is SessionState.IDLE
        self.state = SessionState.IDLE
        return [] if was_idle else [_serial(INITIAL_BAUD)]

    def _on_line(self, line: bytes) -> list[Action]:
        start = line.find(b"/?")
        if start != -1:
            try:
                address = parse_request(line[start:])
            except Iec62056Error:
                return []
            if address and address.lstrip("0") != self.address.lstrip("0"):
                return []
            return self._answer_request()
        if self.state is SessionState.AWAIT_ACK and ACK in line:
            try:
                ack = parse_ack(line[line.index(ACK) :])
            except Iec62056Error:
                return []
            return self._answer_ack(ack)
        return []

    def _answer_request(self) -> list[Action]:
        ident = self.identification
        actions: list[Action] = [Wait(self.reaction_time), Send(ident.to_bytes())]
        if ident.mode == "C":
            self.state = SessionState.AWAIT_ACK
            actions.append(Expect("acknowledgement", MAX_REACTION_TIME))
            return actions
        self.state = SessionState.IDLE
        if ident.mode == "B":
            return actions + [
                Wait(self.reaction_time),
                _serial(ident.baud),
                Send(self.data_message()),
                _serial(INITIAL_BAUD),
            ]
        return actions + [Send(self.data_message())]

    def _answer_ack(self, ack: IecAck) -> list[Action]:
        self.state = SessionState.IDLE
        if not ack.readout:
            return [Send(bytes((NAK,)))]
        actions: list[Action] = [Wait(self.reaction_time)]
        requested = ack.baud
        switch = (
            self.accept_baud_switch
            and requested is not None
            and requested != INITIAL_BAUD
            and requested <= self.identification.baud
        )
        if switch and requested is not None:
            return actions + [
                _serial(requested),
                Send(self.data_message()),
                _serial(INITIAL_BAUD),
            ]
        return actions + [Send(self.data_message())]
