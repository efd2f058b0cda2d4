"""Flow "Pairing Zähler und SMGW" end to end, headless, against the virtual SMGW and the reference
GWA over real TLS: the pairing itself, the Crypto-Reset on request, and every failure explained
(FE 09, meter missing, meter not at the gateway, optical ID not the work order's, GWA away for a
while)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from app.context import Link, LinkState, OpticalTarget
from app.domain import ServerId
from app.processes.flows.han_common import SECRET_STORE_EXTRA
from app.processes.flows.job_common import KEY_SECRET_KIND
from app.processes.flows.pairing import CRYPTO_RESET_PROMPT, PAIRING, RETRY_PROMPT
from app.processes.micro.demo import demo_meter_key
from app.security.secrets import MemorySecretStore, secret_key
from app.sim.meter import MeterProfile, VirtualMeter
from app.store.jobs import WorkOrderStore
from tests.e2e.conftest import HEAT_PUMP, HOUSEHOLD, SMGW, FlowWorld, flow_world, work_order

pytestmark = pytest.mark.timeout(60)

TRUST = "Trust this gateway certificate?"
RESET = CRYPTO_RESET_PROMPT.en
RETRY = RETRY_PROMPT.en
FAST = {"gwa_retry_seconds": 0.2}


def pairing_job(server_id: str = HEAT_PUMP, key_ref: str | None = None) -> dict[str, Any]:
    meter = {"server_id": server_id, "role": "new",
             "key_ref": key_ref if key_ref is not None else f"demo:M-{server_id}"}
    return work_order(job_id="DEMO-2025-0002", flows=["pairing"], meters=[meter])


def meter(world: FlowWorld, server_id: str = HEAT_PUMP) -> Any:
    found = world.state.meter(ServerId.parse(server_id))
    assert found is not None
    return found


@pytest.fixture
async def unpaired(demo_pki, tmp_path: Path):
    """A gateway in normal operation whose heat pump meter is configured but not paired."""
    async with flow_world(demo_pki, tmp_path, certificates="wirkzertifikat",
                          unpaired=[HEAT_PUMP]) as world:
        yield world


async def test_pairing_end_to_end(unpaired: FlowWorld):
    world = unpaired
    assert not meter(world).paired
    result = await world.run(PAIRING, {"job": pairing_job(), **FAST}, {TRUST: True, RESET: False})
    assert result.succeeded, (result.failed_step, result.error, result.hint)
    assert [r.prompt.en for r in world.ui.asked] == [TRUST, RESET]
    assert meter(world).paired
    assert world.core.processes == ["meter_profile.read", "pairing"]

    pairing = result.results["pairing"].data
    assert pairing["outcome"] == "paired" and not pairing["already_paired"]
    assert len(pairing["meter_tls_fingerprint"]) == 64
    assert any(t["step"] == "request-sent" for t in pairing["timeline"])
    assert any("Pairing meter 1DZG0042123440" in m for m in world.progress("pairing"))
    checked = result.results["meter"].data
    assert checked["profile_id"] == "01005e318002.1dzg0042123440.sm"
    assert checked["optical"] is None  # no read head configured
    assert result.results["crypto_reset"].data == {"done": False}
    summary = result.results["result"]
    assert "paired" in summary.summary.en and "gepaart" in summary.summary.de
    assert {line["check"] for line in summary.data["lines"]} == {"gateway", "meter",
                                                                  "crypto_reset", "pairing"}
    paired_line = next(x for x in summary.data["lines"] if x["check"] == "pairing")
    assert paired_line["evidence"]["de"].startswith("gepaart, TLS-Zertifikat des Zählers ")
    assert paired_line["evidence"]["en"].startswith("paired, meter TLS certificate ")
    # key M never appears in step data, traces or progress
    key = demo_meter_key(ServerId.parse(HEAT_PUMP)).hex()
    assert key not in repr(result.results) and not any(key in t for t in world.traces())

    folder = world.context.data_dir
    assert folder is not None
    with WorkOrderStore(folder / "work_orders.sqlite3", folder / "jobs") as store:
        job = store.get("DEMO-2025-0002")
    assert [(r.run_id, r.flow) for r in job.runs] == [(result.run_id, "pairing")]
    meters = [d for d in job.devices if d.kind == "meter"]
    assert meters[-1].identifier == HEAT_PUMP and meters[-1].source == "gwa"
    assert meters[-1].public_key_sha256 == pairing["meter_tls_fingerprint"]


async def test_crypto_reset_on_request(unpaired: FlowWorld):
    world = unpaired
    result = await world.run(PAIRING, {"job": pairing_job(), **FAST}, {TRUST: True, RESET: True})
    assert result.succeeded, (result.failed_step, result.error)
    assert world.core.processes == ["meter_profile.read", "crypto_reset", "pairing"]
    reset = result.results["crypto_reset"].data
    assert reset["done"] and reset["reason"] == "repair" and reset["gwa"]["ok"]
    assert meter(world).paired
    lines = {line["check"]: line for line in result.results["result"].data["lines"]}
    assert lines["crypto_reset"]["evidence"]["en"] == "done"


async def test_fe09_is_explained(demo_pki, tmp_path: Path):
    async with flow_world(demo_pki, tmp_path, certificates="wirkzertifikat",
                          unpaired=[HEAT_PUMP], pairing_rejected=[HEAT_PUMP]) as world:
        result = await world.run(PAIRING, {"job": pairing_job(), **FAST},
                                 {TRUST: True, RESET: False, RETRY: False})
        assert not meter(world).paired
        assert world.core.count("pairing") == 1
    assert result.failed_step == "pairing" and result.kind == "gwa"
    assert "FE 09" in result.error.en and "key exchange failed" in result.error.en
    assert "FE 09" in result.error.de and "Schlüsselaustausch" in result.error.de
    # the sentence itself, without the internal field name in front of it
    assert result.error.de.startswith(f"Pairing des Zählers {HEAT_PUMP} fehlgeschlagen")
    assert result.error.en.startswith(f"Pairing of meter {HEAT_PUMP} failed")
    hint = result.hint
    assert hint is not None
    assert "wrong or missing key material (key M)" in hint.en
    assert f"demo:M-{HEAT_PUMP}" in hint.en  # the work order's key reference, to check
    assert "Crypto-Reset" in hint.en and "retry the pairing" in hint.en
    assert "Schlüsselmaterial (Schlüssel M)" in hint.de


async def test_fe09_retry_after_crypto_reset(demo_pki, tmp_path: Path):
    async with flow_world(demo_pki, tmp_path, certificates="wirkzertifikat",
                          unpaired=[HEAT_PUMP], pairing_rejected=[HEAT_PUMP]) as world:
        result = await world.run(PAIRING, {"job": pairing_job(), **FAST},
                                 {TRUST: True, RESET: False, RETRY: True})
        assert world.core.processes == ["meter_profile.read", "pairing", "crypto_reset",
                                        "pairing"]
    assert [r.prompt.en for r in world.ui.asked] == [TRUST, RESET, RETRY]
    assert result.failed_step == "pairing"
    assert "even after a Crypto-Reset" in result.error.en
    assert "auch nach einem Crypto-Reset" in result.error.de


async def test_wrong_key_from_the_keyring_gives_fe09(unpaired: FlowWorld):
    world = unpaired
    store = MemorySecretStore()
    store.set(secret_key(KEY_SECRET_KIND, "msb-2025-02_1dzg0042123440"), "00" * 16)
    world.context.extras[SECRET_STORE_EXTRA] = store
    job = pairing_job(key_ref="msb-2025-02/1dzg0042123440")
    result = await world.run(PAIRING, {"job": job, **FAST, "crypto_reset": "no",
                                       "retry_with_crypto_reset": "no"}, {TRUST: True})
    assert result.failed_step == "pairing" and "FE 09" in result.error.en
    assert "msb-2025-02/1dzg0042123440" in (result.hint.en if result.hint else "")
    assert any("key M from keyring" in t for t in world.traces("gwa"))
    assert not meter(world).paired


async def test_typed_key_pairs(unpaired: FlowWorld):
    world = unpaired
    world.context.extras[SECRET_STORE_EXTRA] = MemorySecretStore()  # nothing stored
    key = demo_meter_key(ServerId.parse(HEAT_PUMP)).hex()
    prompt = f"Key M of meter {HEAT_PUMP} (key sheet MSB-7)"
    result = await world.run(PAIRING, {"job": pairing_job(key_ref="MSB-7"), **FAST,
                                       "crypto_reset": False},
                             {TRUST: True, prompt: ["not a key", key]})
    assert result.succeeded, (result.failed_step, result.error)
    asked = [r for r in world.ui.asked if r.kind == "enter_value"]
    assert asked[0].secret and asked[-1].error is not None  # the bad value was refused
    assert meter(world).paired
    assert key not in repr(result.results)


async def test_meter_missing_is_explained(demo_pki, tmp_path: Path):
    faults = [{"kind": "meter_missing", "server_id": HEAT_PUMP}]
    async with flow_world(demo_pki, tmp_path, certificates="wirkzertifikat",
                          unpaired=[HEAT_PUMP], faults=faults) as world:
        result = await world.run(PAIRING, {"job": pairing_job(), **FAST},
                                 {TRUST: True, RESET: False})
    assert result.failed_step == "pairing"
    assert "does not answer on the LMN (meter missing)" in result.error.en
    assert "antwortet im LMN nicht (Zähler fehlt)" in result.error.de
    assert result.hint is not None and "power" in result.hint.en


async def test_meter_not_at_the_gateway(unpaired: FlowWorld):
    world = unpaired
    result = await world.run(PAIRING, {"job": pairing_job("1ITF0012345672"), **FAST},
                             {TRUST: True})
    assert result.failed_step == "meter"
    assert "1ITF0012345672" in result.error.en and "no meter profile" in result.error.en
    assert result.hint is not None and "GWA must create it first" in result.hint.en
    assert "pairing" not in world.core.processes


async def test_server_id_not_on_the_work_order_stops_with_both(unpaired: FlowWorld):
    world = unpaired
    result = await world.run(PAIRING, {"job": pairing_job(), "server_id": HOUSEHOLD, **FAST},
                             {TRUST: True})
    assert result.failed_step == "meter" and result.kind == "mismatch"
    assert HOUSEHOLD in result.error.en and HEAT_PUMP in result.error.en


async def optical_meter(server_id: str) -> VirtualMeter:
    virtual = VirtualMeter(MeterProfile(ServerId.parse(server_id), push_interval=0.2))
    await virtual.start()
    return virtual


async def test_optical_read_matches_the_work_order(unpaired: FlowWorld):
    world = unpaired
    virtual = await optical_meter(HEAT_PUMP)
    try:
        world.context.optical = OpticalTarget(virtual.url, "sml")
        result = await world.run(PAIRING, {"job": pairing_job(), **FAST},
                                 {TRUST: True, RESET: False})
    finally:
        await virtual.stop()
    assert result.succeeded, (result.failed_step, result.error)
    assert result.results["meter"].data["optical"]["server_id"] == HEAT_PUMP
    lines = {line["check"]: line for line in result.results["result"].data["lines"]}
    assert f"optical {HEAT_PUMP}" in lines["meter"]["evidence"]["en"]
    # the read head's card: connected to the meter that was read
    head = world.context.link(Link.OPTICAL)
    assert head.state is LinkState.CONNECTED
    assert head.peer is not None and ServerId.parse(HEAT_PUMP).display in head.peer


async def test_optical_mismatch_stops_with_both_ids(unpaired: FlowWorld):
    world = unpaired
    virtual = await optical_meter(HOUSEHOLD)  # the read head sits on the other meter
    try:
        world.context.optical = OpticalTarget(virtual.url, "sml")
        result = await world.run(PAIRING, {"job": pairing_job(), **FAST}, {TRUST: True})
    finally:
        await virtual.stop()
    assert result.failed_step == "meter" and result.kind == "mismatch"
    assert HEAT_PUMP in result.error.en and HOUSEHOLD in result.error.en
    assert "optical interface" in result.error.en
    assert HEAT_PUMP in result.error.de and HOUSEHOLD in result.error.de
    assert world.core.processes == []  # nothing was sent to the gateway
    assert not meter(world).paired
    # the read head did answer (with the other meter): its card says so
    head = world.context.link(Link.OPTICAL)
    assert head.state is LinkState.CONNECTED
    assert head.peer is not None and ServerId.parse(HOUSEHOLD).display in head.peer


async def test_gwa_unreachable_for_a_while_then_back(unpaired: FlowWorld):
    world = unpaired
    engine = world.engine({TRUST: True, RESET: False})
    task: list[asyncio.Task[None]] = []

    async def outage() -> None:
        await world.cable.unplug()
        await asyncio.sleep(1.2)
        await world.cable.plug()

    def cut(event: Any) -> None:  # the GWA goes away right when the pairing step starts
        if getattr(event, "type", "") == "StepStarted" and event.step == "pairing":
            task.append(asyncio.ensure_future(outage()))

    engine.subscribe(cut)
    result = await engine.run(PAIRING, {"job": pairing_job(), **FAST})
    await asyncio.gather(*task)
    assert result.succeeded, (result.failed_step, result.error, result.hint)
    assert any("Next attempt in" in m for m in world.progress("pairing"))
    assert world.core.count("pairing") == 1 and meter(world).paired


async def test_pairing_is_never_queued(unpaired: FlowWorld):
    world = unpaired
    engine = world.engine({TRUST: True, RESET: False})

    def cut(event: Any) -> None:
        if getattr(event, "type", "") == "StepStarted" and event.step == "pairing":
            asyncio.ensure_future(world.cable.unplug())

    engine.subscribe(cut)
    result = await engine.run(PAIRING, {"job": pairing_job(), **FAST, "gwa_wait_seconds": 0.4,
                                        "gwa_offline": "queue"})
    assert result.failed_step == "pairing" and result.kind == "offline"
    assert "could not be reached" in result.error.en
    assert result.hint is not None and "not run twice" in result.hint.en
    assert world.core.count("pairing") == 0
    assert SMGW  # the same gateway is paired later by resuming


async def test_resume_after_fe09_is_a_real_retry(demo_pki, tmp_path: Path):
    async with flow_world(demo_pki, tmp_path, certificates="wirkzertifikat",
                          unpaired=[HEAT_PUMP], pairing_rejected=[HEAT_PUMP]) as world:
        failed = await world.run(PAIRING, {"job": pairing_job(), **FAST, "crypto_reset": "no",
                                           "retry_with_crypto_reset": "no"}, {TRUST: True})
        assert failed.failed_step == "pairing" and "FE 09" in failed.error.en
        world.wan.lmn.pairing_rejected = frozenset()  # the meter's key material was fixed
        resumed = await world.engine([]).resume(failed.run_id, PAIRING)
        assert resumed.succeeded, (resumed.failed_step, resumed.error)
        # the failed pairing is not replayed: the retry is a new request that really pairs
        assert world.core.count("pairing") == 2 and meter(world).paired
        data = resumed.results["pairing"].data
        assert data["outcome"] == "paired" and not data["gwa"]["replayed"]
