"""`make verify-model`: the release ships only the model that its own reproduction makes.

`make pipeline` takes models/ from the DVC remote, or from a run cache entry, whenever
dvc.lock matches, and whoever can write to the remote chose those bytes: DVC's md5 check
proves only that the file is the one dvc.lock names. So before `make build` packages
models/, this check makes the model again from the committed code, data and params alone,
in a temporary directory: the stages of dvc.yaml up to `export` (fetch, prepare, train,
export), called as functions, with params.yaml as HEAD has it. Nothing is pulled from the
remote and no run cache entry is used. Then models/ passes when

- its bytes are the reproduction's (the same sha256) and so is its manifest: training and
  export are deterministic, so on the same platform this is the rule;
- or, for a training that is not reproducible byte for byte (another BLAS, a randomised
  learner), its manifest has the reproduction's features, classes and bounds, every metric
  of `evaluate` on the validation set is within verify.max_metric_difference of the
  reproduction's, and every probability it gives there within
  verify.max_probability_difference (params.yaml); a regression's predicted values, within
  verify.max_value_difference.

Anything else is refused with both hashes: exit 1, and `make build` does not run. A stage
added to dvc.yaml before `export` belongs in `reproduce` too.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, data, export, prepare, train
from .evaluate import score
from .model import Manifest, ModelIntegrityError, OnnxModel, load, sha256

# What the reproduction reads from HEAD: a change here that is not committed is not what
# the release verifies.
COMMITTED = ("src", "dvc.yaml", str(config.PARAMS))


class Refused(Exception):
    """models/ is not the model that the committed code, data and params make."""


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise Refused(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def reproduce(into: Path) -> None:
    """fetch, prepare, train and export under `into`, as dvc.yaml runs them, with HEAD's
    params.yaml: the model and manifest land at `into`/models/."""
    changed = git("status", "--porcelain", "--untracked-files=no", "--", *COMMITTED)
    if changed:
        raise Refused(
            "the release verifies what is committed, and these files have changes: "
            f"{' '.join(line[3:] for line in changed.splitlines())}"
        )
    params = into / config.PARAMS
    params.parent.mkdir(parents=True, exist_ok=True)
    params.write_text(git("show", f"HEAD:{config.PARAMS}"))
    raw, train_data, test_data = (
        into / p for p in (config.RAW_DATA, config.TRAIN_DATA, config.TEST_DATA)
    )
    data.fetch(raw, params)
    prepare.prepare(raw, train_data, test_data, params)
    train.train(train_data, into / config.SKLEARN_MODEL, params)
    export.export(
        into / config.SKLEARN_MODEL, train_data, into / config.MODEL, into / config.MANIFEST, params
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
    rows = data.SCHEMA.encoded(validation).to_numpy()
    largest = float(np.abs(shipped.predict(rows) - reproduced.predict(rows)).max())
    what, limit = (
        ("predicted values", "max_value_difference")
        if data.SCHEMA.is_regression
        else ("probabilities", "max_probability_difference")
    )
    if largest > limits[limit]:
        problems.append(
            f"its {what} on the validation set differ from the reproduction's by up "
            f"to {largest:.3g} (verify.{limit} = {limits[limit]})"
        )
    return problems


def manifest_differences(shipped: Manifest, reproduced: Manifest) -> list[str]:
    return [
        f"its manifest's {field} differ from the reproduction's"
        for field in (
            "task",
            "features",
            "classes",
            "bounds",
            "types",
            "categories",
            "golden_record",
            "value_buckets",
        )
        if getattr(shipped, field) != getattr(reproduced, field)
    ]


def verify(scratch: Path) -> str:
    """Reproduce under `scratch` and compare; the verdict, or raises Refused."""
    if not config.MODEL.exists():
        raise Refused(f"no model at {config.MODEL}: run `make pipeline` first")
    try:
        shipped = load(config.MODEL, config.MANIFEST)
    except ModelIntegrityError as error:
        raise Refused(str(error)) from error
    shipped_sha = sha256(config.MODEL.read_bytes())
    reproduce(scratch)
    model_path, manifest_path = scratch / config.MODEL, scratch / config.MANIFEST
    reproduced_sha = sha256(model_path.read_bytes())
    commit = git("rev-parse", "--short=12", "HEAD").strip()
    if shipped_sha == reproduced_sha and config.MANIFEST.read_bytes() == manifest_path.read_bytes():
        return f"{config.MODEL} (sha256 {shipped_sha}) is the model commit {commit} reproduces"
    limits = config.load_params(scratch / config.PARAMS)["verify"]
    problems = manifest_differences(Manifest.read(config.MANIFEST), Manifest.read(manifest_path))
    if shipped_sha != reproduced_sha:
        validation = data.read(scratch / config.TEST_DATA)
        problems += differences(shipped, load(model_path, manifest_path), validation, limits)
    if problems:
        raise Refused(
            f"refusing to ship {config.MODEL} (sha256 {shipped_sha}): reproducing it from the "
            f"committed code, data and params of {commit}, with no DVC remote and no run "
            f"cache, gives sha256 {reproduced_sha}, and\n- " + "\n- ".join(problems)
        )
    return (
        f"{config.MODEL} (sha256 {shipped_sha}) is not byte-identical to the reproduction of "
        f"commit {commit} (sha256 {reproduced_sha}), but it answers the validation set alike, "
        "within the verify tolerances of params.yaml"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="verify-model-") as scratch:
        try:
            print(f"verify-model: {verify(Path(scratch))}")
        except Refused as refusal:
            print(f"verify-model: {refusal}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
