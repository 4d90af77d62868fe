"""The serving app: health, predictions, and clear 4xx answers to bad payloads."""

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ml_project import serve
from ml_project.smoke import sample_record


@pytest.fixture
def input_log(tmp_path: Path) -> Path:
    return tmp_path / "inputs.jsonl"


@pytest.fixture
def client(model_path: Path, input_log: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(serve, "MODEL_PATH", model_path)
    monkeypatch.setenv("INPUT_LOG", str(input_log))
    with TestClient(serve.app) as client:
        yield client


def test_health_is_ok_with_a_model(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_predict_answers_one_prediction_per_record(client: TestClient) -> None:
    response = client.post("/predict", json={"records": [sample_record(), sample_record()]})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == 2
    assert predictions[0]["label"] in {"malignant", "benign"}
    assert 0.5 <= predictions[0]["probability"] <= 1


def _without(record: dict, name: str) -> dict:
    return {key: value for key, value in record.items() if key != name}


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({}, "no records"),
        ({"records": []}, "empty records"),
        ({"records": [_without(sample_record(), "mean_radius")]}, "a missing feature"),
        ({"records": [{**sample_record(), "mean_radius": "big"}]}, "a string"),
        ({"records": [{**sample_record(), "extra": 1.0}]}, "an unknown feature"),
        ({"records": [{**sample_record(), "mean_radius": float("nan")}]}, "NaN"),
        ({"records": [sample_record()], "debug": True}, "an unknown top-level field"),
    ],
)
def test_bad_payloads_get_a_422_naming_the_problem(client: TestClient, payload, why) -> None:
    # json.dumps writes NaN as the bare token that some clients send.
    body = json.dumps(payload).encode()
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, why
    assert response.json()["detail"], why


def test_a_body_that_is_not_json_gets_a_422(client: TestClient) -> None:
    response = client.post(
        "/predict", content=b"not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_without_a_model_health_and_predict_answer_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve, "MODEL_PATH", tmp_path / "missing.joblib")
    with TestClient(serve.app) as client:
        assert client.get("/health").status_code == 503
        assert client.post("/predict", json={"records": [sample_record()]}).status_code == 503


def test_predictions_are_recorded_for_the_drift_check(client: TestClient, input_log: Path) -> None:
    client.post("/predict", json={"records": [sample_record(), sample_record()]})
    lines = input_log.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [sample_record(), sample_record()]


def test_metrics_count_requests_and_predictions(client: TestClient) -> None:
    client.post("/predict", json={"records": [sample_record()]})
    client.post("/predict", json={})
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    assert 'http_requests_total{method="POST",route="/predict",status="200"}' in text
    assert 'http_requests_total{method="POST",route="/predict",status="422"}' in text
    assert 'predictions_total{label="' in text
    assert "http_request_duration_seconds_bucket" in text
    assert "prediction_probability_bucket" in text
