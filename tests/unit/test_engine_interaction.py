"""Asking the technician: ScriptedInteraction, the validator re-ask loop, requests for the UI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.errors import InvalidValue, Text
from app.processes.interaction import (
    InteractionRequest,
    ScriptedAnswerMissing,
    ScriptedInteraction,
    UserInteraction,
    ask_until_valid,
    value_request,
)

PORT = Text("HAN port", "HAN-Port")
SURE = Text("Meter sealed?", "Zähler verplombt?")


def port_validator(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise InvalidValue(
            Text(f"{value!r} is not a number.", f"{value!r} ist keine Zahl."),
            field="port", hint=Text("Enter 1 to 65535.", "Geben Sie 1 bis 65535 ein."),
        ) from None
    if not 1 <= port <= 65535:
        raise InvalidValue(Text("Port out of range.", "Port außerhalb des Bereichs."),
                           field="port")
    return port


def test_scripted_interaction_is_a_user_interaction() -> None:
    assert isinstance(ScriptedInteraction([]), UserInteraction)


async def test_answers_in_order() -> None:
    ui = ScriptedInteraction([True, "b", "443", "no"])
    assert await ui.confirm(SURE) is True
    assert await ui.choose(Text("Vendor", "Hersteller"), [("a", Text("A", "A")),
                                                           ("b", Text("B", "B"))]) == "b"
    assert await ui.enter_value(PORT, validator=port_validator) == "443"
    assert await ui.confirm(SURE) is False
    assert ui.remaining() == 0
    assert [r.kind for r in ui.asked] == ["confirm", "choose", "enter_value", "confirm"]


async def test_answers_by_prompt_in_either_language() -> None:
    ui = ScriptedInteraction({"HAN port": "8443", "Zähler verplombt?": "ja"})
    assert await ui.confirm(SURE) is True
    assert await ui.enter_value(PORT) == "8443"


async def test_missing_answer_names_the_question() -> None:
    ui = ScriptedInteraction({"something else": "x"})
    with pytest.raises(ScriptedAnswerMissing) as info:
        await ui.enter_value(PORT)
    err = info.value
    assert "HAN port" in err.message.en and "HAN-Port" in err.message.de
    assert err.hint is not None and "answers file" in err.hint.en
    with pytest.raises(ScriptedAnswerMissing):
        await ScriptedInteraction([]).confirm(SURE)


async def test_validator_rejection_asks_again_with_the_error_shown() -> None:
    ui = ScriptedInteraction({"HAN port": ["abc", "70000", "443"]})
    assert await ui.enter_value(PORT, validator=port_validator) == "443"
    assert [r.attempt for r in ui.asked] == [1, 2, 3]
    assert ui.asked[0].error is None
    assert ui.asked[1].error is not None
    assert ui.asked[1].error.en == "port: 'abc' is not a number. Enter 1 to 65535."
    assert ui.asked[1].error.de == "port: 'abc' ist keine Zahl. Geben Sie 1 bis 65535 ein."
    assert ui.asked[2].error == Text("port: Port out of range.",
                                     "port: Port außerhalb des Bereichs.")


async def test_plain_value_error_of_a_validator_also_re_asks() -> None:
    ui = ScriptedInteraction(["x", "12"])
    assert await ui.enter_value(PORT, validator=int) == "12"
    assert ui.asked[1].error == Text("The value is not valid.", "Der Wert ist ungültig.")


async def test_rejected_last_answer_is_a_clear_error() -> None:
    ui = ScriptedInteraction({"HAN port": ["abc"]})
    with pytest.raises(ScriptedAnswerMissing) as info:
        await ui.enter_value(PORT, validator=port_validator)
    assert "rejected" in info.value.message.en and "not a number" in info.value.message.en


async def test_wrong_answer_kinds_are_reported() -> None:
    with pytest.raises(InvalidValue, match="not yes or no"):
        await ScriptedInteraction(["maybe"]).confirm(SURE)
    with pytest.raises(InvalidValue, match="not one of: a"):
        await ScriptedInteraction(["z"]).choose(SURE, [("a", Text("A", "A"))])


async def test_defaults_only_when_allowed() -> None:
    with pytest.raises(ScriptedAnswerMissing):
        await ScriptedInteraction([]).enter_value(PORT, default="443")
    ui = ScriptedInteraction([], use_defaults=True)
    assert await ui.enter_value(PORT, default="443") == "443"


async def test_answers_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"HAN port": 443, "Meter sealed?": False}), encoding="utf-8")
    ui = ScriptedInteraction.from_file(path)
    assert await ui.enter_value(PORT) == "443"
    assert await ui.confirm(SURE) is False
    path.write_text("{broken", encoding="utf-8")
    with pytest.raises(InvalidValue) as info:
        ScriptedInteraction.from_file(path)
    assert info.value.field == "answers" and str(path) in info.value.message.en


async def test_ask_until_valid_gives_up_after_max_attempts() -> None:
    asked: list[InteractionRequest] = []

    async def always_bad(request: InteractionRequest) -> str:
        asked.append(request)
        return "bad"

    with pytest.raises(InvalidValue):
        await ask_until_valid(always_bad, value_request(PORT), port_validator, max_attempts=3)
    assert len(asked) == 3


def test_request_for_the_ui_never_carries_a_secret_default() -> None:
    secret = value_request(Text("Password", "Passwort"), default="s3cret", secret=True)
    d = secret.to_dict()
    assert d["secret"] is True and d["default"] is None
    assert "s3cret" not in json.dumps(d)
    plain = value_request(PORT, default="443").to_dict()
    assert plain["default"] == "443" and plain["prompt"] == {"en": "HAN port", "de": "HAN-Port"}
