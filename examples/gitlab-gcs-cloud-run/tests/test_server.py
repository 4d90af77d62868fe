"""`serve`, the command the image runs: it refuses a model that is not the gated one before
any worker starts, and sizes its workers to the CPUs the container may use."""

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from ml_project import auth, config, server


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, model_path: Path) -> dict:
    """What `serve` would hand uvicorn, instead of starting it."""
    options: dict = {}
    monkeypatch.setattr(server.uvicorn, "run", lambda app, **kw: options.update(app=app, **kw))
    monkeypatch.setenv("MODEL_PATH", str(model_path))
    for name in (
        "SAGEMAKER_BIND_TO_PORT",
        "PORT",
        "WEB_CONCURRENCY",
        "PROMETHEUS_MULTIPROC_DIR",
        auth.TOKEN,
        auth.TOKEN_FILE,
    ):
        # setenv first, so that monkeypatch also removes what `serve` sets during the test.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return options


def test_serve_is_an_installed_command() -> None:
    (command,) = entry_points(group="console_scripts", name="serve")
    assert command.value == "ml_project.server:main"


def test_serve_listens_everywhere_on_the_service_port(started: dict, monkeypatch) -> None:
    server.main([])
    assert started["app"] == "ml_project.serve:app"
    assert (started["host"], started["port"]) == ("0.0.0.0", 8000)
    assert started["workers"] == server.container_cpus()
    assert started["access_log"] is False


@pytest.mark.parametrize(
    "host, token, warned",
    [
        ("0.0.0.0", "", True),
        ("10.1.2.3", "", True),
        ("0.0.0.0", "a-serving-token-0123456789", False),
        ("127.0.0.1", "", False),
        ("::1", "", False),
        ("localhost", "", False),
    ],
)
def test_serve_warns_when_it_listens_beyond_loopback_without_a_token(
    started: dict, monkeypatch, capsys, host: str, token: str, warned: bool
) -> None:
    monkeypatch.setenv(auth.TOKEN, token)
    server.main(["--host", host, "--workers", "1"])
    assert started["host"] == host
    assert ("WARNING: no SERVING_API_TOKEN is set" in capsys.readouterr().err) == warned


def test_an_unusable_token_stops_serve(started: dict, monkeypatch) -> None:
    monkeypatch.setenv(auth.TOKEN, "short")
    with pytest.raises(SystemExit, match="at least 16"):
        server.main(["--workers", "1"])
    assert not started, "uvicorn never started"


def test_the_port_sagemaker_names_wins(started: dict, monkeypatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "9090")
    server.main(["--workers", "1"])
    assert started["port"] == 9090


def test_several_workers_share_their_metrics(started: dict, monkeypatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    server.main([])
    assert started["workers"] == 3
    metrics_dir = Path(server.os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert metrics_dir.is_dir() and not any(metrics_dir.iterdir()), "fresh on every start"
    metrics_dir.rmdir()


def test_a_tampered_model_stops_serve_before_any_worker(
    started: dict, model_path: Path, tmp_path: Path, monkeypatch
) -> None:
    tampered = tmp_path / model_path.name
    tampered.write_bytes(model_path.read_bytes() + b"\0")
    manifest = model_path.with_name(config.MANIFEST.name)
    (tmp_path / manifest.name).write_text(manifest.read_text())
    monkeypatch.setenv("MODEL_PATH", str(tampered))
    with pytest.raises(SystemExit, match="sha256"):
        server.main([])
    assert started == {}, "uvicorn never started"


@pytest.mark.parametrize(
    ("cpu_max", "affinity", "expected"),
    [
        ("max 100000", 4, 4),
        ("200000 100000", 8, 2),
        ("150000 100000", 8, 2),
        ("50000 100000", 8, 1),
    ],
)
def test_workers_follow_the_container_cpu_quota(
    monkeypatch, tmp_path: Path, cpu_max: str, affinity: int, expected: int
) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    monkeypatch.setattr(server, "CPU_MAX", tmp_path / "cpu.max")
    monkeypatch.setattr(server.os, "sched_getaffinity", lambda pid: set(range(affinity)))
    assert server.container_cpus() == expected
