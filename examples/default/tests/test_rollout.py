"""The deploy rollout: a failed release or smoke test restores what ran before."""

import pytest
import rollout  # deploy/ is on pytest's pythonpath (pyproject.toml)

from ml_project.smoke import SmokeTestError


class FakeTarget:
    def __init__(self, running: str | None) -> None:
        self.running = running
        self.calls: list[str] = []

    def current(self, env: str) -> str | None:
        return self.running

    def release(self, env: str, image: str) -> None:
        self.calls.append(f"release {image}")
        self.running = image

    def endpoint(self, env: str) -> str:
        return "http://127.0.0.1:1"

    def restore(self, env: str, previous: str) -> None:
        self.calls.append(f"restore {previous}")
        self.running = previous


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> FakeTarget:
    fake = FakeTarget(running="app:old")
    monkeypatch.setattr(rollout, "target", fake)
    return fake


def _smoke(passes: bool):
    def smoke_test(url: str) -> None:
        if not passes:
            raise SmokeTestError("/health answered 500")

    return smoke_test


def test_a_healthy_release_stays(target: FakeTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollout, "smoke_test", _smoke(passes=True))
    assert rollout.rollout("staging", "app:new")
    assert target.calls == ["release app:new"]
    assert target.running == "app:new"


def test_a_failed_smoke_test_rolls_back(
    target: FakeTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rollout, "smoke_test", _smoke(passes=False))
    assert not rollout.rollout("production", "app:new")
    assert target.calls == ["release app:new", "restore app:old"]
    assert target.running == "app:old"


def test_a_release_that_breaks_half_way_rolls_back(
    target: FakeTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_release(env: str, image: str) -> None:
        raise RuntimeError("container never became healthy")

    monkeypatch.setattr(target, "release", broken_release)
    monkeypatch.setattr(rollout, "smoke_test", _smoke(passes=True))
    assert not rollout.rollout("staging", "app:new")
    assert target.running == "app:old"


def test_a_first_release_has_nothing_to_roll_back_to(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTarget(running=None)
    monkeypatch.setattr(rollout, "target", fake)
    monkeypatch.setattr(rollout, "smoke_test", _smoke(passes=False))
    assert not rollout.rollout("staging", "app:new")
    assert fake.calls == ["release app:new"]


class SplitTarget(FakeTarget):
    """A target that splits traffic: its own smoke test, and a promote step."""

    def __init__(self, running: str | None, smoke_passes: bool) -> None:
        super().__init__(running)
        self.smoke_passes = smoke_passes

    def smoke(self, env: str) -> None:
        self.calls.append("smoke")
        if not self.smoke_passes:
            raise SmokeTestError("/invocations answered 500")

    def promote(self, env: str) -> None:
        self.calls.append("promote")


def test_a_split_release_is_promoted_after_its_own_smoke_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = SplitTarget(running="app:old", smoke_passes=True)
    monkeypatch.setattr(rollout, "target", fake)
    monkeypatch.setattr(rollout, "smoke_test", _smoke(passes=False))  # must not be used
    assert rollout.rollout("production", "app:new")
    assert fake.calls == ["release app:new", "smoke", "promote"]


def test_a_split_release_that_fails_its_smoke_test_is_never_promoted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = SplitTarget(running="app:old", smoke_passes=False)
    monkeypatch.setattr(rollout, "target", fake)
    assert not rollout.rollout("production", "app:new")
    assert fake.calls == ["release app:new", "smoke", "restore app:old"]
