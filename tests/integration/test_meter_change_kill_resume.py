"""A meter change killed with SIGKILL while the GWA creates the new meter's profile (the old
meter's profiles are deleted already) resumes in another process without running any GWA process
twice: the stored idempotency key finds the GWA's job again.

The simulators (virtual meters, read head, virtual SMGW, reference GWA) run in this process; the
flow runs in a child process (``meter_change_child.py``) until it is killed, then resumes here.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from app.processes.events import StepSkipped, StepStarted
from app.processes.flows.gwa_common import RequestLedger, ledger_path
from app.processes.flows.meter_change import (
    METER_CHANGE,
    NOTE_PROMPT,
    SEAL_PROMPT,
    SWAP_PROMPT,
)
from app.store.audit import AuditLog
from app.store.db import JobStore, RunState, StepState
from tests.e2e.conftest import CONSUMER, HEAT_PUMP, HOUSEHOLD, work_order
from tests.e2e.test_meter_change_world import MeterSite, meter_change_world

pytestmark = [
    pytest.mark.posix,
    pytest.mark.timeout(90),
    pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL"),
]

CHILD = Path(__file__).with_name("meter_change_child.py")
RUN_ID = "meter-change-kill-1"
ANSWERS = {"Trust this gateway certificate?": True, SEAL_PROMPT.en: "DE-4711-0815",
           NOTE_PROMPT.en: "", SWAP_PROMPT.en: True}
DATA = {"job": work_order("meter-change"), "users": {"consumer": CONSUMER},
        "gwa_retry_seconds": 0.2, "detect_seconds": 5, "values_wait_seconds": 5}


def gate_the_profile_creation(site: MeterSite) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold the GWA's ``meter_profile.create`` job until ``release`` is set; ``arrived`` tells
    that the request reached the GWA."""
    gwa = site.world.core.gwa  # behind the counting wrapper: the request is counted first
    arrived, release = asyncio.Event(), asyncio.Event()
    original = gwa.run_process

    async def gated(smgw_id: str, process: str, params: dict[str, Any],
                    progress: Any = None) -> Any:
        if process == "meter_profile.create":
            arrived.set()
            await release.wait()
        return await original(smgw_id, process, params, progress)

    gwa.run_process = gated  # type: ignore[method-assign]
    return arrived, release


async def drive_child(site: MeterSite, config_path: Path, control: Path,
                      arrived: asyncio.Event) -> asyncio.subprocess.Process:
    """Start the child, do the physical swap when it asks, return once the GWA holds the
    profile creation."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(config_path), RUN_ID,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 45
    while not arrived.is_set():
        if proc.returncode is not None:
            err = (await proc.stderr.read()).decode() if proc.stderr else ""
            pytest.fail(f"child exited ({proc.returncode}) early:\n{err}")
        if loop.time() > deadline:
            proc.kill()
            pytest.fail("the child never asked the GWA to create the meter profile")
        if (control / "swap-request").exists() and not (control / "swap-done").exists():
            old, new = (control / "swap-request").read_text("utf-8").split()
            await site.swap_meter(old, new)
            (control / "swap-done").write_text("done", "utf-8")
        await asyncio.sleep(0.02)
    return proc


async def test_sigkill_while_creating_the_new_meter_profile_then_resume(demo_pki, tmp_path):
    async with meter_change_world(demo_pki, tmp_path) as site:
        world = site.world
        arrived, release = gate_the_profile_creation(site)
        control = tmp_path / "control"
        control.mkdir()
        config = {**world.child_config(), "optical": site.head_url, "data": DATA,
                  "answers": ANSWERS, "control": str(control)}
        config_path = tmp_path / "child.json"
        config_path.write_text(json.dumps(config), "utf-8")

        proc = await drive_child(site, config_path, control, arrived)
        # the key of the request was stored before it was sent
        ledger = RequestLedger(ledger_path(world.context))
        try:
            [entry] = [e for e in ledger.entries(RUN_ID) if e.step == "create_profile"]
        finally:
            ledger.close()
        assert entry.process == "meter_profile.create" and entry.state == "sent"
        assert world.state.meter(HOUSEHOLD) is None  # the old meter's profile is gone already
        proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL
        if proc.stderr is not None:
            await proc.stderr.read()
        release.set()  # the GWA finishes the job the killed tool had started

        folder = world.context.data_dir
        assert folder is not None
        with JobStore(folder / "jobs.sqlite3") as store:
            run = store.get_run(RUN_ID)
            assert run is not None and run.state == RunState.RUNNING
            assert store.steps(RUN_ID)[-1].step == "create_profile"
        before = list(world.core.processes)
        assert before.count("meter_profile.create") == 1

        engine = world.engine({})  # nothing may be asked again
        result = await engine.resume(RUN_ID, METER_CHANGE)
        assert result.succeeded, (result.failed_step, result.error, result.hint)
        assert world.ui.asked == []

        # no GWA process ran twice: the creation was found again by its key
        processes = world.core.processes
        assert processes.count("meter_profile.delete") == 1
        assert processes.count("evaluation_profile.delete") == 2
        assert processes.count("meter_profile.create") == 1
        assert processes[len(before):] == ["pairing", "evaluation_profile.create",
                                           "evaluation_profile.create"]
        created = result.results["create_profile"].data
        assert created["gwa"]["idempotency_key"] == str(entry.key)
        assert created["gwa"]["resumed"] and created["gwa"]["replayed"]
        assert not created["existed"]
        assert world.state.meter(HEAT_PUMP).paired  # type: ignore[union-attr]

        # the earlier steps were not run again; the interrupted one was
        skipped = [e.step for e in world.events if isinstance(e, StepSkipped)]
        assert skipped == ["job", "trust", "identity", "gwa", "old_reading", "old_seal",
                           "old_config", "remove_old", "swap", "new_reading"]
        assert [e.step for e in world.events if isinstance(e, StepStarted)][0] == \
            "create_profile"
        with JobStore(folder / "jobs.sqlite3") as store:
            states = [(v.step, v.state) for v in store.steps(RUN_ID)]
        assert ("create_profile", StepState.INTERRUPTED) in states
        assert states[-1] == ("summary", StepState.SUCCEEDED)
        with AuditLog(folder / "audit.sqlite3") as audit:
            verdict = audit.verify()
            actions = [e.action for e in audit.entries(run_id=RUN_ID)]
        assert verdict.ok, verdict.message
        assert "step.interrupted" in actions
