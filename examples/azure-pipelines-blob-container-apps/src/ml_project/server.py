"""`serve`: the command the image runs. Checks the model, then starts uvicorn with one
worker process per CPU the container may use.

    serve [--host 0.0.0.0] [--port 8000] [--workers N]

The port is --port, else SAGEMAKER_BIND_TO_PORT (SageMaker inference pipelines), else PORT,
else 8000. Workers: --workers, else WEB_CONCURRENCY, else the CPUs of the container.
It refuses to start on a model that is not the gated one or an unusable token (auth.py), and
warns when it listens beyond loopback with no token: predictions are then open to anyone.
"""

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import uvicorn

from . import config
from .auth import TOKEN, TokenError, configured_token, is_loopback
from .model import Manifest, ModelIntegrityError, verified_bytes

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def container_cpus() -> int:
    """The CPUs this process may use: its CPU affinity, capped by the cgroup's CPU quota
    (`docker run --cpus`, a Kubernetes limit), which os.cpu_count() does not see."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = CPU_MAX.read_text().split()
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, math.ceil(int(quota) / int(period))))


def default_port() -> int:
    return int(os.environ.get("SAGEMAKER_BIND_TO_PORT") or os.environ.get("PORT") or 8000)


def check_model(model_path: Path) -> None:
    """Refuse to start, once and before any worker, when the model is not the gated one.
    (Each worker checks again as it loads: the bytes it runs are the bytes it hashed.)"""
    manifest_path = model_path.with_name(config.MANIFEST.name)
    if model_path.exists():
        if not manifest_path.exists():
            raise ModelIntegrityError(f"{model_path} has no manifest: no hash to check")
        verified_bytes(model_path, Manifest.read(manifest_path))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=default_port())
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY") or container_cpus())
    )
    args = parser.parse_args(argv)
    try:
        check_model(Path(os.environ.get("MODEL_PATH", config.MODEL)))
        token = configured_token()
    except (ModelIntegrityError, TokenError) as error:
        sys.exit(f"serve: {error}")
    if token is None and not is_loopback(args.host):
        print(
            f"serve: WARNING: no {TOKEN} is set and {args.host} is not a loopback address: "
            f"anyone who reaches port {args.port} may predict, and their inputs count in "
            "`make drift`",
            file=sys.stderr,
        )
    if args.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker writes its metrics here, and /metrics adds them up. Set before the
        # workers start (they read it when they import prometheus_client); fresh on every
        # start, as counters of a previous run must not be added in.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-")
    uvicorn.run(
        "ml_project.serve:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        # /metrics counts every request: a log line each would cost more than a prediction.
        access_log=False,
    )


if __name__ == "__main__":
    main()
