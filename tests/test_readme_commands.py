"""The commands the READMEs tell a user to run work, run exactly as written: the root
README's command 1 (render a project and run its CI), then, in that project, every command
of the rendered README: serving, its smoke test, the benchmark, and the update command,
which must find the template again from what command 1 recorded."""

import json
import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

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
    serve, bench, smoke, *own_data, update = commands[3:]
    assert own_data == data_commands((project / "README.md").read_text())
    assert (serve, bench, smoke, update) == (
        "make serve",
        "make bench",
        f"uv run python -m {package}.smoke {url}",
        "make template-update",
    )

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
