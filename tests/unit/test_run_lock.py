"""Run locks: one process drives a run; a killed process frees it (app.store.run_lock)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.errors import Text
from app.processes.engine import Engine, Flow, Step, StepContext, StepOutcome
from app.processes.unfinished import unfinished_runs
from app.store.audit import AuditLog
from app.store.db import JobStore
from app.store.run_lock import LOCK_FOLDER, RunBusy, RunLock, driven_elsewhere

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from app.store.run_lock import RunLock
    lock = RunLock(Path(sys.argv[1]), sys.argv[2])
    assert lock.acquire()
    print("held", flush=True)
    time.sleep(60)
""")


def hold_in_child(folder: Path, run_id: str) -> subprocess.Popen[str]:
    """Another process (a second window, ``smgwct flow``) that drives ``run_id``."""
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), run_id],
                             stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_one_holder_at_a_time_and_release_frees_it(tmp_path):
    first, second = RunLock(tmp_path, "run/1"), RunLock(tmp_path, "run/1")
    assert first.acquire() and first.held
    assert not second.acquire() and driven_elsewhere(tmp_path, "run/1")
    with pytest.raises(RunBusy) as busy:
        second.hold()
    assert busy.value.field == "run_id" and "anderen Fenster" in busy.value.message.de
    first.release()
    assert not driven_elsewhere(tmp_path, "run/1")
    with second:
        assert second.held
    assert not second.held and first.path.name == "run_1.lock"


def test_a_killed_holder_frees_the_run(tmp_path):
    child = hold_in_child(tmp_path, "run-7")
    try:
        assert driven_elsewhere(tmp_path, "run-7")
    finally:
        child.kill()
        child.wait(10)
    assert not driven_elsewhere(tmp_path, "run-7")  # the operating system dropped the lock


async def step(ctx: StepContext) -> StepOutcome:
    return StepOutcome({}, Text("done", "erledigt"))


FLOW = Flow("fake", Text("Fake", "Fake"), [Step("only", Text("Only", "Nur"), step)])


async def test_a_run_driven_elsewhere_is_neither_offered_nor_resumed(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    audit = AuditLog(tmp_path / "audit.sqlite3")
    store.create_run("run-9", "fake", {})
    store.start_step("run-9", "only")
    child = hold_in_child(tmp_path / LOCK_FOLDER, "run-9")
    try:
        assert unfinished_runs(store, ["fake"]) == []
        engine = Engine(store, audit, interaction=None)  # type: ignore[arg-type]
        with pytest.raises(RunBusy):
            await engine.resume("run-9", FLOW)
        assert not engine.is_running("run-9")
    finally:
        child.kill()
        child.wait(10)
    try:
        [offered] = unfinished_runs(store, ["fake"])
        assert offered.run_id == "run-9" and offered.interrupted
        result = await engine.resume("run-9", FLOW)
        assert result.succeeded
    finally:
        store.close()
        audit.close()
