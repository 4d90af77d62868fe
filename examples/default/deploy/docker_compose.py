"""Docker Compose on one host: each environment is its own compose project and port.

Set DOCKER_HOST (for example ssh://deploy@host) to deploy to a remote Docker host; the
smoke test then calls that host.
"""

import os
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlparse

PROJECT = "ml-project"
HOST_PORTS = {"staging": 8001, "production": 8000}
# The service's INPUT_LOG (Dockerfile), on the volume compose.yaml mounts at /app/logs.
INPUT_LOG = "/app/logs/inputs.jsonl"


def _compose(env: str, *args: str, image: str = "") -> str:
    variables = {**os.environ, "IMAGE_REF": image or "unused", "HOST_PORT": str(HOST_PORTS[env])}
    command = ["docker", "compose", "--project-name", f"{PROJECT}-{env}", *args]
    return subprocess.run(command, env=variables, check=True, capture_output=True, text=True).stdout


def current(env: str) -> str | None:
    """The image the environment's container runs now, None when nothing runs."""
    images = _compose(env, "ps", "--format", "{{.Image}}").split()
    return images[0] if images else None


def release(env: str, image: str) -> None:
    _compose(env, "up", "--detach", "--wait", "--wait-timeout", "120", image=image)


def endpoint(env: str) -> str:
    host = urlparse(os.environ.get("DOCKER_HOST", "")).hostname
    if not host or os.environ.get("DOCKER_HOST", "").startswith("unix://"):
        host = "127.0.0.1"
    return f"http://{host}:{HOST_PORTS[env]}"


def restore(env: str, previous: str) -> None:
    release(env, previous)


def inputs(env: str) -> str:
    """The inputs the environment's container recorded (JSON lines), for `make inputs`.
    FileNotFoundError when there is nothing to read: no Docker host, no container, no log."""
    try:
        running = current(env)
    except (OSError, subprocess.CalledProcessError) as error:
        if os.environ.get("DOCKER_HOST"):
            detail = getattr(error, "stderr", None) or error
            raise RuntimeError(f"docker on {os.environ['DOCKER_HOST']}: {detail}") from error
        reason = f"DOCKER_HOST is not set and no local Docker answers: {error}"
        raise FileNotFoundError(reason) from error
    if running is None:
        raise FileNotFoundError(f"no container runs in the compose project {PROJECT}-{env}")
    with tempfile.TemporaryDirectory() as copy_dir:
        copy = Path(copy_dir) / "inputs.jsonl"
        try:
            # cp, not exec cat: it reads the volume through the Docker API, no shell needed.
            _compose(env, "cp", f"api:{INPUT_LOG}", str(copy))
        except subprocess.CalledProcessError as error:
            if "no such" in error.stderr.lower() or "not found" in error.stderr.lower():
                raise FileNotFoundError(f"{PROJECT}-{env} has recorded nothing yet") from error
            raise RuntimeError(f"docker compose cp: {error.stderr.strip()}") from error
        return copy.read_text()
