"""Pairing with the key M the GWA holds: a process request without ``initialKey`` through the
technician API of the real reference GWA, over real TLS, to the virtual SMGW (6.4.2.6,
docs/protocol/gwa-link.md "Pairing with the GWA's key")."""

from __future__ import annotations

import pytest

from app.domain import ServerId
from app.protocols.admin import (
    CallMethod,
    DeviceType,
    JobState,
    LmnComType,
    LmnInterface,
    MeterProfile,
    Pairing,
    PairingOutcome,
    PairingResult,
)
from app.protocols.admin import to_xml as admin_xml
from app.sim.gwa.technician_api import TechnicianJobs, create_app, start_gwa_server
from app.transports.gwa import GwaLink, GwaLinkError
from tests.integration.test_gwa_link_support import target_for
from tests.integration.test_wan_support import E180, M2, SMGW, running_world

pytestmark = pytest.mark.timeout(90)

STRANGER = ServerId.parse("1ABC0012345678")


def _keyless(meter: ServerId) -> bytes:
    """A pairing method call without initialKey, as the technician sends it."""
    return admin_xml(CallMethod(Pairing(meter, None, 60)).call)


async def test_pairing_without_key_uses_the_gwas_key_or_is_refused_naming_the_meter(
        demo_pki, tmp_path):
    jobs_path = tmp_path / "technician-jobs.sqlite"
    async with running_world(demo_pki, tmp_path) as world:
        handle = await start_gwa_server(demo_pki, app=create_app(world.gwa, jobs_path=jobs_path))
        try:
            async with GwaLink(target_for(demo_pki, handle.url),
                               queue_path=tmp_path / "queue.sqlite") as link:
                profile = MeterProfile(
                    MeterProfile.id_for(M2), 1, M2, DeviceType.ELECTRICITY, True, 900,
                    LmnInterface.WIRED, LmnComType.TLS, (E180,), hdlc_address=17)
                created = await link.run("meter_profile.create", SMGW, {"profile": profile})
                assert created.ok, created.summary
                paired = await link.run("pairing", SMGW, {"document": _keyless(M2)})
                assert paired.ok, paired.summary
                result = paired.status.response.result
                assert isinstance(result, PairingResult)
                assert result.outcome is PairingOutcome.PAIRED
                # the virtual SMGW checked key M: the GWA sent the one it holds
                assert world.state.meter(M2).paired

                world.gwa.demo_meter_keys = False  # a GWA without a key sheet for the meter
                with pytest.raises(GwaLinkError) as refused:
                    await link.run("pairing", SMGW, {"document": _keyless(STRANGER)})
        finally:
            await handle.close()
    error = refused.value
    assert error.status == 422 and error.code == "no-key-material"
    assert error.problem is not None and error.problem.field == "initialKey"
    assert STRANGER.display in error.problem.message.en
    assert STRANGER.display in error.problem.message.de
    assert error.problem.hint is not None and "initialKey" in error.problem.hint.en
    store = TechnicianJobs(jobs_path)
    try:
        jobs = store.jobs_in(*JobState)
    finally:
        store.close()
    # the refused request became no job, and the GWA did not store a key with the pairing
    assert [j.process for j in jobs] == ["meter_profile.create", "pairing"]
    assert b"initialKey" not in jobs[1].request
