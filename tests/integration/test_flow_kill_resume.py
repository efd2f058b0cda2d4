"""Job flows killed with SIGKILL while the GWA works for them resume cleanly in another process.

The demo world (virtual SMGW with HAN and WAN side, reference GWA) runs in the test process; the
flow runs in a child process (``flow_child.py``). The gateway is made slow to answer the one
request that matters (the GWA profile update of the handover, the pairing), so the child can be
killed after the gateway carried the request out and before the tool heard about it. The resume
(here, in the test process) must not run the GWA process again, must not ask anything, and must
end with every step's result: the ones done before the kill and the one that was interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.domain import ServerId
from app.processes.events import StepSkipped
from app.processes.flows.handover import HANDOVER
from app.processes.flows.pairing import CRYPTO_RESET_PROMPT, PAIRING
from app.sim.smgw.state import CertificateState
from app.store.db import StepState
from tests.e2e.conftest import HEAT_PUMP, flow_world, work_order
from tests.integration.kill_support import (
    TRUST,
    audit_verifies,
    job_runs,
    kill,
    ledger_entries,
    slow_answer_to,
    start_child,
    until,
    visits,
)

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL"),
]


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
        assert audit_verifies(world)


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
