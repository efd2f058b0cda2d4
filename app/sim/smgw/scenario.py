"""Demo scenarios: a gateway description plus faults to inject, from ``resources/demo/*.json``.

A scenario file is validated completely before anything is built: unknown fields (typos), wrong
types, bad identifiers and dangling references are reported with the file, the field path and the
fix, in German and English. The format is documented in ``docs/han.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.x509.oid import NameOID

from app.domain import Obis, ServerId, SmgwId
from app.errors import InvalidValue, Text
from app.resources import resource_path
from app.security.pki import DemoPki, generate_key, issue_certificate
from app.sim.smgw.access import HanUser, LockoutPolicy, Role, SessionPolicy
from app.sim.smgw.clock import Clock
from app.sim.smgw.logs import Event, LogLevel, generate_history
from app.sim.smgw.state import (
    BillingPeriod,
    CertificateState,
    EvaluationProfile,
    FirmwareComponent,
    GatewayCertificate,
    HanSettings,
    LmnMeter,
    OperatingConditions,
    RegisterValue,
    SmgwState,
    TafState,
)

FORMAT = "smgwct-scenario"
VERSION = 1
DIALECTS = ("theben", "ppc", "emh")
FAULT_KINDS = ("han_lockout", "meter_missing", "slow_responses", "clock_drift", "han_disabled",
               "han_wan_bridge")
T = TypeVar("T")


class ScenarioError(InvalidValue):
    """A scenario file is not usable; names the file and the field."""


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "text", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


class _Obj:
    """A JSON object being read: takes fields by name, remembers which were known."""

    def __init__(self, value: Any, path: str, source: str) -> None:
        self.path = path
        self.source = source
        if not isinstance(value, dict):
            raise self.error(path, Text(f"must be an object, found {_describe(value)}",
                                        f"muss ein Objekt sein, gefunden: {_describe(value)}"))
        self._data: dict[str, Any] = dict(value)
        self._known: list[str] = []

    def error(self, path: str, what: Text, fix: Text | None = None) -> ScenarioError:
        return ScenarioError(
            Text(f"Scenario {self.source}: '{path}' {what.en}.",
                 f"Szenario {self.source}: '{path}' {what.de}."),
            field=path,
            hint=fix or Text("Correct the scenario file (format: docs/han.md).",
                             "Korrigieren Sie die Szenario-Datei (Format: docs/han.md)."),
        )

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _take(self, key: str, required: bool) -> tuple[Any, bool]:
        self._known.append(key)
        if key in self._data:
            return self._data.pop(key), True
        if required:
            raise self.error(self.sub(key), Text("is missing", "fehlt"))
        return None, False

    def _typed(self, key: str, required: bool, default: T, check: Callable[[Any], bool],
               expected: Text) -> Any:
        value, present = self._take(key, required)
        if not present:
            return default
        if not check(value):
            raise self.error(self.sub(key), Text(f"must be {expected.en}, found {_describe(value)}",
                                                 f"muss {expected.de} sein, gefunden: "
                                                 f"{_describe(value)}"))
        return value

    def text(self, key: str, default: str | None = None, *, required: bool = False,
             choices: tuple[str, ...] | None = None) -> Any:
        value = self._typed(key, required, default, lambda v: isinstance(v, str),
                            Text("text", "Text"))
        if choices is not None and value is not None and value not in choices:
            raise self.error(self.sub(key), Text(f"is '{value}', allowed: {', '.join(choices)}",
                                                 f"ist '{value}', zulässig: {', '.join(choices)}"))
        return value

    def integer(self, key: str, default: int | None = None, *, required: bool = False,
                minimum: int | None = None, maximum: int | None = None) -> Any:
        value = self._typed(key, required, default,
                            lambda v: isinstance(v, int) and not isinstance(v, bool),
                            Text("a whole number", "eine ganze Zahl"))
        self._range(key, value, minimum, maximum)
        return value

    def number(self, key: str, default: float | None = None, *, required: bool = False,
               minimum: float | None = None) -> Any:
        value = self._typed(key, required, default,
                            lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                            Text("a number", "eine Zahl"))
        self._range(key, value, minimum, None)
        return None if value is None else float(value)

    def _range(self, key: str, value: Any, minimum: float | None, maximum: float | None) -> None:
        if value is None:
            return
        if minimum is not None and value < minimum:
            raise self.error(self.sub(key), Text(f"must be at least {minimum}",
                                                 f"muss mindestens {minimum} sein"))
        if maximum is not None and value > maximum:
            raise self.error(self.sub(key), Text(f"must be at most {maximum}",
                                                 f"darf höchstens {maximum} sein"))

    def flag(self, key: str, default: bool) -> bool:
        return bool(self._typed(key, False, default, lambda v: isinstance(v, bool),
                                Text("true or false", "true oder false")))

    def items(self, key: str, *, required: bool = False) -> Iterator[tuple[Any, str]]:
        value = self._typed(key, required, [], lambda v: isinstance(v, list),
                            Text("a list", "eine Liste"))
        for i, item in enumerate(value):
            yield item, f"{self.sub(key)}[{i}]"

    def obj(self, key: str, *, required: bool = False) -> _Obj:
        value, present = self._take(key, required)
        return _Obj(value if present else {}, self.sub(key), self.source)

    def time(self, key: str, *, required: bool = False) -> dt.datetime | None:
        text = self.text(key, required=required)
        if text is None:
            return None
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise self.error(self.sub(key), Text(
                f"must be a date/time with time zone like 2026-01-01T00:00:00Z, found '{text}'",
                f"muss eine Zeitangabe mit Zeitzone wie 2026-01-01T00:00:00Z sein, gefunden: "
                f"'{text}'"))
        return moment.astimezone(dt.UTC)

    def parsed(self, key: str, parse: Callable[[str], T], *, required: bool = True) -> T | None:
        text = self.text(key, required=required)
        if text is None:
            return None
        try:
            return parse(text)
        except InvalidValue as exc:
            raise self.error(self.sub(key), Text(f"is not valid: {exc.message.en}",
                                                 f"ist ungültig: {exc.message.de}")) from exc

    def done(self) -> None:
        if self._data:
            key = sorted(self._data)[0]
            known = ", ".join(sorted(set(self._known))) or "none"
            raise self.error(self.sub(key), Text(f"is not a known field (known: {known})",
                                                 f"ist kein bekanntes Feld (bekannt: {known})"))


# --- the scenario ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserSpec:
    name: str
    role: Role
    endpoint: str
    password: str | None = field(default=None, repr=False)
    client_certificate: str | None = None
    usage_points: tuple[str, ...] | None = None
    enabled: bool = True


@dataclass(frozen=True)
class FaultSpec:
    kind: str
    user: str | None = None
    seconds: float | None = None
    server_id: ServerId | None = None


@dataclass(frozen=True)
class LogSpec:
    system_entries: int = 400
    consumer_entries: int = 120
    seed: int = 1


@dataclass(frozen=True)
class Scenario:
    """A validated scenario; :meth:`build_state` makes a fresh gateway from it."""

    name: str
    title: Text
    description: Text
    #: normalised SMGW ID text (upper case), e.g. ``ETHE0390000001``
    smgw_id: str
    vendor: str
    model: str
    dialect: str
    firmware: tuple[FirmwareComponent, ...]
    drift_seconds: float
    conditions: OperatingConditions
    wan_certificates: CertificateState
    meters: tuple[LmnMeter, ...]
    profiles: tuple[EvaluationProfile, ...]
    users: tuple[UserSpec, ...]
    han: HanSettings
    logs: LogSpec
    faults: tuple[FaultSpec, ...]
    source: str = "<dict>"

    @property
    def default_user(self) -> str:
        """The account demo mode logs in with: the first service technician, else the first."""
        technicians = [u for u in self.users if u.role is Role.SERVICE_TECHNICIAN]
        return (technicians or list(self.users))[0].name

    def user(self, name: str) -> UserSpec | None:
        """The account ``name`` (demo mode takes its password from here)."""
        return next((u for u in self.users if u.name == name), None)

    # -- loading ----------------------------------------------------------------------------------

    @classmethod
    def load(cls, name_or_path: str | Path) -> Scenario:
        """Load ``resources/demo/<name>.json`` or a file path."""
        path = Path(name_or_path)
        if path.suffix != ".json" and len(path.parts) == 1:
            path = resource_path("demo", f"{path.name}.json")
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ScenarioError(
                Text(f"The scenario {path} cannot be read ({exc.strerror}).",
                     f"Das Szenario {path} kann nicht gelesen werden ({exc.strerror})."),
                field="scenario",
                hint=Text(f"Available: {', '.join(available()) or 'none'}.",
                          f"Verfügbar: {', '.join(available()) or 'keine'}."),
            ) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(
                Text(f"Scenario {path.name}: not valid JSON (line {exc.lineno}, column "
                     f"{exc.colno}: {exc.msg}).",
                     f"Szenario {path.name}: kein gültiges JSON (Zeile {exc.lineno}, Spalte "
                     f"{exc.colno}: {exc.msg})."),
                field="scenario",
            ) from exc
        return cls.from_dict(data, source=path.name, default_name=path.stem)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>",
                  default_name: str = "custom") -> Scenario:
        root = _Obj(data, "", source)
        root.text("format", required=True, choices=(FORMAT,))
        root.integer("version", required=True, minimum=VERSION, maximum=VERSION)
        name = root.text("name", default_name)
        title = _text_pair(root, "title", Text(name, name))
        description = _text_pair(root, "description", Text("", ""))
        gw = root.obj("gateway", required=True)
        parsed_id = gw.parsed("smgw_id", SmgwId.parse)
        assert parsed_id is not None
        smgw_id = parsed_id.text
        vendor = gw.text("vendor", required=True)
        model = gw.text("model", "")
        dialect = gw.text("dialect", vendor if vendor in DIALECTS else "theben", choices=DIALECTS)
        firmware = tuple(_firmware(_Obj(item, path, source)) for item, path in gw.items(
            "firmware", required=True))
        if not firmware:
            raise gw.error(gw.sub("firmware"), Text("needs at least one component",
                                                    "braucht mindestens eine Komponente"))
        clock = gw.obj("clock")
        drift = clock.number("drift_seconds", 0.0)
        clock.done()
        conditions = _conditions(gw.obj("operating"))
        wan = CertificateState(gw.text("wan_certificates", "wirkzertifikat",
                                       choices=tuple(s.value for s in CertificateState)))
        meters = tuple(_meter(_Obj(item, path, source)) for item, path in gw.items("meters"))
        _unique(gw, [(m.server_id.text, f"gateway.meters[{i}]") for i, m in enumerate(meters)],
                "server_id")
        profiles = tuple(_profile(_Obj(item, path, source), {m.server_id: m for m in meters})
                         for item, path in gw.items("evaluation_profiles"))
        _unique(gw, [(p.usage_point_id, f"gateway.evaluation_profiles[{i}]")
                     for i, p in enumerate(profiles)], "usage_point_id")
        users = tuple(_user(_Obj(item, path, source), {p.usage_point_id for p in profiles})
                      for item, path in gw.items("users", required=True))
        _unique(gw, [(u.name, f"gateway.users[{i}]") for i, u in enumerate(users)], "name")
        _unique(gw, [(u.endpoint, f"gateway.users[{i}]") for i, u in enumerate(users)], "endpoint")
        han = _han(gw.obj("han"), dialect)
        logs = _logs(gw.obj("logs"))
        gw.done()
        faults = tuple(_fault(_Obj(item, path, source), {u.name for u in users},
                              {m.server_id for m in meters}) for item, path in root.items("faults"))
        root.done()
        return cls(name, title, description, smgw_id, vendor, model, dialect, firmware, drift,
                   conditions, wan, meters, profiles, users, han, logs, faults, source)

    # -- building ---------------------------------------------------------------------------------

    def build_state(self, pki: DemoPki | None = None, clock: Clock | None = None) -> SmgwState:
        """A fresh gateway in this scenario's state (faults applied, logs filled)."""
        import copy

        han = copy.deepcopy(self.han)
        conditions = copy.deepcopy(self.conditions)
        drift = self.drift_seconds
        meters = copy.deepcopy(list(self.meters))
        for fault in self.faults:
            if fault.kind == "slow_responses":
                han.response_delay = fault.seconds or 0.0
            elif fault.kind == "clock_drift":
                drift = fault.seconds or 0.0
            elif fault.kind == "han_disabled":
                conditions.han_enabled = False
            elif fault.kind == "han_wan_bridge":
                conditions.han_wan_separated = False
            elif fault.kind == "meter_missing":
                for meter in meters:
                    if meter.server_id == fault.server_id:
                        meter.present = False
        users = [
            HanUser.create(
                u.name, u.role, u.endpoint, realm=han.realm, password=u.password,
                client_cert_sha256=_client_fingerprints(u, pki), usage_points=u.usage_points,
                enabled=u.enabled,
            )
            for u in self.users
        ]
        state = SmgwState(
            SmgwId.parse(self.smgw_id), vendor=self.vendor, model=self.model,
            firmware=self.firmware,
            clock=clock, drift_seconds=drift, conditions=conditions, meters=meters,
            profiles=copy.deepcopy(list(self.profiles)), users=users, han=han,
            certificates=_certificates(pki, self.smgw_id, self.wan_certificates) if pki else (),
        )
        generate_history(
            state.system_log, state.consumer_log, end=state.now(),
            system_entries=self.logs.system_entries, consumer_entries=self.logs.consumer_entries,
            subjects=[p.usage_point_id for p in state.profiles], seed=self.logs.seed,
        )
        state.record(Event.STARTED)
        for fault in self.faults:
            if fault.kind == "han_lockout" and fault.user:
                state.guard.lock(fault.user, fault.seconds or han.lockout.lock_seconds)
        for meter in state.meters:
            if not meter.present:
                state.record(Event.METER_MISSING, level=LogLevel.ERROR, outcome="failure",
                             subject=meter.server_id.text.lower())
        if "application" in {s.value for s in state.secure_states()}:
            state.record(Event.CLOCK_DEVIATION, f"Clock deviation {drift:+.0f} s",
                         level=LogLevel.ALERT, outcome="failure")
        return state


def available() -> list[str]:
    """Names of the shipped scenarios."""
    folder = resource_path("demo")
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


# --- section readers ------------------------------------------------------------------------------


def _text_pair(obj: _Obj, key: str, default: Text) -> Text:
    value, present = obj._take(key, False)
    if not present:
        return default
    pair = _Obj(value, obj.sub(key), obj.source)
    text = Text(pair.text("en", required=True), pair.text("de", required=True))
    pair.done()
    return text


def _unique(obj: _Obj, keyed: list[tuple[str, str]], what: str) -> None:
    seen: dict[str, str] = {}
    for key, path in keyed:
        if key in seen:
            raise obj.error(f"{path}.{what}", Text(f"repeats '{key}' (also at {seen[key]})",
                                                   f"wiederholt '{key}' (auch bei {seen[key]})"))
        seen[key] = path


def _firmware(obj: _Obj) -> FirmwareComponent:
    name = obj.text("component", required=True)
    version = obj.text("version", required=True)
    digest = obj.text("sha256", required=True).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise obj.error(obj.sub("sha256"), Text("must be 64 hex digits (SHA-256)",
                                                "muss aus 64 Hex-Ziffern bestehen (SHA-256)"))
    obj.done()
    return FirmwareComponent(name, version, digest)


def _conditions(obj: _Obj) -> OperatingConditions:
    c = OperatingConditions(
        boot_complete=obj.flag("boot_complete", True),
        image_ok=obj.flag("image_ok", True),
        time_valid=obj.flag("time_valid", True),
        gwa_reachable=obj.flag("gwa_reachable", True),
        han_enabled=obj.flag("han_enabled", True),
        han_wan_separated=obj.flag("han_wan_separated", True),
        update_active=obj.flag("update_active", False),
        log_storage_full=obj.flag("log_storage_full", False),
        measurement_storage_full=obj.flag("measurement_storage_full", False),
    )
    obj.done()
    return c


def _meter(obj: _Obj) -> LmnMeter:
    server_id = obj.parsed("server_id", ServerId.parse)
    assert server_id is not None
    meter = LmnMeter(
        server_id=server_id,
        paired=obj.flag("paired", True),
        present=obj.flag("present", True),
        hdlc_address=obj.integer("hdlc_address", None, minimum=0, maximum=0x3FFF),
    )
    for item, path in obj.items("registers"):
        reg = _Obj(item, path, obj.source)
        obis = reg.parsed("obis", Obis.parse)
        assert obis is not None
        if meter.register(obis) is not None:
            raise reg.error(reg.sub("obis"), Text(f"repeats {obis.notation}",
                                                  f"wiederholt {obis.notation}"))
        meter.registers.append(RegisterValue(
            obis=obis,
            value=reg.integer("value", required=True),
            scaler=reg.integer("scaler", 0, minimum=-10, maximum=10),
            unit=reg.integer("unit", 30, minimum=0, maximum=255),
            increase_per_hour=reg.number("increase_per_hour", 0.0, minimum=0.0),
        ))
        reg.done()
    obj.done()
    return meter


def _profile(obj: _Obj, meters: dict[ServerId, LmnMeter]) -> EvaluationProfile:
    meter_ids: list[ServerId] = []
    for item, path in obj.items("meters", required=True):
        if not isinstance(item, str):
            raise obj.error(path, Text("must be a server ID text", "muss eine Server-ID sein"))
        try:
            sid = ServerId.parse(item)
        except InvalidValue as exc:
            raise obj.error(path, Text(f"is not valid: {exc.message.en}",
                                       f"ist ungültig: {exc.message.de}")) from exc
        if sid not in meters:
            raise obj.error(path, Text(f"names the meter {sid.text}, which is not in "
                                       "gateway.meters",
                                       f"nennt den Zähler {sid.text}, der nicht in gateway.meters "
                                       "steht"))
        meter_ids.append(sid)
    channels: list[Obis] = []
    for item, path in obj.items("channels", required=True):
        if not isinstance(item, str):
            raise obj.error(path, Text("must be an OBIS code text",
                                       "muss eine OBIS-Kennzahl als Text sein"))
        try:
            obis = Obis.parse(item)
        except InvalidValue as exc:
            raise obj.error(path, Text(f"is not an OBIS code: {exc.message.en}",
                                       f"ist keine OBIS-Kennzahl: {exc.message.de}")) from exc
        if not any(meters[m].register(obis) for m in meter_ids):
            raise obj.error(path, Text(f"names {obis.notation}, which none of the profile's "
                                       "meters has in its registers",
                                       f"nennt {obis.notation}, das keiner der Zähler des Profils "
                                       "in seinen Registern hat"))
        channels.append(obis)
    start = obj.time("start", required=True)
    assert start is not None
    periods = []
    for item, path in obj.items("billing_periods"):
        bp = _Obj(item, path, obj.source)
        bp_start = bp.time("start", required=True)
        assert bp_start is not None
        periods.append(BillingPeriod(bp_start, bp.time("end")))
        bp.done()
    profile = EvaluationProfile(
        usage_point_id=obj.text("usage_point_id", required=True),
        name=obj.text("name", ""),
        taf_number=obj.integer("taf", required=True, minimum=1, maximum=14),
        taf_state=TafState(obj.text("taf_state", "running",
                                    choices=tuple(s.value for s in TafState))),
        meters=meter_ids,
        channels=channels,
        start=start,
        end=obj.time("end"),
        delivery_id=obj.text("delivery_id", ""),
        metering_point_id=obj.text("metering_point_id", ""),
        registration_period=obj.integer("registration_period", 900, minimum=1),
        databases=_databases(obj),
        billing_periods=periods,
        on_demand=obj.flag("on_demand", False),
        transparency=obj.flag("transparency", False),
    )
    obj.done()
    return profile


DATABASES = ("origin", "derived", "calculated", "daily")


def _databases(obj: _Obj) -> tuple[str, ...]:
    names = []
    for item, path in obj.items("databases"):
        if item not in DATABASES:
            raise obj.error(path, Text(f"must be one of {', '.join(DATABASES)}",
                                       f"muss eines von {', '.join(DATABASES)} sein"))
        names.append(item)
    if names and "origin" not in names:
        raise obj.error(obj.sub("databases"), Text("must contain 'origin'",
                                                   "muss 'origin' enthalten"))
    return tuple(names) or ("origin",)


def _user(obj: _Obj, usage_points: set[str]) -> UserSpec:
    name = obj.text("name", required=True)
    role = Role(obj.text("role", required=True, choices=tuple(r.value for r in Role)))
    endpoint = obj.text("endpoint", required=True)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", endpoint):
        raise obj.error(obj.sub("endpoint"), Text("may hold only letters, digits, '.', '_', '-'",
                                                  "darf nur Buchstaben, Ziffern, '.', '_', '-' "
                                                  "enthalten"))
    password = obj.text("password")
    cert = obj.text("client_certificate")
    if password is None and cert is None:
        raise obj.error(obj.path, Text("needs a password or a client_certificate",
                                       "braucht ein password oder ein client_certificate"))
    ups: tuple[str, ...] | None = None
    if "usage_points" in obj._data:
        listed = []
        for item, path in obj.items("usage_points"):
            if item not in usage_points:
                raise obj.error(path, Text(f"names the unknown usage point '{item}'",
                                           f"nennt den unbekannten Nutzungspunkt '{item}'"))
            listed.append(item)
        ups = tuple(listed)
    spec = UserSpec(name, role, endpoint, password, cert, ups, obj.flag("enabled", True))
    obj.done()
    return spec


def _han(obj: _Obj, dialect: str) -> HanSettings:
    digest = obj.obj("digest")
    algorithms = []
    for item, path in digest.items("algorithms"):
        if item not in ("SHA-256", "MD5"):
            raise digest.error(path, Text("must be 'SHA-256' or 'MD5'",
                                          "muss 'SHA-256' oder 'MD5' sein"))
        algorithms.append(item)
    md5_only = digest.flag("md5_only", False)
    digest.done()
    lock = obj.obj("lockout")
    lockout = LockoutPolicy(lock.integer("max_failures", 5, minimum=1),
                            lock.number("lock_seconds", 300.0, minimum=1.0))
    lock.done()
    settings = HanSettings(
        dialect=dialect,
        realm=obj.text("realm", "smgw"),
        digest_algorithms=tuple(algorithms) or ("SHA-256", "MD5"),
        md5_only=md5_only,
        nonce_lifetime=obj.number("nonce_lifetime_seconds", 300.0, minimum=1.0),
        session_policy=SessionPolicy(obj.text("session_policy", "takeover",
                                              choices=tuple(p.value for p in SessionPolicy))),
        idle_timeout=obj.number("idle_timeout_seconds", 600.0, minimum=1.0),
        lockout=lockout,
        self_test_interval=obj.number("self_test_interval_seconds", 600.0, minimum=0.0),
        strict_content_type=obj.flag("strict_content_type", True),
        api_version=obj.text("api_version", "1.0"),
        reboot_seconds=obj.number("reboot_seconds", 30.0, minimum=0.0),
    )
    obj.done()
    return settings


def _logs(obj: _Obj) -> LogSpec:
    spec = LogSpec(obj.integer("system_entries", 400, minimum=0, maximum=50_000),
                   obj.integer("consumer_entries", 120, minimum=0, maximum=50_000),
                   obj.integer("seed", 1))
    obj.done()
    return spec


def _fault(obj: _Obj, users: set[str], meters: set[ServerId]) -> FaultSpec:
    kind = obj.text("kind", required=True, choices=FAULT_KINDS)
    fault = FaultSpec(kind)
    if kind == "han_lockout":
        user = obj.text("user", required=True)
        if user not in users:
            raise obj.error(obj.sub("user"), Text(f"names the unknown user '{user}'",
                                                  f"nennt den unbekannten Benutzer '{user}'"))
        fault = FaultSpec(kind, user=user, seconds=obj.number("seconds", 300.0, minimum=1.0))
    elif kind == "meter_missing":
        sid = obj.parsed("server_id", ServerId.parse)
        if sid not in meters:
            raise obj.error(obj.sub("server_id"), Text("names a meter not in gateway.meters",
                                                       "nennt einen Zähler, der nicht in "
                                                       "gateway.meters steht"))
        fault = FaultSpec(kind, server_id=sid)
    elif kind == "slow_responses":
        fault = FaultSpec(kind, seconds=obj.number("delay_seconds", required=True, minimum=0.0))
    elif kind == "clock_drift":
        fault = FaultSpec(kind, seconds=obj.number("seconds", required=True))
    obj.done()
    return fault


def _client_fingerprints(user: UserSpec, pki: DemoPki | None) -> frozenset[str]:
    ref = user.client_certificate
    if ref is None:
        return frozenset()
    if re.fullmatch(r"[0-9a-fA-F]{64}", ref):
        return frozenset({ref.lower()})
    if pki is not None and ref in pki.certs:
        return frozenset({pki[ref].sha256})
    return frozenset()


def _certificates(pki: DemoPki, smgw_id: str, wan: CertificateState
                  ) -> list[GatewayCertificate]:
    """HAN TLS (self-signed), WAN TLS/ENC, SIG by index (0 = Gütesiegel) and the Sub-CA."""
    certs = [
        GatewayCertificate("han_tls", pki["han"].cert_pem),
        GatewayCertificate("wan_tls", pki["smgw_tls"].cert_pem, wan),
        GatewayCertificate("wan_enc", pki["smgw_enc"].cert_pem, wan),
        GatewayCertificate("sub_ca", pki["sub_ca"].cert_pem),
    ]
    if wan is CertificateState.GUETESIEGEL:
        certs.append(GatewayCertificate("wan_sig", pki["smgw_sig"].cert_pem, wan, 0))
    else:
        factory = issue_certificate(
            subject=x509.Name([
                x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smgwct demo PKI"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "SMGW"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{smgw_id} SIG Guetesiegel"),
            ]),
            key=generate_key(pki.curve), issuer=pki["sub_ca"], usage="sig",
        )
        certs.append(GatewayCertificate("wan_sig", factory.cert_pem,
                                        CertificateState.GUETESIEGEL, 0))
        certs.append(GatewayCertificate("wan_sig", pki["smgw_sig"].cert_pem, wan, 1))
    return certs
