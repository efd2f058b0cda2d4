"""Virtual meter (*virtueller Zähler*) behind an optical interface, for demo mode and tests.

A :class:`VirtualMeter` plays one meter of a :class:`MeterProfile`: it pushes real SML 1.04
telegrams (OpenResponse, GetListResponse with manufacturer, server ID, 1.8.0, 2.8.0, 16.7.0 and
public key, CloseResponse) like a German basic meter on its INFO interface, and/or answers
IEC 62056-21 mode C (sign-on, identification, option select with or without baud rate switch,
data message with BCC). The bytes come from the project's own encoders.

Where the read head connects:

* ``endpoint="tcp"`` (everywhere): a loopback TCP server; read it with the pyserial URL
  :attr:`VirtualMeter.url` (``socket://127.0.0.1:PORT``). Every connection is its own optical
  line.
* ``endpoint="pty"`` (POSIX only): a pseudo terminal; :attr:`VirtualMeter.url` is the slave
  device (``/dev/pts/N``) that pyserial opens like a USB read head.

Baud rates and framing do not exist on a socket or pty, so the meter models them: when it
answers at another baud rate than the read head listens at (a refused baud rate switch), it sends
what a UART at the wrong rate would deliver - noise instead of the data message.
:class:`MeterFaults` injects further faults: noise between telegrams, damaged telegrams (bad
CRC/BCC), silence, and the parity bit on IEC bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Final

from app.domain import Obis, ServerId
from app.errors import ConfigurationError, InvalidValue, Text
from app.protocols.iec62056_21 import (
    ACK,
    MODE_C_BAUD,
    Expect,
    Iec62056MeterSession,
    IecDataSet,
    IecValue,
    Send,
    SetSerial,
    Wait,
)
from app.protocols.sml import SmlListEntry, build_meter_file
from app.resources import resource_path

try:  # POSIX only: the pty endpoint
    import tty as _tty
except ImportError:  # pragma: no cover - Windows
    _tty = None  # type: ignore[assignment]

__all__ = [
    "PROTOCOLS",
    "MeterFaults",
    "MeterProfile",
    "VirtualMeter",
    "load_demo_meters",
    "pty_supported",
    "start_demo_meters",
]

PROTOCOLS: Final = ("sml", "iec", "both")

OBIS_MANUFACTURER: Final = bytes.fromhex("8181c78203ff")
OBIS_DEVICE_ID: Final = bytes.fromhex("0100000009ff")
OBIS_PUBLIC_KEY: Final = bytes.fromhex("8181c78205ff")
OBIS_FIRMWARE: Final = bytes.fromhex("0100000200ff")
UNIT_WH: Final = 30
UNIT_W: Final = 27
STATUS_EHZ: Final = 0x0001_0182  # "Betriebszustand" bits as eHZ meters send them

_INITIAL_BAUD: Final = 300
_NOISE: Final = bytes(
    b for b in range(256) if b & 0x7F not in b"\x1b/\x02\x03\x04\x06\r\n!?" and b & 0x7F >= 0x20
)
_PARITY: Final = bytes(b | (0x80 if bin(b).count("1") % 2 else 0) for b in range(128)) * 2


def pty_supported() -> bool:
    """True where the pty endpoint works (POSIX systems)."""
    return _tty is not None and hasattr(os, "openpty")


# --- configuration ----------------------------------------------------------------------------


def _invalid(field_name: str, en: str, de: str) -> InvalidValue:
    return InvalidValue(Text(en, de), field=field_name)


@dataclass(frozen=True)
class MeterProfile:
    """Identity and behaviour of a virtual meter.

    Registers: 1.8.0 (import) and 2.8.0 (export) in Wh start at ``import_wh``/``export_wh`` and
    grow by ``import_wh_per_s`` (default: ``power_w`` / 3600) and ``export_wh_per_s``; 16.7.0 is
    ``power_w``. ``public_key`` is sent as 129-129:199.130.5 (None: derived from the server ID,
    ``b""``: not sent). ``protocol``: ``sml`` (push every ``push_interval`` s), ``iec`` (mode C
    on request) or ``both``. ``iec_baud_char`` is the highest baud rate offered (``5`` = 9600).
    """

    server_id: ServerId
    manufacturer: str | None = None
    public_key: bytes | None = None
    model: str = "VIRTUAL-1"
    import_wh: float = 1_234_567.8
    export_wh: float = 0.0
    power_w: float = 345.6
    import_wh_per_s: float | None = None
    export_wh_per_s: float = 0.0
    push_interval: float = 1.0
    protocol: str = "sml"
    iec_baud_char: str = "5"
    iec_reaction_time: float = 0.2

    def __post_init__(self) -> None:
        if not isinstance(self.server_id, ServerId):
            raise _invalid(
                "server_id",
                "A virtual meter needs a server ID such as '1EMH0012345678'.",
                "Ein virtueller Zähler braucht eine Server-ID wie '1EMH0012345678'.",
            )
        if self.protocol not in PROTOCOLS:
            raise _invalid(
                "protocol",
                f"Meter protocol {self.protocol!r} is unknown; use sml, iec or both.",
                f"Zählerprotokoll {self.protocol!r} ist unbekannt; sml, iec oder both verwenden.",
            )
        flag = self.flag
        if len(flag) != 3 or not flag.isascii() or not flag.isalpha():
            raise _invalid(
                "manufacturer",
                f"Manufacturer {flag!r} must be a 3-letter FLAG code such as 'EMH'.",
                f"Hersteller {flag!r} muss ein FLAG-Kürzel aus 3 Buchstaben sein, z. B. 'EMH'.",
            )
        if not self.push_interval > 0:
            raise _invalid(
                "push_interval",
                f"Push interval {self.push_interval} s must be positive.",
                f"Sendeintervall {self.push_interval} s muss positiv sein.",
            )
        if self.iec_baud_char not in MODE_C_BAUD:
            raise _invalid(
                "iec_baud_char",
                f"IEC baud rate character {self.iec_baud_char!r} must be 0-6.",
                f"IEC-Baudratenzeichen {self.iec_baud_char!r} muss 0-6 sein.",
            )

    @property
    def flag(self) -> str:
        """Manufacturer FLAG code: given, else from the server ID, else ``XXX``."""
        return (self.manufacturer or self.server_id.manufacturer or "XXX").strip()

    @property
    def key(self) -> bytes | None:
        """The public key sent (48 bytes derived from the server ID unless configured)."""
        if self.public_key is None:
            return hashlib.sha384(b"virtual meter public key " + self.server_id.raw).digest()
        return self.public_key or None

    @classmethod
    def example(cls, **changes: Any) -> MeterProfile:
        """An EMH basic meter with made-up identity (the default of ``meter simulate``)."""
        return cls(ServerId.parse("1EMH0012345678"), **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeterProfile:
        """From a scenario's meter entry: ``server_id`` (DIN text or hex) and optionally
        ``manufacturer``, ``public_key`` (hex), ``model``, ``import_wh``, ``export_wh``,
        ``power_w``, ``import_wh_per_s``, ``export_wh_per_s``, ``push_interval``, ``protocol``,
        or ``registers`` as ``[{"obis": "1-0:1.8.0", "value": .., "scaler": ..}]``."""
        if not isinstance(data, Mapping) or "server_id" not in data:
            raise _invalid(
                "meters",
                "Each meter of a scenario needs a 'server_id'.",
                "Jeder Zähler eines Szenarios braucht eine 'server_id'.",
            )
        raw_id = str(data["server_id"])
        try:
            server_id = ServerId.parse(raw_id)
        except InvalidValue:
            server_id = ServerId.from_hex(raw_id)
        changes: dict[str, Any] = {}
        for key in ("manufacturer", "model", "protocol", "iec_baud_char"):
            if data.get(key) is not None:
                changes[key] = str(data[key])
        for key in ("import_wh", "export_wh", "power_w", "import_wh_per_s", "export_wh_per_s",
                    "push_interval"):
            if data.get(key) is not None:
                changes[key] = float(data[key])
        if data.get("public_key") is not None:
            changes["public_key"] = bytes.fromhex(str(data["public_key"]).replace(" ", ""))
        changes.update(_from_registers(data.get("registers") or ()))
        return cls(server_id, **changes)

    def replace(self, **changes: Any) -> MeterProfile:
        return replace(self, **changes)


def _from_registers(registers: Iterable[Any]) -> dict[str, float]:
    """Start values and growth from the register entries of a scenario meter
    (``{"obis", "value", "scaler", "increase_per_hour"}``, value x 10^scaler in Wh or W)."""
    targets = {
        Obis(1, 0, 1, 8, 0): ("import_wh", "import_wh_per_s"),
        Obis(1, 0, 2, 8, 0): ("export_wh", "export_wh_per_s"),
        Obis(1, 0, 16, 7, 0): ("power_w", None),
    }
    found: dict[str, float] = {}
    for entry in registers:
        if not isinstance(entry, Mapping) or "obis" not in entry or "value" not in entry:
            continue
        try:
            obis = Obis.parse(str(entry["obis"]))
        except InvalidValue:
            continue
        names = targets.get(replace(obis, f=255))
        if names is None:
            continue
        value_name, growth_name = names
        scale = int(entry.get("scaler", 0) or 0)
        found[value_name] = float(Decimal(str(entry["value"])).scaleb(scale))
        per_hour = entry.get("increase_per_hour")
        if growth_name is not None and per_hour is not None:
            found[growth_name] = float(per_hour) / 3600
    return found


def load_demo_meters(scenario: str = "default") -> list[MeterProfile]:
    """The meters of ``resources/demo/<scenario>.json`` (key ``meters``, or ``gateway.meters``).

    Raises :class:`~app.errors.ConfigurationError` when the scenario is missing or unusable.
    """
    path = resource_path("demo", f"{scenario}.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            Text(f"Demo scenario {scenario!r} does not exist.",
                 f"Demo-Szenario {scenario!r} gibt es nicht."),
            field="scenario",
            hint=Text("Use --server-id to start a single meter.",
                      "Mit --server-id einen einzelnen Zähler starten."),
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            Text(f"Demo scenario {scenario!r} cannot be read: {exc}",
                 f"Demo-Szenario {scenario!r} ist nicht lesbar: {exc}"),
            field="scenario",
        ) from None
    meters: Any = data.get("meters") if isinstance(data, dict) else None
    if meters is None and isinstance(data, dict) and isinstance(data.get("gateway"), dict):
        meters = data["gateway"].get("meters")
    if not isinstance(meters, list):
        return []
    profiles: list[MeterProfile] = []
    for entry in meters:
        if isinstance(entry, str):
            entry = {"server_id": entry}
        try:
            profiles.append(MeterProfile.from_dict(entry))
        except (InvalidValue, ValueError) as exc:
            reason = exc.describe("en") if isinstance(exc, InvalidValue) else str(exc)
            raise ConfigurationError(
                Text(f"Demo scenario {scenario!r} has an invalid meter: {reason}",
                     f"Demo-Szenario {scenario!r} enthält einen ungültigen Zähler: {reason}"),
                field="scenario",
            ) from None
    return profiles


async def start_demo_meters(
    scenario: str = "default", *, endpoint: str = "tcp", host: str = "127.0.0.1"
) -> list[VirtualMeter]:
    """One running :class:`VirtualMeter` per meter of the scenario (the demo's optical
    interfaces); if one fails to start, the others are stopped again."""
    meters: list[VirtualMeter] = []
    try:
        for profile in load_demo_meters(scenario):
            meter = VirtualMeter(profile, endpoint=endpoint, host=host)
            await meter.start()
            meters.append(meter)
    except BaseException:
        for meter in meters:
            with contextlib.suppress(Exception):
                await meter.stop()
        raise
    return meters


@dataclass
class MeterFaults:
    """Faults to inject; change them while the meter runs.

    ``garbage_every``: every n-th SML telegram (and IEC identification) is preceded by
    ``garbage_bytes`` of noise. ``corrupt_every``: every n-th SML telegram or IEC data message
    has a flipped bit (CRC/BCC error). ``silence``: neither push nor answer.
    ``refuse_baud_switch``: answer at 300 Bd whatever the option select asked for.
    ``parity_bits``: IEC bytes carry their even-parity bit (what an 8N1 port sees of 7E1).
    """

    garbage_every: int = 0
    garbage_bytes: int = 48
    corrupt_every: int = 0
    silence: bool = False
    refuse_baud_switch: bool = False
    parity_bits: bool = False
    seed: int = 1

    @classmethod
    def parse(cls, names: Iterable[str]) -> MeterFaults:
        """From CLI words: ``garbage``, ``crc``, ``silence``, ``refuse-baud``, ``parity``."""
        faults = cls()
        for name in names:
            key = name.strip().lower()
            if key == "garbage":
                faults.garbage_every = 2
            elif key == "crc":
                faults.corrupt_every = 3
            elif key == "silence":
                faults.silence = True
            elif key in ("refuse-baud", "refuse_baud"):
                faults.refuse_baud_switch = True
            elif key == "parity":
                faults.parity_bits = True
            else:
                raise _invalid(
                    "fault",
                    f"Unknown fault {name!r}; use garbage, crc, silence, refuse-baud or parity.",
                    f"Unbekannter Fehler {name!r}; garbage, crc, silence, refuse-baud oder "
                    "parity verwenden.",
                )
        return faults


@dataclass
class MeterStats:
    """What the meter sent (for tests and the demo log)."""

    connections: int = 0
    telegrams: int = 0
    corrupted: int = 0
    garbage_bursts: int = 0
    iec_requests: int = 0
    iec_readouts: int = 0
    garbled_bytes: int = 0
    dropped_bytes: int = 0
    baud_switches: list[int] = field(default_factory=list)


# --- the meter --------------------------------------------------------------------------------


SendFn = Callable[[bytes], Awaitable[None]]


class VirtualMeter:
    """One virtual meter on a TCP endpoint (``socket://``) or a pty; see the module doc."""

    def __init__(
        self,
        profile: MeterProfile | None = None,
        *,
        endpoint: str = "tcp",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: MeterFaults | None = None,
        source: Callable[[], Mapping[Obis, Decimal]] | None = None,
    ) -> None:
        if endpoint not in ("tcp", "pty"):
            raise _invalid("endpoint", f"Endpoint {endpoint!r}: use tcp or pty.",
                           f"Endpunkt {endpoint!r}: tcp oder pty verwenden.")
        if endpoint == "pty" and not pty_supported():
            raise ConfigurationError(
                Text("Pseudo terminals are not available on this system; use the TCP endpoint.",
                     "Pseudo-Terminals gibt es auf diesem System nicht; TCP-Endpunkt verwenden."),
                field="endpoint",
            )
        self.profile = profile or MeterProfile.example()
        #: where the registers come from when the meter is part of a simulated site: the
        #: site's own meter (the one the gateway reads too), so both always agree
        self.source = source
        self.endpoint = endpoint
        self.host = host
        self.port = port
        self.faults = faults or MeterFaults()
        self.stats = MeterStats()
        self.device: str | None = None
        self._rng = random.Random(self.faults.seed)
        self._started_at = 0.0
        self._server: asyncio.base_events.Server | None = None
        self._lines: set[_Line] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pty: _PtyEndpoint | None = None
        self._push_no = 0
        self._readout_no = 0

    # lifecycle --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """What to give the optical link: ``socket://host:port`` or the pty device."""
        if self.endpoint == "pty":
            if self.device is None:
                raise RuntimeError("virtual meter not started")
            return self.device
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"socket://{host}:{self.port}"

    @property
    def open_connections(self) -> int:
        """Read heads connected now (TCP: connections; pty: always 1 while running)."""
        return len(self._lines)

    @property
    def running(self) -> bool:
        return self._server is not None or self._pty is not None

    async def start(self) -> None:
        """Open the endpoint; the meter serves until :meth:`stop`."""
        if self.running:
            return
        loop = asyncio.get_running_loop()
        self._started_at = loop.time()
        if self.endpoint == "tcp":
            try:
                self._server = await asyncio.start_server(self._on_client, self.host, self.port)
            except OSError as exc:
                raise ConfigurationError(
                    Text(f"Virtual meter cannot listen on {self.host}:{self.port}: {exc}",
                         f"Virtueller Zähler kann nicht auf {self.host}:{self.port} lauschen: "
                         f"{exc}"),
                    field="port",
                    hint=Text("Choose another port or 0 for any free port.",
                              "Anderen Port wählen oder 0 für einen freien Port."),
                ) from None
            self.port = self._server.sockets[0].getsockname()[1]
        else:
            self._pty = _PtyEndpoint(self)
            self.device = self._pty.device
            line = _Line(self, self._pty.write)
            self._pty.line = line
            self._track(line)
            self._pty.start()

    async def stop(self) -> None:
        """Close the endpoint and every connection (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._lines.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)
        pty_endpoint, self._pty = self._pty, None
        if pty_endpoint is not None:
            await asyncio.to_thread(pty_endpoint.close)

    async def __aenter__(self) -> VirtualMeter:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # registers --------------------------------------------------------------------------------

    def elapsed(self) -> float:
        if not self._started_at:
            return 0.0
        return max(0.0, asyncio.get_running_loop().time() - self._started_at)

    def registers(self, elapsed: float | None = None) -> dict[Obis, Decimal]:
        """1.8.0 and 2.8.0 in Wh (0.1 Wh resolution), 16.7.0 in W, at ``elapsed`` seconds."""
        t = self.elapsed() if elapsed is None else elapsed
        p = self.profile
        rate = p.power_w / 3600 if p.import_wh_per_s is None else p.import_wh_per_s
        values = {
            Obis(1, 0, 1, 8, 0): Decimal(round((p.import_wh + rate * t) * 10)).scaleb(-1),
            Obis(1, 0, 2, 8, 0): Decimal(round((p.export_wh + p.export_wh_per_s * t) * 10))
            .scaleb(-1),
            Obis(1, 0, 16, 7, 0): Decimal(round(p.power_w * 10)).scaleb(-1),
        }
        if self.source is not None and elapsed is None:
            shared = {replace(o, f=255): v for o, v in self.source().items()}
            values = {o: shared.get(o, v) for o, v in values.items()}
        return values

    # SML --------------------------------------------------------------------------------------

    def sml_telegram(self) -> bytes:
        """One SML file as the meter pushes it now (before fault injection)."""
        p = self.profile
        values = self.registers()
        tenth = Decimal("0.1")
        entries = [
            SmlListEntry(OBIS_MANUFACTURER, p.flag.encode("ascii")),
            SmlListEntry(OBIS_DEVICE_ID, p.server_id.raw),
            SmlListEntry(Obis(1, 0, 1, 8, 0).raw, int(values[Obis(1, 0, 1, 8, 0)] / tenth),
                         unit=UNIT_WH, scaler=-1, status=STATUS_EHZ),
            SmlListEntry(Obis(1, 0, 2, 8, 0).raw, int(values[Obis(1, 0, 2, 8, 0)] / tenth),
                         unit=UNIT_WH, scaler=-1, status=STATUS_EHZ),
            SmlListEntry(Obis(1, 0, 16, 7, 0).raw, int(values[Obis(1, 0, 16, 7, 0)] / tenth),
                         unit=UNIT_W, scaler=-1),
        ]
        if p.key:
            entries.append(SmlListEntry(OBIS_PUBLIC_KEY, p.key))
        self._push_no += 1
        return build_meter_file(
            p.server_id.raw,
            entries,
            file_id=self._push_no.to_bytes(4, "big"),
            sec_index=int(self.elapsed()),
        )

    def _next_push(self) -> bytes:
        """The next telegram with the configured faults applied."""
        telegram = self.sml_telegram()
        f = self.faults
        n = self._push_no
        if f.corrupt_every and n % f.corrupt_every == 0:
            telegram = _flip_bit(telegram)
            self.stats.corrupted += 1
        if f.garbage_every and n % f.garbage_every == 0:
            telegram = self.noise(f.garbage_bytes) + telegram
            self.stats.garbage_bursts += 1
        self.stats.telegrams += 1
        return telegram

    def noise(self, count: int) -> bytes:
        """Random bytes without any escape sequence or IEC control character."""
        return bytes(self._rng.choice(_NOISE) for _ in range(count))

    # IEC 62056-21 -----------------------------------------------------------------------------

    def iec_datasets(self) -> list[IecDataSet]:
        """The data message: identity, 1.8.0/2.8.0 in kWh, 16.7.0 in kW, error register."""
        p = self.profile
        values = self.registers()
        text = p.server_id.text or p.server_id.hex

        def kilo(value: Decimal) -> str:
            return f"{value.scaleb(-3):011.4f}"

        return [
            IecDataSet("1-0:0.0.0*255", (IecValue(text),)),
            IecDataSet("1-0:96.1.0*255", (IecValue(p.server_id.hex),)),
            IecDataSet("1.8.0", (IecValue(kilo(values[Obis(1, 0, 1, 8, 0)]), "kWh"),)),
            IecDataSet("2.8.0", (IecValue(kilo(values[Obis(1, 0, 2, 8, 0)]), "kWh"),)),
            IecDataSet("16.7.0", (IecValue(kilo(values[Obis(1, 0, 16, 7, 0)]), "kW"),)),
            IecDataSet("F.F", (IecValue("00000000"),)),
        ]

    def _iec_session(self) -> Iec62056MeterSession:
        p = self.profile
        return Iec62056MeterSession(
            self.iec_datasets(),
            manufacturer=p.flag,
            ident=p.model,
            baud_char=p.iec_baud_char,
            accept_baud_switch=not self.faults.refuse_baud_switch,
            reaction_time=p.iec_reaction_time,
        )

    # connections ------------------------------------------------------------------------------

    def _track(self, line: _Line) -> None:
        self._lines.add(line)
        self.stats.connections += 1
        task = asyncio.get_running_loop().create_task(line.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)

        async def send(data: bytes) -> None:
            writer.write(data)
            await asyncio.wait_for(writer.drain(), 5.0)

        line = _Line(self, send)
        self._track(line)
        try:
            while True:
                data = await reader.read(1024)
                if not data:
                    break
                line.feed(data)
        except (ConnectionError, OSError):
            pass
        finally:
            line.close()
            self._lines.discard(line)
            self._writers.discard(writer)
            writer.close()


class _Line:
    """One optical path between the meter and a read head."""

    def __init__(self, meter: VirtualMeter, send: SendFn) -> None:
        self.meter = meter
        self._send = send
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._iec_busy_until = 0.0
        self.meter_baud = _INITIAL_BAUD
        self.client_baud = _INITIAL_BAUD

    def feed(self, data: bytes) -> None:
        self._inbox.put_nowait(bytes(data))

    def close(self) -> None:
        self._closed.set()

    async def run(self) -> None:
        tasks = []
        if self.meter.profile.protocol in ("sml", "both"):
            tasks.append(asyncio.ensure_future(self._push_loop()))
        tasks.append(asyncio.ensure_future(self._iec_loop()))
        try:
            await self._closed.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _write(self, data: bytes) -> None:
        try:
            await self._send(data)
        except (ConnectionError, OSError, TimeoutError):
            self.close()

    async def _push_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.meter.profile.push_interval
        await asyncio.sleep(min(0.2, interval))  # after pyserial flushed its input on open
        while True:
            busy = loop.time() < self._iec_busy_until
            if not self.meter.faults.silence and not busy:
                await self._write(self.meter._next_push())
            await asyncio.sleep(interval)

    async def _iec_loop(self) -> None:
        meter = self.meter
        session: Iec62056MeterSession | None = None
        timeout: float | None = None
        answers_iec = meter.profile.protocol in ("iec", "both")
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await asyncio.wait_for(self._inbox.get(), timeout)
            except TimeoutError:
                timeout = None
                if session is not None:
                    self._apply_settings(session.on_timeout())
                continue
            if not answers_iec or meter.faults.silence:
                continue
            self._iec_busy_until = loop.time() + 5.0
            self._track_client(data)
            if session is None:
                session = meter._iec_session()
            session.datasets = meter.iec_datasets()  # the registers as of now
            session.accept_baud_switch = not meter.faults.refuse_baud_switch
            actions = session.receive(data)
            for action in actions:
                if isinstance(action, Expect):
                    timeout = action.timeout
                elif isinstance(action, Wait):
                    await asyncio.sleep(action.seconds)
                elif isinstance(action, SetSerial):
                    self.meter_baud = action.settings.baud
                    if action.settings.baud != _INITIAL_BAUD:
                        meter.stats.baud_switches.append(action.settings.baud)
                elif isinstance(action, Send):
                    await self._send_iec(action.data)
            self._iec_busy_until = loop.time() + 1.0

    def _apply_settings(self, actions: Iterable[object]) -> None:
        for action in actions:
            if isinstance(action, SetSerial):
                self.meter_baud = action.settings.baud

    def _track_client(self, data: bytes) -> None:
        """Follow the read head's baud rate: 300 Bd for a request, the option select's rate
        after an acknowledgement."""
        text = bytes(b & 0x7F for b in data)
        if b"/?" in text:
            self.client_baud = _INITIAL_BAUD
            self.meter.stats.iec_requests += 1
        at = text.find(bytes((ACK,)))
        if at != -1 and at + 2 < len(text):
            self.client_baud = MODE_C_BAUD.get(chr(text[at + 2]), self.client_baud)

    async def _send_iec(self, data: bytes) -> None:
        meter = self.meter
        faults = meter.faults
        if data[:1] == b"\x02":  # the data message (STX ... ETX BCC)
            meter._readout_no += 1
            if faults.corrupt_every and meter._readout_no % faults.corrupt_every == 0:
                data = _flip_bit(data, low=1, high=len(data) - 3)
                meter.stats.corrupted += 1
            meter.stats.iec_readouts += 1
        elif data[:1] == b"/" and faults.garbage_every:
            data = meter.noise(faults.garbage_bytes) + data
            meter.stats.garbage_bursts += 1
        if self.meter_baud != self.client_baud:
            # a UART at another baud rate sees noise, not characters
            meter.stats.garbled_bytes += len(data)
            data = bytes(0x00 if b & 1 else 0xF0 for b in data)
        elif faults.parity_bits:
            data = data.translate(_PARITY)
        await self._write(data)


def _flip_bit(frame: bytes, *, low: int | None = None, high: int | None = None) -> bytes:
    """``frame`` with one bit flipped in its middle, never creating or touching an escape."""
    lo = 16 if low is None else low
    hi = len(frame) - 16 if high is None else high
    i = max(lo, (lo + hi) // 2)
    out = bytearray(frame)
    while i < hi:
        if out[i] != 0x1B and out[i] ^ 0x01 != 0x1B and out[i] not in (0x02, 0x03):
            out[i] ^= 0x01
            if out[i] not in (0x02, 0x03):
                return bytes(out)
            out[i] ^= 0x01
        i += 1
    return bytes(out)


class _PtyEndpoint:
    """A pseudo terminal; the meter holds the master side, the read head opens the slave."""

    def __init__(self, meter: VirtualMeter) -> None:
        self.meter = meter
        self.master, self.slave = os.openpty()
        assert _tty is not None
        _tty.setraw(self.slave)  # no echo, no line editing before the read head configures it
        os.set_blocking(self.master, False)
        self.device = os.ttyname(self.slave)
        self.line: _Line | None = None
        self._loop = asyncio.get_running_loop()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._reader, name="virtual-meter-pty",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:  # nobody reads the slave: the light goes unseen
                self.meter.stats.dropped_bytes += len(view)
                return
            view = view[n:]

    def _reader(self) -> None:
        import select

        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self.master, 4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            if data and self.line is not None:
                try:
                    self._loop.call_soon_threadsafe(self.line.feed, data)
                except RuntimeError:
                    return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1.0)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
