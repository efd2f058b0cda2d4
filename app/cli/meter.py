"""``smgwct meter``: read a meter through the optical read head, decode captured dumps, list
serial ports, run virtual meters.

The JSON of ``read`` and ``decode`` is a contract support scripts rely on::

    {"identity": {"server_id": hex|null, "server_id_text": str|null,
                  "manufacturer": str|null, "public_key": hex|null},
     "frames": [{"crc_ok": bool, "server_id": hex|null,
                 "readings": [{"obis": "0100010800ff", "value": number|null,
                               "unit": str|null, "raw": ...}]}],
     "errors": [{"offset": int, "kind": str, "detail": str}]}

Hex is lower case without separators; ``value`` has the scaler applied.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from app.cli import language
from app.cli.common import positive_number, usage
from app.domain import Obis, ServerId
from app.errors import InvalidValue, SmgwctError, Text

#: identity registers shown in the identity card instead of the register table
IDENTITY_OBIS = frozenset(
    {"8181c78203ff", "0100000009ff", "8181c78205ff", "0100600100ff", "010060320101",
     "0100000000ff"}
)
MAX_DUMP_BYTES = 64 * 1024 * 1024


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "meter", help="optical meter readout: SML and IEC 62056-21 (Zähler optisch auslesen)"
    )
    msub = parser.add_subparsers(dest="meter_command", metavar="ACTION")
    parser.set_defaults(func=lambda _args: usage(parser))

    read = msub.add_parser("read", help="read the meter at the read head (Zähler auslesen)")
    read.add_argument("--port", required=True,
                      help="serial port or pyserial URL, e.g. /dev/ttyUSB0, COM3, "
                           "socket://127.0.0.1:7001")
    read.add_argument("--protocol", choices=("auto", "sml", "iec"), default="auto",
                      help="auto: SML push at 9600 8N1, else IEC 62056-21 at 300 7E1")
    read.add_argument("--seconds", type=positive_number, default=5.0,
                      help="how long to collect SML telegrams (default 5)")
    read.add_argument("--json", action="store_true", help="machine-readable output")
    read.set_defaults(func=run_read)

    decode = msub.add_parser("decode", help="decode a captured SML dump (Mitschnitt decodieren)")
    decode.add_argument("file", help="file with the raw bytes; - reads standard input")
    decode.add_argument("--json", action="store_true", help="machine-readable output")
    decode.set_defaults(func=run_decode)

    ports = msub.add_parser("list-ports", help="list serial ports (serielle Anschlüsse)")
    ports.add_argument("--json", action="store_true", help="machine-readable output")
    ports.set_defaults(func=run_list_ports)

    sim = msub.add_parser("simulate", help="run virtual meters (virtuelle Zähler)")
    who = sim.add_mutually_exclusive_group()
    who.add_argument("--scenario", help="demo scenario whose meters to start (resources/demo)")
    who.add_argument("--server-id", help="one meter with this server ID, e.g. 1EMH0012345678")
    sim.add_argument("--manufacturer", help="FLAG code (default: from the server ID)")
    sim.add_argument("--protocol", choices=("sml", "iec", "both"), default=None,
                     help="what the meter speaks (default sml)")
    sim.add_argument("--push-interval", type=positive_number, default=None,
                     help="seconds between SML telegrams (default 1)")
    where = sim.add_mutually_exclusive_group()
    where.add_argument("--tcp", type=int, default=0, metavar="PORT",
                       help="serve on TCP PORT (0: any free port), read with socket://")
    where.add_argument("--pty", action="store_true", help="serve on a pseudo terminal (POSIX)")
    sim.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    sim.add_argument("--fault", action="append", default=[],
                     choices=("garbage", "crc", "silence", "refuse-baud", "parity"),
                     help="inject a fault (repeatable)")
    sim.add_argument("--json", action="store_true", help="one JSON object per meter")
    sim.set_defaults(func=run_simulate)


def _say(en: str, de: str, lang: str) -> str:
    return de if lang == "de" else en


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=True))


# --- read -------------------------------------------------------------------------------------


def run_read(args: argparse.Namespace) -> int:
    from app.transports.optical import OpticalLink

    lang = language()
    show_progress = not args.json and sys.stderr.isatty()

    def progress(text: Text) -> None:
        if show_progress:
            print(text.get(lang), file=sys.stderr, flush=True)

    link = OpticalLink(args.port)
    snapshot = asyncio.run(link.read(args.protocol, args.seconds, on_status=progress))
    doc = snapshot.to_json_dict()
    if args.json:
        _print_json(doc)
    else:
        print(render_text(doc, lang, status=snapshot.status))
    return 0


# --- decode -----------------------------------------------------------------------------------


def _read_dump(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read(MAX_DUMP_BYTES + 1)
    path = Path(name)
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a directory")
        with path.open("rb") as handle:
            data = handle.read(MAX_DUMP_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SmgwctError(
            Text(f"Cannot read {name!r}: {reason}.", f"{name!r} ist nicht lesbar: {reason}."),
            field="file",
            hint=Text("Give the path of a file with the raw bytes from the read head.",
                      "Pfad einer Datei mit den Rohdaten des Lesekopfs angeben."),
        ) from None
    if len(data) > MAX_DUMP_BYTES:
        raise SmgwctError(
            Text(f"{name!r} is larger than {MAX_DUMP_BYTES // 2**20} MiB.",
                 f"{name!r} ist größer als {MAX_DUMP_BYTES // 2**20} MiB."),
            field="file",
            hint=Text("Split the capture into smaller files.",
                      "Den Mitschnitt in kleinere Dateien aufteilen."),
        )
    return data


def run_decode(args: argparse.Namespace) -> int:
    from app.protocols.meter_reading import decode_dump

    lang = language()
    data = _read_dump(args.file)
    doc = decode_dump(data)
    if args.json:
        _print_json(doc)
    else:
        print(render_text(doc, lang))
    if not doc["frames"]:
        shown = "stdin" if args.file == "-" else args.file
        error = SmgwctError(
            Text(f"No SML telegram found in {shown!r} ({len(data)} bytes).",
                 f"Kein SML-Telegramm in {shown!r} gefunden ({len(data)} Bytes)."),
            field="file",
            hint=Text("Is it a raw capture at 9600 Bd 8N1 (not text or hex)?",
                      "Ist es ein Rohmitschnitt mit 9600 Bd 8N1 (kein Text, kein Hex)?"),
        )
        print(f"smgwct: {error.describe(lang)}", file=sys.stderr)
        return 1
    return 0


# --- list-ports -------------------------------------------------------------------------------


def run_list_ports(args: argparse.Namespace) -> int:
    from app.transports.serial_ports import list_ports

    lang = language()
    ports = list_ports()
    if args.json:
        _print_json([p.to_json_dict() for p in ports])
        return 0
    if not ports:
        print(_say("No serial ports found. Plug in the read head; URLs such as "
                   "socket://host:port can be read without one.",
                   "Keine seriellen Anschlüsse gefunden. Lesekopf einstecken; URLs wie "
                   "socket://host:port lassen sich auch ohne lesen.", lang))
        return 0
    for p in ports:
        mark = "*" if p.likely_read_head else " "
        extra = [p.description or ""]
        if p.usb_id:
            extra.append(f"USB {p.usb_id}")
        if p.serial_number:
            extra.append(f"SN {p.serial_number}")
        if p.chip:
            extra.append(p.chip)
        print(f"{mark} {p.device:24} {', '.join(e for e in extra if e)}")
    print(_say("* likely an optical read head", "* vermutlich ein optischer Lesekopf", lang))
    return 0


# --- simulate ---------------------------------------------------------------------------------


def _profiles(args: argparse.Namespace) -> list[Any]:
    from app.sim.meter import MeterProfile, load_demo_meters

    changes: dict[str, Any] = {}
    if args.manufacturer:
        changes["manufacturer"] = args.manufacturer
    if args.protocol:
        changes["protocol"] = args.protocol
    if args.push_interval:
        changes["push_interval"] = args.push_interval
    if args.server_id:
        return [MeterProfile(ServerId.parse(args.server_id), **changes)]
    if args.scenario:
        profiles = load_demo_meters(args.scenario)
    else:
        try:
            profiles = load_demo_meters("default")
        except SmgwctError:
            profiles = []
    if not profiles:
        profiles = [MeterProfile.example()]
    return [p.replace(**changes) for p in profiles]


def run_simulate(args: argparse.Namespace) -> int:
    return asyncio.run(_simulate(args))


async def _simulate(args: argparse.Namespace) -> int:
    from app.sim.meter import MeterFaults, VirtualMeter

    lang = language()
    profiles = _profiles(args)
    faults = MeterFaults.parse(args.fault)
    meters: list[VirtualMeter] = []
    try:
        for i, profile in enumerate(profiles):
            port = args.tcp + i if args.tcp else 0
            meter = VirtualMeter(
                profile, endpoint="pty" if args.pty else "tcp", host=args.host, port=port,
                faults=MeterFaults(**vars(faults)),
            )
            await meter.start()
            meters.append(meter)
        for meter in meters:
            sid = meter.profile.server_id
            if args.json:
                print(json.dumps({
                    "server_id": sid.hex, "server_id_text": sid.text,
                    "manufacturer": meter.profile.flag, "protocol": meter.profile.protocol,
                    "url": meter.url,
                }), flush=True)
            else:
                print(f"{sid.text or sid.hex}\t{meter.profile.protocol}\t{meter.url}", flush=True)
        if not args.json:
            print(_say("Read with: smgwct meter read --port <URL>. Ctrl+C stops the meters.",
                       "Auslesen mit: smgwct meter read --port <URL>. Ctrl+C beendet die "
                       "Zähler.", lang), file=sys.stderr, flush=True)
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        pass
    finally:
        for meter in meters:
            with contextlib.suppress(Exception):
                await meter.stop()
    return 0


# --- human output -----------------------------------------------------------------------------


def _latest_readings(doc: dict[str, Any]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for frame in doc.get("frames", []):
        if not frame.get("crc_ok") and latest:
            continue
        for reading in frame.get("readings", []):
            latest[reading["obis"]] = reading
    return list(latest.values())


def _obis_label(hex_code: str, lang: str) -> tuple[str, str]:
    try:
        obis = Obis.from_bytes(bytes.fromhex(hex_code))
    except (InvalidValue, ValueError):
        return hex_code, ""
    return obis.notation, obis.name.get(lang) if obis.name else ""


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}" if abs(value) < 1e10 else repr(value)
    return str(value)


def render_text(doc: dict[str, Any], lang: str, *, status: Any = None) -> str:
    """Identity card and register table of a read/decode result (the JSON contract), plus the
    counters and the hint of ``status`` (a :class:`~app.transports.optical.ReadStatus`)."""
    from app.transports.optical import public_key_fingerprint

    ident = doc.get("identity", {})
    lines: list[str] = []
    title = _say("Meter", "Zähler", lang)
    if status is not None and status.protocol:
        proto = "SML" if status.protocol == "sml" else "IEC 62056-21"
        title += f" ({proto}, {status.settings})"
    lines.append(title)
    rows: list[tuple[str, str]] = []
    if ident.get("server_id"):
        text = ident.get("server_id_text")
        try:
            display = ServerId.from_hex(ident["server_id"]).display
        except InvalidValue:
            display = ident["server_id"]
        rows.append((_say("Server ID", "Server-ID", lang),
                     f"{display}" + (f"  ({text})" if text and text != display else "")))
        rows.append((_say("Server ID (hex)", "Server-ID (hex)", lang), ident["server_id"]))
    else:
        rows.append((_say("Server ID", "Server-ID", lang), _say("unknown", "unbekannt", lang)))
    rows.append((_say("Manufacturer", "Hersteller", lang), ident.get("manufacturer") or "–"))
    key = ident.get("public_key")
    if key:
        raw = bytes.fromhex(key)
        fp = public_key_fingerprint(raw)
        rows.append((_say("Public key", "Öffentlicher Schlüssel", lang),
                     f"{key[:16]}…{key[-8:]} ({len(raw)} {_say('bytes', 'Bytes', lang)})"))
        rows.append((_say("Key SHA-256", "Schlüssel SHA-256", lang), fp))
    width = max(len(name) for name, _ in rows)
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    lines.append("")
    table = []
    for reading in _latest_readings(doc):
        if reading["obis"] in IDENTITY_OBIS:
            continue
        notation, name = _obis_label(reading["obis"], lang)
        if reading.get("value") is not None:
            value = _number(reading["value"])
        else:
            value = str(reading.get("raw"))
            value = value if len(value) <= 24 else value[:21] + "…"
        table.append((notation, value, reading.get("unit") or "", name))
    if table:
        w0 = max(len(r[0]) for r in table)
        w1 = max(len(r[1]) for r in table)
        w2 = max(len(r[2]) for r in table)
        for notation, value, unit, name in table:
            lines.append(f"  {notation:<{w0}}  {value:>{w1}} {unit:<{w2}}  {name}".rstrip())
    else:
        lines.append("  " + _say("no register values", "keine Registerwerte", lang))
    lines.append("")
    frames = doc.get("frames", [])
    good = sum(1 for f in frames if f.get("crc_ok"))
    errors = doc.get("errors", [])
    if status is not None:
        lines.append(_say(
            f"Telegrams: {status.frames} ({status.frames_ok} OK), damaged: "
            f"{status.frame_errors}, noise bytes: {status.garbage_bytes}, "
            f"time: {status.elapsed:.1f} s",
            f"Telegramme: {status.frames} ({status.frames_ok} OK), beschädigt: "
            f"{status.frame_errors}, Störbytes: {status.garbage_bytes}, "
            f"Dauer: {status.elapsed:.1f} s", lang))
        if status.hint is not None:
            lines.append(status.hint.get(lang))
    else:
        lines.append(_say(f"Telegrams: {len(frames)} ({good} CRC OK), errors: {len(errors)}",
                          f"Telegramme: {len(frames)} ({good} CRC OK), Fehler: {len(errors)}",
                          lang))
        for error in errors[:10]:
            lines.append(f"  @{error['offset']}: {error['kind']}: {error['detail']}")
        if len(errors) > 10:
            lines.append(f"  … {len(errors) - 10}")
    return "\n".join(lines)
