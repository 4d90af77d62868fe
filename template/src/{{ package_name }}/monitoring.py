"""What the serving app reports about itself: Prometheus metrics and a log of its inputs.

/metrics carries request counts and latencies per route and the distribution of the
predictions; the input log (JSON lines) is what `make drift` compares with training data.
"""

import json
import logging
import os
import threading
import time
from pathlib import Path

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

# Known routes only, so that scanners probing random paths cannot grow the label set.
ROUTES = {"/health", "/predict", "/metrics", "/ping", "/invocations"}

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by method, route and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram("http_request_duration_seconds", "Time to answer a request.", ["route"])
PREDICTIONS = Counter("predictions_total", "Predictions made, by predicted label.", ["label"])
CONFIDENCE = Histogram(
    "prediction_probability",
    "Probability the model gave its predicted label.",
    buckets=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0),
)

log = logging.getLogger(__name__)


def instrument(app: FastAPI) -> None:
    """Count and time every request, and serve the metrics at /metrics."""

    @app.middleware("http")
    async def measure(request: Request, call_next):
        route = request.url.path if request.url.path in ROUTES else "other"
        start = time.perf_counter()
        response = await call_next(request)
        LATENCY.labels(route).observe(time.perf_counter() - start)
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def record_predictions(labels: list[str], probabilities: list[float]) -> None:
    for label, probability in zip(labels, probabilities, strict=True):
        PREDICTIONS.labels(label).inc()
        CONFIDENCE.observe(probability)


class InputLog:
    """Appends each request's records to a JSON-lines file. A log that cannot be written
    (a read-only disk) is reported once and never fails a prediction."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or Path(os.environ.get("INPUT_LOG", "logs/inputs.jsonl"))
        self._lock = threading.Lock()
        self._broken = False

    def append(self, records: list[dict[str, float]]) -> None:
        if self._broken:
            return
        lines = "".join(json.dumps(record) + "\n" for record in records)
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as log_file:
                    log_file.write(lines)
        except OSError as error:
            self._broken = True
            log.warning("input log %s is not writable, drift data is lost: %s", self.path, error)
