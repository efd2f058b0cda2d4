"""Verdict and result views of the job flows, fed with real runs against the simulators.

Every flow runs twice headless (``tests/ui/verdict_runs.py``): once to success and once into a
failure a technician meets on site (wrong gateway, FE 09, wrong meter installed). The views must
show every check with its evidence and step, and on failure the failed check, both values and the
hint - in German and English, without clipped text. Screenshots go to ``screenshots/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QLabel

from app.processes.flows.handover import verdict_lines
from app.processes.flows.meter_change import summary_lines
from tests.e2e.conftest import HEAT_PUMP, HOUSEHOLD, SMGW
from tests.e2e.test_meter_change_world import STRANGER
from tests.ui.conftest import SCREENSHOTS
from tests.ui.helpers import clipped_widgets
from tests.ui.verdict_runs import OTHER_SMGW, SEAL, Runs, run_flow
from ui.views.results import registration_for
from ui.views.verdicts import VerdictView

pytestmark = pytest.mark.timeout(60)

SIZE = (1000, 820)


def _runs(flow: str, demo_pki: Any, factory: pytest.TempPathFactory) -> Runs:
    return run_flow(flow, demo_pki, Path(factory.mktemp(f"verdict-{flow}")))


@pytest.fixture(scope="module")
def handover_runs(demo_pki, tmp_path_factory) -> Runs:
    return _runs("handover", demo_pki, tmp_path_factory)


@pytest.fixture(scope="module")
def pairing_runs(demo_pki, tmp_path_factory) -> Runs:
    return _runs("pairing", demo_pki, tmp_path_factory)


@pytest.fixture(scope="module")
def meter_change_runs(demo_pki, tmp_path_factory) -> Runs:
    return _runs("meter_change", demo_pki, tmp_path_factory)


@pytest.fixture(scope="module")
def discovery_runs(demo_pki, tmp_path_factory) -> Runs:
    return _runs("discovery", demo_pki, tmp_path_factory)


def show(qtbot: Any, flow: str, result: Any) -> VerdictView:
    """The flow's registered view, built like the main window does, showing ``result``."""
    registration = registration_for(flow)
    assert registration is not None and registration.on_failure
    view = registration.factory(None)
    assert isinstance(view, VerdictView)
    qtbot.addWidget(view)
    view.resize(*SIZE)
    view.show_result(result)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(30)  # let the scroll area settle on the final layout
    return view


def texts(view: VerdictView, name: str) -> list[str]:
    return [w.text() for w in view.findChildren(QLabel, name) if w.isVisibleTo(view)]


def facts(view: VerdictView) -> dict[str, str]:
    return dict(view.facts)


def shoot(view: VerdictView, name: str) -> None:
    assert clipped_widgets(view) == []
    assert not view.scroll.verticalScrollBar().isVisible()  # everything fits at this size
    SCREENSHOTS.mkdir(exist_ok=True)
    assert view.grab().save(str(SCREENSHOTS / f"{name}.png"))


# --- handover -----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["de", "en"])
def test_handover_verdict_shows_every_line_with_evidence(qtbot, translations, handover_runs,
                                                         lang):
    translations.apply(lang)
    result = handover_runs.ok
    view = show(qtbot, "handover", result)
    headline = view.headline.text()
    assert headline.startswith("✓")
    assert ("System im Normalbetrieb" if lang == "de" else "System in normal operation") \
        in headline
    expected = result.results["verdict"].data["lines"]
    # the flow's own evidence, recomputed from its steps, is what the view shows
    assert expected == verdict_lines(result.results, SMGW)
    assert [line.state for line in view.lines] == ["ok"] * len(expected)
    assert [line.evidence for line in view.lines] == [e["evidence"][lang] for e in expected]
    assert texts(view, "verdict-evidence") == [e["evidence"][lang] for e in expected]
    assert texts(view, "verdict-line-title") == [e["title"][lang] for e in expected]
    assert len(texts(view, "verdict-mark-ok")) == len(expected)
    assert all(m == "✓" for m in texts(view, "verdict-mark-ok"))
    step = "Schritt" if lang == "de" else "Step"
    assert texts(view, "verdict-step")[0].startswith(f"{step}: ")
    assert any(HOUSEHOLD in t for t in texts(view, "verdict-line-title"))
    assert not view.failure.isVisibleTo(view)
    assert facts(view)["Gateway"] == SMGW
    shoot(view, f"verdict-handover-{lang}")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_handover_wrong_gateway_shows_both_ids_and_the_hint(qtbot, translations, handover_runs,
                                                            lang):
    translations.apply(lang)
    result = handover_runs.failed
    assert result.failed_step == "identity" and result.kind == "mismatch"
    view = show(qtbot, "handover", result)
    assert view.headline.text().startswith("✗")
    assert view.failure.isVisibleTo(view)
    assert view.mismatch is not None
    assert (view.mismatch.expected, view.mismatch.seen) == (OTHER_SMGW, SMGW)
    assert view.expected_value.text() == OTHER_SMGW and view.seen_value.text() == SMGW
    assert view.hint_text.text() == result.hint.get(lang)
    assert view.hint_text.isVisibleTo(view)
    failed = [line for line in view.lines if line.state == "failed"]
    assert len(failed) == 1 and failed[0].evidence == result.error.get(lang)
    assert [line.state for line in view.lines].count("ok") == 2  # job, trust
    assert len(texts(view, "verdict-mark-open")) == 6  # gwa ... verdict not reached
    assert texts(view, "verdict-mark-failed") == ["✗"]
    shoot(view, f"verdict-handover-failed-{lang}")


# --- pairing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["de", "en"])
def test_pairing_result_names_meter_and_outcome(qtbot, translations, pairing_runs, lang):
    translations.apply(lang)
    result = pairing_runs.ok
    view = show(qtbot, "pairing", result)
    shown = facts(view)
    meter = "Zähler" if lang == "de" else "Meter"
    outcome = "Ergebnis" if lang == "de" else "Outcome"
    assert shown[meter] == HEAT_PUMP
    assert shown[outcome] == ("gepaart" if lang == "de" else "paired")
    assert HEAT_PUMP in view.headline.text() and SMGW in view.headline.text()
    lines = result.results["result"].data["lines"]
    assert [line.title for line in view.lines] == [e["title"][lang] for e in lines]
    fingerprint = result.results["pairing"].data["meter_tls_fingerprint"]
    assert any(fingerprint in e for e in texts(view, "verdict-evidence"))
    shoot(view, f"verdict-pairing-{lang}")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_pairing_fe09_is_explained_with_cause_and_next_action(qtbot, translations, pairing_runs,
                                                              lang):
    translations.apply(lang)
    result = pairing_runs.failed
    assert result.failed_step == "pairing"
    view = show(qtbot, "pairing", result)
    assert "FE 09" in view.error_text.text()
    hint = view.hint_text.text()
    assert hint == result.hint.get(lang)
    assert ("Schlüsselmaterial" if lang == "de" else "key material") in hint
    assert "Crypto-Reset" in hint
    assert view.hint_title.text() == ("Wahrscheinliche Ursache und nächster Schritt"
                                      if lang == "de" else "Likely cause and next action")
    outcome = "Ergebnis" if lang == "de" else "Outcome"
    assert facts(view)[outcome] == ("nicht gepaart" if lang == "de" else "not paired")
    assert facts(view)["Zähler" if lang == "de" else "Meter"] == HEAT_PUMP
    assert view.mismatch is None and not view.values_box.isVisibleTo(view)
    pairing_title = "Zähler über den GWA pairen" if lang == "de" else \
        "Pair the meter through the GWA"
    assert pairing_title in view.failed_check.text()
    shoot(view, f"verdict-pairing-failed-{lang}")


# --- meter change -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["de", "en"])
def test_meter_change_summary_shows_both_readings(qtbot, translations, meter_change_runs, lang):
    translations.apply(lang)
    result = meter_change_runs.ok
    view = show(qtbot, "meter_change", result)
    old = result.results["old_reading"].data["readings"]
    new = result.results["new_reading"].data["readings"]
    assert old and new
    assert view.readings, "no reading rows"
    # every value of both readings appears in its column
    old_column = {row[1] for row in view.readings}
    new_column = {row[2] for row in view.readings}
    for reading in old:
        assert any(str(reading["value"]) in cell for cell in old_column)
    for reading in new:
        assert any(str(reading["value"]) in cell for cell in new_column)
    assert texts(view, "verdict-reading")[:3] == list(view.readings[0])
    shown = facts(view)
    assert shown["Alter Zähler" if lang == "de" else "Old meter"] == HOUSEHOLD
    assert shown["Neuer Zähler" if lang == "de" else "New meter"] == HEAT_PUMP
    assert shown["Plombe" if lang == "de" else "Seal"] == SEAL
    assert result.results["summary"].data["lines"] == summary_lines(
        result.results, _order(result))
    assert len(view.lines) == len(result.results["summary"].data["lines"])
    shoot(view, f"verdict-meter_change-{lang}")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_meter_change_wrong_meter_shows_both_ids(qtbot, translations, meter_change_runs, lang):
    translations.apply(lang)
    result = meter_change_runs.failed
    assert result.failed_step == "new_reading" and result.kind == "mismatch"
    view = show(qtbot, "meter_change", result)
    assert view.mismatch is not None
    assert HEAT_PUMP in view.expected_value.text()
    assert view.seen_value.text() == STRANGER
    assert view.hint_text.text() == result.hint.get(lang)
    # the old meter's final reading was taken before the stop and is still shown
    assert view.readings and all(row[2] == "–" for row in view.readings)
    view.resize(SIZE[0], 1150)  # sixteen steps: taller than the others, all in one picture
    qtbot.wait(30)
    shoot(view, f"verdict-meter_change-failed-{lang}")


def _order(result: Any) -> Any:
    from app.store.work_order_check import Located, order_from_document
    from tests.e2e.conftest import work_order

    order = order_from_document(work_order("meter-change"), Located("job data", "json", {}))
    assert order.job_id == result.results["job"].data["job_id"]
    return order


# --- discovery ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["de", "en"])
def test_discovery_shows_the_gateway_and_the_identity_check(qtbot, translations, discovery_runs,
                                                            lang):
    translations.apply(lang)
    result = discovery_runs.ok
    view = show(qtbot, "discovery", result)
    found = result.results["search"].data["gateways"]
    shown = facts(view)
    listed = shown["Gefundene Gateways" if lang == "de" else "Gateways found"]
    for gateway in found:
        assert f"{gateway['host']}:{gateway['port']}" in listed
    check = shown["Identitätsprüfung" if lang == "de" else "Identity check"]
    assert check.count(SMGW) == 2
    assert SMGW in view.headline.text()
    assert [line.state for line in view.lines] == ["ok"] * 4
    shoot(view, f"verdict-discovery-{lang}")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_discovery_of_another_gateway_shows_both_ids(qtbot, translations, discovery_runs, lang):
    translations.apply(lang)
    result = discovery_runs.failed
    view = show(qtbot, "discovery", result)
    assert view.mismatch is not None
    assert view.expected_value.text() == OTHER_SMGW
    assert SMGW in view.seen_value.text()
    assert view.hint_text.isVisibleTo(view)
    shoot(view, f"verdict-discovery-failed-{lang}")


def test_language_switch_rerenders_the_verdict(qtbot, translations, handover_runs):
    translations.apply("en")
    view = show(qtbot, "handover", handover_runs.ok)
    assert "System in normal operation" in view.headline.text()
    translations.apply("de")
    qtbot.waitUntil(lambda: "System im Normalbetrieb" in view.headline.text(), timeout=2000)
    assert view.lines_title.text() == "Prüfungen und Nachweise"
