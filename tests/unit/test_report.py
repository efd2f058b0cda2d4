"""Commissioning report: XML valid, PDF readable in de/en, signature verified and tamper-evident."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.errors import Text
from app.report import CheckResult, Verdict, build_report, verify_report
from app.report.signing import sign_report_xml
from app.report.xml import SCHEMA, content_digest
from app.security.pki import create_demo_pki
from app.security.xml import parse_xml
from app.store.audit import AuditLog
from app.store.db import JobStore, RunState, StepState
from app.store.jobs import (
    CertificateRecord,
    DeviceRecord,
    Job,
    Reading,
    Seal,
    WorkOrderStore,
)

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo" / "jobs"
NS = "{urn:smgwct:commissioning-report:1}"


class Site:
    """Stores of one technician laptop, filled with a finished meter change."""

    def __init__(self, base: Path, pki) -> None:
        self.base = base
        self.audit = AuditLog(base / "audit.sqlite3")
        self.runs = JobStore(base / "jobs.sqlite3")
        self.store = WorkOrderStore(base / "work_orders.sqlite3", base / "jobs", self.audit)
        job = self.store.import_file(DEMO / "meter-change.xml")
        self.job_id = job.job_id
        self.runs.create_run("run-1", "meter_change", {"job_id": job.job_id})
        for name, en, de in (("final_reading", "Old meter read", "Alter Zähler abgelesen"),
                             ("pairing", "Meter paired", "Zähler gekoppelt")):
            seq = self.runs.start_step("run-1", name)
            self.runs.finish_step("run-1", seq, StepState.SUCCEEDED, data={},
                                  summary=Text(en, de))
        self.runs.set_run_state("run-1", RunState.SUCCEEDED)
        self.store.attach_run(job.job_id, "run-1", "meter_change")
        self.store.add_reading(job.job_id, Reading.create(
            "1EMH0012345678", "1-0:1.8.0", "4821357.0", "Wh", role="old"))
        self.store.add_reading(job.job_id, Reading.create(
            "1DZG0042123440", "1-0:1.8.0", "0.4", "Wh", role="new", source="han"))
        self.store.add_seal(job.job_id, Seal.create("DE-4711-0815", "removed",
                                                    location="Zählerklemmdeckel"))
        self.store.add_note(job.job_id, "Größe der Öffnung geprüft; Kunde anwesend.")
        photo = base / "foto.jpg"
        photo.write_bytes(b"\xff\xd8\xff\xe0" + b"demo photo" * 50)
        self.store.add_photo(job.job_id, photo, "Zählerschrank")
        self.store.record_device(job.job_id, DeviceRecord(
            "gateway", "ETHE0390000001", vendor="Demo", model="Virtual SMGW",
            firmware_version="1.2.3", firmware_hash="ab" * 32))
        self.store.record_device(job.job_id, DeviceRecord("meter", "1DZG0042123440",
                                                          role="new"))
        self.store.record_certificate(job.job_id, CertificateRecord.from_certificate(
            pki["han"].cert, "ETHE0390000001", "han"))

    def job(self) -> Job:
        return self.store.get(self.job_id)

    def close(self) -> None:
        self.store.close()
        self.runs.close()
        self.audit.close()


@pytest.fixture
def site(tmp_path: Path, demo_pki) -> Iterator[Site]:
    s = Site(tmp_path / "laptop", demo_pki)
    yield s
    s.close()


def build(site: Site, pki, out: Path, lang: str = "de", **kwargs):
    return build_report(site.job(), signer=pki["technician"], extra_certs=[pki["sub_ca"].cert],
                        out_dir=out, lang=lang, store=site.store, runs=site.runs,
                        audit=site.audit, **kwargs)


def test_report_xml_is_valid_and_holds_the_evidence(site, demo_pki, tmp_path):
    paths = build(site, demo_pki, tmp_path / "r")
    root = parse_xml(paths.xml.read_bytes(), schema=SCHEMA)
    assert root.find(f"{NS}expected/{NS}smgw").get("id") == "ETHE0390000001"
    readings = {r.get("serverId"): r.get("value") for r in root.iter(f"{NS}reading")}
    assert readings == {"1EMH0012345678": "4821357.0", "1DZG0042123440": "0.4"}
    assert [s.get("number") for s in root.iter(f"{NS}seal")] == ["DE-4711-0815"]
    steps = [(s.get("name"), s.get("state")) for s in root.iter(f"{NS}step")]
    assert steps == [("final_reading", "succeeded"), ("pairing", "succeeded")]
    assert root.find(f"{NS}audit").get("headHash") == site.audit.head_hash()
    assert root.find(f"{NS}audit").get("intact") == "true"
    assert root.find(f"{NS}signer").get("sha256") == demo_pki["technician"].sha256
    assert root.findtext(f"{NS}verdict") == "passed"
    assert paths.report.verdict is Verdict.PASSED
    # the content hash printed in the PDF is reproducible from the file
    assert content_digest(root) == paths.content_sha256


@pytest.mark.parametrize(("lang", "words"), [
    ("de", [b"Inbetriebnahmeprotokoll", b"Seite 1 von", b"Musterstra\\337e",
            b"Gr\\366\\337e der \\326ffnung", b"Neuen Z\\344hler pairen"]),
    ("en", [b"Commissioning report", b"Page 1 of", b"Signing certificate SHA-256",
            b"Pair the new meter"]),
])
def test_pdf_is_produced_in_both_languages(site, demo_pki, tmp_path, lang, words):
    paths = build(site, demo_pki, tmp_path / lang, lang=lang, compress_pdf=False)
    data = paths.pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 3000
    assert b"ETHE0390000001" in data
    assert paths.content_sha256.encode() in data  # footer and metadata
    for word in words:
        assert word in data, word


def test_compressed_pdf_is_smaller_and_still_a_pdf(site, demo_pki, tmp_path):
    plain = build(site, demo_pki, tmp_path / "a", compress_pdf=False).pdf.read_bytes()
    packed = build(site, demo_pki, tmp_path / "b").pdf.read_bytes()
    assert packed.startswith(b"%PDF-") and len(packed) < len(plain)


def test_untouched_report_verifies(site, demo_pki, tmp_path):
    paths = build(site, demo_pki, tmp_path / "r")
    anchored = verify_report(paths.xml, trust=[demo_pki["root"].cert])
    assert anchored.ok and anchored.anchored, anchored.reason
    assert anchored.files_checked == 2  # PDF and photo
    assert anchored.content_sha256 == paths.content_sha256
    unanchored = verify_report(paths.signature)
    assert unanchored.ok and not unanchored.anchored
    assert demo_pki["technician"].sha256 in unanchored.reason.en
    assert "unanchored" in unanchored.reason.en
    assert verify_report(paths.xml.parent).ok


def test_changed_value_in_the_xml_fails(site, demo_pki, tmp_path):
    paths = build(site, demo_pki, tmp_path / "r")
    text = paths.xml.read_bytes().replace(b'value="4821357.0"', b'value="4821351.0"')
    paths.xml.write_bytes(text)
    result = verify_report(paths.xml, trust=[demo_pki["root"].cert])
    assert not result.ok
    assert "changed after it was signed" in result.reason.en


def test_changed_pdf_byte_fails(site, demo_pki, tmp_path):
    paths = build(site, demo_pki, tmp_path / "r")
    data = bytearray(paths.pdf.read_bytes())
    data[len(data) // 2] ^= 0x01
    paths.pdf.write_bytes(bytes(data))
    result = verify_report(paths.xml, trust=[demo_pki["root"].cert])
    assert not result.ok and "report.pdf was changed" in result.reason.en


def test_changed_or_missing_photo_fails(site, demo_pki, tmp_path):
    paths = build(site, demo_pki, tmp_path / "r")
    photo = paths.photos[0]
    photo.write_bytes(photo.read_bytes() + b"x")
    assert "photo" in verify_report(paths.xml).reason.en
    photo.unlink()
    assert not verify_report(paths.xml).ok


def test_wrong_trust_anchor_fails(site, demo_pki, tmp_path):
    paths = build(site, demo_pki, tmp_path / "r")
    other = create_demo_pki("EDEM0100000002")
    result = verify_report(paths.xml, trust=[other["root"].cert])
    assert not result.ok and "trusted root" in result.reason.en


def test_missing_signature_and_foreign_signer_fail(site, demo_pki, tmp_path):
    paths = build(site, demo_pki, tmp_path / "r")
    good = paths.signature.read_bytes()
    paths.signature.unlink()
    assert "missing" in verify_report(paths.xml).reason.en
    # a valid signature over the same bytes, but by a certificate the report does not name
    paths.signature.write_bytes(sign_report_xml(paths.xml.read_bytes(), demo_pki["gwa_sig"]))
    assert "not made with the certificate" in verify_report(paths.xml).reason.en
    paths.signature.write_bytes(good[:-10])
    assert not verify_report(paths.xml).ok


def test_mismatching_gateway_makes_the_verdict_failed(site, demo_pki, tmp_path):
    site.store.record_device(site.job_id, DeviceRecord("gateway", "ETHE0300186023"))
    paths = build(site, demo_pki, tmp_path / "r")
    assert paths.report.verdict is Verdict.FAILED
    smgw = {c.observed: c.result for c in paths.report.checks if c.name == "smgw_id"}
    assert smgw == {"ETHE0390000001": CheckResult.OK, "ETHE0300186023": CheckResult.MISMATCH}


def test_cli_verify_exit_codes_and_json(site, demo_pki, tmp_path, capsys):
    paths = build(site, demo_pki, tmp_path / "r")
    root_pem = tmp_path / "root.pem"
    root_pem.write_bytes(demo_pki.trust_pem())
    assert main(["report", "verify", str(paths.xml), "--trust", str(root_pem), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["anchored"] and doc["job_id"] == "DEMO-2025-0002"
    broken = tmp_path / "broken"
    shutil.copytree(paths.xml.parent, broken)
    (broken / "report.pdf").write_bytes(b"%PDF-1.4 not the original")
    assert main(["report", "verify", str(broken / "report.xml")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "report.pdf" in err[0]


@pytest.mark.parametrize("moment", ["2024-01-01T24:00:00Z", "12024-01-01T00:00:00Z"])
def test_verify_refuses_a_schema_valid_but_unusable_creation_time(site, demo_pki, tmp_path, moment):
    paths = build(site, demo_pki, tmp_path / "out")
    xml = paths.xml.read_bytes()
    root = parse_xml(xml)
    original = root.get("generated")
    paths.xml.write_bytes(xml.replace(f'generated="{original}"'.encode(),
                                      f'generated="{moment}"'.encode()))
    result = verify_report(paths.xml, trust=[demo_pki["root"].cert])
    assert not result.ok
    assert "time" in result.reason.en
