"""The reference GWA's process catalogue: parameters, the technician API's names and operations,
and update-by-changes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from typing import Any

import pytest

from app.domain import LogicalName, Obis, ServerId, SmgwId
from app.errors import InvalidValue, Text
from app.protocols.admin import (
    CallMethod,
    CreateProfile,
    DeleteProfile,
    MeterProfile,
    Operation,
    ReadProfile,
    Response,
    UpdateProfile,
    operation_info,
)
from app.sim.gwa.processes import (
    MICRO_PROCESSES,
    PROCESS_CATALOG,
    ProcessFailed,
    apply_changes,
)
from app.transports.gwa import processes as names

M1 = ServerId.parse("1EMH0012345678")
METER_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<meterProfile xmlns="urn:smgwct:admin:meter-profile:1"
    id="01005e318002.1emh0012345678.sm" revision="2">
  <serverId>{M1.hex}</serverId><deviceType>electricity</deviceType><active>true</active>
  <sampleRate>900</sampleRate><lmnInterface>wired</lmnInterface><lmnComType>tls</lmnComType>
  <captureList><obis>0100010800ff</obis></captureList>
</meterProfile>""".encode()

SAMPLE_PARAMS: dict[str, dict[str, Any]] = {
    "meter_profile.create": {"profile": METER_XML.replace(b'revision="2"', b'revision="1"')},
    "meter_profile.update": {"profile": METER_XML},
    "meter_profile.read": {"id": "01005e318002.1emh0012345678.sm"},
    "meter_profile.delete": {"id": "01005e318002.1emh0012345678.sm"},
    "evaluation_profile.read": {"id": "01005e318027.taf7-1.sm"},
    "evaluation_profile.delete": {"id": "01005e31802a.taf10-1.sm"},
    "communication_profile.read": {"id": "01005e318031.emt-1.sm"},
    "communication_profile.delete": {"id": "01005e318031.emt-1.sm"},
    "cls_proxy_profile.read": {"id": "01005e318041.box-1.sm"},
    "cls_proxy_profile.delete": {"id": "01005e318041.box-1.sm"},
    "pairing": {"server_id": M1.text, "initial_key": "00112233445566778899aabbccddeeff"},
    "crypto_reset": {"server_id": M1.text, "reason": "meter-change"},
    "time_sync": {},
    "self_test": {},
    "read_log": {"max_entries": 10},
    "device_info": {},
}


class RecordingContext:
    """A process context that answers every request with its success status."""

    smgw_id = SmgwId.parse("EDEM0100000001")

    def __init__(self) -> None:
        self.sent: list[Operation] = []
        self.steps: list[str] = []

    async def call(self, op: Operation, what: Text) -> Response:
        self.sent.append(op)
        info = operation_info(op)
        result = op.profile if isinstance(op, CreateProfile | UpdateProfile) else None
        return Response.of(uuid.uuid4(), info.success_reason, result=result)

    def step(self, name: str, message: Text, fraction: float) -> None:
        self.steps.append(name)

    def meter_key(self, server_id: ServerId) -> bytes | None:
        return None

    def known_profiles(self, kind: Any = None) -> list[Any]:
        return []

    def own_profile(self, revision: int) -> Any:
        raise AssertionError("not used")


def test_every_process_of_the_technician_api_is_in_the_catalogue():
    assert set(names.PROCESS_NAMES) <= set(PROCESS_CATALOG)
    for name in ("handover", "meter_change", "operation"):
        assert name in PROCESS_CATALOG


@pytest.mark.parametrize("process", sorted(SAMPLE_PARAMS))
async def test_the_operation_the_tool_built_is_sent_unchanged(process):
    op = names.build_operation(process, SAMPLE_PARAMS[process])
    assert names.process_name(op) == process
    spec = PROCESS_CATALOG[process]
    params = spec.validate(names.operation_params(op))
    ctx = RecordingContext()
    await spec.run(ctx, params)
    assert ctx.sent == [op]


def test_catalogue_entries_describe_themselves():
    for name, spec in PROCESS_CATALOG.items():
        assert spec.name == name
        assert spec.title.en and spec.title.de and spec.chapter
        assert set(spec.micro_processes) <= set(MICRO_PROCESSES)
        assert "wake-up" in spec.micro_processes
        json.dumps(spec.describe())  # JSON-friendly for the technician API and the CLI


def test_unknown_and_missing_parameters_are_named():
    with pytest.raises(InvalidValue) as err:
        PROCESS_CATALOG["pairing"].validate({"server_id": M1.text, "colour": "red"})
    assert err.value.field == "param colour" and "server_id" in err.value.message.en
    with pytest.raises(InvalidValue) as err:
        PROCESS_CATALOG["pairing"].validate({})
    assert err.value.field == "param server_id"
    with pytest.raises(InvalidValue) as err:
        PROCESS_CATALOG["pairing"].validate({"server_id": M1.text, "initial_key": "abcd"})
    assert "16 bytes" in err.value.message.en and "16 Bytes" in err.value.message.de


def test_text_parameters_become_typed_values():
    p = PROCESS_CATALOG["meter_profile.create"].validate(
        {"server_id": "1EMH0012345678", "capture_list": "1-0:1.8.0, 1-0:2.8.0",
         "active": "false", "hdlc_address": "17"})
    assert p["server_id"] == M1 and p["active"] is False and p["hdlc_address"] == 17
    assert p["capture_list"] == (Obis.parse("1-0:1.8.0"), Obis.parse("1-0:2.8.0"))
    assert p["sample_rate"] == 900  # default


async def test_simple_meter_parameters_build_the_profile():
    spec = PROCESS_CATALOG["meter_profile.create"]
    ctx = RecordingContext()
    data = await spec.run(ctx, spec.validate({"server_id": M1.text, "hdlc_address": 16}))
    (op,) = ctx.sent
    assert isinstance(op, CreateProfile) and op.profile.id == MeterProfile.id_for(M1)
    assert op.profile.hdlc_address == 16 and data["revision"] == 1


async def test_a_billing_profile_from_simple_parameters():
    spec = PROCESS_CATALOG["evaluation_profile.create"]
    ctx = RecordingContext()
    await spec.run(ctx, spec.validate({
        "taf": 7, "metering_point_id": "DE0001234567800000000000000123456",
        "receiving_emt": "01005e318031.emt-1.sm",
        "valid_from": "2025-04-01T00:00:00Z",
        "meters": [{"server_id": M1.text, "channels": ["1-0:1.8.0"]}]}))
    profile = ctx.sent[0].profile
    assert profile.id.text == "01005e318027.taf7-1.sm" and profile.first_readout is True
    assert profile.valid_from == dt.datetime(2025, 4, 1, tzinfo=dt.UTC)


async def test_an_operation_of_the_wrong_kind_is_refused():
    op = names.build_operation("meter_profile.read", SAMPLE_PARAMS["meter_profile.read"])
    spec = PROCESS_CATALOG["communication_profile.read"]
    with pytest.raises(InvalidValue):
        await spec.run(RecordingContext(), spec.validate({"operation": op}))


async def test_pairing_without_key_material_fails_before_anything_is_sent():
    spec = PROCESS_CATALOG["pairing"]
    ctx = RecordingContext()
    with pytest.raises(ProcessFailed) as err:
        await spec.run(ctx, spec.validate({"server_id": M1.text}))
    assert err.value.code == "no-key-material" and ctx.sent == []


def test_apply_changes_converts_text_and_raises_the_revision():
    op = names.build_operation("meter_profile.update", SAMPLE_PARAMS["meter_profile.update"])
    assert isinstance(op, UpdateProfile)
    profile = op.profile
    changed = apply_changes(profile, {"active": "false", "capture_list": ["1-0:2.8.0"],
                                      "device_type": "gas"})
    assert changed.revision == profile.revision + 1
    assert (changed.active, changed.capture_list, changed.device_type.value) == (
        False, (Obis.parse("1-0:2.8.0"),), "gas")
    with pytest.raises(InvalidValue):
        apply_changes(profile, {"server_id": "1DZG0042123440"})
    with pytest.raises(InvalidValue):
        apply_changes(profile, {"colour": "red"})
    assert dataclasses.replace(changed, revision=profile.revision, active=True,
                               capture_list=profile.capture_list,
                               device_type=profile.device_type) == profile


def test_operations_of_every_kind_are_accepted_by_the_generic_process():
    ref = names.build_operation("meter_profile.delete", SAMPLE_PARAMS["meter_profile.delete"])
    assert isinstance(ref, DeleteProfile)
    read = ReadProfile(ref.ref)
    call = names.build_operation("self_test")
    assert isinstance(call, CallMethod)
    for op in (ref, read, call):
        assert PROCESS_CATALOG["operation"].validate({"operation": op})["operation"] is op
    assert LogicalName.parse("01005e318002.1emh0012345678.sm") == ref.ref.id
