"""A one-line progress bar on stderr, so that a long fleet run shows where it is; when stderr
is not a terminal (CI logs), one plain line per step instead."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    WIDTH = 30

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.live = stream.isatty()

    def step(self, label: str) -> None:
        """Count one more step as done."""
        self.done += 1
        if self.live:
            filled = self.WIDTH * self.done // max(self.total, 1)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r\033[K[{bar}] {self.done}/{self.total} {label}")
        else:
            self.stream.write(f"[{self.done}/{self.total}] {label}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write(f"\r\033[K[{'#' * self.WIDTH}] {self.total}/{self.total} done\n")
            self.stream.flush()
