"""experiments.yaml, the grid of `make experiment`, and how `make promote` picks the best."""

from pathlib import Path

import pytest

from ml_project import config, experiments
from ml_project.experiments import BadGrid, read_grid


def test_the_shipped_grid_names_values_of_params_yaml() -> None:
    spec = read_grid(experiments.GRID, config.PARAMS)
    assert spec["grid"] and spec["best"]["goal"] in ("max", "min")


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ("grid: {train.lr: [0.1]}\nbest: {metric: f1, goal: max}\n", "train.lr is not a value"),
        ("grid: {train.C: []}\nbest: {metric: f1, goal: max}\n", "non-empty list"),
        ("grid: {train.C: ['1,2']}\nbest: {metric: f1, goal: max}\n", "without commas"),
        ("grid: {train.C: [1]}\nbest: {metric: f1, goal: up}\n", "max or min"),
        ("best: {metric: f1, goal: max}\n", "`grid` maps"),
    ],
)
def test_a_bad_grid_is_refused_with_what_is_allowed(
    tmp_path: Path, grid: str, message: str
) -> None:
    path = tmp_path / "experiments.yaml"
    path.write_text(grid)
    with pytest.raises(BadGrid, match=message):
        read_grid(path, config.PARAMS)


def test_the_best_experiment_is_the_best_successful_one() -> None:
    rows = [
        {"Experiment": None, "State": None, "f1": 0.99},  # the workspace: not an experiment
        {"Experiment": "low", "State": "Success", "f1": 0.91},
        {"Experiment": "high", "State": "Success", "f1": 0.95},
        {"Experiment": "broken", "State": "Failed", "f1": 0.98},
    ]
    assert experiments.best_experiment(rows, "f1", "max") == ("high", 0.95)
    assert experiments.best_experiment(rows, "f1", "min") == ("low", 0.91)
