"""`make experiment` and `make promote`: a parameter sweep with DVC experiments.

`run` queues one `dvc exp run` per combination of experiments.yaml's grid (DVC's sweep:
`-S name=value,value`), runs the queue one experiment after the other, each in a copy of
the workspace under .dvc/tmp/exps/ and through every stage of dvc.yaml, then lists them
with `dvc exp show`. `promote` turns the best experiment of the current commit (the
highest or lowest value of experiments.yaml's `best.metric`) into a git branch with `dvc
exp branch`: push it and open a pull request, and CI gates it against main like any change.
"""

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from . import config

GRID = Path("experiments.yaml")
# The columns of `dvc exp show` that are file hashes: the params and metrics stay.
HASH_COLUMNS = "^(data|models|reports|src)/"


class BadGrid(ValueError):
    """experiments.yaml is not a grid of params.yaml's values."""


def read_grid(path: Path = GRID, params_path: Path = config.PARAMS) -> dict[str, Any]:
    """experiments.yaml, checked: each grid name is a value of params.yaml, each list of
    values non-empty and made of numbers, booleans or plain words; `best` names a metric
    and a goal (max or min)."""
    spec = yaml.safe_load(path.read_text()) or {}
    grid, best = spec.get("grid"), spec.get("best")
    if not isinstance(grid, dict) or not grid:
        raise BadGrid(f"{path}: `grid` maps params.yaml names to lists of values to try")
    known = set(config.flatten(config.load_params(params_path)))
    for name, values in grid.items():
        if name not in known:
            raise BadGrid(
                f"{path}: {name} is not a value of {params_path} ({', '.join(sorted(known))})"
            )
        if not isinstance(values, list) or not values:
            raise BadGrid(f"{path}: {name} needs a non-empty list of values, such as [0.1, 10]")
        for value in values:
            if not isinstance(value, int | float | bool | str) or "," in str(value):
                raise BadGrid(
                    f"{path}: {name} has {value!r}; values are numbers, booleans or words "
                    "without commas"
                )
    best = best if isinstance(best, dict) else {}
    if not isinstance(best.get("metric"), str) or best.get("goal") not in ("max", "min"):
        raise BadGrid(f"{path}: `best` is a metric of {config.METRICS} and a goal, max or min")
    return spec


def run_dvc(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], check=True)


def run(jobs: int = 1) -> None:
    grid = read_grid()["grid"]
    sweep = [f"-S={name}={','.join(str(v) for v in values)}" for name, values in grid.items()]
    run_dvc("exp", "run", "--queue", *sweep)
    run_dvc("exp", "run", "--run-all", "--jobs", str(jobs))
    run_dvc("exp", "show", "--md", "--only-changed", "--drop", HASH_COLUMNS)


def best_experiment(rows: list[dict[str, Any]], metric: str, goal: str) -> tuple[str, Any]:
    """The name and value of the successful experiment with the best value of `metric`,
    from dvc.api.exp_show()'s rows."""
    column = metric if any(metric in row for row in rows) else f"{config.METRICS}:{metric}"
    done = [
        row
        for row in rows
        if row.get("Experiment") and row.get("State") == "Success" and row.get(column) is not None
    ]
    if not done:
        raise SystemExit("no successful experiment of this commit: run `make experiment` first")
    pick = max if goal == "max" else min
    chosen = pick(done, key=lambda row: row[column])
    return chosen["Experiment"], chosen[column]


def promote() -> str:
    import dvc.api

    best = read_grid()["best"]
    name, value = best_experiment(dvc.api.exp_show(), best["metric"], best["goal"])
    branch = f"exp-{name}"
    run_dvc("exp", "branch", name, branch)
    extreme = "highest" if best["goal"] == "max" else "lowest"
    return (
        f"{name} has the {extreme} {best['metric']} ({value}): it is now the branch {branch}. "
        f"Next: git push -u origin {branch}, and open a pull request from it."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "promote"])
    parser.add_argument("--jobs", type=int, default=1, help="experiments run at a time")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            run(args.jobs)
        else:
            print(promote())
    except BadGrid as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
