"""What every step of the meter change shares: the work order's old and new meters,
the processes needed at the GWA, the prompts and the options of the job data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.domain import Obis
from app.errors import InvalidValue, SmgwctError, Text
from app.processes.engine import StepContext
from app.processes.flows.job_common import same_server_id, work_order
from app.protocols.admin import BillingEvaluationProfile, NonBillingEvaluationProfile
from app.store.jobs import ExpectedMeter, MeterRole, WorkOrder

_t = Text

NEEDED = ("meter_profile.read", "meter_profile.delete", "meter_profile.create",
          "evaluation_profile.read", "evaluation_profile.delete", "evaluation_profile.create",
          "pairing")
GWA_STEP_TIMEOUT = 1800.0
#: registers of the final and the initial reading (1.8.0 is required)
ENERGY = (Obis.parse("1-0:1.8.0"), Obis.parse("1-0:2.8.0"))
METER_DETECTED, METER_UNREACHABLE = 3001, 3002
MAX_NOTE = 4000

SWAP_PROMPT = Text("New meter installed and read head attached?",
                   "Neuen Zähler eingebaut und Lesekopf aufgesetzt?")
SEAL_PROMPT = Text("Seal number (Plombennummer) removed from the old meter",
                   "Plombennummer, die vom alten Zähler entfernt wurde")
NOTE_PROMPT = Text("Note on the old meter (empty: none)",
                   "Bemerkung zum alten Zähler (leer: keine)")
PORT_PROMPT = Text("Which port is the read head on?", "An welchem Anschluss steckt der Lesekopf?")
OTHER_PORT = "other"

EvaluationAdmin = BillingEvaluationProfile | NonBillingEvaluationProfile


def old_meter(order: WorkOrder) -> ExpectedMeter:
    """The meter the work order removes (exactly one)."""
    old = [m for m in order.meters if m.role is MeterRole.OLD]
    if len(old) != 1:
        raise _not_a_change(order)
    return old[0]


def new_meters(order: WorkOrder) -> list[ExpectedMeter]:
    """The meters the work order installs (at least one)."""
    new = [m for m in order.meters if m.role is MeterRole.NEW]
    if not new:
        raise _not_a_change(order)
    return new


def _not_a_change(order: WorkOrder) -> SmgwctError:
    return SmgwctError(
        _t(f"The work order {order.job_id} is not a meter change: it needs exactly one meter "
           "with role 'old' and at least one with role 'new'.",
           f"Der Auftrag {order.job_id} ist kein Zählerwechsel: er braucht genau einen Zähler "
           "mit der Rolle 'old' und mindestens einen mit der Rolle 'new'."),
        field="meters",
        hint=_t("Ask the back office for a meter change work order.",
                "Fordern Sie einen Auftrag für den Zählerwechsel an."))


def installed_meter(ctx: StepContext) -> ExpectedMeter:
    """The new meter the optical read found (step ``new_reading``)."""
    sid = ctx.results["new_reading"].data["server_id"]
    return next(m for m in new_meters(work_order(ctx)) if same_server_id(m.server_id_text, sid))


def seconds(data: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    """A duration option of the job data in seconds, checked against its range."""
    raw = data.get(name, default)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not low <= raw <= high:
        raise InvalidValue(_t(f"{name} must be {low:g} to {high:g} seconds, not {raw!r}.",
                              f"{name} muss {low:g} bis {high:g} Sekunden betragen, nicht "
                              f"{raw!r}."), field=name)
    return float(raw)
