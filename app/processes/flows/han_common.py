"""Shared parts of the HAN flows: trust on first use, access data, vendor, adapter, link status.

Every HAN flow starts with :func:`check_trust` (the pinned, self-signed HAN certificate; on first
contact the technician confirms its fingerprint) and then opens :func:`han_session` per step: it
gets the access data (demo scenario, keyring, or asked and offered to be saved), picks the adapter
(detected when the target says ``auto``), logs in over the pinned TLS link and keeps the HAN
link's status in the :class:`~app.context.AppContext` up to date. Passwords are never written to
step data, traces or the audit log.

Account convention: ``HanTarget.user`` is the technician's own account (service technician,
``IF_GW_SRV``); the consumer log needs the consumer's account (``IF_GW_CON``), given in the job
data or asked for.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.context import AppContext, HanTarget, Link, LinkState
from app.errors import ConfigurationError, InvalidValue, SmgwctError, Text
from app.processes.engine import StepContext, StepOutcome
from app.security.secrets import (
    KeyringSecretStore,
    SecretStore,
    SecretStoreUnavailable,
    secret_key,
)
from app.transports.han import adapter_class
from app.transports.han.base import HanAdapter, HanCredentials, LogKind, UserRole
from app.transports.han.http import HanHttpClient, HanResponse
from app.transports.han.pinning import (
    CertificateCandidate,
    PinnedCertificate,
    PinStore,
    fetch_candidate,
)

#: ``confirm(prompt, detail) -> bool`` as the UI port offers it
Confirm = Callable[[Text, Text], Awaitable[bool]]
#: ``trace(direction, text)`` on the ``han`` channel
Trace = Callable[[str, str], None]
Say = Callable[[float | None, Text], None]

#: The role whose account reads each log (Theben: the log of the account's role).
LOG_ROLE: dict[LogKind, UserRole] = {
    LogKind.SYSTEM: UserRole.SERVICE_TECHNICIAN,
    LogKind.CONSUMER: UserRole.CONSUMER,
}

#: Key of an optional :class:`SecretStore` in ``AppContext.extras`` (tests, embedding apps).
SECRET_STORE_EXTRA = "secret_store"  # noqa: S105 - a dictionary key, not a secret

TRUST_PROMPT = Text("Trust this gateway certificate?", "Diesem Gateway-Zertifikat vertrauen?")



def not_accepted() -> SmgwctError:
    """The technician did not trust the certificate shown on first contact."""
    return SmgwctError(
        Text("The gateway certificate was not accepted.",
             "Das Gateway-Zertifikat wurde nicht akzeptiert."),
        hint=Text("Without a trusted certificate the tool does not talk to the gateway.",
                  "Ohne vertrauenswürdiges Zertifikat kommuniziert das Werkzeug nicht mit dem "
                  "Gateway."),
    )


def trust_detail(candidate: CertificateCandidate) -> Text:
    """What the technician compares before trusting a certificate on first contact."""
    info = candidate.info
    return Text(
        f"Subject: {info.subject}\nSHA-256: {candidate.fingerprint_display}\n"
        "Compare the fingerprint with the gateway's label or the operator's data sheet.",
        f"Inhaber: {info.subject}\nSHA-256: {candidate.fingerprint_display}\n"
        "Vergleichen Sie den Fingerabdruck mit dem Typschild des Gateways oder dem "
        "Datenblatt des Betreibers.",
    )


# -- context ------------------------------------------------------------------------------------


def app_context(ctx: StepContext) -> AppContext:
    """The flow's services as an :class:`AppContext` (a programming error otherwise)."""
    services = ctx.services
    if not isinstance(services, AppContext):
        raise ConfigurationError("the HAN flows need an AppContext as their services")
    return services


def han_target(app: AppContext) -> HanTarget:
    """The gateway's HAN target; a clear error when none is set."""
    if app.han is None:
        raise ConfigurationError(
            Text("No gateway address is set.", "Es ist keine Gateway-Adresse eingestellt."),
            field="han_host",
            hint=Text("Enter the gateway's HAN address in the connection settings.",
                      "Tragen Sie die HAN-Adresse des Gateways in den "
                      "Verbindungseinstellungen ein."),
        )
    return app.han


# -- trust on first use -------------------------------------------------------------------------


async def trust_on_first_use(
    han: HanTarget,
    confirm: Confirm,
    *,
    store: PinStore | None = None,
    say: Say | None = None,
    trace: Trace | None = None,
) -> PinnedCertificate:
    """The pinned HAN certificate; on first contact, pin it after an explicit confirmation."""
    store = store if store is not None else PinStore()
    pin = store.get(smgw_id=han.smgw_id, host=han.host, port=han.port)
    if pin is not None:
        return pin
    if say is not None:
        say(None, Text("Fetching the gateway's certificate…",
                       "Zertifikat des Gateways wird abgerufen…"))
    candidate = await fetch_candidate(han.host, han.port)
    if trace is not None:
        trace("info", f"first contact: {candidate.info.subject} sha256={candidate.sha256}")
    if not await confirm(TRUST_PROMPT, trust_detail(candidate)):
        raise not_accepted()
    return store.confirm(candidate, candidate.sha256, smgw_id=han.smgw_id)


async def pinned_certificate(ctx: StepContext, han: HanTarget,
                             store: PinStore | None = None) -> PinnedCertificate:
    """:func:`trust_on_first_use` asking through the flow's UI port."""
    return await trust_on_first_use(
        han, ctx.ui.confirm, store=store, say=ctx.progress,
        trace=lambda direction, text: ctx.trace("han", direction, text),
    )


def remember_pin(han: HanTarget, pin: PinnedCertificate) -> None:
    """Keep the pin on the target (what the connection panel and later steps see)."""
    han.pinned_pem, han.pin_sha256, han.tls_group = pin.pem, pin.sha256, pin.group
    if pin.smgw_id and not han.smgw_id:
        han.smgw_id = pin.smgw_id


async def check_trust(ctx: StepContext) -> StepOutcome:
    """Step: the gateway's HAN certificate is pinned (asking on first contact)."""
    app = app_context(ctx)
    han = han_target(app)
    app.update_link(Link.HAN, state=LinkState.CONNECTING, peer=f"{han.host}:{han.port}")
    store = PinStore()
    first = store.get(smgw_id=han.smgw_id, host=han.host, port=han.port) is None
    try:
        pin = await pinned_certificate(ctx, han, store)
    except SmgwctError as exc:
        app.update_link(Link.HAN, state=LinkState.FAILED, last_error=exc.message)
        raise
    remember_pin(han, pin)
    ctx.trace("han", "info", f"pinned sha256={pin.sha256}")
    short = pin.sha256[:16]
    return StepOutcome(
        {"host": han.host, "port": han.port, "sha256": pin.sha256, "first_contact": first,
         "smgw_id": pin.smgw_id},
        Text(f"Certificate {short}… {'confirmed and pinned' if first else 'pinned'}",
             f"Zertifikat {short}… {'bestätigt und gepinnt' if first else 'gepinnt'}"),
    )


# -- access data --------------------------------------------------------------------------------


def secret_store(app: AppContext) -> SecretStore | None:
    """The store for HAN passwords: the context's, else the OS keyring; None if unusable."""
    given = app.extras.get(SECRET_STORE_EXTRA)
    if given is not None:
        return given  # type: ignore[no-any-return]
    try:
        return KeyringSecretStore()
    except SecretStoreUnavailable:
        return None
    except Exception:  # noqa: BLE001 - a broken keyring package must not stop the flow
        return None


def password_key(owner: str, user: str) -> str:
    """``han-password/<SMGW ID or host>/<user>`` (the keyring entry of a HAN password)."""
    return secret_key("han-password", owner.replace("/", "_"), user.replace("/", "_"))


def demo_password(app: AppContext, user: str) -> str | None:
    """In demo mode: the password of the demo scenario's account ``user`` (training data)."""
    name = getattr(app.demo, "scenario_name", None)
    if not name:
        return None
    from app.sim.smgw import Scenario  # only in demo mode

    try:
        spec = Scenario.load(name).user(user)
    except SmgwctError:
        return None
    return spec.password if spec is not None else None


def _demo_role(app: AppContext, user: str) -> UserRole | None:
    name = getattr(app.demo, "scenario_name", None)
    if not name:
        return None
    from app.sim.smgw import Scenario

    try:
        spec = Scenario.load(name).user(user)
    except SmgwctError:
        return None
    return UserRole(spec.role.value) if spec is not None else None


def check_role(app: AppContext, user: str, role: UserRole) -> None:
    """Refuse an account of the wrong role where the tool can know it (demo accounts).

    A real gateway does not tell an account's role; CONEXA answers ``log`` with the log of the
    account's role, so the account named for a log must have that log's role."""
    actual = _demo_role(app, user)
    if actual is None or actual is role:
        return
    names = {UserRole.CONSUMER: Text("a consumer account", "ein Konto des Letztverbrauchers"),
             UserRole.SERVICE_TECHNICIAN: Text("a service technician account",
                                               "ein Servicetechniker-Konto")}
    raise InvalidValue(
        Text(f"{user} is {names[actual].en}, but {names[role].en} is needed here.",
             f"{user} ist {names[actual].de}, hier wird aber {names[role].de} gebraucht."),
        field="user",
        hint=Text("Name the account of the right role.",
                  "Geben Sie das Konto der passenden Rolle an."),
    )


def demo_user(app: AppContext, role: UserRole) -> str | None:
    """In demo mode: the demo scenario's first account with ``role``."""
    name = getattr(app.demo, "scenario_name", None)
    if not name:
        return None
    from app.sim.smgw import Scenario

    try:
        scenario = Scenario.load(name)
    except SmgwctError:
        return None
    return next((u.name for u in scenario.users if u.role.value == role.value), None)


def _read_secret(store: SecretStore | None, key: str) -> str | None:
    if store is None:
        return None
    try:
        return store.get(key)
    except SecretStoreUnavailable:
        return None


def _check_user_name(value: str) -> None:
    if not value.strip():
        raise InvalidValue(Text("Enter the user name.", "Bitte den Benutzernamen eingeben."),
                           field="user")


async def account_user(ctx: StepContext, app: AppContext, role: UserRole,
                       given: str | None = None) -> str:
    """The HAN user name for ``role``: given, the target's (service technician), or asked."""
    if given:
        return given
    han = han_target(app)
    if role is UserRole.SERVICE_TECHNICIAN and han.user:
        return han.user
    default = demo_user(app, role)
    prompt = (
        Text("User name of the consumer's HAN account (IF_GW_CON)",
             "Benutzername des HAN-Kontos des Letztverbrauchers (IF_GW_CON)")
        if role is UserRole.CONSUMER
        else Text("User name of your HAN service technician account (IF_GW_SRV)",
                  "Benutzername Ihres HAN-Kontos als Servicetechniker (IF_GW_SRV)")
    )
    user = (await ctx.ui.enter_value(prompt, validator=_check_user_name, default=default)).strip()
    if role is UserRole.SERVICE_TECHNICIAN:
        han.user = user
    return user


async def credentials(ctx: StepContext, app: AppContext, user: str,
                      role: UserRole) -> HanCredentials:
    """Access data for ``user``: demo scenario, keyring, or asked (and offered to be saved)."""
    han = han_target(app)
    demo = demo_password(app, user)
    if demo is not None:
        ctx.trace("han", "info", f"user {user}: demo account, password from the demo scenario")
        return HanCredentials(user, demo, role=role)
    store = secret_store(app)
    owners = [o for o in (han.smgw_id, han.host) if o]
    key = password_key(owners[0], user)
    for owner in owners:  # saved under the SMGW ID, or under the address before it was known
        stored = _read_secret(store, password_key(owner, user))
        if stored is not None:
            ctx.trace("han", "info", f"user {user}: password from the keyring")
            return HanCredentials(user, stored, role=role)
    password = await ctx.ui.enter_value(
        Text(f"HAN password of the user {user}", f"HAN-Passwort des Benutzers {user}"),
        validator=_check_password, secret=True,
    )
    if store is not None and await ctx.ui.confirm(
        Text("Save the password in the keyring?", "Passwort im Schlüsselbund speichern?"),
        Text("It is kept in the operating system's protected password store and used for this "
             "gateway and user from now on.",
             "Es wird im geschützten Passwortspeicher des Betriebssystems abgelegt und künftig "
             "für dieses Gateway und diesen Benutzer verwendet."),
    ):
        try:
            store.set(key, password)
            ctx.trace("han", "info", f"user {user}: password saved in the keyring")
        except SecretStoreUnavailable as exc:
            ctx.trace("han", "info", f"user {user}: password not saved ({exc.message.en})")
    return HanCredentials(user, password, role=role)


def _check_password(value: str) -> None:
    if not value:
        raise InvalidValue(Text("Enter the password.", "Bitte das Passwort eingeben."),
                           field="password")


# -- vendor and adapter -------------------------------------------------------------------------


async def resolve_vendor(han: HanTarget, pin: PinnedCertificate,
                         trace: Trace | None = None) -> str:
    """The vendor dialect: the target's, else detected from unauthenticated answers over the
    pinned link (:mod:`app.transports.han.detect`; no credentials are sent)."""
    vendor = (han.vendor or "auto").strip().lower()
    if vendor != "auto":
        return vendor
    from app.transports.han.detect import detect_vendor, require_vendor

    detection = await detect_vendor(han.host, han.port, pin)
    detected = require_vendor(detection)
    if trace is not None:
        trace("info", f"vendor detected: {detected} ({detection.confidence:.2f}; "
                      + "; ".join(r.en for r in detection.reasons) + ")")
    han.vendor = detected
    return detected


def build_adapter(vendor: str, han: HanTarget, creds: HanCredentials, pin: PinnedCertificate,
                  store: PinStore | None) -> HanAdapter:
    """The vendor's adapter for ``han`` with the pinned certificate and the access data."""
    cls: Any = adapter_class(vendor)  # every adapter takes these keyword arguments
    adapter: HanAdapter = cls(han.host, han.port, credentials=creds, pin=pin, pin_store=store)
    return adapter


def trace_http(adapter: HanAdapter, trace: Trace) -> None:
    """Write each HTTP exchange of ``adapter`` to the trace: method, path, what was asked
    (JSON method calls, form actions), status, size and time. Never headers (Digest), never
    response bodies, never form fields other than ``action``."""
    client = getattr(adapter, "http", None)
    if not isinstance(client, HanHttpClient):
        return
    send = client.request

    async def traced(method: str, path: str, *, body: bytes | None = None,
                     content_type: str | None = None) -> HanResponse:
        trace("tx", f"{method} {path}{_describe_body(body, content_type)}")
        started = time.perf_counter()
        response = await send(method, path, body=body, content_type=content_type)
        elapsed = (time.perf_counter() - started) * 1000
        trace("rx", f"HTTP {response.status} {len(response.body)} bytes {elapsed:.0f} ms")
        return response

    client.request = traced  # type: ignore[method-assign]


def _describe_body(body: bytes | None, content_type: str | None) -> str:
    if not body:
        return ""
    if content_type == "application/json":
        with contextlib.suppress(ValueError):
            data = json.loads(body)
            if isinstance(data, dict) and "method" in data:
                shown = json.dumps(data, separators=(",", ":"))
                return " " + (shown if len(shown) <= 160 else shown[:157] + "…")
    if content_type and content_type.startswith("application/x-www-form-urlencoded"):
        from urllib.parse import parse_qs

        action = parse_qs(body.decode("ascii", "replace")).get("action")
        if action:
            return f" action={action[0]}"
    return f" ({len(body)} bytes)"


@dataclass(frozen=True)
class HanSession:
    """A logged-in HAN connection of a step: the adapter and how it was opened."""

    adapter: HanAdapter
    user: str
    role: UserRole
    vendor: str
    pin: PinnedCertificate
    host: str
    port: int


@contextlib.asynccontextmanager
async def han_session(ctx: StepContext, role: UserRole, *,
                      user: str | None = None) -> AsyncIterator[HanSession]:
    """Log in as ``role`` over the pinned HAN link; the adapter is closed afterwards.

    The link status follows: connecting, connected (with the pinned fingerprint and the SMGW
    ID once known) or failed with the error's text.
    """
    app = app_context(ctx)
    han = han_target(app)
    store = PinStore()
    app.update_link(Link.HAN, state=LinkState.CONNECTING, peer=han.smgw_id or
                    f"{han.host}:{han.port}")
    adapter: HanAdapter | None = None
    try:
        pin = await pinned_certificate(ctx, han, store)
        remember_pin(han, pin)
        name = await account_user(ctx, app, role, user)
        check_role(app, name, role)
        creds = await credentials(ctx, app, name, role)
        vendor = await resolve_vendor(han, pin, lambda d, t: ctx.trace("han", d, t))
        adapter = build_adapter(vendor, han, creds, pin, store)
        trace_http(adapter, lambda d, t: ctx.trace("han", d, t))
        ctx.progress(None, Text(f"Logging in as {name}…", f"Anmeldung als {name}…"))
        await adapter.connect(progress=ctx.progress)
        app.update_link(Link.HAN, state=LinkState.CONNECTED, fingerprint=pin.sha256,
                        peer=han.smgw_id or f"{han.host}:{han.port}")
        yield HanSession(adapter, name, role, vendor, pin, han.host, han.port)
    except SmgwctError as exc:
        app.update_link(Link.HAN, state=LinkState.FAILED, last_error=exc.message)
        raise
    finally:
        if adapter is not None:
            with contextlib.suppress(Exception):
                await adapter.close()


def mark_identified(ctx: StepContext, smgw_id: str) -> None:
    """After ``identify``: the SMGW ID on the target and in the link status."""
    app = app_context(ctx)
    han = han_target(app)
    han.smgw_id = smgw_id
    status = app.link(Link.HAN)
    if status.state is LinkState.CONNECTED:
        app.update_link(Link.HAN, peer=smgw_id)
