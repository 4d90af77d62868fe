"""What the serving app reports about itself: Prometheus metrics and a log of its inputs.

/metrics carries request counts and latencies per route and the distribution of the
predictions (a classifier's labels and their probabilities, a regression's values); the
input log (JSON lines) is what `make drift` compares with training data.
Each record in it says whether its request was authenticated (a bearer token configured and
presented): `make drift` leaves out the others once any record is (drift.py).
It is a local file (INPUT_LOG) or, when INPUT_LOG_URL names a directory in a bucket
(s3://, gs://, az://, any fsspec URL), chunk objects shipped there for `make inputs` to read.
Either way a background thread writes it: a request only hands its rows over.

With several worker processes (`serve`), each writes its metrics to PROMETHEUS_MULTIPROC_DIR
and /metrics adds them up, so a scrape sees the whole service, not one worker.
"""

import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from pydantic_core import to_json

# Every label value comes from a fixed set, so that no client can grow the number of
# series: scanners probing random paths, odd HTTP methods, whatever status.
ROUTES = frozenset({"/health", "/predict", "/metrics", "/ping", "/invocations"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUSES = frozenset({200, 400, 401, 404, 405, 413, 422, 500, 503})
OTHER = "other"
# The field of each input log record that says whether its request was authenticated.
AUTHENTICATED = "authenticated"

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


# The child series, looked up once per label set: `labels()` takes a lock and checks its
# arguments on every call. The label sets are fixed, so these caches stay small.
@cache
def latency_series(route: str):
    return LATENCY.labels(route)


@cache
def requests_series(method: str, route: str, status: str):
    return REQUESTS.labels(method, route, status)


@cache
def predictions_series(label: str):
    return PREDICTIONS.labels(label)


class MetricsMiddleware:
    """Counts and times every HTTP request. A plain ASGI middleware: Starlette's
    BaseHTTPMiddleware would run each request through an extra task and memory stream."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in ROUTES else OTHER
        method = scope["method"] if scope["method"] in METHODS else OTHER
        status = 500  # what the server answers if the app raises before it responds

        async def send_noting_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            latency_series(route).observe(time.perf_counter() - start)
            requests_series(method, route, str(status) if status in STATUSES else OTHER).inc()


def metrics_page() -> bytes:
    """The Prometheus text page: of this process, or of every worker when there are many."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def record_predictions(labels: Sequence[str], probabilities: Sequence[float]) -> None:
    for label, probability in zip(labels, probabilities, strict=True):
        predictions_series(label).inc()
        CONFIDENCE.observe(probability)


@cache
def values_histogram(buckets: tuple[float, ...]) -> Histogram:
    """A regression model's predicted values, in the buckets its manifest names (the
    training target's deciles): made at the first prediction, as a process serves one
    model."""
    return Histogram(
        "prediction_value", "Values the model predicted.", buckets=(*buckets, float("inf"))
    )


def record_values(values: Sequence[float], buckets: tuple[float, ...]) -> None:
    histogram = values_histogram(buckets)
    for value in values:
        histogram.observe(value)


def chunk_name(now: datetime | None = None) -> str:
    """<UTC time to the microsecond>-<random>.jsonl: names sort by time, and two replicas
    never collide."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}.jsonl"


class FileSink:
    """Appends to a local JSON-lines file. One write(2) per chunk on a file opened with
    O_APPEND, so that the chunks of several worker processes never interleave mid-line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, data)
        finally:
            os.close(descriptor)


class BucketSink:
    """Writes each chunk as a new object under the fsspec URL `url`."""

    def __init__(self, url: str) -> None:
        import fsspec  # only services that ship their log need it

        self.where = url
        self.fs, root = fsspec.core.url_to_fs(url)
        self.root = root.rstrip("/")

    def write(self, data: bytes) -> None:
        # A directory on disk (file://, a mounted volume) must exist before a chunk goes
        # in; object stores have no directories.
        if "file" in self.fs.protocol:
            self.fs.makedirs(self.root, exist_ok=True)
        self.fs.pipe_file(f"{self.root}/{chunk_name()}", data)


class InputLog:
    """Buffers the rows of successful predictions and writes them in the background, as
    one JSON object per record (the columns, and AUTHENTICATED: whether the request was),
    `chunk_records` records at a time, every `flush_seconds` when traffic is low, and at
    close.

    A request only appends a reference to its rows under a lock: formatting and writing
    happen on the log's own thread, so a slow disk or an unreachable store never delays a
    prediction. The buffer is capped at `max_pending` records; past it records are dropped
    and counted, so an outage costs drift data, never memory. A failing sink is logged at
    the first failure of a streak, and when it works again.
    """

    def __init__(
        self,
        sink: FileSink | BucketSink,
        columns: Sequence[str],
        categories: Mapping[str, Sequence[str]] | None = None,
        chunk_records: int = 1000,
        flush_seconds: float = 1.0,
        max_pending: int | None = None,
    ) -> None:
        self.sink = sink
        self.columns = tuple(columns)
        # A category column's position, and its values by code: the rows carry codes, the
        # log the values, as the requests named them.
        categories = categories or {}
        self.names = {i: tuple(categories[c]) for i, c in enumerate(columns) if c in categories}
        self.chunk_records = chunk_records
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending or 10 * chunk_records
        self._pending: list[tuple[np.ndarray, bool]] = []
        self._pending_records = 0
        self._dropped = 0
        self._wake = threading.Condition()
        self._closing = False
        self._failing = False
        self._worker = threading.Thread(target=self._write_forever, name="input-log", daemon=True)
        self._worker.start()

    def append(self, rows: np.ndarray, authenticated: bool) -> None:
        """Queue the rows (one per record, in `columns` order) of a request that was or was
        not authenticated. Never blocks on I/O."""
        with self._wake:
            room = self.max_pending - self._pending_records
            if room < len(rows):
                self._dropped += len(rows) - max(room, 0)
                rows = rows[: max(room, 0)]
            if len(rows):
                self._pending.append((rows, authenticated))
                self._pending_records += len(rows)
            if self._pending_records >= self.chunk_records:
                self._wake.notify()

    def close(self, timeout: float = 30) -> None:
        """Write what is buffered and stop the background thread (at shutdown)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._worker.join(timeout)

    def _write_forever(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(
                    lambda: self._closing or self._pending_records >= self.chunk_records,
                    timeout=self.flush_seconds,
                )
                batches, self._pending, self._pending_records = self._pending, [], 0
                closing, dropped, self._dropped = self._closing, self._dropped, 0
            if dropped:
                log.warning("input log buffer full: %d records not written", dropped)
            if batches:
                lines = [line for rows, flag in batches for line in self._lines(rows, flag)]
                for start in range(0, len(lines), self.chunk_records):
                    self._write(b"".join(lines[start : start + self.chunk_records]))
            if closing:
                return

    def _lines(self, rows: np.ndarray, authenticated: bool) -> list[bytes]:
        rows = rows.tolist()
        for row in rows if self.names else ():
            for index, names in self.names.items():
                row[index] = names[int(row[index])]
        return [
            to_json({**dict(zip(self.columns, row, strict=True)), AUTHENTICATED: authenticated})
            + b"\n"
            for row in rows
        ]

    def _write(self, data: bytes) -> None:
        try:
            self.sink.write(data)
        # Whatever the sink raises (a read-only disk, network, credentials, quota), the
        # service goes on.
        except Exception as error:
            if not self._failing:
                log.warning(
                    "cannot write inputs to %s, drift data is lost: %s", self.sink.where, error
                )
            self._failing = True
            return
        if self._failing:
            log.warning("writing inputs to %s works again", self.sink.where)
        self._failing = False


def input_log(
    columns: Sequence[str], categories: Mapping[str, Sequence[str]] | None = None
) -> InputLog:
    """The input log the environment asks for: chunk objects under INPUT_LOG_URL when it is
    set, else the local file INPUT_LOG."""
    url = os.environ.get("INPUT_LOG_URL", "")
    if not url:
        path = Path(os.environ.get("INPUT_LOG", "logs/inputs.jsonl"))
        return InputLog(FileSink(path), columns, categories)
    return InputLog(
        BucketSink(url),
        columns,
        categories,
        chunk_records=int(os.environ.get("INPUT_LOG_CHUNK_RECORDS", "1000")),
        flush_seconds=float(os.environ.get("INPUT_LOG_FLUSH_SECONDS", "300")),
    )
