"""Where MLflow runs go, and the lineage a run records (the logging itself runs in the
pipeline's `track` stage)."""

from pathlib import Path

import pytest
import yaml

from ml_project import tracking


def test_a_queued_experiment_logs_to_the_projects_store(tmp_path: Path) -> None:
    workspace = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc123"
    workspace.mkdir(parents=True)
    assert tracking.project_root(workspace) == tmp_path.resolve()
    assert tracking.project_root(tmp_path) == tmp_path.resolve()


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("", "sqlite:///{root}/mlflow.db"),
        ("sqlite:///runs.db", "sqlite:///{root}/runs.db"),
        ("sqlite:////srv/mlflow.db", "sqlite:////srv/mlflow.db"),
        ("https://mlflow.example.com", "https://mlflow.example.com"),
    ],
)
def test_the_tracking_uri(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, configured: str, expected: str
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", configured)
    assert tracking.tracking_uri(tmp_path) == expected.format(root=tmp_path)


def test_lineage_is_the_dvc_lock_md5_of_data_and_models(tmp_path: Path) -> None:
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {
                "cmd": "python -m train",
                "deps": [
                    {"path": "src/train.py", "md5": "c0de"},
                    {"path": "data/processed/train.csv", "md5": "da7a"},
                ],
                "outs": [{"path": "models/model.onnx", "md5": "0dd1"}],
            }
        },
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert tracking.lineage(tmp_path / "dvc.lock") == {
        "data/processed/train.csv": "da7a",
        "models/model.onnx": "0dd1",
    }


def test_an_undefined_ci_variable_is_no_credential() -> None:
    environ = {
        "MLFLOW_TRACKING_URI": "https://mlflow.example.com",
        "MLFLOW_TRACKING_TOKEN": "$(MLFLOW_TRACKING_TOKEN)",
        "MLFLOW_TRACKING_PASSWORD": "s3cret",
    }
    assert tracking.drop_undefined_settings(environ) == ["MLFLOW_TRACKING_TOKEN"]
    assert environ == {
        "MLFLOW_TRACKING_URI": "https://mlflow.example.com",
        "MLFLOW_TRACKING_PASSWORD": "s3cret",
    }
