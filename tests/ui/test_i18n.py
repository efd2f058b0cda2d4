"""Translations: German complete and compiled, Qt's own catalogue loaded with ours."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from tools import i18n as tool
from ui.i18n import Translations, app_catalogue, normalise, text

HOW_TO_FIX = (
    "run '.venv/bin/python -m tools.i18n update', translate the new entries in "
    "resources/i18n/app_de.ts (pyside6-linguist or an editor), then "
    "'.venv/bin/python -m tools.i18n compile'"
)


def test_every_ui_string_has_a_german_translation_and_the_qm_files_are_current():
    problems = tool.problems()
    assert problems == [], HOW_TO_FIX


def test_the_catalogue_covers_what_the_views_ask_for():
    messages = {(m.context, m.source): m.translation for m in tool.read_ts(tool.ts_path("de"))}
    assert messages[("FlowListPanel", "Flows")] == "Abläufe"
    starting = messages[("Session", "Starting the demo environment…")]
    assert starting == "Demo-Umgebung wird gestartet…"
    assert len(messages) > 50


def test_german_and_english_switch_our_and_qts_strings(app):
    tr = Translations(app)
    assert tr.apply("de") == "de"
    assert tr.missing == []
    assert QCoreApplication.translate("TracePanel", "Copy") == "Kopieren"
    assert QCoreApplication.translate("QPlatformTheme", "&Yes") == "&Ja"  # qtbase_de
    assert tr.apply("en") == "en"
    assert QCoreApplication.translate("TracePanel", "Copy") == "Copy"
    assert QCoreApplication.translate("QPlatformTheme", "&Yes") == "&Yes"
    assert tr.apply("fr") == "de"  # unknown languages fall back to German
    assert app_catalogue("en").is_file() and app_catalogue("de").is_file()


def test_language_helpers():
    from app.errors import Text

    assert normalise("en_GB.UTF-8") == "en"
    assert normalise(None) == "de"
    assert normalise("") == "de"
    assert text(None) == ""
    assert text("plain") == "plain"
    assert text(Text("yes", "ja")) in ("yes", "ja")


def test_fill_sets_unfinished_german_texts_and_names_unmatched_lines(tmp_path, monkeypatch):
    catalogue = tmp_path / "app_de.ts"
    catalogue.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n'
        '<TS version="2.1" language="de" sourcelanguage="en"><context><name>JobsPanel</name>'
        '<message><source>New…</source><translation type="unfinished"></translation></message>'
        '<message><source>Jobs</source><translation>Aufträge</translation></message>'
        '</context></TS>', "utf-8")
    monkeypatch.setattr(tool, "ts_path", lambda lang: catalogue)
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    lines = tmp_path / "new.tsv"
    lines.write_text("JobsPanel\tNew…\tNeu…\nJobsPanel\tJobs\tJobs!\nJobsPanel\tNope\tNein\n",
                     "utf-8")
    assert tool.fill([lines]) == 1  # "Nope" is not in the catalogue
    messages = {m.source: m for m in tool.read_ts(catalogue)}
    assert messages["New…"].translation == "Neu…" and messages["New…"].finished
    assert messages["Jobs"].translation == "Aufträge"  # translated already: kept
