"""docs/protocol and the schemas cannot drift: every ```xml example is validated and decoded,
every document kind has an example, and the tables on the pages match the code's tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from app.protocols import admin as a
from app.protocols.admin import catalog
from app.security.xml import parse_xml, validate

DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol"
OTHER_AUTHORS = {"05-01-wake-up-packet.md", "05-10-content-encryption.md"}
_BLOCK = re.compile(r"^```xml[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def _pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def _examples() -> list[tuple[str, int, bytes]]:
    found = []
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found.append((page.name, line, match.group(1).encode("utf-8")))
    return found


EXAMPLES = _examples()


def test_docs_directory_has_examples() -> None:
    assert len(EXAMPLES) >= 30


@pytest.mark.parametrize(
    ("page", "line", "data"), EXAMPLES, ids=[f"{p}:{n}" for p, n, _ in EXAMPLES]
)
def test_example_is_valid_against_the_schema_of_its_root(page: str, line: int,
                                                         data: bytes) -> None:
    root = parse_xml(data, field=f"{page}:{line}")
    schema = a.schema_for_root(root.tag)
    validate(root, schema, field=f"{page}:{line}")
    # the codecs accept it too, and write it back to an equal object
    obj = a.from_xml(data)
    assert a.from_xml(a.to_xml(obj)) == obj


def test_every_document_kind_has_an_example() -> None:
    seen: set[str] = set()
    for _page, _line, data in EXAMPLES:
        seen.update(el.tag for el in etree.fromstring(data).iter() if isinstance(el.tag, str))
    missing = sorted(c.element for c in a.CODECS if c.qname not in seen)
    assert missing == [], f"no docs example contains {missing}"


def test_every_own_page_has_an_example_and_is_in_the_index() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for page in _pages():
        if page.name == "README.md":
            continue
        assert f"]({page.name}" in index, f"README.md does not link {page.name}"
        if page.name not in OTHER_AUTHORS:
            assert any(p == page.name for p, _, _ in EXAMPLES), f"{page.name} has no example"


def test_index_links_resolve() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+\.md)", index):
        assert (DOCS / target).is_file(), target


def _table_rows(page: str, first_cell: str) -> list[list[str]]:
    rows = []
    for line in (DOCS / page).read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(first_cell, cells[0]):
            rows.append(cells)
    return rows


def test_event_code_table_matches_the_catalog() -> None:
    rows = _table_rows("04-02-06-events.md", r"\d{4}")
    documented = {(int(r[0]), r[1].strip("`"), r[2], r[3], r[4]) for r in rows}
    expected = {
        (e.code, e.name, e.severity.value, e.component, e.subject.value)
        for e in catalog.EVENT_TYPES.values()
    }
    assert documented == expected
    names = {r[5] for r in rows}
    for required in ("SMGw gestartet", "Wechsel IP-Adresse", "Zählererkennung"):
        assert required in names


def test_reason_table_matches_the_catalog() -> None:
    rows = _table_rows("04-02-04-http-responses.md", r"`[a-z\-]+`")
    documented = {(r[0].strip("`"), int(r[1])) for r in rows if re.fullmatch(r"\d{3}", r[1])}
    assert documented == {(r.reason.value, r.status) for r in catalog.REASONS.values()}


def test_namespace_table_matches_the_catalog() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for ns in catalog.NAMESPACES.values():
        assert f"`{ns.uri}` | `{ns.schema}`" in index, ns
