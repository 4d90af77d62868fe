"""The serving app: GET /health, POST /predict and GET /metrics over the trained model.

Requests are validated by pydantic before they reach the model, so a bad payload gets a
422 that names the offending field, never a 500.
"""

import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import joblib
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from . import config
from .data import CLASS_NAMES, FEATURES
from .monitoring import input_log, instrument, record_predictions

MODEL_PATH = Path(os.environ.get("MODEL_PATH", config.MODEL))
MAX_RECORDS = 1000

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]

# One required, finite float per feature; unknown fields are refused.
Record = create_model(
    "Record",
    __config__=ConfigDict(extra="forbid"),
    **dict.fromkeys(FEATURES, (FiniteFloat, ...)),
)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[Record] = Field(min_length=1, max_length=MAX_RECORDS)  # type: ignore[valid-type]


class Prediction(BaseModel):
    label: str
    class_id: int
    probability: float


class PredictResponse(BaseModel):
    predictions: list[Prediction]


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.model = joblib.load(MODEL_PATH) if MODEL_PATH.exists() else None
    app.state.inputs = input_log()
    yield
    # Ship what is still buffered before the container goes.
    app.state.inputs.close()


app = FastAPI(
    title="ML Project",
    description="A classifier trained, gated and served with DVC, pytest and FastAPI.",
    lifespan=lifespan,
)
instrument(app)


@app.exception_handler(RequestValidationError)
async def refuse_bad_payload(request: Request, error: RequestValidationError) -> JSONResponse:
    """A 422 naming each bad field. The default handler echoes the input back, and an echoed
    NaN or infinity cannot be written as JSON: that would turn a bad payload into a 500."""
    problems = [{key: e[key] for key in ("loc", "msg", "type")} for e in error.errors()]
    return JSONResponse(status_code=422, content={"detail": problems})


def loaded_model(request: Request):
    model = request.app.state.model
    if model is None:
        raise HTTPException(status_code=503, detail=f"no model at {MODEL_PATH}")
    return model


@app.get("/health")
def health(request: Request) -> JSONResponse:
    ready = request.app.state.model is not None
    return JSONResponse(
        status_code=200 if ready else 503,
        content={"status": "ok" if ready else "no model loaded"},
    )


@app.post("/predict")
def predict(payload: PredictRequest, request: Request) -> PredictResponse:
    model = loaded_model(request)
    records = [record.model_dump() for record in payload.records]
    request.app.state.inputs.append(records)
    probabilities = model.predict_proba(pd.DataFrame(records)[list(FEATURES)])
    predictions = []
    for row in probabilities:
        class_id = int(row.argmax())
        predictions.append(
            Prediction(
                label=CLASS_NAMES[class_id],
                class_id=class_id,
                probability=round(float(row[class_id]), 4),
            )
        )
    record_predictions([p.label for p in predictions], [p.probability for p in predictions])
    return PredictResponse(predictions=predictions)
