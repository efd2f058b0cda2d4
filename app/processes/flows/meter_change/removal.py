"""Meter change at the GWA, old meter: its meter profile and the evaluation profiles
(Auswerteprofile) reading it are saved, then terminated and deleted (spec 6.3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.domain import LogicalName
from app.errors import InvalidValue, SmgwctError, Text
from app.processes.engine import StepContext, StepOutcome
from app.processes.flows.gwa_common import GwaRun, GwaStepError, explain, gwa_session
from app.processes.flows.han_common import han_session
from app.processes.flows.job_common import (
    GATEWAY_LIST,
    IdentityMismatch,
    same_server_id,
    work_order,
)
from app.processes.flows.meter_change.common import EvaluationAdmin, old_meter
from app.protocols.admin import (
    BillingEvaluationProfile,
    MeterProfile,
    NonBillingEvaluationProfile,
    Reason,
    to_xml,
)
from app.store.jobs import ExpectedMeter
from app.transports.han.base import UserRole

_t = Text


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
        shown_de = ", ".join(listed) if listed else "keinen Zähler"
        return IdentityMismatch(
            _t("Old meter not at the gateway", "Alter Zähler nicht am Gateway"),
            old.server_id_text,
            _t(f"no meter profile for it (HAN lists {shown})",
               f"kein Zählerprofil dafür (über HAN: {shown_de})"), GATEWAY_LIST,
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
