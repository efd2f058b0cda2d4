"""Checking a commissioning report (Protokollprüfung): signature, signer, PDF and photos.

:func:`verify_report` accepts the report XML, its ``.p7s`` or the folder holding both, and checks

1. the XML is a valid report (``commissioning-report.xsd``);
2. the detached CMS signature covers exactly these XML bytes and was made with the certificate
   the report names in ``<signer sha256=…>``;
3. with a trust anchor: the signer's chain leads to it and every certificate was valid when the
   report was generated; without one the result says the signer is *unanchored* and shows its
   fingerprint to compare;
4. the PDF named in ``<pdf>`` and every attached photo exist and match their SHA-256.

It never raises for a bad report: the result carries a one-line reason in German and English.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from app.errors import InvalidValue, SmgwctError, Text
from app.protocols.cms import CmsError, CmsFailure, verify
from app.report.signing import SIGNATURE_NAME, XML_NAME
from app.report.xml import SCHEMA, content_digest, q
from app.security.tls import fingerprint
from app.security.xml import parse_xml

MAX_REPORT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ReportVerification:
    """The outcome; ``ok`` only when signature, signer, PDF and attached photos are intact."""

    ok: bool
    reason: Text
    xml: Path | None = None
    signature: Path | None = None
    anchored: bool = False
    signer_sha256: str | None = None
    signer_subject: str | None = None
    report_id: str | None = None
    job_id: str | None = None
    smgw_id: str | None = None
    verdict: str | None = None
    generated: str | None = None
    content_sha256: str | None = None
    pdf: Path | None = None
    files_checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "reason": {"en": self.reason.en, "de": self.reason.de},
            "xml": str(self.xml) if self.xml else None,
            "signature": str(self.signature) if self.signature else None,
            "anchored": self.anchored, "signer_sha256": self.signer_sha256,
            "signer_subject": self.signer_subject, "report_id": self.report_id,
            "job_id": self.job_id, "smgw_id": self.smgw_id, "verdict": self.verdict,
            "generated": self.generated, "content_sha256": self.content_sha256,
            "pdf": str(self.pdf) if self.pdf else None, "files_checked": self.files_checked,
        }


class _Refused(Exception):
    def __init__(self, en: str, de: str) -> None:
        super().__init__(en)
        self.text = Text(en, de)


def load_trust_anchors(path: str | Path) -> list[x509.Certificate]:
    """Every certificate in a PEM (or DER) file; :class:`SmgwctError` when there is none."""
    path = Path(path)
    try:
        data = path.read_bytes()
        certs = (x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                 else [x509.load_der_x509_certificate(data)])
    except (OSError, ValueError) as exc:
        raise SmgwctError(
            Text(f"The trust anchor {path} cannot be read as a certificate ({exc}).",
                 f"Der Vertrauensanker {path} ist kein lesbares Zertifikat ({exc})."),
            field="trust",
            hint=Text("Give the root CA certificate as a PEM file.",
                      "Geben Sie das Zertifikat der Wurzel-CA als PEM-Datei an."),
        ) from exc
    return certs


def _locate(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        return path / XML_NAME, path / SIGNATURE_NAME
    if path.name.endswith(".p7s"):
        return path.with_name(path.name[: -len(".p7s")]), path
    return path, path.with_name(path.name + ".p7s")


def _read(path: Path, what_en: str, what_de: str) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise _Refused(f"The {what_en} {path.name} cannot be read ({exc.strerror or exc}).",
                       f"{what_de} {path.name} ist nicht lesbar ({exc.strerror or exc}).") from exc
    if len(data) > MAX_REPORT_BYTES:
        raise _Refused(f"The {what_en} {path.name} is larger than {MAX_REPORT_BYTES} bytes.",
                       f"{what_de} {path.name} ist größer als {MAX_REPORT_BYTES} Bytes.")
    return data


def _included_certificates(der: bytes) -> list[x509.Certificate]:
    try:
        info = asn1_cms.ContentInfo.load(der)
        certs = info["content"]["certificates"]
        return [x509.load_der_x509_certificate(c.chosen.dump()) for c in certs
                if c.name == "certificate"]
    except Exception as exc:  # noqa: BLE001 - any parser failure means: not a CMS signature
        raise _Refused(f"The signature file is damaged or not a CMS signature ({exc}).",
                       f"Die Signaturdatei ist beschädigt oder keine CMS-Signatur ({exc}).") \
            from exc


def _check_file(base: Path, name: str, sha256: str, what_en: str, what_de: str) -> Path:
    target = base / name
    data = _read(target, what_en, what_de) if target.exists() else None
    if data is None:
        raise _Refused(f"The {what_en} {name} named in the report is missing next to it.",
                       f"{what_de} {name}, die im Protokoll genannt ist, fehlt daneben.")
    if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), sha256):
        raise _Refused(f"The {what_en} {name} was changed: its SHA-256 differs from the one in "
                       f"the signed report.",
                       f"{what_de} {name} wurde verändert: ihr SHA-256 weicht vom Wert im "
                       f"signierten Protokoll ab.")
    return target


def verify_report(path: str | Path, *, trust: list[x509.Certificate] | None = None
                  ) -> ReportVerification:
    """Check the report at ``path`` (XML, ``.p7s`` or folder); see the module docstring."""
    xml_path, sig_path = _locate(Path(path))
    facts: dict[str, Any] = {"xml": xml_path, "signature": sig_path}
    try:
        return _verify(xml_path, sig_path, trust, facts)
    except _Refused as refused:
        return ReportVerification(False, refused.text, **facts)


def _verify(xml_path: Path, sig_path: Path, trust: list[x509.Certificate] | None,
            facts: dict[str, Any]) -> ReportVerification:
    data = _read(xml_path, "report", "Das Protokoll")
    try:
        root = parse_xml(data, schema=SCHEMA, max_bytes=MAX_REPORT_BYTES, field="report")
    except InvalidValue as exc:
        raise _Refused(f"{xml_path.name} is not a valid commissioning report: {exc.message.en}",
                       f"{xml_path.name} ist kein gültiges Inbetriebnahmeprotokoll: "
                       f"{exc.message.de}") from exc
    signer_el = root.find(q("signer"))
    job = root.find(q("job"))
    expected_smgw = root.find(f"{q('expected')}/{q('smgw')}")
    assert signer_el is not None and job is not None and expected_smgw is not None  # by XSD
    declared = signer_el.get("sha256", "")
    generated = root.get("generated", "")
    facts.update(report_id=root.get("id"), job_id=job.get("id"),
                 smgw_id=expected_smgw.get("id"), verdict=root.findtext(q("verdict")),
                 generated=generated, content_sha256=content_digest(root))
    if not sig_path.exists():
        raise _Refused(f"The signature {sig_path.name} is missing; without it the report "
                       f"cannot be checked.",
                       f"Die Signatur {sig_path.name} fehlt; ohne sie ist das Protokoll nicht "
                       f"prüfbar.")
    der = _read(sig_path, "signature", "Die Signatur")
    included = _included_certificates(der)
    named = [c for c in included if fingerprint(c.public_bytes(Encoding.DER)) == declared]
    if not named:
        raise _Refused("The signature was not made with the certificate the report names as "
                       "its signer.",
                       "Die Signatur stammt nicht von dem Zertifikat, das das Protokoll als "
                       "Unterzeichner nennt.")
    signer = named[0]
    try:
        at = dt.datetime.fromisoformat(generated.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise _Refused(f"The report's creation time '{generated[:40]}' is not a usable time.",
                       f"Der Erstellungszeitpunkt '{generated[:40]}' des Protokolls ist keine "
                       "verwendbare Zeit.") from None
    anchors = trust if trust else [signer]
    try:
        checked = verify(der, trust=anchors, expected_signer_sha256=declared,
                         detached_content=data, at=at)
    except CmsError as exc:
        if exc.reason is CmsFailure.TAMPERED:
            raise _Refused(f"{xml_path.name} was changed after it was signed (the signature "
                           f"does not match its content).",
                           f"{xml_path.name} wurde nach dem Signieren verändert (die Signatur "
                           f"passt nicht zum Inhalt).") from exc
        raise _Refused(f"Signature check failed: {exc.message.en}",
                       f"Signaturprüfung fehlgeschlagen: {exc.message.de}") from exc
    facts.update(anchored=bool(trust), signer_sha256=checked.signer_sha256,
                 signer_subject=checked.signer.subject.rfc4514_string())
    count = 0
    pdf_el = root.find(q("pdf"))
    if pdf_el is not None:
        facts["pdf"] = _check_file(xml_path.parent, pdf_el.get("file", ""),
                                   pdf_el.get("sha256", ""), "PDF file", "Die PDF-Datei")
        count += 1
    for photo in root.iter(q("photo")):
        if photo.get("attached") in ("true", "1"):
            _check_file(xml_path.parent, photo.get("file", ""), photo.get("sha256", ""),
                        "photo", "Das Foto")
            count += 1
    facts["files_checked"] = count
    subject = facts["signer_subject"]
    if trust:
        reason = Text(
            f"Report intact: signed by {subject}, certificate chain to the trust anchor valid "
            f"at {generated}; {count} attached file(s) match.",
            f"Protokoll unversehrt: signiert von {subject}, Zertifikatskette zum "
            f"Vertrauensanker gültig am {generated}; {count} beigefügte Datei(en) stimmen.")
    else:
        fp = facts["signer_sha256"]
        reason = Text(
            f"Report intact, but the signer is unanchored (no trust anchor given): signed by "
            f"{subject}, certificate SHA-256 {fp}. Compare this fingerprint or use --trust.",
            f"Protokoll unversehrt, aber der Unterzeichner ist nicht verankert (kein "
            f"Vertrauensanker angegeben): signiert von {subject}, Zertifikat SHA-256 {fp}. "
            f"Fingerabdruck vergleichen oder --trust verwenden.")
    return ReportVerification(True, reason, **facts)


__all__ = ["ReportVerification", "load_trust_anchors", "verify_report"]
