"""Method calls and composite processes end to end: pairing (ok and FE 09), Crypto-Reset, time
synchronisation, self-test, device data, log extract, handover and meter change."""

from __future__ import annotations

from app.protocols.admin import (
    CryptoResetResult,
    LogExtract,
    PairingOutcome,
    PairingResult,
    ProfileKind,
    Reason,
    SelfTestResult,
    TimeSyncResult,
)
from app.sim.smgw.state import CertificateState
from app.sim.smgw.wan import WanFaults
from tests.integration.test_wan_support import M1, M2, M3, make_state, running_world


async def _configure(w, sid=M2) -> None:
    result = await w.run("meter_profile.create", {"server_id": sid.text})
    assert result.ok, result.error


async def test_pairing_pairs_the_meter(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        await _configure(w)
        assert w.state.meter(M2).paired is False
        result = await w.run("pairing", {"server_id": M2.text})
        assert result.ok, result.error
        pairing = result.response.result
        assert isinstance(pairing, PairingResult) and pairing.outcome is PairingOutcome.PAIRED
        assert len(pairing.meter_tls_fingerprint) == 64
        assert w.state.meter(M2).paired is True
        steps = [p.step for p in w.progress]
        assert steps.index("wake-up-sent") < steps.index("request-sent") < steps.index(
            "result-received") < steps.index("session-ended")
        assert 5001 in w.codes(await w.events())


async def test_pairing_refused_with_fe09_when_the_scenario_injects_it(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path,
                             wan_faults=WanFaults(pairing_rejected=frozenset({M2}))) as w:
        await _configure(w)
        result = await w.run("pairing", {"server_id": M2.text})
        assert not result.ok and result.error_code == "rejected-by-gateway"
        assert (result.response.status, result.response.reason) == (
            502, Reason.KEY_EXCHANGE_FAILED)
        assert result.response.result.meter_status == bytes.fromhex("fe09")
        assert result.data["meter_status"] == "fe09"
        assert "FE 09" in result.error.en and "FE 09" in result.error.de
        assert w.state.meter(M2).paired is False
        events = await w.events()
        fe09 = [e for e in events if e.code == 5003]
        assert len(fe09) == 1 and fe09[0].detail("meterStatus") == "fe09"


async def test_pairing_refused_when_the_meter_has_no_key_material(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path, meter_keys={M2: None}) as w:
        await _configure(w)
        result = await w.run("pairing", {"server_id": M2.text})
        assert result.response.reason is Reason.KEY_EXCHANGE_FAILED
        assert w.state.meter(M2).paired is False


async def test_pairing_with_a_wrong_key_m_is_fe09(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        await _configure(w)
        result = await w.run("pairing", {"server_id": M2.text, "initial_key": "00" * 16})
        assert result.response.reason is Reason.KEY_EXCHANGE_FAILED
        assert w.state.meter(M2).paired is False


async def test_pairing_an_unconfigured_or_absent_meter(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        unknown = await w.run("pairing", {"server_id": M3.text})
        assert unknown.response.reason is Reason.UNKNOWN_METER
        await _configure(w, M3)
        w.state.meter(M3).present = False
        absent = await w.run("pairing", {"server_id": M3.text})
        assert absent.response.reason is Reason.METER_UNREACHABLE


async def test_crypto_reset_unpairs_the_meter(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        assert w.state.meter(M1).paired
        result = await w.run("crypto_reset", {"server_id": M1.text, "reason": "meter-change"})
        assert result.ok, result.error
        assert isinstance(result.response.result, CryptoResetResult)
        assert w.state.meter(M1).paired is False
        # the meter can be paired again (key back to M)
        assert (await w.run("pairing", {"server_id": M1.text})).ok
        assert w.state.meter(M1).paired is True
        codes = w.codes(await w.events())
        assert codes.index(5004) < codes.index(5001)


async def test_time_sync_corrects_the_clock(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path, state=make_state(demo_pki, drift=95.0)) as w:
        result = await w.run("time_sync")
        assert result.ok, result.error
        sync = result.response.result
        assert isinstance(sync, TimeSyncResult) and sync.corrected
        assert 94_000 <= sync.offset_ms <= 96_000  # measured before correcting
        assert sync.limit_ms == 27_000 and not sync.within_limit
        assert abs(w.state.drift_seconds) < 1.0
        assert w.gwa.time_address is not None and sync.server.endswith(
            f":{w.gwa.time_address[1]}")
        events = await w.events()
        assert {6001, 6003} <= set(w.codes(events))
        assert any("Time synchronised" in e.message for e in w.state.system_log.entries)


async def test_time_sync_with_an_unreachable_server(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path, time_timeout=0.3,
                             state=make_state(demo_pki, drift=5.0)) as w:
        result = await w.run("time_sync", {"server": "ntp://127.0.0.1:9"})
        assert result.response.reason is Reason.TIME_SOURCE_UNREACHABLE
        assert w.state.drift_seconds == 5.0
        assert 6002 in w.codes(await w.events())


async def test_self_test_and_its_rate_limit(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        first = await w.run("self_test")
        assert first.ok, first.error
        report = first.response.result
        assert isinstance(report, SelfTestResult) and report.passed
        assert {c.name for c in report.checks} >= {"firmware-integrity", "lmn", "clock"}
        assert w.state.last_self_test is not None and w.state.last_self_test.passed
        second = await w.run("self_test")
        assert not second.ok and second.response.status == 429
        assert 1 <= second.response.retry_after_seconds <= 600
        assert w.codes(await w.events()).count(7001) == 1


async def test_self_test_reports_a_missing_meter(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        w.state.meter(M1).present = False
        result = await w.run("self_test")
        assert result.ok and result.data["passed"] is False
        assert result.data["failed_checks"] == ["lmn"]
        failed = [e for e in await w.events() if e.code == 7002]
        assert failed and failed[0].detail("failedChecks") == "lmn"


async def test_device_info_and_log_extract(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        info = await w.run("device_info")
        assert info.ok and info.data["operating_state"] == "normal"
        assert info.data["firmware_version"] == "4.2.1"
        log = await w.run("read_log", {"max_entries": 5})
        extract = log.response.result
        assert isinstance(extract, LogExtract) and 1 <= len(extract.entries) <= 5
        assert [e.sequence for e in extract.entries] == sorted(e.sequence for e in extract.entries)


async def test_handover_switches_to_operational_certificates(demo_pki, tmp_path):
    state = make_state(demo_pki, certificates=CertificateState.GUETESIEGEL, drift=20.0)
    async with running_world(demo_pki, tmp_path, state=state) as w:
        before = await w.run("device_info")
        assert before.data["operating_state"] == "delivery"
        result = await w.run("handover")
        assert result.ok, result.error
        assert result.data["operating_state_before"] == "delivery"
        assert result.data["operating_state"] == "normal"
        assert result.data["self_test"] == "passed"
        assert w.state.wan_certificate_state is CertificateState.WIRKZERTIFIKAT
        sig = [c for c in w.state.certificates if c.role == "wan_sig"]
        assert [(c.index, c.state) for c in sig] == [
            (0, CertificateState.GUETESIEGEL), (1, CertificateState.WIRKZERTIFIKAT)]
        assert abs(w.state.drift_seconds) < 1.0
        gwa_profile = w.wan.book.get(ProfileKind.COMMUNICATION, w.gwa.profile_id)
        assert gwa_profile.revision == 2
        assert w.gwa.inventory.gateway(w.state.smgw_id).operating_state == "normal"


async def test_handover_state_survives_a_restart_of_the_gateway(demo_pki, tmp_path):
    state = make_state(demo_pki, certificates=CertificateState.GUETESIEGEL)
    async with running_world(demo_pki, tmp_path, state=state) as w:
        assert (await w.run("handover", {"self_test": False})).ok
        # a fresh state from the same delivery data, the same WAN store
        w.state = make_state(demo_pki, certificates=CertificateState.GUETESIEGEL)
        await w.restart_wan()
        assert w.state.wan_certificate_state is CertificateState.WIRKZERTIFIKAT
        assert w.wan.book.get(ProfileKind.COMMUNICATION, w.gwa.profile_id).revision == 2


async def test_meter_change_moves_the_evaluation_profile(demo_pki, tmp_path):
    from tests.integration.test_wan_profiles import EMT_ID, MPID, emt_profile

    async with running_world(demo_pki, tmp_path) as w:
        assert (await w.run("communication_profile.create",
                            {"profile": emt_profile(demo_pki)})).ok
        assert (await w.run("evaluation_profile.create", {
            "taf": 7, "metering_point_id": MPID, "receiving_emt": EMT_ID.text,
            "meters": [{"server_id": M1.text, "channels": ["1-0:1.8.0"]}]})).ok
        result = await w.run("meter_change", {"old_server_id": M1.text,
                                              "new_server_id": M2.text})
        assert result.ok, result.error
        assert result.data["moved_profiles"] == ["01005e318027.taf7-1.sm"]
        assert result.data["crypto_reset_old"] == "done"
        assert w.state.meter(M1) is None
        assert w.state.meter(M2).paired is True
        taf7 = next(p for p in w.state.profiles if p.usage_point_id == "01005e318027.taf7-1.sm")
        assert taf7.meters == [M2]
        assert w.wan.book.meter_profile(M1) is None


async def test_the_generic_process_sends_one_given_operation(demo_pki, tmp_path):
    from app.protocols.admin import CallMethod, DeviceInfo, ReadDeviceInfo

    async with running_world(demo_pki, tmp_path) as w:
        result = await w.run("operation", {"operation": CallMethod(ReadDeviceInfo())})
        assert result.ok and isinstance(result.response.result, DeviceInfo)
        assert result.response.result.smgw_id == w.state.smgw_id
        runs = w.gwa.inventory.runs(w.state.smgw_id.text)
        assert [(r["process"], r["state"]) for r in runs] == [("operation", "succeeded")]


async def test_a_pairing_without_key_m_reaching_the_gateway_is_malformed(demo_pki, tmp_path):
    """Only a request to the GWA may leave key M out (the GWA fills it); the gateway itself
    refuses such a call as malformed instead of blaming the meter with FE 09."""
    import uuid

    from app.protocols.admin import CallMethod, Pairing

    async with running_world(demo_pki, tmp_path) as w:
        await _configure(w)
        outcome = await w.wan.executor.execute(CallMethod(Pairing(M2, None)), uuid.uuid4())
        assert outcome.response.reason is Reason.MALFORMED
        assert "initialKey" in (outcome.response.detail or "")
        assert w.state.meter(M2).paired is False
