"""What the serving app reports about itself: Prometheus metrics and a log of its inputs.

/metrics carries request counts and latencies per route and the distribution of the
predictions; the input log (JSON lines) is what `make drift` compares with training data.
It is a local file (INPUT_LOG) or, when INPUT_LOG_URL names a directory in a bucket
(s3://, gs://, az://, any fsspec URL), chunk objects shipped there for `make inputs` to read.
"""

import json
import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime
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

    def close(self) -> None:
        """Nothing is buffered: every append is already in the file."""


def chunk_name(now: datetime | None = None) -> str:
    """<UTC time to the microsecond>-<random>.jsonl: names sort by time, and two replicas
    never collide."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}.jsonl"


class ShippedInputLog:
    """Buffers records and writes them as one new chunk object per `chunk_records` records,
    or every `flush_seconds` when traffic is low, and on close, under the fsspec URL `url`.

    A background thread writes the chunks, so a slow or unreachable store never delays a
    prediction. A chunk that cannot be written is dropped (the first failure of a streak is
    logged), and the buffer is capped, so an outage costs drift data, never memory.
    """

    def __init__(self, url: str, chunk_records: int = 1000, flush_seconds: float = 300) -> None:
        import fsspec  # only services that ship their log need it

        self.url = url
        self.fs, root = fsspec.core.url_to_fs(url)
        self.root = root.rstrip("/")
        self.chunk_records = chunk_records
        self.flush_seconds = flush_seconds
        self.max_pending = 10 * chunk_records
        self._pending: list[str] = []
        self._wake = threading.Condition()
        self._closing = False
        self._failing = False
        self._dropped = 0
        self._worker = threading.Thread(target=self._ship_forever, name="input-log", daemon=True)
        self._worker.start()

    def append(self, records: list[dict[str, float]]) -> None:
        lines = [json.dumps(record) + "\n" for record in records]
        with self._wake:
            room = self.max_pending - len(self._pending)
            self._dropped += max(0, len(lines) - room)
            self._pending.extend(lines[: max(0, room)])
            if len(self._pending) >= self.chunk_records:
                self._wake.notify()

    def close(self, timeout: float = 30) -> None:
        """Ship what is buffered and stop the background thread (at shutdown)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._worker.join(timeout)

    def _ship_forever(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(
                    lambda: self._closing or len(self._pending) >= self.chunk_records,
                    timeout=self.flush_seconds,
                )
                lines, self._pending = self._pending, []
                closing, dropped, self._dropped = self._closing, self._dropped, 0
            if dropped:
                log.warning("input log buffer full: %d records not shipped", dropped)
            for start in range(0, len(lines), self.chunk_records):
                self._ship(lines[start : start + self.chunk_records])
            if closing:
                return

    def _ship(self, lines: list[str]) -> None:
        path = f"{self.root}/{chunk_name()}"
        try:
            # A directory on disk (file://, a mounted volume) must exist before a chunk goes
            # in; object stores have no directories.
            if "file" in self.fs.protocol:
                self.fs.makedirs(self.root, exist_ok=True)
            self.fs.pipe_file(path, "".join(lines).encode())
        # Whatever the store raises (network, credentials, quota), the service goes on.
        except Exception as error:
            if not self._failing:
                log.warning("cannot ship inputs to %s, drift data is lost: %s", self.url, error)
            self._failing = True
            return
        if self._failing:
            log.warning("shipping inputs to %s works again", self.url)
        self._failing = False


def input_log() -> InputLog | ShippedInputLog:
    """The input log the environment asks for: shipped chunks when INPUT_LOG_URL is set,
    else the local file INPUT_LOG."""
    url = os.environ.get("INPUT_LOG_URL", "")
    if not url:
        return InputLog()
    return ShippedInputLog(
        url,
        chunk_records=int(os.environ.get("INPUT_LOG_CHUNK_RECORDS", "1000")),
        flush_seconds=float(os.environ.get("INPUT_LOG_FLUSH_SECONDS", "300")),
    )
