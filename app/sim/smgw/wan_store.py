"""Persistent memory of the virtual SMGW's WAN side (its "flash"), in SQLite.

What survives a restart of the virtual gateway:

* the administered profiles (the GWA's truth on the gateway), as validated XML;
* the answers to the last 64 requests (docs/protocol/04-02-03): a repeated ``requestId`` is
  answered from here, and the newest answer not yet delivered is the ``pendingResult`` of the
  next session (5.16);
* the event queue of INFO-REPORT (5.14): an event leaves it only by acknowledgement;
* the pairing state of the LMN meters and the certificate state of the WAN certificates.

Everything one administration request changes is written in **one** transaction
(:meth:`WanStore.commit`), so a request is stored completely or not at all. The methods are
synchronous; async callers use ``store.db.call(...)`` (the database's single worker thread).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from app.processes.micro.channels import REMEMBERED_REQUESTS
from app.store.db import Database, Migration, utc_text

MIGRATIONS = (
    Migration(
        1,
        """
        CREATE TABLE wan_profiles (
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            revision INTEGER NOT NULL,
            xml BLOB NOT NULL,
            updated TEXT NOT NULL,
            PRIMARY KEY (kind, id)
        );
        CREATE TABLE wan_answers (
            request_id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            session_id TEXT NOT NULL,
            response BLOB NOT NULL,
            delivered INTEGER NOT NULL DEFAULT 0,
            answered TEXT NOT NULL
        );
        CREATE INDEX wan_answers_by_seq ON wan_answers(seq);
        CREATE TABLE wan_events (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            code INTEGER NOT NULL,
            xml BLOB NOT NULL,
            created TEXT NOT NULL
        );
        CREATE TABLE wan_meters (
            server_id TEXT PRIMARY KEY,
            paired INTEGER NOT NULL,
            tls_sha256 TEXT
        );
        CREATE TABLE wan_meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
)


@dataclass(frozen=True)
class StoredProfile:
    kind: str
    id: str
    revision: int
    xml: bytes


@dataclass(frozen=True)
class StoredAnswer:
    request_id: uuid.UUID
    session_id: uuid.UUID
    response: bytes
    delivered: bool


@dataclass(frozen=True)
class QueuedEvent:
    sequence: int
    id: uuid.UUID
    code: int
    xml: bytes


@dataclass
class StoreChange:
    """Rows one request writes together (profiles, meters, its answer, its events, meta)."""

    put_profiles: list[StoredProfile] = field(default_factory=list)
    delete_profiles: list[tuple[str, str]] = field(default_factory=list)
    meters: list[tuple[str, bool, str | None]] = field(default_factory=list)
    events: list[QueuedEvent] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    answer: StoredAnswer | None = None


class WanStore:
    """The SQLite file of one virtual gateway's WAN side."""

    def __init__(self, path: str) -> None:
        self.db = Database(path, "smgw-wan", MIGRATIONS)
        rows = self.db.read("SELECT value FROM wan_meta WHERE key = 'next_event_seq'")
        top = self.db.read("SELECT COALESCE(MAX(seq), 0) FROM wan_events")
        self._next_seq = max(int(rows[0][0]) if rows else 1, int(top[0][0]) + 1)

    def close(self) -> None:
        self.db.close()

    # -- event sequence ---------------------------------------------------------------------------

    def reserve_sequences(self, count: int) -> list[int]:
        """Sequence numbers for new events (strictly increasing, persisted on commit)."""
        first = self._next_seq
        self._next_seq += count
        return list(range(first, first + count))

    # -- the one write of a request ---------------------------------------------------------------

    def commit(self, change: StoreChange) -> None:
        """Write ``change`` in one transaction."""
        now = utc_text()
        with self.db.write() as conn:
            for p in change.put_profiles:
                conn.execute(
                    "INSERT INTO wan_profiles(kind, id, revision, xml, updated) VALUES (?,?,?,?,?)"
                    " ON CONFLICT(kind, id) DO UPDATE SET revision = excluded.revision,"
                    " xml = excluded.xml, updated = excluded.updated",
                    (p.kind, p.id, p.revision, p.xml, now),
                )
            for kind, pid in change.delete_profiles:
                conn.execute("DELETE FROM wan_profiles WHERE kind = ? AND id = ?", (kind, pid))
            for server_id, paired, tls in change.meters:
                conn.execute(
                    "INSERT INTO wan_meters(server_id, paired, tls_sha256) VALUES (?,?,?)"
                    " ON CONFLICT(server_id) DO UPDATE SET paired = excluded.paired,"
                    " tls_sha256 = excluded.tls_sha256",
                    (server_id, int(paired), tls),
                )
            for e in change.events:
                conn.execute(
                    "INSERT INTO wan_events(seq, id, code, xml, created) VALUES (?,?,?,?,?)",
                    (e.sequence, str(e.id), e.code, e.xml, now),
                )
            if change.events:
                change.meta["next_event_seq"] = str(max(e.sequence for e in change.events) + 1)
            for key, value in change.meta.items():
                if key == "next_event_seq":
                    conn.execute(
                        "INSERT INTO wan_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO"
                        " UPDATE SET value = MAX(CAST(value AS INTEGER),"
                        " CAST(excluded.value AS INTEGER))",
                        (key, value),
                    )
                else:
                    conn.execute(
                        "INSERT INTO wan_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO"
                        " UPDATE SET value = excluded.value",
                        (key, value),
                    )
            if change.answer is not None:
                a = change.answer
                row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM wan_answers").fetchone()
                seq = int(row[0]) + 1
                conn.execute(
                    "INSERT INTO wan_answers(request_id, seq, session_id, response, delivered,"
                    " answered) VALUES (?,?,?,?,?,?)",
                    (str(a.request_id), seq, str(a.session_id), a.response, int(a.delivered),
                     now),
                )
                conn.execute(
                    "DELETE FROM wan_answers WHERE seq <= ? AND delivered = 1",
                    (seq - REMEMBERED_REQUESTS,),
                )

    # -- profiles ---------------------------------------------------------------------------------

    def profiles(self) -> list[StoredProfile]:
        rows = self.db.read("SELECT kind, id, revision, xml FROM wan_profiles ORDER BY kind, id")
        return [StoredProfile(r[0], r[1], int(r[2]), bytes(r[3])) for r in rows]

    # -- answers ----------------------------------------------------------------------------------

    def answer_for(self, request_id: uuid.UUID) -> StoredAnswer | None:
        rows = self.db.read(
            "SELECT request_id, session_id, response, delivered FROM wan_answers"
            " WHERE request_id = ?", (str(request_id),))
        return _answer(rows[0]) if rows else None

    def pending_answer(self) -> StoredAnswer | None:
        """The newest answer the GWA has not confirmed (the ``pendingResult`` to deliver)."""
        rows = self.db.read(
            "SELECT request_id, session_id, response, delivered FROM wan_answers"
            " WHERE delivered = 0 ORDER BY seq DESC LIMIT 1")
        return _answer(rows[0]) if rows else None

    def mark_delivered(self, request_id: uuid.UUID) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE wan_answers SET delivered = 1 WHERE request_id = ?",
                         (str(request_id),))

    # -- events -----------------------------------------------------------------------------------

    def next_events(self, limit: int) -> list[QueuedEvent]:
        rows = self.db.read(
            "SELECT seq, id, code, xml FROM wan_events ORDER BY seq LIMIT ?", (limit,))
        return [QueuedEvent(int(r[0]), uuid.UUID(r[1]), int(r[2]), bytes(r[3])) for r in rows]

    def ack_events(self, ids: list[uuid.UUID]) -> int:
        """Remove acknowledged events; returns how many left the queue."""
        removed = 0
        with self.db.write() as conn:
            for event_id in ids:
                removed += conn.execute("DELETE FROM wan_events WHERE id = ?",
                                        (str(event_id),)).rowcount
        return removed

    def queued_events(self) -> int:
        return int(self.db.read("SELECT COUNT(*) FROM wan_events")[0][0])

    # -- meters and meta --------------------------------------------------------------------------

    def meters(self) -> dict[str, tuple[bool, str | None]]:
        rows = self.db.read("SELECT server_id, paired, tls_sha256 FROM wan_meters")
        return {r[0]: (bool(r[1]), r[2]) for r in rows}

    def meta(self, key: str) -> str | None:
        rows = self.db.read("SELECT value FROM wan_meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO wan_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                " SET value = excluded.value", (key, value))


def _answer(row: object) -> StoredAnswer:
    r = row  # sqlite3.Row
    return StoredAnswer(uuid.UUID(r[0]), uuid.UUID(r[1]), bytes(r[2]), bool(r[3]))  # type: ignore[index]
