"""Meter change, new meter on the LMN: the gateway detects it (event or HAN list) and
the GWA pairs it with its key M (Pairing, spec 6.4.2.6)."""

from __future__ import annotations

import asyncio
from typing import Any

from app.domain import ServerId
from app.errors import SmgwctError, Text
from app.processes.engine import StepContext, StepOutcome
from app.processes.flows.gwa_common import REASON_HINTS, GwaSession, gwa_session
from app.processes.flows.han_common import han_session
from app.processes.flows.job_common import record_meter, same_server_id, work_order
from app.processes.flows.meter_change.common import (
    METER_DETECTED,
    METER_UNREACHABLE,
    installed_meter,
    seconds,
)
from app.processes.flows.pairing import pair_meter, pairing_data, pairing_failure
from app.protocols.admin import Reason
from app.store.jobs import MeterRole
from app.transports.gwa import GwaLinkError
from app.transports.han.base import UserRole

_t = Text


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
    meter = installed_meter(ctx)
    sid = meter.server_id_text
    wait = seconds(ctx.data, "detect_seconds", 30.0, 0.0, 600.0)
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
    meter = installed_meter(ctx)
    sid = meter.server_id_text
    timeout = int(seconds(ctx.data, "pairing_timeout", 120, 10, 900))
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
