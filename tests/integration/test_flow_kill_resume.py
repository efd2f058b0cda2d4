"""Job flows killed with SIGKILL while the GWA works for them resume cleanly in another process.

The demo world (virtual SMGW with HAN and WAN side, reference GWA) runs in the test process; the
flow runs in a child process (``flow_child.py``). The gateway is made slow to answer the one
request that matters (the GWA profile update of the handover, the pairing), so the child can be
killed after the gateway carried the request out and before the tool heard about it. The resume
(here, in the test process) must not run the GWA process again, must not ask anything, and must
end with every step's result: the ones done before the kill and the one that was interrupted.
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

from app.domain import ServerId
from app.processes.events import StepSkipped
from app.processes.flows.gwa_common import RequestLedger, ledger_path
from app.processes.flows.handover import HANDOVER
from app.processes.flows.pairing import CRYPTO_RESET_PROMPT, PAIRING
from app.sim.smgw.state import CertificateState
from app.store.audit import AuditLog
from app.store.db import JobStore, StepState
from app.store.jobs import WorkOrderStore
from tests.e2e.conftest import HEAT_PUMP, FlowWorld, flow_world, work_order

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL"),
]

CHILD = Path(__file__).with_name("flow_child.py")
ROOT = Path(__file__).resolve().parents[2]
TRUST = "Trust this gateway certificate?"
STALL = 3.0  # seconds the gateway waits before answering the request the child is killed in


async def until(condition: Callable[[], bool], proc: asyncio.subprocess.Process, what: str,
                timeout: float = 25.0) -> None:
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
                      answers: dict[str, Any]) -> asyncio.subprocess.Process:
    config = {**world.child_config(), "flow": flow, "run_id": run_id, "data": data,
              "answers": answers}
    path = world.tmp / f"{run_id}.json"
    path.write_text(json.dumps(config), "utf-8")
    return await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(path), cwd=str(ROOT),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


def slow_answer_to(world: FlowWorld, process: str) -> asyncio.Event:
    """Make the gateway wait STALL seconds before answering ``process``; the event says the GWA
    started it."""
    started = asyncio.Event()

    def before(name: str) -> None:
        if name == process:
            world.wan.faults.stall_before_result = STALL
            started.set()

    world.core.before = before
    return started


async def kill(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL
    if proc.stderr is not None:
        await proc.stderr.read()


def visits(world: FlowWorld, run_id: str) -> list[tuple[str, StepState]]:
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


def job_runs(world: FlowWorld, job_id: str) -> list[tuple[str, str]]:
    folder = world.context.data_dir
    assert folder is not None
    with WorkOrderStore(folder / "work_orders.sqlite3", folder / "jobs") as store:
        return [(r.run_id, r.flow) for r in store.get(job_id).runs]


async def test_handover_killed_during_the_profile_update_resumes_without_repeating(
        demo_pki, tmp_path: Path):
    run_id = "kill-handover"
    async with flow_world(demo_pki, tmp_path) as world:
        started = slow_answer_to(world, "communication_profile.update")
        data = {"job": work_order(), "gwa_retry_seconds": 0.2, "event_settle_seconds": 0.3}
        proc = await start_child(world, "handover", run_id, data, {TRUST: True})
        try:
            await until(started.is_set, proc, "the GWA profile update to start")
            # the gateway carried the update out (Gütesiegel -> Wirkzertifikat); its answer is
            # still held back, so the GWA job and the child's step are both still running
            await until(lambda: world.state.wan_certificate_state
                        is CertificateState.WIRKZERTIFIKAT, proc, "the update to be applied")
            assert proc.returncode is None
            await kill(proc)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert visits(world, run_id)[-1] == ("handover", StepState.STARTED)
        before = [(e.purpose, e.key) for e in ledger_entries(world, run_id)
                  if e.step == "handover"]
        assert ("GWA profile update" in dict(before))  # key stored before the request

        engine = world.engine([])  # a clean resume asks nothing
        result = await engine.resume(run_id, HANDOVER)
        assert result.succeeded, (result.failed_step, result.error, result.hint)
        assert world.ui.asked == []
        # the GWA ran the update once: the resumed step found the job by its stored key
        assert world.core.count("communication_profile.update") == 1
        update = result.results["handover"].data["gwa_profile"]["gwa"][1]
        assert update["process"] == "communication_profile.update"
        assert update["replayed"] and update["resumed"]
        assert dict(before)["GWA profile update"] == \
            next(e.key for e in ledger_entries(world, run_id) if e.purpose == "GWA profile update")
        assert result.results["handover"].data["state_after"] == "normal"
        # nothing lost: the steps before the kill were replayed, not run again
        skipped = [e.step for e in world.events if isinstance(e, StepSkipped)]
        assert skipped == ["job", "trust", "identity", "gwa"]
        assert result.results["identity"].data["smgw_id"] == "EDEM0100000001"
        assert result.results["verdict"].data["verdict"] == "normal-operation"
        assert [v for v in visits(world, run_id) if v[0] == "handover"] == [
            ("handover", StepState.INTERRUPTED), ("handover", StepState.SUCCEEDED)]
        assert job_runs(world, "DEMO-2025-0001") == [(run_id, "handover")]
        folder = world.context.data_dir
        assert folder is not None
        audit = AuditLog(folder / "audit.sqlite3")
        try:
            assert audit.verify().ok
        finally:
            audit.close()


async def test_pairing_killed_while_the_gwa_pairs_resumes_without_pairing_twice(
        demo_pki, tmp_path: Path):
    run_id = "kill-pairing"
    async with flow_world(demo_pki, tmp_path, certificates="wirkzertifikat",
                          unpaired=[HEAT_PUMP]) as world:
        meter = world.state.meter(ServerId.parse(HEAT_PUMP))
        assert meter is not None and not meter.paired
        started = slow_answer_to(world, "pairing")
        job = work_order(job_id="DEMO-2025-0002", flows=["pairing"],
                         meters=[{"server_id": HEAT_PUMP, "role": "new",
                                  "key_ref": f"demo:M-{HEAT_PUMP}"}])
        answers = {TRUST: True, CRYPTO_RESET_PROMPT.en: False}
        proc = await start_child(world, "pairing", run_id, {"job": job,
                                                            "gwa_retry_seconds": 0.2}, answers)
        try:
            await until(started.is_set, proc, "the pairing to start")
            await until(lambda: meter.paired, proc, "the meter to be paired")
            assert proc.returncode is None
            await kill(proc)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert visits(world, run_id)[-1] == ("pairing", StepState.STARTED)

        result = await world.engine([]).resume(run_id, PAIRING)
        assert result.succeeded, (result.failed_step, result.error, result.hint)
        assert world.ui.asked == []
        assert world.core.count("pairing") == 1
        pairing = result.results["pairing"].data
        assert pairing["gwa"]["replayed"] and pairing["gwa"]["resumed"]
        assert pairing["outcome"] == "paired" and not pairing["already_paired"]
        assert result.results["crypto_reset"].data == {"done": False}  # the answer was kept
        skipped = [e.step for e in world.events if isinstance(e, StepSkipped)]
        assert skipped == ["job", "trust", "identity", "gwa", "meter", "crypto_reset"]
        assert result.results["result"].data["paired"] is True
        assert job_runs(world, "DEMO-2025-0002") == [(run_id, "pairing")]
