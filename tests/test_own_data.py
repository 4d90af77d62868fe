"""Your own data, of the other kind, as the rendered README tells it: in a clone of the
default project (README command 1's, after its `make ci`: a binary classification), the
README's data commands run as written bring in a user's CSV with a category column and a
regression target (`dvc add`, then `make schema`, which picks the task from the target) and
a Parquet file from a URL (`dvc import-url`, `dvc update`, served on 127.0.0.1). Changing
only params.yaml (the source, and the gate's and verify's numbers of a regression) and the
reviewed schema, `make ci` passes, the service answers a record with the category with a
value and a 422 naming the field for an unknown category, and `make drift` judges the
category by its frequencies. Each kind of bad file is refused naming the column and its
rows."""

import csv
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import clean_env, data_commands, run
from servers import background, free_port

pytestmark = pytest.mark.e2e

PLANS = ("basic", "pro", "team")


# What a customer's plan adds to their lifetime value.
PLAN_VALUE = {"basic": 0.0, "pro": 150.0, "team": 400.0}
NOISE = 20.0


def lifetime_value(tenure: int, plan: str, spend: float) -> float:
    """The rule a linear model learns: a year of the monthly spend, a little per month of
    tenure, and what the plan adds."""
    return 12 * spend + 8 * tenure + PLAN_VALUE[plan]


def customers(count: int = 600, seed: int = 7) -> list[dict]:
    """Customer records whose lifetime value (the target, a number) is the rule plus noise."""
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        plan = rng.choices(PLANS, weights=(5, 3, 2))[0]
        tenure, spend = rng.randint(1, 71), round(rng.uniform(5, 120), 2)
        value = round(lifetime_value(tenure, plan, spend) + rng.gauss(0, NOISE), 2)
        records.append(
            {"tenure": tenure, "plan": plan, "monthly_spend": spend, "lifetime_value": value}
        )
    return records


def as_csv(records: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def package_of(project: Path) -> str:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"]


def to_parquet(project: Path, source: Path, out: Path, rows: int | None = None) -> None:
    """The CSV `source` (its first `rows`) as Parquet, written by the project's pandas."""
    code = "import pandas, sys; frame = pandas.read_csv(sys.argv[1])"
    code += f"; frame.head({rows or 'len(frame)'}).to_parquet(sys.argv[2])"
    run(["uv", "run", "--frozen", "python", "-c", code, str(source), str(out)], project)


REGRESSION_PARAMS = {
    "  source: sample\n": "  source: data/source/customers.csv\n",
    "  min:\n    accuracy: 0.9\n    f1: 0.9\n": "  min:\n    r2: 0.9\n  max:\n    rmse: 30\n",
    "  max_probability_difference: 0.001\n": "  max_value_difference: 0.01\n",
}


@pytest.fixture(scope="module")
def own(ci_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of the default project on the user's data, after its `make ci`; the output
    of the README's data commands is in .data-commands.log, of `make ci` in .make-ci.log."""
    root = tmp_path_factory.mktemp("own-data")
    project = root / "ml-project"
    run(["git", "clone", "-q", str(ci_project), str(project)], root)
    # The lock file that command 1's `make install` wrote: the same environment, from cache.
    shutil.copy(ci_project / "uv.lock", project / "uv.lock")
    start = time.monotonic()
    run(["make", "install"], project)
    installed = time.monotonic() - start
    your_file = root / "customers.csv"
    your_file.write_text(as_csv(customers()))
    served = root / "served"
    served.mkdir()
    to_parquet(project, your_file, served / "customers.parquet")
    port = free_port()
    server = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", served]
    env = {
        "YOUR_FILE": str(your_file),
        "DATA_URL": f"http://127.0.0.1:{port}/customers.parquet",
    }
    log = []
    commands = data_commands((project / "README.md").read_text())
    with background([*server, str(port)], port):
        for command in commands:
            if command.startswith("uv run dvc update"):
                # The source has a newer version by then: 400 of its rows.
                to_parquet(project, your_file, served / "customers.parquet", rows=400)
            log.append(run(["bash", "-c", command], project, **env).stdout)
    (project / ".data-commands.log").write_text("\n".join(log))

    # The user's review of what `make schema` wrote: ranges widened to what is possible.
    schema_path = project / "data" / "schema.yaml"
    schema = yaml.safe_load(schema_path.read_text())
    widened = {"tenure": {"min": 0, "max": 600}, "monthly_spend": {"min": 0, "max": 10000}}
    for feature in schema["features"]:
        feature.update(widened.get(feature["name"], {}))
    schema_path.write_text(yaml.safe_dump(schema, sort_keys=False))
    # params.yaml: the source, and what a regression is gated and verified on (README, "Your
    # own data"): R squared at least, the error (in the target's units) at most.
    params_path = project / "params.yaml"
    params = params_path.read_text()
    for old, new in REGRESSION_PARAMS.items():
        assert old in params, old
        params = params.replace(old, new)
    params_path.write_text(params)

    start = time.monotonic()
    # Hypothesis's quick profile: the thorough fuzzing is the default project's.
    output = run(["make", "ci"], project, HYPOTHESIS_PROFILE="quick").stdout
    print(f"own data: make install {installed:.1f} s, make ci {time.monotonic() - start:.1f} s")
    (project / ".make-ci.log").write_text(output)
    return project


def test_the_readme_commands_track_import_and_describe_the_data(own: Path) -> None:
    commands = data_commands((own / "README.md").read_text())
    assert any("dvc add" in c for c in commands) and any("dvc import-url" in c for c in commands)
    tracked = yaml.safe_load((own / "data" / "source" / "customers.csv.dvc").read_text())
    assert tracked["outs"][0]["path"] == "customers.csv"
    imported = yaml.safe_load((own / "data" / "source" / "customers.parquet.dvc").read_text())
    assert imported["deps"][0]["path"].startswith("http://127.0.0.1:")
    # `dvc update` took the newer version, and it matches the schema too.
    check = ["uv", "run", "--frozen", "python", "-m", f"{package_of(own)}.data", "--check"]
    assert "400 rows match" in run([*check, "data/source/customers.parquet"], own).stdout
    schema = yaml.safe_load((own / "data" / "schema.yaml").read_text())
    # The target is a number of many values: `make schema` made the task regression.
    assert schema["task"] == "regression"
    assert schema["target"] == {"name": "lifetime_value"}
    types = {feature["name"]: feature["type"] for feature in schema["features"]}
    assert types == {"tenure": "integer", "plan": "category", "monthly_spend": "float"}
    plan = next(feature for feature in schema["features"] if feature["name"] == "plan")
    assert plan["categories"] == list(PLANS)


def test_make_ci_passes_on_the_users_data(own: Path) -> None:
    output = (own / ".make-ci.log").read_text()
    assert "Running stage 'fetch'" in output and "Running stage 'evaluate'" in output
    # The project's own tests ran on this data, the category's drift test with them.
    summary = re.search(r"^=+ (.*) in [\d.]+s =+$", output, re.MULTILINE).group(1)
    assert "passed" in summary and "skipped" not in summary and "failed" not in summary
    manifest = json.loads((own / "models" / "manifest.json").read_text())
    assert manifest["task"] == "regression"
    assert manifest["features"] == ["tenure", "plan", "monthly_spend"]
    assert manifest["categories"] == {"plan": list(PLANS)}
    assert manifest["classes"] == []
    metrics = json.loads((own / "reports" / "metrics.json").read_text())
    assert set(metrics) == {"rmse", "mae", "r2"}
    # The rule is linear: what is left is the noise.
    assert metrics["r2"] >= 0.99 and metrics["rmse"] <= 1.5 * NOISE, metrics
    assert "tests/gate/test_thresholds.py .." in output


def post(url: str, records: list[dict]) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/predict",
        data=json.dumps({"records": records}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_serving_answers_a_value_takes_the_category_and_drift_judges_it(own: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        ["make", "serve", f"PORT={port}"],
        cwd=own,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    records = [
        {key: value for key, value in record.items() if key != "lifetime_value"}
        for record in customers(seed=11)[:300]
    ]
    try:
        smoke = ["uv", "run", "--frozen", "python", "-m", f"{package_of(own)}.smoke", url]
        assert "smoke test passed" in run(smoke, own).stdout
        team = {"tenure": 30, "plan": "team", "monthly_spend": 90.0}
        status, body = post(url, [{**team, "plan": "basic"}, team])
        assert status == 200, body
        basic_value, team_value = (answer["value"] for answer in body["predictions"])
        assert set(body["predictions"][0]) == {"value"}
        assert basic_value == pytest.approx(lifetime_value(30, "basic", 90.0), abs=3 * NOISE)
        assert team_value - basic_value == pytest.approx(PLAN_VALUE["team"], abs=2 * NOISE)
        status, body = post(url, [{"tenure": 3, "plan": "gold", "monthly_spend": 90.0}])
        assert status == 422
        assert [problem["loc"] for problem in body["detail"]] == [["records", 0, "plan"]]
        for start in range(0, len(records), 100):
            assert post(url, records[start : start + 100])[0] == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    quiet = run(["make", "drift"], own)
    assert "no drift in 3 features" in quiet.stdout
    report = json.loads((own / "reports" / "drift.json").read_text())
    assert set(report["plan"]) == {"psi", "chi2_p_value", "drifted"}
    # Every customer on the rarest plan: that one feature drifts (make's exit is 2 for 3).
    shifted = own / "logs" / "shifted.jsonl"
    shifted.write_text("".join(json.dumps({**r, "plan": "team"}) + "\n" for r in records))
    loud = run(["make", "drift", f"INPUTS={shifted}"], own, check=False)
    assert loud.returncode != 0
    assert "drift in 1 of 3 features: plan" in loud.stdout


GOOD = as_csv(customers(count=20, seed=3))
HEADER, *ROWS = GOOD.splitlines()


def without(column: int) -> str:
    """GOOD without one of its columns."""
    lines = [line.split(",") for line in [HEADER, *ROWS]]
    return "\n".join(",".join(cells[:column] + cells[column + 1 :]) for cells in lines) + "\n"


def with_row(row: int, column: int, value: str) -> str:
    """GOOD with one cell replaced (`row` counts data rows from 1)."""
    rows = [line.split(",") for line in ROWS]
    rows[row - 1][column] = value
    return "\n".join([HEADER, *(",".join(cells) for cells in rows)]) + "\n"


BAD_FILES = {
    "a missing column": (without(2), "has no column 'monthly_spend'"),
    "a wrong type": (with_row(4, 0, "ten"), 'column "tenure": values that are not integer'),
    "a value out of range": (with_row(2, 2, "-5"), 'column "monthly_spend": values beyond its min'),
    "an unknown category": (with_row(7, 1, "gold"), 'column "plan": values not in its categories'),
    "an empty file": ("", "is empty"),
    "a target that is not a number": (
        with_row(5, 3, "lots"),
        'column "lifetime_value": values that are not float numbers',
    ),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_bad_file_is_refused_naming_the_column_and_rows(own: Path, kind: str) -> None:
    text, message = BAD_FILES[kind]
    bad = own / "data" / "source" / "bad.csv"
    bad.write_text(text)
    check = ["uv", "run", "--frozen", "python", "-m", f"{package_of(own)}.data", "--check"]
    refused = run([*check, str(bad)], own, check=False)
    assert refused.returncode != 0
    assert message in refused.stderr
    rows = {
        "a wrong type": "in 1 row: 4",
        "a value out of range": "in 1 row: 2",
        "a target that is not a number": "in 1 row: 5",
    }
    assert rows.get(kind, "") in refused.stderr


def test_a_bad_file_stops_the_pipeline_before_training(own: Path) -> None:
    params_path = own / "params.yaml"
    params = params_path.read_text()
    bad = own / "data" / "source" / "bad.csv"
    bad.write_text(with_row(7, 1, "gold"))
    try:
        params_path.write_text(params.replace("source/customers.csv", "source/bad.csv"))
        stopped = run(["make", "pipeline"], own, check=False)
    finally:
        params_path.write_text(params)
    assert stopped.returncode != 0
    output = stopped.stdout + stopped.stderr
    assert "column \"plan\": values not in its categories ('gold') in 1 row: 7" in output
    assert "Running stage 'prepare'" not in output
