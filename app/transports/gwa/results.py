"""What the GWA link hands back: status, catalogue entries, job results, queued requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from app.errors import Text
from app.protocols.admin import Event, JobEvent, JobState, JobStatus, to_xml
from app.store.gwa_queue import QueueEntry


@dataclass(frozen=True)
class GwaStatus:
    """What ``GET /tech/v1/status`` said, plus the GWA certificate's fingerprint."""

    name: str
    version: str
    time: str
    technician_sha256: str
    gwa_sha256: str
    processes_available: bool
    raw: dict[str, Any]


@dataclass(frozen=True)
class ProcessInfo:
    """One entry of the GWA's process catalogue."""

    name: str
    title: Text
    available: bool
    params: tuple[str, ...]
    chapter: str | None = None


@dataclass(frozen=True)
class JobResult:
    """A finished (or, without following, accepted) job of the GWA."""

    process: str
    job_url: str
    status: JobStatus
    events: tuple[JobEvent, ...] = ()
    replayed: bool = False

    queued = False

    @property
    def job_id(self) -> uuid.UUID:
        return self.status.job_id

    @property
    def idempotency_key(self) -> uuid.UUID:
        return self.status.idempotency_key

    @property
    def state(self) -> JobState:
        return JobState(self.status.state)

    @property
    def ok(self) -> bool:
        return self.state is JobState.SUCCEEDED

    @property
    def summary(self) -> Text:
        """One sentence for the technician: what came out of the job."""
        status = self.status
        if self.state is JobState.SUCCEEDED:
            return status.response.text if status.response is not None else Text("Done.",
                                                                                  "Erledigt.")
        if status.failure is not None:
            text = status.failure.text
            if status.response is not None and not status.response.ok:
                text = Text(f"{text.en} {status.response.text.en}",
                            f"{text.de} {status.response.text.de}")
            if status.failure.detail:
                text = Text(f"{text.en} ({status.failure.detail})",
                            f"{text.de} ({status.failure.detail})")
            return text
        return Text(f"The job is {status.state}.", f"Der Auftrag ist im Zustand {status.state}.")

    def to_json(self) -> dict[str, Any]:
        status = self.status
        response = status.response
        return {
            "type": "result",
            "queued": False,
            "ok": self.ok,
            "state": self.state.value,
            "process": self.process,
            "smgw_id": str(status.smgw_id),
            "job_id": str(status.job_id),
            "job_url": self.job_url,
            "idempotency_key": str(status.idempotency_key),
            "replayed": self.replayed,
            "last_event": status.last_event,
            "response": None if response is None else {
                "status": response.status, "reason": response.reason.value,
                "detail": response.detail,
                "result": None if response.result is None else type(response.result).__name__,
                "xml": to_xml(response).decode("utf-8"),
            },
            "failure": None if status.failure is None else {
                "reason": status.failure.reason.value, "detail": status.failure.detail,
            },
            "summary": {"en": self.summary.en, "de": self.summary.de},
        }


@dataclass(frozen=True)
class Queued:
    """The GWA was unreachable: the request waits in the offline queue."""

    process: str
    smgw_id: str
    idempotency_key: uuid.UUID
    reason: Text
    pending: int

    queued = True
    ok = False

    @property
    def summary(self) -> Text:
        return Text(
            f"The GWA is not reachable; the request was queued ({self.pending} waiting) and "
            "will be sent when the link is back.",
            f"Der GWA ist nicht erreichbar; die Anfrage wurde vorgemerkt ({self.pending} "
            "wartend) und wird gesendet, sobald die Verbindung wieder besteht.",
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "result", "queued": True, "ok": False, "state": "queued-offline",
            "process": self.process, "smgw_id": self.smgw_id,
            "idempotency_key": str(self.idempotency_key), "pending": self.pending,
            "reason": {"en": self.reason.en, "de": self.reason.de},
            "summary": {"en": self.summary.en, "de": self.summary.de},
        }


@dataclass(frozen=True)
class GatewayEvent:
    """A gateway event stored at the GWA; ``cursor`` resumes the listing after it."""

    cursor: int
    event: Event


@dataclass(frozen=True)
class FlushReport:
    """What :meth:`GwaLink.flush` did."""

    sent: tuple[JobResult, ...] = ()
    rejected: tuple[tuple[QueueEntry, Text], ...] = ()
    remaining: int = 0
    stopped: Text | None = None
    """Why flushing stopped before the queue was empty (the GWA is unreachable again)."""
