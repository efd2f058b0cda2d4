"""Shared fixtures: headless Qt, isolated config/data dirs, one demo PKI per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No test touches the real user's settings or data."""
    base = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("SMGWCT_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("SMGWCT_DATA_DIR", str(base / "data"))
    yield


@pytest.fixture(scope="session")
def demo_pki(tmp_path_factory: pytest.TempPathFactory):
    """A complete brainpool demo PKI written to a temporary directory (shared, read-only use)."""
    from app.security.pki import create_demo_pki

    pki = create_demo_pki("EDEM0100000001")
    pki.write(Path(tmp_path_factory.mktemp("pki")))
    return pki
