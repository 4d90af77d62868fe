"""The serving app: GET /health, POST /predict and GET /metrics over the ONNX model.

Safe: the model file must have the sha256 the pipeline recorded (else the app refuses to
start), and it must answer a golden record as it did at export (else /health and /predict
answer 503). No pickle is loaded. A request body over MAX_BODY_BYTES gets a 413 while it is
read; a body that is not JSON a 400; a record with a missing, unknown, mistyped or
out-of-bounds feature, or a category the model was not trained on, a 422 that names it.
Inputs are logged after a successful prediction.

Guarded: when a token is configured (SERVING_API_TOKEN, or SERVING_API_TOKEN_FILE: see
auth.py), the predict routes answer 401 to a request without it as a bearer token, and every
record the input log keeps is marked as authenticated; without one, predictions are open
and their records are marked as not authenticated. Health checks and /metrics stay open.

Fast: the body is parsed and validated in one pass by pydantic-core (Rust), the records
become one float array for one onnxruntime call, and the answer is written by pydantic-core
too. No DataFrame, no thread hop: the handlers run on the event loop, as the work per
request is a few microseconds a record.
"""

import os
from contextlib import asynccontextmanager
from operator import attrgetter
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import to_json

from . import config
from .auth import bearer_matches, configured_token
from .limits import BodyLimitMiddleware
from .model import Manifest, ModelIntegrityError, OnnxModel, golden_mismatch, verified_bytes
from .monitoring import (
    MetricsMiddleware,
    input_log,
    metrics_page,
    record_predictions,
    record_values,
)

MODEL_PATH = Path(os.environ.get("MODEL_PATH", config.MODEL))
MAX_RECORDS = 1000
# A record of 30 features written plainly is about 1 KB; 4 KB a record leaves room for
# pretty-printing. Anything larger is refused before it is held in memory.
MAX_BODY_BYTES = 4096 * MAX_RECORDS
# A 422 lists at most this many problems: a batch of bad records must not get a 422 larger
# than its request.
MAX_PROBLEMS = 50
HEALTH_ROUTES = ("/health",)
PREDICT_ROUTES = ("/predict",)


def feature_type(manifest: Manifest, name: str) -> object:
    """The type a request's value of feature `name` must have, from the manifest."""
    kind = manifest.types.get(name, "float")
    if kind == "category":
        return Literal[manifest.categories[name]]
    low, high = manifest.bounds[name]
    # An integer is a whole number, written 3 or 3.0 alike (as JSON Schema's "integer" is).
    whole = 1 if kind == "integer" else None
    return Annotated[float, Field(ge=low, le=high, multiple_of=whole, allow_inf_nan=False)]


def request_model(manifest: Manifest | None) -> type[BaseModel]:
    """The body of /predict: 1 to MAX_RECORDS records, each with every feature of the
    model, a number within its bounds or one of its categories, and nothing else. Strict:
    `true` and `"1.5"` are not numbers, `1.5` is not a whole number."""
    fields = {}
    if manifest is not None:
        for name in manifest.features:
            fields[name] = (feature_type(manifest, name), ...)
    record = create_model("Record", __config__=ConfigDict(extra="forbid", strict=True), **fields)
    return create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid", strict=True),
        records=(list[record], Field(min_length=1, max_length=MAX_RECORDS)),
    )


class Prediction(BaseModel):
    label: str
    class_id: int
    probability: float


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class Value(BaseModel):
    value: float


class ValueResponse(BaseModel):
    """A regression model's answer: a predicted value per record, in the target's units."""

    predictions: list[Value]


class Problem(BaseModel):
    detail: str


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problems(BaseModel):
    detail: list[FieldProblem]


class Health(BaseModel):
    status: str
    model_sha256: str | None = None
    detail: str | None = None


class Service:
    """The model and its input log, as the lifespan of the app loads and closes them."""

    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        manifest_path = model_path.with_name(config.MANIFEST.name)
        self.manifest = Manifest.read(manifest_path) if manifest_path.exists() else None
        self.request_model = request_model(self.manifest)
        self.model: OnnxModel | None = None
        self.problem = f"no model at {model_path}: run `make pipeline`"
        self.inputs = None
        # Raises TokenError (the app does not start) on an unusable token configuration.
        self.token = configured_token()
        # Each category feature's position in a record, and the code of each of its values.
        self.codes: dict[int, dict[str, int]] = {}
        # A regression model answers a value per record, a classifier a label.
        self.regression = self.manifest is not None and self.manifest.task == "regression"
        if self.manifest is not None:
            self.values_of = attrgetter(*self.manifest.features)
            self.labels = self.manifest.classes
            for index, name in enumerate(self.manifest.features):
                if name in self.manifest.categories:
                    values = self.manifest.categories[name]
                    self.codes[index] = {value: code for code, value in enumerate(values)}

    def rows(self, records: list) -> np.ndarray:
        """The records as the model's float rows, each category as its code."""
        values = list(map(self.values_of, records))
        if self.codes:
            values = [list(row) if isinstance(row, tuple) else [row] for row in values]
            for row in values:
                for index, codes in self.codes.items():
                    row[index] = codes[row[index]]
        # reshape: attrgetter of a single name gives a value, not a tuple.
        return np.array(values, dtype=np.float64).reshape(len(records), -1)

    def start(self) -> None:
        """Load the model; raises ModelIntegrityError (the app does not start) when its
        bytes are not the ones the pipeline recorded."""
        if not self.model_path.exists():
            return
        if self.manifest is None:
            raise ModelIntegrityError(f"{self.model_path} has no manifest: no hash to check")
        model = OnnxModel(verified_bytes(self.model_path, self.manifest))
        self.problem = golden_mismatch(model, self.manifest)
        if self.problem is None:
            self.model = model
            self.inputs = input_log(self.manifest.features, self.manifest.categories)

    def stop(self) -> None:
        # Write what is still buffered before the container goes.
        if self.inputs is not None:
            self.inputs.close()


def unavailable(service: Service) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": service.problem})


def unauthorized(presented: bool) -> JSONResponse:
    """401, never saying anything about what was presented."""
    challenge = 'Bearer error="invalid_token"' if presented else "Bearer"
    return JSONResponse(
        status_code=401,
        content={"detail": "a valid bearer token is required"},
        headers={"WWW-Authenticate": challenge},
    )


def refuse(error: ValidationError) -> JSONResponse:
    """400 for a body that is not JSON, else a 422 naming each bad field (never echoing the
    input back: an echoed NaN cannot be written as JSON)."""
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    if any(problem["type"] == "json_invalid" for problem in problems):
        return JSONResponse(status_code=400, content={"detail": "the body is not valid JSON"})
    detail = [{key: p[key] for key in ("loc", "msg", "type")} for p in problems[:MAX_PROBLEMS]]
    return JSONResponse(status_code=422, content={"detail": detail})


UNAUTHORIZED = {
    401: {"model": Problem, "description": "No bearer token, or not the configured one."}
}
ERRORS = {
    400: {"model": Problem, "description": "The body is not JSON."},
    413: {"model": Problem, "description": f"The body is larger than {MAX_BODY_BYTES} bytes."},
    422: {"model": Problems, "description": "A record is missing, adds or misstates a feature."},
    503: {"model": Problem, "description": "No model, or it failed its golden prediction."},
}


# At column 0, so that the longest description the validator allows fits the line.
DESCRIPTION = "A model trained, gated and served with DVC, pytest and FastAPI."


def create_app(model_path: Path = MODEL_PATH) -> FastAPI:
    service = Service(model_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        yield
        service.stop()

    app = FastAPI(
        title="ML Project",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.service = service

    async def health(request: Request) -> JSONResponse:
        if service.model is None:
            return JSONResponse(
                status_code=503, content={"status": "unavailable", "detail": service.problem}
            )
        return JSONResponse(content={"status": "ok", "model_sha256": service.manifest.sha256})

    async def predict(request: Request) -> Response:
        if service.token is not None:
            headers = request.scope["headers"]
            authorization = next((v for k, v in headers if k == b"authorization"), None)
            if not bearer_matches(authorization, service.token):
                return unauthorized(authorization is not None)
        model = service.model
        if model is None:
            return unavailable(service)
        try:
            payload = service.request_model.model_validate_json(await request.body())
        except ValidationError as error:
            return refuse(error)
        records = payload.records
        rows = service.rows(records)
        if service.regression:
            values = [round(value, 4) for value in model.predict(rows)[:, 0].tolist()]
            service.inputs.append(rows, authenticated=service.token is not None)
            record_values(values, service.manifest.value_buckets)
            body = {"predictions": [{"value": value} for value in values]}
            return Response(to_json(body), media_type="application/json")
        probabilities = model.predict(rows)
        class_ids = probabilities.argmax(axis=1)
        chosen = probabilities[np.arange(len(class_ids)), class_ids].tolist()
        # Python's round: numpy's costs more than the whole model on a single record.
        confidence = [round(probability, 4) for probability in chosen]
        labels = [service.labels[class_id] for class_id in class_ids.tolist()]
        predictions = [
            {"label": label, "class_id": class_id, "probability": probability}
            for label, class_id, probability in zip(
                labels, class_ids.tolist(), confidence, strict=True
            )
        ]
        service.inputs.append(rows, authenticated=service.token is not None)
        record_predictions(labels, confidence)
        return Response(to_json({"predictions": predictions}), media_type="application/json")

    async def metrics(request: Request) -> Response:
        return Response(metrics_page(), media_type=CONTENT_TYPE_LATEST)

    # Plain Starlette routes: FastAPI's per-request dependency resolution cost about a
    # third of a one-record prediction, and these handlers need none of it. FastAPI still
    # writes their OpenAPI schema, from the declarations in `documented`.
    not_ready = {503: {"model": Health, "description": "Not ready to predict."}}
    documented = []
    for path in HEALTH_ROUTES:
        app.add_route(path, health, methods=["GET"], include_in_schema=False)
        documented.append(APIRoute(path, health, response_model=Health, responses=not_ready))
    for path in PREDICT_ROUTES:
        app.add_route(path, predict, methods=["POST"], include_in_schema=False)
        errors = ERRORS if service.token is None else {**UNAUTHORIZED, **ERRORS}
        answer = ValueResponse if service.regression else PredictResponse
        answers = {"response_model": answer, "responses": errors}
        documented.append(APIRoute(path, predict, methods=["POST"], **answers))
    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    secured = service.token is not None
    app.openapi = lambda: openapi(app, documented, service.request_model, secured)
    # The middleware added last runs first: metrics wrap the body limit, so that a 413 is
    # counted and timed like any other answer.
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(MetricsMiddleware)
    return app


def openapi(app: FastAPI, routes: list[APIRoute], body: type[BaseModel], secured: bool) -> dict:
    """The schema FastAPI generates from the route declarations, with the body of the
    predict routes (read by the handler, so FastAPI cannot see it), the records' bounds,
    and, when a token is configured, the bearer scheme the predict routes require."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=routes
        )
        body_schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(body_schema.pop("$defs", {}))
        components[body.__name__] = body_schema
        reference = {"$ref": f"#/components/schemas/{body.__name__}"}
        if secured:
            schemes = schema["components"].setdefault("securitySchemes", {})
            schemes["bearer"] = {"type": "http", "scheme": "bearer"}
        for path in PREDICT_ROUTES:
            operation = schema["paths"][path]["post"]
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": reference}},
            }
            if secured:
                operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
    return app.openapi_schema


app = create_app()
