"""Progress of the pipeline's stages on stderr (rich), never on stdout."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.status import Status


class Progress:
    """Context manager that prints each stage as it starts and its elapsed time."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.console = Console(file=sys.stderr, highlight=False)
        self._start = time.perf_counter()
        self._status: Status | None = None

    def __enter__(self) -> Progress:
        if self.enabled and self.console.is_terminal:
            status = self.console.status("starting")
            status.__enter__()
            self._status = status
        return self

    def stage(self, name: str) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self._start
        if self._status is not None:
            self._status.update(f"{name} ({elapsed:.1f} s)")
        else:
            self.console.print(f"bonecover: {name} ({elapsed:.1f} s)")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._status is not None:
            self._status.__exit__(exc_type, exc, tb)
