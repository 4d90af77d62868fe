"""Smoke test of a running service: /health answers ok and /predict answers a real record.

`python -m <package>.smoke URL` exits non-zero when the service is not healthy, so a
deploy can roll back on it. With a serving token in this shell (SERVING_API_TOKEN or
SERVING_API_TOKEN_FILE, as the service reads it), /predict is called with it.
"""

import json
import sys
import time
import urllib.error
import urllib.request

from .auth import configured_token
from .data import FEATURES, load_raw


class SmokeTestError(RuntimeError):
    pass


def _call(url: str, body: dict | None = None, token: bytes | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token.decode()}"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, {}


def sample_record() -> dict[str, float | int | str]:
    """The first record of the data, as a client would send it."""
    return load_raw()[list(FEATURES)].head(1).to_dict("records")[0]


def smoke_test(base_url: str, wait_seconds: float = 60) -> None:
    """Wait for /health to be ok, then check that /predict returns one prediction."""
    base_url = base_url.rstrip("/")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            status, body = _call(f"{base_url}/health")
        except OSError as error:  # connection refused while the service starts
            status, body = 0, {"error": str(error)}
        if status == 200 and body.get("status") == "ok":
            break
        if time.monotonic() > deadline:
            raise SmokeTestError(f"{base_url}/health answered {status} {body}")
        time.sleep(2)
    status, body = _call(f"{base_url}/predict", {"records": [sample_record()]}, configured_token())
    if status != 200 or len(body.get("predictions", [])) != 1:
        raise SmokeTestError(f"{base_url}/predict answered {status} {body}")


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
    try:
        smoke_test(url)
    except SmokeTestError as error:
        sys.exit(f"smoke test failed: {error}")
    print(f"smoke test passed: {url}")
