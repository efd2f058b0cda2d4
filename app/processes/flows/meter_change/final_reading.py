"""Meter change, before anything is changed: the work order, the GWA link, the old
meter's final reading (Endstand) and the seal removed from it (spec 6.3)."""

from __future__ import annotations

import asyncio

from app.errors import InvalidValue, Text
from app.processes.engine import StepContext, StepOutcome
from app.processes.flows.gwa_common import check_link
from app.processes.flows.job_common import (
    METER_OPTICAL,
    app_context,
    check_meter_identity,
    load_job,
    open_job_store,
    record_meter,
    work_order,
)
from app.processes.flows.meter_change.common import (
    MAX_NOTE,
    NEEDED,
    NOTE_PROMPT,
    SEAL_PROMPT,
    new_meters,
    old_meter,
)
from app.processes.flows.meter_change.readings import (
    optical_data,
    read_energy,
    require_import,
    show,
    store_readings,
)
from app.store.jobs import MeterRole, Seal, WorkOrder

_t = Text


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
    """Step "GWA-Verbindung": the GWA accepts the technician and offers the processes needed."""
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
    data = optical_data(snapshot, values, app.optical.port if app.optical else None)
    check_meter_identity(old, data["server_id"], source=METER_OPTICAL)
    require_import(data["server_id"], values)
    await store_readings(ctx, values)
    await record_meter(ctx, data["server_id"], source="optical", role=MeterRole.OLD.value,
                       vendor=data["manufacturer"], public_key_sha256=data["public_key_sha256"])
    shown = show(data["readings"])
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
