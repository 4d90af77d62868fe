"""Every CI vendor is a thin adapter: its files run the same Makefile targets in the same
order (pull request, release, retraining, template update), for every combination of the
other answers. The expected order is the stage list of includes/pipeline.jinja, the one
place it is defined."""

import re
from pathlib import Path

import pytest

from conftest import CI_FILES, COMBINATIONS, STAGES, ci_text, combo_id

MAKE = re.compile(r"\bmake((?:\s+[a-z][a-z-]*)+)((?:\s+[A-Z_]+=\S+)*)")
COMMENT = re.compile(r"^\s*(#|//)")
SETUP_TARGETS = {"install", "registry-login"}

# A deploy written once for every environment (a reusable workflow, a template with a
# parameter) takes ENV from a variable: it stands for each environment, in order.
ENVIRONMENTS = [stage["env"] for stage in STAGES.release_stages if stage["env"]]

EXPECTED = (
    [(target, None) for target in STAGES.pr_targets]
    + [(t, stage["env"]) for stage in STAGES.release_stages for t in stage["targets"]]
    + [(target, None) for target in STAGES.retrain_targets]
    + [(target, None) for target in STAGES.update_targets]
)


def make_calls(text: str) -> list[tuple[str, str | None]]:
    """(target, ENV) for every `make` call outside comments; `install` and `registry-login`
    (docker's login before `make build`) are setup, not stages."""
    calls = []
    for line in text.splitlines():
        if COMMENT.match(line):
            continue
        for targets, variables in MAKE.findall(line):
            env = re.search(r"\bENV=(\S+)", variables)
            for target in targets.split():
                if target in SETUP_TARGETS:
                    continue
                if env and not re.fullmatch(r"\w+", env.group(1)):
                    calls.extend((target, each) for each in ENVIRONMENTS)
                else:
                    calls.append((target, env.group(1) if env else None))
    return calls


def test_vendor_list_matches_the_offered_choices() -> None:
    assert {c["ci_provider"] for c in COMBINATIONS} == set(CI_FILES)


@pytest.mark.parametrize("answers", COMBINATIONS, ids=combo_id)
def test_vendor_runs_the_stage_list_in_order(render, answers: dict) -> None:
    project: Path = render(answers)
    vendor = answers["ci_provider"]
    text = ci_text(project, vendor)
    assert make_calls(text) == EXPECTED


@pytest.mark.parametrize("answers", COMBINATIONS, ids=combo_id)
def test_only_the_chosen_vendor_renders_its_files(render, answers: dict) -> None:
    project: Path = render(answers)
    for vendor, names in CI_FILES.items():
        for name in names:
            assert (project / name).exists() == (vendor == answers["ci_provider"]), name
