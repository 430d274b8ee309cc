"""Real RSA / EC key pairs and JWKS documents for token tests."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


class KeyPair:
    """A private key, its PEM public key, and its JWK."""

    def __init__(self, algorithm: str, kid: str) -> None:
        self.algorithm = algorithm
        self.kid = kid
        if algorithm.startswith(("RS", "PS")):
            self.private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
        self.public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def jwk(self) -> dict[str, Any]:
        algo = jwt.get_algorithm_by_name(self.algorithm)
        jwk: dict[str, Any] = json.loads(algo.to_jwk(self.private.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": self.algorithm})
        return jwk

    def sign(self, *, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {"userId": "user-1", "iat": now, "exp": now + 3600}
        payload.update(claims)
        return jwt.encode(payload, self.private, algorithm=self.algorithm,
                          headers={"kid": self.kid, **(headers or {})})

    def write_pem(self, directory: Path) -> Path:
        path = directory / f"{self.kid}.pem"
        path.write_text(self.public_pem)
        return path


def jwks_document(*pairs: KeyPair) -> bytes:
    return json.dumps({"keys": [pair.jwk() for pair in pairs]}).encode()
