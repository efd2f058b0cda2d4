"""The HAN flows end to end: engine -> flows -> Theben adapter -> embedded default over HTTPS.

Headless with scripted answers: the technician confirms the certificate on first contact, picks
the logs, names the consumer account; the demo gateway's passwords come from its scenario (demo
mode) or are typed (a context without demo).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from app.context import AppContext, HanTarget, Link, LinkState
from app.processes.engine import Engine, Flow
from app.processes.events import StepProgress, TraceLine
from app.processes.flows import by_name, registry
from app.processes.flows.han_common import SECRET_STORE_EXTRA, password_key
from app.processes.flows.logs import LOGS, entries_of, snapshots
from app.processes.flows.self_test import SELF_TEST, outcome_of, self_test_entries
from app.processes.flows.technical_data import (
    TECHNICAL_DATA,
    Finding,
    assess,
    verdict,
)
from app.processes.interaction import ScriptedInteraction
from app.report.log_export import from_csv, from_xml
from app.security.secrets import MemorySecretStore
from app.sim.embedded import EmbeddedDefault
from app.store.audit import AuditLog
from app.store.db import JobStore
from app.transports.han.base import LogEntry, LogKind

SMGW_ID = "ETHE0390000001"
TECHNICIAN = ("ethe0390000001.srv", "Demo-Service-2026")
CONSUMER = ("ethe0390000001.lv", "Demo-Verbraucher-2026")


@pytest.fixture
async def embedded(tmp_path: Path):
    demo = EmbeddedDefault(data_dir=tmp_path / "data")
    await demo.start()
    yield demo
    await demo.stop()


class Run:
    def __init__(self, tmp_path: Path, context: AppContext) -> None:
        self.tmp_path, self.context = tmp_path, context
        self.events: list[Any] = []
        self.ui = ScriptedInteraction([])

    async def __call__(self, flow: Flow, answers: Any = (), data: dict | None = None,
                       **kwargs: Any):
        self.ui = ScriptedInteraction(answers, **kwargs)
        self.events = []
        engine = Engine(JobStore(self.tmp_path / "jobs.sqlite"),
                        AuditLog(self.tmp_path / "audit.sqlite"), self.ui, self.context)
        engine.subscribe(self.events.append)
        return await engine.run(flow, data)

    def traces(self) -> list[str]:
        return [f"{e.direction} {e.text}" for e in self.events if isinstance(e, TraceLine)]

    def progress(self) -> list[str]:
        return [e.message.en for e in self.events if isinstance(e, StepProgress)]


@pytest.fixture
def run(tmp_path: Path, embedded: EmbeddedDefault) -> Run:
    return Run(tmp_path, embedded.context)


def test_the_flows_are_registered():
    names = [f.name for f in registry()]
    assert names[:1] == ["connection_test"]
    assert {"technical_data", "logs", "self_test"} <= set(names)
    assert by_name("logs").title.de == "Logs abfragen"
    assert TECHNICAL_DATA.title.de == "Technische Gerätedaten abfragen"
    for flow in (TECHNICAL_DATA, LOGS, SELF_TEST):
        assert all(step.title.de and step.title.en for step in flow.steps)


# --- technical data ------------------------------------------------------------------------------


async def test_technical_data_end_to_end(run: Run, embedded: EmbeddedDefault):
    result = await run(TECHNICAL_DATA, [True])
    assert result.succeeded, (result.error, result.hint)
    # trust on first use: exactly one question, showing the gateway's fingerprint
    assert [r.kind for r in run.ui.asked] == ["confirm"]
    assert embedded.pki["han"].sha256[:8].upper() in run.ui.asked[0].detail.en.replace(":", "")
    data = result.results["read"].data
    assert data["vendor"] == "theben" and data["smgw_id"] == SMGW_ID
    firmware = embedded.gateway.firmware[0]
    assert data["firmware"] == [{"component": firmware.name, "version": firmware.version,
                                 "hash": firmware.sha256}]
    han_cert = next(c for c in data["certificates"] if c["role"] == "han_tls")
    assert han_cert["sha256"] == embedded.pki["han"].sha256
    assert data["state"] == "a0000000" and data["state_normal"]
    assert {"en": "running", "de": "in Betrieb"} in data["state_words"]
    assert abs(data["clock_offset_seconds"] - 1.5) < 1.6  # drift 1.5 s, times in whole seconds
    assert {m["server_id"] for m in data["meters"]} == {"1EMH0012345678", "1DZG0042123440"}
    assert data["user"] == TECHNICIAN[0]
    findings = [Finding.from_dict(f) for f in result.results["assess"].data["findings"]]
    assert result.results["assess"].data["verdict"] == verdict(findings) == "info"
    assert {f.topic for f in findings} >= {"state", "clock", "certificate", "meters"}
    # link status and trace
    status = embedded.context.link(Link.HAN)
    assert status.state is LinkState.CONNECTED
    assert status.fingerprint == embedded.pki["han"].sha256 and status.peer == SMGW_ID
    traces = run.traces()
    assert any(t.startswith("tx POST") and '"method":"smgw-info"' in t for t in traces)
    assert any(t.startswith("rx HTTP 200") for t in traces)
    assert not any(TECHNICIAN[1] in t for t in traces)  # never the password

    # second run: the pin is remembered, nobody is asked again
    again = await run(TECHNICAL_DATA, [])
    assert again.succeeded and run.ui.asked == []


async def test_clock_drift_warns_and_errs_with_the_explanation(run: Run,
                                                               embedded: EmbeddedDefault):
    embedded.gateway.drift_seconds = 14
    result = await run(TECHNICAL_DATA, [True])
    assert result.succeeded
    assessed = result.results["assess"].data
    clock = next(f for f in assessed["findings"] if f["topic"] == "clock")
    assert clock["severity"] == "warning" and "27 s" in clock["hint"]["en"]

    embedded.gateway.drift_seconds = 45
    result = await run(TECHNICAL_DATA, [])
    assessed = result.results["assess"].data
    assert assessed["verdict"] == "error"
    clock = next(f for f in assessed["findings"] if f["topic"] == "clock")
    assert clock["severity"] == "error"
    assert "Secure State Application" in clock["hint"]["en"]
    assert "3 %" in clock["hint"]["de"] and "Laptops" in clock["hint"]["de"]
    # the gateway itself reports the secure state, decoded into words
    state = [f for f in assessed["findings"] if f["topic"] == "state"]
    assert any(f["severity"] == "error" and "Secure State Application" in f["message"]["en"]
               for f in state)
    assert "Fehler" in result.results["assess"].summary.de


def test_assessment_of_certificates_and_meters():
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)

    def cert(role: str, days: int, **extra: Any) -> dict[str, Any]:
        return {"role": role, "not_before": (now - dt.timedelta(days=300)).isoformat(),
                "not_after": (now + dt.timedelta(days=days)).isoformat(), "sha256": "ab" * 32,
                "subject": "CN=x", "index": extra.get("index"), "state": extra.get("state")}

    data = {"state": "a0800000", "clock_offset_seconds": 0.4, "meters": [],
            "certificates": [cert("han_tls", 400), cert("wan_sig", 12, index=1,
                                                        state="wirkzertifikat"),
                             cert("wan_sig", -3, index=0, state="guetesiegel"),
                             cert("sub_ca", -1)]}
    findings = assess(data, now)
    certs = [f for f in findings if f.topic == "certificate"]
    assert [(f.severity, f.message.en.split(" ")[0]) for f in certs] == [
        ("warning", "WAN"), ("error", "Sub-CA")]
    assert "in 12 days" in certs[0].message.en and "#1" in certs[0].message.en
    # dates as a German reader writes them in the German text
    assert "läuft am 13.06.2026 ab (in 12 Tagen)" in certs[0].message.de
    assert "2026-06-13" in certs[0].message.en
    assert any(f.topic == "state" and "personalised" in (f.hint.en if f.hint else "")
               for f in findings)
    assert any(f.topic == "meters" and f.severity == "warning" for f in findings)
    assert verdict(findings) == "error"


# --- logs ---------------------------------------------------------------------------------------


async def test_both_logs_paged_past_1500_and_stored(run: Run, embedded: EmbeddedDefault):
    answers = {"Trust this gateway certificate?": True, "Which log should be read?": "both",
               "User name of the consumer's HAN account (IF_GW_CON)": CONSUMER[0]}
    result = await run(LOGS, answers)
    assert result.succeeded, (result.error, result.hint)
    system, consumer = result.results["system"].data, result.results["consumer"].data
    expected_system = len(embedded.gateway.system_log)
    assert expected_system > 3000
    assert system["count"] >= expected_system - 2 and system["pages"] >= 3
    assert consumer["user"] == CONSUMER[0] and system["user"] == TECHNICIAN[0]
    stored = {s.kind: s for s in snapshots(result.results)}
    entries = list(stored[LogKind.SYSTEM].entries)
    indices = [e.index for e in entries]
    assert indices == list(range(indices[0], indices[0] + len(indices)))  # nothing lost
    assert stored[LogKind.SYSTEM].smgw_id == SMGW_ID
    assert all(e.kind is LogKind.CONSUMER for e in stored[LogKind.CONSUMER].entries)
    assert any(e.event_id == "16001" for e in stored[LogKind.CONSUMER].entries)
    assert any("page 3" in p for p in run.progress())
    assert "export" not in result.results
    assert len(entries_of(result.results)) == system["count"] + consumer["count"]


async def test_log_filters_from_job_data(run: Run):
    data = {"kinds": ["system"], "from_index": 100, "count": 2000}
    result = await run(LOGS, [True], data)
    assert result.succeeded, result.error
    assert [q.kind for q in run.ui.asked] == ["confirm"]  # nothing else to ask
    entries = entries_of(result.results)
    assert [entries[0].index, entries[-1].index, len(entries)] == [100, 2099, 2000]
    assert result.results["system"].data["pages"] == 2
    assert "consumer" not in result.results

    since = entries[500].time
    until = entries[900].time
    result = await run(LOGS, [], {"kinds": "system", "from": since.isoformat(),
                                  "to": until.isoformat()})
    got = entries_of(result.results)
    assert got and all(since <= e.time <= until for e in got)


async def test_bad_filter_is_named(run: Run):
    result = await run(LOGS, [True], {"kinds": ["system"], "from": "yesterday"})
    assert result.failed_step == "select" and "from" in result.error.en


async def test_log_export_round_trip(run: Run, tmp_path: Path):
    data = {"kinds": ["system", "consumer"], "users": {"consumer": CONSUMER[0]},
            "count": 1600, "export": [{"path": str(tmp_path / "out" / "logs.csv")},
                                      {"format": "xml", "path": str(tmp_path / "logs.xml")}]}
    result = await run(LOGS, [True], data)
    assert result.succeeded, result.error
    files = result.results["export"].data["files"]
    assert [f["format"] for f in files] == ["csv", "xml"]
    fetched = entries_of(result.results)
    assert len(fetched) > 1500
    assert from_csv((tmp_path / "out" / "logs.csv").read_bytes()) == fetched
    assert from_xml((tmp_path / "logs.xml").read_bytes()) == fetched


async def test_consumer_account_may_not_read_the_system_log(run: Run):
    data = {"kinds": ["system"], "users": {"system": CONSUMER[0]}}
    result = await run(LOGS, [True], data)
    # CONEXA answers with the log of the account's role: a demo account of the wrong role is
    # refused before it could deliver the consumer log labelled as the system log
    assert not result.succeeded and result.failed_step == "system"
    assert "consumer account" in result.error.en and "service technician" in result.error.en


# --- self-test -----------------------------------------------------------------------------------


async def test_self_test_then_the_lock(run: Run, embedded: EmbeddedDefault):
    result = await run(SELF_TEST, [True])
    assert result.succeeded, result.error
    assert result.results["request"].data["accepted"] is True
    assert result.results["result"].data["verdict"] == "passed"
    assert "passed" in result.results["result"].summary.en

    again = await run(SELF_TEST, [])
    assert not again.succeeded and again.failed_step == "request"
    assert again.kind == "locked"
    assert "10 minutes" in again.error.en and "repeated from" in again.error.en
    assert "wiederholt" in again.error.de
    left = embedded.gateway.self_test.remaining()
    assert 500 < left <= 600
    retry_at = (dt.datetime.now() + dt.timedelta(seconds=left)).strftime("%H:%M")
    assert retry_at in again.error.en or retry_at[:-1] in again.error.en


async def test_self_test_finding_a_fault(run: Run, embedded: EmbeddedDefault):
    embedded.gateway.drift_seconds = 45
    result = await run(SELF_TEST, [True])
    assert result.succeeded
    assert result.results["result"].data["verdict"] == "failed"
    assert "clock deviation" in result.results["result"].summary.en


def test_self_test_result_recognition():
    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def e(i: int, msg: str, **kw: Any) -> LogEntry:
        return LogEntry(LogKind.SYSTEM, i, t + dt.timedelta(seconds=i), kw.get("level", 1),
                        kw.get("event_id"), msg, outcome=kw.get("outcome"))

    log = [e(1, "Selbsttest gestartet"), e(2, "Meter reading received"),
           e(3, "Selbsttest fehlgeschlagen: Zeit", level=3)]
    found = self_test_entries(log, t)
    assert [x.index for x in found] == [1, 3]
    assert outcome_of(found) == "failed"
    assert outcome_of([e(1, "Self-test passed")]) == "passed"
    assert outcome_of([e(1, "Self-test started")]) == "pending"


# --- access data and trust -----------------------------------------------------------------------


def _plain_context(embedded: EmbeddedDefault, store: MemorySecretStore | None) -> AppContext:
    """The embedded gateway as a real one: no demo passwords, the keyring replaced."""
    han = embedded.context.han
    assert han is not None
    ctx = AppContext(han=HanTarget(han.host, han.port, vendor="theben", user=TECHNICIAN[0]),
                     data_dir=embedded.data_dir)
    if store is not None:
        ctx.extras[SECRET_STORE_EXTRA] = store
    return ctx


async def test_password_is_asked_saved_and_reused(tmp_path: Path, embedded: EmbeddedDefault):
    store = MemorySecretStore()
    run = Run(tmp_path, _plain_context(embedded, store))
    result = await run(TECHNICAL_DATA, {
        "Trust this gateway certificate?": True,
        f"HAN password of the user {TECHNICIAN[0]}": TECHNICIAN[1],
        "Save the password in the keyring?": True,
    })
    assert result.succeeded, result.error
    secret = [r for r in run.ui.asked if r.kind == "enter_value"]
    assert len(secret) == 1 and secret[0].secret
    assert store.get(password_key("127.0.0.1", TECHNICIAN[0])) == TECHNICIAN[1]
    assert not any(TECHNICIAN[1] in t for t in run.traces())
    # the password is neither in the step data nor in the audit log
    audit = (tmp_path / "audit.sqlite").read_bytes()
    assert TECHNICIAN[1].encode() not in audit

    again = await run(TECHNICAL_DATA, [])
    assert again.succeeded and run.ui.asked == []


async def test_wrong_password_fails_the_link(tmp_path: Path, embedded: EmbeddedDefault):
    ctx = _plain_context(embedded, None)
    ctx.extras[SECRET_STORE_EXTRA] = MemorySecretStore()
    run = Run(tmp_path, ctx)
    result = await run(TECHNICAL_DATA, [True, "not-the-password", False])
    assert result.failed_step == "read"
    assert "password" in result.error.en and "login lock" in result.hint.en
    status = ctx.link(Link.HAN)
    assert status.state is LinkState.FAILED and status.last_error is not None


async def test_refused_certificate_stops_before_any_login(run: Run, embedded: EmbeddedDefault):
    result = await run(LOGS, [False])
    assert result.failed_step == "trust" and "not accepted" in result.error.en
    assert embedded.context.link(Link.HAN).state is LinkState.FAILED
    assert not any("HAN login" in e.message for e in embedded.gateway.system_log.entries[-5:])


async def test_vendor_auto_is_detected(run: Run, embedded: EmbeddedDefault):
    embedded.context.han.vendor = "auto"
    result = await run(TECHNICAL_DATA, [True])
    assert result.succeeded, result.error
    assert embedded.context.han.vendor == "theben"
    assert any("vendor detected: theben" in t for t in run.traces())


# --- other vendors -------------------------------------------------------------------------------


async def test_ppc_self_test_waits_for_the_restart(tmp_path: Path, monkeypatch):
    from app.sim.smgw import server
    from app.sim.smgw.han_ppc import PpcHanServer

    monkeypatch.setitem(server.DIALECTS, "ppc",
                        lambda state: PpcHanServer(state, reboot_seconds=2.0).application())
    monkeypatch.setattr("app.processes.flows.self_test.RESTART_POLL_SECONDS", 0.5)
    demo = EmbeddedDefault(scenario="ppc", data_dir=tmp_path / "ppc")
    await demo.start()
    try:
        demo.context.han.vendor = "auto"
        run = Run(tmp_path, demo.context)
        result = await run(SELF_TEST, {
            "Trust this gateway certificate?": True,
            "Start the self-test? The gateway restarts during it.": True,
        })
        assert result.succeeded, result.error
        assert demo.context.han.vendor == "ppc"
        assert result.results["request"].data["restarts"] is True
        assert result.results["result"].data["verdict"] == "passed"
        assert any("restarting" in p for p in run.progress())
        assert demo.context.link(Link.HAN).state is LinkState.CONNECTED
    finally:
        await demo.stop()


async def test_emh_technical_data_and_logs_with_detection(tmp_path: Path):
    demo = EmbeddedDefault(scenario="emh", data_dir=tmp_path / "emh")
    await demo.start()
    try:
        demo.context.han.vendor = "auto"
        run = Run(tmp_path, demo.context)
        result = await run(TECHNICAL_DATA, [True])
        assert result.succeeded, result.error
        assert result.results["read"].data["vendor"] == "emh"
        result = await run(LOGS, {"Which log should be read?": "both"}, use_defaults=True)
        assert result.succeeded, result.error
        kinds = {s.kind for s in snapshots(result.results)}
        assert kinds == {LogKind.SYSTEM, LogKind.CONSUMER}
    finally:
        await demo.stop()
