"""Our serving against `mlflow models serve`, on the same model, on this machine.

    uv run python benchmarks/serving.py [--seconds 10] [--no-image]

Renders the default project (HEAD), installs it and runs its pipeline; then, in turn, loads
with wrk (one record per request over 8 connections, and batches of 1000 records):
  ours   - the project's `make bench`: `serve` started exactly as the image starts it;
  mlflow - `mlflow models serve --env-manager local` on the same fitted pipeline, from a
           virtual environment of its own (MLflow is never a dependency of the project),
           with as many workers as ours.
Prints one JSON line: ours_rps, mlflow_rps, ratio, p50_ms, p99_ms (ours, one record),
batch_rows_per_s (ours), image_mb (the project's image, built on the local base image of
tests/docker_engine.py; null with --no-image), workers. Needs wrk (apt-get install wrk).
It asserts nothing: the numbers are for the reader, and the two servers share the machine
with the load generator, so compare the ratio rather than the absolute numbers.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from contextlib import ExitStack
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
TOOLS = Path(sys.executable).parent
sys.path.insert(0, str(TEMPLATE / "tests"))

from docker_engine import build, engine  # noqa: E402  (the tests' helpers, found above)

IMAGE = "copier-mlops-bench/ml-project:latest"


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    clean["PATH"] = f"{TOOLS}{os.pathsep}{clean['PATH']}"
    clean["DVC_NO_ANALYTICS"] = "1"
    return {**clean, **extra}


def run(command: list[str], cwd: Path, **extra: str) -> str:
    result = subprocess.run(command, cwd=cwd, env=env(**extra), capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def rendered_project(scratch: Path) -> Path:
    project = scratch / "ml-project"
    copier = [str(TOOLS / "copier"), "copy", "--defaults", "--quiet", "--vcs-ref", "HEAD"]
    run([*copier, str(TEMPLATE), str(project)], TEMPLATE)
    git = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    run(["git", "init", "-q", "-b", "main"], project)
    run(["git", "add", "-A"], project)
    run([*git, "commit", "-qm", "start"], project)
    run(["make", "install"], project)
    run(["uv", "run", "--frozen", "dvc", "repro"], project)
    return project


def locked_version(project: Path, package: str) -> str:
    lock = tomllib.loads((project / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == package)


def mlflow_model(project: Path, scratch: Path) -> tuple[Path, Path]:
    """A virtual environment with MLflow and the project's scikit-learn, and the project's
    fitted pipeline saved there as an MLflow model. Returns (its bin/, the model)."""
    venv = scratch / "mlflow-venv"
    run(["uv", "venv", "-q", "--python", sys.executable, str(venv)], scratch)
    sklearn = f"scikit-learn=={locked_version(project, 'scikit-learn')}"
    # `mlflow models serve --env-manager local` starts uvicorn from PATH.
    install = ["uv", "pip", "install", "-q", "mlflow", sklearn, "uvicorn"]
    run(install, scratch, VIRTUAL_ENV=str(venv))
    model = scratch / "mlflow-model"
    save = (
        "import sys, joblib, mlflow.sklearn; "
        "mlflow.sklearn.save_model(joblib.load(sys.argv[1]), sys.argv[2])"
    )
    run([str(venv / "bin" / "python"), "-c", save, "models/model.joblib", str(model)], project)
    return venv / "bin", model


def wait_for(url: str, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server for {url} exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"{url} never answered 200")


def project_python(project: Path, code: str) -> str:
    return run(["uv", "run", "--frozen", "python", "-c", code], project).strip()


def load_mlflow(project: Path, package: str, scratch: Path, workers: int, seconds: int) -> dict:
    """mlflow models serve on a free loopback port, loaded by the project's own wrk driver
    with the same record ours got; stopped after, by its process group."""
    bin_dir, model = mlflow_model(project, scratch)
    port = project_python(project, f"import {package}.bench as b; print(b.free_port())")
    single = project_python(project, f"import {package}.bench as b; print(b.bodies()[0].decode())")
    body = scratch / "mlflow-body.json"
    body.write_text(json.dumps({"dataframe_records": json.loads(single)["records"]}))
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", str(model), "-w", str(workers)]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", port]
    server_env = env(MLFLOW_TRACKING_URI=f"sqlite:///{scratch / 'mlflow.db'}")
    server_env["PATH"] = f"{bin_dir}{os.pathsep}{server_env['PATH']}"
    with (scratch / "mlflow.log").open("w") as log:
        server = subprocess.Popen(
            command, cwd=scratch, env=server_env, stdout=log, stderr=log, start_new_session=True
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/ping", server)
        bench = ["uv", "run", "--frozen", "python", "-m", f"{package}.bench"]
        bench += ["--seconds", str(seconds), "--url", f"http://127.0.0.1:{port}/invocations"]
        return json.loads(run([*bench, "--body", str(body)], project).splitlines()[-1])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--no-image", action="store_true", help="skip building the image")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp, ExitStack() as stack:
        scratch = Path(tmp)
        project = rendered_project(scratch)
        package = next(p.name for p in (project / "src").iterdir() if (p / "bench.py").exists())
        image = ""
        if not args.no_image:
            stack.enter_context(engine())  # kept up while `make bench` reads the image size
            build(project, IMAGE)
            remove = ["docker", "image", "rm", "-f", IMAGE]
            stack.callback(subprocess.run, remove, capture_output=True, check=False)
            image = IMAGE
        bench = ["uv", "run", "--frozen", "python", "-m", f"{package}.bench"]
        bench += ["--seconds", str(args.seconds), "--image", image]
        ours = json.loads(run(bench, project).splitlines()[-1])
        cpus = f"import {package}.server as s; print(s.container_cpus())"
        workers = int(project_python(project, cpus))
        theirs = load_mlflow(project, package, scratch, workers, args.seconds)
    result = {
        "ours_rps": ours["ours_rps"],
        "mlflow_rps": theirs["rps"],
        "ratio": round(ours["ours_rps"] / theirs["rps"], 1),
        "p50_ms": ours["p50_ms"],
        "p99_ms": ours["p99_ms"],
        "batch_rows_per_s": ours["batch_rows_per_s"],
        "image_mb": ours["image_mb"],
        "workers": workers,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
