"""Optical interface link (*optische Schnittstelle*): read a meter through an IR read head.

German basic meters push SML telegrams on their INFO interface at 9600 Bd 8N1 (SML 1.04,
TR-03109-1 Anlage IV b); many other meters answer IEC 62056-21 mode C at 300 Bd 7E1 (sign-on,
identification, option select with baud rate switch, data message with BCC). :class:`OpticalLink`
reads either, or finds out which one the meter speaks (``protocol="auto"``: listen for the SML
escape sequence first, then sign on with IEC 62056-21).

The link is thin: bytes go through :class:`~app.transports.serial_ports.SerialChannel` (a reader
thread, no ``add_reader``), decoding is done by the sans-I/O codecs in :mod:`app.protocols`.
A noisy or misaligned head yields counted frame errors and the hint "align the read head" -
in the result's :class:`ReadStatus` when some telegrams came through, as an
:class:`OpticalReadError` when none did. The port is closed on every path, including
cancellation.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from app.domain import Obis
from app.errors import SmgwctError, Text
from app.protocols.iec62056_21 import (
    Expect,
    Failed,
    Finished,
    Iec62056Error,
    Iec62056Session,
    IecReadout,
    Send,
    SerialSettings,
    SetSerial,
    Wait,
)
from app.protocols.meter_reading import (
    MeterIdentity,
    MeterSnapshot,
    Reading,
    identity_from_sml,
    readings_from_sml,
    snapshot_from_iec,
)
from app.protocols.sml import SmlError, SmlFrameResult, SmlStreamDecoder
from app.transports.serial_ports import (
    SML_SETTINGS,
    SerialChannel,
    SerialLinkError,
    describe_settings,
)

__all__ = [
    "ALIGN_HINT",
    "IEC_SETTINGS",
    "FrameError",
    "FrameRecord",
    "OpticalLink",
    "OpticalReadError",
    "OpticalSnapshot",
    "ReadStatus",
    "public_key_fingerprint",
]

Protocol = Literal["auto", "sml", "iec"]
PROTOCOLS: Final = ("auto", "sml", "iec")

IEC_SETTINGS: Final = SerialSettings(300, 7, "E", 1)
"""IEC 62056-21 sign-on: 300 Bd 7E1."""

SOURCE_SML: Final = "sml"
SOURCE_IEC: Final = "iec62056-21"

ALIGN_HINT: Final = Text(
    "Align the read head: put it flat and centred on the meter's optical interface "
    "(the magnet holds it), keep cable and light away, then read again.",
    "Lesekopf ausrichten: flach und mittig auf die optische Schnittstelle des Zählers setzen "
    "(der Magnet hält ihn), Kabel und Fremdlicht fernhalten, dann erneut lesen.",
)
_BAUD_REFUSED: Final = Text(
    "The meter refused the baud rate switch; the data was read at 300 Bd.",
    "Der Zähler hat den Baudratenwechsel abgelehnt; die Daten wurden mit 300 Bd gelesen.",
)
_ESCAPE: Final = b"\x1b\x1b\x1b\x1b"
_MAX_FRAMES_KEPT: Final = 200
_MAX_ERRORS_KEPT: Final = 500
_POLL: Final = 0.25

FrameCallback = Callable[["OpticalSnapshot"], None]
StatusCallback = Callable[[Text], None]


def public_key_fingerprint(key: bytes) -> str:
    """SHA-256 of the meter's public key as 64 lower-case hex digits."""
    return hashlib.sha256(key).hexdigest()


# --- result -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrameError:
    """One problem on the line: ``offset`` in the received byte stream (SML) or 0 (IEC)."""

    offset: int
    kind: str
    detail: str

    @classmethod
    def from_sml(cls, error: SmlError) -> FrameError:
        return cls(error.offset, error.kind, error.detail)

    def to_json_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One SML file or IEC data message as received."""

    offset: int
    crc_ok: bool
    server_id: bytes | None
    readings: tuple[Reading, ...]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "crc_ok": self.crc_ok,
            "server_id": self.server_id.hex() if self.server_id else None,
            "readings": [r.to_json_dict() for r in self.readings],
        }


@dataclass(frozen=True, slots=True)
class ReadStatus:
    """How the reading went: protocol and line settings, counters, hint for the technician.

    ``frames_ok`` counts intact telegrams; ``frame_errors`` counts SML files with a bad CRC,
    that did not parse or were cut off, and failed IEC data messages; ``garbage_bytes`` counts
    bytes between telegrams (the partial telegram at the start of listening is not counted).
    """

    protocol: str | None
    settings: str
    frames: int = 0
    frames_ok: int = 0
    frame_errors: int = 0
    garbage_bytes: int = 0
    bytes_received: int = 0
    elapsed: float = 0.0
    baud_switch_refused: bool = False
    hint: Text | None = None

    @property
    def noisy(self) -> bool:
        return self.frame_errors > 0 or self.garbage_bytes > 0


@dataclass(frozen=True, slots=True)
class OpticalSnapshot(MeterSnapshot):
    """A :class:`MeterSnapshot` (identity and the latest value per OBIS code over all telegrams)
    plus what the link saw: the port, its :class:`ReadStatus`, the telegrams (the latest
    200) and the line errors (the latest 500)."""

    port: str = ""
    status: ReadStatus = field(default_factory=lambda: ReadStatus(None, ""))
    frames: tuple[FrameRecord, ...] = ()
    errors: tuple[FrameError, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON contract of ``smgwct meter read``/``decode``."""
        return {
            "identity": self.identity.to_json_dict(),
            "frames": [f.to_json_dict() for f in self.frames],
            "errors": [e.to_json_dict() for e in self.errors],
        }


class OpticalReadError(SmgwctError):
    """Reading failed: ``kind`` is ``timeout`` (the meter stayed silent), ``noise`` (bytes but
    no valid telegram) or ``protocol`` (the meter answered but the exchange failed).

    ``status`` and ``errors`` tell what was received."""

    def __init__(
        self,
        message: Text,
        *,
        kind: str,
        status: ReadStatus,
        errors: Iterable[FrameError] = (),
        hint: Text | None = None,
    ) -> None:
        super().__init__(message, field="port", hint=hint)
        self.kind = kind
        self.status = status
        self.errors = tuple(errors)


# --- collection -------------------------------------------------------------------------------


class _Collector:
    """Accumulates telegrams, counters and errors of one :meth:`OpticalLink.read`."""

    def __init__(self, port: str, started: float) -> None:
        self.port = port
        self.started = started
        self.protocol: str | None = None
        self.settings = ""
        self.identity = MeterIdentity()
        self.readings: dict[Obis, Reading] = {}
        self.frames: deque[FrameRecord] = deque(maxlen=_MAX_FRAMES_KEPT)
        self.errors: deque[FrameError] = deque(maxlen=_MAX_ERRORS_KEPT)
        self.frame_count = 0
        self.frames_ok = 0
        self.frame_errors = 0
        self.garbage = 0
        self.bytes_received = 0
        self.baud_switch_refused = False
        self.all_crc_ok = True
        self._first_start: int | None = None  # stream offset of the first SML start sequence
        self._lead_in = False  # bytes came before it

    @property
    def has_data(self) -> bool:
        """At least one intact telegram or intact register values."""
        return bool(self.readings) or self.frames_ok > 0

    # SML

    def add_sml(self, frames: list[SmlFrameResult], decoder: SmlStreamDecoder) -> bool:
        """Take new frames and the decoder's new errors; True when anything changed."""
        changed = bool(frames)
        for error in decoder.drain_errors():
            if error.kind == "garbage" and error.offset == 0:
                self._lead_in = True  # joined the stream in the middle of a telegram
                continue
            if error.kind in ("truncated", "overflow"):
                self._note_start(error.offset)
                self.frame_errors += 1
            self.errors.append(FrameError.from_sml(error))
            changed = True
        for frame in frames:
            self._note_start(frame.offset)
            self.frame_count += 1
            self.all_crc_ok &= frame.crc_ok
            if frame.ok:
                self.frames_ok += 1
            else:
                self.frame_errors += 1
            self.identity = self.identity.merged(identity_from_sml(frame))
            readings = tuple(readings_from_sml(frame))
            for reading in readings:
                self.readings[reading.obis] = reading
            self.frames.append(FrameRecord(frame.offset, frame.crc_ok, frame.server_id, readings))
        garbage = 0
        if self._first_start is not None:  # bytes before the first start sequence: lead-in
            lead_in = self._first_start if self._lead_in else 0
            garbage = max(decoder.counters.garbage_bytes - lead_in, 0)
        changed |= garbage != self.garbage
        self.garbage = garbage
        return changed

    def _note_start(self, offset: int) -> None:
        if self._first_start is None:
            self._first_start = offset

    # IEC 62056-21

    def add_iec(self, readout: IecReadout) -> None:
        snapshot = snapshot_from_iec(readout.block, readout.identification)
        self.frame_count += 1
        self.frames_ok += 1 if readout.block.bcc_ok else 0
        self.all_crc_ok &= readout.block.bcc_ok
        self.baud_switch_refused |= readout.baud_switch_refused
        self.identity = snapshot.identity.merged(self.identity)
        for reading in snapshot.readings:
            self.readings[reading.obis] = reading
        server = snapshot.identity.server_id
        self.frames.append(
            FrameRecord(0, readout.block.bcc_ok, server.raw if server else None, snapshot.readings)
        )

    def add_iec_error(self, error: Iec62056Error) -> None:
        self.frame_count += 1
        self.frame_errors += 1
        self.all_crc_ok = False
        self.errors.append(FrameError(0, error.kind, str(error.message)))

    # results

    def status(self, now: float, hint: Text | None = None) -> ReadStatus:
        if hint is None:
            if self.frame_errors or self.garbage:
                hint = ALIGN_HINT
            elif self.baud_switch_refused:
                hint = _BAUD_REFUSED
        return ReadStatus(
            protocol=self.protocol,
            settings=self.settings,
            frames=self.frame_count,
            frames_ok=self.frames_ok,
            frame_errors=self.frame_errors,
            garbage_bytes=self.garbage,
            bytes_received=self.bytes_received,
            elapsed=round(now - self.started, 3),
            baud_switch_refused=self.baud_switch_refused,
            hint=hint,
        )

    def snapshot(self, now: float) -> OpticalSnapshot:
        return OpticalSnapshot(
            identity=self.identity,
            readings=tuple(self.readings.values()),
            source=self.protocol or "",
            crc_ok=self.all_crc_ok,
            port=self.port,
            status=self.status(now),
            frames=tuple(self.frames),
            errors=tuple(self.errors),
        )


# --- the link ---------------------------------------------------------------------------------


class OpticalLink:
    """The read head on ``port``: a device name (``/dev/ttyUSB0``, ``COM3``) or a pyserial URL
    (``socket://127.0.0.1:7001``, ``loop://``).

    ``detect_seconds``: how long ``auto`` listens for SML before signing on with IEC 62056-21.
    ``iec_options`` go to :class:`~app.protocols.iec62056_21.Iec62056Session` (timeouts,
    ``baud_switch``, ``max_baud``); ``iec_attempts`` readouts are tried when a data message
    fails its BCC; ``iec_limit`` bounds one IEC readout in seconds.
    """

    def __init__(
        self,
        port: str,
        *,
        detect_seconds: float = 4.0,
        iec_options: Mapping[str, Any] | None = None,
        iec_attempts: int = 2,
        iec_limit: float = 60.0,
        iec_repeat_pause: float = 2.0,
    ) -> None:
        if not isinstance(port, str) or not port.strip():
            raise SerialLinkError(
                Text("No read head port given.", "Kein Anschluss für den Lesekopf angegeben."),
                kind="open",
                port="",
                hint=Text(
                    "Choose a port, e.g. /dev/ttyUSB0, COM3 or socket://127.0.0.1:7001.",
                    "Anschluss wählen, z. B. /dev/ttyUSB0, COM3 oder socket://127.0.0.1:7001.",
                ),
            )
        self.port = port.strip()
        self.detect_seconds = detect_seconds
        self.iec_options = dict(iec_options or {})
        self.iec_attempts = max(1, iec_attempts)
        self.iec_limit = iec_limit
        self.iec_repeat_pause = iec_repeat_pause
        self._channel: SerialChannel | None = None

    @property
    def is_open(self) -> bool:
        """True while :meth:`read` holds the port open."""
        return self._channel is not None and self._channel.is_open

    async def read(
        self,
        protocol: Protocol = "auto",
        seconds: float | None = 10.0,
        on_frame: FrameCallback | None = None,
        *,
        max_frames: int | None = None,
        on_status: StatusCallback | None = None,
    ) -> OpticalSnapshot:
        """Read the meter and return what it told.

        SML: collect pushed telegrams for ``seconds`` (or until ``max_frames`` verified ones;
        ``None`` = until cancelled). IEC 62056-21: one readout (``seconds=None``: repeat until
        cancelled). ``auto``: SML if an escape sequence arrives within ``detect_seconds``, else
        IEC. ``on_frame`` gets the snapshot so far after each telegram and when the counters
        change. Raises :class:`OpticalReadError` (silence, noise, failed exchange) or
        :class:`~app.transports.serial_ports.SerialLinkError` (port).
        """
        if protocol not in PROTOCOLS:
            raise SmgwctError(
                Text(
                    f"Unknown protocol {protocol!r}; use auto, sml or iec.",
                    f"Unbekanntes Protokoll {protocol!r}; auto, sml oder iec verwenden.",
                ),
                field="protocol",
            )
        if seconds is not None and seconds <= 0:
            raise SmgwctError(
                Text(
                    f"Reading time {seconds} s must be positive.",
                    f"Lesedauer {seconds} s muss positiv sein.",
                ),
                field="seconds",
            )
        loop = asyncio.get_running_loop()
        started = loop.time()
        collector = _Collector(self.port, started)
        deadline = None if seconds is None else started + seconds
        say = on_status or (lambda _text: None)
        first = IEC_SETTINGS if protocol == "iec" else SML_SETTINGS
        channel = await SerialChannel.open(self.port, first)
        self._channel = channel
        try:
            if protocol in ("auto", "sml"):
                detect_until = None
                if protocol == "auto":
                    window = self.detect_seconds if seconds is None else min(
                        seconds, self.detect_seconds
                    )
                    detect_until = started + window
                result = await self._read_sml(
                    channel, collector, say, on_frame, deadline, detect_until, max_frames
                )
                if result is not None:
                    return result
            return await self._read_iec(
                channel, collector, say, on_frame, repeat=seconds is None,
                listened=protocol == "auto",
            )
        finally:
            self._channel = None
            await channel.close()

    # SML ----------------------------------------------------------------------------------------

    async def _read_sml(
        self,
        channel: SerialChannel,
        col: _Collector,
        say: StatusCallback,
        on_frame: FrameCallback | None,
        deadline: float | None,
        detect_until: float | None,
        max_frames: int | None,
    ) -> OpticalSnapshot | None:
        loop = asyncio.get_running_loop()
        col.protocol = SOURCE_SML
        col.settings = describe_settings(SML_SETTINGS)
        say(
            Text(
                f"Listening for SML telegrams at {col.settings}…",
                f"Warte auf SML-Telegramme mit {col.settings}…",
            )
        )
        decoder = SmlStreamDecoder()
        seen_escape = detect_until is None
        tail = b""
        while True:
            now = loop.time()
            limit = deadline if seen_escape else _earliest(deadline, detect_until)
            if limit is not None and now >= limit:
                break
            wait = _POLL if limit is None else min(_POLL, limit - now)
            chunk = await channel.read(wait)
            if not chunk:
                continue
            col.bytes_received = channel.bytes_received
            if not seen_escape:
                seen_escape = _ESCAPE in tail + chunk
                tail = (tail + chunk)[-3:]
            frames = decoder.feed(chunk)
            if col.add_sml(frames, decoder) and on_frame is not None:
                on_frame(col.snapshot(loop.time()))
            if max_frames is not None and col.frames_ok >= max_frames:
                break
        col.bytes_received = channel.bytes_received
        now = loop.time()
        if not seen_escape:
            return None  # auto: no SML here, try IEC 62056-21
        if col.has_data:
            return col.snapshot(now)
        status = col.status(now, ALIGN_HINT if col.bytes_received else None)
        if not col.bytes_received:
            raise OpticalReadError(
                Text(
                    f"No data from the meter on {self.port} within {status.elapsed:.0f} s: "
                    f"listened for SML telegrams at {col.settings}.",
                    f"Keine Daten vom Zähler an {self.port} innerhalb von "
                    f"{status.elapsed:.0f} s: auf SML-Telegramme mit {col.settings} gewartet.",
                ),
                kind="timeout",
                status=status,
                hint=_SILENCE_HINT,
            )
        raise OpticalReadError(
            Text(
                f"Received {col.bytes_received} bytes on {self.port} but no valid SML telegram "
                f"({status.frame_errors} damaged telegrams, {status.garbage_bytes} bytes of "
                "noise).",
                f"{col.bytes_received} Bytes an {self.port} empfangen, aber kein gültiges "
                f"SML-Telegramm ({status.frame_errors} beschädigte Telegramme, "
                f"{status.garbage_bytes} Bytes Störungen).",
            ),
            kind="noise",
            status=status,
            errors=col.errors,
            hint=ALIGN_HINT,
        )

    # IEC 62056-21 ------------------------------------------------------------------------------

    async def _read_iec(
        self,
        channel: SerialChannel,
        col: _Collector,
        say: StatusCallback,
        on_frame: FrameCallback | None,
        *,
        repeat: bool,
        listened: bool,
    ) -> OpticalSnapshot:
        loop = asyncio.get_running_loop()
        sml_bytes = channel.bytes_received  # anything heard while listening for SML
        channel.discard_input()
        col.protocol = SOURCE_IEC
        col.settings = describe_settings(IEC_SETTINGS)
        say(
            Text(
                f"Signing on with IEC 62056-21 at {col.settings}…",
                f"Anmeldung nach IEC 62056-21 mit {col.settings}…",
            )
        )
        failures = 0
        while True:
            try:
                readout = await self._iec_once(channel, col, say)
            except _NoAnswer as silent:
                col.bytes_received = channel.bytes_received
                if col.frame_count == 0:
                    raise self._silence_error(col, loop.time(), listened, sml_bytes) from None
                exc = silent.error
            except Iec62056Error as failed:
                exc = failed
            else:
                exc = None
            if exc is not None:
                col.bytes_received = channel.bytes_received
                col.add_iec_error(exc)
                failures += 1
                if on_frame is not None:
                    on_frame(col.snapshot(loop.time()))
                if failures >= self.iec_attempts and not (repeat and col.has_data):
                    raise OpticalReadError(
                        Text(
                            f"IEC 62056-21 readout on {self.port} failed: {exc.message.en}",
                            f"IEC-62056-21-Auslesung an {self.port} fehlgeschlagen: "
                            f"{exc.message.de}",
                        ),
                        kind="protocol",
                        status=col.status(loop.time(), ALIGN_HINT),
                        errors=col.errors,
                        hint=ALIGN_HINT,
                    ) from None
                await asyncio.sleep(0.5)
                channel.discard_input()
                continue
            failures = 0
            col.bytes_received = channel.bytes_received
            col.add_iec(readout)
            col.settings = describe_settings(SerialSettings(readout.baud))
            if readout.baud_switch_refused:
                say(_BAUD_REFUSED)
            snapshot = col.snapshot(loop.time())
            if on_frame is not None:
                on_frame(snapshot)
            if not repeat:
                return snapshot
            await asyncio.sleep(self.iec_repeat_pause)
            channel.discard_input()

    async def _iec_once(
        self, channel: SerialChannel, col: _Collector, say: StatusCallback
    ) -> IecReadout:
        """Carry out one :class:`Iec62056Session` on the channel."""
        loop = asyncio.get_running_loop()
        session = Iec62056Session(**self.iec_options)
        pending = deque(session.start())
        hard_deadline = loop.time() + self.iec_limit
        expect: Expect | None = None
        expect_at = 0.0
        refused_told = False
        while True:
            while pending:
                action = pending.popleft()
                if isinstance(action, SetSerial):
                    await channel.configure(action.settings)
                elif isinstance(action, Send):
                    await channel.write(action.data)
                elif isinstance(action, Wait):
                    await asyncio.sleep(action.seconds)
                elif isinstance(action, Expect):
                    expect = action
                    expect_at = loop.time() + action.timeout
                elif isinstance(action, Finished):
                    return action.readout
                elif isinstance(action, Failed):
                    if session.identification is None and action.error.kind == "timeout":
                        raise _NoAnswer(action.error)
                    raise action.error
            if session.baud_switch_refused and not refused_told:
                refused_told = True
                say(
                    Text(
                        "The meter did not switch the baud rate; reading again at 300 Bd…",
                        "Der Zähler hat die Baudrate nicht gewechselt; erneute Auslesung "
                        "mit 300 Bd…",
                    )
                )
            now = loop.time()
            if now >= hard_deadline or expect is None:
                raise Iec62056Error(
                    f"The readout took longer than {self.iec_limit:.0f} s.",
                    f"Die Auslesung dauerte länger als {self.iec_limit:.0f} s.",
                    kind="limit",
                )
            if now >= expect_at:
                expect = None
                pending.extend(session.on_timeout())
                continue
            chunk = await channel.read(min(expect_at, hard_deadline) - now)
            if chunk:
                col.bytes_received = channel.bytes_received
                expect_at = loop.time() + expect.timeout
                pending.extend(session.receive(chunk))

    def _silence_error(
        self, col: _Collector, now: float, listened: bool, sml_bytes: int
    ) -> OpticalReadError:
        tried_en = f"no answer to the IEC 62056-21 sign-on at {describe_settings(IEC_SETTINGS)}"
        tried_de = (
            f"keine Antwort auf die Anmeldung nach IEC 62056-21 mit "
            f"{describe_settings(IEC_SETTINGS)}"
        )
        if listened:
            sml = describe_settings(SML_SETTINGS)
            if sml_bytes:
                tried_en = (
                    f"{sml_bytes} bytes at {sml} but no SML escape sequence, and {tried_en}"
                )
                tried_de = (
                    f"{sml_bytes} Bytes mit {sml}, aber keine SML-Escape-Sequenz, und {tried_de}"
                )
            else:
                tried_en = f"no SML telegram at {sml}, and {tried_en}"
                tried_de = f"kein SML-Telegramm mit {sml}, und {tried_de}"
        status = col.status(now, ALIGN_HINT if sml_bytes else None)
        return OpticalReadError(
            Text(
                f"The meter on {self.port} did not answer: {tried_en}.",
                f"Der Zähler an {self.port} hat nicht geantwortet: {tried_de}.",
            ),
            kind="timeout",
            status=status,
            hint=ALIGN_HINT if sml_bytes else _SILENCE_HINT,
        )



_SILENCE_HINT: Final = Text(
    "Check that the read head sits on the meter's optical interface and that the meter's "
    "display is on (some meters need a PIN or a button press to send), then read again.",
    "Prüfen, ob der Lesekopf auf der optischen Schnittstelle sitzt und die Zähleranzeige an ist "
    "(manche Zähler senden erst nach PIN-Eingabe oder Tastendruck), dann erneut lesen.",
)


class _NoAnswer(Exception):
    """The meter did not answer the sign-on request (internal)."""

    def __init__(self, error: Iec62056Error) -> None:
        super().__init__(str(error))
        self.error = error


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
