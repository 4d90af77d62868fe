"""The input log writes in the background (a file, or chunk objects under INPUT_LOG_URL)
without ever failing or delaying a prediction, and `make inputs` (deploy/inputs.py) reads
the recent chunks back."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import fsspec
import inputs
import numpy as np
import pytest

# One name a line (the trailing comma keeps it so): the line holds for any package name.
from ml_project.monitoring import (
    BucketSink,
    FileSink,
    InputLog,
    chunk_name,
    input_log,
)

RECORD = {"mean_radius": 14.1, "mean_texture": 19.3}
COLUMNS = tuple(RECORD)
# RECORD as the log writes it for a request that was not authenticated.
LOGGED = {**RECORD, "authenticated": False}


def rows(count: int) -> np.ndarray:
    """`count` records as the app hands them over: one row each, in COLUMNS order."""
    return np.array([list(RECORD.values())] * count, dtype=np.float64)


def shipped_log(url: str, **options) -> InputLog:
    return InputLog(BucketSink(url), COLUMNS, **options)


@pytest.fixture
def url(request: pytest.FixtureRequest) -> str:
    """A fresh folder of fsspec's in-memory filesystem, a stand-in for a bucket."""
    folder = f"memory://inputs-{request.node.name}"
    yield f"{folder}/production/"
    memory = fsspec.filesystem("memory")
    if memory.exists(folder):
        memory.rm(folder, recursive=True)


def chunks(url: str) -> list[list[dict]]:
    fs, root = fsspec.core.url_to_fs(url)
    paths = sorted(fs.ls(root, detail=False)) if fs.exists(root) else []
    return [[json.loads(line) for line in fs.cat_file(p).decode().splitlines()] for p in paths]


def test_one_chunk_per_batch_of_records_and_the_rest_at_close(url) -> None:
    log = shipped_log(url, chunk_records=4, flush_seconds=60)
    for _ in range(5):
        log.append(rows(2), authenticated=False)
    deadline = time.monotonic() + 5
    while len(chunks(url)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(map(len, chunks(url))) >= 8, "full chunks are shipped without waiting"
    log.close()
    shipped = chunks(url)
    assert sum(map(len, shipped)) == 10 and all(len(chunk) <= 4 for chunk in shipped)
    assert all(record == LOGGED for chunk in shipped for record in chunk)


def test_a_quiet_service_ships_on_the_timer(url) -> None:
    log = shipped_log(url, chunk_records=1000, flush_seconds=0.2)
    log.append(rows(1), authenticated=False)
    deadline = time.monotonic() + 5
    while not chunks(url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert chunks(url) == [[LOGGED]]
    log.close()


def test_a_store_that_fails_costs_records_never_a_prediction(url, caplog, monkeypatch) -> None:
    log = shipped_log(url, chunk_records=1, flush_seconds=60)

    def refuse(path, data):
        raise PermissionError("access denied")

    # fsspec shares one instance per filesystem: monkeypatch puts its method back.
    monkeypatch.setattr(log.sink.fs, "pipe_file", refuse)
    for _ in range(3):
        log.append(rows(1), authenticated=False)
    log.close()
    assert [r.message for r in caplog.records].count(
        f"cannot write inputs to {url}, drift data is lost: access denied"
    ) == 1, "the failure is logged once, not per chunk"


def test_a_full_buffer_drops_records_instead_of_growing(tmp_path, caplog) -> None:
    """A sink slower than the traffic: the buffer holds max_pending records, no more."""
    log = InputLog(FileSink(tmp_path / "inputs.jsonl"), COLUMNS, flush_seconds=60, max_pending=5)
    log.append(rows(3), authenticated=False)
    log.append(rows(3), authenticated=False)  # one record over: dropped
    log.append(rows(2), authenticated=False)  # no room: dropped
    assert log._pending_records == 5
    log.close()
    assert len((tmp_path / "inputs.jsonl").read_text().splitlines()) == 5
    assert "input log buffer full: 3 records not written" in caplog.text


def test_append_never_waits_for_the_sink(tmp_path, monkeypatch) -> None:
    """A sink that hangs holds up its own thread, never the request that appends."""
    log = InputLog(FileSink(tmp_path / "inputs.jsonl"), COLUMNS, chunk_records=1)
    release, writing = threading.Event(), threading.Event()

    def hang(data: bytes) -> None:
        writing.set()
        release.wait()

    monkeypatch.setattr(log.sink, "write", hang)
    log.append(rows(1), authenticated=False)
    assert writing.wait(5), "the log's thread took the first record"
    appender = threading.Thread(
        target=lambda: [log.append(rows(1), authenticated=False) for _ in range(100)]
    )
    try:
        appender.start()
        appender.join(5)
        assert not appender.is_alive(), "append waited for a sink that hangs"
    finally:
        release.set()
        log.close()


def test_each_record_says_whether_its_request_was_authenticated(tmp_path) -> None:
    log = InputLog(FileSink(tmp_path / "inputs.jsonl"), COLUMNS)
    log.append(rows(1), authenticated=True)
    log.append(rows(2), authenticated=False)
    log.close()
    lines = (tmp_path / "inputs.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {**RECORD, "authenticated": True},
        LOGGED,
        LOGGED,
    ]


def test_chunk_names_sort_by_time() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    steps = (0, 0.001, 1, 60, 3600)  # a millisecond apart still sorts
    names = [chunk_name(now + timedelta(seconds=s)) for s in steps]
    assert names == sorted(names) and names[0].startswith("20260102T030405000000-")


def test_the_local_file_without_input_log_url(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("INPUT_LOG_URL", raising=False)
    monkeypatch.setenv("INPUT_LOG", str(tmp_path / "inputs.jsonl"))
    log = input_log(COLUMNS)
    assert isinstance(log.sink, FileSink)
    log.append(rows(1), authenticated=False)
    log.close()
    assert json.loads((tmp_path / "inputs.jsonl").read_text()) == LOGGED


def test_inputs_reads_the_newest_chunks_of_the_window(url) -> None:
    fs, root = fsspec.core.url_to_fs(url)
    now = datetime.now(UTC)
    for days_ago, value in ((10, 0.0), (3, 1.0), (2, 2.0), (1, 3.0)):
        lines = json.dumps({"mean_radius": value}) + "\n"
        fs.pipe_file(f"{root}/{chunk_name(now - timedelta(days=days_ago))}", lines.encode() * 2)
    recent = inputs.read_chunks(url, since=now - timedelta(days=7), max_records=3)
    values = [json.loads(line)["mean_radius"] for line in recent.splitlines()]
    assert values == [2.0, 3.0, 3.0], "the newest records of the window, oldest first"


def test_inputs_writes_an_empty_file_when_nothing_was_recorded(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(inputs, "INPUTS_URL", "memory://no-such-bucket")
    out = tmp_path / "inputs.jsonl"
    assert inputs.main(["--env", "production", "--to", str(out)]) == 0
    assert out.exists() and out.read_text() == ""
