"""The bearer token that predictions require, when one is configured.

SERVING_API_TOKEN holds the token itself (an environment variable filled from a secret
store), or SERVING_API_TOKEN_FILE names a file that holds it (a mounted secret); set one,
not both. Neither set, or SERVING_API_TOKEN empty: predictions are open, as on a laptop.
The token guards the predict routes only: health checks stay open for the platform's
probes, and /metrics for the scraper (it carries counts and latencies, never inputs).
"""

import hmac
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

TOKEN = "SERVING_API_TOKEN"
TOKEN_FILE = "SERVING_API_TOKEN_FILE"
# Shorter tokens are refused: they can be guessed.
MIN_TOKEN_LENGTH = 16


class TokenError(RuntimeError):
    """The token configuration is unusable: the service must not start."""


def configured_token(environ: Mapping[str, str] = os.environ) -> bytes | None:
    """The token predictions require, or None when predictions are open."""
    value, path = environ.get(TOKEN, ""), environ.get(TOKEN_FILE, "")
    if value and path:
        raise TokenError(f"set {TOKEN} or {TOKEN_FILE}, not both")
    if path:
        try:
            value = Path(path).read_text().strip()
        except OSError as error:
            raise TokenError(f"{TOKEN_FILE}={path}: {error.strerror}") from error
        if not value:
            raise TokenError(f"{TOKEN_FILE}={path} is empty")
    if not value:
        return None
    if len(value) < MIN_TOKEN_LENGTH or not value.isascii() or not value.isprintable():
        raise TokenError(
            f"the serving token must be at least {MIN_TOKEN_LENGTH} printable ASCII characters "
            "(e.g. `openssl rand -hex 32`)"
        )
    return value.encode()


def bearer_matches(authorization: bytes | None, token: bytes) -> bool:
    """Whether an Authorization header carries `token` as a bearer token. The comparison
    takes the same time whatever the header holds, so timing reveals nothing of the token."""
    scheme, _, presented = (authorization or b"").partition(b" ")
    return hmac.compare_digest(presented.strip(), token) and scheme.lower() == b"bearer"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
