"""The technician API of the reference GWA (ARCHITECTURE.md §3.2, docs/protocol/gwa-link.md).

Only technicians holding a client certificate of the GWA's PKI get in (WAN TLS profile,
``client_cert="required"``). A process request (``POST /tech/v1/processes``, XML with an
idempotency key) becomes a job (Auftrag) that the GWA's process runner carries out; the tool
follows its progress events by server-sent events or long-poll. Jobs and their events live in
SQLite, so a restart of the GWA keeps every job's state: jobs that were waiting start then, jobs
that were running are reported as interrupted (nothing is run twice).

Routes (all below ``/tech/v1``)::

    GET  /status                      who the GWA is, which technician certificate it saw (JSON)
    GET  /processes                   the process catalogue (JSON)
    POST /processes                   processRequest (XML) + Idempotency-Key -> 202 + Location
    GET  /jobs/{id}                   jobStatus (XML)
    DELETE /jobs/{id}                 cancel a job that still waits
    GET  /jobs/{id}/events            jobEvent stream (SSE) or jobEvents batch (long-poll)
    GET  /gateways/{smgw_id}/events   the gateway's stored events (SSE or long-poll)

Errors are problem documents (``application/problem+xml``, RFC 9457).

This module assembles the application; the parts live next to it: ``technician_jobs`` (job
store, idempotency), ``technician_core`` (the GWA core's side), ``technician_runner`` (running
jobs, notifications), ``technician_http`` (problems, middlewares, request parsing),
``technician_handlers`` (status, catalogue, process requests, jobs) and ``technician_events``
(SSE and long-poll).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from app.security import tls
from app.security.pki import DemoPki
from app.sim.gwa.technician_core import GwaCore
from app.sim.gwa.technician_events import get_gateway_events, get_job_events
from app.sim.gwa.technician_handlers import cancel_job, get_catalog, get_job, get_status, submit
from app.sim.gwa.technician_http import (
    API_PREFIX,
    CONFIG,
    CURSOR_HEADER,
    GWA_NAME,
    RUNNER,
    client_identity_middleware,
    problems_middleware,
)
from app.sim.gwa.technician_jobs import JobRecord, TechnicianJobs
from app.sim.gwa.technician_runner import JobRunner
from app.sim.server_handle import ServerHandle, start_tls_site

DEFAULT_JOB_TIMEOUT_S = 15 * 60.0
DEFAULT_KEEPALIVE_S = 15.0


def _default_catalog() -> Mapping[str, Any] | None:
    try:
        from app.sim.gwa.processes import PROCESS_CATALOG  # type: ignore[import-not-found]
    except ImportError:
        return None
    return PROCESS_CATALOG  # type: ignore[no-any-return]


def create_app(
    gwa: GwaCore | None = None,
    *,
    jobs_path: Path | None = None,
    catalog: Mapping[str, Any] | None = None,
    job_timeout: float = DEFAULT_JOB_TIMEOUT_S,
    keepalive: float = DEFAULT_KEEPALIVE_S,
    middlewares: tuple[Any, ...] = (),
) -> web.Application:
    """The technician API on top of the GWA core ``gwa``.

    ``jobs_path`` is the SQLite file of the jobs (default: ``reference-gwa/technician-jobs.sqlite``
    in the data folder); ``catalog`` the offered processes (default: the core's
    ``PROCESS_CATALOG``). Without a core only ``/status`` and ``/processes`` answer usefully.
    """
    if jobs_path is None:
        from app.store.settings import data_dir

        jobs_path = data_dir() / "reference-gwa" / "technician-jobs.sqlite"
    app = web.Application(
        middlewares=[problems_middleware, client_identity_middleware, *middlewares],
        client_max_size=1024 * 1024)
    app[CONFIG] = {"keepalive": keepalive}
    offered = catalog if catalog is not None else (_default_catalog() if gwa is not None else None)

    async def on_startup(application: web.Application) -> None:
        store = await asyncio.to_thread(TechnicianJobs, jobs_path)
        runner = JobRunner(store, gwa, job_timeout=job_timeout, catalog=offered)
        application[RUNNER] = runner
        await runner.start()

    async def on_shutdown(application: web.Application) -> None:
        if RUNNER in application:
            await application[RUNNER].stop()

    async def on_cleanup(application: web.Application) -> None:
        if RUNNER in application:
            await asyncio.to_thread(application[RUNNER].store.close)

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    app.router.add_get(f"{API_PREFIX}/status", get_status)
    app.router.add_get(f"{API_PREFIX}/processes", get_catalog)
    app.router.add_post(f"{API_PREFIX}/processes", submit)
    app.router.add_get(f"{API_PREFIX}/jobs/{{job_id}}", get_job)
    app.router.add_delete(f"{API_PREFIX}/jobs/{{job_id}}", cancel_job)
    app.router.add_get(f"{API_PREFIX}/jobs/{{job_id}}/events", get_job_events)
    app.router.add_get(f"{API_PREFIX}/gateways/{{smgw_id}}/events", get_gateway_events)
    return app


async def start_gwa_server(
    pki: DemoPki, *, host: str = "127.0.0.1", port: int = 0, app: web.Application | None = None,
    gwa: GwaCore | None = None, jobs_path: Path | None = None,
) -> ServerHandle:
    """Start the technician API on ``host:port`` with mutual TLS (WAN profile, brainpool).

    ``gwa`` is the GWA core that runs the processes; ``app`` replaces the whole application.
    """
    context = tls.server_context(
        tls.Interface.WAN,
        own=pki.tls_chain("gwa_tls"),
        client_trust=[pki.trust_pem()],
        client_cert="required",
        group=pki.curve,
    )
    return await start_tls_site(
        app or create_app(gwa, jobs_path=jobs_path), role="reference GWA (technician API)",
        host=host, port=port, ssl_context=context, protocol="https+mtls",
        certificate_sha256=pki["gwa_tls"].sha256,
    )


__all__ = [
    "API_PREFIX", "CURSOR_HEADER", "GWA_NAME", "GwaCore", "JobRecord", "JobRunner",
    "TechnicianJobs", "create_app", "start_gwa_server",
]
