"""HAN accounts of the virtual SMGW: users, failed-login lockout, one session per user, and the
self-test repeat lock. Plain objects driven by an injectable clock; no I/O.

Behaviour (see ``docs/han.md``):

* Lockout (Anmeldesperre): ``max_failures`` consecutive failed logins of a user name lock it for
  ``lock_seconds``; while locked even the right password is refused and the answer carries the
  remaining time. A successful login resets the counter. Unknown user names are counted the same
  way, so the lock does not reveal which names exist.
* Sessions: one per user. ``takeover`` (default): a new login ends the older session, whose next
  request must log in again. ``refuse``: a new login is refused while the older session is
  active; it ends after ``idle_timeout`` seconds without a request.
* Self-test: at most one every ``interval`` seconds per gateway (CONEXA: 10 min, else 403).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from app.sim.smgw.clock import Clock
from app.transports.han.digest import compute_ha1

DIGEST_ALGORITHMS = ("SHA-256", "MD5")


class Role(enum.StrEnum):
    """HAN roles (TR-03109-1): consumer (IF_GW_CON) and service technician (IF_GW_SRV)."""

    CONSUMER = "consumer"
    SERVICE_TECHNICIAN = "service_technician"


@dataclass
class HanUser:
    """A HAN account. The password itself is not kept, only its Digest HA1 per algorithm."""

    name: str
    role: Role
    endpoint: str
    ha1: dict[str, str] = field(default_factory=dict, repr=False)
    client_cert_sha256: frozenset[str] = frozenset()
    #: usage-point ids the account sees; ``None``: all of the gateway
    usage_points: tuple[str, ...] | None = None
    enabled: bool = True

    @classmethod
    def create(
        cls,
        name: str,
        role: Role,
        endpoint: str,
        *,
        realm: str,
        password: str | None = None,
        client_cert_sha256: frozenset[str] = frozenset(),
        usage_points: tuple[str, ...] | None = None,
        enabled: bool = True,
    ) -> HanUser:
        ha1 = (
            {alg: compute_ha1(alg, name, realm, password) for alg in DIGEST_ALGORITHMS}
            if password is not None
            else {}
        )
        return cls(name, role, endpoint, ha1, client_cert_sha256, usage_points, enabled)


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    lock_seconds: float = 300.0


class LoginGuard:
    """Counts failed logins per user name and locks the name for a while."""

    def __init__(self, policy: LockoutPolicy, clock: Clock) -> None:
        self.policy = policy
        self.clock = clock
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, dt.datetime] = {}

    def remaining(self, user: str) -> float:
        """Seconds the name stays locked (0: not locked)."""
        until = self._locked_until.get(user)
        if until is None:
            return 0.0
        left = (until - self.clock.now()).total_seconds()
        if left <= 0:
            del self._locked_until[user]
            self._failures.pop(user, None)
            return 0.0
        return left

    def failures(self, user: str) -> int:
        return self._failures.get(user, 0)

    def failure(self, user: str) -> float:
        """Record a failed login; return the lock's remaining seconds if the name is now locked."""
        if self.remaining(user):
            return self.remaining(user)
        if len(self._failures) > 10_000:  # bound the table against name spraying
            self._failures.clear()
        count = self._failures.get(user, 0) + 1
        self._failures[user] = count
        if count >= self.policy.max_failures:
            return self.lock(user, self.policy.lock_seconds)
        return 0.0

    def success(self, user: str) -> None:
        self._failures.pop(user, None)

    def lock(self, user: str, seconds: float) -> float:
        self._locked_until[user] = self.clock.now() + dt.timedelta(seconds=seconds)
        return float(seconds)


class SessionPolicy(enum.StrEnum):
    TAKEOVER = "takeover"
    REFUSE = "refuse"


@dataclass
class Session:
    user: str
    token: str
    started: dt.datetime
    last_seen: dt.datetime


@dataclass(frozen=True)
class SessionDecision:
    """Outcome of a request under the one-session-per-user rule."""

    accepted: bool
    session: Session | None = None
    new: bool = False
    replaced: Session | None = None
    busy_seconds: float = 0.0


class SessionTable:
    """One session per user, ended by a newer login (takeover) or refused (refuse)."""

    def __init__(self, policy: SessionPolicy, idle_timeout: float, clock: Clock) -> None:
        self.policy = policy
        self.idle_timeout = idle_timeout
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._ended: dict[str, set[str]] = {}

    def current(self, user: str) -> Session | None:
        session = self._sessions.get(user)
        if session is None:
            return None
        if (self.clock.now() - session.last_seen).total_seconds() >= self.idle_timeout:
            self._end(user, session)
            return None
        return session

    def _end(self, user: str, session: Session) -> None:
        self._sessions.pop(user, None)
        ended = self._ended.setdefault(user, set())
        if len(ended) > 1000:
            ended.clear()
        ended.add(session.token)

    def was_ended(self, user: str, token: str) -> bool:
        """Whether ``token`` belonged to a session of ``user`` that has ended."""
        return token in self._ended.get(user, set())

    def use(self, user: str, token: str) -> SessionDecision:
        """A request of ``user`` authenticated with ``token`` (a nonce or a TLS connection)."""
        now = self.clock.now()
        session = self.current(user)
        if session is not None and session.token == token:
            session.last_seen = now
            return SessionDecision(True, session)
        if session is not None and self.policy is SessionPolicy.REFUSE:
            idle = (now - session.last_seen).total_seconds()
            return SessionDecision(False, busy_seconds=max(0.0, self.idle_timeout - idle))
        replaced = session
        if replaced is not None:
            self._end(user, replaced)
        fresh = Session(user, token, now, now)
        self._sessions[user] = fresh
        return SessionDecision(True, fresh, new=True, replaced=replaced)

    def rebind(self, user: str, old_token: str, new_token: str) -> None:
        """Carry the session over to a renewed nonce (after ``stale=true``)."""
        session = self.current(user)
        if session is not None and session.token == old_token:
            session.token = new_token

    def end(self, user: str) -> None:
        session = self._sessions.get(user)
        if session is not None:
            self._end(user, session)


class SelfTestLocked(Exception):  # noqa: N818 - a state, not a failure of the program
    """The self-test ran less than the repeat interval ago."""

    def __init__(self, remaining: float) -> None:
        super().__init__(f"self-test locked for {remaining:.0f} s")
        self.remaining = remaining


class SelfTestGate:
    """Allows a HAN-triggered self-test at most every ``interval`` seconds."""

    def __init__(self, interval: float, clock: Clock) -> None:
        self.interval = interval
        self.clock = clock
        self.last_run: dt.datetime | None = None

    def remaining(self) -> float:
        if self.last_run is None:
            return 0.0
        left = self.interval - (self.clock.now() - self.last_run).total_seconds()
        return max(0.0, left)

    def start(self) -> dt.datetime:
        """Mark a run now; raise SelfTestLocked within the interval."""
        left = self.remaining()
        if left > 0:
            raise SelfTestLocked(left)
        self.last_run = self.clock.now()
        return self.last_run
