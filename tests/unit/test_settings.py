"""Settings: round trip, atomic writes, broken files set aside with a notice, unknown keys kept."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from pathlib import Path

import pytest

from app.errors import ConfigurationError
from app.store.settings import (
    SCHEMA_VERSION,
    Settings,
    SettingsStore,
    config_dir,
    data_dir,
    load_settings,
    save_settings,
    settings_path,
)


def test_defaults_when_there_is_no_file(tmp_path: Path) -> None:
    result = SettingsStore(tmp_path / "settings.json").load()
    assert result.settings == Settings() and result.notice is None and result.backup is None
    assert result.settings.language == "de"


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "settings.json"
    geometry = base64.b64encode(bytes(range(40))).decode()
    settings = Settings(
        language="en", technician="M. Muster", han_host="192.168.1.200",
        serial_port="/dev/ttyUSB0", gwa_url="https://gwa.example:8443/api",
        window_geometry=geometry, show_trace=True,
    )
    SettingsStore(path).save(settings)
    loaded = SettingsStore(path).load()
    assert loaded.notice is None
    assert loaded.settings == settings
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["schema_version"] == SCHEMA_VERSION and doc["han_host"] == "192.168.1.200"
    changed = dataclasses.replace(loaded.settings, han_host="10.0.0.9")
    SettingsStore(path).save(changed)
    assert SettingsStore(path).load().settings.han_host == "10.0.0.9"
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temp files left


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{ this is not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[1, 2, 3]", "wrong value"),
        (b'{"language": 5}', "language"),
        (b'{"language": "fr"}', "language"),
        (b'{"show_trace": "yes"}', "show_trace"),
        (b'{"window_geometry": "not base64!!"}', "window_geometry"),
        (b'{"schema_version": "one"}', "schema_version"),
        (b"", "not valid JSON"),
    ],
)
def test_broken_file_is_set_aside_with_a_notice(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    result = SettingsStore(path).load()
    assert result.settings == Settings()
    assert result.notice is not None
    assert reason in result.notice.en
    assert "Standardeinstellungen" in result.notice.de
    assert result.backup is not None and result.backup.name.startswith("settings.json.broken-")
    assert result.backup.name in result.notice.en
    assert result.backup.read_bytes() == content  # nothing lost
    assert not path.exists()
    # the next save writes a fresh file and leaves the backup alone
    SettingsStore(path).save(Settings(language="en"))
    assert SettingsStore(path).load().settings.language == "en"
    assert result.backup.read_bytes() == content


def test_two_broken_files_in_the_same_second_keep_both(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{1", encoding="utf-8")
    first = SettingsStore(path).load().backup
    path.write_text("{2", encoding="utf-8")
    second = SettingsStore(path).load().backup
    assert first is not None and second is not None and first != second
    assert first.read_text() == "{1" and second.read_text() == "{2"


def test_unreadable_path_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.mkdir()  # a folder where the file should be: reading fails
    result = SettingsStore(path).load()
    assert result.notice is not None and "cannot be read" in result.notice.en
    assert result.backup is not None and result.backup.is_dir()


def test_unknown_keys_from_a_newer_version_are_preserved(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    doc = {
        "schema_version": SCHEMA_VERSION + 1,
        "language": "en",
        "han_host": "fe80::1",
        "future_feature": {"enabled": True, "levels": [1, 2]},
        "theme": "dark",
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    loaded = SettingsStore(path).load()
    assert loaded.notice is None
    assert loaded.settings.han_host == "fe80::1"
    assert dict(loaded.settings.extra) == {
        "future_feature": {"enabled": True, "levels": [1, 2]}, "theme": "dark",
    }
    SettingsStore(path).save(dataclasses.replace(loaded.settings, serial_port="COM3"))
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["future_feature"] == {"enabled": True, "levels": [1, 2]}
    assert written["theme"] == "dark" and written["serial_port"] == "COM3"
    assert written["schema_version"] == SCHEMA_VERSION + 1  # a newer file stays "newer"


def test_file_without_version_is_read(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"language": "en"}', encoding="utf-8")
    result = SettingsStore(path).load()
    assert result.notice is None and result.settings.language == "en"


def test_gwa_link_files_of_an_earlier_version_become_fields(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": 1, "gwa_url": "https://gwa.example:8443",
                                "gwa_ca_file": "ca.pem", "gwa_cert_file": "tech.p12"}), "utf-8")
    settings = SettingsStore(path).load().settings
    assert (settings.gwa_ca_file, settings.gwa_cert_file, settings.gwa_key_file) == (
        "ca.pem", "tech.p12", None)
    assert "gwa_ca_file" not in settings.extra
    with pytest.raises(ValueError, match="gwa_cert_file"):
        Settings(gwa_cert_file=7)  # type: ignore[arg-type]


def test_settings_refuse_wrong_values() -> None:
    with pytest.raises(ValueError, match="language"):
        Settings(language="fr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="show_trace"):
        Settings(show_trace=1)  # type: ignore[arg-type]


def test_write_is_atomic_when_it_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.json"
    SettingsStore(path).save(Settings(han_host="old"))

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ConfigurationError) as info:
        SettingsStore(path).save(Settings(han_host="new"))
    assert "No space left" in info.value.message.en and info.value.hint is not None
    monkeypatch.undo()
    assert SettingsStore(path).load().settings.han_host == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]  # temp file removed


def test_environment_overrides_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMGWCT_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("SMGWCT_DATA_DIR", str(tmp_path / "data"))
    assert config_dir() == tmp_path / "cfg"
    assert settings_path() == tmp_path / "cfg" / "settings.json"
    assert data_dir() == tmp_path / "data" and not (tmp_path / "data").exists()
    assert data_dir(create=True).is_dir()
    save_settings(Settings(gwa_url="https://gwa.test"))
    assert (tmp_path / "cfg" / "settings.json").exists()
    assert load_settings().settings.gwa_url == "https://gwa.test"


def test_platform_default_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMGWCT_CONFIG_DIR", raising=False)
    monkeypatch.delenv("SMGWCT_DATA_DIR", raising=False)
    assert config_dir().name == "smgwct" and data_dir().name == "smgwct"
