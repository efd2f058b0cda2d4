"""Shared fixtures: headless Qt, isolated config/data dirs, one demo PKI per test session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# No test, not even a session- or module-scoped fixture, may touch the real user's folders:
# these defaults hold from the first import on; each test then gets folders of its own.
_SESSION_HOME = tempfile.mkdtemp(prefix="smgwct-tests-")
os.environ["SMGWCT_CONFIG_DIR"] = os.path.join(_SESSION_HOME, "config")
os.environ["SMGWCT_DATA_DIR"] = os.path.join(_SESSION_HOME, "data")


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
