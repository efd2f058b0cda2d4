"""Shared parts of the flows that act through the GWA (GWA-Anbindung, ARCHITECTURE.md §3.2).

A step opens :func:`gwa_session` and runs one or more processes of the GWA's technician API
(``device_info``, ``pairing``, ``communication_profile.update`` …) through
:meth:`GwaSession.run`. The session

* follows each job's progress events and forwards them as the step's live status
  (``ctx.progress``) and protocol trace (``ctx.trace`` on channel ``gwa``), and collects them
  into a **timeline** (:class:`GwaRun.timeline`, plain JSON for step data, views and reports);
* makes a crash harmless: the idempotency key of every request is **stored before the request
  is sent** (:class:`RequestLedger`, ``flow-gwa-requests.sqlite3`` in the data folder, keyed by
  run, step, attempt and purpose). A step resumed after a crash or a cancel sends the same
  request with the same key, and the GWA answers with the job that already exists (running or
  finished) instead of running the process again. Only when a step ended with an error does its
  next visit (the technician's retry) get new keys;
* waits for an unreachable GWA: it retries with a visible countdown (``gwa_retry_seconds``,
  default 10 s) for ``gwa_wait_seconds`` (default 300 s), then asks the technician whether to
  keep waiting, to queue the request offline (never a pairing: it carries key M) or to stop
  (``gwa_offline`` in the job data answers in advance: ``ask``, ``wait``, ``queue``, ``stop``).
  Cancelling the run stops the wait at once;
* turns a failed job into a :class:`GwaStepError` that says what the gateway or the GWA
  answered, the likely cause and the next action; flows refine it for their processes
  (e.g. FE 09 in the pairing flow).

The steps of one run share one :class:`~app.transports.gwa.GwaLink` (:class:`RunLinks`): its
connection pool carries the run's requests, so the GWA is not greeted with a new TLS handshake
per step. The link is closed when the run has not used it for ``LINK_IDLE_SECONDS`` (or by
:func:`close_run_links`, e.g. when a command ends).

Options for tests and embedding apps: ``AppContext.extras["gwa_link_options"]`` (keyword
arguments of :class:`~app.transports.gwa.GwaLink`) and ``AppContext.extras["gwa_offline_defaults"]``
(defaults for the waiting options above, e.g. ``{"gwa_retry_seconds": 2}`` in a demo whose GWA
is down for a while; the job data wins).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from app.context import AppContext
from app.domain import SmgwId
from app.errors import ConfigurationError, InvalidValue, SmgwctError, Text
from app.processes.engine import StepContext
from app.processes.flows.wording import job_state
from app.protocols.admin import JobEvent, JobState, Reason, Response
from app.protocols.admin.catalog import EVENT_TYPES
from app.protocols.admin.gwa_link import FAILURE_TEXTS, FailureReason
from app.store.db import Database, Migration, utc_text
from app.transports.gwa import GwaLink, GwaLinkError, GwaStatus, JobResult, ProcessInfo, Queued
from app.transports.gwa.processes import SECRET_PARAMS

log = logging.getLogger(__name__)

T = TypeVar("T")

LEDGER_FILE = "flow-gwa-requests.sqlite3"
QUEUE_FILE = "gwa-queue.sqlite"
#: Key of optional :class:`GwaLink` keyword arguments in ``AppContext.extras``.
LINK_OPTIONS_EXTRA = "gwa_link_options"
#: Key of defaults for the waiting options (``gwa_retry_seconds`` …) in ``AppContext.extras``.
OFFLINE_DEFAULTS_EXTRA = "gwa_offline_defaults"
#: Key of the links the runs in progress share (:class:`RunLinks`) in ``AppContext.extras``.
RUN_LINKS_EXTRA = "gwa_run_links"
#: A run's shared link is closed when no step has used it for this long (seconds).
LINK_IDLE_SECONDS = 10.0

DEFAULT_RETRY_SECONDS = 10.0
DEFAULT_WAIT_SECONDS = 300.0
OFFLINE_CHOICES = ("ask", "wait", "queue", "stop")
#: the job data's waiting options (defaults: ``AppContext.extras["gwa_offline_defaults"]``)
OFFLINE_OPTIONS = ("gwa_retry_seconds", "gwa_wait_seconds", "gwa_offline")

#: How far a job is when it reports a step (for the progress bar within one process).
STEP_FRACTION = {
    "accepted": 0.05, "wake-up-sent": 0.2, "session-started": 0.35, "request-sent": 0.5,
    "smgw-event": 0.7, "result-received": 0.85, "session-ended": 0.95, "finished": 1.0,
}

_STEP_TEXT = {
    "accepted": Text("The GWA accepted the request", "Der GWA hat die Anfrage angenommen"),
    "wake-up-sent": Text("The GWA sent a wake-up packet to the gateway",
                         "Der GWA hat ein Wake-Up-Paket an das Gateway gesendet"),
    "session-started": Text("The gateway opened the MANAGEMENT channel",
                            "Das Gateway hat den MANAGEMENT-Kanal geöffnet"),
    "request-sent": Text("Request sent to the gateway", "Anfrage an das Gateway gesendet"),
    "result-received": Text("The gateway answered", "Das Gateway hat geantwortet"),
    "session-ended": Text("MANAGEMENT session ended", "MANAGEMENT-Sitzung beendet"),
    "smgw-event": Text("Gateway event", "Ereignis des Gateways"),
    "finished": Text("The GWA finished the job", "Der GWA hat den Auftrag abgeschlossen"),
}

#: Likely cause and next action for gateway answers that flows commonly meet.
REASON_HINTS: dict[Reason, Text] = {
    Reason.METER_UNREACHABLE: Text(
        "The meter does not answer on the LMN: check that it has power, the LMN cable (or the "
        "radio link) and its HDLC address, then run the step again.",
        "Der Zähler antwortet im LMN nicht: prüfen Sie seine Spannungsversorgung, das LMN-Kabel "
        "(bzw. die Funkverbindung) und seine HDLC-Adresse und führen Sie den Schritt erneut "
        "aus."),
    Reason.UNKNOWN_METER: Text(
        "The gateway has no meter profile for this meter: the GWA must create it first (meter "
        "change or installation). Check the server ID on the work order.",
        "Das Gateway hat kein Zählerprofil für diesen Zähler: der GWA muss es zuerst anlegen "
        "(Zählerwechsel oder Installation). Prüfen Sie die Server-ID im Auftrag."),
    Reason.UNKNOWN_PROFILE: Text(
        "The gateway does not have this profile: check the profile ID, or ask the GWA operator "
        "to install it.",
        "Das Gateway hat dieses Profil nicht: prüfen Sie die Profil-ID oder bitten Sie den "
        "GWA-Betreiber, es einzuspielen."),
    Reason.TIME_SOURCE_UNREACHABLE: Text(
        "The gateway cannot reach the GWA's time server: check the gateway's WAN connection; "
        "then run the step again.",
        "Das Gateway erreicht den Zeitserver des GWA nicht: prüfen Sie die WAN-Verbindung des "
        "Gateways und führen Sie den Schritt erneut aus."),
    Reason.BUSY: Text("The gateway is busy; run the step again in a minute.",
                      "Das Gateway ist beschäftigt; führen Sie den Schritt in einer Minute "
                      "erneut aus."),
    Reason.NOT_PERMITTED: Text(
        "The gateway refused the GWA's request: the GWA operator has to check its rights.",
        "Das Gateway hat die Anfrage des GWA abgelehnt: der GWA-Betreiber muss seine Rechte "
        "prüfen."),
    Reason.REVISION_CONFLICT: Text(
        "The profile changed meanwhile (another process of the GWA?): run the step again; it "
        "reads the profile anew.",
        "Das Profil wurde inzwischen geändert (ein anderer Vorgang des GWA?): führen Sie den "
        "Schritt erneut aus; er liest das Profil neu."),
}

FAILURE_HINTS: dict[FailureReason, Text] = {
    FailureReason.WAKE_UP_UNANSWERED: Text(
        "The gateway did not answer the GWA's wake-up packets: check its WAN connection (mobile "
        "signal, DSL/fibre cable, LEDs), then run the step again. Nothing was changed.",
        "Das Gateway hat auf die Wake-Up-Pakete des GWA nicht reagiert: prüfen Sie seine "
        "WAN-Verbindung (Mobilfunkempfang, DSL-/Glasfaserkabel, LEDs) und führen Sie den Schritt "
        "erneut aus. Es wurde nichts geändert."),
    FailureReason.SESSION_DROPPED: Text(
        "The gateway's connection to the GWA dropped repeatedly: check the WAN connection, then "
        "run the step again (nothing is applied twice).",
        "Die Verbindung des Gateways zum GWA ist wiederholt abgebrochen: prüfen Sie die "
        "WAN-Verbindung und führen Sie den Schritt erneut aus (nichts wird doppelt ausgeführt)."),
    FailureReason.UNKNOWN_GATEWAY: Text(
        "The GWA does not administer this gateway: check the SMGW ID on the work order and the "
        "GWA tenant; call the GWA operator if both are right.",
        "Der GWA administriert dieses Gateway nicht: prüfen Sie die SMGW-ID im Auftrag und den "
        "GWA-Mandanten; rufen Sie den GWA-Betreiber an, wenn beides stimmt."),
    FailureReason.TIMEOUT: Text(
        "The GWA gave up waiting for the gateway: check the gateway's WAN connection, then run "
        "the step again.",
        "Der GWA hat das Warten auf das Gateway aufgegeben: prüfen Sie die WAN-Verbindung des "
        "Gateways und führen Sie den Schritt erneut aus."),
    FailureReason.GWA_ERROR: Text(
        "The GWA failed internally: run the step again later or call the GWA operator.",
        "Im GWA ist ein Fehler aufgetreten: führen Sie den Schritt später erneut aus oder rufen "
        "Sie den GWA-Betreiber an."),
}


# -- errors -------------------------------------------------------------------------------------


class GwaStepError(SmgwctError):
    """A GWA job ended without success; ``run`` holds what is known of it."""

    kind = "gwa"

    def __init__(self, message: Text, *, hint: Text | None, run: GwaRun | None = None,
                 field: str | None = None) -> None:
        super().__init__(message, hint=hint, field=field)
        self.run = run

    @property
    def reason(self) -> Reason | None:
        """The gateway's reason, if it answered."""
        response = self.run.response if self.run is not None else None
        return None if response is None else response.reason


class GwaUnreachable(SmgwctError):
    """The GWA stayed unreachable and the technician stopped waiting."""

    kind = "offline"


class GwaQueuedError(SmgwctError):
    """The request waits in the offline queue; the step can go on once it was sent."""

    kind = "queued"


# -- results ------------------------------------------------------------------------------------


def _text(t: Text | None) -> dict[str, str] | None:
    return None if t is None else {"en": t.en, "de": t.de}


def _subject(event: Any) -> str | None:
    subject = getattr(event, "subject", None)
    for attr in ("server_id", "ref", "profile_id", "interface", "fingerprint"):
        value = getattr(subject, attr, None)
        if value is None:
            continue
        if attr == "server_id":
            return str(value.display)
        if attr == "ref":
            return str(value.id.text)
        return str(getattr(value, "text", value))
    kind = getattr(subject, "kind", None)
    return None if kind is None else str(getattr(kind, "value", kind))


def event_entry(event: Any) -> dict[str, Any]:
    """A gateway event (spec 4.2.6) as plain JSON: code, name, title, severity, subject."""
    known = EVENT_TYPES.get(event.code)
    return {
        "id": str(event.id), "code": event.code,
        "name": known.name if known is not None else None,
        "title": _text(event.title), "severity": str(event.severity.value),
        "time": event.time.isoformat(), "subject": _subject(event),
        "details": {d.name: d.value for d in event.details},
    }


def timeline_entry(process: str, purpose: str, event: JobEvent) -> dict[str, Any]:
    """One line of the timeline: a progress event of a GWA job."""
    return {
        "time": event.time.isoformat(), "process": process, "purpose": purpose,
        "job_id": str(event.job_id), "sequence": event.sequence,
        "state": str(JobState(event.state).value), "step": str(event.step.value),
        "detail": event.detail,
        "event": None if event.event is None else event_entry(event.event),
    }


def describe_timeline_entry(entry: Mapping[str, Any]) -> Text:
    """The technician's sentence for a timeline entry."""
    base = _STEP_TEXT.get(str(entry.get("step")), Text(str(entry.get("step")),
                                                       str(entry.get("step"))))
    event = entry.get("event")
    if event:
        title = event.get("title") or {}
        subject = f" ({event['subject']})" if event.get("subject") else ""
        return Text(f"{base.en} {event['code']}: {title.get('en', '')}{subject}",
                    f"{base.de} {event['code']}: {title.get('de', '')}{subject}")
    detail = entry.get("detail")
    if detail:
        return Text(f"{base.en}: {detail}", f"{base.de}: {detail}")
    return base


@dataclass(frozen=True)
class GwaRun:
    """One GWA process as a step ran it: its job, key, whether the GWA replayed it, timeline."""

    process: str
    purpose: str
    key: uuid.UUID
    job: JobResult
    reused_key: bool
    timeline: tuple[dict[str, Any], ...] = ()

    @property
    def ok(self) -> bool:
        return self.job.ok

    @property
    def response(self) -> Response | None:
        return self.job.status.response

    @property
    def result(self) -> Any:
        response = self.response
        return None if response is None else response.result

    @property
    def replayed(self) -> bool:
        """The GWA had this request already (a resumed step): nothing ran a second time."""
        return self.job.replayed

    def to_dict(self) -> dict[str, Any]:
        """Evidence for step data and reports (never key material)."""
        status, response = self.job.status, self.response
        return {
            "process": self.process, "purpose": self.purpose, "ok": self.ok,
            "state": self.job.state.value, "job_id": str(status.job_id),
            "idempotency_key": str(self.key), "replayed": self.replayed,
            "resumed": self.reused_key, "last_event": status.last_event,
            "status": None if response is None else response.status,
            "reason": None if response is None else response.reason.value,
            "detail": None if response is None else response.detail,
            "failure": None if status.failure is None else {
                "reason": FailureReason(status.failure.reason).value,
                "detail": status.failure.detail},
            "summary": _text(self.job.summary),
        }


def explain(run: GwaRun) -> tuple[Text, Text | None]:
    """What went wrong in a failed job (the gateway's or the GWA's own words) and what to do."""
    status, response = run.job.status, run.response
    what = Text(f"The GWA process {run.process} failed", f"Der GWA-Vorgang {run.process} ist "
                "fehlgeschlagen")
    if response is not None and not response.ok:
        detail = f" ({response.detail})" if response.detail else ""
        code = f"{response.status} {response.reason.value}"
        message = Text(f"{what.en}: {response.text.en}{detail} (gateway answer {code})",
                       f"{what.de}: {response.text.de}{detail} (Antwort des Gateways {code})")
        hint = REASON_HINTS.get(response.reason)
        if response.retry_after_seconds:
            hint = Text(f"Run the step again in {response.retry_after_seconds} s.",
                        f"Führen Sie den Schritt in {response.retry_after_seconds} s erneut "
                        "aus.")
        return message, hint
    if status.failure is not None:
        reason = FailureReason(status.failure.reason)
        detail = f" ({status.failure.detail})" if status.failure.detail else ""
        text = FAILURE_TEXTS[reason]
        return (Text(f"{what.en}: {text.en}{detail}", f"{what.de}: {text.de}{detail}"),
                FAILURE_HINTS.get(reason))
    state = job_state(status.state)
    return (Text(f"{what.en}: the job ended as {state.en}.",
                 f"{what.de}: der Auftrag endete im Zustand „{state.de}“."), None)


# -- the request ledger -------------------------------------------------------------------------

LEDGER_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        """
        CREATE TABLE gwa_requests (
            run_id TEXT NOT NULL,
            step TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            purpose TEXT NOT NULL,
            process TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            created TEXT NOT NULL,
            state TEXT NOT NULL,
            job_url TEXT,
            updated TEXT NOT NULL,
            PRIMARY KEY (run_id, step, attempt, purpose)
        );
        CREATE TABLE gwa_attempts (
            run_id TEXT NOT NULL,
            step TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            PRIMARY KEY (run_id, step)
        );
        """,
    ),
)


@dataclass(frozen=True)
class LedgerEntry:
    """A stored request of a step: its key, and its state as last seen (``sent`` at first)."""

    run_id: str
    step: str
    attempt: int
    purpose: str
    process: str
    key: uuid.UUID
    state: str
    job_url: str | None


class RequestLedger:
    """The idempotency keys of the GWA requests of flow runs (SQLite, WAL, fsync per commit)."""

    def __init__(self, path: str | Path) -> None:
        self.db = Database(path, "flow_gwa_requests", LEDGER_MIGRATIONS)

    def close(self) -> None:
        self.db.close()

    def attempt(self, run_id: str, step: str) -> int:
        """The current attempt of a step (0 until the step first failed)."""
        rows = self.db.read("SELECT attempt FROM gwa_attempts WHERE run_id = ? AND step = ?",
                            (run_id, step))
        return int(rows[0][0]) if rows else 0

    def next_attempt(self, run_id: str, step: str) -> int:
        """The step ended with an error: its next visit gets new keys."""
        with self.db.write() as conn:
            conn.execute("INSERT INTO gwa_attempts(run_id, step, attempt) VALUES (?, ?, 1)"
                         " ON CONFLICT(run_id, step) DO UPDATE SET attempt = attempt + 1",
                         (run_id, step))
            row = conn.execute("SELECT attempt FROM gwa_attempts WHERE run_id = ? AND step = ?",
                               (run_id, step)).fetchone()
        return int(row[0])

    def claim(self, run_id: str, step: str, attempt: int, purpose: str,
              process: str) -> tuple[LedgerEntry, bool]:
        """The key for this request: the stored one (``True``) or a new one, committed first."""
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT * FROM gwa_requests WHERE run_id = ? AND step = ? AND attempt = ?"
                " AND purpose = ?", (run_id, step, attempt, purpose)).fetchone()
            if row is not None:
                if row["process"] != process:
                    raise ConfigurationError(
                        f"step {step} of run {run_id} used purpose {purpose!r} for "
                        f"{row['process']} and now for {process}")
                return _entry(row), True
            key = uuid.uuid4()
            now = utc_text()
            conn.execute(
                "INSERT INTO gwa_requests(run_id, step, attempt, purpose, process,"
                " idempotency_key, created, state, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'sent', ?)",
                (run_id, step, attempt, purpose, process, str(key), now, now))
        return LedgerEntry(run_id, step, attempt, purpose, process, key, "sent", None), False

    def finish(self, key: uuid.UUID, state: str, job_url: str | None) -> None:
        """Record how the request ended (``succeeded``, ``failed``, ``queued``)."""
        with self.db.write() as conn:
            conn.execute("UPDATE gwa_requests SET state = ?, job_url = COALESCE(?, job_url),"
                         " updated = ? WHERE idempotency_key = ?",
                         (state, job_url, utc_text(), str(key)))

    def entries(self, run_id: str) -> list[LedgerEntry]:
        """Every stored request of a run, oldest first (diagnostics and tests)."""
        return [_entry(r) for r in self.db.read(
            "SELECT * FROM gwa_requests WHERE run_id = ? ORDER BY created, rowid", (run_id,))]


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(row["run_id"], row["step"], int(row["attempt"]), row["purpose"],
                       row["process"], uuid.UUID(row["idempotency_key"]), row["state"],
                       row["job_url"])


def ledger_path(app: AppContext) -> Path:
    from app.workbench import store_folder

    return store_folder(app) / LEDGER_FILE


# -- waiting for an unreachable GWA -------------------------------------------------------------


@dataclass(frozen=True)
class OfflinePolicy:
    """How a step waits for an unreachable GWA (from the job data)."""

    retry_seconds: float = DEFAULT_RETRY_SECONDS
    wait_seconds: float = DEFAULT_WAIT_SECONDS
    on_timeout: str = "ask"

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> OfflinePolicy:
        def number(name: str, default: float, low: float) -> float:
            raw = data.get(name, default)
            try:
                value = float(raw)
            except (TypeError, ValueError):
                value = math.nan
            if isinstance(raw, bool) or not math.isfinite(value) or value < low:
                raise InvalidValue(Text(f"{name} must be a number of seconds ≥ {low:g}, not "
                                        f"{raw!r}.",
                                        f"{name} muss eine Zahl von Sekunden ≥ {low:g} sein, "
                                        f"nicht {raw!r}."), field=name)
            return value

        choice = str(data.get("gwa_offline", "ask"))
        if choice not in OFFLINE_CHOICES:
            raise InvalidValue(Text(f"gwa_offline must be one of {', '.join(OFFLINE_CHOICES)}.",
                                    f"gwa_offline muss einer von {', '.join(OFFLINE_CHOICES)} "
                                    "sein."), field="gwa_offline")
        return cls(number("gwa_retry_seconds", DEFAULT_RETRY_SECONDS, 0.05),
                   number("gwa_wait_seconds", DEFAULT_WAIT_SECONDS, 0.0), choice)


def _seconds(value: float) -> str:
    return f"{math.ceil(value)}" if value >= 1 else f"{value:.1f}"


async def countdown(ctx: StepContext, seconds: float, reason: Text, waited: float) -> None:
    """Sleep ``seconds`` while showing when the next attempt comes; cancellable at any time."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        ctx.check_cancelled()
        ctx.progress(None, Text(
            f"The GWA is not reachable ({reason.en}). Next attempt in {_seconds(left)} s "
            f"(waiting for {_seconds(waited)} s).",
            f"Der GWA ist nicht erreichbar ({reason.de}). Nächster Versuch in {_seconds(left)} s "
            f"(Wartezeit bisher {_seconds(waited)} s)."))
        await asyncio.sleep(min(1.0, left))


OFFLINE_PROMPT = Text("The GWA is still not reachable. What now?",
                      "Der GWA ist weiterhin nicht erreichbar. Wie weiter?")


async def _decide(ctx: StepContext, policy: OfflinePolicy, allow_queue: bool,
                  error: GwaLinkError) -> str:
    choice = policy.on_timeout
    if choice == "queue" and not allow_queue:
        choice = "stop"
    if choice != "ask":
        return choice
    options = [("wait", Text("Keep waiting", "Weiter warten"))]
    if allow_queue:
        options.append(("queue", Text("Queue the request and stop here (resume the job later)",
                                      "Anfrage vormerken und hier anhalten (Auftrag später "
                                      "fortsetzen)")))
    options.append(("stop", Text("Stop here", "Hier anhalten")))
    ctx.trace("gwa", "info", f"GWA still unreachable: {error.message.en}")
    return await ctx.ui.choose(OFFLINE_PROMPT, options)


def retryable(error: GwaLinkError) -> bool:
    """The GWA was not reached (or the answer was lost), or it is restarting (503)."""
    return error.offline or (error.kind == "server" and error.status == 503)


def _unreachable(error: GwaLinkError) -> GwaUnreachable:
    return GwaUnreachable(
        Text(f"The GWA could not be reached: {error.message.en}",
             f"Der GWA war nicht erreichbar: {error.message.de}"),
        hint=Text(f"{error.hint.en} Resume the job once the link works; a request that was "
                  "already sent is not run twice.",
                  f"{error.hint.de} Setzen Sie den Auftrag fort, sobald die Verbindung steht; "
                  "eine bereits gesendete Anfrage wird nicht doppelt ausgeführt."),
    )


async def with_retry(ctx: StepContext, call: Callable[[], Awaitable[T]], *,
                        policy: OfflinePolicy, allow_queue: bool = False,
                        queue: Callable[[], Awaitable[T]] | None = None) -> T:
    """``call()``, retried with a countdown while the GWA is unreachable (see the module doc).

    When the technician chooses to queue the request, ``queue()`` is awaited instead.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    limit = policy.wait_seconds
    tries = 0
    while True:
        ctx.check_cancelled()
        tries += 1
        try:
            return await call()
        except GwaLinkError as exc:
            if not retryable(exc):
                raise
            waited = loop.time() - started
            ctx.trace("gwa", "info", f"attempt {tries}: GWA unreachable ({exc.kind}): "
                                     f"{exc.message.en}")
            if waited >= limit:
                choice = await _decide(ctx, policy, allow_queue and queue is not None, exc)
                if choice == "stop":
                    raise _unreachable(exc) from None
                if choice == "queue" and queue is not None:
                    return await queue()
                limit = (loop.time() - started) + max(policy.wait_seconds, policy.retry_seconds)
            await countdown(ctx, policy.retry_seconds, exc.message, waited)


# -- the session ----------------------------------------------------------------------------------


def _app(ctx: StepContext) -> AppContext:
    services = ctx.services
    if not isinstance(services, AppContext):
        raise ConfigurationError("the GWA flows need an AppContext as their services")
    return services


def no_gwa() -> ConfigurationError:
    return ConfigurationError(
        Text("No GWA link is configured.", "Es ist keine GWA-Anbindung eingerichtet."),
        field="gwa_url",
        hint=Text("Import the GWA link settings (URL, CA and technician certificate).",
                  "Importieren Sie die Einstellungen der GWA-Anbindung (URL, CA und "
                  "Techniker-Zertifikat)."),
    )


def open_link(app: AppContext) -> GwaLink:
    """A :class:`GwaLink` for the context's GWA target with the data folder's offline queue."""
    from app.workbench import store_folder

    if app.gwa is None:
        raise no_gwa()
    options = dict(app.extras.get(LINK_OPTIONS_EXTRA) or {})
    return GwaLink(app.gwa, queue_path=store_folder(app) / QUEUE_FILE, context=app, **options)


@dataclass
class _RunLink:
    link: GwaLink
    target: Any
    options: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    users: int = 0
    reaper: asyncio.Task[None] | None = None


class RunLinks:
    """The GWA links of the runs in progress, one per run (in ``AppContext.extras``).

    A step takes its run's link with :meth:`acquire` and gives it back with :meth:`release`.
    When no step of the run has used it for ``LINK_IDLE_SECONDS``, it is closed (a later step
    simply gets a new one); a changed GWA target or link options also give a new one.
    """

    def __init__(self) -> None:
        self._links: dict[str, _RunLink] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def acquire(self, app: AppContext, run_id: str) -> GwaLink:
        """The run's link (opened on first use)."""
        loop = asyncio.get_running_loop()
        options = dict(app.extras.get(LINK_OPTIONS_EXTRA) or {})
        held = self._links.get(run_id)
        if held is not None and (held.loop is not loop or held.target is not app.gwa
                                 or held.options != options):
            del self._links[run_id]
            if held.loop is loop and held.users == 0:
                self._retire(held)
            held = None
        if held is None:
            held = _RunLink(open_link(app), app.gwa, options, loop)
            self._links[run_id] = held
        held.users += 1
        if held.reaper is not None:  # in use again: it stays open
            held.reaper.cancel()
            held.reaper = None
        return held.link

    def release(self, run_id: str, link: GwaLink) -> None:
        """A step is done with the run's link; it is closed after the idle time."""
        held = self._links.get(run_id)
        if held is None or held.link is not link:  # replaced meanwhile: close the old one
            self._close_soon(link)
            return
        held.users -= 1
        if held.users <= 0:
            held.users = 0
            held.reaper = asyncio.ensure_future(self._reap(run_id, held))

    def _retire(self, held: _RunLink) -> None:
        if held.reaper is not None:
            held.reaper.cancel()
        self._close_soon(held.link)

    def _close_soon(self, link: GwaLink) -> None:
        task = asyncio.ensure_future(link.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _reap(self, run_id: str, held: _RunLink) -> None:
        try:
            await asyncio.sleep(LINK_IDLE_SECONDS)
        finally:  # also when the loop shuts down: the link never stays open
            if held.users == 0:
                if self._links.get(run_id) is held:
                    del self._links[run_id]
                with contextlib.suppress(Exception):
                    await held.link.close()

    async def close(self) -> None:
        """Close every link now (the command or the app ends)."""
        links, self._links = list(self._links.values()), {}
        for held in links:
            if held.reaper is not None:
                held.reaper.cancel()
            with contextlib.suppress(Exception):
                await held.link.close()
        if self._closing:
            await asyncio.wait(set(self._closing))


def run_links(app: AppContext) -> RunLinks:
    """The context's :class:`RunLinks` (created on first use)."""
    links = app.extras.get(RUN_LINKS_EXTRA)
    if not isinstance(links, RunLinks):
        links = app.extras[RUN_LINKS_EXTRA] = RunLinks()
    return links


async def close_run_links(app: AppContext) -> None:
    """Close the GWA links the context's runs share (when a command or the app ends)."""
    links = app.extras.get(RUN_LINKS_EXTRA)
    if isinstance(links, RunLinks):
        await links.close()


@dataclass
class GwaSession:
    """The GWA link of one step visit (see :func:`gwa_session`)."""

    ctx: StepContext
    link: GwaLink
    ledger: RequestLedger
    smgw_id: SmgwId
    attempt: int
    policy: OfflinePolicy
    work_order: str | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    runs: list[GwaRun] = field(default_factory=list)
    _purposes: set[str] = field(default_factory=set)

    async def status(self) -> GwaStatus:
        """Who the GWA is (mutual TLS proven), waiting while it is unreachable."""
        return await with_retry(self.ctx, self.link.status, policy=self.policy)

    async def catalog(self) -> list[ProcessInfo]:
        return await with_retry(self.ctx, self.link.catalog, policy=self.policy)

    async def run(
        self,
        process: str,
        params: Mapping[str, Any] | None = None,
        *,
        title: Text,
        purpose: str | None = None,
        span: tuple[float, float] = (0.0, 1.0),
        check: bool = True,
    ) -> GwaRun:
        """Run ``process`` on the session's gateway and follow it to its end.

        ``purpose`` names the request within the step (default: the process name); a resumed
        step finds its key by it. ``span`` is the part of the step's progress bar the process
        fills. With ``check`` a failed job raises :class:`GwaStepError` (explained), otherwise
        the failed :class:`GwaRun` is returned for the caller to explain.
        """
        ctx = self.ctx
        name = purpose or process
        if name in self._purposes:  # two requests under one name would share one key
            raise ConfigurationError(f"step {ctx.step} runs two GWA requests named {name!r}")
        self._purposes.add(name)
        entry, reused = await self.ledger.db.call(
            self.ledger.claim, ctx.run_id, ctx.step, self.attempt, name, process)
        key = entry.key
        if reused:
            ctx.trace("gwa", "info", f"{name}: the step did not finish last time; asking the "
                                     f"GWA again with the stored key {key} (nothing runs "
                                     "twice)")
        else:
            ctx.trace("gwa", "tx", f"{name}: {process} on {self.smgw_id} key={key}")
        lo, hi = span
        seen: set[tuple[str, int]] = set()
        collected: list[dict[str, Any]] = []
        ctx.progress(lo, title)

        def on_event(event: JobEvent) -> None:
            marker = (str(event.job_id), event.sequence)
            if marker in seen:  # delivered again after a reconnect or a replay
                return
            seen.add(marker)
            item = timeline_entry(process, name, event)
            collected.append(item)
            if not (item["event"] and item["event"]["id"] in self._known_events()):
                self.timeline.append(item)  # a gateway event seen by the event watch already
            sentence = describe_timeline_entry(item)
            extra = f" {item['detail']}" if item["detail"] else ""
            if item["event"]:
                extra += f" event {item['event']['code']}"
            ctx.trace("gwa", "rx", f"{process} #{event.sequence} {item['step']}{extra}")
            fraction = lo + (hi - lo) * STEP_FRACTION.get(item["step"], 0.5)
            ctx.progress(fraction, Text(f"{title.en}: {sentence.en}",
                                        f"{title.de}: {sentence.de}"))

        secret = bool(SECRET_PARAMS & set(params or {}))

        async def send() -> JobResult:
            result = await self.link.run(process, self.smgw_id, params, progress=on_event,
                                         idempotency_key=key, work_order=self.work_order)
            assert isinstance(result, JobResult)
            return result

        async def queue() -> JobResult:
            result = await self.link.run(process, self.smgw_id, params, progress=on_event,
                                         idempotency_key=key, work_order=self.work_order,
                                         queue_if_offline=True)
            if isinstance(result, Queued):
                await self.ledger.db.call(self.ledger.finish, key, "queued", None)
                raise GwaQueuedError(
                    Text(f"{title.en}: {result.summary.en}",
                         f"{title.de}: {result.summary.de}"),
                    hint=Text("Resume the job when the GWA is reachable again; the request "
                              "keeps its key, so it runs exactly once.",
                              "Setzen Sie den Auftrag fort, sobald der GWA wieder erreichbar "
                              "ist; die Anfrage behält ihren Schlüssel und wird genau einmal "
                              "ausgeführt."))
            return result

        try:
            job = await with_retry(ctx, send, policy=self.policy, allow_queue=not secret,
                                   queue=queue)
        except GwaLinkError as exc:
            if exc.code == "idempotency-conflict":
                raise GwaStepError(
                    Text(f"{title.en}: the interrupted request and this one differ (for example "
                         "another key M was entered), so the GWA refused to take this one as "
                         "its repetition.",
                         f"{title.de}: die unterbrochene Anfrage und diese unterscheiden sich "
                         "(zum Beispiel wurde ein anderer Schlüssel M eingegeben), daher hat der "
                         "GWA diese nicht als ihre Wiederholung angenommen."),
                    hint=Text("Check in the GWA's job list whether the interrupted request took "
                              "effect; resume the job to send this request as a new one.",
                              "Prüfen Sie in der Auftragsliste des GWA, ob die unterbrochene "
                              "Anfrage gewirkt hat; setzen Sie den Auftrag fort, um diese "
                              "Anfrage neu zu senden."), field="idempotency_key") from exc
            raise
        await self.ledger.db.call(self.ledger.finish, key, job.state.value, job.job_url)
        run = GwaRun(process, name, key, job, reused, tuple(collected))
        self.runs.append(run)
        if job.replayed:
            ctx.trace("gwa", "info", f"{name}: the GWA already had this request (job "
                                     f"{job.job_id}); its result was taken over")
        ctx.progress(hi, Text(f"{title.en}: {job.summary.en}", f"{title.de}: {job.summary.de}"))
        if check and not run.ok:
            message, hint = explain(run)
            raise GwaStepError(message, hint=hint, run=run)
        return run

    def _known_events(self) -> set[str]:
        return {str(item["event"]["id"]) for item in self.timeline if item.get("event")}

    def _add_gateway_event(self, cursor: int, event: Any) -> None:
        entry = event_entry(event)
        if entry["id"] in self._known_events():
            return
        item = {"time": entry["time"], "process": None, "purpose": "gateway-events",
                "job_id": None, "sequence": cursor, "state": None, "step": "smgw-event",
                "detail": None, "event": entry}
        self.timeline.append(item)
        sentence = describe_timeline_entry(item)
        self.ctx.trace("gwa", "rx", f"event #{cursor} {entry['code']} {entry['name'] or ''} "
                                    f"{entry['subject'] or ''}".rstrip())
        self.ctx.progress(None, sentence)

    async def latest_cursor(self, *, retry: bool = True) -> int:
        """The cursor after the newest event the GWA stores for the gateway (0: none)."""
        cursor = 0

        async def fetch() -> None:
            nonlocal cursor
            async for item in self.link.events(self.smgw_id, follow=False, after=cursor):
                cursor = item.cursor

        if retry:
            await with_retry(self.ctx, fetch, policy=self.policy)
        else:
            await fetch()
        return cursor

    @contextlib.asynccontextmanager
    async def watching_events(self, *, settle: float = 1.0) -> AsyncIterator[None]:
        """Follow the gateway's events at the GWA (``GwaLink.events``) while the block runs and
        ``settle`` seconds after it, adding them to the timeline (live status and trace too).

        The watch runs beside the block and is best effort: events the GWA relays within a job
        are on the timeline anyway (and not added twice); an unreachable GWA or a dropped event
        stream only costs timeline lines, it never stops the step."""

        async def start_cursor() -> int:
            while True:
                try:
                    return await self.latest_cursor(retry=False)
                except GwaLinkError as exc:
                    if not exc.offline:
                        raise
                    await asyncio.sleep(self.policy.retry_seconds)

        async def follow() -> None:
            try:
                start = await start_cursor()
                async for item in self.link.events(self.smgw_id, follow=True, after=start):
                    self._add_gateway_event(item.cursor, item.event)
            except (GwaLinkError, SmgwctError) as exc:
                self.ctx.trace("gwa", "info", f"gateway events not followed: {exc.message.en}")

        task = asyncio.ensure_future(follow())
        try:
            yield
            if settle > 0 and not task.done():
                await asyncio.wait({task}, timeout=settle)
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def keeps_keys(exc: BaseException) -> bool:
    """Whether a step that ended with ``exc`` must reuse its keys on the next visit: the GWA was
    unreachable (a request may have arrived, or waits in the offline queue with its key)."""
    if isinstance(exc, GwaQueuedError | GwaUnreachable):
        return True
    return isinstance(exc, GwaLinkError) and exc.offline


@contextlib.asynccontextmanager
async def gwa_session(ctx: StepContext, smgw_id: str | SmgwId, *,
                      work_order: str | None = None) -> AsyncIterator[GwaSession]:
    """The GWA link for one visit of a step (the run's shared link, see :class:`RunLinks`).

    If the step ends with an error, its next visit uses new idempotency keys (a real retry).
    After a crash, a cancel or an unreachable GWA the keys stay, so the same requests find their
    jobs again (or the queued request its job) and nothing runs twice.
    """
    app = _app(ctx)
    defaults = app.extras.get(OFFLINE_DEFAULTS_EXTRA) or {}
    policy = OfflinePolicy.from_data({**{k: v for k, v in defaults.items()
                                         if k in OFFLINE_OPTIONS}, **ctx.data})
    sid = smgw_id if isinstance(smgw_id, SmgwId) else SmgwId.parse(str(smgw_id))
    ledger = await asyncio.to_thread(RequestLedger, ledger_path(app))
    links = run_links(app)
    link: GwaLink | None = None
    try:
        attempt = await ledger.db.call(ledger.attempt, ctx.run_id, ctx.step)
        link = links.acquire(app, ctx.run_id)
        session = GwaSession(ctx, link, ledger, sid, attempt, policy, work_order)
        try:
            yield session
        except Exception as exc:
            if not keeps_keys(exc):
                with contextlib.suppress(Exception):
                    await ledger.db.call(ledger.next_attempt, ctx.run_id, ctx.step)
            raise
    finally:
        if link is not None:
            links.release(ctx.run_id, link)
        await asyncio.to_thread(ledger.close)


def catalogue_check(catalog: Sequence[ProcessInfo], needed: Sequence[str]) -> list[str]:
    """The processes of ``needed`` that the GWA does not offer through its technician API."""
    offered = {p.name for p in catalog if p.available}
    return [name for name in needed if name not in offered]


async def check_link(ctx: StepContext, smgw_id: str, needed: Sequence[str]) -> dict[str, Any]:
    """Step body "GWA link up": mutual TLS with the GWA, and the processes a flow needs.

    Returns step data: the GWA's name and version, both certificate fingerprints, the time
    difference between the GWA and this laptop, the processes checked and the ID of the GWA's
    own communication profile if its status document names it (``profile_id``).
    """
    async with gwa_session(ctx, smgw_id) as gwa:
        ctx.progress(None, Text("Connecting to the GWA (mutual TLS)…",
                                "Verbindung zum GWA wird aufgebaut (beidseitiges TLS)…"))
        status = await gwa.status()
        ctx.trace("gwa", "rx", f"status gwa={status.name} version={status.version} "
                               f"technician={status.technician_sha256[:16]}…")
        catalog = await gwa.catalog()
    missing = catalogue_check(catalog, needed)
    if not status.processes_available or missing:
        names = ", ".join(missing) or "-"
        raise SmgwctError(
            Text(f"The GWA {status.name} does not offer the processes this flow needs: {names}.",
                 f"Der GWA {status.name} bietet die Vorgänge nicht an, die dieser Ablauf "
                 f"braucht: {names}."),
            field="gwa",
            hint=Text("Ask the GWA operator to enable them for technicians.",
                      "Bitten Sie den GWA-Betreiber, sie für Techniker freizuschalten."))
    offset = None
    with contextlib.suppress(ValueError):
        gwa_time = dt.datetime.fromisoformat(status.time)
        if gwa_time.tzinfo is not None:
            offset = round((gwa_time - dt.datetime.now(dt.UTC)).total_seconds(), 1)
    target = _app(ctx).gwa
    return {"gwa": status.name, "version": status.version, "gwa_sha256": status.gwa_sha256,
            "technician_sha256": status.technician_sha256, "clock_offset_seconds": offset,
            "processes": list(needed), "url": None if target is None else target.base_url,
            "profile_id": status.raw.get("profile_id")}


__all__ = [
    "DEFAULT_RETRY_SECONDS",
    "DEFAULT_WAIT_SECONDS",
    "FAILURE_HINTS",
    "LEDGER_FILE",
    "LINK_IDLE_SECONDS",
    "LINK_OPTIONS_EXTRA",
    "OFFLINE_DEFAULTS_EXTRA",
    "OFFLINE_OPTIONS",
    "OFFLINE_PROMPT",
    "RUN_LINKS_EXTRA",
    "REASON_HINTS",
    "GwaQueuedError",
    "GwaRun",
    "GwaSession",
    "GwaStepError",
    "GwaUnreachable",
    "LedgerEntry",
    "OfflinePolicy",
    "RequestLedger",
    "RunLinks",
    "catalogue_check",
    "check_link",
    "close_run_links",
    "countdown",
    "describe_timeline_entry",
    "event_entry",
    "explain",
    "gwa_session",
    "keeps_keys",
    "ledger_path",
    "open_link",
    "retryable",
    "run_links",
    "timeline_entry",
    "with_retry",
]
