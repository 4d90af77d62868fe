"""`make bench`: load this project's server, started exactly as the image starts it (`serve`,
one worker per CPU), with wrk, and print one JSON line:

    {"ours_rps": ..., "p50_ms": ..., "p99_ms": ..., "batch_rows_per_s": ..., "image_mb": ...}

ours_rps, p50_ms, p99_ms: one record per request over --connections connections;
batch_rows_per_s: records a second in batches of MAX_RECORDS; image_mb: the size of --image
when Docker has it, else null. Needs `wrk` (Debian/Ubuntu: apt-get install wrk).
Numbers are for comparing two runs on the same machine; nothing here asserts a speed.

    python -m <package>.bench --url URL --body FILE

loads any other server (another version, another tool) the same way and prints its
requests per second and latencies.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from .data import FEATURES, load_raw
from .serve import MAX_RECORDS
from .server import container_cpus

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = assert(io.open("{body}", "rb"))
wrk.body = file:read("*a")
file:close()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * UNITS_MS[unit]


def wrk(url: str, body: bytes, connections: int, seconds: int) -> dict[str, float]:
    """POST `body` to `url` for `seconds` over `connections` connections (one wrk thread,
    so that the load generator leaves the other CPUs to the server)."""
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        body_path = Path(scratch) / "body.json"
        body_path.write_bytes(body)
        script = Path(scratch) / "post.lua"
        script.write_text(LUA.format(body=body_path))
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script]
        output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if failed:
        sys.exit(f"bench: {failed.group(1)} answers were not 2xx, so the numbers mean nothing")
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)$", output, re.MULTILINE))
    return {
        "rps": round(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), 1),
        "p50_ms": round(_milliseconds(percentiles["50"]), 3),
        "p99_ms": round(_milliseconds(percentiles["99"]), 3),
    }


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"bench: the server exited with {server.returncode}\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"bench: {url} never answered 200")


@contextmanager
def served(log_dir: Path):
    """`serve` on a free loopback port, as the image runs it; stopped after, by its pid."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("serve")), "--host", "127.0.0.1"]
    env = {**os.environ, "INPUT_LOG": str(log_dir / "inputs.jsonl")}
    env.pop("INPUT_LOG_URL", None)
    with (log_dir / "server.log").open("w") as server_log:
        server = subprocess.Popen(
            command + ["--port", str(port)],
            env=env,
            start_new_session=True,
            stdout=server_log,
            stderr=server_log,
        )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/health", server, log_dir / "server.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def image_mb(image: str) -> float | None:
    if not image or not shutil.which("docker"):
        return None
    inspect = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True)
    if inspect.returncode != 0:
        return None
    return round(json.loads(inspect.stdout)[0]["Size"] / 1e6, 1)


def bodies() -> tuple[bytes, bytes]:
    """One real record, and MAX_RECORDS records drawn from the dataset."""
    features = load_raw()[list(FEATURES)]
    single = features.head(1).to_dict("records")
    batch = features.sample(MAX_RECORDS, replace=True, random_state=0).to_dict("records")
    return json.dumps({"records": single}).encode(), json.dumps({"records": batch}).encode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--image", default="", help="the image whose size to report")
    parser.add_argument("--url", help="load this server instead of starting ours")
    parser.add_argument("--body", type=Path, help="the request body to send to --url")
    args = parser.parse_args(argv)
    if args.url:
        wrk(args.url, args.body.read_bytes(), args.connections, 2)  # warm-up
        print(json.dumps(wrk(args.url, args.body.read_bytes(), args.connections, args.seconds)))
        return
    single, batch = bodies()
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch, served(Path(scratch)) as url:
        wrk(f"{url}/predict", single, args.connections, 2)  # warm-up
        one = wrk(f"{url}/predict", single, args.connections, args.seconds)
        # Batches are CPU work: a connection per worker keeps them busy without queueing.
        many = wrk(f"{url}/predict", batch, container_cpus(), args.seconds)
    result = {
        "ours_rps": one["rps"],
        "p50_ms": one["p50_ms"],
        "p99_ms": one["p99_ms"],
        "batch_rows_per_s": round(many["rps"] * MAX_RECORDS),
        "image_mb": image_mb(args.image),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
