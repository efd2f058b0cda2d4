"""The window's style sheet: light cards for the links, roomy lists (Fusion-friendly)."""

from __future__ import annotations

WINDOW_STYLE = """
QGroupBox[card="true"] {
    background: #ffffff;
    border: 1px solid #dadce0;
    border-radius: 6px;
    margin-top: 1.3em;
    padding: 4px 6px 2px 6px;
}
QGroupBox[card="true"]::title {
    subcontrol-origin: margin;
    subcontrol-position: top left;
    left: 8px;
    padding: 0 4px;
    color: #174ea6;
}
QListView#flow-list::item {
    padding: 6px 4px;
}
QLabel#section-title {
    font-weight: 600;
    color: #202124;
}
"""
