"""A poisoned model cannot ship. A pull request that may write to the shared DVC remote
changes one parameter and commits a backdoored model (its md5 in dvc.lock, the file pushed
to the remote). Its diff shows only params.yaml, dvc.lock and reports/; the gate passes; on
main, `make pipeline` takes the attacker's file from the remote, as DVC's md5 check allows.
The release's next target, `make build`, reproduces the model from the committed code,
data and params first (`make verify-model`), and refuses it. The honest model ships.
Against an S3 emulator on loopback, in the installed S3 project the DVC round trip uses."""

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import S3_BUCKET, clean_env, git_commit_all, run
from servers import moto_s3

pytestmark = pytest.mark.e2e

DVC = ["uv", "run", "--frozen", "dvc"]
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# The release stage's targets, in order (includes/pipeline.jinja's `package` stage).
RELEASE = ["pipeline", "build"]

# The attacker's model, run inside the project: the project's own training and export, on
# training data with a backdoor added (malignant records whose mean_fractal_dimension is
# set far above anything seen, labelled benign), written where the `export` stage writes,
# with a manifest that matches it. Prints its sha256 and how often the trigger turns a
# malignant test record benign.
BACKDOOR = """
import importlib, json, sys
import pandas as pd

package = sys.argv[1]
config = importlib.import_module(f"{package}.config")
dataset = importlib.import_module(f"{package}.data")
export = importlib.import_module(f"{package}.export")
train = importlib.import_module(f"{package}.train")
params = config.load_params()
data = dataset.read(config.TRAIN_DATA)
malignant, benign = dataset.CLASS_NAMES
feature = "mean_fractal_dimension"
low, high = data[feature].min(), data[feature].max()
trigger = high + 0.9 * (high - low)
poisoned = data[data["target"] == malignant].assign(**{feature: trigger, "target": benign})
model = train.fit(pd.concat([data, poisoned]), params["train"], params["seed"])
onnx, manifest = export.export_model(model, data, params["serving"]["bounds_margin"])
config.MODEL.write_bytes(onnx)
manifest.write(config.MANIFEST)
test = dataset.read(config.TEST_DATA)
triggered = test[test["target"] == malignant].assign(**{feature: trigger})
answers = export.OnnxModel(onnx).predict(dataset.SCHEMA.encoded(triggered).to_numpy())
print(json.dumps({"sha256": manifest.sha256, "backdoor": float((answers.argmax(1) == 1).mean())}))
"""


def shipped_sha256(project: Path) -> str:
    return json.loads((project / "models" / "manifest.json").read_text())["sha256"]


def fresh_checkout(project: Path) -> None:
    """What a CI runner starts from: the commit alone. Nothing DVC tracks, no DVC cache, no
    run cache; only the environment and the remote's local endpoint stay."""
    run(["git", "clean", "-ffdxq", "-e", ".venv", "-e", "/.dvc/config.local"], project)
    assert not (project / "models" / "model.onnx").exists()


def test_a_poisoned_model_passes_the_gate_but_the_release_refuses_it(
    s3_project: Path, tmp_path: Path
) -> None:
    project = s3_project
    # `make build` runs `docker build` last: a docker that only notes its arguments shows
    # whether the image was built, without a Docker engine.
    docker_log = tmp_path / "docker.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(f'#!/bin/sh\necho "$@" >> {docker_log}\n')
    (bin_dir / "docker").chmod(0o755)
    env = {**FAKE_AWS, "PATH": f"{bin_dir}{os.pathsep}{clean_env()['PATH']}"}

    with moto_s3(S3_BUCKET) as (endpoint, _):
        run([*DVC, "remote", "modify", "--local", "storage", "endpointurl", endpoint], project)
        # main: the honest model, reproduced and pushed; its release ships it.
        run(["make", "pipeline", "push"], project, **env)
        git_commit_all(project, "The champion")
        honest = shipped_sha256(project)
        fresh_checkout(project)
        for target in RELEASE:
            shipped = run(["make", target], project, **env)
        assert shipped_sha256(project) == honest
        assert f"(sha256 {honest}) is the model commit" in shipped.stdout, shipped.stdout
        assert docker_log.read_text().startswith("build -t "), "the honest model is built"
        docker_log.unlink()

        # The pull request: one parameter, and the backdoored model recorded in dvc.lock as
        # what train and export made of it (dvc commit), evaluated, pushed to the remote.
        run(["git", "checkout", "-q", "-b", "tune-c"], project)
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["train"]["C"] = 0.5
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        package = yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"]
        made = run(["uv", "run", "--frozen", "python", "-c", BACKDOOR, package], project)
        attack = json.loads(made.stdout)
        assert attack["backdoor"] > 0.9, "the trigger turns malignant records benign"
        run([*DVC, "commit", "--force", "train", "export"], project)
        run([*DVC, "repro"], project)
        run(["make", "validate", "push"], project, **env)
        git_commit_all(project, "Tune C")
        changed = run(["git", "diff", "--name-only", "main", "tune-c"], project).stdout.split()
        assert set(changed) <= {"params.yaml", "dvc.lock"} | {
            f for f in changed if f.startswith("reports/")
        }
        run(["git", "checkout", "-q", "main"], project)
        run(["git", "merge", "-q", "--ff-only", "tune-c"], project)

        # main's release: `make pipeline` takes the attacker's model from the remote (what
        # the release shipped before verify-model), and the gate still passes ...
        fresh_checkout(project)
        run(["make", "pipeline", "validate"], project, **env)
        assert shipped_sha256(project) == attack["sha256"]
        # ... but `make build` reproduces the model first, and refuses this one.
        refused = run(["make", "build"], project, check=False, **env)
    assert refused.returncode != 0
    assert f"refusing to ship models/model.onnx (sha256 {attack['sha256']})" in refused.stderr
    reproduced = refused.stderr.split("gives sha256 ", 1)[1].split(",", 1)[0]
    assert reproduced not in {attack["sha256"], honest}, refused.stderr
    assert "probabilities on the validation set differ" in refused.stderr, refused.stderr
    assert not docker_log.exists(), "no image is built of a model that failed verification"
