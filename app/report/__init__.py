"""Commissioning report (Inbetriebnahmeprotokoll): model, XML, PDF, signature and verification.

``build_report`` writes ``report.xml`` (machine-readable, ``commissioning-report.xsd``),
``report.pdf`` (German or English) and ``report.xml.p7s`` (detached CMS signature of the
technician); ``verify_report`` checks all of them. Who signs: a :class:`ReportSigner` from the
demo PKI (``demo_report_signer``) or from configured files (``load_report_signer``). See
docs/report.md.
"""

from app.report.model import (
    Check,
    CheckResult,
    CommissioningReport,
    Verdict,
    assemble_report,
)
from app.report.signer import (
    ReportSigner,
    SignerError,
    SignerFiles,
    SignerPasswords,
    demo_report_signer,
    load_report_signer,
)
from app.report.signing import ReportPaths, build_report
from app.report.verify import ReportVerification, load_trust_anchors, verify_report

__all__ = [
    "Check",
    "CheckResult",
    "CommissioningReport",
    "ReportPaths",
    "ReportSigner",
    "ReportVerification",
    "SignerError",
    "SignerFiles",
    "SignerPasswords",
    "Verdict",
    "assemble_report",
    "build_report",
    "demo_report_signer",
    "load_report_signer",
    "load_trust_anchors",
    "verify_report",
]
