"""Device discovery and the read-only HAN flows as parts of a job, end to end against the flow
world (virtual SMGW over loopback TLS): the gateway is found, checked against the work order
(discovery and HAN login) and recorded in the job; technical data and logs attach their runs,
stop at a wrong gateway before reading anything, and store what they read."""

from __future__ import annotations

import socket

import pytest

from app.processes.flows import by_name
from app.processes.flows.device_discovery import DISCOVERY, IDENTITY_STEP, RECORD_STEP
from app.store.jobs import WorkOrderStore
from tests.e2e.conftest import SMGW, FlowWorld, work_order

pytestmark = pytest.mark.timeout(60)

TRUST = "Trust this gateway certificate?"
JOB_ID = "DEMO-2025-0001"


def stored_job(world: FlowWorld):
    folder = world.context.data_dir
    assert folder is not None
    with WorkOrderStore(folder / "work_orders.sqlite3", folder / "jobs") as store:
        return store.get(JOB_ID)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_discovery_finds_checks_and_records_the_gateway(world: FlowWorld):
    han = world.context.han
    assert han is not None
    result = await world.run(DISCOVERY, {"job": work_order()}, {TRUST: True})
    assert result.succeeded, (result.failed_step, result.error, result.hint)
    assert by_name("discovery") is not None and DISCOVERY.title.de == "Device-Discovery"
    search = result.results["search"].data
    assert search["options"]["candidates"] == ["127.0.0.1"]
    assert not search["options"]["subnet_probe"]  # demo mode probes only the target
    [found] = search["gateways"]
    assert (found["host"], found["port"], found["smgw_id"]) == ("127.0.0.1", han.port, SMGW)
    assert result.results["gateway"].data["checked_against_work_order"]
    identity = result.results["identity"].data
    assert identity["smgw_id"] == SMGW and identity["discovered_sha256"] == found["sha256"]
    assert any("Gateway at 127.0.0.1" in m for m in world.progress("search"))
    job = stored_job(world)
    assert [(r.flow, r.run_id) for r in job.runs] == [("discovery", result.run_id)]
    assert ("gateway", SMGW, "discovery") in {(d.kind, d.identifier, d.source)
                                              for d in job.devices}
    assert found["sha256"] in {c.sha256 for c in job.certificates}
    assert world.context.han is not None and world.context.han.smgw_id == SMGW


async def test_discovery_stops_at_a_gateway_of_another_work_order(world: FlowWorld):
    result = await world.run(DISCOVERY, {"job": work_order(smgw_id="EDEM0100000002")},
                             {TRUST: True})
    assert result.failed_step == "gateway" and result.kind == "mismatch"
    for text in (result.error.en, result.error.de):
        assert "EDEM0100000002" in text and SMGW in text
    assert world.ui.asked == []  # stopped before any login


async def test_discovery_without_a_work_order_only_finds(world: FlowWorld):
    result = await world.run(DISCOVERY, {}, [])
    assert result.succeeded, (result.failed_step, result.error)
    assert result.results["identity"].data == {"job_id": None}
    assert "No work order" in (result.results["job"].summary.en or "")


async def test_nothing_found_says_what_to_check(world: FlowWorld):
    result = await world.run(DISCOVERY, {"candidates": ["127.0.0.1"], "ports": [free_port()],
                                         "timeout": 3}, [])
    assert result.failed_step == "search"
    assert "No gateway was found" in result.error.en and "kein Gateway" in result.error.de
    assert result.hint is not None and "HAN port" in result.hint.en


async def test_technical_data_in_a_job_is_checked_and_recorded(world: FlowWorld):
    flow = by_name("technical_data")
    names = [s.name for s in flow.steps]
    assert names[:3] == ["job", "trust", IDENTITY_STEP] and names[-1] == RECORD_STEP
    result = await world.run(flow, {"job": work_order()}, {TRUST: True})
    assert result.succeeded, (result.failed_step, result.error, result.hint)
    record = result.results[RECORD_STEP].data
    assert record["smgw_id"] == SMGW and set(record["meters"]) == {"1EMH0012345678",
                                                                  "1DZG0042123440"}
    job = stored_job(world)
    assert [r.flow for r in job.runs] == ["technical_data"]
    gateways = [d for d in job.devices if d.kind == "gateway"]
    assert any(d.firmware_version == "3.87.2" and d.firmware_hash for d in gateways)
    assert {d.identifier for d in job.devices if d.kind == "meter"} == {"1EMH0012345678",
                                                                        "1DZG0042123440"}
    assert job.certificates  # the gateway's certificates, from the identity check


async def test_technical_data_stops_at_the_wrong_gateway_before_reading(world: FlowWorld):
    result = await world.run(by_name("technical_data"),
                             {"job": work_order(smgw_id="EDEM0100000002")}, {TRUST: True})
    assert result.failed_step == IDENTITY_STEP and result.kind == "mismatch"
    assert "read" not in result.results


async def test_technical_data_without_a_job_is_unchanged(world: FlowWorld):
    result = await world.run(by_name("technical_data"), {}, {TRUST: True})
    assert result.succeeded, (result.failed_step, result.error)
    assert result.results[RECORD_STEP].data == {"job_id": None}
    assert result.results["read"].data["smgw_id"] == SMGW


async def test_logs_in_a_job_are_noted(world: FlowWorld):
    data = {"job": work_order(), "kinds": ["system"], "count": 20}
    result = await world.run(by_name("logs"), data, {TRUST: True})
    assert result.succeeded, (result.failed_step, result.error, result.hint)
    assert result.results[RECORD_STEP].data["logs"][0]["count"] == 20
    job = stored_job(world)
    assert [r.flow for r in job.runs] == ["logs"]
    assert any(n.text.startswith(f"Logs, run {result.run_id}: system log: 20 entries")
               for n in job.notes)
