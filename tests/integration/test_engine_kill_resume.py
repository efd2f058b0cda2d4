"""A run killed with SIGKILL in step 3 resumes in another process without repeating steps 1-2."""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from app.processes.engine import Engine
from app.processes.events import Event, FlowFinished, FlowStarted, StepSkipped, StepStarted
from app.processes.interaction import ScriptedInteraction
from app.store.audit import AuditLog
from app.store.db import JobStore, RunState, StepState

pytestmark = [
    pytest.mark.posix,
    pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL"),
]

CHILD = Path(__file__).with_name("engine_child.py")


def load_child() -> ModuleType:
    spec = importlib.util.spec_from_file_location("engine_child", CHILD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_for(
    condition: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, timeout: float = 15.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"child exited ({proc.returncode}) before {what}:\n{err}")
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def run_child_and_kill(tmp_path: Path, run_id: str, *, idempotent: bool) -> None:
    jobs, audit, marker = tmp_path / "jobs.sqlite3", tmp_path / "audit.sqlite3", tmp_path / "m"
    args = [sys.executable, str(CHILD), str(jobs), str(audit), str(marker), run_id]
    if not idempotent:
        args.append("--non-idempotent")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: "three" in lines(marker), proc, "step three to start")
        with JobStore(jobs) as store:
            # Steps 1-2 are committed as succeeded and step 3 as started before it runs.
            visits = [(v.step, v.state) for v in store.steps(run_id)]
            assert visits == [("one", StepState.SUCCEEDED), ("two", StepState.SUCCEEDED),
                              ("three", StepState.STARTED)]
        assert proc.poll() is None, "the child must still be blocked in step three"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.parametrize("idempotent", [True, False], ids=["idempotent", "non-idempotent"])
def test_sigkill_in_step_three_then_resume(tmp_path: Path, idempotent: bool) -> None:
    run_id = "job-kill-1"
    run_child_and_kill(tmp_path, run_id, idempotent=idempotent)
    marker = tmp_path / "m"
    assert lines(marker) == ["one", "two", "three"]

    child = load_child()
    flow = child.build_flow(marker, block_in_three=False, three_idempotent=idempotent)
    ui = ScriptedInteraction([] if idempotent else [True])  # a question without answer fails
    seen: list[Event] = []

    async def resume() -> object:
        with JobStore(tmp_path / "jobs.sqlite3") as store, \
                AuditLog(tmp_path / "audit.sqlite3") as audit:
            assert store.get_run(run_id).state == RunState.RUNNING  # type: ignore[union-attr]
            engine = Engine(store, audit, ui)
            engine.subscribe(seen.append)
            result = await engine.resume(run_id, flow)
            states = [(v.step, v.state) for v in store.steps(run_id)]
            verdict = audit.verify()
            actions = [e.action for e in audit.entries(run_id=run_id)]
            return result, states, verdict, actions, store.get_run(run_id)

    result, states, verdict, actions, run = asyncio.run(resume())  # type: ignore[misc]

    assert result.succeeded, result.error
    assert lines(marker) == ["one", "two", "three", "three", "four"]  # 1-2 not re-run
    assert result.results["three"].data == {"seen": ["one", "two"], "job": "K-1"}
    assert result.results["two"].data == {"paired_with": "1EMH0012345678"}
    assert run.state == RunState.SUCCEEDED
    assert states == [
        ("one", StepState.SUCCEEDED), ("two", StepState.SUCCEEDED),
        ("three", StepState.INTERRUPTED), ("three", StepState.SUCCEEDED),
        ("four", StepState.SUCCEEDED),
    ]
    assert isinstance(seen[0], FlowStarted) and seen[0].resumed
    assert [e.step for e in seen if isinstance(e, StepSkipped)] == ["one", "two"]
    assert [e.step for e in seen if isinstance(e, StepStarted)] == ["three", "four"]
    assert isinstance(seen[-1], FlowFinished) and seen[-1].outcome == "succeeded"
    # One audit chain across both processes, including the interruption.
    assert verdict.ok, verdict.message
    assert actions[:5] == ["flow.started", "step.started", "step.succeeded", "step.started",
                           "step.succeeded"]
    assert "step.interrupted" in actions and actions[-1] == "flow.finished"
    if idempotent:
        assert ui.asked == []
    else:
        assert len(ui.asked) == 1 and "interrupted" in ui.asked[0].prompt.en
        assert "step.repeat_confirmed" in actions
