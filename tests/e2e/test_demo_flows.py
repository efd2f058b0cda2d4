"""Every job flow in demo mode, headless, as support and training run it:
``smgwct flow run NAME --demo --job FILE --answers FILE --json`` against the embedded default
(simulators in their own thread), from the scenario that shows the flow; the fault scenarios
fail - or recover - with the technician's explanation; the threaded embedded default starts and
stops cleanly."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.errors import ConfigurationError
from app.processes.flows import by_name
from app.resources import resource_path
from app.sim.demo_site import load_site, scenario_for_flow
from app.sim.embedded import EmbeddedDefault

pytestmark = pytest.mark.timeout(60)

JOBS = resource_path("demo", "jobs")
ANSWERS = Path(__file__).resolve().parents[1] / "fixtures" / "answers"
HANDOVER_JOB = JOBS / "handover.json"
CHANGE_JOB = JOBS / "meter-change.json"
SIMULATOR_THREAD = "smgwct-demo"


def run_flow(capsys: pytest.CaptureFixture[str], name: str, job: Path | None, answers: Path,
             *extra: str) -> tuple[int, list[dict[str, Any]]]:
    """``smgwct flow run NAME --demo ... --json``: exit code and the printed events."""
    args = ["flow", "run", name, "--demo", "--answers", str(answers), "--json", *extra]
    if job is not None:
        args += ["--job", str(job)]
    code = main(args)
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    return code, events


def succeeded(events: list[dict[str, Any]]) -> list[str]:
    return [e["step"] for e in events if e["type"] == "StepSucceeded"]


def step_data(events: list[dict[str, Any]], step: str) -> dict[str, Any]:
    return next(e["data"] for e in events if e["type"] == "StepSucceeded" and e["step"] == step)


def failure(events: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [e for e in events if e["type"] == "StepFailed"]
    assert len(failed) == 1, failed
    return failed[0]


def no_simulator_threads() -> bool:
    return not any(t.name.startswith(SIMULATOR_THREAD) for t in threading.enumerate())


# -- every flow, from its usual start state ----------------------------------------------------


#: steps a flow leaves out on the way these answers take (no export file was asked for)
NOT_TAKEN = {"logs": {"export"}}
FLOWS = [
    ("connection_test", None, "trust-only.json"),
    ("technical_data", HANDOVER_JOB, "trust-only.json"),
    ("logs", HANDOVER_JOB, "logs.json"),
    ("self_test", HANDOVER_JOB, "trust-only.json"),
    ("discovery", HANDOVER_JOB, "trust-only.json"),
    ("pairing", HANDOVER_JOB, "pairing.json"),
]


@pytest.mark.parametrize(("name", "job", "answers"), FLOWS, ids=[f[0] for f in FLOWS])
def test_each_flow_runs_in_demo_mode(capsys, name: str, job: Path | None, answers: str):
    code, events = run_flow(capsys, name, job, ANSWERS / answers)
    assert code == 0, failure(events)
    assert succeeded(events) == [s.name for s in by_name(name).steps
                                 if s.name not in NOT_TAKEN.get(name, set())]
    assert events[-1]["type"] == "RunResult" and events[-1]["outcome"] == "succeeded"
    assert no_simulator_threads()


def test_handover_switches_the_delivered_gateway_to_normal_operation(capsys):
    assert scenario_for_flow("handover") == "delivery"
    code, events = run_flow(capsys, "handover", HANDOVER_JOB, ANSWERS / "handover.json")
    assert code == 0, failure(events)
    assert succeeded(events) == [s.name for s in by_name("handover").steps]
    handover = step_data(events, "handover")
    assert (handover["state_before"], handover["state_after"]) == ("delivery", "normal")
    assert {c["state"] for c in handover["wan_certificates"].values()} == {"wirkzertifikat"}
    profile = handover["gwa_profile"]
    assert profile["revision_after"] == profile["revision_before"] + 1
    # the meters arrived unpaired and were paired by the handover
    meters = step_data(events, "meters")["meters"]
    assert [m["server_id"] for m in meters] == ["1EMH0012345678", "1DZG0042123440"]
    assert not any(m["already_paired"] for m in meters)
    assert step_data(events, "verdict")["verdict"] == "normal-operation"


def test_meter_change_swaps_the_spare_meter_in(capsys):
    code, events = run_flow(capsys, "meter_change", CHANGE_JOB, ANSWERS / "meter_change.json")
    assert code == 0, failure(events)
    assert succeeded(events) == [s.name for s in by_name("meter_change").steps]
    assert step_data(events, "swap")["demo_swap"] is True
    assert step_data(events, "detect")["event"]["code"] == 3001  # METER_DETECTED
    summary = step_data(events, "summary")
    assert (summary["old_meter"], summary["new_meter"]) == ("1EMH0012345678", "1DZG0042123440")
    # the evaluation profiles (with their EMT reference) were created again for the new meter
    moved = step_data(events, "evaluation")["profiles"]
    assert {p["id"] for p in moved} == {"01005e318027.taf7-1.sm", "01005e318021.taf1-1.sm"}
    assert step_data(events, "han_values")["values"]
    # the read head and the gateway read one and the same meter: its registers only grow, so
    # the gateway's first readout and the HAN values, taken later, are not below the optical
    # initial reading (they were: the virtual meter and the virtual SMGW counted apart)
    optical = {r["obis"]: Decimal(str(r["value"]))
               for r in step_data(events, "new_reading")["readings"]}
    later = [*step_data(events, "evaluation")["first_readout"],
             *step_data(events, "han_values")["values"]]
    assert {r["obis"] for r in later} == set(optical)
    for reading in later:
        assert Decimal(str(reading["value"])) >= optical[reading["obis"]], (reading, optical)
    assert step_data(events, "han_values")["plausibility"] == []


def test_an_interrupted_meter_change_resumes_against_the_same_demo_state(capsys, tmp_path):
    """The first run stops at the swap (not confirmed); the resumed run starts the simulators
    again on the stored state - the GWA on new ports - and finishes the change."""
    declined = tmp_path / "declined.json"
    answers = json.loads((ANSWERS / "meter_change.json").read_text("utf-8"))
    declined.write_text(json.dumps({**answers, "New meter installed and read head attached?":
                                    False}), "utf-8")
    code, events = run_flow(capsys, "meter_change", CHANGE_JOB, declined)
    assert code == 1 and failure(events)["step"] == "swap"
    run_id = events[-1]["run_id"]

    again = tmp_path / "again.json"
    again.write_text(json.dumps({
        **answers,
        "The step “Install the new meter” did not succeed last time. Run it again?": True}),
        "utf-8")
    code = main(["flow", "resume", run_id, "meter_change", "--demo", "--answers", str(again),
                 "--json"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert code == 0, failure(events)
    assert [e["step"] for e in events if e["type"] == "StepSkipped"][-1] == "remove_old"
    assert succeeded(events)[0] == "swap" and succeeded(events)[-1] == "summary"


# -- the fault scenarios -------------------------------------------------------------------------


def test_meter_missing_stops_the_handover_at_the_meters(capsys):
    code, events = run_flow(capsys, "handover", HANDOVER_JOB, ANSWERS / "handover.json",
                            "--scenario", "meter-missing")
    assert code == 1
    failed = failure(events)
    assert failed["step"] == "meters"
    assert "1DZG0042123440" in failed["error"]["en"]
    assert "does not answer on the LMN (meter missing)" in failed["error"]["en"]
    assert "LMN cable" in failed["hint"]["en"]


def test_pairing_refused_is_explained_after_the_crypto_reset(capsys):
    code, events = run_flow(capsys, "pairing", HANDOVER_JOB, ANSWERS / "pairing.json",
                            "--scenario", "pairing-refused")
    assert code == 1
    failed = failure(events)
    assert failed["step"] == "pairing"
    assert "FE 09" in failed["error"]["en"] and "even after a Crypto-Reset" in failed["error"]["en"]
    assert "key material" in failed["hint"]["en"] and "demo:M-1EMH0012345678" in \
        failed["hint"]["en"]


def test_han_lockout_names_the_remaining_time(capsys):
    code, events = run_flow(capsys, "handover", HANDOVER_JOB, ANSWERS / "handover.json",
                            "--scenario", "han-lockout")
    assert code == 1
    failed = failure(events)
    assert failed["step"] == "identity"  # trust needs no login; the first login is refused
    assert "locked the login" in failed["error"]["en"] and "min" in failed["error"]["en"]
    assert "Wait until the lock has expired" in failed["hint"]["en"]


def short_outage(tmp_path: Path) -> Path:
    """The shipped gwa-outage scenario with a 1.5 s outage and retries every 0.5 s."""
    scenario = tmp_path / "outage.json"
    shutil.copyfile(resource_path("demo", "gwa-outage.json"), scenario)
    site = json.loads(resource_path("demo", "sites", "gwa-outage.json").read_text("utf-8"))
    site.update(gwa_outage={"seconds": 1.5, "after": "first-request"}, gwa_retry_seconds=0.5)
    (tmp_path / "outage.site.json").write_text(json.dumps(site), "utf-8")
    return scenario


def test_gwa_unreachable_for_a_while_then_back(capsys, tmp_path):
    shipped = load_site("gwa-outage")
    assert shipped.gwa_outage is not None and shipped.gwa_outage.seconds == 12
    code, events = run_flow(capsys, "handover", HANDOVER_JOB, ANSWERS / "handover.json",
                            "--scenario", str(short_outage(tmp_path)))
    assert code == 0, failure(events)
    waiting = [e["message"]["en"] for e in events
               if e["type"] == "StepProgress" and e["step"] == "gwa"
               and e["message"]["en"].startswith("The GWA is not reachable")]
    assert waiting and "Next attempt in" in waiting[0]
    traces = [e["text"] for e in events if e["type"] == "TraceLine" and e["step"] == "gwa"]
    assert any("GWA unreachable (tcp)" in t for t in traces)
    # back again: the handover ran once, from delivery to normal
    assert succeeded(events) == [s.name for s in by_name("handover").steps]
    assert step_data(events, "handover")["state_before"] == "delivery"


# -- the threaded embedded default -------------------------------------------------------------


async def test_threaded_start_and_stop_leave_no_thread(tmp_path):
    demo = EmbeddedDefault(scenario="meter-change", data_dir=tmp_path, threaded=True)
    await demo.start()
    try:
        threads = [t for t in threading.enumerate() if t.name.startswith(SIMULATOR_THREAD)]
        assert threads and threading.current_thread() not in threads
        # the simulators live in their own loop: calls are marshalled into it
        loop = await demo.call(asyncio.get_running_loop)
        assert loop is not asyncio.get_running_loop()
        assert await demo.call(lambda: demo.wan.lmn.meters.keys()) >= {
            m.server_id for m in demo.site.bench}
        head = demo.context.optical.port
        await demo.swap_meter("1EMH0012345678", "1DZG0042123440")
        await demo.swap_meter("1EMH0012345678", "1DZG0042123440")  # changes nothing more
        assert demo.context.optical.port == head  # the read head stays where it is
        spare = await demo.call(lambda: demo.wan.lmn.meters[demo.site.bench[0].server_id])
        assert spare.present and not spare.paired
    finally:
        await demo.stop()
    await demo.stop()  # idempotent
    assert no_simulator_threads()


async def test_a_failed_threaded_start_propagates_its_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        demo = EmbeddedDefault(data_dir=tmp_path, threaded=True, han_port=port)
        with pytest.raises(ConfigurationError) as info:
            await demo.start()
    assert str(port) in info.value.message.en and "in use" in info.value.message.en
    assert no_simulator_threads()


async def test_a_start_given_up_by_the_caller_leaves_no_thread(tmp_path):
    demo = EmbeddedDefault(data_dir=tmp_path, threaded=True)
    starting = asyncio.ensure_future(demo.start())
    await asyncio.sleep(0.05)  # the simulators' thread is busy starting
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert no_simulator_threads()


async def test_the_virtual_smgw_holds_the_emt_profile_of_its_evaluation_profiles(tmp_path):
    """Bootstrap installs the EMT's communication profile the evaluation profiles refer to; a
    store from before gets it on the next start; so a profile can be written back."""
    from app.domain import LogicalName
    from app.sim.smgw.wan_store import StoreChange
    from app.transports.gwa import GwaLink

    emt = LogicalName.parse("01005e318031.emt-9900123000002.sm")
    demo = EmbeddedDefault(data_dir=tmp_path)
    await demo.start()
    try:
        assert demo.wan.book.communication(emt).peer_name == "EMT 9900123000002"
        await demo.wan.store.db.call(demo.wan.store.commit,
                                     StoreChange(delete_profiles=[("communication", emt.text)]))
    finally:
        await demo.stop()
    demo = EmbeddedDefault(data_dir=tmp_path)
    await demo.start()
    try:
        assert demo.wan.book.communication(emt) is not None
        smgw = demo.context.han.smgw_id
        async with GwaLink(demo.context.gwa, queue_path=tmp_path / "queue.sqlite") as link:
            read = await link.run("evaluation_profile.read", smgw,
                                  {"id": "01005e318027.taf7-2.sm"})
            assert read.ok, read.summary
            profile = read.status.response.result
            assert (await link.run("evaluation_profile.delete", smgw,
                                   {"id": profile.id.text, "kind": profile.kind.value})).ok
            created = await link.run("evaluation_profile.create", smgw, {"profile": profile})
            assert created.ok, created.summary  # no 422 missing-reference
    finally:
        await demo.stop()
