"""Verdict and result views of the job flows (Ergebnis- und Nachweisansichten).

One view class, :class:`VerdictView`, shows a finished run of ``handover`` ("System im
Normalbetrieb" with the evidence of every line), ``pairing`` (meter, outcome, FE 09 explained),
``meter_change`` (both readings, old and new) and ``discovery`` (gateways found, identity check).
It reads what the flows put into their steps' data: the ``lines`` of
:func:`app.processes.flows.job_common.evidence_line` on success, each step's summary and the
failure (step, message, both values of an identity mismatch, hint) otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.errors import Text
from ui.i18n import language, text

OK_COLOUR, FAILED_COLOUR, OPEN_COLOUR = "#188038", "#c5221f", "#80868b"
FLOWS = ("handover", "pairing", "meter_change", "discovery")

# "<what>: the work order names <expected>, but <source> reports <seen>." (IdentityMismatch)
_MISMATCH = {
    "en": re.compile(r"names (?P<expected>.+?), but (?P<source>.+?) (?:reports|holds) "
                     r"(?P<seen>.+?)\.?$", re.S),
    "de": re.compile(r"nennt (?P<expected>.+?), aber (?P<source>.+?) (?:meldet|enthält) "
                     r"(?P<seen>.+?)\.?$", re.S),
}


@dataclass(frozen=True)
class Line:
    """One row of a verdict: ``state`` is ``ok``, ``failed`` or ``open`` (not reached)."""

    state: str
    title: str
    evidence: str
    step: str


@dataclass(frozen=True)
class Mismatch:
    """Both values of an identity check that failed (Soll/Ist)."""

    expected: str
    source: str
    seen: str


def bilingual(value: Any) -> str:
    """A ``{"en": …, "de": …}`` mapping of step data (or a Text/str) in the UI language."""
    if isinstance(value, Mapping):
        return text(Text(str(value.get("en", "")), str(value.get("de", value.get("en", "")))))
    return text(value) if value is not None else ""


def mismatch_of(error: Text | None, kind: str | None) -> Mismatch | None:
    """The expected and the seen value of an :class:`IdentityMismatch` failure, else ``None``."""
    if error is None or kind != "mismatch":
        return None
    lang = "de" if language() == "de" else "en"
    found = _MISMATCH[lang].search(error.get(lang))
    if found is None:
        return None
    return Mismatch(found["expected"].strip(), found["source"].strip(), found["seen"].strip())


def _data(result: Any, step: str) -> Mapping[str, Any]:
    outcome = (getattr(result, "results", None) or {}).get(step)
    return {} if outcome is None else (getattr(outcome, "data", None) or {})


def _flow_steps(name: str) -> list[Any]:
    from app.processes.flows import by_name

    try:
        return list(by_name(name).steps)
    except KeyError:
        return []


def _step_title(name: str, step: str | None) -> str:
    for candidate in _flow_steps(name):
        if candidate.name == step:
            return text(candidate.title)
    return step or ""


def _readings(values: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """OBIS short name -> "value unit" of a flow's reading list."""
    from app.domain import Obis

    out: dict[str, str] = {}
    for reading in values:
        try:
            obis = Obis.parse(str(reading["obis"])).short
        except Exception:  # noqa: BLE001 - show the raw code rather than nothing
            obis = str(reading.get("obis"))
        out[obis] = f"{reading.get('value')} {reading.get('unit') or ''}".rstrip()
    return out


def _label(parent: QWidget, name: str, *, wrap: bool = True, selectable: bool = False,
           style: str = "") -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(wrap)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if style:
        label.setStyleSheet(style)
    return label


def _clear(layout: QGridLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        widget = item.widget() if item is not None else None
        if widget is not None:
            widget.hide()
            widget.deleteLater()


class VerdictView(QWidget):
    """A finished run of a job flow: headline, key facts, one line per check, the failure."""

    def __init__(self, flow: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if flow not in FLOWS:
            raise ValueError(f"no verdict view for flow {flow!r}")
        self.flow = flow
        self.setObjectName(f"verdict-{flow}")
        self.result: Any = None
        self.lines: list[Line] = []
        self.facts: list[tuple[str, str]] = []
        self.readings: list[tuple[str, str, str]] = []
        self.mismatch: Mismatch | None = None

        self.title = QLabel(self)
        self.title.setObjectName("section-title")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.empty = _label(self, "verdict-empty", style="color: #5f6368;")

        content = QWidget(self)
        content.setObjectName("verdict-content")
        self.headline = _label(content, "verdict-headline",
                               style="font-size: 14pt; font-weight: 600;")
        self.facts_box = QWidget(content)
        self.facts_box.setObjectName("verdict-facts")
        self.facts_grid = QGridLayout(self.facts_box)
        self.facts_grid.setContentsMargins(0, 0, 0, 0)
        self.facts_grid.setHorizontalSpacing(16)
        self.facts_grid.setColumnStretch(1, 1)

        self.readings_title = _label(content, "verdict-readings-title",
                                     style="font-weight: 600;")
        self.readings_box = QFrame(content)
        self.readings_box.setObjectName("verdict-readings")
        self.readings_box.setFrameShape(QFrame.Shape.StyledPanel)
        self.readings_grid = QGridLayout(self.readings_box)
        self.readings_grid.setHorizontalSpacing(24)
        self.readings_grid.setColumnStretch(3, 1)

        self.lines_title = _label(content, "verdict-lines-title", style="font-weight: 600;")
        self.lines_box = QFrame(content)
        self.lines_box.setObjectName("verdict-lines")
        self.lines_box.setFrameShape(QFrame.Shape.StyledPanel)
        self.lines_grid = QGridLayout(self.lines_box)
        self.lines_grid.setHorizontalSpacing(12)
        self.lines_grid.setVerticalSpacing(8)
        self.lines_grid.setColumnStretch(2, 1)

        self.failure = QFrame(content)
        self.failure.setObjectName("verdict-failure")
        self.failure.setStyleSheet(
            "QFrame#verdict-failure { background: #fce8e6; border: 1px solid #f5c2bd;"
            " border-radius: 4px; }")
        self.failed_check = _label(self.failure, "verdict-failed-check", selectable=True,
                                   style="color: #a50e0e; font-weight: 600;")
        self.error_text = _label(self.failure, "verdict-error", selectable=True)
        self.values_box = QWidget(self.failure)
        self.values_box.setObjectName("verdict-mismatch")
        self.values_grid = QGridLayout(self.values_box)
        self.values_grid.setContentsMargins(0, 0, 0, 0)
        self.values_grid.setHorizontalSpacing(16)
        self.values_grid.setColumnStretch(1, 1)
        self.expected_label = _label(self.values_box, "verdict-expected-label",
                                     style="font-weight: 600;")
        self.expected_value = _label(self.values_box, "verdict-expected", selectable=True)
        self.seen_label = _label(self.values_box, "verdict-seen-label",
                                 style="font-weight: 600;")
        self.seen_value = _label(self.values_box, "verdict-seen", selectable=True)
        self.values_grid.addWidget(self.expected_label, 0, 0)
        self.values_grid.addWidget(self.expected_value, 0, 1)
        self.values_grid.addWidget(self.seen_label, 1, 0)
        self.values_grid.addWidget(self.seen_value, 1, 1)
        self.hint_title = _label(self.failure, "verdict-hint-title", style="font-weight: 600;")
        self.hint_text = _label(self.failure, "verdict-hint", selectable=True)
        box = QVBoxLayout(self.failure)
        for widget in (self.failed_check, self.error_text, self.values_box, self.hint_title,
                       self.hint_text):
            box.addWidget(widget)

        column = QVBoxLayout(content)
        column.setContentsMargins(0, 0, 8, 0)
        column.setSpacing(10)
        for widget in (self.headline, self.facts_box, self.failure, self.readings_title,
                       self.readings_box, self.lines_title, self.lines_box):
            column.addWidget(widget)
        column.addStretch(1)
        self.scroll = QScrollArea(self)
        self.scroll.setObjectName("verdict-scroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(content)
        content.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.empty)
        layout.addWidget(self.scroll, 1)
        self.retranslate()

    # --- feeding -------------------------------------------------------------------------------

    def show_result(self, result: Any) -> None:
        """Show a finished run (:class:`app.processes.engine.RunResult`) of this view's flow."""
        self.result = result
        self._render()

    @property
    def succeeded(self) -> bool:
        return bool(self.result is not None and getattr(self.result, "succeeded", False))

    # --- what to show --------------------------------------------------------------------------

    def _title(self) -> str:
        return {
            "handover": self.tr("Verdict: normal operation"),
            "pairing": self.tr("Pairing result"),
            "meter_change": self.tr("Meter change summary"),
            "discovery": self.tr("Discovered gateways"),
        }[self.flow]

    def _headline(self) -> str:
        result = self.result
        if not self.succeeded:
            if getattr(result, "outcome", None) == "cancelled":
                return self.tr("Cancelled at step “{step}”").format(
                    step=_step_title(self.flow, result.failed_step))
            return self.tr("Stopped at step “{step}”").format(
                step=_step_title(self.flow, getattr(result, "failed_step", None)))
        if self.flow == "handover":
            title = _data(result, "verdict").get("title")
            return bilingual(title) if title else self.tr("System in normal operation")
        if self.flow == "pairing":
            result_data = _data(result, "result")
            return self.tr("Meter {meter} is paired with gateway {gateway}").format(
                meter=result_data.get("server_id", "?"), gateway=result_data.get("smgw_id", "?"))
        if self.flow == "meter_change":
            summary = _data(result, "summary")
            return self.tr("Meter {old} replaced by {new}").format(
                old=summary.get("old_meter", "?"), new=summary.get("new_meter", "?"))
        gateway = _data(result, "gateway")
        return self.tr("Gateway {gateway} at {address}").format(
            gateway=gateway.get("smgw_id") or "?",
            address=f"{gateway.get('host')}:{gateway.get('port')}")

    def _facts(self) -> list[tuple[str, str]]:
        result = self.result
        job = _data(result, "job")
        facts: list[tuple[str, str]] = []
        if job.get("job_id"):
            facts.append((self.tr("Work order"), f"{job['job_id']} – {job.get('site', '')}"))
        if self.flow == "handover":
            identity = _data(result, "identity")
            handover = _data(result, "handover")
            facts.append((self.tr("Gateway"), identity.get("smgw_id") or job.get("smgw_id", "–")))
            if handover:
                facts.append((self.tr("Operating state"),
                              f"{self._operating_state(handover.get('state_before'))} → "
                              f"{self._operating_state(handover.get('state_after'))}"))
        elif self.flow == "pairing":
            meters = job.get("meters") or [{}]
            meter = _data(result, "meter").get("server_id") or (
                meters[0].get("server_id") if len(meters) == 1 else None)
            facts.append((self.tr("Meter"), str(meter or "–")))
            facts.append((self.tr("Gateway"), str(job.get("smgw_id") or "–")))
            paired = _data(result, "pairing")
            if self.succeeded:
                outcome = self.tr("paired")
                if paired.get("already_paired"):
                    outcome = self.tr("paired (it was paired with this gateway already)")
            else:
                outcome = self.tr("not paired")
            facts.append((self.tr("Outcome"), outcome))
            reset = _data(result, "crypto_reset")
            done = bool(reset.get("done") or paired.get("retried_after_crypto_reset"))
            # A pairing step that failed may have run a Crypto-Reset itself (after FE 09, on the
            # technician's answer) without leaving data: then "not requested" could be wrong.
            known = done or getattr(result, "failed_step", None) != "pairing"
            if (reset or paired) and known:
                facts.append((self.tr("Crypto-Reset"), self.tr("done") if done
                              else self.tr("not requested")))
            if paired.get("meter_tls_fingerprint"):
                facts.append((self.tr("Meter TLS certificate"),
                              str(paired["meter_tls_fingerprint"])))
        elif self.flow == "meter_change":
            old = _data(result, "old_reading").get("server_id")
            new = _data(result, "new_reading").get("server_id")
            facts.append((self.tr("Old meter"), old or "–"))
            facts.append((self.tr("New meter"), new or "–"))
            seal = _data(result, "old_seal")
            if seal.get("seal"):
                facts.append((self.tr("Seal"), str(seal["seal"])))
            if seal.get("note"):
                facts.append((self.tr("Note"), str(seal["note"])))
        else:
            found = _data(result, "search").get("gateways", [])
            shown = [f"{g.get('smgw_id') or '?'} – {g.get('host')}:{g.get('port')}"
                     + (f" ({g['vendor']})" if g.get("vendor") else "") for g in found]
            facts.append((self.tr("Gateways found"), "\n".join(shown) or "–"))
            identity = _data(result, "identity")
            if identity.get("smgw_id"):
                facts.append((self.tr("Identity check"),
                              self.tr("{han} (HAN) = {order} (work order)").format(
                                  han=identity["smgw_id"], order=job.get("smgw_id", "–"))))
            elif identity and identity.get("job_id", "") is None:
                facts.append((self.tr("Identity check"),
                              self.tr("not done: the run has no work order")))
        return facts

    def _operating_state(self, state: Any) -> str:
        """The gateway's operating state (Betriebszustand, the GWA's device data) in words;
        the secure states keep their BSI names."""
        names = {"delivery": self.tr("delivery state"), "normal": self.tr("normal operation")}
        return names.get(str(state), str(state))

    def _reading_rows(self) -> list[tuple[str, str, str]]:
        if self.flow != "meter_change":
            return []
        old = _readings(_data(self.result, "old_reading").get("readings", []))
        new = _readings(_data(self.result, "new_reading").get("readings", []))
        return [(obis, old.get(obis, "–"), new.get(obis, "–"))
                for obis in dict.fromkeys([*old, *new])]

    def _lines(self) -> list[Line]:
        result = self.result
        if self.succeeded:
            last = {"handover": "verdict", "pairing": "result", "meter_change": "summary"}
            lines = _data(result, last[self.flow]).get("lines") if self.flow in last else None
            if lines:
                return [Line("ok" if line.get("ok", True) else "failed",
                             bilingual(line.get("title")), bilingual(line.get("evidence")),
                             _step_title(self.flow, line.get("step")))
                        for line in lines]
        # a failed run (or a flow without evidence lines): each step with what it reported
        results = getattr(result, "results", None) or {}
        failed = getattr(result, "failed_step", None)
        out: list[Line] = []
        for step in _flow_steps(self.flow):
            title = text(step.title)
            if step.name in results:
                out.append(Line("ok", title, text(results[step.name].summary), ""))
            elif step.name == failed:
                out.append(Line("failed", title, text(getattr(result, "error", None)), ""))
            else:
                out.append(Line("open", title, self.tr("not reached"), ""))
        return out

    # --- rendering -----------------------------------------------------------------------------

    def _render(self) -> None:
        self.title.setText(self._title())
        has_result = self.result is not None
        self.empty.setVisible(not has_result)
        self.scroll.setVisible(has_result)
        if not has_result:
            return
        self.facts = self._facts()
        self.lines = self._lines()
        self.readings = self._reading_rows()
        colour = OK_COLOUR if self.succeeded else FAILED_COLOUR
        mark = "✓" if self.succeeded else "✗"
        self.headline.setText(f"{mark} {self._headline()}")
        self.headline.setStyleSheet(f"font-size: 14pt; font-weight: 600; color: {colour};")
        self._render_facts()
        self._render_readings()
        self._render_lines()
        self._render_failure()

    def _render_facts(self) -> None:
        _clear(self.facts_grid)
        for row, (name, value) in enumerate(self.facts):
            key = _label(self.facts_box, "verdict-fact-name", wrap=False,
                         style="color: #5f6368;")
            key.setText(name)
            shown = _label(self.facts_box, "verdict-fact", selectable=True)
            shown.setText(value)
            self.facts_grid.addWidget(key, row, 0)
            self.facts_grid.addWidget(shown, row, 1)
        self.facts_box.setVisible(bool(self.facts))

    def _render_readings(self) -> None:
        _clear(self.readings_grid)
        visible = bool(self.readings)
        self.readings_title.setVisible(visible)
        self.readings_box.setVisible(visible)
        if not visible:
            return
        heads = (self.tr("Register (OBIS)"), self.tr("Old meter: final reading"),
                 self.tr("New meter: initial reading"))
        for column, head in enumerate(heads):
            label = _label(self.readings_box, "verdict-reading-head", wrap=False,
                           style="font-weight: 600;")
            label.setText(head)
            self.readings_grid.addWidget(label, 0, column)
        for row, values in enumerate(self.readings, start=1):
            for column, value in enumerate(values):
                label = _label(self.readings_box, "verdict-reading", wrap=False,
                               selectable=True)
                label.setText(value)
                self.readings_grid.addWidget(label, row, column)

    def _render_lines(self) -> None:
        _clear(self.lines_grid)
        marks = {"ok": ("✓", OK_COLOUR), "failed": ("✗", FAILED_COLOUR),
                 "open": ("–", OPEN_COLOUR)}
        for row, line in enumerate(self.lines):
            symbol, colour = marks[line.state]
            mark = _label(self.lines_box, f"verdict-mark-{line.state}", wrap=False,
                          style=f"color: {colour}; font-weight: 700; font-size: 13pt;")
            mark.setText(symbol)
            title = _label(self.lines_box, "verdict-line-title",
                           style="font-weight: 600;" if line.state != "open"
                           else f"color: {OPEN_COLOUR};")
            title.setText(line.title)
            title.setMinimumWidth(140)
            evidence = _label(self.lines_box, "verdict-evidence", selectable=True,
                              style="" if line.state != "open" else f"color: {OPEN_COLOUR};")
            evidence.setText(line.evidence)
            step = _label(self.lines_box, "verdict-step", style="color: #5f6368;")
            step.setText(self.tr("Step: {step}").format(step=line.step) if line.step else "")
            step.setMinimumWidth(170)
            step.setVisible(bool(line.step))
            for column, widget in enumerate((mark, title, evidence, step)):
                self.lines_grid.addWidget(widget, row, column)
        self.lines_grid.setColumnStretch(1, 2)
        self.lines_grid.setColumnStretch(2, 4)
        self.lines_grid.setColumnStretch(3, 2)
        self.lines_box.setVisible(bool(self.lines))
        self.lines_title.setVisible(bool(self.lines))

    def _render_failure(self) -> None:
        result = self.result
        failed = not self.succeeded and getattr(result, "error", None) is not None
        self.failure.setVisible(failed)
        if not failed:
            self.mismatch = None
            return
        step = _step_title(self.flow, result.failed_step)
        self.failed_check.setText(self.tr("Failed check: {step}").format(step=step))
        self.error_text.setText(text(result.error))
        self.mismatch = mismatch_of(result.error, getattr(result, "kind", None))
        self.values_box.setVisible(self.mismatch is not None)
        if self.mismatch is not None:
            self.expected_label.setText(self.tr("Work order"))
            self.expected_value.setText(self.mismatch.expected)
            source = self.mismatch.source
            self.seen_label.setText(source[:1].upper() + source[1:])
            self.seen_value.setText(self.mismatch.seen)
        hint = getattr(result, "hint", None)
        self.hint_title.setText(self.tr("Likely cause and next action"))
        self.hint_text.setText(text(hint))
        self.hint_title.setVisible(hint is not None)
        self.hint_text.setVisible(hint is not None)

    def retranslate(self) -> None:
        self.empty.setText(self.tr("No run of this flow has finished yet."))
        self.lines_title.setText(self.tr("Checks and evidence"))
        self.readings_title.setText(self.tr("Readings"))
        self._render()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)


def handover_view(parent: QWidget | None = None) -> VerdictView:
    """Verdict "System im Normalbetrieb" of the handover flow."""
    return VerdictView("handover", parent)


def pairing_view(parent: QWidget | None = None) -> VerdictView:
    """Result of "Pairing Zähler und SMGW"."""
    return VerdictView("pairing", parent)


def meter_change_view(parent: QWidget | None = None) -> VerdictView:
    """Summary of "Zähler wechseln" with both readings."""
    return VerdictView("meter_change", parent)


def discovery_view(parent: QWidget | None = None) -> VerdictView:
    """Gateways found by "Device-Discovery" and the identity check."""
    return VerdictView("discovery", parent)
