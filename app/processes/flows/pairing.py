"""Flow "Pairing Zähler und SMGW" (spec 6.4.2.6): pair a meter of the work order with its gateway.

Steps: load the work order -> the gateway's HAN certificate is pinned -> the gateway is the one on
the work order -> the GWA link works -> the meter is on the work order, matches the optical read
(when a read head is set up) and is in the gateway's list (its meter profile) -> optional
Crypto-Reset (6.4.2.7; asked, or ``crypto_reset`` in the job data) -> the GWA pairs the meter
with its initial key M -> the result, explained.

A failed pairing is explained by its cause: FE 09 (the meter rejected the key exchange: wrong or
missing key material, or the meter is still paired elsewhere / not reset), a meter that does not
answer on the LMN, a meter without profile. After FE 09 the flow offers one Crypto-Reset and a
second pairing (``retry_with_crypto_reset`` in the job data: ``ask`` (default), ``yes``, ``no``).

Job data (all optional): ``server_id`` (the meter; default the work order's only new/existing
meter, else asked), ``crypto_reset`` (``ask`` default, ``yes``/``no``), ``crypto_reset_reason``
(``repair`` default; ``meter-change``, ``gateway-change``, ``key-compromise``), ``optical``
(``false`` skips the optical check), ``pairing_timeout`` (seconds, default 120).

Shared with other flows (handover, meter change): :func:`pair_meter` and
:func:`pairing_failure`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import InvalidValue, SmgwctError, Text
from app.processes.engine import Flow, Step, StepContext, StepOutcome
from app.processes.flows import wording
from app.processes.flows.gwa_common import (
    REASON_HINTS,
    GwaRun,
    GwaSession,
    GwaStepError,
    check_link,
    explain,
    gwa_session,
)
from app.processes.flows.han_common import check_trust
from app.processes.flows.job_common import (
    GATEWAY_LIST,
    METER_OPTICAL,
    app_context,
    check_meter_identity,
    choose_meter,
    evidence_line,
    identify_gateway,
    load_job,
    meter_key,
    record_meter,
    same_server_id,
    work_order,
)
from app.protocols.admin import MeterProfile, PairingResult, Reason
from app.store.jobs import ExpectedMeter

#: processes of the GWA this flow needs
NEEDED = ("meter_profile.read", "crypto_reset", "pairing")
GWA_STEP_TIMEOUT = 1800.0
CRYPTO_RESET_REASONS = ("repair", "meter-change", "gateway-change", "key-compromise")

CRYPTO_RESET_PROMPT = Text("Run a Crypto-Reset of the meter before pairing?",
                           "Vor dem Pairing einen Crypto-Reset des Zählers durchführen?")
RETRY_PROMPT = Text("The meter rejected the key exchange (FE 09). Run a Crypto-Reset and pair "
                    "once more?",
                    "Der Zähler hat den Schlüsselaustausch abgelehnt (FE 09). Crypto-Reset "
                    "durchführen und erneut pairen?")


# -- shared: pairing and its explanation ----------------------------------------------------------


def is_fe09(run: GwaRun) -> bool:
    """Whether the meter rejected the key exchange (reason or meter status FE 09)."""
    result = run.result
    status = getattr(result, "meter_status", None) if isinstance(result, PairingResult) else None
    return (run.response is not None and run.response.reason is Reason.KEY_EXCHANGE_FAILED) or (
        status is not None and status.hex() == "fe09")


def pairing_failure(run: GwaRun, meter: ExpectedMeter, *, after_reset: bool = False
                    ) -> GwaStepError:
    """A failed pairing in the technician's words: what happened, likely cause, next action."""
    sid = meter.server_id_text
    if is_fe09(run):
        ref = meter.key_ref or "no key reference"
        ref_de = meter.key_ref or "keine Schlüsselreferenz"
        again = (" even after a Crypto-Reset" if after_reset else "")
        again_de = (" auch nach einem Crypto-Reset" if after_reset else "")
        return GwaStepError(
            Text(f"Pairing of meter {sid} failed{again}: the meter answered FE 09, the key "
                 "exchange failed.",
                 f"Pairing des Zählers {sid} fehlgeschlagen{again_de}: der Zähler antwortete "
                 "FE 09, der Schlüsselaustausch ist gescheitert."),
            hint=Text(f"Likely cause: wrong or missing key material (key M) for this meter - the "
                      f"work order refers to {ref} - or the meter was not reset and is still "
                      "paired with another gateway. Next: check the key material reference in "
                      "the work order against the meter's key sheet, run a Crypto-Reset of the "
                      "meter, then retry the pairing.",
                      f"Wahrscheinliche Ursache: falsches oder fehlendes Schlüsselmaterial "
                      f"(Schlüssel M) für diesen Zähler - der Auftrag verweist auf {ref_de} - "
                      "oder der Zähler wurde nicht zurückgesetzt und ist noch mit einem anderen "
                      "Gateway gepaart. Weiter: Schlüsselreferenz im Auftrag mit dem "
                      "Schlüsselblatt des Zählers vergleichen, Crypto-Reset des Zählers "
                      "durchführen, dann das Pairing wiederholen."),
            run=run, field="pairing")
    reason = run.response.reason if run.response is not None else None
    if reason is Reason.METER_UNREACHABLE:
        return GwaStepError(
            Text(f"Pairing of meter {sid} failed: the gateway lists the meter, but it does not "
                 "answer on the LMN (meter missing).",
                 f"Pairing des Zählers {sid} fehlgeschlagen: das Gateway führt den Zähler, aber "
                 "er antwortet im LMN nicht (Zähler fehlt)."),
            hint=REASON_HINTS[Reason.METER_UNREACHABLE], run=run, field="pairing")
    if reason is Reason.UNKNOWN_METER:
        return GwaStepError(
            Text(f"Pairing of meter {sid} failed: the gateway has no meter profile for it.",
                 f"Pairing des Zählers {sid} fehlgeschlagen: das Gateway hat kein Zählerprofil "
                 "dafür."),
            hint=REASON_HINTS[Reason.UNKNOWN_METER], run=run, field="pairing")
    message, hint = explain(run)
    return GwaStepError(message, hint=hint, run=run, field="pairing")


def pairing_data(run: GwaRun) -> dict[str, Any]:
    """What a pairing run shows: outcome, meter status, the meter's TLS certificate fingerprint."""
    result = run.result
    data: dict[str, Any] = {"gwa": run.to_dict()}
    if isinstance(result, PairingResult):
        data.update(outcome=result.outcome.value, time=result.time.isoformat(),
                    meter_status=None if result.meter_status is None
                    else result.meter_status.hex(),
                    meter_tls_fingerprint=result.meter_tls_fingerprint)
    detail = run.response.detail if run.response is not None else None
    data["already_paired"] = bool(run.ok and detail and "already" in detail)
    return data


async def pair_meter(ctx: StepContext, gwa: GwaSession, meter: ExpectedMeter, *,
                     purpose: str | None = None, span: tuple[float, float] = (0.0, 1.0),
                     timeout: int = 120) -> GwaRun:
    """Pair ``meter`` through the GWA with its key M (resolved from the work order's reference).

    Returns the run (also a failed one; explain it with :func:`pairing_failure`). A meter that is
    paired with this gateway already answers "paired" without any change."""
    sid = meter.server_id_text
    key, source = await meter_key(ctx, meter)
    ctx.trace("gwa", "info", f"pairing {sid}: key M from {source} (reference "
                             f"{meter.key_ref or '-'})")
    return await gwa.run(
        "pairing", {"server_id": sid, "initial_key": key, "timeout": timeout},
        purpose=purpose or f"pairing {sid}", span=span, check=False,
        title=Text(f"Pairing meter {sid} with the gateway",
                   f"Pairing des Zählers {sid} mit dem Gateway"))


async def read_meter_profile(ctx: StepContext, gwa: GwaSession, meter: ExpectedMeter, *,
                             span: tuple[float, float] = (0.0, 1.0)) -> MeterProfile:
    """The gateway's meter profile of ``meter`` (it is in the gateway's list), or stop."""
    sid = meter.server_id_text
    run = await gwa.run("meter_profile.read", {"server_id": sid}, purpose=f"meter profile {sid}",
                        span=span, check=False,
                        title=Text(f"Looking for meter {sid} at the gateway",
                                   f"Suche Zähler {sid} am Gateway"))
    if run.ok and isinstance(run.result, MeterProfile):
        return run.result
    if run.response is not None and run.response.reason in (Reason.UNKNOWN_PROFILE,
                                                            Reason.UNKNOWN_METER):
        raise SmgwctError(
            Text(f"Meter not at the gateway: the work order names {sid}, but {GATEWAY_LIST.en} "
                 "has no meter profile for it.",
                 f"Zähler nicht am Gateway: der Auftrag nennt {sid}, aber {GATEWAY_LIST.de} "
                 "enthält kein Zählerprofil dafür."),
            field="server_id", hint=REASON_HINTS[Reason.UNKNOWN_METER])
    message, hint = explain(run)
    raise GwaStepError(message, hint=hint, run=run)


def _choice(data: Mapping[str, Any], name: str) -> str:
    raw = data.get(name, "ask")
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    value = str(raw).strip().lower()
    mapped = {"true": "yes", "ja": "yes", "false": "no", "nein": "no"}.get(value, value)
    if mapped not in ("ask", "yes", "no"):
        raise InvalidValue(Text(f"{name} must be ask, yes or no, not {raw!r}.",
                                f"{name} muss ask, yes oder no sein, nicht {raw!r}."), field=name)
    return mapped


def _timeout(data: Mapping[str, Any]) -> int:
    raw = data.get("pairing_timeout", 120)
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit() \
            or not 10 <= int(raw) <= 900:
        raise InvalidValue(Text("pairing_timeout must be 10 to 900 seconds.",
                                "pairing_timeout muss 10 bis 900 Sekunden betragen."),
                           field="pairing_timeout")
    return int(raw)


def _reset_reason(data: Mapping[str, Any]) -> str:
    reason = str(data.get("crypto_reset_reason", "repair"))
    if reason not in CRYPTO_RESET_REASONS:
        raise InvalidValue(Text(f"crypto_reset_reason must be one of "
                                f"{', '.join(CRYPTO_RESET_REASONS)}.",
                                f"crypto_reset_reason muss einer von "
                                f"{', '.join(CRYPTO_RESET_REASONS)} sein."),
                           field="crypto_reset_reason")
    return reason


async def crypto_reset(ctx: StepContext, gwa: GwaSession, meter: ExpectedMeter, *,
                       purpose: str | None = None, span: tuple[float, float] = (0.0, 1.0)
                       ) -> GwaRun:
    """Crypto-Reset of ``meter`` through the GWA (back to key M, TLS state cleared)."""
    sid = meter.server_id_text
    return await gwa.run(
        "crypto_reset", {"server_id": sid, "reason": _reset_reason(ctx.data)},
        purpose=purpose or f"crypto-reset {sid}", span=span,
        title=Text(f"Crypto-Reset of meter {sid}", f"Crypto-Reset des Zählers {sid}"))


# -- the steps ----------------------------------------------------------------------------------


def _meter(ctx: StepContext) -> ExpectedMeter:
    sid = ctx.results["meter"].data["server_id"]
    order = work_order(ctx)
    return next(m for m in order.meters if same_server_id(m.server_id_text, sid))


async def gwa_link(ctx: StepContext) -> StepOutcome:
    order = work_order(ctx)
    data = await check_link(ctx, order.smgw_id.text, NEEDED)
    return StepOutcome(data, Text(f"GWA {data['gwa']} reachable; it accepted the technician "
                                  "certificate",
                                  f"GWA {data['gwa']} erreichbar; er hat das "
                                  "Techniker-Zertifikat akzeptiert"))


async def check_meter(ctx: StepContext) -> StepOutcome:
    """The meter is on the work order, matches the optical read, and the gateway lists it."""
    order = work_order(ctx)
    meter = await choose_meter(ctx, order)
    sid = meter.server_id_text
    app = app_context(ctx)
    optical: dict[str, Any] | None = None
    if app.optical is not None and ctx.data.get("optical", True) is not False:
        from app.processes.flows.job_common import read_meter_optically

        snapshot = await read_meter_optically(ctx)
        seen = snapshot.identity.server_id
        seen_text = "-" if seen is None else (seen.text or seen.hex)
        check_meter_identity(meter, seen_text, source=METER_OPTICAL)
        optical = {"server_id": seen_text, "manufacturer": snapshot.identity.manufacturer,
                   "source": snapshot.source}
        await record_meter(ctx, seen_text, source="optical", role=meter.role.value,
                           vendor=snapshot.identity.manufacturer)
    async with gwa_session(ctx, order.smgw_id, work_order=order.job_id) as gwa:
        profile = await read_meter_profile(ctx, gwa, meter)
    return StepOutcome(
        {"server_id": sid, "role": meter.role.value, "key_ref": meter.key_ref,
         "optical": optical, "profile_id": profile.id.text, "profile_revision": profile.revision,
         "hdlc_address": profile.hdlc_address,
         "capture_list": [o.notation for o in profile.capture_list]},
        Text(f"Meter {sid} is on the work order{', read optically' if optical else ''} and "
             f"configured at the gateway (profile {profile.id.text})",
             f"Zähler {sid} steht im Auftrag{', optisch gelesen' if optical else ''} und ist am "
             f"Gateway eingerichtet (Profil {profile.id.text})"),
    )


async def maybe_reset(ctx: StepContext) -> StepOutcome:
    meter = _meter(ctx)
    sid = meter.server_id_text
    choice = _choice(ctx.data, "crypto_reset")
    if choice == "ask":
        wanted = await ctx.ui.confirm(CRYPTO_RESET_PROMPT, Text(
            f"A Crypto-Reset returns meter {sid} to its initial key M and clears its TLS state; "
            "needed when the meter was paired with another gateway before or a pairing failed "
            "with FE 09.",
            f"Ein Crypto-Reset setzt Zähler {sid} auf seinen Initialschlüssel M zurück und "
            "löscht seinen TLS-Zustand; nötig, wenn der Zähler vorher mit einem anderen Gateway "
            "gepaart war oder ein Pairing mit FE 09 scheiterte."))
    else:
        wanted = choice == "yes"
    if not wanted:
        return StepOutcome({"done": False}, Text("No Crypto-Reset", "Kein Crypto-Reset"))
    order = work_order(ctx)
    async with gwa_session(ctx, order.smgw_id, work_order=order.job_id) as gwa:
        run = await crypto_reset(ctx, gwa, meter)
    return StepOutcome({"done": True, "reason": _reset_reason(ctx.data), "gwa": run.to_dict(),
                        "timeline": list(run.timeline)},
                       Text(f"Crypto-Reset of meter {sid} done", f"Crypto-Reset des Zählers "
                            f"{sid} durchgeführt"))


async def pair(ctx: StepContext) -> StepOutcome:
    meter = _meter(ctx)
    sid = meter.server_id_text
    order = work_order(ctx)
    timeout = _timeout(ctx.data)
    reset_before = bool(ctx.results["crypto_reset"].data.get("done"))
    retried = False
    async with gwa_session(ctx, order.smgw_id, work_order=order.job_id) as gwa:
        run = await pair_meter(ctx, gwa, meter, span=(0.0, 0.5), timeout=timeout)
        if not run.ok and is_fe09(run) and not reset_before:
            choice = _choice(ctx.data, "retry_with_crypto_reset")
            again = await ctx.ui.confirm(RETRY_PROMPT, pairing_failure(run, meter).hint) \
                if choice == "ask" else choice == "yes"
            if again:
                retried = True
                await crypto_reset(ctx, gwa, meter, purpose=f"crypto-reset {sid} after FE 09",
                                   span=(0.5, 0.7))
                run = await pair_meter(ctx, gwa, meter, purpose=f"pairing {sid} again",
                                       span=(0.7, 1.0), timeout=timeout)
        if not run.ok:
            raise pairing_failure(run, meter, after_reset=reset_before or retried)
        timeline = list(gwa.timeline)
    data = pairing_data(run)
    data.update(server_id=sid, retried_after_crypto_reset=retried, timeline=timeline)
    fp = data.get("meter_tls_fingerprint")
    await record_meter(ctx, sid, source="gwa", role=meter.role.value, public_key_sha256=fp)
    how = Text(" (it was paired with this gateway already)", " (er war bereits mit diesem "
               "Gateway gepaart)") if data["already_paired"] else Text("", "")
    return StepOutcome(data, Text(
        f"Meter {sid} is paired with gateway {order.smgw_id.text}{how.en}; meter TLS "
        f"certificate {str(fp)[:16]}…",
        f"Zähler {sid} ist mit Gateway {order.smgw_id.text} gepaart{how.de}; TLS-Zertifikat des "
        f"Zählers {str(fp)[:16]}…"))


async def summarise(ctx: StepContext) -> StepOutcome:
    meter = _meter(ctx)
    sid = meter.server_id_text
    order = work_order(ctx)
    identity = ctx.results["identity"].data
    checked = ctx.results["meter"].data
    reset = ctx.results["crypto_reset"].data
    paired = ctx.results["pairing"].data
    optical = checked.get("optical")
    reset_done = bool(reset.get("done") or paired.get("retried_after_crypto_reset"))
    fp = paired.get("meter_tls_fingerprint") or "-"
    state = wording.outcome(paired.get("outcome") or "unknown")
    lines = [
        evidence_line("gateway", Text("Gateway = work order", "Gateway = Auftrag"),
                      Text(f"{identity['smgw_id']} (HAN) = {order.smgw_id.text}",
                           f"{identity['smgw_id']} (HAN) = {order.smgw_id.text}"),
                      step="identity"),
        evidence_line("meter", Text("Meter = work order = gateway",
                                    "Zähler = Auftrag = Gateway"),
                      Text(f"{sid}: gateway profile {checked['profile_id']}"
                           + (f", optical {optical['server_id']}" if optical else
                              ", not read optically"),
                           f"{sid}: Gateway-Profil {checked['profile_id']}"
                           + (f", optisch {optical['server_id']}" if optical else
                              ", nicht optisch gelesen")), step="meter"),
        evidence_line("crypto_reset", Text("Crypto-Reset", "Crypto-Reset"),
                      Text("done" if reset_done else "not requested",
                           "durchgeführt" if reset_done else "nicht gewünscht"),
                      step="crypto_reset"),
        evidence_line("pairing", Text("Pairing", "Pairing"),
                      Text(f"{state.en}, meter TLS certificate {fp}",
                           f"{state.de}, TLS-Zertifikat des Zählers {fp}"),
                      step="pairing"),
    ]
    return StepOutcome(
        {"server_id": sid, "smgw_id": order.smgw_id.text, "paired": True, "lines": lines},
        Text(f"Meter {sid} and gateway {order.smgw_id.text} are paired: the meter's values now "
             "reach the gateway over TLS.",
             f"Zähler {sid} und Gateway {order.smgw_id.text} sind gepaart: die Werte des "
             "Zählers erreichen das Gateway jetzt über TLS."))


PAIRING = Flow(
    name="pairing",
    title=Text("Pair meter and SMGW", "Pairing Zähler und SMGW"),
    steps=(
        Step("job", Text("Load the work order", "Auftrag laden"), load_job, timeout=30),
        Step("trust", Text("Check the gateway certificate (HAN TLS)",
                           "Gateway-Zertifikat prüfen (HAN-TLS)"), check_trust, timeout=60),
        Step("identity", Text("Gateway identity = work order",
                              "Gateway-Identität = Auftrag"), identify_gateway, timeout=90),
        Step("gwa", Text("GWA link up", "GWA-Verbindung steht"), gwa_link,
             timeout=GWA_STEP_TIMEOUT),
        Step("meter", Text("Meter on the work order and at the gateway",
                           "Zähler im Auftrag und am Gateway"), check_meter,
             timeout=GWA_STEP_TIMEOUT),
        Step("crypto_reset", Text("Crypto-Reset (on request)", "Crypto-Reset (auf Wunsch)"),
             maybe_reset, timeout=GWA_STEP_TIMEOUT),
        Step("pairing", Text("Pair the meter through the GWA",
                             "Zähler über den GWA pairen"), pair, timeout=GWA_STEP_TIMEOUT),
        Step("result", Text("Result", "Ergebnis"), summarise, timeout=30),
    ),
)

__all__ = [
    "CRYPTO_RESET_PROMPT",
    "NEEDED",
    "PAIRING",
    "RETRY_PROMPT",
    "crypto_reset",
    "is_fe09",
    "pair_meter",
    "pairing_data",
    "pairing_failure",
    "read_meter_profile",
]
