"""JWT verification and subscription permissions (pure: no network I/O except JWKS fetch)."""

from adstack_auth.claims import Claims
from adstack_auth.errors import AuthError
from adstack_auth.permissions import can_subscribe
from adstack_auth.tokens import TokenVerifier, VerifierConfig

__all__ = ["AuthError", "Claims", "TokenVerifier", "VerifierConfig", "can_subscribe"]
