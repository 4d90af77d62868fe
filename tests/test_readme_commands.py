"""The commands the READMEs tell a user to run work, run exactly as written: the root
README's command 1 (render a project and run its CI), then, in that project, every command
of the rendered README: serving, its smoke test, the benchmark, and the update command,
which must find the template again from what command 1 recorded."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

import tracking_store
from conftest import (
    TEMPLATE,
    clean_env,
    data_commands,
    readme_command_1,
    readme_commands,
    run,
)
from template_clone import git, next_release


def update_command(readme: str) -> str:
    """The first code block of the rendered README's "Updating from the template" section."""
    section = readme.split("## Updating from the template", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)


COPIER_COMMAND = re.compile(r"copier (?:copy|update|check-update)[^`\n]*")


def test_no_documented_copier_command_carries_trust() -> None:
    documents = [
        TEMPLATE / "README.md",
        TEMPLATE / "CHANGELOG.md",
        TEMPLATE / "copier.yml",
        *(TEMPLATE / "template").rglob("README*"),
        *(TEMPLATE / "includes" / "readme").rglob("*.jinja"),
    ]
    commands = [c for path in documents for c in COPIER_COMMAND.findall(path.read_text())]
    assert len(commands) >= 3, "the README's copy, the CHANGELOG's update, the org.yml copy"
    assert [c for c in commands if "--trust" in c] == []


@pytest.mark.e2e
def test_command_1_then_the_rendered_update_command(
    readme_run: tuple[Path, Path], tmp_path: Path
) -> None:
    template, first_run = readme_run
    command = readme_command_1()
    assert "uvx copier copy" in command and "make ci" in command
    recorded = yaml.safe_load((first_run / ".copier-answers.yml").read_text())
    assert Path(recorded["_src_path"]).is_absolute(), "a source update can find again"
    assert recorded["_commit"] == next_release(), "the release the project came from"
    assert "gate" in (first_run / ".make-ci.log").read_text(), "command 1 ran the metric gate"

    # A clone of the user's repository (its first commit, a clean tree as the update needs);
    # the shared run stays as it is for the other end-to-end tests.
    project = tmp_path / "ml-project"
    run(["git", "clone", "-q", str(first_run), str(project)], tmp_path)
    # The template's next release changes the rendered README.
    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nA line of the next release.\n")
    git(template, "commit", "-qam", "Next release")
    git(template, "tag", "v99.0.0")

    done = run(["bash", "-c", update_command((project / "README.md").read_text())], project)

    assert "updated to v99.0.0" in done.stdout
    assert (project / "README.md").read_text().endswith("A line of the next release.\n")
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v99.0.0"


@pytest.mark.e2e
def test_every_command_of_the_rendered_readme_runs_as_written(readme_run) -> None:
    """The default project's README, command by command. The setup lines are command 1's
    (the shared run), `make template-update` is the test above's, the "Your own data"
    section's are tests/test_own_data.py's; the rest run here. A command the README gains
    fails this test until a test runs it."""
    _, project = readme_run
    commands = readme_commands((project / "README.md").read_text())
    package = yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"]
    url = "http://127.0.0.1:8000"
    command_1 = readme_command_1()
    setup = [c for c in commands if c in command_1]
    assert setup == commands[:3]
    assert setup[1:] == ["make install", "make ci"]
    serve, bench, smoke, *own_data, experiment, promote, ui, register, update = commands[3:]
    assert own_data == data_commands((project / "README.md").read_text())
    assert (serve, bench, smoke, update) == (
        "make serve",
        "make bench",
        f"uv run python -m {package}.smoke {url}",
        "make template-update",
    )
    assert (experiment, promote, ui) == ("make experiment", "make promote", "make ui")
    assert register == "make register MLFLOW_TRACKING_URI=sqlite:///mlflow.db"

    server = subprocess.Popen(
        ["bash", "-c", serve],
        cwd=project,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # The smoke test waits for /health, then posts a real record to /predict.
        assert "smoke test passed" in run(["bash", "-c", smoke], project).stdout
        bad = urllib.request.Request(
            f"{url}/predict",
            data=json.dumps({"records": [{"mean_radius": "big"}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad, timeout=10)
        assert refused.value.code == 422
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    # `make bench` starts its own server on a free port and loads it with wrk.
    numbers = json.loads(run(["bash", "-c", bench], project).stdout.strip().splitlines()[-1])
    assert set(numbers) == {"ours_rps", "p50_ms", "p99_ms", "batch_rows_per_s", "image_mb"}
    assert numbers["ours_rps"] > 0 and numbers["batch_rows_per_s"] > 0
    assert 0 < numbers["p50_ms"] <= numbers["p99_ms"]

    experiments_then_promote(project, experiment, promote)
    ui_serves_the_local_store(project, ui)
    register_makes_the_champion(project, register)


def experiments_then_promote(project: Path, experiment: str, promote: str) -> None:
    """The sweep of experiments.yaml runs as queued DVC experiments, each logged to the
    project's store (not to the copy of the workspace DVC ran it in); the best becomes a
    branch."""
    grid = yaml.safe_load((project / "experiments.yaml").read_text())["grid"]
    shown = run(["bash", "-c", experiment], project).stdout
    assert "| Experiment" in shown, "dvc exp show lists them"
    names = run(["uv", "run", "--frozen", "dvc", "exp", "list", "--name-only"], project)
    names = set(names.stdout.split())
    assert len(names) == len(grid["train.C"])
    tracked = tracking_store.read(project, "experiments", "")
    assert names <= set(tracked)
    assert {float(tracked[name]["train.C"]) for name in names} == set(grid["train.C"])

    promoted = run(["bash", "-c", promote], project).stdout
    branch = re.search(r"it is now the branch (\S+)\.", promoted).group(1)
    assert branch.removeprefix("exp-") in names
    params = yaml.safe_load(run(["git", "show", f"{branch}:params.yaml"], project).stdout)
    assert params["train"]["C"] in grid["train.C"]


def ui_serves_the_local_store(project: Path, ui: str) -> None:
    """`make ui` on a free loopback port: its page, and the project's experiment through
    its API; then stopped."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["bash", "-c", ui],
        cwd=project,
        env=clean_env(UI_PORT=str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # The first call installs MLflow's full package beside the project's environment.
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{base}/", timeout=5) as response:
                    assert "<html" in response.read().decode().lower()
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, "make ui exited"
                assert time.monotonic() < deadline, "make ui did not answer"
                time.sleep(2)
        search = f"{base}/ajax-api/2.0/mlflow/experiments/search?max_results=10"
        with urllib.request.urlopen(search, timeout=10) as response:
            names = {e["name"] for e in json.load(response)["experiments"]}
        assert (
            yaml.safe_load((project / ".copier-answers.yml").read_text())["project_name"]
            .lower()
            .replace(" ", "-")
            in names
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def register_makes_the_champion(project: Path, register: str) -> None:
    """The model of the workspace's last run becomes the champion, read back by alias."""
    # The workspace's last run is the committed model's (earlier tests trained others).
    run(["make", "pipeline"], project)
    record = tracking_store.last_run(project)
    assert "as `champion`" in run(["bash", "-c", register], project).stdout
    champion = tracking_store.read(project, "champion", "ml-project")
    assert champion["run_id"] == record["run_id"]
    manifest = json.loads((project / "models" / "manifest.json").read_text())
    assert champion["model_sha256"] == manifest["sha256"]
    # Without a tracking server nothing is registered, and it says so.
    unset = run(["make", "register"], project, MLFLOW_TRACKING_URI="").stdout
    assert "nothing was registered" in unset
