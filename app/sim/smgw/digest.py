"""Server side of HTTP Digest access authentication (RFC 7616) for the virtual SMGW.

* Algorithms MD5 and SHA-256, ``qop=auth``; one challenge per announced algorithm, sharing one
  nonce. With ``md5_only`` the server announces as configured but verifies only MD5 responses,
  as some CONEXA firmware does.
* Nonces are self-authenticating (time stamp, random part, HMAC), expire after
  ``nonce_lifetime`` seconds (then ``stale=true`` if the response was otherwise right) and can be
  revoked (a session ended by a newer login).
* ``nc`` must grow with every request on a nonce: a repeated or smaller ``nc`` is a replay.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from app.sim.smgw.clock import Clock
from app.transports.han.digest import canonical_algorithm, response_digest, split_challenges

_MAX_NONCES = 4096


class DigestOutcome(enum.Enum):
    OK = "ok"
    MISSING = "missing"  # no Digest credentials at all
    MALFORMED = "malformed"  # broken header or missing parameters (400)
    URI_MISMATCH = "uri-mismatch"  # credentials for another request-target (400)
    BAD_RESPONSE = "bad-response"  # wrong password, unknown user, algorithm not accepted
    STALE = "stale"  # right response, but the nonce has expired
    UNKNOWN_NONCE = "unknown-nonce"  # a nonce this server never issued
    REVOKED = "revoked"  # the nonce's session has ended
    REPLAY = "replay"  # nc did not increase


@dataclass(frozen=True)
class DigestCheck:
    outcome: DigestOutcome
    user: str | None = None
    nonce: str | None = None
    algorithm: str | None = None


class DigestServer:
    """Issues Digest challenges and verifies credentials against per-user HA1 values."""

    def __init__(
        self,
        realm: str,
        *,
        clock: Clock,
        algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
        md5_only: bool = False,
        nonce_lifetime: float = 300.0,
    ) -> None:
        self.realm = realm
        self.clock = clock
        self.algorithms = tuple(canonical_algorithm(a) for a in algorithms)
        self.accepted = ("MD5",) if md5_only else self.algorithms
        self.nonce_lifetime = nonce_lifetime
        self.opaque = secrets.token_hex(16)
        self._secret = secrets.token_bytes(32)
        self._nc: OrderedDict[str, int] = OrderedDict()
        self._revoked: OrderedDict[str, None] = OrderedDict()
        self._continues: OrderedDict[str, str] = OrderedDict()

    # -- nonces -----------------------------------------------------------------------------------

    def new_nonce(self, *, continues: str | None = None) -> str:
        stamp = struct.pack(">d", self.clock.now().timestamp())
        body = stamp + secrets.token_bytes(12)
        mac = hmac.new(self._secret, body, hashlib.sha256).digest()[:12]
        nonce = base64.urlsafe_b64encode(body + mac).decode("ascii").rstrip("=")
        if continues is not None:
            self._remember(self._continues, nonce, continues)
        return nonce

    def _nonce_time(self, nonce: str) -> float | None:
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != 32:
            return None
        body, mac = raw[:20], raw[20:]
        if not hmac.compare_digest(mac, hmac.new(self._secret, body, hashlib.sha256).digest()[:12]):
            return None
        return float(struct.unpack(">d", body[:8])[0])

    def revoke(self, nonce: str) -> None:
        self._remember(self._revoked, nonce, None)

    def continued_from(self, nonce: str) -> str | None:
        """The expired nonce that ``nonce`` renews (after a ``stale=true`` challenge)."""
        return self._continues.get(nonce)

    @staticmethod
    def _remember(table: OrderedDict, key: str, value: object) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > _MAX_NONCES:
            table.popitem(last=False)

    # -- challenges -------------------------------------------------------------------------------

    def challenges(self, *, stale: bool = False, continues: str | None = None) -> list[str]:
        """``WWW-Authenticate`` values, one per announced algorithm, with one fresh nonce."""
        nonce = self.new_nonce(continues=continues)
        out = []
        for algorithm in self.algorithms:
            params = [f'realm="{self.realm}"', 'qop="auth"', f"algorithm={algorithm}",
                      f'nonce="{nonce}"', f'opaque="{self.opaque}"']
            if stale:
                params.append("stale=true")
            out.append("Digest " + ", ".join(params))
        return out

    # -- verification -----------------------------------------------------------------------------

    def check(
        self,
        method: str,
        request_uri: str,
        header: str | None,
        ha1_for: Callable[[str, str], str | None],
    ) -> DigestCheck:
        """Verify ``Authorization``; ``ha1_for(user, algorithm)`` gives the stored HA1."""
        if not header or not header.strip().lower().startswith("digest"):
            return DigestCheck(DigestOutcome.MISSING)
        try:
            parsed = split_challenges(header)
        except ValueError:
            return DigestCheck(DigestOutcome.MALFORMED)
        if len(parsed) != 1 or parsed[0][0].lower() != "digest":
            return DigestCheck(DigestOutcome.MALFORMED)
        p = parsed[0][1]
        required = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
        if any(not p.get(k) for k in required) or p["qop"] != "auth":
            return DigestCheck(DigestOutcome.MALFORMED, p.get("username"))
        user, nonce = p["username"], p["nonce"]
        algorithm = canonical_algorithm(p.get("algorithm"))
        if p["uri"] != request_uri:
            return DigestCheck(DigestOutcome.URI_MISMATCH, user, nonce, algorithm)
        try:
            nc = int(p["nc"], 16)
        except ValueError:
            return DigestCheck(DigestOutcome.MALFORMED, user, nonce, algorithm)
        issued = self._nonce_time(nonce)
        if issued is None:
            return DigestCheck(DigestOutcome.UNKNOWN_NONCE, user, nonce, algorithm)
        if nonce in self._revoked:
            return DigestCheck(DigestOutcome.REVOKED, user, nonce, algorithm)
        ha1 = ha1_for(user, algorithm) if algorithm in self.accepted else None
        if p["realm"] != self.realm or ha1 is None:
            return DigestCheck(DigestOutcome.BAD_RESPONSE, user, nonce, algorithm)
        expected = response_digest(algorithm, ha1, nonce=nonce, nc=p["nc"], cnonce=p["cnonce"],
                                   qop="auth", method=method, uri=p["uri"])
        if not hmac.compare_digest(expected, p["response"].lower()):
            return DigestCheck(DigestOutcome.BAD_RESPONSE, user, nonce, algorithm)
        if self.clock.now().timestamp() - issued > self.nonce_lifetime:
            return DigestCheck(DigestOutcome.STALE, user, nonce, algorithm)
        if nc <= self._nc.get(nonce, 0):
            return DigestCheck(DigestOutcome.REPLAY, user, nonce, algorithm)
        self._remember(self._nc, nonce, nc)
        return DigestCheck(DigestOutcome.OK, user, nonce, algorithm)
