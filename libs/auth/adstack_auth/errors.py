"""Authentication errors.

AuthError carries a short machine ``reason`` (a metrics label and part of the close reason):
``missing``, ``malformed``, ``too_large``, ``bad_signature``, ``expired``, ``not_yet_valid``,
``bad_issuer``, ``bad_audience``, ``bad_algorithm``, ``missing_claim``, ``unknown_key``,
``keys_unavailable`` (a remote JWKS could not be fetched).
"""


class AuthError(Exception):
    """A token was refused. ``str(err)`` is safe to show the client (no token content)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
