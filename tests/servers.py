"""Storage emulators on 127.0.0.1 for the DVC round trips. Each is started by a fixture and
stopped by process id when the fixture ends; nothing listens beyond loopback."""

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager

from conftest import tool


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
