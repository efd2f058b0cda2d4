"""Running the technician API's jobs on the GWA core, one at a time per gateway, and
waking the long-polls and event streams that wait for a change."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from app.errors import InvalidValue, SmgwctError
from app.protocols.admin import (
    Event,
    FailureReason,
    JobFailure,
    JobState,
    ProcessRequest,
    Response,
    Step,
    from_xml,
)
from app.sim.gwa.technician_core import (
    GwaCore,
    outcome_of,
    progress_fields,
    stored_event,
    stored_smgw,
)
from app.sim.gwa.technician_jobs import JobRecord, TechnicianJobs, text_detail
from app.transports.gwa import processes as names

log = logging.getLogger(__name__)


class Notifier:
    """Wakes waiting long-polls and streams when something changes under a key."""

    def __init__(self) -> None:
        self._events: dict[Any, asyncio.Event] = {}

    def current(self, key: Any) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def notify(self, key: Any) -> None:
        event = self._events.pop(key, None)
        if event is not None:
            event.set()


async def wait_for_change(signal: asyncio.Event, closing: asyncio.Event, timeout: float) -> bool:
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


class JobRunner:
    """Carries out stored jobs on the GWA core, one at a time per gateway."""

    def __init__(self, store: TechnicianJobs, core: GwaCore | None, *, job_timeout: float,
                 catalog: Mapping[str, Any] | None) -> None:
        self.store = store
        self.core = core
        self.catalog = catalog
        self.job_timeout = job_timeout
        self.notifier = Notifier()
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
                    JobFailure(FailureReason.GWA_ERROR, text_detail(exc.message.en)), None)
                self._changed(job_id)
                return
            if not await self.store.db.call(self.store.start, job_id):
                return  # cancelled while it waited
            self._running[job_id] = smgw
            self._changed(job_id)

            def progress(update: Any) -> Awaitable[None]:
                step, detail, event = progress_fields(update)
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
                                                     text_detail(exc.message.en)), None
        except Exception as exc:  # the back end failed; the job must still end cleanly
            log.exception("process %s failed in the GWA core", process)
            return JobState.FAILED, None, JobFailure(FailureReason.GWA_ERROR,
                                                     text_detail(type(exc).__name__)), None
        return outcome_of(result, request)

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
        smgw = stored_smgw(stored)
        self.notifier.notify(("gateway", smgw))
        event = stored_event(stored)
        if event is None:
            return
        for job_id, job_smgw in list(self._running.items()):
            seen = self._relayed.setdefault(job_id, set())
            if job_smgw == smgw and event.id not in seen:
                seen.add(event.id)
                task = asyncio.ensure_future(self._append(job_id, Step.SMGW_EVENT, None, event))
                self._relay_tasks.add(task)
                task.add_done_callback(self._relay_tasks.discard)
