"""Request handlers of the technician API: status, process catalogue, process requests
(202 + job, idempotent replay) and a job's status and cancellation."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

from aiohttp import web

from app import __version__
from app.errors import Text
from app.protocols.admin import CallMethod, Pairing, ProcessRequest, from_xml, to_xml
from app.sim.gwa.technician_core import attr
from app.sim.gwa.technician_http import (
    API_PREFIX,
    GWA_NAME,
    TECHNICIAN,
    XML_TYPE,
    fail,
    job_url,
    runner_of,
    xml_response,
)
from app.sim.gwa.technician_jobs import IdempotencyConflict, JobRecord, utc_now
from app.sim.gwa.technician_runner import JobRunner
from app.transports.gwa import processes as names


async def get_status(request: web.Request) -> web.Response:
    """``GET /status``: who the GWA is and which technician certificate it saw."""
    body = {
        "gwa": GWA_NAME,
        "version": __version__,
        "api": API_PREFIX.strip("/"),
        "time": utc_now().isoformat(timespec="seconds"),
        "technician_sha256": request[TECHNICIAN],
        "processes_available": runner_of(request).core is not None,
    }
    return web.json_response(body)


def _catalog_entries(runner: JobRunner) -> list[dict[str, Any]]:
    """The catalogue as JSON: the GWA's own description of each process, plus whether it can be
    requested through this API (one administration operation) and with which parameters."""
    offered = runner.catalog
    entries: dict[str, dict[str, Any]] = {}
    for name, spec in (offered or {}).items():
        describe = getattr(spec, "describe", None)
        entry: dict[str, Any] = dict(describe()) if callable(describe) else {}
        title = attr(spec, "title", default=None)
        if "title" not in entry:
            entry["title"] = ({"en": title.en, "de": title.de} if isinstance(title, Text)
                              else {"en": str(title or name), "de": str(title or name)})
        entry.setdefault("chapter", attr(spec, "chapter", default=None))
        entry.update(name=name,
                     available=name in names.PROCESS_PARAMS and runner.core is not None,
                     api_params=list(names.PROCESS_PARAMS.get(name, ())))
        entries[name] = entry
    if offered is None:
        for name, params in names.PROCESS_PARAMS.items():
            entries[name] = {"name": name, "title": {"en": name, "de": name}, "chapter": None,
                             "available": runner.core is not None, "api_params": list(params)}
    return [entries[k] for k in sorted(entries)]


async def get_catalog(request: web.Request) -> web.Response:
    """``GET /processes``: the process catalogue."""
    return web.json_response({"processes": _catalog_entries(runner_of(request))})


async def submit(request: web.Request) -> web.Response:
    """``POST /processes``: a process request becomes a job (202), or finds its job again."""
    runner = runner_of(request)
    if runner.closing.is_set():
        raise fail(503, "shutting-down", "The GWA is shutting down; try again in a moment.",
                   "Der GWA fährt herunter; bitte gleich erneut versuchen.", request=request,
                   headers={"Retry-After": "5"})
    if request.content_type not in (XML_TYPE, "text/xml"):
        raise fail(415, "unsupported-media-type",
                   f"A process request is sent as {XML_TYPE}, not '{request.content_type}'.",
                   f"Eine Prozessanfrage wird als {XML_TYPE} gesendet, nicht "
                   f"'{request.content_type}'.", field="Content-Type", request=request)
    header_key = request.headers.get("Idempotency-Key", "").strip().strip('"')
    if not header_key:
        raise fail(400, "missing-idempotency-key",
                   "Every process request carries an Idempotency-Key header (a UUID).",
                   "Jede Prozessanfrage trägt einen Idempotency-Key-Header (eine UUID).",
                   field="Idempotency-Key", request=request)
    body = await request.read()
    parsed = await asyncio.to_thread(from_xml, body, expect=ProcessRequest,
                                     field="processRequest")
    try:
        same_key = uuid.UUID(header_key) == parsed.idempotency_key
    except ValueError:
        same_key = False
    if not same_key:
        raise fail(422, "idempotency-key-mismatch",
                   "The Idempotency-Key header differs from the document's idempotencyKey.",
                   "Der Idempotency-Key-Header weicht vom idempotencyKey des Dokuments ab.",
                   field="Idempotency-Key", request=request)
    process = names.process_name(parsed.operation)
    if runner.core is None or (runner.catalog is not None and process not in runner.catalog):
        raise fail(422 if runner.core is not None else 503, "process-unavailable",
                   f"This GWA does not offer the process '{process}'.",
                   f"Dieser GWA bietet den Vorgang '{process}' nicht an.", field="process",
                   request=request)
    _require_key_material(runner, parsed, request)
    canonical = to_xml(parsed)
    digest = hashlib.sha256(canonical).hexdigest()
    try:
        job, replayed = await runner.store.db.call(
            runner.store.create_or_get, parsed, canonical, digest, request[TECHNICIAN],
            process,
        )
    except IdempotencyConflict:
        raise fail(422, "idempotency-conflict",
                   "This idempotency key was already used for a different request.",
                   "Dieser Idempotenzschlüssel wurde bereits für eine andere Anfrage verwendet.",
                   field="Idempotency-Key",
                   hint=Text("Send a new request with a new key.",
                             "Senden Sie eine neue Anfrage mit einem neuen Schlüssel."),
                   request=request) from None
    if not replayed:
        runner.schedule(job)
    headers = {"Location": job_url(job.status.job_id), "Idempotency-Key": header_key}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
        current = await runner.store.db.call(runner.store.get, job.status.job_id)
        return xml_response(to_xml((current or job).status), status=200, headers=headers)
    return xml_response(to_xml(job.status), status=202, headers=headers)


def _require_key_material(runner: JobRunner, parsed: ProcessRequest,
                          request: web.Request) -> None:
    """A pairing without ``initialKey`` uses the key M the GWA holds for the meter (6.4.2.6);
    refused at once when it holds none, before a job is created."""
    op = parsed.operation
    call = op.call if isinstance(op, CallMethod) else None
    if not isinstance(call, Pairing) or call.initial_key is not None:
        return
    lookup = getattr(runner.core, "meter_key", None)
    if callable(lookup) and lookup(call.server_id) is not None:
        return
    sid = call.server_id.display
    raise fail(422, "no-key-material",
               f"The pairing request carries no initial key M and the GWA holds none for "
               f"meter {sid}.",
               f"Die Pairing-Anfrage enthält keinen Initialschlüssel M, und der GWA hat keinen "
               f"für Zähler {sid}.",
               field="initialKey",
               hint=Text(f"Send key M of meter {sid} (its key sheet) in initialKey, or have the "
                         "meter's key sheet imported at the GWA first.",
                         f"Schlüssel M des Zählers {sid} (Schlüsselblatt) in initialKey "
                         "mitsenden oder das Schlüsselblatt des Zählers zuerst im GWA "
                         "importieren lassen."),
               request=request)


async def load_job(request: web.Request) -> JobRecord:
    """The job of the path, if it belongs to the requesting technician (else 404)."""
    try:
        job_id = uuid.UUID(request.match_info["job_id"])
    except ValueError:
        job_id = None
    runner = runner_of(request)
    job = None if job_id is None else await runner.store.db.call(runner.store.get, job_id)
    if job is None or job.technician != request[TECHNICIAN]:
        raise fail(404, "unknown-job", "There is no job with this ID for your certificate.",
                   "Zu Ihrem Zertifikat gibt es keinen Auftrag mit dieser Kennung.",
                   field="job", request=request)
    return job


async def get_job(request: web.Request) -> web.Response:
    """``GET /jobs/{id}``: the job's status."""
    job = await load_job(request)
    return xml_response(to_xml(job.status))


async def cancel_job(request: web.Request) -> web.Response:
    """``DELETE /jobs/{id}``: cancel a job that still waits."""
    job = await load_job(request)
    runner = runner_of(request)
    if not await runner.cancel(job.status.job_id):
        raise fail(409, "job-not-cancellable",
                   f"The job is {job.status.state.value}; only a queued job can be cancelled.",
                   f"Der Auftrag ist im Zustand {job.status.state.value}; nur ein wartender "
                   "Auftrag kann abgebrochen werden.", field="job", request=request)
    current = await runner.store.db.call(runner.store.get, job.status.job_id)
    return xml_response(to_xml((current or job).status))
