"""HTTP Digest access authentication (RFC 7616), the parts both ends share, and the client side.

Gateways announce one challenge per algorithm they offer (``WWW-Authenticate: Digest ...``).
The client honours the offered algorithm (RFC 7616 §3.7: the first one it supports, in the
server's order) unless the vendor profile overrides it: some CONEXA firmware announces SHA-256
but verifies only MD5 (see ``docs/han.md``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from app.errors import Text
from app.transports.han.errors import HanProtocolError

#: Hash functions by the algorithm names of RFC 7616 (``-sess`` variants share them).
HASHES: dict[str, Callable[[bytes], Any]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
}

SUPPORTED = ("SHA-256", "MD5", "SHA-256-sess", "MD5-sess")


def canonical_algorithm(name: str | None) -> str:
    """RFC 7616 names, case-insensitive; a missing algorithm means MD5 (RFC 2617)."""
    if not name:
        return "MD5"
    for known in SUPPORTED:
        if known.lower() == name.strip().lower():
            return known
    return name.strip()


def hash_hex(algorithm: str, data: str) -> str:
    base = canonical_algorithm(algorithm).removesuffix("-sess")
    return HASHES[base](data.encode("utf-8")).hexdigest()  # noqa: S324 - MD5 is the protocol


def compute_ha1(algorithm: str, user: str, realm: str, password: str) -> str:
    """``H(user:realm:password)`` (without the ``-sess`` step)."""
    return hash_hex(algorithm, f"{user}:{realm}:{password}")


def session_ha1(algorithm: str, ha1: str, nonce: str, cnonce: str) -> str:
    """HA1 for the ``-sess`` algorithms; ``ha1`` unchanged for the others."""
    if canonical_algorithm(algorithm).endswith("-sess"):
        return hash_hex(algorithm, f"{ha1}:{nonce}:{cnonce}")
    return ha1


def response_digest(
    algorithm: str,
    ha1: str,
    *,
    nonce: str,
    nc: str,
    cnonce: str,
    qop: str,
    method: str,
    uri: str,
) -> str:
    """The ``response`` value for ``qop=auth``."""
    ha1 = session_ha1(algorithm, ha1, nonce, cnonce)
    ha2 = hash_hex(algorithm, f"{method}:{uri}")
    return hash_hex(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


# --- header syntax (RFC 7235 auth-param lists) ----------------------------------------------------


def _malformed(text: str) -> HanProtocolError:
    return HanProtocolError(
        Text(f"malformed authentication header '{text[:80]}'.",
             f"fehlerhafter Authentisierungs-Header '{text[:80]}'."),
        field="WWW-Authenticate",
    )


def split_challenges(header: str) -> list[tuple[str, dict[str, str]]]:
    """Split one header value into ``(scheme, params)`` pairs; params keys are lower case.

    Handles several challenges in one value (``Digest a=1, Digest b=2``) and quoted strings with
    commas and escapes. Raises ValueError on broken syntax.
    """
    out: list[tuple[str, dict[str, str]]] = []
    i, n = 0, len(header)
    scheme: str | None = None
    params: dict[str, str] = {}

    def skip_ws(j: int) -> int:
        while j < n and header[j] in " \t,":
            j += 1
        return j

    def read_token(j: int) -> tuple[str, int]:
        start = j
        while j < n and header[j] not in " \t,=\"":
            j += 1
        return header[start:j], j

    while True:
        i = skip_ws(i)
        if i >= n:
            break
        token, i = read_token(i)
        if not token:
            raise ValueError(header)
        j = i
        while j < n and header[j] in " \t":
            j += 1
        if j < n and header[j] == "=" and scheme is not None:
            # auth-param: token = token / quoted-string
            j += 1
            while j < n and header[j] in " \t":
                j += 1
            if j < n and header[j] == '"':
                j += 1
                chars: list[str] = []
                while j < n and header[j] != '"':
                    if header[j] == "\\" and j + 1 < n:
                        j += 1
                    chars.append(header[j])
                    j += 1
                if j >= n:
                    raise ValueError(header)
                value = "".join(chars)
                j += 1
            else:
                value, j = read_token(j)
            params[token.lower()] = value
            i = j
        elif j < n and header[j] == "=" and scheme is None:
            raise ValueError(header)
        else:
            # a new scheme (possibly followed by token68, which Digest never uses)
            if scheme is not None:
                out.append((scheme, params))
            scheme, params = token, {}
            i = j
    if scheme is not None:
        out.append((scheme, params))
    return out


@dataclass(frozen=True)
class DigestChallenge:
    """One ``WWW-Authenticate: Digest`` challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    userhash: bool = False

    @classmethod
    def from_params(cls, params: dict[str, str]) -> DigestChallenge:
        if "nonce" not in params or "realm" not in params:
            raise ValueError("nonce and realm are required")
        qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
        return cls(
            realm=params["realm"],
            nonce=params["nonce"],
            algorithm=canonical_algorithm(params.get("algorithm")),
            qop=qop,
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
            userhash=params.get("userhash", "").lower() == "true",
        )


def parse_challenges(values: Iterable[str]) -> list[DigestChallenge]:
    """All Digest challenges in the ``WWW-Authenticate`` header values, in the server's order."""
    found: list[DigestChallenge] = []
    for value in values:
        try:
            for scheme, params in split_challenges(value):
                if scheme.lower() == "digest":
                    found.append(DigestChallenge.from_params(params))
        except ValueError as exc:
            raise _malformed(value) from exc
    return found


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class DigestClient:
    """Answers Digest challenges for one user; reuses a nonce with an increasing ``nc``.

    ``algorithm_override`` forces one algorithm whatever the gateway announces (a vendor quirk
    setting); ``None`` honours the gateway's first supported challenge.
    """

    def __init__(self, user: str, password: str, *, algorithm_override: str | None = None) -> None:
        self.user = user
        self._password = password
        self.algorithm_override = (
            canonical_algorithm(algorithm_override) if algorithm_override else None
        )
        self.challenge: DigestChallenge | None = None
        self.algorithm: str | None = None
        self._nc = 0

    def __repr__(self) -> str:  # never show the password
        return f"DigestClient(user={self.user!r}, algorithm={self.algorithm!r})"

    def accept(self, challenges: list[DigestChallenge]) -> DigestChallenge:
        """Pick the challenge to answer (RFC 7616 §3.7); raise HanProtocolError if none fits."""
        usable = [c for c in challenges if not c.qop or "auth" in c.qop]
        chosen: DigestChallenge | None = None
        for challenge in usable:
            if challenge.algorithm in SUPPORTED:
                chosen = challenge
                break
        if chosen is None:
            names = ", ".join(c.algorithm for c in challenges) or "none"
            raise HanProtocolError(
                Text(f"the gateway offers no usable Digest algorithm ({names}).",
                     f"das Gateway bietet kein nutzbares Digest-Verfahren an ({names})."),
                field="WWW-Authenticate",
            )
        self.challenge = chosen
        self.algorithm = self.algorithm_override or chosen.algorithm
        self._nc = 0
        return chosen

    @property
    def ready(self) -> bool:
        return self.challenge is not None

    def authorization(self, method: str, uri: str) -> str:
        """The ``Authorization`` header for the next request (``nc`` counts up)."""
        if self.challenge is None or self.algorithm is None:
            raise RuntimeError("no challenge accepted yet")
        challenge = self.challenge
        self._nc += 1
        nc = f"{self._nc:08x}"
        cnonce = secrets.token_hex(16)
        ha1 = compute_ha1(self.algorithm, self.user, challenge.realm, self._password)
        parts = [
            f"username={_quote(self.user)}",
            f"realm={_quote(challenge.realm)}",
            f"nonce={_quote(challenge.nonce)}",
            f"uri={_quote(uri)}",
            f"algorithm={self.algorithm}",
        ]
        if challenge.qop:
            digest = response_digest(self.algorithm, ha1, nonce=challenge.nonce, nc=nc,
                                     cnonce=cnonce, qop="auth", method=method, uri=uri)
            parts += [f"response={_quote(digest)}", "qop=auth", f"nc={nc}",
                      f"cnonce={_quote(cnonce)}"]
        else:  # RFC 2069 compatibility: no qop
            ha2 = hash_hex(self.algorithm, f"{method}:{uri}")
            digest = hash_hex(self.algorithm, f"{ha1}:{challenge.nonce}:{ha2}")
            parts.append(f"response={_quote(digest)}")
        if challenge.opaque is not None:
            parts.append(f"opaque={_quote(challenge.opaque)}")
        return "Digest " + ", ".join(parts)
