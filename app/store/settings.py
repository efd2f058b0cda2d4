"""User settings (Einstellungen) as a small JSON file in the platform's configuration folder.

* Location: ``platformdirs.user_config_dir("smgwct")/settings.json``; the environment variable
  ``SMGWCT_CONFIG_DIR`` or an explicit path replaces the folder (tests, portable installs).
* Writes are atomic: a temporary file in the same folder is written, fsync'ed and renamed over
  the old file, so a crash leaves either the old or the new settings, never half a file.
* A file that cannot be read, is not JSON or holds wrong types is moved aside to
  ``settings.json.broken-<UTC timestamp>``; the defaults are used and :class:`LoadResult` carries a
  ``notice`` the UI shows to the technician. Nothing is dropped silently.
* Keys written by a newer version are kept (``Settings.extra``) and written back unchanged.

Secrets never go here (see ``app.security.secrets``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import platformdirs

from app.errors import ConfigurationError, Text

APP_NAME = "smgwct"
SETTINGS_FILE = "settings.json"
CONFIG_DIR_ENV = "SMGWCT_CONFIG_DIR"
DATA_DIR_ENV = "SMGWCT_DATA_DIR"

SCHEMA_VERSION = 1
"""Version of the settings file layout this program writes."""

Language = Literal["de", "en"]
LANGUAGES: tuple[str, ...] = ("de", "en")


def config_dir() -> Path:
    """Folder of the settings file (``SMGWCT_CONFIG_DIR`` overrides the platform default)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir(*, create: bool = False) -> Path:
    """Folder of job database, audit log and reports (``SMGWCT_DATA_DIR`` overrides it)."""
    override = os.environ.get(DATA_DIR_ENV)
    path = (
        Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    )
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def settings_path() -> Path:
    """The settings file used when no explicit path is given."""
    return config_dir() / SETTINGS_FILE


@dataclass(frozen=True)
class Settings:
    """What the program remembers between starts. Change it with ``dataclasses.replace``."""

    language: Language = "de"
    technician: str | None = None
    han_host: str | None = None
    """Last HAN address (host or IP) of a gateway."""
    serial_port: str | None = None
    """Last serial port of the optical read head, e.g. ``/dev/ttyUSB0`` or ``COM3``."""
    gwa_url: str | None = None
    """Base URL of the Gateway Administrator's back end."""
    gwa_ca_file: str | None = None
    """CA certificate(s) (PEM) the GWA link trusts."""
    gwa_cert_file: str | None = None
    """Technician certificate of the GWA link (PKCS#12, or PEM)."""
    gwa_key_file: str | None = None
    """Private key (PEM) of ``gwa_cert_file``; ``None`` for PKCS#12 or a PEM holding its key."""
    window_geometry: str | None = None
    """Main window geometry, base64 of ``QWidget.saveGeometry()``."""
    window_state: str | None = None
    """Dock/toolbar state, base64 of ``QMainWindow.saveState()``."""
    show_trace: bool = False
    report_cert: str | None = None
    """Technician certificate that signs commissioning reports (PEM, or PKCS#12 .p12/.pfx)."""
    report_key: str | None = None
    """Private key (PEM) of ``report_cert``; ``None`` for PKCS#12 or a PEM holding its key."""
    report_trust: str | None = None
    """CA certificate(s) (PEM) that anchor the report signature; ``None``: the chain's root."""
    schema_version: int = SCHEMA_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Keys this version does not know (from a newer version), written back unchanged."""

    def __post_init__(self) -> None:
        problem = _check_fields(self)
        if problem is not None:
            raise ValueError(problem)

    def to_dict(self) -> dict[str, Any]:
        """The file content: known keys, then the preserved unknown ones."""
        out: dict[str, Any] = {"schema_version": self.schema_version}
        for f in dataclasses.fields(self):
            if f.name not in ("schema_version", "extra"):
                out[f.name] = getattr(self, f.name)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(cls, doc: Any) -> Settings:
        """Settings from a parsed file; ``ValueError`` names the first key with a wrong type."""
        if not isinstance(doc, dict):
            raise ValueError(f"the file holds {type(doc).__name__}, not a JSON object")
        version = doc.get("schema_version", SCHEMA_VERSION)
        if type(version) is not int or version < 0:
            raise ValueError("schema_version is not a non-negative whole number")
        doc = _migrate(dict(doc), version)
        known = {f.name for f in dataclasses.fields(cls)} - {"schema_version", "extra"}
        values = {k: v for k, v in doc.items() if k in known}
        extra = {k: v for k, v in doc.items() if k not in known and k != "schema_version"}
        return cls(**values, schema_version=max(version, SCHEMA_VERSION), extra=extra)


_Check = Callable[[Any], bool]


def _optional_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _optional_base64(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _optional_path(value: Any) -> bool:
    return value is None or (isinstance(value, str) and bool(value.strip())
                             and "\x00" not in value)


_CHECKS: dict[str, tuple[_Check, str]] = {
    "language": (lambda v: v in LANGUAGES, "must be \"de\" or \"en\""),
    "technician": (_optional_str, "must be text or null"),
    "han_host": (_optional_str, "must be text or null"),
    "serial_port": (_optional_str, "must be text or null"),
    "gwa_url": (_optional_str, "must be text or null"),
    "window_geometry": (_optional_base64, "must be base64 text or null"),
    "window_state": (_optional_base64, "must be base64 text or null"),
    "show_trace": (lambda v: isinstance(v, bool), "must be true or false"),
    "gwa_ca_file": (_optional_path, "must be a file path or null"),
    "gwa_cert_file": (_optional_path, "must be a file path or null"),
    "gwa_key_file": (_optional_path, "must be a file path or null"),
    "report_cert": (_optional_path, "must be a file path or null"),
    "report_key": (_optional_path, "must be a file path or null"),
    "report_trust": (_optional_path, "must be a file path or null"),
    "schema_version": (lambda v: type(v) is int and v >= 0, "must be a whole number"),
    "extra": (lambda v: isinstance(v, Mapping), "must be a mapping"),
}


def _check_fields(settings: Settings) -> str | None:
    for name, (ok, requirement) in _CHECKS.items():
        if not ok(getattr(settings, name)):
            return f"{name} {requirement}"
    return None


_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    # version -> function turning a file of that version into the next version.
    0: lambda doc: doc,  # files written before versioning had the same keys
}


def _migrate(doc: dict[str, Any], version: int) -> dict[str, Any]:
    while version < SCHEMA_VERSION:
        doc = _MIGRATIONS[version](doc)
        version += 1
    return doc


@dataclass(frozen=True)
class LoadResult:
    """Loaded settings; ``notice`` tells the technician when defaults replaced a broken file."""

    settings: Settings
    notice: Text | None = None
    backup: Path | None = None


class SettingsStore:
    """Reads and writes one settings file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else settings_path()

    def load(self) -> LoadResult:
        """The stored settings, defaults when there is no file, and a notice when it was broken."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return LoadResult(Settings())
        except OSError as exc:
            return self._set_aside(f"cannot be read: {exc.strerror or exc}")
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return self._set_aside(f"is not valid JSON: {exc}")
        try:
            return LoadResult(Settings.from_dict(doc))
        except (TypeError, ValueError) as exc:
            return self._set_aside(f"has a wrong value: {exc}")

    def _set_aside(self, reason: str) -> LoadResult:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        backup = self.path.with_name(f"{self.path.name}.broken-{stamp}")
        n = 1
        while backup.exists():
            backup = self.path.with_name(f"{self.path.name}.broken-{stamp}-{n}")
            n += 1
        try:
            os.replace(self.path, backup)
        except OSError as exc:
            notice = Text(
                f"The settings file {self.path} {reason}. It could not be moved aside ({exc}); "
                "default settings are used and the file will be replaced when settings are saved.",
                f"Die Einstellungsdatei {self.path} ist unbrauchbar ({reason}). Sie konnte nicht "
                f"beiseitegelegt werden ({exc}); es gelten die Standardeinstellungen, und die "
                "Datei wird beim nächsten Speichern ersetzt.",
            )
            return LoadResult(Settings(), notice=notice)
        notice = Text(
            f"The settings file {self.path} {reason}. It was kept as {backup.name}; default "
            "settings are used.",
            f"Die Einstellungsdatei {self.path} ist unbrauchbar ({reason}). Sie wurde als "
            f"{backup.name} aufbewahrt; es gelten die Standardeinstellungen.",
        )
        return LoadResult(Settings(), notice=notice, backup=backup)

    def save(self, settings: Settings) -> None:
        """Write atomically (temporary file, fsync, rename)."""
        text = json.dumps(settings.to_dict(), indent=2, ensure_ascii=False) + "\n"
        folder = self.path.parent
        tmp: str | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            tmp = None
            _fsync_dir(folder)
        except OSError as exc:
            raise ConfigurationError(
                Text(
                    f"The settings could not be saved to {self.path}: {exc.strerror or exc}",
                    f"Die Einstellungen konnten nicht in {self.path} gespeichert werden: "
                    f"{exc.strerror or exc}",
                ),
                field="settings",
                hint=Text(
                    "Check free disk space and write permission of the folder.",
                    "Prüfen Sie freien Speicherplatz und Schreibrechte des Ordners.",
                ),
            ) from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX; Windows cannot open folders and does not need it)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_settings(path: str | Path | None = None) -> LoadResult:
    """Shorthand for ``SettingsStore(path).load()``."""
    return SettingsStore(path).load()


def save_settings(settings: Settings, path: str | Path | None = None) -> None:
    """Shorthand for ``SettingsStore(path).save(settings)``."""
    SettingsStore(path).save(settings)


__all__ = [
    "CONFIG_DIR_ENV",
    "DATA_DIR_ENV",
    "SCHEMA_VERSION",
    "LoadResult",
    "Settings",
    "SettingsStore",
    "config_dir",
    "data_dir",
    "load_settings",
    "save_settings",
    "settings_path",
]
