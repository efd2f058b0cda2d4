"""Scenario files: the shipped ones load, and broken ones fail with the file, field and fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.resources import resource_path
from app.sim.smgw import Scenario, ScenarioError, available
from app.sim.smgw.access import Role, SessionPolicy
from app.sim.smgw.state import CertificateState


def _default() -> dict[str, Any]:
    return json.loads(resource_path("demo", "default.json").read_text("utf-8"))


def _error(change: Callable[[dict[str, Any]], None]) -> ScenarioError:
    data = _default()
    change(data)
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict(data, source="broken.json")
    return info.value


def test_shipped_scenarios_load_and_build() -> None:
    assert {"default", "ppc", "emh"} <= set(available())
    for name in available():
        scenario = Scenario.load(name)
        state = scenario.build_state()
        assert state.smgw_id.text == scenario.smgw_id
        assert len(state.system_log) > 0 and state.users


def test_default_scenario_content() -> None:
    scenario = Scenario.load("default")
    assert scenario.vendor == "theben" and scenario.dialect == "theben"
    assert [m.server_id.text for m in scenario.meters] == ["1EMH0012345678", "1DZG0042123440"]
    assert {u.role for u in scenario.users} == {Role.CONSUMER, Role.SERVICE_TECHNICIAN}
    assert scenario.wan_certificates is CertificateState.WIRKZERTIFIKAT
    assert scenario.logs.system_entries >= 3200
    assert scenario.default_user == "ethe0390000001.srv"
    assert scenario.user("ethe0390000001.lv").password == "Demo-Verbraucher-2026"


def test_dialect_scenarios() -> None:
    ppc, emh = Scenario.load("ppc"), Scenario.load("emh")
    assert ppc.dialect == "ppc" and ppc.han.session_policy is SessionPolicy.REFUSE
    assert [f.name for f in ppc.firmware] == ["smgw-bootstream", "smgw-services"]
    assert emh.dialect == "emh" and emh.smgw_id == "EEMH0190000001"


def test_reboot_seconds_of_the_self_test_restart() -> None:
    assert Scenario.load("ppc").han.reboot_seconds == 30.0  # the default
    data = _default()
    data["gateway"]["han"]["reboot_seconds"] = 2.5
    assert Scenario.from_dict(data, source="test.json").build_state().han.reboot_seconds == 2.5


def test_faults_are_applied(demo_pki) -> None:
    state = Scenario.load("faults").build_state(demo_pki)
    assert state.guard.remaining("ethe0390000001.lv") == pytest.approx(277, abs=1)
    assert not state.meter("1DZG0042123440").present
    assert state.drift_seconds == 45 and state.han.response_delay == 1.5
    assert state.han.md5_only and state.han.digest_algorithms == ("SHA-256",)
    assert state.state_code() == "e4000000"


def test_build_with_pki_has_all_certificates(demo_pki) -> None:
    state = Scenario.load("default").build_state(demo_pki)
    roles = sorted(c.role for c in state.certificates)
    assert roles == ["han_tls", "sub_ca", "wan_enc", "wan_sig", "wan_sig", "wan_tls"]
    technician = state.users["ethe0390000001.srv"]
    assert technician.client_cert_sha256 == {demo_pki["technician"].sha256}
    assert "Demo-Service-2026" not in repr(technician)  # only the HA1 is kept


def test_typo_in_a_field_name_is_reported_with_its_path() -> None:
    err = _error(lambda d: d["gateway"]["meters"][0].update(hdlc_adress=16))
    assert err.field == "gateway.meters[0].hdlc_adress"
    assert "broken.json" in err.describe("en") and "not a known field" in err.describe("en")
    assert "hdlc_address" in err.describe("en")  # the known fields are listed
    assert "kein bekanntes Feld" in err.describe("de")


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d["gateway"].pop("smgw_id"), "gateway.smgw_id", "is missing"),
        (lambda d: d["gateway"].update(smgw_id="XYZ"), "gateway.smgw_id", "not valid"),
        (lambda d: d["gateway"]["meters"][0].update(server_id="1EMH00"),
         "gateway.meters[0].server_id", "not valid"),
        (lambda d: d["gateway"]["meters"][0].update(paired="yes"), "gateway.meters[0].paired",
         "true or false"),
        (lambda d: d["gateway"]["meters"][1].update(server_id="1EMH0012345678"),
         "gateway.meters[1].server_id", "repeats"),
        (lambda d: d["gateway"]["evaluation_profiles"][0].update(meters=["1ISK0000000001"]),
         "gateway.evaluation_profiles[0].meters[0]", "not in gateway.meters"),
        (lambda d: d["gateway"]["evaluation_profiles"][0].update(channels=["1-0:99.8.0*255"]),
         "gateway.evaluation_profiles[0].channels[0]", "none of the profile's meters"),
        (lambda d: d["gateway"]["evaluation_profiles"][0].update(start="2026-01-01T00:00:00"),
         "gateway.evaluation_profiles[0].start", "time zone"),
        (lambda d: d["gateway"]["evaluation_profiles"][0].update(taf=15),
         "gateway.evaluation_profiles[0].taf", "at most 14"),
        (lambda d: d["gateway"]["users"][0].update(role="admin"), "gateway.users[0].role",
         "allowed: consumer, service_technician"),
        (lambda d: d["gateway"]["users"][0].pop("password"), "gateway.users[0]",
         "password or a client_certificate"),
        (lambda d: d["gateway"]["firmware"][0].update(sha256="abc"),
         "gateway.firmware[0].sha256", "64 hex digits"),
        (lambda d: d["gateway"]["han"]["digest"].update(algorithms=["SHA-1"]),
         "gateway.han.digest.algorithms[0]", "'SHA-256' or 'MD5'"),
        (lambda d: d.update(faults=[{"kind": "power_cut"}]), "faults[0].kind", "allowed:"),
        (lambda d: d.update(faults=[{"kind": "han_lockout", "user": "x"}]), "faults[0].user",
         "unknown user"),
        (lambda d: d.update(faults=[{"kind": "slow_responses"}]), "faults[0].delay_seconds",
         "is missing"),
        (lambda d: d.update(version=2), "version", "at most 1"),
        (lambda d: d["gateway"]["han"].update(reboot_seconds=-1), "gateway.han.reboot_seconds",
         "at least 0"),
        (lambda d: d["gateway"]["han"].update(reboot_seconds="30"), "gateway.han.reboot_seconds",
         "a number"),
    ],
)
def test_validation_errors_name_the_field(change, field: str, words: str) -> None:
    err = _error(change)
    assert err.field == field
    assert words in err.describe("en")
    assert err.hint is not None and "docs/han.md" in err.hint.en


def test_broken_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "format": "smgwct-scenario",\n  "version": 1,,\n}', "utf-8")
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    assert "line 3" in info.value.describe("en") and "Zeile 3" in info.value.describe("de")


def test_unknown_scenario_lists_the_available_ones() -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario.load("nonexistent")
    assert "default" in info.value.describe("en")
