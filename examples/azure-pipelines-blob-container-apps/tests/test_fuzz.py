"""Property-based fuzzing of the served OpenAPI schema (schemathesis, every check, data that
fits the schema and data that does not): whatever arrives, the app never answers 500, and
every answer it gives is one its schema documents, in the shape it documents. Open, and
with a bearer token configured: then each case carries the token, and schemathesis checks
that the predict routes refuse it missing or wrong."""

from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import given
from schemathesis import GenerationMode

from ml_project import auth, serve

TOKEN = "fuzz-token-0123456789abcdef"


@pytest.fixture(scope="module", params=[None, TOKEN], ids=["open", "token"])
def api(request, model_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """(the app's schema, the headers each case sends)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INPUT_LOG", str(tmp_path_factory.mktemp("fuzz") / "inputs.jsonl"))
        patch.delenv("INPUT_LOG_URL", raising=False)
        patch.delenv(auth.TOKEN_FILE, raising=False)
        patch.setenv(auth.TOKEN, request.param or "")
        app = serve.create_app(model_path)
        with TestClient(app):  # runs the app's startup: the model is loaded and checked
            headers = {"Authorization": f"Bearer {request.param}"} if request.param else {}
            yield schemathesis.openapi.from_asgi("/openapi.json", app), headers


@pytest.mark.parametrize("mode", list(GenerationMode), ids=str)
def test_no_request_gets_a_500_or_an_answer_off_the_schema(api, mode: GenerationMode) -> None:
    schema, headers = api

    # How many examples, and that they are the same on every run: the Hypothesis profile
    # (tests/conftest.py).
    @given(case=schema.as_strategy(generation_mode=mode))
    def request(case) -> None:
        case.call_and_validate(headers=headers)

    request()
