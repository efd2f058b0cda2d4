"""Which stored runs are offered for resuming (app.processes.unfinished)."""

from __future__ import annotations

import datetime as dt

from app.errors import Text
from app.processes.unfinished import KEEP_OFFERING, unfinished_runs
from app.store.db import JobStore, RunState, StepError, StepState, utc_text

FLOWS = ["handover", "meter_change"]
JOB = {"job": {"job_id": "A-2026-0042", "smgw_id": "ETHE0390000001"}}


def _store(tmp_path) -> JobStore:
    store = JobStore(tmp_path / "jobs.sqlite3")
    # interrupted: the program stopped during the second step
    store.create_run("r-interrupted", "handover", JOB)
    seq = store.start_step("r-interrupted", "han_reachable")
    store.finish_step("r-interrupted", seq, StepState.SUCCEEDED, next_step="identity")
    store.start_step("r-interrupted", "identity")
    # failed at its first step
    store.create_run("r-failed", "meter_change", {})
    seq = store.start_step("r-failed", "final_reading")
    store.finish_step("r-failed", seq, StepState.FAILED, run_state=RunState.FAILED,
                      error=StepError(Text("no meter", "kein Zähler"), None, "error"))
    # done, of another program's flow, and driven right now: never offered
    store.create_run("r-done", "handover", JOB)
    seq = store.start_step("r-done", "han_reachable")
    store.finish_step("r-done", seq, StepState.SUCCEEDED, run_state=RunState.SUCCEEDED)
    store.create_run("r-foreign", "firmware_update", {})
    store.create_run("r-active", "handover", JOB)
    return store


def test_interrupted_and_failed_runs_are_offered_with_job_and_step(tmp_path):
    store = _store(tmp_path)
    try:
        runs = {r.run_id: r for r in unfinished_runs(store, FLOWS, active=["r-active"])}
    finally:
        store.close()
    assert set(runs) == {"r-interrupted", "r-failed"}
    interrupted = runs["r-interrupted"]
    assert interrupted.interrupted and interrupted.job_id == "A-2026-0042"
    assert interrupted.last_step == "identity" and interrupted.done_steps == 1
    failed = runs["r-failed"]
    assert not failed.interrupted and failed.state is RunState.FAILED
    assert failed.last_step == "final_reading" and failed.job_id is None


def test_old_failures_drop_out_but_interrupted_runs_stay(tmp_path):
    store = _store(tmp_path)
    later = dt.datetime.now(dt.UTC) + KEEP_OFFERING + dt.timedelta(hours=1)
    try:
        runs = unfinished_runs(store, FLOWS, active=["r-active"], now=later)
    finally:
        store.close()
    assert [r.run_id for r in runs] == ["r-interrupted"]


def test_newest_first(tmp_path):
    store = _store(tmp_path)
    try:
        with store.db.write() as conn:
            conn.execute("UPDATE runs SET updated = ? WHERE id = 'r-interrupted'",
                         (utc_text(dt.datetime.now(dt.UTC) - dt.timedelta(days=30)),))
        runs = unfinished_runs(store, FLOWS, active=["r-active"])
    finally:
        store.close()
    assert [r.run_id for r in runs] == ["r-failed", "r-interrupted"]
