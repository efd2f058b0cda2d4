"""The connection check runs end to end: engine -> transports -> embedded default over real TLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.context import Link, LinkState
from app.processes.engine import Engine
from app.processes.flows.connection_test import CONNECTION_TEST
from app.processes.interaction import ScriptedInteraction
from app.sim.embedded import EmbeddedDefault
from app.store.audit import AuditLog
from app.store.db import JobStore


@pytest.fixture
async def embedded(tmp_path: Path):
    demo = EmbeddedDefault(data_dir=tmp_path / "data")
    await demo.start()
    yield demo
    await demo.stop()


def _engine(tmp_path: Path, demo: EmbeddedDefault, answers) -> tuple[Engine, ScriptedInteraction]:
    ui = ScriptedInteraction(answers)
    engine = Engine(JobStore(tmp_path / "jobs.sqlite"), AuditLog(tmp_path / "audit.sqlite"), ui,
                    demo.context)
    return engine, ui


async def test_connection_check_turns_green(embedded: EmbeddedDefault, tmp_path: Path):
    engine, ui = _engine(tmp_path, embedded, [True])
    seen = []
    engine.subscribe(seen.append)
    result = await engine.run(CONNECTION_TEST)
    assert result.succeeded, result.error
    assert result.results["han"].data["sha256"] == embedded.pki["han"].sha256
    assert result.results["gwa"].data["sha256"] == embedded.pki["gwa_tls"].sha256
    # the technician was asked once to confirm the HAN fingerprint (trust on first use)
    assert [r.kind for r in ui.asked] == ["confirm"]
    assert embedded.pki["han"].sha256[:8].upper() in ui.asked[0].detail.en.replace(":", "")
    ctx = embedded.context
    assert ctx.link(Link.HAN).state is LinkState.CONNECTED
    assert ctx.link(Link.GWA).state is LinkState.CONNECTED
    assert ctx.link(Link.GWA).fingerprint == embedded.pki["gwa_tls"].sha256
    assert [e.type for e in seen][-1] == "FlowFinished"

    # second run: the pin is remembered, nobody is asked again
    engine2, ui2 = _engine(tmp_path, embedded, [])
    again = await engine2.run(CONNECTION_TEST)
    assert again.succeeded
    assert ui2.asked == []


async def test_refused_certificate_stops_the_check(embedded: EmbeddedDefault, tmp_path: Path):
    engine, _ui = _engine(tmp_path, embedded, [False])
    result = await engine.run(CONNECTION_TEST)
    assert not result.succeeded
    assert result.failed_step == "han"
    assert "not accepted" in result.error.en
    assert embedded.context.link(Link.HAN).state is LinkState.FAILED


async def test_gwa_without_technician_certificate_fails_clearly(
    embedded: EmbeddedDefault, tmp_path: Path
):
    embedded.context.gwa.client = None
    engine, _ui = _engine(tmp_path, embedded, [True])
    result = await engine.run(CONNECTION_TEST)
    assert result.failed_step == "gwa"
    assert result.kind == "tls"
    assert "client certificate" in result.hint.en
    status = embedded.context.link(Link.GWA)
    assert status.state is LinkState.FAILED and status.last_error is not None


async def test_unreachable_gateway_names_the_address(embedded: EmbeddedDefault, tmp_path: Path):
    embedded.context.han.port = 1  # nothing listens there
    engine, _ui = _engine(tmp_path, embedded, [True])
    result = await engine.run(CONNECTION_TEST)
    assert result.failed_step == "han"
    assert "127.0.0.1" in result.error.en
