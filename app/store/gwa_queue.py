"""Offline queue of the GWA link (Warteschlange): process requests waiting for the GWA.

When the GWA cannot be reached, a process request is stored here with its idempotency key and
sent unchanged once the link is back. Because the key travels with it, a request that had reached
the GWA before the connection dropped is recognised there and never runs twice.

Each entry belongs to one GWA (its base URL) and moves ``pending`` -> ``submitted`` (the GWA
accepted it; the job URL is kept) or ``rejected`` (the GWA refused it; the reason is kept and the
entry is not sent again). The file uses the project's SQLite conventions (WAL, fsync per commit,
see :mod:`app.store.db`), so the queue survives a restart or a crash.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.errors import Text
from app.store.db import Database, Migration, parse_utc, utc_text

MIGRATIONS = (
    Migration(
        1,
        """
        CREATE TABLE gwa_queue (
            idempotency_key TEXT PRIMARY KEY,
            gwa_url TEXT NOT NULL,
            process TEXT NOT NULL,
            smgw_id TEXT NOT NULL,
            body BLOB NOT NULL,
            state TEXT NOT NULL,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            job_url TEXT
        );
        CREATE INDEX gwa_queue_by_state ON gwa_queue(gwa_url, state, created);
        """,
    ),
)


class QueueState(enum.StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class QueueEntry:
    """One stored process request."""

    idempotency_key: uuid.UUID
    gwa_url: str
    process: str
    smgw_id: str
    body: bytes
    state: QueueState
    created: datetime
    updated: datetime
    attempts: int
    last_error: Text | None
    job_url: str | None


def normalise_url(url: str) -> str:
    """The GWA's base URL as a queue key (no trailing slash, lower-case scheme and host)."""
    scheme, sep, rest = url.strip().partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}{sep}{host.lower()}{slash}{path}".rstrip("/")


class GwaQueue:
    """The queue file; synchronous, thread-safe methods (async callers use ``db.call``)."""

    def __init__(self, path: str | Path) -> None:
        self.db = Database(path, "gwa_queue", MIGRATIONS)
        self.path = self.db.path

    def close(self) -> None:
        self.db.close()

    def add(self, gwa_url: str, key: uuid.UUID, process: str, smgw_id: str, body: bytes,
            error: Text | None = None) -> QueueEntry:
        """Store a request (again: an existing entry of the same key is kept as it is)."""
        now = utc_text()
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO gwa_queue(idempotency_key, gwa_url, process, smgw_id, body, state,"
                " created, updated, attempts, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)"
                " ON CONFLICT(idempotency_key) DO NOTHING",
                (str(key), normalise_url(gwa_url), process, smgw_id, body,
                 QueueState.PENDING.value, now, now, _text_json(error)),
            )
        entry = self.get(key)
        assert entry is not None
        return entry

    def get(self, key: uuid.UUID) -> QueueEntry | None:
        rows = self.db.read("SELECT * FROM gwa_queue WHERE idempotency_key = ?", (str(key),))
        return _entry(rows[0]) if rows else None

    def entries(self, gwa_url: str | None = None,
                states: tuple[QueueState, ...] = tuple(QueueState)) -> list[QueueEntry]:
        """Entries in the order they were queued, optionally of one GWA and some states."""
        marks = ",".join("?" for _ in states)
        sql = f"SELECT * FROM gwa_queue WHERE state IN ({marks})"  # noqa: S608
        params: list[str] = [s.value for s in states]
        if gwa_url is not None:
            sql += " AND gwa_url = ?"
            params.append(normalise_url(gwa_url))
        rows = self.db.read(sql + " ORDER BY created, rowid", params)
        return [_entry(r) for r in rows]

    def pending(self, gwa_url: str | None = None) -> list[QueueEntry]:
        return self.entries(gwa_url, (QueueState.PENDING,))

    def count_pending(self, gwa_url: str | None = None) -> int:
        return len(self.pending(gwa_url))

    def attempt_failed(self, key: uuid.UUID, error: Text) -> None:
        """A send attempt did not reach the GWA; the entry stays pending."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE gwa_queue SET attempts = attempts + 1, last_error = ?, updated = ?"
                " WHERE idempotency_key = ? AND state = ?",
                (_text_json(error), utc_text(), str(key), QueueState.PENDING.value),
            )

    def submitted(self, key: uuid.UUID, job_url: str) -> None:
        self._finish(key, QueueState.SUBMITTED, None, job_url)

    def rejected(self, key: uuid.UUID, error: Text) -> None:
        self._finish(key, QueueState.REJECTED, error, None)

    def _finish(self, key: uuid.UUID, state: QueueState, error: Text | None,
                job_url: str | None) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE gwa_queue SET state = ?, last_error = ?, job_url = ?, updated = ?"
                " WHERE idempotency_key = ?",
                (state.value, _text_json(error), job_url, utc_text(), str(key)),
            )

    def remove(self, key: uuid.UUID) -> bool:
        with self.db.write() as conn:
            cur = conn.execute("DELETE FROM gwa_queue WHERE idempotency_key = ?", (str(key),))
            return cur.rowcount == 1


def _text_json(text: Text | None) -> str | None:
    return None if text is None else json.dumps({"en": text.en, "de": text.de},
                                                ensure_ascii=False)


def _entry(r: sqlite3.Row) -> QueueEntry:
    error = None
    if r["last_error"]:
        raw = json.loads(r["last_error"])
        error = Text(str(raw.get("en", "")), str(raw.get("de", "")))
    return QueueEntry(
        idempotency_key=uuid.UUID(r["idempotency_key"]),
        gwa_url=r["gwa_url"],
        process=r["process"],
        smgw_id=r["smgw_id"],
        body=bytes(r["body"]),
        state=QueueState(r["state"]),
        created=parse_utc(r["created"]),
        updated=parse_utc(r["updated"]),
        attempts=int(r["attempts"]),
        last_error=error,
        job_url=r["job_url"],
    )


__all__ = ["GwaQueue", "QueueEntry", "QueueState", "normalise_url"]
