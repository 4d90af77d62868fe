"""The bearer token: with one configured, predictions need it (401 otherwise, saying nothing
of what was sent), health checks and /metrics stay open, the schema declares it, and only
authenticated traffic reaches `make drift`; a flood without it moves nothing."""

import json
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ml_project import auth, drift, serve
from ml_project.data import FEATURES, SCHEMA
from ml_project.serve import HEALTH_ROUTES, PREDICT_ROUTES
from ml_project.smoke import sample_record

TOKEN = "s3cret-token-0123456789abcdef"
AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def input_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INPUT_LOG", str(tmp_path / "inputs.jsonl"))
    monkeypatch.delenv("INPUT_LOG_URL", raising=False)
    return tmp_path / "inputs.jsonl"


@pytest.fixture
def guarded(model_path: Path, input_log: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(auth.TOKEN, TOKEN)
    with TestClient(serve.create_app(model_path)) as client:
        yield client


@pytest.mark.parametrize("route", PREDICT_ROUTES)
@pytest.mark.parametrize(
    "headers, challenge",
    [
        ({}, "Bearer"),
        ({"Authorization": "Bearer not-the-token-at-all-0123"}, 'Bearer error="invalid_token"'),
        ({"Authorization": f"Basic {TOKEN}"}, 'Bearer error="invalid_token"'),
        ({"Authorization": f"Bearer {TOKEN[:-1]}"}, 'Bearer error="invalid_token"'),
    ],
    ids=["no token", "another token", "not bearer", "a prefix of the token"],
)
def test_predictions_without_the_token_get_a_401(guarded, route, headers, challenge) -> None:
    response = guarded.post(route, json={"records": [sample_record()]}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == challenge
    assert response.json() == {"detail": "a valid bearer token is required"}


@pytest.mark.parametrize("route", PREDICT_ROUTES)
def test_predictions_with_the_token_are_answered(guarded, route) -> None:
    response = guarded.post(route, json={"records": [sample_record()]}, headers=AUTHORIZED)
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 1


def test_health_and_metrics_stay_open(guarded) -> None:
    for route in HEALTH_ROUTES:
        assert guarded.get(route).status_code == 200
    guarded.post(PREDICT_ROUTES[0], json={"records": [sample_record()]})
    metrics = guarded.get("/metrics")
    assert metrics.status_code == 200
    assert f'route="{PREDICT_ROUTES[0]}",status="401"' in metrics.text


def test_the_token_can_come_from_a_mounted_file(
    model_path: Path, input_log: Path, tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    monkeypatch.setenv(auth.TOKEN_FILE, str(tmp_path / "token"))
    with TestClient(serve.create_app(model_path)) as client:
        route = PREDICT_ROUTES[0]
        assert client.post(route, json={"records": [sample_record()]}).status_code == 401
        answer = client.post(route, json={"records": [sample_record()]}, headers=AUTHORIZED)
        assert answer.status_code == 200


@pytest.mark.parametrize(
    "environ, problem",
    [
        ({auth.TOKEN: TOKEN, auth.TOKEN_FILE: "/run/secrets/token"}, "not both"),
        ({auth.TOKEN: "short"}, "at least 16"),
        ({auth.TOKEN: TOKEN + "\u00e9"}, "printable ASCII"),
        ({auth.TOKEN_FILE: "/nonexistent/token"}, "No such file"),
    ],
    ids=["both", "too short", "not ascii", "missing file"],
)
def test_an_unusable_token_configuration_is_refused(environ, problem) -> None:
    with pytest.raises(auth.TokenError, match=problem):
        auth.configured_token(environ)


def test_no_token_means_open_predictions() -> None:
    assert auth.configured_token({}) is None
    assert auth.configured_token({auth.TOKEN: ""}) is None


def test_the_schema_declares_the_bearer_scheme_only_when_a_token_is_set(
    guarded, model_path: Path, input_log: Path, monkeypatch
) -> None:
    schema = guarded.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer"}
    }
    for route in PREDICT_ROUTES:
        operation = schema["paths"][route]["post"]
        assert operation["security"] == [{"bearer": []}]
        assert "401" in operation["responses"]
    for route in HEALTH_ROUTES:
        assert "security" not in schema["paths"][route]["get"]
    monkeypatch.delenv(auth.TOKEN)
    with TestClient(serve.create_app(model_path)) as client:
        schema = client.get("/openapi.json").json()
    assert "securitySchemes" not in schema["components"]
    assert all("security" not in schema["paths"][route]["post"] for route in PREDICT_ROUTES)


def shifted(frame: pd.DataFrame) -> list[dict]:
    """Records far from the training data on every number, still within the bounds."""
    records = frame[list(FEATURES)].copy()
    for feature in SCHEMA.features:
        if not feature.is_category:
            records[feature.name] = records[feature.name] * 1.8
    return records.to_dict("records")


def test_a_flood_without_the_token_does_not_move_drift(
    model_path: Path, input_log: Path, train_test, tmp_path: Path, monkeypatch
) -> None:
    train, test = train_test
    reference = tmp_path / "train.csv"
    train.to_csv(reference, index=False)
    monkeypatch.setenv(auth.TOKEN, TOKEN)
    route = PREDICT_ROUTES[0]
    with TestClient(serve.create_app(model_path)) as client:
        flood = shifted(train)
        for start in range(0, len(flood), 50):
            answer = client.post(route, json={"records": flood[start : start + 50]})
            assert answer.status_code == 401
        honest = test[list(FEATURES)].to_dict("records")
        answer = client.post(route, json={"records": honest}, headers=AUTHORIZED)
        assert answer.status_code == 200
    logged = [json.loads(line) for line in input_log.read_text().splitlines()]
    assert len(logged) == len(honest) and all(record["authenticated"] for record in logged)
    report = tmp_path / "drift.json"
    arguments = ["--reference", reference, "--recent", input_log, "--report", report]
    assert drift.main([str(argument) for argument in arguments]) == 0


def test_drift_leaves_out_records_that_were_not_authenticated(
    train_test, tmp_path: Path, capsys
) -> None:
    """A log that mixes both (records from before the token, a replica without it): once
    any record was authenticated, only those count."""
    train, test = train_test
    reference = tmp_path / "train.csv"
    train.to_csv(reference, index=False)
    honest = [
        {**record, "authenticated": True} for record in test[list(FEATURES)].to_dict("records")
    ]
    flood = [{**record, "authenticated": False} for record in shifted(train)]
    recent = tmp_path / "inputs.jsonl"
    recent.write_text("".join(json.dumps(record) + "\n" for record in flood + honest))
    report = tmp_path / "drift.json"
    arguments = ["--reference", reference, "--recent", recent, "--report", report]
    assert drift.main([str(argument) for argument in arguments]) == 0
    assert f"left out {len(flood)} records" in capsys.readouterr().out
    # The same flood, with no authenticated record at all (no token configured): it counts.
    recent.write_text("".join(json.dumps(record) + "\n" for record in flood))
    assert drift.main([str(argument) for argument in arguments]) == drift.DRIFT_FOUND
