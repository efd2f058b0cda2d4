"""The flow engine (Ablaufsteuerung): runs GUI-free step machines, persists them, resumes them.

A :class:`Flow` is a named sequence of :class:`Step` objects with optional branches. The engine

* runs one step at a time, each in its own task (so that :meth:`Engine.cancel` stops exactly the
  step) and under its own timeout, which is paused while the technician is being asked;
* commits every transition (step started, succeeded, failed, cancelled) to the :class:`JobStore`
  and the :class:`AuditLog` *before* it goes on, so a killed process loses at most the step that
  was running;
* emits plain :mod:`~app.processes.events` to its subscribers (the UI bridge, the CLI, tests);
* turns every exception of a step into a ``StepFailed`` event: the technician's errors
  (:class:`~app.errors.SmgwctError`) with their own text and hint, anything else as a generic
  "internal error" with the traceback in the log. A step never crashes the engine.

Resuming (:meth:`Engine.resume`) replays the stored visits as ``StepSkipped`` events and continues
with the first step that did not succeed. A step declared ``idempotent=False`` (it changes the
device, e.g. sends a command that must not be sent twice) whose last attempt did not succeed is
repeated only after the technician confirms it; if they decline, the run ends as cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from app.errors import InvalidValue, SmgwctError, Text
from app.processes.events import (
    Event,
    FlowFinished,
    FlowOutcome,
    FlowStarted,
    NeedsInput,
    StepFailed,
    StepProgress,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    TraceLine,
)
from app.processes.interaction import (
    InteractionRequest,
    UserInteraction,
    Validator,
    check_value,
    choose_request,
    confirm_request,
    value_request,
)
from app.store.audit import AuditLog
from app.store.db import JobStore, RunState, StepError, StepRecord, StepState, StorageError, dumps
from app.store.run_lock import LOCK_FOLDER, RunLock

log = logging.getLogger(__name__)

ENGINE_ACTOR = "engine"


# -- flow definition ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StepOutcome:
    """What a step produced: JSON data (stored, visible to later steps) and a short summary."""

    data: Mapping[str, Any] = field(default_factory=dict)
    summary: Text | None = None


StepResult = StepOutcome | Mapping[str, Any] | None
StepFunction = Callable[["StepContext"], Awaitable[StepResult]]
BranchRule = Callable[[StepOutcome], str | None]


class FlowDefinitionError(ValueError):
    """A flow is defined wrongly (a programming error, not the technician's)."""


@dataclass(frozen=True)
class Step:
    """One named step of a flow.

    ``run`` does the work and returns a :class:`StepOutcome` or a plain dict of data.
    ``timeout`` (seconds) bounds it, not counting the time the technician takes to answer.
    ``branch`` picks the next step's name from the outcome (``None`` ends the flow); without it
    the flow goes on with the next step in order. ``idempotent=False`` marks a step that must
    not be repeated silently after a crash.
    """

    name: str
    title: Text
    run: StepFunction
    timeout: float | None = None
    branch: BranchRule | None = None
    idempotent: bool = True


@dataclass(frozen=True)
class Flow:
    """A technician flow or a micro-process: a name, a title and its steps (first step first)."""

    name: str
    title: Text
    steps: Sequence[Step]
    max_visits: int = 1000
    """Upper bound of step runs in one go, against a branch rule that loops forever."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if not self.steps:
            raise FlowDefinitionError(f"flow {self.name!r} has no steps")
        names = [s.name for s in self.steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise FlowDefinitionError(f"flow {self.name!r} repeats step names {duplicates}")

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.steps)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise FlowDefinitionError(f"flow {self.name!r} has no step {name!r}")

    def next_in_order(self, name: str) -> str | None:
        """The step after ``name`` in the list, ``None`` after the last one."""
        names = [s.name for s in self.steps]
        index = names.index(name)
        return names[index + 1] if index + 1 < len(names) else None

    def next_after(self, step: Step, outcome: StepOutcome) -> str | None:
        """The step that follows ``step`` given its ``outcome`` (``None``: the flow is done)."""
        target = self.next_in_order(step.name) if step.branch is None else step.branch(outcome)
        if target is not None and not self.has(target):
            raise FlowDefinitionError(
                f"branch of step {step.name!r} in flow {self.name!r} names unknown step {target!r}"
            )
        return target


@dataclass(frozen=True)
class RunResult:
    """How a run ended; ``results`` are the outcomes of the steps that succeeded, by name."""

    run_id: str
    flow: str
    outcome: FlowOutcome
    results: Mapping[str, StepOutcome]
    failed_step: str | None = None
    error: Text | None = None
    hint: Text | None = None
    kind: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == "succeeded"


def new_run_id() -> str:
    """A sortable, unique job id such as ``20250301-141502-3f9a1c``."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


# -- running state -----------------------------------------------------------------------------


@dataclass
class _ActiveRun:
    run_id: str
    flow: Flow
    data: Mapping[str, Any]
    results: dict[str, StepOutcome] = field(default_factory=dict)
    cancel_requested: bool = False
    interruptible: asyncio.Task[Any] | None = None
    open_step: str | None = None
    open_seq: int | None = None


@dataclass(frozen=True)
class _Success:
    outcome: StepOutcome
    next_step: str | None


def _technician_message(exc: SmgwctError, data: Mapping[str, Any]) -> Text:
    """What the technician reads about a failed step: the error's sentence; prefixed with its
    field only when that names a value of the job data they gave (``from: '…' is not a
    date``). Internal names (``job``, ``pairing``) stay out: the step title is shown already."""
    message = exc.message
    if exc.field and exc.field in data:
        return Text(f"{exc.field}: {message.en}", f"{exc.field}: {message.de}")
    return message


@dataclass(frozen=True)
class _Failure:
    message: Text
    hint: Text | None
    kind: str
    #: the field at fault, kept for the audit log (the technician sees the message only)
    field: str | None = None


class _Cancelled(Exception):
    """Internal: the run was cancelled through :meth:`Engine.cancel` or a step cancelled it."""


class StepContext:
    """What a running step sees: its run, the flow's input, earlier results, the UI and services."""

    def __init__(
        self,
        engine: Engine,
        active: _ActiveRun,
        step: Step,
    ) -> None:
        self._engine = engine
        self._active = active
        self.run_id: str = active.run_id
        self.flow: Flow = active.flow
        self.step: str = step.name
        self.results: Mapping[str, StepOutcome] = MappingProxyType(active.results)
        self.data: Mapping[str, Any] = active.data
        self.services: Any = engine.services
        self.ui: UserInteraction = _AuditedInteraction(engine, active, step.name, self)
        self._timeout: asyncio.Timeout | None = None

    def progress(self, fraction: float | None, message: Text | str) -> None:
        """Report progress (``fraction`` 0..1, ``None`` when unknown) with a short message."""
        if fraction is not None:
            fraction = None if math.isnan(fraction) else min(1.0, max(0.0, float(fraction)))
        text = message if isinstance(message, Text) else Text(message, message)
        self._engine._emit(
            StepProgress(
                step=self.step, fraction=fraction, message=text,
                run_id=self.run_id, flow=self.flow.name,
            )
        )

    def trace(self, channel: str, direction: str, text: str) -> None:
        """Add a line to the protocol trace (``direction``: ``"tx"``, ``"rx"`` or ``"info"``)."""
        self._engine._emit(
            TraceLine(
                channel=channel, direction=direction, text=text, step=self.step,
                run_id=self.run_id, flow=self.flow.name,
            )
        )

    @property
    def cancelled(self) -> bool:
        """Whether the technician asked to stop this run."""
        return self._active.cancel_requested

    def check_cancelled(self) -> None:
        """Raise ``asyncio.CancelledError`` if the run was cancelled (call it in long loops)."""
        if self._active.cancel_requested:
            raise asyncio.CancelledError()


class _AuditedInteraction:
    """The ``ui`` a step gets: emits NeedsInput, pauses the step timeout, audits each answer."""

    def __init__(
        self, engine: Engine, active: _ActiveRun, step: str, ctx: StepContext | None
    ) -> None:
        self._engine = engine
        self._active = active
        self._step = step
        self._ctx = ctx

    async def _ask(
        self,
        request: InteractionRequest,
        call: Callable[[], Awaitable[Any]],
        accept: Callable[[Any], Any],
    ) -> Any:
        """Ask, check the answer with ``accept`` and audit it, with the step timeout paused."""
        self._engine._emit(
            NeedsInput(
                step=self._step, request=request,
                run_id=self._active.run_id, flow=self._active.flow.name,
            )
        )
        timeout = self._ctx._timeout if self._ctx is not None else None
        loop = asyncio.get_running_loop()
        remaining: float | None = None
        when = timeout.when() if timeout is not None else None
        if timeout is not None and when is not None and not timeout.expired():
            remaining = max(0.0, when - loop.time())
            timeout.reschedule(None)
        try:
            answer = accept(await call())
            await self._record(request, answer)
            return answer
        finally:
            if timeout is not None and remaining is not None and not timeout.expired():
                timeout.reschedule(loop.time() + remaining)

    async def _record(self, request: InteractionRequest, answer: Any) -> None:
        payload = {
            "run_id": self._active.run_id,
            "flow": self._active.flow.name,
            "step": self._step,
            "kind": request.kind,
            "prompt": request.prompt.en,
            "answer": None if request.secret else answer,
            "secret": request.secret,
        }
        await self._engine._audit_write(self._engine.actor, "answer", payload)

    async def confirm(self, prompt: Text, detail: Text | None = None) -> bool:
        def accept(answer: Any) -> bool:
            if not isinstance(answer, bool):
                raise InvalidValue(
                    Text(f"The answer to “{prompt.en}” is not yes or no.",
                         f"Die Antwort auf „{prompt.de}“ ist weder ja noch nein."))
            return answer

        return await self._ask(
            confirm_request(prompt, detail),
            lambda: self._engine.interaction.confirm(prompt, detail),
            accept,
        )

    async def choose(self, prompt: Text, options: list[tuple[str, Text]]) -> str:
        request = choose_request(prompt, options)

        def accept(answer: Any) -> str:
            if answer not in request.option_keys():
                raise InvalidValue(
                    Text(f"The answer to “{prompt.en}” is not one of the offered choices.",
                         f"Die Antwort auf „{prompt.de}“ ist keine der angebotenen "
                         "Möglichkeiten."))
            return str(answer)

        return await self._ask(
            request, lambda: self._engine.interaction.choose(prompt, list(options)), accept
        )

    async def enter_value(
        self,
        prompt: Text,
        *,
        validator: Validator | None = None,
        default: str | None = None,
        secret: bool = False,
    ) -> str:
        def accept(answer: Any) -> str:
            if not isinstance(answer, str):
                raise InvalidValue(
                    Text(f"The answer to “{prompt.en}” is not text.",
                         f"Die Antwort auf „{prompt.de}“ ist kein Text."))
            reason = check_value(answer, validator)  # the contract says it passed; make sure
            if reason is not None:
                raise InvalidValue(reason)
            return answer

        return await self._ask(
            value_request(prompt, default=default, secret=secret),
            lambda: self._engine.interaction.enter_value(
                prompt, validator=validator, default=default, secret=secret
            ),
            accept,
        )


# -- event streams -----------------------------------------------------------------------------


class EventStream:
    """Async iterator over the engine's events (all runs, or one run until it finishes)."""

    def __init__(self, engine: Engine, run_id: str | None = None) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._run_id = run_id
        self._closed = False
        self._unsubscribe = engine.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if self._closed or (self._run_id is not None and event.run_id != self._run_id):
            return
        self._queue.put_nowait(event)
        if self._run_id is not None and isinstance(event, FlowFinished):
            self.close()

    def close(self) -> None:
        """Stop receiving; iteration ends after the events already queued."""
        if not self._closed:
            self._closed = True
            self._unsubscribe()
            self._queue.put_nowait(None)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


# -- the engine --------------------------------------------------------------------------------


class Engine:
    """Runs flows, persists every transition, emits events, resumes after a crash."""

    def __init__(
        self,
        store: JobStore,
        audit: AuditLog,
        interaction: UserInteraction,
        services: Any = None,
        *,
        actor: str = "technician",
    ) -> None:
        self.store = store
        self.audit = audit
        self.interaction = interaction
        self.services = services
        self.actor = actor
        """Who answers questions, as written to the audit log (e.g. the technician's name)."""
        self._subscribers: list[Callable[[Event], None]] = []
        self._active: dict[str, _ActiveRun] = {}

    # -- events ---------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback`` with every event (in order, on the loop); returns an unsubscriber."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def events(self, run_id: str | None = None) -> EventStream:
        """An async iterator of events; with ``run_id`` it ends after that run's FlowFinished."""
        return EventStream(self, run_id)

    def _emit(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", callback, event.type)

    # -- control --------------------------------------------------------------------------

    def is_running(self, run_id: str) -> bool:
        return run_id in self._active

    def cancel(self, run_id: str) -> bool:
        """Ask a running run to stop; ``False`` when it is not running in this engine."""
        active = self._active.get(run_id)
        if active is None:
            return False
        active.cancel_requested = True
        task = active.interruptible
        if task is not None and not task.done():
            task.cancel()
        log.info("run %s: cancel requested", run_id)
        return True

    async def run(
        self, flow: Flow, data: Mapping[str, Any] | None = None, run_id: str | None = None
    ) -> RunResult:
        """Start ``flow`` with ``data`` (JSON-serialisable job parameters) as a new run."""
        payload = dict(data or {})
        try:
            payload = json.loads(dumps(payload))
        except (TypeError, ValueError) as exc:
            raise InvalidValue(
                Text(f"The job data cannot be stored: {exc}",
                     f"Die Auftragsdaten können nicht gespeichert werden: {exc}"),
                field="data",
            ) from exc
        run_id = run_id or new_run_id()
        active = self._claim(run_id, flow, payload)
        try:
            with self._lock(run_id):
                await self._db(self.store.create_run, run_id, flow.name, payload)
                return await self._drive(active, flow.steps[0].name, resumed=False)
        finally:
            self._active.pop(run_id, None)

    async def resume(self, run_id: str, flow: Flow) -> RunResult:
        """Continue a stored run that failed, was cancelled or was interrupted by a crash."""
        record = await self._db(self.store.get_run, run_id)
        if record is None:
            raise SmgwctError(
                Text(f"No job with the id {run_id} is stored.",
                     f"Es ist kein Auftrag mit der Kennung {run_id} gespeichert."),
                field="run_id",
                hint=Text("Choose a job from the list of stored jobs.",
                          "Wählen Sie einen Auftrag aus der Liste der gespeicherten Aufträge."),
            )
        if record.flow != flow.name:
            raise SmgwctError(
                Text(f"Job {run_id} belongs to the flow {record.flow}, not {flow.name}.",
                     f"Auftrag {run_id} gehört zum Ablauf {record.flow}, nicht {flow.name}."),
                field="run_id",
            )
        if record.state == RunState.SUCCEEDED:
            raise SmgwctError(
                Text(f"Job {run_id} has already finished successfully.",
                     f"Auftrag {run_id} ist bereits erfolgreich abgeschlossen."),
                field="run_id",
                hint=Text("Start a new job to run the flow again.",
                          "Starten Sie einen neuen Auftrag, um den Ablauf erneut auszuführen."),
            )
        visits = await self._db(self.store.steps, run_id)
        named = {v.step for v in visits} | {v.next_step for v in visits if v.next_step}
        unknown = sorted(n for n in named if not flow.has(n))
        if unknown:
            raise SmgwctError(
                Text(f"Job {run_id} contains steps this program version does not know: "
                     f"{', '.join(unknown)}.",
                     f"Auftrag {run_id} enthält Schritte, die diese Programmversion nicht kennt: "
                     f"{', '.join(unknown)}."),
                field="run_id",
                hint=Text("Resume it with the program version that started it.",
                          "Setzen Sie ihn mit der Programmversion fort, die ihn begonnen hat."),
            )
        start, repeat = _resume_point(flow, visits)
        active = self._claim(run_id, flow, record.data)
        try:
            with self._lock(run_id):  # not while another window or command drives it
                return await self._drive(
                    active, start, resumed=True, replay=visits, repeat=repeat,
                    previous_state=record.state,
                )
        finally:
            self._active.pop(run_id, None)

    @property
    def lock_folder(self) -> Path:
        """Where the run locks of this engine's job database live (:mod:`app.store.run_lock`)."""
        return Path(self.store.path).parent / LOCK_FOLDER

    def _lock(self, run_id: str) -> RunLock:
        return RunLock(self.lock_folder, run_id)

    def _claim(self, run_id: str, flow: Flow, data: Mapping[str, Any]) -> _ActiveRun:
        if run_id in self._active:
            raise SmgwctError(
                Text(f"Job {run_id} is already running.", f"Auftrag {run_id} läuft bereits."),
                field="run_id",
            )
        active = _ActiveRun(run_id=run_id, flow=flow, data=MappingProxyType(dict(data)))
        self._active[run_id] = active
        return active

    # -- persistence helpers ----------------------------------------------------------------

    async def _db(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return await self.store.db.call(fn, *args, **kwargs)

    async def _audit_write(self, actor: str, action: str, payload: Mapping[str, Any]) -> None:
        await self.audit.db.call(self.audit.append, actor, action, payload)

    def _ids(self, active: _ActiveRun) -> dict[str, str]:
        return {"run_id": active.run_id, "flow": active.flow.name}

    # -- the run loop -----------------------------------------------------------------------

    async def _drive(
        self,
        active: _ActiveRun,
        start: str | None,
        *,
        resumed: bool,
        replay: Sequence[StepRecord] = (),
        repeat: StepRecord | None = None,
        previous_state: RunState | None = None,
    ) -> RunResult:
        flow = active.flow
        ids = self._ids(active)
        try:
            if resumed:
                await self._audit_write(ENGINE_ACTOR, "flow.resumed", {
                    **ids, "previous_state": str(previous_state), "visits": len(replay),
                })
            else:
                await self._audit_write(ENGINE_ACTOR, "flow.started",
                                        {**ids, "data": dict(active.data)})
            self._emit(FlowStarted(title=flow.title, resumed=resumed, **ids))
            await self._replay(active, replay)
            if repeat is not None:
                try:
                    again = await self._confirm_repeat(active, repeat)
                except SmgwctError as exc:  # e.g. no prepared answer: do not guess
                    failure = _Failure(exc.message, exc.hint, getattr(exc, "kind", "error"))
                    return await self._end_failed(active, flow.step(repeat.step), None, failure)
                if not again:
                    return await self._end_declined(active, repeat)

            name = start
            visits = 0
            while name is not None:
                if active.cancel_requested:
                    raise _Cancelled()
                visits += 1
                step = flow.step(name)
                if visits > flow.max_visits:
                    log.error("run %s: flow %s exceeded %d step runs", active.run_id, flow.name,
                              flow.max_visits)
                    return await self._end_failed(active, step, None, _internal_failure(step))
                seq = await self._db(self.store.start_step, active.run_id, name)
                active.open_step, active.open_seq = name, seq
                await self._audit_write(ENGINE_ACTOR, "step.started",
                                        {**ids, "step": name, "visit": seq})
                log.info("run %s: step %s started", active.run_id, name)
                self._emit(StepStarted(step=name, title=step.title, **ids))

                result = await self._run_step(active, step)
                if isinstance(result, _Failure):
                    return await self._end_failed(active, step, seq, result)
                outcome = result.outcome
                last = result.next_step is None
                await self._db(
                    self.store.finish_step, active.run_id, seq, StepState.SUCCEEDED,
                    data=outcome.data, summary=outcome.summary, next_step=result.next_step,
                    run_state=RunState.SUCCEEDED if last else None,
                )
                active.open_step = active.open_seq = None
                active.results[name] = outcome
                await self._audit_write(ENGINE_ACTOR, "step.succeeded", {
                    **ids, "step": name, "visit": seq, "data": outcome.data,
                    "summary": None if outcome.summary is None else outcome.summary.en,
                    "next_step": result.next_step,
                })
                log.info("run %s: step %s succeeded", active.run_id, name)
                self._emit(StepSucceeded(step=name, summary=outcome.summary, data=outcome.data,
                                         **ids))
                name = result.next_step

            if start is None:  # resumed after the last step had already been stored
                await self._db(self.store.set_run_state, active.run_id, RunState.SUCCEEDED)
            await self._audit_write(ENGINE_ACTOR, "flow.finished", {**ids, "outcome": "succeeded"})
            self._emit(FlowFinished(outcome="succeeded", **ids))
            return RunResult(active.run_id, flow.name, "succeeded", dict(active.results))
        except _Cancelled:
            return await self._end_cancelled(active)
        except asyncio.CancelledError:
            # Cancelled from outside (the caller's task): record it, then let it propagate.
            with contextlib.suppress(Exception):
                await self._end_cancelled(active)
            raise
        except StorageError as exc:
            return self._end_storage(active, exc)

    async def _replay(self, active: _ActiveRun, replay: Sequence[StepRecord]) -> None:
        ids = self._ids(active)
        for visit in replay:
            if visit.state == StepState.SUCCEEDED:
                outcome = StepOutcome(data=visit.data or {}, summary=visit.summary)
                active.results[visit.step] = outcome
                self._emit(StepSkipped(step=visit.step, summary=visit.summary,
                                       data=outcome.data, **ids))
        if replay and replay[-1].state == StepState.STARTED:
            last = replay[-1]
            await self._db(self.store.mark_interrupted, active.run_id, last.seq)
            await self._audit_write(ENGINE_ACTOR, "step.interrupted",
                                    {**ids, "step": last.step, "visit": last.seq})
            log.warning("run %s: step %s had been interrupted", active.run_id, last.step)

    async def _interruptibly(self, active: _ActiveRun, coro: Awaitable[Any]) -> Any:
        """Await ``coro`` in a task that :meth:`cancel` can stop."""
        task = asyncio.ensure_future(coro)
        active.interruptible = task
        try:
            return await task
        except asyncio.CancelledError:
            task.cancel()
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # Our own task is being cancelled: let the step clean up, then propagate.
                with contextlib.suppress(BaseException):
                    await asyncio.wait({task})
                raise
            raise _Cancelled() from None
        finally:
            active.interruptible = None

    async def _run_step(self, active: _ActiveRun, step: Step) -> _Success | _Failure:
        ctx = StepContext(self, active, step)
        return await self._interruptibly(active, self._step_body(active, step, ctx))

    async def _step_body(
        self, active: _ActiveRun, step: Step, ctx: StepContext
    ) -> _Success | _Failure:
        timer: asyncio.Timeout | None = None
        try:
            async with asyncio.timeout(step.timeout) as timer:
                ctx._timeout = timer
                raw = await step.run(ctx)
            ctx._timeout = None
            outcome = _as_outcome(raw)
            return _Success(outcome, active.flow.next_after(step, outcome))
        except TimeoutError:
            if timer is not None and timer.expired() and step.timeout is not None:
                message = Text(
                    f"The step “{step.title.en}” did not finish within {step.timeout:g} s.",
                    f"Der Schritt „{step.title.de}“ wurde nicht innerhalb von "
                    f"{step.timeout:g} s abgeschlossen.",
                )
            else:
                message = Text(
                    f"An operation of the step “{step.title.en}” timed out.",
                    f"Ein Vorgang im Schritt „{step.title.de}“ hat zu lange gedauert.",
                )
            return _Failure(message, _TIMEOUT_HINT, "timeout")
        except SmgwctError as exc:
            kind = getattr(exc, "kind", None)
            return _Failure(_technician_message(exc, active.data), exc.hint,
                            kind if isinstance(kind, str) and kind else "error", exc.field)
        except Exception:
            log.exception("run %s: step %s raised an unexpected error", active.run_id, step.name)
            return _internal_failure(step)

    async def _confirm_repeat(self, active: _ActiveRun, visit: StepRecord) -> bool:
        step = active.flow.step(visit.step)
        if visit.state in (StepState.STARTED, StepState.INTERRUPTED):
            prompt = Text(
                f"The step “{step.title.en}” was interrupted before it finished; whether it "
                "took effect on the device is unknown. Run it again?",
                f"Der Schritt „{step.title.de}“ wurde vor seinem Ende unterbrochen; ob er am "
                "Gerät gewirkt hat, ist unbekannt. Erneut ausführen?",
            )
        else:
            prompt = Text(
                f"The step “{step.title.en}” did not succeed last time. Run it again?",
                f"Der Schritt „{step.title.de}“ war beim letzten Mal nicht erfolgreich. "
                "Erneut ausführen?",
            )
        detail = Text(
            "Running it again may repeat an action on the device (for example send a command a "
            "second time). Answer no to stop here and check the device first.",
            "Eine Wiederholung kann eine Aktion am Gerät wiederholen (zum Beispiel einen Befehl "
            "ein zweites Mal senden). Antworten Sie mit Nein, um hier anzuhalten und zuerst das "
            "Gerät zu prüfen.",
        )
        ui = _AuditedInteraction(self, active, step.name, None)
        answer = await self._interruptibly(active, ui.confirm(prompt, detail))
        await self._audit_write(ENGINE_ACTOR, "step.repeat_confirmed" if answer else
                                "step.repeat_declined", {**self._ids(active), "step": step.name})
        return bool(answer)

    # -- endings --------------------------------------------------------------------------------

    async def _end_failed(
        self, active: _ActiveRun, step: Step, seq: int | None, failure: _Failure
    ) -> RunResult:
        ids = self._ids(active)
        error = StepError(failure.message, failure.hint, failure.kind)
        if seq is not None:
            await self._db(self.store.finish_step, active.run_id, seq, StepState.FAILED,
                           error=error, run_state=RunState.FAILED)
        else:
            await self._db(self.store.set_run_state, active.run_id, RunState.FAILED)
        active.open_step = active.open_seq = None
        await self._audit_write(ENGINE_ACTOR, "step.failed", {
            **ids, "step": step.name, "visit": seq, "kind": failure.kind,
            "error": failure.message.en,
            **({"field": failure.field} if failure.field else {}),
        })
        log.info("run %s: step %s failed (%s): %s", active.run_id, step.name, failure.kind,
                 failure.message.en)
        self._emit(StepFailed(step=step.name, error=failure.message, hint=failure.hint,
                              kind=failure.kind, **ids))
        await self._audit_write(ENGINE_ACTOR, "flow.finished", {**ids, "outcome": "failed"})
        self._emit(FlowFinished(outcome="failed", **ids))
        return RunResult(active.run_id, active.flow.name, "failed", dict(active.results),
                         failed_step=step.name, error=failure.message, hint=failure.hint,
                         kind=failure.kind)

    async def _end_cancelled(self, active: _ActiveRun) -> RunResult:
        ids = self._ids(active)
        step, seq = active.open_step, active.open_seq
        active.open_step = active.open_seq = None
        await self._db(self.store.cancel_run, active.run_id, seq)
        await self._audit_write(ENGINE_ACTOR, "flow.finished",
                                {**ids, "outcome": "cancelled", "step": step})
        log.info("run %s: cancelled (in step %s)", active.run_id, step)
        self._emit(FlowFinished(outcome="cancelled", **ids))
        return RunResult(active.run_id, active.flow.name, "cancelled", dict(active.results),
                         failed_step=step, kind="cancelled")

    async def _end_declined(self, active: _ActiveRun, visit: StepRecord) -> RunResult:
        ids = self._ids(active)
        step = active.flow.step(visit.step)
        message = Text(
            f"The step “{step.title.en}” was not run again.",
            f"Der Schritt „{step.title.de}“ wurde nicht erneut ausgeführt.",
        )
        hint = Text(
            "Check the state of the device; resume the job to be asked again.",
            "Prüfen Sie den Zustand des Geräts; beim Fortsetzen des Auftrags wird erneut gefragt.",
        )
        await self._db(self.store.set_run_state, active.run_id, RunState.CANCELLED)
        self._emit(StepFailed(step=step.name, error=message, hint=hint, kind="interrupted", **ids))
        await self._audit_write(ENGINE_ACTOR, "flow.finished",
                                {**ids, "outcome": "cancelled", "step": step.name})
        self._emit(FlowFinished(outcome="cancelled", **ids))
        return RunResult(active.run_id, active.flow.name, "cancelled", dict(active.results),
                         failed_step=step.name, error=message, hint=hint, kind="interrupted")

    def _end_storage(self, active: _ActiveRun, exc: StorageError) -> RunResult:
        """The job database or audit log cannot be written: stop, and say so."""
        ids = self._ids(active)
        log.error("run %s: storage failed: %s", active.run_id, exc)
        step = active.open_step or active.flow.steps[0].name
        self._emit(StepFailed(step=step, error=exc.message, hint=exc.hint, kind="storage", **ids))
        self._emit(FlowFinished(outcome="failed", **ids))
        return RunResult(active.run_id, active.flow.name, "failed", dict(active.results),
                         failed_step=step, error=exc.message, hint=exc.hint, kind="storage")


_TIMEOUT_HINT = Text(
    "Check the connection to the device, then resume the job to try again.",
    "Prüfen Sie die Verbindung zum Gerät und setzen Sie dann den Auftrag fort.",
)


def _internal_failure(step: Step) -> _Failure:
    return _Failure(
        Text(
            f"An internal error stopped the step “{step.title.en}”. The details are in the log "
            "file.",
            f"Ein interner Fehler hat den Schritt „{step.title.de}“ abgebrochen. Die Einzelheiten "
            "stehen in der Protokolldatei.",
        ),
        Text(
            "Resume the job to try again; if it happens again, send the log file to support.",
            "Setzen Sie den Auftrag fort, um es erneut zu versuchen; tritt der Fehler wieder auf, "
            "senden Sie die Protokolldatei an den Support.",
        ),
        "internal",
    )


def _as_outcome(raw: StepResult) -> StepOutcome:
    """Normalise a step's return value; its data goes through JSON exactly as it is stored."""
    if raw is None:
        raw = StepOutcome()
    elif isinstance(raw, Mapping):
        raw = StepOutcome(data=raw)
    elif not isinstance(raw, StepOutcome):
        raise TypeError(f"a step returned {type(raw).__name__}, not StepOutcome or dict")
    if raw.summary is not None and not isinstance(raw.summary, Text):
        raise TypeError("StepOutcome.summary must be a Text")
    data = json.loads(dumps(dict(raw.data)))  # TypeError/ValueError if not JSON
    return StepOutcome(data=data, summary=raw.summary)


def _resume_point(flow: Flow, visits: Sequence[StepRecord]) -> tuple[str | None, StepRecord | None]:
    """Where a resumed run continues, and the visit to confirm before repeating (if any)."""
    if not visits:
        return flow.steps[0].name, None
    last = visits[-1]
    if last.state == StepState.SUCCEEDED:
        return last.next_step, None
    step = flow.step(last.step)
    return last.step, (None if step.idempotent else last)


__all__ = [
    "BranchRule",
    "Engine",
    "EventStream",
    "Flow",
    "FlowDefinitionError",
    "RunResult",
    "Step",
    "StepContext",
    "StepFunction",
    "StepOutcome",
    "StepResult",
    "new_run_id",
]
