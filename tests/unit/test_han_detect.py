"""Vendor detection rules over recorded answers, without touching any network."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.transports.han.detect import (
    CONTROL_PATH,
    EMH_PATH,
    PPC_PATH,
    THEBEN_PATH,
    VENDORS,
    ProbeAnswer,
    VendorNotDetected,
    classify,
    require_vendor,
)

NOT_FOUND = ProbeAnswer("", 404, (("content-type", "text/plain"),), b"404: Not Found")


PATHS = {"theben": THEBEN_PATH, "ppc": PPC_PATH, "emh": EMH_PATH}


def answers(**by_vendor: ProbeAnswer) -> dict[str, ProbeAnswer]:
    """The three probe answers: 404 except for the vendors given."""
    base = {path: by_vendor.get(vendor, NOT_FOUND) for vendor, path in PATHS.items()}
    return {p: ProbeAnswer(p, a.status, a.headers, a.body) for p, a in base.items()}


def challenge(body: bytes = b"", content_type: str = "text/html",
              realm: str = "smgw") -> ProbeAnswer:
    header = ("www-authenticate", f'Digest realm="{realm}", qop="auth", nonce="n"')
    return ProbeAnswer("", 401, (("content-type", content_type), header), body)


CONTROL = ProbeAnswer(CONTROL_PATH, 404, (("content-type", "text/plain"),), b"")


def test_conexa_redirect_is_decisive() -> None:
    redirect = ProbeAnswer("", 307, (("location", "/smgw/m2m/ethe0390000001.sm/json"),))
    detection = classify(answers(theben=redirect), CONTROL)
    assert detection.vendor == "theben" and detection.confidence == 0.95
    assert "redirects" in detection.reasons[0].en


@pytest.mark.parametrize(
    ("vendor", "answer", "at_least"),
    [("theben", challenge(realm="CONEXA HAN"), 0.82),
     ("ppc", challenge(b'<html><input type="hidden" name="tkn" value="x"></html>'), 0.85),
     ("emh", challenge(json.dumps({"error": "unauthorized"}).encode(), "application/json"),
      0.79)],
)
def test_each_vendor_by_its_login_path(vendor: str, answer: ProbeAnswer, at_least: float) -> None:
    detection = classify(answers(**{vendor: answer}), CONTROL)
    assert detection.vendor == vendor
    assert detection.confidence >= at_least
    assert set(detection.scores) == {vendor}
    assert detection.to_dict("de")["vendor"] == vendor


def test_a_server_answering_everything_alike_gives_no_path_clue() -> None:
    everywhere = challenge(realm="Smart Meter Gateway")
    found = answers(theben=everywhere, ppc=everywhere, emh=everywhere)
    control = ProbeAnswer(CONTROL_PATH, 401, everywhere.headers, b"")
    detection = classify(found, control)
    assert detection.vendor is None and detection.scores == {}
    with pytest.raises(VendorNotDetected) as info:
        require_vendor(detection)
    assert "--vendor" in info.value.describe("en")
    assert "Hersteller" in info.value.describe("de")


def test_words_alone_are_not_enough_but_help() -> None:
    everywhere = challenge(realm="PPC Smart Meter Gateway")
    found = answers(theben=everywhere, ppc=everywhere, emh=everywhere)
    control = ProbeAnswer(CONTROL_PATH, 401, everywhere.headers, b"")
    alone = classify(found, control)
    assert alone.vendor is None and alone.scores == {"ppc": 0.4}
    with_server = ProbeAnswer(CONTROL_PATH, 401,
                              (*everywhere.headers, ("server", "PPC hanservice")), b"")
    both = classify(found, with_server)
    assert both.vendor == "ppc" and both.confidence == pytest.approx(0.64)


def test_two_interfaces_at_once_are_ambiguous() -> None:
    detection = classify(answers(ppc=challenge(), emh=challenge()), CONTROL)
    assert detection.vendor is None
    assert detection.scores == {"ppc": 0.7, "emh": 0.7}


def test_words_match_whole_words_only() -> None:
    found = answers(emh=ProbeAnswer("", 404, (("server", "casablanca/1.0 ppcx"),)))
    assert classify(found, CONTROL).scores == {}


def test_without_a_control_answer_any_non_404_counts() -> None:
    detection = classify(answers(emh=ProbeAnswer("", 403, ())), None)
    assert detection.vendor == "emh" and detection.confidence == 0.7


_headers = st.lists(st.tuples(st.sampled_from(["server", "location", "www-authenticate",
                                               "content-type", "x-other"]),
                              st.text(max_size=60)), max_size=5).map(tuple)
_answer = st.builds(ProbeAnswer, st.just(""), st.integers(100, 599), _headers,
                    st.binary(max_size=200))


@given(st.dictionaries(st.sampled_from([THEBEN_PATH, PPC_PATH, EMH_PATH]), _answer),
       st.one_of(st.none(), _answer))
def test_classify_never_fails_and_stays_in_range(found: dict[str, ProbeAnswer],
                                                 control: ProbeAnswer | None) -> None:
    detection = classify(found, control)
    assert detection.vendor is None or detection.vendor in VENDORS
    assert 0.0 <= detection.confidence <= 1.0
    assert all(0.0 < s <= 1.0 for s in detection.scores.values())
    if detection.vendor is not None:
        assert detection.confidence == max(detection.scores.values())
