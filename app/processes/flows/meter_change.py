"""Flow "Zähler wechseln" (meter change, spec 6.3): old meter out, new meter in, evidence kept.

Steps, each with what it checks (the work order must name one ``old`` and at least one ``new``
meter):

1. ``job``: the work order is valid for a meter change; the run is attached to its job.
2. ``trust`` / 3. ``identity``: HAN reachable and pinned; the gateway is the work order's.
4. ``gwa``: the GWA accepts the technician certificate and offers the processes needed.
5. ``old_reading``: final reading (Endstand) of the old meter through the read head: its server
   ID must be the work order's old meter; 1.8.0 (and 2.8.0 where the meter has it) are stored in
   the job.
6. ``old_seal``: the seal number (Plombennummer) removed from the old meter and a note, checked
   and stored in the job (``seal`` / ``note`` in the job data answer in advance).
7. ``old_config``: the gateway lists the old meter (its meter profile at the GWA) and which
   evaluation profiles (Auswerteprofile) read it (HAN, or ``evaluation_profiles`` in the job
   data); all of them are read through the GWA and kept in the step data, *before* anything is
   deleted, so that they can be created again for the new meter after a crash too.
8. ``remove_old``: the GWA terminates those evaluation profiles and deletes the old meter profile.
9. ``swap``: the technician removes the old meter, installs the new one and puts the read head
   on it, and confirms ("Neuen Zähler eingebaut und Lesekopf aufgesetzt?").
10. ``new_reading``: the new meter read optically; its server ID must be a ``new`` meter of the
    work order (a different meter stops the flow with both IDs); initial reading stored.
11. ``create_profile``: the GWA creates the new meter's profile (capture list etc. taken over from
    the old one, key material reference from the work order).
12. ``detect``: the gateway detects the new meter on the LMN (its event at the GWA; the HAN list
    where the dialect shows meters without evaluation profiles).
13. ``pairing``: the GWA pairs the new meter with its key M (FE 09 explained).
14. ``evaluation``: the GWA creates the evaluation profiles again, now reading the new meter, with
    first readout (Erstauslesung); the first readout's values are stored in the job.
15. ``han_values``: the new meter's first values are seen over HAN (consumer account) and the
    gateway lists the new meter, not the old one.
16. ``summary``: both readings, the seal, the moved profiles, with the evidence of every line.

Every step that changes the gateway acts through the GWA with idempotency keys stored before the
request (:mod:`~app.processes.flows.gwa_common`): resumed after a crash it finds the GWA's job
again instead of running it twice. Readings stored by a step that runs again replace (withdraw,
audited) the ones of its earlier visit.

Demo mode: the demo world (``AppContext.demo``) may offer ``swap_meter(old, new)`` (a coroutine
function or a plain one): the physical swap of the training site - the old virtual meter leaves
the LMN, the spare one is wired in and the site's read head now faces it. Without it (a real
site) the technician's confirmation is all there is. When no read head is set up, the flow asks
for its port.

Job data (all optional besides ``job``/``job_id``): ``user`` (HAN service account),
``users.consumer`` (HAN consumer account), ``seal``, ``note``, ``evaluation_profiles`` (IDs),
``hdlc_address`` (new meter), ``detect_seconds`` (default 30), ``values_wait_seconds`` (default
60), ``pairing_timeout`` (default 120) and the GWA waiting options of ``gwa_common``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import inspect
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from app.context import OpticalTarget
from app.domain import LogicalName, Obis, ServerId
from app.errors import InvalidValue, SmgwctError, Text
from app.processes.engine import Flow, Step, StepContext, StepOutcome
from app.processes.flows.gwa_common import (
    REASON_HINTS,
    GwaRun,
    GwaSession,
    GwaStepError,
    check_link,
    explain,
    gwa_session,
)
from app.processes.flows.han_common import check_trust, han_session
from app.processes.flows.job_common import (
    GATEWAY_LIST,
    METER_OPTICAL,
    IdentityMismatch,
    app_context,
    check_meter_identity,
    check_meter_listed,
    evidence_line,
    identify_gateway,
    load_job,
    open_job_store,
    read_meter_optically,
    record_meter,
    same_server_id,
    work_order,
)
from app.processes.flows.pairing import pair_meter, pairing_data, pairing_failure
from app.protocols.admin import (
    BillingEvaluationProfile,
    EvaluatedMeter,
    MeterProfile,
    NonBillingEvaluationProfile,
    Reason,
    from_xml,
    to_xml,
)
from app.store.jobs import ExpectedMeter, MeterRole, Reading, Seal, WorkOrder
from app.transports import serial_ports
from app.transports.gwa import GwaLinkError
from app.transports.han.base import UNITS, UserRole
from app.transports.optical import public_key_fingerprint  # imported here, not in a step

NEEDED = ("meter_profile.read", "meter_profile.delete", "meter_profile.create",
          "evaluation_profile.read", "evaluation_profile.delete", "evaluation_profile.create",
          "pairing")
GWA_STEP_TIMEOUT = 1800.0
#: registers of the final and the initial reading (1.8.0 is required)
ENERGY = (Obis.parse("1-0:1.8.0"), Obis.parse("1-0:2.8.0"))
METER_DETECTED, METER_UNREACHABLE = 3001, 3002
MAX_NOTE = 4000

SWAP_PROMPT = Text("New meter installed and read head attached?",
                   "Neuen Zähler eingebaut und Lesekopf aufgesetzt?")
SEAL_PROMPT = Text("Seal number (Plombennummer) removed from the old meter",
                   "Plombennummer, die vom alten Zähler entfernt wurde")
NOTE_PROMPT = Text("Note on the old meter (empty: none)",
                   "Bemerkung zum alten Zähler (leer: keine)")
PORT_PROMPT = Text("Which port is the read head on?", "An welchem Anschluss steckt der Lesekopf?")
OTHER_PORT = "other"

EvaluationAdmin = BillingEvaluationProfile | NonBillingEvaluationProfile


def _t(en: str, de: str) -> Text:
    return Text(en, de)


# -- the work order of a meter change -----------------------------------------------------------


def old_meter(order: WorkOrder) -> ExpectedMeter:
    """The meter the work order removes (exactly one)."""
    old = [m for m in order.meters if m.role is MeterRole.OLD]
    if len(old) != 1:
        raise _not_a_change(order)
    return old[0]


def new_meters(order: WorkOrder) -> list[ExpectedMeter]:
    """The meters the work order installs (at least one)."""
    new = [m for m in order.meters if m.role is MeterRole.NEW]
    if not new:
        raise _not_a_change(order)
    return new


def _not_a_change(order: WorkOrder) -> SmgwctError:
    return SmgwctError(
        _t(f"The work order {order.job_id} is not a meter change: it needs exactly one meter "
           "with role 'old' and at least one with role 'new'.",
           f"Der Auftrag {order.job_id} ist kein Zählerwechsel: er braucht genau einen Zähler "
           "mit der Rolle 'old' und mindestens einen mit der Rolle 'new'."),
        field="meters",
        hint=_t("Ask the back office for a meter change work order.",
                "Fordern Sie einen Auftrag für den Zählerwechsel an."))


def _new_meter(ctx: StepContext) -> ExpectedMeter:
    """The new meter the optical read found (step ``new_reading``)."""
    sid = ctx.results["new_reading"].data["server_id"]
    return next(m for m in new_meters(work_order(ctx)) if same_server_id(m.server_id_text, sid))


def _seconds(data: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    raw = data.get(name, default)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not low <= raw <= high:
        raise InvalidValue(_t(f"{name} must be {low:g} to {high:g} seconds, not {raw!r}.",
                              f"{name} muss {low:g} bis {high:g} Sekunden betragen, nicht "
                              f"{raw!r}."), field=name)
    return float(raw)


# -- readings in the job --------------------------------------------------------------------------


def _store_readings_blocking(ctx: StepContext, order: WorkOrder, values: Sequence[Reading]) -> None:
    """Add ``values``; readings of the same run, meter, register and source (an earlier visit of
    the step) are withdrawn first, with the reason, so the job keeps one current value."""
    with open_job_store(app_context(ctx)) as store:
        job = store.get(order.job_id)
        for new in values:
            for old in job.readings:
                if (old.run_id == ctx.run_id and old.source == new.source
                        and same_server_id(old.server_id, new.server_id)
                        and Obis.parse(old.obis) == Obis.parse(new.obis)):
                    store.withdraw(order.job_id, old.seq,
                                   f"superseded: step {ctx.step} of run {ctx.run_id} read again")
            store.add_reading(order.job_id, new)


async def store_readings(ctx: StepContext, values: Sequence[Reading]) -> None:
    """Store readings in the run's job (see :func:`_store_readings_blocking`)."""
    order = work_order(ctx)
    await asyncio.to_thread(_store_readings_blocking, ctx, order, values)


def _reading_dict(reading: Reading) -> dict[str, Any]:
    return {"server_id": reading.server_id, "obis": reading.obis, "value": reading.value,
            "unit": reading.unit, "source": reading.source, "role": reading.role}


def _show(readings: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{Obis.parse(r['obis']).short} {r['value']} {r['unit'] or ''}"
                     .rstrip() for r in readings) or "-"


# -- the read head ------------------------------------------------------------------------------


async def ensure_read_head(ctx: StepContext) -> str:
    """The read head's port: the connection settings', else asked (offering the serial ports)."""
    app = app_context(ctx)
    if app.optical is not None:
        return app.optical.port
    ports = await asyncio.to_thread(serial_ports.list_ports)
    port = OTHER_PORT
    if ports:
        options = [(p.device, _t(f"{p.device} ({p.description})", f"{p.device} "
                                 f"({p.description})")) for p in ports]
        options.append((OTHER_PORT, _t("Another port or address", "Anderer Anschluss oder "
                                       "Adresse")))
        port = await ctx.ui.choose(PORT_PROMPT, options)
    if port == OTHER_PORT:
        port = (await ctx.ui.enter_value(
            _t("Read head port (e.g. /dev/ttyUSB0, COM3, socket://host:port)",
               "Anschluss des Lesekopfs (z. B. /dev/ttyUSB0, COM3, socket://host:port)"),
            validator=_check_port)).strip()
    app.optical = OpticalTarget(port)
    return port


def _check_port(value: str) -> None:
    if not value.strip():
        raise InvalidValue(_t("Enter the read head's port.", "Bitte den Anschluss des Lesekopfs "
                              "eingeben."), field="optical_port")


async def read_energy(ctx: StepContext, meter_role: MeterRole) -> tuple[Any, list[Reading]]:
    """Read the meter at the read head: its snapshot and the energy registers as readings."""
    port = await ensure_read_head(ctx)
    snapshot = await read_meter_optically(ctx)
    sid = snapshot.identity.server_id
    seen = "-" if sid is None else (sid.text or sid.hex)
    values: list[Reading] = []
    for obis in ENERGY:
        reading = snapshot.get(obis)
        if reading is None or reading.value is None:
            continue
        values.append(Reading.create(seen, obis.notation, reading.value, reading.unit,
                                     source="optical", role=meter_role.value,
                                     run_id=ctx.run_id))
    ctx.trace("optical", "info", f"port {port}: {seen} "
                                 + " ".join(f"{r.obis}={r.value}{r.unit or ''}" for r in values))
    return snapshot, values


def _require_import(seen: str, values: Sequence[Reading]) -> None:
    if not any(Obis.parse(r.obis) == ENERGY[0] for r in values):
        raise SmgwctError(
            _t(f"Meter {seen} sent no import register 1.8.0 through the optical interface.",
               f"Zähler {seen} hat über die optische Schnittstelle keinen Bezugszählerstand "
               "1.8.0 gesendet."),
            field="obis",
            hint=_t("Unlock the meter's extended data set (PIN via the light sensor) or read "
                    "the register from the display and enter it as a note; then run the step "
                    "again.",
                    "Erweiterten Datensatz des Zählers freischalten (PIN über den Lichtsensor) "
                    "oder den Stand vom Display ablesen und als Bemerkung erfassen; dann den "
                    "Schritt wiederholen."))


def _optical_data(snapshot: Any, values: Sequence[Reading], port: str | None) -> dict[str, Any]:
    key = snapshot.identity.public_key
    sid = snapshot.identity.server_id
    return {"server_id": "-" if sid is None else (sid.text or sid.hex),
            "manufacturer": snapshot.identity.manufacturer, "source": snapshot.source,
            "public_key_sha256": public_key_fingerprint(key) if key else None, "port": port,
            "read_at": dt.datetime.now(dt.UTC).isoformat(),
            "readings": [_reading_dict(r) for r in values]}


# -- steps: before the swap -----------------------------------------------------------------------


async def load_change_job(ctx: StepContext) -> StepOutcome:
    """Step "Auftrag laden": as every job flow, plus the roles a meter change needs."""
    order = work_order(ctx)
    old, new = old_meter(order), new_meters(order)
    outcome = await load_job(ctx)
    names = ", ".join(m.server_id_text for m in new)
    return StepOutcome(
        {**outcome.data, "old_meter": old.server_id_text,
         "new_meters": [m.server_id_text for m in new]},
        _t(f"{outcome.summary.en if outcome.summary else ''}; meter change "
           f"{old.server_id_text} -> {names}",
           f"{outcome.summary.de if outcome.summary else ''}; Zählerwechsel "
           f"{old.server_id_text} -> {names}"))


async def gwa_link(ctx: StepContext) -> StepOutcome:
    order = work_order(ctx)
    data = await check_link(ctx, order.smgw_id.text, NEEDED)
    return StepOutcome(data, _t(f"GWA {data['gwa']} reachable; it accepted the technician "
                                "certificate and offers the meter change's processes",
                                f"GWA {data['gwa']} erreichbar; er hat das Techniker-Zertifikat "
                                "akzeptiert und bietet die Vorgänge des Zählerwechsels an"))


async def read_old_meter(ctx: StepContext) -> StepOutcome:
    """Final reading of the old meter: optical, server ID = work order, 1.8.0 present."""
    order = work_order(ctx)
    old = old_meter(order)
    ctx.progress(None, _t(f"Put the read head on the old meter {old.server_id_text}.",
                          f"Lesekopf auf den alten Zähler {old.server_id_text} setzen."))
    snapshot, values = await read_energy(ctx, MeterRole.OLD)
    app = app_context(ctx)
    data = _optical_data(snapshot, values, app.optical.port if app.optical else None)
    check_meter_identity(old, data["server_id"], source=METER_OPTICAL)
    _require_import(data["server_id"], values)
    await store_readings(ctx, values)
    await record_meter(ctx, data["server_id"], source="optical", role=MeterRole.OLD.value,
                       vendor=data["manufacturer"], public_key_sha256=data["public_key_sha256"])
    shown = _show(data["readings"])
    return StepOutcome(data, _t(f"Final reading of the old meter {data['server_id']}: {shown}",
                                f"Endstand des alten Zählers {data['server_id']}: {shown}"))


def _check_seal(value: str) -> None:
    Seal.create(value, "removed")


def _check_note(value: str) -> None:
    if len(value) > MAX_NOTE:
        raise InvalidValue(_t(f"A note has at most {MAX_NOTE} characters.",
                              f"Eine Bemerkung hat höchstens {MAX_NOTE} Zeichen."), field="note")


def _seal_and_note_blocking(ctx: StepContext, order: WorkOrder, seal: Seal,
                            note: str | None) -> tuple[bool, bool]:
    """Store both unless an earlier visit of the step stored the same already."""
    with open_job_store(app_context(ctx)) as store:
        job = store.get(order.job_id)
        seal_new = not any(s.number == seal.number and s.action == seal.action
                           and s.server_id == seal.server_id for s in job.seals)
        if seal_new:
            store.add_seal(order.job_id, seal)
        note_new = bool(note) and not any(n.text == note for n in job.notes)
        if note_new and note:
            store.add_note(order.job_id, note)
    return seal_new, note_new


async def seal_and_note(ctx: StepContext) -> StepOutcome:
    """The seal number removed from the old meter and the technician's note, into the job."""
    order = work_order(ctx)
    old = old_meter(order)
    given = ctx.data.get("seal")
    if given is not None:
        _check_seal(str(given))
        number = str(given)
    else:
        number = await ctx.ui.enter_value(SEAL_PROMPT, validator=_check_seal)
    seal = Seal.create(number, "removed", server_id=old.server_id_text)
    raw_note = ctx.data.get("note")
    if raw_note is not None:
        _check_note(str(raw_note))
        note_text = str(raw_note).strip()
    else:
        note_text = (await ctx.ui.enter_value(NOTE_PROMPT, validator=_check_note,
                                              default="")).strip()
    note = f"Zählerwechsel, alter Zähler {old.server_id_text}: {note_text}" if note_text else None
    await asyncio.to_thread(_seal_and_note_blocking, ctx, order, seal, note)
    return StepOutcome({"seal": seal.number, "action": seal.action,
                        "server_id": old.server_id_text, "note": note_text or None},
                       _t(f"Seal {seal.number} removed from {old.server_id_text}"
                          + ("; note stored" if note_text else "; no note"),
                          f"Plombe {seal.number} von {old.server_id_text} entfernt"
                          + ("; Bemerkung gespeichert" if note_text else "; keine Bemerkung")))


def _profile_ids(data: Mapping[str, Any]) -> list[str] | None:
    raw = data.get("evaluation_profiles")
    if raw is None:
        return None
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise InvalidValue(_t("evaluation_profiles must be a list of profile IDs.",
                              "evaluation_profiles muss eine Liste von Profil-IDs sein."),
                           field="evaluation_profiles")
    return [LogicalName.parse(str(i), "evaluation_profiles").text for i in items]


async def _profiles_over_han(ctx: StepContext, old: ExpectedMeter) -> tuple[list[str], list[str]]:
    """The evaluation profiles that read ``old`` and the meters the gateway lists (HAN)."""
    user = ctx.data.get("user")
    async with han_session(ctx, UserRole.SERVICE_TECHNICIAN,
                           user=str(user) if user else None) as session:
        ctx.progress(None, _t("Reading the evaluation profiles over HAN…",
                              "Auswerteprofile werden über HAN gelesen…"))
        technical = await session.adapter.technical_data(progress=ctx.progress)
    ids = [p.usage_point_id for p in technical.profiles
           if any(same_server_id(old.server_id_text, m) for m in p.meters)]
    listed = [m.server_id for m in technical.meters]
    return ids, listed


async def old_configuration(ctx: StepContext) -> StepOutcome:
    """The gateway lists the old meter; its evaluation profiles are read and kept (before any
    deletion), so that they can be created again for the new meter."""
    order = work_order(ctx)
    old = old_meter(order)
    sid = old.server_id_text
    given = _profile_ids(ctx.data)
    listed: list[str] | None = None
    if given is None:
        ids, listed = await _profiles_over_han(ctx, old)
    else:
        ids = given
    async with gwa_session(ctx, order.smgw_id, work_order=order.job_id) as gwa:
        meter_run = await gwa.run("meter_profile.read", {"server_id": sid},
                                  purpose=f"meter profile {sid}", span=(0.0, 0.3), check=False,
                                  title=_t(f"Reading the profile of the old meter {sid}",
                                           f"Profil des alten Zählers {sid} lesen"))
        if not meter_run.ok or not isinstance(meter_run.result, MeterProfile):
            raise _old_not_listed(meter_run, old, listed)
        profiles: list[dict[str, Any]] = []
        for i, pid in enumerate(ids):
            lo = 0.3 + 0.7 * i / max(1, len(ids))
            run = await gwa.run("evaluation_profile.read", {"id": pid},
                                purpose=f"evaluation profile {pid}",
                                span=(lo, lo + 0.7 / max(1, len(ids))),
                                title=_t(f"Reading evaluation profile {pid}",
                                         f"Auswerteprofil {pid} lesen"))
            profile = run.result
            if not isinstance(profile, BillingEvaluationProfile | NonBillingEvaluationProfile):
                raise GwaStepError(_t(f"The gateway sent no evaluation profile {pid}.",
                                      f"Das Gateway hat kein Auswerteprofil {pid} gesendet."),
                                   hint=None, run=run)
            if not any(same_server_id(m.server_id, sid) for m in profile.meters):
                ctx.trace("gwa", "info", f"{pid} does not read {sid}; it is left alone")
                continue
            profiles.append(_profile_entry(profile))
        timeline = list(gwa.timeline)
    meter = meter_run.result
    # the meter profile at the GWA is the gateway's list; HAN shows a meter only where the
    # dialect lists meters without evaluation profiles, so it only adds to the evidence
    on_han = listed is not None and any(same_server_id(sid, s) for s in listed)
    data = {"server_id": sid, "meter_profile": to_xml(meter).decode("utf-8"),
            "meter_profile_id": meter.id.text, "capture_list": [o.notation for o in
                                                                 meter.capture_list],
            "hdlc_address": meter.hdlc_address, "han_listed": listed,
            "listed_over_han": on_han, "evaluation_profiles": profiles, "timeline": timeline}
    names = ", ".join(p["id"] for p in profiles) or "none"
    return StepOutcome(data, _t(f"The gateway lists the old meter {sid} (profile "
                                f"{meter.id.text}); evaluation profiles reading it: {names}",
                                f"Das Gateway führt den alten Zähler {sid} (Profil "
                                f"{meter.id.text}); Auswerteprofile, die ihn lesen: "
                                f"{'keine' if not profiles else names}"))


def _profile_entry(profile: EvaluationAdmin) -> dict[str, Any]:
    return {"id": profile.id.text, "kind": profile.kind.value, "taf": profile.taf,
            "name": profile.name, "revision": profile.revision,
            "xml": to_xml(profile).decode("utf-8")}


def _old_not_listed(run: GwaRun, old: ExpectedMeter, listed: list[str] | None) -> SmgwctError:
    if run.response is not None and run.response.reason in (Reason.UNKNOWN_PROFILE,
                                                            Reason.UNKNOWN_METER):
        shown = ", ".join(listed) if listed else "no meter"
        return IdentityMismatch(
            _t("Old meter not at the gateway", "Alter Zähler nicht am Gateway"),
            old.server_id_text, f"no meter profile for it (HAN lists {shown})", GATEWAY_LIST,
            field="server_id",
            hint=_t("Check the old meter's server ID on its label against the work order, and "
                    "that you are at the right gateway; ask the back office if the work order "
                    "is wrong. Nothing was changed.",
                    "Server-ID auf dem Typschild des alten Zählers mit dem Auftrag vergleichen "
                    "und prüfen, ob Sie am richtigen Gateway sind; bei falschem Auftrag den "
                    "Innendienst fragen. Es wurde nichts verändert."))
    message, hint = explain(run)
    return GwaStepError(message, hint=hint, run=run)


def _gone(run: GwaRun) -> bool:
    """A delete the gateway answered with "unknown": an earlier attempt deleted it already."""
    return run.response is not None and run.response.reason in (Reason.UNKNOWN_PROFILE,
                                                                Reason.UNKNOWN_METER)


async def remove_old(ctx: StepContext) -> StepOutcome:
    """The GWA terminates the old meter's evaluation profiles and deletes its meter profile."""
    order = work_order(ctx)
    old = old_meter(order)
    sid = old.server_id_text
    saved = ctx.results["old_config"].data["evaluation_profiles"]
    deleted: list[dict[str, Any]] = []
    async with gwa_session(ctx, order.smgw_id, work_order=order.job_id) as gwa:
        async with gwa.watching_events(settle=0.0):
            for i, entry in enumerate(saved):
                lo = 0.8 * i / max(1, len(saved))
                run = await gwa.run(
                    "evaluation_profile.delete", {"id": entry["id"], "kind": entry["kind"]},
                    purpose=f"delete {entry['id']}", span=(lo, lo + 0.8 / max(1, len(saved))),
                    check=False, title=_t(f"Terminating evaluation profile {entry['id']}",
                                          f"Auswerteprofil {entry['id']} beenden"))
                if not run.ok and not _gone(run):
                    message, hint = explain(run)
                    raise GwaStepError(message, hint=hint, run=run)
                deleted.append({"id": entry["id"], "already_gone": not run.ok,
                                "gwa": run.to_dict()})
            run = await gwa.run("meter_profile.delete", {"server_id": sid},
                                purpose=f"delete meter {sid}", span=(0.8, 0.95), check=False,
                                title=_t(f"Deleting the profile of the old meter {sid}",
                                         f"Profil des alten Zählers {sid} löschen"))
            if not run.ok and not _gone(run):
                message, hint = explain(run)
                if run.response is not None and run.response.reason is Reason.STILL_REFERENCED:
                    hint = _t("Another evaluation profile still reads the old meter (named "
                              "above): give its ID in evaluation_profiles of the job data, or "
                              "ask the GWA operator to move it; then resume the job.",
                              "Ein weiteres Auswerteprofil liest den alten Zähler noch (oben "
                              "genannt): seine ID in evaluation_profiles der Auftragsdaten "
                              "angeben oder den GWA-Betreiber bitten, es umzustellen; dann den "
                              "Auftrag fortsetzen.")
                raise GwaStepError(message, hint=hint, run=run)
        cursor = await gwa.latest_cursor()
        timeline = list(gwa.timeline)
    names = ", ".join(d["id"] for d in deleted) or "none"
    return StepOutcome(
        {"deleted_profiles": deleted, "meter_profile_deleted": True,
         "meter_already_gone": not run.ok, "events_cursor": cursor, "timeline": timeline},
        _t(f"Evaluation profiles terminated ({names}); profile of the old meter {sid} deleted",
           f"Auswerteprofile beendet ({'keine' if not deleted else names}); Profil des alten "
           f"Zählers {sid} gelöscht"))


# -- the swap -----------------------------------------------------------------------------------


async def swap(ctx: StepContext) -> StepOutcome:
    """The technician swaps the meters and puts the read head on the new one."""
    order = work_order(ctx)
    old = old_meter(order)
    new = ", ".join(m.server_id_text for m in new_meters(order))
    ctx.progress(None, _t(f"Remove the old meter {old.server_id_text}, install {new}, connect "
                          "it to the LMN and put the read head on it.",
                          f"Alten Zähler {old.server_id_text} ausbauen, {new} einbauen, am LMN "
                          "anschließen und den Lesekopf aufsetzen."))
    detail = _t(f"The gateway no longer expects the old meter {old.server_id_text}. Install the "
                f"new meter ({new}), connect its LMN cable, switch the power back on and put "
                "the read head on its optical interface.",
                f"Das Gateway erwartet den alten Zähler {old.server_id_text} nicht mehr. Neuen "
                f"Zähler ({new}) einbauen, LMN-Kabel anschließen, Spannung wieder zuschalten "
                "und den Lesekopf auf seine optische Schnittstelle setzen.")
    if not await ctx.ui.confirm(SWAP_PROMPT, detail):
        raise SmgwctError(
            _t("The new meter is not installed yet.", "Der neue Zähler ist noch nicht "
               "eingebaut."), field="swap",
            hint=_t("Install the new meter and put the read head on it, then resume the job; "
                    "the flow continues with this step.",
                    "Neuen Zähler einbauen und den Lesekopf aufsetzen, dann den Auftrag "
                    "fortsetzen; der Ablauf macht mit diesem Schritt weiter."))
    hook = getattr(app_context(ctx).demo, "swap_meter", None)
    demo = callable(hook)
    if demo:
        first = new_meters(order)[0].server_id_text
        done = hook(old.server_id_text, first)  # type: ignore[misc]
        if inspect.isawaitable(done):
            await done
        ctx.trace("optical", "info", f"demo: meter {old.server_id_text} swapped for the spare "
                                     "meter; the read head faces it")
    return StepOutcome({"confirmed": True, "demo_swap": demo},
                       _t("New meter installed, read head attached",
                          "Neuer Zähler eingebaut, Lesekopf aufgesetzt"))


# -- steps: after the swap ------------------------------------------------------------------------


async def read_new_meter(ctx: StepContext) -> StepOutcome:
    """The new meter read optically; it must be a new meter of the work order."""
    order = work_order(ctx)
    expected = new_meters(order)
    snapshot, values = await read_energy(ctx, MeterRole.NEW)
    app = app_context(ctx)
    data = _optical_data(snapshot, values, app.optical.port if app.optical else None)
    seen = data["server_id"]
    match = next((m for m in expected if same_server_id(m.server_id_text, seen)), None)
    if match is None:
        names = ", ".join(m.server_id_text for m in expected)
        raise IdentityMismatch(
            _t("Wrong meter installed", "Falscher Zähler eingebaut"), names, seen,
            METER_OPTICAL, field="server_id",
            hint=_t(f"Install the meter the work order names ({names}) - or, if the work order "
                    "is wrong, ask the back office for a corrected one. Nothing was configured "
                    "for the new meter yet; resume the job when the right meter is in place.",
                    f"Den Zähler aus dem Auftrag einbauen ({names}) - oder, falls der Auftrag "
                    "falsch ist, einen korrigierten anfordern. Für den neuen Zähler wurde noch "
                    "nichts eingerichtet; den Auftrag fortsetzen, sobald der richtige Zähler "
                    "eingebaut ist."))
    _require_import(seen, values)
    values = [dataclasses.replace(v, server_id=match.server_id_text) for v in values]
    await store_readings(ctx, values)
    await record_meter(ctx, match.server_id_text, source="optical", role=MeterRole.NEW.value,
                       vendor=data["manufacturer"], public_key_sha256=data["public_key_sha256"])
    data["server_id"] = match.server_id_text
    data["readings"] = [_reading_dict(r) for r in values]
    shown = _show(data["readings"])
    return StepOutcome(data, _t(f"New meter {seen} is the work order's; initial reading {shown}",
                                f"Neuer Zähler {seen} ist der aus dem Auftrag; Anfangsstand "
                                f"{shown}"))


def _hdlc(data: Mapping[str, Any]) -> int | None:
    raw = data.get("hdlc_address")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 16 <= raw <= 16381:
        raise InvalidValue(_t("hdlc_address must be a whole number from 16 to 16381.",
                              "hdlc_address muss eine ganze Zahl von 16 bis 16381 sein."),
                           field="hdlc_address")
    return raw


def new_meter_profile(old: MeterProfile, meter: ExpectedMeter, hdlc: int | None) -> MeterProfile:
    """The new meter's profile: the old one's settings, the new server ID, key reference."""
    return MeterProfile(MeterProfile.id_for(meter.server_id), 1, meter.server_id,
                        old.device_type, True, old.sample_rate_seconds, old.lmn_interface,
                        old.lmn_com_type, old.capture_list, hdlc_address=hdlc,
                        key_material_ref=meter.key_ref)


async def create_profile(ctx: StepContext) -> StepOutcome:
    """The GWA creates the new meter's profile."""
    order = work_order(ctx)
    meter = _new_meter(ctx)
    sid = meter.server_id_text
    old = from_xml(ctx.results["old_config"].data["meter_profile"].encode("utf-8"),
                   expect=MeterProfile)
    assert isinstance(old, MeterProfile)
    profile = new_meter_profile(old, meter, _hdlc(ctx.data))
    async with gwa_session(ctx, order.smgw_id, work_order=order.job_id) as gwa:
        run = await gwa.run("meter_profile.create", {"profile": profile},
                            purpose=f"create meter {sid}", span=(0.0, 0.8), check=False,
                            title=_t(f"Creating the profile of the new meter {sid}",
                                     f"Profil des neuen Zählers {sid} anlegen"))
        existed = False
        if not run.ok:
            if run.response is None or run.response.reason is not Reason.ALREADY_EXISTS:
                message, hint = explain(run)
                raise GwaStepError(message, hint=hint, run=run)
            existed = True  # an earlier attempt created it: check that it is this meter's
            back = await gwa.run("meter_profile.read", {"server_id": sid},
                                 purpose=f"read meter {sid}", span=(0.8, 1.0),
                                 title=_t(f"Reading the existing profile of {sid}",
                                          f"Vorhandenes Profil von {sid} lesen"))
            if not isinstance(back.result, MeterProfile) or back.result.server_id != \
                    meter.server_id:
                message, hint = explain(run)
                raise GwaStepError(message, hint=hint, run=run)
        timeline = list(gwa.timeline)
    return StepOutcome(
        {"server_id": sid, "profile_id": profile.id.text, "existed": existed,
         "capture_list": [o.notation for o in profile.capture_list],
         "hdlc_address": profile.hdlc_address, "key_material_ref": profile.key_material_ref,
         "gwa": run.to_dict(), "timeline": timeline},
        _t(f"Profile {profile.id.text} of the new meter {sid} created"
           + (" (it existed from an earlier attempt)" if existed else ""),
           f"Profil {profile.id.text} des neuen Zählers {sid} angelegt"
           + (" (aus einem früheren Versuch vorhanden)" if existed else "")))


def _meter_missing(sid: str, why: Text) -> SmgwctError:
    return SmgwctError(
        _t(f"The gateway does not detect the new meter {sid} on the LMN (meter missing): "
           f"{why.en}",
           f"Das Gateway erkennt den neuen Zähler {sid} im LMN nicht (Zähler fehlt): {why.de}"),
        field="lmn", hint=REASON_HINTS[Reason.METER_UNREACHABLE])


async def _detection_event(gwa: GwaSession, server_id: ServerId, cursor: int, wait: float,
                           ctx: StepContext) -> tuple[int | None, dict[str, Any] | None]:
    """The newest detection event (3001/3002) of ``server_id`` after ``cursor``, waiting up to
    ``wait`` seconds for the first one."""
    found: tuple[int | None, dict[str, Any] | None] = (None, None)

    async def scan(follow: bool) -> None:
        nonlocal found
        async for item in gwa.link.events(gwa.smgw_id, follow=follow, after=cursor):
            event = item.event
            subject = getattr(getattr(event, "subject", None), "server_id", None)
            if event.code in (METER_DETECTED, METER_UNREACHABLE) and subject == server_id:
                found = (event.code, {"cursor": item.cursor, "code": event.code,
                                      "time": event.time.isoformat(),
                                      "title": {"en": event.title.en, "de": event.title.de}})
                ctx.trace("gwa", "rx", f"event #{item.cursor} {event.code} for "
                                       f"{server_id.display}")
                if follow:
                    return

    try:
        await scan(follow=False)
        if found[0] is None:
            ctx.progress(None, _t(f"Waiting for the gateway to detect {server_id.display}…",
                                  f"Warten, bis das Gateway {server_id.display} erkennt…"))
            async with asyncio.timeout(wait):
                await scan(follow=True)
    except TimeoutError:
        pass
    except GwaLinkError as exc:
        ctx.trace("gwa", "info", f"event list ended: {exc.message.en}")
    return found


async def detect(ctx: StepContext) -> StepOutcome:
    """The gateway detects the new meter: its event at the GWA and, where shown, the HAN list."""
    order = work_order(ctx)
    meter = _new_meter(ctx)
    sid = meter.server_id_text
    wait = _seconds(ctx.data, "detect_seconds", 30.0, 0.0, 600.0)
    cursor = int(ctx.results["remove_old"].data.get("events_cursor") or 0)
    async with gwa_session(ctx, order.smgw_id, work_order=order.job_id) as gwa:
        code, event = await _detection_event(gwa, meter.server_id, cursor, wait, ctx)
    listed: list[str] | None = None
    try:
        user = ctx.data.get("user")
        async with han_session(ctx, UserRole.SERVICE_TECHNICIAN,
                               user=str(user) if user else None) as session:
            listed = [m.server_id for m in await session.adapter.meters(progress=ctx.progress)]
    except SmgwctError as exc:  # the event is the evidence; the HAN list only adds to it
        ctx.trace("han", "info", f"meter list not read: {exc.message.en}")
    on_han = listed is not None and any(same_server_id(sid, s) for s in listed)
    if code == METER_UNREACHABLE:
        raise _meter_missing(sid, _t("it reported the meter as not reachable.",
                                     "es meldet den Zähler als nicht erreichbar."))
    if code != METER_DETECTED and not on_han:
        raise _meter_missing(sid, _t(f"no detection within {wait:g} s.",
                                     f"keine Erkennung innerhalb von {wait:g} s."))
    how = "gateway event METER_DETECTED" if code == METER_DETECTED else "HAN meter list"
    how_de = "Ereignis METER_DETECTED" if code == METER_DETECTED else "HAN-Zählerliste"
    return StepOutcome({"server_id": sid, "event": event, "han_listed": listed,
                        "listed_over_han": on_han},
                       _t(f"The gateway detected the new meter {sid} ({how}"
                          + (", listed over HAN" if on_han and code else "") + ")",
                          f"Das Gateway hat den neuen Zähler {sid} erkannt ({how_de}"
                          + (", in der HAN-Liste" if on_han and code else "") + ")"))


async def pair(ctx: StepContext) -> StepOutcome:
    """The GWA pairs the new meter with its key M."""
    order = work_order(ctx)
    meter = _new_meter(ctx)
    sid = meter.server_id_text
    timeout = int(_seconds(ctx.data, "pairing_timeout", 120, 10, 900))
    async with gwa_session(ctx, order.smgw_id, work_order=order.job_id) as gwa:
        run = await pair_meter(ctx, gwa, meter, timeout=timeout)
        if not run.ok:
            raise pairing_failure(run, meter)
        timeline = list(gwa.timeline)
    data = pairing_data(run)
    data.update(server_id=sid, timeline=timeline)
    fp = data.get("meter_tls_fingerprint")
    await record_meter(ctx, sid, source="gwa", role=MeterRole.NEW.value, public_key_sha256=fp)
    return StepOutcome(data, _t(f"New meter {sid} paired; meter TLS certificate "
                                f"{str(fp)[:16]}…",
                                f"Neuer Zähler {sid} gepaart; TLS-Zertifikat des Zählers "
                                f"{str(fp)[:16]}…"))


def moved_profile(xml: str, old: ServerId, new: ServerId) -> EvaluationAdmin:
    """A saved evaluation profile, now reading ``new`` instead of ``old``: revision 1, with
    first readout where the profile is billing-relevant."""
    profile = from_xml(xml.encode("utf-8"),
                       expect=(BillingEvaluationProfile, NonBillingEvaluationProfile))
    assert isinstance(profile, BillingEvaluationProfile | NonBillingEvaluationProfile)
    meters = tuple(EvaluatedMeter(new, m.channels) if m.server_id == old else m
                   for m in profile.meters)
    changed = dataclasses.replace(profile, revision=1, meters=meters)
    if isinstance(changed, BillingEvaluationProfile):
        changed = dataclasses.replace(changed, first_readout=True)
    return changed


def _first_readout(run: GwaRun, server_id: str, ctx: StepContext) -> list[Reading]:
    response = run.response
    values = response.readings.readings if response is not None and response.readings else ()
    out = []
    for v in values:
        if v.status.value != "valid" or not same_server_id(v.server_id, server_id):
            continue
        out.append(Reading.create(server_id, v.obis.notation, Decimal(v.value).scaleb(v.scaler),
                                  UNITS.get(v.unit) or None, source="gwa",
                                  role=MeterRole.NEW.value, run_id=ctx.run_id))
    return out


async def create_evaluation(ctx: StepContext) -> StepOutcome:
    """The GWA creates the evaluation profiles again for the new meter, with first readout."""
    order = work_order(ctx)
    meter = _new_meter(ctx)
    old = old_meter(order)
    saved = ctx.results["old_config"].data["evaluation_profiles"]
    created: list[dict[str, Any]] = []
    readings: dict[str, Reading] = {}
    async with gwa_session(ctx, order.smgw_id, work_order=order.job_id) as gwa:
        for i, entry in enumerate(saved):
            profile = moved_profile(entry["xml"], old.server_id, meter.server_id)
            lo, share = i / max(1, len(saved)), 1 / max(1, len(saved))
            run = await gwa.run("evaluation_profile.create", {"profile": profile},
                                purpose=f"create {entry['id']}", span=(lo, lo + share),
                                check=False,
                                title=_t(f"Creating evaluation profile {entry['id']} for "
                                         f"{meter.server_id_text}",
                                         f"Auswerteprofil {entry['id']} für "
                                         f"{meter.server_id_text} anlegen"))
            existed = False
            if not run.ok:
                existed = await _created_before(gwa, run, entry, meter)
            first = _first_readout(run, meter.server_id_text, ctx)
            for r in first:
                readings.setdefault(Obis.parse(r.obis).hex, r)
            created.append({"id": entry["id"], "taf": entry["taf"], "existed": existed,
                            "first_readout": [_reading_dict(r) for r in first],
                            "gwa": run.to_dict()})
        timeline = list(gwa.timeline)
    await store_readings(ctx, list(readings.values()))
    names = ", ".join(c["id"] for c in created) or "none"
    shown = _show([_reading_dict(r) for r in readings.values()])
    return StepOutcome(
        {"server_id": meter.server_id_text, "profiles": created,
         "first_readout": [_reading_dict(r) for r in readings.values()], "timeline": timeline},
        _t(f"Evaluation profiles created for {meter.server_id_text}: {names}; first readout "
           f"{shown}",
           f"Auswerteprofile für {meter.server_id_text} angelegt: "
           f"{'keine' if not created else names}; Erstauslesung {shown}"))


async def _created_before(gwa: GwaSession, run: GwaRun, entry: Mapping[str, Any],
                          meter: ExpectedMeter) -> bool:
    """A create refused as "exists": accept it when the stored profile reads the new meter
    (an earlier attempt created it); any other refusal is explained."""
    response = run.response
    if response is not None and response.reason is Reason.ALREADY_EXISTS:
        back = await gwa.run("evaluation_profile.read", {"id": entry["id"]},
                             purpose=f"read {entry['id']}",
                             title=_t(f"Reading the existing profile {entry['id']}",
                                      f"Vorhandenes Profil {entry['id']} lesen"))
        stored = back.result
        if isinstance(stored, BillingEvaluationProfile | NonBillingEvaluationProfile) and any(
                m.server_id == meter.server_id for m in stored.meters):
            return True
    message, hint = explain(run)
    if response is not None and response.reason is Reason.METER_UNREACHABLE:
        message = _t(f"The first readout of {entry['id']} failed: the new meter "
                     f"{meter.server_id_text} does not answer on the LMN; nothing was created.",
                     f"Die Erstauslesung von {entry['id']} ist fehlgeschlagen: der neue Zähler "
                     f"{meter.server_id_text} antwortet im LMN nicht; es wurde nichts angelegt.")
    raise GwaStepError(message, hint=hint, run=run)


def _consumer(data: Mapping[str, Any]) -> str | None:
    users = data.get("users")
    name = users.get("consumer") if isinstance(users, Mapping) else None
    return str(name) if name else None


async def han_values(ctx: StepContext) -> StepOutcome:
    """The new meter's first values over HAN; the gateway lists the new meter, not the old."""
    order = work_order(ctx)
    meter = _new_meter(ctx)
    old = old_meter(order)
    sid = meter.server_id_text
    wait = _seconds(ctx.data, "values_wait_seconds", 60.0, 0.0, 3600.0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with han_session(ctx, UserRole.CONSUMER, user=_consumer(ctx.data)) as session:
        while True:
            ctx.progress(None, _t(f"Reading the values of {sid} over HAN…",
                                  f"Werte von {sid} werden über HAN gelesen…"))
            meters = await session.adapter.meters(progress=ctx.progress)
            mine = next((m for m in meters if same_server_id(sid, m.server_id)), None)
            if mine is not None and mine.values or loop.time() >= deadline:
                break
            ctx.check_cancelled()
            await asyncio.sleep(min(2.0, max(0.0, deadline - loop.time())))
    listed = [m.server_id for m in meters]
    check_meter_listed(meter, listed)
    if any(same_server_id(old.server_id_text, s) for s in listed):
        raise SmgwctError(
            _t(f"The gateway still lists the old meter {old.server_id_text} over HAN.",
               f"Das Gateway führt den alten Zähler {old.server_id_text} über HAN noch."),
            field="server_id",
            hint=_t("An evaluation profile still reads the old meter: ask the GWA operator to "
                    "remove or move it, then resume the job.",
                    "Ein Auswerteprofil liest den alten Zähler noch: den GWA-Betreiber bitten, "
                    "es zu entfernen oder umzustellen, dann den Auftrag fortsetzen."))
    assert mine is not None
    if not mine.values:
        raise SmgwctError(
            _t(f"The gateway lists the new meter {sid} but shows no values for it within "
               f"{wait:g} s.",
               f"Das Gateway führt den neuen Zähler {sid}, zeigt aber innerhalb von {wait:g} s "
               "keine Werte an."),
            field="values",
            hint=_t("The first values come with the next registration period: wait a few "
                    "minutes and resume the job; if they stay away, check the pairing and the "
                    "LMN cable.",
                    "Die ersten Werte kommen mit der nächsten Registrierperiode: einige Minuten "
                    "warten und den Auftrag fortsetzen; bleiben sie aus, Pairing und LMN-Kabel "
                    "prüfen."))
    values = [Reading.create(sid, Obis.parse(v.obis_hex).notation, v.value, v.unit_text or None,
                             source="han", role=MeterRole.NEW.value, run_id=ctx.run_id)
              for v in mine.values]
    await store_readings(ctx, values)
    shown = _show([_reading_dict(r) for r in values])
    return StepOutcome({"server_id": sid, "listed": listed, "usage_points": list(
        mine.usage_points), "values": [_reading_dict(r) for r in values],
        "user": session.user},
        _t(f"Over HAN the gateway shows the new meter {sid}: {shown}",
           f"Über HAN zeigt das Gateway den neuen Zähler {sid}: {shown}"))


def summary_lines(results: Mapping[str, Any], order: WorkOrder) -> list[dict[str, Any]]:
    """The evidence of each line of the meter change, from the steps' data."""
    def data(step: str) -> Mapping[str, Any]:
        outcome = results.get(step)
        return {} if outcome is None else outcome.data

    identity, old_read, seal = data("identity"), data("old_reading"), data("old_seal")
    config, removed, new_read = data("old_config"), data("remove_old"), data("new_reading")
    created, detected, paired = data("create_profile"), data("detect"), data("pairing")
    evaluation, han = data("evaluation"), data("han_values")
    moved = ", ".join(p["id"] for p in evaluation.get("profiles", [])) or "-"
    gone = ", ".join(p["id"] for p in removed.get("deleted_profiles", [])) or "-"
    fp = str(paired.get("meter_tls_fingerprint"))[:16]
    return [
        evidence_line("identity", _t("Gateway = work order", "Gateway = Auftrag"),
                      _t(f"{identity.get('smgw_id')} (HAN) = {order.smgw_id.text}",
                         f"{identity.get('smgw_id')} (HAN) = {order.smgw_id.text}"),
                      step="identity"),
        evidence_line("old_reading", _t("Final reading of the old meter",
                                        "Endstand des alten Zählers"),
                      _t(f"{old_read.get('server_id')} (optical = work order): "
                         f"{_show(old_read.get('readings', []))}",
                         f"{old_read.get('server_id')} (optisch = Auftrag): "
                         f"{_show(old_read.get('readings', []))}"), step="old_reading"),
        evidence_line("seal", _t("Seal removed", "Plombe entfernt"),
                      _t(f"{seal.get('seal')}; note: {seal.get('note') or '-'}",
                         f"{seal.get('seal')}; Bemerkung: {seal.get('note') or '-'}"),
                      step="old_seal"),
        evidence_line("remove_old", _t("Old meter removed at the gateway",
                                       "Alter Zähler am Gateway entfernt"),
                      _t(f"profile {config.get('meter_profile_id')} deleted; evaluation "
                         f"profiles terminated: {gone}",
                         f"Profil {config.get('meter_profile_id')} gelöscht; Auswerteprofile "
                         f"beendet: {gone}"), step="remove_old"),
        evidence_line("new_reading", _t("Initial reading of the new meter",
                                        "Anfangsstand des neuen Zählers"),
                      _t(f"{new_read.get('server_id')} (optical = work order): "
                         f"{_show(new_read.get('readings', []))}",
                         f"{new_read.get('server_id')} (optisch = Auftrag): "
                         f"{_show(new_read.get('readings', []))}"), step="new_reading"),
        evidence_line("new_meter", _t("New meter configured, detected and paired",
                                      "Neuer Zähler eingerichtet, erkannt und gepaart"),
                      _t(f"profile {created.get('profile_id')}; detected "
                         f"{'(event)' if detected.get('event') else '(HAN list)'}; "
                         f"{paired.get('outcome')}, meter TLS {fp}…",
                         f"Profil {created.get('profile_id')}; erkannt "
                         f"{'(Ereignis)' if detected.get('event') else '(HAN-Liste)'}; "
                         f"{paired.get('outcome')}, TLS des Zählers {fp}…"), step="pairing"),
        evidence_line("evaluation", _t("Evaluation profiles with first readout",
                                       "Auswerteprofile mit Erstauslesung"),
                      _t(f"{moved}; first readout {_show(evaluation.get('first_readout', []))}",
                         f"{moved}; Erstauslesung {_show(evaluation.get('first_readout', []))}"),
                      step="evaluation"),
        evidence_line("han_values", _t("First values over HAN = gateway list",
                                       "Erste Werte über HAN = Zählerliste"),
                      _t(f"{han.get('server_id')}: {_show(han.get('values', []))}",
                         f"{han.get('server_id')}: {_show(han.get('values', []))}"),
                      step="han_values"),
    ]


async def summarise(ctx: StepContext) -> StepOutcome:
    order = work_order(ctx)
    old_read = ctx.results["old_reading"].data
    new_read = ctx.results["new_reading"].data
    lines = summary_lines(ctx.results, order)
    return StepOutcome(
        {"old_meter": old_read["server_id"], "new_meter": new_read["server_id"],
         "old_final_reading": old_read["readings"], "new_initial_reading": new_read["readings"],
         "seal": ctx.results["old_seal"].data.get("seal"), "lines": lines},
        _t(f"Meter changed: {old_read['server_id']} (final {_show(old_read['readings'])}) -> "
           f"{new_read['server_id']} (initial {_show(new_read['readings'])})",
           f"Zähler gewechselt: {old_read['server_id']} (Endstand "
           f"{_show(old_read['readings'])}) -> {new_read['server_id']} (Anfangsstand "
           f"{_show(new_read['readings'])})"))


METER_CHANGE = Flow(
    name="meter_change",
    title=_t("Change meter", "Zähler wechseln"),
    steps=(
        Step("job", _t("Load the meter change work order", "Auftrag zum Zählerwechsel laden"),
             load_change_job, timeout=30),
        Step("trust", _t("HAN reachable and pinned", "HAN erreichbar und gepinnt"),
             check_trust, timeout=60),
        Step("identity", _t("Gateway identity = work order", "Gateway-Identität = Auftrag"),
             identify_gateway, timeout=90),
        Step("gwa", _t("GWA link up", "GWA-Verbindung steht"), gwa_link,
             timeout=GWA_STEP_TIMEOUT),
        Step("old_reading", _t("Final reading of the old meter (optical = work order)",
                               "Endstand des alten Zählers (optisch = Auftrag)"),
             read_old_meter, timeout=60),
        Step("old_seal", _t("Seal number and note", "Plombennummer und Bemerkung"),
             seal_and_note, timeout=30),
        Step("old_config", _t("Old meter and its evaluation profiles at the gateway",
                              "Alter Zähler und seine Auswerteprofile am Gateway"),
             old_configuration, timeout=GWA_STEP_TIMEOUT),
        Step("remove_old", _t("GWA terminates the evaluation profiles and removes the old "
                              "meter", "GWA beendet die Auswerteprofile und entfernt den alten "
                              "Zähler"), remove_old, timeout=GWA_STEP_TIMEOUT),
        Step("swap", _t("Install the new meter", "Neuen Zähler einbauen"), swap, timeout=60),
        Step("new_reading", _t("New meter read optically = work order",
                               "Neuer Zähler optisch gelesen = Auftrag"),
             read_new_meter, timeout=60),
        Step("create_profile", _t("GWA creates the meter profile", "GWA legt das Zählerprofil "
                                  "an"), create_profile, timeout=GWA_STEP_TIMEOUT),
        Step("detect", _t("Gateway detects the new meter", "Gateway erkennt den neuen Zähler"),
             detect, timeout=GWA_STEP_TIMEOUT),
        Step("pairing", _t("Pair the new meter", "Neuen Zähler pairen"), pair,
             timeout=GWA_STEP_TIMEOUT),
        Step("evaluation", _t("Evaluation profiles with first readout",
                              "Auswerteprofile mit Erstauslesung"), create_evaluation,
             timeout=GWA_STEP_TIMEOUT),
        Step("han_values", _t("First values of the new meter over HAN",
                              "Erste Werte des neuen Zählers über HAN"), han_values,
             timeout=3700),
        Step("summary", _t("Summary with both readings", "Zusammenfassung mit beiden Ständen"),
             summarise, timeout=30),
    ),
)

__all__ = [
    "ENERGY",
    "METER_CHANGE",
    "NEEDED",
    "NOTE_PROMPT",
    "PORT_PROMPT",
    "SEAL_PROMPT",
    "SWAP_PROMPT",
    "ensure_read_head",
    "moved_profile",
    "new_meter_profile",
    "new_meters",
    "old_meter",
    "store_readings",
    "summary_lines",
]
