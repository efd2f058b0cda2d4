"""Work order import: good XML/JSON files, and bad files named by line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import ServerId, SmgwId
from app.errors import InvalidValue
from app.security.xml import load_schema, parse_xml
from app.store.jobs import (
    JobFileError,
    MeterRole,
    PlannedFlow,
    WorkOrder,
    parse_work_order,
    parse_work_order_json,
    parse_work_order_xml,
    read_work_order,
)

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "jobs"


def lines_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle`` (independent of the parser)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


# --- good files ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["handover", "meter-change"])
def test_demo_work_orders_read_the_same_from_xml_and_json(name):
    from_xml = read_work_order(DEMO / f"{name}.xml")
    from_json = read_work_order(DEMO / f"{name}.json")
    assert from_xml == from_json
    assert from_xml.smgw_id == SmgwId("ETHE0390000001")
    assert {m.server_id for m in from_xml.meters} == {
        ServerId.parse("1EMH0012345678"), ServerId.parse("1DZG0042123440")}


def test_meter_change_demo_has_old_and_new_meter():
    order = read_work_order(DEMO / "meter-change.json")
    assert order.flows == (PlannedFlow.METER_CHANGE,)
    assert [m.server_id_text for m in order.meters_with(MeterRole.OLD)] == ["1EMH0012345678"]
    assert [m.key_ref for m in order.meters_with(MeterRole.NEW)] == ["demo:M-1DZG0042123440"]
    assert order.metering_point_id == "DE0001234512345000000000000000001"
    assert order.site.postal_code == "12345"


def test_label_forms_are_normalised():
    text = (DEMO / "handover.json").read_text("utf-8")
    text = text.replace('"ETHE0390000001"', '"e THE03 90000001"')
    text = text.replace('"1EMH0012345678"', '"1 EMH00 12345678"')
    order = parse_work_order_json(text.encode())
    assert order.smgw_id.text == "ETHE0390000001"
    assert order.meters[0].server_id_text == "1EMH0012345678"


def test_export_is_valid_and_reads_back_equal():
    order = read_work_order(DEMO / "handover.xml")
    xml = order.to_xml()
    load_schema("work-order.xsd").assertValid(parse_xml(xml))
    assert parse_work_order_xml(xml) == order
    assert parse_work_order_json(order.to_json()) == order
    assert parse_work_order(order.to_json()) == order


def test_create_on_site_from_typed_fields():
    order = WorkOrder.create(
        job_id="VOR-ORT-1", street="Hauptstraße 5", postal_code="54321", city="Köln",
        metering_point_id="de 00012 34512 34500 00000 00000 000001", smgw_id="ETHE0390000001",
        gwa_tenant="demo-gwa", meters=[("1EMH0012345678", "existing")], flows=["logs"])
    assert order.metering_point_id == "DE0001234512345000000000000000001"
    assert order.meters[0].role is MeterRole.EXISTING


def test_create_on_site_names_the_typed_field():
    with pytest.raises(InvalidValue) as err:
        WorkOrder.create(job_id="X", street="A 1", postal_code="1234", city="B",
                         metering_point_id="DE0001234512345000000000000000001",
                         smgw_id="ETHE0390000001", gwa_tenant="t", flows=["logs"])
    assert err.value.field == "site.postal_code"
    assert "5" in err.value.describe("en")


# --- bad JSON ---------------------------------------------------------------------------------

JSON_TEXT = (DEMO / "handover.json").read_text("utf-8")

# (mistake, old text, new text, expected field, text on the faulty line, word in the message)
JSON_MISTAKES = [
    ("bad SMGW ID", '"smgw_id": "ETHE0390000001"', '"smgw_id": "ETHE039000001"',
     "smgw_id", '"smgw_id"', "9 digits"),
    ("server ID with 7 digits", '"server_id": "1DZG0042123440"', '"server_id": "1DZG004212344"',
     "meters[1].server_id", "1DZG004212344", "7 serial digits"),
    ("unknown flow", '"technical_data", "logs"]', '"technical_data", "log"]',
     "flows[2]", '"flows"', "Did you mean 'logs'"),
    ("missing field", '  "gwa_tenant": "demo-gwa",\n', "", "gwa_tenant", "{", "missing"),
    ("wrong type", '"version": 1', '"version": "1"', "version", '"version"', "whole number"),
    ("list given as text", '"flows": ["handover", "technical_data", "logs"]',
     '"flows": "handover"', "flows", '"flows"', "list"),
    ("unknown field", '"customer_name"', '"customer"', "customer", '"customer"',
     "Did you mean 'customer_name'"),
    ("key material instead of a reference", "demo:M-1EMH0012345678",
     "00112233445566778899aabbccddeeff", "meters[0].key_ref", "00112233", "key material"),
    ("gateway ID as meter", '"server_id": "1EMH0012345678"', '"server_id": "EEMH0012345678"',
     "meters[0].server_id", "EEMH0012345678", "SMGW ID"),
    ("duplicate key", '"city": "Musterstadt",', '"city": "Musterstadt", "city": "X",',
     "site.city", '"city": "Musterstadt"', "twice"),
    ("syntax error", '"postal_code": "12345",', '"postal_code": "12345"', "(document)",
     '"city"', "not valid JSON"),
    ("bad metering point", "DE0001234512345000000000000000001",
     "DE000123451234500000000000000001", "metering_point_id", "DE000123", "32 characters"),
]


@pytest.mark.parametrize(("old", "new", "field", "marker", "word"),
                         [m[1:] for m in JSON_MISTAKES], ids=[m[0] for m in JSON_MISTAKES])
def test_bad_json_names_line_and_field(old, new, field, marker, word):
    assert old in JSON_TEXT
    text = JSON_TEXT.replace(old, new, 1)
    with pytest.raises(JobFileError) as err:
        parse_work_order_json(text.encode(), "job.json")
    assert err.value.field == field
    assert err.value.line == lines_of(text, marker)
    message = err.value.describe("en")
    assert word in message
    assert message.startswith(f"job.json, line {err.value.line}, {field}: ")
    assert err.value.describe("de").startswith(f"job.json, Zeile {err.value.line}, {field}: ")


def test_json_meter_change_without_old_meter_is_refused():
    text = (DEMO / "meter-change.json").read_text("utf-8").replace('"role": "old"',
                                                                   '"role": "new"')
    with pytest.raises(JobFileError) as err:
        parse_work_order_json(text.encode())
    assert err.value.field == "flows[0]"
    assert "exactly one meter with role 'old'" in err.value.describe("en")


def test_all_problems_of_a_file_are_listed():
    text = JSON_TEXT.replace("ETHE0390000001", "ETHE03").replace('"12345"', '"1234"')
    with pytest.raises(JobFileError) as err:
        parse_work_order_json(text.encode())
    assert {p.field for p in err.value.problems} == {"smgw_id", "site.postal_code"}
    assert "1 more problem" in err.value.describe("en")


# --- bad XML ----------------------------------------------------------------------------------

XML_TEXT = (DEMO / "handover.xml").read_text("utf-8")

XML_MISTAKES = [
    ("bad SMGW ID", "<smgwId>ETHE0390000001</smgwId>", "<smgwId>ETHE039000001</smgwId>",
     "smgwId", "<smgwId>", "9 digits"),
    ("server ID with 7 digits", "<serverId>1DZG0042123440</serverId>",
     "<serverId>1DZG004212344</serverId>", "meters/meter[2]/serverId", "1DZG004212344",
     "7 serial digits"),
    ("unknown flow", "<flow>logs</flow>", "<flow>log</flow>", "flows/flow[3]", "<flow>log<",
     "Did you mean 'logs'"),
    ("missing field", "  <gwaTenant>demo-gwa</gwaTenant>\n", "", "gwaTenant", "<workOrder ",
     "missing"),
    ("wrong type", "<plannedDate>2025-03-03</plannedDate>", "<plannedDate>3.3.2025</plannedDate>",
     "plannedDate", "<plannedDate>", "YYYY-MM-DD"),
    ("unknown element", "<notes>", "<note>x</note><notes>", "note", "<note>", "not expected"),
    ("flow twice", "<flow>logs</flow>", "<flow>handover</flow>", "flows/flow[3]",
     "<flow>handover</flow>\n    <flow>technical_data", "twice"),
    ("not well-formed", "</city>", "</cty>", "workOrder", "</cty>", "not well-formed"),
]


@pytest.mark.parametrize(("old", "new", "field", "marker", "word"),
                         [m[1:] for m in XML_MISTAKES], ids=[m[0] for m in XML_MISTAKES])
def test_bad_xml_names_line_and_field(old, new, field, marker, word):
    assert old in XML_TEXT
    text = XML_TEXT.replace(old, new, 1)
    with pytest.raises(JobFileError) as err:
        parse_work_order_xml(text.encode(), "job.xml")
    assert err.value.field == field
    if marker == "<flow>handover</flow>\n    <flow>technical_data":
        expected_line = lines_of(text, "<flow>handover</flow>") + 2
    else:
        expected_line = lines_of(text, marker)
    assert err.value.line == expected_line
    assert word in err.value.describe("en")


def test_xml_with_doctype_is_refused_with_a_line():
    data = b'<?xml version="1.0"?>\n<!DOCTYPE w [<!ENTITY a "b">]>\n<workOrder/>'
    with pytest.raises(JobFileError) as err:
        parse_work_order(data, "evil.xml")
    assert "DOCTYPE" in err.value.describe("en")


def test_wrong_root_element_is_explained():
    with pytest.raises(JobFileError) as err:
        parse_work_order_xml(b'<?xml version="1.0"?>\n<order xmlns="urn:x"/>')
    assert "not a work order" in err.value.describe("en")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_garbage_only_ever_raises_job_file_error(data):
    try:
        parse_work_order(data)
    except JobFileError as err:
        assert err.problems and err.describe("de")


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(JSON_TEXT) - 1), st.integers(1, 4), st.text(max_size=4))
def test_mutated_json_is_accepted_or_refused_with_a_line(pos, cut, insert):
    text = JSON_TEXT[:pos] + insert + JSON_TEXT[pos + cut:]
    try:
        parse_work_order_json(text.encode("utf-8", "surrogatepass"))
    except JobFileError as err:
        assert err.line is None or 1 <= err.line <= text.count("\n") + 1
    except UnicodeEncodeError:
        pass
