"""The serving app: health, predictions, and clear 4xx answers to anything else."""

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ml_project import config, model, serve
from ml_project.data import CLASS_NAMES, SCHEMA
from ml_project.smoke import sample_record

HEALTH_ROUTES = ("/health",)
PREDICT_ROUTES = ("/predict",)


@pytest.fixture
def input_log(tmp_path: Path) -> Path:
    return tmp_path / "inputs.jsonl"


@pytest.fixture
def client(model_path: Path, input_log: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INPUT_LOG", str(input_log))
    monkeypatch.delenv("INPUT_LOG_URL", raising=False)
    with TestClient(serve.create_app(model_path)) as client:
        yield client


def post(client: TestClient, route: str, body: bytes):
    return client.post(route, content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("route", HEALTH_ROUTES)
def test_health_is_ok_and_names_the_model(client: TestClient, model_path: Path, route) -> None:
    response = client.get(route)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "model_sha256": model.sha256(model_path.read_bytes()),
    }


@pytest.mark.parametrize("route", PREDICT_ROUTES)
def test_predict_answers_one_prediction_per_record(client: TestClient, route) -> None:
    response = client.post(route, json={"records": [sample_record(), sample_record()]})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == 2
    if SCHEMA.is_regression:
        # A value, in the target's units, and nothing else.
        assert set(predictions[0]) == {"value"}
        assert isinstance(predictions[0]["value"], float)
        return
    assert predictions[0]["label"] in CLASS_NAMES
    assert 1 / len(CLASS_NAMES) <= predictions[0]["probability"] <= 1


@pytest.mark.parametrize("route", PREDICT_ROUTES)
def test_a_batch_of_max_records_is_one_call(client: TestClient, route) -> None:
    records = [sample_record()] * serve.MAX_RECORDS
    response = client.post(route, json={"records": records})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == serve.MAX_RECORDS
    refused = client.post(route, json={"records": records + [sample_record()]})
    assert refused.status_code == 422


def _without(record: dict, name: str) -> dict:
    return {key: value for key, value in record.items() if key != name}


# The first and the last number of the schema, and its category features.
NUMBERS = [feature.name for feature in SCHEMA.features if not feature.is_category]
FIRST, LAST = NUMBERS[0], NUMBERS[-1]
# json.dumps writes NaN and Infinity as the bare tokens that some clients send.
BAD_RECORDS = [
    (_without(sample_record(), FIRST), FIRST, "a missing feature"),
    ({**sample_record(), FIRST: "big"}, FIRST, "a string"),
    ({**sample_record(), FIRST: "1.5"}, FIRST, "a number in a string"),
    ({**sample_record(), FIRST: True}, FIRST, "a boolean"),
    ({**sample_record(), FIRST: None}, FIRST, "null"),
    ({**sample_record(), "extra": 1.0}, "extra", "an unknown feature"),
    ({**sample_record(), FIRST: float("nan")}, FIRST, "NaN"),
    ({**sample_record(), LAST: float("inf")}, LAST, "infinity"),
    ({**sample_record(), LAST: 1e308}, LAST, "a finite overflow"),
    ({**sample_record(), LAST: -1e6}, LAST, "far below training"),
    *(
        ({**sample_record(), feature.name: value}, feature.name, f"{why} ({feature.name})")
        for feature in SCHEMA.categorical
        for value, why in (("no such category", "an unknown category"), (1, "a number"))
    ),
    *(
        ({**sample_record(), feature.name: 0.5}, feature.name, f"a fraction ({feature.name})")
        for feature in SCHEMA.features
        if feature.type == "integer"
    ),
]


@pytest.mark.parametrize("route", PREDICT_ROUTES)
@pytest.mark.parametrize(("record", "feature", "why"), BAD_RECORDS, ids=[b[2] for b in BAD_RECORDS])
def test_a_bad_record_gets_a_422_naming_the_feature(
    client: TestClient, route, record, feature, why
) -> None:
    response = post(client, route, json.dumps({"records": [sample_record(), record]}).encode())
    assert response.status_code == 422, why
    assert [problem["loc"] for problem in response.json()["detail"]] == [["records", 1, feature]]


def test_refused_inputs_are_not_logged(model_path: Path, input_log: Path, monkeypatch) -> None:
    monkeypatch.setenv("INPUT_LOG", str(input_log))
    monkeypatch.delenv("INPUT_LOG_URL", raising=False)
    with TestClient(serve.create_app(model_path)) as client:
        for route in PREDICT_ROUTES:
            for record, _, why in BAD_RECORDS:
                body = json.dumps({"records": [sample_record(), record]}).encode()
                assert post(client, route, body).status_code == 422, why
    # Leaving the client shut the app down: its log wrote everything it had buffered.
    assert not input_log.exists() or input_log.read_text() == ""


@pytest.mark.parametrize("route", PREDICT_ROUTES)
@pytest.mark.parametrize(
    "payload",
    [{}, {"records": []}, {"records": [sample_record()], "debug": True}, [], "records"],
    ids=["no records", "empty records", "an unknown top-level field", "a list", "a string"],
)
def test_a_bad_request_gets_a_422(client: TestClient, route, payload) -> None:
    response = client.post(route, json=payload)
    assert response.status_code == 422
    assert response.json()["detail"]


@pytest.mark.parametrize("route", PREDICT_ROUTES)
@pytest.mark.parametrize("body", [b"not json", b"", b'{"records": [', b"\xff\xfe"])
def test_a_body_that_is_not_json_gets_a_400(client: TestClient, route, body) -> None:
    response = post(client, route, body)
    assert response.status_code == 400
    assert response.json() == {"detail": "the body is not valid JSON"}


@pytest.mark.parametrize("route", PREDICT_ROUTES)
def test_a_body_over_the_limit_gets_a_413_by_its_length(client: TestClient, route) -> None:
    response = post(client, route, b" " * (serve.MAX_BODY_BYTES + 1))
    assert response.status_code == 413


@pytest.mark.parametrize("route", PREDICT_ROUTES)
def test_a_chunked_body_over_the_limit_gets_a_413_while_read(client: TestClient, route) -> None:
    """No Content-Length: the limit holds as the bytes arrive."""

    def chunks():
        for _ in range(serve.MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    response = client.post(route, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_without_a_model_health_and_predict_answer_503(tmp_path: Path) -> None:
    with TestClient(serve.create_app(tmp_path / "missing.onnx")) as client:
        for route in HEALTH_ROUTES:
            assert client.get(route).status_code == 503
        for route in PREDICT_ROUTES:
            response = client.post(route, json={"records": [sample_record()]})
            assert response.status_code == 503
            assert "make pipeline" in response.json()["detail"]


@pytest.fixture
def copy_of(model_path: Path, tmp_path: Path) -> Path:
    """A copy of the exported model and its manifest, free to damage."""
    for path in (model_path, model_path.with_name(config.MANIFEST.name)):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / model_path.name


def test_a_tampered_model_never_starts(copy_of: Path) -> None:
    data = bytearray(copy_of.read_bytes())
    data[-1] ^= 0x01
    copy_of.write_bytes(bytes(data))
    app = serve.create_app(copy_of)
    with pytest.raises(model.ModelIntegrityError, match="sha256"), TestClient(app):
        pass


def test_a_model_without_its_manifest_never_starts(copy_of: Path) -> None:
    copy_of.with_name(config.MANIFEST.name).unlink()
    app = serve.create_app(copy_of)
    with pytest.raises(model.ModelIntegrityError, match="no manifest"), TestClient(app):
        pass


def test_a_model_that_misses_its_golden_prediction_is_not_healthy(copy_of: Path) -> None:
    manifest_path = copy_of.with_name(config.MANIFEST.name)
    raw = json.loads(manifest_path.read_text())
    output = model.Manifest.read(manifest_path).output
    raw["golden"][output] = [0.5] * len(raw["golden"][output])
    manifest_path.write_text(json.dumps(raw))
    with TestClient(serve.create_app(copy_of)) as client:
        for route in HEALTH_ROUTES:
            health = client.get(route)
            assert health.status_code == 503
            assert "golden" in health.json()["detail"]
        for route in PREDICT_ROUTES:
            assert client.post(route, json={"records": [sample_record()]}).status_code == 503


def test_predictions_are_recorded_for_the_drift_check(
    model_path: Path, input_log: Path, monkeypatch
) -> None:
    monkeypatch.setenv("INPUT_LOG", str(input_log))
    monkeypatch.delenv("INPUT_LOG_URL", raising=False)
    with TestClient(serve.create_app(model_path)) as client:
        for route in PREDICT_ROUTES:
            client.post(route, json={"records": [sample_record(), sample_record()]})
    # The app's shutdown wrote what the log still buffered.
    lines = input_log.read_text().splitlines()
    # No token is configured: nothing says who sent them.
    expected = [{**sample_record(), "authenticated": False}] * 2 * len(PREDICT_ROUTES)
    assert [json.loads(line) for line in lines] == expected


def test_metrics_count_requests_and_predictions(client: TestClient) -> None:
    for route in PREDICT_ROUTES:
        client.post(route, json={"records": [sample_record()]})
        client.post(route, json={})
    text = client.get("/metrics").text
    for route in PREDICT_ROUTES:
        for status in ("200", "422"):
            labels = f'method="POST",route="{route}",status="{status}"'
            assert "http_requests_total{" + labels + "}" in text
    assert "http_request_duration_seconds_bucket" in text
    if SCHEMA.is_regression:
        assert "prediction_value_bucket{le=" in text
        assert "prediction_value_count " in text
    else:
        assert 'predictions_total{label="' in text
        assert "prediction_probability_bucket" in text


def test_metric_labels_come_from_fixed_sets(client: TestClient) -> None:
    """Random methods and paths cannot add series: they collapse to "other"."""
    for index in range(20):
        client.request(f"PROBE{index}", "/health")
        client.get(f"/scan/{index}")
    text = client.get("/metrics").text
    assert 'method="other",route="/health",status="405"' in text
    assert 'method="GET",route="other",status="404"' in text
    assert "PROBE" not in text and "/scan/" not in text


def test_the_openapi_schema_documents_bounds_and_every_answer(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for route in PREDICT_ROUTES:
        responses = schema["paths"][route]["post"]["responses"]
        assert {"200", "400", "413", "422", "503"} <= set(responses)
    for route in HEALTH_ROUTES:
        assert {"200", "503"} <= set(schema["paths"][route]["get"]["responses"])
    record = schema["components"]["schemas"]["Record"]
    assert record["additionalProperties"] is False
    assert set(record["required"]) == set(sample_record())
    assert {"minimum", "maximum"} <= set(record["properties"][FIRST])


def test_the_openapi_schema_documents_the_answer_of_the_task(client: TestClient) -> None:
    """A classifier answers a label, its class id and probability; a regression, a value."""
    schema = client.get("/openapi.json").json()
    answer = "ValueResponse" if SCHEMA.is_regression else "PredictResponse"
    for route in PREDICT_ROUTES:
        ok = schema["paths"][route]["post"]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{answer}"
        }
    item = "Value" if SCHEMA.is_regression else "Prediction"
    fields = {"value"} if SCHEMA.is_regression else {"label", "class_id", "probability"}
    assert set(schema["components"]["schemas"][item]["properties"]) == fields
