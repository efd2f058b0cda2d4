"""Commissioning report (Inbetriebnahmeprotokoll): model, XML, PDF, signature and verification.

``build_report`` writes ``report.xml`` (machine-readable, ``commissioning-report.xsd``),
``report.pdf`` (German or English) and ``report.xml.p7s`` (detached CMS signature of the
technician); ``verify_report`` checks all of them. See docs/report.md.
"""

from app.report.model import (
    Check,
    CheckResult,
    CommissioningReport,
    Verdict,
    assemble_report,
)
from app.report.signing import ReportPaths, build_report
from app.report.verify import ReportVerification, load_trust_anchors, verify_report

__all__ = [
    "Check",
    "CheckResult",
    "CommissioningReport",
    "ReportPaths",
    "ReportVerification",
    "Verdict",
    "assemble_report",
    "build_report",
    "load_trust_anchors",
    "verify_report",
]
