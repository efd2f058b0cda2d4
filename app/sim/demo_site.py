"""The demo site (Demo-Standort): what surrounds the virtual gateway of a demo scenario.

A scenario file (``resources/demo/<name>.json``, format in docs/han.md) describes the gateway.
Its site file (``resources/demo/sites/<name>.json``, or ``<stem>.site.json`` next to a scenario
given as a path) adds what is not the gateway's own state:

``bench``
    Spare meters on the read-head bench (Zählerprüfplatz): same entries as the scenario's
    ``gateway.meters``; they are neither wired to the LMN nor known to the gateway until the
    technician installs one (the meter change).
``read_head``
    The server ID of the meter the read head faces at start (default: the first gateway meter).
``pairing_rejected``
    Meters that answer a pairing with FE 09 (key exchange refused).
``gwa_outage``
    ``{"seconds": S, "after": "first-request" | "start"}``: the GWA's technician API goes away
    for S seconds (connections refused, open ones cut) - when the request after the first one
    begins, or from the start.
``gwa_retry_seconds``
    How often the flows try an unreachable GWA again (default 10 s).
``timers``
    ``{"gwa": {...}, "wan": {...}}``: fields of the reference GWA's ``GwaTimers`` and the
    virtual SMGW's ``ChannelTimers`` (short ones make a demo quick).

Every field is optional; a scenario without a site file gets :data:`EMPTY_SITE`. The format is
documented in docs/demo.md.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.domain import Obis, ServerId
from app.errors import InvalidValue, Text
from app.resources import resource_path

FORMAT = "smgwct-demo-site"
VERSION = 1
OUTAGE_TRIGGERS = ("first-request", "start")
FIELDS = ("format", "version", "bench", "read_head", "pairing_rejected", "gwa_outage",
          "gwa_retry_seconds", "timers")

#: The scenario a flow starts from in demo mode when none is named (``smgwct flow run``).
FLOW_SCENARIOS: dict[str, str] = {
    "handover": "delivery",
    "pairing": "delivery",
    "meter_change": "meter-change",
}
DEFAULT_SCENARIO = "default"


def scenario_for_flow(flow: str) -> str:
    """The demo scenario that shows ``flow`` from its usual start state."""
    return FLOW_SCENARIOS.get(flow, DEFAULT_SCENARIO)


class SiteError(InvalidValue):
    """A site file is not usable; names the file and the field."""


@dataclass(frozen=True)
class BenchMeter:
    """A meter of the site that the gateway does not know (yet): its entry as in a scenario."""

    server_id: ServerId
    entry: Mapping[str, Any]


@dataclass(frozen=True)
class GwaOutage:
    seconds: float
    after: str = "first-request"


@dataclass(frozen=True)
class DemoSite:
    """A validated site file (see the module docstring)."""

    name: str = ""
    bench: tuple[BenchMeter, ...] = ()
    read_head: ServerId | None = None
    pairing_rejected: frozenset[ServerId] = frozenset()
    gwa_outage: GwaOutage | None = None
    gwa_retry_seconds: float | None = None
    gwa_timers: Mapping[str, Any] = field(default_factory=dict)
    wan_timers: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<none>"


EMPTY_SITE = DemoSite()


def site_path(scenario: str | Path) -> Path | None:
    """The site file of ``scenario`` (a name in resources/demo or a path), if there is one."""
    path = Path(scenario)
    if path.suffix == ".json" or len(path.parts) > 1:
        candidate = path.with_name(f"{path.stem}.site.json")
    else:
        candidate = resource_path("demo", "sites", f"{path.name}.json")
    return candidate if candidate.is_file() else None


def load_site(scenario: str | Path) -> DemoSite:
    """The site of ``scenario``; :data:`EMPTY_SITE` when it has no site file."""
    path = site_path(scenario)
    if path is None:
        return EMPTY_SITE
    source = f"{path.parent.name}/{path.name}"
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(source, "", Text(f"cannot be read ({exc})",
                                      f"ist nicht lesbar ({exc})")) from None
    except json.JSONDecodeError as exc:
        raise _error(source, "", Text(f"is not valid JSON (line {exc.lineno}, column "
                                      f"{exc.colno}: {exc.msg})",
                                      f"ist kein gültiges JSON (Zeile {exc.lineno}, Spalte "
                                      f"{exc.colno}: {exc.msg})")) from None
    return site_from_dict(data, source=source, name=path.stem.removesuffix(".site"))


def site_from_dict(data: Any, *, source: str = "<dict>", name: str = "") -> DemoSite:
    """Validate a site document (every problem names the field and the fix)."""
    if not isinstance(data, dict):
        raise _error(source, "", Text("must hold a JSON object", "muss ein JSON-Objekt enthalten"))
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise _error(source, unknown[0], Text(f"is not a known field (known: {', '.join(FIELDS)})",
                                              f"ist kein bekanntes Feld (bekannt: "
                                              f"{', '.join(FIELDS)})"))
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise _error(source, "format", Text(f"must be \"{FORMAT}\" with version {VERSION}",
                                            f"muss \"{FORMAT}\" mit Version {VERSION} sein"))
    bench = tuple(_bench_meter(source, f"bench[{i}]", entry)
                  for i, entry in enumerate(_list(source, data, "bench")))
    read_head = _server_id(source, "read_head", data["read_head"]) if "read_head" in data \
        else None
    rejected = frozenset(_server_id(source, f"pairing_rejected[{i}]", item)
                         for i, item in enumerate(_list(source, data, "pairing_rejected")))
    outage = _outage(source, data["gwa_outage"]) if "gwa_outage" in data else None
    retry = (_number(source, "gwa_retry_seconds", data["gwa_retry_seconds"], 0.05)
             if "gwa_retry_seconds" in data else None)
    gwa_timers, wan_timers = _timers(source, data.get("timers", {}))
    return DemoSite(name, bench, read_head, rejected, outage, retry, gwa_timers, wan_timers,
                    source)


# -- parts ------------------------------------------------------------------------------------


def _error(source: str, path: str, what: Text) -> SiteError:
    where = f" '{path}'" if path else ""
    return SiteError(Text(f"Demo site {source}:{where} {what.en}.",
                          f"Demo-Standort {source}:{where} {what.de}."),
                     field=path or "site",
                     hint=Text("Correct the site file (format: docs/demo.md).",
                               "Korrigieren Sie die Standort-Datei (Format: docs/demo.md)."))


def _list(source: str, data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _error(source, key, Text("must be a list", "muss eine Liste sein"))
    return value


def _number(source: str, path: str, value: Any, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        raise _error(source, path, Text(f"must be a number ≥ {low:g}",
                                        f"muss eine Zahl ≥ {low:g} sein"))
    return float(value)


def _server_id(source: str, path: str, value: Any) -> ServerId:
    try:
        if not isinstance(value, str):
            raise InvalidValue(Text("not a text", "kein Text"))
        return ServerId.parse(value)
    except InvalidValue as exc:
        raise _error(source, path, Text(f"is not a meter server ID ({exc.message.en})",
                                        f"ist keine Server-ID eines Zählers "
                                        f"({exc.message.de})")) from None


def _bench_meter(source: str, path: str, entry: Any) -> BenchMeter:
    if not isinstance(entry, dict) or "server_id" not in entry:
        raise _error(source, path, Text("must be a meter object with a server_id",
                                        "muss ein Zähler-Objekt mit server_id sein"))
    sid = _server_id(source, f"{path}.server_id", entry["server_id"])
    for i, reg in enumerate(entry.get("registers", [])):
        where = f"{path}.registers[{i}]"
        if not isinstance(reg, dict) or not isinstance(reg.get("value"), int):
            raise _error(source, where, Text("needs an obis text and a whole-number value",
                                             "braucht einen OBIS-Text und einen ganzzahligen "
                                             "Wert"))
        try:
            Obis.parse(str(reg.get("obis")))
        except InvalidValue as exc:
            raise _error(source, f"{where}.obis", Text(f"is not an OBIS code ({exc.message.en})",
                                                       f"ist keine OBIS-Kennzahl "
                                                       f"({exc.message.de})")) from None
    return BenchMeter(sid, dict(entry))


def _outage(source: str, value: Any) -> GwaOutage:
    if not isinstance(value, dict) or set(value) - {"seconds", "after"}:
        raise _error(source, "gwa_outage", Text("must be {\"seconds\": S, \"after\": ...}",
                                                "muss {\"seconds\": S, \"after\": ...} sein"))
    after = value.get("after", "first-request")
    if after not in OUTAGE_TRIGGERS:
        raise _error(source, "gwa_outage.after", Text(f"must be one of "
                                                      f"{', '.join(OUTAGE_TRIGGERS)}",
                                                      f"muss eines von "
                                                      f"{', '.join(OUTAGE_TRIGGERS)} sein"))
    return GwaOutage(_number(source, "gwa_outage.seconds", value.get("seconds"), 0.1), after)


def _timers(source: str, value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from app.processes.micro.channels import ChannelTimers
    from app.sim.gwa.core import GwaTimers

    if not isinstance(value, dict) or set(value) - {"gwa", "wan"}:
        raise _error(source, "timers", Text("must be {\"gwa\": {...}, \"wan\": {...}}",
                                            "muss {\"gwa\": {...}, \"wan\": {...}} sein"))
    out: list[dict[str, Any]] = []
    for part, cls in (("gwa", GwaTimers), ("wan", ChannelTimers)):
        given = value.get(part, {})
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(given, dict):
            raise _error(source, f"timers.{part}", Text("must be an object",
                                                        "muss ein Objekt sein"))
        for key, item in given.items():
            if key not in names:
                raise _error(source, f"timers.{part}.{key}", Text(
                    f"is not a timer (known: {', '.join(sorted(names))})",
                    f"ist kein Zeitgeber (bekannt: {', '.join(sorted(names))})"))
            if item is not None:
                _number(source, f"timers.{part}.{key}", item, 0.0)
        try:
            cls(**given)
        except (InvalidValue, TypeError, ValueError) as exc:
            raise _error(source, f"timers.{part}", Text(f"is not valid ({exc})",
                                                        f"ist ungültig ({exc})")) from None
        out.append(dict(given))
    return out[0], out[1]


__all__ = [
    "DEFAULT_SCENARIO",
    "EMPTY_SITE",
    "FLOW_SCENARIOS",
    "BenchMeter",
    "DemoSite",
    "GwaOutage",
    "SiteError",
    "load_site",
    "scenario_for_flow",
    "site_from_dict",
    "site_path",
]
