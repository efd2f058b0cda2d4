"""User-facing errors of the core.

Every error a technician can see carries its text in German and English and, where it helps, the
name of the field at fault and the next step. The UI and the CLI pick the language; ``str(err)``
is English so that logs and tracebacks stay readable for maintainers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    """A sentence in both UI languages."""

    en: str
    de: str

    def __str__(self) -> str:
        return self.en

    def get(self, lang: str) -> str:
        """The text in ``lang`` (``"de"`` or ``"en"``); English for anything else."""
        return self.de if lang.lower().startswith("de") else self.en


class SmgwctError(Exception):
    """Base of all errors meant for the technician (not a programming error)."""

    def __init__(
        self,
        message: Text | str,
        *,
        field: str | None = None,
        hint: Text | str | None = None,
    ) -> None:
        self.message = message if isinstance(message, Text) else Text(message, message)
        self.field = field
        self.hint = hint if isinstance(hint, Text) or hint is None else Text(hint, hint)
        super().__init__(str(self.message))

    def describe(self, lang: str = "en") -> str:
        """One line for the UI or the CLI: field, what is wrong, what to do."""
        parts = []
        if self.field:
            parts.append(f"{self.field}: ")
        parts.append(self.message.get(lang))
        if self.hint is not None:
            parts.append(" " + self.hint.get(lang))
        return "".join(parts)


class InvalidValue(SmgwctError, ValueError):
    """A typed or received value does not have the required form."""


class ConfigurationError(SmgwctError):
    """The installation or a settings file is not usable as it is."""
