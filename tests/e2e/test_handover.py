"""Flow "Überführung in den Normalbetrieb" end to end, headless: engine -> flows -> HAN adapter and
GWA link -> virtual SMGW (HAN and WAN side) and reference GWA, every hop over real TLS on loopback.

The gateway starts in delivery state (WAN certificates Gütesiegel); the GWA installs its final
profile, the gateway switches to Wirkzertifikate, the clock is synchronised, meters are checked
and paired, evaluation profiles and the self-test are checked, and the verdict carries the
evidence of every line. Faults: wrong gateway, meter missing, HAN lockout, GWA unreachable for a
while (then back), GWA unreachable for good (request queued, resumed later).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from app.processes.events import StepStarted, StepSucceeded
from app.processes.flows import by_name, registry
from app.processes.flows.gwa_common import RequestLedger, ledger_path, open_link
from app.processes.flows.handover import HANDOVER
from app.report import CheckResult, build_report, verify_report
from app.sim.smgw.state import CertificateState
from app.store.audit import AuditLog
from app.store.db import JobStore, RunState
from app.store.gwa_queue import GwaQueue
from app.store.jobs import WorkOrderStore
from tests.e2e.conftest import (
    HEAT_PUMP,
    HOUSEHOLD,
    SMGW,
    TECHNICIAN,
    FlowWorld,
    flow_world,
    work_order,
)

pytestmark = pytest.mark.timeout(60)

TRUST = "Trust this gateway certificate?"
FAST = {"gwa_retry_seconds": 0.2, "event_settle_seconds": 0.5}


def job_store(world: FlowWorld) -> WorkOrderStore:
    folder = world.context.data_dir
    assert folder is not None
    return WorkOrderStore(folder / "work_orders.sqlite3", folder / "jobs")


async def test_handover_end_to_end(world: FlowWorld):
    assert world.state.wan_certificate_state is CertificateState.GUETESIEGEL
    result = await world.run(HANDOVER, {"job": work_order(), **FAST}, {TRUST: True})
    assert result.succeeded, (result.failed_step, result.error, result.hint)
    assert by_name("handover") is HANDOVER
    assert [r.prompt.en for r in world.ui.asked] == [TRUST]  # nothing else was asked

    # the gateway really is in normal operation now
    assert world.state.wan_certificate_state is CertificateState.WIRKZERTIFIKAT
    handover = result.results["handover"].data
    assert (handover["state_before"], handover["state_after"]) == ("delivery", "normal")
    assert handover["gwa_profile"]["revision_after"] == handover["gwa_profile"][
        "revision_before"] + 1
    assert all(c["state"] == "wirkzertifikat" for c in handover["wan_certificates"].values())
    assert handover["time_sync"]["within_limit"] is True
    # each device-changing GWA process ran exactly once
    assert world.core.count("communication_profile.update") == 1
    assert world.core.count("time_sync") == 1

    # the timeline: every job's progress, plus the gateway's events, each once
    timeline = handover["timeline"]
    processes = [t["process"] for t in timeline if t["step"] == "finished"]
    assert processes == ["device_info", "communication_profile.read",
                         "communication_profile.update", "time_sync", "device_info"]
    codes = [t["event"]["code"] for t in timeline if t["event"]]
    assert 4002 in codes and 6001 in codes  # PROFILE_UPDATED, TIME_SYNCHRONISED
    assert len(codes) == len({t["event"]["id"] for t in timeline if t["event"]})
    # ... shown live while the step ran
    live = world.progress("handover")
    assert any("Wirkzertifikat" in m for m in live)
    assert any("wake-up packet" in m for m in live)
    assert any("TIME_SYNCHRONISED" in t or "6001" in t for t in world.traces("gwa"))

    meters = result.results["meters"].data["meters"]
    assert [m["server_id"] for m in meters] == [HOUSEHOLD, HEAT_PUMP]
    assert all(m["outcome"] == "paired" and len(m["meter_tls_fingerprint"]) == 64
               for m in meters)
    profiles = result.results["profiles"].data["meters"]
    assert {p["server_id"]: p["tafs"] for p in profiles} == {HOUSEHOLD: [1, 7], HEAT_PUMP: [7]}
    assert result.results["self_test"].data["verdict"] == "passed"

    verdict = result.results["verdict"]
    assert verdict.summary.de.startswith("System im Normalbetrieb")
    assert verdict.data["verdict"] == "normal-operation"
    lines = {line["check"]: line for line in verdict.data["lines"]}
    assert set(lines) >= {"han", "identity", "gwa", "handover", "time", "self_test",
                          f"meter {HOUSEHOLD}", f"meter {HEAT_PUMP}",
                          f"profiles {HOUSEHOLD}", f"profiles {HEAT_PUMP}"}
    assert all(line["ok"] and line["evidence"]["de"] and line["evidence"]["en"]
               for line in lines.values())
    assert f"{SMGW} (HAN) = {SMGW}" in lines["identity"]["evidence"]["en"]
    assert "delivery state → normal operation" in lines["handover"]["evidence"]["en"]
    # the German evidence is German: states, certificate roles and outcomes in words, the
    # self-test's time local and readable (no ISO stamp)
    german = {check: line["evidence"]["de"] for check, line in lines.items()}
    assert german["handover"].startswith("Auslieferungszustand → Normalbetrieb; WAN-")
    assert "wirkzertifikat" not in german["handover"] and "wan_" not in german["handover"]
    assert "gepaart" in german[f"meter {HOUSEHOLD}"]
    assert "paired" not in german[f"meter {HOUSEHOLD}"]
    assert re.fullmatch(r"bestanden \(vom GWA gemeldet, \d\d\.\d\d\.\d{4} \d\d:\d\d\)",
                        german["self_test"]), german["self_test"]

    # the job: run attached under the planned flow's name, devices and certificates recorded,
    # and the commissioning report sees the handover as done
    with job_store(world) as store:
        job = store.get("DEMO-2025-0001")
        assert [(r.run_id, r.flow) for r in job.runs] == [(result.run_id, "handover")]
        gateways = [d for d in job.devices if d.kind == "gateway"]
        assert gateways and gateways[-1].identifier == SMGW
        assert {d.identifier for d in job.devices if d.kind == "meter"} == {HOUSEHOLD,
                                                                             HEAT_PUMP}
        assert any(c.state == "wirkzertifikat" for c in job.certificates)
        folder = world.context.data_dir
        assert folder is not None
        audit = AuditLog(folder / "audit.sqlite3")
        with JobStore(folder / "jobs.sqlite3") as runs:
            paths = await asyncio.to_thread(
                build_report, job, signer=world.pki["technician"], out_dir=world.tmp / "report",
                extra_certs=[world.pki["sub_ca"].cert],
                store=store, runs=runs, audit=audit)
        audit.close()
    report = paths.report
    assert report.audit.intact and report.audit.job_entries > 0
    verified = verify_report(paths.xml, trust=[world.pki["root"].cert])
    assert verified.ok and verified.smgw_id == SMGW, verified.reason
    assert paths.pdf.stat().st_size > 1000
    handover_run = next(r for r in report.runs if r.flow == "handover")
    assert handover_run.state == "succeeded"
    assert [s.step for s in handover_run.steps][-1] == "verdict"
    checks = {(c.name, c.subject): c.result for c in report.checks}
    assert checks[("smgw_id", SMGW)] is CheckResult.OK
    assert checks[("meter", HOUSEHOLD)] is CheckResult.OK
    assert checks[("flow", "handover")] is CheckResult.OK

    # the idempotency keys were stored before the requests went out
    ledger = RequestLedger(ledger_path(world.context))
    try:
        entries = ledger.entries(result.run_id)
    finally:
        ledger.close()
    update = [e for e in entries if e.process == "communication_profile.update"]
    assert len(update) == 1 and update[0].state == "succeeded" and update[0].job_url


async def test_second_handover_changes_nothing_and_takes_the_logged_self_test(world: FlowWorld):
    first = await world.run(HANDOVER, {"job": work_order(), **FAST}, {TRUST: True})
    assert first.succeeded, first.error
    again = await world.run(HANDOVER, {"job": work_order(), **FAST}, [])
    assert again.succeeded, (again.failed_step, again.error, again.hint)
    data = again.results["handover"].data
    assert data["state_before"] == "normal" and data["gwa_profile"] is None
    assert world.core.count("communication_profile.update") == 1  # not installed a second time
    # the gateway refuses a second self-test within 10 minutes: the logged result counts
    test = again.results["self_test"].data
    assert test["gwa"]["reason"] == "rate-limited"
    assert test["source"] == "system log" and test["verdict"] == "passed"


async def test_wrong_gateway_stops_with_both_ids(world: FlowWorld):
    result = await world.run(HANDOVER, {"job": work_order(smgw_id="EDEM0100000002"), **FAST},
                             {TRUST: True})
    assert result.outcome == "failed" and result.failed_step == "identity"
    assert result.kind == "mismatch"
    assert "EDEM0100000002" in result.error.en and SMGW in result.error.en
    assert "EDEM0100000002" in result.error.de and SMGW in result.error.de
    assert result.hint is not None and "wrong device" in result.hint.en
    assert world.core.processes == []  # nothing was asked of the GWA
    assert world.state.wan_certificate_state is CertificateState.GUETESIEGEL


async def test_unknown_gwa_profile_is_explained(world: FlowWorld):
    data = {"job": work_order(), **FAST, "gwa_profile_id": "01005e318031.other-gwa.sm"}
    result = await world.run(HANDOVER, data, {TRUST: True})
    assert result.failed_step == "handover" and result.kind == "gwa"
    assert "404 unknown-profile" in result.error.en
    assert result.hint is not None and "gwa_profile_id" in result.hint.en
    assert "01005e318031.other-gwa.sm" in result.hint.de
    assert world.core.count("communication_profile.update") == 0
    assert world.state.wan_certificate_state is CertificateState.GUETESIEGEL


async def test_meter_missing_is_explained(demo_pki, tmp_path: Path):
    faults = [{"kind": "meter_missing", "server_id": HEAT_PUMP}]
    async with flow_world(demo_pki, tmp_path, faults=faults) as world:
        result = await world.run(HANDOVER, {"job": work_order(), **FAST}, {TRUST: True})
    assert result.failed_step == "meters", (result.failed_step, result.error)
    assert HEAT_PUMP in result.error.en and "does not answer on the LMN" in result.error.en
    assert "meter missing" in result.error.en and "Zähler fehlt" in result.error.de
    assert result.hint is not None and "power" in result.hint.en and "HDLC" in result.hint.en
    # the household meter before it was fine
    assert "handover" in result.results


async def test_han_lockout_is_explained(demo_pki, tmp_path: Path):
    faults = [{"kind": "han_lockout", "user": TECHNICIAN, "seconds": 240}]
    async with flow_world(demo_pki, tmp_path, faults=faults) as world:
        result = await world.run(HANDOVER, {"job": work_order(), **FAST}, {TRUST: True})
        assert world.core.processes == []
    assert result.failed_step == "identity"
    assert "locked" in result.error.en and "min" in result.error.en
    assert "gesperrt" in result.error.de
    assert result.hint is not None and "Wait until the lock has expired" in result.hint.en


async def test_gwa_unreachable_for_a_while_then_back(world: FlowWorld):
    await world.cable.unplug()

    async def back_later() -> None:
        await asyncio.sleep(1.5)
        await world.cable.plug()

    task = asyncio.create_task(back_later())
    result = await world.run(HANDOVER, {"job": work_order(), **FAST}, {TRUST: True})
    await task
    assert result.succeeded, (result.failed_step, result.error, result.hint)
    waiting = [m for m in world.progress("gwa") if "Next attempt in" in m]
    assert waiting and "The GWA is not reachable" in waiting[0]
    assert any("GWA unreachable (tcp)" in t for t in world.traces("gwa"))
    assert world.core.count("communication_profile.update") == 1


async def test_cancel_stops_the_wait_for_the_gwa(world: FlowWorld):
    await world.cable.unplug()
    engine = world.engine({TRUST: True})
    started = asyncio.Event()

    def watch(event: object) -> None:
        if isinstance(event, StepStarted) and event.step == "gwa":
            started.set()

    engine.subscribe(watch)
    run = asyncio.create_task(engine.run(HANDOVER, {"job": work_order(), **FAST},
                                         run_id="cancel-gwa-wait"))
    await asyncio.wait_for(started.wait(), 20)
    for _ in range(100):  # until the countdown shows
        if any("Next attempt in" in m for m in world.progress("gwa")):
            break
        await asyncio.sleep(0.05)
    assert engine.cancel("cancel-gwa-wait")
    result = await asyncio.wait_for(run, 5)
    assert result.outcome == "cancelled" and result.failed_step == "gwa"


async def test_unreachable_gwa_queues_the_request_and_the_resume_runs_it_once(
        world: FlowWorld):
    engine = world.engine({TRUST: True})
    unplugging: list[asyncio.Task[None]] = []

    def cut(event: object) -> None:  # the GWA goes away when the handover step starts
        if isinstance(event, StepStarted) and event.step == "handover":
            unplugging.append(asyncio.ensure_future(world.cable.unplug()))

    engine.subscribe(cut)
    data = {"job": work_order(), **FAST, "gwa_wait_seconds": 0.5, "gwa_offline": "queue"}
    result = await engine.run(HANDOVER, data)
    assert result.failed_step == "handover" and result.kind == "queued", result.error
    assert "queued" in result.error.en and "vorgemerkt" in result.error.de
    assert result.hint is not None and "exactly once" in result.hint.en
    folder = world.context.data_dir
    assert folder is not None
    queue = GwaQueue(folder / "gwa-queue.sqlite")
    ledger = RequestLedger(ledger_path(world.context))
    try:
        pending = queue.pending(world.context.gwa.base_url)  # type: ignore[union-attr]
        first = [e for e in ledger.entries(result.run_id) if e.step == "handover"]
    finally:
        queue.close()
        ledger.close()
    assert [(p.process, p.idempotency_key) for p in pending] == [
        ("device_info", first[0].key)]
    assert first[0].state == "queued"

    await world.cable.plug()
    resumed = await world.engine([]).resume(result.run_id, HANDOVER)
    assert resumed.succeeded, (resumed.failed_step, resumed.error)
    assert world.state.wan_certificate_state is CertificateState.WIRKZERTIFIKAT
    with JobStore(folder / "jobs.sqlite3") as runs:
        record = runs.get_run(result.run_id)
    assert record is not None and record.state is RunState.SUCCEEDED
    # steps done before the outage were not run again
    again = [e.step for e in world.events if isinstance(e, StepSucceeded)]
    assert again[0] == "handover"
    # the resumed step sent the queued request with its key: a later flush of the offline
    # queue finds the job instead of running the process again
    ledger = RequestLedger(ledger_path(world.context))
    try:
        now = [e for e in ledger.entries(result.run_id) if e.step == "handover"]
    finally:
        ledger.close()
    assert now[0].key == first[0].key and now[0].state == "succeeded"
    assert world.core.count("device_info") == 2  # before and after the handover
    async with open_link(world.context) as link:
        flushed = await link.flush(follow=False)
    assert [r.replayed for r in flushed.sent] == [True] and flushed.remaining == 0
    assert world.core.count("device_info") == 2


def test_the_job_flows_are_registered():
    names = [f.name for f in registry()]
    assert names[0] == "connection_test"
    assert {"handover", "pairing"} <= set(names)
    assert by_name("pairing").title.de == "Pairing Zähler und SMGW"
    assert HANDOVER.title.de == "Überführung in den Normalbetrieb"
    assert all(step.title.de and step.title.en for step in HANDOVER.steps)
