"""Profile create/read/update/delete (spec ch. 6.4) end to end: reference GWA -> wake-up ->
MANAGEMENT over TLS -> virtual SMGW, which applies them to the state its HAN side shows."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from app.domain import LogicalName
from app.protocols.admin import (
    Address,
    AddressPurpose,
    BillingEvaluationProfile,
    ClsProxyProfile,
    CommunicationProfile,
    EvaluatedMeter,
    HksScenario,
    MeterProfile,
    NonBillingEvaluationProfile,
    PeerRole,
    ProfileKind,
    Reason,
)
from app.sim.smgw.state import TafState
from tests.integration.test_wan_support import E180, E280, M1, M2, P167, SMGW, running_world

EMT_ID = LogicalName.parse("01005e318031.emt-lieferant-1.sm")
CLS_ID = LogicalName.parse("01005e318031.cls-steuerbox-1.sm")
MPID = "DE0001234567800000000000000123456"


def emt_profile(pki) -> CommunicationProfile:
    return CommunicationProfile(
        EMT_ID, 1, PeerRole.EMT, "Lieferant Beispiel AG",
        (Address(AddressPurpose.DATA, "https://emt.example.org/smgw/in"),),
        pki["gwa_tls"].sha256, pki["gwa_sig"].cert_der, pki["gwa_enc"].cert_der, 0, 600, 3600)


def cls_profile(pki) -> CommunicationProfile:
    return CommunicationProfile(
        CLS_ID, 1, PeerRole.CLS, "Steuerbox Keller",
        (Address(AddressPurpose.CLS, "tls://192.168.10.20:4443"),), pki["han"].sha256, None,
        None, 60, 300, 86400)


async def test_communication_profile_crud(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        created = await w.run("communication_profile.create", {"profile": emt_profile(demo_pki)})
        assert created.ok, created.error
        assert created.response.status == 201 and created.data["revision"] == 1
        stored = w.wan.book.get(ProfileKind.COMMUNICATION, EMT_ID)
        assert stored.peer_name == "Lieferant Beispiel AG"

        read = await w.run("communication_profile.read", {"id": EMT_ID.text})
        assert read.ok and read.response.result == emt_profile(demo_pki)

        updated = await w.run("communication_profile.update",
                              {"id": EMT_ID.text, "changes": {"peer_name": "Lieferant Neu AG"}})
        assert updated.ok, updated.error
        assert [r.reason for r in updated.responses] == [Reason.OK, Reason.OK]  # read, update
        stored = w.wan.book.get(ProfileKind.COMMUNICATION, EMT_ID)
        assert (stored.revision, stored.peer_name) == (2, "Lieferant Neu AG")

        deleted = await w.run("communication_profile.delete", {"id": EMT_ID.text})
        assert deleted.ok and deleted.response.status == 204
        assert w.wan.book.get(ProfileKind.COMMUNICATION, EMT_ID) is None
        # the GWA's inventory followed every answer
        assert all(p.id != EMT_ID for p in w.gwa.inventory.profiles(w.state.smgw_id))

        events = await w.events()
        assert w.codes(events)[1:] == [4001, 4002, 4003]
        assert [e.detail("revision") for e in events[1:]] == ["1", "2", "2"]


async def test_the_last_gwa_profile_cannot_be_deleted(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        gone = await w.run("communication_profile.delete", {"id": "01005e318031.gwa-main.sm"})
        assert not gone.ok and gone.error_code == "rejected-by-gateway"
        assert gone.response.reason is Reason.NOT_PERMITTED
        assert w.wan.gwa_profile() is not None


async def test_meter_profile_crud_changes_the_meters_the_han_side_shows(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        assert w.state.meter(M2) is None
        created = await w.run("meter_profile.create",
                              {"server_id": M2.text, "hdlc_address": 17,
                               "capture_list": ["1-0:1.8.0", "1-0:2.8.0"]})
        assert created.ok, created.error
        meter = w.state.meter(M2)
        assert meter is not None and meter.hdlc_address == 17 and not meter.paired

        read = await w.run("meter_profile.read", {"server_id": M2.text})
        profile = read.response.result
        assert isinstance(profile, MeterProfile) and profile.capture_list == (E180, E280)

        updated = await w.run("meter_profile.update",
                              {"server_id": M2.text, "changes": {"active": False,
                                                                  "sample_rate_seconds": 60}})
        assert updated.ok, updated.error
        stored = w.wan.book.meter_profile(M2)
        assert (stored.revision, stored.active, stored.sample_rate_seconds) == (2, False, 60)

        again = await w.run("meter_profile.create", {"server_id": M2.text})
        assert not again.ok and again.response.reason is Reason.ALREADY_EXISTS

        deleted = await w.run("meter_profile.delete", {"server_id": M2.text})
        assert deleted.ok
        assert w.state.meter(M2) is None and w.wan.book.meter_profile(M2) is None

        codes = w.codes(await w.events())
        assert codes[1:] == [4001, 3001, 4002, 4004, 4003]  # 3001 = Zählererkennung


async def test_billing_evaluation_profile_crud_with_first_readout(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        assert (await w.run("communication_profile.create",
                            {"profile": emt_profile(demo_pki)})).ok
        start = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
        created = await w.run("evaluation_profile.create", {
            "taf": 7, "metering_point_id": MPID, "receiving_emt": EMT_ID.text,
            "valid_from": start, "name": "Zählerstandsgang Haushalt",
            "meters": [{"server_id": M1.text, "channels": ["1-0:1.8.0", "1-0:2.8.0"]}]})
        assert created.ok, created.error
        readings = created.response.readings
        assert readings is not None and [(r.obis, r.value) for r in readings.readings] == [
            (E180, 48213570), (E280, 4821357)]
        pid = LogicalName.parse("01005e318027.taf7-1.sm")
        han = next(p for p in w.state.profiles if p.usage_point_id == pid.text)
        assert (han.taf_number, han.meters, han.channels, han.taf_state) == (
            7, [M1], [E180, E280], TafState.RUNNING)
        assert han.metering_point_id == MPID and han.name == "Zählerstandsgang Haushalt"

        read = await w.run("evaluation_profile.read", {"id": pid.text})
        assert isinstance(read.response.result, BillingEvaluationProfile)

        until = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        updated = await w.run("evaluation_profile.update", {"id": pid.text,
                                                            "changes": {"valid_until": until}})
        assert updated.ok, updated.error
        assert next(p for p in w.state.profiles if p.usage_point_id == pid.text).end == until

        # the meter and the EMT are in use now
        busy = await w.run("meter_profile.delete", {"server_id": M1.text})
        assert busy.response.reason is Reason.STILL_REFERENCED
        busy = await w.run("communication_profile.delete", {"id": EMT_ID.text})
        assert busy.response.reason is Reason.STILL_REFERENCED
        assert "receivingEmt" in busy.response.detail

        assert (await w.run("evaluation_profile.delete", {"id": pid.text})).ok
        assert all(p.usage_point_id != pid.text for p in w.state.profiles)
        assert (await w.run("communication_profile.delete", {"id": EMT_ID.text})).ok


async def test_first_readout_of_an_unreachable_meter_creates_nothing(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        assert (await w.run("communication_profile.create",
                            {"profile": emt_profile(demo_pki)})).ok
        w.state.meter(M1).present = False
        result = await w.run("evaluation_profile.create", {
            "taf": 1, "metering_point_id": MPID, "receiving_emt": EMT_ID.text,
            "meters": [{"server_id": M1.text, "channels": ["1-0:1.8.0"]}]})
        assert not result.ok and result.response.reason is Reason.METER_UNREACHABLE
        assert w.wan.book.evaluations() == []
        assert all(p.taf_number != 1 for p in w.state.profiles)


async def test_non_billing_evaluation_profile_crud(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        assert (await w.run("communication_profile.create",
                            {"profile": emt_profile(demo_pki)})).ok
        profile = NonBillingEvaluationProfile(
            LogicalName.parse("01005e31802a.taf10-1.sm"), 1, 10, EMT_ID, 60,
            dt.datetime(2025, 4, 1, tzinfo=dt.UTC), (EvaluatedMeter(M1, (P167,)),),
            name="Netzzustandsdaten VNB")
        created = await w.run("evaluation_profile.create", {"profile": profile})
        assert created.ok, created.error and created.response.readings is None
        assert any(p.usage_point_id == profile.id.text and p.taf_number == 10
                   for p in w.state.profiles)
        read = await w.run("evaluation_profile.read", {"id": profile.id.text})
        assert read.response.result == profile
        newer = dataclasses.replace(profile, revision=2, registration_period_seconds=300)
        assert (await w.run("evaluation_profile.update", {"profile": newer})).ok
        stale = dataclasses.replace(profile, revision=2)
        conflict = await w.run("evaluation_profile.update", {"profile": stale})
        assert conflict.response.reason is Reason.REVISION_CONFLICT
        assert w.wan.book.get(ProfileKind.NON_BILLING_EVALUATION, profile.id) == newer
        assert (await w.run("evaluation_profile.delete", {"id": profile.id.text})).ok


async def test_evaluation_profile_needs_its_references(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        missing_emt = await w.run("evaluation_profile.create", {
            "taf": 7, "metering_point_id": MPID, "receiving_emt": EMT_ID.text,
            "meters": [{"server_id": M1.text, "channels": ["1-0:1.8.0"]}]})
        assert missing_emt.response.reason is Reason.MISSING_REFERENCE
        assert (await w.run("communication_profile.create",
                            {"profile": emt_profile(demo_pki)})).ok
        no_meter = await w.run("evaluation_profile.create", {
            "taf": 7, "metering_point_id": MPID, "receiving_emt": EMT_ID.text,
            "meters": [{"server_id": M2.text, "channels": ["1-0:1.8.0"]}]})
        assert no_meter.response.reason is Reason.MISSING_REFERENCE
        not_captured = await w.run("evaluation_profile.create", {
            "taf": 7, "metering_point_id": MPID, "receiving_emt": EMT_ID.text,
            "meters": [{"server_id": M1.text, "channels": ["1-0:3.8.0"]}]})
        assert not_captured.response.reason is Reason.INVALID_VALUE
        assert w.wan.book.evaluations() == []


async def test_cls_proxy_profile_crud(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        proxy = ClsProxyProfile(LogicalName.parse("01005e318041.steuerbox-1.sm"), 1, CLS_ID,
                                EMT_ID, (HksScenario.HKS3, HksScenario.HKS4), True, 3600)
        refused = await w.run("cls_proxy_profile.create", {"profile": proxy})
        assert refused.response.reason is Reason.MISSING_REFERENCE
        for peer in (emt_profile(demo_pki), cls_profile(demo_pki)):
            assert (await w.run("communication_profile.create", {"profile": peer})).ok
        created = await w.run("cls_proxy_profile.create", {
            "id": proxy.id.text, "cls_peer": CLS_ID.text, "emt_peer": EMT_ID.text,
            "scenarios": ["HKS3", "HKS4"]})
        assert created.ok, created.error
        assert (await w.run("cls_proxy_profile.read", {"id": proxy.id.text})).response.result \
            == proxy
        updated = await w.run("cls_proxy_profile.update",
                              {"id": proxy.id.text, "changes": {"active": False}})
        assert updated.ok and w.wan.book.get(ProfileKind.CLS_PROXY, proxy.id).active is False
        busy = await w.run("communication_profile.delete", {"id": CLS_ID.text})
        assert busy.response.reason is Reason.STILL_REFERENCED
        assert (await w.run("cls_proxy_profile.delete", {"id": proxy.id.text})).ok
        assert (await w.run("communication_profile.delete", {"id": CLS_ID.text})).ok


@pytest.mark.parametrize("process", ["meter_profile.read", "meter_profile.delete"])
async def test_unknown_profile_is_answered_404(demo_pki, tmp_path, process):
    async with running_world(demo_pki, tmp_path) as w:
        result = await w.run(process, {"server_id": M2.text})
        assert not result.ok and result.error_code == "rejected-by-gateway"
        assert (result.response.status, result.response.reason) == (404, Reason.UNKNOWN_PROFILE)
        update = await w.run("meter_profile.update",
                             {"profile": MeterProfile(MeterProfile.id_for(M2), 2, M2,
                                                      *_meter_fields())})
        assert update.response.reason is Reason.UNKNOWN_PROFILE
        assert w.wan.book.meter_profile(M2) is None and w.state.meter(M2) is None


def _meter_fields():
    from app.protocols.admin import DeviceType, LmnComType, LmnInterface

    return (DeviceType.ELECTRICITY, True, 900, LmnInterface.WIRED, LmnComType.TLS, (E180,))


async def test_the_operation_the_tool_asked_for_is_sent_as_it_is(demo_pki, tmp_path):
    """The technician API passes the tool's exact operation (transports/gwa/processes.py)."""
    from app.transports.gwa.processes import build_operation, operation_params, process_name

    async with running_world(demo_pki, tmp_path) as w:
        op = build_operation("meter_profile.read", {"id": MeterProfile.id_for(M1).text})
        result = await w.gwa.run_process(SMGW, process_name(op), operation_params(op))
        assert result.ok and result.response.result.server_id == M1


async def test_an_invalid_profile_is_refused_before_anything_is_sent(demo_pki, tmp_path):
    async with running_world(demo_pki, tmp_path) as w:
        assert (await w.run("communication_profile.create",
                            {"profile": emt_profile(demo_pki)})).ok
        sent = w.gwa.wakeups_sent
        result = await w.run("evaluation_profile.create", {
            "taf": 7, "metering_point_id": "DE123", "receiving_emt": EMT_ID.text,
            "meters": [{"server_id": M1.text, "channels": ["1-0:1.8.0"]}]})
        assert not result.ok and result.error_code == "invalid-params"
        assert "meteringPointId" in result.error.en
        assert w.gwa.wakeups_sent == sent and result.responses == ()
        bad = await w.run("cls_proxy_profile.create", {"id": "01005e318041.x.sm",
                                                      "cls_peer": CLS_ID.text,
                                                      "emt_peer": EMT_ID.text,
                                                      "scenarios": ["HKS9"]})
        assert bad.error_code == "invalid-params" and "scenarios" in bad.error.en
