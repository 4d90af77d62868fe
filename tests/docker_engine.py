"""A Docker engine and a base image made on this machine, for building the rendered image
offline. No base image can be pulled here, so one is made from Debian's packages with
debootstrap and passed to the Dockerfile through its PYTHON_IMAGE build argument."""

import os
import shutil
import signal
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
