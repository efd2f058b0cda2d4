"""The flow engine: branches, events, timeouts, cancellation, errors, persistence, resume."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.errors import InvalidValue, SmgwctError, Text
from app.processes.engine import Engine, Flow, Step, StepContext, StepOutcome
from app.processes.events import (
    Event,
    FlowFinished,
    FlowStarted,
    NeedsInput,
    StepFailed,
    StepProgress,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    TraceLine,
)
from app.processes.interaction import ScriptedInteraction
from app.store.audit import AuditLog
from app.store.db import JobStore, RunState, StepState


def T(s: str) -> Text:
    return Text(s, f"de:{s}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    s = JobStore(tmp_path / "jobs.sqlite3")
    yield s
    s.close()


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    a = AuditLog(tmp_path / "audit.sqlite3")
    yield a
    a.close()


def make_engine(
    store: JobStore, audit: AuditLog, answers: Any = (), services: Any = None
) -> tuple[Engine, list[Event], ScriptedInteraction]:
    ui = ScriptedInteraction(answers)
    engine = Engine(store, audit, ui, services)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    return engine, seen, ui


def kinds(events: list[Event]) -> list[str]:
    out = []
    for e in events:
        step = getattr(e, "step", None)
        out.append(f"{e.type}:{step}" if step else e.type)
    return out


def branching_flow(calls: list[str]) -> Flow:
    async def check(ctx: StepContext) -> dict[str, Any]:
        calls.append("check")
        return {"ok": ctx.data["meter_ok"]}

    async def fix(ctx: StepContext) -> StepOutcome:
        calls.append("fix")
        return StepOutcome({"fixed": True}, summary=T("fixed"))

    async def report(ctx: StepContext) -> dict[str, Any]:
        calls.append("report")
        return {"saw": sorted(ctx.results)}

    return Flow(
        "branchy",
        T("Branchy"),
        [
            Step("check", T("Check"), check,
                 branch=lambda o: "report" if o.data["ok"] else "fix"),
            Step("fix", T("Fix"), fix),
            Step("report", T("Report"), report),
        ],
    )


async def test_flow_with_branches_runs_the_chosen_path(store: JobStore, audit: AuditLog) -> None:
    calls: list[str] = []
    engine, seen, _ = make_engine(store, audit)

    ok = await engine.run(branching_flow(calls), {"meter_ok": True}, run_id="r-ok")
    assert ok.outcome == "succeeded" and ok.succeeded
    assert calls == ["check", "report"]
    assert ok.results["report"].data == {"saw": ["check"]}

    calls.clear()
    bad = await engine.run(branching_flow(calls), {"meter_ok": False}, run_id="r-bad")
    assert calls == ["check", "fix", "report"]
    assert bad.results["report"].data == {"saw": ["check", "fix"]}
    assert bad.results["fix"].summary == T("fixed")

    # persisted: run state and every visit with its data
    assert store.get_run("r-bad").state == RunState.SUCCEEDED  # type: ignore[union-attr]
    visits = store.steps("r-bad")
    assert [(v.step, v.state, v.next_step) for v in visits] == [
        ("check", StepState.SUCCEEDED, "fix"),
        ("fix", StepState.SUCCEEDED, "report"),
        ("report", StepState.SUCCEEDED, None),
    ]
    assert visits[1].summary == T("fixed") and visits[0].data == {"ok": False}


async def test_events_arrive_in_order_and_are_json(store: JobStore, audit: AuditLog) -> None:
    async def one(ctx: StepContext) -> dict[str, Any]:
        ctx.progress(0.5, T("half"))
        ctx.trace("han", "tx", "GET /status")
        ctx.progress(2.0, "over")  # clamped, plain str accepted
        return {"n": 1}

    async def two(ctx: StepContext) -> None:
        assert ctx.results["one"].data == {"n": 1}

    flow = Flow("f", T("F"), [Step("one", T("One"), one), Step("two", T("Two"), two)])
    engine, seen, _ = make_engine(store, audit)
    result = await engine.run(flow, {}, run_id="r1")
    assert result.succeeded
    assert kinds(seen) == [
        "FlowStarted", "StepStarted:one", "StepProgress:one", "TraceLine:one", "StepProgress:one",
        "StepSucceeded:one", "StepStarted:two", "StepSucceeded:two", "FlowFinished",
    ]
    assert all(e.run_id == "r1" and e.flow == "f" for e in seen)
    assert [e.timestamp for e in seen] == sorted(e.timestamp for e in seen)
    assert all(e.timestamp.utcoffset().total_seconds() == 0 for e in seen)  # type: ignore[union-attr]
    progress = [e for e in seen if isinstance(e, StepProgress)]
    assert [p.fraction for p in progress] == [0.5, 1.0]
    trace = next(e for e in seen if isinstance(e, TraceLine))
    assert (trace.channel, trace.direction, trace.text) == ("han", "tx", "GET /status")
    decoded = [json.loads(json.dumps(e.to_dict())) for e in seen]
    assert decoded[2]["message"] == {"en": "half", "de": "de:half"}
    assert decoded[5] == {**decoded[5], "type": "StepSucceeded", "data": {"n": 1}}
    assert decoded[-1]["outcome"] == "succeeded"


async def test_async_event_stream_ends_with_the_run(store: JobStore, audit: AuditLog) -> None:
    async def one(ctx: StepContext) -> None:
        await asyncio.sleep(0)

    flow = Flow("f", T("F"), [Step("one", T("One"), one)])
    engine, _, _ = make_engine(store, audit)
    stream = engine.events("r-stream")
    task = asyncio.create_task(engine.run(flow, run_id="r-stream"))
    got = [e.type async for e in stream]
    await task
    assert got == ["FlowStarted", "StepStarted", "StepSucceeded", "FlowFinished"]


async def test_step_timeout_fails_with_kind_timeout(store: JobStore, audit: AuditLog) -> None:
    async def slow(ctx: StepContext) -> None:
        await asyncio.sleep(10)

    reached: list[str] = []

    async def after(ctx: StepContext) -> None:
        reached.append("after")

    flow = Flow("f", T("F"), [Step("slow", T("Slow"), slow, timeout=0.1),
                              Step("after", T("After"), after)])
    engine, seen, _ = make_engine(store, audit)
    result = await engine.run(flow, run_id="r-to")
    assert result.outcome == "failed" and result.kind == "timeout"
    assert result.failed_step == "slow" and reached == []
    failed = next(e for e in seen if isinstance(e, StepFailed))
    assert failed.kind == "timeout" and "0.1 s" in failed.error.en and "0.1 s" in failed.error.de
    assert failed.hint is not None
    assert isinstance(seen[-1], FlowFinished) and seen[-1].outcome == "failed"
    assert store.get_run("r-to").state == RunState.FAILED  # type: ignore[union-attr]
    visit = store.steps("r-to")[0]
    assert visit.state == StepState.FAILED and visit.error is not None
    assert visit.error.kind == "timeout"


class SlowInteraction(ScriptedInteraction):
    """Answers like a technician who takes a while."""

    async def confirm(self, prompt: Text, detail: Text | None = None) -> bool:
        await asyncio.sleep(0.4)
        return await super().confirm(prompt, detail)


async def test_time_waiting_for_the_technician_does_not_count(
    store: JobStore, audit: AuditLog
) -> None:
    async def ask(ctx: StepContext) -> dict[str, Any]:
        yes = await ctx.ui.confirm(T("Is the LED green?"))
        await asyncio.sleep(0.1)  # the remaining budget still applies afterwards
        return {"green": yes}

    flow = Flow("f", T("F"), [Step("ask", T("Ask"), ask, timeout=0.25)])
    engine = Engine(store, audit, SlowInteraction([True]))
    seen: list[Event] = []
    engine.subscribe(seen.append)
    result = await engine.run(flow, run_id="r-pause")
    assert result.succeeded, result.error
    assert result.results["ask"].data == {"green": True}
    needs = next(e for e in seen if isinstance(e, NeedsInput))
    assert needs.request.kind == "confirm" and needs.request.prompt == T("Is the LED green?")


async def test_timeout_still_applies_after_an_answer(store: JobStore, audit: AuditLog) -> None:
    async def ask(ctx: StepContext) -> None:
        await ctx.ui.confirm(T("Go?"))
        await asyncio.sleep(5)

    flow = Flow("f", T("F"), [Step("ask", T("Ask"), ask, timeout=0.2)])
    engine = Engine(store, audit, SlowInteraction([True]))
    result = await engine.run(flow, run_id="r-pause2")
    assert result.kind == "timeout"


async def test_cancel_by_run_id_stops_the_step_and_is_persisted(
    store: JobStore, audit: AuditLog
) -> None:
    started = asyncio.Event()
    cleaned: list[str] = []

    async def blocking(ctx: StepContext) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append("cleanup")

    async def never(ctx: StepContext) -> None:
        raise AssertionError("must not run after cancel")

    flow = Flow("f", T("F"), [Step("block", T("Block"), blocking), Step("never", T("N"), never)])
    engine, seen, _ = make_engine(store, audit)
    task = asyncio.create_task(engine.run(flow, run_id="r-c"))
    await asyncio.wait_for(started.wait(), 5)
    assert engine.is_running("r-c")
    assert engine.cancel("r-c") is True
    result = await asyncio.wait_for(task, 5)
    assert result.outcome == "cancelled" and result.failed_step == "block"
    assert cleaned == ["cleanup"]
    assert isinstance(seen[-1], FlowFinished) and seen[-1].outcome == "cancelled"
    assert not engine.is_running("r-c") and engine.cancel("r-c") is False
    assert store.get_run("r-c").state == RunState.CANCELLED  # type: ignore[union-attr]
    assert store.steps("r-c")[0].state == StepState.CANCELLED
    assert audit.entries()[-1].payload["outcome"] == "cancelled"


async def test_asyncio_cancel_is_persisted_and_propagates(
    store: JobStore, audit: AuditLog
) -> None:
    started = asyncio.Event()

    async def blocking(ctx: StepContext) -> None:
        started.set()
        await asyncio.sleep(30)

    flow = Flow("f", T("F"), [Step("block", T("Block"), blocking)])
    engine, seen, _ = make_engine(store, audit)
    task = asyncio.create_task(engine.run(flow, run_id="r-ac"))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert isinstance(seen[-1], FlowFinished) and seen[-1].outcome == "cancelled"
    assert store.get_run("r-ac").state == RunState.CANCELLED  # type: ignore[union-attr]
    assert store.steps("r-ac")[0].state == StepState.CANCELLED


async def test_check_cancelled_in_a_worker_thread(store: JobStore, audit: AuditLog) -> None:
    looping = asyncio.Event()

    async def crunch(ctx: StepContext) -> None:
        loop = asyncio.get_running_loop()

        def work() -> None:
            import time
            loop.call_soon_threadsafe(looping.set)
            for _ in range(500):
                ctx.check_cancelled()
                time.sleep(0.01)

        await asyncio.shield(asyncio.to_thread(work))  # the thread itself must notice

    flow = Flow("f", T("F"), [Step("crunch", T("Crunch"), crunch)])
    engine, _, _ = make_engine(store, audit)
    task = asyncio.create_task(engine.run(flow, run_id="r-t"))
    await asyncio.wait_for(looping.wait(), 5)
    engine.cancel("r-t")
    result = await asyncio.wait_for(task, 5)
    assert result.outcome == "cancelled"


async def test_technician_error_keeps_its_text_and_hint(store: JobStore, audit: AuditLog) -> None:
    class LockedOut(SmgwctError):
        kind = "lockout"

    async def login(ctx: StepContext) -> None:
        raise LockedOut(Text("Locked for 5 min.", "Für 5 min gesperrt."), field="password",
                        hint=Text("Wait, then retry.", "Warten, dann erneut."))

    async def plain(ctx: StepContext) -> None:
        raise SmgwctError(Text("Bad.", "Schlecht."))

    engine, seen, _ = make_engine(store, audit)
    result = await engine.run(Flow("f", T("F"), [Step("login", T("Login"), login)]), run_id="a")
    assert result.kind == "lockout"
    # the technician sees the sentence, not the technical field name in front of it
    assert result.error == Text("Locked for 5 min.", "Für 5 min gesperrt.")
    assert result.hint == Text("Wait, then retry.", "Warten, dann erneut.")
    failed = next(e for e in seen if isinstance(e, StepFailed))
    assert failed.error == result.error and failed.kind == "lockout"
    logged = next(e for e in audit.entries() if e.action == "step.failed")
    assert logged.payload["field"] == "password"
    result = await engine.run(Flow("g", T("G"), [Step("p", T("P"), plain)]), run_id="b")
    assert result.kind == "error" and result.error == Text("Bad.", "Schlecht.")


async def test_error_names_its_field_only_when_it_is_job_data(store: JobStore,
                                                               audit: AuditLog) -> None:
    """``from: …`` helps when the technician typed ``from``; ``job: …`` or ``pairing: …`` in
    front of a sentence is noise (the step title is shown next to it)."""
    async def check(ctx: StepContext) -> None:
        raise SmgwctError(Text("Not a date.", "Kein Datum."), field="from")

    async def needs_order(ctx: StepContext) -> None:
        raise SmgwctError(Text("This flow needs a work order.",
                               "Dieser Ablauf braucht einen Auftrag."), field="job")

    engine, _, _ = make_engine(store, audit)
    typed = await engine.run(Flow("f", T("F"), [Step("s", T("S"), check)]),
                             {"from": "yesterday"}, run_id="c")
    assert typed.error == Text("from: Not a date.", "from: Kein Datum.")
    missing = await engine.run(Flow("g", T("G"), [Step("s", T("S"), needs_order)]), run_id="d")
    assert missing.error is not None
    assert missing.error.de == "Dieser Ablauf braucht einen Auftrag."


async def test_unexpected_exception_is_internal_and_logged(
    store: JobStore, audit: AuditLog, caplog: pytest.LogCaptureFixture
) -> None:
    async def buggy(ctx: StepContext) -> None:
        raise KeyError("secret-internal-detail")

    engine, seen, _ = make_engine(store, audit)
    with caplog.at_level(logging.ERROR, logger="app.processes.engine"):
        result = await engine.run(Flow("f", T("F"), [Step("b", T("Buggy"), buggy)]), run_id="i")
    assert result.outcome == "failed" and result.kind == "internal"
    assert result.error is not None and "Buggy" in result.error.en
    assert "secret-internal-detail" not in result.error.en  # generic text for the technician
    assert any("secret-internal-detail" in (r.exc_text or "") for r in caplog.records)
    assert isinstance(seen[-1], FlowFinished) and seen[-1].outcome == "failed"
    # the engine keeps working
    async def fine(ctx: StepContext) -> None:
        return None

    again = await engine.run(Flow("f", T("F"), [Step("b", T("B"), fine)]), run_id="i2")
    assert again.succeeded


async def test_bad_step_results_and_branches_are_internal_errors(
    store: JobStore, audit: AuditLog
) -> None:
    async def not_json(ctx: StepContext) -> dict[str, Any]:
        return {"x": object()}

    async def wrong_type(ctx: StepContext) -> Any:
        return 42

    async def ok(ctx: StepContext) -> None:
        return None

    engine, _, _ = make_engine(store, audit)
    for i, step in enumerate([
        Step("s", T("S"), not_json),
        Step("s", T("S"), wrong_type),
        Step("s", T("S"), ok, branch=lambda o: "nowhere"),
    ]):
        result = await engine.run(Flow("f", T("F"), [step]), run_id=f"bad{i}")
        assert result.kind == "internal", i


async def test_subscriber_errors_do_not_break_the_run(store: JobStore, audit: AuditLog) -> None:
    async def ok(ctx: StepContext) -> None:
        return None

    engine, seen, _ = make_engine(store, audit)

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    unsubscribe = engine.subscribe(broken)
    result = await engine.run(Flow("f", T("F"), [Step("s", T("S"), ok)]), run_id="sub")
    assert result.succeeded and isinstance(seen[-1], FlowFinished)
    unsubscribe()


async def test_answers_are_audited_but_secrets_never(store: JobStore, audit: AuditLog) -> None:
    async def ask(ctx: StepContext) -> dict[str, Any]:
        host = await ctx.ui.enter_value(T("HAN address"), default="192.168.1.200")
        pw = await ctx.ui.enter_value(T("Password"), secret=True)
        tariff = await ctx.ui.choose(T("Tariff"), [("a", T("A")), ("b", T("B"))])
        sure = await ctx.ui.confirm(T("Sure?"))
        return {"host": host, "tariff": tariff, "sure": sure, "pw_len": len(pw)}

    engine, seen, _ = make_engine(
        store, audit, ["10.0.0.5", "hunter2-very-secret", "b", "ja"]
    )
    result = await engine.run(Flow("f", T("F"), [Step("ask", T("Ask"), ask)]), run_id="ans")
    assert result.results["ask"].data == {"host": "10.0.0.5", "tariff": "b", "sure": True,
                                          "pw_len": 19}
    answers = [e.payload for e in audit.entries(run_id="ans") if e.action == "answer"]
    assert [(a["prompt"], a["answer"], a["secret"]) for a in answers] == [
        ("HAN address", "10.0.0.5", False),
        ("Password", None, True),
        ("Tariff", "b", False),
        ("Sure?", True, False),
    ]
    assert all(e.actor == "technician" for e in audit.entries() if e.action == "answer")
    # the secret appears nowhere: not in audit, not in the job store, not in events
    raw = b"".join(p.read_bytes() for p in Path(store.path).parent.glob("*.sqlite3*"))
    assert b"hunter2" not in raw
    assert "hunter2" not in json.dumps([e.to_dict() for e in seen])
    requests = [e.request for e in seen if isinstance(e, NeedsInput)]
    assert [r.kind for r in requests] == ["enter_value", "enter_value", "choose", "confirm"]
    assert requests[0].default == "192.168.1.200" and requests[1].secret


async def test_missing_scripted_answer_fails_the_step_clearly(
    store: JobStore, audit: AuditLog
) -> None:
    async def ask(ctx: StepContext) -> None:
        await ctx.ui.confirm(T("Seal intact?"))

    engine, _, _ = make_engine(store, audit, {})
    result = await engine.run(Flow("f", T("F"), [Step("ask", T("Ask"), ask)]), run_id="m")
    assert result.outcome == "failed" and result.error is not None
    assert "Seal intact?" in result.error.en
    assert result.hint is not None and "answers file" in result.hint.en


async def test_every_transition_is_in_the_audit_log(store: JobStore, audit: AuditLog) -> None:
    calls: list[str] = []
    engine, _, _ = make_engine(store, audit)
    await engine.run(branching_flow(calls), {"meter_ok": True}, run_id="aud")
    actions = [(e.action, e.payload.get("step")) for e in audit.entries(run_id="aud")]
    assert actions == [
        ("flow.started", None),
        ("step.started", "check"), ("step.succeeded", "check"),
        ("step.started", "report"), ("step.succeeded", "report"),
        ("flow.finished", None),
    ]
    assert audit.verify().ok


async def test_rejects_bad_job_data_and_duplicate_ids(store: JobStore, audit: AuditLog) -> None:
    async def ok(ctx: StepContext) -> None:
        return None

    flow = Flow("f", T("F"), [Step("s", T("S"), ok)])
    engine, seen, _ = make_engine(store, audit)
    with pytest.raises(InvalidValue):
        await engine.run(flow, {"when": object()})
    await engine.run(flow, run_id="dup")
    with pytest.raises(SmgwctError, match="exists already"):
        await engine.run(flow, run_id="dup")
    with pytest.raises(ValueError):
        Flow("x", T("X"), [Step("s", T("S"), ok), Step("s", T("S"), ok)])


async def test_loops_are_bounded(store: JobStore, audit: AuditLog) -> None:
    async def poll(ctx: StepContext) -> None:
        return None

    flow = Flow("f", T("F"), [Step("poll", T("Poll"), poll, branch=lambda o: "poll")],
                max_visits=5)
    engine, _, _ = make_engine(store, audit)
    result = await engine.run(flow, run_id="loop")
    assert result.kind == "internal"
    assert len(store.steps("loop")) == 5


# -- resume ----------------------------------------------------------------------------------


def counting_flow(calls: list[str], *, idempotent_two: bool = True, fail_two: bool = False) -> Flow:
    async def one(ctx: StepContext) -> dict[str, Any]:
        calls.append("one")
        return {"serial": "EMH123"}

    async def two(ctx: StepContext) -> dict[str, Any]:
        calls.append("two")
        if fail_two:
            raise SmgwctError(Text("No link.", "Keine Verbindung."))
        return {"sent": True}

    async def three(ctx: StepContext) -> dict[str, Any]:
        calls.append("three")
        return {"from_one": ctx.results["one"].data["serial"]}

    return Flow("commission", T("Commission"), [
        Step("one", T("One"), one),
        Step("two", T("Send command"), two, idempotent=idempotent_two),
        Step("three", T("Three"), three),
    ])


def simulate_crash_in_two(store: JobStore) -> None:
    """What a killed process leaves behind: step one done, step two started, never finished."""
    store.create_run("crash", "commission", {"job": 7})
    seq = store.start_step("crash", "one")
    store.finish_step("crash", seq, StepState.SUCCEEDED, data={"serial": "EMH123"},
                      summary=T("read"), next_step="two")
    store.start_step("crash", "two")


async def test_resume_skips_succeeded_steps(store: JobStore, audit: AuditLog) -> None:
    simulate_crash_in_two(store)
    calls: list[str] = []
    engine, seen, _ = make_engine(store, audit)
    result = await engine.resume("crash", counting_flow(calls))
    assert result.succeeded
    assert calls == ["two", "three"]
    assert result.results["three"].data == {"from_one": "EMH123"}
    assert kinds(seen)[:3] == ["FlowStarted", "StepSkipped:one", "StepStarted:two"]
    assert isinstance(seen[0], FlowStarted) and seen[0].resumed
    skipped = seen[1]
    assert isinstance(skipped, StepSkipped)
    assert skipped.data == {"serial": "EMH123"} and skipped.summary == T("read")
    states = [(v.step, v.state) for v in store.steps("crash")]
    assert states == [("one", StepState.SUCCEEDED), ("two", StepState.INTERRUPTED),
                      ("two", StepState.SUCCEEDED), ("three", StepState.SUCCEEDED)]
    assert store.get_run("crash").state == RunState.SUCCEEDED  # type: ignore[union-attr]
    assert "step.interrupted" in [e.action for e in audit.entries(run_id="crash")]
    with pytest.raises(SmgwctError, match="already finished"):
        await engine.resume("crash", counting_flow(calls))


async def test_interrupted_non_idempotent_step_is_repeated_only_when_confirmed(
    store: JobStore, audit: AuditLog
) -> None:
    simulate_crash_in_two(store)
    calls: list[str] = []
    engine, seen, ui = make_engine(store, audit, [True])
    result = await engine.resume("crash", counting_flow(calls, idempotent_two=False))
    assert result.succeeded and calls == ["two", "three"]
    assert len(ui.asked) == 1 and ui.asked[0].kind == "confirm"
    assert "Send command" in ui.asked[0].prompt.en and "interrupted" in ui.asked[0].prompt.en
    needs = [e for e in seen if isinstance(e, NeedsInput)]
    assert [n.step for n in needs] == ["two"]
    actions = [e.action for e in audit.entries(run_id="crash")]
    assert "step.repeat_confirmed" in actions and "answer" in actions


async def test_declined_repeat_does_not_run_the_step(store: JobStore, audit: AuditLog) -> None:
    simulate_crash_in_two(store)
    calls: list[str] = []
    engine, seen, ui = make_engine(store, audit, ["nein"])
    result = await engine.resume("crash", counting_flow(calls, idempotent_two=False))
    assert result.outcome == "cancelled" and result.kind == "interrupted"
    assert calls == []
    assert result.failed_step == "two" and result.error is not None
    assert isinstance(seen[-1], FlowFinished) and seen[-1].outcome == "cancelled"
    assert store.get_run("crash").state == RunState.CANCELLED  # type: ignore[union-attr]
    assert "step.repeat_declined" in [e.action for e in audit.entries(run_id="crash")]
    # asked again on the next resume; this time yes
    engine2, _, ui2 = make_engine(store, audit, ["yes"])
    result = await engine2.resume("crash", counting_flow(calls, idempotent_two=False))
    assert result.succeeded and calls == ["two", "three"] and len(ui2.asked) == 1


async def test_idempotent_step_is_repeated_without_asking(
    store: JobStore, audit: AuditLog
) -> None:
    simulate_crash_in_two(store)
    engine, _, ui = make_engine(store, audit, [])  # no answers: any question would fail
    result = await engine.resume("crash", counting_flow([]))
    assert result.succeeded and ui.asked == []


async def test_resume_after_failure_retries_the_failed_step(
    store: JobStore, audit: AuditLog
) -> None:
    calls: list[str] = []
    engine, _, _ = make_engine(store, audit)
    first = await engine.run(counting_flow(calls, fail_two=True), run_id="retry")
    assert first.outcome == "failed" and first.failed_step == "two"
    assert calls == ["one", "two"]
    calls.clear()
    second = await engine.resume("retry", counting_flow(calls))
    assert second.succeeded and calls == ["two", "three"]


async def test_resume_after_cancel_between_steps(store: JobStore, audit: AuditLog) -> None:
    calls: list[str] = []
    engine, _, _ = make_engine(store, audit)

    def cancel_after_one(event: Event) -> None:
        # the technician presses Cancel just as step one is reported done
        if isinstance(event, StepSucceeded) and event.step == "one":
            engine.cancel(event.run_id)

    async def one(ctx: StepContext) -> None:
        calls.append("one")

    async def two(ctx: StepContext) -> None:
        calls.append("two")

    flow = Flow("c", T("C"), [Step("one", T("One"), one), Step("two", T("Two"), two)])
    unsubscribe = engine.subscribe(cancel_after_one)
    first = await engine.run(flow, run_id="cb")
    unsubscribe()
    assert first.outcome == "cancelled" and calls == ["one"]
    assert [v.state for v in store.steps("cb")] == [StepState.SUCCEEDED]
    assert store.get_run("cb").state == RunState.CANCELLED  # type: ignore[union-attr]
    second = await engine.resume("cb", flow)
    assert second.succeeded and calls == ["one", "two"]


async def test_resume_checks_the_flow(store: JobStore, audit: AuditLog) -> None:
    simulate_crash_in_two(store)
    engine, _, _ = make_engine(store, audit)
    with pytest.raises(SmgwctError, match="No job"):
        await engine.resume("nope", counting_flow([]))
    other = Flow("other", T("O"), counting_flow([]).steps)
    with pytest.raises(SmgwctError, match="belongs to the flow"):
        await engine.resume("crash", other)
    renamed = Flow("commission", T("C"), counting_flow([]).steps[:1])
    with pytest.raises(SmgwctError, match="does not know"):
        await engine.resume("crash", renamed)


async def test_services_and_data_reach_the_step(store: JobStore, audit: AuditLog) -> None:
    seen_ctx: dict[str, Any] = {}

    async def peek(ctx: StepContext) -> None:
        seen_ctx.update(services=ctx.services, data=dict(ctx.data), run_id=ctx.run_id,
                        flow=ctx.flow.name, step=ctx.step)

    services = object()
    engine, _, _ = make_engine(store, audit, services=services)
    await engine.run(Flow("f", T("F"), [Step("p", T("P"), peek)]), {"smgw": "E1"}, run_id="sv")
    assert seen_ctx == {"services": services, "data": {"smgw": "E1"}, "run_id": "sv",
                        "flow": "f", "step": "p"}


async def test_every_event_kind_serialises(store: JobStore, audit: AuditLog) -> None:
    events: list[Event] = [
        StepStarted("s", T("S"), run_id="r", flow="f"),
        StepSucceeded("s", None, {"a": [1, 2]}, run_id="r", flow="f"),
        StepFailed("s", T("e"), None, "timeout", run_id="r", flow="f"),
    ]
    for event in events:
        d = json.loads(json.dumps(event.to_dict()))
        assert d["type"] == type(event).__name__ and d["run_id"] == "r"
        assert d["timestamp"].endswith("+00:00")
