"""Switching the demo scenario in place (``app.sim.demo_switch``): real simulators on loopback,
in their own thread as in ``smgwct demo``; the same context object follows the new scenario."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.context import AppContext, Link, LinkState
from app.processes.engine import Engine
from app.processes.flows.connection_test import CONNECTION_TEST
from app.processes.interaction import ScriptedInteraction
from app.sim import demo_switch
from app.sim.demo_switch import (
    ScenarioSwitchError,
    add_demo_jobs,
    current_scenario,
    demo_job_files,
    demo_job_id,
    scenario_infos,
    suggested_scenario,
    switch_scenario,
)
from app.sim.embedded import DEMO_METERS, EmbeddedDefault
from app.store.audit import AuditLog
from app.store.db import JobStore


@pytest.fixture
async def running(tmp_path: Path):
    """The embedded default as ``smgwct demo`` starts it (threaded); stops what runs at the end
    (the context follows every switch)."""
    embedded = EmbeddedDefault(data_dir=tmp_path / "data", threaded=True)
    await embedded.start()
    context = embedded.context
    yield embedded
    demo = context.demo
    if demo is not None:
        await demo.stop()
    await embedded.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _connection_check(context: AppContext, tmp_path: Path) -> object:
    engine = Engine(JobStore(tmp_path / "runs.sqlite3"), AuditLog(tmp_path / "audit.sqlite3"),
                    ScriptedInteraction([True]), context)
    try:
        return await engine.run(CONNECTION_TEST)
    finally:
        engine.store.close()
        engine.audit.close()


async def test_switch_points_the_same_context_at_the_new_gateway(running, tmp_path):
    context = running.context
    old_han, old_gwa, old_optical = context.han, context.gwa, context.optical
    keep = context.extras["kept"] = object()  # what others lend the context stays
    heard: list[object] = []
    context.add_listener(heard.append)
    context.update_link(Link.HAN, state=LinkState.CONNECTED, peer="ETHE0390000001")
    said: list[str] = []

    new = await switch_scenario(context, "delivery", progress=lambda t: said.append(t.en))

    assert new is not running and new.context is context
    assert context.demo is new and current_scenario(context) == "delivery"
    assert not running.running and new.running
    assert (new.data_dir, new.threaded, new.host) == (running.data_dir, True, running.host)
    assert context.han is not old_han and context.han.port != old_han.port
    assert context.gwa.base_url != old_gwa.base_url
    assert context.optical.port != old_optical.port
    assert set(context.extras[DEMO_METERS]) == {m.profile.server_id.hex for m in new.meters}
    assert context.extras["kept"] is keep
    assert all(s.state is LinkState.UNKNOWN and s.peer is None for s in context.links())
    assert heard  # the connection panel heard the reset
    assert said[0] == "Stopping the scenario 'default'…"
    assert "Starting the scenario 'delivery'…" in said
    # the gateway behind the new targets is the delivery one (Gütesiegel, meters not paired)
    meters = await new.call(lambda: [m.paired for m in new.gateway.meters])
    assert meters and not any(meters)
    # and a flow reaches it
    result = await _connection_check(context, tmp_path)
    assert result.succeeded, result.error
    assert context.link(Link.HAN).state is LinkState.CONNECTED


async def test_an_unknown_scenario_is_refused_and_the_old_one_keeps_running(running):
    context = running.context
    han = context.han
    with pytest.raises(ScenarioSwitchError) as caught:
        await switch_scenario(context, "no-such-scenario")
    error = caught.value
    assert error.running == "default"
    assert "no-such-scenario" in error.message.en and "keeps running" in error.message.en
    assert "läuft weiter" in error.message.de
    assert "Available:" in error.hint.en and "delivery" in error.hint.en
    assert context.demo is running and running.running and context.han is han


async def test_a_busy_port_brings_the_previous_scenario_back(tmp_path, monkeypatch):
    port = _free_port()
    embedded = EmbeddedDefault(data_dir=tmp_path / "data", threaded=True, han_port=port)
    await embedded.start()
    context = embedded.context
    blocker = socket.socket()
    stop = EmbeddedDefault.stop
    grabbed: list[bool] = []

    async def stop_and_lose_the_port(self: EmbeddedDefault) -> None:
        await stop(self)
        if not grabbed:  # another program takes the HAN port meanwhile
            grabbed.append(True)
            blocker.bind(("127.0.0.1", port))
            blocker.listen()

    restart = demo_switch._restart

    async def program_ends_then_restart(*args: object):
        blocker.close()  # ... and is closed before the previous scenario starts again
        return await restart(*args)

    monkeypatch.setattr(EmbeddedDefault, "stop", stop_and_lose_the_port)
    monkeypatch.setattr(demo_switch, "_restart", program_ends_then_restart)
    try:
        with pytest.raises(ScenarioSwitchError) as caught:
            await switch_scenario(context, "delivery")
        error = caught.value
        assert "already in use" in error.message.en and "runs again" in error.message.en
        assert "bereits belegt" in error.message.de
        assert error.running == "default"
        assert current_scenario(context) == "default" and context.han.port == port
        assert context.demo is not embedded and context.demo.running
        assert all(s.state is LinkState.UNKNOWN and s.last_error is None
                   for s in context.links())
    finally:
        blocker.close()
        if context.demo is not None:
            await context.demo.stop()
        await embedded.stop()


async def test_when_nothing_starts_the_links_say_so_and_a_later_switch_works(tmp_path,
                                                                              monkeypatch):
    port = _free_port()
    embedded = EmbeddedDefault(data_dir=tmp_path / "data", threaded=True, han_port=port)
    await embedded.start()
    context = embedded.context
    blocker = socket.socket()
    stop = EmbeddedDefault.stop
    grabbed: list[bool] = []

    async def stop_and_lose_the_port(self: EmbeddedDefault) -> None:
        await stop(self)
        if not grabbed:
            grabbed.append(True)
            blocker.bind(("127.0.0.1", port))
            blocker.listen()

    monkeypatch.setattr(EmbeddedDefault, "stop", stop_and_lose_the_port)
    try:
        with pytest.raises(ScenarioSwitchError) as caught:
            await switch_scenario(context, "meter-change")
        error = caught.value
        assert error.running is None
        assert "not running" in error.message.en and "Switch scenario" in error.hint.en
        assert context.demo is None and context.han is None and context.gwa is None
        han = context.link(Link.HAN)
        assert han.state is LinkState.UNKNOWN and han.last_error.en.startswith("The demo")
        # the port is free again: the next switch (from the last embedded default's settings)
        blocker.close()
        new = await switch_scenario(context, "meter-change", template=embedded)
        assert context.demo is new and new.han_port == port and context.han.port == port
        assert context.link(Link.HAN).last_error is None
    finally:
        blocker.close()
        if context.demo is not None:
            await context.demo.stop()


async def test_fresh_forgets_what_the_last_session_changed(running):
    context = running.context
    new = await switch_scenario(context, "meter-change")
    await new.swap_meter("1EMH0012345678", "1DZG0042123440")
    again = await switch_scenario(context, "meter-change")  # resumes: the swap is kept
    facing = await again.call(lambda: again.read_head.target)
    swapped = again._virtual_meter(again.site.bench[0].server_id)
    assert facing == (swapped.host, swapped.port)
    fresh = await switch_scenario(context, "meter-change", fresh=True)
    facing = await fresh.call(lambda: fresh.read_head.target)
    assert facing == (fresh.meters[0].host, fresh.meters[0].port)


def test_suggestions_follow_flow_scenarios_and_leave_fault_scenarios_alone():
    def ctx(scenario: str) -> AppContext:
        return AppContext(demo=EmbeddedDefault(scenario=scenario))

    assert suggested_scenario(ctx("default"), "handover") == "delivery"
    assert suggested_scenario(ctx("default"), "pairing") == "delivery"
    assert suggested_scenario(ctx("delivery"), "meter_change") == "meter-change"
    assert suggested_scenario(ctx("delivery"), "handover") is None
    assert suggested_scenario(ctx("default"), "technical_data") is None
    assert suggested_scenario(ctx("gwa-outage"), "handover") is None  # chosen on purpose
    assert suggested_scenario(AppContext(demo=object()), "handover") is None
    assert suggested_scenario(AppContext(), "handover") is None


def test_scenario_list_and_demo_jobs():
    infos = scenario_infos()
    names = [i.name for i in infos]
    assert names[:3] == ["default", "delivery", "meter-change"]
    assert {"gwa-outage", "pairing-refused", "ppc"} <= set(names)
    delivery = infos[1]
    assert delivery.title.de == "CONEXA 3.0 im Auslieferungszustand (Gütesiegel)"
    assert delivery.title.en == "CONEXA 3.0 in delivery state (Gütesiegel)"
    assert "Gütesiegel" in delivery.description.en
    custom = scenario_infos("/somewhere/my-site.json")[0]
    assert custom.name == "/somewhere/my-site.json" and custom.label == "my-site"
    assert custom.title.en == "my-site"
    files = demo_job_files()
    assert [f.name for f in files] == ["handover.json", "meter-change.json"]
    assert [demo_job_id(f) for f in files] == ["DEMO-2025-0001", "DEMO-2025-0002"]


def test_demo_jobs_are_added_once_and_a_job_added_meanwhile_is_left_alone(tmp_path,
                                                                           monkeypatch):
    from app.store.jobs import DB_FILE, FILES_DIR, WorkOrderStore

    assert add_demo_jobs(tmp_path) == ["DEMO-2025-0001", "DEMO-2025-0002"]
    assert add_demo_jobs(tmp_path) == []
    # the list was read before someone else imported the same file: no error, no second copy
    monkeypatch.setattr(WorkOrderStore, "list", lambda self, **_: [])
    assert add_demo_jobs(tmp_path) == []
    monkeypatch.undo()
    with WorkOrderStore(tmp_path / DB_FILE, tmp_path / FILES_DIR) as store:
        assert sorted(s.job_id for s in store.list()) == ["DEMO-2025-0001", "DEMO-2025-0002"]
        assert store.get("DEMO-2025-0001").source_name == "handover.json"
