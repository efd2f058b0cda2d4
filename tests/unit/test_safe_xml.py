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


def test_schemas_build_and_validate_from_many_threads_at_once(monkeypatch):
    """Flows validate in worker threads: concurrent first loads of schemas that import others,
    and concurrent validations of one schema, give the right answers (a concurrent build once
    failed with "not valid XML Schema")."""
    import concurrent.futures

    from app.security import xml as safe_xml

    monkeypatch.setattr(safe_xml, "_SCHEMAS", {})  # every thread races for the first build
    names = sorted(p.name for p in safe_xml.schema_dir().glob("*.xsd"))
    good = parse_xml(b'<x:a xmlns:x="urn:t"/>')

    def work(i: int) -> tuple[str, bool]:
        name = names[i % len(names)]
        xsd = safe_xml.load_schema(name)
        return name, bool(safe_xml.schema_errors(good, name)) and xsd is safe_xml.load_schema(name)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(len(names) * 4)))
    # a foreign element is refused by every schema, and each is built once
    assert all(refused for _name, refused in results)
    assert set(safe_xml._SCHEMAS) == set(names)


def test_a_compile_failure_without_a_reason_is_tried_once_more(monkeypatch, caplog):
    from lxml import etree

    from app.security import xml as safe_xml

    monkeypatch.setattr(safe_xml, "_SCHEMAS", {})
    real = etree.XMLSchema
    calls: list[int] = []

    def flaky(doc):
        calls.append(1)
        if len(calls) == 1:
            raise etree.XMLSchemaParseError("Document is not valid XML Schema")
        return real(doc)

    monkeypatch.setattr(safe_xml.etree, "XMLSchema", flaky)
    assert safe_xml.load_schema("work-order.xsd") is not None and len(calls) == 2
    assert "trying again" in caplog.text

    def broken(doc):
        raise etree.XMLSchemaParseError("Document is not valid XML Schema")

    monkeypatch.setattr(safe_xml, "_SCHEMAS", {})
    monkeypatch.setattr(safe_xml.etree, "XMLSchema", broken)
    with pytest.raises(etree.XMLSchemaParseError):  # twice: the error is raised
        safe_xml.load_schema("work-order.xsd")
