"""Render each answer set once per session, ahead of the tests that read it.

Rendering is most of the time of the fast tests (a render costs Copier over a second), so
the answer sets the suite is known to use are rendered up front by a pool of processes
while the first tests run. A test that asks for a set no process has started yet renders it
itself, at once, instead of waiting its turn.

Each set renders into a folder named after its answers, under a lock: the test processes of
one run (pytest-xdist workers) share the folders, and whoever comes first renders.
"""

import fcntl
import hashlib
import json
import multiprocessing
import shutil
import subprocess
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path


def environment_settings(environment) -> tuple:
    """What Jinja's compiled code depends on besides the source: the syntax, whitespace
    handling, extensions and code generation options."""
    return (
        type(environment),
        environment.block_start_string,
        environment.block_end_string,
        environment.variable_start_string,
        environment.variable_end_string,
        environment.comment_start_string,
        environment.comment_end_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.newline_sequence,
        environment.keep_trailing_newline,
        tuple(sorted(environment.extensions)),
        environment.optimized,
        environment.is_async,
        environment.finalize,
        environment.autoescape,
    )


def reuse_compiled_templates() -> None:
    """Copier compiles every template, path and default anew for each render: Jinja keeps
    compiled templates in one environment, and each render makes its own. The sources and
    settings are the same from one answer set to the next, so a rendering process keeps the
    code it compiled and hands it out again (compiled code is immutable; what renders is
    unchanged, which the golden renders of tests/test_examples.py check). It was about 40%
    of a render's time."""
    from jinja2 import Environment

    if getattr(Environment.compile, "reuses", False):
        return
    compile_anew = Environment.compile
    compiled: dict[tuple, object] = {}

    def compile(self, source, name=None, filename=None, raw=False, defer_init=False):
        if raw or not isinstance(source, str):
            return compile_anew(self, source, name, filename, raw, defer_init)
        key = (environment_settings(self), source, name, filename, defer_init)
        if key not in compiled:
            compiled[key] = compile_anew(self, source, name, filename, raw, defer_init)
        return compiled[key]

    compile.reuses = True
    Environment.compile = compile


def once(destination: str, make) -> str:
    """make(destination) unless another process of this run has: the folder is complete
    once `<destination>.done` exists, and a lock lets one process at a time in."""
    done = Path(destination + ".done")
    with open(destination + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(destination, ignore_errors=True)  # a run that crashed halfway
            make(destination)
            done.touch()
    return destination


def copy_working_tree(template: Path, destination: str) -> None:
    """The template's working tree as Copier sees a dirty one: tracked files and untracked
    ones that are not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=template,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source, target = template / name, Path(destination) / name
        if source.is_file():  # a file deleted but not yet staged is listed too
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def snapshot(template: Path, destination: Path) -> Path:
    """The template's working tree as a plain folder: Copier clones a git template for every
    render (about 0.7 s of a 1 s render) and renders a plain folder in place. The renders
    differ only in .copier-answers.yml, which then names the folder and no _commit. Made
    once per run (the processes of an xdist run share it)."""
    return Path(once(str(destination), lambda folder: copy_working_tree(template, folder)))


def render_into(template: str, answers: dict, destination: str) -> str:
    """One `copier copy --defaults` of the template (its working tree, see snapshot), with
    `answers` as the user's answers. No --trust: the template needs none."""
    import copier  # imported in the worker, so the parent does not pay for it twice

    reuse_compiled_templates()
    warnings.simplefilter("ignore")
    copier.run_copy(
        template,
        destination,
        user_defaults=answers,
        defaults=True,
        quiet=True,
    )
    return destination


def render_once(template: str, answers: dict, destination: str) -> str:
    """render_into `destination` unless another process of this run has (see once)."""
    return once(destination, lambda folder: render_into(template, answers, folder))


def key(answers: dict) -> tuple:
    return tuple(sorted(answers.items()))


def folder_name(answers: dict) -> str:
    return hashlib.sha256(json.dumps(answers, sort_keys=True).encode()).hexdigest()[:16]


class Renders:
    """render(answers) -> the rendered project, made once per distinct answer set."""

    def __init__(self, template: Path, root: Path, workers: int = 2) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.template = str(snapshot(template, root / "template"))
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self.futures: dict[tuple, Future] = {}
        self.done: dict[tuple, Path] = {}

    def _destination(self, answers: dict) -> str:
        return str(self.root / folder_name(answers))

    def prefetch(self, answer_sets: list[dict]) -> None:
        for answers in answer_sets:
            if key(answers) not in self.futures and key(answers) not in self.done:
                self.futures[key(answers)] = self.pool.submit(
                    render_once, self.template, answers, self._destination(answers)
                )

    def __call__(self, answers: dict) -> Path:
        k = key(answers)
        if k not in self.done:
            future = self.futures.pop(k, None)
            if future is not None and future.cancel():
                future = None
            if future is None:
                path = render_once(self.template, answers, self._destination(answers))
            else:
                path = future.result()
            self.done[k] = Path(path)
        return self.done[k]

    def rendered(self) -> dict[tuple, Path]:
        """Every set rendered so far (waiting for those already submitted). The pool renders
        from the front of the queue; this process takes the sets it has not started from the
        back, so both work until they meet."""
        for k in reversed(list(self.futures)):
            self(dict(k))
        return dict(self.done)

    def close(self) -> None:
        for future in self.futures.values():
            future.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)
