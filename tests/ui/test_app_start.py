"""``ui.main.run``: the qasync start, the demo splash, start-up failures and a clean shutdown."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.cli import build_parser
from app.context import AppContext
from app.errors import ConfigurationError, Text
from ui import main as ui_main
from ui.views.about import StartupSplash
from ui.views.main_window import MainWindow


def _watch(predicate: Callable[[QWidget], bool], action: Callable[[QWidget], None]) -> QTimer:
    """Every 20 ms: apply ``action`` to the first visible top-level widget matching."""
    timer = QTimer()
    timer.setInterval(20)

    def tick() -> None:
        for widget in QApplication.topLevelWidgets():
            if widget.isVisible() and predicate(widget):
                timer.stop()
                action(widget)
                return

    timer.timeout.connect(tick)
    timer.start()
    return timer


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "settings.json"


class FakeDemo:
    def __init__(self) -> None:
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True


def test_demo_start_shows_splash_opens_window_and_stops_demo(qapp, settings_file, tmp_path):
    demo = FakeDemo()
    seen: dict[str, object] = {}

    async def factory(progress):
        splash = [w for w in QApplication.topLevelWidgets()
                  if isinstance(w, StartupSplash) and w.isVisible()]
        seen["splash"] = splash[0].message.text() if splash else None
        progress(Text("Starting the virtual gateway…", "Virtuelles Gateway wird gestartet…"))
        seen["progress"] = splash[0].message.text() if splash else None
        return AppContext(data_dir=tmp_path, demo=demo)

    def close_window(widget: QWidget) -> None:
        seen["badge"] = widget.demo_badge.isVisible()
        seen["title"] = widget.windowTitle()
        widget.close()

    timer = _watch(lambda w: isinstance(w, MainWindow), close_window)
    code = ui_main.run(factory, language="de", demo=True, settings_path=settings_file)
    timer.stop()
    assert code == 0
    assert seen["splash"] == "Demo-Umgebung wird gestartet…"
    assert seen["progress"] == "Virtuelles Gateway wird gestartet…"
    assert seen["badge"] is True
    assert "SMGW-Inbetriebnahme" in str(seen["title"])
    assert demo.stopped
    assert settings_file.exists()  # geometry and language were saved on close
    assert not any(isinstance(w, StartupSplash) and w.isVisible()
                   for w in QApplication.topLevelWidgets())


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (OSError(errno.EADDRINUSE, "Address already in use"), "bereits belegt"),
        (ConfigurationError(Text("Port 4443 on 127.0.0.1 is already in use.",
                                 "Port 4443 auf 127.0.0.1 ist bereits belegt."),
                            hint=Text("Close the other program.",
                                      "Beenden Sie das andere Programm.")),
         "Port 4443 auf 127.0.0.1 ist bereits belegt."),
        (RuntimeError("boom"), "internen Fehler"),
    ],
)
def test_start_up_failure_gives_a_message_box_and_exit_code_1(
    qapp, settings_file, capsys, failure, expected
):
    async def factory(progress):
        raise failure

    shown: dict[str, str] = {}

    def close_box(widget: QWidget) -> None:
        assert isinstance(widget, QMessageBox)
        shown["text"] = widget.text()
        shown["modality"] = str(widget.windowModality())
        widget.close()

    timer = _watch(lambda w: w.objectName() == "startup-error", close_box)
    code = ui_main.run(factory, language="de", demo=True, settings_path=settings_file)
    timer.stop()
    assert code == 1
    assert expected in shown["text"]
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err


def test_english_message_on_request(qapp, settings_file, capsys):
    async def factory(progress):
        raise OSError(errno.EADDRINUSE, "Address already in use")

    timer = _watch(lambda w: w.objectName() == "startup-error", lambda w: w.close())
    assert ui_main.run(factory, language="en", settings_path=settings_file) == 1
    timer.stop()
    assert "already in use" in capsys.readouterr().err


def test_cli_has_gui_and_demo_commands():
    parser = build_parser()
    args = parser.parse_args(["demo", "--lang", "en", "--han-port", "4443"])
    assert args.command == "demo" and args.lang == "en" and args.han_port == 4443
    assert callable(args.func)
    args = parser.parse_args(["gui"])
    assert args.command == "gui" and args.lang is None


def test_gui_context_comes_from_the_stored_targets(settings_file, monkeypatch):
    from app.cli.gui import context_from_settings
    from app.store.settings import Settings

    ctx = context_from_settings(Settings(han_host="192.0.2.7", serial_port="/dev/ttyUSB0"))
    assert ctx.han is not None and ctx.han.host == "192.0.2.7"
    assert ctx.optical is not None and ctx.optical.port == "/dev/ttyUSB0"
    assert ctx.gwa is None
    empty = context_from_settings(Settings())
    assert empty.han is None and empty.optical is None


def test_demo_on_a_busy_port_says_so(qapp, settings_file, capsys, tmp_path, monkeypatch):
    """The real embedded default, its HAN port already taken by another program."""
    import socket

    from app.cli.demo import demo_context_factory

    monkeypatch.setenv("SMGWCT_DATA_DIR", str(tmp_path / "data"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        shown: dict[str, str] = {}

        def close_box(widget: QWidget) -> None:
            shown["text"] = widget.text()
            widget.close()

        timer = _watch(lambda w: w.objectName() == "startup-error", close_box)
        code = ui_main.run(demo_context_factory(han_port=port), language="de", demo=True,
                           settings_path=settings_file)
        timer.stop()
    assert code == 1
    assert "belegt" in shown["text"]
    err = capsys.readouterr().err
    assert str(port) in err and "Traceback" not in err


def test_no_display_gives_a_clear_message(monkeypatch):
    monkeypatch.setattr(ui_main.sys, "platform", "linux")
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError) as err:
        ui_main.check_display()
    assert "grafische Anzeige" in err.value.describe("de")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    ui_main.check_display()  # headless on purpose: fine
