"""The hash-chained audit log detects changed, deleted and reordered entries."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.store.audit import GENESIS_HASH, AuditLog, canonical_json
from app.store.db import StorageError


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.sqlite3"


@pytest.fixture
def filled(log_path: Path) -> Iterator[AuditLog]:
    log = AuditLog(log_path)
    for i in range(1, 6):
        log.append("technician" if i % 2 else "engine", f"action.{i}",
                   {"run_id": "r1", "n": i, "text": "Zählerstand ✓"})
    yield log
    log.close()


def tamper(path: Path, *statements: str) -> None:
    """Edit the file behind the program's back (the triggers only stop accidents)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    for sql in statements:
        conn.execute(sql)
    conn.close()


def test_entries_are_chained_with_sha256_over_canonical_json(filled: AuditLog) -> None:
    entries = filled.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    for before, entry in zip(entries, entries[1:], strict=False):
        assert entry.prev_hash == before.hash
    e = entries[2]
    body = {"seq": e.seq, "time": e.time, "actor": e.actor, "action": e.action,
            "payload": e.payload, "prev_hash": e.prev_hash}
    expected = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert e.hash == expected
    assert filled.head_hash() == entries[-1].hash
    assert e.time.endswith("+00:00")
    verdict = filled.verify()
    assert verdict.ok and bool(verdict) and verdict.entries == 5
    assert verdict.head_hash == entries[-1].hash


def test_empty_log(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        assert log.head_hash() == GENESIS_HASH
        assert log.verify().ok and len(log) == 0


def test_the_program_refuses_to_change_entries(filled: AuditLog, log_path: Path) -> None:
    with pytest.raises(StorageError), filled.db.write() as conn:
        conn.execute("UPDATE audit SET payload = '{}' WHERE seq = 2")
    other = sqlite3.connect(log_path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        other.execute("DELETE FROM audit WHERE seq = 1")
    other.close()
    assert filled.verify().ok


def test_changed_payload_is_named(filled: AuditLog, log_path: Path) -> None:
    tamper(log_path, "UPDATE audit SET payload = replace(payload, '\"n\":3', '\"n\":30')"
                     " WHERE seq = 3")
    assert filled.entries()[2].payload["n"] == 30  # the change really happened
    verdict = filled.verify()
    assert not verdict.ok
    assert (verdict.bad_seq, verdict.problem) == (3, "altered")
    assert verdict.message is not None and "3" in verdict.message.en
    assert "verändert" in verdict.message.de
    assert verdict.head_hash == filled.entries()[1].hash  # last good entry


def test_changed_actor_or_time_is_detected(filled: AuditLog, log_path: Path) -> None:
    tamper(log_path, "UPDATE audit SET actor = 'someone else' WHERE seq = 4")
    assert (filled.verify().bad_seq, filled.verify().problem) == (4, "altered")


def test_deleted_entry_is_named(filled: AuditLog, log_path: Path) -> None:
    tamper(log_path, "DELETE FROM audit WHERE seq = 2")
    verdict = filled.verify()
    assert (verdict.ok, verdict.bad_seq, verdict.problem) == (False, 2, "missing")
    assert "missing" in verdict.message.en  # type: ignore[union-attr]


def test_deleted_first_entry_is_named(filled: AuditLog, log_path: Path) -> None:
    tamper(log_path, "DELETE FROM audit WHERE seq = 1")
    assert (filled.verify().bad_seq, filled.verify().problem) == (1, "missing")


def test_deleted_and_renumbered_entries_are_still_caught(filled: AuditLog, log_path: Path) -> None:
    tamper(log_path, "DELETE FROM audit WHERE seq = 3",
           "UPDATE audit SET seq = seq - 1 WHERE seq > 3")
    verdict = filled.verify()
    assert (verdict.ok, verdict.bad_seq, verdict.problem) == (False, 3, "missing")


def test_swapped_entries_are_named(filled: AuditLog, log_path: Path) -> None:
    tamper(log_path,
           "UPDATE audit SET seq = -1 WHERE seq = 3",
           "UPDATE audit SET seq = 3 WHERE seq = 4",
           "UPDATE audit SET seq = 4 WHERE seq = -1")
    assert [e.payload["n"] for e in filled.entries()] == [1, 2, 4, 3, 5]
    verdict = filled.verify()
    assert (verdict.ok, verdict.bad_seq, verdict.problem) == (False, 3, "reordered")
    assert "written as entry 4" in verdict.message.en  # type: ignore[union-attr]


def test_forged_entry_with_recomputed_hash_breaks_the_chain(
    filled: AuditLog, log_path: Path
) -> None:
    # A forger rewrites entry 3 and even recomputes its own hash: entry 4 no longer fits.
    e = filled.entries()[2]
    payload = {**e.payload, "n": 99}
    body = {"seq": 3, "time": e.time, "actor": e.actor, "action": e.action,
            "payload": payload, "prev_hash": e.prev_hash}
    forged_hash = hashlib.sha256(canonical_json(body).encode()).hexdigest()
    tamper(log_path, f"UPDATE audit SET payload = '{canonical_json(payload)}', "
                     f"hash = '{forged_hash}' WHERE seq = 3")
    verdict = filled.verify()
    assert (verdict.bad_seq, verdict.problem) == (4, "broken_chain")


def test_truncation_is_found_with_a_recorded_head(filled: AuditLog, log_path: Path) -> None:
    head = filled.head_hash()
    assert filled.verify(expected_head=head).ok
    tamper(log_path, "DELETE FROM audit WHERE seq = 5")
    assert filled.verify().ok  # a shorter chain is still a chain ...
    verdict = filled.verify(expected_head=head)  # ... but not the one the report recorded
    assert (verdict.ok, verdict.problem, verdict.bad_seq) == (False, "truncated", 5)


def test_entries_appended_by_two_instances_form_one_chain(log_path: Path) -> None:
    a, b = AuditLog(log_path), AuditLog(log_path)
    try:
        for i in range(4):
            (a if i % 2 else b).append("engine", "x", {"i": i})
        assert [e.payload["i"] for e in a.entries()] == [0, 1, 2, 3]
        assert a.verify().ok and b.head_hash() == a.head_hash()
    finally:
        a.close()
        b.close()


def test_payload_must_be_json(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        with pytest.raises((TypeError, ValueError)):
            log.append("engine", "x", {"bad": object()})
        with pytest.raises(ValueError):
            log.append("engine", "x", {"nan": float("nan")})
        assert len(log) == 0


def test_entries_filtered_by_run(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        log.append("engine", "a", {"run_id": "r1"})
        log.append("engine", "b", {"run_id": "r2"})
        log.append("engine", "c", {"run_id": "r1"})
        assert [e.action for e in log.entries(run_id="r1")] == ["a", "c"]
