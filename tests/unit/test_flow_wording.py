"""The flows' summaries and verdicts speak the technician's language: no raw state codes, enum
values or ISO time stamps in the German text (and the work order's values have titles)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.domain import ServerId, SmgwId
from app.errors import Text
from app.processes.engine import StepOutcome
from app.processes.flows import by_name, wording
from app.processes.flows.handover import self_test_evidence, verdict_lines
from app.processes.flows.job_common import meters_with_roles
from app.processes.flows.meter_change.readings import backwards_text, went_backwards
from app.processes.flows.meter_change.summary import summary_lines
from app.store.work_order import ExpectedMeter, MeterRole, PlannedFlow, Site, WorkOrder

BERLIN = ZoneInfo("Europe/Berlin")
#: English words and codes that must not appear in a German text
RAW = re.compile(r"\b(delivery|normal|paired|passed|failed|wirkzertifikat|guetesiegel|wan_sig|"
                 r"wan_tls|wan_enc|gwa\)|running|new|old)\b|->|\d{4}-\d\d-\d\dT\d\d:")


def _outcome(data: dict[str, Any]) -> StepOutcome:
    return StepOutcome(data, Text("", ""))


def _order() -> WorkOrder:
    return WorkOrder(
        job_id="DEMO-1", site=Site("Musterstraße 12", "12345", "Musterstadt"),
        metering_point_id="DE0005626680200000000000000000001",
        smgw_id=SmgwId.parse("ETHE0390000001"), gwa_tenant="demo-gwa",
        meters=(ExpectedMeter(ServerId.parse("1EMH0012345678"), MeterRole.OLD),
                ExpectedMeter(ServerId.parse("1DZG0042123440"), MeterRole.NEW)),
        flows=(PlannedFlow.METER_CHANGE,))


def test_local_time_is_readable_in_both_languages() -> None:
    shown = wording.local_time("2026-11-29T19:38:25.645537+00:00", tz=BERLIN)
    assert shown == Text("2026-11-29 20:38", "29.11.2026 20:38")
    summer = wording.local_time(dt.datetime(2026, 7, 1, 10, 5, tzinfo=dt.UTC), tz=BERLIN)
    assert summer.de == "01.07.2026 12:05"
    assert wording.local_time(None) == Text("-", "-")
    assert wording.local_time("not a time").de == "not a time"  # shown as given, no crash


@pytest.mark.parametrize(("word", "function", "de"), [
    ("delivery", wording.operating_state, "Auslieferungszustand"),
    ("normal", wording.operating_state, "Normalbetrieb"),
    ("wirkzertifikat", wording.certificate_state, "Wirkzertifikat"),
    ("guetesiegel", wording.certificate_state, "Gütesiegel-Zertifikat"),
    ("wan_sig", wording.certificate_role, "WAN-Signatur"),
    ("paired", wording.outcome, "gepaart"),
    ("passed", wording.outcome, "bestanden"),
    ("gwa", wording.source, "vom GWA gemeldet"),
    ("running", wording.taf_state, "aktiv"),
    ("failed", wording.job_state, "fehlgeschlagen"),
    ("wan-han-separation", wording.self_test_check, "WAN/HAN-Trennung"),
    ("new", wording.meter_role, "neuer Zähler"),
    ("old", wording.meter_role, "alter Zähler"),
])
def test_codes_have_german_words(word: str, function: Any, de: str) -> None:
    assert function(word).de == de


def test_unknown_code_is_shown_as_it_came() -> None:
    assert wording.operating_state("maintenance") == Text("maintenance", "maintenance")


def test_handover_verdict_is_german_in_german() -> None:
    results = {
        "trust": _outcome({"host": "127.0.0.1", "port": 52737, "sha256": "4c8779e1" * 8}),
        "identity": _outcome({"smgw_id": "ETHE0390000001", "firmware": [{"version": "3.87.2"}]}),
        "gwa": _outcome({"gwa": "smgwct reference GWA", "gwa_sha256": "2c376b92" * 8}),
        "handover": _outcome({
            "state_before": "delivery", "state_after": "normal", "timeline": [{}] * 37,
            "wan_certificates": {"wan_sig": {"state": "wirkzertifikat", "sha256": "e5" * 32},
                                 "wan_tls": {"state": "wirkzertifikat", "sha256": "a1" * 32}},
            "time_sync": {"offset_ms": 1500, "limit_ms": 27000}}),
        "meters": _outcome({"meters": [{"server_id": "1EMH0012345678", "outcome": "paired",
                                        "profile_id": "01005e318002.1emh0012345678.sm",
                                        "meter_tls_fingerprint": "4fbde6b5" * 8}]}),
        "profiles": _outcome({"meters": [{"server_id": "1EMH0012345678",
                                          "active": ["01005e318027.taf7-1.sm"], "tafs": [7]}]}),
        "self_test": _outcome({"verdict": "passed", "source": "gwa",
                               "finished": "2026-11-29T19:38:25.645537+00:00"}),
    }
    lines = verdict_lines(results, "ETHE0390000001")
    german = {line["check"]: line["evidence"]["de"] for line in lines}
    for check, text in german.items():
        assert not RAW.search(text), (check, text)
    assert german["handover"].startswith("Auslieferungszustand → Normalbetrieb; WAN-Signatur: "
                                         "Wirkzertifikat")
    assert "gepaart" in german["meter 1EMH0012345678"]
    assert re.fullmatch(r"bestanden \(vom GWA gemeldet, \d\d\.\d\d\.\d{4} \d\d:\d\d\)",
                        german["self_test"])
    english = {line["check"]: line["evidence"]["en"] for line in lines}
    assert english["handover"].startswith("delivery state → normal operation")
    assert "paired" in english["meter 1EMH0012345678"]


def test_self_test_from_the_system_log_shows_the_entry_time() -> None:
    text = self_test_evidence({"verdict": "passed", "source": "system log",
                               "entries": [{"time": "2026-11-29T19:30:00+00:00"}]})
    assert text.de.startswith("bestanden (aus dem Systemlog, ")
    assert not RAW.search(text.de)


def test_meter_roles_in_words() -> None:
    text = meters_with_roles(_order())
    assert text.de == "1EMH0012345678 (alter Zähler), 1DZG0042123440 (neuer Zähler)"
    assert text.en == "1EMH0012345678 (old meter), 1DZG0042123440 (new meter)"


def test_every_planned_flow_and_role_has_a_title() -> None:
    for planned in PlannedFlow:
        flow = by_name(planned.value)
        assert planned.title == flow.title, planned
    for role in MeterRole:
        assert role.title.de and role.title.en and role.title.de != role.value


def _readings(*values: tuple[str, str], source: str = "optical") -> list[dict[str, Any]]:
    return [{"server_id": "1DZG0042123440", "obis": obis, "value": value, "unit": "Wh",
             "source": source, "role": "new"} for obis, value in values]


def test_a_register_that_goes_backwards_is_found() -> None:
    optical = _readings(("1-0:1.8.0*255", "1587302.3"), ("1-0:2.8.0*255", "9654129.6"))
    later = _readings(("1-0:1.8.0*255", "1587283.1"), ("1-0:2.8.0*255", "9654130.0"),
                      source="han")
    problems = went_backwards(optical, later)
    assert [(p["obis"], p["value"], p["earlier"]) for p in problems] == [
        ("1-0:1.8.0*255", "1587283.1", "1587302.3")]
    assert "1.8.0 1587283.1 Wh < 1587302.3 Wh" in backwards_text(problems).de
    assert went_backwards(optical, optical) == []


def test_meter_change_summary_flags_implausible_han_values() -> None:
    optical = _readings(("1-0:1.8.0*255", "1587302.3"))
    han = _readings(("1-0:1.8.0*255", "1587283.1"), source="han")
    results = {
        "new_reading": _outcome({"server_id": "1DZG0042123440", "readings": optical}),
        "pairing": _outcome({"outcome": "paired", "meter_tls_fingerprint": "88" * 32}),
        "evaluation": _outcome({"profiles": [], "first_readout": optical, "plausibility": []}),
        "han_values": _outcome({"server_id": "1DZG0042123440", "values": han,
                                "plausibility": went_backwards(optical, han)}),
    }
    lines = {line["check"]: line for line in summary_lines(results, _order())}
    assert lines["evaluation"]["ok"] is True
    assert lines["han_values"]["ok"] is False
    assert "Nicht plausibel" in lines["han_values"]["evidence"]["de"]
    assert "gepaart" in lines["new_meter"]["evidence"]["de"]
    assert "paired" not in lines["new_meter"]["evidence"]["de"]
