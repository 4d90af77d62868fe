"""Wall time and size of the default project: render, install and `make ci`, cold and warm.

    uv run python benchmarks/render_and_ci.py [--runs 5]

cold install: a new uv cache, so every package is downloaded (what a new laptop sees).
warm install: a new project with the uv cache this script already filled.
cold `make ci`: the first run in a new project (trains, since nothing is cached).
warm `make ci`: the second run in the same project (DVC skips unchanged stages).
Prints medians over --runs; it asserts nothing: numbers are for the reader to compare.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
TOOLS = Path(sys.executable).parent


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def size_mb(path: Path) -> float:
    files = (p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return sum(p.stat().st_size for p in files) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = f"{TOOLS}{os.pathsep}{env['PATH']}"
    git = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(runs):
            project = Path(scratch) / f"project-{run}"
            copier = [str(TOOLS / "copier"), "copy", "--defaults", "--quiet"]
            results.setdefault("render", []).append(
                timed([*copier, "--vcs-ref", "HEAD", str(TEMPLATE), str(project)], TEMPLATE, env)
            )
            subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
            subprocess.run([*git, "add", "-A"], cwd=project, check=True)
            subprocess.run([*git, "commit", "-qm", "start"], cwd=project, check=True)
            install_env = dict(env)
            kind = "install, warm uv cache"
            if run == 0:
                install_env["UV_CACHE_DIR"] = str(Path(scratch) / "cold-uv-cache")
                kind = "install, cold uv cache"
            results.setdefault(kind, []).append(timed(["make", "install"], project, install_env))
            results.setdefault("make ci, cold", []).append(timed(["make", "ci"], project, env))
            results.setdefault("make ci, warm", []).append(timed(["make", "ci"], project, env))
        last = Path(scratch) / f"project-{runs - 1}"
        print(f"runs: {runs} (cold install: 1)")
        for name, seconds in results.items():
            every = ", ".join(f"{s:.2f}" for s in seconds)
            print(f"{name:<24} median {statistics.median(seconds):7.2f} s   all {every}")
        rendered = [p for p in last.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts]
        print(f"{'rendered files':<24} {sum(p.is_file() for p in rendered)}")
        print(f"{'.venv size':<24} {size_mb(last / '.venv'):7.1f} MB")
        shutil.rmtree(Path(scratch) / "cold-uv-cache", ignore_errors=True)


if __name__ == "__main__":
    main()
