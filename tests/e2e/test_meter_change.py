"""Flow "Zähler wechseln" end to end, headless: engine -> flow -> read head, HAN adapter and GWA
link -> virtual meters, virtual SMGW (HAN and WAN side) and reference GWA over real sockets.

The technician reads the old meter's final reading, types the seal number and a note, the GWA
terminates the evaluation profiles and deletes the old meter profile, the meters are swapped
(the demo site's hands), the new meter is read and checked, the GWA creates its profile, the
gateway detects it, the GWA pairs it and creates the evaluation profiles with first readout, and
its first values are seen over HAN. Faults: wrong meter installed, meter missing on the LMN,
pairing refused (FE 09), the swap not confirmed.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.context import Link, LinkState
from app.domain import ServerId
from app.processes.events import StepFailed
from app.processes.flows.meter_change import (
    METER_CHANGE,
    NOTE_PROMPT,
    SEAL_PROMPT,
    SWAP_PROMPT,
)
from app.store.jobs import WorkOrderStore
from tests.e2e.conftest import CONSUMER, HEAT_PUMP, HOUSEHOLD, work_order
from tests.e2e.test_meter_change_world import STRANGER, MeterSite, meter_change_world

pytestmark = pytest.mark.timeout(60)

TRUST = "Trust this gateway certificate?"
ANSWERS = {TRUST: True, SEAL_PROMPT.en: "DE-4711-0815", NOTE_PROMPT.en: "Gehäuse unbeschädigt",
           SWAP_PROMPT.en: True}
DATA = {"users": {"consumer": CONSUMER}, "gwa_retry_seconds": 0.2, "detect_seconds": 5,
        "values_wait_seconds": 5}


def job_data(**changes: object) -> dict[str, object]:
    return {"job": work_order("meter-change"), **DATA, **changes}


@pytest.fixture
async def site(demo_pki, tmp_path: Path):
    async with meter_change_world(demo_pki, tmp_path) as s:
        yield s


def job_store(site: MeterSite) -> WorkOrderStore:
    folder = site.world.context.data_dir
    assert folder is not None
    return WorkOrderStore(folder / "work_orders.sqlite3", folder / "jobs")


def readings(site: MeterSite) -> list[tuple[str, str, str, str | None]]:
    with job_store(site) as store:
        job = store.get("DEMO-2025-0002")
    return [(r.server_id, r.obis, r.source, r.role) for r in job.readings]


async def test_meter_change_end_to_end(site: MeterSite):
    world = site.world
    result = await world.run(METER_CHANGE, job_data(), ANSWERS)
    assert result.succeeded, (result.failed_step, result.error, result.hint)
    # the technician was asked exactly this, in this order
    assert [r.prompt.en for r in world.ui.asked] == [TRUST, SEAL_PROMPT.en, NOTE_PROMPT.en,
                                                     SWAP_PROMPT.en]
    assert site.swaps == 1 and site.installed == HEAT_PUMP
    # the GWA ran every changing process exactly once, in the order of the flow
    assert world.core.processes == [
        "meter_profile.read", "evaluation_profile.read", "evaluation_profile.read",
        "evaluation_profile.delete", "evaluation_profile.delete", "meter_profile.delete",
        "meter_profile.create", "pairing", "evaluation_profile.create",
        "evaluation_profile.create"]

    # the gateway: old meter gone, new meter configured, paired, read by both profiles
    state = world.state
    assert state.meter(HOUSEHOLD) is None
    new = state.meter(HEAT_PUMP)
    assert new is not None and new.paired and new.present
    moved = {p.usage_point_id: p.meters for p in state.profiles}
    assert moved["01005e318027.taf7-1.sm"] == [ServerId.parse(HEAT_PUMP)]
    assert moved["01005e318021.taf1-1.sm"] == [ServerId.parse(HEAT_PUMP)]

    # the steps' evidence
    r = result.results
    old_read, new_read = r["old_reading"].data, r["new_reading"].data
    assert old_read["server_id"] == HOUSEHOLD and new_read["server_id"] == HEAT_PUMP
    assert [x["obis"] for x in old_read["readings"]] == ["1-0:1.8.0*255", "1-0:2.8.0*255"]
    assert float(old_read["readings"][0]["value"]) == pytest.approx(4821357, abs=50)
    assert float(new_read["readings"][0]["value"]) == pytest.approx(1587302, abs=50)
    assert r["detect"].data["event"]["code"] == 3001
    assert r["pairing"].data["outcome"] == "paired"
    evaluation = r["evaluation"].data
    assert [p["id"] for p in evaluation["profiles"]] == ["01005e318027.taf7-1.sm",
                                                        "01005e318021.taf1-1.sm"]
    assert {x["obis"] for x in evaluation["first_readout"]} == {"1-0:1.8.0*255",
                                                               "1-0:2.8.0*255"}
    assert r["han_values"].data["listed"] == [HEAT_PUMP]
    # one meter, one set of registers: what the gateway reads later (first readout, HAN) is
    # never below the initial reading taken before through the read head
    optical = {x["obis"]: Decimal(str(x["value"])) for x in new_read["readings"]}
    for later in (evaluation["first_readout"], r["han_values"].data["values"]):
        for x in later:
            assert Decimal(str(x["value"])) >= optical[x["obis"]], (x, optical)
    assert evaluation["plausibility"] == [] and r["han_values"].data["plausibility"] == []
    # the read head's card shows the meter it read last (the new one), not "not checked"
    head = world.context.link(Link.OPTICAL)
    assert head.state is LinkState.CONNECTED
    assert head.peer is not None and ServerId.parse(HEAT_PUMP).display in head.peer
    assert head.fingerprint == new_read["public_key_sha256"]
    summary = r["summary"].data
    assert summary["old_final_reading"] == old_read["readings"]
    assert summary["new_initial_reading"] == new_read["readings"]
    assert all(line["ok"] for line in summary["lines"]) and len(summary["lines"]) == 8
    assert HOUSEHOLD in r["summary"].summary.de and "Endstand" in r["summary"].summary.de
    new_meter_line = next(x for x in summary["lines"] if x["check"] == "new_meter")
    assert "gepaart" in new_meter_line["evidence"]["de"]
    assert "paired" not in new_meter_line["evidence"]["de"]

    # the job keeps both readings, the first readout, the HAN values, the seal and the note
    assert sorted(readings(site)) == sorted([
        (HOUSEHOLD, "1-0:1.8.0*255", "optical", "old"),
        (HOUSEHOLD, "1-0:2.8.0*255", "optical", "old"),
        (HEAT_PUMP, "1-0:1.8.0*255", "optical", "new"),
        (HEAT_PUMP, "1-0:2.8.0*255", "optical", "new"),
        (HEAT_PUMP, "1-0:1.8.0*255", "gwa", "new"),
        (HEAT_PUMP, "1-0:2.8.0*255", "gwa", "new"),
        (HEAT_PUMP, "1-0:1.8.0*255", "han", "new"),
        (HEAT_PUMP, "1-0:2.8.0*255", "han", "new")])
    with job_store(site) as store:
        job = store.get("DEMO-2025-0002")
    assert [(s.number, s.action, s.server_id) for s in job.seals] == [
        ("DE-4711-0815", "removed", HOUSEHOLD)]
    assert [n.text for n in job.notes] == [
        f"Zählerwechsel, alter Zähler {HOUSEHOLD}: Gehäuse unbeschädigt"]
    assert [(run.flow, run.run_id) for run in job.runs] == [("meter_change", result.run_id)]
    assert {(d.identifier, d.source) for d in job.devices if d.kind == "meter"} >= {
        (HOUSEHOLD, "optical"), (HEAT_PUMP, "optical"), (HEAT_PUMP, "gwa")}

    # live status while the GWA works, and the trace names the idempotency keys
    assert any("Creating the profile of the new meter" in m
               for m in world.progress("create_profile"))
    assert any("key=" in t for t in world.traces("gwa"))
    assert not any("initial_key" in t for t in world.traces())


async def test_wrong_meter_installed_stops_with_both_ids(demo_pki, tmp_path: Path):
    async with meter_change_world(demo_pki, tmp_path, spare=STRANGER) as site:
        result = await site.world.run(METER_CHANGE, job_data(), ANSWERS)
        processes = list(site.world.core.processes)
    assert result.failed_step == "new_reading" and result.kind == "mismatch", result.error
    for text in (result.error.en, result.error.de):
        assert HEAT_PUMP in text and STRANGER in text
    assert "Wrong meter installed" in result.error.en
    assert result.hint is not None and "Nothing was configured" in result.hint.en
    assert "meter_profile.create" not in processes  # nothing done for the wrong meter


async def test_old_meter_other_than_the_work_order_changes_nothing(site: MeterSite):
    order = work_order("meter-change")
    order["meters"][0]["server_id"] = STRANGER  # the work order names another old meter
    result = await site.world.run(METER_CHANGE, job_data(job=order), ANSWERS)
    assert result.failed_step == "old_reading" and result.kind == "mismatch"
    assert STRANGER in result.error.en and HOUSEHOLD in result.error.en
    assert site.world.core.processes == []
    assert site.world.state.meter(HOUSEHOLD) is not None


async def test_meter_missing_on_the_lmn_is_explained(demo_pki, tmp_path: Path):
    async with meter_change_world(demo_pki, tmp_path, lmn_unplugged=True) as site:
        result = await site.world.run(METER_CHANGE, job_data(detect_seconds=1), ANSWERS)
        processes = list(site.world.core.processes)
    assert result.failed_step == "detect", (result.failed_step, result.error)
    assert HEAT_PUMP in result.error.en and "meter missing" in result.error.en
    assert "Zähler fehlt" in result.error.de and "not reachable" in result.error.en
    assert result.hint is not None and "LMN cable" in result.hint.en and "HDLC" in result.hint.en
    assert processes[-1] == "meter_profile.create" and "pairing" not in processes


async def test_pairing_refused_is_explained(demo_pki, tmp_path: Path):
    async with meter_change_world(demo_pki, tmp_path, pairing_rejected=[HEAT_PUMP]) as site:
        result = await site.world.run(METER_CHANGE, job_data(), ANSWERS)
        processes = list(site.world.core.processes)
        paired = site.world.state.meter(HEAT_PUMP).paired  # type: ignore[union-attr]
    assert result.failed_step == "pairing", (result.failed_step, result.error)
    assert "FE 09" in result.error.en and "FE 09" in result.error.de
    assert result.hint is not None and "key M" in result.hint.en
    assert "Crypto-Reset" in result.hint.en
    assert not paired and "evaluation_profile.create" not in processes


async def test_seal_is_checked_and_an_unconfirmed_swap_resumes_without_repeats(site: MeterSite):
    world = site.world
    answers: dict[str, Any] = {**ANSWERS, SEAL_PROMPT.en: ["", "x" * 41, "DE-1"],
                               SWAP_PROMPT.en: False}
    first = await world.run(METER_CHANGE, job_data(), answers)
    assert first.failed_step == "swap" and first.hint is not None
    assert "resume" in first.hint.en and "fortsetzen" in first.hint.de
    seals = [r for r in world.ui.asked if r.prompt.en == SEAL_PROMPT.en]
    assert len(seals) == 3 and seals[1].error is not None and seals[2].error is not None
    assert "seal" in seals[2].error.en.lower()
    assert site.swaps == 0 and site.installed == HOUSEHOLD
    before = list(world.core.processes)
    assert before.count("meter_profile.delete") == 1

    resumed = await world.engine({SWAP_PROMPT.en: True}).resume(first.run_id, METER_CHANGE)
    assert resumed.succeeded, (resumed.failed_step, resumed.error)
    assert [r.prompt.en for r in world.ui.asked] == [SWAP_PROMPT.en]  # nothing asked twice
    after = world.core.processes[len(before):]
    assert "evaluation_profile.delete" not in after and "meter_profile.delete" not in after
    assert after == ["meter_profile.create", "pairing", "evaluation_profile.create",
                     "evaluation_profile.create"]
    failed = [e for e in world.events if isinstance(e, StepFailed)]
    assert failed == []


async def test_without_a_read_head_the_port_is_asked(site: MeterSite, monkeypatch):
    from app.transports import serial_ports

    monkeypatch.setattr(serial_ports, "list_ports", lambda: [])
    site.world.context.optical = None
    port_prompt = "Read head port (e.g. /dev/ttyUSB0, COM3, socket://host:port)"
    answers = {**ANSWERS, port_prompt: ["", site.head_url]}
    result = await site.world.run(METER_CHANGE, job_data(), answers)
    assert result.succeeded, (result.failed_step, result.error)
    asked = [r for r in site.world.ui.asked if r.prompt.en == port_prompt]
    assert len(asked) == 2 and asked[1].error is not None  # an empty port is refused
    assert result.results["old_reading"].data["port"] == site.head_url
    assert result.results["new_reading"].data["port"] == site.head_url  # asked once


def test_the_meter_change_is_registered():
    from app.processes.flows import by_name, registry

    names = [f.name for f in registry()]
    assert names.index("meter_change") < names.index("pairing")
    assert by_name("meter_change") is METER_CHANGE
    assert METER_CHANGE.title.de == "Zähler wechseln"
    assert all(s.title.de and s.title.en for s in METER_CHANGE.steps)
