"""Hash-chained, append-only audit log (Prüfprotokoll) of a commissioning.

Storage: a SQLite table (in its own file by default, ``audit.sqlite3`` in the data folder), not a
JSON-lines file. SQLite gives an atomic, fsync'ed append and a cross-process lock for free, so two
processes appending at once cannot fork the chain and a crash cannot leave half an entry.
Triggers refuse ``UPDATE`` and ``DELETE``; that stops accidents, not an attacker with the file,
which is what the hash chain is for.

Each entry is ``{seq, time, actor, action, payload, prev_hash, hash}`` where
``hash = SHA-256(canonical JSON of all other fields)``; canonical JSON is UTF-8 with sorted keys,
no whitespace and no NaN. The first entry's ``prev_hash`` is 64 zeros. Changing, deleting or
reordering entries breaks the chain and :meth:`AuditLog.verify` names the first bad entry.
Removing entries at the *end* leaves a valid shorter chain: to detect that, keep the
:meth:`AuditLog.head_hash` elsewhere (the commissioning report prints it) and pass it to
``verify(expected_head=…)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from app.errors import Text
from app.store.db import Database, Migration, utc_text

GENESIS_HASH = "0" * 64

AUDIT_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        """
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            time TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            payload TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        """,
    ),
)


def canonical_json(value: Any) -> str:
    """The one JSON spelling of ``value`` that the hashes are computed over."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
        default=_mapping_as_dict,
    )


def _mapping_as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def entry_hash(
    seq: int, time: str, actor: str, action: str, payload: Mapping[str, Any], prev_hash: str
) -> str:
    """SHA-256 (hex) of an entry's canonical JSON, including the previous entry's hash."""
    body = {
        "seq": seq,
        "time": time,
        "actor": actor,
        "action": action,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log."""

    seq: int
    time: str
    actor: str
    action: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


Problem = Literal["altered", "missing", "reordered", "broken_chain", "truncated"]


@dataclass(frozen=True)
class AuditVerdict:
    """Result of :meth:`AuditLog.verify`; true when the log is intact.

    ``bad_seq`` is the position of the first bad entry (for ``missing``: the number that is
    absent), ``problem`` says what is wrong there, ``message`` says it in both languages.
    ``head_hash`` is the hash of the last entry that verified.
    """

    ok: bool
    entries: int
    head_hash: str
    bad_seq: int | None = None
    problem: Problem | None = None
    message: Text | None = None

    def __bool__(self) -> bool:
        return self.ok


class AuditLog:
    """The append-only, hash-chained log; one instance per file, usable from several threads."""

    def __init__(self, path: str | Path) -> None:
        self.db = Database(path, "audit", AUDIT_MIGRATIONS)
        self.path = self.db.path

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, actor: str, action: str, payload: Mapping[str, Any]) -> AuditEntry:
        """Add an entry (committed and fsync'ed when this returns)."""
        # Normalise once, so that the stored text and the hashed value are the same JSON.
        clean = json.loads(canonical_json(dict(payload)))
        time = utc_text()
        with self.db.write() as conn:
            row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (int(row[0]) + 1, row[1]) if row else (1, GENESIS_HASH)
            digest = entry_hash(seq, time, actor, action, clean, prev)
            conn.execute(
                "INSERT INTO audit(seq, time, actor, action, payload, prev_hash, hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, time, actor, action, canonical_json(clean), prev, digest),
            )
        return AuditEntry(seq, time, actor, action, clean, prev, digest)

    def head_hash(self) -> str:
        """Hash of the newest entry (64 zeros for an empty log)."""
        rows = self.db.read("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1")
        return str(rows[0][0]) if rows else GENESIS_HASH

    def __len__(self) -> int:
        return int(self.db.read("SELECT COUNT(*) FROM audit")[0][0])

    def entries(self, *, run_id: str | None = None) -> list[AuditEntry]:
        """All entries in order, or those whose payload names ``run_id``.

        An entry whose stored payload is not a JSON object (damaged file) is returned with the
        raw text under ``payload["unreadable"]``; :meth:`verify` reports it.
        """
        out = []
        for row in self._rows():
            entry = _entry(row) or AuditEntry(
                seq=int(row["seq"]),
                time=str(row["time"]),
                actor=str(row["actor"]),
                action=str(row["action"]),
                payload={"unreadable": str(row["payload"])},
                prev_hash=str(row["prev_hash"]),
                hash=str(row["hash"]),
            )
            if run_id is None or entry.payload.get("run_id") == run_id:
                out.append(entry)
        return out

    def _rows(self) -> Iterator[Any]:
        yield from self.db.read(
            "SELECT seq, time, actor, action, payload, prev_hash, hash FROM audit ORDER BY seq"
        )

    def verify(self, *, expected_head: str | None = None) -> AuditVerdict:
        """Check every entry and the chain; name the first bad entry.

        ``expected_head``: a head hash recorded earlier (e.g. in a report); entries appended
        after it are fine, but the log must still contain it.
        """
        rows = list(self._rows())
        hashes = {str(r["hash"]) for r in rows}
        all_seqs = [int(r["seq"]) for r in rows]
        prev = GENESIS_HASH
        expected = 1
        for row in rows:
            seq = int(row["seq"])
            if seq != expected:
                return _bad(len(rows), prev, expected, "missing")
            entry = _entry(row)
            if entry is None or entry_hash(
                seq, entry.time, entry.actor, entry.action, entry.payload, entry.prev_hash
            ) != entry.hash:
                moved_from = _original_seq(entry, all_seqs) if entry is not None else None
                if moved_from is not None and entry is not None and entry.prev_hash in hashes:
                    return _bad(len(rows), prev, seq, "reordered", moved_from)
                if moved_from is not None:
                    return _bad(len(rows), prev, seq, "missing")
                return _bad(len(rows), prev, seq, "altered")
            if entry.prev_hash != prev:
                if entry.prev_hash in hashes:
                    return _bad(len(rows), prev, seq, "reordered")
                return _bad(len(rows), prev, seq, "broken_chain")
            prev = entry.hash
            expected += 1
        if expected_head is not None and expected_head != GENESIS_HASH and (
            expected_head not in hashes
        ):
            return _bad(len(rows), prev, expected, "truncated")
        return AuditVerdict(ok=True, entries=len(rows), head_hash=prev)


def _entry(row: Any) -> AuditEntry | None:
    try:
        payload = json.loads(row["payload"])
    except (TypeError, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    return AuditEntry(
        seq=int(row["seq"]),
        time=str(row["time"]),
        actor=str(row["actor"]),
        action=str(row["action"]),
        payload=payload,
        prev_hash=str(row["prev_hash"]),
        hash=str(row["hash"]),
    )


def _original_seq(entry: AuditEntry, seqs: list[int]) -> int | None:
    """The position whose number makes this entry's hash valid, if it was only renumbered."""
    for candidate in seqs + [max(seqs, default=0) + 1]:
        if candidate != entry.seq and entry_hash(
            candidate, entry.time, entry.actor, entry.action, entry.payload, entry.prev_hash
        ) == entry.hash:
            return candidate
    return None


_PROBLEM_TEXT: dict[str, tuple[str, str]] = {
    "altered": (
        "Audit entry {seq} was changed after it was written.",
        "Prüfprotokoll-Eintrag {seq} wurde nachträglich verändert.",
    ),
    "missing": (
        "Audit entry {seq} is missing (deleted).",
        "Prüfprotokoll-Eintrag {seq} fehlt (gelöscht).",
    ),
    "reordered": (
        "Audit entry {seq} is not in its original place (entries were reordered).",
        "Prüfprotokoll-Eintrag {seq} steht nicht an seiner ursprünglichen Stelle "
        "(Einträge wurden vertauscht).",
    ),
    "broken_chain": (
        "Audit entry {seq} does not continue the chain of the entries before it.",
        "Prüfprotokoll-Eintrag {seq} setzt die Kette der vorherigen Einträge nicht fort.",
    ),
    "truncated": (
        "The audit log ends before the recorded last entry: entries from {seq} on were removed.",
        "Das Prüfprotokoll endet vor dem festgehaltenen letzten Eintrag: Einträge ab {seq} "
        "wurden entfernt.",
    ),
}


def _bad(
    count: int, head: str, seq: int, problem: Problem, moved_from: int | None = None
) -> AuditVerdict:
    en, de = _PROBLEM_TEXT[problem]
    message = Text(en.format(seq=seq), de.format(seq=seq))
    if moved_from is not None:
        message = Text(
            f"{message.en} It was written as entry {moved_from}.",
            f"{message.de} Er wurde als Eintrag {moved_from} geschrieben.",
        )
    return AuditVerdict(
        ok=False, entries=count, head_hash=head, bad_seq=seq, problem=problem, message=message
    )


__all__ = [
    "AUDIT_MIGRATIONS",
    "GENESIS_HASH",
    "AuditEntry",
    "AuditLog",
    "AuditVerdict",
    "canonical_json",
    "entry_hash",
]
