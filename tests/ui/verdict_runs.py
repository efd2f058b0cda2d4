"""Real runs of the job flows for the verdict views: each flow run headless by the engine against
the virtual SMGW, the reference GWA and the virtual meters (the worlds of ``tests/e2e``), once
succeeding and once failing the way a technician would meet it on site.

The runs happen on a plain asyncio loop before any view exists, so the views get exactly the
:class:`RunResult` (step data shapes included) that the flows produce today.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.processes.engine import RunResult
from app.processes.flows.device_discovery import DISCOVERY
from app.processes.flows.handover import HANDOVER
from app.processes.flows.meter_change import METER_CHANGE, NOTE_PROMPT, SEAL_PROMPT, SWAP_PROMPT
from app.processes.flows.pairing import CRYPTO_RESET_PROMPT, PAIRING, RETRY_PROMPT
from app.security.pki import DemoPki
from tests.e2e.conftest import CONSUMER, HEAT_PUMP, flow_world, work_order
from tests.e2e.test_meter_change_world import STRANGER, meter_change_world

TRUST = "Trust this gateway certificate?"
OTHER_SMGW = "EDEM0100000002"
SEAL = "DE-4711-0815"
RUN_TIMEOUT = 30.0


@dataclass(frozen=True)
class Runs:
    """A flow's succeeded and failed run."""

    ok: RunResult
    failed: RunResult


def _pairing_job() -> dict[str, object]:
    meter = {"server_id": HEAT_PUMP, "role": "new", "key_ref": f"demo:M-{HEAT_PUMP}"}
    return work_order(job_id="DEMO-2025-0002", flows=["pairing"], meters=[meter])


async def _handover(pki: DemoPki, tmp: Path) -> Runs:
    fast = {"gwa_retry_seconds": 0.2, "event_settle_seconds": 0.3}
    async with flow_world(pki, tmp) as world:
        failed = await world.run(HANDOVER, {"job": work_order(smgw_id=OTHER_SMGW), **fast},
                                 {TRUST: True})
        ok = await world.run(HANDOVER, {"job": work_order(), **fast}, {TRUST: True})
    return Runs(ok, failed)


async def _pairing(pki: DemoPki, tmp: Path) -> Runs:
    fast = {"gwa_retry_seconds": 0.2}
    answers = {TRUST: True, CRYPTO_RESET_PROMPT.en: False, RETRY_PROMPT.en: False}
    async with flow_world(pki, tmp / "ok", certificates="wirkzertifikat",
                          unpaired=[HEAT_PUMP]) as world:
        ok = await world.run(PAIRING, {"job": _pairing_job(), **fast}, answers)
    async with flow_world(pki, tmp / "fe09", certificates="wirkzertifikat",
                          unpaired=[HEAT_PUMP], pairing_rejected=[HEAT_PUMP]) as world:
        failed = await world.run(PAIRING, {"job": _pairing_job(), **fast}, answers)
    return Runs(ok, failed)


async def _meter_change(pki: DemoPki, tmp: Path) -> Runs:
    answers = {TRUST: True, SEAL_PROMPT.en: SEAL, NOTE_PROMPT.en: "Gehäuse unbeschädigt",
               SWAP_PROMPT.en: True}
    data = {"job": work_order("meter-change"), "users": {"consumer": CONSUMER},
            "gwa_retry_seconds": 0.2, "detect_seconds": 5, "values_wait_seconds": 5}
    async with meter_change_world(pki, tmp / "ok") as site:
        ok = await site.world.run(METER_CHANGE, data, answers)
    async with meter_change_world(pki, tmp / "stranger", spare=STRANGER) as site:
        failed = await site.world.run(METER_CHANGE, data, answers)
    return Runs(ok, failed)


async def _discovery(pki: DemoPki, tmp: Path) -> Runs:
    async with flow_world(pki, tmp) as world:
        ok = await world.run(DISCOVERY, {"job": work_order()}, {TRUST: True})
        failed = await world.run(DISCOVERY, {"job": work_order(smgw_id=OTHER_SMGW)},
                                 {TRUST: True})
    return Runs(ok, failed)


SCENARIOS = {"handover": _handover, "pairing": _pairing, "meter_change": _meter_change,
             "discovery": _discovery}


def run_flow(flow: str, pki: DemoPki, tmp: Path) -> Runs:
    """Run ``flow`` twice (success, failure) on a fresh loop; fails loudly when a run that should
    succeed does not, so a view test never renders a wrong outcome by accident."""
    for sub in ("ok", "fe09", "stranger"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    # runs before the per-test isolation of tests/conftest.py: keep pins and settings in tmp too
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SMGWCT_CONFIG_DIR", str(tmp / "home" / "config"))
        patch.setenv("SMGWCT_DATA_DIR", str(tmp / "home" / "data"))
        runs = asyncio.run(asyncio.wait_for(SCENARIOS[flow](pki, tmp), RUN_TIMEOUT))
    assert runs.ok.succeeded, (flow, runs.ok.failed_step, runs.ok.error)
    assert runs.failed.outcome == "failed", (flow, runs.failed.outcome)
    return runs
