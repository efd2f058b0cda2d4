"""Flow "Device-Discovery" (Geräteerkennung, DOMAIN.md §6.1-6.2) as part of a job, and the job
integration of the read-only HAN flows ("Logs abfragen", "Technische Gerätedaten abfragen").

Discovery steps:

1. ``job``: with a work order, the run is attached to its job (without one nothing is compared).
2. ``search``: :func:`app.processes.discovery.discover` on the HAN link, with live progress; every
   gateway found, open port and warning is kept in the step data.
3. ``gateway``: the gateway to work with: the one with the work order's SMGW ID; a single one
   whose certificate names another SMGW ID stops the flow with both values; several without a
   work order are offered to the technician. The HAN target of the context points at it after.
4. ``identity``: with a work order, the gateway is asked over HAN who it is (SMGW ID = work
   order) and recorded in the job with its certificates; also the discovered HAN certificate.

Job data (all optional): ``job``/``job_id``; ``interface`` (adapter name), ``candidates``
(addresses), ``ports``, ``subnet_probe``, ``use_mdns``, ``known_addresses``, ``timeout``
(seconds). In demo mode (and whenever the context has a HAN target but no ``candidates`` are
given) the target's address is probed first.

:func:`with_job` gives any flow that starts with the ``trust`` step the same job integration:
the work order is loaded and the run attached, the gateway identity is checked over HAN right
after the certificate (before anything is read) and recorded, and an optional recorder stores
what the flow read in the job. Without a work order the added steps only say so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from app.context import HanTarget
from app.errors import InvalidValue, SmgwctError, Text
from app.processes.discovery import DiscoveryProgress, DiscoveryReport, discover
from app.processes.engine import (
    Flow,
    Step,
    StepContext,
    StepFunction,
    StepOutcome,
    StepResult,
)
from app.processes.flows.job_common import (
    IdentityMismatch,
    app_context,
    check_gateway_identity,
    identify_gateway,
    load_job,
    record_certificate,
    record_device,
    record_meter,
    same_smgw_id,
    work_order,
)
from app.store.jobs import CertificateRecord, DeviceRecord

DISCOVERED = Text("discovery (the gateway's HAN certificate)",
                  "die Gerätesuche (das HAN-Zertifikat des Gateways)")
CHOOSE_GATEWAY = Text("Which gateway?", "Welches Gateway?")


def _t(en: str, de: str) -> Text:
    return Text(en, de)


def has_job(ctx: StepContext) -> bool:
    """Whether the run has a work order (``job`` or ``job_id`` in the job data)."""
    return bool(ctx.data.get("job") or ctx.data.get("job_id"))


def _no_job() -> StepOutcome:
    return StepOutcome({"job_id": None}, _t("No work order: nothing to compare or record",
                                            "Kein Auftrag: nichts zu vergleichen oder zu "
                                            "speichern"))


def if_job(run: StepFunction) -> StepFunction:
    """``run`` when the run has a work order, else a step that says there is none."""
    async def step(ctx: StepContext) -> StepResult:
        return await run(ctx) if has_job(ctx) else _no_job()

    step.__doc__ = run.__doc__
    return step


# -- search -------------------------------------------------------------------------------------


def _flag(data: Mapping[str, Any], name: str, default: bool) -> bool:
    raw = data.get(name, default)
    if not isinstance(raw, bool):
        raise InvalidValue(_t(f"{name} must be true or false.", f"{name} muss true oder false "
                              "sein."), field=name)
    return raw


def _strings(data: Mapping[str, Any], name: str) -> list[str] | None:
    raw = data.get(name)
    if raw is None:
        return None
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise InvalidValue(_t(f"{name} must be a list.", f"{name} muss eine Liste sein."),
                           field=name)
    return [str(i).strip() for i in items if str(i).strip()]


def _ports(data: Mapping[str, Any], default: Sequence[int]) -> list[int]:
    raw = data.get("ports")
    if raw is None:
        return list(default)
    items = raw if isinstance(raw, list | tuple) else [raw]
    if not items or any(isinstance(p, bool) or not isinstance(p, int) for p in items):
        raise InvalidValue(_t("ports must be a list of port numbers, e.g. [443].",
                              "ports muss eine Liste von Portnummern sein, z. B. [443]."),
                           field="ports")
    return [int(p) for p in items]


def search_options(ctx: StepContext) -> dict[str, Any]:
    """The arguments of :func:`discover` from the job data and the context."""
    app = app_context(ctx)
    data = ctx.data
    candidates = _strings(data, "candidates")
    han = app.han
    options: dict[str, Any] = {"interface": data.get("interface") or None}
    if candidates is None and han is not None:
        candidates = [han.host]
        options["ports"] = _ports(data, [han.port])
    else:
        options["ports"] = _ports(data, [443])
    demo = app.demo is not None
    options["candidates"] = candidates or []
    options["subnet_probe"] = _flag(data, "subnet_probe", not demo)
    options["use_mdns"] = _flag(data, "use_mdns", not demo)
    options["known_addresses"] = _flag(data, "known_addresses", not demo)
    timeout = data.get("timeout", 8.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 120:
        raise InvalidValue(_t("timeout must be 0 to 120 seconds.", "timeout muss 0 bis 120 "
                              "Sekunden betragen."), field="timeout")
    options["timeout"] = float(timeout)
    return options


async def search(ctx: StepContext) -> StepOutcome:
    """Search the HAN link for gateways (see :func:`app.processes.discovery.discover`)."""
    options = search_options(ctx)

    def progress(event: DiscoveryProgress) -> None:
        ctx.progress(event.fraction, event.message)
        if event.gateway is not None:
            ctx.trace("discovery", "rx", f"gateway {event.gateway.host}:{event.gateway.port} "
                                         f"smgw_id={event.gateway.smgw_id or '-'}")

    shown = {k: v for k, v in options.items() if v not in (None, [], False)}
    ctx.trace("discovery", "info", f"discover {shown}")
    report: DiscoveryReport = await discover(**options, progress=progress)
    data = report.to_dict()
    data["options"] = {k: v for k, v in options.items()}
    count = len(report.gateways)
    found = ", ".join(f"{g.smgw_id or '?'} at {g.host}:{g.port}" for g in report.gateways)
    found_de = ", ".join(f"{g.smgw_id or '?'} unter {g.host}:{g.port}" for g in report.gateways)
    if not report.gateways:
        causes = "; ".join(w.message.en for w in report.warnings)
        causes_de = "; ".join(w.message.de for w in report.warnings)
        raise SmgwctError(
            _t("No gateway was found on the HAN link." + (f" {causes}" if causes else ""),
               "Am HAN-Anschluss wurde kein Gateway gefunden." + (f" {causes_de}" if causes_de
                                                                  else "")),
            field="discovery",
            hint=_t("Check the network cable between this laptop and the gateway's HAN port and "
                    "that the gateway has power; give the adapter at the HAN port (interface) "
                    "or the gateway's address (candidates), then run the step again.",
                    "Netzwerkkabel zwischen Laptop und HAN-Anschluss des Gateways und die "
                    "Spannungsversorgung des Gateways prüfen; den Adapter am HAN-Anschluss "
                    "(interface) oder die Adresse des Gateways (candidates) angeben und den "
                    "Schritt wiederholen."))
    return StepOutcome(data, _t(f"{count} gateway(s) found in {report.elapsed:.1f} s: {found}",
                                f"{count} Gateway(s) in {report.elapsed:.1f} s gefunden: "
                                f"{found_de}"))


# -- the gateway --------------------------------------------------------------------------------


def _candidate(entry: Mapping[str, Any]) -> str:
    return f"{entry['host']}:{entry['port']}"


async def choose_gateway(ctx: StepContext) -> StepOutcome:
    """The gateway to work with; a certificate naming another SMGW ID stops with both values."""
    gateways: list[dict[str, Any]] = list(ctx.results["search"].data["gateways"])
    chosen: dict[str, Any] | None = None
    order = work_order(ctx) if has_job(ctx) else None
    if order is not None:
        chosen = next((g for g in gateways if g.get("smgw_id")
                       and same_smgw_id(order.smgw_id.text, g["smgw_id"])), None)
        if chosen is None:
            named = [g for g in gateways if g.get("smgw_id")]
            if len(gateways) == 1 or (named and len(named) == len(gateways)):
                seen = ", ".join(f"{g['smgw_id']} ({_candidate(g)})" for g in named)
                if named:
                    raise IdentityMismatch(_t("Wrong gateway", "Falsches Gateway"),
                                           order.smgw_id.text, seen, DISCOVERED,
                                           field="smgw_id")
    if chosen is None and len(gateways) == 1:
        chosen = gateways[0]
    if chosen is None:
        options = [(_candidate(g), _t(f"{g.get('smgw_id') or 'unknown SMGW ID'} at "
                                      f"{_candidate(g)} ({g.get('vendor') or '?'})",
                                      f"{g.get('smgw_id') or 'SMGW-ID unbekannt'} unter "
                                      f"{_candidate(g)} ({g.get('vendor') or '?'})"))
                   for g in gateways]
        key = await ctx.ui.choose(CHOOSE_GATEWAY, options)
        chosen = next(g for g in gateways if _candidate(g) == key)
    app = app_context(ctx)
    previous = app.han
    same_target = previous is not None and (previous.host, previous.port) == (
        chosen["host"], chosen["port"])
    app.han = HanTarget(
        host=chosen["host"], port=int(chosen["port"]),
        smgw_id=chosen.get("smgw_id") or (previous.smgw_id if same_target and previous else None),
        vendor=chosen.get("vendor") or (previous.vendor if same_target and previous else "auto"),
        user=previous.user if previous is not None else None,
        tls_group=chosen.get("tls_group") or (previous.tls_group if previous else None),
        pinned_pem=previous.pinned_pem if same_target and previous else None,
        pin_sha256=previous.pin_sha256 if same_target and previous else None)
    sid = chosen.get("smgw_id") or "?"
    return StepOutcome(
        {**chosen, "checked_against_work_order": order is not None and chosen.get("smgw_id")
         is not None},
        _t(f"Gateway {sid} at {_candidate(chosen)} ({chosen.get('vendor') or 'vendor unknown'})"
           + (" is the work order's" if order is not None and chosen.get("smgw_id") else ""),
           f"Gateway {sid} unter {_candidate(chosen)} "
           f"({chosen.get('vendor') or 'Hersteller unbekannt'})"
           + (" ist das aus dem Auftrag" if order is not None and chosen.get("smgw_id")
              else "")))


async def identify_and_record(ctx: StepContext) -> StepOutcome:
    """Over HAN: SMGW ID = work order; the gateway, its certificates and the certificate seen by
    discovery go into the job."""
    outcome = await identify_gateway(ctx)
    found = ctx.results["gateway"].data
    smgw_id = outcome.data["smgw_id"]
    if found.get("smgw_id") and not same_smgw_id(found["smgw_id"], smgw_id):
        raise IdentityMismatch(_t("Gateway identity", "Gateway-Identität"), found["smgw_id"],
                               smgw_id, Text("the gateway (HAN login)", "das Gateway "
                                             "(HAN-Anmeldung)"), field="smgw_id")
    known = {str(c.get("sha256")) for c in outcome.data.get("certificates", [])}
    if found.get("sha256") and found["sha256"] not in known:
        await record_certificate(ctx, CertificateRecord(
            smgw_id, "han_tls", found["sha256"], found.get("subject"), None,
            found.get("not_after"), None, ctx.run_id))
    await record_device(ctx, DeviceRecord("gateway", smgw_id, vendor=found.get("vendor"),
                                          source="discovery", run_id=ctx.run_id))
    return StepOutcome({**outcome.data, "address": _candidate(found),
                        "discovered_sha256": found.get("sha256")}, outcome.summary)


DISCOVERY = Flow(
    name="discovery",
    title=_t("Device discovery", "Device-Discovery"),
    steps=(
        Step("job", _t("Load the work order", "Auftrag laden"), if_job(load_job), timeout=30),
        Step("search", _t("Search the HAN link for gateways", "Gateways am HAN-Anschluss "
                          "suchen"), search, timeout=150),
        Step("gateway", _t("Gateway found = work order", "Gefundenes Gateway = Auftrag"),
             choose_gateway, timeout=30),
        Step("identity", _t("Gateway identity over HAN = work order, recorded",
                            "Gateway-Identität über HAN = Auftrag, gespeichert"),
             if_job(identify_and_record), timeout=90),
    ),
)


# -- job integration of the read-only HAN flows ---------------------------------------------------

JOB_STEP = "job"
IDENTITY_STEP = "job_identity"
RECORD_STEP = "job_record"


def with_job(flow: Flow, *, after: str = "trust",
             record: StepFunction | None = None) -> Flow:
    """``flow`` (same name and title) with the job steps: ``job`` first, ``job_identity`` after
    the step ``after``, and ``job_record`` (``record``) last; branch rules that end the flow lead
    to ``job_record``. All of them only say "no work order" when the run has none."""
    steps: list[Step] = [Step(JOB_STEP, _t("Load the work order", "Auftrag laden"),
                              if_job(load_job), timeout=30)]
    for step in flow.steps:
        if record is not None and step.branch is not None:
            rule = step.branch
            step = dataclasses.replace(step, branch=lambda outcome, rule=rule:  # type: ignore[misc]
                                       rule(outcome) or RECORD_STEP)
        steps.append(step)
        if step.name == after:
            steps.append(Step(IDENTITY_STEP, _t("Gateway identity = work order",
                                                "Gateway-Identität = Auftrag"),
                              if_job(identify_gateway), timeout=90))
    if record is not None:
        steps.append(Step(RECORD_STEP, _t("Store the results in the job",
                                          "Ergebnisse im Auftrag speichern"),
                          if_job(record), timeout=60))
    return Flow(flow.name, flow.title, steps, max_visits=flow.max_visits)


async def record_technical_data(ctx: StepContext) -> StepOutcome:
    """Technical data into the job: the gateway (firmware) and the meters it lists."""
    read = ctx.results["read"].data
    order = work_order(ctx)
    check_gateway_identity(order, str(read["smgw_id"]))
    firmware = (read.get("firmware") or [{}])[0]
    await record_device(ctx, DeviceRecord(
        "gateway", str(read["smgw_id"]), vendor=read.get("vendor"), model=read.get("model"),
        firmware_version=firmware.get("version"), firmware_hash=firmware.get("hash"),
        source="han", run_id=ctx.run_id))
    meters = [m["server_id"] for m in read.get("meters", [])]
    for sid in meters:
        await record_meter(ctx, sid, source="han")
    verdict = ctx.results["assess"].data.get("verdict") if "assess" in ctx.results else None
    return StepOutcome({"smgw_id": read["smgw_id"], "meters": meters, "verdict": verdict},
                       _t(f"Gateway {read['smgw_id']} and {len(meters)} meter(s) stored in job "
                          f"{order.job_id}",
                          f"Gateway {read['smgw_id']} und {len(meters)} Zähler im Auftrag "
                          f"{order.job_id} gespeichert"))


async def record_logs(ctx: StepContext) -> StepOutcome:
    """Logs into the job: every log read came from the work order's gateway; a note names the
    snapshot files (entries, period)."""
    from app.processes.flows.job_common import add_note

    order = work_order(ctx)
    read = [ctx.results[k].data for k in ("system", "consumer") if k in ctx.results]
    for data in read:
        check_gateway_identity(order, str(data["smgw_id"]))
    lines = [f"{d['kind']} log: {d['count']} entries {d.get('first_time') or '-'} .. "
             f"{d.get('last_time') or '-'} ({d['file']})" for d in read]
    if lines:
        await add_note(ctx, f"Logs, run {ctx.run_id}: " + "; ".join(lines))
    return StepOutcome({"logs": [{"kind": d["kind"], "count": d["count"], "file": d["file"]}
                                 for d in read]},
                       _t(f"{len(read)} log(s) noted in job {order.job_id}",
                          f"{len(read)} Log(s) im Auftrag {order.job_id} vermerkt"))


def job_variants(technical_data: Flow, logs: Flow) -> tuple[Flow, Flow]:
    """The registry's technical data and logs flows with their job integration."""
    return (with_job(technical_data, record=record_technical_data),
            with_job(logs, record=record_logs))


__all__ = [
    "CHOOSE_GATEWAY",
    "DISCOVERY",
    "choose_gateway",
    "has_job",
    "identify_and_record",
    "if_job",
    "job_variants",
    "record_logs",
    "record_technical_data",
    "search",
    "search_options",
    "with_job",
]
