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
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from app import __version__
from app.domain import SmgwId
from app.errors import InvalidValue, SmgwctError, Text
from app.protocols.admin import (
    Event,
    EventReport,
    FailureReason,
    JobEvent,
    JobEvents,
    JobFailure,
    JobState,
    JobStatus,
    ProcessRequest,
    Response,
    Step,
    from_xml,
    operation_info,
    to_xml,
)
from app.protocols.admin.methods import RESULT_ELEMENTS
from app.protocols.admin.profiles import PROFILE_TYPES
from app.security import tls
from app.security.pki import DemoPki
from app.sim.server_handle import ServerHandle, start_tls_site
from app.store.db import Database, Migration, utc_text
from app.transports.gwa import processes as names
from app.transports.gwa import sse
from app.transports.gwa.problem import MEDIA_TYPE as PROBLEM_TYPE
from app.transports.gwa.problem import Problem, encode_problem

log = logging.getLogger(__name__)

API_PREFIX = "/tech/v1"
GWA_NAME = "smgwct reference GWA"
XML_TYPE = "application/xml"
CURSOR_HEADER = "GWA-Cursor"
CURSORS_HEADER = "GWA-Cursors"  # one cursor per event of a long-poll eventReport
MAX_WAIT_S = 30.0
MAX_BATCH = 500  # jobEvents holds at most 500 events (gwa-link.xsd)
MAX_REPORT = 100  # eventReport holds at most 100 events (event.xsd)
DEFAULT_JOB_TIMEOUT_S = 15 * 60.0
DEFAULT_KEEPALIVE_S = 15.0

#: the technician certificate's fingerprint, stored on each request
TECHNICIAN: Any = (web.RequestKey("technician_sha256", str) if hasattr(web, "RequestKey")
                   else "technician_sha256")


# --- the GWA core as this API sees it ------------------------------------------------------------


class GwaCore(Protocol):
    """What the technician API needs of the reference GWA (``app.sim.gwa.core.ReferenceGwa``)."""

    async def run_process(
        self, smgw_id: str, process: str, params: dict[str, Any],
        progress: Callable[[Any], Any] | None = None,
    ) -> Any: ...

    def events(self, smgw_id: str | None = None, since_seq: int = 0) -> list[Any]: ...

    def subscribe_events(self, callback: Callable[[Any], Any]) -> Any: ...


def _attr(obj: Any, *candidates: str, default: Any = None) -> Any:
    for name in candidates:
        if isinstance(obj, Mapping) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return default


def _stored_seq(stored: Any) -> int:
    return int(_attr(stored, "seq", "store_seq", "sequence", default=0))


def _stored_event(stored: Any) -> Event | None:
    event = stored if isinstance(stored, Event) else _attr(stored, "event")
    return event if isinstance(event, Event) else None


def _stored_smgw(stored: Any) -> str | None:
    raw = _attr(stored, "smgw_id")
    if raw is None:
        event = _stored_event(stored)
        raw = event.smgw_id if event is not None else None
    return None if raw is None else str(raw)


# --- job store -----------------------------------------------------------------------------------

_MIGRATIONS = (
    Migration(
        1,
        """
        CREATE TABLE tech_jobs (
            id TEXT PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            request_sha256 TEXT NOT NULL,
            technician TEXT NOT NULL,
            smgw_id TEXT NOT NULL,
            process TEXT NOT NULL,
            request BLOB NOT NULL,
            state TEXT NOT NULL,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            last_event INTEGER NOT NULL,
            response BLOB,
            failure_reason TEXT,
            failure_detail TEXT
        );
        CREATE INDEX tech_jobs_by_state ON tech_jobs(state, created);
        CREATE TABLE tech_job_events (
            job_id TEXT NOT NULL REFERENCES tech_jobs(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            document BLOB NOT NULL,
            PRIMARY KEY (job_id, seq)
        );
        """,
    ),
)


@dataclass(frozen=True)
class JobRecord:
    """A stored job: its status document and what is needed to run it."""

    status: JobStatus
    request_sha256: str
    technician: str
    process: str
    request: bytes


class IdempotencyConflict(Exception):
    """The key is known, but for another request (or another technician)."""

    def __init__(self, existing: JobRecord) -> None:
        super().__init__("idempotency key reused")
        self.existing = existing


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _text_detail(value: str | None) -> str | None:
    if not value:
        return None
    value = " ".join(value.split())
    return value[:1000] or None


class TechnicianJobs:
    """Jobs and progress events of the technician API in one SQLite file (WAL, fsync per commit).

    Synchronous methods; the API calls them through :meth:`Database.call` (one worker thread,
    so writes keep their order).
    """

    def __init__(self, path: Path) -> None:
        self.db = Database(path, "technician_jobs", _MIGRATIONS)

    def close(self) -> None:
        self.db.close()

    def create_or_get(
        self, request: ProcessRequest, body: bytes, digest: str, technician: str, process: str
    ) -> tuple[JobRecord, bool]:
        """Store a new job with its first event, or return the job of the same key.

        Returns ``(job, replayed)``; raises :class:`IdempotencyConflict` if the key belongs to a
        different request.
        """
        key = str(request.idempotency_key)
        with self.db.write() as conn:
            row = conn.execute("SELECT * FROM tech_jobs WHERE idempotency_key = ?",
                               (key,)).fetchone()
            if row is not None:
                record = self._record(conn, row)
                if record.request_sha256 != digest or record.technician != technician:
                    raise IdempotencyConflict(record)
                return record, True
            job_id = uuid.uuid4()
            now = _now()
            event = JobEvent(job_id, 1, now, JobState.QUEUED, Step.ACCEPTED,
                             detail=f"{process} for {request.smgw_id}")
            conn.execute(
                "INSERT INTO tech_jobs(id, idempotency_key, request_sha256, technician, smgw_id,"
                " process, request, state, created, updated, last_event)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (str(job_id), key, digest, technician, str(request.smgw_id), process, body,
                 JobState.QUEUED.value, utc_text(now), utc_text(now)),
            )
            conn.execute("INSERT INTO tech_job_events(job_id, seq, document) VALUES (?, 1, ?)",
                         (str(job_id), to_xml(event)))
            row = conn.execute("SELECT * FROM tech_jobs WHERE id = ?", (str(job_id),)).fetchone()
            return self._record(conn, row), False

    def get(self, job_id: uuid.UUID) -> JobRecord | None:
        with self.db.write() as conn:
            row = conn.execute("SELECT * FROM tech_jobs WHERE id = ?", (str(job_id),)).fetchone()
            return None if row is None else self._record(conn, row)

    def jobs_in(self, *states: JobState) -> list[JobRecord]:
        marks = ",".join("?" for _ in states)
        with self.db.write() as conn:
            rows = conn.execute(
                f"SELECT * FROM tech_jobs WHERE state IN ({marks}) ORDER BY created",  # noqa: S608
                [s.value for s in states],
            ).fetchall()
            return [self._record(conn, r) for r in rows]

    def start(self, job_id: uuid.UUID) -> bool:
        """``queued`` -> ``running``; False if the job is no longer queued (cancelled)."""
        with self.db.write() as conn:
            cur = conn.execute(
                "UPDATE tech_jobs SET state = ?, updated = ? WHERE id = ? AND state = ?",
                (JobState.RUNNING.value, utc_text(), str(job_id), JobState.QUEUED.value))
            return cur.rowcount == 1

    def cancel_if_queued(self, job_id: uuid.UUID) -> JobEvent | None:
        """Cancel a job that has not started; None if it has (or is final)."""
        return self.finish(job_id, JobState.CANCELLED, None, None, "cancelled by the technician",
                           only_from=JobState.QUEUED)

    def append(
        self, job_id: uuid.UUID, step: Step, detail: str | None = None, event: Event | None = None,
    ) -> JobEvent | None:
        """Add a progress event in the job's current state; None once the job is final."""
        with self.db.write() as conn:
            row = conn.execute("SELECT state, last_event FROM tech_jobs WHERE id = ?",
                               (str(job_id),)).fetchone()
            if row is None or JobState(row["state"]).final:
                return None
            seq = int(row["last_event"]) + 1
            job_event = JobEvent(job_id, seq, _now(), JobState(row["state"]), step,
                                 _text_detail(detail), event)
            self._insert_event(conn, job_event)
            return job_event

    def finish(
        self, job_id: uuid.UUID, state: JobState, response: Response | None,
        failure: JobFailure | None, detail: str | None = None,
        only_from: JobState | None = None,
    ) -> JobEvent | None:
        """Record the outcome and the ``finished`` event in one commit (once)."""
        with self.db.write() as conn:
            row = conn.execute("SELECT state, last_event FROM tech_jobs WHERE id = ?",
                               (str(job_id),)).fetchone()
            if row is None or JobState(row["state"]).final:
                return None
            if only_from is not None and JobState(row["state"]) is not only_from:
                return None
            seq = int(row["last_event"]) + 1
            conn.execute(
                "UPDATE tech_jobs SET state = ?, response = ?, failure_reason = ?,"
                " failure_detail = ? WHERE id = ?",
                (state.value, None if response is None else to_xml(response),
                 None if failure is None else FailureReason(failure.reason).value,
                 None if failure is None else failure.detail, str(job_id)),
            )
            job_event = JobEvent(job_id, seq, _now(), state, Step.FINISHED, _text_detail(detail))
            self._insert_event(conn, job_event)
            return job_event

    def events_after(self, job_id: uuid.UUID, after: int, limit: int = MAX_BATCH) -> list[bytes]:
        rows = self.db.read(
            "SELECT document FROM tech_job_events WHERE job_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?", (str(job_id), after, limit),
        )
        return [bytes(r["document"]) for r in rows]

    @staticmethod
    def _insert_event(conn: sqlite3.Connection, event: JobEvent) -> None:
        conn.execute("INSERT INTO tech_job_events(job_id, seq, document) VALUES (?, ?, ?)",
                     (str(event.job_id), event.sequence, to_xml(event)))
        conn.execute("UPDATE tech_jobs SET last_event = ?, updated = ? WHERE id = ?",
                     (event.sequence, utc_text(event.time), str(event.job_id)))

    @staticmethod
    def _record(conn: sqlite3.Connection, row: sqlite3.Row) -> JobRecord:
        response = None
        if row["response"] is not None:
            response = from_xml(bytes(row["response"]), expect=Response)
        failure = None
        if row["failure_reason"] is not None:
            failure = JobFailure(FailureReason(row["failure_reason"]), row["failure_detail"])
        created = dt.datetime.fromisoformat(row["created"])
        status = JobStatus(
            job_id=uuid.UUID(row["id"]),
            idempotency_key=uuid.UUID(row["idempotency_key"]),
            smgw_id=SmgwId(row["smgw_id"]),
            state=JobState(row["state"]),
            created=created,
            updated=max(created, dt.datetime.fromisoformat(row["updated"])),
            last_event=int(row["last_event"]),
            response=response,
            failure=failure,
        )
        return JobRecord(status, row["request_sha256"], row["technician"], row["process"],
                         bytes(row["request"]))


# --- notifications -------------------------------------------------------------------------------


class _Notifier:
    """Wakes waiting long-polls and streams when something changes under a key."""

    def __init__(self) -> None:
        self._events: dict[Any, asyncio.Event] = {}

    def current(self, key: Any) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def notify(self, key: Any) -> None:
        event = self._events.pop(key, None)
        if event is not None:
            event.set()


async def _wait(signal: asyncio.Event, closing: asyncio.Event, timeout: float) -> bool:
    """Wait for ``signal`` (True), ``closing`` or the timeout (False)."""
    if timeout <= 0:
        return signal.is_set()
    waiters = [asyncio.ensure_future(signal.wait()), asyncio.ensure_future(closing.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
    return signal.is_set()


# --- running jobs --------------------------------------------------------------------------------


class JobRunner:
    """Carries out stored jobs on the GWA core, one at a time per gateway."""

    def __init__(self, store: TechnicianJobs, core: GwaCore | None, *, job_timeout: float,
                 catalog: Mapping[str, Any] | None) -> None:
        self.store = store
        self.core = core
        self.catalog = catalog
        self.job_timeout = job_timeout
        self.notifier = _Notifier()
        self.closing = asyncio.Event()
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._running: dict[uuid.UUID, str] = {}
        self._relayed: dict[uuid.UUID, set[uuid.UUID]] = {}
        self._relay_tasks: set[asyncio.Future[None]] = set()
        self._unsubscribe: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Subscribe to gateway events; settle jobs a previous run left unfinished."""
        self._loop = asyncio.get_running_loop()
        if self.core is not None:
            self._unsubscribe = self.core.subscribe_events(self._on_gateway_event)
        interrupted = await self.store.db.call(self.store.jobs_in, JobState.RUNNING)
        for job in interrupted:
            await self.store.db.call(
                self.store.finish, job.status.job_id, JobState.FAILED, None,
                JobFailure(FailureReason.GWA_ERROR, "interrupted by a restart of the GWA; "
                           "the process may or may not have reached the gateway"),
                "interrupted by a restart of the GWA",
            )
        for job in await self.store.db.call(self.store.jobs_in, JobState.QUEUED):
            self.schedule(job)

    async def stop(self) -> None:
        self.closing.set()
        if callable(self._unsubscribe):
            with contextlib.suppress(Exception):
                self._unsubscribe()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def schedule(self, job: JobRecord) -> None:
        job_id = job.status.job_id
        if job_id in self._tasks or job.status.state.final:
            return
        task = asyncio.get_running_loop().create_task(self._run(job), name=f"tech-job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))

    async def cancel(self, job_id: uuid.UUID) -> bool:
        """Cancel a job that is still waiting; False once it has started."""
        done = await self.store.db.call(self.store.cancel_if_queued, job_id)
        if done is None:
            return False
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()
        self._changed(job_id)
        return True

    def _changed(self, job_id: uuid.UUID) -> None:
        self.notifier.notify(("job", job_id))

    async def _append(self, job_id: uuid.UUID, step: Step, detail: str | None = None,
                      event: Event | None = None) -> None:
        await self.store.db.call(self.store.append, job_id, step, detail, event)
        self._changed(job_id)

    async def _run(self, job: JobRecord) -> None:
        job_id, smgw = job.status.job_id, str(job.status.smgw_id)
        lock = self._locks.setdefault(smgw, asyncio.Lock())
        async with lock:
            pending: list[asyncio.Future[None]] = []
            try:
                request = from_xml(job.request, expect=ProcessRequest)
            except InvalidValue as exc:  # only if the stored request was damaged
                await self.store.db.call(
                    self.store.finish, job_id, JobState.FAILED, None,
                    JobFailure(FailureReason.GWA_ERROR, _text_detail(exc.message.en)), None)
                self._changed(job_id)
                return
            if not await self.store.db.call(self.store.start, job_id):
                return  # cancelled while it waited
            self._running[job_id] = smgw
            self._changed(job_id)

            def progress(update: Any) -> Awaitable[None]:
                step, detail, event = _progress_fields(update)
                future = asyncio.ensure_future(self._append(job_id, step, detail, event))
                pending.append(future)
                return future

            try:
                outcome = await self._execute(request, job.process, progress)
            finally:
                self._running.pop(job_id, None)
                self._relayed.pop(job_id, None)
            await asyncio.gather(*pending, return_exceptions=True)
            state, response, failure, detail = outcome
            await self.store.db.call(self.store.finish, job_id, state, response, failure, detail)
            self._changed(job_id)

    async def _execute(
        self, request: ProcessRequest, process: str, progress: Callable[[Any], Any],
    ) -> tuple[JobState, Response | None, JobFailure | None, str | None]:
        if self.core is None:
            return JobState.FAILED, None, JobFailure(FailureReason.GWA_ERROR,
                                                     "no process runner attached"), None
        params = names.operation_params(request.operation)
        try:
            result = await asyncio.wait_for(
                self.core.run_process(str(request.smgw_id), process, params, progress=progress),
                self.job_timeout,
            )
        except TimeoutError:
            return (JobState.FAILED, None,
                    JobFailure(FailureReason.TIMEOUT, f"no result within {self.job_timeout:g} s"),
                    None)
        except SmgwctError as exc:
            return JobState.FAILED, None, JobFailure(FailureReason.GWA_ERROR,
                                                     _text_detail(exc.message.en)), None
        except Exception as exc:  # the back end failed; the job must still end cleanly
            log.exception("process %s failed in the GWA core", process)
            return JobState.FAILED, None, JobFailure(FailureReason.GWA_ERROR,
                                                     _text_detail(type(exc).__name__)), None
        return _outcome(result, request)

    def _on_gateway_event(self, stored: Any) -> None:
        """Core callback: wake gateway-event followers and relay to running jobs."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._relay(stored)
        else:
            loop.call_soon_threadsafe(self._relay, stored)

    def _relay(self, stored: Any) -> None:
        smgw = _stored_smgw(stored)
        self.notifier.notify(("gateway", smgw))
        event = _stored_event(stored)
        if event is None:
            return
        for job_id, job_smgw in list(self._running.items()):
            seen = self._relayed.setdefault(job_id, set())
            if job_smgw == smgw and event.id not in seen:
                seen.add(event.id)
                task = asyncio.ensure_future(self._append(job_id, Step.SMGW_EVENT, None, event))
                self._relay_tasks.add(task)
                task.add_done_callback(self._relay_tasks.discard)


_STEP_ALIASES = {"wakeup-sent": Step.WAKE_UP_SENT, "wake-up": Step.WAKE_UP_SENT,
                 "result": Step.RESULT_RECEIVED, "event": Step.SMGW_EVENT}


def _progress_fields(update: Any) -> tuple[Step, str | None, Event | None]:
    """Step, detail and relayed event of a progress report of the core."""
    raw_step = _attr(update, "step", "phase", default=None)
    text = _attr(update, "detail", "text", "message", default=None)
    event = _attr(update, "event", default=None)
    event = event if isinstance(event, Event) else None
    step: Step | None = None
    if isinstance(raw_step, Step):
        step = raw_step
    elif raw_step is not None:
        key = str(raw_step).strip().lower().replace("_", "-").replace(" ", "-")
        step = _STEP_ALIASES.get(key)
        if step is None:
            with contextlib.suppress(ValueError):
                step = Step(key)
    detail = text.en if isinstance(text, Text) else (None if text is None else str(text))
    if step is None:
        step = Step.SMGW_EVENT if event is not None else Step.REQUEST_SENT
        if raw_step is not None:
            detail = f"{raw_step}: {detail}" if detail else str(raw_step)
    if step is Step.SMGW_EVENT and event is None:
        step = Step.REQUEST_SENT
    if step is not Step.SMGW_EVENT:
        event = None
    return step, detail, event


_PAYLOAD_TYPES = (*PROFILE_TYPES.values(), *RESULT_ELEMENTS)


def _outcome(
    result: Any, request: ProcessRequest,
) -> tuple[JobState, Response | None, JobFailure | None, str | None]:
    """Map the core's ProcessResult to state, gateway response and failure."""
    data = _attr(result, "data", default=None)
    response = result if isinstance(result, Response) else _attr(result, "response", default=None)
    if not isinstance(response, Response):
        response = data if isinstance(data, Response) else _attr(data, "response", default=None)
    if not isinstance(response, Response):
        response = None
    ok = bool(_attr(result, "ok", default=response is not None and response.ok))
    if ok:
        if response is None or not response.ok:
            payload = data if isinstance(data, _PAYLOAD_TYPES) else _attr(data, "result")
            info = operation_info(request.operation)
            response = Response.of(
                request.idempotency_key, info.success_reason,
                result=payload if isinstance(payload, _PAYLOAD_TYPES) else None,
            )
        return JobState.SUCCEEDED, response, None, response.text.en
    code = _attr(result, "error_code", "code", default=None)
    text = _attr(result, "error_text", "error", "text", default=None)
    detail = text.en if isinstance(text, Text) else (None if text is None else str(text))
    try:
        reason = FailureReason(str(code).replace("_", "-"))
    except ValueError:
        reason = (FailureReason.REJECTED_BY_GATEWAY if response is not None and not response.ok
                  else FailureReason.GWA_ERROR)
        if code is not None:
            detail = f"{code}: {detail}" if detail else str(code)
    if detail is None and response is not None:
        detail = response.detail or response.text.en
    return JobState.FAILED, response, JobFailure(reason, _text_detail(detail)), detail


# --- HTTP plumbing -------------------------------------------------------------------------------

RUNNER = web.AppKey("tech_runner", JobRunner)
CONFIG = web.AppKey("tech_config", dict)


def _problem(
    status: int, code: str, en: str, de: str, *, field: str | None = None,
    hint: Text | None = None, request: web.Request | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = encode_problem(Problem(status, code, Text(en, de), field=field, hint=hint,
                                  instance=None if request is None else request.path))
    return web.Response(status=status, body=body, content_type=PROBLEM_TYPE,
                        headers=dict(headers or {}))


class _ProblemError(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _fail(status: int, code: str, en: str, de: str, **kw: Any) -> _ProblemError:
    return _ProblemError(_problem(status, code, en, de, **kw))


_HTTP_CODES: dict[int, tuple[str, str, str]] = {
    404: ("not-found", "There is nothing at this address of the technician API.",
          "Unter dieser Adresse der Techniker-Schnittstelle gibt es nichts."),
    405: ("method-not-allowed", "This method is not allowed at this address.",
          "Diese Methode ist an dieser Adresse nicht erlaubt."),
    413: ("request-too-large", "The request body is too large (at most 1 MiB).",
          "Der Anfrageinhalt ist zu groß (höchstens 1 MiB)."),
}


@web.middleware
async def _errors(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Every error leaves as a problem document."""
    try:
        return await handler(request)
    except _ProblemError as exc:
        return exc.response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, en, de = _HTTP_CODES.get(exc.status, ("http-error", exc.reason, exc.reason))
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return _problem(exc.status, code, en, de, request=request, headers=headers)
    except InvalidValue as exc:
        return _problem(400, "malformed-request", exc.message.en, exc.message.de,
                        field=exc.field, hint=exc.hint, request=request)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("technician API: %s %s failed", request.method, request.path)
        return _problem(500, "internal-error", "The GWA failed internally; try again later.",
                        "Im GWA ist ein interner Fehler aufgetreten; bitte später erneut "
                        "versuchen.", request=request)


@web.middleware
async def _client_identity(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Record the technician certificate's fingerprint of every request."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    if ssl_object is None or not ssl_object.getpeercert(binary_form=True):
        raise _fail(403, "client-certificate-required",
                    "The technician API accepts only connections with a technician certificate.",
                    "Die Techniker-Schnittstelle nimmt nur Verbindungen mit "
                    "Techniker-Zertifikat an.")
    request[TECHNICIAN] = tls.peer_fingerprint(ssl_object)
    return await handler(request)


def _runner(request: web.Request) -> JobRunner:
    return request.app[RUNNER]


def _xml(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=body, content_type=XML_TYPE,
                        headers=dict(headers or {}))


def _job_url(job_id: uuid.UUID) -> str:
    return f"{API_PREFIX}/jobs/{job_id}"


def _query_number(request: web.Request, name: str, default: float, high: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise _fail(400, "bad-query", f"The query parameter {name} must be a number >= 0, "
                    f"not '{raw[:20]}'.",
                    f"Der Abfrageparameter {name} muss eine Zahl >= 0 sein, nicht '{raw[:20]}'.",
                    field=name, request=request)
    return min(value, high)


def _cursor(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    if not raw.strip().isdigit():
        raise _fail(400, "bad-query", f"The event cursor must be a whole number >= 0, not "
                    f"'{raw[:20]}'.",
                    f"Der Ereignis-Cursor muss eine ganze Zahl >= 0 sein, nicht '{raw[:20]}'.",
                    field="after", request=request)
    return int(raw.strip())


def _one_line(document: bytes) -> str:
    """A serialised document without its XML declaration: one line of SSE data."""
    text = document.decode("utf-8")
    if text.startswith("<?xml"):
        text = text[text.index("?>") + 2 :].lstrip()
    return text


def _wants_stream(request: web.Request) -> bool:
    return sse.MEDIA_TYPE in request.headers.get("Accept", "")


# --- handlers ------------------------------------------------------------------------------------


async def _status(request: web.Request) -> web.Response:
    body = {
        "gwa": GWA_NAME,
        "version": __version__,
        "api": API_PREFIX.strip("/"),
        "time": _now().isoformat(timespec="seconds"),
        "technician_sha256": request[TECHNICIAN],
        "processes_available": _runner(request).core is not None,
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
        title = _attr(spec, "title", default=None)
        if "title" not in entry:
            entry["title"] = ({"en": title.en, "de": title.de} if isinstance(title, Text)
                              else {"en": str(title or name), "de": str(title or name)})
        entry.setdefault("chapter", _attr(spec, "chapter", default=None))
        entry.update(name=name,
                     available=name in names.PROCESS_PARAMS and runner.core is not None,
                     api_params=list(names.PROCESS_PARAMS.get(name, ())))
        entries[name] = entry
    if offered is None:
        for name, params in names.PROCESS_PARAMS.items():
            entries[name] = {"name": name, "title": {"en": name, "de": name}, "chapter": None,
                             "available": runner.core is not None, "api_params": list(params)}
    return [entries[k] for k in sorted(entries)]


async def _catalog(request: web.Request) -> web.Response:
    return web.json_response({"processes": _catalog_entries(_runner(request))})


async def _submit(request: web.Request) -> web.Response:
    runner = _runner(request)
    if runner.closing.is_set():
        raise _fail(503, "shutting-down", "The GWA is shutting down; try again in a moment.",
                    "Der GWA fährt herunter; bitte gleich erneut versuchen.", request=request,
                    headers={"Retry-After": "5"})
    if request.content_type not in (XML_TYPE, "text/xml"):
        raise _fail(415, "unsupported-media-type",
                    f"A process request is sent as {XML_TYPE}, not '{request.content_type}'.",
                    f"Eine Prozessanfrage wird als {XML_TYPE} gesendet, nicht "
                    f"'{request.content_type}'.", field="Content-Type", request=request)
    header_key = request.headers.get("Idempotency-Key", "").strip().strip('"')
    if not header_key:
        raise _fail(400, "missing-idempotency-key",
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
        raise _fail(422, "idempotency-key-mismatch",
                    "The Idempotency-Key header differs from the document's idempotencyKey.",
                    "Der Idempotency-Key-Header weicht vom idempotencyKey des Dokuments ab.",
                    field="Idempotency-Key", request=request)
    process = names.process_name(parsed.operation)
    if runner.core is None or (runner.catalog is not None and process not in runner.catalog):
        raise _fail(422 if runner.core is not None else 503, "process-unavailable",
                    f"This GWA does not offer the process '{process}'.",
                    f"Dieser GWA bietet den Vorgang '{process}' nicht an.", field="process",
                    request=request)
    canonical = to_xml(parsed)
    digest = hashlib.sha256(canonical).hexdigest()
    try:
        job, replayed = await runner.store.db.call(
            runner.store.create_or_get, parsed, canonical, digest, request[TECHNICIAN],
            process,
        )
    except IdempotencyConflict:
        raise _fail(422, "idempotency-conflict",
                    "This idempotency key was already used for a different request.",
                    "Dieser Idempotenzschlüssel wurde bereits für eine andere Anfrage verwendet.",
                    field="Idempotency-Key",
                    hint=Text("Send a new request with a new key.",
                              "Senden Sie eine neue Anfrage mit einem neuen Schlüssel."),
                    request=request) from None
    if not replayed:
        runner.schedule(job)
    headers = {"Location": _job_url(job.status.job_id), "Idempotency-Key": header_key}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
        current = await runner.store.db.call(runner.store.get, job.status.job_id)
        return _xml(to_xml((current or job).status), status=200, headers=headers)
    return _xml(to_xml(job.status), status=202, headers=headers)


async def _load_job(request: web.Request) -> JobRecord:
    try:
        job_id = uuid.UUID(request.match_info["job_id"])
    except ValueError:
        job_id = None
    runner = _runner(request)
    job = None if job_id is None else await runner.store.db.call(runner.store.get, job_id)
    if job is None or job.technician != request[TECHNICIAN]:
        raise _fail(404, "unknown-job", "There is no job with this ID for your certificate.",
                    "Zu Ihrem Zertifikat gibt es keinen Auftrag mit dieser Kennung.",
                    field="job", request=request)
    return job


async def _job_status(request: web.Request) -> web.Response:
    job = await _load_job(request)
    return _xml(to_xml(job.status))


async def _job_cancel(request: web.Request) -> web.Response:
    job = await _load_job(request)
    runner = _runner(request)
    if not await runner.cancel(job.status.job_id):
        raise _fail(409, "job-not-cancellable",
                    f"The job is {job.status.state.value}; only a queued job can be cancelled.",
                    f"Der Auftrag ist im Zustand {job.status.state.value}; nur ein wartender "
                    "Auftrag kann abgebrochen werden.", field="job", request=request)
    current = await runner.store.db.call(runner.store.get, job.status.job_id)
    return _xml(to_xml((current or job).status))


async def _job_events(request: web.Request) -> web.StreamResponse:
    job = await _load_job(request)
    runner = _runner(request)
    job_id = job.status.job_id
    cursor = _cursor(request)
    if _wants_stream(request):
        return await _job_stream(request, runner, job_id, cursor)
    wait = _query_number(request, "wait", 0.0, MAX_WAIT_S)
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        signal = runner.notifier.current(("job", job_id))
        docs = await runner.store.db.call(runner.store.events_after, job_id, cursor)
        current = await runner.store.db.call(runner.store.get, job_id)
        final = current is not None and current.status.state.final
        left = deadline - asyncio.get_running_loop().time()
        if docs or final or left <= 0 or runner.closing.is_set():
            break
        await _wait(signal, runner.closing, left)
    events = tuple(from_xml(d, expect=JobEvent) for d in docs)
    nxt = events[-1].sequence if events else cursor
    batch = JobEvents(job_id, nxt, events)
    return _xml(to_xml(batch), headers={CURSOR_HEADER: str(nxt)})


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
                await response.write(sse.format_event(_one_line(doc), event="jobEvent",
                                                      event_id=event.sequence))
                cursor = event.sequence
                if event.step is Step.FINISHED:
                    return response
            current = await runner.store.db.call(runner.store.get, job_id)
            if current is None or (current.status.state.final
                                   and cursor >= current.status.last_event):
                return response
            if not await _wait(signal, runner.closing, keepalive):
                await response.write(sse.format_comment("keep-alive"))
    except (ConnectionResetError, ConnectionError):
        pass
    return response


async def _gateway_events(request: web.Request) -> web.StreamResponse:
    runner = _runner(request)
    try:
        smgw = SmgwId.parse(request.match_info["smgw_id"], "smgw_id")
    except InvalidValue as exc:
        raise _fail(400, "bad-smgw-id", exc.message.en, exc.message.de, field="smgw_id",
                    request=request) from None
    if runner.core is None:
        raise _fail(503, "process-unavailable", "This GWA stores no gateway events.",
                    "Dieser GWA speichert keine Gateway-Ereignisse.", request=request)
    cursor = _cursor(request)
    key = ("gateway", str(smgw))

    def fetch(after: int, limit: int) -> list[tuple[int, Event]]:
        found: list[tuple[int, Event]] = []
        for stored in runner.core.events(str(smgw), since_seq=after):  # type: ignore[union-attr]
            seq, event = _stored_seq(stored), _stored_event(stored)
            if seq > after and event is not None and _stored_smgw(stored) == str(smgw):
                found.append((seq, event))
        found.sort(key=lambda item: item[0])
        return found[:limit]

    if _wants_stream(request):
        response = await _open_stream(request)
        keepalive = request.app[CONFIG]["keepalive"]
        try:
            while not runner.closing.is_set():
                signal = runner.notifier.current(key)
                for seq, event in fetch(cursor, MAX_BATCH):
                    doc = await asyncio.to_thread(to_xml, event)
                    await response.write(sse.format_event(_one_line(doc), event="event",
                                                          event_id=seq))
                    cursor = seq
                if not await _wait(signal, runner.closing, keepalive):
                    await response.write(sse.format_comment("keep-alive"))
        except (ConnectionResetError, ConnectionError):
            pass
        return response
    wait = _query_number(request, "wait", 0.0, MAX_WAIT_S)
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        signal = runner.notifier.current(key)
        found = fetch(cursor, MAX_REPORT)
        left = deadline - asyncio.get_running_loop().time()
        if found or left <= 0 or runner.closing.is_set():
            break
        await _wait(signal, runner.closing, left)
    if not found:
        return web.Response(status=204, headers={CURSOR_HEADER: str(cursor)})
    report = EventReport(tuple(event for _seq, event in found))
    body = await asyncio.to_thread(to_xml, report)
    return _xml(body, headers={CURSOR_HEADER: str(found[-1][0]),
                               CURSORS_HEADER: ",".join(str(seq) for seq, _e in found)})


# --- application ---------------------------------------------------------------------------------


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
    app = web.Application(middlewares=[_errors, _client_identity, *middlewares],
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
    app.router.add_get(f"{API_PREFIX}/status", _status)
    app.router.add_get(f"{API_PREFIX}/processes", _catalog)
    app.router.add_post(f"{API_PREFIX}/processes", _submit)
    app.router.add_get(f"{API_PREFIX}/jobs/{{job_id}}", _job_status)
    app.router.add_delete(f"{API_PREFIX}/jobs/{{job_id}}", _job_cancel)
    app.router.add_get(f"{API_PREFIX}/jobs/{{job_id}}/events", _job_events)
    app.router.add_get(f"{API_PREFIX}/gateways/{{smgw_id}}/events", _gateway_events)
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
