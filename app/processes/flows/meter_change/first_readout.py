"""Meter change, new meter in service: the saved evaluation profiles created again
for it with first readout (Erstauslesung), and its first values over HAN."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.domain import Obis, ServerId
from app.errors import SmgwctError, Text
from app.processes.engine import StepContext, StepOutcome
from app.processes.flows.gwa_common import GwaRun, GwaSession, GwaStepError, explain, gwa_session
from app.processes.flows.han_common import han_session
from app.processes.flows.job_common import check_meter_listed, same_server_id, work_order
from app.processes.flows.meter_change.common import (
    EvaluationAdmin,
    installed_meter,
    old_meter,
    seconds,
)
from app.processes.flows.meter_change.readings import (
    backwards_text,
    reading_dict,
    show,
    store_readings,
    went_backwards,
)
from app.protocols.admin import (
    BillingEvaluationProfile,
    EvaluatedMeter,
    NonBillingEvaluationProfile,
    Reason,
    from_xml,
)
from app.store.jobs import ExpectedMeter, MeterRole, Reading
from app.transports.han.base import UNITS, UserRole

_t = Text


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
    meter = installed_meter(ctx)
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
                            "first_readout": [reading_dict(r) for r in first],
                            "gwa": run.to_dict()})
        timeline = list(gwa.timeline)
    await store_readings(ctx, list(readings.values()))
    names = ", ".join(c["id"] for c in created) or "none"
    first = [reading_dict(r) for r in readings.values()]
    shown = show(first)
    problems = went_backwards(_optical(ctx), first)
    warn = backwards_text(problems)
    return StepOutcome(
        {"server_id": meter.server_id_text, "profiles": created, "first_readout": first,
         "timeline": timeline, "plausibility": problems},
        _t(f"Evaluation profiles created for {meter.server_id_text}: {names}; first readout "
           f"{shown}" + (f". {warn.en}" if problems else ""),
           f"Auswerteprofile für {meter.server_id_text} angelegt: "
           f"{'keine' if not created else names}; Erstauslesung {shown}"
           + (f". {warn.de}" if problems else "")))


def _optical(ctx: StepContext) -> list[Mapping[str, Any]]:
    """The new meter's initial reading through the read head (step ``new_reading``)."""
    outcome = ctx.results.get("new_reading")
    return list(outcome.data.get("readings", [])) if outcome is not None else []


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
    meter = installed_meter(ctx)
    old = old_meter(order)
    sid = meter.server_id_text
    wait = seconds(ctx.data, "values_wait_seconds", 60.0, 0.0, 3600.0)
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
    shown_values = [reading_dict(r) for r in values]
    shown = show(shown_values)
    problems = went_backwards(_optical(ctx), shown_values)
    warn = backwards_text(problems)
    return StepOutcome({"server_id": sid, "listed": listed, "usage_points": list(
        mine.usage_points), "values": shown_values, "plausibility": problems,
        "user": session.user},
        _t(f"Over HAN the gateway shows the new meter {sid}: {shown}"
           + (f". {warn.en}" if problems else ""),
           f"Über HAN zeigt das Gateway den neuen Zähler {sid}: {shown}"
           + (f". {warn.de}" if problems else "")))
