"""Device discovery and the job variant of technical data, killed with SIGKILL while the gateway
works for them, resume cleanly in another process.

The flow world (virtual SMGW, reference GWA) runs in the test process; the flow runs for a job in
a child process (``flow_child.py``). The virtual SMGW holds back its answer to the first HAN
request the child sends in the chosen step (the stored visits say which step runs when the
request arrives), and the child is killed while it waits for that answer. The resume, here in
the test process, must ask nothing, replay the steps done before the kill, run the interrupted
step again, and leave the job with the run attached once and the gateway recorded exactly as an
uninterrupted run records it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.processes.events import StepSkipped
from app.processes.flows import by_name
from app.store.db import StepState
from tests.e2e.conftest import HEAT_PUMP, HOUSEHOLD, SMGW, flow_world, work_order
from tests.integration.kill_support import (
    TRUST,
    audit_verifies,
    hold_han_request_in,
    job_runs,
    kill,
    reap,
    start_child,
    stored_job,
    until,
    visits,
)

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL"),
]

JOB_ID = "DEMO-2025-0001"
OTHER_JOB = "DEMO-2025-0099"  # the uninterrupted run to compare with


def gateway_records(job) -> list[tuple[str, str | None]]:
    """The job's gateway entries as (source, firmware version), in the order recorded."""
    return [(d.source, d.firmware_version) for d in job.devices if d.kind == "gateway"]


def recorded(job) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """What the job holds of devices and certificates, without times and run ids."""
    devices = [(d.kind, d.identifier, d.role, d.vendor, d.model, d.firmware_version,
                d.firmware_hash, d.source) for d in job.devices]
    certificates = [(c.owner, c.purpose, c.sha256, c.state) for c in job.certificates]
    return devices, certificates


async def uninterrupted(world, flow: str) -> tuple[list[tuple[object, ...]],
                                                   list[tuple[object, ...]]]:
    """What an uninterrupted run of ``flow`` records, in a job of its own."""
    result = await world.run(by_name(flow), {"job": work_order(job_id=OTHER_JOB)}, [])
    assert result.succeeded, (result.failed_step, result.error, result.hint)
    return recorded(stored_job(world, OTHER_JOB))


DISCOVERY_STEPS = ["job", "search", "gateway", "identity"]


@pytest.mark.parametrize("killed_in", ["search", "identity"])
async def test_discovery_killed_in_a_han_step_resumes_and_records_the_gateway_once(
        demo_pki, tmp_path: Path, killed_in: str):
    """Killed in ``search`` (a probe of the gateway waits for its answer) or in ``identity``
    (the HAN login waits, after the child confirmed the gateway's certificate)."""
    run_id = f"kill-discovery-{killed_in}"
    done = DISCOVERY_STEPS[:DISCOVERY_STEPS.index(killed_in)]
    async with flow_world(demo_pki, tmp_path) as world:
        held = hold_han_request_in(world, run_id, killed_in)
        proc = await start_child(world, "discovery", run_id, {"job": work_order()},
                                 {TRUST: True})
        try:
            await until(held.is_set, proc, f"the {killed_in} step's HAN request")
            assert proc.returncode is None
            await kill(proc)
        finally:
            await reap(proc)
            await held.drop()
        assert visits(world, run_id) == [(s, StepState.SUCCEEDED) for s in done] + [
            (killed_in, StepState.STARTED)]
        assert gateway_records(stored_job(world, JOB_ID)) == []  # killed before recording

        # the certificate confirmed in the child stays pinned; killed before that question,
        # the resume asks it (and nothing else)
        confirmed = killed_in == "identity"
        engine = world.engine({} if confirmed else {TRUST: True})
        result = await engine.resume(run_id, by_name("discovery"))
        assert result.succeeded, (result.failed_step, result.error, result.hint)
        assert [r.prompt.en for r in world.ui.asked] == ([] if confirmed else [TRUST])
        skipped = [e.step for e in world.events if isinstance(e, StepSkipped)]
        assert skipped == done
        [found] = result.results["search"].data["gateways"]
        assert found["smgw_id"] == SMGW
        assert result.results["gateway"].data["checked_against_work_order"]
        identity = result.results["identity"].data
        assert identity["smgw_id"] == SMGW and identity["discovered_sha256"] == found["sha256"]
        assert [v for v in visits(world, run_id) if v[0] == killed_in] == [
            (killed_in, StepState.INTERRUPTED), (killed_in, StepState.SUCCEEDED)]

        job = stored_job(world, JOB_ID)
        assert job_runs(world, JOB_ID) == [(run_id, "discovery")]
        # as in an uninterrupted run: once from the HAN login, once as found by discovery
        assert gateway_records(job) == [("han", "3.87.2"), ("discovery", None)]
        assert all(d.run_id == run_id for d in job.devices)
        fingerprints = [c.sha256 for c in job.certificates]
        assert len(fingerprints) == len(set(fingerprints))
        assert found["sha256"] in fingerprints
        assert audit_verifies(world)
        assert recorded(job) == await uninterrupted(world, "discovery")


async def test_technical_data_killed_while_reading_resumes_without_recording_twice(
        demo_pki, tmp_path: Path):
    """The job variant of technical data (``with_job``); logs has the same job steps and the
    same resume path, so this one test stands for both."""
    run_id = "kill-technical-data"
    async with flow_world(demo_pki, tmp_path) as world:
        held = hold_han_request_in(world, run_id, "read")
        proc = await start_child(world, "technical_data", run_id, {"job": work_order()},
                                 {TRUST: True})
        try:
            await until(held.is_set, proc, "the read step's HAN request")
            assert proc.returncode is None
            await kill(proc)
        finally:
            await reap(proc)
            await held.drop()
        assert visits(world, run_id) == [
            ("job", StepState.SUCCEEDED), ("trust", StepState.SUCCEEDED),
            ("job_identity", StepState.SUCCEEDED), ("read", StepState.STARTED)]
        # the identity step recorded the gateway before the kill
        before = stored_job(world, JOB_ID)
        assert gateway_records(before) == [("han", "3.87.2")]
        certificates = len(before.certificates)
        assert certificates > 0

        result = await world.engine([]).resume(run_id, by_name("technical_data"))
        assert result.succeeded, (result.failed_step, result.error, result.hint)
        assert world.ui.asked == []
        skipped = [e.step for e in world.events if isinstance(e, StepSkipped)]
        assert skipped == ["job", "trust", "job_identity"]
        assert result.results["job_identity"].data["smgw_id"] == SMGW
        assert result.results["read"].data["smgw_id"] == SMGW
        record = result.results["job_record"].data
        assert record["smgw_id"] == SMGW and set(record["meters"]) == {HOUSEHOLD, HEAT_PUMP}
        assert [v for v in visits(world, run_id) if v[0] == "read"] == [
            ("read", StepState.INTERRUPTED), ("read", StepState.SUCCEEDED)]

        job = stored_job(world, JOB_ID)
        assert job_runs(world, JOB_ID) == [(run_id, "technical_data")]
        # the replayed identity step did not record again, and the record step's identical
        # record of the same gateway in the same run is kept once
        assert gateway_records(job) == [("han", "3.87.2")]
        assert len(job.certificates) == certificates
        assert sorted(d.identifier for d in job.devices if d.kind == "meter") == sorted(
            [HOUSEHOLD, HEAT_PUMP])
        assert audit_verifies(world)
        assert recorded(job) == await uninterrupted(world, "technical_data")


# -- killed between two records of one step ------------------------------------------------------
#
# The steps that record in the job (discovery's ``identity``, the job variants' ``job_identity``
# and ``job_record``) append several entries one after the other; none of them is keyed, and a
# step killed between two of them runs again in full on resume. The child stops before one
# record (a hook in ``flow_child.py``), after the ones before it were stored.

@pytest.mark.parametrize(("flow", "step", "kind", "source"), [
    ("discovery", "identity", "gateway", "discovery"),
    ("technical_data", "job_record", "meter", "han"),
])
async def test_a_step_killed_between_two_job_records_records_nothing_twice(
        demo_pki, tmp_path: Path, flow: str, step: str, kind: str, source: str):
    run_id = f"kill-{flow}-records"
    marker = tmp_path / "paused"
    async with flow_world(demo_pki, tmp_path) as world:
        pause = {"kind": kind, "source": source, "marker": str(marker)}
        proc = await start_child(world, flow, run_id, {"job": work_order()}, {TRUST: True},
                                 pause_before_device=pause)
        try:
            await until(marker.exists, proc, f"the {step} step to stop before a record")
            assert proc.returncode is None
            await kill(proc)
        finally:
            await reap(proc)
        assert visits(world, run_id)[-1] == (step, StepState.STARTED)
        assert gateway_records(stored_job(world, JOB_ID))  # recorded before the kill

        result = await world.engine([]).resume(run_id, by_name(flow))
        assert result.succeeded, (result.failed_step, result.error, result.hint)
        assert world.ui.asked == []
        assert job_runs(world, JOB_ID) == [(run_id, flow)]
        assert audit_verifies(world)
        assert recorded(stored_job(world, JOB_ID)) == await uninterrupted(world, flow)
