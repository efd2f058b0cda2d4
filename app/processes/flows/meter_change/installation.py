"""Meter change, new meter in: the physical swap, the new meter read optically and its
meter profile created at the GWA (Zählerprofil, spec 6.4.2)."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any

from app.errors import InvalidValue, SmgwctError, Text
from app.processes.engine import StepContext, StepOutcome
from app.processes.flows.gwa_common import GwaStepError, explain, gwa_session
from app.processes.flows.job_common import (
    METER_OPTICAL,
    IdentityMismatch,
    app_context,
    record_meter,
    same_server_id,
    work_order,
)
from app.processes.flows.meter_change.common import (
    SWAP_PROMPT,
    installed_meter,
    new_meters,
    old_meter,
)
from app.processes.flows.meter_change.readings import (
    optical_data,
    read_energy,
    reading_dict,
    require_import,
    show,
    store_readings,
)
from app.protocols.admin import MeterProfile, Reason, from_xml
from app.store.jobs import ExpectedMeter, MeterRole

_t = Text


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


async def read_new_meter(ctx: StepContext) -> StepOutcome:
    """The new meter read optically; it must be a new meter of the work order."""
    order = work_order(ctx)
    expected = new_meters(order)
    snapshot, values = await read_energy(ctx, MeterRole.NEW)
    app = app_context(ctx)
    data = optical_data(snapshot, values, app.optical.port if app.optical else None)
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
    require_import(seen, values)
    values = [dataclasses.replace(v, server_id=match.server_id_text) for v in values]
    await store_readings(ctx, values)
    await record_meter(ctx, match.server_id_text, source="optical", role=MeterRole.NEW.value,
                       vendor=data["manufacturer"], public_key_sha256=data["public_key_sha256"])
    data["server_id"] = match.server_id_text
    data["readings"] = [reading_dict(r) for r in values]
    shown = show(data["readings"])
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
    meter = installed_meter(ctx)
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
