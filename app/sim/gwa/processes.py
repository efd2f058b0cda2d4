"""The processes the reference GWA runs (spec ch. 5, 6.2-6.4) and the micro-processes they chain.

``PROCESS_CATALOG`` maps a process name (``meter_profile.create``, ``pairing``, ``handover`` …)
to a :class:`ProcessSpec`: titles in German and English, the parameters it takes, the
micro-processes it chains, and the coroutine that runs it on a :class:`ProcessContext`. The
context sends one administration operation at a time over the MANAGEMENT session of the gateway
(waking it up first) and returns the gateway's answer; the process decides what comes next.

Parameters are typed objects or text. When the technician API hands over the exact operation the
tool asked for (``operation``), the process sends exactly that operation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.domain import LogicalName, Obis, ServerId
from app.errors import Text
from app.protocols.admin import (
    BillingEvaluationProfile,
    BillingPeriod,
    CallMethod,
    ClsProxyProfile,
    CommunicationProfile,
    CreateProfile,
    CryptoReset,
    CryptoResetReason,
    DeleteProfile,
    DeviceType,
    HksScenario,
    LmnComType,
    LmnInterface,
    LogName,
    MeterProfile,
    NonBillingEvaluationProfile,
    Operation,
    Pairing,
    PairingResult,
    PeerRole,
    Profile,
    ProfileKind,
    ProfileRef,
    ReadDeviceInfo,
    ReadLog,
    ReadProfile,
    SelfTest,
    TimeSync,
    TimeSyncResult,
    UpdateProfile,
)
from app.protocols.admin.catalog import BILLING_TAFS, TAF_CLASS_OBIS
from app.sim.gwa.composite import handover as _handover
from app.sim.gwa.composite import meter_change as _meter_change
from app.sim.gwa.params import PASSED as _PASSED
from app.sim.gwa.params import ParamSpec, apply_changes
from app.sim.gwa.params import param as _p
from app.sim.gwa.process_base import (
    MICRO_PROCESSES,
    SESSION_MICRO,
    MicroProcess,
    ProcessContext,
    ProcessFailed,
    ProcessProgress,
    ProcessResult,
    Runner,
    _bad,
)
from app.sim.gwa.process_base import check_kind as _check_kind
from app.sim.gwa.process_base import check_operation as _check_operation
from app.sim.gwa.process_base import device_data as _device_data
from app.sim.gwa.process_base import expect_ok as _expect
from app.sim.gwa.process_base import kind_of as _kind_of
from app.sim.gwa.process_base import self_test_data as _self_test_data
from app.sim.gwa.process_base import summary as _summary


@dataclass(frozen=True)
class ProcessSpec:
    """One process of the catalogue."""

    name: str
    title: Text
    description: Text
    chapter: str
    params: tuple[ParamSpec, ...]
    micro_processes: tuple[str, ...]
    run: Runner

    def validate(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Typed parameters with defaults; InvalidValue naming the parameter at fault."""
        given = dict(params or {})
        known = {**{p.name: p for p in _PASSED}, **{p.name: p for p in self.params}}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise _bad(unknown[0],
                       f"The process {self.name} takes no parameter '{unknown[0]}'; it takes: "
                       f"{', '.join(p.name for p in self.params) or 'none'}.",
                       f"Der Vorgang {self.name} kennt keinen Parameter '{unknown[0]}'; er kennt: "
                       f"{', '.join(p.name for p in self.params) or 'keine'}.")
        out: dict[str, Any] = {}
        operation_given = given.get("operation") is not None
        for name, spec in known.items():
            value = given.get(name)
            if value is None:
                if spec.required and not operation_given:
                    raise _bad(name, f"The process {self.name} needs the parameter '{name}'.",
                               f"Der Vorgang {self.name} braucht den Parameter '{name}'.")
                out[name] = spec.default() if callable(spec.default) else spec.default
            else:
                out[name] = spec.convert(value)
        return out

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly description (for the technician API and the CLI)."""
        return {
            "name": self.name, "title": {"en": self.title.en, "de": self.title.de},
            "description": {"en": self.description.en, "de": self.description.de},
            "chapter": self.chapter,
            "params": [{"name": p.name, "kind": p.kind, "required": p.required,
                        "description": {"en": p.description.en, "de": p.description.de}}
                       for p in self.params],
            "micro_processes": [
                {"name": m, "chapter": MICRO_PROCESSES[m].chapter,
                 "title": {"en": MICRO_PROCESSES[m].title.en, "de": MICRO_PROCESSES[m].title.de}}
                for m in self.micro_processes],
        }


# --- profile processes ---------------------------------------------------------------------------

Builder = Callable[[ProcessContext, dict[str, Any]], Profile]


def _crud(prefix: str, build: Builder, simple: tuple[ParamSpec, ...], chapter: str,
          title: Text, first_readout: bool = False) -> dict[str, ProcessSpec]:
    async def create(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
        if p["operation"] is not None:
            op = _check_operation(prefix, "create", p["operation"])
        else:
            profile = p["profile"] if p["profile"] is not None else build(ctx, p)
            op = CreateProfile(_check_kind(prefix, profile))
        assert isinstance(op, CreateProfile)
        ctx.step("create", Text(f"Creating {op.profile.id.text}", f"Lege {op.profile.id.text} an"),
                 0.1)
        return _summary(await _expect(ctx, op, Text(f"Create {title.en}",
                                                    f"{title.de} anlegen")))

    def ref_of(p: dict[str, Any]) -> ProfileRef:
        if p.get("server_id") is not None and prefix == "meter_profile":
            return ProfileRef(ProfileKind.METER, MeterProfile.id_for(p["server_id"]))
        if p["id"] is None:
            raise _bad("id", "The profile ID is missing (id=…).", "Die Profil-ID fehlt (id=…).")
        return ProfileRef(_kind_of(p["id"], prefix, p["kind"]), p["id"])

    async def read(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
        op = (_check_operation(prefix, "read", p["operation"]) if p["operation"] is not None
              else ReadProfile(ref_of(p)))
        return _summary(await _expect(ctx, op, Text(f"Read {title.en}", f"{title.de} auslesen")))

    async def update(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
        what = Text(f"Update {title.en}", f"{title.de} aktualisieren")
        if p["operation"] is not None:
            op = _check_operation(prefix, "update", p["operation"])
        elif p["profile"] is not None:
            op = UpdateProfile(_check_kind(prefix, p["profile"]))
        else:
            if not p["changes"]:
                raise _bad("changes", "Give the full profile (profile=…) or the changes.",
                           "Bitte das ganze Profil (profile=…) oder die Änderungen angeben.")
            ctx.step("read-current", Text("Reading the stored profile",
                                          "Lese das gespeicherte Profil"), 0.1)
            current = (await _expect(ctx, ReadProfile(ref_of(p)), what)).result
            assert current is not None and hasattr(current, "revision")
            op = UpdateProfile(apply_changes(current, p["changes"]))  # type: ignore[arg-type]
        return _summary(await _expect(ctx, op, what))

    async def delete(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
        op = (_check_operation(prefix, "delete", p["operation"]) if p["operation"] is not None
              else DeleteProfile(ref_of(p)))
        return _summary(await _expect(ctx, op, Text(f"Delete {title.en}",
                                                    f"{title.de} löschen")))

    ident = (
        _p("id", "profile_id", "Profile ID (COSEM logical name).",
           "Profil-ID (logischer COSEM-Name)."),
        _p("kind", "kind", "Profile kind (evaluation profiles: derived from the TAF).",
           "Profilart (Auswerteprofile: aus dem TAF abgeleitet)."),
    )
    if prefix == "meter_profile":
        ident = (*ident, _p("server_id", "server_id", "Server ID of the meter.",
                            "Server-ID des Zählers."))
    profile_param = _p("profile", "profile", "The complete profile (object or XML).",
                       "Das vollständige Profil (Objekt oder XML).")
    micro_create = (*SESSION_MICRO, "profile-create", "event")
    if first_readout:
        micro_create = (*micro_create, "first-readout")
    de_title = title.de
    return {
        f"{prefix}.create": ProcessSpec(
            f"{prefix}.create", Text(f"Create {title.en}", f"{de_title} anlegen"),
            Text(f"Creates a {title.en} on the gateway.", f"Legt ein {de_title} im Gateway an."),
            f"{chapter}.2", (profile_param, *simple), micro_create, create),
        f"{prefix}.read": ProcessSpec(
            f"{prefix}.read", Text(f"Read {title.en}", f"{de_title} auslesen"),
            Text(f"Reads a {title.en} back from the gateway.",
                 f"Liest ein {de_title} aus dem Gateway aus."),
            f"{chapter}.4", ident, (*SESSION_MICRO, "profile-read"), read),
        f"{prefix}.update": ProcessSpec(
            f"{prefix}.update", Text(f"Update {title.en}", f"{de_title} aktualisieren"),
            Text(f"Replaces a {title.en}: the given profile, or the stored one with changes "
                 "(read first, revision + 1).",
                 f"Ersetzt ein {de_title}: das angegebene Profil oder das gespeicherte mit "
                 "Änderungen (erst auslesen, Revision + 1)."),
            f"{chapter}.3",
            (profile_param, *ident,
             _p("changes", "mapping", "Fields to change (name -> value).",
                "Zu ändernde Felder (Name -> Wert).")),
            (*SESSION_MICRO, "profile-read", "profile-update", "event"), update),
        f"{prefix}.delete": ProcessSpec(
            f"{prefix}.delete", Text(f"Delete {title.en}", f"{de_title} löschen"),
            Text(f"Deletes a {title.en} from the gateway.",
                 f"Löscht ein {de_title} im Gateway."),
            f"{chapter}.5", ident, (*SESSION_MICRO, "profile-delete", "event"), delete),
    }


def _meter_build(ctx: ProcessContext, p: dict[str, Any]) -> Profile:
    sid = p["server_id"]
    if sid is None:
        raise _bad("server_id", "The meter's server ID is missing (server_id=…).",
                   "Die Server-ID des Zählers fehlt (server_id=…).")
    return MeterProfile(
        MeterProfile.id_for(sid), 1, sid, DeviceType(p["device_type"]), p["active"],
        p["sample_rate"], LmnInterface(p["lmn_interface"]), LmnComType(p["lmn_com_type"]),
        p["capture_list"], hdlc_address=p["hdlc_address"], key_material_ref=p["key_material_ref"],
    )


_METER_SIMPLE = (
    _p("server_id", "server_id", "Server ID of the meter.", "Server-ID des Zählers."),
    _p("device_type", "device_type", "Device type.", "Geräteart.", default="electricity"),
    _p("active", "bool", "Read the meter.", "Zähler auslesen.", default=True),
    _p("sample_rate", "int", "Seconds between readings.", "Sekunden zwischen Ablesungen.",
       default=900),
    _p("lmn_interface", "lmn_interface", "wired or wireless.", "wired oder wireless.",
       default="wired"),
    _p("lmn_com_type", "lmn_com_type", "tls or symmetric.", "tls oder symmetric.",
       default="tls"),
    _p("capture_list", "obis_list", "OBIS codes to capture.", "Zu erfassende OBIS-Kennzahlen.",
       default=lambda: (Obis.parse("1-0:1.8.0"), Obis.parse("1-0:2.8.0"))),
    _p("hdlc_address", "int", "HDLC address (wired meters).", "HDLC-Adresse (kabelgebunden)."),
    _p("key_material_ref", "text", "Label of the key M record.", "Bezeichnung des Schlüssels M."),
)


def _evaluation_build(ctx: ProcessContext, p: dict[str, Any]) -> Profile:
    taf = p["taf"]
    if taf is None or taf not in TAF_CLASS_OBIS:
        raise _bad("taf", f"taf must be one of {', '.join(map(str, sorted(TAF_CLASS_OBIS)))}.",
                   f"taf muss einer von {', '.join(map(str, sorted(TAF_CLASS_OBIS)))} sein.")
    billing = p["billing"] if p["billing"] is not None else taf in BILLING_TAFS
    pid = p["id"] or LogicalName.parse(f"{TAF_CLASS_OBIS[taf]}.{p['instance'] or f'taf{taf}-1'}.sm")
    if p["receiving_emt"] is None or p["meters"] is None:
        raise _bad("receiving_emt", "receiving_emt and meters are required.",
                   "receiving_emt und meters sind erforderlich.")
    if billing:
        if p["metering_point_id"] is None:
            raise _bad("metering_point_id", "A billing profile needs the metering point ID.",
                       "Ein abrechnungsrelevantes Profil braucht die Zählpunktbezeichnung.")
        return BillingEvaluationProfile(
            pid, 1, taf, p["metering_point_id"], p["receiving_emt"], p["registration_period"],
            BillingPeriod(p["billing_period"]), p["valid_from"], p["first_readout"], p["meters"],
            name=p["name"], valid_until=p["valid_until"])
    return NonBillingEvaluationProfile(
        pid, 1, taf, p["receiving_emt"], p["registration_period"], p["valid_from"], p["meters"],
        metering_point_id=p["metering_point_id"], name=p["name"], valid_until=p["valid_until"])


def _midnight() -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


_EVALUATION_SIMPLE = (
    _p("billing", "bool", "Billing-relevant (default: from the TAF).",
       "Abrechnungsrelevant (Standard: aus dem TAF)."),
    _p("taf", "int", "Tariff use case (TAF) number.", "Nummer des Tarifanwendungsfalls (TAF)."),
    _p("instance", "text", "Instance part of the ID (default taf<N>-1).",
       "Instanzteil der ID (Standard taf<N>-1)."),
    _p("id", "profile_id", "Profile ID (instead of taf + instance).",
       "Profil-ID (statt taf + instance)."),
    _p("name", "text", "Display name.", "Anzeigename."),
    _p("metering_point_id", "text", "Metering point ID (Zählpunkt).", "Zählpunktbezeichnung."),
    _p("receiving_emt", "profile_id", "Communication profile of the receiving EMT.",
       "Kommunikationsprofil des empfangenden EMT."),
    _p("registration_period", "int", "Registration period in seconds.",
       "Registrierperiode in Sekunden.", default=900),
    _p("billing_period", "billing_period", "Billing period.", "Abrechnungszeitraum.",
       default="monthly"),
    _p("valid_from", "time", "Start.", "Beginn.", default=_midnight),
    _p("valid_until", "time", "End (optional).", "Ende (optional)."),
    _p("first_readout", "bool", "Create with first readout.", "Anlegen mit Erstauslesung.",
       default=True),
    _p("meters", "meters", "Meters and their channels [{server_id, channels}].",
       "Zähler und ihre Kanäle [{server_id, channels}]."),
)


def _communication_build(ctx: ProcessContext, p: dict[str, Any]) -> Profile:
    missing = [n for n in ("id", "peer_role", "peer_name", "addresses", "tls_fingerprint")
               if p[n] is None]
    if missing:
        raise _bad(missing[0], f"The parameter '{missing[0]}' is missing (or give profile=…).",
                   f"Der Parameter '{missing[0]}' fehlt (oder profile=… angeben).")
    return CommunicationProfile(
        p["id"], 1, PeerRole(p["peer_role"]), p["peer_name"], p["addresses"],
        p["tls_fingerprint"].lower(), p["sig_certificate"], p["enc_certificate"],
        p["keep_alive"], p["max_idle"], p["max_session"])


_COMMUNICATION_SIMPLE = (
    _p("id", "profile_id", "Profile ID.", "Profil-ID."),
    _p("peer_role", "peer_role", "GWA, EMT or CLS.", "GWA, EMT oder CLS."),
    _p("peer_name", "text", "Name of the peer.", "Name der Gegenstelle."),
    _p("addresses", "addresses", "Addresses by purpose.", "Adressen nach Zweck."),
    _p("tls_fingerprint", "text", "SHA-256 of the peer's TLS certificate.",
       "SHA-256 des TLS-Zertifikats der Gegenstelle."),
    _p("sig_certificate", "certificate", "Peer's SIG certificate.",
       "SIG-Zertifikat der Gegenstelle."),
    _p("enc_certificate", "certificate", "Peer's ENC certificate.",
       "ENC-Zertifikat der Gegenstelle."),
    _p("keep_alive", "int", "Keep-alive seconds (0 = off).", "Keep-Alive in Sekunden (0 = aus).",
       default=0),
    _p("max_idle", "int", "Maximum idle time in seconds.", "Maximale Leerlaufzeit in Sekunden.",
       default=600),
    _p("max_session", "int", "Maximum session time in seconds.",
       "Maximale Sitzungsdauer in Sekunden.", default=3600),
)


def _cls_build(ctx: ProcessContext, p: dict[str, Any]) -> Profile:
    if p["id"] is None or p["cls_peer"] is None or p["emt_peer"] is None:
        raise _bad("id", "id, cls_peer and emt_peer are required (or give profile=…).",
                   "id, cls_peer und emt_peer sind erforderlich (oder profile=… angeben).")
    return ClsProxyProfile(p["id"], 1, p["cls_peer"], p["emt_peer"], p["scenarios"],
                           p["active"], p["max_session_seconds"], permanent=p["permanent"])


_CLS_SIMPLE = (
    _p("id", "profile_id", "Profile ID.", "Profil-ID."),
    _p("cls_peer", "profile_id", "Communication profile of the CLS device.",
       "Kommunikationsprofil des CLS-Geräts."),
    _p("emt_peer", "profile_id", "Communication profile of the active EMT.",
       "Kommunikationsprofil des aktiven EMT."),
    _p("scenarios", "scenarios", "HKS3/HKS4/HKS5.", "HKS3/HKS4/HKS5.",
       default=(HksScenario.HKS3,)),
    _p("active", "bool", "Active.", "Aktiv.", default=True),
    _p("max_session_seconds", "int", "Maximum session time.", "Maximale Sitzungsdauer.",
       default=3600),
    _p("permanent", "bool", "Permanent channel (HKS5 only).", "Dauerhafter Kanal (nur HKS5).",
       default=False),
)


# --- method-call processes -----------------------------------------------------------------------


def _call_op(p: dict[str, Any], call_type: type, build: Callable[[], Any]) -> Operation:
    op = p["operation"]
    if op is not None:
        if not isinstance(op, CallMethod) or not isinstance(op.call, call_type):
            raise _bad("operation", f"This process sends a {call_type.__name__} call.",
                       f"Dieser Vorgang sendet einen Aufruf {call_type.__name__}.")
        return op
    return CallMethod(build())


def _timeout(p: dict[str, Any]) -> int:
    return int(p.get("timeout_seconds") or p.get("timeout") or 120)


def _held_key(ctx: ProcessContext, sid: ServerId) -> bytes:
    """The initial key M the GWA holds for meter ``sid`` (its key store)."""
    key = ctx.meter_key(sid)
    if key is None:
        raise ProcessFailed(
            "no-key-material",
            Text(f"The GWA has no initial key M for meter {sid.display}.",
                 f"Der GWA hat keinen Initialschlüssel M für Zähler {sid.display}."),
            hint=Text("Import the meter's key sheet from the MSB, then try again.",
                      "Schlüsselblatt des Zählers vom MSB importieren und erneut versuchen."))
    return key


async def _pairing(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
    def build() -> Pairing:
        sid = p["server_id"]
        if sid is None:
            raise _bad("server_id", "The meter's server ID is missing.",
                       "Die Server-ID des Zählers fehlt.")
        key = p["initial_key"] if p["initial_key"] is not None else _held_key(ctx, sid)
        return Pairing(sid, key, _timeout(p))

    op = _call_op(p, Pairing, build)
    call = op.call if isinstance(op, CallMethod) else None
    if isinstance(call, Pairing) and call.initial_key is None:  # left to the GWA's key store
        op = CallMethod(replace(call, initial_key=_held_key(ctx, call.server_id)))
    response = await ctx.call(op, Text("Pairing", "Pairing"))
    result = response.result
    data = _summary(response)
    if isinstance(result, PairingResult):
        data.update(outcome=result.outcome.value, server_id=result.server_id.display,
                    meter_status=None if result.meter_status is None
                    else result.meter_status.hex(),
                    meter_tls_fingerprint=result.meter_tls_fingerprint)
    if not response.ok:
        failure = ProcessFailed.rejected(response, Text("Pairing", "Pairing"))
        failure.data = data
        raise failure
    return data


async def _crypto_reset(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
    def build() -> CryptoReset:
        if p["server_id"] is None:
            raise _bad("server_id", "The meter's server ID is missing.",
                       "Die Server-ID des Zählers fehlt.")
        return CryptoReset(p["server_id"], CryptoResetReason(p["reason"]), _timeout(p))

    op = _call_op(p, CryptoReset, build)
    return _summary(await _expect(ctx, op, Text("Crypto-Reset", "Crypto-Reset")))


async def _time_sync(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
    op = _call_op(p, TimeSync, lambda: TimeSync(p["server"]))
    response = await _expect(ctx, op, Text("Time synchronisation", "Zeitsynchronisation"))
    data = _summary(response)
    if isinstance(response.result, TimeSyncResult):
        r = response.result
        data.update(offset_ms=r.offset_ms, limit_ms=r.limit_ms, corrected=r.corrected,
                    within_limit=r.within_limit, server=r.server)
    return data


async def _self_test(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
    op = _call_op(p, SelfTest, SelfTest)
    return _self_test_data(await _expect(ctx, op, Text("Self-test", "Selbsttest")))


async def _device_info(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
    op = _call_op(p, ReadDeviceInfo, ReadDeviceInfo)
    return _device_data(await _expect(ctx, op, Text("Technical device data",
                                                    "Technische Gerätedaten")))


async def _read_log(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
    op = _call_op(p, ReadLog, lambda: ReadLog(LogName(p["log"]), p["max_entries"], p["since"],
                                              p["until"]))
    response = await _expect(ctx, op, Text("Query logs", "Logs abfragen"))
    data = _summary(response)
    entries = getattr(response.result, "entries", ())
    data.update(entries=len(entries), complete=getattr(response.result, "complete", True))
    return data


async def _operation(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
    op = p["operation"]
    if op is None:
        raise _bad("operation", "The operation is missing.", "Die Operation fehlt.")
    return _summary(await _expect(ctx, op, Text("Administration request",
                                                "Administrationsanfrage")))


# --- the catalogue -------------------------------------------------------------------------------


def _method(name: str, title: Text, description: Text, chapter: str,
            params: tuple[ParamSpec, ...], micro: tuple[str, ...], run: Runner) -> ProcessSpec:
    return ProcessSpec(name, title, description, chapter, params, (*SESSION_MICRO, *micro), run)


_SERVER = _p("server_id", "server_id", "Server ID of the meter.", "Server-ID des Zählers.",
             required=True)
_TIMEOUT = (_p("timeout", "int", "Timeout in seconds (10-900).", "Zeitlimit in Sekunden.",
               default=120),
            _p("timeout_seconds", "int", "Timeout in seconds (same as timeout).",
               "Zeitlimit in Sekunden (wie timeout)."))

PROCESS_CATALOG: dict[str, ProcessSpec] = {
    **_crud("communication_profile", _communication_build, _COMMUNICATION_SIMPLE, "6.4.1",
            Text("communication profile", "Kommunikationsprofil")),
    **_crud("meter_profile", _meter_build, _METER_SIMPLE, "6.4.2",
            Text("meter profile", "Zählerprofil")),
    **_crud("evaluation_profile", _evaluation_build, _EVALUATION_SIMPLE, "6.4.3",
            Text("evaluation profile", "Auswerteprofil"), first_readout=True),
    **_crud("cls_proxy_profile", _cls_build, _CLS_SIMPLE, "6.4.5",
            Text("CLS proxy profile", "CLS-Proxyprofil")),
    "pairing": _method(
        "pairing", Text("Pair meter and SMGW", "Pairing Zähler und SMGW"),
        Text("Pairs a configured meter with the gateway using its initial key M (FE 09 if the "
             "meter refuses the key).",
             "Koppelt einen eingerichteten Zähler mit dem Gateway über seinen Initialschlüssel M "
             "(FE 09, wenn der Zähler den Schlüssel ablehnt)."),
        "6.4.2.6",
        (_SERVER, _p("initial_key", "key", "Key M (default: from the GWA's key store).",
                     "Schlüssel M (Standard: aus dem Schlüsselspeicher des GWA)."), *_TIMEOUT),
        ("pairing", "event"), _pairing),
    "crypto_reset": _method(
        "crypto_reset", Text("Crypto-Reset", "Crypto-Reset"),
        Text("Returns a meter to its initial key M and clears its TLS state.",
             "Setzt einen Zähler auf seinen Initialschlüssel M zurück und löscht seinen "
             "TLS-Zustand."),
        "6.4.2.7",
        (_SERVER, _p("reason", "crypto_reason", "Why (meter-change, gateway-change, "
                     "key-compromise, repair).", "Grund.", default="repair"), *_TIMEOUT),
        ("crypto-reset", "event"), _crypto_reset),
    "time_sync": _method(
        "time_sync", Text("Time synchronisation", "Zeitsynchronisation"),
        Text("The gateway synchronises its clock with the GWA's time service.",
             "Das Gateway synchronisiert seine Uhr mit dem Zeitdienst des GWA."),
        "5.13", (_p("server", "text", "ntp:// address (default: the GWA profile's).",
                    "ntp://-Adresse (Standard: die des GWA-Profils)."),),
        ("time-sync", "event"), _time_sync),
    "self_test": _method(
        "self_test", Text("Self-test", "Selbsttest"),
        Text("Runs the gateway's self-test (at most every 10 minutes).",
             "Führt den Selbsttest des Gateways aus (höchstens alle 10 Minuten)."),
        "5.15", (), ("self-test", "event"), _self_test),
    "device_info": _method(
        "device_info", Text("Technical device data", "Technische Gerätedaten"),
        Text("Reads firmware, time and operating state.",
             "Liest Firmware, Uhrzeit und Betriebszustand."),
        "6.5.11", (), ("device-info",), _device_info),
    "read_log": _method(
        "read_log", Text("Query logs", "Logs abfragen"),
        Text("Reads the newest entries of the system log.",
             "Liest die neuesten Einträge des Systemlogs."),
        "6.5.10",
        (_p("log", "log", "system or metrological.", "system oder metrological.",
            default="system"),
         _p("max_entries", "int", "At most this many entries.", "Höchstens so viele Einträge.",
            default=100),
         _p("since", "time", "From.", "Von."), _p("until", "time", "Until.", "Bis.")),
        ("read-log",), _read_log),
    "handover": _method(
        "handover", Text("Transfer into normal operation", "Überführung in den Normalbetrieb"),
        Text("Installs the GWA's final communication profile (the gateway switches from "
             "Gütesiegel to Wirkzertifikate), further communication profiles, synchronises the "
             "clock, runs the self-test and checks that the gateway is in normal operation.",
             "Installiert das endgültige Kommunikationsprofil des GWA (das Gateway wechselt von "
             "Gütesiegel- auf Wirkzertifikate), weitere Kommunikationsprofile, synchronisiert die "
             "Uhr, führt den Selbsttest aus und prüft den Normalbetrieb."),
        "6.2",
        (_p("gwa_profile", "profile", "Final GWA profile (default: the GWA's own).",
            "Endgültiges GWA-Profil (Standard: das eigene des GWA)."),
         _p("communication_profiles", "profiles", "Further communication profiles.",
            "Weitere Kommunikationsprofile."),
         _p("self_test", "bool", "Run the self-test.", "Selbsttest ausführen.", default=True)),
        ("device-info", "profile-read", "profile-update", "profile-create", "time-sync",
         "self-test", "event"), _handover),
    "meter_change": _method(
        "meter_change", Text("Meter change", "Zählerwechsel"),
        Text("Creates the new meter's profile, pairs it, moves the evaluation profiles to it, "
             "resets the old meter's keys and deletes its profile.",
             "Legt das Profil des neuen Zählers an, koppelt ihn, stellt die Auswerteprofile um, "
             "setzt die Schlüssel des alten Zählers zurück und löscht dessen Profil."),
        "6.3",
        (_p("old_server_id", "server_id", "Server ID of the old meter.",
            "Server-ID des alten Zählers.", required=True),
         _p("new_server_id", "server_id", "Server ID of the new meter.",
            "Server-ID des neuen Zählers.", required=True),
         _p("initial_key", "key", "Key M of the new meter.", "Schlüssel M des neuen Zählers."),
         _p("capture_list", "obis_list", "Capture list (default: the old meter's).",
            "Erfassungsliste (Standard: die des alten Zählers)."),
         _p("hdlc_address", "int", "HDLC address of the new meter.",
            "HDLC-Adresse des neuen Zählers."),
         _p("key_material_ref", "text", "Label of the new key M record.",
            "Bezeichnung des neuen Schlüssels M."),
         _p("evaluation_profiles", "any", "Further evaluation profile IDs to move.",
            "Weitere umzustellende Auswerteprofile."),
         _p("crypto_reset_old", "bool", "Crypto-Reset of the old meter.",
            "Crypto-Reset des alten Zählers.", default=True)),
        ("profile-read", "profile-create", "pairing", "profile-update", "crypto-reset",
         "profile-delete", "event"), _meter_change),
    "operation": _method(
        "operation", Text("Administration request", "Administrationsanfrage"),
        Text("Sends one given administration operation.",
             "Sendet eine vorgegebene Administrationsoperation."),
        "4.2.3", (), (), _operation),
}


__all__ = [
    "MICRO_PROCESSES", "PROCESS_CATALOG", "MicroProcess", "ParamSpec", "ProcessContext",
    "ProcessFailed", "ProcessProgress", "ProcessResult", "ProcessSpec", "apply_changes",
]
