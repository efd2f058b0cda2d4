"""Flow "Überführung in den Normalbetrieb" (handover into normal operation, spec 6.2).

Steps, each with what it checks:

1. ``job``: the work order is valid; the run is attached to its job.
2. ``trust``: the gateway answers on HAN and its certificate is pinned (trust on first use).
3. ``identity``: the gateway's SMGW ID (HAN) is the work order's; mismatch stops with both.
4. ``gwa``: the GWA accepts the technician certificate and offers the processes needed.
5. ``handover``: the GWA carries out the handover while the tool follows its jobs and the
   gateway's events on a timeline: operating state read; the GWA's final communication profile
   is installed (a new revision of the delivery profile: the gateway switches its WAN
   certificates from Gütesiegel to Wirkzertifikate); the clock is synchronised; the operating
   state is read again and must be *normal*; over HAN the WAN certificates are Wirkzertifikate.
6. ``meters``: every meter that stays installed (work order role ``new``/``existing``) has its
   meter profile at the gateway and is paired (a meter paired already answers so without change).
7. ``profiles``: each of these meters has at least one running evaluation profile (HAN).
8. ``self_test``: the gateway's self-test passes (a self-test refused by the 10-minute lock
   counts when a passed result of the last 15 minutes is in the system log).
9. ``verdict``: "System im Normalbetrieb" with the evidence of every line.

The GWA's own communication profile is found by its ID: the job data's ``gwa_profile_id``, else
the GWA's status document (``profile_id``), else the reference GWA's
``01005e318031.gwa-main.sm``. Every GWA request is safe against a crash (see
:mod:`~app.processes.flows.gwa_common`), so the steps that act through the GWA can be resumed.

Job data (all optional, besides ``job``): ``user`` (HAN account), ``gwa_profile_id``,
``event_settle_seconds`` (how long to keep listening to gateway events after the handover,
default 1), and the GWA waiting options of :mod:`~app.processes.flows.gwa_common`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from app.errors import InvalidValue, SmgwctError, Text
from app.processes.engine import Flow, Step, StepContext, StepOutcome
from app.processes.flows import wording
from app.processes.flows.gwa_common import (
    GwaRun,
    GwaSession,
    GwaStepError,
    check_link,
    explain,
    gwa_session,
)
from app.processes.flows.han_common import LOG_ROLE, check_trust, han_session
from app.processes.flows.job_common import (
    evidence_line,
    expected_meters,
    identify_gateway,
    load_job,
    record_gateway,
    record_meter,
    same_server_id,
    work_order,
)
from app.processes.flows.pairing import (
    pair_meter,
    pairing_data,
    pairing_failure,
    read_meter_profile,
)
from app.protocols.admin import (
    CommunicationProfile,
    DeviceInfo,
    Reason,
    SelfTestResult,
    TimeSyncResult,
)
from app.transports.han.base import GatewayIdentity, LogKind, UserRole

DEFAULT_GWA_PROFILE_ID = "01005e318031.gwa-main.sm"
NEEDED = ("device_info", "communication_profile.read", "communication_profile.update",
          "time_sync", "meter_profile.read", "pairing", "self_test")
GWA_STEP_TIMEOUT = 1800.0
#: a passed self-test this recent counts when the gateway refuses a new one (repeat lock)
RECENT_SELF_TEST = dt.timedelta(minutes=15)
WAN_ROLES = ("wan_tls", "wan_enc", "wan_sig")

#: likely cause and next action per failed self-test check (5.15)
CHECK_HINTS: dict[str, Text] = {
    "lmn": Text("A paired meter does not answer on the LMN: check its power, the LMN cable and "
                "its HDLC address.",
                "Ein gepaarter Zähler antwortet im LMN nicht: Spannungsversorgung, LMN-Kabel und "
                "HDLC-Adresse prüfen."),
    "clock": Text("The clock is not valid or deviates: let the GWA synchronise the time (repeat "
                  "the handover step).",
                  "Die Uhr ist ungültig oder weicht ab: Zeitsynchronisation durch den GWA "
                  "wiederholen (Schritt Überführung wiederholen)."),
    "certificates": Text("A WAN certificate has expired: the GWA operator must renew it.",
                         "Ein WAN-Zertifikat ist abgelaufen: der GWA-Betreiber muss es "
                         "erneuern."),
    "firmware-integrity": Text("The firmware image is damaged: the gateway must be replaced "
                               "or repaired by the manufacturer.",
                               "Das Firmware-Abbild ist beschädigt: das Gateway muss getauscht "
                               "oder vom Hersteller repariert werden."),
    "storage": Text("The gateway's storage is full: call the GWA operator.",
                    "Der Speicher des Gateways ist voll: den GWA-Betreiber verständigen."),
    "wan-han-separation": Text("HAN and WAN are not separated: check the cabling at the "
                               "gateway (no bridge between the HAN and WAN ports).",
                               "HAN und WAN sind nicht getrennt: Verkabelung am Gateway prüfen "
                               "(keine Brücke zwischen HAN- und WAN-Anschluss)."),
}


def _t(en: str, de: str) -> Text:
    return Text(en, de)


def _operating_state(run: GwaRun) -> str:
    result = run.result
    if not isinstance(result, DeviceInfo):
        raise GwaStepError(_t("The gateway's device data did not arrive.",
                              "Die Gerätedaten des Gateways sind nicht angekommen."),
                           hint=None, run=run)
    return str(result.operating_state.value)


def _gwa_profile_id(data: Mapping[str, Any], status: Mapping[str, Any] | None) -> str:
    given = data.get("gwa_profile_id") or (status or {}).get("profile_id")
    if given is None:
        return DEFAULT_GWA_PROFILE_ID
    if not isinstance(given, str) or not given.strip():
        raise InvalidValue(_t("gwa_profile_id must be a profile ID such as "
                              "01005e318031.gwa-main.sm.",
                              "gwa_profile_id muss eine Profil-ID wie 01005e318031.gwa-main.sm "
                              "sein."), field="gwa_profile_id")
    return given.strip()


def wan_certificates(identity: GatewayIdentity) -> dict[str, dict[str, Any]]:
    """The gateway's current WAN certificates by role (the highest index of each role)."""
    out: dict[str, Any] = {}
    for cert in identity.certificates:
        if cert.role not in WAN_ROLES:
            continue
        known = out.get(cert.role)
        if known is None or (cert.index or 0) >= (known.index or 0):
            out[cert.role] = cert
    return {role: {"state": c.state, "sha256": c.sha256, "index": c.index,
                   "subject": c.subject} for role, c in out.items()}


# -- steps ----------------------------------------------------------------------------------------


async def gwa_link(ctx: StepContext) -> StepOutcome:
    order = work_order(ctx)
    data = await check_link(ctx, order.smgw_id.text, NEEDED)
    return StepOutcome(data, _t(f"GWA {data['gwa']} reachable; it accepted the technician "
                                "certificate and offers the handover's processes",
                                f"GWA {data['gwa']} erreichbar; er hat das Techniker-Zertifikat "
                                "akzeptiert und bietet die Vorgänge der Überführung an"))


def _secure_state(state: str) -> SmgwctError:
    words = wording.operating_state(state)
    return SmgwctError(
        _t(f"The gateway is in a {words.en}; it cannot be handed over.",
           f"Das Gateway ist im Zustand „{words.de}“; eine Überführung ist nicht möglich."),
        field="operating_state",
        hint=_t("Read the technical data and the system log to find the cause (clock, "
                "certificates, firmware); call the GWA operator.",
                "Technische Gerätedaten und Systemlog lesen, um die Ursache zu finden (Uhr, "
                "Zertifikate, Firmware); den GWA-Betreiber verständigen."))


async def _install_gwa_profile(ctx: StepContext, gwa: GwaSession, profile_id: str
                               ) -> dict[str, Any]:
    read = await gwa.run("communication_profile.read", {"id": profile_id},
                         purpose="GWA profile", span=(0.1, 0.25), check=False,
                         title=_t("Reading the GWA's delivery profile",
                                  "Auslieferungsprofil des GWA lesen"))
    if not read.ok or not isinstance(read.result, CommunicationProfile):
        message, hint = explain(read)
        if read.response is not None and read.response.reason is Reason.UNKNOWN_PROFILE:
            hint = _t(f"The gateway has no communication profile {profile_id}: give the ID of "
                      "the GWA's profile as gwa_profile_id in the job data, or ask the GWA "
                      "operator which profile the gateway was delivered with.",
                      f"Das Gateway hat kein Kommunikationsprofil {profile_id}: geben Sie die "
                      "ID des GWA-Profils als gwa_profile_id in den Auftragsdaten an oder "
                      "fragen Sie den GWA-Betreiber, mit welchem Profil das Gateway "
                      "ausgeliefert wurde.")
        raise GwaStepError(message, hint=hint, run=read)
    current = read.result
    final = dataclasses.replace(current, revision=current.revision + 1)
    update = await gwa.run(
        "communication_profile.update", {"profile": final}, purpose="GWA profile update",
        span=(0.25, 0.5),
        title=_t("Installing the GWA's final communication profile (Gütesiegel -> "
                 "Wirkzertifikat)",
                 "Endgültiges Kommunikationsprofil des GWA einspielen (Gütesiegel -> "
                 "Wirkzertifikat)"))
    return {"id": profile_id, "peer": current.peer_name, "revision_before": current.revision,
            "revision_after": final.revision, "gwa": [read.to_dict(), update.to_dict()]}


async def run_handover(ctx: StepContext) -> StepOutcome:
    """The GWA hands the gateway over; the tool follows every job and event on a timeline."""
    order = work_order(ctx)
    settle = ctx.data.get("event_settle_seconds", 1.0)
    if isinstance(settle, bool) or not isinstance(settle, int | float) or settle < 0:
        raise InvalidValue(_t("event_settle_seconds must be a number ≥ 0.",
                              "event_settle_seconds muss eine Zahl ≥ 0 sein."),
                           field="event_settle_seconds")
    profile: dict[str, Any] | None = None
    async with gwa_session(ctx, order.smgw_id, work_order=order.job_id) as gwa:
        async with gwa.watching_events(settle=float(settle)):
            before = await gwa.run("device_info", purpose="state before", span=(0.0, 0.1),
                                   title=_t("Reading the gateway's operating state",
                                            "Betriebszustand des Gateways lesen"))
            state_before = _operating_state(before)
            if state_before.startswith("secure-state"):
                raise _secure_state(state_before)
            if state_before == "delivery":
                status = ctx.results["gwa"].data if "gwa" in ctx.results else None
                profile = await _install_gwa_profile(
                    ctx, gwa, _gwa_profile_id(ctx.data, status))
            else:
                ctx.trace("gwa", "info", f"operating state {state_before}: the GWA profile is "
                                         "final already; it is not changed")
            synced = await gwa.run("time_sync", purpose="time sync", span=(0.5, 0.75),
                                   title=_t("Synchronising the gateway's clock",
                                            "Uhr des Gateways synchronisieren"))
            after = await gwa.run("device_info", purpose="state after", span=(0.75, 0.9),
                                  title=_t("Reading the operating state again",
                                           "Betriebszustand erneut lesen"))
        timeline = list(gwa.timeline)
        runs = [r.to_dict() for r in gwa.runs]
    state_after = _operating_state(after)
    sync: dict[str, Any] = {}
    if isinstance(synced.result, TimeSyncResult):
        r = synced.result
        sync = {"offset_ms": r.offset_ms, "limit_ms": r.limit_ms, "corrected": r.corrected,
                "within_limit": r.within_limit, "server": r.server}
    ctx.progress(0.92, _t("Checking the WAN certificates over HAN",
                          "WAN-Zertifikate über HAN prüfen"))
    user = ctx.data.get("user")
    async with han_session(ctx, UserRole.SERVICE_TECHNICIAN,
                           user=str(user) if user else None) as session:
        identity = await session.adapter.identify(progress=ctx.progress)
    await record_gateway(ctx, identity)
    certs = wan_certificates(identity)
    data: dict[str, Any] = {
        "state_before": state_before, "state_after": state_after, "gwa_profile": profile,
        "time_sync": sync, "wan_certificates": certs, "timeline": timeline, "gwa": runs,
        "firmware": None if not isinstance(after.result, DeviceInfo)
        else after.result.firmware_version,
    }
    still = sorted(role for role, c in certs.items() if c["state"] != "wirkzertifikat")
    if state_after != "normal" or still:
        after_words = wording.operating_state(state_after)
        roles = wording.join(wording.certificate_role(r) for r in still) if still \
            else wording.outcome("none")
        raise SmgwctError(
            _t(f"The gateway is not in normal operation after the handover (state: "
               f"{after_words.en}; certificates still Gütesiegel: {roles.en}).",
               f"Das Gateway ist nach der Überführung nicht im Normalbetrieb (Zustand: "
               f"{after_words.de}; noch Gütesiegel-Zertifikate: {roles.de})."),
            field="operating_state",
            hint=_t("Read the gateway's system log (flow Logs) for the cause, then repeat this "
                    "step; call the GWA operator if the state stays.",
                    "Systemlog des Gateways lesen (Ablauf Logs), um die Ursache zu finden, dann "
                    "diesen Schritt wiederholen; bleibt der Zustand, den GWA-Betreiber "
                    "verständigen."))
    events = sum(1 for t in timeline if t.get("event"))
    offset = sync.get("offset_ms")
    change = _state_change(state_before, state_after)
    return StepOutcome(data, _t(
        f"Handover done: {change.en}, WAN certificates are Wirkzertifikate, clock "
        f"synchronised (offset {offset} ms); {len(timeline)} timeline entries, {events} "
        "gateway events",
        f"Überführung erledigt: {change.de}, WAN-Zertifikate sind Wirkzertifikate, Uhr "
        f"synchronisiert (Abweichung {offset} ms); {len(timeline)} Einträge in der "
        f"Zeitleiste, {events} Gateway-Ereignisse"))


def _state_change(before: object, after: object) -> Text:
    """``Auslieferungszustand → Normalbetrieb``."""
    a, b = wording.operating_state(before), wording.operating_state(after)
    return _t(f"{a.en} → {b.en}", f"{a.de} → {b.de}")


async def check_meters(ctx: StepContext) -> StepOutcome:
    """Every meter that stays installed is configured at the gateway and paired."""
    order = work_order(ctx)
    meters = expected_meters(order)
    if not meters:
        return StepOutcome({"meters": []}, _t("The work order names no meter",
                                              "Der Auftrag nennt keinen Zähler"))
    found: list[dict[str, Any]] = []
    share = 1.0 / len(meters)
    async with gwa_session(ctx, order.smgw_id, work_order=order.job_id) as gwa:
        for i, meter in enumerate(meters):
            lo = i * share
            profile = await read_meter_profile(ctx, gwa, meter, span=(lo, lo + share / 3))
            run = await pair_meter(ctx, gwa, meter, span=(lo + share / 3, lo + share))
            if not run.ok:
                raise pairing_failure(run, meter)
            entry = pairing_data(run)
            entry.update(server_id=meter.server_id_text, role=meter.role.value,
                         profile_id=profile.id.text, profile_revision=profile.revision,
                         hdlc_address=profile.hdlc_address,
                         capture_list=[o.notation for o in profile.capture_list])
            found.append(entry)
            await record_meter(ctx, meter.server_id_text, source="gwa", role=meter.role.value,
                               public_key_sha256=entry.get("meter_tls_fingerprint"))
    names = ", ".join(m["server_id"] for m in found)
    return StepOutcome({"meters": found},
                       _t(f"{len(found)} meter(s) configured and paired: {names}",
                          f"{len(found)} Zähler eingerichtet und gepaart: {names}"))


async def check_profiles(ctx: StepContext) -> StepOutcome:
    """Each meter that stays installed has a running evaluation profile (Auswerteprofil)."""
    order = work_order(ctx)
    meters = expected_meters(order)
    user = ctx.data.get("user")
    async with han_session(ctx, UserRole.SERVICE_TECHNICIAN,
                           user=str(user) if user else None) as session:
        ctx.progress(None, _t("Reading the evaluation profiles…", "Auswerteprofile werden "
                              "gelesen…"))
        technical = await session.adapter.technical_data(progress=ctx.progress)
    profiles = [p.to_dict() for p in technical.profiles]
    per_meter: list[dict[str, Any]] = []
    missing: list[Text] = []
    for meter in meters:
        mine = [p for p in technical.profiles
                if any(same_server_id(meter.server_id_text, m) for m in p.meters)]
        active = [p for p in mine if (p.taf_state or "").lower() == "running"]
        per_meter.append({"server_id": meter.server_id_text,
                          "active": [p.usage_point_id for p in active],
                          "states": {p.usage_point_id: p.taf_state for p in mine},
                          "tafs": sorted({p.taf_number for p in active if p.taf_number})})
        if not active:
            states = wording.join(
                _t(f"{p.usage_point_id}: {wording.taf_state(p.taf_state).en}",
                   f"{p.usage_point_id}: {wording.taf_state(p.taf_state).de}") for p in mine)
            if not mine:
                states = _t("no profile", "kein Profil")
            missing.append(_t(f"{meter.server_id_text} ({states.en})",
                              f"{meter.server_id_text} ({states.de})"))
    if missing:
        shown = wording.join(missing, "; ")
        raise SmgwctError(
            _t(f"No active evaluation profile for: {shown.en}.",
               f"Kein aktives Auswerteprofil für: {shown.de}."),
            field="evaluation_profiles",
            hint=_t("The GWA installs the evaluation profiles of the metering point operator's "
                    "order (TAF): ask the GWA operator to install or start them, then repeat "
                    "this step.",
                    "Der GWA spielt die Auswerteprofile des Messstellenbetreiber-Auftrags (TAF) "
                    "ein: bitten Sie den GWA-Betreiber, sie einzuspielen oder zu starten, und "
                    "wiederholen Sie dann diesen Schritt."))
    count = sum(len(m["active"]) for m in per_meter)
    return StepOutcome({"meters": per_meter, "profiles": profiles},
                       _t(f"{count} evaluation profile(s) active for {len(per_meter)} meter(s)",
                          f"{count} Auswerteprofil(e) aktiv für {len(per_meter)} Zähler"))


def _failed_checks(result: SelfTestResult) -> list[dict[str, str]]:
    return [{"name": c.name, "detail": c.detail} for c in result.checks
            if c.outcome.value == "failed"]


async def _recent_self_test(ctx: StepContext) -> tuple[str, list[dict[str, Any]]]:
    """The newest self-test result of the last 15 minutes in the HAN system log."""
    from app.processes.flows.logs import fetch_log
    from app.processes.flows.self_test import outcome_of, self_test_entries

    kind = LogKind.SYSTEM
    user = ctx.data.get("user")
    async with han_session(ctx, LOG_ROLE[kind], user=str(user) if user else None) as session:
        identity = await session.adapter.identify()
        since = identity.time - RECENT_SELF_TEST
        entries, _pages = await fetch_log(ctx, session.adapter, kind, since=since)
    found = self_test_entries(entries, since)
    return outcome_of(found), [e.to_dict() for e in found]


async def self_test(ctx: StepContext) -> StepOutcome:
    """The gateway's self-test (5.15) passes."""
    order = work_order(ctx)
    async with gwa_session(ctx, order.smgw_id, work_order=order.job_id) as gwa:
        run = await gwa.run("self_test", purpose="self-test", check=False,
                            title=_t("Gateway self-test", "Selbsttest des Gateways"))
        data: dict[str, Any] = {"gwa": run.to_dict(), "timeline": list(gwa.timeline)}
    response = run.response
    if response is not None and response.reason is Reason.RATE_LIMITED:
        verdict, entries = await _recent_self_test(ctx)
        data.update(source="system log", verdict=verdict, entries=entries,
                    retry_after_seconds=response.retry_after_seconds)
        if verdict == "passed":
            return StepOutcome(data, _t("The gateway refused a new self-test (10-minute lock); "
                                        "its self-test of the last minutes passed",
                                        "Das Gateway hat einen neuen Selbsttest abgelehnt "
                                        "(10-Minuten-Sperre); sein Selbsttest der letzten "
                                        "Minuten ist bestanden"))
        wait = response.retry_after_seconds or 600
        raise SmgwctError(
            _t(f"The gateway refused the self-test (one every 10 minutes) and no passed result "
               f"of the last 15 minutes is in its log; it can run again in {wait} s.",
               f"Das Gateway hat den Selbsttest abgelehnt (einer alle 10 Minuten) und im Log "
               f"steht kein bestandener Selbsttest der letzten 15 Minuten; er ist in {wait} s "
               "wieder möglich."),
            field="self_test",
            hint=_t("Wait until then and resume the job; this step is repeated.",
                    "Warten Sie so lange und setzen Sie den Auftrag dann fort; dieser Schritt "
                    "wird wiederholt."))
    if not run.ok:
        message, hint = explain(run)
        raise GwaStepError(message, hint=hint, run=run)
    result = run.result
    if not isinstance(result, SelfTestResult):
        raise GwaStepError(_t("The gateway sent no self-test result.",
                              "Das Gateway hat kein Selbsttest-Ergebnis gesendet."),
                           hint=None, run=run)
    failed = _failed_checks(result)
    data.update(source="gwa", verdict="passed" if result.passed else "failed",
                started=result.started.isoformat(), finished=result.finished.isoformat(),
                checks=[{"name": c.name, "outcome": c.outcome.value, "detail": c.detail}
                        for c in result.checks], failed_checks=failed)
    if not result.passed:
        shown = wording.join((_t(f"{wording.self_test_check(c['name']).en}: {c['detail']}",
                                 f"{wording.self_test_check(c['name']).de}: {c['detail']}")
                              for c in failed), "; ")
        hints = [CHECK_HINTS[c["name"]] for c in failed if c["name"] in CHECK_HINTS]
        raise SmgwctError(
            _t(f"The gateway's self-test failed: {shown.en}.",
               f"Der Selbsttest des Gateways ist fehlgeschlagen: {shown.de}."),
            field="self_test",
            hint=_t(" ".join([*(h.en for h in hints), "Then resume the job (the self-test can "
                                                      "be repeated after 10 minutes)."]),
                    " ".join([*(h.de for h in hints), "Danach den Auftrag fortsetzen (der "
                                                      "Selbsttest ist nach 10 Minuten wieder "
                                                      "möglich)."])))
    names = wording.join(wording.self_test_check(c.name) for c in result.checks)
    return StepOutcome(data, _t(f"Self-test passed ({names.en})",
                                f"Selbsttest bestanden ({names.de})"))


def verdict_lines(results: Mapping[str, Any], order_smgw: str) -> list[dict[str, Any]]:
    """The evidence of each line of the verdict, from the steps' data."""
    def data(step: str) -> Mapping[str, Any]:
        outcome = results.get(step)
        return {} if outcome is None else outcome.data

    trust, identity, gwa = data("trust"), data("identity"), data("gwa")
    handover, meters, profiles, test = (data("handover"), data("meters"), data("profiles"),
                                        data("self_test"))
    certs = handover.get("wan_certificates", {})
    cert_text = wording.join(
        _t(f"{wording.certificate_role(role).en}: {wording.certificate_state(c.get('state')).en} "
           f"{str(c.get('sha256'))[:12]}…",
           f"{wording.certificate_role(role).de}: {wording.certificate_state(c.get('state')).de} "
           f"{str(c.get('sha256'))[:12]}…")
        for role, c in sorted(certs.items()))
    change = _state_change(handover.get("state_before"), handover.get("state_after"))
    sync = handover.get("time_sync", {})
    lines = [
        evidence_line("han", _t("HAN reachable, certificate pinned",
                                "HAN erreichbar, Zertifikat gepinnt"),
                      _t(f"{trust.get('host')}:{trust.get('port')} SHA-256 "
                         f"{str(trust.get('sha256'))[:16]}…",
                         f"{trust.get('host')}:{trust.get('port')} SHA-256 "
                         f"{str(trust.get('sha256'))[:16]}…"), step="trust"),
        evidence_line("identity", _t("Gateway = work order", "Gateway = Auftrag"),
                      _t(f"{identity.get('smgw_id')} (HAN) = {order_smgw} (work order), "
                         f"firmware {(identity.get('firmware') or [{}])[0].get('version')}",
                         f"{identity.get('smgw_id')} (HAN) = {order_smgw} (Auftrag), "
                         f"Firmware {(identity.get('firmware') or [{}])[0].get('version')}"),
                      step="identity"),
        evidence_line("gwa", _t("GWA link up", "GWA-Verbindung steht"),
                      _t(f"{gwa.get('gwa')}, certificate {str(gwa.get('gwa_sha256'))[:16]}…",
                         f"{gwa.get('gwa')}, Zertifikat {str(gwa.get('gwa_sha256'))[:16]}…"),
                      step="gwa"),
        evidence_line("handover", _t("Handover by the GWA", "Überführung durch den GWA"),
                      _t(f"{change.en}; {cert_text.en}; "
                         f"{len(handover.get('timeline', []))} timeline entries",
                         f"{change.de}; {cert_text.de}; "
                         f"{len(handover.get('timeline', []))} Einträge in der Zeitleiste"),
                      step="handover"),
        evidence_line("time", _t("Clock synchronised", "Uhr synchronisiert"),
                      _t(f"offset {sync.get('offset_ms')} ms (limit {sync.get('limit_ms')} ms)",
                         f"Abweichung {sync.get('offset_ms')} ms (Grenze "
                         f"{sync.get('limit_ms')} ms)"), step="handover"),
    ]
    for meter in meters.get("meters", []):
        fp = str(meter.get("meter_tls_fingerprint"))[:16]
        state = wording.outcome(meter.get("outcome"))
        lines.append(evidence_line(
            f"meter {meter['server_id']}", _t(f"Meter {meter['server_id']} detected and paired",
                                              f"Zähler {meter['server_id']} erkannt und gepaart"),
            _t(f"profile {meter.get('profile_id')}, {state.en}, meter TLS {fp}…",
               f"Profil {meter.get('profile_id')}, {state.de}, TLS des Zählers {fp}…"),
            step="meters"))
    for meter in profiles.get("meters", []):
        active = ", ".join(meter.get("active", []))
        lines.append(evidence_line(
            f"profiles {meter['server_id']}",
            _t(f"Evaluation profiles of {meter['server_id']} active",
               f"Auswerteprofile von {meter['server_id']} aktiv"),
            _t(f"{active} (TAF {', '.join(str(t) for t in meter.get('tafs', []))})",
               f"{active} (TAF {', '.join(str(t) for t in meter.get('tafs', []))})"),
            step="profiles"))
    lines.append(evidence_line(
        "self_test", _t("Self-test clean", "Selbsttest fehlerfrei"), self_test_evidence(test),
        step="self_test"))
    return lines


def self_test_evidence(test: Mapping[str, Any]) -> Text:
    """``bestanden (vom GWA gemeldet, 29.11.2026 20:38)`` from the self-test step's data."""
    verdict_words = wording.outcome(test.get("verdict") or "unknown")
    where = wording.source(test.get("source"))
    when = test.get("finished")
    if not when:  # a result from the system log: the newest entry's time
        entries = test.get("entries") or []
        when = entries[-1].get("time") if entries and isinstance(entries[-1], Mapping) else None
    moment = wording.local_time(when) if when else None
    return _t(f"{verdict_words.en} ({where.en}" + (f", {moment.en})" if moment else ")"),
              f"{verdict_words.de} ({where.de}" + (f", {moment.de})" if moment else ")"))


async def verdict(ctx: StepContext) -> StepOutcome:
    order = work_order(ctx)
    lines = verdict_lines(ctx.results, order.smgw_id.text)
    ok = all(line["ok"] for line in lines)
    title = _t("System in normal operation", "System im Normalbetrieb")
    return StepOutcome(
        {"verdict": "normal-operation" if ok else "incomplete",
         "title": {"en": title.en, "de": title.de}, "smgw_id": order.smgw_id.text,
         "lines": lines},
        _t(f"System in normal operation: gateway {order.smgw_id.text}, {len(lines)} checks "
           "with evidence",
           f"System im Normalbetrieb: Gateway {order.smgw_id.text}, {len(lines)} Prüfungen "
           "mit Nachweis"))


HANDOVER = Flow(
    name="handover",
    title=_t("Transfer into normal operation", "Überführung in den Normalbetrieb"),
    steps=(
        Step("job", _t("Load the work order", "Auftrag laden"), load_job, timeout=30),
        Step("trust", _t("HAN reachable and pinned", "HAN erreichbar und gepinnt"),
             check_trust, timeout=60),
        Step("identity", _t("Gateway identity = work order", "Gateway-Identität = Auftrag"),
             identify_gateway, timeout=90),
        Step("gwa", _t("GWA link up", "GWA-Verbindung steht"), gwa_link,
             timeout=GWA_STEP_TIMEOUT),
        Step("handover", _t("GWA runs the handover", "GWA führt die Überführung aus"),
             run_handover, timeout=GWA_STEP_TIMEOUT),
        Step("meters", _t("Meters detected and paired", "Zähler erkannt und gepaart"),
             check_meters, timeout=GWA_STEP_TIMEOUT),
        Step("profiles", _t("Evaluation profiles active", "Auswerteprofile aktiv"),
             check_profiles, timeout=120),
        Step("self_test", _t("Self-test clean", "Selbsttest fehlerfrei"), self_test,
             timeout=GWA_STEP_TIMEOUT),
        Step("verdict", _t("System in normal operation", "System im Normalbetrieb"), verdict,
             timeout=30),
    ),
)


__all__ = [
    "CHECK_HINTS",
    "DEFAULT_GWA_PROFILE_ID",
    "HANDOVER",
    "NEEDED",
    "verdict_lines",
    "wan_certificates",
]
