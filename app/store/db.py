"""SQLite persistence of jobs (Auftragsspeicher): runs of flows and the outcome of each step.

Durability choices:

* ``journal_mode=WAL``: a reader (the UI listing jobs, a second process) never blocks the writer,
  and a commit is one append to the WAL file.
* ``synchronous=FULL``: every commit is fsync'ed before it returns. ``NORMAL`` would survive a
  killed process too, but may lose the last commits on power loss; technicians' laptops run on
  battery in basements, and a flow commits only a few transitions per minute, so the cost of
  FULL (a few milliseconds per commit) is irrelevant and the guarantee is worth it.
* Every transition is its own tiny ``BEGIN IMMEDIATE`` transaction, committed before the engine
  goes on, so a SIGKILL loses at most the step in progress.

Threading: the methods are synchronous and thread-safe (one connection behind a lock). Async
callers use :meth:`Database.call`, which runs the function on the database's single worker
thread: the event loop never waits for an fsync, and because the worker is a single thread,
writes happen in the order they were submitted even if an awaiting task is cancelled meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from app.errors import SmgwctError, Text

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_S = 10.0


class StorageError(SmgwctError):
    """A database file cannot be opened, read or written."""

    kind = "storage"


def storage_error(path: Path, exc: BaseException) -> StorageError:
    """A :class:`StorageError` for ``path`` explaining ``exc`` and what to check."""
    return StorageError(
        Text(
            f"The database {path} cannot be used: {exc}",
            f"Die Datenbank {path} ist nicht nutzbar: {exc}",
        ),
        hint=Text(
            "Check free disk space and write permission of the folder, then try again.",
            "Prüfen Sie den freien Speicherplatz und die Schreibrechte des Ordners und "
            "versuchen Sie es erneut.",
        ),
    )


@dataclass(frozen=True)
class Migration:
    """One schema step of a component: ``version`` is reached by running ``sql``."""

    version: int
    sql: str


def utc_text(moment: datetime | None = None) -> str:
    """A UTC time as ISO 8601 text (microseconds), the form stored in all tables."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")


def parse_utc(text: str) -> datetime:
    """Inverse of :func:`utc_text`."""
    return datetime.fromisoformat(text)


class Database:
    """One SQLite file in WAL mode with versioned schema per component.

    Several components (job store, audit log) may share a file; each keeps its own version in
    the ``schema_version`` table and its migrations run once, in order, inside a transaction.
    """

    def __init__(
        self, path: str | Path, component: str, migrations: Sequence[Migration]
    ) -> None:
        self.path = Path(path)
        self.component = component
        self._lock = threading.RLock()
        self._executor: ThreadPoolExecutor | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,  # explicit BEGIN/COMMIT only
                check_same_thread=False,  # guarded by self._lock
            )
        except (OSError, sqlite3.Error) as exc:
            raise storage_error(self.path, exc) from exc
        try:
            self._configure()
            self._migrate(migrations)
        except sqlite3.Error as exc:
            self._conn.close()
            raise storage_error(self.path, exc) from exc
        except BaseException:
            self._conn.close()
            raise

    def _configure(self) -> None:
        self._conn.row_factory = sqlite3.Row
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            # e.g. some network file systems; still correct, only readers may wait.
            log.warning("SQLite file %s cannot use WAL (journal_mode=%s)", self.path, mode)
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        versions = [m.version for m in migrations]
        if versions != sorted(set(versions)) or (versions and versions[0] < 1):
            raise ValueError(f"migrations of {self.component} must have rising versions >= 1")
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " component TEXT PRIMARY KEY, version INTEGER NOT NULL, updated TEXT NOT NULL)"
            )
            row = conn.execute(
                "SELECT version FROM schema_version WHERE component = ?", (self.component,)
            ).fetchone()
            current = row[0] if row else 0
            newest = versions[-1] if versions else 0
            if current > newest:
                raise StorageError(
                    Text(
                        f"The database {self.path} was written by a newer version of the "
                        f"program ({self.component} schema {current}, this program knows "
                        f"{newest}).",
                        f"Die Datenbank {self.path} stammt von einer neueren Programmversion "
                        f"({self.component}-Schema {current}, bekannt ist {newest}).",
                    ),
                    hint=Text(
                        "Update the program or choose another data folder.",
                        "Aktualisieren Sie das Programm oder wählen Sie einen anderen "
                        "Datenordner.",
                    ),
                )
            for migration in migrations:
                if migration.version <= current:
                    continue
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version(component, version, updated) VALUES (?, ?, ?)"
                    " ON CONFLICT(component) DO UPDATE SET version = excluded.version,"
                    " updated = excluded.updated",
                    (self.component, migration.version, utc_text()),
                )
                log.info("%s: %s schema now at version %d", self.path, self.component,
                         migration.version)

    def schema_version(self) -> int:
        """The schema version of this component in the file."""
        with self._lock:
            row = self._conn.execute(
                "SELECT version FROM schema_version WHERE component = ?", (self.component,)
            ).fetchone()
        return int(row[0]) if row else 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on any exception)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        """Rows of a query; ``sqlite3.Error`` becomes :class:`StorageError`."""
        try:
            with self._lock:
                return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from exc

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A :meth:`transaction` whose ``sqlite3.Error`` becomes :class:`StorageError`."""
        try:
            with self.transaction() as conn:
                yield conn
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from exc

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on this database's single worker thread."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"db-{self.component}"
                )
            executor = self._executor
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Finish pending writes and close the file."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        with self._lock:
            self._conn.close()


def _statements(sql: str) -> list[str]:
    """Split a migration script into complete statements (triggers contain ``;``)."""
    out: list[str] = []
    buf = ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buf.strip()[:60]}")
    return out


class RunState(StrEnum):
    """State of a run (Auftragsstatus)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepState(StrEnum):
    """State of one visit of a step.

    ``started`` with no finish time means the program stopped while the step ran; on resume
    the engine marks such a visit ``interrupted``.
    """

    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class RunRecord:
    """A stored run of a flow (job)."""

    id: str
    flow: str
    data: dict[str, Any]
    state: RunState
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class StepError:
    """Why a step visit failed, as stored."""

    message: Text
    hint: Text | None
    kind: str


@dataclass(frozen=True)
class StepRecord:
    """One visit of a step in a run (a step may be visited again when a flow loops)."""

    run_id: str
    seq: int
    step: str
    state: StepState
    data: dict[str, Any] | None
    summary: Text | None
    error: StepError | None
    next_step: str | None
    started: datetime
    finished: datetime | None


JOB_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            flow TEXT NOT NULL,
            data TEXT NOT NULL,
            state TEXT NOT NULL,
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE INDEX runs_by_state ON runs(state, updated);
        CREATE TABLE steps (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            step TEXT NOT NULL,
            state TEXT NOT NULL,
            data TEXT,
            summary TEXT,
            error TEXT,
            next_step TEXT,
            started TEXT NOT NULL,
            finished TEXT,
            PRIMARY KEY (run_id, seq)
        );
        """,
    ),
)


def dumps(value: Any) -> str:
    """Compact JSON for storage (``NaN`` is refused: it is not JSON)."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_as_dict
    )


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _text_json(text: Text | None) -> str | None:
    return None if text is None else dumps({"en": text.en, "de": text.de})


def _text_from(raw: Any) -> Text | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = json.loads(raw)
    return Text(en=str(raw["en"]), de=str(raw["de"]))


class JobStore:
    """Runs and step outcomes in SQLite (see the module docstring for the durability rules)."""

    def __init__(self, path: str | Path) -> None:
        self.db = Database(path, "jobs", JOB_MIGRATIONS)
        self.path = self.db.path

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ---------------------------------------------------------------------------------

    def create_run(self, run_id: str, flow: str, data: Mapping[str, Any]) -> RunRecord:
        """Store a new run in state ``running``; ``data`` must be JSON-serialisable."""
        encoded = dumps(dict(data))
        now = utc_text()
        with self.db.write() as conn:
            try:
                conn.execute(
                    "INSERT INTO runs(id, flow, data, state, created, updated)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (run_id, flow, encoded, RunState.RUNNING.value, now, now),
                )
            except sqlite3.IntegrityError as exc:
                raise SmgwctError(
                    Text(f"A job with the id {run_id} exists already.",
                         f"Ein Auftrag mit der Kennung {run_id} existiert bereits."),
                    field="run_id",
                    hint=Text("Resume that job or choose another id.",
                              "Setzen Sie diesen Auftrag fort oder wählen Sie eine andere "
                              "Kennung."),
                ) from exc
        run = self.get_run(run_id)
        assert run is not None
        return run

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self.db.read("SELECT * FROM runs WHERE id = ?", (run_id,))
        return _run(rows[0]) if rows else None

    def list_runs(
        self, *, state: RunState | str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        """The newest runs first, optionally only those in ``state``."""
        if state is None:
            rows = self.db.read(
                "SELECT * FROM runs ORDER BY updated DESC LIMIT ?", (limit,)
            )
        else:
            rows = self.db.read(
                "SELECT * FROM runs WHERE state = ? ORDER BY updated DESC LIMIT ?",
                (str(state), limit),
            )
        return [_run(r) for r in rows]

    def set_run_state(self, run_id: str, state: RunState) -> None:
        with self.db.write() as conn:
            self._set_state(conn, run_id, state)

    @staticmethod
    def _set_state(conn: sqlite3.Connection, run_id: str, state: RunState) -> None:
        cur = conn.execute(
            "UPDATE runs SET state = ?, updated = ? WHERE id = ?",
            (RunState(state).value, utc_text(), run_id),
        )
        if cur.rowcount != 1:
            raise KeyError(f"no run {run_id!r}")

    # -- steps --------------------------------------------------------------------------------

    def start_step(self, run_id: str, step: str) -> int:
        """Record that ``step`` starts (a new visit); returns the visit's number."""
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM steps WHERE run_id = ?", (run_id,)
            ).fetchone()
            seq = int(row[0]) + 1
            conn.execute(
                "INSERT INTO steps(run_id, seq, step, state, started) VALUES (?, ?, ?, ?, ?)",
                (run_id, seq, step, StepState.STARTED.value, utc_text()),
            )
            self._set_state(conn, run_id, RunState.RUNNING)
        return seq

    def finish_step(
        self,
        run_id: str,
        seq: int,
        state: StepState,
        *,
        data: Mapping[str, Any] | None = None,
        summary: Text | None = None,
        error: StepError | None = None,
        next_step: str | None = None,
        run_state: RunState | None = None,
    ) -> None:
        """Record how visit ``seq`` ended (and, in the same commit, the run's new state)."""
        encoded = None if data is None else dumps(dict(data))
        err = None
        if error is not None:
            err = dumps({
                "message": {"en": error.message.en, "de": error.message.de},
                "hint": None if error.hint is None else {"en": error.hint.en, "de": error.hint.de},
                "kind": error.kind,
            })
        with self.db.write() as conn:
            cur = conn.execute(
                "UPDATE steps SET state = ?, data = ?, summary = ?, error = ?, next_step = ?,"
                " finished = ? WHERE run_id = ? AND seq = ?",
                (StepState(state).value, encoded, _text_json(summary), err, next_step,
                 utc_text(), run_id, seq),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no visit {seq} in run {run_id!r}")
            if run_state is not None:
                self._set_state(conn, run_id, run_state)

    def cancel_run(self, run_id: str, seq: int | None = None) -> None:
        """Mark the run ``cancelled`` and visit ``seq`` too if it is still running.

        The visit is only touched while it is ``started``: a finish that was already submitted
        (and is committed first, see :meth:`Database.call`) is never overwritten.
        """
        with self.db.write() as conn:
            if seq is not None:
                conn.execute(
                    "UPDATE steps SET state = ?, finished = ? WHERE run_id = ? AND seq = ?"
                    " AND state = ?",
                    (StepState.CANCELLED.value, utc_text(), run_id, seq,
                     StepState.STARTED.value),
                )
            self._set_state(conn, run_id, RunState.CANCELLED)

    def mark_interrupted(self, run_id: str, seq: int) -> None:
        """Mark a visit that never finished (the program was stopped) as ``interrupted``."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE steps SET state = ? WHERE run_id = ? AND seq = ? AND state = ?",
                (StepState.INTERRUPTED.value, run_id, seq, StepState.STARTED.value),
            )

    def steps(self, run_id: str) -> list[StepRecord]:
        """All visits of a run in the order they happened."""
        rows = self.db.read(
            "SELECT * FROM steps WHERE run_id = ? ORDER BY seq", (run_id,)
        )
        return [_step(r) for r in rows]


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        flow=row["flow"],
        data=json.loads(row["data"]),
        state=RunState(row["state"]),
        created=parse_utc(row["created"]),
        updated=parse_utc(row["updated"]),
    )


def _step(row: sqlite3.Row) -> StepRecord:
    error = None
    if row["error"] is not None:
        raw = json.loads(row["error"])
        error = StepError(
            message=_text_from(raw["message"]) or Text("", ""),
            hint=_text_from(raw.get("hint")),
            kind=str(raw.get("kind", "error")),
        )
    return StepRecord(
        run_id=row["run_id"],
        seq=int(row["seq"]),
        step=row["step"],
        state=StepState(row["state"]),
        data=None if row["data"] is None else json.loads(row["data"]),
        summary=_text_from(row["summary"]),
        error=error,
        next_step=row["next_step"],
        started=parse_utc(row["started"]),
        finished=None if row["finished"] is None else parse_utc(row["finished"]),
    )


__all__ = [
    "JOB_MIGRATIONS",
    "Database",
    "JobStore",
    "Migration",
    "RunRecord",
    "RunState",
    "StepError",
    "StepRecord",
    "StepState",
    "StorageError",
    "dumps",
    "parse_utc",
    "storage_error",
    "utc_text",
]
