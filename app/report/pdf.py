"""The report as a PDF for people (reportlab), in German or English.

Title, job data, the evidence lines (expected against observed), devices, certificates,
readings, seals, steps, notes, photos and the audit head hash; every page carries in its footer
the page number, the report id, the SHA-256 fingerprint of the signing certificate and the
report's content hash (``app.report.xml.content_digest``). The standard PDF fonts are used
(Helvetica, Courier; Windows-1252 covers German umlauts and ß); characters outside it are replaced
by their closest Latin letter or ``?`` in the PDF only; the XML keeps the exact text.
"""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from app.report.model import CheckResult, CommissioningReport, Verdict
from app.security.tls import format_fingerprint

_L: dict[str, dict[str, str]] = {
    "title": {"de": "Inbetriebnahmeprotokoll", "en": "Commissioning report"},
    "subtitle": {"de": "Smart-Meter-Gateway", "en": "Smart meter gateway"},
    "job_data": {"de": "Auftragsdaten", "en": "Job data"},
    "job_id": {"de": "Auftragsnummer", "en": "Job number"},
    "metering_point": {"de": "Zählpunktbezeichnung", "en": "Metering point ID"},
    "customer": {"de": "Kunde", "en": "Customer"},
    "site": {"de": "Einsatzort", "en": "Site"},
    "tenant": {"de": "GWA-Mandant", "en": "GWA tenant"},
    "flows": {"de": "Geplante Abläufe", "en": "Planned flows"},
    "planned_date": {"de": "Geplantes Datum", "en": "Planned date"},
    "technician": {"de": "Servicetechniker", "en": "Service technician"},
    "generated": {"de": "Protokoll erstellt", "en": "Report created"},
    "report_id": {"de": "Protokoll-ID", "en": "Report ID"},
    "source": {"de": "Auftragsdatei", "en": "Work order file"},
    "verdict": {"de": "Ergebnis", "en": "Result"},
    "passed": {"de": "Inbetriebnahme erfolgreich", "en": "Commissioning passed"},
    "failed": {"de": "Inbetriebnahme fehlgeschlagen", "en": "Commissioning failed"},
    "incomplete": {"de": "Inbetriebnahme unvollständig", "en": "Commissioning incomplete"},
    "evidence": {"de": "Nachweise (Soll/Ist)", "en": "Evidence (expected/observed)"},
    "check": {"de": "Prüfung", "en": "Check"},
    "expected": {"de": "Soll", "en": "Expected"},
    "observed": {"de": "Ist", "en": "Observed"},
    "result": {"de": "Ergebnis", "en": "Result"},
    "c_smgw_id": {"de": "SMGW-ID", "en": "SMGW ID"},
    "c_meter": {"de": "Zähler erkannt", "en": "Meter detected"},
    "c_old_meter_reading": {"de": "Endstand alter Zähler", "en": "Final reading old meter"},
    "c_unexpected_meter": {"de": "Zähler nicht im Auftrag", "en": "Meter not in work order"},
    "c_flow": {"de": "Ablauf", "en": "Flow"},
    "r_ok": {"de": "OK", "en": "OK"},
    "r_mismatch": {"de": "ABWEICHUNG", "en": "MISMATCH"},
    "r_missing": {"de": "FEHLT", "en": "MISSING"},
    "r_not_checked": {"de": "nicht geprüft", "en": "not checked"},
    "devices": {"de": "Geräte", "en": "Devices"},
    "device": {"de": "Gerät", "en": "Device"},
    "gateway": {"de": "Gateway", "en": "Gateway"},
    "meter": {"de": "Zähler", "en": "Meter"},
    "identity": {"de": "Kennung", "en": "Identity"},
    "vendor": {"de": "Hersteller/Modell", "en": "Vendor/model"},
    "firmware": {"de": "Firmware", "en": "Firmware"},
    "firmware_hash": {"de": "Firmware-Hash (SHA-256)", "en": "Firmware hash (SHA-256)"},
    "certificates": {"de": "Zertifikate", "en": "Certificates"},
    "owner": {"de": "Inhaber", "en": "Owner"},
    "purpose": {"de": "Zweck", "en": "Purpose"},
    "fingerprint": {"de": "Fingerabdruck (SHA-256)", "en": "Fingerprint (SHA-256)"},
    "state": {"de": "Status", "en": "State"},
    "valid_until": {"de": "gültig bis", "en": "valid until"},
    "readings": {"de": "Zählerstände", "en": "Meter readings"},
    "role": {"de": "Rolle", "en": "Role"},
    "value": {"de": "Wert", "en": "Value"},
    "time": {"de": "Zeit", "en": "Time"},
    "seals": {"de": "Plomben", "en": "Seals"},
    "seal_number": {"de": "Plombennummer", "en": "Seal number"},
    "action": {"de": "Vorgang", "en": "Action"},
    "location": {"de": "Ort", "en": "Location"},
    "steps": {"de": "Abläufe und Schritte", "en": "Flows and steps"},
    "step": {"de": "Schritt", "en": "Step"},
    "started": {"de": "Beginn", "en": "Started"},
    "finished": {"de": "Ende", "en": "Finished"},
    "details": {"de": "Ergebnis / Hinweis", "en": "Outcome / note"},
    "notes": {"de": "Notizen", "en": "Notes"},
    "photos": {"de": "Fotos", "en": "Photos"},
    "file": {"de": "Datei", "en": "File"},
    "caption": {"de": "Beschreibung", "en": "Caption"},
    "audit": {"de": "Prüfprotokoll", "en": "Audit trail"},
    "audit_head": {"de": "Letzter Hashwert (Kopf)", "en": "Head hash"},
    "audit_entries": {"de": "Einträge (davon zum Auftrag)", "en": "Entries (of this job)"},
    "audit_intact": {"de": "Hash-Kette", "en": "Hash chain"},
    "intact": {"de": "unversehrt", "en": "intact"},
    "broken": {"de": "BESCHÄDIGT", "en": "BROKEN"},
    "signature": {"de": "Signatur", "en": "Signature"},
    "signature_text": {
        "de": "Dieses Protokoll ist elektronisch signiert. Maßgeblich ist die XML-Datei mit "
              "ihrer CMS-Signatur (report.xml und report.xml.p7s); sie enthält den SHA-256-Wert "
              "dieser PDF-Datei. Prüfen mit: smgwct report verify report.xml --trust "
              "<Wurzel-CA>.",
        "en": "This report is signed electronically. The binding record is the XML file with "
              "its CMS signature (report.xml and report.xml.p7s); it holds the SHA-256 of this "
              "PDF file. Check with: smgwct report verify report.xml --trust <root CA>.",
    },
    "signer": {"de": "Unterzeichner", "en": "Signed by"},
    "signer_fp": {"de": "Signaturzertifikat SHA-256", "en": "Signing certificate SHA-256"},
    "content_hash": {"de": "Inhalts-Prüfsumme SHA-256", "en": "Report content SHA-256"},
    "page": {"de": "Seite {page} von {pages}", "en": "Page {page} of {pages}"},
    "none": {"de": "keine", "en": "none"},
    "customer_signature": {"de": "Unterschrift Kunde", "en": "Customer signature"},
    "technician_signature": {"de": "Unterschrift Servicetechniker",
                             "en": "Service technician signature"},
}

_VALUES: dict[str, dict[str, str]] = {
    "new": {"de": "neu", "en": "new"},
    "old": {"de": "alt (ausgebaut)", "en": "old (removed)"},
    "existing": {"de": "vorhanden", "en": "existing"},
    "fitted": {"de": "angebracht", "en": "fitted"},
    "removed": {"de": "entfernt", "en": "removed"},
    "checked": {"de": "geprüft", "en": "checked"},
    "succeeded": {"de": "erfolgreich", "en": "succeeded"},
    "failed": {"de": "fehlgeschlagen", "en": "failed"},
    "cancelled": {"de": "abgebrochen", "en": "cancelled"},
    "running": {"de": "läuft", "en": "running"},
    "interrupted": {"de": "unterbrochen", "en": "interrupted"},
    "started": {"de": "begonnen", "en": "started"},
    "unknown": {"de": "unbekannt", "en": "unknown"},
    "optical": {"de": "optisch", "en": "optical"},
    "han": {"de": "HAN", "en": "HAN"},
    "gwa": {"de": "GWA", "en": "GWA"},
    "manual": {"de": "manuell", "en": "manual"},
    "open": {"de": "offen", "en": "open"},
    "handover": {"de": "Überführung in den Normalbetrieb", "en": "Transfer into normal operation"},
    "meter_change": {"de": "Zählerwechsel", "en": "Meter change"},
    "pairing": {"de": "Pairing Zähler und SMGW", "en": "Pairing meter and SMGW"},
    "discovery": {"de": "Device-Discovery", "en": "Device discovery"},
    "logs": {"de": "Logs abfragen", "en": "Log retrieval"},
    "technical_data": {"de": "Technische Gerätedaten", "en": "Technical device data"},
    "completed": {"de": "abgeschlossen", "en": "completed"},
}

_RESULT_COLOURS = {
    CheckResult.OK: colors.HexColor("#1b7a2f"),
    CheckResult.MISMATCH: colors.HexColor("#b3261e"),
    CheckResult.MISSING: colors.HexColor("#b3261e"),
    CheckResult.NOT_CHECKED: colors.HexColor("#6b6b6b"),
}
_VERDICT_COLOURS = {
    Verdict.PASSED: colors.HexColor("#1b7a2f"),
    Verdict.FAILED: colors.HexColor("#b3261e"),
    Verdict.INCOMPLETE: colors.HexColor("#a05a00"),
}


def pdf_safe(text: str) -> str:
    """``text`` limited to Windows-1252 (what the standard PDF fonts can show)."""
    out = []
    for ch in text:
        try:
            ch.encode("cp1252")
            out.append(ch)
            continue
        except UnicodeEncodeError:
            pass
        base = unicodedata.normalize("NFKD", ch).encode("cp1252", "ignore").decode("cp1252")
        out.append(base or "?")
    return "".join(out)


class _Renderer:
    def __init__(self, report: CommissioningReport, lang: str) -> None:
        self.r = report
        self.lang = "de" if lang.lower().startswith("de") else "en"
        base = getSampleStyleSheet()
        self.h1 = ParagraphStyle("h1", parent=base["Title"], fontName="Helvetica-Bold",
                                 fontSize=18, leading=22, alignment=TA_LEFT, spaceAfter=2 * mm)
        self.h2 = ParagraphStyle("h2", parent=base["Heading2"], fontName="Helvetica-Bold",
                                 fontSize=12, leading=15, spaceBefore=4 * mm, spaceAfter=2 * mm,
                                 keepWithNext=1)
        self.body = ParagraphStyle("body", parent=base["BodyText"], fontName="Helvetica",
                                   fontSize=9, leading=11.5)
        self.cell = ParagraphStyle("cell", parent=self.body, fontSize=8, leading=10)
        self.mono = ParagraphStyle("mono", parent=self.cell, fontName="Courier", fontSize=7.5,
                                   leading=9.5)

    # helpers ----------------------------------------------------------------------------

    def t(self, key: str) -> str:
        return _L[key][self.lang]

    def v(self, value: str | None) -> str:
        if value is None:
            return "–"
        return _VALUES.get(value, {}).get(self.lang, value)

    def p(self, text: str, style: ParagraphStyle | None = None) -> Paragraph:
        return Paragraph(escape(pdf_safe(text)), style or self.cell)

    def hash_p(self, value: str | None) -> Paragraph:
        if not value:
            return self.p("–")
        text = " ".join(value[i:i + 8] for i in range(0, len(value), 8))
        return Paragraph(escape(pdf_safe(text)), self.mono)

    def when(self, moment: dt.datetime | None) -> str:
        if moment is None:
            return "–"
        local = moment.astimezone()
        offset = local.strftime("%z")
        zone = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
        stamp = local.strftime("%d.%m.%Y %H:%M:%S" if self.lang == "de" else "%Y-%m-%d %H:%M:%S")
        return f"{stamp} ({zone})"

    def number(self, value: str) -> str:
        return value.replace(".", ",") if self.lang == "de" else value

    def table(self, header: Sequence[str], rows: list[list[Any]],
              widths: Sequence[float]) -> Table | Paragraph:
        if not rows:
            return self.p(self.t("none"), self.body)
        head = [Paragraph(f"<b>{escape(pdf_safe(h))}</b>", self.cell) for h in header]
        cells = [[c if not isinstance(c, str) else self.p(c) for c in row] for row in rows]
        table = Table([head, *cells], colWidths=[w * mm for w in widths], repeatRows=1)
        table.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ecf0")),
            ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#9aa5b1")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]))
        return table

    def key_values(self, rows: list[tuple[str, Any]]) -> Table:
        data = [[self.p(k), v if not isinstance(v, str) else self.p(v)] for k, v in rows]
        table = Table(data, colWidths=[45 * mm, 125 * mm])
        table.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#c5ccd3")),
            ("TOPPADDING", (0, 0), (-1, -1), 1.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ]))
        return table

    # sections ---------------------------------------------------------------------------

    def story(self) -> list[Any]:
        r, o = self.r, self.r.order
        colour = _VERDICT_COLOURS[r.verdict].hexval()[2:]
        story: list[Any] = [
            Paragraph(escape(self.t("title")), self.h1),
            self.p(f"{self.t('subtitle')} {o.smgw_id.text} · {self.t('job_id')} {o.job_id}",
                   self.body),
            Spacer(1, 2 * mm),
            Paragraph(f'<font color="#{colour}"><b>{escape(self.t("verdict"))}: '
                      f'{escape(self.t(r.verdict.value))}</b></font>', self.h2),
            Paragraph(escape(self.t("job_data")), self.h2),
            self.key_values([
                (self.t("job_id"), f"{o.job_id} ({self.v(r.job_state)})"),
                (self.t("metering_point"), o.metering_point_id),
                (self.t("customer"), o.customer_name or "–"),
                (self.t("site"), o.site.one_line),
                (self.t("tenant"), o.gwa_tenant),
                (self.t("flows"), ", ".join(self.v(f.value) for f in o.flows)),
                (self.t("planned_date"), o.planned_date.strftime(
                    "%d.%m.%Y" if self.lang == "de" else "%Y-%m-%d") if o.planned_date else "–"),
                (self.t("technician"), r.technician),
                (self.t("generated"), self.when(r.generated)),
                (self.t("report_id"), r.report_id),
                (self.t("source"), f"{r.source_name or r.source_format}"
                 + (f" (SHA-256 {r.source_sha256[:16]}…)" if r.source_sha256 else "")),
            ]),
        ]
        if o.notes:
            story += [Spacer(1, 1.5 * mm), self.p(o.notes, self.body)]
        story += self.evidence() + self.devices() + self.certificates() + self.readings()
        story += self.seals() + self.steps() + self.notes_photos() + self.audit()
        story += self.signature()
        return story

    def evidence(self) -> list[Any]:
        rows = []
        for c in self.r.checks:
            colour = _RESULT_COLOURS[c.result].hexval()[2:]
            subject = c.subject if c.name != "flow" else self.v(c.subject)
            rows.append([
                f"{self.t('c_' + c.name)}: {subject}" if c.name != "smgw_id"
                else self.t("c_smgw_id"),
                self.v(c.expected) if c.expected else "–",
                self.v(c.observed) if c.observed else "–",
                Paragraph(f'<font color="#{colour}"><b>'
                          f'{escape(self.t("r_" + c.result.value))}</b></font>', self.cell),
            ])
        return [Paragraph(escape(self.t("evidence")), self.h2),
                self.table([self.t("check"), self.t("expected"), self.t("observed"),
                            self.t("result")], rows, [62, 42, 42, 24])]

    def devices(self) -> list[Any]:
        rows = []
        for d in self.r.devices:
            vendor = " ".join(x for x in (d.vendor, d.model) if x) or "–"
            rows.append([
                f"{self.t(d.kind)}" + (f" ({self.v(d.role)})" if d.role else ""),
                d.identifier, vendor, d.firmware_version or "–", self.hash_p(d.firmware_hash),
            ])
        return [Paragraph(escape(self.t("devices")), self.h2),
                self.table([self.t("device"), self.t("identity"), self.t("vendor"),
                            self.t("firmware"), self.t("firmware_hash")], rows,
                           [24, 32, 34, 22, 58])]

    def certificates(self) -> list[Any]:
        rows = [[c.owner, c.purpose, self.hash_p(c.sha256),
                 " · ".join(x for x in (c.state, f"{self.t('valid_until')} {c.not_after[:10]}"
                                        if c.not_after else None) if x) or "–"]
                for c in self.r.certificates]
        return [Paragraph(escape(self.t("certificates")), self.h2),
                self.table([self.t("owner"), self.t("purpose"), self.t("fingerprint"),
                            self.t("state")], rows, [34, 22, 72, 42])]

    def readings(self) -> list[Any]:
        rows = [[r.server_id, self.v(r.role), r.obis,
                 f"{self.number(r.value)} {r.unit or ''}".strip(), self.v(r.source),
                 self.when(r.time)] for r in self.r.readings]
        return [Paragraph(escape(self.t("readings")), self.h2),
                self.table([self.t("meter"), self.t("role"), "OBIS", self.t("value"), "",
                            self.t("time")], rows, [30, 22, 26, 30, 16, 46])]

    def seals(self) -> list[Any]:
        rows = [[s.number, self.v(s.action), s.location or "–", s.server_id or "–",
                 self.when(s.time)] for s in self.r.seals]
        return [Paragraph(escape(self.t("seals")), self.h2),
                self.table([self.t("seal_number"), self.t("action"), self.t("location"),
                            self.t("meter"), self.t("time")], rows, [32, 24, 38, 30, 46])]

    def steps(self) -> list[Any]:
        out: list[Any] = [Paragraph(escape(self.t("steps")), self.h2)]
        if not self.r.runs:
            out.append(self.p(self.t("none"), self.body))
        for run in self.r.runs:
            out.append(self.p(f"{self.v(run.flow)} · {self.v(run.state)} · {run.run_id}",
                              self.body))
            rows = []
            for s in run.steps:
                detail = s.error or s.summary
                name = s.title.get(self.lang) if s.title is not None else s.step
                rows.append([name, self.v(s.state), self.when(s.started),
                             self.when(s.finished), detail.get(self.lang) if detail else "–"])
            out += [self.table([self.t("step"), self.t("result"), self.t("started"),
                                self.t("finished"), self.t("details")], rows,
                               [30, 20, 34, 34, 52]), Spacer(1, 2 * mm)]
        return out

    def notes_photos(self) -> list[Any]:
        notes = [[self.when(n.time), n.author or "–", n.text] for n in self.r.notes]
        photos = [[p.file, p.caption or "–", self.hash_p(p.sha256)] for p in self.r.photos]
        return [Paragraph(escape(self.t("notes")), self.h2),
                self.table([self.t("time"), self.t("technician"), self.t("notes")], notes,
                           [40, 30, 100]),
                Paragraph(escape(self.t("photos")), self.h2),
                self.table([self.t("file"), self.t("caption"), "SHA-256"], photos,
                           [50, 50, 70])]

    def audit(self) -> list[Any]:
        a = self.r.audit
        state = self.t("intact") if a.intact else f"{self.t('broken')}: {a.problem or ''}"
        return [Paragraph(escape(self.t("audit")), self.h2), self.key_values([
            (self.t("audit_head"), self.hash_p(a.head_hash)),
            (self.t("audit_entries"), f"{a.entries} ({a.job_entries})"),
            (self.t("audit_intact"), state),
        ])]

    def signature(self) -> list[Any]:
        s = self.r.signer
        lines = Table([["", "", ""], [self.p(self.t("technician_signature")), "",
                                      self.p(self.t("customer_signature"))]],
                      colWidths=[75 * mm, 20 * mm, 75 * mm], rowHeights=[14 * mm, None])
        lines.setStyle(TableStyle([("LINEBELOW", (0, 0), (0, 0), 0.5, colors.black),
                                   ("LINEBELOW", (2, 0), (2, 0), 0.5, colors.black)]))
        return [Paragraph(escape(self.t("signature")), self.h2),
                self.p(self.t("signature_text"), self.body), Spacer(1, 2 * mm),
                self.key_values([(self.t("signer"), s.subject),
                                 (self.t("signer_fp"), self.hash_p(s.sha256))]),
                Spacer(1, 6 * mm), lines]


def _numbered_canvas(footer: list[str], page_label: str) -> type[rl_canvas.Canvas]:
    """A canvas class that draws the footer with "page x of y" once the page count is known."""

    class NumberedCanvas(rl_canvas.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total: int) -> None:
            width, _ = A4
            self.saveState()
            self.setStrokeColor(colors.HexColor("#9aa5b1"))
            self.line(18 * mm, 17 * mm, width - 18 * mm, 17 * mm)
            self.setFont("Helvetica", 6.5)
            y = 14 * mm
            for line in footer:
                self.drawString(18 * mm, y, pdf_safe(line))
                y -= 3 * mm
            self.setFont("Helvetica-Bold", 8)
            self.drawRightString(width - 18 * mm, 14 * mm,
                                 page_label.format(page=self._pageNumber, pages=total))
            self.restoreState()

    return NumberedCanvas


def render_pdf(report: CommissioningReport, *, lang: str = "de", content_sha256: str,
               compress: bool = True) -> bytes:
    """The PDF of ``report``; ``compress=False`` leaves page streams readable (tests)."""
    renderer = _Renderer(report, lang)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
        bottomMargin=24 * mm, title=pdf_safe(f"{renderer.t('title')} {report.order.job_id}"),
        author=pdf_safe(report.technician), subject=f"content-sha256:{content_sha256}",
        creator=f"smgwct {report.tool_version}",
        keywords=[f"report-id:{report.report_id}", f"signer-sha256:{report.signer.sha256}"],
        pageCompression=1 if compress else 0, invariant=0 if compress else 1,
        lang=renderer.lang,
    )
    footer = [
        f"{renderer.t('report_id')} {report.report_id} · {renderer.t('job_id')} "
        f"{report.order.job_id} · SMGW {report.order.smgw_id.text}",
        f"{renderer.t('signer_fp')}: {format_fingerprint(report.signer.sha256)}",
        f"{renderer.t('content_hash')}: {content_sha256}",
    ]
    doc.build(renderer.story(), canvasmaker=_numbered_canvas(footer, renderer.t("page")))
    return buffer.getvalue()


__all__ = ["pdf_safe", "render_pdf"]
