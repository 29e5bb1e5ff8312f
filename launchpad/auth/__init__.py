"""The login, when ENABLE_AUTH is on: who may use ComfyUI and Launchpad.

``authenticator`` checks passwords and tokens (in constant time) and signs sessions bound to
the credentials; ``limiter`` slows down wrong secrets per client; ``revocations`` remembers
sessions ended by a logout across restarts; ``session_secret`` is the signing key. Imported
only when auth is on: the HTTP layer's gate (server_routes/security.py) is the caller.
"""

from __future__ import annotations

from .authenticator import NOT_CONFIGURED, Authenticator, matches_any, secret_equals

__all__ = ["NOT_CONFIGURED", "Authenticator", "matches_any", "secret_equals"]
