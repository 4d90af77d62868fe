"""Property-based fuzzing of the served OpenAPI schema (schemathesis, every check, data that
fits the schema and data that does not): whatever arrives, the app never answers 500, and
every answer it gives is one its schema documents, in the shape it documents."""

from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from ml_project import serve


@pytest.fixture(scope="module")
def api(model_path: Path, tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INPUT_LOG", str(tmp_path_factory.mktemp("fuzz") / "inputs.jsonl"))
        patch.delenv("INPUT_LOG_URL", raising=False)
        app = serve.create_app(model_path)
        with TestClient(app):  # runs the app's startup: the model is loaded and checked
            yield schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", list(GenerationMode), ids=str)
def test_no_request_gets_a_500_or_an_answer_off_the_schema(api, mode: GenerationMode) -> None:
    # derandomize: the same examples on every run, so that a red build can be replayed.
    @given(case=api.as_strategy(generation_mode=mode))
    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def request(case) -> None:
        case.call_and_validate()

    request()
