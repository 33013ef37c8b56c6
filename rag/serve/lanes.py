"""Bounded lanes for blocking work: a fixed thread pool plus a bounded number of waiting requests, then Busy.

Generation has one worker, so a model is never used by two requests at once. A request past its deadline gets
RequestTimeout, but its work keeps the lane until it has really finished.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class Busy(Exception):
    """A lane is full: the client should retry after `retry_after` seconds."""

    def __init__(self, lane: str, retry_after: int) -> None:
        super().__init__(f"the server is busy ({lane} queue full); retry in {retry_after} s")
        self.retry_after = retry_after


class RequestTimeout(Exception):
    """A request ran past its deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request took longer than {seconds:g} s")


class Lane:
    """Blocking work of one kind: `workers` threads and at most `waiting` queued requests, then Busy."""

    def __init__(self, name: str, workers: int, waiting: int) -> None:
        self.name, self.workers, self.waiting = name, workers, waiting
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix=f"rag-{name}")
        self._lock = threading.Lock()
        self.in_flight = self.running = self.completed = self.rejected = self.timeouts = 0
        self.mean_s = 0.0

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Queue `fn(*args)`; the lane counts it until it has finished, whoever stopped waiting for it."""
        with self._lock:
            if self.in_flight >= self.workers + self.waiting:
                self.rejected += 1
                raise Busy(self.name, self.retry_after())
            self.in_flight += 1
        future = self.executor.submit(self._timed, fn, *args)
        future.add_done_callback(self._finished)
        return future

    async def run(self, timeout_s: float, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on the lane; RequestTimeout after `timeout_s` (queued work is then cancelled)."""
        future = self.submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except TimeoutError:
            self.timed_out()
            raise RequestTimeout(timeout_s) from None

    def timed_out(self) -> None:
        with self._lock:
            self.timeouts += 1

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead times the mean duration, 1 to 60."""
        return min(60, max(1, math.ceil(self.mean_s * (self.in_flight + 1) / self.workers)))

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            self.running += 1
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            with self._lock:
                self.running -= 1
                self.mean_s = 0.8 * self.mean_s + 0.2 * (time.perf_counter() - started)

    def _finished(self, _: Future[Any]) -> None:
        with self._lock:
            self.in_flight -= 1
            self.completed += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "workers": self.workers,
                "max_waiting": self.waiting,
                "running": self.running,
                "waiting": self.in_flight - self.running,
                "completed": self.completed,
                "rejected": self.rejected,
                "timeouts": self.timeouts,
                "mean_seconds": round(self.mean_s, 4),
            }

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
