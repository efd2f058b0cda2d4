"""Composite processes of the reference GWA: transfer into normal operation (6.2) and meter
change (6.3), each a chain of administration requests in one MANAGEMENT session."""

from __future__ import annotations

import dataclasses
from typing import Any

from app.domain import LogicalName, Obis, ServerId
from app.errors import Text
from app.protocols.admin import (
    BillingEvaluationProfile,
    CallMethod,
    CreateProfile,
    CryptoReset,
    CryptoResetReason,
    DeleteProfile,
    DeviceInfo,
    DeviceType,
    LmnComType,
    LmnInterface,
    MeterProfile,
    NonBillingEvaluationProfile,
    Pairing,
    ProfileKind,
    ProfileRef,
    ReadDeviceInfo,
    ReadProfile,
    Reason,
    SelfTest,
    TimeSync,
    TimeSyncResult,
    UpdateProfile,
)
from app.sim.gwa.process_base import ProcessContext, ProcessFailed
from app.sim.gwa.process_base import device_data as _device_data
from app.sim.gwa.process_base import expect_ok as _expect
from app.sim.gwa.process_base import kind_of as _kind_of
from app.sim.gwa.process_base import self_test_data as _self_test_data


async def handover(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
    """Überführung in den Normalbetrieb (6.2): final GWA profile (Gütesiegel -> Wirkzertifikat),
    further communication profiles, time synchronisation, self-test, check."""
    what = Text("Transfer into normal operation", "Überführung in den Normalbetrieb")
    ctx.step("device-info", Text("Reading the gateway's state",
                                 "Lese den Zustand des Gateways"), 0.05)
    before = await _expect(ctx, CallMethod(ReadDeviceInfo()), what)
    before_state = before.result.operating_state.value if isinstance(before.result,
                                                                      DeviceInfo) else None
    own = ctx.own_profile(1)
    ctx.step("gwa-profile", Text("Installing the GWA's final communication profile",
                                 "Installiere das endgültige Kommunikationsprofil des GWA"), 0.2)
    current = await ctx.call(ReadProfile(ProfileRef(ProfileKind.COMMUNICATION, own.id)), what)
    final = p["gwa_profile"] if p["gwa_profile"] is not None else own
    if current.ok and current.result is not None:
        revision = current.result.revision + 1  # type: ignore[union-attr]
        await _expect(ctx, UpdateProfile(dataclasses.replace(final, revision=revision)), what)
    else:
        await _expect(ctx, CreateProfile(dataclasses.replace(final, revision=1)), what)
    extra = p["communication_profiles"] or ()
    for i, profile in enumerate(extra):
        ctx.step("communication-profile",
                 Text(f"Installing communication profile {profile.id.text}",
                      f"Installiere Kommunikationsprofil {profile.id.text}"),
                 0.3 + 0.2 * i / max(1, len(extra)))
        found = await ctx.call(ReadProfile(profile.ref), what)
        if found.ok and found.result is not None:
            new = dataclasses.replace(profile, revision=found.result.revision + 1)  # type: ignore[union-attr]
            await _expect(ctx, UpdateProfile(new), what)
        else:
            await _expect(ctx, CreateProfile(dataclasses.replace(profile, revision=1)), what)
    ctx.step("time-sync", Text("Synchronising the clock", "Synchronisiere die Uhr"), 0.55)
    synced = await _expect(ctx, CallMethod(TimeSync()), what)
    data: dict[str, Any] = {"operating_state_before": before_state}
    if isinstance(synced.result, TimeSyncResult):
        data["offset_ms"] = synced.result.offset_ms
    if p["self_test"]:
        ctx.step("self-test", Text("Running the self-test", "Führe den Selbsttest aus"), 0.7)
        tested = await ctx.call(CallMethod(SelfTest()), what)
        if tested.ok:
            data["self_test"] = "passed" if _self_test_data(tested).get("passed") else "failed"
        elif tested.reason is Reason.RATE_LIMITED:
            data["self_test"] = "skipped"
        else:
            raise ProcessFailed.rejected(tested, what)
    ctx.step("check", Text("Checking the operating state", "Prüfe den Betriebszustand"), 0.9)
    after = await _expect(ctx, CallMethod(ReadDeviceInfo()), what)
    data.update(_device_data(after))
    if data.get("operating_state") != "normal" or data.get("self_test") == "failed":
        raise ProcessFailed(
            "handover-incomplete",
            Text(f"The gateway is not in normal operation after the handover (state "
                 f"{data.get('operating_state')}, self-test {data.get('self_test', '-')}).",
                 f"Das Gateway ist nach der Überführung nicht im Normalbetrieb (Zustand "
                 f"{data.get('operating_state')}, Selbsttest {data.get('self_test', '-')})."),
            response=after, data=data,
            hint=Text("Read the gateway's log (read_log) and repeat the handover.",
                      "Log des Gateways lesen (read_log) und die Überführung wiederholen."))
    return data


async def meter_change(ctx: ProcessContext, p: dict[str, Any]) -> dict[str, Any]:
    """Zähler wechseln (6.3): new meter profile, pairing, evaluation profiles to the new meter,
    Crypto-Reset of the old meter, old meter profile deleted."""
    what = Text("Meter change", "Zählerwechsel")
    old_sid: ServerId = p["old_server_id"]
    new_sid: ServerId = p["new_server_id"]
    ctx.step("read-old", Text(f"Reading the profile of the old meter {old_sid.display}",
                              f"Lese das Profil des alten Zählers {old_sid.display}"), 0.05)
    old = await ctx.call(ReadProfile(ProfileRef(ProfileKind.METER,
                                                MeterProfile.id_for(old_sid))), what)
    old_profile = old.result if old.ok and isinstance(old.result, MeterProfile) else None
    capture = p["capture_list"] or (old_profile.capture_list if old_profile else
                                    (Obis.parse("1-0:1.8.0"),))
    new_profile = MeterProfile(
        MeterProfile.id_for(new_sid), 1, new_sid,
        old_profile.device_type if old_profile else DeviceType.ELECTRICITY, True,
        old_profile.sample_rate_seconds if old_profile else 900,
        old_profile.lmn_interface if old_profile else LmnInterface.WIRED,
        old_profile.lmn_com_type if old_profile else LmnComType.TLS, tuple(capture),
        hdlc_address=p["hdlc_address"] if p["hdlc_address"] is not None
        else (old_profile.hdlc_address if old_profile else None),
        key_material_ref=p["key_material_ref"])
    ctx.step("create-new", Text(f"Creating the profile of the new meter {new_sid.display}",
                                f"Lege das Profil des neuen Zählers {new_sid.display} an"), 0.15)
    await _expect(ctx, CreateProfile(new_profile), what)
    key = p["initial_key"] if p["initial_key"] is not None else ctx.meter_key(new_sid)
    if key is None:
        raise ProcessFailed("no-key-material",
                            Text(f"The GWA has no initial key M for meter {new_sid.display}.",
                                 f"Der GWA hat keinen Initialschlüssel M für Zähler "
                                 f"{new_sid.display}."))
    ctx.step("pairing", Text(f"Pairing the new meter {new_sid.display}",
                             f"Pairing des neuen Zählers {new_sid.display}"), 0.3)
    await _expect(ctx, CallMethod(Pairing(new_sid, key, 120)), what)
    moved: list[str] = []
    wanted = set(p["evaluation_profiles"] or ())
    candidates = [e for e in ctx.known_profiles()
                  if isinstance(e, BillingEvaluationProfile | NonBillingEvaluationProfile)
                  and any(m.server_id == old_sid for m in e.meters)]
    ids = {c.id.text for c in candidates} | {w.text if isinstance(w, LogicalName) else str(w)
                                              for w in wanted}
    for i, pid in enumerate(sorted(ids)):
        ln = LogicalName.parse(pid)
        ctx.step("evaluation-profile", Text(f"Moving {pid} to the new meter",
                                            f"Stelle {pid} auf den neuen Zähler um"),
                 0.45 + 0.25 * i / max(1, len(ids)))
        current = (await _expect(ctx, ReadProfile(ProfileRef(_kind_of(ln, "evaluation_profile",
                                                                      None), ln)), what)).result
        assert isinstance(current, BillingEvaluationProfile | NonBillingEvaluationProfile)
        meters = tuple(dataclasses.replace(m, server_id=new_sid) if m.server_id == old_sid else m
                       for m in current.meters)
        changed = dataclasses.replace(current, revision=current.revision + 1, meters=meters)
        if isinstance(changed, BillingEvaluationProfile):
            changed = dataclasses.replace(changed, first_readout=False)
        await _expect(ctx, UpdateProfile(changed), what)
        moved.append(pid)
    data: dict[str, Any] = {"new_meter": new_sid.display, "old_meter": old_sid.display,
                            "moved_profiles": moved}
    if old_profile is not None:
        if p["crypto_reset_old"]:
            ctx.step("crypto-reset", Text(f"Crypto-Reset of the old meter {old_sid.display}",
                                          f"Crypto-Reset des alten Zählers {old_sid.display}"),
                     0.8)
            reset = await ctx.call(CallMethod(CryptoReset(old_sid, CryptoResetReason.METER_CHANGE,
                                                          120)), what)
            data["crypto_reset_old"] = "done" if reset.ok else reset.reason.value
        ctx.step("delete-old", Text(f"Deleting the profile of the old meter {old_sid.display}",
                                    f"Lösche das Profil des alten Zählers {old_sid.display}"),
                 0.9)
        await _expect(ctx, DeleteProfile(old_profile.ref), what)
    return data
