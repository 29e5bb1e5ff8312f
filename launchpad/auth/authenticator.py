"""Who may use ComfyUI and Launchpad when ENABLE_AUTH is on: a password, API tokens, sessions.

- The password (ACCESS_PASSWORD) logs a browser in; an API token (LAUNCHPAD_API_TOKENS) works
  both as a bearer token on any request and at the login page.
- A login yields a signed session token ``<expires>.<nonce>.<signature>`` (HMAC-SHA256). The
  signing key is derived from the session secret *and* from the configured credentials, so
  changing the password or the token list signs every existing session out.
- Every comparison runs in constant time over digests, so neither the content nor the length
  of a secret leaks through timing, and a token list is checked in full, never short-circuited.
- Wrong secrets are throttled per client key (:class:`LoginLimiter`), but a right API token
  always works; nothing secret is logged.

This module is pure: the HTTP layer (server_routes/security.py) reads cookies and headers and
calls it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from .limiter import LoginLimiter
from .revocations import Revocations
from .session_secret import SessionSecret, load_session_secret

log = logging.getLogger("launchpad.auth")

MIN_PASSWORD_CHARS = 12
NOT_CONFIGURED = (
    "ENABLE_AUTH is on but no credential is set, so everything stays locked. Set ACCESS_PASSWORD "
    "(and optionally LAUNCHPAD_API_TOKENS for API clients) and restart, or unset ENABLE_AUTH."
)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def secret_equals(given: str, expected: str) -> bool:
    """Constant-time equality of two secrets of any length."""
    return hmac.compare_digest(_digest(given), _digest(expected))


def matches_any(given: str, candidates: Iterable[str]) -> bool:
    """True when ``given`` equals one of ``candidates``; always compares against all of them."""
    found = False
    for candidate in candidates:
        found |= secret_equals(given, candidate)
    return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a secret: accepted, refused, or refused because locked out."""

    ok: bool
    retry_after: float | None = None  # set when the client is locked out

    @property
    def locked(self) -> bool:
        return self.retry_after is not None


@dataclass(frozen=True)
class Session:
    token: str
    expires_at: float

    def __repr__(self) -> str:
        return f"Session(expires_at={self.expires_at})"


class Authenticator:
    """Checks secrets and sessions for one process. Build it with :meth:`from_settings`."""

    def __init__(
        self,
        *,
        enabled: bool,
        password: str | None,
        tokens: Iterable[str],
        secret: SessionSecret,
        ttl: float,
        limiter: LoginLimiter | None = None,
        clock: Callable[[], float] = time.time,
        revoked: Revocations | None = None,
    ) -> None:
        self.enabled = enabled
        self._password = password or None
        self._tokens = tuple(t for t in tokens if t)
        self.ttl = ttl
        self.clock = clock
        self.limiter = limiter or LoginLimiter(clock=clock)
        fingerprint = hashlib.sha256("\0".join([self._password or "", *sorted(self._tokens)]).encode()).digest()
        self._key = hmac.new(secret.key, b"launchpad session v1\0" + fingerprint, hashlib.sha256).digest()
        self._revoked = revoked or Revocations(None, clock)  # sessions ended by a logout, for good

    def __repr__(self) -> str:
        return f"Authenticator(enabled={self.enabled}, configured={self.configured})"

    @classmethod
    def from_settings(
        cls, settings: Settings, *, state_dir: Path | None = None, clock: Callable[[], float] = time.time
    ) -> Authenticator:
        """The authenticator for ``settings``; ``state_dir`` keeps a generated session key."""
        secret = load_session_secret(settings.session_secret, state_dir) if settings.enable_auth else SessionSecret()
        auth = cls(
            enabled=settings.enable_auth,
            password=settings.access_password,
            tokens=settings.api_tokens,
            secret=secret,
            ttl=settings.session_ttl,
            clock=clock,
            revoked=Revocations(state_dir, clock) if settings.enable_auth else None,
        )
        if auth.enabled:
            auth.log_posture(secret)
        return auth

    def log_posture(self, secret: SessionSecret) -> None:
        if not self.configured:
            log.error("LOGIN REQUIRED BUT IMPOSSIBLE: %s", NOT_CONFIGURED)
            return
        if self._password and len(self._password) < MIN_PASSWORD_CHARS:
            log.warning(
                "ACCESS_PASSWORD is shorter than %d characters; anyone with the URL can try to guess it",
                MIN_PASSWORD_CHARS,
            )
        log.info(
            "login required (password: %s, API tokens: %d, session key: %s)",
            "set" if self._password else "not set", len(self._tokens), secret.source,
        )

    @property
    def configured(self) -> bool:
        """Whether any credential exists; enabled but unconfigured means locked shut."""
        return bool(self._password or self._tokens)

    @property
    def problem(self) -> str | None:
        return NOT_CONFIGURED if self.enabled and not self.configured else None

    # --- secrets ---------------------------------------------------------------------

    def _check(self, given: str, client: str, what: str, *, password: bool) -> Verdict:
        """API tokens are long random strings: a right one always works, whatever the client key's
        throttle says (a key may be shared by everyone behind one proxy). Guesses are throttled."""
        if self._tokens and matches_any(given, self._tokens):
            return Verdict(True)
        retry = self.limiter.retry_after(client)
        if retry is not None:  # refused unchecked, and not counted: hammering earns no longer wait
            return Verdict(False, retry)
        if password and self._password and secret_equals(given, self._password):
            self.limiter.success(client)
            return Verdict(True)
        wait = self.limiter.failure(client)
        if wait is not None:
            log.warning("%s from %s refused; that client must wait %.0f s before its next try", what, client, wait)
            return Verdict(False, wait)
        log.warning("%s from %s refused", what, client)
        return Verdict(False)

    def check_login(self, given: str, client: str) -> Verdict:
        """The login page: the password or any API token."""
        return self._check(given, client, "login", password=True)

    def check_bearer(self, given: str, client: str) -> Verdict:
        """An ``Authorization: Bearer`` token (or a WebSocket ``token`` parameter)."""
        return self._check(given, client, "bearer token", password=False)

    # --- sessions --------------------------------------------------------------------

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def issue_session(self) -> Session:
        expires = int(self.clock() + self.ttl)
        payload = f"{expires}.{secrets.token_hex(16)}"
        return Session(f"{payload}.{self._sign(payload)}", float(expires))

    def _parse(self, token: str) -> tuple[float, str] | None:
        """(expiry, nonce) of a well-signed token, else None."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or len(token) > 256:
            return None
        try:
            payload = f"{parts[0]}.{parts[1]}"
            if not hmac.compare_digest(self._sign(payload), parts[2]):
                return None
        except (UnicodeEncodeError, TypeError):
            return None
        return float(parts[0]), parts[1]

    def session_valid(self, token: str) -> bool:
        parsed = self._parse(token)
        if parsed is None or not self.configured:
            return False
        expires, nonce = parsed
        return expires > self.clock() and nonce not in self._revoked

    def end_session(self, token: str) -> None:
        """Logout: the token stops working now and after a restart, not only when its cookie is gone.

        Writes to the state directory: call it from a thread.
        """
        parsed = self._parse(token)
        if parsed is None:
            return
        expires, nonce = parsed
        if expires > self.clock():
            self._revoked.add(nonce, expires)
