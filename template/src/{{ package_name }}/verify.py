"""`make verify-model`: the release ships only the model that its own reproduction makes.

`make pipeline` takes models/ from the DVC remote, or from a run cache entry, whenever
dvc.lock matches, and whoever can write to the remote chose those bytes: DVC's md5 check
proves only that the file is the one dvc.lock names. So before `make build` packages
models/, this check makes the model again from the committed code, data and params alone:
a git worktree of HEAD, where `dvc repro --force --no-run-cache` runs every stage up to the
one that writes the model, with a DVC cache of its own (nothing pulled, no run cache entry
reused). Then models/ passes when

- its bytes are the reproduction's (the same sha256) and so is its manifest: training and
  export are deterministic, so on the same platform this is the rule;
- or, for a training that is not reproducible byte for byte (another BLAS, a randomised
  learner), its manifest has the reproduction's features, classes and bounds, every metric
  of `evaluate` on the validation set is within verify.max_metric_difference of the
  reproduction's, and every probability it gives there within
  verify.max_probability_difference (params.yaml).

Anything else is refused with both hashes: exit 1, and `make build` does not run.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import config
from .data import FEATURES
from .evaluate import score
from .model import Manifest, ModelIntegrityError, OnnxModel, load, sha256


class Refused(Exception):
    """models/ is not the model that the committed code, data and params make."""


def model_stage(dvc_yaml: Path) -> str:
    """The name of the dvc.yaml stage that writes config.MODEL."""
    for name, stage in yaml.safe_load(dvc_yaml.read_text())["stages"].items():
        outs = [out if isinstance(out, str) else next(iter(out)) for out in stage.get("outs", [])]
        if str(config.MODEL) in outs:
            return name
    raise Refused(f"no stage in {dvc_yaml} writes {config.MODEL}")


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise Refused(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def reproduce(worktree: Path) -> None:
    """Check HEAD out into `worktree` and run its pipeline up to the model there. The stages
    import the worktree's own src/, not the installed project."""
    git("worktree", "add", "--detach", "--quiet", str(worktree), "HEAD")
    env = {**os.environ, "PYTHONPATH": str(worktree / "src")}
    stage = model_stage(worktree / "dvc.yaml")
    command = [sys.executable, "-m", "dvc", "repro", "--force", "--no-run-cache", stage]
    result = subprocess.run(command, cwd=worktree, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise Refused(
            f"reproducing the model from HEAD failed ({' '.join(command[1:])}):\n"
            f"{result.stdout[-4000:]}{result.stderr[-4000:]}"
        )


def differences(
    shipped: OnnxModel, reproduced: OnnxModel, validation: pd.DataFrame, limits: dict
) -> list[str]:
    """What keeps a model that is not byte-identical from passing as the reproduction."""
    problems = []
    ours, theirs = score(shipped, validation), score(reproduced, validation)
    for metric, value in ours.items():
        if abs(value - theirs[metric]) > limits["max_metric_difference"]:
            problems.append(
                f"{metric} is {value} on the validation set, the reproduction's "
                f"{theirs[metric]} (verify.max_metric_difference = "
                f"{limits['max_metric_difference']})"
            )
    rows = validation[list(FEATURES)].to_numpy()
    largest = float(np.abs(shipped.probabilities(rows) - reproduced.probabilities(rows)).max())
    if largest > limits["max_probability_difference"]:
        problems.append(
            f"its probabilities on the validation set differ from the reproduction's by up "
            f"to {largest:.3g} (verify.max_probability_difference = "
            f"{limits['max_probability_difference']})"
        )
    return problems


def manifest_differences(shipped: Manifest, reproduced: Manifest) -> list[str]:
    return [
        f"its manifest's {field} differ from the reproduction's"
        for field in ("features", "classes", "bounds", "golden_record")
        if getattr(shipped, field) != getattr(reproduced, field)
    ]


def verify(worktree: Path) -> str:
    """Reproduce into `worktree` and compare; the verdict, or raises Refused."""
    if not config.MODEL.exists():
        raise Refused(f"no model at {config.MODEL}: run `make pipeline` first")
    try:
        shipped = load(config.MODEL, config.MANIFEST)
    except ModelIntegrityError as error:
        raise Refused(str(error)) from error
    shipped_sha = sha256(config.MODEL.read_bytes())
    reproduce(worktree)
    model_path, manifest_path = worktree / config.MODEL, worktree / config.MANIFEST
    reproduced_sha = sha256(model_path.read_bytes())
    commit = git("rev-parse", "--short=12", "HEAD").strip()
    if shipped_sha == reproduced_sha and config.MANIFEST.read_bytes() == manifest_path.read_bytes():
        return f"{config.MODEL} (sha256 {shipped_sha}) is the model commit {commit} reproduces"
    limits = config.load_params(worktree / config.PARAMS)["verify"]
    problems = manifest_differences(Manifest.read(config.MANIFEST), Manifest.read(manifest_path))
    if shipped_sha != reproduced_sha:
        validation = pd.read_csv(worktree / config.TEST_DATA)
        problems += differences(shipped, load(model_path, manifest_path), validation, limits)
    if problems:
        uncommitted = git("status", "--porcelain", "--untracked-files=no").strip()
        raise Refused(
            f"refusing to ship {config.MODEL} (sha256 {shipped_sha}): reproducing it from the "
            f"committed code, data and params of {commit}, with no DVC remote and no run "
            f"cache, gives sha256 {reproduced_sha}, and\n- "
            + "\n- ".join(problems)
            + (
                "\n(the working tree has uncommitted changes: the reproduction uses the commit)"
                if uncommitted
                else ""
            )
        )
    return (
        f"{config.MODEL} (sha256 {shipped_sha}) is not byte-identical to the reproduction of "
        f"commit {commit} (sha256 {reproduced_sha}), but it answers the validation set alike, "
        "within the verify tolerances of params.yaml"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    worktree = Path(tempfile.mkdtemp(prefix="verify-model-")) / "head"
    try:
        print(f"verify-model: {verify(worktree)}")
    except Refused as refusal:
        print(f"verify-model: {refusal}", file=sys.stderr)
        return 1
    finally:
        if worktree.exists():
            git("worktree", "remove", "--force", str(worktree))
        shutil.rmtree(worktree.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
