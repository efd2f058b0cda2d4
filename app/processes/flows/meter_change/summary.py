"""Meter change summary (Zusammenfassung): both readings, the seal and the moved
profiles, each line with its evidence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import Text
from app.processes.engine import StepContext, StepOutcome
from app.processes.flows import wording
from app.processes.flows.job_common import evidence_line, work_order
from app.processes.flows.meter_change.readings import backwards_text, show
from app.store.jobs import WorkOrder

_t = Text


def summary_lines(results: Mapping[str, Any], order: WorkOrder) -> list[dict[str, Any]]:
    """The evidence of each line of the meter change, from the steps' data."""
    def data(step: str) -> Mapping[str, Any]:
        outcome = results.get(step)
        return {} if outcome is None else outcome.data

    identity, old_read, seal = data("identity"), data("old_reading"), data("old_seal")
    config, removed, new_read = data("old_config"), data("remove_old"), data("new_reading")
    created, detected, paired = data("create_profile"), data("detect"), data("pairing")
    evaluation, han = data("evaluation"), data("han_values")
    moved = ", ".join(p["id"] for p in evaluation.get("profiles", [])) or "-"
    gone = ", ".join(p["id"] for p in removed.get("deleted_profiles", [])) or "-"
    fp = str(paired.get("meter_tls_fingerprint"))[:16]
    state = wording.outcome(paired.get("outcome") or "unknown")
    first_warn = backwards_text(evaluation.get("plausibility") or [])
    han_warn = backwards_text(han.get("plausibility") or [])
    return [
        evidence_line("identity", _t("Gateway = work order", "Gateway = Auftrag"),
                      _t(f"{identity.get('smgw_id')} (HAN) = {order.smgw_id.text}",
                         f"{identity.get('smgw_id')} (HAN) = {order.smgw_id.text}"),
                      step="identity"),
        evidence_line("old_reading", _t("Final reading of the old meter",
                                        "Endstand des alten Zählers"),
                      _t(f"{old_read.get('server_id')} (optical = work order): "
                         f"{show(old_read.get('readings', []))}",
                         f"{old_read.get('server_id')} (optisch = Auftrag): "
                         f"{show(old_read.get('readings', []))}"), step="old_reading"),
        evidence_line("seal", _t("Seal removed", "Plombe entfernt"),
                      _t(f"{seal.get('seal')}; note: {seal.get('note') or '-'}",
                         f"{seal.get('seal')}; Bemerkung: {seal.get('note') or '-'}"),
                      step="old_seal"),
        evidence_line("remove_old", _t("Old meter removed at the gateway",
                                       "Alter Zähler am Gateway entfernt"),
                      _t(f"profile {config.get('meter_profile_id')} deleted; evaluation "
                         f"profiles terminated: {gone}",
                         f"Profil {config.get('meter_profile_id')} gelöscht; Auswerteprofile "
                         f"beendet: {gone}"), step="remove_old"),
        evidence_line("new_reading", _t("Initial reading of the new meter",
                                        "Anfangsstand des neuen Zählers"),
                      _t(f"{new_read.get('server_id')} (optical = work order): "
                         f"{show(new_read.get('readings', []))}",
                         f"{new_read.get('server_id')} (optisch = Auftrag): "
                         f"{show(new_read.get('readings', []))}"), step="new_reading"),
        evidence_line("new_meter", _t("New meter configured, detected and paired",
                                      "Neuer Zähler eingerichtet, erkannt und gepaart"),
                      _t(f"profile {created.get('profile_id')}; detected "
                         f"{'(event)' if detected.get('event') else '(HAN list)'}; "
                         f"{state.en}, meter TLS {fp}…",
                         f"Profil {created.get('profile_id')}; erkannt "
                         f"{'(Ereignis)' if detected.get('event') else '(HAN-Liste)'}; "
                         f"{state.de}, TLS des Zählers {fp}…"), step="pairing"),
        evidence_line("evaluation", _t("Evaluation profiles with first readout",
                                       "Auswerteprofile mit Erstauslesung"),
                      _t(f"{moved}; first readout {show(evaluation.get('first_readout', []))}"
                         + (f". {first_warn.en}" if first_warn.en else ""),
                         f"{moved}; Erstauslesung {show(evaluation.get('first_readout', []))}"
                         + (f". {first_warn.de}" if first_warn.de else "")),
                      ok=not first_warn.en, step="evaluation"),
        evidence_line("han_values", _t("First values over HAN = gateway list",
                                       "Erste Werte über HAN = Zählerliste"),
                      _t(f"{han.get('server_id')}: {show(han.get('values', []))}"
                         + (f". {han_warn.en}" if han_warn.en else ""),
                         f"{han.get('server_id')}: {show(han.get('values', []))}"
                         + (f". {han_warn.de}" if han_warn.de else "")),
                      ok=not han_warn.en, step="han_values"),
    ]


async def summarise(ctx: StepContext) -> StepOutcome:
    """Step "Zusammenfassung": both readings, the seal and the evidence lines."""
    order = work_order(ctx)
    old_read = ctx.results["old_reading"].data
    new_read = ctx.results["new_reading"].data
    lines = summary_lines(ctx.results, order)
    doubtful = [line["title"] for line in lines if not line["ok"]]
    warn = _t("", "") if not doubtful else _t(
        " Check: " + ", ".join(t["en"] for t in doubtful) + " (not plausible).",
        " Prüfen: " + ", ".join(t["de"] for t in doubtful) + " (nicht plausibel).")
    return StepOutcome(
        {"old_meter": old_read["server_id"], "new_meter": new_read["server_id"],
         "old_final_reading": old_read["readings"], "new_initial_reading": new_read["readings"],
         "seal": ctx.results["old_seal"].data.get("seal"), "lines": lines},
        _t(f"Meter changed: {old_read['server_id']} (final {show(old_read['readings'])}) → "
           f"{new_read['server_id']} (initial {show(new_read['readings'])}).{warn.en}",
           f"Zähler gewechselt: {old_read['server_id']} (Endstand "
           f"{show(old_read['readings'])}) → {new_read['server_id']} (Anfangsstand "
           f"{show(new_read['readings'])}).{warn.de}"))
