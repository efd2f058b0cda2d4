"""Flow "Technische Gerätedaten abfragen" (technical data): who the gateway is and how it stands.

Steps: pin the HAN certificate (trust on first use), log in and read identity, firmware with
hashes, certificates, operating state, clock and LMN meters, then assess them: certificates that
expire within 30 days, the state decoded into words, and the clock against this laptop (warning
above 9 s, error above 27 s: 3 % of the 15-minute registration period, beyond which the gateway
enters Secure State Application, DOMAIN.md §4.2).

Job data (all optional): ``user`` (HAN account; default the target's), ``role``
(``service_technician`` default, or ``consumer``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import InvalidValue, Text
from app.processes.engine import Flow, Step, StepContext, StepOutcome
from app.processes.flows.han_common import check_trust, han_session, mark_identified
from app.processes.flows.wording import date_text
from app.transports.han.base import TechnicalData, UserRole
from app.transports.han.state_code import FLAG_TEXT, StateFlag, decode_state

#: above this clock offset (seconds) the technician is warned: a third of the limit
CLOCK_WARN_SECONDS = 9.0
#: above this the gateway enters Secure State Application (3 % of 15 min)
CLOCK_ERROR_SECONDS = 27.0
#: certificates expiring within this many days are flagged
CERT_WARN_DAYS = 30

SEVERITIES = ("ok", "info", "warning", "error")


@dataclass(frozen=True)
class Finding:
    """One result of the assessment (Bewertung), for the view and the report."""

    severity: str  # ok | info | warning | error
    topic: str  # clock | certificate | state | meters | firmware
    message: Text
    hint: Text | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity, "topic": self.topic,
            "message": {"en": self.message.en, "de": self.message.de},
            "hint": None if self.hint is None else {"en": self.hint.en, "de": self.hint.de},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        hint = data.get("hint")
        return cls(str(data["severity"]), str(data["topic"]),
                   Text(data["message"]["en"], data["message"]["de"]),
                   Text(hint["en"], hint["de"]) if hint else None)


def role_from(data: Mapping[str, Any]) -> UserRole:
    raw = str(data.get("role") or UserRole.SERVICE_TECHNICIAN.value)
    try:
        return UserRole(raw)
    except ValueError:
        raise InvalidValue(
            Text(f"Unknown HAN role '{raw}'; use service_technician or consumer.",
                 f"Unbekannte HAN-Rolle '{raw}'; service_technician oder consumer verwenden."),
            field="role",
        ) from None


def technical_dict(data: TechnicalData, *, user: str) -> dict[str, Any]:
    """The JSON the read step stores: ``TechnicalData.to_dict()`` plus display helpers."""
    out = data.to_dict()
    identity = data.identity
    out["model"] = identity.model
    out["api_version"] = identity.api_version
    out["state_words"] = [{"en": w.en, "de": w.de} for w in identity.state.words()]
    out["state_normal"] = identity.state.normal
    out["measured_at"] = data.measured_at.isoformat()
    out["user"] = user
    return out


# -- assessment ---------------------------------------------------------------------------------


def _clock(offset: float) -> Finding:
    shown = f"{offset:+.1f} s"
    if abs(offset) > CLOCK_ERROR_SECONDS:
        return Finding(
            "error", "clock",
            Text(f"The gateway's clock differs from this laptop's by {shown} (more than "
                 f"{CLOCK_ERROR_SECONDS:g} s).",
                 f"Die Uhr des Gateways weicht um {shown} von der des Laptops ab (mehr als "
                 f"{CLOCK_ERROR_SECONDS:g} s)."),
            Text("Above 27 s (3 % of the 15-minute registration period) the gateway enters "
                 "Secure State Application and its measured values no longer count as "
                 "time-correct. The gateway takes legal time from the GWA's time server: first "
                 "make sure this laptop's clock is synchronised, then ask the GWA to check the "
                 "gateway's time synchronisation.",
                 "Über 27 s (3 % der 15-minütigen Registrierperiode) geht das Gateway in den "
                 "Secure State Application, und seine Messwerte gelten nicht mehr als zeitrichtig. "
                 "Das Gateway bezieht die gesetzliche Zeit vom Zeitserver des GWA: prüfen Sie "
                 "zuerst, ob die Uhr dieses Laptops synchronisiert ist, und lassen Sie dann den "
                 "GWA die Zeitsynchronisation des Gateways prüfen."),
        )
    if abs(offset) > CLOCK_WARN_SECONDS:
        return Finding(
            "warning", "clock",
            Text(f"The gateway's clock differs from this laptop's by {shown}.",
                 f"Die Uhr des Gateways weicht um {shown} von der des Laptops ab."),
            Text("At 27 s the gateway enters Secure State Application. Check that this laptop's "
                 "clock is synchronised; if it is, tell the GWA about the deviation.",
                 "Ab 27 s geht das Gateway in den Secure State Application. Prüfen Sie, ob die "
                 "Uhr des Laptops synchronisiert ist; wenn ja, melden Sie die Abweichung dem GWA."),
        )
    return Finding("ok", "clock",
                   Text(f"Clock within limits ({shown} against this laptop).",
                        f"Uhrzeit im Rahmen ({shown} gegenüber dem Laptop)."))


_ROLE_NAMES: dict[str, Text] = {
    "han_tls": Text("HAN TLS certificate", "HAN-TLS-Zertifikat"),
    "wan_sig": Text("WAN signature certificate", "WAN-Signaturzertifikat"),
    "wan_tls": Text("WAN TLS certificate", "WAN-TLS-Zertifikat"),
    "wan_enc": Text("WAN encryption certificate", "WAN-Verschlüsselungszertifikat"),
    "sub_ca": Text("Sub-CA certificate", "Sub-CA-Zertifikat"),
}


def role_name(role: str, index: int | None = None) -> Text:
    """``WAN signature certificate #1`` for a certificate role."""
    name = _ROLE_NAMES.get(role, Text(role, role))
    if index is not None:
        return Text(f"{name.en} #{index}", f"{name.de} #{index}")
    return name


def _certificates(certs: Sequence[Mapping[str, Any]], now: dt.datetime) -> list[Finding]:
    out: list[Finding] = []
    personalised = any(c.get("state") == "wirkzertifikat" for c in certs)
    for cert in certs:
        name = role_name(str(cert.get("role")), cert.get("index"))
        not_after = dt.datetime.fromisoformat(str(cert["not_after"]))
        not_before = dt.datetime.fromisoformat(str(cert["not_before"]))
        if cert.get("state") == "guetesiegel" and personalised:
            continue  # replaced by the operational certificate: its validity no longer matters
        days = (not_after - now).total_seconds() / 86400
        until = date_text(not_after.date())
        if not_before > now:
            since = date_text(not_before.date())
            out.append(Finding(
                "error", "certificate",
                Text(f"{name.en} is not valid before {since.en}.",
                     f"{name.de} ist erst ab {since.de} gültig."),
                Text("Check the gateway's clock and the certificate with the GWA.",
                     "Prüfen Sie die Uhr des Gateways und das Zertifikat mit dem GWA."),
            ))
        elif days < 0:
            out.append(Finding(
                "error", "certificate",
                Text(f"{name.en} expired on {until.en}.",
                     f"{name.de} ist am {until.de} abgelaufen."),
                Text("Ask the GWA to renew the certificate.",
                     "Bitten Sie den GWA, das Zertifikat zu erneuern."),
            ))
        elif days < CERT_WARN_DAYS:
            left = int(days)
            out.append(Finding(
                "warning", "certificate",
                Text(f"{name.en} expires on {until.en} (in {left} days).",
                     f"{name.de} läuft am {until.de} ab (in {left} Tagen)."),
                Text("Ask the GWA to renew it in time.",
                     "Bitten Sie den GWA um rechtzeitige Erneuerung."),
            ))
    if not out:
        out.append(Finding("ok", "certificate",
                           Text(f"All {len(certs)} certificates are valid for more than "
                                f"{CERT_WARN_DAYS} days.",
                                f"Alle {len(certs)} Zertifikate sind noch mehr als "
                                f"{CERT_WARN_DAYS} Tage gültig.")))
    return out


_STATE_HINTS: dict[StateFlag, tuple[str, Text]] = {
    StateFlag.SECURE_BOOT: ("error", Text(
        "The gateway refuses normal operation after a boot check (image, log storage). "
        "Call the GWA.",
        "Das Gateway verweigert nach einer Startprüfung (Image, Logspeicher) den Normalbetrieb. "
        "Verständigen Sie den GWA.")),
    StateFlag.SECURE_APPLICATION: ("error", Text(
        "Measurement or clock out of limits (storage full or clock deviation above 27 s). "
        "Call the GWA.",
        "Messung oder Uhr außerhalb der Grenzen (Speicher voll oder Zeitabweichung über 27 s). "
        "Verständigen Sie den GWA.")),
    StateFlag.SECURE_CONNECTIVITY: ("error", Text(
        "HAN and WAN are not separated: unplug any device that bridges the HAN port to the "
        "internet (including this laptop's other network), then have the GWA reset the state.",
        "HAN und WAN sind nicht getrennt: trennen Sie jedes Gerät, das den HAN-Anschluss mit dem "
        "Internet verbindet (auch ein anderes Netz dieses Laptops), und lassen Sie den Zustand "
        "vom GWA zurücksetzen.")),
    StateFlag.SECURE_MEASUREMENT: ("error", Text(
        "The gateway has no valid legal time; its values are flagged. Check the WAN link to "
        "the GWA's time server.",
        "Das Gateway hat keine gültige gesetzliche Zeit; seine Werte werden markiert. Prüfen Sie "
        "die WAN-Verbindung zum Zeitserver des GWA.")),
    StateFlag.DELIVERY_CERTIFICATES: ("warning", Text(
        "The gateway still uses its delivery (Gütesiegel) certificates: it is not personalised "
        "by the GWA yet.",
        "Das Gateway nutzt noch seine Gütesiegel-Zertifikate: es ist vom GWA noch nicht "
        "personalisiert.")),
    StateFlag.GWA_UNREACHABLE: ("warning", Text(
        "The gateway cannot reach the GWA. Check the WAN connection (mobile signal, cable).",
        "Das Gateway erreicht den GWA nicht. Prüfen Sie die WAN-Anbindung (Mobilfunk, Kabel).")),
    StateFlag.HAN_DISABLED: ("warning", Text(
        "HAN access is switched off by the operator.",
        "Der HAN-Zugang ist vom Betreiber abgeschaltet.")),
    StateFlag.NO_METER: ("warning", Text(
        "No LMN meter is paired and answering. Check the meter wiring or pairing.",
        "Kein LMN-Zähler ist gekoppelt und antwortet. Prüfen Sie Verdrahtung oder Kopplung.")),
    StateFlag.LOG_STORAGE_FULL: ("warning", Text(
        "The log storage is nearly full. Tell the GWA.",
        "Der Logspeicher ist fast voll. Informieren Sie den GWA.")),
    StateFlag.MEASUREMENT_STORAGE_FULL: ("warning", Text(
        "The measurement storage is nearly full. Tell the GWA.",
        "Der Messwertspeicher ist fast voll. Informieren Sie den GWA.")),
    StateFlag.UPDATE_ACTIVE: ("info", Text(
        "A firmware update is running: do not switch the gateway off.",
        "Ein Firmware-Update läuft: Gateway nicht ausschalten.")),
}


def _state(raw: str) -> list[Finding]:
    state = decode_state(raw)
    if state.normal:
        return [Finding("ok", "state", Text(f"Normal operation (state {raw}).",
                                            f"Normalbetrieb (Zustand {raw})."))]
    out: list[Finding] = []
    if not state.flags & StateFlag.RUNNING:
        out.append(Finding("warning", "state",
                           Text(f"The gateway is not running yet (state {raw}).",
                                f"Das Gateway ist noch nicht in Betrieb (Zustand {raw})."),
                           Text("Wait until it has finished booting, then read again.",
                                "Warten Sie das Ende des Starts ab und lesen Sie erneut.")))
    for flag, (severity, hint) in _STATE_HINTS.items():
        if flag in state.flags:
            words = FLAG_TEXT[flag]
            out.append(Finding(severity, "state",
                               Text(f"{words.en[:1].upper()}{words.en[1:]} (state {raw}).",
                                    f"{words.de[:1].upper()}{words.de[1:]} (Zustand {raw})."),
                               hint))
    if state.flags & StateFlag.RUNNING and not state.flags & StateFlag.TIME_VALID \
            and StateFlag.SECURE_MEASUREMENT not in state.flags:
        out.append(Finding("warning", "state",
                           Text("The gateway's time is not synchronised.",
                                "Die Zeit des Gateways ist nicht synchronisiert."),
                           Text("Check the WAN link to the GWA.",
                                "Prüfen Sie die WAN-Verbindung zum GWA.")))
    if state.unknown_bits:
        bits = f"{state.unknown_bits:08x}"
        out.append(Finding("info", "state",
                           Text(f"The state has bits this tool does not know ({bits}).",
                                f"Der Zustand hat Bits, die das Werkzeug nicht kennt ({bits}).")))
    return out


def _meters(meters: Sequence[Mapping[str, Any]]) -> list[Finding]:
    if not meters:
        return [Finding("warning", "meters",
                        Text("The gateway reports no LMN meter to this account.",
                             "Das Gateway meldet diesem Konto keinen LMN-Zähler."),
                        Text("Check the meter's connection and the evaluation profiles.",
                             "Prüfen Sie den Zähleranschluss und die Auswerteprofile."))]
    out = [Finding("ok", "meters", Text(f"{len(meters)} LMN meters.",
                                        f"{len(meters)} LMN-Zähler."))]
    for meter in meters:
        sid = meter.get("server_id")
        if meter.get("paired") is False:
            out.append(Finding("warning", "meters",
                               Text(f"Meter {sid} is not paired.",
                                    f"Zähler {sid} ist nicht gekoppelt.")))
    if any(not m.get("values_available", True) for m in meters):
        out.append(Finding("info", "meters",
                           Text("This account may not read meter values (service technician); "
                                "the consumer's account shows them.",
                                "Dieses Konto darf keine Messwerte lesen (Servicetechniker); "
                                "das Konto des Letztverbrauchers zeigt sie.")))
    return out


def assess(data: Mapping[str, Any], now: dt.datetime | None = None) -> list[Finding]:
    """Findings for the technical data as the read step stored it."""
    moment = now or dt.datetime.now(dt.UTC)
    findings = _state(str(data["state"]))
    findings.append(_clock(float(data.get("clock_offset_seconds", 0.0))))
    findings += _certificates(data.get("certificates", []), moment)
    findings += _meters(data.get("meters", []))
    return findings


def verdict(findings: Sequence[Finding]) -> str:
    """The worst severity among ``findings``."""
    return max((f.severity for f in findings), key=SEVERITIES.index, default="ok")


# -- steps --------------------------------------------------------------------------------------


async def read_technical_data(ctx: StepContext) -> StepOutcome:
    role = role_from(ctx.data)
    user = ctx.data.get("user")
    async with han_session(ctx, role, user=str(user) if user else None) as session:
        ctx.progress(None, Text("Reading the technical data…",
                                "Technische Gerätedaten werden gelesen…"))
        data = await session.adapter.technical_data(progress=ctx.progress, timeout=60)
        mark_identified(ctx, data.identity.smgw_id)
    identity = data.identity
    ctx.trace("han", "info", f"smgw_id={identity.smgw_id} state={identity.state.raw} "
                             f"offset={data.clock_offset_seconds:+.1f}s meters={len(data.meters)}")
    out = technical_dict(data, user=session.user)
    words = identity.state.describe()
    return StepOutcome(out, Text(
        f"{identity.vendor} {identity.smgw_id}, state {words.en or identity.state.raw} "
        f"({identity.state.raw}), {len(data.meters)} meters",
        f"{identity.vendor} {identity.smgw_id}, Zustand {words.de or identity.state.raw} "
        f"({identity.state.raw}), {len(data.meters)} Zähler"))


async def assess_step(ctx: StepContext) -> StepOutcome:
    findings = assess(ctx.results["read"].data)
    worst = verdict(findings)
    counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    for f in findings:
        if f.severity in ("warning", "error"):
            ctx.trace("han", "info", f"{f.severity}: {f.message.en}")
    if worst == "error":
        summary = Text(f"{counts['error']} errors, {counts['warning']} warnings: "
                       + next(f.message.en for f in findings if f.severity == "error"),
                       f"{counts['error']} Fehler, {counts['warning']} Warnungen: "
                       + next(f.message.de for f in findings if f.severity == "error"))
    elif worst == "warning":
        summary = Text(f"{counts['warning']} warnings: "
                       + next(f.message.en for f in findings if f.severity == "warning"),
                       f"{counts['warning']} Warnungen: "
                       + next(f.message.de for f in findings if f.severity == "warning"))
    else:
        summary = Text("Everything within limits.", "Alles im Rahmen.")
    return StepOutcome({"verdict": worst, "counts": counts,
                        "findings": [f.to_dict() for f in findings]}, summary)


TECHNICAL_DATA = Flow(
    name="technical_data",
    title=Text("Read technical data", "Technische Gerätedaten abfragen"),
    steps=(
        Step("trust", Text("Check the gateway certificate (HAN TLS)",
                           "Gateway-Zertifikat prüfen (HAN-TLS)"), check_trust, timeout=30),
        Step("read", Text("Log in and read the technical data",
                          "Anmelden und technische Gerätedaten lesen"),
             read_technical_data, timeout=120),
        Step("assess", Text("Assess certificates, state and clock",
                            "Zertifikate, Zustand und Uhrzeit bewerten"), assess_step),
    ),
)
