"""Storage emulators on 127.0.0.1 for the DVC round trips. Each is started by a fixture and
stopped by process id when the fixture ends; nothing listens beyond loopback."""

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from conftest import TEMPLATE, tool


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


@contextmanager
def background(command: list[str], port: int):
    """Run a server in its own process group; kill the whole group on exit."""
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for_port(port)
        yield server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@contextmanager
def moto_s3(bucket: str):
    """An S3 API (moto) on loopback with `bucket` created; yields its endpoint URL."""
    import boto3

    port = free_port()
    with background([tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)], port):
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_bucket(Bucket=bucket)
        yield endpoint, client


AZURITE = TEMPLATE / ".ci" / "tools" / "azurite"
# Azurite's published development account (its documentation's well-known key).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@contextmanager
def azurite():
    """Azurite's Blob service (npm, under .ci/tools/azurite, run by its own Node 22) on
    loopback, in memory; yields the connection string of its development account."""
    bin_dir = AZURITE / "node_modules" / ".bin"
    if not (bin_dir / "azurite-blob").exists():
        raise FileNotFoundError(f"run `npm ci --prefix {AZURITE}` first")
    port = free_port()
    command = [
        str(bin_dir / "node"),
        str(bin_dir / "azurite-blob"),
        *("--blobHost", "127.0.0.1", "--blobPort", str(port)),
        *("--inMemoryPersistence", "--loose", "--skipApiVersionCheck", "--disableTelemetry"),
    ]
    with background(command, port):
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
        )


@dataclass(frozen=True)
class SSHServer:
    """A throwaway sshd: log in as `user` on 127.0.0.1:`port` with the private key `keyfile`;
    `known_hosts` holds the server's host key (for OpenSSH clients)."""

    port: int
    user: str
    keyfile: Path
    known_hosts: Path


@contextmanager
def throwaway_sshd(tmp_path: Path):
    """Debian's OpenSSH server on loopback, in the foreground with its own config, host key
    and authorized_keys: only the throwaway client key it makes can log in (as this user)."""
    home = tmp_path / "sshd"
    home.mkdir()
    for key in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key, "-f", str(home / key)],
            check=True,
        )
    shutil.copy(home / "client_key.pub", home / "authorized_keys")
    port = free_port()
    key_type, host_key = (home / "host_key.pub").read_text().split()[:2]
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {key_type} {host_key}\n")
    (home / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1:{port}\n"
        f"HostKey {home / 'host_key'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\n"
        f"PidFile {home / 'sshd.pid'}\n"
        # The keys live under /tmp, which is world-writable: StrictModes would refuse them.
        "StrictModes no\n"
        "UsePAM no\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "Subsystem sftp internal-sftp\n"
    )
    if os.geteuid() == 0:
        # sshd's privilege separation directory, which Debian's service unit creates.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    command = [
        "/usr/sbin/sshd",
        "-D",
        "-E",
        str(home / "sshd.log"),
        "-f",
        str(home / "sshd_config"),
    ]
    with background(command, port):
        yield SSHServer(port, getpass.getuser(), home / "client_key", home / "known_hosts")


@contextmanager
def gcs_emulator(bucket: str):
    """A Cloud Storage JSON API (PyPI gcp-storage-emulator) on loopback, in memory, with
    `bucket` created; yields its endpoint URL."""
    port = free_port()
    command = [tool("gcp-storage-emulator"), "start", "-H", "127.0.0.1", "--port", str(port)]
    with background([*command, "--in-memory", "--default-bucket", bucket, "-q"], port):
        yield f"http://127.0.0.1:{port}"
