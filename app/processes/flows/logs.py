"""Flow "Logs abfragen" (read logs): the system log and/or the consumer log of the gateway.

Steps: pin the HAN certificate, choose the logs and filters, read each log with the account of
its role (system log: service technician, consumer log: consumer), paging past the gateway's
limit of 1500 entries per request with progress, then optionally export. The entries of each log
are kept as a snapshot file in the data directory (``han-logs/<run>-<kind>.json``), which the log
view and the export read; step data names the file and summarises it.

Job data (all optional; what is missing is asked or defaulted):

``kinds``       ``["system"]``, ``["consumer"]`` or both (asked when missing)
``from``/``to`` ISO 8601 times (inclusive), e.g. ``2026-01-31T00:00:00Z``
``from_index``  first log index to read
``count``       at most this many entries per log
``users``       ``{"system": "<user>", "consumer": "<user>"}``; defaults: the target's user for
                the system log, asked for the consumer log
``export``      ``{"format": "csv"|"xml"|"json", "path": "..."}`` or a list of them
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from app.errors import InvalidValue, Text
from app.processes.engine import Flow, Step, StepContext, StepOutcome
from app.processes.flows.han_common import (
    LOG_ROLE,
    Say,
    Trace,
    app_context,
    check_trust,
    han_session,
    mark_identified,
)
from app.report.log_export import (
    FORMATS,
    LogFilter,
    LogSnapshot,
    export,
    load_snapshot,
    parse_time,
    save_snapshot,
    utc_text,
)
from app.transports.han.base import HanAdapter, LogEntry, LogKind
from app.transports.han.errors import HanProtocolError

#: entries per request: the documented CONEXA maximum
PAGE_SIZE = 1500
#: time allowed for one page
PAGE_TIMEOUT = 60.0
#: snapshot files kept in the data directory (the oldest go first)
KEEP_SNAPSHOTS = 50
SNAPSHOT_DIR = "han-logs"

KIND_NAMES: dict[LogKind, Text] = {
    LogKind.SYSTEM: Text("system log", "Systemlog"),
    LogKind.CONSUMER: Text("consumer log", "Letztverbraucher-Log"),
}


# -- job data -----------------------------------------------------------------------------------


def _bad(field: str, en: str, de: str) -> InvalidValue:
    return InvalidValue(Text(en, de), field=field)


def _kinds(value: Any) -> list[LogKind]:
    items = [value] if isinstance(value, str) else list(value or [])
    out: list[LogKind] = []
    for item in items:
        try:
            kind = LogKind(str(item).strip().lower())
        except ValueError:
            raise _bad("kinds", f"Unknown log '{item}'; use system or consumer.",
                       f"Unbekanntes Log '{item}'; system oder consumer verwenden.") from None
        if kind not in out:
            out.append(kind)
    return out


def _optional_int(data: Mapping[str, Any], key: str, minimum: int) -> int | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if number < minimum or isinstance(value, bool):
        raise _bad(key, f"'{key}' must be a whole number ≥ {minimum}, got '{value}'.",
                   f"'{key}' muss eine ganze Zahl ≥ {minimum} sein, erhalten: '{value}'.")
    return number


def parse_query(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validated filters of the job data: ``from``, ``to`` (UTC ISO), ``from_index``, ``count``."""
    since = parse_time(str(data["from"]), "from") if data.get("from") else None
    until = parse_time(str(data["to"]), "to") if data.get("to") else None
    if since and until and since > until:
        raise _bad("from", "'from' lies after 'to'.", "'from' liegt nach 'to'.")
    return {
        "from": utc_text(since) if since else None,
        "to": utc_text(until) if until else None,
        "from_index": _optional_int(data, "from_index", 0),
        "count": _optional_int(data, "count", 1),
    }


def parse_exports(value: Any) -> list[dict[str, str]]:
    """``export`` job data as a list of ``{"format", "path"}``."""
    items = [value] if isinstance(value, Mapping) else list(value or [])
    out = []
    for item in items:
        if not isinstance(item, Mapping) or not item.get("path"):
            raise _bad("export", "Each export needs a 'path' (and optionally a 'format').",
                       "Jeder Export braucht einen 'path' (und optional ein 'format').")
        path = str(item["path"])
        fmt = str(item.get("format") or Path(path).suffix.lstrip(".")).lower()
        if fmt not in FORMATS:
            raise _bad("export", f"Unknown export format '{fmt}'; use csv, xml or json.",
                       f"Unbekanntes Exportformat '{fmt}'; csv, xml oder json verwenden.")
        out.append({"format": fmt, "path": path})
    return out


# -- paging -------------------------------------------------------------------------------------


async def fetch_pages(
    adapter: HanAdapter,
    kind: LogKind,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    from_index: int | None = None,
    count: int | None = None,
    page_size: int = PAGE_SIZE,
    say: Say | None = None,
    trace: Trace | None = None,
    check_cancelled: Callable[[], None] | None = None,
) -> tuple[list[LogEntry], int]:
    """Read ``kind`` page by page (``page_size`` entries per request, each request with its own
    timeout) until a short page or ``count``; returns the entries and the number of pages."""
    entries: list[LogEntry] = []
    next_index = from_index
    pages = 0
    name = KIND_NAMES[kind]
    while count is None or len(entries) < count:
        if check_cancelled is not None:
            check_cancelled()
        want = page_size if count is None else min(page_size, count - len(entries))
        batch = await adapter.logs(kind, since=since, until=until, from_index=next_index,
                                   count=want, timeout=PAGE_TIMEOUT)
        pages += 1
        if len(batch) > want:
            raise HanProtocolError(
                Text(f"the gateway sent {len(batch)} log entries, {want} were asked for.",
                     f"das Gateway hat {len(batch)} Logeinträge gesendet, angefragt waren "
                     f"{want}."),
                field="log",
            )
        if entries and batch and batch[0].index <= entries[-1].index:
            raise HanProtocolError(
                Text("the gateway repeats log entries instead of paging on.",
                     "das Gateway wiederholt Logeinträge, statt weiterzublättern."),
                field="log",
            )
        entries.extend(batch)
        if batch and trace is not None:
            trace("info", f"{kind.value} log page {pages}: {len(batch)} entries, "
                          f"index {batch[0].index}..{batch[-1].index}")
        if say is not None:
            say(len(entries) / count if count else None,
                Text(f"{name.en}: {len(entries)} entries read (page {pages})",
                     f"{name.de}: {len(entries)} Einträge gelesen (Seite {pages})"))
        if len(batch) < want:
            break
        next_index = batch[-1].index + 1
    return entries, pages


async def fetch_log(ctx: StepContext, adapter: HanAdapter, kind: LogKind,
                    **query: Any) -> tuple[list[LogEntry], int]:
    """:func:`fetch_pages` with the step's progress, trace and cancellation."""
    return await fetch_pages(adapter, kind, say=ctx.progress,
                             trace=lambda d, t: ctx.trace("han", d, t),
                             check_cancelled=ctx.check_cancelled, **query)


# -- snapshots ----------------------------------------------------------------------------------


def snapshot_dir(ctx: StepContext) -> Path:
    app = app_context(ctx)
    if app.data_dir is not None:
        return Path(app.data_dir) / SNAPSHOT_DIR
    from app.store.settings import data_dir

    return data_dir() / SNAPSHOT_DIR


def _prune(folder: Path, keep: int = KEEP_SNAPSHOTS) -> None:
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def load_entries(result_data: Mapping[str, Any]) -> LogSnapshot:
    """The snapshot a log step stored (``data["file"]``)."""
    return load_snapshot(str(result_data["file"]))


def snapshots(results: Mapping[str, Any]) -> list[LogSnapshot]:
    """The snapshots of a finished run's results (``RunResult.results`` or step data)."""
    out = []
    for kind in LogKind:
        outcome = results.get(kind.value)
        if outcome is None:
            continue
        data = getattr(outcome, "data", outcome)
        if isinstance(data, Mapping) and data.get("file"):
            out.append(load_entries(data))
    return out


# -- steps --------------------------------------------------------------------------------------


async def select(ctx: StepContext) -> StepOutcome:
    """Which logs, with which filters and accounts."""
    kinds = _kinds(ctx.data.get("kinds"))
    if not kinds:
        answer = await ctx.ui.choose(
            Text("Which log should be read?", "Welches Log soll gelesen werden?"),
            [("system", Text("System log (service technician account)",
                             "Systemlog (Konto Servicetechniker)")),
             ("consumer", Text("Consumer log (consumer's account)",
                               "Letztverbraucher-Log (Konto des Letztverbrauchers)")),
             ("both", Text("Both logs", "Beide Logs"))],
        )
        kinds = [LogKind.SYSTEM, LogKind.CONSUMER] if answer == "both" else _kinds(answer)
    query = parse_query(ctx.data)
    users = ctx.data.get("users") or {}
    if not isinstance(users, Mapping):
        raise _bad("users", "'users' must map system/consumer to user names.",
                   "'users' muss system/consumer auf Benutzernamen abbilden.")
    exports = parse_exports(ctx.data.get("export"))
    names = ", ".join(KIND_NAMES[k].en for k in kinds)
    names_de = ", ".join(KIND_NAMES[k].de for k in kinds)
    return StepOutcome(
        {"kinds": [k.value for k in kinds], "query": query,
         "users": {k: str(v) for k, v in users.items() if v}, "export": exports},
        Text(f"Reading: {names}", f"Zu lesen: {names_de}"),
    )


def _after_select(outcome: StepOutcome) -> str | None:
    kinds = outcome.data.get("kinds", [])
    return kinds[0] if kinds else None


def _next_after(kind: LogKind) -> Callable[[StepOutcome], str | None]:
    def rule(outcome: StepOutcome) -> str | None:
        kinds = outcome.data.get("kinds", [])
        later = kinds[kinds.index(kind.value) + 1:] if kind.value in kinds else []
        if later:
            return str(later[0])
        return "export" if outcome.data.get("export") else None

    return rule


def _read(kind: LogKind) -> Callable[[StepContext], Awaitable[StepOutcome]]:
    async def read(ctx: StepContext) -> StepOutcome:
        chosen = ctx.results["select"].data
        query = chosen["query"]
        since = parse_time(query["from"]) if query.get("from") else None
        until = parse_time(query["to"]) if query.get("to") else None
        user = chosen.get("users", {}).get(kind.value)
        async with han_session(ctx, LOG_ROLE[kind], user=user) as session:
            identity = await session.adapter.identify(progress=ctx.progress)
            mark_identified(ctx, identity.smgw_id)
            entries, pages = await fetch_log(
                ctx, session.adapter, kind, since=since, until=until,
                from_index=query.get("from_index"), count=query.get("count"))
        snapshot = LogSnapshot(
            kind=kind, entries=tuple(entries), fetched_at=dt.datetime.now(dt.UTC),
            smgw_id=identity.smgw_id, vendor=session.vendor, host=f"{session.host}:"
            f"{session.port}", sha256=session.pin.sha256,
            query={**query, "user": session.user},
        )
        folder = snapshot_dir(ctx)
        path = folder / f"{_safe_name(ctx.run_id)}-{kind.value}.json"
        await asyncio.to_thread(save_snapshot, path, snapshot)
        await asyncio.to_thread(_prune, folder)
        levels = Counter(str(e.level) if e.level is not None else "-" for e in entries)
        name = KIND_NAMES[kind]
        data: dict[str, Any] = {
            "kind": kind.value, "file": str(path), "count": len(entries), "pages": pages,
            "smgw_id": identity.smgw_id, "user": session.user,
            "first_index": entries[0].index if entries else None,
            "last_index": entries[-1].index if entries else None,
            "first_time": entries[0].time.isoformat() if entries else None,
            "last_time": entries[-1].time.isoformat() if entries else None,
            "levels": dict(levels),
            "kinds": chosen["kinds"], "export": bool(chosen.get("export")),
        }
        return StepOutcome(data, Text(
            f"{name.en[:1].upper()}{name.en[1:]}: {len(entries)} entries "
            f"({pages} {'request' if pages == 1 else 'requests'})",
            f"{name.de}: {len(entries)} Einträge "
            f"({pages} {'Abfrage' if pages == 1 else 'Abfragen'})"))

    return read


async def export_step(ctx: StepContext) -> StepOutcome:
    """Write the exports the job data asks for (from the snapshots of this run)."""
    chosen = ctx.results["select"].data
    stored = snapshots(ctx.results)
    entries = [e for snap in stored for e in snap.entries]
    source = dict(stored[0].source) if stored else None
    query = chosen.get("query", {})
    log_filter = LogFilter(
        since=parse_time(query["from"]) if query.get("from") else None,
        until=parse_time(query["to"]) if query.get("to") else None,
        from_index=query.get("from_index"),
    )
    files = []
    for item in chosen.get("export", []):
        path = await asyncio.to_thread(export, entries, item["path"], item["format"],
                                       source=source, log_filter=log_filter)
        ctx.trace("han", "info", f"exported {len(entries)} entries as {item['format']} to {path}")
        files.append({"format": item["format"], "path": str(path)})
    shown = ", ".join(Path(f["path"]).name for f in files)
    return StepOutcome({"files": files, "count": len(entries)},
                       Text(f"{len(entries)} entries exported: {shown}",
                            f"{len(entries)} Einträge exportiert: {shown}"))


def entries_of(results: Mapping[str, Any], kinds: Sequence[LogKind] = tuple(LogKind)
               ) -> list[LogEntry]:
    """All entries of a run's snapshots (for the given kinds)."""
    return [e for snap in snapshots(results) if snap.kind in kinds for e in snap.entries]


LOGS = Flow(
    name="logs",
    title=Text("Read logs", "Logs abfragen"),
    steps=(
        Step("trust", Text("Check the gateway certificate (HAN TLS)",
                           "Gateway-Zertifikat prüfen (HAN-TLS)"), check_trust, timeout=30),
        Step("select", Text("Choose logs and filters", "Logs und Filter wählen"), select,
             branch=_after_select),
        Step("system", Text("Read the system log", "Systemlog lesen"), _read(LogKind.SYSTEM),
             timeout=900, branch=_next_after(LogKind.SYSTEM)),
        Step("consumer", Text("Read the consumer log", "Letztverbraucher-Log lesen"),
             _read(LogKind.CONSUMER), timeout=900, branch=_next_after(LogKind.CONSUMER)),
        Step("export", Text("Export the log", "Log exportieren"), export_step, timeout=300),
    ),
)
