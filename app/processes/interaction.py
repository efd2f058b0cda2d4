"""Asking the technician (Rückfragen an den Monteur) without knowing who answers.

Flows ask through the :class:`UserInteraction` port. The Qt front end answers with dialogs, the CLI
on the terminal, and :class:`ScriptedInteraction` from prepared answers (tests and ``--answers``).
Every question can be described as an :class:`InteractionRequest`, which a front end renders.

Contract of :meth:`UserInteraction.enter_value`: the returned text has passed ``validator``.
When the validator raises :class:`~app.errors.InvalidValue` (or a plain ``ValueError``), the
implementation asks again and shows why the value was rejected; :func:`ask_until_valid` implements
that loop once for all front ends. Secret values (passwords) are never stored or logged.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from app.errors import InvalidValue, SmgwctError, Text

Validator = Callable[[str], object]
"""Checks a typed value; raises :class:`~app.errors.InvalidValue` when it is not acceptable."""

RequestKind = Literal["confirm", "choose", "enter_value"]

INVALID_GENERIC = Text("The value is not valid.", "Der Wert ist ungültig.")


@dataclass(frozen=True)
class InteractionRequest:
    """One question as a front end shows it.

    ``error`` is set when the question is asked again: why the previous answer was rejected.
    For secret questions ``to_dict`` never contains a default value.
    """

    kind: RequestKind
    prompt: Text
    detail: Text | None = None
    options: tuple[tuple[str, Text], ...] = ()
    default: str | None = None
    secret: bool = False
    error: Text | None = None
    attempt: int = 1

    def option_keys(self) -> list[str]:
        """The keys a ``choose`` question accepts."""
        return [key for key, _label in self.options]

    def to_dict(self) -> dict[str, Any]:
        """The request as plain JSON types."""

        def text(t: Text | None) -> dict[str, str] | None:
            return None if t is None else {"en": t.en, "de": t.de}

        return {
            "kind": self.kind,
            "prompt": text(self.prompt),
            "detail": text(self.detail),
            "options": [{"key": k, "label": text(label)} for k, label in self.options],
            "default": None if self.secret else self.default,
            "secret": self.secret,
            "error": text(self.error),
            "attempt": self.attempt,
        }


def confirm_request(prompt: Text, detail: Text | None = None) -> InteractionRequest:
    """A yes/no question."""
    return InteractionRequest("confirm", prompt, detail=detail)


def choose_request(prompt: Text, options: Sequence[tuple[str, Text]]) -> InteractionRequest:
    """A choice among ``options`` (key, label); the answer is the key."""
    if not options:
        raise ValueError("a choice needs at least one option")
    keys = [k for k, _ in options]
    if len(set(keys)) != len(keys):
        raise ValueError(f"option keys must be unique: {keys}")
    return InteractionRequest("choose", prompt, options=tuple(options))


def value_request(
    prompt: Text, *, default: str | None = None, secret: bool = False
) -> InteractionRequest:
    """A typed value."""
    return InteractionRequest("enter_value", prompt, default=default, secret=secret)


def rejection_text(exc: ValueError) -> Text:
    """What to show when ``exc`` rejected a value (field, problem and fix where known)."""
    if isinstance(exc, SmgwctError):
        return Text(exc.describe("en"), exc.describe("de"))
    return INVALID_GENERIC


def check_value(value: str, validator: Validator | None) -> Text | None:
    """``None`` when ``value`` passes ``validator``, else the reason it was rejected."""
    if validator is None:
        return None
    try:
        validator(value)
    except ValueError as exc:  # InvalidValue is a ValueError
        return rejection_text(exc)
    return None


async def ask_until_valid(
    ask_once: Callable[[InteractionRequest], Awaitable[str]],
    request: InteractionRequest,
    validator: Validator | None,
    *,
    max_attempts: int | None = None,
) -> str:
    """Ask ``request`` until the answer passes ``validator``, showing each rejection.

    ``max_attempts`` bounds the number of questions; after the last rejection the validator's
    :class:`~app.errors.InvalidValue` is raised.
    """
    current = request
    while True:
        answer = await ask_once(current)
        reason = check_value(answer, validator)
        if reason is None:
            return answer
        if max_attempts is not None and current.attempt >= max_attempts:
            raise InvalidValue(
                reason,
                hint=Text(
                    "The value was rejected too often.", "Der Wert wurde zu oft abgelehnt."
                ),
            )
        current = replace(current, error=reason, attempt=current.attempt + 1)


@runtime_checkable
class UserInteraction(Protocol):
    """The port through which a flow asks the technician (GUI, CLI or a script answers)."""

    async def confirm(self, prompt: Text, detail: Text | None = None) -> bool:
        """Yes (``True``) or no."""
        ...

    async def choose(self, prompt: Text, options: list[tuple[str, Text]]) -> str:
        """The key of the chosen option."""
        ...

    async def enter_value(
        self,
        prompt: Text,
        *,
        validator: Validator | None = None,
        default: str | None = None,
        secret: bool = False,
    ) -> str:
        """A typed value that passed ``validator`` (ask again, showing the error, until it does)."""
        ...


class ScriptedAnswerMissing(SmgwctError):
    """A prepared answer file has no (acceptable) answer for a question."""


_YES = {"y", "yes", "j", "ja", "true", "1"}
_NO = {"n", "no", "nein", "false", "0"}


class ScriptedInteraction:
    """Answers from prepared data: a list (used in order) or a mapping keyed by question.

    Mapping keys are the question's English or German prompt text; the value is one answer or a
    list of answers for a question asked repeatedly (or asked again after a rejected value).
    ``confirm`` accepts ``true``/``false`` or yes/no words (``ja``/``nein`` too), ``choose`` an
    option key, ``enter_value`` a string. With ``use_defaults`` a question that has a default and
    no prepared answer takes its default; otherwise a missing answer raises
    :class:`ScriptedAnswerMissing` naming the question.

    ``asked`` records every request (never an answer), so tests can check what was shown.
    """

    def __init__(
        self,
        answers: Mapping[str, Any] | Sequence[Any] = (),
        *,
        use_defaults: bool = False,
    ) -> None:
        self._by_prompt: dict[str, deque[Any]] | None = None
        self._in_order: deque[Any] | None = None
        if isinstance(answers, Mapping):
            self._by_prompt = {
                str(k): deque(v if isinstance(v, list) else [v]) for k, v in answers.items()
            }
        elif isinstance(answers, str | bytes):
            raise TypeError("answers must be a mapping or a list, not a string")
        else:
            self._in_order = deque(answers)
        self.use_defaults = use_defaults
        self.asked: list[InteractionRequest] = []

    @classmethod
    def from_file(cls, path: str | Path, *, use_defaults: bool = False) -> ScriptedInteraction:
        """Answers from a JSON file holding an object (by question) or an array (in order)."""
        p = Path(path)
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidValue(
                Text(
                    f"The answers file {p} cannot be read: {exc}",
                    f"Die Antwortdatei {p} ist nicht lesbar: {exc}",
                ),
                field="answers",
                hint=Text(
                    "Give a UTF-8 JSON file with an object or an array of answers.",
                    "Geben Sie eine UTF-8-JSON-Datei mit einem Objekt oder einer Liste an.",
                ),
            ) from exc
        if not isinstance(raw, dict | list):
            raise InvalidValue(
                Text(
                    f"The answers file {p} must hold a JSON object or array.",
                    f"Die Antwortdatei {p} muss ein JSON-Objekt oder eine JSON-Liste enthalten.",
                ),
                field="answers",
            )
        return cls(raw, use_defaults=use_defaults)

    def remaining(self) -> int:
        """How many prepared answers have not been used yet."""
        if self._in_order is not None:
            return len(self._in_order)
        assert self._by_prompt is not None
        return sum(len(q) for q in self._by_prompt.values())

    def _next(self, request: InteractionRequest) -> Any:
        self.asked.append(request)
        if self._in_order is not None:
            if self._in_order:
                return self._in_order.popleft()
        else:
            assert self._by_prompt is not None
            for key in (request.prompt.en, request.prompt.de):
                queue = self._by_prompt.get(key)
                if queue:
                    return queue.popleft()
        if self.use_defaults and request.default is not None:
            return request.default
        raise self._missing(request)

    @staticmethod
    def _missing(request: InteractionRequest) -> ScriptedAnswerMissing:
        if request.error is not None:
            return ScriptedAnswerMissing(
                Text(
                    f"The prepared answer to “{request.prompt.en}” was rejected "
                    f"({request.error.en}) and no further answer is prepared.",
                    f"Die vorbereitete Antwort auf „{request.prompt.de}“ wurde abgelehnt "
                    f"({request.error.de}), und es gibt keine weitere.",
                ),
                field="answers",
                hint=Text(
                    "Correct the answer in the answers file.",
                    "Korrigieren Sie die Antwort in der Antwortdatei.",
                ),
            )
        return ScriptedAnswerMissing(
            Text(
                f"No prepared answer for the question “{request.prompt.en}”.",
                f"Keine vorbereitete Antwort auf die Frage „{request.prompt.de}“.",
            ),
            field="answers",
            hint=Text(
                "Add an answer for this question to the answers file.",
                "Ergänzen Sie die Antwortdatei um eine Antwort auf diese Frage.",
            ),
        )

    async def confirm(self, prompt: Text, detail: Text | None = None) -> bool:
        answer = self._next(confirm_request(prompt, detail))
        if isinstance(answer, bool):
            return answer
        word = str(answer).strip().lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
        raise InvalidValue(
            Text(
                f"The prepared answer {answer!r} to “{prompt.en}” is not yes or no.",
                f"Die vorbereitete Antwort {answer!r} auf „{prompt.de}“ ist weder ja noch nein.",
            ),
            field="answers",
            hint=Text("Use true or false.", "Verwenden Sie true oder false."),
        )

    async def choose(self, prompt: Text, options: list[tuple[str, Text]]) -> str:
        request = choose_request(prompt, options)
        answer = str(self._next(request))
        if answer not in request.option_keys():
            keys = ", ".join(request.option_keys())
            raise InvalidValue(
                Text(
                    f"The prepared answer {answer!r} to “{prompt.en}” is not one of: {keys}.",
                    f"Die vorbereitete Antwort {answer!r} auf „{prompt.de}“ ist keine der "
                    f"Möglichkeiten: {keys}.",
                ),
                field="answers",
                hint=Text("Use one of the listed keys.", "Verwenden Sie einen der Schlüssel."),
            )
        return answer

    async def enter_value(
        self,
        prompt: Text,
        *,
        validator: Validator | None = None,
        default: str | None = None,
        secret: bool = False,
    ) -> str:
        async def once(request: InteractionRequest) -> str:
            answer = self._next(request)
            return answer if isinstance(answer, str) else json.dumps(answer)

        request = value_request(prompt, default=default, secret=secret)
        return await ask_until_valid(once, request, validator)


__all__ = [
    "InteractionRequest",
    "RequestKind",
    "ScriptedAnswerMissing",
    "ScriptedInteraction",
    "UserInteraction",
    "Validator",
    "ask_until_valid",
    "check_value",
    "choose_request",
    "confirm_request",
    "rejection_text",
    "value_request",
]
