"""One answer at a time: the queue `kb serve` and the Slack bot put questions in.

The model is CPU-bound, so running two answers at once only makes both slower;
a burst of questions waits here instead of being lost. One worker thread runs
the submitted jobs in order; each job's result or exception goes to its Future.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class AnswerQueue:
    """`submit(job) -> Future`; raises queue.Full when `maxsize` jobs are already waiting (0: no limit)."""

    def __init__(self, maxsize: int = 0, name: str = "kb-answer-queue") -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], Future] | None] = queue.Queue(maxsize=maxsize)
        self._busy = False
        self.answered = 0  # jobs finished, for health checks
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], Any]) -> Future:
        fut: Future = Future()
        self._jobs.put_nowait((job, fut))
        return fut

    def waiting(self) -> int:
        """Jobs not started yet."""
        return self._jobs.qsize()

    def ahead(self) -> int:
        """Jobs that will finish before one submitted now."""
        return self._jobs.qsize() + int(self._busy)

    def stop(self) -> None:
        """The worker ends after the jobs already queued."""
        self._jobs.put(None)

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, fut = item
            self._busy = True
            try:
                fut.set_result(job())
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to its caller
                fut.set_exception(exc)
            finally:
                self.answered += 1
                self._busy = False
