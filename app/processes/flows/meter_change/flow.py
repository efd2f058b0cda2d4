"""The flow definition of "Zähler wechseln" (meter change, spec 6.3): its steps in order.

Step names are persisted with every run; they must not change, or runs stored by an earlier
version could not resume.
"""

from __future__ import annotations

from app.errors import Text
from app.processes.engine import Flow, Step
from app.processes.flows.han_common import check_trust
from app.processes.flows.job_common import identify_gateway
from app.processes.flows.meter_change.common import GWA_STEP_TIMEOUT
from app.processes.flows.meter_change.detection import detect, pair
from app.processes.flows.meter_change.final_reading import (
    gwa_link,
    load_change_job,
    read_old_meter,
    seal_and_note,
)
from app.processes.flows.meter_change.first_readout import create_evaluation, han_values
from app.processes.flows.meter_change.installation import create_profile, read_new_meter, swap
from app.processes.flows.meter_change.removal import old_configuration, remove_old
from app.processes.flows.meter_change.summary import summarise

_t = Text

METER_CHANGE = Flow(
    name="meter_change",
    title=_t("Change meter", "Zähler wechseln"),
    steps=(
        Step("job", _t("Load the meter change work order", "Auftrag zum Zählerwechsel laden"),
             load_change_job, timeout=30),
        Step("trust", _t("HAN reachable and pinned", "HAN erreichbar und gepinnt"),
             check_trust, timeout=60),
        Step("identity", _t("Gateway identity = work order", "Gateway-Identität = Auftrag"),
             identify_gateway, timeout=90),
        Step("gwa", _t("GWA link up", "GWA-Verbindung steht"), gwa_link,
             timeout=GWA_STEP_TIMEOUT),
        Step("old_reading", _t("Final reading of the old meter (optical = work order)",
                               "Endstand des alten Zählers (optisch = Auftrag)"),
             read_old_meter, timeout=60),
        Step("old_seal", _t("Seal number and note", "Plombennummer und Bemerkung"),
             seal_and_note, timeout=30),
        Step("old_config", _t("Old meter and its evaluation profiles at the gateway",
                              "Alter Zähler und seine Auswerteprofile am Gateway"),
             old_configuration, timeout=GWA_STEP_TIMEOUT),
        Step("remove_old", _t("GWA terminates the evaluation profiles and removes the old "
                              "meter", "GWA beendet die Auswerteprofile und entfernt den alten "
                              "Zähler"), remove_old, timeout=GWA_STEP_TIMEOUT),
        Step("swap", _t("Install the new meter", "Neuen Zähler einbauen"), swap, timeout=60),
        Step("new_reading", _t("New meter read optically = work order",
                               "Neuer Zähler optisch gelesen = Auftrag"),
             read_new_meter, timeout=60),
        Step("create_profile", _t("GWA creates the meter profile", "GWA legt das Zählerprofil "
                                  "an"), create_profile, timeout=GWA_STEP_TIMEOUT),
        Step("detect", _t("Gateway detects the new meter", "Gateway erkennt den neuen Zähler"),
             detect, timeout=GWA_STEP_TIMEOUT),
        Step("pairing", _t("Pair the new meter", "Neuen Zähler pairen"), pair,
             timeout=GWA_STEP_TIMEOUT),
        Step("evaluation", _t("Evaluation profiles with first readout",
                              "Auswerteprofile mit Erstauslesung"), create_evaluation,
             timeout=GWA_STEP_TIMEOUT),
        Step("han_values", _t("First values of the new meter over HAN",
                              "Erste Werte des neuen Zählers über HAN"), han_values,
             timeout=3700),
        Step("summary", _t("Summary with both readings", "Zusammenfassung mit beiden Ständen"),
             summarise, timeout=30),
    ),
)
