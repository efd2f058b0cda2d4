"""Shared helpers of the kill-and-resume tests: a job flow runs in a child process
(``flow_child.py``) against a flow world served by the test process, is killed with SIGKILL at an
observable point, and is resumed in the test process.

Two ways to hold the child at a known point:

* :func:`slow_answer_to`: the GWA waits before answering one of its processes (the handover and
  pairing tests);
* :func:`hold_han_request_in`: the virtual SMGW's HAN side waits before answering the first HAN
  request the child sends while a given step of its run is the current one (the discovery,
  technical data and logs tests).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.processes.flows.gwa_common import RequestLedger, ledger_path
from app.store.audit import AuditLog
from app.store.db import JobStore, StepState
from app.store.jobs import WorkOrderStore
from tests.e2e.conftest import FlowWorld

CHILD = Path(__file__).with_name("flow_child.py")
ROOT = Path(__file__).resolve().parents[2]
TRUST = "Trust this gateway certificate?"
STALL = 3.0  # seconds the gateway waits before answering the request the child is killed in
HOLD = 20.0  # seconds the HAN side holds a request the child is killed in (dropped after)


async def until(condition: Callable[[], bool], proc: asyncio.subprocess.Process, what: str,
                timeout: float = 25.0) -> None:
    """Wait for ``condition``; fail at once if the child ends first, or after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if condition():
            return
        if proc.returncode is not None:
            err = (await proc.stderr.read()).decode() if proc.stderr else ""
            pytest.fail(f"the child ended ({proc.returncode}) before {what}:\n{err[-3000:]}")
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


async def start_child(world: FlowWorld, flow: str, run_id: str, data: dict[str, Any],
                      answers: dict[str, Any], **options: Any) -> asyncio.subprocess.Process:
    """Run ``flow`` (registry name) as ``run_id`` in ``flow_child.py`` against ``world``;
    ``options`` go into the child's config as they are (e.g. ``pause_before_device``)."""
    config = {**world.child_config(), "flow": flow, "run_id": run_id, "data": data,
              "answers": answers, **options}
    path = world.tmp / f"{run_id}.json"
    path.write_text(json.dumps(config), "utf-8")
    return await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(path), cwd=str(ROOT),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def kill(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the child and make sure it died of it."""
    proc.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL
    if proc.stderr is not None:
        await proc.stderr.read()


async def reap(proc: asyncio.subprocess.Process) -> None:
    """Kill a child the test left running (a failed assertion)."""
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def slow_answer_to(world: FlowWorld, process: str) -> asyncio.Event:
    """Make the gateway wait STALL seconds before answering the GWA ``process``; the event says
    the GWA started it."""
    started = asyncio.Event()

    def before(name: str) -> None:
        if name == process:
            world.wan.faults.stall_before_result = STALL
            started.set()

    world.core.before = before
    return started


class _HeldHan:
    """The virtual SMGW's HAN settings with ``response_delay`` decided per request.

    The HAN server reads ``state.han.response_delay`` once for every request, before handling
    it (the scenario fault ``slow_responses``); every other setting is the original one.
    """

    def __init__(self, settings: Any, decide: Callable[[float], float]) -> None:
        self._settings = settings
        self._decide = decide

    def __getattr__(self, name: str) -> Any:
        return getattr(self._settings, name)

    @property
    def response_delay(self) -> float:
        return self._decide(self._settings.response_delay)


def current_step(world: FlowWorld, run_id: str) -> str | None:
    """The step of ``run_id`` that is running now (its last visit is STARTED), if any."""
    stored = visits(world, run_id)
    return stored[-1][0] if stored and stored[-1][1] is StepState.STARTED else None


class HanHold:
    """The first HAN request of one step, held back by the virtual SMGW (see
    :func:`hold_han_request_in`)."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None

    def is_set(self) -> bool:
        """Whether the request arrived (and is being held)."""
        return self.arrived.is_set()

    def take(self) -> None:
        self._task = asyncio.current_task()
        self.arrived.set()

    async def drop(self) -> None:
        """End the held request on the gateway's side (after the child was killed), so that
        the world stops without waiting for the hold to run out."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=5.0)


def hold_han_request_in(world: FlowWorld, run_id: str, step: str,
                        seconds: float = HOLD) -> HanHold:
    """Make the virtual SMGW wait ``seconds`` before answering the first HAN request that
    arrives while ``step`` is the current step of ``run_id`` (read from the stored visits when
    the request arrives). Later requests are answered as configured (the resume in the test
    process)."""
    hold = HanHold()

    def decide(configured: float) -> float:
        if not hold.is_set() and current_step(world, run_id) == step:
            hold.take()
            return seconds
        return configured

    world.state.han = _HeldHan(world.state.han, decide)  # type: ignore[assignment]
    return hold


def visits(world: FlowWorld, run_id: str) -> list[tuple[str, StepState]]:
    """The stored visits of ``run_id`` (step, state) in order."""
    folder = world.context.data_dir
    assert folder is not None
    with JobStore(folder / "jobs.sqlite3") as store:
        return [(v.step, v.state) for v in store.steps(run_id)]


def ledger_entries(world: FlowWorld, run_id: str) -> list[Any]:
    ledger = RequestLedger(ledger_path(world.context))
    try:
        return ledger.entries(run_id)
    finally:
        ledger.close()


def stored_job(world: FlowWorld, job_id: str) -> Any:
    """The job as the job list holds it (runs, devices, certificates, notes)."""
    folder = world.context.data_dir
    assert folder is not None
    with WorkOrderStore(folder / "work_orders.sqlite3", folder / "jobs") as store:
        return store.get(job_id)


def job_runs(world: FlowWorld, job_id: str) -> list[tuple[str, str]]:
    return [(r.run_id, r.flow) for r in stored_job(world, job_id).runs]


def audit_verifies(world: FlowWorld) -> bool:
    folder = world.context.data_dir
    assert folder is not None
    audit = AuditLog(folder / "audit.sqlite3")
    try:
        return bool(audit.verify().ok)
    finally:
        audit.close()
