"""`make install` and `make ci` per task, with and without MLflow, and what MLflow adds.

    uv run python benchmarks/tasks.py [--runs 1] [--task TASK ...]

For every task of the plan (includes/plan.yml `tasks:`) and both `experiment_tracking`
answers, renders a project (HEAD), then times its first `make install` (which locks and
installs; the uv cache is warm after the first project) and its first `make ci` (trains
from scratch). Prints
one row per project: task, tracking, install and ci seconds (medians over --runs), the
.venv size and its number of installed packages; then, per task, the packages and
megabytes MLflow's tracking client adds. It asserts nothing: the numbers are for the
reader, and they move with whatever else the machine runs.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from render_and_ci import TEMPLATE, TOOLS, size_mb, timed

TRACKING = ("mlflow", "none")


def packages(venv: Path) -> set[str]:
    """The distributions installed in a project's .venv."""
    site = next(venv.glob("lib/python*/site-packages"))
    return {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}


def render(project: Path, task: str, tracking: str, env: dict[str, str]) -> None:
    copier = [str(TOOLS / "copier"), "copy", "--defaults", "--quiet", "--vcs-ref", "HEAD"]
    answers = ["--data", f"task={task}", "--data", f"experiment_tracking={tracking}"]
    subprocess.run([*copier, *answers, str(TEMPLATE), str(project)], env=env, check=True)
    git = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "start"], cwd=project, check=True)


def main() -> None:
    tasks = list(yaml.safe_load((TEMPLATE / "includes" / "plan.yml").read_text())["tasks"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--task", action="append", choices=tasks, dest="tasks")
    options = parser.parse_args()
    # Python's default, as on a laptop: processes write their bytecode (a machine that sets
    # PYTHONDONTWRITEBYTECODE would compile scikit-learn and pandas again in every process).
    env = {
        k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"}
    }
    env["PATH"] = f"{TOOLS}{os.pathsep}{env['PATH']}"
    print(f"{'task':<26} {'tracking':<8} {'install s':>9} {'ci s':>7} {'.venv MB':>9} {'pkgs':>5}")
    with tempfile.TemporaryDirectory() as scratch:
        for task in options.tasks or tasks:
            venvs = {}
            for tracking in TRACKING:
                install, ci = [], []
                for run in range(options.runs):
                    project = Path(scratch) / f"{task}-{tracking}-{run}"
                    render(project, task, tracking, env)
                    install.append(timed(["make", "install"], project, env))
                    # Sized as installed: `make ci` then adds the bytecode its processes write.
                    venvs[tracking] = (size_mb(project / ".venv"), packages(project / ".venv"))
                    ci.append(timed(["make", "ci"], project, env))
                megabytes, installed = venvs[tracking]
                print(
                    f"{task:<26} {tracking:<8} {statistics.median(install):9.1f}"
                    f" {statistics.median(ci):7.1f} {megabytes:9.1f} {len(installed):5d}",
                    flush=True,
                )
            added = venvs["mlflow"][1] - venvs["none"][1]
            megabytes = venvs["mlflow"][0] - venvs["none"][0]
            names = ", ".join(sorted(added))
            print(f"  MLflow adds {len(added)} packages, {megabytes:.1f} MB: {names}")


if __name__ == "__main__":
    sys.exit(main())
