"""HTTP Digest (RFC 7616): test vectors, the virtual SMGW's verifier, the client, the parser."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.sim.smgw import ManualClock
from app.sim.smgw.digest import DigestOutcome, DigestServer
from app.transports.han.digest import (
    DigestClient,
    compute_ha1,
    parse_challenges,
    response_digest,
    split_challenges,
)
from app.transports.han.errors import HanProtocolError

REALM = "CONEXA HAN"
USERS = {"lv": "geheim"}


def _ha1(user: str, algorithm: str) -> str | None:
    return compute_ha1(algorithm, user, REALM, USERS[user]) if user in USERS else None


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
     ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")],
)
def test_rfc7616_example(algorithm: str, expected: str) -> None:
    ha1 = compute_ha1(algorithm, "Mufasa", "http-auth@example.org", "Circle of Life")
    assert response_digest(
        algorithm, ha1, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc="00000001",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop="auth", method="GET",
        uri="/dir/index.html",
    ) == expected


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC))


def _login(server: DigestServer, password: str = "geheim", *, override: str | None = None
           ) -> tuple[DigestClient, str]:
    client = DigestClient("lv", password, algorithm_override=override)
    client.accept(parse_challenges(server.challenges()))
    return client, client.authorization("POST", "/smgw/m2m/lv.sm/json")


def _check(server: DigestServer, header: str, uri: str = "/smgw/m2m/lv.sm/json") -> DigestOutcome:
    return server.check("POST", uri, header, _ha1).outcome


def test_challenges_announce_each_algorithm_with_one_nonce(clock: ManualClock) -> None:
    server = DigestServer(REALM, clock=clock)
    challenges = parse_challenges(server.challenges())
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    assert len({c.nonce for c in challenges}) == 1
    assert all(c.qop == ("auth",) and c.realm == REALM for c in challenges)


def test_client_honours_the_first_algorithm_and_the_override(clock: ManualClock) -> None:
    server = DigestServer(REALM, clock=clock)
    client, header = _login(server)
    assert client.algorithm == "SHA-256" and "algorithm=SHA-256" in header
    assert _check(server, header) is DigestOutcome.OK
    client, header = _login(server, override="md5")
    assert client.algorithm == "MD5" and _check(server, header) is DigestOutcome.OK


def test_wrong_password_and_unknown_user(clock: ManualClock) -> None:
    server = DigestServer(REALM, clock=clock)
    assert _check(server, _login(server, "falsch")[1]) is DigestOutcome.BAD_RESPONSE
    stranger = DigestClient("nobody", "x")
    stranger.accept(parse_challenges(server.challenges()))
    check = server.check("GET", "/", stranger.authorization("GET", "/"), _ha1)
    assert check.outcome is DigestOutcome.BAD_RESPONSE and check.user == "nobody"


def test_md5_only_quirk(clock: ManualClock) -> None:
    server = DigestServer(REALM, clock=clock, algorithms=("SHA-256",), md5_only=True)
    assert [c.algorithm for c in parse_challenges(server.challenges())] == ["SHA-256"]
    assert _check(server, _login(server)[1]) is DigestOutcome.BAD_RESPONSE
    assert _check(server, _login(server, override="MD5")[1]) is DigestOutcome.OK


def test_nc_must_grow(clock: ManualClock) -> None:
    server = DigestServer(REALM, clock=clock)
    client, header = _login(server)
    assert _check(server, header) is DigestOutcome.OK
    assert _check(server, header) is DigestOutcome.REPLAY
    assert _check(server, client.authorization("POST", "/smgw/m2m/lv.sm/json")) \
        is DigestOutcome.OK


def test_expired_nonce_is_stale_only_with_the_right_password(clock: ManualClock) -> None:
    server = DigestServer(REALM, clock=clock, nonce_lifetime=300)
    _client, good = _login(server)
    _client, bad = _login(server, "falsch")
    clock.advance(301)
    assert _check(server, good) is DigestOutcome.STALE
    assert _check(server, bad) is DigestOutcome.BAD_RESPONSE


def test_revoked_foreign_and_mismatched(clock: ManualClock) -> None:
    server = DigestServer(REALM, clock=clock)
    client, header = _login(server)
    assert _check(server, header, uri="/other") is DigestOutcome.URI_MISMATCH
    server.revoke(client.challenge.nonce)
    assert _check(server, header) is DigestOutcome.REVOKED
    other = DigestServer(REALM, clock=clock)  # another secret: its nonces are not ours
    assert _check(server, _login(other)[1]) is DigestOutcome.UNKNOWN_NONCE
    assert _check(server, "Basic bHY6Z2VoZWlt") is DigestOutcome.MISSING
    assert _check(server, 'Digest username="lv", nonce="x"') is DigestOutcome.MALFORMED


def test_renewed_nonce_remembers_its_predecessor(clock: ManualClock) -> None:
    server = DigestServer(REALM, clock=clock)
    renewed = parse_challenges(server.challenges(stale=True, continues="old"))
    assert renewed[0].stale and server.continued_from(renewed[0].nonce) == "old"


def test_several_challenges_in_one_header() -> None:
    header = ('Digest realm="a, b", qop="auth,auth-int", algorithm=SHA-256, nonce="n1", '
              'opaque="o", Digest realm="a, b", nonce="n1", algorithm=MD5, stale=TRUE')
    first, second = parse_challenges([header])
    assert first.realm == "a, b" and first.qop == ("auth", "auth-int")
    assert second.algorithm == "MD5" and second.stale and second.qop == ()


def test_quoted_strings_with_escapes() -> None:
    [(scheme, params)] = split_challenges(r'Digest realm="say \"hi\"", nonce=abc')
    assert scheme == "Digest" and params == {"realm": 'say "hi"', "nonce": "abc"}


def test_unusable_challenges_are_a_protocol_error() -> None:
    client = DigestClient("lv", "x")
    with pytest.raises(HanProtocolError):
        client.accept(parse_challenges(['Digest realm="r", nonce="n", algorithm=SHA-512-256']))
    with pytest.raises(HanProtocolError):
        parse_challenges(['Digest realm="unterminated'])


def test_password_never_in_repr() -> None:
    assert "geheim" not in repr(DigestClient("lv", "geheim"))


@given(st.text(max_size=200))
def test_parser_fails_only_with_a_protocol_error(text: str) -> None:
    with contextlib.suppress(HanProtocolError):
        parse_challenges([text])


@given(st.text(max_size=200))
def test_server_check_never_crashes_on_garbage(text: str) -> None:
    server = DigestServer(REALM, clock=ManualClock())
    outcome = server.check("GET", "/", "Digest " + text, _ha1).outcome
    assert outcome is not DigestOutcome.OK
