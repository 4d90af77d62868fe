"""The input log ships chunk objects to INPUT_LOG_URL without ever failing a prediction, and
`make inputs` (deploy/inputs.py) reads the recent chunks back."""

import json
import time
from datetime import UTC, datetime, timedelta

import fsspec
import inputs
import pytest

# One name a line (the trailing comma keeps it so): the line holds for any package name.
from ml_project.monitoring import (
    InputLog,
    ShippedInputLog,
    chunk_name,
    input_log,
)

RECORD = {"mean_radius": 14.1, "mean_texture": 19.3}


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
    log = ShippedInputLog(url, chunk_records=4, flush_seconds=60)
    for _ in range(5):
        log.append([RECORD, RECORD])
    deadline = time.monotonic() + 5
    while len(chunks(url)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(map(len, chunks(url))) >= 8, "full chunks are shipped without waiting"
    log.close()
    shipped = chunks(url)
    assert sum(map(len, shipped)) == 10 and all(len(chunk) <= 4 for chunk in shipped)
    assert all(record == RECORD for chunk in shipped for record in chunk)


def test_a_quiet_service_ships_on_the_timer(url) -> None:
    log = ShippedInputLog(url, chunk_records=1000, flush_seconds=0.2)
    log.append([RECORD])
    deadline = time.monotonic() + 5
    while not chunks(url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert chunks(url) == [[RECORD]]
    log.close()


def test_a_store_that_fails_costs_records_never_a_prediction(url, caplog, monkeypatch) -> None:
    log = ShippedInputLog(url, chunk_records=1, flush_seconds=60)

    def refuse(path, data):
        raise PermissionError("access denied")

    # fsspec shares one instance per filesystem: monkeypatch puts its method back.
    monkeypatch.setattr(log.fs, "pipe_file", refuse)
    for _ in range(3):
        log.append([RECORD])
    log.close()
    assert [r.message for r in caplog.records].count(
        f"cannot ship inputs to {url}, drift data is lost: access denied"
    ) == 1, "the failure is logged once, not per chunk"


def test_chunk_names_sort_by_time() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    steps = (0, 0.001, 1, 60, 3600)  # a millisecond apart still sorts
    names = [chunk_name(now + timedelta(seconds=s)) for s in steps]
    assert names == sorted(names) and names[0].startswith("20260102T030405000000-")


def test_the_local_file_without_input_log_url(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("INPUT_LOG_URL", raising=False)
    monkeypatch.setenv("INPUT_LOG", str(tmp_path / "inputs.jsonl"))
    log = input_log()
    assert isinstance(log, InputLog)
    log.append([RECORD])
    log.close()
    assert json.loads((tmp_path / "inputs.jsonl").read_text()) == RECORD


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
