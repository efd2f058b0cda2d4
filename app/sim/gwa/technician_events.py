"""Event delivery of the technician API: a job's progress events and a gateway's stored
events, as server-sent events (SSE) or long-poll batches."""

from __future__ import annotations

import asyncio
import uuid

from aiohttp import web

from app.domain import SmgwId
from app.errors import InvalidValue
from app.protocols.admin import Event, EventReport, JobEvent, JobEvents, Step, from_xml, to_xml
from app.sim.gwa.technician_core import stored_event, stored_seq, stored_smgw
from app.sim.gwa.technician_handlers import load_job
from app.sim.gwa.technician_http import (
    CONFIG,
    CURSOR_HEADER,
    CURSORS_HEADER,
    MAX_REPORT,
    MAX_WAIT_S,
    cursor_of,
    fail,
    one_line,
    query_number,
    runner_of,
    wants_stream,
    xml_response,
)
from app.sim.gwa.technician_jobs import MAX_BATCH
from app.sim.gwa.technician_runner import JobRunner, wait_for_change
from app.transports.gwa import sse


async def get_job_events(request: web.Request) -> web.StreamResponse:
    """``GET /jobs/{id}/events``: the job's progress events (SSE or long-poll)."""
    job = await load_job(request)
    runner = runner_of(request)
    job_id = job.status.job_id
    cursor = cursor_of(request)
    if wants_stream(request):
        return await _job_stream(request, runner, job_id, cursor)
    wait = query_number(request, "wait", 0.0, MAX_WAIT_S)
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        signal = runner.notifier.current(("job", job_id))
        docs = await runner.store.db.call(runner.store.events_after, job_id, cursor)
        current = await runner.store.db.call(runner.store.get, job_id)
        final = current is not None and current.status.state.final
        left = deadline - asyncio.get_running_loop().time()
        if docs or final or left <= 0 or runner.closing.is_set():
            break
        await wait_for_change(signal, runner.closing, left)
    events = tuple(from_xml(d, expect=JobEvent) for d in docs)
    nxt = events[-1].sequence if events else cursor
    batch = JobEvents(job_id, nxt, events)
    return xml_response(to_xml(batch), headers={CURSOR_HEADER: str(nxt)})


async def _open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": sse.MEDIA_TYPE, "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    await response.write(b"retry: 1000\n\n")
    return response


async def _job_stream(
    request: web.Request, runner: JobRunner, job_id: uuid.UUID, cursor: int,
) -> web.StreamResponse:
    response = await _open_stream(request)
    keepalive = request.app[CONFIG]["keepalive"]
    try:
        while not runner.closing.is_set():
            signal = runner.notifier.current(("job", job_id))
            docs = await runner.store.db.call(runner.store.events_after, job_id, cursor)
            for doc in docs:
                event = from_xml(doc, expect=JobEvent)
                await response.write(sse.format_event(one_line(doc), event="jobEvent",
                                                      event_id=event.sequence))
                cursor = event.sequence
                if event.step is Step.FINISHED:
                    return response
            current = await runner.store.db.call(runner.store.get, job_id)
            if current is None or (current.status.state.final
                                   and cursor >= current.status.last_event):
                return response
            if not await wait_for_change(signal, runner.closing, keepalive):
                await response.write(sse.format_comment("keep-alive"))
    except (ConnectionResetError, ConnectionError):
        pass
    return response


async def get_gateway_events(request: web.Request) -> web.StreamResponse:
    """``GET /gateways/{smgw_id}/events``: the gateway's stored events (SSE or long-poll)."""
    runner = runner_of(request)
    try:
        smgw = SmgwId.parse(request.match_info["smgw_id"], "smgw_id")
    except InvalidValue as exc:
        raise fail(400, "bad-smgw-id", exc.message.en, exc.message.de, field="smgw_id",
                   request=request) from None
    if runner.core is None:
        raise fail(503, "process-unavailable", "This GWA stores no gateway events.",
                   "Dieser GWA speichert keine Gateway-Ereignisse.", request=request)
    cursor = cursor_of(request)
    key = ("gateway", str(smgw))

    def fetch(after: int, limit: int) -> list[tuple[int, Event]]:
        found: list[tuple[int, Event]] = []
        for stored in runner.core.events(str(smgw), since_seq=after):  # type: ignore[union-attr]
            seq, event = stored_seq(stored), stored_event(stored)
            if seq > after and event is not None and stored_smgw(stored) == str(smgw):
                found.append((seq, event))
        found.sort(key=lambda item: item[0])
        return found[:limit]

    if wants_stream(request):
        response = await _open_stream(request)
        keepalive = request.app[CONFIG]["keepalive"]
        try:
            while not runner.closing.is_set():
                signal = runner.notifier.current(key)
                for seq, event in fetch(cursor, MAX_BATCH):
                    doc = await asyncio.to_thread(to_xml, event)
                    await response.write(sse.format_event(one_line(doc), event="event",
                                                          event_id=seq))
                    cursor = seq
                if not await wait_for_change(signal, runner.closing, keepalive):
                    await response.write(sse.format_comment("keep-alive"))
        except (ConnectionResetError, ConnectionError):
            pass
        return response
    wait = query_number(request, "wait", 0.0, MAX_WAIT_S)
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        signal = runner.notifier.current(key)
        found = fetch(cursor, MAX_REPORT)
        left = deadline - asyncio.get_running_loop().time()
        if found or left <= 0 or runner.closing.is_set():
            break
        await wait_for_change(signal, runner.closing, left)
    if not found:
        return web.Response(status=204, headers={CURSOR_HEADER: str(cursor)})
    report = EventReport(tuple(event for _seq, event in found))
    body = await asyncio.to_thread(to_xml, report)
    return xml_response(body, headers={CURSOR_HEADER: str(found[-1][0]),
                                       CURSORS_HEADER: ",".join(str(seq) for seq, _e in found)})
