"""A Docker engine and a base image made on this machine, for building the rendered image
offline. No base image can be pulled here, so one is made from Debian's packages with
debootstrap and passed to the Dockerfile through its PYTHON_IMAGE build argument."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

BASE_IMAGE = "copier-mlops/python-base:3.11"
# Debian bookworm's Python is 3.11, the default python_version.
PACKAGES = "python3,python3-venv,python3-pip,python-is-python3,ca-certificates"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def docker_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@contextmanager
def engine():
    """Use the running engine, or start dockerd for the session and stop it after."""
    if docker_answers():
        yield
        return
    if not shutil.which("dockerd"):
        raise RuntimeError("no dockerd: apt-get install docker.io (.ci/run does)")
    log_path = Path(tempfile.gettempdir()) / "copier-mlops-dockerd.log"
    with log_path.open("w") as log:
        daemon = subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not docker_answers():
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise RuntimeError(f"dockerd did not start, see {log_path}")
            time.sleep(1)
        yield
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)


def ensure_base_image() -> str:
    """debootstrap a minimal bookworm with Python, import it as BASE_IMAGE (once per machine).
    The machine's CA bundle goes in so that pip and uv in the build trust what it trusts."""
    inspect = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True)
    if inspect.returncode == 0:
        return BASE_IMAGE
    with tempfile.TemporaryDirectory(prefix="rootfs-") as rootfs:
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={PACKAGES}",
                "bookworm",
                rootfs,
                "http://deb.debian.org/debian",
            ],
            check=True,
            capture_output=True,
        )
        shutil.copy(CA_BUNDLE, Path(rootfs) / "etc/ssl/certs/ca-certificates.crt")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(Path(rootfs) / cache, ignore_errors=True)
        changes = [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV PIP_BREAK_SYSTEM_PACKAGES=1",  # a throwaway build stage, not a system
            f"ENV PIP_CERT={CA_BUNDLE}",
            f"ENV SSL_CERT_FILE={CA_BUNDLE}",
            'CMD ["python3"]',
        ]
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        flags = [arg for change in changes for arg in ("--change", change)]
        subprocess.run(
            ["docker", "import", *flags, "-", BASE_IMAGE],
            stdin=tar.stdout,
            check=True,
            capture_output=True,
        )
        tar.wait()
    return BASE_IMAGE


@contextmanager
def run_container(image: str, port: int, *command: str):
    """Run `image` (`command` instead of its CMD, if given) with a read-only root and /tmp
    in memory, its `port` published on a free loopback port; yields (name, base URL) and
    removes the container after."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        host_port = probe.getsockname()[1]
    name = f"copier-mlops-test-{host_port}"
    subprocess.run(
        ["docker", "run", "--detach", "--name", name, "--read-only", "--tmpfs", "/tmp"]
        + ["--publish", f"127.0.0.1:{host_port}:{port}", image, *command],
        check=True,
        capture_output=True,
    )
    try:
        yield name, f"http://127.0.0.1:{host_port}"
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)


def build(project: Path, tag: str) -> None:
    """Build the project's image on the local base image (no registry is reachable)."""
    subprocess.run(
        ["docker", "build", "--build-arg", f"PYTHON_IMAGE={ensure_base_image()}", "-t", tag, "."],
        cwd=project,
        check=True,
        capture_output=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
