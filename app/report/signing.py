"""Building and signing the report: XML, PDF, detached CMS signature, attached photos.

Who signs: the technician, with the key of their certificate (in demo mode the demo PKI's
``technician`` role). The signature is a detached CMS SignedData (``app.protocols.cms``, ECDSA
with SHA-256 on brainpoolP256r1) over the exact bytes of ``report.xml``, written as
``report.xml.p7s``; the sub-CA is included so that a verifier needs only the root CA.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from app.errors import SmgwctError, Text
from app.protocols.cms import sign
from app.report.model import CommissioningReport, assemble_report
from app.report.pdf import render_pdf
from app.report.xml import (
    add_pdf_reference,
    content_digest,
    mark_photos,
    report_bytes,
    report_element,
)
from app.security.pki import CertifiedKey
from app.store.audit import AuditLog
from app.store.db import JobStore
from app.store.jobs import Job, Photo, WorkOrderStore

XML_NAME = "report.xml"
SIGNATURE_NAME = "report.xml.p7s"
PDF_NAME = "report.pdf"
PHOTO_DIR = "photos"


@dataclass(frozen=True)
class ReportPaths:
    """The files of a built report."""

    xml: Path
    signature: Path
    pdf: Path
    photos: tuple[Path, ...]
    content_sha256: str
    report: CommissioningReport


def sign_report_xml(data: bytes, signer: CertifiedKey,
                    extra_certs: Sequence[x509.Certificate] = ()) -> bytes:
    """The detached CMS signature (DER) over the report XML's bytes."""
    return sign(data, signer, extra_certs=extra_certs, detached=True)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _missing_photo(job: Job, photo: Photo) -> SmgwctError:
    """The error for a recorded photo whose file is no longer in the job's folder."""
    source = job.folder / photo.file
    return SmgwctError(
        Text(f"The photo {photo.file} ({photo.original_name}) of job {job.job_id} is missing "
             f"from the job folder {job.folder}, so it cannot be attached to the report.",
             f"Das Foto {photo.file} ({photo.original_name}) des Auftrags {job.job_id} fehlt im "
             f"Auftragsordner {job.folder} und kann dem Protokoll nicht beigefügt werden."),
        field="photo",
        hint=Text(f"Put the original file back at {source} (SHA-256 {photo.sha256}), or build "
                  f"the report without attached photos (smgwct report build --no-photos).",
                  f"Legen Sie die Originaldatei wieder unter {source} ab (SHA-256 "
                  f"{photo.sha256}) oder erstellen Sie das Protokoll ohne beigefügte Fotos "
                  f"(smgwct report build --no-photos)."),
    )


def build_report(
    job: Job,
    *,
    signer: CertifiedKey,
    out_dir: str | Path,
    lang: str = "de",
    store: WorkOrderStore | None = None,
    runs: JobStore | None = None,
    audit: AuditLog | None = None,
    extra_certs: Sequence[x509.Certificate] = (),
    technician: str | None = None,
    attach_photos: bool = True,
    now: dt.datetime | None = None,
    compress_pdf: bool = True,
) -> ReportPaths:
    """Write ``report.xml``, ``report.pdf``, ``report.xml.p7s`` (and ``photos/``) to ``out_dir``.

    Order: the report XML without the PDF reference gives the content hash, which the PDF prints;
    the PDF's SHA-256 is then added to the XML, and the final XML bytes are signed.
    """
    out = Path(out_dir)
    if attach_photos:
        for photo in job.photos:
            if not (job.folder / photo.file).is_file():
                raise _missing_photo(job, photo)  # before anything is written
    report = assemble_report(job, signer=signer, store=store, runs=runs, audit=audit,
                             technician=technician, now=now)
    root = report_element(report)
    copied: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        if attach_photos and job.photos:
            for photo in job.photos:
                target = out / photo.file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(job.folder / photo.file, target)
                copied.append(target)
        mark_photos(root, attached=attach_photos)
        report_bytes(root)  # validates the content before anything is rendered
        content = content_digest(root)
        pdf = render_pdf(report, lang=lang, content_sha256=content, compress=compress_pdf)
        _write(out / PDF_NAME, pdf)
        add_pdf_reference(root, PDF_NAME, pdf, "de" if lang.lower().startswith("de") else "en")
        xml = report_bytes(root)
        _write(out / XML_NAME, xml)
        _write(out / SIGNATURE_NAME, sign_report_xml(xml, signer, extra_certs))
    except OSError as exc:
        raise SmgwctError(
            Text(f"The report cannot be written to {out}: {exc.strerror or exc}",
                 f"Das Protokoll kann nicht nach {out} geschrieben werden: "
                 f"{exc.strerror or exc}"),
            field="out_dir",
            hint=Text("Choose a folder with free space and write permission.",
                      "Wählen Sie einen Ordner mit freiem Speicherplatz und Schreibrechten."),
        ) from exc
    return ReportPaths(out / XML_NAME, out / SIGNATURE_NAME, out / PDF_NAME, tuple(copied),
                       content, report)


__all__ = [
    "PDF_NAME",
    "SIGNATURE_NAME",
    "XML_NAME",
    "ReportPaths",
    "build_report",
    "sign_report_xml",
]
