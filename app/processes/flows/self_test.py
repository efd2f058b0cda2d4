"""Flow "Selbsttest" (self-test): ask the gateway to test itself, respecting its repeat lock.

Steps: pin the HAN certificate, request the self-test (not repeated silently after a crash: it
acts on the device; on PPC gateways it restarts the gateway, so the technician confirms first),
then look for its result in the log. A gateway allows one HAN-triggered self-test every 10
minutes (CONEXA answers 403 sooner); the flow then stops with the time from which it can be
repeated.

Job data (optional): ``user`` (HAN account; default the target's, a service technician).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from app.errors import SmgwctError, Text
from app.processes.engine import Flow, Step, StepContext, StepOutcome
from app.processes.flows.han_common import LOG_ROLE, check_trust, han_session, mark_identified
from app.processes.flows.logs import fetch_log
from app.report.log_export import parse_time
from app.transports.han.base import LogEntry, LogKind, UserRole
from app.transports.han.errors import (
    HanAccessDenied,
    HanCertificateChanged,
    HanProtocolError,
    HanTcpError,
    HanTimeout,
    HanTlsError,
    format_duration,
)

#: the repeat interval gateways enforce (CONEXA: 10 minutes)
LOCK_SECONDS = 600.0
#: how long the result step waits for the self-test's result entry
RESULT_WAIT_SECONDS = 12.0
#: how long the result step waits for a gateway that restarts for its self-test (PPC)
RESTART_WAIT_SECONDS = 300.0
#: vendors whose gateway restarts for a HAN self-test
RESTARTING_VENDORS = frozenset({"ppc"})
RESTART_POLL_SECONDS = 3.0

_SELF_TEST = re.compile(r"self.?test|selbst.?test", re.IGNORECASE)
_DONE = re.compile(r"pass|fail|bestanden|fehlgeschlagen|erfolgreich|success", re.IGNORECASE)
_FAILED = re.compile(r"fail|fehlgeschlagen|nicht bestanden|error|fehler", re.IGNORECASE)
#: event ids of the virtual SMGW's catalogue (docs/han.md): passed, failed
_RESULT_EVENTS = {"13002": "passed", "13003": "failed"}


class SelfTestLocked(SmgwctError):
    """The gateway refused the self-test within its repeat interval."""

    kind = "locked"

    def __init__(self, retry_after: float | None, *, now: dt.datetime | None = None) -> None:
        moment = now or dt.datetime.now().astimezone()
        if retry_after is None:
            when = Text("10 minutes after the last self-test",
                        "10 Minuten nach dem letzten Selbsttest")
            self.retry_at: dt.datetime | None = None
        else:
            self.retry_at = moment + dt.timedelta(seconds=retry_after)
            clock = self.retry_at.astimezone().strftime("%H:%M:%S")
            left = format_duration(retry_after)
            when = Text(f"from {clock} (in {left.en})", f"ab {clock} (in {left.de})")
        super().__init__(
            Text("The gateway refused the self-test: it allows one self-test every 10 minutes. "
                 f"It can be repeated {when.en}.",
                 "Das Gateway hat den Selbsttest abgelehnt: es erlaubt einen Selbsttest alle 10 "
                 f"Minuten. Er kann {when.de} wiederholt werden."),
            field="self_test",
            hint=Text("Wait until then and start the flow again; an earlier request is refused "
                      "again and does not shorten the wait.",
                      "Warten Sie bis dahin und starten Sie den Ablauf erneut; eine frühere "
                      "Anfrage wird wieder abgelehnt und verkürzt die Wartezeit nicht."),
        )
        self.retry_after = retry_after


def _user(ctx: StepContext) -> str | None:
    value = ctx.data.get("user")
    return str(value) if value else None


async def request_self_test(ctx: StepContext) -> StepOutcome:
    role = UserRole.SERVICE_TECHNICIAN
    async with han_session(ctx, role, user=_user(ctx)) as session:
        identity = await session.adapter.identify(progress=ctx.progress)
        mark_identified(ctx, identity.smgw_id)
        restarts = session.vendor in RESTARTING_VENDORS
        if restarts and not await ctx.ui.confirm(
            Text("Start the self-test? The gateway restarts during it.",
                 "Selbsttest starten? Das Gateway startet dabei neu."),
            Text("PPC gateways reboot for a HAN self-test; they are unreachable for a few "
                 "minutes.",
                 "PPC-Gateways starten für einen HAN-Selbsttest neu und sind einige Minuten "
                 "nicht erreichbar."),
        ):
            raise SmgwctError(Text("The self-test was not started.",
                                   "Der Selbsttest wurde nicht gestartet."))
        ctx.progress(None, Text("Requesting the self-test…", "Selbsttest wird angefordert…"))
        result = await session.adapter.self_test(progress=ctx.progress)
    ctx.trace("han", "info", f"self-test accepted={result.accepted} "
                             f"retry_after={result.retry_after_seconds}")
    if not result.accepted:
        raise SelfTestLocked(result.retry_after_seconds)
    laptop = dt.datetime.now(dt.UTC)
    return StepOutcome(
        {"accepted": True, "smgw_id": identity.smgw_id, "vendor": session.vendor,
         "gateway_time": identity.time.isoformat(), "requested_at": laptop.isoformat(),
         "repeat_from": (laptop + dt.timedelta(seconds=LOCK_SECONDS)).isoformat(),
         "restarts": restarts,
         "message": {"en": result.message.en, "de": result.message.de}},
        Text("The gateway accepted the self-test and restarts." if restarts
             else "The gateway accepted the self-test.",
             "Das Gateway hat den Selbsttest angenommen und startet neu." if restarts
             else "Das Gateway hat den Selbsttest angenommen."),
    )


def self_test_entries(entries: Sequence[LogEntry], since: dt.datetime) -> list[LogEntry]:
    """Log entries about the self-test at or after ``since`` (gateway time)."""
    return [e for e in entries if e.time >= since
            and (_SELF_TEST.search(e.message) or e.event_id in _RESULT_EVENTS
                 or e.event_id == "13001")]


def outcome_of(entries: Sequence[LogEntry]) -> str:
    """``passed``, ``failed`` or ``pending`` from the self-test's log entries."""
    for entry in reversed(entries):
        if entry.event_id in _RESULT_EVENTS:
            return _RESULT_EVENTS[entry.event_id]
        if _DONE.search(entry.message):
            failed = (_FAILED.search(entry.message) or entry.outcome in ("failure", "failed")
                      or (entry.level or 0) >= 3)
            return "failed" if failed else "passed"
    return "pending"


async def _look_for_result(ctx: StepContext, kind: LogKind,
                           since: dt.datetime) -> tuple[list[LogEntry], str]:
    """Read the log since the request until the self-test's result shows (or time is up)."""
    async with han_session(ctx, LOG_ROLE[kind], user=_user(ctx)) as session:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESULT_WAIT_SECONDS
        while True:
            entries, _pages = await fetch_log(ctx, session.adapter, kind, since=since)
            found = self_test_entries(entries, since)
            verdict = outcome_of(found)
            if verdict != "pending" or loop.time() > deadline:
                return found, verdict
            ctx.progress(None, Text("Waiting for the self-test's result…",
                                    "Warte auf das Ergebnis des Selbsttests…"))
            await asyncio.sleep(1.5)


async def read_result(ctx: StepContext) -> StepOutcome:
    requested = ctx.results["request"].data
    since = parse_time(requested["gateway_time"]) - dt.timedelta(seconds=2)
    kind = LogKind.SYSTEM
    found: list[LogEntry] = []
    verdict = "pending"
    loop = asyncio.get_running_loop()
    back_by = loop.time() + (RESTART_WAIT_SECONDS if requested.get("restarts") else 0.0)
    while True:
        try:
            found, verdict = await _look_for_result(ctx, kind, since)
            break
        except HanAccessDenied:
            verdict = "unknown"
            break
        except (HanTcpError, HanTlsError, HanProtocolError, HanTimeout) as exc:
            if isinstance(exc, HanCertificateChanged) or loop.time() > back_by:
                raise
            waited = RESTART_WAIT_SECONDS - (back_by - loop.time())
            ctx.progress(None, Text(f"The gateway is restarting; waiting ({waited:.0f} s)…",
                                    f"Das Gateway startet neu; warte ({waited:.0f} s)…"))
            await asyncio.sleep(RESTART_POLL_SECONDS)
    data: dict[str, Any] = {"verdict": verdict, "entries": [e.to_dict() for e in found]}
    failed_detail = next((e.message for e in reversed(found) if _FAILED.search(e.message)), "")
    summaries = {
        "passed": Text("Self-test passed.", "Selbsttest bestanden."),
        "failed": Text(f"Self-test failed. {failed_detail}".strip(),
                       f"Selbsttest nicht bestanden. {failed_detail}".strip()),
        "pending": Text("No result in the log yet; read the log again in a few minutes.",
                        "Noch kein Ergebnis im Log; lesen Sie das Log in einigen Minuten erneut."),
        "unknown": Text("This account may not read the system log; the result is there.",
                        "Dieses Konto darf das Systemlog nicht lesen; dort steht das Ergebnis."),
    }
    return StepOutcome(data, summaries[verdict])


SELF_TEST = Flow(
    name="self_test",
    title=Text("Self-test", "Selbsttest"),
    steps=(
        Step("trust", Text("Check the gateway certificate (HAN TLS)",
                           "Gateway-Zertifikat prüfen (HAN-TLS)"), check_trust, timeout=30),
        Step("request", Text("Request the self-test", "Selbsttest anfordern"),
             request_self_test, timeout=90, idempotent=False),
        Step("result", Text("Look for the result in the log", "Ergebnis im Log nachsehen"),
             read_result, timeout=RESTART_WAIT_SECONDS + 120),
    ),
)
