"""Screenshots of the main window in German and English, and no clipped text in them.

The window is shown at its default size after a connection test ran against the embedded
default, and after a failed (fake) flow. The PNGs go to ``screenshots/`` (git-ignored) for a
human to look at.
"""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtWidgets import QApplication

from app.context import AppContext, GwaTarget, HanTarget, Link, LinkState
from app.errors import Text
from tests.ui.conftest import SCREENSHOTS
from tests.ui.helpers import answer_prompts, clipped_widgets, fake_flow
from ui.views.main_window import DEFAULT_SIZE, MainWindow


def _fake_demo_context(tmp_path) -> AppContext:
    ctx = AppContext(
        han=HanTarget("127.0.0.1", 40443, smgw_id="EDEM0100000001"),
        gwa=GwaTarget("https://127.0.0.1:40444", trust_pem=b""),
        data_dir=tmp_path,
        demo=object(),
    )
    ctx.update_link(Link.HAN, state=LinkState.CONNECTED, peer="EDEM0100000001",
                    fingerprint="3f9a1c" * 10 + "beef")
    ctx.update_link(Link.GWA, state=LinkState.CONNECTED, peer="CN=Referenz-GWA, O=Demo",
                    fingerprint="c0ffee12" * 8)
    ctx.update_link(Link.OPTICAL, state=LinkState.FAILED,
                    last_error=Text("No read head found on the serial ports.",
                                    "Kein Lesekopf an den seriellen Schnittstellen gefunden."))
    return ctx


@pytest.mark.parametrize("lang", ["de", "en"])
def test_screenshot_without_clipped_text(make_window, translations, demo, run, lang):
    """The main window after a green connection check against the embedded default (the
    pictures of the README, docs/images/main-window-{de,en}.png, are taken from these)."""
    from app.processes.flows import registry
    from app.processes.flows.connection_test import CONNECTION_TEST

    translations.apply(lang)
    window: MainWindow = make_window(demo.context, registry(), demo=True)
    window.trace_action.setChecked(True)
    window.show()
    # the technician trusts the demo gateway's certificate on first contact, as on site
    seen = answer_prompts(window)

    async def scenario():
        return await window.start_flow(CONNECTION_TEST)

    result = run(scenario())
    assert result.succeeded, result.error
    assert [d.request.prompt.en for d in seen] == ["Trust this gateway certificate?"]
    run(asyncio.sleep(0.1))
    QApplication.processEvents()
    assert window.size() == DEFAULT_SIZE
    SCREENSHOTS.mkdir(exist_ok=True)
    target = SCREENSHOTS / f"main-window-{lang}.png"
    assert window.grab().save(str(target))
    assert target.stat().st_size > 10_000
    assert clipped_widgets(window) == []
    assert window.demo_badge.isVisible()
    outcome = {"de": "Erfolgreich", "en": "Succeeded"}[lang]
    assert window.step_view.outcome.text() == outcome
    for link in (Link.HAN, Link.GWA):  # both peers reached, fingerprints shown
        card = window.connections.cards[link]
        assert card.badge.property("state") == "connected"
        assert card.fingerprint.toolTip().startswith("SHA-256: ")
    assert window.connections.cards[Link.OPTICAL].target.text() == demo.context.optical.port


@pytest.mark.parametrize("lang", ["de", "en"])
def test_failure_view_and_prompt_dialog_without_clipped_text(
    make_window, translations, tmp_path, run, lang
):
    from app.processes.interaction import confirm_request
    from tests.ui.helpers import GWA_REFUSED
    from ui.views.prompt import PromptDialog

    translations.apply(lang)
    window = make_window(_fake_demo_context(tmp_path), [fake_flow(fail=True)], demo=True)
    window.show()

    async def scenario():
        return await window.start_flow(window.flow_panel.current_flow())

    assert run(scenario()).outcome == "failed"
    QApplication.processEvents()
    assert window.step_view.details.isVisible()
    assert GWA_REFUSED.get(lang) in window.step_view.error_text.text()
    assert clipped_widgets(window) == []
    SCREENSHOTS.mkdir(exist_ok=True)
    window.grab().save(str(SCREENSHOTS / f"main-window-failed-{lang}.png"))

    request = confirm_request(
        Text("Trust this gateway certificate?", "Diesem Gateway-Zertifikat vertrauen?"),
        Text("Subject: CN=EDEM0100000001\nSHA-256: " + ":".join(["AB"] * 32) + "\nCompare the "
             "fingerprint with the gateway's label or the operator's data sheet.",
             "Inhaber: CN=EDEM0100000001\nSHA-256: " + ":".join(["AB"] * 32) + "\nVergleichen "
             "Sie den Fingerabdruck mit dem Typschild des Gateways oder dem Datenblatt des "
             "Betreibers."),
    )
    dialog = PromptDialog(request, parent=window)
    dialog.show()
    QApplication.processEvents()
    assert clipped_widgets(dialog) == []
    dialog.grab().save(str(SCREENSHOTS / f"prompt-{lang}.png"))
    dialog.dismiss()
