"""Jobs (Aufträge) of the technician API and their progress events, in SQLite.

A process request becomes a job under its idempotency key: the same key with the same request
finds the job again, with another request it is refused (:class:`IdempotencyConflict`).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.domain import SmgwId
from app.protocols.admin import (
    Event,
    FailureReason,
    JobEvent,
    JobFailure,
    JobState,
    JobStatus,
    ProcessRequest,
    Response,
    Step,
    from_xml,
    to_xml,
)
from app.store.db import Database, Migration, utc_text

MAX_BATCH = 500  # jobEvents holds at most 500 events (gwa-link.xsd)

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


def utc_now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


def text_detail(value: str | None) -> str | None:
    """A detail text on one line, at most 1000 characters (``None`` when empty)."""
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
            now = utc_now()
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
            job_event = JobEvent(job_id, seq, utc_now(), JobState(row["state"]), step,
                                 text_detail(detail), event)
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
            job_event = JobEvent(job_id, seq, utc_now(), state, Step.FINISHED, text_detail(detail))
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
