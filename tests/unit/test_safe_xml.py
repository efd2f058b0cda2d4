"""The one XML parser refuses entities, DTDs, oversized input and invalid documents."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import InvalidValue
from app.security.xml import load_schema, parse_xml, to_bytes

GOOD = b'<check xmlns="urn:smgwct:selftest:1" version="1"><item>a</item></check>'


def test_valid_document_parses_and_validates():
    root = parse_xml(GOOD, schema="selftest.xsd")
    assert root.get("version") == "1"
    assert parse_xml(to_bytes(root)).tag == root.tag


def test_external_entity_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<r>&x;</r>"
    ).encode()
    with pytest.raises(InvalidValue) as info:
        parse_xml(doc)
    assert "DOCTYPE" in str(info.value)
    assert "TOP-SECRET" not in str(info.value)


def test_entity_expansion_bomb_is_refused():
    entities = "".join(
        f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 10)
    )
    doc = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e0 "lol">{entities}]><r>&e9;</r>'.encode()
    with pytest.raises(InvalidValue):
        parse_xml(doc)


def test_external_dtd_is_not_fetched():
    doc = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>'
    with pytest.raises(InvalidValue):
        parse_xml(doc)


def test_size_cap():
    with pytest.raises(InvalidValue) as info:
        parse_xml(b"<r>" + b"a" * 2000 + b"</r>", max_bytes=1000)
    assert "1000" in info.value.describe("de")


def test_schema_invalid_document_names_the_line():
    bad = b'<check xmlns="urn:smgwct:selftest:1"\n version="0"><item>a</item></check>'
    with pytest.raises(InvalidValue) as info:
        parse_xml(bad, schema="selftest.xsd", field="job")
    assert info.value.field == "job"
    assert "line 1" in str(info.value) or "line 2" in str(info.value)


def test_only_bundled_schemas_load():
    with pytest.raises(FileNotFoundError):
        load_schema("../../pyproject.toml")


def test_malformed_document_gives_line():
    with pytest.raises(InvalidValue) as info:
        parse_xml(b"<a>\n<b></a>")
    assert "line" in str(info.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_escape_as_other_errors(data):
    with contextlib.suppress(InvalidValue):
        parse_xml(data)
